/*
 * Delivery Optimization service: scheduling, transfer workers and callbacks
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
 * A queued job waits in the run queue until a transfer slot is free (jobs at
 * FOREGROUND priority do not wait), then gets a worker of its own (a thread of
 * the pool) that transfers its files one after the other and ends when the job
 * leaves the running states.  A transient error ends the worker too; a timer
 * puts the job back in the queue once the retry delay has passed.  Nothing
 * here holds a lock while talking to a server or a client.
 *
 * Callbacks are delivered from the thread pool, one delivery at a time per
 * job, coalesced: a client that is slow or gone delays only its own job's
 * notifications.  What a run ends with is delivered by its worker itself,
 * once it has given back its slot.
 *
 * Lock order: engine_cs before job->cs.
 */

#include "dosvc_private.h"
#include "winerror.h"
#include "http.h"
#include "cache.h"
#include "byteranges.h"
#include "session_cache.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

#define MAX_ACTIVE_TRANSFERS 32
#define READ_BUFFER_SIZE     (1024 * 1024)
/* Wine's WinHttpReadData returns only once the whole buffer is filled, so a
 * slow server would report progress once per MiB: reads start small and
 * grow while they fill fast. */
#define MIN_READ_SIZE        (16 * 1024)
#define FAST_READ_MS         50
#define SLOW_READ_MS         250
/* ranges closer than this share one request; the gap is read and dropped */
#define COALESCE_GAP         (64 * 1024)
#define MAX_REQUEST_SPAN     (64 * 1024 * 1024)
/* Ranges further apart go several to a request (multipart/byteranges), as
 * many as fit in this much Range header: servers refuse request heads past
 * 8 KiB or so (nginx's large_client_header_buffers, IIS' MaxFieldLength),
 * and the job's own headers share that room. */
#define MAX_RANGE_SET        7168
#define MIN_RANGE_SET        1024
/* a part's asked bytes are held back until the delimiter after it confirms
 * the part was as long as it said; past this, they are written as they come.
 * Confirmed parts wait for more, so a thousand small ones make a few writes,
 * not a thousand. */
#define MAX_HELD_PART        (1024 * 1024)
#define HELD_WRITE_SIZE      (256 * 1024)
#define MAX_EPILOGUE         4096
/* Once a server has answered one multi-range request, the rest of a file's
 * batches go out on this many more connections at once: a server spends
 * its time per part (a seek and a send each), so one connection leaves
 * the others' workers idle (docs/performance.md, "Sparse ranges"). */
#define PARALLEL_BATCHES     3
#define PREFETCH_READ_SIZE   (256 * 1024)
#define MIN_ERROR_RETRY_MS   5000
/* a cache server that sends nothing for this long is given up on */
#define CACHE_TIMEOUT_MS     30000
/* While a foreground transfer runs, the background ones together read no
 * more than this many bytes a second: enough to keep their connections
 * alive, not enough to matter (BITS and DO: background transfers use idle
 * bandwidth only, foreground ones all that is available). */
#define BACKGROUND_TRICKLE   MIN_READ_SIZE

static CRITICAL_SECTION engine_cs;
static BOOL engine_started;

static struct do_job **run_queue;
static ULONG run_queue_count, run_queue_capacity;
static ULONG active_transfers;
static LONG worker_count;
static HANDLE workers_idle;      /* manual-reset, set while worker_count == 0 */
static BOOL shutting_down;

/* foreground transfers under way; background reads trickle while any runs */
static CRITICAL_SECTION foreground_cs;
static volatile LONG foreground_transfers;
static HANDLE foreground_idle;   /* manual-reset, set while foreground_transfers == 0 */
static ULONGLONG trickle_next;   /* when the next background read may start; under foreground_cs */

/* ------------------------------------------------------------------ callbacks */

static BOOL is_disconnected(HRESULT hr)
{
    return hr == RPC_E_DISCONNECTED || hr == HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE) ||
           hr == HRESULT_FROM_WIN32(RPC_S_CALL_FAILED) || hr == RPC_E_SERVER_DIED ||
           hr == RPC_E_SERVER_DIED_DNE || hr == CO_E_OBJNOTCONNECTED;
}

struct job_timer
{
    struct do_job *job;
    LONG generation;
    HANDLE timer;
    BOOL requeue;       /* retry the transfer (else: call JobError again) */
};

static void CALLBACK job_timer_proc(void *context, BOOLEAN fired);

/* Run proc for the job after delay_ms on the thread pool; holds a job reference. */
static void start_job_timer(struct do_job *job, DWORD delay_ms, BOOL requeue)
{
    struct job_timer *timer;

    if (!(timer = calloc(1, sizeof(*timer)))) return;
    job_addref(job);
    timer->job = job;
    timer->generation = job->run_generation;
    timer->requeue = requeue;
    if (!CreateTimerQueueTimer(&timer->timer, NULL, job_timer_proc, timer, delay_ms, 0,
                               WT_EXECUTEONLYONCE | WT_EXECUTELONGFUNCTION))
    {
        ERR("CreateTimerQueueTimer failed: %lu\n", GetLastError());
        job_release(job);
        free(timer);
    }
}

static void deliver_callbacks(struct do_job *job)
{
    IBackgroundCopyJob *job_iface = (IBackgroundCopyJob *)&job->IBackgroundCopyJob5_iface;

    for (;;)
    {
        IBackgroundCopyCallback *callback;
        BOOL transferred, error, modification;
        ULONG flags;
        HRESULT hr = S_OK;

        EnterCriticalSection(&job->cs);
        flags = job->notify_flags;
        callback = job->callback;
        transferred = job->transferred_owed && (flags & BG_NOTIFY_JOB_TRANSFERRED);
        error = job->error_owed && (flags & BG_NOTIFY_JOB_ERROR);
        modification = job->notify_pending && (flags & BG_NOTIFY_JOB_MODIFICATION);
        job->notify_pending = FALSE;
        if (transferred) job->transferred_owed = FALSE;
        if (error) job->error_owed = FALSE;
        if (!callback || (!transferred && !error && !modification))
        {
            /* all told: a finished job lets go of the client's object (see notify_begin) */
            if (callback && job_is_final(job)) job->callback = NULL;
            else callback = NULL;
            job->callback_busy = FALSE;
            LeaveCriticalSection(&job->cs);
            if (callback) IBackgroundCopyCallback_Release(callback);
            return;
        }
        IBackgroundCopyCallback_AddRef(callback);
        LeaveCriticalSection(&job->cs);

        if (modification)
        {
            hr = IBackgroundCopyCallback_JobModification(callback, job_iface, 0);
            TRACE("JobModification returned %#lx\n", hr);
        }
        if (transferred && !is_disconnected(hr))
        {
            hr = IBackgroundCopyCallback_JobTransferred(callback, job_iface);
            TRACE("JobTransferred returned %#lx\n", hr);
        }
        if (error && !is_disconnected(hr))
        {
            IBackgroundCopyError *copy_error;

            if (SUCCEEDED(copy_error_create(job, &copy_error)))
            {
                hr = IBackgroundCopyCallback_JobError(callback, job_iface, copy_error);
                IBackgroundCopyError_Release(copy_error);
                TRACE("JobError returned %#lx\n", hr);
                /* anything but S_OK: call again later while the job stays in ERROR */
                if (hr != S_OK && !is_disconnected(hr))
                {
                    EnterCriticalSection(&job->cs);
                    if (job->state == BG_JOB_STATE_ERROR)
                        start_job_timer(job, max(job->retry_delay * 1000, MIN_ERROR_RETRY_MS), FALSE);
                    LeaveCriticalSection(&job->cs);
                }
            }
        }
        if (is_disconnected(hr))
        {
            /* the client is gone: forget its callback rather than fail on it forever */
            WARN("client callback of job %s is gone (%#lx)\n", debugstr_guid(&job->id), hr);
            EnterCriticalSection(&job->cs);
            if (job->callback == callback)
            {
                job->callback = NULL;
                IBackgroundCopyCallback_Release(callback);
            }
            LeaveCriticalSection(&job->cs);
        }
        IBackgroundCopyCallback_Release(callback);
    }
}

/* Tell the client what is owed, on the calling thread (in the MTA). */
static void deliver_now(struct do_job *job)
{
    /* an IDODownload has its own callback interface and pacing: download.c */
    if (job->download) download_deliver_status(job);
    else deliver_callbacks(job);
}

static DWORD CALLBACK notifier_proc(void *arg)
{
    struct do_job *job = arg;
    HRESULT init = CoInitializeEx(NULL, COINIT_MULTITHREADED);

    deliver_now(job);
    if (SUCCEEDED(init)) CoUninitialize();
    job_release(job);
    return 0;
}

/* Is a delivery owed and nobody delivering?  Then the caller delivers
 * (callback_busy is set for it).
 *
 * A job or download that has ended (cancelled, completed, aborted,
 * finalized) and owes its client nothing more lets go of the client's
 * callback here (*drop, released by the caller outside the lock).  The
 * client may be gone without releasing the job, which then lives on in the
 * service, and with it a proxy into the dead client's apartment: what the
 * service holds of a client should go as soon as it is of no more use
 * (docs/performance.md, "Failures in this run", for what Wine 8 keeps of
 * such an apartment even then). */
static BOOL notify_begin(struct do_job *job, IUnknown **drop)
{
    BOOL start = FALSE;

    *drop = NULL;
    EnterCriticalSection(&job->cs);
    if (job->download)
    {
        if (job->callback_busy) ;
        else if (download_status_due(job)) start = job->callback_busy = TRUE;
        else if (job_is_final(job)) *drop = download_take_callback(job);
    }
    else if (!job->callback)
        job->notify_pending = FALSE;   /* nobody to tell */
    else if (!job->callback_busy && (job->notify_pending || job->transferred_owed || job->error_owed))
        start = job->callback_busy = TRUE;
    else if (!job->callback_busy && job_is_final(job))
    {
        *drop = (IUnknown *)job->callback;
        job->callback = NULL;
    }
    LeaveCriticalSection(&job->cs);
    return start;
}

void engine_notify(struct do_job *job)
{
    IUnknown *drop;
    BOOL start = notify_begin(job, &drop);

    if (drop) IUnknown_Release(drop);
    if (!start) return;
    job_addref(job);
    if (!QueueUserWorkItem(notifier_proc, job, WT_EXECUTELONGFUNCTION))
    {
        ERR("QueueUserWorkItem failed: %lu\n", GetLastError());
        EnterCriticalSection(&job->cs);
        job->callback_busy = FALSE;
        LeaveCriticalSection(&job->cs);
        job_release(job);
    }
}

/* ------------------------------------------------------------------ errors */

static HRESULT http_status_error(DWORD status)
{
    return MAKE_HRESULT(SEVERITY_ERROR, FACILITY_HTTP, status);
}

static BOOL is_transient(HRESULT hr)
{
    DWORD code;

    if (IS_DO_TRANSIENT_ERROR(hr)) return TRUE;
    if (HRESULT_FACILITY(hr) == FACILITY_HTTP)
    {
        code = HRESULT_CODE(hr);
        return code >= 500 || code == HTTP_STATUS_REQUEST_TIMEOUT || code == 429;
    }
    if (HRESULT_FACILITY(hr) != FACILITY_WIN32) return FALSE;
    code = HRESULT_CODE(hr);
    /* Wine's WinHTTP passes socket errors through as they are (WSAECONNRESET,
     * WSAETIMEDOUT, ...): all of them are network trouble worth a retry */
    if (code >= WSABASEERR && code < WSABASEERR + 2000) return TRUE;
    switch (code)
    {
    case ERROR_WINHTTP_INVALID_URL:
    case ERROR_WINHTTP_UNRECOGNIZED_SCHEME:
    case ERROR_WINHTTP_SECURE_FAILURE:
    case ERROR_WINHTTP_REDIRECT_FAILED:
    case ERROR_WINHTTP_LOGIN_FAILURE:
    case ERROR_WINHTTP_CLIENT_AUTH_CERT_NEEDED:   /* the same certificate will not do next time */
        return FALSE;
    }
    /* the network errors: refused, reset, timed out, name lookup, ... */
    return code >= WINHTTP_ERROR_BASE && code <= WINHTTP_ERROR_LAST;
}

