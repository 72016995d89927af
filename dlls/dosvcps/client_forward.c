/*
 * DoSvc's client-side object: the interfaces it hands out
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
 * One forwarding vtable per DO interface: each method calls the same
 * method of the standard proxy's interface, with the same arguments.
 * Interface pointers coming back ([out] jobs, files, enumerators, errors)
 * need nothing here: COM unmarshals them, and they arrive as client-side
 * objects of their own.  A vtable of a derived interface serves its bases
 * too (IBackgroundCopyJob5's serves Job..Job4): the client only calls the
 * slots of the interface it asked for, and the standard proxy behind the
 * forwarder is the one for exactly that interface.
 *
 * Where the standard proxy falls short, the method is written out instead
 * of forwarded (IBackgroundCopyError's text methods); status reads served
 * from memory the service shares would go here as well.
 */

#include "client.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

#define INNER(type, iface) ((type *)client_forwarder_from(iface)->inner)

#define FORWARD_IUNKNOWN(prefix, type) \
    static HRESULT WINAPI prefix##_QueryInterface(type *iface, REFIID riid, void **out) \
    { \
        return client_forwarder_query_interface(client_forwarder_from(iface), riid, out); \
    } \
    static ULONG WINAPI prefix##_AddRef(type *iface) \
    { \
        return client_forwarder_addref(client_forwarder_from(iface)); \
    } \
    static ULONG WINAPI prefix##_Release(type *iface) \
    { \
        return client_forwarder_release(client_forwarder_from(iface)); \
    }

#define FORWARD0(prefix, type, name) \
    static HRESULT WINAPI prefix##_##name(type *iface) \
    { \
        type *inner = INNER(type, iface); \
        TRACE("%p -> %p\n", iface, inner); \
        return inner->lpVtbl->name(inner); \
    }
#define FORWARD1(prefix, type, name, t1) \
    static HRESULT WINAPI prefix##_##name(type *iface, t1 a1) \
    { \
        type *inner = INNER(type, iface); \
        TRACE("%p -> %p\n", iface, inner); \
        return inner->lpVtbl->name(inner, a1); \
    }
#define FORWARD2(prefix, type, name, t1, t2) \
    static HRESULT WINAPI prefix##_##name(type *iface, t1 a1, t2 a2) \
    { \
        type *inner = INNER(type, iface); \
        TRACE("%p -> %p\n", iface, inner); \
        return inner->lpVtbl->name(inner, a1, a2); \
    }
#define FORWARD3(prefix, type, name, t1, t2, t3) \
    static HRESULT WINAPI prefix##_##name(type *iface, t1 a1, t2 a2, t3 a3) \
    { \
        type *inner = INNER(type, iface); \
        TRACE("%p -> %p\n", iface, inner); \
        return inner->lpVtbl->name(inner, a1, a2, a3); \
    }
#define FORWARD4(prefix, type, name, t1, t2, t3, t4) \
    static HRESULT WINAPI prefix##_##name(type *iface, t1 a1, t2 a2, t3 a3, t4 a4) \
    { \
        type *inner = INNER(type, iface); \
        TRACE("%p -> %p\n", iface, inner); \
        return inner->lpVtbl->name(inner, a1, a2, a3, a4); \
    }
#define FORWARD6(prefix, type, name, t1, t2, t3, t4, t5, t6) \
    static HRESULT WINAPI prefix##_##name(type *iface, t1 a1, t2 a2, t3 a3, t4 a4, t5 a5, t6 a6) \
    { \
        type *inner = INNER(type, iface); \
        TRACE("%p -> %p\n", iface, inner); \
        return inner->lpVtbl->name(inner, a1, a2, a3, a4, a5, a6); \
    }

/* ------------------------------------------------------------------ IBackgroundCopyManager */

FORWARD_IUNKNOWN(manager, IBackgroundCopyManager)
FORWARD4(manager, IBackgroundCopyManager, CreateJob, LPCWSTR, BG_JOB_TYPE, GUID *, IBackgroundCopyJob **)
FORWARD2(manager, IBackgroundCopyManager, GetJob, REFGUID, IBackgroundCopyJob **)
FORWARD2(manager, IBackgroundCopyManager, EnumJobs, DWORD, IEnumBackgroundCopyJobs **)
FORWARD3(manager, IBackgroundCopyManager, GetErrorDescription, HRESULT, DWORD, LPWSTR *)

