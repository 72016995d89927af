/*
 * Delivery Optimization service: a plain-HTTP/1.1 client over Winsock
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
 * Why a second HTTP client next to WinHTTP: under Wine 8, WinHTTP moves
 * about 100 MB/s on loopback whatever the read size, while a socket reaches
 * ten times that; and its reads cannot be interrupted (a stalled read runs
 * to its timeout inside WinHttpReadData).  For http:// URLs fetched directly
 * (no proxy, no credentials) this client does the job: one GET with the
 * job's headers, keep-alive connections kept per job, redirects followed,
 * identity, chunked and close-delimited bodies, and every wait also watches
 * the job's wake event.  https is spoken too, through tls.c (Schannel),
 * for jobs without a client certificate or revocation checks.  Anything
 * else — proxies, authentication, those https jobs — goes through WinHTTP
 * (http.c decides).
 */

#include <ctype.h>
#include <stdio.h>

#include "winsock2.h"
#include "ws2tcpip.h"
#include "dosvc_private.h"
#include "http.h"
#include "http_native.h"
#include "tls.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

#define MAX_HEAD        (64 * 1024)
#define MAX_REDIRECTS   10
#define MAX_IDLE        4
#define SOCKET_BUFFER   (4 * 1024 * 1024)

struct connection
{
    SOCKET socket;
    WSAEVENT event;             /* FD_CONNECT while connecting, then the overlapped I/O's */
    char host[256];
    unsigned short port;
    BOOL secure;
    struct tls_channel *tls;    /* https: the TLS layer over the socket */
    WCHAR *peer;                /* the server's address as text */
};

struct native_pool
{
    CRITICAL_SECTION cs;
    struct connection *idle[MAX_IDLE];   /* kept-alive connections, most recent last */
    unsigned int idle_count;
    BOOL tls;                   /* https too, not only http */
};

enum body_framing
{
    BODY_NONE,                  /* 204, 304, or a 1xx we skip */
    BODY_LENGTH,                /* Content-Length */
    BODY_CHUNKED,
    BODY_UNTIL_CLOSE,
};

struct native_request
{
    struct native_pool *pool;
    struct connection *conn;
    HANDLE abort_event;
    DWORD timeout_ms;
    enum body_framing framing;
    UINT64 remaining;           /* BODY_LENGTH: bytes left; BODY_CHUNKED: left in this chunk */
    BOOL chunk_trailer;         /* BODY_CHUNKED: the last chunk was seen, the trailer follows */
    BOOL done;                  /* the whole body was read */
    BOOL too_long;              /* bytes came after the end of a Content-Length body */
    BOOL keep_alive;
    char *pending;              /* bytes received beyond the headers, not yet handed out */
    DWORD pending_size;
    DWORD pending_offset;
};

static LONG winsock_ready;

BOOL native_http_init(void)
{
    WSADATA data;

    if (InterlockedCompareExchange(&winsock_ready, 1, 0) == 0 && WSAStartup(MAKEWORD(2, 2), &data))
    {
        ERR("WSAStartup failed\n");
        winsock_ready = 0;
        return FALSE;
    }
    return TRUE;
}

static HRESULT socket_error(int error)
{
    return HRESULT_FROM_WIN32(error ? error : WSAECONNRESET);
}

static void connection_close(struct connection *conn)
{
    if (!conn) return;
    tls_close(conn->tls);
    if (conn->socket != INVALID_SOCKET) closesocket(conn->socket);
    if (conn->event != WSA_INVALID_EVENT) WSACloseEvent(conn->event);
    free(conn->peer);
    free(conn);
}

struct native_pool *native_pool_create(BOOL tls)
{
    struct native_pool *pool;

    if (!native_http_init() || !(pool = calloc(1, sizeof(*pool)))) return NULL;
    InitializeCriticalSection(&pool->cs);
    pool->tls = tls && tls_available();
    return pool;
}

void native_pool_destroy(struct native_pool *pool)
{
    unsigned int i;

    if (!pool) return;
    for (i = 0; i < pool->idle_count; i++) connection_close(pool->idle[i]);
    DeleteCriticalSection(&pool->cs);
    free(pool);
}

/* Wait until the socket is connected (or the job wants us to stop). */
static HRESULT wait_socket(struct connection *conn, HANDLE abort_event, DWORD timeout_ms)
{
    HANDLE handles[2] = { conn->event, abort_event };
    DWORD ret = WaitForMultipleObjects(abort_event ? 2 : 1, handles, FALSE, timeout_ms);

    if (ret == WAIT_OBJECT_0) return S_OK;
    if (ret == WAIT_OBJECT_0 + 1) return E_ABORT;
    return HRESULT_FROM_WIN32(WSAETIMEDOUT);
}

/* Wait for an overlapped receive or send to finish; on abort or timeout it
 * is cancelled and waited for, so the buffer is free again on return. */
