/*
 * bench_client: the Windows half of tools/bench
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
 * One program drives the three APIs the benchmark compares, so that every
 * difference in the figures comes from the service and not from the client:
 *
 *   --api bits    Wine's own BITS (CLSID_BackgroundCopyManager)
 *   --api dosvc   DoSvc through its BITS-style API (CLSID_DeliveryOptimization
 *                 asked for IBackgroundCopyManager)
 *   --api domgr   DoSvc through IDOManager / IDODownload
 *
 * Modes (all options take one value; "#" in --url and --src becomes the
 * two-digit index of a parallel download):
 *
 *   probe                                   can the manager be created?
 *   download --url U --src S --out DIR [--count N] [--repeat R] [--size B]
 *   ranges   --url U --src S --out DIR --size B --ranges N --range-len L [--repeat R]
 *            [--stride D] [--whole-url W --whole-src WS]
 *                                           N ranges D bytes apart (default: spread over B),
 *                                           against one range of the same byte count, or
 *                                           against the whole file W of that many bytes
 *   getstate --seconds T [--busy-url U --out DIR]
 *   createcancel --seconds T
 *   enum     --jobs N[,N...] --url U --out DIR [--repeat R] [--sync DIR]
 *   fgshare  --url U --busy-url B --out DIR --size S   (dosvc, domgr) a download of U (S bytes) and
 *                                           two background ones of B started next to it; foreground,
 *                                           then all three background
 *   cleanup                                 cancel jobs named "bench*" left by a killed run
 *   trust    --cert FILE --remove 0|1       add the DER certificate FILE to the machine's
 *                                           trusted roots (LocalMachine "Root"), or take it out
 *                                           again (the https rows; --api is not used)
 *
 * Every result is one JSON object on one line of stdout, and nothing else
 * goes there, so that a shell script can pick the values out with sed.  A
 * failure prints an object with an "error" member and exits 1; an API the
 * service does not offer prints "unavailable" and exits 0, so that the
 * table can say "n/a" instead of failing the whole run.
 *
 * The client lives in the multithreaded apartment: notifications arrive on
 * RPC threads while the main thread sleeps on an event, which is how a
 * client that waits for its download without polling behaves, and what the
 * latency figure is meant to measure.  If a notification never comes the
 * client falls back to polling and says so ("callback":false), so that a
 * missing callback shows up in the results instead of hanging the run.
 */

#define COBJMACROS
#include <windows.h>
#include <objbase.h>
#include <wincrypt.h>
#include <fcntl.h>
#include <io.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* The BITS and DO interface ids are defined here, in this one object:
 * mingw-w64's libuuid lacks most of them. */
#include <initguid.h>
#include <bits.h>
#include <bits1_5.h>
#include <bits2_0.h>
#include <bits2_5.h>
#include <bits3_0.h>
#include <bitsmsg.h>
#include "deliveryoptimization.h"
#include "deliveryoptimizationerrors.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define MAX_PARALLEL 64
#define ENUM_CHUNK 100

enum api
{
    API_BITS,
    API_DOSVC,
    API_DOMGR
};

static const char *api_names[] = { "bits", "dosvc", "domgr" };

/* ------------------------------------------------------------ options */

struct options
{
    const char *mode;
    enum api api;
    const WCHAR *url;
    const WCHAR *src;
    const WCHAR *out;
    const WCHAR *busy_url;
    const WCHAR *jobs;
    const WCHAR *sync_dir;
    const WCHAR *cert;
    BOOL remove;
    unsigned int count;
    unsigned int repeat;
    unsigned int ranges;
    UINT64 range_len;
    UINT64 stride;
    const WCHAR *whole_url;
    const WCHAR *whole_src;
    UINT64 size;
    double seconds;
    double timeout;
};

static struct options opt;

/* ------------------------------------------------------------ output */

static double now(void)
{
    static LARGE_INTEGER freq;
    LARGE_INTEGER counter;

    if (!freq.QuadPart) QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&counter);
    return (double)counter.QuadPart / (double)freq.QuadPart;
}

/* One JSON object under construction.  Keys and string values are plain
 * ASCII chosen here, or escaped by json_str. */
struct json
{
    char buf[2048];
    size_t len;
};

static void json_add(struct json *json, const char *fmt, ...)
{
    va_list args;
    int n;

    if (json->len >= sizeof(json->buf) - 1) return;
    va_start(args, fmt);
    n = _vsnprintf(json->buf + json->len, sizeof(json->buf) - json->len - 1, fmt, args);
    va_end(args);
    if (n < 0) json->len = sizeof(json->buf) - 1;
    else json->len += n;
    json->buf[json->len] = 0;
}

static void json_begin(struct json *json)
{
    json->len = 0;
    json->buf[0] = 0;
    json_add(json, "{\"mode\":\"%s\",\"api\":\"%s\"", opt.mode, api_names[opt.api]);
}

static void json_num(struct json *json, const char *key, double value)
{
    json_add(json, ",\"%s\":%.6f", key, value);
}

static void json_uint(struct json *json, const char *key, UINT64 value)
{
    json_add(json, ",\"%s\":%I64u", key, value);
}

static void json_bool(struct json *json, const char *key, BOOL value)
{
    json_add(json, ",\"%s\":%s", key, value ? "true" : "false");
}

static void json_hr(struct json *json, const char *key, HRESULT hr)
{
    json_add(json, ",\"%s\":\"0x%08lx\"", key, (unsigned long)hr);
}

static void json_str(struct json *json, const char *key, const char *value)
{
    const char *p;

    json_add(json, ",\"%s\":\"", key);
    for (p = value; *p; p++)
    {
        if (*p == '"' || *p == '\\') json_add(json, "\\%c", *p);
        else if ((unsigned char)*p < 0x20) json_add(json, " ");
        else json_add(json, "%c", *p);
    }
    json_add(json, "\"");
}

static void json_end(struct json *json)
{
    json_add(json, "}");
    printf("%s\n", json->buf);
    fflush(stdout);
}

/* Reports a failure as {"error": ...} and ends the program: a benchmark
 * figure measured around a failure would mean nothing. */
static void __attribute__((noreturn)) fatal(HRESULT hr, const char *fmt, ...)
{
    struct json json;
    char text[512];
    va_list args;

    va_start(args, fmt);
    _vsnprintf(text, sizeof(text) - 1, fmt, args);
    va_end(args);
    text[sizeof(text) - 1] = 0;
    json_begin(&json);
    json_str(&json, "error", text);
    if (hr != S_OK) json_hr(&json, "hr", hr);
    json_end(&json);
    ExitProcess(1);
}

static void __attribute__((noreturn)) unavailable(HRESULT hr, const char *what)
{
    struct json json;

    json_begin(&json);
    json_bool(&json, "unavailable", TRUE);
    json_str(&json, "what", what);
    json_hr(&json, "hr", hr);
    json_end(&json);
    ExitProcess(0);
}

/* ------------------------------------------------------------ small helpers */

static void to_utf8(const WCHAR *text, char *buf, int size)
{
    if (!WideCharToMultiByte(CP_UTF8, 0, text, -1, buf, size, NULL, NULL)) buf[0] = 0;
}

/* pattern with "#" replaced by the two-digit index */
static void expand(const WCHAR *pattern, unsigned int index, WCHAR *buf, size_t count)
{
    size_t len = 0;
    const WCHAR *p;

    for (p = pattern; *p && len + 3 < count; p++)
    {
        if (*p == '#')
        {
            buf[len++] = L'0' + (index / 10) % 10;
            buf[len++] = L'0' + index % 10;
        }
        else buf[len++] = *p;
    }
    buf[len] = 0;
}

static UINT64 file_size(const WCHAR *path)
{
    WIN32_FILE_ATTRIBUTE_DATA data;

    if (!GetFileAttributesExW(path, GetFileExInfoStandard, &data)) return (UINT64)-1;
    return ((UINT64)data.nFileSizeHigh << 32) | data.nFileSizeLow;
}

/* Polls for a file; FALSE after timeout_ms. */
static BOOL wait_for_file(const WCHAR *path, DWORD timeout_ms)
{
    ULONGLONG end = GetTickCount64() + timeout_ms;

    while (GetFileAttributesW(path) == INVALID_FILE_ATTRIBUTES)
    {
        if (GetTickCount64() > end) return FALSE;
        Sleep(5);
    }
    return TRUE;
}

/* A rendezvous with tools/bench, which samples the service's memory while
 * this client waits: the client creates NAME.ready in the sync directory
 * and goes on once NAME.go appears. */