static const IBackgroundCopyManagerVtbl manager_vtbl =
{
    manager_QueryInterface,
    manager_AddRef,
    manager_Release,
    manager_CreateJob,
    manager_GetJob,
    manager_EnumJobs,
    manager_GetErrorDescription,
};

/* ------------------------------------------------------------------ IDOManager */

FORWARD_IUNKNOWN(domanager, IDOManager)
FORWARD1(domanager, IDOManager, CreateDownload, IDODownload **)
FORWARD2(domanager, IDOManager, EnumDownloads, const DO_DOWNLOAD_ENUM_CATEGORY *, IEnumUnknown **)

static const IDOManagerVtbl domanager_vtbl =
{
    domanager_QueryInterface,
    domanager_AddRef,
    domanager_Release,
    domanager_CreateDownload,
    domanager_EnumDownloads,
};

/* ------------------------------------------------------------------ IBackgroundCopyJob .. Job5 */

FORWARD_IUNKNOWN(job, IBackgroundCopyJob5)
FORWARD2(job, IBackgroundCopyJob5, AddFileSet, ULONG, BG_FILE_INFO *)
FORWARD2(job, IBackgroundCopyJob5, AddFile, LPCWSTR, LPCWSTR)
FORWARD1(job, IBackgroundCopyJob5, EnumFiles, IEnumBackgroundCopyFiles **)
FORWARD0(job, IBackgroundCopyJob5, Suspend)
FORWARD0(job, IBackgroundCopyJob5, Resume)
FORWARD0(job, IBackgroundCopyJob5, Cancel)
FORWARD0(job, IBackgroundCopyJob5, Complete)
FORWARD1(job, IBackgroundCopyJob5, GetId, GUID *)
FORWARD1(job, IBackgroundCopyJob5, GetType, BG_JOB_TYPE *)
FORWARD1(job, IBackgroundCopyJob5, GetProgress, BG_JOB_PROGRESS *)
FORWARD1(job, IBackgroundCopyJob5, GetTimes, BG_JOB_TIMES *)
FORWARD1(job, IBackgroundCopyJob5, GetState, BG_JOB_STATE *)
FORWARD1(job, IBackgroundCopyJob5, GetError, IBackgroundCopyError **)
FORWARD1(job, IBackgroundCopyJob5, GetOwner, LPWSTR *)
FORWARD1(job, IBackgroundCopyJob5, SetDisplayName, LPCWSTR)
FORWARD1(job, IBackgroundCopyJob5, GetDisplayName, LPWSTR *)
FORWARD1(job, IBackgroundCopyJob5, SetDescription, LPCWSTR)
FORWARD1(job, IBackgroundCopyJob5, GetDescription, LPWSTR *)
FORWARD1(job, IBackgroundCopyJob5, SetPriority, BG_JOB_PRIORITY)
FORWARD1(job, IBackgroundCopyJob5, GetPriority, BG_JOB_PRIORITY *)
FORWARD1(job, IBackgroundCopyJob5, SetNotifyFlags, ULONG)
FORWARD1(job, IBackgroundCopyJob5, GetNotifyFlags, ULONG *)
FORWARD1(job, IBackgroundCopyJob5, SetNotifyInterface, IUnknown *)
FORWARD1(job, IBackgroundCopyJob5, GetNotifyInterface, IUnknown **)
FORWARD1(job, IBackgroundCopyJob5, SetMinimumRetryDelay, ULONG)
FORWARD1(job, IBackgroundCopyJob5, GetMinimumRetryDelay, ULONG *)
FORWARD1(job, IBackgroundCopyJob5, SetNoProgressTimeout, ULONG)
FORWARD1(job, IBackgroundCopyJob5, GetNoProgressTimeout, ULONG *)
FORWARD1(job, IBackgroundCopyJob5, GetErrorCount, ULONG *)
FORWARD3(job, IBackgroundCopyJob5, SetProxySettings, BG_JOB_PROXY_USAGE, const WCHAR *, const WCHAR *)
FORWARD3(job, IBackgroundCopyJob5, GetProxySettings, BG_JOB_PROXY_USAGE *, LPWSTR *, LPWSTR *)
FORWARD0(job, IBackgroundCopyJob5, TakeOwnership)
FORWARD2(job, IBackgroundCopyJob5, SetNotifyCmdLine, LPCWSTR, LPCWSTR)
FORWARD2(job, IBackgroundCopyJob5, GetNotifyCmdLine, LPWSTR *, LPWSTR *)
FORWARD1(job, IBackgroundCopyJob5, GetReplyProgress, BG_JOB_REPLY_PROGRESS *)
FORWARD2(job, IBackgroundCopyJob5, GetReplyData, byte **, UINT64 *)
FORWARD1(job, IBackgroundCopyJob5, SetReplyFileName, LPCWSTR)
FORWARD1(job, IBackgroundCopyJob5, GetReplyFileName, LPWSTR *)
FORWARD1(job, IBackgroundCopyJob5, SetCredentials, BG_AUTH_CREDENTIALS *)
FORWARD2(job, IBackgroundCopyJob5, RemoveCredentials, BG_AUTH_TARGET, BG_AUTH_SCHEME)
FORWARD2(job, IBackgroundCopyJob5, ReplaceRemotePrefix, LPCWSTR, LPCWSTR)
FORWARD4(job, IBackgroundCopyJob5, AddFileWithRanges, LPCWSTR, LPCWSTR, DWORD, BG_FILE_RANGE *)
FORWARD1(job, IBackgroundCopyJob5, SetFileACLFlags, DWORD)
FORWARD1(job, IBackgroundCopyJob5, GetFileACLFlags, DWORD *)
FORWARD1(job, IBackgroundCopyJob5, SetPeerCachingFlags, DWORD)
FORWARD1(job, IBackgroundCopyJob5, GetPeerCachingFlags, DWORD *)
FORWARD1(job, IBackgroundCopyJob5, GetOwnerIntegrityLevel, ULONG *)
FORWARD1(job, IBackgroundCopyJob5, GetOwnerElevationState, BOOL *)
FORWARD1(job, IBackgroundCopyJob5, SetMaximumDownloadTime, ULONG)
FORWARD1(job, IBackgroundCopyJob5, GetMaximumDownloadTime, ULONG *)
FORWARD2(job, IBackgroundCopyJob5, SetProperty, BITS_JOB_PROPERTY_ID, BITS_JOB_PROPERTY_VALUE)
FORWARD2(job, IBackgroundCopyJob5, GetProperty, BITS_JOB_PROPERTY_ID, BITS_JOB_PROPERTY_VALUE *)