static HRESULT finish_io(struct connection *conn, WSAOVERLAPPED *ov, HANDLE abort_event, DWORD timeout_ms,
                         DWORD *bytes)
{
    HANDLE handles[2] = { ov->hEvent, abort_event };
    DWORD ret = WaitForMultipleObjects(abort_event ? 2 : 1, handles, FALSE, timeout_ms), flags;

    if (ret != WAIT_OBJECT_0)
    {
        CancelIoEx((HANDLE)conn->socket, ov);
        WSAGetOverlappedResult(conn->socket, ov, bytes, TRUE, &flags);
        return ret == WAIT_OBJECT_0 + 1 ? E_ABORT : HRESULT_FROM_WIN32(WSAETIMEDOUT);
    }
    if (!WSAGetOverlappedResult(conn->socket, ov, bytes, FALSE, &flags)) return socket_error(WSAGetLastError());
    return S_OK;
}

/* recv that waits; 0 bytes = the server closed the connection in an orderly
 * way (FIN).  The wait is an overlapped receive, not a readiness event:
 * under Wine a socket watched for FD_READ/FD_CLOSE loses the error of a
 * reset (RST), which then looks like an orderly close, and a close-delimited
 * body cut by a reset would pass for a whole one. */
static HRESULT socket_recv(struct connection *conn, HANDLE abort_event, DWORD timeout_ms,
                           char *buffer, DWORD size, DWORD *received)
{
    WSAOVERLAPPED ov;
    DWORD flags = 0;
    WSABUF wb;
    int ret;

    *received = 0;
    wb.buf = buffer;
    wb.len = size > 0x7fffffff ? 0x7fffffff : size;
    /* what is already there comes at once */
    if ((ret = recv(conn->socket, buffer, (int)wb.len, 0)) >= 0)
    {
        *received = ret;
        return S_OK;
    }
    if (WSAGetLastError() != WSAEWOULDBLOCK) return socket_error(WSAGetLastError());
    memset(&ov, 0, sizeof(ov));
    ov.hEvent = conn->event;
    ResetEvent(conn->event);
    if (!WSARecv(conn->socket, &wb, 1, received, &flags, &ov, NULL)) return S_OK;
    if (WSAGetLastError() != WSA_IO_PENDING) return socket_error(WSAGetLastError());
    return finish_io(conn, &ov, abort_event, timeout_ms, received);
}

static HRESULT socket_send(struct connection *conn, HANDLE abort_event, DWORD timeout_ms,
                           const char *data, DWORD size)
{
    WSAOVERLAPPED ov;
    DWORD sent;
    WSABUF wb;
    HRESULT hr;
    int ret;

    while (size)
    {
        if ((ret = send(conn->socket, data, size, 0)) <= 0)
        {
            if (WSAGetLastError() != WSAEWOULDBLOCK) return socket_error(WSAGetLastError());
            memset(&ov, 0, sizeof(ov));
            ov.hEvent = conn->event;
            ResetEvent(conn->event);
            wb.buf = (char *)data;
            wb.len = size;
            sent = 0;
            if (WSASend(conn->socket, &wb, 1, &sent, 0, &ov, NULL))
            {
                if (WSAGetLastError() != WSA_IO_PENDING) return socket_error(WSAGetLastError());
                if (FAILED(hr = finish_io(conn, &ov, abort_event, timeout_ms, &sent))) return hr;
            }
            if (!sent) return socket_error(0);
            ret = sent;
        }
        data += ret;
        size -= ret;
    }
    return S_OK;
}

static HRESULT io_send(const struct tls_io *io, const char *data, DWORD size)
{
    return socket_send(io->conn, io->abort_event, io->timeout_ms, data, size);
}

static HRESULT io_recv(const struct tls_io *io, char *buffer, DWORD size, DWORD *got)
{
    return socket_recv(io->conn, io->abort_event, io->timeout_ms, buffer, size, got);
}

static void make_io(struct tls_io *io, struct connection *conn, HANDLE abort_event, DWORD timeout_ms)
{
    io->send = io_send;
    io->recv = io_recv;
    io->conn = conn;
    io->abort_event = abort_event;
    io->timeout_ms = timeout_ms;
}

/* The connection's bytes: plain, or through its TLS channel. */
static HRESULT conn_recv(struct connection *conn, HANDLE abort_event, DWORD timeout_ms,
                         char *buffer, DWORD size, DWORD *received)
{
    struct tls_io io;

    if (!conn->tls) return socket_recv(conn, abort_event, timeout_ms, buffer, size, received);
    make_io(&io, conn, abort_event, timeout_ms);
    return tls_recv(conn->tls, &io, buffer, size, received);
}

static HRESULT conn_send(struct connection *conn, HANDLE abort_event, DWORD timeout_ms, const char *data, DWORD size)
{
    struct tls_io io;

    if (!conn->tls) return socket_send(conn, abort_event, timeout_ms, data, size);
    make_io(&io, conn, abort_event, timeout_ms);
    return tls_send(conn->tls, &io, data, size);
}

