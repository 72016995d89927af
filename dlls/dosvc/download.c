/*
 * Delivery Optimization service: IDODownload, the IDOManager generation's download
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
 * A download is a job of the shared core that the BITS-style API never sees.
 * Its one file is made by the first Start, once the URL, the sink and the
 * ranges are known; until then the properties live here.  The object has no
 * count of its own: references to the download are references to its job,
 * and job_destroy frees it, as with files.
 *
 * States map onto the core's (docs/gaps.md, "IDOManager generation"):
 * Created = never started (core SUSPENDED), Transferring = QUEUED or
 * TRANSFERRING, Transferred = TRANSFERRED, Finalized = ACKNOWLEDGED,
 * Aborted = CANCELLED, Paused = SUSPENDED after a Start, TRANSIENT_ERROR
 * (ExtendedError set, the core keeps retrying) or ERROR (Error set).
 *
 * Status callbacks: job_set_state tells us of every core state change, and
 * each change of the mapped status is queued; the engine's notifier thread
 * drains the queue through download_deliver_status, then reports progress
 * no more often than CallbackFreqSeconds / CallbackFreqPercent allow.  No
 * lock is held while calling the client, so the callback may call back into
 * the download.
 *
 * Lock order: start_cs, then job_table_cs or one job->cs at a time.
 */

#include "dosvc_private.h"
#include "store.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

#define MAX_STATUS_QUEUE     16
#define MIN_NO_PROGRESS_TIMEOUT 60
#define MAX_HEADERS_LENGTH   (16 * 1024)   /* as for BITS-style custom headers */
#define PROPERTY_COUNT       (DODownloadProperty_HttpStatusCode + 1)
#define GUID_STRING_LENGTH   39

struct do_download
{
    IDODownload IDODownload_iface;
    struct do_job *job;

    /* what the client set; guarded by job->cs */
    BOOL started;                        /* Start succeeded once: Created is left for good */
    WCHAR *uri;
    WCHAR *content_id;
    WCHAR *display_name;
    WCHAR *local_path;
    IStream *stream;                     /* StreamInterface until the first Start hands it to the file */
    IDODownloadStatusCallback *callback;
    DWORD cost_policy;
    BOOL cost_policy_set;
    DWORD security_flags;                /* WinHTTP flags, as given */
    DWORD callback_percent;
    BOOL callback_percent_set;
    DWORD callback_seconds;
    DWORD no_progress_timeout;
    BOOL no_progress_timeout_set;
    BOOL blocking;
    BOOL network_token;
    BSTR correlation_vector;
    BSTR decryption_info;
    BSTR integrity_info;
    BOOL integrity_mandatory;
    BOOL integrity_mandatory_set;
    UINT64 total_size;
    BOOL total_size_set;
    BOOL disallow_on_cellular;
    BOOL allow_secure_to_nonsecure;
    BOOL non_volatile;

    /* status callbacks; guarded by job->cs */
    DO_DOWNLOAD_STATUS queued[MAX_STATUS_QUEUE];   /* state changes not yet told, oldest first */
    ULONG queued_count;
    DO_DOWNLOAD_STATUS last_state;       /* the status of the last state change */
    ULONGLONG last_callback_tick;
    UINT64 last_callback_bytes;
    BOOL timer_pending;                  /* a timer will look at progress again */
    CONDITION_VARIABLE state_changed;    /* for BlockingMode's Start */
};

/* Serialises first Starts: "is another download using this LocalPath" must
 * not change between the check and the start. */
static CRITICAL_SECTION start_cs;
static CRITICAL_SECTION_DEBUG start_cs_debug =
{
    0, 0, &start_cs,
    { &start_cs_debug.ProcessLocksList, &start_cs_debug.ProcessLocksList },
    0, 0, { 0 }
};
static CRITICAL_SECTION start_cs = { &start_cs_debug, -1, 0, 0, 0, 0 };

static inline struct do_download *impl_from_IDODownload(IDODownload *iface)
{
    return CONTAINING_RECORD(iface, struct do_download, IDODownload_iface);
}

/* ------------------------------------------------------------------ properties table */

#define ACCESS_READ  1
#define ACCESS_WRITE 2

static const struct
{
    VARTYPE vt;
    BYTE access;
}
properties[PROPERTY_COUNT] =
{
    { VT_BSTR,              ACCESS_READ },                  /* Id */
    { VT_BSTR,              ACCESS_READ | ACCESS_WRITE },   /* Uri */
    { VT_BSTR,              ACCESS_READ | ACCESS_WRITE },   /* ContentId */
    { VT_BSTR,              ACCESS_READ | ACCESS_WRITE },   /* DisplayName */
    { VT_BSTR,              ACCESS_READ | ACCESS_WRITE },   /* LocalPath */
    { VT_BSTR,              ACCESS_READ | ACCESS_WRITE },   /* HttpCustomHeaders */
    { VT_UI4,               ACCESS_READ | ACCESS_WRITE },   /* CostPolicy */
    { VT_UI4,               ACCESS_WRITE },                 /* SecurityFlags */
    { VT_UI4,               ACCESS_READ | ACCESS_WRITE },   /* CallbackFreqPercent */
    { VT_UI4,               ACCESS_READ | ACCESS_WRITE },   /* CallbackFreqSeconds */
    { VT_UI4,               ACCESS_READ | ACCESS_WRITE },   /* NoProgressTimeoutSeconds */
    { VT_BOOL,              ACCESS_READ | ACCESS_WRITE },   /* ForegroundPriority */
    { VT_BOOL,              ACCESS_READ | ACCESS_WRITE },   /* BlockingMode */
    { VT_UNKNOWN,           ACCESS_READ | ACCESS_WRITE },   /* CallbackInterface */
    { VT_UNKNOWN,           ACCESS_READ | ACCESS_WRITE },   /* StreamInterface */
    { VT_ARRAY | VT_UI1,    ACCESS_WRITE },                 /* SecurityContext */
    { VT_BOOL,              ACCESS_WRITE },                 /* NetworkToken */
    { VT_BSTR,              ACCESS_READ | ACCESS_WRITE },   /* CorrelationVector */
    { VT_BSTR,              ACCESS_WRITE },                 /* DecryptionInfo */
    { VT_BSTR,              ACCESS_WRITE },                 /* IntegrityCheckInfo */
    { VT_BOOL,              ACCESS_READ | ACCESS_WRITE },   /* IntegrityCheckMandatory */
    { VT_UI8,               ACCESS_READ | ACCESS_WRITE },   /* TotalSizeBytes */
    { VT_BOOL,              ACCESS_READ | ACCESS_WRITE },   /* DisallowOnCellular */
    { VT_BSTR,              ACCESS_READ | ACCESS_WRITE },   /* HttpCustomAuthHeaders */
    { VT_BOOL,              ACCESS_READ | ACCESS_WRITE },   /* HttpAllowSecureToNonSecureRedirect */
    { VT_BOOL,              ACCESS_READ | ACCESS_WRITE },   /* NonVolatile */
    { VT_BSTR,              ACCESS_READ },                  /* HttpRedirectionTarget */
    { VT_BSTR,              ACCESS_READ },                  /* HttpResponseHeaders */
    { VT_BSTR,              ACCESS_READ },                  /* HttpServerIPAddress */
    { VT_UI4,               ACCESS_READ },                  /* HttpStatusCode */
};

/* ------------------------------------------------------------------ status */

static struct do_file *download_file(struct do_download *download)
{
    return download->job->file_count ? download->job->files[0] : NULL;
}

