/*
 * What real Delivery Optimization clients do: Microsoft's DO SDK stream
 * download, Office Click-to-Run's File2 stream job with thousands of ranges,
 * stream sinks as clients write them, sizes, local paths, temp files removed
 * behind the service's back, foreground priority, and the BITS-era
 * interfaces older programs probe for
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
 * The two call sequences at the top reproduce, call for call, what
 * Microsoft's clients do (the facts come from microsoft/do-client's
 * sdk-cpp download_impl.cpp, and from Office's use of
 * IDeliveryOptimizationJob2 / IDeliveryOptimizationFile2); the code is
 * ours.  Expected values the documentation does not give say "[inferred]"
 * and are listed in docs/gaps.md.  Nothing here measures time: every wait
 * is for an event or a state, bounded by a generous limit that only guards
 * against a hang.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define CONST_VTABLE     /* the test objects' vtables are static const */
#include "dotest.h"

#define RANGES_SIZE(n) (FIELD_OFFSET(DO_DOWNLOAD_RANGES_INFO, Ranges) + (n) * sizeof(DO_DOWNLOAD_RANGE))
#define FILE_NOT_FOUND_HR HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)
#define INVALID_NAME_HR   HRESULT_FROM_WIN32(ERROR_INVALID_NAME)
#define TOO_LONG_HR       HRESULT_FROM_WIN32(ERROR_FILENAME_EXCED_RANGE)
#define PATH_NOT_FOUND_HR HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND)
#define WAIT_LIMIT        60000   /* only guards against a hang */

static IBackgroundCopyManager *bits;
static IDOManager *do_manager;
static struct httpd *httpd;

/* ------------------------------------------------------------------ helpers */

static const WCHAR *url_of(const char *path)
{
    static WCHAR buffers[4][512];
    static LONG next;
    WCHAR *buf = buffers[InterlockedIncrement(&next) & 3];

    make_url(buf, ARRAY_SIZE(buffers[0]), httpd, path);
    return buf;
}

/* A directory of the test's own under test_dir(), emptied and removed by remove_dir. */
static void make_dir(WCHAR *buf, size_t count, const WCHAR *name)
{
    make_test_path(buf, count, name);
    CreateDirectoryW(buf, NULL);
}

static void remove_dir(const WCHAR *dir)
{
    WIN32_FIND_DATAW data;
    WCHAR pattern[MAX_PATH], path[MAX_PATH];
    HANDLE find;

    swprintf(pattern, ARRAY_SIZE(pattern), L"%s\\*", dir);
    if ((find = FindFirstFileW(pattern, &data)) != INVALID_HANDLE_VALUE)
    {
        do
        {
            if (data.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) continue;
            swprintf(path, ARRAY_SIZE(path), L"%s\\%s", dir, data.cFileName);
            DeleteFileW(path);
        } while (FindNextFileW(find, &data));
        FindClose(find);
    }
    RemoveDirectoryW(dir);
}

/* The one DO*.tmp in dir, if there is exactly one. */
static BOOL find_temp(const WCHAR *dir, WCHAR *path, size_t count)
{
    WIN32_FIND_DATAW data;
    WCHAR pattern[MAX_PATH];
    unsigned int found = 0;
    HANDLE find;

    swprintf(pattern, ARRAY_SIZE(pattern), L"%s\\DO*.tmp", dir);
    if ((find = FindFirstFileW(pattern, &data)) == INVALID_HANDLE_VALUE) return FALSE;
    do
    {
        swprintf(path, count, L"%s\\%s", dir, data.cFileName);
        found++;
    } while (FindNextFileW(find, &data));
    FindClose(find);
    return found == 1;
}

static HRESULT set_unknown_prop(IDODownload *download, DODownloadProperty id, IUnknown *value)
{
    VARIANT v;

    V_VT(&v) = VT_UNKNOWN;
    V_UNKNOWN(&v) = value;
    return IDODownload_SetProperty(download, id, &v);
}

static HRESULT set_file_unknown(IDeliveryOptimizationFile2 *file, DOFilePropertyId id, IUnknown *value)
{
    VARIANT v;

    V_VT(&v) = VT_UNKNOWN;
    V_UNKNOWN(&v) = value;
    return IDeliveryOptimizationFile2_SetProperty(file, id, &v);
}

static HRESULT set_file_bstr(IDeliveryOptimizationFile2 *file, DOFilePropertyId id, const WCHAR *value)
{
    VARIANT v;
    HRESULT hr;

    V_VT(&v) = VT_BSTR;
    V_BSTR(&v) = SysAllocString(value);
    hr = IDeliveryOptimizationFile2_SetProperty(file, id, &v);
    VariantClear(&v);
    return hr;
}

static HRESULT get_ui8(IUnknown *obj, BOOL file2, int id, UINT64 *value)
{
    VARIANT v;
    HRESULT hr;

    *value = ~0ull;
    VariantInit(&v);
    if (file2) hr = IDeliveryOptimizationFile2_GetProperty((IDeliveryOptimizationFile2 *)obj, id, &v);
    else hr = IDODownload_GetProperty((IDODownload *)obj, id, &v);
    if (hr == S_OK && V_VT(&v) == VT_UI8) *value = V_UI8(&v);
    else if (hr == S_OK) hr = DISP_E_TYPEMISMATCH;
    VariantClear(&v);
    return hr;
}

static DO_DOWNLOAD_RANGES_INFO *make_ranges_info(UINT count, const BG_FILE_RANGE *ranges)
{
    DO_DOWNLOAD_RANGES_INFO *info = calloc(1, max(RANGES_SIZE(count), sizeof(*info)));
    UINT i;

    info->RangeCount = count;
    for (i = 0; i < count; i++)
    {
        info->Ranges[i].Offset = ranges[i].InitialOffset;
        info->Ranges[i].Length = ranges[i].Length;
    }
    return info;
}

static int compare_range(const void *a, const void *b)
{
    const BG_FILE_RANGE *x = a, *y = b;
    return x->InitialOffset < y->InitialOffset ? -1 : x->InitialOffset > y->InitialOffset;
}

/* Did the stream get exactly these ranges of the generated resource, back
 * to back in offset order (count 0: the whole resource)? */
#define check_stream(stream, name, size, count, ranges) check_stream_(__LINE__, stream, name, size, count, ranges)
static BOOL check_stream_(unsigned int line, struct mem_stream *stream, const char *name, UINT64 full_size,
                          UINT count, const BG_FILE_RANGE *ranges)
{
    BG_FILE_RANGE whole = { 0, full_size }, *sorted;
    UINT64 total = 0, pos = 0, length;
    unsigned char *want;
    SIZE_T bad = 0;
    BOOL match;
    UINT i;

    if (!count)
    {
        count = 1;
        ranges = &whole;
    }
    sorted = malloc(count * sizeof(*sorted));
    memcpy(sorted, ranges, count * sizeof(*sorted));
    qsort(sorted, count, sizeof(*sorted), compare_range);
    for (i = 0; i < count; i++)
        total += sorted[i].Length == BG_LENGTH_TO_EOF ? full_size - sorted[i].InitialOffset : sorted[i].Length;
    want = malloc(total ? total : 1);
    for (i = 0; i < count; i++)
    {
        length = sorted[i].Length == BG_LENGTH_TO_EOF ? full_size - sorted[i].InitialOffset : sorted[i].Length;
        httpd_pattern_fill(name, sorted[i].InitialOffset, want + pos, length);
        pos += length;
    }
    EnterCriticalSection(&stream->cs);
    while (bad < stream->size && bad < total && stream->data[bad] == want[bad]) bad++;
    match = stream->size == total && bad == total;
    ok_(__FILE__, line)(match, "%s: the stream got %Iu bytes in %ld writes, expected %I64u in offset order; "
                        "first bad byte at %Iu\n", name, stream->size, stream->writes, total, bad);
    LeaveCriticalSection(&stream->cs);
    free(want);
    free(sorted);
    return match;
}

/* Waits until the service let go of the stream (reference count back to ours). */
static BOOL wait_stream_released(struct mem_stream *stream)
{
    ULONGLONG end = GetTickCount64() + WAIT_LIMIT;

    while (InterlockedCompareExchange(&stream->ref, 0, 0) != 1 && GetTickCount64() < end) Sleep(20);
    return stream->ref == 1;
}

/* Polls GetStatus until the state is want or the download ends up in a
 * state it does not leave by itself; the status seen last goes to *status. */
static BOOL wait_dl(IDODownload *download, DODownloadState want, DO_DOWNLOAD_STATUS *status)
{
    ULONGLONG end = GetTickCount64() + WAIT_LIMIT;

    for (;;)
    {
        memset(status, 0, sizeof(*status));
        if (FAILED(IDODownload_GetStatus(download, status))) return FALSE;
        if (status->State == want) return TRUE;
        if (status->State == DODownloadState_Finalized || status->State == DODownloadState_Aborted ||
            (want != DODownloadState_Transferred && status->State == DODownloadState_Transferred) ||
            (status->State == DODownloadState_Paused && FAILED(status->Error)))
            return FALSE;
        if (GetTickCount64() >= end) return FALSE;
        Sleep(20);
    }
}

