/*
 * Definitions of the BITS interface ids the service answers to; Wine's
 * libuuid does not carry them.  Ours come from deliveryoptimization_i.c.
 *
 * Copyright 2026 the wine-dosvc authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "windef.h"
#include "winbase.h"
#include "objbase.h"
#include "initguid.h"
#include "bits.h"
#include "bits1_5.h"
#include "bits2_0.h"
#include "bits2_5.h"
#include "bits3_0.h"
#include "bits5_0.h"
