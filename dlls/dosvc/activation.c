/*
 * Delivery Optimization service: publishing the class object to clients
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
 * What CoRegisterClassObject(CLSCTX_LOCAL_SERVER) does under Wine, done
 * here by hand so that we learn rpcss's cookie (rpcss.c says why we need
 * it): marshal an IServiceProvider for the apartment, table-strong, and
 * store it in rpcss's class table.  An activating client's combase finds
 * it there, unmarshals it and calls QueryService(clsid, riid), which hands
 * out our class factory.
 *
 * Before registering we remove the entry of an instance that died without
 * revoking, if the record names one; after registering we look the class
 * up once, to be sure ours is the entry clients get.  Then we start
 * dosvc-monitor.exe, which watches this process and does the same cleanup
 * (and a restart) the moment it dies.  If rpcss does not speak the
 * interface we expect (another Wine version), we fall back to
 * CoRegisterClassObject: everything works except the recovery after a
 * crash.
 */

#include "dosvc_private.h"
#include "rpcss.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

#define MONITOR_NAME L"dosvc-monitor.exe"

static IClassFactory *published_factory;
static IStream *marshal_stream;    /* our marshalled provider, for CoReleaseMarshalData */
static DWORD rpcss_cookie;         /* our entry in rpcss, or 0 */
static DWORD com_cookie;           /* the CoRegisterClassObject fallback's cookie, or 0 */

/* ------------------------------------------------------------------ the service provider */

