/*
 * Delivery Optimization service: the job store, so jobs outlive the service
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
 * Under Wine the service is killed without notice whenever the session
 * ends, so nothing can wait for a "shutdown": every durable job (every
 * BITS-style job, and IDODownload downloads with NonVolatile set) has a
 * record, %ProgramData%\wine-dosvc\jobs\{GUID}.job, that follows the job as
 * it changes, and the records are read back when the service starts.
 *
 * Writing.  A change marks the job (job_touch -> store_job_changed) and one
 * writer thread writes marked jobs: at once for a change of state, property
 * or file, at most once a second for byte progress.  A job that ends
 * (Cancel, Complete, Abort) is the exception to "the caller does not wait":
 * store_job_gone waits until the writer has deleted its record, so a kill
 * right after the call cannot bring a cancelled job back.  A record is written to
 * tmp\{GUID}.tmp, flushed and renamed over {GUID}.job, so a crash at any
 * point leaves either the old or the new record, never half of one.  (The
 * temp files have a directory of their own because Wine looks for a file
 * it is asked to create under every case of its name: a new name in the
 * directory of 10,000 records costs a scan of all of them.)  All record
 * files are touched by the writer thread only (and by start-up before it
 * runs), so two writes of one job never race.
 *
 * Progress.  The bytes on disk are the progress: a temp file is always
 * written in order (a whole file front to back; a ranged file's ranges back
 * to back in offset order), so whatever prefix of it exists holds bytes we
 * received, in their place.  A killed process (TerminateProcess, the
 * session's end, wineserver -k) loses no byte it had written: the data is in
 * the kernel's page cache.  So at start-up a file resumes at its temp file's
 * size, checked against the recorded validator by the engine's If-Range,
 * and a kill costs at most the one read buffer that had not been written.
 * A power cut is different: pages not yet on disk are lost and some file
 * systems leave garbage in their place.  So each record also carries the
 * time the machine booted, temp files are flushed before a record that
 * counts their bytes is written (and before a file is called transferred),
 * and after a reboot a file resumes at the smaller of its recorded progress
 * and its size.
 *
 * Record layout: magic "DOSVCJOB", major and minor version (16 bits each),
 * header size, payload size, CRC-32 of the payload, CRC-32 of the header
 * before it; then the payload (fields, see store.h).  A record with a newer
 * major version is left alone; one that fails any check is reported once,
 * renamed to {GUID}.bad and skipped.
 */

#include "dosvc_private.h"
#include "winreg.h"
#include "wincrypt.h"
#include "store.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

#define STORE_MAJOR          1
#define STORE_MINOR          1   /* 1: FILE_STREAM_SINK, TAG_CLIENT_CERT */
#define HEADER_SIZE          28
#define MAX_RECORD_SIZE      (64 * 1024 * 1024)
#define PROGRESS_INTERVAL_MS 1000
#define RETENTION_DAYS       30
#define RETENTION_PERIOD_MS  (60 * 60 * 1000)
/* boot times computed from two clocks wobble; a reboot moves them by far more */
#define SAME_BOOT_SLACK_MS   (2 * 60 * 1000)

#define FILETIME_PER_MS      10000
#define FILETIME_PER_HOUR    ((ULONGLONG)3600 * 1000 * FILETIME_PER_MS)

static const BYTE record_magic[8] = { 'D','O','S','V','C','J','O','B' };

/* job->store_flags, under job->cs */
#define STORE_QUEUED 0x1     /* the writer holds the job in its queue */
#define STORE_URGENT 0x2     /* more than byte progress changed since the last write */
#define STORE_SAVED  0x4     /* a record of the job exists */
#define STORE_WRITING 0x8    /* the writer is writing or deleting its record right now */

/* tags of a job record */
enum
{
    TAG_ID = 1,
    TAG_DISPLAY_NAME,
    TAG_DESCRIPTION,
    TAG_OWNER,
    TAG_TYPE,
    TAG_PRIORITY,
    TAG_STATE,
    TAG_TIMES,
    TAG_NOTIFY_FLAGS,
    TAG_NOTIFY_CMDLINE,
    TAG_NOTIFY_PARAMS,
    TAG_RETRY_DELAY,
    TAG_NO_PROGRESS_TIMEOUT,
    TAG_MAX_DOWNLOAD_TIME,
    TAG_ERROR_COUNT,
    TAG_ERROR_CODE,
    TAG_ERROR_CONTEXT,
    TAG_ERROR_FILE,
    TAG_ERROR_PROTOCOL,
    TAG_PROXY_USAGE,
    TAG_PROXY_LIST,
    TAG_PROXY_BYPASS,
    TAG_CUSTOM_HEADERS,
    TAG_CUSTOM_AUTH_HEADERS,
    TAG_SECURITY_FLAGS,
    TAG_COST_FLAGS,
    TAG_FILE_ACL_FLAGS,
    TAG_PEER_CACHING_FLAGS,
    TAG_CREDENTIAL,          /* block */
    TAG_NOTIFICATION_CLSID,
    TAG_BOOT_TIME,
    TAG_CLIENT_CERT,         /* minor 1, block: the certificate IBackgroundCopyJobHttpOptions names */
    TAG_FILE = 64,           /* block, one per file in order */
    TAG_DOWNLOAD = 65,       /* block, download.c's */
};

/* tags inside a TAG_CREDENTIAL block */
enum
{
    CRED_TARGET = 1,
    CRED_SCHEME,
    CRED_USER,
    CRED_PASSWORD,           /* CryptProtectData blob of the UTF-16 password */
};

/* tags inside a TAG_CLIENT_CERT block: what BITS keeps, the certificate
 * is looked up again when the job next transfers */
enum
{
    CERT_LOCATION = 1,
    CERT_STORE,
    CERT_HASH,               /* SHA-1, 20 bytes */
};

/* tags inside a TAG_FILE block */
enum
{
    FILE_ID = 1,
    FILE_REMOTE_NAME,
    FILE_LOCAL_NAME,
    FILE_RANGES,             /* offset, length pairs of UINT64 */
    FILE_RANGE_BASE,
    FILE_SIZE_HINT,
    FILE_INTEGRITY_MANDATORY,   /* present only once set */
    FILE_VALIDATION_STATE,
    FILE_DECRYPTION_INFO,
    FILE_INTEGRITY_INFO,
    FILE_TEMP_NAME,
    FILE_REMOTE_SIZE,
    FILE_BYTES_DONE,
    FILE_TRANSFERRED,
    FILE_COMPLETED,
    FILE_ETAG,
    FILE_LAST_MODIFIED,
    FILE_RESPONSE_HEADERS,
    FILE_REDIRECT_TARGET,
    FILE_SERVER_IP,
    FILE_LAST_STATUS,
    FILE_BYTES_FROM_HTTP,
    FILE_HTTP_CONNECTIONS,
    FILE_TRANSFER_MS,
    FILE_BYTES_FROM_CACHE,
    FILE_CACHE_CONNECTIONS,
    FILE_STREAM_SINK,        /* minor 1: the bytes went to a client's stream */
};

static CRITICAL_SECTION store_cs;
static CRITICAL_SECTION_DEBUG store_cs_debug =
{
    0, 0, &store_cs,
    { &store_cs_debug.ProcessLocksList, &store_cs_debug.ProcessLocksList },
    0, 0, { 0 }
};
static CRITICAL_SECTION store_cs = { &store_cs_debug, -1, 0, 0, 0, 0 };

/* guarded by store_cs */
static struct do_job **queue;    /* jobs with STORE_QUEUED, one reference each */
static ULONG queue_count, queue_capacity;
static BOOL wake_pending;

static volatile BOOL store_running;   /* the hooks do nothing outside startup..shutdown */
static BOOL stopping;
static HANDLE wake_event;
static HANDLE writer_thread;
static DWORD writer_thread_id;
/* passes of the writer over its queue, under store_cs: taken, and finished */
static ULONG passes_started, passes_done;
static CONDITION_VARIABLE pass_done = CONDITION_VARIABLE_INIT;
static WCHAR store_dir[MAX_PATH];
static WCHAR tmp_dir[MAX_PATH];
static ULONGLONG boot_time;           /* FILETIME units of this boot, see current_boot_time */

static HKEY parameters_key;           /* watched for TestClockOffsetHours */
static HANDLE parameters_event;

/* ------------------------------------------------------------------ CRC-32 */

