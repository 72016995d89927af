/*
 * DoSvc's client-side object: the identity a client holds
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
 * One client_object stands for one DoSvc object in one apartment of the
 * client, exactly as a standard proxy manager does: unmarshaling the same
 * object twice in an apartment gives the same identity (the table below,
 * keyed by the standard proxy's identity, which COM already keeps unique
 * per apartment).
 *
 * IClientSecurity is answered here.  Each call goes to the standard proxy
 * first; where that answers E_NOTIMPL (every Wine release so far) the
 * blanket is recorded per interface pointer and reported back by
 * QueryBlanket, and CopyProxy makes a copy of our own.  Under Wine the
 * service impersonates its caller whatever the blanket says, so a client
 * that asks for impersonation gets what it asked for.  Where the standard
 * proxy does implement them (Windows, a later Wine), its answers stand.
 */

#include "client.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

static inline struct client_object *impl_from_IUnknown(IUnknown *iface)
{
    return CONTAINING_RECORD(iface, struct client_object, IUnknown_iface);
}

static inline struct client_object *impl_from_IClientSecurity(IClientSecurity *iface)
{
    return CONTAINING_RECORD(iface, struct client_object, IClientSecurity_iface);
}

static inline struct client_object *impl_from_IMarshal(IMarshal *iface)
{
    return CONTAINING_RECORD(iface, struct client_object, IMarshal_iface);
}

static inline struct client_object *impl_from_IMultiQI(IMultiQI *iface)
{
    return CONTAINING_RECORD(iface, struct client_object, IMultiQI_iface);
}

static LONG object_count;

LONG client_object_count(void)
{
    return object_count;
}

/* ------------------------------------------------------------------ identity table */

#define TABLE_BUCKETS 4096

static struct client_object *table[TABLE_BUCKETS];
static SRWLOCK table_lock = SRWLOCK_INIT;

static unsigned int bucket_of(IUnknown *inner)
{
    ULONG_PTR key = (ULONG_PTR)inner;
    return (unsigned int)((key >> 4) ^ (key >> 16)) % TABLE_BUCKETS;
}

/* A reference only while the object is still alive: one whose count
 * reached zero is on its way out and must not come back. */
static BOOL try_addref(struct client_object *object)
{
    LONG ref = object->refcount;

    while (ref > 0)
    {
        LONG seen = InterlockedCompareExchange(&object->refcount, ref + 1, ref);
        if (seen == ref) return TRUE;
        ref = seen;
    }
    return FALSE;
}

static struct client_object *table_find(IUnknown *inner)
{
    struct client_object *object;

    AcquireSRWLockShared(&table_lock);
    for (object = table[bucket_of(inner)]; object; object = object->hash_next)
        if (object->inner == inner && try_addref(object)) break;
    ReleaseSRWLockShared(&table_lock);
    return object;
}

/* Adds object unless another thread added one for the same proxy first;
 * returns the one that stays (with a reference for the caller). */
static struct client_object *table_add(struct client_object *object)
{
    unsigned int bucket = bucket_of(object->inner);
    struct client_object *other;

    AcquireSRWLockExclusive(&table_lock);
    for (other = table[bucket]; other; other = other->hash_next)
        if (other->inner == object->inner && try_addref(other)) break;
    if (!other)
    {
        object->hash_next = table[bucket];
        table[bucket] = object;
    }
    ReleaseSRWLockExclusive(&table_lock);
    return other ? other : object;
}

static void table_remove(struct client_object *object)
{
    struct client_object **link;

    AcquireSRWLockExclusive(&table_lock);
    for (link = &table[bucket_of(object->inner)]; *link; link = &(*link)->hash_next)
    {
        if (*link != object) continue;
        *link = object->hash_next;
        break;
    }
    ReleaseSRWLockExclusive(&table_lock);
}

/* ------------------------------------------------------------------ lifetime */

static void free_blanket(struct client_blanket *blanket)
{
    if (!blanket) return;
    CoTaskMemFree(blanket->principal);
    free(blanket);
}

static void object_destroy(struct client_object *object)
{
    unsigned int i;

    TRACE("destroying %p\n", object);
    table_remove(object);
    for (i = 0; i < SLOT_COUNT; i++)
    {
        if (object->slots[i].inner) IUnknown_Release(object->slots[i].inner);
        free_blanket(object->slots[i].blanket);
    }
    free_blanket(object->unknown_blanket);
    IUnknown_Release(object->inner);
    DeleteCriticalSection(&object->cs);
    free(object);
    InterlockedDecrement(&object_count);
}

