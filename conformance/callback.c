/*
 * Notifications of the BITS-style Delivery Optimization API:
 * IBackgroundCopyCallback as implemented by a client
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
 * The test is a multithreaded-apartment client, so the service's calls to
 * the callback object arrive on RPC threads of this process while the main
 * thread polls.  The object only records (counters, a few values under a
 * lock, an event per call); every check runs on the main thread.  Checks
 * whose expected value the documentation does not give follow docs/gaps.md
 * and say "[inferred]".
 *
 * "callback child <port> <dir>" on the command line runs the child half of
 * the dead-client test: it starts a job with a callback and exits without
 * cleaning up.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "dotest.h"


#define STOP_STATES (STATE_BIT(BG_JOB_STATE_ERROR) | STATE_BIT(BG_JOB_STATE_TRANSFERRED) | \
                     STATE_BIT(BG_JOB_STATE_SUSPENDED) | STATE_BIT(BG_JOB_STATE_CANCELLED) | \
                     STATE_BIT(BG_JOB_STATE_ACKNOWLEDGED))
#define ALL_NOTIFY (BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR | BG_NOTIFY_JOB_MODIFICATION)

static IBackgroundCopyManager *manager;
static struct httpd *httpd;

/* ------------------------------------------------------------------ the callback object */

struct callback
{
    IBackgroundCopyCallback IBackgroundCopyCallback_iface;
    LONG ref;
    /* calls so far */
    LONG transferred;
    LONG errors;
    LONG modifications;
    LONG blocked;           /* JobModification calls held right now */
    /* behaviour */
    LONG error_failures;    /* JobError answers E_FAIL this many times, then S_OK */
    LONG blocks_left;       /* this many JobModification calls wait for release */
    HANDLE release;         /* manual-reset: what held calls wait for */
    HANDLE called;          /* auto-reset, set at the end of every call */
    /* what the calls saw, under cs */
    CRITICAL_SECTION cs;
    GUID transferred_id;
    HRESULT transferred_id_hr;
    BG_JOB_STATE transferred_state;
    HRESULT error_hr;
    BG_ERROR_CONTEXT error_context;
    HRESULT error_code;
    BG_JOB_STATE error_state;
    ULONGLONG error_ticks[16];       /* when each JobError came */
    ULONGLONG error_return_ticks[16];/* and when it returned */
    BOOL null_args;
};

/* The objects live as long as the process: a late Release from the service
 * must never touch freed memory. */
static struct callback callbacks[12];
static LONG callbacks_used;

static struct callback *impl_from_IBackgroundCopyCallback(IBackgroundCopyCallback *iface)
{
    return CONTAINING_RECORD(iface, struct callback, IBackgroundCopyCallback_iface);
}

static LONG get_count(LONG *counter)
{
    return InterlockedCompareExchange(counter, 0, 0);
}

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
    struct callback *cb = impl_from_IBackgroundCopyCallback(iface);
    return InterlockedIncrement(&cb->ref);
}

static ULONG WINAPI callback_Release(IBackgroundCopyCallback *iface)
{
    struct callback *cb = impl_from_IBackgroundCopyCallback(iface);
    return InterlockedDecrement(&cb->ref);
}

static HRESULT WINAPI callback_JobTransferred(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job)
{
    struct callback *cb = impl_from_IBackgroundCopyCallback(iface);
    BG_JOB_STATE state = (BG_JOB_STATE)-1;
    HRESULT hr = E_POINTER;
    GUID id = GUID_NULL;

    if (job)
    {
        hr = IBackgroundCopyJob_GetId(job, &id);
        IBackgroundCopyJob_GetState(job, &state);
    }
    EnterCriticalSection(&cb->cs);
    if (!job) cb->null_args = TRUE;
    cb->transferred_id = id;
    cb->transferred_id_hr = hr;
    cb->transferred_state = state;
    LeaveCriticalSection(&cb->cs);
    InterlockedIncrement(&cb->transferred);
    SetEvent(cb->called);
    return S_OK;
}

static HRESULT WINAPI callback_JobError(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job,
                                        IBackgroundCopyError *error)
{
    struct callback *cb = impl_from_IBackgroundCopyCallback(iface);
    BG_ERROR_CONTEXT context = (BG_ERROR_CONTEXT)-1;
    BG_JOB_STATE state = (BG_JOB_STATE)-1;
    HRESULT hr = E_POINTER, code = S_OK;
    LONG n;

    if (error) hr = IBackgroundCopyError_GetError(error, &context, &code);
    if (job) IBackgroundCopyJob_GetState(job, &state);
    EnterCriticalSection(&cb->cs);
    if (!job || !error) cb->null_args = TRUE;
    cb->error_hr = hr;
    cb->error_context = context;
    cb->error_code = code;
    cb->error_state = state;
    n = cb->errors;
    if (n < ARRAY_SIZE(cb->error_ticks)) cb->error_ticks[n] = GetTickCount64();
    LeaveCriticalSection(&cb->cs);
    n = InterlockedIncrement(&cb->errors);
    SetEvent(cb->called);
    EnterCriticalSection(&cb->cs);
    if (n <= ARRAY_SIZE(cb->error_return_ticks)) cb->error_return_ticks[n - 1] = GetTickCount64();
    LeaveCriticalSection(&cb->cs);
    return n <= cb->error_failures ? E_FAIL : S_OK;
}