/* Waits until the download's BytesTransferred reaches min. */
static UINT64 wait_dl_bytes(IDODownload *download, UINT64 min)
{
    ULONGLONG end = GetTickCount64() + WAIT_LIMIT;
    DO_DOWNLOAD_STATUS status;

    for (;;)
    {
        memset(&status, 0, sizeof(status));
        IDODownload_GetStatus(download, &status);
        if (status.BytesTransferred >= min || GetTickCount64() >= end) return status.BytesTransferred;
        Sleep(20);
    }
}

static UINT64 dl_bytes(IDODownload *download)
{
    DO_DOWNLOAD_STATUS status;

    memset(&status, 0, sizeof(status));
    IDODownload_GetStatus(download, &status);
    return status.BytesTransferred;
}

static UINT64 job_bytes(IBackgroundCopyJob *job)
{
    BG_JOB_PROGRESS progress;

    memset(&progress, 0, sizeof(progress));
    IBackgroundCopyJob_GetProgress(job, &progress);
    return progress.BytesTransferred;
}

static UINT64 wait_job_bytes(IBackgroundCopyJob *job, UINT64 min)
{
    ULONGLONG end = GetTickCount64() + WAIT_LIMIT;
    UINT64 bytes;

    while ((bytes = job_bytes(job)) < min && GetTickCount64() < end) Sleep(20);
    return bytes;
}

/* A download of a loopback URL, cost policy "always" as a client on a
 * metered test machine sets it, and the caller's blanket. */
static IDODownload *new_download(const char *path)
{
    IDODownload *download;
    HRESULT hr;

    if (!(download = create_download(do_manager))) return NULL;
    set_impersonate(download);
    hr = set_bstr(download, DODownloadProperty_Uri, url_of(path));
    ok(hr == S_OK, "SetProperty(Uri): %#lx\n", hr);
    hr = set_ui4(download, DODownloadProperty_CostPolicy, DODownloadCostPolicy_Always);
    ok(hr == S_OK, "SetProperty(CostPolicy): %#lx\n", hr);
    return download;
}

/* IDeliveryOptimizationJob2::AddFile with IID_IDeliveryOptimizationFile2, as Office calls it. */
static IDeliveryOptimizationFile2 *add_file2(IBackgroundCopyJob *job, const WCHAR *file_id, const char *path,
                                             DWORD count, BG_FILE_RANGE *ranges)
{
    IDeliveryOptimizationFile2 *file = NULL;
    IDeliveryOptimizationJob2 *job2;
    HRESULT hr;

    if (!(job2 = query(job, &IID_IDeliveryOptimizationJob2, "IDeliveryOptimizationJob2", FALSE))) return NULL;
    hr = IDeliveryOptimizationJob2_AddFile(job2, file_id, url_of(path), count, ranges,
                                           &IID_IDeliveryOptimizationFile2, (void **)&file);
    ok(hr == S_OK && file, "AddFile(%u ranges, IID_IDeliveryOptimizationFile2): %#lx, %p\n", (UINT)count, hr, file);
    IDeliveryOptimizationJob2_Release(job2);
    if (file) set_impersonate(file);
    return hr == S_OK ? file : NULL;
}

/* ------------------------------------------------------------------ status callback (IDOManager) */

struct dl_callback
{
    IDODownloadStatusCallback IDODownloadStatusCallback_iface;
    LONG ref;
    LONG calls;
    LONG transferred;        /* calls that reported Transferred */
    HANDLE transferred_event;
};

static struct dl_callback *impl_from_IDODownloadStatusCallback(IDODownloadStatusCallback *iface)
{
    return CONTAINING_RECORD(iface, struct dl_callback, IDODownloadStatusCallback_iface);
}

static HRESULT WINAPI dl_callback_QueryInterface(IDODownloadStatusCallback *iface, REFIID riid, void **out)
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

static ULONG WINAPI dl_callback_AddRef(IDODownloadStatusCallback *iface)
{
    return InterlockedIncrement(&impl_from_IDODownloadStatusCallback(iface)->ref);
}

static ULONG WINAPI dl_callback_Release(IDODownloadStatusCallback *iface)
{
    return InterlockedDecrement(&impl_from_IDODownloadStatusCallback(iface)->ref);
}

static HRESULT WINAPI dl_callback_OnStatusChange(IDODownloadStatusCallback *iface, IDODownload *download,
                                                 const DO_DOWNLOAD_STATUS *status)
{
    struct dl_callback *cb = impl_from_IDODownloadStatusCallback(iface);

    InterlockedIncrement(&cb->calls);
    if (status && status->State == DODownloadState_Transferred)
    {
        InterlockedIncrement(&cb->transferred);
        SetEvent(cb->transferred_event);
    }
    return S_OK;
}

static const IDODownloadStatusCallbackVtbl dl_callback_vtbl =
{
    dl_callback_QueryInterface,
    dl_callback_AddRef,
    dl_callback_Release,
    dl_callback_OnStatusChange,
};

/* Never freed: the service may call a callback after the test let go of it. */
static struct dl_callback *new_dl_callback(void)
{
    struct dl_callback *cb = calloc(1, sizeof(*cb));

    cb->IDODownloadStatusCallback_iface.lpVtbl = &dl_callback_vtbl;
    cb->ref = 1;
    cb->transferred_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    return cb;
}

/* ------------------------------------------------------------------ job callback (BITS-style) */

struct job_callback
{
    IBackgroundCopyCallback IBackgroundCopyCallback_iface;
    LONG ref;
    LONG transferred;
    LONG errors;
    HANDLE event;            /* set by JobTransferred and JobError */
};

static struct job_callback *impl_from_IBackgroundCopyCallback(IBackgroundCopyCallback *iface)
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
    return InterlockedIncrement(&impl_from_IBackgroundCopyCallback(iface)->ref);
}

static ULONG WINAPI job_callback_Release(IBackgroundCopyCallback *iface)
{
    return InterlockedDecrement(&impl_from_IBackgroundCopyCallback(iface)->ref);
}

static HRESULT WINAPI job_callback_JobTransferred(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job)
{
    struct job_callback *cb = impl_from_IBackgroundCopyCallback(iface);

    InterlockedIncrement(&cb->transferred);
    SetEvent(cb->event);
    return S_OK;
}

static HRESULT WINAPI job_callback_JobError(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job,
                                            IBackgroundCopyError *error)
{
    struct job_callback *cb = impl_from_IBackgroundCopyCallback(iface);

    InterlockedIncrement(&cb->errors);
    SetEvent(cb->event);
    return S_OK;
}

static HRESULT WINAPI job_callback_JobModification(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job,
                                                   DWORD reserved)
{
    return S_OK;
}

static const IBackgroundCopyCallbackVtbl job_callback_vtbl =
{
    job_callback_QueryInterface,
    job_callback_AddRef,
    job_callback_Release,
    job_callback_JobTransferred,
    job_callback_JobError,
    job_callback_JobModification,
};

/* Never freed, as new_dl_callback. */
static struct job_callback *new_job_callback(void)
{
    struct job_callback *cb = calloc(1, sizeof(*cb));

    cb->IBackgroundCopyCallback_iface.lpVtbl = &job_callback_vtbl;
    cb->ref = 1;
    cb->event = CreateEventW(NULL, FALSE, FALSE, NULL);
    return cb;
}

/* ------------------------------------------------------------------ the two real call sequences */

/* Microsoft's DO SDK (sdk-cpp, download_impl.cpp) downloading into a
 * stream: CoCreateInstance(CLSID_DeliveryOptimization, LOCAL_SERVER,
 * IID_IDOManager), CreateDownload, CoSetProxyBlanket(IMPERSONATE,
 * STATIC_CLOAKING), SetProperty Uri, then the caller's CallbackInterface,
 * StreamInterface (its stream never writes *pcbWritten and only answers
 * Write), NoProgressTimeoutSeconds and ForegroundPriority; Start with the
 * ranges (for a stream, "whole file" is one range {0, DO_LENGTH_TO_EOF});
 * Transferred in the callback; Finalize. */
