/*
 * Delivery Optimization service: the BITS-style job object
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
 * One object answers IBackgroundCopyJob through IBackgroundCopyJob5 (a single
 * vtable: each version extends the one before), IBackgroundCopyJobHttpOptions
 * and DO's IDeliveryOptimizationJob/Job2.  QueryInterface answers
 * IBackgroundCopyJob and IBackgroundCopyJob5 but not Job2..Job4, which DO
 * does not document; their slots are still filled because a Job5 pointer
 * reaches them.  Where the DO documentation is silent, docs/gaps.md says
 * what we do.
 */

#include "dosvc_private.h"
#include "sddl.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

#define MAX_DISPLAY_NAME 256

/* notify flags DO supports (BG_NOTIFY_DISABLE and FILE_RANGES_TRANSFERRED are not) */
#define SUPPORTED_NOTIFY_FLAGS (BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR | \
                                BG_NOTIFY_JOB_MODIFICATION | BG_NOTIFY_FILE_TRANSFERRED)

#define DEFAULT_RETRY_DELAY 60

/* BITS ids of properties DO does not support (fact sheet §3.1) */
static BOOL is_unsupported_job_property(BITS_JOB_PROPERTY_ID id)
{
    return id == 3 || id == 4 || id == 5 || id == 7 || id == 9 || id == 10;
}

static inline struct do_job *impl_from_IBackgroundCopyJobHttpOptions(IBackgroundCopyJobHttpOptions *iface)
{
    return CONTAINING_RECORD(iface, struct do_job, IBackgroundCopyJobHttpOptions_iface);
}

static inline struct do_job *impl_from_IDeliveryOptimizationJob(IDeliveryOptimizationJob *iface)
{
    return CONTAINING_RECORD(iface, struct do_job, IDeliveryOptimizationJob_iface);
}

static inline struct do_job *impl_from_IDeliveryOptimizationJob2(IDeliveryOptimizationJob2 *iface)
{
    return CONTAINING_RECORD(iface, struct do_job, IDeliveryOptimizationJob2_iface);
}

BOOL job_is_final(const struct do_job *job)
{
    return job->state == BG_JOB_STATE_CANCELLED || job->state == BG_JOB_STATE_ACKNOWLEDGED;
}

void job_touch(struct do_job *job)
{
    now_filetime(&job->times.ModificationTime);
    job->notify_pending = TRUE;
    store_job_changed(job, FALSE);
}

/* Byte progress alone: the store writes it less often (see store.c). */
void job_touch_progress(struct do_job *job)
{
    now_filetime(&job->times.ModificationTime);
    job->notify_pending = TRUE;
    store_job_changed(job, TRUE);
}

void job_set_state(struct do_job *job, BG_JOB_STATE state)
{
    if (job->state == state) return;
    TRACE("job %s: %ld -> %d\n", debugstr_guid(&job->id), job->state, state);
    InterlockedExchange(&job->state, state);
    if (state == BG_JOB_STATE_TRANSFERRED) now_filetime(&job->times.TransferCompletionTime);
    /* the one-off callbacks are owed on entering a state, and no longer once it is left */
    job->transferred_owed = state == BG_JOB_STATE_TRANSFERRED;
    job->error_owed = state == BG_JOB_STATE_ERROR;
    job_touch(job);
    /* an IDODownload reports every state change, not just the latest one */
    if (job->download) download_state_changed(job);
}

void job_clear_error(struct do_job *job)
{
    free(job->error.protocol);
    memset(&job->error, 0, sizeof(job->error));
}

void job_set_error(struct do_job *job, HRESULT code, BG_ERROR_CONTEXT context, struct do_file *file)
{
    job_clear_error(job);
    job->error.code = code;
    job->error.context = context;
    if ((job->error.file = file))
    {
        if (file->remote_name && !wcsnicmp(file->remote_name, L"https:", 6))
            job->error.protocol = strdupW(L"https");
        else
            job->error.protocol = strdupW(L"http");
    }
    job->error_count++;
}

void job_get_progress(struct do_job *job, BG_JOB_PROGRESS *progress)
{
    BG_FILE_PROGRESS file;
    ULONG i;

    memset(progress, 0, sizeof(*progress));
    progress->FilesTotal = job->file_count;
    for (i = 0; i < job->file_count; i++)
    {
        file_get_progress(job->files[i], &file);
        if (file.BytesTotal == BG_SIZE_UNKNOWN || progress->BytesTotal == BG_SIZE_UNKNOWN)
            progress->BytesTotal = BG_SIZE_UNKNOWN;
        else
            progress->BytesTotal += file.BytesTotal;
        progress->BytesTransferred += file.BytesTransferred;
        if (job->files[i]->transferred) progress->FilesTransferred++;
    }
}

/* The SID of whoever is calling, as a string: the owner of a new job. */
WCHAR *caller_sid(void)
{
    /* the service's own, worked out once: the job store makes thousands of
     * jobs outside any call at start-up, and four token calls each add up */
    static WCHAR *process_sid;
    BYTE buffer[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
    TOKEN_USER *user = (TOKEN_USER *)buffer;
    HANDLE token = NULL;
    WCHAR *str = NULL, *ret, *copy;
    BOOL impersonating, from_process = FALSE;
    DWORD size;

    impersonating = SUCCEEDED(CoImpersonateClient());
    if (!impersonating && process_sid) return strdupW(process_sid);
    if (!OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &token))
        from_process = OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token);
    if (impersonating) CoRevertToSelf();
    if (token && GetTokenInformation(token, TokenUser, buffer, sizeof(buffer), &size))
        ConvertSidToStringSidW(user->User.Sid, &str);
    if (token) CloseHandle(token);
    ret = strdupW(str ? str : L"S-1-5-18");
    if (!impersonating && from_process && str && (copy = strdupW(str)) &&
        InterlockedCompareExchangePointer((void **)&process_sid, copy, NULL))
        free(copy);
    LocalFree(str);
    return ret;
}

/* Check, under job->cs, that the job may still be changed. */
static HRESULT check_live(struct do_job *job)
{
    return job_is_final(job) ? DO_E_INVALID_STATE : S_OK;
}

static HRESULT set_string(struct do_job *job, WCHAR **field, const WCHAR *value)
{
    WCHAR *copy = NULL;
    HRESULT hr;

    if (value && !(copy = strdupW(value))) return E_OUTOFMEMORY;
    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)))
    {
        free(*field);
        *field = copy;
        copy = NULL;
        job_touch(job);
    }
    LeaveCriticalSection(&job->cs);
    free(copy);
    if (SUCCEEDED(hr)) engine_notify(job);
    return hr;
}

static HRESULT get_string(struct do_job *job, WCHAR *const *field, WCHAR **out)
{
    HRESULT hr;

    if (!out) return E_INVALIDARG;
    EnterCriticalSection(&job->cs);
    hr = return_string(*field, out);
    LeaveCriticalSection(&job->cs);
    return hr;
}

/* ------------------------------------------------------------------ IBackgroundCopyJob5 */

static HRESULT WINAPI job_QueryInterface(IBackgroundCopyJob5 *iface, REFIID riid, void **out)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %s, %p.\n", iface, debugstr_guid(riid), out);

    if (!out) return E_POINTER;
    /* Job2/3/4 are undocumented for DO, but BITS-era programs probe Job3 for
     * "BITS 2.0 or later"; Job5 extends them all, so one vtable answers every one */
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyJob) ||
        IsEqualGUID(riid, &IID_IBackgroundCopyJob2) || IsEqualGUID(riid, &IID_IBackgroundCopyJob3) ||
        IsEqualGUID(riid, &IID_IBackgroundCopyJob4) || IsEqualGUID(riid, &IID_IBackgroundCopyJob5))
        *out = &job->IBackgroundCopyJob5_iface;
    else if (IsEqualGUID(riid, &IID_IBackgroundCopyJobHttpOptions))
        *out = &job->IBackgroundCopyJobHttpOptions_iface;
    else if (IsEqualGUID(riid, &IID_IDeliveryOptimizationJob))
        *out = &job->IDeliveryOptimizationJob_iface;
    else if (IsEqualGUID(riid, &IID_IDeliveryOptimizationJob2))
        *out = &job->IDeliveryOptimizationJob2_iface;
    else if (IsEqualGUID(riid, &IID_IDoClientHttpOptions))
        *out = &job->IDoClientHttpOptions_iface;
    else if (IsEqualGUID(riid, &IID_IMarshal))
        return object_marshal_create((IUnknown *)iface, DOSVC_OBJECT_JOB, &job->id, out);
    else
    {
        WARN("Unsupported interface %s.\n", debugstr_guid(riid));
        *out = NULL;
        return E_NOINTERFACE;
    }
    IUnknown_AddRef((IUnknown *)*out);
    return S_OK;
}

