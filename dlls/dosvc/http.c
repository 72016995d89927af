/*
 * Delivery Optimization service: one HTTP exchange over WinHTTP
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
 * WinHTTP runs in asynchronous mode so that every wait can also wait on the
 * job's wake event: Suspend, Cancel and service stop never have to wait for a
 * stalled server.  The worker thread still drives one step at a time (send,
 * receive headers, read) and sleeps until WinHTTP reports the step done.
 */

/* winsock2.h first: it gives winhttp.h the sockaddr types of WINHTTP_CONNECTION_INFO */
#include "winsock2.h"
#include "ws2ipdef.h"
#include "dosvc_private.h"
#include "http.h"
#include "http_native.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

#define MAX_REDIRECTS 10

struct http_session
{
    HINTERNET session;
    struct native_pool *native;   /* plain http:// without a proxy goes over our own sockets */
    BOOL autodetect_proxy;
    ULONG security_flags;
    DWORD timeout_ms;
    const CERT_CONTEXT *client_cert;   /* our own reference, or NULL */
};

/* One request handle and what its status callback reported last. */
struct http_request
{
    HINTERNET connect;
    HINTERNET request;
    HANDLE step_done;        /* auto-reset: WinHTTP finished the step we started */
    HANDLE closed;           /* manual-reset: WinHTTP will not touch us again */
    HANDLE abort_event;
    DWORD timeout_ms;
    DWORD completion;        /* WINHTTP_CALLBACK_STATUS_* of the last step */
    DWORD bytes;             /* READ_COMPLETE */
    DWORD error;             /* REQUEST_ERROR */
    WCHAR *url;              /* where the request is now: the URL asked for, then each redirect's */
    BOOL leaked;             /* WinHTTP never let go of a handle: the context must outlive us */
    struct native_request *native;   /* set when http_native.c carries this request instead */
};

/* A redirect's Location made absolute against the URL it answered. */
static WCHAR *resolve_location(const WCHAR *base, const WCHAR *location)
{
    const WCHAR *end, *p;
    size_t keep;
    WCHAR *url;

    if (!wcsnicmp(location, L"http://", 7) || !wcsnicmp(location, L"https://", 8)) return strdupW(location);
    if (!(p = wcsstr(base, L"://"))) return NULL;
    p += 3;
    if (location[0] == '/' && location[1] == '/')
        keep = p - 2 - base;                          /* scheme-relative */
    else if (location[0] == '/')
    {
        for (end = p; *end && *end != '/' && *end != '?' && *end != '#'; end++);
        keep = end - base;                            /* absolute path */
    }
    else
    {
        for (end = p; *end && *end != '?' && *end != '#'; end++);
        while (end > p && end[-1] != '/') end--;
        keep = end - base;                            /* relative to the base's directory */
        if (end == p) return NULL;
    }
    if (!(url = malloc((keep + lstrlenW(location) + 1) * sizeof(WCHAR)))) return NULL;
    memcpy(url, base, keep * sizeof(WCHAR));
    lstrcpyW(url + keep, location);
    return url;
}

static void CALLBACK status_callback(HINTERNET handle, DWORD_PTR context, DWORD status, void *info, DWORD len)
{
    struct http_request *req = (struct http_request *)context;

    if (!req) return;
    switch (status)
    {
    case WINHTTP_CALLBACK_STATUS_SENDREQUEST_COMPLETE:
    case WINHTTP_CALLBACK_STATUS_HEADERS_AVAILABLE:
        req->completion = status;
        SetEvent(req->step_done);
        break;
    case WINHTTP_CALLBACK_STATUS_READ_COMPLETE:
        req->completion = status;
        req->bytes = len;
        SetEvent(req->step_done);
        break;
    case WINHTTP_CALLBACK_STATUS_REQUEST_ERROR:
        req->completion = status;
        req->error = ((WINHTTP_ASYNC_RESULT *)info)->dwError;
        SetEvent(req->step_done);
        break;
    case WINHTTP_CALLBACK_STATUS_HANDLE_CLOSING:
        if (handle == req->request) SetEvent(req->closed);
        break;
    default:
        break;
    }
}

/* Does the job talk to servers directly?  Only then can http_native.c carry
 * its plain-HTTP requests; a proxy of any kind stays WinHTTP's business. */