static HRESULT WINAPI provider_QueryInterface(IServiceProvider *iface, REFIID riid, void **out)
{
    TRACE("(%p, %s, %p)\n", iface, debugstr_guid(riid), out);

    if (!out) return E_POINTER;
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IServiceProvider))
    {
        *out = iface;
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

/* static, like the factory: it lives as long as the process */
static ULONG WINAPI provider_AddRef(IServiceProvider *iface)
{
    TRACE("(%p)\n", iface);
    return 2;
}

static ULONG WINAPI provider_Release(IServiceProvider *iface)
{
    TRACE("(%p)\n", iface);
    return 1;
}

static HRESULT WINAPI provider_QueryService(IServiceProvider *iface, REFGUID service, REFIID riid, void **out)
{
    TRACE("(%p, %s, %s, %p)\n", iface, debugstr_guid(service), debugstr_guid(riid), out);

    if (!out) return E_POINTER;
    *out = NULL;
    if (!service || !riid) return E_INVALIDARG;
    /* the only class this process serves */
    if (!IsEqualGUID(service, &CLSID_DeliveryOptimization) || !published_factory) return E_NOINTERFACE;
    return IClassFactory_QueryInterface(published_factory, riid, out);
}

static const IServiceProviderVtbl provider_vtbl =
{
    provider_QueryInterface,
    provider_AddRef,
    provider_Release,
    provider_QueryService,
};

static IServiceProvider provider = { &provider_vtbl };

/* ------------------------------------------------------------------ the monitor */

static void start_monitor(void)
{
    STARTUPINFOW si = { sizeof(si) };
    PROCESS_INFORMATION pi;
    WCHAR path[MAX_PATH], cmdline[MAX_PATH + 32], *slash;

    /* next to dosvc.dll (tools/install-dosvc puts both in system32) */
    if (!GetModuleFileNameW(dosvc_instance, path, ARRAY_SIZE(path)) || !(slash = wcsrchr(path, '\\')) ||
        slash - path + ARRAY_SIZE(MONITOR_NAME) + 1 >= ARRAY_SIZE(path))
        return;
    lstrcpyW(slash + 1, MONITOR_NAME);
    if (GetFileAttributesW(path) == INVALID_FILE_ATTRIBUTES)
    {
        WARN("%s is not installed: after a crash, activation fails until the Wine session restarts\n",
             debugstr_w(path));
        return;
    }
    swprintf(cmdline, ARRAY_SIZE(cmdline), L"\"%s\" %lu", path, GetCurrentProcessId());
    if (!CreateProcessW(path, cmdline, NULL, NULL, FALSE, CREATE_NO_WINDOW | DETACHED_PROCESS, NULL, NULL,
                        &si, &pi))
    {
        WARN("cannot start %s: %lu\n", debugstr_w(path), GetLastError());
        return;
    }
    TRACE("monitor %04lx started\n", pi.dwProcessId);
    /* it ends by itself: with this process, or with the session */
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
}

/* ------------------------------------------------------------------ publish and withdraw */

/* our marshalled provider, as rpcss stores it; the caller frees *data */
static HRESULT marshal_provider(IStream **stream, BYTE **data, ULONG *size)
{
    LARGE_INTEGER zero = {{0}};
    ULARGE_INTEGER end;
    HGLOBAL memory;
    void *bytes;
    HRESULT hr;

    *data = NULL;
    if (FAILED(hr = CreateStreamOnHGlobal(NULL, TRUE, stream))) return hr;
    if (FAILED(hr = CoMarshalInterface(*stream, &IID_IServiceProvider, (IUnknown *)&provider, MSHCTX_LOCAL,
                                       NULL, MSHLFLAGS_TABLESTRONG)))
        goto failed;
    if (FAILED(hr = IStream_Seek(*stream, zero, STREAM_SEEK_CUR, &end))) goto release;
    if (FAILED(hr = GetHGlobalFromStream(*stream, &memory))) goto release;
    *size = end.u.LowPart;
    hr = E_OUTOFMEMORY;
    if (!(*data = malloc(*size ? *size : 1))) goto release;
    if (!(bytes = GlobalLock(memory))) goto release;
    memcpy(*data, bytes, *size);
    GlobalUnlock(memory);
    return S_OK;

release:
    free(*data);
    *data = NULL;
    IStream_Seek(*stream, zero, STREAM_SEEK_SET, NULL);
    CoReleaseMarshalData(*stream);
failed:
    IStream_Release(*stream);
    *stream = NULL;
    return hr;
}

static void release_marshal(void)
{
    LARGE_INTEGER zero = {{0}};

    if (!marshal_stream) return;
    IStream_Seek(marshal_stream, zero, STREAM_SEEK_SET, NULL);
    CoReleaseMarshalData(marshal_stream);
    IStream_Release(marshal_stream);
    marshal_stream = NULL;
}

HRESULT activation_publish(IClassFactory *factory, DWORD rpcss_id)
{
    struct instance_record record;
    BYTE *data, *first;
    ULONG size, first_size;
    HRESULT hr;

    TRACE("(%p, %04lx)\n", factory, rpcss_id);

    published_factory = factory;

    /* an instance before us died without revoking: clients would get it */
    if (instance_record_read(&record) && record.process_id != GetCurrentProcessId())
        instance_revoke_dead(&record);

    if (FAILED(hr = marshal_provider(&marshal_stream, &data, &size)))
    {
        ERR("cannot marshal the class object: %#lx\n", hr);
        return hr;
    }
    hr = rpcss_class_register(&CLSID_DeliveryOptimization, data, size, &rpcss_cookie);
    if (FAILED(hr) || !rpcss_cookie)
    {
        free(data);
        WARN("rpcss refused our registration (%#lx); using CoRegisterClassObject, "
             "so a crash would need a new Wine session\n", hr);
        release_marshal();
        rpcss_cookie = 0;
        return CoRegisterClassObject(&CLSID_DeliveryOptimization, (IUnknown *)factory, CLSCTX_LOCAL_SERVER,
                                     REGCLS_MULTIPLEUSE, &com_cookie);
    }

    /* what a client gets now must be us */
    if (SUCCEEDED(hr = rpcss_class_lookup(&CLSID_DeliveryOptimization, &first, &first_size)))
    {
        if (first_size != size || memcmp(first, data, size))
            ERR("rpcss hands clients another registration of our class, which we cannot remove: "
                "activation fails until the Wine session restarts\n");
        free(first);
    }
    else WARN("cannot look up our own registration: %#lx\n", hr);
    free(data);

    record.process_id = GetCurrentProcessId();
    record.process_start = instance_process_start(GetCurrentProcess());
    record.rpcss_id = rpcss_id;
    record.cookie = rpcss_cookie;
    if (!instance_record_write(&record)) WARN("cannot write the instance record\n");
    TRACE("registered with rpcss %04lx, cookie %lu\n", rpcss_id, rpcss_cookie);

    start_monitor();
    return S_OK;
}

void activation_withdraw(void)
{
    HRESULT hr;

    TRACE("\n");

    if (com_cookie)
    {
        CoRevokeClassObject(com_cookie);
        com_cookie = 0;
    }
    if (rpcss_cookie)
    {
        if (FAILED(hr = rpcss_class_revoke(rpcss_cookie))) WARN("revoke failed: %#lx\n", hr);
        /* then the record: the monitor takes a process that exits without
         * one as cleanly stopped (and one with a revoked cookie costs it a
         * revoke that finds nothing) */
        instance_record_delete(GetCurrentProcessId());
        rpcss_cookie = 0;
    }
    release_marshal();
}
