/*
 * dosvc-keepalive: keeps a Wine session up while Delivery Optimization jobs run
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
 * DoSvc starts this program while it has jobs to run.  Being an ordinary
 * (non-system) process is its whole purpose: wineserver keeps a session
 * while such a process lives.  It waits for the service's process, given by
 * id on the command line, and exits with it; the service ends it sooner
 * when nothing is left to do.  It opens no window and no console.
 */

#include <windows.h>

int WINAPI wWinMain(HINSTANCE instance, HINSTANCE previous, WCHAR *cmdline, int show)
{
    DWORD pid = 0;
    HANDLE service;

    while (*cmdline == ' ') cmdline++;
    while (*cmdline >= '0' && *cmdline <= '9') pid = pid * 10 + (*cmdline++ - '0');
    /* no service to wait for (it is gone already, or we were started by
     * hand): there is nothing to keep alive */
    if (!pid || !(service = OpenProcess(SYNCHRONIZE, FALSE, pid))) return 1;
    WaitForSingleObject(service, INFINITE);
    CloseHandle(service);
    return 0;
}