static WCHAR *address_text(const SOCKADDR *addr, int len)
{
    WCHAR buffer[64];
    DWORD size = ARRAY_SIZE(buffer);
    SOCKADDR_STORAGE copy;
    WCHAR *p;

    /* no port in the text: copy the address and clear it */
    memcpy(&copy, addr, min(len, (int)sizeof(copy)));
    if (copy.ss_family == AF_INET) ((SOCKADDR_IN *)&copy)->sin_port = 0;
    else if (copy.ss_family == AF_INET6) ((SOCKADDR_IN6 *)&copy)->sin6_port = 0;
    if (WSAAddressToStringW((SOCKADDR *)&copy, len, NULL, buffer, &size)) return NULL;
    /* IPv6 comes back as "[::1]" when a port was present; keep the bare address */
    if (buffer[0] == '[' && (p = wcschr(buffer, ']')))
    {
        *p = 0;
        return strdupW(buffer + 1);
    }
    return strdupW(buffer);
}

static HRESULT connect_one(const ADDRINFOA *ai, HANDLE abort_event, DWORD timeout_ms, struct connection *conn)
{
    WSANETWORKEVENTS events;
    u_long nonblocking = 1;
    int one = 1, buffer = SOCKET_BUFFER;
    HRESULT hr;

    conn->socket = socket(ai->ai_family, SOCK_STREAM, IPPROTO_TCP);
    if (conn->socket == INVALID_SOCKET) return socket_error(WSAGetLastError());
    ioctlsocket(conn->socket, FIONBIO, &nonblocking);
    setsockopt(conn->socket, IPPROTO_TCP, TCP_NODELAY, (char *)&one, sizeof(one));
    /* big reads need a big kernel buffer behind them */
    setsockopt(conn->socket, SOL_SOCKET, SO_RCVBUF, (char *)&buffer, sizeof(buffer));
    WSAEventSelect(conn->socket, conn->event, FD_CONNECT);
    if (!connect(conn->socket, ai->ai_addr, (int)ai->ai_addrlen)) hr = S_OK;
    else if (WSAGetLastError() != WSAEWOULDBLOCK) hr = socket_error(WSAGetLastError());
    else if (SUCCEEDED(hr = wait_socket(conn, abort_event, timeout_ms)))
    {
        WSAEnumNetworkEvents(conn->socket, conn->event, &events);
        if ((events.lNetworkEvents & FD_CONNECT) && events.iErrorCode[FD_CONNECT_BIT])
            hr = socket_error(events.iErrorCode[FD_CONNECT_BIT]);
    }
    /* from now on the socket is waited for through overlapped I/O only (see
     * socket_recv); it stays non-blocking for the quick tries */
    WSAEventSelect(conn->socket, NULL, 0);
    ioctlsocket(conn->socket, FIONBIO, &nonblocking);
    if (SUCCEEDED(hr)) conn->peer = address_text(ai->ai_addr, (int)ai->ai_addrlen);
    else
    {
        closesocket(conn->socket);
        conn->socket = INVALID_SOCKET;
    }
    return hr;
}

static HRESULT open_connection(const char *host, unsigned short port, BOOL secure, ULONG security_flags,
                               HANDLE abort_event, DWORD timeout_ms, struct connection **out)
{
    struct tls_io io;
    ADDRINFOA hints = { 0 }, *list, *ai;
    struct connection *conn;
    char service[8];
    HRESULT hr = HRESULT_FROM_WIN32(WSAHOST_NOT_FOUND);
    int ret;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    sprintf(service, "%u", port);
    if ((ret = getaddrinfo(host, service, &hints, &list))) return socket_error(ret);
    if (!(conn = calloc(1, sizeof(*conn))))
    {
        freeaddrinfo(list);
        return E_OUTOFMEMORY;
    }
    conn->socket = INVALID_SOCKET;
    conn->event = WSACreateEvent();
    lstrcpynA(conn->host, host, sizeof(conn->host));
    conn->port = port;
    conn->secure = secure;
    for (ai = list; ai; ai = ai->ai_next)
        if (SUCCEEDED(hr = connect_one(ai, abort_event, timeout_ms, conn)) || hr == E_ABORT) break;
    freeaddrinfo(list);
    if (SUCCEEDED(hr) && secure)
    {
        make_io(&io, conn, abort_event, timeout_ms);
        hr = tls_connect(host, security_flags, &io, &conn->tls);
    }
    if (FAILED(hr))
    {
        connection_close(conn);
        return hr;
    }
    *out = conn;
    return S_OK;
}

/* A kept-alive connection to host:port the server has not closed meanwhile. */
static struct connection *take_idle(struct native_pool *pool, const char *host, unsigned short port, BOOL secure)
{
    struct connection *conn = NULL;
    unsigned int i;
    char probe;
    int ret;

