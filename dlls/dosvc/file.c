/*
 * Delivery Optimization service: the file object of a BITS-style job
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
 * IBackgroundCopyFile through IBackgroundCopyFile5 share one vtable (each
 * extends the one before); IDeliveryOptimizationFile/File2 are DO's own.
 * A file's data is guarded by its job's lock.
 */

#include "dosvc_private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

static inline struct do_file *impl_from_IBackgroundCopyFile5(IBackgroundCopyFile5 *iface)
{
    return CONTAINING_RECORD(iface, struct do_file, IBackgroundCopyFile5_iface);
}

static inline struct do_file *impl_from_IDeliveryOptimizationFile(IDeliveryOptimizationFile *iface)
{
    return CONTAINING_RECORD(iface, struct do_file, IDeliveryOptimizationFile_iface);
}

static inline struct do_file *impl_from_IDeliveryOptimizationFile2(IDeliveryOptimizationFile2 *iface)
{
    return CONTAINING_RECORD(iface, struct do_file, IDeliveryOptimizationFile2_iface);
}

void file_addref(struct do_file *file)
{
    job_addref(file->job);
}

void file_release(struct do_file *file)
{
    job_release(file->job);
}

void file_free(struct do_file *file)
{
    free(file->file_id);
    free(file->remote_name);
    free(file->local_name);
    free(file->ranges);
    SysFreeString(file->decryption_info);
    SysFreeString(file->integrity_info);
    free(file->temp_name);
    free(file->etag);
    free(file->last_modified);
    free(file->response_headers);
    free(file->redirect_target);
    free(file->server_ip);
    file_close_writer(file);
    file_drop_flush(file);
    /* a stream sink still held here belongs to a download torn down without Abort/Finalize */
    if (file->stream) IStream_Release(file->stream);
    free(file);
}

/* ------------------------------------------------------------------ validation */

HRESULT file_check_remote_name(const WCHAR *name)
{
    /* the rules are validate.c's, shared with the HTTP clients */
    return url_check(name, name ? lstrlenW(name) : 0);
}

static BOOL is_separator(WCHAR c)
{
    return c == '\\' || c == '/';
}

