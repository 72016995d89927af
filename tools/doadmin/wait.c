/*
 * doadmin: waiting for a job or a download, with a progress line
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
 * Both loops poll (GetState/GetProgress, or GetStatus) rather than register
 * a callback: a callback needs this process to be reachable from the
 * service, polling works whatever the security setup, and four calls a
 * second cost nothing next to a download.  On a terminal the line is
 * redrawn at each poll; into a pipe or file one line goes out per second
 * (and on each state change), so logs stay readable.
 */

#include <stdio.h>
#include <wchar.h>

#include "doadmin.h"

#define POLL_MS 250
#define LINE_INTERVAL_MS 1000

static ULONG wait_limit;    /* --timeout, seconds; 0: none */

void set_wait_limit(ULONG seconds)
{
    wait_limit = seconds;
}

/* Has the --timeout passed since start? */
static BOOL wait_expired(ULONGLONG start)
{
    return wait_limit && GetTickCount64() - start >= (ULONGLONG)wait_limit * 1000;
}

/* "1 h", "2 min", "90 s" for the progress line */
static void format_seconds(WCHAR *buf, size_t count, ULONGLONG seconds)
{
    if (seconds >= 3600 && !(seconds % 3600)) _snwprintf(buf, count, L"%I64u h", seconds / 3600);
    else if (seconds >= 60 && !(seconds % 60)) _snwprintf(buf, count, L"%I64u min", seconds / 60);
    else _snwprintf(buf, count, L"%I64u s", seconds);
    buf[count - 1] = 0;
}

struct display
{
    struct rate_meter meter;
    ULONGLONG last_line;
    const WCHAR *last_state;
};

static void display_update(struct display *display, UINT64 done, UINT64 total,
                           const WCHAR *state, const WCHAR *note, BOOL final)
{
    ULONGLONG now = GetTickCount64();
    BOOL changed = state != display->last_state;
    WCHAR line[400];

    rate_meter_add(&display->meter, done);
    if (!output_is_terminal() && !changed && !final && now - display->last_line < LINE_INTERVAL_MS)
        return;
    format_progress(line, ARRAY_SIZE(line), done, total, rate_meter_rate(&display->meter), state,
                    note);
    progress_show(line);
    display->last_line = now;
    display->last_state = state;
}

/* ------------------------------------------------------------ BITS-style jobs */

/* The job's error code (S_OK if the job has none) and the URL of the file it
 * concerns, if any. */
static HRESULT get_job_error(IBackgroundCopyJob *job, HRESULT *code, WCHAR *url, size_t count)
{
    IBackgroundCopyError *error;
    IBackgroundCopyFile *file;
    BG_ERROR_CONTEXT context;
    WCHAR *remote;
    HRESULT hr;

    *code = S_OK;
    url[0] = 0;
    if (FAILED(hr = IBackgroundCopyJob_GetError(job, &error))) return hr;
    set_blanket(error);
    hr = IBackgroundCopyError_GetError(error, &context, code);
    if (SUCCEEDED(hr) && SUCCEEDED(IBackgroundCopyError_GetFile(error, &file)) && file)
    {
        set_blanket(file);
        if (SUCCEEDED(IBackgroundCopyFile_GetRemoteName(file, &remote)))
        {
            _snwprintf(url, count, L"%ls", remote);
            url[count - 1] = 0;
            CoTaskMemFree(remote);
        }
        IBackgroundCopyFile_Release(file);
    }
    IBackgroundCopyError_Release(error);
    return hr;
}

/* The URL of the job's only file, when the error names no file. */
static void get_only_url(IBackgroundCopyJob *job, WCHAR *url, size_t count)
{
    IEnumBackgroundCopyFiles *files;
    IBackgroundCopyFile *file;
    WCHAR *remote;
    ULONG n = 0;

    if (FAILED(IBackgroundCopyJob_EnumFiles(job, &files))) return;
    set_blanket(files);
    if (SUCCEEDED(IEnumBackgroundCopyFiles_GetCount(files, &n)) && n == 1
        && IEnumBackgroundCopyFiles_Next(files, 1, &file, NULL) == S_OK)
    {
        set_blanket(file);
        if (SUCCEEDED(IBackgroundCopyFile_GetRemoteName(file, &remote)))
        {
            _snwprintf(url, count, L"%ls", remote);
            url[count - 1] = 0;
            CoTaskMemFree(remote);
        }
        IBackgroundCopyFile_Release(file);
    }
    IEnumBackgroundCopyFiles_Release(files);
}