    EnterCriticalSection(&pool->cs);
    for (i = pool->idle_count; i-- > 0;)
    {
        if (pool->idle[i]->port != port || pool->idle[i]->secure != secure || _stricmp(pool->idle[i]->host, host))
            continue;
        conn = pool->idle[i];
        memmove(&pool->idle[i], &pool->idle[i + 1], (pool->idle_count - i - 1) * sizeof(conn));
        pool->idle_count--;
        break;
    }
    LeaveCriticalSection(&pool->cs);
    if (!conn) return NULL;
    if (conn->tls && (tls_pending(conn->tls) || tls_closed(conn->tls) || tls_buffered(conn->tls)))
    {
        connection_close(conn);
        return NULL;
    }
    ret = recv(conn->socket, &probe, 1, MSG_PEEK);
    if (ret < 0 && WSAGetLastError() == WSAEWOULDBLOCK) return conn;
    /* closed by the server, or it sent something unasked: either way, unusable */
    connection_close(conn);
    return NULL;
}

static void put_idle(struct native_pool *pool, struct connection *conn)
{
    EnterCriticalSection(&pool->cs);
    if (pool->idle_count == MAX_IDLE)
    {
        connection_close(pool->idle[0]);
        memmove(&pool->idle[0], &pool->idle[1], (MAX_IDLE - 1) * sizeof(conn));
        pool->idle_count--;
    }
    pool->idle[pool->idle_count++] = conn;
    LeaveCriticalSection(&pool->cs);
}

/* ------------------------------------------------------------------ URLs */

struct url_parts
{
    char host[256];
    unsigned short port;
    char *target;               /* path and query, UTF-8 */
    BOOL secure;
};

static char *to_utf8(const WCHAR *s, int len)
{
    int size = WideCharToMultiByte(CP_UTF8, 0, s, len, NULL, 0, NULL, NULL);
    char *out = malloc(size + 1);

    if (!out) return NULL;
    WideCharToMultiByte(CP_UTF8, 0, s, len, out, size, NULL, NULL);
    out[size] = 0;
    return out;
}

static BOOL crack_url(const WCHAR *url, struct url_parts *parts)
{
    URL_COMPONENTS uc = { sizeof(uc) };
    char *host;

    /* whatever the URL came from (a client, a record, a Location), it is held
     * to the same rules before a byte of it goes on the wire */
    if (FAILED(url_check(url, lstrlenW(url)))) return FALSE;
    uc.dwHostNameLength = uc.dwUrlPathLength = uc.dwExtraInfoLength = (DWORD)-1;
    if (!WinHttpCrackUrl(url, 0, 0, &uc) || !uc.dwHostNameLength) return FALSE;
    if (!(host = to_utf8(uc.lpszHostName, uc.dwHostNameLength))) return FALSE;
    lstrcpynA(parts->host, host, sizeof(parts->host));
    free(host);
    parts->port = uc.nPort;
    parts->secure = uc.nScheme == INTERNET_SCHEME_HTTPS;
    if (uc.dwUrlPathLength) parts->target = url_wire_target(uc.lpszUrlPath, uc.dwUrlPathLength + uc.dwExtraInfoLength);
    else if (uc.dwExtraInfoLength) parts->target = url_wire_target(uc.lpszExtraInfo, uc.dwExtraInfoLength);
    else parts->target = url_wire_target(L"", 0);
    return parts->target != NULL;
}

BOOL native_http_handles(const struct native_pool *pool, const WCHAR *url)
{
    return !wcsnicmp(url, L"http://", 7) || (pool->tls && !wcsnicmp(url, L"https://", 8));
}

/* Location may be absolute or relative to the URL it answered. */
static WCHAR *resolve_location(const WCHAR *base, const char *location)
{
    int len = MultiByteToWideChar(CP_UTF8, 0, location, -1, NULL, 0);
    WCHAR *loc = malloc(len * sizeof(WCHAR)), *result = NULL;
    DWORD size = 0;

    if (!loc) return NULL;
    MultiByteToWideChar(CP_UTF8, 0, location, -1, loc, len);
    if (!wcsnicmp(loc, L"http://", 7) || !wcsnicmp(loc, L"https://", 8)) return loc;
    /* WinHTTP's own combining would need a request handle; do it by hand */
    if (loc[0] == '/' && loc[1] != '/')
    {
        const WCHAR *host_end = wcschr(base + (wcsnicmp(base, L"https", 5) ? 7 : 8), '/');
        size = (host_end ? host_end - base : lstrlenW(base)) + lstrlenW(loc) + 1;
        if ((result = malloc(size * sizeof(WCHAR))))
        {
            memcpy(result, base, (size - lstrlenW(loc) - 1) * sizeof(WCHAR));
            lstrcpyW(result + size - lstrlenW(loc) - 1, loc);
        }
    }
    else if (loc[0] == '/' && loc[1] == '/')
    {
        size = 5 + lstrlenW(loc) + 1;
        if ((result = malloc((size + 1) * sizeof(WCHAR))))
            swprintf(result, size + 1, L"%s%s", wcsnicmp(base, L"https", 5) ? L"http:" : L"https:", loc);
    }
    else
    {
        const WCHAR *slash = wcsrchr(base, '/');
        size = (slash - base + 1) + lstrlenW(loc) + 1;
        if ((result = malloc(size * sizeof(WCHAR))))
        {
            memcpy(result, base, (slash - base + 1) * sizeof(WCHAR));
            lstrcpyW(result + (slash - base + 1), loc);
        }
    }
    free(loc);
    return result;
}

