/*
 * What a client may do with the pointers DoSvc hands out: proxy security
 * (CoSetProxyBlanket, CoQueryProxyBlanket, CoCopyProxy), identity, other
 * apartments, and the call sequences of Microsoft's own clients.
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
 * Microsoft's clients call CoSetProxyBlanket on what DoSvc returns and give
 * up when it fails: winget on every IDODownload (RPC_C_AUTHZ_DEFAULT,
 * EOAC_DEFAULT), the DO SDK on IDOManager and IDODownload
 * (EOAC_STATIC_CLOAKING), Office Click-to-Run CoQueryProxyBlanket and then
 * CoSetProxyBlanket on IBackgroundCopyManager.  Every check here holds on
 * Windows against Microsoft's DoSvc as well; values COM resolves (the
 * authentication level a DEFAULT becomes) are only checked for being
 * resolved.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define CONST_VTABLE
#include "dotest.h"

static struct httpd *httpd;

/* ------------------------------------------------------------------ the three blankets */

static HRESULT winget_blanket(void *proxy)
{
    return CoSetProxyBlanket(proxy, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_DEFAULT, COLE_DEFAULT_PRINCIPAL,
                             RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_DEFAULT);
}

static HRESULT sdk_blanket(void *proxy)
{
    return CoSetProxyBlanket(proxy, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_NONE, COLE_DEFAULT_PRINCIPAL,
                             RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_STATIC_CLOAKING);
}

/* Office's way: keep what the proxy has, raise the impersonation level. */
static HRESULT office_blanket(void *proxy)
{
    DWORD authn, authz, level, imp, caps;
    WCHAR *principal = NULL;
    void *auth_info = NULL;
    HRESULT hr;

    hr = CoQueryProxyBlanket(proxy, &authn, &authz, &principal, &level, &imp, &auth_info, &caps);
    if (FAILED(hr)) return hr;
    hr = CoSetProxyBlanket(proxy, authn, authz, principal, level, RPC_C_IMP_LEVEL_IMPERSONATE, auth_info, caps);
    CoTaskMemFree(principal);
    return hr;
}

/* All three on one pointer, each followed by a query that must show the
 * impersonation the client asked for. */
#define check_blankets(proxy, name) check_blankets_(__LINE__, proxy, name)
static void check_blankets_(unsigned int line, void *proxy, const char *name)
{
    static HRESULT (*const set[3])(void *) = { winget_blanket, sdk_blanket, office_blanket };
    static const char *const who[3] = { "winget", "SDK", "Office" };
    DWORD authn = 0xdead, authz = 0xdead, level = 0xdead, imp = 0xdead, caps = 0xdead;
    WCHAR *principal;
    HRESULT hr;
    int i;

    for (i = 0; i < 3; i++)
    {
        hr = set[i](proxy);
        ok_(__FILE__, line)(hr == S_OK, "%s: %s blanket: %#lx\n", name, who[i], hr);
        principal = NULL;
        hr = CoQueryProxyBlanket(proxy, &authn, &authz, &principal, &level, &imp, NULL, &caps);
        ok_(__FILE__, line)(hr == S_OK, "%s: CoQueryProxyBlanket after the %s blanket: %#lx\n", name, who[i], hr);
        if (FAILED(hr)) continue;
        ok_(__FILE__, line)(imp == RPC_C_IMP_LEVEL_IMPERSONATE, "%s: %s blanket: impersonation level %lu\n",
                            name, who[i], imp);
        ok_(__FILE__, line)(authn != RPC_C_AUTHN_DEFAULT && level != RPC_C_AUTHN_LEVEL_DEFAULT,
                            "%s: %s blanket: DEFAULTs not resolved: service %lu, level %lu [inferred]\n",
                            name, who[i], authn, level);
        CoTaskMemFree(principal);
    }
}

/* ------------------------------------------------------------------ every pointer DoSvc hands out */

static IUnknown *identity(void *obj)
{
    IUnknown *unk = NULL;

    IUnknown_QueryInterface((IUnknown *)obj, &IID_IUnknown, (void **)&unk);
    if (unk) IUnknown_Release(unk);   /* only compared */
    return unk;
}

/* QueryInterface, then the blankets on the result, then release. */
static void check_interface(void *obj, REFIID riid, const char *name)
{
    IUnknown *iface = NULL;
    HRESULT hr;

    hr = IUnknown_QueryInterface((IUnknown *)obj, riid, (void **)&iface);
    ok(hr == S_OK, "QueryInterface(%s): %#lx\n", name, hr);
    if (FAILED(hr)) return;
    check_blankets(iface, name);
    ok(identity(iface) == identity(obj), "%s: QueryInterface(IUnknown) gives another identity\n", name);
    IUnknown_Release(iface);
}