static BOOL is_drive_root(const WCHAR *path)
{
    return ((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z')) &&
           path[1] == ':' && is_separator(path[2]);
}

/* "server\share\...": both parts non-empty and something after them */
static BOOL is_unc_tail(const WCHAR *p)
{
    int parts;

    for (parts = 0; parts < 2; parts++)
    {
        if (!*p || is_separator(*p)) return FALSE;
        while (*p && !is_separator(*p)) p++;
        if (!*p) return FALSE;
        p++;
    }
    return TRUE;
}

static BOOL is_unc(const WCHAR *path)
{
    return is_separator(path[0]) && is_separator(path[1]) && is_unc_tail(path + 2);
}

/* Is a local name a name Win32 would create a file under?  Every syntax
 * refusal of a local name is made here, for IDODownload's LocalPath,
 * IDeliveryOptimizationFile2's DownloadSinkFilePath and the local names of
 * AddFile / AddFileSet / AddFileWithRanges, with the answer CreateFile gives
 * where it has one (docs/gaps.md, "Local paths"):
 *   NULL or empty                                   E_INVALIDARG (documented)
 *   a character no Win32 name may hold (below 32, < > " | ? * and ':' past
 *   the drive), a "\\.\" device path, or no name
 *   after the last separator                        ERROR_INVALID_NAME
 *   a component over 255 characters, or the whole
 *   path 32,767 characters or more                  ERROR_FILENAME_EXCED_RANGE
 *   not fully qualified (relative, "\x", "C:x")     E_INVALIDARG
 * Characters are checked first: a relative path holding a '?' is an invalid
 * name, which is one of the answers DoSvc gives Microsoft's own test. */
HRESULT file_check_path_syntax(const WCHAR *path)
{
    const WCHAR *rest, *p;
    size_t component = 0;
    BOOL unc_prefix = FALSE;

    if (!path || !*path) return E_INVALIDARG;
    if (lstrlenW(path) >= 32767) return HRESULT_FROM_WIN32(ERROR_FILENAME_EXCED_RANGE);

    rest = path;
    if (is_separator(path[0]) && is_separator(path[1]) && (path[2] == '?' || path[2] == '.') &&
        is_separator(path[3]))
    {
        /* "\\?\" only turns normalisation off; "\\.\" names devices, never files */
        if (path[2] == '.') return HRESULT_FROM_WIN32(ERROR_INVALID_NAME);
        rest = path + 4;
        if (!wcsnicmp(rest, L"UNC", 3) && is_separator(rest[3]))
        {
            rest += 4;
            unc_prefix = TRUE;
        }
    }
    for (p = rest; *p; p++)
    {
        if (is_separator(*p))
        {
            component = 0;
            continue;
        }
        if (*p < 32 || wcschr(L"<>\"|?*", *p) || (*p == ':' && !(p == rest + 1 && iswalpha(rest[0]))))
            return HRESULT_FROM_WIN32(ERROR_INVALID_NAME);
        if (++component > 255) return HRESULT_FROM_WIN32(ERROR_FILENAME_EXCED_RANGE);
    }
    if (unc_prefix ? !is_unc_tail(rest) : !is_drive_root(rest) && !is_unc(rest)) return E_INVALIDARG;
    if (is_separator(p[-1])) return HRESULT_FROM_WIN32(ERROR_INVALID_NAME);
    return S_OK;
}

/* The directory part of a path, or NULL. */
static WCHAR *directory_of(const WCHAR *path)
{
    const WCHAR *slash = NULL, *p;
    WCHAR *dir;

    for (p = path; *p; p++) if (*p == '\\' || *p == '/') slash = p;
    if (!slash) return NULL;
    if (!(dir = malloc((slash - path + 2) * sizeof(WCHAR)))) return NULL;
    memcpy(dir, path, (slash - path) * sizeof(WCHAR));
    dir[slash - path] = 0;
    if (slash > path && slash[-1] == ':') lstrcatW(dir, L"\\");   /* "C:" means something else */
    return dir;
}

/* A probe file is the only honest test of "may I write here": ACLs, a read-only
 * mount or a full disk all show up as a failure to create it. */
static HRESULT check_writable_directory(const WCHAR *dir)
{
    WCHAR probe[MAX_PATH + 32];
    DWORD attrs = GetFileAttributesW(dir), error;
    HANDLE handle;

    if (attrs == INVALID_FILE_ATTRIBUTES || !(attrs & FILE_ATTRIBUTE_DIRECTORY))
        return HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
    if (lstrlenW(dir) >= MAX_PATH) return S_OK;
    swprintf(probe, ARRAY_SIZE(probe), L"%s%sDO%08lx.probe", dir,
             dir[lstrlenW(dir) - 1] == '\\' ? L"" : L"\\", GetCurrentThreadId() ^ GetTickCount());
    handle = CreateFileW(probe, GENERIC_WRITE, 0, NULL, CREATE_NEW,
                         FILE_ATTRIBUTE_TEMPORARY | FILE_FLAG_DELETE_ON_CLOSE, NULL);
    if (handle != INVALID_HANDLE_VALUE)
    {
        CloseHandle(handle);
        return S_OK;
    }
    error = GetLastError();
    if (error == ERROR_ACCESS_DENIED || error == ERROR_WRITE_PROTECT) return E_ACCESSDENIED;
    return error == ERROR_FILE_EXISTS ? S_OK : HRESULT_FROM_WIN32(error);
}

HRESULT file_check_local_name(const WCHAR *name)
{
    DWORD attrs;
    WCHAR *dir;
    HRESULT hr;

    if (FAILED(hr = file_check_path_syntax(name))) return hr;
    /* CreateFile would open the device, not a file */
    if (path_is_device(name)) return E_INVALIDARG;
    attrs = GetFileAttributesW(name);
    if (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_DIRECTORY)) return E_ACCESSDENIED;
    if (!(dir = directory_of(name))) return E_INVALIDARG;
    hr = check_writable_directory(dir);
    free(dir);
    return hr;
}

static int compare_ranges(const BG_FILE_RANGE *a, const BG_FILE_RANGE *b)
{
    return a->InitialOffset < b->InitialOffset ? -1 : a->InitialOffset > b->InitialOffset;
}

/* Stable merge sort: equal offsets keep the caller's order, which decides
 * whether (100,5),(100,0) overlaps (it does) or (100,0),(100,5) (it does not). */
static void sort_ranges(struct file_range *ranges, struct file_range *scratch, DWORD count)
{
    DWORD half = count / 2, i = 0, j = half, k = 0;

    if (count < 2) return;
    sort_ranges(ranges, scratch, half);
    sort_ranges(ranges + half, scratch, count - half);
    while (i < half && j < count)
    {
        BG_FILE_RANGE a = { ranges[i].offset, ranges[i].length }, b = { ranges[j].offset, ranges[j].length };
        scratch[k++] = compare_ranges(&b, &a) < 0 ? ranges[j++] : ranges[i++];
    }
    while (i < half) scratch[k++] = ranges[i++];
    while (j < count) scratch[k++] = ranges[j++];
    memcpy(ranges, scratch, count * sizeof(*ranges));
}

HRESULT file_validate_ranges(DWORD count, const BG_FILE_RANGE *ranges)
{
    DWORD i;

    for (i = 0; i < count; i++)
    {
        if (ranges[i].InitialOffset == BG_LENGTH_TO_EOF) return DO_E_INVALID_RANGE;
        if (ranges[i].Length != BG_LENGTH_TO_EOF &&
            ranges[i].InitialOffset + ranges[i].Length < ranges[i].InitialOffset)
            return DO_E_INVALID_RANGE;
    }
    return S_OK;
}

/* Copy, sort and check the ranges a caller gave. */
HRESULT file_make_ranges(DWORD count, const BG_FILE_RANGE *in, struct file_range **out)
{
    struct file_range *ranges, *scratch;
    HRESULT hr = S_OK;
    DWORD i;

    *out = NULL;
    if (!count) return S_OK;
    if (!in) return E_INVALIDARG;
    if (FAILED(hr = file_validate_ranges(count, in))) return hr;
    ranges = malloc(count * sizeof(*ranges));
    scratch = malloc(count * sizeof(*scratch));
    if (!ranges || !scratch)
    {
        free(ranges);
        free(scratch);
        return E_OUTOFMEMORY;
    }
    for (i = 0; i < count; i++)
    {
        ranges[i].offset = in[i].InitialOffset;
        ranges[i].length = in[i].Length;
    }
    sort_ranges(ranges, scratch, count);
    free(scratch);
    for (i = 1; i < count && SUCCEEDED(hr); i++)
    {
        const struct file_range *prev = &ranges[i - 1];
        if (prev->length == BG_LENGTH_TO_EOF || prev->offset + prev->length > ranges[i].offset)
            hr = DO_E_OVERLAPPING_RANGES;
    }
    if (FAILED(hr)) free(ranges);
    else *out = ranges;
    return hr;
}

/* ------------------------------------------------------------------ progress */

UINT64 file_total_bytes(const struct do_file *file)
{
    UINT64 total = file->range_base;
    DWORD i;

    if (!file->range_count) return file->remote_size;
    for (i = 0; i < file->range_count; i++)
    {
        const struct file_range *range = &file->ranges[i];

        if (range->length != BG_LENGTH_TO_EOF)
            total += range->length;
        else if (file->remote_size == DO_UNKNOWN_FILE_SIZE)
            return DO_UNKNOWN_FILE_SIZE;
        else if (file->remote_size > range->offset)
            total += file->remote_size - range->offset;
    }
    return total;
}

void file_get_progress(const struct do_file *file, BG_FILE_PROGRESS *progress)
{
    progress->BytesTotal = file_total_bytes(file);
    progress->BytesTransferred = file->bytes_done;
    progress->Completed = file->completed;
}

/* ------------------------------------------------------------------ temp file */

HRESULT file_make_temp_name(struct do_file *file)
{
    static LONG counter;
    WCHAR *dir, *name;
    size_t len;

    if (file->temp_name) return S_OK;
    if (!file->local_name || !(dir = directory_of(file->local_name))) return DO_E_LOCALPATH_NOT_SET;
    len = lstrlenW(dir) + 16;
    if (!(name = malloc(len * sizeof(WCHAR))))
    {
        free(dir);
        return E_OUTOFMEMORY;
    }
    /* DoSvc's own temp files are DO*.tmp next to the destination */
    swprintf(name, len, L"%s%sDO%08lX.tmp", dir, dir[lstrlenW(dir) - 1] == '\\' ? L"" : L"\\",
             (GetTickCount() * 2654435761u) ^ (GetCurrentProcessId() << 16) ^ InterlockedIncrement(&counter));
    free(dir);
    file->temp_name = name;
    return S_OK;
}

/* Bytes nobody will count again (the job ended, the file was committed or
 * its temp file deleted) need no flush by the store. */
void file_drop_flush(struct do_file *file)
{
    if (!file->flush_handle) return;
    CloseHandle(file->flush_handle);
    file->flush_handle = NULL;
}

void file_close_writer(struct do_file *file)
{
    if (!file->write_handle) return;
    CloseHandle(file->write_handle);
    file->write_handle = NULL;
}

void file_delete_temp(struct do_file *file)
{
    file_close_writer(file);
    /* else Wine keeps the file until that handle is closed */
    file_drop_flush(file);
    if (file->temp_name && !DeleteFileW(file->temp_name) && GetLastError() != ERROR_FILE_NOT_FOUND)
        WARN("could not delete %s: %lu\n", debugstr_w(file->temp_name), GetLastError());
}

HRESULT file_commit(struct do_file *file)
{
    DWORD attrs;

    if (file->completed) return S_OK;
    /* a stream sink has every byte already; there is nothing to rename */
    if (file->stream)
    {
        file->completed = TRUE;
        return S_OK;
    }
    file_close_writer(file);
    file_drop_flush(file);
    if (!file->temp_name || !file->local_name) return DO_E_LOCALPATH_NOT_SET;
    /* a read-only file is not replaced: Windows refuses, Wine's MoveFileEx would not */
    attrs = GetFileAttributesW(file->local_name);
    if (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_READONLY)) return E_ACCESSDENIED;
    if (!MoveFileExW(file->temp_name, file->local_name, MOVEFILE_REPLACE_EXISTING | MOVEFILE_COPY_ALLOWED))
    {
        DWORD error = GetLastError();
        WARN("could not move %s to %s: %lu\n", debugstr_w(file->temp_name), debugstr_w(file->local_name), error);
        return HRESULT_FROM_WIN32(error);
    }
    file->completed = TRUE;
    return S_OK;
}

