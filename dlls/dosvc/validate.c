/*
 * Delivery Optimization service: what clients, servers and the job store
 * hand us, checked before it reaches the wire or the disk
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
 * One place for the rules, used by every entry point (AddFile and its
 * relatives, SetRemoteName, ReplaceRemotePrefix, IDODownload properties,
 * records read back from the store) and again by both HTTP clients right
 * before they build a request, so no path can skip them:
 *
 * - a URL holds no control character (C0, DEL, C1): a CR or LF in a request
 *   target would end the request line and let the rest pass for headers or a
 *   second request;
 * - custom headers are "token: value" lines separated by CRLF (one trailing
 *   CRLF is accepted), values without control characters other than HTAB,
 *   and none of the headers that frame or route the message (Host,
 *   Content-Length, Transfer-Encoding): nothing a client sets may end the
 *   header block or make the server read the next request as a body;
 * - a request target goes on the wire as RFC 3986 wants it: UTF-8, every
 *   byte that may not appear raw as %XX, valid %XX escapes kept as they are;
 * - a local name is never a DOS device (CON, NUL, COM1...), which CreateFile
 *   would open instead of a file.
 */

#include "dosvc_private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

#define MAX_REMOTE_NAME 2200

/* C0 controls, DEL and the C1 controls */
static BOOL is_control(WCHAR c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

static const WCHAR *find_char(const WCHAR *s, size_t len, WCHAR c)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (s[i] == c) return s + i;
    return NULL;
}

static BOOL has_control(const WCHAR *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (is_control(s[i])) return TRUE;
    return FALSE;
}

HRESULT url_check(const WCHAR *url, size_t len)
{
    URL_COMPONENTS parts;

    if (!url || !len || len > MAX_REMOTE_NAME) return E_INVALIDARG;
    /* a NUL inside a counted string (a BSTR) is a control character too */
    if (has_control(url, len))
    {
        WARN("refusing a URL with a control character: %s\n", wine_dbgstr_wn(url, (int)len));
        return E_INVALIDARG;
    }
    memset(&parts, 0, sizeof(parts));
    parts.dwStructSize = sizeof(parts);
    parts.dwSchemeLength = parts.dwHostNameLength = parts.dwUrlPathLength = (DWORD)-1;
    /* DO downloads over HTTP(S) only */
    if (!WinHttpCrackUrl(url, (DWORD)len, 0, &parts) || !parts.dwHostNameLength ||
        (parts.nScheme != INTERNET_SCHEME_HTTP && parts.nScheme != INTERNET_SCHEME_HTTPS))
        return E_INVALIDARG;
    /* the host goes into a Host header and a DNS query as it is */
    if (find_char(parts.lpszHostName, parts.dwHostNameLength, ' '))
        return E_INVALIDARG;
    return S_OK;
}

BOOL text_is_clean(const WCHAR *text)
{
    for (; *text; text++)
        if (is_control(*text) && *text != '\t') return FALSE;
    return TRUE;
}

/* RFC 9110 tchar */
static BOOL is_token_char(WCHAR c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && c < 0x80 && strchr("!#$%&'*+-.^_`|~", (char)c));
}

/* Headers a client may not set: they frame or route the message. */
static BOOL is_reserved_header(const WCHAR *name, size_t len)
{
    static const WCHAR *const reserved[] = { L"Host", L"Content-Length", L"Transfer-Encoding" };
    unsigned int i;

    for (i = 0; i < ARRAY_SIZE(reserved); i++)
        if (len == (size_t)lstrlenW(reserved[i]) && !wcsnicmp(name, reserved[i], len)) return TRUE;
    return FALSE;
}

HRESULT headers_check(const WCHAR *headers, size_t len)
{
    const WCHAR *line, *end;

    if (!headers || !len) return S_OK;
    /* one CRLF after the last line is fine (clients often end every line so) */
    if (len >= 2 && headers[len - 2] == '\r' && headers[len - 1] == '\n') len -= 2;
    if (!len) goto bad;
    end = headers + len;
    for (line = headers; line <= end; )
    {
        const WCHAR *eol = line, *p;

        while (eol < end && *eol != '\r' && *eol != '\n') eol++;
        /* a line: a token, a colon, a value of visible characters, SP and HTAB */
        for (p = line; p < eol && is_token_char(*p); p++);
        if (p == line || p == eol || *p != ':') goto bad;
        if (is_reserved_header(line, p - line)) goto bad;
        for (p++; p < eol; p++)
            if (is_control(*p) && *p != '\t') goto bad;
        if (eol == end) return S_OK;
        /* lines are separated by CRLF, never by a bare CR or LF */
        if (eol + 1 >= end || eol[0] != '\r' || eol[1] != '\n') goto bad;
        line = eol + 2;
        /* an empty line here would end the header block */
        if (line == end) goto bad;
    }
bad:
    WARN("refusing custom headers %s\n", wine_dbgstr_wn(headers, (int)len));
    return E_INVALIDARG;
}

/* Characters RFC 3986 lets a path or query hold as they are. */
static BOOL is_target_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$&'()*+,;=:@/?", c));
}

static BOOL is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char *url_wire_target(const WCHAR *target, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const WCHAR *fragment;
    char *utf8, *out, *p;
    int size, i;

    /* the fragment is the client's business, never the server's */
    if ((fragment = find_char(target, len, '#'))) len = fragment - target;
    size = len ? WideCharToMultiByte(CP_UTF8, 0, target, (int)len, NULL, 0, NULL, NULL) : 0;
    if (!(utf8 = malloc(size + 1))) return NULL;
    if (size) WideCharToMultiByte(CP_UTF8, 0, target, (int)len, utf8, size, NULL, NULL);
    /* at worst every byte becomes %XX, plus a leading slash */
    if (!(out = malloc(size * 3 + 2)))
    {
        free(utf8);
        return NULL;
    }
    p = out;
    if (!size || utf8[0] != '/') *p++ = '/';
    for (i = 0; i < size; i++)
    {
        unsigned char c = utf8[i];

        if (c == '%' && i + 2 < size && is_hex(utf8[i + 1]) && is_hex(utf8[i + 2]))
            *p++ = c;                  /* an escape already: kept as it is */
        else if (c != '%' && is_target_char(c))
            *p++ = c;
        else
        {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = 0;
    free(utf8);
    return out;
}

BOOL path_is_device(const WCHAR *path)
{
    static const WCHAR *const names[] = { L"CON", L"PRN", L"AUX", L"NUL", L"CONIN$", L"CONOUT$" };
    const WCHAR *name = path, *p;
    size_t len;
    unsigned int i;

    for (p = path; *p; p++)
        if (*p == '\\' || *p == '/') name = p + 1;
    /* the device is named by what comes before an extension or a stream name,
     * trailing spaces ignored: "nul", "NUL.txt", "nul .tar.gz", "nul:" */
    for (len = 0; name[len] && name[len] != '.' && name[len] != ':'; len++);
    while (len && name[len - 1] == ' ') len--;
    for (i = 0; i < ARRAY_SIZE(names); i++)
        if (len == (size_t)lstrlenW(names[i]) && !wcsnicmp(name, names[i], len)) return TRUE;
    /* COM1-COM9, LPT1-LPT9, and the superscript digits Windows also takes */
    if (len == 4 && (!wcsnicmp(name, L"COM", 3) || !wcsnicmp(name, L"LPT", 3)) &&
        ((name[3] >= '1' && name[3] <= '9') || name[3] == 0x00b9 || name[3] == 0x00b2 || name[3] == 0x00b3))
        return TRUE;
    return FALSE;
}