static void check_job(IBackgroundCopyJob *job, const char *how)
{
    IBackgroundCopyJob5 *job5;
    char name[96];
    BG_JOB_STATE state;
    HRESULT hr;

    sprintf(name, "job (%s)", how);
    check_blankets(job, name);
    /* fully usable afterwards */
    hr = IBackgroundCopyJob_GetState(job, &state);
    ok(hr == S_OK, "%s: GetState after the blankets: %#lx\n", name, hr);
    check_blankets(identity(job), "job's IUnknown");
    check_interface(job, &IID_IBackgroundCopyJob5, "IBackgroundCopyJob5");
    check_interface(job, &IID_IBackgroundCopyJobHttpOptions, "IBackgroundCopyJobHttpOptions");
    check_interface(job, &IID_IDeliveryOptimizationJob, "IDeliveryOptimizationJob");
    check_interface(job, &IID_IDeliveryOptimizationJob2, "IDeliveryOptimizationJob2");
    if (SUCCEEDED(IBackgroundCopyJob_QueryInterface(job, &IID_IBackgroundCopyJob5, (void **)&job5)))
    {
        BITS_JOB_PROPERTY_VALUE value;

        winget_blanket(job5);
        memset(&value, 0, sizeof(value));
        hr = IBackgroundCopyJob5_GetProperty(job5, BITS_JOB_PROPERTY_ID_COST_FLAGS, &value);
        ok(hr == S_OK, "Job5::GetProperty after the blanket: %#lx\n", hr);
        IBackgroundCopyJob5_Release(job5);
    }
}

static void check_file(IBackgroundCopyFile *file, const char *how)
{
    WCHAR *remote = NULL;
    char name[96];
    HRESULT hr;

    sprintf(name, "file (%s)", how);
    check_blankets(file, name);
    hr = IBackgroundCopyFile_GetRemoteName(file, &remote);
    ok(hr == S_OK && remote, "%s: GetRemoteName after the blankets: %#lx\n", name, hr);
    CoTaskMemFree(remote);
    check_interface(file, &IID_IBackgroundCopyFile2, "IBackgroundCopyFile2");
    check_interface(file, &IID_IBackgroundCopyFile5, "IBackgroundCopyFile5");
    check_interface(file, &IID_IDeliveryOptimizationFile, "IDeliveryOptimizationFile");
    check_interface(file, &IID_IDeliveryOptimizationFile2, "IDeliveryOptimizationFile2");
}

/* A job in ERROR (404) with one file, for the error object and the file's. */
static IBackgroundCopyJob *failed_job(IBackgroundCopyManager *manager)
{
    WCHAR url[128], local[MAX_PATH];
    IBackgroundCopyJob *job;

    if (!(job = create_job(manager, L"dosvc-test-proxy-404", NULL))) return NULL;
    make_url(url, ARRAY_SIZE(url), httpd, "/no-such-file");
    make_test_path(local, ARRAY_SIZE(local), L"proxy-404.bin");
    ok(add_file(job, url, local, 0, NULL) == S_OK, "AddFileWithRanges failed\n");
    ok(IBackgroundCopyJob_Resume(job) == S_OK, "Resume failed\n");
    ok(wait_for_state(job, BG_JOB_STATE_ERROR, 60000) == BG_JOB_STATE_ERROR, "the 404 job is not in ERROR\n");
    return job;
}