/* What a server can be blamed for: an error status, a broken answer or
 * connection.  Not a full disk, a failing stream sink or a stopped run. */
static BOOL is_server_failure(HRESULT hr)
{
    DWORD code = HRESULT_CODE(hr);

    if (HRESULT_FACILITY(hr) == FACILITY_HTTP || IS_DO_TRANSIENT_ERROR(hr)) return TRUE;
    if (hr == DO_E_HTTP_BLOCKSIZE_MISMATCH || hr == DO_E_INVALID_RANGE || hr == DO_E_INSUFFICIENT_RANGE_SUPPORT)
        return TRUE;
    if (HRESULT_FACILITY(hr) != FACILITY_WIN32) return FALSE;
    return (code >= WSABASEERR && code < WSABASEERR + 2000) ||
           (code >= WINHTTP_ERROR_BASE && code <= WINHTTP_ERROR_LAST);
}

/* ------------------------------------------------------------------ one file */

/* What a worker needs for one run, copied so no lock is held while fetching. */
struct run_context
{
    struct http_session *session;
    struct http_session *cache_session;   /* for cache servers (cache.c), made when first needed */
    struct http_settings settings;
    WCHAR *proxy_list;
    WCHAR *proxy_bypass;
    WCHAR *custom_headers;
    WCHAR *custom_auth_headers;
    struct job_credential credentials[MAX_JOB_CREDENTIALS];
    ULONG credential_count;
    WCHAR *owner;        /* whose session may be kept for the next run (session_cache.c) */
    LONG generation;
    struct do_job *job;  /* whose run this is (the worker's reference) */
    BYTE *buffer;
    DWORD read_size;     /* adapts between MIN_READ_SIZE and READ_BUFFER_SIZE */
};

static void run_context_clear(struct run_context *ctx)
{
    ULONG i;

    session_cache_put(ctx->owner, &ctx->settings, ctx->credential_count || ctx->custom_auth_headers, ctx->session);
    http_session_destroy(ctx->cache_session);
    free(ctx->owner);
    ctx->owner = NULL;
    free(ctx->proxy_list);
    free(ctx->proxy_bypass);
    free(ctx->custom_headers);
    free(ctx->custom_auth_headers);
    for (i = 0; i < ctx->credential_count; i++)
    {
        free(ctx->credentials[i].user);
        free(ctx->credentials[i].password);
    }
    if (ctx->settings.client_cert) CertFreeCertificateContext(ctx->settings.client_cert);
    ctx->settings.client_cert = NULL;
    ctx->session = ctx->cache_session = NULL;
    ctx->proxy_list = ctx->proxy_bypass = ctx->custom_headers = ctx->custom_auth_headers = NULL;
    ctx->credential_count = 0;
}

/* Under job->cs. */
static void run_context_capture(struct do_job *job, struct run_context *ctx)
{
    ULONG i, timeout = job_no_progress_timeout(job);

    run_context_clear(ctx);
    ctx->proxy_list = strdupW(job->proxy_list);
    ctx->proxy_bypass = strdupW(job->proxy_bypass);
    ctx->custom_headers = strdupW(job->custom_headers);
    ctx->custom_auth_headers = strdupW(job->custom_auth_headers);
    ctx->owner = strdupW(job->owner);
    for (i = 0; i < job->credential_count; i++)
    {
        ctx->credentials[i] = job->credentials[i];
        ctx->credentials[i].user = strdupW(job->credentials[i].user);
        ctx->credentials[i].password = strdupW(job->credentials[i].password);
    }
    ctx->credential_count = job->credential_count;
    ctx->settings.proxy_usage = job->proxy_usage;
    ctx->settings.proxy_list = ctx->proxy_list;
    ctx->settings.proxy_bypass = ctx->proxy_bypass;
    ctx->settings.security_flags = job->security_flags;
    /* a certificate named by its store and not found since the service
     * started (a record read back) is looked for again */
    if (job->cert_by_store && !job->client_cert &&
        FAILED(cert_find_in_store(job->cert_location, job->cert_store, job->cert_hash, NULL, &job->client_cert)))
        WARN("job %s: its client certificate is not in %s\n", debugstr_guid(&job->id), debugstr_w(job->cert_store));
    if (job->client_cert) ctx->settings.client_cert = CertDuplicateCertificateContext(job->client_cert);
    /* a stalled server is given up on after the no-progress timeout, 60 s at most */
    ctx->settings.timeout_ms = (timeout < 1 ? 1 : timeout > 60 ? 60 : timeout) * 1000;
    ctx->generation = job->run_generation;
}

/* A piece of the remote file to fetch and where it goes locally. */
struct piece
{
    UINT64 remote;
    UINT64 length;      /* HTTP_SIZE_UNKNOWN: to the end */
    UINT64 local;
};

struct file_fetch
{
    struct do_job *job;
    struct do_file *file;
    struct run_context *ctx;
    IStream *stream;    /* the file's stream sink, our own reference, or NULL */
    WCHAR *url;
    ULONGLONG started;
    BG_ERROR_CONTEXT context;
    struct cache_route route;   /* cache.c: cache server or origin for each request */
    BOOL via_cache;             /* the current request went to a cache server ... */
    WCHAR *request_url;         /* ... at this URL */
    UINT64 cache_mark;          /* bytes done when the current source took over */
    const char *range_set;      /* the current request asks for these ranges at once, or NULL */
    BOOL single_ranges;         /* the server does not do multi-range: one range per request */
    BOOL multi_refused;         /* a multi-range request got the whole file, of the same version */
    BOOL fatal;         /* the sink failed: an error retrying cannot mend */
};

static BOOL run_is_current(struct file_fetch *fetch)
{
    return fetch->job->run_generation == fetch->ctx->generation;
}

/* Count bytes received by where they came from.  Under job->cs. */
static void count_wire(struct file_fetch *fetch, UINT64 wire)
{
    if (fetch->via_cache) fetch->file->bytes_from_cache += wire;
    else fetch->file->bytes_from_http += wire;
}

/* Bytes of the file that came but are not the client's: the gaps a request
 * spanning several ranges reads and drops.  They count as fetched. */
static void count_dropped(struct file_fetch *fetch, UINT64 wire)
{
    if (!wire) return;
    EnterCriticalSection(&fetch->job->cs);
    count_wire(fetch, wire);
    LeaveCriticalSection(&fetch->job->cs);
}

/* The temp file was deleted behind our back: its bytes are gone.  As on
 * Windows, that is an error of its own (ERROR_FILE_NOT_FOUND), never a
 * silent start from zero; the file's progress is reset, so the next
 * Resume / Start downloads it again.  Bytes of ranges a download appended
 * after an earlier Transferred (range_base) cannot come back that way: such
 * a file keeps failing until the client aborts it.  Under job->cs. */
static HRESULT temp_lost(struct file_fetch *fetch)
{
    struct do_file *file = fetch->file;

    WARN("the temp file %s of %s is gone\n", debugstr_w(file->temp_name), debugstr_w(file->remote_name));
    file_close_writer(file);
    if (!file->range_base)
    {
        file->bytes_done = 0;
        free(file->etag);
        free(file->last_modified);
        file->etag = file->last_modified = NULL;
        job_touch(fetch->job);
    }
    fetch->fatal = TRUE;
    return HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
}

/* Was the temp file deleted while we hold it open?  Windows shows a pending
 * or POSIX-style delete through the handle; Wine unlinks only at the last
 * close, which transfer_file checks for. */
static BOOL temp_deleted(HANDLE handle)
{
    FILE_STANDARD_INFO info;

    if (!GetFileInformationByHandleEx(handle, FileStandardInfo, &info, sizeof(info))) return FALSE;
    return info.DeletePending || !info.NumberOfLinks;
}

/* Hand received bytes to a stream sink.  IStream::Write is a call into the
 * client, so it is made without the job's lock.  Order needs no lock: a job
 * has one worker at a time and it fetches pieces in local order, so the
 * stream gets them back to back.  Abort takes the stream off the file under
 * the lock, so no write starts once it returned; it does not wait for one
 * already under way, which may be the very call that is calling Abort. */
static HRESULT store_stream_bytes(struct file_fetch *fetch, UINT64 local, const BYTE *data, DWORD size, UINT64 wire)
{
    ULONG written = 0;
    HRESULT hr = S_OK;

    EnterCriticalSection(&fetch->job->cs);
    /* taken back, or replaced by another (before any byte counted): the
     * worker starts the file over with whatever sink it has now */
    if (fetch->file->stream != fetch->stream || !run_is_current(fetch))
        hr = E_ABORT;
    else if (local != fetch->file->bytes_done)
    {
        ERR("stream sink out of order: %s, expected %s\n", wine_dbgstr_longlong(local),
            wine_dbgstr_longlong(fetch->file->bytes_done));
        hr = E_UNEXPECTED;
    }
    LeaveCriticalSection(&fetch->job->cs);
    if (FAILED(hr)) return hr;

    /* No pcbWritten: across processes it comes back through the proxy, and a
     * client that never writes it (Microsoft's SDK stream does not) reads as
     * "0 bytes taken".  S_OK means every byte was taken, as ISequentialStream
     * documents it; only a failure code is an error, and then none of this
     * write's bytes count (docs/gaps.md). */
    if (size) hr = IStream_Write(fetch->stream, data, size, NULL);
    if (SUCCEEDED(hr)) written = size;
    /* E_ABORT means "stopped by Pause/Abort" to the worker, not a failure */
    if (hr == E_ABORT) hr = STG_E_WRITEFAULT;
    if (FAILED(hr))
    {
        WARN("IStream::Write of %lu bytes failed: %#lx\n", size, hr);
        fetch->fatal = TRUE;
    }

    EnterCriticalSection(&fetch->job->cs);
    /* what the client got is counted even if the run ended meanwhile: a
     * resume must go on right after it; bytes that went to a stream the
     * client has replaced meanwhile are not the new stream's */
    if (fetch->file->stream != fetch->stream) written = 0;
    fetch->file->bytes_done += written;
    count_wire(fetch, wire);
    fetch->file->transfer_ms = (DWORD)(GetTickCount64() - fetch->started);
    if (written) fetch->job->last_progress_tick = GetTickCount64();
    job_touch(fetch->job);
    LeaveCriticalSection(&fetch->job->cs);
    engine_notify(fetch->job);
    return hr;
}

/* Write received bytes at their place and count them.  The write is made
 * under the job's lock: Cancel and Complete close the handle under the same
 * lock, so no byte ever lands in a file they have let go of. */