/* The file's stream sink, which the caller now owns and must release
 * outside the job's lock (it is a call into the client).  Under cs. */
IStream *file_take_stream(struct do_file *file)
{
    IStream *stream = file->stream;

    file->stream = NULL;
    return stream;
}

/* ------------------------------------------------------------------ IBackgroundCopyFile5 */

static HRESULT WINAPI file_QueryInterface(IBackgroundCopyFile5 *iface, REFIID riid, void **out)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);

    TRACE("%p, %s, %p.\n", iface, debugstr_guid(riid), out);

    if (!out) return E_POINTER;
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyFile) ||
        IsEqualGUID(riid, &IID_IBackgroundCopyFile2) || IsEqualGUID(riid, &IID_IBackgroundCopyFile3) ||
        IsEqualGUID(riid, &IID_IBackgroundCopyFile4) || IsEqualGUID(riid, &IID_IBackgroundCopyFile5))
        *out = &file->IBackgroundCopyFile5_iface;
    else if (IsEqualGUID(riid, &IID_IDeliveryOptimizationFile))
        *out = &file->IDeliveryOptimizationFile_iface;
    else if (IsEqualGUID(riid, &IID_IDeliveryOptimizationFile2))
        *out = &file->IDeliveryOptimizationFile2_iface;
    else if (IsEqualGUID(riid, &IID_IMarshal))
        return object_marshal_create((IUnknown *)iface, DOSVC_OBJECT_FILE, &file->job->id, out);
    else
    {
        WARN("Unsupported interface %s.\n", debugstr_guid(riid));
        *out = NULL;
        return E_NOINTERFACE;
    }
    file_addref(file);
    return S_OK;
}

