/*
 * Helpers shared by the Delivery Optimization conformance tests.
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define CONST_VTABLE     /* the test objects' vtables are static const */
#include "dotest.h"

IBackgroundCopyManager *create_manager(void)
{
    IBackgroundCopyManager *manager = NULL;
    HRESULT hr;

    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER,
                          &IID_IBackgroundCopyManager, (void **)&manager);
    if (FAILED(hr))
    {
        win_skip("cannot create the DO manager: %#lx\n", hr);
        return NULL;
    }
    return manager;
}

IBackgroundCopyJob *create_job(IBackgroundCopyManager *manager, const WCHAR *prefix, GUID *id)
{
    static LONG counter;
    IBackgroundCopyJob *job = NULL;
    WCHAR name[128];
    GUID job_id;
    HRESULT hr;

    swprintf(name, ARRAY_SIZE(name), L"%s-%lu-%ld", prefix, GetCurrentProcessId(),
             InterlockedIncrement(&counter));
    hr = IBackgroundCopyManager_CreateJob(manager, name, BG_JOB_TYPE_DOWNLOAD, &job_id, &job);
    ok(hr == S_OK, "CreateJob failed: %#lx\n", hr);
    if (id) *id = job_id;
    return SUCCEEDED(hr) ? job : NULL;
}

HRESULT add_file(IBackgroundCopyJob *job, const WCHAR *url, const WCHAR *local_name,
                 DWORD range_count, BG_FILE_RANGE *ranges)
{
    IDeliveryOptimizationJob *do_job;
    HRESULT hr;

    hr = IBackgroundCopyJob_QueryInterface(job, &IID_IDeliveryOptimizationJob, (void **)&do_job);
    ok(hr == S_OK, "QueryInterface(IDeliveryOptimizationJob) failed: %#lx\n", hr);
    if (FAILED(hr)) return hr;
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, url, url, local_name, range_count,
                                                    ranges, DO_UNKNOWN_FILE_SIZE);
    IDeliveryOptimizationJob_Release(do_job);
    return hr;
}

BG_JOB_STATE wait_for_state(IBackgroundCopyJob *job, BG_JOB_STATE want, DWORD timeout_ms)
{
    ULONGLONG end = GetTickCount64() + hang_bound(timeout_ms);
    BG_JOB_STATE state = BG_JOB_STATE_CANCELLED;
    HRESULT hr;

    for (;;)
    {
        hr = IBackgroundCopyJob_GetState(job, &state);
        if (FAILED(hr))
        {
            ok(0, "GetState failed: %#lx\n", hr);
            return state;
        }
        if (state == want || GetTickCount64() >= end) return state;
        Sleep(10);
    }
}

const char *state_name(BG_JOB_STATE state)
{
    static const char *names[] =
    {
        "QUEUED", "CONNECTING", "TRANSFERRING", "SUSPENDED", "ERROR",
        "TRANSIENT_ERROR", "TRANSFERRED", "ACKNOWLEDGED", "CANCELLED",
    };
    return (unsigned int)state < ARRAY_SIZE(names) ? names[state] : "(invalid)";
}

void make_url(WCHAR *buf, size_t count, struct httpd *httpd, const char *path)
{
    swprintf(buf, count, L"http://127.0.0.1:%u%S", httpd_port(httpd), path);
}

static WCHAR dir_path[MAX_PATH];

const WCHAR *test_dir(void)
{
    WCHAR tmp[MAX_PATH];

    if (!dir_path[0])
    {
        GetTempPathW(ARRAY_SIZE(tmp), tmp);
        swprintf(dir_path, ARRAY_SIZE(dir_path), L"%sdosvc-test-%lu-%lu", tmp,
                 GetCurrentProcessId(), GetTickCount());
        CreateDirectoryW(dir_path, NULL);
    }
    return dir_path;
}

void make_test_path(WCHAR *buf, size_t count, const WCHAR *name)
{
    swprintf(buf, count, L"%s\\%s", test_dir(), name);
}