static HRESULT store_bytes(struct file_fetch *fetch, UINT64 local, const BYTE *data, DWORD size, UINT64 wire)
{
    OVERLAPPED ov = { 0 };
    DWORD written, error;

    if (fetch->stream) return store_stream_bytes(fetch, local, data, size, wire);

    EnterCriticalSection(&fetch->job->cs);
    if (!fetch->file->write_handle || !run_is_current(fetch))
    {
        LeaveCriticalSection(&fetch->job->cs);
        return E_ABORT;
    }
    if (size)
    {
        ov.Offset = (DWORD)local;
        ov.OffsetHigh = (DWORD)(local >> 32);
        if (!WriteFile(fetch->file->write_handle, data, size, &written, &ov) || written != size)
        {
            error = GetLastError();
            LeaveCriticalSection(&fetch->job->cs);
            return HRESULT_FROM_WIN32(error ? error : ERROR_WRITE_FAULT);
        }
        if (temp_deleted(fetch->file->write_handle))
        {
            HRESULT hr = temp_lost(fetch);
            LeaveCriticalSection(&fetch->job->cs);
            return hr;
        }
    }
    fetch->file->bytes_done += size;
    count_wire(fetch, wire);
    fetch->file->transfer_ms = (DWORD)(GetTickCount64() - fetch->started);
    fetch->job->last_progress_tick = GetTickCount64();
    job_touch_progress(fetch->job);
    LeaveCriticalSection(&fetch->job->cs);
    engine_notify(fetch->job);
    return S_OK;
}

/* A background transfer while a foreground one runs: wait for this read's
 * turn in the trickle all background transfers share.  FALSE if the run was
 * stopped meanwhile. */
static BOOL wait_background_turn(struct run_context *ctx)
{
    HANDLE handles[2] = { ctx->job->wake_event, foreground_idle };
    ULONGLONG now = GetTickCount64(), turn;
    DWORD ret;

    if (ctx->job->priority == BG_JOB_PRIORITY_FOREGROUND || !foreground_transfers) return TRUE;
    EnterCriticalSection(&foreground_cs);
    turn = max(now, trickle_next);
    trickle_next = turn + 1000ull * MIN_READ_SIZE / BACKGROUND_TRICKLE;
    LeaveCriticalSection(&foreground_cs);
    if (turn <= now) return TRUE;
    ret = WaitForMultipleObjects(2, handles, FALSE, (DWORD)(turn - now));
    if (ret != WAIT_OBJECT_0) return TRUE;
    /* the run was stopped: the HTTP layer must see it too */
    SetEvent(ctx->job->wake_event);
    return FALSE;
}

/* One read of the body, sized to how fast the body comes; a small one when
 * a foreground transfer has the bandwidth. */
static HRESULT read_body(struct run_context *ctx, struct http_request *req, DWORD *read)
{
    ULONGLONG start, took;
    DWORD size;
    BOOL trickle;
    HRESULT hr;

    if (!ctx->read_size) ctx->read_size = MIN_READ_SIZE * 4;
    trickle = ctx->job->priority != BG_JOB_PRIORITY_FOREGROUND && foreground_transfers;
    if (trickle && !wait_background_turn(ctx)) return E_ABORT;
    size = trickle ? MIN_READ_SIZE : ctx->read_size;
    start = GetTickCount64();
    if (FAILED(hr = http_request_read(req, ctx->buffer, size, read))) return hr;
    if (trickle) return S_OK;
    took = GetTickCount64() - start;
    if (*read == ctx->read_size && took < FAST_READ_MS && ctx->read_size < READ_BUFFER_SIZE)
        ctx->read_size *= 2;
    else if (took > SLOW_READ_MS && ctx->read_size > MIN_READ_SIZE)
        ctx->read_size /= 2;
    return S_OK;
}

/* Is a 200 or 206 from the version of the file whose bytes we hold?  Its
 * validator (the ETag, else Last-Modified) must be the one those bytes came
 * with, and its size (the Content-Range total, else Content-Length) the one
 * we know.  Under job->cs. */
static BOOL same_version(const struct do_file *file, const struct http_response *resp)
{
    UINT64 total = HTTP_SIZE_UNKNOWN;

    if (resp->status == HTTP_STATUS_PARTIAL_CONTENT) total = resp->has_range ? resp->range_total : HTTP_SIZE_UNKNOWN;
    else total = resp->content_length;
    if (file->etag)
    {
        if (!resp->etag || wcscmp(file->etag, resp->etag)) return FALSE;
    }
    else if (file->last_modified)
    {
        if (!resp->last_modified || wcscmp(file->last_modified, resp->last_modified)) return FALSE;
    }
    if (file->remote_size != DO_UNKNOWN_FILE_SIZE && total != HTTP_SIZE_UNKNOWN && total != file->remote_size)
        return FALSE;
    return TRUE;
}

/* Remember what the server told us about the file.  Returns FALSE when the
 * body may not join the bytes we hold: a 206 of another version than theirs,
 * or a full body for a stream sink, which cannot take bytes back.  The old
 * validators then stay with the old bytes: the caller decides. */
static BOOL record_response(struct file_fetch *fetch, const struct http_response *resp)
{
    struct do_file *file = fetch->file;
    BOOL same;

    EnterCriticalSection(&fetch->job->cs);
    file->last_status = resp->status;
    file->retry_after = resp->retry_after;
    if (fetch->via_cache) file->cache_connections++;
    else file->http_connections++;
    free(file->response_headers);
    file->response_headers = strdupW(resp->headers);
    if (resp->server_ip)
    {
        free(file->server_ip);
        file->server_ip = strdupW(resp->server_ip);
    }
    if (resp->final_url && wcscmp(resp->final_url, fetch->request_url ? fetch->request_url : fetch->url))
    {
        free(file->redirect_target);
        file->redirect_target = strdupW(resp->final_url);
    }
    if (resp->status != HTTP_STATUS_OK && resp->status != HTTP_STATUS_PARTIAL_CONTENT)
    {
        LeaveCriticalSection(&fetch->job->cs);
        return TRUE;
    }
    same = same_version(file, resp);
    if (fetch->range_set && resp->status == HTTP_STATUS_OK && same &&
        (!file->bytes_done || file->etag || file->last_modified))
    {
        /* the whole file for a multi-range request, of the version we hold:
         * the server does not do multi-range.  The bytes we have stay; the
         * engine asks again, one range at a time. */
        fetch->multi_refused = TRUE;
        LeaveCriticalSection(&fetch->job->cs);
        return TRUE;
    }
    if (file->bytes_done && (resp->status == HTTP_STATUS_OK ? !file->write_handle : !same))
    {
        WARN("%s: the response (%lu) cannot go on from the %s bytes we have\n", debugstr_w(fetch->url),
             resp->status, wine_dbgstr_longlong(file->bytes_done));
        LeaveCriticalSection(&fetch->job->cs);
        return FALSE;
    }
    if (resp->status == HTTP_STATUS_OK && file->bytes_done)
    {
        /* A full body: the bytes we have may be of another version, and the
         * validators below no longer vouch for them.  Drop them together
         * with the old validators, so no saved job pairs old bytes with
         * the new validators. */
        LARGE_INTEGER zero = { 0 };

        SetFilePointerEx(file->write_handle, zero, NULL, FILE_BEGIN);
        SetEndOfFile(file->write_handle);
        file->bytes_done = 0;
        job_touch(fetch->job);
    }
    free(file->etag);
    free(file->last_modified);
    file->etag = strdupW(resp->etag);
    file->last_modified = strdupW(resp->last_modified);
    if (resp->status == HTTP_STATUS_PARTIAL_CONTENT && resp->has_range && resp->range_total != HTTP_SIZE_UNKNOWN)
        file->remote_size = resp->range_total;
    else if (resp->status == HTTP_STATUS_OK && resp->content_length != HTTP_SIZE_UNKNOWN)
        file->remote_size = resp->content_length;
    else if (!same)
        file->remote_size = DO_UNKNOWN_FILE_SIZE;   /* another version: its size is yet to be seen */
    LeaveCriticalSection(&fetch->job->cs);
    return TRUE;
}

static HRESULT status_to_error(struct file_fetch *fetch, DWORD status)
{
    if (status == HTTP_STATUS_FORBIDDEN) fetch->context = BG_ERROR_CONTEXT_REMOTE_FILE;
    return http_status_error(status);
}

/* Send the request to a cache server when the route says so (cache.c).
 * The cache hop gets no credentials: jobs with any never take it. */
static void choose_source(struct file_fetch *fetch, struct http_fetch_params *params, struct http_session **session)
{
    struct run_context *ctx = fetch->ctx;
    WCHAR *url;

    free(fetch->request_url);
    fetch->request_url = NULL;
    fetch->via_cache = FALSE;
    if (!(url = cache_route_url(&fetch->route, fetch->url))) return;
    if (!ctx->cache_session)
    {
        struct http_settings settings = ctx->settings;

        settings.timeout_ms = min(settings.timeout_ms, CACHE_TIMEOUT_MS);
        if (FAILED(http_session_create(&settings, &ctx->cache_session)))
        {
            free(url);
            return;
        }
    }
    fetch->request_url = url;
    fetch->via_cache = TRUE;
    params->url = url;
    params->credentials = NULL;
    params->credential_count = 0;
    params->auth_headers = NULL;
    *session = ctx->cache_session;
}

/* A cache server's answer is used only if it is exactly what was asked for;
 * anything else (an error status, no range support) makes the request fail,
 * and transfer_file goes on at the next server. */
static HRESULT check_cache_response(struct file_fetch *fetch, UINT64 first, const struct http_response *resp)
{
    if (resp->final_url && wcscmp(resp->final_url, fetch->request_url))
    {
        /* the origin redirected, and the redirect led away from the cache */
        fetch->via_cache = FALSE;
        return S_OK;
    }
    if (first == HTTP_NO_RANGE ? resp->status == HTTP_STATUS_OK :
        resp->status == HTTP_STATUS_PARTIAL_CONTENT && resp->has_range && resp->range_first == first)
        return S_OK;
    WARN("cache server answered %lu for %s\n", resp->status, debugstr_w(fetch->request_url));
    EnterCriticalSection(&fetch->job->cs);
    fetch->file->cache_connections++;   /* it answered, if not usefully */
    LeaveCriticalSection(&fetch->job->cs);
    return resp->status >= 400 ? http_status_error(resp->status) : DO_E_HTTP_BLOCKSIZE_MISMATCH;
}

/* One GET, to a cache server when the route says so.  A range asks If-Range
 * with the validator of the bytes we hold, so a server that knows better
 * answers a changed file with 200; *usable says whether the response may
 * join those bytes (see record_response). */
static HRESULT send_request(struct file_fetch *fetch, UINT64 first, UINT64 last, struct http_request **req,
                            struct http_response *resp, BOOL *usable)
{
    struct http_fetch_params params = { 0 };
    struct http_session *session = fetch->ctx->session;
    WCHAR *validator = NULL;
    HRESULT hr;

    EnterCriticalSection(&fetch->job->cs);
    if (first != HTTP_NO_RANGE && fetch->file->bytes_done)
        validator = strdupW(fetch->file->etag ? fetch->file->etag : fetch->file->last_modified);
    LeaveCriticalSection(&fetch->job->cs);

    params.url = fetch->url;
    params.custom_headers = fetch->ctx->custom_headers;
    params.range_first = first;
    params.range_last = last;
    params.range_set = fetch->range_set;
    params.if_range = validator;
    params.credentials = fetch->ctx->credentials;
    params.credential_count = fetch->ctx->credential_count;
    params.auth_headers = fetch->ctx->custom_auth_headers;
    params.abort_event = fetch->job->wake_event;
    choose_source(fetch, &params, &session);
    hr = http_request_send(session, &params, req, resp);
    free(validator);
    if (FAILED(hr)) return hr;
    if (fetch->via_cache && FAILED(hr = check_cache_response(fetch, first, resp)))
    {
        http_request_close(*req);
        http_response_clear(resp);
        return hr;
    }
    *usable = record_response(fetch, resp);
    TRACE("%s range %s-%s%s: status %lu\n", debugstr_w(params.url), wine_dbgstr_longlong(first),
          wine_dbgstr_longlong(last), fetch->range_set ? " (several)" : "", resp->status);
    return S_OK;
}

/* Forget the bytes we hold, and the validators and size that came with
 * them: the file starts over.  A stream sink cannot: what it got is the
 * client's already. */
