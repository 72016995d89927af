/*
 * Conformance tests for Delivery Optimization files: IEnumBackgroundCopyFiles,
 * IBackgroundCopyFile, IBackgroundCopyFile2, IBackgroundCopyFile5,
 * IDeliveryOptimizationFile and IDeliveryOptimizationFile2.
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
 * Expected values come from the fact sheet (do-api-facts.md) where
 * Microsoft documents them and from docs/gaps.md otherwise; checks of the
 * second kind say "[inferred]".
 *
 * Nothing is transferred: remote names point at a closed port and jobs with
 * files are never resumed (except where Resume must fail).
 *
 * All calls go through proxies; a NULL [ref] argument is refused by the
 * proxy with RPC_X_NULL_REF_POINTER and an unknown tag of a switched union
 * with RPC_S_INVALID_TAG before the server sees them, so where gaps.md gives
 * the server's answer for such calls both are accepted.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define CONST_VTABLE
#include "dotest.h"


static void test_url(WCHAR *buf, size_t count, const WCHAR *leaf)
{
    swprintf(buf, count, L"http://127.0.0.1:1/dosvc-test/%ls", leaf);
}

static BG_JOB_STATE job_state(IBackgroundCopyJob *job)
{
    BG_JOB_STATE state = 0xdead;
    HRESULT hr;

    hr = IBackgroundCopyJob_GetState(job, &state);
    ok(hr == S_OK, "GetState: got %#lx\n", hr);
    return state;
}

/* AddFileWithRanges with file id = leaf, URL test_url(leaf), local name in
 * the test directory. */
static HRESULT add_file_ranges(IBackgroundCopyJob *job, const WCHAR *leaf, DWORD count,
                               BG_FILE_RANGE *ranges, UINT64 size)
{
    IDeliveryOptimizationJob *do_job;
    WCHAR url[200], local[MAX_PATH];
    HRESULT hr;

    if (!(do_job = query(job, &IID_IDeliveryOptimizationJob, "IDeliveryOptimizationJob", FALSE)))
        return E_NOINTERFACE;
    test_url(url, ARRAY_SIZE(url), leaf);
    make_test_path(local, ARRAY_SIZE(local), leaf);
    hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, leaf, url, local, count, ranges, size);
    ok(hr == S_OK, "AddFileWithRanges(%s): got %#lx\n", dbgstr_w(leaf), hr);
    IDeliveryOptimizationJob_Release(do_job);
    return hr;
}

static void check_remote_name_(unsigned int line, IBackgroundCopyFile *file, const WCHAR *want)
{
    WCHAR *str = NULL;
    HRESULT hr;

    hr = IBackgroundCopyFile_GetRemoteName(file, &str);
    ok_(__FILE__, line)(hr == S_OK, "GetRemoteName: got %#lx\n", hr);
    ok_(__FILE__, line)(str && !wcscmp(str, want), "GetRemoteName: %s, expected %s\n", dbgstr_w(str),
                        dbgstr_w(want));
    CoTaskMemFree(str);
}
#define check_remote_name(a, b) check_remote_name_(__LINE__, a, b)

static void check_local_name_(unsigned int line, IBackgroundCopyFile *file, const WCHAR *want,
                              BOOL documented)
{
    WCHAR *str = NULL;
    HRESULT hr;

    hr = IBackgroundCopyFile_GetLocalName(file, &str);
    ok_(__FILE__, line)(hr == S_OK, "%sGetLocalName: got %#lx\n", documented ? "" : "[inferred] ", hr);
    ok_(__FILE__, line)(str && !lstrcmpiW(str, want), "%sGetLocalName: %s, expected %s\n",
                        documented ? "" : "[inferred] ", dbgstr_w(str), dbgstr_w(want));
    CoTaskMemFree(str);
}
#define check_local_name(a, b, c) check_local_name_(__LINE__, a, b, c)


/* ---------------------------------------------------------------- tests */

static void release_files(IBackgroundCopyFile **files, ULONG count)
{
    ULONG i;

    for (i = 0; i < count; i++)
    {
        if (files[i]) IBackgroundCopyFile_Release(files[i]);
        files[i] = NULL;
    }
}