static void run_sdk_stream_download(const char *name, UINT64 size, UINT count, const BG_FILE_RANGE *ranges)
{
    struct mem_stream *stream = new_mem_stream();
    DO_DOWNLOAD_RANGES_INFO *info = make_ranges_info(count, ranges);
    struct dl_callback *cb = new_dl_callback();
    IDODownload *download = NULL;
    DO_DOWNLOAD_STATUS status;
    IDOManager *manager = NULL;
    char path[64];
    HRESULT hr;

    stream->count = STREAM_COUNT_UNTOUCHED;
    sprintf(path, "/%s", name);

    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER, &IID_IDOManager,
                          (void **)&manager);
    ok(hr == S_OK, "CoCreateInstance(IID_IDOManager): %#lx\n", hr);
    if (FAILED(hr)) goto done;
    hr = IDOManager_CreateDownload(manager, &download);
    ok(hr == S_OK && download, "CreateDownload: %#lx\n", hr);
    if (FAILED(hr)) goto done;
    /* the SDK gives up if this fails */
    hr = CoSetProxyBlanket((IUnknown *)download, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_NONE, COLE_DEFAULT_PRINCIPAL,
                           RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_STATIC_CLOAKING);
    ok(hr == S_OK, "SDK: CoSetProxyBlanket(download, IMPERSONATE, STATIC_CLOAKING): %#lx\n", hr);

    hr = set_bstr(download, DODownloadProperty_Uri, url_of(path));
    ok(hr == S_OK, "SDK: SetProperty(Uri): %#lx\n", hr);
    hr = set_unknown_prop(download, DODownloadProperty_CallbackInterface,
                          (IUnknown *)&cb->IDODownloadStatusCallback_iface);
    ok(hr == S_OK, "SDK: SetProperty(CallbackInterface): %#lx\n", hr);
    hr = set_unknown_prop(download, DODownloadProperty_StreamInterface, (IUnknown *)&stream->IStream_iface);
    ok(hr == S_OK, "SDK: SetProperty(StreamInterface): %#lx\n", hr);
    hr = set_ui4(download, DODownloadProperty_NoProgressTimeoutSeconds, 300);
    ok(hr == S_OK, "SDK: SetProperty(NoProgressTimeoutSeconds): %#lx\n", hr);
    hr = set_bool(download, DODownloadProperty_ForegroundPriority, TRUE);
    ok(hr == S_OK, "SDK: SetProperty(ForegroundPriority): %#lx\n", hr);
    hr = IDODownload_Start(download, info);
    ok(hr == S_OK, "SDK: Start(%u ranges): %#lx\n", count, hr);
    if (FAILED(hr)) goto done;

    ok(!WaitForSingleObject(cb->transferred_event, WAIT_LIMIT), "SDK: the callback never reported Transferred\n");
    get_dl_status(download, &status);
    ok(status.State == DODownloadState_Transferred && status.Error == S_OK,
       "SDK: state %s, error %#lx, extended %#lx\n", dl_state_name(status.State), status.Error, status.ExtendedError);
    ok(status.BytesTransferred == status.BytesTotal, "SDK: %I64u of %I64u bytes\n", status.BytesTransferred,
       status.BytesTotal);
    check_stream(stream, name, size, count, ranges);
    hr = IDODownload_Finalize(download);
    ok(hr == S_OK, "SDK: Finalize: %#lx\n", hr);
    ok(get_dl_state(download) == DODownloadState_Finalized, "SDK: not Finalized\n");
    ok(wait_stream_released(stream), "SDK: the stream still has %ld references after Finalize [inferred]\n",
       stream->ref - 1);
    ok(cb->transferred >= 1, "SDK: %ld calls reported Transferred\n", cb->transferred);

done:
    if (download) IDODownload_Release(download);
    if (manager) IDOManager_Release(manager);
    free(info);
}

static void test_sdk_stream_download(void)
{
    static const BG_FILE_RANGE whole[] = { { 0, BG_LENGTH_TO_EOF } };
    /* given out of order, and the last one to the end of the file */
    static const BG_FILE_RANGE ranges[] =
    {
        { 300 * KIB, BG_LENGTH_TO_EOF }, { 100, 5000 }, { 64 * KIB, 64 * KIB }, { 9000, 1 },
    };

    httpd_add_generated(httpd, "sdk-whole.bin", 700 * KIB + 3);
    httpd_add_generated(httpd, "sdk-ranges.bin", 512 * KIB + 17);
    run_sdk_stream_download("sdk-whole.bin", 700 * KIB + 3, ARRAY_SIZE(whole), whole);
    run_sdk_stream_download("sdk-ranges.bin", 512 * KIB + 17, ARRAY_SIZE(ranges), ranges);
}

/* Office Click-to-Run: CreateJob, QueryInterface(IDeliveryOptimizationJob2),
 * AddFile(fileId, url, 2,576 ranges, IID_IDeliveryOptimizationFile2), the
 * file's DownloadSinkInterface = its stream, SetNotifyInterface, Resume,
 * JobTransferred, Complete. */
#define OFFICE_RANGES 2576
#define OFFICE_SLOT   (16 * KIB)
#define OFFICE_SIZE   ((UINT64)OFFICE_RANGES * OFFICE_SLOT + 5000)

static void test_office_sequence(void)
{
    struct mem_stream *stream = new_mem_stream();
    IDeliveryOptimizationFile2 *file = NULL;
    BG_FILE_RANGE *ranges = malloc(OFFICE_RANGES * sizeof(*ranges));
    struct job_callback *cb = new_job_callback();
    IBackgroundCopyJob *job = NULL;
    BG_JOB_PROGRESS progress;
    BG_JOB_STATE state;
    UINT64 total = 0, size;
    HRESULT hr;
    UINT i;

    /* one range in every 16 KiB slot, of odd offsets and lengths, handed
     * over in a scrambled order (1031 is prime to 2,576) */
    for (i = 0; i < OFFICE_RANGES; i++)
    {
        UINT slot = (i * 1031) % OFFICE_RANGES;

        ranges[i].InitialOffset = (UINT64)slot * OFFICE_SLOT + (slot * 7919) % 8192;
        ranges[i].Length = 512 + (slot * 104729) % 7000;
        total += ranges[i].Length;
    }
    httpd_add_generated(httpd, "office.bin", OFFICE_SIZE);

    if (!(job = new_job(bits, L"dosvc-test-office", NULL))) goto done;
    if (!(file = add_file2(job, L"office-file-id", "/office.bin", OFFICE_RANGES, ranges))) goto done;
    hr = set_file_unknown(file, DOFilePropertyId_DownloadSinkInterface, (IUnknown *)&stream->IStream_iface);
    ok(hr == S_OK, "Office: SetProperty(DownloadSinkInterface): %#lx\n", hr);
    hr = IBackgroundCopyJob_SetNotifyInterface(job, (IUnknown *)&cb->IBackgroundCopyCallback_iface);
    ok(hr == S_OK, "Office: SetNotifyInterface: %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Office: Resume: %#lx\n", hr);

    ok(!WaitForSingleObject(cb->event, WAIT_LIMIT), "Office: no JobTransferred or JobError\n");
    ok(cb->transferred == 1 && !cb->errors, "Office: %ld JobTransferred, %ld JobError\n", cb->transferred, cb->errors);
    IBackgroundCopyJob_GetState(job, &state);
    ok(state == BG_JOB_STATE_TRANSFERRED, "Office: state %s\n", state_name(state));
    memset(&progress, 0, sizeof(progress));
    IBackgroundCopyJob_GetProgress(job, &progress);
    ok(progress.BytesTotal == total && progress.BytesTransferred == total,
       "Office: progress %I64u of %I64u, expected %I64u (the sum of the ranges)\n", progress.BytesTransferred,
       progress.BytesTotal, total);
    check_stream(stream, "office.bin", OFFICE_SIZE, OFFICE_RANGES, ranges);
    hr = get_ui8((IUnknown *)file, TRUE, DOFilePropertyId_TotalSizeBytes, &size);
    ok(hr == S_OK && size == OFFICE_SIZE, "Office: TotalSizeBytes %#lx, %I64u [inferred: the file's size]\n",
       hr, size);
    hr = IBackgroundCopyJob_Complete(job);
    ok(hr == S_OK, "Office: Complete: %#lx\n", hr);
    IBackgroundCopyJob_GetState(job, &state);
    ok(state == BG_JOB_STATE_ACKNOWLEDGED, "Office: state after Complete %s\n", state_name(state));
    ok(wait_stream_released(stream), "Office: the stream still has %ld references after Complete [inferred]\n",
       stream->ref - 1);

done:
    if (file) IDeliveryOptimizationFile2_Release(file);
    finish_job(job);
    free(ranges);
}

/* ------------------------------------------------------------------ stream sinks */

/* What a client's IStream::Write says decides: S_OK is every byte taken,
 * whatever *pcbWritten holds (a client may leave it alone, and across
 * processes the service cannot tell that from 0); a failure stops the
 * download with that error. */
