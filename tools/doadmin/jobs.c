/*
 * doadmin: the verbs for BITS-style Delivery Optimization jobs
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

#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include "doadmin.h"

/* ------------------------------------------------------------ helpers */

static BOOL parse_priority(const WCHAR *verb, const WCHAR *text, BG_JOB_PRIORITY *priority)
{
    static const WCHAR *names[] = { L"foreground", L"high", L"normal", L"low" };
    unsigned int i;

    for (i = 0; i < ARRAY_SIZE(names); i++)
    {
        if (_wcsicmp(text, names[i])) continue;
        *priority = (BG_JOB_PRIORITY)i;
        return TRUE;
    }
    usage_error(verb, L"unknown priority '%ls' (want foreground, high, normal or low)", text);
    return FALSE;
}

static BOOL parse_timeout(const WCHAR *verb, const WCHAR *text, ULONG *seconds)
{
    WCHAR *end;

    *seconds = wcstoul(text, &end, 10);
    if (text[0] >= '0' && text[0] <= '9' && !*end && *seconds) return TRUE;
    usage_error(verb, L"bad --no-progress-timeout '%ls' (want a number of seconds)", text);
    return FALSE;
}

/* The options create and transfer share: priority and no-progress timeout. */
struct job_options
{
    BG_JOB_PRIORITY priority;
    ULONG timeout;      /* 0: the service's default */
};

static BOOL parse_job_options(const struct args *args, struct job_options *options)
{
    const WCHAR *value;

    options->timeout = 0;
    if ((value = option_value(args, OPT_PRIORITY)) && !parse_priority(args->verb, value, &options->priority))
        return FALSE;
    if ((value = option_value(args, OPT_TIMEOUT)) && !parse_timeout(args->verb, value, &options->timeout))
        return FALSE;
    return TRUE;
}

static HRESULT apply_job_options(IBackgroundCopyJob *job, const struct job_options *options)
{
    HRESULT hr = IBackgroundCopyJob_SetPriority(job, options->priority);

    if (SUCCEEDED(hr) && options->timeout)
        hr = IBackgroundCopyJob_SetNoProgressTimeout(job, options->timeout);
    return hr;
}

/* DO's own way to add a file is IDeliveryOptimizationJob::AddFileWithRanges;
 * a service without it still has BITS' IBackgroundCopyJob3 and AddFile. */
static HRESULT add_file(IBackgroundCopyJob *job, const WCHAR *url, const WCHAR *path,
                        DWORD range_count, BG_FILE_RANGE *ranges)
{
    IDeliveryOptimizationJob *do_job;
    IBackgroundCopyJob3 *job3;
    HRESULT hr;

    hr = IBackgroundCopyJob_QueryInterface(job, &IID_IDeliveryOptimizationJob, (void **)&do_job);
    if (SUCCEEDED(hr))
    {
        set_blanket(do_job);
        /* the URL doubles as the file id: DO wants any string unique to
         * the content for content it has no catalogue entry of */
        hr = IDeliveryOptimizationJob_AddFileWithRanges(do_job, url, url, path, range_count,
                                                        range_count ? ranges : NULL,
                                                        DO_UNKNOWN_FILE_SIZE);
        IDeliveryOptimizationJob_Release(do_job);
        return hr;
    }
    if (!range_count) return IBackgroundCopyJob_AddFile(job, url, path);
    hr = IBackgroundCopyJob_QueryInterface(job, &IID_IBackgroundCopyJob3, (void **)&job3);
    if (FAILED(hr)) return hr;
    set_blanket(job3);
    hr = IBackgroundCopyJob3_AddFileWithRanges(job3, url, path, range_count, ranges);
    IBackgroundCopyJob3_Release(job3);
    return hr;
}

static void print_time(const WCHAR *label, const FILETIME *time)
{
    SYSTEMTIME st;
    FILETIME local;

    if ((!time->dwLowDateTime && !time->dwHighDateTime) || !FileTimeToLocalFileTime(time, &local)
        || !FileTimeToSystemTime(&local, &st))
    {
        out_printf(L"%-12ls -\n", label);
        return;
    }
    out_printf(L"%-12ls %04u-%02u-%02u %02u:%02u:%02u\n", label, st.wYear, st.wMonth, st.wDay,
               st.wHour, st.wMinute, st.wSecond);
}

