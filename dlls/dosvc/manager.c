/*
 * Delivery Optimization service: the manager object and the job table
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

/* Wine's own tree gets const vtables through __WINESRC__; we ask for them. */
#include "dosvc_private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

/* Out of Wine's tree wine/debug.h only has the long names. */

/* CreateJob's documented limit, not counting the terminating null. */
#define MAX_DISPLAY_NAME 256

/* ------------------------------------------------------------------ job table */

/*
 * Every job the service knows, in creation order (EnumJobs reports them in
 * that order).  The table holds one reference on each job until job.c takes
 * the job out when it is cancelled or acknowledged.
 *
 * Lock order: job_table_cs may be taken while no job->cs is held, and
 * job->cs is never taken under job_table_cs; only job_addref (atomic) and
 * job_is_final (reads the volatile state) are called with the table locked.
 * Jobs are released only after the table lock is dropped, since the last
 * release tears the job down.
 */
static struct do_job **job_table;
static ULONG job_table_count;
static ULONG job_table_capacity;

static CRITICAL_SECTION job_table_cs;
static CRITICAL_SECTION_DEBUG job_table_cs_debug =
{
    0, 0, &job_table_cs,
    { &job_table_cs_debug.ProcessLocksList, &job_table_cs_debug.ProcessLocksList },
    0, 0, { 0 }
};
static CRITICAL_SECTION job_table_cs = { &job_table_cs_debug, -1, 0, 0, 0, 0 };

/* Append a job, taking a reference; the only step of CreateJob that can
 * fail after the job exists, so it reports failure instead of losing it. */
static HRESULT add_job(struct do_job *job)
{
    HRESULT hr = S_OK;

    EnterCriticalSection(&job_table_cs);
    if (job_table_count == job_table_capacity)
    {
        ULONG capacity = job_table_capacity ? job_table_capacity * 2 : 64;
        struct do_job **table;

        if (capacity < job_table_capacity || !(table = realloc(job_table, capacity * sizeof(*table))))
            hr = E_OUTOFMEMORY;
        else
        {
            job_table = table;
            job_table_capacity = capacity;
        }
    }
    if (SUCCEEDED(hr))
    {
        job_addref(job);
        job_table[job_table_count++] = job;
    }
    LeaveCriticalSection(&job_table_cs);
    return hr;
}

void manager_add_job(struct do_job *job)
{
    HRESULT hr;

    TRACE("%p.\n", job);

    if (!job) return;
    if (FAILED(hr = add_job(job)))
        ERR("Could not add job %p to the table, hr %#lx.\n", job, hr);
}

void manager_remove_job(struct do_job *job)
{
    BOOL found = FALSE;
    ULONG i;

    TRACE("%p.\n", job);

    if (!job) return;

    EnterCriticalSection(&job_table_cs);
    /* Search from the end: short-lived jobs are the recent ones. */
    for (i = job_table_count; i > 0; i--)
    {
        if (job_table[i - 1] != job) continue;
        /* Shift rather than swap in the last job, so that EnumJobs keeps
         * reporting jobs in creation order. */
        memmove(&job_table[i - 1], &job_table[i], (job_table_count - i) * sizeof(*job_table));
        job_table_count--;
        found = TRUE;
        break;
    }
    LeaveCriticalSection(&job_table_cs);

    /* A job that is gone for clients is gone on disk before the call that
     * ended it returns: a kill right after must not bring it back. */
    if (found) store_job_gone(job);
    /* A second removal (Cancel racing Complete, or shutdown) is harmless. */
    if (found) job_release(job);
}

