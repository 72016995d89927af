/*
 * Tests of the test harness itself: each scenario runs in a child process
 * and the parent checks the child's output lines and exit status.
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

/* ---- scenarios, run in the child ---- */

static DWORD WINAPI thread_check(void *arg)
{
    ok(arg != NULL, "from a thread\n");
    ok(0, "failure from a thread\n");
    return 0;
}

static void run_scenario(const char *name)
{
    int i;

    if (!strcmp(name, "pass"))
    {
        ok(1, "one\n");
        ok(2 > 1, "two\n");
        ok(TRUE, "three\n");
    }
    else if (!strcmp(name, "fail"))
    {
        ok(1, "fine\n");
        ok(0, "boom %d\n", 42);
    }
    else if (!strcmp(name, "todo_fail"))
        todo_wine ok(0, "not yet\n");
    else if (!strcmp(name, "todo_pass"))
        todo_wine ok(1, "works already\n");
    else if (!strcmp(name, "todo_if"))
    {
        todo_if(1) ok(0, "todo everywhere\n");
        todo_if(0) ok(1, "not todo\n");
        todo_wine_if(0) ok(1, "condition false\n");
    }
    else if (!strcmp(name, "todo_nested"))
    {
        todo_wine
        {
            ok(0, "outer todo\n");
            todo_if(0) ok(0, "inner level is not todo\n");
            ok(0, "outer todo again\n");
        }
        ok(1, "after the block\n");
    }
    else if (!strcmp(name, "broken"))
        ok(broken(1), "only broken\n");
    else if (!strcmp(name, "skip"))
    {
        skip("no widget\n");
        win_skip("old windows\n");
    }
    else if (!strcmp(name, "context"))
    {
        winetest_push_context("outer %d", 1);
        winetest_push_context("inner");
        ok(0, "msg\n");
        winetest_pop_context();
        ok(0, "msg2\n");
        winetest_pop_context();
        ok(0, "msg3\n");
    }
    else if (!strcmp(name, "success_context"))
    {
        winetest_push_context("ctx");
        ok(1, "fine\n");
        winetest_pop_context();
    }
    else if (!strcmp(name, "trace"))
    {
        trace("tracing %s\n", "here");
        ok(1, "x\n");
    }
    else if (!strcmp(name, "many"))
    {
        for (i = 0; i < 300; i++) ok(0, "failure %d\n", i);
    }
    else if (!strcmp(name, "threads"))
    {
        HANDLE thread = CreateThread(NULL, 0, thread_check, (void *)1, 0, NULL);
        WaitForSingleObject(thread, INFINITE);
        CloseHandle(thread);
    }
    else if (!strcmp(name, "child"))
    {
        /* grandchild with two failures: they must become ours */
        char **argv, cmd[MAX_PATH + 64];
        STARTUPINFOA si = { sizeof(si) };
        PROCESS_INFORMATION pi;

        winetest_get_mainargs(&argv);
        sprintf(cmd, "\"%s\" harness fail2", argv[0]);
        ok(CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi), "CreateProcess failed\n");
        wait_child_process(pi.hProcess);
        CloseHandle(pi.hProcess);
        CloseHandle(pi.hThread);
    }
    else if (!strcmp(name, "fail2"))
    {
        ok(0, "first\n");
        ok(0, "second\n");
    }
    else if (!strcmp(name, "args"))
    {
        char **argv;
        int argc = winetest_get_mainargs(&argv);
        ok(argc == 4 && !strcmp(argv[3], "extra"), "argc %d\n", argc);
        ok(winetest_interactive == 1, "interactive %d\n", winetest_interactive);
    }
    else if (!strcmp(name, "crash"))
    {
        *(volatile int *)0 = 1;
    }
}

/* ---- the parent side ---- */

struct child_result
{
    DWORD exit_code;
    char out[64 * 1024];
};

/* Run "<exe> <argv1> [scenario]" with the given WINETEST_* settings and
 * collect its standard output.  Settings not listed are cleared so the
 * outer runner's environment cannot leak into the expectations. */