static void sync_point(const char *name)
{
    WCHAR ready[MAX_PATH], go[MAX_PATH];
    HANDLE file;

    if (!opt.sync_dir) return;
    _snwprintf(ready, ARRAY_SIZE(ready), L"%ls\\%hs.ready", opt.sync_dir, name);
    _snwprintf(go, ARRAY_SIZE(go), L"%ls\\%hs.go", opt.sync_dir, name);
    ready[MAX_PATH - 1] = go[MAX_PATH - 1] = 0;
    file = CreateFileW(ready, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
    if (file == INVALID_HANDLE_VALUE) fatal(HRESULT_FROM_WIN32(GetLastError()), "creating %s.ready", name);
    CloseHandle(file);
    if (!wait_for_file(go, 300000)) fatal(S_OK, "tools/bench never answered sync point %s", name);
}

/* ------------------------------------------------------------ verification */

#define VERIFY_CHUNK (1024 * 1024)

static BOOL read_at(HANDLE file, UINT64 offset, void *buf, DWORD size)
{
    LARGE_INTEGER pos;
    DWORD done = 0, got;

    pos.QuadPart = offset;
    if (!SetFilePointerEx(file, pos, NULL, FILE_BEGIN)) return FALSE;
    while (done < size)
    {
        if (!ReadFile(file, (char *)buf + done, size - done, &got, NULL) || !got) return FALSE;
        done += got;
    }
    return TRUE;
}

/* Compares length bytes of out at out_offset with src at src_offset. */
static BOOL same_bytes(HANDLE out, UINT64 out_offset, HANDLE src, UINT64 src_offset, UINT64 length,
                       char *a, char *b)
{
    while (length)
    {
        DWORD chunk = length > VERIFY_CHUNK ? VERIFY_CHUNK : (DWORD)length;
        if (!read_at(out, out_offset, a, chunk) || !read_at(src, src_offset, b, chunk)) return FALSE;
        if (memcmp(a, b, chunk)) return FALSE;
        out_offset += chunk;
        src_offset += chunk;
        length -= chunk;
    }
    return TRUE;
}

/* Is the downloaded file byte-identical to the source, or to the given
 * ranges of it?  Ranged files are accepted in both layouts a service may
 * use: the ranges back to back (BITS' rule) or each at its own offset. */
static BOOL verify(const WCHAR *out_path, const WCHAR *src_path, DWORD range_count,
                   const BG_FILE_RANGE *ranges, char *why, size_t why_size)
{
    UINT64 out_size = file_size(out_path), src_size = file_size(src_path), total = 0, end = 0, pos;
    HANDLE out, src;
    BOOL ok = TRUE, packed;
    char *a, *b;
    DWORD i;

    why[0] = 0;
    if (out_size == (UINT64)-1)
    {
        _snprintf(why, why_size, "no output file");
        return FALSE;
    }
    for (i = 0; i < range_count; i++)
    {
        total += ranges[i].Length;
        if (ranges[i].InitialOffset + ranges[i].Length > end) end = ranges[i].InitialOffset + ranges[i].Length;
    }
    if (!range_count && out_size != src_size)
    {
        _snprintf(why, why_size, "size %I64u, expected %I64u", out_size, src_size);
        return FALSE;
    }
    packed = range_count && out_size == total;
    if (range_count && !packed && out_size < end)
    {
        _snprintf(why, why_size, "size %I64u, expected %I64u (ranges) or at least %I64u", out_size,
                  total, end);
        return FALSE;
    }
    out = CreateFileW(out_path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                      NULL, OPEN_EXISTING, FILE_FLAG_SEQUENTIAL_SCAN, NULL);
    src = CreateFileW(src_path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                      FILE_FLAG_SEQUENTIAL_SCAN, NULL);
    a = malloc(VERIFY_CHUNK);
    b = malloc(VERIFY_CHUNK);
    if (out == INVALID_HANDLE_VALUE || src == INVALID_HANDLE_VALUE || !a || !b)
    {
        _snprintf(why, why_size, "cannot open or allocate for the comparison");
        ok = FALSE;
    }
    else if (!range_count)
    {
        ok = same_bytes(out, 0, src, 0, src_size, a, b);
    }
    else
    {
        for (i = 0, pos = 0; ok && i < range_count; i++)
        {
            ok = same_bytes(out, packed ? pos : ranges[i].InitialOffset, src, ranges[i].InitialOffset,
                            ranges[i].Length, a, b);
            pos += ranges[i].Length;
        }
    }
    if (!ok && !why[0]) _snprintf(why, why_size, "content differs from the source");
    if (out != INVALID_HANDLE_VALUE) CloseHandle(out);
    if (src != INVALID_HANDLE_VALUE) CloseHandle(src);
    free(a);
    free(b);
    why[why_size - 1] = 0;
    return ok;
}

/* ------------------------------------------------------------ BITS callback */

struct job_callback
{
    IBackgroundCopyCallback IBackgroundCopyCallback_iface;
    LONG ref;
    HANDLE event;       /* manual reset: transferred or failed */
    LONG transferred;
    LONG failed;
    HRESULT error;
};

static struct job_callback *job_callback_from_iface(IBackgroundCopyCallback *iface)
{
    return CONTAINING_RECORD(iface, struct job_callback, IBackgroundCopyCallback_iface);
}

static HRESULT WINAPI job_callback_QueryInterface(IBackgroundCopyCallback *iface, REFIID riid, void **out)
{
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyCallback))
    {
        *out = iface;
        IBackgroundCopyCallback_AddRef(iface);
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI job_callback_AddRef(IBackgroundCopyCallback *iface)
{
    return InterlockedIncrement(&job_callback_from_iface(iface)->ref);
}

/* The objects are never freed: a late Release from the service must not
 * touch freed memory, and a benchmark run creates few of them. */
static ULONG WINAPI job_callback_Release(IBackgroundCopyCallback *iface)
{
    return InterlockedDecrement(&job_callback_from_iface(iface)->ref);
}

static HRESULT WINAPI job_callback_JobTransferred(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job)
{
    struct job_callback *cb = job_callback_from_iface(iface);

    InterlockedExchange(&cb->transferred, 1);
    SetEvent(cb->event);
    return S_OK;
}

static HRESULT WINAPI job_callback_JobError(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job,
                                            IBackgroundCopyError *error)
{
    struct job_callback *cb = job_callback_from_iface(iface);
    BG_ERROR_CONTEXT context;
    HRESULT code = E_FAIL;

    if (error) IBackgroundCopyError_GetError(error, &context, &code);
    cb->error = code;
    InterlockedExchange(&cb->failed, 1);
    SetEvent(cb->event);
    return S_OK;
}

static HRESULT WINAPI job_callback_JobModification(IBackgroundCopyCallback *iface,
                                                   IBackgroundCopyJob *job, DWORD reserved)
{
    return S_OK;
}

static IBackgroundCopyCallbackVtbl job_callback_vtbl =
{
    job_callback_QueryInterface,
    job_callback_AddRef,
    job_callback_Release,
    job_callback_JobTransferred,
    job_callback_JobError,
    job_callback_JobModification,
};

static struct job_callback *job_callback_create(void)
{
    struct job_callback *cb = calloc(1, sizeof(*cb));

    if (!cb || !(cb->event = CreateEventW(NULL, TRUE, FALSE, NULL))) fatal(E_OUTOFMEMORY, "callback");
    cb->IBackgroundCopyCallback_iface.lpVtbl = &job_callback_vtbl;
    cb->ref = 1;
    return cb;
}

/* ------------------------------------------------------------ IDODownload callback */

struct download_callback
{
    IDODownloadStatusCallback IDODownloadStatusCallback_iface;
    LONG ref;
    HANDLE event;
    LONG transferred;
    LONG failed;
    HRESULT error;
};

static struct download_callback *download_callback_from_iface(IDODownloadStatusCallback *iface)
{
    return CONTAINING_RECORD(iface, struct download_callback, IDODownloadStatusCallback_iface);
}

static HRESULT WINAPI download_callback_QueryInterface(IDODownloadStatusCallback *iface, REFIID riid,
                                                       void **out)
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

static ULONG WINAPI download_callback_AddRef(IDODownloadStatusCallback *iface)
{
    return InterlockedIncrement(&download_callback_from_iface(iface)->ref);
}

static ULONG WINAPI download_callback_Release(IDODownloadStatusCallback *iface)
{
    return InterlockedDecrement(&download_callback_from_iface(iface)->ref);
}

static HRESULT WINAPI download_callback_OnStatusChange(IDODownloadStatusCallback *iface,
                                                       IDODownload *download,
                                                       const DO_DOWNLOAD_STATUS *status)
{
    struct download_callback *cb = download_callback_from_iface(iface);

    if (!status) return S_OK;
    if (status->State == DODownloadState_Transferred)
    {
        InterlockedExchange(&cb->transferred, 1);
        SetEvent(cb->event);
    }
    /* a failing download pauses with its error set; Aborted is final */
    else if (status->State == DODownloadState_Aborted
             || (status->State == DODownloadState_Paused && FAILED(status->Error)))
    {
        cb->error = FAILED(status->Error) ? status->Error : E_ABORT;
        InterlockedExchange(&cb->failed, 1);
        SetEvent(cb->event);
    }
    return S_OK;
}

static IDODownloadStatusCallbackVtbl download_callback_vtbl =
{
    download_callback_QueryInterface,
    download_callback_AddRef,
    download_callback_Release,
    download_callback_OnStatusChange,
};

static struct download_callback *download_callback_create(void)
{
    struct download_callback *cb = calloc(1, sizeof(*cb));

    if (!cb || !(cb->event = CreateEventW(NULL, TRUE, FALSE, NULL))) fatal(E_OUTOFMEMORY, "callback");
    cb->IDODownloadStatusCallback_iface.lpVtbl = &download_callback_vtbl;
    cb->ref = 1;
    return cb;
}

/* ------------------------------------------------------------ managers */

static IBackgroundCopyManager *bits_manager;
static IDOManager *do_manager;

/* Microsoft's DO clients ask for impersonation on every proxy; Wine 8's
 * ole32 answers E_NOTIMPL, and calls work without it. */
static void set_blanket(void *proxy)
{
    CoSetProxyBlanket(proxy, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_DEFAULT, COLE_DEFAULT_PRINCIPAL,
                      RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_DEFAULT);
}

/* Creates the manager of the chosen API; an IDOManager that does not exist
 * (yet) is reported as unavailable, anything else that fails is fatal. */
static void create_manager(void)
{
    HRESULT hr;

    switch (opt.api)
    {
    case API_BITS:
        hr = CoCreateInstance(&CLSID_BackgroundCopyManager, NULL, CLSCTX_LOCAL_SERVER,
                              &IID_IBackgroundCopyManager, (void **)&bits_manager);
        if (FAILED(hr)) fatal(hr, "creating Wine's BITS manager");
        set_blanket(bits_manager);
        break;
    case API_DOSVC:
        hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER,
                              &IID_IBackgroundCopyManager, (void **)&bits_manager);
        if (FAILED(hr)) fatal(hr, "creating DoSvc's BITS-style manager");
        set_blanket(bits_manager);
        break;
    case API_DOMGR:
        hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER,
                              &IID_IDOManager, (void **)&do_manager);
        if (FAILED(hr)) unavailable(hr, "CoCreateInstance(IID_IDOManager)");
        set_blanket(do_manager);
        break;
    }
}

