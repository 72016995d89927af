/*
 * Delivery Optimization service: cache servers (the DOCacheHost policy)
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
 * An organisation names its Connected Cache servers in the DOCacheHost
 * policy; Delivery Optimization then asks a cache server for
 * "http://<cache>/<path and query>?cacheHostOrigin=<origin host>" and falls
 * back to the origin when the cache fails.  This file reads the policy,
 * decides which downloads may go through a cache, builds the cache URLs and
 * keeps the order in which one transfer tries its servers.  The engine asks
 * it before each request and tells it about each failure; the bytes
 * themselves never pass through here.  docs/scale-out.md has the policy
 * semantics and their sources, docs/gaps.md what we had to choose.
 *
 * The policy is read again when it changed: a registry notification on
 * HKLM\SOFTWARE\Policies (the DeliveryOptimization key may not exist yet)
 * signals an event, and the next transfer that finds the event set reads
 * the values.  The event is set by the registry write itself, before the
 * writer's RegSetValueEx returns, so a download started after a policy
 * change always sees it.  Where no notification can be set up the values
 * are simply read for every transfer.
 */

#include "dosvc_private.h"
#include "winreg.h"
#include "cache.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

#define MAX_POLICY_CHARS   4096
#define ROUND_PAUSE_MS     1000     /* after every cache server failed once, doubling ... */
#define MAX_ROUND_PAUSE_MS 30000    /* ... up to this */
#define DOWNLOAD_MODE_BYPASS 100    /* "use BITS instead": no cache server */

struct cache_policy
{
    LONG refcount;
    WCHAR **hosts;           /* DOCacheHost entries that parsed, in order */
    ULONG host_count;
    BOOL host_set;           /* DOCacheHost exists (an empty value counts as set) */
    DWORD host_source;       /* DOCacheHostSource, 0 when absent */
    BOOL fg_set, bg_set;     /* DODelayCacheServerFallbackForeground / Background */
    DWORD fg_delay, bg_delay;
    BOOL mode_set;           /* DODownloadMode */
    DWORD download_mode;
};

static CRITICAL_SECTION policy_cs;
static CRITICAL_SECTION_DEBUG policy_cs_debug =
{
    0, 0, &policy_cs,
    { &policy_cs_debug.ProcessLocksList, &policy_cs_debug.ProcessLocksList },
    0, 0, { 0 }
};
static CRITICAL_SECTION policy_cs = { &policy_cs_debug, -1, 0, 0, 0, 0 };

/* guarded by policy_cs */
static struct cache_policy *current_policy;
static HKEY watch_key;
static HANDLE watch_event;           /* NULL: no notification, read every time */
static BOOL watch_tried;
static BOOL dhcp_reported;

/* ------------------------------------------------------------------ the policy */

static void policy_release(struct cache_policy *policy)
{
    ULONG i;

    if (!policy || InterlockedDecrement(&policy->refcount)) return;
    for (i = 0; i < policy->host_count; i++) free(policy->hosts[i]);
    free(policy->hosts);
    free(policy);
}