static ULONG WINAPI job_AddRef(IBackgroundCopyJob5 *iface)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    ULONG ref = InterlockedIncrement(&job->refcount);

    TRACE("%p, refcount %lu.\n", iface, ref);
    return ref;
}

static void job_destroy(struct do_job *job)
{
    ULONG i;

    TRACE("destroying job %s\n", debugstr_guid(&job->id));
    if (job->download) download_free(job->download);
    for (i = 0; i < job->file_count; i++) file_free(job->files[i]);
    free(job->files);
    job_clear_error(job);
    if (job->callback) IBackgroundCopyCallback_Release(job->callback);
    if (job->client_cert) CertFreeCertificateContext(job->client_cert);
    free(job->cert_store);
    free(job->display_name);
    free(job->description);
    free(job->owner);
    free(job->notify_cmdline);
    free(job->notify_params);
    free(job->proxy_list);
    free(job->proxy_bypass);
    free(job->custom_headers);
    free(job->custom_auth_headers);
    for (i = 0; i < job->credential_count; i++)
    {
        free(job->credentials[i].user);
        free(job->credentials[i].password);
    }
    if (job->wake_event) CloseHandle(job->wake_event);
    if (job->worker_done) CloseHandle(job->worker_done);
    DeleteCriticalSection(&job->cs);
    free(job);
}

static ULONG WINAPI job_Release(IBackgroundCopyJob5 *iface)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    ULONG ref = InterlockedDecrement(&job->refcount);

    TRACE("%p, refcount %lu.\n", iface, ref);
    if (!ref) job_destroy(job);
    return ref;
}

void job_addref(struct do_job *job)
{
    InterlockedIncrement(&job->refcount);
}

void job_release(struct do_job *job)
{
    job_Release(&job->IBackgroundCopyJob5_iface);
}

static HRESULT add_files(struct do_job *job, ULONG count, const BG_FILE_INFO *infos)
{
    struct do_file *file;
    HRESULT hr = S_OK;
    ULONG i;

    /* validate everything first: a set is added whole or not at all */
    for (i = 0; i < count; i++)
    {
        if (FAILED(hr = file_check_remote_name(infos[i].RemoteName))) return hr;
        if (FAILED(hr = file_check_local_name(infos[i].LocalName))) return hr;
    }
    for (i = 0; i < count && SUCCEEDED(hr); i++)
    {
        if (SUCCEEDED(hr = job_add_file(job, NULL, infos[i].RemoteName, infos[i].LocalName,
                                        0, NULL, DO_UNKNOWN_FILE_SIZE, &file)))
            file_release(file);
    }
    return hr;
}

static HRESULT WINAPI job_AddFileSet(IBackgroundCopyJob5 *iface, ULONG count, BG_FILE_INFO *infos)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %lu, %p.\n", iface, count, infos);

    if (!count) return S_OK;
    if (!infos) return E_INVALIDARG;
    return add_files(job, count, infos);
}

static HRESULT WINAPI job_AddFile(IBackgroundCopyJob5 *iface, LPCWSTR remote, LPCWSTR local)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    BG_FILE_INFO info;

    TRACE("%p, %s, %s.\n", iface, debugstr_w(remote), debugstr_w(local));

    info.RemoteName = (WCHAR *)remote;
    info.LocalName = (WCHAR *)local;
    return add_files(job, 1, &info);
}

static HRESULT WINAPI job_EnumFiles(IBackgroundCopyJob5 *iface, IEnumBackgroundCopyFiles **out)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, out);

    if (!out) return E_INVALIDARG;
    return enum_files_create(job, out);
}

static HRESULT WINAPI job_Suspend(IBackgroundCopyJob5 *iface)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    HRESULT hr;

    TRACE("%p.\n", iface);

    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)) && job->state != BG_JOB_STATE_SUSPENDED)
    {
        /* the worker notices the new generation and stops; Suspend does not wait for it */
        engine_stop_run(job);
        job_set_state(job, BG_JOB_STATE_SUSPENDED);
    }
    LeaveCriticalSection(&job->cs);
    engine_notify(job);
    return hr;
}

static BOOL all_files_transferred(struct do_job *job)
{
    ULONG i;

    for (i = 0; i < job->file_count; i++)
        if (!job->files[i]->transferred) return FALSE;
    return TRUE;
}

static HRESULT WINAPI job_Resume(IBackgroundCopyJob5 *iface)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    BOOL queued = FALSE;
    HRESULT hr;
    ULONG i;

    TRACE("%p.\n", iface);

    EnterCriticalSection(&job->cs);
    if (FAILED(hr = check_live(job)))
        ;
    else if (!job->file_count)
        hr = DO_E_JOB_EMPTY;
    else
    {
        for (i = 0; i < job->file_count; i++)
        {
            struct do_file *file = job->files[i];
            if (!file->transferred && !file->local_name && !file->stream) hr = DO_E_FILE_DOWNLOADSINK_UNSPECIFIED;
        }
    }
    if (SUCCEEDED(hr))
    {
        if (all_files_transferred(job))
        {
            job_clear_error(job);
            job_set_state(job, BG_JOB_STATE_TRANSFERRED);
        }
        else if (job->state != BG_JOB_STATE_QUEUED && job->state != BG_JOB_STATE_TRANSFERRING)
        {
            /* a new run: retry now, forget the old error, restart the no-progress clock */
            engine_stop_run(job);
            job_clear_error(job);
            job->retry_at_tick = 0;
            /* the no-progress clock runs from the client's Resume, not from each retry */
            job->last_progress_tick = job->queued_tick = GetTickCount64();
            job_set_state(job, BG_JOB_STATE_QUEUED);
            queued = TRUE;
        }
    }
    LeaveCriticalSection(&job->cs);
    if (queued) engine_job_queued(job);
    engine_notify(job);
    return hr;
}

/* A job that is over lets go of its files' stream sinks.  Under cs; the
 * streams are released by release_streams, outside the lock. */
static IStream **take_streams(struct do_job *job, ULONG *count)
{
    IStream **streams;
    ULONG i;

    *count = 0;
    if (!(streams = malloc(max(job->file_count, 1) * sizeof(*streams)))) return NULL;
    for (i = 0; i < job->file_count; i++)
        if ((streams[*count] = file_take_stream(job->files[i]))) (*count)++;
    return streams;
}

static void release_streams(IStream **streams, ULONG count)
{
    while (count--) IStream_Release(streams[count]);
    free(streams);
}

static void delete_temp_files(struct do_job *job, BOOL keep_transferred)
{
    ULONG i;

    for (i = 0; i < job->file_count; i++)
        if (!keep_transferred || !job->files[i]->transferred) file_delete_temp(job->files[i]);
}

static HRESULT WINAPI job_Cancel(IBackgroundCopyJob5 *iface)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    IStream **streams = NULL;
    ULONG stream_count = 0;
    HRESULT hr;

    TRACE("%p.\n", iface);

    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)))
    {
        /* a worker still reading finds its temp file closed and gives up */
        engine_stop_run(job);
        delete_temp_files(job, FALSE);
        streams = take_streams(job, &stream_count);
        job_clear_error(job);
        job_set_state(job, BG_JOB_STATE_CANCELLED);
    }
    LeaveCriticalSection(&job->cs);
    if (streams) release_streams(streams, stream_count);
    if (SUCCEEDED(hr))
    {
        engine_notify(job);
        manager_remove_job(job);
    }
    return hr;
}

