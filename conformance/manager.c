/*
 * Conformance tests for the Delivery Optimization manager object:
 * IBackgroundCopyManager and IEnumBackgroundCopyJobs.
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
 * Microsoft documents them, and from docs/gaps.md otherwise; every check of
 * the second kind says "[inferred]" so a run on Windows shows which of our
 * guesses were wrong.
 *
 * Everything here goes through COM proxies: the manager is an out-of-process
 * server.  A NULL [ref] argument therefore never reaches the server; the
 * proxy refuses it with RPC_X_NULL_REF_POINTER.  gaps.md's E_INVALIDARG is
 * what the server answers when it does see a NULL, so NULL checks accept
 * either (see null_arg_hr()).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "dotest.h"

/* what a MIDL/widl proxy returns for a NULL [ref] pointer */

static void make_name(WCHAR *buf, size_t count, const WCHAR *tag)
{
    swprintf(buf, count, L"dosvc-test-manager-%ls-%lu-%lu", tag, GetCurrentProcessId(),
             GetTickCount());
}

static BG_JOB_STATE job_state(IBackgroundCopyJob *job)
{
    BG_JOB_STATE state = 0xdead;
    HRESULT hr;

    hr = IBackgroundCopyJob_GetState(job, &state);
    ok(hr == S_OK, "GetState: got %#lx\n", hr);
    return state;
}

static BOOL job_has_name(IBackgroundCopyJob *job, const WCHAR *name)
{
    WCHAR *got = NULL;
    BOOL ret;

    if (FAILED(IBackgroundCopyJob_GetDisplayName(job, &got))) return FALSE;
    ret = got && !wcscmp(got, name);
    CoTaskMemFree(got);
    return ret;
}

/* Walks EnumJobs(0) one job at a time.  Returns the first job called name
 * (the caller releases it) or NULL; *count receives the number of jobs of
 * that name. */
static IBackgroundCopyJob *find_job_by_name(IBackgroundCopyManager *manager, const WCHAR *name,
                                            unsigned int *count)
{
    IEnumBackgroundCopyJobs *enum_jobs;
    IBackgroundCopyJob *job, *found = NULL;
    HRESULT hr;

    *count = 0;
    hr = IBackgroundCopyManager_EnumJobs(manager, 0, &enum_jobs);
    ok(hr == S_OK, "[inferred] EnumJobs: got %#lx\n", hr);
    if (FAILED(hr)) return NULL;
    for (;;)
    {
        job = NULL;
        hr = IEnumBackgroundCopyJobs_Next(enum_jobs, 1, &job, NULL);
        if (hr != S_OK || !job) break;
        if (job_has_name(job, name))
        {
            ++*count;
            if (!found)
            {
                found = job;
                continue;
            }
        }
        IBackgroundCopyJob_Release(job);
    }
    IEnumBackgroundCopyJobs_Release(enum_jobs);
    return found;
}

/* A CreateJob that failed must not have left a job behind: look for one by
 * name and cancel it if it is there. */
static void check_no_job_named(IBackgroundCopyManager *manager, const WCHAR *name)
{
    IBackgroundCopyJob *job;
    unsigned int count;

    while ((job = find_job_by_name(manager, name, &count)))
    {
        ok(0, "[inferred] a failed CreateJob left %u job(s) named %s\n", count, dbgstr_w(name));
        IBackgroundCopyJob_Cancel(job);
        IBackgroundCopyJob_Release(job);
    }
}

/* adds one file to a job so Complete has something to act on */
static HRESULT add_one_file(IBackgroundCopyJob *job, const WCHAR *leaf)
{
    IDeliveryOptimizationJob *do_job;
    WCHAR local[MAX_PATH];
    HRESULT hr;

    hr = IBackgroundCopyJob_QueryInterface(job, &IID_IDeliveryOptimizationJob, (void **)&do_job);
    ok(hr == S_OK, "[inferred] QueryInterface(IDeliveryOptimizationJob): got %#lx\n", hr);
    if (FAILED(hr)) return hr;
    set_impersonate(do_job);
    make_test_path(local, ARRAY_SIZE(local), leaf);
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, leaf,
            L"http://127.0.0.1:1/dosvc-test/manager.bin", local, 0, NULL, DO_UNKNOWN_FILE_SIZE);
    ok(hr == S_OK, "AddFileWithRanges: got %#lx\n", hr);
    IDeliveryOptimizationJob_Release(do_job);
    return hr;
}

