/*
 * Wine-style conformance test harness: counters, output and main().
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
#include <string.h>

#include "test.h"

int winetest_debug = 1;
int winetest_interactive;
int winetest_report_success;
const char *winetest_platform = "windows";
int winetest_platform_is_wine;

#define MAX_CONTEXTS 8
#define CONTEXT_SIZE 128

/* Everything a check needs to know about where it is: kept per thread,
 * because tests make checks from callback and server threads too. */
struct thread_state
{
    const char *file;
    int line;
    unsigned int todo_level; /* one bit per nested todo block, innermost in bit 0 */
    int todo_do_loop;
    unsigned int context_count;
    char contexts[MAX_CONTEXTS][CONTEXT_SIZE];
};

static DWORD tls_index = TLS_OUT_OF_INDEXES;
static CRITICAL_SECTION print_lock;

static LONG successes;
static LONG failures;
static LONG todo_successes; /* failing checks inside a todo block: expected */
static LONG todo_failures;  /* passing checks inside a todo block: a regression in reverse */
static LONG skipped;

static int main_argc;
static char **main_argv;
static const char *current_test = "";

static struct thread_state *get_state(void)
{
    struct thread_state *state = TlsGetValue(tls_index);

    if (!state)
    {
        state = calloc(1, sizeof(*state));
        if (!state) abort();
        state->file = "";
        TlsSetValue(tls_index, state);
    }
    return state;
}

static const char *base_name(const char *path)
{
    const char *p, *name = path;

    for (p = path; *p; p++)
        if (*p == '/' || *p == '\\') name = p + 1;
    return name;
}

/* Print "file:line: <kind><context: ...><message>" as one unit so that lines
 * from concurrent threads never interleave. */
static void print_check(const char *kind, const char *msg, va_list args)
{
    struct thread_state *state = get_state();
    unsigned int i;

    EnterCriticalSection(&print_lock);
    printf("%s:%d: %s", base_name(state->file), state->line, kind);
    for (i = 0; i < state->context_count && i < MAX_CONTEXTS; i++)
        printf("%s: ", state->contexts[i]);
    vprintf(msg, args);
    fflush(stdout);
    LeaveCriticalSection(&print_lock);
}

static void print_checkf(const char *kind, const char *msg, ...)
{
    va_list args;

    va_start(args, msg);
    print_check(kind, msg, args);
    va_end(args);
}

/* "file:line: Test succeeded[: context...]" for WINETEST_REPORT_SUCCESS */
static void print_success(void)
{
    struct thread_state *state = get_state();
    unsigned int i;

    EnterCriticalSection(&print_lock);
    printf("%s:%d: Test succeeded", base_name(state->file), state->line);
    for (i = 0; i < state->context_count && i < MAX_CONTEXTS; i++)
        printf(": %s", state->contexts[i]);
    printf("\n");
    fflush(stdout);
    LeaveCriticalSection(&print_lock);
}

void winetest_set_location(const char *file, int line)
{
    struct thread_state *state = get_state();

    state->file = file;
    state->line = line;
}

static int vok(int condition, const char *msg, va_list args)
{
    struct thread_state *state = get_state();

    if (state->todo_level & 1)
    {
        if (condition)
        {
            print_check("Test succeeded inside todo block: ", msg, args);
            InterlockedIncrement(&todo_failures);
            return 0;
        }
        if (winetest_debug > 0) print_check("Test marked todo: ", msg, args);
        InterlockedIncrement(&todo_successes);
        return 1;
    }
    if (!condition)
    {
        print_check("Test failed: ", msg, args);
        InterlockedIncrement(&failures);
        return 0;
    }
    if (winetest_report_success) print_success();
    InterlockedIncrement(&successes);
    return 1;
}

int winetest_ok(int condition, const char *msg, ...)
{
    va_list args;
    int ret;

    va_start(args, msg);
    ret = vok(condition, msg, args);
    va_end(args);
    return ret;
}

void winetest_skip(const char *msg, ...)
{
    va_list args;

    if (winetest_debug > 0)
    {
        va_start(args, msg);
        print_check("Tests skipped: ", msg, args);
        va_end(args);
    }
    InterlockedIncrement(&skipped);
}

/* A feature missing on old Windows is a skip there; Wine has no excuse. */
void winetest_win_skip(const char *msg, ...)
{
    va_list args;

    va_start(args, msg);
    if (winetest_platform_is_wine)
        vok(0, msg, args);
    else
    {
        if (winetest_debug > 0) print_check("Tests skipped: ", msg, args);
        InterlockedIncrement(&skipped);
    }
    va_end(args);
}

void winetest_trace(const char *msg, ...)
{
    va_list args;

    if (winetest_debug <= 0) return;
    va_start(args, msg);
    print_check("", msg, args);
    va_end(args);
}

void winetest_start_todo(int is_todo)
{
    struct thread_state *state = get_state();

    state->todo_level = (state->todo_level << 1) | (is_todo != 0);
    state->todo_do_loop = 1;
}

/* True exactly once after winetest_start_todo(), so the for-loop body of
 * todo_if() runs once; the flag is cleared before the body, which keeps
 * nested blocks from re-arming their parent. */
int winetest_loop_todo(void)
{
    struct thread_state *state = get_state();
    int do_loop = state->todo_do_loop;

    state->todo_do_loop = 0;
    return do_loop;
}

void winetest_end_todo(void)
{
    get_state()->todo_level >>= 1;
}

/* Old-Windows behaviour may be accepted on Windows, never on Wine. */
int winetest_broken(int condition)
{
    return condition && !winetest_platform_is_wine;
}