/* "12345/67108864" or "12345/?" */
static void format_count(WCHAR *buf, size_t count, UINT64 done, UINT64 total)
{
    if (total == BG_SIZE_UNKNOWN) _snwprintf(buf, count, L"%I64u/?", done);
    else _snwprintf(buf, count, L"%I64u/%I64u", done, total);
    buf[count - 1] = 0;
}

/* Completed only turns TRUE once Complete renamed the file (BITS' meaning:
 * "available to the user"); before, the byte counts tell. */
static BOOL file_transferred(const BG_FILE_PROGRESS *progress)
{
    return progress->Completed || (progress->BytesTotal != BG_SIZE_UNKNOWN
                                   && progress->BytesTransferred == progress->BytesTotal);
}

/* The local names of the job's files that are fully transferred, one
 * string after the other, double-NUL-terminated (free() it). */
static WCHAR *transferred_files(IBackgroundCopyJob *job)
{
    IEnumBackgroundCopyFiles *files;
    IBackgroundCopyFile *file;
    BG_FILE_PROGRESS progress;
    size_t used = 0, size = 1;
    WCHAR *list = calloc(1, sizeof(WCHAR)), *name, *grown;

    if (!list || FAILED(IBackgroundCopyJob_EnumFiles(job, &files))) return list;
    set_blanket(files);
    while (IEnumBackgroundCopyFiles_Next(files, 1, &file, NULL) == S_OK)
    {
        set_blanket(file);
        if (SUCCEEDED(IBackgroundCopyFile_GetProgress(file, &progress)) && file_transferred(&progress)
            && SUCCEEDED(IBackgroundCopyFile_GetLocalName(file, &name)))
        {
            size_t len = wcslen(name) + 1;
            if ((grown = realloc(list, (size + len) * sizeof(WCHAR))))
            {
                list = grown;
                memcpy(list + used, name, len * sizeof(WCHAR));
                used += len;
                size += len;
                list[used] = 0;
            }
            CoTaskMemFree(name);
        }
        IBackgroundCopyFile_Release(file);
    }
    IEnumBackgroundCopyFiles_Release(files);
    return list;
}

/* Completes the job and says where its files went. */
static int complete_job(IBackgroundCopyJob *job, const GUID *id)
{
    WCHAR text[40], *files = transferred_files(job), *p;
    HRESULT hr;

    guid_to_string(id, text, ARRAY_SIZE(text));
    hr = IBackgroundCopyJob_Complete(job);
    if (FAILED(hr))
    {
        free(files);
        return report_failure(hr, L"completing job %ls", text);
    }
    out_printf(L"completed job %ls\n", text);
    for (p = files; p && *p; p += wcslen(p) + 1) out_printf(L"saved %ls\n", p);
    free(files);
    return EXIT_OK;
}

/* After a successful wait: "transferred 2 files, 64.0 MiB in 3.1 s (20.6 MiB/s)" */
static void print_summary(IBackgroundCopyJob *job, ULONGLONG start)
{
    double seconds = (GetTickCount64() - start) / 1000.0;
    BG_JOB_PROGRESS progress;
    WCHAR size[32], rate[32];

    if (FAILED(IBackgroundCopyJob_GetProgress(job, &progress))) return;
    format_bytes(size, ARRAY_SIZE(size), progress.BytesTransferred);
    format_bytes(rate, ARRAY_SIZE(rate),
                 seconds > 0.0 ? (UINT64)(progress.BytesTransferred / seconds) : 0);
    out_printf(L"transferred %lu file%ls, %ls (%I64u bytes) in %.1f s (%ls/s)\n",
               progress.FilesTransferred, progress.FilesTransferred == 1 ? L"" : L"s", size,
               progress.BytesTransferred, seconds, rate);
}

/* ------------------------------------------------------------ create, addfile */