/* Every kind of pointer of the BITS-style generation, however obtained. */
static void test_bits_pointers(IBackgroundCopyManager *manager, const char *apartment)
{
    IEnumBackgroundCopyJobs *enum_jobs, *enum_clone;
    IEnumBackgroundCopyFiles *enum_files;
    IBackgroundCopyJob *job, *got, *listed = NULL;
    IBackgroundCopyError *error;
    IBackgroundCopyFile *file;
    IDeliveryOptimizationJob2 *job2;
    IDeliveryOptimizationFile2 *file2;
    BG_ERROR_CONTEXT context;
    char name[64];
    ULONG fetched;
    HRESULT hr, code;
    GUID id, got_id;

    winetest_push_context("%s", apartment);
    check_blankets(manager, "IBackgroundCopyManager");
    check_blankets(identity(manager), "the manager's IUnknown");
    check_interface(manager, &IID_IDOManager, "IDOManager (QueryInterface of the BITS-style manager)");

    if (!(job = failed_job(manager))) goto done;
    check_job(job, "CreateJob");

    hr = IBackgroundCopyJob_GetId(job, &id);
    ok(hr == S_OK, "GetId: %#lx\n", hr);
    hr = IBackgroundCopyManager_GetJob(manager, &id, &got);
    ok(hr == S_OK, "GetJob: %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        /* one object in the service, one identity in this apartment */
        ok(identity(got) == identity(job), "GetJob gives another identity than CreateJob\n");
        check_job(got, "GetJob");
        IBackgroundCopyJob_Release(got);
    }

    hr = IBackgroundCopyManager_EnumJobs(manager, 0, &enum_jobs);
    ok(hr == S_OK, "EnumJobs: %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        check_blankets(enum_jobs, "IEnumBackgroundCopyJobs");
        while (!listed && IEnumBackgroundCopyJobs_Next(enum_jobs, 1, &got, &fetched) == S_OK)
        {
            if (SUCCEEDED(IBackgroundCopyJob_GetId(got, &got_id)) && IsEqualGUID(&got_id, &id)) listed = got;
            else IBackgroundCopyJob_Release(got);
        }
        ok(listed != NULL, "EnumJobs did not list the job\n");
        if (listed)
        {
            ok(identity(listed) == identity(job), "an enumerated job has another identity\n");
            check_job(listed, "EnumJobs");
            IBackgroundCopyJob_Release(listed);
        }
        hr = IEnumBackgroundCopyJobs_Clone(enum_jobs, &enum_clone);
        ok(hr == S_OK, "Clone: %#lx\n", hr);
        if (SUCCEEDED(hr))
        {
            check_blankets(enum_clone, "a cloned IEnumBackgroundCopyJobs");
            IEnumBackgroundCopyJobs_Release(enum_clone);
        }
        IEnumBackgroundCopyJobs_Release(enum_jobs);
    }

    hr = IBackgroundCopyJob_EnumFiles(job, &enum_files);
    ok(hr == S_OK, "EnumFiles: %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        check_blankets(enum_files, "IEnumBackgroundCopyFiles");
        hr = IEnumBackgroundCopyFiles_Next(enum_files, 1, &file, NULL);
        ok(hr == S_OK, "Next: %#lx\n", hr);
        if (hr == S_OK)
        {
            check_file(file, "EnumFiles");
            IBackgroundCopyFile_Release(file);
        }
        IEnumBackgroundCopyFiles_Release(enum_files);
    }

    hr = IBackgroundCopyJob_GetError(job, &error);
    ok(hr == S_OK, "GetError: %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        WCHAR *text = NULL;

        check_blankets(error, "IBackgroundCopyError");
        hr = IBackgroundCopyError_GetError(error, &context, &code);
        ok(hr == S_OK && code == HTTP_STATUS_HRESULT(404), "GetError after the blankets: %#lx, code %#lx\n",
           hr, code);
        hr = IBackgroundCopyError_GetErrorDescription(error, GetUserDefaultUILanguage(), &text);
        ok(hr == S_OK && text && *text, "GetErrorDescription after the blankets: %#lx\n", hr);
        CoTaskMemFree(text);
        hr = IBackgroundCopyError_GetFile(error, &file);
        ok(hr == S_OK, "the error's GetFile: %#lx\n", hr);
        if (SUCCEEDED(hr))
        {
            check_file(file, "IBackgroundCopyError::GetFile");
            IBackgroundCopyFile_Release(file);
        }
        IBackgroundCopyError_Release(error);
    }

    /* a file made by IDeliveryOptimizationJob2::AddFile, as Office does */
    if (SUCCEEDED(IBackgroundCopyJob_QueryInterface(job, &IID_IDeliveryOptimizationJob2, (void **)&job2)))
    {
        WCHAR url[128];
        BG_FILE_RANGE range = { 0, 1024 };

        make_url(url, ARRAY_SIZE(url), httpd, "/proxy-ranged.bin");
        hr = IDeliveryOptimizationJob2_AddFile(job2, L"proxy-file-id", url, 1, &range,
                                               &IID_IDeliveryOptimizationFile2, (void **)&file2);
        ok(hr == S_OK, "Job2::AddFile: %#lx\n", hr);
        if (SUCCEEDED(hr))
        {
            sprintf(name, "IDeliveryOptimizationFile2 (Job2::AddFile)");
            check_blankets(file2, name);
            check_interface(file2, &IID_IBackgroundCopyFile, "IBackgroundCopyFile of an AddFile file");
            IDeliveryOptimizationFile2_Release(file2);
        }
        IDeliveryOptimizationJob2_Release(job2);
    }
    finish_job(job);
done:
    winetest_pop_context();
}