static BOOL direct_connection(const struct http_settings *settings)
{
    WINHTTP_PROXY_INFO info = { 0 };
    BOOL direct;

    if (settings->proxy_usage == BG_JOB_PROXY_USAGE_NO_PROXY) return TRUE;
    if (settings->proxy_usage != BG_JOB_PROXY_USAGE_PRECONFIG) return FALSE;
    if (!WinHttpGetDefaultProxyConfiguration(&info)) return FALSE;
    direct = info.dwAccessType == WINHTTP_ACCESS_TYPE_NO_PROXY || !info.lpszProxy || !*info.lpszProxy;
    GlobalFree(info.lpszProxy);
    GlobalFree(info.lpszProxyBypass);
    return direct;
}

HRESULT http_session_create(const struct http_settings *settings, struct http_session **out)
{
    struct http_session *session;
    DWORD access = WINHTTP_ACCESS_TYPE_DEFAULT_PROXY;
    const WCHAR *proxy = WINHTTP_NO_PROXY_NAME, *bypass = WINHTTP_NO_PROXY_BYPASS;

    if (!(session = calloc(1, sizeof(*session)))) return E_OUTOFMEMORY;
    switch (settings->proxy_usage)
    {
    case BG_JOB_PROXY_USAGE_NO_PROXY:
        access = WINHTTP_ACCESS_TYPE_NO_PROXY;
        break;
    case BG_JOB_PROXY_USAGE_OVERRIDE:
        access = WINHTTP_ACCESS_TYPE_NAMED_PROXY;
        proxy = settings->proxy_list;
        if (settings->proxy_bypass && *settings->proxy_bypass) bypass = settings->proxy_bypass;
        break;
    case BG_JOB_PROXY_USAGE_AUTODETECT:
        session->autodetect_proxy = TRUE;
        break;
    default:
        break;
    }
    session->session = WinHttpOpen(L"Microsoft-Delivery-Optimization/10.0", access, proxy, bypass,
                                   WINHTTP_FLAG_ASYNC);
    if (!session->session)
    {
        HRESULT hr = HRESULT_FROM_WIN32(GetLastError());
        free(session);
        return hr;
    }
    WinHttpSetStatusCallback(session->session, status_callback,
                             WINHTTP_CALLBACK_FLAG_ALL_COMPLETIONS | WINHTTP_CALLBACK_FLAG_HANDLES, 0);
    session->security_flags = settings->security_flags;
    session->timeout_ms = settings->timeout_ms;
    if (settings->client_cert) session->client_cert = CertDuplicateCertificateContext(settings->client_cert);
    /* https over our own TLS (tls.c) unless the job shows a client certificate
     * or wants revocation checked: those stay with WinHTTP, which does both */
    if (direct_connection(settings))
        session->native = native_pool_create(!settings->client_cert &&
                                             !(settings->security_flags & BG_SSL_ENABLE_CRL_CHECK));
    *out = session;
    return S_OK;
}

void http_session_destroy(struct http_session *session)
{
    if (!session) return;
    native_pool_destroy(session->native);
    WinHttpCloseHandle(session->session);
    if (session->client_cert) CertFreeCertificateContext(session->client_cert);
    free(session);
}

/* Wait for the step we started; FALSE with *hr set on error or abort. */
static BOOL wait_step(struct http_request *req, DWORD expected, HRESULT *hr)
{
    HANDLE handles[2] = { req->step_done, req->abort_event };
    DWORD count = req->abort_event ? 2 : 1, ret;

    /* WinHTTP enforces the timeouts itself; ours only guards against a lost callback */
    ret = WaitForMultipleObjects(count, handles, FALSE, req->timeout_ms + 30000);
    if (ret == WAIT_OBJECT_0 + 1)
    {
        *hr = E_ABORT;
        return FALSE;
    }
    if (ret == WAIT_TIMEOUT)
    {
        *hr = HRESULT_FROM_WIN32(ERROR_WINHTTP_TIMEOUT);
        return FALSE;
    }
    if (req->completion == WINHTTP_CALLBACK_STATUS_REQUEST_ERROR)
    {
        *hr = HRESULT_FROM_WIN32(req->error);
        return FALSE;
    }
    if (req->completion != expected)
    {
        ERR("unexpected completion %#lx\n", req->completion);
        *hr = E_UNEXPECTED;
        return FALSE;
    }
    return TRUE;
}

