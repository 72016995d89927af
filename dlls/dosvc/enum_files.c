/*
 * Delivery Optimization service: IEnumBackgroundCopyFiles
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
 * The enumerator walks the job's files as they were when it was made: a
 * file added afterwards does not show, and every file in it stays
 * referenced (and so does its job) until the enumerator goes away.
 */
struct enum_files
{
    IEnumBackgroundCopyFiles IEnumBackgroundCopyFiles_iface;
    LONG refcount;
    CRITICAL_SECTION cs;     /* guards position; clients may share one enumerator between threads */
    struct do_file **files;  /* one reference each */
    ULONG count;
    ULONG position;
};

static inline struct enum_files *impl_from_IEnumBackgroundCopyFiles(IEnumBackgroundCopyFiles *iface)
{
    return CONTAINING_RECORD(iface, struct enum_files, IEnumBackgroundCopyFiles_iface);
}

static void release_files(struct do_file **files, ULONG count)
{
    ULONG i;

    for (i = 0; i < count; i++) file_release(files[i]);
    free(files);
}

static HRESULT WINAPI enum_files_QueryInterface(IEnumBackgroundCopyFiles *iface, REFIID riid, void **out)
{
    TRACE("%p, %s, %p.\n", iface, debugstr_guid(riid), out);

    if (!out) return E_POINTER;
    *out = NULL;
    if (!riid) return E_INVALIDARG;

    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IEnumBackgroundCopyFiles))
    {
        *out = iface;
        IEnumBackgroundCopyFiles_AddRef(iface);
        return S_OK;
    }

    WARN("Unsupported interface %s.\n", debugstr_guid(riid));
    return E_NOINTERFACE;
}

static ULONG WINAPI enum_files_AddRef(IEnumBackgroundCopyFiles *iface)
{
    struct enum_files *enumerator = impl_from_IEnumBackgroundCopyFiles(iface);
    ULONG refcount = InterlockedIncrement(&enumerator->refcount);

    TRACE("%p, refcount %lu.\n", iface, refcount);
    return refcount;
}

static ULONG WINAPI enum_files_Release(IEnumBackgroundCopyFiles *iface)
{
    struct enum_files *enumerator = impl_from_IEnumBackgroundCopyFiles(iface);
    ULONG refcount = InterlockedDecrement(&enumerator->refcount);

    TRACE("%p, refcount %lu.\n", iface, refcount);

    if (!refcount)
    {
        release_files(enumerator->files, enumerator->count);
        DeleteCriticalSection(&enumerator->cs);
        free(enumerator);
    }
    return refcount;
}

static HRESULT WINAPI enum_files_Next(IEnumBackgroundCopyFiles *iface, ULONG celt,
                                     IBackgroundCopyFile **rgelt, ULONG *fetched)
{
    struct enum_files *enumerator = impl_from_IEnumBackgroundCopyFiles(iface);
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
        struct do_file *file = enumerator->files[enumerator->position + i];

        file_addref(file);
        rgelt[i] = (IBackgroundCopyFile *)&file->IBackgroundCopyFile5_iface;
    }
    enumerator->position += n;
    LeaveCriticalSection(&enumerator->cs);

    if (fetched) *fetched = n;
    return n == celt ? S_OK : S_FALSE;
}

static HRESULT WINAPI enum_files_Skip(IEnumBackgroundCopyFiles *iface, ULONG celt)
{
    struct enum_files *enumerator = impl_from_IEnumBackgroundCopyFiles(iface);
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

static HRESULT WINAPI enum_files_Reset(IEnumBackgroundCopyFiles *iface)
{
    struct enum_files *enumerator = impl_from_IEnumBackgroundCopyFiles(iface);

    TRACE("%p.\n", iface);

    EnterCriticalSection(&enumerator->cs);
    enumerator->position = 0;
    LeaveCriticalSection(&enumerator->cs);
    return S_OK;
}

static HRESULT create_enumerator(struct do_file **files, ULONG count, ULONG position,
                                 IEnumBackgroundCopyFiles **out);

static HRESULT WINAPI enum_files_Clone(IEnumBackgroundCopyFiles *iface, IEnumBackgroundCopyFiles **ret)
{
    struct enum_files *enumerator = impl_from_IEnumBackgroundCopyFiles(iface);
    struct do_file **files;
    ULONG i, position;

    TRACE("%p, %p.\n", iface, ret);

    if (!ret) return E_INVALIDARG;
    *ret = NULL;

    /* The file list never changes; only the position needs the lock. */
    if (!(files = malloc((enumerator->count ? enumerator->count : 1) * sizeof(*files))))
        return E_OUTOFMEMORY;
    for (i = 0; i < enumerator->count; i++)
    {
        files[i] = enumerator->files[i];
        file_addref(files[i]);
    }

    EnterCriticalSection(&enumerator->cs);
    position = enumerator->position;
    LeaveCriticalSection(&enumerator->cs);

    return create_enumerator(files, enumerator->count, position, ret);
}

static HRESULT WINAPI enum_files_GetCount(IEnumBackgroundCopyFiles *iface, ULONG *count)
{
    struct enum_files *enumerator = impl_from_IEnumBackgroundCopyFiles(iface);

    TRACE("%p, %p.\n", iface, count);

    if (!count) return E_INVALIDARG;
    *count = enumerator->count;
    return S_OK;
}

static const IEnumBackgroundCopyFilesVtbl enum_files_vtbl =
{
    enum_files_QueryInterface,
    enum_files_AddRef,
    enum_files_Release,
    enum_files_Next,
    enum_files_Skip,
    enum_files_Reset,
    enum_files_Clone,
    enum_files_GetCount,
};

/* Takes ownership of files (array and references), even when it fails. */
static HRESULT create_enumerator(struct do_file **files, ULONG count, ULONG position,
                                 IEnumBackgroundCopyFiles **out)
{
    struct enum_files *enumerator;

    if (!(enumerator = calloc(1, sizeof(*enumerator))))
    {
        release_files(files, count);
        return E_OUTOFMEMORY;
    }

    enumerator->IEnumBackgroundCopyFiles_iface.lpVtbl = &enum_files_vtbl;
    enumerator->refcount = 1;
    InitializeCriticalSection(&enumerator->cs);
    enumerator->files = files;
    enumerator->count = count;
    enumerator->position = position;

    TRACE("created %p over %lu files.\n", enumerator, count);
    *out = &enumerator->IEnumBackgroundCopyFiles_iface;
    return S_OK;
}

HRESULT enum_files_create(struct do_job *job, IEnumBackgroundCopyFiles **out)
{
    struct do_file **files;
    ULONG i, count;

    TRACE("%p, %p.\n", job, out);

    if (!job || !out) return E_INVALIDARG;
    *out = NULL;

    EnterCriticalSection(&job->cs);
    count = job->file_count;
    /* At least one slot, so that a job without files still gives a valid array. */
    if (!(files = malloc((count ? count : 1) * sizeof(*files))))
    {
        LeaveCriticalSection(&job->cs);
        return E_OUTOFMEMORY;
    }
    for (i = 0; i < count; i++)
    {
        files[i] = job->files[i];
        file_addref(files[i]);
    }
    LeaveCriticalSection(&job->cs);

    return create_enumerator(files, count, 0, out);
}