static ULONG WINAPI file_AddRef(IBackgroundCopyFile5 *iface)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);

    TRACE("%p.\n", iface);
    job_addref(file->job);
    return 2;   /* the count belongs to the job; this value is only informational */
}

static ULONG WINAPI file_Release(IBackgroundCopyFile5 *iface)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);

    TRACE("%p.\n", iface);
    job_release(file->job);
    return 1;
}

static HRESULT get_file_string(struct do_file *file, WCHAR *const *field, WCHAR **out, HRESULT if_null)
{
    HRESULT hr;

    if (!out) return E_INVALIDARG;
    *out = NULL;
    EnterCriticalSection(&file->job->cs);
    hr = *field ? return_string(*field, out) : if_null;
    LeaveCriticalSection(&file->job->cs);
    return hr;
}

static HRESULT WINAPI file_GetRemoteName(IBackgroundCopyFile5 *iface, LPWSTR *name)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);

    TRACE("%p, %p.\n", iface, name);

    return get_file_string(file, &file->remote_name, name, E_INVALIDARG);
}

static HRESULT WINAPI file_GetLocalName(IBackgroundCopyFile5 *iface, LPWSTR *name)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);

    TRACE("%p, %p.\n", iface, name);

    return get_file_string(file, &file->local_name, name, DO_E_LOCALPATH_NOT_SET);
}

static HRESULT WINAPI file_GetProgress(IBackgroundCopyFile5 *iface, BG_FILE_PROGRESS *progress)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);

    TRACE("%p, %p.\n", iface, progress);

    if (!progress) return E_INVALIDARG;
    EnterCriticalSection(&file->job->cs);
    file_get_progress(file, progress);
    LeaveCriticalSection(&file->job->cs);
    return S_OK;
}

static HRESULT WINAPI file_GetFileRanges(IBackgroundCopyFile5 *iface, DWORD *count, BG_FILE_RANGE **ranges)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);
    HRESULT hr = S_OK;
    DWORD i;

    TRACE("%p, %p, %p.\n", iface, count, ranges);

    if (!count || !ranges) return E_INVALIDARG;
    *count = 0;
    *ranges = NULL;
    EnterCriticalSection(&file->job->cs);
    if (!file->range_count)
        hr = S_FALSE;
    else if (!(*ranges = CoTaskMemAlloc(file->range_count * sizeof(**ranges))))
        hr = E_OUTOFMEMORY;
    else
    {
        for (i = 0; i < file->range_count; i++)
        {
            (*ranges)[i].InitialOffset = file->ranges[i].offset;
            (*ranges)[i].Length = file->ranges[i].length;
        }
        *count = file->range_count;
    }
    LeaveCriticalSection(&file->job->cs);
    return hr;
}