/* ------------------------------------------------------------ one transfer, any API */

struct transfer
{
    IBackgroundCopyJob *job;                /* bits, dosvc */
    IDODownload *download;                  /* domgr */
    struct job_callback *job_cb;
    struct download_callback *download_cb;
    HANDLE event;                           /* the callback's */
    WCHAR local[MAX_PATH];
    WCHAR src[MAX_PATH];
    DWORD range_count;
    BG_FILE_RANGE *ranges;                  /* sorted by offset, not owned */
    BOOL done;
    BOOL by_callback;
    double done_time;
    double polled_time;                     /* when polling first saw it transferred */
    UINT64 from_cache, from_origin;         /* dosvc: IDeliveryOptimizationFile::GetStats */
};

static HRESULT set_property_string(IDODownload *download, DODownloadProperty id, const WCHAR *value)
{
    VARIANT var;
    HRESULT hr;

    V_VT(&var) = VT_BSTR;
    if (!(V_BSTR(&var) = SysAllocString(value))) return E_OUTOFMEMORY;
    hr = IDODownload_SetProperty(download, id, &var);
    VariantClear(&var);
    return hr;
}

static HRESULT set_property_bool(IDODownload *download, DODownloadProperty id, BOOL value)
{
    VARIANT var;

    V_VT(&var) = VT_BOOL;
    V_BOOL(&var) = value ? VARIANT_TRUE : VARIANT_FALSE;
    return IDODownload_SetProperty(download, id, &var);
}

static HRESULT set_property_unknown(IDODownload *download, DODownloadProperty id, IUnknown *value)
{
    VARIANT var;

    V_VT(&var) = VT_UNKNOWN;
    V_UNKNOWN(&var) = value;
    return IDODownload_SetProperty(download, id, &var);
}

/* Adds the one file of a BITS-style job: DO's own way for DoSvc, BITS'
 * AddFile or AddFileWithRanges for Wine's BITS. */
static HRESULT add_job_file(IBackgroundCopyJob *job, const WCHAR *url, const WCHAR *local,
                            DWORD range_count, BG_FILE_RANGE *ranges, UINT64 size, unsigned int index)
{
    IDeliveryOptimizationJob *do_job;
    IBackgroundCopyJob3 *job3;
    WCHAR file_id[32];
    HRESULT hr;

    if (opt.api == API_DOSVC)
    {
        hr = IBackgroundCopyJob_QueryInterface(job, &IID_IDeliveryOptimizationJob, (void **)&do_job);
        if (FAILED(hr)) return hr;
        set_blanket(do_job);
        _snwprintf(file_id, ARRAY_SIZE(file_id), L"bench-%u", index);
        file_id[ARRAY_SIZE(file_id) - 1] = 0;
        hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, file_id, url, local, range_count, ranges,
                                                        size ? size : DO_UNKNOWN_FILE_SIZE);
        IDeliveryOptimizationJob_Release(do_job);
        return hr;
    }
    if (!range_count) return IBackgroundCopyJob_AddFile(job, url, local);
    hr = IBackgroundCopyJob_QueryInterface(job, &IID_IBackgroundCopyJob3, (void **)&job3);
    if (FAILED(hr)) return hr;
    set_blanket(job3);
    hr = IBackgroundCopyJob3_AddFileWithRanges(job3, url, local, range_count, ranges);
    IBackgroundCopyJob3_Release(job3);
    return hr;
}

/* Creates the job or download, ready to start; *what names the step that
 * failed. */
static HRESULT transfer_create(struct transfer *t, const WCHAR *url, UINT64 size, unsigned int index,
                               const char **what)
{
    GUID id;
    HRESULT hr;

    DeleteFileW(t->local);
    if (opt.api == API_DOMGR)
    {
        t->download_cb = download_callback_create();
        t->event = t->download_cb->event;
        *what = "IDOManager::CreateDownload";
        if (FAILED(hr = IDOManager_CreateDownload(do_manager, &t->download))) return hr;
        set_blanket(t->download);
        *what = "SetProperty(Uri)";
        if (FAILED(hr = set_property_string(t->download, DODownloadProperty_Uri, url))) return hr;
        *what = "SetProperty(LocalPath)";
        if (FAILED(hr = set_property_string(t->download, DODownloadProperty_LocalPath, t->local))) return hr;
        *what = "SetProperty(ForegroundPriority)";
        if (FAILED(hr = set_property_bool(t->download, DODownloadProperty_ForegroundPriority, TRUE)))
            return hr;
        *what = "SetProperty(CallbackInterface)";
        return set_property_unknown(t->download, DODownloadProperty_CallbackInterface,
                                    (IUnknown *)&t->download_cb->IDODownloadStatusCallback_iface);
    }

    t->job_cb = job_callback_create();
    t->event = t->job_cb->event;
    *what = "CreateJob";
    hr = IBackgroundCopyManager_CreateJob(bits_manager, L"bench", BG_JOB_TYPE_DOWNLOAD, &id, &t->job);
    if (FAILED(hr)) return hr;
    set_blanket(t->job);
    /* foreground: the benchmark measures how fast the service can go, not
     * how it yields to the user's traffic */
    *what = "SetPriority";
    if (FAILED(hr = IBackgroundCopyJob_SetPriority(t->job, BG_JOB_PRIORITY_FOREGROUND))) return hr;
    *what = "SetNotifyInterface";
    if (FAILED(hr = IBackgroundCopyJob_SetNotifyInterface(t->job,
                                                          (IUnknown *)&t->job_cb->IBackgroundCopyCallback_iface)))
        return hr;
    *what = "SetNotifyFlags";
    if (FAILED(hr = IBackgroundCopyJob_SetNotifyFlags(t->job, BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR)))
        return hr;
    *what = opt.api == API_DOSVC ? "IDeliveryOptimizationJob::AddFileWithRanges"
          : t->range_count ? "IBackgroundCopyJob3::AddFileWithRanges" : "AddFile";
    return add_job_file(t->job, url, t->local, t->range_count, t->ranges, size, index);
}

/* A DO_DOWNLOAD_RANGES_INFO for the transfer's ranges; RangeCount 0 (the
 * whole file) when it has none.  free() it. */
static DO_DOWNLOAD_RANGES_INFO *make_ranges_info(const struct transfer *t)
{
    size_t size = offsetof(DO_DOWNLOAD_RANGES_INFO, Ranges) + t->range_count * sizeof(DO_DOWNLOAD_RANGE);
    DO_DOWNLOAD_RANGES_INFO *info;
    DWORD i;

    if (size < sizeof(*info)) size = sizeof(*info);
    if (!(info = calloc(1, size))) return NULL;
    info->RangeCount = t->range_count;
    for (i = 0; i < t->range_count; i++)
    {
        info->Ranges[i].Offset = t->ranges[i].InitialOffset;
        info->Ranges[i].Length = t->ranges[i].Length;
    }
    return info;
}

static HRESULT transfer_start(struct transfer *t)
{
    DO_DOWNLOAD_RANGES_INFO *info;
    HRESULT hr;

    if (!t->download) return IBackgroundCopyJob_Resume(t->job);
    if (!(info = make_ranges_info(t))) return E_OUTOFMEMORY;
    hr = IDODownload_Start(t->download, info);
    free(info);
    return hr;
}

/* One poll: S_OK once transferred, S_FALSE while still running, the
 * failure otherwise. */
static HRESULT transfer_poll(struct transfer *t)
{
    IBackgroundCopyError *error;
    DO_DOWNLOAD_STATUS status;
    BG_ERROR_CONTEXT context;
    BG_JOB_STATE state;
    HRESULT hr, code;

    if (t->download)
    {
        if (FAILED(hr = IDODownload_GetStatus(t->download, &status))) return hr;
        if (status.State == DODownloadState_Transferred || status.State == DODownloadState_Finalized)
            return S_OK;
        if (status.State == DODownloadState_Aborted) return FAILED(status.Error) ? status.Error : E_ABORT;
        if (status.State == DODownloadState_Paused && FAILED(status.Error)) return status.Error;
        return S_FALSE;
    }
    if (FAILED(hr = IBackgroundCopyJob_GetState(t->job, &state))) return hr;
    if (state == BG_JOB_STATE_TRANSFERRED || state == BG_JOB_STATE_ACKNOWLEDGED) return S_OK;
    if (state == BG_JOB_STATE_CANCELLED) return E_ABORT;
    if (state != BG_JOB_STATE_ERROR) return S_FALSE;
    code = E_FAIL;
    if (SUCCEEDED(IBackgroundCopyJob_GetError(t->job, &error)))
    {
        IBackgroundCopyError_GetError(error, &context, &code);
        IBackgroundCopyError_Release(error);
    }
    return code;
}