int cmd_create(const struct args *args)
{
    struct job_options options = { BG_JOB_PRIORITY_NORMAL };
    IBackgroundCopyManager *manager;
    IBackgroundCopyJob *job;
    WCHAR text[40];
    HRESULT hr;
    GUID id;

    if (!parse_job_options(args, &options)) return EXIT_USAGE;
    if (FAILED(hr = get_manager(&manager)))
        return report_failure(hr, L"connecting to the Delivery Optimization service");
    hr = IBackgroundCopyManager_CreateJob(manager, args->pos[0], BG_JOB_TYPE_DOWNLOAD, &id, &job);
    if (FAILED(hr)) return report_failure(hr, L"creating job '%ls'", args->pos[0]);
    set_blanket(job);
    guid_to_string(&id, text, ARRAY_SIZE(text));
    if (FAILED(hr = apply_job_options(job, &options)))
    {
        IBackgroundCopyJob_Cancel(job);
        IBackgroundCopyJob_Release(job);
        return report_failure(hr, L"setting up job %ls", text);
    }
    IBackgroundCopyJob_Release(job);
    out_printf(L"%ls\n", text);
    return EXIT_OK;
}

int cmd_addfile(const struct args *args)
{
    BG_FILE_RANGE *ranges = NULL;
    IBackgroundCopyJob *job;
    WCHAR path[MAX_PATH];
    DWORD range_count = 0;
    const WCHAR *value;
    HRESULT hr;
    GUID id;
    int status;

    if ((value = option_value(args, OPT_RANGES))
        && !parse_ranges(args->verb, value, &ranges, &range_count))
        return EXIT_USAGE;
    if (!full_path(args->pos[2], path, ARRAY_SIZE(path)))
    {
        free(ranges);
        return usage_error(args->verb, L"bad local file name '%ls'", args->pos[2]);
    }
    if ((status = find_job(args->pos[0], &job, &id, FALSE)) != EXIT_OK)
    {
        free(ranges);
        return status;
    }
    hr = add_file(job, args->pos[1], path, range_count, ranges);
    IBackgroundCopyJob_Release(job);
    free(ranges);
    if (FAILED(hr)) return report_failure(hr, L"adding %ls to job %ls", args->pos[1], args->pos[0]);
    out_printf(L"added %ls as %ls\n", args->pos[1], path);
    return EXIT_OK;
}

/* ------------------------------------------------------------ state changes */

/* Finds the job, runs one state-changing method and reports it. */
static int change_job(const struct args *args, HRESULT (*change)(IBackgroundCopyJob *),
                      const WCHAR *doing, const WCHAR *done)
{
    IBackgroundCopyJob *job;
    WCHAR text[40];
    HRESULT hr;
    GUID id;
    int status;

    if ((status = find_job(args->pos[0], &job, &id, FALSE)) != EXIT_OK) return status;
    guid_to_string(&id, text, ARRAY_SIZE(text));
    hr = change(job);
    IBackgroundCopyJob_Release(job);
    if (FAILED(hr)) return report_failure(hr, L"%ls job %ls", doing, text);
    out_printf(L"%ls job %ls\n", done, text);
    return EXIT_OK;
}

static HRESULT do_resume(IBackgroundCopyJob *job) { return IBackgroundCopyJob_Resume(job); }
static HRESULT do_suspend(IBackgroundCopyJob *job) { return IBackgroundCopyJob_Suspend(job); }
static HRESULT do_cancel(IBackgroundCopyJob *job) { return IBackgroundCopyJob_Cancel(job); }

static int resume_and_wait(const WCHAR *spec)
{
    IBackgroundCopyJob *job;
    ULONGLONG start = GetTickCount64();
    WCHAR text[40];
    HRESULT hr;
    GUID id;
    int status;

    if ((status = find_job(spec, &job, &id, TRUE)) == FIND_NOT_FOUND) return resume_download(spec);
    if (status != EXIT_OK) return status;
    guid_to_string(&id, text, ARRAY_SIZE(text));
    if (FAILED(hr = IBackgroundCopyJob_Resume(job)))
        status = report_failure(hr, L"resuming job %ls", text);
    else if ((status = wait_for_job(&job, &id, WAIT_OWNS_JOB, L"transfer")) == EXIT_OK)
    {
        print_summary(job, start);
        status = complete_job(job, &id);
    }
    IBackgroundCopyJob_Release(job);
    return status;
}