static BOOL run_child(const char *argv1, const char *scenario, const char *platform,
                      const char *extra_env, struct child_result *res)
{
    static const char *vars[] = { "WINETEST_PLATFORM", "WINETEST_DEBUG", "WINETEST_INTERACTIVE",
                                  "WINETEST_REPORT_SUCCESS" };
    char saved[4][64], cmd[MAX_PATH + 128], **argv;
    SECURITY_ATTRIBUTES sa = { sizeof(sa), NULL, TRUE };
    STARTUPINFOA si = { sizeof(si) };
    PROCESS_INFORMATION pi;
    HANDLE read_end, write_end;
    DWORD got, total = 0, len;
    BOOL had[4], ret;
    unsigned int i;

    for (i = 0; i < 4; i++)
    {
        len = GetEnvironmentVariableA(vars[i], saved[i], sizeof(saved[i]));
        had[i] = len && len < sizeof(saved[i]);
        SetEnvironmentVariableA(vars[i], NULL);
    }
    SetEnvironmentVariableA("WINETEST_PLATFORM", platform);
    if (extra_env)
    {
        char name[64];
        const char *eq = strchr(extra_env, '=');
        memcpy(name, extra_env, eq - extra_env);
        name[eq - extra_env] = 0;
        SetEnvironmentVariableA(name, eq + 1);
    }

    winetest_get_mainargs(&argv);
    sprintf(cmd, "\"%s\" %s %s", argv[0], argv1, scenario ? scenario : "");
    if (scenario && !strcmp(scenario, "args")) strcat(cmd, " extra");

    CreatePipe(&read_end, &write_end, &sa, 0);
    SetHandleInformation(read_end, HANDLE_FLAG_INHERIT, 0);
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdOutput = write_end;
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    ret = CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi);
    CloseHandle(write_end);

    for (i = 0; i < 4; i++) SetEnvironmentVariableA(vars[i], had[i] ? saved[i] : NULL);
    if (extra_env)
    {
        char name[64];
        const char *eq = strchr(extra_env, '=');
        memcpy(name, extra_env, eq - extra_env);
        name[eq - extra_env] = 0;
        if (strcmp(name, vars[0]) && strcmp(name, vars[1]) && strcmp(name, vars[2]) && strcmp(name, vars[3]))
            SetEnvironmentVariableA(name, NULL);
    }
    if (!ret)
    {
        CloseHandle(read_end);
        return FALSE;
    }

    while (total < sizeof(res->out) - 1 &&
           ReadFile(read_end, res->out + total, sizeof(res->out) - 1 - total, &got, NULL) && got)
        total += got;
    res->out[total] = 0;
    CloseHandle(read_end);
    WaitForSingleObject(pi.hProcess, 30000);
    GetExitCodeProcess(pi.hProcess, &res->exit_code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    /* text mode may have turned "\n" into "\r\n" on Windows */
    {
        char *src, *dst;
        for (src = dst = res->out; *src; src++) if (*src != '\r') *dst++ = *src;
        *dst = 0;
    }
    return TRUE;
}

/* Is there a line "harness.c:<digits>: <rest>"? */
static BOOL has_check_line(const char *out, const char *rest)
{
    const char *line = out;

    while (*line)
    {
        const char *end = strchr(line, '\n'), *p = line;
        size_t rest_len = strlen(rest);

        if (!end) end = line + strlen(line);
        if (!strncmp(p, "harness.c:", 10))
        {
            p += 10;
            if (*p >= '0' && *p <= '9')
            {
                while (*p >= '0' && *p <= '9') p++;
                if (*p == ':' && p[1] == ' ' && (size_t)(end - (p + 2)) == rest_len &&
                    !strncmp(p + 2, rest, rest_len))
                    return TRUE;
            }
        }
        line = *end ? end + 1 : end;
    }
    return FALSE;
}

static unsigned int count_lines(const char *out)
{
    unsigned int n = 0;
    for (; *out; out++) if (*out == '\n') n++;
    return n;
}

/* The per-test summary line; PID first, then ":harness: ..." */
static BOOL has_summary(const char *out, const char *counts)
{
    char expect[256];
    const char *p;

    sprintf(expect, ":harness: %s\n", counts);
    p = strstr(out, expect);
    if (!p) return FALSE;
    /* four or more hex digits of the process id start the line */
    while (p > out && p[-1] != '\n') p--;
    return strspn(p, "0123456789abcdef") >= 4;
}

