/*
 * Delivery Optimization service: TLS for the own HTTP client (Schannel)
 *
 * Copyright 2026 the wine-dosvc authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef DOSVC_TLS_H
#define DOSVC_TLS_H

struct tls_channel;

/* how the channel moves its bytes: the connection's own waits (abort, timeout) */
struct tls_io
{
    HRESULT (*send)(const struct tls_io *io, const char *data, DWORD size);
    /* 0 bytes: the peer closed the connection */
    HRESULT (*recv)(const struct tls_io *io, char *buffer, DWORD size, DWORD *got);
    void *conn;
    HANDLE abort_event;
    DWORD timeout_ms;
};

BOOL tls_available(void);
/* handshake and the server certificate's check; ERROR_WINHTTP_SECURE_FAILURE
 * when the certificate is refused (security_flags: BG_SSL_IGNORE_*) */
HRESULT tls_connect(const char *host, ULONG security_flags, const struct tls_io *io, struct tls_channel **out);
HRESULT tls_send(struct tls_channel *tls, const struct tls_io *io, const char *data, DWORD size);
/* 0 bytes only after the server's close_notify; a bare close is an error */
HRESULT tls_recv(struct tls_channel *tls, const struct tls_io *io, char *buffer, DWORD size, DWORD *got);
/* decrypted bytes not handed out yet */
BOOL tls_pending(const struct tls_channel *tls);
/* the server's close_notify came */
BOOL tls_closed(const struct tls_channel *tls);
/* ciphertext received and not decrypted yet */
BOOL tls_buffered(const struct tls_channel *tls);
void tls_close(struct tls_channel *tls);

#endif /* DOSVC_TLS_H */
