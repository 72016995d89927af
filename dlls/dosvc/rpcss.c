/*
 * Delivery Optimization service: what DoSvc asks of Wine's rpcss, and the
 * record of the running instance's registration there
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
 * Wine keeps the table of running COM servers in rpcss.exe, the RpcSs
 * service, which is started on demand (Start=3) by the first process that
 * needs it: combase calls StartService("RpcSs") when a call to rpcss finds
 * nobody listening.  In a new session that is usually explorer.exe, early
 * and in parallel with everything else.
 *
 * Wine's SCM starts one service at a time and holds that lock until the
 * service being started reports its first status; a StartService that
 * cannot get the lock within 3 s fails with ERROR_SERVICE_DATABASE_LOCKED.
 * So if rpcss is not running yet when DoSvc starts (a loaded machine, where
 * explorer is late), CoRegisterClassObject inside our own start asks the SCM
 * for RpcSs, waits 3 s for the lock our start holds, and gives up; and
 * Wine 8's CoRegisterClassObject returns S_OK anyway.  The service then runs
 * with no class object in rpcss, and every activation polls 30 s and fails
 * with E_NOINTERFACE (docs/activation.md).
 *
 * Hence the order in ServiceMain: report START_PENDING first (that ends our
 * StartService and releases the lock), then start RpcSs here and wait until
 * it runs, and only then register the class object.
 */

/*
 * The second half of this file exists because Wine 8's rpcss keeps a class
 * registration until someone revokes it by its cookie: it never notices
 * that the registering process died.  Entries are appended and a lookup
 * returns the first one for a CLSID, so after a crash every client is
 * handed the dead instance (0x800706BA at once, and no StartService,
 * since the lookup "succeeded"), and a new instance's registration sits
 * behind it.  To be able to remove a dead instance's entry we must know
 * its cookie, which CoRegisterClassObject keeps to itself; so DoSvc
 * registers with rpcss directly (activation.c) and writes down who holds
 * which cookie in a volatile key.  dosvc-monitor.exe, which watches the
 * service process, and the next instance at its start both use that
 * record to revoke the dead entry.  docs/activation.md has the details.
 *
 * This file is linked into dosvc.dll and into dosvc-monitor.exe, so it
 * uses nothing else of the service.
 */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "windef.h"
#include "winbase.h"
#include "winreg.h"
#include "winsvc.h"
#include "rpc.h"
#include "wine/debug.h"
#include "wine/exception.h"

#include "rpcss.h"
#include "rpcss_classes.h"

#ifndef TRACE
#define TRACE WINE_TRACE
#define WARN  WINE_WARN
#define ERR   WINE_ERR
#endif

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

static const WCHAR record_key[] = L"System\\CurrentControlSet\\Services\\DoSvc\\Parameters\\Instance";

/* at most this many restarts after crashes within RESTART_WINDOW_MS */
#define MAX_RESTARTS      3
#define RESTART_WINDOW_MS (10 * 60 * 1000)

/* rpcss's process if it runs, else 0; starts nothing */
static DWORD rpcss_running_id(void)
{
    SERVICE_STATUS_PROCESS status;
    SC_HANDLE scm, service;
    DWORD size, id = 0;

    if (!(scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT))) return 0;
    if ((service = OpenServiceW(scm, L"RpcSs", SERVICE_QUERY_STATUS)))
    {
        if (QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, (BYTE *)&status, sizeof(status), &size) &&
            status.dwCurrentState == SERVICE_RUNNING)
            id = status.dwProcessId;
        CloseServiceHandle(service);
    }
    CloseServiceHandle(scm);
    return id;
}

DWORD rpcss_ensure_running(DWORD timeout_ms, DWORD *process_id)
{
    ULONGLONG deadline = GetTickCount64() + timeout_ms;
    SERVICE_STATUS_PROCESS status;
    SC_HANDLE scm, service;
    DWORD error = NO_ERROR, size, starts = 0;

    TRACE("(%lu, %p)\n", timeout_ms, process_id);

    if (process_id) *process_id = 0;
    if (!(scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT))) return GetLastError();
    if (!(service = OpenServiceW(scm, L"RpcSs", SERVICE_START | SERVICE_QUERY_STATUS)))
    {
        error = GetLastError();
        CloseServiceHandle(scm);
        return error;
    }

    for (;;)
    {
        if (!QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, (BYTE *)&status, sizeof(status), &size))
        {
            error = GetLastError();
            break;
        }
        if (status.dwCurrentState == SERVICE_RUNNING)
        {
            if (process_id) *process_id = status.dwProcessId;
            if (starts) TRACE("RpcSs is running (process %04lx)\n", status.dwProcessId);
            error = NO_ERROR;
            break;
        }
        if (status.dwCurrentState == SERVICE_STOPPED)
        {
            starts++;
            if (StartServiceW(service, 0, NULL)) error = NO_ERROR;
            else error = GetLastError();
            /* someone else started it, or the SCM is busy starting another
             * service: look again */
            if (error && error != ERROR_SERVICE_ALREADY_RUNNING && error != ERROR_SERVICE_DATABASE_LOCKED)
            {
                WARN("cannot start RpcSs: error %lu\n", error);
                break;
            }
            if (error) TRACE("StartService(RpcSs): error %lu, trying again\n", error);
        }
        if (GetTickCount64() >= deadline)
        {
            error = ERROR_SERVICE_REQUEST_TIMEOUT;
            break;
        }
        Sleep(100);
    }

    CloseServiceHandle(service);
    CloseServiceHandle(scm);
    return error;
}

