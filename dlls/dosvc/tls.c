/*
 * Delivery Optimization service: TLS for the own HTTP client, through the
 * Schannel security package (secur32)
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
 * Why: under Wine 8, WinHTTP moves about 20 MB/s over https on loopback
 * while the same Schannel package driven directly moves five times that
 * (docs/performance.md, "https (issue 15)").  So the own client
 * (http_native.c) speaks TLS itself for direct https requests.
 *
 * The server's certificate is checked by us, not by the package
 * (SCH_CRED_MANUAL_CRED_VALIDATION), the way WinHTTP checks it: a chain to a
 * trusted root (CertGetCertificateChain) that passes the SSL policy for the
 * URL's host name (CertVerifyCertificateChainPolicy, CERT_CHAIN_POLICY_SSL),
 * where the job's BG_SSL_IGNORE_* flags relax exactly the matching checks.
 * The check runs as soon as the certificate is known, before our next
 * handshake message goes out; a failure is ERROR_WINHTTP_SECURE_FAILURE,
 * which the engine reports as DO_E_HTTP_CERT_VALIDATION.
 *
 * Only a close_notify ends the stream cleanly: a connection that just stops
 * (FIN without close_notify) is an error, so a body delimited by the close
 * can never be cut short by someone who can reset the connection.
 */

#define SECURITY_WIN32
#include "winsock2.h"
#include "dosvc_private.h"
#include "sspi.h"
#include "schannel.h"
#include "tls.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

/* winerror.h of Windows has it; Wine 8's does not */
#ifndef SEC_I_INCOMPLETE_CREDENTIALS
#define SEC_I_INCOMPLETE_CREDENTIALS ((HRESULT)0x00090320)
#endif

/* room for many records of ciphertext: one receive takes what the socket
 * has, and one read hands out as many records as the caller's buffer holds */
#define TLS_BUFFER (1024 * 1024)
#define TLS_ROOM   (64 * 1024)      /* below this much room at the end, move the bytes to the front */

struct tls_channel
{
    CredHandle cred;
    CtxtHandle ctx;
    BOOL have_cred, have_ctx;
    SecPkgContext_StreamSizes sizes;
    char *in;                   /* ciphertext received, not yet decrypted: in[in_start..in_end) */
    DWORD in_start, in_end;
    char *plain;                /* decrypted bytes not yet handed out (before in_start, or in side) */
    char *side;                 /* for a package that does not decrypt in place */
    DWORD plain_size;
    BOOL closed;                /* close_notify seen */
    BOOL maybe_closed;          /* the last record held no data: perhaps a close_notify (see tls_recv) */
    WCHAR *server_name;
    ULONG ignore;               /* SECURITY_FLAG_IGNORE_* */
    BOOL validated;
};

static SecurityFunctionTableW *sspi;
static INIT_ONCE sspi_once = INIT_ONCE_STATIC_INIT;

static BOOL WINAPI load_sspi(INIT_ONCE *once, void *param, void **context)
{
    sspi = InitSecurityInterfaceW();
    if (!sspi) ERR("no security interface\n");
    return TRUE;
}

BOOL tls_available(void)
{
    InitOnceExecuteOnce(&sspi_once, load_sspi, NULL, NULL);
    return sspi != NULL;
}

/* The job's BITS flags as the SSL policy's ignore flags (what WinHTTP is given). */
static ULONG ignore_flags(ULONG security_flags)
{
    ULONG value = 0;

    if (security_flags & BG_SSL_IGNORE_CERT_CN_INVALID) value |= SECURITY_FLAG_IGNORE_CERT_CN_INVALID;
    if (security_flags & BG_SSL_IGNORE_CERT_DATE_INVALID) value |= SECURITY_FLAG_IGNORE_CERT_DATE_INVALID;
    if (security_flags & BG_SSL_IGNORE_UNKNOWN_CA) value |= SECURITY_FLAG_IGNORE_UNKNOWN_CA;
    if (security_flags & BG_SSL_IGNORE_CERT_WRONG_USAGE) value |= SECURITY_FLAG_IGNORE_CERT_WRONG_USAGE;
    return value;
}

