/*
 * Delivery Optimization proxy/stub DLL: IBackgroundCopyFile5 properties
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
 * IBackgroundCopyFile5::SetProperty/GetProperty carry a
 * BITS_FILE_PROPERTY_VALUE, a union whose only member is a string pointer.
 * Wine 8's NDR engine loses the size of a pointer arm when such a union is
 * a parameter of its own (it only gets it right inside a structure), so the
 * generated code would fail every call with RPC_X_BAD_STUB_DATA.  The proxy
 * IDL therefore declares both methods [local] and remotes them through
 * [call_as] twins that send the string itself; these four functions
 * translate on either side.  Only this DLL's proxies talk to its stubs, so
 * the wire form is ours to choose.
 *
 * A property id without a value (anything but HTTP_RESPONSE_HEADERS) sends
 * no string, so the service sees the id and answers it with its own error.
 */

#define COBJMACROS
#include <stdarg.h>
#include "windef.h"
#include "winbase.h"
#include "objbase.h"
#include "rpcproxy.h"
#include "dosvcps.h"

#include "wine/debug.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

/* client side: the caller's union goes out as its string member */
HRESULT CALLBACK IBackgroundCopyFile5_SetProperty_Proxy(IBackgroundCopyFile5 *iface,
        BITS_FILE_PROPERTY_ID id, BITS_FILE_PROPERTY_VALUE value)
{
    WINE_TRACE("(%p, %d, %p)\n", iface, id, value.String);

    return IBackgroundCopyFile5_RemoteSetProperty_Proxy(iface, id,
            id == BITS_FILE_PROPERTY_ID_HTTP_RESPONSE_HEADERS ? value.String : NULL);
}

/* service side: rebuild the union and call the object */
HRESULT __RPC_STUB IBackgroundCopyFile5_SetProperty_Stub(IBackgroundCopyFile5 *iface,
        BITS_FILE_PROPERTY_ID id, LPWSTR string)
{
    BITS_FILE_PROPERTY_VALUE value;

    WINE_TRACE("(%p, %d, %s)\n", iface, id, wine_dbgstr_w(string));

    value.String = string;
    return IBackgroundCopyFile5_SetProperty(iface, id, value);
}

HRESULT CALLBACK IBackgroundCopyFile5_GetProperty_Proxy(IBackgroundCopyFile5 *iface,
        BITS_FILE_PROPERTY_ID id, BITS_FILE_PROPERTY_VALUE *value)
{
    LPWSTR string = NULL;
    HRESULT hr;

    WINE_TRACE("(%p, %d, %p)\n", iface, id, value);

    /* what the generated proxy of an [out] pointer answers for NULL */
    if (!value) return HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER);

    hr = IBackgroundCopyFile5_RemoteGetProperty_Proxy(iface, id, &string);
    /* NULL on failure, as unmarshalling clears [out] values */
    value->String = string;
    return hr;
}

HRESULT __RPC_STUB IBackgroundCopyFile5_GetProperty_Stub(IBackgroundCopyFile5 *iface,
        BITS_FILE_PROPERTY_ID id, LPWSTR *string)
{
    BITS_FILE_PROPERTY_VALUE value;
    HRESULT hr;

    WINE_TRACE("(%p, %d, %p)\n", iface, id, string);

    value.String = NULL;
    hr = IBackgroundCopyFile5_GetProperty(iface, id, &value);
    /* Only a string the object handed out on success is the caller's; the
     * stub frees it once it is on the wire. */
    *string = SUCCEEDED(hr) && id == BITS_FILE_PROPERTY_ID_HTTP_RESPONSE_HEADERS ? value.String : NULL;
    return hr;
}