/* ------------------------------------------------------------------ rpcss's class table */

void __RPC_FAR * __RPC_USER MIDL_user_allocate(SIZE_T size)
{
    return malloc(size);
}

void __RPC_USER MIDL_user_free(void __RPC_FAR *p)
{
    free(p);
}

static RPC_BINDING_HANDLE rpcss_binding(void)
{
    static RPC_BINDING_HANDLE binding;
    RPC_BINDING_HANDLE handle = NULL;
    RPC_WSTR string;

    if (binding) return binding;
    if (RpcStringBindingComposeW(NULL, (RPC_WSTR)L"ncalrpc", NULL, (RPC_WSTR)L"irpcss", NULL, &string))
        return NULL;
    if (RpcBindingFromStringBindingW(string, &handle)) handle = NULL;
    RpcStringFreeW(&string);
    if (handle && InterlockedCompareExchangePointer((void **)&binding, handle, NULL))
        RpcBindingFree(&handle);
    return binding;
}

static LONG WINAPI rpc_filter(EXCEPTION_POINTERS *pointers)
{
    return I_RpcExceptionFilter(pointers->ExceptionRecord->ExceptionCode);
}

HRESULT rpcss_class_register(const GUID *clsid, const BYTE *objref, ULONG size, DWORD *cookie)
{
    RPC_BINDING_HANDLE binding = rpcss_binding();
    unsigned int value = 0;
    rpcss_objref *object;
    HRESULT hr;

    *cookie = 0;
    if (!binding) return HRESULT_FROM_WIN32(RPC_S_INVALID_BINDING);
    if (!(object = malloc(FIELD_OFFSET(rpcss_objref, data[size])))) return E_OUTOFMEMORY;
    object->size = size;
    memcpy(object->data, objref, size);
    __TRY
    {
        /* REGCLS_MULTIPLEUSE: the entry serves every client */
        hr = rpcss_classes_register(binding, clsid, REGCLS_MULTIPLEUSE, object, &value);
    }
    __EXCEPT(rpc_filter)
    {
        hr = HRESULT_FROM_WIN32(GetExceptionCode());
    }
    __ENDTRY
    free(object);
    *cookie = value;
    return hr;
}

HRESULT rpcss_class_revoke(DWORD cookie)
{
    RPC_BINDING_HANDLE binding = rpcss_binding();
    HRESULT hr;

    if (!binding) return HRESULT_FROM_WIN32(RPC_S_INVALID_BINDING);
    __TRY
    {
        hr = rpcss_classes_revoke(binding, cookie);
    }
    __EXCEPT(rpc_filter)
    {
        hr = HRESULT_FROM_WIN32(GetExceptionCode());
    }
    __ENDTRY
    return hr;
}

HRESULT rpcss_class_lookup(const GUID *clsid, BYTE **objref, ULONG *size)
{
    RPC_BINDING_HANDLE binding = rpcss_binding();
    rpcss_objref *object = NULL;
    HRESULT hr;

    *objref = NULL;
    *size = 0;
    if (!binding) return HRESULT_FROM_WIN32(RPC_S_INVALID_BINDING);
    __TRY
    {
        hr = rpcss_classes_lookup(binding, clsid, &object);
    }
    __EXCEPT(rpc_filter)
    {
        hr = HRESULT_FROM_WIN32(GetExceptionCode());
    }
    __ENDTRY
    if (FAILED(hr) || !object) return FAILED(hr) ? hr : E_NOINTERFACE;
    if ((*objref = malloc(object->size ? object->size : 1)))
    {
        memcpy(*objref, object->data, object->size);
        *size = object->size;
    }
    else hr = E_OUTOFMEMORY;
    MIDL_user_free(object);
    return hr;
}

/* ------------------------------------------------------------------ the instance record */

static HKEY open_record(BOOL create)
{
    HKEY key;

    if (create)
    {
        if (RegCreateKeyExW(HKEY_LOCAL_MACHINE, record_key, 0, NULL, REG_OPTION_VOLATILE,
                            KEY_QUERY_VALUE | KEY_SET_VALUE, NULL, &key, NULL))
            return NULL;
    }
    else if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, record_key, 0, KEY_QUERY_VALUE | KEY_SET_VALUE, &key))
        return NULL;
    return key;
}

