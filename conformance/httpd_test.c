/*
 * Self-test of the loopback HTTP/1.1 test server
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
 * The other tests trust this server to behave exactly as documented in
 * httpd.h, so it is checked here with the same client stack the service
 * uses (WinHTTP), plus raw sockets where WinHTTP would hide the details.
 */

#include <winsock2.h>
#include <windows.h>
#include <winhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "test.h"

#define SMALL_SIZE  (1024 * 1024 + 123)
#define BIG_SIZE    (256ull * 1024 * 1024)
#define READ_SIZE   (1024 * 1024)
#define MAX_BODY    (64 * 1024 * 1024)

static struct httpd *server;
static HINTERNET session;
static HINTERNET connection;

struct reply
{
    DWORD status;
    char *headers;          /* raw response headers, CRLF separated */
    unsigned char *body;
    size_t len;
    BOOL complete;          /* the body was read to its end without error */
    DWORD error;            /* GetLastError() of the failing call, or 0 */
};

static WCHAR *to_wide(const char *s)
{
    int len = MultiByteToWideChar(CP_ACP, 0, s, -1, NULL, 0);
    WCHAR *w = malloc(len * sizeof(WCHAR));

    MultiByteToWideChar(CP_ACP, 0, s, -1, w, len);
    return w;
}