void remove_test_dir(void)
{
    WIN32_FIND_DATAW data;
    WCHAR pattern[MAX_PATH], path[MAX_PATH];
    HANDLE find;

    if (!dir_path[0]) return;
    swprintf(pattern, ARRAY_SIZE(pattern), L"%s\\*", dir_path);
    if ((find = FindFirstFileW(pattern, &data)) != INVALID_HANDLE_VALUE)
    {
        do
        {
            if (data.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) continue;
            swprintf(path, ARRAY_SIZE(path), L"%s\\%s", dir_path, data.cFileName);
            DeleteFileW(path);
        } while (FindNextFileW(find, &data));
        FindClose(find);
    }
    RemoveDirectoryW(dir_path);
    dir_path[0] = 0;
}

BOOL file_exists(const WCHAR *path)
{
    return GetFileAttributesW(path) != INVALID_FILE_ATTRIBUTES;
}

unsigned int count_files(const WCHAR *dir, const WCHAR *wildcard)
{
    WIN32_FIND_DATAW data;
    WCHAR pattern[MAX_PATH];
    unsigned int count = 0;
    HANDLE find;

    swprintf(pattern, ARRAY_SIZE(pattern), L"%s\\%s", dir, wildcard);
    if ((find = FindFirstFileW(pattern, &data)) == INVALID_HANDLE_VALUE) return 0;
    do count++; while (FindNextFileW(find, &data));
    FindClose(find);
    return count;
}

/* Compare in blocks: downloads in the tests go up to hundreds of MiB. */
BOOL file_matches_pattern(const WCHAR *path, const char *name, UINT64 full_size,
                          DWORD range_count, const BG_FILE_RANGE *ranges, UINT64 *bad_offset)
{
    const DWORD block = 1 << 20;
    BG_FILE_RANGE whole = { 0, full_size };
    unsigned char *got = malloc(block), *want = malloc(block);
    UINT64 local = 0, expected_size = 0;
    LARGE_INTEGER size;
    BOOL match = TRUE;
    HANDLE file;
    DWORD i, n;

    *bad_offset = 0;
    if (!range_count)
    {
        range_count = 1;
        ranges = &whole;
    }
    file = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL,
                       OPEN_EXISTING, 0, NULL);
    if (file == INVALID_HANDLE_VALUE || !got || !want)
    {
        if (file != INVALID_HANDLE_VALUE) CloseHandle(file);
        free(got);
        free(want);
        return FALSE;
    }
    for (i = 0; i < range_count && match; i++)
    {
        UINT64 length = ranges[i].Length == BG_LENGTH_TO_EOF ? full_size - ranges[i].InitialOffset
                                                             : ranges[i].Length;
        UINT64 done = 0;

        expected_size += length;
        while (done < length && match)
        {
            DWORD chunk = length - done < block ? (DWORD)(length - done) : block;

            if (!ReadFile(file, got, chunk, &n, NULL) || n != chunk)
            {
                match = FALSE;
                *bad_offset = local;
                break;
            }
            httpd_pattern_fill(name, ranges[i].InitialOffset + done, want, chunk);
            if (memcmp(got, want, chunk))
            {
                DWORD j = 0;
                while (got[j] == want[j]) j++;
                *bad_offset = local + j;
                match = FALSE;
            }
            done += chunk;
            local += chunk;
        }
    }
    if (match && GetFileSizeEx(file, &size) && (UINT64)size.QuadPart != expected_size)
    {
        *bad_offset = expected_size;
        match = FALSE;
    }
    CloseHandle(file);
    free(got);
    free(want);
    return match;
}

/* ---- shared by the API tests (moved here from manager.c, job.c, file.c, transfer.c, callback.c) ---- */

BOOL null_arg_hr(HRESULT hr)
{
    return hr == E_INVALIDARG || hr == NULL_REF_HR;
}

const char *dbgstr_w(const WCHAR *str)
{
    static char buffers[8][300];
    static LONG next;
    char *buf;

    if (!str) return "(null)";
    buf = buffers[InterlockedIncrement(&next) & 7];
    buf[0] = '"';
    if (!WideCharToMultiByte(CP_UTF8, 0, str, -1, buf + 1, sizeof(buffers[0]) - 6, NULL, NULL))
        strcpy(buf + sizeof(buffers[0]) - 6, "...");
    strcat(buf, "\"");
    return buf;
}