static BOOL get_value(HKEY key, const WCHAR *name, void *value, DWORD size)
{
    DWORD type, got = size;

    return !RegQueryValueExW(key, name, NULL, &type, value, &got) && got == size &&
           type == (size == sizeof(DWORD) ? REG_DWORD : REG_QWORD);
}

static BOOL set_value(HKEY key, const WCHAR *name, const void *value, DWORD size)
{
    return !RegSetValueExW(key, name, 0, size == sizeof(DWORD) ? REG_DWORD : REG_QWORD, value, size);
}

BOOL instance_record_read(struct instance_record *record)
{
    HKEY key;
    BOOL ret;

    memset(record, 0, sizeof(*record));
    if (!(key = open_record(FALSE))) return FALSE;
    ret = get_value(key, L"ProcessId", &record->process_id, sizeof(DWORD)) &&
          get_value(key, L"ProcessStart", &record->process_start, sizeof(ULONGLONG)) &&
          get_value(key, L"RpcssId", &record->rpcss_id, sizeof(DWORD)) &&
          get_value(key, L"Cookie", &record->cookie, sizeof(DWORD));
    RegCloseKey(key);
    return ret && record->process_id;
}

BOOL instance_record_write(const struct instance_record *record)
{
    HKEY key;
    BOOL ret;

    if (!(key = open_record(TRUE))) return FALSE;
    /* ProcessId last: a reader takes a record without it as no record */
    RegDeleteValueW(key, L"ProcessId");
    ret = set_value(key, L"ProcessStart", &record->process_start, sizeof(ULONGLONG)) &&
          set_value(key, L"RpcssId", &record->rpcss_id, sizeof(DWORD)) &&
          set_value(key, L"Cookie", &record->cookie, sizeof(DWORD)) &&
          set_value(key, L"ProcessId", &record->process_id, sizeof(DWORD));
    RegCloseKey(key);
    return ret;
}

void instance_record_delete(DWORD process_id)
{
    struct instance_record record;
    HKEY key;

    if (!instance_record_read(&record) || record.process_id != process_id) return;
    if (!(key = open_record(FALSE))) return;
    RegDeleteValueW(key, L"ProcessId");
    RegDeleteValueW(key, L"Cookie");
    RegCloseKey(key);
}

ULONGLONG instance_process_start(HANDLE process)
{
    FILETIME created, exited, kernel, user;

    if (!GetProcessTimes(process, &created, &exited, &kernel, &user)) return 0;
    return ((ULONGLONG)created.dwHighDateTime << 32) | created.dwLowDateTime;
}

static BOOL process_alive(DWORD id, ULONGLONG start)
{
    HANDLE process;
    BOOL alive;

    if (!(process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE, id)))
        return GetLastError() == ERROR_ACCESS_DENIED;
    alive = WaitForSingleObject(process, 0) == WAIT_TIMEOUT && instance_process_start(process) == start;
    CloseHandle(process);
    return alive;
}

BOOL instance_revoke_dead(const struct instance_record *record)
{
    DWORD rpcss_id;
    HRESULT hr;

    if (!record->process_id || process_alive(record->process_id, record->process_start)) return FALSE;
    /* A cookie means something only to the rpcss that gave it out; one
     * that was restarted since has a table of its own. */
    if (!(rpcss_id = rpcss_running_id()) || rpcss_id != record->rpcss_id)
    {
        TRACE("the registration of process %04lx went with its rpcss\n", record->process_id);
        return FALSE;
    }
    hr = rpcss_class_revoke(record->cookie);
    if (FAILED(hr))
    {
        WARN("cannot revoke the registration of the dead instance %04lx: %#lx\n", record->process_id, hr);
        return FALSE;
    }
    WARN("removed the class registration of process %04lx, which died without revoking it\n",
         record->process_id);
    instance_record_delete(record->process_id);
    return TRUE;
}

BOOL instance_restart_allowed(void)
{
    ULONGLONG now = GetTickCount64(), window = 0;
    DWORD count = 0;
    HKEY key;
    BOOL allowed;

    if (!(key = open_record(TRUE))) return FALSE;
    get_value(key, L"RestartWindow", &window, sizeof(window));
    get_value(key, L"Restarts", &count, sizeof(count));
    if (!window || now - window > RESTART_WINDOW_MS)
    {
        window = now;
        count = 0;
    }
    allowed = count < MAX_RESTARTS;
    if (allowed) count++;
    set_value(key, L"RestartWindow", &window, sizeof(window));
    set_value(key, L"Restarts", &count, sizeof(count));
    RegCloseKey(key);
    return allowed;
}