/* Under job->cs. */
static void get_status(struct do_download *download, DO_DOWNLOAD_STATUS *status)
{
    struct do_job *job = download->job;
    struct do_file *file = download_file(download);
    UINT64 total = DO_UNKNOWN_FILE_SIZE;

    memset(status, 0, sizeof(*status));
    if (file)
    {
        total = file_total_bytes(file);
        /* the client's TotalSizeBytes stands in for a whole file's size until the server tells */
        if (total == DO_UNKNOWN_FILE_SIZE && !file->range_count && download->total_size_set)
            total = download->total_size;
        status->BytesTransferred = file->bytes_done;
    }
    /* DO_DOWNLOAD_STATUS has no "unknown" marker */
    status->BytesTotal = total == DO_UNKNOWN_FILE_SIZE ? 0 : total;

    switch (job->state)
    {
    case BG_JOB_STATE_QUEUED:
    case BG_JOB_STATE_CONNECTING:
    case BG_JOB_STATE_TRANSFERRING:
        status->State = DODownloadState_Transferring;
        break;
    case BG_JOB_STATE_TRANSFERRED:
        status->State = DODownloadState_Transferred;
        /* set only by a Finalize that could not rename */
        status->ExtendedError = job->error.code;
        break;
    case BG_JOB_STATE_ACKNOWLEDGED:
        status->State = DODownloadState_Finalized;
        break;
    case BG_JOB_STATE_CANCELLED:
        status->State = DODownloadState_Aborted;
        break;
    case BG_JOB_STATE_TRANSIENT_ERROR:
        /* the core retries by itself: not a failure yet */
        status->State = DODownloadState_Paused;
        status->ExtendedError = job->error.code;
        break;
    case BG_JOB_STATE_ERROR:
        status->State = DODownloadState_Paused;
        status->Error = job->error.code;
        break;
    default:
        status->State = download->started ? DODownloadState_Paused : DODownloadState_Created;
        break;
    }
}

/* QUEUED or TRANSFERRING: what the client sees as Transferring */
static BOOL is_transferring(const struct do_job *job)
{
    return job->state == BG_JOB_STATE_QUEUED || job->state == BG_JOB_STATE_TRANSFERRING;
}

/* Transferring, or Paused by a transient error that the core is going to retry */
static BOOL is_core_running(const struct do_job *job)
{
    return job->state == BG_JOB_STATE_QUEUED || job->state == BG_JOB_STATE_TRANSFERRING ||
           job->state == BG_JOB_STATE_TRANSIENT_ERROR;
}

void download_state_changed(struct do_job *job)
{
    struct do_download *download = job->download;
    DO_DOWNLOAD_STATUS status;

    get_status(download, &status);
    WakeAllConditionVariable(&download->state_changed);
    /* core moves inside one mapped state (QUEUED -> TRANSFERRING) are not changes */
    if (status.State == download->last_state.State && status.Error == download->last_state.Error &&
        status.ExtendedError == download->last_state.ExtendedError)
        return;
    download->last_state = status;
    if (!download->callback) return;
    if (download->queued_count == MAX_STATUS_QUEUE)
    {
        /* a client this far behind gets the newest state in place of the one before */
        WARN("download %s: status queue full\n", debugstr_guid(&job->id));
        download->queued[MAX_STATUS_QUEUE - 1] = status;
        return;
    }
    download->queued[download->queued_count++] = status;
}

static void CALLBACK status_timer_proc(TP_CALLBACK_INSTANCE *instance, void *context, TP_TIMER *timer)
{
    struct do_job *job = context;

    EnterCriticalSection(&job->cs);
    job->download->timer_pending = FALSE;
    LeaveCriticalSection(&job->cs);
    engine_notify(job);
    CloseThreadpoolTimer(timer);
    job_release(job);
}

/* Look at progress again after delay_ms.  Under job->cs. */
static void start_status_timer(struct do_download *download, DWORD delay_ms)
{
    LONGLONG due = -(LONGLONG)delay_ms * 10000;   /* relative, in 100 ns */
    FILETIME ft;
    TP_TIMER *timer;

    if (!(timer = CreateThreadpoolTimer(status_timer_proc, download->job, NULL)))
    {
        ERR("CreateThreadpoolTimer failed: %lu\n", GetLastError());
        return;
    }
    job_addref(download->job);
    download->timer_pending = TRUE;
    ft.dwLowDateTime = (DWORD)due;
    ft.dwHighDateTime = (DWORD)(due >> 32);
    SetThreadpoolTimer(timer, &ft, 0, 0);
}

/* Is progress worth an OnStatusChange now?  FALSE leaves notify_pending set
 * only while a timer is to look again.  Under job->cs. */
static BOOL progress_due(struct do_download *download, DO_DOWNLOAD_STATUS *status)
{
    struct do_job *job = download->job;
    ULONGLONG now = GetTickCount64(), interval, elapsed;

    if (!job->notify_pending || download->timer_pending) return FALSE;
    get_status(download, status);
    /* outside Transferring only state changes are told, and they are queued */
    if (status->State != DODownloadState_Transferring || status->BytesTransferred == download->last_callback_bytes)
    {
        job->notify_pending = FALSE;
        return FALSE;
    }
    if (download->callback_percent_set && status->BytesTotal)
    {
        UINT64 total = status->BytesTotal, percent = download->callback_percent, step;

        if (status->BytesTransferred < download->last_callback_bytes) return TRUE;   /* started over */
        if (percent > 100) step = total + 1;
        else step = total / 100 * percent + total % 100 * percent / 100;
        if (status->BytesTransferred - download->last_callback_bytes >= step) return TRUE;
        job->notify_pending = FALSE;
        return FALSE;
    }
    interval = (ULONGLONG)download->callback_seconds * 1000;
    elapsed = now - download->last_callback_tick;
    if (elapsed >= interval) return TRUE;
    start_status_timer(download, (DWORD)min(interval - elapsed, 0x7fffffff));
    return FALSE;
}

BOOL download_status_due(struct do_job *job)
{
    struct do_download *download = job->download;
    DO_DOWNLOAD_STATUS status;

    /* the BITS-style one-off notifications mean nothing to a download */
    job->transferred_owed = job->error_owed = FALSE;
    if (!download->callback)
    {
        download->queued_count = 0;
        job->notify_pending = FALSE;
        return FALSE;
    }
    return download->queued_count || progress_due(download, &status);
}

IUnknown *download_take_callback(struct do_job *job)
{
    struct do_download *download = job->download;
    IUnknown *callback = (IUnknown *)download->callback;

    download->callback = NULL;
    download->queued_count = 0;
    return callback;
}

static BOOL client_gone(HRESULT hr)
{
    return hr == RPC_E_DISCONNECTED || hr == HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE) ||
           hr == HRESULT_FROM_WIN32(RPC_S_CALL_FAILED) || hr == RPC_E_SERVER_DIED ||
           hr == RPC_E_SERVER_DIED_DNE || hr == CO_E_OBJNOTCONNECTED;
}

void download_deliver_status(struct do_job *job)
{
    struct do_download *download = job->download;
    IDODownloadStatusCallback *callback, *drop;
    DO_DOWNLOAD_STATUS status;
    BOOL have;
    HRESULT hr;

    for (;;)
    {
        drop = NULL;
        have = FALSE;
        EnterCriticalSection(&job->cs);
        job->transferred_owed = job->error_owed = FALSE;
        if (!(callback = download->callback))
        {
            download->queued_count = 0;
            job->notify_pending = FALSE;
        }
        else if (download->queued_count)
        {
            status = download->queued[0];
            memmove(&download->queued[0], &download->queued[1], --download->queued_count * sizeof(status));
            have = TRUE;
        }
        else if ((have = progress_due(download, &status)))
            job->notify_pending = FALSE;
        if (have)
        {
            download->last_callback_tick = GetTickCount64();
            download->last_callback_bytes = status.BytesTransferred;
            IDODownloadStatusCallback_AddRef(callback);
        }
        else
        {
            /* all told: a finished download lets go of the client's object, which may hold us */
            if (callback && job_is_final(job))
            {
                drop = callback;
                download->callback = NULL;
            }
            job->callback_busy = FALSE;
        }
        LeaveCriticalSection(&job->cs);

        if (!have)
        {
            if (drop) IDODownloadStatusCallback_Release(drop);
            return;
        }

        TRACE("download %s: state %d, %s / %s, error %#lx, extended %#lx\n", debugstr_guid(&job->id),
              status.State, wine_dbgstr_longlong(status.BytesTransferred), wine_dbgstr_longlong(status.BytesTotal),
              status.Error, status.ExtendedError);
        hr = IDODownloadStatusCallback_OnStatusChange(callback, &download->IDODownload_iface, &status);
        if (client_gone(hr))
        {
            /* the client is gone: forget its callback rather than fail on it forever */
            WARN("status callback of download %s is gone (%#lx)\n", debugstr_guid(&job->id), hr);
            EnterCriticalSection(&job->cs);
            if (download->callback == callback)
            {
                download->callback = NULL;
                drop = callback;
            }
            LeaveCriticalSection(&job->cs);
            if (drop) IDODownloadStatusCallback_Release(drop);
        }
        IDODownloadStatusCallback_Release(callback);
    }
}