static BOOL callback_transferred(const struct transfer *t)
{
    return t->job_cb ? t->job_cb->transferred : t->download_cb->transferred;
}

static HRESULT callback_error(const struct transfer *t)
{
    if (t->job_cb) return t->job_cb->failed ? t->job_cb->error : S_OK;
    return t->download_cb->failed ? t->download_cb->error : S_OK;
}

/* How long a transfer that polling found finished may take to send its
 * notification before we stop waiting for it. */
#define CALLBACK_GRACE 5.0

/* Waits for every transfer to be transferred, by callback.  Every
 * poll_interval seconds without a notification, the transfers not yet
 * notified are polled once; one that polling finds transferred and whose
 * notification has not come CALLBACK_GRACE seconds later is taken as done
 * at the time polling first saw it (by_callback FALSE).  Returns the time
 * the last one finished. */
static double wait_transfers(struct transfer *t, unsigned int count, double start, double poll_interval)
{
    HANDLE events[MAX_PARALLEL];
    unsigned int map[MAX_PARALLEL];
    double last = start, time;
    unsigned int i, n;
    HRESULT hr;
    DWORD ret;

    for (;;)
    {
        for (i = n = 0; i < count; i++)
        {
            if (t[i].done) continue;
            events[n] = t[i].event;
            map[n++] = i;
        }
        if (!n) return last;
        ret = WaitForMultipleObjects(n, events, FALSE, (DWORD)(poll_interval * 1000));
        time = now();
        if (ret < WAIT_OBJECT_0 + n)
        {
            /* every signalled one, not only the first */
            for (i = 0; i < n; i++)
            {
                struct transfer *tr = &t[map[i]];
                if (WaitForSingleObject(tr->event, 0) != WAIT_OBJECT_0) continue;
                if (FAILED(hr = callback_error(tr)) && !callback_transferred(tr))
                    fatal(hr, "transfer %u failed (error notification)", map[i]);
                tr->done = TRUE;
                tr->by_callback = TRUE;
                tr->done_time = time;
                if (time > last) last = time;
            }
            continue;
        }
        if (ret != WAIT_TIMEOUT) fatal(HRESULT_FROM_WIN32(GetLastError()), "waiting for notifications");
        if (time - start > opt.timeout) fatal(S_OK, "no transfer finished within %.0f s", opt.timeout);
        for (i = 0; i < n; i++)
        {
            struct transfer *tr = &t[map[i]];
            if (tr->polled_time)
            {
                if (time - tr->polled_time < CALLBACK_GRACE) continue;
                tr->done = TRUE;
                tr->done_time = tr->polled_time;
                if (tr->done_time > last) last = tr->done_time;
                continue;
            }
            hr = transfer_poll(tr);
            if (FAILED(hr)) fatal(hr, "transfer %u failed (found by polling)", map[i]);
            if (hr == S_OK) tr->polled_time = time;
        }
    }
}

/* DoSvc's BITS-style API only: where the bytes came from, a cache server
 * of the DOCacheHost policy or the origin (tools/bench --fleet). */
static void transfer_sources(struct transfer *t)
{
    IEnumBackgroundCopyFiles *files;
    IDeliveryOptimizationFile *do_file;
    IBackgroundCopyFile *file;
    DOSwarmStats stats;

    if (opt.api != API_DOSVC || !t->job || FAILED(IBackgroundCopyJob_EnumFiles(t->job, &files))) return;
    while (IEnumBackgroundCopyFiles_Next(files, 1, &file, NULL) == S_OK)
    {
        if (SUCCEEDED(IBackgroundCopyFile_QueryInterface(file, &IID_IDeliveryOptimizationFile, (void **)&do_file)))
        {
            memset(&stats, 0, sizeof(stats));
            if (SUCCEEDED(IDeliveryOptimizationFile_GetStats(do_file, &stats)))
            {
                t->from_cache += stats.bytesFromDoinc;
                t->from_origin += stats.bytesFromHttp;
                CoTaskMemFree(stats.fileId);
                CoTaskMemFree(stats.sourceURL);
            }
            IDeliveryOptimizationFile_Release(do_file);
        }
        IBackgroundCopyFile_Release(file);
    }
    IEnumBackgroundCopyFiles_Release(files);
}

static HRESULT transfer_finish(struct transfer *t)
{
    if (t->download) return IDODownload_Finalize(t->download);
    return IBackgroundCopyJob_Complete(t->job);
}

static HRESULT transfer_cancel(struct transfer *t)
{
    if (t->download) return IDODownload_Abort(t->download);
    return IBackgroundCopyJob_Cancel(t->job);
}

static void transfer_release(struct transfer *t)
{
    if (t->job) IBackgroundCopyJob_Release(t->job);
    if (t->download) IDODownload_Release(t->download);
    t->job = NULL;
    t->download = NULL;
}

/* ------------------------------------------------------------ the anchor */

/*
 * Wine's COM registers the RPC server side of an interface when the first
 * stub of that IID appears in a process, and unregisters it when the last
 * one goes.  Wine 8's RpcServerUnregisterIf can then miss the end of a call
 * that is still completing on that interface (the reply leaves before the
 * call count drops) and wait forever; the client's Release that triggered
 * it never returns.  A client that creates, uses and releases one job at a
 * time opens that window on every job, and over thousands of jobs it hits.
 * So every run holds one anchor: a job (download) with a notification
 * object, and for DoSvc its IDeliveryOptimizationJob too, that lives until
 * the process exits.  No IID the benchmark uses then comes and goes, in the
 * service or in this process (the notification stub), and no figure pays
 * for registering interfaces over and over.  The anchor is cancelled at the
 * end but never released: the process exits without the final Release and
 * without CoUninitialize, for the same reason.
 */
static struct
{
    IBackgroundCopyJob *job;
    IUnknown *extra;                /* IDeliveryOptimizationJob / IBackgroundCopyJob3 */
    IDODownload *download;
    IEnumBackgroundCopyJobs *jobs;  /* enum mode: pins the enumerator interface */
    IEnumUnknown *downloads;
} anchor;

static void create_anchor(void)
{
    struct job_callback *job_cb;
    struct download_callback *download_cb;
    HRESULT hr;
    GUID id;

    if (opt.api == API_DOMGR)
    {
        download_cb = download_callback_create();
        if (FAILED(hr = IDOManager_CreateDownload(do_manager, &anchor.download)))
            fatal(hr, "creating the anchor download");
        set_blanket(anchor.download);
        hr = set_property_unknown(anchor.download, DODownloadProperty_CallbackInterface,
                                  (IUnknown *)&download_cb->IDODownloadStatusCallback_iface);
        if (FAILED(hr)) fatal(hr, "setting the anchor's callback");
        return;
    }
    job_cb = job_callback_create();
    hr = IBackgroundCopyManager_CreateJob(bits_manager, L"bench-anchor", BG_JOB_TYPE_DOWNLOAD, &id, &anchor.job);
    if (FAILED(hr)) fatal(hr, "creating the anchor job");
    set_blanket(anchor.job);
    hr = IBackgroundCopyJob_SetNotifyInterface(anchor.job, (IUnknown *)&job_cb->IBackgroundCopyCallback_iface);
    if (FAILED(hr)) fatal(hr, "setting the anchor's callback");
    hr = IBackgroundCopyJob_QueryInterface(anchor.job, opt.api == API_DOSVC ? &IID_IDeliveryOptimizationJob
                                           : &IID_IBackgroundCopyJob3, (void **)&anchor.extra);
    if (SUCCEEDED(hr)) set_blanket(anchor.extra);
}

/* enum mode also walks enumerators, which come and go like jobs */
static void anchor_enumerator(void)
{
    HRESULT hr;

    if (opt.api == API_DOMGR)
    {
        hr = IDOManager_EnumDownloads(do_manager, NULL, &anchor.downloads);
        if (SUCCEEDED(hr)) set_blanket(anchor.downloads);
    }
    else if (SUCCEEDED(IBackgroundCopyManager_EnumJobs(bits_manager, 0, &anchor.jobs)))
        set_blanket(anchor.jobs);
}

static void cancel_anchor(void)
{
    if (anchor.download) IDODownload_Abort(anchor.download);
    if (anchor.job) IBackgroundCopyJob_Cancel(anchor.job);
}

/* ------------------------------------------------------------ download, ranges */

/* Creates, starts, waits for, finishes and verifies count transfers of the
 * same shape.  *elapsed is Resume/Start of the first to the callback of
 * the last; *total additionally covers Complete/Finalize of all. */