static HRESULT restart_file(struct file_fetch *fetch)
{
    LARGE_INTEGER zero = { 0 };

    /* bytes handed to a stream cannot be taken back */
    if (fetch->stream)
    {
        WARN("%s cannot be resumed and its sink is a stream\n", debugstr_w(fetch->url));
        return DO_E_INSUFFICIENT_RANGE_SUPPORT;
    }
    TRACE("restarting %s from zero\n", debugstr_w(fetch->url));
    EnterCriticalSection(&fetch->job->cs);
    if (fetch->file->write_handle)
    {
        SetFilePointerEx(fetch->file->write_handle, zero, NULL, FILE_BEGIN);
        SetEndOfFile(fetch->file->write_handle);
    }
    fetch->file->bytes_done = 0;
    free(fetch->file->etag);
    free(fetch->file->last_modified);
    fetch->file->etag = fetch->file->last_modified = NULL;
    fetch->file->remote_size = DO_UNKNOWN_FILE_SIZE;
    job_touch(fetch->job);
    LeaveCriticalSection(&fetch->job->cs);
    return S_OK;
}

/* at most this many fresh starts in one run: a server that changes the file
 * at every request never lets a download finish */
#define MAX_RESTARTS 2

/* The whole remote file, resumed with Range/If-Range when bytes are already
 * here.  A body is complete only when it holds what its framing, its
 * Content-Range or an earlier response says the file holds. */
static HRESULT fetch_whole(struct file_fetch *fetch, UINT64 done)
{
    struct http_response resp;
    struct http_request *req;
    UINT64 expected, total, got;
    unsigned int restarts = 0;
    BOOL usable, mismatch;
    HRESULT hr;
    DWORD read;

    for (;;)
    {
        BOOL resume = done > 0;

        if (FAILED(hr = send_request(fetch, resume ? done : HTTP_NO_RANGE, HTTP_SIZE_UNKNOWN, &req, &resp, &usable)))
            return hr;
        if (!usable)
        {
            /* another version, whose bytes must not join ours: start over */
            http_request_close(req);
            http_response_clear(&resp);
            if (restarts++ == MAX_RESTARTS) return DO_E_INSUFFICIENT_RANGE_SUPPORT;
            if (FAILED(hr = restart_file(fetch))) return hr;
            done = 0;
            continue;
        }
        if (resume && resp.status == HTTP_STATUS_PARTIAL_CONTENT && resp.has_range && resp.range_first == done)
            ;   /* the rest of the same version */
        else if (resp.status == HTTP_STATUS_OK)
            done = 0;   /* no Range support, or the file changed (If-Range): record_response started over */
        else
        {
            http_request_close(req);
            if (resume && resp.status == HTTP_STATUS_RANGE_NOT_SATISFIABLE && restarts++ < MAX_RESTARTS)
            {
                /* the file shrank under us: fetch it again from the start */
                http_response_clear(&resp);
                if (FAILED(hr = restart_file(fetch))) return hr;
                done = 0;
                continue;
            }
            hr = resp.status == HTTP_STATUS_PARTIAL_CONTENT ? DO_E_HTTP_BLOCKSIZE_MISMATCH
                                                            : status_to_error(fetch, resp.status);
            http_response_clear(&resp);
            return hr;
        }

        /* what this body must hold: its Content-Length, or the range a 206 announced */
        expected = resp.content_length;
        mismatch = FALSE;
        if (resp.status == HTTP_STATUS_PARTIAL_CONTENT)
        {
            UINT64 length = resp.range_last - resp.range_first + 1;

            mismatch = expected != HTTP_SIZE_UNKNOWN && expected != length;
            expected = length;
        }
        http_response_clear(&resp);
        EnterCriticalSection(&fetch->job->cs);
        total = fetch->file->remote_size;
        LeaveCriticalSection(&fetch->job->cs);
        if (mismatch || (total != HTTP_SIZE_UNKNOWN && expected != HTTP_SIZE_UNKNOWN && done + expected > total))
        {
            http_request_close(req);
            return DO_E_HTTP_BLOCKSIZE_MISMATCH;
        }
        /* a body without a length still has to reach the size an earlier response gave */
        if (expected == HTTP_SIZE_UNKNOWN && total != HTTP_SIZE_UNKNOWN && total >= done) expected = total - done;

        got = 0;
        for (;;)
        {
            if (FAILED(hr = read_body(fetch->ctx, req, &read))) break;
            if (!read) break;
            if (!run_is_current(fetch))
            {
                hr = E_ABORT;
                break;
            }
            if (expected != HTTP_SIZE_UNKNOWN && got + read > expected)
            {
                /* more than announced: keep what belongs to the file, trust nothing after */
                WARN("%s: the body is longer than the %s bytes announced\n", debugstr_w(fetch->url),
                     wine_dbgstr_longlong(expected));
                read = (DWORD)(expected - got);
                hr = DO_E_HTTP_BLOCKSIZE_MISMATCH;
            }
            if (read)
            {
                HRESULT store_hr = store_bytes(fetch, done + got, fetch->ctx->buffer, read, read);
                if (FAILED(store_hr)) hr = store_hr;
                else got += read;
            }
            if (FAILED(hr)) break;
        }
        http_request_close(req);
        if (FAILED(hr)) return hr;
        if (expected != HTTP_SIZE_UNKNOWN && got < expected)
        {
            WARN("%s: the body ended after %s of %s bytes\n", debugstr_w(fetch->url), wine_dbgstr_longlong(got),
                 wine_dbgstr_longlong(expected));
            return HRESULT_FROM_WIN32(ERROR_WINHTTP_CONNECTION_ERROR);   /* body cut short */
        }
        done += got;
        /* a 206 that stopped before the end: ask for the rest */
        if (total != HTTP_SIZE_UNKNOWN && done < total && got) continue;
        break;
    }

    EnterCriticalSection(&fetch->job->cs);
    /* a body without a length tells the size only at its end */
    fetch->file->remote_size = done;
    LeaveCriticalSection(&fetch->job->cs);
    return S_OK;
}

/* Pieces of the range list not yet fetched, given how many bytes are done. */
static struct piece *pending_pieces(const struct do_file *file, UINT64 done, UINT64 remote_size, DWORD *count)
{
    struct piece *pieces;
    UINT64 local = file->range_base;
    DWORD i, n = 0;

    if (!(pieces = malloc(file->range_count * sizeof(*pieces)))) return NULL;
    for (i = 0; i < file->range_count; i++)
    {
        UINT64 offset = file->ranges[i].offset, length = file->ranges[i].length;

        if (length == BG_LENGTH_TO_EOF)
            length = remote_size == DO_UNKNOWN_FILE_SIZE ? HTTP_SIZE_UNKNOWN
                   : remote_size > offset ? remote_size - offset : 0;
        if (!length) continue;
        if (length != HTTP_SIZE_UNKNOWN && local + length <= done)
        {
            local += length;
            continue;
        }
        if (local < done)
        {
            /* partly done: resume inside the piece */
            offset += done - local;
            if (length != HTTP_SIZE_UNKNOWN) length -= done - local;
            local = done;
        }
        pieces[n].remote = offset;
        pieces[n].length = length;
        pieces[n].local = local;
        n++;
        if (length == HTTP_SIZE_UNKNOWN) break;   /* to the end: always the last */
        local += length;
    }
    *count = n;
    return pieces;
}

static UINT64 piece_end(const struct piece *piece)
{
    return piece->length == HTTP_SIZE_UNKNOWN ? HTTP_SIZE_UNKNOWN : piece->remote + piece->length - 1;
}

/* One request covering pieces [first, last]: stream the body, keep the
 * bytes that belong to a piece, drop the gaps between them.  The body must
 * be exactly the range the 206 announced. */
static HRESULT fetch_group(struct file_fetch *fetch, struct piece *pieces, DWORD first, DWORD last)
{
    UINT64 start = pieces[first].remote, end = piece_end(&pieces[last]), pos, out_local = 0, limit = 0;
    DWORD out_len;
    struct http_response resp;
    struct http_request *req;
    DWORD read, index = first;
    BOOL usable, too_long = FALSE;
    HRESULT hr;

    if (FAILED(hr = send_request(fetch, start, end, &req, &resp, &usable))) return hr;
    if (!usable)
    {
        /* a ranged file cannot start over: the bytes of the old version go
         * (a stream keeps what it got) and the file fails */
        restart_file(fetch);
        hr = DO_E_INSUFFICIENT_RANGE_SUPPORT;
    }
    else if (resp.status != HTTP_STATUS_PARTIAL_CONTENT)
    {
        if (resp.status == HTTP_STATUS_OK) hr = DO_E_INSUFFICIENT_RANGE_SUPPORT;
        else if (resp.status == HTTP_STATUS_RANGE_NOT_SATISFIABLE) hr = DO_E_INVALID_RANGE;
        else hr = status_to_error(fetch, resp.status);
    }
    else if (!resp.has_range || resp.range_first != start ||
             (resp.content_length != HTTP_SIZE_UNKNOWN &&
              resp.content_length != resp.range_last - resp.range_first + 1))
        hr = DO_E_HTTP_BLOCKSIZE_MISMATCH;
    else if (end != HTTP_SIZE_UNKNOWN && resp.range_last < end)
        /* the server clipped the range: it reaches past the end of the file */
        hr = DO_E_INVALID_RANGE;
    else
    {
        /* nothing past the announced range belongs to the file; a piece that
         * runs to the end now knows where that is */
        limit = resp.range_last + 1;
        if (pieces[last].length == HTTP_SIZE_UNKNOWN) pieces[last].length = limit - pieces[last].remote;
    }
    http_response_clear(&resp);
    if (FAILED(hr))
    {
        http_request_close(req);
        return hr;
    }

    pos = start;
    for (;;)
    {
        const BYTE *data = fetch->ctx->buffer;
        DWORD consumed;

        if (FAILED(hr = read_body(fetch->ctx, req, &read))) break;
        if (!read) break;
        if (!run_is_current(fetch))
        {
            hr = E_ABORT;
            break;
        }
        if (pos + read > limit)
        {
            WARN("%s: the body runs past the announced range\n", debugstr_w(fetch->url));
            read = (DWORD)(limit - pos);
            too_long = TRUE;
        }
        consumed = read;
        /* The pieces lie back to back locally, so what this read holds of them
         * is one local span: squeeze out the gaps in place (the output never
         * overtakes the input) and write it once, not once per piece. */
        out_len = 0;
        while (read && index <= last)
        {
            struct piece *piece = &pieces[index];
            UINT64 skip, take, piece_left;

            if (pos < piece->remote)
            {
                /* a gap between two pieces */
                skip = min(piece->remote - pos, read);
                data += skip;
                read -= (DWORD)skip;
                pos += skip;
                continue;
            }
            piece_left = piece->remote + piece->length - pos;
            take = min(piece_left, read);
            if (!out_len) out_local = piece->local + (pos - piece->remote);
            memmove(fetch->ctx->buffer + out_len, data, (size_t)take);
            out_len += (DWORD)take;
            data += take;
            read -= (DWORD)take;
            pos += take;
            if (pos == piece->remote + piece->length) index++;
        }
        /* the gaps count as fetched, next to the bytes delivered */
        if (out_len && FAILED(hr = store_bytes(fetch, out_local, fetch->ctx->buffer, out_len, consumed))) break;
        if (!out_len) count_dropped(fetch, consumed);
        if (too_long)
        {
            hr = DO_E_HTTP_BLOCKSIZE_MISMATCH;
            break;
        }
    }
    http_request_close(req);
    if (FAILED(hr)) return hr;
    if (index <= last)
    {
        WARN("%s: the body ended at %s, before %s\n", debugstr_w(fetch->url), wine_dbgstr_longlong(pos),
             wine_dbgstr_longlong(limit));
        return HRESULT_FROM_WIN32(ERROR_WINHTTP_CONNECTION_ERROR);   /* body cut short */
    }
    return S_OK;
}