const char *dbgstr_guid(const GUID *id)
{
    static char buffers[8][40];
    static LONG next;
    char *buf;

    if (!id) return "(null)";
    buf = buffers[InterlockedIncrement(&next) & 7];
    sprintf(buf, "{%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x}",
            (unsigned long)id->Data1, id->Data2, id->Data3, id->Data4[0], id->Data4[1],
            id->Data4[2], id->Data4[3], id->Data4[4], id->Data4[5], id->Data4[6], id->Data4[7]);
    return buf;
}

/* IBackgroundCopyJob::GetError and IBackgroundCopyError::GetError in one;
 * returns the HRESULT of the first call that failed, or S_OK. */
HRESULT get_job_error(IBackgroundCopyJob *job, BG_ERROR_CONTEXT *context, HRESULT *code)
{
    IBackgroundCopyError *error;
    BG_ERROR_CONTEXT ctx = (BG_ERROR_CONTEXT)-1;
    HRESULT hr, err = S_OK;

    if (context) *context = ctx;
    if (code) *code = S_OK;
    hr = IBackgroundCopyJob_GetError(job, &error);
    if (FAILED(hr)) return hr;
    hr = IBackgroundCopyError_GetError(error, &ctx, &err);
    IBackgroundCopyError_Release(error);
    if (context) *context = ctx;
    if (code) *code = err;
    return hr;
}

/* Microsoft's own clients let the service impersonate them, and give up
 * when that fails (winget throws, the DO SDK fails the download). */
HRESULT set_impersonate_(const char *file, int line, void *proxy)
{
    HRESULT hr = CoSetProxyBlanket(proxy, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_NONE, COLE_DEFAULT_PRINCIPAL,
                                   RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_DEFAULT);

    ok_(file, line)(hr == S_OK, "CoSetProxyBlanket(IMPERSONATE): %#lx\n", hr);
    return hr;
}

/* CreateJob, and let the service impersonate us on that proxy, as
 * Microsoft's clients do. */
IBackgroundCopyJob *new_job(IBackgroundCopyManager *manager, const WCHAR *prefix, GUID *id)
{
    IBackgroundCopyJob *job = create_job(manager, prefix, id);

    if (job) set_impersonate(job);
    return job;
}

/* QueryInterface that must succeed; the result gets the same blanket. */
void *query(void *obj, REFIID riid, const char *name, BOOL documented)
{
    void *out = NULL;
    HRESULT hr;

    hr = IUnknown_QueryInterface((IUnknown *)obj, riid, &out);
    ok(hr == S_OK, "%sQueryInterface(%s): got %#lx\n", documented ? "" : "[inferred] ", name, hr);
    if (FAILED(hr)) return NULL;
    set_impersonate(out);
    return out;
}

/* The index'th file of the job (enumeration order), or NULL. */
IBackgroundCopyFile *get_file(IBackgroundCopyJob *job, ULONG index)
{
    IEnumBackgroundCopyFiles *enum_files;
    IBackgroundCopyFile *file = NULL;
    HRESULT hr;

    hr = IBackgroundCopyJob_EnumFiles(job, &enum_files);
    ok(hr == S_OK, "EnumFiles: got %#lx\n", hr);
    if (FAILED(hr)) return NULL;
    if (index) IEnumBackgroundCopyFiles_Skip(enum_files, index);
    hr = IEnumBackgroundCopyFiles_Next(enum_files, 1, &file, NULL);
    ok(hr == S_OK, "Next for file %lu: got %#lx\n", index, hr);
    IEnumBackgroundCopyFiles_Release(enum_files);
    if (hr != S_OK) return NULL;
    set_impersonate(file);
    return file;
}

/* Cancels the job unless it already ended, then releases it. */
void finish_job(IBackgroundCopyJob *job)
{
    BG_JOB_STATE state;
    HRESULT hr;

    if (!job) return;
    if (SUCCEEDED(IBackgroundCopyJob_GetState(job, &state)) && state != BG_JOB_STATE_ACKNOWLEDGED &&
        state != BG_JOB_STATE_CANCELLED)
    {
        hr = IBackgroundCopyJob_Cancel(job);
        ok(hr == S_OK, "Cancel in %s failed: %#lx\n", state_name(state), hr);
    }
    IBackgroundCopyJob_Release(job);
}

/* ---- shared by the IDOManager tests (download.c, download_props.c) ---- */

