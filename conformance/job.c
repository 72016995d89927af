/*
 * Conformance tests for Delivery Optimization jobs: IBackgroundCopyJob,
 * IBackgroundCopyJob5, IBackgroundCopyJobHttpOptions,
 * IDeliveryOptimizationJob and IDeliveryOptimizationJob2.
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
 * Expected values come from the fact sheet (do-api-facts.md) where
 * Microsoft documents them and from docs/gaps.md otherwise; checks of the
 * second kind say "[inferred]".
 *
 * No transfer happens here: remote names point at a closed port and no job
 * with files is ever resumed.
 *
 * All calls go through proxies.  A NULL [ref] argument is refused by the
 * proxy with RPC_X_NULL_REF_POINTER before the server sees it, and an
 * unknown tag of a switched union with RPC_S_INVALID_TAG; where gaps.md
 * gives the server's answer for such a call both are accepted.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define CONST_VTABLE
#include "dotest.h"
#include <sddl.h>

/* bits2_5.h security flags; mingw-w64's header leaves them out */
#ifndef BG_SSL_IGNORE_UNKNOWN_CA
#define BG_SSL_ENABLE_CRL_CHECK             0x0001
#define BG_SSL_IGNORE_CERT_CN_INVALID       0x0002
#define BG_SSL_IGNORE_CERT_DATE_INVALID     0x0004
#define BG_SSL_IGNORE_UNKNOWN_CA            0x0008
#define BG_SSL_IGNORE_CERT_WRONG_USAGE      0x0010
#define BG_HTTP_REDIRECT_POLICY_ALLOW_REPORT 0x0100
#define BG_HTTP_REDIRECT_POLICY_DISALLOW    0x0200
#endif

/* BITS_JOB_TRANSFER_POLICY (bits5_0.h; mingw-w64 only has the first) */
#define POLICY_ALWAYS       0x800000ffu
#define POLICY_NOT_ROAMING  0x8000007fu
#define POLICY_NO_SURCHARGE 0x8000006fu
#define POLICY_STANDARD     0x80000067u
#define POLICY_UNRESTRICTED 0x80000021u


#define FILETIME_SECOND 10000000ull

static void test_url(WCHAR *buf, size_t count, const WCHAR *leaf)
{
    swprintf(buf, count, L"http://127.0.0.1:1/dosvc-test/%ls", leaf);
}

static BG_JOB_STATE job_state(IBackgroundCopyJob *job)
{
    BG_JOB_STATE state = 0xdead;
    HRESULT hr;

    hr = IBackgroundCopyJob_GetState(job, &state);
    ok(hr == S_OK, "GetState: got %#lx\n", hr);
    return state;
}

static ULONG files_total(IBackgroundCopyJob *job)
{
    BG_JOB_PROGRESS progress;
    HRESULT hr;

    memset(&progress, 0xcc, sizeof(progress));
    hr = IBackgroundCopyJob_GetProgress(job, &progress);
    ok(hr == S_OK, "GetProgress: got %#lx\n", hr);
    return progress.FilesTotal;
}

static ULONG enum_count(IBackgroundCopyJob *job)
{
    IEnumBackgroundCopyFiles *files;
    ULONG count = 0xdead;
    HRESULT hr;

    hr = IBackgroundCopyJob_EnumFiles(job, &files);
    ok(hr == S_OK, "EnumFiles: got %#lx\n", hr);
    if (FAILED(hr)) return count;
    hr = IEnumBackgroundCopyFiles_GetCount(files, &count);
    ok(hr == S_OK, "GetCount: got %#lx\n", hr);
    IEnumBackgroundCopyFiles_Release(files);
    return count;
}

static HRESULT add_ranges(IDeliveryOptimizationJob *do_job, const WCHAR *leaf, DWORD count,
                          BG_FILE_RANGE *ranges, UINT64 size)
{
    WCHAR url[200], local[MAX_PATH];

    test_url(url, ARRAY_SIZE(url), leaf);
    make_test_path(local, ARRAY_SIZE(local), leaf);
    return IDeliveryOptimizationJob_AddFileWithRanges(do_job, leaf, url, local, count, ranges, size);
}

static UINT64 ft64(const FILETIME *ft)
{
    return ((UINT64)ft->dwHighDateTime << 32) | ft->dwLowDateTime;
}

static WCHAR *user_sid_string(void)
{
    DWORD buffer[128], size;
    WCHAR *str = NULL;
    HANDLE token;

    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return NULL;
    if (GetTokenInformation(token, TokenUser, buffer, sizeof(buffer), &size))
        ConvertSidToStringSidW(((TOKEN_USER *)buffer)->User.Sid, &str);
    CloseHandle(token);
    return str;
}

/* ---------------------------------------------------------------- client objects */

struct callback
{
    IBackgroundCopyCallback IBackgroundCopyCallback_iface;
    LONG refcount;
};

static HRESULT WINAPI callback_QueryInterface(IBackgroundCopyCallback *iface, REFIID riid, void **out)
{
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyCallback))
    {
        *out = iface;
        IBackgroundCopyCallback_AddRef(iface);
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI callback_AddRef(IBackgroundCopyCallback *iface)
{
    struct callback *callback = CONTAINING_RECORD(iface, struct callback, IBackgroundCopyCallback_iface);
    return InterlockedIncrement(&callback->refcount);
}

static ULONG WINAPI callback_Release(IBackgroundCopyCallback *iface)
{
    struct callback *callback = CONTAINING_RECORD(iface, struct callback, IBackgroundCopyCallback_iface);
    return InterlockedDecrement(&callback->refcount);
}

static HRESULT WINAPI callback_JobTransferred(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job)
{
    return S_OK;
}

static HRESULT WINAPI callback_JobError(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job,
                                        IBackgroundCopyError *error)
{
    return S_OK;
}

static HRESULT WINAPI callback_JobModification(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job,
                                               DWORD reserved)
{
    return S_OK;
}

static const IBackgroundCopyCallbackVtbl callback_vtbl =
{
    callback_QueryInterface,
    callback_AddRef,
    callback_Release,
    callback_JobTransferred,
    callback_JobError,
    callback_JobModification,
};

static struct callback test_callback = { { &callback_vtbl }, 1 };


/* ---------------------------------------------------------------- tests */

static void test_defaults(IBackgroundCopyManager *manager)
{
    static const WCHAR prefix[] = L"dosvc-test-job-defaults";
    FILETIME before, after;
    IBackgroundCopyError *error;
    IBackgroundCopyJob *job;
    BG_JOB_PROXY_USAGE usage;
    BG_JOB_PROGRESS progress;
    BG_JOB_PRIORITY priority;
    BG_JOB_STATE state;
    BG_JOB_TIMES times;
    BG_JOB_TYPE type;
    WCHAR *str, *list, *bypass, *sid;
    IUnknown *unk;
    ULONG value;
    GUID id, id2;
    HRESULT hr;

    GetSystemTimeAsFileTime(&before);
    job = new_job(manager, prefix, &id);
    GetSystemTimeAsFileTime(&after);
    if (!job) return;

    state = job_state(job);
    ok(state == BG_JOB_STATE_SUSPENDED, "new job: state %s\n", state_name(state));

    memset(&id2, 0, sizeof(id2));
    hr = IBackgroundCopyJob_GetId(job, &id2);
    ok(hr == S_OK, "GetId: got %#lx\n", hr);
    ok(IsEqualGUID(&id, &id2), "GetId: %s, CreateJob gave %s\n", dbgstr_guid(&id2), dbgstr_guid(&id));

    type = 0xdead;
    hr = IBackgroundCopyJob_GetType(job, &type);
    ok(hr == S_OK, "GetType: got %#lx\n", hr);
    ok(type == BG_JOB_TYPE_DOWNLOAD, "GetType: %d\n", type);

    priority = 0xdead;
    hr = IBackgroundCopyJob_GetPriority(job, &priority);
    ok(hr == S_OK, "GetPriority: got %#lx\n", hr);
    ok(priority == BG_JOB_PRIORITY_NORMAL, "default priority: %d\n", priority);

    value = 0xdead;
    hr = IBackgroundCopyJob_GetNotifyFlags(job, &value);
    ok(hr == S_OK, "GetNotifyFlags: got %#lx\n", hr);
    ok(value == (BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR),
       "[inferred] default notify flags: %#lx\n", value);

    unk = (IUnknown *)0xdeadbeef;
    hr = IBackgroundCopyJob_GetNotifyInterface(job, &unk);
    ok(hr == S_OK, "GetNotifyInterface: got %#lx\n", hr);
    ok(!unk, "[inferred] default notify interface: %p\n", unk);
    if (SUCCEEDED(hr) && unk) IUnknown_Release(unk);

    value = 0xdead;
    hr = IBackgroundCopyJob_GetNoProgressTimeout(job, &value);
    ok(hr == S_OK, "GetNoProgressTimeout: got %#lx\n", hr);
    ok(value == 3600, "[inferred] default no-progress timeout at NORMAL priority: %lu\n", value);

    value = 0xdead;
    hr = IBackgroundCopyJob_GetMinimumRetryDelay(job, &value);
    ok(hr == S_OK, "[inferred] GetMinimumRetryDelay: got %#lx\n", hr);
    ok(value == 60, "[inferred] default minimum retry delay: %lu\n", value);

    usage = 0xdead;
    list = bypass = (WCHAR *)0xdeadbeef;
    hr = IBackgroundCopyJob_GetProxySettings(job, &usage, &list, &bypass);
    ok(hr == S_OK, "[inferred] GetProxySettings: got %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        ok(usage == BG_JOB_PROXY_USAGE_PRECONFIG, "[inferred] default proxy usage: %d\n", usage);
        ok(!list || !*list, "[inferred] default proxy list: %s\n", dbgstr_w(list));
        ok(!bypass || !*bypass, "[inferred] default proxy bypass list: %s\n", dbgstr_w(bypass));
        CoTaskMemFree(list);
        CoTaskMemFree(bypass);
    }

    str = NULL;
    hr = IBackgroundCopyJob_GetDescription(job, &str);
    ok(hr == S_OK, "[inferred] GetDescription: got %#lx\n", hr);
    ok(str && !*str, "[inferred] default description: %s\n", dbgstr_w(str));
    CoTaskMemFree(str);

    str = NULL;
    hr = IBackgroundCopyJob_GetDisplayName(job, &str);
    ok(hr == S_OK, "GetDisplayName: got %#lx\n", hr);
    ok(str && !wcsncmp(str, prefix, wcslen(prefix)), "GetDisplayName: %s\n", dbgstr_w(str));
    CoTaskMemFree(str);

    str = NULL;
    hr = IBackgroundCopyJob_GetOwner(job, &str);
    ok(hr == S_OK, "[inferred] GetOwner: got %#lx\n", hr);
    ok(str && !wcsncmp(str, L"S-1-", 4), "[inferred] GetOwner: %s\n", dbgstr_w(str));
    if (str && (sid = user_sid_string()))
    {
        ok(!wcscmp(str, sid), "[inferred] GetOwner: %s, our SID is %s\n", dbgstr_w(str), dbgstr_w(sid));
        LocalFree(sid);
    }
    CoTaskMemFree(str);

    value = 0xdead;
    hr = IBackgroundCopyJob_GetErrorCount(job, &value);
    ok(hr == S_OK, "[inferred] GetErrorCount: got %#lx\n", hr);
    ok(value == 0, "[inferred] GetErrorCount of a new job: %lu\n", value);

    memset(&times, 0xcc, sizeof(times));
    hr = IBackgroundCopyJob_GetTimes(job, &times);
    ok(hr == S_OK, "GetTimes: got %#lx\n", hr);
    ok(ft64(&times.CreationTime) + 2 * FILETIME_SECOND >= ft64(&before)
       && ft64(&times.CreationTime) <= ft64(&after) + 2 * FILETIME_SECOND,
       "CreationTime %#I64x not between %#I64x and %#I64x\n", ft64(&times.CreationTime),
       ft64(&before), ft64(&after));
    ok(ft64(&times.ModificationTime) >= ft64(&times.CreationTime),
       "[inferred] ModificationTime %#I64x before CreationTime %#I64x\n",
       ft64(&times.ModificationTime), ft64(&times.CreationTime));
    ok(!ft64(&times.TransferCompletionTime), "[inferred] TransferCompletionTime of a new job: %#I64x\n",
       ft64(&times.TransferCompletionTime));

    memset(&progress, 0xcc, sizeof(progress));
    hr = IBackgroundCopyJob_GetProgress(job, &progress);
    ok(hr == S_OK, "GetProgress: got %#lx\n", hr);
    ok(progress.BytesTotal == 0, "[inferred] BytesTotal of an empty job: %#I64x\n", progress.BytesTotal);
    ok(progress.BytesTransferred == 0, "BytesTransferred of a new job: %#I64x\n", progress.BytesTransferred);
    ok(progress.FilesTotal == 0, "FilesTotal of an empty job: %lu\n", progress.FilesTotal);
    ok(progress.FilesTransferred == 0, "FilesTransferred of a new job: %lu\n", progress.FilesTransferred);

    error = (IBackgroundCopyError *)0xdeadbeef;
    hr = IBackgroundCopyJob_GetError(job, &error);
    ok(hr == DO_E_ERROR_INFORMATION_UNAVAILABLE, "GetError of a new job: got %#lx\n", hr);
    ok(!error, "GetError of a new job returned %p\n", error);
    if (SUCCEEDED(hr) && error) IBackgroundCopyError_Release(error);

    value = enum_count(job);
    ok(value == 0, "EnumFiles of an empty job: %lu files\n", value);

    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == DO_E_JOB_EMPTY, "[inferred] Resume of an empty job: got %#lx\n", hr);
    state = job_state(job);
    ok(state == BG_JOB_STATE_SUSPENDED, "after Resume of an empty job: state %s\n", state_name(state));

    hr = IBackgroundCopyJob_Suspend(job);
    ok(hr == S_OK, "[inferred] Suspend of a suspended job: got %#lx\n", hr);
    state = job_state(job);
    ok(state == BG_JOB_STATE_SUSPENDED, "after Suspend: state %s\n", state_name(state));

    hr = IBackgroundCopyJob_Cancel(job);
    ok(hr == S_OK, "Cancel: got %#lx\n", hr);
    IBackgroundCopyJob_Release(job);
}