static BOOL is_host_char(WCHAR c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

/* "host", "host:port", "[v6]" or "[v6]:port"; port 1..65535. */
static BOOL parse_host_entry(const WCHAR *entry, size_t len)
{
    size_t i = 0, host_len;

    if (!len || len > 260) return FALSE;
    if (entry[0] == '[')
    {
        for (i = 1; i < len && entry[i] != ']'; i++)
            if (!iswxdigit(entry[i]) && entry[i] != ':' && entry[i] != '.') return FALSE;
        if (i == len || i == 1) return FALSE;
        i++;
    }
    else
    {
        for (i = 0; i < len && entry[i] != ':'; i++)
            if (!is_host_char(entry[i])) return FALSE;
        if (!i || entry[0] == '.' || entry[0] == '-') return FALSE;
    }
    host_len = i;
    if (i < len)
    {
        DWORD port = 0;

        if (entry[i++] != ':' || i == len || len - i > 5) return FALSE;
        for (; i < len; i++)
        {
            if (entry[i] < '0' || entry[i] > '9') return FALSE;
            port = port * 10 + (entry[i] - '0');
        }
        if (!port || port > 65535) return FALSE;
    }
    return host_len > 0;
}

/* Split the comma-separated DOCacheHost value into its valid entries. */
static void parse_hosts(struct cache_policy *policy, const WCHAR *value)
{
    const WCHAR *p = value;

    while (*p && policy->host_count < CACHE_MAX_HOSTS)
    {
        const WCHAR *start = p, *end;
        WCHAR *host;

        while (*p && *p != ',') p++;
        end = p;
        if (*p) p++;
        while (start < end && iswspace(*start)) start++;
        while (end > start && iswspace(end[-1])) end--;
        if (start == end) continue;
        if (!parse_host_entry(start, end - start))
        {
            WARN("ignoring invalid DOCacheHost entry %s\n", wine_dbgstr_wn(start, (int)(end - start)));
            continue;
        }
        if (!(host = malloc((end - start + 1) * sizeof(WCHAR)))) break;
        memcpy(host, start, (end - start) * sizeof(WCHAR));
        host[end - start] = 0;
        policy->hosts[policy->host_count++] = host;
    }
}

static BOOL read_dword(HKEY key, const WCHAR *name, DWORD *value)
{
    DWORD type, size = sizeof(*value);

    if (RegQueryValueExW(key, name, NULL, &type, (BYTE *)value, &size)) return FALSE;
    if (type != REG_DWORD || size != sizeof(*value))
    {
        WARN("ignoring %s: not a REG_DWORD\n", debugstr_w(name));
        return FALSE;
    }
    return TRUE;
}

static BOOL read_delay(HKEY key, const WCHAR *name, DWORD *value)
{
    if (!read_dword(key, name, value)) return FALSE;
    if (*value <= CACHE_MAX_FALLBACK_DELAY) return TRUE;
    WARN("ignoring %s = %lu: out of range 0..%u\n", debugstr_w(name), *value, CACHE_MAX_FALLBACK_DELAY);
    return FALSE;
}

static struct cache_policy *read_policy(void)
{
    struct cache_policy *policy;
    WCHAR *value;
    DWORD type, size;
    HKEY key;

    if (!(policy = calloc(1, sizeof(*policy)))) return NULL;
    policy->refcount = 1;
    if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, CACHE_POLICY_KEY, 0, KEY_QUERY_VALUE, &key)) return policy;

    size = MAX_POLICY_CHARS * sizeof(WCHAR);
    if ((value = calloc(1, size + sizeof(WCHAR))) && (policy->hosts = calloc(CACHE_MAX_HOSTS, sizeof(WCHAR *))) &&
        !RegQueryValueExW(key, L"DOCacheHost", NULL, &type, (BYTE *)value, &size))
    {
        if (type == REG_SZ || type == REG_EXPAND_SZ)
        {
            value[size / sizeof(WCHAR)] = 0;
            policy->host_set = TRUE;
            parse_hosts(policy, value);
        }
        else WARN("ignoring DOCacheHost: not a string\n");
    }
    free(value);
    read_dword(key, L"DOCacheHostSource", &policy->host_source);
    policy->fg_set = read_delay(key, L"DODelayCacheServerFallbackForeground", &policy->fg_delay);
    policy->bg_set = read_delay(key, L"DODelayCacheServerFallbackBackground", &policy->bg_delay);
    policy->mode_set = read_dword(key, L"DODownloadMode", &policy->download_mode);
    RegCloseKey(key);

    TRACE("%lu cache host(s)%s, source %lu, delay fg %s%lu bg %s%lu, mode %s%lu\n", policy->host_count,
          policy->host_set ? "" : " (not set)", policy->host_source, policy->fg_set ? "" : "unset ",
          policy->fg_delay, policy->bg_set ? "" : "unset ", policy->bg_delay,
          policy->mode_set ? "" : "unset ", policy->download_mode);
    return policy;
}

/* Under policy_cs.  Arm (again) the notification that tells us the policy
 * may have changed.  HKLM\SOFTWARE\Policies exists on Windows and in every
 * Wine prefix; HKLM\SOFTWARE is the fallback, only noisier. */
