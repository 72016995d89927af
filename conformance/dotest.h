/*
 * Helpers shared by the Delivery Optimization conformance tests.
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

#ifndef WINE_DOSVC_DOTEST_H
#define WINE_DOSVC_DOTEST_H

#define COBJMACROS
#include <winsock2.h>
#include <windows.h>
#include <objbase.h>

#include "deliveryoptimization.h"
#include "deliveryoptimizationerrors.h"
#include "httpd.h"
#include "test.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define KIB 1024
#define MIB (1024 * 1024)
#define STATE_BIT(state) (1u << (state))

/* what a proxy answers before the call leaves the client (docs/gaps.md) */
#define NULL_REF_HR    HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER)
#define INVALID_TAG_HR HRESULT_FROM_WIN32(RPC_S_INVALID_TAG)

/* HTTP status as an HRESULT (facility HTTP = 25), e.g. 404 -> 0x80190194 */
#define HTTP_STATUS_HRESULT(status) ((HRESULT)(0x80190000u | (status)))

/* Creates the DO manager out of process, as clients do.  On failure returns
 * NULL after a win_skip (a failure on Wine, where the service must work). */
IBackgroundCopyManager *create_manager(void);

/* CreateJob with a unique display name derived from prefix. */
IBackgroundCopyJob *create_job(IBackgroundCopyManager *manager, const WCHAR *prefix, GUID *id);

/* AddFileWithRanges through IDeliveryOptimizationJob (DO's way of adding files). */
HRESULT add_file(IBackgroundCopyJob *job, const WCHAR *url, const WCHAR *local_name,
                 DWORD range_count, BG_FILE_RANGE *ranges);

/* A wait for something that is going to happen is bounded only to turn a
 * hang into a failure, never to say how fast it must be: the suite must pass
 * on a saturated machine, and speed is tools/bench's business.  So every
 * wait helper waits at least this long, whatever timeout its caller names
 * (the callers' figures date from quiet machines). */
#define HANG_TIMEOUT_MS 60000
static inline DWORD hang_bound(DWORD timeout_ms)
{
    return timeout_ms > HANG_TIMEOUT_MS ? timeout_ms : HANG_TIMEOUT_MS;
}

/* Polls GetState every 10 ms until the job reaches want or timeout_ms passes;
 * returns the last state seen. */
BG_JOB_STATE wait_for_state(IBackgroundCopyJob *job, BG_JOB_STATE want, DWORD timeout_ms);

const char *state_name(BG_JOB_STATE state);

/* "http://127.0.0.1:<port><path>" */
void make_url(WCHAR *buf, size_t count, struct httpd *httpd, const char *path);

/* A fresh, empty directory for this test program's files (under %TEMP%),
 * removed again by remove_test_dir(). */
const WCHAR *test_dir(void);
void make_test_path(WCHAR *buf, size_t count, const WCHAR *name);
void remove_test_dir(void);

/* Does the file hold exactly the given ranges of the generated resource
 * "name", back to back in that order?  range_count 0 = the whole resource of
 * size full_size.  On mismatch, *bad_offset tells the first bad byte. */
BOOL file_matches_pattern(const WCHAR *path, const char *name, UINT64 full_size,
                          DWORD range_count, const BG_FILE_RANGE *ranges, UINT64 *bad_offset);

/* A NULL [ref] argument: E_INVALIDARG from the service, or refused by the proxy first. */
BOOL null_arg_hr(HRESULT hr);
/* Printable copies for ok() messages; a few may be in use at once. */
const char *dbgstr_w(const WCHAR *str);
const char *dbgstr_guid(const GUID *id);
/* Let the service impersonate us on this proxy, as Microsoft's clients do. */
/* IBackgroundCopyJob::GetError + IBackgroundCopyError::GetError; the first failure, or S_OK */
HRESULT get_job_error(IBackgroundCopyJob *job, BG_ERROR_CONTEXT *context, HRESULT *code);
HRESULT set_impersonate_(const char *file, int line, void *proxy);
/* CoSetProxyBlanket(IMPERSONATE) as Microsoft's clients call it, checked */
#define set_impersonate(proxy) set_impersonate_(__FILE__, __LINE__, (proxy))
/* create_job() plus set_impersonate() */
IBackgroundCopyJob *new_job(IBackgroundCopyManager *manager, const WCHAR *prefix, GUID *id);
/* QueryInterface that checks (documented or [inferred]) and impersonates; NULL on failure */
void *query(void *obj, REFIID riid, const char *name, BOOL documented);
/* The job's index-th file (EnumFiles + Skip + Next), impersonating; NULL on failure */
IBackgroundCopyFile *get_file(IBackgroundCopyJob *job, ULONG index);
/* Cancel unless already final, then Release */
void finish_job(IBackgroundCopyJob *job);

/* IDOManager generation */
const char *dl_state_name(DODownloadState state);
IDODownload *create_download(IDOManager *manager);
#define get_dl_status(download, status) get_dl_status_(__LINE__, download, status)
void get_dl_status_(unsigned int line, IDODownload *download, DO_DOWNLOAD_STATUS *status);
#define get_dl_state(download) get_dl_state_(__LINE__, download)
DODownloadState get_dl_state_(unsigned int line, IDODownload *download);
void finish_download(IDODownload *download);   /* Abort unless ended, then Release */
HRESULT set_bstr(IDODownload *download, DODownloadProperty id, const WCHAR *value);
HRESULT set_ui4(IDODownload *download, DODownloadProperty id, ULONG value);
HRESULT set_bool(IDODownload *download, DODownloadProperty id, BOOL value);

/* How a mem_stream's Write reports what it took. */
enum stream_count
{
    STREAM_COUNT_SET,       /* *pcbWritten = what was taken (when pcbWritten is not NULL) */
    STREAM_COUNT_UNTOUCHED, /* *pcbWritten never written, as the DO SDK's stream does */
    STREAM_COUNT_SHORT,     /* takes everything but says it took half, with S_OK */
};

/* An IStream sink that appends every Write to memory (all else E_NOTIMPL);
 * a few of them, alive for the whole test program.  count, fail_at and
 * fail_hr may be set before the stream is handed out. */
struct mem_stream
{
    IStream IStream_iface;
    LONG ref;
    CRITICAL_SECTION cs;
    unsigned char *data;
    SIZE_T size, capacity;
    LONG writes;
    enum stream_count count;
    SIZE_T fail_at;          /* fail_hr != S_OK: a Write that would pass this many bytes fails */
    HRESULT fail_hr;
};
struct mem_stream *new_mem_stream(void);

/* An object that is only an IUnknown (for "not a callback" checks); no reference counting. */
IUnknown *plain_unknown(void);

BOOL file_exists(const WCHAR *path);
/* number of files in dir matching the wildcard (e.g. L"DO*.tmp") */
unsigned int count_files(const WCHAR *dir, const WCHAR *pattern);

#endif /* WINE_DOSVC_DOTEST_H */