static void test_stream_counts(void)
{
    static const struct
    {
        enum stream_count count;
        HRESULT fail_hr;
        const char *what;
    }
    tests[] =
    {
        { STREAM_COUNT_UNTOUCHED, S_OK, "*pcbWritten untouched" },
        { STREAM_COUNT_SHORT, S_OK, "S_OK with *pcbWritten half the size [inferred]" },
        { STREAM_COUNT_SET, HRESULT_FROM_WIN32(ERROR_DISK_FULL), "Write failing [inferred]" },
        { STREAM_COUNT_UNTOUCHED, STG_E_MEDIUMFULL, "Write failing, *pcbWritten untouched [inferred]" },
    };
    const UINT64 size = 300 * KIB + 1;
    IDeliveryOptimizationFile2 *file;
    IBackgroundCopyError *error;
    IBackgroundCopyFile *error_file;
    DO_DOWNLOAD_STATUS status;
    BG_ERROR_CONTEXT context;
    IBackgroundCopyJob *job;
    DO_DOWNLOAD_RANGES_INFO info;
    IDODownload *download;
    BG_JOB_STATE state;
    HRESULT hr, code;
    unsigned int i;

    httpd_add_generated(httpd, "counts.bin", size);
    memset(&info, 0, sizeof(info));
    for (i = 0; i < ARRAY_SIZE(tests); i++)
    {
        struct mem_stream *stream = new_mem_stream();

        winetest_push_context("IDODownload, %s", tests[i].what);
        stream->count = tests[i].count;
        stream->fail_hr = tests[i].fail_hr;
        stream->fail_at = 100 * KIB;
        if ((download = new_download("/counts.bin")))
        {
            hr = set_unknown_prop(download, DODownloadProperty_StreamInterface, (IUnknown *)&stream->IStream_iface);
            ok(hr == S_OK, "SetProperty(StreamInterface): %#lx\n", hr);
            hr = IDODownload_Start(download, &info);
            ok(hr == S_OK, "Start: %#lx\n", hr);
            if (tests[i].fail_hr == S_OK)
            {
                ok(wait_dl(download, DODownloadState_Transferred, &status), "state %s, error %#lx\n",
                   dl_state_name(status.State), status.Error);
                ok(status.BytesTransferred == size, "BytesTransferred %I64u\n", status.BytesTransferred);
                check_stream(stream, "counts.bin", size, 0, NULL);
            }
            else
            {
                ok(!wait_dl(download, DODownloadState_Transferred, &status) &&
                   status.State == DODownloadState_Paused && status.Error == tests[i].fail_hr,
                   "state %s, error %#lx, extended %#lx; expected Paused with the stream's %#lx\n",
                   dl_state_name(status.State), status.Error, status.ExtendedError, tests[i].fail_hr);
                EnterCriticalSection(&stream->cs);
                ok(status.BytesTransferred == stream->size && stream->size <= stream->fail_at,
                   "BytesTransferred %I64u, the stream took %Iu\n", status.BytesTransferred, stream->size);
                LeaveCriticalSection(&stream->cs);
            }
            finish_download(download);
        }
        ok(wait_stream_released(stream), "the stream still has %ld references\n", stream->ref - 1);
        winetest_pop_context();
    }

    /* the same through IDeliveryOptimizationFile2 */
    for (i = 0; i < ARRAY_SIZE(tests); i += 2)
    {
        struct mem_stream *stream = new_mem_stream();

        winetest_push_context("File2, %s", tests[i].what);
        stream->count = tests[i].count;
        stream->fail_hr = tests[i].fail_hr;
        stream->fail_at = 100 * KIB;
        if ((job = new_job(bits, L"dosvc-test-counts", NULL)) &&
            (file = add_file2(job, L"counts", "/counts.bin", 0, NULL)))
        {
            hr = set_file_unknown(file, DOFilePropertyId_DownloadSinkInterface, (IUnknown *)&stream->IStream_iface);
            ok(hr == S_OK, "SetProperty(DownloadSinkInterface): %#lx\n", hr);
            hr = IBackgroundCopyJob_Resume(job);
            ok(hr == S_OK, "Resume: %#lx\n", hr);
            if (tests[i].fail_hr == S_OK)
            {
                state = wait_for_state(job, BG_JOB_STATE_TRANSFERRED, WAIT_LIMIT);
                ok(state == BG_JOB_STATE_TRANSFERRED, "state %s\n", state_name(state));
                check_stream(stream, "counts.bin", size, 0, NULL);
            }
            else
            {
                state = wait_for_state(job, BG_JOB_STATE_ERROR, WAIT_LIMIT);
                ok(state == BG_JOB_STATE_ERROR, "state %s\n", state_name(state));
                error = NULL;
                hr = IBackgroundCopyJob_GetError(job, &error);
                ok(hr == S_OK, "GetError: %#lx\n", hr);
                if (error)
                {
                    code = S_OK;
                    IBackgroundCopyError_GetError(error, &context, &code);
                    ok(code == tests[i].fail_hr && context == BG_ERROR_CONTEXT_NONE,
                       "error %#lx context %d, expected the stream's %#lx\n", code, context, tests[i].fail_hr);
                    error_file = NULL;
                    hr = IBackgroundCopyError_GetFile(error, &error_file);
                    ok(hr == S_OK && error_file, "GetFile: %#lx\n", hr);
                    if (error_file) IBackgroundCopyFile_Release(error_file);
                    IBackgroundCopyError_Release(error);
                }
            }
            IDeliveryOptimizationFile2_Release(file);
        }
        finish_job(job);
        ok(wait_stream_released(stream), "the stream still has %ld references after Cancel [inferred]\n",
           stream->ref - 1);
        winetest_pop_context();
    }
}

/* DownloadSinkInterface of IDeliveryOptimizationFile2: set, read back,
 * refused where another sink or the bytes already decided, and what a file
 * without a local name answers. */
static void test_file2_stream_sink(void)
{
    static BG_FILE_RANGE ranges[] = { { 40000, 3000 }, { 10, 20 }, { 70000, 100 } };
    struct mem_stream *stream = new_mem_stream(), *other = new_mem_stream();
    IDeliveryOptimizationFile2 *file = NULL, *pathed = NULL;
    IBackgroundCopyFile *bg_file = NULL;
    IUnknown *unk, *identity;
    BG_FILE_PROGRESS progress;
    IBackgroundCopyJob *job;
    WCHAR path[MAX_PATH], *name;
    BG_JOB_STATE state;
    UINT64 size;
    VARIANT v;
    HRESULT hr;

    httpd_add_generated(httpd, "sink.bin", 80000);
    make_test_path(path, ARRAY_SIZE(path), L"sink-path.bin");
    if (!(job = new_job(bits, L"dosvc-test-sink", NULL))) return;
    if (!(file = add_file2(job, L"sink", "/sink.bin", ARRAY_SIZE(ranges), ranges))) goto done;
    if (!(pathed = add_file2(job, L"pathed", "/sink.bin", 0, NULL))) goto done;

    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file, DOFilePropertyId_DownloadSinkInterface, &v);
    ok(hr == E_NOT_SET, "GetProperty(DownloadSinkInterface) never set: %#lx\n", hr);
    hr = set_file_bstr(file, DOFilePropertyId_DownloadSinkInterface, L"x");
    ok(hr == E_INVALIDARG, "[inferred] SetProperty(DownloadSinkInterface, VT_BSTR): %#lx\n", hr);
    hr = set_file_unknown(file, DOFilePropertyId_DownloadSinkInterface, plain_unknown());
    ok(hr == E_NOINTERFACE, "[inferred] SetProperty(DownloadSinkInterface, not an IStream): %#lx\n", hr);

    /* one sink per file, whichever comes first */
    hr = set_file_bstr(pathed, DOFilePropertyId_DownloadSinkFilePath, path);
    ok(hr == S_OK, "SetProperty(DownloadSinkFilePath): %#lx\n", hr);
    hr = set_file_unknown(pathed, DOFilePropertyId_DownloadSinkInterface, (IUnknown *)&other->IStream_iface);
    ok(hr == DO_E_FILE_DOWNLOADSINK_ALREADY_SET, "[inferred] DownloadSinkInterface after DownloadSinkFilePath: %#lx\n",
       hr);
    hr = set_file_unknown(file, DOFilePropertyId_DownloadSinkInterface, (IUnknown *)&stream->IStream_iface);
    ok(hr == S_OK, "SetProperty(DownloadSinkInterface): %#lx\n", hr);
    make_test_path(path, ARRAY_SIZE(path), L"sink-other.bin");
    hr = set_file_bstr(file, DOFilePropertyId_DownloadSinkFilePath, path);
    ok(hr == DO_E_FILE_DOWNLOADSINK_ALREADY_SET, "[inferred] DownloadSinkFilePath after DownloadSinkInterface: %#lx\n",
       hr);

    /* read back: the client's own object, with a reference for the caller */
    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file, DOFilePropertyId_DownloadSinkInterface, &v);
    ok(hr == S_OK && V_VT(&v) == VT_UNKNOWN && V_UNKNOWN(&v), "GetProperty(DownloadSinkInterface): %#lx, vt %d\n",
       hr, V_VT(&v));
    if (hr == S_OK && V_VT(&v) == VT_UNKNOWN && V_UNKNOWN(&v))
    {
        unk = identity = NULL;
        IUnknown_QueryInterface(V_UNKNOWN(&v), &IID_IUnknown, (void **)&unk);
        IStream_QueryInterface(&stream->IStream_iface, &IID_IUnknown, (void **)&identity);
        ok(unk == identity, "[inferred] GetProperty(DownloadSinkInterface) gave %p, not the stream %p\n", unk, identity);
        if (unk) IUnknown_Release(unk);
        if (identity) IUnknown_Release(identity);
    }
    VariantClear(&v);
    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file, DOFilePropertyId_DownloadSinkFilePath, &v);
    ok(hr == E_NOT_SET, "[inferred] GetProperty(DownloadSinkFilePath) of a stream file: %#lx\n", hr);
    VariantClear(&v);
    if ((bg_file = query(file, &IID_IBackgroundCopyFile, "IBackgroundCopyFile", FALSE)))
    {
        name = NULL;
        hr = IBackgroundCopyFile_GetLocalName(bg_file, &name);
        ok(hr == DO_E_LOCALPATH_NOT_SET, "[inferred] GetLocalName of a stream file: %#lx, %s\n", hr, dbgstr_w(name));
        CoTaskMemFree(name);
    }

    /* NULL takes it back; then it is set again */
    hr = set_file_unknown(file, DOFilePropertyId_DownloadSinkInterface, NULL);
    ok(hr == S_OK, "[inferred] SetProperty(DownloadSinkInterface, NULL): %#lx\n", hr);
    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file, DOFilePropertyId_DownloadSinkInterface, &v);
    ok(hr == E_NOT_SET, "[inferred] GetProperty(DownloadSinkInterface) after NULL: %#lx\n", hr);
    VariantClear(&v);
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == DO_E_FILE_DOWNLOADSINK_UNSPECIFIED, "[inferred] Resume with a file without a sink: %#lx\n", hr);
    hr = set_file_unknown(file, DOFilePropertyId_DownloadSinkInterface, (IUnknown *)&stream->IStream_iface);
    ok(hr == S_OK, "SetProperty(DownloadSinkInterface) again: %#lx\n", hr);

    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume: %#lx\n", hr);
    state = wait_for_state(job, BG_JOB_STATE_TRANSFERRED, WAIT_LIMIT);
    ok(state == BG_JOB_STATE_TRANSFERRED, "state %s\n", state_name(state));
    check_stream(stream, "sink.bin", 80000, ARRAY_SIZE(ranges), ranges);

    /* the bytes went to this stream: no other sink now */
    hr = set_file_unknown(file, DOFilePropertyId_DownloadSinkInterface, (IUnknown *)&other->IStream_iface);
    ok(hr == DO_E_INVALID_STATE, "[inferred] DownloadSinkInterface once transferred: %#lx\n", hr);
    hr = get_ui8((IUnknown *)file, TRUE, DOFilePropertyId_TotalSizeBytes, &size);
    ok(hr == S_OK && size == 80000, "[inferred] TotalSizeBytes once known: %#lx, %I64u\n", hr, size);
    if (bg_file)
    {
        memset(&progress, 0xcc, sizeof(progress));
        IBackgroundCopyFile_GetProgress(bg_file, &progress);
        ok(progress.BytesTotal == 3120 && progress.BytesTransferred == 3120 && !progress.Completed,
           "progress before Complete: %I64u of %I64u, completed %d\n", progress.BytesTransferred,
           progress.BytesTotal, progress.Completed);
    }
    hr = IBackgroundCopyJob_Complete(job);
    ok(hr == S_OK, "Complete of a job with a stream file: %#lx\n", hr);
    if (bg_file)
    {
        memset(&progress, 0xcc, sizeof(progress));
        IBackgroundCopyFile_GetProgress(bg_file, &progress);
        ok(progress.Completed, "[inferred] a stream file is Completed after Complete\n");
    }
    ok(!file_exists(path), "Complete made a local file\n");
    ok(wait_stream_released(stream), "[inferred] the stream still has %ld references after Complete\n",
       stream->ref - 1);
    ok(other->ref == 1, "the refused stream has %ld references\n", other->ref - 1);