static void test_null_arguments(IBackgroundCopyManager *manager)
{
    IBackgroundCopyJob *job;
    BG_JOB_PROXY_USAGE usage;
    WCHAR *list, *bypass;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-null", NULL))) return;

    hr = IBackgroundCopyJob_GetDisplayName(job, NULL);
    /* documented as E_INVALIDARG; a proxy answers first with RPC_X_NULL_REF_POINTER */
    ok(null_arg_hr(hr), "GetDisplayName(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetId(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetId(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetType(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetType(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetProgress(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetProgress(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetTimes(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetTimes(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetState(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetState(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetOwner(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetOwner(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetDescription(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetDescription(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetPriority(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetPriority(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetNotifyFlags(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetNotifyFlags(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetNotifyInterface(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetNotifyInterface(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetMinimumRetryDelay(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetMinimumRetryDelay(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetNoProgressTimeout(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetNoProgressTimeout(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetErrorCount(job, NULL);
    ok(null_arg_hr(hr), "[inferred] GetErrorCount(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_EnumFiles(job, NULL);
    ok(null_arg_hr(hr), "[inferred] EnumFiles(NULL): got %#lx\n", hr);

    list = bypass = NULL;
    hr = IBackgroundCopyJob_GetProxySettings(job, NULL, &list, &bypass);
    ok(null_arg_hr(hr), "[inferred] GetProxySettings(NULL usage): got %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        CoTaskMemFree(list);
        CoTaskMemFree(bypass);
    }
    bypass = NULL;
    hr = IBackgroundCopyJob_GetProxySettings(job, &usage, NULL, &bypass);
    ok(null_arg_hr(hr), "[inferred] GetProxySettings(NULL list): got %#lx\n", hr);
    if (SUCCEEDED(hr)) CoTaskMemFree(bypass);

    hr = IBackgroundCopyJob_SetDisplayName(job, NULL);
    ok(null_arg_hr(hr), "[inferred] SetDisplayName(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_SetDescription(job, NULL);
    ok(null_arg_hr(hr), "[inferred] SetDescription(NULL): got %#lx\n", hr);

    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void check_display_name(IBackgroundCopyJob *job, const WCHAR *want)
{
    WCHAR *str = NULL;
    HRESULT hr;

    hr = IBackgroundCopyJob_GetDisplayName(job, &str);
    ok(hr == S_OK, "GetDisplayName: got %#lx\n", hr);
    ok(str && !wcscmp(str, want), "GetDisplayName: %s, expected %s\n", dbgstr_w(str), dbgstr_w(want));
    CoTaskMemFree(str);
}

static void check_description(IBackgroundCopyJob *job, const WCHAR *want)
{
    WCHAR *str = NULL;
    HRESULT hr;

    hr = IBackgroundCopyJob_GetDescription(job, &str);
    ok(hr == S_OK, "[inferred] GetDescription: got %#lx\n", hr);
    ok(str && !wcscmp(str, want), "[inferred] GetDescription: %s, expected %s\n", dbgstr_w(str),
       dbgstr_w(want));
    CoTaskMemFree(str);
}

static void test_names(IBackgroundCopyManager *manager)
{
    IBackgroundCopyJob *job;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-names", NULL))) return;

    hr = IBackgroundCopyJob_SetDisplayName(job, L"dosvc-test-job-renamed");
    ok(hr == S_OK, "[inferred] SetDisplayName: got %#lx\n", hr);
    check_display_name(job, L"dosvc-test-job-renamed");

    hr = IBackgroundCopyJob_SetDescription(job, L"A job of the wine-dosvc tests");
    ok(hr == S_OK, "[inferred] SetDescription: got %#lx\n", hr);
    check_description(job, L"A job of the wine-dosvc tests");

    hr = IBackgroundCopyJob_SetDescription(job, L"");
    ok(hr == S_OK, "[inferred] SetDescription(\"\"): got %#lx\n", hr);
    check_description(job, L"");

    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void test_priority(IBackgroundCopyManager *manager)
{
    BG_JOB_PRIORITY priority, got;
    IBackgroundCopyJob *job;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-priority", NULL))) return;

    for (priority = BG_JOB_PRIORITY_FOREGROUND; priority <= BG_JOB_PRIORITY_LOW; priority++)
    {
        hr = IBackgroundCopyJob_SetPriority(job, priority);
        ok(hr == S_OK, "SetPriority(%d): got %#lx\n", priority, hr);
        got = 0xdead;
        hr = IBackgroundCopyJob_GetPriority(job, &got);
        ok(hr == S_OK, "GetPriority: got %#lx\n", hr);
        ok(got == priority, "GetPriority after SetPriority(%d): %d\n", priority, got);
    }

    IBackgroundCopyJob_SetPriority(job, BG_JOB_PRIORITY_HIGH);
    hr = IBackgroundCopyJob_SetPriority(job, BG_JOB_PRIORITY_LOW + 1);
    ok(hr == E_INVALIDARG, "[inferred] SetPriority(%d): got %#lx\n", BG_JOB_PRIORITY_LOW + 1, hr);
    got = 0xdead;
    IBackgroundCopyJob_GetPriority(job, &got);
    ok(got == BG_JOB_PRIORITY_HIGH, "[inferred] priority after a refused SetPriority: %d\n", got);

    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void test_notify_flags(IBackgroundCopyManager *manager)
{
    static const ULONG good[] =
    {
        BG_NOTIFY_JOB_TRANSFERRED,
        BG_NOTIFY_JOB_ERROR,
        BG_NOTIFY_JOB_MODIFICATION,
        BG_NOTIFY_FILE_TRANSFERRED,
        BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR | BG_NOTIFY_JOB_MODIFICATION
            | BG_NOTIFY_FILE_TRANSFERRED,
    };
    static const ULONG bad[] =
    {
        BG_NOTIFY_DISABLE,
        BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_DISABLE,
        0x20, /* BG_NOTIFY_FILE_RANGES_TRANSFERRED */
        0x100,
    };
    IBackgroundCopyJob *job;
    unsigned int i;
    ULONG flags;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-notify", NULL))) return;

    for (i = 0; i < ARRAY_SIZE(good); i++)
    {
        hr = IBackgroundCopyJob_SetNotifyFlags(job, good[i]);
        ok(hr == S_OK, "SetNotifyFlags(%#lx): got %#lx\n", good[i], hr);
        flags = 0xdead;
        hr = IBackgroundCopyJob_GetNotifyFlags(job, &flags);
        ok(hr == S_OK, "GetNotifyFlags: got %#lx\n", hr);
        ok(flags == good[i], "GetNotifyFlags after SetNotifyFlags(%#lx): %#lx\n", good[i], flags);
    }

    hr = IBackgroundCopyJob_SetNotifyFlags(job, 0);
    ok(hr == S_OK, "[inferred] SetNotifyFlags(0): got %#lx\n", hr);
    flags = 0xdead;
    IBackgroundCopyJob_GetNotifyFlags(job, &flags);
    ok(flags == 0, "[inferred] GetNotifyFlags after SetNotifyFlags(0): %#lx\n", flags);

    IBackgroundCopyJob_SetNotifyFlags(job, BG_NOTIFY_JOB_ERROR);
    for (i = 0; i < ARRAY_SIZE(bad); i++)
    {
        hr = IBackgroundCopyJob_SetNotifyFlags(job, bad[i]);
        ok(hr == E_NOTIMPL, "[inferred] SetNotifyFlags(%#lx): got %#lx\n", bad[i], hr);
        flags = 0xdead;
        IBackgroundCopyJob_GetNotifyFlags(job, &flags);
        ok(flags == BG_NOTIFY_JOB_ERROR, "[inferred] flags after a refused SetNotifyFlags(%#lx): %#lx\n",
           bad[i], flags);
    }

    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void test_timeouts(IBackgroundCopyManager *manager)
{
    static const ULONG delays[] = { 5, 600, 0 };
    IBackgroundCopyJob *job;
    unsigned int i;
    ULONG value;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-timeouts", NULL))) return;

    hr = IBackgroundCopyJob_SetNoProgressTimeout(job, 120);
    ok(hr == S_OK, "SetNoProgressTimeout(120): got %#lx\n", hr);
    value = 0xdead;
    hr = IBackgroundCopyJob_GetNoProgressTimeout(job, &value);
    ok(hr == S_OK, "GetNoProgressTimeout: got %#lx\n", hr);
    ok(value == 120, "GetNoProgressTimeout after SetNoProgressTimeout(120): %lu\n", value);

    hr = IBackgroundCopyJob_SetNoProgressTimeout(job, 14 * 86400);
    ok(hr == S_OK, "SetNoProgressTimeout(14 days): got %#lx\n", hr);
    value = 0xdead;
    IBackgroundCopyJob_GetNoProgressTimeout(job, &value);
    ok(value == 14 * 86400, "GetNoProgressTimeout after SetNoProgressTimeout(14 days): %lu\n", value);

    for (i = 0; i < ARRAY_SIZE(delays); i++)
    {
        hr = IBackgroundCopyJob_SetMinimumRetryDelay(job, delays[i]);
        ok(hr == S_OK, "[inferred] SetMinimumRetryDelay(%lu): got %#lx\n", delays[i], hr);
        value = 0xdead;
        hr = IBackgroundCopyJob_GetMinimumRetryDelay(job, &value);
        ok(hr == S_OK, "[inferred] GetMinimumRetryDelay: got %#lx\n", hr);
        ok(value == delays[i], "[inferred] GetMinimumRetryDelay after SetMinimumRetryDelay(%lu): %lu\n",
           delays[i], value);
    }

    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);

    /* the default timeout depends on the priority */
    if (!(job = new_job(manager, L"dosvc-test-job-timeouts-low", NULL))) return;
    hr = IBackgroundCopyJob_SetPriority(job, BG_JOB_PRIORITY_LOW);
    ok(hr == S_OK, "SetPriority(LOW): got %#lx\n", hr);
    value = 0xdead;
    IBackgroundCopyJob_GetNoProgressTimeout(job, &value);
    ok(value == 86400, "[inferred] default no-progress timeout at LOW priority: %lu\n", value);
    IBackgroundCopyJob_SetPriority(job, BG_JOB_PRIORITY_FOREGROUND);
    value = 0xdead;
    IBackgroundCopyJob_GetNoProgressTimeout(job, &value);
    ok(value == 3600, "[inferred] default no-progress timeout at FOREGROUND priority: %lu\n", value);
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void check_proxy(IBackgroundCopyJob *job, BG_JOB_PROXY_USAGE want_usage, const WCHAR *want_list,
                        const WCHAR *want_bypass)
{
    BG_JOB_PROXY_USAGE usage = 0xdead;
    WCHAR *list = NULL, *bypass = NULL;
    HRESULT hr;

    hr = IBackgroundCopyJob_GetProxySettings(job, &usage, &list, &bypass);
    ok(hr == S_OK, "[inferred] GetProxySettings: got %#lx\n", hr);
    ok(usage == want_usage, "[inferred] proxy usage %d, expected %d\n", usage, want_usage);
    if (want_list)
        ok(list && !wcscmp(list, want_list), "[inferred] proxy list %s, expected %s\n", dbgstr_w(list),
           dbgstr_w(want_list));
    else
        ok(!list || !*list, "[inferred] proxy list %s, expected none\n", dbgstr_w(list));
    if (want_bypass)
        ok(bypass && !wcscmp(bypass, want_bypass), "[inferred] proxy bypass list %s, expected %s\n",
           dbgstr_w(bypass), dbgstr_w(want_bypass));
    else
        ok(!bypass || !*bypass, "[inferred] proxy bypass list %s, expected none\n", dbgstr_w(bypass));
    CoTaskMemFree(list);
    CoTaskMemFree(bypass);
}

static void test_proxy_settings(IBackgroundCopyManager *manager)
{
    static const WCHAR proxy[] = L"http://proxy.invalid:8080", bypass[] = L"<local>;*.invalid";
    IBackgroundCopyJob *job;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-proxy", NULL))) return;

    hr = IBackgroundCopyJob_SetProxySettings(job, BG_JOB_PROXY_USAGE_NO_PROXY, NULL, NULL);
    ok(hr == S_OK, "[inferred] SetProxySettings(NO_PROXY): got %#lx\n", hr);
    check_proxy(job, BG_JOB_PROXY_USAGE_NO_PROXY, NULL, NULL);

    hr = IBackgroundCopyJob_SetProxySettings(job, BG_JOB_PROXY_USAGE_OVERRIDE, proxy, bypass);
    ok(hr == S_OK, "[inferred] SetProxySettings(OVERRIDE, list, bypass): got %#lx\n", hr);
    check_proxy(job, BG_JOB_PROXY_USAGE_OVERRIDE, proxy, bypass);

    hr = IBackgroundCopyJob_SetProxySettings(job, BG_JOB_PROXY_USAGE_OVERRIDE, NULL, NULL);
    ok(hr == E_INVALIDARG, "[inferred] SetProxySettings(OVERRIDE, NULL list): got %#lx\n", hr);
    check_proxy(job, BG_JOB_PROXY_USAGE_OVERRIDE, proxy, bypass);

    hr = IBackgroundCopyJob_SetProxySettings(job, BG_JOB_PROXY_USAGE_OVERRIDE, proxy, NULL);
    ok(hr == S_OK, "[inferred] SetProxySettings(OVERRIDE, list, NULL bypass): got %#lx\n", hr);
    check_proxy(job, BG_JOB_PROXY_USAGE_OVERRIDE, proxy, NULL);

    hr = IBackgroundCopyJob_SetProxySettings(job, BG_JOB_PROXY_USAGE_AUTODETECT, NULL, NULL);
    ok(hr == S_OK, "[inferred] SetProxySettings(AUTODETECT): got %#lx\n", hr);
    check_proxy(job, BG_JOB_PROXY_USAGE_AUTODETECT, NULL, NULL);

    hr = IBackgroundCopyJob_SetProxySettings(job, BG_JOB_PROXY_USAGE_PRECONFIG, NULL, NULL);
    ok(hr == S_OK, "[inferred] SetProxySettings(PRECONFIG): got %#lx\n", hr);
    check_proxy(job, BG_JOB_PROXY_USAGE_PRECONFIG, NULL, NULL);

    hr = IBackgroundCopyJob_SetProxySettings(job, BG_JOB_PROXY_USAGE_AUTODETECT + 1, NULL, NULL);
    ok(hr == E_INVALIDARG, "[inferred] SetProxySettings(%d): got %#lx\n",
       BG_JOB_PROXY_USAGE_AUTODETECT + 1, hr);
    check_proxy(job, BG_JOB_PROXY_USAGE_PRECONFIG, NULL, NULL);

    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void test_notify_interface(IBackgroundCopyManager *manager)
{
    IUnknown *ours = (IUnknown *)&test_callback.IBackgroundCopyCallback_iface;
    IBackgroundCopyJob *job;
    IUnknown *unk, *identity;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-callback", NULL))) return;

    hr = IBackgroundCopyJob_SetNotifyInterface(job, ours);
    ok(hr == S_OK, "SetNotifyInterface(callback): got %#lx\n", hr);
    unk = NULL;
    hr = IBackgroundCopyJob_GetNotifyInterface(job, &unk);
    ok(hr == S_OK, "GetNotifyInterface: got %#lx\n", hr);
    ok(unk != NULL, "GetNotifyInterface returned NULL after SetNotifyInterface\n");
    if (unk)
    {
        /* our own object comes back: same apartment, no proxy */
        identity = NULL;
        hr = IUnknown_QueryInterface(unk, &IID_IUnknown, (void **)&identity);
        ok(hr == S_OK, "QueryInterface(IUnknown) of the notify interface: got %#lx\n", hr);
        ok(identity == ours, "GetNotifyInterface returned %p (identity %p), we set %p\n", unk, identity, ours);
        if (identity) IUnknown_Release(identity);
        IUnknown_Release(unk);
    }

    /* not a callback: refused, and the old one stays */
    hr = IBackgroundCopyJob_SetNotifyInterface(job, plain_unknown());
    ok(hr == E_NOINTERFACE, "[inferred] SetNotifyInterface(IUnknown-only object): got %#lx\n", hr);
    unk = NULL;
    hr = IBackgroundCopyJob_GetNotifyInterface(job, &unk);
    ok(hr == S_OK, "GetNotifyInterface: got %#lx\n", hr);
    ok(unk != NULL, "[inferred] GetNotifyInterface after a refused SetNotifyInterface returned NULL\n");
    if (unk) IUnknown_Release(unk);

    hr = IBackgroundCopyJob_SetNotifyInterface(job, NULL);
    ok(hr == S_OK, "SetNotifyInterface(NULL): got %#lx\n", hr);
    unk = (IUnknown *)0xdeadbeef;
    hr = IBackgroundCopyJob_GetNotifyInterface(job, &unk);
    ok(hr == S_OK, "GetNotifyInterface: got %#lx\n", hr);
    ok(!unk, "GetNotifyInterface after SetNotifyInterface(NULL): %p\n", unk);
    if (SUCCEEDED(hr) && unk) IUnknown_Release(unk);

    /* set again and leave it to Cancel to let go of it */
    hr = IBackgroundCopyJob_SetNotifyInterface(job, ours);
    ok(hr == S_OK, "SetNotifyInterface(callback): got %#lx\n", hr);

    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void test_owner_and_times(IBackgroundCopyManager *manager)
{
    IDeliveryOptimizationJob *do_job;
    WCHAR *owner, *owner2;
    BG_JOB_TIMES times, times2;
    IBackgroundCopyJob *job;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-owner", NULL))) return;

    owner = NULL;
    hr = IBackgroundCopyJob_GetOwner(job, &owner);
    ok(hr == S_OK, "[inferred] GetOwner: got %#lx\n", hr);
    hr = IBackgroundCopyJob_TakeOwnership(job);
    ok(hr == S_OK, "[inferred] TakeOwnership by the owner: got %#lx\n", hr);
    owner2 = NULL;
    hr = IBackgroundCopyJob_GetOwner(job, &owner2);
    ok(hr == S_OK, "[inferred] GetOwner: got %#lx\n", hr);
    ok(owner && owner2 && !wcscmp(owner, owner2), "[inferred] owner %s after TakeOwnership, before %s\n",
       dbgstr_w(owner2), dbgstr_w(owner));
    CoTaskMemFree(owner);
    CoTaskMemFree(owner2);

    /* ModificationTime follows Set* calls and file additions */
    memset(&times, 0, sizeof(times));
    hr = IBackgroundCopyJob_GetTimes(job, &times);
    ok(hr == S_OK, "GetTimes: got %#lx\n", hr);
    Sleep(50);
    hr = IBackgroundCopyJob_SetDescription(job, L"modified");
    ok(hr == S_OK, "[inferred] SetDescription: got %#lx\n", hr);
    memset(&times2, 0, sizeof(times2));
    hr = IBackgroundCopyJob_GetTimes(job, &times2);
    ok(hr == S_OK, "GetTimes: got %#lx\n", hr);
    ok(ft64(&times2.ModificationTime) > ft64(&times.ModificationTime),
       "ModificationTime after SetDescription: %#I64x, before %#I64x\n",
       ft64(&times2.ModificationTime), ft64(&times.ModificationTime));
    ok(ft64(&times2.CreationTime) == ft64(&times.CreationTime), "CreationTime changed: %#I64x, was %#I64x\n",
       ft64(&times2.CreationTime), ft64(&times.CreationTime));

    if ((do_job = query(job, &IID_IDeliveryOptimizationJob, "IDeliveryOptimizationJob", FALSE)))
    {
        times = times2;
        Sleep(50);
        hr = add_ranges(do_job, L"owner-times.bin", 0, NULL, DO_UNKNOWN_FILE_SIZE);
        ok(hr == S_OK, "AddFileWithRanges: got %#lx\n", hr);
        memset(&times2, 0, sizeof(times2));
        IBackgroundCopyJob_GetTimes(job, &times2);
        ok(ft64(&times2.ModificationTime) > ft64(&times.ModificationTime),
           "ModificationTime after adding a file: %#I64x, before %#I64x\n",
           ft64(&times2.ModificationTime), ft64(&times.ModificationTime));
        IDeliveryOptimizationJob_Release(do_job);
    }

    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void test_query_interface(IBackgroundCopyManager *manager)
{
    static const struct
    {
        const IID *iid;
        const char *name;
        BOOL documented;
    }
    supported[] =
    {
        { &IID_IUnknown, "IUnknown", TRUE },
        { &IID_IBackgroundCopyJob, "IBackgroundCopyJob", TRUE },
        { &IID_IBackgroundCopyJob5, "IBackgroundCopyJob5", TRUE },
        { &IID_IBackgroundCopyJobHttpOptions, "IBackgroundCopyJobHttpOptions", FALSE },
        { &IID_IDeliveryOptimizationJob, "IDeliveryOptimizationJob", FALSE },
        { &IID_IDeliveryOptimizationJob2, "IDeliveryOptimizationJob2", FALSE },
    },
    foreign[] =
    {
        { &IID_IBackgroundCopyFile, "IBackgroundCopyFile" },
        { &IID_IBackgroundCopyManager, "IBackgroundCopyManager" },
        { &IID_IEnumBackgroundCopyFiles, "IEnumBackgroundCopyFiles" },
        { &IID_IBackgroundCopyCallback, "IBackgroundCopyCallback" },
        { &IID_IDeliveryOptimizationFile, "IDeliveryOptimizationFile" },
        { &IID_IDOManager, "IDOManager" },
        { &IID_IDODownload, "IDODownload" },
    };
    IUnknown *identity, *unk, *unk2;
    IBackgroundCopyJob *job;
    unsigned int i;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-qi", NULL))) return;

    identity = NULL;
    IBackgroundCopyJob_QueryInterface(job, &IID_IUnknown, (void **)&identity);
    for (i = 0; i < ARRAY_SIZE(supported); i++)
    {
        unk = NULL;
        hr = IBackgroundCopyJob_QueryInterface(job, supported[i].iid, (void **)&unk);
        ok(hr == S_OK, "%sQueryInterface(%s): got %#lx\n", supported[i].documented ? "" : "[inferred] ",
           supported[i].name, hr);
        if (!unk) continue;
        unk2 = NULL;
        IUnknown_QueryInterface(unk, &IID_IUnknown, (void **)&unk2);
        ok(unk2 == identity, "QueryInterface(%s): IUnknown %p, the job's is %p\n", supported[i].name,
           unk2, identity);
        if (unk2) IUnknown_Release(unk2);
        IUnknown_Release(unk);
    }
    for (i = 0; i < ARRAY_SIZE(foreign); i++)
    {
        unk = (IUnknown *)0xdeadbeef;
        hr = IBackgroundCopyJob_QueryInterface(job, foreign[i].iid, (void **)&unk);
        ok(hr == E_NOINTERFACE, "QueryInterface(%s): got %#lx\n", foreign[i].name, hr);
        ok(!unk, "QueryInterface(%s) returned %p\n", foreign[i].name, unk);
        if (SUCCEEDED(hr) && unk) IUnknown_Release(unk);
    }
    if (identity) IUnknown_Release(identity);

    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static HRESULT get_job5_dword(IBackgroundCopyJob5 *job5, BITS_JOB_PROPERTY_ID id, DWORD *value)
{
    BITS_JOB_PROPERTY_VALUE v;
    HRESULT hr;

    memset(&v, 0xcc, sizeof(v));
    hr = IBackgroundCopyJob5_GetProperty(job5, id, &v);
    *value = v.Dword;
    return hr;
}

static void test_job5_properties(IBackgroundCopyManager *manager)
{
    static const DWORD policies[] =
    {
        POLICY_ALWAYS, POLICY_NOT_ROAMING, POLICY_NO_SURCHARGE, POLICY_STANDARD, POLICY_UNRESTRICTED,
    };
    static const BITS_JOB_PROPERTY_ID unsupported[] =
    {
        BITS_JOB_PROPERTY_DYNAMIC_CONTENT,
        BITS_JOB_PROPERTY_HIGH_PERFORMANCE,
        BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE,
        BITS_JOB_PROPERTY_USE_STORED_CREDENTIALS,
        BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS,
        BITS_JOB_PROPERTY_ON_DEMAND_MODE,
    };
    BITS_JOB_PROPERTY_VALUE value;
    IBackgroundCopyJob5 *job5;
    IBackgroundCopyJob *job;
    unsigned int i;
    BOOL known;
    DWORD flags;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-job5", NULL))) return;
    if (!(job5 = query(job, &IID_IBackgroundCopyJob5, "IBackgroundCopyJob5", TRUE))) goto done;

    flags = 0xdead;
    hr = get_job5_dword(job5, BITS_JOB_PROPERTY_ID_COST_FLAGS, &flags);
    ok(hr == S_OK, "GetProperty(COST_FLAGS): got %#lx\n", hr);
    for (i = 0, known = FALSE; i < ARRAY_SIZE(policies); i++)
        if (flags == policies[i]) known = TRUE;
    ok(known, "[inferred] default COST_FLAGS %#lx is no BITS_JOB_TRANSFER_POLICY\n", flags);
    trace("default COST_FLAGS %#lx\n", flags);

    for (i = 0; i < ARRAY_SIZE(policies); i++)
    {
        memset(&value, 0, sizeof(value));
        value.Dword = policies[i];
        hr = IBackgroundCopyJob5_SetProperty(job5, BITS_JOB_PROPERTY_ID_COST_FLAGS, value);
        ok(hr == S_OK, "SetProperty(COST_FLAGS, %#lx): got %#lx\n", policies[i], hr);
        flags = 0xdead;
        hr = get_job5_dword(job5, BITS_JOB_PROPERTY_ID_COST_FLAGS, &flags);
        ok(hr == S_OK, "GetProperty(COST_FLAGS): got %#lx\n", hr);
        ok(flags == policies[i], "COST_FLAGS %#lx after setting %#lx\n", flags, policies[i]);
    }

    memset(&value, 0xcc, sizeof(value));
    hr = IBackgroundCopyJob5_GetProperty(job5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, &value);
    ok(hr == S_OK, "GetProperty(NOTIFICATION_CLSID): got %#lx\n", hr);
    ok(IsEqualGUID(&value.ClsID, &GUID_NULL), "[inferred] default NOTIFICATION_CLSID %s\n",
       dbgstr_guid(&value.ClsID));

    /* it must name a registered out-of-process server: DO's own class is one */
    memset(&value, 0, sizeof(value));
    value.ClsID = CLSID_DeliveryOptimization;
    hr = IBackgroundCopyJob5_SetProperty(job5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, value);
    ok(hr == S_OK, "SetProperty(NOTIFICATION_CLSID): got %#lx\n", hr);
    memset(&value, 0xcc, sizeof(value));
    hr = IBackgroundCopyJob5_GetProperty(job5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, &value);
    ok(hr == S_OK, "GetProperty(NOTIFICATION_CLSID): got %#lx\n", hr);
    ok(IsEqualGUID(&value.ClsID, &CLSID_DeliveryOptimization), "NOTIFICATION_CLSID %s after setting %s\n",
       dbgstr_guid(&value.ClsID), dbgstr_guid(&CLSID_DeliveryOptimization));

    memset(&value, 0, sizeof(value));
    hr = IBackgroundCopyJob5_SetProperty(job5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, value);
    ok(hr == S_OK, "SetProperty(NOTIFICATION_CLSID, GUID_NULL): got %#lx\n", hr);
    memset(&value, 0xcc, sizeof(value));
    hr = IBackgroundCopyJob5_GetProperty(job5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, &value);
    ok(hr == S_OK, "GetProperty(NOTIFICATION_CLSID): got %#lx\n", hr);
    ok(IsEqualGUID(&value.ClsID, &GUID_NULL), "NOTIFICATION_CLSID %s after clearing\n",
       dbgstr_guid(&value.ClsID));

    for (i = 0; i < ARRAY_SIZE(unsupported); i++)
    {
        memset(&value, 0, sizeof(value));
        hr = IBackgroundCopyJob5_SetProperty(job5, unsupported[i], value);
        ok(hr == E_NOTIMPL, "[inferred] SetProperty(%d): got %#lx\n", unsupported[i], hr);
        hr = IBackgroundCopyJob5_GetProperty(job5, unsupported[i], &value);
        ok(hr == E_NOTIMPL, "[inferred] GetProperty(%d): got %#lx\n", unsupported[i], hr);
    }

    /* a proxy built from the BITS IDL refuses an unknown union tag itself */
    memset(&value, 0, sizeof(value));
    hr = IBackgroundCopyJob5_SetProperty(job5, (BITS_JOB_PROPERTY_ID)99, value);
    ok(hr == E_INVALIDARG || hr == INVALID_TAG_HR, "[inferred] SetProperty(99): got %#lx\n", hr);
    hr = IBackgroundCopyJob5_GetProperty(job5, (BITS_JOB_PROPERTY_ID)99, &value);
    ok(hr == E_INVALIDARG || hr == INVALID_TAG_HR, "[inferred] GetProperty(99): got %#lx\n", hr);

    hr = IBackgroundCopyJob5_GetProperty(job5, BITS_JOB_PROPERTY_ID_COST_FLAGS, NULL);
    ok(null_arg_hr(hr), "[inferred] GetProperty(COST_FLAGS, NULL): got %#lx\n", hr);

    IBackgroundCopyJob5_Release(job5);
done:
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void test_http_options(IBackgroundCopyManager *manager)
{
    static const WCHAR headers[] = L"X-Dosvc-Test: 1\r\nX-Other: two";
    IBackgroundCopyJobHttpOptions *http;
    IBackgroundCopyJob *job;
    ULONG flags, want;
    WCHAR *str;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-http", NULL))) return;
    if (!(http = query(job, &IID_IBackgroundCopyJobHttpOptions, "IBackgroundCopyJobHttpOptions", FALSE)))
        goto done;

    str = (WCHAR *)0xdeadbeef;
    hr = IBackgroundCopyJobHttpOptions_GetCustomHeaders(http, &str);
    ok(hr == S_FALSE, "[inferred] GetCustomHeaders of a new job: got %#lx\n", hr);
    ok(!str, "[inferred] GetCustomHeaders of a new job: %s\n", dbgstr_w(str));
    if (hr == S_OK) CoTaskMemFree(str);

    hr = IBackgroundCopyJobHttpOptions_SetCustomHeaders(http, headers);
    ok(hr == S_OK, "[inferred] SetCustomHeaders: got %#lx\n", hr);
    str = NULL;
    hr = IBackgroundCopyJobHttpOptions_GetCustomHeaders(http, &str);
    ok(hr == S_OK, "[inferred] GetCustomHeaders: got %#lx\n", hr);
    ok(str && !wcscmp(str, headers), "[inferred] GetCustomHeaders: %s\n", dbgstr_w(str));
    CoTaskMemFree(str);

    hr = IBackgroundCopyJobHttpOptions_SetCustomHeaders(http, NULL);
    ok(hr == S_OK, "[inferred] SetCustomHeaders(NULL): got %#lx\n", hr);
    str = (WCHAR *)0xdeadbeef;
    hr = IBackgroundCopyJobHttpOptions_GetCustomHeaders(http, &str);
    ok(hr == S_FALSE, "[inferred] GetCustomHeaders after clearing: got %#lx\n", hr);
    ok(!str, "[inferred] GetCustomHeaders after clearing: %s\n", dbgstr_w(str));
    if (hr == S_OK) CoTaskMemFree(str);

    hr = IBackgroundCopyJobHttpOptions_GetCustomHeaders(http, NULL);
    ok(null_arg_hr(hr), "[inferred] GetCustomHeaders(NULL): got %#lx\n", hr);

    flags = 0xdead;
    hr = IBackgroundCopyJobHttpOptions_GetSecurityFlags(http, &flags);
    ok(hr == S_OK, "[inferred] GetSecurityFlags: got %#lx\n", hr);
    ok(flags == 0, "[inferred] default security flags: %#lx\n", flags);

    want = BG_SSL_IGNORE_UNKNOWN_CA | BG_SSL_IGNORE_CERT_DATE_INVALID | BG_HTTP_REDIRECT_POLICY_DISALLOW;
    hr = IBackgroundCopyJobHttpOptions_SetSecurityFlags(http, want);
    ok(hr == S_OK, "[inferred] SetSecurityFlags(%#lx): got %#lx\n", want, hr);
    flags = 0xdead;
    hr = IBackgroundCopyJobHttpOptions_GetSecurityFlags(http, &flags);
    ok(hr == S_OK, "[inferred] GetSecurityFlags: got %#lx\n", hr);
    ok(flags == want, "[inferred] security flags %#lx after setting %#lx\n", flags, want);

    hr = IBackgroundCopyJobHttpOptions_SetSecurityFlags(http, 0);
    ok(hr == S_OK, "[inferred] SetSecurityFlags(0): got %#lx\n", hr);
    flags = 0xdead;
    IBackgroundCopyJobHttpOptions_GetSecurityFlags(http, &flags);
    ok(flags == 0, "[inferred] security flags %#lx after setting 0\n", flags);

    hr = IBackgroundCopyJobHttpOptions_GetSecurityFlags(http, NULL);
    ok(null_arg_hr(hr), "[inferred] GetSecurityFlags(NULL): got %#lx\n", hr);

    IBackgroundCopyJobHttpOptions_Release(http);
done:
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void test_add_file_with_ranges(IBackgroundCopyManager *manager)
{
    static const struct
    {
        const char *what;
        DWORD count;
        BG_FILE_RANGE ranges[3];
        HRESULT hr;
        BOOL documented;
    }
    range_tests[] =
    {
        { "offset BG_LENGTH_TO_EOF", 1, { { BG_LENGTH_TO_EOF, 10 } }, DO_E_INVALID_RANGE, TRUE },
        { "offset + length overflowing", 1, { { ~(UINT64)0 - 10, 100 } }, DO_E_INVALID_RANGE, FALSE },
        { "a range twice", 2, { { 0, 10 }, { 0, 10 } }, DO_E_OVERLAPPING_RANGES, TRUE },
        { "overlapping ranges", 2, { { 0, 10 }, { 5, 10 } }, DO_E_OVERLAPPING_RANGES, TRUE },
        { "overlapping once sorted", 2, { { 50, 10 }, { 0, 51 } }, DO_E_OVERLAPPING_RANGES, TRUE },
        { "(100,5),(100,0)", 2, { { 100, 5 }, { 100, 0 } }, DO_E_OVERLAPPING_RANGES, TRUE },
        { "a range after one to EOF", 2, { { 0, BG_LENGTH_TO_EOF }, { 100, 10 } }, DO_E_OVERLAPPING_RANGES, FALSE },
        { "(100,0),(100,5)", 2, { { 100, 0 }, { 100, 5 } }, S_OK, FALSE },
        { "adjacent ranges", 3, { { 0, 10 }, { 10, 10 }, { 20, BG_LENGTH_TO_EOF } }, S_OK, FALSE },
        { "unsorted ranges", 2, { { 500, 10 }, { 0, 10 } }, S_OK, FALSE },
        { "one range to EOF", 1, { { 0, BG_LENGTH_TO_EOF } }, S_OK, FALSE },
    };
    WCHAR url[2300], local[MAX_PATH], leaf[64];
    IDeliveryOptimizationJob *do_job;
    IBackgroundCopyJob *job;
    BG_FILE_RANGE range;
    ULONG files = 0, count;
    unsigned int i;
    size_t len;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-addfile", NULL))) return;
    if (!(do_job = query(job, &IID_IDeliveryOptimizationJob, "IDeliveryOptimizationJob", FALSE)))
        goto done;

    hr = add_ranges(do_job, L"awr-plain.bin", 0, NULL, DO_UNKNOWN_FILE_SIZE);
    ok(hr == S_OK, "AddFileWithRanges without ranges: got %#lx\n", hr);
    if (hr == S_OK) files++;
    count = files_total(job);
    ok(count == files, "FilesTotal %lu, expected %lu\n", count, files);

    hr = add_ranges(do_job, L"awr-sized.bin", 0, NULL, 123456);
    ok(hr == S_OK, "AddFileWithRanges with a file size: got %#lx\n", hr);
    if (hr == S_OK) files++;

    make_test_path(local, ARRAY_SIZE(local), L"awr-https.bin");
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"awr-https",
            L"https://127.0.0.1:1/dosvc-test/awr-https.bin", local, 0, NULL, DO_UNKNOWN_FILE_SIZE);
    ok(hr == S_OK, "[inferred] AddFileWithRanges of an https URL: got %#lx\n", hr);
    if (hr == S_OK) files++;
    count = files_total(job);
    ok(count == files, "FilesTotal %lu, expected %lu\n", count, files);

    for (i = 0; i < ARRAY_SIZE(range_tests); i++)
    {
        swprintf(leaf, ARRAY_SIZE(leaf), L"awr-range-%u.bin", i);
        hr = add_ranges(do_job, leaf, range_tests[i].count, (BG_FILE_RANGE *)range_tests[i].ranges,
                        DO_UNKNOWN_FILE_SIZE);
        ok(hr == range_tests[i].hr, "%sAddFileWithRanges with %s: got %#lx\n",
           range_tests[i].documented ? "" : "[inferred] ", range_tests[i].what, hr);
        if (hr == S_OK) files++;
    }

    hr = add_ranges(do_job, L"awr-null-ranges.bin", 2, NULL, DO_UNKNOWN_FILE_SIZE);
    ok(hr == E_INVALIDARG, "[inferred] AddFileWithRanges with 2 ranges and NULL: got %#lx\n", hr);
    if (hr == S_OK) files++;

    /* local names */
    test_url(url, ARRAY_SIZE(url), L"awr-local.bin");
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"awr-local", url, NULL, 0, NULL,
                                                    DO_UNKNOWN_FILE_SIZE);
    /* documented as E_INVALIDARG; a proxy answers first with RPC_X_NULL_REF_POINTER */
    ok(null_arg_hr(hr), "AddFileWithRanges with a NULL local name: got %#lx\n", hr);
    if (hr == S_OK) files++;
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"awr-local", url, L"", 0, NULL,
                                                    DO_UNKNOWN_FILE_SIZE);
    ok(hr == E_INVALIDARG, "AddFileWithRanges with an empty local name: got %#lx\n", hr);
    if (hr == S_OK) files++;
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"awr-local", url, L"awr-relative.bin", 0,
                                                    NULL, DO_UNKNOWN_FILE_SIZE);
    ok(hr == E_INVALIDARG, "[inferred] AddFileWithRanges with a relative local name: got %#lx\n", hr);
    if (hr == S_OK) files++;
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"awr-local", url, test_dir(), 0, NULL,
                                                    DO_UNKNOWN_FILE_SIZE);
    ok(hr == E_ACCESSDENIED, "[inferred] AddFileWithRanges with a directory as local name: got %#lx\n", hr);
    if (hr == S_OK) files++;
    make_test_path(local, ARRAY_SIZE(local), L"no-such-directory\\awr-local.bin");
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"awr-local", url, local, 0, NULL,
                                                    DO_UNKNOWN_FILE_SIZE);
    ok(hr == HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND),
       "[inferred] AddFileWithRanges into a missing directory: got %#lx\n", hr);
    if (hr == S_OK) files++;

    /* remote names */
    make_test_path(local, ARRAY_SIZE(local), L"awr-remote.bin");
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"awr-remote", NULL, local, 0, NULL,
                                                    DO_UNKNOWN_FILE_SIZE);
    ok(null_arg_hr(hr), "[inferred] AddFileWithRanges with a NULL URL: got %#lx\n", hr);
    if (hr == S_OK) files++;
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"awr-remote", L"", local, 0, NULL,
                                                    DO_UNKNOWN_FILE_SIZE);
    ok(hr == E_INVALIDARG, "[inferred] AddFileWithRanges with an empty URL: got %#lx\n", hr);
    if (hr == S_OK) files++;
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"awr-remote",
            L"ftp://127.0.0.1/dosvc-test/awr-remote.bin", local, 0, NULL, DO_UNKNOWN_FILE_SIZE);
    ok(hr == E_INVALIDARG, "[inferred] AddFileWithRanges with an ftp URL: got %#lx\n", hr);
    if (hr == S_OK) files++;
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"awr-remote", L"file:///c:/windows/win.ini",
                                                    local, 0, NULL, DO_UNKNOWN_FILE_SIZE);
    ok(hr == E_INVALIDARG, "[inferred] AddFileWithRanges with a file URL: got %#lx\n", hr);
    if (hr == S_OK) files++;

    test_url(url, ARRAY_SIZE(url), L"");
    for (len = wcslen(url); len < 2201; len++) url[len] = 'a' + len % 26;
    url[2201] = 0;
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"awr-remote", url, local, 0, NULL,
                                                    DO_UNKNOWN_FILE_SIZE);
    ok(hr == E_INVALIDARG, "[inferred] AddFileWithRanges with a 2201-character URL: got %#lx\n", hr);
    if (hr == S_OK) files++;
    url[2200] = 0;
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, L"awr-remote", url, local, 0, NULL,
                                                    DO_UNKNOWN_FILE_SIZE);
    ok(hr == S_OK, "[inferred] AddFileWithRanges with a 2200-character URL: got %#lx\n", hr);
    if (hr == S_OK) files++;

    test_url(url, ARRAY_SIZE(url), L"awr-id.bin");
    make_test_path(local, ARRAY_SIZE(local), L"awr-id.bin");
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, NULL, url, local, 0, NULL,
                                                    DO_UNKNOWN_FILE_SIZE);
    ok(null_arg_hr(hr), "[inferred] AddFileWithRanges with a NULL file id: got %#lx\n", hr);
    if (hr == S_OK) files++;

    /* nothing refused was added */
    count = files_total(job);
    ok(count == files, "[inferred] FilesTotal %lu, expected %lu\n", count, files);
    count = enum_count(job);
    ok(count == files, "[inferred] EnumFiles counts %lu files, expected %lu\n", count, files);

    /* not after Cancel */
    hr = IBackgroundCopyJob_Cancel(job);
    ok(hr == S_OK, "Cancel: got %#lx\n", hr);
    range.InitialOffset = 0;
    range.Length = 10;
    hr = add_ranges(do_job, L"awr-cancelled.bin", 1, &range, DO_UNKNOWN_FILE_SIZE);
    ok(hr == DO_E_INVALID_STATE, "AddFileWithRanges after Cancel: got %#lx\n", hr);

    IDeliveryOptimizationJob_Release(do_job);
    IBackgroundCopyJob_Release(job);
    return;
