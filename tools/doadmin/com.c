/*
 * doadmin: activation of DoSvc, finding jobs and downloads, small parsers
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

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include "doadmin.h"

static IBackgroundCopyManager *bits_manager;
/* the first activation failure, so that error texts do not retry it (a
 * failing activation can take half a minute) */
static HRESULT bits_manager_error = S_OK;

/* Microsoft's own DO clients ask for impersonation on every proxy; Wine 8's
 * ole32 answers E_NOTIMPL for any proxy, and calls work without it. */
HRESULT set_blanket(void *proxy)
{
    HRESULT hr;

    hr = CoSetProxyBlanket(proxy, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_DEFAULT, COLE_DEFAULT_PRINCIPAL,
                           RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE, NULL,
                           EOAC_DEFAULT);
    return hr == E_NOTIMPL ? S_OK : hr;
}

HRESULT get_manager(IBackgroundCopyManager **manager)
{
    IBackgroundCopyManager *created;
    HRESULT hr;

    *manager = NULL;
    if (!bits_manager && FAILED(bits_manager_error))
        return bits_manager_error;
    if (!bits_manager)
    {
        hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER,
                              &IID_IBackgroundCopyManager, (void **)&created);
        if (SUCCEEDED(hr) && FAILED(hr = set_blanket(created)))
            IBackgroundCopyManager_Release(created);
        if (FAILED(hr))
        {
            bits_manager_error = hr;
            return hr;
        }
        bits_manager = created;
    }
    *manager = bits_manager;
    return S_OK;
}

HRESULT get_do_manager(IDOManager **manager)
{
    HRESULT hr;

    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER,
                          &IID_IDOManager, (void **)manager);
    if (FAILED(hr))
    {
        *manager = NULL;
        return hr;
    }
    if (FAILED(hr = set_blanket(*manager)))
    {
        IDOManager_Release(*manager);
        *manager = NULL;
    }
    return hr;
}

void release_managers(void)
{
    if (bits_manager) IBackgroundCopyManager_Release(bits_manager);
    bits_manager = NULL;
}

HRESULT reconnect_job(const GUID *id, IBackgroundCopyJob **job)
{
    IBackgroundCopyManager *manager;
    HRESULT hr;

    *job = NULL;
    /* the old manager is a proxy to the dead process; a failed activation
     * is worth another try now */
    release_managers();
    bits_manager_error = S_OK;
    if (FAILED(hr = get_manager(&manager))) return hr;
    if (FAILED(hr = IBackgroundCopyManager_GetJob(manager, id, job))) return hr;
    set_blanket(*job);
    return S_OK;
}

void guid_to_string(const GUID *id, WCHAR *buf, size_t count)
{
    if (!StringFromGUID2(id, buf, (int)count)) buf[0] = 0;
}

/* "{...}" or the same without braces */
static BOOL parse_guid(const WCHAR *text, GUID *id)
{
    WCHAR braced[40];
    size_t len = wcslen(text);

    if (len == 38 && text[0] == '{')
        wcscpy(braced, text);
    else if (len == 36)
        _snwprintf(braced, ARRAY_SIZE(braced), L"{%ls}", text);
    else
        return FALSE;
    braced[ARRAY_SIZE(braced) - 1] = 0;
    return CLSIDFromString(braced, id) == S_OK;
}

const WCHAR *job_state_name(BG_JOB_STATE state)
{
    static const WCHAR *names[] =
    {
        L"QUEUED", L"CONNECTING", L"TRANSFERRING", L"SUSPENDED", L"ERROR",
        L"TRANSIENT_ERROR", L"TRANSFERRED", L"ACKNOWLEDGED", L"CANCELLED",
    };
    return (unsigned int)state < ARRAY_SIZE(names) ? names[state] : L"UNKNOWN";
}

const WCHAR *download_state_name(DODownloadState state)
{
    static const WCHAR *names[] =
    {
        L"CREATED", L"TRANSFERRING", L"TRANSFERRED", L"FINALIZED", L"ABORTED", L"PAUSED",
    };
    return (unsigned int)state < ARRAY_SIZE(names) ? names[state] : L"UNKNOWN";
}