static ULONG object_addref(struct client_object *object)
{
    ULONG ref = InterlockedIncrement(&object->refcount);
    TRACE("%p, refcount %lu.\n", object, ref);
    return ref;
}

static ULONG object_release(struct client_object *object)
{
    ULONG ref = InterlockedDecrement(&object->refcount);
    TRACE("%p, refcount %lu.\n", object, ref);
    if (!ref) object_destroy(object);
    return ref;
}

static int slot_of_iid(REFIID riid)
{
    int i;

    for (i = 0; i < SLOT_COUNT; i++)
        if (IsEqualGUID(riid, client_slot_iids[i])) return i;
    return -1;
}

/* The standard proxy's interface for a slot, asked for once. */
static HRESULT slot_inner(struct client_object *object, int slot, IUnknown **inner)
{
    IUnknown *iface, *old;
    HRESULT hr;

    if ((iface = object->slots[slot].inner))
    {
        *inner = iface;
        return S_OK;
    }
    if (FAILED(hr = IUnknown_QueryInterface(object->inner, client_slot_iids[slot], (void **)&iface)))
        return hr;
    if ((old = InterlockedCompareExchangePointer((void **)&object->slots[slot].inner, iface, NULL)))
    {
        /* another thread was first; the proxy hands out the same pointer anyway */
        IUnknown_Release(iface);
        iface = old;
    }
    *inner = iface;
    return S_OK;
}

static HRESULT object_query_interface(struct client_object *object, REFIID riid, void **out)
{
    IUnknown *inner;
    HRESULT hr;
    int slot;

    TRACE("%p, %s, %p.\n", object, wine_dbgstr_guid(riid), out);

    if (!out) return E_POINTER;
    *out = NULL;
    if (IsEqualGUID(riid, &IID_IUnknown))
        *out = &object->IUnknown_iface;
    else if (IsEqualGUID(riid, &IID_IClientSecurity))
        *out = &object->IClientSecurity_iface;
    else if (IsEqualGUID(riid, &IID_IMarshal))
        *out = &object->IMarshal_iface;
    else if (IsEqualGUID(riid, &IID_IMultiQI))
        *out = &object->IMultiQI_iface;
    else if ((slot = slot_of_iid(riid)) >= 0)
    {
        /* the service decides what the object is: ask it through the proxy */
        if (FAILED(hr = slot_inner(object, slot, &inner))) return hr;
        *out = &object->slots[slot].vtbl;
    }
    else
    {
        /* Nothing of ours: the standard proxy's own answer, so nothing the
         * object offers is ever hidden (blanket calls on it are then the
         * standard proxy's business). */
        WARN("no forwarder for %s; handing out the standard proxy's\n", wine_dbgstr_guid(riid));
        return IUnknown_QueryInterface(object->inner, riid, out);
    }
    object_addref(object);
    return S_OK;
}

/* ------------------------------------------------------------------ forwarders' IUnknown */

HRESULT client_forwarder_query_interface(struct client_forwarder *forwarder, REFIID riid, void **out)
{
    /* a copy answers with the original's interfaces (IClientSecurity::CopyProxy) */
    return object_query_interface(forwarder->owner, riid, out);
}

ULONG client_forwarder_addref(struct client_forwarder *forwarder)
{
    if (forwarder->copy) return InterlockedIncrement(&forwarder->copy->refcount);
    return object_addref(forwarder->owner);
}

static void copy_destroy(struct client_copy *copy)
{
    struct client_object *object = copy->forwarder.owner;
    struct client_copy **link;

    EnterCriticalSection(&object->cs);
    for (link = &object->copies; *link; link = &(*link)->next)
    {
        if (*link != copy) continue;
        *link = copy->next;
        break;
    }
    LeaveCriticalSection(&object->cs);
    IUnknown_Release(copy->forwarder.inner);
    free_blanket(copy->forwarder.blanket);
    free(copy);
    object_release(object);
}

ULONG client_forwarder_release(struct client_forwarder *forwarder)
{
    ULONG ref;

    if (!forwarder->copy) return object_release(forwarder->owner);
    if (!(ref = InterlockedDecrement(&forwarder->copy->refcount))) copy_destroy(forwarder->copy);
    return ref;
}

