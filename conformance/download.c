/*
 * Downloads through IDOManager / IDODownload: the state machine, ranges,
 * file and stream sinks, HTTP details, errors and retries, enumeration and
 * the status callback
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
 * each URL picks the server's behaviour.  Expected values come from
 * Microsoft's documentation or from the behaviour Microsoft's own clients
 * observed ("[MS-CODE]") where there is one, and otherwise from the
 * project's decisions for the IDOManager generation: the message of every
 * such check says "[inferred]".  Each sub-test keeps its files in its own
 * directory so that counting DO*.tmp temp files only sees its own downloads.
 *
 * The test is a multithreaded-apartment client: the service's calls to the
 * callback and stream objects arrive on RPC threads of this process.  The
 * calls that could deadlock in a broken service (a blocking Start, calls
 * made from inside OnStatusChange, calls on a dead client's download) run
 * on a thread of their own and are waited for with a timeout, so a deadlock
 * becomes a failure instead of a hung test.
 *
 * "download child <port> <dir>" on the command line runs the child half of
 * the dead-client test: it starts a download with a callback and exits
 * without cleaning up.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "dotest.h"

#define KIB 1024

#define HR_NULL_REF HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER)

/* bytes needed for a DO_DOWNLOAD_RANGES_INFO with n ranges */
#define RANGES_SIZE(n) (FIELD_OFFSET(DO_DOWNLOAD_RANGES_INFO, Ranges) + (n) * sizeof(DO_DOWNLOAD_RANGE))

static IDOManager *manager;
static struct httpd *httpd;
static LONG stuck_calls;    /* calls that never returned: skip the final clean-up */

/* ------------------------------------------------------------------ helpers */

static const char *debugstr_variant(const VARIANT *v)
{
    static char buffers[8][160];
    static LONG next;
    char *buf = buffers[InterlockedIncrement(&next) & 7];

    switch (V_VT(v))
    {
    case VT_EMPTY:
        strcpy(buf, "VT_EMPTY");
        break;
    case VT_BSTR:
        if (V_BSTR(v)) snprintf(buf, sizeof(buffers[0]), "VT_BSTR %.120ls", V_BSTR(v));
        else strcpy(buf, "VT_BSTR (null)");
        break;
    case VT_UI4:
        sprintf(buf, "VT_UI4 %lu", V_UI4(v));
        break;
    case VT_BOOL:
        sprintf(buf, "VT_BOOL %d", V_BOOL(v));
        break;
    default:
        sprintf(buf, "vt %#x", V_VT(v));
        break;
    }
    return buf;
}

/* The state without a check, for polling loops. */
static DODownloadState peek_state(IDODownload *download)
{
    DO_DOWNLOAD_STATUS status;

    memset(&status, 0, sizeof(status));
    if (FAILED(IDODownload_GetStatus(download, &status))) return (DODownloadState)-1;
    return status.State;
}

/* Polls GetStatus every 10 ms until the state is want or the timeout passed;
 * gives up early in a state the download does not leave by itself (a
 * Paused download with Error set has failed; with Error S_OK it may be
 * retrying). */
#define wait_state(download, want, timeout) wait_state_(__LINE__, download, want, timeout, "")
#define wait_state_inferred(download, want, timeout) \
    wait_state_(__LINE__, download, want, timeout, " [inferred]")
static BOOL wait_state_(unsigned int line, IDODownload *download, DODownloadState want,
                        DWORD timeout_ms, const char *note)
{
    ULONGLONG start = GetTickCount64();
    DO_DOWNLOAD_STATUS status;
    HRESULT hr;

    timeout_ms = hang_bound(timeout_ms);

    for (;;)
    {
        memset(&status, 0, sizeof(status));
        hr = IDODownload_GetStatus(download, &status);
        if (FAILED(hr))
        {
            ok_(__FILE__, line)(0, "GetStatus failed: %#lx\n", hr);
            return FALSE;
        }
        if (status.State == want) break;
        if (status.State == DODownloadState_Transferred || status.State == DODownloadState_Finalized ||
            status.State == DODownloadState_Aborted ||
            (status.State == DODownloadState_Paused && FAILED(status.Error)))
            break;
        if (GetTickCount64() - start >= timeout_ms) break;
        Sleep(10);
    }
    ok_(__FILE__, line)(status.State == want,
                        "waited %llu ms for %s, got %s (error %#lx, extended error %#lx)%s\n",
                        GetTickCount64() - start, dl_state_name(want), dl_state_name(status.State),
                        status.Error, status.ExtendedError, note);
    return status.State == want;
}

/* Waits until at least min_bytes arrived; returns the count. */
#define wait_bytes(download, min_bytes, timeout) wait_bytes_(__LINE__, download, min_bytes, timeout)
static UINT64 wait_bytes_(unsigned int line, IDODownload *download, UINT64 min_bytes, DWORD timeout_ms)
{
    ULONGLONG end = GetTickCount64() + (timeout_ms = hang_bound(timeout_ms));
    DO_DOWNLOAD_STATUS status;

    for (;;)
    {
        memset(&status, 0, sizeof(status));
        IDODownload_GetStatus(download, &status);
        if (status.BytesTransferred >= min_bytes || GetTickCount64() >= end) break;
        Sleep(10);
    }
    ok_(__FILE__, line)(status.BytesTransferred >= min_bytes, "only %llu of %llu bytes after %lu ms, state %s\n",
                        status.BytesTransferred, min_bytes, timeout_ms, dl_state_name(status.State));
    return status.BytesTransferred;
}

/* The VARIANT holds no reference of its own: nothing to clear. */
static HRESULT set_unknown(IDODownload *download, DODownloadProperty id, IUnknown *value)
{
    VARIANT v;

    V_VT(&v) = VT_UNKNOWN;
    V_UNKNOWN(&v) = value;
    return IDODownload_SetProperty(download, id, &v);
}

/* GetProperty of a VT_BSTR property into buf (empty unless S_OK). */
static HRESULT get_bstr(IDODownload *download, DODownloadProperty id, WCHAR *buf, size_t count)
{
    VARIANT v;
    HRESULT hr;

    buf[0] = 0;
    VariantInit(&v);
    hr = IDODownload_GetProperty(download, id, &v);
    if (hr == S_OK && V_VT(&v) == VT_BSTR && V_BSTR(&v)) lstrcpynW(buf, V_BSTR(&v), count);
    else if (hr == S_OK) hr = DISP_E_TYPEMISMATCH;
    VariantClear(&v);
    return hr;
}

static HRESULT get_ui4(IDODownload *download, DODownloadProperty id, ULONG *value)
{
    VARIANT v;
    HRESULT hr;

    *value = 0xdeadbeef;
    VariantInit(&v);
    hr = IDODownload_GetProperty(download, id, &v);
    if (hr == S_OK && V_VT(&v) == VT_UI4) *value = V_UI4(&v);
    else if (hr == S_OK) hr = DISP_E_TYPEMISMATCH;
    VariantClear(&v);
    return hr;
}

static void get_id(IDODownload *download, WCHAR *buf, size_t count)
{
    HRESULT hr;

    hr = get_bstr(download, DODownloadProperty_Id, buf, count);
    ok(hr == S_OK, "GetProperty(Id): %#lx\n", hr);
}

/* A download of "/<path>" from the loopback server (local NULL: no
 * LocalPath), not started.  Cost policy "always", as a client on a metered
 * test machine would set it. */
static IDODownload *new_download(const char *path, const WCHAR *local)
{
    IDODownload *download;
    WCHAR url[512];
    HRESULT hr;

    if (!(download = create_download(manager))) return NULL;
    make_url(url, ARRAY_SIZE(url), httpd, path);
    hr = set_bstr(download, DODownloadProperty_Uri, url);
    ok(hr == S_OK, "SetProperty(Uri) failed: %#lx\n", hr);
    hr = set_ui4(download, DODownloadProperty_CostPolicy, DODownloadCostPolicy_Always);
    ok(hr == S_OK, "SetProperty(CostPolicy) failed: %#lx\n", hr);
    if (local)
    {
        hr = set_bstr(download, DODownloadProperty_LocalPath, local);
        ok(hr == S_OK, "SetProperty(LocalPath) failed: %#lx\n", hr);
    }
    return download;
}

static HRESULT start_whole(IDODownload *download)
{
    DO_DOWNLOAD_RANGES_INFO info;

    memset(&info, 0, sizeof(info));
    return IDODownload_Start(download, &info);
}

/* count (offset, length) pairs; the proxy reads RANGES_SIZE(count) bytes,
 * the buffer is never smaller than the C type (which declares one range). */
static DO_DOWNLOAD_RANGES_INFO *alloc_ranges(UINT count, const UINT64 *pairs)
{
    DO_DOWNLOAD_RANGES_INFO *info = malloc(max(RANGES_SIZE(count), sizeof(*info)));
    UINT i;

    info->RangeCount = count;
    for (i = 0; i < count; i++)
    {
        info->Ranges[i].Offset = pairs[2 * i];
        info->Ranges[i].Length = pairs[2 * i + 1];
    }
    return info;
}

static UINT64 ranges_total(const DO_DOWNLOAD_RANGES_INFO *info, UINT64 full_size)
{
    UINT64 total = 0;
    UINT i;

    if (!info || !info->RangeCount) return full_size;
    for (i = 0; i < info->RangeCount; i++)
        total += info->Ranges[i].Length == DO_LENGTH_TO_EOF ? full_size - info->Ranges[i].Offset
                                                             : info->Ranges[i].Length;
    return total;
}

#define check_file(path, name, size, ranges) check_file_(__LINE__, path, name, size, ranges)
static void check_file_(unsigned int line, const WCHAR *path, const char *name, UINT64 size,
                        const DO_DOWNLOAD_RANGES_INFO *ranges)
{
    BG_FILE_RANGE *bg = NULL;
    UINT64 bad = 0;
    DWORD count = ranges ? ranges->RangeCount : 0, i;
    BOOL match;

    if (count)
    {
        bg = malloc(count * sizeof(*bg));
        for (i = 0; i < count; i++)
        {
            bg[i].InitialOffset = ranges->Ranges[i].Offset;
            bg[i].Length = ranges->Ranges[i].Length;
        }
    }
    match = file_matches_pattern(path, name, size, count, bg, &bad);
    ok_(__FILE__, line)(match, "%s: %s (first bad byte at %llu)\n", name,
                        file_exists(path) ? "content differs" : "local file missing", bad);
    free(bg);
}

static void make_subdir(WCHAR *dir, size_t count, const WCHAR *name)
{
    make_test_path(dir, count, name);
    CreateDirectoryW(dir, NULL);
}

static void path_in(WCHAR *buf, size_t count, const WCHAR *dir, const WCHAR *name)
{
    swprintf(buf, count, L"%ls\\%ls", dir, name);
}

/* Deletes the files of dir and dir itself (one level). */
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

#define check_temp_files(dir, want, note) check_temp_files_(__LINE__, dir, want, note)
static void check_temp_files_(unsigned int line, const WCHAR *dir, unsigned int want, const char *note)
{
    unsigned int count = count_files(dir, L"DO*.tmp");

    ok_(__FILE__, line)(count == want, "%u DO*.tmp files, expected %u%s\n", count, want, note);
}

