/*
 * Compile-time facts of the Delivery Optimization headers
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
 * Checks the ids, enum values, error codes and structure layouts that our
 * headers promise against the numbers of the fact sheet
 * (do-api-facts.md).  Nothing here talks to a service; a failure means a
 * header is wrong (or, for the x86/x64 layout numbers, the compiler
 * disagrees with the MSVC layout rules).
 *
 * Where the GUID symbols come from:
 *  - BITS interface ids: defined in this file.  mingw-w64's libuuid lacks
 *    some of them (IID_IBackgroundCopyManager among others), so DEFINE_GUID
 *    is switched to "define, selectany" while the BITS headers are read.
 *    selectany lets another object of the same test binary define them too.
 *  - our own ids: the widl-generated deliveryoptimization_i.c is included
 *    below (it sits next to deliveryoptimization.h in the widl output
 *    directory), so the test checks the very definitions dosvc links
 *    with.  Its definitions are selectany as well, so linking the _i.c
 *    object into the same binary is harmless.  It must come *before*
 *    deliveryoptimization.h: GCC silently drops selectany from a
 *    definition that follows a plain extern declaration, which would turn
 *    these into ordinary definitions that clash with the _i.c object.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <windows.h>

/* Define the BITS ids here, see above.  guiddef.h may be re-included to
 * reset DEFINE_GUID; the BITS headers only include already-guarded
 * headers, so our definition stays in force while they are read. */
#undef DEFINE_GUID
#define DEFINE_GUID(name,l,w1,w2,b1,b2,b3,b4,b5,b6,b7,b8) \
    const GUID DECLSPEC_SELECTANY name = { l, w1, w2, { b1, b2, b3, b4, b5, b6, b7, b8 } }
#include <bits.h>
#include <bits5_0.h>
#undef DEFINE_GUID
#undef INITGUID
#include <guiddef.h>    /* back to plain declarations */

#include "deliveryoptimization_i.c"     /* first, see above */
#include "deliveryoptimization.h"
#include "deliveryoptimizationerrors.h"

#include "test.h"

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */

/* Formats a GUID; four rotating buffers so one ok() may print two. */
static const char *guid_str(const GUID *g)
{
    static char bufs[4][40];
    static unsigned int next;
    char *buf = bufs[next++ % 4];

    sprintf(buf, "%08lX-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X",
            (unsigned long)g->Data1, g->Data2, g->Data3,
            g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3],
            g->Data4[4], g->Data4[5], g->Data4[6], g->Data4[7]);
    return buf;
}

/* Parses "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX" (no braces). */
static BOOL guid_from_str(const char *s, GUID *g)
{
    unsigned int d1, d2, d3, b[8];
    int i;

    if (sscanf(s, "%8x-%4x-%4x-%2x%2x-%2x%2x%2x%2x%2x%2x", &d1, &d2, &d3,
               &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6], &b[7]) != 11)
        return FALSE;
    g->Data1 = d1;
    g->Data2 = (unsigned short)d2;
    g->Data3 = (unsigned short)d3;
    for (i = 0; i < 8; i++) g->Data4[i] = (unsigned char)b[i];
    return TRUE;
}

#define check_guid(actual, expected) check_guid_(__FILE__, __LINE__, &(actual), expected, #actual)
static void check_guid_(const char *file, int line, const GUID *actual, const char *expected,
                        const char *name)
{
    GUID want;

    if (!guid_from_str(expected, &want))
    {
        ok_(file, line)(0, "test bug: cannot parse expected GUID %s for %s\n", expected, name);
        return;
    }
    ok_(file, line)(IsEqualGUID(actual, &want), "%s is {%s}, expected {%s}\n",
                    name, guid_str(actual), expected);
}

