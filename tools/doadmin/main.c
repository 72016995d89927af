/*
 * doadmin: command-line client of the Delivery Optimization service --
 * verbs, argument parsing and help
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
 * doadmin talks to CLSID_DeliveryOptimization out of process, as any
 * client of DoSvc does, so the same binary works under Wine (against
 * wine-dosvc) and on Windows (against Microsoft's DoSvc).  Verbs take the
 * form "doadmin VERB ARGS [--options]"; each file here holds one part:
 * jobs.c the BITS-style verbs, download.c the IDOManager verb, wait.c the
 * progress loops, com.c activation and lookups, errors.c error texts,
 * output.c the console.
 */

#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include "doadmin.h"

#define OPT_BIT(id) (1u << (id))

struct verb
{
    const WCHAR *name;
    int (*run)(const struct args *args);
    int min_args, max_args;     /* positional arguments; -1 = no limit */
    unsigned int options;       /* OPT_BIT()s accepted */
    const WCHAR *synopsis;      /* arguments, for the usage lines */
    const WCHAR *summary;       /* one line for "doadmin --help" */
    const WCHAR *help;          /* the rest of "doadmin VERB --help" */
};

static const WCHAR *option_names[OPT_COUNT] =
{
    L"ranges", L"all", L"wait", L"foreground", L"header", L"priority", L"no-progress-timeout",
    L"delay-foreground", L"delay-background", L"clear", L"timeout",
};

static const BOOL option_takes_value[OPT_COUNT] =
{
    TRUE, FALSE, FALSE, FALSE, TRUE, TRUE, TRUE, TRUE, TRUE, FALSE, TRUE,
};

static const WCHAR timeout_help[] =
    L"  --no-progress-timeout SECONDS\n"
    L"                 put the job in ERROR (DO_E_DOWNLOAD_NO_PROGRESS) when no\n"
    L"                 byte arrived for that long, instead of retrying for the\n"
    L"                 service's default (an hour, a day for low priority).\n";

static const WCHAR wait_timeout_help[] =
    L"  --timeout SECONDS\n"
    L"                 stop waiting after that long, with the state and the reason\n"
    L"                 it is not done; exit status 1.  Without it the wait ends\n"
    L"                 when the service gives up (the no-progress timeout).\n";

static const WCHAR ranges_help[] =
    L"  --ranges LIST  download only these byte ranges of the remote file, written\n"
    L"                 back to back into FILE in offset order.  LIST is\n"
    L"                 OFFSET:LENGTH[,OFFSET:LENGTH...]; LENGTH may be \"eof\" (up to\n"
    L"                 the end of the file).  Numbers are decimal or 0x-hex, with an\n"
    L"                 optional K, M or G suffix (KiB, MiB, GiB).\n";

