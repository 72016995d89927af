/*
 * doadmin: the IDOManager / IDODownload verb
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
 * The newer generation of the API: one IDODownload per file, configured
 * through properties, started with a DO_DOWNLOAD_RANGES_INFO (RangeCount 0
 * for the whole file, as Microsoft's clients do) and finalized once
 * transferred, which is when the file gets its final name.
 */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include "doadmin.h"

static HRESULT set_string_property(IDODownload *download, DODownloadProperty id, const WCHAR *value)
{
    VARIANT var;
    HRESULT hr;

    V_VT(&var) = VT_BSTR;
    if (!(V_BSTR(&var) = SysAllocString(value))) return E_OUTOFMEMORY;
    hr = IDODownload_SetProperty(download, id, &var);
    VariantClear(&var);
    return hr;
}

static HRESULT set_bool_property(IDODownload *download, DODownloadProperty id, BOOL value)
{
    VARIANT var;

    V_VT(&var) = VT_BOOL;
    V_BOOL(&var) = value ? VARIANT_TRUE : VARIANT_FALSE;
    return IDODownload_SetProperty(download, id, &var);
}

/* A string property of the download, or "(unknown)". */
static void get_string_property(IDODownload *download, DODownloadProperty id, WCHAR *buf,
                                size_t count)
{
    VARIANT var;

    VariantInit(&var);
    wcscpy(buf, L"(unknown)");
    if (SUCCEEDED(IDODownload_GetProperty(download, id, &var)) && V_VT(&var) == VT_BSTR
        && V_BSTR(&var))
    {
        _snwprintf(buf, count, L"%ls", V_BSTR(&var));
        buf[count - 1] = 0;
    }
    VariantClear(&var);
}

/* HttpCustomHeaders takes pre-formatted header lines, each ending in CRLF. */
static WCHAR *join_headers(const struct args *args)
{
    size_t size = 1;
    WCHAR *text;
    int i;

    for (i = 0; i < args->seen[OPT_HEADER]; i++) size += wcslen(args->values[OPT_HEADER][i]) + 2;
    if (!(text = malloc(size * sizeof(WCHAR)))) return NULL;
    text[0] = 0;
    for (i = 0; i < args->seen[OPT_HEADER]; i++)
    {
        wcscat(text, args->values[OPT_HEADER][i]);
        wcscat(text, L"\r\n");
    }
    return text;
}

static BOOL headers_valid(const struct args *args)
{
    const WCHAR *header, *colon;
    int i;

    for (i = 0; i < args->seen[OPT_HEADER]; i++)
    {
        header = args->values[OPT_HEADER][i];
        colon = wcschr(header, ':');
        if (!colon || colon == header || wcspbrk(header, L"\r\n"))
        {
            usage_error(args->verb, L"bad header '%ls' (want \"Name: value\")", header);
            return FALSE;
        }
    }
    return TRUE;
}

/* A DO_DOWNLOAD_RANGES_INFO with room for count ranges (free() it). */
static DO_DOWNLOAD_RANGES_INFO *make_ranges_info(const BG_FILE_RANGE *ranges, DWORD count)
{
    size_t size = offsetof(DO_DOWNLOAD_RANGES_INFO, Ranges) + count * sizeof(DO_DOWNLOAD_RANGE);
    DO_DOWNLOAD_RANGES_INFO *info;
    DWORD i;

    if (size < sizeof(*info)) size = sizeof(*info);
    if (!(info = calloc(1, size))) return NULL;
    info->RangeCount = count;
    for (i = 0; i < count; i++)
    {
        info->Ranges[i].Offset = ranges[i].InitialOffset;
        info->Ranges[i].Length = ranges[i].Length;   /* BG_LENGTH_TO_EOF == DO_LENGTH_TO_EOF */
    }
    return info;
}

static int configure_download(IDODownload *download, const struct args *args, const WCHAR *path)
{
    WCHAR *headers;
    HRESULT hr;

    if (FAILED(hr = set_string_property(download, DODownloadProperty_Uri, args->pos[0])))
        return report_failure(hr, L"setting the download's Uri to %ls", args->pos[0]);
    if (FAILED(hr = set_string_property(download, DODownloadProperty_LocalPath, path)))
        return report_failure(hr, L"setting the download's LocalPath to %ls", path);
    if (args->seen[OPT_FOREGROUND]
        && FAILED(hr = set_bool_property(download, DODownloadProperty_ForegroundPriority, TRUE)))
        return report_failure(hr, L"setting the download's ForegroundPriority");
    if (!args->seen[OPT_HEADER]) return EXIT_OK;
    if (!(headers = join_headers(args))) return report_failure(E_OUTOFMEMORY, L"setting headers");
    hr = set_string_property(download, DODownloadProperty_HttpCustomHeaders, headers);
    free(headers);
    if (FAILED(hr)) return report_failure(hr, L"setting the download's HttpCustomHeaders");
    return EXIT_OK;
}