/* ------------------------------------------------------------------ request and response */

static char *build_request(const struct url_parts *url, const struct http_fetch_params *params)
{
    char *custom = NULL, *if_range = NULL, *request;
    size_t size;
    int len;

    if (params->custom_headers && *params->custom_headers &&
        !(custom = to_utf8(params->custom_headers, -1)))
        return NULL;
    if (params->if_range && *params->if_range && params->range_first != HTTP_NO_RANGE &&
        !(if_range = to_utf8(params->if_range, -1)))
    {
        free(custom);
        return NULL;
    }
    size = strlen(url->target) + strlen(url->host) + (custom ? strlen(custom) : 0) +
           (if_range ? strlen(if_range) : 0) + (params->range_set ? strlen(params->range_set) : 0) + 256;
    if (!(request = malloc(size))) goto done;
    len = snprintf(request, size, "GET %s HTTP/1.1\r\nHost: %s", url->target, url->host);
    if (url->port != (url->secure ? 443 : 80)) len += snprintf(request + len, size - len, ":%u", url->port);
    len += snprintf(request + len, size - len, "\r\nUser-Agent: Microsoft-Delivery-Optimization/10.0\r\nAccept: */*\r\n");
    if (custom)
    {
        /* the job's headers are "Name: value" lines; make sure each ends in CRLF */
        len += snprintf(request + len, size - len, "%s", custom);
        if (len >= 2 && request[len - 1] != '\n') len += snprintf(request + len, size - len, "\r\n");
    }
    if (params->range_first != HTTP_NO_RANGE)
    {
        if (params->range_set)
            len += snprintf(request + len, size - len, "Range: bytes=%s\r\n", params->range_set);
        else if (params->range_last == HTTP_SIZE_UNKNOWN)
            len += snprintf(request + len, size - len, "Range: bytes=%I64u-\r\n", params->range_first);
        else
            len += snprintf(request + len, size - len, "Range: bytes=%I64u-%I64u\r\n",
                            params->range_first, params->range_last);
        if (if_range) len += snprintf(request + len, size - len, "If-Range: %s\r\n", if_range);
    }
    snprintf(request + len, size - len, "\r\n");
done:
    free(custom);
    free(if_range);
    return request;
}

/* The value of a header in a raw head, or NULL (a copy, trimmed). */
static char *header_value(const char *head, const char *name)
{
    size_t name_len = strlen(name);
    const char *line = strstr(head, "\r\n");

    while (line && line[2] != '\r')
    {
        const char *start = line + 2, *end = strstr(start, "\r\n"), *value;
        if (!end) break;
        if ((size_t)(end - start) > name_len && !_strnicmp(start, name, name_len) && start[name_len] == ':')
        {
            char *copy;
            value = start + name_len + 1;
            while (value < end && (*value == ' ' || *value == '\t')) value++;
            while (end > value && (end[-1] == ' ' || end[-1] == '\t')) end--;
            if (!(copy = malloc(end - value + 1))) return NULL;
            memcpy(copy, value, end - value);
            copy[end - value] = 0;
            return copy;
        }
        line = end;
    }
    return NULL;
}

static BOOL header_has_token(const char *head, const char *name, const char *token)
{
    char *value = header_value(head, name);
    BOOL found = value && strstr(_strlwr(value), token) != NULL;

    free(value);
    return found;
}

static WCHAR *widen(const char *s)
{
    int len;
    WCHAR *out;

    if (!s) return NULL;
    len = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    if ((out = malloc(len * sizeof(WCHAR)))) MultiByteToWideChar(CP_UTF8, 0, s, -1, out, len);
    return out;
}

static BOOL parse_u64(const char *s, UINT64 *value)
{
    UINT64 v = 0;

    while (*s == ' ') s++;
    if (*s < '0' || *s > '9') return FALSE;
    for (; *s >= '0' && *s <= '9'; s++)
    {
        if (v > (~(UINT64)0 - 9) / 10) return FALSE;
        v = v * 10 + (*s - '0');
    }
    *value = v;
    return TRUE;
}