/* The same for the IDOManager generation. */
static void test_do_pointers(const char *apartment)
{
    IEnumUnknown *enum_downloads, *enum_clone;
    IDODownload *download, *listed;
    DO_DOWNLOAD_STATUS status;
    IDOManager *manager;
    IUnknown *unk;
    HRESULT hr;

    winetest_push_context("%s", apartment);
    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER, &IID_IDOManager,
                          (void **)&manager);
    ok(hr == S_OK, "CoCreateInstance(IDOManager): %#lx\n", hr);
    if (FAILED(hr)) goto done;
    check_blankets(manager, "IDOManager");
    check_interface(manager, &IID_IBackgroundCopyManager, "IBackgroundCopyManager (QueryInterface of IDOManager)");

    hr = IDOManager_CreateDownload(manager, &download);
    ok(hr == S_OK, "CreateDownload: %#lx\n", hr);
    if (FAILED(hr)) goto release;
    check_blankets(download, "IDODownload");
    check_blankets(identity(download), "the download's IUnknown");
    hr = IDODownload_GetStatus(download, &status);
    ok(hr == S_OK && status.State == DODownloadState_Created, "GetStatus after the blankets: %#lx, state %d\n",
       hr, status.State);
    hr = set_bstr(download, DODownloadProperty_DisplayName, L"dosvc-test proxy");
    ok(hr == S_OK, "SetProperty after the blankets: %#lx\n", hr);

    hr = IDOManager_EnumDownloads(manager, NULL, &enum_downloads);
    ok(hr == S_OK, "EnumDownloads: %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        BOOL found = FALSE;

        check_blankets(enum_downloads, "IEnumUnknown of downloads");
        while (!found && IEnumUnknown_Next(enum_downloads, 1, &unk, NULL) == S_OK)
        {
            if (identity(unk) == identity(download))
            {
                found = TRUE;
                check_blankets(unk, "an enumerated download's IUnknown");
                hr = IUnknown_QueryInterface(unk, &IID_IDODownload, (void **)&listed);
                ok(hr == S_OK, "QueryInterface(IDODownload) of an enumerated download: %#lx\n", hr);
                if (SUCCEEDED(hr))
                {
                    check_blankets(listed, "an enumerated IDODownload");
                    ok(get_dl_state(listed) == DODownloadState_Created, "enumerated download not Created\n");
                    IDODownload_Release(listed);
                }
            }
            IUnknown_Release(unk);
        }
        ok(found, "EnumDownloads did not list the download (or gave it another identity)\n");
        hr = IEnumUnknown_Clone(enum_downloads, &enum_clone);
        ok(hr == S_OK, "Clone: %#lx\n", hr);
        if (SUCCEEDED(hr))
        {
            check_blankets(enum_clone, "a cloned IEnumUnknown");
            IEnumUnknown_Release(enum_clone);
        }
        IEnumUnknown_Release(enum_downloads);
    }
    finish_download(download);
release:
    IDOManager_Release(manager);
done:
    winetest_pop_context();
}

/* ------------------------------------------------------------------ CoCopyProxy */

static void test_copy_proxy(IBackgroundCopyManager *manager)
{
    IBackgroundCopyJob *job, *copy = NULL, *again;
    DWORD imp;
    IUnknown *unk_copy;
    BG_JOB_STATE state;
    HRESULT hr;

    if (!(job = create_job(manager, L"dosvc-test-proxy-copy", NULL))) return;
    hr = winget_blanket(job);
    ok(hr == S_OK, "blanket on the original: %#lx\n", hr);

    hr = CoCopyProxy((IUnknown *)job, (IUnknown **)&copy);
    ok(hr == S_OK, "CoCopyProxy: %#lx\n", hr);
    if (FAILED(hr)) goto done;
    ok(copy != NULL && copy != job, "the copy is %p, the original %p\n", copy, job);
    hr = IBackgroundCopyJob_GetState(copy, &state);
    ok(hr == S_OK && state == BG_JOB_STATE_SUSPENDED, "GetState through the copy: %#lx, %s\n", hr,
       state_name(state));

    /* the copy's blanket is its own */
    hr = CoSetProxyBlanket((IUnknown *)copy, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_NONE, COLE_DEFAULT_PRINCIPAL,
                           RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IDENTIFY, NULL, EOAC_NONE);
    ok(hr == S_OK, "blanket on the copy: %#lx\n", hr);
    imp = 0;
    hr = CoQueryProxyBlanket((IUnknown *)copy, NULL, NULL, NULL, NULL, &imp, NULL, NULL);
    ok(hr == S_OK && imp == RPC_C_IMP_LEVEL_IDENTIFY, "the copy's blanket: %#lx, impersonation %lu\n", hr, imp);
    imp = 0;
    hr = CoQueryProxyBlanket((IUnknown *)job, NULL, NULL, NULL, NULL, &imp, NULL, NULL);
    ok(hr == S_OK && imp == RPC_C_IMP_LEVEL_IMPERSONATE, "the original's blanket after the copy's changed: "
       "%#lx, impersonation %lu\n", hr, imp);
    hr = IBackgroundCopyJob_GetState(copy, &state);
    ok(hr == S_OK, "GetState through the copy with its blanket: %#lx\n", hr);

    /* QueryInterface on a copy answers with the original's interfaces */
    hr = IBackgroundCopyJob_QueryInterface(copy, &IID_IBackgroundCopyJob, (void **)&again);
    ok(hr == S_OK, "QueryInterface of the copy: %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        ok(again == job, "QueryInterface(IBackgroundCopyJob) of the copy gave %p, not the original %p\n",
           again, job);
        IBackgroundCopyJob_Release(again);
    }
    ok(identity(copy) == identity(job), "the copy has an identity of its own\n");

    /* local interfaces are not copied */
    unk_copy = (IUnknown *)0xdeadbeef;
    hr = CoCopyProxy(identity(job), &unk_copy);
    ok(hr == E_INVALIDARG, "CoCopyProxy(IUnknown): %#lx [inferred]\n", hr);
    if (SUCCEEDED(hr)) IUnknown_Release(unk_copy);

    IBackgroundCopyJob_Release(copy);
    hr = IBackgroundCopyJob_GetState(job, &state);
    ok(hr == S_OK, "GetState through the original after the copy was released: %#lx\n", hr);