/* A chain to a trusted root, for server authentication, for this host name. */
static HRESULT validate(struct tls_channel *tls, const CERT_CONTEXT *cert)
{
    static const char *usages[] = { szOID_PKIX_KP_SERVER_AUTH, szOID_SERVER_GATED_CRYPTO, szOID_SGC_NETSCAPE };
    SSL_EXTRA_CERT_CHAIN_POLICY_PARA ssl = { { sizeof(ssl) } };
    CERT_CHAIN_POLICY_PARA policy = { sizeof(policy) };
    CERT_CHAIN_POLICY_STATUS status = { sizeof(status) };
    CERT_CHAIN_PARA para = { sizeof(para) };
    const CERT_CHAIN_CONTEXT *chain;

    para.RequestedUsage.dwType = USAGE_MATCH_TYPE_OR;
    para.RequestedUsage.Usage.cUsageIdentifier = ARRAY_SIZE(usages);
    para.RequestedUsage.Usage.rgpszUsageIdentifier = (char **)usages;
    if (!CertGetCertificateChain(NULL, cert, NULL, cert->hCertStore, &para, 0, NULL, &chain))
    {
        WARN("no chain for the server's certificate: %lu\n", GetLastError());
        return HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_FAILURE);
    }
    ssl.dwAuthType = AUTHTYPE_SERVER;
    ssl.fdwChecks = tls->ignore;
    ssl.pwszServerName = tls->server_name;
    policy.pvExtraPolicyPara = &ssl;
    if (!CertVerifyCertificateChainPolicy(CERT_CHAIN_POLICY_SSL, chain, &policy, &status))
        status.dwError = GetLastError() ? GetLastError() : (DWORD)CERT_E_CHAINING;
    TRACE("chain trust %#lx, SSL policy %#lx for %s (ignoring %#lx)\n", chain->TrustStatus.dwErrorStatus,
          status.dwError, debugstr_w(tls->server_name), tls->ignore);
    CertFreeCertificateChain(chain);
    if (status.dwError)
    {
        WARN("the server's certificate is refused for %s: %#lx\n", debugstr_w(tls->server_name), status.dwError);
        return HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_FAILURE);
    }
    return S_OK;
}

/* Check the certificate once it is there; TRUE when it is known (either way). */
static BOOL check_server_cert(struct tls_channel *tls, HRESULT *hr)
{
    const CERT_CONTEXT *cert = NULL;

    if (tls->validated) return TRUE;
    if (sspi->QueryContextAttributesW(&tls->ctx, SECPKG_ATTR_REMOTE_CERT_CONTEXT, &cert) != SEC_E_OK || !cert)
        return FALSE;
    *hr = validate(tls, cert);
    CertFreeCertificateContext(cert);
    tls->validated = TRUE;
    return TRUE;
}

static HRESULT send_token(const struct tls_io *io, SecBuffer *token)
{
    HRESULT hr = S_OK;

    if (token->pvBuffer && token->cbBuffer) hr = io->send(io, token->pvBuffer, token->cbBuffer);
    if (token->pvBuffer) sspi->FreeContextBuffer(token->pvBuffer);
    token->pvBuffer = NULL;
    token->cbBuffer = 0;
    return hr;
}

/* More ciphertext from the socket.  The end of the connection is an error
 * unless the last record was (perhaps) a close_notify and nothing came
 * after it: then S_FALSE, the stream ended cleanly. */
static HRESULT receive_more(struct tls_channel *tls, const struct tls_io *io)
{
    DWORD got;
    HRESULT hr;

    /* plaintext still points into the buffer: nothing may move (callers hand it out first) */
    if (tls->plain_size && tls->plain != tls->side) return E_UNEXPECTED;
    if (tls->in_start == tls->in_end) tls->in_start = tls->in_end = 0;
    else if (TLS_BUFFER - tls->in_end < TLS_ROOM && tls->in_start)
    {
        memmove(tls->in, tls->in + tls->in_start, tls->in_end - tls->in_start);
        tls->in_end -= tls->in_start;
        tls->in_start = 0;
    }
    if (tls->in_end == TLS_BUFFER) return HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_CHANNEL_ERROR);
    if (FAILED(hr = io->recv(io, tls->in + tls->in_end, TLS_BUFFER - tls->in_end, &got))) return hr;
    if (!got)
    {
        if (tls->maybe_closed && tls->in_start == tls->in_end)
        {
            TRACE("the connection ended after an empty record: taken as close_notify\n");
            tls->closed = TRUE;
            return S_FALSE;
        }
        WARN("the connection ended without close_notify\n");
        return HRESULT_FROM_WIN32(WSAECONNRESET);
    }
    tls->in_end += got;
    return S_OK;
}