static const struct verb verbs[] =
{
    {
        L"create", cmd_create, 1, 1, OPT_BIT(OPT_PRIORITY) | OPT_BIT(OPT_TIMEOUT),
        L"NAME [--priority P] [--no-progress-timeout SECONDS]",
        L"create a download job (suspended); prints its {GUID}",
        L"Creates an empty BITS-style download job named NAME and prints its\n"
        L"identifier, a {GUID}, alone on one line, so scripts can capture it.\n"
        L"The job starts out SUSPENDED: add files with addfile, then resume it.\n"
        L"Several jobs may have the same name; the {GUID} always tells them apart.\n"
        L"\n"
        L"  --priority P   foreground, high, normal (the default) or low.  Delivery\n"
        L"                 Optimization downloads foreground jobs at full speed and\n"
        L"                 the others in the background.\n"
        L"%ls"
        L"\n"
        L"Example:\n"
        L"  doadmin create nightly\n"
    },
    {
        L"addfile", cmd_addfile, 3, 3, OPT_BIT(OPT_RANGES),
        L"JOB URL FILE [--ranges LIST]",
        L"add a file to a job",
        L"Adds the remote file URL (http or https) to the job, to be saved as\n"
        L"FILE.  A relative FILE is taken from the current directory; its directory\n"
        L"must exist.  The file appears under its name only when the job is\n"
        L"completed (see complete).\n"
        L"\n"
        L"%ls"
        L"\n"
        L"Examples:\n"
        L"  doadmin addfile nightly http://example.com/a.iso C:\\downloads\\a.iso\n"
        L"  doadmin addfile nightly http://example.com/a.iso head.bin --ranges 0:64K,1M:eof\n"
    },
    {
        L"resume", cmd_resume, 1, 1, OPT_BIT(OPT_WAIT) | OPT_BIT(OPT_WAIT_TIMEOUT),
        L"JOB [--wait [--timeout SECONDS]]",
        L"start a job, or restart it after suspend or an error",
        L"Queues the job for transfer and returns at once; the service downloads\n"
        L"in the background.  A job without files cannot be resumed.\n"
        L"\n"
        L"  --wait         stay and show progress until the job is transferred,\n"
        L"                 then complete it (what transfer does for a new job).\n"
        L"  --timeout SECONDS\n"
        L"                 with --wait: stop waiting after that long (the job stays).\n"
        L"\n"
        L"JOB may also be the id of an IDOManager download paused by Ctrl-C in\n"
        L"doadmin download; such a download is continued here to its end and\n"
        L"finalized, since nothing else would finalize it.\n"
        L"\n"
        L"Example:\n"
        L"  doadmin resume {5D7E3E0A-3C8B-4A43-9E1F-1B7A0C2D9E11}\n"
    },
    {
        L"suspend", cmd_suspend, 1, 1, 0,
        L"JOB",
        L"pause a job",
        L"Stops the job's transfer; what was downloaded so far is kept, and\n"
        L"resume continues from there.\n"
    },
    {
        L"cancel", cmd_cancel, 1, 1, 0,
        L"JOB",
        L"cancel a job and delete its temporary files",
        L"Removes the job for good.  Files it had not completed are deleted;\n"
        L"files of earlier, completed jobs are not touched.  JOB may also be the id\n"
        L"of an IDOManager download, which is aborted.\n"
    },
    {
        L"complete", cmd_complete, 1, 1, 0,
        L"JOB",
        L"end a job: its transferred files appear under their names",
        L"Ends the job.  Every file that was transferred in full is renamed from\n"
        L"its temporary name to the name given to addfile; files not transferred\n"
        L"in full are deleted.  Run it once getstate says TRANSFERRED.\n"
    },
    {
        L"getstate", cmd_getstate, 1, 1, 0,
        L"JOB",
        L"print the job's state",
        L"Prints one word: QUEUED, TRANSFERRING, SUSPENDED, ERROR,\n"
        L"TRANSIENT_ERROR or TRANSFERRED.  Completed and cancelled jobs no longer\n"
        L"exist: asking for one fails with DO_E_JOB_NOT_FOUND.\n"
    },
    {
        L"info", cmd_info, 1, 1, 0,
        L"JOB",
        L"print everything about a job",
        L"Prints the job's id, name, state, priority, progress, times and files,\n"
        L"one \"key: value\" per line, and in ERROR or TRANSIENT_ERROR the error\n"
        L"with the service's description of it.\n"
    },
    {
        L"list", cmd_list, 0, 0, OPT_BIT(OPT_ALL),
        L"[--all]",
        L"list jobs",
        L"Prints one line per job: {GUID}, state, files done/total, bytes\n"
        L"done/total and name, then the number of jobs.\n"
        L"\n"
        L"  --all          jobs of every user, with each job's owner (needs\n"
        L"                 administrator rights on Windows).\n"
    },
    {
        L"monitor", cmd_monitor, 0, 1, OPT_BIT(OPT_WAIT_TIMEOUT),
        L"[JOB] [--timeout SECONDS]",
        L"watch one job, or all jobs, until Ctrl-C",
        L"With JOB: shows the job's progress until it is TRANSFERRED (exit status\n"
        L"0) or fails (1).  Without: shows every job, refreshed each second, until\n"
        L"Ctrl-C.  Ctrl-C only stops watching; the jobs go on.  With --timeout\n"
        L"SECONDS watching JOB ends after that long (exit status 1).\n"
    },
    {
        L"transfer", cmd_transfer, 3, -1, OPT_BIT(OPT_PRIORITY) | OPT_BIT(OPT_TIMEOUT) | OPT_BIT(OPT_WAIT_TIMEOUT),
        L"NAME URL FILE [URL FILE...] [--priority P] [--no-progress-timeout SECONDS]\n"
        L"                [--timeout SECONDS]",
        L"create, add, resume, wait and complete in one go",
        L"Creates a job named NAME with the given files, resumes it, shows its\n"
        L"progress and completes it once every file is transferred.  If the job\n"
        L"fails (or --timeout passes) it is cancelled and the reason printed.\n"
        L"While the service waits to retry, the progress line says why and when\n"
        L"the next try comes.  Ctrl-C suspends the job and prints how to resume\n"
        L"it; the exit status is then 130.\n"
        L"\n"
        L"  --priority P   as for create; transfer defaults to foreground.\n"
        L"%ls"
        L"%ls"
        L"\n"
        L"Example:\n"
        L"  doadmin transfer iso http://example.com/a.iso C:\\downloads\\a.iso\n"
    },
    {
        L"download", cmd_download, 2, 2,
        OPT_BIT(OPT_RANGES) | OPT_BIT(OPT_FOREGROUND) | OPT_BIT(OPT_HEADER) | OPT_BIT(OPT_WAIT_TIMEOUT),
        L"URL FILE [--ranges LIST] [--foreground] [--header \"Name: value\"]...\n"
        L"                [--timeout SECONDS]",
        L"download one file through IDOManager / IDODownload",
        L"Uses the newer Delivery Optimization interface: creates an IDODownload,\n"
        L"sets its Uri and LocalPath, starts it, shows its progress and finalizes\n"
        L"it once it is transferred.  If it fails (or --timeout passes) it is\n"
        L"aborted and the reason printed; while the service waits to retry, the\n"
        L"progress line says why.  Ctrl-C pauses the download and prints how to\n"
        L"resume it.\n"
        L"\n"
        L"%ls"
        L"  --foreground   download at foreground priority (default: background).\n"
        L"  --header H     send the extra HTTP request header H, \"Name: value\";\n"
        L"                 may be given several times.\n"
        L"%ls"
        L"\n"
        L"Example:\n"
        L"  doadmin download http://example.com/a.iso a.iso --foreground\n"
    },
    {
        L"cachehost", cmd_cachehost, 0, 1, OPT_BIT(OPT_DELAY_FG) | OPT_BIT(OPT_DELAY_BG) | OPT_BIT(OPT_CLEAR),
        L"[HOSTS [--delay-foreground S] [--delay-background S] | --clear]",
        L"show or set the cache servers downloads go through",
        L"Without arguments, prints the cache server policy: DOCacheHost,\n"
        L"DOCacheHostSource, the two fallback delays and DODownloadMode, from\n"
        L"HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\DeliveryOptimization, as\n"
        L"Windows' Group Policy writes them.  With HOSTS, sets DOCacheHost: one or\n"
        L"more cache servers, host or host:port, separated by commas, tried in\n"
        L"that order.  The service applies a change to the next download; nothing\n"
        L"needs a restart.  Writing the policy needs administrator rights.\n"
        L"\n"
        L"  --delay-foreground S, --delay-background S\n"
        L"                 seconds a foreground / background download keeps trying\n"
        L"                 the cache servers before it falls back to the origin\n"
        L"                 (0 to 2592000; not set or 0: at once).\n"
        L"  --clear        remove DOCacheHost, DOCacheHostSource and both delays.\n"
        L"\n"
        L"Example:\n"
        L"  doadmin cachehost cache1.example.com,10.0.0.7:8080 --delay-background 60\n"
    },
};