/* One request for several groups of pieces at once (multipart/byteranges,
 * RFC 9110 14.6).  Parts must come in the order asked; each must begin at
 * or before the next byte still missing, reach it, and stay within what was
 * asked (a server may merge ranges into one part: the bytes between them
 * are dropped, bytes already written are not written again).  A part's
 * bytes count only once the delimiter after it came. */
struct multi_fetch
{
    struct file_fetch *fetch;
    struct piece *pieces;
    DWORD index, last;          /* the next piece to fill, the last one asked */
    UINT64 filled;              /* bytes of pieces[index] received */
    UINT64 hull_first, hull_last;
    UINT64 size;                /* of the remote file, or HTTP_SIZE_UNKNOWN */
    BYTE *held;                 /* asked bytes not yet written: confirmed parts, then the current one */
    DWORD held_len;
    DWORD confirmed;            /* how many of them the delimiters confirmed */
    UINT64 held_local;
    UINT64 wire;                /* file bytes received and not yet counted */
    BOOL progress;
    BOOL positional;            /* a helper's: write at the place, count nothing (parallel_fetch) */
    UINT64 wire_total;          /* a helper's: every file byte received */
};

/* A helper's confirmed bytes: written at their place in the temp file, not
 * counted; the worker counts a batch once every batch before it is in
 * (bytes_done stays "the first n bytes are there"). */
static HRESULT write_at(struct file_fetch *fetch, UINT64 local, const BYTE *data, DWORD size)
{
    OVERLAPPED ov = { 0 };
    DWORD written, error;
    HRESULT hr = S_OK;

    EnterCriticalSection(&fetch->job->cs);
    if (!fetch->file->write_handle || !run_is_current(fetch)) hr = E_ABORT;
    else
    {
        ov.Offset = (DWORD)local;
        ov.OffsetHigh = (DWORD)(local >> 32);
        if (!WriteFile(fetch->file->write_handle, data, size, &written, &ov) || written != size)
        {
            error = GetLastError();
            hr = HRESULT_FROM_WIN32(error ? error : ERROR_WRITE_FAULT);
        }
    }
    LeaveCriticalSection(&fetch->job->cs);
    return hr;
}

/* Write the first len held bytes; the rest move to the front. */
static HRESULT multi_flush(struct multi_fetch *mf, DWORD len)
{
    HRESULT hr = S_OK;

    if (mf->positional)
    {
        if (len) hr = write_at(mf->fetch, mf->held_local, mf->held, len);
        mf->wire_total += mf->wire;
    }
    else if (len)
    {
        hr = store_bytes(mf->fetch, mf->held_local, mf->held, len, mf->wire);
        if (SUCCEEDED(hr)) mf->progress = TRUE;
    }
    else count_dropped(mf->fetch, mf->wire);
    memmove(mf->held, mf->held + len, mf->held_len - len);
    mf->held_len -= len;
    mf->held_local += len;
    mf->confirmed = 0;
    mf->wire = 0;
    return hr;
}

static HRESULT multi_part_begin(void *context, UINT64 first, UINT64 last, UINT64 total)
{
    struct multi_fetch *mf = context;
    UINT64 cursor = mf->index <= mf->last ? mf->pieces[mf->index].remote + mf->filled : HTTP_SIZE_UNKNOWN;

    if (total != HTTP_SIZE_UNKNOWN && mf->size != HTTP_SIZE_UNKNOWN && total != mf->size)
    {
        WARN("%s: a part says the file holds %s bytes, not %s\n", debugstr_w(mf->fetch->url),
             wine_dbgstr_longlong(total), wine_dbgstr_longlong(mf->size));
        return DO_E_HTTP_BLOCKSIZE_MISMATCH;
    }
    if (cursor == HTTP_SIZE_UNKNOWN || first > cursor || last < cursor || first < mf->hull_first ||
        last > mf->hull_last)
    {
        WARN("%s: part %s-%s is not one asked for (next byte %s)\n", debugstr_w(mf->fetch->url),
             wine_dbgstr_longlong(first), wine_dbgstr_longlong(last), wine_dbgstr_longlong(cursor));
        return DO_E_HTTP_BLOCKSIZE_MISMATCH;
    }
    if (total != HTTP_SIZE_UNKNOWN && mf->size == HTTP_SIZE_UNKNOWN)
    {
        mf->size = total;
        EnterCriticalSection(&mf->fetch->job->cs);
        mf->fetch->file->remote_size = total;
        LeaveCriticalSection(&mf->fetch->job->cs);
    }
    return S_OK;
}

static HRESULT multi_part_data(void *context, UINT64 offset, const BYTE *data, DWORD size)
{
    struct multi_fetch *mf = context;
    HRESULT hr;

    if (!run_is_current(mf->fetch)) return E_ABORT;
    while (size)
    {
        struct piece *piece;
        UINT64 cursor, take;

        if (mf->index > mf->last)
        {
            /* the rest of a merged part: bytes written already */
            mf->wire += size;
            break;
        }
        piece = &mf->pieces[mf->index];
        cursor = piece->remote + mf->filled;
        if (offset < cursor)
        {
            /* a gap, or bytes a merged part repeats: dropped */
            take = min(cursor - offset, size);
        }
        else if (offset > cursor) return DO_E_HTTP_BLOCKSIZE_MISMATCH;   /* cannot happen: parts reach the cursor */
        else
        {
            take = min(piece->length - mf->filled, size);
            take = min(take, MAX_HELD_PART);
            /* no room: write what is confirmed, and if that is not enough
             * (a part this big), all of it */
            if (mf->held_len + take > MAX_HELD_PART && mf->confirmed &&
                FAILED(hr = multi_flush(mf, mf->confirmed)))
                return hr;
            if (mf->held_len + take > MAX_HELD_PART && FAILED(hr = multi_flush(mf, mf->held_len))) return hr;
            if (!mf->held_len) mf->held_local = piece->local + mf->filled;
            memcpy(mf->held + mf->held_len, data, (size_t)take);
            mf->held_len += (DWORD)take;
            mf->filled += take;
            if (mf->filled == piece->length)
            {
                mf->index++;
                mf->filled = 0;
            }
        }
        mf->wire += take;
        offset += take;
        data += take;
        size -= (DWORD)take;
    }
    return S_OK;
}

static HRESULT multi_part_end(void *context)
{
    struct multi_fetch *mf = context;

    mf->confirmed = mf->held_len;
    if (mf->held_len < HELD_WRITE_SIZE) return S_OK;
    return multi_flush(mf, mf->held_len);
}

static const struct byteranges_sink multi_sink = { multi_part_begin, multi_part_data, multi_part_end };

/* Pieces [first, last], groups of them in ranges (the Range header's
 * value).  *next is the first piece not complete afterwards (adjusted to
 * start where its bytes stop); S_FALSE: the server does not do multi-range,
 * nothing was written. */
static HRESULT fetch_multi(struct file_fetch *fetch, struct piece *pieces, DWORD first, DWORD last,
                           const char *ranges, DWORD *next)
{
    struct multi_fetch mf = { 0 };
    struct byteranges reader;
    struct http_response resp;
    struct http_request *req;
    BOOL usable, multipart = FALSE;
    UINT64 single_first = 0, single_len = 0, got = 0;
    HRESULT hr = S_OK;
    DWORD read;

    *next = first;
    mf.fetch = fetch;
    mf.pieces = pieces;
    mf.index = first;
    mf.last = last;
    mf.hull_first = pieces[first].remote;
    mf.hull_last = piece_end(&pieces[last]);
    if (!(mf.held = malloc(MAX_HELD_PART))) return E_OUTOFMEMORY;
    EnterCriticalSection(&fetch->job->cs);
    mf.size = fetch->file->remote_size == DO_UNKNOWN_FILE_SIZE ? HTTP_SIZE_UNKNOWN : fetch->file->remote_size;
    LeaveCriticalSection(&fetch->job->cs);

    fetch->range_set = ranges;
    fetch->multi_refused = FALSE;
    hr = send_request(fetch, mf.hull_first, mf.hull_last, &req, &resp, &usable);
    fetch->range_set = NULL;
    if (FAILED(hr))
    {
        free(mf.held);
        return hr;
    }
    if (!usable)
    {
        /* as for one range: the bytes of the old version go, the file fails */
        restart_file(fetch);
        hr = DO_E_INSUFFICIENT_RANGE_SUPPORT;
    }
    else if (resp.status == HTTP_STATUS_OK)
    {
        /* the whole file: no multi-range here (one range at a time will
         * tell whether ranges work at all), or another version */
        hr = fetch->multi_refused ? S_FALSE : DO_E_INSUFFICIENT_RANGE_SUPPORT;
    }
    else if (resp.status == HTTP_STATUS_RANGE_NOT_SATISFIABLE) hr = DO_E_INVALID_RANGE;
    else if (resp.status != HTTP_STATUS_PARTIAL_CONTENT) hr = status_to_error(fetch, resp.status);
    else if (resp.has_range)
    {
        /* one part, with the headers of the response: what the server
         * chose to send of what was asked */
        single_first = resp.range_first;
        single_len = resp.range_last - resp.range_first + 1;
        if (resp.content_length != HTTP_SIZE_UNKNOWN && resp.content_length != single_len)
            hr = DO_E_HTTP_BLOCKSIZE_MISMATCH;
        else hr = multi_part_begin(&mf, resp.range_first, resp.range_last, resp.range_total);
    }
    else if (!byteranges_init(&reader, resp.content_type))
    {
        WARN("%s: a 206 without Content-Range that is not multipart/byteranges (%s)\n", debugstr_w(fetch->url),
             debugstr_w(resp.content_type));
        hr = DO_E_HTTP_BLOCKSIZE_MISMATCH;
    }
    else multipart = TRUE;
    if (hr == S_OK && !multipart)
        TRACE("%s: one part for %lu pieces\n", debugstr_w(fetch->url), last - first + 1);
    http_response_clear(&resp);
    if (hr != S_OK)
    {
        http_request_close(req);
        free(mf.held);
        return hr;
    }

    for (;;)
    {
        if (FAILED(hr = read_body(fetch->ctx, req, &read))) break;
        if (!read) break;
        if (!run_is_current(fetch))
        {
            hr = E_ABORT;
            break;
        }
        if (multipart)
        {
            if (FAILED(hr = byteranges_feed(&reader, fetch->ctx->buffer, read, &multi_sink, &mf))) break;
            /* what follows the closing delimiter means nothing: a little is
             * read so the connection can serve again, a lot is not waited for */
            if (reader.epilogue > MAX_EPILOGUE) break;
            continue;
        }
        if (got + read > single_len)
        {
            WARN("%s: the body runs past the announced range\n", debugstr_w(fetch->url));
            hr = DO_E_HTTP_BLOCKSIZE_MISMATCH;
            break;
        }
        hr = multi_part_data(&mf, single_first + got, fetch->ctx->buffer, read);
        got += read;
        if (FAILED(hr)) break;
    }
    http_request_close(req);
    if (SUCCEEDED(hr))
    {
        if (multipart ? !byteranges_complete(&reader) : got < single_len)
        {
            WARN("%s: the multi-range body ended early\n", debugstr_w(fetch->url));
            hr = HRESULT_FROM_WIN32(ERROR_WINHTTP_CONNECTION_ERROR);   /* body cut short */
        }
        /* a single part: its end is the body's */
        else if (!multipart) mf.confirmed = mf.held_len;
    }
    /* the confirmed parts are written whatever came after them; the bytes
     * of a part not confirmed are dropped */
    if (hr != E_ABORT && !fetch->fatal)
    {
        HRESULT flush_hr = multi_flush(&mf, mf.confirmed);
        if (SUCCEEDED(hr)) hr = flush_hr;
    }
    count_dropped(fetch, mf.wire);
    free(mf.held);
    if (FAILED(hr)) return hr;

    if (!multipart)
    {
        /* a server that answers several ranges with one: ask one at a time */
        TRACE("%s: the server sent one part; one range per request from now on\n", debugstr_w(fetch->url));
        fetch->single_ranges = TRUE;
    }
    if (mf.index <= last && !mf.progress)
    {
        WARN("%s: a multi-range answer without any asked byte\n", debugstr_w(fetch->url));
        return DO_E_HTTP_BLOCKSIZE_MISMATCH;
    }
    if (mf.index <= last && mf.filled)
    {
        /* the rest of a piece a part stopped inside */
        pieces[mf.index].remote += mf.filled;
        pieces[mf.index].local += mf.filled;
        pieces[mf.index].length -= mf.filled;
    }
    *next = mf.index;
    return S_OK;
}