/* Drive InitializeSecurityContext until the handshake is done.  Also used
 * when the server starts a new handshake (SEC_I_RENEGOTIATE). */
static HRESULT handshake_loop(struct tls_channel *tls, const struct tls_io *io, BOOL start)
{
    const ULONG want = ISC_REQ_SEQUENCE_DETECT | ISC_REQ_REPLAY_DETECT | ISC_REQ_CONFIDENTIALITY |
                       ISC_REQ_ALLOCATE_MEMORY | ISC_REQ_STREAM | ISC_REQ_EXTENDED_ERROR;
    SecBuffer in[2], out[1];
    SecBufferDesc in_desc = { SECBUFFER_VERSION, 2, in }, out_desc = { SECBUFFER_VERSION, 1, out };
    SECURITY_STATUS status;
    TimeStamp expiry;
    ULONG attrs;
    HRESULT hr = S_OK;

    for (;;)
    {
        out[0].BufferType = SECBUFFER_TOKEN;
        out[0].pvBuffer = NULL;
        out[0].cbBuffer = 0;
        if (start)
        {
            status = sspi->InitializeSecurityContextW(&tls->cred, NULL, tls->server_name, want, 0, 0, NULL, 0,
                                                      &tls->ctx, &out_desc, &attrs, &expiry);
            if (status == SEC_I_CONTINUE_NEEDED || status == SEC_E_OK) tls->have_ctx = TRUE;
            start = FALSE;
        }
        else
        {
            if (tls->in_start == tls->in_end && (hr = receive_more(tls, io)) != S_OK)
                return FAILED(hr) ? hr : HRESULT_FROM_WIN32(WSAECONNRESET);
            in[0].BufferType = SECBUFFER_TOKEN;
            in[0].pvBuffer = tls->in + tls->in_start;
            in[0].cbBuffer = tls->in_end - tls->in_start;
            in[1].BufferType = SECBUFFER_EMPTY;
            in[1].pvBuffer = NULL;
            in[1].cbBuffer = 0;
            status = sspi->InitializeSecurityContextW(&tls->cred, &tls->ctx, tls->server_name, want, 0, 0,
                                                      &in_desc, 0, NULL, &out_desc, &attrs, &expiry);
            if (status == SEC_E_INCOMPLETE_MESSAGE)
            {
                if (out[0].pvBuffer) sspi->FreeContextBuffer(out[0].pvBuffer);
                if ((hr = receive_more(tls, io)) != S_OK) return FAILED(hr) ? hr : HRESULT_FROM_WIN32(WSAECONNRESET);
                continue;
            }
            /* what the package did not take belongs to the next message */
            if (in[1].BufferType == SECBUFFER_EXTRA && in[1].cbBuffer && in[1].cbBuffer <= in[0].cbBuffer)
                tls->in_start = tls->in_end - in[1].cbBuffer;
            else tls->in_start = tls->in_end;
        }
        if (status == SEC_I_INCOMPLETE_CREDENTIALS || status == SEC_E_INCOMPLETE_CREDENTIALS)
        {
            /* the server asks for a client certificate and the job has none
             * (jobs with one stay on WinHTTP): WinHTTP's answer */
            if (out[0].pvBuffer) sspi->FreeContextBuffer(out[0].pvBuffer);
            WARN("%s asks for a client certificate\n", debugstr_w(tls->server_name));
            return HRESULT_FROM_WIN32(ERROR_WINHTTP_CLIENT_AUTH_CERT_NEEDED);
        }
        if (status != SEC_E_OK && status != SEC_I_CONTINUE_NEEDED)
        {
            if (out[0].pvBuffer) sspi->FreeContextBuffer(out[0].pvBuffer);
            WARN("handshake with %s failed: %#lx\n", debugstr_w(tls->server_name), status);
            if (status == SEC_E_CERT_UNKNOWN || status == SEC_E_UNTRUSTED_ROOT || status == SEC_E_WRONG_PRINCIPAL ||
                status == SEC_E_CERT_EXPIRED)
                return HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_FAILURE);
            return HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_CHANNEL_ERROR);
        }
        /* nothing more of ours goes out to a server we do not trust */
        if (tls->have_ctx && check_server_cert(tls, &hr) && FAILED(hr))
        {
            if (out[0].pvBuffer) sspi->FreeContextBuffer(out[0].pvBuffer);
            return hr;
        }
        if (FAILED(hr = send_token(io, &out[0]))) return hr;
        if (status == SEC_E_OK) break;
    }
    if (!check_server_cert(tls, &hr))
    {
        WARN("no server certificate from %s\n", debugstr_w(tls->server_name));
        return HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_FAILURE);
    }
    if (FAILED(hr)) return hr;
    if (sspi->QueryContextAttributesW(&tls->ctx, SECPKG_ATTR_STREAM_SIZES, &tls->sizes) != SEC_E_OK ||
        !tls->sizes.cbMaximumMessage)
        return HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_CHANNEL_ERROR);
    return S_OK;
}