HRESULT manager_find_job(const GUID *id, struct do_job **job)
{
    HRESULT hr = DO_E_JOB_NOT_FOUND;
    ULONG i;

    TRACE("%s, %p.\n", debugstr_guid(id), job);

    if (!id || !job) return E_INVALIDARG;
    *job = NULL;

    EnterCriticalSection(&job_table_cs);
    for (i = 0; i < job_table_count; i++)
    {
        struct do_job *candidate = job_table[i];

        if (!IsEqualGUID(&candidate->id, id)) continue;
        /* A job on its way out of the table is already gone for clients;
         * an IDODownload's core is not a job for the BITS-style API. */
        if (job_is_final(candidate) || candidate->download) break;
        job_addref(candidate);
        *job = candidate;
        hr = S_OK;
        break;
    }
    LeaveCriticalSection(&job_table_cs);
    return hr;
}

HRESULT manager_snapshot(DWORD which, struct do_job ***jobs, ULONG *count)
{
    struct do_job **snapshot;
    ULONG i, n = 0;

    TRACE("%#lx, %p, %p.\n", which, jobs, count);

    if (!jobs || !count) return E_INVALIDARG;
    *jobs = NULL;
    *count = 0;

    EnterCriticalSection(&job_table_cs);
    /* At least one slot, so that an empty table still gives a valid array. */
    if (!(snapshot = malloc((job_table_count ? job_table_count : 1) * sizeof(*snapshot))))
    {
        LeaveCriticalSection(&job_table_cs);
        return E_OUTOFMEMORY;
    }
    for (i = 0; i < job_table_count; i++)
    {
        if (job_is_final(job_table[i])) continue;
        /* the download pointer is set before a job enters the table and never changes */
        if (!(which & (job_table[i]->download ? SNAPSHOT_DOWNLOADS : SNAPSHOT_JOBS))) continue;
        job_addref(job_table[i]);
        snapshot[n++] = job_table[i];
    }
    LeaveCriticalSection(&job_table_cs);

    *jobs = snapshot;
    *count = n;
    return S_OK;
}

HRESULT manager_snapshot_jobs(struct do_job ***jobs, ULONG *count)
{
    return manager_snapshot(SNAPSHOT_JOBS, jobs, count);
}

/* ------------------------------------------------------------------ the manager object */

struct manager
{
    IBackgroundCopyManager IBackgroundCopyManager_iface;
    IDOManager IDOManager_iface;
};

static HRESULT WINAPI manager_QueryInterface(IBackgroundCopyManager *iface, REFIID riid, void **out)
{
    TRACE("%p, %s, %p.\n", iface, debugstr_guid(riid), out);

    return manager_query_interface(riid, out);
}

/* There is one manager for the life of the service: no counting. */
static ULONG WINAPI manager_AddRef(IBackgroundCopyManager *iface)
{
    TRACE("%p.\n", iface);
    return 2;
}

static ULONG WINAPI manager_Release(IBackgroundCopyManager *iface)
{
    TRACE("%p.\n", iface);
    return 1;
}

static BOOL is_valid_display_name(const WCHAR *name)
{
    ULONG len = 0;

    if (!name) return FALSE;
    /* Stop counting past the limit rather than measure a huge string. */
    while (name[len])
        if (++len > MAX_DISPLAY_NAME) return FALSE;
    return len > 0;
}

static HRESULT WINAPI manager_CreateJob(IBackgroundCopyManager *iface, const WCHAR *name,
                                        BG_JOB_TYPE type, GUID *job_id, IBackgroundCopyJob **ret)
{
    struct do_job *job;
    HRESULT hr;

    TRACE("%p, %s, %d, %p, %p.\n", iface, debugstr_w(name), type, job_id, ret);

    if (!job_id || !ret) return E_INVALIDARG;
    *ret = NULL;
    memset(job_id, 0, sizeof(*job_id));

    if (!is_valid_display_name(name)) return E_INVALIDARG;
    /* Delivery Optimization only downloads. */
    if (type != BG_JOB_TYPE_DOWNLOAD) return E_NOTIMPL;

    if (FAILED(hr = job_create(name, type, &job))) return hr;
    if (FAILED(hr = add_job(job)))
    {
        job_release(job);
        return hr;
    }

    store_job_added(job);
    /* The reference job_create gave us goes to the caller; the table has its own. */
    *job_id = job->id;
    *ret = (IBackgroundCopyJob *)&job->IBackgroundCopyJob5_iface;
    TRACE("created job %s.\n", debugstr_guid(&job->id));
    return S_OK;
}