static HRESULT WINAPI job_Complete(IBackgroundCopyJob5 *iface)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    struct do_file *failed = NULL;
    IStream **streams = NULL;
    ULONG i, stream_count = 0;
    BOOL done = FALSE;
    HRESULT hr;

    TRACE("%p.\n", iface);

    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)))
    {
        /* Only files fully transferred before the call are kept, and they go
         * to their names first: if one cannot (a directory or a read-only
         * file in the way, a file held open, a full disk), Complete fails,
         * the job stays as it was with its bytes, and may be completed again
         * once the obstacle is gone.  Files renamed meanwhile stay renamed. */
        for (i = 0; i < job->file_count && SUCCEEDED(hr); i++)
        {
            struct do_file *file = job->files[i];

            if (file->transferred && FAILED(hr = file_commit(file))) failed = file;
        }
        if (SUCCEEDED(hr))
        {
            engine_stop_run(job);
            for (i = 0; i < job->file_count; i++)
                if (!job->files[i]->transferred) file_delete_temp(job->files[i]);
            /* a stream got its bytes as they came: Complete only lets go of it */
            streams = take_streams(job, &stream_count);
            job_clear_error(job);
            job_set_state(job, BG_JOB_STATE_ACKNOWLEDGED);
            done = TRUE;
        }
        else if (job->state == BG_JOB_STATE_TRANSFERRED)
        {
            /* what went wrong stays visible (GetError) until Complete succeeds or the job runs again */
            WARN("job %s: Complete failed: %#lx\n", debugstr_guid(&job->id), hr);
            job_set_error(job, hr, BG_ERROR_CONTEXT_LOCAL_FILE, failed);
            job_touch(job);
        }
    }
    LeaveCriticalSection(&job->cs);
    if (streams) release_streams(streams, stream_count);
    engine_notify(job);
    if (done) manager_remove_job(job);
    return hr;
}

static HRESULT WINAPI job_GetId(IBackgroundCopyJob5 *iface, GUID *id)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, id);

    if (!id) return E_INVALIDARG;
    *id = job->id;
    return S_OK;
}

static HRESULT WINAPI job_GetType(IBackgroundCopyJob5 *iface, BG_JOB_TYPE *type)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, type);

    if (!type) return E_INVALIDARG;
    *type = job->type;
    return S_OK;
}

static HRESULT WINAPI job_GetProgress(IBackgroundCopyJob5 *iface, BG_JOB_PROGRESS *progress)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, progress);

    if (!progress) return E_INVALIDARG;
    EnterCriticalSection(&job->cs);
    job_get_progress(job, progress);
    LeaveCriticalSection(&job->cs);
    return S_OK;
}

static HRESULT WINAPI job_GetTimes(IBackgroundCopyJob5 *iface, BG_JOB_TIMES *times)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, times);

    if (!times) return E_INVALIDARG;
    EnterCriticalSection(&job->cs);
    *times = job->times;
    LeaveCriticalSection(&job->cs);
    return S_OK;
}

/* Cheap by design: one read of a field the worker updates atomically; no
 * lock, so it never waits for a transfer or a callback. */
static HRESULT WINAPI job_GetState(IBackgroundCopyJob5 *iface, BG_JOB_STATE *state)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, state);

    if (!state) return E_INVALIDARG;
    *state = (BG_JOB_STATE)job->state;
    return S_OK;
}

static HRESULT WINAPI job_GetError(IBackgroundCopyJob5 *iface, IBackgroundCopyError **error)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    BOOL has_error;

    TRACE("%p, %p.\n", iface, error);

    if (!error) return E_INVALIDARG;
    *error = NULL;
    EnterCriticalSection(&job->cs);
    /* TRANSFERRED holds an error only after a Complete that could not rename */
    has_error = (job->state == BG_JOB_STATE_ERROR || job->state == BG_JOB_STATE_TRANSIENT_ERROR ||
                 job->state == BG_JOB_STATE_TRANSFERRED) && FAILED(job->error.code);
    LeaveCriticalSection(&job->cs);
    if (!has_error) return DO_E_ERROR_INFORMATION_UNAVAILABLE;
    return copy_error_create(job, error);
}

static HRESULT WINAPI job_GetOwner(IBackgroundCopyJob5 *iface, LPWSTR *owner)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, owner);

    return get_string(job, &job->owner, owner);
}

static HRESULT WINAPI job_SetDisplayName(IBackgroundCopyJob5 *iface, LPCWSTR name)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %s.\n", iface, debugstr_w(name));

    if (!name || !*name || lstrlenW(name) > MAX_DISPLAY_NAME) return E_INVALIDARG;
    return set_string(job, &job->display_name, name);
}

static HRESULT WINAPI job_GetDisplayName(IBackgroundCopyJob5 *iface, LPWSTR *name)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, name);

    return get_string(job, &job->display_name, name);
}

static HRESULT WINAPI job_SetDescription(IBackgroundCopyJob5 *iface, LPCWSTR desc)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %s.\n", iface, debugstr_w(desc));

    /* BITS' limit on descriptions */
    if (desc && lstrlenW(desc) > 1024) return E_INVALIDARG;
    return set_string(job, &job->description, desc ? desc : L"");
}

static HRESULT WINAPI job_GetDescription(IBackgroundCopyJob5 *iface, LPWSTR *desc)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, desc);

    return get_string(job, &job->description, desc);
}

static HRESULT WINAPI job_SetPriority(IBackgroundCopyJob5 *iface, BG_JOB_PRIORITY priority)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    HRESULT hr;

    TRACE("%p, %d.\n", iface, priority);

    if ((unsigned int)priority > BG_JOB_PRIORITY_LOW) return E_INVALIDARG;
    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)) && job->priority != priority)
    {
        job->priority = priority;
        job_touch(job);
    }
    LeaveCriticalSection(&job->cs);
    engine_notify(job);
    return hr;
}

static HRESULT WINAPI job_GetPriority(IBackgroundCopyJob5 *iface, BG_JOB_PRIORITY *priority)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, priority);

    if (!priority) return E_INVALIDARG;
    *priority = job->priority;
    return S_OK;
}

static HRESULT set_ulong(struct do_job *job, ULONG *field, ULONG value)
{
    HRESULT hr;

    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)) && *field != value)
    {
        *field = value;
        job_touch(job);
    }
    LeaveCriticalSection(&job->cs);
    engine_notify(job);
    return hr;
}

static HRESULT get_ulong(struct do_job *job, const ULONG *field, ULONG *out)
{
    if (!out) return E_INVALIDARG;
    EnterCriticalSection(&job->cs);
    *out = *field;
    LeaveCriticalSection(&job->cs);
    return S_OK;
}

static HRESULT WINAPI job_SetNotifyFlags(IBackgroundCopyJob5 *iface, ULONG flags)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %#lx.\n", iface, flags);

    if (flags & ~SUPPORTED_NOTIFY_FLAGS) return E_NOTIMPL;
    return set_ulong(job, &job->notify_flags, flags);
}

static HRESULT WINAPI job_GetNotifyFlags(IBackgroundCopyJob5 *iface, ULONG *flags)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, flags);

    return get_ulong(job, &job->notify_flags, flags);
}

static HRESULT WINAPI job_SetNotifyInterface(IBackgroundCopyJob5 *iface, IUnknown *unk)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    IBackgroundCopyCallback *callback = NULL, *old = NULL;
    HRESULT hr;

    TRACE("%p, %p.\n", iface, unk);

    if (unk && FAILED(hr = IUnknown_QueryInterface(unk, &IID_IBackgroundCopyCallback, (void **)&callback)))
        return E_NOINTERFACE;

    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)))
    {
        old = job->callback;
        job->callback = callback;
        callback = NULL;
    }
    LeaveCriticalSection(&job->cs);
    /* releasing a proxy is a call into the client: never under the lock */
    if (old) IBackgroundCopyCallback_Release(old);
    if (callback) IBackgroundCopyCallback_Release(callback);
    return hr;
}