HRESULT tls_connect(const char *host, ULONG security_flags, const struct tls_io *io, struct tls_channel **out)
{
    SCHANNEL_CRED cred = { 0 };
    struct tls_channel *tls;
    SECURITY_STATUS status;
    TimeStamp expiry;
    const char *name = host;
    size_t len;
    HRESULT hr;
    int size;

    *out = NULL;
    if (!tls_available()) return HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_CHANNEL_ERROR);
    if (!(tls = calloc(1, sizeof(*tls))) || !(tls->in = malloc(TLS_BUFFER)))
    {
        free(tls);
        return E_OUTOFMEMORY;
    }
    /* an IPv6 literal is named without its brackets */
    len = strlen(host);
    if (host[0] == '[' && len > 2 && host[len - 1] == ']')
    {
        name = host + 1;
        len -= 2;
    }
    size = MultiByteToWideChar(CP_UTF8, 0, name, (int)len, NULL, 0);
    if (!(tls->server_name = malloc((size + 1) * sizeof(WCHAR))))
    {
        tls_close(tls);
        return E_OUTOFMEMORY;
    }
    MultiByteToWideChar(CP_UTF8, 0, name, (int)len, tls->server_name, size);
    tls->server_name[size] = 0;
    tls->ignore = ignore_flags(security_flags);

    cred.dwVersion = SCHANNEL_CRED_VERSION;
    /* the certificate is ours to check (above); no client certificate from the
     * account's store unless the job names one (it then stays on WinHTTP) */
    cred.dwFlags = SCH_CRED_MANUAL_CRED_VALIDATION | SCH_CRED_NO_DEFAULT_CREDS;
    status = sspi->AcquireCredentialsHandleW(NULL, (WCHAR *)UNISP_NAME_W, SECPKG_CRED_OUTBOUND, NULL, &cred, NULL,
                                             NULL, &tls->cred, &expiry);
    if (status != SEC_E_OK)
    {
        ERR("AcquireCredentialsHandle: %#lx\n", status);
        tls_close(tls);
        return HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_CHANNEL_ERROR);
    }
    tls->have_cred = TRUE;
    if (FAILED(hr = handshake_loop(tls, io, TRUE)))
    {
        tls_close(tls);
        return hr;
    }
    TRACE("TLS to %s: header %lu, trailer %lu, records of %lu\n", debugstr_w(tls->server_name),
          tls->sizes.cbHeader, tls->sizes.cbTrailer, tls->sizes.cbMaximumMessage);
    *out = tls;
    return S_OK;
}