static HRESULT WINAPI manager_GetJob(IBackgroundCopyManager *iface, REFGUID id, IBackgroundCopyJob **ret)
{
    struct do_job *job;
    HRESULT hr;

    TRACE("%p, %s, %p.\n", iface, debugstr_guid(id), ret);

    if (!id || !ret) return E_INVALIDARG;
    *ret = NULL;

    if (FAILED(hr = manager_find_job(id, &job))) return hr;
    *ret = (IBackgroundCopyJob *)&job->IBackgroundCopyJob5_iface;
    return S_OK;
}

static HRESULT WINAPI manager_EnumJobs(IBackgroundCopyManager *iface, DWORD flags, IEnumBackgroundCopyJobs **ret)
{
    struct do_job **jobs;
    ULONG count;
    HRESULT hr;

    TRACE("%p, %#lx, %p.\n", iface, flags, ret);

    if (!ret) return E_INVALIDARG;
    *ret = NULL;
    if (flags & ~BG_JOB_ENUM_ALL_USERS) return E_INVALIDARG;

    /* Every job runs as the one Wine user, so both flags list the same jobs. */
    if (FAILED(hr = manager_snapshot_jobs(&jobs, &count))) return hr;
    return enum_jobs_create(jobs, count, ret);
}

static HRESULT WINAPI manager_GetErrorDescription(IBackgroundCopyManager *iface, HRESULT code,
                                                  DWORD langid, WCHAR **text)
{
    TRACE("%p, %#lx, %#lx, %p.\n", iface, code, langid, text);

    if (!text) return E_INVALIDARG;
    return error_description(code, langid, text);
}

static const IBackgroundCopyManagerVtbl manager_vtbl =
{
    manager_QueryInterface,
    manager_AddRef,
    manager_Release,
    manager_CreateJob,
    manager_GetJob,
    manager_EnumJobs,
    manager_GetErrorDescription,
};

/* ------------------------------------------------------------------ IDOManager */

/*
 * The IDOManager generation shares the class object, the job table and the
 * transfer core with the BITS-style manager above; download.c puts the
 * IDODownload face on a job.
 */

static HRESULT WINAPI do_manager_QueryInterface(IDOManager *iface, REFIID riid, void **out)
{
    TRACE("%p, %s, %p.\n", iface, debugstr_guid(riid), out);

    return manager_query_interface(riid, out);
}

static ULONG WINAPI do_manager_AddRef(IDOManager *iface)
{
    TRACE("%p.\n", iface);
    return 2;
}

static ULONG WINAPI do_manager_Release(IDOManager *iface)
{
    TRACE("%p.\n", iface);
    return 1;
}

static HRESULT WINAPI do_manager_CreateDownload(IDOManager *iface, IDODownload **ret)
{
    struct do_job *job;
    HRESULT hr;

    TRACE("%p, %p.\n", iface, ret);

    if (!ret) return E_INVALIDARG;
    *ret = NULL;

    if (FAILED(hr = download_create(&job))) return hr;
    /* the table keeps the download until Finalize or Abort, whoever still holds it */
    if (FAILED(hr = add_job(job)))
    {
        job_release(job);
        return hr;
    }
    store_job_added(job);
    /* the reference download_create gave us goes to the caller */
    *ret = download_iface(job);
    TRACE("created download %s.\n", debugstr_guid(&job->id));
    return S_OK;
}

static BOOL is_same_user(const struct do_job *job, const WCHAR *sid)
{
    /* job->owner is set at creation and never changes for a download */
    return sid && job->owner && !wcscmp(job->owner, sid);
}