/* ------------------------------------------------------------------ paths */

static BOOL same_path(const WCHAR *a, const WCHAR *b)
{
    WCHAR full_a[MAX_PATH], full_b[MAX_PATH];
    DWORD len_a, len_b;

    len_a = GetFullPathNameW(a, MAX_PATH, full_a, NULL);
    len_b = GetFullPathNameW(b, MAX_PATH, full_b, NULL);
    if (!len_a || len_a >= MAX_PATH || !len_b || len_b >= MAX_PATH)
        return CompareStringOrdinal(a, -1, b, -1, TRUE) == CSTR_EQUAL;
    return CompareStringOrdinal(full_a, -1, full_b, -1, TRUE) == CSTR_EQUAL;
}

/* Create the directories leading to a file, as the caller. */
static HRESULT create_parent_directories(const WCHAR *path)
{
    WCHAR *copy, *p, *last = NULL, *start;
    HRESULT hr = S_OK;
    BOOL impersonating;
    DWORD attrs;

    if (!(copy = strdupW(path))) return E_OUTOFMEMORY;
    for (p = copy; *p; p++)
        if (*p == '/') *p = '\\';
    for (p = copy; *p; p++)
        if (*p == '\\') last = p;
    if (!last)
    {
        free(copy);
        return E_INVALIDARG;
    }
    *last = 0;
    attrs = GetFileAttributesW(copy);
    if (attrs != INVALID_FILE_ATTRIBUTES)
    {
        free(copy);
        return attrs & FILE_ATTRIBUTE_DIRECTORY ? S_OK : HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
    }

    /* skip the root: "C:\" or "\\server\share\" */
    if (copy[0] == '\\' && copy[1] == '\\')
    {
        int slashes = 0;
        for (start = copy + 2; *start && slashes < 2; start++)
            if (*start == '\\') slashes++;
    }
    else start = copy + 3;

    impersonating = SUCCEEDED(CoImpersonateClient());
    for (p = start; ; p++)
    {
        WCHAR saved = *p;

        if (*p && *p != '\\') continue;
        *p = 0;
        if (*copy && !CreateDirectoryW(copy, NULL) && GetLastError() != ERROR_ALREADY_EXISTS)
        {
            hr = HRESULT_FROM_WIN32(GetLastError());
            WARN("could not create %s: %#lx\n", debugstr_w(copy), hr);
            *p = saved;
            break;
        }
        *p = saved;
        if (!saved) break;
    }
    if (impersonating) CoRevertToSelf();
    free(copy);
    return hr;
}

/* ------------------------------------------------------------------ IDODownload */

static HRESULT WINAPI download_QueryInterface(IDODownload *iface, REFIID riid, void **out)
{
    struct do_download *download = impl_from_IDODownload(iface);

    TRACE("%p, %s, %p.\n", iface, debugstr_guid(riid), out);

    if (!out) return E_POINTER;
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IDODownload))
    {
        *out = &download->IDODownload_iface;
        job_addref(download->job);
        return S_OK;
    }
    if (IsEqualGUID(riid, &IID_IMarshal))
        return object_marshal_create((IUnknown *)iface, DOSVC_OBJECT_DOWNLOAD, &download->job->id, out);
    WARN("Unsupported interface %s.\n", debugstr_guid(riid));
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI download_AddRef(IDODownload *iface)
{
    struct do_download *download = impl_from_IDODownload(iface);

    TRACE("%p.\n", iface);
    job_addref(download->job);
    return 2;   /* the count belongs to the job; this value is only informational */
}

static ULONG WINAPI download_Release(IDODownload *iface)
{
    struct do_download *download = impl_from_IDODownload(iface);

    TRACE("%p.\n", iface);
    job_release(download->job);
    return 1;
}

/* Check a Start's ranges and give them back sorted (NULL for a whole file). */
static HRESULT read_ranges(const DO_DOWNLOAD_RANGES_INFO *info, BG_FILE_RANGE **bg_ranges,
                           struct file_range **sorted)
{
    BG_FILE_RANGE *ranges;
    HRESULT hr;
    UINT i;

    *bg_ranges = NULL;
    *sorted = NULL;
    if (!info->RangeCount) return S_OK;
    if (!(ranges = malloc(info->RangeCount * sizeof(*ranges)))) return E_OUTOFMEMORY;
    for (i = 0; i < info->RangeCount; i++)
    {
        /* DO_DOWNLOAD_RANGE and BG_FILE_RANGE share layout and "to the end" value */
        if (!info->Ranges[i].Length || info->Ranges[i].Offset == DO_LENGTH_TO_EOF)
        {
            free(ranges);
            return DO_E_INVALID_RANGE;
        }
        ranges[i].InitialOffset = info->Ranges[i].Offset;
        ranges[i].Length = info->Ranges[i].Length;
    }
    if (FAILED(hr = file_make_ranges(info->RangeCount, ranges, sorted)))
    {
        free(ranges);
        return hr;
    }
    *bg_ranges = ranges;
    return S_OK;
}

/* Are these the ranges the download is working on? */
static BOOL same_ranges(const struct do_file *file, const struct file_range *ranges, UINT count)
{
    return file->range_count == count &&
           (!count || !memcmp(file->ranges, ranges, count * sizeof(*ranges)));
}

/* Internal Abort; also how a new download to the same path ends a paused one. */
static HRESULT abort_download(struct do_download *download)
{
    struct do_job *job = download->job;
    IStream *file_stream = NULL, *stream = NULL;
    HRESULT hr = S_OK;

    EnterCriticalSection(&job->cs);
    if (job_is_final(job))
        hr = DO_E_INVALID_STATE;
    else
    {
        struct do_file *file = download_file(download);

        /* a worker still reading finds its sink gone and gives up */
        engine_stop_run(job);
        if (file)
        {
            file_delete_temp(file);
            file_stream = file->stream;
            file->stream = NULL;
        }
        stream = download->stream;
        download->stream = NULL;
        job_clear_error(job);
        job_set_state(job, BG_JOB_STATE_CANCELLED);
    }
    LeaveCriticalSection(&job->cs);

    /* releasing a client's stream is a call into it: never under the lock */
    if (file_stream) IStream_Release(file_stream);
    if (stream) IStream_Release(stream);
    if (SUCCEEDED(hr))
    {
        engine_notify(job);
        manager_remove_job(job);
    }
    return hr;
}

/* Another live download to the same path: a paused one gives way (it is
 * aborted), a running or finished one keeps it.  Under start_cs. */