static BOOL contains_nocase(const WCHAR *haystack, const WCHAR *needle)
{
    size_t len = wcslen(needle);

    for (; *haystack; haystack++)
        if (!_wcsnicmp(haystack, needle, len)) return TRUE;
    return FALSE;
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

/* ------------------------------------------------------------------ calls with a time limit */

enum call_op
{
    CALL_START,
    CALL_GET_STATUS,
    CALL_PAUSE,
    CALL_ABORT,
};

struct call_result
{
    HRESULT hr;
    DO_DOWNLOAD_STATUS status;
    DWORD ms;
};

struct call
{
    enum call_op op;
    IDODownload *download;
    DO_DOWNLOAD_RANGES_INFO *ranges;
    struct call_result result;
    HANDLE thread;
};

static DWORD WINAPI call_thread(void *arg)
{
    struct call *call = arg;
    ULONGLONG start;
    HRESULT hr;

    CoInitializeEx(NULL, COINIT_MULTITHREADED);
    start = GetTickCount64();
    switch (call->op)
    {
    case CALL_START:
        hr = IDODownload_Start(call->download, call->ranges);
        break;
    case CALL_GET_STATUS:
        memset(&call->result.status, 0, sizeof(call->result.status));
        hr = IDODownload_GetStatus(call->download, &call->result.status);
        break;
    case CALL_PAUSE:
        hr = IDODownload_Pause(call->download);
        break;
    default:
        hr = IDODownload_Abort(call->download);
        break;
    }
    call->result.ms = GetTickCount64() - start;
    call->result.hr = hr;
    IDODownload_Release(call->download);
    CoUninitialize();
    return 0;
}

/* Starts the call on a thread of its own. */
static struct call *call_begin(enum call_op op, IDODownload *download, const DO_DOWNLOAD_RANGES_INFO *ranges)
{
    struct call *call = calloc(1, sizeof(*call));

    call->op = op;
    call->download = download;
    IDODownload_AddRef(download);
    if (ranges)
    {
        call->ranges = malloc(RANGES_SIZE(ranges->RangeCount));
        memcpy(call->ranges, ranges, RANGES_SIZE(ranges->RangeCount));
    }
    call->thread = CreateThread(NULL, 0, call_thread, call, 0, NULL);
    return call;
}

/* Waits for the call; FALSE if it did not return in time (it is then left
 * to itself, never freed, and counted in stuck_calls). */
static BOOL call_end(struct call *call, DWORD timeout_ms, struct call_result *result)
{
    timeout_ms = hang_bound(timeout_ms);
    memset(result, 0, sizeof(*result));
    result->hr = E_PENDING;
    result->ms = timeout_ms;
    if (!call->thread)
    {
        IDODownload_Release(call->download);
        free(call->ranges);
        free(call);
        result->hr = E_OUTOFMEMORY;
        return TRUE;
    }
    if (WaitForSingleObject(call->thread, timeout_ms) != WAIT_OBJECT_0)
    {
        InterlockedIncrement(&stuck_calls);
        CloseHandle(call->thread);
        return FALSE;
    }
    CloseHandle(call->thread);
    *result = call->result;
    free(call->ranges);
    free(call);
    return TRUE;
}

static BOOL run_call(enum call_op op, IDODownload *download, const DO_DOWNLOAD_RANGES_INFO *ranges,
                     DWORD timeout_ms, struct call_result *result)
{
    return call_end(call_begin(op, download, ranges), timeout_ms, result);
}

/* ------------------------------------------------------------------ the status callback */

#define MAX_RECORDS 256

struct record
{
    ULONGLONG tick;
    DO_DOWNLOAD_STATUS status;
};

struct callback
{
    IDODownloadStatusCallback IDODownloadStatusCallback_iface;
    LONG ref;
    HANDLE called;                  /* auto-reset, set at the end of every call */
    /* behaviour */
    BOOL reenter;                   /* GetStatus on the download from inside every call */
    BOOL pause_on_progress;         /* Pause from inside the first call that reports bytes */
    /* what the calls saw, under cs */
    CRITICAL_SECTION cs;
    struct record records[MAX_RECORDS];
    unsigned int count;             /* calls so far; records keeps the first MAX_RECORDS */
    BOOL null_args;
    unsigned int reentered, reenter_failed, reenter_stuck;
    DWORD reenter_max_ms;
    LONG pause_started;
    LONG pause_finished;
    BOOL pause_returned;
    HRESULT pause_hr;
    DWORD pause_ms;
};

/* The objects live as long as the process: a late Release from the service
 * must never touch freed memory. */
static struct callback callbacks[8];
static LONG callbacks_used;

static struct callback *impl_from_IDODownloadStatusCallback(IDODownloadStatusCallback *iface)
{
    return CONTAINING_RECORD(iface, struct callback, IDODownloadStatusCallback_iface);
}

static HRESULT WINAPI callback_QueryInterface(IDODownloadStatusCallback *iface, REFIID riid, void **out)
{
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IDODownloadStatusCallback))
    {
        *out = iface;
        IDODownloadStatusCallback_AddRef(iface);
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI callback_AddRef(IDODownloadStatusCallback *iface)
{
    return InterlockedIncrement(&impl_from_IDODownloadStatusCallback(iface)->ref);
}

static ULONG WINAPI callback_Release(IDODownloadStatusCallback *iface)
{
    return InterlockedDecrement(&impl_from_IDODownloadStatusCallback(iface)->ref);
}

static HRESULT WINAPI callback_OnStatusChange(IDODownloadStatusCallback *iface, IDODownload *download,
                                              const DO_DOWNLOAD_STATUS *status)
{
    struct callback *cb = impl_from_IDODownloadStatusCallback(iface);
    struct call_result result;
    BOOL returned;

    EnterCriticalSection(&cb->cs);
    if (!download || !status) cb->null_args = TRUE;
    else if (cb->count < MAX_RECORDS)
    {
        cb->records[cb->count].tick = GetTickCount64();
        cb->records[cb->count].status = *status;
    }
    cb->count++;
    LeaveCriticalSection(&cb->cs);

    if (download && cb->reenter)
    {
        returned = run_call(CALL_GET_STATUS, download, NULL, 5000, &result);
        EnterCriticalSection(&cb->cs);
        cb->reentered++;
        if (!returned) cb->reenter_stuck++;
        else if (result.hr != S_OK) cb->reenter_failed++;
        if (returned && result.ms > cb->reenter_max_ms) cb->reenter_max_ms = result.ms;
        LeaveCriticalSection(&cb->cs);
    }
    if (download && status && cb->pause_on_progress && status->State == DODownloadState_Transferring &&
        status->BytesTransferred && !InterlockedExchange(&cb->pause_started, 1))
    {
        returned = run_call(CALL_PAUSE, download, NULL, 5000, &result);
        EnterCriticalSection(&cb->cs);
        cb->pause_returned = returned;
        cb->pause_hr = result.hr;
        cb->pause_ms = result.ms;
        LeaveCriticalSection(&cb->cs);
        InterlockedExchange(&cb->pause_finished, 1);
    }
    SetEvent(cb->called);
    return S_OK;
}

static IDODownloadStatusCallbackVtbl callback_vtbl =
{
    callback_QueryInterface,
    callback_AddRef,
    callback_Release,
    callback_OnStatusChange,
};

static struct callback *new_callback(void)
{
    LONG index = InterlockedIncrement(&callbacks_used) - 1;
    struct callback *cb;

    if (index >= ARRAY_SIZE(callbacks))
    {
        ok(0, "out of callback objects\n");
        index = ARRAY_SIZE(callbacks) - 1;
    }
    cb = &callbacks[index];
    memset(cb, 0, sizeof(*cb));
    cb->IDODownloadStatusCallback_iface.lpVtbl = &callback_vtbl;
    cb->ref = 1;
    cb->called = CreateEventW(NULL, FALSE, FALSE, NULL);
    InitializeCriticalSection(&cb->cs);
    return cb;
}

static unsigned int callback_count(struct callback *cb)
{
    unsigned int count;

    EnterCriticalSection(&cb->cs);
    count = cb->count;
    LeaveCriticalSection(&cb->cs);
    return count;
}

/* Has a call reported this state? */
static BOOL callback_saw_state(struct callback *cb, DODownloadState state)
{
    unsigned int i;
    BOOL ret = FALSE;

    EnterCriticalSection(&cb->cs);
    for (i = 0; i < cb->count && i < MAX_RECORDS && !ret; i++)
        ret = cb->records[i].status.State == state;
    LeaveCriticalSection(&cb->cs);
    return ret;
}

static BOOL wait_callback_state(struct callback *cb, DODownloadState state, DWORD timeout_ms)
{
    ULONGLONG end = GetTickCount64() + hang_bound(timeout_ms), now;

    for (;;)
    {
        if (callback_saw_state(cb, state)) return TRUE;
        now = GetTickCount64();
        if (now >= end) return FALSE;
        WaitForSingleObject(cb->called, end - now < 50 ? (DWORD)(end - now) : 50);
    }
}

/* Do the BytesTransferred of the calls ever go down? */
static BOOL callback_bytes_grow(struct callback *cb, unsigned int *bad_index)
{
    unsigned int i;
    BOOL ret = TRUE;

    EnterCriticalSection(&cb->cs);
    for (i = 1; i < cb->count && i < MAX_RECORDS && ret; i++)
    {
        if (cb->records[i].status.BytesTransferred < cb->records[i - 1].status.BytesTransferred)
        {
            ret = FALSE;
            *bad_index = i;
        }
    }
    LeaveCriticalSection(&cb->cs);
    return ret;
}

/* ------------------------------------------------------------------ the stream sink */

/* Did the stream get exactly the given ranges of the generated resource,
 * in order (RangeCount 0: the whole resource)? */
#define check_stream(stream, name, size, ranges) check_stream_(__LINE__, stream, name, size, ranges)
static void check_stream_(unsigned int line, struct mem_stream *stream, const char *name, UINT64 full_size,
                          const DO_DOWNLOAD_RANGES_INFO *ranges)
{
    UINT64 total = ranges_total(ranges, full_size), pos = 0, length;
    unsigned char *want = malloc(total ? total : 1);
    SIZE_T bad = 0;
    UINT i;

    if (!ranges || !ranges->RangeCount) httpd_pattern_fill(name, 0, want, total);
    else
    {
        for (i = 0; i < ranges->RangeCount; i++)
        {
            length = ranges->Ranges[i].Length == DO_LENGTH_TO_EOF ? full_size - ranges->Ranges[i].Offset
                                                                   : ranges->Ranges[i].Length;
            httpd_pattern_fill(name, ranges->Ranges[i].Offset, want + pos, length);
            pos += length;
        }
    }
    EnterCriticalSection(&stream->cs);
    while (bad < stream->size && bad < total && stream->data[bad] == want[bad]) bad++;
    ok_(__FILE__, line)(stream->size == total && bad == total,
                        "%s: the stream got %llu bytes in %ld writes, expected %llu; first bad byte at %llu\n",
                        name, (UINT64)stream->size, stream->writes, total, (UINT64)bad);
    LeaveCriticalSection(&stream->cs);
    free(want);
}

/* ------------------------------------------------------------------ enumeration */

struct enum_result
{
    HRESULT hr;
    BOOL enum_null;             /* *ppEnum was NULL */
    unsigned int total;         /* elements */
    unsigned int downloads;     /* of which QI to IDODownload works */
    unsigned int matches;       /* of which the Id is the one asked for */
};

static void enum_downloads(const DO_DOWNLOAD_ENUM_CATEGORY *category, const WCHAR *id, struct enum_result *res)
{
    IEnumUnknown *enumerator = (IEnumUnknown *)0xdeadbeef;
    IDODownload *download;
    WCHAR got[64];
    ULONG fetched;
    IUnknown *unk;

    memset(res, 0, sizeof(*res));
    res->hr = IDOManager_EnumDownloads(manager, category, &enumerator);
    res->enum_null = !enumerator;
    if (res->hr != S_OK || !enumerator) return;
    while (res->total < 100000)
    {
        unk = NULL;
        fetched = 0;
        if (IEnumUnknown_Next(enumerator, 1, &unk, &fetched) != S_OK || !unk) break;
        res->total++;
        if (SUCCEEDED(IUnknown_QueryInterface(unk, &IID_IDODownload, (void **)&download)))
        {
            res->downloads++;
            if (id && get_bstr(download, DODownloadProperty_Id, got, ARRAY_SIZE(got)) == S_OK &&
                !_wcsicmp(got, id))
                res->matches++;
            IDODownload_Release(download);
        }
        IUnknown_Release(unk);
    }
    IEnumUnknown_Release(enumerator);
}

/* ------------------------------------------------------------------ tests */

/* Start's checks, and the Created and Aborted rows of the state machine. */
static void test_start_errors(void)
{
    static const UINT64 zero_length[] = { 0, 0 };
    static const UINT64 eof_offset[] = { DO_LENGTH_TO_EOF, 10 };
    static const UINT64 eof_both[] = { DO_LENGTH_TO_EOF, DO_LENGTH_TO_EOF };
    static const UINT64 overlap[] = { 0, 100, 50, 100 };
    static const UINT64 twice[] = { 0, 100, 0, 100 };
    static const UINT64 overlap_later[] = { 0, 100, 300, 100, 350, 10 };
    static const struct
    {
        UINT count;
        const UINT64 *pairs;
        HRESULT hr;
        const char *what;
    }
    bad_ranges[] =
    {
        { 1, zero_length, DO_E_INVALID_RANGE, "{0, 0}" },
        { 1, eof_offset, DO_E_INVALID_RANGE, "{DO_LENGTH_TO_EOF, 10}" },
        { 1, eof_both, DO_E_INVALID_RANGE, "{DO_LENGTH_TO_EOF, DO_LENGTH_TO_EOF}" },
        { 2, overlap, DO_E_OVERLAPPING_RANGES, "{0, 100}, {50, 100}" },
        { 2, twice, DO_E_OVERLAPPING_RANGES, "{0, 100}, {0, 100}" },
        { 3, overlap_later, DO_E_OVERLAPPING_RANGES, "{0, 100}, {300, 100}, {350, 10}" },
    };
    DO_DOWNLOAD_RANGES_INFO *ranges, whole;
    WCHAR dir[MAX_PATH], local[MAX_PATH];
    DO_DOWNLOAD_STATUS status;
    IDODownload *download;
    unsigned int i;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"start");
    path_in(local, ARRAY_SIZE(local), dir, L"start.bin");
    httpd_add_generated(httpd, "start.bin", 64 * KIB);
    memset(&whole, 0, sizeof(whole));

    /* no Uri: neither alone nor with a ContentId, which nothing resolves here */
    if ((download = create_download(manager)))
    {
        hr = set_bstr(download, DODownloadProperty_LocalPath, local);
        ok(hr == S_OK, "SetProperty(LocalPath) failed: %#lx\n", hr);
        hr = start_whole(download);
        ok(hr == DO_E_DOWNLOAD_NO_URI, "Start without Uri: %#lx [inferred]\n", hr);
        hr = set_bstr(download, DODownloadProperty_ContentId, L"dosvc-test-content-id");
        ok(hr == S_OK, "SetProperty(ContentId) failed: %#lx\n", hr);
        hr = start_whole(download);
        ok(hr == DO_E_DOWNLOAD_NO_URI, "Start with a ContentId and no Uri: %#lx [inferred]\n", hr);
        ok(get_dl_state(download) == DODownloadState_Created, "state after a refused Start is not Created\n");
        finish_download(download);
    }

    /* no sink */
    if ((download = new_download("/start.bin", NULL)))
    {
        hr = start_whole(download);
        ok(hr == DO_E_FILE_DOWNLOADSINK_UNSPECIFIED, "Start without LocalPath or StreamInterface: %#lx [inferred]\n",
           hr);
        ok(get_dl_state(download) == DODownloadState_Created, "state after a refused Start is not Created\n");
        finish_download(download);
    }

    if (!(download = new_download("/start.bin", local))) return;

    /* NULL is only for resuming */
    hr = IDODownload_Start(download, NULL);
    ok(hr == DO_E_DOWNLOAD_RANGES_EXPECTED, "Start(NULL) before the first start: %#lx [inferred]\n", hr);

    for (i = 0; i < ARRAY_SIZE(bad_ranges); i++)
    {
        ranges = alloc_ranges(bad_ranges[i].count, bad_ranges[i].pairs);
        hr = IDODownload_Start(download, ranges);
        ok(hr == bad_ranges[i].hr, "Start with ranges %s: %#lx, expected %#lx [inferred]\n", bad_ranges[i].what,
           hr, bad_ranges[i].hr);
        free(ranges);
    }
    get_dl_status(download, &status);
    ok(status.State == DODownloadState_Created && !status.BytesTransferred,
       "after refused Starts: %s, %llu bytes\n", dl_state_name(status.State), status.BytesTransferred);
    ok(!httpd_request_count(httpd, "/start.bin"), "%u requests after refused Starts [inferred]\n",
       httpd_request_count(httpd, "/start.bin"));
    check_temp_files(dir, 0, " after refused Starts [inferred]");

    /* Created */
    hr = IDODownload_Pause(download);
    ok(hr == S_OK, "Pause in Created: %#lx [inferred]\n", hr);
    ok(get_dl_state(download) == DODownloadState_Created, "Pause in Created changed the state [inferred]\n");
    hr = IDODownload_Finalize(download);
    ok(hr == DO_E_INVALID_STATE, "Finalize in Created: %#lx [inferred]\n", hr);
    ok(get_dl_state(download) == DODownloadState_Created, "Finalize in Created changed the state\n");
    hr = IDODownload_Abort(download);
    ok(hr == S_OK, "Abort in Created: %#lx\n", hr);

    /* Aborted */
    get_dl_status(download, &status);
    ok(status.State == DODownloadState_Aborted, "state after Abort: %s\n", dl_state_name(status.State));
    hr = start_whole(download);
    ok(hr == DO_E_INVALID_STATE, "Start in Aborted: %#lx [inferred]\n", hr);
    hr = IDODownload_Start(download, NULL);
    ok(hr == DO_E_INVALID_STATE, "Start(NULL) in Aborted: %#lx [inferred]\n", hr);
    hr = IDODownload_Pause(download);
    ok(hr == DO_E_INVALID_STATE, "Pause in Aborted: %#lx [inferred]\n", hr);
    hr = IDODownload_Abort(download);
    ok(hr == DO_E_INVALID_STATE, "Abort in Aborted: %#lx [inferred]\n", hr);
    hr = IDODownload_Finalize(download);
    ok(hr == DO_E_INVALID_STATE, "Finalize in Aborted: %#lx [inferred]\n", hr);
    ok(get_dl_state(download) == DODownloadState_Aborted, "state changed after calls in Aborted\n");
    ok(!file_exists(local), "an aborted download created its local file\n");
    IDODownload_Release(download);
    remove_subdir(dir);
}

