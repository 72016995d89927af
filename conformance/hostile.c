/*
 * The engine under hostile input: URLs and headers that try to smuggle a
 * request, servers that change the file under a resume, cut a body short or
 * send too much, a Location with control characters, Suspend/Resume and
 * Cancel races, and a Complete whose rename fails
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
 * Each check looks at three things: the state and error the API reports,
 * the bytes on disk, and what reached the loopback server, byte for byte
 * (httpd_raw_request).  Most transfers run twice: straight to the server,
 * which the service's own HTTP client carries, and through the same server
 * named as a proxy, which WinHTTP carries (the server answers proxy
 * requests too).  Expectations the documentation does not decide say
 * "[inferred]" and are listed in docs/gaps.md.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "dotest.h"

#ifndef ERROR_WINHTTP_REDIRECT_FAILED
#define ERROR_WINHTTP_REDIRECT_FAILED 12156
#endif
#ifndef ERROR_WINHTTP_INVALID_SERVER_RESPONSE
#define ERROR_WINHTTP_INVALID_SERVER_RESPONSE 12152
#endif

#define STOP_STATES (STATE_BIT(BG_JOB_STATE_ERROR) | STATE_BIT(BG_JOB_STATE_TRANSFERRED) | \
                     STATE_BIT(BG_JOB_STATE_SUSPENDED) | STATE_BIT(BG_JOB_STATE_CANCELLED) | \
                     STATE_BIT(BG_JOB_STATE_ACKNOWLEDGED))
/* a generous guard against a hang, never a speed requirement */
#define WAIT_MS 60000

static IBackgroundCopyManager *manager;
static IDOManager *do_manager;
static struct httpd *httpd;
static WCHAR proxy[64];      /* the loopback server named as a proxy: WinHTTP carries the job */

enum path
{
    NATIVE,                  /* the service's own client: plain http, no proxy */
    WINHTTP,                 /* through the loopback server as a proxy */
};

static const char *path_name(enum path path)
{
    return path == NATIVE ? "direct" : "proxy";
}

/* ------------------------------------------------------------------ helpers */

static void make_subdir(WCHAR *dir, size_t count, const WCHAR *name)
{
    make_test_path(dir, count, name);
    CreateDirectoryW(dir, NULL);
}

static void remove_subdir(const WCHAR *dir)
{
    WIN32_FIND_DATAW data;
    WCHAR pattern[MAX_PATH], path[MAX_PATH];
    HANDLE find;

    swprintf(pattern, ARRAY_SIZE(pattern), L"%s\\*", dir);
    if ((find = FindFirstFileW(pattern, &data)) != INVALID_HANDLE_VALUE)
    {
        do
        {
            if (!wcscmp(data.cFileName, L".") || !wcscmp(data.cFileName, L"..")) continue;
            swprintf(path, ARRAY_SIZE(path), L"%s\\%s", dir, data.cFileName);
            SetFileAttributesW(path, FILE_ATTRIBUTE_NORMAL);
            if (data.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) RemoveDirectoryW(path);
            else DeleteFileW(path);
        } while (FindNextFileW(find, &data));
        FindClose(find);
    }
    RemoveDirectoryW(dir);
}

static void path_in(WCHAR *buf, size_t count, const WCHAR *dir, const WCHAR *name)
{
    swprintf(buf, count, L"%s\\%s", dir, name);
}

static UINT64 file_size(const WCHAR *path)
{
    WIN32_FILE_ATTRIBUTE_DATA data;

    if (!GetFileAttributesExW(path, GetFileExInfoStandard, &data)) return ~(UINT64)0;
    return ((UINT64)data.nFileSizeHigh << 32) | data.nFileSizeLow;
}

static unsigned int temp_files(const WCHAR *dir)
{
    return count_files(dir, L"DO*.tmp");
}

/* A new job, with the loopback server as its proxy when path says so. */
static IBackgroundCopyJob *hostile_job(const WCHAR *prefix, enum path path)
{
    IBackgroundCopyJob *job;
    HRESULT hr;

    if (!(job = new_job(manager, prefix, NULL))) return NULL;
    if (path == WINHTTP)
    {
        hr = IBackgroundCopyJob_SetProxySettings(job, BG_JOB_PROXY_USAGE_OVERRIDE, proxy, NULL);
        ok(hr == S_OK, "SetProxySettings(OVERRIDE, %ls): %#lx\n", proxy, hr);
    }
    return job;
}

static BG_JOB_STATE get_state(IBackgroundCopyJob *job)
{
    BG_JOB_STATE state = (BG_JOB_STATE)-1;

    IBackgroundCopyJob_GetState(job, &state);
    return state;
}

/* Polls until the state is in want_mask (or one the job does not leave by
 * itself); reports a timeout or a wrong final state as a failure. */
#define wait_state(job, want, note) wait_state_(__LINE__, job, STATE_BIT(want), note)
#define wait_states(job, mask, note) wait_state_(__LINE__, job, mask, note)
static BG_JOB_STATE wait_state_(unsigned int line, IBackgroundCopyJob *job, unsigned int want_mask,
                                const char *note)
{
    ULONGLONG start = GetTickCount64();
    BG_JOB_STATE state;
    HRESULT code = S_OK;

    for (;;)
    {
        state = get_state(job);
        if ((unsigned int)state < 32 && ((want_mask | STOP_STATES) & STATE_BIT(state))) break;
        if (GetTickCount64() - start > WAIT_MS) break;
        Sleep(5);
    }
    if (state == BG_JOB_STATE_ERROR || state == BG_JOB_STATE_TRANSIENT_ERROR) get_job_error(job, NULL, &code);
    ok_(__FILE__, line)((unsigned int)state < 32 && (want_mask & STATE_BIT(state)),
                        "%s: waited %llu ms, got %s (error %#lx)\n", note, GetTickCount64() - start,
                        state_name(state), code);
    return state;
}

static UINT64 job_bytes(IBackgroundCopyJob *job)
{
    BG_JOB_PROGRESS progress;

    memset(&progress, 0, sizeof(progress));
    IBackgroundCopyJob_GetProgress(job, &progress);
    return progress.BytesTransferred;
}

/* Waits until more than min_bytes arrived, or the job stopped. */
#define wait_bytes(job, min_bytes, note) wait_bytes_(__LINE__, job, min_bytes, note)
static BOOL wait_bytes_(unsigned int line, IBackgroundCopyJob *job, UINT64 min_bytes, const char *note)
{
    ULONGLONG start = GetTickCount64();
    BG_JOB_STATE state;
    UINT64 bytes;

    for (;;)
    {
        bytes = job_bytes(job);
        state = get_state(job);
        if (bytes > min_bytes || ((unsigned int)state < 32 && (STOP_STATES & STATE_BIT(state))) ||
            GetTickCount64() - start > WAIT_MS)
            break;
        Sleep(5);
    }
    ok_(__FILE__, line)(bytes > min_bytes, "%s: %llu bytes, state %s\n", note, bytes, state_name(state));
    return bytes > min_bytes;
}

/* The temporary name of the job's first file. */
static void temp_name(IBackgroundCopyJob *job, WCHAR *buf, size_t count)
{
    IBackgroundCopyFile *file;
    IBackgroundCopyFile3 *file3;
    WCHAR *name = NULL;

    buf[0] = 0;
    if (!(file = get_file(job, 0))) return;
    if (SUCCEEDED(IBackgroundCopyFile_QueryInterface(file, &IID_IBackgroundCopyFile3, (void **)&file3)))
    {
        if (SUCCEEDED(IBackgroundCopyFile3_GetTemporaryName(file3, &name)) && name)
        {
            lstrcpynW(buf, name, count);
            CoTaskMemFree(name);
        }
        IBackgroundCopyFile3_Release(file3);
    }
    IBackgroundCopyFile_Release(file);
}

#define check_pattern(path, name, size, count, ranges) check_pattern_(__LINE__, path, name, size, count, ranges)
static BOOL check_pattern_(unsigned int line, const WCHAR *path, const char *name, UINT64 size,
                           DWORD range_count, const BG_FILE_RANGE *ranges)
{
    UINT64 bad = 0;
    BOOL match = file_matches_pattern(path, name, size, range_count, ranges, &bad);

    ok_(__FILE__, line)(match, "%s: %s (first bad byte at %llu)\n", name,
                        file_exists(path) ? "content differs" : "file missing", bad);
    return match;
}