void winetest_push_context(const char *fmt, ...)
{
    struct thread_state *state = get_state();
    va_list args;

    if (state->context_count < MAX_CONTEXTS)
    {
        va_start(args, fmt);
        vsnprintf(state->contexts[state->context_count], CONTEXT_SIZE, fmt, args);
        va_end(args);
    }
    /* past the limit only the depth is counted, so pops stay balanced */
    state->context_count++;
}

void winetest_pop_context(void)
{
    struct thread_state *state = get_state();

    if (state->context_count) state->context_count--;
}

int winetest_get_mainargs(char ***pargv)
{
    *pargv = main_argv;
    return main_argc;
}

LONG winetest_get_failures(void)
{
    return failures + todo_failures;
}

void winetest_add_failures(LONG count)
{
    while (count-- > 0) InterlockedIncrement(&failures);
}

/* A child runs one test of this same program; its exit status is its failure
 * count (or an exception code), which becomes ours. */
void winetest_wait_child_process(HANDLE process)
{
    DWORD exit_code = 1, ret;

    ret = WaitForSingleObject(process, 60000);
    if (ret == WAIT_TIMEOUT)
    {
        winetest_ok(0, "child process timed out\n");
        TerminateProcess(process, 1);
        return;
    }
    if (ret != WAIT_OBJECT_0 || !GetExitCodeProcess(process, &exit_code))
    {
        winetest_ok(0, "failed to wait for child process: %lu\n", GetLastError());
        return;
    }
    if (exit_code > 255)
        winetest_ok(0, "unhandled exception %08lx in child process %04lx\n",
                    exit_code, GetProcessId(process));
    else if (exit_code)
    {
        print_checkf("Test failed: ", "%lu failures in child process\n", exit_code);
        winetest_add_failures(exit_code);
    }
}

static int running_under_wine(void)
{
    HMODULE ntdll = GetModuleHandleA("ntdll.dll");

    return ntdll && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

static int env_int(const char *name, int def)
{
    const char *value = getenv(name);

    return value && *value ? atoi(value) : def;
}

static LONG WINAPI exception_filter(EXCEPTION_POINTERS *ptrs)
{
    EnterCriticalSection(&print_lock);
    printf("%s: unhandled exception %08lx at %p\n", current_test,
           ptrs->ExceptionRecord->ExceptionCode, ptrs->ExceptionRecord->ExceptionAddress);
    fflush(stdout);
    LeaveCriticalSection(&print_lock);
    ExitProcess(ptrs->ExceptionRecord->ExceptionCode);
    return EXCEPTION_EXECUTE_HANDLER;
}

static void reset_counters(void)
{
    successes = failures = todo_successes = todo_failures = skipped = 0;
}

static int run_test(const struct winetest_entry *test)
{
    LONG total_failures;

    current_test = test->name;
    reset_counters();
    test->func();
    total_failures = failures + todo_failures;
    if (winetest_debug > 0)
    {
        EnterCriticalSection(&print_lock);
        printf("%04lx:%s: %ld tests executed (%ld marked as todo, 0 as flaky, %ld %s), %ld skipped.\n",
               GetCurrentProcessId(), test->name,
               successes + failures + todo_successes + todo_failures,
               todo_successes, total_failures, total_failures == 1 ? "failure" : "failures",
               skipped);
        fflush(stdout);
        LeaveCriticalSection(&print_lock);
    }
    return total_failures;
}

static const struct winetest_entry *find_test(const char *name)
{
    const struct winetest_entry *test;
    const char *dot = strrchr(name, '.');
    size_t len = dot && !strcmp(dot, ".c") ? (size_t)(dot - name) : strlen(name);

    for (test = winetest_testlist; test->name; test++)
        if (strlen(test->name) == len && !strncmp(test->name, name, len)) return test;
    return NULL;
}

static void usage(const char *argv0)
{
    const struct winetest_entry *test;

    printf("Usage: %s [--list | test_name [args...]]\n", argv0);
    printf("Without a name every test runs in turn.  Tests:\n");
    for (test = winetest_testlist; test->name; test++) printf("    %s\n", test->name);
}

int main(int argc, char **argv)
{
    const struct winetest_entry *test;
    const char *platform = getenv("WINETEST_PLATFORM");
    long total = 0;

    InitializeCriticalSection(&print_lock);
    tls_index = TlsAlloc();
    main_argc = argc;
    main_argv = argv;

    winetest_platform_is_wine = platform && *platform ? !strcmp(platform, "wine") : running_under_wine();
    winetest_platform = winetest_platform_is_wine ? "wine" : "windows";
    winetest_debug = env_int("WINETEST_DEBUG", 1);
    winetest_interactive = env_int("WINETEST_INTERACTIVE", 0);
    winetest_report_success = env_int("WINETEST_REPORT_SUCCESS", 0);

    /* no dialog boxes: a crash must become a line in the log and an exit code */
    if (!winetest_interactive) SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
    SetUnhandledExceptionFilter(exception_filter);
    setvbuf(stdout, NULL, _IOFBF, 64 * 1024);

    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
    {
        usage(argv[0]);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--list"))
    {
        for (test = winetest_testlist; test->name; test++) printf("    %s\n", test->name);
        return 0;
    }
    if (argc > 1)
    {
        if (!(test = find_test(argv[1])))
        {
            printf("Fatal: test '%s' does not exist.\n", argv[1]);
            fflush(stdout);
            return 1;
        }
        total = run_test(test);
    }
    else
    {
        for (test = winetest_testlist; test->name; test++) total += run_test(test);
    }
    fflush(stdout);
    return total > 255 ? 255 : (int)total;
}