/* What winget does: Uri, LocalPath, foreground, a callback, Start with no
 * ranges, wait for Transferred through the callback, Finalize. */
static void test_winget_pattern(void)
{
    static const UINT64 size = 300 * KIB;
    WCHAR dir[MAX_PATH], local[MAX_PATH], id[64], text[2048];
    struct callback *cb = new_callback();
    DO_DOWNLOAD_ENUM_CATEGORY category;
    DO_DOWNLOAD_RANGES_INFO *ranges;
    DO_DOWNLOAD_STATUS status;
    struct enum_result res;
    IDODownload *download;
    unsigned int bad = 0;
    ULONG value;
    VARIANT v;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"winget");
    path_in(local, ARRAY_SIZE(local), dir, L"winget.bin");
    httpd_add_generated(httpd, "winget.bin", size);
    if (!(download = new_download("/winget.bin?rate=1048576", local))) return;
    get_id(download, id, ARRAY_SIZE(id));
    hr = set_bool(download, DODownloadProperty_ForegroundPriority, TRUE);
    ok(hr == S_OK, "SetProperty(ForegroundPriority) failed: %#lx\n", hr);
    hr = set_unknown(download, DODownloadProperty_CallbackInterface,
                     (IUnknown *)&cb->IDODownloadStatusCallback_iface);
    ok(hr == S_OK, "SetProperty(CallbackInterface) failed: %#lx\n", hr);
    VariantInit(&v);
    hr = IDODownload_GetProperty(download, DODownloadProperty_ForegroundPriority, &v);
    ok(hr == S_OK && V_VT(&v) == VT_BOOL && V_BOOL(&v) == VARIANT_TRUE, "GetProperty(ForegroundPriority): %#lx, %s\n",
       hr, debugstr_variant(&v));
    VariantClear(&v);

    ranges = alloc_ranges(0, NULL);
    hr = IDODownload_Start(download, ranges);
    free(ranges);
    ok(hr == S_OK, "Start with RangeCount 0 failed: %#lx\n", hr);
    get_dl_status(download, &status);
    ok(status.State == DODownloadState_Transferring || status.State == DODownloadState_Transferred,
       "state after Start: %s\n", dl_state_name(status.State));

    if (!ok(wait_callback_state(cb, DODownloadState_Transferred, 15000),
            "OnStatusChange never reported Transferred (%u calls)\n", callback_count(cb)))
    {
        finish_download(download);
        remove_subdir(dir);
        return;
    }
    get_dl_status(download, &status);
    ok(status.State == DODownloadState_Transferred, "state after the callback said Transferred: %s\n",
       dl_state_name(status.State));
    ok(status.BytesTotal == size && status.BytesTransferred == size, "Transferred: %llu of %llu bytes, expected %llu\n",
       status.BytesTransferred, status.BytesTotal, size);
    ok(status.Error == S_OK && status.ExtendedError == S_OK, "Transferred: Error %#lx, ExtendedError %#lx\n",
       status.Error, status.ExtendedError);
    ok(!file_exists(local), "the local file exists before Finalize [MS-CODE]\n");
    check_temp_files(dir, 1, " before Finalize [MS-CODE: DO*.tmp in the destination directory]");

    ok(callback_saw_state(cb, DODownloadState_Transferring), "OnStatusChange never reported Transferring\n");
    ok(callback_bytes_grow(cb, &bad), "BytesTransferred went down at call %u [inferred]\n", bad);
    EnterCriticalSection(&cb->cs);
    ok(!cb->null_args, "OnStatusChange got a NULL argument\n");
    LeaveCriticalSection(&cb->cs);

    /* what the response was */
    hr = get_ui4(download, DODownloadProperty_HttpStatusCode, &value);
    ok(hr == S_OK && value == 200, "GetProperty(HttpStatusCode): %#lx, %lu [inferred]\n", hr, value);
    hr = get_bstr(download, DODownloadProperty_HttpResponseHeaders, text, ARRAY_SIZE(text));
    ok(hr == S_OK && contains_nocase(text, L"Content-Length") && contains_nocase(text, L"ETag"),
       "GetProperty(HttpResponseHeaders): %#lx, %ls [inferred]\n", hr, text);
    hr = get_bstr(download, DODownloadProperty_HttpServerIPAddress, text, ARRAY_SIZE(text));
    ok(hr == S_OK && !wcscmp(text, L"127.0.0.1"), "GetProperty(HttpServerIPAddress): %#lx, %ls [inferred]\n", hr,
       text);
    hr = get_bstr(download, DODownloadProperty_HttpRedirectionTarget, text, ARRAY_SIZE(text));
    ok(hr == E_NOT_SET, "GetProperty(HttpRedirectionTarget) without a redirect: %#lx, %ls [inferred]\n", hr, text);

    hr = IDODownload_Finalize(download);
    ok(hr == S_OK, "Finalize failed: %#lx\n", hr);
    ok(get_dl_state(download) == DODownloadState_Finalized, "state after Finalize is not Finalized\n");
    check_file(local, "winget.bin", size, NULL);
    check_temp_files(dir, 0, " after Finalize");
    ok(wait_callback_state(cb, DODownloadState_Finalized, 3000),
       "OnStatusChange did not report Finalized [inferred: every state change]\n");

    /* Finalized is final */
    hr = IDODownload_Start(download, NULL);
    ok(hr == DO_E_INVALID_STATE, "Start(NULL) in Finalized: %#lx [MS-CODE]\n", hr);
    hr = start_whole(download);
    ok(hr == DO_E_INVALID_STATE, "Start in Finalized: %#lx [inferred]\n", hr);
    hr = IDODownload_Pause(download);
    ok(hr == DO_E_INVALID_STATE, "Pause in Finalized: %#lx [inferred]\n", hr);
    hr = IDODownload_Abort(download);
    ok(hr == DO_E_INVALID_STATE, "Abort in Finalized: %#lx [inferred]\n", hr);
    hr = IDODownload_Finalize(download);
    ok(hr == DO_E_INVALID_STATE, "Finalize in Finalized: %#lx [inferred]\n", hr);
    ok(get_dl_state(download) == DODownloadState_Finalized, "state changed after calls in Finalized\n");
    check_file(local, "winget.bin", size, NULL);

    /* and no longer enumerated */
    category.Property = DODownloadProperty_Id;
    category.Value = id;
    enum_downloads(&category, id, &res);
    ok(res.hr == DO_E_NO_DOWNLOADS, "EnumDownloads(Id of a Finalized download): %#lx, %u found [MS-CODE]\n",
       res.hr, res.total);

    IDODownload_Release(download);
    remove_subdir(dir);
}