static HRESULT claim_local_path(struct do_download *download, const WCHAR *path)
{
    struct do_download **paused = NULL;
    struct do_job **jobs;
    ULONG count, i, paused_count = 0;
    HRESULT hr;

    if (FAILED(hr = manager_snapshot(SNAPSHOT_DOWNLOADS, &jobs, &count))) return hr;
    if (!(paused = calloc(count ? count : 1, sizeof(*paused)))) hr = E_OUTOFMEMORY;
    for (i = 0; i < count && SUCCEEDED(hr); i++)
    {
        struct do_job *other = jobs[i];
        struct do_download *other_download = other->download;
        BOOL same;

        if (other == download->job) continue;
        EnterCriticalSection(&other->cs);
        same = other_download->started && !job_is_final(other) && other_download->local_path &&
               same_path(other_download->local_path, path);
        if (same)
        {
            /* Paused includes a transient error the core is retrying */
            if (is_transferring(other) || other->state == BG_JOB_STATE_TRANSFERRED)
                hr = HRESULT_FROM_WIN32(ERROR_SHARING_VIOLATION);
            else
                paused[paused_count++] = other_download;
        }
        LeaveCriticalSection(&other->cs);
    }
    if (SUCCEEDED(hr))
    {
        for (i = 0; i < paused_count; i++)
        {
            TRACE("aborting paused download %s, which has the same path\n", debugstr_guid(&paused[i]->job->id));
            abort_download(paused[i]);
        }
    }
    for (i = 0; i < count; i++) job_release(jobs[i]);
    free(jobs);
    free(paused);
    return hr;
}

/* The first Start: make the core's file and queue the job. */
static HRESULT first_start(struct do_download *download, const BG_FILE_RANGE *ranges, UINT range_count)
{
    struct do_job *job = download->job;
    struct do_file *file = NULL, **files;
    WCHAR *uri, *local_path;
    UINT64 size_hint;
    HRESULT hr = S_OK;
    DWORD attrs;

    EnterCriticalSection(&job->cs);
    uri = strdupW(download->uri);
    local_path = strdupW(download->local_path);
    if (!uri || (download->local_path && !local_path)) hr = E_OUTOFMEMORY;
    size_hint = download->total_size_set ? download->total_size : DO_UNKNOWN_FILE_SIZE;
    LeaveCriticalSection(&job->cs);

    EnterCriticalSection(&start_cs);
    if (SUCCEEDED(hr) && local_path)
    {
        /* check first, so that a Start that fails leaves other downloads alone */
        attrs = GetFileAttributesW(local_path);
        if (attrs != INVALID_FILE_ATTRIBUTES && !(attrs & FILE_ATTRIBUTE_DIRECTORY))
            hr = HRESULT_FROM_WIN32(ERROR_FILE_EXISTS);   /* DO never overwrites */
        if (SUCCEEDED(hr)) hr = create_parent_directories(local_path);
        if (SUCCEEDED(hr)) hr = claim_local_path(download, local_path);
    }
    if (SUCCEEDED(hr))
        hr = file_create(job, NULL, uri, local_path, range_count, ranges, size_hint, &file);

    if (SUCCEEDED(hr))
    {
        EnterCriticalSection(&job->cs);
        if (job_is_final(job))
            hr = DO_E_INVALID_STATE;      /* aborted meanwhile */
        else if (download->started)
            hr = S_FALSE;                 /* another Start won the race; nothing more to do */
        else if (!local_path && !download->stream)
            hr = DO_E_FILE_DOWNLOADSINK_UNSPECIFIED;   /* the stream was taken back meanwhile */
        else if (!(files = malloc(sizeof(*files))))
            hr = E_OUTOFMEMORY;
        else
        {
            files[0] = file;
            job->files = files;
            job->file_count = job->file_capacity = 1;
            file->stream = download->stream;
            download->stream = NULL;
            file = NULL;
            download->started = TRUE;
            job_clear_error(job);
            job->retry_at_tick = 0;
            job->last_progress_tick = job->queued_tick = GetTickCount64();
            job_set_state(job, BG_JOB_STATE_QUEUED);
        }
        LeaveCriticalSection(&job->cs);
    }
    LeaveCriticalSection(&start_cs);

    if (file) file_free(file);
    free(uri);
    free(local_path);
    if (hr == S_OK) engine_job_queued(job);
    return FAILED(hr) ? hr : S_OK;
}

/* BlockingMode: wait until the transfer is over one way or another. */
static HRESULT wait_for_transfer(struct do_download *download)
{
    struct do_job *job = download->job;
    HRESULT hr = S_OK;

    EnterCriticalSection(&job->cs);
    /* a transient error is not the end: the core retries until it gives up */
    while (is_core_running(job))
        SleepConditionVariableCS(&download->state_changed, &job->cs, INFINITE);
    if (job->state == BG_JOB_STATE_ERROR) hr = job->error.code;
    LeaveCriticalSection(&job->cs);
    TRACE("download %s: blocking Start returns %#lx\n", debugstr_guid(&job->id), hr);
    return hr;
}

static HRESULT WINAPI download_Start(IDODownload *iface, const DO_DOWNLOAD_RANGES_INFO *ranges_info)
{
    struct do_download *download = impl_from_IDODownload(iface);
    struct do_job *job = download->job;
    struct file_range *sorted = NULL;
    BG_FILE_RANGE *ranges = NULL;
    HRESULT hr, range_hr = S_OK;
    BOOL queued = FALSE, first = FALSE, blocking;
    UINT range_count = ranges_info ? ranges_info->RangeCount : 0;

    TRACE("%p, %p (%u ranges).\n", iface, ranges_info, range_count);

    if (ranges_info) range_hr = read_ranges(ranges_info, &ranges, &sorted);

    EnterCriticalSection(&job->cs);
    blocking = download->blocking;
    if (job_is_final(job))
        hr = DO_E_INVALID_STATE;
    else if (FAILED(range_hr))
        hr = range_hr;
    else if (!ranges_info && !download->started)
        hr = DO_E_DOWNLOAD_RANGES_EXPECTED;   /* NULL only resumes */
    else if (!download->uri)
        hr = DO_E_DOWNLOAD_NO_URI;            /* a ContentId alone needs DO's cloud service */
    else if (!download->started)
    {
        if (!download->local_path && !download->stream) hr = DO_E_FILE_DOWNLOADSINK_UNSPECIFIED;
        else
        {
            hr = S_OK;
            first = TRUE;
        }
    }
    else
    {
        struct do_file *file = download_file(download);

        hr = S_OK;
        switch (job->state)
        {
        case BG_JOB_STATE_QUEUED:
        case BG_JOB_STATE_TRANSFERRING:
            break;   /* already on its way */

        case BG_JOB_STATE_TRANSFERRED:
            if (!ranges_info || (!range_count && !file->range_count && !file->range_base))
                break;   /* nothing new: the whole file is here */
            if (!range_count)
            {
                /* the whole file after the ranges already here */
                free(sorted);
                if (!(sorted = malloc(sizeof(*sorted))))
                {
                    hr = E_OUTOFMEMORY;
                    break;
                }
                sorted[0].offset = 0;
                sorted[0].length = BG_LENGTH_TO_EOF;
                range_count = 1;
            }
            /* new ranges go after the bytes already in the sink */
            free(file->ranges);
            file->ranges = sorted;
            file->range_count = range_count;
            file->range_base = file->bytes_done;
            file->transferred = FALSE;
            sorted = NULL;
            queued = TRUE;
            break;

        default:   /* Paused */
            if (ranges_info && !same_ranges(file, sorted, range_count))
            {
                /* the bytes so far are laid out for the ranges of the first Start */
                hr = DO_E_INVALID_STATE;
                break;
            }
            queued = TRUE;
            break;
        }
        if (queued)
        {
            /* a new run: retry now, forget the old error, restart the no-progress clock */
            engine_stop_run(job);
            job_clear_error(job);
            job->retry_at_tick = 0;
            job->last_progress_tick = job->queued_tick = GetTickCount64();
            job_set_state(job, BG_JOB_STATE_QUEUED);
        }
    }
    LeaveCriticalSection(&job->cs);

    if (first) hr = first_start(download, ranges, range_count);
    free(ranges);
    free(sorted);
    if (queued) engine_job_queued(job);
    engine_notify(job);
    if (SUCCEEDED(hr) && blocking) hr = wait_for_transfer(download);
    return hr;
}

