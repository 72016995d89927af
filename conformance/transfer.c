/*
 * Transfers through the BITS-style Delivery Optimization API: the job state
 * machine, ranges, progress, times, errors and retries, and what the HTTP
 * server sees
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
 * Every resource comes from the loopback server (httpd.h); the query part of
 * each URL picks the server's behaviour.  Where the documentation gives no
 * answer the expected value is the one docs/gaps.md chose, and the message
 * of the check says "[inferred]".  Each sub-test keeps its files in its own
 * directory so that counting DO*.tmp temp files only sees its own jobs.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "dotest.h"

#ifndef ERROR_WINHTTP_TIMEOUT
#define ERROR_WINHTTP_TIMEOUT 12002
#endif


#define ALL_STATES 0x1ffu
/* states a running job does not leave on its own */
#define STOP_STATES (STATE_BIT(BG_JOB_STATE_ERROR) | STATE_BIT(BG_JOB_STATE_TRANSFERRED) | \
                     STATE_BIT(BG_JOB_STATE_SUSPENDED) | STATE_BIT(BG_JOB_STATE_CANCELLED) | \
                     STATE_BIT(BG_JOB_STATE_ACKNOWLEDGED))

static IBackgroundCopyManager *manager;
static struct httpd *httpd;

/* ------------------------------------------------------------------ helpers */

#define get_state(job) get_state_(__LINE__, job)
static BG_JOB_STATE get_state_(unsigned int line, IBackgroundCopyJob *job)
{
    BG_JOB_STATE state = (BG_JOB_STATE)-1;
    HRESULT hr;

    hr = IBackgroundCopyJob_GetState(job, &state);
    ok_(__FILE__, line)(hr == S_OK && state != BG_JOB_STATE_CONNECTING,
                        "GetState: %#lx, %s [DOC: CONNECTING is never reported]\n", hr,
                        state_name(state));
    return state;
}

#define get_progress(job, progress) get_progress_(__LINE__, job, progress)
static void get_progress_(unsigned int line, IBackgroundCopyJob *job, BG_JOB_PROGRESS *progress)
{
    HRESULT hr;

    memset(progress, 0xcc, sizeof(*progress));
    hr = IBackgroundCopyJob_GetProgress(job, progress);
    ok_(__FILE__, line)(hr == S_OK, "GetProgress failed: %#lx\n", hr);
}

#define get_times(job, times) get_times_(__LINE__, job, times)
static void get_times_(unsigned int line, IBackgroundCopyJob *job, BG_JOB_TIMES *times)
{
    HRESULT hr;

    memset(times, 0, sizeof(*times));
    hr = IBackgroundCopyJob_GetTimes(job, times);
    ok_(__FILE__, line)(hr == S_OK, "GetTimes failed: %#lx\n", hr);
}

static BOOL filetime_is_zero(const FILETIME *ft)
{
    return !ft->dwLowDateTime && !ft->dwHighDateTime;
}

static ULONGLONG filetime_u64(const FILETIME *ft)
{
    return ((ULONGLONG)ft->dwHighDateTime << 32) | ft->dwLowDateTime;
}

/* Polls GetState every 10 ms until the state is one of want_mask or
 * timeout_ms passed; or-s every state seen into *seen.  DO never reports
 * CONNECTING: every poll looks for it, and the wait makes one check. */
#define poll_job(job, mask, timeout, seen) poll_job_(__LINE__, job, mask, timeout, seen)
static BG_JOB_STATE poll_job_(unsigned int line, IBackgroundCopyJob *job, unsigned int want_mask,
                              DWORD timeout_ms, unsigned int *seen)
{
    ULONGLONG end = GetTickCount64() + hang_bound(timeout_ms);
    BG_JOB_STATE state = (BG_JOB_STATE)-1;
    unsigned int mask = 0;
    HRESULT hr;

    for (;;)
    {
        hr = IBackgroundCopyJob_GetState(job, &state);
        if (FAILED(hr))
        {
            ok_(__FILE__, line)(0, "GetState failed: %#lx\n", hr);
            break;
        }
        if ((unsigned int)state < 32) mask |= STATE_BIT(state);
        if (((unsigned int)state < 32 && (want_mask & STATE_BIT(state))) || GetTickCount64() >= end)
            break;
        Sleep(10);
    }
    ok_(__FILE__, line)(!(mask & STATE_BIT(BG_JOB_STATE_CONNECTING)),
                        "CONNECTING was reported (states seen %#x) [DOC: not supported]\n", mask);
    if (seen) *seen |= mask;
    return state;
}

/* Waits for one state; stops early in a state the job would not leave by
 * itself.  A failed wait prints where the job got stuck and its error. */
#define wait_state(job, want, timeout) wait_state_(__LINE__, job, want, timeout, NULL, "")
#define wait_state_inferred(job, want, timeout) \
    wait_state_(__LINE__, job, want, timeout, NULL, " [inferred]")
static BOOL wait_state_(unsigned int line, IBackgroundCopyJob *job, BG_JOB_STATE want,
                        DWORD timeout_ms, unsigned int *seen, const char *note)
{
    ULONGLONG start = GetTickCount64();
    BG_JOB_STATE state;
    HRESULT code = S_OK;

    state = poll_job_(line, job, STATE_BIT(want) | STOP_STATES, timeout_ms, seen);
    if (state == BG_JOB_STATE_ERROR || state == BG_JOB_STATE_TRANSIENT_ERROR)
        get_job_error(job, NULL, &code);
    ok_(__FILE__, line)(state == want, "waited %llu ms for %s, got %s (error %#lx)%s\n",
                        GetTickCount64() - start, state_name(want), state_name(state), code, note);
    return state == want;
}

/* Waits until at least min_bytes of the job arrived; returns the count. */
#define wait_bytes(job, min_bytes, timeout) wait_bytes_(__LINE__, job, min_bytes, timeout)
static UINT64 wait_bytes_(unsigned int line, IBackgroundCopyJob *job, UINT64 min_bytes, DWORD timeout_ms)
{
    ULONGLONG end = GetTickCount64() + (timeout_ms = hang_bound(timeout_ms));
    BG_JOB_PROGRESS progress;
    BG_JOB_STATE state = (BG_JOB_STATE)-1;

    for (;;)
    {
        memset(&progress, 0, sizeof(progress));
        IBackgroundCopyJob_GetProgress(job, &progress);
        if (progress.BytesTransferred >= min_bytes || GetTickCount64() >= end) break;
        Sleep(10);
    }
    IBackgroundCopyJob_GetState(job, &state);
    ok_(__FILE__, line)(progress.BytesTransferred >= min_bytes,
                        "only %llu of %llu bytes after %lu ms, state %s\n",
                        progress.BytesTransferred, min_bytes, timeout_ms, state_name(state));
    return progress.BytesTransferred;
}

static void get_file_progress(IBackgroundCopyFile *file, BG_FILE_PROGRESS *progress)
{
    HRESULT hr;

    memset(progress, 0xcc, sizeof(*progress));
    hr = IBackgroundCopyFile_GetProgress(file, progress);
    ok(hr == S_OK, "IBackgroundCopyFile::GetProgress failed: %#lx\n", hr);
}

static void make_subdir(WCHAR *dir, size_t count, const WCHAR *name)
{
    make_test_path(dir, count, name);
    CreateDirectoryW(dir, NULL);
}

static void remove_subdir(const WCHAR *dir)
{
    WIN32_FIND_DATAW data;
    WCHAR pattern[MAX_PATH], path[MAX_PATH];
    HANDLE find;

    swprintf(pattern, ARRAY_SIZE(pattern), L"%ls\\*", dir);
    if ((find = FindFirstFileW(pattern, &data)) != INVALID_HANDLE_VALUE)
    {
        do
        {
            if (data.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) continue;
            swprintf(path, ARRAY_SIZE(path), L"%ls\\%ls", dir, data.cFileName);
            DeleteFileW(path);
        } while (FindNextFileW(find, &data));
        FindClose(find);
    }
    RemoveDirectoryW(dir);
}

static void path_in(WCHAR *buf, size_t count, const WCHAR *dir, const WCHAR *name)
{
    swprintf(buf, count, L"%ls\\%ls", dir, name);
}

#define check_file(path, name, size, count, ranges) check_file_(__LINE__, path, name, size, count, ranges)
static void check_file_(unsigned int line, const WCHAR *path, const char *name, UINT64 size,
                        DWORD range_count, const BG_FILE_RANGE *ranges)
{
    UINT64 bad = 0;
    BOOL match;

    match = file_matches_pattern(path, name, size, range_count, ranges, &bad);
    ok_(__FILE__, line)(match, "%s: %s (first bad byte at %llu)\n", name,
                        file_exists(path) ? "content differs" : "local file missing", bad);
}

#define check_temp_files(dir, want, note) check_temp_files_(__LINE__, dir, want, note)
static void check_temp_files_(unsigned int line, const WCHAR *dir, unsigned int want, const char *note)
{
    unsigned int count = count_files(dir, L"DO*.tmp");

    ok_(__FILE__, line)(count == want, "%u DO*.tmp files, expected %u%s\n", count, want, note);
}

/* A loopback port nobody listens on: bound once, then closed. */
static unsigned short closed_port(void)
{
    struct sockaddr_in addr;
    int len = sizeof(addr);
    WSADATA wsa;
    SOCKET s;

    if (WSAStartup(MAKEWORD(2, 2), &wsa)) return 1;
    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s == INVALID_SOCKET || bind(s, (struct sockaddr *)&addr, sizeof(addr)) ||
        getsockname(s, (struct sockaddr *)&addr, &len))
        addr.sin_port = htons(1);
    if (s != INVALID_SOCKET) closesocket(s);
    WSACleanup();
    return ntohs(addr.sin_port);
}