int cmd_resume(const struct args *args)
{
    IBackgroundCopyJob *job;
    GUID id;
    int status;

    if (args->seen[OPT_WAIT]) return resume_and_wait(args->pos[0]);
    /* not a job: perhaps a download paused by "doadmin download" */
    status = find_job(args->pos[0], &job, &id, TRUE);
    if (status == FIND_NOT_FOUND) return resume_download(args->pos[0]);
    if (status != EXIT_OK) return status;
    IBackgroundCopyJob_Release(job);
    return change_job(args, do_resume, L"resuming", L"resumed");
}

int cmd_suspend(const struct args *args)
{
    return change_job(args, do_suspend, L"suspending", L"suspended");
}

int cmd_cancel(const struct args *args)
{
    IBackgroundCopyJob *job;
    GUID id;
    int status;

    status = find_job(args->pos[0], &job, &id, TRUE);
    if (status == FIND_NOT_FOUND) return cancel_download(args->pos[0]);
    if (status != EXIT_OK) return status;
    IBackgroundCopyJob_Release(job);
    return change_job(args, do_cancel, L"cancelling", L"cancelled");
}

int cmd_complete(const struct args *args)
{
    IBackgroundCopyJob *job;
    GUID id;
    int status;

    if ((status = find_job(args->pos[0], &job, &id, FALSE)) != EXIT_OK) return status;
    status = complete_job(job, &id);
    IBackgroundCopyJob_Release(job);
    return status;
}

/* ------------------------------------------------------------ getstate, info */

int cmd_getstate(const struct args *args)
{
    IBackgroundCopyJob *job;
    BG_JOB_STATE state;
    HRESULT hr;
    GUID id;
    int status;

    if ((status = find_job(args->pos[0], &job, &id, FALSE)) != EXIT_OK) return status;
    hr = IBackgroundCopyJob_GetState(job, &state);
    IBackgroundCopyJob_Release(job);
    if (FAILED(hr)) return report_failure(hr, L"getting the state of job %ls", args->pos[0]);
    out_printf(L"%ls\n", job_state_name(state));
    return EXIT_OK;
}

static void print_string(const WCHAR *label, HRESULT hr, WCHAR *value)
{
    if (SUCCEEDED(hr) && value) out_printf(L"%-12ls %ls\n", label, value);
    CoTaskMemFree(value);
}

static void print_ranges(IBackgroundCopyFile *file)
{
    IBackgroundCopyFile2 *file2;
    BG_FILE_RANGE *ranges = NULL;
    DWORD count = 0, i;

    if (FAILED(IBackgroundCopyFile_QueryInterface(file, &IID_IBackgroundCopyFile2, (void **)&file2)))
        return;
    set_blanket(file2);
    if (IBackgroundCopyFile2_GetFileRanges(file2, &count, &ranges) == S_OK && count)
    {
        out_printf(L"%-12ls ", L"  ranges:");
        for (i = 0; i < count; i++)
        {
            if (ranges[i].Length == BG_LENGTH_TO_EOF)
                out_printf(L"%ls%I64u:eof", i ? L"," : L"", ranges[i].InitialOffset);
            else
                out_printf(L"%ls%I64u:%I64u", i ? L"," : L"", ranges[i].InitialOffset,
                           ranges[i].Length);
        }
        out_printf(L"\n");
    }
    CoTaskMemFree(ranges);
    IBackgroundCopyFile2_Release(file2);
}

/* Where the file's bytes came from (IDeliveryOptimizationFile::GetStats):
 * the origin, or a cache server of the DOCacheHost policy. */
static void print_sources(IBackgroundCopyFile *file)
{
    IDeliveryOptimizationFile *do_file;
    DOSwarmStats stats;

    if (FAILED(IBackgroundCopyFile_QueryInterface(file, &IID_IDeliveryOptimizationFile, (void **)&do_file)))
        return;
    set_blanket(do_file);
    memset(&stats, 0, sizeof(stats));
    if (SUCCEEDED(IDeliveryOptimizationFile_GetStats(do_file, &stats)))
    {
        out_printf(L"%-12ls %I64u bytes from the origin (%u request%ls), %I64u from cache servers (%u request%ls)\n",
                   L"  sources:", stats.bytesFromHttp, stats.httpConnectionCount,
                   stats.httpConnectionCount == 1 ? L"" : L"s", stats.bytesFromDoinc, stats.doincConnectionCount,
                   stats.doincConnectionCount == 1 ? L"" : L"s");
        CoTaskMemFree(stats.fileId);
        CoTaskMemFree(stats.sourceURL);
    }
    IDeliveryOptimizationFile_Release(do_file);
}