static HRESULT WINAPI download_Pause(IDODownload *iface)
{
    struct do_download *download = impl_from_IDODownload(iface);
    struct do_job *job = download->job;
    HRESULT hr = S_OK;

    TRACE("%p.\n", iface);

    EnterCriticalSection(&job->cs);
    if (job_is_final(job))
        hr = DO_E_INVALID_STATE;
    /* Created, Paused by request or error, and Transferred stay as they are */
    else if (download->started && is_core_running(job))
    {
        /* the worker notices the new generation and stops; Pause does not wait for it */
        engine_stop_run(job);
        job_clear_error(job);
        job_set_state(job, BG_JOB_STATE_SUSPENDED);
    }
    LeaveCriticalSection(&job->cs);
    engine_notify(job);
    return hr;
}

static HRESULT WINAPI download_Abort(IDODownload *iface)
{
    struct do_download *download = impl_from_IDODownload(iface);

    TRACE("%p.\n", iface);

    return abort_download(download);
}

static HRESULT WINAPI download_Finalize(IDODownload *iface)
{
    struct do_download *download = impl_from_IDODownload(iface);
    struct do_job *job = download->job;
    IStream *stream = NULL;
    HRESULT hr = S_OK;

    TRACE("%p.\n", iface);

    EnterCriticalSection(&job->cs);
    if (!download->started || job->state != BG_JOB_STATE_TRANSFERRED)
        hr = DO_E_INVALID_STATE;
    else
    {
        struct do_file *file = download_file(download);

        engine_stop_run(job);
        /* a file sink appears under its name only now; a stream has nothing to rename */
        if (!file->stream) hr = file_commit(file);
        if (SUCCEEDED(hr))
        {
            stream = file->stream;
            file->stream = NULL;
            file->completed = TRUE;
            job_clear_error(job);
            job_set_state(job, BG_JOB_STATE_ACKNOWLEDGED);
        }
        else
        {
            /* it stays Transferred with its bytes, so the client may try again;
             * GetStatus shows why (ExtendedError) meanwhile */
            WARN("download %s: Finalize failed: %#lx\n", debugstr_guid(&job->id), hr);
            job_set_error(job, hr, BG_ERROR_CONTEXT_LOCAL_FILE, file);
            job_touch(job);
        }
    }
    LeaveCriticalSection(&job->cs);

    if (stream) IStream_Release(stream);
    engine_notify(job);
    if (SUCCEEDED(hr)) manager_remove_job(job);
    return hr;
}

static HRESULT WINAPI download_GetStatus(IDODownload *iface, DO_DOWNLOAD_STATUS *status)
{
    struct do_download *download = impl_from_IDODownload(iface);

    TRACE("%p, %p.\n", iface, status);

    if (!status) return E_INVALIDARG;
    EnterCriticalSection(&download->job->cs);
    get_status(download, status);
    LeaveCriticalSection(&download->job->cs);
    return S_OK;
}

static HRESULT return_bstr(const WCHAR *s, VARIANT *value)
{
    if (!s) return E_NOT_SET;
    if (!(V_BSTR(value) = SysAllocString(s))) return E_OUTOFMEMORY;
    V_VT(value) = VT_BSTR;
    return S_OK;
}

static void return_ui4(DWORD v, VARIANT *value)
{
    V_VT(value) = VT_UI4;
    V_UI4(value) = v;
}

static void return_bool(BOOL v, VARIANT *value)
{
    V_VT(value) = VT_BOOL;
    V_BOOL(value) = v ? VARIANT_TRUE : VARIANT_FALSE;
}

static HRESULT return_unknown(void *object, VARIANT *value)
{
    if (!object) return E_NOT_SET;
    V_VT(value) = VT_UNKNOWN;
    V_UNKNOWN(value) = object;
    IUnknown_AddRef(V_UNKNOWN(value));
    return S_OK;
}

static HRESULT WINAPI download_GetProperty(IDODownload *iface, DODownloadProperty id, VARIANT *value)
{
    struct do_download *download = impl_from_IDODownload(iface);
    struct do_job *job = download->job;
    struct do_file *file;
    WCHAR guid[GUID_STRING_LENGTH];
    HRESULT hr = S_OK;

    TRACE("%p, %d, %p.\n", iface, id, value);

    if ((unsigned int)id >= PROPERTY_COUNT) return DO_E_UNKNOWN_PROPERTY_ID;
    if (!(properties[id].access & ACCESS_READ)) return DO_E_WRITE_ONLY_PROPERTY;
    if (!value) return E_INVALIDARG;
    VariantInit(value);

    EnterCriticalSection(&job->cs);
    file = download_file(download);
    switch (id)
    {
    case DODownloadProperty_Id:
        StringFromGUID2(&job->id, guid, ARRAY_SIZE(guid));
        hr = return_bstr(guid, value);
        break;
    case DODownloadProperty_Uri:
        hr = return_bstr(download->uri, value);
        break;
    case DODownloadProperty_ContentId:
        hr = return_bstr(download->content_id, value);
        break;
    case DODownloadProperty_DisplayName:
        hr = return_bstr(download->display_name, value);
        break;
    case DODownloadProperty_LocalPath:
        hr = return_bstr(download->local_path, value);
        break;
    case DODownloadProperty_HttpCustomHeaders:
        hr = return_bstr(job->custom_headers, value);
        break;
    case DODownloadProperty_CostPolicy:
        if (!download->cost_policy_set) hr = E_NOT_SET;
        else return_ui4(download->cost_policy, value);
        break;
    case DODownloadProperty_CallbackFreqPercent:
        if (!download->callback_percent_set) hr = E_NOT_SET;
        else return_ui4(download->callback_percent, value);
        break;
    case DODownloadProperty_CallbackFreqSeconds:
        return_ui4(download->callback_seconds, value);
        break;
    case DODownloadProperty_NoProgressTimeoutSeconds:
        if (!download->no_progress_timeout_set) hr = E_NOT_SET;
        else return_ui4(download->no_progress_timeout, value);
        break;
    case DODownloadProperty_ForegroundPriority:
        return_bool(job->priority == BG_JOB_PRIORITY_FOREGROUND, value);
        break;
    case DODownloadProperty_BlockingMode:
        return_bool(download->blocking, value);
        break;
    case DODownloadProperty_CallbackInterface:
        hr = return_unknown(download->callback, value);
        break;
    case DODownloadProperty_StreamInterface:
        hr = return_unknown(file ? file->stream : download->stream, value);
        break;
    case DODownloadProperty_CorrelationVector:
        hr = return_bstr(download->correlation_vector, value);
        break;
    case DODownloadProperty_IntegrityCheckMandatory:
        if (!download->integrity_mandatory_set) hr = E_NOT_SET;
        else return_bool(download->integrity_mandatory, value);
        break;
    case DODownloadProperty_TotalSizeBytes:
        /* the file's size once a server told it, else what the client said */
        if (file && file->remote_size != DO_UNKNOWN_FILE_SIZE)
        {
            V_VT(value) = VT_UI8;
            V_UI8(value) = file->remote_size;
        }
        else if (!download->total_size_set) hr = E_NOT_SET;
        else
        {
            V_VT(value) = VT_UI8;
            V_UI8(value) = download->total_size;
        }
        break;
    case DODownloadProperty_DisallowOnCellular:
        return_bool(download->disallow_on_cellular, value);
        break;
    case DODownloadProperty_HttpCustomAuthHeaders:
        hr = return_bstr(job->custom_auth_headers, value);
        break;
    case DODownloadProperty_HttpAllowSecureToNonSecureRedirect:
        return_bool(download->allow_secure_to_nonsecure, value);
        break;
    case DODownloadProperty_NonVolatile:
        return_bool(download->non_volatile, value);
        break;
    case DODownloadProperty_HttpRedirectionTarget:
        hr = return_bstr(file ? file->redirect_target : NULL, value);
        break;
    case DODownloadProperty_HttpResponseHeaders:
        hr = return_bstr(file ? file->response_headers : NULL, value);
        break;
    case DODownloadProperty_HttpServerIPAddress:
        hr = return_bstr(file ? file->server_ip : NULL, value);
        break;
    case DODownloadProperty_HttpStatusCode:
        if (!file || !file->last_status) hr = E_NOT_SET;
        else return_ui4(file->last_status, value);
        break;
    default:
        hr = DO_E_UNKNOWN_PROPERTY_ID;
        break;
    }
    LeaveCriticalSection(&job->cs);
    if (FAILED(hr)) VariantInit(value);
    return hr;
}

