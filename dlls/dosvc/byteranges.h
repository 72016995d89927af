/*
 * Delivery Optimization service: a strict reader of multipart/byteranges
 *
 * Copyright 2026 the wine-dosvc authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef DOSVC_BYTERANGES_H
#define DOSVC_BYTERANGES_H

/* What the reader finds in a body, in order: a part's Content-Range, its
 * bytes (in as many calls as reads it spans), and the delimiter after it,
 * which is what confirms that the part held exactly the bytes it announced. */
struct byteranges_sink
{
    HRESULT (*part_begin)(void *context, UINT64 first, UINT64 last, UINT64 total);
    HRESULT (*part_data)(void *context, UINT64 offset, const BYTE *data, DWORD size);
    HRESULT (*part_end)(void *context);
};

enum byteranges_state
{
    BYTERANGES_START,       /* before the first delimiter */
    BYTERANGES_DELIMITER,   /* matching CRLF "--" boundary */
    BYTERANGES_AFTER,       /* the two bytes after a delimiter: CRLF or "--" */
    BYTERANGES_HEADERS,     /* a part's header lines */
    BYTERANGES_DATA,        /* a part's bytes */
    BYTERANGES_EPILOGUE     /* after the closing delimiter: ignored */
};

struct byteranges
{
    char delimiter[2 + 2 + 70 + 1];    /* CRLF "--" boundary */
    DWORD delimiter_len;
    enum byteranges_state state;
    DWORD matched;                     /* of the delimiter, or of the bytes after it */
    char after[2];
    char line[512];                    /* the header line being read */
    DWORD line_len;
    DWORD header_bytes;                /* of the current part, bounded */
    BOOL have_range;
    UINT64 first, last, total, pos;    /* the current part */
    ULONG parts;
    UINT64 epilogue;                   /* bytes after the closing delimiter */
};

/* The boundary from a Content-Type "multipart/byteranges; boundary=..."
 * (RFC 2046 rules); FALSE if the type is another or the boundary is invalid. */
BOOL byteranges_init(struct byteranges *reader, const WCHAR *content_type);
/* Feed body bytes.  DO_E_HTTP_BLOCKSIZE_MISMATCH on any framing error, or
 * the first failure a sink call returns. */
HRESULT byteranges_feed(struct byteranges *reader, const BYTE *data, DWORD size,
                        const struct byteranges_sink *sink, void *context);
/* The closing delimiter came. */
BOOL byteranges_complete(const struct byteranges *reader);

#endif /* DOSVC_BYTERANGES_H */