done:
    if (bg_file) IBackgroundCopyFile_Release(bg_file);
    if (file) IDeliveryOptimizationFile2_Release(file);
    if (pathed) IDeliveryOptimizationFile2_Release(pathed);
    finish_job(job);
}

/* ------------------------------------------------------------------ sizes */

/* TotalSizeBytes of both generations and BITS-style BytesTotal once the
 * server gave the size, with nothing set by the client. */
static void test_total_size(void)
{
    static BG_FILE_RANGE ranges[] = { { 1000, 2000 }, { 50000, 10 } };
    const UINT64 size = 123457;
    DO_DOWNLOAD_RANGES_INFO *info = make_ranges_info(ARRAY_SIZE(ranges), ranges);
    IDODownload *download;
    IBackgroundCopyJob *job;
    IBackgroundCopyFile *bg_file;
    IDeliveryOptimizationFile2 *file2;
    DO_DOWNLOAD_STATUS status;
    BG_FILE_PROGRESS file_progress;
    BG_JOB_PROGRESS progress;
    WCHAR dir[MAX_PATH], path[MAX_PATH];
    BG_JOB_STATE state;
    UINT64 value;
    unsigned int ranged;
    HRESULT hr;

    httpd_add_generated(httpd, "size.bin", size);
    make_dir(dir, ARRAY_SIZE(dir), L"size");
    for (ranged = 0; ranged < 2; ranged++)
    {
        winetest_push_context(ranged ? "ranged" : "whole");
        if ((download = new_download("/size.bin")))
        {
            swprintf(path, ARRAY_SIZE(path), L"%s\\dl-%u.bin", dir, ranged);
            hr = set_bstr(download, DODownloadProperty_LocalPath, path);
            ok(hr == S_OK, "SetProperty(LocalPath): %#lx\n", hr);
            hr = get_ui8((IUnknown *)download, FALSE, DODownloadProperty_TotalSizeBytes, &value);
            ok(hr == E_NOT_SET, "TotalSizeBytes before the server told: %#lx\n", hr);
            if (ranged) hr = IDODownload_Start(download, info);
            else
            {
                DO_DOWNLOAD_RANGES_INFO none = { 0 };
                hr = IDODownload_Start(download, &none);
            }
            ok(hr == S_OK, "Start: %#lx\n", hr);
            ok(wait_dl(download, DODownloadState_Transferred, &status), "state %s, error %#lx\n",
               dl_state_name(status.State), status.Error);
            hr = get_ui8((IUnknown *)download, FALSE, DODownloadProperty_TotalSizeBytes, &value);
            ok(hr == S_OK && value == size, "[inferred] IDODownload TotalSizeBytes once known: %#lx, %I64u\n",
               hr, value);
            ok(status.BytesTotal == (ranged ? 2010 : size), "BytesTotal %I64u\n", status.BytesTotal);
            finish_download(download);
        }

        if ((job = new_job(bits, L"dosvc-test-size", NULL)))
        {
            swprintf(path, ARRAY_SIZE(path), L"%s\\job-%u.bin", dir, ranged);
            hr = add_file(job, url_of("/size.bin"), path, ranged ? ARRAY_SIZE(ranges) : 0, ranged ? ranges : NULL);
            ok(hr == S_OK, "AddFileWithRanges: %#lx\n", hr);
            hr = IBackgroundCopyJob_Resume(job);
            ok(hr == S_OK, "Resume: %#lx\n", hr);
            state = wait_for_state(job, BG_JOB_STATE_TRANSFERRED, WAIT_LIMIT);
            ok(state == BG_JOB_STATE_TRANSFERRED, "state %s\n", state_name(state));
            memset(&progress, 0xcc, sizeof(progress));
            IBackgroundCopyJob_GetProgress(job, &progress);
            ok(progress.BytesTotal == (ranged ? 2010 : size) && progress.BytesTransferred == progress.BytesTotal,
               "job progress %I64u of %I64u\n", progress.BytesTransferred, progress.BytesTotal);
            if ((bg_file = get_file(job, 0)))
            {
                memset(&file_progress, 0xcc, sizeof(file_progress));
                IBackgroundCopyFile_GetProgress(bg_file, &file_progress);
                ok(file_progress.BytesTotal == (ranged ? 2010 : size), "file BytesTotal %I64u\n",
                   file_progress.BytesTotal);
                if ((file2 = query(bg_file, &IID_IDeliveryOptimizationFile2, "IDeliveryOptimizationFile2", FALSE)))
                {
                    hr = get_ui8((IUnknown *)file2, TRUE, DOFilePropertyId_TotalSizeBytes, &value);
                    ok(hr == S_OK && value == size, "[inferred] File2 TotalSizeBytes once known: %#lx, %I64u\n",
                       hr, value);
                    IDeliveryOptimizationFile2_Release(file2);
                }
                IBackgroundCopyFile_Release(bg_file);
            }
            finish_job(job);
        }
        winetest_pop_context();
    }
    free(info);
    remove_dir(dir);
}

/* ------------------------------------------------------------------ local paths */

/* Every way a client names a local file, with the names CreateFile refuses
 * and what each API answers for them: IDODownload's LocalPath (syntax at
 * SetProperty, the file system at Start, which makes missing directories),
 * IDeliveryOptimizationFile2's DownloadSinkFilePath, and the local names of
 * IDeliveryOptimizationJob::AddFileWithRanges and IBackgroundCopyJob::AddFile. */
static void test_local_paths(void)
{
    struct path_case
    {
        WCHAR *path;
        HRESULT syntax;          /* what the syntax check answers, or S_OK */
        HRESULT fs;              /* then what the file system answers (not for IDODownload's SetProperty) */
        HRESULT dl_start;        /* IDODownload's Start */
        const char *what;
        const char *note;
    };
    struct path_case cases[32];
    static const WCHAR bad_chars[] = L"<>:\"|?*\x01\x1f";
    IDeliveryOptimizationFile2 *file2;
    IDeliveryOptimizationJob *do_job;
    IBackgroundCopyJob *job = NULL, *job2 = NULL;
    DO_DOWNLOAD_RANGES_INFO none = { 0 };
    WCHAR dir[MAX_PATH], *p;
    IDODownload *download;
    unsigned int i, count = 0;
    HRESULT hr;

    make_dir(dir, ARRAY_SIZE(dir), L"paths");
#define CASE(str, s, f, d, w, n) do { \
        cases[count].path = str; cases[count].syntax = s; cases[count].fs = f; cases[count].dl_start = d; \
        cases[count].what = w; cases[count].note = n; count++; } while (0)