/* DO's SecurityFlags are WinHTTP's; the core speaks BITS' BG_SSL_* flags. */
static ULONG core_security_flags(const struct do_download *download)
{
    DWORD flags = download->security_flags;
    ULONG core = 0;

    if (flags & WINHTTP_ENABLE_SSL_REVOCATION)
        core |= BG_SSL_ENABLE_CRL_CHECK;   /* documented to override the ignore flags */
    else
    {
        if (flags & SECURITY_FLAG_IGNORE_CERT_CN_INVALID) core |= BG_SSL_IGNORE_CERT_CN_INVALID;
        if (flags & SECURITY_FLAG_IGNORE_CERT_DATE_INVALID) core |= BG_SSL_IGNORE_CERT_DATE_INVALID;
        if (flags & SECURITY_FLAG_IGNORE_UNKNOWN_CA) core |= BG_SSL_IGNORE_UNKNOWN_CA;
        if (flags & SECURITY_FLAG_IGNORE_CERT_WRONG_USAGE) core |= BG_SSL_IGNORE_CERT_WRONG_USAGE;
    }
    if (download->allow_secure_to_nonsecure) core |= BG_HTTP_REDIRECT_POLICY_ALLOW_HTTPS_TO_HTTP;
    return core;
}

/* SecurityContext: the bytes of a serialized certificate context (CRYPT_E_FILE_ERROR
 * for anything else, as DoSvc answers Microsoft's test). */
static HRESULT read_security_context(SAFEARRAY *array, const CERT_CONTEXT **cert)
{
    LONG lower, upper;
    BYTE *data;
    HRESULT hr;

    *cert = NULL;
    if (FAILED(SafeArrayGetLBound(array, 1, &lower)) || FAILED(SafeArrayGetUBound(array, 1, &upper)) ||
        upper < lower)
        return CRYPT_E_FILE_ERROR;
    if (FAILED(hr = SafeArrayAccessData(array, (void **)&data))) return hr;
    hr = cert_from_serialized(data, upper - lower + 1, cert);
    SafeArrayUnaccessData(array);
    return hr;
}

/* The checks that depend on the value alone. */
static HRESULT check_value(DODownloadProperty id, const VARIANT *value)
{
    const WCHAR *str = V_VT(value) == VT_BSTR && V_BSTR(value) ? V_BSTR(value) : L"";
    /* a BSTR is counted: a NUL inside it would hide the rest from string checks */
    size_t len = V_VT(value) == VT_BSTR && V_BSTR(value) ? SysStringLen(V_BSTR(value)) : 0;

    if (V_VT(value) != properties[id].vt) return E_INVALIDARG;
    switch (id)
    {
    case DODownloadProperty_Uri:
        /* http and https only, as for BITS-style jobs */
        return FAILED(url_check(str, len)) ? E_INVALIDARG : S_OK;
    case DODownloadProperty_LocalPath:
        /* the directories are made at Start: only the syntax is checked
         * here; a NUL inside the BSTR or a device name is no file name */
        if ((size_t)lstrlenW(str) != len || path_is_device(str)) return E_INVALIDARG;
        return file_check_path_syntax(str);
    case DODownloadProperty_HttpCustomHeaders:
    case DODownloadProperty_HttpCustomAuthHeaders:
        return len > MAX_HEADERS_LENGTH || FAILED(headers_check(str, len)) ? E_INVALIDARG : S_OK;
    case DODownloadProperty_CostPolicy:
        return V_UI4(value) > DODownloadCostPolicy_NoCellular ? E_INVALIDARG : S_OK;
    case DODownloadProperty_NoProgressTimeoutSeconds:
        /* 0 means DO's default; anything else has a documented floor */
        return V_UI4(value) && V_UI4(value) < MIN_NO_PROGRESS_TIMEOUT ? E_INVALIDARG : S_OK;
    case DODownloadProperty_SecurityContext:
        return V_ARRAY(value) && SafeArrayGetDim(V_ARRAY(value)) == 1 ? S_OK : E_INVALIDARG;
    default:
        return S_OK;
    }
}

/* The checks that depend on the download's state.  Under job->cs. */
static HRESULT check_settable(struct do_download *download, DODownloadProperty id, const VARIANT *value)
{
    struct do_job *job = download->job;

    if (job_is_final(job)) return DO_E_INVALID_STATE;
    switch (id)
    {
    case DODownloadProperty_LocalPath:
        if (download->started) return DO_E_INVALID_STATE;
        if (download->stream) return DO_E_FILE_DOWNLOADSINK_ALREADY_SET;
        break;
    case DODownloadProperty_StreamInterface:
        if (download->started) return DO_E_INVALID_STATE;
        if (V_UNKNOWN(value) && download->local_path) return DO_E_FILE_DOWNLOADSINK_ALREADY_SET;
        break;
    case DODownloadProperty_Uri:
        /* a running transfer keeps its URL */
        if (download->started && is_transferring(job)) return DO_E_INVALID_STATE;
        break;
    default:
        break;
    }
    return S_OK;
}

static void swap_string(WCHAR **field, WCHAR **value)
{
    WCHAR *old = *field;
    *field = *value;
    *value = old;
}

static void swap_bstr(BSTR *field, BSTR *value)
{
    BSTR old = *field;
    *field = *value;
    *value = old;
}