done:
    finish_job(job);
}

/* Nonsense is refused, and refusing it changes nothing. */
static void test_bad_blankets(IBackgroundCopyManager *manager)
{
    IBackgroundCopyJob *job;
    BG_JOB_STATE state;
    HRESULT hr;

    if (!(job = create_job(manager, L"dosvc-test-proxy-bad", NULL))) return;
    hr = CoSetProxyBlanket((IUnknown *)job, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_DEFAULT, COLE_DEFAULT_PRINCIPAL,
                           RPC_C_AUTHN_LEVEL_PKT_PRIVACY + 1, RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_DEFAULT);
    ok(hr == E_INVALIDARG, "authentication level 7: %#lx [inferred]\n", hr);
    hr = CoSetProxyBlanket((IUnknown *)job, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_DEFAULT, COLE_DEFAULT_PRINCIPAL,
                           RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_DELEGATE + 1, NULL, EOAC_DEFAULT);
    ok(hr == E_INVALIDARG, "impersonation level 5: %#lx [inferred]\n", hr);
    hr = CoSetProxyBlanket((IUnknown *)job, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_DEFAULT, COLE_DEFAULT_PRINCIPAL,
                           RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE, NULL,
                           EOAC_STATIC_CLOAKING | EOAC_DYNAMIC_CLOAKING);
    ok(hr == E_INVALIDARG, "static and dynamic cloaking at once: %#lx [inferred]\n", hr);
    hr = IBackgroundCopyJob_GetState(job, &state);
    ok(hr == S_OK && state == BG_JOB_STATE_SUSPENDED, "GetState after refused blankets: %#lx\n", hr);
    finish_job(job);
}

/* ------------------------------------------------------------------ other apartments */

struct apartment_test
{
    DWORD model;                         /* COINIT_* of the thread */
    IStream *job_stream;                 /* a job marshaled from the main thread, or NULL */
    DWORD git_cookie;                    /* the same job in the global interface table, or 0 */
    IGlobalInterfaceTable *git;
    IStream *back_stream;                /* a job the thread created, for the main thread */
};

static void use_job_here(IBackgroundCopyJob *job, const char *how)
{
    BG_JOB_STATE state;
    HRESULT hr;

    check_blankets(job, how);
    hr = IBackgroundCopyJob_GetState(job, &state);
    ok(hr == S_OK && state == BG_JOB_STATE_SUSPENDED, "%s: GetState: %#lx, %s\n", how, hr, state_name(state));
}