static void print_files(IBackgroundCopyJob *job)
{
    IEnumBackgroundCopyFiles *files;
    IBackgroundCopyFile *file;
    BG_FILE_PROGRESS progress;
    WCHAR *remote, *local, label[24], count[64];
    unsigned int n = 0;

    if (FAILED(IBackgroundCopyJob_EnumFiles(job, &files))) return;
    set_blanket(files);
    while (IEnumBackgroundCopyFiles_Next(files, 1, &file, NULL) == S_OK)
    {
        set_blanket(file);
        _snwprintf(label, ARRAY_SIZE(label), L"file %u:", ++n);
        label[ARRAY_SIZE(label) - 1] = 0;
        if (SUCCEEDED(IBackgroundCopyFile_GetRemoteName(file, &remote)))
        {
            out_printf(L"%-12ls %ls\n", label, remote);
            CoTaskMemFree(remote);
        }
        if (SUCCEEDED(IBackgroundCopyFile_GetLocalName(file, &local)))
        {
            out_printf(L"%-12ls %ls\n", L"  saved as:", local);
            CoTaskMemFree(local);
        }
        if (SUCCEEDED(IBackgroundCopyFile_GetProgress(file, &progress)))
        {
            format_count(count, ARRAY_SIZE(count), progress.BytesTransferred, progress.BytesTotal);
            out_printf(L"%-12ls %ls bytes%ls\n", L"  progress:", count,
                       file_transferred(&progress) ? L", transferred" : L"");
        }
        print_ranges(file);
        print_sources(file);
        IBackgroundCopyFile_Release(file);
    }
    IEnumBackgroundCopyFiles_Release(files);
}

static void print_error(IBackgroundCopyJob *job)
{
    IBackgroundCopyError *error;
    IBackgroundCopyFile *file;
    BG_ERROR_CONTEXT context;
    WCHAR text[800], *remote;
    HRESULT code;

    if (FAILED(IBackgroundCopyJob_GetError(job, &error))) return;
    set_blanket(error);
    if (SUCCEEDED(IBackgroundCopyError_GetError(error, &context, &code)))
    {
        describe_hresult(code, text, ARRAY_SIZE(text));
        out_printf(L"%-12ls %ls\n", L"error:", text);
        out_printf(L"%-12ls %ls\n", L"  context:",
                   context == BG_ERROR_CONTEXT_REMOTE_FILE ? L"remote file" :
                   context == BG_ERROR_CONTEXT_LOCAL_FILE ? L"local file" :
                   context == BG_ERROR_CONTEXT_NONE ? L"none" : L"other");
    }
    if (SUCCEEDED(IBackgroundCopyError_GetFile(error, &file)) && file)
    {
        set_blanket(file);
        if (SUCCEEDED(IBackgroundCopyFile_GetRemoteName(file, &remote)))
        {
            out_printf(L"%-12ls %ls\n", L"  file:", remote);
            CoTaskMemFree(remote);
        }
        IBackgroundCopyFile_Release(file);
    }
    IBackgroundCopyError_Release(error);
}

static void print_progress(const BG_JOB_PROGRESS *progress)
{
    WCHAR done[32], total[32], count[64];

    format_count(count, ARRAY_SIZE(count), progress->BytesTransferred, progress->BytesTotal);
    format_bytes(done, ARRAY_SIZE(done), progress->BytesTransferred);
    if (progress->BytesTotal == BG_SIZE_UNKNOWN)
        wcscpy(total, L"?");
    else
        format_bytes(total, ARRAY_SIZE(total), progress->BytesTotal);
    out_printf(L"%-12ls %ls bytes (%ls of %ls), %lu/%lu files\n", L"progress:", count, done, total,
               progress->FilesTransferred, progress->FilesTotal);
}