/* IDeliveryOptimizationFile::GetStats of a file fully fetched over HTTP. */
static void check_stats(IBackgroundCopyFile *file, const WCHAR *url, UINT64 size)
{
    IDeliveryOptimizationFile *do_file;
    DOSwarmStats stats;
    HRESULT hr;

    hr = IBackgroundCopyFile_QueryInterface(file, &IID_IDeliveryOptimizationFile, (void **)&do_file);
    ok(hr == S_OK, "QueryInterface(IDeliveryOptimizationFile) failed: %#lx [inferred]\n", hr);
    if (FAILED(hr)) return;
    memset(&stats, 0, sizeof(stats));
    hr = IDeliveryOptimizationFile_GetStats(do_file, &stats);
    ok(hr == S_OK, "GetStats failed: %#lx\n", hr);
    if (hr == S_OK)
    {
        ok(stats.fileId && !wcscmp(stats.fileId, url), "fileId %ls, expected the id given to AddFileWithRanges\n",
           stats.fileId ? stats.fileId : L"(null)");
        ok(stats.sourceURL && !wcscmp(stats.sourceURL, url), "sourceURL %ls [inferred]\n",
           stats.sourceURL ? stats.sourceURL : L"(null)");
        ok(stats.fileSize == size, "fileSize %llu, expected %llu [inferred]\n", stats.fileSize, size);
        ok(stats.totalBytesDownloaded == size, "totalBytesDownloaded %llu, expected %llu [inferred]\n",
           stats.totalBytesDownloaded, size);
        ok(stats.bytesFromHttp == size, "bytesFromHttp %llu, expected %llu [inferred]\n",
           stats.bytesFromHttp, size);
        ok(!stats.bytesFromLanPeers && !stats.bytesFromGroupPeers && !stats.bytesFromInternetPeers &&
           !stats.bytesToLanPeers && !stats.bytesToGroupPeers && !stats.bytesToInternetPeers,
           "peer bytes %llu/%llu/%llu in, %llu/%llu/%llu out [inferred: no peering]\n",
           stats.bytesFromLanPeers, stats.bytesFromGroupPeers, stats.bytesFromInternetPeers,
           stats.bytesToLanPeers, stats.bytesToGroupPeers, stats.bytesToInternetPeers);
        ok(stats.httpConnectionCount >= 1, "httpConnectionCount %u [inferred]\n", stats.httpConnectionCount);
        ok(stats.downloadMode == DownloadMode_Simple, "downloadMode %d [inferred: no peering]\n",
           stats.downloadMode);
        ok(stats.status == SwarmStatus_Complete, "status %d [inferred]\n", stats.status);
        ok(stats.isBackground, "isBackground %d for a NORMAL priority job [inferred]\n", stats.isBackground);
        trace("GetStats: %u HTTP connections, downloadDuration %u ms\n", stats.httpConnectionCount,
              stats.downloadDuration);
        CoTaskMemFree(stats.fileId);
        CoTaskMemFree(stats.sourceURL);
    }
    IDeliveryOptimizationFile_Release(do_file);
}

/* IBackgroundCopyFile5::GetProperty(HTTP_RESPONSE_HEADERS) after a response. */
static void check_response_headers(IBackgroundCopyFile *file)
{
    BITS_FILE_PROPERTY_VALUE value;
    IBackgroundCopyFile5 *file5;
    HRESULT hr;

    hr = IBackgroundCopyFile_QueryInterface(file, &IID_IBackgroundCopyFile5, (void **)&file5);
    ok(hr == S_OK, "QueryInterface(IBackgroundCopyFile5) failed: %#lx\n", hr);
    if (FAILED(hr)) return;
    value.String = NULL;
    hr = IBackgroundCopyFile5_GetProperty(file5, BITS_FILE_PROPERTY_ID_HTTP_RESPONSE_HEADERS, &value);
    ok(hr == S_OK, "GetProperty(HTTP_RESPONSE_HEADERS) failed: %#lx\n", hr);
    if (hr == S_OK)
    {
        ok(value.String && (wcsstr(value.String, L"Content-Length") || wcsstr(value.String, L"ETag")),
           "response headers %ls\n", value.String ? value.String : L"(null)");
        CoTaskMemFree(value.String);
    }
    IBackgroundCopyFile5_Release(file5);
}

/* ------------------------------------------------------------------ tests */

/* One rate-limited whole file from creation to Complete: every state, the
 * progress and times at each step, and the cost of GetState. */
static void test_states_and_progress(void)
{
    static const UINT64 size = 2 * MIB;
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    BG_JOB_PROGRESS progress;
    BG_FILE_PROGRESS file_progress;
    BG_JOB_TIMES times, resumed_times;
    LARGE_INTEGER freq, t0, t1;
    double total_ms = 0, max_ms = 0, ms;
    IBackgroundCopyFile *file;
    IBackgroundCopyJob *job;
    BG_JOB_STATE state;
    unsigned int i, failed_calls = 0;
    ULONG errors;
    HRESULT hr;
    GUID id;

    make_subdir(dir, ARRAY_SIZE(dir), L"states");
    path_in(local, ARRAY_SIZE(local), dir, L"states.bin");
    httpd_add_generated(httpd, "states.bin", size);
    make_url(url, ARRAY_SIZE(url), httpd, "/states.bin?rate=524288");

    if (!(job = create_job(manager, L"xfer-states", &id))) return;
    state = get_state(job);
    ok(state == BG_JOB_STATE_SUSPENDED, "new job: got %s\n", state_name(state));
    get_times(job, &times);
    ok(!filetime_is_zero(&times.CreationTime), "CreationTime not set\n");
    ok(CompareFileTime(&times.ModificationTime, &times.CreationTime) >= 0,
       "ModificationTime %llu before CreationTime %llu\n", filetime_u64(&times.ModificationTime),
       filetime_u64(&times.CreationTime));
    ok(filetime_is_zero(&times.TransferCompletionTime), "TransferCompletionTime %llu before any transfer [inferred]\n",
       filetime_u64(&times.TransferCompletionTime));

    hr = add_file(job, url, local, 0, NULL);
    ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
    state = get_state(job);
    ok(state == BG_JOB_STATE_SUSPENDED, "after AddFileWithRanges: got %s\n", state_name(state));
    get_progress(job, &progress);
    ok(progress.FilesTotal == 1 && progress.FilesTransferred == 0, "files %lu/%lu\n",
       progress.FilesTransferred, progress.FilesTotal);
    ok(progress.BytesTransferred == 0, "BytesTransferred %llu\n", progress.BytesTransferred);
    ok(progress.BytesTotal == BG_SIZE_UNKNOWN, "BytesTotal %llu before the size is known\n", progress.BytesTotal);
    errors = 0xdead;
    hr = IBackgroundCopyJob_GetErrorCount(job, &errors);
    ok(hr == S_OK && errors == 0, "GetErrorCount: %#lx, %lu [inferred]\n", hr, errors);
    hr = get_job_error(job, NULL, NULL);
    ok(hr == DO_E_ERROR_INFORMATION_UNAVAILABLE, "GetError on a suspended job: %#lx\n", hr);

    get_times(job, &times);
    Sleep(50);
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    state = get_state(job);
    ok(state == BG_JOB_STATE_QUEUED || state == BG_JOB_STATE_TRANSFERRING, "after Resume: got %s\n",
       state_name(state));
    get_times(job, &resumed_times);
    ok(CompareFileTime(&resumed_times.ModificationTime, &times.ModificationTime) > 0,
       "Resume did not advance ModificationTime (%llu)\n", filetime_u64(&resumed_times.ModificationTime));

    if (wait_state(job, BG_JOB_STATE_TRANSFERRING, 10000))
    {
        /* the temp file may only appear with the first byte */
        wait_bytes(job, 1, 5000);
        ok(!file_exists(local), "the local file exists while TRANSFERRING\n");
        check_temp_files(dir, 1, " while TRANSFERRING [inferred]");
        get_progress(job, &progress);
        ok(progress.BytesTotal == size || progress.BytesTotal == BG_SIZE_UNKNOWN,
           "BytesTotal %llu while TRANSFERRING\n", progress.BytesTotal);
        ok(progress.BytesTransferred <= size, "BytesTransferred %llu of %llu\n", progress.BytesTransferred, size);

        /* clients poll GetState in tight loops */
        QueryPerformanceFrequency(&freq);
        for (i = 0; i < 200; i++)
        {
            QueryPerformanceCounter(&t0);
            hr = IBackgroundCopyJob_GetState(job, &state);
            QueryPerformanceCounter(&t1);
            ms = (t1.QuadPart - t0.QuadPart) * 1000.0 / freq.QuadPart;
            total_ms += ms;
            if (ms > max_ms) max_ms = ms;
            if (hr != S_OK || state == BG_JOB_STATE_CONNECTING) failed_calls++;
        }
        ok(!failed_calls, "%u of 200 GetState calls failed or returned CONNECTING\n", failed_calls);
        /* how cheap is a figure for the log; tools/bench measures it */
        trace("200 GetState calls while transferring: %.3f ms on average, %.3f ms at most\n",
              total_ms / 200, max_ms);
    }

    if (!wait_state(job, BG_JOB_STATE_TRANSFERRED, 15000))
    {
        finish_job(job);
        remove_subdir(dir);
        return;
    }
    get_progress(job, &progress);
    ok(progress.BytesTransferred == size && progress.BytesTotal == size, "bytes %llu/%llu, expected %llu\n",
       progress.BytesTransferred, progress.BytesTotal, size);
    ok(progress.FilesTransferred == 1 && progress.FilesTotal == 1, "files %lu/%lu\n",
       progress.FilesTransferred, progress.FilesTotal);
    get_times(job, &times);
    ok(!filetime_is_zero(&times.TransferCompletionTime), "TransferCompletionTime not set once TRANSFERRED\n");
    ok(CompareFileTime(&times.TransferCompletionTime, &resumed_times.ModificationTime) >= 0,
       "TransferCompletionTime %llu before the Resume at %llu\n", filetime_u64(&times.TransferCompletionTime),
       filetime_u64(&resumed_times.ModificationTime));
    ok(!file_exists(local), "the local file exists before Complete\n");
    check_temp_files(dir, 1, " before Complete [inferred]");
    hr = get_job_error(job, NULL, NULL);
    ok(hr == DO_E_ERROR_INFORMATION_UNAVAILABLE, "GetError on a TRANSFERRED job: %#lx\n", hr);

    file = get_file(job, 0);
    if (file)
    {
        get_file_progress(file, &file_progress);
        ok(file_progress.BytesTotal == size && file_progress.BytesTransferred == size,
           "file bytes %llu/%llu, expected %llu\n", file_progress.BytesTransferred, file_progress.BytesTotal, size);
        ok(!file_progress.Completed, "file Completed %d before Complete\n", file_progress.Completed);
        check_stats(file, url, size);
        check_response_headers(file);
    }

    hr = IBackgroundCopyJob_Complete(job);
    ok(hr == S_OK, "Complete failed: %#lx\n", hr);
    state = get_state(job);
    ok(state == BG_JOB_STATE_ACKNOWLEDGED, "after Complete: got %s\n", state_name(state));
    check_file(local, "states.bin", size, 0, NULL);
    check_temp_files(dir, 0, " after Complete");
    if (file)
    {
        get_file_progress(file, &file_progress);
        ok(file_progress.Completed, "file Completed %d after Complete\n", file_progress.Completed);
        IBackgroundCopyFile_Release(file);
    }
    finish_job(job);
    remove_subdir(dir);
}

