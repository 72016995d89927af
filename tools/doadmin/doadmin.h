/*
 * doadmin: command-line client of the Delivery Optimization service
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

#ifndef DOADMIN_H
#define DOADMIN_H

#define COBJMACROS
#include <windows.h>
#include <objbase.h>

#include "deliveryoptimization.h"
#include "deliveryoptimizationerrors.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Exit statuses; 130 is what a shell reports for a SIGINT'd command. */
#define EXIT_OK          0
#define EXIT_FAILED      1
#define EXIT_USAGE       2
#define EXIT_INTERRUPTED 130

/* ------------------------------------------------------------ main.c */

/* Command-line options, after parsing.  Options may come before, between
 * or after the positional arguments; "--" ends them.  Each verb accepts a
 * subset (see main.c). */
enum option_id
{
    OPT_RANGES,         /* --ranges off:len,... */
    OPT_ALL,            /* --all */
    OPT_WAIT,           /* --wait */
    OPT_FOREGROUND,     /* --foreground */
    OPT_HEADER,         /* --header "Name: value", repeatable */
    OPT_PRIORITY,       /* --priority foreground|high|normal|low */
    OPT_TIMEOUT,        /* --no-progress-timeout SECONDS */
    OPT_DELAY_FG,       /* --delay-foreground SECONDS */
    OPT_DELAY_BG,       /* --delay-background SECONDS */
    OPT_CLEAR,          /* --clear */
    OPT_WAIT_TIMEOUT,   /* --timeout SECONDS */
    OPT_COUNT
};

#define MAX_POSITIONAL 64
#define MAX_OPTION_VALUES 32

struct args
{
    const WCHAR *verb;
    int count;                                  /* positional arguments */
    const WCHAR *pos[MAX_POSITIONAL];
    int seen[OPT_COUNT];                        /* how often each option was given */
    const WCHAR *values[OPT_COUNT][MAX_OPTION_VALUES];
};

/* The value of an option (the last one given), or NULL. */
const WCHAR *option_value(const struct args *args, enum option_id id);

/* ------------------------------------------------------------ output.c */

void output_init(void);
BOOL output_is_terminal(void);
/* stdout / stderr; UTF-8 when not a console.  Any pending progress line is
 * finished first, so messages never land in the middle of one. */
void out_printf(const WCHAR *fmt, ...);
void err_printf(const WCHAR *fmt, ...);
/* A progress line: redrawn in place on a terminal, a new line otherwise. */
void progress_show(const WCHAR *line);
void progress_end(void);

/* Ctrl-C / Ctrl-Break: set by the console handler, waited on by the
 * polling loops. */
void interrupt_init(void);
BOOL interrupted(void);
/* Sleeps up to ms; TRUE if Ctrl-C came in meanwhile. */
BOOL sleep_interruptible(DWORD ms);

/* "12.3 MiB" */
void format_bytes(WCHAR *buf, size_t count, UINT64 bytes);
void format_duration(WCHAR *buf, size_t count, double seconds);

/* Transfer rate over the last few seconds of samples. */
struct rate_meter
{
    ULONGLONG ticks[16];
    UINT64 bytes[16];
    unsigned int next, used;
};

void rate_meter_add(struct rate_meter *meter, UINT64 bytes);
double rate_meter_rate(const struct rate_meter *meter);   /* bytes per second, 0 if unknown */

/* One progress line: percent, bytes, rate, ETA and the state (plus an
 * optional note such as a transient error).  total is UINT64_MAX when not
 * yet known. */
void format_progress(WCHAR *buf, size_t count, UINT64 done, UINT64 total, double rate,
                     const WCHAR *state, const WCHAR *note);

/* ------------------------------------------------------------ errors.c */

/* "0x80D02013 DO_E_INVALID_STATE: <service text>" */
void describe_hresult(HRESULT hr, WCHAR *buf, size_t count);
/* Prints "error: <what> failed: <description>" and returns EXIT_FAILED. */
int report_failure(HRESULT hr, const WCHAR *what_fmt, ...);
/* Prints "error: <message>" and returns EXIT_FAILED. */
int report_error(const WCHAR *fmt, ...);
/* Prints "error: <message>" plus a pointer to the verb's help; EXIT_USAGE. */
int usage_error(const WCHAR *verb, const WCHAR *fmt, ...);

