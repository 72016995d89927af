/*
 * Delivery Optimization service: the job store's record format
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

#ifndef DOSVC_STORE_H
#define DOSVC_STORE_H

/*
 * A record's payload is a list of fields: a 16-bit tag, a 32-bit length and
 * that many bytes, little-endian.  A block is a field whose bytes are again a
 * list of fields (a job's files, a download's own properties).  Readers skip
 * tags they do not know, so a later minor version may add fields; anything
 * else needs a new major version, which older readers refuse.  Strings are
 * UTF-16LE without a terminator; a NULL string is written as no field at all.
 *
 * The reader never trusts a length: every access is checked against what is
 * left, so a damaged record makes a read fail, never crash.
 */

struct store_writer
{
    BYTE *data;
    size_t size;
    size_t capacity;
    BOOL failed;            /* out of memory: the record must not be written */
};

void store_put_bytes(struct store_writer *w, USHORT tag, const void *data, size_t size);
void store_put_u32(struct store_writer *w, USHORT tag, UINT32 value);
void store_put_u64(struct store_writer *w, USHORT tag, UINT64 value);
void store_put_str(struct store_writer *w, USHORT tag, const WCHAR *str);
/* a block: fields put between begin and end go inside it */
size_t store_begin_block(struct store_writer *w, USHORT tag);
void store_end_block(struct store_writer *w, size_t mark);

struct store_reader
{
    const BYTE *data;
    size_t size;
    size_t pos;
    BOOL bad;               /* a field ran past the end */
};

/* The next field of r, its bytes in *value; FALSE at the end or when the
 * rest is malformed (then r->bad is set). */
BOOL store_next(struct store_reader *r, USHORT *tag, struct store_reader *value);
/* Each returns FALSE when the field's size does not fit the type. */
BOOL store_get_u32(const struct store_reader *value, UINT32 *out);
BOOL store_get_u64(const struct store_reader *value, UINT64 *out);
BOOL store_get_str(const struct store_reader *value, WCHAR **out);   /* malloc'd, replaces nothing */
BOOL store_get_guid(const struct store_reader *value, GUID *out);

/* download.c: what an IDODownload adds to its job's record.  Tags inside the
 * block are download.c's own.  download_store_save runs under job->cs;
 * download_store_load gets a job that is not yet visible to anyone and
 * attaches a download to it (the job's download pointer is NULL before). */
BOOL download_is_durable(struct do_job *job);                       /* under job->cs */
void download_store_save(struct do_job *job, struct store_writer *w);
HRESULT download_store_load(struct do_job *job, struct store_reader *block);

/* keepalive.c: the helper process that keeps the Wine session up */
void keepalive_startup(void);
void keepalive_shutdown(void);
void keepalive_job_changed(struct do_job *job);   /* under job->cs */

#endif /* DOSVC_STORE_H */