static void test_enum_files(IBackgroundCopyManager *manager)
{
    IEnumBackgroundCopyFiles *enum_files, *clone;
    IBackgroundCopyFile *file, *files[5];
    WCHAR leaf[32], urls[3][200];
    IBackgroundCopyJob *job;
    ULONG count, fetched, i;
    WCHAR *name, *name2;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-file-enum", NULL))) return;
    for (i = 0; i < 3; i++)
    {
        swprintf(leaf, ARRAY_SIZE(leaf), L"enum-%lu.bin", i);
        test_url(urls[i], ARRAY_SIZE(urls[i]), leaf);
        if (add_file_ranges(job, leaf, 0, NULL, DO_UNKNOWN_FILE_SIZE) != S_OK) goto done;
    }

    hr = IBackgroundCopyJob_EnumFiles(job, &enum_files);
    ok(hr == S_OK, "EnumFiles: got %#lx\n", hr);
    if (FAILED(hr)) goto done;

    count = 0xdead;
    hr = IEnumBackgroundCopyFiles_GetCount(enum_files, &count);
    ok(hr == S_OK, "GetCount: got %#lx\n", hr);
    ok(count == 3, "GetCount: %lu\n", count);

    /* one at a time, in the order added */
    for (i = 0; i < 3; i++)
    {
        file = NULL;
        fetched = 0xdead;
        hr = IEnumBackgroundCopyFiles_Next(enum_files, 1, &file, &fetched);
        ok(hr == S_OK, "Next %lu: got %#lx\n", i, hr);
        ok(fetched == 1, "Next %lu: fetched %lu\n", i, fetched);
        if (!file) break;
        name = NULL;
        IBackgroundCopyFile_GetRemoteName(file, &name);
        ok(name && !wcscmp(name, urls[i]), "[inferred] file %lu is %s, expected %s\n", i, dbgstr_w(name),
           dbgstr_w(urls[i]));
        CoTaskMemFree(name);
        IBackgroundCopyFile_Release(file);
    }
    file = (IBackgroundCopyFile *)0xdeadbeef;
    fetched = 0xdead;
    hr = IEnumBackgroundCopyFiles_Next(enum_files, 1, &file, &fetched);
    ok(hr == S_FALSE, "Next at the end: got %#lx\n", hr);
    ok(fetched == 0, "Next at the end: fetched %lu\n", fetched);
    if (hr == S_OK && file) IBackgroundCopyFile_Release(file);

    hr = IEnumBackgroundCopyFiles_Reset(enum_files);
    ok(hr == S_OK, "Reset: got %#lx\n", hr);
    file = NULL;
    hr = IEnumBackgroundCopyFiles_Next(enum_files, 1, &file, NULL);
    ok(hr == S_OK, "Next(1) with a NULL fetched pointer: got %#lx\n", hr);
    ok(file != NULL, "Next(1) with a NULL fetched pointer returned no file\n");
    if (file) IBackgroundCopyFile_Release(file);

    /* all at once, and more than there are */
    memset(files, 0, sizeof(files));
    IEnumBackgroundCopyFiles_Reset(enum_files);
    fetched = 0xdead;
    hr = IEnumBackgroundCopyFiles_Next(enum_files, 3, files, &fetched);
    ok(hr == S_OK, "Next(3): got %#lx\n", hr);
    ok(fetched == 3, "Next(3): fetched %lu\n", fetched);
    for (i = 0; i < 3; i++) ok(files[i] != NULL, "Next(3): file %lu is NULL\n", i);
    release_files(files, ARRAY_SIZE(files));

    IEnumBackgroundCopyFiles_Reset(enum_files);
    fetched = 0xdead;
    hr = IEnumBackgroundCopyFiles_Next(enum_files, 5, files, &fetched);
    ok(hr == S_FALSE, "Next(5) with 3 left: got %#lx\n", hr);
    ok(fetched == 3, "Next(5) with 3 left: fetched %lu\n", fetched);
    release_files(files, ARRAY_SIZE(files));

    IEnumBackgroundCopyFiles_Reset(enum_files);
    hr = IEnumBackgroundCopyFiles_Next(enum_files, 2, files, NULL);
    ok(hr == E_INVALIDARG, "[inferred] Next(2) with a NULL fetched pointer: got %#lx\n", hr);
    release_files(files, ARRAY_SIZE(files));

    /* Skip */
    IEnumBackgroundCopyFiles_Reset(enum_files);
    hr = IEnumBackgroundCopyFiles_Skip(enum_files, 3);
    ok(hr == S_OK, "Skip(3) of 3: got %#lx\n", hr);
    hr = IEnumBackgroundCopyFiles_Skip(enum_files, 1);
    ok(hr == S_FALSE, "Skip(1) at the end: got %#lx\n", hr);
    IEnumBackgroundCopyFiles_Reset(enum_files);
    hr = IEnumBackgroundCopyFiles_Skip(enum_files, 5);
    ok(hr == S_FALSE, "Skip(5) of 3: got %#lx\n", hr);
    file = NULL;
    fetched = 0xdead;
    hr = IEnumBackgroundCopyFiles_Next(enum_files, 1, &file, &fetched);
    ok(hr == S_FALSE, "Next after skipping past the end: got %#lx\n", hr);
    ok(fetched == 0, "Next after skipping past the end: fetched %lu\n", fetched);
    if (hr == S_OK && file) IBackgroundCopyFile_Release(file);

    /* Clone starts where the original is */
    IEnumBackgroundCopyFiles_Reset(enum_files);
    hr = IEnumBackgroundCopyFiles_Skip(enum_files, 1);
    ok(hr == S_OK, "Skip(1): got %#lx\n", hr);
    clone = NULL;
    hr = IEnumBackgroundCopyFiles_Clone(enum_files, &clone);
    ok(hr == S_OK, "[inferred] Clone: got %#lx\n", hr);
    if (clone)
    {
        count = 0xdead;
        hr = IEnumBackgroundCopyFiles_GetCount(clone, &count);
        ok(hr == S_OK, "[inferred] GetCount of the clone: got %#lx\n", hr);
        ok(count == 3, "[inferred] GetCount of the clone: %lu\n", count);
        files[0] = files[1] = NULL;
        IEnumBackgroundCopyFiles_Next(enum_files, 1, &files[0], NULL);
        hr = IEnumBackgroundCopyFiles_Next(clone, 1, &files[1], NULL);
        ok(hr == S_OK, "[inferred] Next on the clone: got %#lx\n", hr);
        if (files[0] && files[1])
        {
            name = name2 = NULL;
            IBackgroundCopyFile_GetRemoteName(files[0], &name);
            IBackgroundCopyFile_GetRemoteName(files[1], &name2);
            ok(name && name2 && !wcscmp(name, name2), "[inferred] the clone returned %s, the original %s\n",
               dbgstr_w(name2), dbgstr_w(name));
            ok(name && !wcscmp(name, urls[1]), "[inferred] second file %s, expected %s\n", dbgstr_w(name),
               dbgstr_w(urls[1]));
            CoTaskMemFree(name);
            CoTaskMemFree(name2);
        }
        release_files(files, 2);
        IEnumBackgroundCopyFiles_Release(clone);
    }

    hr = IEnumBackgroundCopyFiles_GetCount(enum_files, NULL);
    ok(null_arg_hr(hr), "[inferred] GetCount(NULL): got %#lx\n", hr);
    hr = IEnumBackgroundCopyFiles_Clone(enum_files, NULL);
    ok(null_arg_hr(hr), "[inferred] Clone(NULL): got %#lx\n", hr);

    IEnumBackgroundCopyFiles_Release(enum_files);
done:
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void check_progress_(unsigned int line, IBackgroundCopyFile *file, UINT64 total, BOOL documented)
{
    BG_FILE_PROGRESS progress;
    HRESULT hr;

    memset(&progress, 0xcc, sizeof(progress));
    hr = IBackgroundCopyFile_GetProgress(file, &progress);
    ok_(__FILE__, line)(hr == S_OK, "GetProgress: got %#lx\n", hr);
    ok_(__FILE__, line)(progress.BytesTotal == total, "%sBytesTotal %#I64x, expected %#I64x\n",
                        documented ? "" : "[inferred] ", progress.BytesTotal, total);
    ok_(__FILE__, line)(progress.BytesTransferred == 0, "BytesTransferred before a transfer: %#I64x\n",
                        progress.BytesTransferred);
    ok_(__FILE__, line)(!progress.Completed, "Completed before a transfer: %d\n", progress.Completed);
}
#define check_progress(a, b, c) check_progress_(__LINE__, a, b, c)

static void test_file_basics(IBackgroundCopyManager *manager)
{
    BG_FILE_RANGE ranges[2] = { { 1000, 100 }, { 0, 50 } };
    BG_FILE_RANGE to_eof[2] = { { 0, 10 }, { 20, BG_LENGTH_TO_EOF } };
    WCHAR url[200], local[MAX_PATH];
    IBackgroundCopyFile *file;
    IBackgroundCopyJob *job;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-file-basics", NULL))) return;
    if (add_file_ranges(job, L"basics-whole.bin", 0, NULL, DO_UNKNOWN_FILE_SIZE) != S_OK) goto done;
    if (add_file_ranges(job, L"basics-ranged.bin", 2, ranges, 4096) != S_OK) goto done;
    if (add_file_ranges(job, L"basics-to-eof.bin", 2, to_eof, DO_UNKNOWN_FILE_SIZE) != S_OK) goto done;

    if ((file = get_file(job, 0)))
    {
        test_url(url, ARRAY_SIZE(url), L"basics-whole.bin");
        make_test_path(local, ARRAY_SIZE(local), L"basics-whole.bin");
        check_remote_name(file, url);
        check_local_name(file, local, TRUE);
        check_progress(file, DO_UNKNOWN_FILE_SIZE, TRUE);

        hr = IBackgroundCopyFile_GetRemoteName(file, NULL);
        ok(null_arg_hr(hr), "[inferred] GetRemoteName(NULL): got %#lx\n", hr);
        hr = IBackgroundCopyFile_GetLocalName(file, NULL);
        ok(null_arg_hr(hr), "[inferred] GetLocalName(NULL): got %#lx\n", hr);
        hr = IBackgroundCopyFile_GetProgress(file, NULL);
        ok(null_arg_hr(hr), "[inferred] GetProgress(NULL): got %#lx\n", hr);
        IBackgroundCopyFile_Release(file);
    }

    /* ranged: the total is the sum of the ranges */
    if ((file = get_file(job, 1)))
    {
        test_url(url, ARRAY_SIZE(url), L"basics-ranged.bin");
        make_test_path(local, ARRAY_SIZE(local), L"basics-ranged.bin");
        check_remote_name(file, url);
        check_local_name(file, local, TRUE);
        check_progress(file, 150, TRUE);
        IBackgroundCopyFile_Release(file);
    }

    /* a range to the end of a file of unknown size: the total is unknown */
    if ((file = get_file(job, 2)))
    {
        check_progress(file, DO_UNKNOWN_FILE_SIZE, FALSE);
        IBackgroundCopyFile_Release(file);
    }

done:
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void check_ranges_(unsigned int line, IBackgroundCopyFile2 *file2, DWORD count,
                          const BG_FILE_RANGE *want)
{
    BG_FILE_RANGE *ranges = (BG_FILE_RANGE *)0xdeadbeef;
    DWORD got = 0xdead, i;
    HRESULT hr;

    hr = IBackgroundCopyFile2_GetFileRanges(file2, &got, &ranges);
    ok_(__FILE__, line)(hr == S_OK, "GetFileRanges: got %#lx\n", hr);
    ok_(__FILE__, line)(got == count, "GetFileRanges: %lu ranges, expected %lu\n", got, count);
    if (hr != S_OK) return;
    for (i = 0; i < got && i < count && ranges; i++)
        ok_(__FILE__, line)(ranges[i].InitialOffset == want[i].InitialOffset && ranges[i].Length == want[i].Length,
                            "[inferred] range %lu: (%#I64x, %#I64x), expected (%#I64x, %#I64x)\n", i,
                            ranges[i].InitialOffset, ranges[i].Length, want[i].InitialOffset, want[i].Length);
    CoTaskMemFree(ranges);
}
#define check_ranges(a, b, c) check_ranges_(__LINE__, a, b, c)

static void test_file_ranges(IBackgroundCopyManager *manager)
{
    BG_FILE_RANGE unsorted[3] = { { 1000, 100 }, { 0, 50 }, { 200, 300 } };
    BG_FILE_RANGE sorted[3] = { { 0, 50 }, { 200, 300 }, { 1000, 100 } };
    BG_FILE_RANGE same_offset[2] = { { 100, 0 }, { 100, 5 } };
    BG_FILE_RANGE *ranges;
    IBackgroundCopyFile2 *file2;
    IBackgroundCopyFile *file;
    IBackgroundCopyJob *job;
    DWORD count;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-file-ranges", NULL))) return;
    if (add_file_ranges(job, L"ranges-none.bin", 0, NULL, DO_UNKNOWN_FILE_SIZE) != S_OK) goto done;
    if (add_file_ranges(job, L"ranges-three.bin", 3, unsorted, DO_UNKNOWN_FILE_SIZE) != S_OK) goto done;
    if (add_file_ranges(job, L"ranges-same.bin", 2, same_offset, DO_UNKNOWN_FILE_SIZE) != S_OK) goto done;

    if ((file = get_file(job, 0)))
    {
        if ((file2 = query(file, &IID_IBackgroundCopyFile2, "IBackgroundCopyFile2", TRUE)))
        {
            count = 0xdead;
            ranges = (BG_FILE_RANGE *)0xdeadbeef;
            hr = IBackgroundCopyFile2_GetFileRanges(file2, &count, &ranges);
            ok(hr == S_FALSE, "GetFileRanges without ranges: got %#lx\n", hr);
            ok(count == 0, "GetFileRanges without ranges: count %lu\n", count);
            ok(!ranges, "GetFileRanges without ranges: %p\n", ranges);
            if (hr == S_OK) CoTaskMemFree(ranges);

            hr = IBackgroundCopyFile2_GetFileRanges(file2, &count, NULL);
            ok(null_arg_hr(hr), "[inferred] GetFileRanges with a NULL range pointer: got %#lx\n", hr);
            IBackgroundCopyFile2_Release(file2);
        }
        IBackgroundCopyFile_Release(file);
    }

    if ((file = get_file(job, 1)))
    {
        if ((file2 = query(file, &IID_IBackgroundCopyFile2, "IBackgroundCopyFile2", TRUE)))
        {
            check_ranges(file2, 3, sorted);
            IBackgroundCopyFile2_Release(file2);
        }
        IBackgroundCopyFile_Release(file);
    }

    /* equal offsets keep the caller's order */
    if ((file = get_file(job, 2)))
    {
        if ((file2 = query(file, &IID_IBackgroundCopyFile2, "IBackgroundCopyFile2", TRUE)))
        {
            check_ranges(file2, 2, same_offset);
            IBackgroundCopyFile2_Release(file2);
        }
        IBackgroundCopyFile_Release(file);
    }

done:
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void test_set_remote_name(IBackgroundCopyManager *manager)
{
    WCHAR url[2300], original[200], renamed[200];
    IBackgroundCopyFile2 *file2;
    IBackgroundCopyFile *file;
    IBackgroundCopyJob *job;
    size_t len;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-file-rename", NULL))) return;
    if (add_file_ranges(job, L"rename.bin", 0, NULL, DO_UNKNOWN_FILE_SIZE) != S_OK) goto done;
    if (!(file = get_file(job, 0))) goto done;
    if (!(file2 = query(file, &IID_IBackgroundCopyFile2, "IBackgroundCopyFile2", TRUE)))
    {
        IBackgroundCopyFile_Release(file);
        goto done;
    }
    test_url(original, ARRAY_SIZE(original), L"rename.bin");
    test_url(renamed, ARRAY_SIZE(renamed), L"renamed.bin");

    hr = IBackgroundCopyFile2_SetRemoteName(file2, renamed);
    ok(hr == S_OK, "SetRemoteName: got %#lx\n", hr);
    check_remote_name(file, renamed);

    /* at most 2,200 characters */
    test_url(url, ARRAY_SIZE(url), L"");
    for (len = wcslen(url); len < 2201; len++) url[len] = 'a' + len % 26;
    url[2201] = 0;
    hr = IBackgroundCopyFile2_SetRemoteName(file2, url);
    ok(hr == E_INVALIDARG, "SetRemoteName with 2201 characters: got %#lx\n", hr);
    check_remote_name(file, renamed);
    url[2200] = 0;
    hr = IBackgroundCopyFile2_SetRemoteName(file2, url);
    ok(hr == S_OK, "SetRemoteName with 2200 characters: got %#lx\n", hr);
    check_remote_name(file, url);

    hr = IBackgroundCopyFile2_SetRemoteName(file2, L"ftp://127.0.0.1/dosvc-test/rename.bin");
    ok(hr == E_INVALIDARG, "[inferred] SetRemoteName with an ftp URL: got %#lx\n", hr);
    hr = IBackgroundCopyFile2_SetRemoteName(file2, L"not a URL");
    ok(hr == E_INVALIDARG, "[inferred] SetRemoteName(\"not a URL\"): got %#lx\n", hr);
    hr = IBackgroundCopyFile2_SetRemoteName(file2, L"");
    ok(hr == E_INVALIDARG, "[inferred] SetRemoteName(\"\"): got %#lx\n", hr);
    hr = IBackgroundCopyFile2_SetRemoteName(file2, NULL);
    ok(null_arg_hr(hr), "[inferred] SetRemoteName(NULL): got %#lx\n", hr);
    check_remote_name(file, url);

    hr = IBackgroundCopyFile2_SetRemoteName(file2, original);
    ok(hr == S_OK, "SetRemoteName: got %#lx\n", hr);
    check_remote_name(file, original);

    hr = IBackgroundCopyJob_Cancel(job);
    ok(hr == S_OK, "Cancel: got %#lx\n", hr);
    hr = IBackgroundCopyFile2_SetRemoteName(file2, renamed);
    ok(hr == DO_E_INVALID_STATE, "[inferred] SetRemoteName after Cancel: got %#lx\n", hr);
    check_remote_name(file, original);

    IBackgroundCopyFile2_Release(file2);
    IBackgroundCopyFile_Release(file);
    IBackgroundCopyJob_Release(job);
    return;
done:
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void test_file5(IBackgroundCopyManager *manager)
{
    BITS_FILE_PROPERTY_VALUE value;
    IBackgroundCopyFile5 *file5;
    IBackgroundCopyFile *file;
    IBackgroundCopyJob *job;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-file-file5", NULL))) return;
    if (add_file_ranges(job, L"file5.bin", 0, NULL, DO_UNKNOWN_FILE_SIZE) != S_OK) goto done;
    if (!(file = get_file(job, 0))) goto done;
    file5 = query(file, &IID_IBackgroundCopyFile5, "IBackgroundCopyFile5", TRUE);
    IBackgroundCopyFile_Release(file);
    if (!file5) goto done;

    value.String = (WCHAR *)0xdeadbeef;
    hr = IBackgroundCopyFile5_GetProperty(file5, BITS_FILE_PROPERTY_ID_HTTP_RESPONSE_HEADERS, &value);
    ok(hr == S_OK, "GetProperty(HTTP_RESPONSE_HEADERS) before a transfer: got %#lx\n", hr);
    if (hr == S_OK)
    {
        ok(value.String && !*value.String, "[inferred] HTTP_RESPONSE_HEADERS before a transfer: %s\n",
           dbgstr_w(value.String));
        CoTaskMemFree(value.String);
    }

    value.String = NULL;
    hr = IBackgroundCopyFile5_GetProperty(file5, (BITS_FILE_PROPERTY_ID)2, &value);
    ok(hr == DO_E_UNKNOWN_PROPERTY_ID || hr == INVALID_TAG_HR, "[inferred] GetProperty(2): got %#lx\n", hr);
    if (hr == S_OK) CoTaskMemFree(value.String);

    value.String = (WCHAR *)L"X-Dosvc-Test: 1";
    hr = IBackgroundCopyFile5_SetProperty(file5, BITS_FILE_PROPERTY_ID_HTTP_RESPONSE_HEADERS, value);
    ok(hr == DO_E_READ_ONLY_PROPERTY, "[inferred] SetProperty(HTTP_RESPONSE_HEADERS): got %#lx\n", hr);

    hr = IBackgroundCopyFile5_GetProperty(file5, BITS_FILE_PROPERTY_ID_HTTP_RESPONSE_HEADERS, NULL);
    ok(null_arg_hr(hr), "[inferred] GetProperty(HTTP_RESPONSE_HEADERS, NULL): got %#lx\n", hr);

    IBackgroundCopyFile5_Release(file5);
done:
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static void check_stats_(unsigned int line, IDeliveryOptimizationFile *file, BOOL second_slot,
                         const WCHAR *file_id, const WCHAR *url, UINT64 size, BOOL background)
{
    const char *tag = second_slot ? "[inferred] second slot: " : "";
    DOSwarmStats stats;
    HRESULT hr;

    memset(&stats, 0xcc, sizeof(stats));
    if (second_slot)
        hr = IDeliveryOptimizationFile_GetStatsSecondSlot(file, &stats);
    else
        hr = IDeliveryOptimizationFile_GetStats(file, &stats);
    ok_(__FILE__, line)(hr == S_OK, "%sGetStats: got %#lx\n", tag, hr);
    if (hr != S_OK) return;
    ok_(__FILE__, line)(stats.fileId && !wcscmp(stats.fileId, file_id), "%sfileId %s, expected %s\n", tag,
                        dbgstr_w(stats.fileId), dbgstr_w(file_id));
    ok_(__FILE__, line)(stats.sourceURL && !wcscmp(stats.sourceURL, url), "%ssourceURL %s, expected %s\n",
                        tag, dbgstr_w(stats.sourceURL), dbgstr_w(url));
    ok_(__FILE__, line)(stats.fileSize == size, "[inferred] %sfileSize %#I64x, expected %#I64x\n", tag,
                        stats.fileSize, size);
    ok_(__FILE__, line)(!stats.totalBytesDownloaded, "%stotalBytesDownloaded before a transfer: %#I64x\n",
                        tag, stats.totalBytesDownloaded);
    ok_(__FILE__, line)(!stats.bytesFromHttp, "%sbytesFromHttp before a transfer: %#I64x\n", tag,
                        stats.bytesFromHttp);
    ok_(__FILE__, line)(!stats.bytesFromLanPeers && !stats.bytesFromGroupPeers && !stats.bytesFromInternetPeers,
                        "%sbytes from peers before a transfer: %#I64x %#I64x %#I64x\n", tag,
                        stats.bytesFromLanPeers, stats.bytesFromGroupPeers, stats.bytesFromInternetPeers);
    ok_(__FILE__, line)(!stats.bytesToLanPeers && !stats.bytesToGroupPeers && !stats.bytesToInternetPeers,
                        "%sbytes to peers before a transfer: %#I64x %#I64x %#I64x\n", tag,
                        stats.bytesToLanPeers, stats.bytesToGroupPeers, stats.bytesToInternetPeers);
    ok_(__FILE__, line)(!stats.httpConnectionCount, "[inferred] %shttpConnectionCount before a transfer: %u\n",
                        tag, stats.httpConnectionCount);
    ok_(__FILE__, line)(!stats.isBackground == !background, "%sisBackground %d, expected %d\n", tag,
                        stats.isBackground, background);
    CoTaskMemFree(stats.fileId);
    CoTaskMemFree(stats.sourceURL);
}
#define check_stats(a, b, c, d, e, f) check_stats_(__LINE__, a, b, c, d, e, f)

static void test_get_stats(IBackgroundCopyManager *manager)
{
    IDeliveryOptimizationFile *do_file;
    IBackgroundCopyFile *file;
    IBackgroundCopyJob *job;
    WCHAR url[200];
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-file-stats", NULL))) return;
    if (add_file_ranges(job, L"stats-unknown.bin", 0, NULL, DO_UNKNOWN_FILE_SIZE) != S_OK) goto done;
    if (add_file_ranges(job, L"stats-sized.bin", 0, NULL, 4096) != S_OK) goto done;

    if ((file = get_file(job, 0)))
    {
        if ((do_file = query(file, &IID_IDeliveryOptimizationFile, "IDeliveryOptimizationFile", FALSE)))
        {
            test_url(url, ARRAY_SIZE(url), L"stats-unknown.bin");
            check_stats(do_file, FALSE, L"stats-unknown.bin", url, DO_UNKNOWN_FILE_SIZE, TRUE);
            check_stats(do_file, TRUE, L"stats-unknown.bin", url, DO_UNKNOWN_FILE_SIZE, TRUE);

            hr = IDeliveryOptimizationFile_GetStats(do_file, NULL);
            ok(null_arg_hr(hr), "[inferred] GetStats(NULL): got %#lx\n", hr);
            IDeliveryOptimizationFile_Release(do_file);
        }
        IBackgroundCopyFile_Release(file);
    }

    if ((file = get_file(job, 1)))
    {
        if ((do_file = query(file, &IID_IDeliveryOptimizationFile, "IDeliveryOptimizationFile", FALSE)))
        {
            test_url(url, ARRAY_SIZE(url), L"stats-sized.bin");
            check_stats(do_file, FALSE, L"stats-sized.bin", url, 4096, TRUE);
            check_stats(do_file, TRUE, L"stats-sized.bin", url, 4096, TRUE);

            /* FOREGROUND is the only priority that is not background */
            hr = IBackgroundCopyJob_SetPriority(job, BG_JOB_PRIORITY_FOREGROUND);
            ok(hr == S_OK, "SetPriority(FOREGROUND): got %#lx\n", hr);
            check_stats(do_file, FALSE, L"stats-sized.bin", url, 4096, FALSE);
            check_stats(do_file, TRUE, L"stats-sized.bin", url, 4096, FALSE);
            hr = IBackgroundCopyJob_SetPriority(job, BG_JOB_PRIORITY_LOW);
            ok(hr == S_OK, "SetPriority(LOW): got %#lx\n", hr);
            check_stats(do_file, FALSE, L"stats-sized.bin", url, 4096, TRUE);
            IDeliveryOptimizationFile_Release(do_file);
        }
        IBackgroundCopyFile_Release(file);
    }

done:
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

static HRESULT set_file_bstr(IDeliveryOptimizationFile2 *file2, DOFilePropertyId id, const WCHAR *str)
{
    VARIANT v;
    HRESULT hr;

    V_VT(&v) = VT_BSTR;
    V_BSTR(&v) = SysAllocString(str);
    hr = IDeliveryOptimizationFile2_SetProperty(file2, id, &v);
    VariantClear(&v);
    return hr;
}

static void check_bstr_property_(unsigned int line, IDeliveryOptimizationFile2 *file2, DOFilePropertyId id,
                                 const WCHAR *want)
{
    VARIANT v;
    HRESULT hr;

    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file2, id, &v);
    ok_(__FILE__, line)(hr == S_OK, "[inferred] GetProperty(%d): got %#lx\n", id, hr);
    ok_(__FILE__, line)(V_VT(&v) == VT_BSTR, "[inferred] GetProperty(%d): type %d\n", id, V_VT(&v));
    if (V_VT(&v) == VT_BSTR)
        ok_(__FILE__, line)(V_BSTR(&v) && !lstrcmpiW(V_BSTR(&v), want), "[inferred] GetProperty(%d): %s, expected %s\n",
                            id, dbgstr_w(V_BSTR(&v)), dbgstr_w(want));
    VariantClear(&v);
}
#define check_bstr_property(a, b, c) check_bstr_property_(__LINE__, a, b, c)

static void test_file2_properties(IBackgroundCopyManager *manager)
{
    static const WCHAR decryption[] =
        L"{\"KeyData\":\"AAECAwQFBgcICQoLDA0ODw==\",\"EncryptionBufferSize\":65536,"
        L"\"AlgorithmName\":\"AES\",\"ChainingMode\":\"ChainingModeCBC\"}";
    static const WCHAR integrity[] =
        L"{\"PiecesHashFileUrl\":\"http://127.0.0.1:1/dosvc-test/hashes.json\","
        L"\"PiecesHashFileDigest\":\"AAAA\",\"PiecesHashFileDigestAlgorithm\":\"SHA256\","
        L"\"HashOfHashes\":\"AAAA\"}";
    IDeliveryOptimizationFile2 *file2, *sized2;
    WCHAR local[MAX_PATH];
    IBackgroundCopyFile *file;
    IBackgroundCopyJob *job;
    VARIANT v;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-file-file2", NULL))) return;
    if (add_file_ranges(job, L"file2-unknown.bin", 0, NULL, DO_UNKNOWN_FILE_SIZE) != S_OK) goto done;
    if (add_file_ranges(job, L"file2-sized.bin", 0, NULL, 4096) != S_OK) goto done;
    if (!(file = get_file(job, 0))) goto done;
    file2 = query(file, &IID_IDeliveryOptimizationFile2, "IDeliveryOptimizationFile2", FALSE);
    IBackgroundCopyFile_Release(file);
    if (!file2) goto done;

    /* write-only */
    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file2, DOFilePropertyId_DecryptionInfo, &v);
    ok(hr == DO_E_WRITE_ONLY_PROPERTY, "GetProperty(DecryptionInfo): got %#lx\n", hr);
    VariantClear(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file2, DOFilePropertyId_IntegrityCheckInfo, &v);
    ok(hr == DO_E_WRITE_ONLY_PROPERTY, "GetProperty(IntegrityCheckInfo): got %#lx\n", hr);
    VariantClear(&v);

    hr = set_file_bstr(file2, DOFilePropertyId_DecryptionInfo, decryption);
    ok(hr == S_OK, "SetProperty(DecryptionInfo): got %#lx\n", hr);
    hr = set_file_bstr(file2, DOFilePropertyId_IntegrityCheckInfo, integrity);
    ok(hr == S_OK, "SetProperty(IntegrityCheckInfo): got %#lx\n", hr);
    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file2, DOFilePropertyId_DecryptionInfo, &v);
    ok(hr == DO_E_WRITE_ONLY_PROPERTY, "GetProperty(DecryptionInfo) after setting it: got %#lx\n", hr);
    VariantClear(&v);

    V_VT(&v) = VT_UI4;
    V_UI4(&v) = 1;
    hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_DecryptionInfo, &v);
    ok(hr == E_INVALIDARG, "[inferred] SetProperty(DecryptionInfo, VT_UI4): got %#lx\n", hr);

    /* IntegrityCheckMandatory: never set, then VT_BOOL both ways */
    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file2, DOFilePropertyId_IntegrityCheckMandatory, &v);
    ok(hr == E_NOT_SET, "GetProperty(IntegrityCheckMandatory) never set: got %#lx\n", hr);
    VariantClear(&v);

    V_VT(&v) = VT_BOOL;
    V_BOOL(&v) = VARIANT_TRUE;
    hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_IntegrityCheckMandatory, &v);
    ok(hr == S_OK, "SetProperty(IntegrityCheckMandatory, TRUE): got %#lx\n", hr);
    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file2, DOFilePropertyId_IntegrityCheckMandatory, &v);
    ok(hr == S_OK, "GetProperty(IntegrityCheckMandatory): got %#lx\n", hr);
    ok(V_VT(&v) == VT_BOOL && V_BOOL(&v) == VARIANT_TRUE, "IntegrityCheckMandatory: type %d value %d\n",
       V_VT(&v), V_BOOL(&v));
    VariantClear(&v);

    V_VT(&v) = VT_BOOL;
    V_BOOL(&v) = VARIANT_FALSE;
    hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_IntegrityCheckMandatory, &v);
    ok(hr == S_OK, "SetProperty(IntegrityCheckMandatory, FALSE): got %#lx\n", hr);
    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file2, DOFilePropertyId_IntegrityCheckMandatory, &v);
    ok(hr == S_OK, "GetProperty(IntegrityCheckMandatory): got %#lx\n", hr);
    ok(V_VT(&v) == VT_BOOL && V_BOOL(&v) == VARIANT_FALSE, "IntegrityCheckMandatory: type %d value %d\n",
       V_VT(&v), V_BOOL(&v));
    VariantClear(&v);

    V_VT(&v) = VT_I4;
    V_I4(&v) = 1;
    hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_IntegrityCheckMandatory, &v);
    ok(hr == E_INVALIDARG, "[inferred] SetProperty(IntegrityCheckMandatory, VT_I4): got %#lx\n", hr);

    /* the sink of an AddFileWithRanges file is its local name */
    make_test_path(local, ARRAY_SIZE(local), L"file2-unknown.bin");
    check_bstr_property(file2, DOFilePropertyId_DownloadSinkFilePath, local);

    /* TotalSizeBytes: unknown, then set */
    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file2, DOFilePropertyId_TotalSizeBytes, &v);
    ok(hr == E_NOT_SET, "[inferred] GetProperty(TotalSizeBytes) of a file of unknown size: got %#lx\n", hr);
    VariantClear(&v);
    V_VT(&v) = VT_UI8;
    V_UI8(&v) = 8192;
    hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_TotalSizeBytes, &v);
    ok(hr == S_OK, "SetProperty(TotalSizeBytes): got %#lx\n", hr);
    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file2, DOFilePropertyId_TotalSizeBytes, &v);
    ok(hr == S_OK, "GetProperty(TotalSizeBytes): got %#lx\n", hr);
    ok(V_VT(&v) == VT_UI8 && V_UI8(&v) == 8192, "TotalSizeBytes: type %d value %#I64x\n", V_VT(&v),
       V_VT(&v) == VT_UI8 ? V_UI8(&v) : 0);
    VariantClear(&v);
    hr = set_file_bstr(file2, DOFilePropertyId_TotalSizeBytes, L"8192");
    ok(hr == E_INVALIDARG, "[inferred] SetProperty(TotalSizeBytes, VT_BSTR): got %#lx\n", hr);

    /* a stream sink must be a stream (clients.c tests the rest); the memory stream is deprecated */
    V_VT(&v) = VT_UNKNOWN;
    V_UNKNOWN(&v) = plain_unknown();
    hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_DownloadSinkInterface, &v);
    ok(hr == E_NOINTERFACE, "[inferred] SetProperty(DownloadSinkInterface, not an IStream): got %#lx\n", hr);
    hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_DownloadSinkMemoryStream, &v);
    ok(hr == DO_E_MEMORYSTREAM_DOWNLOAD_NOT_SUPPORTED,
       "[inferred] SetProperty(DownloadSinkMemoryStream): got %#lx\n", hr);

    /* unknown ids */
    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file2, (DOFilePropertyId)99, &v);
    ok(hr == DO_E_UNKNOWN_PROPERTY_ID, "GetProperty(99): got %#lx\n", hr);
    VariantClear(&v);
    V_VT(&v) = VT_UI4;
    V_UI4(&v) = 1;
    hr = IDeliveryOptimizationFile2_SetProperty(file2, (DOFilePropertyId)99, &v);
    ok(hr == DO_E_UNKNOWN_PROPERTY_ID, "SetProperty(99): got %#lx\n", hr);

    hr = IDeliveryOptimizationFile2_GetProperty(file2, DOFilePropertyId_TotalSizeBytes, NULL);
    ok(null_arg_hr(hr), "[inferred] GetProperty(TotalSizeBytes, NULL): got %#lx\n", hr);
    hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_TotalSizeBytes, NULL);
    ok(hr == E_INVALIDARG, "[inferred] SetProperty(TotalSizeBytes, NULL): got %#lx\n", hr);

    /* a size given to AddFileWithRanges is known */
    if ((file = get_file(job, 1)))
    {
        if ((sized2 = query(file, &IID_IDeliveryOptimizationFile2, "IDeliveryOptimizationFile2", FALSE)))
        {
            VariantInit(&v);
            hr = IDeliveryOptimizationFile2_GetProperty(sized2, DOFilePropertyId_TotalSizeBytes, &v);
            ok(hr == S_OK, "[inferred] GetProperty(TotalSizeBytes) of a file of known size: got %#lx\n", hr);
            ok(V_VT(&v) == VT_UI8 && V_UI8(&v) == 4096, "[inferred] TotalSizeBytes: type %d value %#I64x\n",
               V_VT(&v), V_VT(&v) == VT_UI8 ? V_UI8(&v) : 0);
            VariantClear(&v);
            IDeliveryOptimizationFile2_Release(sized2);
        }
        IBackgroundCopyFile_Release(file);
    }

    /* nothing may be set once the job is cancelled */
    hr = IBackgroundCopyJob_Cancel(job);
    ok(hr == S_OK, "Cancel: got %#lx\n", hr);
    V_VT(&v) = VT_BOOL;
    V_BOOL(&v) = VARIANT_TRUE;
    hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_IntegrityCheckMandatory, &v);
    ok(hr == DO_E_INVALID_STATE, "[inferred] SetProperty(IntegrityCheckMandatory) after Cancel: got %#lx\n", hr);
    V_VT(&v) = VT_UI8;
    V_UI8(&v) = 1;
    hr = IDeliveryOptimizationFile2_SetProperty(file2, DOFilePropertyId_TotalSizeBytes, &v);
    ok(hr == DO_E_INVALID_STATE, "[inferred] SetProperty(TotalSizeBytes) after Cancel: got %#lx\n", hr);
    hr = set_file_bstr(file2, DOFilePropertyId_DecryptionInfo, decryption);
    ok(hr == DO_E_INVALID_STATE, "[inferred] SetProperty(DecryptionInfo) after Cancel: got %#lx\n", hr);
    make_test_path(local, ARRAY_SIZE(local), L"file2-cancelled.bin");
    hr = set_file_bstr(file2, DOFilePropertyId_DownloadSinkFilePath, local);
    ok(hr == DO_E_INVALID_STATE, "[inferred] SetProperty(DownloadSinkFilePath) after Cancel: got %#lx\n", hr);
    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file2, DOFilePropertyId_IntegrityCheckMandatory, &v);
    ok(hr == S_OK, "[inferred] GetProperty(IntegrityCheckMandatory) after Cancel: got %#lx\n", hr);
    VariantClear(&v);

    IDeliveryOptimizationFile2_Release(file2);
    IBackgroundCopyJob_Release(job);
    return;
