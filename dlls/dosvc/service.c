/*
 * Delivery Optimization service: DLL entry and the svchost service
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
 * svchost.exe -k DoSvcGroup loads this DLL and calls ServiceMain on a
 * thread of its own.  Clients reach us through COM: their
 * CoCreateInstance(CLSID_DeliveryOptimization, CLSCTX_LOCAL_SERVER) starts
 * the service (CLSID -> AppID -> LocalService=DoSvc) and then polls rpcss
 * for our class object once a second.  Two consequences shape this file:
 *
 *  - The first status report is START_PENDING, made at once: Wine's SCM
 *    holds its one start lock (and gives a service only 10 s) until that
 *    report, and we must not hold it while we start RpcSs and register
 *    (rpcss.c says why).  SERVICE_RUNNING follows once the class object
 *    is registered, so "sc query DoSvc says RUNNING" means "activation
 *    will find us" and a pre-started service is reached without the
 *    one-second poll (tools/install-dosvc waits for it).
 *  - Between withdrawing the class object and SERVICE_STOPPED a new client
 *    would be told "already running" by the SCM and then poll for 30 s in
 *    vain, so that window is kept as short as the core lets it be.
 *
 * The class object is published by activation.c, which also arranges that
 * a service process that dies without stopping does not keep clients
 * away (docs/activation.md).
 */

#include "dosvc_private.h"
#include "winsvc.h"
#include "rpcss.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

HINSTANCE dosvc_instance;

extern IClassFactory dosvc_class_factory;   /* factory.c */

/* how long start-up may take before we give up: the SCM does not time us
 * out once we reported START_PENDING, and a loaded machine is slow */
#define START_TIMEOUT_MS 120000

static SERVICE_STATUS_HANDLE status_handle;
static HANDLE stop_event;
static DWORD checkpoint;

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void *reserved)
{
    TRACE("(%p, %lu, %p)\n", instance, reason, reserved);

    if (reason == DLL_PROCESS_ATTACH)
    {
        dosvc_instance = instance;
        DisableThreadLibraryCalls(instance);
    }
    return TRUE;
}

static void report_status(DWORD state, DWORD win32_error, DWORD service_error, DWORD wait_hint)
{
    SERVICE_STATUS status;

    status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    status.dwCurrentState = state;
    /* Pausing a download service makes no sense to an SCM client; jobs are
     * suspended per job through the API instead. */
    status.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    status.dwWin32ExitCode = win32_error;
    status.dwServiceSpecificExitCode = service_error;
    status.dwCheckPoint = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING ? ++checkpoint : 0;
    status.dwWaitHint = wait_hint;

    if (!SetServiceStatus(status_handle, &status))
        ERR("SetServiceStatus(%lu) failed, error %lu\n", state, GetLastError());
}

/* A start step failed: say so with the HRESULT, so the SCM (and "sc query")
 * shows why instead of a service that runs without a class object. */
static void report_start_failure(HRESULT hr)
{
    if (HRESULT_FACILITY(hr) == FACILITY_WIN32)
        report_status(SERVICE_STOPPED, HRESULT_CODE(hr), 0, 0);
    else
        report_status(SERVICE_STOPPED, ERROR_SERVICE_SPECIFIC_ERROR, hr, 0);
}

static DWORD WINAPI service_handler(DWORD control, DWORD event_type, void *event_data, void *context)
{
    TRACE("(%lu, %lu, %p, %p)\n", control, event_type, event_data, context);

    switch (control)
    {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        /* ServiceMain's thread owns the apartment, so it does the actual
         * teardown; we only tell the SCM a stop is on its way. */
        report_status(SERVICE_STOP_PENDING, NO_ERROR, 0, 5000);
        SetEvent(stop_event);
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

void WINAPI ServiceMain(DWORD argc, LPWSTR *argv)
{
    DWORD rpcss_id, error;
    HRESULT hr;

    TRACE("(%lu, %p)\n", argc, argv);

    if (!(stop_event = CreateEventW(NULL, TRUE, FALSE, NULL)))
    {
        ERR("CreateEvent failed, error %lu\n", GetLastError());
        return;
    }
    if (!(status_handle = RegisterServiceCtrlHandlerExW(L"DoSvc", service_handler, NULL)))
    {
        /* without a handle there is nobody to report to */
        ERR("RegisterServiceCtrlHandlerEx failed, error %lu\n", GetLastError());
        CloseHandle(stop_event);
        return;
    }
    /* this ends the SCM's StartService and frees its start lock */
    report_status(SERVICE_START_PENDING, NO_ERROR, 0, START_TIMEOUT_MS);

    /* Multithreaded: calls arrive on RPC threads without a message loop
     * here, which a single-threaded apartment would need. */
    if (FAILED(hr = CoInitializeEx(NULL, COINIT_MULTITHREADED)))
    {
        ERR("CoInitializeEx failed, hr %#lx\n", hr);
        report_start_failure(hr);
        goto done;
    }

    /* As a Windows service does: no access check of our own (every user's
     * programs may download), default authentication, and callers who let
     * us impersonate them so the core can learn who owns a job.
     * RPC_E_TOO_LATE means the host process already chose for us. */
    hr = CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_DEFAULT,
                              RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_NONE, NULL);
    if (FAILED(hr) && hr != RPC_E_TOO_LATE)
    {
        ERR("CoInitializeSecurity failed, hr %#lx\n", hr);
        report_start_failure(hr);
        goto uninit;
    }

    if (FAILED(hr = core_startup()))
    {
        ERR("core_startup failed, hr %#lx\n", hr);
        report_start_failure(hr);
        goto uninit;
    }

    /* Without rpcss, CoRegisterClassObject would succeed with nothing
     * registered; better to fail the start and say why. */
    if ((error = rpcss_ensure_running(START_TIMEOUT_MS, &rpcss_id)))
    {
        ERR("RpcSs is not running (error %lu): clients could not reach us\n", error);
        core_shutdown();
        report_start_failure(HRESULT_FROM_WIN32(error));
        goto uninit;
    }

    if (FAILED(hr = activation_publish(&dosvc_class_factory, rpcss_id)))
    {
        ERR("cannot publish the class object, hr %#lx\n", hr);
        core_shutdown();
        report_start_failure(hr);
        goto uninit;
    }

    /* from here on activations find the class object */
    report_status(SERVICE_RUNNING, NO_ERROR, 0, 0);
    TRACE("running\n");

    WaitForSingleObject(stop_event, INFINITE);
    TRACE("stopping\n");

    /* Revoke first, so no new client is handed a manager that is going
     * away; then stop the core and report STOPPED as soon as possible. */
    activation_withdraw();
    core_shutdown();
    CoUninitialize();
    report_status(SERVICE_STOPPED, NO_ERROR, 0, 0);
    TRACE("stopped\n");
    /* svchost exits once we reported STOPPED; nothing may follow here
     * that needs the process. */
    return;

uninit:
    CoUninitialize();
done:
    CloseHandle(stop_event);
    stop_event = NULL;
}