static const IBackgroundCopyJob5Vtbl job_vtbl =
{
    job_QueryInterface,
    job_AddRef,
    job_Release,
    job_AddFileSet,
    job_AddFile,
    job_EnumFiles,
    job_Suspend,
    job_Resume,
    job_Cancel,
    job_Complete,
    job_GetId,
    job_GetType,
    job_GetProgress,
    job_GetTimes,
    job_GetState,
    job_GetError,
    job_GetOwner,
    job_SetDisplayName,
    job_GetDisplayName,
    job_SetDescription,
    job_GetDescription,
    job_SetPriority,
    job_GetPriority,
    job_SetNotifyFlags,
    job_GetNotifyFlags,
    job_SetNotifyInterface,
    job_GetNotifyInterface,
    job_SetMinimumRetryDelay,
    job_GetMinimumRetryDelay,
    job_SetNoProgressTimeout,
    job_GetNoProgressTimeout,
    job_GetErrorCount,
    job_SetProxySettings,
    job_GetProxySettings,
    job_TakeOwnership,
    job_SetNotifyCmdLine,
    job_GetNotifyCmdLine,
    job_GetReplyProgress,
    job_GetReplyData,
    job_SetReplyFileName,
    job_GetReplyFileName,
    job_SetCredentials,
    job_RemoveCredentials,
    job_ReplaceRemotePrefix,
    job_AddFileWithRanges,
    job_SetFileACLFlags,
    job_GetFileACLFlags,
    job_SetPeerCachingFlags,
    job_GetPeerCachingFlags,
    job_GetOwnerIntegrityLevel,
    job_GetOwnerElevationState,
    job_SetMaximumDownloadTime,
    job_GetMaximumDownloadTime,
    job_SetProperty,
    job_GetProperty,
};

/* ------------------------------------------------------------------ IBackgroundCopyJobHttpOptions */

