/*
 * Delivery Optimization service: a strict reader of multipart/byteranges
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
 * The answer to a request for several ranges (RFC 9110 14.6, RFC 2046 5.1):
 * parts separated by CRLF "--" boundary, each with its own headers and a
 * Content-Range.  A part's length is known from its Content-Range, so its
 * bytes are taken by count, never searched for the boundary; the delimiter
 * must then follow at once.  Anything else (a part without a Content-Range,
 * a header line too long, a delimiter that does not come) is a framing error
 * and ends the body: nothing after it is trusted.
 */

#include "dosvc_private.h"
#include "http.h"
#include "byteranges.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

/* header bytes one part may carry before we stop believing it is a part */
#define MAX_PART_HEADERS 4096

static BOOL is_bchar(WCHAR c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && wcschr(L"'()+_,-./:=? ", c));
}

BOOL byteranges_init(struct byteranges *reader, const WCHAR *content_type)
{
    static const WCHAR type[] = L"multipart/byteranges";
    const WCHAR *p, *end;
    DWORD len;

    memset(reader, 0, sizeof(*reader));
    if (!content_type) return FALSE;
    p = content_type;
    while (*p == ' ' || *p == '\t') p++;
    if (wcsnicmp(p, type, ARRAY_SIZE(type) - 1)) return FALSE;
    p += ARRAY_SIZE(type) - 1;
    /* the parameters: look for boundary=, quoted or not */
    for (;;)
    {
        while (*p == ' ' || *p == '\t') p++;
        if (*p != ';') return FALSE;
        p++;
        while (*p == ' ' || *p == '\t') p++;
        if (!wcsnicmp(p, L"boundary=", 9)) break;
        /* another parameter: skip it (a quoted value may hold ';') */
        while (*p && *p != ';')
        {
            if (*p++ == '"')
            {
                while (*p && *p != '"') p++;
                if (*p) p++;
            }
        }
    }
    p += 9;
    if (*p == '"')
    {
        if (!(end = wcschr(++p, '"'))) return FALSE;
    }
    else
    {
        for (end = p; *end && *end != ';' && *end != ' ' && *end != '\t'; end++)
            ;
    }
    len = end - p;
    if (!len || len > 70 || p[len - 1] == ' ') return FALSE;
    memcpy(reader->delimiter, "\r\n--", 4);
    for (reader->delimiter_len = 4; p < end; p++)
    {
        if (!is_bchar(*p)) return FALSE;
        reader->delimiter[reader->delimiter_len++] = (char)*p;
    }
    reader->state = BYTERANGES_START;
    return TRUE;
}

BOOL byteranges_complete(const struct byteranges *reader)
{
    return reader->state == BYTERANGES_EPILOGUE;
}

static UINT64 parse_number(const char **s, BOOL *ok)
{
    UINT64 value = 0;

    if (**s < '0' || **s > '9') *ok = FALSE;
    for (; **s >= '0' && **s <= '9'; (*s)++)
    {
        if (value > (~(UINT64)0 - 9) / 10) *ok = FALSE;
        value = value * 10 + (**s - '0');
    }
    return value;
}

/* One header line of a part (without its CRLF). */
static BOOL header_line(struct byteranges *reader, const char *line)
{
    const char *p;
    BOOL ok = TRUE;

    if (_strnicmp(line, "Content-Range:", 14)) return TRUE;   /* Content-Type and others: not ours */
    if (reader->have_range) return FALSE;                      /* two of them */
    p = line + 14;
    while (*p == ' ' || *p == '\t') p++;
    if (_strnicmp(p, "bytes ", 6)) return FALSE;
    p += 6;
    while (*p == ' ') p++;
    reader->first = parse_number(&p, &ok);
    if (*p++ != '-') return FALSE;
    reader->last = parse_number(&p, &ok);
    if (*p++ != '/') return FALSE;
    if (*p == '*')
    {
        reader->total = HTTP_SIZE_UNKNOWN;
        p++;
    }
    else reader->total = parse_number(&p, &ok);
    while (*p == ' ' || *p == '\t') p++;
    if (!ok || *p || reader->last < reader->first) return FALSE;
    if (reader->total != HTTP_SIZE_UNKNOWN && reader->last >= reader->total) return FALSE;
    reader->have_range = TRUE;
    return TRUE;
}

static HRESULT framing_error(const char *what)
{
    WARN("multipart/byteranges: %s\n", what);
    return DO_E_HTTP_BLOCKSIZE_MISMATCH;
}

HRESULT byteranges_feed(struct byteranges *reader, const BYTE *data, DWORD size,
                        const struct byteranges_sink *sink, void *context)
{
    HRESULT hr;

    while (size)
    {
        switch (reader->state)
        {
        case BYTERANGES_START:
            /* the body may begin with the delimiter's CRLF or without it */
            reader->matched = data[0] == '-' ? 2 : 0;
            reader->state = BYTERANGES_DELIMITER;
            break;

        case BYTERANGES_DELIMITER:
            if (*data != (BYTE)reader->delimiter[reader->matched]) return framing_error("no delimiter where one belongs");
            data++;
            size--;
            if (++reader->matched < reader->delimiter_len) break;
            /* a delimiter after a part's bytes confirms them */
            if (reader->parts && sink->part_end && FAILED(hr = sink->part_end(context))) return hr;
            reader->state = BYTERANGES_AFTER;
            reader->matched = 0;
            break;

        case BYTERANGES_AFTER:
            reader->after[reader->matched++] = *data++;
            size--;
            if (reader->matched < 2) break;
            if (!memcmp(reader->after, "--", 2))
            {
                if (!reader->parts) return framing_error("no parts");
                reader->state = BYTERANGES_EPILOGUE;
            }
            else if (!memcmp(reader->after, "\r\n", 2))
            {
                reader->state = BYTERANGES_HEADERS;
                reader->line_len = reader->header_bytes = 0;
                reader->have_range = FALSE;
            }
            else return framing_error("bad bytes after a delimiter");
            break;

        case BYTERANGES_HEADERS:
            if (++reader->header_bytes > MAX_PART_HEADERS) return framing_error("part headers too long");
            if (*data != '\n')
            {
                if (reader->line_len == sizeof(reader->line) - 1) return framing_error("part header line too long");
                if (!*data) return framing_error("NUL in part headers");
                reader->line[reader->line_len++] = *data++;
                size--;
                break;
            }
            data++;
            size--;
            if (!reader->line_len || reader->line[reader->line_len - 1] != '\r')
                return framing_error("bare LF in part headers");
            reader->line[--reader->line_len] = 0;
            if (reader->line_len)
            {
                if (!header_line(reader, reader->line)) return framing_error("bad Content-Range in a part");
                reader->line_len = 0;
                break;
            }
            /* the empty line: the part's bytes follow */
            if (!reader->have_range) return framing_error("a part without Content-Range");
            if (FAILED(hr = sink->part_begin(context, reader->first, reader->last, reader->total))) return hr;
            reader->parts++;
            reader->pos = reader->first;
            reader->state = BYTERANGES_DATA;
            break;

        case BYTERANGES_DATA:
        {
            UINT64 left = reader->last - reader->pos + 1;
            DWORD take = left < size ? (DWORD)left : size;

            if (FAILED(hr = sink->part_data(context, reader->pos, data, take))) return hr;
            data += take;
            size -= take;
            reader->pos += take;
            if (reader->pos > reader->last)
            {
                reader->state = BYTERANGES_DELIMITER;
                reader->matched = 0;
            }
            break;
        }

        case BYTERANGES_EPILOGUE:
            reader->epilogue += size;
            return S_OK;
        }
    }
    return S_OK;
}
