/*
 * Delivery Optimization service: IEnumBackgroundCopyJobs
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

/*
 * The enumerator walks a snapshot taken when it was made: jobs created or
 * removed afterwards do not show, and every job in it stays referenced (and
 * so alive) until the enumerator goes away.
 */
struct enum_jobs
{
    IEnumBackgroundCopyJobs IEnumBackgroundCopyJobs_iface;
    LONG refcount;
    CRITICAL_SECTION cs;     /* guards position; clients may share one enumerator between threads */
    struct do_job **jobs;    /* one reference each */
    ULONG count;
    ULONG position;
};

static inline struct enum_jobs *impl_from_IEnumBackgroundCopyJobs(IEnumBackgroundCopyJobs *iface)
{
    return CONTAINING_RECORD(iface, struct enum_jobs, IEnumBackgroundCopyJobs_iface);
}

static void release_jobs(struct do_job **jobs, ULONG count)
{
    ULONG i;

    for (i = 0; i < count; i++) job_release(jobs[i]);
    free(jobs);
}

static HRESULT WINAPI enum_jobs_QueryInterface(IEnumBackgroundCopyJobs *iface, REFIID riid, void **out)
{
    TRACE("%p, %s, %p.\n", iface, debugstr_guid(riid), out);

    if (!out) return E_POINTER;
    *out = NULL;
    if (!riid) return E_INVALIDARG;

    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IEnumBackgroundCopyJobs))
    {
        *out = iface;
        IEnumBackgroundCopyJobs_AddRef(iface);
        return S_OK;
    }

    WARN("Unsupported interface %s.\n", debugstr_guid(riid));
    return E_NOINTERFACE;
}

static ULONG WINAPI enum_jobs_AddRef(IEnumBackgroundCopyJobs *iface)
{
    struct enum_jobs *enumerator = impl_from_IEnumBackgroundCopyJobs(iface);
    ULONG refcount = InterlockedIncrement(&enumerator->refcount);

    TRACE("%p, refcount %lu.\n", iface, refcount);
    return refcount;
}

static ULONG WINAPI enum_jobs_Release(IEnumBackgroundCopyJobs *iface)
{
    struct enum_jobs *enumerator = impl_from_IEnumBackgroundCopyJobs(iface);
    ULONG refcount = InterlockedDecrement(&enumerator->refcount);

    TRACE("%p, refcount %lu.\n", iface, refcount);

    if (!refcount)
    {
        release_jobs(enumerator->jobs, enumerator->count);
        DeleteCriticalSection(&enumerator->cs);
        free(enumerator);
    }
    return refcount;
}

static HRESULT WINAPI enum_jobs_Next(IEnumBackgroundCopyJobs *iface, ULONG celt,
                                     IBackgroundCopyJob **rgelt, ULONG *fetched)
{
    struct enum_jobs *enumerator = impl_from_IEnumBackgroundCopyJobs(iface);
    ULONG i, n;

    TRACE("%p, %lu, %p, %p.\n", iface, celt, rgelt, fetched);

    if (!rgelt) return E_INVALIDARG;
    /* Without pceltFetched the caller could not tell how many it got. */
    if (celt > 1 && !fetched) return E_INVALIDARG;
    if (fetched) *fetched = 0;

    EnterCriticalSection(&enumerator->cs);
    n = min(celt, enumerator->count - enumerator->position);
    for (i = 0; i < n; i++)
    {
        struct do_job *job = enumerator->jobs[enumerator->position + i];

        job_addref(job);
        rgelt[i] = (IBackgroundCopyJob *)&job->IBackgroundCopyJob5_iface;
    }
    enumerator->position += n;
    LeaveCriticalSection(&enumerator->cs);

    if (fetched) *fetched = n;
    return n == celt ? S_OK : S_FALSE;
}