/* Fill the response from a complete head (status line + headers + CRLF CRLF). */
static BOOL parse_head(const char *head, struct http_response *resp, struct native_request *req)
{
    char *value;
    UINT64 number;

    if (strncmp(head, "HTTP/1.", 7) || head[8] != ' ' || !parse_u64(head + 9, &number) || number > 999)
        return FALSE;
    resp->status = (DWORD)number;
    resp->content_length = HTTP_SIZE_UNKNOWN;
    req->keep_alive = head[7] == '1' ? !header_has_token(head, "Connection", "close")
                                      : header_has_token(head, "Connection", "keep-alive");

    if (header_has_token(head, "Transfer-Encoding", "chunked")) req->framing = BODY_CHUNKED;
    else if ((value = header_value(head, "Content-Length")))
    {
        if (!parse_u64(value, &number))
        {
            free(value);
            return FALSE;
        }
        free(value);
        req->framing = BODY_LENGTH;
        req->remaining = resp->content_length = number;
    }
    else
    {
        req->framing = BODY_UNTIL_CLOSE;
        req->keep_alive = FALSE;
    }
    if (resp->status == 204 || resp->status == 304 || resp->status < 200) req->framing = BODY_NONE;
    if (req->framing == BODY_NONE || (req->framing == BODY_LENGTH && !req->remaining)) req->done = TRUE;

    if ((value = header_value(head, "Content-Range")))
    {
        WCHAR *wide = widen(value);
        if (wide) resp->has_range = http_parse_content_range(wide, resp);
        free(wide);
        free(value);
    }
    if ((value = header_value(head, "Retry-After")))
    {
        if (parse_u64(value, &number)) resp->retry_after = number > 86400 ? 86400 : (DWORD)number;
        free(value);
    }
    if ((value = header_value(head, "ETag"))) { resp->etag = widen(value); free(value); }
    if ((value = header_value(head, "Content-Type"))) { resp->content_type = widen(value); free(value); }
    if ((value = header_value(head, "Last-Modified"))) { resp->last_modified = widen(value); free(value); }
    http_response_check_validators(resp);
    resp->headers = widen(head);
    return TRUE;
}

/* The end of a head (its blank line) in the bytes received so far, or NULL. */
static char *find_head_end(char *buffer, DWORD size)
{
    DWORD i;

    for (i = 0; i + 4 <= size; i++)
        if (!memcmp(buffer + i, "\r\n\r\n", 4)) return buffer + i;
    return NULL;
}

/* Read until the blank line that ends the head; keep what came after it.
 * A head is text: one with a NUL byte is refused, since every later look at
 * it would stop there and miss what follows. */
static HRESULT receive_head(struct native_request *req, char **head_out)
{
    char *buffer = malloc(MAX_HEAD), *end;
    DWORD size = 0, got;
    HRESULT hr;

    if (!buffer) return E_OUTOFMEMORY;
    for (;;)
    {
        if (size == MAX_HEAD - 1)
        {
            free(buffer);
            return HRESULT_FROM_WIN32(ERROR_WINHTTP_INVALID_SERVER_RESPONSE);
        }
        if (FAILED(hr = conn_recv(req->conn, req->abort_event, req->timeout_ms, buffer + size,
                                  MAX_HEAD - 1 - size, &got)))
        {
            free(buffer);
            return hr;
        }
        if (!got)
        {
            free(buffer);
            return HRESULT_FROM_WIN32(WSAECONNRESET);   /* closed before a response */
        }
        /* look again from just before the new bytes: the blank line may straddle reads */
        end = find_head_end(buffer + (size > 3 ? size - 3 : 0), got + min(size, 3));
        size += got;
        buffer[size] = 0;
        if (end) break;
    }
    if (memchr(buffer, 0, end - buffer))
    {
        WARN("a response head with a NUL byte\n");
        free(buffer);
        return HRESULT_FROM_WIN32(ERROR_WINHTTP_INVALID_SERVER_RESPONSE);
    }
    end += 4;
    req->pending_size = size - (DWORD)(end - buffer);
    if (req->pending_size && (req->pending = malloc(req->pending_size)))
        memcpy(req->pending, end, req->pending_size);
    *end = 0;
    *head_out = buffer;
    return S_OK;
}

/* Raw body bytes: first what came with the head, then the socket. */
static HRESULT raw_read(struct native_request *req, char *buffer, DWORD size, DWORD *got)
{
    if (req->pending_offset < req->pending_size)
    {
        *got = min(size, req->pending_size - req->pending_offset);
        memcpy(buffer, req->pending + req->pending_offset, *got);
        req->pending_offset += *got;
        return S_OK;
    }
    return conn_recv(req->conn, req->abort_event, req->timeout_ms, buffer, size, got);
}

/* Give a byte back (chunk parsing reads one too far at times). */
static void unread(struct native_request *req, const char *data, DWORD size)
{
    char *pending;

    if (!size) return;
    if (!(pending = malloc(size + req->pending_size - req->pending_offset))) return;
    memcpy(pending, data, size);
    memcpy(pending + size, req->pending + req->pending_offset, req->pending_size - req->pending_offset);
    free(req->pending);
    req->pending_size = size + req->pending_size - req->pending_offset;
    req->pending_offset = 0;
    req->pending = pending;
}