/* ------------------------------------------------------------ com.c */

/* The BITS-style manager of DoSvc, created on first use and kept; errors.c
 * also uses it for GetErrorDescription. */
HRESULT get_manager(IBackgroundCopyManager **manager);
/* The IDOManager of DoSvc (a new reference). */
HRESULT get_do_manager(IDOManager **manager);
void release_managers(void);
/* After the service process went away: a new manager (activating the
 * service again) and the job with this id from it. */
HRESULT reconnect_job(const GUID *id, IBackgroundCopyJob **job);
HRESULT set_blanket(void *proxy);

/* Finds a job by {GUID} (braces optional) or by display name.  Prints the
 * failure and returns its exit status, or EXIT_OK with *job set.  With
 * quiet_not_found, a job that does not exist is not reported: the result
 * is then FIND_NOT_FOUND, so the caller can look for a download instead. */
#define FIND_NOT_FOUND (-1)
int find_job(const WCHAR *spec, IBackgroundCopyJob **job, GUID *id, BOOL quiet_not_found);
/* Finds an IDODownload by its Id property; S_OK, DO_E_JOB_NOT_FOUND or the
 * failure that stopped the search. */
HRESULT find_download(const WCHAR *id, IDODownload **download);

void guid_to_string(const GUID *id, WCHAR *buf, size_t count);
const WCHAR *job_state_name(BG_JOB_STATE state);
const WCHAR *download_state_name(DODownloadState state);
const WCHAR *priority_name(BG_JOB_PRIORITY priority);

/* A local file name made absolute (the service refuses relative ones). */
BOOL full_path(const WCHAR *name, WCHAR *buf, size_t count);

/* "off:len,off:len|off:eof,..." into a new array (free() it).  Prints a
 * usage error and returns FALSE if the text is malformed. */
BOOL parse_ranges(const WCHAR *verb, const WCHAR *text, BG_FILE_RANGE **ranges, DWORD *count);

/* ------------------------------------------------------------ wait.c */

/* How a wait reacts to Ctrl-C: the verbs that run a job to its end own it
 * and suspend (or pause) it; monitor only watches. */
enum wait_owner
{
    WAIT_OWNS_JOB,
    WAIT_WATCHES_JOB
};

/* --timeout: the waits below give up after that many seconds (0: never),
 * saying where the job stood and why. */
void set_wait_limit(ULONG seconds);

/* Polls the job, showing progress, until it is TRANSFERRED (EXIT_OK), in
 * ERROR or gone (EXIT_FAILED, reason printed), past the --timeout
 * (EXIT_FAILED) or Ctrl-C (EXIT_INTERRUPTED).  A TRANSIENT_ERROR shows its
 * reason, when the next try comes and when the service gives up.  what
 * names the operation in a failure message. */
int wait_for_job(IBackgroundCopyJob **job, const GUID *id, enum wait_owner owner, const WCHAR *what);
/* The same for an IDODownload, until Transferred.  A download waiting to
 * retry shows the error that stopped it and when the service gives up; the
 * API does not tell when it retries. */
int wait_for_download(IDODownload *download, const WCHAR *id, const WCHAR *what);

/* ------------------------------------------------------------ jobs.c, download.c */

int cmd_create(const struct args *args);
int cmd_addfile(const struct args *args);
int cmd_resume(const struct args *args);
int cmd_suspend(const struct args *args);
int cmd_cancel(const struct args *args);
int cmd_complete(const struct args *args);
int cmd_getstate(const struct args *args);
int cmd_info(const struct args *args);
int cmd_list(const struct args *args);
int cmd_monitor(const struct args *args);
int cmd_transfer(const struct args *args);
int cmd_download(const struct args *args);
int cmd_cachehost(const struct args *args);   /* policy.c */
/* resume / cancel of an IDODownload, for a JOB that is no BITS-style job */
int resume_download(const WCHAR *spec);
int cancel_download(const WCHAR *spec);

#endif /* DOADMIN_H */