static HRESULT WINAPI job_GetNotifyInterface(IBackgroundCopyJob5 *iface, IUnknown **unk)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, unk);

    if (!unk) return E_INVALIDARG;
    EnterCriticalSection(&job->cs);
    if ((*unk = (IUnknown *)job->callback)) IUnknown_AddRef(*unk);
    LeaveCriticalSection(&job->cs);
    return S_OK;
}

static HRESULT WINAPI job_SetMinimumRetryDelay(IBackgroundCopyJob5 *iface, ULONG seconds)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %lu.\n", iface, seconds);

    return set_ulong(job, &job->retry_delay, seconds);
}

static HRESULT WINAPI job_GetMinimumRetryDelay(IBackgroundCopyJob5 *iface, ULONG *seconds)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, seconds);

    return get_ulong(job, &job->retry_delay, seconds);
}

static HRESULT WINAPI job_SetNoProgressTimeout(IBackgroundCopyJob5 *iface, ULONG seconds)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    HRESULT hr;

    TRACE("%p, %lu.\n", iface, seconds);

    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)))
    {
        job->no_progress_timeout = seconds;
        job->no_progress_timeout_set = TRUE;
        job_touch(job);
    }
    LeaveCriticalSection(&job->cs);
    engine_notify(job);
    return hr;
}

static HRESULT WINAPI job_GetNoProgressTimeout(IBackgroundCopyJob5 *iface, ULONG *seconds)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, seconds);

    if (!seconds) return E_INVALIDARG;
    EnterCriticalSection(&job->cs);
    *seconds = job_no_progress_timeout(job);
    LeaveCriticalSection(&job->cs);
    return S_OK;
}

static HRESULT WINAPI job_GetErrorCount(IBackgroundCopyJob5 *iface, ULONG *count)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, count);

    return get_ulong(job, &job->error_count, count);
}

static HRESULT WINAPI job_SetProxySettings(IBackgroundCopyJob5 *iface, BG_JOB_PROXY_USAGE usage,
                                           const WCHAR *list, const WCHAR *bypass)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    WCHAR *new_list = NULL, *new_bypass = NULL;
    HRESULT hr;

    TRACE("%p, %d, %s, %s.\n", iface, usage, debugstr_w(list), debugstr_w(bypass));

    if ((unsigned int)usage > BG_JOB_PROXY_USAGE_AUTODETECT) return E_INVALIDARG;
    if (usage == BG_JOB_PROXY_USAGE_OVERRIDE)
    {
        /* BITS' limits: 4,000 characters each; a list is required */
        if (!list || !*list || lstrlenW(list) > 4000 || (bypass && lstrlenW(bypass) > 4000))
            return E_INVALIDARG;
        if (!(new_list = strdupW(list))) return E_OUTOFMEMORY;
        if (bypass && *bypass && !(new_bypass = strdupW(bypass)))
        {
            free(new_list);
            return E_OUTOFMEMORY;
        }
    }
    else if ((list && *list) || (bypass && *bypass))
        return E_INVALIDARG;

    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)))
    {
        free(job->proxy_list);
        free(job->proxy_bypass);
        job->proxy_usage = usage;
        job->proxy_list = new_list;
        job->proxy_bypass = new_bypass;
        new_list = new_bypass = NULL;
        job_touch(job);
    }
    LeaveCriticalSection(&job->cs);
    free(new_list);
    free(new_bypass);
    engine_notify(job);
    return hr;
}

static HRESULT WINAPI job_GetProxySettings(IBackgroundCopyJob5 *iface, BG_JOB_PROXY_USAGE *usage,
                                           LPWSTR *list, LPWSTR *bypass)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    HRESULT hr;

    TRACE("%p, %p, %p, %p.\n", iface, usage, list, bypass);

    if (!usage || !list || !bypass) return E_INVALIDARG;
    *list = *bypass = NULL;
    EnterCriticalSection(&job->cs);
    *usage = job->proxy_usage;
    if (SUCCEEDED(hr = return_string(job->proxy_list, list)) &&
        FAILED(hr = return_string(job->proxy_bypass, bypass)))
    {
        CoTaskMemFree(*list);
        *list = NULL;
    }
    LeaveCriticalSection(&job->cs);
    return hr;
}

static HRESULT WINAPI job_TakeOwnership(IBackgroundCopyJob5 *iface)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    WCHAR *owner;

    TRACE("%p.\n", iface);

    if (!(owner = caller_sid())) return E_OUTOFMEMORY;
    return set_string(job, &job->owner, owner);
}

/* IBackgroundCopyJob2 */

static HRESULT WINAPI job_SetNotifyCmdLine(IBackgroundCopyJob5 *iface, LPCWSTR program, LPCWSTR params)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    WCHAR *new_params = NULL;
    HRESULT hr;

    TRACE("%p, %s, %s.\n", iface, debugstr_w(program), debugstr_w(params));

    /* BITS: no program means no parameters; 4,000 characters at most */
    if (!program && params) return E_INVALIDARG;
    if ((program && lstrlenW(program) > MAX_PATH) || (params && lstrlenW(params) > 4000))
        return E_INVALIDARG;
    if (params && !(new_params = strdupW(params))) return E_OUTOFMEMORY;
    if (FAILED(hr = set_string(job, &job->notify_cmdline, program)))
    {
        free(new_params);
        return hr;
    }
    EnterCriticalSection(&job->cs);
    free(job->notify_params);
    job->notify_params = new_params;
    LeaveCriticalSection(&job->cs);
    return S_OK;
}

static HRESULT WINAPI job_GetNotifyCmdLine(IBackgroundCopyJob5 *iface, LPWSTR *program, LPWSTR *params)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    HRESULT hr;

    TRACE("%p, %p, %p.\n", iface, program, params);

    if (!program || !params) return E_INVALIDARG;
    *program = *params = NULL;
    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = return_string(job->notify_cmdline, program)) &&
        FAILED(hr = return_string(job->notify_params, params)))
    {
        CoTaskMemFree(*program);
        *program = NULL;
    }
    LeaveCriticalSection(&job->cs);
    return hr;
}

/* Reply methods belong to upload-reply jobs; DO only downloads. */
static HRESULT WINAPI job_GetReplyProgress(IBackgroundCopyJob5 *iface, BG_JOB_REPLY_PROGRESS *progress)
{
    TRACE("%p, %p: download jobs have no reply.\n", iface, progress);
    return E_NOTIMPL;
}

static HRESULT WINAPI job_GetReplyData(IBackgroundCopyJob5 *iface, byte **buffer, UINT64 *length)
{
    TRACE("%p, %p, %p: download jobs have no reply.\n", iface, buffer, length);
    return E_NOTIMPL;
}

static HRESULT WINAPI job_SetReplyFileName(IBackgroundCopyJob5 *iface, LPCWSTR filename)
{
    TRACE("%p, %s: download jobs have no reply.\n", iface, debugstr_w(filename));
    return E_NOTIMPL;
}

static HRESULT WINAPI job_GetReplyFileName(IBackgroundCopyJob5 *iface, LPWSTR *filename)
{
    TRACE("%p, %p: download jobs have no reply.\n", iface, filename);
    return E_NOTIMPL;
}

static struct job_credential *find_credential(struct do_job *job, BG_AUTH_TARGET target, BG_AUTH_SCHEME scheme)
{
    ULONG i;

    for (i = 0; i < job->credential_count; i++)
        if (job->credentials[i].target == target && job->credentials[i].scheme == scheme)
            return &job->credentials[i];
    return NULL;
}