static HRESULT WINAPI callback_JobModification(IBackgroundCopyCallback *iface, IBackgroundCopyJob *job,
                                               DWORD reserved)
{
    struct callback *cb = impl_from_IBackgroundCopyCallback(iface);

    if (!job)
    {
        EnterCriticalSection(&cb->cs);
        cb->null_args = TRUE;
        LeaveCriticalSection(&cb->cs);
    }
    InterlockedIncrement(&cb->modifications);
    if (InterlockedDecrement(&cb->blocks_left) >= 0)
    {
        /* held until the test lets go; the bound only guards against a hang */
        InterlockedIncrement(&cb->blocked);
        WaitForSingleObject(cb->release, HANG_TIMEOUT_MS);
        InterlockedDecrement(&cb->blocked);
    }
    else InterlockedIncrement(&cb->blocks_left);
    SetEvent(cb->called);
    return S_OK;
}

static IBackgroundCopyCallbackVtbl callback_vtbl =
{
    callback_QueryInterface,
    callback_AddRef,
    callback_Release,
    callback_JobTransferred,
    callback_JobError,
    callback_JobModification,
};

static struct callback *new_callback(void)
{
    LONG index = InterlockedIncrement(&callbacks_used) - 1;
    struct callback *cb;

    if (index >= ARRAY_SIZE(callbacks))
    {
        ok(0, "out of callback objects\n");
        index = ARRAY_SIZE(callbacks) - 1;
    }
    cb = &callbacks[index];
    memset(cb, 0, sizeof(*cb));
    cb->IBackgroundCopyCallback_iface.lpVtbl = &callback_vtbl;
    cb->ref = 1;
    cb->called = CreateEventW(NULL, FALSE, FALSE, NULL);
    cb->release = CreateEventW(NULL, TRUE, FALSE, NULL);
    InitializeCriticalSection(&cb->cs);
    return cb;
}

/* Holds the next JobModification of this callback inside the call until
 * release_held(); TRUE once one is held.  While it is held, the job's
 * notifier is inside that call, so no other call of the job is on its way:
 * the service delivers a job's calls one at a time and reads the notify
 * flags and interface afresh before each. */
static BOOL hold_next_modification(struct callback *cb, IBackgroundCopyJob *job, const WCHAR *name)
{
    ULONGLONG end = GetTickCount64() + HANG_TIMEOUT_MS;
    HRESULT hr;

    ResetEvent(cb->release);
    InterlockedExchange(&cb->blocks_left, 1);
    /* a change that calls JobModification, if no call is coming anyway */
    hr = IBackgroundCopyJob_SetDisplayName(job, name);
    ok(hr == S_OK, "SetDisplayName failed: %#lx\n", hr);
    while (!get_count(&cb->blocked) && GetTickCount64() < end) WaitForSingleObject(cb->called, 50);
    return get_count(&cb->blocked) == 1;
}

/* Lets the held call return and waits until it has. */
static void release_held(struct callback *cb)
{
    ULONGLONG end = GetTickCount64() + HANG_TIMEOUT_MS;

    InterlockedExchange(&cb->blocks_left, 0);
    SetEvent(cb->release);
    while (get_count(&cb->blocked) && GetTickCount64() < end) Sleep(10);
    ok(!get_count(&cb->blocked), "the held JobModification did not return\n");
}

/* Waits until *counter reaches target; FALSE on timeout. */
static BOOL wait_count(struct callback *cb, LONG *counter, LONG target, DWORD timeout_ms)
{
    ULONGLONG end = GetTickCount64() + hang_bound(timeout_ms), now;

    for (;;)
    {
        if (get_count(counter) >= target) return TRUE;
        now = GetTickCount64();
        if (now >= end) return FALSE;
        WaitForSingleObject(cb->called, end - now < 50 ? (DWORD)(end - now) : 50);
    }
}

/* ------------------------------------------------------------------ job helpers */

#define get_state(job) get_state_(__LINE__, job)
static BG_JOB_STATE get_state_(unsigned int line, IBackgroundCopyJob *job)
{
    BG_JOB_STATE state = (BG_JOB_STATE)-1;
    HRESULT hr;

    hr = IBackgroundCopyJob_GetState(job, &state);
    ok_(__FILE__, line)(hr == S_OK && state != BG_JOB_STATE_CONNECTING,
                        "GetState: %#lx, %s [DOC: CONNECTING is never reported]\n", hr,
                        state_name(state));
    return state;
}

