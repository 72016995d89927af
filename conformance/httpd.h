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

#ifndef WINE_DOSVC_CONFORMANCE_HTTPD_H
#define WINE_DOSVC_CONFORMANCE_HTTPD_H

/*
 * The tests must not need a network, so each test program runs this server
 * as a set of threads on 127.0.0.1 and points the service under test at it.
 * Link with -lws2_32.
 *
 * Resources are registered by name and served at "/<name>".  The name is
 * matched literally (no percent-decoding) against the path up to the '?'.
 * Only origin-form request targets ("/...") are accepted.  Every response to
 * a resource carries Content-Length (unless a parameter below says
 * otherwise), Last-Modified (the fixed date HTTPD_LAST_MODIFIED), an ETag
 * derived from name and size, Accept-Ranges: bytes and Content-Type:
 * application/octet-stream.  GET and HEAD are supported; other methods get
 * 405.  Unknown names get 404.  Connections are persistent (HTTP/1.1
 * keep-alive, requests may be pipelined) unless the client sends
 * "Connection: close" or speaks HTTP/1.0, or the response is one that must
 * close (nolength, stall_after, reset_after, close_after); such responses
 * carry "Connection: close".  Idle connections are closed after 60 s.
 *
 * Behaviour is chosen per request by query parameters, so a test builds the
 * URL it needs, e.g. "/big?rate=65536&stall_after=1000".  Unknown parameters
 * are ignored, the first occurrence of a parameter wins, numbers are decimal
 * (an invalid number counts as absent), and values are percent-decoded.
 *
 *   etag=xyz        ETag is "xyz" instead of the derived value (quotes are
 *                   added unless the value already starts with '"' or W/).
 *   noetag=1        no ETag header (Last-Modified is the only validator; an
 *                   If-Range holding an entity tag never matches).
 *   etag_after=N    the first N requests to this exact path+query see version
 *                   1 of the resource, later ones version 2: ETag with "-v2"
 *                   appended (inside the quotes), Last-Modified
 *                   HTTPD_LAST_MODIFIED_V2, and other bytes (a generated
 *                   resource's body is the pattern of the name "<name>~v2", a
 *                   file resource's bytes are inverted); the size stays.
 *                   Version 2 plays a broken cache: it ignores If-Range and
 *                   answers a Range with 206 and its new bytes.  The counter
 *                   is the one fail_first uses (per path+query, kept for the
 *                   lifetime of the server).
 *   norange=1       ignore Range and If-Range; always 200 with the full body,
 *                   and no Accept-Ranges header.
 *   chunked=1       Transfer-Encoding: chunked, no Content-Length; 16 KiB
 *                   chunks and a final zero-length chunk.  Applies to 206
 *                   responses too.
 *   nolength=1      no Content-Length; the body is ended by closing the
 *                   connection.
 *   status=NNN      answer with status NNN (200..599, else 400) and a short
 *                   text body instead of the resource (which need not exist).
 *   retry_after=N   add "Retry-After: N" to a status= or fail_first= answer.
 *   fail_first=N    the first N requests to this exact path+query get status
 *                   "status" (default 503); later ones are served normally
 *                   (status= is then only the failure status).  The counter
 *                   is kept per path+query for the lifetime of the server
 *                   and is not cleared by httpd_reset_log().
 *   redirect=N      answer with a redirect: 302, or code=301/303/307/308.
 *     to=/path      For N > 1 the Location is this same URL with redirect=N-1,
 *     code=NNN      so the client follows N hops; for N = 1 it is "to"
 *                   (default "/<name>").  Location is made absolute
 *                   (http://127.0.0.1:<port>/...) unless "to" already starts
 *                   with http:// or https://.  Percent-encode a "to" that has
 *                   its own query: to=%2Fgen%3Fchunked%3D1%26norange%3D1.
 *                   "to" may hold spaces (%20): the Location then has them raw.
 *     bad_location=K  a hostile Location: after the target comes
 *                   K=1: " HTTP/1.1" LF "X-Injected: 1" LF LF "GET /smuggled"
 *                   (bare LFs), K=2: the same with bare CRs, K=3: a 0x01 byte
 *                   and "X-Injected", K=4: a NUL byte and "X-Injected: 1".
 *                   The connection is closed after such a redirect.
 *   delay_ms=N      wait N ms (at most 600000) before answering at all.
 *   rate=N          throttle the body to about N bytes per second (a burst of
 *                   50 ms worth is sent at once).
 *   shared_rate=N   a bottleneck shared by every response that asks for it:
 *                   their bodies together get about N bytes per second from
 *                   one server-wide token bucket (50 ms or 16 KiB of burst),
 *                   handed out 16 KiB at a time, so concurrent connections
 *                   take turns and a client that reads faster gets more.
 *                   Such connections get a 32 KiB send buffer, so bytes a
 *                   client does not read wait here rather than in the kernel.
 *   stall_after=N   send the headers and N body bytes, then send nothing more
 *                   but keep the connection open (reading and discarding)
 *                   until the client closes it or the server stops.
 *   reset_after=N   send the headers and N body bytes, wait 50 ms so they can
 *                   drain, then reset the connection (SO_LINGER 0 +
 *                   closesocket).
 *   close_after=N   send the headers and N body bytes, then close the
 *                   connection in an orderly way (FIN): with nolength=1 the
 *                   client cannot tell this from the end of the body; with
 *                   chunked=1 the last (zero) chunk never comes; with a
 *                   Content-Length the body is short.
 *                   stall_after, reset_after and close_after have no effect
 *                   if N is at least the body length, or on HEAD; with more
 *                   than one, the smallest N wins.
 *   extra=N         after a complete body with Content-Length, N more bytes
 *                   ('Z', at most 65536) in the same write as the body's last
 *                   bytes; the connection stays open as usual.  No effect on
 *                   chunked bodies or bodies cut short.
 *   echo_headers=1  the body (text/plain) is the request line and header
 *                   block exactly as received, ending with the empty line.
 *
 * Ranges: a single "bytes=a-b", "bytes=a-" or "bytes=-n" gets 206 with
 * Content-Range (b past the end is clamped).  A request for several ranges
 * (containing a comma; at most 4096) gets 206 multipart/byteranges, one part
 * per satisfiable range in the order asked (each with Content-Type and
 * Content-Range; the body begins with CRLF "--" boundary); if exactly one is
 * satisfiable, a plain 206 of it.  "multirange=" picks another answer:
 *   multirange=200       the full body with 200 (RFC 9110 allows ignoring Range)
 *   multirange=first     a plain 206 of the first range only
 *   multirange=merge     every two asked ranges share one part spanning both
 *   multirange=outside   hostile: the second part one byte later than asked
 *                        (its Content-Range and bytes agree)
 *   multirange=boundary  hostile: Content-Type names another boundary than
 *                        the body uses
 *   multirange=shortpart hostile: the first part is one byte shorter than its
 *                        Content-Range (Content-Length fits the short body)
 *   multirange=total     hostile: the parts after the first say the file is one
 *                        byte longer than the first says
 * The body modifiers (close_after, chunked, ...) apply to the multipart body.
 * A syntactically invalid Range (including b < a) is ignored (200).
 * A range starting at or past the end, a zero-length suffix, or any range on
 * an empty resource gets 416 with the unsatisfied form of Content-Range
 * ("bytes *" followed by "/<size>").  If-Range is honoured: a value starting
 * with '"' or W/ is compared as a strong ETag (so W/ never matches), anything
 * else exactly against the Last-Modified string; on mismatch the full body is
 * sent with 200.
 *
 * Parameters are applied in this order: delay_ms, fail_first, redirect,
 * status, echo_headers, resource lookup (404 if unknown), etag_after, ranges,
 * then the body modifiers (chunked, nolength, rate, stall_after, reset_after,
 * close_after, extra).  The body modifiers also apply to echo_headers bodies.
 *
 * Proxy requests: a target in absolute form ("GET http://host:port/name
 * HTTP/1.1", what a client sends to a proxy) is served from its path part and
 * logged under the full absolute target, so a test can tell that a client
 * went through a proxy (prefix "http://").
 *
 * Robustness: malformed requests (bad request line, header line without a
 * colon, folded or control characters, a head over 16 KiB, a request body
 * over 1 MiB or chunked) get 400 and the connection is closed.  Request bodies
 * with Content-Length are read and discarded.  At most 128 connections are
 * served at once; further ones are closed immediately.  The log keeps one
 * entry per distinct request target (at most 1024, least recently used ones
 * are dropped with their counts), so its memory stays bounded however many
 * requests are made.
 */