/* Byte ranges: written back to back in the order given. */
static void test_ranges(void)
{
    static const UINT64 two[] = { 0, 100, 200, 1000 };
    static const UINT64 to_eof[] = { 1000, DO_LENGTH_TO_EOF };
    static const UINT64 first[] = { 0, 100 };
    static const UINT64 second[] = { 500, 200 };
    static const UINT64 both[] = { 0, 100, 500, 200 };
    static const struct
    {
        const char *name;
        const WCHAR *local_name;
        UINT64 size;
    }
    files[4] =
    {
        { "rng-two.bin", L"two.bin", 64 * KIB },
        { "rng-many.bin", L"many.bin", 128 * KIB },
        { "rng-eof.bin", L"eof.bin", 64 * KIB },
        { "rng-more.bin", L"more.bin", 64 * KIB },
    };
    DO_DOWNLOAD_RANGES_INFO *ranges[4], *more, *all;
    WCHAR dir[MAX_PATH], local[4][MAX_PATH];
    IDODownload *downloads[4];
    DO_DOWNLOAD_STATUS status;
    UINT64 pairs[200], total;
    char path[64];
    unsigned int i, requests;
    ULONGLONG end;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"ranges");
    for (i = 0; i < 100; i++)
    {
        pairs[2 * i] = i * 1300;
        pairs[2 * i + 1] = 100;
    }
    ranges[0] = alloc_ranges(2, two);
    ranges[1] = alloc_ranges(100, pairs);
    ranges[2] = alloc_ranges(1, to_eof);
    ranges[3] = alloc_ranges(1, first);
    more = alloc_ranges(1, second);
    all = alloc_ranges(2, both);

    /* all four at once */
    for (i = 0; i < 4; i++)
    {
        httpd_add_generated(httpd, files[i].name, files[i].size);
        path_in(local[i], ARRAY_SIZE(local[i]), dir, files[i].local_name);
        sprintf(path, "/%s", files[i].name);
        if ((downloads[i] = new_download(path, local[i])))
        {
            hr = IDODownload_Start(downloads[i], ranges[i]);
            ok(hr == S_OK, "%s: Start with %u ranges failed: %#lx\n", files[i].name, ranges[i]->RangeCount, hr);
        }
    }
    for (i = 0; i < 4; i++)
    {
        if (!downloads[i]) continue;
        winetest_push_context("%s", files[i].name);
        total = ranges_total(ranges[i], files[i].size);
        if (wait_state(downloads[i], DODownloadState_Transferred, 10000))
        {
            get_dl_status(downloads[i], &status);
            ok(status.BytesTransferred == total, "BytesTransferred %llu, expected %llu [inferred]\n",
               status.BytesTransferred, total);
            ok(status.BytesTotal == total, "BytesTotal %llu, expected the sum of the ranges, %llu [inferred]\n",
               status.BytesTotal, total);
            if (i != 3)
            {
                hr = IDODownload_Finalize(downloads[i]);
                ok(hr == S_OK, "Finalize failed: %#lx\n", hr);
                check_file(local[i], files[i].name, files[i].size, ranges[i]);
            }
        }
        winetest_pop_context();
    }
    /* rng-more.bin is Transferred: more ranges can be asked for */
    if (downloads[3] && get_dl_state(downloads[3]) == DODownloadState_Transferred)
    {
        hr = IDODownload_Pause(downloads[3]);
        ok(hr == S_OK, "Pause in Transferred: %#lx [inferred]\n", hr);
        ok(get_dl_state(downloads[3]) == DODownloadState_Transferred, "Pause in Transferred changed the state [inferred]\n");
        requests = httpd_request_count(httpd, "/rng-more.bin");
        hr = IDODownload_Start(downloads[3], more);
        ok(hr == S_OK, "Start with new ranges in Transferred: %#lx\n", hr);
        get_dl_status(downloads[3], &status);
        ok(status.State == DODownloadState_Transferring || status.State == DODownloadState_Transferred,
           "state after Start with new ranges: %s\n", dl_state_name(status.State));
        end = GetTickCount64() + HANG_TIMEOUT_MS;
        while (httpd_request_count(httpd, "/rng-more.bin") == requests && GetTickCount64() < end) Sleep(10);
        ok(httpd_request_count(httpd, "/rng-more.bin") > requests, "no request for the new range\n");
        if (wait_state(downloads[3], DODownloadState_Transferred, 10000))
        {
            get_dl_status(downloads[3], &status);
            trace("after the second Start: %llu of %llu bytes\n", status.BytesTransferred, status.BytesTotal);
            hr = IDODownload_Finalize(downloads[3]);
            ok(hr == S_OK, "Finalize failed: %#lx\n", hr);
            winetest_push_context("rng-more.bin");
            check_file(local[3], "rng-more.bin", files[3].size, all);
            winetest_pop_context();
        }
    }
    for (i = 0; i < 4; i++)
    {
        finish_download(downloads[i]);
        free(ranges[i]);
    }
    check_temp_files(dir, 0, " after Finalize");
    free(more);
    free(all);
    remove_subdir(dir);
}

/* Sparse ranges (too far apart for one span) go several to a request; a
 * server that answers a multi-range request with the whole file, or with its
 * first range only, still gives the exact bytes. */
static void test_multi_ranges(void)
{
    static const char *queries[] = { "", "?multirange=200", "?multirange=first", "?multirange=merge" };
    static const UINT64 size = 6 * MIB;
    DO_DOWNLOAD_RANGES_INFO *ranges;
    WCHAR dir[MAX_PATH], local[MAX_PATH];
    IDODownload *download;
    DO_DOWNLOAD_STATUS status;
    UINT64 pairs[80], total;
    unsigned int i, requests;
    char path[64];
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"multirange");
    httpd_add_generated(httpd, "dl-sparse.bin", size);
    for (i = 0; i < 40; i++)
    {
        pairs[2 * i] = i * 150000ull + i % 7;
        pairs[2 * i + 1] = 1200 + i * 31;
    }
    ranges = alloc_ranges(40, pairs);
    total = ranges_total(ranges, size);
    for (i = 0; i < ARRAY_SIZE(queries); i++)
    {
        winetest_push_context("%s", queries[i][0] ? queries[i] + 1 : "multipart");
        swprintf(local, ARRAY_SIZE(local), L"%ls\\sparse%u.bin", dir, i);
        sprintf(path, "/dl-sparse.bin%s", queries[i]);
        httpd_reset_log(httpd);
        if ((download = new_download(path, local)))
        {
            hr = IDODownload_Start(download, ranges);
            ok(hr == S_OK, "Start with 40 ranges failed: %#lx\n", hr);
            if (wait_state(download, DODownloadState_Transferred, 30000))
            {
                requests = httpd_request_count(httpd, "/dl-sparse.bin");
                if (!i)
                    ok(requests < 10, "%u requests for 40 ranges [inferred: several ranges to a request]\n", requests);
                else
                    ok(requests >= 1, "no request logged\n");
                get_dl_status(download, &status);
                ok(status.BytesTransferred == total, "BytesTransferred %llu, expected %llu\n",
                   status.BytesTransferred, total);
                hr = IDODownload_Finalize(download);
                ok(hr == S_OK, "Finalize failed: %#lx\n", hr);
                check_file(local, "dl-sparse.bin", size, ranges);
            }
            finish_download(download);
        }
        winetest_pop_context();
    }
    free(ranges);
    remove_subdir(dir);
}

/* StreamInterface instead of LocalPath: the stream gets the bytes in order. */
static void test_stream_sink(void)
{
    static const UINT64 two[] = { 0, 100, 200, 1000 };
    struct mem_stream *whole_stream = new_mem_stream(), *ranged_stream = new_mem_stream();
    DO_DOWNLOAD_RANGES_INFO *ranges = alloc_ranges(2, two);
    IDODownload *whole = NULL, *ranged = NULL;
    DO_DOWNLOAD_STATUS status;
    WCHAR text[MAX_PATH];
    ULONGLONG end;
    HRESULT hr;

    httpd_add_generated(httpd, "stream-whole.bin", 96 * KIB);
    httpd_add_generated(httpd, "stream-ranged.bin", 64 * KIB);
    if ((whole = new_download("/stream-whole.bin", NULL)))
    {
        hr = set_unknown(whole, DODownloadProperty_StreamInterface, (IUnknown *)&whole_stream->IStream_iface);
        ok(hr == S_OK, "SetProperty(StreamInterface) failed: %#lx\n", hr);
        hr = start_whole(whole);
        ok(hr == S_OK, "Start of a whole file into a stream: %#lx [inferred]\n", hr);
    }
    if ((ranged = new_download("/stream-ranged.bin", NULL)))
    {
        hr = set_unknown(ranged, DODownloadProperty_StreamInterface, (IUnknown *)&ranged_stream->IStream_iface);
        ok(hr == S_OK, "SetProperty(StreamInterface) failed: %#lx\n", hr);
        hr = IDODownload_Start(ranged, ranges);
        ok(hr == S_OK, "Start of two ranges into a stream: %#lx\n", hr);
    }

    if (whole && wait_state(whole, DODownloadState_Transferred, 10000))
    {
        get_dl_status(whole, &status);
        ok(status.BytesTransferred == 96 * KIB, "stream, whole file: BytesTransferred %llu\n", status.BytesTransferred);
        check_stream(whole_stream, "stream-whole.bin", 96 * KIB, NULL);
        hr = get_bstr(whole, DODownloadProperty_LocalPath, text, ARRAY_SIZE(text));
        ok(hr == E_NOT_SET, "GetProperty(LocalPath) of a stream download: %#lx, %ls\n", hr, text);
        hr = IDODownload_Finalize(whole);
        ok(hr == S_OK, "Finalize of a stream download: %#lx [inferred]\n", hr);
        ok(get_dl_state(whole) == DODownloadState_Finalized, "state after Finalize is not Finalized\n");
    }
    if (ranged && wait_state(ranged, DODownloadState_Transferred, 10000))
    {
        get_dl_status(ranged, &status);
        ok(status.BytesTransferred == 1100, "stream, two ranges: BytesTransferred %llu\n", status.BytesTransferred);
        check_stream(ranged_stream, "stream-ranged.bin", 64 * KIB, ranges);
        hr = IDODownload_Abort(ranged);
        ok(hr == S_OK, "Abort in Transferred: %#lx [inferred]\n", hr);
        ok(get_dl_state(ranged) == DODownloadState_Aborted, "state after Abort is not Aborted\n");
    }
    finish_download(whole);
    finish_download(ranged);
    ranged = NULL;

    /* an aborted download lets its stream go */
    end = GetTickCount64() + HANG_TIMEOUT_MS;
    while (InterlockedCompareExchange(&ranged_stream->ref, 0, 0) != 1 && GetTickCount64() < end) Sleep(10);
    ok(ranged_stream->ref == 1, "the stream still has %ld references after Abort and Release [inferred]\n",
       ranged_stream->ref - 1);
    free(ranges);
}

/* Where the file goes: missing directories, an existing file, two
 * downloads to the same path. */
