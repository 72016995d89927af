/*
 * dosvc-monitor: brings DoSvc back after its process dies without stopping
 *
 * Copyright 2026 the wine-dosvc authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 * This library is distributed in the hope that it will be useful,
 * but WITHOUT ANY WARRANTY; without even the implied warranty of
 * MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
 * Lesser General Public License for more details.
 *
 * You should have received a copy of the GNU Lesser General Public
 * License along with this library; if not, write to the Free Software
 * Foundation, Inc., 51 Franklin St, Fifth Floor, Boston, MA 02110-1301, USA
 */

/*
 * DoSvc starts this program once it has published its class object, with
 * its process id on the command line.  We wait for that process to end.
 * If it stopped as a service does, it deleted its instance record and we
 * have nothing to do.  If it died (killed, crashed), Wine's rpcss still
 * hands its registration to every client, which then fails at once with
 * RPC_S_SERVER_UNAVAILABLE; so we revoke that registration (the record has
 * its cookie, dlls/dosvc/rpcss.c) and start the service again, so that the
 * jobs it was running resume and clients reach a live instance.  At most a
 * few restarts in a row: a service that crashes at every start is left
 * stopped.
 *
 * We make ourselves a Wine "system" process, as services.exe is: such a
 * process does not keep the session up, and it is told when the session
 * ends, when services are killed on purpose and we must not restart them.
 * The new instance starts a monitor of its own; this one then exits.
 */

#include <stdarg.h>
#include <stdlib.h>

#include "windef.h"
#include "winbase.h"
#include "winsvc.h"
#include "winternl.h"
#include "wine/debug.h"

#include "rpcss.h"

#ifndef TRACE
#define TRACE WINE_TRACE
#define WARN  WINE_WARN
#define ERR   WINE_ERR
#endif

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

/* Wine's private information class that makes the caller a system
 * process and answers the event of the session's end (Wine 8: 1000;
 * winternl.h has it only for Wine's own tree) */
#define WINE_MAKE_PROCESS_SYSTEM ((PROCESSINFOCLASS)1000)

/* how long a restart may take before we give up; only a guard */
#define RESTART_TIMEOUT_MS 120000

static HANDLE session_end;

static BOOL session_ending(DWORD wait_ms)
{
    return WaitForSingleObject(session_end, wait_ms) == WAIT_OBJECT_0;
}

/* Starts DoSvc unless a client already did; TRUE once a new instance is
 * starting or running. */
static BOOL restart_service(DWORD dead_id)
{
    ULONGLONG deadline = GetTickCount64() + RESTART_TIMEOUT_MS;
    SERVICE_STATUS_PROCESS status;
    SC_HANDLE scm, service;
    DWORD size, error;
    BOOL ret = FALSE;

    if (!(scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT))) return FALSE;
    if (!(service = OpenServiceW(scm, L"DoSvc", SERVICE_START | SERVICE_QUERY_STATUS)))
    {
        CloseServiceHandle(scm);
        return FALSE;
    }
    while (!session_ending(0) && GetTickCount64() < deadline)
    {
        if (!QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, (BYTE *)&status, sizeof(status), &size))
            break;
        if ((status.dwCurrentState == SERVICE_RUNNING || status.dwCurrentState == SERVICE_START_PENDING) &&
            status.dwProcessId != dead_id)
        {
            TRACE("DoSvc is %s again\n", status.dwCurrentState == SERVICE_RUNNING ? "running" : "starting");
            ret = TRUE;
            break;
        }
        /* Wine 8's SCM does not watch service processes: it still says
         * RUNNING with the dead process's id, and only a StartService
         * finds out that the process is gone and starts a new one. */
        if (status.dwCurrentState != SERVICE_STOP_PENDING && !StartServiceW(service, 0, NULL))
        {
            error = GetLastError();
            if (error != ERROR_SERVICE_ALREADY_RUNNING && error != ERROR_SERVICE_DATABASE_LOCKED)
            {
                ERR("cannot start DoSvc again: error %lu\n", error);
                break;
            }
        }
        session_ending(100);
    }
    CloseServiceHandle(service);
    CloseServiceHandle(scm);
    return ret;
}

int WINAPI wWinMain(HINSTANCE instance, HINSTANCE previous, WCHAR *cmdline, int show)
{
    struct instance_record record;
    HANDLE handles[2];
    NTSTATUS status;
    DWORD pid = 0;

    while (*cmdline == ' ') cmdline++;
    while (*cmdline >= '0' && *cmdline <= '9') pid = pid * 10 + (*cmdline++ - '0');
    if (!pid) return 1;

    /* Without this we would keep the session up for as long as the
     * service runs; better not to watch at all. */
    status = NtSetInformationProcess(GetCurrentProcess(), WINE_MAKE_PROCESS_SYSTEM,
                                     &session_end, sizeof(session_end));
    if (status || !session_end)
    {
        ERR("cannot become a system process (status %#lx); not watching DoSvc\n", status);
        return 1;
    }
    handles[0] = session_end;
    /* a process we cannot open is already gone: what its record says decides */
    if ((handles[1] = OpenProcess(SYNCHRONIZE, FALSE, pid)))
    {
        TRACE("watching DoSvc process %04lx\n", pid);
        /* the session's end wins when both are signalled: services.exe kills
         * services when the session ends */
        if (WaitForMultipleObjects(2, handles, FALSE, INFINITE) != WAIT_OBJECT_0 + 1) return 0;
        CloseHandle(handles[1]);
    }
    if (session_ending(0)) return 0;

    if (!instance_record_read(&record) || record.process_id != pid)
    {
        TRACE("DoSvc process %04lx stopped cleanly\n", pid);
        return 0;
    }
    WARN("DoSvc process %04lx died without stopping\n", pid);
    instance_revoke_dead(&record);
    if (!instance_restart_allowed())
    {
        ERR("DoSvc died too often; not starting it again (the next client does)\n");
        return 0;
    }
    restart_service(pid);
    return 0;
}