static HRESULT WINAPI job_SetCredentials(IBackgroundCopyJob5 *iface, BG_AUTH_CREDENTIALS *cred)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    struct job_credential *slot;
    WCHAR *user = NULL, *password = NULL;
    HRESULT hr;

    TRACE("%p, %p.\n", iface, cred);

    if (!cred) return E_INVALIDARG;
    if (cred->Target < BG_AUTH_TARGET_SERVER || cred->Target > BG_AUTH_TARGET_PROXY ||
        cred->Scheme < BG_AUTH_SCHEME_BASIC || cred->Scheme > BG_AUTH_SCHEME_PASSPORT)
        return E_INVALIDARG;
    if ((cred->Credentials.Basic.UserName && !(user = strdupW(cred->Credentials.Basic.UserName))) ||
        (cred->Credentials.Basic.Password && !(password = strdupW(cred->Credentials.Basic.Password))))
    {
        free(user);
        return E_OUTOFMEMORY;
    }

    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)))
    {
        if (!(slot = find_credential(job, cred->Target, cred->Scheme)))
        {
            slot = &job->credentials[job->credential_count++];
            slot->target = cred->Target;
            slot->scheme = cred->Scheme;
        }
        else
        {
            free(slot->user);
            SecureZeroMemory(slot->password, slot->password ? lstrlenW(slot->password) * sizeof(WCHAR) : 0);
            free(slot->password);
        }
        slot->user = user;
        slot->password = password;
        user = password = NULL;
        job_touch(job);
    }
    LeaveCriticalSection(&job->cs);
    free(user);
    free(password);
    engine_notify(job);
    return hr;
}

static HRESULT WINAPI job_RemoveCredentials(IBackgroundCopyJob5 *iface, BG_AUTH_TARGET target,
                                            BG_AUTH_SCHEME scheme)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    struct job_credential *slot;
    HRESULT hr;

    TRACE("%p, %d, %d.\n", iface, target, scheme);

    if (target < BG_AUTH_TARGET_SERVER || target > BG_AUTH_TARGET_PROXY ||
        scheme < BG_AUTH_SCHEME_BASIC || scheme > BG_AUTH_SCHEME_PASSPORT)
        return E_INVALIDARG;

    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)))
    {
        if (!(slot = find_credential(job, target, scheme)))
            hr = S_FALSE;   /* nothing to remove */
        else
        {
            free(slot->user);
            free(slot->password);
            *slot = job->credentials[--job->credential_count];
            job_touch(job);
        }
    }
    LeaveCriticalSection(&job->cs);
    engine_notify(job);
    return hr;
}

/* IBackgroundCopyJob3 */

static HRESULT WINAPI job_ReplaceRemotePrefix(IBackgroundCopyJob5 *iface, LPCWSTR old_prefix, LPCWSTR new_prefix)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    size_t old_len, new_len;
    BOOL changed = FALSE;
    HRESULT hr;
    ULONG i;

    TRACE("%p, %s, %s.\n", iface, debugstr_w(old_prefix), debugstr_w(new_prefix));

    if (!old_prefix || !new_prefix || !*old_prefix || !*new_prefix) return E_INVALIDARG;
    old_len = lstrlenW(old_prefix);
    new_len = lstrlenW(new_prefix);

    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)))
    {
        for (i = 0; i < job->file_count; i++)
        {
            struct do_file *file = job->files[i];
            WCHAR *name;

            if (!file->remote_name || wcsnicmp(file->remote_name, old_prefix, old_len)) continue;
            if (!(name = malloc((new_len + lstrlenW(file->remote_name) - old_len + 1) * sizeof(WCHAR))))
            {
                hr = E_OUTOFMEMORY;
                break;
            }
            memcpy(name, new_prefix, new_len * sizeof(WCHAR));
            lstrcpyW(name + new_len, file->remote_name + old_len);
            if (FAILED(file_check_remote_name(name)))
            {
                free(name);
                hr = E_INVALIDARG;
                break;
            }
            free(file->remote_name);
            file->remote_name = name;
            changed = TRUE;
        }
        if (changed) job_touch(job);
        if (SUCCEEDED(hr) && !changed) hr = S_FALSE;
    }
    LeaveCriticalSection(&job->cs);
    engine_notify(job);
    return hr;
}

static HRESULT WINAPI job_AddFileWithRanges3(IBackgroundCopyJob5 *iface, LPCWSTR remote, LPCWSTR local,
                                             DWORD count, BG_FILE_RANGE ranges[])
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    struct do_file *file;
    HRESULT hr;

    TRACE("%p, %s, %s, %lu, %p.\n", iface, debugstr_w(remote), debugstr_w(local), count, ranges);

    /* BITS' four-parameter form requires at least one range */
    if (!count || !ranges) return E_INVALIDARG;
    if (SUCCEEDED(hr = job_add_file(job, NULL, remote, local, count, ranges, DO_UNKNOWN_FILE_SIZE, &file)))
        file_release(file);
    return hr;
}

static HRESULT WINAPI job_SetFileACLFlags(IBackgroundCopyJob5 *iface, DWORD flags)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %#lx.\n", iface, flags);

    /* BG_COPY_FILE_OWNER | GROUP | DACL | SACL */
    if (flags & ~0xf) return E_INVALIDARG;
    return set_ulong(job, &job->file_acl_flags, flags);
}

static HRESULT WINAPI job_GetFileACLFlags(IBackgroundCopyJob5 *iface, DWORD *flags)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, flags);

    return get_ulong(job, &job->file_acl_flags, flags);
}

/* IBackgroundCopyJob4 */

static HRESULT WINAPI job_SetPeerCachingFlags(IBackgroundCopyJob5 *iface, DWORD flags)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %#lx.\n", iface, flags);

    /* BG_JOB_ENABLE_PEERCACHING_CLIENT | _SERVER | BG_JOB_DISABLE_BRANCH_CACHE; we never peer */
    if (flags & ~0x7) return E_INVALIDARG;
    return set_ulong(job, &job->peer_caching_flags, flags);
}

static HRESULT WINAPI job_GetPeerCachingFlags(IBackgroundCopyJob5 *iface, DWORD *flags)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, flags);

    return get_ulong(job, &job->peer_caching_flags, flags);
}

static HRESULT WINAPI job_GetOwnerIntegrityLevel(IBackgroundCopyJob5 *iface, ULONG *level)
{
    TRACE("%p, %p.\n", iface, level);

    if (!level) return E_INVALIDARG;
    /* Wine runs everything at medium integrity */
    *level = SECURITY_MANDATORY_MEDIUM_RID;
    return S_OK;
}

static HRESULT WINAPI job_GetOwnerElevationState(IBackgroundCopyJob5 *iface, BOOL *elevated)
{
    TRACE("%p, %p.\n", iface, elevated);

    if (!elevated) return E_INVALIDARG;
    *elevated = FALSE;
    return S_OK;
}

static HRESULT WINAPI job_SetMaximumDownloadTime(IBackgroundCopyJob5 *iface, ULONG seconds)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %lu.\n", iface, seconds);

    return set_ulong(job, &job->max_download_time, seconds);
}

static HRESULT WINAPI job_GetMaximumDownloadTime(IBackgroundCopyJob5 *iface, ULONG *seconds)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %p.\n", iface, seconds);

    return get_ulong(job, &job->max_download_time, seconds);
}

/* IBackgroundCopyJob5 */

static HRESULT WINAPI job_SetProperty(IBackgroundCopyJob5 *iface, BITS_JOB_PROPERTY_ID id,
                                      BITS_JOB_PROPERTY_VALUE value)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);
    HRESULT hr;

    TRACE("%p, %d.\n", iface, id);

    if (is_unsupported_job_property(id)) return E_NOTIMPL;
    if (id != BITS_JOB_PROPERTY_ID_COST_FLAGS && id != BITS_JOB_PROPERTY_NOTIFICATION_CLSID)
        return E_INVALIDARG;

    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)))
    {
        if (id == BITS_JOB_PROPERTY_ID_COST_FLAGS) job->cost_flags = value.Dword;
        else job->notification_clsid = value.ClsID;
        job_touch(job);
    }
    LeaveCriticalSection(&job->cs);
    engine_notify(job);
    return hr;
}