static void test_activation(IBackgroundCopyManager *manager)
{
    static const struct
    {
        const IID *iid;
        const char *name;
    }
    foreign[] =
    {
        { &IID_IBackgroundCopyJob, "IBackgroundCopyJob" },
        { &IID_IBackgroundCopyFile, "IBackgroundCopyFile" },
        { &IID_IEnumBackgroundCopyJobs, "IEnumBackgroundCopyJobs" },
        { &IID_IEnumBackgroundCopyFiles, "IEnumBackgroundCopyFiles" },
        { &IID_IBackgroundCopyCallback, "IBackgroundCopyCallback" },
        { &IID_IDeliveryOptimizationJob, "IDeliveryOptimizationJob" },
        { &IID_IDeliveryOptimizationFile, "IDeliveryOptimizationFile" },
        { &IID_IDODownload, "IDODownload" },
    };
    IBackgroundCopyManager *manager2;
    IClientSecurity *security;
    IUnknown *unk, *unk2, *obj;
    unsigned int i;
    HRESULT hr;

    unk = NULL;
    hr = IBackgroundCopyManager_QueryInterface(manager, &IID_IUnknown, (void **)&unk);
    ok(hr == S_OK, "QueryInterface(IUnknown): got %#lx\n", hr);
    ok(unk != NULL, "QueryInterface(IUnknown) returned NULL\n");

    manager2 = NULL;
    hr = IBackgroundCopyManager_QueryInterface(manager, &IID_IBackgroundCopyManager, (void **)&manager2);
    ok(hr == S_OK, "QueryInterface(IBackgroundCopyManager): got %#lx\n", hr);
    if (manager2)
    {
        unk2 = NULL;
        hr = IBackgroundCopyManager_QueryInterface(manager2, &IID_IUnknown, (void **)&unk2);
        ok(hr == S_OK, "QueryInterface(IUnknown) of the second pointer: got %#lx\n", hr);
        ok(unk2 == unk, "IUnknown identity: %p and %p\n", unk, unk2);
        if (unk2) IUnknown_Release(unk2);
        IBackgroundCopyManager_Release(manager2);
    }
    if (unk) IUnknown_Release(unk);

    /* a LocalServer object reaches us as a proxy */
    security = NULL;
    hr = IBackgroundCopyManager_QueryInterface(manager, &IID_IClientSecurity, (void **)&security);
    ok(hr == S_OK, "[inferred] out-of-process manager: QueryInterface(IClientSecurity): got %#lx\n", hr);
    if (security) IClientSecurity_Release(security);

    for (i = 0; i < ARRAY_SIZE(foreign); i++)
    {
        obj = (IUnknown *)0xdeadbeef;
        hr = IBackgroundCopyManager_QueryInterface(manager, foreign[i].iid, (void **)&obj);
        ok(hr == E_NOINTERFACE, "QueryInterface(%s): got %#lx\n", foreign[i].name, hr);
        ok(!obj, "QueryInterface(%s): got object %p\n", foreign[i].name, obj);
        if (SUCCEEDED(hr) && obj) IUnknown_Release(obj);
    }

    /* activation can be repeated, and for IUnknown too */
    manager2 = NULL;
    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER,
                          &IID_IBackgroundCopyManager, (void **)&manager2);
    ok(hr == S_OK, "second CoCreateInstance(IBackgroundCopyManager): got %#lx\n", hr);
    if (manager2) IBackgroundCopyManager_Release(manager2);

    unk = NULL;
    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER,
                          &IID_IUnknown, (void **)&unk);
    ok(hr == S_OK, "CoCreateInstance(IUnknown): got %#lx\n", hr);
    if (unk)
    {
        manager2 = NULL;
        hr = IUnknown_QueryInterface(unk, &IID_IBackgroundCopyManager, (void **)&manager2);
        ok(hr == S_OK, "QueryInterface(IBackgroundCopyManager) from IUnknown: got %#lx\n", hr);
        if (manager2) IBackgroundCopyManager_Release(manager2);
        IUnknown_Release(unk);
    }
}

/* What Microsoft's clients do right after activation. */
static void test_proxy_blanket(IBackgroundCopyManager *manager)
{
    IBackgroundCopyJob *job = NULL, *job2 = NULL;
    BG_JOB_STATE state;
    WCHAR name[96], *got;
    GUID id, id2;
    HRESULT hr;

    /* Wine's standard proxies answer E_NOTIMPL; DoSvc's client-side object
     * answers for them (docs/client-object.md) */
    hr = set_impersonate(manager);
    ok(hr == S_OK, "CoSetProxyBlanket(manager, IMPERSONATE): got %#lx\n", hr);

    make_name(name, ARRAY_SIZE(name), L"blanket");
    hr = IBackgroundCopyManager_CreateJob(manager, name, BG_JOB_TYPE_DOWNLOAD, &id, &job);
    ok(hr == S_OK, "CreateJob after CoSetProxyBlanket: got %#lx\n", hr);
    if (FAILED(hr)) return;

    hr = CoSetProxyBlanket((IUnknown *)job, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_DEFAULT,
                           COLE_DEFAULT_PRINCIPAL, RPC_C_AUTHN_LEVEL_DEFAULT,
                           RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_DEFAULT);
    ok(hr == S_OK, "CoSetProxyBlanket(job, IMPERSONATE): got %#lx\n", hr);

    state = job_state(job);
    ok(state == BG_JOB_STATE_SUSPENDED, "state after CoSetProxyBlanket: %s\n", state_name(state));
    memset(&id2, 0, sizeof(id2));
    hr = IBackgroundCopyJob_GetId(job, &id2);
    ok(hr == S_OK, "GetId: got %#lx\n", hr);
    ok(IsEqualGUID(&id, &id2), "GetId: %s, CreateJob gave %s\n", dbgstr_guid(&id2), dbgstr_guid(&id));
    got = NULL;
    hr = IBackgroundCopyJob_GetDisplayName(job, &got);
    ok(hr == S_OK, "GetDisplayName: got %#lx\n", hr);
    ok(got && !wcscmp(got, name), "GetDisplayName: %s\n", dbgstr_w(got));
    CoTaskMemFree(got);

    hr = IBackgroundCopyManager_GetJob(manager, &id, &job2);
    ok(hr == S_OK, "GetJob after CoSetProxyBlanket: got %#lx\n", hr);
    if (job2) IBackgroundCopyJob_Release(job2);

    hr = IBackgroundCopyJob_Cancel(job);
    ok(hr == S_OK, "Cancel: got %#lx\n", hr);
    IBackgroundCopyJob_Release(job);
}