/* ------------------------------------------------------------------ the wire */

static BOOL has_bytes(const char *data, size_t len, const char *what)
{
    size_t n = strlen(what), i;

    for (i = 0; i + n <= len; i++)
        if (!memcmp(data + i, what, n)) return TRUE;
    return FALSE;
}

/* Every request head the server received since the last httpd_reset_log():
 * one request line "METHOD SP target SP HTTP/1.x" whose target has no space
 * or control character, header lines ended by CRLF (no bare CR or LF, no
 * NUL), one empty line at the end and nothing after it, and no trace of an
 * injected header or a smuggled request.  Returns how many heads came. */
#define check_wire(note) check_wire_(__LINE__, note)
static unsigned int check_wire_(unsigned int line, const char *note)
{
    static char head[20000];
    unsigned int count = httpd_raw_count(httpd), i;

    for (i = 0; i < count; i++)
    {
        size_t len = httpd_raw_request(httpd, i, head, sizeof(head)), j, spaces = 0, line_end;
        BOOL bare = FALSE;

        if (!len) continue;
        if (len >= sizeof(head)) len = sizeof(head) - 1;
        for (j = 0; j < len; j++)
        {
            if (head[j] == '\r' && (j + 1 >= len || head[j + 1] != '\n')) bare = TRUE;
            if (head[j] == '\n' && (!j || head[j - 1] != '\r')) bare = TRUE;
        }
        for (line_end = 0; line_end + 1 < len && head[line_end] != '\r'; line_end++)
        {
            if (head[line_end] == ' ') spaces++;
            else if ((unsigned char)head[line_end] < 0x20 || (unsigned char)head[line_end] >= 0x7f)
                spaces += 100;
        }
        ok_(__FILE__, line)(spaces == 2, "%s: request %u's line holds a space or a control character in its "
                            "target: %.200s\n", note, i, head);
        ok_(__FILE__, line)(!bare && strlen(head) == len, "%s: request %u holds a bare CR, LF or a NUL: %.300s\n",
                            note, i, head);
        ok_(__FILE__, line)(len >= 4 && !memcmp(head + len - 4, "\r\n\r\n", 4) &&
                            !has_bytes(head, len - 2, "\r\n\r\n"),
                            "%s: request %u has an empty line before its end: %.300s\n", note, i, head);
        ok_(__FILE__, line)(!has_bytes(head, len, "X-Injected") && !has_bytes(head, len, "smuggled"),
                            "%s: an injected header or request reached the server: %.300s\n", note, head);
    }
    return count;
}

/* The request line of the last request the server received. */
static void last_request_line(char *buf, size_t size)
{
    unsigned int count = httpd_raw_count(httpd);
    char *end;

    buf[0] = 0;
    if (!count) return;
    httpd_raw_request(httpd, count - 1, buf, size);
    if ((end = strstr(buf, "\r\n"))) *end = 0;
}

/* Does the last request the server received have a Range header? */
static BOOL last_request_has_range(void)
{
    static char head[20000];
    unsigned int count = httpd_raw_count(httpd);

    if (!count) return FALSE;
    httpd_raw_request(httpd, count - 1, head, sizeof(head));
    return strstr(head, "\r\nRange:") != NULL;
}

/* ------------------------------------------------------------------ 1. URLs */

/* Every way a URL enters a BITS-style job refuses a control character. */
static void test_url_entry_points(void)
{
    static const WCHAR *const tails[] =
    {
        L"/hostile-ok.bin HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET /smuggled",
        L"/hostile-ok.bin\nX-Injected: 1",
        L"/hostile-ok.bin\rX-Injected: 1",
        L"/hostile\tok.bin",
        L"/hostile\x01ok.bin",
        L"/hostile\x7fok.bin",
        L"/hostile\x85ok.bin",
        L"/hostile-ok.bin?q=\x1b[0m",
    };
    WCHAR dir[MAX_PATH], local[MAX_PATH], local2[MAX_PATH], good[256], bad[512], prefix[64], *name;
    IDeliveryOptimizationJob2 *job2;
    IBackgroundCopyJob5 *job5;
    IBackgroundCopyFile2 *file2;
    IBackgroundCopyFile *file;
    IBackgroundCopyJob *job;
    BG_JOB_PROGRESS progress;
    BG_FILE_RANGE range = { 0, 100 };
    BG_FILE_INFO infos[2];
    IUnknown *object;
    IDODownload *download;
    unsigned int i;
    VARIANT v;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"url-entry");
    path_in(local, ARRAY_SIZE(local), dir, L"entry.bin");
    path_in(local2, ARRAY_SIZE(local2), dir, L"entry2.bin");
    httpd_add_generated(httpd, "hostile-ok.bin", 1000);
    make_url(good, ARRAY_SIZE(good), httpd, "/hostile-ok.bin");
    swprintf(prefix, ARRAY_SIZE(prefix), L"http://127.0.0.1:%u/", httpd_port(httpd));
    httpd_reset_log(httpd);

    for (i = 0; i < ARRAY_SIZE(tails); i++)
    {
        swprintf(bad, ARRAY_SIZE(bad), L"http://127.0.0.1:%u%s", httpd_port(httpd), tails[i]);
        winetest_push_context("URL %u", i);

        if ((job = new_job(manager, L"hostile-url", NULL)))
        {
            hr = IBackgroundCopyJob_AddFile(job, bad, local);
            ok(hr == E_INVALIDARG, "AddFile: %#lx\n", hr);
            if (hr == S_OK && !i)
            {
                /* the hole itself: what the server gets from such a URL */
                IBackgroundCopyJob_Resume(job);
                wait_states(job, STATE_BIT(BG_JOB_STATE_TRANSFERRED) | STATE_BIT(BG_JOB_STATE_ERROR),
                            "the accepted URL's job");
                check_wire("a URL with CRLF");
            }
            IBackgroundCopyJob_Cancel(job);

            infos[0].RemoteName = good;
            infos[0].LocalName = local;
            infos[1].RemoteName = bad;
            infos[1].LocalName = local2;
            hr = IBackgroundCopyJob_AddFileSet(job, 2, infos);
            ok(hr == E_INVALIDARG || hr == DO_E_INVALID_STATE, "AddFileSet: %#lx\n", hr);
            IBackgroundCopyJob_Release(job);
        }

        if ((job = new_job(manager, L"hostile-url", NULL)))
        {
            infos[0].RemoteName = good;
            infos[0].LocalName = local;
            infos[1].RemoteName = bad;
            infos[1].LocalName = local2;
            hr = IBackgroundCopyJob_AddFileSet(job, 2, infos);
            ok(hr == E_INVALIDARG, "AddFileSet: %#lx\n", hr);
            memset(&progress, 0, sizeof(progress));
            IBackgroundCopyJob_GetProgress(job, &progress);
            ok(!progress.FilesTotal, "AddFileSet added %lu files of a refused set\n", progress.FilesTotal);

            hr = add_file(job, bad, local, 0, NULL);
            ok(hr == E_INVALIDARG, "IDeliveryOptimizationJob::AddFileWithRanges: %#lx\n", hr);

            if ((job5 = query(job, &IID_IBackgroundCopyJob5, "IBackgroundCopyJob5", TRUE)))
            {
                hr = IBackgroundCopyJob5_AddFileWithRanges(job5, bad, local, 1, &range);
                ok(hr == E_INVALIDARG, "IBackgroundCopyJob3::AddFileWithRanges: %#lx\n", hr);
                IBackgroundCopyJob5_Release(job5);
            }
            if ((job2 = query(job, &IID_IDeliveryOptimizationJob2, "IDeliveryOptimizationJob2", FALSE)))
            {
                object = NULL;
                hr = IDeliveryOptimizationJob2_AddFile(job2, L"hostile", bad, 0, NULL,
                                                       &IID_IDeliveryOptimizationFile, (void **)&object);
                ok(hr == E_INVALIDARG, "IDeliveryOptimizationJob2::AddFile: %#lx\n", hr);
                if (object) IUnknown_Release(object);
                IDeliveryOptimizationJob2_Release(job2);
            }
            memset(&progress, 0, sizeof(progress));
            IBackgroundCopyJob_GetProgress(job, &progress);
            ok(!progress.FilesTotal, "%lu files were added with a bad URL\n", progress.FilesTotal);
            finish_job(job);
        }

        /* the two that change a file's URL */
        if ((job = new_job(manager, L"hostile-url", NULL)))
        {
            hr = IBackgroundCopyJob_AddFile(job, good, local);
            ok(hr == S_OK, "AddFile: %#lx\n", hr);
            if ((file = get_file(job, 0)))
            {
                if ((file2 = query(file, &IID_IBackgroundCopyFile2, "IBackgroundCopyFile2", TRUE)))
                {
                    hr = IBackgroundCopyFile2_SetRemoteName(file2, bad);
                    ok(hr == E_INVALIDARG, "SetRemoteName: %#lx\n", hr);
                    IBackgroundCopyFile2_Release(file2);
                }
                name = NULL;
                hr = IBackgroundCopyFile_GetRemoteName(file, &name);
                ok(hr == S_OK && name && !wcscmp(name, good), "the URL changed to %ls\n", name);
                CoTaskMemFree(name);
                IBackgroundCopyFile_Release(file);
            }
            if ((job5 = query(job, &IID_IBackgroundCopyJob5, "IBackgroundCopyJob5", TRUE)))
            {
                /* the new prefix carries the control character into the URL */
                swprintf(bad, ARRAY_SIZE(bad), L"http://127.0.0.1:%u%s/", httpd_port(httpd), tails[i]);
                hr = IBackgroundCopyJob5_ReplaceRemotePrefix(job5, prefix, bad);
                ok(hr == E_INVALIDARG, "ReplaceRemotePrefix: %#lx\n", hr);
                IBackgroundCopyJob5_Release(job5);
            }
            if ((file = get_file(job, 0)))
            {
                name = NULL;
                IBackgroundCopyFile_GetRemoteName(file, &name);
                ok(name && !wcscmp(name, good), "ReplaceRemotePrefix changed the URL to %ls\n", name);
                CoTaskMemFree(name);
                IBackgroundCopyFile_Release(file);
            }
            finish_job(job);
        }

        if (do_manager && (download = create_download(do_manager)))
        {
            swprintf(bad, ARRAY_SIZE(bad), L"http://127.0.0.1:%u%s", httpd_port(httpd), tails[i]);
            hr = set_bstr(download, DODownloadProperty_Uri, bad);
            ok(hr == E_INVALIDARG, "IDODownload SetProperty(Uri): %#lx\n", hr);
            finish_download(download);
        }
        winetest_pop_context();
    }

    /* a BSTR carries its length: a NUL inside it hides the rest from C string code */
    if (do_manager && (download = create_download(do_manager)))
    {
        swprintf(bad, ARRAY_SIZE(bad), L"%sok.bin", prefix);
        i = lstrlenW(bad);
        lstrcpyW(bad + i + 1, L"\r\nX-Injected: 1");
        V_VT(&v) = VT_BSTR;
        V_BSTR(&v) = SysAllocStringLen(bad, i + 1 + 15);
        hr = IDODownload_SetProperty(download, DODownloadProperty_Uri, &v);
        ok(hr == E_INVALIDARG, "SetProperty(Uri) with a NUL inside the BSTR: %#lx [inferred]\n", hr);
        VariantClear(&v);
        finish_download(download);
    }

    ok(httpd_raw_count(httpd) == 0, "%u requests reached the server from refused URLs\n", httpd_raw_count(httpd));
    check_wire("after the refused URLs");
    remove_subdir(dir);
}