static HRESULT WINAPI job_GetProperty(IBackgroundCopyJob5 *iface, BITS_JOB_PROPERTY_ID id,
                                      BITS_JOB_PROPERTY_VALUE *value)
{
    struct do_job *job = impl_from_IBackgroundCopyJob5(iface);

    TRACE("%p, %d, %p.\n", iface, id, value);

    if (is_unsupported_job_property(id)) return E_NOTIMPL;
    if (id != BITS_JOB_PROPERTY_ID_COST_FLAGS && id != BITS_JOB_PROPERTY_NOTIFICATION_CLSID)
        return E_INVALIDARG;
    if (!value) return E_INVALIDARG;

    memset(value, 0, sizeof(*value));
    EnterCriticalSection(&job->cs);
    if (id == BITS_JOB_PROPERTY_ID_COST_FLAGS) value->Dword = job->cost_flags;
    else value->ClsID = job->notification_clsid;
    LeaveCriticalSection(&job->cs);
    return S_OK;
}

static const IBackgroundCopyJob5Vtbl job_vtbl =
{
    job_QueryInterface,
    job_AddRef,
    job_Release,
    job_AddFileSet,
    job_AddFile,
    job_EnumFiles,
    job_Suspend,
    job_Resume,
    job_Cancel,
    job_Complete,
    job_GetId,
    job_GetType,
    job_GetProgress,
    job_GetTimes,
    job_GetState,
    job_GetError,
    job_GetOwner,
    job_SetDisplayName,
    job_GetDisplayName,
    job_SetDescription,
    job_GetDescription,
    job_SetPriority,
    job_GetPriority,
    job_SetNotifyFlags,
    job_GetNotifyFlags,
    job_SetNotifyInterface,
    job_GetNotifyInterface,
    job_SetMinimumRetryDelay,
    job_GetMinimumRetryDelay,
    job_SetNoProgressTimeout,
    job_GetNoProgressTimeout,
    job_GetErrorCount,
    job_SetProxySettings,
    job_GetProxySettings,
    job_TakeOwnership,
    job_SetNotifyCmdLine,
    job_GetNotifyCmdLine,
    job_GetReplyProgress,
    job_GetReplyData,
    job_SetReplyFileName,
    job_GetReplyFileName,
    job_SetCredentials,
    job_RemoveCredentials,
    job_ReplaceRemotePrefix,
    job_AddFileWithRanges3,
    job_SetFileACLFlags,
    job_GetFileACLFlags,
    job_SetPeerCachingFlags,
    job_GetPeerCachingFlags,
    job_GetOwnerIntegrityLevel,
    job_GetOwnerElevationState,
    job_SetMaximumDownloadTime,
    job_GetMaximumDownloadTime,
    job_SetProperty,
    job_GetProperty,
};

/* ------------------------------------------------------------------ IBackgroundCopyJobHttpOptions */

static HRESULT WINAPI http_options_QueryInterface(IBackgroundCopyJobHttpOptions *iface, REFIID riid, void **out)
{
    struct do_job *job = impl_from_IBackgroundCopyJobHttpOptions(iface);
    return job_QueryInterface(&job->IBackgroundCopyJob5_iface, riid, out);
}

static ULONG WINAPI http_options_AddRef(IBackgroundCopyJobHttpOptions *iface)
{
    struct do_job *job = impl_from_IBackgroundCopyJobHttpOptions(iface);
    return job_AddRef(&job->IBackgroundCopyJob5_iface);
}

static ULONG WINAPI http_options_Release(IBackgroundCopyJobHttpOptions *iface)
{
    struct do_job *job = impl_from_IBackgroundCopyJobHttpOptions(iface);
    return job_Release(&job->IBackgroundCopyJob5_iface);
}

/* A certificate named by its store (BITS' way).  The job keeps the name
 * (location, store, hash: what a record keeps) and the context the engine
 * hands to WinHTTP. */
static HRESULT set_client_certificate(struct do_job *job, BG_CERT_STORE_LOCATION location, const WCHAR *store,
                                      const BYTE *hash, const WCHAR *subject)
{
    const CERT_CONTEXT *cert, *old = NULL;
    WCHAR *store_copy;
    BYTE found_hash[20];
    HRESULT hr;

    if (!store || (!hash && !subject)) return E_INVALIDARG;
    /* BITS: 256 characters with the terminator; its BG_E_STRING_TOO_LONG has no DO twin */
    if (lstrlenW(store) >= 256) return E_INVALIDARG;
    if (FAILED(hr = cert_find_in_store(location, store, hash, subject, &cert))) return hr;
    if (!cert_hash(cert, found_hash) || !(store_copy = strdupW(store)))
    {
        CertFreeCertificateContext(cert);
        return E_OUTOFMEMORY;
    }
    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)))
    {
        old = job->client_cert;
        job->client_cert = cert;
        cert = NULL;
        job->cert_by_store = TRUE;
        job->cert_location = location;
        free(job->cert_store);
        job->cert_store = store_copy;
        store_copy = NULL;
        memcpy(job->cert_hash, found_hash, sizeof(found_hash));
        job_touch(job);
    }
    LeaveCriticalSection(&job->cs);
    if (cert) CertFreeCertificateContext(cert);
    if (old) CertFreeCertificateContext(old);
    free(store_copy);
    return hr;
}

static HRESULT WINAPI http_options_SetClientCertificateByID(IBackgroundCopyJobHttpOptions *iface,
        BG_CERT_STORE_LOCATION location, LPCWSTR store, BYTE *hash)
{
    struct do_job *job = impl_from_IBackgroundCopyJobHttpOptions(iface);

    TRACE("%p, %d, %s, %p.\n", iface, location, debugstr_w(store), hash);

    if (!hash) return E_INVALIDARG;
    return set_client_certificate(job, location, store, hash, NULL);
}

static HRESULT WINAPI http_options_SetClientCertificateByName(IBackgroundCopyJobHttpOptions *iface,
        BG_CERT_STORE_LOCATION location, LPCWSTR store, LPCWSTR subject)
{
    struct do_job *job = impl_from_IBackgroundCopyJobHttpOptions(iface);

    TRACE("%p, %d, %s, %s.\n", iface, location, debugstr_w(store), debugstr_w(subject));

    if (!subject) return E_INVALIDARG;
    return set_client_certificate(job, location, store, NULL, subject);
}

static HRESULT WINAPI http_options_RemoveClientCertificate(IBackgroundCopyJobHttpOptions *iface)
{
    struct do_job *job = impl_from_IBackgroundCopyJobHttpOptions(iface);
    const CERT_CONTEXT *old = NULL;
    HRESULT hr;

    TRACE("%p.\n", iface);

    EnterCriticalSection(&job->cs);
    if (SUCCEEDED(hr = check_live(job)))
    {
        if (!job->cert_by_store) hr = S_FALSE;   /* documented: none was set */
        else
        {
            old = job->client_cert;
            job->client_cert = NULL;
            job->cert_by_store = FALSE;
            free(job->cert_store);
            job->cert_store = NULL;
            job_touch(job);
        }
    }
    LeaveCriticalSection(&job->cs);
    if (old) CertFreeCertificateContext(old);
    return hr;
}

