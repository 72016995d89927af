/*
 * Wine-style conformance test harness: the interface test files use.
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
 * Written from a description of the behaviour of Wine's test macros so that
 * tests read like Wine's and their output can be parsed by the same tools:
 *
 *   file.c:LINE: Test failed: <context: ...><message>
 *   file.c:LINE: Test marked todo: <message>
 *   file.c:LINE: Test succeeded inside todo block: <message>
 *   file.c:LINE: Tests skipped: <message>
 *   PID:test: N tests executed (T marked as todo, 0 as flaky, F failures), S skipped.
 *
 * The runner itself lives in test.c; the list of tests is generated from the
 * START_TEST() lines of the test sources (see mktestlist.sh).
 */

#ifndef WINE_DOSVC_TEST_H
#define WINE_DOSVC_TEST_H

#include <stdarg.h>
#include <windows.h>

#ifdef __GNUC__
#define WINETEST_PRINTF_ATTR(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define WINETEST_PRINTF_ATTR(fmt, args)
#endif

/* settings read from WINETEST_* at start-up */
extern int winetest_debug;            /* WINETEST_DEBUG, default 1 */
extern int winetest_interactive;      /* WINETEST_INTERACTIVE */
extern int winetest_report_success;   /* WINETEST_REPORT_SUCCESS */
extern const char *winetest_platform; /* "wine" or "windows" (WINETEST_PLATFORM overrides) */
extern int winetest_platform_is_wine;

void winetest_set_location(const char *file, int line);
int winetest_ok(int condition, const char *msg, ...) WINETEST_PRINTF_ATTR(2, 3);
void winetest_skip(const char *msg, ...) WINETEST_PRINTF_ATTR(1, 2);
void winetest_win_skip(const char *msg, ...) WINETEST_PRINTF_ATTR(1, 2);
void winetest_trace(const char *msg, ...) WINETEST_PRINTF_ATTR(1, 2);

void winetest_start_todo(int is_todo);
int winetest_loop_todo(void);
void winetest_end_todo(void);
int winetest_broken(int condition);

void winetest_push_context(const char *fmt, ...) WINETEST_PRINTF_ATTR(1, 2);
void winetest_pop_context(void);

int winetest_get_mainargs(char ***pargv);
void winetest_wait_child_process(HANDLE process);
LONG winetest_get_failures(void);
void winetest_add_failures(LONG failures);

/* ok_(file, line)(cond, fmt, ...): the location is stored first, then the
 * comma expression yields the function that is called with the arguments. */
#define ok_(file, line)    (winetest_set_location(file, line), winetest_ok)
#define skip_(file, line)  (winetest_set_location(file, line), winetest_skip)
#define win_skip_(file, line) (winetest_set_location(file, line), winetest_win_skip)
#define trace_(file, line) (winetest_set_location(file, line), winetest_trace)

#define ok       ok_(__FILE__, __LINE__)
#define skip     skip_(__FILE__, __LINE__)
#define win_skip win_skip_(__FILE__, __LINE__)
#define trace    trace_(__FILE__, __LINE__)

/* A block runs exactly once; while it runs, checks are "todo" if the
 * condition held.  Levels nest: each block pushes one bit. */
#define todo_if(is_todo) \
    for (winetest_start_todo(!!(is_todo)); winetest_loop_todo(); winetest_end_todo())
#define todo_wine          todo_if(winetest_platform_is_wine)
#define todo_wine_if(cond) todo_if(winetest_platform_is_wine && (cond))

#define broken(cond) winetest_broken(!!(cond))

#define wait_child_process winetest_wait_child_process

#define START_TEST(name) void func_##name(void)

struct winetest_entry
{
    const char *name;
    void (*func)(void);
};

/* generated: { "name", func_name }, ..., { NULL, NULL } */
extern const struct winetest_entry winetest_testlist[];

#endif /* WINE_DOSVC_TEST_H */