/* Spaces and non-ASCII characters go on the wire percent-encoded (UTF-8),
 * escapes already there stay as they are; a redirect's Location too. */
static void test_url_encoding(void)
{
    /* the server matches names literally, without decoding */
    static const char wire_name[] = "hostile%20sp%C3%A9.bin";
    static const char *const redirects[] =
    {
        "/hostile-redir.bin?redirect=1&to=%2Fhostile%20sp%C3%A9.bin%3Fr%3D1%20x",
        "/hostile-redir.bin?redirect=1&to=hostile%20sp%C3%A9.bin",
    };
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    char line[512], want[512];
    IBackgroundCopyJob *job;
    unsigned int i, count;
    enum path path;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"url-encoding");
    httpd_add_generated(httpd, wire_name, 5000);
    httpd_add_generated(httpd, "hostile-redir.bin", 10);

    for (path = NATIVE; path <= WINHTTP; path++)
    {
        winetest_push_context("%s", path_name(path));
        path_in(local, ARRAY_SIZE(local), dir, L"encoded.bin");
        DeleteFileW(local);
        swprintf(url, ARRAY_SIZE(url), L"http://127.0.0.1:%u/hostile sp\x00e9.bin?q=a b&e=%%41%%zz%%4",
                 httpd_port(httpd));
        httpd_reset_log(httpd);
        if ((job = hostile_job(L"hostile-encode", path)))
        {
            hr = IBackgroundCopyJob_AddFile(job, url, local);
            ok(hr == S_OK, "AddFile(%ls): %#lx [inferred: spaces and non-ASCII are allowed]\n", url, hr);
            hr = IBackgroundCopyJob_Resume(job);
            ok(hr == S_OK, "Resume: %#lx\n", hr);
            if (wait_state(job, BG_JOB_STATE_TRANSFERRED, "a URL with spaces and UTF-8") == BG_JOB_STATE_TRANSFERRED)
            {
                hr = IBackgroundCopyJob_Complete(job);
                ok(hr == S_OK, "Complete: %#lx\n", hr);
                check_pattern(local, wire_name, 5000, 0, NULL);
            }
            count = check_wire("a URL with spaces and UTF-8");
            ok(count == 1, "%u requests\n", count);
            last_request_line(line, sizeof(line));
            snprintf(want, sizeof(want), "/%s?q=a%%20b&e=%%41%%25zz%%254 HTTP/1.1", wire_name);
            ok(strstr(line, want) != NULL, "request line %s, expected the target %s [RFC 3986]\n", line, want);
            finish_job(job);
        }

        for (i = 0; i < ARRAY_SIZE(redirects); i++)
        {
            DeleteFileW(local);
            make_url(url, ARRAY_SIZE(url), httpd, redirects[i]);
            httpd_reset_log(httpd);
            if (!(job = hostile_job(L"hostile-encode", path))) continue;
            hr = IBackgroundCopyJob_AddFile(job, url, local);
            ok(hr == S_OK, "AddFile: %#lx\n", hr);
            IBackgroundCopyJob_Resume(job);
            if (wait_state(job, BG_JOB_STATE_TRANSFERRED, "a Location with a space") == BG_JOB_STATE_TRANSFERRED)
            {
                IBackgroundCopyJob_Complete(job);
                check_pattern(local, wire_name, 5000, 0, NULL);
            }
            count = check_wire("a Location with a space");
            ok(count == 2, "%u requests for a redirect\n", count);
            last_request_line(line, sizeof(line));
            ok(strstr(line, wire_name) != NULL, "redirected request line %s\n", line);
            finish_job(job);
        }
        winetest_pop_context();
    }
    remove_subdir(dir);
}

/* A Location with control characters is a failed redirect, not a request.
 * Kinds (httpd.h, bad_location): 1 bare LFs, 2 bare CRs, 3 a 0x01 byte, 4 a
 * NUL.  Through WinHTTP a bare LF ends the header line (as RFC 9112 allows a
 * recipient) and a NUL ends the value, so what it calls the Location there
 * has no control character left: it is followed, percent-encoded.  A head
 * with a NUL is no valid response to the service's own client. */