/* ------------------------------------------------------------------ IUnknown */

static HRESULT WINAPI object_QueryInterface(IUnknown *iface, REFIID riid, void **out)
{
    return object_query_interface(impl_from_IUnknown(iface), riid, out);
}

static ULONG WINAPI object_AddRef(IUnknown *iface)
{
    return object_addref(impl_from_IUnknown(iface));
}

static ULONG WINAPI object_Release(IUnknown *iface)
{
    return object_release(impl_from_IUnknown(iface));
}

static const IUnknownVtbl object_vtbl =
{
    object_QueryInterface,
    object_AddRef,
    object_Release,
};

/* ------------------------------------------------------------------ IClientSecurity */

/* Which of our pointers a blanket call names, with the standard proxy's
 * interface behind it; NULL if the pointer is not one of ours. */
static struct client_blanket **blanket_of(struct client_object *object, IUnknown *proxy, IUnknown **inner)
{
    struct client_copy *copy;
    unsigned int i;

    if (proxy == &object->IUnknown_iface || proxy == (IUnknown *)&object->IClientSecurity_iface ||
        proxy == (IUnknown *)&object->IMarshal_iface || proxy == (IUnknown *)&object->IMultiQI_iface)
    {
        *inner = object->inner;
        return &object->unknown_blanket;
    }
    for (i = 0; i < SLOT_COUNT; i++)
    {
        if (proxy != (IUnknown *)&object->slots[i].vtbl) continue;
        if (!(*inner = object->slots[i].inner)) return NULL;   /* never handed out */
        return &object->slots[i].blanket;
    }
    for (copy = object->copies; copy; copy = copy->next)
    {
        if (proxy != (IUnknown *)&copy->forwarder.vtbl) continue;
        *inner = copy->forwarder.inner;
        return &copy->forwarder.blanket;
    }
    return NULL;
}

/* The standard proxy's IClientSecurity, or NULL. */
static IClientSecurity *inner_security(struct client_object *object)
{
    IClientSecurity *security;

    if (FAILED(IUnknown_QueryInterface(object->inner, &IID_IClientSecurity, (void **)&security))) return NULL;
    return security;
}

/* What COM resolves the DEFAULT values to for a local server when
 * neither side called CoInitializeSecurity with other values: NTLM, no
 * authorization service, connect-level authentication, identify-level
 * impersonation. */
static void resolve_blanket(const struct client_blanket *set, struct client_blanket *out)
{
    out->authn_service = !set || set->authn_service == RPC_C_AUTHN_DEFAULT ? RPC_C_AUTHN_WINNT : set->authn_service;
    out->authz_service = !set || set->authz_service == RPC_C_AUTHZ_DEFAULT ? RPC_C_AUTHZ_NONE : set->authz_service;
    out->principal = set ? set->principal : NULL;
    out->authn_level = !set || set->authn_level == RPC_C_AUTHN_LEVEL_DEFAULT ? RPC_C_AUTHN_LEVEL_CONNECT
                                                                            : set->authn_level;
    out->imp_level = !set || set->imp_level == RPC_C_IMP_LEVEL_DEFAULT ? RPC_C_IMP_LEVEL_IDENTIFY : set->imp_level;
    out->auth_info = set ? set->auth_info : NULL;
    out->capabilities = set ? set->capabilities : EOAC_NONE;
}

static HRESULT WINAPI security_QueryInterface(IClientSecurity *iface, REFIID riid, void **out)
{
    return object_query_interface(impl_from_IClientSecurity(iface), riid, out);
}

static ULONG WINAPI security_AddRef(IClientSecurity *iface)
{
    return object_addref(impl_from_IClientSecurity(iface));
}

static ULONG WINAPI security_Release(IClientSecurity *iface)
{
    return object_release(impl_from_IClientSecurity(iface));
}