static void run_transfers(struct transfer *t, unsigned int count, const WCHAR *url_pattern,
                          UINT64 size, double *elapsed, double *total, BOOL *all_callbacks,
                          BOOL *verified, char *why, size_t why_size)
{
    WCHAR url[2048];
    double start, last;
    const char *what;
    unsigned int i;
    HRESULT hr;

    for (i = 0; i < count; i++)
    {
        expand(url_pattern, i, url, ARRAY_SIZE(url));
        if (FAILED(hr = transfer_create(&t[i], url, size, i, &what)))
        {
            if (hr == E_NOTIMPL || hr == E_NOINTERFACE) unavailable(hr, what);
            fatal(hr, "%s", what);
        }
    }
    start = now();
    for (i = 0; i < count; i++)
    {
        if (SUCCEEDED(hr = transfer_start(&t[i]))) continue;
        /* Wine 8's BITS answers AddFileWithRanges with S_OK but adds no
         * file, which only Resume reveals: ranges are unsupported there */
        if (hr == BG_E_EMPTY && t[i].range_count)
            unavailable(hr, "AddFileWithRanges added no file (Resume: BG_E_EMPTY)");
        fatal(hr, "starting transfer %u", i);
    }
    last = wait_transfers(t, count, start, 0.25);
    for (i = 0; i < count; i++) transfer_sources(&t[i]);
    for (i = 0; i < count; i++)
        if (FAILED(hr = transfer_finish(&t[i]))) fatal(hr, "completing transfer %u", i);
    *total = now() - start;
    *elapsed = last - start;
    *all_callbacks = TRUE;
    *verified = TRUE;
    for (i = 0; i < count; i++)
    {
        if (!t[i].by_callback) *all_callbacks = FALSE;
        if (*verified && !verify(t[i].local, t[i].src, t[i].range_count, t[i].ranges, why, why_size))
            *verified = FALSE;
        DeleteFileW(t[i].local);
        transfer_release(&t[i]);
    }
}

static void mode_download(void)
{
    struct transfer t[MAX_PARALLEL];
    double elapsed, total;
    BOOL callbacks, verified;
    char why[256];
    unsigned int i, rep;
    UINT64 bytes, from_cache, from_origin;
    struct json json;

    if (!opt.url || !opt.src || !opt.out) fatal(S_OK, "download needs --url, --src and --out");
    if (!opt.count || opt.count > MAX_PARALLEL) fatal(S_OK, "--count must be 1..%u", MAX_PARALLEL);
    create_manager();
    create_anchor();
    for (rep = 0; rep < opt.repeat; rep++)
    {
        memset(t, 0, sizeof(t));
        bytes = 0;
        for (i = 0; i < opt.count; i++)
        {
            expand(opt.src, i, t[i].src, ARRAY_SIZE(t[i].src));
            _snwprintf(t[i].local, ARRAY_SIZE(t[i].local), L"%ls\\%hs-%02u.bin", opt.out,
                       api_names[opt.api], i);
            t[i].local[MAX_PATH - 1] = 0;
            if (file_size(t[i].src) == (UINT64)-1) fatal(S_OK, "no source file %u", i);
            bytes += file_size(t[i].src);
        }
        run_transfers(t, opt.count, opt.url, opt.size, &elapsed, &total, &callbacks, &verified, why,
                      sizeof(why));
        for (i = 0, from_cache = from_origin = 0; i < opt.count; i++)
        {
            from_cache += t[i].from_cache;
            from_origin += t[i].from_origin;
        }
        json_begin(&json);
        json_uint(&json, "count", opt.count);
        json_uint(&json, "bytes", bytes);
        json_num(&json, "transferred_s", elapsed);
        json_num(&json, "seconds", total);
        json_num(&json, "mb_s", bytes / 1e6 / total);
        json_bool(&json, "callback", callbacks);
        json_bool(&json, "verified", verified);
        if (!verified) json_str(&json, "why", why);
        if (opt.api == API_DOSVC)
        {
            json_uint(&json, "from_cache", from_cache);
            json_uint(&json, "from_origin", from_origin);
        }
        json_end(&json);
    }
}

/* The Office pattern: --ranges ranges of --range-len bytes spread evenly
 * over a --size byte file, against one range with the same number of
 * bytes, timed in the same invocation so that the ratio compares like
 * with like. */
static void mode_ranges(void)
{
    BG_FILE_RANGE *ranges, single;
    struct transfer t;
    double elapsed[2], total[2];
    BOOL callbacks[2], verified[2];
    char why[2][256];
    UINT64 stride, bytes;
    unsigned int i, rep, pass;
    struct json json;

    if (!opt.url || !opt.src || !opt.out || !opt.size || !opt.ranges || !opt.range_len ||
        (opt.whole_url && !opt.whole_src))
        fatal(S_OK, "ranges needs --url, --src, --out, --size, --ranges and --range-len");
    /* 4 KiB-aligned offsets, as a reader of a file format would ask for */
    stride = opt.stride ? opt.stride : opt.size / opt.ranges / 4096 * 4096;
    if (stride < opt.range_len || (opt.ranges - 1) * stride + opt.range_len > opt.size) fatal(S_OK, "%u ranges of %I64u bytes do not fit in %I64u bytes",
                                      opt.ranges, opt.range_len, opt.size);
    if (!(ranges = calloc(opt.ranges, sizeof(*ranges)))) fatal(E_OUTOFMEMORY, "ranges");
    for (i = 0; i < opt.ranges; i++)
    {
        ranges[i].InitialOffset = i * stride;
        ranges[i].Length = opt.range_len;
    }
    bytes = opt.ranges * opt.range_len;
    single.InitialOffset = 0;
    single.Length = bytes;
    create_manager();
    create_anchor();
    for (rep = 0; rep < opt.repeat; rep++)
    {
        for (pass = 0; pass < 2; pass++)
        {
            BOOL whole = !pass && opt.whole_url;

            memset(&t, 0, sizeof(t));
            wcscpy(t.src, whole ? opt.whole_src : opt.src);
            _snwprintf(t.local, ARRAY_SIZE(t.local), L"%ls\\%hs-ranges.bin", opt.out, api_names[opt.api]);
            t.local[MAX_PATH - 1] = 0;
            t.range_count = pass ? opt.ranges : whole ? 0 : 1;
            t.ranges = pass ? ranges : whole ? NULL : &single;
            run_transfers(&t, 1, whole ? opt.whole_url : opt.url, whole ? bytes : opt.size, &elapsed[pass],
                          &total[pass], &callbacks[pass], &verified[pass], why[pass], sizeof(why[pass]));
        }
        json_begin(&json);
        json_uint(&json, "ranges", opt.ranges);
        json_uint(&json, "bytes", bytes);
        json_num(&json, "single_s", total[0]);
        json_num(&json, "multi_s", total[1]);
        json_num(&json, "ratio", total[1] / total[0]);
        json_bool(&json, "callback", callbacks[0] && callbacks[1]);
        json_bool(&json, "verified", verified[0] && verified[1]);
        if (!verified[0]) json_str(&json, "why", why[0]);
        else if (!verified[1]) json_str(&json, "why", why[1]);
        json_end(&json);
    }
    free(ranges);
}

/* ------------------------------------------------------------ control plane */

/* The state query of the API: GetState or GetStatus; FALSE if it failed. */
static BOOL query_state(IBackgroundCopyJob *job, IDODownload *download, BOOL *running)
{
    DO_DOWNLOAD_STATUS status;
    BG_JOB_STATE state;

    if (download)
    {
        if (FAILED(IDODownload_GetStatus(download, &status))) return FALSE;
        *running = status.State == DODownloadState_Transferring;
        return TRUE;
    }
    if (FAILED(IBackgroundCopyJob_GetState(job, &state))) return FALSE;
    *running = state == BG_JOB_STATE_TRANSFERRING || state == BG_JOB_STATE_CONNECTING;
    return TRUE;
}

/* The transfer that runs while the main thread measures GetState: a loop
 * of whole downloads of --busy-url, each cancelled once transferred, so
 * that the service is busy for the whole measurement however fast it is. */
static struct
{
    CRITICAL_SECTION cs;
    IBackgroundCopyJob *job;        /* the current one, for the main thread */
    IDODownload *download;
    volatile LONG stop;
    LONG started;                   /* the first transfer is running */
    unsigned int finished;
    HRESULT error;
} busy;

static DWORD WINAPI busy_thread(void *arg)
{
    struct transfer t;
    const char *what;
    HRESULT hr;

    CoInitializeEx(NULL, COINIT_MULTITHREADED);
    while (!busy.stop)
    {
        memset(&t, 0, sizeof(t));
        _snwprintf(t.local, ARRAY_SIZE(t.local), L"%ls\\%hs-busy.bin", opt.out, api_names[opt.api]);
        t.local[MAX_PATH - 1] = 0;
        if (FAILED(hr = transfer_create(&t, opt.busy_url, 0, 0, &what)) || FAILED(hr = transfer_start(&t)))
        {
            busy.error = hr;
            transfer_release(&t);
            break;
        }
        EnterCriticalSection(&busy.cs);
        if (busy.job) IBackgroundCopyJob_Release(busy.job);
        if (busy.download) IDODownload_Release(busy.download);
        busy.job = t.job;
        busy.download = t.download;
        if (t.job) IBackgroundCopyJob_AddRef(t.job);
        if (t.download) IDODownload_AddRef(t.download);
        LeaveCriticalSection(&busy.cs);
        InterlockedExchange(&busy.started, 1);
        /* polling would add calls of its own; only the stop flag is checked */
        while (!busy.stop && WaitForSingleObject(t.event, 100) == WAIT_TIMEOUT)
            ;
        if (!busy.stop && callback_transferred(&t))
            busy.finished++;
        else if (!busy.stop && FAILED(callback_error(&t)))
        {
            busy.error = callback_error(&t);
            transfer_cancel(&t);
            transfer_release(&t);
            break;
        }
        transfer_cancel(&t);
        transfer_release(&t);
    }
    CoUninitialize();
    return 0;
}

/* Calls GetState (GetStatus) as fast as one thread can for --seconds:
 * first on an idle job, then, with --busy-url, on a job that is
 * transferring.  The two rates come from the same process a moment apart,
 * so their ratio says whether a transfer slows the control plane down. */
