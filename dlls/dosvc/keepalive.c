/*
 * Delivery Optimization service: keeping the Wine session up while jobs run
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
 * On Windows a background transfer goes on after the program that started
 * it exits.  Under Wine the service lives only as long as the session, and
 * a session ends (killing services without notice) soon after its last
 * non-system process exits; services are system processes.  So while any
 * job is queued, transferring or waiting to retry, we run one small helper,
 * dosvc-keepalive.exe, which is an ordinary process and therefore keeps the
 * session up.  It waits for our process to end, so it never outlives the
 * service; we end it once nothing has been active for a short grace period
 * (a job that finishes and one that starts right after should not cost a
 * process start).  A session that ends anyway (wineserver -k) is handled
 * by the job store: the jobs come back queued at the next activation.
 */

#include "dosvc_private.h"
#include "store.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

#define IDLE_GRACE_MS 2000
#define HELPER_NAME   L"dosvc-keepalive.exe"

static HANDLE poke_event;          /* auto-reset: look at the jobs again */
static LONG poke_pending;
static HANDLE thread;
static volatile BOOL stopping;
static volatile HANDLE helper;     /* the running helper's process, or NULL */
static volatile BOOL unavailable;  /* the helper could not be started: stop trying */

static BOOL is_active_state(LONG state)
{
    return state == BG_JOB_STATE_QUEUED || state == BG_JOB_STATE_CONNECTING ||
           state == BG_JOB_STATE_TRANSFERRING || state == BG_JOB_STATE_TRANSIENT_ERROR;
}

/* Called on every change of a job, so it must be cheap: it only wakes the
 * thread when this job's state disagrees with whether the helper runs. */
void keepalive_job_changed(struct do_job *job)
{
    if (!poke_event || unavailable) return;
    if (is_active_state(job->state) == (helper != NULL)) return;
    if (!InterlockedCompareExchange(&poke_pending, 1, 0)) SetEvent(poke_event);
}

static BOOL any_job_active(void)
{
    struct do_job **jobs;
    ULONG count, i;
    BOOL active = FALSE;

    if (FAILED(manager_snapshot(SNAPSHOT_JOBS | SNAPSHOT_DOWNLOADS, &jobs, &count))) return TRUE;
    for (i = 0; i < count; i++)
    {
        if (is_active_state(jobs[i]->state)) active = TRUE;
        job_release(jobs[i]);
    }
    free(jobs);
    return active;
}

static BOOL helper_path(WCHAR *path, DWORD size)
{
    WCHAR *slash;

    /* next to dosvc.dll (tools/install-dosvc puts both in system32) */
    if (GetModuleFileNameW(dosvc_instance, path, size) && (slash = wcsrchr(path, '\\')) &&
        slash - path + ARRAY_SIZE(HELPER_NAME) + 1 < size)
    {
        lstrcpyW(slash + 1, HELPER_NAME);
        if (GetFileAttributesW(path) != INVALID_FILE_ATTRIBUTES) return TRUE;
    }
    if (!GetSystemDirectoryW(path, size) || lstrlenW(path) + ARRAY_SIZE(HELPER_NAME) + 1 >= size) return FALSE;
    lstrcatW(path, L"\\" HELPER_NAME);
    return GetFileAttributesW(path) != INVALID_FILE_ATTRIBUTES;
}

static void start_helper(void)
{
    STARTUPINFOW si = { sizeof(si) };
    PROCESS_INFORMATION pi;
    WCHAR path[MAX_PATH], cmdline[MAX_PATH + 32];

    if (!helper_path(path, ARRAY_SIZE(path)))
    {
        WARN("%s is not installed: the Wine session may end while jobs run\n", debugstr_w(HELPER_NAME));
        unavailable = TRUE;
        return;
    }
    swprintf(cmdline, ARRAY_SIZE(cmdline), L"\"%s\" %lu", path, GetCurrentProcessId());
    if (!CreateProcessW(path, cmdline, NULL, NULL, FALSE, CREATE_NO_WINDOW | DETACHED_PROCESS, NULL, NULL,
                        &si, &pi))
    {
        WARN("cannot start %s: %lu; the Wine session may end while jobs run\n", debugstr_w(path), GetLastError());
        unavailable = TRUE;
        return;
    }
    CloseHandle(pi.hThread);
    helper = pi.hProcess;
    TRACE("jobs are active: keepalive helper %lu started\n", pi.dwProcessId);
}

static void stop_helper(void)
{
    HANDLE process = helper;

    if (!process) return;
    helper = NULL;
    /* it holds nothing and writes nothing: ending it is all it needs */
    TerminateProcess(process, 0);
    WaitForSingleObject(process, 2000);
    CloseHandle(process);
    TRACE("no job active: keepalive helper stopped\n");
}

static DWORD CALLBACK keepalive_proc(void *arg)
{
    ULONGLONG idle_since = 0;
    HANDLE handles[2];
    DWORD timeout = 0, ret;

    for (;;)
    {
        handles[0] = poke_event;
        handles[1] = helper;
        ret = WaitForMultipleObjects(helper ? 2 : 1, handles, FALSE, timeout);
        if (stopping) break;
        if (ret == WAIT_OBJECT_0 + 1)
        {
            /* someone ended it; start another if still needed */
            WARN("the keepalive helper exited\n");
            CloseHandle(helper);
            helper = NULL;
        }
        InterlockedExchange(&poke_pending, 0);

        timeout = INFINITE;
        if (any_job_active())
        {
            idle_since = 0;
            if (!helper && !unavailable) start_helper();
        }
        else if (helper)
        {
            ULONGLONG now = GetTickCount64();

            if (!idle_since) idle_since = now;
            if (now - idle_since >= IDLE_GRACE_MS)
            {
                stop_helper();
                idle_since = 0;
            }
            else timeout = (DWORD)(idle_since + IDLE_GRACE_MS - now);
        }
    }
    stop_helper();
    return 0;
}

void keepalive_startup(void)
{
    stopping = FALSE;
    unavailable = FALSE;
    if (!poke_event && !(poke_event = CreateEventW(NULL, FALSE, FALSE, NULL))) return;
    /* the first pass (timeout 0) looks at the jobs just loaded */
    if (!(thread = CreateThread(NULL, 0, keepalive_proc, NULL, 0, NULL)))
    {
        ERR("cannot start the keepalive thread: %lu\n", GetLastError());
        CloseHandle(poke_event);
        poke_event = NULL;
    }
}

void keepalive_shutdown(void)
{
    if (!thread) return;
    stopping = TRUE;
    SetEvent(poke_event);
    WaitForSingleObject(thread, 5000);
    CloseHandle(thread);
    thread = NULL;
    /* the event stays: a job may still change on a thread that read it */
}
