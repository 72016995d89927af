/*
 * Cache servers: the DOCacheHost policy family, the Connected Cache request
 * form, fallback to the origin and the statistics by source
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
 * Three servers take part.  The origin is the loopback server (httpd.h).  A
 * second loopback server stands in for a cache server that misbehaves in a
 * chosen way (httpd_force_query: it answers 503, cuts the body, stalls, or
 * has another version of the file), and its request log shows exactly what a
 * cache server is asked.  A real cache, Debian's nginx set up by
 * tools/cache-host, is used when the environment variable
 * DOSVC_TEST_CACHE_PORT names its port on 127.0.0.1 (tools/run-tests starts
 * it); without it those cases skip, so the program runs on Windows too.
 *
 * The policy lives in HKLM\SOFTWARE\Policies\Microsoft\Windows\
 * DeliveryOptimization, as on Windows; the values found there are saved
 * first and put back at the end.  Writing HKLM needs administrator rights
 * on Windows; without them everything skips.
 *
 * No check is on speed.  "Falls back after the delay" is checked as a lower
 * bound (not before the delay) and by where the bytes came from.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "dotest.h"

#define POLICY_KEY L"SOFTWARE\\Policies\\Microsoft\\Windows\\DeliveryOptimization"
#define NO_VALUE   (~0u)
#define WAIT_MS    60000     /* guards against a hang only */
/* the largest delay the policy takes (30 days): never reached in a test */
#define CACHE_NEVER_DELAY 2592000

static IBackgroundCopyManager *manager;
static IDOManager *do_manager;
static struct httpd *origin;
static struct httpd *fake;             /* stand-in cache server */
static unsigned short nginx_port;      /* tools/cache-host, or 0 */
static unsigned short closed;          /* a loopback port nobody listens on */
static unsigned int run_id;            /* keeps this run's names apart in nginx's cache */

/* ------------------------------------------------------------------ the policy */

static const WCHAR *policy_names[] =
{
    L"DOCacheHost", L"DOCacheHostSource", L"DODelayCacheServerFallbackForeground",
    L"DODelayCacheServerFallbackBackground", L"DODownloadMode",
};

static struct
{
    BOOL present;
    DWORD type, size;
    BYTE data[8192];
} saved[ARRAY_SIZE(policy_names)];
static BOOL key_created;
static HKEY policy_key;

static BOOL save_policy(void)
{
    DWORD disposition, i;
    LSTATUS status;

    status = RegCreateKeyExW(HKEY_LOCAL_MACHINE, POLICY_KEY, 0, NULL, 0, KEY_ALL_ACCESS, NULL, &policy_key,
                             &disposition);
    if (status)
    {
        skip("cannot write the policy key (error %ld): run as administrator\n", status);
        return FALSE;
    }
    key_created = disposition == REG_CREATED_NEW_KEY;
    for (i = 0; i < ARRAY_SIZE(policy_names); i++)
    {
        saved[i].size = sizeof(saved[i].data);
        saved[i].present = !RegQueryValueExW(policy_key, policy_names[i], NULL, &saved[i].type,
                                             saved[i].data, &saved[i].size);
        if (saved[i].present) trace("saved policy %s\n", dbgstr_w(policy_names[i]));
    }
    return TRUE;
}

static void restore_policy(void)
{
    LSTATUS status;
    DWORD i;

    for (i = 0; i < ARRAY_SIZE(policy_names); i++)
    {
        if (saved[i].present)
            status = RegSetValueExW(policy_key, policy_names[i], 0, saved[i].type, saved[i].data, saved[i].size);
        else
        {
            status = RegDeleteValueW(policy_key, policy_names[i]);
            if (status == ERROR_FILE_NOT_FOUND) status = 0;
        }
        ok(!status, "restoring %s: error %ld\n", dbgstr_w(policy_names[i]), status);
    }
    RegCloseKey(policy_key);
    if (key_created)
    {
        status = RegDeleteKeyW(HKEY_LOCAL_MACHINE, POLICY_KEY);
        ok(!status, "deleting the policy key we created: error %ld\n", status);
    }
}

static void set_dword(const WCHAR *name, DWORD value)
{
    LSTATUS status;

    if (value == NO_VALUE)
    {
        status = RegDeleteValueW(policy_key, name);
        if (status == ERROR_FILE_NOT_FOUND) status = 0;
    }
    else status = RegSetValueExW(policy_key, name, 0, REG_DWORD, (BYTE *)&value, sizeof(value));
    ok(!status, "setting %s: error %ld\n", dbgstr_w(name), status);
}