static void print_job(IBackgroundCopyJob *job, const GUID *id)
{
    BG_JOB_PRIORITY priority;
    BG_JOB_PROGRESS progress;
    BG_JOB_STATE state;
    BG_JOB_TIMES times;
    WCHAR *value = NULL, text[40];
    ULONG seconds;
    HRESULT hr;

    guid_to_string(id, text, ARRAY_SIZE(text));
    out_printf(L"%-12ls %ls\n", L"id:", text);
    hr = IBackgroundCopyJob_GetDisplayName(job, &value);
    print_string(L"name:", hr, value);
    value = NULL;
    hr = IBackgroundCopyJob_GetDescription(job, &value);
    if (SUCCEEDED(hr) && value && *value) print_string(L"description:", hr, value);
    else CoTaskMemFree(value);
    if (SUCCEEDED(IBackgroundCopyJob_GetState(job, &state)))
        out_printf(L"%-12ls %ls\n", L"state:", job_state_name(state));
    if (SUCCEEDED(IBackgroundCopyJob_GetPriority(job, &priority)))
        out_printf(L"%-12ls %ls\n", L"priority:", priority_name(priority));
    if (SUCCEEDED(IBackgroundCopyJob_GetProgress(job, &progress))) print_progress(&progress);
    if (SUCCEEDED(IBackgroundCopyJob_GetTimes(job, &times)))
    {
        print_time(L"created:", &times.CreationTime);
        print_time(L"modified:", &times.ModificationTime);
        print_time(L"completed:", &times.TransferCompletionTime);
    }
    value = NULL;
    hr = IBackgroundCopyJob_GetOwner(job, &value);
    print_string(L"owner:", hr, value);
    if (SUCCEEDED(IBackgroundCopyJob_GetMinimumRetryDelay(job, &seconds)))
        out_printf(L"%-12ls %lu s\n", L"retry delay:", seconds);
    if (SUCCEEDED(IBackgroundCopyJob_GetNoProgressTimeout(job, &seconds)))
        out_printf(L"%-12ls %lu s\n", L"no-progress:", seconds);
    if (SUCCEEDED(IBackgroundCopyJob_GetErrorCount(job, &seconds)))
        out_printf(L"%-12ls %lu\n", L"errors:", seconds);
    print_error(job);
    print_files(job);
}

int cmd_info(const struct args *args)
{
    IBackgroundCopyJob *job;
    GUID id;
    int status;

    if ((status = find_job(args->pos[0], &job, &id, FALSE)) != EXIT_OK) return status;
    print_job(job, &id);
    IBackgroundCopyJob_Release(job);
    return EXIT_OK;
}

/* ------------------------------------------------------------ list, monitor */

/* One line per job; with_owner adds the owner's SID. */
static void format_job_line(IBackgroundCopyJob *job, BOOL with_owner, WCHAR *buf, size_t count)
{
    BG_JOB_PROGRESS progress = { 0 };
    BG_JOB_STATE state = (BG_JOB_STATE)-1;
    WCHAR id_text[40], bytes[64], *name = NULL, *owner = NULL;
    GUID id;

    if (FAILED(IBackgroundCopyJob_GetId(job, &id))) memset(&id, 0, sizeof(id));
    guid_to_string(&id, id_text, ARRAY_SIZE(id_text));
    IBackgroundCopyJob_GetState(job, &state);
    IBackgroundCopyJob_GetProgress(job, &progress);
    IBackgroundCopyJob_GetDisplayName(job, &name);
    if (with_owner) IBackgroundCopyJob_GetOwner(job, &owner);
    format_count(bytes, ARRAY_SIZE(bytes), progress.BytesTransferred, progress.BytesTotal);
    _snwprintf(buf, count, L"%ls  %-15ls  %lu/%lu files  %ls bytes  %ls%ls%ls", id_text,
               job_state_name(state), progress.FilesTransferred, progress.FilesTotal, bytes,
               name ? name : L"", owner ? L"  owner: " : L"", owner ? owner : L"");
    buf[count - 1] = 0;
    CoTaskMemFree(name);
    CoTaskMemFree(owner);
}

