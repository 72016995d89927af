/*
 * The doadmin command-line client, run as a child process: exit statuses,
 * output of its verbs, transfers through the loopback server, error texts
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
 * doadmin.exe is found through DOADMIN_EXE (tools/run-tests sets it), else
 * next to this program's build directory (..\tools\doadmin.exe); without it
 * the test is skipped.  Its stdout and stderr are pipes, so it writes
 * UTF-8 and its progress comes as plain lines, one per second or so; the
 * checks below read both streams after the child exits.  The child talks to
 * the same DoSvc instance as the other tests, so job names carry this
 * process's id.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "dotest.h"

#define KIB 1024
#define MIB (1024 * 1024)

static WCHAR doadmin_exe[MAX_PATH];
static struct httpd *httpd;

struct result
{
    DWORD status;   /* exit status; ~0u if the child could not run */
    char *out;      /* stdout and stderr, CRs removed, NUL-terminated */
    char *err;
};

/* A wide string for a message: UTF-8 in one of a few rotating buffers. */
static const char *narrow(const WCHAR *text)
{
    static char buffers[4][1024];
    static LONG next;
    char *buf = buffers[InterlockedIncrement(&next) % ARRAY_SIZE(buffers)];

    if (!WideCharToMultiByte(CP_UTF8, 0, text, -1, buf, sizeof(buffers[0]), NULL, NULL))
        strcpy(buf, "(?)");
    return buf;
}

/* Is needle among the first len bytes of text? */
static BOOL find_in(const char *text, size_t len, const char *needle, size_t needle_len)
{
    size_t i;

    for (i = 0; i + needle_len <= len; i++)
        if (!memcmp(text + i, needle, needle_len)) return TRUE;
    return FALSE;
}

/* ------------------------------------------------------------ running the child */

struct reader
{
    HANDLE pipe;
    char *data;
    size_t size;
    const char *watch;  /* set seen once this text has come, or NULL */
    HANDLE seen;
};

static DWORD WINAPI reader_thread(void *arg)
{
    struct reader *reader = arg;
    char buf[4096], *grown;
    DWORD got;

    while (ReadFile(reader->pipe, buf, sizeof(buf), &got, NULL) && got)
    {
        if (!(grown = realloc(reader->data, reader->size + got + 1))) break;
        reader->data = grown;
        memcpy(reader->data + reader->size, buf, got);
        reader->size += got;
        if (reader->watch && find_in(reader->data, reader->size, reader->watch, strlen(reader->watch)))
            SetEvent(reader->seen);
    }
    return 0;
}

/* The collected bytes without CRs, so both "\n" and "\r\n" endings read the same. */
static char *reader_text(struct reader *reader)
{
    char *text = malloc(reader->size + 1), *dst = text;
    size_t i;

    for (i = 0; i < reader->size; i++)
        if (reader->data[i] != '\r') *dst++ = reader->data[i];
    *dst = 0;
    free(reader->data);
    return text;
}

static BOOL create_pipe(HANDLE *read_end, HANDLE *write_end)
{
    SECURITY_ATTRIBUTES sa = { sizeof(sa), NULL, TRUE };

    if (!CreatePipe(read_end, write_end, &sa, 0)) return FALSE;
    /* only the child's end is inherited */
    SetHandleInformation(*read_end, HANDLE_FLAG_INHERIT, 0);
    return TRUE;
}

static BOOL start_child(WCHAR *cmdline, HANDLE out, HANDLE err, DWORD flags, PROCESS_INFORMATION *pi)
{
    SECURITY_ATTRIBUTES sa = { sizeof(sa), NULL, TRUE };
    STARTUPINFOW si = { sizeof(si) };
    BOOL ret;

    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                               OPEN_EXISTING, 0, NULL);
    si.hStdOutput = out;
    si.hStdError = err;
    ret = CreateProcessW(doadmin_exe, cmdline, NULL, NULL, TRUE, flags, NULL, test_dir(), &si, pi);
    CloseHandle(si.hStdInput);
    return ret;
}

/* How a child is interrupted, the way Ctrl-C would: in a console of our
 * own, the child gets a process group of its own and Ctrl-Break.  Wine
 * started without a terminal gives us no usable console and refuses events
 * for a process group, so there we make a console and send Ctrl-C to all
 * of it, ignoring it ourselves. */
enum interrupt
{
    INTERRUPT_NONE,
    INTERRUPT_BREAK_GROUP,
    INTERRUPT_CTRL_C_ALL,
};

static DWORD child_flags(enum interrupt how)
{
    switch (how)
    {
    case INTERRUPT_BREAK_GROUP: return CREATE_NEW_PROCESS_GROUP;
    case INTERRUPT_CTRL_C_ALL: return 0;
    default: return CREATE_NO_WINDOW;
    }
}

/* Our own copy of a Ctrl-C sent to the whole console: handled (so it does
 * not end us) and signalled, so we know when it has come.  A handler
 * routine, unlike "ignore Ctrl-C", is not inherited by the child. */
static HANDLE own_ctrl_c;

static BOOL WINAPI own_ctrl_handler(DWORD type)
{
    if (type != CTRL_C_EVENT) return FALSE;
    SetEvent(own_ctrl_c);
    return TRUE;
}

static BOOL send_interrupt(enum interrupt how, DWORD pid)
{
    if (how == INTERRUPT_BREAK_GROUP) return GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid);
    if (!own_ctrl_c) own_ctrl_c = CreateEventW(NULL, TRUE, FALSE, NULL);
    ResetEvent(own_ctrl_c);
    SetConsoleCtrlHandler(own_ctrl_handler, TRUE);
    return GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0);
}

/* Waits for the child; with an interrupt, sends it once the child printed
 * the text the reader watches for (FALSE in *broken if that could not be
 * done, and the child is killed). */
static DWORD wait_child(HANDLE process, DWORD pid, DWORD timeout_ms, enum interrupt how,
                        HANDLE seen, BOOL *broken)
{
    HANDLE handles[2] = { process, seen };
    DWORD ret;

    if (how == INTERRUPT_NONE) return WaitForSingleObject(process, timeout_ms);
    if ((ret = WaitForMultipleObjects(2, handles, FALSE, timeout_ms)) != WAIT_OBJECT_0 + 1) return ret;
    if (!(*broken = send_interrupt(how, pid))) TerminateProcess(process, 255);
    ret = WaitForSingleObject(process, timeout_ms);
    if (how == INTERRUPT_CTRL_C_ALL && *broken)
    {
        /* our own copy of the event arrives on a thread of its own */
        WaitForSingleObject(own_ctrl_c, HANG_TIMEOUT_MS);
        SetConsoleCtrlHandler(own_ctrl_handler, FALSE);
    }
    return ret;
}

/* Runs "doadmin.exe ARGS" in test_dir() and collects its output; waits up to
 * timeout_ms (at least the hang guard), then kills it and fails.  With an
 * interrupt, it comes once stdout shows break_after. */
#define run_doadmin(r, timeout, ...) run_child(__LINE__, r, timeout, INTERRUPT_NONE, NULL, NULL, __VA_ARGS__)
#define run_doadmin_interrupted(r, timeout, how, break_after, broken, ...) \
    run_child(__LINE__, r, timeout, how, break_after, broken, __VA_ARGS__)
