/*
 * doadmin: console and pipe output, progress lines, Ctrl-C
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
 * Text goes out through WriteConsoleW when the handle is a console, so
 * names and paths in any script show up right, and as UTF-8 through
 * WriteFile otherwise (pipes and files, where a Unix-side reader expects
 * UTF-8).  Nothing is buffered: a line is complete on the handle as soon as
 * it is printed, which matters to a parent reading a pipe while we wait.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include "doadmin.h"

struct stream
{
    HANDLE handle;
    BOOL console;
};

static struct stream out_stream, err_stream;

/* width of the progress line now on the terminal, 0 if none */
static size_t progress_width;

static HANDLE interrupt_event;

static void stream_init(struct stream *stream, DWORD std)
{
    DWORD mode;

    stream->handle = GetStdHandle(std);
    stream->console = stream->handle && stream->handle != INVALID_HANDLE_VALUE
                      && GetConsoleMode(stream->handle, &mode);
}

void output_init(void)
{
    stream_init(&out_stream, STD_OUTPUT_HANDLE);
    stream_init(&err_stream, STD_ERROR_HANDLE);
}

BOOL output_is_terminal(void)
{
    return out_stream.console;
}

static void stream_write(const struct stream *stream, const WCHAR *text, size_t len)
{
    DWORD written;
    char *utf8;
    int size;

    if (!stream->handle || stream->handle == INVALID_HANDLE_VALUE || !len) return;
    if (stream->console)
    {
        WriteConsoleW(stream->handle, text, (DWORD)len, &written, NULL);
        return;
    }
    size = WideCharToMultiByte(CP_UTF8, 0, text, (int)len, NULL, 0, NULL, NULL);
    if (size <= 0 || !(utf8 = malloc(size))) return;
    WideCharToMultiByte(CP_UTF8, 0, text, (int)len, utf8, size, NULL, NULL);
    WriteFile(stream->handle, utf8, size, &written, NULL);
    free(utf8);
}

/* Formats into a buffer of the right size; NULL only without memory. */
static WCHAR *format_alloc(const WCHAR *fmt, va_list args)
{
    va_list copy;
    WCHAR *text;
    int len;

    va_copy(copy, args);
    len = _vscwprintf(fmt, copy);
    va_end(copy);
    if (len < 0 || !(text = malloc((len + 1) * sizeof(WCHAR)))) return NULL;
    _vsnwprintf(text, len + 1, fmt, args);
    text[len] = 0;
    return text;
}

static void stream_vprintf(const struct stream *stream, const WCHAR *fmt, va_list args)
{
    WCHAR *text;

    progress_end();
    if (!(text = format_alloc(fmt, args))) return;
    stream_write(stream, text, wcslen(text));
    free(text);
}

void out_printf(const WCHAR *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    stream_vprintf(&out_stream, fmt, args);
    va_end(args);
}

void err_printf(const WCHAR *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    stream_vprintf(&err_stream, fmt, args);
    va_end(args);
}

/* Columns the line may use: one less than the window, so that the cursor
 * never wraps to the next row (which would break the carriage return). */
static size_t terminal_columns(void)
{
    CONSOLE_SCREEN_BUFFER_INFO info;
    int width;

    if (!GetConsoleScreenBufferInfo(out_stream.handle, &info)) return 79;
    width = info.srWindow.Right - info.srWindow.Left + 1;
    if (width <= 1) width = info.dwSize.X;
    return width > 1 ? (size_t)width - 1 : 79;
}

void progress_show(const WCHAR *line)
{
    WCHAR buf[512];
    size_t len = wcslen(line), columns, pad;

    if (!out_stream.console)
    {
        stream_write(&out_stream, line, len);
        stream_write(&out_stream, L"\n", 1);
        return;
    }
    columns = terminal_columns();
    if (columns > ARRAY_SIZE(buf) - 2) columns = ARRAY_SIZE(buf) - 2;
    if (len > columns) len = columns;
    buf[0] = '\r';
    memcpy(buf + 1, line, len * sizeof(WCHAR));
    /* blank out what is left of a longer previous line */
    pad = progress_width > len ? progress_width - len : 0;
    if (pad > columns - len) pad = columns - len;
    wmemset(buf + 1 + len, ' ', pad);
    stream_write(&out_stream, buf, 1 + len + pad);
    progress_width = len;
}

void progress_end(void)
{
    if (!progress_width) return;
    progress_width = 0;
    stream_write(&out_stream, L"\n", 1);
}

/* ------------------------------------------------------------ Ctrl-C */

/* Runs on a thread of its own: it only raises the flag; the polling loop
 * that owns the job decides what to do (suspend, pause, or just stop). */
static BOOL WINAPI ctrl_handler(DWORD type)
{
    if (type != CTRL_C_EVENT && type != CTRL_BREAK_EVENT) return FALSE;
    SetEvent(interrupt_event);
    return TRUE;
}