static char *to_narrow(const WCHAR *w)
{
    int len = WideCharToMultiByte(CP_ACP, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = malloc(len);

    WideCharToMultiByte(CP_ACP, 0, w, -1, s, len, NULL, NULL);
    return s;
}

static void free_reply(struct reply *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Value of a response header, or NULL; the result stays valid until the
 * next call. */
static const char *reply_header(const struct reply *r, const char *name)
{
    static char value[512];
    size_t name_len = strlen(name);
    const char *line = r->headers;

    while (line && *line)
    {
        const char *end = strstr(line, "\r\n");

        if (!end) end = line + strlen(line);
        if ((size_t)(end - line) > name_len && line[name_len] == ':' && !_strnicmp(line, name, name_len))
        {
            const char *v = line + name_len + 1;

            while (*v == ' ') v++;
            snprintf(value, sizeof(value), "%.*s", (int)(end - v), v);
            return value;
        }
        line = *end ? end + 2 : end;
    }
    return NULL;
}

static HINTERNET open_request(HINTERNET con, const char *verb, const char *path,
                              const char *headers, DWORD receive_timeout)
{
    WCHAR *wverb = to_wide(verb), *wpath = to_wide(path);
    HINTERNET req = WinHttpOpenRequest(con, wverb, wpath, NULL, WINHTTP_NO_REFERER,
                                       WINHTTP_DEFAULT_ACCEPT_TYPES, 0);

    free(wverb);
    free(wpath);
    if (!req) return NULL;
    if (receive_timeout) WinHttpSetTimeouts(req, 5000, 5000, 5000, receive_timeout);
    if (headers)
    {
        WCHAR *wheaders = to_wide(headers);

        WinHttpAddRequestHeaders(req, wheaders, (DWORD)-1, WINHTTP_ADDREQ_FLAG_ADD);
        free(wheaders);
    }
    return req;
}

static void read_reply_head(HINTERNET req, struct reply *r)
{
    DWORD size = sizeof(r->status);
    WCHAR *raw;

    WinHttpQueryHeaders(req, WINHTTP_QUERY_STATUS_CODE | WINHTTP_QUERY_FLAG_NUMBER,
                        WINHTTP_HEADER_NAME_BY_INDEX, &r->status, &size, WINHTTP_NO_HEADER_INDEX);
    size = 0;
    WinHttpQueryHeaders(req, WINHTTP_QUERY_RAW_HEADERS_CRLF, WINHTTP_HEADER_NAME_BY_INDEX,
                        NULL, &size, WINHTTP_NO_HEADER_INDEX);
    raw = calloc(1, size + sizeof(WCHAR));
    if (WinHttpQueryHeaders(req, WINHTTP_QUERY_RAW_HEADERS_CRLF, WINHTTP_HEADER_NAME_BY_INDEX,
                            raw, &size, WINHTTP_NO_HEADER_INDEX))
        r->headers = to_narrow(raw);
    else
        r->headers = calloc(1, 1);
    free(raw);
}

static void read_reply_body(HINTERNET req, struct reply *r)
{
    size_t cap = 0;

    for (;;)
    {
        DWORD n = 0;

        if (r->len + READ_SIZE > cap)
        {
            cap = cap ? cap * 2 : 2 * READ_SIZE;
            r->body = realloc(r->body, cap);
        }
        if (!WinHttpReadData(req, r->body + r->len, READ_SIZE, &n))
        {
            r->error = GetLastError();
            return;
        }
        if (!n) break;
        r->len += n;
        if (r->len > MAX_BODY) return;
    }
    r->complete = TRUE;
}

/* Runs one request on the given connection and collects the reply. */
static BOOL fetch_on(HINTERNET con, const char *verb, const char *path, const char *headers,
                     DWORD receive_timeout, struct reply *r)
{
    HINTERNET req = open_request(con, verb, path, headers, receive_timeout);

    memset(r, 0, sizeof(*r));
    if (!req)
    {
        r->error = GetLastError();
        return FALSE;
    }
    if (!WinHttpSendRequest(req, WINHTTP_NO_ADDITIONAL_HEADERS, 0, WINHTTP_NO_REQUEST_DATA, 0, 0, 0)
        || !WinHttpReceiveResponse(req, NULL))
    {
        r->error = GetLastError();
        WinHttpCloseHandle(req);
        return FALSE;
    }
    read_reply_head(req, r);
    read_reply_body(req, r);
    WinHttpCloseHandle(req);
    return TRUE;
}

static BOOL fetch(const char *path, const char *headers, struct reply *r)
{
    return fetch_on(connection, "GET", path, headers, 0, r);
}

static BOOL body_is_pattern(const char *name, unsigned long long offset, const unsigned char *data, size_t len)
{
    unsigned char expect[4096];
    size_t done = 0;

    while (done < len)
    {
        size_t n = len - done < sizeof(expect) ? len - done : sizeof(expect);

        httpd_pattern_fill(name, offset + done, expect, n);
        if (memcmp(expect, data + done, n)) return FALSE;
        done += n;
    }
    return TRUE;
}

static void test_pattern(void)
{
    unsigned char buf[64];
    unsigned int i, differ = 0;

    httpd_pattern_fill("gen", 5, buf, sizeof(buf));
    for (i = 0; i < sizeof(buf); i++)
        ok(buf[i] == httpd_pattern_byte("gen", 5 + i), "byte %u differs\n", i);
    for (i = 0; i < sizeof(buf); i++)
        if (httpd_pattern_byte("gen", i) != httpd_pattern_byte("gen2", i)) differ++;
    ok(differ > 32, "patterns of different names should differ, %u bytes did\n", differ);
    for (i = 0, differ = 0; i < sizeof(buf); i++)
        if (httpd_pattern_byte("gen", i) != httpd_pattern_byte("gen", i + 1)) differ++;
    ok(differ > 32, "a shifted pattern should not match, %u bytes differ\n", differ);
}

static void test_full_get(void)
{
    static const char text[] = "hello, file";
    struct reply r;
    char expect[64];

    fetch("/gen", NULL, &r);
    ok(r.status == 200, "status %lu\n", r.status);
    ok(r.complete && r.len == SMALL_SIZE, "got %Iu bytes, complete %d, error %lu\n", r.len, r.complete, r.error);
    ok(body_is_pattern("gen", 0, r.body, r.len), "body differs from the pattern\n");
    sprintf(expect, "%u", SMALL_SIZE);
    ok(reply_header(&r, "Content-Length") && !strcmp(reply_header(&r, "Content-Length"), expect),
       "Content-Length %s\n", reply_header(&r, "Content-Length"));
    ok(reply_header(&r, "Last-Modified") && !strcmp(reply_header(&r, "Last-Modified"), HTTPD_LAST_MODIFIED),
       "Last-Modified %s\n", reply_header(&r, "Last-Modified"));
    ok(reply_header(&r, "ETag") && reply_header(&r, "ETag")[0] == '"', "ETag %s\n", reply_header(&r, "ETag"));
    ok(reply_header(&r, "Accept-Ranges") && !strcmp(reply_header(&r, "Accept-Ranges"), "bytes"),
       "Accept-Ranges %s\n", reply_header(&r, "Accept-Ranges"));
    free_reply(&r);

    httpd_add_file(server, "file.txt", text, sizeof(text) - 1);
    fetch("/file.txt", NULL, &r);
    ok(r.status == 200 && r.len == sizeof(text) - 1 && !memcmp(r.body, text, r.len),
       "status %lu, %Iu bytes\n", r.status, r.len);
    free_reply(&r);

    fetch("/file.txt?etag=custom", NULL, &r);
    ok(reply_header(&r, "ETag") && !strcmp(reply_header(&r, "ETag"), "\"custom\""),
       "ETag %s\n", reply_header(&r, "ETag"));
    free_reply(&r);

    fetch_on(connection, "HEAD", "/gen", NULL, 0, &r);
    ok(r.status == 200 && r.len == 0, "HEAD: status %lu, %Iu bytes\n", r.status, r.len);
    sprintf(expect, "%u", SMALL_SIZE);
    ok(reply_header(&r, "Content-Length") && !strcmp(reply_header(&r, "Content-Length"), expect),
       "HEAD Content-Length %s\n", reply_header(&r, "Content-Length"));
    free_reply(&r);

    fetch("/missing", NULL, &r);
    ok(r.status == 404, "missing resource: status %lu\n", r.status);
    free_reply(&r);
}

static void check_range(const char *range, unsigned long long start, unsigned long long len)
{
    char header[64], expect[80];
    struct reply r;

    sprintf(header, "Range: %s", range);
    fetch("/gen", header, &r);
    ok(r.status == 206, "%s: status %lu\n", range, r.status);
    ok(r.complete && r.len == len, "%s: got %Iu bytes\n", range, r.len);
    ok(body_is_pattern("gen", start, r.body, r.len), "%s: wrong bytes\n", range);
    sprintf(expect, "bytes %llu-%llu/%u", start, start + len - 1, SMALL_SIZE);
    ok(reply_header(&r, "Content-Range") && !strcmp(reply_header(&r, "Content-Range"), expect),
       "%s: Content-Range %s\n", range, reply_header(&r, "Content-Range"));
    free_reply(&r);
}

static void test_ranges(void)
{
    char header[64], expect[64], etag[128];
    struct reply r;

    check_range("bytes=100-199", 100, 100);
    check_range("bytes=1000000-", 1000000, SMALL_SIZE - 1000000);
    check_range("bytes=-500", SMALL_SIZE - 500, 500);
    check_range("bytes=5-99999999", 5, SMALL_SIZE - 5);

    sprintf(header, "Range: bytes=%u-", SMALL_SIZE);
    fetch("/gen", header, &r);
    ok(r.status == 416, "unsatisfiable: status %lu\n", r.status);
    sprintf(expect, "bytes */%u", SMALL_SIZE);
    ok(reply_header(&r, "Content-Range") && !strcmp(reply_header(&r, "Content-Range"), expect),
       "unsatisfiable: Content-Range %s\n", reply_header(&r, "Content-Range"));
    free_reply(&r);

    fetch("/gen?norange=1", "Range: bytes=0-9", &r);
    ok(r.status == 200 && r.len == SMALL_SIZE, "norange: status %lu, %Iu bytes\n", r.status, r.len);
    free_reply(&r);

    fetch("/gen", "Range: bytes=0-9,20-29", &r);
    ok(r.status == 206 && reply_header(&r, "Content-Type") &&
       !strncmp(reply_header(&r, "Content-Type"), "multipart/byteranges; boundary=", 31) &&
       !reply_header(&r, "Content-Range"), "multi-range: status %lu, Content-Type %s\n", r.status,
       reply_header(&r, "Content-Type"));
    if (r.status == 206 && r.body)
    {
        static const char second[] = "Content-Range: bytes 20-29/1048699\r\n\r\n";
        unsigned char part[10];
        size_t i;

        for (i = 0; i + sizeof(second) - 1 <= r.len; i++)
            if (!memcmp(r.body + i, second, sizeof(second) - 1)) break;
        ok(i + sizeof(second) - 1 + sizeof(part) <= r.len, "multi-range: no second part\n");
        if (i + sizeof(second) - 1 + sizeof(part) <= r.len)
        {
            httpd_pattern_fill("gen", 20, part, sizeof(part));
            ok(!memcmp(r.body + i + sizeof(second) - 1, part, sizeof(part)), "multi-range: wrong bytes in the second part\n");
        }
        ok(r.len > 9 && !memcmp(r.body + r.len - 9, "dosvc--\r\n", 9), "multi-range: no closing delimiter\n");
    }
    free_reply(&r);

    fetch("/gen?multirange=200", "Range: bytes=0-9,20-29", &r);
    ok(r.status == 200 && r.len == SMALL_SIZE, "multirange=200: status %lu, %Iu bytes\n", r.status, r.len);
    free_reply(&r);
    fetch("/gen?multirange=first", "Range: bytes=0-9,20-29", &r);
    ok(r.status == 206 && r.len == 10 && reply_header(&r, "Content-Range") &&
       !strcmp(reply_header(&r, "Content-Range"), "bytes 0-9/1048699"),
       "multirange=first: status %lu, %Iu bytes, Content-Range %s\n", r.status, r.len,
       reply_header(&r, "Content-Range"));
    free_reply(&r);

    fetch("/gen", NULL, &r);
    snprintf(etag, sizeof(etag), "If-Range: %s\r\nRange: bytes=10-19", reply_header(&r, "ETag"));
    free_reply(&r);
    fetch("/gen", etag, &r);
    ok(r.status == 206 && r.len == 10, "If-Range match: status %lu, %Iu bytes\n", r.status, r.len);
    free_reply(&r);

    fetch("/gen", "If-Range: \"other\"\r\nRange: bytes=10-19", &r);
    ok(r.status == 200 && r.len == SMALL_SIZE, "If-Range mismatch: status %lu, %Iu bytes\n", r.status, r.len);
    free_reply(&r);

    fetch("/gen", "If-Range: " HTTPD_LAST_MODIFIED "\r\nRange: bytes=10-19", &r);
    ok(r.status == 206 && r.len == 10, "If-Range date match: status %lu, %Iu bytes\n", r.status, r.len);
    free_reply(&r);

    fetch("/gen", "If-Range: Tue, 06 Jan 2026 12:00:00 GMT\r\nRange: bytes=10-19", &r);
    ok(r.status == 200, "If-Range date mismatch: status %lu\n", r.status);
    free_reply(&r);
}

static void test_chunked_and_nolength(void)
{
    struct reply r;

    fetch("/gen?chunked=1", NULL, &r);
    ok(r.status == 200, "chunked: status %lu\n", r.status);
    ok(r.complete && r.len == SMALL_SIZE && body_is_pattern("gen", 0, r.body, r.len),
       "chunked: %Iu bytes, complete %d\n", r.len, r.complete);
    ok(!reply_header(&r, "Content-Length"), "chunked: unexpected Content-Length\n");
    ok(reply_header(&r, "Transfer-Encoding") && !strcmp(reply_header(&r, "Transfer-Encoding"), "chunked"),
       "Transfer-Encoding %s\n", reply_header(&r, "Transfer-Encoding"));
    free_reply(&r);

    fetch("/gen?chunked=1", "Range: bytes=16000-50000", &r);
    ok(r.status == 206 && r.len == 34001 && body_is_pattern("gen", 16000, r.body, r.len),
       "chunked range: status %lu, %Iu bytes\n", r.status, r.len);
    free_reply(&r);

    fetch("/gen?nolength=1", NULL, &r);
    ok(r.status == 200 && r.complete && r.len == SMALL_SIZE && body_is_pattern("gen", 0, r.body, r.len),
       "nolength: status %lu, %Iu bytes, complete %d\n", r.status, r.len, r.complete);
    ok(!reply_header(&r, "Content-Length"), "nolength: unexpected Content-Length\n");
    free_reply(&r);
}

static void test_status(void)
{
    struct reply r;

    fetch("/gen?status=404", NULL, &r);
    ok(r.status == 404, "status %lu\n", r.status);
    free_reply(&r);

    fetch("/anything?status=403", NULL, &r);
    ok(r.status == 403, "status %lu\n", r.status);
    free_reply(&r);

    fetch("/gen?status=503&retry_after=7", NULL, &r);
    ok(r.status == 503, "status %lu\n", r.status);
    ok(reply_header(&r, "Retry-After") && !strcmp(reply_header(&r, "Retry-After"), "7"),
       "Retry-After %s\n", reply_header(&r, "Retry-After"));
    free_reply(&r);

    fetch("/gen?status=500", NULL, &r);
    ok(r.status == 500, "status %lu\n", r.status);
    free_reply(&r);
}

static void test_fail_first(void)
{
    static const DWORD expect[] = { 503, 503, 200, 200 };
    struct reply r;
    unsigned int i;

    for (i = 0; i < 4; i++)
    {
        fetch("/gen?fail_first=2", NULL, &r);
        ok(r.status == expect[i], "request %u: status %lu\n", i, r.status);
        if (r.status == 200)
            ok(r.len == SMALL_SIZE && body_is_pattern("gen", 0, r.body, r.len), "request %u: wrong body\n", i);
        free_reply(&r);
    }

    /* A different query is a different counter. */
    fetch("/gen?fail_first=1&status=500&retry_after=3", NULL, &r);
    ok(r.status == 500, "status %lu\n", r.status);
    ok(reply_header(&r, "Retry-After") && !strcmp(reply_header(&r, "Retry-After"), "3"),
       "Retry-After %s\n", reply_header(&r, "Retry-After"));
    free_reply(&r);
    fetch("/gen?fail_first=1&status=500&retry_after=3", NULL, &r);
    ok(r.status == 200, "status %lu\n", r.status);
    free_reply(&r);
}

/* httpd_force_query: the forced parameters win, the log keeps the target as sent */
static void test_force_query(void)
{
    struct reply r;

    httpd_reset_log(server);
    httpd_force_query(server, "status=503&etag=forced");
    fetch("/gen?cacheHostOrigin=127.0.0.1:1", NULL, &r);
    ok(r.status == 503, "forced status: %lu\n", r.status);
    free_reply(&r);
    fetch("/gen?status=404", NULL, &r);
    ok(r.status == 503, "forced status over the request's own: %lu\n", r.status);
    free_reply(&r);
    ok(httpd_request_count(server, "/gen?cacheHostOrigin=127.0.0.1:1") == 1, "the log lost the target as sent\n");

    httpd_force_query(server, "etag=forced");
    fetch("/gen", NULL, &r);
    ok(r.status == 200 && reply_header(&r, "ETag") && !strcmp(reply_header(&r, "ETag"), "\"forced\""),
       "forced etag: %lu %s\n", r.status, reply_header(&r, "ETag"));
    ok(r.len == SMALL_SIZE && body_is_pattern("gen", 0, r.body, r.len), "forced etag: wrong body\n");
    free_reply(&r);

    httpd_force_query(server, NULL);
    fetch("/gen?status=404", NULL, &r);
    ok(r.status == 404, "after the end of forcing: %lu\n", r.status);
    free_reply(&r);
}

static void test_redirect(void)
{
    struct reply r;

    httpd_reset_log(server);
    fetch("/r1?redirect=1&to=/gen", NULL, &r);
    ok(r.status == 200 && r.len == SMALL_SIZE && body_is_pattern("gen", 0, r.body, r.len),
       "redirect: status %lu, %Iu bytes\n", r.status, r.len);
    ok(httpd_request_count(server, "/r1") == 1, "got %u requests to /r1\n", httpd_request_count(server, "/r1"));
    free_reply(&r);

    httpd_reset_log(server);
    fetch("/r3?redirect=3&code=301&to=/gen%3Fchunked%3D1", NULL, &r);
    ok(r.status == 200 && r.len == SMALL_SIZE && body_is_pattern("gen", 0, r.body, r.len),
       "3 hops: status %lu, %Iu bytes\n", r.status, r.len);
    ok(httpd_request_count(server, "/r3") == 3, "got %u requests to /r3\n", httpd_request_count(server, "/r3"));
    ok(httpd_request_count(server, "/gen?chunked=1") == 1, "got %u requests to the target\n",
       httpd_request_count(server, "/gen?chunked=1"));
    free_reply(&r);

    fetch("/r7?redirect=1&code=307&to=/file.txt", NULL, &r);
    ok(r.status == 200 && r.len == 11, "307: status %lu, %Iu bytes\n", r.status, r.len);
    free_reply(&r);
}

static void test_reset(void)
{
    ULONGLONG start = GetTickCount64();
    struct reply r;

    fetch("/gen?reset_after=100000", NULL, &r);
    ok(r.status == 200, "status %lu\n", r.status);
    ok(!r.complete && r.error, "the read should fail, complete %d, error %lu\n", r.complete, r.error);
    ok(r.len <= 100000, "got %Iu bytes\n", r.len);
    ok(body_is_pattern("gen", 0, r.body, r.len), "wrong bytes before the reset\n");
    trace("reset: %Iu bytes then error %lu after %llu ms\n", r.len, r.error, GetTickCount64() - start);
    free_reply(&r);
}

static void test_stall(void)
{
    ULONGLONG start = GetTickCount64(), elapsed;
    struct reply r;

    fetch_on(connection, "GET", "/gen?stall_after=5000", NULL, 2000, &r);
    elapsed = GetTickCount64() - start;
    ok(r.status == 200, "status %lu\n", r.status);
    /* Wine 8's WinHTTP passes the Winsock code through. */
    ok(!r.complete && (r.error == ERROR_WINHTTP_TIMEOUT || r.error == WSAETIMEDOUT),
       "complete %d, error %lu\n", r.complete, r.error);
    /* Wine's WinHTTP keeps what it got while waiting to fill the buffer, so
     * only an upper bound holds everywhere; the exact count is checked with
     * raw sockets. */
    ok(r.len <= 5000 && body_is_pattern("gen", 0, r.body, r.len), "got %Iu bytes\n", r.len);
    /* not before the 2 s timeout; how late is the machine's business */
    ok(elapsed >= 1500, "timed out after %llu ms\n", elapsed);
    free_reply(&r);
}

static void test_rate_and_delay(void)
{
    ULONGLONG start = GetTickCount64(), elapsed;
    struct reply r;

    fetch("/file.txt?delay_ms=300", NULL, &r);
    elapsed = GetTickCount64() - start;
    ok(r.status == 200 && r.len == 11, "delay: status %lu, %Iu bytes\n", r.status, r.len);
    ok(elapsed >= 280, "delay: took %llu ms\n", elapsed);
    free_reply(&r);

    start = GetTickCount64();
    fetch("/gen?rate=1000000", "Range: bytes=0-499999", &r);
    elapsed = GetTickCount64() - start;
    ok(r.status == 206 && r.len == 500000 && body_is_pattern("gen", 0, r.body, r.len),
       "rate: status %lu, %Iu bytes\n", r.status, r.len);
    /* the throttle's floor; a loaded machine is only slower */
    ok(elapsed >= 350, "500 kB at 1 MB/s took %llu ms\n", elapsed);
    trace("500000 bytes at rate=1000000 took %llu ms\n", elapsed);
    free_reply(&r);
}

static void test_echo_and_log(void)
{
    char value[64];
    struct reply r;

    fetch("/x?echo_headers=1", "X-Test-Header: hello there", &r);
    ok(r.status == 200, "status %lu\n", r.status);
    r.body = realloc(r.body, r.len + 1);
    r.body[r.len] = 0;
    ok(!strncmp((char *)r.body, "GET /x?echo_headers=1 HTTP/1.1\r\n", 32), "body starts %.40s\n", r.body);
    ok(strstr((char *)r.body, "\r\nX-Test-Header: hello there\r\n") != NULL, "header not echoed: %s\n", r.body);
    ok(r.len >= 4 && !memcmp(r.body + r.len - 4, "\r\n\r\n", 4), "body should end with an empty line\n");
    free_reply(&r);

    httpd_reset_log(server);
    ok(httpd_request_count(server, "/") == 0, "log not reset\n");
    fetch("/gen?norange=1", "X-Seq: 1", &r);
    free_reply(&r);
    fetch("/gen?etag=a", "X-Seq: 2\r\nRange: bytes=1-2", &r);
    free_reply(&r);
    fetch("/file.txt", "X-Seq: 3", &r);
    free_reply(&r);
    ok(httpd_request_count(server, "/gen") == 2, "got %u\n", httpd_request_count(server, "/gen"));
    ok(httpd_request_count(server, "/") == 3, "got %u\n", httpd_request_count(server, "/"));
    ok(httpd_request_count(server, "/gen?etag") == 1, "got %u\n", httpd_request_count(server, "/gen?etag"));
    ok(httpd_last_request_header(server, "/gen", "x-seq", value, sizeof(value)) && !strcmp(value, "2"),
       "X-Seq %s\n", value);
    ok(httpd_last_request_header(server, "/gen", "Range", value, sizeof(value)) && !strcmp(value, "bytes=1-2"),
       "Range %s\n", value);
    ok(httpd_last_request_header(server, "/", "X-Seq", value, sizeof(value)) && !strcmp(value, "3"),
       "X-Seq %s\n", value);
    ok(!httpd_last_request_header(server, "/file.txt", "Range", value, sizeof(value)), "unexpected Range\n");
    ok(!httpd_last_request_header(server, "/none", "X-Seq", value, sizeof(value)), "unexpected request\n");
    ok(!httpd_last_request_header(server, "/gen", "X-Seq", value, 1), "a too small buffer should fail\n");
}

static void test_keep_alive_ranges(void)
{
    unsigned int i, bad = 0, count;
    ULONGLONG start;
    struct reply r;

    /* Make sure no pooled connection from earlier tests is left over. */
    WinHttpCloseHandle(connection);
    connection = WinHttpConnect(session, L"127.0.0.1", httpd_port(server), 0);
    httpd_reset_log(server);

    start = GetTickCount64();
    for (i = 0; i < 100; i++)
    {
        char header[64];
        unsigned long long offset = i * 10000ull;

        sprintf(header, "Range: bytes=%llu-%llu", offset, offset + 4095);
        fetch("/gen", header, &r);
        if (r.status != 206 || r.len != 4096 || !body_is_pattern("gen", offset, r.body, r.len)) bad++;
        free_reply(&r);
    }
    trace("100 range requests of 4 KiB took %llu ms\n", GetTickCount64() - start);
    ok(!bad, "%u range requests failed\n", bad);
    /* The session may reuse a pooled connection from earlier tests. */
    count = httpd_connection_count(server);
    ok(count <= 1, "100 requests used %u new connections\n", count);

    httpd_add_generated(server, "big", BIG_SIZE);
    start = GetTickCount64();
    for (i = 0, bad = 0; i < 2600; i++)
    {
        char header[64];
        unsigned long long offset = i * 65536ull;

        sprintf(header, "Range: bytes=%llu-%llu", offset, offset + 65535);
        fetch("/big", header, &r);
        if (r.status != 206 || r.len != 65536) bad++;
        free_reply(&r);
    }
    trace("2600 range requests of 64 KiB took %llu ms\n", GetTickCount64() - start);
    ok(!bad, "%u range requests failed\n", bad);
}

static void test_throughput(void)
{
    HINTERNET req = open_request(connection, "GET", "/big", NULL, 0);
    unsigned char *buf = malloc(READ_SIZE), *expect = malloc(READ_SIZE);
    unsigned long long total = 0;
    ULONGLONG start = GetTickCount64(), elapsed;
    BOOL same = TRUE;

    ok(WinHttpSendRequest(req, WINHTTP_NO_ADDITIONAL_HEADERS, 0, WINHTTP_NO_REQUEST_DATA, 0, 0, 0),
       "send failed: %lu\n", GetLastError());
    ok(WinHttpReceiveResponse(req, NULL), "receive failed: %lu\n", GetLastError());
    for (;;)
    {
        DWORD n = 0;

        if (!WinHttpReadData(req, buf, READ_SIZE, &n) || !n) break;
        httpd_pattern_fill("big", total, expect, n);
        if (memcmp(buf, expect, n)) same = FALSE;
        total += n;
    }
    elapsed = GetTickCount64() - start;
    ok(total == BIG_SIZE && same, "got %llu bytes, same %d\n", total, same);
    trace("256 MiB via WinHTTP (1 MiB reads, verified): %llu ms, %.1f MB/s\n", elapsed,
          elapsed ? total / 1048576.0 / (elapsed / 1000.0) : 0.0);
    WinHttpCloseHandle(req);
    free(buf);
    free(expect);
}

/* Raw socket helpers, for what WinHTTP does not let us see. */
static SOCKET raw_connect(void)
{
    struct sockaddr_in addr;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    /* only a guard against a hang: a loaded machine may answer late */
    DWORD timeout = 60000;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(httpd_port(server));
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout, sizeof(timeout));
    if (connect(s, (struct sockaddr *)&addr, sizeof(addr)))
    {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

static void raw_send(SOCKET s, const char *data)
{
    send(s, data, (int)strlen(data), 0);
}

/* Reads a response head byte by byte, so nothing after it is eaten;
 * returns the status or 0, with the NUL-terminated head in buf. */
static int raw_head(SOCKET s, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = 0;
    while (!strstr(buf, "\r\n\r\n"))
    {
        if (len + 1 >= size || recv(s, buf + len, 1, 0) != 1) return 0;
        buf[++len] = 0;
    }
    return strncmp(buf, "HTTP/1.1 ", 9) ? 0 : atoi(buf + 9);
}

/* Reads up to max body bytes; returns how many arrived before the peer
 * closed, failed or timed out, with the error in *error. */
static long raw_body(SOCKET s, long max, int *error)
{
    char scratch[4096];
    long got = 0;

    *error = 0;
    while (got < max)
    {
        int n = recv(s, scratch, max - got < (long)sizeof(scratch) ? (int)(max - got) : (int)sizeof(scratch), 0);

        if (n <= 0)
        {
            *error = n ? WSAGetLastError() : 0;
            break;
        }
        got += n;
    }
    return got;
}

/* Reads one response whose body has a Content-Length (none for HEAD). */
static int raw_response(SOCKET s, char *buf, size_t size, BOOL head_only)
{
    int status = raw_head(s, buf, size), error;
    char *cl = strstr(buf, "Content-Length: ");
    long body = cl && !head_only ? atol(cl + 16) : 0;

    if (raw_body(s, body, &error) != body) return 0;
    return status;
}

/* the server closed the connection (a receive timeout is no close) */
static BOOL raw_closed(SOCKET s)
{
    char c;
    int n = recv(s, &c, 1, 0);

    return !n || (n < 0 && WSAGetLastError() != WSAETIMEDOUT);
}

static void test_raw(void)
{
    char buf[4096];
    SOCKET s;
    int status;

    s = raw_connect();
    raw_send(s, "GET /file.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /file.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /gen HTTP/1.1\r\nRange: bytes=0-0\r\nHost: x\r\nConnection: close\r\n\r\n");
    status = raw_response(s, buf, sizeof(buf), FALSE);
    ok(status == 200, "pipelined 1: status %d\n", status);
    status = raw_response(s, buf, sizeof(buf), TRUE);
    ok(status == 200, "pipelined 2: status %d\n", status);
    /* The HEAD response announces a length but carries no body; the next
     * response must follow directly. */
    memset(buf, 0, sizeof(buf));
    {
        size_t len = 0;

        while (len < sizeof(buf) - 1 && recv(s, buf + len, 1, 0) == 1) len++;
    }
    ok(!strncmp(buf, "HTTP/1.1 206 ", 13), "pipelined 3: %.20s\n", buf);
    ok(strstr(buf, "Connection: close\r\n") != NULL, "missing Connection: close\n");
    closesocket(s);

    s = raw_connect();
    raw_send(s, "BLAH\r\n\r\n");
    status = raw_response(s, buf, sizeof(buf), FALSE);
    ok(status == 400, "malformed: status %d\n", status);
    ok(raw_closed(s), "connection should be closed after 400\n");
    closesocket(s);

    s = raw_connect();
    raw_send(s, "GET /file.txt HTTP/1.1\r\nNo colon here\r\n\r\n");
    status = raw_response(s, buf, sizeof(buf), FALSE);
    ok(status == 400, "bad header: status %d\n", status);
    closesocket(s);

    s = raw_connect();
    {
        char *huge = malloc(40000);

        memset(huge, 'a', 39999);
        huge[39999] = 0;
        raw_send(s, "GET /file.txt HTTP/1.1\r\nX-Big: ");
        raw_send(s, huge);
        free(huge);
    }
    status = raw_response(s, buf, sizeof(buf), FALSE);
    ok(status == 400, "oversized head: status %d\n", status);
    closesocket(s);

    s = raw_connect();
    raw_send(s, "POST /file.txt HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /file.txt HTTP/1.1\r\n\r\n");
    status = raw_response(s, buf, sizeof(buf), FALSE);
    ok(status == 405, "POST: status %d\n", status);
    closesocket(s);

    s = raw_connect();
    raw_send(s, "GET /file.txt HTTP/1.0\r\n\r\n");
    status = raw_response(s, buf, sizeof(buf), FALSE);
    ok(status == 200, "HTTP/1.0: status %d\n", status);
    ok(raw_closed(s), "HTTP/1.0 connection should be closed\n");
    closesocket(s);

    s = raw_connect();
    raw_send(s, "GET /gen HTTP/1.1\r\nRange: bytes=5-1\r\n\r\n");
    status = raw_response(s, buf, sizeof(buf), FALSE);
    ok(status == 200, "invalid range: status %d\n", status);
    raw_send(s, "GET /gen HTTP/1.1\r\nRange: bytes=-0\r\n\r\n");
    status = raw_response(s, buf, sizeof(buf), FALSE);
    ok(status == 416, "empty suffix range: status %d\n", status);
    closesocket(s);
}

static void test_raw_body_modes(void)
{
    char buf[4096];
    DWORD timeout = 1000;
    long got;
    int status, error;
    ULONGLONG start;
    SOCKET s;

    s = raw_connect();
    raw_send(s, "GET /gen?stall_after=5000 HTTP/1.1\r\nHost: x\r\n\r\n");
    status = raw_head(s, buf, sizeof(buf));
    ok(status == 200, "stall: status %d\n", status);
    ok(strstr(buf, "Connection: close\r\n") != NULL, "stall: missing Connection: close\n");
    got = raw_body(s, 5000, &error);
    ok(got == 5000, "stall: got %ld bytes, error %d\n", got, error);
    /* then nothing more, and the connection stays open */
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout, sizeof(timeout));
    start = GetTickCount64();
    got = raw_body(s, SMALL_SIZE - 5000, &error);
    ok(!got && error == WSAETIMEDOUT, "stall: %ld more bytes, error %d after %llu ms\n", got, error,
       GetTickCount64() - start);
    closesocket(s);

    s = raw_connect();
    raw_send(s, "GET /gen?reset_after=5000 HTTP/1.1\r\nHost: x\r\n\r\n");
    status = raw_head(s, buf, sizeof(buf));
    ok(status == 200, "reset: status %d\n", status);
    got = raw_body(s, SMALL_SIZE, &error);
    ok(got == 5000, "reset: got %ld bytes\n", got);
    /* A reset shows as WSAECONNRESET; Wine's socket layer sometimes takes
     * the error itself first (on a loaded machine), and the read just
     * ends.  Either way the connection can no longer send, which a
     * graceful close would still allow once. */
    ok(error == WSAECONNRESET || (!error && send(s, "x", 1, 0) == SOCKET_ERROR), "reset: error %d\n", error);
    closesocket(s);

    s = raw_connect();
    raw_send(s, "GET /gen?nolength=1 HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n");
    status = raw_head(s, buf, sizeof(buf));
    ok(status == 206, "nolength: status %d\n", status);
    got = raw_body(s, SMALL_SIZE, &error);
    ok(got == 10 && !error, "nolength: got %ld bytes, error %d\n", got, error);
    closesocket(s);

    /* Chunk framing: 16 KiB chunks, then the last chunk. */
    s = raw_connect();
    raw_send(s, "GET /gen?chunked=1 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-16384\r\nConnection: close\r\n\r\n");
    status = raw_head(s, buf, sizeof(buf));
    ok(status == 206, "chunked: status %d\n", status);
    got = raw_body(s, 6 + 16384 + 2 + 3 + 1 + 2 + 5 + 1, &error);
    ok(got == 6 + 16384 + 2 + 3 + 1 + 2 + 5, "chunked: got %ld bytes, error %d\n", got, error);
    closesocket(s);

    s = raw_connect();
    raw_send(s, "GET /file.txt?chunked=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    status = raw_head(s, buf, sizeof(buf));
    ok(status == 200, "small chunked: status %d\n", status);
    memset(buf, 0, sizeof(buf));
    got = 0;
    while (got < 21 && recv(s, buf + got, 1, 0) == 1) got++;
    ok(!strcmp(buf, "b\r\nhello, file\r\n0\r\n\r\n"), "small chunked: body %s\n", buf);
    closesocket(s);
}

/* The hostile behaviours: cuts by an orderly close, bytes beyond the
 * announced end, a second version, a poisoned Location, and the raw log. */
static void test_hostile_modes(void)
{
    char buf[4096], head[4096], expect[4096], etag[128];
    unsigned char body[64];
    DWORD timeout = 1000;
    const char *p;
    size_t len;
    long got;
    int status, error, i;
    SOCKET s;

    httpd_reset_log(server);
    s = raw_connect();
    raw_send(s, "GET /gen?close_after=5000 HTTP/1.1\r\nHost: x\r\n\r\n");
    status = raw_head(s, buf, sizeof(buf));
    ok(status == 200, "close_after: status %d\n", status);
    ok(strstr(buf, "Connection: close\r\n") != NULL, "close_after: missing Connection: close\n");
    got = raw_body(s, SMALL_SIZE, &error);
    ok(got == 5000 && !error, "close_after: %ld bytes, error %d (an orderly close)\n", got, error);
    closesocket(s);

    s = raw_connect();
    raw_send(s, "GET /gen?chunked=1&close_after=100 HTTP/1.1\r\nHost: x\r\n\r\n");
    status = raw_head(s, buf, sizeof(buf));
    ok(status == 200, "chunked close_after: status %d\n", status);
    memset(buf, 0, sizeof(buf));
    for (got = 0; got < (long)sizeof(buf) - 1 && recv(s, buf + got, 1, 0) == 1; got++);
    ok(got == 4 + 100 + 2 && !strncmp(buf, "64\r\n", 4), "chunked close_after: %ld bytes: %.8s\n", got, buf);
    closesocket(s);

    s = raw_connect();
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout, sizeof(timeout));
    raw_send(s, "GET /file.txt?extra=5 HTTP/1.1\r\nHost: x\r\n\r\n");
    status = raw_head(s, buf, sizeof(buf));
    ok(status == 200 && strstr(buf, "Content-Length: 11\r\n"), "extra: status %d, head %s\n", status, buf);
    memset(buf, 0, sizeof(buf));
    for (got = 0; got < 30 && recv(s, buf + got, 1, 0) == 1; got++);
    ok(got == 16 && !strcmp(buf, "hello, fileZZZZZ"), "extra: %ld bytes: %s\n", got, buf);
    closesocket(s);

    /* the second request to the same target sees version 2, If-Range or not */
    s = raw_connect();
    raw_send(s, "GET /gen?etag_after=1&t=1 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-15\r\n\r\n");
    status = raw_response(s, buf, sizeof(buf), FALSE);
    ok(status == 206, "etag_after, first: status %d\n", status);
    p = strstr(buf, "ETag: ");
    etag[0] = 0;
    if (p) sscanf(p + 6, "%127[^\r]", etag);
    ok(etag[0] == '"' && !strstr(etag, "-v2"), "etag_after, first: ETag %s\n", etag);
    sprintf(expect, "GET /gen?etag_after=1&t=1 HTTP/1.1\r\nHost: x\r\nRange: bytes=16-31\r\nIf-Range: %s\r\n\r\n", etag);
    raw_send(s, expect);
    status = raw_head(s, head, sizeof(head));
    got = raw_body(s, 16, &error);
    ok(status == 206 && strstr(head, "-v2\"\r\n") && strstr(head, HTTPD_LAST_MODIFIED_V2),
       "etag_after, second: status %d, head %s\n", status, head);
    closesocket(s);
    s = raw_connect();
    raw_send(s, "GET /gen?etag_after=0&t=2 HTTP/1.1\r\nHost: x\r\nRange: bytes=8-15\r\n\r\n");
    status = raw_head(s, head, sizeof(head));
    for (got = 0; got < 8 && recv(s, (char *)body + got, 1, 0) == 1; got++);
    for (i = 0; i < 8; i++)
        if (body[i] != httpd_pattern_byte("gen~v2", 8 + i)) break;
    ok(status == 206 && got == 8 && i == 8, "etag_after, version 2 body: status %d, %ld bytes, byte %d differs\n",
       status, got, i);
    closesocket(s);

    s = raw_connect();
    raw_send(s, "GET /gen?noetag=1 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n");
    status = raw_response(s, buf, sizeof(buf), FALSE);
    ok(status == 206 && !strstr(buf, "ETag:") && strstr(buf, "Last-Modified: "),
       "noetag: status %d, head %s\n", status, buf);
    closesocket(s);

    s = raw_connect();
    raw_send(s, "GET /gen?redirect=1&bad_location=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    status = raw_head(s, buf, sizeof(buf));
    sprintf(expect, "\r\nLocation: http://127.0.0.1:%u/gen HTTP/1.1\nX-Injected: 1\n\nGET /smuggled\r\n",
            httpd_port(server));
    ok(status == 302 && strstr(buf, expect), "bad_location=1: status %d, head %s\n", status, buf);
    closesocket(s);

    /* the raw log holds every head as it came, malformed ones and fragments too */
    httpd_reset_log(server);
    s = raw_connect();
    raw_send(s, "GET /gen HTTP/1.1\r\nHost: x\r\nX-Raw:\tv\r\n\r\n");
    raw_response(s, buf, sizeof(buf), FALSE);
    raw_send(s, "BLAH\r\n\r\n");
    raw_response(s, buf, sizeof(buf), FALSE);
    closesocket(s);
    s = raw_connect();
    raw_send(s, "GET /gen HTT");
    shutdown(s, SD_SEND);
    raw_closed(s);
    closesocket(s);
    ok(httpd_raw_count(server) == 3, "raw log: %u heads\n", httpd_raw_count(server));
    len = httpd_raw_request(server, 0, buf, sizeof(buf));
    ok(len == strlen("GET /gen HTTP/1.1\r\nHost: x\r\nX-Raw:\tv\r\n\r\n") &&
       !strcmp(buf, "GET /gen HTTP/1.1\r\nHost: x\r\nX-Raw:\tv\r\n\r\n"), "raw log 0: %Iu bytes: %s\n", len, buf);
    len = httpd_raw_request(server, 1, buf, sizeof(buf));
    ok(len == 8 && !strcmp(buf, "BLAH\r\n\r\n"), "raw log 1: %Iu bytes: %s\n", len, buf);
    len = httpd_raw_request(server, 2, buf, sizeof(buf));
    ok(len == 12 && !strcmp(buf, "GET /gen HTT"), "raw log 2: %Iu bytes: %s\n", len, buf);
    ok(!httpd_raw_request(server, 3, buf, sizeof(buf)), "raw log 3 exists\n");
}

struct concurrent_client
{
    SOCKET sock;
    int status;
};

static void test_concurrency(void)
{
    struct concurrent_client clients[40];
    ULONGLONG start, elapsed;
    unsigned int i, good = 0;
    char buf[4096];

    /* 40 requests that each stall after their head: every client gets its
     * head while the others are still open, which only a server that serves
     * them in parallel does (a serial one never answers the second). */
    for (i = 0; i < 40; i++)
    {
        clients[i].sock = raw_connect();
        raw_send(clients[i].sock, "GET /gen?stall_after=1000 HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    for (i = 0; i < 40; i++)
        if (raw_head(clients[i].sock, buf, sizeof(buf)) == 200) good++;
    ok(good == 40, "%u of 40 stalled requests were answered while the others were open\n", good);
    for (i = 0; i < 40; i++) closesocket(clients[i].sock);

    /* 40 requests that each take 500 ms; how long they take together is a
     * figure for the log, not a check */
    good = 0;
    start = GetTickCount64();
    for (i = 0; i < 40; i++)
    {
        clients[i].sock = raw_connect();
        raw_send(clients[i].sock, "GET /file.txt?delay_ms=500 HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    for (i = 0; i < 40; i++)
    {
        clients[i].status = raw_response(clients[i].sock, buf, sizeof(buf), FALSE);
        if (clients[i].status == 200) good++;
        closesocket(clients[i].sock);
    }
    elapsed = GetTickCount64() - start;
    ok(good == 40, "%u of 40 concurrent requests succeeded\n", good);
    trace("40 concurrent 500 ms requests took %llu ms\n", elapsed);
}

struct stall_client
{
    unsigned short port;
    struct reply reply;
};

static DWORD WINAPI stall_thread(void *arg)
{
    struct stall_client *client = arg;
    HINTERNET ses = WinHttpOpen(L"httpd_test", WINHTTP_ACCESS_TYPE_NO_PROXY, WINHTTP_NO_PROXY_NAME,
                                WINHTTP_NO_PROXY_BYPASS, 0);
    HINTERNET con = WinHttpConnect(ses, L"127.0.0.1", client->port, 0);

    /* far longer than the test waits for httpd_stop: the connection must
     * end because the server closed it, not because we gave up */
    fetch_on(con, "GET", "/gen?stall_after=1000", NULL, 600000, &client->reply);
    WinHttpCloseHandle(con);
    WinHttpCloseHandle(ses);
    return 0;
}

/* Reads whatever is left; TRUE if the server then closed the connection. */
static BOOL raw_drain_closed(SOCKET s)
{
    DWORD timeout = 60000;
    char buf[4096];
    int n;

    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout, sizeof(timeout));
    while ((n = recv(s, buf, sizeof(buf), 0)) > 0);
    return !n || WSAGetLastError() != WSAETIMEDOUT;
}

static DWORD WINAPI stop_thread(void *arg)
{
    httpd_stop(arg);
    return 0;
}

static void test_stop_with_stalled_client(void)
{
    struct httpd *other = httpd_start();
    struct stall_client client;
    SOCKET raw[2];
    ULONGLONG start, end;
    HANDLE thread, stopper;
    DWORD wait;
    unsigned int i;

    ok(other != NULL, "httpd_start failed\n");
    if (!other) return;
    httpd_add_generated(other, "gen", SMALL_SIZE);
    memset(&client, 0, sizeof(client));
    client.port = httpd_port(other);
    thread = CreateThread(NULL, 0, stall_thread, &client, 0, NULL);
    end = GetTickCount64() + 60000;
    while (!httpd_request_count(other, "/gen") && GetTickCount64() < end) Sleep(20);
    ok(httpd_request_count(other, "/gen") == 1, "the stalled request did not arrive\n");

    /* Also one client that never reads a big body, so the server is blocked
     * sending, and one idle keep-alive connection. */
    {
        struct sockaddr_in addr;

        memset(&addr, 0, sizeof(addr));
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(client.port);
        for (i = 0; i < 2; i++)
        {
            raw[i] = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
            ok(!connect(raw[i], (struct sockaddr *)&addr, sizeof(addr)), "connect failed\n");
        }
        raw_send(raw[0], "GET /gen HTTP/1.1\r\nHost: x\r\n\r\n");
        raw_send(raw[1], "GET /gen?status=204 HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    end = GetTickCount64() + 60000;
    while (httpd_request_count(other, "/gen") < 3 && GetTickCount64() < end) Sleep(20);
    ok(httpd_request_count(other, "/gen") == 3, "got %u requests\n", httpd_request_count(other, "/gen"));

    /* None of these clients would ever end by itself: httpd_stop returns
     * only if it closes them rather than waiting for them.  The bound only
     * guards against that hang. */
    start = GetTickCount64();
    stopper = CreateThread(NULL, 0, stop_thread, other, 0, NULL);
    wait = WaitForSingleObject(stopper, 60000);
    ok(wait == WAIT_OBJECT_0, "httpd_stop did not return with stalled clients connected\n");
    trace("httpd_stop with a stalled client took %llu ms\n", GetTickCount64() - start);
    CloseHandle(stopper);

    wait = WaitForSingleObject(thread, 60000);
    ok(wait == WAIT_OBJECT_0, "client thread did not finish\n");
    ok(!client.reply.complete && client.reply.len <= 1000 && client.reply.error != ERROR_WINHTTP_TIMEOUT,
       "client: complete %d, %Iu bytes, error %lu\n", client.reply.complete, client.reply.len, client.reply.error);
    ok(raw_drain_closed(raw[0]) && raw_drain_closed(raw[1]), "the raw connections are still open\n");
    CloseHandle(thread);
    free_reply(&client.reply);
    closesocket(raw[0]);
    closesocket(raw[1]);
}

START_TEST(httpd)
{
    WSADATA wsa;

    WSAStartup(MAKEWORD(2, 2), &wsa);
    server = httpd_start();
    ok(server != NULL, "httpd_start failed\n");
    if (!server) return;
    ok(httpd_port(server) != 0, "no port\n");
    httpd_add_generated(server, "gen", SMALL_SIZE);

    session = WinHttpOpen(L"httpd_test", WINHTTP_ACCESS_TYPE_NO_PROXY, WINHTTP_NO_PROXY_NAME,
                          WINHTTP_NO_PROXY_BYPASS, 0);
    connection = WinHttpConnect(session, L"127.0.0.1", httpd_port(server), 0);
    ok(session && connection, "WinHTTP setup failed: %lu\n", GetLastError());

    test_pattern();
    test_full_get();
    test_ranges();
    test_chunked_and_nolength();
    test_status();
    test_fail_first();
    test_force_query();
    test_redirect();
    test_reset();
    test_stall();
    test_rate_and_delay();
    test_echo_and_log();
    test_keep_alive_ranges();
    test_throughput();
    test_raw();
    test_raw_body_modes();
    test_hostile_modes();
    test_concurrency();
    test_stop_with_stalled_client();

    WinHttpCloseHandle(connection);
    WinHttpCloseHandle(session);
    httpd_stop(server);
    WSACleanup();
}