const WCHAR *priority_name(BG_JOB_PRIORITY priority)
{
    static const WCHAR *names[] = { L"FOREGROUND", L"HIGH", L"NORMAL", L"LOW" };
    return (unsigned int)priority < ARRAY_SIZE(names) ? names[priority] : L"UNKNOWN";
}

/* ------------------------------------------------------------ jobs by name */

static HRESULT job_has_name(IBackgroundCopyJob *job, const WCHAR *name, BOOL *match)
{
    WCHAR *display = NULL;
    HRESULT hr;

    *match = FALSE;
    hr = IBackgroundCopyJob_GetDisplayName(job, &display);
    if (FAILED(hr)) return hr;
    *match = !wcscmp(display, name);
    CoTaskMemFree(display);
    return S_OK;
}

/* Every job of the caller named name; the first in *job, the count in
 * *matches, and the ids of all in ids[] (up to max_ids). */
static HRESULT find_jobs_named(IBackgroundCopyManager *manager, const WCHAR *name,
                               IBackgroundCopyJob **job, ULONG *matches, GUID *ids, ULONG max_ids)
{
    IEnumBackgroundCopyJobs *jobs;
    IBackgroundCopyJob *candidate;
    BOOL match;
    HRESULT hr;

    *job = NULL;
    *matches = 0;
    hr = IBackgroundCopyManager_EnumJobs(manager, 0, &jobs);
    if (FAILED(hr)) return hr;
    set_blanket(jobs);
    while (IEnumBackgroundCopyJobs_Next(jobs, 1, &candidate, NULL) == S_OK)
    {
        set_blanket(candidate);
        /* a job that vanishes meanwhile simply does not match */
        if (FAILED(job_has_name(candidate, name, &match)) || !match)
        {
            IBackgroundCopyJob_Release(candidate);
            continue;
        }
        if (*matches < max_ids) IBackgroundCopyJob_GetId(candidate, &ids[*matches]);
        if (!(*matches)++) *job = candidate;
        else IBackgroundCopyJob_Release(candidate);
    }
    IEnumBackgroundCopyJobs_Release(jobs);
    return S_OK;
}

static int report_ambiguous(const WCHAR *name, ULONG matches, const GUID *ids, ULONG shown)
{
    WCHAR text[40];
    ULONG i;

    report_error(L"%lu jobs are named '%ls'; name one by its {GUID}:", matches, name);
    for (i = 0; i < shown; i++)
    {
        guid_to_string(&ids[i], text, ARRAY_SIZE(text));
        err_printf(L"  %ls\n", text);
    }
    return EXIT_FAILED;
}

int find_job(const WCHAR *spec, IBackgroundCopyJob **job, GUID *id, BOOL quiet_not_found)
{
    IBackgroundCopyManager *manager;
    GUID ids[8];
    ULONG matches;
    HRESULT hr;

    *job = NULL;
    if (FAILED(hr = get_manager(&manager)))
        return report_failure(hr, L"connecting to the Delivery Optimization service");
    if (parse_guid(spec, id))
    {
        hr = IBackgroundCopyManager_GetJob(manager, id, job);
        if (hr == DO_E_JOB_NOT_FOUND && quiet_not_found) return FIND_NOT_FOUND;
        if (FAILED(hr)) return report_failure(hr, L"finding job %ls", spec);
        set_blanket(*job);
        return EXIT_OK;
    }
    hr = find_jobs_named(manager, spec, job, &matches, ids, ARRAY_SIZE(ids));
    if (FAILED(hr)) return report_failure(hr, L"listing jobs");
    if (!matches && quiet_not_found) return FIND_NOT_FOUND;
    if (!matches) return report_failure(DO_E_JOB_NOT_FOUND, L"finding job '%ls'", spec);
    if (matches > 1)
    {
        IBackgroundCopyJob_Release(*job);
        *job = NULL;
        return report_ambiguous(spec, matches, ids, min(matches, ARRAY_SIZE(ids)));
    }
    *id = ids[0];
    return EXIT_OK;
}