static HRESULT WINAPI security_QueryBlanket(IClientSecurity *iface, IUnknown *proxy, DWORD *authn_service,
        DWORD *authz_service, OLECHAR **principal, DWORD *authn_level, DWORD *imp_level, void **auth_info,
        DWORD *capabilities)
{
    struct client_object *object = impl_from_IClientSecurity(iface);
    struct client_blanket **slot, value;
    IClientSecurity *security;
    IUnknown *inner;
    HRESULT hr = E_NOTIMPL;

    TRACE("%p, %p, %p, %p, %p, %p, %p, %p, %p.\n", iface, proxy, authn_service, authz_service, principal,
          authn_level, imp_level, auth_info, capabilities);

    if (principal) *principal = NULL;
    EnterCriticalSection(&object->cs);
    if (!(slot = blanket_of(object, proxy, &inner)))
    {
        LeaveCriticalSection(&object->cs);
        return E_INVALIDARG;
    }
    if ((security = inner_security(object)))
    {
        hr = IClientSecurity_QueryBlanket(security, inner, authn_service, authz_service, principal,
                                          authn_level, imp_level, auth_info, capabilities);
        IClientSecurity_Release(security);
    }
    if (hr == E_NOTIMPL)
    {
        resolve_blanket(*slot, &value);
        hr = S_OK;
        if (authn_service) *authn_service = value.authn_service;
        if (authz_service) *authz_service = value.authz_service;
        if (authn_level) *authn_level = value.authn_level;
        if (imp_level) *imp_level = value.imp_level;
        if (auth_info) *auth_info = value.auth_info;
        if (capabilities) *capabilities = value.capabilities;
        if (principal && value.principal)
        {
            size_t size = (lstrlenW(value.principal) + 1) * sizeof(WCHAR);
            if ((*principal = CoTaskMemAlloc(size))) memcpy(*principal, value.principal, size);
            else hr = E_OUTOFMEMORY;
        }
    }
    LeaveCriticalSection(&object->cs);
    return hr;
}

/* The values a blanket may hold; the rest is refused as the proxy would. */
static BOOL valid_blanket(DWORD authn_level, DWORD imp_level, DWORD capabilities)
{
    const DWORD known_caps = EOAC_MUTUAL_AUTH | EOAC_SECURE_REFS | EOAC_ACCESS_CONTROL | EOAC_APPID |
                             EOAC_DYNAMIC | EOAC_STATIC_CLOAKING | EOAC_DYNAMIC_CLOAKING |
                             EOAC_ANY_AUTHORITY | EOAC_MAKE_FULLSIC | EOAC_REQUIRE_FULLSIC |
                             EOAC_AUTO_IMPERSONATE | EOAC_DEFAULT | EOAC_DISABLE_AAA |
                             EOAC_NO_CUSTOM_MARSHAL;

    if (authn_level > RPC_C_AUTHN_LEVEL_PKT_PRIVACY) return FALSE;
    if (imp_level > RPC_C_IMP_LEVEL_DELEGATE) return FALSE;
    if (capabilities & ~known_caps) return FALSE;
    /* both cloaking kinds at once make no sense */
    if ((capabilities & EOAC_STATIC_CLOAKING) && (capabilities & EOAC_DYNAMIC_CLOAKING)) return FALSE;
    return TRUE;
}

static HRESULT WINAPI security_SetBlanket(IClientSecurity *iface, IUnknown *proxy, DWORD authn_service,
        DWORD authz_service, OLECHAR *principal, DWORD authn_level, DWORD imp_level, void *auth_info,
        DWORD capabilities)
{
    struct client_object *object = impl_from_IClientSecurity(iface);
    struct client_blanket **slot, *blanket;
    IClientSecurity *security;
    IUnknown *inner;
    HRESULT hr = E_NOTIMPL;

    TRACE("%p, %p, %lu, %lu, %s, %lu, %lu, %p, %#lx.\n", iface, proxy, authn_service, authz_service,
          principal == COLE_DEFAULT_PRINCIPAL ? "<default>" : wine_dbgstr_w(principal), authn_level,
          imp_level, auth_info, capabilities);

    if (!valid_blanket(authn_level, imp_level, capabilities)) return E_INVALIDARG;
    EnterCriticalSection(&object->cs);
    if (!(slot = blanket_of(object, proxy, &inner)))
    {
        LeaveCriticalSection(&object->cs);
        return E_INVALIDARG;
    }
    if ((security = inner_security(object)))
    {
        hr = IClientSecurity_SetBlanket(security, inner, authn_service, authz_service, principal,
                                        authn_level, imp_level, auth_info, capabilities);
        IClientSecurity_Release(security);
    }
    if (hr == E_NOTIMPL)
    {
        if (!*slot && !(*slot = calloc(1, sizeof(**slot)))) hr = E_OUTOFMEMORY;
        else
        {
            blanket = *slot;
            CoTaskMemFree(blanket->principal);
            blanket->principal = NULL;
            if (principal && principal != COLE_DEFAULT_PRINCIPAL)
            {
                size_t size = (lstrlenW(principal) + 1) * sizeof(WCHAR);
                if ((blanket->principal = CoTaskMemAlloc(size))) memcpy(blanket->principal, principal, size);
            }
            blanket->authn_service = authn_service;
            blanket->authz_service = authz_service;
            blanket->authn_level = authn_level;
            blanket->imp_level = imp_level;
            blanket->auth_info = auth_info == COLE_DEFAULT_AUTHINFO ? NULL : auth_info;
            blanket->capabilities = capabilities & ~EOAC_DEFAULT;
            hr = S_OK;
        }
    }
    LeaveCriticalSection(&object->cs);
    return hr;
}

