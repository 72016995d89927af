/*
 * Delivery Optimization service: objects shared by the service's modules.
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

#ifndef DOSVC_PRIVATE_H
#define DOSVC_PRIVATE_H

#include <stdarg.h>
#include <stdlib.h>

#define COBJMACROS
#define CONST_VTABLE     /* our vtables are static const */
#include "windef.h"
#include "winbase.h"
#include "objbase.h"
#include "winhttp.h"
#include "wincrypt.h"
#include "deliveryoptimization.h"
#include "deliveryoptimizationerrors.h"
#include "dosvc_marshal.h"
#include "dosvc_client.h"

#include "wine/debug.h"

/* Out of Wine's tree the short debug macros are not defined. */
#ifndef TRACE
#define TRACE WINE_TRACE
#define WARN  WINE_WARN
#define FIXME WINE_FIXME
#define ERR   WINE_ERR
#define TRACE_ON WINE_TRACE_ON
#endif
#ifndef debugstr_w
#define debugstr_w    wine_dbgstr_w
#define debugstr_a    wine_dbgstr_a
#define debugstr_guid wine_dbgstr_guid
#endif

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#ifndef HTTP_STATUS_RANGE_NOT_SATISFIABLE
#define HTTP_STATUS_RANGE_NOT_SATISFIABLE 416
#endif

/* ------------------------------------------------------------------ service */

extern HINSTANCE dosvc_instance;

/* manager.c: the one manager object every client shares */
HRESULT manager_query_interface(REFIID riid, void **out);
/* start/stop the job core (engine threads, notifier); called by ServiceMain */
HRESULT core_startup(void);
void core_shutdown(void);
/* activation.c: make the class object reachable by clients, and withdraw it */
HRESULT activation_publish(IClassFactory *factory, DWORD rpcss_id);
void activation_withdraw(void);

/* ------------------------------------------------------------------ jobs and files */

/* A byte range of the remote file; ranges of a file are kept sorted by
 * offset and are laid out back to back in the local file, in that order. */
struct file_range
{
    UINT64 offset;
    UINT64 length;           /* BG_LENGTH_TO_EOF: to the end of the remote file */
};

struct do_job;

struct do_file
{
    IBackgroundCopyFile5 IBackgroundCopyFile5_iface;
    IDeliveryOptimizationFile IDeliveryOptimizationFile_iface;
    IDeliveryOptimizationFile2 IDeliveryOptimizationFile2_iface;
    /* A file lives exactly as long as its job: references to a file are
     * references to the job, and the job frees its files.  No cycle. */
    struct do_job *job;

    /* what the caller asked for; guarded by job->cs */
    WCHAR *file_id;          /* IDeliveryOptimizationJob: content id or caller's key */
    WCHAR *remote_name;
    WCHAR *local_name;       /* NULL until a sink path is known (IDeliveryOptimizationJob2::AddFile) */
    struct file_range *ranges;
    DWORD range_count;       /* 0: the whole file */
    UINT64 range_base;       /* local offset of the first range: IDODownload::Start in
                              * Transferred appends new ranges after the bytes already here */
    UINT64 size_hint;        /* fileSize / TotalSizeBytes given by the caller, or DO_UNKNOWN_FILE_SIZE */
    BOOL integrity_mandatory;
    BOOL integrity_mandatory_set;
    BOOL validation_state;   /* IBackgroundCopyFile3 */
    BSTR decryption_info;
    BSTR integrity_info;

