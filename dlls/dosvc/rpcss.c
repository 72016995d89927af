/*
 * Delivery Optimization service: making sure Wine's rpcss runs before we
 * publish our class object
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
 * Wine keeps the table of running COM servers in rpcss.exe, the RpcSs
 * service, which is started on demand (Start=3) by the first process that
 * needs it: combase calls StartService("RpcSs") when a call to rpcss finds
 * nobody listening.  In a new session that is usually explorer.exe, early
 * and in parallel with everything else.
 *
 * Wine's SCM starts one service at a time and holds that lock until the
 * service being started reports its first status; a StartService that
 * cannot get the lock within 3 s fails with ERROR_SERVICE_DATABASE_LOCKED.
 * So if rpcss is not running yet when DoSvc starts (a loaded machine, where
 * explorer is late), CoRegisterClassObject inside our own start asks the SCM
 * for RpcSs, waits 3 s for the lock our start holds, and gives up; and
 * Wine 8's CoRegisterClassObject returns S_OK anyway.  The service then runs
 * with no class object in rpcss, and every activation polls 30 s and fails
 * with E_NOINTERFACE (docs/activation.md).
 *
 * Hence the order in ServiceMain: report START_PENDING first (that ends our
 * StartService and releases the lock), then start RpcSs here and wait until
 * it runs, and only then register the class object.
 */

#include "dosvc_private.h"
#include "winsvc.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

DWORD rpcss_ensure_running(DWORD timeout_ms, DWORD *process_id)
{
    ULONGLONG deadline = GetTickCount64() + timeout_ms;
    SERVICE_STATUS_PROCESS status;
    SC_HANDLE scm, service;
    DWORD error = NO_ERROR, size, starts = 0;

    TRACE("(%lu, %p)\n", timeout_ms, process_id);

    if (process_id) *process_id = 0;
    if (!(scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT))) return GetLastError();
    if (!(service = OpenServiceW(scm, L"RpcSs", SERVICE_START | SERVICE_QUERY_STATUS)))
    {
        error = GetLastError();
        CloseServiceHandle(scm);
        return error;
    }

    for (;;)
    {
        if (!QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, (BYTE *)&status, sizeof(status), &size))
        {
            error = GetLastError();
            break;
        }
        if (status.dwCurrentState == SERVICE_RUNNING)
        {
            if (process_id) *process_id = status.dwProcessId;
            if (starts) TRACE("RpcSs is running (process %04lx)\n", status.dwProcessId);
            error = NO_ERROR;
            break;
        }
        if (status.dwCurrentState == SERVICE_STOPPED)
        {
            starts++;
            if (StartServiceW(service, 0, NULL)) error = NO_ERROR;
            else error = GetLastError();
            /* someone else started it, or the SCM is busy starting another
             * service: look again */
            if (error && error != ERROR_SERVICE_ALREADY_RUNNING && error != ERROR_SERVICE_DATABASE_LOCKED)
            {
                WARN("cannot start RpcSs: error %lu\n", error);
                break;
            }
            if (error) TRACE("StartService(RpcSs): error %lu, trying again\n", error);
        }
        if (GetTickCount64() >= deadline)
        {
            error = ERROR_SERVICE_REQUEST_TIMEOUT;
            break;
        }
        Sleep(100);
    }

    CloseServiceHandle(service);
    CloseServiceHandle(scm);
    return error;
}