static HRESULT WINAPI security_CopyProxy(IClientSecurity *iface, IUnknown *proxy, IUnknown **out)
{
    struct client_object *object = impl_from_IClientSecurity(iface);
    struct client_copy *copy;
    IClientSecurity *security;
    IUnknown *inner = NULL, *inner_copy = NULL;
    unsigned int i;
    HRESULT hr = E_NOTIMPL;

    TRACE("%p, %p, %p.\n", iface, proxy, out);

    if (!out) return E_INVALIDARG;
    *out = NULL;
    /* only interface proxies can be copied, not the local interfaces */
    for (i = 0; i < SLOT_COUNT; i++)
        if (proxy == (IUnknown *)&object->slots[i].vtbl) inner = object->slots[i].inner;
    if (!inner) return E_INVALIDARG;

    if ((security = inner_security(object)))
    {
        hr = IClientSecurity_CopyProxy(security, inner, &inner_copy);
        IClientSecurity_Release(security);
    }
    if (hr == E_NOTIMPL)
    {
        /* a copy of ours over the same proxy; its blanket is its own */
        IUnknown_AddRef(inner);
        inner_copy = inner;
    }
    else if (FAILED(hr)) return hr;

    if (!(copy = calloc(1, sizeof(*copy))))
    {
        IUnknown_Release(inner_copy);
        return E_OUTOFMEMORY;
    }
    copy->forwarder = *client_forwarder_from(proxy);
    copy->forwarder.inner = inner_copy;
    copy->forwarder.copy = copy;
    copy->forwarder.blanket = NULL;
    copy->refcount = 1;
    object_addref(object);
    EnterCriticalSection(&object->cs);
    copy->next = object->copies;
    object->copies = copy;
    LeaveCriticalSection(&object->cs);
    *out = (IUnknown *)&copy->forwarder.vtbl;
    return S_OK;
}

static const IClientSecurityVtbl security_vtbl =
{
    security_QueryInterface,
    security_AddRef,
    security_Release,
    security_QueryBlanket,
    security_SetBlanket,
    security_CopyProxy,
};

/* ------------------------------------------------------------------ IMultiQI */

static HRESULT WINAPI multi_qi_QueryInterface(IMultiQI *iface, REFIID riid, void **out)
{
    return object_query_interface(impl_from_IMultiQI(iface), riid, out);
}

static ULONG WINAPI multi_qi_AddRef(IMultiQI *iface)
{
    return object_addref(impl_from_IMultiQI(iface));
}

static ULONG WINAPI multi_qi_Release(IMultiQI *iface)
{
    return object_release(impl_from_IMultiQI(iface));
}

static HRESULT WINAPI multi_qi_QueryMultipleInterfaces(IMultiQI *iface, ULONG count, MULTI_QI *mqis)
{
    struct client_object *object = impl_from_IMultiQI(iface);
    ULONG i, found = 0;

    TRACE("%p, %lu, %p.\n", iface, count, mqis);

    for (i = 0; i < count; i++)
    {
        mqis[i].hr = object_query_interface(object, mqis[i].pIID, (void **)&mqis[i].pItf);
        if (SUCCEEDED(mqis[i].hr)) found++;
    }
    if (found == count) return S_OK;
    return found ? S_FALSE : E_NOINTERFACE;
}

static const IMultiQIVtbl multi_qi_vtbl =
{
    multi_qi_QueryInterface,
    multi_qi_AddRef,
    multi_qi_Release,
    multi_qi_QueryMultipleInterfaces,
};