    /* what the engine found out; guarded by job->cs */
    WCHAR *temp_name;        /* DO<hex>.tmp next to local_name, created on first transfer */
    HANDLE write_handle;     /* open while a worker writes temp_name; every write is made
                              * under job->cs, so Cancel/Complete may close it at any time */
    HANDLE flush_handle;     /* temp_name opened again once a run fetched it whole, which the
                              * store's writer flushes before its next record (store_hand_temp) */
    IStream *stream;         /* stream sink instead of temp_name (IDODownload StreamInterface,
                              * File2 DownloadSinkInterface), or NULL; bytes are written in
                              * order by the job's one worker, see store_bytes */
    BOOL stream_lost;        /* its stream sink did not survive a service restart (store.c) */
    UINT64 remote_size;      /* DO_UNKNOWN_FILE_SIZE until a response told us */
    UINT64 bytes_done;       /* bytes written to temp_name, counted along the range list */
    BOOL transferred;        /* every requested byte is in temp_name */
    BOOL completed;          /* renamed to local_name by Complete */
    WCHAR *etag;             /* validators of the copy we are resuming */
    WCHAR *last_modified;
    WCHAR *response_headers; /* raw headers of the last response (File5 HTTP_RESPONSE_HEADERS) */
    WCHAR *redirect_target;  /* final URL of the last request that was redirected, or NULL */
    WCHAR *server_ip;        /* address of the server that sent the last response, or NULL */
    DWORD last_status;
    DWORD retry_after;       /* seconds the server asked us to wait (Retry-After), or 0 */

    /* statistics for IDeliveryOptimizationFile::GetStats */
    UINT64 bytes_from_http;  /* from the origin (and the servers it redirected to) */
    UINT http_connections;   /* requests answered by them */
    UINT64 bytes_from_cache; /* from a cache server of the DOCacheHost policy (cache.c) */
    UINT cache_connections;  /* requests a cache server answered */
    DWORD transfer_ms;
};

/* BITS HTTP security flags (IBackgroundCopyJobHttpOptions::SetSecurityFlags) */
#define BG_SSL_ENABLE_CRL_CHECK                 0x0001
#define BG_SSL_IGNORE_CERT_CN_INVALID           0x0002
#define BG_SSL_IGNORE_CERT_DATE_INVALID         0x0004
#define BG_SSL_IGNORE_UNKNOWN_CA                0x0008
#define BG_SSL_IGNORE_CERT_WRONG_USAGE          0x0010
#define BG_HTTP_REDIRECT_POLICY_MASK            0x0700
#define BG_HTTP_REDIRECT_POLICY_ALLOW_SILENT    0x0000
#define BG_HTTP_REDIRECT_POLICY_ALLOW_REPORT    0x0100
#define BG_HTTP_REDIRECT_POLICY_DISALLOW        0x0200
#define BG_HTTP_REDIRECT_POLICY_ALLOW_HTTPS_TO_HTTP 0x0800
#define BG_SECURITY_FLAGS_VALID (0x001f | BG_HTTP_REDIRECT_POLICY_MASK | BG_HTTP_REDIRECT_POLICY_ALLOW_HTTPS_TO_HTTP)

#ifndef BITS_COST_STATE_TRANSFER_ALWAYS
#define BITS_COST_STATE_TRANSFER_ALWAYS 0x800000ff
#endif

/* IBackgroundCopyJob2::SetCredentials: one slot per target and scheme */
struct job_credential
{
    BG_AUTH_TARGET target;
    BG_AUTH_SCHEME scheme;
    WCHAR *user;
    WCHAR *password;
};
#define MAX_JOB_CREDENTIALS 10

/* What one job failed with: kept while the job is in ERROR or TRANSIENT_ERROR. */
struct job_error
{
    HRESULT code;
    BG_ERROR_CONTEXT context;
    struct do_file *file;    /* NULL when not tied to a file (files live as long as the job) */
    WCHAR *protocol;         /* L"http" / L"https", or NULL */
};

struct do_download;

struct do_job
{
    IBackgroundCopyJob5 IBackgroundCopyJob5_iface;
    IBackgroundCopyJobHttpOptions IBackgroundCopyJobHttpOptions_iface;
    IDeliveryOptimizationJob IDeliveryOptimizationJob_iface;
    IDeliveryOptimizationJob2 IDeliveryOptimizationJob2_iface;
    IDoClientHttpOptions IDoClientHttpOptions_iface;     /* for our client-side object */
    LONG refcount;
    CRITICAL_SECTION cs;     /* guards everything below and the job's files */

    GUID id;
    WCHAR *display_name;
    WCHAR *description;
    WCHAR *owner;            /* SID string of the creator */
    BG_JOB_TYPE type;
    BG_JOB_PRIORITY priority;
    volatile LONG state;     /* BG_JOB_STATE; written under cs, read without it by GetState */
    BG_JOB_TIMES times;

