/*
 * Delivery Optimization service: self-registration (wine regsvr32 dosvc.dll)
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
 * Everything COM activation of a LocalService class needs, and nothing
 * more:
 *
 *   service DoSvc           svchost.exe -k DoSvcGroup, own process, demand start
 *   Services\DoSvc\Parameters   ServiceDll (REG_EXPAND_SZ) = this DLL
 *   ...\SvcHost             DoSvcGroup (REG_MULTI_SZ) = DoSvc
 *   Classes\AppID\{clsid}   LocalService (REG_SZ) = DoSvc
 *   Classes\CLSID\{clsid}   AppID = {clsid}
 *
 * The service is created through the SCM rather than written into the
 * registry, because services.exe reads its database only when it starts:
 * a registry-only service would be invisible until the next session.
 * There is deliberately no InprocServer32 or LocalServer32: the class
 * lives only in the service.  A group of our own keeps a broken or missing
 * dosvc.dll from taking BITS (netsvcs) down with it.
 *
 * Both entry points may run any number of times; each run leaves the same
 * state as one run.
 */

#include "dosvc_private.h"
#include "winsvc.h"
#include "winreg.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

/* only Wine's own tree defines this */
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

static const WCHAR service_name[] = L"DoSvc";
static const WCHAR service_display_name[] = L"Delivery Optimization";
static const WCHAR service_group[] = L"DoSvcGroup";
static const WCHAR parameters_key[] = L"System\\CurrentControlSet\\Services\\DoSvc\\Parameters";
static const WCHAR svchost_key[] = L"Software\\Microsoft\\Windows NT\\CurrentVersion\\SvcHost";
/* HKCR is a merged view; machine-wide registration belongs under HKLM. */
static const WCHAR classes_key[] = L"Software\\Classes";

/* how long unregistering waits for a running service to stop */
#define STOP_TIMEOUT_MS 5000

/* The CLSID (also used as the AppID) in registry form, {XXXXXXXX-...}. */
static void clsid_string(WCHAR *buffer, int size)
{
    StringFromGUID2(&CLSID_DeliveryOptimization, buffer, size);
}

/* "C:\windows\system32\svchost.exe -k DoSvcGroup"; caller frees */
static WCHAR *service_command_line(void)
{
    static const WCHAR format[] = L"%ls\\svchost.exe -k %ls";
    WCHAR system_dir[MAX_PATH];
    WCHAR *command;
    UINT len;
    size_t size;

    len = GetSystemDirectoryW(system_dir, ARRAY_SIZE(system_dir));
    if (!len || len >= ARRAY_SIZE(system_dir)) return NULL;
    size = len + wcslen(format) + wcslen(service_group) + 1;
    if (!(command = malloc(size * sizeof(WCHAR)))) return NULL;
    swprintf(command, size, format, system_dir, service_group);
    return command;
}

/* full path of this DLL, whatever its length; caller frees */
static WCHAR *module_path(void)
{
    DWORD size = MAX_PATH, len;
    WCHAR *path = NULL, *bigger;

    for (;;)
    {
        if (!(bigger = realloc(path, size * sizeof(WCHAR))))
        {
            free(path);
            return NULL;
        }
        path = bigger;
        len = GetModuleFileNameW(dosvc_instance, path, size);
        if (!len)
        {
            free(path);
            return NULL;
        }
        if (len < size) return path;
        size *= 2;
    }
}

/* view: 0, or KEY_WOW64_32KEY for what 32-bit processes read */
static HRESULT set_value_view(HKEY root, const WCHAR *subkey, REGSAM view, const WCHAR *name, DWORD type,
                              const WCHAR *data, DWORD bytes)
{
    LSTATUS ret;
    HKEY key;

    TRACE("%s %s %#lx\n", wine_dbgstr_w(subkey), wine_dbgstr_w(name), view);

    ret = RegCreateKeyExW(root, subkey, 0, NULL, 0, KEY_SET_VALUE | view, NULL, &key, NULL);
    if (ret)
    {
        ERR("cannot create %s, error %ld\n", wine_dbgstr_w(subkey), ret);
        return HRESULT_FROM_WIN32(ret);
    }
    ret = RegSetValueExW(key, name, 0, type, (const BYTE *)data, bytes);
    RegCloseKey(key);
    if (ret)
    {
        ERR("cannot set %s\\%s, error %ld\n", wine_dbgstr_w(subkey), wine_dbgstr_w(name), ret);
        return HRESULT_FROM_WIN32(ret);
    }
    return S_OK;
}

static HRESULT set_value(HKEY root, const WCHAR *subkey, const WCHAR *name, DWORD type,
                         const WCHAR *data, DWORD bytes)
{
    return set_value_view(root, subkey, 0, name, type, data, bytes);
}

static HRESULT set_string_view(HKEY root, const WCHAR *subkey, REGSAM view, const WCHAR *name, DWORD type,
                               const WCHAR *data)
{
    return set_value_view(root, subkey, view, name, type, data, (wcslen(data) + 1) * sizeof(WCHAR));
}