static WCHAR *query_header(HINTERNET request, DWORD id)
{
    DWORD size = 0;
    WCHAR *value;

    WinHttpQueryHeaders(request, id, WINHTTP_HEADER_NAME_BY_INDEX, NULL, &size, WINHTTP_NO_HEADER_INDEX);
    if (GetLastError() != ERROR_INSUFFICIENT_BUFFER || !size) return NULL;
    if (!(value = malloc(size + sizeof(WCHAR)))) return NULL;
    if (!WinHttpQueryHeaders(request, id, WINHTTP_HEADER_NAME_BY_INDEX, value, &size, WINHTTP_NO_HEADER_INDEX))
    {
        free(value);
        return NULL;
    }
    return value;
}

static UINT64 parse_u64(const WCHAR *s, const WCHAR **end)
{
    UINT64 value = 0;

    while (*s == ' ') s++;
    if (*s < '0' || *s > '9')
    {
        *end = NULL;
        return 0;
    }
    while (*s >= '0' && *s <= '9')
    {
        if (value > (~(UINT64)0 - 9) / 10)
        {
            *end = NULL;
            return 0;
        }
        value = value * 10 + (*s++ - '0');
    }
    *end = s;
    return value;
}

/* "bytes first-last/total" (total may be "*") */
BOOL http_parse_content_range(const WCHAR *s, struct http_response *resp)
{
    const WCHAR *p;

    while (*s == ' ') s++;
    if (wcsnicmp(s, L"bytes", 5)) return FALSE;
    s += 5;
    resp->range_first = parse_u64(s, &p);
    if (!p || *p != '-') return FALSE;
    resp->range_last = parse_u64(p + 1, &p);
    if (!p || *p != '/' || resp->range_last < resp->range_first) return FALSE;
    if (p[1] == '*') resp->range_total = HTTP_SIZE_UNKNOWN;
    else
    {
        resp->range_total = parse_u64(p + 1, &p);
        if (!p) return FALSE;
    }
    return TRUE;
}

/* Text form of an IPv4 or IPv6 address ("127.0.0.1", "::1"); written out
 * here so the service needs no winsock for it. */