static int report_job_error(IBackgroundCopyJob *job, const WCHAR *what)
{
    WCHAR url[2300];
    HRESULT hr, code;

    hr = get_job_error(job, &code, url, ARRAY_SIZE(url));
    if (FAILED(hr)) return report_failure(hr, L"%ls: reading the job's error", what);
    if (!url[0]) get_only_url(job, url, ARRAY_SIZE(url));
    if (url[0]) return report_failure(code, L"%ls of %ls", what, url);
    return report_failure(code, L"%ls", what);
}

/* When the service tries again: DO waits the job's minimum retry delay from
 * entering TRANSIENT_ERROR (which stamps ModificationTime), or longer if
 * the server asked for it with Retry-After.  "in 43 s", or "now". */
static void next_try(IBackgroundCopyJob *job, WCHAR *buf, size_t count)
{
    ULARGE_INTEGER entered, now;
    BG_JOB_TIMES times;
    FILETIME ft;
    ULONG delay;
    LONGLONG left;
    WCHAR text[32];

    buf[0] = 0;
    if (FAILED(IBackgroundCopyJob_GetTimes(job, &times))
        || FAILED(IBackgroundCopyJob_GetMinimumRetryDelay(job, &delay)))
        return;
    entered.LowPart = times.ModificationTime.dwLowDateTime;
    entered.HighPart = times.ModificationTime.dwHighDateTime;
    GetSystemTimeAsFileTime(&ft);
    now.LowPart = ft.dwLowDateTime;
    now.HighPart = ft.dwHighDateTime;
    left = ((LONGLONG)entered.QuadPart + (LONGLONG)delay * 10000000 - (LONGLONG)now.QuadPart) / 10000000;
    if (left <= 0) _snwprintf(buf, count, L"now");
    else
    {
        format_seconds(text, ARRAY_SIZE(text), (ULONGLONG)left);
        _snwprintf(buf, count, L"in %ls", text);
    }
    buf[count - 1] = 0;
}

/* "(will retry in 43 s: 0x801901F7 HTTP 503: ...; gives up after 1 h
 * without progress)" for the progress line */
static void transient_note(IBackgroundCopyJob *job, WCHAR *note, size_t count)
{
    WCHAR url[2300], name[400], when[40], limit[32];
    ULONG seconds;
    HRESULT code;

    note[0] = 0;
    if (FAILED(get_job_error(job, &code, url, ARRAY_SIZE(url))) || SUCCEEDED(code)) return;
    describe_hresult(code, name, ARRAY_SIZE(name));
    next_try(job, when, ARRAY_SIZE(when));
    limit[0] = 0;
    if (SUCCEEDED(IBackgroundCopyJob_GetNoProgressTimeout(job, &seconds)))
        format_seconds(limit, ARRAY_SIZE(limit), seconds);
    _snwprintf(note, count, L"(will retry%ls%ls: %ls%ls%ls%ls)", when[0] ? L" " : L"", when, name,
               limit[0] ? L"; gives up after " : L"", limit, limit[0] ? L" without progress" : L"");
    note[count - 1] = 0;
}

/* --timeout passed: say where things stand, and why they are not done */
static int report_wait_expired(const WCHAR *what, const WCHAR *state, const WCHAR *note,
                               const WCHAR *consequence)
{
    WCHAR limit[32];

    progress_end();
    format_seconds(limit, ARRAY_SIZE(limit), wait_limit);
    return report_error(L"%ls: gave up after %ls (--timeout): still %ls%ls%ls%ls", what, limit, state,
                        note[0] ? L" " : L"", note, consequence);
}