static HRESULT WINAPI file_SetRemoteName(IBackgroundCopyFile5 *iface, LPCWSTR name)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);
    struct do_job *job = file->job;
    WCHAR *copy;
    HRESULT hr;

    TRACE("%p, %s.\n", iface, debugstr_w(name));

    if (FAILED(hr = file_check_remote_name(name))) return hr;
    if (!(copy = strdupW(name))) return E_OUTOFMEMORY;
    EnterCriticalSection(&job->cs);
    if (job_is_final(job))
        hr = DO_E_INVALID_STATE;
    else
    {
        /* a running transfer keeps its URL until the next Suspend/Resume; the
         * validators tell us on resume whether the bytes so far still fit */
        free(file->remote_name);
        file->remote_name = copy;
        copy = NULL;
        job_touch(job);
    }
    LeaveCriticalSection(&job->cs);
    free(copy);
    engine_notify(job);
    return hr;
}

static HRESULT WINAPI file_GetTemporaryName(IBackgroundCopyFile5 *iface, LPWSTR *name)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);
    HRESULT hr;

    TRACE("%p, %p.\n", iface, name);

    if (!name) return E_INVALIDARG;
    *name = NULL;
    EnterCriticalSection(&file->job->cs);
    if (SUCCEEDED(hr = file_make_temp_name(file))) hr = return_string(file->temp_name, name);
    LeaveCriticalSection(&file->job->cs);
    return hr;
}

static HRESULT WINAPI file_SetValidationState(IBackgroundCopyFile5 *iface, BOOL state)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);
    HRESULT hr = S_OK;

    TRACE("%p, %d.\n", iface, state);

    EnterCriticalSection(&file->job->cs);
    /* BITS: validation applies to a transferred file of a live job */
    if (job_is_final(file->job)) hr = DO_E_INVALID_STATE;
    else if (!file->transferred) hr = DO_E_INVALID_STATE;
    else
    {
        file->validation_state = state;
        job_touch(file->job);
    }
    LeaveCriticalSection(&file->job->cs);
    return hr;
}

static HRESULT WINAPI file_GetValidationState(IBackgroundCopyFile5 *iface, BOOL *state)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);

    TRACE("%p, %p.\n", iface, state);

    if (!state) return E_INVALIDARG;
    EnterCriticalSection(&file->job->cs);
    *state = file->validation_state;
    LeaveCriticalSection(&file->job->cs);
    return S_OK;
}

static HRESULT WINAPI file_IsDownloadedFromPeer(IBackgroundCopyFile5 *iface, BOOL *peer)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);

    TRACE("%p, %p.\n", iface, peer);

    if (!peer) return E_INVALIDARG;
    /* no peering; a cache server stands where BITS has BranchCache's hosted cache */
    EnterCriticalSection(&file->job->cs);
    *peer = file->bytes_from_cache != 0;
    LeaveCriticalSection(&file->job->cs);
    return S_OK;
}

static HRESULT WINAPI file_GetPeerDownloadStats(IBackgroundCopyFile5 *iface, PUINT64 origin, PUINT64 peers)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);

    TRACE("%p, %p, %p.\n", iface, origin, peers);

    if (!origin || !peers) return E_INVALIDARG;
    EnterCriticalSection(&file->job->cs);
    *origin = file->bytes_from_http;
    *peers = file->bytes_from_cache;
    LeaveCriticalSection(&file->job->cs);
    return S_OK;
}

static HRESULT WINAPI file_SetProperty(IBackgroundCopyFile5 *iface, BITS_FILE_PROPERTY_ID id,
                                       BITS_FILE_PROPERTY_VALUE value)
{
    TRACE("%p, %d.\n", iface, id);

    return id == BITS_FILE_PROPERTY_ID_HTTP_RESPONSE_HEADERS ? DO_E_READ_ONLY_PROPERTY : DO_E_UNKNOWN_PROPERTY_ID;
}

static HRESULT WINAPI file_GetProperty(IBackgroundCopyFile5 *iface, BITS_FILE_PROPERTY_ID id,
                                       BITS_FILE_PROPERTY_VALUE *value)
{
    struct do_file *file = impl_from_IBackgroundCopyFile5(iface);
    HRESULT hr;

    TRACE("%p, %d, %p.\n", iface, id, value);

    if (id != BITS_FILE_PROPERTY_ID_HTTP_RESPONSE_HEADERS) return DO_E_UNKNOWN_PROPERTY_ID;
    if (!value) return E_INVALIDARG;
    EnterCriticalSection(&file->job->cs);
    hr = return_string(file->response_headers, &value->String);
    LeaveCriticalSection(&file->job->cs);
    return hr;
}