/* The whole cache policy at once; NULL / NO_VALUE delete a value. */
static void set_policy(const WCHAR *hosts, DWORD delay_fg, DWORD delay_bg, DWORD mode)
{
    LSTATUS status;

    if (hosts)
        status = RegSetValueExW(policy_key, L"DOCacheHost", 0, REG_SZ, (const BYTE *)hosts,
                                (lstrlenW(hosts) + 1) * sizeof(WCHAR));
    else
    {
        status = RegDeleteValueW(policy_key, L"DOCacheHost");
        if (status == ERROR_FILE_NOT_FOUND) status = 0;
    }
    ok(!status, "setting DOCacheHost: error %ld\n", status);
    set_dword(L"DOCacheHostSource", NO_VALUE);
    set_dword(L"DODelayCacheServerFallbackForeground", delay_fg);
    set_dword(L"DODelayCacheServerFallbackBackground", delay_bg);
    set_dword(L"DODownloadMode", mode);
}

/* "127.0.0.1:<port>" */
static const WCHAR *host_of(unsigned short port)
{
    static WCHAR buf[4][32];
    static unsigned int next;
    WCHAR *ret = buf[next++ % ARRAY_SIZE(buf)];

    swprintf(ret, ARRAY_SIZE(buf[0]), L"127.0.0.1:%u", port);
    return ret;
}

static unsigned short unused_port(void)
{
    struct sockaddr_in addr;
    int len = sizeof(addr);
    SOCKET s;

    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s == INVALID_SOCKET || bind(s, (struct sockaddr *)&addr, sizeof(addr)) ||
        getsockname(s, (struct sockaddr *)&addr, &len))
        addr.sin_port = htons(1);
    if (s != INVALID_SOCKET) closesocket(s);
    return ntohs(addr.sin_port);
}

/* ------------------------------------------------------------------ downloads */

struct outcome
{
    BOOL done;              /* TRANSFERRED, content checked */
    DOSwarmStats stats;     /* IDeliveryOptimizationFile::GetStats, strings freed */
    ULONGLONG elapsed_ms;   /* Resume to TRANSFERRED seen */
    UINT64 origin_bytes;    /* body bytes the origin sent meanwhile */
    unsigned int origin_requests;   /* requests for this resource at the origin */
};

/* A unique resource name for this run, registered at the origin (and at
 * the fake cache, which serves the same content). */
static void make_name(char *name, size_t size, const char *tag, UINT64 length)
{
    snprintf(name, size, "cache-%s-%u.bin", tag, run_id);
    httpd_add_generated(origin, name, length);
    httpd_add_generated(fake, name, length);
}

static void get_stats(IBackgroundCopyJob *job, DOSwarmStats *stats)
{
    IDeliveryOptimizationFile *do_file;
    IBackgroundCopyFile *file;
    HRESULT hr;

    memset(stats, 0, sizeof(*stats));
    if (!(file = get_file(job, 0))) return;
    do_file = query(file, &IID_IDeliveryOptimizationFile, "IDeliveryOptimizationFile", FALSE);
    if (do_file)
    {
        hr = IDeliveryOptimizationFile_GetStats(do_file, stats);
        ok(hr == S_OK, "GetStats failed: %#lx\n", hr);
        CoTaskMemFree(stats->fileId);
        CoTaskMemFree(stats->sourceURL);
        stats->fileId = stats->sourceURL = NULL;
        IDeliveryOptimizationFile_Release(do_file);
    }
    IBackgroundCopyFile_Release(file);
}

/* One BITS-style job for /name<query> from the origin, started and waited
 * for; url_override replaces the URL (then the content is not checked). */
static void run_job(const char *name, const char *query, UINT64 size, DWORD range_count, BG_FILE_RANGE *ranges,
                    BG_JOB_PRIORITY priority, struct outcome *out)
{
    WCHAR url[512], local[MAX_PATH], wname[128];
    IBackgroundCopyJob *job;
    UINT64 bytes_before, bad;
    char path[256];
    ULONGLONG start;
    BG_JOB_STATE state;
    HRESULT hr;

    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "/%s%s", name, query);
    make_url(url, ARRAY_SIZE(url), origin, path);
    swprintf(wname, ARRAY_SIZE(wname), L"%hs.%u", name, GetTickCount());
    make_test_path(local, ARRAY_SIZE(local), wname);
    if (!(job = new_job(manager, L"cache", NULL))) return;
    hr = add_file(job, url, local, range_count, ranges);
    ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
    hr = IBackgroundCopyJob_SetPriority(job, priority);
    ok(hr == S_OK, "SetPriority failed: %#lx\n", hr);

    bytes_before = httpd_body_bytes(origin);
    snprintf(path, sizeof(path), "/%s", name);
    out->origin_requests = httpd_request_count(origin, path);
    start = GetTickCount64();
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    state = wait_for_state(job, BG_JOB_STATE_TRANSFERRED, WAIT_MS);
    out->elapsed_ms = GetTickCount64() - start;
    out->origin_bytes = httpd_body_bytes(origin) - bytes_before;
    out->origin_requests = httpd_request_count(origin, path) - out->origin_requests;
    ok(state == BG_JOB_STATE_TRANSFERRED, "%s: state %s\n", name, state_name(state));
    if (state == BG_JOB_STATE_TRANSFERRED)
    {
        get_stats(job, &out->stats);
        hr = IBackgroundCopyJob_Complete(job);
        ok(hr == S_OK, "Complete failed: %#lx\n", hr);
        out->done = file_matches_pattern(local, name, size, range_count, ranges, &bad);
        ok(out->done, "%s: content differs at %llu\n", name, bad);
        DeleteFileW(local);
    }
    finish_job(job);
}