FORWARD_IUNKNOWN(http_options, IBackgroundCopyJobHttpOptions)
FORWARD3(http_options, IBackgroundCopyJobHttpOptions, SetClientCertificateByID, BG_CERT_STORE_LOCATION, LPCWSTR, BYTE *)
FORWARD3(http_options, IBackgroundCopyJobHttpOptions, SetClientCertificateByName, BG_CERT_STORE_LOCATION, LPCWSTR, LPCWSTR)
FORWARD0(http_options, IBackgroundCopyJobHttpOptions, RemoveClientCertificate)
/* GetClientCertificate goes through IDoClientHttpOptions, whose outs
 * marshal; Wine 8's qmgrprxy stub faults sending the original's answer.  A
 * service without that interface gets the original call. */
static HRESULT WINAPI http_options_GetClientCertificate(IBackgroundCopyJobHttpOptions *iface,
        BG_CERT_STORE_LOCATION *location, LPWSTR *store, BYTE **hash, LPWSTR *subject)
{
    IDoClientHttpOptions *options;
    BYTE blob[20];
    DWORD where;
    HRESULT hr;

    TRACE("%p, %p, %p, %p, %p.\n", iface, location, store, hash, subject);

    /* what a proxy answers for a NULL [out] pointer */
    if (!location || !store || !hash || !subject) return HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER);
    if (FAILED(IUnknown_QueryInterface(client_forwarder_from(iface)->owner->inner, &IID_IDoClientHttpOptions,
                                       (void **)&options)))
        return IBackgroundCopyJobHttpOptions_GetClientCertificate(INNER(IBackgroundCopyJobHttpOptions, iface),
                                                                  location, store, hash, subject);
    *store = *subject = NULL;
    *hash = NULL;
    hr = IDoClientHttpOptions_GetClientCertificate(options, &where, store, blob, subject);
    IDoClientHttpOptions_Release(options);
    if (SUCCEEDED(hr) && !(*hash = CoTaskMemAlloc(sizeof(blob)))) hr = E_OUTOFMEMORY;
    if (FAILED(hr))
    {
        CoTaskMemFree(*store);
        CoTaskMemFree(*subject);
        *store = *subject = NULL;
        return hr;
    }
    memcpy(*hash, blob, sizeof(blob));
    *location = where;
    return hr;
}

FORWARD1(http_options, IBackgroundCopyJobHttpOptions, SetCustomHeaders, LPCWSTR)
FORWARD1(http_options, IBackgroundCopyJobHttpOptions, GetCustomHeaders, LPWSTR *)
FORWARD1(http_options, IBackgroundCopyJobHttpOptions, SetSecurityFlags, ULONG)
FORWARD1(http_options, IBackgroundCopyJobHttpOptions, GetSecurityFlags, ULONG *)

static const IBackgroundCopyJobHttpOptionsVtbl http_options_vtbl =
{
    http_options_QueryInterface,
    http_options_AddRef,
    http_options_Release,
    http_options_SetClientCertificateByID,
    http_options_SetClientCertificateByName,
    http_options_RemoveClientCertificate,
    http_options_GetClientCertificate,
    http_options_SetCustomHeaders,
    http_options_GetCustomHeaders,
    http_options_SetSecurityFlags,
    http_options_GetSecurityFlags,
};

/* ------------------------------------------------------------------ IDeliveryOptimizationJob, Job2 */

FORWARD_IUNKNOWN(dojob, IDeliveryOptimizationJob)
FORWARD6(dojob, IDeliveryOptimizationJob, AddFileWithRanges, LPCWSTR, LPCWSTR, LPCWSTR, DWORD, BG_FILE_RANGE *, UINT64)

static const IDeliveryOptimizationJobVtbl dojob_vtbl =
{
    dojob_QueryInterface,
    dojob_AddRef,
    dojob_Release,
    dojob_AddFileWithRanges,
};

FORWARD_IUNKNOWN(dojob2, IDeliveryOptimizationJob2)
FORWARD6(dojob2, IDeliveryOptimizationJob2, AddFile, LPCWSTR, LPCWSTR, DWORD, BG_FILE_RANGE *, REFIID, void **)
FORWARD2(dojob2, IDeliveryOptimizationJob2, GetProperty, DOJobPropertyId, VARIANT *)
FORWARD2(dojob2, IDeliveryOptimizationJob2, SetProperty, DOJobPropertyId, const VARIANT *)

static const IDeliveryOptimizationJob2Vtbl dojob2_vtbl =
{
    dojob2_QueryInterface,
    dojob2_AddRef,
    dojob2_Release,
    dojob2_AddFile,
    dojob2_GetProperty,
    dojob2_SetProperty,
};