/* Calls line() for each job; returns the number of jobs or -1 (reported). */
static int for_each_job(BOOL all_users, void (*line)(const WCHAR *text, void *ctx), void *ctx)
{
    IBackgroundCopyManager *manager;
    IEnumBackgroundCopyJobs *jobs;
    IBackgroundCopyJob *job;
    WCHAR text[1024];
    HRESULT hr;
    int n = 0;

    if (FAILED(hr = get_manager(&manager)))
    {
        report_failure(hr, L"connecting to the Delivery Optimization service");
        return -1;
    }
    hr = IBackgroundCopyManager_EnumJobs(manager, all_users ? BG_JOB_ENUM_ALL_USERS : 0, &jobs);
    if (FAILED(hr))
    {
        report_failure(hr, L"listing jobs");
        return -1;
    }
    set_blanket(jobs);
    while (IEnumBackgroundCopyJobs_Next(jobs, 1, &job, NULL) == S_OK)
    {
        set_blanket(job);
        format_job_line(job, all_users, text, ARRAY_SIZE(text));
        line(text, ctx);
        IBackgroundCopyJob_Release(job);
        n++;
    }
    IEnumBackgroundCopyJobs_Release(jobs);
    return n;
}

static void print_line(const WCHAR *text, void *ctx)
{
    out_printf(L"%ls\n", text);
}

static void print_job_count(int n)
{
    out_printf(L"%d job%ls\n", n, n == 1 ? L"" : L"s");
}

int cmd_list(const struct args *args)
{
    int n = for_each_job(args->seen[OPT_ALL] > 0, print_line, NULL);

    if (n < 0) return EXIT_FAILED;
    print_job_count(n);
    return EXIT_OK;
}

/* The screen block monitor redraws: where it starts and how many rows the
 * last drawing used, so a shorter list blanks the rows left over. */
struct screen_block
{
    COORD start;
    SHORT rows;
    BOOL placed;
};

static void block_line(const WCHAR *text, void *ctx)
{
    struct screen_block *block = ctx;
    CONSOLE_SCREEN_BUFFER_INFO info;
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    DWORD written;
    size_t len = wcslen(text), width;

    if (!GetConsoleScreenBufferInfo(out, &info)) return;
    width = info.dwSize.X > 1 ? (size_t)info.dwSize.X - 1 : 79;
    if (len > width) len = width;
    WriteConsoleW(out, text, (DWORD)len, &written, NULL);
    FillConsoleOutputCharacterW(out, ' ', (DWORD)(info.dwSize.X - len),
                                (COORD){ (SHORT)len, info.dwCursorPosition.Y }, &written);
    WriteConsoleW(out, L"\n", 1, &written, NULL);
    block->rows++;
}

/* Redraws the job list in place: back to where the block started, new
 * lines over the old ones, blank rows where the old block was longer. */
static int redraw_jobs(struct screen_block *block, BOOL all_users)
{
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    CONSOLE_SCREEN_BUFFER_INFO info;
    SHORT old_rows = block->rows;
    WCHAR text[128];
    DWORD written;
    SYSTEMTIME now;
    int n;

    if (!GetConsoleScreenBufferInfo(out, &info)) return -1;
    if (!block->placed) block->start = info.dwCursorPosition;
    block->placed = TRUE;
    SetConsoleCursorPosition(out, block->start);
    block->rows = 0;
    GetLocalTime(&now);
    _snwprintf(text, ARRAY_SIZE(text), L"%02u:%02u:%02u  Delivery Optimization jobs (Ctrl-C to stop)",
               now.wHour, now.wMinute, now.wSecond);
    text[ARRAY_SIZE(text) - 1] = 0;
    block_line(text, block);
    if ((n = for_each_job(all_users, block_line, block)) < 0) return -1;
    _snwprintf(text, ARRAY_SIZE(text), L"%d job%ls", n, n == 1 ? L"" : L"s");
    text[ARRAY_SIZE(text) - 1] = 0;
    block_line(text, block);
    if (!GetConsoleScreenBufferInfo(out, &info)) return n;
    /* the buffer may have scrolled while we wrote: follow the block up */
    block->start.Y = info.dwCursorPosition.Y - block->rows;
    if (block->start.Y < 0) block->start.Y = 0;
    if (old_rows > block->rows)
        FillConsoleOutputCharacterW(out, ' ', (DWORD)(old_rows - block->rows) * info.dwSize.X,
                                    info.dwCursorPosition, &written);
    return n;
}