static HRESULT WINAPI download_SetProperty(IDODownload *iface, DODownloadProperty id, const VARIANT *value)
{
    struct do_download *download = impl_from_IDODownload(iface);
    struct do_job *job = download->job;
    WCHAR *string = NULL, *string2 = NULL;
    const CERT_CONTEXT *cert = NULL;
    IUnknown *object = NULL;
    BSTR bstr = NULL;
    struct do_file *file;
    HRESULT hr;

    TRACE("%p, %d, %p.\n", iface, id, value);

    if ((unsigned int)id >= PROPERTY_COUNT) return DO_E_UNKNOWN_PROPERTY_ID;
    if (!(properties[id].access & ACCESS_WRITE)) return DO_E_READ_ONLY_PROPERTY;
    if (!value) return E_INVALIDARG;
    if (FAILED(hr = check_value(id, value))) return hr;

    /* copies and QueryInterface (a call into the client) before taking the lock */
    switch (id)
    {
    case DODownloadProperty_Uri:
    case DODownloadProperty_ContentId:
    case DODownloadProperty_DisplayName:
    case DODownloadProperty_LocalPath:
    case DODownloadProperty_HttpCustomHeaders:
    case DODownloadProperty_HttpCustomAuthHeaders:
        if (!(string = strdupW(V_BSTR(value) ? V_BSTR(value) : L""))) return E_OUTOFMEMORY;
        if (id == DODownloadProperty_Uri && !(string2 = strdupW(string)))
        {
            free(string);
            return E_OUTOFMEMORY;
        }
        break;
    case DODownloadProperty_CorrelationVector:
    case DODownloadProperty_DecryptionInfo:
    case DODownloadProperty_IntegrityCheckInfo:
        if (!(bstr = SysAllocString(V_BSTR(value) ? V_BSTR(value) : L""))) return E_OUTOFMEMORY;
        break;
    case DODownloadProperty_CallbackInterface:
        if (V_UNKNOWN(value) &&
            FAILED(hr = IUnknown_QueryInterface(V_UNKNOWN(value), &IID_IDODownloadStatusCallback, (void **)&object)))
            return E_NOINTERFACE;
        break;
    case DODownloadProperty_StreamInterface:
        /* DO only ever calls Write, but it asks for IStream, not ISequentialStream */
        if (V_UNKNOWN(value) && FAILED(hr = IUnknown_QueryInterface(V_UNKNOWN(value), &IID_IStream, (void **)&object)))
            return E_NOINTERFACE;
        break;
    case DODownloadProperty_SecurityContext:
        if (FAILED(hr = read_security_context(V_ARRAY(value), &cert))) return hr;
        break;
    default:
        break;
    }

    EnterCriticalSection(&job->cs);
    file = download_file(download);
    if (SUCCEEDED(hr = check_settable(download, id, value)))
    {
        switch (id)
        {
        case DODownloadProperty_Uri:
            swap_string(&download->uri, &string);
            /* a paused or finished download goes on from the new URL */
            if (file) swap_string(&file->remote_name, &string2);
            break;
        case DODownloadProperty_ContentId:
            swap_string(&download->content_id, &string);
            break;
        case DODownloadProperty_DisplayName:
            swap_string(&download->display_name, &string);
            break;
        case DODownloadProperty_LocalPath:
            swap_string(&download->local_path, &string);
            break;
        case DODownloadProperty_HttpCustomHeaders:
            /* the next request sends them */
            swap_string(&job->custom_headers, &string);
            break;
        case DODownloadProperty_HttpCustomAuthHeaders:
            swap_string(&job->custom_auth_headers, &string);
            break;
        case DODownloadProperty_CostPolicy:
            /* every network is the same to us: stored and reported only */
            download->cost_policy = V_UI4(value);
            download->cost_policy_set = TRUE;
            break;
        case DODownloadProperty_SecurityFlags:
            download->security_flags = V_UI4(value);
            job->security_flags = core_security_flags(download);
            break;
        case DODownloadProperty_CallbackFreqPercent:
            download->callback_percent = V_UI4(value);
            download->callback_percent_set = TRUE;
            break;
        case DODownloadProperty_CallbackFreqSeconds:
            download->callback_seconds = V_UI4(value);
            break;
        case DODownloadProperty_NoProgressTimeoutSeconds:
            download->no_progress_timeout = V_UI4(value);
            download->no_progress_timeout_set = TRUE;
            job->no_progress_timeout = V_UI4(value);
            job->no_progress_timeout_set = V_UI4(value) != 0;
            break;
        case DODownloadProperty_ForegroundPriority:
            /* FOREGROUND goes ahead of every background job and needs no free slot */
            job->priority = V_BOOL(value) ? BG_JOB_PRIORITY_FOREGROUND : BG_JOB_PRIORITY_NORMAL;
            break;
        case DODownloadProperty_BlockingMode:
            download->blocking = V_BOOL(value) != VARIANT_FALSE;
            break;
        case DODownloadProperty_CallbackInterface:
        {
            IUnknown *old = (IUnknown *)download->callback;
            download->callback = (IDODownloadStatusCallback *)object;
            object = old;
            break;
        }
        case DODownloadProperty_StreamInterface:
        {
            IUnknown *old = (IUnknown *)download->stream;
            download->stream = (IStream *)object;
            object = old;
            break;
        }
        case DODownloadProperty_SecurityContext:
        {
            /* the engine shows it to https servers that ask for one (http.c) */
            const CERT_CONTEXT *old = job->client_cert;
            job->client_cert = cert;
            cert = old;
            break;
        }
        case DODownloadProperty_NetworkToken:
            download->network_token = V_BOOL(value) != VARIANT_FALSE;
            break;
        case DODownloadProperty_CorrelationVector:
            swap_bstr(&download->correlation_vector, &bstr);
            break;
        case DODownloadProperty_DecryptionInfo:
            swap_bstr(&download->decryption_info, &bstr);
            break;
        case DODownloadProperty_IntegrityCheckInfo:
            swap_bstr(&download->integrity_info, &bstr);
            break;
        case DODownloadProperty_IntegrityCheckMandatory:
            download->integrity_mandatory = V_BOOL(value) != VARIANT_FALSE;
            download->integrity_mandatory_set = TRUE;
            break;
        case DODownloadProperty_TotalSizeBytes:
            download->total_size = V_UI8(value);
            download->total_size_set = TRUE;
            if (file) file->size_hint = V_UI8(value);
            break;
        case DODownloadProperty_DisallowOnCellular:
            download->disallow_on_cellular = V_BOOL(value) != VARIANT_FALSE;
            break;
        case DODownloadProperty_HttpAllowSecureToNonSecureRedirect:
            download->allow_secure_to_nonsecure = V_BOOL(value) != VARIANT_FALSE;
            job->security_flags = core_security_flags(download);
            break;
        case DODownloadProperty_NonVolatile:
            /* the job store keeps the download from now on, or forgets it */
            download->non_volatile = V_BOOL(value) != VARIANT_FALSE;
            break;
        default:
            break;
        }
        /* saved if NonVolatile (or forgotten, if no longer) */
        store_job_changed(job, FALSE);
    }
    LeaveCriticalSection(&job->cs);

    /* what was replaced (or refused); releasing a client's object is a call into it */
    free(string);
    free(string2);
    SysFreeString(bstr);
    if (cert) CertFreeCertificateContext(cert);
    if (object) IUnknown_Release(object);
    return hr;
}

static const IDODownloadVtbl download_vtbl =
{
    download_QueryInterface,
    download_AddRef,
    download_Release,
    download_Start,
    download_Pause,
    download_Abort,
    download_Finalize,
    download_GetStatus,
    download_GetProperty,
    download_SetProperty,
};

/* ------------------------------------------------------------------ creation */

HRESULT download_create(struct do_job **out)
{
    struct do_download *download;
    struct do_job *job;
    HRESULT hr;

    if (!(download = calloc(1, sizeof(*download)))) return E_OUTOFMEMORY;
    if (FAILED(hr = job_create(L"", BG_JOB_TYPE_DOWNLOAD, &job)))
    {
        free(download);
        return hr;
    }
    download->IDODownload_iface.lpVtbl = &download_vtbl;
    download->job = job;
    download->callback_seconds = 1;   /* documented default */
    download->last_state.State = DODownloadState_Created;
    InitializeConditionVariable(&download->state_changed);

    /* not yet in the table, so nobody else sees the job */
    job->download = download;
    job->priority = BG_JOB_PRIORITY_NORMAL;   /* background until ForegroundPriority */
    TRACE("created download %p on job %s\n", download, debugstr_guid(&job->id));
    *out = job;
    return S_OK;
}

void download_free(struct do_download *download)
{
    if (download->callback) IDODownloadStatusCallback_Release(download->callback);
    if (download->stream) IStream_Release(download->stream);
    free(download->uri);
    free(download->content_id);
    free(download->display_name);
    free(download->local_path);
    SysFreeString(download->correlation_vector);
    SysFreeString(download->decryption_info);
    SysFreeString(download->integrity_info);
    free(download);
}

IDODownload *download_iface(struct do_job *job)
{
    return &job->download->IDODownload_iface;
}

BOOL download_matches(struct do_job *job, const DO_DOWNLOAD_ENUM_CATEGORY *category)
{
    struct do_download *download = job->download;
    WCHAR guid[GUID_STRING_LENGTH];
    const WCHAR *value = NULL;
    BOOL ret;

    EnterCriticalSection(&job->cs);
    switch (category->Property)
    {
    case DODownloadProperty_Id:
        StringFromGUID2(&job->id, guid, ARRAY_SIZE(guid));
        value = guid;
        break;
    case DODownloadProperty_Uri:
        value = download->uri;
        break;
    case DODownloadProperty_ContentId:
        value = download->content_id;
        break;
    case DODownloadProperty_DisplayName:
        value = download->display_name;
        break;
    case DODownloadProperty_LocalPath:
        value = download->local_path;
        break;
    default:
        break;
    }
    /* a property never set matches nothing */
    ret = value && CompareStringOrdinal(value, -1, category->Value, -1, TRUE) == CSTR_EQUAL;
    LeaveCriticalSection(&job->cs);
    return ret;
}