static void test_create_job(IBackgroundCopyManager *manager)
{
    static const struct
    {
        BG_JOB_TYPE type;
        const WCHAR *tag;
    }
    bad_types[] =
    {
        { BG_JOB_TYPE_UPLOAD, L"upload" },
        { BG_JOB_TYPE_UPLOAD_REPLY, L"reply" },
        { 3, L"type3" },
    };
    WCHAR name[96], bad_name[96], long_name[258], *got;
    IBackgroundCopyJob *job, *job2, *found;
    BG_JOB_STATE state;
    BG_JOB_TYPE type;
    unsigned int i, count;
    GUID id, id2;
    HRESULT hr;

    make_name(name, ARRAY_SIZE(name), L"create");

    job = NULL;
    memset(&id, 0, sizeof(id));
    hr = IBackgroundCopyManager_CreateJob(manager, name, BG_JOB_TYPE_DOWNLOAD, &id, &job);
    ok(hr == S_OK, "CreateJob: got %#lx\n", hr);
    if (FAILED(hr)) return;
    ok(job != NULL, "CreateJob returned no job\n");
    ok(!IsEqualGUID(&id, &GUID_NULL), "CreateJob returned GUID_NULL\n");
    memset(&id2, 0, sizeof(id2));
    hr = IBackgroundCopyJob_GetId(job, &id2);
    ok(hr == S_OK, "GetId: got %#lx\n", hr);
    ok(IsEqualGUID(&id, &id2), "GetId: %s, CreateJob gave %s\n", dbgstr_guid(&id2), dbgstr_guid(&id));
    type = 0xdead;
    hr = IBackgroundCopyJob_GetType(job, &type);
    ok(hr == S_OK, "GetType: got %#lx\n", hr);
    ok(type == BG_JOB_TYPE_DOWNLOAD, "GetType: %d\n", type);
    state = job_state(job);
    ok(state == BG_JOB_STATE_SUSPENDED, "new job: state %s\n", state_name(state));

    /* the same name again: allowed, with a new GUID */
    job2 = NULL;
    memset(&id2, 0, sizeof(id2));
    hr = IBackgroundCopyManager_CreateJob(manager, name, BG_JOB_TYPE_DOWNLOAD, &id2, &job2);
    ok(hr == S_OK, "CreateJob with a duplicate name: got %#lx\n", hr);
    if (job2)
    {
        ok(!IsEqualGUID(&id, &id2), "both jobs have GUID %s\n", dbgstr_guid(&id));
        found = find_job_by_name(manager, name, &count);
        ok(count == 2, "[inferred] EnumJobs sees %u jobs named %s\n", count, dbgstr_w(name));
        if (found) IBackgroundCopyJob_Release(found);
        hr = IBackgroundCopyJob_Cancel(job2);
        ok(hr == S_OK, "Cancel: got %#lx\n", hr);
        IBackgroundCopyJob_Release(job2);
    }
    hr = IBackgroundCopyJob_Cancel(job);
    ok(hr == S_OK, "Cancel: got %#lx\n", hr);
    IBackgroundCopyJob_Release(job);

    /* 256 characters are the documented maximum */
    for (i = 0; i < 256; i++) long_name[i] = 'a' + i % 26;
    long_name[256] = 0;
    job = NULL;
    hr = IBackgroundCopyManager_CreateJob(manager, long_name, BG_JOB_TYPE_DOWNLOAD, &id, &job);
    ok(hr == S_OK, "CreateJob with a 256-character name: got %#lx\n", hr);
    if (job)
    {
        got = NULL;
        hr = IBackgroundCopyJob_GetDisplayName(job, &got);
        ok(hr == S_OK, "GetDisplayName: got %#lx\n", hr);
        ok(got && !wcscmp(got, long_name), "GetDisplayName of the 256-character name: %s\n",
           dbgstr_w(got));
        CoTaskMemFree(got);
        IBackgroundCopyJob_Cancel(job);
        IBackgroundCopyJob_Release(job);
    }

    /* one more is too long */
    long_name[256] = 'z';
    long_name[257] = 0;
    job = (IBackgroundCopyJob *)0xdeadbeef;
    hr = IBackgroundCopyManager_CreateJob(manager, long_name, BG_JOB_TYPE_DOWNLOAD, &id, &job);
    ok(hr == E_INVALIDARG, "[inferred] CreateJob with a 257-character name: got %#lx\n", hr);
    ok(!job, "[inferred] CreateJob with a 257-character name returned job %p\n", job);
    if (SUCCEEDED(hr) && job)
    {
        IBackgroundCopyJob_Cancel(job);
        IBackgroundCopyJob_Release(job);
    }
    check_no_job_named(manager, long_name);

    job = NULL;
    hr = IBackgroundCopyManager_CreateJob(manager, L"", BG_JOB_TYPE_DOWNLOAD, &id, &job);
    ok(hr == E_INVALIDARG, "[inferred] CreateJob with an empty name: got %#lx\n", hr);
    if (SUCCEEDED(hr) && job)
    {
        IBackgroundCopyJob_Cancel(job);
        IBackgroundCopyJob_Release(job);
    }

    job = NULL;
    hr = IBackgroundCopyManager_CreateJob(manager, NULL, BG_JOB_TYPE_DOWNLOAD, &id, &job);
    ok(null_arg_hr(hr), "[inferred] CreateJob with a NULL name: got %#lx\n", hr);
    if (SUCCEEDED(hr) && job)
    {
        IBackgroundCopyJob_Cancel(job);
        IBackgroundCopyJob_Release(job);
    }

    make_name(bad_name, ARRAY_SIZE(bad_name), L"nullid");
    job = NULL;
    hr = IBackgroundCopyManager_CreateJob(manager, bad_name, BG_JOB_TYPE_DOWNLOAD, NULL, &job);
    ok(null_arg_hr(hr), "[inferred] CreateJob with a NULL GUID pointer: got %#lx\n", hr);
    if (SUCCEEDED(hr) && job) IBackgroundCopyJob_Release(job);
    check_no_job_named(manager, bad_name);

    make_name(bad_name, ARRAY_SIZE(bad_name), L"nulljob");
    hr = IBackgroundCopyManager_CreateJob(manager, bad_name, BG_JOB_TYPE_DOWNLOAD, &id, NULL);
    ok(null_arg_hr(hr), "[inferred] CreateJob with a NULL job pointer: got %#lx\n", hr);
    check_no_job_named(manager, bad_name);

    /* DO only downloads */
    for (i = 0; i < ARRAY_SIZE(bad_types); i++)
    {
        make_name(bad_name, ARRAY_SIZE(bad_name), bad_types[i].tag);
        job = (IBackgroundCopyJob *)0xdeadbeef;
        hr = IBackgroundCopyManager_CreateJob(manager, bad_name, bad_types[i].type, &id, &job);
        ok(hr == E_NOTIMPL, "[inferred] CreateJob of type %d: got %#lx\n", bad_types[i].type, hr);
        ok(!job, "[inferred] CreateJob of type %d returned job %p\n", bad_types[i].type, job);
        if (SUCCEEDED(hr) && job) IBackgroundCopyJob_Release(job);
        check_no_job_named(manager, bad_name);
    }
}

