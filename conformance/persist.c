/*
 * Durable jobs: what survives a killed service, a stopped one and a Wine
 * session that ends
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
 * Run without arguments this checks, inside one service lifetime, that
 * records follow jobs.  The rest needs a service that dies and comes back,
 * which one process cannot arrange (a killed service poisons COM
 * activation until the session ends), so tools/persist-tests runs it in
 * phases, "dosvc_test.exe persist PHASE", with the session killed,
 * restarted or left to end between them:
 *
 *   setup     creates jobs of every kind, kills the service mid-transfer
 *   resume    after wineserver -k and a changed server: every job is back
 *   restart   after sc stop / sc start: still all there
 *   expired   after sc stop, a 31-day clock offset and sc start: all gone
 *   serve     a loopback server that is a Wine system process, so it does
 *             not keep the session up itself (for the keepalive test)
 *   ka-start  starts a slow download from "serve" and exits at once
 *   ka-check  in the next session: the download finished meanwhile
 *   many N    creates N suspended jobs (for timing the service start)
 *   taint F   while the service is down: puts a CR into the URL of record F
 *             (checksums fixed), the way a stranger could edit a record
 *   crash     kills the service mid-transfer inside the session: it comes
 *             back by itself (dosvc-monitor.exe), a new activation works
 *             and the job completes, byte for byte
 *
 * Phases share C:\dosvc-persist\state.txt ("key value" lines).  Checks the
 * DO documentation does not decide say "[inferred]" (docs/gaps.md).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "dotest.h"
#include <tlhelp32.h>

#define KIB 1024
#define MIB (1024 * 1024)

#define BIG_SIZE     (256ull * MIB)
#define BIG_RATE     (32 * MIB)           /* bytes per second: 8 s for the whole file */
#define SLOW_SIZE    (16ull * MIB)
#define SLOW_RATE    (2 * MIB)
#define SMALL_SIZE   (1ull * MIB)
#define CHANGED_SIZE (SLOW_SIZE + 4096)   /* a new size gives a new ETag */
#define MANY_JOBS    1000
/* the service's largest read (engine.c READ_BUFFER_SIZE) */
#define READ_BUFFER  (1 * MIB)
/* the loopback server sends a rate-limited body in bursts of 50 ms worth */
#define BIG_BURST    (BIG_RATE / 20)
/* what the two ends' socket buffers may hold at the kill: Linux grows a TCP
 * send buffer up to 4 MiB, and how full they are depends on how far the
 * service's reader lags, i.e. on the machine's load */
#define SOCKET_SLACK (8 * MIB)

#define ROOT        L"C:\\dosvc-persist"
#define STATE_FILE  ROOT L"\\state.txt"
#define MANY_FILE   ROOT L"\\many.txt"
#define SERVE_FILE  ROOT L"\\serve.txt"
#define PARAMETERS  L"System\\CurrentControlSet\\Services\\DoSvc\\Parameters"

#ifndef BITS_COST_STATE_UNRESTRICTED
#define BITS_COST_STATE_UNRESTRICTED 0x1
#endif
#ifndef BG_SSL_IGNORE_UNKNOWN_CA
#define BG_SSL_IGNORE_UNKNOWN_CA 0x0008
#endif

static IBackgroundCopyManager *manager;

/* Wine 8's rpcrt4 can hang the service for good when the last proxy of an
 * interface is released right after a call on it (RpcServerUnregisterIf
 * waits for a call count whose last decrement it missed).  Loops of
 * create, call, release do that once per turn; holding one proxy of each
 * interface through such a loop keeps the interface registered. */
static IBackgroundCopyJob *anchor;
static IDeliveryOptimizationJob *anchor_do;

static void hold_anchor(IBackgroundCopyJob *job)
{
    if (!job || anchor) return;
    IBackgroundCopyJob_AddRef(job);
    anchor = job;
    if (FAILED(IBackgroundCopyJob_QueryInterface(job, &IID_IDeliveryOptimizationJob, (void **)&anchor_do)))
        anchor_do = NULL;
}

static void drop_anchor(void)
{
    if (anchor_do) IDeliveryOptimizationJob_Release(anchor_do);
    if (anchor) IBackgroundCopyJob_Release(anchor);
    anchor_do = NULL;
    anchor = NULL;
}

/* ------------------------------------------------------------------ state file */

static char state_text[64 * KIB];

static void state_load(void)
{
    FILE *f = _wfopen(STATE_FILE, L"rb");
    size_t n = 0;

    if (f)
    {
        n = fread(state_text, 1, sizeof(state_text) - 1, f);
        fclose(f);
    }
    state_text[n] = 0;
}

static void state_add(const char *key, const char *fmt, ...)
{
    size_t len = strlen(state_text);
    va_list args;

    snprintf(state_text + len, sizeof(state_text) - len, "%s ", key);
    len = strlen(state_text);
    va_start(args, fmt);
    vsnprintf(state_text + len, sizeof(state_text) - len, fmt, args);
    va_end(args);
    len = strlen(state_text);
    snprintf(state_text + len, sizeof(state_text) - len, "\n");
}

static void state_save(void)
{
    FILE *f = _wfopen(STATE_FILE, L"wb");

    ok(f != NULL, "cannot write the state file\n");
    if (!f) return;
    fputs(state_text, f);
    fclose(f);
}

/* the value of "key value", or "" */
static const char *state_get(const char *key)
{
    static char value[512];
    size_t len = strlen(key);
    const char *p = state_text;

    value[0] = 0;
    while (*p)
    {
        const char *eol = strchr(p, '\n');
        size_t line = eol ? (size_t)(eol - p) : strlen(p);

        if (line > len && !strncmp(p, key, len) && p[len] == ' ')
        {
            size_t n = min(line - len - 1, sizeof(value) - 1);
            memcpy(value, p + len + 1, n);
            value[n] = 0;
            break;
        }
        p += line + (eol ? 1 : 0);
    }
    return value;
}

static unsigned long long state_u64(const char *key)
{
    return _strtoui64(state_get(key), NULL, 0);
}

static void add_guid(const char *key, const GUID *id)
{
    WCHAR str[40];

    StringFromGUID2(id, str, ARRAY_SIZE(str));
    state_add(key, "%ls", str);
}

static BOOL get_guid(const char *key, GUID *id)
{
    WCHAR str[40];

    swprintf(str, ARRAY_SIZE(str), L"%S", state_get(key));
    return SUCCEEDED(CLSIDFromString(str, id));
}

/* ------------------------------------------------------------------ helpers */

static void delete_tree(const WCHAR *dir)
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
            if (data.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) delete_tree(path);
            else DeleteFileW(path);
        } while (FindNextFileW(find, &data));
        FindClose(find);
    }
    RemoveDirectoryW(dir);
}

static void sub_path(WCHAR *buf, const WCHAR *sub, const WCHAR *name)
{
    swprintf(buf, MAX_PATH, L"%s\\%s%s%s", ROOT, sub, name ? L"\\" : L"", name ? name : L"");
}

/* Where the service keeps its records: %ProgramData% as the registry says. */
static void store_dir(WCHAR *dir)
{
    WCHAR value[MAX_PATH];
    DWORD size = sizeof(value);

    if (RegGetValueW(HKEY_LOCAL_MACHINE, L"Software\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList",
                     L"ProgramData", RRF_RT_REG_SZ | RRF_RT_REG_EXPAND_SZ | RRF_NOEXPAND, NULL, value, &size) ||
        !ExpandEnvironmentStringsW(value, dir, MAX_PATH))
        lstrcpyW(dir, L"C:\\ProgramData");
    lstrcatW(dir, L"\\wine-dosvc\\jobs");
}

static BOOL record_exists(const GUID *id)
{
    WCHAR path[MAX_PATH], guid[40];

    store_dir(path);
    StringFromGUID2(id, guid, ARRAY_SIZE(guid));
    lstrcatW(path, L"\\");
    lstrcatW(path, guid);
    lstrcatW(path, L".job");
    return file_exists(path);
}

static BOOL wait_record(const GUID *id, BOOL exists, DWORD timeout)
{
    ULONGLONG end = GetTickCount64() + hang_bound(timeout);

    while (record_exists(id) != exists)
    {
        if (GetTickCount64() > end) return FALSE;
        Sleep(10);
    }
    return TRUE;
}

static IBackgroundCopyJob *get_job(const GUID *id, HRESULT *hr)
{
    IBackgroundCopyJob *job = NULL;

    *hr = IBackgroundCopyManager_GetJob(manager, id, &job);
    return SUCCEEDED(*hr) ? job : NULL;
}

static UINT64 bytes_done(IBackgroundCopyJob *job)
{
    BG_JOB_PROGRESS progress = { 0 };

    IBackgroundCopyJob_GetProgress(job, &progress);
    return progress.BytesTransferred;
}

/* Polls until the job is in one of the states (a bit mask); returns the last one seen. */
static BG_JOB_STATE wait_states(IBackgroundCopyJob *job, unsigned int states, DWORD timeout)
{
    ULONGLONG end = GetTickCount64() + hang_bound(timeout);
    BG_JOB_STATE state = BG_JOB_STATE_CANCELLED;

    for (;;)
    {
        if (FAILED(IBackgroundCopyJob_GetState(job, &state))) return state;
        if ((states & (1u << state)) || GetTickCount64() >= end) return state;
        Sleep(10);
    }
}
#define BIT(state) (1u << (state))

static HRESULT error_of(IBackgroundCopyJob *job, BG_ERROR_CONTEXT *context, IBackgroundCopyFile **file)
{
    IBackgroundCopyError *error;
    HRESULT hr, code = S_OK;

    if (file) *file = NULL;
    if (FAILED(hr = IBackgroundCopyJob_GetError(job, &error))) return hr;
    IBackgroundCopyError_GetError(error, context, &code);
    if (file && FAILED(IBackgroundCopyError_GetFile(error, file))) *file = NULL;
    IBackgroundCopyError_Release(error);
    return code;
}

