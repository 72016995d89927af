/*
 * doadmin: names and descriptions of error codes
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
 * A failure reads "0x80D02013 DO_E_INVALID_STATE: <description>".  The name
 * comes from a table generated at build time from
 * deliveryoptimizationerrors.h (do_error_names.h, see Makefile.am), so it
 * never falls behind the header; HTTP statuses carried in an HRESULT
 * (facility 25) read "HTTP 404".  The description is the service's own, from
 * IBackgroundCopyManager::GetErrorDescription, which knows the DO_E_* codes
 * that no system message table has; the system table is the fallback.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include "doadmin.h"

#ifndef FACILITY_HTTP
#define FACILITY_HTTP 25
#endif

struct code_name
{
    HRESULT code;
    const char *name;
};

static const struct code_name do_names[] =
{
#include "do_error_names.h"
};

/* Other codes a user of this tool meets: activation, RPC, files, WinHTTP. */
static const struct code_name other_names[] =
{
    { E_INVALIDARG, "E_INVALIDARG" },
    { E_ACCESSDENIED, "E_ACCESSDENIED" },
    { E_NOTIMPL, "E_NOTIMPL" },
    { E_NOINTERFACE, "E_NOINTERFACE" },
    { E_OUTOFMEMORY, "E_OUTOFMEMORY" },
    { E_FAIL, "E_FAIL" },
    { E_UNEXPECTED, "E_UNEXPECTED" },
    { E_NOT_SET, "E_NOT_SET" },
    { REGDB_E_CLASSNOTREG, "REGDB_E_CLASSNOTREG" },
    { CO_E_SERVER_EXEC_FAILURE, "CO_E_SERVER_EXEC_FAILURE" },
    { RPC_E_DISCONNECTED, "RPC_E_DISCONNECTED" },
    { HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE), "RPC_S_SERVER_UNAVAILABLE" },
    { HRESULT_FROM_WIN32(RPC_S_CALL_FAILED), "RPC_S_CALL_FAILED" },
    { HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER), "RPC_X_NULL_REF_POINTER" },
    { HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND), "ERROR_FILE_NOT_FOUND" },
    { HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND), "ERROR_PATH_NOT_FOUND" },
    { HRESULT_FROM_WIN32(ERROR_DISK_FULL), "ERROR_DISK_FULL" },
    { HRESULT_FROM_WIN32(ERROR_MR_MID_NOT_FOUND), "ERROR_MR_MID_NOT_FOUND" },
    { HRESULT_FROM_WIN32(12002), "ERROR_WINHTTP_TIMEOUT" },
    { HRESULT_FROM_WIN32(12005), "ERROR_WINHTTP_INVALID_URL" },
    { HRESULT_FROM_WIN32(12006), "ERROR_WINHTTP_UNRECOGNIZED_SCHEME" },
    { HRESULT_FROM_WIN32(12007), "ERROR_WINHTTP_NAME_NOT_RESOLVED" },
    { HRESULT_FROM_WIN32(12029), "ERROR_WINHTTP_CANNOT_CONNECT" },
    { HRESULT_FROM_WIN32(12030), "ERROR_WINHTTP_CONNECTION_ERROR" },
    { HRESULT_FROM_WIN32(12152), "ERROR_WINHTTP_INVALID_SERVER_RESPONSE" },
    { HRESULT_FROM_WIN32(12175), "ERROR_WINHTTP_SECURE_FAILURE" },
    { HRESULT_FROM_WIN32(WSAETIMEDOUT), "WSAETIMEDOUT" },
    { HRESULT_FROM_WIN32(WSAECONNREFUSED), "WSAECONNREFUSED" },
    { HRESULT_FROM_WIN32(WSAECONNRESET), "WSAECONNRESET" },
};

static const char *code_name(HRESULT code, const struct code_name *table, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++)
        if (table[i].code == code) return table[i].name;
    return NULL;
}

/* "DO_E_...", "HTTP 404", "E_...", or an empty string. */
static void name_of(HRESULT code, WCHAR *buf, size_t count)
{
    const char *name;

    buf[0] = 0;
    if (FAILED(code) && HRESULT_FACILITY(code) == FACILITY_HTTP && HRESULT_CODE(code) >= 100)
        _snwprintf(buf, count, L"HTTP %u", HRESULT_CODE(code));
    else if ((name = code_name(code, do_names, ARRAY_SIZE(do_names)))
             || (name = code_name(code, other_names, ARRAY_SIZE(other_names))))
        _snwprintf(buf, count, L"%hs", name);
    buf[count - 1] = 0;
}