static void test_local_path(void)
{
    static const char keep[] = "keep this\n";
    WCHAR dir[MAX_PATH], sub1[MAX_PATH], sub2[MAX_PATH], local[MAX_PATH];
    IDODownload *download, *first, *second;
    DO_DOWNLOAD_STATUS status;
    char buf[64];
    DWORD size;
    HANDLE file;
    ULONGLONG end;
    HRESULT hr;

    httpd_add_generated(httpd, "lp-deep.bin", 32 * KIB);
    httpd_add_generated(httpd, "lp-small.bin", 16 * KIB);
    httpd_add_generated(httpd, "lp-slow.bin", 256 * KIB);

    /* missing directories are created at Start */
    make_test_path(dir, ARRAY_SIZE(dir), L"lp-missing");
    path_in(sub1, ARRAY_SIZE(sub1), dir, L"one");
    path_in(sub2, ARRAY_SIZE(sub2), sub1, L"two");
    path_in(local, ARRAY_SIZE(local), sub2, L"deep.bin");
    if ((download = new_download("/lp-deep.bin", local)))
    {
        ok(!file_exists(dir), "the directory exists before Start\n");
        hr = start_whole(download);
        ok(hr == S_OK, "Start into a missing directory: %#lx\n", hr);
        ok(file_exists(sub2), "the directories do not exist after Start [inferred: created at Start]\n");
        if (wait_state(download, DODownloadState_Transferred, 10000))
        {
            hr = IDODownload_Finalize(download);
            ok(hr == S_OK, "Finalize failed: %#lx\n", hr);
            check_file(local, "lp-deep.bin", 32 * KIB, NULL);
        }
        finish_download(download);
    }
    remove_subdir(sub2);
    remove_subdir(sub1);
    remove_subdir(dir);

    /* DO does not overwrite */
    make_subdir(dir, ARRAY_SIZE(dir), L"lp-exists");
    path_in(local, ARRAY_SIZE(local), dir, L"exists.bin");
    file = CreateFileW(local, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
    WriteFile(file, keep, sizeof(keep) - 1, &size, NULL);
    CloseHandle(file);
    if ((download = new_download("/lp-small.bin", local)))
    {
        hr = start_whole(download);
        ok(hr == HRESULT_FROM_WIN32(ERROR_FILE_EXISTS), "Start over an existing file: %#lx [inferred]\n", hr);
        ok(get_dl_state(download) == DODownloadState_Created, "state after the refused Start is not Created\n");
        finish_download(download);
    }
    memset(buf, 0, sizeof(buf));
    file = CreateFileW(local, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    ReadFile(file, buf, sizeof(buf) - 1, &size, NULL);
    CloseHandle(file);
    ok(!strcmp(buf, keep), "the existing file now holds %lu bytes \"%.20s\" [MS-CODE: not overwritten]\n", size, buf);
    remove_subdir(dir);

    /* a second download to the path of a Paused one aborts it */
    make_subdir(dir, ARRAY_SIZE(dir), L"lp-paused");
    path_in(local, ARRAY_SIZE(local), dir, L"shared.bin");
    first = new_download("/lp-slow.bin?rate=65536", local);
    second = new_download("/lp-small.bin", local);
    if (first && second)
    {
        hr = start_whole(first);
        ok(hr == S_OK, "Start failed: %#lx\n", hr);
        wait_bytes(first, 1, 5000);
        hr = IDODownload_Pause(first);
        ok(hr == S_OK, "Pause failed: %#lx\n", hr);
        ok(get_dl_state(first) == DODownloadState_Paused, "state after Pause is not Paused\n");
        hr = start_whole(second);
        ok(hr == S_OK, "Start to the path of a Paused download: %#lx [MS-CODE]\n", hr);
        if (wait_state(second, DODownloadState_Transferred, 10000))
        {
            end = GetTickCount64() + HANG_TIMEOUT_MS;
            while (peek_state(first) != DODownloadState_Aborted && GetTickCount64() < end) Sleep(10);
            get_dl_status(first, &status);
            ok(status.State == DODownloadState_Aborted, "the Paused download with the same path: %s [MS-CODE]\n",
               dl_state_name(status.State));
            hr = IDODownload_Finalize(second);
            ok(hr == S_OK, "Finalize failed: %#lx\n", hr);
            check_file(local, "lp-small.bin", 16 * KIB, NULL);
            check_temp_files(dir, 0, " after Finalize [inferred: the aborted download's temp file is gone]");
        }
    }
    finish_download(first);
    finish_download(second);
    remove_subdir(dir);

    /* ... but not a Transferring one; Abort removes the temp file */
    make_subdir(dir, ARRAY_SIZE(dir), L"lp-busy");
    path_in(local, ARRAY_SIZE(local), dir, L"busy.bin");
    first = new_download("/lp-slow.bin?rate=65536", local);
    second = new_download("/lp-small.bin", local);
    if (first && second)
    {
        hr = start_whole(first);
        ok(hr == S_OK, "Start failed: %#lx\n", hr);
        wait_bytes(first, 1, 5000);
        hr = start_whole(second);
        ok(hr == HRESULT_FROM_WIN32(ERROR_SHARING_VIOLATION),
           "Start to the path of a Transferring download: %#lx [inferred]\n", hr);
        ok(get_dl_state(second) == DODownloadState_Created, "state after the refused Start is not Created [inferred]\n");
        ok(get_dl_state(first) == DODownloadState_Transferring, "the first download is no longer Transferring\n");
        check_temp_files(dir, 1, " while Transferring [MS-CODE]");
        hr = IDODownload_Abort(first);
        ok(hr == S_OK, "Abort while Transferring: %#lx\n", hr);
        ok(get_dl_state(first) == DODownloadState_Aborted, "state after Abort is not Aborted\n");
        check_temp_files(dir, 0, " after Abort [inferred]");
        ok(!file_exists(local), "Abort created the local file\n");

        /* the path is free again */
        hr = start_whole(second);
        ok(hr == S_OK, "Start once the other download is Aborted: %#lx [inferred]\n", hr);
        if (wait_state(second, DODownloadState_Transferred, 10000))
        {
            hr = IDODownload_Abort(second);
            ok(hr == S_OK, "Abort in Transferred: %#lx [inferred]\n", hr);
            ok(get_dl_state(second) == DODownloadState_Aborted, "state after Abort is not Aborted\n");
            check_temp_files(dir, 0, " after Abort in Transferred [inferred]");
            ok(!file_exists(local), "Abort in Transferred created the local file [inferred]\n");
        }
    }
    finish_download(first);
    finish_download(second);
    remove_subdir(dir);
}

/* The HTTP side: custom headers sent, the response's details reported. */
static void test_http_properties(void)
{
    WCHAR dir[MAX_PATH], local[MAX_PATH], text[1024], want[256];
    IDODownload *download;
    char header[128];
    ULONG value;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"http");
    path_in(local, ARRAY_SIZE(local), dir, L"http.bin");
    httpd_add_generated(httpd, "http-props.bin", 32 * KIB);
    if (!(download = new_download("/http-props.bin?redirect=1", local))) return;
    hr = set_bstr(download, DODownloadProperty_HttpCustomHeaders,
                  L"X-Dosvc-Test: conformance\r\nX-Dosvc-Second: 2\r\n");
    ok(hr == S_OK, "SetProperty(HttpCustomHeaders) failed: %#lx\n", hr);
    hr = start_whole(download);
    ok(hr == S_OK, "Start failed: %#lx\n", hr);
    if (wait_state(download, DODownloadState_Transferred, 10000))
    {
        ok(httpd_last_request_header(httpd, "/http-props.bin?redirect=1", "X-Dosvc-Test", header, sizeof(header)) &&
           !strcmp(header, "conformance"), "X-Dosvc-Test on the first request: \"%s\"\n", header);
        header[0] = 0;
        ok(httpd_last_request_header(httpd, "/http-props.bin", "X-Dosvc-Test", header, sizeof(header)) &&
           !strcmp(header, "conformance"), "X-Dosvc-Test after the redirect: \"%s\"\n", header);
        header[0] = 0;
        ok(httpd_last_request_header(httpd, "/http-props.bin", "X-Dosvc-Second", header, sizeof(header)) &&
           !strcmp(header, "2"), "X-Dosvc-Second after the redirect: \"%s\"\n", header);

        hr = get_ui4(download, DODownloadProperty_HttpStatusCode, &value);
        ok(hr == S_OK && value == 200, "GetProperty(HttpStatusCode) after a redirect: %#lx, %lu [inferred]\n", hr,
           value);
        swprintf(want, ARRAY_SIZE(want), L"http://127.0.0.1:%u/http-props.bin", httpd_port(httpd));
        hr = get_bstr(download, DODownloadProperty_HttpRedirectionTarget, text, ARRAY_SIZE(text));
        ok(hr == S_OK && !wcscmp(text, want), "GetProperty(HttpRedirectionTarget): %#lx, %ls, expected %ls [inferred]\n",
           hr, text, want);
        hr = get_bstr(download, DODownloadProperty_HttpResponseHeaders, text, ARRAY_SIZE(text));
        ok(hr == S_OK && contains_nocase(text, L"Content-Length") && contains_nocase(text, L"Accept-Ranges"),
           "GetProperty(HttpResponseHeaders): %#lx, %ls [inferred]\n", hr, text);
        ok(!contains_nocase(text, L"Location:"), "HttpResponseHeaders are the redirect's: %ls [inferred]\n", text);
        hr = get_bstr(download, DODownloadProperty_HttpServerIPAddress, text, ARRAY_SIZE(text));
        ok(hr == S_OK && !wcscmp(text, L"127.0.0.1"), "GetProperty(HttpServerIPAddress): %#lx, %ls [inferred]\n",
           hr, text);
        hr = IDODownload_Finalize(download);
        ok(hr == S_OK, "Finalize failed: %#lx\n", hr);
        check_file(local, "http-props.bin", 32 * KIB, NULL);
    }
    finish_download(download);
    remove_subdir(dir);
}

/* BlockingMode: Start returns once the download is done, has failed, or
 * was paused by another call. */
static void test_blocking_mode(void)
{
    struct callback *cb = new_callback();
    WCHAR dir[MAX_PATH], local[MAX_PATH];
    DO_DOWNLOAD_RANGES_INFO whole;
    DO_DOWNLOAD_STATUS status;
    struct call_result result;
    IDODownload *download;
    struct call *call;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"blocking");
    memset(&whole, 0, sizeof(whole));
    httpd_add_generated(httpd, "blk.bin", 256 * KIB);

    path_in(local, ARRAY_SIZE(local), dir, L"blk.bin");
    if ((download = new_download("/blk.bin?rate=524288", local)))
    {
        hr = set_bool(download, DODownloadProperty_BlockingMode, TRUE);
        ok(hr == S_OK, "SetProperty(BlockingMode) failed: %#lx\n", hr);
        /* a callback set and cleared again gets nothing */
        hr = set_unknown(download, DODownloadProperty_CallbackInterface,
                         (IUnknown *)&cb->IDODownloadStatusCallback_iface);
        ok(hr == S_OK, "SetProperty(CallbackInterface) failed: %#lx\n", hr);
        hr = set_unknown(download, DODownloadProperty_CallbackInterface, NULL);
        ok(hr == S_OK, "SetProperty(CallbackInterface, NULL) failed: %#lx [MS-CODE]\n", hr);

        if (!run_call(CALL_START, download, &whole, 15000, &result))
        {
            ok(0, "a blocking Start did not return\n");
            IDODownload_Abort(download);
        }
        else
        {
            ok(result.hr == S_OK, "blocking Start: %#lx\n", result.hr);
            ok(result.ms >= 250, "blocking Start returned after %lu ms for a 0.5 s transfer\n", result.ms);
            get_dl_status(download, &status);
            ok(status.State == DODownloadState_Transferred && status.BytesTransferred == 256 * KIB,
               "after a blocking Start: %s, %llu bytes\n", dl_state_name(status.State), status.BytesTransferred);
            Sleep(300);
            ok(!callback_count(cb), "%u OnStatusChange calls after CallbackInterface was cleared [inferred]\n",
               callback_count(cb));
            hr = IDODownload_Finalize(download);
            ok(hr == S_OK, "Finalize failed: %#lx\n", hr);
            check_file(local, "blk.bin", 256 * KIB, NULL);
        }
        finish_download(download);
    }

    /* a fatal error ends it with that error */
    path_in(local, ARRAY_SIZE(local), dir, L"blk-missing.bin");
    if ((download = new_download("/blk-missing.bin?status=404", local)))
    {
        hr = set_bool(download, DODownloadProperty_BlockingMode, TRUE);
        ok(hr == S_OK, "SetProperty(BlockingMode) failed: %#lx\n", hr);
        if (!run_call(CALL_START, download, &whole, 15000, &result))
        {
            ok(0, "a blocking Start of a 404 did not return\n");
            IDODownload_Abort(download);
        }
        else
        {
            ok(result.hr == HTTP_STATUS_HRESULT(404), "blocking Start of a 404: %#lx [inferred]\n", result.hr);
            get_dl_status(download, &status);
            ok(status.State == DODownloadState_Paused && status.Error == HTTP_STATUS_HRESULT(404),
               "after a blocking Start of a 404: %s, Error %#lx [inferred]\n", dl_state_name(status.State),
               status.Error);
        }
        finish_download(download);
    }

    /* Pause from another thread ends it with S_OK */
    path_in(local, ARRAY_SIZE(local), dir, L"blk-paused.bin");
    if ((download = new_download("/blk.bin?rate=65536", local)))
    {
        hr = set_bool(download, DODownloadProperty_BlockingMode, TRUE);
        ok(hr == S_OK, "SetProperty(BlockingMode) failed: %#lx\n", hr);
        call = call_begin(CALL_START, download, &whole);
        wait_bytes(download, 1, 5000);
        hr = IDODownload_Pause(download);
        ok(hr == S_OK, "Pause during a blocking Start: %#lx\n", hr);
        if (!call_end(call, 5000, &result))
        {
            ok(0, "a blocking Start did not return after Pause [inferred]\n");
            IDODownload_Abort(download);
        }
        else
        {
            ok(result.hr == S_OK, "blocking Start ended by Pause: %#lx [inferred]\n", result.hr);
            ok(get_dl_state(download) == DODownloadState_Paused, "state after Pause is not Paused\n");
        }
        finish_download(download);
    }
    remove_subdir(dir);
}