/* Requests the fake cache got for this resource */
static unsigned int fake_count(const char *name)
{
    char path[256];

    snprintf(path, sizeof(path), "/%s", name);
    return httpd_request_count(fake, path);
}

/* ------------------------------------------------------------------ tests without nginx */

/* No policy: nothing changes. */
static void test_no_policy(void)
{
    struct outcome out;
    char name[64];

    set_policy(NULL, NO_VALUE, NO_VALUE, NO_VALUE);
    make_name(name, sizeof(name), "none", 300000);
    httpd_reset_log(fake);
    run_job(name, "", 300000, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    if (!out.done) return;
    ok(out.stats.bytesFromHttp == 300000, "bytesFromHttp %llu\n", out.stats.bytesFromHttp);
    ok(!out.stats.bytesFromDoinc && !out.stats.doincConnectionCount, "from a cache: %llu bytes, %u connections\n",
       out.stats.bytesFromDoinc, out.stats.doincConnectionCount);
    ok(!fake_count(name), "the fake cache was asked without a policy\n");
}

/* The request a cache server gets: DO's documented form, with the origin's
 * port when it is not 80; bytes and requests counted as the cache's. */
static void test_request_form(void)
{
    char name[64], want[256];
    struct outcome out;
    UINT64 size = 2 * MIB + 4321;

    set_policy(host_of(httpd_port(fake)), NO_VALUE, NO_VALUE, NO_VALUE);
    httpd_force_query(fake, NULL);

    make_name(name, sizeof(name), "form", size);
    httpd_reset_log(fake);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        snprintf(want, sizeof(want), "/%s?cacheHostOrigin=127.0.0.1:%u", name, httpd_port(origin));
        ok(httpd_request_count(fake, want) == 1, "[inferred: host:port] the cache was not asked for %s\n", want);
        ok(out.stats.bytesFromDoinc == size, "bytesFromDoinc %llu, expected %llu\n", out.stats.bytesFromDoinc, size);
        ok(out.stats.bytesFromHttp == 0, "bytesFromHttp %llu, expected 0\n", out.stats.bytesFromHttp);
        ok(out.stats.doincConnectionCount == 1, "[inferred] doincConnectionCount %u\n", out.stats.doincConnectionCount);
        ok(out.stats.httpConnectionCount == 0, "[inferred] httpConnectionCount %u\n", out.stats.httpConnectionCount);
        ok(out.stats.totalBytesDownloaded == size, "totalBytesDownloaded %llu\n", out.stats.totalBytesDownloaded);
        ok(!out.origin_requests && !out.origin_bytes, "the origin was asked %u times (%llu bytes)\n",
           out.origin_requests, out.origin_bytes);
    }

    /* an origin query stays, cacheHostOrigin comes last */
    make_name(name, sizeof(name), "query", 1000);
    httpd_reset_log(fake);
    run_job(name, "?a=1&b=x%20y", 1000, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        snprintf(want, sizeof(want), "/%s?a=1&b=x%%20y&cacheHostOrigin=127.0.0.1:%u", name, httpd_port(origin));
        ok(httpd_request_count(fake, want) == 1, "[inferred: host:port] the cache was not asked for %s\n", want);
        ok(out.stats.bytesFromDoinc == 1000, "bytesFromDoinc %llu\n", out.stats.bytesFromDoinc);
    }

    /* an origin URL with its own cacheHostOrigin is not sent to a cache */
    make_name(name, sizeof(name), "own", 1000);
    httpd_reset_log(fake);
    run_job(name, "?cacheHostOrigin=elsewhere", 1000, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        ok(!fake_count(name), "[inferred] a URL with its own cacheHostOrigin went to the cache\n");
        ok(out.stats.bytesFromHttp == 1000, "bytesFromHttp %llu\n", out.stats.bytesFromHttp);
    }
}

/* Unreachable, failing and cut-off cache servers: the download completes
 * from the origin, continuing where the cache stopped. */