/* ------------------------------------------------------------------ IBackgroundCopyFile .. File5 */

FORWARD_IUNKNOWN(file, IBackgroundCopyFile5)
FORWARD1(file, IBackgroundCopyFile5, GetRemoteName, LPWSTR *)
FORWARD1(file, IBackgroundCopyFile5, GetLocalName, LPWSTR *)
FORWARD1(file, IBackgroundCopyFile5, GetProgress, BG_FILE_PROGRESS *)
FORWARD2(file, IBackgroundCopyFile5, GetFileRanges, DWORD *, BG_FILE_RANGE **)
FORWARD1(file, IBackgroundCopyFile5, SetRemoteName, LPCWSTR)
FORWARD1(file, IBackgroundCopyFile5, GetTemporaryName, LPWSTR *)
FORWARD1(file, IBackgroundCopyFile5, SetValidationState, BOOL)
FORWARD1(file, IBackgroundCopyFile5, GetValidationState, BOOL *)
FORWARD1(file, IBackgroundCopyFile5, IsDownloadedFromPeer, BOOL *)
FORWARD2(file, IBackgroundCopyFile5, GetPeerDownloadStats, PUINT64, PUINT64)
FORWARD2(file, IBackgroundCopyFile5, SetProperty, BITS_FILE_PROPERTY_ID, BITS_FILE_PROPERTY_VALUE)
FORWARD2(file, IBackgroundCopyFile5, GetProperty, BITS_FILE_PROPERTY_ID, BITS_FILE_PROPERTY_VALUE *)

static const IBackgroundCopyFile5Vtbl file_vtbl =
{
    file_QueryInterface,
    file_AddRef,
    file_Release,
    file_GetRemoteName,
    file_GetLocalName,
    file_GetProgress,
    file_GetFileRanges,
    file_SetRemoteName,
    file_GetTemporaryName,
    file_SetValidationState,
    file_GetValidationState,
    file_IsDownloadedFromPeer,
    file_GetPeerDownloadStats,
    file_SetProperty,
    file_GetProperty,
};

/* ------------------------------------------------------------------ IDeliveryOptimizationFile, File2 */

FORWARD_IUNKNOWN(dofile, IDeliveryOptimizationFile)
FORWARD1(dofile, IDeliveryOptimizationFile, GetStats, DOSwarmStats *)
FORWARD1(dofile, IDeliveryOptimizationFile, GetStatsSecondSlot, DOSwarmStats *)

static const IDeliveryOptimizationFileVtbl dofile_vtbl =
{
    dofile_QueryInterface,
    dofile_AddRef,
    dofile_Release,
    dofile_GetStats,
    dofile_GetStatsSecondSlot,
};

FORWARD_IUNKNOWN(dofile2, IDeliveryOptimizationFile2)
FORWARD2(dofile2, IDeliveryOptimizationFile2, GetProperty, DOFilePropertyId, VARIANT *)
FORWARD2(dofile2, IDeliveryOptimizationFile2, SetProperty, DOFilePropertyId, const VARIANT *)

static const IDeliveryOptimizationFile2Vtbl dofile2_vtbl =
{
    dofile2_QueryInterface,
    dofile2_AddRef,
    dofile2_Release,
    dofile2_GetProperty,
    dofile2_SetProperty,
};

/* ------------------------------------------------------------------ IDODownload */

FORWARD_IUNKNOWN(download, IDODownload)
FORWARD1(download, IDODownload, Start, const DO_DOWNLOAD_RANGES_INFO *)
FORWARD0(download, IDODownload, Pause)
FORWARD0(download, IDODownload, Abort)
FORWARD0(download, IDODownload, Finalize)
FORWARD1(download, IDODownload, GetStatus, DO_DOWNLOAD_STATUS *)
FORWARD2(download, IDODownload, GetProperty, DODownloadProperty, VARIANT *)
FORWARD2(download, IDODownload, SetProperty, DODownloadProperty, const VARIANT *)

static const IDODownloadVtbl download_vtbl =
{
    download_QueryInterface,
    download_AddRef,
    download_Release,
    download_Start,
    download_Pause,
    download_Abort,
    download_Finalize,
    download_GetStatus,
    download_GetProperty,
    download_SetProperty,
};

/* ------------------------------------------------------------------ enumerators */