/* ------------------------------------------------------------------ IMarshal */

/*
 * A client may pass what it holds on to another apartment (an STA program
 * handing a job to a worker thread, the global interface table).  The
 * object then travels as it came: our header, then the standard proxy's
 * own marshal data, which names the service's object.  The apartment at
 * the other end gets a client_object of its own.
 */

static HRESULT marshal_inner(struct client_object *object, REFIID riid, IUnknown **inner)
{
    int slot = slot_of_iid(riid);

    if (slot >= 0)
    {
        HRESULT hr = slot_inner(object, slot, inner);
        if (SUCCEEDED(hr)) IUnknown_AddRef(*inner);
        return hr;
    }
    return IUnknown_QueryInterface(object->inner, riid, (void **)inner);
}

static HRESULT WINAPI object_marshal_QueryInterface(IMarshal *iface, REFIID riid, void **out)
{
    return object_query_interface(impl_from_IMarshal(iface), riid, out);
}

static ULONG WINAPI object_marshal_AddRef(IMarshal *iface)
{
    return object_addref(impl_from_IMarshal(iface));
}

static ULONG WINAPI object_marshal_Release(IMarshal *iface)
{
    return object_release(impl_from_IMarshal(iface));
}

static HRESULT WINAPI object_marshal_GetUnmarshalClass(IMarshal *iface, REFIID riid, void *pv,
        DWORD dest_context, void *dest_data, DWORD flags, CLSID *clsid)
{
    TRACE("%p, %s, %p, %#lx, %p, %#lx, %p.\n", iface, wine_dbgstr_guid(riid), pv, dest_context, dest_data,
          flags, clsid);

    *clsid = CLSID_DoClientMarshal;
    return S_OK;
}

static HRESULT WINAPI object_marshal_GetMarshalSizeMax(IMarshal *iface, REFIID riid, void *pv,
        DWORD dest_context, void *dest_data, DWORD flags, DWORD *size)
{
    struct client_object *object = impl_from_IMarshal(iface);
    IMarshal *marshal;
    IUnknown *inner;
    HRESULT hr;

    TRACE("%p, %s, %p, %#lx, %p, %#lx, %p.\n", iface, wine_dbgstr_guid(riid), pv, dest_context, dest_data,
          flags, size);

    if (FAILED(hr = marshal_inner(object, riid, &inner))) return hr;
    /* the standard proxy's own figure: CoGetMarshalSizeMax would add an
     * OBJREF's size to it that its data never has */
    if (SUCCEEDED(hr = IUnknown_QueryInterface(inner, &IID_IMarshal, (void **)&marshal)))
    {
        hr = IMarshal_GetMarshalSizeMax(marshal, riid, inner, dest_context, dest_data, flags, size);
        IMarshal_Release(marshal);
    }
    IUnknown_Release(inner);
    /* exact, with what COM adds on top (dlls/common/marshal_slack.c) */
    if (SUCCEEDED(hr)) *size = max(*size + sizeof(object->header), dosvc_marshal_slack()) - dosvc_marshal_slack();
    return hr;
}

static HRESULT WINAPI object_marshal_MarshalInterface(IMarshal *iface, IStream *stream, REFIID riid,
        void *pv, DWORD dest_context, void *dest_data, DWORD flags)
{
    struct client_object *object = impl_from_IMarshal(iface);
    IUnknown *inner;
    HRESULT hr;

    TRACE("%p, %p, %s, %p, %#lx, %p, %#lx.\n", iface, stream, wine_dbgstr_guid(riid), pv, dest_context,
          dest_data, flags);

    if (FAILED(hr = marshal_inner(object, riid, &inner))) return hr;
    if (SUCCEEDED(hr = IStream_Write(stream, &object->header, sizeof(object->header), NULL)))
        hr = CoMarshalInterface(stream, riid, inner, dest_context, dest_data, flags);
    IUnknown_Release(inner);
    return hr;
}

static HRESULT WINAPI object_marshal_UnmarshalInterface(IMarshal *iface, IStream *stream, REFIID riid, void **out)
{
    TRACE("%p, %p, %s, %p.\n", iface, stream, wine_dbgstr_guid(riid), out);
    return client_object_unmarshal(stream, riid, out);
}