static HRESULT WINAPI do_manager_EnumDownloads(IDOManager *iface, const DO_DOWNLOAD_ENUM_CATEGORY *category,
                                               IEnumUnknown **ret)
{
    struct do_job **jobs;
    IUnknown **items;
    ULONG count, i, n = 0;
    WCHAR *sid;
    HRESULT hr;

    TRACE("%p, %p, %p.\n", iface, category, ret);

    if (!ret) return E_INVALIDARG;
    *ret = NULL;
    if (category)
    {
        TRACE("category %d, %s.\n", category->Property, debugstr_w(category->Value));
        /* only the identifying properties can be searched for */
        if ((unsigned int)category->Property > DODownloadProperty_LocalPath) return DO_E_UNKNOWN_PROPERTY_ID;
        if (!category->Value) return E_INVALIDARG;
    }

    if (!(sid = caller_sid())) return E_OUTOFMEMORY;
    if (FAILED(hr = manager_snapshot(SNAPSHOT_DOWNLOADS, &jobs, &count)))
    {
        free(sid);
        return hr;
    }
    /* the snapshot's references move to the elements; an IDODownload is its own IUnknown */
    items = (IUnknown **)jobs;
    /* a client sees the downloads created under its own identity */
    for (i = 0; i < count; i++)
    {
        struct do_job *job = jobs[i];

        if (is_same_user(job, sid) && (!category || download_matches(job, category)))
            items[n++] = (IUnknown *)download_iface(job);
        else
            job_release(job);
    }
    free(sid);

    if (!n)
    {
        free(items);
        return DO_E_NO_DOWNLOADS;
    }
    return enum_unknowns_create(items, n, ret);
}

static const IDOManagerVtbl do_manager_vtbl =
{
    do_manager_QueryInterface,
    do_manager_AddRef,
    do_manager_Release,
    do_manager_CreateDownload,
    do_manager_EnumDownloads,
};

static struct manager manager = { { &manager_vtbl }, { &do_manager_vtbl } };

HRESULT manager_query_interface(REFIID riid, void **out)
{
    TRACE("%s, %p.\n", debugstr_guid(riid), out);

    if (!out) return E_INVALIDARG;
    *out = NULL;
    if (!riid) return E_INVALIDARG;

    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyManager))
    {
        *out = &manager.IBackgroundCopyManager_iface;
        return S_OK;
    }
    if (IsEqualGUID(riid, &IID_IDOManager))
    {
        *out = &manager.IDOManager_iface;
        return S_OK;
    }
    if (IsEqualGUID(riid, &IID_IMarshal))
        return object_marshal_create((IUnknown *)&manager.IBackgroundCopyManager_iface, DOSVC_OBJECT_MANAGER,
                                     NULL, out);

    WARN("Unsupported interface %s.\n", debugstr_guid(riid));
    return E_NOINTERFACE;
}

/* ------------------------------------------------------------------ start and stop */

HRESULT core_startup(void)
{
    HRESULT hr;

    TRACE("\n");

    if (FAILED(hr = engine_startup())) return hr;
    /* the saved jobs come back before any client can ask for them */
    if (FAILED(hr = store_startup())) return hr;
    anchors_startup();
    return S_OK;
}

void core_shutdown(void)
{
    struct do_job **jobs;
    ULONG count, i;

    TRACE("\n");

    anchors_shutdown();
    /* Stop the workers first so that nothing touches a job we let go of. */
    engine_shutdown();
    /* then save what the workers left */
    store_shutdown();

    EnterCriticalSection(&job_table_cs);
    jobs = job_table;
    count = job_table_count;
    job_table = NULL;
    job_table_count = job_table_capacity = 0;
    LeaveCriticalSection(&job_table_cs);

    for (i = 0; i < count; i++) job_release(jobs[i]);
    free(jobs);
}