static HRESULT job_error_code(IBackgroundCopyJob *job)
{
    IBackgroundCopyError *error;
    BG_ERROR_CONTEXT context;
    HRESULT code = S_OK;

    if (FAILED(IBackgroundCopyJob_GetError(job, &error))) return S_OK;
    IBackgroundCopyError_GetError(error, &context, &code);
    IBackgroundCopyError_Release(error);
    return code;
}

/* Polls GetState every 10 ms until want (or a state the job does not leave
 * by itself) or the timeout; checks that CONNECTING never shows up. */
#define wait_state(job, want, timeout) wait_state_(__LINE__, job, want, timeout, "")
#define wait_state_inferred(job, want, timeout) wait_state_(__LINE__, job, want, timeout, " [inferred]")
static BOOL wait_state_(unsigned int line, IBackgroundCopyJob *job, BG_JOB_STATE want, DWORD timeout_ms,
                        const char *note)
{
    ULONGLONG start = GetTickCount64(), end = start + hang_bound(timeout_ms);
    BG_JOB_STATE state = (BG_JOB_STATE)-1;
    BOOL connecting = FALSE;
    HRESULT hr, code = S_OK;

    for (;;)
    {
        hr = IBackgroundCopyJob_GetState(job, &state);
        if (FAILED(hr))
        {
            ok_(__FILE__, line)(0, "GetState failed: %#lx\n", hr);
            return FALSE;
        }
        if (state == BG_JOB_STATE_CONNECTING) connecting = TRUE;
        if (state == want || (STOP_STATES & STATE_BIT(state)) || GetTickCount64() >= end) break;
        Sleep(10);
    }
    ok_(__FILE__, line)(!connecting, "CONNECTING was reported [DOC: not supported]\n");
    if (state == BG_JOB_STATE_ERROR || state == BG_JOB_STATE_TRANSIENT_ERROR) code = job_error_code(job);
    ok_(__FILE__, line)(state == want, "waited %llu ms for %s, got %s (error %#lx)%s\n",
                        GetTickCount64() - start, state_name(want), state_name(state), code, note);
    return state == want;
}

/* A job with one file from the loopback server (path includes any query),
 * the callback registered with the given flags; not resumed. */
static IBackgroundCopyJob *setup_job(const WCHAR *prefix, const char *path, const WCHAR *local_name,
                                     struct callback *cb, ULONG flags, GUID *id)
{
    WCHAR url[256], local[MAX_PATH];
    IBackgroundCopyJob *job;
    HRESULT hr;

    if (!(job = create_job(manager, prefix, id))) return NULL;
    hr = IBackgroundCopyJob_SetMinimumRetryDelay(job, 1);
    ok(hr == S_OK, "SetMinimumRetryDelay failed: %#lx\n", hr);
    hr = IBackgroundCopyJob_SetNotifyFlags(job, flags);
    ok(hr == S_OK, "SetNotifyFlags(%#lx) failed: %#lx\n", flags, hr);
    if (cb)
    {
        hr = IBackgroundCopyJob_SetNotifyInterface(job, (IUnknown *)&cb->IBackgroundCopyCallback_iface);
        ok(hr == S_OK, "SetNotifyInterface failed: %#lx\n", hr);
    }
    if (path)
    {
        make_url(url, ARRAY_SIZE(url), httpd, path);
        make_test_path(local, ARRAY_SIZE(local), local_name);
        hr = add_file(job, url, local, 0, NULL);
        ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
    }
    return job;
}

static const char *debugstr_guid(const GUID *id)
{
    static char buf[8][40];
    static LONG next;
    char *ret = buf[InterlockedIncrement(&next) % ARRAY_SIZE(buf)];

    sprintf(ret, "{%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x}", id->Data1, id->Data2, id->Data3,
            id->Data4[0], id->Data4[1], id->Data4[2], id->Data4[3], id->Data4[4], id->Data4[5],
            id->Data4[6], id->Data4[7]);
    return ret;
}

/* The service runs under another account: let it call into this process. */
static void init_security(void)
{
    HRESULT hr;

    hr = CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE,
                              NULL, EOAC_NONE, NULL);
    ok(hr == S_OK || hr == RPC_E_TOO_LATE, "CoInitializeSecurity failed: %#lx\n", hr);
}

/* ------------------------------------------------------------------ tests */