static void test_bad_location(void)
{
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    IBackgroundCopyJob *job;
    BG_ERROR_CONTEXT context;
    BG_JOB_STATE state;
    unsigned int count;
    enum path path;
    char target[128];
    HRESULT code;
    int kind;

    make_subdir(dir, ARRAY_SIZE(dir), L"bad-location");
    path_in(local, ARRAY_SIZE(local), dir, L"badloc.bin");
    httpd_add_generated(httpd, "hostile-badloc.bin", 1000);

    for (path = NATIVE; path <= WINHTTP; path++)
    {
        for (kind = 1; kind <= 4; kind++)
        {
            winetest_push_context("%s, Location kind %d", path_name(path), kind);
            sprintf(target, "/hostile-badloc.bin?redirect=1&bad_location=%d", kind);
            make_url(url, ARRAY_SIZE(url), httpd, target);
            httpd_reset_log(httpd);
            if ((job = hostile_job(L"hostile-badloc", path)))
            {
                BOOL split = path == WINHTTP && (kind == 1 || kind == 4);

                IBackgroundCopyJob_AddFile(job, url, local);
                IBackgroundCopyJob_Resume(job);
                if (split)
                {
                    /* the part before the LF or NUL, followed: a clean request, whatever its answer */
                    wait_states(job, STATE_BIT(BG_JOB_STATE_ERROR) | STATE_BIT(BG_JOB_STATE_TRANSFERRED),
                                "a Location WinHTTP cut short");
                    count = check_wire("a Location WinHTTP cut short");
                    ok(count <= 2, "%u requests reached the server\n", count);
                }
                else if (kind == 4)
                {
                    state = wait_states(job, STATE_BIT(BG_JOB_STATE_TRANSIENT_ERROR), "a head with a NUL");
                    if (state == BG_JOB_STATE_TRANSIENT_ERROR)
                    {
                        get_job_error(job, &context, &code);
                        ok(code == HRESULT_FROM_WIN32(ERROR_WINHTTP_INVALID_SERVER_RESPONSE),
                           "error %#lx, expected ERROR_WINHTTP_INVALID_SERVER_RESPONSE [inferred]\n", code);
                    }
                    count = check_wire("a head with a NUL");
                    ok(count == 1, "%u requests reached the server, expected only the first\n", count);
                }
                else
                {
                    state = wait_state(job, BG_JOB_STATE_ERROR, "a hostile Location");
                    if (state == BG_JOB_STATE_ERROR)
                    {
                        get_job_error(job, &context, &code);
                        ok(code == HRESULT_FROM_WIN32(ERROR_WINHTTP_REDIRECT_FAILED),
                           "error %#lx, expected ERROR_WINHTTP_REDIRECT_FAILED [inferred]\n", code);
                    }
                    count = check_wire("a hostile Location");
                    ok(count == 1, "%u requests reached the server, expected only the first [inferred]\n", count);
                    ok(!file_exists(local), "the local file exists\n");
                }
                finish_job(job);
            }
            winetest_pop_context();
        }
    }
    remove_subdir(dir);
}

/* ------------------------------------------------------------------ 2. headers */

static const WCHAR *const bad_headers[] =
{
    L"X-Hostile: 1\r\n\r\nGET /smuggled HTTP/1.1\r\nX-Injected: 1",
    L"X-Hostile: 1\r\n\r\n",
    L"X-Hostile: 1\nX-Injected: 1",
    L"X-Hostile: 1\rX-Injected: 1",
    L"X-Hostile: 1\r\nX-Injected: 1\n",
    L"X-Hostile: \x01",
    L"X-Hostile: a\x7f",
    L"X-Hostile: a\x85",
    L"X Hostile: 1",
    L": 1",
    L"X-Hostile",
    L"X-Hostile:1\r\n\r\nX-Injected: 1",
    L"\r\n",
    L"X-H(ostile): 1",
    L"X-Hostile\x00e9: 1",
};

static const WCHAR *const good_headers[] =
{
    L"X-Hostile: 1",
    L"X-Hostile: 1\r\n",
    L"X-Hostile:\t1\tx y\r\nX-Second:",
    L"X-Hostile: caf\x00e9",
    L"!#$%&'*+-.^_`|~09az: token characters",
};

/* Each line "token: value", CRLF between lines, one trailing CRLF allowed. */
static void test_header_validation(void)
{
    IBackgroundCopyJobHttpOptions *options;
    IBackgroundCopyJob *job;
    IDODownload *download;
    WCHAR *text, buf[64];
    unsigned int i;
    VARIANT v;
    HRESULT hr;

    if (!(job = new_job(manager, L"hostile-headers", NULL))) return;
    if (!(options = query(job, &IID_IBackgroundCopyJobHttpOptions, "IBackgroundCopyJobHttpOptions", FALSE)))
    {
        finish_job(job);
        return;
    }
    hr = IBackgroundCopyJobHttpOptions_SetCustomHeaders(options, L"X-Kept: 1");
    ok(hr == S_OK, "SetCustomHeaders: %#lx\n", hr);
    for (i = 0; i < ARRAY_SIZE(bad_headers); i++)
    {
        hr = IBackgroundCopyJobHttpOptions_SetCustomHeaders(options, bad_headers[i]);
        ok(hr == E_INVALIDARG, "SetCustomHeaders(%s): %#lx [inferred]\n", dbgstr_w(bad_headers[i]), hr);
    }
    text = NULL;
    hr = IBackgroundCopyJobHttpOptions_GetCustomHeaders(options, &text);
    ok(hr == S_OK && text && !wcscmp(text, L"X-Kept: 1"), "a refused value replaced the headers: %s\n",
       dbgstr_w(text));
    CoTaskMemFree(text);
    for (i = 0; i < ARRAY_SIZE(good_headers); i++)
    {
        hr = IBackgroundCopyJobHttpOptions_SetCustomHeaders(options, good_headers[i]);
        ok(hr == S_OK, "SetCustomHeaders(%s): %#lx [inferred]\n", dbgstr_w(good_headers[i]), hr);
    }
    hr = IBackgroundCopyJobHttpOptions_SetCustomHeaders(options, L"");
    ok(hr == S_OK, "SetCustomHeaders(\"\"): %#lx\n", hr);
    IBackgroundCopyJobHttpOptions_Release(options);
    finish_job(job);

    if (!do_manager || !(download = create_download(do_manager))) return;
    for (i = 0; i < ARRAY_SIZE(bad_headers); i++)
    {
        hr = set_bstr(download, DODownloadProperty_HttpCustomHeaders, bad_headers[i]);
        ok(hr == E_INVALIDARG, "SetProperty(HttpCustomHeaders, %s): %#lx [inferred]\n", dbgstr_w(bad_headers[i]), hr);
        hr = set_bstr(download, DODownloadProperty_HttpCustomAuthHeaders, bad_headers[i]);
        ok(hr == E_INVALIDARG, "SetProperty(HttpCustomAuthHeaders, %s): %#lx [inferred]\n",
           dbgstr_w(bad_headers[i]), hr);
    }
    for (i = 0; i < ARRAY_SIZE(good_headers); i++)
    {
        hr = set_bstr(download, DODownloadProperty_HttpCustomHeaders, good_headers[i]);
        ok(hr == S_OK, "SetProperty(HttpCustomHeaders, %s): %#lx\n", dbgstr_w(good_headers[i]), hr);
        hr = set_bstr(download, DODownloadProperty_HttpCustomAuthHeaders, good_headers[i]);
        ok(hr == S_OK, "SetProperty(HttpCustomAuthHeaders, %s): %#lx\n", dbgstr_w(good_headers[i]), hr);
    }
    /* a NUL inside the BSTR would hide what follows it from every C string check */
    lstrcpyW(buf, L"X-Hostile: 1");
    lstrcpyW(buf + 13, L"\r\n\r\nGET /smuggled");
    V_VT(&v) = VT_BSTR;
    V_BSTR(&v) = SysAllocStringLen(buf, 13 + 17);
    hr = IDODownload_SetProperty(download, DODownloadProperty_HttpCustomHeaders, &v);
    ok(hr == E_INVALIDARG, "SetProperty(HttpCustomHeaders) with a NUL inside the BSTR: %#lx [inferred]\n", hr);
    hr = IDODownload_SetProperty(download, DODownloadProperty_HttpCustomAuthHeaders, &v);
    ok(hr == E_INVALIDARG, "SetProperty(HttpCustomAuthHeaders) with a NUL inside the BSTR: %#lx [inferred]\n", hr);
    VariantClear(&v);
    finish_download(download);
}