/* Suspend in the middle of a body, check nothing moves, then Resume and
 * get the same bytes as an uninterrupted download. */
static void test_suspend_resume(void)
{
    static const UINT64 size = 2 * MIB;
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    BG_JOB_PROGRESS before, after;
    BG_JOB_TIMES times, suspended_times;
    IBackgroundCopyJob *job;
    BG_JOB_STATE state;
    char range[128];
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"suspend");
    path_in(local, ARRAY_SIZE(local), dir, L"suspend.bin");
    httpd_add_generated(httpd, "suspend.bin", size);
    make_url(url, ARRAY_SIZE(url), httpd, "/suspend.bin?rate=524288");

    if (!(job = create_job(manager, L"xfer-suspend", NULL))) return;
    hr = add_file(job, url, local, 0, NULL);
    ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    if (!wait_state(job, BG_JOB_STATE_TRANSFERRING, 10000) || wait_bytes(job, 128 * KIB, 5000) < 128 * KIB)
    {
        finish_job(job);
        remove_subdir(dir);
        return;
    }

    get_times(job, &times);
    Sleep(50);
    hr = IBackgroundCopyJob_Suspend(job);
    ok(hr == S_OK, "Suspend in TRANSFERRING failed: %#lx\n", hr);
    state = get_state(job);
    ok(state == BG_JOB_STATE_SUSPENDED, "after Suspend: got %s\n", state_name(state));
    get_times(job, &suspended_times);
    ok(CompareFileTime(&suspended_times.ModificationTime, &times.ModificationTime) > 0,
       "Suspend did not advance ModificationTime (%llu)\n", filetime_u64(&suspended_times.ModificationTime));

    Sleep(300);
    get_progress(job, &before);
    Sleep(1000);
    get_progress(job, &after);
    ok(before.BytesTransferred < size, "all %llu bytes arrived before Suspend\n", before.BytesTransferred);
    ok(after.BytesTransferred == before.BytesTransferred, "bytes grew from %llu to %llu while SUSPENDED\n",
       before.BytesTransferred, after.BytesTransferred);
    state = get_state(job);
    ok(state == BG_JOB_STATE_SUSPENDED, "1 s after Suspend: got %s\n", state_name(state));
    ok(!file_exists(local), "the local file exists while SUSPENDED\n");
    check_temp_files(dir, 1, " while SUSPENDED [inferred: partial data kept for Resume]");

    httpd_reset_log(httpd);
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume from SUSPENDED failed: %#lx\n", hr);
    state = get_state(job);
    ok(state == BG_JOB_STATE_QUEUED || state == BG_JOB_STATE_TRANSFERRING, "after Resume: got %s\n",
       state_name(state));
    if (wait_state(job, BG_JOB_STATE_TRANSFERRED, 15000))
    {
        range[0] = 0;
        ok(httpd_last_request_header(httpd, "/suspend.bin", "Range", range, sizeof(range)),
           "the resumed request had no Range header [inferred: a resumed download continues]\n");
        trace("resumed with Range: %s (%llu bytes had arrived)\n", range, before.BytesTransferred);
        get_progress(job, &after);
        ok(after.BytesTransferred == size && after.BytesTotal == size, "bytes %llu/%llu, expected %llu\n",
           after.BytesTransferred, after.BytesTotal, size);
        hr = IBackgroundCopyJob_Complete(job);
        ok(hr == S_OK, "Complete failed: %#lx\n", hr);
        check_file(local, "suspend.bin", size, 0, NULL);
        check_temp_files(dir, 0, " after Complete");
    }
    finish_job(job);
    remove_subdir(dir);
}

/* Suspend also works from TRANSIENT_ERROR, ERROR and TRANSFERRED. */
static void test_suspend_other_states(void)
{
    static const UINT64 size = 64 * KIB;
    static const struct
    {
        const char *path;
        BG_JOB_STATE state;
    }
    tests[] =
    {
        { "/busy?status=503", BG_JOB_STATE_TRANSIENT_ERROR },
        { "/gone?status=404", BG_JOB_STATE_ERROR },
        { "/small.bin", BG_JOB_STATE_TRANSFERRED },
    };
    IBackgroundCopyJob *jobs[ARRAY_SIZE(tests)] = { NULL };
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    BG_JOB_STATE state;
    unsigned int i;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"suspend2");
    httpd_add_generated(httpd, "small.bin", size);
    for (i = 0; i < ARRAY_SIZE(tests); i++)
    {
        WCHAR name[32];

        if (!(jobs[i] = create_job(manager, L"xfer-suspend2", NULL))) continue;
        swprintf(name, ARRAY_SIZE(name), L"suspend2-%u.bin", i);
        path_in(local, ARRAY_SIZE(local), dir, name);
        make_url(url, ARRAY_SIZE(url), httpd, tests[i].path);
        /* a long retry delay keeps the 503 job in TRANSIENT_ERROR */
        hr = IBackgroundCopyJob_SetMinimumRetryDelay(jobs[i], 60);
        ok(hr == S_OK, "SetMinimumRetryDelay failed: %#lx\n", hr);
        hr = add_file(jobs[i], url, local, 0, NULL);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
        hr = IBackgroundCopyJob_Resume(jobs[i]);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    }
    for (i = 0; i < ARRAY_SIZE(tests); i++)
    {
        if (!jobs[i]) continue;
        winetest_push_context("%s", tests[i].path);
        if (wait_state_inferred(jobs[i], tests[i].state, 10000))
        {
            hr = IBackgroundCopyJob_Suspend(jobs[i]);
            ok(hr == S_OK, "Suspend in %s failed: %#lx [inferred]\n", state_name(tests[i].state), hr);
            state = get_state(jobs[i]);
            ok(state == BG_JOB_STATE_SUSPENDED, "Suspend in %s: got %s [inferred]\n",
               state_name(tests[i].state), state_name(state));
        }
        winetest_pop_context();
    }

    /* nothing left to fetch: Resume leads straight back to TRANSFERRED */
    if (jobs[2] && get_state(jobs[2]) == BG_JOB_STATE_SUSPENDED)
    {
        hr = IBackgroundCopyJob_Resume(jobs[2]);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
        if (wait_state_inferred(jobs[2], BG_JOB_STATE_TRANSFERRED, 5000))
        {
            hr = IBackgroundCopyJob_Complete(jobs[2]);
            ok(hr == S_OK, "Complete failed: %#lx\n", hr);
            path_in(local, ARRAY_SIZE(local), dir, L"suspend2-2.bin");
            check_file(local, "small.bin", size, 0, NULL);
        }
    }
    for (i = 0; i < ARRAY_SIZE(tests); i++) finish_job(jobs[i]);
    remove_subdir(dir);
}

/* Cancel removes everything; Complete keeps only what fully arrived. */
static void test_cancel_and_partial_complete(void)
{
    static const UINT64 size = 2 * MIB, first_size = 64 * KIB;
    WCHAR dir[MAX_PATH], local[MAX_PATH], second[MAX_PATH], url[256];
    BG_FILE_PROGRESS file_progress;
    IBackgroundCopyFile *file;
    IBackgroundCopyJob *job;
    BG_JOB_STATE state;
    ULONGLONG end;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"cancel");
    path_in(local, ARRAY_SIZE(local), dir, L"cancel.bin");
    httpd_add_generated(httpd, "cancel.bin", size);
    make_url(url, ARRAY_SIZE(url), httpd, "/cancel.bin?rate=262144");

    if ((job = create_job(manager, L"xfer-cancel", NULL)))
    {
        hr = add_file(job, url, local, 0, NULL);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
        if (wait_state(job, BG_JOB_STATE_TRANSFERRING, 10000) && wait_bytes(job, 64 * KIB, 5000) >= 64 * KIB)
        {
            check_temp_files(dir, 1, " while TRANSFERRING [inferred]");
            hr = IBackgroundCopyJob_Cancel(job);
            ok(hr == S_OK, "Cancel in TRANSFERRING failed: %#lx\n", hr);
            state = get_state(job);
            ok(state == BG_JOB_STATE_CANCELLED, "after Cancel: got %s\n", state_name(state));
            check_temp_files(dir, 0, " after Cancel");
            ok(!file_exists(local), "the local file exists after Cancel\n");
        }
        finish_job(job);
    }

    /* the second file stalls after 1000 bytes, so it never completes */
    path_in(local, ARRAY_SIZE(local), dir, L"first.bin");
    path_in(second, ARRAY_SIZE(second), dir, L"second.bin");
    httpd_add_generated(httpd, "first.bin", first_size);
    httpd_add_generated(httpd, "second.bin", MIB);
    if (!(job = create_job(manager, L"xfer-partial", NULL))) return;
    make_url(url, ARRAY_SIZE(url), httpd, "/first.bin");
    hr = add_file(job, url, local, 0, NULL);
    ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
    make_url(url, ARRAY_SIZE(url), httpd, "/second.bin?stall_after=1000");
    hr = add_file(job, url, second, 0, NULL);
    ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    if ((file = get_file(job, 0)))
    {
        end = GetTickCount64() + HANG_TIMEOUT_MS;
        do
        {
            memset(&file_progress, 0, sizeof(file_progress));
            IBackgroundCopyFile_GetProgress(file, &file_progress);
            if (file_progress.BytesTransferred == first_size) break;
            Sleep(10);
        } while (GetTickCount64() < end);
        ok(file_progress.BytesTransferred == first_size && file_progress.BytesTotal == first_size,
           "first file: %llu/%llu bytes\n", file_progress.BytesTransferred, file_progress.BytesTotal);
        IBackgroundCopyFile_Release(file);
    }
    Sleep(300);
    state = get_state(job);
    ok(state == BG_JOB_STATE_TRANSFERRING || state == BG_JOB_STATE_QUEUED,
       "with the second file stalled: got %s\n", state_name(state));
    hr = IBackgroundCopyJob_Complete(job);
    ok(hr == S_OK, "Complete with an unfinished file failed: %#lx\n", hr);
    state = get_state(job);
    ok(state == BG_JOB_STATE_ACKNOWLEDGED, "after Complete: got %s\n", state_name(state));
    check_file(local, "first.bin", first_size, 0, NULL);
    ok(!file_exists(second), "the unfinished file exists after Complete\n");
    check_temp_files(dir, 0, " after Complete [inferred: unfinished temp files deleted]");
    finish_job(job);
    remove_subdir(dir);
}