static WCHAR *format_address(const SOCKADDR_STORAGE *addr)
{
    WCHAR buffer[64], *p = buffer;
    int i, best = -1, best_len = 0, run = 0;

    if (addr->ss_family == AF_INET)
    {
        const BYTE *b = (const BYTE *)&((const SOCKADDR_IN *)addr)->sin_addr;
        swprintf(buffer, ARRAY_SIZE(buffer), L"%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
        return strdupW(buffer);
    }
    if (addr->ss_family == AF_INET6)
    {
        const BYTE *b = (const BYTE *)&((const SOCKADDR_IN6 *)addr)->sin6_addr;
        WORD groups[8];

        for (i = 0; i < 8; i++) groups[i] = (b[2 * i] << 8) | b[2 * i + 1];
        /* the longest run of two or more zero groups becomes "::" (RFC 5952) */
        for (i = 0; i < 8; i++)
        {
            run = groups[i] ? 0 : run + 1;
            if (run > best_len)
            {
                best_len = run;
                best = i - run + 1;
            }
        }
        if (best_len < 2) best = -1;
        for (i = 0; i < 8; i++)
        {
            if (i == best)
            {
                p += swprintf(p, buffer + ARRAY_SIZE(buffer) - p, L"::");
                i += best_len - 1;
                continue;
            }
            if (i && i != best + best_len) *p++ = ':';
            p += swprintf(p, buffer + ARRAY_SIZE(buffer) - p, L"%x", groups[i]);
        }
        *p = 0;
        return strdupW(buffer);
    }
    return NULL;
}

static void read_response(struct http_request *req, struct http_response *resp)
{
    WINHTTP_CONNECTION_INFO info;
    DWORD status = 0, size = sizeof(status);
    const WCHAR *end;
    WCHAR *value;

    WinHttpQueryHeaders(req->request, WINHTTP_QUERY_STATUS_CODE | WINHTTP_QUERY_FLAG_NUMBER,
                        WINHTTP_HEADER_NAME_BY_INDEX, &status, &size, WINHTTP_NO_HEADER_INDEX);
    resp->status = status;
    resp->content_length = HTTP_SIZE_UNKNOWN;
    if ((value = query_header(req->request, WINHTTP_QUERY_CONTENT_LENGTH)))
    {
        UINT64 length = parse_u64(value, &end);
        if (end) resp->content_length = length;
        free(value);
    }
    if ((value = query_header(req->request, WINHTTP_QUERY_CONTENT_RANGE)))
    {
        resp->has_range = http_parse_content_range(value, resp);
        free(value);
    }
    if ((value = query_header(req->request, WINHTTP_QUERY_RETRY_AFTER)))
    {
        UINT64 seconds = parse_u64(value, &end);
        /* an HTTP-date is ignored: the retry delay applies instead */
        if (end) resp->retry_after = seconds > 86400 ? 86400 : (DWORD)seconds;
        free(value);
    }
    resp->etag = query_header(req->request, WINHTTP_QUERY_ETAG);
    resp->content_type = query_header(req->request, WINHTTP_QUERY_CONTENT_TYPE);
    resp->last_modified = query_header(req->request, WINHTTP_QUERY_LAST_MODIFIED);
    http_response_check_validators(resp);
    resp->headers = query_header(req->request, WINHTTP_QUERY_RAW_HEADERS_CRLF);

    memset(&info, 0, sizeof(info));
    info.cbSize = size = sizeof(info);
    if (WinHttpQueryOption(req->request, WINHTTP_OPTION_CONNECTION_INFO, &info, &size))
        resp->server_ip = format_address(&info.RemoteAddress);
    else TRACE("no connection info: %lu\n", GetLastError());

    size = 0;
    WinHttpQueryOption(req->request, WINHTTP_OPTION_URL, NULL, &size);
    if (size && (resp->final_url = malloc(size + sizeof(WCHAR))) &&
        !WinHttpQueryOption(req->request, WINHTTP_OPTION_URL, resp->final_url, &size))
    {
        free(resp->final_url);
        resp->final_url = NULL;
    }
    /* Wine 8 does not answer WINHTTP_OPTION_URL; the redirects we followed tell the same */
    if (!resp->final_url) resp->final_url = strdupW(req->url);
}

/* Validators go back to the server in If-Range: one with a control
 * character in it is no validator at all. */
void http_response_check_validators(struct http_response *resp)
{
    if (resp->etag && !text_is_clean(resp->etag))
    {
        WARN("ignoring an ETag with a control character: %s\n", debugstr_w(resp->etag));
        free(resp->etag);
        resp->etag = NULL;
    }
    if (resp->last_modified && !text_is_clean(resp->last_modified))
    {
        WARN("ignoring a Last-Modified with a control character: %s\n", debugstr_w(resp->last_modified));
        free(resp->last_modified);
        resp->last_modified = NULL;
    }
}

void http_response_clear(struct http_response *resp)
{
    free(resp->etag);
    free(resp->last_modified);
    free(resp->headers);
    free(resp->content_type);
    free(resp->final_url);
    free(resp->server_ip);
    memset(resp, 0, sizeof(*resp));
}

static void apply_security(struct http_session *session, HINTERNET request, BOOL secure)
{
    ULONG flags = session->security_flags;
    DWORD value;

    if (secure)
    {
        /* WinHTTP finds the private key through the context's properties */
        if (session->client_cert &&
            !WinHttpSetOption(request, WINHTTP_OPTION_CLIENT_CERT_CONTEXT, (void *)session->client_cert,
                              sizeof(CERT_CONTEXT)))
            WARN("cannot set the client certificate: %lu\n", GetLastError());
        value = 0;
        if (flags & BG_SSL_IGNORE_CERT_CN_INVALID) value |= SECURITY_FLAG_IGNORE_CERT_CN_INVALID;
        if (flags & BG_SSL_IGNORE_CERT_DATE_INVALID) value |= SECURITY_FLAG_IGNORE_CERT_DATE_INVALID;
        if (flags & BG_SSL_IGNORE_UNKNOWN_CA) value |= SECURITY_FLAG_IGNORE_UNKNOWN_CA;
        if (flags & BG_SSL_IGNORE_CERT_WRONG_USAGE) value |= SECURITY_FLAG_IGNORE_CERT_WRONG_USAGE;
        if (value) WinHttpSetOption(request, WINHTTP_OPTION_SECURITY_FLAGS, &value, sizeof(value));
        if (flags & BG_SSL_ENABLE_CRL_CHECK)
        {
            value = WINHTTP_ENABLE_SSL_REVOCATION;
            WinHttpSetOption(request, WINHTTP_OPTION_ENABLE_FEATURE, &value, sizeof(value));
        }
    }
    /* redirects are followed by winhttp_request_send, which holds every
     * Location to the rules a client's URL must meet before it is sent */
    value = WINHTTP_DISABLE_REDIRECTS;
    WinHttpSetOption(request, WINHTTP_OPTION_DISABLE_FEATURE, &value, sizeof(value));
}

static void apply_autodetected_proxy(struct http_session *session, HINTERNET request, const WCHAR *url)
{
    WINHTTP_AUTOPROXY_OPTIONS options = { 0 };
    WINHTTP_PROXY_INFO info = { 0 };

    options.dwFlags = WINHTTP_AUTOPROXY_AUTO_DETECT;
    options.dwAutoDetectFlags = WINHTTP_AUTO_DETECT_TYPE_DHCP | WINHTTP_AUTO_DETECT_TYPE_DNS_A;
    options.fAutoLogonIfChallenged = TRUE;
    if (WinHttpGetProxyForUrl(session->session, url, &options, &info))
    {
        WinHttpSetOption(request, WINHTTP_OPTION_PROXY, &info, sizeof(info));
        GlobalFree(info.lpszProxy);
        GlobalFree(info.lpszProxyBypass);
    }
    else TRACE("no proxy detected for %s: %lu\n", debugstr_w(url), GetLastError());
}

static DWORD winhttp_scheme(BG_AUTH_SCHEME scheme)
{
    switch (scheme)
    {
    case BG_AUTH_SCHEME_BASIC: return WINHTTP_AUTH_SCHEME_BASIC;
    case BG_AUTH_SCHEME_DIGEST: return WINHTTP_AUTH_SCHEME_DIGEST;
    case BG_AUTH_SCHEME_NTLM: return WINHTTP_AUTH_SCHEME_NTLM;
    case BG_AUTH_SCHEME_NEGOTIATE: return WINHTTP_AUTH_SCHEME_NEGOTIATE;
    case BG_AUTH_SCHEME_PASSPORT: return WINHTTP_AUTH_SCHEME_PASSPORT;
    }
    return 0;
}

/* After a 401/407: hand WinHTTP the job's credentials for a scheme the
 * server offers.  FALSE when we have none that fit. */
static BOOL set_credentials(struct http_request *req, DWORD status, const struct job_credential *creds, ULONG count)
{
    DWORD supported = 0, first = 0, target = 0;
    BG_AUTH_TARGET want = status == HTTP_STATUS_PROXY_AUTH_REQ ? BG_AUTH_TARGET_PROXY : BG_AUTH_TARGET_SERVER;
    ULONG i;

    if (!WinHttpQueryAuthSchemes(req->request, &supported, &first, &target)) return FALSE;
    for (i = 0; i < count; i++)
    {
        DWORD scheme = winhttp_scheme(creds[i].scheme);

        if (creds[i].target != want || !(supported & scheme)) continue;
        return WinHttpSetCredentials(req->request, target, scheme, creds[i].user, creds[i].password, NULL);
    }
    return FALSE;
}

static HRESULT send_and_receive(struct http_request *req, const WCHAR *headers)
{
    HRESULT hr = S_OK;

    req->completion = 0;
    if (!WinHttpSendRequest(req->request, headers, headers ? (DWORD)-1 : 0, WINHTTP_NO_REQUEST_DATA, 0, 0,
                            (DWORD_PTR)req))
        return HRESULT_FROM_WIN32(GetLastError());
    if (!wait_step(req, WINHTTP_CALLBACK_STATUS_SENDREQUEST_COMPLETE, &hr)) return hr;
    if (!WinHttpReceiveResponse(req->request, NULL)) return HRESULT_FROM_WIN32(GetLastError());
    if (!wait_step(req, WINHTTP_CALLBACK_STATUS_HEADERS_AVAILABLE, &hr)) return hr;
    return S_OK;
}

/* Compose the request's extra headers: the job's own, then Range/If-Range. */
static WCHAR *build_headers(const struct http_fetch_params *params)
{
    size_t len = (params->custom_headers ? lstrlenW(params->custom_headers) : 0) +
                 (params->if_range ? lstrlenW(params->if_range) : 0) +
                 (params->range_set ? strlen(params->range_set) : 0) + 128;
    WCHAR *headers, *p;

    if (!(headers = malloc(len * sizeof(WCHAR)))) return NULL;
    p = headers;
    *p = 0;
    if (params->custom_headers && *params->custom_headers)
    {
        lstrcpyW(p, params->custom_headers);
        p += lstrlenW(p);
        if (p[-1] != '\n') p += swprintf(p, len - (p - headers), L"\r\n");
    }
    if (params->range_first != HTTP_NO_RANGE)
    {
        if (params->range_set)
            p += swprintf(p, len - (p - headers), L"Range: bytes=%hs\r\n", params->range_set);
        else if (params->range_last == HTTP_SIZE_UNKNOWN)
            p += swprintf(p, len - (p - headers), L"Range: bytes=%I64u-\r\n", params->range_first);
        else
            p += swprintf(p, len - (p - headers), L"Range: bytes=%I64u-%I64u\r\n",
                          params->range_first, params->range_last);
        if (params->if_range && *params->if_range)
            p += swprintf(p, len - (p - headers), L"If-Range: %s\r\n", params->if_range);
    }
    return headers;
}

/* Close the request and connection handles; FALSE when WinHTTP never said
 * it let go of the request, whose context then must stay alive. */
static BOOL close_handles(struct http_request *req)
{
    BOOL ret = TRUE;

    if (req->request)
    {
        WinHttpCloseHandle(req->request);
        /* WinHTTP may still be inside our callback: wait for its last word */
        if (WaitForSingleObject(req->closed, 5000) == WAIT_TIMEOUT)
        {
            ERR("request %p never reported closing; leaking its context\n", req);
            req->leaked = TRUE;
            ret = FALSE;
        }
        req->request = NULL;
        ResetEvent(req->closed);
    }
    if (req->connect) WinHttpCloseHandle(req->connect);
    req->connect = NULL;
    return ret;
}

static void request_free(struct http_request *req)
{
    if (req->leaked || !close_handles(req)) return;
    CloseHandle(req->step_done);
    CloseHandle(req->closed);
    free(req->url);
    free(req);
}

/* Open the handles for one GET of req->url; the target goes out as
 * url_wire_target makes it (WinHTTP finds nothing left to escape). */
static HRESULT open_request(struct http_session *session, struct http_request *req, BOOL *secure)
{
    static const WCHAR *accept[] = { L"*/*", NULL };
    DWORD_PTR context = (DWORD_PTR)req;
    URL_COMPONENTS url;
    WCHAR *host = NULL, *target = NULL;
    char *wire = NULL;
    HRESULT hr = S_OK;
    int len;

    if (req->leaked || !close_handles(req)) return E_UNEXPECTED;
    if (FAILED(url_check(req->url, lstrlenW(req->url)))) return HRESULT_FROM_WIN32(ERROR_WINHTTP_INVALID_URL);
    memset(&url, 0, sizeof(url));
    url.dwStructSize = sizeof(url);
    url.dwHostNameLength = url.dwUrlPathLength = url.dwExtraInfoLength = (DWORD)-1;
    if (!WinHttpCrackUrl(req->url, 0, 0, &url)) return HRESULT_FROM_WIN32(GetLastError());
    *secure = url.nScheme == INTERNET_SCHEME_HTTPS;

    if (url.dwUrlPathLength) wire = url_wire_target(url.lpszUrlPath, url.dwUrlPathLength + url.dwExtraInfoLength);
    else if (url.dwExtraInfoLength) wire = url_wire_target(url.lpszExtraInfo, url.dwExtraInfoLength);
    else wire = url_wire_target(L"", 0);
    if (!wire || !(host = malloc((url.dwHostNameLength + 1) * sizeof(WCHAR))))
    {
        hr = E_OUTOFMEMORY;
        goto done;
    }
    memcpy(host, url.lpszHostName, url.dwHostNameLength * sizeof(WCHAR));
    host[url.dwHostNameLength] = 0;
    len = MultiByteToWideChar(CP_UTF8, 0, wire, -1, NULL, 0);
    if (!(target = malloc(len * sizeof(WCHAR))))
    {
        hr = E_OUTOFMEMORY;
        goto done;
    }
    MultiByteToWideChar(CP_UTF8, 0, wire, -1, target, len);

    if (!(req->connect = WinHttpConnect(session->session, host, url.nPort, 0)) ||
        !(req->request = WinHttpOpenRequest(req->connect, L"GET", target, NULL, WINHTTP_NO_REFERER, accept,
                                            *secure ? WINHTTP_FLAG_SECURE : 0)))
    {
        hr = HRESULT_FROM_WIN32(GetLastError());
        goto done;
    }
    /* the context must be known before any callback, HANDLE_CLOSING included */
    WinHttpSetOption(req->request, WINHTTP_OPTION_CONTEXT_VALUE, &context, sizeof(context));
    WinHttpSetTimeouts(req->request, session->timeout_ms, session->timeout_ms, session->timeout_ms,
                       session->timeout_ms);
    apply_security(session, req->request, *secure);
    if (session->autodetect_proxy) apply_autodetected_proxy(session, req->request, req->url);
done:
    free(host);
    free(target);
    free(wire);
    return hr;
}

/* WinHTTP hands a header's bytes over one character each (Wine: through the
 * ANSI code page).  The raw bytes of a Location are UTF-8 when they form
 * valid UTF-8, which is what our own client reads them as: give the URL its
 * characters back, so both clients follow the same Location the same way. */
static void location_from_bytes(WCHAR **location)
{
    int len = lstrlenW(*location), size, count, i;
    BOOL lossy = FALSE, high = FALSE;
    WCHAR *wide;
    char *bytes;

    for (i = 0; i < len; i++)
        if ((*location)[i] >= 0x80) high = TRUE;
    if (!high) return;
    size = WideCharToMultiByte(CP_ACP, WC_NO_BEST_FIT_CHARS, *location, len, NULL, 0, NULL, &lossy);
    if (!size || lossy || !(bytes = malloc(size))) return;
    WideCharToMultiByte(CP_ACP, WC_NO_BEST_FIT_CHARS, *location, len, bytes, size, NULL, &lossy);
    if ((count = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, bytes, size, NULL, 0)) &&
        (wide = malloc((count + 1) * sizeof(WCHAR))))
    {
        MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, bytes, size, wide, count);
        wide[count] = 0;
        free(*location);
        *location = wide;
    }
    free(bytes);
}