static void test_job_transferred(void)
{
    struct callback *cb = new_callback();
    IBackgroundCopyCallback *callback;
    IBackgroundCopyJob *job;
    IUnknown *unk;
    HRESULT hr;
    GUID id;

    httpd_add_generated(httpd, "cb-done.bin", 64 * KIB);
    if (!(job = setup_job(L"cb-transferred", "/cb-done.bin", L"cb-done.bin", cb, BG_NOTIFY_JOB_TRANSFERRED, &id)))
        return;

    unk = NULL;
    hr = IBackgroundCopyJob_GetNotifyInterface(job, &unk);
    ok(hr == S_OK && unk, "GetNotifyInterface: %#lx, %p\n", hr, unk);
    if (unk)
    {
        hr = IUnknown_QueryInterface(unk, &IID_IBackgroundCopyCallback, (void **)&callback);
        ok(hr == S_OK && callback == &cb->IBackgroundCopyCallback_iface,
           "GetNotifyInterface gave %p (%#lx), not our object %p\n", callback, hr, &cb->IBackgroundCopyCallback_iface);
        if (hr == S_OK) IBackgroundCopyCallback_Release(callback);
        IUnknown_Release(unk);
    }

    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    if (wait_state(job, BG_JOB_STATE_TRANSFERRED, 10000))
    {
        ok(wait_count(cb, &cb->transferred, 1, 5000), "JobTransferred was not called\n");
        Sleep(1000);
        ok(get_count(&cb->transferred) == 1, "JobTransferred called %ld times [inferred: once]\n",
           get_count(&cb->transferred));
        EnterCriticalSection(&cb->cs);
        ok(cb->transferred_id_hr == S_OK && IsEqualGUID(&cb->transferred_id, &id),
           "JobTransferred's job: GetId %#lx, %s, expected %s\n", cb->transferred_id_hr,
           debugstr_guid(&cb->transferred_id), debugstr_guid(&id));
        ok(cb->transferred_state == BG_JOB_STATE_TRANSFERRED, "state seen in JobTransferred: %s\n",
           state_name(cb->transferred_state));
        ok(!cb->null_args, "a callback got a NULL argument\n");
        LeaveCriticalSection(&cb->cs);
        ok(get_count(&cb->errors) == 0 && get_count(&cb->modifications) == 0,
           "JobError %ld, JobModification %ld calls without their flags\n", get_count(&cb->errors),
           get_count(&cb->modifications));
        hr = IBackgroundCopyJob_Complete(job);
        ok(hr == S_OK, "Complete failed: %#lx\n", hr);
    }
    finish_job(job);
}

/* JobError comes once per entry into ERROR, and again while it is not
 * answered with S_OK. */
static void test_job_error(void)
{
    struct callback *cb = new_callback();
    IBackgroundCopyJob *job;
    ULONGLONG interval;
    BG_JOB_STATE state;
    HRESULT hr;

    cb->error_failures = 1;
    if (!(job = setup_job(L"cb-error", "/cb-missing.bin?status=404", L"cb-missing.bin", cb,
                          BG_NOTIFY_JOB_ERROR, NULL)))
        return;
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    if (!wait_state_inferred(job, BG_JOB_STATE_ERROR, 10000))
    {
        finish_job(job);
        return;
    }
    ok(wait_count(cb, &cb->errors, 1, 5000), "JobError was not called\n");
    EnterCriticalSection(&cb->cs);
    ok(cb->error_hr == S_OK, "IBackgroundCopyError::GetError in JobError failed: %#lx\n", cb->error_hr);
    ok(cb->error_code == HTTP_STATUS_HRESULT(404), "JobError: code %#lx, expected %#lx\n", cb->error_code,
       HTTP_STATUS_HRESULT(404));
    ok(cb->error_context == BG_ERROR_CONTEXT_NONE, "JobError: context %d\n", cb->error_context);
    ok(cb->error_state == BG_JOB_STATE_ERROR, "state seen in JobError: %s\n", state_name(cb->error_state));
    LeaveCriticalSection(&cb->cs);

    /* the first call answered E_FAIL: it comes again */
    if (ok(wait_count(cb, &cb->errors, 2, 15000), "JobError not called again after E_FAIL\n"))
    {
        EnterCriticalSection(&cb->cs);
        /* from our answer, which the service has only after we gave it: a
         * lower bound a loaded machine cannot break */
        interval = cb->error_ticks[1] - cb->error_return_ticks[0];
        LeaveCriticalSection(&cb->cs);
        ok(interval >= 4500, "JobError repeated %llu ms after E_FAIL; retry delay 1 s, floor 5 s [inferred]\n",
           interval);
        trace("JobError repeated after %llu ms\n", interval);
        /* the second call answered S_OK: no more */
        Sleep(6500);
        ok(get_count(&cb->errors) == 2, "JobError called %ld times after an S_OK\n", get_count(&cb->errors));
    }
    state = get_state(job);
    ok(state == BG_JOB_STATE_ERROR, "got %s, expected the job to stay in ERROR\n", state_name(state));
    ok(get_count(&cb->transferred) == 0 && get_count(&cb->modifications) == 0,
       "JobTransferred %ld, JobModification %ld calls without their flags\n", get_count(&cb->transferred),
       get_count(&cb->modifications));
    finish_job(job);
}