HRESULT tls_send(struct tls_channel *tls, const struct tls_io *io, const char *data, DWORD size)
{
    DWORD record = tls->sizes.cbHeader + tls->sizes.cbMaximumMessage + tls->sizes.cbTrailer, chunk;
    SecBuffer buffers[4];
    SecBufferDesc desc = { SECBUFFER_VERSION, 4, buffers };
    SECURITY_STATUS status;
    HRESULT hr = S_OK;
    char *message;

    if (!(message = malloc(record))) return E_OUTOFMEMORY;
    while (size && SUCCEEDED(hr))
    {
        chunk = min(size, tls->sizes.cbMaximumMessage);
        memcpy(message + tls->sizes.cbHeader, data, chunk);
        buffers[0].BufferType = SECBUFFER_STREAM_HEADER;
        buffers[0].pvBuffer = message;
        buffers[0].cbBuffer = tls->sizes.cbHeader;
        buffers[1].BufferType = SECBUFFER_DATA;
        buffers[1].pvBuffer = message + tls->sizes.cbHeader;
        buffers[1].cbBuffer = chunk;
        buffers[2].BufferType = SECBUFFER_STREAM_TRAILER;
        buffers[2].pvBuffer = message + tls->sizes.cbHeader + chunk;
        buffers[2].cbBuffer = tls->sizes.cbTrailer;
        buffers[3].BufferType = SECBUFFER_EMPTY;
        buffers[3].pvBuffer = NULL;
        buffers[3].cbBuffer = 0;
        if ((status = sspi->EncryptMessage(&tls->ctx, 0, &desc, 0)) != SEC_E_OK)
        {
            WARN("EncryptMessage: %#lx\n", status);
            hr = HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_CHANNEL_ERROR);
            break;
        }
        /* the package may have used less of the header and trailer than it asked room for */
        if (buffers[0].cbBuffer != tls->sizes.cbHeader)
            memmove(message + buffers[0].cbBuffer, buffers[1].pvBuffer, buffers[1].cbBuffer + buffers[2].cbBuffer);
        if ((char *)buffers[2].pvBuffer != (char *)buffers[1].pvBuffer + buffers[1].cbBuffer)
            memmove(message + buffers[0].cbBuffer + buffers[1].cbBuffer, buffers[2].pvBuffer, buffers[2].cbBuffer);
        hr = io->send(io, message, buffers[0].cbBuffer + buffers[1].cbBuffer + buffers[2].cbBuffer);
        data += chunk;
        size -= chunk;
    }
    free(message);
    return hr;
}

/* Fills the buffer with as much plaintext as is there: first what is left
 * of the last record, then every whole record already received; it waits
 * for the network only while it has nothing to give. */