static HRESULT WINAPI enum_jobs_Skip(IEnumBackgroundCopyJobs *iface, ULONG celt)
{
    struct enum_jobs *enumerator = impl_from_IEnumBackgroundCopyJobs(iface);
    HRESULT hr = S_OK;

    TRACE("%p, %lu.\n", iface, celt);

    EnterCriticalSection(&enumerator->cs);
    if (celt > enumerator->count - enumerator->position)
    {
        enumerator->position = enumerator->count;
        hr = S_FALSE;
    }
    else
        enumerator->position += celt;
    LeaveCriticalSection(&enumerator->cs);
    return hr;
}

static HRESULT WINAPI enum_jobs_Reset(IEnumBackgroundCopyJobs *iface)
{
    struct enum_jobs *enumerator = impl_from_IEnumBackgroundCopyJobs(iface);

    TRACE("%p.\n", iface);

    EnterCriticalSection(&enumerator->cs);
    enumerator->position = 0;
    LeaveCriticalSection(&enumerator->cs);
    return S_OK;
}

static HRESULT create_enumerator(struct do_job **jobs, ULONG count, ULONG position,
                                 IEnumBackgroundCopyJobs **out);

static HRESULT WINAPI enum_jobs_Clone(IEnumBackgroundCopyJobs *iface, IEnumBackgroundCopyJobs **ret)
{
    struct enum_jobs *enumerator = impl_from_IEnumBackgroundCopyJobs(iface);
    struct do_job **jobs;
    ULONG i, position;

    TRACE("%p, %p.\n", iface, ret);

    if (!ret) return E_INVALIDARG;
    *ret = NULL;

    /* The job list never changes; only the position needs the lock. */
    if (!(jobs = malloc((enumerator->count ? enumerator->count : 1) * sizeof(*jobs))))
        return E_OUTOFMEMORY;
    for (i = 0; i < enumerator->count; i++)
    {
        jobs[i] = enumerator->jobs[i];
        job_addref(jobs[i]);
    }

    EnterCriticalSection(&enumerator->cs);
    position = enumerator->position;
    LeaveCriticalSection(&enumerator->cs);

    return create_enumerator(jobs, enumerator->count, position, ret);
}

static HRESULT WINAPI enum_jobs_GetCount(IEnumBackgroundCopyJobs *iface, ULONG *count)
{
    struct enum_jobs *enumerator = impl_from_IEnumBackgroundCopyJobs(iface);

    TRACE("%p, %p.\n", iface, count);

    if (!count) return E_INVALIDARG;
    *count = enumerator->count;
    return S_OK;
}

static const IEnumBackgroundCopyJobsVtbl enum_jobs_vtbl =
{
    enum_jobs_QueryInterface,
    enum_jobs_AddRef,
    enum_jobs_Release,
    enum_jobs_Next,
    enum_jobs_Skip,
    enum_jobs_Reset,
    enum_jobs_Clone,
    enum_jobs_GetCount,
};

/* Takes ownership of jobs (array and references), even when it fails. */
static HRESULT create_enumerator(struct do_job **jobs, ULONG count, ULONG position,
                                 IEnumBackgroundCopyJobs **out)
{
    struct enum_jobs *enumerator;

    if (!(enumerator = calloc(1, sizeof(*enumerator))))
    {
        release_jobs(jobs, count);
        return E_OUTOFMEMORY;
    }

    enumerator->IEnumBackgroundCopyJobs_iface.lpVtbl = &enum_jobs_vtbl;
    enumerator->refcount = 1;
    InitializeCriticalSection(&enumerator->cs);
    enumerator->jobs = jobs;
    enumerator->count = count;
    enumerator->position = position;

    TRACE("created %p over %lu jobs.\n", enumerator, count);
    *out = &enumerator->IEnumBackgroundCopyJobs_iface;
    return S_OK;
}

HRESULT enum_jobs_create(struct do_job **jobs, ULONG count, IEnumBackgroundCopyJobs **out)
{
    TRACE("%p, %lu, %p.\n", jobs, count, out);

    /* The array is ours from here on, so every failure must let it go. */
    if (!out || (!jobs && count))
    {
        if (jobs) release_jobs(jobs, count);
        return E_INVALIDARG;
    }
    *out = NULL;

    return create_enumerator(jobs, count, 0, out);
}