static void test_get_job(IBackgroundCopyManager *manager)
{
    IBackgroundCopyJob *job, *job2;
    WCHAR *name, *name2;
    GUID id, id2, random;
    HRESULT hr;

    job = create_job(manager, L"dosvc-test-getjob", &id);
    if (!job) return;
    set_impersonate(job);

    job2 = NULL;
    hr = IBackgroundCopyManager_GetJob(manager, &id, &job2);
    ok(hr == S_OK, "GetJob: got %#lx\n", hr);
    ok(job2 != NULL, "GetJob returned no job\n");
    if (job2)
    {
        memset(&id2, 0, sizeof(id2));
        hr = IBackgroundCopyJob_GetId(job2, &id2);
        ok(hr == S_OK, "GetId: got %#lx\n", hr);
        ok(IsEqualGUID(&id, &id2), "GetJob(%s) returned job %s\n", dbgstr_guid(&id), dbgstr_guid(&id2));
        name = name2 = NULL;
        IBackgroundCopyJob_GetDisplayName(job, &name);
        hr = IBackgroundCopyJob_GetDisplayName(job2, &name2);
        ok(hr == S_OK, "GetDisplayName: got %#lx\n", hr);
        ok(name && name2 && !wcscmp(name, name2), "display names %s and %s\n", dbgstr_w(name),
           dbgstr_w(name2));
        CoTaskMemFree(name);
        CoTaskMemFree(name2);
        IBackgroundCopyJob_Release(job2);
    }

    CoCreateGuid(&random);
    job2 = (IBackgroundCopyJob *)0xdeadbeef;
    hr = IBackgroundCopyManager_GetJob(manager, &random, &job2);
    ok(hr == DO_E_JOB_NOT_FOUND, "[inferred] GetJob of an unknown GUID: got %#lx\n", hr);
    ok(!job2, "GetJob of an unknown GUID returned job %p\n", job2);
    if (SUCCEEDED(hr) && job2) IBackgroundCopyJob_Release(job2);

    job2 = NULL;
    hr = IBackgroundCopyManager_GetJob(manager, &GUID_NULL, &job2);
    ok(hr == DO_E_JOB_NOT_FOUND, "[inferred] GetJob(GUID_NULL): got %#lx\n", hr);
    if (SUCCEEDED(hr) && job2) IBackgroundCopyJob_Release(job2);

    hr = IBackgroundCopyManager_GetJob(manager, &id, NULL);
    ok(null_arg_hr(hr), "[inferred] GetJob with a NULL job pointer: got %#lx\n", hr);

    job2 = NULL;
    hr = IBackgroundCopyManager_GetJob(manager, NULL, &job2);
    ok(null_arg_hr(hr), "[inferred] GetJob with a NULL GUID: got %#lx\n", hr);
    if (SUCCEEDED(hr) && job2) IBackgroundCopyJob_Release(job2);

    /* a cancelled job is gone */
    hr = IBackgroundCopyJob_Cancel(job);
    ok(hr == S_OK, "Cancel: got %#lx\n", hr);
    IBackgroundCopyJob_Release(job);
    job2 = (IBackgroundCopyJob *)0xdeadbeef;
    hr = IBackgroundCopyManager_GetJob(manager, &id, &job2);
    ok(hr == DO_E_JOB_NOT_FOUND, "[inferred] GetJob of a cancelled job: got %#lx\n", hr);
    ok(!job2, "GetJob of a cancelled job returned job %p\n", job2);
    if (SUCCEEDED(hr) && job2) IBackgroundCopyJob_Release(job2);

    /* and so is a completed one */
    job = create_job(manager, L"dosvc-test-getjob-complete", &id);
    if (!job) return;
    set_impersonate(job);
    if (add_one_file(job, L"getjob-complete.bin") == S_OK)
    {
        hr = IBackgroundCopyJob_Complete(job);
        ok(hr == S_OK, "Complete: got %#lx\n", hr);
        job2 = NULL;
        hr = IBackgroundCopyManager_GetJob(manager, &id, &job2);
        ok(hr == DO_E_JOB_NOT_FOUND, "[inferred] GetJob of a completed job: got %#lx\n", hr);
        if (SUCCEEDED(hr) && job2) IBackgroundCopyJob_Release(job2);
    }
    if (job_state(job) != BG_JOB_STATE_ACKNOWLEDGED) IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static GUID job_id(IBackgroundCopyJob *job)
{
    GUID id;
    HRESULT hr;

    memset(&id, 0, sizeof(id));
    hr = IBackgroundCopyJob_GetId(job, &id);
    ok(hr == S_OK, "GetId: got %#lx\n", hr);
    return id;
}

static void release_jobs(IBackgroundCopyJob **jobs, ULONG count)
{
    ULONG i;

    for (i = 0; i < count; i++)
    {
        if (jobs[i]) IBackgroundCopyJob_Release(jobs[i]);
        jobs[i] = NULL;
    }
}

static void test_enum_jobs(IBackgroundCopyManager *manager)
{
    IEnumBackgroundCopyJobs *enum_jobs, *enum2, *clone;
    IBackgroundCopyJob *ours[3], *job, *job2, **all;
    ULONG count, count2, fetched, i, j;
    BOOL seen[3] = { FALSE, FALSE, FALSE };
    GUID ids[3], id, id2;
    HRESULT hr;

    hr = IBackgroundCopyManager_EnumJobs(manager, 0, &enum_jobs);
    ok(hr == S_OK, "[inferred] EnumJobs: got %#lx\n", hr);
    if (FAILED(hr)) return;
    count = 0xdead;
    hr = IEnumBackgroundCopyJobs_GetCount(enum_jobs, &count);
    ok(hr == S_OK, "[inferred] GetCount: got %#lx\n", hr);
    IEnumBackgroundCopyJobs_Release(enum_jobs);

    /* one more job: one more in the next enumeration */
    if (!(ours[0] = create_job(manager, L"dosvc-test-enum", &ids[0]))) return;
    hr = IBackgroundCopyManager_EnumJobs(manager, 0, &enum_jobs);
    ok(hr == S_OK, "[inferred] EnumJobs: got %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        count2 = 0xdead;
        hr = IEnumBackgroundCopyJobs_GetCount(enum_jobs, &count2);
        ok(hr == S_OK, "[inferred] GetCount: got %#lx\n", hr);
        ok(count2 == count + 1, "[inferred] GetCount after CreateJob: %lu, before %lu\n", count2, count);
        IEnumBackgroundCopyJobs_Release(enum_jobs);
    }
    ours[1] = create_job(manager, L"dosvc-test-enum", &ids[1]);
    ours[2] = create_job(manager, L"dosvc-test-enum", &ids[2]);
    if (!ours[1] || !ours[2]) goto done;

    hr = IBackgroundCopyManager_EnumJobs(manager, 0, &enum_jobs);
    ok(hr == S_OK, "[inferred] EnumJobs: got %#lx\n", hr);
    if (FAILED(hr)) goto done;
    count = 0;
    hr = IEnumBackgroundCopyJobs_GetCount(enum_jobs, &count);
    ok(hr == S_OK, "[inferred] GetCount: got %#lx\n", hr);
    ok(count >= 3, "[inferred] GetCount with our three jobs: %lu\n", count);

    /* one by one; ours are among them */
    for (i = 0; i < count; i++)
    {
        job = NULL;
        fetched = 0xdead;
        hr = IEnumBackgroundCopyJobs_Next(enum_jobs, 1, &job, &fetched);
        ok(hr == S_OK, "[inferred] Next %lu of %lu: got %#lx\n", i, count, hr);
        ok(fetched == 1, "[inferred] Next %lu of %lu: fetched %lu\n", i, count, fetched);
        if (hr != S_OK || !job) break;
        id = job_id(job);
        for (j = 0; j < 3; j++)
            if (IsEqualGUID(&id, &ids[j])) seen[j] = TRUE;
        IBackgroundCopyJob_Release(job);
    }
    for (j = 0; j < 3; j++)
        ok(seen[j], "[inferred] EnumJobs did not return job %s\n", dbgstr_guid(&ids[j]));

    job = (IBackgroundCopyJob *)0xdeadbeef;
    fetched = 0xdead;
    hr = IEnumBackgroundCopyJobs_Next(enum_jobs, 1, &job, &fetched);
    ok(hr == S_FALSE, "[inferred] Next at the end: got %#lx\n", hr);
    ok(fetched == 0, "[inferred] Next at the end: fetched %lu\n", fetched);
    if (hr == S_OK && job) IBackgroundCopyJob_Release(job);

    job = NULL;
    hr = IEnumBackgroundCopyJobs_Next(enum_jobs, 1, &job, NULL);
    ok(hr == S_FALSE, "[inferred] Next(1, NULL fetched) at the end: got %#lx\n", hr);
    if (hr == S_OK && job) IBackgroundCopyJob_Release(job);

    hr = IEnumBackgroundCopyJobs_Reset(enum_jobs);
    ok(hr == S_OK, "[inferred] Reset: got %#lx\n", hr);
    job = NULL;
    hr = IEnumBackgroundCopyJobs_Next(enum_jobs, 1, &job, NULL);
    ok(hr == S_OK, "[inferred] Next(1, NULL fetched) after Reset: got %#lx\n", hr);
    ok(job != NULL, "[inferred] Next(1, NULL fetched) after Reset returned no job\n");
    if (job) IBackgroundCopyJob_Release(job);

    /* all at once, and more than there are */
    all = calloc(count + 2, sizeof(*all));
    if (all)
    {
        IEnumBackgroundCopyJobs_Reset(enum_jobs);
        fetched = 0xdead;
        hr = IEnumBackgroundCopyJobs_Next(enum_jobs, count, all, &fetched);
        ok(hr == S_OK, "[inferred] Next(%lu): got %#lx\n", count, hr);
        ok(fetched == count, "[inferred] Next(%lu): fetched %lu\n", count, fetched);
        for (i = 0; i < fetched && i < count; i++)
            ok(all[i] != NULL, "[inferred] Next(%lu): element %lu is NULL\n", count, i);
        release_jobs(all, count + 2);

        IEnumBackgroundCopyJobs_Reset(enum_jobs);
        fetched = 0xdead;
        hr = IEnumBackgroundCopyJobs_Next(enum_jobs, count + 2, all, &fetched);
        ok(hr == S_FALSE, "[inferred] Next(%lu) with %lu left: got %#lx\n", count + 2, count, hr);
        ok(fetched == count, "[inferred] Next(%lu) with %lu left: fetched %lu\n", count + 2, count, fetched);
        release_jobs(all, count + 2);

        IEnumBackgroundCopyJobs_Reset(enum_jobs);
        hr = IEnumBackgroundCopyJobs_Next(enum_jobs, 2, all, NULL);
        ok(hr == E_INVALIDARG, "[inferred] Next(2) with a NULL fetched pointer: got %#lx\n", hr);
        release_jobs(all, count + 2);
        free(all);
    }

    /* Skip */
    IEnumBackgroundCopyJobs_Reset(enum_jobs);
    hr = IEnumBackgroundCopyJobs_Skip(enum_jobs, count);
    ok(hr == S_OK, "[inferred] Skip(%lu) of %lu: got %#lx\n", count, count, hr);
    hr = IEnumBackgroundCopyJobs_Skip(enum_jobs, 1);
    ok(hr == S_FALSE, "[inferred] Skip(1) at the end: got %#lx\n", hr);
    job = NULL;
    fetched = 0xdead;
    hr = IEnumBackgroundCopyJobs_Next(enum_jobs, 1, &job, &fetched);
    ok(hr == S_FALSE, "[inferred] Next after skipping everything: got %#lx\n", hr);
    ok(fetched == 0, "[inferred] Next after skipping everything: fetched %lu\n", fetched);
    if (hr == S_OK && job) IBackgroundCopyJob_Release(job);
    IEnumBackgroundCopyJobs_Reset(enum_jobs);
    hr = IEnumBackgroundCopyJobs_Skip(enum_jobs, count + 5);
    ok(hr == S_FALSE, "[inferred] Skip(%lu) of %lu: got %#lx\n", count + 5, count, hr);

    /* Clone starts where the original is */
    IEnumBackgroundCopyJobs_Reset(enum_jobs);
    hr = IEnumBackgroundCopyJobs_Skip(enum_jobs, 1);
    ok(hr == S_OK, "[inferred] Skip(1): got %#lx\n", hr);
    clone = NULL;
    hr = IEnumBackgroundCopyJobs_Clone(enum_jobs, &clone);
    ok(hr == S_OK, "[inferred] Clone: got %#lx\n", hr);
    if (clone)
    {
        count2 = 0;
        hr = IEnumBackgroundCopyJobs_GetCount(clone, &count2);
        ok(hr == S_OK, "[inferred] GetCount of the clone: got %#lx\n", hr);
        ok(count2 == count, "[inferred] GetCount of the clone: %lu, original %lu\n", count2, count);
        job = job2 = NULL;
        hr = IEnumBackgroundCopyJobs_Next(enum_jobs, 1, &job, NULL);
        ok(hr == S_OK, "[inferred] Next on the original: got %#lx\n", hr);
        hr = IEnumBackgroundCopyJobs_Next(clone, 1, &job2, NULL);
        ok(hr == S_OK, "[inferred] Next on the clone: got %#lx\n", hr);
        if (job && job2)
        {
            id = job_id(job);
            id2 = job_id(job2);
            ok(IsEqualGUID(&id, &id2), "[inferred] the clone returned %s, the original %s\n",
               dbgstr_guid(&id2), dbgstr_guid(&id));
        }
        if (job) IBackgroundCopyJob_Release(job);
        if (job2) IBackgroundCopyJob_Release(job2);
        IEnumBackgroundCopyJobs_Release(clone);
    }

    hr = IEnumBackgroundCopyJobs_Clone(enum_jobs, NULL);
    ok(null_arg_hr(hr), "[inferred] Clone(NULL): got %#lx\n", hr);
    hr = IEnumBackgroundCopyJobs_GetCount(enum_jobs, NULL);
    ok(null_arg_hr(hr), "[inferred] GetCount(NULL): got %#lx\n", hr);
    IEnumBackgroundCopyJobs_Release(enum_jobs);

    /* flags */
    enum2 = (IEnumBackgroundCopyJobs *)0xdeadbeef;
    hr = IBackgroundCopyManager_EnumJobs(manager, 2, &enum2);
    ok(hr == E_INVALIDARG, "[inferred] EnumJobs(2): got %#lx\n", hr);
    ok(!enum2, "[inferred] EnumJobs(2) returned %p\n", enum2);
    if (SUCCEEDED(hr) && enum2) IEnumBackgroundCopyJobs_Release(enum2);
    enum2 = NULL;
    hr = IBackgroundCopyManager_EnumJobs(manager, 0x10000 | BG_JOB_ENUM_ALL_USERS, &enum2);
    ok(hr == E_INVALIDARG, "[inferred] EnumJobs(0x10001): got %#lx\n", hr);
    if (SUCCEEDED(hr) && enum2) IEnumBackgroundCopyJobs_Release(enum2);

    enum2 = NULL;
    hr = IBackgroundCopyManager_EnumJobs(manager, BG_JOB_ENUM_ALL_USERS, &enum2);
    ok(hr == S_OK || broken(hr == E_ACCESSDENIED) /* not an administrator */,
       "[inferred] EnumJobs(BG_JOB_ENUM_ALL_USERS): got %#lx\n", hr);
    if (SUCCEEDED(hr) && enum2)
    {
        count2 = 0;
        hr = IEnumBackgroundCopyJobs_GetCount(enum2, &count2);
        ok(hr == S_OK, "[inferred] GetCount: got %#lx\n", hr);
        ok(count2 >= count, "[inferred] all users' jobs: %lu, ours: %lu\n", count2, count);
        IEnumBackgroundCopyJobs_Release(enum2);
    }

    hr = IBackgroundCopyManager_EnumJobs(manager, 0, NULL);
    ok(null_arg_hr(hr), "[inferred] EnumJobs(0, NULL): got %#lx\n", hr);

done:
    for (j = 0; j < 3; j++)
    {
        if (!ours[j]) continue;
        hr = IBackgroundCopyJob_Cancel(ours[j]);
        ok(hr == S_OK, "Cancel: got %#lx\n", hr);
        IBackgroundCopyJob_Release(ours[j]);
    }
}

static void test_error_description(IBackgroundCopyManager *manager)
{
    static const HRESULT known[] =
    {
        DO_E_INVALID_STATE,
        DO_E_JOB_NOT_FOUND,
        HTTP_STATUS_HRESULT(404),
        E_ACCESSDENIED,
    };
    LANGID lang = GetUserDefaultUILanguage();
    unsigned int i;
    WCHAR *text;
    HRESULT hr;

    for (i = 0; i < ARRAY_SIZE(known); i++)
    {
        text = NULL;
        hr = IBackgroundCopyManager_GetErrorDescription(manager, known[i], lang, &text);
        ok(hr == S_OK, "[inferred] GetErrorDescription(%#lx): got %#lx\n", known[i], hr);
        ok(text && *text, "[inferred] GetErrorDescription(%#lx): text %s\n", known[i], dbgstr_w(text));
        if (text) trace("%#lx: %s\n", known[i], dbgstr_w(text));
        CoTaskMemFree(text);
    }

    text = (WCHAR *)0xdeadbeef;
    hr = IBackgroundCopyManager_GetErrorDescription(manager, 0x80d0ffff, lang, &text);
    ok(hr == HRESULT_FROM_WIN32(ERROR_MR_MID_NOT_FOUND),
       "[inferred] GetErrorDescription(0x80d0ffff): got %#lx\n", hr);
    ok(!text, "[inferred] GetErrorDescription(0x80d0ffff): text %p\n", text);
    if (SUCCEEDED(hr)) CoTaskMemFree(text);

    hr = IBackgroundCopyManager_GetErrorDescription(manager, DO_E_INVALID_STATE, lang, NULL);
    ok(null_arg_hr(hr), "[inferred] GetErrorDescription with a NULL text pointer: got %#lx\n", hr);
}

/* Runs in the child process: creates a job and leaves it for the parent. */
static void child_create_job(const char *name)
{
    IBackgroundCopyManager *manager;
    IBackgroundCopyJob *job = NULL;
    WCHAR nameW[128];
    GUID id;
    HRESULT hr;

    MultiByteToWideChar(CP_ACP, 0, name, -1, nameW, ARRAY_SIZE(nameW));
    if (!(manager = create_manager())) return;
    set_impersonate(manager);
    hr = IBackgroundCopyManager_CreateJob(manager, nameW, BG_JOB_TYPE_DOWNLOAD, &id, &job);
    ok(hr == S_OK, "child: CreateJob: got %#lx\n", hr);
    if (job) IBackgroundCopyJob_Release(job);
    IBackgroundCopyManager_Release(manager);
}

static void test_cross_process(IBackgroundCopyManager *manager)
{
    STARTUPINFOA startup = { sizeof(startup) };
    PROCESS_INFORMATION info;
    IBackgroundCopyJob *job, *job2, *mine;
    WCHAR nameW[128], *owner, *my_owner;
    BG_JOB_STATE state;
    char name[128], cmdline[MAX_PATH + 200];
    unsigned int count;
    char **argv;
    GUID id;
    HRESULT hr;
    BOOL ret;

    winetest_get_mainargs(&argv);
    sprintf(name, "dosvc-test-child-%lu-%lu", GetCurrentProcessId(), GetTickCount());
    snprintf(cmdline, sizeof(cmdline), "\"%s\" manager child %s", argv[0], name);
    ret = CreateProcessA(NULL, cmdline, NULL, NULL, FALSE, 0, NULL, NULL, &startup, &info);
    ok(ret, "CreateProcess(%s) failed: %lu\n", cmdline, GetLastError());
    if (!ret) return;
    wait_child_process(info.hProcess);
    CloseHandle(info.hProcess);
    CloseHandle(info.hThread);

    MultiByteToWideChar(CP_ACP, 0, name, -1, nameW, ARRAY_SIZE(nameW));
    job = find_job_by_name(manager, nameW, &count);
    ok(count == 1, "[inferred] jobs named %s after the child exited: %u\n", name, count);
    if (!job) return;

    memset(&id, 0, sizeof(id));
    hr = IBackgroundCopyJob_GetId(job, &id);
    ok(hr == S_OK, "GetId: got %#lx\n", hr);
    IBackgroundCopyJob_Release(job);

    job2 = NULL;
    hr = IBackgroundCopyManager_GetJob(manager, &id, &job2);
    ok(hr == S_OK, "GetJob of the child's job: got %#lx\n", hr);
    if (!job2) return;
    set_impersonate(job2);
    ok(job_has_name(job2, nameW), "GetJob returned a job with another name\n");
    state = job_state(job2);
    ok(state == BG_JOB_STATE_SUSPENDED, "child's job: state %s\n", state_name(state));

    /* same user, same owner */
    if ((mine = create_job(manager, L"dosvc-test-owner", NULL)))
    {
        owner = my_owner = NULL;
        hr = IBackgroundCopyJob_GetOwner(job2, &owner);
        ok(hr == S_OK, "[inferred] GetOwner of the child's job: got %#lx\n", hr);
        IBackgroundCopyJob_GetOwner(mine, &my_owner);
        ok(owner && my_owner && !wcscmp(owner, my_owner), "[inferred] owners %s and %s\n",
           dbgstr_w(owner), dbgstr_w(my_owner));
        CoTaskMemFree(owner);
        CoTaskMemFree(my_owner);
        IBackgroundCopyJob_Cancel(mine);
        IBackgroundCopyJob_Release(mine);
    }

    hr = IBackgroundCopyJob_Cancel(job2);
    ok(hr == S_OK, "Cancel of the child's job: got %#lx\n", hr);
    IBackgroundCopyJob_Release(job2);

    job2 = NULL;
    hr = IBackgroundCopyManager_GetJob(manager, &id, &job2);
    ok(hr == DO_E_JOB_NOT_FOUND, "[inferred] GetJob of the cancelled child's job: got %#lx\n", hr);
    if (SUCCEEDED(hr) && job2) IBackgroundCopyJob_Release(job2);
}

START_TEST(manager)
{
    IBackgroundCopyManager *manager;
    char **argv;
    int argc;

    CoInitializeEx(NULL, COINIT_MULTITHREADED);

    argc = winetest_get_mainargs(&argv);
    if (argc >= 4 && !strcmp(argv[2], "child"))
    {
        child_create_job(argv[3]);
        CoUninitialize();
        return;
    }

    if (!(manager = create_manager()))
    {
        CoUninitialize();
        return;
    }

    test_activation(manager);
    test_proxy_blanket(manager);
    test_create_job(manager);
    test_get_job(manager);
    test_enum_jobs(manager);
    test_error_description(manager);
    test_cross_process(manager);

    IBackgroundCopyManager_Release(manager);
    remove_test_dir();
    CoUninitialize();
}