static DWORD run_child(unsigned int line, struct result *r, DWORD timeout_ms, enum interrupt how,
                       const char *break_after, BOOL *broken, const WCHAR *fmt, ...)
{
    struct reader out = { 0 }, err = { 0 };
    HANDLE out_write, err_write, threads[2];
    PROCESS_INFORMATION pi;
    WCHAR args[4096], cmdline[4400];
    va_list valist;
    BOOL started;

    timeout_ms = hang_bound(timeout_ms);
    va_start(valist, fmt);
    vswprintf(args, ARRAY_SIZE(args), fmt, valist);
    va_end(valist);
    out.watch = break_after;
    if (break_after) out.seen = CreateEventW(NULL, TRUE, FALSE, NULL);
    swprintf(cmdline, ARRAY_SIZE(cmdline), L"\"%s\" %s", doadmin_exe, args);
    r->status = ~0u;
    r->out = r->err = NULL;
    if (!create_pipe(&out.pipe, &out_write) || !create_pipe(&err.pipe, &err_write))
    {
        ok_(__FILE__, line)(0, "CreatePipe failed: %lu\n", GetLastError());
        return r->status;
    }
    started = start_child(cmdline, out_write, err_write, child_flags(how), &pi);
    /* the child holds its own copies; ours must go for the readers to see EOF */
    CloseHandle(out_write);
    CloseHandle(err_write);
    ok_(__FILE__, line)(started, "cannot run %s: %lu\n", narrow(cmdline), GetLastError());
    threads[0] = CreateThread(NULL, 0, reader_thread, &out, 0, NULL);
    threads[1] = CreateThread(NULL, 0, reader_thread, &err, 0, NULL);
    if (started)
    {
        if (wait_child(pi.hProcess, pi.dwProcessId, timeout_ms, how, out.seen, broken) != WAIT_OBJECT_0)
        {
            ok_(__FILE__, line)(0, "doadmin %s did not end within %lu ms\n", narrow(args),
                                timeout_ms);
            TerminateProcess(pi.hProcess, 255);
            WaitForSingleObject(pi.hProcess, 5000);
        }
        GetExitCodeProcess(pi.hProcess, &r->status);
        CloseHandle(pi.hProcess);
        CloseHandle(pi.hThread);
    }
    WaitForMultipleObjects(2, threads, TRUE, HANG_TIMEOUT_MS);
    CloseHandle(threads[0]);
    CloseHandle(threads[1]);
    if (out.seen) CloseHandle(out.seen);
    CloseHandle(out.pipe);
    CloseHandle(err.pipe);
    r->out = reader_text(&out);
    r->err = reader_text(&err);
    if (winetest_debug > 1)
        trace_(__FILE__, line)("doadmin %s: exit %lu\n--- stdout:\n%s--- stderr:\n%s", narrow(args),
                               r->status, r->out, r->err);
    return r->status;
}