static IBackgroundCopyJob *named_job(const WCHAR *name, GUID *id)
{
    IBackgroundCopyJob *job = NULL;
    HRESULT hr;

    hr = IBackgroundCopyManager_CreateJob(manager, name, BG_JOB_TYPE_DOWNLOAD, id, &job);
    ok(hr == S_OK, "CreateJob(%ls): %#lx\n", name, hr);
    return job;
}

/* A job with one file of the server, local name in its own directory. */
static IBackgroundCopyJob *file_job(const WCHAR *name, struct httpd *server, const char *path, const WCHAR *sub,
                                    DWORD range_count, BG_FILE_RANGE *ranges, GUID *id)
{
    IBackgroundCopyJob *job = named_job(name, id);
    WCHAR url[256], local[MAX_PATH];
    HRESULT hr;

    if (!job) return NULL;
    sub_path(local, sub, NULL);
    CreateDirectoryW(local, NULL);
    sub_path(local, sub, L"file.bin");
    make_url(url, ARRAY_SIZE(url), server, path);
    hr = add_file(job, url, local, range_count, ranges);
    ok(hr == S_OK, "AddFile(%ls): %#lx\n", url, hr);
    return job;
}

static BOOL complete_and_check(IBackgroundCopyJob *job, const WCHAR *sub, const char *resource, UINT64 size,
                               DWORD range_count, const BG_FILE_RANGE *ranges)
{
    WCHAR local[MAX_PATH];
    UINT64 bad = 0;
    BOOL match;
    HRESULT hr;

    hr = IBackgroundCopyJob_Complete(job);
    ok(hr == S_OK, "%ls: Complete: %#lx\n", sub, hr);
    sub_path(local, sub, L"file.bin");
    match = file_matches_pattern(local, resource, size, range_count, ranges, &bad);
    ok(match, "%ls: the file differs from the server's at byte %I64u\n", sub, bad);
    return match;
}

/* The pid of DoSvc's svchost, or 0. */
static DWORD service_pid(void)
{
    SERVICE_STATUS_PROCESS status;
    SC_HANDLE scm, service;
    DWORD size, pid = 0;

    if (!(scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT))) return 0;
    if ((service = OpenServiceW(scm, L"DoSvc", SERVICE_QUERY_STATUS)))
    {
        if (QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, (BYTE *)&status, sizeof(status), &size) &&
            status.dwCurrentState == SERVICE_RUNNING)
            pid = status.dwProcessId;
        CloseServiceHandle(service);
    }
    CloseServiceHandle(scm);
    return pid;
}

/* Kill the service as a crash or the session's end does: no notice. */
static BOOL kill_service(void)
{
    DWORD pid = service_pid();
    HANDLE process;
    BOOL ret;

    ok(pid != 0, "DoSvc is not running\n");
    if (!pid || !(process = OpenProcess(PROCESS_TERMINATE | SYNCHRONIZE, FALSE, pid))) return FALSE;
    ret = TerminateProcess(process, 1);
    ok(ret, "TerminateProcess: %lu\n", GetLastError());
    WaitForSingleObject(process, 5000);
    CloseHandle(process);
    return ret;
}

/* dosvc-monitor.exe brings a killed service back at once.  The setup
 * phase stands for a session that ends, where everything dies together,
 * so there the monitor goes first. */
static void kill_monitor(void)
{
    PROCESSENTRY32W entry = { sizeof(entry) };
    HANDLE snapshot, process;

    if ((snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0)) == INVALID_HANDLE_VALUE) return;
    if (Process32FirstW(snapshot, &entry))
    {
        do
        {
            if (_wcsicmp(entry.szExeFile, L"dosvc-monitor.exe")) continue;
            if (!(process = OpenProcess(PROCESS_TERMINATE | SYNCHRONIZE, FALSE, entry.th32ProcessID))) continue;
            TerminateProcess(process, 1);
            WaitForSingleObject(process, 5000);
            CloseHandle(process);
        } while (Process32NextW(snapshot, &entry));
    }
    CloseHandle(snapshot);
}

static void set_clock_offset(DWORD hours)
{
    HKEY key;

    if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, PARAMETERS, 0, KEY_SET_VALUE, &key)) return;
    if (hours) RegSetValueExW(key, L"TestClockOffsetHours", 0, REG_DWORD, (const BYTE *)&hours, sizeof(hours));
    else RegDeleteValueW(key, L"TestClockOffsetHours");
    RegCloseKey(key);
}

static unsigned int count_records(void)
{
    WCHAR dir[MAX_PATH];

    store_dir(dir);
    return count_files(dir, L"*.job");
}

/* ------------------------------------------------------------------ IDODownload */

static IDOManager *get_do_manager(void)
{
    IDOManager *dom = NULL;
    HRESULT hr;

    hr = IBackgroundCopyManager_QueryInterface(manager, &IID_IDOManager, (void **)&dom);
    ok(hr == S_OK, "QueryInterface(IDOManager): %#lx\n", hr);
    return dom;
}

static HRESULT dl_set(IDODownload *download, DODownloadProperty id, VARTYPE vt, const WCHAR *str, BOOL b)
{
    VARIANT v;
    HRESULT hr;

    VariantInit(&v);
    V_VT(&v) = vt;
    if (vt == VT_BSTR) V_BSTR(&v) = SysAllocString(str);
    else V_BOOL(&v) = b ? VARIANT_TRUE : VARIANT_FALSE;
    hr = IDODownload_SetProperty(download, id, &v);
    VariantClear(&v);
    return hr;
}

static IDODownload *find_download(IDOManager *dom, const char *key, HRESULT *hr)
{
    DO_DOWNLOAD_ENUM_CATEGORY category;
    IDODownload *download = NULL;
    IEnumUnknown *enumerator;
    IUnknown *unk = NULL;
    WCHAR id[64];
    ULONG fetched;

    swprintf(id, ARRAY_SIZE(id), L"%S", state_get(key));
    category.Property = DODownloadProperty_Id;
    category.Value = id;
    if (FAILED(*hr = IDOManager_EnumDownloads(dom, &category, &enumerator))) return NULL;
    if (IEnumUnknown_Next(enumerator, 1, &unk, &fetched) == S_OK && unk)
    {
        *hr = IUnknown_QueryInterface(unk, &IID_IDODownload, (void **)&download);
        IUnknown_Release(unk);
    }
    else *hr = DO_E_NO_DOWNLOADS;
    IEnumUnknown_Release(enumerator);
    return download;
}

static DO_DOWNLOAD_STATUS dl_status(IDODownload *download)
{
    DO_DOWNLOAD_STATUS status;

    memset(&status, 0, sizeof(status));
    if (FAILED(IDODownload_GetStatus(download, &status))) status.State = (DODownloadState)-1;
    return status;
}

static void add_download_id(const char *key, IDODownload *download)
{
    VARIANT v;

    VariantInit(&v);
    if (SUCCEEDED(IDODownload_GetProperty(download, DODownloadProperty_Id, &v)) && V_VT(&v) == VT_BSTR)
        state_add(key, "%ls", V_BSTR(&v));
    VariantClear(&v);
}

/* ------------------------------------------------------------------ a callback that must not survive */