FORWARD_IUNKNOWN(enum_jobs, IEnumBackgroundCopyJobs)
FORWARD3(enum_jobs, IEnumBackgroundCopyJobs, Next, ULONG, IBackgroundCopyJob **, ULONG *)
FORWARD1(enum_jobs, IEnumBackgroundCopyJobs, Skip, ULONG)
FORWARD0(enum_jobs, IEnumBackgroundCopyJobs, Reset)
FORWARD1(enum_jobs, IEnumBackgroundCopyJobs, Clone, IEnumBackgroundCopyJobs **)
FORWARD1(enum_jobs, IEnumBackgroundCopyJobs, GetCount, ULONG *)

static const IEnumBackgroundCopyJobsVtbl enum_jobs_vtbl =
{
    enum_jobs_QueryInterface,
    enum_jobs_AddRef,
    enum_jobs_Release,
    enum_jobs_Next,
    enum_jobs_Skip,
    enum_jobs_Reset,
    enum_jobs_Clone,
    enum_jobs_GetCount,
};

FORWARD_IUNKNOWN(enum_files, IEnumBackgroundCopyFiles)
FORWARD3(enum_files, IEnumBackgroundCopyFiles, Next, ULONG, IBackgroundCopyFile **, ULONG *)
FORWARD1(enum_files, IEnumBackgroundCopyFiles, Skip, ULONG)
FORWARD0(enum_files, IEnumBackgroundCopyFiles, Reset)
FORWARD1(enum_files, IEnumBackgroundCopyFiles, Clone, IEnumBackgroundCopyFiles **)
FORWARD1(enum_files, IEnumBackgroundCopyFiles, GetCount, ULONG *)

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

FORWARD_IUNKNOWN(enum_unknown, IEnumUnknown)
FORWARD3(enum_unknown, IEnumUnknown, Next, ULONG, IUnknown **, ULONG *)
FORWARD1(enum_unknown, IEnumUnknown, Skip, ULONG)
FORWARD0(enum_unknown, IEnumUnknown, Reset)
FORWARD1(enum_unknown, IEnumUnknown, Clone, IEnumUnknown **)

static const IEnumUnknownVtbl enum_unknown_vtbl =
{
    enum_unknown_QueryInterface,
    enum_unknown_AddRef,
    enum_unknown_Release,
    enum_unknown_Next,
    enum_unknown_Skip,
    enum_unknown_Reset,
    enum_unknown_Clone,
};

/* ------------------------------------------------------------------ IBackgroundCopyError */

FORWARD_IUNKNOWN(error, IBackgroundCopyError)
FORWARD2(error, IBackgroundCopyError, GetError, BG_ERROR_CONTEXT *, HRESULT *)
FORWARD1(error, IBackgroundCopyError, GetFile, IBackgroundCopyFile **)

/* The text methods go through IDoClientErrorText, whose [string] outs
 * marshal; Wine 8's qmgrprxy fails the originals before sending them.  A
 * service without that interface gets the original call. */
static IDoClientErrorText *error_text(IBackgroundCopyError *iface)
{
    IDoClientErrorText *text;

    if (FAILED(IUnknown_QueryInterface(client_forwarder_from(iface)->owner->inner, &IID_IDoClientErrorText,
                                       (void **)&text)))
        return NULL;
    return text;
}

static HRESULT WINAPI error_GetErrorDescription(IBackgroundCopyError *iface, DWORD langid, LPWSTR *out)
{
    IDoClientErrorText *text;
    HRESULT hr;

    TRACE("%p, %#lx, %p.\n", iface, langid, out);

    /* what a proxy answers for a NULL [out] pointer */
    if (!out) return HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER);
    if (!(text = error_text(iface)))
        return IBackgroundCopyError_GetErrorDescription(INNER(IBackgroundCopyError, iface), langid, out);
    hr = IDoClientErrorText_GetErrorDescription(text, langid, out);
    IDoClientErrorText_Release(text);
    return hr;
}

static HRESULT WINAPI error_GetErrorContextDescription(IBackgroundCopyError *iface, DWORD langid, LPWSTR *out)
{
    IDoClientErrorText *text;
    HRESULT hr;

    TRACE("%p, %#lx, %p.\n", iface, langid, out);

    if (!out) return HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER);
    if (!(text = error_text(iface)))
        return IBackgroundCopyError_GetErrorContextDescription(INNER(IBackgroundCopyError, iface), langid, out);
    hr = IDoClientErrorText_GetErrorContextDescription(text, langid, out);
    IDoClientErrorText_Release(text);
    return hr;
}