static const IBackgroundCopyFile5Vtbl file_vtbl =
{
    file_QueryInterface,
    file_AddRef,
    file_Release,
    file_GetRemoteName,
    file_GetLocalName,
    file_GetProgress,
    file_GetFileRanges,
    file_SetRemoteName,
    file_GetTemporaryName,
    file_SetValidationState,
    file_GetValidationState,
    file_IsDownloadedFromPeer,
    file_GetPeerDownloadStats,
    file_SetProperty,
    file_GetProperty,
};

/* ------------------------------------------------------------------ IDeliveryOptimizationFile */

static HRESULT WINAPI do_file_QueryInterface(IDeliveryOptimizationFile *iface, REFIID riid, void **out)
{
    struct do_file *file = impl_from_IDeliveryOptimizationFile(iface);
    return file_QueryInterface(&file->IBackgroundCopyFile5_iface, riid, out);
}

static ULONG WINAPI do_file_AddRef(IDeliveryOptimizationFile *iface)
{
    struct do_file *file = impl_from_IDeliveryOptimizationFile(iface);
    return file_AddRef(&file->IBackgroundCopyFile5_iface);
}

static ULONG WINAPI do_file_Release(IDeliveryOptimizationFile *iface)
{
    struct do_file *file = impl_from_IDeliveryOptimizationFile(iface);
    return file_Release(&file->IBackgroundCopyFile5_iface);
}

static WCHAR *co_strdup(const WCHAR *s)
{
    WCHAR *ret = NULL;
    return SUCCEEDED(return_string(s, &ret)) ? ret : NULL;
}

static HRESULT WINAPI do_file_GetStats(IDeliveryOptimizationFile *iface, DOSwarmStats *stats)
{
    struct do_file *file = impl_from_IDeliveryOptimizationFile(iface);
    struct do_job *job = file->job;
    HRESULT hr = S_OK;

    TRACE("%p, %p.\n", iface, stats);

    if (!stats) return E_INVALIDARG;
    memset(stats, 0, sizeof(*stats));
    EnterCriticalSection(&job->cs);
    stats->fileId = co_strdup(file->file_id);
    stats->sourceURL = co_strdup(file->remote_name);
    stats->fileSize = file->remote_size != DO_UNKNOWN_FILE_SIZE ? file->remote_size : file->size_hint;
    stats->totalBytesDownloaded = file->bytes_done;
    stats->bytesFromHttp = file->bytes_from_http;
    stats->httpConnectionCount = file->http_connections;
    /* "Doinc": DO's in-network cache, Connected Cache's first name */
    stats->bytesFromDoinc = file->bytes_from_cache;
    stats->doincConnectionCount = file->cache_connections;
    stats->downloadDuration = file->transfer_ms;
    /* plain HTTP, no peers and no cloud service: DO's "simple" mode */
    stats->downloadMode = DownloadMode_Simple;
    if (file->transferred) stats->status = SwarmStatus_Complete;
    else if (job->state == BG_JOB_STATE_TRANSFERRING || job->state == BG_JOB_STATE_QUEUED)
        stats->status = SwarmStatus_Downloading;
    else stats->status = SwarmStatus_Paused;
    stats->isBackground = job->priority != BG_JOB_PRIORITY_FOREGROUND;
    LeaveCriticalSection(&job->cs);
    if (!stats->fileId || !stats->sourceURL)
    {
        CoTaskMemFree(stats->fileId);
        CoTaskMemFree(stats->sourceURL);
        stats->fileId = stats->sourceURL = NULL;
        hr = E_OUTOFMEMORY;
    }
    return hr;
}

/* Office Click-to-Run reportedly calls GetStats through the second slot. */
static HRESULT WINAPI do_file_GetStatsSecondSlot(IDeliveryOptimizationFile *iface, DOSwarmStats *stats)
{
    return do_file_GetStats(iface, stats);
}

static const IDeliveryOptimizationFileVtbl do_file_vtbl =
{
    do_file_QueryInterface,
    do_file_AddRef,
    do_file_Release,
    do_file_GetStats,
    do_file_GetStatsSecondSlot,
};

/* ------------------------------------------------------------------ IDeliveryOptimizationFile2 */

static HRESULT WINAPI do_file2_QueryInterface(IDeliveryOptimizationFile2 *iface, REFIID riid, void **out)
{
    struct do_file *file = impl_from_IDeliveryOptimizationFile2(iface);
    return file_QueryInterface(&file->IBackgroundCopyFile5_iface, riid, out);
}

static ULONG WINAPI do_file2_AddRef(IDeliveryOptimizationFile2 *iface)
{
    struct do_file *file = impl_from_IDeliveryOptimizationFile2(iface);
    return file_AddRef(&file->IBackgroundCopyFile5_iface);
}

static ULONG WINAPI do_file2_Release(IDeliveryOptimizationFile2 *iface)
{
    struct do_file *file = impl_from_IDeliveryOptimizationFile2(iface);
    return file_Release(&file->IBackgroundCopyFile5_iface);
}