static const struct verb *find_verb(const WCHAR *name)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(verbs); i++)
        if (!wcscmp(verbs[i].name, name)) return &verbs[i];
    return NULL;
}

static void print_usage(void)
{
    size_t i;

    out_printf(L"usage: doadmin VERB [ARGUMENTS]\n"
               L"       doadmin VERB --help\n"
               L"\n"
               L"Drives the Delivery Optimization service (DoSvc).  JOB is a job's\n"
               L"display name or its {GUID}.\n"
               L"\n");
    for (i = 0; i < ARRAY_SIZE(verbs); i++)
    {
        if (verbs[i].run == cmd_download) out_printf(L"\nIDOManager downloads:\n");
        else if (verbs[i].run == cmd_cachehost) out_printf(L"\nPolicy:\n");
        else if (!i) out_printf(L"BITS-style jobs:\n");
        out_printf(L"  %-9ls %ls\n", verbs[i].name, verbs[i].summary);
    }
    out_printf(L"\n"
               L"Exit status: 0 on success; 1 on failure, with one line\n"
               L"\"error: WHAT failed: 0xCODE NAME: DESCRIPTION\" on stderr; 2 for wrong\n"
               L"usage; 130 when interrupted by Ctrl-C.\n");
}

static void print_verb_help(const struct verb *verb)
{
    out_printf(L"usage: doadmin %ls %ls\n\n", verb->name, verb->synopsis);
    out_printf(L"%ls: %ls.\n\n", verb->name, verb->summary);
    /* a help text has one %ls where a shared paragraph goes: --ranges for
     * the verbs that take it, --no-progress-timeout for the others */
    out_printf(verb->help, verb->options & OPT_BIT(OPT_RANGES) ? ranges_help : timeout_help, wait_timeout_help);
}