/* Drops the line breaks and trailing blanks message tables end with, so the
 * description fits in the one-line error message. */
static void flatten(WCHAR *text)
{
    WCHAR *p;
    size_t len;

    for (p = text; *p; p++)
        if (*p == '\r' || *p == '\n' || *p == '\t') *p = ' ';
    len = wcslen(text);
    while (len && text[len - 1] == ' ') text[--len] = 0;
}

static BOOL service_text(HRESULT code, WCHAR *buf, size_t count)
{
    IBackgroundCopyManager *manager;
    WCHAR *text = NULL;
    HRESULT hr;

    if (FAILED(get_manager(&manager))) return FALSE;
    hr = IBackgroundCopyManager_GetErrorDescription(manager, code, GetUserDefaultUILanguage(), &text);
    if (FAILED(hr) || !text) return FALSE;
    _snwprintf(buf, count, L"%ls", text);
    buf[count - 1] = 0;
    CoTaskMemFree(text);
    return TRUE;
}

static BOOL system_text(HRESULT code, WCHAR *buf, size_t count)
{
    DWORD flags = FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS;

    /* WinHTTP's own texts live in its message table, not the system's */
    if (HRESULT_FACILITY(code) == FACILITY_WIN32 && HRESULT_CODE(code) >= 12000
        && HRESULT_CODE(code) < 12200)
    {
        HMODULE winhttp = LoadLibraryExW(L"winhttp.dll", NULL, LOAD_LIBRARY_AS_DATAFILE);
        if (winhttp && FormatMessageW(FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_IGNORE_INSERTS,
                                      winhttp, HRESULT_CODE(code), 0, buf, (DWORD)count, NULL))
        {
            FreeLibrary(winhttp);
            return TRUE;
        }
        if (winhttp) FreeLibrary(winhttp);
    }
    return FormatMessageW(flags, NULL, code, 0, buf, (DWORD)count, NULL) > 0;
}

void describe_hresult(HRESULT code, WCHAR *buf, size_t count)
{
    WCHAR name[64], text[512];

    name_of(code, name, ARRAY_SIZE(name));
    if (!service_text(code, text, ARRAY_SIZE(text)) && !system_text(code, text, ARRAY_SIZE(text)))
        text[0] = 0;
    flatten(text);
    if (name[0] && text[0])
        _snwprintf(buf, count, L"0x%08lX %ls: %ls", (unsigned long)code, name, text);
    else if (name[0] || text[0])
        _snwprintf(buf, count, L"0x%08lX %ls", (unsigned long)code, name[0] ? name : text);
    else
        _snwprintf(buf, count, L"0x%08lX", (unsigned long)code);
    buf[count - 1] = 0;
}

static void vreport(const WCHAR *prefix, const WCHAR *fmt, va_list args, const WCHAR *suffix)
{
    WCHAR message[1024];

    _vsnwprintf(message, ARRAY_SIZE(message), fmt, args);
    message[ARRAY_SIZE(message) - 1] = 0;
    err_printf(L"%ls%ls%ls\n", prefix, message, suffix);
}

int report_failure(HRESULT hr, const WCHAR *what_fmt, ...)
{
    WCHAR description[768], suffix[800];
    va_list args;

    describe_hresult(hr, description, ARRAY_SIZE(description));
    _snwprintf(suffix, ARRAY_SIZE(suffix), L" failed: %ls", description);
    suffix[ARRAY_SIZE(suffix) - 1] = 0;
    va_start(args, what_fmt);
    vreport(L"error: ", what_fmt, args, suffix);
    va_end(args);
    return EXIT_FAILED;
}

int report_error(const WCHAR *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    vreport(L"error: ", fmt, args, L"");
    va_end(args);
    return EXIT_FAILED;
}

int usage_error(const WCHAR *verb, const WCHAR *fmt, ...)
{
    WCHAR suffix[64];
    va_list args;

    _snwprintf(suffix, ARRAY_SIZE(suffix), L" (see doadmin %ls --help)", verb);
    suffix[ARRAY_SIZE(suffix) - 1] = 0;
    va_start(args, fmt);
    vreport(L"error: ", fmt, args, suffix);
    va_end(args);
    return EXIT_USAGE;
}