/* A line of the chunked framing ("1a2b;ext", or the trailer's empty line). */
static HRESULT read_line(struct native_request *req, char *line, DWORD size)
{
    DWORD len = 0, got;
    HRESULT hr;
    char c;

    for (;;)
    {
        if (FAILED(hr = raw_read(req, &c, 1, &got))) return hr;
        if (!got) return HRESULT_FROM_WIN32(WSAECONNRESET);
        if (c == '\n') break;
        if (c != '\r' && len < size - 1) line[len++] = c;
    }
    line[len] = 0;
    return S_OK;
}

/* A Content-Length body just ended: anything already behind it means the
 * server sent more than it announced.  Such a response cannot be trusted
 * (which end is the real one?) and its connection is out of step. */
static void check_body_end(struct native_request *req)
{
    struct tls_channel *tls = req->conn->tls;
    char probe;

    if (tls)
    {
        /* records not decrypted yet may be anything (a close_notify): no
         * verdict on them, but no reuse either */
        if (tls_closed(tls) || tls_buffered(tls) || recv(req->conn->socket, &probe, 1, MSG_PEEK) > 0)
            req->keep_alive = FALSE;
    }
    if (req->pending_offset < req->pending_size ||
        (tls ? tls_pending(tls) : recv(req->conn->socket, &probe, 1, MSG_PEEK) > 0))
    {
        WARN("the server sent more than its Content-Length\n");
        req->too_long = TRUE;
        req->keep_alive = FALSE;
    }
}

HRESULT native_request_read(struct native_request *req, void *buffer, DWORD size, DWORD *read)
{
    char line[128];
    DWORD got;
    HRESULT hr;

    *read = 0;
    /* the bytes up to the announced end were handed out; the end itself is not a clean one */
    if (req->done && req->too_long) return DO_E_HTTP_BLOCKSIZE_MISMATCH;
    if (req->done || !size) return S_OK;
    if (req->framing == BODY_CHUNKED && !req->remaining)
    {
        UINT64 chunk = 0;
        char *p;

        if (FAILED(hr = read_line(req, line, sizeof(line)))) return hr;
        for (p = line; *p && *p != ';'; p++)
        {
            int digit = isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10);
            if (digit < 0 || digit > 15 || chunk >> 60) return HRESULT_FROM_WIN32(ERROR_WINHTTP_INVALID_SERVER_RESPONSE);
            chunk = chunk * 16 + digit;
        }
        if (!chunk)
        {
            /* the trailer: header lines up to an empty one */
            do if (FAILED(hr = read_line(req, line, sizeof(line)))) return hr; while (line[0]);
            req->done = TRUE;
            return S_OK;
        }
        req->remaining = chunk;
    }

    if (req->framing != BODY_UNTIL_CLOSE && size > req->remaining) size = (DWORD)req->remaining;
    if (FAILED(hr = raw_read(req, buffer, size, &got))) return hr;
    if (!got)
    {
        if (req->framing == BODY_UNTIL_CLOSE)
        {
            req->done = TRUE;
            return S_OK;
        }
        return HRESULT_FROM_WIN32(WSAECONNRESET);   /* body cut short */
    }
    *read = got;
    if (req->framing == BODY_UNTIL_CLOSE) return S_OK;
    req->remaining -= got;
    if (req->framing == BODY_CHUNKED && !req->remaining)
    {
        /* the CRLF after the chunk data */
        if (FAILED(hr = read_line(req, line, sizeof(line)))) return hr;
        if (line[0]) unread(req, line, lstrlenA(line));
    }
    else if (req->framing == BODY_LENGTH && !req->remaining)
    {
        req->done = TRUE;
        check_body_end(req);
    }
    return S_OK;
}

void native_request_close(struct native_request *req)
{
    if (!req) return;
    if (req->conn)
    {
        /* only a connection whose response was read to the end can carry another */
        if (req->done && req->keep_alive && !req->too_long && req->pending_offset == req->pending_size)
            put_idle(req->pool, req->conn);
        else
            connection_close(req->conn);
    }
    free(req->pending);
    free(req);
}

/* Read and drop the rest of a small body, so the connection can be reused. */
static void drain(struct native_request *req)
{
    char buffer[4096];
    DWORD got, total = 0;

    while (!req->done && total < 64 * 1024 &&
           SUCCEEDED(native_request_read(req, buffer, sizeof(buffer), &got)) && got)
        total += got;
}

