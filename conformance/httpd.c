/*
 * Loopback HTTP/1.1 server for the conformance tests
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
 * Design: one accept thread plus one thread per connection.  Connection
 * sockets use overlapped I/O and every wait also waits for the stop event,
 * so each thread notices httpd_stop() at once, whatever it is doing
 * (stalled, throttled, waiting for a slow client).  A connection thread is
 * the only one that touches its socket, which avoids closing a socket handle
 * under another thread's feet.
 */

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <process.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"

#define POLL_SLICE_MS      50      /* accept loop and rate limiter sleep granularity */
#define IDLE_TIMEOUT_MS    60000
#define LINGER_TIMEOUT_MS  2000
#define RESET_DRAIN_MS     50
#define MAX_HEAD_SIZE      16384
#define MAX_REQ_BODY       (1024 * 1024)
#define IO_BUF_SIZE        (256 * 1024)
#define CHUNK_SIZE         (16 * 1024)
#define CHUNK_OVERHEAD     16
#define MAX_CONNECTIONS    128
#define MAX_LOG_TARGETS    1024
#define MAX_RAW_LOG        256

struct resource
{
    struct resource *next;
    LONG refs;
    char *name;
    unsigned char *data;            /* NULL for generated resources */
    unsigned long long size;
};

/* The log keeps one entry per distinct request target rather than one per
 * request, so thousands of range requests cost no memory. */
struct log_entry
{
    char *target;
    unsigned int count;
    unsigned int last_seq;
    char *head;                     /* header block of the latest request */
};

/* Requests seen per path+query, for fail_first and etag_after. */
struct target_counter
{
    struct target_counter *next;
    char *target;
    unsigned int count;
};

/* One request head exactly as it came off the wire. */
struct raw_head
{
    char *data;
    size_t len;
};

struct connection
{
    struct connection *next;
    struct httpd *httpd;
    SOCKET sock;
    WSAEVENT io_event;
    HANDLE thread;
    volatile LONG done;
    size_t in_len;
    char in[MAX_HEAD_SIZE];         /* received, not yet consumed bytes */
    char head[MAX_HEAD_SIZE + 1];   /* header block of the current request */
    unsigned char io[IO_BUF_SIZE];  /* response staging buffer */
};

struct httpd
{
    SOCKET listener;
    unsigned short port;
    volatile LONG stopping;
    HANDLE stop_event;
    HANDLE accept_thread;
    CRITICAL_SECTION cs;
    struct resource *resources;
    struct target_counter *target_counters;
    struct connection *connections;
    unsigned int active_connections;
    unsigned int accepted_connections;
    struct log_entry log[MAX_LOG_TARGETS];
    unsigned int log_size;
    unsigned int log_seq;
    struct raw_head raw_log[MAX_RAW_LOG];   /* head number i is in raw_log[i % MAX_RAW_LOG] */
    unsigned int raw_count;
    unsigned short wanted_port;     /* httpd_start_on_port, else 0 */
    volatile LONG64 body_bytes;     /* body bytes handed to sockets, for httpd_body_bytes */
    char forced_query[256];         /* httpd_force_query, guarded by cs */
    /* the token bucket of shared_rate=, one for the whole server */
    CRITICAL_SECTION pool_cs;
    unsigned long long pool_rate;
    double pool_tokens;
    ULONGLONG pool_tick;
};

struct request
{
    char method[16];
    char target[MAX_HEAD_SIZE];     /* origin form: "/path?query" */
    char logged[MAX_HEAD_SIZE];     /* the target as sent; absolute form for proxy requests */
    const char *path_end;           /* points into target at '?' or NUL */
    const char *query;              /* after '?', or "" */
    size_t head_len;
    BOOL keep_alive;
    BOOL is_head;
};

/* Where body bytes come from: resource data, the pattern, or the echoed
 * request head. */
struct body_source
{
    const unsigned char *data;
    unsigned long long seed;
    BOOL invert;                        /* data bytes go out inverted (version 2 of a file resource) */
};

/* Per-response body options taken from the query. */
struct body_options
{
    BOOL chunked;
    BOOL nolength;
    unsigned long long rate;
    unsigned long long shared_rate;     /* 0: off */
    unsigned long long stall_after;     /* ~0ull: off */
    unsigned long long reset_after;     /* ~0ull: off */
    unsigned long long close_after;     /* ~0ull: off */
    unsigned long long extra;           /* bytes sent after the announced body */
};

struct head_builder
{
    char *buf;
    size_t len;
    size_t cap;
};

enum wait_result
{
    SOCK_READY,
    SOCK_EXPIRED,
    SOCK_STOPPED,
    SOCK_FAILED
};

enum read_result
{
    READ_OK,
    READ_CLOSED,
    READ_BAD
};