static HRESULT WINAPI object_marshal_ReleaseMarshalData(IMarshal *iface, IStream *stream)
{
    TRACE("%p, %p.\n", iface, stream);
    return client_object_release_marshal_data(stream);
}

static HRESULT WINAPI object_marshal_DisconnectObject(IMarshal *iface, DWORD reserved)
{
    TRACE("%p, %#lx.\n", iface, reserved);
    /* a proxy has nothing to disconnect: the object lives in the service */
    return S_OK;
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

/* ------------------------------------------------------------------ unmarshaling */

/* Our header, whatever size its writer gave it. */
static HRESULT read_header(IStream *stream, struct dosvc_marshal_header *header)
{
    LARGE_INTEGER skip;
    ULONG read;
    HRESULT hr;

    memset(header, 0, sizeof(*header));
    if (FAILED(hr = IStream_Read(stream, header, FIELD_OFFSET(struct dosvc_marshal_header, kind), &read)))
        return hr;
    if (read != FIELD_OFFSET(struct dosvc_marshal_header, kind) || header->magic != DOSVC_MARSHAL_MAGIC ||
        header->size < FIELD_OFFSET(struct dosvc_marshal_header, kind))
    {
        ERR("not DoSvc marshal data (magic %#lx, size %u)\n", header->magic, header->size);
        return RPC_E_INVALID_OBJREF;
    }
    if (FAILED(hr = IStream_Read(stream, &header->kind, min(header->size, sizeof(*header)) -
                                 FIELD_OFFSET(struct dosvc_marshal_header, kind), NULL)))
        return hr;
    if (header->size > sizeof(*header))
    {
        /* a later version's additions */
        skip.QuadPart = header->size - sizeof(*header);
        if (FAILED(hr = IStream_Seek(stream, skip, STREAM_SEEK_CUR, NULL))) return hr;
    }
    return S_OK;
}

static HRESULT object_create(IUnknown *inner, const struct dosvc_marshal_header *header,
                             struct client_object **out)
{
    struct client_object *object;
    unsigned int i;

    if (!(object = calloc(1, sizeof(*object)))) return E_OUTOFMEMORY;
    object->IUnknown_iface.lpVtbl = &object_vtbl;
    object->IClientSecurity_iface.lpVtbl = &security_vtbl;
    object->IMarshal_iface.lpVtbl = &object_marshal_vtbl;
    object->IMultiQI_iface.lpVtbl = &multi_qi_vtbl;
    object->refcount = 1;
    InitializeCriticalSection(&object->cs);
    IUnknown_AddRef(inner);
    object->inner = inner;
    object->header = *header;
    object->header.size = sizeof(*header);
    object->header.version = DOSVC_MARSHAL_VERSION;
    for (i = 0; i < SLOT_COUNT; i++)
    {
        object->slots[i].vtbl = client_slot_vtbls[i];
        object->slots[i].owner = object;
    }
    InterlockedIncrement(&object_count);
    *out = object;
    return S_OK;
}

HRESULT client_object_unmarshal(IStream *stream, REFIID riid, void **out)
{
    struct dosvc_marshal_header header;
    struct client_object *object, *kept;
    IUnknown *inner;
    HRESULT hr;

    *out = NULL;
    if (FAILED(hr = read_header(stream, &header))) return hr;
    if (FAILED(hr = CoUnmarshalInterface(stream, &IID_IUnknown, (void **)&inner))) return hr;

    /* back in the service itself: COM gave us the object, not a proxy */
    if (header.service_pid == GetCurrentProcessId())
    {
        hr = IUnknown_QueryInterface(inner, riid, out);
        IUnknown_Release(inner);
        return hr;
    }

    if (!(object = table_find(inner)))
    {
        if (FAILED(hr = object_create(inner, &header, &object)))
        {
            IUnknown_Release(inner);
            return hr;
        }
        if ((kept = table_add(object)) != object)
        {
            /* another thread unmarshaled the same object meanwhile */
            object_release(object);
            object = kept;
        }
    }
    IUnknown_Release(inner);
    hr = object_query_interface(object, riid, out);
    object_release(object);
    return hr;
}

HRESULT client_object_release_marshal_data(IStream *stream)
{
    struct dosvc_marshal_header header;
    HRESULT hr;

    if (FAILED(hr = read_header(stream, &header))) return hr;
    return CoReleaseMarshalData(stream);
}
