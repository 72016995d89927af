/*
 * Delivery Optimization service: the class object for CLSID_DeliveryOptimization
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
 * One static factory for the life of the service process: ServiceMain
 * registers it with CoRegisterClassObject and revokes it on stop.  Its
 * lifetime is the process's, so reference counting is a formality.  Every
 * CreateInstance hands out the one shared manager, which is what makes all
 * clients see the same jobs.
 */

/* lets the static object point at a const vtable without a cast */
#include "dosvc_private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

static HRESULT WINAPI class_factory_QueryInterface(IClassFactory *iface, REFIID riid, void **out)
{
    TRACE("(%p, %s, %p)\n", iface, wine_dbgstr_guid(riid), out);

    if (!out) return E_POINTER;

    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IClassFactory))
    {
        *out = iface;
        IClassFactory_AddRef(iface);
        return S_OK;
    }

    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI class_factory_AddRef(IClassFactory *iface)
{
    TRACE("(%p)\n", iface);
    return 2;
}

static ULONG WINAPI class_factory_Release(IClassFactory *iface)
{
    TRACE("(%p)\n", iface);
    return 1;
}

static HRESULT WINAPI class_factory_CreateInstance(IClassFactory *iface, IUnknown *outer,
                                                   REFIID riid, void **out)
{
    TRACE("(%p, %p, %s, %p)\n", iface, outer, wine_dbgstr_guid(riid), out);

    if (!out) return E_POINTER;
    *out = NULL;
    /* the manager is shared by every client; nobody can own it */
    if (outer) return CLASS_E_NOAGGREGATION;

    return manager_query_interface(riid, out);
}

static HRESULT WINAPI class_factory_LockServer(IClassFactory *iface, BOOL lock)
{
    TRACE("(%p, %d)\n", iface, lock);
    /* the service's lifetime is the SCM's business, not the clients' */
    return S_OK;
}

static const IClassFactoryVtbl class_factory_vtbl =
{
    class_factory_QueryInterface,
    class_factory_AddRef,
    class_factory_Release,
    class_factory_CreateInstance,
    class_factory_LockServer,
};

IClassFactory dosvc_class_factory = { &class_factory_vtbl };