static HRESULT WINAPI error_GetProtocol(IBackgroundCopyError *iface, LPWSTR *out)
{
    IDoClientErrorText *text;
    HRESULT hr;

    TRACE("%p, %p.\n", iface, out);

    if (!out) return HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER);
    if (!(text = error_text(iface)))
        return IBackgroundCopyError_GetProtocol(INNER(IBackgroundCopyError, iface), out);
    hr = IDoClientErrorText_GetProtocol(text, out);
    IDoClientErrorText_Release(text);
    return hr;
}

static const IBackgroundCopyErrorVtbl error_vtbl =
{
    error_QueryInterface,
    error_AddRef,
    error_Release,
    error_GetError,
    error_GetFile,
    error_GetErrorDescription,
    error_GetErrorContextDescription,
    error_GetProtocol,
};

/* ------------------------------------------------------------------ the slot table */

const IID *const client_slot_iids[SLOT_COUNT] =
{
    [SLOT_MANAGER]      = &IID_IBackgroundCopyManager,
    [SLOT_DOMANAGER]    = &IID_IDOManager,
    [SLOT_JOB]          = &IID_IBackgroundCopyJob,
    [SLOT_JOB2]         = &IID_IBackgroundCopyJob2,
    [SLOT_JOB3]         = &IID_IBackgroundCopyJob3,
    [SLOT_JOB4]         = &IID_IBackgroundCopyJob4,
    [SLOT_JOB5]         = &IID_IBackgroundCopyJob5,
    [SLOT_HTTP_OPTIONS] = &IID_IBackgroundCopyJobHttpOptions,
    [SLOT_DOJOB]        = &IID_IDeliveryOptimizationJob,
    [SLOT_DOJOB2]       = &IID_IDeliveryOptimizationJob2,
    [SLOT_FILE]         = &IID_IBackgroundCopyFile,
    [SLOT_FILE2]        = &IID_IBackgroundCopyFile2,
    [SLOT_FILE3]        = &IID_IBackgroundCopyFile3,
    [SLOT_FILE4]        = &IID_IBackgroundCopyFile4,
    [SLOT_FILE5]        = &IID_IBackgroundCopyFile5,
    [SLOT_DOFILE]       = &IID_IDeliveryOptimizationFile,
    [SLOT_DOFILE2]      = &IID_IDeliveryOptimizationFile2,
    [SLOT_DOWNLOAD]     = &IID_IDODownload,
    [SLOT_ENUM_JOBS]    = &IID_IEnumBackgroundCopyJobs,
    [SLOT_ENUM_FILES]   = &IID_IEnumBackgroundCopyFiles,
    [SLOT_ENUM_UNKNOWN] = &IID_IEnumUnknown,
    [SLOT_ERROR]        = &IID_IBackgroundCopyError,
};

const void *const client_slot_vtbls[SLOT_COUNT] =
{
    [SLOT_MANAGER]      = &manager_vtbl,
    [SLOT_DOMANAGER]    = &domanager_vtbl,
    [SLOT_JOB]          = &job_vtbl,
    [SLOT_JOB2]         = &job_vtbl,
    [SLOT_JOB3]         = &job_vtbl,
    [SLOT_JOB4]         = &job_vtbl,
    [SLOT_JOB5]         = &job_vtbl,
    [SLOT_HTTP_OPTIONS] = &http_options_vtbl,
    [SLOT_DOJOB]        = &dojob_vtbl,
    [SLOT_DOJOB2]       = &dojob2_vtbl,
    [SLOT_FILE]         = &file_vtbl,
    [SLOT_FILE2]        = &file_vtbl,
    [SLOT_FILE3]        = &file_vtbl,
    [SLOT_FILE4]        = &file_vtbl,
    [SLOT_FILE5]        = &file_vtbl,
    [SLOT_DOFILE]       = &dofile_vtbl,
    [SLOT_DOFILE2]      = &dofile2_vtbl,
    [SLOT_DOWNLOAD]     = &download_vtbl,
    [SLOT_ENUM_JOBS]    = &enum_jobs_vtbl,
    [SLOT_ENUM_FILES]   = &enum_files_vtbl,
    [SLOT_ENUM_UNKNOWN] = &enum_unknown_vtbl,
    [SLOT_ERROR]        = &error_vtbl,
};