static HRESULT WINAPI do_file2_GetProperty(IDeliveryOptimizationFile2 *iface, DOFilePropertyId id, VARIANT *value)
{
    struct do_file *file = impl_from_IDeliveryOptimizationFile2(iface);
    HRESULT hr = S_OK;
    UINT64 size;

    TRACE("%p, %d, %p.\n", iface, id, value);

    switch (id)
    {
    case DOFilePropertyId_DecryptionInfo:
    case DOFilePropertyId_IntegrityCheckInfo:
        return DO_E_WRITE_ONLY_PROPERTY;
    case DOFilePropertyId_IntegrityCheckMandatory:
    case DOFilePropertyId_DownloadSinkInterface:
    case DOFilePropertyId_DownloadSinkFilePath:
    case DOFilePropertyId_DownloadSinkMemoryStream:
    case DOFilePropertyId_TotalSizeBytes:
        break;
    default:
        return DO_E_UNKNOWN_PROPERTY_ID;
    }
    if (!value) return E_INVALIDARG;
    VariantInit(value);

    EnterCriticalSection(&file->job->cs);
    switch (id)
    {
    case DOFilePropertyId_IntegrityCheckMandatory:
        if (!file->integrity_mandatory_set) hr = E_NOT_SET;
        else
        {
            V_VT(value) = VT_BOOL;
            V_BOOL(value) = file->integrity_mandatory ? VARIANT_TRUE : VARIANT_FALSE;
        }
        break;
    case DOFilePropertyId_DownloadSinkFilePath:
        if (!file->local_name) hr = E_NOT_SET;
        else
        {
            V_VT(value) = VT_BSTR;
            if (!(V_BSTR(value) = SysAllocString(file->local_name))) hr = E_OUTOFMEMORY;
        }
        break;
    case DOFilePropertyId_TotalSizeBytes:
        size = file->remote_size != DO_UNKNOWN_FILE_SIZE ? file->remote_size : file->size_hint;
        if (size == DO_UNKNOWN_FILE_SIZE) hr = E_NOT_SET;
        else
        {
            V_VT(value) = VT_UI8;
            V_UI8(value) = size;
        }
        break;
    case DOFilePropertyId_DownloadSinkInterface:
        /* a reference for the caller; a proxy's AddRef does not leave the process */
        if (!file->stream) hr = E_NOT_SET;
        else
        {
            V_VT(value) = VT_UNKNOWN;
            V_UNKNOWN(value) = (IUnknown *)file->stream;
            IUnknown_AddRef(V_UNKNOWN(value));
        }
        break;
    default:   /* DownloadSinkMemoryStream, which is never taken */
        hr = E_NOT_SET;
        break;
    }
    LeaveCriticalSection(&file->job->cs);
    if (FAILED(hr)) VariantInit(value);
    return hr;
}

static HRESULT check_variant(const VARIANT *value, VARTYPE vt)
{
    return value && V_VT(value) == vt ? S_OK : E_INVALIDARG;
}

static HRESULT set_sink_path(struct do_file *file, const WCHAR *path)
{
    WCHAR *copy;
    HRESULT hr;

    if (FAILED(hr = file_check_local_name(path))) return hr;
    if (!(copy = strdupW(path))) return E_OUTOFMEMORY;
    /* one sink per file */
    if (file->stream)
    {
        free(copy);
        return DO_E_FILE_DOWNLOADSINK_ALREADY_SET;
    }
    /* the bytes already written live in a temp file next to the old path */
    if (file->bytes_done || file->transferred)
    {
        free(copy);
        return DO_E_INVALID_STATE;
    }
    free(file->local_name);
    file->local_name = copy;
    free(file->temp_name);
    file->temp_name = NULL;
    file->stream_lost = FALSE;
    return S_OK;
}

/* DownloadSinkInterface: the bytes go to the client's IStream, as an
 * IDODownload's StreamInterface, in the file sink's layout (ranges back to
 * back in offset order).  One sink per file; none once bytes went to one.
 * NULL takes the stream back.  Under cs; *stream is swapped with the old one. */
static HRESULT set_sink_stream(struct do_file *file, IStream **stream)
{
    IStream *old;

    if (*stream && file->local_name) return DO_E_FILE_DOWNLOADSINK_ALREADY_SET;
    if (file->bytes_done || file->transferred) return DO_E_INVALID_STATE;
    old = file->stream;
    file->stream = *stream;
    *stream = old;
    if (file->stream) file->stream_lost = FALSE;
    return S_OK;
}