static void test_pass_and_fail(void)
{
    static struct child_result res;

    ok(run_child("harness", "pass", "wine", NULL, &res), "spawn failed\n");
    ok(res.exit_code == 0, "pass: exit %lu\n", res.exit_code);
    ok(has_summary(res.out, "3 tests executed (0 marked as todo, 0 as flaky, 0 failures), 0 skipped."),
       "pass: summary missing: %s\n", res.out);
    ok(count_lines(res.out) == 1, "pass: expected only the summary, got: %s\n", res.out);

    ok(run_child("harness", "fail", "wine", NULL, &res), "spawn failed\n");
    ok(res.exit_code == 1, "fail: exit %lu\n", res.exit_code);
    ok(has_check_line(res.out, "Test failed: boom 42"), "fail: line missing: %s\n", res.out);
    ok(has_summary(res.out, "2 tests executed (0 marked as todo, 0 as flaky, 1 failure), 0 skipped."),
       "fail: summary: %s\n", res.out);
}

static void test_todo(void)
{
    static struct child_result res;

    /* a failing check inside todo_wine is expected on Wine */
    run_child("harness", "todo_fail", "wine", NULL, &res);
    ok(res.exit_code == 0, "todo_fail/wine: exit %lu\n", res.exit_code);
    ok(has_check_line(res.out, "Test marked todo: not yet"), "todo_fail/wine: %s\n", res.out);
    ok(has_summary(res.out, "1 tests executed (1 marked as todo, 0 as flaky, 0 failures), 0 skipped."),
       "todo_fail/wine summary: %s\n", res.out);

    /* ... and a plain failure on Windows */
    run_child("harness", "todo_fail", "windows", NULL, &res);
    ok(res.exit_code == 1, "todo_fail/windows: exit %lu\n", res.exit_code);
    ok(has_check_line(res.out, "Test failed: not yet"), "todo_fail/windows: %s\n", res.out);

    /* a passing check inside todo_wine is a failure on Wine ... */
    run_child("harness", "todo_pass", "wine", NULL, &res);
    ok(res.exit_code == 1, "todo_pass/wine: exit %lu\n", res.exit_code);
    ok(has_check_line(res.out, "Test succeeded inside todo block: works already"),
       "todo_pass/wine: %s\n", res.out);
    ok(has_summary(res.out, "1 tests executed (0 marked as todo, 0 as flaky, 1 failure), 0 skipped."),
       "todo_pass/wine summary: %s\n", res.out);

    /* ... and silent on Windows */
    run_child("harness", "todo_pass", "windows", NULL, &res);
    ok(res.exit_code == 0, "todo_pass/windows: exit %lu\n", res.exit_code);
    ok(count_lines(res.out) == 1, "todo_pass/windows: expected only the summary: %s\n", res.out);

    /* todo_if applies on every platform */
    run_child("harness", "todo_if", "windows", NULL, &res);
    ok(res.exit_code == 0, "todo_if: exit %lu\n", res.exit_code);
    ok(has_check_line(res.out, "Test marked todo: todo everywhere"), "todo_if: %s\n", res.out);

    /* nesting: an inner non-todo level makes failures real again */
    run_child("harness", "todo_nested", "wine", NULL, &res);
    ok(res.exit_code == 1, "todo_nested: exit %lu\n", res.exit_code);
    ok(has_check_line(res.out, "Test marked todo: outer todo"), "todo_nested: %s\n", res.out);
    ok(has_check_line(res.out, "Test failed: inner level is not todo"), "todo_nested: %s\n", res.out);
    ok(has_check_line(res.out, "Test marked todo: outer todo again"), "todo_nested: %s\n", res.out);
    ok(has_summary(res.out, "4 tests executed (2 marked as todo, 0 as flaky, 1 failure), 0 skipped."),
       "todo_nested summary: %s\n", res.out);
}

static void test_broken_and_skip(void)
{
    static struct child_result res;

    run_child("harness", "broken", "wine", NULL, &res);
    ok(res.exit_code == 1, "broken is false on Wine: exit %lu\n", res.exit_code);
    run_child("harness", "broken", "windows", NULL, &res);
    ok(res.exit_code == 0, "broken is accepted on Windows: exit %lu\n", res.exit_code);

    run_child("harness", "skip", "windows", NULL, &res);
    ok(res.exit_code == 0, "skip/windows: exit %lu\n", res.exit_code);
    ok(has_check_line(res.out, "Tests skipped: no widget"), "skip: %s\n", res.out);
    ok(has_check_line(res.out, "Tests skipped: old windows"), "win_skip/windows: %s\n", res.out);
    ok(has_summary(res.out, "0 tests executed (0 marked as todo, 0 as flaky, 0 failures), 2 skipped."),
       "skip summary: %s\n", res.out);

    run_child("harness", "skip", "wine", NULL, &res);
    ok(res.exit_code == 1, "win_skip is a failure on Wine: exit %lu\n", res.exit_code);
    ok(has_check_line(res.out, "Test failed: old windows"), "win_skip/wine: %s\n", res.out);
    ok(has_summary(res.out, "1 tests executed (0 marked as todo, 0 as flaky, 1 failure), 1 skipped."),
       "win_skip/wine summary: %s\n", res.out);
}