static void print_download_summary(IDODownload *download, ULONGLONG start, const WCHAR *path)
{
    double seconds = (GetTickCount64() - start) / 1000.0;
    DO_DOWNLOAD_STATUS status;
    WCHAR size[32], rate[32];

    if (SUCCEEDED(IDODownload_GetStatus(download, &status)))
    {
        format_bytes(size, ARRAY_SIZE(size), status.BytesTransferred);
        format_bytes(rate, ARRAY_SIZE(rate),
                     seconds > 0.0 ? (UINT64)(status.BytesTransferred / seconds) : 0);
        out_printf(L"downloaded %ls (%I64u bytes) in %.1f s (%ls/s)\n", size,
                   status.BytesTransferred, seconds, rate);
    }
    if (path) out_printf(L"saved %ls\n", path);
}

/* Waits, then finalizes; a failure aborts the download so that DO can drop
 * what it holds for it, an interruption leaves it paused. */
static int finish_download(IDODownload *download, const WCHAR *id, const WCHAR *path)
{
    ULONGLONG start = GetTickCount64();
    HRESULT hr;
    int status;

    status = wait_for_download(download, id, L"download");
    if (status == EXIT_OK)
    {
        if (FAILED(hr = IDODownload_Finalize(download)))
            status = report_failure(hr, L"finalizing download %ls", id);
        else
            print_download_summary(download, start, path);
    }
    if (status == EXIT_FAILED && SUCCEEDED(IDODownload_Abort(download)))
        err_printf(L"aborted download %ls\n", id);
    return status;
}

static int start_download(IDODownload *download, const struct args *args, const WCHAR *path,
                          const BG_FILE_RANGE *ranges, DWORD range_count)
{
    DO_DOWNLOAD_RANGES_INFO *info;
    WCHAR id[128];
    HRESULT hr;
    int status;

    if ((status = configure_download(download, args, path)) != EXIT_OK) return status;
    if (!(info = make_ranges_info(ranges, range_count)))
        return report_failure(E_OUTOFMEMORY, L"starting the download");
    hr = IDODownload_Start(download, info);
    free(info);
    if (FAILED(hr))
    {
        IDODownload_Abort(download);
        return report_failure(hr, L"starting the download of %ls", args->pos[0]);
    }
    get_string_property(download, DODownloadProperty_Id, id, ARRAY_SIZE(id));
    out_printf(L"download %ls\n%ls -> %ls\n", id, args->pos[0], path);
    return finish_download(download, id, path);
}

int cmd_download(const struct args *args)
{
    BG_FILE_RANGE *ranges = NULL;
    IDODownload *download;
    IDOManager *manager;
    WCHAR path[MAX_PATH];
    DWORD range_count = 0;
    const WCHAR *value;
    HRESULT hr;
    int status;

    if (!headers_valid(args)) return EXIT_USAGE;
    if (!full_path(args->pos[1], path, ARRAY_SIZE(path)))
        return usage_error(args->verb, L"bad local file name '%ls'", args->pos[1]);
    if ((value = option_value(args, OPT_RANGES))
        && !parse_ranges(args->verb, value, &ranges, &range_count))
        return EXIT_USAGE;
    if (FAILED(hr = get_do_manager(&manager)))
    {
        free(ranges);
        return report_failure(hr, L"creating the IDOManager of the Delivery Optimization service");
    }
    hr = IDOManager_CreateDownload(manager, &download);
    IDOManager_Release(manager);
    if (FAILED(hr))
    {
        free(ranges);
        return report_failure(hr, L"creating a download");
    }
    set_blanket(download);
    status = start_download(download, args, path, ranges, range_count);
    IDODownload_Release(download);
    free(ranges);
    return status;
}

/* ------------------------------------------------------------ resume, cancel */

/* For "doadmin resume/cancel JOB" when JOB is no BITS-style job. */
static int lookup_download(const WCHAR *spec, IDODownload **download)
{
    HRESULT hr = find_download(spec, download);

    if (SUCCEEDED(hr)) return EXIT_OK;
    /* no IDOManager at all means no such download either */
    if (hr == DO_E_JOB_NOT_FOUND || hr == E_NOINTERFACE || hr == REGDB_E_CLASSNOTREG)
        return report_failure(DO_E_JOB_NOT_FOUND, L"finding job %ls", spec);
    return report_failure(hr, L"finding download %ls", spec);
}

int resume_download(const WCHAR *spec)
{
    IDODownload *download;
    WCHAR path[MAX_PATH];
    HRESULT hr;
    int status;

    if ((status = lookup_download(spec, &download)) != EXIT_OK) return status;
    get_string_property(download, DODownloadProperty_LocalPath, path, ARRAY_SIZE(path));
    /* NULL: go on with the ranges given at the first Start */
    if (FAILED(hr = IDODownload_Start(download, NULL)))
        status = report_failure(hr, L"resuming download %ls", spec);
    else
        status = finish_download(download, spec, path);
    IDODownload_Release(download);
    return status;
}

int cancel_download(const WCHAR *spec)
{
    IDODownload *download;
    HRESULT hr;
    int status;

    if ((status = lookup_download(spec, &download)) != EXIT_OK) return status;
    hr = IDODownload_Abort(download);
    IDODownload_Release(download);
    if (FAILED(hr)) return report_failure(hr, L"aborting download %ls", spec);
    out_printf(L"aborted download %ls\n", spec);
    return EXIT_OK;
}