static void free_result(struct result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* ------------------------------------------------------------ reading the output */

static BOOL contains(const char *text, const char *needle)
{
    return text && strstr(text, needle) != NULL;
}

/* The first line starting with prefix, copied into buf without the newline. */
static BOOL find_line(const char *text, const char *prefix, char *buf, size_t size)
{
    const char *line = text, *end;
    size_t len;

    while (line && *line)
    {
        end = strchr(line, '\n');
        len = end ? (size_t)(end - line) : strlen(line);
        if (!strncmp(line, prefix, strlen(prefix)))
        {
            if (len >= size) len = size - 1;
            memcpy(buf, line, len);
            buf[len] = 0;
            return TRUE;
        }
        line = end ? end + 1 : NULL;
    }
    buf[0] = 0;
    return FALSE;
}

/* The value of a "key:   value" line of info's output. */
static BOOL get_field(const char *text, const char *key, char *buf, size_t size)
{
    char line[1024];
    const char *value;

    buf[0] = 0;
    if (!find_line(text, key, line, sizeof(line))) return FALSE;
    value = line + strlen(key);
    while (*value == ' ') value++;
    snprintf(buf, size, "%s", value);
    return TRUE;
}

static unsigned int count_lines(const char *text)
{
    unsigned int n = 0;

    for (; text && *text; text++) if (*text == '\n') n++;
    return n;
}

/* Does a progress line show this state: "  STATE" at its end or before a
 * "  (note)"?  (So ERROR never matches TRANSIENT_ERROR or ERROR_WINHTTP_...) */
static BOOL line_has_state(const char *line, size_t len, const char *state)
{
    char want[64];
    size_t want_len, i;

    snprintf(want, sizeof(want), "  %s", state);
    want_len = strlen(want);
    for (i = 0; i + want_len <= len; i++)
    {
        if (memcmp(line + i, want, want_len)) continue;
        if (i + want_len == len || !memcmp(line + i + want_len, "  (", min(3, len - i - want_len)))
            return TRUE;
    }
    return FALSE;
}

/* Progress lines: "<percent>%  <done> / <total>  <rate>  ETA <eta>  <STATE>". */
static unsigned int count_progress_lines(const char *text, const char *state, char *last, size_t size)
{
    const char *line = text, *end;
    unsigned int n = 0;
    size_t len;

    if (last) last[0] = 0;
    while (line && *line)
    {
        end = strchr(line, '\n');
        len = end ? (size_t)(end - line) : strlen(line);
        if (memchr(line, '%', len) && find_in(line, len, " ETA ", 5)
            && (!state || line_has_state(line, len, state)))
        {
            n++;
            if (last) snprintf(last, size, "%.*s", (int)len, line);
        }
        line = end ? end + 1 : NULL;
    }
    return n;
}

/* "{GUID}" from create's output, which is that one line. */
static BOOL read_guid(const char *text, WCHAR *buf, size_t count)
{
    GUID guid;

    if (strlen(text) != 39 || text[0] != '{' || text[38] != '\n') return FALSE;
    swprintf(buf, count, L"%.38S", text);
    return CLSIDFromString(buf, &guid) == S_OK;
}

static void make_name(WCHAR *buf, size_t count, const WCHAR *what)
{
    static LONG counter;

    swprintf(buf, count, L"doadmin-%s-%lu-%ld", what, GetCurrentProcessId(),
             InterlockedIncrement(&counter));
}

/* Creates a job; returns FALSE (after failing a check) if that did not work. */
#define create_job_cli(name, guid, count) create_job_cli_(__LINE__, name, guid, count)
static BOOL create_job_cli_(unsigned int line, const WCHAR *name, WCHAR *guid, size_t count)
{
    struct result r;
    BOOL ret;

    run_doadmin(&r, 30000, L"create %s", name);
    ret = r.status == 0 && read_guid(r.out, guid, count);
    ok_(__FILE__, line)(ret, "create: exit %lu, stdout \"%s\", stderr \"%s\"\n", r.status, r.out, r.err);
    free_result(&r);
    return ret;
}

static void check_state(unsigned int line, const WCHAR *job, const char *want)
{
    struct result r;
    char expect[64];

    snprintf(expect, sizeof(expect), "%s\n", want);
    run_doadmin(&r, 30000, L"getstate %s", job);
    ok_(__FILE__, line)(r.status == 0 && !strcmp(r.out, expect),
                        "getstate %s: exit %lu, stdout \"%s\", stderr \"%s\", want %s\n",
                        narrow(job), r.status, r.out, r.err, want);
    free_result(&r);
}
#define check_state(job, want) check_state(__LINE__, job, want)

static void cancel_quietly(const WCHAR *job)
{
    struct result r;

    run_doadmin(&r, 30000, L"cancel %s", job);
    free_result(&r);
}

/* ------------------------------------------------------------ tests */

static const WCHAR *verb_names[] =
{
    L"create", L"addfile", L"resume", L"suspend", L"cancel", L"complete", L"getstate",
    L"info", L"list", L"monitor", L"transfer", L"download", L"cachehost",
};

static void test_help(void)
{
    char want[64], narrow[32];
    struct result r;
    unsigned int i;

    run_doadmin(&r, 30000, L"--help");
    ok(r.status == 0, "--help: exit %lu\n", r.status);
    ok(!strncmp(r.out, "usage: doadmin VERB", 19), "--help: stdout starts \"%.40s\"\n", r.out);
    for (i = 0; i < ARRAY_SIZE(verb_names); i++)
    {
        snprintf(narrow, sizeof(narrow), "%S", verb_names[i]);
        snprintf(want, sizeof(want), "\n  %s ", narrow);
        ok(contains(r.out, want), "--help does not list %s\n", narrow);
    }
    ok(!r.err[0], "--help wrote to stderr: %s\n", r.err);
    free_result(&r);

    for (i = 0; i < ARRAY_SIZE(verb_names); i++)
    {
        snprintf(narrow, sizeof(narrow), "%S", verb_names[i]);
        snprintf(want, sizeof(want), "usage: doadmin %s ", narrow);
        run_doadmin(&r, 30000, L"%s --help", verb_names[i]);
        ok(r.status == 0 && !strncmp(r.out, want, strlen(want)) && count_lines(r.out) >= 4,
           "%s --help: exit %lu, stdout \"%.60s\"\n", narrow, r.status, r.out);
        free_result(&r);
    }

    run_doadmin(&r, 30000, L"help transfer");
    ok(r.status == 0 && contains(r.out, "usage: doadmin transfer "), "help transfer: exit %lu, \"%.60s\"\n",
       r.status, r.out);
    free_result(&r);

    /* no verb at all: the usage, but as a usage error */
    run_doadmin(&r, 30000, L"");
    ok(r.status == 2 && contains(r.out, "usage: doadmin"), "no arguments: exit %lu\n", r.status);
    free_result(&r);
}

static void test_usage_errors(void)
{
    static const struct
    {
        const WCHAR *args;
        const char *message;
    }
    tests[] =
    {
        { L"frobnicate", "error: unknown verb 'frobnicate'" },
        { L"list --bogus", "error: unknown option '--bogus' (see doadmin list --help)" },
        { L"list extra", "error: too many arguments (see doadmin list --help)" },
        { L"getstate", "error: missing arguments (see doadmin getstate --help)" },
        { L"create a b", "error: too many arguments" },
        { L"create x --priority urgent", "error: unknown priority 'urgent'" },
        { L"create x --priority", "error: option '--priority' needs a value" },
        { L"list --all=yes", "error: option '--all' takes no value" },
        { L"addfile j http://x/ f --ranges 5", "error: bad range '5'" },
        { L"addfile j http://x/ f --ranges 0:10,x:eof", "error: bad range 'x:eof'" },
        { L"transfer n http://x/", "error: missing arguments" },
        { L"transfer n http://x/ a http://x/", "error: each URL needs a FILE" },
        { L"download http://x/ f --header NoColon", "error: bad header 'NoColon'" },
        { L"resume j --wait=1", "error: option '--wait' takes no value" },
        { L"create x --no-progress-timeout 0", "error: bad --no-progress-timeout '0'" },
        { L"transfer n http://x/ f --no-progress-timeout 5s", "error: bad --no-progress-timeout '5s'" },
    };
    struct result r;
    unsigned int i;

    for (i = 0; i < ARRAY_SIZE(tests); i++)
    {
        run_doadmin(&r, 30000, L"%s", tests[i].args);
        ok(r.status == 2, "%s: exit %lu, want 2\n", narrow(tests[i].args), r.status);
        ok(!strncmp(r.err, tests[i].message, strlen(tests[i].message)) && count_lines(r.err) == 1,
           "%s: stderr \"%s\", want \"%s...\"\n", narrow(tests[i].args), r.err, tests[i].message);
        ok(!r.out[0], "%s: stdout \"%s\"\n", narrow(tests[i].args), r.out);
        free_result(&r);
    }
}

static void test_create_info_list(void)
{
    WCHAR name[64], guid[40], bare[40], guid2[40], guid3[40];
    char field[512], want[256], line[512];
    struct result r;

    make_name(name, ARRAY_SIZE(name), L"jobs");
    if (!create_job_cli(name, guid, ARRAY_SIZE(guid))) return;

    check_state(name, "SUSPENDED");
    check_state(guid, "SUSPENDED");
    /* braces are optional */
    swprintf(bare, ARRAY_SIZE(bare), L"%.36s", guid + 1);
    check_state(bare, "SUSPENDED");

    run_doadmin(&r, 30000, L"info %s", guid);
    ok(r.status == 0, "info: exit %lu, stderr %s\n", r.status, r.err);
    get_field(r.out, "id:", field, sizeof(field));
    snprintf(want, sizeof(want), "%S", guid);
    ok(!strcmp(field, want), "info id: \"%s\", want %s\n", field, want);
    get_field(r.out, "name:", field, sizeof(field));
    snprintf(want, sizeof(want), "%S", name);
    ok(!strcmp(field, want), "info name: \"%s\", want %s\n", field, want);
    get_field(r.out, "state:", field, sizeof(field));
    ok(!strcmp(field, "SUSPENDED"), "info state: \"%s\"\n", field);
    get_field(r.out, "priority:", field, sizeof(field));
    ok(!strcmp(field, "NORMAL"), "info priority: \"%s\"\n", field);
    get_field(r.out, "progress:", field, sizeof(field));
    ok(!strncmp(field, "0/0 bytes", 9) && contains(field, "0/0 files"), "info progress: \"%s\"\n", field);
    get_field(r.out, "created:", field, sizeof(field));
    ok(strlen(field) == 19 && field[4] == '-' && field[13] == ':', "info created: \"%s\"\n", field);
    get_field(r.out, "completed:", field, sizeof(field));
    ok(!strcmp(field, "-"), "info completed: \"%s\"\n", field);
    ok(!find_line(r.out, "error:", field, sizeof(field)), "info of a new job shows an error: %s\n", field);
    ok(!find_line(r.out, "file 1:", field, sizeof(field)), "info of a new job shows a file: %s\n", field);
    free_result(&r);

    /* list: "{GUID}  STATE  files  bytes  name", then the count */
    run_doadmin(&r, 30000, L"list");
    snprintf(want, sizeof(want), "%S  SUSPENDED ", guid);
    ok(r.status == 0 && find_line(r.out, want, line, sizeof(line)), "list: exit %lu, no line for the job:\n%s\n",
       r.status, r.out);
    snprintf(want, sizeof(want), "  %S", name);
    ok(contains(line, "0/0 files") && contains(line, "0/0 bytes") && contains(line, want),
       "list line \"%s\"\n", line);
    ok(contains(r.out, " job\n") || contains(r.out, " jobs\n"), "list has no count line:\n%s\n", r.out);
    free_result(&r);

    run_doadmin(&r, 30000, L"list --all");
    snprintf(want, sizeof(want), "%S  ", guid);
    ok(r.status == 0 && find_line(r.out, want, line, sizeof(line)) && contains(line, "  owner: "),
       "list --all: exit %lu, line \"%s\"\n", r.status, line);
    free_result(&r);

    /* an empty job cannot be resumed: the service's code, name and text */
    run_doadmin(&r, 30000, L"resume %s", name);
    snprintf(want, sizeof(want), "error: resuming job %S failed: 0x80D02004 DO_E_JOB_EMPTY: ", guid);
    ok(r.status == 1, "resume empty: exit %lu\n", r.status);
    ok(!strncmp(r.err, want, strlen(want)) && strlen(r.err) > strlen(want) + 5 && count_lines(r.err) == 1,
       "resume empty: stderr \"%s\"\n", r.err);
    free_result(&r);

    /* suspending a suspended job is fine */
    run_doadmin(&r, 30000, L"suspend %s", guid);
    snprintf(want, sizeof(want), "suspended job %S\n", guid);
    ok(r.status == 0 && !strcmp(r.out, want), "suspend: exit %lu, \"%s\" %s\n", r.status, r.out, r.err);
    free_result(&r);

    /* a second job of the same name makes the name ambiguous */
    if (create_job_cli(name, guid2, ARRAY_SIZE(guid2)))
    {
        run_doadmin(&r, 30000, L"getstate %s", name);
        ok(r.status == 1 && !strncmp(r.err, "error: 2 jobs are named", 23), "ambiguous: exit %lu, %s\n",
           r.status, r.err);
        snprintf(want, sizeof(want), "  %S\n", guid2);
        ok(contains(r.err, want), "ambiguous: the ids are not listed: %s\n", r.err);
        free_result(&r);
        cancel_quietly(guid2);
    }

    /* --priority */
    make_name(name, ARRAY_SIZE(name), L"prio");
    run_doadmin(&r, 30000, L"create %s --priority low", name);
    ok(r.status == 0 && read_guid(r.out, guid3, ARRAY_SIZE(guid3)), "create --priority: exit %lu %s\n",
       r.status, r.err);
    free_result(&r);
    run_doadmin(&r, 30000, L"info %s", name);
    get_field(r.out, "priority:", field, sizeof(field));
    ok(r.status == 0 && !strcmp(field, "LOW"), "priority: exit %lu, \"%s\"\n", r.status, field);
    free_result(&r);
    cancel_quietly(name);

    /* --no-progress-timeout */
    make_name(name, ARRAY_SIZE(name), L"timeout");
    run_doadmin(&r, 30000, L"create %s --no-progress-timeout 90", name);
    ok(r.status == 0, "create --no-progress-timeout: exit %lu %s\n", r.status, r.err);
    free_result(&r);
    run_doadmin(&r, 30000, L"info %s", name);
    get_field(r.out, "no-progress:", field, sizeof(field));
    ok(r.status == 0 && !strcmp(field, "90 s"), "no-progress timeout: exit %lu, \"%s\"\n", r.status, field);
    free_result(&r);
    cancel_quietly(name);

    /* cancel, then the job is gone */
    run_doadmin(&r, 30000, L"cancel %s", guid);
    snprintf(want, sizeof(want), "cancelled job %S\n", guid);
    ok(r.status == 0 && !strcmp(r.out, want), "cancel: exit %lu, \"%s\" %s\n", r.status, r.out, r.err);
    free_result(&r);
    run_doadmin(&r, 30000, L"getstate %s", guid);
    snprintf(want, sizeof(want), "error: finding job %S failed: 0x80D02003 DO_E_JOB_NOT_FOUND: ", guid);
    ok(r.status == 1 && !strncmp(r.err, want, strlen(want)) && !r.out[0],
       "getstate after cancel: exit %lu, stderr \"%s\"\n", r.status, r.err);
    free_result(&r);
    run_doadmin(&r, 30000, L"cancel %s", guid);
    ok(r.status == 1 && contains(r.err, "0x80D02003 DO_E_JOB_NOT_FOUND"), "second cancel: exit %lu, %s\n",
       r.status, r.err);
    free_result(&r);
    run_doadmin(&r, 30000, L"info %s", name);
    ok(r.status == 1 && contains(r.err, "error: finding job '") && contains(r.err, "DO_E_JOB_NOT_FOUND"),
       "info of an unknown name: exit %lu, %s\n", r.status, r.err);
    free_result(&r);
}

/* addfile, resume, monitor, complete; then ranges and the failures addfile reports */
static void test_addfile_complete(void)
{
    static const BG_FILE_RANGE ranges[] = { { 0, 1000 }, { 100 * KIB, BG_LENGTH_TO_EOF } };
    WCHAR name[64], guid[40], url[256], path[MAX_PATH];
    char want[512], line[512], field[512];
    struct result r;
    UINT64 bad;

    httpd_add_generated(httpd, "cli-small", 256 * KIB);
    make_url(url, ARRAY_SIZE(url), httpd, "/cli-small");
    make_name(name, ARRAY_SIZE(name), L"add");
    if (!create_job_cli(name, guid, ARRAY_SIZE(guid))) return;

    /* a relative name is taken from the current directory (test_dir here) */
    run_doadmin(&r, 30000, L"addfile %s %s small.bin", guid, url);
    make_test_path(path, ARRAY_SIZE(path), L"small.bin");
    snprintf(want, sizeof(want), "added %S as %S\n", url, path);
    ok(r.status == 0 && !strcmp(r.out, want), "addfile: exit %lu, \"%s\", stderr %s\n", r.status, r.out, r.err);
    free_result(&r);
    check_state(guid, "SUSPENDED");

    run_doadmin(&r, 30000, L"info %s", guid);
    get_field(r.out, "file 1:", field, sizeof(field));
    snprintf(want, sizeof(want), "%S", url);
    ok(!strcmp(field, want), "info file 1: \"%s\"\n", field);
    get_field(r.out, "  saved as:", field, sizeof(field));
    snprintf(want, sizeof(want), "%S", path);
    ok(!strcmp(field, want), "info saved as: \"%s\"\n", field);
    free_result(&r);

    run_doadmin(&r, 30000, L"resume %s", name);
    snprintf(want, sizeof(want), "resumed job %S\n", guid);
    ok(r.status == 0 && !strcmp(r.out, want), "resume: exit %lu, \"%s\" %s\n", r.status, r.out, r.err);
    free_result(&r);

    /* monitor JOB returns once the job is transferred */
    run_doadmin(&r, 120000, L"monitor %s", guid);
    ok(r.status == 0, "monitor: exit %lu, stderr %s\n", r.status, r.err);
    ok(count_progress_lines(r.out, "TRANSFERRED", line, sizeof(line)) == 1
       && !strncmp(line, "100.0%  256.0 KiB / 256.0 KiB  ", 31),
       "monitor: last line \"%s\"\n", line);
    free_result(&r);
    check_state(guid, "TRANSFERRED");

    /* where the bytes came from: no cache server is set up here */
    run_doadmin(&r, 30000, L"info %s", guid);
    get_field(r.out, "  sources:", field, sizeof(field));
    ok(!strcmp(field, "262144 bytes from the origin (1 request), 0 from cache servers (0 requests)"),
       "info sources: \"%s\"\n", field);
    free_result(&r);

    run_doadmin(&r, 30000, L"list");
    snprintf(want, sizeof(want), "%S  TRANSFERRED ", guid);
    ok(find_line(r.out, want, line, sizeof(line)) && contains(line, "1/1 files")
       && contains(line, "262144/262144 bytes"), "list: \"%s\"\n", line);
    free_result(&r);

    run_doadmin(&r, 30000, L"complete %s", guid);
    snprintf(want, sizeof(want), "completed job %S\nsaved %S\n", guid, path);
    ok(r.status == 0 && !strcmp(r.out, want), "complete: exit %lu, \"%s\" %s\n", r.status, r.out, r.err);
    free_result(&r);
    ok(file_matches_pattern(path, "cli-small", 256 * KIB, 0, NULL, &bad), "file differs at %I64u\n", bad);
    run_doadmin(&r, 30000, L"getstate %s", guid);
    ok(r.status == 1 && contains(r.err, "DO_E_JOB_NOT_FOUND"), "getstate after complete: %lu %s\n",
       r.status, r.err);
    free_result(&r);

    /* --ranges: written back to back; the file records them */
    make_name(name, ARRAY_SIZE(name), L"ranges");
    if (!create_job_cli(name, guid, ARRAY_SIZE(guid))) return;
    make_test_path(path, ARRAY_SIZE(path), L"ranges.bin");
    run_doadmin(&r, 30000, L"addfile %s %s %s --ranges 0:1000,100K:eof", guid, url, path);
    ok(r.status == 0, "addfile --ranges: exit %lu %s\n", r.status, r.err);
    free_result(&r);
    run_doadmin(&r, 30000, L"info %s", guid);
    get_field(r.out, "  ranges:", field, sizeof(field));
    ok(!strcmp(field, "0:1000,102400:eof"), "info ranges: \"%s\"\n", field);
    free_result(&r);
    run_doadmin(&r, 120000, L"resume --wait %s", guid);
    snprintf(want, sizeof(want), "completed job %S\nsaved %S\n", guid, path);
    ok(r.status == 0 && contains(r.out, want) && contains(r.out, "transferred 1 file, "),
       "resume --wait: exit %lu, \"%s\" %s\n", r.status, r.out, r.err);
    free_result(&r);
    ok(file_matches_pattern(path, "cli-small", 256 * KIB, ARRAY_SIZE(ranges), ranges, &bad),
       "ranged file differs at %I64u\n", bad);

    /* what the service refuses comes back with its code */
    make_name(name, ARRAY_SIZE(name), L"refused");
    if (!create_job_cli(name, guid, ARRAY_SIZE(guid))) return;
    run_doadmin(&r, 30000, L"addfile %s %s %s --ranges 0:100,50:100", guid, url, path);
    ok(r.status == 1 && contains(r.err, "failed: 0x80D05012 DO_E_OVERLAPPING_RANGES: "),
       "overlapping ranges: exit %lu, %s\n", r.status, r.err);
    free_result(&r);
    run_doadmin(&r, 30000, L"addfile %s ftp://127.0.0.1/x %s", guid, path);
    ok(r.status == 1 && contains(r.err, "failed: 0x80070057 E_INVALIDARG"), "ftp URL: exit %lu, %s\n",
       r.status, r.err);
    free_result(&r);
    run_doadmin(&r, 30000, L"addfile %s %s C:\\no\\such\\dir\\x.bin", guid, url);
    ok(r.status == 1 && contains(r.err, "failed: 0x80070003 ERROR_PATH_NOT_FOUND"),
       "missing directory: exit %lu, %s\n", r.status, r.err);
    free_result(&r);
    cancel_quietly(guid);
}

/* A job in ERROR: monitor's message and info's error lines */
static void test_job_error(void)
{
    WCHAR name[64], guid[40], url[256], path[MAX_PATH];
    char want[512], field[512];
    struct result r;

    /* ranges from a server that ignores Range: DO gives up on the job */
    httpd_add_generated(httpd, "cli-norange", 64 * KIB);
    make_url(url, ARRAY_SIZE(url), httpd, "/cli-norange?norange=1");
    make_test_path(path, ARRAY_SIZE(path), L"norange.bin");
    make_name(name, ARRAY_SIZE(name), L"error");
    if (!create_job_cli(name, guid, ARRAY_SIZE(guid))) return;
    run_doadmin(&r, 30000, L"addfile %s %s %s --ranges 10:100", guid, url, path);
    ok(r.status == 0, "addfile: exit %lu %s\n", r.status, r.err);
    free_result(&r);
    run_doadmin(&r, 30000, L"resume %s", guid);
    free_result(&r);
    run_doadmin(&r, 120000, L"monitor %s", guid);
    snprintf(want, sizeof(want), "error: transfer of %S failed: 0x80D05011 DO_E_INSUFFICIENT_RANGE_SUPPORT: ", url);
    ok(r.status == 1 && !strncmp(r.err, want, strlen(want)), "monitor: exit %lu, stderr \"%s\"\n", r.status, r.err);
    free_result(&r);
    check_state(guid, "ERROR");

    run_doadmin(&r, 30000, L"info %s", guid);
    get_field(r.out, "error:", field, sizeof(field));
    ok(!strncmp(field, "0x80D05011 DO_E_INSUFFICIENT_RANGE_SUPPORT: ", 44) && strlen(field) > 50,
       "info error: \"%s\"\n", field);
    get_field(r.out, "  file:", field, sizeof(field));
    snprintf(want, sizeof(want), "%S", url);
    ok(!strcmp(field, want), "info error file: \"%s\"\n", field);
    get_field(r.out, "state:", field, sizeof(field));
    ok(!strcmp(field, "ERROR"), "info state: \"%s\"\n", field);
    free_result(&r);
    cancel_quietly(guid);
    ok(!file_exists(path), "the file of a failed job exists\n");
}

static void test_transfer(void)
{
    WCHAR name[64], url[256], url2[256], path[MAX_PATH], path2[MAX_PATH];
    char want[512], last[512];
    unsigned int lines, seconds;
    ULONGLONG start;
    struct result r;
    UINT64 bad;

    /* 3 MiB at 1 MiB/s: long enough for several periodic progress lines */
    httpd_add_generated(httpd, "cli-big", 3 * MIB);
    make_url(url, ARRAY_SIZE(url), httpd, "/cli-big?rate=1048576");
    make_test_path(path, ARRAY_SIZE(path), L"big.bin");
    make_name(name, ARRAY_SIZE(name), L"transfer");
    start = GetTickCount64();
    run_doadmin(&r, 120000, L"transfer %s %s %s", name, url, path);
    seconds = (unsigned int)((GetTickCount64() - start) / 1000);
    ok(r.status == 0, "transfer: exit %lu, stderr %s\n", r.status, r.err);
    snprintf(want, sizeof(want), "job {");
    ok(!strncmp(r.out, want, strlen(want)), "transfer: first line \"%.60s\"\n", r.out);
    snprintf(want, sizeof(want), "%S -> %S\n", url, path);
    ok(contains(r.out, want), "transfer: no \"%s\" line\n", want);
    /* not a terminal: one line a second (and on state changes), not one per poll */
    lines = count_progress_lines(r.out, "TRANSFERRING", NULL, 0);
    ok(lines >= 2 && lines <= seconds + 3, "%u TRANSFERRING lines in %u s:\n%s\n", lines, seconds, r.out);
    ok(count_progress_lines(r.out, "TRANSFERRED", last, sizeof(last)) == 1
       && !strncmp(last, "100.0%  3.0 MiB / 3.0 MiB  ", 27) && contains(last, "ETA 0:00"),
       "transfer: last progress line \"%s\"\n", last);
    ok(contains(r.out, "transferred 1 file, 3.0 MiB (3145728 bytes) in "), "no summary:\n%s\n", r.out);
    snprintf(want, sizeof(want), "saved %S\n", path);
    ok(contains(r.out, "\ncompleted job {") && contains(r.out, want), "transfer: no saved line:\n%s\n", r.out);
    ok(!r.err[0], "transfer: stderr \"%s\"\n", r.err);
    free_result(&r);
    ok(file_matches_pattern(path, "cli-big", 3 * MIB, 0, NULL, &bad), "file differs at %I64u\n", bad);
    run_doadmin(&r, 30000, L"getstate %s", name);
    ok(r.status == 1 && contains(r.err, "DO_E_JOB_NOT_FOUND"), "the transferred job remains: %lu\n", r.status);
    free_result(&r);

    /* two files, and an existing directory as a relative name */
    httpd_add_generated(httpd, "cli-two", 300 * KIB);
    make_url(url2, ARRAY_SIZE(url2), httpd, "/cli-two");
    make_url(url, ARRAY_SIZE(url), httpd, "/cli-small");
    make_test_path(path, ARRAY_SIZE(path), L"one.bin");
    make_test_path(path2, ARRAY_SIZE(path2), L"two.bin");
    make_name(name, ARRAY_SIZE(name), L"two");
    run_doadmin(&r, 120000, L"transfer %s %s %s %s two.bin --priority normal", name, url, path, url2);
    ok(r.status == 0 && contains(r.out, "transferred 2 files, "), "two files: exit %lu, %s %s\n", r.status,
       r.out, r.err);
    free_result(&r);
    ok(file_matches_pattern(path, "cli-small", 256 * KIB, 0, NULL, &bad), "file 1 differs at %I64u\n", bad);
    ok(file_matches_pattern(path2, "cli-two", 300 * KIB, 0, NULL, &bad), "file 2 differs at %I64u\n", bad);
}

static void test_transfer_failures(void)
{
    static const struct
    {
        const char *query;
        const char *reason;
    }
    tests[] =
    {
        { "/cli-missing", "0x80190194 HTTP 404: " },
        { "/cli-small?status=403", "0x80190193 HTTP 403: " },
        { "/cli-small?status=410", "0x8019019A HTTP 410: " },
    };
    WCHAR name[64], url[256], path[MAX_PATH];
    char want[512];
    struct result r;
    unsigned int i;

    for (i = 0; i < ARRAY_SIZE(tests); i++)
    {
        make_url(url, ARRAY_SIZE(url), httpd, tests[i].query);
        make_test_path(path, ARRAY_SIZE(path), L"failed.bin");
        make_name(name, ARRAY_SIZE(name), L"fail");
        run_doadmin(&r, 120000, L"transfer %s %s %s", name, url, path);
        ok(r.status == 1, "%s: exit %lu\n", tests[i].query, r.status);
        snprintf(want, sizeof(want), "error: transfer of %S failed: %s", url, tests[i].reason);
        ok(!strncmp(r.err, want, strlen(want)), "%s: stderr \"%s\"\n", tests[i].query, r.err);
        /* the failed job is cancelled, so it does not linger */
        ok(contains(r.err, "\ncancelled job {"), "%s: job not cancelled: %s\n", tests[i].query, r.err);
        ok(count_progress_lines(r.out, "ERROR", NULL, 0) == 1, "%s: no ERROR progress line:\n%s\n",
           tests[i].query, r.out);
        free_result(&r);
        ok(!file_exists(path), "%s: the file exists\n", tests[i].query);
        run_doadmin(&r, 30000, L"getstate %s", name);
        ok(r.status == 1, "%s: the failed job remains\n", tests[i].query);
        free_result(&r);
    }
}

/* Ctrl-C suspends the transfer's job and says how to go on; resume --wait
 * does (see enum interrupt for how the test presses Ctrl-C). */
static void test_interrupt(void)
{
    enum interrupt how = INTERRUPT_BREAK_GROUP;
    WCHAR name[64], url[256], path[MAX_PATH], guid[40];
    BOOL broken = FALSE, own_console = FALSE;
    char want[256], *p;
    struct result r;
    UINT64 bad;

    if (!GetConsoleCP())
    {
        FreeConsole();
        own_console = AllocConsole();
        how = INTERRUPT_CTRL_C_ALL;
    }

    /* about eight seconds at 256 KiB/s; the break comes with the first
     * progress line of the transfer */
    httpd_add_generated(httpd, "cli-slow", 2 * MIB);
    make_url(url, ARRAY_SIZE(url), httpd, "/cli-slow?rate=262144");
    make_test_path(path, ARRAY_SIZE(path), L"slow.bin");
    make_name(name, ARRAY_SIZE(name), L"interrupt");
    run_doadmin_interrupted(&r, 60000, how, "  TRANSFERRING", &broken, L"transfer %s %s %s", name, url, path);
    if (own_console) FreeConsole();
    if (!broken)
    {
        skip("cannot interrupt the child: %lu\n", GetLastError());
        free_result(&r);
        cancel_quietly(name);
        return;
    }
    ok(r.status == 130, "interrupted transfer: exit %lu, stderr %s\n", r.status, r.err);
    ok(!strncmp(r.err, "interrupted: job {", 18), "interrupted transfer: stderr \"%s\"\n", r.err);
    guid[0] = 0;
    if ((p = strchr(r.err, '{'))) swprintf(guid, ARRAY_SIZE(guid), L"%.38S", p);
    snprintf(want, sizeof(want), "\nresume it with: doadmin resume %S\n", guid);
    ok(contains(r.err, want), "interrupted transfer: no resume hint in \"%s\"\n", r.err);
    ok(count_progress_lines(r.out, "TRANSFERRING", NULL, 0) >= 1, "no progress before the break:\n%s\n",
       r.out);
    free_result(&r);
    if (!guid[0]) return;
    check_state(guid, "SUSPENDED");
    ok(!file_exists(path), "the file of an interrupted transfer exists\n");

    make_url(url, ARRAY_SIZE(url), httpd, "/cli-slow");
    run_doadmin(&r, 120000, L"resume --wait %s", guid);
    snprintf(want, sizeof(want), "completed job %S\nsaved %S\n", guid, path);
    ok(r.status == 0 && contains(r.out, want), "resume --wait: exit %lu, %s %s\n", r.status, r.out, r.err);
    free_result(&r);
    ok(file_matches_pattern(path, "cli-slow", 2 * MIB, 0, NULL, &bad), "file differs at %I64u\n", bad);
}

/* A server that refuses connections: the job retries (TRANSIENT_ERROR, shown
 * with the reason) until the no-progress timeout turns that into ERROR. */
static void test_no_progress_timeout(void)
{
    static const char want[] =
        "error: transfer of http://127.0.0.1:1/x failed: 0x80D02002 DO_E_DOWNLOAD_NO_PROGRESS: ";
    WCHAR name[64], path[MAX_PATH];
    char last[512];
    struct result r;
    unsigned int lines;

    make_test_path(path, ARRAY_SIZE(path), L"refused.bin");
    make_name(name, ARRAY_SIZE(name), L"refused");
    /* port 1 on the loopback: nothing listens there */
    run_doadmin(&r, 120000, L"transfer %s http://127.0.0.1:1/x %s --no-progress-timeout 3", name, path);
    ok(r.status == 1 && !strncmp(r.err, want, strlen(want)), "refused: exit %lu, stderr \"%s\"\n",
       r.status, r.err);
    lines = count_progress_lines(r.out, "TRANSIENT_ERROR", last, sizeof(last));
    /* the reason, when the next try comes and when the service gives up */
    ok(lines >= 1 && (contains(last, "TRANSIENT_ERROR  (will retry in ") ||
                      contains(last, "TRANSIENT_ERROR  (will retry now: ")) && contains(last, ": 0x8") &&
       contains(last, "; gives up after 3 s without progress)"),
       "refused: no TRANSIENT_ERROR line with the reason and the times:\n%s\n", r.out);
    ok(count_progress_lines(r.out, "ERROR", NULL, 0) == 1, "refused: no ERROR line:\n%s\n", r.out);
    free_result(&r);
}

/* --timeout: a transfer or download that cannot finish stops after that
 * long, says where it stood and why, and leaves nothing behind; and while
 * it waits, the progress line says why (never a bare PAUSED). */
static void test_wait_timeout(void)
{
    static const char want_transfer[] = "error: transfer: gave up after 3 s (--timeout): still TRANSIENT_ERROR (will retry ";
    static const char want_download[] = "error: download: gave up after 3 s (--timeout): still PAUSED (will retry: 0x8";
    WCHAR name[64], path[MAX_PATH];
    ULONGLONG start, elapsed;
    char last[512];
    struct result r;

    make_test_path(path, ARRAY_SIZE(path), L"timeout.bin");
    make_name(name, ARRAY_SIZE(name), L"timeout");
    start = GetTickCount64();
    run_doadmin(&r, 120000, L"transfer %s http://127.0.0.1:1/x %s --timeout 3", name, path);
    elapsed = GetTickCount64() - start;
    ok(r.status == 1 && !strncmp(r.err, want_transfer, strlen(want_transfer)) && contains(r.err, "\ncancelled job {"),
       "transfer --timeout: exit %lu, stderr \"%s\"\n", r.status, r.err);
    /* a lower bound: it must not give up early */
    ok(elapsed >= 3000, "transfer --timeout 3 ended after %I64u ms\n", elapsed);
    ok(count_progress_lines(r.out, "TRANSIENT_ERROR", last, sizeof(last)) >= 1 &&
       contains(last, "; gives up after 1 h without progress)"),
       "transfer --timeout: no TRANSIENT_ERROR line with the reason:\n%s\n", r.out);
    free_result(&r);
    run_doadmin(&r, 30000, L"getstate %s", name);
    ok(r.status == 1 && contains(r.err, "DO_E_JOB_NOT_FOUND"), "the timed-out job is still there: exit %lu, %s %s\n",
       r.status, r.out, r.err);
    free_result(&r);

    run_doadmin(&r, 120000, L"download http://127.0.0.1:1/x %s --timeout 3", path);
    if (r.status == 1 && contains(r.err, "error: creating the IDOManager of the Delivery Optimization "
                                          "service failed: 0x"))
    {
        skip("the service has no IDOManager: %s", r.err);
        free_result(&r);
        return;
    }
    ok(r.status == 1 && !strncmp(r.err, want_download, strlen(want_download)) && contains(r.err, "\naborted download {"),
       "download --timeout: exit %lu, stderr \"%s\"\n", r.status, r.err);
    ok(count_progress_lines(r.out, "PAUSED", last, sizeof(last)) >= 1 && contains(last, "PAUSED  (will retry: 0x8") &&
       contains(last, "; gives up after 1 h without progress)"),
       "download --timeout: no PAUSED line with the reason:\n%s\n", r.out);
    free_result(&r);
    ok(!file_exists(path), "the file of a timed-out download exists\n");

    run_doadmin(&r, 30000, L"download http://127.0.0.1:1/x %s --timeout 0", path);
    ok(r.status == 2 && contains(r.err, "error: bad --timeout '0'"), "--timeout 0: exit %lu, %s\n", r.status, r.err);
    free_result(&r);
}

/* The IDOManager generation: the verb must work where the service has it and
 * say why where it does not. */
static void test_download(void)
{
    static const BG_FILE_RANGE ranges[] = { { 0, 1000 }, { 4096, BG_LENGTH_TO_EOF } };
    WCHAR url[256], path[MAX_PATH];
    char value[64], want[512];
    struct result r;
    UINT64 bad;

    httpd_add_generated(httpd, "cli-dl", 200 * KIB);
    make_url(url, ARRAY_SIZE(url), httpd, "/cli-dl");
    make_test_path(path, ARRAY_SIZE(path), L"dl.bin");
    run_doadmin(&r, 120000, L"download %s %s --foreground --header \"X-Doadmin-Test: yes\"", url, path);
    if (r.status == 1 && contains(r.err, "error: creating the IDOManager of the Delivery Optimization "
                                          "service failed: 0x"))
    {
        skip("the service has no IDOManager: %s", r.err);
        free_result(&r);
        return;
    }
    ok(r.status == 0, "download: exit %lu, stderr %s\n", r.status, r.err);
    snprintf(want, sizeof(want), "saved %S\n", path);
    ok(contains(r.out, want) && contains(r.out, "\ndownloaded 200.0 KiB (204800 bytes) in "),
       "download: stdout \"%s\"\n", r.out);
    free_result(&r);
    ok(file_matches_pattern(path, "cli-dl", 200 * KIB, 0, NULL, &bad), "file differs at %I64u\n", bad);
    ok(httpd_last_request_header(httpd, "/cli-dl", "X-Doadmin-Test", value, sizeof(value))
       && !strcmp(value, "yes"), "custom header: \"%s\"\n", value);

    make_test_path(path, ARRAY_SIZE(path), L"dl-ranges.bin");
    run_doadmin(&r, 120000, L"download %s %s --ranges 0:1000,4K:eof", url, path);
    ok(r.status == 0, "download --ranges: exit %lu, stderr %s\n", r.status, r.err);
    free_result(&r);
    ok(file_matches_pattern(path, "cli-dl", 200 * KIB, ARRAY_SIZE(ranges), ranges, &bad),
       "ranged file differs at %I64u\n", bad);

    make_url(url, ARRAY_SIZE(url), httpd, "/cli-dl-missing");
    make_test_path(path, ARRAY_SIZE(path), L"dl-missing.bin");
    run_doadmin(&r, 120000, L"download %s %s", url, path);
    ok(r.status == 1 && contains(r.err, "error: download failed: 0x80190194 HTTP 404: "),
       "download 404: exit %lu, stderr %s\n", r.status, r.err);
    free_result(&r);
    ok(!file_exists(path), "the file of a failed download exists\n");
}

/* cachehost shows and writes the policy; what was there before is put back */
static void test_cachehost(void)
{
    static const WCHAR key_name[] = L"SOFTWARE\\Policies\\Microsoft\\Windows\\DeliveryOptimization";
    static const WCHAR *names[] =
    {
        L"DOCacheHost", L"DOCacheHostSource", L"DODelayCacheServerFallbackForeground",
        L"DODelayCacheServerFallbackBackground",
    };
    struct { BOOL present; DWORD type, size; BYTE data[4096]; } saved[ARRAY_SIZE(names)];
    char field[256];
    struct result r;
    DWORD disposition, i, type, value, size;
    HKEY key;

    if (RegCreateKeyExW(HKEY_LOCAL_MACHINE, key_name, 0, NULL, 0, KEY_ALL_ACCESS, NULL, &key, &disposition))
    {
        skip("cannot write the policy key: run as administrator\n");
        return;
    }
    for (i = 0; i < ARRAY_SIZE(names); i++)
    {
        saved[i].size = sizeof(saved[i].data);
        saved[i].present = !RegQueryValueExW(key, names[i], NULL, &saved[i].type, saved[i].data, &saved[i].size);
    }

    run_doadmin(&r, 30000, L"cachehost --clear");
    ok(r.status == 0 && !strcmp(r.out, "cache server policy cleared\n"), "cachehost --clear: %lu \"%s\" %s\n",
       r.status, r.out, r.err);
    free_result(&r);
    run_doadmin(&r, 30000, L"cachehost");
    ok(r.status == 0 && get_field(r.out, "DOCacheHost:", field, sizeof(field)) && !strcmp(field, "not set"),
       "cachehost after --clear: %lu \"%s\"\n", r.status, r.out);
    free_result(&r);

    run_doadmin(&r, 30000, L"cachehost cache1.example.com,10.0.0.7:8080 --delay-background 60");
    ok(r.status == 0 && !strcmp(r.out, "DOCacheHost set to cache1.example.com,10.0.0.7:8080\n"),
       "cachehost set: %lu \"%s\" %s\n", r.status, r.out, r.err);
    free_result(&r);
    size = sizeof(field);
    ok(!RegQueryValueExA(key, "DOCacheHost", NULL, &type, (BYTE *)field, &size) && type == REG_SZ &&
       !strcmp(field, "cache1.example.com,10.0.0.7:8080"), "DOCacheHost in the registry: \"%s\"\n", field);
    size = sizeof(value);
    ok(!RegQueryValueExW(key, L"DODelayCacheServerFallbackBackground", NULL, &type, (BYTE *)&value, &size) &&
       type == REG_DWORD && value == 60, "DODelayCacheServerFallbackBackground: %lu\n", value);
    ok(RegQueryValueExW(key, L"DODelayCacheServerFallbackForeground", NULL, NULL, NULL, NULL) == ERROR_FILE_NOT_FOUND,
       "DODelayCacheServerFallbackForeground was set\n");
    run_doadmin(&r, 30000, L"cachehost");
    ok(get_field(r.out, "DOCacheHost:", field, sizeof(field)) && !strcmp(field, "cache1.example.com,10.0.0.7:8080"),
       "cachehost shows DOCacheHost \"%s\"\n", field);
    ok(get_field(r.out, "DODelayCacheServerFallbackBackground:", field, sizeof(field)) && !strcmp(field, "60 s"),
       "cachehost shows the background delay \"%s\"\n", field);
    free_result(&r);

    run_doadmin(&r, 30000, L"cachehost a,,b");
    ok(r.status == 2, "cachehost with an empty entry: exit %lu\n", r.status);
    free_result(&r);
    run_doadmin(&r, 30000, L"cachehost host --delay-foreground 2592001");
    ok(r.status == 2, "cachehost with a delay out of range: exit %lu\n", r.status);
    free_result(&r);
    run_doadmin(&r, 30000, L"cachehost host --clear");
    ok(r.status == 2, "cachehost HOSTS --clear: exit %lu\n", r.status);
    free_result(&r);

    for (i = 0; i < ARRAY_SIZE(names); i++)
    {
        if (saved[i].present) RegSetValueExW(key, names[i], 0, saved[i].type, saved[i].data, saved[i].size);
        else RegDeleteValueW(key, names[i]);
    }
    RegCloseKey(key);
    if (disposition == REG_CREATED_NEW_KEY) RegDeleteKeyW(HKEY_LOCAL_MACHINE, key_name);
}

static BOOL find_doadmin(void)
{
    WCHAR *slash;
    DWORD len;

    len = GetEnvironmentVariableW(L"DOADMIN_EXE", doadmin_exe, ARRAY_SIZE(doadmin_exe));
    if (len && len < ARRAY_SIZE(doadmin_exe) && file_exists(doadmin_exe)) return TRUE;
    /* <builddir>\conformance\dosvc_test.exe -> <builddir>\tools\doadmin.exe */
    len = GetModuleFileNameW(NULL, doadmin_exe, ARRAY_SIZE(doadmin_exe));
    if (!len || len >= ARRAY_SIZE(doadmin_exe)) return FALSE;
    if ((slash = wcsrchr(doadmin_exe, '\\'))) *slash = 0;
    if ((slash = wcsrchr(doadmin_exe, '\\'))) *slash = 0;
    if (wcslen(doadmin_exe) + 20 >= ARRAY_SIZE(doadmin_exe)) return FALSE;
    wcscat(doadmin_exe, L"\\tools\\doadmin.exe");
    return file_exists(doadmin_exe);
}

START_TEST(doadmin)
{
    if (!find_doadmin())
    {
        skip("doadmin.exe not found (set DOADMIN_EXE)\n");
        return;
    }
    if (!(httpd = httpd_start()))
    {
        ok(0, "cannot start the loopback HTTP server\n");
        return;
    }
    test_help();
    test_usage_errors();
    test_create_info_list();
    test_addfile_complete();
    test_job_error();
    test_transfer();
    test_transfer_failures();
    test_no_progress_timeout();
    test_wait_timeout();
    test_interrupt();
    test_download();
    test_cachehost();
    httpd_stop(httpd);
    remove_test_dir();
}