const char *dl_state_name(DODownloadState state)
{
    static const char *names[] =
    {
        "Created", "Transferring", "Transferred", "Finalized", "Aborted", "Paused",
    };
    return (unsigned int)state < ARRAY_SIZE(names) ? names[state] : "(invalid)";
}

void get_dl_status_(unsigned int line, IDODownload *download, DO_DOWNLOAD_STATUS *status)
{
    HRESULT hr;

    memset(status, 0xcc, sizeof(*status));
    hr = IDODownload_GetStatus(download, status);
    ok_(__FILE__, line)(hr == S_OK, "GetStatus failed: %#lx\n", hr);
    if (hr != S_OK)
    {
        memset(status, 0, sizeof(*status));
        status->State = (DODownloadState)-1;
    }
}

DODownloadState get_dl_state_(unsigned int line, IDODownload *download)
{
    DO_DOWNLOAD_STATUS status;

    get_dl_status_(line, download, &status);
    return status.State;
}

IDODownload *create_download(IDOManager *manager)
{
    IDODownload *download = NULL;
    HRESULT hr;

    hr = IDOManager_CreateDownload(manager, &download);
    ok(hr == S_OK && download, "CreateDownload: %#lx, %p\n", hr, download);
    return hr == S_OK ? download : NULL;
}

/* An IStream that appends every Write to memory; the documentation says DO
 * needs nothing else, so every other method fails. */
static struct mem_stream streams[16];
static LONG streams_used;

static struct mem_stream *impl_from_IStream(IStream *iface)
{
    return CONTAINING_RECORD(iface, struct mem_stream, IStream_iface);
}