#define DIRPATH(fmt, ...) (p = malloc(66000 * sizeof(WCHAR)), swprintf(p, 66000, fmt, dir, ##__VA_ARGS__), p)

    CASE(wcsdup(L"?f309adfasdf///dfasdfj39fjasldfjasdf///           ///.1"), INVALID_NAME_HR, S_OK, S_OK,
         "Microsoft's malformed path", " [inferred: one of the three codes DoSvc gives Microsoft's test]");
    CASE(wcsdup(L""), E_INVALIDARG, S_OK, S_OK, "empty", " [inferred]");
    CASE(wcsdup(L"paths\\relative.bin"), E_INVALIDARG, S_OK, S_OK, "relative", " [inferred]");
    CASE(wcsdup(L"C:relative.bin"), E_INVALIDARG, S_OK, S_OK, "drive-relative", " [inferred]");
    CASE(wcsdup(L"\\rooted.bin"), E_INVALIDARG, S_OK, S_OK, "rooted without a drive", " [inferred]");
    for (i = 0; bad_chars[i]; i++)
        CASE(DIRPATH(L"%s\\bad%cname.bin", bad_chars[i]), INVALID_NAME_HR, S_OK, S_OK,
             bad_chars[i] < 32 ? "a control character" : "a character Win32 names may not hold", " [inferred]");
    CASE(DIRPATH(L"%s\\%0300d.bin", 7), TOO_LONG_HR, S_OK, S_OK, "a 304-character name", " [inferred]");
    p = malloc(34000 * sizeof(WCHAR));
    swprintf(p, 34000, L"\\\\?\\%s\\", dir);
    for (i = lstrlenW(p); i < 33000; i++) p[i] = (i % 200) ? 'a' : '\\';
    lstrcpyW(p + i, L"\\x.bin");
    CASE(p, TOO_LONG_HR, S_OK, S_OK, "a path of 33,000 characters", " [inferred]");
    CASE(wcsdup(L"\\\\.\\C:\\device.bin"), INVALID_NAME_HR, S_OK, S_OK, "a \\\\.\\ device path", " [inferred]");
    CASE(DIRPATH(L"%s\\trailing\\"), INVALID_NAME_HR, S_OK, S_OK, "no name after the last separator", " [inferred]");
    CASE(DIRPATH(L"\\\\?\\%s\\long-form.bin"), S_OK, S_OK, S_OK, "a \\\\?\\ path", "");
    CASE(DIRPATH(L"%s/forward/../slashes.bin"), S_OK, S_OK, S_OK, "forward slashes and ..", "");
    CASE(DIRPATH(L"%s"), S_OK, E_ACCESSDENIED, E_ACCESSDENIED, "an existing directory", " [inferred]");
    CASE(DIRPATH(L"%s\\missing\\x.bin"), S_OK, PATH_NOT_FOUND_HR, S_OK, "a missing directory", " [inferred]");
#undef CASE
#undef DIRPATH

    if (!(job = new_job(bits, L"dosvc-test-paths", NULL)) || !(job2 = new_job(bits, L"dosvc-test-paths2", NULL)))
        goto done;
    do_job = query(job, &IID_IDeliveryOptimizationJob, "IDeliveryOptimizationJob", FALSE);
    for (i = 0; i < count; i++)
    {
        HRESULT want = FAILED(cases[i].syntax) ? cases[i].syntax : cases[i].fs;

        winetest_push_context("%s", cases[i].what);
        if (do_job)
        {
            hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"id", url_of("/paths.bin"), cases[i].path,
                                                            0, NULL, DO_UNKNOWN_FILE_SIZE);
            ok(hr == want, "AddFileWithRanges: %#lx, expected %#lx%s\n", hr, want,
               want == S_OK || (!cases[i].path[0]) ? "" : cases[i].note);
        }
        hr = IBackgroundCopyJob_AddFile(job, url_of("/paths.bin"), cases[i].path);
        ok(hr == want, "[inferred] IBackgroundCopyJob::AddFile: %#lx, expected %#lx\n", hr, want);
        if ((file2 = add_file2(job2, L"id", "/paths.bin", 0, NULL)))
        {
            hr = set_file_bstr(file2, DOFilePropertyId_DownloadSinkFilePath, cases[i].path);
            ok(hr == want, "[inferred] SetProperty(DownloadSinkFilePath): %#lx, expected %#lx\n", hr, want);
            IDeliveryOptimizationFile2_Release(file2);
        }
        /* IDODownload: the syntax at SetProperty, the rest at Start (which makes directories) */
        if ((download = new_download("/paths.bin?status=404")))
        {
            hr = set_bstr(download, DODownloadProperty_LocalPath, cases[i].path);
            ok(hr == cases[i].syntax, "IDODownload SetProperty(LocalPath): %#lx, expected %#lx%s\n", hr,
               cases[i].syntax, cases[i].syntax == S_OK ? "" : cases[i].note);
            if (hr == S_OK)
            {
                hr = IDODownload_Start(download, &none);
                ok(hr == cases[i].dl_start, "IDODownload Start: %#lx, expected %#lx%s\n", hr, cases[i].dl_start,
                   cases[i].dl_start == S_OK ? "" : cases[i].note);
            }
            finish_download(download);
        }
        winetest_pop_context();
    }
    if (do_job) IDeliveryOptimizationJob_Release(do_job);

done:
    finish_job(job);
    finish_job(job2);
    for (i = 0; i < count; i++) free(cases[i].path);
    /* what the IDODownload Starts made */
    make_test_path(dir, ARRAY_SIZE(dir), L"paths\\missing");
    remove_dir(dir);
    make_test_path(dir, ARRAY_SIZE(dir), L"paths\\forward");
    remove_dir(dir);
    make_test_path(dir, ARRAY_SIZE(dir), L"paths");
    remove_dir(dir);
}

/* ------------------------------------------------------------------ temp files deleted behind the service's back */

#define TEMP_SIZE (1024 * KIB)
#define TEMP_SLOW "/temp.bin?rate=131072"     /* 8 s for the file: it is surely still running */

/* An IDODownload whose temp file is deleted while it is Paused (then Start)
 * or while it transfers: Paused with Error ERROR_FILE_NOT_FOUND, as Windows
 * reports it; the next Start downloads the file again from its first byte. */
static void run_temp_deleted_download(const WCHAR *dir, BOOL paused)
{
    DO_DOWNLOAD_RANGES_INFO none = { 0 };
    WCHAR local[MAX_PATH], temp[MAX_PATH];
    DO_DOWNLOAD_STATUS status;
    IDODownload *download;
    UINT64 bad;
    HRESULT hr;

    winetest_push_context("IDODownload, deleted while %s", paused ? "paused" : "transferring");
    swprintf(local, ARRAY_SIZE(local), L"%s\\dl-%u.bin", dir, paused);
    if (!(download = new_download(TEMP_SLOW))) goto done;
    hr = set_bstr(download, DODownloadProperty_LocalPath, local);
    ok(hr == S_OK, "SetProperty(LocalPath): %#lx\n", hr);
    hr = IDODownload_Start(download, &none);
    ok(hr == S_OK, "Start: %#lx\n", hr);
    ok(wait_dl_bytes(download, 1) > 0, "no byte arrived\n");
    if (paused)
    {
        hr = IDODownload_Pause(download);
        ok(hr == S_OK, "Pause: %#lx\n", hr);
        ok(wait_dl(download, DODownloadState_Paused, &status) && status.Error == S_OK, "state %s, error %#lx\n",
           dl_state_name(status.State), status.Error);
    }
    ok(find_temp(dir, temp, ARRAY_SIZE(temp)), "no DO*.tmp in the directory\n");
    ok(DeleteFileW(temp), "DeleteFile(%s): %lu\n", dbgstr_w(temp), GetLastError());
    if (paused)
    {
        hr = IDODownload_Start(download, NULL);
        ok(hr == S_OK, "Start(NULL) to resume: %#lx\n", hr);
    }
    ok(!wait_dl(download, DODownloadState_Transferred, &status) && status.State == DODownloadState_Paused &&
       status.Error == FILE_NOT_FOUND_HR, "%sstate %s, error %#lx, extended %#lx; expected Paused with %#lx\n",
       paused ? "" : "[inferred] ", dl_state_name(status.State), status.Error, status.ExtendedError,
       FILE_NOT_FOUND_HR);
    ok(status.BytesTransferred == 0, "[inferred] BytesTransferred %I64u once the bytes are gone\n",
       status.BytesTransferred);

    /* the next Start fetches it again, here from a faster URL */
    hr = set_bstr(download, DODownloadProperty_Uri, url_of("/temp.bin"));
    ok(hr == S_OK, "SetProperty(Uri) in Paused: %#lx\n", hr);
    hr = IDODownload_Start(download, NULL);
    ok(hr == S_OK, "Start(NULL) after the error: %#lx\n", hr);
    ok(wait_dl(download, DODownloadState_Transferred, &status), "[inferred] after the error: state %s, error %#lx\n",
       dl_state_name(status.State), status.Error);
    hr = IDODownload_Finalize(download);
    ok(hr == S_OK, "Finalize: %#lx\n", hr);
    ok(file_matches_pattern(local, "temp.bin", TEMP_SIZE, 0, NULL, &bad), "the file is wrong from byte %I64u\n", bad);

done:
    finish_download(download);
    winetest_pop_context();
}