    struct do_file **files;
    ULONG file_count;
    ULONG file_capacity;

    ULONG notify_flags;
    IBackgroundCopyCallback *callback;   /* proxy to the client's object, or NULL */
    WCHAR *notify_cmdline;               /* IBackgroundCopyJob2 command line and parameters */
    WCHAR *notify_params;
    ULONG retry_delay;                   /* seconds before retrying a transient error */
    ULONG no_progress_timeout;           /* seconds without progress before ERROR, once set */
    BOOL no_progress_timeout_set;        /* else the default, which depends on the priority */
    ULONG max_download_time;             /* IBackgroundCopyJob4, seconds; 0 = none */
    ULONG error_count;
    struct job_error error;              /* code == S_OK: no error */

    BG_JOB_PROXY_USAGE proxy_usage;
    WCHAR *proxy_list;
    WCHAR *proxy_bypass;
    WCHAR *custom_headers;
    WCHAR *custom_auth_headers;          /* IDODownload: sent only to answer a 401 challenge */
    ULONG security_flags;                /* BG_SSL_* / BG_HTTP_REDIRECT_POLICY_* */
    DWORD cost_flags;                    /* BITS_JOB_PROPERTY_ID_COST_FLAGS */
    ULONG file_acl_flags;                /* IBackgroundCopyJob3 */
    ULONG peer_caching_flags;            /* IBackgroundCopyJob4; stored, we never peer */
    struct job_credential credentials[MAX_JOB_CREDENTIALS];
    ULONG credential_count;
    GUID notification_clsid;             /* BITS_JOB_PROPERTY_NOTIFICATION_CLSID */
    /* the client certificate shown to an https server that asks for one: an
     * IDODownload's SecurityContext, or the one IBackgroundCopyJobHttpOptions
     * names by store and hash (that name is kept; certs.c) */
    const CERT_CONTEXT *client_cert;     /* NULL until found */
    BOOL cert_by_store;
    BG_CERT_STORE_LOCATION cert_location;
    WCHAR *cert_store;
    BYTE cert_hash[20];

    /* The IDODownload this job is the core of, or NULL for a BITS-style job.
     * The download lives exactly as long as its job (its references are the
     * job's, and job_destroy frees it), so there is no cycle.  The BITS-style
     * API never shows such a job (GetJob, EnumJobs). */
    struct do_download *download;

    /* engine bookkeeping; guarded by cs */
    LONG run_generation;                 /* bumped by every state change that stops a run */
    BOOL worker_active;                  /* a worker thread owns this job's transfer */
    HANDLE worker_done;                  /* manual-reset, set while no worker runs */
    HANDLE wake_event;                   /* auto-reset: stop or re-evaluate now (aborts HTTP waits) */
    ULONGLONG last_progress_tick;        /* GetTickCount64() of the last byte or state change */
    ULONGLONG retry_at_tick;             /* when a transient error is retried */
    ULONGLONG queued_tick;               /* order among jobs of equal priority */
    BOOL notify_pending;                 /* a JobModification is owed */
    BOOL transferred_owed;               /* JobTransferred not yet delivered for this TRANSFERRED */
    BOOL error_owed;                     /* JobError due (again) */
    BOOL callback_busy;                  /* a notifier is delivering this job's callbacks */
    BOOL in_run_queue;                   /* waiting for a transfer slot */

    /* store.c bookkeeping; guarded by cs */
    LONG store_flags;
    BOOL internal;                       /* the service's own (anchors.c): never listed nor stored */
    ULONGLONG store_tick;                /* when the record was last written */
};

static inline struct do_job *impl_from_IBackgroundCopyJob5(IBackgroundCopyJob5 *iface)
{
    return CONTAINING_RECORD(iface, struct do_job, IBackgroundCopyJob5_iface);
}

/* DO's defaults: an hour, a day for LOW priority jobs.  Under job->cs. */
static inline ULONG job_no_progress_timeout(const struct do_job *job)
{
    if (job->no_progress_timeout_set) return job->no_progress_timeout;
    return job->priority == BG_JOB_PRIORITY_LOW ? 86400 : 3600;
}