static HRESULT WINAPI stream_QueryInterface(IStream *iface, REFIID riid, void **out)
{
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_ISequentialStream) ||
        IsEqualGUID(riid, &IID_IStream))
    {
        *out = iface;
        IStream_AddRef(iface);
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI stream_AddRef(IStream *iface)
{
    return InterlockedIncrement(&impl_from_IStream(iface)->ref);
}

static ULONG WINAPI stream_Release(IStream *iface)
{
    return InterlockedDecrement(&impl_from_IStream(iface)->ref);
}

static HRESULT WINAPI stream_Read(IStream *iface, void *data, ULONG size, ULONG *read)
{
    return E_NOTIMPL;
}

static HRESULT WINAPI stream_Write(IStream *iface, const void *data, ULONG size, ULONG *written)
{
    struct mem_stream *stream = impl_from_IStream(iface);
    HRESULT hr = S_OK;

    InterlockedIncrement(&stream->writes);
    EnterCriticalSection(&stream->cs);
    if (stream->fail_hr != S_OK && stream->size + size > stream->fail_at)
    {
        LeaveCriticalSection(&stream->cs);
        if (written && stream->count == STREAM_COUNT_SET) *written = 0;
        return stream->fail_hr;
    }
    if (stream->size + size > stream->capacity)
    {
        SIZE_T capacity = max(stream->capacity * 2, stream->size + size);
        unsigned char *data = realloc(stream->data, capacity);

        if (data)
        {
            stream->data = data;
            stream->capacity = capacity;
        }
        else hr = STG_E_MEDIUMFULL;
    }
    if (hr == S_OK)
    {
        memcpy(stream->data + stream->size, data, size);
        stream->size += size;
    }
    LeaveCriticalSection(&stream->cs);
    if (written && stream->count == STREAM_COUNT_SET) *written = hr == S_OK ? size : 0;
    else if (written && stream->count == STREAM_COUNT_SHORT) *written = hr == S_OK ? size / 2 : 0;
    return hr;
}

static HRESULT WINAPI stream_Seek(IStream *iface, LARGE_INTEGER move, DWORD origin, ULARGE_INTEGER *pos)
{
    return E_NOTIMPL;
}

static HRESULT WINAPI stream_SetSize(IStream *iface, ULARGE_INTEGER size)
{
    return E_NOTIMPL;
}

static HRESULT WINAPI stream_CopyTo(IStream *iface, IStream *dest, ULARGE_INTEGER size, ULARGE_INTEGER *read,
                                    ULARGE_INTEGER *written)
{
    return E_NOTIMPL;
}

static HRESULT WINAPI stream_Commit(IStream *iface, DWORD flags)
{
    return E_NOTIMPL;
}

static HRESULT WINAPI stream_Revert(IStream *iface)
{
    return E_NOTIMPL;
}

static HRESULT WINAPI stream_LockRegion(IStream *iface, ULARGE_INTEGER offset, ULARGE_INTEGER size, DWORD type)
{
    return E_NOTIMPL;
}

static HRESULT WINAPI stream_UnlockRegion(IStream *iface, ULARGE_INTEGER offset, ULARGE_INTEGER size,
                                          DWORD type)
{
    return E_NOTIMPL;
}

static HRESULT WINAPI stream_Stat(IStream *iface, STATSTG *stat, DWORD flags)
{
    return E_NOTIMPL;
}

static HRESULT WINAPI stream_Clone(IStream *iface, IStream **out)
{
    return E_NOTIMPL;
}

static const IStreamVtbl stream_vtbl =
{
    stream_QueryInterface,
    stream_AddRef,
    stream_Release,
    stream_Read,
    stream_Write,
    stream_Seek,
    stream_SetSize,
    stream_CopyTo,
    stream_Commit,
    stream_Revert,
    stream_LockRegion,
    stream_UnlockRegion,
    stream_Stat,
    stream_Clone,
};

struct mem_stream *new_mem_stream(void)
{
    LONG index = InterlockedIncrement(&streams_used) - 1;
    struct mem_stream *stream;

    if (index >= ARRAY_SIZE(streams))
    {
        ok(0, "out of stream objects\n");
        index = ARRAY_SIZE(streams) - 1;
    }
    stream = &streams[index];
    memset(stream, 0, sizeof(*stream));
    stream->IStream_iface.lpVtbl = &stream_vtbl;
    stream->ref = 1;
    InitializeCriticalSection(&stream->cs);
    return stream;
}

/* an object that is only an IUnknown */
struct plain
{
    IUnknown IUnknown_iface;
    LONG refcount;
};

static HRESULT WINAPI plain_QueryInterface(IUnknown *iface, REFIID riid, void **out)
{
    if (IsEqualGUID(riid, &IID_IUnknown))
    {
        *out = iface;
        IUnknown_AddRef(iface);
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI plain_AddRef(IUnknown *iface)
{
    struct plain *plain = CONTAINING_RECORD(iface, struct plain, IUnknown_iface);
    return InterlockedIncrement(&plain->refcount);
}

static ULONG WINAPI plain_Release(IUnknown *iface)
{
    struct plain *plain = CONTAINING_RECORD(iface, struct plain, IUnknown_iface);
    return InterlockedDecrement(&plain->refcount);
}

static const IUnknownVtbl plain_vtbl = { plain_QueryInterface, plain_AddRef, plain_Release };

static struct plain test_plain = { { &plain_vtbl }, 1 };

IUnknown *plain_unknown(void)
{
    return &test_plain.IUnknown_iface;
}

/* Aborts the download unless it already ended, then releases it. */
void finish_download(IDODownload *download)
{
    DO_DOWNLOAD_STATUS status;
    HRESULT hr;

    if (!download) return;
    memset(&status, 0, sizeof(status));
    if (SUCCEEDED(IDODownload_GetStatus(download, &status)) && status.State != DODownloadState_Finalized &&
        status.State != DODownloadState_Aborted)
    {
        hr = IDODownload_Abort(download);
        ok(hr == S_OK, "Abort in %s failed: %#lx\n", dl_state_name(status.State), hr);
    }
    IDODownload_Release(download);
}

HRESULT set_bstr(IDODownload *download, DODownloadProperty id, const WCHAR *value)
{
    VARIANT v;
    HRESULT hr;

    V_VT(&v) = VT_BSTR;
    V_BSTR(&v) = SysAllocString(value);
    hr = IDODownload_SetProperty(download, id, &v);
    VariantClear(&v);
    return hr;
}

HRESULT set_ui4(IDODownload *download, DODownloadProperty id, ULONG value)
{
    VARIANT v;

    V_VT(&v) = VT_UI4;
    V_UI4(&v) = value;
    return IDODownload_SetProperty(download, id, &v);
}

HRESULT set_bool(IDODownload *download, DODownloadProperty id, BOOL value)
{
    VARIANT v;

    V_VT(&v) = VT_BOOL;
    V_BOOL(&v) = value ? VARIANT_TRUE : VARIANT_FALSE;
    return IDODownload_SetProperty(download, id, &v);
}