/* The same for a BITS-style job: ERROR with ERROR_FILE_NOT_FOUND, tied to
 * the file; Resume downloads it again. */
static void run_temp_deleted_job(const WCHAR *dir, BOOL suspended)
{
    WCHAR local[MAX_PATH], temp[MAX_PATH], *name;
    IBackgroundCopyFile2 *file2 = NULL;
    IBackgroundCopyFile3 *file3 = NULL;
    IBackgroundCopyFile *error_file, *bg_file;
    IBackgroundCopyError *error;
    IBackgroundCopyJob *job;
    BG_ERROR_CONTEXT context;
    BG_JOB_STATE state;
    HRESULT hr, code;
    UINT64 bad;

    winetest_push_context("job, deleted while %s", suspended ? "suspended" : "transferring");
    swprintf(local, ARRAY_SIZE(local), L"%s\\job-%u.bin", dir, suspended);
    if (!(job = new_job(bits, L"dosvc-test-temp", NULL))) goto done;
    hr = add_file(job, url_of(TEMP_SLOW), local, 0, NULL);
    ok(hr == S_OK, "AddFileWithRanges: %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume: %#lx\n", hr);
    ok(wait_job_bytes(job, 1) > 0, "no byte arrived\n");
    if (suspended)
    {
        hr = IBackgroundCopyJob_Suspend(job);
        ok(hr == S_OK, "Suspend: %#lx\n", hr);
    }
    if ((bg_file = get_file(job, 0)))
    {
        file2 = query(bg_file, &IID_IBackgroundCopyFile2, "IBackgroundCopyFile2", TRUE);
        IBackgroundCopyFile_Release(bg_file);
    }
    if (file2 && (file3 = query(file2, &IID_IBackgroundCopyFile3, "IBackgroundCopyFile3", FALSE)))
    {
        name = NULL;
        hr = IBackgroundCopyFile3_GetTemporaryName(file3, &name);
        ok(hr == S_OK && name, "GetTemporaryName: %#lx\n", hr);
        ok(find_temp(dir, temp, ARRAY_SIZE(temp)) && name && !_wcsicmp(temp, name),
           "GetTemporaryName %s, the directory holds %s\n", dbgstr_w(name), dbgstr_w(temp));
        CoTaskMemFree(name);
    }
    else ok(find_temp(dir, temp, ARRAY_SIZE(temp)), "no DO*.tmp in the directory\n");
    ok(DeleteFileW(temp), "DeleteFile(%s): %lu\n", dbgstr_w(temp), GetLastError());
    if (suspended)
    {
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume: %#lx\n", hr);
    }
    state = wait_for_state(job, BG_JOB_STATE_ERROR, WAIT_LIMIT);
    ok(state == BG_JOB_STATE_ERROR, "[inferred] state %s\n", state_name(state));
    error = NULL;
    hr = IBackgroundCopyJob_GetError(job, &error);
    ok(hr == S_OK, "GetError: %#lx\n", hr);
    if (error)
    {
        code = S_OK;
        IBackgroundCopyError_GetError(error, &context, &code);
        ok(code == FILE_NOT_FOUND_HR && context == BG_ERROR_CONTEXT_NONE, "[inferred] error %#lx, context %d\n",
           code, context);
        error_file = NULL;
        hr = IBackgroundCopyError_GetFile(error, &error_file);
        ok(hr == S_OK && error_file, "[inferred] GetFile: %#lx\n", hr);
        if (error_file) IBackgroundCopyFile_Release(error_file);
        IBackgroundCopyError_Release(error);
    }
    ok(job_bytes(job) == 0, "[inferred] %I64u bytes counted once they are gone\n", job_bytes(job));

    if (file2)
    {
        hr = IBackgroundCopyFile2_SetRemoteName(file2, url_of("/temp.bin"));
        ok(hr == S_OK, "SetRemoteName: %#lx\n", hr);
    }
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume after the error: %#lx\n", hr);
    state = wait_for_state(job, BG_JOB_STATE_TRANSFERRED, WAIT_LIMIT);
    ok(state == BG_JOB_STATE_TRANSFERRED, "[inferred] after the error: state %s\n", state_name(state));
    hr = IBackgroundCopyJob_Complete(job);
    ok(hr == S_OK, "Complete: %#lx\n", hr);
    ok(file_matches_pattern(local, "temp.bin", TEMP_SIZE, 0, NULL, &bad), "the file is wrong from byte %I64u\n", bad);

done:
    if (file3) IBackgroundCopyFile3_Release(file3);
    if (file2) IBackgroundCopyFile2_Release(file2);
    finish_job(job);
    winetest_pop_context();
}

static void test_temp_deleted(void)
{
    WCHAR dir[MAX_PATH];

    httpd_add_generated(httpd, "temp.bin", TEMP_SIZE);
    make_dir(dir, ARRAY_SIZE(dir), L"temp");
    run_temp_deleted_download(dir, TRUE);
    run_temp_deleted_download(dir, FALSE);
    run_temp_deleted_job(dir, TRUE);
    run_temp_deleted_job(dir, FALSE);
    remove_dir(dir);
}

/* ------------------------------------------------------------------ foreground priority */

#define SHARED_RATE 4194304        /* the bottleneck all three downloads share */
#define FG_SIZE     (8 * MIB)

/* A foreground download next to two background ones that share one
 * bottleneck with it (the server's shared_rate): BITS and DO give
 * background transfers only idle bandwidth, so the foreground one must get
 * nearly all of what arrives while it runs.  Shared fairly it would get a
 * third; the check asks for three quarters, counted in bytes the service
 * took in, not in time.  The count ends while the foreground download still
 * has half its bytes to go, which the bottleneck makes last a second at
 * least: what the background ones take in once it is over (the bytes their
 * connections held meanwhile) is not part of it. */
static void test_foreground(void)
{
    DO_DOWNLOAD_RANGES_INFO none = { 0 };
    IDODownload *bg[2] = { NULL }, *fg = NULL;
    DO_DOWNLOAD_STATUS status;
    WCHAR dir[MAX_PATH], local[MAX_PATH];
    UINT64 before, fg_bytes, bg_bytes, bg0_after;
    char path[64];
    double share;
    unsigned int i;
    HRESULT hr;

    httpd_add_generated(httpd, "background.bin", 1024ull * MIB);
    httpd_add_generated(httpd, "foreground.bin", FG_SIZE);
    make_dir(dir, ARRAY_SIZE(dir), L"foreground");
    sprintf(path, "/background.bin?shared_rate=%u", SHARED_RATE);
    for (i = 0; i < 2; i++)
    {
        if (!(bg[i] = new_download(path))) goto done;
        swprintf(local, ARRAY_SIZE(local), L"%s\\bg%u.bin", dir, i);
        set_bstr(bg[i], DODownloadProperty_LocalPath, local);
        hr = IDODownload_Start(bg[i], &none);
        ok(hr == S_OK, "Start of background download %u: %#lx\n", i, hr);
    }
    /* both are under way and share the bottleneck */
    for (i = 0; i < 2; i++)
        ok(wait_dl_bytes(bg[i], 256 * KIB) >= 256 * KIB, "background download %u does not progress\n", i);

    sprintf(path, "/foreground.bin?shared_rate=%u", SHARED_RATE);
    if (!(fg = new_download(path))) goto done;
    swprintf(local, ARRAY_SIZE(local), L"%s\\fg.bin", dir);
    set_bstr(fg, DODownloadProperty_LocalPath, local);
    hr = set_bool(fg, DODownloadProperty_ForegroundPriority, TRUE);
    ok(hr == S_OK, "SetProperty(ForegroundPriority): %#lx\n", hr);
    before = dl_bytes(bg[0]) + dl_bytes(bg[1]);
    hr = IDODownload_Start(fg, &none);
    ok(hr == S_OK, "Start of the foreground download: %#lx\n", hr);

    fg_bytes = wait_dl_bytes(fg, FG_SIZE / 2);
    bg_bytes = dl_bytes(bg[0]) + dl_bytes(bg[1]) - before;
    get_dl_status(fg, &status);
    if (fg_bytes < FG_SIZE / 2)
        ok(0, "the foreground download is stuck at %I64u bytes\n", fg_bytes);
    else if (status.State != DODownloadState_Transferring)
        skip("the foreground download ended before the count was taken (%s)\n", dl_state_name(status.State));
    else
    {
        share = (double)fg_bytes / (fg_bytes + bg_bytes);
        ok(share > 0.75, "the foreground download got %.1f%% of the bytes (%I64u, the background ones %I64u)\n",
           share * 100, fg_bytes, bg_bytes);
        trace("foreground share %.1f%%: %I64u bytes, the background ones %I64u meanwhile\n", share * 100, fg_bytes,
              bg_bytes);
    }
    ok(wait_dl(fg, DODownloadState_Transferred, &status), "foreground download: state %s, error %#lx\n",
       dl_state_name(status.State), status.Error);

    /* and the background ones go on afterwards */
    bg0_after = dl_bytes(bg[0]);
    ok(wait_dl_bytes(bg[0], bg0_after + MIB) >= bg0_after + MIB, "the background download stays stuck\n");

done:
    finish_download(fg);
    for (i = 0; i < 2; i++) finish_download(bg[i]);
    remove_dir(dir);
}

