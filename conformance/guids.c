/*
 * Definitions of the BITS interface ids the tests use: mingw-w64's libuuid
 * lacks several of them (IID_IBackgroundCopyManager among others).  Our own
 * interfaces' ids come from the widl-generated deliveryoptimization_i.c.
 *
 * Copyright 2026 the wine-dosvc authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <windows.h>
#include <initguid.h>
#include <bits.h>
#include <bits1_5.h>
#include <bits2_0.h>
#include <bits2_5.h>
#include <bits3_0.h>
#include <bits5_0.h>