HRESULT tls_recv(struct tls_channel *tls, const struct tls_io *io, char *buffer, DWORD size, DWORD *got)
{
    SecBuffer buffers[4];
    SecBufferDesc desc = { SECBUFFER_VERSION, 4, buffers };
    SECURITY_STATUS status;
    SecBuffer *data, *extra;
    DWORD count, taken;
    BYTE record_type;
    HRESULT hr;
    int i;

    *got = 0;
    while (*got < size)
    {
        if (tls->plain_size)
        {
            count = min(size - *got, tls->plain_size);
            memcpy(buffer + *got, tls->plain, count);
            tls->plain += count;
            tls->plain_size -= count;
            *got += count;
            continue;
        }
        if (tls->closed) break;
        if (tls->in_start == tls->in_end)
        {
            if (*got) break;
            if (FAILED(hr = receive_more(tls, io))) return hr;
            if (hr == S_FALSE) continue;
        }
        record_type = (BYTE)tls->in[tls->in_start];

        buffers[0].BufferType = SECBUFFER_DATA;
        buffers[0].pvBuffer = tls->in + tls->in_start;
        buffers[0].cbBuffer = tls->in_end - tls->in_start;
        for (i = 1; i < 4; i++)
        {
            buffers[i].BufferType = SECBUFFER_EMPTY;
            buffers[i].pvBuffer = NULL;
            buffers[i].cbBuffer = 0;
        }
        status = sspi->DecryptMessage(&tls->ctx, &desc, 0, NULL);
        if (status == SEC_E_INCOMPLETE_MESSAGE)
        {
            if (*got) break;
            if (FAILED(hr = receive_more(tls, io))) return hr;
            if (hr == S_FALSE) return HRESULT_FROM_WIN32(WSAECONNRESET);   /* ended inside a record */
            continue;
        }
        if (status != SEC_E_OK && status != SEC_I_CONTEXT_EXPIRED && status != SEC_I_RENEGOTIATE)
        {
            WARN("DecryptMessage: %#lx\n", status);
            return HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_CHANNEL_ERROR);
        }
        data = extra = NULL;
        for (i = 1; i < 4; i++)
        {
            if (buffers[i].BufferType == SECBUFFER_DATA && !data) data = &buffers[i];
            if (buffers[i].BufferType == SECBUFFER_EXTRA && !extra) extra = &buffers[i];
        }
        /* the plaintext is decrypted in place, inside the record it came in;
         * the record's bytes stay where they are until it is handed out */
        taken = tls->in_end - tls->in_start - (extra && extra->cbBuffer <= tls->in_end - tls->in_start ? extra->cbBuffer : 0);
        if (data && data->cbBuffer && (char *)data->pvBuffer >= tls->in + tls->in_start &&
            (char *)data->pvBuffer + data->cbBuffer <= tls->in + tls->in_start + taken)
        {
            tls->plain = data->pvBuffer;
            tls->plain_size = data->cbBuffer;
        }
        else if (data && data->cbBuffer)
        {
            char *side = realloc(tls->side, data->cbBuffer);

            if (!side) return E_OUTOFMEMORY;
            memcpy(side, data->pvBuffer, data->cbBuffer);
            tls->side = tls->plain = side;
            tls->plain_size = data->cbBuffer;
        }
        tls->in_start += taken;
        /* Wine 8's Schannel answers a close_notify with SEC_E_OK and no data,
         * not SEC_I_CONTEXT_EXPIRED.  A TLS 1.2 alert record (its type is in
         * the clear) that gives no data is taken as the close; a TLS 1.3
         * record that gives none may be one (alerts are hidden there), which
         * the end of the connection right after it then confirms. */
        if (status == SEC_E_OK && !tls->plain_size)
        {
            if (record_type == 21)
            {
                TRACE("an alert record without data from %s: close_notify\n", debugstr_w(tls->server_name));
                tls->closed = TRUE;
            }
            else tls->maybe_closed = TRUE;
        }
        else if (tls->plain_size) tls->maybe_closed = FALSE;
        if (status == SEC_I_CONTEXT_EXPIRED)
        {
            TRACE("close_notify from %s\n", debugstr_w(tls->server_name));
            tls->closed = TRUE;
        }
        else if (status == SEC_I_RENEGOTIATE)
        {
            /* a new handshake: its messages are what followed the record */
            if (tls->plain_size)
            {
                /* application data comes after the handshake, not with its request */
                WARN("data with a renegotiation request\n");
                return HRESULT_FROM_WIN32(ERROR_WINHTTP_SECURE_CHANNEL_ERROR);
            }
            TRACE("the server renegotiates\n");
            /* the new handshake may bring another certificate: it is checked again */
            tls->validated = FALSE;
            if (FAILED(hr = handshake_loop(tls, io, FALSE))) return hr;
        }
    }
    return S_OK;
}

BOOL tls_pending(const struct tls_channel *tls)
{
    return tls->plain_size != 0;
}

BOOL tls_closed(const struct tls_channel *tls)
{
    return tls->closed;
}

BOOL tls_buffered(const struct tls_channel *tls)
{
    return tls->in_end > tls->in_start;
}

void tls_close(struct tls_channel *tls)
{
    if (!tls) return;
    if (tls->have_ctx) sspi->DeleteSecurityContext(&tls->ctx);
    if (tls->have_cred) sspi->FreeCredentialsHandle(&tls->cred);
    free(tls->server_name);
    free(tls->in);
    free(tls->side);
    free(tls);
}