static void test_fallback(void)
{
    char name[64], range[64], want[64], etag[64];
    UINT64 size = 3 * MIB + 99, cut;
    struct outcome out;

    /* nobody at the cache's port: at once to the origin (no delay set) */
    set_policy(host_of(closed), NO_VALUE, NO_VALUE, NO_VALUE);
    make_name(name, sizeof(name), "down", size);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        ok(out.stats.bytesFromHttp == size, "cache down: bytesFromHttp %llu\n", out.stats.bytesFromHttp);
        ok(!out.stats.bytesFromDoinc && !out.stats.doincConnectionCount, "cache down: %llu bytes, %u connections\n",
           out.stats.bytesFromDoinc, out.stats.doincConnectionCount);
        ok(out.origin_bytes == size, "cache down: the origin sent %llu bytes\n", out.origin_bytes);
    }

    /* hosts are tried in order: the first is down, the second serves;
     * entries that are no host[:port] are skipped */
    {
        WCHAR hosts[128];

        swprintf(hosts, ARRAY_SIZE(hosts), L"%s, not a host!, 127.0.0.1:0,bad/host ,, %s", host_of(closed),
                 host_of(httpd_port(fake)));
        set_policy(hosts, NO_VALUE, NO_VALUE, NO_VALUE);
    }
    httpd_force_query(fake, NULL);
    make_name(name, sizeof(name), "order", 100000);
    httpd_reset_log(fake);
    run_job(name, "", 100000, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        ok(fake_count(name) == 1, "[inferred] the second cache server got %u requests\n", fake_count(name));
        ok(out.stats.bytesFromDoinc == 100000, "second host: bytesFromDoinc %llu\n", out.stats.bytesFromDoinc);
        ok(!out.origin_requests, "second host: the origin was asked %u times\n", out.origin_requests);
    }

    set_policy(host_of(httpd_port(fake)), NO_VALUE, NO_VALUE, NO_VALUE);

    /* the cache answers 503 */
    httpd_force_query(fake, "status=503");
    make_name(name, sizeof(name), "503", size);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        ok(out.stats.bytesFromHttp == size && !out.stats.bytesFromDoinc, "503: %llu from the origin, %llu from the cache\n",
           out.stats.bytesFromHttp, out.stats.bytesFromDoinc);
        ok(out.stats.doincConnectionCount == 1, "[inferred] 503: doincConnectionCount %u\n", out.stats.doincConnectionCount);
        ok(out.origin_bytes == size, "503: the origin sent %llu bytes\n", out.origin_bytes);
    }

    /* the cache's body stops after 1 MiB: the origin is asked for the rest
     * only, with the validator of the bytes we have */
    httpd_force_query(fake, "reset_after=1048576");
    make_name(name, sizeof(name), "cut", size);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        cut = out.stats.bytesFromDoinc;
        ok(cut > 0 && cut <= 1048576, "cut: bytesFromDoinc %llu\n", cut);
        ok(out.stats.bytesFromHttp == size - cut, "cut: bytesFromHttp %llu, expected %llu\n",
           out.stats.bytesFromHttp, size - cut);
        ok(out.stats.totalBytesDownloaded == size, "cut: totalBytesDownloaded %llu\n", out.stats.totalBytesDownloaded);
        ok(out.origin_bytes == size - cut, "cut: the origin sent %llu bytes, expected %llu\n", out.origin_bytes, size - cut);
        snprintf(want, sizeof(want), "bytes=%llu-", cut);
        ok(httpd_last_request_header(origin, "/cache-cut", "Range", range, sizeof(range)) && !strcmp(range, want),
           "[inferred] cut: the origin got Range %s, expected %s\n", range, want);
        ok(httpd_last_request_header(origin, "/cache-cut", "If-Range", etag, sizeof(etag)) && etag[0] == '"',
           "[inferred] cut: the origin got If-Range %s\n", etag);
    }

    /* the cache has another version of the file (another ETag): the origin
     * answers the continuation with the whole file, and nothing of the
     * cache's copy is kept */
    httpd_force_query(fake, "etag=other-version&reset_after=1048576");
    make_name(name, sizeof(name), "etag", size);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        ok(out.stats.bytesFromHttp == size, "etag: bytesFromHttp %llu, expected the whole file\n", out.stats.bytesFromHttp);
        ok(out.stats.totalBytesDownloaded == size, "etag: totalBytesDownloaded %llu\n", out.stats.totalBytesDownloaded);
        ok(httpd_last_request_header(origin, "/cache-etag", "If-Range", etag, sizeof(etag)) &&
           !strcmp(etag, "\"other-version\""), "[inferred] etag: the origin got If-Range %s\n", etag);
    }

    /* a cache that stops sending is given up on after the job's timeout */
    httpd_force_query(fake, "stall_after=65536");
    make_name(name, sizeof(name), "stall", size);
    {
        WCHAR url[512], local[MAX_PATH];
        IBackgroundCopyJob *job;
        BG_JOB_STATE state;
        DOSwarmStats stats;
        char path[128];
        UINT64 bad;
        HRESULT hr;

        snprintf(path, sizeof(path), "/%s", name);
        make_url(url, ARRAY_SIZE(url), origin, path);
        make_test_path(local, ARRAY_SIZE(local), L"stall.bin");
        if ((job = new_job(manager, L"cache-stall", NULL)))
        {
            hr = add_file(job, url, local, 0, NULL);
            ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
            hr = IBackgroundCopyJob_SetNoProgressTimeout(job, 5);
            ok(hr == S_OK, "SetNoProgressTimeout failed: %#lx\n", hr);
            hr = IBackgroundCopyJob_Resume(job);
            ok(hr == S_OK, "Resume failed: %#lx\n", hr);
            state = wait_for_state(job, BG_JOB_STATE_TRANSFERRED, WAIT_MS);
            ok(state == BG_JOB_STATE_TRANSFERRED, "stall: state %s\n", state_name(state));
            if (state == BG_JOB_STATE_TRANSFERRED)
            {
                get_stats(job, &stats);
                ok(stats.bytesFromDoinc > 0 && stats.bytesFromDoinc <= 65536, "[inferred] stall: bytesFromDoinc %llu\n",
                   stats.bytesFromDoinc);
                ok(stats.bytesFromDoinc + stats.bytesFromHttp == size, "stall: %llu + %llu bytes\n",
                   stats.bytesFromDoinc, stats.bytesFromHttp);
                hr = IBackgroundCopyJob_Complete(job);
                ok(hr == S_OK, "Complete failed: %#lx\n", hr);
                ok(file_matches_pattern(local, name, size, 0, NULL, &bad), "stall: content differs at %llu\n", bad);
                DeleteFileW(local);
            }
            finish_job(job);
        }
    }
    httpd_force_query(fake, NULL);
}