static int interrupt_job(IBackgroundCopyJob *job, const GUID *id, enum wait_owner owner)
{
    WCHAR text[40];
    HRESULT hr;

    progress_end();
    if (owner != WAIT_OWNS_JOB)
    {
        err_printf(L"interrupted\n");
        return EXIT_INTERRUPTED;
    }
    guid_to_string(id, text, ARRAY_SIZE(text));
    if (FAILED(hr = IBackgroundCopyJob_Suspend(job)))
    {
        report_failure(hr, L"suspending job %ls after Ctrl-C", text);
        return EXIT_INTERRUPTED;
    }
    err_printf(L"interrupted: job %ls is suspended\n", text);
    err_printf(L"resume it with: doadmin resume %ls\n", text);
    err_printf(L"(or finish it here with: doadmin resume --wait %ls)\n", text);
    return EXIT_INTERRUPTED;
}

/* The service process is gone (killed, crashed): every proxy to it fails
 * with one of these.  Jobs are durable and the service comes back (its
 * monitor restarts it, or the next activation does). */
static BOOL service_gone(HRESULT hr)
{
    return hr == HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE) || hr == HRESULT_FROM_WIN32(RPC_S_CALL_FAILED) ||
           hr == RPC_E_DISCONNECTED || hr == RPC_E_SERVER_DIED || hr == RPC_E_SERVER_DIED_DNE;
}

/* how long to try to reach a service that went away */
#define RECONNECT_MS 120000

/* Reaches the restarted service and the job in it again; FALSE (with the
 * reason printed) if that does not work out. */
static BOOL reconnect(IBackgroundCopyJob **job, const GUID *id, HRESULT why, const WCHAR *what, ULONGLONG start)
{
    ULONGLONG end = GetTickCount64() + RECONNECT_MS;
    IBackgroundCopyJob *found;
    WCHAR text[400];
    HRESULT hr;

    progress_end();
    describe_hresult(why, text, ARRAY_SIZE(text));
    err_printf(L"the service went away (%ls); reconnecting\n", text);
    for (;;)
    {
        if (SUCCEEDED(hr = reconnect_job(id, &found)))
        {
            IBackgroundCopyJob_Release(*job);
            *job = found;
            err_printf(L"reconnected; the job goes on\n");
            return TRUE;
        }
        if (hr == DO_E_JOB_NOT_FOUND || GetTickCount64() >= end || wait_expired(start)) break;
        if (sleep_interruptible(1000)) return FALSE;
    }
    report_failure(hr, L"%ls: reaching the job again", what);
    return FALSE;
}

int wait_for_job(IBackgroundCopyJob **job, const GUID *id, enum wait_owner owner, const WCHAR *what)
{
    struct display display = { { { 0 } } };
    ULONGLONG start = GetTickCount64();
    BG_JOB_PROGRESS progress;
    BG_JOB_STATE state;
    WCHAR note[1024];
    HRESULT hr;

    for (;;)
    {
        if (FAILED(hr = IBackgroundCopyJob_GetState(*job, &state))
            || FAILED(hr = IBackgroundCopyJob_GetProgress(*job, &progress)))
        {
            if (service_gone(hr) && reconnect(job, id, hr, what, start)) continue;
            if (interrupted()) return interrupt_job(*job, id, owner);
            progress_end();
            return service_gone(hr) ? EXIT_FAILED : report_failure(hr, L"%ls: polling the job", what);
        }
        note[0] = 0;
        if (state == BG_JOB_STATE_TRANSIENT_ERROR) transient_note(*job, note, ARRAY_SIZE(note));
        display_update(&display, progress.BytesTransferred, progress.BytesTotal,
                       job_state_name(state), note, state == BG_JOB_STATE_TRANSFERRED);
        switch (state)
        {
        case BG_JOB_STATE_TRANSFERRED:
            progress_end();
            return EXIT_OK;
        case BG_JOB_STATE_ERROR:
            progress_end();
            return report_job_error(*job, what);
        case BG_JOB_STATE_CANCELLED:
        case BG_JOB_STATE_ACKNOWLEDGED:
            progress_end();
            return report_error(L"%ls failed: the job was %ls meanwhile", what,
                                state == BG_JOB_STATE_CANCELLED ? L"cancelled" : L"completed");
        default:
            break;
        }
        if (wait_expired(start))
            return report_wait_expired(what, job_state_name(state), note,
                                       owner == WAIT_OWNS_JOB ? L"" : L"; the job goes on");
        if (sleep_interruptible(POLL_MS)) return interrupt_job(*job, id, owner);
    }
}