/* The end of the group of pieces starting at first: pieces close enough
 * that one range spanning them all costs less than a request each. */
static DWORD group_end(const struct piece *pieces, DWORD count, DWORD first)
{
    DWORD last = first;

    while (last + 1 < count && pieces[last].length != HTTP_SIZE_UNKNOWN &&
           pieces[last + 1].remote - (pieces[last].remote + pieces[last].length) <= COALESCE_GAP &&
           (pieces[last + 1].length == HTTP_SIZE_UNKNOWN ||
            piece_end(&pieces[last + 1]) - pieces[first].remote < MAX_REQUEST_SPAN))
        last++;
    return last;
}

/* The Range header's value for the groups from first on, as many as fit
 * in budget characters; *last is the last piece covered.  NULL when fewer
 * than two groups fit (one range needs no multipart). */
static char *range_set(const struct piece *pieces, DWORD count, DWORD first, size_t budget, DWORD *last)
{
    char *set, spec[48];
    size_t len = 0;
    DWORD groups = 0, end;

    if (!(set = malloc(budget + 1))) return NULL;
    while (first < count)
    {
        end = group_end(pieces, count, first);
        if (pieces[end].length == HTTP_SIZE_UNKNOWN) break;   /* to the end: its own request */
        sprintf(spec, "%s%I64u-%I64u", groups ? "," : "", pieces[first].remote, piece_end(&pieces[end]));
        if (len + strlen(spec) > budget) break;
        strcpy(set + len, spec);
        len += strlen(spec);
        *last = end;
        groups++;
        first = end + 1;
    }
    if (groups < 2)
    {
        free(set);
        return NULL;
    }
    return set;
}

/* Requests to a cache server ask one range at a time: what a cache does
 * with several is not known (docs/gaps.md). */
static BOOL multi_range_allowed(const struct file_fetch *fetch)
{
    return !fetch->single_ranges && (!fetch->route.policy || fetch->route.origin_only);
}

/* One batch of the parallel fetch: pieces [first, last] in one request. */
struct batch
{
    DWORD first, last;
    char *ranges;
    UINT64 local, bytes;        /* where its bytes go, how many */
    UINT64 wire;
    HRESULT hr;
    LONG done;
};

struct parallel_fetch
{
    struct file_fetch *fetch;
    const struct piece *pieces;
    struct batch *batches;
    DWORD count;
    LONG next;                  /* the next batch a helper takes */
    HANDLE abort;               /* manual-reset: helpers give up */
    HANDLE batch_done;          /* auto-reset: a batch ended */
    WCHAR *validator;           /* of the bytes the first batch brought */
    BOOL validator_is_etag;
};

/* One batch on a helper's own connection.  Only a complete multipart answer
 * of the same version (its validator the one the first batch came with)
 * is used; anything else leaves the batch to the worker, which asks again
 * one request at a time and handles the answer as always. */
static HRESULT prefetch_batch(struct parallel_fetch *pf, struct http_session *session, BYTE *buffer,
                              struct batch *batch)
{
    struct file_fetch *fetch = pf->fetch;
    struct http_fetch_params params = { 0 };
    struct multi_fetch mf = { 0 };
    struct byteranges reader;
    struct http_response resp;
    struct http_request *req;
    DWORD n = batch->last - batch->first + 1, read;
    const WCHAR *validator;
    HRESULT hr;

    mf.fetch = fetch;
    mf.positional = TRUE;
    mf.last = n - 1;
    mf.size = HTTP_SIZE_UNKNOWN;
    if (!(mf.pieces = malloc(n * sizeof(*mf.pieces))) || !(mf.held = malloc(MAX_HELD_PART)))
    {
        free(mf.pieces);
        return E_OUTOFMEMORY;
    }
    memcpy(mf.pieces, pf->pieces + batch->first, n * sizeof(*mf.pieces));
    mf.hull_first = mf.pieces[0].remote;
    mf.hull_last = piece_end(&mf.pieces[n - 1]);
    EnterCriticalSection(&fetch->job->cs);
    if (fetch->file->remote_size != DO_UNKNOWN_FILE_SIZE) mf.size = fetch->file->remote_size;
    LeaveCriticalSection(&fetch->job->cs);

    params.url = fetch->url;
    params.custom_headers = fetch->ctx->custom_headers;
    params.range_first = mf.hull_first;
    params.range_last = mf.hull_last;
    params.range_set = batch->ranges;
    params.if_range = pf->validator;
    params.credentials = fetch->ctx->credentials;
    params.credential_count = fetch->ctx->credential_count;
    params.auth_headers = fetch->ctx->custom_auth_headers;
    params.abort_event = pf->abort;
    reader.parts = 0;
    if (SUCCEEDED(hr = http_request_send(session, &params, &req, &resp)))
    {
        validator = pf->validator_is_etag ? resp.etag : resp.last_modified;
        if (resp.status != HTTP_STATUS_PARTIAL_CONTENT || resp.has_range || !validator ||
            wcscmp(validator, pf->validator) || !byteranges_init(&reader, resp.content_type))
        {
            TRACE("batch %lu-%lu: status %lu, left to the worker\n", batch->first, batch->last, resp.status);
            hr = DO_E_HTTP_BLOCKSIZE_MISMATCH;
        }
        http_response_clear(&resp);
        while (SUCCEEDED(hr))
        {
            if (FAILED(hr = http_request_read(req, buffer, PREFETCH_READ_SIZE, &read)) || !read) break;
            hr = byteranges_feed(&reader, buffer, read, &multi_sink, &mf);
            if (reader.epilogue > MAX_EPILOGUE) break;
        }
        http_request_close(req);
        if (SUCCEEDED(hr) && (!byteranges_complete(&reader) || mf.index <= mf.last))
            hr = DO_E_HTTP_BLOCKSIZE_MISMATCH;
        if (SUCCEEDED(hr)) hr = multi_flush(&mf, mf.confirmed);
    }
    batch->wire = mf.wire_total + mf.wire;
    TRACE("batch %lu-%lu: %#lx, %lu parts\n", batch->first, batch->last, hr, reader.parts);
    free(mf.held);
    free(mf.pieces);
    return hr;
}

static DWORD CALLBACK prefetch_proc(void *arg)
{
    struct parallel_fetch *pf = arg;
    /* the worker's session: it only waits meanwhile, and a session's pool of
     * kept-alive connections serves several threads (http_native.c) */
    struct http_session *session = pf->fetch->ctx->session;
    BYTE *buffer = malloc(PREFETCH_READ_SIZE);
    LONG index;

    while ((index = InterlockedIncrement(&pf->next) - 1) < (LONG)pf->count)
    {
        struct batch *batch = &pf->batches[index];

        if (!buffer || WaitForSingleObject(pf->abort, 0) == WAIT_OBJECT_0) batch->hr = E_ABORT;
        else batch->hr = prefetch_batch(pf, session, buffer, batch);
        InterlockedExchange(&batch->done, 1);
        SetEvent(pf->batch_done);
    }
    free(buffer);
    return 0;
}

/* Count a helper's batch, in order: its bytes are the next ones. */
static BOOL commit_batch(struct file_fetch *fetch, const struct batch *batch)
{
    BOOL ok;

    EnterCriticalSection(&fetch->job->cs);
    ok = run_is_current(fetch) && fetch->file->write_handle && fetch->file->bytes_done == batch->local;
    if (ok)
    {
        fetch->file->bytes_done += batch->bytes;
        fetch->file->http_connections++;
        count_wire(fetch, batch->wire);
        fetch->file->transfer_ms = (DWORD)(GetTickCount64() - fetch->started);
        fetch->job->last_progress_tick = GetTickCount64();
        job_touch_progress(fetch->job);
    }
    LeaveCriticalSection(&fetch->job->cs);
    if (ok) engine_notify(fetch->job);
    return ok;
}

/* The batches from piece first on, fetched by PARALLEL_BATCHES helpers on
 * connections of their own and counted here in order.  *next: the first
 * piece not counted; the worker goes on from there one request at a time
 * (a batch that failed, the run stopped, or fewer than two batches left). */
static HRESULT fetch_parallel(struct file_fetch *fetch, struct piece *pieces, DWORD count, DWORD first,
                              size_t budget, DWORD *next)
{
    struct parallel_fetch pf = { 0 };
    HANDLE threads[PARALLEL_BATCHES];
    DWORD i, k, capacity = 16, started = 0, last;
    HRESULT hr = S_OK;
    char *ranges;

    *next = first;
    EnterCriticalSection(&fetch->job->cs);
    if (fetch->file->etag) pf.validator = strdupW(fetch->file->etag);
    else if (fetch->file->last_modified) pf.validator = strdupW(fetch->file->last_modified);
    pf.validator_is_etag = fetch->file->etag != NULL;
    LeaveCriticalSection(&fetch->job->cs);
    /* without a validator a helper could not tell that its answer is of the same version */
    if (!pf.validator || !(pf.batches = malloc(capacity * sizeof(*pf.batches))))
    {
        free(pf.validator);
        return S_OK;
    }
    while (first < count && (ranges = range_set(pieces, count, first, budget, &last)))
    {
        struct batch *batch;

        if (pf.count == capacity)
        {
            struct batch *grown = realloc(pf.batches, 2 * capacity * sizeof(*pf.batches));
            if (!grown)
            {
                free(ranges);
                break;
            }
            pf.batches = grown;
            capacity *= 2;
        }
        batch = &pf.batches[pf.count++];
        memset(batch, 0, sizeof(*batch));
        batch->first = first;
        batch->last = last;
        batch->ranges = ranges;
        batch->local = pieces[first].local;
        batch->bytes = pieces[last].local + pieces[last].length - pieces[first].local;
        first = last + 1;
    }
    pf.fetch = fetch;
    pf.pieces = pieces;
    pf.abort = CreateEventW(NULL, TRUE, FALSE, NULL);
    pf.batch_done = CreateEventW(NULL, FALSE, FALSE, NULL);
    if (pf.count >= 2 && pf.abort && pf.batch_done)
    {
        for (i = 0; i < PARALLEL_BATCHES && i < pf.count; i++)
            if ((threads[started] = CreateThread(NULL, 0, prefetch_proc, &pf, 0, NULL))) started++;
    }
    TRACE("%s: %lu batches on %lu connections\n", debugstr_w(fetch->url), pf.count, started);

    for (k = 0; started && k < pf.count; k++)
    {
        while (!InterlockedCompareExchange(&pf.batches[k].done, 0, 0))
        {
            WaitForSingleObject(pf.batch_done, 50);
            if (!run_is_current(fetch)) break;
        }
        if (!run_is_current(fetch))
        {
            hr = E_ABORT;
            break;
        }
        if (FAILED(pf.batches[k].hr) || !commit_batch(fetch, &pf.batches[k]))
        {
            WARN("%s: batch %lu failed (%#lx); going on one request at a time\n", debugstr_w(fetch->url), k,
                 pf.batches[k].hr);
            /* the bytes it fetched were fetched, if not used */
            count_dropped(fetch, pf.batches[k].wire);
            break;
        }
        *next = pf.batches[k].last + 1;
    }
    if (pf.abort) SetEvent(pf.abort);
    if (started) WaitForMultipleObjects(started, threads, TRUE, INFINITE);
    for (i = 0; i < started; i++) CloseHandle(threads[i]);
    if (pf.abort) CloseHandle(pf.abort);
    if (pf.batch_done) CloseHandle(pf.batch_done);
    for (i = 0; i < pf.count; i++) free(pf.batches[i].ranges);
    free(pf.batches);
    free(pf.validator);
    return hr;
}