/* ------------------------------------------------------------------ BITS-era interfaces */

/* IBackgroundCopyJob2/3/4 and IBackgroundCopyFile3/4: undocumented for DO,
 * but programs written for BITS probe them ("BITS 2.0 or later" is a
 * QueryInterface for IBackgroundCopyJob3) and call them through the
 * proxies Wine's qmgrprxy (jobs) and our dosvcps (files) register. */
static void test_bits_versions(void)
{
    static BG_FILE_RANGE ranges[] = { { 0, 100 }, { 500, 100 } };
    IBackgroundCopyJob2 *job2 = NULL;
    IBackgroundCopyJob3 *job3 = NULL;
    IBackgroundCopyJob4 *job4 = NULL;
    IBackgroundCopyFile3 *file3 = NULL;
    IBackgroundCopyFile4 *file4 = NULL;
    IBackgroundCopyFile2 *file2 = NULL;
    IBackgroundCopyFile *bg_file;
    IUnknown *identity = NULL, *unk;
    IBackgroundCopyJob *job;
    WCHAR local[MAX_PATH], *program, *params, *name;
    BG_FILE_RANGE *got_ranges;
    UINT64 origin, peers;
    DWORD flags, count;
    ULONG value;
    BOOL flag;
    HRESULT hr;

    httpd_add_generated(httpd, "versions.bin", 1000);
    make_test_path(local, ARRAY_SIZE(local), L"versions.bin");
    if (!(job = new_job(bits, L"dosvc-test-versions", NULL))) return;
    IBackgroundCopyJob_QueryInterface(job, &IID_IUnknown, (void **)&identity);
    job2 = query(job, &IID_IBackgroundCopyJob2, "IBackgroundCopyJob2", FALSE);
    job3 = query(job, &IID_IBackgroundCopyJob3, "IBackgroundCopyJob3", FALSE);
    job4 = query(job, &IID_IBackgroundCopyJob4, "IBackgroundCopyJob4", FALSE);
    if (job4)
    {
        unk = NULL;
        IBackgroundCopyJob4_QueryInterface(job4, &IID_IUnknown, (void **)&unk);
        ok(unk == identity, "IBackgroundCopyJob4 is another object (%p, %p)\n", unk, identity);
        if (unk) IUnknown_Release(unk);
    }

    if (job2)
    {
        hr = IBackgroundCopyJob2_SetNotifyCmdLine(job2, L"C:\\windows\\system32\\cmd.exe", L"cmd.exe /c exit");
        ok(hr == S_OK, "IBackgroundCopyJob2::SetNotifyCmdLine: %#lx\n", hr);
        program = params = NULL;
        hr = IBackgroundCopyJob2_GetNotifyCmdLine(job2, &program, &params);
        ok(hr == S_OK && program && params && !wcscmp(program, L"C:\\windows\\system32\\cmd.exe") &&
           !wcscmp(params, L"cmd.exe /c exit"), "IBackgroundCopyJob2::GetNotifyCmdLine: %#lx, %s, %s\n", hr,
           dbgstr_w(program), dbgstr_w(params));
        CoTaskMemFree(program);
        CoTaskMemFree(params);
    }
    if (job3)
    {
        hr = IBackgroundCopyJob3_SetFileACLFlags(job3, BG_COPY_FILE_OWNER);
        ok(hr == S_OK, "IBackgroundCopyJob3::SetFileACLFlags: %#lx\n", hr);
        flags = 0;
        hr = IBackgroundCopyJob3_GetFileACLFlags(job3, &flags);
        ok(hr == S_OK && flags == BG_COPY_FILE_OWNER, "IBackgroundCopyJob3::GetFileACLFlags: %#lx, %#lx\n", hr, flags);
        hr = IBackgroundCopyJob3_AddFileWithRanges(job3, url_of("/versions.bin"), local, ARRAY_SIZE(ranges), ranges);
        ok(hr == S_OK, "IBackgroundCopyJob3::AddFileWithRanges: %#lx\n", hr);
    }
    if (job4)
    {
        hr = IBackgroundCopyJob4_SetMaximumDownloadTime(job4, 3600);
        ok(hr == S_OK, "IBackgroundCopyJob4::SetMaximumDownloadTime: %#lx\n", hr);
        value = 0;
        hr = IBackgroundCopyJob4_GetMaximumDownloadTime(job4, &value);
        ok(hr == S_OK && value == 3600, "IBackgroundCopyJob4::GetMaximumDownloadTime: %#lx, %lu\n", hr, value);
        value = 0;
        hr = IBackgroundCopyJob4_GetOwnerIntegrityLevel(job4, &value);
        ok(hr == S_OK, "IBackgroundCopyJob4::GetOwnerIntegrityLevel: %#lx\n", hr);
        hr = IBackgroundCopyJob4_GetOwnerElevationState(job4, &flag);
        ok(hr == S_OK, "IBackgroundCopyJob4::GetOwnerElevationState: %#lx\n", hr);
        hr = IBackgroundCopyJob4_GetPeerCachingFlags(job4, &flags);
        ok(hr == S_OK, "IBackgroundCopyJob4::GetPeerCachingFlags: %#lx\n", hr);
    }

    if (job3 && (bg_file = get_file(job, 0)))
    {
        file2 = query(bg_file, &IID_IBackgroundCopyFile2, "IBackgroundCopyFile2", TRUE);
        IBackgroundCopyFile_Release(bg_file);
    }
    if (file2)
    {
        count = 0;
        got_ranges = NULL;
        hr = IBackgroundCopyFile2_GetFileRanges(file2, &count, &got_ranges);
        ok(hr == S_OK && count == 2, "GetFileRanges of the IBackgroundCopyJob3 file: %#lx, %lu\n", hr, count);
        CoTaskMemFree(got_ranges);
        file3 = query(file2, &IID_IBackgroundCopyFile3, "IBackgroundCopyFile3", FALSE);
        file4 = query(file2, &IID_IBackgroundCopyFile4, "IBackgroundCopyFile4", FALSE);
        if (file3)
        {
            name = NULL;
            hr = IBackgroundCopyFile3_GetTemporaryName(file3, &name);
            ok(hr == S_OK && name && wcsstr(name, L".tmp"), "IBackgroundCopyFile3::GetTemporaryName: %#lx, %s\n",
               hr, dbgstr_w(name));
            CoTaskMemFree(name);
            flag = TRUE;
            hr = IBackgroundCopyFile3_IsDownloadedFromPeer(file3, &flag);
            ok(hr == S_OK && !flag, "IBackgroundCopyFile3::IsDownloadedFromPeer: %#lx, %d\n", hr, flag);
        }
        if (file4)
        {
            origin = peers = ~0ull;
            hr = IBackgroundCopyFile4_GetPeerDownloadStats(file4, &origin, &peers);
            ok(hr == S_OK && origin == 0 && peers == 0, "IBackgroundCopyFile4::GetPeerDownloadStats: %#lx, %I64u, %I64u\n",
               hr, origin, peers);
        }
        IBackgroundCopyFile2_Release(file2);
    }

    if (file3) IBackgroundCopyFile3_Release(file3);
    if (file4) IBackgroundCopyFile4_Release(file4);
    if (job2) IBackgroundCopyJob2_Release(job2);
    if (job3) IBackgroundCopyJob3_Release(job3);
    if (job4) IBackgroundCopyJob4_Release(job4);
    if (identity) IUnknown_Release(identity);
    finish_job(job);
}

START_TEST(clients)
{
    HRESULT hr;

    hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);
    ok(hr == S_OK || hr == S_FALSE, "CoInitializeEx: %#lx\n", hr);
    /* the service calls the streams and callbacks of this process */
    hr = CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE,
                              NULL, EOAC_NONE, NULL);
    ok(hr == S_OK || hr == RPC_E_TOO_LATE, "CoInitializeSecurity: %#lx\n", hr);
    if (!(bits = create_manager()))
    {
        CoUninitialize();
        return;
    }
    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER, &IID_IDOManager,
                          (void **)&do_manager);
    ok(hr == S_OK, "CoCreateInstance(IID_IDOManager): %#lx\n", hr);
    if (!(httpd = httpd_start()))
    {
        ok(0, "cannot start the loopback HTTP server\n");
        IBackgroundCopyManager_Release(bits);
        CoUninitialize();
        return;
    }
    set_impersonate(bits);
    if (do_manager) set_impersonate(do_manager);

    if (do_manager) test_sdk_stream_download();
    test_office_sequence();
    if (do_manager) test_stream_counts();
    test_file2_stream_sink();
    if (do_manager) test_total_size();
    if (do_manager) test_local_paths();
    if (do_manager) test_temp_deleted();
    if (do_manager) test_foreground();
    test_bits_versions();

    httpd_stop(httpd);
    if (do_manager) IDOManager_Release(do_manager);
    IBackgroundCopyManager_Release(bits);
    remove_test_dir();
    CoUninitialize();
}