enum range_result
{
    RANGE_NONE,
    RANGE_OK,
    RANGE_UNSATISFIABLE
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static char *dup_string(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = malloc(len);

    if (copy) memcpy(copy, s, len);
    return copy;
}

static BOOL is_stopping(const struct httpd *httpd)
{
    return httpd->stopping != 0;
}

static int lower_char(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static BOOL equal_nocase(const char *a, const char *b, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (lower_char((unsigned char)a[i]) != lower_char((unsigned char)b[i])) return FALSE;
    return TRUE;
}

static BOOL starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

/* Strict decimal parse: digits only, no overflow. */
static BOOL parse_ull(const char *s, size_t len, unsigned long long *value)
{
    unsigned long long v = 0;
    size_t i;

    if (!len) return FALSE;
    for (i = 0; i < len; i++)
    {
        if (s[i] < '0' || s[i] > '9') return FALSE;
        if (v > (~0ull - 9) / 10) return FALSE;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return TRUE;
}

static unsigned long long fnv1a64(const char *s)
{
    unsigned long long h = 0xcbf29ce484222325ull;

    while (*s)
    {
        h ^= (unsigned char)*s++;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ------------------------------------------------------------------ */
/* Pattern of generated resources                                      */
/* ------------------------------------------------------------------ */

/* Each 8-byte word is a strong mix of (seed, word index), so a body that is
 * shifted by any amount or taken from the wrong offset does not match. */
static unsigned long long pattern_word(unsigned long long seed, unsigned long long index)
{
    unsigned long long z = seed + (index + 1) * 0x9e3779b97f4a7c15ull;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void pattern_fill_seed(unsigned long long seed, unsigned long long offset,
                              unsigned char *out, size_t size)
{
    unsigned long long index = offset >> 3;
    unsigned int shift = (unsigned int)(offset & 7);

    while (size)
    {
        unsigned long long word = pattern_word(seed, index++) >> (shift * 8);
        unsigned int n = 8 - shift;

        shift = 0;
        while (n-- && size)
        {
            *out++ = (unsigned char)word;
            word >>= 8;
            size--;
        }
    }
}

unsigned char httpd_pattern_byte(const char *name, unsigned long long offset)
{
    unsigned long long word = pattern_word(fnv1a64(name), offset >> 3);

    return (unsigned char)(word >> ((offset & 7) * 8));
}

void httpd_pattern_fill(const char *name, unsigned long long offset, void *buf, size_t size)
{
    pattern_fill_seed(fnv1a64(name), offset, buf, size);
}

static void body_fill(const struct body_source *src, unsigned long long offset,
                      unsigned char *out, size_t size)
{
    if (src->data)
    {
        memcpy(out, src->data + offset, size);
        if (src->invert)
        {
            size_t i;

            for (i = 0; i < size; i++) out[i] ^= 0xff;
        }
    }
    else
        pattern_fill_seed(src->seed, offset, out, size);
}

/* ------------------------------------------------------------------ */
/* Resources                                                           */
/* ------------------------------------------------------------------ */

static void resource_release(struct resource *res)
{
    if (InterlockedDecrement(&res->refs)) return;
    free(res->name);
    free(res->data);
    free(res);
}

/* Replaces any resource of the same name; connections still serving the old
 * one keep it alive through their reference. */
static void resource_insert(struct httpd *httpd, struct resource *res)
{
    struct resource **p, *old = NULL;

    EnterCriticalSection(&httpd->cs);
    for (p = &httpd->resources; *p; p = &(*p)->next)
    {
        if (!strcmp((*p)->name, res->name))
        {
            old = *p;
            *p = old->next;
            break;
        }
    }
    res->next = httpd->resources;
    httpd->resources = res;
    LeaveCriticalSection(&httpd->cs);
    if (old) resource_release(old);
}

static struct resource *resource_find(struct httpd *httpd, const char *name, size_t name_len)
{
    struct resource *res;

    EnterCriticalSection(&httpd->cs);
    for (res = httpd->resources; res; res = res->next)
    {
        if (strlen(res->name) == name_len && !memcmp(res->name, name, name_len))
        {
            InterlockedIncrement(&res->refs);
            break;
        }
    }
    LeaveCriticalSection(&httpd->cs);
    return res;
}

static struct resource *resource_create(const char *name)
{
    struct resource *res = calloc(1, sizeof(*res));

    if (!res) return NULL;
    if (!(res->name = dup_string(name)))
    {
        free(res);
        return NULL;
    }
    res->refs = 1;
    return res;
}

void httpd_add_file(struct httpd *httpd, const char *name, const void *data, size_t size)
{
    struct resource *res = resource_create(name);

    if (!res) return;
    /* Allocate at least one byte so data is never NULL, which marks
     * generated resources. */
    if (!(res->data = malloc(size ? size : 1)))
    {
        resource_release(res);
        return;
    }
    if (size) memcpy(res->data, data, size);
    res->size = size;
    resource_insert(httpd, res);
}

void httpd_add_generated(struct httpd *httpd, const char *name, unsigned long long size)
{
    struct resource *res = resource_create(name);

    if (!res) return;
    res->size = size;
    resource_insert(httpd, res);
}

/* ------------------------------------------------------------------ */
/* Request log                                                         */
/* ------------------------------------------------------------------ */

static void log_entry_clear(struct log_entry *entry)
{
    free(entry->target);
    free(entry->head);
    memset(entry, 0, sizeof(*entry));
}

/* Finds the entry for target, or makes room for it by evicting the entry
 * that was used least recently. */
static struct log_entry *log_slot(struct httpd *httpd, const char *target)
{
    struct log_entry *oldest = NULL;
    unsigned int i;

    for (i = 0; i < httpd->log_size; i++)
    {
        if (!strcmp(httpd->log[i].target, target)) return &httpd->log[i];
        if (!oldest || httpd->log[i].last_seq < oldest->last_seq) oldest = &httpd->log[i];
    }
    if (httpd->log_size < MAX_LOG_TARGETS) return &httpd->log[httpd->log_size++];
    log_entry_clear(oldest);
    return oldest;
}

static void log_request(struct httpd *httpd, const struct request *req, const char *head)
{
    struct log_entry *entry;
    char *head_copy = malloc(req->head_len + 1);

    if (!head_copy) return;
    memcpy(head_copy, head, req->head_len + 1);

    EnterCriticalSection(&httpd->cs);
    entry = log_slot(httpd, req->logged);
    if (!entry->target && !(entry->target = dup_string(req->logged)))
    {
        /* Out of memory: drop the (now empty) slot again. */
        *entry = httpd->log[--httpd->log_size];
        memset(&httpd->log[httpd->log_size], 0, sizeof(*entry));
        LeaveCriticalSection(&httpd->cs);
        free(head_copy);
        return;
    }
    free(entry->head);
    entry->head = head_copy;
    entry->count++;
    entry->last_seq = ++httpd->log_seq;
    LeaveCriticalSection(&httpd->cs);
}

unsigned int httpd_request_count(struct httpd *httpd, const char *path_prefix)
{
    unsigned int i, count = 0;

    EnterCriticalSection(&httpd->cs);
    for (i = 0; i < httpd->log_size; i++)
        if (starts_with(httpd->log[i].target, path_prefix)) count += httpd->log[i].count;
    LeaveCriticalSection(&httpd->cs);
    return count;
}

static BOOL find_header(const char *head, const char *name, const char **value, size_t *value_len);

BOOL httpd_last_request_header(struct httpd *httpd, const char *path_prefix,
                               const char *header, char *buf, size_t size)
{
    const struct log_entry *latest = NULL;
    const char *value;
    size_t len;
    unsigned int i;
    BOOL ret = FALSE;

    if (size) buf[0] = 0;
    EnterCriticalSection(&httpd->cs);
    for (i = 0; i < httpd->log_size; i++)
    {
        const struct log_entry *entry = &httpd->log[i];

        if (starts_with(entry->target, path_prefix) && (!latest || entry->last_seq > latest->last_seq))
            latest = entry;
    }
    if (latest && find_header(latest->head, header, &value, &len) && size)
    {
        size_t n = len < size - 1 ? len : size - 1;

        memcpy(buf, value, n);
        buf[n] = 0;
        ret = (n == len);
    }
    LeaveCriticalSection(&httpd->cs);
    return ret;
}

unsigned int httpd_open_connections(struct httpd *httpd)
{
    struct connection *conn;
    unsigned int count = 0;

    EnterCriticalSection(&httpd->cs);
    for (conn = httpd->connections; conn; conn = conn->next)
        if (!conn->done) count++;
    LeaveCriticalSection(&httpd->cs);
    return count;
}

unsigned int httpd_connection_count(struct httpd *httpd)
{
    unsigned int count;

    EnterCriticalSection(&httpd->cs);
    count = httpd->accepted_connections;
    LeaveCriticalSection(&httpd->cs);
    return count;
}

void httpd_force_query(struct httpd *httpd, const char *query)
{
    EnterCriticalSection(&httpd->cs);
    lstrcpynA(httpd->forced_query, query ? query : "", sizeof(httpd->forced_query));
    LeaveCriticalSection(&httpd->cs);
}

void httpd_reset_log(struct httpd *httpd)
{
    unsigned int i;

    EnterCriticalSection(&httpd->cs);
    for (i = 0; i < httpd->log_size; i++) log_entry_clear(&httpd->log[i]);
    httpd->log_size = 0;
    httpd->accepted_connections = 0;
    for (i = 0; i < MAX_RAW_LOG; i++)
    {
        free(httpd->raw_log[i].data);
        httpd->raw_log[i].data = NULL;
        httpd->raw_log[i].len = 0;
    }
    httpd->raw_count = 0;
    LeaveCriticalSection(&httpd->cs);
}

/* Keeps a copy of a request head as received, whatever it holds. */
static void raw_record(struct httpd *httpd, const char *data, size_t len)
{
    struct raw_head *slot;
    char *copy = malloc(len + 1);

    if (!copy) return;
    memcpy(copy, data, len);
    copy[len] = 0;
    EnterCriticalSection(&httpd->cs);
    slot = &httpd->raw_log[httpd->raw_count++ % MAX_RAW_LOG];
    free(slot->data);
    slot->data = copy;
    slot->len = len;
    LeaveCriticalSection(&httpd->cs);
}

unsigned int httpd_raw_count(struct httpd *httpd)
{
    unsigned int count;

    EnterCriticalSection(&httpd->cs);
    count = httpd->raw_count;
    LeaveCriticalSection(&httpd->cs);
    return count;
}

size_t httpd_raw_request(struct httpd *httpd, unsigned int index, char *buf, size_t size)
{
    const struct raw_head *slot;
    size_t len = 0;

    if (size) buf[0] = 0;
    EnterCriticalSection(&httpd->cs);
    if (index < httpd->raw_count && httpd->raw_count - index <= MAX_RAW_LOG)
    {
        slot = &httpd->raw_log[index % MAX_RAW_LOG];
        len = slot->len;
        if (size)
        {
            size_t n = len < size - 1 ? len : size - 1;

            memcpy(buf, slot->data, n);
            buf[n] = 0;
        }
    }
    LeaveCriticalSection(&httpd->cs);
    return len;
}

/* ------------------------------------------------------------------ */
/* Header and query parsing                                            */
/* ------------------------------------------------------------------ */

/* Looks a header up in a raw header block (request line first, CRLF line
 * ends, terminated by an empty line).  Returns the value with surrounding
 * whitespace removed via *value / *value_len. */
static BOOL find_header(const char *head, const char *name, const char **value, size_t *value_len)
{
    size_t name_len = strlen(name);
    const char *line = strstr(head, "\r\n");

    while (line && line[2] != '\r' && line[2])
    {
        const char *start = line + 2, *end = strstr(start, "\r\n");

        if (!end) break;
        if ((size_t)(end - start) > name_len && start[name_len] == ':'
            && equal_nocase(start, name, name_len))
        {
            const char *v = start + name_len + 1;

            while (v < end && (*v == ' ' || *v == '\t')) v++;
            while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
            *value = v;
            *value_len = end - v;
            return TRUE;
        }
        line = end;
    }
    return FALSE;
}

static BOOL header_has_token(const char *head, const char *name, const char *token)
{
    size_t len, token_len = strlen(token);
    const char *value, *end;

    if (!find_header(head, name, &value, &len)) return FALSE;
    end = value + len;
    while (value < end)
    {
        const char *item_end = value;

        while (item_end < end && *item_end != ',') item_end++;
        while (value < item_end && (*value == ' ' || *value == '\t')) value++;
        if ((size_t)(item_end - value) >= token_len && equal_nocase(value, token, token_len))
        {
            const char *rest = value + token_len;

            while (rest < item_end && (*rest == ' ' || *rest == '\t')) rest++;
            if (rest == item_end) return TRUE;
        }
        value = item_end + 1;
    }
    return FALSE;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Copies a percent-decoded query value; values are decoded so that "to" can
 * carry a path with its own query. */
static BOOL decode_value(const char *s, size_t len, char *out, size_t size)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++)
    {
        int c = (unsigned char)s[i];

        if (c == '%' && i + 2 < len && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0)
        {
            c = hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]);
            i += 2;
        }
        else if (c == '+')
        {
            c = ' ';
        }
        /* Control characters would let a value inject header lines. */
        if (c < 32 || c == 127 || n + 1 >= size) return FALSE;
        out[n++] = (char)c;
    }
    out[n] = 0;
    return TRUE;
}

/* Finds "name=value" in the query; the first occurrence wins. */
static BOOL query_raw(const char *query, const char *name, const char **value, size_t *value_len)
{
    size_t name_len = strlen(name);
    const char *p = query;

    while (*p)
    {
        const char *end = strchr(p, '&');

        if (!end) end = p + strlen(p);
        if ((size_t)(end - p) >= name_len && !memcmp(p, name, name_len)
            && (p + name_len == end || p[name_len] == '='))
        {
            *value = p + name_len + (p + name_len < end ? 1 : 0);
            *value_len = end - *value;
            return TRUE;
        }
        p = *end ? end + 1 : end;
    }
    return FALSE;
}

static BOOL query_string(const char *query, const char *name, char *out, size_t size)
{
    const char *value;
    size_t len;

    if (!query_raw(query, name, &value, &len)) return FALSE;
    return decode_value(value, len, out, size);
}

/* Returns TRUE if the parameter is present with a valid number. */
static BOOL query_number(const char *query, const char *name, unsigned long long *number)
{
    char buf[32];

    if (!query_string(query, name, buf, sizeof(buf))) return FALSE;
    return parse_ull(buf, strlen(buf), number);
}

static BOOL query_flag(const char *query, const char *name)
{
    unsigned long long value;

    return query_number(query, name, &value) && value != 0;
}

/* ------------------------------------------------------------------ */
/* Socket I/O                                                          */
/* ------------------------------------------------------------------ */

/* Waits for an overlapped operation that WSASend/WSARecv returned rc for.
 * Overlapped I/O lets one wait cover both the socket and the stop event, so
 * a blocked thread reacts to httpd_stop() at once without polling, and costs
 * no more system calls than plain blocking I/O. */
static enum wait_result complete_io(struct connection *conn, WSAOVERLAPPED *ov, int rc,
                                    DWORD timeout_ms, DWORD *bytes)
{
    HANDLE handles[2];
    DWORD flags, wait;

    *bytes = 0;
    if (rc == SOCKET_ERROR && WSAGetLastError() != WSA_IO_PENDING) return SOCK_FAILED;
    if (rc == SOCKET_ERROR)
    {
        handles[0] = conn->io_event;
        handles[1] = conn->httpd->stop_event;
        wait = WaitForMultipleObjects(2, handles, FALSE, timeout_ms);
        if (wait != WAIT_OBJECT_0)
        {
            /* The stack must be done with our buffer before we return. */
            CancelIoEx((HANDLE)conn->sock, ov);
            WSAGetOverlappedResult(conn->sock, ov, bytes, TRUE, &flags);
            return wait == WAIT_TIMEOUT ? SOCK_EXPIRED : SOCK_STOPPED;
        }
    }
    if (!WSAGetOverlappedResult(conn->sock, ov, bytes, FALSE, &flags)) return SOCK_FAILED;
    return SOCK_READY;
}

static enum wait_result recv_io(struct connection *conn, char *buf, size_t size,
                                DWORD timeout_ms, DWORD *bytes)
{
    WSAOVERLAPPED ov;
    WSABUF wb;
    DWORD flags = 0;
    int rc;

    if (is_stopping(conn->httpd)) return SOCK_STOPPED;
    memset(&ov, 0, sizeof(ov));
    ov.hEvent = conn->io_event;
    WSAResetEvent(conn->io_event);
    wb.buf = buf;
    wb.len = (ULONG)size;
    rc = WSARecv(conn->sock, &wb, 1, NULL, &flags, &ov, NULL);
    return complete_io(conn, &ov, rc, timeout_ms, bytes);
}

static BOOL send_all(struct connection *conn, const void *data, size_t len)
{
    const char *p = data;

    while (len)
    {
        WSAOVERLAPPED ov;
        WSABUF wb;
        DWORD sent;
        int rc;

        if (is_stopping(conn->httpd)) return FALSE;
        memset(&ov, 0, sizeof(ov));
        ov.hEvent = conn->io_event;
        WSAResetEvent(conn->io_event);
        wb.buf = (char *)p;
        wb.len = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        rc = WSASend(conn->sock, &wb, 1, NULL, 0, &ov, NULL);
        if (complete_io(conn, &ov, rc, INFINITE, &sent) != SOCK_READY || !sent) return FALSE;
        p += sent;
        len -= sent;
    }
    return TRUE;
}

/* Receives into the input buffer; FALSE on close, error, timeout or stop. */
static BOOL receive_more(struct connection *conn, DWORD timeout_ms)
{
    DWORD n;

    if (recv_io(conn, conn->in + conn->in_len, sizeof(conn->in) - conn->in_len, timeout_ms, &n) != SOCK_READY)
        return FALSE;
    conn->in_len += n;
    return n != 0;
}

/* Reads and throws away whatever the peer sends until it closes, an error
 * occurs, the server stops or timeout_ms passes. */
static void drain_until_close(struct connection *conn, DWORD timeout_ms)
{
    ULONGLONG deadline = GetTickCount64() + timeout_ms;
    char scratch[4096];

    for (;;)
    {
        DWORD left = INFINITE, n;

        if (timeout_ms != INFINITE)
        {
            ULONGLONG now = GetTickCount64();

            if (now >= deadline) return;
            left = (DWORD)(deadline - now);
        }
        if (recv_io(conn, scratch, sizeof(scratch), left, &n) != SOCK_READY || !n) return;
    }
}

/* Closing with unread input makes the stack send a reset, which can destroy
 * response bytes the client has not read yet; so half-close first and give
 * the client a moment to finish. */
static void close_gracefully(struct connection *conn)
{
    shutdown(conn->sock, SD_SEND);
    drain_until_close(conn, LINGER_TIMEOUT_MS);
    closesocket(conn->sock);
    conn->sock = INVALID_SOCKET;
}

static void close_abortively(struct connection *conn)
{
    struct linger lg = { 1, 0 };

    setsockopt(conn->sock, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof(lg));
    closesocket(conn->sock);
    conn->sock = INVALID_SOCKET;
}

/* ------------------------------------------------------------------ */
/* Request reading                                                     */
/* ------------------------------------------------------------------ */

static void consume_input(struct connection *conn, size_t len)
{
    memmove(conn->in, conn->in + len, conn->in_len - len);
    conn->in_len -= len;
}

static char *find_head_end(struct connection *conn)
{
    size_t i;

    for (i = 0; i + 3 < conn->in_len; i++)
        if (!memcmp(conn->in + i, "\r\n\r\n", 4)) return conn->in + i + 4;
    return NULL;
}

static BOOL valid_token_char(int c)
{
    return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* Checks every header line for "name: value" form without control chars. */
static BOOL validate_header_lines(const char *head)
{
    const char *line = strstr(head, "\r\n") + 2;

    while (strncmp(line, "\r\n", 2))
    {
        const char *end = strstr(line, "\r\n"), *p;

        if (!end || line == end) return FALSE;
        for (p = line; p < end && *p != ':'; p++)
            if (!valid_token_char((unsigned char)*p)) return FALSE;
        if (p == line || p == end) return FALSE;
        for (p++; p < end; p++)
            if (((unsigned char)*p < 32 && *p != '\t') || *p == 127) return FALSE;
        line = end + 2;
    }
    return TRUE;
}

/* httpd_force_query: put the forced parameters first in the query, where
 * they win over the request's own. */
static BOOL force_query(struct httpd *httpd, char *target)
{
    char forced[sizeof(httpd->forced_query)], *query = strchr(target, '?');
    size_t path_len = query ? (size_t)(query - target) : strlen(target);
    size_t forced_len, rest_len = query ? strlen(query + 1) : 0;

    EnterCriticalSection(&httpd->cs);
    strcpy(forced, httpd->forced_query);
    LeaveCriticalSection(&httpd->cs);
    if (!(forced_len = strlen(forced))) return TRUE;
    if (path_len + 1 + forced_len + 1 + rest_len + 1 > MAX_HEAD_SIZE) return FALSE;
    if (query) memmove(target + path_len + 1 + forced_len + 1, query + 1, rest_len + 1);
    else target[path_len + 1 + forced_len] = 0;
    target[path_len] = '?';
    memcpy(target + path_len + 1, forced, forced_len);
    if (query) target[path_len + 1 + forced_len] = '&';
    return TRUE;
}

static BOOL parse_request_line(struct connection *conn, struct request *req)
{
    const char *line = conn->head, *end = strstr(line, "\r\n");
    const char *sp1 = memchr(line, ' ', end - line), *sp2, *version, *q;
    size_t len;

    if (!sp1) return FALSE;
    sp2 = memchr(sp1 + 1, ' ', end - sp1 - 1);
    if (!sp2 || memchr(sp2 + 1, ' ', end - sp2 - 1)) return FALSE;

    len = sp1 - line;
    if (!len || len >= sizeof(req->method)) return FALSE;
    memcpy(req->method, line, len);
    req->method[len] = 0;
    for (q = req->method; *q; q++) if (!valid_token_char((unsigned char)*q)) return FALSE;

    len = sp2 - sp1 - 1;
    if (!len || len >= MAX_HEAD_SIZE) return FALSE;
    memcpy(req->logged, sp1 + 1, len);
    req->logged[len] = 0;
    for (q = req->logged; *q; q++) if ((unsigned char)*q <= 32 || *q == 127) return FALSE;
    if (!_strnicmp(req->logged, "http://", 7))
    {
        /* absolute form, as a client sends it to a proxy: serve the path part */
        const char *path = strchr(req->logged + 7, '/');
        if (!path) path = "/";
        len = strlen(path);
        memcpy(req->target, path, len + 1);
    }
    else if (req->logged[0] == '/')
        memcpy(req->target, req->logged, len + 1);
    else
        return FALSE;
    if (!force_query(conn->httpd, req->target)) return FALSE;
    len = strlen(req->target);
    req->path_end = strchr(req->target, '?');
    req->query = req->path_end ? req->path_end + 1 : "";
    if (!req->path_end) req->path_end = req->target + len;

    version = sp2 + 1;
    if (end - version != 8 || strncmp(version, "HTTP/1.", 7)) return FALSE;
    if (version[7] == '1')
        req->keep_alive = !header_has_token(conn->head, "Connection", "close");
    else if (version[7] == '0')
        req->keep_alive = FALSE;
    else
        return FALSE;
    req->is_head = !strcmp(req->method, "HEAD");
    return TRUE;
}

/* Requests to this server have no use for a body, but a client may still
 * send one; it is read and discarded so the connection stays in sync. */
static enum read_result discard_request_body(struct connection *conn)
{
    unsigned long long length;
    const char *value;
    size_t len;

    if (find_header(conn->head, "Transfer-Encoding", &value, &len)) return READ_BAD;
    if (!find_header(conn->head, "Content-Length", &value, &len)) return READ_OK;
    if (!parse_ull(value, len, &length) || length > MAX_REQ_BODY) return READ_BAD;
    while (length)
    {
        size_t n = conn->in_len < length ? conn->in_len : (size_t)length;

        consume_input(conn, n);
        length -= n;
        if (length && !receive_more(conn, IDLE_TIMEOUT_MS)) return READ_CLOSED;
    }
    return READ_OK;
}

static enum read_result read_request(struct connection *conn, struct request *req)
{
    const char *head_end;

    for (;;)
    {
        /* Tolerate stray empty lines between requests. */
        while (conn->in_len >= 2 && !memcmp(conn->in, "\r\n", 2)) consume_input(conn, 2);
        if ((head_end = find_head_end(conn))) break;
        if (conn->in_len == sizeof(conn->in) || !receive_more(conn, IDLE_TIMEOUT_MS))
        {
            /* whatever came, even a fragment, belongs in the raw log */
            if (!conn->in_len) return READ_CLOSED;
            raw_record(conn->httpd, conn->in, conn->in_len);
            return READ_BAD;
        }
    }

    raw_record(conn->httpd, conn->in, head_end - conn->in);
    memset(req, 0, sizeof(*req));
    req->head_len = head_end - conn->in;
    memcpy(conn->head, conn->in, req->head_len);
    conn->head[req->head_len] = 0;
    consume_input(conn, req->head_len);

    if (strlen(conn->head) != req->head_len) return READ_BAD;   /* embedded NUL */
    if (!parse_request_line(conn, req) || !validate_header_lines(conn->head)) return READ_BAD;
    return discard_request_body(conn);
}

/* ------------------------------------------------------------------ */
/* Response heads                                                      */
/* ------------------------------------------------------------------ */

static const char *reason_phrase(unsigned int status)
{
    static const struct { unsigned int status; const char *text; } phrases[] =
    {
        { 200, "OK" }, { 201, "Created" }, { 202, "Accepted" }, { 204, "No Content" },
        { 206, "Partial Content" }, { 301, "Moved Permanently" }, { 302, "Found" },
        { 303, "See Other" }, { 304, "Not Modified" }, { 307, "Temporary Redirect" },
        { 308, "Permanent Redirect" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
        { 403, "Forbidden" }, { 404, "Not Found" }, { 405, "Method Not Allowed" },
        { 408, "Request Timeout" }, { 410, "Gone" }, { 413, "Content Too Large" },
        { 416, "Range Not Satisfiable" }, { 429, "Too Many Requests" },
        { 500, "Internal Server Error" }, { 501, "Not Implemented" }, { 502, "Bad Gateway" },
        { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
    };
    unsigned int i;

    for (i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
        if (phrases[i].status == status) return phrases[i].text;
    return "Status";
}

static void head_add(struct head_builder *hb, const char *fmt, ...)
{
    va_list args;
    int n;

    if (hb->len >= hb->cap) return;
    va_start(args, fmt);
    n = vsnprintf(hb->buf + hb->len, hb->cap - hb->len, fmt, args);
    va_end(args);
    if (n < 0 || (size_t)n >= hb->cap - hb->len) hb->len = hb->cap;
    else hb->len += n;
}

static void head_begin(struct head_builder *hb, struct connection *conn, unsigned int status, BOOL closing)
{
    static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    SYSTEMTIME now;

    hb->buf = (char *)conn->io;
    hb->len = 0;
    /* Heads are small; the rest of the buffer is left for the body. */
    hb->cap = 4096;
    GetSystemTime(&now);
    head_add(hb, "HTTP/1.1 %u %s\r\n", status, reason_phrase(status));
    head_add(hb, "Server: wine-dosvc-conformance\r\n");
    head_add(hb, "Date: %s, %02u %s %u %02u:%02u:%02u GMT\r\n", days[now.wDayOfWeek], now.wDay,
             months[now.wMonth - 1], now.wYear, now.wHour, now.wMinute, now.wSecond);
    if (closing) head_add(hb, "Connection: close\r\n");
}

/* Finishes the head; FALSE if it did not fit. */
static BOOL head_end(struct head_builder *hb)
{
    head_add(hb, "\r\n");
    return hb->len < hb->cap;
}

/* ------------------------------------------------------------------ */
/* Body sending                                                        */
/* ------------------------------------------------------------------ */

static void get_body_options(const char *query, struct body_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->chunked = query_flag(query, "chunked");
    opts->nolength = query_flag(query, "nolength");
    /* Rates beyond 1 TB/s are as good as unlimited and would overflow the
     * allowance arithmetic. */
    if (!query_number(query, "rate", &opts->rate) || opts->rate > 1000000000000ull) opts->rate = 0;
    if (!query_number(query, "shared_rate", &opts->shared_rate) || opts->shared_rate > 1000000000000ull)
        opts->shared_rate = 0;
    if (!query_number(query, "stall_after", &opts->stall_after)) opts->stall_after = ~0ull;
    if (!query_number(query, "reset_after", &opts->reset_after)) opts->reset_after = ~0ull;
    if (!query_number(query, "close_after", &opts->close_after)) opts->close_after = ~0ull;
    if (!query_number(query, "extra", &opts->extra) || opts->extra > 65536) opts->extra = 0;
}

/* How many more bytes the rate limit allows now (a 50 ms burst is allowed so
 * slices are not uselessly small), or 0 with *wait_ms set. */
static unsigned long long rate_allowance(unsigned long long rate, ULONGLONG start,
                                         unsigned long long sent, DWORD *wait_ms)
{
    ULONGLONG elapsed = GetTickCount64() - start + 50;
    unsigned long long allowed = rate * elapsed / 1000;
    unsigned long long next_ms;

    if (allowed > sent) return allowed - sent;
    next_ms = (sent + 1) * 1000 / rate + 1;
    *wait_ms = next_ms > elapsed ? (DWORD)(next_ms - elapsed) : 1;
    if (*wait_ms > POLL_SLICE_MS) *wait_ms = POLL_SLICE_MS;
    return 0;
}

/* How many of want bytes the server-wide bucket of shared_rate= grants now
 * (at most one chunk, so connections take turns), or 0 with *wait_ms set.
 * The bucket holds at most 50 ms worth, or one chunk. */
static size_t shared_allowance(struct httpd *httpd, unsigned long long rate, size_t want, DWORD *wait_ms)
{
    double capacity = rate / 20.0 > CHUNK_SIZE ? rate / 20.0 : CHUNK_SIZE;
    ULONGLONG now = GetTickCount64();
    size_t grant = 0;

    if (want > CHUNK_SIZE) want = CHUNK_SIZE;
    EnterCriticalSection(&httpd->pool_cs);
    if (httpd->pool_rate != rate)
    {
        httpd->pool_rate = rate;
        httpd->pool_tokens = 0;
        httpd->pool_tick = now;
    }
    httpd->pool_tokens += (double)rate * (now - httpd->pool_tick) / 1000.0;
    httpd->pool_tick = now;
    if (httpd->pool_tokens > capacity) httpd->pool_tokens = capacity;
    if (httpd->pool_tokens >= 1.0)
    {
        grant = httpd->pool_tokens < want ? (size_t)httpd->pool_tokens : want;
        httpd->pool_tokens -= grant;
    }
    else
    {
        double ms = (want - httpd->pool_tokens) * 1000.0 / rate;
        *wait_ms = ms < 1 ? 1 : ms > POLL_SLICE_MS ? POLL_SLICE_MS : (DWORD)ms;
    }
    LeaveCriticalSection(&httpd->pool_cs);
    return grant;
}

static size_t append_piece(struct connection *conn, size_t used, const struct body_source *src,
                           unsigned long long offset, size_t piece, BOOL chunked)
{
    if (chunked) used += sprintf((char *)conn->io + used, "%x\r\n", (unsigned int)piece);
    body_fill(src, offset, conn->io + used, piece);
    used += piece;
    if (chunked)
    {
        memcpy(conn->io + used, "\r\n", 2);
        used += 2;
    }
    return used;
}

/* Sends the staged head (conn->io[0..used)) followed by up to limit body
 * bytes, packing data into large writes.  Returns the number of body bytes
 * sent, or ~0ull on failure. */
static unsigned long long send_body_bytes(struct connection *conn, size_t used, const struct body_source *src,
                                          unsigned long long start, unsigned long long limit,
                                          const struct body_options *opts, unsigned long long extra)
{
    ULONGLONG rate_start = GetTickCount64();
    unsigned long long sent = 0;

    if (opts->shared_rate)
    {
        /* what a client does not read must stay here, not in a deep socket
         * buffer that would take the shared bandwidth ahead of time */
        int size = 2 * CHUNK_SIZE;
        setsockopt(conn->sock, SOL_SOCKET, SO_SNDBUF, (char *)&size, sizeof(size));
    }

    while (sent < limit)
    {
        size_t space = IO_BUF_SIZE - used - CHUNK_OVERHEAD;
        size_t piece = space;
        DWORD wait_ms = 0;

        if (opts->chunked && piece > CHUNK_SIZE) piece = CHUNK_SIZE;
        if (piece > limit - sent) piece = (size_t)(limit - sent);
        if (opts->rate)
        {
            unsigned long long allowed = rate_allowance(opts->rate, rate_start, sent, &wait_ms);

            if (!allowed)
            {
                if (used && !send_all(conn, conn->io, used)) return ~0ull;
                used = 0;
                if (WaitForSingleObject(conn->httpd->stop_event, wait_ms) == WAIT_OBJECT_0) return ~0ull;
                continue;
            }
            if (piece > allowed) piece = (size_t)allowed;
        }
        if (opts->shared_rate)
        {
            size_t allowed = shared_allowance(conn->httpd, opts->shared_rate, piece, &wait_ms);

            if (!allowed)
            {
                if (used && !send_all(conn, conn->io, used)) return ~0ull;
                used = 0;
                if (WaitForSingleObject(conn->httpd->stop_event, wait_ms) == WAIT_OBJECT_0) return ~0ull;
                continue;
            }
            piece = allowed;
        }
        used = append_piece(conn, used, src, start + sent, piece, opts->chunked);
        sent += piece;
        InterlockedExchangeAdd64(&conn->httpd->body_bytes, piece);
        if ((opts->rate || opts->shared_rate || sent == limit || IO_BUF_SIZE - used < CHUNK_SIZE + CHUNK_OVERHEAD) &&
            !(sent == limit && extra))
        {
            if (!send_all(conn, conn->io, used)) return ~0ull;
            used = 0;
        }
    }
    if (extra)
    {
        /* bytes beyond the announced end go out in the same write as the
         * body's last bytes, so a client sees them as soon as it sees the end */
        if (used + extra > IO_BUF_SIZE)
        {
            if (!send_all(conn, conn->io, used)) return ~0ull;
            used = 0;
        }
        memset(conn->io + used, 'Z', (size_t)extra);
        used += (size_t)extra;
    }
    if (used && !send_all(conn, conn->io, used)) return ~0ull;
    return sent;
}

/* Whether the connection stays usable after the response: not if the body
 * is ended by closing or cut short on purpose. */
static BOOL keeps_connection(const struct request *req, const struct body_options *opts,
                             unsigned long long length)
{
    if (!req->keep_alive || opts->nolength) return FALSE;
    return req->is_head || (opts->stall_after >= length && opts->reset_after >= length &&
                            opts->close_after >= length);
}

/* Sends head plus body and applies the body options.  Returns TRUE if the
 * connection can be kept open for another request. */
static BOOL send_response(struct connection *conn, struct request *req, size_t head_len,
                          const struct body_source *src, unsigned long long start,
                          unsigned long long length, const struct body_options *opts, BOOL keep)
{
    unsigned long long limit = length;
    BOOL stall = FALSE, reset = FALSE, cut = FALSE;

    if (req->is_head)
        return send_all(conn, conn->io, head_len) && keep;

    if (opts->stall_after < limit)
    {
        limit = opts->stall_after;
        stall = TRUE;
    }
    if (opts->reset_after < limit)
    {
        limit = opts->reset_after;
        stall = FALSE;
        reset = TRUE;
    }
    if (opts->close_after < limit)
    {
        limit = opts->close_after;
        stall = reset = FALSE;
        cut = TRUE;
    }
    /* extra bytes follow a complete length-delimited body only */
    if (send_body_bytes(conn, head_len, src, start, limit, opts,
                        (limit == length && !opts->chunked) ? opts->extra : 0) == ~0ull)
        return FALSE;
    /* an orderly close (FIN) before the end: the connection thread shuts it down gracefully */
    if (cut) return FALSE;

    if (stall)
    {
        /* Keep the connection open without sending until the client gives
         * up or the server stops. */
        drain_until_close(conn, INFINITE);
        return FALSE;
    }
    if (reset)
    {
        WaitForSingleObject(conn->httpd->stop_event, RESET_DRAIN_MS);
        close_abortively(conn);
        return FALSE;
    }
    if (opts->chunked && !send_all(conn, "0\r\n\r\n", 5)) return FALSE;
    return keep;
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

/* A response with a short text body; used for errors and status=. */
static BOOL send_simple(struct connection *conn, struct request *req, unsigned int status,
                        BOOL keep, const char *extra_header)
{
    struct head_builder hb;
    char body[64];
    int body_len = 0;

    /* These statuses must not carry a body. */
    if (status != 204 && status != 304)
        body_len = sprintf(body, "%u %s\n", status, reason_phrase(status));
    head_begin(&hb, conn, status, !keep);
    if (extra_header) head_add(&hb, "%s\r\n", extra_header);
    if (status != 204 && status != 304)
        head_add(&hb, "Content-Type: text/plain\r\nContent-Length: %d\r\n", body_len);
    if (!head_end(&hb)) return FALSE;
    if (!req || !req->is_head)
    {
        memcpy(hb.buf + hb.len, body, body_len);
        hb.len += body_len;
    }
    return send_all(conn, hb.buf, hb.len) && keep;
}

static BOOL send_status_param(struct connection *conn, struct request *req, unsigned int status)
{
    unsigned long long retry_after;
    char extra[64];

    if (status < 200 || status > 599) return send_simple(conn, req, 400, FALSE, NULL);
    if (query_number(req->query, "retry_after", &retry_after))
    {
        sprintf(extra, "Retry-After: %llu", retry_after);
        return send_simple(conn, req, status, req->keep_alive, extra);
    }
    return send_simple(conn, req, status, req->keep_alive, NULL);
}

/* Counts a request to this exact path+query; returns its number, from 1
 * (0 when out of memory). */
static unsigned int target_counter_bump(struct httpd *httpd, const char *target)
{
    struct target_counter *tc;
    unsigned int count = 0;

    EnterCriticalSection(&httpd->cs);
    for (tc = httpd->target_counters; tc; tc = tc->next)
        if (!strcmp(tc->target, target)) break;
    if (!tc && (tc = calloc(1, sizeof(*tc))))
    {
        if ((tc->target = dup_string(target)))
        {
            tc->next = httpd->target_counters;
            httpd->target_counters = tc;
        }
        else
        {
            free(tc);
            tc = NULL;
        }
    }
    if (tc) count = ++tc->count;
    LeaveCriticalSection(&httpd->cs);
    return count;
}

/* Builds this URL's target with redirect=N replaced by redirect=N-1. */
static BOOL next_hop_target(const struct request *req, unsigned long long hops, char *out, size_t size)
{
    const char *p = req->query;
    size_t len = req->path_end - req->target;
    BOOL first = TRUE;

    if (len + 1 >= size) return FALSE;
    memcpy(out, req->target, len);
    out[len++] = '?';
    while (*p)
    {
        const char *end = strchr(p, '&');
        int n;

        if (!end) end = p + strlen(p);
        if (starts_with(p, "redirect=") || (end - p == 8 && starts_with(p, "redirect")))
            n = snprintf(out + len, size - len, "%sredirect=%llu", first ? "" : "&", hops - 1);
        else
            n = snprintf(out + len, size - len, "%s%.*s", first ? "" : "&", (int)(end - p), p);
        if (n < 0 || (size_t)n >= size - len) return FALSE;
        len += n;
        first = FALSE;
        p = *end ? end + 1 : end;
    }
    return TRUE;
}

/* A redirect whose Location line is given with its length (it may hold a NUL). */
static BOOL send_raw_redirect(struct connection *conn, struct request *req, unsigned int status,
                              const char *location, size_t location_len)
{
    struct head_builder hb;

    head_begin(&hb, conn, status, TRUE);
    if (hb.len + location_len + 2 >= hb.cap) return FALSE;
    memcpy(hb.buf + hb.len, location, location_len);
    hb.len += location_len;
    head_add(&hb, "\r\nContent-Length: 0\r\n");
    if (!head_end(&hb)) return FALSE;
    send_all(conn, hb.buf, hb.len);
    return FALSE;
}

static BOOL send_redirect(struct connection *conn, struct request *req, unsigned long long hops)
{
    unsigned long long code = 302, kind;
    char *target = malloc(MAX_HEAD_SIZE), *location = malloc(MAX_HEAD_SIZE + 64);
    BOOL ret;

    if (!target || !location)
    {
        ret = send_simple(conn, req, 500, FALSE, NULL);
        goto done;
    }
    kind = 0;
    query_number(req->query, "code", &code);
    if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) code = 302;

    if (hops > 1)
    {
        if (!next_hop_target(req, hops, target, MAX_HEAD_SIZE)) target[0] = 0;
    }
    else if (!query_string(req->query, "to", target, MAX_HEAD_SIZE))
    {
        snprintf(target, MAX_HEAD_SIZE, "%.*s", (int)(req->path_end - req->target), req->target);
    }
    if (!target[0])
    {
        ret = send_simple(conn, req, 400, FALSE, NULL);
        goto done;
    }

    /* "to" may already be an absolute URL, e.g. one on another server. */
    if (starts_with(target, "http://") || starts_with(target, "https://"))
        snprintf(location, MAX_HEAD_SIZE + 64, "Location: %s", target);
    else
        snprintf(location, MAX_HEAD_SIZE + 64, "Location: http://127.0.0.1:%u%s%s",
                 conn->httpd->port, target[0] == '/' ? "" : "/", target);
    if (!query_number(req->query, "bad_location", &kind) || kind > 4) kind = 0;
    if (kind)
    {
        /* a hostile Location: what follows the target tries to start a header
         * line and a second request; kind 4's NUL ends the C string early, so
         * its length is carried separately */
        static const char *const tails[] =
        {
            " HTTP/1.1\nX-Injected: 1\n\nGET /smuggled",
            " HTTP/1.1\rX-Injected: 1\r\rGET /smuggled",
            "\x01X-Injected",
            "",
        };
        size_t len = strlen(location);

        snprintf(location + len, MAX_HEAD_SIZE + 64 - len, "%s", tails[kind - 1]);
        if (kind == 4)
        {
            static const char tail[] = "\0X-Injected: 1";

            len = strlen(location);
            memcpy(location + len, tail, sizeof(tail));
            ret = send_raw_redirect(conn, req, (unsigned int)code, location, len + sizeof(tail) - 1);
            goto done;
        }
    }
    if (strlen(location) > 3500)
        ret = send_simple(conn, req, 400, FALSE, NULL);
    else
        ret = send_simple(conn, req, (unsigned int)code, req->keep_alive && !kind, location);

done:
    free(target);
    free(location);
    return ret;
}

/* Version 2 of a resource (etag_after) has "-v2" at the end of its tag. */
static void make_etag(const struct request *req, const struct resource *res, BOOL v2, char *etag, size_t size)
{
    const char *suffix = v2 ? "-v2" : "";
    char value[256];
    size_t len;

    if (query_string(req->query, "etag", value, sizeof(value)) && value[0])
    {
        len = strlen(value);
        if (value[0] == '"' && len > 1 && value[len - 1] == '"')
            snprintf(etag, size, "%.*s%s\"", (int)(len - 1), value, suffix);
        else if (value[0] == '"' || starts_with(value, "W/")) snprintf(etag, size, "%s%s", value, suffix);
        else snprintf(etag, size, "\"%s%s\"", value, suffix);
        return;
    }
    snprintf(etag, size, "\"%016llx-%llx%s\"", fnv1a64(res->name), res->size, suffix);
}

/* If-Range: an entity tag is compared strongly (weak tags never match; no
 * tag at all never matches a tag), a date must equal the Last-Modified value
 * exactly. */
static BOOL if_range_matches(const char *head, const char *etag, const char *last_modified)
{
    const char *value;
    size_t len;

    if (!find_header(head, "If-Range", &value, &len)) return TRUE;
    if (value[0] == '"' || (len >= 2 && !memcmp(value, "W/", 2)))
        return value[0] == '"' && etag[0] && len == strlen(etag) && !memcmp(value, etag, len);
    return len == strlen(last_modified) && !memcmp(value, last_modified, len);
}

static BOOL skip_spaces_to(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t')) (*p)++;
    return *p < end;
}

/* Parses a single byte range.  Multi-range and invalid headers give
 * RANGE_NONE, meaning the full body is sent. */
static enum range_result parse_range(const char *head, unsigned long long size,
                                     unsigned long long *start, unsigned long long *length)
{
    const char *value, *end, *dash, *first_end, *last_start;
    unsigned long long first, last;
    size_t len;

    if (!find_header(head, "Range", &value, &len)) return RANGE_NONE;
    end = value + len;
    if (len < 6 || !equal_nocase(value, "bytes=", 6)) return RANGE_NONE;
    value += 6;
    if (memchr(value, ',', end - value)) return RANGE_NONE;
    if (!skip_spaces_to(&value, end)) return RANGE_NONE;
    while (end > value && (end[-1] == ' ' || end[-1] == '\t')) end--;
    if (!(dash = memchr(value, '-', end - value))) return RANGE_NONE;
    first_end = dash;
    while (first_end > value && (first_end[-1] == ' ' || first_end[-1] == '\t')) first_end--;
    last_start = dash + 1;
    skip_spaces_to(&last_start, end);

    if (first_end == value)
    {
        /* Suffix range: the last n bytes. */
        if (!parse_ull(last_start, end - last_start, &last)) return RANGE_NONE;
        if (!last || !size) return RANGE_UNSATISFIABLE;
        *length = last < size ? last : size;
        *start = size - *length;
        return RANGE_OK;
    }
    if (!parse_ull(value, first_end - value, &first)) return RANGE_NONE;
    if (last_start == end)
        last = ~0ull;
    else if (!parse_ull(last_start, end - last_start, &last) || last < first)
        return RANGE_NONE;
    if (first >= size) return RANGE_UNSATISFIABLE;
    if (last >= size) last = size - 1;
    *start = first;
    *length = last - first + 1;
    return RANGE_OK;
}

/* at most this many ranges in one request; more get the full body */
#define MAX_MULTI_RANGES 4096

struct byte_range
{
    unsigned long long first, last;
};

/* Parses a Range with several ranges ("bytes=a-b, c-, -n"): the satisfiable
 * ones, clamped to the size, in the order asked.  FALSE (full body) for an
 * invalid header, one without a comma or with too many ranges; *count 0
 * when none is satisfiable. */
static BOOL parse_range_set(const char *head, unsigned long long size, struct byte_range *ranges,
                            unsigned int *count)
{
    const char *value, *end, *spec, *spec_end, *dash, *a_end, *b_start;
    unsigned long long first, last;
    size_t len;

    *count = 0;
    if (!find_header(head, "Range", &value, &len)) return FALSE;
    end = value + len;
    if (len < 6 || !equal_nocase(value, "bytes=", 6)) return FALSE;
    value += 6;
    if (!memchr(value, ',', end - value)) return FALSE;
    for (spec = value; spec < end; spec = spec_end + 1)
    {
        if (!(spec_end = memchr(spec, ',', end - spec))) spec_end = end;
        a_end = spec_end;
        while (spec < a_end && (*spec == ' ' || *spec == '\t')) spec++;
        while (a_end > spec && (a_end[-1] == ' ' || a_end[-1] == '\t')) a_end--;
        if (spec == a_end) continue;   /* empty elements are allowed */
        if (!(dash = memchr(spec, '-', a_end - spec))) return FALSE;
        b_start = dash + 1;
        if (dash == spec)
        {
            if (!parse_ull(b_start, a_end - b_start, &last)) return FALSE;
            if (!last || !size) continue;
            first = last < size ? size - last : 0;
            last = size - 1;
        }
        else
        {
            if (!parse_ull(spec, dash - spec, &first)) return FALSE;
            if (b_start == a_end) last = ~0ull;
            else if (!parse_ull(b_start, a_end - b_start, &last) || last < first) return FALSE;
            if (first >= size) continue;
            if (last >= size) last = size - 1;
        }
        if (*count == MAX_MULTI_RANGES) return FALSE;
        ranges[*count].first = first;
        ranges[*count].last = last;
        (*count)++;
    }
    return TRUE;
}

/* A 206 multipart/byteranges answer to several ranges; "multirange" in the
 * query picks a misbehaving one (see httpd.h). */
static BOOL send_multirange(struct connection *conn, struct request *req, struct resource *res,
                            const struct body_source *res_src, const struct byte_range *asked, unsigned int count,
                            const char *etag, const char *last_modified)
{
    static const char boundary[] = "3d6b6a416f9b5dosvc", wrong[] = "3d6b6a416f9b5other";
    struct byte_range *parts;
    char mode[32] = "", part_head[256];
    unsigned long long total = 0, size = res->size;
    unsigned int i, n = 0;
    struct body_options opts;
    struct body_source src;
    struct head_builder hb;
    unsigned char *body;
    size_t pos = 0;
    BOOL keep;

    query_string(req->query, "multirange", mode, sizeof(mode));
    if (!(parts = malloc(count * sizeof(*parts)))) return send_simple(conn, req, 500, FALSE, NULL);
    for (i = 0; i < count; i++)
    {
        /* merge: every two asked ranges become one part spanning both */
        if (!strcmp(mode, "merge") && n && i % 2 && asked[i].first > parts[n - 1].last)
            parts[n - 1].last = asked[i].last;
        else parts[n++] = asked[i];
    }
    if (!strcmp(mode, "outside") && n > 1)
    {
        /* the second part one byte later than asked, and its bytes with it */
        if (parts[1].last + 1 < size)
        {
            parts[1].first++;
            parts[1].last++;
        }
    }
    for (i = 0; i < n; i++) total += 160 + (parts[i].last - parts[i].first + 1);
    total += 64;
    if (!(body = malloc((size_t)total)))
    {
        free(parts);
        return send_simple(conn, req, 500, FALSE, NULL);
    }
    for (i = 0; i < n; i++)
    {
        unsigned long long length = parts[i].last - parts[i].first + 1;
        int len = sprintf(part_head, "\r\n--%s\r\nContent-Type: application/octet-stream\r\n"
                          "Content-Range: bytes %llu-%llu/%llu\r\n\r\n", boundary, parts[i].first,
                          parts[i].last, i && !strcmp(mode, "total") ? size + 1 : size);

        memcpy(body + pos, part_head, len);
        pos += len;
        /* shortpart: the first part one byte short of what it announces */
        if (!i && !strcmp(mode, "shortpart") && length > 1) length--;
        body_fill(res_src, parts[i].first, body + pos, (size_t)length);
        pos += (size_t)length;
    }
    pos += sprintf((char *)body + pos, "\r\n--%s--\r\n", boundary);
    free(parts);

    get_body_options(req->query, &opts);
    keep = keeps_connection(req, &opts, pos);
    head_begin(&hb, conn, 206, !keep);
    head_add(&hb, "Content-Type: multipart/byteranges; boundary=%s\r\n", !strcmp(mode, "boundary") ? wrong : boundary);
    head_add(&hb, "Last-Modified: %s\r\n", last_modified);
    if (etag[0]) head_add(&hb, "ETag: %s\r\n", etag);
    head_add(&hb, "Accept-Ranges: bytes\r\n");
    if (opts.chunked)
        head_add(&hb, "Transfer-Encoding: chunked\r\n");
    else if (!opts.nolength)
        head_add(&hb, "Content-Length: %llu\r\n", (unsigned long long)pos);
    if (!head_end(&hb))
    {
        free(body);
        return send_simple(conn, req, 500, FALSE, NULL);
    }
    src.data = body;
    src.seed = 0;
    src.invert = FALSE;
    keep = send_response(conn, req, hb.len, &src, 0, pos, &opts, keep);
    free(body);
    return keep;
}

static BOOL send_resource(struct connection *conn, struct request *req, struct resource *res, BOOL v2)
{
    BOOL norange = query_flag(req->query, "norange"), noetag = query_flag(req->query, "noetag");
    const char *last_modified = v2 ? HTTPD_LAST_MODIFIED_V2 : HTTPD_LAST_MODIFIED;
    unsigned long long start = 0, length = res->size;
    enum range_result range = RANGE_NONE;
    struct body_options opts;
    struct body_source src;
    struct head_builder hb;
    char etag[300], name[300];
    BOOL keep;

    get_body_options(req->query, &opts);
    if (noetag) etag[0] = 0;
    else make_etag(req, res, v2, etag, sizeof(etag));
    src.data = res->data;
    src.invert = v2;
    snprintf(name, sizeof(name), "%s%s", res->name, v2 ? "~v2" : "");
    src.seed = fnv1a64(name);

    /* version 2 plays a broken cache: it answers an old If-Range with its new bytes */
    if (!norange && (v2 || if_range_matches(conn->head, etag, last_modified)))
    {
        struct byte_range *set = malloc(MAX_MULTI_RANGES * sizeof(*set));
        unsigned int count = 0;
        char mode[32] = "";

        query_string(req->query, "multirange", mode, sizeof(mode));
        if (set && parse_range_set(conn->head, res->size, set, &count) && strcmp(mode, "200"))
        {
            BOOL keep_open;

            if (!count)
            {
                free(set);
                sprintf(name, "Content-Range: bytes */%llu", res->size);
                return send_simple(conn, req, 416, req->keep_alive, name);
            }
            if (count > 1 && strcmp(mode, "first"))
            {
                keep_open = send_multirange(conn, req, res, &src, set, count, etag, last_modified);
                free(set);
                return keep_open;
            }
            /* one satisfiable range, or the server answers only the first */
            range = RANGE_OK;
            start = set[0].first;
            length = set[0].last - set[0].first + 1;
        }
        else if (!set || !count) range = parse_range(conn->head, res->size, &start, &length);
        free(set);
    }

    if (range == RANGE_UNSATISFIABLE)
    {
        char extra[64];

        sprintf(extra, "Content-Range: bytes */%llu", res->size);
        return send_simple(conn, req, 416, req->keep_alive, extra);
    }

    keep = keeps_connection(req, &opts, length);
    head_begin(&hb, conn, range == RANGE_OK ? 206 : 200, !keep);
    head_add(&hb, "Content-Type: application/octet-stream\r\n");
    head_add(&hb, "Last-Modified: %s\r\n", last_modified);
    if (etag[0]) head_add(&hb, "ETag: %s\r\n", etag);
    if (!norange) head_add(&hb, "Accept-Ranges: bytes\r\n");
    if (range == RANGE_OK)
        head_add(&hb, "Content-Range: bytes %llu-%llu/%llu\r\n", start, start + length - 1, res->size);
    if (opts.chunked)
        head_add(&hb, "Transfer-Encoding: chunked\r\n");
    else if (!opts.nolength)
        head_add(&hb, "Content-Length: %llu\r\n", length);
    if (!head_end(&hb)) return send_simple(conn, req, 500, FALSE, NULL);
    return send_response(conn, req, hb.len, &src, start, length, &opts, keep);
}

static BOOL send_echo(struct connection *conn, struct request *req)
{
    struct body_options opts;
    struct body_source src;
    struct head_builder hb;
    BOOL keep;

    get_body_options(req->query, &opts);
    keep = keeps_connection(req, &opts, req->head_len);
    head_begin(&hb, conn, 200, !keep);
    head_add(&hb, "Content-Type: text/plain\r\n");
    if (opts.chunked)
        head_add(&hb, "Transfer-Encoding: chunked\r\n");
    else if (!opts.nolength)
        head_add(&hb, "Content-Length: %lu\r\n", (unsigned long)req->head_len);
    if (!head_end(&hb)) return send_simple(conn, req, 500, FALSE, NULL);

    /* The staging buffer is about to be overwritten, so the body is taken
     * from the saved request head, which stays put. */
    src.data = (const unsigned char *)conn->head;
    src.seed = 0;
    src.invert = FALSE;
    return send_response(conn, req, hb.len, &src, 0, req->head_len, &opts, keep);
}

/* Returns TRUE if the connection stays open for another request. */
static BOOL handle_request(struct connection *conn, struct request *req)
{
    unsigned long long value, status = 0, etag_after = 0;
    BOOL keep, fail = FALSE, has_etag_after;
    unsigned int seq = 0;
    struct resource *res;

    if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
        return send_simple(conn, req, 405, FALSE, "Allow: GET, HEAD");

    if (query_number(req->query, "delay_ms", &value) && value)
    {
        DWORD ms = value > 600000 ? 600000 : (DWORD)value;

        if (WaitForSingleObject(conn->httpd->stop_event, ms) == WAIT_OBJECT_0) return FALSE;
    }

    query_number(req->query, "status", &status);
    has_etag_after = query_number(req->query, "etag_after", &etag_after);
    if ((fail = query_number(req->query, "fail_first", &value)) || has_etag_after)
        seq = target_counter_bump(conn->httpd, req->target);
    if (fail)
    {
        if (seq <= value)
            return send_status_param(conn, req, !status ? 503 : status > 999 ? 0 : (unsigned int)status);
        status = 0;
    }
    if (query_number(req->query, "redirect", &value) && value)
        return send_redirect(conn, req, value);
    if (status)
        return send_status_param(conn, req, status > 999 ? 0 : (unsigned int)status);
    if (query_flag(req->query, "echo_headers"))
        return send_echo(conn, req);

    if (!(res = resource_find(conn->httpd, req->target + 1, req->path_end - req->target - 1)))
        return send_simple(conn, req, 404, req->keep_alive, NULL);
    keep = send_resource(conn, req, res, has_etag_after && seq > etag_after);
    resource_release(res);
    return keep;
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

static void serve_connection(struct connection *conn)
{
    struct request *req = malloc(sizeof(*req));

    if (!req) return;
    for (;;)
    {
        enum read_result r = read_request(conn, req);

        if (r == READ_CLOSED) break;
        if (r == READ_BAD)
        {
            send_simple(conn, NULL, 400, FALSE, NULL);
            break;
        }
        log_request(conn->httpd, req, conn->head);
        if (!handle_request(conn, req)) break;
    }
    free(req);
}

static unsigned int __stdcall connection_thread(void *arg)
{
    struct connection *conn = arg;

    serve_connection(conn);
    if (conn->sock != INVALID_SOCKET)
    {
        if (is_stopping(conn->httpd))
            close_abortively(conn);
        else
            close_gracefully(conn);
    }
    InterlockedExchange(&conn->done, 1);
    return 0;
}

static void free_connection(struct connection *conn)
{
    WaitForSingleObject(conn->thread, INFINITE);
    CloseHandle(conn->thread);
    WSACloseEvent(conn->io_event);
    free(conn);
}

/* Frees connections whose threads have finished, so a long test with many
 * short connections does not accumulate them. */
static void reap_connections(struct httpd *httpd)
{
    struct connection **p = &httpd->connections;

    EnterCriticalSection(&httpd->cs);
    while (*p)
    {
        struct connection *conn = *p;

        if (conn->done)
        {
            *p = conn->next;
            httpd->active_connections--;
            free_connection(conn);
        }
        else
        {
            p = &conn->next;
        }
    }
    LeaveCriticalSection(&httpd->cs);
}

static void start_connection(struct httpd *httpd, SOCKET sock)
{
    struct connection *conn;
    u_long nonblocking = 0;
    int nodelay = 1;

    /* Accepted sockets inherit the listener's non-blocking mode; all I/O is
     * overlapped, which needs no non-blocking mode. */
    ioctlsocket(sock, FIONBIO, &nonblocking);
    /* Small responses (heads, short ranges) must not wait for Nagle. */
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, (const char *)&nodelay, sizeof(nodelay));

    EnterCriticalSection(&httpd->cs);
    httpd->accepted_connections++;
    LeaveCriticalSection(&httpd->cs);

    /* Only this thread changes the count, so reading it unlocked is fine. */
    if (httpd->active_connections >= MAX_CONNECTIONS || !(conn = calloc(1, sizeof(*conn))))
    {
        closesocket(sock);
        return;
    }
    conn->httpd = httpd;
    conn->sock = sock;
    if ((conn->io_event = WSACreateEvent()) == WSA_INVALID_EVENT)
    {
        closesocket(sock);
        free(conn);
        return;
    }
    conn->thread = (HANDLE)_beginthreadex(NULL, 0, connection_thread, conn, 0, NULL);
    if (!conn->thread)
    {
        closesocket(sock);
        WSACloseEvent(conn->io_event);
        free(conn);
        return;
    }
    EnterCriticalSection(&httpd->cs);
    conn->next = httpd->connections;
    httpd->connections = conn;
    httpd->active_connections++;
    LeaveCriticalSection(&httpd->cs);
}

static unsigned int __stdcall accept_thread(void *arg)
{
    struct httpd *httpd = arg;

    while (!is_stopping(httpd))
    {
        struct timeval tv = { 0, POLL_SLICE_MS * 1000 };
        fd_set set;
        SOCKET sock;

        reap_connections(httpd);
        FD_ZERO(&set);
        FD_SET(httpd->listener, &set);
        if (select(0, &set, NULL, NULL, &tv) <= 0) continue;
        sock = accept(httpd->listener, NULL, NULL);
        if (sock != INVALID_SOCKET) start_connection(httpd, sock);
    }
    return 0;
}

static BOOL open_listener(struct httpd *httpd)
{
    struct sockaddr_in addr;
    int addr_len = sizeof(addr);
    u_long nonblocking = 1;

    httpd->listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (httpd->listener == INVALID_SOCKET) return FALSE;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(httpd->wanted_port);
    if (httpd->wanted_port)
    {
        /* a port used before by a server that is gone: its connections may linger */
        BOOL reuse = TRUE;
        setsockopt(httpd->listener, SOL_SOCKET, SO_REUSEADDR, (const char *)&reuse, sizeof(reuse));
    }
    if (bind(httpd->listener, (struct sockaddr *)&addr, sizeof(addr))
        || listen(httpd->listener, SOMAXCONN)
        || getsockname(httpd->listener, (struct sockaddr *)&addr, &addr_len)
        || ioctlsocket(httpd->listener, FIONBIO, &nonblocking))
        return FALSE;
    httpd->port = ntohs(addr.sin_port);
    return TRUE;
}

static void free_httpd(struct httpd *httpd)
{
    struct target_counter *tc;
    struct resource *res;

    if (httpd->listener != INVALID_SOCKET) closesocket(httpd->listener);
    while ((res = httpd->resources))
    {
        httpd->resources = res->next;
        resource_release(res);
    }
    while ((tc = httpd->target_counters))
    {
        httpd->target_counters = tc->next;
        free(tc->target);
        free(tc);
    }
    httpd_reset_log(httpd);
    if (httpd->stop_event) CloseHandle(httpd->stop_event);
    DeleteCriticalSection(&httpd->cs);
    DeleteCriticalSection(&httpd->pool_cs);
    free(httpd);
    WSACleanup();
}

static struct httpd *start_server(unsigned short port)
{
    struct httpd *httpd;
    WSADATA wsa;

    if (WSAStartup(MAKEWORD(2, 2), &wsa)) return NULL;
    if (!(httpd = calloc(1, sizeof(*httpd))))
    {
        WSACleanup();
        return NULL;
    }
    InitializeCriticalSection(&httpd->cs);
    InitializeCriticalSection(&httpd->pool_cs);
    httpd->listener = INVALID_SOCKET;
    httpd->wanted_port = port;
    httpd->stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!httpd->stop_event || !open_listener(httpd))
    {
        free_httpd(httpd);
        return NULL;
    }
    httpd->accept_thread = (HANDLE)_beginthreadex(NULL, 0, accept_thread, httpd, 0, NULL);
    if (!httpd->accept_thread)
    {
        free_httpd(httpd);
        return NULL;
    }
    return httpd;
}

struct httpd *httpd_start(void)
{
    return start_server(0);
}

struct httpd *httpd_start_on_port(unsigned short port)
{
    return start_server(port);
}

unsigned long long httpd_body_bytes(struct httpd *httpd)
{
    return InterlockedCompareExchange64(&httpd->body_bytes, 0, 0);
}

unsigned short httpd_port(const struct httpd *httpd)
{
    return httpd->port;
}

void httpd_stop(struct httpd *httpd)
{
    struct connection *conn;

    if (!httpd) return;
    InterlockedExchange(&httpd->stopping, 1);
    SetEvent(httpd->stop_event);
    WaitForSingleObject(httpd->accept_thread, INFINITE);
    CloseHandle(httpd->accept_thread);

    /* Every connection thread sees the stop flag within one poll slice and
     * closes its own socket. */
    while ((conn = httpd->connections))
    {
        httpd->connections = conn->next;
        free_connection(conn);
    }
    free_httpd(httpd);
}