/* Ranged files: many ranges, the Office pattern, and BG_LENGTH_TO_EOF. */
static void test_ranges(void)
{
    static const UINT64 size = 10 * MIB, office_size = 16 * MIB, eof_size = MIB + 333;
    WCHAR dir[MAX_PATH], local[MAX_PATH], eof_local[MAX_PATH], url[256];
    IBackgroundCopyJob *job, *eof_job;
    BG_FILE_RANGE *ranges, eof_ranges[3];
    BG_FILE_PROGRESS file_progress;
    BG_JOB_PROGRESS progress;
    IBackgroundCopyFile *file;
    UINT64 sum = 0, eof_sum;
    ULONGLONG start, elapsed;
    char range[256];
    unsigned int i;
    HRESULT hr;

    if (!(ranges = malloc(2576 * sizeof(*ranges)))) return;
    make_subdir(dir, ARRAY_SIZE(dir), L"ranges");

    /* 100 spread, non-adjacent ranges in offset order, 1 byte to 40 kB each */
    path_in(local, ARRAY_SIZE(local), dir, L"ranges.bin");
    httpd_add_generated(httpd, "ranges.bin", size);
    for (i = 0; i < 100; i++)
    {
        ranges[i].InitialOffset = i * 100000ull + (i * 7919u) % 50000;
        ranges[i].Length = 1 + (i * 104729u) % 40000;
        sum += ranges[i].Length;
    }
    make_url(url, ARRAY_SIZE(url), httpd, "/ranges.bin");
    if ((job = create_job(manager, L"xfer-ranges", NULL)))
    {
        hr = add_file(job, url, local, 100, ranges);
        ok(hr == S_OK, "AddFileWithRanges with 100 ranges failed: %#lx\n", hr);
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    }

    /* the last range runs to the end of the file */
    path_in(eof_local, ARRAY_SIZE(eof_local), dir, L"eof.bin");
    httpd_add_generated(httpd, "eof.bin", eof_size);
    eof_ranges[0].InitialOffset = 100;
    eof_ranges[0].Length = 200;
    eof_ranges[1].InitialOffset = 5000;
    eof_ranges[1].Length = 1000;
    eof_ranges[2].InitialOffset = eof_size - 4321;
    eof_ranges[2].Length = BG_LENGTH_TO_EOF;
    eof_sum = 200 + 1000 + 4321;
    make_url(url, ARRAY_SIZE(url), httpd, "/eof.bin");
    if ((eof_job = create_job(manager, L"xfer-eof", NULL)))
    {
        hr = add_file(eof_job, url, eof_local, 3, eof_ranges);
        ok(hr == S_OK, "AddFileWithRanges with BG_LENGTH_TO_EOF failed: %#lx\n", hr);
        hr = IBackgroundCopyJob_Resume(eof_job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    }

    if (job && wait_state(job, BG_JOB_STATE_TRANSFERRED, 20000))
    {
        range[0] = 0;
        httpd_last_request_header(httpd, "/ranges.bin", "Range", range, sizeof(range));
        trace("100 ranges: %u HTTP requests, the last with Range: %.100s\n",
              httpd_request_count(httpd, "/ranges.bin"), range[0] ? range : "(none)");
        get_progress(job, &progress);
        ok(progress.BytesTotal == sum && progress.BytesTransferred == sum,
           "100 ranges: bytes %llu/%llu, expected the sum of the lengths %llu\n",
           progress.BytesTransferred, progress.BytesTotal, sum);
        if ((file = get_file(job, 0)))
        {
            get_file_progress(file, &file_progress);
            ok(file_progress.BytesTotal == sum && file_progress.BytesTransferred == sum,
               "100 ranges: file bytes %llu/%llu, expected %llu\n", file_progress.BytesTransferred,
               file_progress.BytesTotal, sum);
            IBackgroundCopyFile_Release(file);
        }
        hr = IBackgroundCopyJob_Complete(job);
        ok(hr == S_OK, "Complete failed: %#lx\n", hr);
        winetest_push_context("ranges back to back [inferred]");
        check_file(local, "ranges.bin", size, 100, ranges);
        winetest_pop_context();
    }
    if (job) finish_job(job);

    if (eof_job && wait_state(eof_job, BG_JOB_STATE_TRANSFERRED, 10000))
    {
        get_progress(eof_job, &progress);
        ok(progress.BytesTotal == eof_sum && progress.BytesTransferred == eof_sum,
           "BG_LENGTH_TO_EOF: bytes %llu/%llu, expected %llu [inferred: resolved from the file size]\n",
           progress.BytesTransferred, progress.BytesTotal, eof_sum);
        hr = IBackgroundCopyJob_Complete(eof_job);
        ok(hr == S_OK, "Complete failed: %#lx\n", hr);
        winetest_push_context("BG_LENGTH_TO_EOF [inferred]");
        check_file(eof_local, "eof.bin", eof_size, 3, eof_ranges);
        winetest_pop_context();
    }
    if (eof_job) finish_job(eof_job);

    /* 2,576 small ranges, as Office Click-to-Run asks for */
    path_in(local, ARRAY_SIZE(local), dir, L"office.bin");
    httpd_add_generated(httpd, "office.bin", office_size);
    for (i = 0, sum = 0; i < 2576; i++)
    {
        ranges[i].InitialOffset = i * 6500ull + (i % 13) * 11;
        ranges[i].Length = 512 + (i * 37u) % 3000;
        sum += ranges[i].Length;
    }
    make_url(url, ARRAY_SIZE(url), httpd, "/office.bin");
    if ((job = create_job(manager, L"xfer-office", NULL)))
    {
        hr = add_file(job, url, local, 2576, ranges);
        ok(hr == S_OK, "AddFileWithRanges with 2576 ranges failed: %#lx\n", hr);
        httpd_reset_log(httpd);
        start = GetTickCount64();
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
        if (wait_state(job, BG_JOB_STATE_TRANSFERRED, 40000))
        {
            elapsed = GetTickCount64() - start;
            trace("2576 ranges (%llu bytes): %llu ms, %u HTTP requests, %u new connections\n", sum, elapsed,
                  httpd_request_count(httpd, "/office.bin"), httpd_connection_count(httpd));
            range[0] = 0;
            httpd_last_request_header(httpd, "/office.bin", "Range", range, sizeof(range));
            trace("2576 ranges: the last request asked for Range: %.100s\n", range[0] ? range : "(none)");
            get_progress(job, &progress);
            ok(progress.BytesTotal == sum && progress.BytesTransferred == sum,
               "2576 ranges: bytes %llu/%llu, expected %llu\n", progress.BytesTransferred, progress.BytesTotal, sum);
            hr = IBackgroundCopyJob_Complete(job);
            ok(hr == S_OK, "Complete failed: %#lx\n", hr);
            winetest_push_context("2576 ranges [inferred]");
            check_file(local, "office.bin", office_size, 2576, ranges);
            winetest_pop_context();
        }
        finish_job(job);
    }
    free(ranges);
    remove_subdir(dir);
}

/* Ranges too far apart to share one span go several to a request
 * (multipart/byteranges); servers that answer otherwise still give the
 * exact bytes, and hostile answers never a complete file. */
static void test_multi_ranges(void)
{
    static const UINT64 size = 8 * MIB;
    static const struct
    {
        const char *query;
        BOOL good;              /* the file must arrive */
        BOOL fewer;             /* in fewer requests than ranges */
        HRESULT error;          /* otherwise: the job's error */
        BG_JOB_STATE state;
    }
    tests[] =
    {
        { "", TRUE, TRUE },
        { "multirange=merge", TRUE, TRUE },
        { "multirange=200", TRUE, FALSE },
        { "multirange=first", TRUE, FALSE },
        { "multirange=outside", FALSE, FALSE, DO_E_HTTP_BLOCKSIZE_MISMATCH, BG_JOB_STATE_ERROR },
        { "multirange=boundary", FALSE, FALSE, DO_E_HTTP_BLOCKSIZE_MISMATCH, BG_JOB_STATE_ERROR },
        { "multirange=shortpart", FALSE, FALSE, DO_E_HTTP_BLOCKSIZE_MISMATCH, BG_JOB_STATE_ERROR },
        { "multirange=total", FALSE, FALSE, DO_E_HTTP_BLOCKSIZE_MISMATCH, BG_JOB_STATE_ERROR },
        { "close_after=5000", FALSE, FALSE, 0, BG_JOB_STATE_TRANSIENT_ERROR },
    };
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    BG_FILE_RANGE ranges[60], *many;
    static char big_range[8192];
    BG_JOB_PROGRESS progress;
    IBackgroundCopyJob *job;
    unsigned int i, requests;
    char path[64], range[64];
    UINT64 sum = 0;
    HRESULT hr, code;

    make_subdir(dir, ARRAY_SIZE(dir), L"multirange");
    httpd_add_generated(httpd, "sparse.bin", size);
    /* 128 KiB apart: too far for one span */
    for (i = 0; i < ARRAY_SIZE(ranges); i++)
    {
        ranges[i].InitialOffset = i * 131072ull + (i * 7919u) % 1000;
        ranges[i].Length = 1000 + (i * 104729u) % 700;
        sum += ranges[i].Length;
    }
    /* 1500 ranges: more than one Range header may hold (at most 8 KiB); the
     * file changes after the first request, which a later one must see
     * (the batches after the first go out on several connections) */
    if ((many = malloc(1500 * sizeof(*many))))
    {
        static const char *queries[] = { "", "?etag_after=1" };
        UINT64 many_sum = 0;

        httpd_add_generated(httpd, "sparse-many.bin", 1500 * 131072ull);
        for (i = 0; i < 1500; i++)
        {
            many[i].InitialOffset = i * 131072ull + 100000;
            many[i].Length = 1500;
            many_sum += many[i].Length;
        }
        for (i = 0; i < ARRAY_SIZE(queries); i++)
        {
            winetest_push_context("1500 ranges%s", queries[i]);
            sprintf(path, "/sparse-many.bin%s", queries[i]);
            make_url(url, ARRAY_SIZE(url), httpd, path);
            swprintf(local, ARRAY_SIZE(local), L"%ls\\many%u.bin", dir, i);
            httpd_reset_log(httpd);
            if ((job = create_job(manager, L"xfer-multirange", NULL)))
            {
                hr = add_file(job, url, local, 1500, many);
                ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
                hr = IBackgroundCopyJob_Resume(job);
                ok(hr == S_OK, "Resume failed: %#lx\n", hr);
                if (!i && wait_state(job, BG_JOB_STATE_TRANSFERRED, 30000))
                {
                    requests = httpd_request_count(httpd, "/sparse-many.bin");
                    trace("1500 ranges: %u requests on %u connections\n", requests, httpd_connection_count(httpd));
                    ok(requests >= 2 && requests < 20, "%u requests for 1500 ranges [inferred]\n", requests);
                    ok(httpd_last_request_header(httpd, "/sparse-many.bin", "Range", big_range, sizeof(big_range)),
                       "the last Range header is longer than 8 KiB [inferred]\n");
                    hr = IBackgroundCopyJob_Complete(job);
                    ok(hr == S_OK, "Complete failed: %#lx\n", hr);
                    check_file(local, "sparse-many.bin", 1500 * 131072ull, 1500, many);
                }
                else if (i && wait_state_inferred(job, BG_JOB_STATE_ERROR, 30000))
                {
                    code = S_OK;
                    get_job_error(job, NULL, &code);
                    ok(code == DO_E_INSUFFICIENT_RANGE_SUPPORT,
                       "a changed file: error %#lx, expected DO_E_INSUFFICIENT_RANGE_SUPPORT [inferred]\n", code);
                    get_progress(job, &progress);
                    ok(progress.BytesTransferred < many_sum, "%llu bytes of a file that changed\n",
                       progress.BytesTransferred);
                }
                finish_job(job);
            }
            winetest_pop_context();
        }
        free(many);
    }

    for (i = 0; i < ARRAY_SIZE(tests); i++)
    {
        winetest_push_context("%s", tests[i].query[0] ? tests[i].query : "multipart");
        sprintf(path, "/sparse.bin%s%s", tests[i].query[0] ? "?" : "", tests[i].query);
        make_url(url, ARRAY_SIZE(url), httpd, path);
        swprintf(local, ARRAY_SIZE(local), L"%ls\\sparse%u.bin", dir, i);
        if (!(job = create_job(manager, L"xfer-multirange", NULL)))
        {
            winetest_pop_context();
            continue;
        }
        hr = add_file(job, url, local, ARRAY_SIZE(ranges), ranges);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
        httpd_reset_log(httpd);
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
        if (tests[i].good)
        {
            if (wait_state(job, BG_JOB_STATE_TRANSFERRED, 30000))
            {
                requests = httpd_request_count(httpd, "/sparse.bin");
                range[0] = 0;
                httpd_last_request_header(httpd, "/sparse.bin", "Range", range, sizeof(range));
                trace("%u ranges: %u requests, the last asking for %.40s\n", (unsigned int)ARRAY_SIZE(ranges),
                      requests, range);
                if (tests[i].fewer)
                    ok(requests < ARRAY_SIZE(ranges) / 4,
                       "%u requests for %u ranges [inferred: several ranges to a request]\n", requests,
                       (unsigned int)ARRAY_SIZE(ranges));
                else
                    ok(requests >= 1, "no request logged\n");
                get_progress(job, &progress);
                ok(progress.BytesTransferred == sum && progress.BytesTotal == sum, "bytes %llu/%llu, expected %llu\n",
                   progress.BytesTransferred, progress.BytesTotal, sum);
                hr = IBackgroundCopyJob_Complete(job);
                ok(hr == S_OK, "Complete failed: %#lx\n", hr);
                check_file(local, "sparse.bin", size, ARRAY_SIZE(ranges), ranges);
            }
        }
        else if (wait_state_inferred(job, tests[i].state, 30000))
        {
            code = S_OK;
            get_job_error(job, NULL, &code);
            if (tests[i].error)
                ok(code == tests[i].error, "error %#lx, expected %#lx [inferred]\n", code, tests[i].error);
            else
                ok(FAILED(code), "error %#lx [inferred: a body cut short is transient]\n", code);
            get_progress(job, &progress);
            ok(progress.BytesTransferred < sum, "%llu of %llu bytes, though every answer was bad [inferred]\n",
               progress.BytesTransferred, sum);
        }
        finish_job(job);
        winetest_pop_context();
    }
    remove_subdir(dir);
}

/* Whole files whose size arrives late or never, a redirect chain and an
 * empty resource. */
static void test_whole_file_variants(void)
{
    static const struct
    {
        const char *name;
        const char *query;
        UINT64 size;
    }
    tests[] =
    {
        { "chunked.bin",  "?chunked=1&rate=524288", 512 * KIB + 17 },
        { "nolength.bin", "?nolength=1", 300000 },
        { "redirect.bin", "?redirect=2", 200000 },
        { "empty.bin",    "", 0 },
    };
    IBackgroundCopyJob *jobs[ARRAY_SIZE(tests)] = { NULL };
    WCHAR dir[MAX_PATH], local[ARRAY_SIZE(tests)][MAX_PATH], url[256];
    BG_FILE_PROGRESS file_progress;
    BG_JOB_PROGRESS progress;
    IBackgroundCopyFile *file;
    char path[64];
    unsigned int i;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"variants");
    for (i = 0; i < ARRAY_SIZE(tests); i++)
    {
        WCHAR name[32];

        swprintf(name, ARRAY_SIZE(name), L"%hs", tests[i].name);
        path_in(local[i], ARRAY_SIZE(local[i]), dir, name);
        httpd_add_generated(httpd, tests[i].name, tests[i].size);
        snprintf(path, sizeof(path), "/%s%s", tests[i].name, tests[i].query);
        make_url(url, ARRAY_SIZE(url), httpd, path);
        if (!(jobs[i] = create_job(manager, L"xfer-variant", NULL))) continue;
        hr = add_file(jobs[i], url, local[i], 0, NULL);
        ok(hr == S_OK, "%s: AddFileWithRanges failed: %#lx\n", tests[i].name, hr);
    }
    httpd_reset_log(httpd);
    for (i = 0; i < ARRAY_SIZE(tests); i++)
    {
        if (!jobs[i]) continue;
        hr = IBackgroundCopyJob_Resume(jobs[i]);
        ok(hr == S_OK, "%s: Resume failed: %#lx\n", tests[i].name, hr);
    }

    /* chunked: the size is only known at the end */
    if (jobs[0] && wait_state(jobs[0], BG_JOB_STATE_TRANSFERRING, 10000))
    {
        get_progress(jobs[0], &progress);
        ok(progress.BytesTotal == BG_SIZE_UNKNOWN || progress.BytesTotal == tests[0].size,
           "chunked: BytesTotal %llu while TRANSFERRING [inferred]\n", progress.BytesTotal);
        if ((file = get_file(jobs[0], 0)))
        {
            get_file_progress(file, &file_progress);
            ok(file_progress.BytesTotal == DO_UNKNOWN_FILE_SIZE || file_progress.BytesTotal == tests[0].size,
               "chunked: file BytesTotal %llu while TRANSFERRING [inferred]\n", file_progress.BytesTotal);
            IBackgroundCopyFile_Release(file);
        }
    }

    for (i = 0; i < ARRAY_SIZE(tests); i++)
    {
        if (!jobs[i]) continue;
        winetest_push_context("%s%s", tests[i].name, tests[i].query);
        if (wait_state_inferred(jobs[i], BG_JOB_STATE_TRANSFERRED, 15000))
        {
            get_progress(jobs[i], &progress);
            ok(progress.BytesTotal == tests[i].size && progress.BytesTransferred == tests[i].size,
               "bytes %llu/%llu, expected %llu\n", progress.BytesTransferred, progress.BytesTotal, tests[i].size);
            hr = IBackgroundCopyJob_Complete(jobs[i]);
            ok(hr == S_OK, "Complete failed: %#lx\n", hr);
            check_file(local[i], tests[i].name, tests[i].size, 0, NULL);
        }
        winetest_pop_context();
        finish_job(jobs[i]);
    }
    ok(httpd_request_count(httpd, "/redirect.bin") >= 3, "%u requests for two redirects and the file [inferred]\n",
       httpd_request_count(httpd, "/redirect.bin"));
    check_temp_files(dir, 0, " after Complete");
    remove_subdir(dir);
}