static DWORD CALLBACK apartment_thread(void *arg)
{
    struct apartment_test *test = arg;
    const char *name = test->model == COINIT_APARTMENTTHREADED ? "STA" : "second MTA thread";
    IBackgroundCopyManager *manager;
    IBackgroundCopyJob *job;
    HRESULT hr;

    CoInitializeEx(NULL, test->model);
    if ((manager = create_manager()))
    {
        test_bits_pointers(manager, name);
        test_do_pointers(name);
        /* a job made here, handed to the main thread */
        if ((job = create_job(manager, L"dosvc-test-proxy-back", NULL)))
        {
            hr = CoMarshalInterThreadInterfaceInStream(&IID_IBackgroundCopyJob, (IUnknown *)job,
                                                       &test->back_stream);
            ok(hr == S_OK, "%s: CoMarshalInterThreadInterfaceInStream: %#lx\n", name, hr);
            IBackgroundCopyJob_Release(job);
        }
        IBackgroundCopyManager_Release(manager);
    }
    if (test->job_stream)
    {
        hr = CoGetInterfaceAndReleaseStream(test->job_stream, &IID_IBackgroundCopyJob, (void **)&job);
        ok(hr == S_OK, "%s: CoGetInterfaceAndReleaseStream: %#lx\n", name, hr);
        if (SUCCEEDED(hr))
        {
            use_job_here(job, "a job from another apartment");
            IBackgroundCopyJob_Release(job);
        }
    }
    if (test->git_cookie)
    {
        hr = IGlobalInterfaceTable_GetInterfaceFromGlobal(test->git, test->git_cookie, &IID_IBackgroundCopyJob,
                                                          (void **)&job);
        ok(hr == S_OK, "%s: GetInterfaceFromGlobal: %#lx\n", name, hr);
        if (SUCCEEDED(hr))
        {
            use_job_here(job, "a job from the global interface table");
            IBackgroundCopyJob_Release(job);
        }
    }
    CoUninitialize();
    return 0;
}

static void run_in_apartment(IBackgroundCopyManager *manager, DWORD model)
{
    struct apartment_test test = { model };
    IBackgroundCopyJob *job, *back;
    HANDLE thread;
    HRESULT hr;

    if ((job = create_job(manager, L"dosvc-test-proxy-apartment", NULL)))
    {
        hr = CoMarshalInterThreadInterfaceInStream(&IID_IBackgroundCopyJob, (IUnknown *)job, &test.job_stream);
        ok(hr == S_OK, "CoMarshalInterThreadInterfaceInStream: %#lx\n", hr);
        hr = CoCreateInstance(&CLSID_StdGlobalInterfaceTable, NULL, CLSCTX_INPROC_SERVER,
                              &IID_IGlobalInterfaceTable, (void **)&test.git);
        ok(hr == S_OK, "the global interface table: %#lx\n", hr);
        if (SUCCEEDED(hr))
        {
            hr = IGlobalInterfaceTable_RegisterInterfaceInGlobal(test.git, (IUnknown *)job, &IID_IBackgroundCopyJob,
                                                                 &test.git_cookie);
            ok(hr == S_OK, "RegisterInterfaceInGlobal: %#lx\n", hr);
        }
    }
    thread = CreateThread(NULL, 0, apartment_thread, &test, 0, NULL);
    ok(WaitForSingleObject(thread, 300000) == WAIT_OBJECT_0, "the apartment thread did not finish\n");
    CloseHandle(thread);
    if (test.back_stream)
    {
        hr = CoGetInterfaceAndReleaseStream(test.back_stream, &IID_IBackgroundCopyJob, (void **)&back);
        ok(hr == S_OK, "the other apartment's job here: %#lx\n", hr);
        if (SUCCEEDED(hr))
        {
            use_job_here(back, "a job created in another apartment");
            finish_job(back);
        }
    }
    if (test.git)
    {
        if (test.git_cookie) IGlobalInterfaceTable_RevokeInterfaceFromGlobal(test.git, test.git_cookie);
        IGlobalInterfaceTable_Release(test.git);
    }
    if (job) finish_job(job);
}

/* ------------------------------------------------------------------ pointers in callbacks */

struct status_callback
{
    IDODownloadStatusCallback IDODownloadStatusCallback_iface;
    HANDLE done;                 /* set on Transferred, or on a status with an error */
    LONG blanket_failures;       /* blanket calls on the callback's download that failed */
    LONG calls;
    CRITICAL_SECTION cs;
    DO_DOWNLOAD_STATUS last;
};

static struct status_callback *impl_from_IDODownloadStatusCallback(IDODownloadStatusCallback *iface)
{
    return CONTAINING_RECORD(iface, struct status_callback, IDODownloadStatusCallback_iface);
}