/* DODelayCacheServerFallback*: not before the delay, and the one that
 * matches the download's priority. */
static void test_fallback_delay(void)
{
    UINT64 size = 200000;
    struct outcome out;
    char name[64];

    /* background job: the background delay applies, the foreground one not */
    set_policy(host_of(closed), CACHE_NEVER_DELAY, 2, NO_VALUE);
    make_name(name, sizeof(name), "delay-bg", size);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        ok(out.elapsed_ms >= 2000, "background: fell back after %llu ms, before the 2 s delay\n", out.elapsed_ms);
        ok(out.stats.bytesFromHttp == size, "background: bytesFromHttp %llu\n", out.stats.bytesFromHttp);
    }

    /* foreground job: the foreground delay */
    set_policy(host_of(closed), 2, CACHE_NEVER_DELAY, NO_VALUE);
    make_name(name, sizeof(name), "delay-fg", size);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_FOREGROUND, &out);
    if (out.done)
    {
        ok(out.elapsed_ms >= 2000, "foreground: fell back after %llu ms, before the 2 s delay\n", out.elapsed_ms);
        ok(out.stats.bytesFromHttp == size, "foreground: bytesFromHttp %llu\n", out.stats.bytesFromHttp);
    }

    /* 0 is "at once"; a value past the documented range is ignored */
    set_policy(host_of(closed), 0, 0, NO_VALUE);
    make_name(name, sizeof(name), "delay-0", size);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    ok(out.done, "delay 0: not done\n");
    set_policy(host_of(closed), NO_VALUE, 2592001, NO_VALUE);
    make_name(name, sizeof(name), "delay-big", size);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    ok(out.done, "[inferred] delay out of range: not done\n");
}

