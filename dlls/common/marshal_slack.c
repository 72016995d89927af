/*
 * How much COM over-estimates the size of custom marshal data
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
 * CoGetMarshalSizeMax adds the size of a whole OBJREF to what a custom
 * marshaler's GetMarshalSizeMax says, although CoMarshalInterface writes
 * only the OBJREF's custom header before the marshaler's data.  An upper
 * bound is all the documentation promises, but Wine's NDR engine (Wine 8
 * and later) sizes the body of a complex array — IEnumBackgroundCopyJobs::
 * Next's array of jobs, for one — from those estimates and then jumps to
 * the end of the estimated body: every element over-estimated shifts
 * whatever follows the array (the fetched count, the HRESULT) and the
 * client reads garbage.  Standard marshal data is sized exactly, which is
 * why only custom marshaling meets it.
 *
 * So our marshalers make the total exact: they report their data size
 * less this slack, measured once by marshaling a probe object whose data
 * size is known.  Where a COM implementation adds nothing, the slack is 0
 * and nothing changes.
 */

#define COBJMACROS
#define CONST_VTABLE
#include <stdarg.h>
#include "windef.h"
#include "winbase.h"
#include "objbase.h"
#include "dosvc_marshal.h"

#define PROBE_SIZE 16

static HRESULT WINAPI probe_QueryInterface(IMarshal *iface, REFIID riid, void **out)
{
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IMarshal))
    {
        *out = iface;
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI probe_AddRef(IMarshal *iface)
{
    return 2;
}

static ULONG WINAPI probe_Release(IMarshal *iface)
{
    return 1;
}

static HRESULT WINAPI probe_GetUnmarshalClass(IMarshal *iface, REFIID riid, void *pv, DWORD dest_context,
        void *dest_data, DWORD flags, CLSID *clsid)
{
    /* any class: the data is never unmarshaled */
    *clsid = IID_IMarshal;
    return S_OK;
}

static HRESULT WINAPI probe_GetMarshalSizeMax(IMarshal *iface, REFIID riid, void *pv, DWORD dest_context,
        void *dest_data, DWORD flags, DWORD *size)
{
    *size = PROBE_SIZE;
    return S_OK;
}

static HRESULT WINAPI probe_MarshalInterface(IMarshal *iface, IStream *stream, REFIID riid, void *pv,
        DWORD dest_context, void *dest_data, DWORD flags)
{
    BYTE data[PROBE_SIZE] = { 0 };
    return IStream_Write(stream, data, sizeof(data), NULL);
}

static HRESULT WINAPI probe_UnmarshalInterface(IMarshal *iface, IStream *stream, REFIID riid, void **out)
{
    return E_UNEXPECTED;
}

static HRESULT WINAPI probe_ReleaseMarshalData(IMarshal *iface, IStream *stream)
{
    return E_UNEXPECTED;
}

static HRESULT WINAPI probe_DisconnectObject(IMarshal *iface, DWORD reserved)
{
    return S_OK;
}

static const IMarshalVtbl probe_vtbl =
{
    probe_QueryInterface,
    probe_AddRef,
    probe_Release,
    probe_GetUnmarshalClass,
    probe_GetMarshalSizeMax,
    probe_MarshalInterface,
    probe_UnmarshalInterface,
    probe_ReleaseMarshalData,
    probe_DisconnectObject,
};

DWORD dosvc_marshal_slack(void)
{
    static LONG slack = -1;
    IMarshal probe = { &probe_vtbl };
    ULARGE_INTEGER written;
    LARGE_INTEGER zero = { 0 };
    IStream *stream;
    ULONG estimate;
    LONG measured = 0;

    if (slack >= 0) return slack;
    if (SUCCEEDED(CoGetMarshalSizeMax(&estimate, &IID_IUnknown, (IUnknown *)&probe, MSHCTX_LOCAL, NULL,
                                      MSHLFLAGS_NORMAL)) &&
        SUCCEEDED(CreateStreamOnHGlobal(NULL, TRUE, &stream)))
    {
        if (SUCCEEDED(CoMarshalInterface(stream, &IID_IUnknown, (IUnknown *)&probe, MSHCTX_LOCAL, NULL,
                                         MSHLFLAGS_NORMAL)) &&
            SUCCEEDED(IStream_Seek(stream, zero, STREAM_SEEK_CUR, &written)) &&
            written.QuadPart < estimate)
            measured = estimate - (LONG)written.QuadPart;
        IStream_Release(stream);
    }
    InterlockedExchange(&slack, measured);
    return measured;
}