static HRESULT fetch_ranges(struct file_fetch *fetch, UINT64 done)
{
    struct piece *pieces;
    DWORD count, first = 0, last, next;
    UINT64 remote_size;
    BOOL parallel_tried = FALSE;
    size_t budget;
    HRESULT hr = S_OK;
    char *set;

    EnterCriticalSection(&fetch->job->cs);
    remote_size = fetch->file->remote_size;
    pieces = pending_pieces(fetch->file, done, remote_size, &count);
    LeaveCriticalSection(&fetch->job->cs);
    if (!pieces) return E_OUTOFMEMORY;
    budget = fetch->ctx->custom_headers ? lstrlenW(fetch->ctx->custom_headers) * 3 : 0;
    budget = budget + MIN_RANGE_SET < MAX_RANGE_SET ? MAX_RANGE_SET - budget : MIN_RANGE_SET;

    while (first < count && SUCCEEDED(hr))
    {
        /* the first multi-range request is a short probe when helpers may
         * follow: they start once it has shown the server does multi-range */
        if (multi_range_allowed(fetch) &&
            (set = range_set(pieces, count, first, fetch->stream || parallel_tried ? budget : MIN_RANGE_SET, &last)))
        {
            hr = fetch_multi(fetch, pieces, first, last, set, &next);
            free(set);
            if (hr == S_FALSE)
            {
                TRACE("%s: no multi-range; one range per request\n", debugstr_w(fetch->url));
                fetch->single_ranges = TRUE;
                hr = S_OK;
                continue;
            }
            first = next;
            /* the server does multi-range: the rest on several connections
             * (a stream sink takes its bytes in order only) */
            if (SUCCEEDED(hr) && next == last + 1 && !fetch->stream && !parallel_tried &&
                multi_range_allowed(fetch))
            {
                parallel_tried = TRUE;
                /* smaller batches: the helpers share them out more evenly */
                hr = fetch_parallel(fetch, pieces, count, first, max(budget / 2, MIN_RANGE_SET), &next);
                first = next;
            }
            continue;
        }
        /* grow the request while the next piece is close and the span stays sane */
        last = group_end(pieces, count, first);
        hr = fetch_group(fetch, pieces, first, last);
        first = last + 1;
    }
    free(pieces);
    return hr;
}

/* A request to a cache server failed: go on at the next cache server or the
 * origin (cache.c says which, and whether to wait first), from the bytes we
 * have.  A range begun at one server is continued at the next with the same
 * validator in If-Range, so a server with another version of the file
 * answers with the whole file and the engine starts over rather than mix
 * two versions.  FALSE when the failure is not the server's or the run was
 * stopped meanwhile (then *hr is E_ABORT). */
static BOOL cache_failover(struct file_fetch *fetch, HRESULT *hr, UINT64 *done)
{
    DWORD wait;
    BOOL current;

    if (!fetch->via_cache || *hr == E_ABORT || !is_server_failure(*hr)) return FALSE;
    fetch->via_cache = FALSE;
    EnterCriticalSection(&fetch->job->cs);
    *done = fetch->file->bytes_done;
    LeaveCriticalSection(&fetch->job->cs);
    WARN("cache server failed (%#lx) at %s bytes of %s\n", *hr, wine_dbgstr_longlong(*done), debugstr_w(fetch->url));
    if (*done != fetch->cache_mark) cache_route_progress(&fetch->route);
    if ((wait = cache_route_failed(&fetch->route))) WaitForSingleObject(fetch->job->wake_event, wait);

    EnterCriticalSection(&fetch->job->cs);
    current = run_is_current(fetch) && !shutting_down && !job_is_final(fetch->job);
    /* send_request takes the validator of these bytes from the file */
    *done = fetch->file->bytes_done;
    LeaveCriticalSection(&fetch->job->cs);
    if (!current)
    {
        *hr = E_ABORT;
        return FALSE;
    }
    fetch->cache_mark = *done;
    return TRUE;
}

/* Open (or reopen) the temp file.  One we counted bytes in must still be
 * there (temp_lost); its size must match what we counted, else something
 * outside us changed it and the file starts over.  The handle is published
 * on the file only while the run is still current. */