static void mode_getstate(void)
{
    double start, end, idle_rate, busy_rate = 0, busy_time = 0;
    UINT64 calls, running_calls = 0, busy_calls = 0;
    IBackgroundCopyJob *job;
    IDODownload *download;
    struct transfer idle;
    const char *what;
    unsigned int i;
    HANDLE thread;
    BOOL running;
    HRESULT hr;
    struct json json;
    WCHAR url[2048];

    create_manager();
    create_anchor();
    memset(&idle, 0, sizeof(idle));
    if (opt.out)
        _snwprintf(idle.local, ARRAY_SIZE(idle.local), L"%ls\\%hs-idle.bin", opt.out, api_names[opt.api]);
    else
        wcscpy(idle.local, L"C:\\windows\\temp\\bench-idle.bin");
    idle.local[MAX_PATH - 1] = 0;
    wcscpy(url, opt.busy_url ? opt.busy_url : L"http://127.0.0.1:1/idle.bin");
    if (FAILED(hr = transfer_create(&idle, url, 0, 0, &what))) fatal(hr, "%s", what);

    /* the first calls set up the proxy and the service's stub */
    for (i = 0; i < 50; i++) query_state(idle.job, idle.download, &running);
    calls = 0;
    start = now();
    do
    {
        if (!query_state(idle.job, idle.download, &running)) fatal(E_FAIL, "GetState on an idle job");
        calls++;
    } while ((end = now()) - start < opt.seconds);
    idle_rate = calls / (end - start);

    if (opt.busy_url)
    {
        if (!opt.out) fatal(S_OK, "--busy-url needs --out");
        InitializeCriticalSection(&busy.cs);
        if (!(thread = CreateThread(NULL, 0, busy_thread, NULL, 0, NULL)))
            fatal(HRESULT_FROM_WIN32(GetLastError()), "CreateThread");
        start = now();
        while (!busy.started && !busy.error && now() - start < 30) Sleep(1);
        if (!busy.started) fatal(busy.error, "the background transfer did not start");
        start = now();
        do
        {
            EnterCriticalSection(&busy.cs);
            job = busy.job;
            download = busy.download;
            if (job) IBackgroundCopyJob_AddRef(job);
            if (download) IDODownload_AddRef(download);
            LeaveCriticalSection(&busy.cs);
            /* a job cancelled a moment ago answers with an error; the call
             * still went to the service and back, so it counts */
            if (query_state(job, download, &running) && running) running_calls++;
            busy_calls++;
            if (job) IBackgroundCopyJob_Release(job);
            if (download) IDODownload_Release(download);
        } while ((end = now()) - start < opt.seconds);
        busy_time = end - start;
        busy_rate = busy_calls / busy_time;
        InterlockedExchange(&busy.stop, 1);
        WaitForSingleObject(thread, INFINITE);
        CloseHandle(thread);
        if (busy.job) IBackgroundCopyJob_Release(busy.job);
        if (busy.download) IDODownload_Release(busy.download);
        if (FAILED(busy.error)) fatal(busy.error, "the background transfer failed");
    }
    transfer_cancel(&idle);
    transfer_release(&idle);

    json_begin(&json);
    json_num(&json, "idle_per_s", idle_rate);
    if (opt.busy_url)
    {
        json_num(&json, "busy_per_s", busy_rate);
        json_num(&json, "busy_ratio", busy_rate / idle_rate);
        /* how much of the busy phase really overlapped a running transfer */
        json_num(&json, "running_fraction", busy_calls ? (double)running_calls / busy_calls : 0);
        json_uint(&json, "transfers_done", busy.finished);
    }
    json_end(&json);
}

/* CreateJob + Cancel (CreateDownload + Abort) pairs per second, each with
 * the Release a client does afterwards. */
static void mode_createcancel(void)
{
    IBackgroundCopyJob *job;
    IDODownload *download;
    double start, end;
    UINT64 pairs = 0;
    unsigned int i;
    HRESULT hr;
    GUID id;
    struct json json;

    create_manager();
    create_anchor();
    for (i = 0, start = now(), end = start;; i++)
    {
        if (i == 10) start = now();   /* ten for warming up */
        if (opt.api == API_DOMGR)
        {
            if (FAILED(hr = IDOManager_CreateDownload(do_manager, &download))) fatal(hr, "CreateDownload");
            set_blanket(download);
            if (FAILED(hr = IDODownload_Abort(download))) fatal(hr, "Abort");
            IDODownload_Release(download);
        }
        else
        {
            hr = IBackgroundCopyManager_CreateJob(bits_manager, L"bench-cc", BG_JOB_TYPE_DOWNLOAD, &id, &job);
            if (FAILED(hr)) fatal(hr, "CreateJob");
            set_blanket(job);
            if (FAILED(hr = IBackgroundCopyJob_Cancel(job))) fatal(hr, "Cancel");
            IBackgroundCopyJob_Release(job);
        }
        if (i >= 10) pairs++;
        if (i >= 10 && (end = now()) - start >= opt.seconds) break;
    }
    json_begin(&json);
    json_num(&json, "per_s", pairs / (end - start));
    json_end(&json);
}

/* ------------------------------------------------------------ many jobs */

/* Creates one idle job (download) with its file (URL and local path) and
 * drops the client's reference at once, as a program that queues work and
 * goes away does: what stays in the service is the job alone, without
 * COM's per-object stub, and the next job reuses the stub's memory. */
static void create_idle(unsigned int index)
{
    IBackgroundCopyJob *job = NULL;
    IDODownload *download = NULL;
    WCHAR local[MAX_PATH];
    const char *what = "CreateJob";
    HRESULT hr;
    GUID id;

    _snwprintf(local, ARRAY_SIZE(local), L"%ls\\idle-%u.bin", opt.out, index);
    local[MAX_PATH - 1] = 0;
    if (opt.api == API_DOMGR)
    {
        what = "CreateDownload";
        if (SUCCEEDED(hr = IDOManager_CreateDownload(do_manager, &download)))
        {
            set_blanket(download);
            what = "SetProperty(Uri)";
            if (SUCCEEDED(hr = set_property_string(download, DODownloadProperty_Uri, opt.url)))
            {
                what = "SetProperty(LocalPath)";
                hr = set_property_string(download, DODownloadProperty_LocalPath, local);
            }
            IDODownload_Release(download);
        }
    }
    else if (SUCCEEDED(hr = IBackgroundCopyManager_CreateJob(bits_manager, L"bench-idle",
                                                             BG_JOB_TYPE_DOWNLOAD, &id, &job)))
    {
        set_blanket(job);
        what = "adding the file";
        hr = add_job_file(job, opt.url, local, 0, NULL, 0, index);
        IBackgroundCopyJob_Release(job);
    }
    if (FAILED(hr)) fatal(hr, "creating idle job %u: %s", index, what);
}

/* EnumJobs (EnumDownloads), GetCount, and Next of every item, ENUM_CHUNK
 * at a time, as one timed walk.  The items are handed back unreleased. */
static IUnknown **enumerate(ULONG *total, ULONG *reported, double *seconds)
{
    IEnumBackgroundCopyJobs *jobs = NULL;
    IEnumUnknown *downloads = NULL;
    IUnknown **items, **grown;
    ULONG fetched, capacity = 1024;
    double start;
    HRESULT hr;

    /* a service may hold more than we made (Wine's BITS keeps cancelled
     * jobs that never ran), so the array grows */
    if (!(items = malloc(capacity * sizeof(*items)))) fatal(E_OUTOFMEMORY, "enumerate");
    *total = *reported = 0;
    start = now();
    if (opt.api == API_DOMGR)
    {
        hr = IDOManager_EnumDownloads(do_manager, NULL, &downloads);
        if (hr == DO_E_NO_DOWNLOADS)
        {
            *seconds = now() - start;
            return items;
        }
        if (FAILED(hr)) fatal(hr, "EnumDownloads");
        set_blanket(downloads);
    }
    else
    {
        if (FAILED(hr = IBackgroundCopyManager_EnumJobs(bits_manager, 0, &jobs))) fatal(hr, "EnumJobs");
        set_blanket(jobs);
        if (FAILED(hr = IEnumBackgroundCopyJobs_GetCount(jobs, reported))) fatal(hr, "GetCount");
    }
    for (;;)
    {
        if (*total + ENUM_CHUNK > capacity)
        {
            capacity *= 2;
            if (!(grown = realloc(items, capacity * sizeof(*items)))) fatal(E_OUTOFMEMORY, "enumerate");
            items = grown;
        }
        fetched = 0;
        if (downloads) hr = IEnumUnknown_Next(downloads, ENUM_CHUNK, items + *total, &fetched);
        else hr = IEnumBackgroundCopyJobs_Next(jobs, ENUM_CHUNK, (IBackgroundCopyJob **)(items + *total),
                                               &fetched);
        if (FAILED(hr)) fatal(hr, "Next after %lu items", *total);
        *total += fetched;
        if (hr != S_OK || !fetched) break;
    }
    *seconds = now() - start;
    if (downloads) IEnumUnknown_Release(downloads);
    if (jobs) IEnumBackgroundCopyJobs_Release(jobs);
    return items;
}

static double release_items(IUnknown **items, ULONG count)
{
    double start = now();
    ULONG i;

    for (i = 0; i < count; i++) IUnknown_Release(items[i]);
    return now() - start;
}

/* Cancels (aborts) every enumerated item.  For downloads the IUnknown is
 * first asked for IDODownload, one round trip each, outside the clock. */