static HRESULT set_string(HKEY root, const WCHAR *subkey, const WCHAR *name, DWORD type, const WCHAR *data)
{
    return set_string_view(root, subkey, 0, name, type, data);
}

/* Create DoSvc, or bring an existing one back to our configuration. */
static HRESULT install_service(void)
{
    SC_HANDLE scm, service;
    WCHAR *command;
    DWORD error = ERROR_SUCCESS;

    if (!(command = service_command_line())) return E_OUTOFMEMORY;

    if (!(scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE)))
    {
        error = GetLastError();
        ERR("OpenSCManager failed, error %lu\n", error);
        free(command);
        return HRESULT_FROM_WIN32(error);
    }

    /* NULL account: LocalSystem, as Wine's own services run */
    service = CreateServiceW(scm, service_name, service_display_name, SERVICE_CHANGE_CONFIG,
                             SERVICE_WIN32_OWN_PROCESS, SERVICE_DEMAND_START, SERVICE_ERROR_NORMAL,
                             command, NULL, NULL, NULL, NULL, NULL);
    if (!service && GetLastError() == ERROR_SERVICE_EXISTS)
    {
        TRACE("service exists, updating its configuration\n");
        if ((service = OpenServiceW(scm, service_name, SERVICE_CHANGE_CONFIG)))
        {
            if (!ChangeServiceConfigW(service, SERVICE_WIN32_OWN_PROCESS, SERVICE_DEMAND_START,
                                      SERVICE_ERROR_NORMAL, command, NULL, NULL, NULL, NULL, NULL,
                                      service_display_name))
            {
                error = GetLastError();
                ERR("ChangeServiceConfig failed, error %lu\n", error);
            }
        }
    }
    if (!service)
    {
        /* ERROR_SERVICE_MARKED_FOR_DELETE among others: an uninstall whose
         * service has not stopped yet */
        error = GetLastError();
        ERR("cannot create service, error %lu\n", error);
    }

    if (service) CloseServiceHandle(service);
    CloseServiceHandle(scm);
    free(command);
    return HRESULT_FROM_WIN32(error);
}

/* Stop DoSvc if it runs (waiting a little for it) and delete it; the SCM
 * removes Services\DoSvc with everything below it. */
static HRESULT remove_service(void)
{
    SERVICE_STATUS status;
    SC_HANDLE scm, service;
    DWORD error = ERROR_SUCCESS, waited;

    if (!(scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT)))
    {
        error = GetLastError();
        ERR("OpenSCManager failed, error %lu\n", error);
        return HRESULT_FROM_WIN32(error);
    }

    if (!(service = OpenServiceW(scm, service_name, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE)))
    {
        error = GetLastError();
        CloseServiceHandle(scm);
        if (error == ERROR_SERVICE_DOES_NOT_EXIST) return S_OK;
        ERR("OpenService failed, error %lu\n", error);
        return HRESULT_FROM_WIN32(error);
    }

    /* A service deleted while it runs lingers until it stops; stopping it
     * first lets a following registration create it afresh. */
    if (!ControlService(service, SERVICE_CONTROL_STOP, &status))
    {
        if (GetLastError() != ERROR_SERVICE_NOT_ACTIVE)
            WARN("ControlService(STOP) failed, error %lu\n", GetLastError());
    }
    for (waited = 0; waited < STOP_TIMEOUT_MS; waited += 50)
    {
        if (!QueryServiceStatus(service, &status) || status.dwCurrentState == SERVICE_STOPPED) break;
        Sleep(50);
    }
    if (waited >= STOP_TIMEOUT_MS) WARN("service did not stop within %u ms\n", STOP_TIMEOUT_MS);

    if (!DeleteService(service) && GetLastError() != ERROR_SERVICE_MARKED_FOR_DELETE)
    {
        error = GetLastError();
        ERR("DeleteService failed, error %lu\n", error);
    }

    CloseServiceHandle(service);
    CloseServiceHandle(scm);
    return HRESULT_FROM_WIN32(error);
}

static HRESULT delete_tree_view(HKEY root, const WCHAR *subkey, REGSAM view)
{
    LSTATUS ret;
    HKEY key;

    TRACE("%s %#lx\n", wine_dbgstr_w(subkey), view);

    if (!(ret = RegOpenKeyExW(root, subkey, 0, KEY_ALL_ACCESS | view, &key)))
    {
        ret = RegDeleteTreeW(key, NULL);
        RegCloseKey(key);
        if (!ret) ret = RegDeleteKeyExW(root, subkey, view, 0);
    }
    if (ret && ret != ERROR_FILE_NOT_FOUND)
    {
        ERR("cannot delete %s, error %ld\n", wine_dbgstr_w(subkey), ret);
        return HRESULT_FROM_WIN32(ret);
    }
    return S_OK;
}