/* ------------------------------------------------------------------ durability (store.c) */

/* Tags of the download's block in its job's record; the job's own fields
 * (priority, headers, security flags, no-progress timeout, the file) are
 * in the job's part.  Callback and stream are the client's objects and are
 * not kept; neither is SecurityContext (docs/gaps.md). */
enum
{
    DL_STARTED = 1,
    DL_URI,
    DL_CONTENT_ID,
    DL_DISPLAY_NAME,
    DL_LOCAL_PATH,
    DL_COST_POLICY,          /* present only once set */
    DL_SECURITY_FLAGS,
    DL_CALLBACK_PERCENT,     /* present only once set */
    DL_CALLBACK_SECONDS,
    DL_NO_PROGRESS_TIMEOUT,  /* present only once set */
    DL_BLOCKING,
    DL_NETWORK_TOKEN,
    DL_CORRELATION_VECTOR,
    DL_DECRYPTION_INFO,
    DL_INTEGRITY_INFO,
    DL_INTEGRITY_MANDATORY,  /* present only once set */
    DL_TOTAL_SIZE,           /* present only once set */
    DL_DISALLOW_ON_CELLULAR,
    DL_ALLOW_SECURE_TO_NONSECURE,
    DL_NON_VOLATILE,
};

/* Under job->cs.  NonVolatile downloads are kept, unless their bytes go to
 * a stream, which cannot come back. */
BOOL download_is_durable(struct do_job *job)
{
    return job->download->non_volatile && !job->download->stream;
}

/* Under job->cs. */
void download_store_save(struct do_job *job, struct store_writer *w)
{
    struct do_download *download = job->download;

    store_put_u32(w, DL_STARTED, download->started);
    store_put_str(w, DL_URI, download->uri);
    store_put_str(w, DL_CONTENT_ID, download->content_id);
    store_put_str(w, DL_DISPLAY_NAME, download->display_name);
    store_put_str(w, DL_LOCAL_PATH, download->local_path);
    if (download->cost_policy_set) store_put_u32(w, DL_COST_POLICY, download->cost_policy);
    store_put_u32(w, DL_SECURITY_FLAGS, download->security_flags);
    if (download->callback_percent_set) store_put_u32(w, DL_CALLBACK_PERCENT, download->callback_percent);
    store_put_u32(w, DL_CALLBACK_SECONDS, download->callback_seconds);
    if (download->no_progress_timeout_set) store_put_u32(w, DL_NO_PROGRESS_TIMEOUT, download->no_progress_timeout);
    store_put_u32(w, DL_BLOCKING, download->blocking);
    store_put_u32(w, DL_NETWORK_TOKEN, download->network_token);
    store_put_str(w, DL_CORRELATION_VECTOR, download->correlation_vector);
    store_put_str(w, DL_DECRYPTION_INFO, download->decryption_info);
    store_put_str(w, DL_INTEGRITY_INFO, download->integrity_info);
    if (download->integrity_mandatory_set) store_put_u32(w, DL_INTEGRITY_MANDATORY, download->integrity_mandatory);
    if (download->total_size_set) store_put_u64(w, DL_TOTAL_SIZE, download->total_size);
    store_put_u32(w, DL_DISALLOW_ON_CELLULAR, download->disallow_on_cellular);
    store_put_u32(w, DL_ALLOW_SECURE_TO_NONSECURE, download->allow_secure_to_nonsecure);
    store_put_u32(w, DL_NON_VOLATILE, download->non_volatile);
}

static BOOL load_string(const struct store_reader *value, WCHAR **field)
{
    WCHAR *str;

    if (!store_get_str(value, &str)) return FALSE;
    free(*field);
    *field = str;
    return TRUE;
}

static BOOL load_bstr(const struct store_reader *value, BSTR *field)
{
    WCHAR *str;
    BSTR bstr;

    if (!store_get_str(value, &str)) return FALSE;
    bstr = SysAllocString(str);
    free(str);
    if (!bstr) return FALSE;
    SysFreeString(*field);
    *field = bstr;
    return TRUE;
}

/* A job read back from the store gets its download again; the job is not
 * yet visible to anyone. */
HRESULT download_store_load(struct do_job *job, struct store_reader *block)
{
    struct do_download *download;
    struct store_reader value;
    BOOL ok = TRUE;
    UINT32 u32;
    USHORT tag;

    if (job->download || job->file_count > 1) return E_INVALIDARG;
    if (!(download = calloc(1, sizeof(*download)))) return E_OUTOFMEMORY;
    download->IDODownload_iface.lpVtbl = &download_vtbl;
    download->job = job;
    download->callback_seconds = 1;
    InitializeConditionVariable(&download->state_changed);

    while (ok && store_next(block, &tag, &value))
    {
        switch (tag)
        {
        case DL_STARTED: ok = store_get_u32(&value, &u32) && ((download->started = !!u32), TRUE); break;
        case DL_URI: ok = load_string(&value, &download->uri); break;
        case DL_CONTENT_ID: ok = load_string(&value, &download->content_id); break;
        case DL_DISPLAY_NAME: ok = load_string(&value, &download->display_name); break;
        case DL_LOCAL_PATH: ok = load_string(&value, &download->local_path); break;
        case DL_COST_POLICY:
            ok = store_get_u32(&value, &u32) && ((download->cost_policy = u32), TRUE);
            download->cost_policy_set = TRUE;
            break;
        case DL_SECURITY_FLAGS: ok = store_get_u32(&value, &u32) && ((download->security_flags = u32), TRUE); break;
        case DL_CALLBACK_PERCENT:
            ok = store_get_u32(&value, &u32) && ((download->callback_percent = u32), TRUE);
            download->callback_percent_set = TRUE;
            break;
        case DL_CALLBACK_SECONDS: ok = store_get_u32(&value, &u32) && ((download->callback_seconds = u32), TRUE); break;
        case DL_NO_PROGRESS_TIMEOUT:
            ok = store_get_u32(&value, &u32) && ((download->no_progress_timeout = u32), TRUE);
            download->no_progress_timeout_set = TRUE;
            break;
        case DL_BLOCKING: ok = store_get_u32(&value, &u32) && ((download->blocking = !!u32), TRUE); break;
        case DL_NETWORK_TOKEN: ok = store_get_u32(&value, &u32) && ((download->network_token = !!u32), TRUE); break;
        case DL_CORRELATION_VECTOR: ok = load_bstr(&value, &download->correlation_vector); break;
        case DL_DECRYPTION_INFO: ok = load_bstr(&value, &download->decryption_info); break;
        case DL_INTEGRITY_INFO: ok = load_bstr(&value, &download->integrity_info); break;
        case DL_INTEGRITY_MANDATORY:
            ok = store_get_u32(&value, &u32) && ((download->integrity_mandatory = !!u32), TRUE);
            download->integrity_mandatory_set = TRUE;
            break;
        case DL_TOTAL_SIZE:
            ok = store_get_u64(&value, &download->total_size);
            download->total_size_set = TRUE;
            break;
        case DL_DISALLOW_ON_CELLULAR:
            ok = store_get_u32(&value, &u32) && ((download->disallow_on_cellular = !!u32), TRUE);
            break;
        case DL_ALLOW_SECURE_TO_NONSECURE:
            ok = store_get_u32(&value, &u32) && ((download->allow_secure_to_nonsecure = !!u32), TRUE);
            break;
        case DL_NON_VOLATILE: ok = store_get_u32(&value, &u32) && ((download->non_volatile = !!u32), TRUE); break;
        }
    }
    /* a started download has its file, a new one none */
    if (!ok || block->bad || download->started != (job->file_count == 1))
    {
        download_free(download);
        return E_INVALIDARG;
    }
    job->download = download;
    get_status(download, &download->last_state);
    return S_OK;
}
