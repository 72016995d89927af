/*
 * Delivery Optimization service: a plain-HTTP/1.1 client over Winsock
 *
 * Copyright 2026 the wine-dosvc authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef DOSVC_HTTP_NATIVE_H
#define DOSVC_HTTP_NATIVE_H

struct native_pool;
struct native_request;

BOOL native_http_init(void);
/* http:// URLs, and https:// ones when the pool speaks TLS; http.c adds the
 * other conditions (no proxy, no credentials) */
BOOL native_http_handles(const struct native_pool *pool, const WCHAR *url);

/* kept-alive connections of one job run; tls: https too (tls.c) */
struct native_pool *native_pool_create(BOOL tls);
void native_pool_destroy(struct native_pool *pool);

/* S_FALSE with *handoff_url: the URL (after redirects) is https and the pool speaks no TLS: WinHTTP's to fetch */
HRESULT native_request_send(struct native_pool *pool, const struct http_fetch_params *params, DWORD timeout_ms,
                            ULONG security_flags, struct native_request **request, struct http_response *response,
                            WCHAR **handoff_url);
HRESULT native_request_read(struct native_request *request, void *buffer, DWORD size, DWORD *read);
void native_request_close(struct native_request *request);

#endif /* DOSVC_HTTP_NATIVE_H */