/* Failures: fatal ones leave the download Paused with Error set, transient
 * ones Paused with ExtendedError set while DO retries. */
static void test_errors(void)
{
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    DO_DOWNLOAD_STATUS status;
    IDODownload *download;
    unsigned int requests, starts;
    ULONGLONG start, end;
    ULONG value;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"errors");

    /* 404: fatal */
    path_in(local, ARRAY_SIZE(local), dir, L"missing.bin");
    if ((download = new_download("/err-missing.bin?status=404", local)))
    {
        hr = start_whole(download);
        ok(hr == S_OK, "Start failed: %#lx\n", hr);
        if (wait_state_inferred(download, DODownloadState_Paused, 10000))
        {
            get_dl_status(download, &status);
            ok(status.Error == HTTP_STATUS_HRESULT(404), "404: Error %#lx [MS-CODE]\n", status.Error);
            ok(status.BytesTransferred == 0, "404: BytesTransferred %llu\n", status.BytesTransferred);
            trace("404: ExtendedError %#lx\n", status.ExtendedError);
            hr = get_ui4(download, DODownloadProperty_HttpStatusCode, &value);
            ok(hr == S_OK && value == 404, "GetProperty(HttpStatusCode) after a 404: %#lx, %lu [inferred]\n", hr,
               value);
            hr = IDODownload_Finalize(download);
            ok(hr == DO_E_INVALID_STATE, "Finalize in Paused: %#lx [inferred]\n", hr);

            /* not retried by itself; Start(NULL) tries again */
            requests = httpd_request_count(httpd, "/err-missing.bin");
            Sleep(1500);
            get_dl_status(download, &status);
            ok(status.State == DODownloadState_Paused && httpd_request_count(httpd, "/err-missing.bin") == requests,
               "a fatal error: %s, %u more requests in 1.5 s [inferred: not retried]\n", dl_state_name(status.State),
               httpd_request_count(httpd, "/err-missing.bin") - requests);
            hr = IDODownload_Start(download, NULL);
            ok(hr == S_OK, "Start(NULL) after a fatal error: %#lx\n", hr);
            end = GetTickCount64() + HANG_TIMEOUT_MS;
            while (httpd_request_count(httpd, "/err-missing.bin") == requests && GetTickCount64() < end) Sleep(10);
            ok(httpd_request_count(httpd, "/err-missing.bin") > requests, "Start(NULL) sent no request\n");
            if (wait_state_inferred(download, DODownloadState_Paused, 10000))
            {
                get_dl_status(download, &status);
                ok(status.Error == HTTP_STATUS_HRESULT(404), "404 again: Error %#lx [MS-CODE]\n", status.Error);
            }
            hr = IDODownload_Abort(download);
            ok(hr == S_OK, "Abort in Paused: %#lx\n", hr);
            ok(get_dl_state(download) == DODownloadState_Aborted, "state after Abort in Paused is not Aborted\n");
        }
        finish_download(download);
    }

    /* two 503s, then the file */
    path_in(local, ARRAY_SIZE(local), dir, L"flaky.bin");
    httpd_add_generated(httpd, "err-flaky.bin", 64 * KIB);
    if ((download = new_download("/err-flaky.bin?fail_first=2&status=503", local)))
    {
        hr = start_whole(download);
        ok(hr == S_OK, "Start failed: %#lx\n", hr);
        if (wait_state_inferred(download, DODownloadState_Paused, 10000))
        {
            get_dl_status(download, &status);
            ok(status.Error == S_OK, "503: Error %#lx [inferred: transient]\n", status.Error);
            ok(status.ExtendedError == HTTP_STATUS_HRESULT(503), "503: ExtendedError %#lx [inferred]\n",
               status.ExtendedError);
            /* DO retries by itself after its retry delay (60 s here, too long
             * to wait for); Start(NULL) retries at once */
            start = GetTickCount64();
            while (peek_state(download) == DODownloadState_Paused && GetTickCount64() - start < 2000) Sleep(50);
            trace("503: %s %llu ms after the first failure\n", dl_state_name(peek_state(download)),
                  GetTickCount64() - start);
            starts = 0;
            end = GetTickCount64() + HANG_TIMEOUT_MS;
            for (;;)
            {
                memset(&status, 0, sizeof(status));
                IDODownload_GetStatus(download, &status);
                if (status.State == DODownloadState_Transferred || GetTickCount64() >= end) break;
                if (status.State == DODownloadState_Paused && FAILED(status.Error)) break;
                if (status.State == DODownloadState_Paused && starts < 4)
                {
                    requests = httpd_request_count(httpd, "/err-flaky.bin");
                    hr = IDODownload_Start(download, NULL);
                    ok(hr == S_OK, "Start(NULL) after a transient error: %#lx\n", hr);
                    starts++;
                    while (httpd_request_count(httpd, "/err-flaky.bin") == requests && GetTickCount64() < end)
                        Sleep(10);
                }
                Sleep(20);
            }
            ok(status.State == DODownloadState_Transferred, "after two 503s: %s (error %#lx, extended %#lx)\n",
               dl_state_name(status.State), status.Error, status.ExtendedError);
            ok(httpd_request_count(httpd, "/err-flaky.bin") >= 3, "%u requests for two failures and the file\n",
               httpd_request_count(httpd, "/err-flaky.bin"));
            if (status.State == DODownloadState_Transferred)
            {
                ok(status.Error == S_OK && status.ExtendedError == S_OK,
                   "Transferred after retries: Error %#lx, ExtendedError %#lx [inferred]\n", status.Error,
                   status.ExtendedError);
                hr = IDODownload_Finalize(download);
                ok(hr == S_OK, "Finalize failed: %#lx\n", hr);
                check_file(local, "err-flaky.bin", 64 * KIB, NULL);
            }
        }
        finish_download(download);
    }

    /* nobody listening: transient too */
    path_in(local, ARRAY_SIZE(local), dir, L"refused.bin");
    if ((download = create_download(manager)))
    {
        swprintf(url, ARRAY_SIZE(url), L"http://127.0.0.1:%u/refused.bin", closed_port());
        hr = set_bstr(download, DODownloadProperty_Uri, url);
        ok(hr == S_OK, "SetProperty(Uri) failed: %#lx\n", hr);
        hr = set_bstr(download, DODownloadProperty_LocalPath, local);
        ok(hr == S_OK, "SetProperty(LocalPath) failed: %#lx\n", hr);
        hr = start_whole(download);
        ok(hr == S_OK, "Start failed: %#lx\n", hr);
        if (wait_state_inferred(download, DODownloadState_Paused, 10000))
        {
            get_dl_status(download, &status);
            ok(status.Error == S_OK && FAILED(status.ExtendedError),
               "connection refused: Error %#lx, ExtendedError %#lx [inferred: transient]\n", status.Error,
               status.ExtendedError);
        }
        finish_download(download);
    }
    remove_subdir(dir);
}

/* Pause during a transfer, then resume with a Range request. */
static void test_pause_resume(void)
{
    static const UINT64 size = 384 * KIB;
    WCHAR dir[MAX_PATH], local[MAX_PATH];
    DO_DOWNLOAD_STATUS status;
    IDODownload *download;
    unsigned int requests;
    UINT64 paused_bytes;
    char range[128];
    ULONGLONG end;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"pause");
    path_in(local, ARRAY_SIZE(local), dir, L"pause.bin");
    httpd_add_generated(httpd, "pause.bin", size);
    if (!(download = new_download("/pause.bin?rate=262144", local))) return;
    hr = start_whole(download);
    ok(hr == S_OK, "Start failed: %#lx\n", hr);
    ok(get_dl_state(download) == DODownloadState_Transferring, "state after Start is not Transferring\n");
    hr = start_whole(download);
    ok(hr == S_OK, "Start while Transferring: %#lx [inferred]\n", hr);
    hr = IDODownload_Start(download, NULL);
    ok(hr == S_OK, "Start(NULL) while Transferring: %#lx [inferred]\n", hr);
    ok(get_dl_state(download) == DODownloadState_Transferring, "Start while Transferring changed the state [inferred]\n");
    hr = IDODownload_Finalize(download);
    ok(hr == DO_E_INVALID_STATE, "Finalize while Transferring: %#lx [inferred]\n", hr);
    wait_bytes(download, 32 * KIB, 5000);

    hr = IDODownload_Pause(download);
    ok(hr == S_OK, "Pause failed: %#lx\n", hr);
    get_dl_status(download, &status);
    ok(status.State == DODownloadState_Paused, "state after Pause: %s\n", dl_state_name(status.State));
    ok(status.Error == S_OK && status.ExtendedError == S_OK, "after Pause: Error %#lx, ExtendedError %#lx [inferred]\n",
       status.Error, status.ExtendedError);
    paused_bytes = status.BytesTransferred;
    ok(paused_bytes > 0 && paused_bytes < size, "paused at %llu bytes\n", paused_bytes);
    Sleep(300);
    get_dl_status(download, &status);
    ok(status.BytesTransferred == paused_bytes, "%llu bytes 300 ms after Pause at %llu\n", status.BytesTransferred,
       paused_bytes);
    hr = IDODownload_Pause(download);
    ok(hr == S_OK, "Pause in Paused: %#lx [inferred]\n", hr);
    ok(get_dl_state(download) == DODownloadState_Paused, "Pause in Paused changed the state\n");
    ok(!file_exists(local), "the local file exists while Paused [MS-CODE]\n");
    check_temp_files(dir, 1, " while Paused [MS-CODE]");

    requests = httpd_request_count(httpd, "/pause.bin");
    hr = IDODownload_Start(download, NULL);
    ok(hr == S_OK, "Start(NULL) in Paused: %#lx [MS-CODE]\n", hr);
    get_dl_status(download, &status);
    ok(status.State == DODownloadState_Transferring || status.State == DODownloadState_Transferred,
       "state after Start(NULL): %s\n", dl_state_name(status.State));
    end = GetTickCount64() + HANG_TIMEOUT_MS;
    while (httpd_request_count(httpd, "/pause.bin") == requests && GetTickCount64() < end) Sleep(10);
    range[0] = 0;
    ok(httpd_last_request_header(httpd, "/pause.bin", "Range", range, sizeof(range)) && !strncmp(range, "bytes=", 6) &&
       _strtoui64(range + 6, NULL, 10) > 0, "resumed with Range \"%s\" [MS-CODE: 206 after resume]\n", range);
    ok(_strtoui64(range + 6, NULL, 10) == paused_bytes, "resumed with Range \"%s\" after Pause at %llu [inferred]\n",
       range, paused_bytes);
    if (wait_state(download, DODownloadState_Transferred, 10000))
    {
        get_dl_status(download, &status);
        ok(status.BytesTransferred == size && status.BytesTotal == size, "resumed download: %llu of %llu bytes\n",
           status.BytesTransferred, status.BytesTotal);
        hr = IDODownload_Finalize(download);
        ok(hr == S_OK, "Finalize failed: %#lx\n", hr);
        check_file(local, "pause.bin", size, NULL);
        check_temp_files(dir, 0, " after Finalize");
    }
    finish_download(download);
    remove_subdir(dir);
}

