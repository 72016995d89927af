/*
 * doadmin: command-line client of the Delivery Optimization service --
 * the cache server policy (cachehost)
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
 * The policy is what Group Policy writes on Windows, under
 * HKLM\SOFTWARE\Policies\Microsoft\Windows\DeliveryOptimization; the service
 * reads it for every new transfer, so nothing needs a restart.  Writing it
 * needs administrator rights on Windows.
 */

#include <stdlib.h>
#include <wchar.h>

#include "doadmin.h"

#define POLICY_KEY L"SOFTWARE\\Policies\\Microsoft\\Windows\\DeliveryOptimization"
#define MAX_DELAY  2592000   /* the documented range of both delays, in seconds */

static const WCHAR *dword_names[] =
{
    L"DOCacheHostSource", L"DODelayCacheServerFallbackForeground", L"DODelayCacheServerFallbackBackground",
    L"DODownloadMode",
};

static void show_policy(void)
{
    WCHAR text[4096];
    DWORD type, size, value, i;
    HKEY key;

    if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, POLICY_KEY, 0, KEY_QUERY_VALUE, &key)) key = NULL;
    size = sizeof(text) - sizeof(WCHAR);
    if (key && !RegQueryValueExW(key, L"DOCacheHost", NULL, &type, (BYTE *)text, &size) &&
        (type == REG_SZ || type == REG_EXPAND_SZ))
    {
        text[size / sizeof(WCHAR)] = 0;
        out_printf(L"%-37ls %ls\n", L"DOCacheHost:", text[0] ? text : L"(empty: no cache server)");
    }
    else out_printf(L"%-37ls not set\n", L"DOCacheHost:");
    for (i = 0; i < ARRAY_SIZE(dword_names); i++)
    {
        WCHAR label[64];

        _snwprintf(label, ARRAY_SIZE(label), L"%ls:", dword_names[i]);
        label[ARRAY_SIZE(label) - 1] = 0;
        size = sizeof(value);
        if (key && !RegQueryValueExW(key, dword_names[i], NULL, &type, (BYTE *)&value, &size) && type == REG_DWORD)
            out_printf(L"%-37ls %lu%ls\n", label, value, i == 1 || i == 2 ? L" s" : L"");
        else
            out_printf(L"%-37ls not set\n", label);
    }
    if (key) RegCloseKey(key);
}

/* A delay option's value: decimal seconds in the documented range. */
static BOOL parse_delay(const WCHAR *text, DWORD *value)
{
    WCHAR *end;
    unsigned long n;

    if (!text || !*text || *text == '-') return FALSE;
    n = wcstoul(text, &end, 10);
    if (*end || n > MAX_DELAY) return FALSE;
    *value = n;
    return TRUE;
}

/* Every comma-separated entry non-empty and without blanks inside;
 * the service checks the rest and skips what is not host[:port]. */
static BOOL hosts_look_valid(const WCHAR *hosts)
{
    const WCHAR *p = hosts;
    BOOL entry = FALSE;

    for (; *p; p++)
    {
        if (*p == ',')
        {
            if (!entry) return FALSE;
            entry = FALSE;
        }
        else if (*p == ' ' || *p == '\t' || *p < 32) return FALSE;
        else entry = TRUE;
    }
    return entry;
}

static LSTATUS write_dword(HKEY key, const WCHAR *name, DWORD value)
{
    return RegSetValueExW(key, name, 0, REG_DWORD, (const BYTE *)&value, sizeof(value));
}

int cmd_cachehost(const struct args *args)
{
    const WCHAR *fg_text = option_value(args, OPT_DELAY_FG), *bg_text = option_value(args, OPT_DELAY_BG);
    BOOL clear = args->seen[OPT_CLEAR] > 0;
    DWORD fg = 0, bg = 0, i;
    LSTATUS status;
    HKEY key;

    if (!args->count && !clear && !fg_text && !bg_text)
    {
        show_policy();
        return EXIT_OK;
    }
    if (clear && (args->count || fg_text || bg_text))
        return usage_error(args->verb, L"--clear takes no hosts and no delays");
    if (!clear && !args->count) return usage_error(args->verb, L"the delays go with a list of hosts");
    if (fg_text && !parse_delay(fg_text, &fg))
        return usage_error(args->verb, L"--delay-foreground wants seconds from 0 to %u", MAX_DELAY);
    if (bg_text && !parse_delay(bg_text, &bg))
        return usage_error(args->verb, L"--delay-background wants seconds from 0 to %u", MAX_DELAY);
    if (args->count && !hosts_look_valid(args->pos[0]))
        return usage_error(args->verb, L"HOSTS is host[:port][,host[:port]...] without blanks");

    status = RegCreateKeyExW(HKEY_LOCAL_MACHINE, POLICY_KEY, 0, NULL, 0, KEY_SET_VALUE, NULL, &key, NULL);
    if (status) return report_failure(HRESULT_FROM_WIN32(status), L"opening the policy key (run as administrator)");
    if (clear)
    {
        status = RegDeleteValueW(key, L"DOCacheHost");
        for (i = 0; i < 3 && (!status || status == ERROR_FILE_NOT_FOUND); i++)
            status = RegDeleteValueW(key, dword_names[i]);
        if (status == ERROR_FILE_NOT_FOUND) status = 0;
    }
    else
    {
        status = RegSetValueExW(key, L"DOCacheHost", 0, REG_SZ, (const BYTE *)args->pos[0],
                                (wcslen(args->pos[0]) + 1) * sizeof(WCHAR));
        if (!status && fg_text) status = write_dword(key, L"DODelayCacheServerFallbackForeground", fg);
        if (!status && bg_text) status = write_dword(key, L"DODelayCacheServerFallbackBackground", bg);
    }
    RegCloseKey(key);
    if (status) return report_failure(HRESULT_FROM_WIN32(status), L"writing the policy");
    if (clear) out_printf(L"cache server policy cleared\n");
    else out_printf(L"DOCacheHost set to %ls\n", args->pos[0]);
    return EXIT_OK;
}