static void cancel_items(IUnknown **items, ULONG count)
{
    IDODownload **downloads = NULL;
    double start, cancelled, released;
    ULONG i;
    HRESULT hr;
    struct json json;

    if (opt.api == API_DOMGR)
    {
        if (!(downloads = calloc(count ? count : 1, sizeof(*downloads)))) fatal(E_OUTOFMEMORY, "cancel");
        for (i = 0; i < count; i++)
        {
            if (FAILED(hr = IUnknown_QueryInterface(items[i], &IID_IDODownload, (void **)&downloads[i])))
                fatal(hr, "QueryInterface(IDODownload) of download %lu", i);
            set_blanket(downloads[i]);
        }
    }
    start = now();
    for (i = 0; i < count; i++)
    {
        if (downloads) hr = IDODownload_Abort(downloads[i]);
        else hr = IBackgroundCopyJob_Cancel((IBackgroundCopyJob *)items[i]);
        /* Wine's BITS also lists the jobs it has cancelled already */
        if (FAILED(hr) && hr != BG_E_INVALID_STATE && hr != DO_E_INVALID_STATE)
            fatal(hr, "cancelling idle job %lu", i);
    }
    cancelled = now() - start;
    start = now();
    if (downloads)
        for (i = 0; i < count; i++) IDODownload_Release(downloads[i]);
    released = release_items(items, count) + (now() - start);
    free(downloads);
    json_begin(&json);
    json_str(&json, "phase", "cancel");
    json_uint(&json, "jobs", count);
    json_num(&json, "cancel_per_s", count / cancelled);
    json_num(&json, "release_s", released);
    json_end(&json);
}

/* Creates idle jobs up to each count of --jobs and walks them --repeat
 * times at each count, the way a fresh client does: its first walk makes
 * a new proxy for every job (and the service a new stub), and releasing
 * them costs one call each, timed apart.  A second walk while those
 * proxies live ("warm") shows the enumeration without that COM setup.
 * Finally every job is cancelled.  Sync points let tools/bench sample the
 * service's memory with 0 jobs, with each count, and after the cancel. */
static void mode_enum(void)
{
    unsigned int counts[8], ncounts = 0, made = 0, c, rep, i;
    ULONG total, reported, warm_total, warm_reported;
    double start, elapsed, cold_s, warm_s, release_s;
    IUnknown **items, **warm;
    const WCHAR *p;
    WCHAR *end;
    char name[32];
    BOOL last;
    struct json json;

    if (!opt.jobs || !opt.url || !opt.out) fatal(S_OK, "enum needs --jobs, --url and --out");
    for (p = opt.jobs; *p && ncounts < ARRAY_SIZE(counts); p = *end ? end + 1 : end)
    {
        counts[ncounts] = wcstoul(p, &end, 10);
        if (end == p || (ncounts && counts[ncounts] < counts[ncounts - 1])) fatal(S_OK, "bad --jobs");
        ncounts++;
    }
    if (!ncounts || !opt.repeat) fatal(S_OK, "bad --jobs or --repeat");
    create_manager();
    create_anchor();
    anchor_enumerator();
    sync_point("jobs0");
    for (c = 0; c < ncounts; c++)
    {
        start = now();
        for (i = made; i < counts[c]; i++) create_idle(i);
        elapsed = now() - start;
        json_begin(&json);
        json_str(&json, "phase", "create");
        json_uint(&json, "jobs", counts[c]);
        json_num(&json, "create_per_s", elapsed > 0 ? (counts[c] - made) / elapsed : 0);
        json_end(&json);
        made = counts[c];
        _snprintf(name, sizeof(name), "jobs%u", made);
        sync_point(name);
        for (rep = 0; rep < opt.repeat; rep++)
        {
            last = c == ncounts - 1 && rep == opt.repeat - 1;
            items = enumerate(&total, &reported, &cold_s);
            warm = enumerate(&warm_total, &warm_reported, &warm_s);
            release_items(warm, warm_total);
            free(warm);
            /* the last walk's jobs are the ones cancelled below */
            release_s = last ? -1 : release_items(items, total);
            json_begin(&json);
            json_str(&json, "phase", "enum");
            json_uint(&json, "jobs", made);
            json_uint(&json, "enumerated", total);
            if (opt.api != API_DOMGR) json_uint(&json, "count", reported);
            json_num(&json, "enum_s", cold_s);
            json_num(&json, "warm_s", warm_s);
            if (!last) json_num(&json, "release_s", release_s);
            json_end(&json);
            if (last) cancel_items(items, total);
            free(items);
        }
    }
    sync_point("done");
}

/* Cancels the jobs an earlier, interrupted run left behind (DoSvc keeps
 * BITS-style jobs across restarts): every job whose display name starts
 * with "bench".  IDOManager downloads made here are volatile and go away
 * with the service process. */
static void mode_cleanup(void)
{
    IEnumBackgroundCopyJobs *jobs;
    IBackgroundCopyJob *job;
    unsigned int cancelled = 0;
    WCHAR *name;
    HRESULT hr;
    struct json json;

    create_manager();
    if (opt.api != API_DOMGR)
    {
        if (FAILED(hr = IBackgroundCopyManager_EnumJobs(bits_manager, 0, &jobs))) fatal(hr, "EnumJobs");
        set_blanket(jobs);
        while (IEnumBackgroundCopyJobs_Next(jobs, 1, &job, NULL) == S_OK)
        {
            set_blanket(job);
            if (SUCCEEDED(IBackgroundCopyJob_GetDisplayName(job, &name)))
            {
                if (!wcsncmp(name, L"bench", 5) && SUCCEEDED(IBackgroundCopyJob_Cancel(job))) cancelled++;
                CoTaskMemFree(name);
            }
            /* kept, not released: see "the anchor" */
        }
    }
    json_begin(&json);
    json_uint(&json, "cancelled", cancelled);
    json_end(&json);
}

/* ------------------------------------------------------------ foreground share */

/* One download of fgshare: a BITS-style job or an IDOManager download. */
struct share_download
{
    IBackgroundCopyJob *job;
    IDODownload *download;
    WCHAR local[MAX_PATH];
};

static void share_start(struct share_download *d, const WCHAR *url, const WCHAR *name, BOOL foreground)
{
    DO_DOWNLOAD_RANGES_INFO whole;
    GUID id;
    HRESULT hr;

    _snwprintf(d->local, ARRAY_SIZE(d->local), L"%s\\%s", opt.out, name);
    d->local[ARRAY_SIZE(d->local) - 1] = 0;
    DeleteFileW(d->local);
    if (opt.api == API_DOMGR)
    {
        if (FAILED(hr = IDOManager_CreateDownload(do_manager, &d->download))) fatal(hr, "CreateDownload");
        set_blanket(d->download);
        if (FAILED(hr = set_property_string(d->download, DODownloadProperty_Uri, url))) fatal(hr, "Uri");
        if (FAILED(hr = set_property_string(d->download, DODownloadProperty_LocalPath, d->local)))
            fatal(hr, "LocalPath");
        if (FAILED(hr = set_property_bool(d->download, DODownloadProperty_ForegroundPriority, foreground)))
            fatal(hr, "ForegroundPriority");
        memset(&whole, 0, sizeof(whole));
        if (FAILED(hr = IDODownload_Start(d->download, &whole))) fatal(hr, "Start");
        return;
    }
    hr = IBackgroundCopyManager_CreateJob(bits_manager, L"bench-share", BG_JOB_TYPE_DOWNLOAD, &id, &d->job);
    if (FAILED(hr)) fatal(hr, "CreateJob");
    set_blanket(d->job);
    hr = IBackgroundCopyJob_SetPriority(d->job, foreground ? BG_JOB_PRIORITY_FOREGROUND : BG_JOB_PRIORITY_NORMAL);
    if (FAILED(hr)) fatal(hr, "SetPriority");
    if (FAILED(hr = add_job_file(d->job, url, d->local, 0, NULL, 0, 0))) fatal(hr, "adding the file");
    if (FAILED(hr = IBackgroundCopyJob_Resume(d->job))) fatal(hr, "Resume");
}

/* Bytes taken in so far; *running: still transferring. */
static UINT64 share_bytes(struct share_download *d, BOOL *running)
{
    DO_DOWNLOAD_STATUS status;
    BG_JOB_PROGRESS progress;
    BG_JOB_STATE state;

    if (d->download)
    {
        memset(&status, 0, sizeof(status));
        IDODownload_GetStatus(d->download, &status);
        if (running) *running = status.State == DODownloadState_Transferring;
        return status.BytesTransferred;
    }
    memset(&progress, 0, sizeof(progress));
    IBackgroundCopyJob_GetProgress(d->job, &progress);
    if (running)
    {
        IBackgroundCopyJob_GetState(d->job, &state);
        *running = state == BG_JOB_STATE_QUEUED || state == BG_JOB_STATE_TRANSFERRING;
    }
    return progress.BytesTransferred;
}

/* Waits until the download has taken in min bytes. */
static UINT64 share_wait(struct share_download *d, UINT64 min, const char *what)
{
    double end = now() + opt.timeout;
    UINT64 bytes;

    while ((bytes = share_bytes(d, NULL)) < min)
    {
        if (now() > end) fatal(E_FAIL, "%s stays at %I64u bytes", what, bytes);
        Sleep(1);
    }
    return bytes;
}

/* kept, not released: see "the anchor" */
static void share_end(struct share_download *d)
{
    if (d->download) IDODownload_Abort(d->download);
    if (d->job) IBackgroundCopyJob_Cancel(d->job);
    DeleteFileW(d->local);
}