/* EnumDownloads with and without a category. */
static void test_enum_downloads(void)
{
    WCHAR dir[MAX_PATH], local[2][MAX_PATH], url[2][256], name[2][96], content[2][96], id[2][64], text[96];
    DO_DOWNLOAD_ENUM_CATEGORY category;
    IDODownload *downloads[2];
    struct enum_result res;
    unsigned int i;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"enum");
    for (i = 0; i < 2; i++)
    {
        swprintf(name[i], ARRAY_SIZE(name[i]), L"dosvc-test enum %u %lu-%lu", i, GetCurrentProcessId(), GetTickCount());
        swprintf(content[i], ARRAY_SIZE(content[i]), L"dosvc-test-content-%u-%lu-%lu", i, GetCurrentProcessId(),
                 GetTickCount());
        swprintf(url[i], ARRAY_SIZE(url[i]), L"http://127.0.0.1:%u/enum-%u-%lu.bin", httpd_port(httpd), i,
                 GetCurrentProcessId());
        swprintf(text, ARRAY_SIZE(text), L"enum-%u.bin", i);
        path_in(local[i], ARRAY_SIZE(local[i]), dir, text);
        id[i][0] = 0;
        if (!(downloads[i] = create_download(manager))) continue;
        get_id(downloads[i], id[i], ARRAY_SIZE(id[i]));
        ok(set_bstr(downloads[i], DODownloadProperty_Uri, url[i]) == S_OK, "SetProperty(Uri) failed\n");
        ok(set_bstr(downloads[i], DODownloadProperty_LocalPath, local[i]) == S_OK, "SetProperty(LocalPath) failed\n");
        ok(set_bstr(downloads[i], DODownloadProperty_DisplayName, name[i]) == S_OK, "SetProperty(DisplayName) failed\n");
        ok(set_bstr(downloads[i], DODownloadProperty_ContentId, content[i]) == S_OK, "SetProperty(ContentId) failed\n");
    }
    if (!downloads[0] || !downloads[1])
    {
        finish_download(downloads[0]);
        finish_download(downloads[1]);
        return;
    }

    /* everything */
    enum_downloads(NULL, id[0], &res);
    ok(res.hr == S_OK, "EnumDownloads(NULL): %#lx\n", res.hr);
    ok(res.total >= 2 && res.downloads == res.total, "EnumDownloads(NULL): %u elements, %u of them IDODownload\n",
       res.total, res.downloads);
    ok(res.matches == 1, "EnumDownloads(NULL) has our first download %u times\n", res.matches);
    enum_downloads(NULL, id[1], &res);
    ok(res.matches == 1, "EnumDownloads(NULL) has our second download %u times\n", res.matches);

    /* each documented category, exact value */
    category.Property = DODownloadProperty_Id;
    category.Value = id[0];
    enum_downloads(&category, id[0], &res);
    ok(res.hr == S_OK && res.total == 1 && res.matches == 1, "EnumDownloads(Id): %#lx, %u elements, %u ours\n",
       res.hr, res.total, res.matches);
    category.Property = DODownloadProperty_Uri;
    category.Value = url[0];
    enum_downloads(&category, id[0], &res);
    ok(res.hr == S_OK && res.total == 1 && res.matches == 1, "EnumDownloads(Uri): %#lx, %u elements, %u ours\n",
       res.hr, res.total, res.matches);
    category.Property = DODownloadProperty_ContentId;
    category.Value = content[1];
    enum_downloads(&category, id[1], &res);
    ok(res.hr == S_OK && res.total == 1 && res.matches == 1, "EnumDownloads(ContentId): %#lx, %u elements, %u ours\n",
       res.hr, res.total, res.matches);
    category.Property = DODownloadProperty_DisplayName;
    category.Value = name[1];
    enum_downloads(&category, id[1], &res);
    ok(res.hr == S_OK && res.total == 1 && res.matches == 1,
       "EnumDownloads(DisplayName): %#lx, %u elements, %u ours\n", res.hr, res.total, res.matches);
    category.Property = DODownloadProperty_LocalPath;
    category.Value = local[0];
    enum_downloads(&category, id[0], &res);
    ok(res.hr == S_OK && res.total == 1 && res.matches == 1, "EnumDownloads(LocalPath): %#lx, %u elements, %u ours\n",
       res.hr, res.total, res.matches);

    /* case-insensitive */
    category.Property = DODownloadProperty_Id;
    swprintf(text, ARRAY_SIZE(text), L"%ls", id[1]);
    _wcslwr(text);
    category.Value = text;
    enum_downloads(&category, id[1], &res);
    ok(res.hr == S_OK && res.total == 1 && res.matches == 1,
       "EnumDownloads(Id in lower case %ls): %#lx, %u elements, %u ours [inferred]\n", text, res.hr, res.total,
       res.matches);
    category.Property = DODownloadProperty_DisplayName;
    swprintf(text, ARRAY_SIZE(text), L"%ls", name[0]);
    _wcsupr(text);
    category.Value = text;
    enum_downloads(&category, id[0], &res);
    ok(res.hr == S_OK && res.total == 1 && res.matches == 1,
       "EnumDownloads(DisplayName in upper case): %#lx, %u elements, %u ours [inferred]\n", res.hr, res.total,
       res.matches);

    /* no match, unknown and unsupported properties, no value */
    category.Property = DODownloadProperty_DisplayName;
    category.Value = L"dosvc-test no such download";
    enum_downloads(&category, NULL, &res);
    ok(res.hr == DO_E_NO_DOWNLOADS, "EnumDownloads(no match): %#lx, %u elements [inferred]\n", res.hr, res.total);
    ok(res.enum_null, "EnumDownloads(no match) returned an enumerator\n");
    category.Property = DODownloadProperty_HttpCustomHeaders;
    category.Value = L"X-Dosvc: 1";
    enum_downloads(&category, NULL, &res);
    ok(res.hr == DO_E_UNKNOWN_PROPERTY_ID, "EnumDownloads(HttpCustomHeaders): %#lx [inferred]\n", res.hr);
    category.Property = (DODownloadProperty)1000;
    category.Value = L"x";
    enum_downloads(&category, NULL, &res);
    ok(res.hr == DO_E_UNKNOWN_PROPERTY_ID, "EnumDownloads(property 1000): %#lx [inferred]\n", res.hr);
    category.Property = DODownloadProperty_Id;
    category.Value = NULL;
    enum_downloads(&category, NULL, &res);
    ok(res.hr == E_INVALIDARG || res.hr == HR_NULL_REF, "EnumDownloads(Id, NULL): %#lx [inferred]\n", res.hr);

    /* an aborted download is gone */
    hr = IDODownload_Abort(downloads[1]);
    ok(hr == S_OK, "Abort failed: %#lx\n", hr);
    category.Property = DODownloadProperty_Id;
    category.Value = id[1];
    enum_downloads(&category, NULL, &res);
    ok(res.hr == DO_E_NO_DOWNLOADS, "EnumDownloads(Id of an Aborted download): %#lx, %u elements [inferred]\n",
       res.hr, res.total);
    enum_downloads(NULL, id[1], &res);
    ok(res.hr != S_OK || res.matches == 0, "EnumDownloads(NULL) still lists an Aborted download\n");

    finish_download(downloads[0]);
    finish_download(downloads[1]);
    remove_subdir(dir);
}

/* OnStatusChange: state changes and paced progress, and calls back into the
 * download from inside the callback. */
static void test_status_callback(void)
{
    static const UINT64 size = 384 * KIB;
    struct callback *paced = new_callback(), *pausing = new_callback(), *stepped = new_callback();
    WCHAR dir[MAX_PATH], local[3][MAX_PATH];
    IDODownload *first, *second, *third;
    UINT64 prev_bytes = 0, min_step = ~0ull;
    unsigned int steps = 0;
    ULONGLONG first_tick = 0, last_tick = 0, gap, min_gap = ~0ull;
    unsigned int i, count, progress = 0, bad = 0;
    BOOL transferring = FALSE, done;
    struct record last;
    ULONGLONG end;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"callback");
    path_in(local[0], ARRAY_SIZE(local[0]), dir, L"paced.bin");
    path_in(local[1], ARRAY_SIZE(local[1]), dir, L"pausing.bin");
    path_in(local[2], ARRAY_SIZE(local[2]), dir, L"stepped.bin");
    httpd_add_generated(httpd, "cb-paced.bin", size);
    httpd_add_generated(httpd, "cb-pausing.bin", size);
    httpd_add_generated(httpd, "cb-stepped.bin", size);
    paced->reenter = TRUE;
    pausing->pause_on_progress = TRUE;

    first = new_download("/cb-paced.bin?rate=131072", local[0]);
    second = new_download("/cb-pausing.bin?rate=131072", local[1]);
    third = new_download("/cb-stepped.bin?rate=131072", local[2]);
    if (!first || !second || !third)
    {
        finish_download(first);
        finish_download(second);
        finish_download(third);
        return;
    }
    /* progress every 25 %; the seconds are out of the way */
    hr = set_ui4(third, DODownloadProperty_CallbackFreqSeconds, 60);
    ok(hr == S_OK, "SetProperty(CallbackFreqSeconds) failed: %#lx\n", hr);
    hr = set_ui4(third, DODownloadProperty_CallbackFreqPercent, 25);
    ok(hr == S_OK, "SetProperty(CallbackFreqPercent) failed: %#lx\n", hr);
    hr = set_unknown(third, DODownloadProperty_CallbackInterface, (IUnknown *)&stepped->IDODownloadStatusCallback_iface);
    ok(hr == S_OK, "SetProperty(CallbackInterface) failed: %#lx\n", hr);
    hr = start_whole(third);
    ok(hr == S_OK, "Start failed: %#lx\n", hr);
    hr = set_ui4(first, DODownloadProperty_CallbackFreqSeconds, 1);
    ok(hr == S_OK, "SetProperty(CallbackFreqSeconds) failed: %#lx\n", hr);
    hr = set_unknown(first, DODownloadProperty_CallbackInterface, (IUnknown *)&paced->IDODownloadStatusCallback_iface);
    ok(hr == S_OK, "SetProperty(CallbackInterface) failed: %#lx\n", hr);
    hr = set_unknown(second, DODownloadProperty_CallbackInterface,
                     (IUnknown *)&pausing->IDODownloadStatusCallback_iface);
    ok(hr == S_OK, "SetProperty(CallbackInterface) failed: %#lx\n", hr);
    hr = start_whole(first);
    ok(hr == S_OK, "Start failed: %#lx\n", hr);
    hr = start_whole(second);
    ok(hr == S_OK, "Start failed: %#lx\n", hr);

    /* Pause from inside OnStatusChange returns */
    /* the callback waits for its Pause: a Pause that waited for the
     * callback would never return (the bound is only the hang guard) */
    end = GetTickCount64() + 2 * HANG_TIMEOUT_MS;
    while (!InterlockedCompareExchange(&pausing->pause_finished, 0, 0) && GetTickCount64() < end) Sleep(10);
    if (ok(pausing->pause_finished, "no OnStatusChange reported bytes (%u calls)\n", callback_count(pausing)))
    {
        EnterCriticalSection(&pausing->cs);
        ok(pausing->pause_returned, "Pause called from inside OnStatusChange did not return [inferred]\n");
        ok(pausing->pause_hr == S_OK, "Pause from inside OnStatusChange: %#lx\n", pausing->pause_hr);
        trace("Pause from inside OnStatusChange took %lu ms\n", pausing->pause_ms);
        LeaveCriticalSection(&pausing->cs);
        wait_state(second, DODownloadState_Paused, 3000);
        ok(wait_callback_state(pausing, DODownloadState_Paused, 3000), "OnStatusChange did not report Paused\n");
    }
    hr = IDODownload_Abort(second);
    ok(hr == S_OK, "Abort failed: %#lx\n", hr);
    ok(wait_callback_state(pausing, DODownloadState_Aborted, 3000),
       "OnStatusChange did not report Aborted [inferred: every state change]\n");

    /* paced progress with GetStatus from inside every call */
    if (wait_state(first, DODownloadState_Transferred, 15000))
    {
        ok(wait_callback_state(paced, DODownloadState_Transferred, 3000), "OnStatusChange did not report Transferred\n");
        /* the last call may still be in its GetStatus */
        end = GetTickCount64() + HANG_TIMEOUT_MS;
        while (GetTickCount64() < end)
        {
            EnterCriticalSection(&paced->cs);
            done = paced->reentered >= paced->count;
            LeaveCriticalSection(&paced->cs);
            if (done) break;
            WaitForSingleObject(paced->called, 50);
        }
        EnterCriticalSection(&paced->cs);
        count = min(paced->count, MAX_RECORDS);
        ok(!paced->null_args, "OnStatusChange got a NULL argument\n");
        for (i = 0; i < count; i++)
        {
            if (paced->records[i].status.State != DODownloadState_Transferring) continue;
            if (!transferring)
            {
                /* the state change itself */
                transferring = TRUE;
                first_tick = paced->records[i].tick;
                continue;
            }
            if (progress)
            {
                gap = paced->records[i].tick - last_tick;
                if (gap < min_gap) min_gap = gap;
            }
            last_tick = paced->records[i].tick;
            progress++;
        }
        last = paced->records[count ? count - 1 : 0];
        ok(paced->reentered == paced->count && !paced->reenter_stuck && !paced->reenter_failed,
           "GetStatus from inside OnStatusChange: %u calls for %u callbacks, %u did not return, %u failed [inferred]\n",
           paced->reentered, paced->count, paced->reenter_stuck, paced->reenter_failed);
        trace("%u callbacks, %u progress calls over %llu ms, closest %llu ms apart; GetStatus from inside "
              "took up to %lu ms\n", paced->count, progress, last_tick - first_tick, min_gap, paced->reenter_max_ms);
        LeaveCriticalSection(&paced->cs);

        ok(transferring, "OnStatusChange never reported Transferring\n");
        ok(progress >= 1, "no progress calls during a 3 s transfer [documented: every CallbackFreqSeconds]\n");
        ok(progress <= (last_tick - first_tick) / 1000 + 2, "%u progress calls in %llu ms [inferred]\n", progress,
           last_tick - first_tick);
        ok(callback_bytes_grow(paced, &bad), "BytesTransferred went down at call %u [inferred]\n", bad);
        ok(last.status.State == DODownloadState_Transferred && last.status.BytesTransferred == size &&
           last.status.BytesTotal == size, "last callback: %s, %llu of %llu bytes\n",
           dl_state_name(last.status.State), last.status.BytesTransferred, last.status.BytesTotal);
    }

    /* progress by percent */
    if (wait_state(third, DODownloadState_Transferred, 15000))
    {
        ok(wait_callback_state(stepped, DODownloadState_Transferred, 3000),
           "OnStatusChange did not report Transferred\n");
        EnterCriticalSection(&stepped->cs);
        count = min(stepped->count, MAX_RECORDS);
        transferring = FALSE;
        for (i = 0; i < count; i++)
        {
            if (stepped->records[i].status.State != DODownloadState_Transferring) continue;
            if (transferring)
            {
                steps++;
                if (stepped->records[i].status.BytesTransferred - prev_bytes < min_step)
                    min_step = stepped->records[i].status.BytesTransferred - prev_bytes;
            }
            transferring = TRUE;
            prev_bytes = stepped->records[i].status.BytesTransferred;
        }
        trace("CallbackFreqPercent 25: %u callbacks, %u progress calls, closest %llu bytes apart\n",
              stepped->count, steps, min_step);
        LeaveCriticalSection(&stepped->cs);
        ok(steps >= 2 && steps <= 4, "%u progress calls with CallbackFreqPercent 25 [inferred]\n", steps);
        ok(steps < 2 || min_step >= size / 5,
           "progress calls %llu bytes apart with CallbackFreqPercent 25 of %llu [inferred]\n", min_step, size);
    }
    finish_download(first);
    finish_download(second);
    finish_download(third);
    remove_subdir(dir);
}