static void print_jobs_block(BOOL all_users)
{
    SYSTEMTIME now;
    int n;

    GetLocalTime(&now);
    out_printf(L"%02u:%02u:%02u\n", now.wHour, now.wMinute, now.wSecond);
    if ((n = for_each_job(all_users, print_line, NULL)) >= 0) print_job_count(n);
}

static int monitor_all(void)
{
    struct screen_block block = { { 0, 0 }, 0, FALSE };

    for (;;)
    {
        if (output_is_terminal())
        {
            if (redraw_jobs(&block, FALSE) < 0) return EXIT_FAILED;
        }
        else print_jobs_block(FALSE);
        if (sleep_interruptible(1000)) return EXIT_INTERRUPTED;
    }
}

int cmd_monitor(const struct args *args)
{
    IBackgroundCopyJob *job;
    GUID id;
    int status;

    if (!args->count) return monitor_all();
    if ((status = find_job(args->pos[0], &job, &id, FALSE)) != EXIT_OK) return status;
    status = wait_for_job(&job, &id, WAIT_WATCHES_JOB, L"transfer");
    IBackgroundCopyJob_Release(job);
    return status;
}

/* ------------------------------------------------------------ transfer */

static int add_transfer_files(IBackgroundCopyJob *job, const struct args *args)
{
    WCHAR path[MAX_PATH];
    HRESULT hr;
    int i;

    for (i = 1; i + 1 < args->count; i += 2)
    {
        if (!full_path(args->pos[i + 1], path, ARRAY_SIZE(path)))
            return usage_error(args->verb, L"bad local file name '%ls'", args->pos[i + 1]);
        if (FAILED(hr = add_file(job, args->pos[i], path, 0, NULL)))
            return report_failure(hr, L"adding %ls to the job", args->pos[i]);
        out_printf(L"%ls -> %ls\n", args->pos[i], path);
    }
    return EXIT_OK;
}

static int run_transfer(IBackgroundCopyJob **job, const GUID *id, const struct job_options *options,
                        const struct args *args)
{
    ULONGLONG start = GetTickCount64();
    HRESULT hr;
    int status;

    if (FAILED(hr = apply_job_options(*job, options)))
        return report_failure(hr, L"setting up the job");
    if ((status = add_transfer_files(*job, args)) != EXIT_OK) return status;
    if (FAILED(hr = IBackgroundCopyJob_Resume(*job))) return report_failure(hr, L"resuming the job");
    /* the wait may reconnect to a restarted service: a new job proxy */
    if ((status = wait_for_job(job, id, WAIT_OWNS_JOB, L"transfer")) != EXIT_OK) return status;
    print_summary(*job, start);
    return complete_job(*job, id);
}

int cmd_transfer(const struct args *args)
{
    struct job_options options = { BG_JOB_PRIORITY_FOREGROUND };
    IBackgroundCopyManager *manager;
    IBackgroundCopyJob *job;
    WCHAR text[40];
    HRESULT hr;
    GUID id;
    int status;

    if (args->count % 2 != 1) return usage_error(args->verb, L"each URL needs a FILE");
    if (!parse_job_options(args, &options)) return EXIT_USAGE;
    if (FAILED(hr = get_manager(&manager)))
        return report_failure(hr, L"connecting to the Delivery Optimization service");
    hr = IBackgroundCopyManager_CreateJob(manager, args->pos[0], BG_JOB_TYPE_DOWNLOAD, &id, &job);
    if (FAILED(hr)) return report_failure(hr, L"creating job '%ls'", args->pos[0]);
    set_blanket(job);
    guid_to_string(&id, text, ARRAY_SIZE(text));
    out_printf(L"job %ls '%ls'\n", text, args->pos[0]);
    status = run_transfer(&job, &id, &options, args);
    /* a failed transfer leaves nothing behind; an interrupted one stays,
     * suspended, for "doadmin resume" */
    if (status != EXIT_OK && status != EXIT_INTERRUPTED && SUCCEEDED(IBackgroundCopyJob_Cancel(job)))
        err_printf(L"cancelled job %ls\n", text);
    IBackgroundCopyJob_Release(job);
    return status;
}