/* A download of --url (--size bytes), foreground or not; once it has a
 * sixteenth of its bytes, two background downloads of --busy-url start
 * next to it.  The share of the bytes the service takes in that goes to
 * the first one, from then until it has half its bytes, and its MB/s
 * meanwhile.  (Background downloads started first would have their reads
 * of up to a MiB under way when the foreground one starts: at loopback
 * speeds those alone decide a short count.)  *overlapped: all three were
 * still running when the count was taken. */
static double share_run(BOOL foreground, double *mb_s, BOOL *overlapped)
{
    struct share_download bg[2] = { { 0 } }, fg = { 0 };
    UINT64 fg_before, fg_bytes, bg_bytes;
    BOOL bg_running[2];
    double start, end;
    unsigned int i;

    share_start(&fg, opt.url, L"share-fg.bin", foreground);
    fg_before = share_wait(&fg, opt.size / 16, "the measured download");
    start = now();
    for (i = 0; i < 2; i++) share_start(&bg[i], opt.busy_url, i ? L"share-bg1.bin" : L"share-bg0.bin", FALSE);
    fg_bytes = share_wait(&fg, opt.size / 2, "the measured download") - fg_before;
    bg_bytes = share_bytes(&bg[0], &bg_running[0]) + share_bytes(&bg[1], &bg_running[1]);
    end = now();
    share_bytes(&fg, overlapped);
    *overlapped = *overlapped && bg_running[0] && bg_running[1];
    share_end(&fg);
    for (i = 0; i < 2; i++) share_end(&bg[i]);
    *mb_s = fg_bytes / 1e6 / (end > start ? end - start : 1e-6);
    return (double)fg_bytes / (fg_bytes + bg_bytes);
}

static void mode_fgshare(void)
{
    double share, fair, mb_s, fair_mb_s;
    BOOL overlapped, fair_overlapped;
    struct json json;

    if (opt.api == API_BITS) unavailable(E_NOTIMPL, "fgshare measures DoSvc only");
    if (!opt.url || !opt.busy_url || !opt.out || !opt.size)
        fatal(E_INVALIDARG, "fgshare needs --url, --busy-url, --out and --size");
    create_manager();
    create_anchor();
    share = share_run(TRUE, &mb_s, &overlapped);
    fair = share_run(FALSE, &fair_mb_s, &fair_overlapped);
    json_begin(&json);
    json_num(&json, "share", share);
    json_num(&json, "share_background", fair);
    json_num(&json, "mb_s", mb_s);
    json_num(&json, "background_mb_s", fair_mb_s);
    /* FALSE: the measured download ended before the count was taken */
    json_bool(&json, "overlapped", overlapped && fair_overlapped);
    json_end(&json);
}

/* ------------------------------------------------------------ trusted root */

/* The https rows need a server certificate the prefix trusts: the bench's
 * own, put into the machine's root store for the run and taken out at the
 * end (the service checks chains against it like any Windows program). */
static void mode_trust(void)
{
    const CERT_CONTEXT *cert, *found;
    struct json json;
    HCERTSTORE store;
    DWORD size, read;
    HANDLE file;
    BYTE *der;
    BOOL ok;

    if (!opt.cert) fatal(E_INVALIDARG, "trust needs --cert");
    file = CreateFileW(opt.cert, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    if (file == INVALID_HANDLE_VALUE) fatal(HRESULT_FROM_WIN32(GetLastError()), "cannot open the certificate");
    size = GetFileSize(file, NULL);
    if (size == INVALID_FILE_SIZE || size > 65536 || !(der = malloc(size)) ||
        !ReadFile(file, der, size, &read, NULL) || read != size)
        fatal(E_FAIL, "cannot read the certificate");
    CloseHandle(file);
    if (!(cert = CertCreateCertificateContext(X509_ASN_ENCODING, der, size)))
        fatal(HRESULT_FROM_WIN32(GetLastError()), "not a DER certificate");
    store = CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, CERT_SYSTEM_STORE_LOCAL_MACHINE, L"Root");
    if (!store) fatal(HRESULT_FROM_WIN32(GetLastError()), "CertOpenStore(LocalMachine Root)");
    if (opt.remove)
    {
        ok = TRUE;
        while ((found = CertFindCertificateInStore(store, X509_ASN_ENCODING, 0, CERT_FIND_EXISTING, cert, NULL)))
            if (!(ok = CertDeleteCertificateFromStore(found))) break;
        if (!ok) fatal(HRESULT_FROM_WIN32(GetLastError()), "CertDeleteCertificateFromStore");
    }
    else if (!CertAddCertificateContextToStore(store, cert, CERT_STORE_ADD_REPLACE_EXISTING, NULL))
        fatal(HRESULT_FROM_WIN32(GetLastError()), "CertAddCertificateContextToStore");
    found = CertFindCertificateInStore(store, X509_ASN_ENCODING, 0, CERT_FIND_EXISTING, cert, NULL);
    json_begin(&json);
    json_bool(&json, "trusted", found != NULL);
    json_end(&json);
    if (found) CertFreeCertificateContext(found);
    CertFreeCertificateContext(cert);
    CertCloseStore(store, 0);
    free(der);
}

/* ------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr, "usage: bench_client probe|download|ranges|getstate|createcancel|enum|fgshare|trust "
            "--api bits|dosvc|domgr [options]\n(see the comment at the top of tools/bench_client.c)\n");
    ExitProcess(2);
}

static UINT64 number(const WCHAR *text)
{
    WCHAR *end;
    UINT64 value = _wcstoui64(text, &end, 10);

    if (end == text || *end) usage();
    return value;
}

int wmain(int argc, WCHAR **argv)
{
    static const char *modes[] = { "probe", "download", "ranges", "getstate", "createcancel", "enum",
                                   "cleanup", "fgshare", "trust" };
    char mode[32];
    const WCHAR *key, *value;
    unsigned int i;
    int arg;
    HRESULT hr;
    struct json json;

    /* "\n", not "\r\n": the shell side reads the lines as they are */
    _setmode(_fileno(stdout), _O_BINARY);
    if (argc < 2) usage();
    to_utf8(argv[1], mode, sizeof(mode));
    for (i = 0; i < ARRAY_SIZE(modes); i++) if (!strcmp(mode, modes[i])) opt.mode = modes[i];
    if (!opt.mode) usage();
    opt.api = API_DOSVC;
    opt.count = 1;
    opt.repeat = 1;
    opt.seconds = 2;
    opt.timeout = 600;
    for (arg = 2; arg + 1 < argc; arg += 2)
    {
        key = argv[arg];
        value = argv[arg + 1];
        if (!wcscmp(key, L"--api"))
        {
            if (!wcscmp(value, L"bits")) opt.api = API_BITS;
            else if (!wcscmp(value, L"dosvc")) opt.api = API_DOSVC;
            else if (!wcscmp(value, L"domgr")) opt.api = API_DOMGR;
            else usage();
        }
        else if (!wcscmp(key, L"--url")) opt.url = value;
        else if (!wcscmp(key, L"--src")) opt.src = value;
        else if (!wcscmp(key, L"--out")) opt.out = value;
        else if (!wcscmp(key, L"--busy-url")) opt.busy_url = value;
        else if (!wcscmp(key, L"--jobs")) opt.jobs = value;
        else if (!wcscmp(key, L"--sync")) opt.sync_dir = value;
        else if (!wcscmp(key, L"--cert")) opt.cert = value;
        else if (!wcscmp(key, L"--remove")) opt.remove = number(value) != 0;
        else if (!wcscmp(key, L"--count")) opt.count = number(value);
        else if (!wcscmp(key, L"--repeat")) opt.repeat = number(value);
        else if (!wcscmp(key, L"--ranges")) opt.ranges = number(value);
        else if (!wcscmp(key, L"--range-len")) opt.range_len = number(value);
        else if (!wcscmp(key, L"--stride")) opt.stride = number(value);
        else if (!wcscmp(key, L"--whole-url")) opt.whole_url = value;
        else if (!wcscmp(key, L"--whole-src")) opt.whole_src = value;
        else if (!wcscmp(key, L"--size")) opt.size = number(value);
        else if (!wcscmp(key, L"--seconds")) opt.seconds = _wtof(value);
        else if (!wcscmp(key, L"--timeout")) opt.timeout = _wtof(value);
        else usage();
    }
    if (arg != argc) usage();

    if (!strcmp(opt.mode, "trust"))
    {
        mode_trust();
        fflush(stdout);
        ExitProcess(0);
    }
    if (FAILED(hr = CoInitializeEx(NULL, COINIT_MULTITHREADED))) fatal(hr, "CoInitializeEx");
    /* let the service call the notification objects back */
    CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE,
                         NULL, EOAC_NONE, NULL);

    if (!strcmp(opt.mode, "probe"))
    {
        create_manager();
        json_begin(&json);
        json_bool(&json, "available", TRUE);
        json_end(&json);
    }
    else if (!strcmp(opt.mode, "download")) mode_download();
    else if (!strcmp(opt.mode, "ranges")) mode_ranges();
    else if (!strcmp(opt.mode, "getstate")) mode_getstate();
    else if (!strcmp(opt.mode, "createcancel")) mode_createcancel();
    else if (!strcmp(opt.mode, "cleanup")) mode_cleanup();
    else if (!strcmp(opt.mode, "fgshare")) mode_fgshare();
    else mode_enum();

    /* no Release and no CoUninitialize: see "the anchor" */
    cancel_anchor();
    fflush(stdout);
    ExitProcess(0);
}