#define check_hr(actual, expected) \
    ok((unsigned long)(actual) == (unsigned long)(expected), "%s is %#lx, expected %#lx\n", \
       #actual, (unsigned long)(actual), (unsigned long)(expected))

#define check_enum(actual, expected) \
    ok((int)(actual) == (expected), "%s is %d, expected %d\n", #actual, (int)(actual), (expected))

#define check_size(type, expected) \
    ok(sizeof(type) == (expected), "sizeof(%s) is %u, expected %u\n", \
       #type, (unsigned int)sizeof(type), (unsigned int)(expected))

#define check_offset(type, field, expected) \
    ok(offsetof(type, field) == (expected), "offsetof(%s, %s) is %u, expected %u\n", \
       #type, #field, (unsigned int)offsetof(type, field), (unsigned int)(expected))

/* vtable slot of a method: byte offset in the Vtbl struct / pointer size */
#define check_slot(vtbl, method, expected) \
    ok(offsetof(vtbl, method) / sizeof(void *) == (expected), "%s::%s is in slot %u, expected %u\n", \
       #vtbl, #method, (unsigned int)(offsetof(vtbl, method) / sizeof(void *)), (unsigned int)(expected))

#define check_u64(actual, expected) \
    ok((UINT64)(actual) == (UINT64)(expected), "%s is %08lx%08lx, expected %08lx%08lx\n", #actual, \
       (unsigned long)((UINT64)(actual) >> 32), (unsigned long)(UINT64)(actual), \
       (unsigned long)((UINT64)(expected) >> 32), (unsigned long)(UINT64)(expected))

/* ---------------------------------------------------------------------- */

static void test_guids(void)
{
    /* BITS ids reused unchanged by Delivery Optimization (fact sheet 2.0) */
    check_guid(IID_IBackgroundCopyManager,   "5CE34C0D-0DC9-4C1F-897C-DAA1B78CEE7C");
    check_guid(IID_IBackgroundCopyJob,       "37668D37-507E-4160-9316-26306D150B12");
    check_guid(IID_IBackgroundCopyJob5,      "E847030C-BBBA-4657-AF6D-484AA42BF1FE");
    check_guid(IID_IBackgroundCopyFile,      "01B7BD23-FB88-4A77-8490-5891D3E4653A");
    check_guid(IID_IBackgroundCopyFile2,     "83E81B93-0873-474D-8A8C-F2018B1A939C");
    check_guid(IID_IEnumBackgroundCopyFiles, "CA51E165-C365-424C-8D41-24AAA4FF3C40");
    check_guid(IID_IEnumBackgroundCopyJobs,  "1AF4F612-3B71-466F-8F58-7B6F73AC57AD");
    check_guid(IID_IBackgroundCopyError,     "19C613A0-FCB8-4F28-81AE-897C3D078F81");
    check_guid(IID_IBackgroundCopyCallback,  "97EA99C7-0186-4AD4-8DF9-C5B4E0ED6B22");

    /* BITS file interfaces declared by our IDL */
    check_guid(IID_IBackgroundCopyFile3,     "659CDEAA-489E-11D9-A9CD-000D56965251");
    check_guid(IID_IBackgroundCopyFile4,     "EF7E0655-7888-4960-B0E5-730846E03492");
    check_guid(IID_IBackgroundCopyFile5,     "85C1657F-DAFC-40E8-8834-DF18EA25717E");

    /* Delivery Optimization extensions (generation A) */
    check_guid(IID_IDeliveryOptimizationJob,   "EE2584CF-A69C-4848-B633-2649962B3EF7");
    check_guid(IID_IDeliveryOptimizationJob2,  "18995A26-BF59-4ABE-9F8B-D5092D5A2405");
    check_guid(IID_IDeliveryOptimizationFile,  "B76B9699-E99E-4101-803F-A20E325D93E2");
    check_guid(IID_IDeliveryOptimizationFile2, "3A87296F-6EC2-4126-AB29-E3F8DC4CC390");

    /* generation B */
    check_guid(IID_IDOManager,                "400E2D4A-1431-4C1A-A748-39CA472CFDB1");
    check_guid(IID_IDODownload,               "FBBD7FC0-C147-4727-A38D-827EF071EE77");
    check_guid(IID_IDODownloadStatusCallback, "D166E8E3-A90E-4392-8E87-05E996D3747D");

    /* class and type library */
    check_guid(CLSID_DeliveryOptimization, "5B99FA76-721C-423C-ADAC-56D03C8A8007");
    check_guid(LIBID_DeliveryOptimization, "6A1FAE95-21B8-46C4-A0C9-5D5FAE106EF0");
}

static void test_enums(void)
{
    /* BITS */
    check_enum(BG_JOB_STATE_QUEUED, 0);
    check_enum(BG_JOB_STATE_TRANSFERRED, 6);
    check_enum(BG_JOB_STATE_CANCELLED, 8);
    check_enum(BG_JOB_PRIORITY_NORMAL, 2);
    check_enum(BG_ERROR_CONTEXT_REMOTE_FILE, 5);
    check_enum(BITS_JOB_PROPERTY_ID_COST_FLAGS, 1);
    check_enum(BITS_JOB_PROPERTY_NOTIFICATION_CLSID, 2);
    check_enum(BITS_FILE_PROPERTY_ID_HTTP_RESPONSE_HEADERS, 1);

    /* generation A extensions */
    check_enum(DownloadMode_CdnOnly, 0);
    check_enum(DownloadMode_Internet, 3);
    check_enum(DownloadMode_Simple, 99);
    check_enum(DownloadMode_Bypass, 100);
    check_enum(SwarmStatus_Downloading, 0);
    check_enum(SwarmStatus_Paused, 3);
    /* [INF]: documented order counted from 0 */
    check_enum(DOFilePropertyId_DecryptionInfo, 0);
    check_enum(DOFilePropertyId_TotalSizeBytes, 6);
    /* [GAP]: our guess */
    check_enum(DOJobPropertyId_ExtendedErrorInfo, 0);

    /* generation B */
    check_enum(DODownloadState_Created, 0);
    check_enum(DODownloadState_Finalized, 3);
    check_enum(DODownloadState_Paused, 5);
    check_enum(DODownloadCostPolicy_Always, 0);
    check_enum(DODownloadCostPolicy_NoCellular, 5);
    check_enum(DODownloadProperty_Id, 0);
    check_enum(DODownloadProperty_LocalPath, 4);
    check_enum(DODownloadProperty_CallbackInterface, 13);
    check_enum(DODownloadProperty_TotalSizeBytes, 21);
    check_enum(DODownloadProperty_NonVolatile, 25);
    check_enum(DODownloadProperty_HttpStatusCode, 29);
}

static void test_constants(void)
{
    check_u64(DO_LENGTH_TO_EOF, ~(UINT64)0);
    check_u64(DO_UNKNOWN_FILE_SIZE, ~(UINT64)0);
    check_u64(DO_LENGTH_TO_EOF, DO_UNKNOWN_FILE_SIZE);
    check_u64(BG_LENGTH_TO_EOF, DO_LENGTH_TO_EOF);
    check_u64(BG_SIZE_UNKNOWN, DO_UNKNOWN_FILE_SIZE);
    ok(sizeof(DO_LENGTH_TO_EOF) == 8, "sizeof(DO_LENGTH_TO_EOF) is %u\n",
       (unsigned int)sizeof(DO_LENGTH_TO_EOF));
    ok(sizeof(DO_UNKNOWN_FILE_SIZE) == 8, "sizeof(DO_UNKNOWN_FILE_SIZE) is %u\n",
       (unsigned int)sizeof(DO_UNKNOWN_FILE_SIZE));

    ok(!lstrcmpW(DecryptionInfo_KeyData, L"KeyData"), "wrong DecryptionInfo_KeyData\n");
    ok(!lstrcmpW(DecryptionInfo_ChainingMode, L"ChainingMode"), "wrong DecryptionInfo_ChainingMode\n");
    ok(!lstrcmpW(IntegrityCheckInfo_PiecesHashFileUrl, L"PiecesHashFileUrl"),
       "wrong IntegrityCheckInfo_PiecesHashFileUrl\n");
    ok(!lstrcmpW(IntegrityCheckInfo_HashOfHashes, L"HashOfHashes"),
       "wrong IntegrityCheckInfo_HashOfHashes\n");
}

static void test_errors(void)
{
    ok(FACILITY_DELIVERY_OPTIMIZATION == 208, "FACILITY_DELIVERY_OPTIMIZATION is %d\n",
       (int)FACILITY_DELIVERY_OPTIMIZATION);
    ok(DO_ZONE_MASK == 0xf000, "DO_ZONE_MASK is %#x\n", (unsigned int)DO_ZONE_MASK);
    ok(DO_TRANSIENT_ZONE_MASK == 0xf800, "DO_TRANSIENT_ZONE_MASK is %#x\n",
       (unsigned int)DO_TRANSIENT_ZONE_MASK);
    ok(DO_TRANSIENT_ZONE == 0x3800, "DO_TRANSIENT_ZONE is %#x\n", (unsigned int)DO_TRANSIENT_ZONE);
    check_hr(E_NOT_SET, 0x80070490);
    check_hr(E_NOT_SET, HRESULT_FROM_WIN32(ERROR_NOT_FOUND));

    /* one or more per zone */
    check_hr(DO_E_NO_SERVICE,                      0x80D01001);
    check_hr(DO_E_DOWNLOAD_NO_PROGRESS,            0x80D02002);
    check_hr(DO_E_JOB_NOT_FOUND,                   0x80D02003);
    check_hr(DO_E_JOB_EMPTY,                       0x80D02004);
    check_hr(DO_E_FILE_NOT_AVAILABLE,              0x80D02010);
    check_hr(DO_E_UNKNOWN_PROPERTY_ID,             0x80D02011);
    check_hr(DO_E_READ_ONLY_PROPERTY,              0x80D02012);
    check_hr(DO_E_INVALID_STATE,                   0x80D02013);
    check_hr(DO_E_ERROR_INFORMATION_UNAVAILABLE,   0x80D02014);
    check_hr(DO_E_WRITE_ONLY_PROPERTY,             0x80D02015);
    check_hr(DO_E_FILE_DOWNLOADSINK_UNSPECIFIED,   0x80D02018);
    check_hr(DO_E_NETWORK_ACCESS_CONSENT_NEEDED,   0x80D0201E);
    check_hr(DO_E_DOWNLOAD_NO_URI,                 0x80D02200);
    check_hr(DO_E_DOWNLOAD_RANGES_EXPECTED,        0x80D02204);
    check_hr(DO_E_NO_DOWNLOAD_EXTSETTINGS,         0x80D03002);
    check_hr(DO_E_BLOCKED_BY_COST_TRANSFER_POLICY, 0x80D03801);
    check_hr(DO_E_BLOCKED_BY_NO_NETWORK,           0x80D03805);
    check_hr(DO_E_UNEXPECTED_HTTP_STATUS_2XX,      0x80D0380D);
    check_hr(DO_E_HTTP_BLOCKSIZE_MISMATCH,         0x80D05001);
    check_hr(DO_E_INVALID_RANGE,                   0x80D05010);
    check_hr(DO_E_OVERLAPPING_RANGES,              0x80D05012);
    check_hr(DO_E_UPLOADING_BAD_PIECES,            0x80D06800);
    check_hr(DO_E_FATAL_CORE_ERROR,                0x80D06802);
    check_hr(DO_E_DELETE_PINNED_SWARM,             0x80D06819);
    check_hr(DO_E_METAINFO_FILE_SIZE,              0x80D06822);

    ok(HRESULT_FACILITY(DO_E_INVALID_STATE) == FACILITY_DELIVERY_OPTIMIZATION,
       "facility of DO_E_INVALID_STATE is %d\n", (int)HRESULT_FACILITY(DO_E_INVALID_STATE));
    ok(FAILED(DO_E_NO_SERVICE), "DO_E_NO_SERVICE is not a failure code\n");

    ok(IS_DO_TRANSIENT_ERROR((HRESULT)0x80D03805), "0x80D03805 not reported transient\n");
    ok(IS_DO_TRANSIENT_ERROR(DO_E_BLOCKED_BY_COST_TRANSFER_POLICY), "0x80D03801 not reported transient\n");
    ok(IS_DO_TRANSIENT_ERROR((HRESULT)0x80D03FFF), "0x80D03FFF not reported transient\n");
    ok(!IS_DO_TRANSIENT_ERROR((HRESULT)0x80D02013), "0x80D02013 reported transient\n");
    ok(!IS_DO_TRANSIENT_ERROR(S_OK), "S_OK reported transient\n");
    ok(!IS_DO_TRANSIENT_ERROR((HRESULT)0x80070005), "0x80070005 reported transient\n");
    ok(!IS_DO_TRANSIENT_ERROR((HRESULT)0x80D03001), "0x80D03001 reported transient\n");
    ok(!IS_DO_TRANSIENT_ERROR((HRESULT)0x80D04000), "0x80D04000 reported transient\n");
    ok(!IS_DO_TRANSIENT_ERROR((HRESULT)0x00D03805), "success code 0x00D03805 reported transient\n");
    ok(!IS_DO_TRANSIENT_ERROR((HRESULT)0x80203805), "BITS-facility 0x80203805 reported transient\n");
}

static void test_layouts(void)
{
    /* same on both ABIs */
    check_size(BG_FILE_PROGRESS, 24);
    check_size(BG_FILE_RANGE, 16);
    check_size(BG_JOB_PROGRESS, 24);
    check_size(BG_JOB_TIMES, 24);
    check_size(BITS_JOB_PROPERTY_VALUE, 16);
    check_size(DO_DOWNLOAD_RANGE, 16);
    check_offset(DO_DOWNLOAD_RANGE, Length, 8);
    check_size(DO_DOWNLOAD_RANGES_INFO, 24);
    check_offset(DO_DOWNLOAD_RANGES_INFO, Ranges, 8);
    check_size(DO_DOWNLOAD_STATUS, 32);
    check_offset(DO_DOWNLOAD_STATUS, State, 16);
    check_offset(DO_DOWNLOAD_STATUS, Error, 20);
    check_offset(DO_DOWNLOAD_STATUS, ExtendedError, 24);

    if (sizeof(void *) == 8)
    {
        check_size(BITS_FILE_PROPERTY_VALUE, 8);
        check_size(DOSwarmStats, 136);
        check_offset(DOSwarmStats, fileSize, 16);
        check_offset(DOSwarmStats, httpConnectionCount, 96);
        check_offset(DOSwarmStats, downloadMode, 120);
        check_offset(DOSwarmStats, status, 124);
        check_offset(DOSwarmStats, isBackground, 128);
        check_size(DO_DOWNLOAD_ENUM_CATEGORY, 16);
        check_offset(DO_DOWNLOAD_ENUM_CATEGORY, Value, 8);
    }
    else
    {
        check_size(BITS_FILE_PROPERTY_VALUE, 4);
        check_size(DOSwarmStats, 128);
        check_offset(DOSwarmStats, fileSize, 8);
        check_offset(DOSwarmStats, httpConnectionCount, 88);
        check_offset(DOSwarmStats, downloadMode, 112);
        check_offset(DOSwarmStats, status, 116);
        check_offset(DOSwarmStats, isBackground, 120);
        check_size(DO_DOWNLOAD_ENUM_CATEGORY, 8);
        check_offset(DO_DOWNLOAD_ENUM_CATEGORY, Value, 4);
    }
}

static void test_vtables(void)
{
    /* BITS slots DoSvc must honour (fact sheet 2.1) */
    check_slot(IBackgroundCopyManagerVtbl, CreateJob, 3);
    check_slot(IBackgroundCopyManagerVtbl, GetErrorDescription, 6);
    check_slot(IBackgroundCopyJobVtbl, Complete, 9);
    check_slot(IBackgroundCopyJobVtbl, TakeOwnership, 34);
    check_slot(IBackgroundCopyJob5Vtbl, SetProperty, 53);
    check_slot(IBackgroundCopyJob5Vtbl, GetProperty, 54);
    check_slot(IBackgroundCopyFile2Vtbl, SetRemoteName, 7);
    check_slot(IBackgroundCopyFile3Vtbl, GetTemporaryName, 8);
    check_slot(IBackgroundCopyFile3Vtbl, IsDownloadedFromPeer, 11);
    check_slot(IBackgroundCopyFile4Vtbl, GetPeerDownloadStats, 12);
    check_slot(IBackgroundCopyFile5Vtbl, SetProperty, 13);
    check_slot(IBackgroundCopyFile5Vtbl, GetProperty, 14);
    check_slot(IEnumBackgroundCopyFilesVtbl, GetCount, 7);
    check_slot(IBackgroundCopyErrorVtbl, GetProtocol, 7);
    check_slot(IBackgroundCopyCallbackVtbl, JobModification, 5);

    /* DO extensions ([INF] orders) */
    check_slot(IDeliveryOptimizationJobVtbl, AddFileWithRanges, 3);
    check_slot(IDeliveryOptimizationJob2Vtbl, AddFile, 3);
    check_slot(IDeliveryOptimizationJob2Vtbl, SetProperty, 5);
    check_slot(IDeliveryOptimizationFileVtbl, GetStats, 3);
    check_slot(IDeliveryOptimizationFileVtbl, GetStatsSecondSlot, 4);
    check_slot(IDeliveryOptimizationFile2Vtbl, SetProperty, 4);

    /* generation B */
    check_slot(IDOManagerVtbl, CreateDownload, 3);
    check_slot(IDOManagerVtbl, EnumDownloads, 4);
    check_slot(IDODownloadVtbl, Start, 3);
    check_slot(IDODownloadVtbl, Finalize, 6);
    check_slot(IDODownloadVtbl, GetStatus, 7);
    check_slot(IDODownloadVtbl, SetProperty, 9);
    check_slot(IDODownloadStatusCallbackVtbl, OnStatusChange, 3);
}

START_TEST(headers)
{
    test_guids();
    test_enums();
    test_constants();
    test_errors();
    test_layouts();
    test_vtables();
}