/* A callback method runs only when its flag is set; transient errors never
 * call JobError. */
static void test_notify_flags(void)
{
    struct callback *busy_cb = new_callback(), *done_cb = new_callback(), *fail_cb = new_callback();
    IBackgroundCopyJob *busy, *done, *fail;
    BG_JOB_STATE state;
    HRESULT hr;

    httpd_add_generated(httpd, "cb-flags.bin", 64 * KIB);
    busy = setup_job(L"cb-busy", "/cb-busy.bin?status=503", L"cb-busy.bin", busy_cb,
                     BG_NOTIFY_JOB_ERROR | BG_NOTIFY_JOB_TRANSFERRED, NULL);
    done = setup_job(L"cb-noflag", "/cb-flags.bin", L"cb-flags.bin", done_cb, BG_NOTIFY_JOB_ERROR, NULL);
    fail = setup_job(L"cb-noerror", "/cb-gone.bin?status=404", L"cb-gone.bin", fail_cb,
                     BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_MODIFICATION, NULL);
    if (busy)
    {
        hr = IBackgroundCopyJob_Resume(busy);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    }
    if (done)
    {
        hr = IBackgroundCopyJob_Resume(done);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    }
    if (fail)
    {
        hr = IBackgroundCopyJob_Resume(fail);
        ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    }

    if (busy && wait_state_inferred(busy, BG_JOB_STATE_TRANSIENT_ERROR, 10000))
    {
        /* a few retries at one second apart */
        Sleep(2500);
        state = get_state(busy);
        ok(state == BG_JOB_STATE_TRANSIENT_ERROR || state == BG_JOB_STATE_TRANSFERRING ||
           state == BG_JOB_STATE_QUEUED, "503 job after 2.5 s: got %s [inferred]\n", state_name(state));
        ok(get_count(&busy_cb->errors) == 0, "JobError called %ld times for transient errors\n",
           get_count(&busy_cb->errors));
    }
    if (done && wait_state(done, BG_JOB_STATE_TRANSFERRED, 10000))
    {
        Sleep(500);
        ok(get_count(&done_cb->transferred) == 0, "JobTransferred called %ld times without its flag\n",
           get_count(&done_cb->transferred));
        ok(get_count(&done_cb->modifications) == 0, "JobModification called %ld times without its flag\n",
           get_count(&done_cb->modifications));
    }
    if (fail && wait_state_inferred(fail, BG_JOB_STATE_ERROR, 10000))
    {
        ok(wait_count(fail_cb, &fail_cb->modifications, 1, HANG_TIMEOUT_MS),
           "JobModification was not called for the state changes\n");
        Sleep(500);
        ok(get_count(&fail_cb->errors) == 0, "JobError called %ld times without its flag\n",
           get_count(&fail_cb->errors));
    }
    finish_job(busy);
    finish_job(done);
    finish_job(fail);
}