/* What a job's headers look like on the wire, both HTTP clients. */
static void test_header_wire(void)
{
    static char head[20000];
    IBackgroundCopyJobHttpOptions *options;
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    IBackgroundCopyJob *job;
    unsigned int count;
    enum path path;
    size_t len;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"header-wire");
    path_in(local, ARRAY_SIZE(local), dir, L"headers.bin");
    httpd_add_generated(httpd, "hostile-headers.bin", 3000);
    make_url(url, ARRAY_SIZE(url), httpd, "/hostile-headers.bin");

    for (path = NATIVE; path <= WINHTTP; path++)
    {
        winetest_push_context("%s", path_name(path));
        DeleteFileW(local);
        httpd_reset_log(httpd);
        if (!(job = hostile_job(L"hostile-hwire", path))) continue;
        if ((options = query(job, &IID_IBackgroundCopyJobHttpOptions, "IBackgroundCopyJobHttpOptions", FALSE)))
        {
            /* the hole: a value that ends the header block and starts a request */
            hr = IBackgroundCopyJobHttpOptions_SetCustomHeaders(options, bad_headers[0]);
            ok(hr == E_INVALIDARG, "SetCustomHeaders with an empty line: %#lx\n", hr);
            if (hr == S_OK)
            {
                IBackgroundCopyJob_AddFile(job, url, local);
                IBackgroundCopyJob_Resume(job);
                wait_states(job, STATE_BIT(BG_JOB_STATE_TRANSFERRED) | STATE_BIT(BG_JOB_STATE_ERROR),
                            "a job with a smuggling header");
                check_wire("a smuggling header value");
                IBackgroundCopyJob_Cancel(job);
                IBackgroundCopyJobHttpOptions_Release(options);
                IBackgroundCopyJob_Release(job);
                winetest_pop_context();
                continue;
            }
            hr = IBackgroundCopyJobHttpOptions_SetCustomHeaders(options, L"X-Hostile-A: 1\r\nX-Hostile-B:\tx y\r\n");
            ok(hr == S_OK, "SetCustomHeaders: %#lx\n", hr);
            IBackgroundCopyJobHttpOptions_Release(options);
        }
        hr = IBackgroundCopyJob_AddFile(job, url, local);
        ok(hr == S_OK, "AddFile: %#lx\n", hr);
        IBackgroundCopyJob_Resume(job);
        if (wait_state(job, BG_JOB_STATE_TRANSFERRED, "custom headers") == BG_JOB_STATE_TRANSFERRED)
        {
            IBackgroundCopyJob_Complete(job);
            check_pattern(local, "hostile-headers.bin", 3000, 0, NULL);
        }
        count = check_wire("custom headers");
        ok(count == 1, "%u requests\n", count);
        len = httpd_raw_request(httpd, 0, head, sizeof(head));
        ok(len && strstr(head, "\r\nX-Hostile-A: 1\r\n") && strstr(head, "\r\nX-Hostile-B:") &&
           strstr(head, "x y\r\n"), "the headers did not arrive as set: %s\n", head);
        finish_job(job);
        winetest_pop_context();
    }
    remove_subdir(dir);
}

/* ------------------------------------------------------------------ 3. versions */

/* A whole file whose server switches to a new version (new ETag, or new
 * Last-Modified without ETag) under a resume starts over from zero: the
 * file on disk is all new version. */
static void test_version_whole(void)
{
    static const UINT64 size = 1 * MIB;
    static const struct
    {
        const char *name;
        const char *query;
    }
    tests[] =
    {
        { "hostile-v-etag.bin", "etag_after=1&rate=262144" },
        { "hostile-v-lm.bin", "etag_after=1&noetag=1&rate=262144" },
    };
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    char target[256], v2[64];
    IBackgroundCopyJob *job;
    unsigned int i;
    enum path path;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"version-whole");
    path_in(local, ARRAY_SIZE(local), dir, L"version.bin");
    for (path = NATIVE; path <= WINHTTP; path++)
    {
        for (i = 0; i < ARRAY_SIZE(tests); i++)
        {
            winetest_push_context("%s, %s", path_name(path), tests[i].name);
            DeleteFileW(local);
            httpd_add_generated(httpd, tests[i].name, size);
            /* a target of its own per client: the version counter is per path+query */
            sprintf(target, "/%s?%s&p=%d", tests[i].name, tests[i].query, path);
            make_url(url, ARRAY_SIZE(url), httpd, target);
            if (!(job = hostile_job(L"hostile-version", path)))
            {
                winetest_pop_context();
                continue;
            }
            IBackgroundCopyJob_AddFile(job, url, local);
            IBackgroundCopyJob_Resume(job);
            if (wait_bytes(job, 64 * KIB, "version 1"))
            {
                /* a new run resumes with Range and If-Range; the server answers 206 from version 2 */
                hr = IBackgroundCopyJob_Suspend(job);
                ok(hr == S_OK, "Suspend: %#lx\n", hr);
                httpd_reset_log(httpd);
                hr = IBackgroundCopyJob_Resume(job);
                ok(hr == S_OK, "Resume: %#lx\n", hr);
                if (wait_state(job, BG_JOB_STATE_TRANSFERRED, "after the version changed") == BG_JOB_STATE_TRANSFERRED)
                {
                    ok(!last_request_has_range(), "the last request had a Range: the old bytes were kept\n");
                    hr = IBackgroundCopyJob_Complete(job);
                    ok(hr == S_OK, "Complete: %#lx\n", hr);
                    sprintf(v2, "%s~v2", tests[i].name);
                    check_pattern(local, v2, size, 0, NULL);
                }
                check_wire("a changed version");
            }
            finish_job(job);
            winetest_pop_context();
        }
    }

    /* the same validator but another size (Content-Range total): a new file too */
    winetest_push_context("size");
    DeleteFileW(local);
    httpd_add_generated(httpd, "hostile-v-size.bin", size);
    make_url(url, ARRAY_SIZE(url), httpd, "/hostile-v-size.bin?etag=fixed&rate=262144");
    if ((job = hostile_job(L"hostile-version", NATIVE)))
    {
        IBackgroundCopyJob_AddFile(job, url, local);
        IBackgroundCopyJob_Resume(job);
        if (wait_bytes(job, 64 * KIB, "before the size changes"))
        {
            IBackgroundCopyJob_Suspend(job);
            httpd_add_generated(httpd, "hostile-v-size.bin", size + 4096);
            httpd_reset_log(httpd);
            IBackgroundCopyJob_Resume(job);
            if (wait_state(job, BG_JOB_STATE_TRANSFERRED, "after the size changed") == BG_JOB_STATE_TRANSFERRED)
            {
                ok(!last_request_has_range(), "the last request had a Range: the old bytes were kept [inferred]\n");
                IBackgroundCopyJob_Complete(job);
                check_pattern(local, "hostile-v-size.bin", size + 4096, 0, NULL);
            }
        }
        finish_job(job);
    }
    winetest_pop_context();
    remove_subdir(dir);
}

/* A ranged file cannot start over: a new version between two range requests
 * of one run, or between two runs, fails it and its progress goes back to 0. */
static void test_version_ranged(void)
{
    static const UINT64 size = 4 * MIB;
    BG_FILE_RANGE two[2] = { { 0, 64 * KIB }, { 2 * MIB, 64 * KIB } }, one = { 0, 1 * MIB };
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256], temp[MAX_PATH];
    IBackgroundCopyJob *job;
    BG_ERROR_CONTEXT context;
    enum path path;
    char target[256];
    HRESULT code;
    int across;

    make_subdir(dir, ARRAY_SIZE(dir), L"version-ranged");
    path_in(local, ARRAY_SIZE(local), dir, L"ranged.bin");
    httpd_add_generated(httpd, "hostile-v-ranged.bin", size);
    for (path = NATIVE; path <= WINHTTP; path++)
    {
        for (across = 0; across <= 1; across++)
        {
            winetest_push_context("%s, %s", path_name(path), across ? "across runs" : "within a run");
            /* within a run: the server answers one range per request
             * (multirange=first), else both ranges would share one */
            sprintf(target, "/hostile-v-ranged.bin?etag_after=1&p=%d&a=%d%s", path, across,
                    across ? "&rate=262144" : "&multirange=first");
            make_url(url, ARRAY_SIZE(url), httpd, target);
            if (!(job = hostile_job(L"hostile-vranged", path)))
            {
                winetest_pop_context();
                continue;
            }
            add_file(job, url, local, across ? 1 : 2, across ? &one : two);
            IBackgroundCopyJob_Resume(job);
            if (across && wait_bytes(job, 64 * KIB, "version 1"))
            {
                IBackgroundCopyJob_Suspend(job);
                IBackgroundCopyJob_Resume(job);
            }
            if (wait_state(job, BG_JOB_STATE_ERROR, "a ranged file whose version changed") == BG_JOB_STATE_ERROR)
            {
                get_job_error(job, &context, &code);
                ok(code == DO_E_INSUFFICIENT_RANGE_SUPPORT, "error %#lx, expected DO_E_INSUFFICIENT_RANGE_SUPPORT\n",
                   code);
                ok(job_bytes(job) == 0, "%llu bytes of the old version are still counted\n", job_bytes(job));
                temp_name(job, temp, ARRAY_SIZE(temp));
                ok(!file_exists(temp) || !file_size(temp), "the temp file holds %llu bytes\n", file_size(temp));
            }
            ok(!file_exists(local), "the local file exists\n");
            finish_job(job);
            winetest_pop_context();
        }
    }
    remove_subdir(dir);
}