static HRESULT WINAPI cb_QueryInterface(IBackgroundCopyCallback *iface, REFIID riid, void **out)
{
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyCallback))
    {
        *out = iface;
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI cb_AddRef(IBackgroundCopyCallback *iface) { return 2; }
static ULONG WINAPI cb_Release(IBackgroundCopyCallback *iface) { return 1; }
static HRESULT WINAPI cb_JobTransferred(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job) { return S_OK; }
static HRESULT WINAPI cb_JobError(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job,
                                  IBackgroundCopyError *error) { return S_OK; }
static HRESULT WINAPI cb_JobModification(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job,
                                         DWORD reserved) { return S_OK; }

static IBackgroundCopyCallbackVtbl cb_vtbl =
{
    cb_QueryInterface, cb_AddRef, cb_Release, cb_JobTransferred, cb_JobError, cb_JobModification,
};
static IBackgroundCopyCallback callback = { &cb_vtbl };

/* ------------------------------------------------------------------ the job with every property */

static const GUID notify_clsid = { 0x1a2b3c4d, 0x5e6f, 0x4071, { 0x82, 0x93, 0xa4, 0xb5, 0xc6, 0xd7, 0xe8, 0xf9 } };
static BG_FILE_RANGE props_ranges[] = { { 100, 200 }, { 4096, BG_LENGTH_TO_EOF } };

static void set_properties(IBackgroundCopyJob *job, struct httpd *server)
{
    IBackgroundCopyJobHttpOptions *http;
    IBackgroundCopyJob5 *job5;
    BITS_JOB_PROPERTY_VALUE value;
    BG_AUTH_CREDENTIALS cred;
    WCHAR url[256], local[MAX_PATH];
    HRESULT hr;

    hr = IBackgroundCopyJob_SetDescription(job, L"kept across restarts");
    ok(hr == S_OK, "SetDescription: %#lx\n", hr);
    hr = IBackgroundCopyJob_SetPriority(job, BG_JOB_PRIORITY_LOW);
    ok(hr == S_OK, "SetPriority: %#lx\n", hr);
    hr = IBackgroundCopyJob_SetNotifyFlags(job, BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_MODIFICATION);
    ok(hr == S_OK, "SetNotifyFlags: %#lx\n", hr);
    hr = IBackgroundCopyJob_SetNotifyInterface(job, (IUnknown *)&callback);
    ok(hr == S_OK, "SetNotifyInterface: %#lx\n", hr);
    hr = IBackgroundCopyJob_SetMinimumRetryDelay(job, 123);
    ok(hr == S_OK, "SetMinimumRetryDelay: %#lx\n", hr);
    hr = IBackgroundCopyJob_SetNoProgressTimeout(job, 4567);
    ok(hr == S_OK, "SetNoProgressTimeout: %#lx\n", hr);
    hr = IBackgroundCopyJob_SetProxySettings(job, BG_JOB_PROXY_USAGE_OVERRIDE, L"proxy.invalid:8080", L"<local>");
    ok(hr == S_OK, "SetProxySettings: %#lx\n", hr);

    hr = IBackgroundCopyJob_QueryInterface(job, &IID_IBackgroundCopyJobHttpOptions, (void **)&http);
    ok(hr == S_OK, "QueryInterface(IBackgroundCopyJobHttpOptions): %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        hr = IBackgroundCopyJobHttpOptions_SetCustomHeaders(http, L"X-Persist: yes");
        ok(hr == S_OK, "SetCustomHeaders: %#lx\n", hr);
        hr = IBackgroundCopyJobHttpOptions_SetSecurityFlags(http, BG_SSL_IGNORE_UNKNOWN_CA);
        ok(hr == S_OK, "SetSecurityFlags: %#lx\n", hr);
        IBackgroundCopyJobHttpOptions_Release(http);
    }
    hr = IBackgroundCopyJob_QueryInterface(job, &IID_IBackgroundCopyJob5, (void **)&job5);
    ok(hr == S_OK, "QueryInterface(IBackgroundCopyJob5): %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        memset(&value, 0, sizeof(value));
        value.Dword = BITS_COST_STATE_UNRESTRICTED;
        hr = IBackgroundCopyJob5_SetProperty(job5, BITS_JOB_PROPERTY_ID_COST_FLAGS, value);
        ok(hr == S_OK, "SetProperty(COST_FLAGS): %#lx\n", hr);
        memset(&value, 0, sizeof(value));
        value.ClsID = notify_clsid;
        hr = IBackgroundCopyJob5_SetProperty(job5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, value);
        ok(hr == S_OK, "SetProperty(NOTIFICATION_CLSID): %#lx\n", hr);
        memset(&cred, 0, sizeof(cred));
        cred.Target = BG_AUTH_TARGET_SERVER;
        cred.Scheme = BG_AUTH_SCHEME_BASIC;
        cred.Credentials.Basic.UserName = (WCHAR *)L"persist-user";
        cred.Credentials.Basic.Password = (WCHAR *)L"persist-secret";
        hr = IBackgroundCopyJob5_SetCredentials(job5, &cred);
        ok(hr == S_OK, "SetCredentials: %#lx\n", hr);
        IBackgroundCopyJob5_Release(job5);
    }

    /* a second file, ranged */
    make_url(url, ARRAY_SIZE(url), server, "/persist-small?second");
    sub_path(local, L"props", L"second.bin");
    hr = add_file(job, url, local, ARRAY_SIZE(props_ranges), props_ranges);
    ok(hr == S_OK, "AddFile(ranged): %#lx\n", hr);
}

static void check_properties(IBackgroundCopyJob *job)
{
    IBackgroundCopyJobHttpOptions *http;
    IEnumBackgroundCopyFiles *files;
    IBackgroundCopyFile *file;
    IBackgroundCopyJob5 *job5;
    BITS_JOB_PROPERTY_VALUE value;
    BG_JOB_PROXY_USAGE usage;
    BG_JOB_PRIORITY priority;
    BG_FILE_RANGE *ranges;
    BG_JOB_TIMES times;
    IUnknown *unk = (IUnknown *)0xdeadbeef;
    WCHAR *str, *list, *bypass;
    ULONG count, ul;
    DWORD range_count;
    HRESULT hr;

    hr = IBackgroundCopyJob_GetDescription(job, &str);
    ok(hr == S_OK && !wcscmp(str, L"kept across restarts"), "description: %#lx %ls\n", hr, SUCCEEDED(hr) ? str : L"");
    if (SUCCEEDED(hr)) CoTaskMemFree(str);
    hr = IBackgroundCopyJob_GetPriority(job, &priority);
    ok(hr == S_OK && priority == BG_JOB_PRIORITY_LOW, "priority: %#lx %d\n", hr, priority);
    hr = IBackgroundCopyJob_GetNotifyFlags(job, &ul);
    ok(hr == S_OK && ul == (BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_MODIFICATION), "notify flags: %#lx %#lx\n", hr, ul);
    hr = IBackgroundCopyJob_GetNotifyInterface(job, &unk);
    ok(hr == S_OK && !unk, "[DOC: callbacks are not persisted] notify interface: %#lx %p\n", hr, unk);
    if (SUCCEEDED(hr) && unk) IUnknown_Release(unk);
    hr = IBackgroundCopyJob_GetMinimumRetryDelay(job, &ul);
    ok(hr == S_OK && ul == 123, "retry delay: %#lx %lu\n", hr, ul);
    hr = IBackgroundCopyJob_GetNoProgressTimeout(job, &ul);
    ok(hr == S_OK && ul == 4567, "no-progress timeout: %#lx %lu\n", hr, ul);
    hr = IBackgroundCopyJob_GetProxySettings(job, &usage, &list, &bypass);
    ok(hr == S_OK && usage == BG_JOB_PROXY_USAGE_OVERRIDE, "proxy usage: %#lx %d\n", hr, usage);
    if (SUCCEEDED(hr))
    {
        ok(list && !wcscmp(list, L"proxy.invalid:8080"), "proxy list %ls\n", list);
        ok(bypass && !wcscmp(bypass, L"<local>"), "proxy bypass %ls\n", bypass);
        CoTaskMemFree(list);
        CoTaskMemFree(bypass);
    }
    hr = IBackgroundCopyJob_GetTimes(job, &times);
    ok(hr == S_OK, "GetTimes: %#lx\n", hr);
    ok((((ULONGLONG)times.CreationTime.dwHighDateTime << 32) | times.CreationTime.dwLowDateTime) ==
       state_u64("props-created"), "CreationTime changed\n");

    if (SUCCEEDED(IBackgroundCopyJob_QueryInterface(job, &IID_IBackgroundCopyJobHttpOptions, (void **)&http)))
    {
        hr = IBackgroundCopyJobHttpOptions_GetCustomHeaders(http, &str);
        ok(hr == S_OK && !wcscmp(str, L"X-Persist: yes"), "custom headers: %#lx %ls\n", hr, SUCCEEDED(hr) ? str : L"");
        if (SUCCEEDED(hr)) CoTaskMemFree(str);
        hr = IBackgroundCopyJobHttpOptions_GetSecurityFlags(http, &ul);
        ok(hr == S_OK && ul == BG_SSL_IGNORE_UNKNOWN_CA, "security flags: %#lx %#lx\n", hr, ul);
        IBackgroundCopyJobHttpOptions_Release(http);
    }
    if (SUCCEEDED(IBackgroundCopyJob_QueryInterface(job, &IID_IBackgroundCopyJob5, (void **)&job5)))
    {
        memset(&value, 0, sizeof(value));
        hr = IBackgroundCopyJob5_GetProperty(job5, BITS_JOB_PROPERTY_ID_COST_FLAGS, &value);
        ok(hr == S_OK && value.Dword == BITS_COST_STATE_UNRESTRICTED, "cost flags: %#lx %#lx\n", hr, value.Dword);
        memset(&value, 0, sizeof(value));
        hr = IBackgroundCopyJob5_GetProperty(job5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, &value);
        ok(hr == S_OK && IsEqualGUID(&value.ClsID, &notify_clsid),
           "[DOC: NOTIFICATION_CLSID is persisted] %#lx %s\n", hr, dbgstr_guid(&value.ClsID));
        IBackgroundCopyJob5_Release(job5);
    }

    hr = IBackgroundCopyJob_EnumFiles(job, &files);
    ok(hr == S_OK, "EnumFiles: %#lx\n", hr);
    if (FAILED(hr)) return;
    hr = IEnumBackgroundCopyFiles_GetCount(files, &count);
    ok(hr == S_OK && count == 2, "file count: %#lx %lu\n", hr, count);
    if (IEnumBackgroundCopyFiles_Skip(files, 1) == S_OK &&
        IEnumBackgroundCopyFiles_Next(files, 1, &file, NULL) == S_OK)
    {
        IBackgroundCopyFile2 *file2;

        hr = IBackgroundCopyFile_GetRemoteName(file, &str);
        ok(hr == S_OK && wcsstr(str, L"/persist-small?second"), "second remote name %ls\n", SUCCEEDED(hr) ? str : L"");
        if (SUCCEEDED(hr)) CoTaskMemFree(str);
        if (SUCCEEDED(IBackgroundCopyFile_QueryInterface(file, &IID_IBackgroundCopyFile2, (void **)&file2)))
        {
            hr = IBackgroundCopyFile2_GetFileRanges(file2, &range_count, &ranges);
            ok(hr == S_OK && range_count == 2, "ranges: %#lx %lu\n", hr, range_count);
            if (hr == S_OK)
            {
                ok(range_count == 2 && ranges[0].InitialOffset == 100 && ranges[0].Length == 200 &&
                   ranges[1].InitialOffset == 4096 && ranges[1].Length == BG_LENGTH_TO_EOF, "ranges changed\n");
                CoTaskMemFree(ranges);
            }
            IBackgroundCopyFile2_Release(file2);
        }
        IBackgroundCopyFile_Release(file);
    }
    IEnumBackgroundCopyFiles_Release(files);
}

/* ------------------------------------------------------------------ setup */

struct server_set
{
    struct httpd *big;      /* only the big file: its byte count is the kill test's */
    struct httpd *dl;       /* the same for the IDODownload */
    struct httpd *etag;     /* only the file whose version changes */
    struct httpd *misc;
};

static BOOL start_servers(struct server_set *s, BOOL second)
{
    if (second)
    {
        s->big = httpd_start_on_port(state_u64("port-big"));
        s->dl = httpd_start_on_port(state_u64("port-dl"));
        s->etag = httpd_start_on_port(state_u64("port-etag"));
        s->misc = httpd_start_on_port(state_u64("port-misc"));
    }
    else
    {
        s->big = httpd_start();
        s->dl = httpd_start();
        s->etag = httpd_start();
        s->misc = httpd_start();
    }
    ok(s->big && s->dl && s->etag && s->misc, "cannot start the loopback servers\n");
    if (!s->big || !s->dl || !s->etag || !s->misc) return FALSE;
    httpd_add_generated(s->big, "persist-big", BIG_SIZE);
    httpd_add_generated(s->dl, "persist-dl", BIG_SIZE);
    /* the second time the file has changed: new size, new ETag */
    httpd_add_generated(s->etag, "persist-etag", second ? CHANGED_SIZE : SLOW_SIZE);
    httpd_add_generated(s->misc, "persist-ranged", second ? CHANGED_SIZE : SLOW_SIZE);
    httpd_add_generated(s->misc, "persist-nr", SLOW_SIZE);
    httpd_add_generated(s->misc, "persist-small", SMALL_SIZE);
    return TRUE;
}

static void stop_servers(struct server_set *s)
{
    httpd_stop(s->big);
    httpd_stop(s->dl);
    httpd_stop(s->etag);
    httpd_stop(s->misc);
}

/* A BITS-style job whose file writes to a client's stream (File2
 * DownloadSinkInterface), suspended part-way: the job is kept (BITS-style
 * jobs are NonVolatile), the stream, an object of a process that is gone
 * by then, cannot come back. */
static void setup_stream_job(struct httpd *server)
{
    struct mem_stream *stream = new_mem_stream();
    IDeliveryOptimizationFile2 *file2 = NULL;
    IDeliveryOptimizationJob2 *job2 = NULL;
    IBackgroundCopyJob *job;
    WCHAR url[128];
    ULONGLONG end;
    UINT64 done;
    VARIANT v;
    GUID id;
    HRESULT hr;

    if (!(job = named_job(L"persist-stream", &id))) return;
    add_guid("stream", &id);
    make_url(url, ARRAY_SIZE(url), server, "/persist-small?rate=262144");
    hr = IBackgroundCopyJob_QueryInterface(job, &IID_IDeliveryOptimizationJob2, (void **)&job2);
    ok(hr == S_OK, "QueryInterface(IDeliveryOptimizationJob2): %#lx\n", hr);
    if (job2)
    {
        hr = IDeliveryOptimizationJob2_AddFile(job2, L"stream", url, 0, NULL, &IID_IDeliveryOptimizationFile2,
                                               (void **)&file2);
        ok(hr == S_OK, "AddFile: %#lx\n", hr);
        IDeliveryOptimizationJob2_Release(job2);
    }
    if (file2)
    {
        V_VT(&v) = VT_UNKNOWN;
        V_UNKNOWN(&v) = (IUnknown *)&stream->IStream_iface;
        hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_DownloadSinkInterface, &v);
        ok(hr == S_OK, "SetProperty(DownloadSinkInterface): %#lx\n", hr);
        IDeliveryOptimizationFile2_Release(file2);
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume: %#lx\n", hr);
        end = GetTickCount64() + 30000;
        while ((done = bytes_done(job)) < 64 * KIB && GetTickCount64() < end) Sleep(10);
        ok(done >= 64 * KIB && done < SMALL_SIZE, "stream: %I64u bytes\n", done);
        hr = IBackgroundCopyJob_Suspend(job);
        ok(hr == S_OK, "Suspend: %#lx\n", hr);
    }
    IBackgroundCopyJob_Release(job);
}