/* JobModification: property changes, file adds, state changes, progress. */
static void test_job_modification(void)
{
    struct callback *cb = new_callback();
    WCHAR url[256], local[MAX_PATH];
    BG_JOB_PROGRESS progress;
    IBackgroundCopyJob *job;
    BG_JOB_STATE state;
    ULONGLONG end;
    LONG count;
    HRESULT hr;

    /* 6 s at 1 MiB/s, long enough for Suspend to come before the end even if
     * progress is reported in steps of a megabyte */
    httpd_add_generated(httpd, "cb-mod.bin", 6 * MIB);
    if (!(job = setup_job(L"cb-modification", NULL, NULL, cb, BG_NOTIFY_JOB_MODIFICATION, NULL))) return;
    /* calls caused by registering itself may still arrive */
    Sleep(500);

    count = get_count(&cb->modifications);
    hr = IBackgroundCopyJob_SetDisplayName(job, L"cb-modification renamed");
    ok(hr == S_OK, "SetDisplayName failed: %#lx\n", hr);
    ok(wait_count(cb, &cb->modifications, count + 1, 3000), "no JobModification after SetDisplayName\n");

    Sleep(200);
    count = get_count(&cb->modifications);
    make_url(url, ARRAY_SIZE(url), httpd, "/cb-mod.bin?rate=1048576");
    make_test_path(local, ARRAY_SIZE(local), L"cb-mod.bin");
    hr = add_file(job, url, local, 0, NULL);
    ok(hr == S_OK, "AddFileWithRanges failed: %#lx\n", hr);
    ok(wait_count(cb, &cb->modifications, count + 1, 3000), "no JobModification after AddFileWithRanges\n");

    Sleep(200);
    count = get_count(&cb->modifications);
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    ok(wait_count(cb, &cb->modifications, count + 1, 3000), "no JobModification after Resume\n");

    if (wait_state(job, BG_JOB_STATE_TRANSFERRING, 10000))
    {
        /* once bytes flow the state stays put: further calls are progress */
        end = GetTickCount64() + 5000;
        do
        {
            memset(&progress, 0, sizeof(progress));
            IBackgroundCopyJob_GetProgress(job, &progress);
            if (progress.BytesTransferred) break;
            Sleep(10);
        } while (GetTickCount64() < end);
        Sleep(200);
        count = get_count(&cb->modifications);
        ok(wait_count(cb, &cb->modifications, count + 1, 3000),
           "no JobModification for progress (%llu bytes so far)\n", progress.BytesTransferred);
        state = get_state(job);
        ok(state == BG_JOB_STATE_TRANSFERRING, "the transfer ended too early for this test: %s\n",
           state_name(state));

        count = get_count(&cb->modifications);
        hr = IBackgroundCopyJob_Suspend(job);
        ok(hr == S_OK, "Suspend failed: %#lx\n", hr);
        ok(wait_count(cb, &cb->modifications, count + 1, 3000), "no JobModification after Suspend\n");
    }

    /* With the flag gone, nothing more.  The flag goes while a call is
     * held, so no call from before is still on its way afterwards. */
    ok(hold_next_modification(cb, job, L"cb-modification held"), "no JobModification to hold\n");
    hr = IBackgroundCopyJob_SetNotifyFlags(job, BG_NOTIFY_JOB_TRANSFERRED);
    ok(hr == S_OK, "SetNotifyFlags failed: %#lx\n", hr);
    release_held(cb);
    count = get_count(&cb->modifications);
    hr = IBackgroundCopyJob_SetDisplayName(job, L"cb-modification renamed again");
    ok(hr == S_OK, "SetDisplayName failed: %#lx\n", hr);
    hr = IBackgroundCopyJob_SetDescription(job, L"no JobModification for this");
    ok(hr == S_OK, "SetDescription failed: %#lx\n", hr);
    Sleep(1000);
    ok(get_count(&cb->modifications) == count, "%ld JobModification calls without the flag\n",
       get_count(&cb->modifications) - count);
    ok(!cb->null_args, "a callback got a NULL argument\n");
    finish_job(job);
}

/* SetNotifyInterface(NULL) stops every callback. */
static void test_notify_interface_null(void)
{
    struct callback *cb = new_callback();
    LONG transferred, errors, modifications;
    IBackgroundCopyJob *job;
    IUnknown *unk;
    HRESULT hr;

    httpd_add_generated(httpd, "cb-null.bin", 64 * KIB);
    if (!(job = setup_job(L"cb-null", "/cb-null.bin", L"cb-null.bin", cb, ALL_NOTIFY, NULL))) return;
    /* The interface goes while a call is held, so no call from before is
     * still on its way afterwards. */
    ok(hold_next_modification(cb, job, L"cb-null renamed"),
       "no JobModification after SetDisplayName: the callback does not work at all\n");

    hr = IBackgroundCopyJob_SetNotifyInterface(job, NULL);
    ok(hr == S_OK, "SetNotifyInterface(NULL) failed: %#lx\n", hr);
    unk = (IUnknown *)0xdeadbeef;
    hr = IBackgroundCopyJob_GetNotifyInterface(job, &unk);
    ok(hr == S_OK && !unk, "GetNotifyInterface after clearing: %#lx, %p [inferred]\n", hr, unk);
    if (hr == S_OK && unk) IUnknown_Release(unk);
    release_held(cb);
    transferred = get_count(&cb->transferred);
    errors = get_count(&cb->errors);
    modifications = get_count(&cb->modifications);

    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "Resume failed: %#lx\n", hr);
    if (wait_state(job, BG_JOB_STATE_TRANSFERRED, 10000))
    {
        Sleep(1000);
        ok(get_count(&cb->transferred) == transferred && get_count(&cb->errors) == errors &&
           get_count(&cb->modifications) == modifications,
           "calls after SetNotifyInterface(NULL): %ld JobTransferred, %ld JobError, %ld JobModification\n",
           get_count(&cb->transferred) - transferred, get_count(&cb->errors) - errors,
           get_count(&cb->modifications) - modifications);
        hr = IBackgroundCopyJob_Complete(job);
        ok(hr == S_OK, "Complete failed: %#lx\n", hr);
    }
    finish_job(job);
}

/* A client stuck in its callback must not stall the job's other callers.
 * The callback is held until the test lets it go, which it does only after
 * the calls below returned: a call that waited for the callback would not
 * return at all (until the hang guard), and each must find the callback
 * still held. */
