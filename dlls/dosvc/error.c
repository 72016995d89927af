/*
 * Delivery Optimization service: IBackgroundCopyError
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
 * A copy of the job's error as it was when GetError was called.  The job
 * clears its own error when it starts transferring again; a client still
 * holding this object keeps seeing what went wrong, as BITS clients expect.
 */
struct copy_error
{
    IBackgroundCopyError IBackgroundCopyError_iface;
    IDoClientErrorText IDoClientErrorText_iface;   /* the text methods for our client-side object */
    LONG refcount;
    struct do_job *job;      /* referenced: keeps the job, and so its files, alive */
    HRESULT code;
    BG_ERROR_CONTEXT context;
    struct do_file *file;    /* referenced (file_addref), or NULL when not tied to a file */
    WCHAR *protocol;         /* NULL when unknown */
};

static inline struct copy_error *impl_from_IBackgroundCopyError(IBackgroundCopyError *iface)
{
    return CONTAINING_RECORD(iface, struct copy_error, IBackgroundCopyError_iface);
}

static HRESULT WINAPI copy_error_QueryInterface(IBackgroundCopyError *iface, REFIID riid, void **out)
{
    TRACE("%p, %s, %p.\n", iface, debugstr_guid(riid), out);

    if (!out) return E_POINTER;
    *out = NULL;
    if (!riid) return E_INVALIDARG;

    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyError))
    {
        *out = iface;
        IBackgroundCopyError_AddRef(iface);
        return S_OK;
    }
    if (IsEqualGUID(riid, &IID_IDoClientErrorText))
    {
        *out = &impl_from_IBackgroundCopyError(iface)->IDoClientErrorText_iface;
        IBackgroundCopyError_AddRef(iface);
        return S_OK;
    }
    if (IsEqualGUID(riid, &IID_IMarshal))
        return object_marshal_create((IUnknown *)iface, DOSVC_OBJECT_ERROR, NULL, out);

    WARN("Unsupported interface %s.\n", debugstr_guid(riid));
    return E_NOINTERFACE;
}

static ULONG WINAPI copy_error_AddRef(IBackgroundCopyError *iface)
{
    struct copy_error *error = impl_from_IBackgroundCopyError(iface);
    ULONG refcount = InterlockedIncrement(&error->refcount);

    TRACE("%p, refcount %lu.\n", iface, refcount);
    return refcount;
}

static ULONG WINAPI copy_error_Release(IBackgroundCopyError *iface)
{
    struct copy_error *error = impl_from_IBackgroundCopyError(iface);
    ULONG refcount = InterlockedDecrement(&error->refcount);

    TRACE("%p, refcount %lu.\n", iface, refcount);

    if (!refcount)
    {
        if (error->file) file_release(error->file);
        job_release(error->job);
        free(error->protocol);
        free(error);
    }
    return refcount;
}

static HRESULT WINAPI copy_error_GetError(IBackgroundCopyError *iface, BG_ERROR_CONTEXT *context,
                                          HRESULT *code)
{
    struct copy_error *error = impl_from_IBackgroundCopyError(iface);

    TRACE("%p, %p, %p.\n", iface, context, code);

    if (!context || !code) return E_INVALIDARG;
    *context = error->context;
    *code = error->code;
    return S_OK;
}

static HRESULT WINAPI copy_error_GetFile(IBackgroundCopyError *iface, IBackgroundCopyFile **ret)
{
    struct copy_error *error = impl_from_IBackgroundCopyError(iface);

    TRACE("%p, %p.\n", iface, ret);

    if (!ret) return E_INVALIDARG;
    *ret = NULL;
    if (!error->file) return DO_E_FILE_NOT_AVAILABLE;

    file_addref(error->file);
    *ret = (IBackgroundCopyFile *)&error->file->IBackgroundCopyFile5_iface;
    return S_OK;
}

static HRESULT WINAPI copy_error_GetErrorDescription(IBackgroundCopyError *iface, DWORD langid, WCHAR **text)
{
    struct copy_error *error = impl_from_IBackgroundCopyError(iface);

    TRACE("%p, %#lx, %p.\n", iface, langid, text);

    if (!text) return E_INVALIDARG;
    return error_description(error->code, langid, text);
}

static HRESULT WINAPI copy_error_GetErrorContextDescription(IBackgroundCopyError *iface, DWORD langid,
                                                            WCHAR **text)
{
    struct copy_error *error = impl_from_IBackgroundCopyError(iface);

    TRACE("%p, %#lx, %p.\n", iface, langid, text);

    if (!text) return E_INVALIDARG;
    return error_context_description(error->context, langid, text);
}

static HRESULT WINAPI copy_error_GetProtocol(IBackgroundCopyError *iface, WCHAR **protocol)
{
    struct copy_error *error = impl_from_IBackgroundCopyError(iface);

    TRACE("%p, %p.\n", iface, protocol);

    if (!protocol) return E_INVALIDARG;
    *protocol = NULL;
    /* The protocol is the file's; an error of the job as a whole has none. */
    if (!error->file) return DO_E_FILE_NOT_AVAILABLE;
    return return_string(error->protocol, protocol);
}