static void test_context_and_trace(void)
{
    static struct child_result res;

    run_child("harness", "context", "wine", NULL, &res);
    ok(res.exit_code == 3, "context: exit %lu\n", res.exit_code);
    ok(has_check_line(res.out, "Test failed: outer 1: inner: msg"), "context: %s\n", res.out);
    ok(has_check_line(res.out, "Test failed: outer 1: msg2"), "context: %s\n", res.out);
    ok(has_check_line(res.out, "Test failed: msg3"), "context: %s\n", res.out);

    run_child("harness", "trace", "wine", NULL, &res);
    ok(has_check_line(res.out, "tracing here"), "trace at debug 1: %s\n", res.out);

    run_child("harness", "trace", "wine", "WINETEST_DEBUG=0", &res);
    ok(res.exit_code == 0, "debug 0: exit %lu\n", res.exit_code);
    ok(!res.out[0], "WINETEST_DEBUG=0 prints neither traces nor the summary: %s\n", res.out);

    run_child("harness", "success_context", "wine", "WINETEST_REPORT_SUCCESS=1", &res);
    ok(has_check_line(res.out, "Test succeeded: ctx"), "report success with a context: %s\n", res.out);
    ok(has_summary(res.out, "1 tests executed (0 marked as todo, 0 as flaky, 0 failures), 0 skipped."),
       "report success with a context, summary: %s\n", res.out);

    run_child("harness", "pass", "wine", "WINETEST_REPORT_SUCCESS=1", &res);
    ok(has_check_line(res.out, "Test succeeded"), "report success: %s\n", res.out);
    ok(count_lines(res.out) == 4, "report success: 3 lines + summary expected: %s\n", res.out);

    run_child("harness", "args", "wine", "WINETEST_INTERACTIVE=1", &res);
    ok(res.exit_code == 0, "mainargs/interactive: exit %lu, %s\n", res.exit_code, res.out);
}

static void test_exit_status(void)
{
    static struct child_result res;

    run_child("harness", "many", "wine", NULL, &res);
    ok(res.exit_code == 255, "300 failures cap at 255: exit %lu\n", res.exit_code);

    run_child("harness", "threads", "wine", NULL, &res);
    ok(res.exit_code == 1, "threads: exit %lu\n", res.exit_code);
    ok(has_check_line(res.out, "Test failed: failure from a thread"), "threads: %s\n", res.out);

    run_child("harness", "child", "wine", NULL, &res);
    ok(res.exit_code == 2, "grandchild failures are added: exit %lu\n", res.exit_code);
    ok(has_check_line(res.out, "Test failed: 2 failures in child process"), "child: %s\n", res.out);

    run_child("harness", "crash", "wine", NULL, &res);
    ok(res.exit_code > 255, "a crash exits with the exception code: %#lx\n", res.exit_code);
    ok(strstr(res.out, "unhandled exception c0000005") != NULL, "crash: %s\n", res.out);

    run_child("no_such_test", NULL, "wine", NULL, &res);
    ok(res.exit_code == 1, "unknown test: exit %lu\n", res.exit_code);
    ok(!strcmp(res.out, "Fatal: test 'no_such_test' does not exist.\n"), "unknown test: %s\n", res.out);

    run_child("--list", NULL, "wine", NULL, &res);
    ok(res.exit_code == 0, "--list: exit %lu\n", res.exit_code);
    ok(strstr(res.out, "    harness\n") != NULL, "--list misses harness: %s\n", res.out);
}

START_TEST(harness)
{
    char **argv;
    int argc = winetest_get_mainargs(&argv);

    if (argc >= 3)
    {
        run_scenario(argv[2]);
        return;
    }
    test_pass_and_fail();
    test_todo();
    test_broken_and_skip();
    test_context_and_trace();
    test_exit_status();
}