/* The common CRC-32 (IEEE 802.3, reflected, polynomial 0xedb88320). */
static UINT32 crc32(const BYTE *data, size_t size)
{
    static UINT32 table[256];
    UINT32 crc = ~0u;
    size_t i;

    if (!table[1])
    {
        UINT32 n, k, c;

        for (n = 0; n < 256; n++)
        {
            for (c = n, k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
    }
    for (i = 0; i < size; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ------------------------------------------------------------------ fields */

static void put_le16(BYTE *p, USHORT v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static void put_le32(BYTE *p, UINT32 v)
{
    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
}

static USHORT get_le16(const BYTE *p)
{
    return p[0] | (p[1] << 8);
}

static UINT32 get_le32(const BYTE *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((UINT32)p[3] << 24);
}

static BYTE *writer_reserve(struct store_writer *w, size_t size)
{
    BYTE *data;

    if (w->failed) return NULL;
    if (size > MAX_RECORD_SIZE || w->size + size > MAX_RECORD_SIZE)
    {
        w->failed = TRUE;
        return NULL;
    }
    if (w->size + size > w->capacity)
    {
        size_t capacity = max(w->capacity * 2, max(w->size + size, 1024));

        if (!(data = realloc(w->data, capacity)))
        {
            w->failed = TRUE;
            return NULL;
        }
        w->data = data;
        w->capacity = capacity;
    }
    data = w->data + w->size;
    w->size += size;
    return data;
}

void store_put_bytes(struct store_writer *w, USHORT tag, const void *data, size_t size)
{
    BYTE *p;

    if (!(p = writer_reserve(w, 6 + size))) return;
    put_le16(p, tag);
    put_le32(p + 2, size);
    if (size) memcpy(p + 6, data, size);
}

void store_put_u32(struct store_writer *w, USHORT tag, UINT32 value)
{
    BYTE data[4];

    put_le32(data, value);
    store_put_bytes(w, tag, data, sizeof(data));
}

void store_put_u64(struct store_writer *w, USHORT tag, UINT64 value)
{
    BYTE data[8];

    put_le32(data, (UINT32)value);
    put_le32(data + 4, (UINT32)(value >> 32));
    store_put_bytes(w, tag, data, sizeof(data));
}

void store_put_str(struct store_writer *w, USHORT tag, const WCHAR *str)
{
    /* x86-64 only (see README), so WCHARs are already little-endian */
    if (str) store_put_bytes(w, tag, str, lstrlenW(str) * sizeof(WCHAR));
}

size_t store_begin_block(struct store_writer *w, USHORT tag)
{
    store_put_bytes(w, tag, NULL, 0);
    return w->size;
}

void store_end_block(struct store_writer *w, size_t mark)
{
    if (w->failed || mark < 6 || mark > w->size) return;
    put_le32(w->data + mark - 4, w->size - mark);
}

BOOL store_next(struct store_reader *r, USHORT *tag, struct store_reader *value)
{
    UINT32 size;

    if (r->bad || r->pos == r->size) return FALSE;
    if (r->size - r->pos < 6)
    {
        r->bad = TRUE;
        return FALSE;
    }
    *tag = get_le16(r->data + r->pos);
    size = get_le32(r->data + r->pos + 2);
    if (size > r->size - r->pos - 6)
    {
        r->bad = TRUE;
        return FALSE;
    }
    value->data = r->data + r->pos + 6;
    value->size = size;
    value->pos = 0;
    value->bad = FALSE;
    r->pos += 6 + size;
    return TRUE;
}

BOOL store_get_u32(const struct store_reader *value, UINT32 *out)
{
    if (value->size != 4) return FALSE;
    *out = get_le32(value->data);
    return TRUE;
}

BOOL store_get_u64(const struct store_reader *value, UINT64 *out)
{
    if (value->size != 8) return FALSE;
    *out = get_le32(value->data) | ((UINT64)get_le32(value->data + 4) << 32);
    return TRUE;
}

BOOL store_get_str(const struct store_reader *value, WCHAR **out)
{
    WCHAR *str;

    if (value->size % sizeof(WCHAR)) return FALSE;
    if (!(str = malloc(value->size + sizeof(WCHAR)))) return FALSE;
    memcpy(str, value->data, value->size);
    str[value->size / sizeof(WCHAR)] = 0;
    /* an embedded null would make the string shorter than it claims */
    if (lstrlenW(str) != value->size / sizeof(WCHAR))
    {
        free(str);
        return FALSE;
    }
    *out = str;
    return TRUE;
}

BOOL store_get_guid(const struct store_reader *value, GUID *out)
{
    if (value->size != sizeof(GUID)) return FALSE;
    memcpy(out, value->data, sizeof(GUID));
    return TRUE;
}

/* ------------------------------------------------------------------ clocks */

static ULONGLONG filetime_now(void)
{
    FILETIME ft;

    GetSystemTimeAsFileTime(&ft);
    return ((ULONGLONG)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
}

/* When the machine booted: the tick count is the time since boot, under
 * Wine too (it is CLOCK_MONOTONIC).  A different value means the page cache
 * of the previous run did not necessarily reach the disk. */
static ULONGLONG current_boot_time(void)
{
    return filetime_now() - GetTickCount64() * FILETIME_PER_MS;
}

/* Hours added to the clock for retention: a test-only registry value,
 * read each time, so a test can age the jobs without waiting a month. */
static ULONGLONG clock_offset(void)
{
    DWORD hours = 0, size = sizeof(hours), type;

    if (!parameters_key || RegQueryValueExW(parameters_key, L"TestClockOffsetHours", NULL, &type,
                                            (BYTE *)&hours, &size) || type != REG_DWORD)
        hours = 0;
    return hours * FILETIME_PER_HOUR;
}

/* Jobs are removed once they are 30 days old, counted from their creation
 * (DO ignores BITS' inactivity timeout); completed and cancelled jobs are
 * gone already. */
static BOOL is_expired(const BG_JOB_TIMES *times, ULONGLONG now)
{
    ULONGLONG created = ((ULONGLONG)times->CreationTime.dwHighDateTime << 32) | times->CreationTime.dwLowDateTime;

    return now > created && now - created >= RETENTION_DAYS * 24 * FILETIME_PER_HOUR;
}

/* ------------------------------------------------------------------ paths */

static HRESULT init_store_dir(void)
{
    WCHAR value[MAX_PATH], base[MAX_PATH];
    DWORD size = sizeof(value), len;

    /* Where Windows takes %ProgramData% from.  The variable itself is not
     * used: Wine gives services another environment (C:\users\Public). */
    if (RegGetValueW(HKEY_LOCAL_MACHINE, L"Software\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList",
                     L"ProgramData", RRF_RT_REG_SZ | RRF_RT_REG_EXPAND_SZ | RRF_NOEXPAND, NULL, value, &size) ||
        !(len = ExpandEnvironmentStringsW(value, base, ARRAY_SIZE(base))) || len > ARRAY_SIZE(base) ||
        lstrlenW(base) < 3 || base[1] != ':')
    {
        if (!GetWindowsDirectoryW(base, ARRAY_SIZE(base)) || lstrlenW(base) < 2) lstrcpyW(base, L"C:");
        base[2] = 0;
        lstrcatW(base, L"\\ProgramData");
    }
    if (lstrlenW(base) + 64 >= ARRAY_SIZE(store_dir)) return HRESULT_FROM_WIN32(ERROR_FILENAME_EXCED_RANGE);
    swprintf(store_dir, ARRAY_SIZE(store_dir), L"%s\\wine-dosvc", base);
    CreateDirectoryW(store_dir, NULL);
    lstrcatW(store_dir, L"\\jobs");
    if (!CreateDirectoryW(store_dir, NULL) && GetLastError() != ERROR_ALREADY_EXISTS)
        return HRESULT_FROM_WIN32(GetLastError());
    swprintf(tmp_dir, ARRAY_SIZE(tmp_dir), L"%s\\tmp", store_dir);
    if (!CreateDirectoryW(tmp_dir, NULL) && GetLastError() != ERROR_ALREADY_EXISTS)
        return HRESULT_FROM_WIN32(GetLastError());
    return S_OK;
}

/* {GUID}.job in the store, or {GUID}.tmp in its tmp directory */
static void record_path(WCHAR *path, const GUID *id, const WCHAR *ext)
{
    WCHAR guid[40];

    StringFromGUID2(id, guid, ARRAY_SIZE(guid));
    swprintf(path, MAX_PATH, L"%s\\%s%s", wcscmp(ext, L".tmp") ? store_dir : tmp_dir, guid, ext);
}

/* ------------------------------------------------------------------ saving */

static BOOL store_job_is_durable(struct do_job *job)
{
    ULONG i;

    if (job->internal) return FALSE;
    if (!job->download) return TRUE;
    /* a download's stream sink lives in the client: nothing of it can come
     * back (a BITS-style job comes back without its streams, see load_file) */
    for (i = 0; i < job->file_count; i++)
        if (job->files[i]->stream) return FALSE;
    return download_is_durable(job);
}

static void save_credential(struct store_writer *w, const struct job_credential *cred)
{
    DATA_BLOB in, out = { 0 };
    size_t mark;

    mark = store_begin_block(w, TAG_CREDENTIAL);
    store_put_u32(w, CRED_TARGET, cred->target);
    store_put_u32(w, CRED_SCHEME, cred->scheme);
    store_put_str(w, CRED_USER, cred->user);
    if (cred->password)
    {
        /* not in the clear at least; under Wine this hides the password
         * from a casual look, it does not protect it from the prefix's owner */
        in.pbData = (BYTE *)cred->password;
        in.cbData = lstrlenW(cred->password) * sizeof(WCHAR);
        if (CryptProtectData(&in, L"wine-dosvc job credential", NULL, NULL, NULL,
                             CRYPTPROTECT_UI_FORBIDDEN | CRYPTPROTECT_LOCAL_MACHINE, &out))
        {
            store_put_bytes(w, CRED_PASSWORD, out.pbData, out.cbData);
            LocalFree(out.pbData);
        }
        else WARN("CryptProtectData failed (%lu); the password is not kept\n", GetLastError());
    }
    store_end_block(w, mark);
}

static void save_file(struct store_writer *w, const struct do_file *file)
{
    DWORD i;

    store_put_str(w, FILE_ID, file->file_id);
    store_put_str(w, FILE_REMOTE_NAME, file->remote_name);
    store_put_str(w, FILE_LOCAL_NAME, file->local_name);
    if (file->range_count)
    {
        BYTE *data = malloc(file->range_count * 16);

        if (!data)
        {
            w->failed = TRUE;
            return;
        }
        for (i = 0; i < file->range_count; i++)
        {
            put_le32(data + i * 16, (UINT32)file->ranges[i].offset);
            put_le32(data + i * 16 + 4, (UINT32)(file->ranges[i].offset >> 32));
            put_le32(data + i * 16 + 8, (UINT32)file->ranges[i].length);
            put_le32(data + i * 16 + 12, (UINT32)(file->ranges[i].length >> 32));
        }
        store_put_bytes(w, FILE_RANGES, data, file->range_count * 16);
        free(data);
    }
    if (file->range_base) store_put_u64(w, FILE_RANGE_BASE, file->range_base);
    store_put_u64(w, FILE_SIZE_HINT, file->size_hint);
    if (file->integrity_mandatory_set) store_put_u32(w, FILE_INTEGRITY_MANDATORY, file->integrity_mandatory);
    store_put_u32(w, FILE_VALIDATION_STATE, file->validation_state);
    store_put_str(w, FILE_DECRYPTION_INFO, file->decryption_info);
    store_put_str(w, FILE_INTEGRITY_INFO, file->integrity_info);
    store_put_str(w, FILE_TEMP_NAME, file->temp_name);
    store_put_u64(w, FILE_REMOTE_SIZE, file->remote_size);
    store_put_u64(w, FILE_BYTES_DONE, file->bytes_done);
    store_put_u32(w, FILE_TRANSFERRED, file->transferred);
    store_put_u32(w, FILE_COMPLETED, file->completed);
    store_put_str(w, FILE_ETAG, file->etag);
    store_put_str(w, FILE_LAST_MODIFIED, file->last_modified);
    store_put_str(w, FILE_RESPONSE_HEADERS, file->response_headers);
    store_put_str(w, FILE_REDIRECT_TARGET, file->redirect_target);
    store_put_str(w, FILE_SERVER_IP, file->server_ip);
    store_put_u32(w, FILE_LAST_STATUS, file->last_status);
    store_put_u64(w, FILE_BYTES_FROM_HTTP, file->bytes_from_http);
    store_put_u32(w, FILE_HTTP_CONNECTIONS, file->http_connections);
    store_put_u32(w, FILE_TRANSFER_MS, file->transfer_ms);
    store_put_u64(w, FILE_BYTES_FROM_CACHE, file->bytes_from_cache);
    store_put_u32(w, FILE_CACHE_CONNECTIONS, file->cache_connections);
    if (file->stream || file->stream_lost) store_put_u32(w, FILE_STREAM_SINK, 1);
}

/* The record of a job, header space included; under job->cs.  Callback
 * pointers are left out, as on Windows (a client registers again). */
static void save_job(struct store_writer *w, struct do_job *job)
{
    ULONG i, error_file = ~0u;
    size_t mark;

    writer_reserve(w, HEADER_SIZE);
    store_put_bytes(w, TAG_ID, &job->id, sizeof(job->id));
    store_put_str(w, TAG_DISPLAY_NAME, job->display_name);
    store_put_str(w, TAG_DESCRIPTION, job->description);
    store_put_str(w, TAG_OWNER, job->owner);
    store_put_u32(w, TAG_TYPE, job->type);
    store_put_u32(w, TAG_PRIORITY, job->priority);
    store_put_u32(w, TAG_STATE, job->state);
    store_put_bytes(w, TAG_TIMES, &job->times, sizeof(job->times));
    store_put_u32(w, TAG_NOTIFY_FLAGS, job->notify_flags);
    store_put_str(w, TAG_NOTIFY_CMDLINE, job->notify_cmdline);
    store_put_str(w, TAG_NOTIFY_PARAMS, job->notify_params);
    store_put_u32(w, TAG_RETRY_DELAY, job->retry_delay);
    if (job->no_progress_timeout_set) store_put_u32(w, TAG_NO_PROGRESS_TIMEOUT, job->no_progress_timeout);
    store_put_u32(w, TAG_MAX_DOWNLOAD_TIME, job->max_download_time);
    store_put_u32(w, TAG_ERROR_COUNT, job->error_count);
    if (job->error.code != S_OK)
    {
        store_put_u32(w, TAG_ERROR_CODE, job->error.code);
        store_put_u32(w, TAG_ERROR_CONTEXT, job->error.context);
        for (i = 0; i < job->file_count; i++)
            if (job->files[i] == job->error.file) error_file = i;
        store_put_u32(w, TAG_ERROR_FILE, error_file);
        store_put_str(w, TAG_ERROR_PROTOCOL, job->error.protocol);
    }
    store_put_u32(w, TAG_PROXY_USAGE, job->proxy_usage);
    store_put_str(w, TAG_PROXY_LIST, job->proxy_list);
    store_put_str(w, TAG_PROXY_BYPASS, job->proxy_bypass);
    store_put_str(w, TAG_CUSTOM_HEADERS, job->custom_headers);
    store_put_str(w, TAG_CUSTOM_AUTH_HEADERS, job->custom_auth_headers);
    store_put_u32(w, TAG_SECURITY_FLAGS, job->security_flags);
    store_put_u32(w, TAG_COST_FLAGS, job->cost_flags);
    store_put_u32(w, TAG_FILE_ACL_FLAGS, job->file_acl_flags);
    store_put_u32(w, TAG_PEER_CACHING_FLAGS, job->peer_caching_flags);
    for (i = 0; i < job->credential_count; i++) save_credential(w, &job->credentials[i]);
    store_put_bytes(w, TAG_NOTIFICATION_CLSID, &job->notification_clsid, sizeof(GUID));
    store_put_u64(w, TAG_BOOT_TIME, boot_time);
    if (job->cert_by_store)
    {
        mark = store_begin_block(w, TAG_CLIENT_CERT);
        store_put_u32(w, CERT_LOCATION, job->cert_location);
        store_put_str(w, CERT_STORE, job->cert_store);
        store_put_bytes(w, CERT_HASH, job->cert_hash, sizeof(job->cert_hash));
        store_end_block(w, mark);
    }
    for (i = 0; i < job->file_count; i++)
    {
        mark = store_begin_block(w, TAG_FILE);
        save_file(w, job->files[i]);
        store_end_block(w, mark);
    }
    if (job->download)
    {
        mark = store_begin_block(w, TAG_DOWNLOAD);
        download_store_save(job, w);
        store_end_block(w, mark);
    }
}

/* Fill in the header and write the record: {GUID}.tmp, flushed, then
 * renamed over {GUID}.job. */
static BOOL write_record(const GUID *id, struct store_writer *w)
{
    WCHAR tmp[MAX_PATH], path[MAX_PATH];
    DWORD written, error;
    HANDLE file;
    BOOL ok;

    memcpy(w->data, record_magic, sizeof(record_magic));
    put_le16(w->data + 8, STORE_MAJOR);
    put_le16(w->data + 10, STORE_MINOR);
    put_le32(w->data + 12, HEADER_SIZE);
    put_le32(w->data + 16, w->size - HEADER_SIZE);
    put_le32(w->data + 20, crc32(w->data + HEADER_SIZE, w->size - HEADER_SIZE));
    put_le32(w->data + 24, crc32(w->data, 24));

    record_path(tmp, id, L".tmp");
    record_path(path, id, L".job");
    file = CreateFileW(tmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (file == INVALID_HANDLE_VALUE)
    {
        WARN("cannot create %s: %lu\n", debugstr_w(tmp), GetLastError());
        return FALSE;
    }
    ok = WriteFile(file, w->data, w->size, &written, NULL) && written == w->size;
    /* the new record must be on disk before it replaces the old one */
    if (ok) ok = FlushFileBuffers(file);
    error = GetLastError();
    CloseHandle(file);
    if (ok) ok = MoveFileExW(tmp, path, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH);
    if (!ok)
    {
        WARN("cannot write %s: %lu\n", debugstr_w(path), error ? error : GetLastError());
        DeleteFileW(tmp);
    }
    return ok;
}

static void delete_record(const GUID *id)
{
    WCHAR path[MAX_PATH];

    record_path(path, id, L".job");
    if (!DeleteFileW(path) && GetLastError() != ERROR_FILE_NOT_FOUND)
        WARN("cannot delete %s: %lu\n", debugstr_w(path), GetLastError());
}

/* Flush what a worker wrote to a temp file so far.  The handle is
 * duplicated under the lock (Cancel may close the original at any time) and
 * flushed without it, so the worker's writes do not wait for the disk. */
static HANDLE dup_writer(struct do_file *file)
{
    HANDLE dup = NULL;

    if (file->write_handle &&
        !DuplicateHandle(GetCurrentProcess(), file->write_handle, GetCurrentProcess(), &dup, 0, FALSE,
                         DUPLICATE_SAME_ACCESS))
        dup = NULL;
    return dup;
}

void store_sync_temp(struct do_job *job, struct do_file *file)
{
    HANDLE dup;

    if (!store_running) return;
    EnterCriticalSection(&job->cs);
    dup = dup_writer(file);
    LeaveCriticalSection(&job->cs);
    if (!dup) return;
    if (!FlushFileBuffers(dup)) WARN("flushing %s failed: %lu\n", debugstr_w(file->temp_name), GetLastError());
    CloseHandle(dup);
}

/* A run fetched the whole file and closed its temp file: the record that
 * calls it transferred counts its bytes, so the writer flushes them first,
 * through a handle it keeps on the file.  The worker does not wait for the
 * disk: a flush takes milliseconds, which is what a small download takes in
 * all.  The handle is opened by name only now, after the worker's check that
 * the file was not deleted meanwhile (Wine removes a deleted file at its
 * last close, so no other handle of ours may be open for that check).  A job
 * no record is written for needs no flush.  Under job->cs. */
void store_hand_temp(struct do_job *job, struct do_file *file)
{
    HANDLE handle;

    if (!store_running || job_is_final(job) || !store_job_is_durable(job) || !file->temp_name) return;
    handle = CreateFileW(file->temp_name, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (handle == INVALID_HANDLE_VALUE)
    {
        WARN("cannot open %s to flush it: %lu\n", debugstr_w(file->temp_name), GetLastError());
        return;
    }
    file_drop_flush(file);
    file->flush_handle = handle;
    store_job_changed(job, TRUE);
}

/* ------------------------------------------------------------------ the writer */

/* Under store_cs; takes a job reference. */
static BOOL queue_push(struct do_job *job)
{
    if (queue_count == queue_capacity)
    {
        ULONG capacity = queue_capacity ? queue_capacity * 2 : 64;
        struct do_job **jobs;

        if (!(jobs = realloc(queue, capacity * sizeof(*jobs))))
        {
            ERR("out of memory; job %s is not saved\n", debugstr_guid(&job->id));
            return FALSE;
        }
        queue = jobs;
        queue_capacity = capacity;
    }
    job_addref(job);
    queue[queue_count++] = job;
    return TRUE;
}

void store_job_changed(struct do_job *job, BOOL progress_only)
{
    BOOL wake = FALSE;

    keepalive_job_changed(job);
    if (!store_running) return;
    if (!(job->store_flags & STORE_SAVED) && (job_is_final(job) || !store_job_is_durable(job))) return;
    if (!progress_only) job->store_flags |= STORE_URGENT;

    EnterCriticalSection(&store_cs);
    if (!(job->store_flags & STORE_QUEUED) && queue_push(job))
    {
        job->store_flags |= STORE_QUEUED;
        /* the writer must learn when this one is due, even if it is not urgent */
        wake = TRUE;
    }
    if (!progress_only) wake = TRUE;
    if (wake && wake_pending) wake = FALSE;
    else if (wake) wake_pending = TRUE;
    LeaveCriticalSection(&store_cs);
    if (wake) SetEvent(wake_event);
}

void store_job_added(struct do_job *job)
{
    EnterCriticalSection(&job->cs);
    store_job_changed(job, FALSE);
    LeaveCriticalSection(&job->cs);
}

struct pending_write
{
    struct do_job *job;
    struct store_writer writer;
    HANDLE flush[16];        /* temp files being written or let go of, to flush before the record */
    ULONG flush_count;
    BOOL write;              /* else delete the record */
};

/* Write (or delete) one job's record now.  Returns FALSE if it is not due. */
static BOOL save_one(struct do_job *job, BOOL flush_all, ULONGLONG now, ULONGLONG *due)
{
    struct pending_write op = { job };
    BOOL saved, done, stale;
    ULONG i;

    EnterCriticalSection(&job->cs);
    *due = job->store_tick + PROGRESS_INTERVAL_MS;
    if (!flush_all && !(job->store_flags & STORE_URGENT) && now < *due)
    {
        LeaveCriticalSection(&job->cs);
        return FALSE;
    }
    job->store_flags &= ~(STORE_QUEUED | STORE_URGENT);
    job->store_flags |= STORE_WRITING;
    job->store_tick = now;
    saved = job->store_flags & STORE_SAVED;
    if (!job_is_final(job) && store_job_is_durable(job))
    {
        op.write = TRUE;
        save_job(&op.writer, job);
        for (i = 0; i < job->file_count && op.flush_count < ARRAY_SIZE(op.flush); i++)
        {
            if ((op.flush[op.flush_count] = dup_writer(job->files[i]))) op.flush_count++;
            if (op.flush_count < ARRAY_SIZE(op.flush) && job->files[i]->flush_handle)
            {
                op.flush[op.flush_count++] = job->files[i]->flush_handle;
                job->files[i]->flush_handle = NULL;
            }
        }
    }
    else for (i = 0; i < job->file_count; i++) file_drop_flush(job->files[i]);
    if (!op.write && !saved) job->store_flags &= ~STORE_WRITING;
    LeaveCriticalSection(&job->cs);

    if (!op.write && !saved) return TRUE;
    /* the bytes the record counts must be on disk before the record */
    for (i = 0; i < op.flush_count; i++)
    {
        FlushFileBuffers(op.flush[i]);
        CloseHandle(op.flush[i]);
    }
    if (!op.write)
    {
        delete_record(&job->id);
        done = TRUE;
    }
    else if (op.writer.failed)
    {
        ERR("job %s: record too large or out of memory; not saved\n", debugstr_guid(&job->id));
        done = FALSE;
    }
    else done = write_record(&job->id, &op.writer);
    free(op.writer.data);

    EnterCriticalSection(&job->cs);
    if (op.write && done) job->store_flags |= STORE_SAVED;
    else if (!op.write) job->store_flags &= ~STORE_SAVED;
    /* Ended while we wrote (its end found no record to queue for deletion):
     * the record we just wrote must not outlive it. */
    stale = op.write && done && (job_is_final(job) || !store_job_is_durable(job));
    if (!stale) job->store_flags &= ~STORE_WRITING;
    LeaveCriticalSection(&job->cs);
    if (stale)
    {
        delete_record(&job->id);
        EnterCriticalSection(&job->cs);
        job->store_flags &= ~(STORE_SAVED | STORE_WRITING);
        LeaveCriticalSection(&job->cs);
    }
    return TRUE;
}

/* Write what is due; returns the tick of the next write, or 0 for none. */
static ULONGLONG process_queue(BOOL flush_all)
{
    ULONGLONG now = GetTickCount64(), next = 0, due;
    struct do_job **jobs;
    ULONG count, i;

    EnterCriticalSection(&store_cs);
    jobs = queue;
    count = queue_count;
    queue = NULL;
    queue_count = queue_capacity = 0;
    wake_pending = FALSE;
    passes_started++;
    LeaveCriticalSection(&store_cs);

    for (i = 0; i < count; i++)
    {
        struct do_job *job = jobs[i];

        if (save_one(job, flush_all, now, &due))
        {
            job_release(job);
            continue;
        }
        /* not due yet: back into the queue, keeping its reference */
        EnterCriticalSection(&store_cs);
        if (queue_count == queue_capacity)
        {
            ULONG capacity = queue_capacity ? queue_capacity * 2 : 64;
            struct do_job **grown = realloc(queue, capacity * sizeof(*grown));

            if (grown)
            {
                queue = grown;
                queue_capacity = capacity;
            }
        }
        if (queue_count < queue_capacity)
        {
            queue[queue_count++] = job;
            job = NULL;
        }
        LeaveCriticalSection(&store_cs);
        if (job)
        {
            /* no memory to wait: write it now rather than lose it */
            save_one(job, TRUE, now, &due);
            job_release(job);
        }
        else if (!next || due < next) next = due;
    }
    free(jobs);
    EnterCriticalSection(&store_cs);
    passes_done++;
    LeaveCriticalSection(&store_cs);
    WakeAllConditionVariable(&pass_done);
    return next;
}

/* How long a caller of store_job_gone waits at most; only a guard. */
#define GONE_TIMEOUT_MS 60000

void store_job_gone(struct do_job *job)
{
    ULONGLONG end = GetTickCount64() + GONE_TIMEOUT_MS, now;
    ULONG target;
    BOOL pending;

    /* the writer itself (retention) must not wait for itself, nor anyone
     * for a writer that is not running yet */
    if (!store_running || !writer_thread_id || GetCurrentThreadId() == writer_thread_id) return;
    EnterCriticalSection(&job->cs);
    pending = job->store_flags & (STORE_SAVED | STORE_QUEUED | STORE_WRITING);
    LeaveCriticalSection(&job->cs);
    if (!pending) return;

    /* The final state queued the job before our caller got here (or a pass
     * is writing it right now and will find it ended), so the pass after
     * the one now running (if any) has dealt with it. */
    EnterCriticalSection(&store_cs);
    target = passes_started + 1;
    if (!wake_pending)
    {
        wake_pending = TRUE;
        SetEvent(wake_event);
    }
    while ((LONG)(passes_done - target) < 0 && store_running && (now = GetTickCount64()) < end)
        SleepConditionVariableCS(&pass_done, &store_cs, (DWORD)(end - now));
    if ((LONG)(passes_done - target) < 0)
        WARN("job %s: its record may outlive it (the writer is behind)\n", debugstr_guid(&job->id));
    LeaveCriticalSection(&store_cs);
}

/* ------------------------------------------------------------------ retention */

static void watch_parameters(void)
{
    if (parameters_key && parameters_event &&
        RegNotifyChangeKeyValue(parameters_key, FALSE, REG_NOTIFY_CHANGE_LAST_SET, parameters_event, TRUE))
    {
        CloseHandle(parameters_event);
        parameters_event = NULL;
    }
}

/* Cancel live jobs that are too old; Cancel deletes their temp files, and
 * the writer their records. */
static void run_retention(void)
{
    ULONGLONG now = filetime_now() + clock_offset();
    struct do_job **jobs;
    ULONG count, i;
    BOOL expired;

    if (FAILED(manager_snapshot(SNAPSHOT_JOBS | SNAPSHOT_DOWNLOADS, &jobs, &count))) return;
    for (i = 0; i < count; i++)
    {
        EnterCriticalSection(&jobs[i]->cs);
        expired = is_expired(&jobs[i]->times, now);
        LeaveCriticalSection(&jobs[i]->cs);
        if (expired)
        {
            TRACE("job %s is older than %u days; removing it\n", debugstr_guid(&jobs[i]->id), RETENTION_DAYS);
            IBackgroundCopyJob5_Cancel(&jobs[i]->IBackgroundCopyJob5_iface);
        }
        job_release(jobs[i]);
    }
    free(jobs);
}

static DWORD CALLBACK writer_proc(void *arg)
{
    ULONGLONG next = 0, next_retention = GetTickCount64() + RETENTION_PERIOD_MS, now;
    HANDLE handles[2];
    DWORD count, timeout, ret;

    for (;;)
    {
        now = GetTickCount64();
        timeout = next_retention > now ? (DWORD)min(next_retention - now, RETENTION_PERIOD_MS) : 0;
        if (next) timeout = next > now ? (DWORD)min(next - now, timeout) : 0;
        handles[0] = wake_event;
        handles[1] = parameters_event;
        count = parameters_event ? 2 : 1;
        ret = WaitForMultipleObjects(count, handles, FALSE, timeout);

        if (ret == WAIT_OBJECT_0 + 1)
        {
            /* TestClockOffsetHours may have changed */
            watch_parameters();
            run_retention();
        }
        else if (GetTickCount64() >= next_retention)
        {
            run_retention();
            next_retention = GetTickCount64() + RETENTION_PERIOD_MS;
        }
        next = process_queue(stopping);
        if (stopping)
        {
            EnterCriticalSection(&store_cs);
            count = queue_count;
            LeaveCriticalSection(&store_cs);
            if (!count) break;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ loading */

static BOOL load_credential(struct do_job *job, struct store_reader *block)
{
    struct job_credential cred = { 0 };
    struct store_reader value;
    DATA_BLOB in, out;
    UINT32 target = 0, scheme = 0;
    USHORT tag;

    while (store_next(block, &tag, &value))
    {
        switch (tag)
        {
        case CRED_TARGET: if (!store_get_u32(&value, &target)) return FALSE; break;
        case CRED_SCHEME: if (!store_get_u32(&value, &scheme)) return FALSE; break;
        case CRED_USER:
            free(cred.user);
            cred.user = NULL;
            if (!store_get_str(&value, &cred.user)) return FALSE;
            break;
        case CRED_PASSWORD:
            in.pbData = (BYTE *)value.data;
            in.cbData = value.size;
            if (!CryptUnprotectData(&in, NULL, NULL, NULL, NULL, CRYPTPROTECT_UI_FORBIDDEN, &out))
            {
                WARN("job %s: cannot decrypt a password (%lu); dropped\n", debugstr_guid(&job->id), GetLastError());
                break;
            }
            if (!(out.cbData % sizeof(WCHAR)) && (cred.password = malloc(out.cbData + sizeof(WCHAR))))
            {
                memcpy(cred.password, out.pbData, out.cbData);
                cred.password[out.cbData / sizeof(WCHAR)] = 0;
            }
            SecureZeroMemory(out.pbData, out.cbData);
            LocalFree(out.pbData);
            break;
        }
    }
    if (block->bad || target < BG_AUTH_TARGET_SERVER || target > BG_AUTH_TARGET_PROXY ||
        scheme < BG_AUTH_SCHEME_BASIC || scheme > BG_AUTH_SCHEME_PASSPORT ||
        job->credential_count >= MAX_JOB_CREDENTIALS)
    {
        free(cred.user);
        free(cred.password);
        return FALSE;
    }
    cred.target = target;
    cred.scheme = scheme;
    job->credentials[job->credential_count++] = cred;
    return TRUE;
}

static BOOL replace_str(const struct store_reader *value, WCHAR **field)
{
    WCHAR *str;

    if (!store_get_str(value, &str)) return FALSE;
    free(*field);
    *field = str;
    return TRUE;
}

static BOOL replace_bstr(const struct store_reader *value, BSTR *field)
{
    WCHAR *str;
    BSTR bstr;

    if (!store_get_str(value, &str)) return FALSE;
    bstr = SysAllocString(str);
    free(str);
    if (!bstr) return FALSE;
    SysFreeString(*field);
    *field = bstr;
    return TRUE;
}

/* The directory part of a path (a copy), or NULL. */
static WCHAR *parent_dir(const WCHAR *path)
{
    const WCHAR *p, *slash = NULL;
    WCHAR *dir;

    for (p = path; *p; p++)
        if (*p == '\\' || *p == '/') slash = p;
    if (!slash || !(dir = malloc((slash - path + 1) * sizeof(WCHAR)))) return NULL;
    memcpy(dir, path, (slash - path) * sizeof(WCHAR));
    dir[slash - path] = 0;
    return dir;
}

/* "DO" + 8 hex digits + ".tmp", the names file_make_temp_name gives */
static BOOL is_temp_file_name(const WCHAR *name)
{
    int i;

    if (lstrlenW(name) != 14 || wcsnicmp(name, L"DO", 2) || wcsicmp(name + 10, L".tmp")) return FALSE;
    for (i = 2; i < 10; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f') ||
              (name[i] >= 'A' && name[i] <= 'F')))
            return FALSE;
    return TRUE;
}

/* A record's temp name must be one of ours next to its local name: the
 * service writes, truncates and deletes that file. */
static BOOL temp_name_fits(const struct do_file *file)
{
    WCHAR *temp_dir, *local_dir;
    BOOL fits;

    if (!file->local_name) return FALSE;
    temp_dir = parent_dir(file->temp_name);
    local_dir = parent_dir(file->local_name);
    fits = temp_dir && local_dir && !wcsicmp(temp_dir, local_dir) &&
           is_temp_file_name(file->temp_name + lstrlenW(temp_dir) + 1);
    free(temp_dir);
    free(local_dir);
    return fits;
}

static BOOL load_client_cert(struct do_job *job, struct store_reader *block)
{
    struct store_reader value;
    BOOL have_hash = FALSE;
    UINT32 u32;
    USHORT tag;

    while (store_next(block, &tag, &value))
    {
        switch (tag)
        {
        case CERT_LOCATION:
            if (!store_get_u32(&value, &u32)) return FALSE;
            job->cert_location = u32;
            break;
        case CERT_STORE:
            if (!replace_str(&value, &job->cert_store)) return FALSE;
            break;
        case CERT_HASH:
            if (value.size != sizeof(job->cert_hash)) return FALSE;
            memcpy(job->cert_hash, value.data, sizeof(job->cert_hash));
            have_hash = TRUE;
            break;
        }
    }
    if (block->bad || !job->cert_store || !have_hash) return FALSE;
    job->cert_by_store = TRUE;
    return TRUE;
}

static BOOL load_file(struct do_job *job, struct store_reader *block)
{
    WCHAR *file_id = NULL, *remote = NULL;
    BG_FILE_RANGE *ranges = NULL;
    struct store_reader value, first = *block;
    struct do_file *file, **files;
    UINT64 size_hint = DO_UNKNOWN_FILE_SIZE, u64;
    DWORD range_count = 0, i;
    UINT32 u32;
    USHORT tag;
    BOOL ok = FALSE, bad = FALSE;

    /* first pass: what file_create needs */
    while (store_next(&first, &tag, &value))
    {
        switch (tag)
        {
        case FILE_ID:
            free(file_id);
            file_id = NULL;
            if (!store_get_str(&value, &file_id)) goto done;
            break;
        case FILE_REMOTE_NAME:
            free(remote);
            remote = NULL;
            if (!store_get_str(&value, &remote)) goto done;
            break;
        case FILE_RANGES:
            if (ranges || !value.size || value.size % 16) goto done;
            range_count = value.size / 16;
            if (!(ranges = malloc(range_count * sizeof(*ranges)))) goto done;
            for (i = 0; i < range_count; i++)
            {
                ranges[i].InitialOffset = get_le32(value.data + i * 16) |
                                          ((UINT64)get_le32(value.data + i * 16 + 4) << 32);
                ranges[i].Length = get_le32(value.data + i * 16 + 8) |
                                   ((UINT64)get_le32(value.data + i * 16 + 12) << 32);
            }
            break;
        case FILE_SIZE_HINT:
            if (!store_get_u64(&value, &size_hint)) goto done;
            break;
        }
    }
    if (first.bad || !remote) goto done;
    /* the local name is set below: file_create would probe its directory,
     * which may be gone or read-only by now; the engine reports that */
    if (FAILED(file_create(job, file_id, remote, NULL, range_count, ranges, size_hint, &file))) goto done;

    while (!bad && store_next(block, &tag, &value))
    {
        BOOL field_ok = TRUE;

        switch (tag)
        {
        case FILE_LOCAL_NAME: field_ok = replace_str(&value, &file->local_name); break;
        case FILE_RANGE_BASE: field_ok = store_get_u64(&value, &file->range_base); break;
        case FILE_INTEGRITY_MANDATORY:
            if ((field_ok = store_get_u32(&value, &u32)))
            {
                file->integrity_mandatory = !!u32;
                file->integrity_mandatory_set = TRUE;
            }
            break;
        case FILE_VALIDATION_STATE:
            if ((field_ok = store_get_u32(&value, &u32))) file->validation_state = !!u32;
            break;
        case FILE_DECRYPTION_INFO: field_ok = replace_bstr(&value, &file->decryption_info); break;
        case FILE_INTEGRITY_INFO: field_ok = replace_bstr(&value, &file->integrity_info); break;
        case FILE_TEMP_NAME: field_ok = replace_str(&value, &file->temp_name); break;
        case FILE_REMOTE_SIZE: field_ok = store_get_u64(&value, &file->remote_size); break;
        case FILE_BYTES_DONE: field_ok = store_get_u64(&value, &file->bytes_done); break;
        case FILE_TRANSFERRED:
            if ((field_ok = store_get_u32(&value, &u32))) file->transferred = !!u32;
            break;
        case FILE_COMPLETED:
            if ((field_ok = store_get_u32(&value, &u32))) file->completed = !!u32;
            break;
        case FILE_ETAG: field_ok = replace_str(&value, &file->etag); break;
        case FILE_LAST_MODIFIED: field_ok = replace_str(&value, &file->last_modified); break;
        case FILE_RESPONSE_HEADERS: field_ok = replace_str(&value, &file->response_headers); break;
        case FILE_REDIRECT_TARGET: field_ok = replace_str(&value, &file->redirect_target); break;
        case FILE_SERVER_IP: field_ok = replace_str(&value, &file->server_ip); break;
        case FILE_LAST_STATUS: field_ok = store_get_u32(&value, &u32) && ((file->last_status = u32), TRUE); break;
        case FILE_BYTES_FROM_HTTP: field_ok = store_get_u64(&value, &file->bytes_from_http); break;
        case FILE_HTTP_CONNECTIONS:
            field_ok = store_get_u32(&value, &u32) && ((file->http_connections = u32), TRUE);
            break;
        case FILE_TRANSFER_MS: field_ok = store_get_u32(&value, &u32) && ((file->transfer_ms = u32), TRUE); break;
        case FILE_BYTES_FROM_CACHE: field_ok = store_get_u64(&value, &file->bytes_from_cache); break;
        case FILE_CACHE_CONNECTIONS:
            field_ok = store_get_u32(&value, &u32) && ((file->cache_connections = u32), TRUE);
            break;
        case FILE_STREAM_SINK:
            if ((field_ok = store_get_u32(&value, &u32))) file->stream_lost = !!u32;
            break;
        case FILE_SIZE_HINT:
            field_ok = store_get_u64(&value, &u64);
            break;
        }
        if (!field_ok || (tag == FILE_LOCAL_NAME && (!file->local_name[0] || path_is_device(file->local_name))))
            bad = TRUE;
    }
    if (file->temp_name && !temp_name_fits(file)) bad = TRUE;
    /* validators go back to the server in If-Range */
    if (file->etag && !text_is_clean(file->etag)) bad = TRUE;
    if (file->last_modified && !text_is_clean(file->last_modified)) bad = TRUE;
    if (bad || block->bad)
    {
        file_free(file);
        goto done;
    }
    if (job->file_count == job->file_capacity)
    {
        ULONG capacity = job->file_capacity ? job->file_capacity * 2 : 4;

        if (!(files = realloc(job->files, capacity * sizeof(*files))))
        {
            file_free(file);
            goto done;
        }
        job->files = files;
        job->file_capacity = capacity;
    }
    job->files[job->file_count++] = file;
    ok = TRUE;
done:
    free(file_id);
    free(remote);
    free(ranges);
    return ok;
}

/* Build a job from a record's payload.  Fails (FALSE, *why set) on anything
 * a record we wrote could not contain. */
static BOOL load_job(const BYTE *payload, size_t size, struct do_job **out, ULONGLONG *record_boot,
                     const char **why)
{
    struct store_reader r = { payload, size }, value, download_block = { 0 };
    UINT32 u32, error_file = ~0u;
    BOOL have_id = FALSE, have_download = FALSE, field_ok;
    struct do_job *job;
    USHORT tag;

    *why = "out of memory";
    if (FAILED(job_create(L"", BG_JOB_TYPE_DOWNLOAD, &job))) return FALSE;
    *record_boot = 0;
    *why = "malformed field";

    while (store_next(&r, &tag, &value))
    {
        field_ok = TRUE;
        switch (tag)
        {
        case TAG_ID: field_ok = have_id = store_get_guid(&value, &job->id); break;
        case TAG_DISPLAY_NAME: field_ok = replace_str(&value, &job->display_name); break;
        case TAG_DESCRIPTION: field_ok = replace_str(&value, &job->description); break;
        case TAG_OWNER: field_ok = replace_str(&value, &job->owner); break;
        case TAG_TYPE:
            field_ok = store_get_u32(&value, &u32) && u32 == BG_JOB_TYPE_DOWNLOAD;
            break;
        case TAG_PRIORITY:
            field_ok = store_get_u32(&value, &u32) && u32 <= BG_JOB_PRIORITY_LOW;
            if (field_ok) job->priority = u32;
            break;
        case TAG_STATE:
            field_ok = store_get_u32(&value, &u32) && u32 <= BG_JOB_STATE_ACKNOWLEDGED;
            if (field_ok) job->state = u32;
            break;
        case TAG_TIMES:
            if ((field_ok = value.size == sizeof(job->times))) memcpy(&job->times, value.data, value.size);
            break;
        case TAG_NOTIFY_FLAGS: field_ok = store_get_u32(&value, &u32) && ((job->notify_flags = u32), TRUE); break;
        case TAG_NOTIFY_CMDLINE: field_ok = replace_str(&value, &job->notify_cmdline); break;
        case TAG_NOTIFY_PARAMS: field_ok = replace_str(&value, &job->notify_params); break;
        case TAG_RETRY_DELAY: field_ok = store_get_u32(&value, &u32) && ((job->retry_delay = u32), TRUE); break;
        case TAG_NO_PROGRESS_TIMEOUT:
            if ((field_ok = store_get_u32(&value, &u32)))
            {
                job->no_progress_timeout = u32;
                job->no_progress_timeout_set = TRUE;
            }
            break;
        case TAG_MAX_DOWNLOAD_TIME:
            field_ok = store_get_u32(&value, &u32) && ((job->max_download_time = u32), TRUE);
            break;
        case TAG_ERROR_COUNT: field_ok = store_get_u32(&value, &u32) && ((job->error_count = u32), TRUE); break;
        case TAG_ERROR_CODE: field_ok = store_get_u32(&value, &u32) && ((job->error.code = u32), TRUE); break;
        case TAG_ERROR_CONTEXT:
            field_ok = store_get_u32(&value, &u32) && ((job->error.context = u32), TRUE);
            break;
        case TAG_ERROR_FILE: field_ok = store_get_u32(&value, &error_file); break;
        case TAG_ERROR_PROTOCOL: field_ok = replace_str(&value, &job->error.protocol); break;
        case TAG_PROXY_USAGE:
            field_ok = store_get_u32(&value, &u32) && u32 <= BG_JOB_PROXY_USAGE_AUTODETECT;
            if (field_ok) job->proxy_usage = u32;
            break;
        case TAG_PROXY_LIST: field_ok = replace_str(&value, &job->proxy_list); break;
        case TAG_PROXY_BYPASS: field_ok = replace_str(&value, &job->proxy_bypass); break;
        /* a record is disk data: what goes on the wire is checked again */
        case TAG_CUSTOM_HEADERS:
            field_ok = replace_str(&value, &job->custom_headers) &&
                       SUCCEEDED(headers_check(job->custom_headers, lstrlenW(job->custom_headers)));
            if (!field_ok) *why = "bad custom headers";
            break;
        case TAG_CUSTOM_AUTH_HEADERS:
            field_ok = replace_str(&value, &job->custom_auth_headers) &&
                       SUCCEEDED(headers_check(job->custom_auth_headers, lstrlenW(job->custom_auth_headers)));
            if (!field_ok) *why = "bad custom headers";
            break;
        case TAG_SECURITY_FLAGS:
            field_ok = store_get_u32(&value, &u32) && ((job->security_flags = u32), TRUE);
            break;
        case TAG_COST_FLAGS: field_ok = store_get_u32(&value, &u32) && ((job->cost_flags = u32), TRUE); break;
        case TAG_FILE_ACL_FLAGS:
            field_ok = store_get_u32(&value, &u32) && ((job->file_acl_flags = u32), TRUE);
            break;
        case TAG_PEER_CACHING_FLAGS:
            field_ok = store_get_u32(&value, &u32) && ((job->peer_caching_flags = u32), TRUE);
            break;
        case TAG_CREDENTIAL: field_ok = load_credential(job, &value); break;
        case TAG_CLIENT_CERT: field_ok = load_client_cert(job, &value); break;
        case TAG_NOTIFICATION_CLSID: field_ok = store_get_guid(&value, &job->notification_clsid); break;
        case TAG_BOOT_TIME: field_ok = store_get_u64(&value, record_boot); break;
        case TAG_FILE:
            field_ok = load_file(job, &value);
            if (!field_ok) *why = "malformed file";
            break;
        case TAG_DOWNLOAD:
            /* after the files, which it may refer to */
            download_block = value;
            have_download = TRUE;
            break;
        }
        if (!field_ok) goto fail;
    }
    if (r.bad) goto fail;
    if (!have_id)
    {
        *why = "no job id";
        goto fail;
    }
    if (job->error.code != S_OK && error_file < job->file_count) job->error.file = job->files[error_file];
    if (have_download && FAILED(download_store_load(job, &download_block)))
    {
        *why = "malformed download";
        goto fail;
    }
    *out = job;
    return TRUE;

fail:
    job_release(job);
    return FALSE;
}

enum record_check
{
    RECORD_OK,
    RECORD_DAMAGED,
    RECORD_NEWER,
};

static enum record_check check_record(const BYTE *data, size_t size, const char **why)
{
    UINT32 header_size, payload_size;

    *why = "not a job record";
    if (size < 12 || memcmp(data, record_magic, sizeof(record_magic))) return RECORD_DAMAGED;
    if (get_le16(data + 8) > STORE_MAJOR) return RECORD_NEWER;
    *why = "bad version";
    if (get_le16(data + 8) != STORE_MAJOR) return RECORD_DAMAGED;
    *why = "truncated";
    if (size < HEADER_SIZE) return RECORD_DAMAGED;
    *why = "header checksum mismatch";
    if (get_le32(data + 24) != crc32(data, 24)) return RECORD_DAMAGED;
    header_size = get_le32(data + 12);
    payload_size = get_le32(data + 16);
    *why = "bad header size";
    if (header_size != HEADER_SIZE) return RECORD_DAMAGED;
    *why = size < header_size + (size_t)payload_size ? "truncated" : "trailing data";
    if (size != header_size + (size_t)payload_size) return RECORD_DAMAGED;
    *why = "checksum mismatch";
    if (get_le32(data + 20) != crc32(data + header_size, payload_size)) return RECORD_DAMAGED;
    return RECORD_OK;
}

/* NULL with *too_large set: a file no record we write can be */
static BYTE *read_whole_file(const WCHAR *path, size_t *size, BOOL *too_large)
{
    LARGE_INTEGER file_size;
    BYTE *data = NULL;
    HANDLE file;
    DWORD read;

    *too_large = FALSE;
    file = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL, OPEN_EXISTING, 0, NULL);
    if (file == INVALID_HANDLE_VALUE) return NULL;
    if (GetFileSizeEx(file, &file_size) && file_size.QuadPart > MAX_RECORD_SIZE) *too_large = TRUE;
    else if (GetFileSizeEx(file, &file_size) && (data = malloc(max(file_size.QuadPart, 1))))
    {
        if (!ReadFile(file, data, file_size.QuadPart, &read, NULL) || read != file_size.QuadPart)
        {
            free(data);
            data = NULL;
        }
        else *size = read;
    }
    CloseHandle(file);
    return data;
}

/* Put a damaged record aside as {name}.bad, so it is reported once and kept
 * for whoever wants to look at it. */
static void set_aside(const WCHAR *path, const WCHAR *name, const char *why)
{
    WCHAR bad[MAX_PATH];

    swprintf(bad, ARRAY_SIZE(bad), L"%s\\%.*s.bad", store_dir, lstrlenW(name) - 4, name);
    if (MoveFileExW(path, bad, MOVEFILE_REPLACE_EXISTING))
        ERR("job store: %s is damaged (%s); skipped, kept as %s\n", debugstr_w(name), why, debugstr_w(bad));
    else
        ERR("job store: %s is damaged (%s); skipped\n", debugstr_w(name), why);
}

static void delete_temp_files(struct do_job *job)
{
    ULONG i;

    for (i = 0; i < job->file_count; i++)
        if (!job->files[i]->completed) file_delete_temp(job->files[i]);
}

/* Bring a file's progress in line with its temp file.  Returns FALSE when
 * bytes we had counted are gone (the temp file was deleted behind our back). */
static BOOL recover_file(struct do_file *file, BOOL same_boot)
{
    WIN32_FILE_ATTRIBUTE_DATA attrs;
    UINT64 total = file_total_bytes(file), size, trust;
    BOOL exists;

    if (file->completed) return TRUE;
    if (file->stream_lost && !file->local_name)
    {
        /* the bytes went to a stream that died with its client: a file not
         * yet transferred starts over once the client gives it a new sink */
        if (!file->transferred) file->bytes_done = 0;
        return TRUE;
    }
    exists = file->temp_name && GetFileAttributesExW(file->temp_name, GetFileExInfoStandard, &attrs);
    size = exists ? ((UINT64)attrs.nFileSizeHigh << 32) | attrs.nFileSizeLow : 0;

    if (file->transferred)
    {
        if (exists && (total == DO_UNKNOWN_FILE_SIZE || size == total)) return TRUE;
        WARN("%s: the transferred temp file %s is %s; downloading it again\n", debugstr_w(file->remote_name),
             debugstr_w(file->temp_name), exists ? "damaged" : "gone");
        file->transferred = FALSE;
        file->bytes_done = 0;
        return exists;
    }
    if (!exists)
    {
        if (!file->bytes_done) return TRUE;
        WARN("%s: the temp file %s is gone; downloading it again\n", debugstr_w(file->remote_name),
             debugstr_w(file->temp_name));
        file->bytes_done = 0;
        return FALSE;
    }
    if (!file->etag && !file->last_modified)
    {
        /* nothing to check the bytes against on resume */
        file->bytes_done = 0;
        return TRUE;
    }
    if (size < file->bytes_done)
    {
        WARN("%s: the temp file %s lost bytes (%s < %s); starting over\n", debugstr_w(file->remote_name),
             debugstr_w(file->temp_name), wine_dbgstr_longlong(size), wine_dbgstr_longlong(file->bytes_done));
        file->bytes_done = 0;
        return TRUE;
    }
    /* after a kill every byte written is there; after a reboot only the
     * ones flushed before the record was written are sure to be */
    trust = same_boot ? size : file->bytes_done;
    /* A complete temp file the record does not know as such may be of
     * another version than the record's validator: fetch its last byte
     * again, with If-Range, rather than call it transferred. */
    if (total != DO_UNKNOWN_FILE_SIZE && total && trust >= total) trust = total - 1;
    file->bytes_done = trust;
    return TRUE;
}

/* The state a job comes back in, and its files checked; FALSE: drop it. */
static BOOL recover_job(struct do_job *job, BOOL same_boot, ULONGLONG now, BOOL *lost)
{
    ULONG i;

    *lost = FALSE;
    if (job_is_final(job))
    {
        /* the process died between the change and the record's removal */
        delete_temp_files(job);
        return FALSE;
    }
    if (is_expired(&job->times, now))
    {
        TRACE("job %s is older than %u days; removing it\n", debugstr_guid(&job->id), RETENTION_DAYS);
        delete_temp_files(job);
        return FALSE;
    }
    for (i = 0; i < job->file_count; i++)
        if (!recover_file(job->files[i], same_boot)) *lost = TRUE;

    switch (job->state)
    {
    case BG_JOB_STATE_QUEUED:
    case BG_JOB_STATE_CONNECTING:
    case BG_JOB_STATE_TRANSFERRING:
    case BG_JOB_STATE_TRANSIENT_ERROR:
        /* interrupted: it goes on by itself */
        job->state = BG_JOB_STATE_QUEUED;
        break;
    case BG_JOB_STATE_TRANSFERRED:
        for (i = 0; i < job->file_count; i++)
            if (!job->files[i]->transferred) job->state = BG_JOB_STATE_QUEUED;
        break;
    default:
        /* SUSPENDED and ERROR wait for the client; a lost file is noticed on Resume */
        *lost = FALSE;
        break;
    }
    if (*lost)
    {
        job_set_error(job, HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND), BG_ERROR_CONTEXT_NONE, NULL);
        job->state = BG_JOB_STATE_TRANSIENT_ERROR;
    }
    else if (job->state == BG_JOB_STATE_QUEUED) job_clear_error(job);
    return TRUE;
}

struct retry_timer
{
    struct do_job *job;
    HANDLE timer;
};

/* A job that lost a temp file is reported in TRANSIENT_ERROR for its retry
 * delay, as any transient error, then transfers again. */
static void CALLBACK retry_proc(void *context, BOOLEAN fired)
{
    struct retry_timer *retry = context;
    BOOL requeue;

    DeleteTimerQueueTimer(NULL, retry->timer, NULL);
    EnterCriticalSection(&retry->job->cs);
    requeue = retry->job->state == BG_JOB_STATE_TRANSIENT_ERROR && store_running;
    LeaveCriticalSection(&retry->job->cs);
    if (requeue) engine_job_queued(retry->job);
    job_release(retry->job);
    free(retry);
}

static void schedule_retry(struct do_job *job)
{
    struct retry_timer *retry;

    if (!(retry = calloc(1, sizeof(*retry)))) return;
    job_addref(job);
    retry->job = job;
    if (!CreateTimerQueueTimer(&retry->timer, NULL, retry_proc, retry, max(job->retry_delay, 1) * 1000, 0,
                               WT_EXECUTEONLYONCE | WT_EXECUTELONGFUNCTION))
    {
        ERR("CreateTimerQueueTimer failed: %lu\n", GetLastError());
        job_release(job);
        free(retry);
    }
}

/* One record to read, and what came of it. */
struct load_slot
{
    WCHAR *name;             /* {GUID}.job */
    struct do_job *job;      /* the job, or NULL: damaged, newer, final or expired */
    BOOL lost;               /* a temp file was gone: report, then download again */
    BOOL damaged;
    BOOL unknown;            /* unreadable: whose temp files are whose is not known */
};

struct load_work
{
    struct load_slot *slots;
    LONG count;
    LONG next;               /* the next slot to take */
    ULONGLONG now;           /* for retention */
};

static void load_one(struct load_slot *slot, ULONGLONG now)
{
    size_t name_len = lstrlenW(slot->name), size = 0;
    WCHAR path[MAX_PATH], guid[40];
    ULONGLONG record_boot;
    struct do_job *job;
    const char *why;
    BYTE *record;
    BOOL same_boot, too_large;

    swprintf(path, ARRAY_SIZE(path), L"%s\\%s", store_dir, slot->name);
    if (!(record = read_whole_file(path, &size, &too_large)))
    {
        if (too_large)
        {
            /* no record we write is that large: set aside like any damaged one,
             * so it is reported once, not at every start */
            set_aside(path, slot->name, "larger than a record can be");
            slot->damaged = TRUE;
            return;
        }
        ERR("job store: cannot read %s: %lu\n", debugstr_w(slot->name), GetLastError());
        slot->unknown = TRUE;
        return;
    }
    switch (check_record(record, size, &why))
    {
    case RECORD_NEWER:
        WARN("job store: %s was written by a newer version (%u.%u); left alone\n",
             debugstr_w(slot->name), get_le16(record + 8), get_le16(record + 10));
        break;
    case RECORD_DAMAGED:
        set_aside(path, slot->name, why);
        slot->damaged = TRUE;
        break;
    case RECORD_OK:
        if (!load_job(record + HEADER_SIZE, size - HEADER_SIZE, &job, &record_boot, &why))
        {
            set_aside(path, slot->name, why);
            slot->damaged = TRUE;
            break;
        }
        StringFromGUID2(&job->id, guid, ARRAY_SIZE(guid));
        if (name_len != lstrlenW(guid) + 4 || wcsnicmp(slot->name, guid, name_len - 4))
        {
            job_release(job);
            set_aside(path, slot->name, "the job id does not match the name");
            slot->damaged = TRUE;
            break;
        }
        same_boot = record_boot && (record_boot > boot_time ? record_boot - boot_time : boot_time - record_boot) <
                    SAME_BOOT_SLACK_MS * FILETIME_PER_MS;
        if (!recover_job(job, same_boot, now, &slot->lost))
        {
            job_release(job);
            DeleteFileW(path);
            break;
        }
        job->store_flags = STORE_SAVED;
        job->store_tick = GetTickCount64();
        slot->job = job;
        break;
    }
    free(record);
}

static DWORD CALLBACK load_proc(void *arg)
{
    struct load_work *work = arg;
    LONG i;

    while ((i = InterlockedIncrement(&work->next) - 1) < work->count) load_one(&work->slots[i], work->now);
    return 0;
}

static int compare_slots(const void *a, const void *b)
{
    const struct do_job *x = ((const struct load_slot *)a)->job, *y = ((const struct load_slot *)b)->job;
    LONG c;

    /* the empty slots last */
    if (!x || !y) return !x - !y;
    if ((c = CompareFileTime(&x->times.CreationTime, &y->times.CreationTime))) return c;
    return memcmp(&x->id, &y->id, sizeof(GUID));
}

static int compare_names(const void *a, const void *b)
{
    return wcsicmp(*(WCHAR *const *)a, *(WCHAR *const *)b);
}

static BOOL push_name(WCHAR ***list, ULONG *count, ULONG *capacity, WCHAR *name)
{
    WCHAR **grown;

    if (*count == *capacity)
    {
        *capacity = *capacity ? *capacity * 2 : 64;
        if (!(grown = realloc(*list, *capacity * sizeof(*grown)))) return FALSE;
        *list = grown;
    }
    (*list)[(*count)++] = name;
    return TRUE;
}

/* Temp files (DO????????.tmp) that no job owns, in the directories our jobs
 * download to, were left by a service that was killed: an IDODownload that
 * was never stored, a job whose record was damaged, a run cut off between
 * making a temp file and recording it.  Nothing will ever resume them, so
 * they go.  Not when a record could not be read: its files may be there. */
static void delete_orphan_temp_files(const struct load_slot *slots, LONG count)
{
    WCHAR **dirs = NULL, **owned = NULL, pattern[MAX_PATH], path[MAX_PATH], *key = path;
    ULONG dir_count = 0, dir_capacity = 0, owned_count = 0, owned_capacity = 0, unique = 0, deleted = 0, i;
    WIN32_FIND_DATAW data;
    BOOL ok = TRUE;
    HANDLE find;
    LONG s;

    for (s = 0; s < count; s++)
    {
        if (slots[s].unknown)
        {
            WARN("job store: a record could not be read; temp files left by no job are kept\n");
            return;
        }
    }
    for (s = 0; s < count && ok; s++)
    {
        const struct do_job *job = slots[s].job;

        for (i = 0; job && i < job->file_count && ok; i++)
        {
            const struct do_file *file = job->files[i];
            WCHAR *dir;

            if (file->temp_name) ok = push_name(&owned, &owned_count, &owned_capacity, file->temp_name);
            if (ok && file->local_name && (dir = parent_dir(file->local_name)) &&
                !(ok = push_name(&dirs, &dir_count, &dir_capacity, dir)))
                free(dir);
        }
    }
    if (!ok) goto done;
    qsort(owned, owned_count, sizeof(*owned), compare_names);
    qsort(dirs, dir_count, sizeof(*dirs), compare_names);
    for (i = 0; i < dir_count; i++)
    {
        if (i && !wcsicmp(dirs[i], dirs[i - 1])) continue;
        unique++;
        if (lstrlenW(dirs[i]) + 16 >= MAX_PATH) continue;
        swprintf(pattern, ARRAY_SIZE(pattern), L"%s\\DO*.tmp", dirs[i]);
        if ((find = FindFirstFileW(pattern, &data)) == INVALID_HANDLE_VALUE) continue;
        do
        {
            if ((data.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) || !is_temp_file_name(data.cFileName)) continue;
            swprintf(path, ARRAY_SIZE(path), L"%s\\%s", dirs[i], data.cFileName);
            if (bsearch(&key, owned, owned_count, sizeof(*owned), compare_names)) continue;
            if (DeleteFileW(path))
            {
                WARN("job store: deleted %s, which no job owns\n", debugstr_w(path));
                deleted++;
            }
        } while (FindNextFileW(find, &data));
        FindClose(find);
    }
    TRACE("%lu orphaned temp files deleted in %lu directories\n", deleted, unique);
done:
    for (i = 0; i < dir_count; i++) free(dirs[i]);
    free(dirs);
    free(owned);
}

/* Read every record and hand the jobs to the manager and the engine.  Most
 * of the time goes into file and object calls to wineserver, so a few
 * threads read records side by side. */
static void load_jobs(void)
{
    struct load_work work = { NULL, 0, 0, filetime_now() + clock_offset() };
    ULONGLONG start = GetTickCount64();
    ULONG capacity = 0, loaded = 0, damaged = 0, thread_count = 0, i;
    WCHAR pattern[MAX_PATH], path[MAX_PATH];
    HANDLE threads[3];
    WIN32_FIND_DATAW data;
    SYSTEM_INFO info;
    HANDLE find;

    /* half-written records of a write that never finished */
    swprintf(pattern, ARRAY_SIZE(pattern), L"%s\\*.tmp", tmp_dir);
    if ((find = FindFirstFileW(pattern, &data)) != INVALID_HANDLE_VALUE)
    {
        do
        {
            swprintf(path, ARRAY_SIZE(path), L"%s\\%s", tmp_dir, data.cFileName);
            DeleteFileW(path);
        } while (FindNextFileW(find, &data));
        FindClose(find);
    }

    swprintf(pattern, ARRAY_SIZE(pattern), L"%s\\*.job", store_dir);
    if ((find = FindFirstFileW(pattern, &data)) == INVALID_HANDLE_VALUE) return;
    do
    {
        size_t name_len = lstrlenW(data.cFileName);

        if (data.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) continue;
        if (name_len < 5 || wcsicmp(data.cFileName + name_len - 4, L".job")) continue;
        if (work.count == capacity)
        {
            struct load_slot *grown;

            capacity = capacity ? capacity * 2 : 256;
            if (!(grown = realloc(work.slots, capacity * sizeof(*grown))))
            {
                ERR("out of memory; not every job is loaded\n");
                break;
            }
            work.slots = grown;
        }
        memset(&work.slots[work.count], 0, sizeof(*work.slots));
        if ((work.slots[work.count].name = strdupW(data.cFileName))) work.count++;
    } while (FindNextFileW(find, &data));
    FindClose(find);

    GetSystemInfo(&info);
    if (work.count >= 64)
    {
        while (thread_count < min(info.dwNumberOfProcessors, ARRAY_SIZE(threads) + 1) - 1 &&
               (threads[thread_count] = CreateThread(NULL, 0, load_proc, &work, 0, NULL)))
            thread_count++;
    }
    load_proc(&work);
    if (thread_count) WaitForMultipleObjects(thread_count, threads, TRUE, INFINITE);
    for (i = 0; i < thread_count; i++) CloseHandle(threads[i]);

    /* before any job runs, so no worker is making a temp file meanwhile */
    delete_orphan_temp_files(work.slots, work.count);

    /* the table lists jobs in creation order, and so do the run queue's ties */
    qsort(work.slots, work.count, sizeof(*work.slots), compare_slots);
    for (i = 0; i < (ULONG)work.count; i++)
    {
        struct do_job *job = work.slots[i].job;

        free(work.slots[i].name);
        if (work.slots[i].damaged) damaged++;
        if (!job) continue;
        loaded++;
        job->queued_tick = job->last_progress_tick = GetTickCount64();
        manager_add_job(job);
        if (work.slots[i].lost)
        {
            /* the record must say so too, or a kill now would hide the loss */
            store_job_added(job);
            schedule_retry(job);
        }
        else if (job->state == BG_JOB_STATE_QUEUED) engine_job_queued(job);
        job_release(job);
    }
    free(work.slots);
    TRACE("loaded %lu jobs (%lu damaged) in %lu ms\n", loaded, damaged, (DWORD)(GetTickCount64() - start));
}

/* ------------------------------------------------------------------ start and stop */

HRESULT store_startup(void)
{
    HRESULT hr;

    boot_time = current_boot_time();
    if (FAILED(hr = init_store_dir()))
    {
        /* jobs still work, they just do not outlive the service */
        ERR("cannot create the job store (%#lx); jobs will not be kept\n", hr);
        return S_OK;
    }
    if (!RegOpenKeyExW(HKEY_LOCAL_MACHINE, L"System\\CurrentControlSet\\Services\\DoSvc\\Parameters", 0,
                       KEY_QUERY_VALUE | KEY_NOTIFY, &parameters_key))
    {
        parameters_event = CreateEventW(NULL, FALSE, FALSE, NULL);
        watch_parameters();
    }
    else parameters_key = NULL;

    if (!(wake_event = CreateEventW(NULL, FALSE, FALSE, NULL))) return HRESULT_FROM_WIN32(GetLastError());
    stopping = FALSE;
    store_running = TRUE;
    load_jobs();
    if (!(writer_thread = CreateThread(NULL, 0, writer_proc, NULL, 0, &writer_thread_id)))
    {
        ERR("cannot start the store writer: %lu\n", GetLastError());
        store_running = FALSE;
    }
    keepalive_startup();
    return S_OK;
}

void store_shutdown(void)
{
    keepalive_shutdown();
    if (!writer_thread) return;
    /* write what is pending, progress too, then stop */
    EnterCriticalSection(&store_cs);
    stopping = TRUE;
    LeaveCriticalSection(&store_cs);
    SetEvent(wake_event);
    if (WaitForSingleObject(writer_thread, 10000) == WAIT_TIMEOUT) ERR("the store writer did not stop\n");
    EnterCriticalSection(&store_cs);
    store_running = FALSE;
    LeaveCriticalSection(&store_cs);
    WakeAllConditionVariable(&pass_done);
    CloseHandle(writer_thread);
    writer_thread = NULL;
    CloseHandle(wake_event);
    wake_event = NULL;
    if (parameters_key) RegCloseKey(parameters_key);
    if (parameters_event) CloseHandle(parameters_event);
    parameters_key = NULL;
    parameters_event = NULL;
}
