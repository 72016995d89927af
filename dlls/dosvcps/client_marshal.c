/*
 * DoSvc's client-side object: the unmarshal class and the DLL's entry points
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
 * COM meets custom marshal data naming CLSID_DoClientMarshal and does
 * CoCreateInstance(CLSID_DoClientMarshal, CLSCTX_INPROC_SERVER, IID_IMarshal),
 * then UnmarshalInterface or ReleaseMarshalData on what it got.  That
 * object holds no state, so one static instance serves every call.
 *
 * The DLL is also the proxy/stub DLL: widl's generated entry points are
 * built with the prefix "prxy" (dlldata.c, ENTRY_PREFIX) and the exported
 * ones below add our class in front of them.
 */

#include "client.h"
#include "rpcproxy.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

/* dlldata.c, built with ENTRY_PREFIX=prxy */
BOOL WINAPI prxyDllMain(HINSTANCE instance, DWORD reason, void *reserved);
HRESULT WINAPI prxyDllGetClassObject(REFCLSID clsid, REFIID riid, void **out);
HRESULT WINAPI prxyDllCanUnloadNow(void);
HRESULT WINAPI prxyDllRegisterServer(void);
HRESULT WINAPI prxyDllUnregisterServer(void);

static LONG server_locks;

/* ------------------------------------------------------------------ the unmarshaler */