/* One exchange on one connection (a reused one first, a new one if that fails). */
static HRESULT exchange(struct native_pool *pool, const struct url_parts *url, const char *request,
                        ULONG security_flags, HANDLE abort_event, DWORD timeout_ms, struct native_request *req,
                        char **head)
{
    BOOL reused;
    HRESULT hr;

    for (;;)
    {
        reused = (req->conn = take_idle(pool, url->host, url->port, url->secure)) != NULL;
        if (!reused && FAILED(hr = open_connection(url->host, url->port, url->secure, security_flags, abort_event,
                                                   timeout_ms, &req->conn)))
            return hr;
        if (SUCCEEDED(hr = conn_send(req->conn, abort_event, timeout_ms, request, strlen(request))) &&
            SUCCEEDED(hr = receive_head(req, head)))
            return S_OK;
        connection_close(req->conn);
        req->conn = NULL;
        /* a kept-alive connection the server dropped meanwhile: once more, fresh */
        if (!reused || hr == E_ABORT || hr == HRESULT_FROM_WIN32(WSAETIMEDOUT) ||
            hr == HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_FAILURE))
            return hr;
        free(req->pending);
        req->pending = NULL;
        req->pending_size = req->pending_offset = 0;
    }
}

HRESULT native_request_send(struct native_pool *pool, const struct http_fetch_params *params, DWORD timeout_ms,
                            ULONG security_flags, struct native_request **out, struct http_response *resp,
                            WCHAR **handoff_url)
{
    WCHAR *url = strdupW(params->url), *next;
    struct native_request *req = NULL;
    struct url_parts parts = { { 0 } };
    char *request = NULL, *head = NULL, *location;
    HRESULT hr = S_OK;
    int hops;

    *out = NULL;
    *handoff_url = NULL;
    memset(resp, 0, sizeof(*resp));
    if (!url) return E_OUTOFMEMORY;
    /* checked where they were set; checked again here, where they become bytes on the wire */
    if ((params->custom_headers && FAILED(headers_check(params->custom_headers, lstrlenW(params->custom_headers)))) ||
        (params->if_range && !text_is_clean(params->if_range)))
    {
        free(url);
        return E_INVALIDARG;
    }

    for (hops = 0; ; hops++)
    {
        free(parts.target);
        parts.target = NULL;
        if (!crack_url(url, &parts))
        {
            hr = HRESULT_FROM_WIN32(ERROR_WINHTTP_INVALID_URL);
            break;
        }
        if (parts.secure && !pool->tls)
        {
            /* https is WinHTTP's for this job: hand the URL over (after a redirect, too) */
            *handoff_url = url;
            url = NULL;
            hr = S_FALSE;
            break;
        }
        free(request);
        if (!(request = build_request(&parts, params)) || !(req = calloc(1, sizeof(*req))))
        {
            hr = E_OUTOFMEMORY;
            break;
        }
        req->pool = pool;
        req->abort_event = params->abort_event;
        req->timeout_ms = timeout_ms;
        if (FAILED(hr = exchange(pool, &parts, request, security_flags, params->abort_event, timeout_ms, req, &head)))
            break;
        http_response_clear(resp);
        if (!parse_head(head, resp, req))
        {
            hr = HRESULT_FROM_WIN32(ERROR_WINHTTP_INVALID_SERVER_RESPONSE);
            break;
        }
        resp->server_ip = strdupW(req->conn->peer);
        free(resp->final_url);
        resp->final_url = strdupW(url);

        if ((resp->status == 301 || resp->status == 302 || resp->status == 303 || resp->status == 307 ||
             resp->status == 308) &&
            (security_flags & BG_HTTP_REDIRECT_POLICY_MASK) != BG_HTTP_REDIRECT_POLICY_DISALLOW &&
            (location = header_value(head, "Location")))
        {
            next = resolve_location(url, location);
            free(location);
            /* a Location is a URL from the server: the client's rules hold for it */
            if (!next || hops == MAX_REDIRECTS || FAILED(url_check(next, lstrlenW(next))))
            {
                WARN("refusing the redirect from %s to %s\n", debugstr_w(url), debugstr_w(next));
                free(next);
                hr = HRESULT_FROM_WIN32(ERROR_WINHTTP_REDIRECT_FAILED);
                break;
            }
            if (parts.secure && wcsnicmp(next, L"https:", 6) &&
                !(security_flags & BG_HTTP_REDIRECT_POLICY_ALLOW_HTTPS_TO_HTTP))
            {
                /* WinHTTP's rule: no silent step down from https to http; the 3xx is the answer */
                free(next);
                break;
            }
            TRACE("redirect %lu from %s to %s\n", resp->status, debugstr_w(url), debugstr_w(next));
            drain(req);
            native_request_close(req);
            req = NULL;
            free(head);
            head = NULL;
            free(url);
            url = next;
            continue;
        }
        break;
    }

    free(parts.target);
    free(request);
    free(head);
    free(url);
    if (hr != S_OK)
    {
        native_request_close(req);
        if (FAILED(hr)) http_response_clear(resp);
        return hr;
    }
    *out = req;
    return S_OK;
}