/* job.c */
HRESULT job_create(const WCHAR *display_name, BG_JOB_TYPE type, struct do_job **job);
void job_addref(struct do_job *job);
void job_release(struct do_job *job);
BOOL job_is_final(const struct do_job *job);
/* change state under job->cs; stamps ModificationTime and owes a notification */
void job_set_state(struct do_job *job, BG_JOB_STATE state);
void job_touch(struct do_job *job);      /* a property or progress changed */
void job_touch_progress(struct do_job *job);   /* only bytes were transferred */
void job_set_error(struct do_job *job, HRESULT code, BG_ERROR_CONTEXT context, struct do_file *file);
void job_clear_error(struct do_job *job);
HRESULT job_add_file(struct do_job *job, const WCHAR *file_id, const WCHAR *remote_name,
                     const WCHAR *local_name, DWORD range_count, const BG_FILE_RANGE *ranges,
                     UINT64 size_hint, struct do_file **file);
void job_get_progress(struct do_job *job, BG_JOB_PROGRESS *progress);  /* under cs */
WCHAR *caller_sid(void);                 /* SID string of the calling client (malloc'd) */

/* file.c */
HRESULT file_create(struct do_job *job, const WCHAR *file_id, const WCHAR *remote_name,
                    const WCHAR *local_name, DWORD range_count, const BG_FILE_RANGE *ranges,
                    UINT64 size_hint, struct do_file **file);
void file_free(struct do_file *file);      /* by its job, or when it was never added */
void file_addref(struct do_file *file);    /* = a job reference */
void file_release(struct do_file *file);
void file_get_progress(const struct do_file *file, BG_FILE_PROGRESS *progress);   /* under cs */
UINT64 file_total_bytes(const struct do_file *file);  /* DO_UNKNOWN_FILE_SIZE until known; under cs */
HRESULT file_make_temp_name(struct do_file *file);    /* under cs */
HRESULT file_validate_ranges(DWORD count, const BG_FILE_RANGE *ranges);
/* copy, sort by offset and check a caller's ranges (NULL for count 0) */
HRESULT file_make_ranges(DWORD count, const BG_FILE_RANGE *in, struct file_range **out);
/* every syntax refusal of a local name (docs/gaps.md "Local paths") */
HRESULT file_check_path_syntax(const WCHAR *path);
/* file_check_path_syntax, and a writable directory that is there */
HRESULT file_check_local_name(const WCHAR *local_name);
HRESULT file_check_remote_name(const WCHAR *remote_name);
void file_close_writer(struct do_file *file);   /* under cs */
void file_delete_temp(struct do_file *file);
HRESULT file_commit(struct do_file *file);   /* temp -> local name; under cs */
IStream *file_take_stream(struct do_file *file);   /* under cs; release it outside */

/* validate.c: what clients, servers and the store hand us, checked by every entry point */
HRESULT url_check(const WCHAR *url, size_t len);          /* http(s), length, no control character */
HRESULT headers_check(const WCHAR *headers, size_t len);  /* "token: value" lines, CRLF between */
char *url_wire_target(const WCHAR *target, size_t len);   /* path and query, percent-encoded UTF-8 */
BOOL path_is_device(const WCHAR *path);                   /* CON, NUL, COM1... as the last component */
BOOL text_is_clean(const WCHAR *text);                    /* no control character but HTAB */

/* manager.c: the job table */
void manager_add_job(struct do_job *job);
void manager_remove_job(struct do_job *job);
HRESULT manager_find_job(const GUID *id, struct do_job **job);   /* BITS-style jobs only */
#define SNAPSHOT_JOBS      0x1   /* BITS-style jobs */
#define SNAPSHOT_DOWNLOADS 0x2   /* the cores of IDODownload downloads */
HRESULT manager_snapshot(DWORD which, struct do_job ***jobs, ULONG *count);  /* live ones */
HRESULT manager_snapshot_jobs(struct do_job ***jobs, ULONG *count);  /* = SNAPSHOT_JOBS */