static HRESULT WINAPI http_options_GetClientCertificate(IBackgroundCopyJobHttpOptions *iface,
        BG_CERT_STORE_LOCATION *location, LPWSTR *store, BYTE **hash, LPWSTR *subject)
{
    struct do_job *job = impl_from_IBackgroundCopyJobHttpOptions(iface);
    HRESULT hr = S_OK;

    TRACE("%p, %p, %p, %p, %p.\n", iface, location, store, hash, subject);

    if (!location || !store || !hash || !subject) return E_INVALIDARG;
    *store = *subject = NULL;
    *hash = NULL;
    EnterCriticalSection(&job->cs);
    /* BITS' documented answer when the job names no certificate */
    if (!job->cert_by_store) hr = HRESULT_FROM_WIN32(RPC_X_BAD_STUB_DATA);
    else
    {
        *location = job->cert_location;
        /* the subject of a certificate not found again after a restart is unknown: "" */
        if (FAILED(hr = return_string(job->cert_store, store)) || !(*subject = cert_subject(job->client_cert)) ||
            !(*hash = CoTaskMemAlloc(sizeof(job->cert_hash))))
            hr = E_OUTOFMEMORY;
        else memcpy(*hash, job->cert_hash, sizeof(job->cert_hash));
    }
    LeaveCriticalSection(&job->cs);
    if (FAILED(hr))
    {
        CoTaskMemFree(*store);
        CoTaskMemFree(*subject);
        CoTaskMemFree(*hash);
        *store = *subject = NULL;
        *hash = NULL;
    }
    return hr;
}

static HRESULT WINAPI http_options_SetCustomHeaders(IBackgroundCopyJobHttpOptions *iface, LPCWSTR headers)
{
    struct do_job *job = impl_from_IBackgroundCopyJobHttpOptions(iface);

    TRACE("%p, %s.\n", iface, debugstr_w(headers));

    /* BITS' limit: 16 KiB of headers */
    if (headers && lstrlenW(headers) > 16 * 1024) return E_INVALIDARG;
    if (headers && FAILED(headers_check(headers, lstrlenW(headers)))) return E_INVALIDARG;
    return set_string(job, &job->custom_headers, headers && *headers ? headers : NULL);
}

static HRESULT WINAPI http_options_GetCustomHeaders(IBackgroundCopyJobHttpOptions *iface, LPWSTR *headers)
{
    struct do_job *job = impl_from_IBackgroundCopyJobHttpOptions(iface);
    HRESULT hr;

    TRACE("%p, %p.\n", iface, headers);

    if (!headers) return E_INVALIDARG;
    *headers = NULL;
    EnterCriticalSection(&job->cs);
    hr = job->custom_headers ? return_string(job->custom_headers, headers) : S_FALSE;
    LeaveCriticalSection(&job->cs);
    return hr;
}

static HRESULT WINAPI http_options_SetSecurityFlags(IBackgroundCopyJobHttpOptions *iface, ULONG flags)
{
    struct do_job *job = impl_from_IBackgroundCopyJobHttpOptions(iface);

    TRACE("%p, %#lx.\n", iface, flags);

    if (flags & ~BG_SECURITY_FLAGS_VALID) return E_INVALIDARG;
    return set_ulong(job, &job->security_flags, flags);
}

static HRESULT WINAPI http_options_GetSecurityFlags(IBackgroundCopyJobHttpOptions *iface, ULONG *flags)
{
    struct do_job *job = impl_from_IBackgroundCopyJobHttpOptions(iface);

    TRACE("%p, %p.\n", iface, flags);

    return get_ulong(job, &job->security_flags, flags);
}

static const IBackgroundCopyJobHttpOptionsVtbl http_options_vtbl =
{
    http_options_QueryInterface,
    http_options_AddRef,
    http_options_Release,
    http_options_SetClientCertificateByID,
    http_options_SetClientCertificateByName,
    http_options_RemoveClientCertificate,
    http_options_GetClientCertificate,
    http_options_SetCustomHeaders,
    http_options_GetCustomHeaders,
    http_options_SetSecurityFlags,
    http_options_GetSecurityFlags,
};

/* ------------------------------------------------------------------ IDoClientHttpOptions */

/* GetClientCertificate for DoSvc's client-side object (include/dosvc_client.idl) */

static inline struct do_job *impl_from_IDoClientHttpOptions(IDoClientHttpOptions *iface)
{
    return CONTAINING_RECORD(iface, struct do_job, IDoClientHttpOptions_iface);
}

static HRESULT WINAPI client_http_options_QueryInterface(IDoClientHttpOptions *iface, REFIID riid, void **out)
{
    struct do_job *job = impl_from_IDoClientHttpOptions(iface);
    return job_QueryInterface(&job->IBackgroundCopyJob5_iface, riid, out);
}

static ULONG WINAPI client_http_options_AddRef(IDoClientHttpOptions *iface)
{
    struct do_job *job = impl_from_IDoClientHttpOptions(iface);
    return job_AddRef(&job->IBackgroundCopyJob5_iface);
}

static ULONG WINAPI client_http_options_Release(IDoClientHttpOptions *iface)
{
    struct do_job *job = impl_from_IDoClientHttpOptions(iface);
    return job_Release(&job->IBackgroundCopyJob5_iface);
}

static HRESULT WINAPI client_http_options_GetClientCertificate(IDoClientHttpOptions *iface, DWORD *location,
        LPWSTR *store, BYTE hash[20], LPWSTR *subject)
{
    struct do_job *job = impl_from_IDoClientHttpOptions(iface);
    BG_CERT_STORE_LOCATION where = 0;
    BYTE *blob = NULL;
    HRESULT hr;

    TRACE("%p, %p, %p, %p, %p.\n", iface, location, store, hash, subject);

    if (!location || !hash) return E_INVALIDARG;
    hr = http_options_GetClientCertificate(&job->IBackgroundCopyJobHttpOptions_iface, &where, store, &blob, subject);
    *location = where;
    if (blob) memcpy(hash, blob, sizeof(job->cert_hash));
    else memset(hash, 0, sizeof(job->cert_hash));
    CoTaskMemFree(blob);
    return hr;
}

static const IDoClientHttpOptionsVtbl client_http_options_vtbl =
{
    client_http_options_QueryInterface,
    client_http_options_AddRef,
    client_http_options_Release,
    client_http_options_GetClientCertificate,
};

/* ------------------------------------------------------------------ IDeliveryOptimizationJob */

static HRESULT WINAPI do_job_QueryInterface(IDeliveryOptimizationJob *iface, REFIID riid, void **out)
{
    struct do_job *job = impl_from_IDeliveryOptimizationJob(iface);
    return job_QueryInterface(&job->IBackgroundCopyJob5_iface, riid, out);
}

static ULONG WINAPI do_job_AddRef(IDeliveryOptimizationJob *iface)
{
    struct do_job *job = impl_from_IDeliveryOptimizationJob(iface);
    return job_AddRef(&job->IBackgroundCopyJob5_iface);
}

static ULONG WINAPI do_job_Release(IDeliveryOptimizationJob *iface)
{
    struct do_job *job = impl_from_IDeliveryOptimizationJob(iface);
    return job_Release(&job->IBackgroundCopyJob5_iface);
}

static HRESULT WINAPI do_job_AddFileWithRanges(IDeliveryOptimizationJob *iface, LPCWSTR file_id,
        LPCWSTR remote, LPCWSTR local, DWORD count, BG_FILE_RANGE *ranges, UINT64 size)
{
    struct do_job *job = impl_from_IDeliveryOptimizationJob(iface);
    struct do_file *file;
    HRESULT hr;

    TRACE("%p, %s, %s, %s, %lu, %p, %s.\n", iface, debugstr_w(file_id), debugstr_w(remote),
          debugstr_w(local), count, ranges, wine_dbgstr_longlong(size));

    if (SUCCEEDED(hr = job_add_file(job, file_id, remote, local, count, ranges, size, &file)))
        file_release(file);
    return hr;
}

static const IDeliveryOptimizationJobVtbl do_job_vtbl =
{
    do_job_QueryInterface,
    do_job_AddRef,
    do_job_Release,
    do_job_AddFileWithRanges,
};

/* ------------------------------------------------------------------ IDeliveryOptimizationJob2 */

static HRESULT WINAPI do_job2_QueryInterface(IDeliveryOptimizationJob2 *iface, REFIID riid, void **out)
{
    struct do_job *job = impl_from_IDeliveryOptimizationJob2(iface);
    return job_QueryInterface(&job->IBackgroundCopyJob5_iface, riid, out);
}

