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

/* "retrying: 0x801901F7 HTTP 503" for the progress line */
static void transient_note(IBackgroundCopyJob *job, WCHAR *note, size_t count)
{
    WCHAR url[2300], name[400];
    HRESULT code;

    note[0] = 0;
    if (FAILED(get_job_error(job, &code, url, ARRAY_SIZE(url))) || SUCCEEDED(code)) return;
    describe_hresult(code, name, ARRAY_SIZE(name));
    _snwprintf(note, count, L"(will retry: %ls)", name);
    note[count - 1] = 0;
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

int wait_for_job(IBackgroundCopyJob *job, const GUID *id, enum wait_owner owner, const WCHAR *what)
{
    struct display display = { { { 0 } } };
    BG_JOB_PROGRESS progress;
    BG_JOB_STATE state;
    WCHAR note[400];
    HRESULT hr;

    for (;;)
    {
        if (FAILED(hr = IBackgroundCopyJob_GetState(job, &state))
            || FAILED(hr = IBackgroundCopyJob_GetProgress(job, &progress)))
        {
            progress_end();
            return report_failure(hr, L"%ls: polling the job", what);
        }
        note[0] = 0;
        if (state == BG_JOB_STATE_TRANSIENT_ERROR) transient_note(job, note, ARRAY_SIZE(note));
        display_update(&display, progress.BytesTransferred, progress.BytesTotal,
                       job_state_name(state), note, state == BG_JOB_STATE_TRANSFERRED);
        switch (state)
        {
        case BG_JOB_STATE_TRANSFERRED:
            progress_end();
            return EXIT_OK;
        case BG_JOB_STATE_ERROR:
            progress_end();
            return report_job_error(job, what);
        case BG_JOB_STATE_CANCELLED:
        case BG_JOB_STATE_ACKNOWLEDGED:
            progress_end();
            return report_error(L"%ls failed: the job was %ls meanwhile", what,
                                state == BG_JOB_STATE_CANCELLED ? L"cancelled" : L"completed");
        default:
            break;
        }
        if (sleep_interruptible(POLL_MS)) return interrupt_job(job, id, owner);
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

int wait_for_download(IDODownload *download, const WCHAR *id, const WCHAR *what)
{
    struct display display = { { { 0 } } };
    DO_DOWNLOAD_STATUS status;
    WCHAR note[400], text[300];
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
            return report_failure(status.Error, L"%ls", what);
        }
        if (FAILED(status.Error))
        {
            describe_hresult(status.Error, text, ARRAY_SIZE(text));
            _snwprintf(note, ARRAY_SIZE(note), L"(waiting: %ls)", text);
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
        if (sleep_interruptible(POLL_MS)) return interrupt_download(download, id);
    }
}