/* Several jobs at once. */
#define PARALLEL_JOBS 8
static void test_parallel_jobs(void)
{
    static const UINT64 size = MIB;
    IBackgroundCopyJob *jobs[PARALLEL_JOBS] = { NULL };
    WCHAR dir[MAX_PATH], local[PARALLEL_JOBS][MAX_PATH], url[256];
    unsigned int i, busy, done, max_busy = 0, seen = 0;
    ULONGLONG start, end;
    BG_JOB_STATE state;
    char name[32], path[64];
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"parallel");
    for (i = 0; i < PARALLEL_JOBS; i++)
    {
        WCHAR wname[32];

        sprintf(name, "par%u.bin", i);
        swprintf(wname, ARRAY_SIZE(wname), L"par%u.bin", i);
        path_in(local[i], ARRAY_SIZE(local[i]), dir, wname);
        httpd_add_generated(httpd, name, size);
        sprintf(path, "/%s?rate=393216", name);
        make_url(url, ARRAY_SIZE(url), httpd, path);
        if (!(jobs[i] = create_job(manager, L"xfer-parallel", NULL))) continue;
        hr = add_file(jobs[i], url, local[i], 0, NULL);
        ok(hr == S_OK, "job %u: AddFileWithRanges failed: %#lx\n", i, hr);
    }
    start = GetTickCount64();
    for (i = 0; i < PARALLEL_JOBS; i++)
    {
        if (!jobs[i]) continue;
        hr = IBackgroundCopyJob_Resume(jobs[i]);
        ok(hr == S_OK, "job %u: Resume failed: %#lx\n", i, hr);
    }
    end = start + 2 * HANG_TIMEOUT_MS;
    do
    {
        busy = done = 0;
        for (i = 0; i < PARALLEL_JOBS; i++)
        {
            if (!jobs[i] || FAILED(IBackgroundCopyJob_GetState(jobs[i], &state)))
            {
                done++;
                continue;
            }
            if ((unsigned int)state < 32) seen |= STATE_BIT(state);
            if (state == BG_JOB_STATE_TRANSFERRING) busy++;
            if (STOP_STATES & STATE_BIT(state)) done++;
        }
        if (busy > max_busy) max_busy = busy;
        if (done == PARALLEL_JOBS) break;
        Sleep(10);
    } while (GetTickCount64() < end);
    ok(!(seen & STATE_BIT(BG_JOB_STATE_CONNECTING)), "CONNECTING was reported [DOC: not supported]\n");
    ok(max_busy >= 2, "at most %u jobs were TRANSFERRING at once [inferred: DO transfers in parallel]\n", max_busy);
    trace("%u jobs of 1 MiB at 384 KiB/s: %llu ms, at most %u TRANSFERRING at once\n", PARALLEL_JOBS,
          GetTickCount64() - start, max_busy);

    for (i = 0; i < PARALLEL_JOBS; i++)
    {
        if (!jobs[i]) continue;
        state = get_state(jobs[i]);
        ok(state == BG_JOB_STATE_TRANSFERRED, "job %u: got %s\n", i, state_name(state));
        if (state == BG_JOB_STATE_TRANSFERRED)
        {
            hr = IBackgroundCopyJob_Complete(jobs[i]);
            ok(hr == S_OK, "job %u: Complete failed: %#lx\n", i, hr);
            sprintf(name, "par%u.bin", i);
            check_file(local[i], name, size, 0, NULL);
        }
        finish_job(jobs[i]);
    }
    remove_subdir(dir);
}