static const IBackgroundCopyErrorVtbl copy_error_vtbl =
{
    copy_error_QueryInterface,
    copy_error_AddRef,
    copy_error_Release,
    copy_error_GetError,
    copy_error_GetFile,
    copy_error_GetErrorDescription,
    copy_error_GetErrorContextDescription,
    copy_error_GetProtocol,
};

/* ------------------------------------------------------------------ IDoClientErrorText */

/* The same three answers, reached through an interface whose strings
 * marshal (include/dosvc_client.idl). */

static inline struct copy_error *impl_from_IDoClientErrorText(IDoClientErrorText *iface)
{
    return CONTAINING_RECORD(iface, struct copy_error, IDoClientErrorText_iface);
}

static HRESULT WINAPI error_text_QueryInterface(IDoClientErrorText *iface, REFIID riid, void **out)
{
    return copy_error_QueryInterface(&impl_from_IDoClientErrorText(iface)->IBackgroundCopyError_iface, riid, out);
}

static ULONG WINAPI error_text_AddRef(IDoClientErrorText *iface)
{
    return copy_error_AddRef(&impl_from_IDoClientErrorText(iface)->IBackgroundCopyError_iface);
}

static ULONG WINAPI error_text_Release(IDoClientErrorText *iface)
{
    return copy_error_Release(&impl_from_IDoClientErrorText(iface)->IBackgroundCopyError_iface);
}

static HRESULT WINAPI error_text_GetErrorDescription(IDoClientErrorText *iface, DWORD langid, WCHAR **text)
{
    return copy_error_GetErrorDescription(&impl_from_IDoClientErrorText(iface)->IBackgroundCopyError_iface,
                                          langid, text);
}

static HRESULT WINAPI error_text_GetErrorContextDescription(IDoClientErrorText *iface, DWORD langid, WCHAR **text)
{
    return copy_error_GetErrorContextDescription(&impl_from_IDoClientErrorText(iface)->IBackgroundCopyError_iface,
                                                 langid, text);
}

static HRESULT WINAPI error_text_GetProtocol(IDoClientErrorText *iface, WCHAR **protocol)
{
    return copy_error_GetProtocol(&impl_from_IDoClientErrorText(iface)->IBackgroundCopyError_iface, protocol);
}

static const IDoClientErrorTextVtbl error_text_vtbl =
{
    error_text_QueryInterface,
    error_text_AddRef,
    error_text_Release,
    error_text_GetErrorDescription,
    error_text_GetErrorContextDescription,
    error_text_GetProtocol,
};

/* The scheme of a URL ("http" for "HTTP://host/x"), for errors whose job.c
 * record names no protocol; NULL when the name has none. */
static WCHAR *scheme_of(const WCHAR *url)
{
    WCHAR *scheme;
    size_t len = 0, i;

    if (!url) return NULL;
    while (len < 16 && ((url[len] >= 'a' && url[len] <= 'z') || (url[len] >= 'A' && url[len] <= 'Z')))
        len++;
    if (!len || url[len] != ':') return NULL;

    if (!(scheme = malloc((len + 1) * sizeof(WCHAR)))) return NULL;
    for (i = 0; i < len; i++)
        scheme[i] = (url[i] >= 'A' && url[i] <= 'Z') ? url[i] - 'A' + 'a' : url[i];
    scheme[len] = 0;
    return scheme;
}

HRESULT copy_error_create(struct do_job *job, IBackgroundCopyError **out)
{
    struct copy_error *error;
    HRESULT hr = S_OK;

    TRACE("%p, %p.\n", job, out);

    if (!job || !out) return E_INVALIDARG;
    *out = NULL;

    if (!(error = calloc(1, sizeof(*error)))) return E_OUTOFMEMORY;

    EnterCriticalSection(&job->cs);
    /* The state test in GetError and this snapshot are not atomic: the job
     * may have left ERROR in between, and then there is nothing to report. */
    if (SUCCEEDED(job->error.code))
        hr = DO_E_ERROR_INFORMATION_UNAVAILABLE;
    else
    {
        error->code = job->error.code;
        error->context = job->error.context;
        if (job->error.protocol)
        {
            if (!(error->protocol = strdupW(job->error.protocol))) hr = E_OUTOFMEMORY;
        }
        else if (job->error.file)
            error->protocol = scheme_of(job->error.file->remote_name);
        if (SUCCEEDED(hr) && (error->file = job->error.file))
            file_addref(error->file);
    }
    LeaveCriticalSection(&job->cs);

    if (FAILED(hr))
    {
        free(error->protocol);
        free(error);
        return hr;
    }

    error->IBackgroundCopyError_iface.lpVtbl = &copy_error_vtbl;
    error->IDoClientErrorText_iface.lpVtbl = &error_text_vtbl;
    error->refcount = 1;
    job_addref(job);
    error->job = job;

    TRACE("created %p, code %#lx, context %u, file %p, protocol %s.\n", error, error->code,
          error->context, error->file, debugstr_w(error->protocol));
    *out = &error->IBackgroundCopyError_iface;
    return S_OK;
}
