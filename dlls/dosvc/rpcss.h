/*
 * Delivery Optimization service: what DoSvc asks of Wine's rpcss, and the
 * record of the running instance's registration there
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

#ifndef DOSVC_RPCSS_H
#define DOSVC_RPCSS_H

/* Shared by dosvc.dll and dosvc-monitor.exe (programs/dosvc_monitor). */

/* Starts Wine's RpcSs if it does not run and waits until it does, at most
 * timeout_ms; a Win32 error.  *process_id is rpcss's process. */
DWORD rpcss_ensure_running(DWORD timeout_ms, DWORD *process_id);

/* rpcss's class table (rpcss_classes.idl); every failure, also an RPC
 * exception, comes back as an HRESULT */
HRESULT rpcss_class_register(const GUID *clsid, const BYTE *objref, ULONG size, DWORD *cookie);
HRESULT rpcss_class_revoke(DWORD cookie);
/* the first registration of clsid; free *objref with free() */
HRESULT rpcss_class_lookup(const GUID *clsid, BYTE **objref, ULONG *size);

/* Who holds DoSvc's registration in rpcss.  Kept in a volatile registry
 * key, which ends with the Wine session, as rpcss's table does. */
struct instance_record
{
    DWORD process_id;        /* the service process that registered */
    ULONGLONG process_start; /* its creation time, so a reused id is told apart */
    DWORD rpcss_id;          /* the rpcss process holding the registration */
    DWORD cookie;            /* rpcss's cookie for it */
};

BOOL instance_record_read(struct instance_record *record);
BOOL instance_record_write(const struct instance_record *record);
/* removes the record if it still describes process_id */
void instance_record_delete(DWORD process_id);
ULONGLONG instance_process_start(HANDLE process);
/* Revokes the registration of a recorded instance whose process is gone,
 * if the same rpcss still holds it; TRUE if it did. */
BOOL instance_revoke_dead(const struct instance_record *record);

/* The monitor's bookkeeping of restarts after a crash, in the same key:
 * TRUE if another restart is allowed now (and counts it). */
BOOL instance_restart_allowed(void);

#endif