/* A finished run's kept-alive connections may serve the next job of the same
 * owner (docs/gaps.md), but never after a run that sent credentials: a
 * connection or session such a run used must not carry over to another job.
 * Jobs 0, 1 and 3 are plain, job 2 has credentials. */
static void test_connection_reuse(void)
{
    static const UINT64 size = 4 * 1024;
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    unsigned int i, count[4] = { 0 };
    BG_AUTH_CREDENTIALS creds;
    IBackgroundCopyJob2 *job2;
    IBackgroundCopyJob *job;
    struct httpd *server;
    BOOL done = TRUE;
    HRESULT hr;

    if (!(server = httpd_start()))
    {
        ok(0, "cannot start a second loopback server\n");
        return;
    }
    make_subdir(dir, ARRAY_SIZE(dir), L"reuse");
    httpd_add_generated(server, "reuse.bin", size);
    make_url(url, ARRAY_SIZE(url), server, "/reuse.bin");
    path_in(local, ARRAY_SIZE(local), dir, L"reuse.bin");
    for (i = 0; i < ARRAY_SIZE(count) && done; i++)
    {
        done = FALSE;
        if (!(job = create_job(manager, L"xfer-reuse", NULL))) break;
        hr = add_file(job, url, local, 0, NULL);
        ok(hr == S_OK, "job %u: AddFileWithRanges failed: %#lx\n", i, hr);
        if (i == 2)
        {
            hr = IBackgroundCopyJob_QueryInterface(job, &IID_IBackgroundCopyJob2, (void **)&job2);
            ok(hr == S_OK, "QueryInterface(IBackgroundCopyJob2) failed: %#lx\n", hr);
            if (SUCCEEDED(hr))
            {
                memset(&creds, 0, sizeof(creds));
                creds.Target = BG_AUTH_TARGET_SERVER;
                creds.Scheme = BG_AUTH_SCHEME_BASIC;
                creds.Credentials.Basic.UserName = (WCHAR *)L"user";
                creds.Credentials.Basic.Password = (WCHAR *)L"secret";
                hr = IBackgroundCopyJob2_SetCredentials(job2, &creds);
                ok(hr == S_OK, "SetCredentials failed: %#lx\n", hr);
                IBackgroundCopyJob2_Release(job2);
            }
        }
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "job %u: Resume failed: %#lx\n", i, hr);
        if (wait_state(job, BG_JOB_STATE_TRANSFERRED, HANG_TIMEOUT_MS))
        {
            hr = IBackgroundCopyJob_Complete(job);
            ok(hr == S_OK, "job %u: Complete failed: %#lx\n", i, hr);
            check_file(local, "reuse.bin", size, 0, NULL);
            done = TRUE;
        }
        finish_job(job);
        DeleteFileW(local);
        count[i] = httpd_connection_count(server);
    }
    if (done)
    {
        ok(count[0] >= 1, "the first job made no connection\n");
        ok(count[3] > count[2], "[inferred] the job after one with credentials used that job's connection "
           "(connections after each job: %u %u %u %u)\n", count[0], count[1], count[2], count[3]);
        /* a saving, not a rule: on a machine slow enough the kept one may have expired */
        trace("connections after each job: %u %u %u %u (the second job %s the first one's)\n", count[0],
              count[1], count[2], count[3], count[1] == count[0] ? "reused" : "did not reuse");
    }
    httpd_stop(server);
    remove_subdir(dir);
}

/* Fatal HTTP answers, an unreachable server, and URLs refused up front. */
static void test_fatal_errors(void)
{
    static const WCHAR *bad_urls[] =
    {
        L"http//127.0.0.1/missing-colon",
        L"ftp://127.0.0.1/file.bin",
        L"file:///c:/windows/win.ini",
        L"http://",
        L"not a url",
        L"",
    };
    WCHAR dir[MAX_PATH], local[MAX_PATH], url404[256], url403[256], url_closed[256];
    IBackgroundCopyJob *job404, *job403, *job_closed, *job;
    IBackgroundCopyError *error;
    IBackgroundCopyFile *file;
    BG_ERROR_CONTEXT context;
    BG_JOB_PROGRESS progress;
    WCHAR *text;
    HRESULT hr, code;
    ULONG errors;
    unsigned int i;

    make_subdir(dir, ARRAY_SIZE(dir), L"fatal");
    make_url(url404, ARRAY_SIZE(url404), httpd, "/missing.bin?status=404");
    make_url(url403, ARRAY_SIZE(url403), httpd, "/forbidden.bin?status=403");
    swprintf(url_closed, ARRAY_SIZE(url_closed), L"http://127.0.0.1:%u/closed.bin", closed_port());

    job404 = create_job(manager, L"xfer-404", NULL);
    job403 = create_job(manager, L"xfer-403", NULL);
    job_closed = create_job(manager, L"xfer-refused", NULL);
    if (!job404 || !job403 || !job_closed)
    {
        finish_job(job404);
        finish_job(job403);
        finish_job(job_closed);
        remove_subdir(dir);
        return;
    }
    path_in(local, ARRAY_SIZE(local), dir, L"404.bin");
    hr = add_file(job404, url404, local, 0, NULL);
    ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
    path_in(local, ARRAY_SIZE(local), dir, L"403.bin");
    hr = add_file(job403, url403, local, 0, NULL);
    ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
    path_in(local, ARRAY_SIZE(local), dir, L"refused.bin");
    hr = IBackgroundCopyJob_SetMinimumRetryDelay(job_closed, 60);
    ok(hr == S_OK, "SetMinimumRetryDelay failed: %#lx\n", hr);
    hr = add_file(job_closed, url_closed, local, 0, NULL);
    ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);

    errors = 0xdead;
    hr = IBackgroundCopyJob_GetErrorCount(job404, &errors);
    ok(hr == S_OK && errors == 0, "GetErrorCount before Resume: %#lx, %lu [inferred]\n", hr, errors);
    hr = IBackgroundCopyJob_Resume(job404);
    ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(job403);
    ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(job_closed);
    ok(hr == S_OK, "Resume failed: %#lx\n", hr);

    /* 404 */
    if (wait_state_inferred(job404, BG_JOB_STATE_ERROR, 10000))
    {
        hr = IBackgroundCopyJob_GetError(job404, &error);
        ok(hr == S_OK, "GetError in ERROR failed: %#lx\n", hr);
        if (hr == S_OK)
        {
            context = (BG_ERROR_CONTEXT)-1;
            code = S_OK;
            hr = IBackgroundCopyError_GetError(error, &context, &code);
            ok(hr == S_OK, "IBackgroundCopyError::GetError failed: %#lx\n", hr);
            ok(context == BG_ERROR_CONTEXT_NONE, "404: context %d, expected NONE\n", context);
            ok(code == HTTP_STATUS_HRESULT(404), "404: code %#lx, expected %#lx\n", code, HTTP_STATUS_HRESULT(404));

            file = NULL;
            hr = IBackgroundCopyError_GetFile(error, &file);
            ok(hr == S_OK && file, "GetFile: %#lx, %p\n", hr, file);
            if (file)
            {
                text = NULL;
                hr = IBackgroundCopyFile_GetRemoteName(file, &text);
                ok(hr == S_OK && text && !wcscmp(text, url404), "the error's file: %#lx, %ls\n", hr,
                   text ? text : L"(null)");
                CoTaskMemFree(text);
                IBackgroundCopyFile_Release(file);
            }

            /* Wine 8's qmgrprxy fails these three [out,ref] LPWSTR calls in the
             * client-side proxy (RPC_X_NULL_REF_POINTER) before they are sent;
             * DoSvc's client-side object sends them another way
             * (docs/client-object.md). */
            text = NULL;
            hr = IBackgroundCopyError_GetErrorDescription(error, GetUserDefaultUILanguage(), &text);
            ok(hr == S_OK && text && *text, "GetErrorDescription: %#lx, %ls [inferred]\n", hr,
                         text ? text : L"(null)");
            if (text) trace("404 description: %ls\n", text);
            CoTaskMemFree(text);
            text = NULL;
            hr = IBackgroundCopyError_GetErrorContextDescription(error, GetUserDefaultUILanguage(), &text);
            ok(hr == S_OK && text, "GetErrorContextDescription: %#lx [inferred]\n", hr);
            CoTaskMemFree(text);
            text = NULL;
            hr = IBackgroundCopyError_GetProtocol(error, &text);
            ok(hr == S_OK && text && !wcsicmp(text, L"http"), "GetProtocol: %#lx, %ls [inferred]\n", hr,
                         text ? text : L"(null)");
            CoTaskMemFree(text);
            IBackgroundCopyError_Release(error);
        }
        errors = 0;
        hr = IBackgroundCopyJob_GetErrorCount(job404, &errors);
        ok(hr == S_OK && errors >= 1, "GetErrorCount after a 404: %#lx, %lu [inferred]\n", hr, errors);
        get_progress(job404, &progress);
        ok(progress.BytesTransferred == 0, "404: BytesTransferred %llu\n", progress.BytesTransferred);
    }

    /* 403 is the one error DO tags with the remote file */
    if (wait_state_inferred(job403, BG_JOB_STATE_ERROR, 10000))
    {
        hr = get_job_error(job403, &context, &code);
        ok(hr == S_OK, "GetError failed: %#lx\n", hr);
        ok(context == BG_ERROR_CONTEXT_REMOTE_FILE, "403: context %d, expected REMOTE_FILE\n", context);
        ok(code == HTTP_STATUS_HRESULT(403), "403: code %#lx [inferred]\n", code);
    }

    /* connection refused is worth retrying */
    if (wait_state_inferred(job_closed, BG_JOB_STATE_TRANSIENT_ERROR, 10000))
    {
        hr = get_job_error(job_closed, &context, &code);
        ok(hr == S_OK, "GetError in TRANSIENT_ERROR failed: %#lx\n", hr);
        ok(FAILED(code), "refused: code %#lx\n", code);
        trace("connection refused: context %d, code %#lx\n", context, code);
    }
    finish_job(job404);
    finish_job(job403);
    finish_job(job_closed);

    /* URLs that cannot be fetched over HTTP are refused when added */
    if ((job = create_job(manager, L"xfer-badurl", NULL)))
    {
        path_in(local, ARRAY_SIZE(local), dir, L"bad.bin");
        for (i = 0; i < ARRAY_SIZE(bad_urls); i++)
        {
            hr = add_file(job, bad_urls[i], local, 0, NULL);
            ok(hr == E_INVALIDARG, "AddFileWithRanges(%ls): %#lx [inferred]\n", bad_urls[i], hr);
        }
        finish_job(job);
    }
    remove_subdir(dir);
}