static void arm_watch(void)
{
    static const DWORD filter = REG_NOTIFY_CHANGE_NAME | REG_NOTIFY_CHANGE_LAST_SET;

    if (!watch_tried)
    {
        watch_tried = TRUE;
        if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\Policies", 0, KEY_NOTIFY, &watch_key) &&
            RegOpenKeyExW(HKEY_LOCAL_MACHINE, L"SOFTWARE", 0, KEY_NOTIFY, &watch_key))
            watch_key = NULL;
        if (watch_key) watch_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    }
    if (!watch_event) return;
    ResetEvent(watch_event);
    /* thread-agnostic: the worker thread that happens to arm it exits soon */
    if (!RegNotifyChangeKeyValue(watch_key, TRUE, filter | REG_NOTIFY_THREAD_AGNOSTIC, watch_event, TRUE) ||
        !RegNotifyChangeKeyValue(watch_key, TRUE, filter, watch_event, TRUE))
        return;
    WARN("no registry notification; reading the cache policy for every transfer\n");
    CloseHandle(watch_event);
    watch_event = NULL;
}

/* The policy as it is now, with a reference. */
static struct cache_policy *get_policy(void)
{
    struct cache_policy *policy, *old = NULL;

    EnterCriticalSection(&policy_cs);
    if (!current_policy || !watch_event || WaitForSingleObject(watch_event, 0) == WAIT_OBJECT_0)
    {
        /* arm first: a change while we read is then caught next time */
        arm_watch();
        if ((policy = read_policy()))
        {
            old = current_policy;
            current_policy = policy;
        }
    }
    if ((policy = current_policy)) InterlockedIncrement(&policy->refcount);
    if (policy && policy->host_source && !dhcp_reported)
    {
        /* Wine's dhcpcsvc answers only a handful of options, never 235 */
        FIXME("DOCacheHostSource %lu: DHCP option 235 is not available, using DOCacheHost\n",
              policy->host_source);
        dhcp_reported = TRUE;
    }
    LeaveCriticalSection(&policy_cs);
    policy_release(old);
    return policy;
}

void cache_startup(void)
{
    policy_release(get_policy());
}

void cache_shutdown(void)
{
    EnterCriticalSection(&policy_cs);
    policy_release(current_policy);
    current_policy = NULL;
    if (watch_event) CloseHandle(watch_event);
    if (watch_key) RegCloseKey(watch_key);
    watch_event = NULL;
    watch_key = NULL;
    watch_tried = FALSE;
    LeaveCriticalSection(&policy_cs);
}

/* ------------------------------------------------------------------ eligibility */

/* Does the query (without '?') have a parameter of this name? */
static BOOL query_has(const WCHAR *query, const WCHAR *end, const WCHAR *name)
{
    size_t len = lstrlenW(name);
    const WCHAR *p = query;

    while (p < end)
    {
        const WCHAR *next = p;

        while (next < end && *next != '&') next++;
        if ((size_t)(next - p) >= len && !wcsnicmp(p, name, len) && (p + len == next || p[len] == '='))
            return TRUE;
        p = next < end ? next + 1 : end;
    }
    return FALSE;
}

/* What Connected Cache can fetch for us: plain http (the cache talks http
 * to both sides), no user info, a host name or IPv4 address (no IPv6, which
 * Connected Cache does not support either), and no cacheHostOrigin of its
 * own in the query.  Gives the value for cacheHostOrigin and where the
 * path begins. */
static BOOL parse_origin(const WCHAR *url, WCHAR **origin, size_t *path_start)
{
    const WCHAR *host, *end, *colon = NULL, *query, *query_end;
    DWORD port = 80;
    size_t len;

    if (wcsnicmp(url, L"http://", 7)) return FALSE;
    host = url + 7;
    for (end = host; *end && *end != '/' && *end != '?' && *end != '#'; end++)
    {
        if (*end == ':') colon = end;
        else if (*end == '@' || *end == '[') return FALSE;
        else if (!is_host_char(*end)) return FALSE;
    }
    if (colon && colon != end - 1)
    {
        const WCHAR *p;

        if (end - colon > 6) return FALSE;
        for (port = 0, p = colon + 1; p < end; p++)
        {
            if (*p < '0' || *p > '9') return FALSE;
            port = port * 10 + (*p - '0');
        }
        if (!port || port > 65535) return FALSE;
    }
    len = (colon ? colon : end) - host;
    if (!len) return FALSE;
    if ((query = wcschr(end, '?')))
    {
        for (query_end = ++query; *query_end && *query_end != '#'; query_end++);
        if (query_has(query, query_end, L"cacheHostOrigin")) return FALSE;
    }
    /* DO sends the bare host name: the cache fetches from port 80.  Another
     * port goes along as host:port, which our cache (tools/cache-host)
     * understands and a real Connected Cache refuses, so the download falls
     * back to the origin. */
    if (!(*origin = malloc((len + 7) * sizeof(WCHAR)))) return FALSE;
    memcpy(*origin, host, len * sizeof(WCHAR));
    if (port != 80) swprintf(*origin + len, 7, L":%lu", port);
    else (*origin)[len] = 0;
    *path_start = end - url;
    return TRUE;
}