#include <winsock2.h>
#include <windows.h>
#include <stddef.h>

#define HTTPD_LAST_MODIFIED    "Mon, 05 Jan 2026 12:00:00 GMT"
#define HTTPD_LAST_MODIFIED_V2 "Tue, 06 Jan 2026 12:00:00 GMT"

struct httpd;

/* Binds 127.0.0.1 on an ephemeral port and starts the accept thread.
 * Returns NULL on failure. */
struct httpd *httpd_start(void);
/* The same on a given port (SO_REUSEADDR), so a test that outlives its
 * first server can serve the same URLs again; NULL if the port is taken. */
struct httpd *httpd_start_on_port(unsigned short port);
unsigned short httpd_port(const struct httpd *httpd);
/* Body bytes of every response so far, as handed to the sockets (not
 * cleared by httpd_reset_log). */
unsigned long long httpd_body_bytes(struct httpd *httpd);
/* Closes the listener and every client connection, joins every thread the
 * server started and frees it.  Returns promptly (well under a second) even
 * with stalled or throttled clients connected. */
void httpd_stop(struct httpd *httpd);

/* Registers (or replaces) a resource served at "/<name>".  The server keeps
 * its own copy of the data. */
void httpd_add_file(struct httpd *httpd, const char *name, const void *data, size_t size);
/* Registers (or replaces) a resource of the given size whose byte i is
 * httpd_pattern_byte(name, i); no memory is held for the body. */