/* Errors that are retried by themselves, the no-progress timeout, and a
 * Resume out of ERROR. */
static void test_transient_errors(void)
{
    static const UINT64 size = 256 * KIB;
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    IBackgroundCopyJob *job, *stall_jobs[2];
    IBackgroundCopyError *stall_error;
    IBackgroundCopyFile *stall_file;
    BG_JOB_STATE stall_state[2] = { BG_JOB_STATE_CANCELLED, BG_JOB_STATE_CANCELLED };
    ULONGLONG stall_end[2];
    unsigned int i, stall_seen[2];
    BG_ERROR_CONTEXT context;
    ULONGLONG start, elapsed;
    unsigned int seen;
    BG_JOB_STATE state;
    char range[128];
    HRESULT hr, code;
    ULONG errors;

    make_subdir(dir, ARRAY_SIZE(dir), L"transient");

    /* two 503s, then the file: retried without any call from us */
    path_in(local, ARRAY_SIZE(local), dir, L"flaky.bin");
    httpd_add_generated(httpd, "flaky.bin", size);
    make_url(url, ARRAY_SIZE(url), httpd, "/flaky.bin?fail_first=2&status=503");
    if ((job = create_job(manager, L"xfer-flaky", NULL)))
    {
        IBackgroundCopyJob_SetMinimumRetryDelay(job, 1);
        hr = add_file(job, url, local, 0, NULL);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
        if (wait_state_inferred(job, BG_JOB_STATE_TRANSIENT_ERROR, 10000))
        {
            hr = get_job_error(job, &context, &code);
            ok(hr == S_OK, "GetError in TRANSIENT_ERROR failed: %#lx\n", hr);
            ok(code == HTTP_STATUS_HRESULT(503), "503: code %#lx [inferred]\n", code);
            ok(context == BG_ERROR_CONTEXT_NONE, "503: context %d\n", context);
            errors = 0;
            hr = IBackgroundCopyJob_GetErrorCount(job, &errors);
            ok(hr == S_OK && errors >= 1, "GetErrorCount: %#lx, %lu [inferred]\n", hr, errors);
        }
        if (wait_state(job, BG_JOB_STATE_TRANSFERRED, 15000))
        {
            ok(httpd_request_count(httpd, "/flaky.bin") >= 3, "%u requests for two failures and the file\n",
               httpd_request_count(httpd, "/flaky.bin"));
            hr = IBackgroundCopyJob_Complete(job);
            ok(hr == S_OK, "Complete failed: %#lx\n", hr);
            check_file(local, "flaky.bin", size, 0, NULL);
        }
        finish_job(job);
    }

    /* Retry-After longer than the minimum retry delay wins */
    path_in(local, ARRAY_SIZE(local), dir, L"later.bin");
    httpd_add_generated(httpd, "later.bin", size);
    make_url(url, ARRAY_SIZE(url), httpd, "/later.bin?fail_first=1&status=503&retry_after=3");
    if ((job = create_job(manager, L"xfer-retry-after", NULL)))
    {
        IBackgroundCopyJob_SetMinimumRetryDelay(job, 1);
        hr = add_file(job, url, local, 0, NULL);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
        /* counted from before the first request: a lower bound that a slow
         * machine can only make easier to meet */
        start = GetTickCount64();
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
        if (wait_state_inferred(job, BG_JOB_STATE_TRANSIENT_ERROR, 10000))
        {
            state = poll_job(job, ALL_STATES & ~STATE_BIT(BG_JOB_STATE_TRANSIENT_ERROR), 15000, NULL);
            elapsed = GetTickCount64() - start;
            ok(state != BG_JOB_STATE_TRANSIENT_ERROR, "still TRANSIENT_ERROR after %llu ms\n", elapsed);
            ok(elapsed >= 2500, "retried %llu ms after Resume despite Retry-After: 3 [inferred]\n", elapsed);
            trace("Retry-After 3 s, minimum retry delay 1 s: retried %llu ms after Resume\n", elapsed);
        }
        if (wait_state(job, BG_JOB_STATE_TRANSFERRED, 10000))
        {
            hr = IBackgroundCopyJob_Complete(job);
            ok(hr == S_OK, "Complete failed: %#lx\n", hr);
            check_file(local, "later.bin", size, 0, NULL);
        }
        finish_job(job);
    }

    /* connection reset in the middle of every body: each retry continues */
    path_in(local, ARRAY_SIZE(local), dir, L"reset.bin");
    httpd_add_generated(httpd, "reset.bin", MIB);
    make_url(url, ARRAY_SIZE(url), httpd, "/reset.bin?reset_after=300000");
    if ((job = create_job(manager, L"xfer-reset", NULL)))
    {
        IBackgroundCopyJob_SetMinimumRetryDelay(job, 1);
        hr = add_file(job, url, local, 0, NULL);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
        seen = 0;
        if (wait_state_(__LINE__, job, BG_JOB_STATE_TRANSFERRED, 25000, &seen, " [inferred: retried]"))
        {
            ok(seen & STATE_BIT(BG_JOB_STATE_TRANSIENT_ERROR),
               "no TRANSIENT_ERROR after a reset (states seen %#x) [inferred]\n", seen);
            range[0] = 0;
            ok(httpd_last_request_header(httpd, "/reset.bin", "Range", range, sizeof(range)),
               "the retry had no Range header [inferred: a retry continues]\n");
            trace("reset: %u requests, the last with Range: %s\n", httpd_request_count(httpd, "/reset.bin"), range);
            hr = IBackgroundCopyJob_Complete(job);
            ok(hr == S_OK, "Complete failed: %#lx\n", hr);
            check_file(local, "reset.bin", MIB, 0, NULL);
        }
        finish_job(job);
    }

    /* Bodies that never start, with a 3 s no-progress timeout: one stalls
     * from the first request, the other answers 503 first (TRANSIENT_ERROR)
     * and stalls on the retry.  Both end in ERROR; the two are polled
     * together so the short TRANSIENT_ERROR of the second is not missed. */
    httpd_add_generated(httpd, "stall.bin", MIB);
    for (i = 0; i < 2; i++)
    {
        static const char *paths[] =
        {
            "/stall.bin?stall_after=0",
            "/stall.bin?fail_first=1&status=503&stall_after=0",
        };
        WCHAR name[32];

        stall_jobs[i] = NULL;
        stall_seen[i] = 0;
        stall_end[i] = 0;
        swprintf(name, ARRAY_SIZE(name), L"stall%u.bin", i);
        path_in(local, ARRAY_SIZE(local), dir, name);
        make_url(url, ARRAY_SIZE(url), httpd, paths[i]);
        if (!(stall_jobs[i] = create_job(manager, L"xfer-stall", NULL))) continue;
        IBackgroundCopyJob_SetMinimumRetryDelay(stall_jobs[i], 1);
        hr = IBackgroundCopyJob_SetNoProgressTimeout(stall_jobs[i], 3);
        ok(hr == S_OK, "SetNoProgressTimeout failed: %#lx\n", hr);
        hr = add_file(stall_jobs[i], url, local, 0, NULL);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
    }
    start = GetTickCount64();
    for (i = 0; i < 2; i++)
    {
        if (!stall_jobs[i]) continue;
        hr = IBackgroundCopyJob_Resume(stall_jobs[i]);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    }
    do
    {
        unsigned int running = 0;

        for (i = 0; i < 2; i++)
        {
            if (!stall_jobs[i] || stall_end[i]) continue;
            if (FAILED(IBackgroundCopyJob_GetState(stall_jobs[i], &stall_state[i])))
                stall_state[i] = BG_JOB_STATE_CANCELLED;
            stall_seen[i] |= STATE_BIT(stall_state[i]);
            if (STOP_STATES & STATE_BIT(stall_state[i])) stall_end[i] = GetTickCount64();
            else running++;
        }
        if (!running) break;
        Sleep(10);
    } while (GetTickCount64() - start < HANG_TIMEOUT_MS);
    for (i = 0; i < 2; i++)
    {
        if (!stall_jobs[i]) continue;
        winetest_push_context(i ? "503, then stalled" : "stalled");
        elapsed = (stall_end[i] ? stall_end[i] : GetTickCount64()) - start;
        ok(!(stall_seen[i] & STATE_BIT(BG_JOB_STATE_CONNECTING)), "CONNECTING was reported [DOC: not supported]\n");
        ok(stall_state[i] == BG_JOB_STATE_ERROR, "got %s after %llu ms\n", state_name(stall_state[i]), elapsed);
        ok(elapsed >= 2500, "ERROR after %llu ms, before the 3 s no-progress timeout [inferred]\n", elapsed);
        if (i)
            ok(stall_seen[i] & STATE_BIT(BG_JOB_STATE_TRANSIENT_ERROR),
               "no TRANSIENT_ERROR before ERROR (states seen %#x) [inferred]\n", stall_seen[i]);
        if (stall_state[i] == BG_JOB_STATE_ERROR)
        {
            hr = get_job_error(stall_jobs[i], &context, &code);
            ok(hr == S_OK, "GetError failed: %#lx\n", hr);
            ok(code == DO_E_DOWNLOAD_NO_PROGRESS, "no progress: code %#lx [inferred]\n", code);
            /* the verdict concerns the job, not a file [inferred]; the code is documented */
            if (SUCCEEDED(IBackgroundCopyJob_GetError(stall_jobs[i], &stall_error)))
            {
                stall_file = (IBackgroundCopyFile *)0xdeadbeef;
                hr = IBackgroundCopyError_GetFile(stall_error, &stall_file);
                ok(hr == DO_E_FILE_NOT_AVAILABLE, "GetFile: %#lx, expected DO_E_FILE_NOT_AVAILABLE\n", hr);
                ok(!stall_file, "GetFile returned %p\n", stall_file);
                if (SUCCEEDED(hr) && stall_file) IBackgroundCopyFile_Release(stall_file);
                IBackgroundCopyError_Release(stall_error);
            }
        }
        trace("%s after %llu ms, states seen %#x\n", state_name(stall_state[i]), elapsed, stall_seen[i]);
        winetest_pop_context();
        finish_job(stall_jobs[i]);
    }

    /* Resume from ERROR once the server behaves again */
    path_in(local, ARRAY_SIZE(local), dir, L"again.bin");
    httpd_add_generated(httpd, "again.bin", MIB);
    make_url(url, ARRAY_SIZE(url), httpd, "/again.bin?fail_first=1&status=404&rate=524288");
    if ((job = create_job(manager, L"xfer-again", NULL)))
    {
        IBackgroundCopyJob_SetMinimumRetryDelay(job, 1);
        hr = add_file(job, url, local, 0, NULL);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
        if (wait_state_inferred(job, BG_JOB_STATE_ERROR, 10000))
        {
            hr = get_job_error(job, NULL, &code);
            ok(hr == S_OK && code == HTTP_STATUS_HRESULT(404), "GetError: %#lx, code %#lx\n", hr, code);
            hr = IBackgroundCopyJob_Resume(job);
            ok(hr == S_OK, "Resume from ERROR failed: %#lx\n", hr);
            state = get_state(job);
            ok(state == BG_JOB_STATE_QUEUED || state == BG_JOB_STATE_TRANSFERRING,
               "Resume from ERROR: got %s\n", state_name(state));
            if (wait_state(job, BG_JOB_STATE_TRANSFERRING, 10000))
            {
                hr = get_job_error(job, NULL, NULL);
                ok(hr == DO_E_ERROR_INFORMATION_UNAVAILABLE, "GetError once TRANSFERRING again: %#lx\n", hr);
            }
            if (wait_state(job, BG_JOB_STATE_TRANSFERRED, 15000))
            {
                hr = IBackgroundCopyJob_Complete(job);
                ok(hr == S_OK, "Complete failed: %#lx\n", hr);
                check_file(local, "again.bin", MIB, 0, NULL);
            }
        }
        finish_job(job);
    }
    check_temp_files(dir, 0, " after every job ended");
    remove_subdir(dir);
}