/* The service runs under another account: let it call into this process. */
static void init_security(void)
{
    HRESULT hr;

    hr = CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE,
                              NULL, EOAC_NONE, NULL);
    ok(hr == S_OK || hr == RPC_E_TOO_LATE, "CoInitializeSecurity failed: %#lx\n", hr);
}

/* The child half of test_dead_client: start a download with a callback,
 * record its id, and vanish without any cleanup. */
static void child_main(char **argv)
{
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256], path[MAX_PATH], id[64];
    struct callback *cb = new_callback();
    IDODownload *download = NULL;
    unsigned int port = atoi(argv[3]);
    DWORD written;
    ULONGLONG end;
    HANDLE file;
    HRESULT hr;

    MultiByteToWideChar(CP_ACP, 0, argv[4], -1, dir, ARRAY_SIZE(dir));
    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER, &IID_IDOManager,
                          (void **)&manager);
    ok(hr == S_OK, "child: cannot create the DO manager: %#lx\n", hr);
    if (FAILED(hr)) goto done;
    if (!(download = create_download(manager))) goto done;
    swprintf(url, ARRAY_SIZE(url), L"http://127.0.0.1:%u/dl-dead.bin?rate=262144", port);
    swprintf(local, ARRAY_SIZE(local), L"%ls\\dl-dead.bin", dir);
    ok(set_bstr(download, DODownloadProperty_Uri, url) == S_OK, "child: SetProperty(Uri) failed\n");
    ok(set_bstr(download, DODownloadProperty_LocalPath, local) == S_OK, "child: SetProperty(LocalPath) failed\n");
    ok(set_ui4(download, DODownloadProperty_CallbackFreqSeconds, 1) == S_OK,
       "child: SetProperty(CallbackFreqSeconds) failed\n");
    ok(set_unknown(download, DODownloadProperty_CallbackInterface,
                   (IUnknown *)&cb->IDODownloadStatusCallback_iface) == S_OK,
       "child: SetProperty(CallbackInterface) failed\n");
    hr = start_whole(download);
    ok(hr == S_OK, "child: Start failed: %#lx\n", hr);
    end = GetTickCount64() + HANG_TIMEOUT_MS;
    while (!callback_count(cb) && GetTickCount64() < end) WaitForSingleObject(cb->called, 50);
    ok(callback_count(cb) > 0, "child: no OnStatusChange\n");

    get_id(download, id, ARRAY_SIZE(id));
    swprintf(path, ARRAY_SIZE(path), L"%ls\\child-download.txt", dir);
    file = CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
    ok(file != INVALID_HANDLE_VALUE, "child: cannot create %ls: %lu\n", path, GetLastError());
    if (file != INVALID_HANDLE_VALUE)
    {
        WriteFile(file, id, wcslen(id) * sizeof(WCHAR), &written, NULL);
        CloseHandle(file);
    }
done:
    /* no Release, no CoUninitialize: the process just dies */
    fflush(stdout);
    ExitProcess(winetest_get_failures() > 255 ? 255 : winetest_get_failures());
}

/* A client that dies with a callback registered must not hurt the service. */
static void test_dead_client(void)
{
    WCHAR exe[MAX_PATH], cmdline[3 * MAX_PATH], path[MAX_PATH], id[64], local[MAX_PATH];
    DO_DOWNLOAD_ENUM_CATEGORY category;
    IEnumUnknown *enumerator = NULL;
    IDODownload *download = NULL;
    DWORD max_ms = 0, size, ret;
    struct call_result result;
    PROCESS_INFORMATION pi;
    IUnknown *unk = NULL;
    ULONG fetched = 0;
    STARTUPINFOW si;
    unsigned int polls = 0;
    ULONGLONG end;
    HANDLE file;
    HRESULT hr;

    httpd_add_generated(httpd, "dl-dead.bin", 512 * KIB);
    GetModuleFileNameW(NULL, exe, ARRAY_SIZE(exe));
    swprintf(cmdline, ARRAY_SIZE(cmdline), L"\"%ls\" download child %u \"%ls\"", exe, httpd_port(httpd), test_dir());
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    if (!CreateProcessW(NULL, cmdline, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi))
    {
        ok(0, "cannot start the child: %lu\n", GetLastError());
        return;
    }
    ret = WaitForSingleObject(pi.hProcess, 2 * HANG_TIMEOUT_MS);
    if (ret != WAIT_OBJECT_0)
    {
        ok(0, "the child did not end\n");
        TerminateProcess(pi.hProcess, 1);
    }
    else wait_child_process(pi.hProcess);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);

    make_test_path(path, ARRAY_SIZE(path), L"child-download.txt");
    file = CreateFileW(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
    if (!ok(file != INVALID_HANDLE_VALUE, "the child left no download id: %lu\n", GetLastError())) return;
    memset(id, 0, sizeof(id));
    ReadFile(file, id, sizeof(id) - sizeof(WCHAR), &size, NULL);
    CloseHandle(file);
    DeleteFileW(path);

    /* found through EnumDownloads from this process */
    category.Property = DODownloadProperty_Id;
    category.Value = id;
    hr = IDOManager_EnumDownloads(manager, &category, &enumerator);
    ok(hr == S_OK, "EnumDownloads(Id %ls of the dead client's download): %#lx\n", id, hr);
    if (hr != S_OK) return;
    hr = IEnumUnknown_Next(enumerator, 1, &unk, &fetched);
    ok(hr == S_OK && fetched == 1 && unk, "Next: %#lx, %lu fetched\n", hr, fetched);
    IEnumUnknown_Release(enumerator);
    if (!unk) return;
    hr = IUnknown_QueryInterface(unk, &IID_IDODownload, (void **)&download);
    ok(hr == S_OK, "QueryInterface(IDODownload): %#lx\n", hr);
    IUnknown_Release(unk);
    if (!download) return;

    /* It goes on without its creator; the service drops the dead callback.
     * (How long a call takes meanwhile is a figure, not a check.) */
    end = GetTickCount64() + HANG_TIMEOUT_MS;
    memset(&result, 0, sizeof(result));
    for (;;)
    {
        if (!run_call(CALL_GET_STATUS, download, NULL, 5000, &result))
        {
            ok(0, "GetStatus on the dead client's download did not return\n");
            break;
        }
        polls++;
        if (result.ms > max_ms) max_ms = result.ms;
        if (result.hr != S_OK || result.status.State != DODownloadState_Transferring ||
            GetTickCount64() >= end)
            break;
        Sleep(50);
    }
    ok(result.hr == S_OK, "GetStatus on the dead client's download: %#lx\n", result.hr);
    ok(result.status.State == DODownloadState_Transferred,
       "the dead client's download: %s (error %#lx, extended error %#lx) [inferred]\n",
       dl_state_name(result.status.State), result.status.Error, result.status.ExtendedError);
    trace("dead client: %u GetStatus calls, at most %lu ms\n", polls, max_ms);

    if (!run_call(CALL_ABORT, download, NULL, 5000, &result))
        ok(0, "Abort of the dead client's download did not return\n");
    else
        ok(result.hr == S_OK, "Abort of the dead client's download: %#lx after %lu ms\n", result.hr, result.ms);
    IDODownload_Release(download);
    path_in(local, ARRAY_SIZE(local), test_dir(), L"dl-dead.bin");
    DeleteFileW(local);
}

START_TEST(download)
{
    char **argv;
    int argc = winetest_get_mainargs(&argv);
    HRESULT hr;

    hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);
    ok(hr == S_OK || hr == S_FALSE, "CoInitializeEx failed: %#lx\n", hr);
    init_security();
    if (argc >= 5 && !strcmp(argv[2], "child"))
    {
        child_main(argv);
        return;
    }
    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER, &IID_IDOManager,
                          (void **)&manager);
    if (FAILED(hr))
    {
        win_skip("cannot create the DO manager with IID_IDOManager: %#lx\n", hr);
        CoUninitialize();
        return;
    }
    if (!(httpd = httpd_start()))
    {
        ok(0, "cannot start the loopback HTTP server\n");
        IDOManager_Release(manager);
        CoUninitialize();
        return;
    }

    test_start_errors();
    test_winget_pattern();
    test_ranges();
    test_multi_ranges();
    test_stream_sink();
    test_local_path();
    test_http_properties();
    test_blocking_mode();
    test_errors();
    test_pause_resume();
    test_enum_downloads();
    test_status_callback();
    test_dead_client();

    if (stuck_calls)
    {
        /* a thread is still inside a call to the service: leave the
         * clean-up to the end of the process */
        ok(0, "%ld calls to the service never returned\n", stuck_calls);
        return;
    }
    httpd_stop(httpd);
    IDOManager_Release(manager);
    remove_test_dir();
    CoUninitialize();
}
