/*
 * Delivery Optimization service: one HTTP exchange over WinHTTP
 *
 * Copyright 2026 the wine-dosvc authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef DOSVC_HTTP_H
#define DOSVC_HTTP_H

#define HTTP_SIZE_UNKNOWN (~(UINT64)0)
#define HTTP_NO_RANGE     (~(UINT64)0)

/* How a job talks to servers; fixed for one run of its worker. */
struct http_settings
{
    BG_JOB_PROXY_USAGE proxy_usage;
    const WCHAR *proxy_list;
    const WCHAR *proxy_bypass;
    ULONG security_flags;        /* BG_SSL_* and BG_HTTP_REDIRECT_POLICY_* */
    const CERT_CONTEXT *client_cert;   /* shown to https servers that ask for one, or NULL */
    DWORD timeout_ms;            /* resolve, connect, send and receive */
};

struct http_fetch_params
{
    const WCHAR *url;
    const WCHAR *custom_headers;  /* the job's extra request headers, or NULL */
    UINT64 range_first;           /* HTTP_NO_RANGE: no Range header */
    UINT64 range_last;            /* inclusive; HTTP_SIZE_UNKNOWN: to the end */
    const char *range_set;        /* "a-b,c-d,...": a multi-range GET (range_first is then its
                                   * first byte, for If-Range), or NULL */
    const WCHAR *if_range;        /* validator sent as If-Range with a Range, or NULL */
    const struct job_credential *credentials;
    ULONG credential_count;
    const WCHAR *auth_headers;    /* added to answer a 401 no credential fits, or NULL */
    HANDLE abort_event;           /* set: give up at once with E_ABORT */
};

struct http_response
{
    DWORD status;
    UINT64 content_length;        /* HTTP_SIZE_UNKNOWN when absent (chunked, close-delimited) */
    BOOL has_range;               /* a valid Content-Range came back */
    UINT64 range_first, range_last, range_total;   /* range_total may be HTTP_SIZE_UNKNOWN */
    DWORD retry_after;            /* seconds, 0 if none */
    WCHAR *etag;
    WCHAR *last_modified;
    WCHAR *content_type;          /* Content-Type, or NULL */
    WCHAR *headers;               /* raw response headers */
    WCHAR *final_url;             /* after redirects */
    WCHAR *server_ip;             /* the server's address as text, or NULL if unknown */
};

struct http_session;
struct http_request;

HRESULT http_session_create(const struct http_settings *settings, struct http_session **session);
void http_session_destroy(struct http_session *session);

/* Send a GET and wait for the response headers (following redirects and
 * answering authentication challenges with the job's credentials). */
HRESULT http_request_send(struct http_session *session, const struct http_fetch_params *params,
                          struct http_request **request, struct http_response *response);
/* Read body bytes; *read == 0 means the body is complete. */
HRESULT http_request_read(struct http_request *request, void *buffer, DWORD size, DWORD *read);
void http_request_close(struct http_request *request);
void http_response_clear(struct http_response *response);
/* drop an ETag or Last-Modified holding a control character (both clients) */
void http_response_check_validators(struct http_response *response);
/* "bytes first-last/total" into range_first/last/total; FALSE if malformed */
BOOL http_parse_content_range(const WCHAR *value, struct http_response *response);

#endif /* DOSVC_HTTP_H */