void httpd_add_generated(struct httpd *httpd, const char *name, unsigned long long size);
/* The pattern of generated resources, so tests can verify a download without
 * holding the file.  A shifted or misplaced block does not match. */
unsigned char httpd_pattern_byte(const char *name, unsigned long long offset);
/* Fills buf with pattern bytes offset .. offset + size - 1 (faster than
 * calling httpd_pattern_byte for each byte). */
void httpd_pattern_fill(const char *name, unsigned long long offset, void *buf, size_t size);

/* Request log.  A request's "path" here is the request target as sent, i.e.
 * path plus query ("/name?x=1"), so the prefix "/name" matches it.  Malformed
 * requests are not logged. */
unsigned int httpd_request_count(struct httpd *httpd, const char *path_prefix);
/* Copies the value of a header (name matched case-insensitively, value with
 * surrounding whitespace removed) of the most recent request whose path starts
 * with path_prefix.  Returns FALSE if there is no such request, it lacks the
 * header, or buf is too small (buf then holds a truncated value). */
BOOL httpd_last_request_header(struct httpd *httpd, const char *path_prefix,
                               const char *header, char *buf, size_t size);
/* Number of TCP connections accepted, so tests can check connection reuse. */
unsigned int httpd_connection_count(struct httpd *httpd);
/* Number of connections the server is still serving (not yet closed by the
 * client, the server or an idle timeout): 0 once every client let go. */
unsigned int httpd_open_connections(struct httpd *httpd);
/* Clears the request log, the raw request log and the connection count
 * (not the fail_first / etag_after counters). */
void httpd_reset_log(struct httpd *httpd);
/* Every request from now on is served as if its query began with these
 * parameters (e.g. "status=503" or "reset_after=4096&etag=other"), which win
 * over the request's own; NULL or "" ends it.  The log keeps the target as
 * sent.  Lets one server stand in for a misbehaving one (the tests' fake
 * cache server) whatever URL the client builds. */
void httpd_force_query(struct httpd *httpd, const char *query);

/* Raw request log: every request head exactly as it came off the wire, from
 * the request line to the empty line that ends it, in arrival order; a
 * malformed request is logged too (everything received up to the point the
 * server gave up on it, e.g. when the client closed mid-head).  The last 256
 * heads are kept.  httpd_raw_count() is the number of heads received since
 * the last httpd_reset_log(); httpd_raw_request() copies head number index
 * (0 = the first since the reset) into buf, NUL-terminated (truncated to
 * size - 1 bytes), and returns its full length, 0 if there is no such head
 * or it was dropped.  A head may hold NUL bytes: use the returned length. */
unsigned int httpd_raw_count(struct httpd *httpd);
size_t httpd_raw_request(struct httpd *httpd, unsigned int index, char *buf, size_t size);

#endif /* WINE_DOSVC_CONFORMANCE_HTTPD_H */
