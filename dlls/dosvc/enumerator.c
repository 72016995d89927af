/*
 * Delivery Optimization service: enumerators over a snapshot of objects
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
 * IEnumBackgroundCopyJobs, IEnumBackgroundCopyFiles and IEnumUnknown share
 * their first four methods and their rules, so one object serves all three:
 * the enumerator walks a snapshot taken when it was made (objects created or
 * removed afterwards do not show) and holds a reference on every element
 * until it goes away.  Each element is handed out as the interface the
 * snapshot was taken with.
 */

#include "dosvc_private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

struct enumerator
{
    union
    {
        IEnumBackgroundCopyJobs jobs;
        IEnumBackgroundCopyFiles files;
        IEnumUnknown unknowns;
    } iface;
    const IID *iid;          /* which of the three this one is */
    const void *vtbl;
    LONG refcount;
    CRITICAL_SECTION cs;     /* guards position: clients may share an enumerator between threads */
    IUnknown **items;        /* one reference each */
    ULONG count;
    ULONG position;
};

static inline struct enumerator *impl_from_iface(void *iface)
{
    return CONTAINING_RECORD(iface, struct enumerator, iface);
}

static void release_items(IUnknown **items, ULONG count)
{
    ULONG i;

    for (i = 0; i < count; i++) IUnknown_Release(items[i]);
    free(items);
}

static HRESULT create(const IID *iid, const void *vtbl, IUnknown **items, ULONG count, ULONG position, void **out);

static HRESULT enumerator_query_interface(void *iface, REFIID riid, void **out)
{
    struct enumerator *enumerator = impl_from_iface(iface);

    TRACE("%p, %s, %p.\n", iface, debugstr_guid(riid), out);

    if (!out) return E_POINTER;
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, enumerator->iid))
    {
        *out = iface;
        InterlockedIncrement(&enumerator->refcount);
        return S_OK;
    }
    if (IsEqualGUID(riid, &IID_IMarshal))
        return object_marshal_create(iface, IsEqualGUID(enumerator->iid, &IID_IEnumBackgroundCopyJobs) ?
                                     DOSVC_OBJECT_ENUM_JOBS : IsEqualGUID(enumerator->iid, &IID_IEnumBackgroundCopyFiles) ?
                                     DOSVC_OBJECT_ENUM_FILES : DOSVC_OBJECT_ENUM_UNKNOWN, NULL, out);
    WARN("Unsupported interface %s.\n", debugstr_guid(riid));
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG enumerator_addref(void *iface)
{
    struct enumerator *enumerator = impl_from_iface(iface);
    ULONG refcount = InterlockedIncrement(&enumerator->refcount);

    TRACE("%p, refcount %lu.\n", iface, refcount);
    return refcount;
}

static ULONG enumerator_release(void *iface)
{
    struct enumerator *enumerator = impl_from_iface(iface);
    ULONG refcount = InterlockedDecrement(&enumerator->refcount);

    TRACE("%p, refcount %lu.\n", iface, refcount);
    if (!refcount)
    {
        release_items(enumerator->items, enumerator->count);
        DeleteCriticalSection(&enumerator->cs);
        free(enumerator);
    }
    return refcount;
}

/* S_OK when all celt came, S_FALSE when fewer remained. */
static HRESULT enumerator_next(void *iface, ULONG celt, IUnknown **elements, ULONG *fetched)
{
    struct enumerator *enumerator = impl_from_iface(iface);
    ULONG n = 0;

    TRACE("%p, %lu, %p, %p.\n", iface, celt, elements, fetched);

    if (!elements || (celt > 1 && !fetched)) return E_INVALIDARG;
    EnterCriticalSection(&enumerator->cs);
    while (n < celt && enumerator->position < enumerator->count)
    {
        elements[n] = enumerator->items[enumerator->position++];
        IUnknown_AddRef(elements[n]);
        n++;
    }
    LeaveCriticalSection(&enumerator->cs);
    if (fetched) *fetched = n;
    return n == celt ? S_OK : S_FALSE;
}

static HRESULT enumerator_skip(void *iface, ULONG celt)
{
    struct enumerator *enumerator = impl_from_iface(iface);
    HRESULT hr = S_OK;

    TRACE("%p, %lu.\n", iface, celt);

    EnterCriticalSection(&enumerator->cs);
    if (celt > enumerator->count - enumerator->position)
    {
        enumerator->position = enumerator->count;
        hr = S_FALSE;
    }
    else enumerator->position += celt;
    LeaveCriticalSection(&enumerator->cs);
    return hr;
}

static HRESULT enumerator_reset(void *iface)
{
    struct enumerator *enumerator = impl_from_iface(iface);

    TRACE("%p.\n", iface);

    EnterCriticalSection(&enumerator->cs);
    enumerator->position = 0;
    LeaveCriticalSection(&enumerator->cs);
    return S_OK;
}

/* A clone walks the same snapshot from the same place, with its own references. */
static HRESULT enumerator_clone(void *iface, void **out)
{
    struct enumerator *enumerator = impl_from_iface(iface);
    IUnknown **items = NULL;
    ULONG i, position;

    TRACE("%p, %p.\n", iface, out);

    if (!out) return E_INVALIDARG;
    *out = NULL;
    if (enumerator->count && !(items = malloc(enumerator->count * sizeof(*items)))) return E_OUTOFMEMORY;
    for (i = 0; i < enumerator->count; i++)
    {
        items[i] = enumerator->items[i];
        IUnknown_AddRef(items[i]);
    }
    EnterCriticalSection(&enumerator->cs);
    position = enumerator->position;
    LeaveCriticalSection(&enumerator->cs);
    return create(enumerator->iid, enumerator->vtbl, items, enumerator->count, position, out);
}