static HRESULT WINAPI do_file2_SetProperty(IDeliveryOptimizationFile2 *iface, DOFilePropertyId id, const VARIANT *value)
{
    struct do_file *file = impl_from_IDeliveryOptimizationFile2(iface);
    struct do_job *job = file->job;
    IStream *stream = NULL;
    VARTYPE vt;
    HRESULT hr = S_OK;
    BSTR str = NULL;

    TRACE("%p, %d, %p.\n", iface, id, value);

    switch (id)
    {
    case DOFilePropertyId_DecryptionInfo:
    case DOFilePropertyId_IntegrityCheckInfo:
    case DOFilePropertyId_DownloadSinkFilePath: vt = VT_BSTR; break;
    case DOFilePropertyId_IntegrityCheckMandatory: vt = VT_BOOL; break;
    case DOFilePropertyId_TotalSizeBytes: vt = VT_UI8; break;
    case DOFilePropertyId_DownloadSinkInterface: vt = VT_UNKNOWN; break;
    case DOFilePropertyId_DownloadSinkMemoryStream: return DO_E_MEMORYSTREAM_DOWNLOAD_NOT_SUPPORTED;
    default: return DO_E_UNKNOWN_PROPERTY_ID;
    }
    if (FAILED(hr = check_variant(value, vt))) return hr;
    /* DO only ever calls Write, but asks for IStream (as for StreamInterface);
     * asking is a call into the client, so it is made before taking the lock */
    if (vt == VT_UNKNOWN && V_UNKNOWN(value) &&
        FAILED(IUnknown_QueryInterface(V_UNKNOWN(value), &IID_IStream, (void **)&stream)))
        return E_NOINTERFACE;
    if (vt == VT_BSTR && id != DOFilePropertyId_DownloadSinkFilePath &&
        !(str = SysAllocString(V_BSTR(value) ? V_BSTR(value) : L"")))
        return E_OUTOFMEMORY;

    EnterCriticalSection(&job->cs);
    if (job_is_final(job))
        hr = DO_E_INVALID_STATE;
    else switch (id)
    {
    case DOFilePropertyId_DecryptionInfo:
        /* kept for the client's sake; content from DO's cloud is never encrypted here */
        SysFreeString(file->decryption_info);
        file->decryption_info = str;
        str = NULL;
        break;
    case DOFilePropertyId_IntegrityCheckInfo:
        SysFreeString(file->integrity_info);
        file->integrity_info = str;
        str = NULL;
        break;
    case DOFilePropertyId_IntegrityCheckMandatory:
        file->integrity_mandatory = V_BOOL(value) != VARIANT_FALSE;
        file->integrity_mandatory_set = TRUE;
        break;
    case DOFilePropertyId_DownloadSinkFilePath:
        hr = set_sink_path(file, V_BSTR(value));
        break;
    case DOFilePropertyId_TotalSizeBytes:
        file->size_hint = V_UI8(value);
        break;
    case DOFilePropertyId_DownloadSinkInterface:
        hr = set_sink_stream(file, &stream);
        break;
    default:
        break;
    }
    if (SUCCEEDED(hr)) job_touch(job);
    LeaveCriticalSection(&job->cs);
    /* the one replaced, or refused: releasing it is a call into the client */
    if (stream) IStream_Release(stream);
    SysFreeString(str);
    if (SUCCEEDED(hr)) engine_notify(job);
    return hr;
}

static const IDeliveryOptimizationFile2Vtbl do_file2_vtbl =
{
    do_file2_QueryInterface,
    do_file2_AddRef,
    do_file2_Release,
    do_file2_GetProperty,
    do_file2_SetProperty,
};

/* ------------------------------------------------------------------ creation */

HRESULT file_create(struct do_job *job, const WCHAR *file_id, const WCHAR *remote_name,
                    const WCHAR *local_name, DWORD range_count, const BG_FILE_RANGE *ranges,
                    UINT64 size_hint, struct do_file **out)
{
    struct do_file *file;
    HRESULT hr;

    if (FAILED(hr = file_check_remote_name(remote_name))) return hr;
    if (local_name && FAILED(hr = file_check_local_name(local_name))) return hr;

    if (!(file = calloc(1, sizeof(*file)))) return E_OUTOFMEMORY;
    file->IBackgroundCopyFile5_iface.lpVtbl = &file_vtbl;
    file->IDeliveryOptimizationFile_iface.lpVtbl = &do_file_vtbl;
    file->IDeliveryOptimizationFile2_iface.lpVtbl = &do_file2_vtbl;
    file->job = job;
    file->remote_size = DO_UNKNOWN_FILE_SIZE;
    file->size_hint = size_hint;
    file->range_count = range_count;

    if (FAILED(hr = file_make_ranges(range_count, ranges, &file->ranges)))
    {
        file_free(file);
        return hr;
    }
    if (!(file->file_id = strdupW(file_id ? file_id : L"")) || !(file->remote_name = strdupW(remote_name)) ||
        (local_name && !(file->local_name = strdupW(local_name))))
    {
        file_free(file);
        return E_OUTOFMEMORY;
    }
    *out = file;
    return S_OK;
}