/* ------------------------------------------------------------ downloads by id */

HRESULT find_download(const WCHAR *id, IDODownload **download)
{
    DO_DOWNLOAD_ENUM_CATEGORY category;
    IEnumUnknown *downloads;
    IDOManager *manager;
    IUnknown *item;
    HRESULT hr;

    *download = NULL;
    if (FAILED(hr = get_do_manager(&manager))) return hr;
    category.Property = DODownloadProperty_Id;
    category.Value = id;
    hr = IDOManager_EnumDownloads(manager, &category, &downloads);
    IDOManager_Release(manager);
    if (hr == DO_E_NO_DOWNLOADS) return DO_E_JOB_NOT_FOUND;
    if (FAILED(hr)) return hr;
    set_blanket(downloads);
    hr = IEnumUnknown_Next(downloads, 1, &item, NULL);
    IEnumUnknown_Release(downloads);
    if (hr != S_OK) return DO_E_JOB_NOT_FOUND;
    hr = IUnknown_QueryInterface(item, &IID_IDODownload, (void **)download);
    IUnknown_Release(item);
    if (SUCCEEDED(hr)) set_blanket(*download);
    return hr;
}

/* ------------------------------------------------------------ parsers */

BOOL full_path(const WCHAR *name, WCHAR *buf, size_t count)
{
    DWORD len = GetFullPathNameW(name, (DWORD)count, buf, NULL);
    return len && len < count;
}

/* A number: decimal or 0x-hex, with an optional K/M/G (binary) suffix. */
static BOOL parse_number(const WCHAR *text, size_t len, UINT64 *value)
{
    WCHAR buf[32], *end;
    unsigned int shift = 0;

    if (!len || len >= ARRAY_SIZE(buf)) return FALSE;
    memcpy(buf, text, len * sizeof(WCHAR));
    buf[len] = 0;
    switch (towupper(buf[len - 1]))
    {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    }
    if (shift) buf[--len] = 0;
    if (!len || buf[0] == '-' || buf[0] == '+') return FALSE;
    errno = 0;
    *value = _wcstoui64(buf, &end, 0);
    if (*end || errno) return FALSE;
    if (shift && *value > ((UINT64)-1 >> shift)) return FALSE;
    *value <<= shift;
    return TRUE;
}

/* One "OFFSET:LENGTH" or "OFFSET:eof". */
static BOOL parse_range(const WCHAR *text, size_t len, BG_FILE_RANGE *range)
{
    const WCHAR *colon = wmemchr(text, ':', len);
    size_t offset_len, length_len;

    if (!colon) return FALSE;
    offset_len = colon - text;
    length_len = len - offset_len - 1;
    if (!parse_number(text, offset_len, &range->InitialOffset)) return FALSE;
    if (length_len == 3 && !_wcsnicmp(colon + 1, L"eof", 3))
    {
        range->Length = BG_LENGTH_TO_EOF;
        return TRUE;
    }
    return parse_number(colon + 1, length_len, &range->Length);
}

BOOL parse_ranges(const WCHAR *verb, const WCHAR *text, BG_FILE_RANGE **ranges, DWORD *count)
{
    const WCHAR *p = text, *comma;
    DWORD n = 1, i;

    for (comma = text; *comma; comma++) if (*comma == ',') n++;
    if (!(*ranges = calloc(n, sizeof(**ranges))))
    {
        report_failure(E_OUTOFMEMORY, L"parsing --ranges");
        return FALSE;
    }
    for (i = 0; i < n; i++)
    {
        size_t len = (comma = wcschr(p, ',')) ? (size_t)(comma - p) : wcslen(p);
        if (!parse_range(p, len, &(*ranges)[i]))
        {
            usage_error(verb, L"bad range '%.*ls' in --ranges (want OFFSET:LENGTH or OFFSET:eof)",
                        (int)len, p);
            free(*ranges);
            *ranges = NULL;
            return FALSE;
        }
        p += len + 1;
    }
    *count = n;
    return TRUE;
}
