/*
 * Delivery Optimization service: HTTP sessions kept between runs
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
 * Each run of a job used to open an HTTP session of its own and close it at
 * its end, with its kept-alive connections.  For a small download that
 * set-up (WinHTTP's session, the proxy configuration read from the registry,
 * name resolution, the TCP connection) is most of the time from Resume to
 * Transferred.  So a run's session is kept for a short while and handed to
 * the next run that would have made an identical one: same owner (nothing a
 * session holds — cookies, kept-alive connections — passes between users),
 * same proxy settings, security flags and timeout.  Runs that sent
 * credentials, authentication headers or a client certificate keep nothing:
 * what a server learnt of them must not be reused by another job.  A kept
 * connection the server closed meanwhile is found out before use
 * (http_native.c take_idle), so reuse never costs a failed request.
 */

#include "dosvc_private.h"
#include "session_cache.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

#define MAX_KEPT     4
#define KEEP_MS      15000

struct kept_session
{
    struct http_session *session;
    WCHAR *owner;
    BG_JOB_PROXY_USAGE proxy_usage;
    WCHAR *proxy_list;
    WCHAR *proxy_bypass;
    ULONG security_flags;
    DWORD timeout_ms;
    ULONGLONG since;
};

static CRITICAL_SECTION cache_cs;
static CRITICAL_SECTION_DEBUG cache_cs_debug =
{
    0, 0, &cache_cs,
    { &cache_cs_debug.ProcessLocksList, &cache_cs_debug.ProcessLocksList },
    0, 0, { 0 }
};
static CRITICAL_SECTION cache_cs = { &cache_cs_debug, -1, 0, 0, 0, 0 };

static struct kept_session kept[MAX_KEPT];

static BOOL same_string(const WCHAR *a, const WCHAR *b)
{
    if (!a || !*a) return !b || !*b;
    return b && !wcscmp(a, b);
}

static BOOL matches(const struct kept_session *k, const WCHAR *owner, const struct http_settings *settings)
{
    return k->session && same_string(k->owner, owner) && k->proxy_usage == settings->proxy_usage &&
           same_string(k->proxy_list, settings->proxy_list) && same_string(k->proxy_bypass, settings->proxy_bypass) &&
           k->security_flags == settings->security_flags && k->timeout_ms == settings->timeout_ms;
}

/* Empties a slot; returns its session for the caller to destroy (outside the lock). */
static struct http_session *empty_slot(struct kept_session *k)
{
    struct http_session *session = k->session;

    free(k->owner);
    free(k->proxy_list);
    free(k->proxy_bypass);
    memset(k, 0, sizeof(*k));
    return session;
}

/* Under cache_cs: sessions kept too long go into old[] (MAX_KEPT entries). */
static void expire(ULONGLONG now, struct http_session **old)
{
    unsigned int i;

    for (i = 0; i < MAX_KEPT; i++)
        if (kept[i].session && now - kept[i].since >= KEEP_MS) old[i] = empty_slot(&kept[i]);
}

static void destroy_all(struct http_session **old)
{
    unsigned int i;

    for (i = 0; i < MAX_KEPT; i++) http_session_destroy(old[i]);
}

struct http_session *session_cache_take(const WCHAR *owner, const struct http_settings *settings)
{
    struct http_session *old[MAX_KEPT] = { 0 }, *session = NULL;
    ULONGLONG now = GetTickCount64();
    unsigned int i;

    if (settings->client_cert) return NULL;
    EnterCriticalSection(&cache_cs);
    expire(now, old);
    for (i = 0; i < MAX_KEPT && !session; i++)
        if (matches(&kept[i], owner, settings)) session = empty_slot(&kept[i]);
    LeaveCriticalSection(&cache_cs);
    destroy_all(old);
    TRACE("owner %s: %s\n", debugstr_w(owner), session ? "a kept session" : "none kept");
    return session;
}

void session_cache_put(const WCHAR *owner, const struct http_settings *settings, BOOL private_run,
                       struct http_session *session)
{
    struct http_session *old[MAX_KEPT] = { 0 }, *drop = NULL;
    ULONGLONG now = GetTickCount64();
    struct kept_session *slot = NULL;
    unsigned int i;

    if (!session) return;
    if (private_run || settings->client_cert)
    {
        http_session_destroy(session);
        return;
    }
    EnterCriticalSection(&cache_cs);
    expire(now, old);
    for (i = 0; i < MAX_KEPT && !slot; i++)
        if (!kept[i].session) slot = &kept[i];
    if (!slot)
    {
        /* no free slot: the oldest one goes */
        slot = &kept[0];
        for (i = 1; i < MAX_KEPT; i++)
            if (kept[i].since < slot->since) slot = &kept[i];
        drop = empty_slot(slot);
    }
    slot->owner = strdupW(owner);
    slot->proxy_list = strdupW(settings->proxy_list);
    slot->proxy_bypass = strdupW(settings->proxy_bypass);
    if ((owner && !slot->owner) || (settings->proxy_list && !slot->proxy_list) ||
        (settings->proxy_bypass && !slot->proxy_bypass))
    {
        /* no memory to remember it by: not kept */
        empty_slot(slot);
        LeaveCriticalSection(&cache_cs);
        destroy_all(old);
        http_session_destroy(drop);
        http_session_destroy(session);
        return;
    }
    slot->session = session;
    slot->proxy_usage = settings->proxy_usage;
    slot->security_flags = settings->security_flags;
    slot->timeout_ms = settings->timeout_ms;
    slot->since = now;
    LeaveCriticalSection(&cache_cs);
    destroy_all(old);
    http_session_destroy(drop);
}

void session_cache_clear(void)
{
    struct http_session *old[MAX_KEPT] = { 0 };
    unsigned int i;

    EnterCriticalSection(&cache_cs);
    for (i = 0; i < MAX_KEPT; i++) if (kept[i].session) old[i] = empty_slot(&kept[i]);
    LeaveCriticalSection(&cache_cs);
    destroy_all(old);
}