static HRESULT WINAPI unmarshaler_QueryInterface(IMarshal *iface, REFIID riid, void **out)
{
    TRACE("%p, %s, %p.\n", iface, wine_dbgstr_guid(riid), out);

    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IMarshal))
    {
        *out = iface;
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI unmarshaler_AddRef(IMarshal *iface)
{
    return 2;
}

static ULONG WINAPI unmarshaler_Release(IMarshal *iface)
{
    return 1;
}

/* Nobody marshals with this object: it only exists to unmarshal. */
static HRESULT WINAPI unmarshaler_GetUnmarshalClass(IMarshal *iface, REFIID riid, void *pv, DWORD dest_context,
        void *dest_data, DWORD flags, CLSID *clsid)
{
    return E_UNEXPECTED;
}

static HRESULT WINAPI unmarshaler_GetMarshalSizeMax(IMarshal *iface, REFIID riid, void *pv, DWORD dest_context,
        void *dest_data, DWORD flags, DWORD *size)
{
    return E_UNEXPECTED;
}

static HRESULT WINAPI unmarshaler_MarshalInterface(IMarshal *iface, IStream *stream, REFIID riid, void *pv,
        DWORD dest_context, void *dest_data, DWORD flags)
{
    return E_UNEXPECTED;
}

static IClassFactory registered_factory;
static volatile LONG ever_registered;

/* COM found this class through the registry, which costs Wine a dozen
 * wineserver calls per object unmarshaled (the class's InprocServer32 key,
 * DllGetClassObject), and an enumeration unmarshals thousands.  So the class
 * object is registered in the calling apartment the first time, and COM
 * finds it there from then on (registered classes come before the
 * registry).  The registered factory hands out registered_unmarshaler, so
 * an apartment that has it never registers again; COM revokes it with the
 * apartment. */
static void register_in_apartment(void)
{
    DWORD cookie;
    HRESULT hr;

    if (FAILED(hr = CoRegisterClassObject(&CLSID_DoClientMarshal, (IUnknown *)&registered_factory,
                                          CLSCTX_INPROC_SERVER, REGCLS_MULTIPLEUSE, &cookie)))
        WARN("CoRegisterClassObject failed: %#lx\n", hr);
    else
        InterlockedExchange(&ever_registered, 1);
    /* and the proxies of the objects that come next need no registry either */
    dosvc_register_ps_classes(client_slot_iids, SLOT_COUNT);
}

static HRESULT WINAPI unmarshaler_UnmarshalInterface(IMarshal *iface, IStream *stream, REFIID riid, void **out)
{
    TRACE("%p, %p, %s, %p.\n", iface, stream, wine_dbgstr_guid(riid), out);
    register_in_apartment();
    return client_object_unmarshal(stream, riid, out);
}

static HRESULT WINAPI registered_unmarshaler_UnmarshalInterface(IMarshal *iface, IStream *stream, REFIID riid,
        void **out)
{
    TRACE("%p, %p, %s, %p.\n", iface, stream, wine_dbgstr_guid(riid), out);
    return client_object_unmarshal(stream, riid, out);
}

static HRESULT WINAPI unmarshaler_ReleaseMarshalData(IMarshal *iface, IStream *stream)
{
    TRACE("%p, %p.\n", iface, stream);
    return client_object_release_marshal_data(stream);
}

static HRESULT WINAPI unmarshaler_DisconnectObject(IMarshal *iface, DWORD reserved)
{
    return S_OK;
}

static const IMarshalVtbl unmarshaler_vtbl =
{
    unmarshaler_QueryInterface,
    unmarshaler_AddRef,
    unmarshaler_Release,
    unmarshaler_GetUnmarshalClass,
    unmarshaler_GetMarshalSizeMax,
    unmarshaler_MarshalInterface,
    unmarshaler_UnmarshalInterface,
    unmarshaler_ReleaseMarshalData,
    unmarshaler_DisconnectObject,
};

static IMarshal unmarshaler = { &unmarshaler_vtbl };

static const IMarshalVtbl registered_unmarshaler_vtbl =
{
    unmarshaler_QueryInterface,
    unmarshaler_AddRef,
    unmarshaler_Release,
    unmarshaler_GetUnmarshalClass,
    unmarshaler_GetMarshalSizeMax,
    unmarshaler_MarshalInterface,
    registered_unmarshaler_UnmarshalInterface,
    unmarshaler_ReleaseMarshalData,
    unmarshaler_DisconnectObject,
};

static IMarshal registered_unmarshaler = { &registered_unmarshaler_vtbl };

/* ------------------------------------------------------------------ its class factory */

static HRESULT WINAPI factory_QueryInterface(IClassFactory *iface, REFIID riid, void **out)
{
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IClassFactory))
    {
        *out = iface;
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI factory_AddRef(IClassFactory *iface)
{
    return 2;
}

static ULONG WINAPI factory_Release(IClassFactory *iface)
{
    return 1;
}

static HRESULT WINAPI factory_CreateInstance(IClassFactory *iface, IUnknown *outer, REFIID riid, void **out)
{
    TRACE("%p, %p, %s, %p.\n", iface, outer, wine_dbgstr_guid(riid), out);

    if (!out) return E_POINTER;
    *out = NULL;
    if (outer) return CLASS_E_NOAGGREGATION;
    return IMarshal_QueryInterface(&unmarshaler, riid, out);
}

static HRESULT WINAPI factory_LockServer(IClassFactory *iface, BOOL lock)
{
    if (lock) InterlockedIncrement(&server_locks);
    else InterlockedDecrement(&server_locks);
    return S_OK;
}

static const IClassFactoryVtbl factory_vtbl =
{
    factory_QueryInterface,
    factory_AddRef,
    factory_Release,
    factory_CreateInstance,
    factory_LockServer,
};

static IClassFactory factory = { &factory_vtbl };

static HRESULT WINAPI registered_factory_CreateInstance(IClassFactory *iface, IUnknown *outer, REFIID riid,
        void **out)
{
    TRACE("%p, %p, %s, %p.\n", iface, outer, wine_dbgstr_guid(riid), out);

    if (!out) return E_POINTER;
    *out = NULL;
    if (outer) return CLASS_E_NOAGGREGATION;
    return IMarshal_QueryInterface(&registered_unmarshaler, riid, out);
}

static const IClassFactoryVtbl registered_factory_vtbl =
{
    factory_QueryInterface,
    factory_AddRef,
    factory_Release,
    registered_factory_CreateInstance,
    factory_LockServer,
};

static IClassFactory registered_factory = { &registered_factory_vtbl };

/* ------------------------------------------------------------------ DLL entry points */

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void *reserved)
{
    return prxyDllMain(instance, reason, reserved);
}

HRESULT WINAPI DllGetClassObject(REFCLSID clsid, REFIID riid, void **out)
{
    TRACE("%s, %s, %p.\n", wine_dbgstr_guid(clsid), wine_dbgstr_guid(riid), out);

    if (IsEqualGUID(clsid, &CLSID_DoClientMarshal))
        return IClassFactory_QueryInterface(&factory, riid, out);
    return prxyDllGetClassObject(clsid, riid, out);
}

HRESULT WINAPI DllCanUnloadNow(void)
{
    /* client-side objects run our code for as long as they live, and a
     * registered class object for as long as its apartment */
    if (client_object_count() || server_locks || ever_registered) return S_FALSE;
    return prxyDllCanUnloadNow();
}

HRESULT WINAPI DllRegisterServer(void)
{
    /* widl's registration script covers the proxies and our class */
    return prxyDllRegisterServer();
}

HRESULT WINAPI DllUnregisterServer(void)
{
    return prxyDllUnregisterServer();
}