/* A stream sink cannot take bytes back: a new version under a resume fails
 * the download. */
static void test_version_stream(void)
{
    static const UINT64 size = 1 * MIB;
    struct mem_stream *stream;
    DO_DOWNLOAD_RANGES_INFO whole;
    DO_DOWNLOAD_STATUS status;
    IDODownload *download;
    unsigned char *want;
    WCHAR url[256];
    ULONGLONG start;
    VARIANT v;
    HRESULT hr;

    if (!do_manager || !(stream = new_mem_stream())) return;
    httpd_add_generated(httpd, "hostile-v-stream.bin", size);
    if (!(download = create_download(do_manager))) return;
    make_url(url, ARRAY_SIZE(url), httpd, "/hostile-v-stream.bin?etag_after=1&rate=262144");
    hr = set_bstr(download, DODownloadProperty_Uri, url);
    ok(hr == S_OK, "SetProperty(Uri): %#lx\n", hr);
    V_VT(&v) = VT_UNKNOWN;
    V_UNKNOWN(&v) = (IUnknown *)&stream->IStream_iface;
    hr = IDODownload_SetProperty(download, DODownloadProperty_StreamInterface, &v);
    ok(hr == S_OK, "SetProperty(StreamInterface): %#lx\n", hr);
    memset(&whole, 0, sizeof(whole));
    hr = IDODownload_Start(download, &whole);
    ok(hr == S_OK, "Start: %#lx\n", hr);

    start = GetTickCount64();
    do
    {
        get_dl_status(download, &status);
        if (status.BytesTransferred > 64 * KIB || status.State != DODownloadState_Transferring) break;
        Sleep(5);
    } while (GetTickCount64() - start < WAIT_MS);
    ok(status.BytesTransferred > 64 * KIB, "%llu bytes, state %s\n", status.BytesTransferred,
       dl_state_name(status.State));
    hr = IDODownload_Pause(download);
    ok(hr == S_OK, "Pause: %#lx\n", hr);
    hr = IDODownload_Start(download, NULL);
    ok(hr == S_OK, "Start(NULL): %#lx\n", hr);

    start = GetTickCount64();
    do
    {
        get_dl_status(download, &status);
        if (status.State != DODownloadState_Transferring) break;
        Sleep(5);
    } while (GetTickCount64() - start < WAIT_MS);
    ok(status.State == DODownloadState_Paused && status.Error == DO_E_INSUFFICIENT_RANGE_SUPPORT,
       "state %s, error %#lx, expected Paused with DO_E_INSUFFICIENT_RANGE_SUPPORT\n",
       dl_state_name(status.State), status.Error);
    /* what the stream got is a prefix of version 1, nothing of version 2 */
    EnterCriticalSection(&stream->cs);
    if ((want = malloc(stream->size + 1)))
    {
        httpd_pattern_fill("hostile-v-stream.bin", 0, want, stream->size);
        ok(stream->size < size && !memcmp(stream->data, want, stream->size),
           "the stream holds %Iu bytes that are not all of version 1\n", stream->size);
        free(want);
    }
    LeaveCriticalSection(&stream->cs);
    finish_download(download);
}

/* ------------------------------------------------------------------ 4. short bodies */

/* A body cut short is never complete; a longer one is not accepted either. */
static void test_short_bodies(void)
{
    static const UINT64 size = 256 * KIB;
    static const struct
    {
        const char *query;
        BG_JOB_STATE state;
        BOOL winhttp;            /* WinHTTP shows the cut too */
        const char *what;
    }
    tests[] =
    {
        { "nolength=1&reset_after=100000", BG_JOB_STATE_TRANSIENT_ERROR, TRUE, "close-delimited, reset" },
        { "chunked=1&reset_after=100000", BG_JOB_STATE_TRANSIENT_ERROR, TRUE, "chunked, reset" },
        { "chunked=1&close_after=100000", BG_JOB_STATE_TRANSIENT_ERROR, FALSE, "chunked, closed before the last chunk" },
        { "close_after=100000", BG_JOB_STATE_TRANSIENT_ERROR, TRUE, "Content-Length, closed early" },
        { "reset_after=100000", BG_JOB_STATE_TRANSIENT_ERROR, TRUE, "Content-Length, reset" },
        { "extra=100", BG_JOB_STATE_ERROR, FALSE, "Content-Length and 100 bytes more" },
    };
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256], temp[MAX_PATH];
    IBackgroundCopyJob *job;
    BG_JOB_STATE state;
    HRESULT code;
    unsigned int i;
    enum path path;
    char target[256];
    UINT64 bytes;

    make_subdir(dir, ARRAY_SIZE(dir), L"short");
    path_in(local, ARRAY_SIZE(local), dir, L"short.bin");
    httpd_add_generated(httpd, "hostile-short.bin", size);
    for (path = NATIVE; path <= WINHTTP; path++)
    {
        for (i = 0; i < ARRAY_SIZE(tests); i++)
        {
            if (path == WINHTTP && !tests[i].winhttp) continue;
            winetest_push_context("%s, %s", path_name(path), tests[i].what);
            DeleteFileW(local);
            sprintf(target, "/hostile-short.bin?%s", tests[i].query);
            make_url(url, ARRAY_SIZE(url), httpd, target);
            httpd_reset_log(httpd);
            if (!(job = hostile_job(L"hostile-short", path)))
            {
                winetest_pop_context();
                continue;
            }
            IBackgroundCopyJob_AddFile(job, url, local);
            IBackgroundCopyJob_Resume(job);
            /* the retry delay (60 s by default) keeps a transient error in view */
            state = wait_states(job, STATE_BIT(tests[i].state), "a body that is not what it says");
            bytes = job_bytes(job);
            if (state == tests[i].state)
            {
                get_job_error(job, NULL, &code);
                if (tests[i].state == BG_JOB_STATE_ERROR)
                    ok(code == DO_E_HTTP_BLOCKSIZE_MISMATCH, "error %#lx, expected DO_E_HTTP_BLOCKSIZE_MISMATCH "
                       "[inferred]\n", code);
                else
                    ok(FAILED(code), "error %#lx\n", code);
            }
            ok(bytes <= size, "%llu bytes counted\n", bytes);
            temp_name(job, temp, ARRAY_SIZE(temp));
            ok(!file_exists(temp) || file_size(temp) <= size, "the temp file holds %llu bytes [extra bytes appended]\n",
               file_size(temp));
            ok(!file_exists(local), "the local file exists\n");
            check_wire(tests[i].what);
            finish_job(job);
            winetest_pop_context();
        }
    }

    /* a close-delimited body (orderly close) short of a size an earlier response gave */
    for (path = NATIVE; path <= WINHTTP; path++)
    {
        winetest_push_context("%s, close-delimited resume short of the known size", path_name(path));
        DeleteFileW(local);
        make_url(url, ARRAY_SIZE(url), httpd, "/hostile-short.bin?rate=65536");
        if ((job = hostile_job(L"hostile-short", path)))
        {
            IBackgroundCopyFile2 *file2;
            IBackgroundCopyFile *file;

            IBackgroundCopyJob_AddFile(job, url, local);
            IBackgroundCopyJob_Resume(job);
            if (wait_bytes(job, 16 * KIB, "the first run"))
            {
                IBackgroundCopyJob_Suspend(job);
                make_url(url, ARRAY_SIZE(url), httpd, "/hostile-short.bin?nolength=1&close_after=20000");
                if ((file = get_file(job, 0)))
                {
                    if ((file2 = query(file, &IID_IBackgroundCopyFile2, "IBackgroundCopyFile2", TRUE)))
                    {
                        IBackgroundCopyFile2_SetRemoteName(file2, url);
                        IBackgroundCopyFile2_Release(file2);
                    }
                    IBackgroundCopyFile_Release(file);
                }
                IBackgroundCopyJob_Resume(job);
                state = wait_state(job, BG_JOB_STATE_TRANSIENT_ERROR, "a resumed body short of the size");
                ok(job_bytes(job) < size, "%llu bytes\n", job_bytes(job));
                ok(!file_exists(local), "the local file exists\n");
            }
            finish_job(job);
        }
        winetest_pop_context();
    }
    remove_subdir(dir);
}

