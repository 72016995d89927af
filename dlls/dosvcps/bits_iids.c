/*
 * Delivery Optimization proxy/stub DLL: BITS interface ids
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
 * The generated proxies of IBackgroundCopyJob5 and IBackgroundCopyFile3..5
 * delegate the methods they inherit to the proxies of their BITS base
 * interfaces (qmgrprxy.dll's), naming those by IID.  Neither Wine's nor
 * mingw-w64's libuuid defines the BITS IIDs, so they are instantiated here
 * from the BITS headers.
 */

#include <windows.h>
#include <initguid.h>
#include "bits2_0.h"
#include "bits3_0.h"
