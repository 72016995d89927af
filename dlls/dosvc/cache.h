/*
 * Delivery Optimization service: cache servers (the DOCacheHost policy)
 *
 * Copyright 2026 the wine-dosvc authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef DOSVC_CACHE_H
#define DOSVC_CACHE_H

/* The policy key Windows reads, under HKEY_LOCAL_MACHINE. */
#define CACHE_POLICY_KEY L"SOFTWARE\\Policies\\Microsoft\\Windows\\DeliveryOptimization"

/* DODelayCacheServerFallback* accept 0..2592000 s (30 days) */
#define CACHE_MAX_FALLBACK_DELAY 2592000
#define CACHE_MAX_HOSTS          16

struct cache_policy;

/* Which server one file transfer talks to: a cache server from the policy,
 * tried in order, or the origin.  Owned by one worker; no lock. */
struct cache_route
{
    struct cache_policy *policy;   /* NULL: this transfer never uses a cache */
    WCHAR *origin;                 /* value of cacheHostOrigin: host, or host:port */
    size_t path_start;             /* where path and query begin in the URL */
    ULONG next;                    /* index of the host the next request goes to */
    ULONG failures;                /* failed requests since the last progress */
    BOOL delayed;                  /* a fallback delay is configured (> 0) */
    ULONGLONG fallback_tick;       /* with a delay: the origin is allowed from then on */
    BOOL origin_only;              /* fell back: the origin for the rest of the run */
};

void cache_startup(void);
void cache_shutdown(void);

/* Decide whether URL may go through a cache server and start the route.
 * foreground picks the fallback delay; with credentials or authentication
 * headers a job never uses a cache (its answers are not for everyone). */
void cache_route_init(struct cache_route *route, const WCHAR *url, BOOL foreground, BOOL private_request);
void cache_route_clear(struct cache_route *route);
/* The URL of the next request: the cache server's (malloc'd), or NULL for
 * the origin. */
WCHAR *cache_route_url(struct cache_route *route, const WCHAR *url);
/* A request to a cache server failed (unreachable, an unusable answer, or
 * the body stopped).  Moves the route on and returns how many milliseconds
 * to wait before the next request (0: at once). */
DWORD cache_route_failed(struct cache_route *route);
/* Bytes came from the cache server. */
void cache_route_progress(struct cache_route *route);

#endif /* DOSVC_CACHE_H */