static HRESULT WINAPI status_callback_QueryInterface(IDODownloadStatusCallback *iface, REFIID riid, void **out)
{
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IDODownloadStatusCallback))
    {
        *out = iface;
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI status_callback_AddRef(IDODownloadStatusCallback *iface)
{
    return 2;
}

static ULONG WINAPI status_callback_Release(IDODownloadStatusCallback *iface)
{
    return 1;
}

/* winget's callback records the status and wakes its waiter; ours also
 * checks that the download it is handed takes a blanket. */
static HRESULT WINAPI status_callback_OnStatusChange(IDODownloadStatusCallback *iface, IDODownload *download,
                                                     const DO_DOWNLOAD_STATUS *status)
{
    struct status_callback *cb = impl_from_IDODownloadStatusCallback(iface);

    if (!download || FAILED(winget_blanket(download))) InterlockedIncrement(&cb->blanket_failures);
    EnterCriticalSection(&cb->cs);
    if (status) cb->last = *status;
    LeaveCriticalSection(&cb->cs);
    InterlockedIncrement(&cb->calls);
    if (status && (status->State == DODownloadState_Transferred || FAILED(status->Error))) SetEvent(cb->done);
    return S_OK;
}

static const IDODownloadStatusCallbackVtbl status_callback_vtbl =
{
    status_callback_QueryInterface,
    status_callback_AddRef,
    status_callback_Release,
    status_callback_OnStatusChange,
};

/* winget's sequence (DODownloader.cpp): CreateDownload, the blanket,
 * Uri, ForegroundPriority, LocalPath, CallbackInterface, DisplayName,
 * Start with an empty range list, wait in the callback for Transferred,
 * GetStatus, Finalize. */
static void test_winget_flow(void)
{
    struct status_callback cb = { { &status_callback_vtbl } };
    DO_DOWNLOAD_RANGES_INFO no_ranges;
    WCHAR url[128], local[MAX_PATH];
    DO_DOWNLOAD_STATUS status;
    IDODownload *download;
    IDOManager *manager;
    UINT64 bad = 0;
    VARIANT v;
    HRESULT hr;

    cb.done = CreateEventW(NULL, TRUE, FALSE, NULL);
    InitializeCriticalSection(&cb.cs);
    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER, &IID_IDOManager,
                          (void **)&manager);
    ok(hr == S_OK, "CoCreateInstance(IDOManager): %#lx\n", hr);
    if (FAILED(hr)) goto done;
    hr = IDOManager_CreateDownload(manager, &download);
    ok(hr == S_OK, "CreateDownload: %#lx\n", hr);
    if (FAILED(hr)) goto release;
    /* winget throws when this fails */
    hr = winget_blanket(download);
    ok(hr == S_OK, "winget's CoSetProxyBlanket: %#lx\n", hr);

    make_url(url, ARRAY_SIZE(url), httpd, "/proxy-winget.bin");
    make_test_path(local, ARRAY_SIZE(local), L"proxy-winget.bin");
    DeleteFileW(local);   /* winget removes the target first: DO does not overwrite */
    hr = set_bstr(download, DODownloadProperty_Uri, url);
    ok(hr == S_OK, "Uri: %#lx\n", hr);
    hr = set_bool(download, DODownloadProperty_ForegroundPriority, TRUE);
    ok(hr == S_OK, "ForegroundPriority: %#lx\n", hr);
    hr = set_bstr(download, DODownloadProperty_LocalPath, local);
    ok(hr == S_OK, "LocalPath: %#lx\n", hr);
    V_VT(&v) = VT_UNKNOWN;
    V_UNKNOWN(&v) = (IUnknown *)&cb.IDODownloadStatusCallback_iface;
    hr = IDODownload_SetProperty(download, DODownloadProperty_CallbackInterface, &v);
    ok(hr == S_OK, "CallbackInterface: %#lx\n", hr);
    hr = set_bstr(download, DODownloadProperty_DisplayName, L"dosvc-test winget");
    ok(hr == S_OK, "DisplayName: %#lx\n", hr);

    memset(&no_ranges, 0, sizeof(no_ranges));
    hr = IDODownload_Start(download, &no_ranges);
    ok(hr == S_OK, "Start: %#lx\n", hr);
    if (SUCCEEDED(hr))
    {
        ok(WaitForSingleObject(cb.done, 120000) == WAIT_OBJECT_0, "no Transferred in the callback\n");
        EnterCriticalSection(&cb.cs);
        ok(cb.last.State == DODownloadState_Transferred && cb.last.Error == S_OK,
           "the callback's last status: state %d, error %#lx\n", cb.last.State, cb.last.Error);
        LeaveCriticalSection(&cb.cs);
        ok(!cb.blanket_failures, "%ld of %ld blanket calls on the callback's download failed\n",
           cb.blanket_failures, cb.calls);
        hr = IDODownload_GetStatus(download, &status);
        ok(hr == S_OK && status.State == DODownloadState_Transferred, "GetStatus: %#lx, state %d\n", hr,
           status.State);
        hr = IDODownload_Finalize(download);
        ok(hr == S_OK, "Finalize: %#lx\n", hr);
        ok(file_matches_pattern(local, "proxy-winget.bin", 3 * MIB, 0, NULL, &bad),
           "the file is not the server's (first bad byte %llu)\n", bad);
    }
    finish_download(download);
release:
    IDOManager_Release(manager);
done:
    DeleteCriticalSection(&cb.cs);
    CloseHandle(cb.done);
}