void interrupt_init(void)
{
    interrupt_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    SetConsoleCtrlHandler(ctrl_handler, TRUE);
}

BOOL interrupted(void)
{
    return WaitForSingleObject(interrupt_event, 0) == WAIT_OBJECT_0;
}

BOOL sleep_interruptible(DWORD ms)
{
    return WaitForSingleObject(interrupt_event, ms) == WAIT_OBJECT_0;
}

/* ------------------------------------------------------------ numbers */

void format_bytes(WCHAR *buf, size_t count, UINT64 bytes)
{
    static const WCHAR *units[] = { L"KiB", L"MiB", L"GiB", L"TiB" };
    double value = (double)bytes;
    int unit = -1;

    if (bytes < 1024)
    {
        _snwprintf(buf, count, L"%I64u B", bytes);
        buf[count - 1] = 0;
        return;
    }
    while (value >= 1024.0 && unit < (int)ARRAY_SIZE(units) - 1)
    {
        value /= 1024.0;
        unit++;
    }
    _snwprintf(buf, count, L"%.1f %ls", value, units[unit]);
    buf[count - 1] = 0;
}

void format_duration(WCHAR *buf, size_t count, double seconds)
{
    UINT64 s = (UINT64)(seconds + 0.5);

    if (s >= 3600)
        _snwprintf(buf, count, L"%I64u:%02u:%02u", s / 3600, (unsigned int)(s / 60 % 60),
                   (unsigned int)(s % 60));
    else
        _snwprintf(buf, count, L"%u:%02u", (unsigned int)(s / 60), (unsigned int)(s % 60));
    buf[count - 1] = 0;
}

/* ------------------------------------------------------------ rate */

/* Samples older than this do not count: the rate should follow changes
 * (a throttled start, a faster mirror) within a few seconds. */
#define RATE_WINDOW_MS 3000

void rate_meter_add(struct rate_meter *meter, UINT64 bytes)
{
    unsigned int size = ARRAY_SIZE(meter->ticks);

    /* a restarted download counts from its new start */
    if (meter->used && bytes < meter->bytes[(meter->next + size - 1) % size]) meter->used = 0;
    meter->ticks[meter->next] = GetTickCount64();
    meter->bytes[meter->next] = bytes;
    meter->next = (meter->next + 1) % size;
    if (meter->used < size) meter->used++;
}

double rate_meter_rate(const struct rate_meter *meter)
{
    unsigned int size = ARRAY_SIZE(meter->ticks), newest, oldest, i;
    ULONGLONG now;

    if (meter->used < 2) return 0.0;
    newest = (meter->next + size - 1) % size;
    now = meter->ticks[newest];
    oldest = newest;
    for (i = 1; i < meter->used; i++)
    {
        unsigned int k = (newest + size - i) % size;
        if (now - meter->ticks[k] > RATE_WINDOW_MS) break;
        oldest = k;
    }
    if (oldest == newest || now == meter->ticks[oldest]) return 0.0;
    return (double)(meter->bytes[newest] - meter->bytes[oldest]) * 1000.0
           / (double)(now - meter->ticks[oldest]);
}

void format_progress(WCHAR *buf, size_t count, UINT64 done, UINT64 total, double rate,
                     const WCHAR *state, const WCHAR *note)
{
    WCHAR percent[16], done_text[32], total_text[32], rate_text[40], eta[32];
    BOOL known = total != (UINT64)-1;

    if (known && total)
        _snwprintf(percent, ARRAY_SIZE(percent), L"%5.1f%%", 100.0 * (double)done / (double)total);
    else
        _snwprintf(percent, ARRAY_SIZE(percent), known ? L"100.0%%" : L"  --%%");
    percent[ARRAY_SIZE(percent) - 1] = 0;
    format_bytes(done_text, ARRAY_SIZE(done_text), done);
    if (known) format_bytes(total_text, ARRAY_SIZE(total_text), total);
    else wcscpy(total_text, L"?");
    if (rate > 0.0)
    {
        format_bytes(rate_text, ARRAY_SIZE(rate_text), (UINT64)rate);
        wcscat(rate_text, L"/s");
    }
    else wcscpy(rate_text, L"--");
    if (known && rate > 0.0 && done < total)
        format_duration(eta, ARRAY_SIZE(eta), (double)(total - done) / rate);
    else if (known && done >= total)
        wcscpy(eta, L"0:00");
    else
        wcscpy(eta, L"--");
    _snwprintf(buf, count, L"%ls  %ls / %ls  %ls  ETA %ls  %ls%ls%ls", percent, done_text,
               total_text, rate_text, eta, state, note && *note ? L"  " : L"",
               note ? note : L"");
    buf[count - 1] = 0;
}