/* The job with a stream file is back, its stream is not: the file's bytes
 * are gone with it, Resume wants a new sink, and with one the file comes
 * again from its first byte. */
static void resume_stream_job(void)
{
    struct mem_stream *stream = new_mem_stream();
    IDeliveryOptimizationFile2 *file2 = NULL;
    IBackgroundCopyFile *file;
    IBackgroundCopyJob *job;
    BG_JOB_STATE state;
    unsigned char *want;
    VARIANT v;
    GUID id;
    HRESULT hr;

    get_guid("stream", &id);
    job = get_job(&id, &hr);
    ok(hr == S_OK, "[inferred] GetJob(stream): the job with a stream file did not come back: %#lx\n", hr);
    if (!job) return;
    IBackgroundCopyJob_GetState(job, &state);
    ok(state == BG_JOB_STATE_SUSPENDED, "stream: %s\n", state_name(state));
    ok(bytes_done(job) == 0, "[inferred] stream: %I64u bytes counted that went to a stream that is gone\n",
       bytes_done(job));
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == DO_E_FILE_DOWNLOADSINK_UNSPECIFIED, "[inferred] stream: Resume without a new sink: %#lx\n", hr);
    if ((file = get_file(job, 0)))
    {
        IBackgroundCopyFile_QueryInterface(file, &IID_IDeliveryOptimizationFile2, (void **)&file2);
        IBackgroundCopyFile_Release(file);
    }
    ok(file2 != NULL, "stream: no IDeliveryOptimizationFile2\n");
    if (file2)
    {
        V_VT(&v) = VT_UNKNOWN;
        V_UNKNOWN(&v) = (IUnknown *)&stream->IStream_iface;
        hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_DownloadSinkInterface, &v);
        ok(hr == S_OK, "stream: SetProperty(DownloadSinkInterface) after the restart: %#lx\n", hr);
        IDeliveryOptimizationFile2_Release(file2);
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "stream: Resume: %#lx\n", hr);
        state = wait_states(job, BIT(BG_JOB_STATE_TRANSFERRED) | BIT(BG_JOB_STATE_ERROR), 60000);
        ok(state == BG_JOB_STATE_TRANSFERRED, "stream: %s\n", state_name(state));
        want = malloc(SMALL_SIZE);
        httpd_pattern_fill("persist-small", 0, want, SMALL_SIZE);
        EnterCriticalSection(&stream->cs);
        ok(stream->size == SMALL_SIZE && !memcmp(stream->data, want, SMALL_SIZE),
           "stream: the new stream got %Iu bytes, not the whole file from its first byte\n", stream->size);
        LeaveCriticalSection(&stream->cs);
        free(want);
        hr = IBackgroundCopyJob_Complete(job);
        ok(hr == S_OK, "stream: Complete: %#lx\n", hr);
    }
    IBackgroundCopyJob_Release(job);
}

static BG_FILE_RANGE ranged_ranges[] = { { 0, 6 * MIB }, { 8 * MIB, 6 * MIB } };