static HRESULT delete_value(HKEY root, const WCHAR *subkey, const WCHAR *name)
{
    LSTATUS ret;
    HKEY key;

    TRACE("%s %s\n", wine_dbgstr_w(subkey), wine_dbgstr_w(name));

    ret = RegOpenKeyExW(root, subkey, 0, KEY_SET_VALUE, &key);
    if (ret == ERROR_FILE_NOT_FOUND) return S_OK;
    if (!ret)
    {
        ret = RegDeleteValueW(key, name);
        RegCloseKey(key);
    }
    if (ret && ret != ERROR_FILE_NOT_FOUND)
    {
        ERR("cannot delete %s\\%s, error %ld\n", wine_dbgstr_w(subkey), wine_dbgstr_w(name), ret);
        return HRESULT_FROM_WIN32(ret);
    }
    return S_OK;
}

/* the views the class is registered in */
static const REGSAM views[] = { KEY_WOW64_64KEY, KEY_WOW64_32KEY };

HRESULT WINAPI DllRegisterServer(void)
{
    WCHAR clsid[40], appid_key[80], clsid_key[80], group[16];
    WCHAR *dll_path;
    unsigned int i;
    HRESULT hr;
    size_t len;

    TRACE("()\n");

    clsid_string(clsid, ARRAY_SIZE(clsid));
    swprintf(appid_key, ARRAY_SIZE(appid_key), L"%ls\\AppID\\%ls", classes_key, clsid);
    swprintf(clsid_key, ARRAY_SIZE(clsid_key), L"%ls\\CLSID\\%ls", classes_key, clsid);

    if (FAILED(hr = install_service())) return hr;

    /* svchost loads whatever ServiceDll names, so this is where the DLL
     * was registered from, wherever that is. */
    if (!(dll_path = module_path())) return HRESULT_FROM_WIN32(GetLastError());
    TRACE("ServiceDll %s\n", wine_dbgstr_w(dll_path));
    hr = set_string(HKEY_LOCAL_MACHINE, parameters_key, L"ServiceDll", REG_EXPAND_SZ, dll_path);
    free(dll_path);
    if (FAILED(hr)) return hr;

    /* the group's list of services: "DoSvc\0\0" */
    len = wcslen(service_name);
    memcpy(group, service_name, (len + 1) * sizeof(WCHAR));
    group[len + 1] = 0;
    if (FAILED(hr = set_value(HKEY_LOCAL_MACHINE, svchost_key, service_group, REG_MULTI_SZ,
                              group, (len + 2) * sizeof(WCHAR))))
        return hr;

    /* The class in both registry views: a 32-bit client in a WoW64 prefix
     * reads the 32-bit one, and the 64-bit service serves it all the same.
     * LocalService must be REG_SZ: combase ignores any other type. */
    for (i = 0; i < ARRAY_SIZE(views); i++)
    {
        if (FAILED(hr = set_string_view(HKEY_LOCAL_MACHINE, appid_key, views[i], NULL, REG_SZ,
                                        service_display_name)))
            return hr;
        if (FAILED(hr = set_string_view(HKEY_LOCAL_MACHINE, appid_key, views[i], L"LocalService", REG_SZ,
                                        service_name)))
            return hr;
        if (FAILED(hr = set_string_view(HKEY_LOCAL_MACHINE, clsid_key, views[i], NULL, REG_SZ,
                                        L"DeliveryOptimization")))
            return hr;
        if (FAILED(hr = set_string_view(HKEY_LOCAL_MACHINE, clsid_key, views[i], L"AppID", REG_SZ, clsid)))
            return hr;
    }
    return S_OK;
}

HRESULT WINAPI DllUnregisterServer(void)
{
    WCHAR clsid[40], appid_key[80], clsid_key[80];
    HRESULT hr, first = S_OK;
    unsigned int i;

    TRACE("()\n");

    clsid_string(clsid, ARRAY_SIZE(clsid));
    swprintf(appid_key, ARRAY_SIZE(appid_key), L"%ls\\AppID\\%ls", classes_key, clsid);
    swprintf(clsid_key, ARRAY_SIZE(clsid_key), L"%ls\\CLSID\\%ls", classes_key, clsid);

    /* Class keys first: once they are gone no client can start the service
     * again while we stop it.  Go on after a failure so as much as possible
     * is removed, and report the first failure. */
    for (i = 0; i < ARRAY_SIZE(views); i++)
    {
        hr = delete_tree_view(HKEY_LOCAL_MACHINE, clsid_key, views[i]);
        if (SUCCEEDED(first)) first = hr;
        hr = delete_tree_view(HKEY_LOCAL_MACHINE, appid_key, views[i]);
        if (SUCCEEDED(first)) first = hr;
    }
    hr = remove_service();
    if (SUCCEEDED(first)) first = hr;
    hr = delete_value(HKEY_LOCAL_MACHINE, svchost_key, service_group);
    if (SUCCEEDED(first)) first = hr;
    return first;
}