/* ------------------------------------------------------------------ 5. races */

/* Suspend and Resume on a transferring job, many times: the new run never
 * trips over the old one (its temp file, its socket). */
static void test_suspend_resume_race(void)
{
    static const UINT64 size = 4 * MIB;
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    IBackgroundCopyFile2 *file2;
    IBackgroundCopyFile *file;
    IBackgroundCopyJob *job;
    unsigned int cycle, errors = 0, stuck = 0;
    BG_JOB_STATE state;
    UINT64 before, now;
    ULONGLONG start;
    HRESULT hr, code = S_OK;

    make_subdir(dir, ARRAY_SIZE(dir), L"race");
    path_in(local, ARRAY_SIZE(local), dir, L"race.bin");
    httpd_add_generated(httpd, "hostile-race.bin", size);
    /* every run gets 1000 bytes and then waits: each cycle makes progress, and
     * however long it takes the file never finishes during the cycles */
    make_url(url, ARRAY_SIZE(url), httpd, "/hostile-race.bin?stall_after=1000");
    if (!(job = hostile_job(L"hostile-race", NATIVE))) return;
    IBackgroundCopyJob_AddFile(job, url, local);

    for (cycle = 0; cycle < 1000 && errors + stuck < 5; cycle++)
    {
        before = job_bytes(job);
        hr = IBackgroundCopyJob_Resume(job);
        if (hr != S_OK) errors++;
        /* the new run has opened its temp file and written to it */
        start = GetTickCount64();
        for (;;)
        {
            now = job_bytes(job);
            state = get_state(job);
            if (now > before || state == BG_JOB_STATE_ERROR || state == BG_JOB_STATE_TRANSIENT_ERROR) break;
            if (GetTickCount64() - start > WAIT_MS)
            {
                stuck++;
                break;
            }
            Sleep(1);
        }
        if (state == BG_JOB_STATE_ERROR || state == BG_JOB_STATE_TRANSIENT_ERROR)
        {
            get_job_error(job, NULL, &code);
            if (errors < 3) trace("cycle %u: %s, error %#lx\n", cycle, state_name(state), code);
            errors++;
        }
        hr = IBackgroundCopyJob_Suspend(job);
        if (hr != S_OK) errors++;
    }
    ok(!errors && !stuck, "%u errors (last %#lx) and %u stuck runs in %u Suspend/Resume cycles\n", errors, code,
       stuck, cycle);
    trace("%u cycles, %llu bytes\n", cycle, job_bytes(job));

    /* and the bytes of all those runs make the right file */
    make_url(url, ARRAY_SIZE(url), httpd, "/hostile-race.bin");
    if ((file = get_file(job, 0)))
    {
        if ((file2 = query(file, &IID_IBackgroundCopyFile2, "IBackgroundCopyFile2", TRUE)))
        {
            IBackgroundCopyFile2_SetRemoteName(file2, url);
            IBackgroundCopyFile2_Release(file2);
        }
        IBackgroundCopyFile_Release(file);
    }
    IBackgroundCopyJob_Resume(job);
    if (wait_state(job, BG_JOB_STATE_TRANSFERRED, "after the cycles") == BG_JOB_STATE_TRANSFERRED)
    {
        IBackgroundCopyJob_Complete(job);
        check_pattern(local, "hostile-race.bin", size, 0, NULL);
    }
    finish_job(job);
    remove_subdir(dir);
}

/* Cancel in the middle of a transfer leaves no temp file, neither when it
 * returns nor once the worker let go of the server. */
static void test_cancel_race(void)
{
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    struct httpd *server;
    IBackgroundCopyJob *job;
    unsigned int i, left = 0, later = 0;
    ULONGLONG start;

    if (!(server = httpd_start()))
    {
        ok(0, "cannot start a second loopback server\n");
        return;
    }
    make_subdir(dir, ARRAY_SIZE(dir), L"cancel");
    httpd_add_generated(server, "hostile-cancel.bin", 64 * MIB);
    swprintf(url, ARRAY_SIZE(url), L"http://127.0.0.1:%u/hostile-cancel.bin?rate=4194304", httpd_port(server));
    for (i = 0; i < 20; i++)
    {
        swprintf(local, ARRAY_SIZE(local), L"%s\\cancel-%u.bin", dir, i);
        if (!(job = hostile_job(L"hostile-cancel", NATIVE))) break;
        IBackgroundCopyJob_AddFile(job, url, local);
        IBackgroundCopyJob_Resume(job);
        /* at a different point of the transfer each time */
        if (i % 2) wait_bytes(job, (i / 2) * 32 * KIB, "before Cancel");
        IBackgroundCopyJob_Cancel(job);
        left += temp_files(dir);
        IBackgroundCopyJob_Release(job);

        /* the worker closes its socket last: once the server saw every
         * connection go, no worker of ours can still create a file */
        start = GetTickCount64();
        while (httpd_open_connections(server) && GetTickCount64() - start < WAIT_MS) Sleep(5);
        ok(!httpd_open_connections(server), "connections still open %llu ms after Cancel\n", GetTickCount64() - start);
        later += temp_files(dir);
    }
    ok(!left, "%u temp files right after Cancel\n", left);
    ok(!later, "%u temp files once the workers were gone\n", later);
    httpd_stop(server);
    remove_subdir(dir);
}

/* ------------------------------------------------------------------ 6. Complete and local names */

/* What keeps a finished temp file from its name. */
enum obstacle
{
    OBSTACLE_DIRECTORY,
    OBSTACLE_READONLY,
    OBSTACLE_OPEN,
};

static HANDLE put_obstacle(enum obstacle obstacle, const WCHAR *path)
{
    HANDLE handle;
    DWORD written;

    switch (obstacle)
    {
    case OBSTACLE_DIRECTORY:
        CreateDirectoryW(path, NULL);
        return NULL;
    case OBSTACLE_READONLY:
        handle = CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_READONLY, NULL);
        WriteFile(handle, "old", 3, &written, NULL);
        CloseHandle(handle);
        return NULL;
    case OBSTACLE_OPEN:
        /* no FILE_SHARE_DELETE: nobody may replace it while we hold it */
        handle = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ, NULL, CREATE_ALWAYS, 0, NULL);
        ok(handle != INVALID_HANDLE_VALUE, "cannot create %ls: %lu\n", path, GetLastError());
        return handle;
    }
    return NULL;
}

static void remove_obstacle(enum obstacle obstacle, const WCHAR *path, HANDLE handle)
{
    switch (obstacle)
    {
    case OBSTACLE_DIRECTORY:
        RemoveDirectoryW(path);
        break;
    case OBSTACLE_READONLY:
        SetFileAttributesW(path, FILE_ATTRIBUTE_NORMAL);
        break;
    case OBSTACLE_OPEN:
        CloseHandle(handle);
        break;
    }
}

/* Complete that cannot rename keeps the job TRANSFERRED, the bytes and the
 * error; once the obstacle is gone, Complete succeeds. */
static void test_complete_fails(void)
{
    static const char *const names[] = { "a directory", "a read-only file", "a file held open" };
    static const UINT64 size = 256 * KIB;
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256], temp[MAX_PATH];
    IBackgroundCopyJob *job;
    BG_ERROR_CONTEXT context;
    enum obstacle obstacle;
    HANDLE handle;
    HRESULT hr, code;

    make_subdir(dir, ARRAY_SIZE(dir), L"complete");
    path_in(local, ARRAY_SIZE(local), dir, L"complete.bin");
    httpd_add_generated(httpd, "hostile-complete.bin", size);
    make_url(url, ARRAY_SIZE(url), httpd, "/hostile-complete.bin");

    for (obstacle = OBSTACLE_DIRECTORY; obstacle <= OBSTACLE_OPEN; obstacle++)
    {
        winetest_push_context("%s", names[obstacle]);
        if (!(job = hostile_job(L"hostile-complete", NATIVE)))
        {
            winetest_pop_context();
            continue;
        }
        IBackgroundCopyJob_AddFile(job, url, local);
        IBackgroundCopyJob_Resume(job);
        if (wait_state(job, BG_JOB_STATE_TRANSFERRED, "the download") != BG_JOB_STATE_TRANSFERRED)
        {
            finish_job(job);
            winetest_pop_context();
            continue;
        }
        temp_name(job, temp, ARRAY_SIZE(temp));
        handle = put_obstacle(obstacle, local);
        hr = IBackgroundCopyJob_Complete(job);
        ok(FAILED(hr), "Complete with %s in the way: %#lx\n", names[obstacle], hr);
        trace("Complete with %s in the way: %#lx\n", names[obstacle], hr);
        ok(get_state(job) == BG_JOB_STATE_TRANSFERRED, "after a failed Complete: %s, expected TRANSFERRED\n",
           state_name(get_state(job)));
        ok(file_size(temp) == size, "the temp file %ls holds %llu bytes\n", temp, file_size(temp));
        hr = get_job_error(job, &context, &code);
        ok(hr == S_OK && FAILED(code) && context == BG_ERROR_CONTEXT_LOCAL_FILE,
           "GetError after a failed Complete: %#lx, error %#lx, context %d [inferred]\n", hr, code, context);

        remove_obstacle(obstacle, local, handle);
        hr = IBackgroundCopyJob_Complete(job);
        ok(hr == S_OK, "Complete once the obstacle is gone: %#lx\n", hr);
        ok(get_state(job) == BG_JOB_STATE_ACKNOWLEDGED, "after Complete: %s\n", state_name(get_state(job)));
        check_pattern(local, "hostile-complete.bin", size, 0, NULL);
        ok(!temp_files(dir), "%u temp files after Complete\n", temp_files(dir));
        finish_job(job);
        DeleteFileW(local);
        winetest_pop_context();
    }
    remove_subdir(dir);
}