done:
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void test_bits_add_file(IBackgroundCopyManager *manager)
{
    WCHAR urls[3][200], locals[3][MAX_PATH], *str;
    IEnumBackgroundCopyFiles *enum_files;
    IBackgroundCopyFile *file;
    IBackgroundCopyJob *job;
    BG_FILE_INFO info[2];
    ULONG count, i;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-bitsadd", NULL))) return;

    for (i = 0; i < 3; i++)
    {
        WCHAR leaf[32];

        swprintf(leaf, ARRAY_SIZE(leaf), L"bits-add-%lu.bin", i);
        test_url(urls[i], ARRAY_SIZE(urls[i]), leaf);
        make_test_path(locals[i], ARRAY_SIZE(locals[i]), leaf);
    }

    hr = IBackgroundCopyJob_AddFile(job, urls[0], locals[0]);
    ok(hr == S_OK, "[inferred] AddFile: got %#lx\n", hr);
    count = files_total(job);
    ok(count == 1, "FilesTotal after AddFile: %lu\n", count);

    info[0].RemoteName = urls[1];
    info[0].LocalName = locals[1];
    info[1].RemoteName = urls[2];
    info[1].LocalName = locals[2];
    hr = IBackgroundCopyJob_AddFileSet(job, 2, info);
    ok(hr == S_OK, "[inferred] AddFileSet(2): got %#lx\n", hr);
    count = files_total(job);
    ok(count == 3, "FilesTotal after AddFileSet(2): %lu\n", count);

    hr = IBackgroundCopyJob_EnumFiles(job, &enum_files);
    ok(hr == S_OK, "EnumFiles: got %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        count = 0;
        hr = IEnumBackgroundCopyFiles_GetCount(enum_files, &count);
        ok(hr == S_OK, "GetCount: got %#lx\n", hr);
        ok(count == 3, "GetCount: %lu\n", count);
        for (i = 0; i < 3; i++)
        {
            file = NULL;
            hr = IEnumBackgroundCopyFiles_Next(enum_files, 1, &file, NULL);
            ok(hr == S_OK, "Next: got %#lx\n", hr);
            if (!file) break;
            str = NULL;
            hr = IBackgroundCopyFile_GetRemoteName(file, &str);
            ok(hr == S_OK, "GetRemoteName: got %#lx\n", hr);
            ok(str && !wcscmp(str, urls[i]), "[inferred] file %lu: remote name %s, expected %s\n", i,
               dbgstr_w(str), dbgstr_w(urls[i]));
            CoTaskMemFree(str);
            str = NULL;
            hr = IBackgroundCopyFile_GetLocalName(file, &str);
            ok(hr == S_OK, "GetLocalName: got %#lx\n", hr);
            ok(str && !lstrcmpiW(str, locals[i]), "[inferred] file %lu: local name %s, expected %s\n", i,
               dbgstr_w(str), dbgstr_w(locals[i]));
            CoTaskMemFree(str);
            IBackgroundCopyFile_Release(file);
        }
        IEnumBackgroundCopyFiles_Release(enum_files);
    }

    /* refusals */
    hr = IBackgroundCopyJob_AddFile(job, NULL, locals[0]);
    ok(null_arg_hr(hr), "[inferred] AddFile with a NULL URL: got %#lx\n", hr);
    hr = IBackgroundCopyJob_AddFile(job, urls[0], NULL);
    ok(null_arg_hr(hr), "[inferred] AddFile with a NULL local name: got %#lx\n", hr);
    hr = IBackgroundCopyJob_AddFile(job, L"ftp://127.0.0.1/dosvc-test/x.bin", locals[0]);
    ok(hr == E_INVALIDARG, "[inferred] AddFile with an ftp URL: got %#lx\n", hr);
    hr = IBackgroundCopyJob_AddFile(job, urls[0], L"bits-add-relative.bin");
    ok(hr == E_INVALIDARG, "[inferred] AddFile with a relative local name: got %#lx\n", hr);
    hr = IBackgroundCopyJob_AddFile(job, urls[0], L"");
    ok(hr == E_INVALIDARG, "[inferred] AddFile with an empty local name: got %#lx\n", hr);
    hr = IBackgroundCopyJob_AddFileSet(job, 1, NULL);
    ok(null_arg_hr(hr), "[inferred] AddFileSet(1, NULL): got %#lx\n", hr);
    count = files_total(job);
    ok(count == 3, "[inferred] FilesTotal after refused additions: %lu\n", count);

    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void test_job2(IBackgroundCopyManager *manager)
{
    IDeliveryOptimizationJob2 *job2;
    IBackgroundCopyJob *job;
    IUnknown *obj, *obj2;
    BG_FILE_RANGE ranges[2];
    ULONG files = 0, count;
    WCHAR url[200];
    VARIANT v;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-job-job2", NULL))) return;
    if (!(job2 = query(job, &IID_IDeliveryOptimizationJob2, "IDeliveryOptimizationJob2", FALSE)))
        goto done;

    test_url(url, ARRAY_SIZE(url), L"job2-file.bin");

    obj = NULL;
    hr = IDeliveryOptimizationJob2_AddFile(job2, L"job2-file-0", url, 0, NULL,
                                           &IID_IDeliveryOptimizationFile, (void **)&obj);
    ok(hr == S_OK, "AddFile(IDeliveryOptimizationFile): got %#lx\n", hr);
    ok(obj != NULL, "AddFile(IDeliveryOptimizationFile) returned no object\n");
    if (hr == S_OK) files++;
    if (obj)
    {
        obj2 = NULL;
        hr = IUnknown_QueryInterface(obj, &IID_IDeliveryOptimizationFile, (void **)&obj2);
        ok(hr == S_OK, "QueryInterface(IDeliveryOptimizationFile) of the file: got %#lx\n", hr);
        if (obj2) IUnknown_Release(obj2);
        obj2 = NULL;
        hr = IUnknown_QueryInterface(obj, &IID_IBackgroundCopyFile, (void **)&obj2);
        ok(hr == S_OK, "[inferred] QueryInterface(IBackgroundCopyFile) of the file: got %#lx\n", hr);
        if (obj2) IUnknown_Release(obj2);
        IUnknown_Release(obj);
    }

    obj = NULL;
    hr = IDeliveryOptimizationJob2_AddFile(job2, L"job2-file-1", url, 0, NULL,
                                           &IID_IDeliveryOptimizationFile2, (void **)&obj);
    ok(hr == S_OK, "[inferred] AddFile(IDeliveryOptimizationFile2): got %#lx\n", hr);
    if (hr == S_OK) files++;
    if (obj) IUnknown_Release(obj);

    obj = NULL;
    hr = IDeliveryOptimizationJob2_AddFile(job2, L"job2-file-2", url, 0, NULL,
                                           &IID_IBackgroundCopyFile, (void **)&obj);
    ok(hr == S_OK, "[inferred] AddFile(IBackgroundCopyFile): got %#lx\n", hr);
    if (hr == S_OK) files++;
    if (obj) IUnknown_Release(obj);

    ranges[0].InitialOffset = 0;
    ranges[0].Length = 100;
    ranges[1].InitialOffset = 200;
    ranges[1].Length = 50;
    obj = NULL;
    hr = IDeliveryOptimizationJob2_AddFile(job2, L"job2-file-3", url, 2, ranges,
                                           &IID_IDeliveryOptimizationFile, (void **)&obj);
    ok(hr == S_OK, "AddFile with 2 ranges: got %#lx\n", hr);
    if (hr == S_OK) files++;
    if (obj) IUnknown_Release(obj);

    count = files_total(job);
    ok(count == files, "FilesTotal %lu, expected %lu\n", count, files);

    /* refusals add nothing */
    obj = (IUnknown *)0xdeadbeef;
    hr = IDeliveryOptimizationJob2_AddFile(job2, L"job2-bad-iid", url, 0, NULL, &IID_IDOManager, (void **)&obj);
    ok(hr == E_NOINTERFACE, "[inferred] AddFile(IDOManager): got %#lx\n", hr);
    ok(!obj, "[inferred] AddFile(IDOManager) returned %p\n", obj);
    if (SUCCEEDED(hr) && obj) IUnknown_Release(obj);

    obj = NULL;
    hr = IDeliveryOptimizationJob2_AddFile(job2, L"job2-no-url", NULL, 0, NULL,
                                           &IID_IDeliveryOptimizationFile, (void **)&obj);
    ok(hr == E_INVALIDARG, "[inferred] AddFile with a NULL URL: got %#lx\n", hr);
    if (obj) IUnknown_Release(obj);

    obj = NULL;
    hr = IDeliveryOptimizationJob2_AddFile(job2, L"job2-ftp", L"ftp://127.0.0.1/x.bin", 0, NULL,
                                           &IID_IDeliveryOptimizationFile, (void **)&obj);
    ok(hr == E_INVALIDARG, "[inferred] AddFile with an ftp URL: got %#lx\n", hr);
    if (obj) IUnknown_Release(obj);

    obj = NULL;
    hr = IDeliveryOptimizationJob2_AddFile(job2, NULL, url, 0, NULL, &IID_IDeliveryOptimizationFile,
                                           (void **)&obj);
    ok(null_arg_hr(hr), "[inferred] AddFile with a NULL file id: got %#lx\n", hr);
    if (obj) IUnknown_Release(obj);

    obj = NULL;
    hr = IDeliveryOptimizationJob2_AddFile(job2, L"job2-null-ranges", url, 2, NULL,
                                           &IID_IDeliveryOptimizationFile, (void **)&obj);
    ok(hr == E_INVALIDARG, "[inferred] AddFile with 2 ranges and NULL: got %#lx\n", hr);
    if (obj) IUnknown_Release(obj);

    ranges[1].InitialOffset = 50;
    obj = NULL;
    hr = IDeliveryOptimizationJob2_AddFile(job2, L"job2-overlap", url, 2, ranges,
                                           &IID_IDeliveryOptimizationFile, (void **)&obj);
    ok(hr == DO_E_OVERLAPPING_RANGES, "[inferred] AddFile with overlapping ranges: got %#lx\n", hr);
    if (obj) IUnknown_Release(obj);

    hr = IDeliveryOptimizationJob2_AddFile(job2, L"job2-null-out", url, 0, NULL,
                                           &IID_IDeliveryOptimizationFile, NULL);
    ok(null_arg_hr(hr), "[inferred] AddFile with a NULL object pointer: got %#lx\n", hr);

    count = files_total(job);
    ok(count == files, "[inferred] FilesTotal %lu after refused additions, expected %lu\n", count, files);

    /* properties: only ExtendedErrorInfo exists, and it is read-only */
    VariantInit(&v);
    hr = IDeliveryOptimizationJob2_GetProperty(job2, DOJobPropertyId_ExtendedErrorInfo, &v);
    ok(hr == S_OK, "GetProperty(ExtendedErrorInfo): got %#lx\n", hr);
    ok(V_VT(&v) == VT_BSTR, "GetProperty(ExtendedErrorInfo): type %d\n", V_VT(&v));
    if (V_VT(&v) == VT_BSTR)
        ok(!V_BSTR(&v) || !*V_BSTR(&v), "[inferred] ExtendedErrorInfo without an error: %s\n",
           dbgstr_w(V_BSTR(&v)));
    VariantClear(&v);

    VariantInit(&v);
    hr = IDeliveryOptimizationJob2_GetProperty(job2, (DOJobPropertyId)1, &v);
    ok(hr == DO_E_UNKNOWN_PROPERTY_ID, "GetProperty(1): got %#lx\n", hr);
    VariantClear(&v);
    VariantInit(&v);
    hr = IDeliveryOptimizationJob2_GetProperty(job2, (DOJobPropertyId)99, &v);
    ok(hr == DO_E_UNKNOWN_PROPERTY_ID, "GetProperty(99): got %#lx\n", hr);
    VariantClear(&v);

    hr = IDeliveryOptimizationJob2_GetProperty(job2, DOJobPropertyId_ExtendedErrorInfo, NULL);
    ok(null_arg_hr(hr), "[inferred] GetProperty(ExtendedErrorInfo, NULL): got %#lx\n", hr);

    V_VT(&v) = VT_BSTR;
    V_BSTR(&v) = SysAllocString(L"{}");
    hr = IDeliveryOptimizationJob2_SetProperty(job2, DOJobPropertyId_ExtendedErrorInfo, &v);
    ok(hr == DO_E_READ_ONLY_PROPERTY, "SetProperty(ExtendedErrorInfo): got %#lx\n", hr);
    hr = IDeliveryOptimizationJob2_SetProperty(job2, (DOJobPropertyId)1, &v);
    ok(hr == DO_E_UNKNOWN_PROPERTY_ID, "SetProperty(1): got %#lx\n", hr);
    hr = IDeliveryOptimizationJob2_SetProperty(job2, (DOJobPropertyId)99, &v);
    ok(hr == DO_E_UNKNOWN_PROPERTY_ID, "SetProperty(99): got %#lx\n", hr);
    VariantClear(&v);
    hr = IDeliveryOptimizationJob2_SetProperty(job2, DOJobPropertyId_ExtendedErrorInfo, NULL);
    ok(hr == DO_E_READ_ONLY_PROPERTY, "SetProperty(ExtendedErrorInfo, NULL): got %#lx\n", hr);

    IDeliveryOptimizationJob2_Release(job2);
done:
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

/* ---------------------------------------------------------------- final states */

struct job_ifaces
{
    IBackgroundCopyJob *job;
    IBackgroundCopyJob5 *job5;
    IBackgroundCopyJobHttpOptions *http;
    IDeliveryOptimizationJob *do_job;
    IDeliveryOptimizationJob2 *do_job2;
};

static BOOL get_job_ifaces(IBackgroundCopyManager *manager, const WCHAR *prefix, struct job_ifaces *j,
                           GUID *id)
{
    memset(j, 0, sizeof(*j));
    if (!(j->job = new_job(manager, prefix, id))) return FALSE;
    j->job5 = query(j->job, &IID_IBackgroundCopyJob5, "IBackgroundCopyJob5", TRUE);
    j->http = query(j->job, &IID_IBackgroundCopyJobHttpOptions, "IBackgroundCopyJobHttpOptions", FALSE);
    j->do_job = query(j->job, &IID_IDeliveryOptimizationJob, "IDeliveryOptimizationJob", FALSE);
    j->do_job2 = query(j->job, &IID_IDeliveryOptimizationJob2, "IDeliveryOptimizationJob2", FALSE);
    return TRUE;
}

static void release_job_ifaces(struct job_ifaces *j)
{
    if (j->job5) IBackgroundCopyJob5_Release(j->job5);
    if (j->http) IBackgroundCopyJobHttpOptions_Release(j->http);
    if (j->do_job) IDeliveryOptimizationJob_Release(j->do_job);
    if (j->do_job2) IDeliveryOptimizationJob2_Release(j->do_job2);
    if (j->job) IBackgroundCopyJob_Release(j->job);
    memset(j, 0, sizeof(*j));
}

/* Every call that would change a CANCELLED or ACKNOWLEDGED job is refused;
 * reading it still works. */
static void check_final_state(struct job_ifaces *j, const GUID *id, const WCHAR *name, BG_JOB_STATE want)
{
    IBackgroundCopyJob *job = j->job;
    WCHAR url[200], local[MAX_PATH], *str;
    BITS_JOB_PROPERTY_VALUE value;
    IBackgroundCopyError *error;
    BG_JOB_PRIORITY priority;
    BG_JOB_PROGRESS progress;
    BG_JOB_TIMES times;
    BG_JOB_STATE state;
    BG_JOB_TYPE type;
    BG_FILE_INFO info;
    BG_FILE_RANGE range;
    IEnumBackgroundCopyFiles *enum_files;
    IUnknown *obj;
    ULONG ulong;
    GUID id2;
    VARIANT v;
    HRESULT hr;

    state = job_state(job);
    ok(state == want, "state %s, expected %s\n", state_name(state), state_name(want));

    /* documented */
    hr = IBackgroundCopyJob_Suspend(job);
    ok(hr == DO_E_INVALID_STATE, "Suspend: got %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == DO_E_INVALID_STATE, "Resume: got %#lx\n", hr);
    hr = IBackgroundCopyJob_Cancel(job);
    ok(hr == DO_E_INVALID_STATE, "Cancel: got %#lx\n", hr);
    hr = IBackgroundCopyJob_Complete(job);
    ok(hr == DO_E_INVALID_STATE, "Complete: got %#lx\n", hr);
    hr = IBackgroundCopyJob_SetNotifyFlags(job, BG_NOTIFY_JOB_MODIFICATION);
    ok(hr == DO_E_INVALID_STATE, "SetNotifyFlags: got %#lx\n", hr);
    hr = IBackgroundCopyJob_SetNoProgressTimeout(job, 300);
    ok(hr == DO_E_INVALID_STATE, "SetNoProgressTimeout: got %#lx\n", hr);
    if (j->do_job)
    {
        range.InitialOffset = 0;
        range.Length = 10;
        hr = add_ranges(j->do_job, L"final-awr.bin", 1, &range, DO_UNKNOWN_FILE_SIZE);
        ok(hr == DO_E_INVALID_STATE, "AddFileWithRanges: got %#lx\n", hr);
    }

    /* gaps.md: the rest follow */
    hr = IBackgroundCopyJob_SetDisplayName(job, L"dosvc-test-job-final-renamed");
    ok(hr == DO_E_INVALID_STATE, "[inferred] SetDisplayName: got %#lx\n", hr);
    hr = IBackgroundCopyJob_SetDescription(job, L"final");
    ok(hr == DO_E_INVALID_STATE, "[inferred] SetDescription: got %#lx\n", hr);
    hr = IBackgroundCopyJob_SetPriority(job, BG_JOB_PRIORITY_LOW);
    ok(hr == DO_E_INVALID_STATE, "[inferred] SetPriority: got %#lx\n", hr);
    hr = IBackgroundCopyJob_SetNotifyInterface(job, NULL);
    ok(hr == DO_E_INVALID_STATE, "[inferred] SetNotifyInterface(NULL): got %#lx\n", hr);
    hr = IBackgroundCopyJob_SetMinimumRetryDelay(job, 30);
    ok(hr == DO_E_INVALID_STATE, "[inferred] SetMinimumRetryDelay: got %#lx\n", hr);
    hr = IBackgroundCopyJob_SetProxySettings(job, BG_JOB_PROXY_USAGE_NO_PROXY, NULL, NULL);
    ok(hr == DO_E_INVALID_STATE, "[inferred] SetProxySettings: got %#lx\n", hr);
    hr = IBackgroundCopyJob_TakeOwnership(job);
    ok(hr == DO_E_INVALID_STATE, "[inferred] TakeOwnership: got %#lx\n", hr);
    test_url(url, ARRAY_SIZE(url), L"final-add.bin");
    make_test_path(local, ARRAY_SIZE(local), L"final-add.bin");
    hr = IBackgroundCopyJob_AddFile(job, url, local);
    ok(hr == DO_E_INVALID_STATE, "[inferred] AddFile: got %#lx\n", hr);
    info.RemoteName = url;
    info.LocalName = local;
    hr = IBackgroundCopyJob_AddFileSet(job, 1, &info);
    ok(hr == DO_E_INVALID_STATE, "[inferred] AddFileSet: got %#lx\n", hr);
    if (j->job5)
    {
        memset(&value, 0, sizeof(value));
        value.Dword = POLICY_STANDARD;
        hr = IBackgroundCopyJob5_SetProperty(j->job5, BITS_JOB_PROPERTY_ID_COST_FLAGS, value);
        ok(hr == DO_E_INVALID_STATE, "[inferred] IBackgroundCopyJob5::SetProperty(COST_FLAGS): got %#lx\n", hr);
    }
    if (j->http)
    {
        hr = IBackgroundCopyJobHttpOptions_SetCustomHeaders(j->http, L"X-Final: 1");
        ok(hr == DO_E_INVALID_STATE, "[inferred] SetCustomHeaders: got %#lx\n", hr);
        hr = IBackgroundCopyJobHttpOptions_SetSecurityFlags(j->http, BG_SSL_IGNORE_UNKNOWN_CA);
        ok(hr == DO_E_INVALID_STATE, "[inferred] SetSecurityFlags: got %#lx\n", hr);
    }
    if (j->do_job2)
    {
        obj = NULL;
        hr = IDeliveryOptimizationJob2_AddFile(j->do_job2, L"final-job2", url, 0, NULL,
                                               &IID_IDeliveryOptimizationFile, (void **)&obj);
        ok(hr == DO_E_INVALID_STATE, "[inferred] IDeliveryOptimizationJob2::AddFile: got %#lx\n", hr);
        if (obj) IUnknown_Release(obj);
    }

    /* reading still works */
    memset(&id2, 0, sizeof(id2));
    hr = IBackgroundCopyJob_GetId(job, &id2);
    ok(hr == S_OK, "GetId: got %#lx\n", hr);
    ok(IsEqualGUID(id, &id2), "GetId: %s, expected %s\n", dbgstr_guid(&id2), dbgstr_guid(id));
    check_display_name(job, name);
    type = 0xdead;
    hr = IBackgroundCopyJob_GetType(job, &type);
    ok(hr == S_OK, "GetType: got %#lx\n", hr);
    ok(type == BG_JOB_TYPE_DOWNLOAD, "GetType: %d\n", type);
    priority = 0xdead;
    hr = IBackgroundCopyJob_GetPriority(job, &priority);
    ok(hr == S_OK, "GetPriority: got %#lx\n", hr);
    ok(priority == BG_JOB_PRIORITY_NORMAL, "GetPriority: %d\n", priority);
    ulong = 0xdead;
    hr = IBackgroundCopyJob_GetNotifyFlags(job, &ulong);
    ok(hr == S_OK, "GetNotifyFlags: got %#lx\n", hr);
    ok(ulong == (BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR), "[inferred] GetNotifyFlags: %#lx\n", ulong);
    hr = IBackgroundCopyJob_GetNoProgressTimeout(job, &ulong);
    ok(hr == S_OK, "GetNoProgressTimeout: got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetProgress(job, &progress);
    ok(hr == S_OK, "GetProgress: got %#lx\n", hr);
    hr = IBackgroundCopyJob_GetTimes(job, &times);
    ok(hr == S_OK, "GetTimes: got %#lx\n", hr);
    str = NULL;
    hr = IBackgroundCopyJob_GetOwner(job, &str);
    ok(hr == S_OK, "[inferred] GetOwner: got %#lx\n", hr);
    CoTaskMemFree(str);
    str = NULL;
    hr = IBackgroundCopyJob_GetDescription(job, &str);
    ok(hr == S_OK, "[inferred] GetDescription: got %#lx\n", hr);
    CoTaskMemFree(str);
    error = (IBackgroundCopyError *)0xdeadbeef;
    hr = IBackgroundCopyJob_GetError(job, &error);
    ok(hr == DO_E_ERROR_INFORMATION_UNAVAILABLE, "GetError: got %#lx\n", hr);
    if (SUCCEEDED(hr) && error) IBackgroundCopyError_Release(error);
    hr = IBackgroundCopyJob_EnumFiles(job, &enum_files);
    ok(hr == S_OK, "EnumFiles: got %#lx\n", hr);
    if (SUCCEEDED(hr)) IEnumBackgroundCopyFiles_Release(enum_files);
    if (j->job5)
    {
        memset(&value, 0xcc, sizeof(value));
        hr = IBackgroundCopyJob5_GetProperty(j->job5, BITS_JOB_PROPERTY_ID_COST_FLAGS, &value);
        ok(hr == S_OK, "IBackgroundCopyJob5::GetProperty(COST_FLAGS): got %#lx\n", hr);
    }
    if (j->do_job2)
    {
        VariantInit(&v);
        hr = IDeliveryOptimizationJob2_GetProperty(j->do_job2, DOJobPropertyId_ExtendedErrorInfo, &v);
        ok(hr == S_OK, "IDeliveryOptimizationJob2::GetProperty(ExtendedErrorInfo): got %#lx\n", hr);
        VariantClear(&v);
    }

    state = job_state(job);
    ok(state == want, "state %s at the end, expected %s\n", state_name(state), state_name(want));
}

static void test_cancelled(IBackgroundCopyManager *manager)
{
    struct job_ifaces j;
    WCHAR *name = NULL;
    BG_JOB_STATE state;
    HRESULT hr;
    GUID id;

    if (!get_job_ifaces(manager, L"dosvc-test-job-cancelled", &j, &id)) return;
    IBackgroundCopyJob_GetDisplayName(j.job, &name);
    if (j.do_job)
    {
        hr = add_ranges(j.do_job, L"cancelled.bin", 0, NULL, DO_UNKNOWN_FILE_SIZE);
        ok(hr == S_OK, "AddFileWithRanges: got %#lx\n", hr);
    }

    hr = IBackgroundCopyJob_Cancel(j.job);
    ok(hr == S_OK, "Cancel: got %#lx\n", hr);
    state = job_state(j.job);
    ok(state == BG_JOB_STATE_CANCELLED, "after Cancel: state %s\n", state_name(state));

    winetest_push_context("after Cancel");
    check_final_state(&j, &id, name ? name : L"", BG_JOB_STATE_CANCELLED);
    winetest_pop_context();

    CoTaskMemFree(name);
    release_job_ifaces(&j);
}

static void test_completed(IBackgroundCopyManager *manager)
{
    WCHAR local[MAX_PATH], *name = NULL;
    struct job_ifaces j;
    BG_JOB_STATE state;
    unsigned int temps;
    HRESULT hr;
    GUID id;

    if (!get_job_ifaces(manager, L"dosvc-test-job-completed", &j, &id)) return;
    IBackgroundCopyJob_GetDisplayName(j.job, &name);
    make_test_path(local, ARRAY_SIZE(local), L"completed.bin");
    if (j.do_job)
    {
        hr = add_ranges(j.do_job, L"completed.bin", 0, NULL, DO_UNKNOWN_FILE_SIZE);
        ok(hr == S_OK, "AddFileWithRanges: got %#lx\n", hr);
    }

    /* downloads may be completed at any time; nothing was transferred */
    hr = IBackgroundCopyJob_Complete(j.job);
    ok(hr == S_OK, "Complete of a suspended download: got %#lx\n", hr);
    state = job_state(j.job);
    ok(state == BG_JOB_STATE_ACKNOWLEDGED, "after Complete: state %s\n", state_name(state));
    ok(!file_exists(local), "[inferred] Complete created the untransferred file\n");
    temps = count_files(test_dir(), L"DO*.tmp");
    ok(!temps, "[inferred] %u temporary files left after Complete\n", temps);

    winetest_push_context("after Complete");
    check_final_state(&j, &id, name ? name : L"", BG_JOB_STATE_ACKNOWLEDGED);
    winetest_pop_context();

    CoTaskMemFree(name);
    release_job_ifaces(&j);
}

START_TEST(job)
{
    IBackgroundCopyManager *manager;

    CoInitializeEx(NULL, COINIT_MULTITHREADED);
    if (!(manager = create_manager()))
    {
        CoUninitialize();
        return;
    }
    set_impersonate(manager);

    test_defaults(manager);
    test_null_arguments(manager);
    test_names(manager);
    test_priority(manager);
    test_notify_flags(manager);
    test_timeouts(manager);
    test_proxy_settings(manager);
    test_notify_interface(manager);
    test_owner_and_times(manager);
    test_query_interface(manager);
    test_job5_properties(manager);
    test_http_options(manager);
    test_add_file_with_ranges(manager);
    test_bits_add_file(manager);
    test_job2(manager);
    test_cancelled(manager);
    test_completed(manager);

    IBackgroundCopyManager_Release(manager);
    remove_test_dir();
    CoUninitialize();
}