const WCHAR *option_value(const struct args *args, enum option_id id)
{
    return args->seen[id] ? args->values[id][args->seen[id] - 1] : NULL;
}

static BOOL is_help_option(const WCHAR *arg)
{
    return !wcscmp(arg, L"--help") || !wcscmp(arg, L"-h") || !wcscmp(arg, L"/?");
}

/* Recognises "--name" and "--name=value"; returns the option or -1. */
static int match_option(const WCHAR *arg, const WCHAR **inline_value)
{
    size_t len;
    int i;

    *inline_value = NULL;
    for (i = 0; i < OPT_COUNT; i++)
    {
        len = wcslen(option_names[i]);
        if (wcsncmp(arg + 2, option_names[i], len)) continue;
        if (!arg[2 + len]) return i;
        if (arg[2 + len] == '=')
        {
            *inline_value = arg + 3 + len;
            return i;
        }
    }
    return -1;
}

static int parse_args(const struct verb *verb, int argc, WCHAR **argv, struct args *args)
{
    const WCHAR *value;
    BOOL options_done = FALSE;
    int i, id;

    memset(args, 0, sizeof(*args));
    args->verb = verb->name;
    for (i = 0; i < argc; i++)
    {
        if (options_done || argv[i][0] != '-' || !argv[i][1])
        {
            if (args->count == MAX_POSITIONAL) return usage_error(verb->name, L"too many arguments");
            args->pos[args->count++] = argv[i];
            continue;
        }
        if (!wcscmp(argv[i], L"--"))
        {
            options_done = TRUE;
            continue;
        }
        id = argv[i][1] == '-' ? match_option(argv[i], &value) : -1;
        if (id < 0 || !(verb->options & OPT_BIT(id)))
            return usage_error(verb->name, L"unknown option '%ls'", argv[i]);
        if (option_takes_value[id] && !value)
        {
            if (i + 1 == argc) return usage_error(verb->name, L"option '%ls' needs a value", argv[i]);
            value = argv[++i];
        }
        else if (!option_takes_value[id] && value)
            return usage_error(verb->name, L"option '--%ls' takes no value", option_names[id]);
        if (args->seen[id] == MAX_OPTION_VALUES)
            return usage_error(verb->name, L"option '--%ls' given too often", option_names[id]);
        args->values[id][args->seen[id]++] = value;
    }
    if (args->count < verb->min_args) return usage_error(verb->name, L"missing arguments");
    if (verb->max_args >= 0 && args->count > verb->max_args)
        return usage_error(verb->name, L"too many arguments");
    return EXIT_OK;
}

static int run_verb(const struct verb *verb, int argc, WCHAR **argv)
{
    const WCHAR *value;
    struct args args;
    WCHAR *end;
    ULONG seconds;
    HRESULT hr;
    int i, status;

    for (i = 0; i < argc; i++)
    {
        if (!wcscmp(argv[i], L"--")) break;
        if (!is_help_option(argv[i])) continue;
        print_verb_help(verb);
        return EXIT_OK;
    }
    if ((status = parse_args(verb, argc, argv, &args)) != EXIT_OK) return status;
    if ((value = option_value(&args, OPT_WAIT_TIMEOUT)))
    {
        seconds = wcstoul(value, &end, 10);
        if (value[0] < '0' || value[0] > '9' || *end || !seconds)
            return usage_error(verb->name, L"bad --timeout '%ls' (want a number of seconds)", value);
        set_wait_limit(seconds);
    }

    /* DoSvc's proxies need no apartment thread; the MTA spares us a
     * message loop while we poll. */
    hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);
    if (FAILED(hr)) return report_failure(hr, L"initializing COM");
    status = verb->run(&args);
    release_managers();
    CoUninitialize();
    return status;
}

int wmain(int argc, WCHAR **argv)
{
    const struct verb *verb;

    output_init();
    interrupt_init();
    if (argc < 2)
    {
        print_usage();
        return EXIT_USAGE;
    }
    if (is_help_option(argv[1]) || !wcscmp(argv[1], L"help"))
    {
        if (argc > 2 && (verb = find_verb(argv[2])))
            print_verb_help(verb);
        else
            print_usage();
        return EXIT_OK;
    }
    if (!(verb = find_verb(argv[1])))
    {
        err_printf(L"error: unknown verb '%ls' (see doadmin --help)\n", argv[1]);
        return EXIT_USAGE;
    }
    return run_verb(verb, argc - 2, argv + 2);
}