done:
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

/* IDeliveryOptimizationJob2::AddFile takes no local name: until the sink is
 * set the file has none, and the job cannot start. */
static void test_sinkless_file(IBackgroundCopyManager *manager)
{
    IDeliveryOptimizationFile2 *file2 = NULL;
    IDeliveryOptimizationFile *do_file = NULL;
    IDeliveryOptimizationJob2 *job2;
    IBackgroundCopyFile *file = NULL;
    WCHAR url[200], local[MAX_PATH], *str;
    IBackgroundCopyJob *job;
    BG_JOB_STATE state;
    VARIANT v;
    HRESULT hr;

    if (!(job = new_job(manager, L"dosvc-test-file-sinkless", NULL))) return;
    if (!(job2 = query(job, &IID_IDeliveryOptimizationJob2, "IDeliveryOptimizationJob2", FALSE)))
        goto done;
    test_url(url, ARRAY_SIZE(url), L"sinkless.bin");
    make_test_path(local, ARRAY_SIZE(local), L"sinkless.bin");

    hr = IDeliveryOptimizationJob2_AddFile(job2, L"sinkless", url, 0, NULL, &IID_IDeliveryOptimizationFile,
                                           (void **)&do_file);
    ok(hr == S_OK, "AddFile: got %#lx\n", hr);
    IDeliveryOptimizationJob2_Release(job2);
    if (!do_file) goto done;
    set_impersonate(do_file);
    file = query(do_file, &IID_IBackgroundCopyFile, "IBackgroundCopyFile", FALSE);
    file2 = query(do_file, &IID_IDeliveryOptimizationFile2, "IDeliveryOptimizationFile2", FALSE);
    if (!file || !file2) goto done;

    check_remote_name(file, url);
    str = (WCHAR *)0xdeadbeef;
    hr = IBackgroundCopyFile_GetLocalName(file, &str);
    ok(hr == DO_E_LOCALPATH_NOT_SET, "[inferred] GetLocalName without a sink: got %#lx\n", hr);
    ok(!str, "[inferred] GetLocalName without a sink: %s\n", dbgstr_w(str));
    if (SUCCEEDED(hr)) CoTaskMemFree(str);

    VariantInit(&v);
    hr = IDeliveryOptimizationFile2_GetProperty(file2, DOFilePropertyId_DownloadSinkFilePath, &v);
    ok(hr == E_NOT_SET, "[inferred] GetProperty(DownloadSinkFilePath) never set: got %#lx\n", hr);
    VariantClear(&v);

    hr = IBackgroundCopyJob_Resume(job);
    ok(hr == DO_E_FILE_DOWNLOADSINK_UNSPECIFIED, "[inferred] Resume with a file without a sink: got %#lx\n", hr);
    state = job_state(job);
    ok(state == BG_JOB_STATE_SUSPENDED, "[inferred] after the refused Resume: state %s\n", state_name(state));

    check_stats(do_file, FALSE, L"sinkless", url, DO_UNKNOWN_FILE_SIZE, TRUE);

    hr = set_file_bstr(file2, DOFilePropertyId_DownloadSinkFilePath, local);
    ok(hr == S_OK, "SetProperty(DownloadSinkFilePath): got %#lx\n", hr);
    check_local_name(file, local, FALSE);
    check_bstr_property(file2, DOFilePropertyId_DownloadSinkFilePath, local);

    hr = IBackgroundCopyJob_Cancel(job);
    ok(hr == S_OK, "Cancel: got %#lx\n", hr);
    make_test_path(local, ARRAY_SIZE(local), L"sinkless-cancelled.bin");
    hr = set_file_bstr(file2, DOFilePropertyId_DownloadSinkFilePath, local);
    ok(hr == DO_E_INVALID_STATE, "[inferred] SetProperty(DownloadSinkFilePath) after Cancel: got %#lx\n", hr);

    IDeliveryOptimizationFile2_Release(file2);
    IBackgroundCopyFile_Release(file);
    IDeliveryOptimizationFile_Release(do_file);
    IBackgroundCopyJob_Release(job);
    return;
done:
    if (file2) IDeliveryOptimizationFile2_Release(file2);
    if (file) IBackgroundCopyFile_Release(file);
    if (do_file) IDeliveryOptimizationFile_Release(do_file);
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
}

START_TEST(file)
{
    IBackgroundCopyManager *manager;

    CoInitializeEx(NULL, COINIT_MULTITHREADED);
    if (!(manager = create_manager()))
    {
        CoUninitialize();
        return;
    }
    set_impersonate(manager);

    test_enum_files(manager);
    test_file_basics(manager);
    test_file_ranges(manager);
    test_set_remote_name(manager);
    test_file5(manager);
    test_get_stats(manager);
    test_file2_properties(manager);
    test_sinkless_file(manager);

    IBackgroundCopyManager_Release(manager);
    remove_test_dir();
    CoUninitialize();
}
