/*
 * Delivery Optimization service: HTTP sessions kept between runs
 *
 * Copyright 2026 the wine-dosvc authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef DOSVC_SESSION_CACHE_H
#define DOSVC_SESSION_CACHE_H

#include "http.h"

/* A kept session of this owner with these settings, or NULL. */
struct http_session *session_cache_take(const WCHAR *owner, const struct http_settings *settings);
/* Keep a run's session for the next run, or destroy it; takes it either way. */
void session_cache_put(const WCHAR *owner, const struct http_settings *settings, BOOL private_run,
                       struct http_session *session);
/* Destroy every kept session (service stop). */
void session_cache_clear(void);

#endif /* DOSVC_SESSION_CACHE_H */
