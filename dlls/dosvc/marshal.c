/*
 * Delivery Optimization service: how our objects travel to other processes
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
 * Real clients call CoSetProxyBlanket/CoQueryProxyBlanket on what we hand
 * them and give up when it fails, and Wine's standard proxy answers
 * E_NOTIMPL.  So every object of ours answers IMarshal with the tear-off
 * below: towards another process it names our own unmarshal class
 * (CLSID_DoClientMarshal, in dosvcps.dll) and writes a small header
 * (include/dosvc_marshal.h) followed by the standard marshal data.  The
 * client then holds an object of ours that wraps the standard proxy and
 * answers IClientSecurity itself (dlls/dosvcps/client_object.c,
 * docs/client-object.md).  Within this process the standard marshaler does
 * everything, unchanged.
 */

#include "dosvc_private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

struct object_marshal
{
    IMarshal IMarshal_iface;
    LONG refcount;
    IUnknown *object;                    /* the object's identity; a reference */
    struct dosvc_marshal_header header;
};

static inline struct object_marshal *impl_from_IMarshal(IMarshal *iface)
{
    return CONTAINING_RECORD(iface, struct object_marshal, IMarshal_iface);
}

/* Our class only where a proxy is made in another process; in-process
 * apartments get the standard marshaling. */
static BOOL is_other_process(DWORD dest_context)
{
    return dest_context == MSHCTX_LOCAL || dest_context == MSHCTX_NOSHAREDMEM ||
           dest_context == MSHCTX_DIFFERENTMACHINE;
}

static HRESULT get_standard(struct object_marshal *marshal, REFIID riid, DWORD dest_context,
                            void *dest_data, DWORD flags, IMarshal **standard)
{
    return CoGetStandardMarshal(riid, marshal->object, dest_context, dest_data, flags, standard);
}

static HRESULT WINAPI object_marshal_QueryInterface(IMarshal *iface, REFIID riid, void **out)
{
    struct object_marshal *marshal = impl_from_IMarshal(iface);

    TRACE("%p, %s, %p.\n", iface, debugstr_guid(riid), out);

    if (IsEqualGUID(riid, &IID_IMarshal))
    {
        *out = iface;
        IMarshal_AddRef(iface);
        return S_OK;
    }
    /* a tear-off: everything else, IUnknown included, is the object's */
    return IUnknown_QueryInterface(marshal->object, riid, out);
}

static ULONG WINAPI object_marshal_AddRef(IMarshal *iface)
{
    struct object_marshal *marshal = impl_from_IMarshal(iface);
    ULONG ref = InterlockedIncrement(&marshal->refcount);

    TRACE("%p, refcount %lu.\n", iface, ref);
    return ref;
}

static ULONG WINAPI object_marshal_Release(IMarshal *iface)
{
    struct object_marshal *marshal = impl_from_IMarshal(iface);
    ULONG ref = InterlockedDecrement(&marshal->refcount);

    TRACE("%p, refcount %lu.\n", iface, ref);
    if (!ref)
    {
        IUnknown_Release(marshal->object);
        free(marshal);
    }
    return ref;
}

static HRESULT WINAPI object_marshal_GetUnmarshalClass(IMarshal *iface, REFIID riid, void *pv,
        DWORD dest_context, void *dest_data, DWORD flags, CLSID *clsid)
{
    struct object_marshal *marshal = impl_from_IMarshal(iface);
    IMarshal *standard;
    HRESULT hr;

    TRACE("%p, %s, %p, %#lx, %p, %#lx, %p.\n", iface, debugstr_guid(riid), pv, dest_context,
          dest_data, flags, clsid);

    if (is_other_process(dest_context))
    {
        *clsid = CLSID_DoClientMarshal;
        return S_OK;
    }
    if (FAILED(hr = get_standard(marshal, riid, dest_context, dest_data, flags, &standard))) return hr;
    hr = IMarshal_GetUnmarshalClass(standard, riid, pv, dest_context, dest_data, flags, clsid);
    IMarshal_Release(standard);
    return hr;
}