/* IDODownload::Finalize: the same. */
static void test_finalize_fails(void)
{
    static const UINT64 size = 128 * KIB;
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    DO_DOWNLOAD_RANGES_INFO whole;
    DO_DOWNLOAD_STATUS status;
    IDODownload *download;
    ULONGLONG start;
    HRESULT hr;

    if (!do_manager) return;
    make_subdir(dir, ARRAY_SIZE(dir), L"finalize");
    path_in(local, ARRAY_SIZE(local), dir, L"finalize.bin");
    httpd_add_generated(httpd, "hostile-finalize.bin", size);
    make_url(url, ARRAY_SIZE(url), httpd, "/hostile-finalize.bin");
    if (!(download = create_download(do_manager))) return;
    set_bstr(download, DODownloadProperty_Uri, url);
    hr = set_bstr(download, DODownloadProperty_LocalPath, local);
    ok(hr == S_OK, "SetProperty(LocalPath): %#lx\n", hr);
    memset(&whole, 0, sizeof(whole));
    hr = IDODownload_Start(download, &whole);
    ok(hr == S_OK, "Start: %#lx\n", hr);
    start = GetTickCount64();
    do
    {
        get_dl_status(download, &status);
        if (status.State != DODownloadState_Transferring) break;
        Sleep(5);
    } while (GetTickCount64() - start < WAIT_MS);
    ok(status.State == DODownloadState_Transferred, "state %s, error %#lx\n", dl_state_name(status.State),
       status.Error);
    if (status.State == DODownloadState_Transferred)
    {
        CreateDirectoryW(local, NULL);
        hr = IDODownload_Finalize(download);
        ok(FAILED(hr), "Finalize with a directory in the way: %#lx\n", hr);
        get_dl_status(download, &status);
        ok(status.State == DODownloadState_Transferred, "after a failed Finalize: %s\n", dl_state_name(status.State));
        ok(status.ExtendedError == hr, "ExtendedError %#lx, expected the Finalize error %#lx [inferred]\n",
           status.ExtendedError, hr);
        ok(temp_files(dir) == 1, "%u temp files after a failed Finalize\n", temp_files(dir));
        RemoveDirectoryW(local);
        hr = IDODownload_Finalize(download);
        ok(hr == S_OK, "Finalize once the directory is gone: %#lx\n", hr);
        get_dl_status(download, &status);
        ok(status.State == DODownloadState_Finalized && status.ExtendedError == S_OK,
           "after Finalize: %s, extended error %#lx\n", dl_state_name(status.State), status.ExtendedError);
        check_pattern(local, "hostile-finalize.bin", size, 0, NULL);
    }
    finish_download(download);
    remove_subdir(dir);
}

/* A device name is no place for a download, whatever its case or extension. */
static void test_device_names(void)
{
    static const WCHAR *const devices[] =
    {
        L"nul", L"NUL.txt", L"con", L"Con.bin", L"aux", L"AUX.tar.gz", L"prn", L"PRN.log",
        L"com1", L"COM9.txt", L"lpt1", L"Lpt9.bin", L"nul ", L"nul .txt", L"conin$", L"CONOUT$",
    };
    static const WCHAR *const fine[] = { L"nullx.txt", L"com10", L"lpt", L"console.txt", L"auxiliary", L"com0" };
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256];
    IDeliveryOptimizationFile2 *file2;
    IDeliveryOptimizationJob2 *job2;
    IBackgroundCopyJob *job;
    IDODownload *download;
    unsigned int i;
    VARIANT v;
    HRESULT hr;

    make_subdir(dir, ARRAY_SIZE(dir), L"devices");
    make_url(url, ARRAY_SIZE(url), httpd, "/hostile-ok.bin");
    if (!(job = new_job(manager, L"hostile-devices", NULL))) return;
    job2 = query(job, &IID_IDeliveryOptimizationJob2, "IDeliveryOptimizationJob2", FALSE);
    file2 = NULL;
    if (job2)
    {
        hr = IDeliveryOptimizationJob2_AddFile(job2, L"sink", url, 0, NULL, &IID_IDeliveryOptimizationFile2,
                                               (void **)&file2);
        ok(hr == S_OK, "IDeliveryOptimizationJob2::AddFile: %#lx\n", hr);
        if (FAILED(hr)) file2 = NULL;
    }
    download = do_manager ? create_download(do_manager) : NULL;

    for (i = 0; i < ARRAY_SIZE(devices); i++)
    {
        winetest_push_context("%ls", devices[i]);
        path_in(local, ARRAY_SIZE(local), dir, devices[i]);
        hr = IBackgroundCopyJob_AddFile(job, url, local);
        ok(hr == E_INVALIDARG, "AddFile: %#lx [inferred]\n", hr);
        hr = add_file(job, url, local, 0, NULL);
        ok(hr == E_INVALIDARG, "AddFileWithRanges: %#lx [inferred]\n", hr);
        if (file2)
        {
            V_VT(&v) = VT_BSTR;
            V_BSTR(&v) = SysAllocString(local);
            hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_DownloadSinkFilePath, &v);
            ok(hr == E_INVALIDARG, "SetProperty(DownloadSinkFilePath): %#lx [inferred]\n", hr);
            VariantClear(&v);
        }
        if (download)
        {
            hr = set_bstr(download, DODownloadProperty_LocalPath, local);
            ok(hr == E_INVALIDARG, "SetProperty(LocalPath): %#lx [inferred]\n", hr);
        }
        winetest_pop_context();
    }
    for (i = 0; i < ARRAY_SIZE(fine); i++)
    {
        path_in(local, ARRAY_SIZE(local), dir, fine[i]);
        hr = IBackgroundCopyJob_AddFile(job, url, local);
        ok(hr == S_OK, "AddFile(%ls): %#lx\n", fine[i], hr);
    }
    if (file2) IDeliveryOptimizationFile2_Release(file2);
    if (job2) IDeliveryOptimizationJob2_Release(job2);
    finish_job(job);
    finish_download(download);
    remove_subdir(dir);
}

START_TEST(hostile)
{
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
    ok(hr == S_OK, "cannot create the DO manager with IID_IDOManager: %#lx\n", hr);
    if (FAILED(hr)) do_manager = NULL;
    if (!(httpd = httpd_start()))
    {
        ok(0, "cannot start the loopback HTTP server\n");
        IBackgroundCopyManager_Release(manager);
        CoUninitialize();
        return;
    }
    swprintf(proxy, ARRAY_SIZE(proxy), L"127.0.0.1:%u", httpd_port(httpd));

    test_url_entry_points();
    test_url_encoding();
    test_bad_location();
    test_header_validation();
    test_header_wire();
    test_version_whole();
    test_version_ranged();
    test_version_stream();
    test_short_bodies();
    test_suspend_resume_race();
    test_cancel_race();
    test_complete_fails();
    test_finalize_fails();
    test_device_names();

    httpd_stop(httpd);
    if (do_manager) IDOManager_Release(do_manager);
    IBackgroundCopyManager_Release(manager);
    remove_test_dir();
    CoUninitialize();
}
