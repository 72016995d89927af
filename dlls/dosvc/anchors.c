/*
 * Delivery Optimization service: keep every interface's RPC registration alive
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
 * Wine 8 registers an RPC interface when the first stub for an IID appears
 * and unregisters it when the last one goes; RpcServerUnregisterIf can then
 * wait forever for a call that is still finishing, and the service hangs.
 * A client that creates a job, calls it and releases it, over and over,
 * gets there within about a thousand jobs (found by tools/bench).  So at
 * start-up the service marshals one object of each kind, table-strong, for
 * every interface it ever hands out: those stubs live as long as the
 * service, and no interface is ever unregistered while clients come and go.
 */

#include "dosvc_private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

struct anchor
{
    IStream *stream;         /* holds the table-strong marshal data */
};

static struct anchor anchors[24];
static unsigned int anchor_count;
static struct do_job *anchor_job;

static void anchor(IUnknown *object, REFIID riid)
{
    IStream *stream;
    HRESULT hr;

    if (!object || anchor_count == ARRAY_SIZE(anchors)) return;
    if (FAILED(hr = CreateStreamOnHGlobal(NULL, TRUE, &stream))) return;
    if (FAILED(hr = CoMarshalInterface(stream, riid, object, MSHCTX_LOCAL, NULL, MSHLFLAGS_TABLESTRONG)))
    {
        WARN("cannot keep %s registered: %#lx\n", debugstr_guid(riid), hr);
        IStream_Release(stream);
        return;
    }
    anchors[anchor_count++].stream = stream;
}

static const IID *const anchored_iids[] =
{
    &IID_IBackgroundCopyManager, &IID_IDOManager, &IID_IBackgroundCopyJob, &IID_IBackgroundCopyJob5,
    &IID_IBackgroundCopyJobHttpOptions, &IID_IDeliveryOptimizationJob, &IID_IDeliveryOptimizationJob2,
    &IID_IBackgroundCopyFile, &IID_IBackgroundCopyFile2, &IID_IBackgroundCopyFile5, &IID_IDeliveryOptimizationFile,
    &IID_IDeliveryOptimizationFile2, &IID_IBackgroundCopyError, &IID_IDoClientErrorText,
    &IID_IEnumBackgroundCopyJobs, &IID_IEnumBackgroundCopyFiles, &IID_IEnumUnknown, &IID_IDODownload,
};

void anchors_startup(void)
{
    WCHAR dir[MAX_PATH], local[MAX_PATH + 16];
    IEnumBackgroundCopyFiles *enum_files = NULL;
    IEnumBackgroundCopyJobs *enum_jobs = NULL;
    IEnumUnknown *enum_unknowns = NULL;
    IBackgroundCopyError *error = NULL;
    IUnknown *manager = NULL, *download = NULL;
    struct do_job **none, *download_job = NULL;
    struct do_file *file = NULL;

    /* new stubs for these interfaces (one per job handed out) find their
     * proxy/stub classes without the registry (dlls/common/ps_classes.c) */
    dosvc_register_ps_classes(anchored_iids, ARRAY_SIZE(anchored_iids));

    /* an internal job nobody sees: not in the job table, never stored */
    if (FAILED(job_create(L"(interface anchor)", BG_JOB_TYPE_DOWNLOAD, &anchor_job))) return;
    anchor_job->internal = TRUE;
    GetTempPathW(ARRAY_SIZE(dir), dir);
    swprintf(local, ARRAY_SIZE(local), L"%sdosvc-anchor.bin", dir);
    job_add_file(anchor_job, NULL, L"http://127.0.0.1/", local, 0, NULL, DO_UNKNOWN_FILE_SIZE, &file);

    EnterCriticalSection(&anchor_job->cs);
    job_set_error(anchor_job, E_FAIL, BG_ERROR_CONTEXT_NONE, NULL);
    job_set_state(anchor_job, BG_JOB_STATE_ERROR);
    LeaveCriticalSection(&anchor_job->cs);
    copy_error_create(anchor_job, &error);

    if ((none = malloc(sizeof(*none)))) enum_jobs_create(none, 0, &enum_jobs);
    enum_files_create(anchor_job, &enum_files);
    enum_unknowns_create(NULL, 0, &enum_unknowns);
    manager_query_interface(&IID_IUnknown, (void **)&manager);
    if (SUCCEEDED(download_create(&download_job)))
    {
        download_job->internal = TRUE;
        download = (IUnknown *)download_iface(download_job);
    }

    anchor(manager, &IID_IBackgroundCopyManager);
    anchor(manager, &IID_IDOManager);
    anchor((IUnknown *)&anchor_job->IBackgroundCopyJob5_iface, &IID_IBackgroundCopyJob);
    anchor((IUnknown *)&anchor_job->IBackgroundCopyJob5_iface, &IID_IBackgroundCopyJob5);
    anchor((IUnknown *)&anchor_job->IBackgroundCopyJob5_iface, &IID_IBackgroundCopyJobHttpOptions);
    anchor((IUnknown *)&anchor_job->IBackgroundCopyJob5_iface, &IID_IDoClientHttpOptions);
    anchor((IUnknown *)&anchor_job->IBackgroundCopyJob5_iface, &IID_IDeliveryOptimizationJob);
    anchor((IUnknown *)&anchor_job->IBackgroundCopyJob5_iface, &IID_IDeliveryOptimizationJob2);
    if (file)
    {
        anchor((IUnknown *)&file->IBackgroundCopyFile5_iface, &IID_IBackgroundCopyFile);
        anchor((IUnknown *)&file->IBackgroundCopyFile5_iface, &IID_IBackgroundCopyFile2);
        anchor((IUnknown *)&file->IBackgroundCopyFile5_iface, &IID_IBackgroundCopyFile5);
        anchor((IUnknown *)&file->IBackgroundCopyFile5_iface, &IID_IDeliveryOptimizationFile);
        anchor((IUnknown *)&file->IBackgroundCopyFile5_iface, &IID_IDeliveryOptimizationFile2);
    }
    anchor((IUnknown *)error, &IID_IBackgroundCopyError);
    anchor((IUnknown *)error, &IID_IDoClientErrorText);
    anchor((IUnknown *)enum_jobs, &IID_IEnumBackgroundCopyJobs);
    anchor((IUnknown *)enum_files, &IID_IEnumBackgroundCopyFiles);
    anchor((IUnknown *)enum_unknowns, &IID_IEnumUnknown);
    anchor(download, &IID_IDODownload);
    TRACE("%u interfaces anchored\n", anchor_count);

    /* the marshal data holds its own references now */
    if (file) file_release(file);
    if (error) IBackgroundCopyError_Release(error);
    if (enum_jobs) IEnumBackgroundCopyJobs_Release(enum_jobs);
    if (enum_files) IEnumBackgroundCopyFiles_Release(enum_files);
    if (enum_unknowns) IEnumUnknown_Release(enum_unknowns);
    if (manager) IUnknown_Release(manager);
    if (download) IUnknown_Release(download);   /* the job's creation reference */
}

void anchors_shutdown(void)
{
    LARGE_INTEGER zero = { 0 };
    unsigned int i;

    for (i = 0; i < anchor_count; i++)
    {
        IStream_Seek(anchors[i].stream, zero, STREAM_SEEK_SET, NULL);
        CoReleaseMarshalData(anchors[i].stream);
        IStream_Release(anchors[i].stream);
    }
    anchor_count = 0;
    if (anchor_job)
    {
        job_release(anchor_job);
        anchor_job = NULL;
    }
}
