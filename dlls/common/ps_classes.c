/*
 * Finding proxy/stub classes without the registry
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
 * Built into both dosvc.dll and dosvcps.dll.
 *
 * Each new interface proxy (client) and interface stub (service) makes
 * Wine's COM look up the interface's proxy/stub class in the registry
 * (Interface\{iid}\ProxyStubClsid32, then the class's InprocServer32) and
 * call the proxy DLL's DllGetClassObject: about eight wineserver calls, for
 * every job of an enumeration that the process has not seen before.  COM
 * looks at what the process registered before the registry: the interface's
 * class with CoRegisterPSClsid (for the whole process) and the class object
 * with CoRegisterClassObject (for the calling apartment).  So we register
 * what the registry says, once per apartment; nothing changes but where
 * COM finds it.
 */

#define COBJMACROS
#include <stdarg.h>
#include "windef.h"
#include "winbase.h"
#include "objbase.h"
#include "dosvc_marshal.h"

void dosvc_register_ps_classes(const IID *const *iids, unsigned int count)
{
    CLSID done[8];
    unsigned int done_count = 0, i, j;
    IUnknown *factory;
    DWORD cookie;
    CLSID ps;

    for (i = 0; i < count; i++)
    {
        if (!iids[i] || FAILED(CoGetPSClsid(iids[i], &ps))) continue;
        CoRegisterPSClsid(iids[i], &ps);
        for (j = 0; j < done_count; j++)
            if (IsEqualCLSID(&done[j], &ps)) break;
        if (j < done_count || done_count == sizeof(done) / sizeof(done[0])) continue;
        done[done_count++] = ps;
        if (FAILED(CoGetClassObject(&ps, CLSCTX_INPROC_SERVER, NULL, &IID_IUnknown, (void **)&factory))) continue;
        CoRegisterClassObject(&ps, factory, CLSCTX_INPROC_SERVER, REGCLS_MULTIPLEUSE, &cookie);
        IUnknown_Release(factory);
    }
}