static void test_blocking_callback(void)
{
    struct callback *cb = new_callback();
    LARGE_INTEGER freq, t0, t1;
    double ms, max_ms = 0, total_ms = 0;
    IBackgroundCopyJob *job;
    BG_JOB_STATE state;
    unsigned int i, failed = 0, released = 0;
    HRESULT hr;

    httpd_add_generated(httpd, "cb-block.bin", 64 * KIB);
    if (!(job = setup_job(L"cb-block", "/cb-block.bin", L"cb-block.bin", cb, BG_NOTIFY_JOB_MODIFICATION, NULL)))
        return;
    if (!ok(hold_next_modification(cb, job, L"cb-block renamed"), "JobModification never came\n"))
    {
        release_held(cb);
        finish_job(job);
        return;
    }

    QueryPerformanceFrequency(&freq);
    for (i = 0; i < 20; i++)
    {
        QueryPerformanceCounter(&t0);
        hr = IBackgroundCopyJob_GetState(job, &state);
        QueryPerformanceCounter(&t1);
        ms = (t1.QuadPart - t0.QuadPart) * 1000.0 / freq.QuadPart;
        total_ms += ms;
        if (ms > max_ms) max_ms = ms;
        if (hr != S_OK || state == BG_JOB_STATE_CONNECTING) failed++;
        if (!get_count(&cb->blocked)) released++;
    }
    ok(!failed, "%u of 20 GetState calls failed or returned CONNECTING while the callback was stuck\n", failed);
    ok(!released, "%u of 20 GetState calls returned only after the stuck callback did [inferred]\n", released);
    trace("GetState with a stuck callback: %.3f ms on average, %.3f ms at most\n", total_ms / 20, max_ms);

    hr = IBackgroundCopyJob_SetDescription(job, L"set while the callback is stuck");
    ok(hr == S_OK && get_count(&cb->blocked) == 1,
       "SetDescription: %#lx, callback still stuck %ld [inferred: returns while it is]\n", hr,
       get_count(&cb->blocked));

    hr = IBackgroundCopyJob_Cancel(job);
    ok(hr == S_OK && get_count(&cb->blocked) == 1,
       "Cancel: %#lx, callback still stuck %ld [inferred: returns while it is]\n", hr, get_count(&cb->blocked));

    /* let the held call finish before the next test */
    release_held(cb);
    IBackgroundCopyJob_Release(job);
}

/* The child half of test_dead_client: start a job with a callback, record
 * its id, and vanish without any cleanup. */
static void child_main(int argc, char **argv)
{
    WCHAR dir[MAX_PATH], local[MAX_PATH], url[256], path[MAX_PATH], text[64];
    struct callback *cb = new_callback();
    IBackgroundCopyManager *child_manager;
    IBackgroundCopyJob *job;
    unsigned int port = atoi(argv[3]);
    DWORD written;
    HANDLE file;
    HRESULT hr;
    GUID id;

    MultiByteToWideChar(CP_ACP, 0, argv[4], -1, dir, ARRAY_SIZE(dir));
    if (!(child_manager = create_manager())) goto done;
    if (!(job = create_job(child_manager, L"cb-dead-client", &id))) goto done;
    hr = IBackgroundCopyJob_SetNotifyFlags(job, ALL_NOTIFY);
    ok(hr == S_OK, "child: SetNotifyFlags failed: %#lx\n", hr);
    hr = IBackgroundCopyJob_SetNotifyInterface(job, (IUnknown *)&cb->IBackgroundCopyCallback_iface);
    ok(hr == S_OK, "child: SetNotifyInterface failed: %#lx\n", hr);
    swprintf(url, ARRAY_SIZE(url), L"http://127.0.0.1:%u/cb-dead.bin?rate=262144", port);
    swprintf(local, ARRAY_SIZE(local), L"%ls\\cb-dead.bin", dir);
    hr = add_file(job, url, local, 0, NULL);
    ok(hr == S_OK, "child: AddFileWithRanges failed: %#lx\n", hr);
    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == S_OK, "child: Resume failed: %#lx\n", hr);
    wait_state(job, BG_JOB_STATE_TRANSFERRING, 10000);
    wait_count(cb, &cb->modifications, 1, 2000);

    StringFromGUID2(&id, text, ARRAY_SIZE(text));
    swprintf(path, ARRAY_SIZE(path), L"%ls\\child-job.txt", dir);
    file = CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
    ok(file != INVALID_HANDLE_VALUE, "child: cannot create %ls: %lu\n", path, GetLastError());
    if (file != INVALID_HANDLE_VALUE)
    {
        WriteFile(file, text, wcslen(text) * sizeof(WCHAR), &written, NULL);
        CloseHandle(file);
    }