/* ------------------------------------------------------------ IDODownload */

static int interrupt_download(IDODownload *download, const WCHAR *id)
{
    HRESULT hr;

    progress_end();
    if (FAILED(hr = IDODownload_Pause(download)))
    {
        report_failure(hr, L"pausing download %ls after Ctrl-C", id);
        return EXIT_INTERRUPTED;
    }
    err_printf(L"interrupted: download %ls is paused\n", id);
    err_printf(L"resume it with: doadmin resume %ls\n", id);
    return EXIT_INTERRUPTED;
}

/* "; gives up after 1 h without progress" for a download */
static void download_limit(IDODownload *download, WCHAR *buf, size_t count)
{
    WCHAR text[32];
    VARIANT var;

    VariantInit(&var);
    /* not set (or 0): DO's default, an hour (a day for low priority, which
     * IDODownload does not have) */
    if (SUCCEEDED(IDODownload_GetProperty(download, DODownloadProperty_NoProgressTimeoutSeconds, &var))
        && V_VT(&var) == VT_UI4 && V_UI4(&var))
        format_seconds(text, ARRAY_SIZE(text), V_UI4(&var));
    else
        wcscpy(text, L"1 h");
    VariantClear(&var);
    _snwprintf(buf, count, L"; gives up after %ls without progress", text);
    buf[count - 1] = 0;
}

int wait_for_download(IDODownload *download, const WCHAR *id, const WCHAR *what)
{
    struct display display = { { { 0 } } };
    ULONGLONG start = GetTickCount64();
    DO_DOWNLOAD_STATUS status;
    WCHAR note[1024], text[600], limit[80], last[600] = L"";
    UINT64 total;
    HRESULT hr;

    for (;;)
    {
        if (FAILED(hr = IDODownload_GetStatus(download, &status)))
        {
            progress_end();
            return report_failure(hr, L"%ls: polling the download", what);
        }
        note[0] = 0;
        /* Microsoft's clients treat any failure code as the end; the
         * transient zone is the exception DO documents: it pauses and
         * goes on by itself. */
        if (FAILED(status.Error) && !IS_DO_TRANSIENT_ERROR(status.Error))
        {
            progress_end();
            /* e.g. the no-progress timeout: what kept it from progressing */
            if (last[0]) err_printf(L"the last try failed with %ls\n", last);
            return report_failure(status.Error, L"%ls", what);
        }
        if (FAILED(status.Error))
        {
            describe_hresult(status.Error, text, ARRAY_SIZE(text));
            _snwprintf(note, ARRAY_SIZE(note), L"(waiting: %ls)", text);
            note[ARRAY_SIZE(note) - 1] = 0;
        }
        else if (status.State == DODownloadState_Paused && FAILED(status.ExtendedError))
        {
            /* Paused with Error S_OK: a transient failure that DO retries
             * by itself; ExtendedError says which */
            describe_hresult(status.ExtendedError, text, ARRAY_SIZE(text));
            wcscpy(last, text);
            download_limit(download, limit, ARRAY_SIZE(limit));
            _snwprintf(note, ARRAY_SIZE(note), L"(will retry: %ls%ls)", text, limit);
            note[ARRAY_SIZE(note) - 1] = 0;
        }
        /* a total of 0 before the end means "not known yet" */
        total = status.BytesTotal || status.State == DODownloadState_Transferred
                || status.State == DODownloadState_Finalized ? status.BytesTotal : (UINT64)-1;
        display_update(&display, status.BytesTransferred, total,
                       download_state_name(status.State), note,
                       status.State == DODownloadState_Transferred);
        if (status.State == DODownloadState_Transferred || status.State == DODownloadState_Finalized)
        {
            progress_end();
            return EXIT_OK;
        }
        if (status.State == DODownloadState_Aborted)
        {
            progress_end();
            return report_error(L"%ls failed: the download was aborted", what);
        }
        if (wait_expired(start))
            return report_wait_expired(what, download_state_name(status.State), note, L"");
        if (sleep_interruptible(POLL_MS)) return interrupt_download(download, id);
    }
}
