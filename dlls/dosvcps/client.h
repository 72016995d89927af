/*
 * DoSvc's client-side object: what the pieces of dlls/dosvcps share
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

#ifndef DOSVCPS_CLIENT_H
#define DOSVCPS_CLIENT_H

#include <stdarg.h>
#include <stdlib.h>

#define COBJMACROS
#define CONST_VTABLE     /* our vtables are static const */
#include "windef.h"
#include "winbase.h"
#include "objbase.h"
#include "dosvcps.h"
#include "dosvc_marshal.h"

#include "wine/debug.h"

/* Out of Wine's tree the short debug macros are not defined. */
#ifndef TRACE
#define TRACE WINE_TRACE
#define WARN  WINE_WARN
#define ERR   WINE_ERR
#endif

/*
 * A client of DoSvc never holds a bare standard proxy: every DoSvc object
 * it unmarshals becomes a client_object (client_object.c) that wraps the
 * standard proxy.  The client_object is the COM identity the client sees;
 * it answers IClientSecurity, IMarshal and IMultiQI itself, and for every
 * DO interface it hands out a forwarder: a vtable of ours whose methods
 * call the same method on the standard proxy's interface (client_forward.c).
 * docs/client-object.md explains why and how.
 */

/* Every interface the client-side object hands out a forwarder for. */
enum client_slot
{
    SLOT_MANAGER,
    SLOT_DOMANAGER,
    SLOT_JOB,
    SLOT_JOB2,
    SLOT_JOB3,
    SLOT_JOB4,
    SLOT_JOB5,
    SLOT_HTTP_OPTIONS,
    SLOT_DOJOB,
    SLOT_DOJOB2,
    SLOT_FILE,
    SLOT_FILE2,
    SLOT_FILE3,
    SLOT_FILE4,
    SLOT_FILE5,
    SLOT_DOFILE,
    SLOT_DOFILE2,
    SLOT_DOWNLOAD,
    SLOT_ENUM_JOBS,
    SLOT_ENUM_FILES,
    SLOT_ENUM_UNKNOWN,
    SLOT_ERROR,
    SLOT_COUNT
};

/* The authentication a client asked for on one interface pointer
 * (IClientSecurity::SetBlanket), as IClientSecurity::QueryBlanket
 * reports it. */
struct client_blanket
{
    DWORD authn_service;
    DWORD authz_service;
    WCHAR *principal;        /* NULL: none named */
    DWORD authn_level;
    DWORD imp_level;
    void *auth_info;         /* the caller's; COM keeps the pointer, not a copy */
    DWORD capabilities;
};

struct client_object;
struct client_copy;

/* What a client's interface pointer points at. */
struct client_forwarder
{
    const void *vtbl;                /* one of the forwarding vtables */
    struct client_object *owner;
    IUnknown *inner;                 /* the standard proxy's interface; NULL until first asked for */
    struct client_copy *copy;        /* set when this forwarder is a CopyProxy copy */
    struct client_blanket *blanket;  /* NULL until SetBlanket */
};

/* IClientSecurity::CopyProxy: one interface pointer with a blanket of its own. */
struct client_copy
{
    struct client_forwarder forwarder;
    LONG refcount;
    struct client_copy *next;        /* the owner's list, under its lock */
};

struct client_object
{
    IUnknown IUnknown_iface;         /* the identity */
    IClientSecurity IClientSecurity_iface;
    IMarshal IMarshal_iface;
    IMultiQI IMultiQI_iface;
    LONG refcount;
    CRITICAL_SECTION cs;             /* guards the blankets and the copies */
    IUnknown *inner;                 /* the standard proxy's identity */
    struct dosvc_marshal_header header;
    struct client_blanket *unknown_blanket;   /* of IUnknown_iface */
    struct client_copy *copies;
    struct client_object *hash_next;          /* client_object.c's table */
    struct client_forwarder slots[SLOT_COUNT];
};

/* client_forward.c */
extern const IID *const client_slot_iids[SLOT_COUNT];
extern const void *const client_slot_vtbls[SLOT_COUNT];

static inline struct client_forwarder *client_forwarder_from(void *iface)
{
    return CONTAINING_RECORD(iface, struct client_forwarder, vtbl);
}

/* client_object.c */
HRESULT client_object_unmarshal(IStream *stream, REFIID riid, void **out);
HRESULT client_object_release_marshal_data(IStream *stream);
HRESULT client_forwarder_query_interface(struct client_forwarder *forwarder, REFIID riid, void **out);
ULONG client_forwarder_addref(struct client_forwarder *forwarder);
ULONG client_forwarder_release(struct client_forwarder *forwarder);
LONG client_object_count(void);


#endif /* DOSVCPS_CLIENT_H */