static void phase_setup(void)
{
    IBackgroundCopyJob *big, *etag, *ranged, *nr, *vanish, *props, *err, *corrupt[3], *taint, *job;
    IDODownload *dl = NULL, *volatile_dl = NULL;
    struct server_set servers;
    IDOManager *dom;
    UINT64 dl_done = 0;
    GUID id, many_ids[MANY_JOBS];
    BG_JOB_TIMES times;
    BG_JOB_STATE state;
    WCHAR name[64], url[128], local[MAX_PATH];
    UINT64 done, sent;
    unsigned int i, records;
    ULONGLONG start;
    HRESULT hr;
    FILE *f;

    delete_tree(ROOT);
    CreateDirectoryW(ROOT, NULL);
    state_text[0] = 0;
    if (!start_servers(&servers, FALSE)) return;
    state_add("port-big", "%u", httpd_port(servers.big));
    state_add("port-dl", "%u", httpd_port(servers.dl));
    state_add("port-etag", "%u", httpd_port(servers.etag));
    state_add("port-misc", "%u", httpd_port(servers.misc));

    /* transfers that will be interrupted: resumed, restarted, refused */
    etag = file_job(L"persist-etag", servers.etag, "/persist-etag?rate=1048576", L"etag", 0, NULL, &id);
    add_guid("etag", &id);
    hold_anchor(etag);
    ranged = file_job(L"persist-ranged", servers.misc, "/persist-ranged?rate=1048576", L"ranged",
                      ARRAY_SIZE(ranged_ranges), ranged_ranges, &id);
    add_guid("ranged", &id);
    nr = file_job(L"persist-nr", servers.misc, "/persist-nr?norange=1&rate=1048576", L"nr", 0, NULL, &id);
    add_guid("nr", &id);
    /* finished, but its temp file will vanish before the restart */
    vanish = file_job(L"persist-vanish", servers.misc, "/persist-small", L"vanish", 0, NULL, &id);
    add_guid("vanish", &id);
    IBackgroundCopyJob_SetMinimumRetryDelay(vanish, 3);
    /* failed for good */
    err = file_job(L"persist-err", servers.misc, "/persist-missing", L"err", 0, NULL, &id);
    add_guid("err", &id);
    /* suspended, with every property set */
    props = file_job(L"persist-props", servers.misc, "/persist-small", L"props", 0, NULL, &id);
    add_guid("props", &id);
    set_properties(props, servers.misc);
    IBackgroundCopyJob_GetTimes(props, &times);
    state_add("props-created", "%I64u", ((ULONGLONG)times.CreationTime.dwHighDateTime << 32) |
              times.CreationTime.dwLowDateTime);
    /* before the transfers below start: its wait must not delay their kill */
    setup_stream_job(servers.misc);
    /* records tools/persist-tests will damage */
    for (i = 0; i < ARRAY_SIZE(corrupt); i++)
    {
        char key[16];

        swprintf(name, ARRAY_SIZE(name), L"persist-corrupt%u", i);
        corrupt[i] = file_job(name, servers.misc, "/persist-small", L"corrupt", 0, NULL, &id);
        sprintf(key, "corrupt%u", i);
        add_guid(key, &id);
    }
    /* a record whose URL tools/persist-tests will give a control character */
    taint = file_job(L"persist-taint", servers.misc, "/persist-small", L"taint", 0, NULL, &id);
    add_guid("taint", &id);

    /* many suspended jobs, for the count and the start-up time */
    start = GetTickCount64();
    sub_path(local, L"many", NULL);
    CreateDirectoryW(local, NULL);
    for (i = 0; i < MANY_JOBS; i++)
    {
        swprintf(name, ARRAY_SIZE(name), L"persist-many-%u", i);
        if (!(job = named_job(name, &many_ids[i]))) break;
        make_url(url, ARRAY_SIZE(url), servers.misc, "/persist-small");
        swprintf(local, ARRAY_SIZE(local), L"%s\\many\\%u.bin", ROOT, i);
        hr = add_file(job, url, local, 0, NULL);
        if (hr != S_OK) ok(0, "AddFile(%u): %#lx\n", i, hr);
        IBackgroundCopyJob_Release(job);
    }
    trace("created %u jobs in %I64u ms\n", i, GetTickCount64() - start);
    if ((f = _wfopen(MANY_FILE, L"wb")))
    {
        for (i = 0; i < MANY_JOBS; i++)
        {
            WCHAR str[40];
            StringFromGUID2(&many_ids[i], str, ARRAY_SIZE(str));
            fprintf(f, "%ls\n", str);
        }
        fclose(f);
    }

    hr = IBackgroundCopyJob_Resume(vanish);
    ok(hr == S_OK, "Resume: %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(err);
    ok(hr == S_OK, "Resume: %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(etag);
    ok(hr == S_OK, "Resume: %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(ranged);
    ok(hr == S_OK, "Resume: %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(nr);
    ok(hr == S_OK, "Resume: %#lx\n", hr);
    state = wait_states(vanish, BIT(BG_JOB_STATE_TRANSFERRED), 20000);
    ok(state == BG_JOB_STATE_TRANSFERRED, "vanish: %s\n", state_name(state));
    state = wait_states(err, BIT(BG_JOB_STATE_ERROR), 20000);
    ok(state == BG_JOB_STATE_ERROR, "err: %s\n", state_name(state));

    /* the IDOManager generation: a NonVolatile download, and one that is not */
    if ((dom = get_do_manager()))
    {
        DO_DOWNLOAD_RANGES_INFO whole;

        hr = IDOManager_CreateDownload(dom, &volatile_dl);
        ok(hr == S_OK, "CreateDownload: %#lx\n", hr);
        if (volatile_dl)
        {
            make_url(url, ARRAY_SIZE(url), servers.misc, "/persist-small");
            dl_set(volatile_dl, DODownloadProperty_Uri, VT_BSTR, url, FALSE);
            add_download_id("volatile", volatile_dl);
        }
        hr = IDOManager_CreateDownload(dom, &dl);
        ok(hr == S_OK, "CreateDownload: %#lx\n", hr);
        if (dl)
        {
            add_download_id("dl", dl);
            make_url(url, ARRAY_SIZE(url), servers.dl, "/persist-dl?rate=33554432");
            hr = dl_set(dl, DODownloadProperty_Uri, VT_BSTR, url, FALSE);
            ok(hr == S_OK, "SetProperty(Uri): %#lx\n", hr);
            sub_path(local, L"dl", L"file.bin");
            hr = dl_set(dl, DODownloadProperty_LocalPath, VT_BSTR, local, FALSE);
            ok(hr == S_OK, "SetProperty(LocalPath): %#lx\n", hr);
            hr = dl_set(dl, DODownloadProperty_DisplayName, VT_BSTR, L"persist-dl", FALSE);
            ok(hr == S_OK, "SetProperty(DisplayName): %#lx\n", hr);
            hr = dl_set(dl, DODownloadProperty_NonVolatile, VT_BOOL, NULL, TRUE);
            ok(hr == S_OK, "SetProperty(NonVolatile): %#lx\n", hr);
            memset(&whole, 0, sizeof(whole));
            hr = IDODownload_Start(dl, &whole);
            ok(hr == S_OK, "Start: %#lx\n", hr);
        }
        IDOManager_Release(dom);
    }

    /* The interrupted transfers must still be unfinished at the kill however
     * slow this machine is: once each has some bytes, its server goes away,
     * and it waits to retry until the kill.  (The resume serves them again.) */
    start = GetTickCount64();
    while ((bytes_done(etag) < MIB || bytes_done(ranged) < MIB || bytes_done(nr) < MIB) &&
           GetTickCount64() - start < HANG_TIMEOUT_MS)
        Sleep(10);
    ok(bytes_done(etag) >= MIB && bytes_done(ranged) >= MIB && bytes_done(nr) >= MIB,
       "the transfers to interrupt did not start: %I64u, %I64u, %I64u\n", bytes_done(etag), bytes_done(ranged),
       bytes_done(nr));
    httpd_stop(servers.etag);
    httpd_stop(servers.misc);
    servers.etag = servers.misc = NULL;
    ok(bytes_done(etag) < SLOW_SIZE && bytes_done(nr) < SLOW_SIZE, "etag %I64u, nr %I64u: done already\n",
       bytes_done(etag), bytes_done(nr));

    /* the big one last: it is killed at half-way, with the download */
    big = file_job(L"persist-big", servers.big, "/persist-big?rate=33554432", L"big", 0, NULL, &id);
    add_guid("big", &id);
    hr = IBackgroundCopyJob_Resume(big);
    ok(hr == S_OK, "Resume: %#lx\n", hr);
    start = GetTickCount64();
    while (((done = bytes_done(big)) < BIG_SIZE / 2 || (dl && dl_status(dl).BytesTransferred < BIG_SIZE / 2)) &&
           GetTickCount64() - start < 3 * HANG_TIMEOUT_MS)
        Sleep(1);
    ok(done >= BIG_SIZE / 2, "the big download did not reach half-way: %I64u\n", done);
    if (dl)
    {
        dl_done = dl_status(dl).BytesTransferred;
        state_add("dl-progress", "%I64u", dl_done);
    }

    /* every record is written by now (the writer is never seconds behind) */
    records = count_records();
    ok(records >= MANY_JOBS + 10, "only %u records\n", records);
    state_add("big-progress", "%I64u", done);
    state_add("etag-progress", "%I64u", bytes_done(etag));
    state_add("ranged-progress", "%I64u", bytes_done(ranged));
    state_add("nr-progress", "%I64u", bytes_done(nr));

    IBackgroundCopyJob_Release(big);
    IBackgroundCopyJob_Release(etag);
    IBackgroundCopyJob_Release(ranged);
    IBackgroundCopyJob_Release(nr);
    IBackgroundCopyJob_Release(vanish);
    IBackgroundCopyJob_Release(props);
    IBackgroundCopyJob_Release(err);
    for (i = 0; i < ARRAY_SIZE(corrupt); i++) IBackgroundCopyJob_Release(corrupt[i]);
    if (taint) IBackgroundCopyJob_Release(taint);
    drop_anchor();
    if (dl) IDODownload_Release(dl);
    if (volatile_dl) IDODownload_Release(volatile_dl);
    IBackgroundCopyManager_Release(manager);
    manager = NULL;

    kill_monitor();
    kill_service();
    /* let the server notice the dropped connection before counting */
    Sleep(300);
    sent = httpd_body_bytes(servers.big);
    state_add("big-sent", "%I64u", sent);
    state_add("dl-sent", "%I64u", httpd_body_bytes(servers.dl));
    trace("killed at %I64u of %I64u bytes (%.1f%%); the server had sent %I64u\n", done, BIG_SIZE,
          done * 100.0 / BIG_SIZE, sent);
    state_save();
    stop_servers(&servers);
}

/* ------------------------------------------------------------------ crash */

#define CRASH_SIZE (64ull * MIB)
#define CRASH_RATE (8 * MIB)      /* 8 s for the whole file: time to kill it on the way */

static void phase_crash(void)
{
    IBackgroundCopyManager *second = NULL;
    IBackgroundCopyJob *job;
    struct httpd *server;
    BG_JOB_STATE state;
    char range[64];
    UINT64 done, resumed_at;
    ULONGLONG start, end;
    DWORD old_pid, new_pid = 0;
    GUID id, cancelled[50];
    unsigned int i, back;
    HRESULT hr;

    if (!(server = httpd_start()))
    {
        ok(0, "cannot start the loopback server\n");
        return;
    }
    httpd_add_generated(server, "persist-crash", CRASH_SIZE);
    delete_tree(ROOT);
    CreateDirectoryW(ROOT, NULL);
    job = file_job(L"persist-crash", server, "/persist-crash?rate=8388608", L"crash", 0, NULL, &id);
    if (!job) goto done;
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume: %#lx\n", hr);
    end = GetTickCount64() + 120000;
    while ((done = bytes_done(job)) < CRASH_SIZE / 4 && GetTickCount64() < end) Sleep(10);
    ok(done >= CRASH_SIZE / 4 && done < CRASH_SIZE, "%I64u bytes before the kill\n", done);
    /* the record is written on the way; a crash must not lose the job */
    ok(wait_record(&id, TRUE, 60000), "no record for the job\n");
    IBackgroundCopyJob_Release(job);
    /* and jobs that ended must not come back: Cancel returns once the
     * record is gone, however fast jobs come and go */
    for (i = 0; i < ARRAY_SIZE(cancelled); i++)
    {
        if (!(job = named_job(L"persist-cancelled", &cancelled[i]))) continue;
        hr = IBackgroundCopyJob_Cancel(job);
        ok(hr == S_OK, "Cancel: %#lx\n", hr);
        IBackgroundCopyJob_Release(job);
    }
    IBackgroundCopyManager_Release(manager);
    manager = NULL;

    old_pid = service_pid();
    ok(kill_service(), "cannot kill the service\n");
    start = GetTickCount64();

    /* The monitor revokes the dead instance's registration and starts the
     * service again; wait for that (the bound only guards against a hang),
     * then one activation must work, without ending the session. */
    end = start + 120000;
    while (((new_pid = service_pid()) == 0 || new_pid == old_pid) && GetTickCount64() < end) Sleep(50);
    ok(new_pid && new_pid != old_pid, "the service did not come back: pid %04lx, was %04lx\n", new_pid, old_pid);
    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER, &IID_IBackgroundCopyManager,
                          (void **)&second);
    ok(hr == S_OK, "activation after the crash: %#lx\n", hr);
    trace("the service was back %I64u ms after the kill; killed at %I64u of %I64u bytes\n",
          GetTickCount64() - start, done, CRASH_SIZE);
    if (!second) goto done;
    manager = second;

    for (i = 0, back = 0; i < ARRAY_SIZE(cancelled); i++)
    {
        if ((job = get_job(&cancelled[i], &hr))) IBackgroundCopyJob_Release(job);
        if (hr != DO_E_JOB_NOT_FOUND || record_exists(&cancelled[i])) back++;
    }
    ok(!back, "%u of %u cancelled jobs came back after the crash\n", back, (unsigned int)ARRAY_SIZE(cancelled));

    job = get_job(&id, &hr);
    ok(hr == S_OK && job, "the job did not come back: %#lx\n", hr);
    if (!job) goto done;
    state = wait_states(job, BIT(BG_JOB_STATE_TRANSFERRED) | BIT(BG_JOB_STATE_ERROR), 120000);
    ok(state == BG_JOB_STATE_TRANSFERRED, "after the crash: %s\n", state_name(state));
    /* resumed where it was, not started again */
    ok(httpd_last_request_header(server, "/persist-crash", "Range", range, sizeof(range)),
       "the resume sent no Range\n");
    resumed_at = _strtoui64(range + 6, NULL, 10);
    ok(!strncmp(range, "bytes=", 6) && resumed_at >= done, "resumed with %s, had %I64u\n", range, done);
    if (state == BG_JOB_STATE_TRANSFERRED) complete_and_check(job, L"crash", "persist-crash", CRASH_SIZE, 0, NULL);
    IBackgroundCopyJob_Release(job);

done:
    httpd_stop(server);
}

/* ------------------------------------------------------------------ resume */

static void phase_resume(void)
{
    IBackgroundCopyJob *big, *etag, *ranged, *nr, *vanish, *props, *err;
    IBackgroundCopyFile *file;
    IDOManager *dom;
    BG_ERROR_CONTEXT context;
    struct server_set servers;
    BG_JOB_STATE state;
    char range[64], if_range[128];
    GUID id;
    UINT64 first_seen, start, refetched, sent1, sent2;
    unsigned int i, found = 0;
    HRESULT hr, code;
    WCHAR line[64];
    FILE *f;

    state_load();
    /* the servers first: the service resumes as soon as it starts */
    if (!start_servers(&servers, TRUE)) return;
    if (!(manager = create_manager())) return;
    get_guid("props", &id);
    if ((props = get_job(&id, &hr)))
    {
        hold_anchor(props);
        IBackgroundCopyJob_Release(props);
    }

    /* a record is disk data: its URL passes the checks a client's does, or the record is set aside */
    get_guid("taint", &id);
    if ((big = get_job(&id, &hr))) IBackgroundCopyJob_Release(big);
    ok(hr == DO_E_JOB_NOT_FOUND, "GetJob of the job whose record has a CR in its URL: %#lx\n", hr);

    /* the big download: back by itself, queued or already going */
    get_guid("big", &id);
    big = get_job(&id, &hr);
    ok(hr == S_OK, "GetJob(big): %#lx\n", hr);
    if (big)
    {
        IBackgroundCopyJob_GetState(big, &state);
        first_seen = bytes_done(big);
        ok(state == BG_JOB_STATE_QUEUED || state == BG_JOB_STATE_TRANSFERRING || state == BG_JOB_STATE_TRANSFERRED,
           "big: came back %s\n", state_name(state));
        ok(first_seen >= state_u64("big-progress"), "big: progress went back from %I64u to %I64u\n",
           state_u64("big-progress"), first_seen);
        state = wait_states(big, BIT(BG_JOB_STATE_TRANSFERRED) | BIT(BG_JOB_STATE_ERROR), 120000);
        ok(state == BG_JOB_STATE_TRANSFERRED, "big: %s\n", state_name(state));
        ok(httpd_last_request_header(servers.big, "/persist-big", "Range", range, sizeof(range)),
           "big: the resume sent no Range\n");
        ok(httpd_last_request_header(servers.big, "/persist-big", "If-Range", if_range, sizeof(if_range)),
           "big: the resume sent no If-Range\n");
        start = _strtoui64(range + 6, NULL, 10);
        ok(!strncmp(range, "bytes=", 6) && start >= state_u64("big-progress"),
           "big: resumed with %s, had %I64u\n", range, state_u64("big-progress"));
        sent1 = state_u64("big-sent");
        sent2 = httpd_body_bytes(servers.big);
        refetched = sent1 + sent2 - BIG_SIZE;
        /* what the service had read but not yet written, plus what was
         * still on its way: one burst and the sockets' buffers */
        ok(refetched <= READ_BUFFER + BIG_BURST + SOCKET_SLACK, "big: %I64u bytes fetched twice\n", refetched);
        trace("big: killed at %I64u, resumed at %I64u; %I64u + %I64u bytes sent for %I64u: %I64u fetched twice "
              "(server side, sockets included); %I64u lost from the last progress seen\n",
              state_u64("big-progress"), start, sent1, sent2, BIG_SIZE, refetched,
              start >= state_u64("big-progress") ? 0 : state_u64("big-progress") - start);
        if (state == BG_JOB_STATE_TRANSFERRED) complete_and_check(big, L"big", "persist-big", BIG_SIZE, 0, NULL);
        IBackgroundCopyJob_Release(big);
    }

    /* the same for the IDOManager generation's NonVolatile download */
    if ((dom = get_do_manager()))
    {
        DO_DOWNLOAD_STATUS status;
        IDODownload *dl, *gone;
        ULONGLONG end;
        VARIANT v;

        dl = find_download(dom, "dl", &hr);
        ok(hr == S_OK && dl, "[DOC: NonVolatile downloads persist] the download did not come back: %#lx\n", hr);
        if (dl)
        {
            status = dl_status(dl);
            ok(status.State == DODownloadState_Transferring || status.State == DODownloadState_Transferred,
               "dl: came back in state %d\n", status.State);
            ok(status.BytesTransferred >= state_u64("dl-progress"), "dl: progress went back from %I64u to %I64u\n",
               state_u64("dl-progress"), status.BytesTransferred);
            VariantInit(&v);
            hr = IDODownload_GetProperty(dl, DODownloadProperty_DisplayName, &v);
            ok(hr == S_OK && V_VT(&v) == VT_BSTR && !wcscmp(V_BSTR(&v), L"persist-dl"), "dl: display name %#lx\n", hr);
            VariantClear(&v);
            hr = IDODownload_GetProperty(dl, DODownloadProperty_NonVolatile, &v);
            ok(hr == S_OK && V_VT(&v) == VT_BOOL && V_BOOL(&v), "dl: NonVolatile %#lx\n", hr);
            VariantClear(&v);
            end = GetTickCount64() + 120000;
            while ((status = dl_status(dl)).State == DODownloadState_Transferring && GetTickCount64() < end)
                Sleep(10);
            ok(status.State == DODownloadState_Transferred, "dl: state %d, error %#lx\n", status.State, status.Error);
            ok(httpd_last_request_header(servers.dl, "/persist-dl", "Range", range, sizeof(range)),
               "dl: the resume sent no Range\n");
            start = _strtoui64(range + 6, NULL, 10);
            ok(start >= state_u64("dl-progress"), "dl: resumed with %s, had %I64u\n", range, state_u64("dl-progress"));
            refetched = state_u64("dl-sent") + httpd_body_bytes(servers.dl) - BIG_SIZE;
            ok(refetched <= READ_BUFFER + BIG_BURST + SOCKET_SLACK, "dl: %I64u bytes fetched twice\n", refetched);
            trace("dl: killed at %I64u, resumed at %I64u; %I64u bytes fetched twice (server side, sockets included)\n",
                  state_u64("dl-progress"), start, refetched);
            if (status.State == DODownloadState_Transferred)
            {
                WCHAR local[MAX_PATH];
                UINT64 bad = 0;

                hr = IDODownload_Finalize(dl);
                ok(hr == S_OK, "dl: Finalize: %#lx\n", hr);
                sub_path(local, L"dl", L"file.bin");
                ok(file_matches_pattern(local, "persist-dl", BIG_SIZE, 0, NULL, &bad),
                   "dl: the file differs from the server's at byte %I64u\n", bad);
            }
            IDODownload_Release(dl);
        }
        gone = find_download(dom, "volatile", &hr);
        ok(hr == DO_E_NO_DOWNLOADS, "[DOC: NonVolatile is FALSE by default] a volatile download came back: %#lx\n", hr);
        if (gone) IDODownload_Release(gone);
        IDOManager_Release(dom);
    }

    /* a temp file deleted behind our back: reported, then fetched again */
    get_guid("vanish", &id);
    vanish = get_job(&id, &hr);
    ok(hr == S_OK, "GetJob(vanish): %#lx\n", hr);
    if (vanish)
    {
        /* retry delay 3 s, and "big" took longer: look at the error count */
        ULONG errors = 0;

        IBackgroundCopyJob_GetErrorCount(vanish, &errors);
        ok(errors >= 1, "vanish: the lost temp file was not reported (error count %lu)\n", errors);
        state = wait_states(vanish, BIT(BG_JOB_STATE_TRANSFERRED) | BIT(BG_JOB_STATE_ERROR), 30000);
        ok(state == BG_JOB_STATE_TRANSFERRED, "vanish: %s\n", state_name(state));
        if (state == BG_JOB_STATE_TRANSFERRED)
            complete_and_check(vanish, L"vanish", "persist-small", SMALL_SIZE, 0, NULL);
        IBackgroundCopyJob_Release(vanish);
    }

    /* the file changed: a whole-file download starts over */
    get_guid("etag", &id);
    etag = get_job(&id, &hr);
    ok(hr == S_OK, "GetJob(etag): %#lx\n", hr);
    if (etag)
    {
        state = wait_states(etag, BIT(BG_JOB_STATE_TRANSFERRED) | BIT(BG_JOB_STATE_ERROR), 60000);
        ok(state == BG_JOB_STATE_TRANSFERRED, "etag: %s\n", state_name(state));
        ok(httpd_last_request_header(servers.etag, "/persist-etag", "If-Range", if_range, sizeof(if_range)),
           "etag: the resume sent no If-Range\n");
        /* the old bytes were dropped: the whole new file came again */
        ok(httpd_body_bytes(servers.etag) >= CHANGED_SIZE, "etag: only %I64u bytes sent after the change\n",
           httpd_body_bytes(servers.etag));
        if (state == BG_JOB_STATE_TRANSFERRED)
            complete_and_check(etag, L"etag", "persist-etag", CHANGED_SIZE, 0, NULL);
        IBackgroundCopyJob_Release(etag);
    }

    /* the file changed under a ranged download: refused */
    get_guid("ranged", &id);
    ranged = get_job(&id, &hr);
    ok(hr == S_OK, "GetJob(ranged): %#lx\n", hr);
    if (ranged)
    {
        state = wait_states(ranged, BIT(BG_JOB_STATE_TRANSFERRED) | BIT(BG_JOB_STATE_ERROR), 60000);
        ok(state == BG_JOB_STATE_ERROR, "ranged: %s\n", state_name(state));
        code = error_of(ranged, &context, NULL);
        ok(code == DO_E_INSUFFICIENT_RANGE_SUPPORT, "ranged: error %#lx\n", code);
        IBackgroundCopyJob_Cancel(ranged);
        IBackgroundCopyJob_Release(ranged);
    }

    /* a server that ignores Range: the whole file again */
    get_guid("nr", &id);
    nr = get_job(&id, &hr);
    ok(hr == S_OK, "GetJob(nr): %#lx\n", hr);
    if (nr)
    {
        state = wait_states(nr, BIT(BG_JOB_STATE_TRANSFERRED) | BIT(BG_JOB_STATE_ERROR), 60000);
        ok(state == BG_JOB_STATE_TRANSFERRED, "nr: %s\n", state_name(state));
        if (state == BG_JOB_STATE_TRANSFERRED) complete_and_check(nr, L"nr", "persist-nr", SLOW_SIZE, 0, NULL);
        IBackgroundCopyJob_Release(nr);
    }

    /* failed jobs stay failed, with their error */
    get_guid("err", &id);
    err = get_job(&id, &hr);
    ok(hr == S_OK, "GetJob(err): %#lx\n", hr);
    if (err)
    {
        IBackgroundCopyJob_GetState(err, &state);
        ok(state == BG_JOB_STATE_ERROR, "err: %s\n", state_name(state));
        code = error_of(err, &context, &file);
        ok(code == HTTP_STATUS_HRESULT(404), "err: error %#lx\n", code);
        ok(file != NULL, "err: the error lost its file\n");
        if (file) IBackgroundCopyFile_Release(file);
        IBackgroundCopyJob_Release(err);
    }

    resume_stream_job();

    get_guid("props", &id);
    props = get_job(&id, &hr);
    ok(hr == S_OK, "GetJob(props): %#lx\n", hr);
    if (props)
    {
        IBackgroundCopyJob_GetState(props, &state);
        ok(state == BG_JOB_STATE_SUSPENDED, "props: %s\n", state_name(state));
        check_properties(props);
        IBackgroundCopyJob_Release(props);
    }

    /* damaged records: skipped, the rest loaded */
    for (i = 0; i < 3; i++)
    {
        char key[16];
        IBackgroundCopyJob *job;

        sprintf(key, "corrupt%u", i);
        get_guid(key, &id);
        job = get_job(&id, &hr);
        ok(hr == DO_E_JOB_NOT_FOUND, "%s: GetJob %#lx\n", key, hr);
        if (job) IBackgroundCopyJob_Release(job);
    }
    if ((f = _wfopen(MANY_FILE, L"rb")))
    {
        char buf[64];

        while (fgets(buf, sizeof(buf), f))
        {
            IBackgroundCopyJob *job;

            swprintf(line, ARRAY_SIZE(line), L"%.38S", buf);
            if (FAILED(CLSIDFromString(line, &id))) continue;
            if ((job = get_job(&id, &hr)))
            {
                found++;
                IBackgroundCopyJob_Release(job);
            }
        }
        fclose(f);
    }
    ok(found == MANY_JOBS, "%u of %u jobs came back\n", found, MANY_JOBS);

    drop_anchor();
    IBackgroundCopyManager_Release(manager);
    manager = NULL;
    stop_servers(&servers);
}

/* After sc stop / sc start: still all there. */
static void phase_restart(void)
{
    IBackgroundCopyJob *job;
    IEnumBackgroundCopyJobs *jobs;
    unsigned int found = 0;
    ULONG count = 0;
    WCHAR line[64];
    char buf[64];
    HRESULT hr;
    GUID id;
    FILE *f;

    state_load();
    if (!(manager = create_manager())) return;
    get_guid("props", &id);
    if ((job = get_job(&id, &hr)))
    {
        hold_anchor(job);
        IBackgroundCopyJob_Release(job);
    }
    if ((f = _wfopen(MANY_FILE, L"rb")))
    {
        while (fgets(buf, sizeof(buf), f))
        {
            swprintf(line, ARRAY_SIZE(line), L"%.38S", buf);
            if (FAILED(CLSIDFromString(line, &id))) continue;
            if ((job = get_job(&id, &hr)))
            {
                found++;
                IBackgroundCopyJob_Release(job);
            }
        }
        fclose(f);
    }
    ok(found == MANY_JOBS, "after stop/start %u of %u jobs came back\n", found, MANY_JOBS);
    hr = IBackgroundCopyManager_EnumJobs(manager, 0, &jobs);
    ok(hr == S_OK, "EnumJobs: %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        IEnumBackgroundCopyJobs_GetCount(jobs, &count);
        ok(count >= MANY_JOBS + 2, "EnumJobs: %lu jobs\n", count);
        IEnumBackgroundCopyJobs_Release(jobs);
    }
    get_guid("props", &id);
    if ((job = get_job(&id, &hr)))
    {
        check_properties(job);
        IBackgroundCopyJob_Release(job);
    }
    ok(hr == S_OK, "GetJob(props): %#lx\n", hr);
    drop_anchor();
    IBackgroundCopyManager_Release(manager);
    manager = NULL;
}

/* After sc stop, a clock 31 days ahead and sc start: every job is gone. */
static void phase_expired(void)
{
    IEnumBackgroundCopyJobs *jobs;
    IBackgroundCopyJob *job;
    ULONG count = ~0u;
    WCHAR dir[MAX_PATH];
    HRESULT hr;
    GUID id;
    BOOL gone;

    state_load();
    if (!(manager = create_manager())) return;
    get_guid("props", &id);
    job = get_job(&id, &hr);
    ok(hr == DO_E_JOB_NOT_FOUND, "[DOC: jobs older than 30 days are removed] GetJob: %#lx\n", hr);
    if (job) IBackgroundCopyJob_Release(job);
    hr = IBackgroundCopyManager_EnumJobs(manager, 0, &jobs);
    ok(hr == S_OK, "EnumJobs: %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        IEnumBackgroundCopyJobs_GetCount(jobs, &count);
        ok(!count, "%lu jobs left after 30 days\n", count);
        IEnumBackgroundCopyJobs_Release(jobs);
    }
    /* only the record of the newer version is left */
    ok(count_records() == 1, "%u records left\n", count_records());
    sub_path(dir, L"props", NULL);
    ok(!count_files(dir, L"DO*.tmp"), "temp files left in %ls\n", dir);

    /* the same while the service runs: the clock is read again when its
     * registry key changes */
    set_clock_offset(0);
    job = named_job(L"persist-late", &id);
    ok(wait_record(&id, TRUE, 5000), "no record for a new job\n");
    set_clock_offset(31 * 24);
    gone = FALSE;
    if (job)
    {
        ULONGLONG end = GetTickCount64() + HANG_TIMEOUT_MS;
        IBackgroundCopyJob *again;

        while (!gone && GetTickCount64() < end)
        {
            if ((again = get_job(&id, &hr))) IBackgroundCopyJob_Release(again);
            gone = hr == DO_E_JOB_NOT_FOUND;
            if (!gone) Sleep(50);
        }
        ok(gone, "[DOC: jobs older than 30 days are removed] a running service kept the job: %#lx\n", hr);
        ok(wait_record(&id, FALSE, 5000), "the record of the removed job is still there\n");
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == DO_E_INVALID_STATE, "Resume on a removed job: %#lx\n", hr);
        IBackgroundCopyJob_Release(job);
    }
    set_clock_offset(0);
    IBackgroundCopyManager_Release(manager);
    manager = NULL;
}

/* ------------------------------------------------------------------ keepalive */

/* Wine's own process-information class: the process stops counting as a
 * user of the session (services.exe does this), and gets an event that is
 * set when the session ends. */
#define ProcessWineMakeProcessSystem 1000
typedef LONG (WINAPI *NtSetInformationProcess_t)(HANDLE, int, void *, ULONG);

static void phase_serve(void)
{
    NtSetInformationProcess_t set_info;
    struct httpd *server;
    HANDLE session_end = NULL;
    ULONGLONG start = GetTickCount64(), last_change = start, ended = 0;
    unsigned long long sent = 0, now_sent;
    LONG status;
    FILE *f;

    set_info = (NtSetInformationProcess_t)GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "NtSetInformationProcess");
    status = set_info ? set_info(GetCurrentProcess(), ProcessWineMakeProcessSystem, &session_end,
                                 sizeof(session_end)) : -1;
    if (status || !session_end)
    {
        win_skip("cannot become a Wine system process (%#lx)\n", status);
        return;
    }
    if (!(server = httpd_start()))
    {
        ok(0, "cannot start the server\n");
        return;
    }
    httpd_add_generated(server, "persist-ka", 32 * MIB);
    if ((f = _wfopen(SERVE_FILE, L"wb")))
    {
        fprintf(f, "port %u\n", httpd_port(server));
        fclose(f);
    }
    /* serve until the session ends, 90 s at most */
    while (GetTickCount64() - start < 90000)
    {
        if (!WaitForSingleObject(session_end, 20))
        {
            ended = GetTickCount64();
            break;
        }
        if ((now_sent = httpd_body_bytes(server)) != sent)
        {
            sent = now_sent;
            last_change = GetTickCount64();
        }
    }
    if ((f = _wfopen(SERVE_FILE, L"ab")))
    {
        /* ticks are the machine's uptime: comparable across processes */
        fprintf(f, "sent %I64u\nlast-byte-tick %I64u\nsession-end-tick %I64u\n", sent, last_change, ended);
        fclose(f);
    }
    httpd_stop(server);
}

static void phase_ka_start(void)
{
    IBackgroundCopyJob *job;
    WCHAR url[128], local[MAX_PATH];
    unsigned int port = 0;
    BG_JOB_STATE state;
    ULONGLONG start = GetTickCount64();
    HRESULT hr;
    GUID id;
    FILE *f;

    /* tools/persist-tests starts "serve" once the session is up, which our
     * running proves */
    CreateDirectoryW(ROOT, NULL);
    if ((f = _wfopen(ROOT L"\\ka-started", L"wb"))) fclose(f);
    /* wait for "serve" to publish its port; the bound only guards against a hang */
    while (!port && GetTickCount64() - start < 120000)
    {
        if ((f = _wfopen(SERVE_FILE, L"rb")))
        {
            if (fscanf(f, "port %u", &port) != 1) port = 0;
            fclose(f);
        }
        if (!port) Sleep(50);
    }
    ok(port != 0, "the serve phase did not start\n");
    if (!port || !(manager = create_manager())) return;
    state_text[0] = 0;
    sub_path(local, L"ka", NULL);
    delete_tree(local);
    CreateDirectoryW(local, NULL);
    sub_path(local, L"ka", L"file.bin");
    /* 32 MiB at 4 MiB/s: 8 s, far longer than a session lasts without us */
    swprintf(url, ARRAY_SIZE(url), L"http://127.0.0.1:%u/persist-ka?rate=4194304", port);
    job = named_job(L"persist-keepalive", &id);
    if (!job) return;
    hr = add_file(job, url, local, 0, NULL);
    ok(hr == S_OK, "AddFile: %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume: %#lx\n", hr);
    state = wait_states(job, BIT(BG_JOB_STATE_TRANSFERRING), 120000);
    ok(state == BG_JOB_STATE_TRANSFERRING, "state %s\n", state_name(state));
    add_guid("ka", &id);
    state_add("ka-exit-tick", "%I64u", GetTickCount64());
    state_save();
    IBackgroundCopyJob_Release(job);
    IBackgroundCopyManager_Release(manager);
    manager = NULL;
    /* and the client is gone */
}

static void phase_ka_check(void)
{
    IBackgroundCopyJob *job;
    BG_JOB_STATE state;
    HRESULT hr;
    GUID id;

    state_load();
    if (!(manager = create_manager())) return;
    get_guid("ka", &id);
    job = get_job(&id, &hr);
    ok(hr == S_OK, "GetJob: %#lx\n", hr);
    if (!job) return;
    /* no server now: whatever is there came in the previous session */
    IBackgroundCopyJob_GetState(job, &state);
    ok(state == BG_JOB_STATE_TRANSFERRED,
       "the transfer did not go on after its client exited: %s, %I64u bytes\n", state_name(state), bytes_done(job));
    if (state == BG_JOB_STATE_TRANSFERRED) complete_and_check(job, L"ka", "persist-ka", 32 * MIB, 0, NULL);
    else IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
    IBackgroundCopyManager_Release(manager);
    manager = NULL;
}

/* ------------------------------------------------------------------ many */

static void phase_many(unsigned int count)
{
    IBackgroundCopyJob *job;
    WCHAR name[64], local[MAX_PATH];
    ULONGLONG start = GetTickCount64();
    unsigned int i;
    HRESULT hr;
    GUID id;

    sub_path(local, L"many", NULL);
    CreateDirectoryW(ROOT, NULL);
    CreateDirectoryW(local, NULL);
    for (i = 0; i < count; i++)
    {
        swprintf(name, ARRAY_SIZE(name), L"persist-bulk-%u", i);
        if (!(job = named_job(name, &id))) break;
        swprintf(local, ARRAY_SIZE(local), L"%s\\many\\bulk%u.bin", ROOT, i);
        hr = add_file(job, L"http://127.0.0.1:9/persist-bulk", local, 0, NULL);
        if (hr != S_OK) ok(0, "AddFile(%u): %#lx\n", i, hr);
        hold_anchor(job);
        IBackgroundCopyJob_Release(job);
    }
    drop_anchor();
    trace("created %u jobs in %I64u ms\n", i, GetTickCount64() - start);
    /* wait for the writer */
    start = GetTickCount64();
    while (count_records() < count && GetTickCount64() - start < 120000) Sleep(100);
    trace("%u records after %I64u ms more\n", count_records(), GetTickCount64() - start);
    IBackgroundCopyManager_Release(manager);
    manager = NULL;
}

/* ------------------------------------------------------------------ in one service lifetime */

static void test_records(void)
{
    IBackgroundCopyJob *job;
    struct httpd *server;
    WCHAR url[128], local[MAX_PATH];
    BG_JOB_STATE state;
    HRESULT hr;
    GUID id;

    if (!(job = named_job(L"persist-record", &id))) return;
    ok(wait_record(&id, TRUE, 5000), "no record for a new job\n");
    hr = IBackgroundCopyJob_Cancel(job);
    ok(hr == S_OK, "Cancel: %#lx\n", hr);
    ok(wait_record(&id, FALSE, 5000), "the record of a cancelled job is still there\n");
    IBackgroundCopyJob_Release(job);

    if (!(server = httpd_start())) return;
    httpd_add_generated(server, "persist-record", 64 * KIB);
    if ((job = named_job(L"persist-record2", &id)))
    {
        make_url(url, ARRAY_SIZE(url), server, "/persist-record");
        make_test_path(local, ARRAY_SIZE(local), L"record.bin");
        hr = add_file(job, url, local, 0, NULL);
        ok(hr == S_OK, "AddFile: %#lx\n", hr);
        hr = IBackgroundCopyJob_Resume(job);
        ok(hr == S_OK, "Resume: %#lx\n", hr);
        state = wait_states(job, BIT(BG_JOB_STATE_TRANSFERRED) | BIT(BG_JOB_STATE_ERROR), 20000);
        ok(state == BG_JOB_STATE_TRANSFERRED, "state %s\n", state_name(state));
        ok(wait_record(&id, TRUE, 5000), "no record for a transferred job\n");
        hr = IBackgroundCopyJob_Complete(job);
        ok(hr == S_OK, "Complete: %#lx\n", hr);
        ok(wait_record(&id, FALSE, 5000), "the record of a completed job is still there\n");
        IBackgroundCopyJob_Release(job);
    }
    httpd_stop(server);
    remove_test_dir();
}

/* The common CRC-32, as the store computes it. */
static UINT32 record_crc(const BYTE *data, size_t size)
{
    UINT32 crc = ~0u;
    size_t i;
    int k;

    for (i = 0; i < size; i++)
    {
        crc ^= data[i];
        for (k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >> 1) : crc >> 1;
    }
    return ~crc;
}

static void put_le32(BYTE *p, UINT32 v)
{
    p[0] = (BYTE)v;
    p[1] = (BYTE)(v >> 8);
    p[2] = (BYTE)(v >> 16);
    p[3] = (BYTE)(v >> 24);
}

/* Turn "persist-small" in the record's strings into "\rersist-small" and
 * make the checksums right again: only the content check can catch it. */
static void phase_taint(const char *path)
{
    static const WCHAR needle[] = L"persist-small";
    size_t size, i, n = sizeof(needle) - sizeof(WCHAR);
    unsigned int patched = 0;
    BYTE *data;
    FILE *f;

    if (!(f = fopen(path, "rb")))
    {
        ok(0, "cannot open %s\n", path);
        return;
    }
    data = malloc(4 * MIB);
    size = fread(data, 1, 4 * MIB, f);
    fclose(f);
    ok(size > 28 && !memcmp(data, "DOSVCJOB", 8), "%s is not a job record (%Iu bytes)\n", path, size);
    for (i = 28; size > 28 && i + n <= size; i++)
    {
        if (memcmp(data + i, needle, n)) continue;
        data[i] = '\r';
        data[i + 1] = 0;
        patched++;
    }
    ok(patched > 0, "no URL to taint in %s\n", path);
    if (size > 28)
    {
        put_le32(data + 20, record_crc(data + 28, size - 28));
        put_le32(data + 24, record_crc(data, 24));
    }
    if ((f = fopen(path, "wb")))
    {
        fwrite(data, 1, size, f);
        fclose(f);
    }
    free(data);
}

START_TEST(persist)
{
    char **argv;
    int argc = winetest_get_mainargs(&argv);
    const char *phase = argc > 2 ? argv[2] : "";

    CoInitializeEx(NULL, COINIT_MULTITHREADED);
    /* phases that need the service activate it themselves, at their moment */
    if (!strcmp(phase, "serve")) phase_serve();
    else if (!strcmp(phase, "ka-start")) phase_ka_start();
    else if (!strcmp(phase, "ka-check")) phase_ka_check();
    else if (!strcmp(phase, "resume")) phase_resume();
    else if (!strcmp(phase, "restart")) phase_restart();
    else if (!strcmp(phase, "expired")) phase_expired();
    else if (!strcmp(phase, "taint")) phase_taint(argc > 3 ? argv[3] : "");
    else if ((manager = create_manager()))
    {
        if (!strcmp(phase, "setup")) phase_setup();
        else if (!strcmp(phase, "crash")) phase_crash();
        else if (!strcmp(phase, "many")) phase_many(argc > 3 ? atoi(argv[3]) : 1000);
        else test_records();
    }
    if (manager) IBackgroundCopyManager_Release(manager);
    CoUninitialize();
}