static HRESULT open_temp(struct file_fetch *fetch, const WCHAR *temp, UINT64 *done)
{
    LARGE_INTEGER size, pos;
    BOOL given_up = FALSE;
    HRESULT hr = S_OK;
    HANDLE handle;
    DWORD error;

    /* FILE_SHARE_WRITE: the store may still be flushing the previous run's
     * handle through a duplicate of it (store_sync_temp, save_one); the file
     * is the same, and it must not keep a new run from opening it */
    handle = CreateFileW(temp, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         NULL, *done ? OPEN_EXISTING : OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (handle == INVALID_HANDLE_VALUE)
    {
        error = GetLastError();
        if (!*done || error != ERROR_FILE_NOT_FOUND) return HRESULT_FROM_WIN32(error);
        EnterCriticalSection(&fetch->job->cs);
        hr = run_is_current(fetch) ? temp_lost(fetch) : E_ABORT;
        LeaveCriticalSection(&fetch->job->cs);
        return hr;
    }
    if (!GetFileSizeEx(handle, &size)) size.QuadPart = 0;

    EnterCriticalSection(&fetch->job->cs);
    if (!run_is_current(fetch) || job_is_final(fetch->job))
    {
        given_up = job_is_final(fetch->job);
        hr = E_ABORT;
    }
    else
    {
        if ((UINT64)size.QuadPart < *done)
        {
            WARN("%s lost bytes behind our back (%s < %s); starting over\n", debugstr_w(temp),
                 wine_dbgstr_longlong(size.QuadPart), wine_dbgstr_longlong(*done));
            *done = 0;
            fetch->file->bytes_done = 0;
            free(fetch->file->etag);
            free(fetch->file->last_modified);
            fetch->file->etag = fetch->file->last_modified = NULL;
        }
        /* bytes past what we counted were never confirmed: drop them */
        pos.QuadPart = *done;
        SetFilePointerEx(handle, pos, NULL, FILE_BEGIN);
        SetEndOfFile(handle);
        file_close_writer(fetch->file);
        fetch->file->write_handle = handle;
        handle = NULL;
    }
    LeaveCriticalSection(&fetch->job->cs);
    if (handle)
    {
        CloseHandle(handle);
        /* OPEN_ALWAYS may just have recreated what Cancel or Complete deleted */
        if (given_up) DeleteFileW(temp);
    }
    return hr;
}

static HRESULT transfer_file(struct do_job *job, struct do_file *file, struct run_context *ctx,
                             BG_ERROR_CONTEXT *context, BOOL *fatal)
{
    struct file_fetch fetch = { 0 };
    WCHAR *temp = NULL;
    BOOL ranged;
    UINT64 done;
    BOOL foreground, private_request, whole;
    HRESULT hr;

    fetch.job = job;
    fetch.file = file;
    fetch.ctx = ctx;
    fetch.context = BG_ERROR_CONTEXT_NONE;
    fetch.started = GetTickCount64();

    EnterCriticalSection(&job->cs);
    /* a stream sink needs no temp file; the worker keeps the stream alive while it writes */
    if ((fetch.stream = file->stream)) IStream_AddRef(fetch.stream);
    hr = fetch.stream ? S_OK : file_make_temp_name(file);
    if (SUCCEEDED(hr))
    {
        fetch.url = strdupW(file->remote_name);
        temp = strdupW(file->temp_name);
        if (!fetch.url || (!temp && !fetch.stream)) hr = E_OUTOFMEMORY;
    }
    done = file->bytes_done;
    ranged = file->range_count != 0;
    if (file->transfer_ms) fetch.started -= file->transfer_ms;
    foreground = job->priority == BG_JOB_PRIORITY_FOREGROUND;
    LeaveCriticalSection(&job->cs);
    private_request = ctx->credential_count || ctx->custom_auth_headers;
    if (fetch.url) cache_route_init(&fetch.route, fetch.url, foreground, private_request);

    if (SUCCEEDED(hr) && !ctx->session && !(ctx->session = session_cache_take(ctx->owner, &ctx->settings)))
        hr = http_session_create(&ctx->settings, &ctx->session);
    if (SUCCEEDED(hr) && !fetch.stream) hr = open_temp(&fetch, temp, &done);
    if (SUCCEEDED(hr))
    {
        fetch.cache_mark = done;
        do hr = ranged ? fetch_ranges(&fetch, done) : fetch_whole(&fetch, done);
        while (FAILED(hr) && cache_failover(&fetch, &hr, &done));
    }

    /* what was written must be on disk before a record calls it progress:
     * a whole file is flushed by the store before its next record (below),
     * anything else now */
    whole = SUCCEEDED(hr) && !fetch.stream;
    if (!whole) store_sync_temp(job, file);
    EnterCriticalSection(&job->cs);
    file_close_writer(file);
    /* given up on by Cancel or Complete while we were busy: its bytes go too */
    if (job_is_final(job) && !file->completed) file_delete_temp(file);
    /* a file deleted while we wrote it is gone once we let go of it (Wine
     * unlinks at the last close): never call that transferred */
    else if (whole && run_is_current(&fetch) &&
             GetFileAttributesW(temp) == INVALID_FILE_ATTRIBUTES && GetLastError() == ERROR_FILE_NOT_FOUND)
        hr = temp_lost(&fetch);
    else if (whole) store_hand_temp(job, file);
    LeaveCriticalSection(&job->cs);
    cache_route_clear(&fetch.route);
    free(fetch.request_url);
    free(fetch.url);
    free(temp);
    if (fetch.stream) IStream_Release(fetch.stream);
    *context = fetch.context;
    *fatal = fetch.fatal;
    return hr;
}

/* ------------------------------------------------------------------ scheduling */

static void dispatch(void);

static struct do_file *next_file(struct do_job *job)
{
    ULONG i;

    for (i = 0; i < job->file_count; i++)
        if (!job->files[i]->transferred) return job->files[i];
    return NULL;
}

/* A transient failure: retry after the retry delay (or the server's
 * Retry-After), unless the no-progress timeout runs out first.  Under job->cs. */
static void schedule_retry(struct do_job *job, DWORD retry_after)
{
    ULONGLONG now = GetTickCount64(), deadline, retry;

    retry = now + (ULONGLONG)max(job->retry_delay, retry_after) * 1000;
    deadline = job->last_progress_tick + (ULONGLONG)job_no_progress_timeout(job) * 1000;
    job->retry_at_tick = retry;
    start_job_timer(job, (DWORD)(min(retry, max(deadline, now)) - now), TRUE);
}

static void foreground_begin(void)
{
    EnterCriticalSection(&foreground_cs);
    if (!foreground_transfers++) ResetEvent(foreground_idle);
    LeaveCriticalSection(&foreground_cs);
}

static void foreground_end(void)
{
    EnterCriticalSection(&foreground_cs);
    if (!--foreground_transfers) SetEvent(foreground_idle);
    LeaveCriticalSection(&foreground_cs);
}

static void finish_worker(struct do_job *job)
{
    EnterCriticalSection(&engine_cs);
    active_transfers--;
    dispatch();
    LeaveCriticalSection(&engine_cs);
    if (!InterlockedDecrement(&worker_count)) SetEvent(workers_idle);
}

static DWORD CALLBACK worker_proc(void *arg)
{
    struct do_job *job = arg;
    struct run_context ctx = { 0 };
    struct do_file *file;
    BG_ERROR_CONTEXT context;
    BOOL requeue, fatal, foreground;
    IUnknown *drop;
    HRESULT hr, init;

    TRACE("worker for job %s starts\n", debugstr_guid(&job->id));
    ctx.job = job;
    if (!(ctx.buffer = malloc(READ_BUFFER_SIZE))) ERR("no memory for the read buffer\n");
    /* a stream sink is a proxy to the client's object: calls need an apartment */
    init = CoInitializeEx(NULL, COINIT_MULTITHREADED);

    EnterCriticalSection(&job->cs);
    for (;;)
    {
        BG_JOB_STATE state = job->state;

        if (shutting_down || !ctx.buffer ||
            (state != BG_JOB_STATE_QUEUED && state != BG_JOB_STATE_TRANSFERRING &&
             state != BG_JOB_STATE_TRANSIENT_ERROR))
            break;
        if (!(file = next_file(job)))
        {
            job_clear_error(job);
            job_set_state(job, BG_JOB_STATE_TRANSFERRED);
            break;
        }
        if (!file->local_name && !file->stream)
        {
            job_set_error(job, DO_E_FILE_DOWNLOADSINK_UNSPECIFIED, BG_ERROR_CONTEXT_NONE, file);
            job_set_state(job, BG_JOB_STATE_ERROR);
            break;
        }
        /* a fresh start for this generation; a stale wake-up must not abort it */
        ResetEvent(job->wake_event);
        if (state != BG_JOB_STATE_TRANSFERRING || ctx.generation != job->run_generation)
        {
            run_context_capture(job, &ctx);
            job_clear_error(job);
            job_set_state(job, BG_JOB_STATE_TRANSFERRING);
        }
        foreground = job->priority == BG_JOB_PRIORITY_FOREGROUND;
        LeaveCriticalSection(&job->cs);
        engine_notify(job);

        if (foreground) foreground_begin();
        hr = transfer_file(job, file, &ctx, &context, &fatal);
        if (foreground) foreground_end();

        EnterCriticalSection(&job->cs);
        if (ctx.generation != job->run_generation)
            continue;   /* suspended, cancelled or resumed meanwhile: look again */
        if (SUCCEEDED(hr))
        {
            file->transferred = TRUE;
            job_touch(job);
            continue;
        }
        if (hr == E_ABORT) continue;
        TRACE("job %s file %s failed: %#lx\n", debugstr_guid(&job->id), debugstr_w(file->remote_name), hr);
        if (HRESULT_CODE(hr) == ERROR_WINHTTP_SECURE_FAILURE && HRESULT_FACILITY(hr) == FACILITY_WIN32)
            hr = DO_E_HTTP_CERT_VALIDATION;
        job_set_error(job, hr, context, file);
        if (!fatal && is_transient(hr))
        {
            job_set_state(job, BG_JOB_STATE_TRANSIENT_ERROR);
            schedule_retry(job, file->retry_after);
        }
        else job_set_state(job, BG_JOB_STATE_ERROR);
        break;
    }
    LeaveCriticalSection(&job->cs);

    /* the run's file is closed (transfer_file); its connections go now */
    run_context_clear(&ctx);
    free(ctx.buffer);

    /* Only now may another run of this job start: a Resume that came while
     * we were closing found worker_active set and left the job to us. */
    EnterCriticalSection(&job->cs);
    job->worker_active = FALSE;
    SetEvent(job->worker_done);
    requeue = !shutting_down && (job->state == BG_JOB_STATE_QUEUED ||
              (job->state == BG_JOB_STATE_TRANSIENT_ERROR && GetTickCount64() + 50 >= job->retry_at_tick));
    LeaveCriticalSection(&job->cs);
    TRACE("worker for job %s ends\n", debugstr_guid(&job->id));
    finish_worker(job);
    if (requeue) engine_job_queued(job);
    /* The run's outcome (Transferred, an error) is told from this thread,
     * which has nothing else to do: a hand-off to another thread costs a
     * wake-up, which on a busy machine is most of a small download's time.
     * The run's slot is free already, and the job is no longer ours, so a
     * client that calls Complete, Resume or Cancel from its callback finds
     * nothing in its way. */
    if (notify_begin(job, &drop)) deliver_now(job);
    if (drop) IUnknown_Release(drop);
    if (SUCCEEDED(init)) CoUninitialize();
    job_release(job);
    return 0;
}

/* Best job waiting: FOREGROUND first, then by priority, then first come. */
static ULONG best_queued(void)
{
    ULONG i, best = 0;

    for (i = 1; i < run_queue_count; i++)
    {
        struct do_job *a = run_queue[i], *b = run_queue[best];
        if (a->priority < b->priority || (a->priority == b->priority && a->queued_tick < b->queued_tick))
            best = i;
    }
    return best;
}

/* Start workers while slots are free.  Under engine_cs. */
static void dispatch(void)
{
    while (run_queue_count && !shutting_down)
    {
        ULONG index = best_queued();
        struct do_job *job = run_queue[index];
        BOOL start = FALSE;

        if (active_transfers >= MAX_ACTIVE_TRANSFERS && job->priority != BG_JOB_PRIORITY_FOREGROUND) break;
        run_queue[index] = run_queue[--run_queue_count];

        EnterCriticalSection(&job->cs);
        job->in_run_queue = FALSE;
        if (!job->worker_active && (job->state == BG_JOB_STATE_QUEUED || job->state == BG_JOB_STATE_TRANSIENT_ERROR))
        {
            job->worker_active = TRUE;
            ResetEvent(job->worker_done);
            start = TRUE;
        }
        LeaveCriticalSection(&job->cs);

        if (start)
        {
            /* the queue's reference goes to the worker */
            active_transfers++;
            if (InterlockedIncrement(&worker_count) == 1) ResetEvent(workers_idle);
            /* a pooled thread: creating one per run costs milliseconds on a
             * busy machine, which is what a small download takes in all */
            if (QueueUserWorkItem(worker_proc, job, WT_EXECUTELONGFUNCTION)) continue;
            ERR("QueueUserWorkItem failed: %lu\n", GetLastError());
            EnterCriticalSection(&job->cs);
            job->worker_active = FALSE;
            SetEvent(job->worker_done);
            LeaveCriticalSection(&job->cs);
            active_transfers--;
            if (!InterlockedDecrement(&worker_count)) SetEvent(workers_idle);
        }
        job_release(job);
    }
}

void engine_job_queued(struct do_job *job)
{
    struct do_job **queue;
    BOOL add;

    EnterCriticalSection(&engine_cs);
    EnterCriticalSection(&job->cs);
    add = !job->in_run_queue && !job->worker_active;
    if (add) job->in_run_queue = TRUE;
    LeaveCriticalSection(&job->cs);
    if (add)
    {
        if (run_queue_count == run_queue_capacity)
        {
            ULONG capacity = run_queue_capacity ? run_queue_capacity * 2 : 64;
            if ((queue = realloc(run_queue, capacity * sizeof(*queue))))
            {
                run_queue = queue;
                run_queue_capacity = capacity;
            }
        }
        if (run_queue_count < run_queue_capacity)
        {
            job_addref(job);
            run_queue[run_queue_count++] = job;
        }
        else ERR("run queue full\n");
    }
    dispatch();
    LeaveCriticalSection(&engine_cs);
}

static void CALLBACK job_timer_proc(void *context, BOOLEAN fired)
{
    struct job_timer *timer = context;
    struct do_job *job = timer->job;
    BOOL requeue = FALSE, notify = FALSE;

    DeleteTimerQueueTimer(NULL, timer->timer, NULL);
    EnterCriticalSection(&job->cs);
    if (timer->generation == job->run_generation && !shutting_down)
    {
        if (!timer->requeue)
        {
            /* JobError asked to be called again */
            if (job->state == BG_JOB_STATE_ERROR)
            {
                job->error_owed = TRUE;
                notify = TRUE;
            }
        }
        else if (job->state == BG_JOB_STATE_TRANSIENT_ERROR)
        {
            ULONGLONG now = GetTickCount64();

            if (now - job->last_progress_tick >= (ULONGLONG)job_no_progress_timeout(job) * 1000)
            {
                /* retries made no progress for too long: give up */
                TRACE("job %s: no progress for %lu s after %#lx\n", debugstr_guid(&job->id),
                      job_no_progress_timeout(job), job->error.code);
                /* a verdict on the job as a whole, not on one of its files */
                job_set_error(job, DO_E_DOWNLOAD_NO_PROGRESS, BG_ERROR_CONTEXT_NONE, NULL);
                job_set_state(job, BG_JOB_STATE_ERROR);
                notify = TRUE;
            }
            else if (now + 50 >= job->retry_at_tick)
                requeue = TRUE;
            else
                start_job_timer(job, (DWORD)(job->retry_at_tick - now), TRUE);
        }
    }
    LeaveCriticalSection(&job->cs);
    if (requeue) engine_job_queued(job);
    if (notify) engine_notify(job);
    job_release(job);
    free(timer);
}

/* Under job->cs.  A queued job needs nothing more: dispatch() skips jobs
 * that are no longer runnable. */
void engine_stop_run(struct do_job *job)
{
    job->run_generation++;
    SetEvent(job->wake_event);
}

HRESULT engine_startup(void)
{
    if (!engine_started)
    {
        InitializeCriticalSection(&engine_cs);
        InitializeCriticalSection(&foreground_cs);
        engine_started = TRUE;
    }
    if (!workers_idle && !(workers_idle = CreateEventW(NULL, TRUE, TRUE, NULL))) return HRESULT_FROM_WIN32(GetLastError());
    if (!foreground_idle && !(foreground_idle = CreateEventW(NULL, TRUE, TRUE, NULL)))
        return HRESULT_FROM_WIN32(GetLastError());
    shutting_down = FALSE;
    cache_startup();
    return S_OK;
}

void engine_shutdown(void)
{
    ULONG i;

    EnterCriticalSection(&engine_cs);
    shutting_down = TRUE;
    for (i = 0; i < run_queue_count; i++)
    {
        EnterCriticalSection(&run_queue[i]->cs);
        run_queue[i]->in_run_queue = FALSE;
        LeaveCriticalSection(&run_queue[i]->cs);
        job_release(run_queue[i]);
    }
    run_queue_count = 0;
    LeaveCriticalSection(&engine_cs);

    /* workers check shutting_down at every step; wake the ones waiting on a server */
    if (workers_idle && WaitForSingleObject(workers_idle, 0) == WAIT_TIMEOUT)
    {
        struct do_job **jobs;
        ULONG count;

        if (SUCCEEDED(manager_snapshot(SNAPSHOT_JOBS | SNAPSHOT_DOWNLOADS, &jobs, &count)))
        {
            for (i = 0; i < count; i++)
            {
                SetEvent(jobs[i]->wake_event);
                job_release(jobs[i]);
            }
            free(jobs);
        }
        if (WaitForSingleObject(workers_idle, 10000) == WAIT_TIMEOUT) ERR("workers did not stop\n");
    }
    session_cache_clear();
    cache_shutdown();
}