void cache_route_init(struct cache_route *route, const WCHAR *url, BOOL foreground, BOOL private_request)
{
    struct cache_policy *policy;
    DWORD delay;

    memset(route, 0, sizeof(*route));
    if (private_request || !(policy = get_policy())) return;
    if (!policy->host_count || (policy->mode_set && policy->download_mode == DOWNLOAD_MODE_BYPASS) ||
        !parse_origin(url, &route->origin, &route->path_start))
    {
        policy_release(policy);
        return;
    }
    if (foreground) delay = policy->fg_set ? policy->fg_delay : 0;
    else delay = policy->bg_set ? policy->bg_delay : 0;
    route->delayed = delay > 0;
    route->fallback_tick = GetTickCount64() + (ULONGLONG)delay * 1000;
    route->policy = policy;
    TRACE("%s through %s first, origin %s, fallback delay %lu s\n", debugstr_w(url),
          debugstr_w(policy->hosts[0]), debugstr_w(route->origin), delay);
}

void cache_route_clear(struct cache_route *route)
{
    policy_release(route->policy);
    free(route->origin);
    memset(route, 0, sizeof(*route));
}

WCHAR *cache_route_url(struct cache_route *route, const WCHAR *url)
{
    const WCHAR *host, *rest, *fragment;
    size_t len, rest_len, i;
    WCHAR *result;
    BOOL slash, query = FALSE;

    if (!route->policy || route->origin_only) return NULL;
    host = route->policy->hosts[route->next];
    rest = url + route->path_start;
    fragment = wcschr(rest, '#');
    rest_len = fragment ? (size_t)(fragment - rest) : lstrlenW(rest);
    slash = rest[0] != '/';
    for (i = 0; i < rest_len && !query; i++) query = rest[i] == '?';
    len = 7 + lstrlenW(host) + slash + rest_len + 17 + lstrlenW(route->origin) + 1;
    if (!(result = malloc(len * sizeof(WCHAR)))) return NULL;
    swprintf(result, len, L"http://%s%s%.*s%ccacheHostOrigin=%s", host, slash ? L"/" : L"", (int)rest_len,
             rest, query ? '&' : '?', route->origin);
    return result;
}

DWORD cache_route_failed(struct cache_route *route)
{
    ULONG count, rounds;
    ULONGLONG now = GetTickCount64(), pause;

    if (!route->policy || route->origin_only) return 0;
    count = route->policy->host_count;
    route->failures++;
    route->next = (route->next + 1) % count;
    if (!route->delayed)
    {
        /* no delay configured: each cache server once, then the origin */
        if (route->failures >= count) route->origin_only = TRUE;
    }
    else if (now >= route->fallback_tick)
        route->origin_only = TRUE;
    else if (!(route->failures % count))
    {
        /* every cache server failed once more: wait a little, but never
         * past the moment the origin is allowed */
        rounds = min(route->failures / count, 6);
        pause = min((ULONGLONG)ROUND_PAUSE_MS << (rounds - 1), MAX_ROUND_PAUSE_MS);
        pause = min(pause, route->fallback_tick - now);
        TRACE("every cache server failed; next round in %s ms\n", wine_dbgstr_longlong(pause));
        return (DWORD)pause;
    }
    if (route->origin_only) TRACE("falling back to the origin\n");
    return 0;
}

void cache_route_progress(struct cache_route *route)
{
    route->failures = 0;
}