static BOOL is_redirect(DWORD status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static HRESULT winhttp_request_send(struct http_session *session, const struct http_fetch_params *params,
                                    struct http_request **out, struct http_response *resp)
{
    ULONG policy = session->security_flags & BG_HTTP_REDIRECT_POLICY_MASK;
    struct http_request *req;
    WCHAR *headers = NULL, *location, *next;
    BOOL auth_headers_sent, secure = FALSE;
    HRESULT hr = S_OK;
    int attempt, hops;

    *out = NULL;
    memset(resp, 0, sizeof(*resp));
    /* checked where they were set; checked again where they become bytes on the wire */
    if ((params->custom_headers && FAILED(headers_check(params->custom_headers, lstrlenW(params->custom_headers)))) ||
        (params->auth_headers && FAILED(headers_check(params->auth_headers, lstrlenW(params->auth_headers)))) ||
        (params->if_range && !text_is_clean(params->if_range)))
        return E_INVALIDARG;

    if (!(req = calloc(1, sizeof(*req)))) return E_OUTOFMEMORY;
    req->step_done = CreateEventW(NULL, FALSE, FALSE, NULL);
    req->closed = CreateEventW(NULL, TRUE, FALSE, NULL);
    req->abort_event = params->abort_event;
    req->timeout_ms = session->timeout_ms;
    req->url = strdupW(params->url);
    if (!req->step_done || !req->closed || !req->url || !(headers = build_headers(params)))
    {
        hr = E_OUTOFMEMORY;
        goto done;
    }

    for (hops = 0; ; hops++)
    {
        if (FAILED(hr = open_request(session, req, &secure))) break;
        auth_headers_sent = FALSE;
        for (attempt = 0; attempt < 3; attempt++)
        {
            if (FAILED(hr = send_and_receive(req, headers))) break;
            http_response_clear(resp);
            read_response(req, resp);
            if (resp->status != HTTP_STATUS_DENIED && resp->status != HTTP_STATUS_PROXY_AUTH_REQ) break;
            if (set_credentials(req, resp->status, params->credentials, params->credential_count))
            {
                TRACE("retrying %s with credentials after %lu\n", debugstr_w(req->url), resp->status);
                continue;
            }
            /* IDODownload's HttpCustomAuthHeaders: shown to the server only once it asks */
            if (resp->status != HTTP_STATUS_DENIED || !params->auth_headers || !*params->auth_headers ||
                auth_headers_sent ||
                !WinHttpAddRequestHeaders(req->request, params->auth_headers, (DWORD)-1,
                                          WINHTTP_ADDREQ_FLAG_ADD | WINHTTP_ADDREQ_FLAG_REPLACE))
                break;
            auth_headers_sent = TRUE;
            TRACE("retrying %s with the custom authentication headers\n", debugstr_w(req->url));
        }
        if (FAILED(hr) || !is_redirect(resp->status) || policy == BG_HTTP_REDIRECT_POLICY_DISALLOW) break;

        /* a redirect: the answer is the 3xx itself unless it is followed */
        if (!(location = query_header(req->request, WINHTTP_QUERY_LOCATION))) break;
        location_from_bytes(&location);
        next = resolve_location(req->url, location);
        if (!next || hops == MAX_REDIRECTS || FAILED(url_check(next, lstrlenW(next))))
        {
            WARN("refusing the redirect from %s to %s\n", debugstr_w(req->url), debugstr_w(location));
            free(location);
            free(next);
            hr = HRESULT_FROM_WIN32(ERROR_WINHTTP_REDIRECT_FAILED);
            break;
        }
        free(location);
        if (secure && wcsnicmp(next, L"https:", 6) &&
            !(session->security_flags & BG_HTTP_REDIRECT_POLICY_ALLOW_HTTPS_TO_HTTP))
        {
            /* WinHTTP's own rule: no silent step down from https to http */
            free(next);
            break;
        }
        TRACE("redirect %lu from %s to %s\n", resp->status, debugstr_w(req->url), debugstr_w(next));
        free(req->url);
        req->url = next;
    }

done:
    free(headers);
    if (FAILED(hr))
    {
        http_response_clear(resp);
        request_free(req);
        return hr;
    }
    *out = req;
    return S_OK;
}

/* http:// and (see tls.c) https:// straight to the server go over our own
 * sockets; an https redirect the pool cannot take, or a server asking for
 * credentials the job has, falls back to WinHTTP. */
HRESULT http_request_send(struct http_session *session, const struct http_fetch_params *params,
                          struct http_request **out, struct http_response *resp)
{
    struct http_fetch_params redirected;
    struct native_request *native;
    struct http_request *req;
    WCHAR *handoff = NULL;
    HRESULT hr;

    if (!session->native || !native_http_handles(session->native, params->url))
        return winhttp_request_send(session, params, out, resp);

    hr = native_request_send(session->native, params, session->timeout_ms, session->security_flags,
                             &native, resp, &handoff);
    if (hr == S_FALSE)
    {
        TRACE("%s continues over https: %s\n", debugstr_w(params->url), debugstr_w(handoff));
        redirected = *params;
        redirected.url = handoff;
        hr = winhttp_request_send(session, &redirected, out, resp);
        free(handoff);
        return hr;
    }
    if (FAILED(hr)) return hr;
    if ((resp->status == HTTP_STATUS_DENIED || resp->status == HTTP_STATUS_PROXY_AUTH_REQ) &&
        (params->credential_count || (params->auth_headers && *params->auth_headers)))
    {
        /* authentication schemes are WinHTTP's to speak */
        native_request_close(native);
        http_response_clear(resp);
        return winhttp_request_send(session, params, out, resp);
    }
    if (!(req = calloc(1, sizeof(*req))))
    {
        native_request_close(native);
        http_response_clear(resp);
        return E_OUTOFMEMORY;
    }
    req->native = native;
    *out = req;
    return S_OK;
}

HRESULT http_request_read(struct http_request *req, void *buffer, DWORD size, DWORD *read)
{
    HRESULT hr = S_OK;

    if (req->native) return native_request_read(req->native, buffer, size, read);
    *read = 0;
    req->completion = 0;
    if (!WinHttpReadData(req->request, buffer, size, NULL)) return HRESULT_FROM_WIN32(GetLastError());
    if (!wait_step(req, WINHTTP_CALLBACK_STATUS_READ_COMPLETE, &hr)) return hr;
    *read = req->bytes;
    return S_OK;
}

void http_request_close(struct http_request *req)
{
    if (!req) return;
    if (req->native)
    {
        native_request_close(req->native);
        free(req);
        return;
    }
    request_free(req);
}
