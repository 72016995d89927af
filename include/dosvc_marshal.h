/*
 * The marshal data of DoSvc's objects, shared by dosvc.dll and dosvcps.dll
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

#ifndef DOSVC_MARSHAL_H
#define DOSVC_MARSHAL_H

/*
 * When the service marshals one of its objects to another process it
 * names CLSID_DoClientMarshal as the unmarshal class and writes this
 * header, then the object's standard marshal data (a complete standard
 * OBJREF).  The client-side object reads the header, unmarshals the
 * standard proxy from the rest and wraps it (docs/client-object.md).
 *
 * Every field has a fixed size, so a 32-bit client reads what the 64-bit
 * service wrote.  "size" is the size of the header as written: a reader
 * skips what it does not know, and fills in zeros for what an older
 * writer did not send, so either side may grow it.
 */

#define DOSVC_MARSHAL_MAGIC   0x4d434f44   /* "DOCM" */
#define DOSVC_MARSHAL_VERSION 1

/* What kind of object the data stands for. */
enum dosvc_object_kind
{
    DOSVC_OBJECT_MANAGER = 1,
    DOSVC_OBJECT_JOB,
    DOSVC_OBJECT_FILE,
    DOSVC_OBJECT_DOWNLOAD,
    DOSVC_OBJECT_ENUM_JOBS,
    DOSVC_OBJECT_ENUM_FILES,
    DOSVC_OBJECT_ENUM_UNKNOWN,
    DOSVC_OBJECT_ERROR,
};

#define DOSVC_NO_STATUS_SLOT 0xffffffff

#include <pshpack4.h>
struct dosvc_marshal_header
{
    DWORD magic;             /* DOSVC_MARSHAL_MAGIC */
    WORD version;            /* DOSVC_MARSHAL_VERSION of the writer */
    WORD size;               /* sizeof of the header as written */
    DWORD kind;              /* enum dosvc_object_kind */
    DWORD service_pid;       /* process the object lives in */
    GUID object_id;          /* the job's or download's id; GUID_NULL for the others */
    DWORD status_slot;       /* reserved for status shared with the client; DOSVC_NO_STATUS_SLOT */
    DWORD flags;             /* none defined yet; 0 */
};
#include <poppack.h>

/* one layout for 32- and 64-bit writers and readers */
C_ASSERT(sizeof(struct dosvc_marshal_header) == 40);

/* dlls/common/marshal_slack.c: what CoGetMarshalSizeMax adds to a custom
 * marshaler's own estimate beyond what CoMarshalInterface writes; our
 * marshalers report that much less, so the total is exact. */
DWORD dosvc_marshal_slack(void);

/* dlls/common/ps_classes.c: register the proxy/stub classes of these
 * interfaces in the calling apartment, so that COM finds them without the
 * registry. */
void dosvc_register_ps_classes(const IID *const *iids, unsigned int count);

#endif /* DOSVC_MARSHAL_H */