static ULONG WINAPI do_job2_AddRef(IDeliveryOptimizationJob2 *iface)
{
    struct do_job *job = impl_from_IDeliveryOptimizationJob2(iface);
    return job_AddRef(&job->IBackgroundCopyJob5_iface);
}

static ULONG WINAPI do_job2_Release(IDeliveryOptimizationJob2 *iface)
{
    struct do_job *job = impl_from_IDeliveryOptimizationJob2(iface);
    return job_Release(&job->IBackgroundCopyJob5_iface);
}

static BOOL is_file_iid(REFIID riid)
{
    return IsEqualGUID(riid, &IID_IDeliveryOptimizationFile) || IsEqualGUID(riid, &IID_IDeliveryOptimizationFile2) ||
           IsEqualGUID(riid, &IID_IBackgroundCopyFile) || IsEqualGUID(riid, &IID_IBackgroundCopyFile2) ||
           IsEqualGUID(riid, &IID_IBackgroundCopyFile5) || IsEqualGUID(riid, &IID_IUnknown);
}

static HRESULT WINAPI do_job2_AddFile(IDeliveryOptimizationJob2 *iface, LPCWSTR file_id, LPCWSTR remote,
        DWORD count, BG_FILE_RANGE *ranges, REFIID riid, void **out)
{
    struct do_job *job = impl_from_IDeliveryOptimizationJob2(iface);
    struct do_file *file;
    HRESULT hr;

    TRACE("%p, %s, %s, %lu, %p, %s, %p.\n", iface, debugstr_w(file_id), debugstr_w(remote), count,
          ranges, debugstr_guid(riid), out);

    if (!out) return E_INVALIDARG;
    *out = NULL;
    if (!riid || !is_file_iid(riid)) return E_NOINTERFACE;
    /* no local name: the sink comes later through IDeliveryOptimizationFile2 */
    if (FAILED(hr = job_add_file(job, file_id, remote, NULL, count, ranges, DO_UNKNOWN_FILE_SIZE, &file)))
        return hr;
    hr = IBackgroundCopyFile5_QueryInterface(&file->IBackgroundCopyFile5_iface, riid, out);
    file_release(file);
    return hr;
}

/* One line of JSON so a client can log it or parse it. */
static BSTR extended_error_info(struct do_job *job)
{
    WCHAR buffer[2300];

    if (SUCCEEDED(job->error.code) || (job->state != BG_JOB_STATE_ERROR &&
                                       job->state != BG_JOB_STATE_TRANSIENT_ERROR))
        return SysAllocString(L"");
    swprintf(buffer, ARRAY_SIZE(buffer), L"{\"ErrorCode\":\"0x%08lx\",\"HttpStatusCode\":%lu,\"Url\":\"%s\"}",
             job->error.code, job->error.file ? job->error.file->last_status : 0,
             job->error.file && job->error.file->remote_name ? job->error.file->remote_name : L"");
    return SysAllocString(buffer);
}

static HRESULT WINAPI do_job2_GetProperty(IDeliveryOptimizationJob2 *iface, DOJobPropertyId id, VARIANT *value)
{
    struct do_job *job = impl_from_IDeliveryOptimizationJob2(iface);

    TRACE("%p, %d, %p.\n", iface, id, value);

    if (id != DOJobPropertyId_ExtendedErrorInfo) return DO_E_UNKNOWN_PROPERTY_ID;
    if (!value) return E_INVALIDARG;
    EnterCriticalSection(&job->cs);
    V_VT(value) = VT_BSTR;
    V_BSTR(value) = extended_error_info(job);
    LeaveCriticalSection(&job->cs);
    return V_BSTR(value) ? S_OK : E_OUTOFMEMORY;
}

static HRESULT WINAPI do_job2_SetProperty(IDeliveryOptimizationJob2 *iface, DOJobPropertyId id, const VARIANT *value)
{
    TRACE("%p, %d, %p.\n", iface, id, value);

    /* documented to never succeed */
    return id == DOJobPropertyId_ExtendedErrorInfo ? DO_E_READ_ONLY_PROPERTY : DO_E_UNKNOWN_PROPERTY_ID;
}

static const IDeliveryOptimizationJob2Vtbl do_job2_vtbl =
{
    do_job2_QueryInterface,
    do_job2_AddRef,
    do_job2_Release,
    do_job2_AddFile,
    do_job2_GetProperty,
    do_job2_SetProperty,
};

/* ------------------------------------------------------------------ creation and files */

HRESULT job_create(const WCHAR *display_name, BG_JOB_TYPE type, struct do_job **out)
{
    struct do_job *job;

    if (!(job = calloc(1, sizeof(*job)))) return E_OUTOFMEMORY;
    job->IBackgroundCopyJob5_iface.lpVtbl = &job_vtbl;
    job->IBackgroundCopyJobHttpOptions_iface.lpVtbl = &http_options_vtbl;
    job->IDoClientHttpOptions_iface.lpVtbl = &client_http_options_vtbl;
    job->IDeliveryOptimizationJob_iface.lpVtbl = &do_job_vtbl;
    job->IDeliveryOptimizationJob2_iface.lpVtbl = &do_job2_vtbl;
    job->refcount = 1;
    InitializeCriticalSection(&job->cs);

    job->display_name = strdupW(display_name);
    job->description = strdupW(L"");
    job->owner = caller_sid();
    job->wake_event = CreateEventW(NULL, FALSE, FALSE, NULL);
    job->worker_done = CreateEventW(NULL, TRUE, TRUE, NULL);
    if (!job->display_name || !job->description || !job->owner || !job->wake_event || !job->worker_done)
    {
        job_destroy(job);
        return E_OUTOFMEMORY;
    }
    CoCreateGuid(&job->id);
    job->type = type;
    job->priority = BG_JOB_PRIORITY_NORMAL;
    job->state = BG_JOB_STATE_SUSPENDED;
    job->notify_flags = BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR;
    job->retry_delay = DEFAULT_RETRY_DELAY;
    job->proxy_usage = BG_JOB_PROXY_USAGE_PRECONFIG;
    job->cost_flags = BITS_COST_STATE_TRANSFER_ALWAYS;
    now_filetime(&job->times.CreationTime);
    job->times.ModificationTime = job->times.CreationTime;
    job->last_progress_tick = GetTickCount64();

    TRACE("created job %s %s\n", debugstr_guid(&job->id), debugstr_w(display_name));
    *out = job;
    return S_OK;
}

HRESULT job_add_file(struct do_job *job, const WCHAR *file_id, const WCHAR *remote_name,
                     const WCHAR *local_name, DWORD range_count, const BG_FILE_RANGE *ranges,
                     UINT64 size_hint, struct do_file **out)
{
    struct do_file *file, **files;
    BOOL requeue = FALSE;
    HRESULT hr;

    if (FAILED(hr = file_create(job, file_id, remote_name, local_name, range_count, ranges, size_hint, &file)))
        return hr;

    EnterCriticalSection(&job->cs);
    if (FAILED(hr = check_live(job)))
        ;
    else if (job->file_count == job->file_capacity)
    {
        ULONG capacity = job->file_capacity ? job->file_capacity * 2 : 4;

        if (!(files = realloc(job->files, capacity * sizeof(*files)))) hr = E_OUTOFMEMORY;
        else
        {
            job->files = files;
            job->file_capacity = capacity;
        }
    }
    if (SUCCEEDED(hr))
    {
        job->files[job->file_count++] = file;
        /* a finished job has new work: it goes back to the queue */
        if (job->state == BG_JOB_STATE_TRANSFERRED && file->local_name)
        {
            job->queued_tick = GetTickCount64();
            job_set_state(job, BG_JOB_STATE_QUEUED);
            requeue = TRUE;
        }
        job_touch(job);
    }
    LeaveCriticalSection(&job->cs);

    if (FAILED(hr))
    {
        file_free(file);
        return hr;
    }
    if (requeue) engine_job_queued(job);
    engine_notify(job);
    file_addref(file);
    *out = file;
    return S_OK;
}