/* DODownloadMode, DOCacheHost's forms, and what never goes to a cache. */
static void test_eligibility(void)
{
    IBackgroundCopyJob5 *job5;
    IBackgroundCopyJob *job;
    BG_AUTH_CREDENTIALS creds;
    WCHAR url[512], local[MAX_PATH];
    struct outcome out;
    BG_JOB_STATE state;
    char name[64], path[128];
    DWORD value = 1;
    HRESULT hr;

    httpd_force_query(fake, NULL);

    /* Bypass (100): "use BITS instead", so no cache server */
    set_policy(host_of(httpd_port(fake)), NO_VALUE, NO_VALUE, 100);
    make_name(name, sizeof(name), "bypass", 5000);
    httpd_reset_log(fake);
    run_job(name, "", 5000, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    ok(out.done && !fake_count(name) && out.stats.bytesFromHttp == 5000, "mode 100: the cache got %u requests\n",
       fake_count(name));

    /* every other documented mode uses the cache server: 0, 1, 2, 3, 99 */
    {
        static const DWORD modes[] = { 0, 1, 2, 3, 99 };
        unsigned int i;

        for (i = 0; i < ARRAY_SIZE(modes); i++)
        {
            set_policy(host_of(httpd_port(fake)), NO_VALUE, NO_VALUE, modes[i]);
            make_name(name, sizeof(name), "mode", 5000);
            httpd_reset_log(fake);
            run_job(name, "", 5000, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
            ok(out.done && out.stats.bytesFromDoinc == 5000, "mode %lu: bytesFromDoinc %llu\n", modes[i],
               out.stats.bytesFromDoinc);
        }
    }

    /* an empty DOCacheHost is set but names no server; a DWORD is no host list */
    set_policy(L"", NO_VALUE, NO_VALUE, NO_VALUE);
    make_name(name, sizeof(name), "empty", 5000);
    httpd_reset_log(fake);
    run_job(name, "", 5000, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    ok(out.done && out.stats.bytesFromHttp == 5000, "empty DOCacheHost: bytesFromHttp %llu\n", out.stats.bytesFromHttp);
    RegSetValueExW(policy_key, L"DOCacheHost", 0, REG_DWORD, (BYTE *)&value, sizeof(value));
    make_name(name, sizeof(name), "dword", 5000);
    run_job(name, "", 5000, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    ok(out.done && out.stats.bytesFromHttp == 5000, "[inferred] REG_DWORD DOCacheHost: bytesFromHttp %llu\n",
       out.stats.bytesFromHttp);

    /* DOCacheHostSource (DHCP option 235) without an answer from DHCP falls
     * back to DOCacheHost, as documented for a malformed option */
    set_policy(host_of(httpd_port(fake)), NO_VALUE, NO_VALUE, NO_VALUE);
    set_dword(L"DOCacheHostSource", 2);
    make_name(name, sizeof(name), "dhcp", 5000);
    httpd_reset_log(fake);
    run_job(name, "", 5000, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    ok(out.done && out.stats.bytesFromDoinc == 5000, "[inferred] DOCacheHostSource 2 without DHCP: bytesFromDoinc %llu\n",
       out.stats.bytesFromDoinc);
    set_dword(L"DOCacheHostSource", NO_VALUE);

    /* a job with credentials keeps its requests between it and the origin */
    make_name(name, sizeof(name), "creds", 5000);
    httpd_reset_log(fake);
    snprintf(path, sizeof(path), "/%s", name);
    make_url(url, ARRAY_SIZE(url), origin, path);
    make_test_path(local, ARRAY_SIZE(local), L"creds.bin");
    if ((job = new_job(manager, L"cache-creds", NULL)))
    {
        hr = add_file(job, url, local, 0, NULL);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
        if ((job5 = query(job, &IID_IBackgroundCopyJob5, "IBackgroundCopyJob5", FALSE)))
        {
            memset(&creds, 0, sizeof(creds));
            creds.Target = BG_AUTH_TARGET_SERVER;
            creds.Scheme = BG_AUTH_SCHEME_BASIC;
            creds.Credentials.Basic.UserName = (WCHAR *)L"user";
            creds.Credentials.Basic.Password = (WCHAR *)L"secret";
            hr = IBackgroundCopyJob5_SetCredentials(job5, &creds);
            ok(hr == S_OK, "SetCredentials failed: %#lx\n", hr);
            IBackgroundCopyJob5_Release(job5);
        }
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
        state = wait_for_state(job, BG_JOB_STATE_TRANSFERRED, WAIT_MS);
        ok(state == BG_JOB_STATE_TRANSFERRED, "credentials: state %s\n", state_name(state));
        ok(!fake_count(name), "[inferred] a job with credentials went to the cache\n");
        finish_job(job);
        DeleteFileW(local);
    }

    /* https: Connected Cache speaks http only, so the request goes to the
     * origin, which is not there: the job fails, and the cache, which would
     * have served the file, was never asked */
    make_name(name, sizeof(name), "https", 5000);
    httpd_reset_log(fake);
    swprintf(url, ARRAY_SIZE(url), L"https://127.0.0.1:%u/%hs", closed, name);
    make_test_path(local, ARRAY_SIZE(local), L"https.bin");
    if ((job = new_job(manager, L"cache-https", NULL)))
    {
        hr = add_file(job, url, local, 0, NULL);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
        state = BG_JOB_STATE_QUEUED;
        {
            ULONGLONG end = GetTickCount64() + WAIT_MS;

            while (GetTickCount64() < end && SUCCEEDED(IBackgroundCopyJob_GetState(job, &state)) &&
                   state != BG_JOB_STATE_ERROR && state != BG_JOB_STATE_TRANSIENT_ERROR)
                Sleep(10);
        }
        ok(state == BG_JOB_STATE_ERROR || state == BG_JOB_STATE_TRANSIENT_ERROR, "https: state %s\n", state_name(state));
        ok(!httpd_request_count(fake, "/"), "an https download went to the cache server\n");
        finish_job(job);
    }
}

/* ------------------------------------------------------------------ tests with nginx */

/* Two downloads of one file through tools/cache-host: the origin serves it once. */
static void test_nginx_twice(void)
{
    UINT64 size = 5 * MIB + 777;
    IDODownload *download;
    DO_DOWNLOAD_RANGES_INFO info;
    DO_DOWNLOAD_STATUS status;
    struct outcome out;
    WCHAR url[512], local[MAX_PATH];
    char name[64], path[128];
    UINT64 bytes_before, bad;
    unsigned int requests_before;
    ULONGLONG end;
    VARIANT value;
    HRESULT hr;

    set_policy(host_of(nginx_port), NO_VALUE, NO_VALUE, NO_VALUE);
    make_name(name, sizeof(name), "twice", size);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        ok(out.stats.bytesFromDoinc == size, "first: bytesFromDoinc %llu, expected %llu\n", out.stats.bytesFromDoinc, size);
        ok(!out.stats.bytesFromHttp, "first: bytesFromHttp %llu\n", out.stats.bytesFromHttp);
        ok(out.stats.doincConnectionCount >= 1 && !out.stats.httpConnectionCount, "first: %u cache, %u origin requests\n",
           out.stats.doincConnectionCount, out.stats.httpConnectionCount);
        ok(out.origin_bytes == size, "first: the origin sent %llu bytes, expected %llu (one copy)\n", out.origin_bytes, size);
    }

    /* the second one, through IDODownload: nothing from the origin */
    if (!do_manager || !(download = create_download(do_manager))) return;
    snprintf(path, sizeof(path), "/%s", name);
    make_url(url, ARRAY_SIZE(url), origin, path);
    make_test_path(local, ARRAY_SIZE(local), L"twice2.bin");
    hr = set_bstr(download, DODownloadProperty_Uri, url);
    ok(hr == S_OK, "SetProperty(Uri) failed: %#lx\n", hr);
    hr = set_bstr(download, DODownloadProperty_LocalPath, local);
    ok(hr == S_OK, "SetProperty(LocalPath) failed: %#lx\n", hr);
    hr = set_ui4(download, DODownloadProperty_CostPolicy, DODownloadCostPolicy_Always);
    ok(hr == S_OK, "SetProperty(CostPolicy) failed: %#lx\n", hr);
    bytes_before = httpd_body_bytes(origin);
    requests_before = httpd_request_count(origin, path);
    memset(&info, 0, sizeof(info));
    hr = IDODownload_Start(download, &info);
    ok(hr == S_OK, "Start failed: %#lx\n", hr);
    end = GetTickCount64() + WAIT_MS;
    for (;;)
    {
        get_dl_status(download, &status);
        if (status.State != DODownloadState_Transferring || GetTickCount64() >= end) break;
        Sleep(10);
    }
    ok(status.State == DODownloadState_Transferred, "second: state %s, error %#lx\n", dl_state_name(status.State),
       status.Error);
    ok(httpd_body_bytes(origin) == bytes_before, "second: the origin sent %llu bytes\n",
       httpd_body_bytes(origin) - bytes_before);
    ok(httpd_request_count(origin, path) == requests_before, "second: the origin got %u requests\n",
       httpd_request_count(origin, path) - requests_before);
    VariantInit(&value);
    hr = IDODownload_GetProperty(download, DODownloadProperty_HttpStatusCode, &value);
    ok(hr == S_OK && V_VT(&value) == VT_UI4 && V_UI4(&value) == 200, "HttpStatusCode: %#lx, %lu\n", hr, V_UI4(&value));
    VariantClear(&value);
    hr = IDODownload_GetProperty(download, DODownloadProperty_HttpServerIPAddress, &value);
    ok(hr == S_OK && V_VT(&value) == VT_BSTR && !wcscmp(V_BSTR(&value), L"127.0.0.1"), "HttpServerIPAddress: %#lx\n", hr);
    VariantClear(&value);
    hr = IDODownload_GetProperty(download, DODownloadProperty_HttpRedirectionTarget, &value);
    ok(hr != S_OK || V_VT(&value) != VT_BSTR || !wcsstr(V_BSTR(&value), L"cacheHostOrigin"),
       "[inferred] the cache URL is not a redirection target: %s\n", dbgstr_w(V_BSTR(&value)));
    VariantClear(&value);
    if (status.State == DODownloadState_Transferred)
    {
        hr = IDODownload_Finalize(download);
        ok(hr == S_OK, "Finalize failed: %#lx\n", hr);
        ok(file_matches_pattern(local, name, size, 0, NULL, &bad), "second: content differs at %llu\n", bad);
    }
    finish_download(download);
    DeleteFileW(local);
}

/* Ranges through the cache: the origin sends only what the ranges touch,
 * and a second ranged download nothing at all. */
static void test_nginx_ranges(void)
{
    UINT64 size = 9 * MIB + 5, want = 0;
    BG_FILE_RANGE ranges[3] = { { 100, 5000 }, { 4 * MIB + 7, 100000 }, { 9 * MIB - 10, BG_LENGTH_TO_EOF } };
    struct outcome out;
    char name[64];

    want = 5000 + 100000 + 15;
    set_policy(host_of(nginx_port), NO_VALUE, NO_VALUE, NO_VALUE);
    make_name(name, sizeof(name), "ranges", size);
    run_job(name, "", size, ARRAY_SIZE(ranges), ranges, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        ok(out.stats.bytesFromDoinc == want, "bytesFromDoinc %llu, expected %llu\n", out.stats.bytesFromDoinc, want);
        ok(!out.stats.bytesFromHttp, "bytesFromHttp %llu\n", out.stats.bytesFromHttp);
        ok(out.origin_bytes > 0 && out.origin_bytes < size, "the origin sent %llu of %llu bytes for three ranges\n",
           out.origin_bytes, size);
    }
    run_job(name, "", size, ARRAY_SIZE(ranges), ranges, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        ok(out.stats.bytesFromDoinc == want, "again: bytesFromDoinc %llu\n", out.stats.bytesFromDoinc);
        ok(!out.origin_bytes, "again: the origin sent %llu bytes\n", out.origin_bytes);
    }
}

/* A policy change applies to the next download, without a restart. */
static void test_nginx_policy_change(void)
{
    UINT64 size = 1 * MIB + 3;
    struct outcome out;
    char name[64];

    set_policy(NULL, NO_VALUE, NO_VALUE, NO_VALUE);
    make_name(name, sizeof(name), "change", size);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    ok(out.done && out.stats.bytesFromHttp == size && !out.stats.bytesFromDoinc, "no policy: %llu/%llu\n",
       out.stats.bytesFromHttp, out.stats.bytesFromDoinc);

    set_policy(host_of(nginx_port), NO_VALUE, NO_VALUE, NO_VALUE);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    ok(out.done && out.stats.bytesFromDoinc == size && !out.stats.bytesFromHttp, "policy set: %llu/%llu\n",
       out.stats.bytesFromHttp, out.stats.bytesFromDoinc);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    ok(out.done && !out.origin_bytes, "policy set, again: the origin sent %llu bytes\n", out.origin_bytes);

    set_dword(L"DODownloadMode", 100);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    ok(out.done && out.stats.bytesFromHttp == size, "mode 100 set: bytesFromHttp %llu\n", out.stats.bytesFromHttp);

    set_policy(NULL, NO_VALUE, NO_VALUE, NO_VALUE);
    run_job(name, "", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    ok(out.done && out.stats.bytesFromHttp == size, "policy removed: bytesFromHttp %llu\n", out.stats.bytesFromHttp);
}

/* nginx passes the origin's 503 on (not cached): the client falls back. */
static void test_nginx_origin_error(void)
{
    UINT64 size = 2 * MIB;
    struct outcome out;
    char name[64];

    set_policy(host_of(nginx_port), NO_VALUE, NO_VALUE, NO_VALUE);
    make_name(name, sizeof(name), "503", size);
    /* the first request for this URL (nginx's) gets 503, the next (ours) the file */
    run_job(name, "?fail_first=1", size, 0, NULL, BG_JOB_PRIORITY_NORMAL, &out);
    if (out.done)
    {
        ok(out.stats.bytesFromHttp == size && !out.stats.bytesFromDoinc, "%llu from the origin, %llu from the cache\n",
           out.stats.bytesFromHttp, out.stats.bytesFromDoinc);
        ok(out.stats.doincConnectionCount == 1, "doincConnectionCount %u\n", out.stats.doincConnectionCount);
    }
}

START_TEST(cache)
{
    char port[16];
    HRESULT hr;

    hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);
    ok(hr == S_OK || hr == S_FALSE, "CoInitializeEx failed: %#lx\n", hr);
    if (!(manager = create_manager()))
    {
        CoUninitialize();
        return;
    }
    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER, &IID_IDOManager,
                          (void **)&do_manager);
    ok(hr == S_OK, "CoCreateInstance(IID_IDOManager) failed: %#lx\n", hr);
    if (do_manager) set_impersonate(do_manager);
    origin = httpd_start();
    fake = httpd_start();
    ok(origin && fake, "cannot start the loopback HTTP servers\n");
    if (origin && fake && save_policy())
    {
        run_id = GetCurrentProcessId() ^ GetTickCount();
        closed = unused_port();
        if (GetEnvironmentVariableA("DOSVC_TEST_CACHE_PORT", port, sizeof(port)) && atoi(port) > 0)
            nginx_port = atoi(port);

        test_no_policy();
        test_request_form();
        test_fallback();
        test_fallback_delay();
        test_eligibility();
        if (nginx_port)
        {
            test_nginx_twice();
            test_nginx_ranges();
            test_nginx_policy_change();
            test_nginx_origin_error();
        }
        else skip("no cache server: set DOSVC_TEST_CACHE_PORT to the port of tools/cache-host on 127.0.0.1\n");
        restore_policy();
    }
    if (origin) httpd_stop(origin);
    if (fake) httpd_stop(fake);
    if (do_manager) IDOManager_Release(do_manager);
    IBackgroundCopyManager_Release(manager);
    remove_test_dir();
    CoUninitialize();
}