/* Custom request headers and an explicit proxy. */
static void test_http_options(void)
{
    static const WCHAR headers[] = L"X-Test: 42\r\n";
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256], proxy[64];
    IBackgroundCopyJobHttpOptions *options;
    struct httpd *proxy_server;
    BG_JOB_PROXY_USAGE usage;
    WCHAR *list, *bypass, *text;
    IBackgroundCopyJob *job;
    BG_JOB_STATE state;
    HRESULT hr, code;
    char value[64];

    make_subdir(dir, ARRAY_SIZE(dir), L"http");

    path_in(local, ARRAY_SIZE(local), dir, L"headers.bin");
    httpd_add_generated(httpd, "headers.bin", 1000);
    make_url(url, ARRAY_SIZE(url), httpd, "/headers.bin");
    if ((job = create_job(manager, L"xfer-headers", NULL)))
    {
        hr = IBackgroundCopyJob_QueryInterface(job, &IID_IBackgroundCopyJobHttpOptions, (void **)&options);
        ok(hr == S_OK, "QueryInterface(IBackgroundCopyJobHttpOptions) failed: %#lx [inferred]\n", hr);
        if (hr == S_OK)
        {
            hr = IBackgroundCopyJobHttpOptions_SetCustomHeaders(options, headers);
            ok(hr == S_OK, "SetCustomHeaders failed: %#lx [inferred]\n", hr);
            text = NULL;
            hr = IBackgroundCopyJobHttpOptions_GetCustomHeaders(options, &text);
            ok(hr == S_OK && text && !wcscmp(text, headers), "GetCustomHeaders: %#lx, %ls [inferred]\n", hr,
               text ? text : L"(null)");
            CoTaskMemFree(text);
            IBackgroundCopyJobHttpOptions_Release(options);
        }
        hr = add_file(job, url, local, 0, NULL);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
        if (wait_state(job, BG_JOB_STATE_TRANSFERRED, 10000))
        {
            value[0] = 0;
            ok(httpd_last_request_header(httpd, "/headers.bin", "X-Test", value, sizeof(value)) &&
               !strcmp(value, "42"), "the server saw X-Test: \"%s\" [inferred]\n", value);
        }
        finish_job(job);
    }

    /* A second loopback server as proxy for a host that does not exist: it
     * serves a proxy request (absolute URI) from its path and logs the whole
     * URI, so the download only succeeds through the proxy; without it, the
     * name lookup would fail instead.  A server of its own, because the
     * service may reuse a kept-alive connection to the main one. */
    path_in(local, ARRAY_SIZE(local), dir, L"proxied.bin");
    if (!(proxy_server = httpd_start()))
    {
        ok(0, "cannot start a second loopback server\n");
        remove_subdir(dir);
        return;
    }
    httpd_add_generated(proxy_server, "proxied.bin", 64 * 1024);
    swprintf(proxy, ARRAY_SIZE(proxy), L"127.0.0.1:%u", httpd_port(proxy_server));
    if ((job = create_job(manager, L"xfer-proxy", NULL)))
    {
        IBackgroundCopyJob_SetMinimumRetryDelay(job, 60);
        hr = IBackgroundCopyJob_SetProxySettings(job, BG_JOB_PROXY_USAGE_OVERRIDE, proxy, NULL);
        ok(hr == S_OK, "SetProxySettings failed: %#lx [inferred]\n", hr);
        list = bypass = NULL;
        usage = (BG_JOB_PROXY_USAGE)-1;
        hr = IBackgroundCopyJob_GetProxySettings(job, &usage, &list, &bypass);
        ok(hr == S_OK && usage == BG_JOB_PROXY_USAGE_OVERRIDE && list && !wcscmp(list, proxy),
           "GetProxySettings: %#lx, usage %d, list %ls [inferred]\n", hr, usage, list ? list : L"(null)");
        ok(!bypass || !*bypass, "bypass list %ls [inferred]\n", bypass ? bypass : L"(null)");
        CoTaskMemFree(list);
        CoTaskMemFree(bypass);
        hr = add_file(job, L"http://dosvc-proxy-test.invalid/proxied.bin", local, 0, NULL);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
        state = poll_job(job, STOP_STATES | STATE_BIT(BG_JOB_STATE_TRANSIENT_ERROR), 10000, NULL);
        code = S_OK;
        get_job_error(job, NULL, &code);
        ok(httpd_request_count(proxy_server, "http://dosvc-proxy-test.invalid") >= 1,
           "the proxy saw no request for the absolute URL; job %s, error %#lx\n", state_name(state), code);
        ok(state == BG_JOB_STATE_TRANSFERRED, "through the proxy: %s, error %#lx\n", state_name(state), code);
        if (state == BG_JOB_STATE_TRANSFERRED)
        {
            hr = IBackgroundCopyJob_Complete(job);
            ok(hr == S_OK, "Complete failed: %#lx\n", hr);
            check_file(local, "proxied.bin", 64 * 1024, 0, NULL);
        }
        finish_job(job);
    }
    httpd_stop(proxy_server);
    remove_subdir(dir);
}

START_TEST(transfer)
{
    HRESULT hr;

    hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);
    ok(hr == S_OK || hr == S_FALSE, "CoInitializeEx failed: %#lx\n", hr);
    if (!(manager = create_manager()))
    {
        CoUninitialize();
        return;
    }
    if (!(httpd = httpd_start()))
    {
        ok(0, "cannot start the loopback HTTP server\n");
        IBackgroundCopyManager_Release(manager);
        CoUninitialize();
        return;
    }

    test_states_and_progress();
    test_suspend_resume();
    test_suspend_other_states();
    test_cancel_and_partial_complete();
    test_ranges();
    test_multi_ranges();
    test_whole_file_variants();
    test_parallel_jobs();
    test_connection_reuse();
    test_fatal_errors();
    test_transient_errors();
    test_http_options();

    httpd_stop(httpd);
    IBackgroundCopyManager_Release(manager);
    remove_test_dir();
    CoUninitialize();
}