static HRESULT enumerator_get_count(void *iface, ULONG *count)
{
    struct enumerator *enumerator = impl_from_iface(iface);

    TRACE("%p, %p.\n", iface, count);

    if (!count) return E_INVALIDARG;
    *count = enumerator->count;
    return S_OK;
}

/* ------------------------------------------------------------------ the three vtables */

#define ENUM_WRAPPERS(prefix, iface_type, element_type) \
    static HRESULT WINAPI prefix##_QueryInterface(iface_type *iface, REFIID riid, void **out) \
    { return enumerator_query_interface(iface, riid, out); } \
    static ULONG WINAPI prefix##_AddRef(iface_type *iface) { return enumerator_addref(iface); } \
    static ULONG WINAPI prefix##_Release(iface_type *iface) { return enumerator_release(iface); } \
    static HRESULT WINAPI prefix##_Next(iface_type *iface, ULONG celt, element_type **elements, ULONG *fetched) \
    { return enumerator_next(iface, celt, (IUnknown **)elements, fetched); } \
    static HRESULT WINAPI prefix##_Skip(iface_type *iface, ULONG celt) { return enumerator_skip(iface, celt); } \
    static HRESULT WINAPI prefix##_Reset(iface_type *iface) { return enumerator_reset(iface); } \
    static HRESULT WINAPI prefix##_Clone(iface_type *iface, iface_type **out) \
    { return enumerator_clone(iface, (void **)out); }

ENUM_WRAPPERS(enum_jobs, IEnumBackgroundCopyJobs, IBackgroundCopyJob)
ENUM_WRAPPERS(enum_files, IEnumBackgroundCopyFiles, IBackgroundCopyFile)
ENUM_WRAPPERS(enum_unknowns, IEnumUnknown, IUnknown)

static HRESULT WINAPI enum_jobs_GetCount(IEnumBackgroundCopyJobs *iface, ULONG *count)
{
    return enumerator_get_count(iface, count);
}

static HRESULT WINAPI enum_files_GetCount(IEnumBackgroundCopyFiles *iface, ULONG *count)
{
    return enumerator_get_count(iface, count);
}

static const IEnumBackgroundCopyJobsVtbl enum_jobs_vtbl =
{
    enum_jobs_QueryInterface, enum_jobs_AddRef, enum_jobs_Release,
    enum_jobs_Next, enum_jobs_Skip, enum_jobs_Reset, enum_jobs_Clone, enum_jobs_GetCount,
};

static const IEnumBackgroundCopyFilesVtbl enum_files_vtbl =
{
    enum_files_QueryInterface, enum_files_AddRef, enum_files_Release,
    enum_files_Next, enum_files_Skip, enum_files_Reset, enum_files_Clone, enum_files_GetCount,
};

static const IEnumUnknownVtbl enum_unknowns_vtbl =
{
    enum_unknowns_QueryInterface, enum_unknowns_AddRef, enum_unknowns_Release,
    enum_unknowns_Next, enum_unknowns_Skip, enum_unknowns_Reset, enum_unknowns_Clone,
};

/* ------------------------------------------------------------------ creation */

/* Takes ownership of items (and their references), even on failure. */
static HRESULT create(const IID *iid, const void *vtbl, IUnknown **items, ULONG count, ULONG position, void **out)
{
    struct enumerator *enumerator;

    if (!(enumerator = calloc(1, sizeof(*enumerator))))
    {
        release_items(items, count);
        return E_OUTOFMEMORY;
    }
    enumerator->iface.jobs.lpVtbl = (void *)vtbl;   /* all three start with their vtable */
    enumerator->iid = iid;
    enumerator->vtbl = vtbl;
    enumerator->refcount = 1;
    InitializeCriticalSection(&enumerator->cs);
    enumerator->items = items;
    enumerator->count = count;
    enumerator->position = position;
    *out = &enumerator->iface;
    TRACE("created %p over %lu elements\n", *out, count);
    return S_OK;
}

HRESULT enum_unknowns_create(IUnknown **items, ULONG count, IEnumUnknown **out)
{
    return create(&IID_IEnumUnknown, &enum_unknowns_vtbl, items, count, 0, (void **)out);
}

/* Takes the array from manager_snapshot_jobs and its references. */
HRESULT enum_jobs_create(struct do_job **jobs, ULONG count, IEnumBackgroundCopyJobs **out)
{
    IUnknown **items = NULL;
    ULONG i;

    if (count && !(items = malloc(count * sizeof(*items))))
    {
        for (i = 0; i < count; i++) job_release(jobs[i]);
        free(jobs);
        return E_OUTOFMEMORY;
    }
    /* the references move from the snapshot to the interface pointers handed out */
    for (i = 0; i < count; i++) items[i] = (IUnknown *)&jobs[i]->IBackgroundCopyJob5_iface;
    free(jobs);
    return create(&IID_IEnumBackgroundCopyJobs, &enum_jobs_vtbl, items, count, 0, (void **)out);
}

HRESULT enum_files_create(struct do_job *job, IEnumBackgroundCopyFiles **out)
{
    IUnknown **items = NULL;
    ULONG i, count;

    EnterCriticalSection(&job->cs);
    count = job->file_count;
    if (count && !(items = malloc(count * sizeof(*items))))
    {
        LeaveCriticalSection(&job->cs);
        return E_OUTOFMEMORY;
    }
    for (i = 0; i < count; i++)
    {
        items[i] = (IUnknown *)&job->files[i]->IBackgroundCopyFile5_iface;
        file_addref(job->files[i]);
    }
    LeaveCriticalSection(&job->cs);
    return create(&IID_IEnumBackgroundCopyFiles, &enum_files_vtbl, items, count, 0, (void **)out);
}