/* enumerator.c, error.c */
HRESULT enum_jobs_create(struct do_job **jobs, ULONG count, IEnumBackgroundCopyJobs **out);
/* takes items and their references, even on failure */
HRESULT enum_unknowns_create(IUnknown **items, ULONG count, IEnumUnknown **out);
HRESULT enum_files_create(struct do_job *job, IEnumBackgroundCopyFiles **out);
HRESULT copy_error_create(struct do_job *job, IBackgroundCopyError **out);

/* download.c: the IDOManager generation's download on top of a job */
HRESULT download_create(struct do_job **job);              /* a new job in Created */
void download_free(struct do_download *download);          /* by job_destroy */
IDODownload *download_iface(struct do_job *job);           /* no reference added */
BOOL download_matches(struct do_job *job, const DO_DOWNLOAD_ENUM_CATEGORY *category);
void download_state_changed(struct do_job *job);           /* job_set_state's hook; under cs */
BOOL download_status_due(struct do_job *job);              /* an OnStatusChange is owed now; under cs */
void download_deliver_status(struct do_job *job);          /* notifier thread; under no lock */
IUnknown *download_take_callback(struct do_job *job);      /* the callback, forgotten; under cs */

/* errtext.c: text for DO_E_*, HTTP and Win32 codes */
HRESULT error_description(HRESULT code, DWORD langid, WCHAR **text);
HRESULT error_context_description(BG_ERROR_CONTEXT context, DWORD langid, WCHAR **text);

/* engine.c: scheduling and the transfer workers */
HRESULT engine_startup(void);
void engine_shutdown(void);
void engine_job_queued(struct do_job *job);   /* job just became QUEUED; under no lock */
void engine_stop_run(struct do_job *job);     /* the worker must drop what it does; under cs */
void engine_notify(struct do_job *job);       /* owe the client a callback; under no lock */

/* store.c: durable jobs, see there */
HRESULT store_startup(void);
void store_shutdown(void);
void store_job_changed(struct do_job *job, BOOL progress_only);   /* under cs */
void store_job_added(struct do_job *job);                        /* a new job; under no lock */
void store_sync_temp(struct do_job *job, struct do_file *file);  /* under no lock */
void store_hand_temp(struct do_job *job, struct do_file *file);  /* under job->cs */
void file_drop_flush(struct do_file *file);
void store_job_gone(struct do_job *job);  /* ended: wait until its record is deleted; under no lock */

/* certs.c: client certificates */
HRESULT cert_from_serialized(const BYTE *data, DWORD size, const CERT_CONTEXT **cert);
HRESULT cert_find_in_store(BG_CERT_STORE_LOCATION location, const WCHAR *store, const BYTE *hash,
                           const WCHAR *subject, const CERT_CONTEXT **cert);
WCHAR *cert_subject(const CERT_CONTEXT *cert);   /* CoTaskMemAlloc'd */
BOOL cert_hash(const CERT_CONTEXT *cert, BYTE hash[20]);

/* http.c: one HTTP exchange, see there */
struct http_fetch;

/* marshal.c: the IMarshal every object answers, so that another process
 * gets our client-side object (include/dosvc_marshal.h for the kinds) */
HRESULT object_marshal_create(IUnknown *object, enum dosvc_object_kind kind, const GUID *id, void **out);

/* anchors.c: keep one stub of every interface we hand out alive (a Wine 8 rpcrt4 hang) */
void anchors_startup(void);
void anchors_shutdown(void);
/* ------------------------------------------------------------------ helpers */

static inline WCHAR *strdupW(const WCHAR *s)
{
    WCHAR *r;
    size_t len;

    if (!s) return NULL;
    len = (lstrlenW(s) + 1) * sizeof(WCHAR);
    if ((r = malloc(len))) memcpy(r, s, len);
    return r;
}

/* a string handed to a client: CoTaskMemAlloc'd, as COM requires */
static inline HRESULT return_string(const WCHAR *s, WCHAR **out)
{
    size_t len;

    if (!s) s = L"";
    len = (lstrlenW(s) + 1) * sizeof(WCHAR);
    if (!(*out = CoTaskMemAlloc(len))) return E_OUTOFMEMORY;
    memcpy(*out, s, len);
    return S_OK;
}

static inline void now_filetime(FILETIME *ft)
{
    GetSystemTimeAsFileTime(ft);
}

#endif /* DOSVC_PRIVATE_H */