static HRESULT WINAPI object_marshal_GetMarshalSizeMax(IMarshal *iface, REFIID riid, void *pv,
        DWORD dest_context, void *dest_data, DWORD flags, DWORD *size)
{
    struct object_marshal *marshal = impl_from_IMarshal(iface);
    IMarshal *standard;
    HRESULT hr;

    TRACE("%p, %s, %p, %#lx, %p, %#lx, %p.\n", iface, debugstr_guid(riid), pv, dest_context,
          dest_data, flags, size);

    if (FAILED(hr = get_standard(marshal, riid, dest_context, dest_data, flags, &standard))) return hr;
    hr = IMarshal_GetMarshalSizeMax(standard, riid, pv, dest_context, dest_data, flags, size);
    IMarshal_Release(standard);
    /* exact, with what COM adds on top (dlls/common/marshal_slack.c) */
    if (SUCCEEDED(hr) && is_other_process(dest_context))
        *size = max(*size + sizeof(marshal->header), dosvc_marshal_slack()) - dosvc_marshal_slack();
    return hr;
}

static HRESULT WINAPI object_marshal_MarshalInterface(IMarshal *iface, IStream *stream, REFIID riid,
        void *pv, DWORD dest_context, void *dest_data, DWORD flags)
{
    struct object_marshal *marshal = impl_from_IMarshal(iface);
    IMarshal *standard;
    HRESULT hr;

    TRACE("%p, %p, %s, %p, %#lx, %p, %#lx.\n", iface, stream, debugstr_guid(riid), pv, dest_context,
          dest_data, flags);

    if (is_other_process(dest_context) &&
        FAILED(hr = IStream_Write(stream, &marshal->header, sizeof(marshal->header), NULL)))
        return hr;
    if (FAILED(hr = get_standard(marshal, riid, dest_context, dest_data, flags, &standard))) return hr;
    hr = IMarshal_MarshalInterface(standard, stream, riid, pv, dest_context, dest_data, flags);
    IMarshal_Release(standard);
    return hr;
}

/* COM unmarshals and releases data with the class GetUnmarshalClass named,
 * never with this object; answer like the standard marshaler would. */
static HRESULT WINAPI object_marshal_UnmarshalInterface(IMarshal *iface, IStream *stream, REFIID riid, void **out)
{
    TRACE("%p, %p, %s, %p.\n", iface, stream, debugstr_guid(riid), out);
    return CoUnmarshalInterface(stream, riid, out);
}

static HRESULT WINAPI object_marshal_ReleaseMarshalData(IMarshal *iface, IStream *stream)
{
    TRACE("%p, %p.\n", iface, stream);
    return CoReleaseMarshalData(stream);
}

static HRESULT WINAPI object_marshal_DisconnectObject(IMarshal *iface, DWORD reserved)
{
    struct object_marshal *marshal = impl_from_IMarshal(iface);
    IMarshal *standard;
    HRESULT hr;

    TRACE("%p, %#lx.\n", iface, reserved);

    if (FAILED(hr = get_standard(marshal, &IID_IUnknown, MSHCTX_LOCAL, NULL, MSHLFLAGS_NORMAL, &standard)))
        return hr;
    hr = IMarshal_DisconnectObject(standard, reserved);
    IMarshal_Release(standard);
    return hr;
}

static const IMarshalVtbl object_marshal_vtbl =
{
    object_marshal_QueryInterface,
    object_marshal_AddRef,
    object_marshal_Release,
    object_marshal_GetUnmarshalClass,
    object_marshal_GetMarshalSizeMax,
    object_marshal_MarshalInterface,
    object_marshal_UnmarshalInterface,
    object_marshal_ReleaseMarshalData,
    object_marshal_DisconnectObject,
};

/* For an object's QueryInterface(IID_IMarshal): object is any interface
 * of it, id the job's or download's id (NULL for the others). */
HRESULT object_marshal_create(IUnknown *object, enum dosvc_object_kind kind, const GUID *id, void **out)
{
    struct object_marshal *marshal;
    HRESULT hr;

    *out = NULL;
    if (!(marshal = calloc(1, sizeof(*marshal)))) return E_OUTOFMEMORY;
    if (FAILED(hr = IUnknown_QueryInterface(object, &IID_IUnknown, (void **)&marshal->object)))
    {
        free(marshal);
        return hr;
    }
    marshal->IMarshal_iface.lpVtbl = &object_marshal_vtbl;
    marshal->refcount = 1;
    marshal->header.magic = DOSVC_MARSHAL_MAGIC;
    marshal->header.version = DOSVC_MARSHAL_VERSION;
    marshal->header.size = sizeof(marshal->header);
    marshal->header.kind = kind;
    marshal->header.service_pid = GetCurrentProcessId();
    if (id) marshal->header.object_id = *id;
    marshal->header.status_slot = DOSVC_NO_STATUS_SLOT;
    *out = &marshal->IMarshal_iface;
    return S_OK;
}