done:
    /* no Release, no CoUninitialize: the process just dies */
    fflush(stdout);
    ExitProcess(winetest_get_failures() > 255 ? 255 : winetest_get_failures());
}

/* A client that dies with a callback registered must not hurt the service. */
static void test_dead_client(void)
{
    WCHAR exe[MAX_PATH], cmdline[3 * MAX_PATH], path[MAX_PATH], text[64];
    LARGE_INTEGER freq, t0, t1;
    double ms, max_ms = 0;
    PROCESS_INFORMATION pi;
    STARTUPINFOW si;
    IBackgroundCopyJob *job = NULL;
    BG_JOB_STATE state = (BG_JOB_STATE)-1;
    BOOL connecting = FALSE;
    ULONGLONG end;
    DWORD size;
    HANDLE file;
    HRESULT hr;
    GUID id;

    httpd_add_generated(httpd, "cb-dead.bin", MIB);
    GetModuleFileNameW(NULL, exe, ARRAY_SIZE(exe));
    swprintf(cmdline, ARRAY_SIZE(cmdline), L"\"%ls\" callback child %u \"%ls\"", exe, httpd_port(httpd), test_dir());
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    if (!CreateProcessW(NULL, cmdline, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi))
    {
        ok(0, "cannot start the child: %lu\n", GetLastError());
        return;
    }
    wait_child_process(pi.hProcess);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);

    make_test_path(path, ARRAY_SIZE(path), L"child-job.txt");
    file = CreateFileW(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
    if (!ok(file != INVALID_HANDLE_VALUE, "the child left no job id: %lu\n", GetLastError())) return;
    memset(text, 0, sizeof(text));
    ReadFile(file, text, sizeof(text) - sizeof(WCHAR), &size, NULL);
    CloseHandle(file);
    hr = CLSIDFromString(text, &id);
    ok(hr == NOERROR, "bad job id %ls from the child\n", text);
    if (hr != NOERROR) return;

    QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t0);
    hr = IBackgroundCopyManager_GetJob(manager, &id, &job);
    QueryPerformanceCounter(&t1);
    ms = (t1.QuadPart - t0.QuadPart) * 1000.0 / freq.QuadPart;
    ok(hr == S_OK, "GetJob of the dead client's job: %#lx\n", hr);
    trace("GetJob of the dead client's job took %.1f ms\n", ms);
    if (hr != S_OK) return;

    /* The job outlives its creator and keeps going; the service notices the
     * dead callback and drops it.  (How long a call takes meanwhile is a
     * figure, not a check: a call to a dead process fails at once.) */
    end = GetTickCount64() + HANG_TIMEOUT_MS;
    do
    {
        QueryPerformanceCounter(&t0);
        hr = IBackgroundCopyJob_GetState(job, &state);
        QueryPerformanceCounter(&t1);
        ms = (t1.QuadPart - t0.QuadPart) * 1000.0 / freq.QuadPart;
        if (ms > max_ms) max_ms = ms;
        if (SUCCEEDED(hr) && state == BG_JOB_STATE_CONNECTING) connecting = TRUE;
        if (FAILED(hr) || (STOP_STATES & STATE_BIT(state))) break;
        Sleep(10);
    } while (GetTickCount64() < end);
    ok(hr == S_OK, "GetState failed: %#lx\n", hr);
    ok(!connecting, "CONNECTING was reported [DOC: not supported]\n");
    ok(state == BG_JOB_STATE_TRANSFERRED, "the dead client's job: got %s (error %#lx) [inferred]\n",
       state_name(state), job_error_code(job));
    trace("dead client: GetState took at most %.3f ms\n", max_ms);

    hr = IBackgroundCopyJob_Cancel(job);
    ok(hr == S_OK, "Cancel of the dead client's job: %#lx\n", hr);
    IBackgroundCopyJob_Release(job);
}

START_TEST(callback)
{
    char **argv;
    int argc = winetest_get_mainargs(&argv);
    HRESULT hr;

    hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);
    ok(hr == S_OK || hr == S_FALSE, "CoInitializeEx failed: %#lx\n", hr);
    init_security();
    if (argc >= 5 && !strcmp(argv[2], "child"))
    {
        child_main(argc, argv);
        return;
    }
    if (!(manager = create_manager()))
    {
        CoUninitialize();
        return;
    }
    if (!(httpd = httpd_start()))
    {
        ok(0, "cannot start the loopback HTTP server\n");
        IBackgroundCopyManager_Release(manager);
        CoUninitialize();
        return;
    }

    test_job_transferred();
    test_job_error();
    test_notify_flags();
    test_job_modification();
    test_notify_interface_null();
    test_blocking_callback();
    test_dead_client();

    httpd_stop(httpd);
    IBackgroundCopyManager_Release(manager);
    remove_test_dir();
    CoUninitialize();
}