/* IBackgroundCopyCallback gets the job; blankets on it work there too. */
struct job_callback
{
    IBackgroundCopyCallback IBackgroundCopyCallback_iface;
    HANDLE done;
    HRESULT blanket_hr;
    HRESULT state_hr;
};

static struct job_callback *impl_from_IBackgroundCopyCallback(IBackgroundCopyCallback *iface)
{
    return CONTAINING_RECORD(iface, struct job_callback, IBackgroundCopyCallback_iface);
}

static HRESULT WINAPI job_callback_QueryInterface(IBackgroundCopyCallback *iface, REFIID riid, void **out)
{
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyCallback))
    {
        *out = iface;
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI job_callback_AddRef(IBackgroundCopyCallback *iface)
{
    return 2;
}

static ULONG WINAPI job_callback_Release(IBackgroundCopyCallback *iface)
{
    return 1;
}

static HRESULT WINAPI job_callback_JobTransferred(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job)
{
    struct job_callback *cb = impl_from_IBackgroundCopyCallback(iface);
    BG_JOB_STATE state;

    cb->blanket_hr = office_blanket(job);
    cb->state_hr = IBackgroundCopyJob_GetState(job, &state);
    SetEvent(cb->done);
    return S_OK;
}

static HRESULT WINAPI job_callback_JobError(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job,
                                            IBackgroundCopyError *error)
{
    struct job_callback *cb = impl_from_IBackgroundCopyCallback(iface);

    cb->blanket_hr = E_FAIL;
    SetEvent(cb->done);
    return S_OK;
}

static HRESULT WINAPI job_callback_JobModification(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job,
                                                   DWORD reserved)
{
    return S_OK;
}

static const IBackgroundCopyCallbackVtbl job_callback_vtbl =
{
    job_callback_QueryInterface,
    job_callback_AddRef,
    job_callback_Release,
    job_callback_JobTransferred,
    job_callback_JobError,
    job_callback_JobModification,
};

static void test_job_callback(IBackgroundCopyManager *manager)
{
    struct job_callback cb = { { &job_callback_vtbl } };
    WCHAR url[128], local[MAX_PATH];
    IBackgroundCopyJob *job;
    HRESULT hr;

    if (!(job = create_job(manager, L"dosvc-test-proxy-callback", NULL))) return;
    cb.done = CreateEventW(NULL, TRUE, FALSE, NULL);
    cb.blanket_hr = cb.state_hr = E_PENDING;
    make_url(url, ARRAY_SIZE(url), httpd, "/proxy-small.bin");
    make_test_path(local, ARRAY_SIZE(local), L"proxy-small.bin");
    ok(add_file(job, url, local, 0, NULL) == S_OK, "AddFileWithRanges failed\n");
    hr = IBackgroundCopyJob_SetNotifyInterface(job, (IUnknown *)&cb.IBackgroundCopyCallback_iface);
    ok(hr == S_OK, "SetNotifyInterface: %#lx\n", hr);
    ok(IBackgroundCopyJob_Resume(job) == S_OK, "Resume failed\n");
    ok(WaitForSingleObject(cb.done, 120000) == WAIT_OBJECT_0, "no JobTransferred\n");
    ok(cb.blanket_hr == S_OK, "blanket on the job JobTransferred was given: %#lx\n", cb.blanket_hr);
    ok(cb.state_hr == S_OK, "GetState on that job: %#lx\n", cb.state_hr);
    IBackgroundCopyJob_SetNotifyInterface(job, NULL);
    hr = IBackgroundCopyJob_Complete(job);
    ok(hr == S_OK, "Complete: %#lx\n", hr);
    IBackgroundCopyJob_Release(job);
    CloseHandle(cb.done);
}

/* ------------------------------------------------------------------ */

START_TEST(proxy)
{
    IBackgroundCopyManager *manager;

    CoInitializeEx(NULL, COINIT_MULTITHREADED);
    if (!(httpd = httpd_start()))
    {
        ok(0, "cannot start the loopback HTTP server\n");
        CoUninitialize();
        return;
    }
    httpd_add_generated(httpd, "proxy-small.bin", 16 * KIB);
    httpd_add_generated(httpd, "proxy-ranged.bin", 64 * KIB);
    httpd_add_generated(httpd, "proxy-winget.bin", 3 * MIB);

    if ((manager = create_manager()))
    {
        test_bits_pointers(manager, "MTA");
        test_do_pointers("MTA");
        test_copy_proxy(manager);
        test_bad_blankets(manager);
        run_in_apartment(manager, COINIT_APARTMENTTHREADED);
        run_in_apartment(manager, COINIT_MULTITHREADED);
        test_job_callback(manager);
        test_winget_flow();
        IBackgroundCopyManager_Release(manager);
    }
    httpd_stop(httpd);
    remove_test_dir();
    CoUninitialize();
}
