/*
 * IDOManager activation and the properties of IDODownload: every
 * DODownloadProperty id before and after SetProperty, wrong VARIANT types,
 * unknown ids, and the states in which SetProperty is refused
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
 * Expected values come from Microsoft's documentation where it gives them
 * (fact sheet do-api-facts.md, sections 2.2 and 3.4) and otherwise from the
 * project's decisions for the IDOManager generation; the message of every
 * check of the second kind says "[inferred]", so a run on Windows shows at
 * once which decisions were wrong.
 *
 * Every call crosses a process boundary: a NULL [ref] pointer is refused by
 * the client-side proxy with RPC_X_NULL_REF_POINTER before the service sees
 * it, so those checks accept that code as well as the service's E_INVALIDARG.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "dotest.h"

#define KIB 1024

#define HR_NULL_REF HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER)
#define HR_ENUM_RANGE HRESULT_FROM_WIN32(RPC_X_ENUM_VALUE_OUT_OF_RANGE)

static IDOManager *manager;
static struct httpd *httpd;

/* ------------------------------------------------------------------ helpers */

static const char *debugstr_variant(const VARIANT *v)
{
    static char buffers[8][128];
    static LONG next;
    char *buf = buffers[InterlockedIncrement(&next) & 7];

    switch (V_VT(v))
    {
    case VT_EMPTY:
        strcpy(buf, "VT_EMPTY");
        break;
    case VT_BSTR:
        if (V_BSTR(v)) snprintf(buf, sizeof(buffers[0]), "VT_BSTR %.80ls", V_BSTR(v));
        else strcpy(buf, "VT_BSTR (null)");
        break;
    case VT_UI4:
        sprintf(buf, "VT_UI4 %lu", V_UI4(v));
        break;
    case VT_BOOL:
        sprintf(buf, "VT_BOOL %d", V_BOOL(v));
        break;
    case VT_UI8:
        sprintf(buf, "VT_UI8 %llu", V_UI8(v));
        break;
    case VT_UNKNOWN:
        sprintf(buf, "VT_UNKNOWN %p", V_UNKNOWN(v));
        break;
    default:
        sprintf(buf, "vt %#x", V_VT(v));
        break;
    }
    return buf;
}

/* Polls GetStatus every 10 ms until the state is want or the timeout passed;
 * gives up early in a state the download does not leave by itself. */
#define wait_state(download, want, timeout) wait_state_(__LINE__, download, want, timeout, "")
#define wait_state_inferred(download, want, timeout) \
    wait_state_(__LINE__, download, want, timeout, " [inferred]")
static BOOL wait_state_(unsigned int line, IDODownload *download, DODownloadState want,
                        DWORD timeout_ms, const char *note)
{
    ULONGLONG start = GetTickCount64();
    DO_DOWNLOAD_STATUS status;
    HRESULT hr;

    timeout_ms = hang_bound(timeout_ms);

    for (;;)
    {
        memset(&status, 0, sizeof(status));
        hr = IDODownload_GetStatus(download, &status);
        if (FAILED(hr))
        {
            ok_(__FILE__, line)(0, "GetStatus failed: %#lx\n", hr);
            return FALSE;
        }
        if (status.State == want) break;
        if (status.State == DODownloadState_Transferred || status.State == DODownloadState_Finalized ||
            status.State == DODownloadState_Aborted ||
            (status.State == DODownloadState_Paused && FAILED(status.Error)))
            break;
        if (GetTickCount64() - start >= timeout_ms) break;
        Sleep(10);
    }
    ok_(__FILE__, line)(status.State == want,
                        "waited %llu ms for %s, got %s (error %#lx, extended error %#lx)%s\n",
                        GetTickCount64() - start, dl_state_name(want), dl_state_name(status.State),
                        status.Error, status.ExtendedError, note);
    return status.State == want;
}

/* The VARIANT does not own a reference: nothing to clear. */
static HRESULT set_unknown(IDODownload *download, DODownloadProperty id, IUnknown *value)
{
    VARIANT v;

    V_VT(&v) = VT_UNKNOWN;
    V_UNKNOWN(&v) = value;
    return IDODownload_SetProperty(download, id, &v);
}

static BOOL is_guid_string(const WCHAR *str)
{
    unsigned int i;

    if (!str || wcslen(str) != 38 || str[0] != '{' || str[37] != '}') return FALSE;
    for (i = 1; i < 37; i++)
    {
        if (i == 9 || i == 14 || i == 19 || i == 24)
        {
            if (str[i] != '-') return FALSE;
        }
        else if (!((str[i] >= '0' && str[i] <= '9') || (str[i] >= 'A' && str[i] <= 'F')))
            return FALSE;
    }
    return TRUE;
}

/* The download's Id as a string; empty on failure. */
static void get_id(IDODownload *download, WCHAR *buf, size_t count)
{
    VARIANT v;
    HRESULT hr;

    buf[0] = 0;
    VariantInit(&v);
    hr = IDODownload_GetProperty(download, DODownloadProperty_Id, &v);
    ok(hr == S_OK && V_VT(&v) == VT_BSTR, "GetProperty(Id): %#lx, %s\n", hr, debugstr_variant(&v));
    if (hr == S_OK && V_VT(&v) == VT_BSTR && V_BSTR(&v)) lstrcpynW(buf, V_BSTR(&v), count);
    VariantClear(&v);
}

/* A download of "/<path>" from the loopback server into the test directory
 * (local_name NULL: no LocalPath), not started.  Cost policy "always", as a
 * client on a metered test machine would set it. */
static IDODownload *new_download(const char *path, const WCHAR *local_name)
{
    WCHAR url[256], local[MAX_PATH];
    IDODownload *download;
    HRESULT hr;

    if (!(download = create_download(manager))) return NULL;
    make_url(url, ARRAY_SIZE(url), httpd, path);
    hr = set_bstr(download, DODownloadProperty_Uri, url);
    ok(hr == S_OK, "SetProperty(Uri) failed: %#lx\n", hr);
    hr = set_ui4(download, DODownloadProperty_CostPolicy, DODownloadCostPolicy_Always);
    ok(hr == S_OK, "SetProperty(CostPolicy) failed: %#lx\n", hr);
    if (local_name)
    {
        make_test_path(local, ARRAY_SIZE(local), local_name);
        DeleteFileW(local);
        hr = set_bstr(download, DODownloadProperty_LocalPath, local);
        ok(hr == S_OK, "SetProperty(LocalPath) failed: %#lx\n", hr);
    }
    return download;
}

static HRESULT start_whole(IDODownload *download)
{
    DO_DOWNLOAD_RANGES_INFO info;

    memset(&info, 0, sizeof(info));
    info.RangeCount = 0;
    return IDODownload_Start(download, &info);
}

/* ------------------------------------------------------------------ client objects */

/* IDODownloadStatusCallback that only counts; it lives as long as the
 * process, so a late Release from the service never touches freed memory. */
struct callback
{
    IDODownloadStatusCallback IDODownloadStatusCallback_iface;
    LONG ref;
    LONG calls;
};

static struct callback the_callback;

static struct callback *impl_from_IDODownloadStatusCallback(IDODownloadStatusCallback *iface)
{
    return CONTAINING_RECORD(iface, struct callback, IDODownloadStatusCallback_iface);
}

static HRESULT WINAPI callback_QueryInterface(IDODownloadStatusCallback *iface, REFIID riid, void **out)
{
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IDODownloadStatusCallback))
    {
        *out = iface;
        IDODownloadStatusCallback_AddRef(iface);
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI callback_AddRef(IDODownloadStatusCallback *iface)
{
    return InterlockedIncrement(&impl_from_IDODownloadStatusCallback(iface)->ref);
}

static ULONG WINAPI callback_Release(IDODownloadStatusCallback *iface)
{
    return InterlockedDecrement(&impl_from_IDODownloadStatusCallback(iface)->ref);
}

static HRESULT WINAPI callback_OnStatusChange(IDODownloadStatusCallback *iface, IDODownload *download,
                                              const DO_DOWNLOAD_STATUS *status)
{
    InterlockedIncrement(&impl_from_IDODownloadStatusCallback(iface)->calls);
    return S_OK;
}

static IDODownloadStatusCallbackVtbl callback_vtbl =
{
    callback_QueryInterface,
    callback_AddRef,
    callback_Release,
    callback_OnStatusChange,
};

/* the stream sink given to StreamInterface (dotest.c) */
static struct mem_stream *the_stream;

static void init_objects(void)
{
    the_callback.IDODownloadStatusCallback_iface.lpVtbl = &callback_vtbl;
    the_callback.ref = 1;
    the_stream = new_mem_stream();
}

/* ------------------------------------------------------------------ the property table */

enum prop_access
{
    PROP_RW,
    PROP_RO,
    PROP_WO,
};

struct prop_row
{
    DODownloadProperty id;
    const char *name;
    VARTYPE vt;
    enum prop_access access;
    HRESULT get_new;        /* GetProperty on a new download */
    ULONG def;              /* the value then, for VT_UI4 / VT_BOOL */
    const char *get_note;   /* tag of that expectation */
    const char *rt_note;    /* tag of the round trip */
};

#define ROW(name, vt, access, get_new, def, get_note, rt_note) \
    { DODownloadProperty_##name, #name, vt, access, get_new, def, get_note, rt_note }

static const struct prop_row props[] =
{
    ROW(Id,                       VT_BSTR,   PROP_RO, S_OK,      0, "", ""),
    ROW(Uri,                      VT_BSTR,   PROP_RW, E_NOT_SET, 0, "", ""),
    ROW(ContentId,                VT_BSTR,   PROP_RW, E_NOT_SET, 0, "", ""),
    ROW(DisplayName,              VT_BSTR,   PROP_RW, E_NOT_SET, 0, "", ""),
    ROW(LocalPath,                VT_BSTR,   PROP_RW, E_NOT_SET, 0, "", ""),
    ROW(HttpCustomHeaders,        VT_BSTR,   PROP_RW, E_NOT_SET, 0, "", ""),
    ROW(CostPolicy,               VT_UI4,    PROP_RW, E_NOT_SET, 0, " [inferred]", ""),
    ROW(SecurityFlags,            VT_UI4,    PROP_WO, DO_E_WRITE_ONLY_PROPERTY, 0, "", ""),
    ROW(CallbackFreqPercent,      VT_UI4,    PROP_RW, E_NOT_SET, 0, " [inferred]", ""),
    ROW(CallbackFreqSeconds,      VT_UI4,    PROP_RW, S_OK,      1, " [inferred: the documented default]", ""),
    ROW(NoProgressTimeoutSeconds, VT_UI4,    PROP_RW, E_NOT_SET, 0, " [inferred]", ""),
    ROW(ForegroundPriority,       VT_BOOL,   PROP_RW, S_OK, VARIANT_FALSE, " [inferred: the documented default]", ""),
    ROW(BlockingMode,             VT_BOOL,   PROP_RW, S_OK, VARIANT_FALSE, " [inferred: the documented default]", ""),
    ROW(CallbackInterface,        VT_UNKNOWN, PROP_RW, E_NOT_SET, 0, "", ""),
    ROW(StreamInterface,          VT_UNKNOWN, PROP_RW, E_NOT_SET, 0, "", ""),
    ROW(SecurityContext,          VT_ARRAY | VT_UI1, PROP_WO, DO_E_WRITE_ONLY_PROPERTY, 0, "", ""),
    ROW(NetworkToken,             VT_BOOL,   PROP_WO, DO_E_WRITE_ONLY_PROPERTY, 0, "", ""),
    ROW(CorrelationVector,        VT_BSTR,   PROP_RW, E_NOT_SET, 0, " [inferred: readable]", " [inferred: readable]"),
    ROW(DecryptionInfo,           VT_BSTR,   PROP_WO, DO_E_WRITE_ONLY_PROPERTY, 0, "", ""),
    ROW(IntegrityCheckInfo,       VT_BSTR,   PROP_WO, DO_E_WRITE_ONLY_PROPERTY, 0, "", ""),
    ROW(IntegrityCheckMandatory,  VT_BOOL,   PROP_RW, E_NOT_SET, 0, " [inferred]", " [inferred: readable]"),
    ROW(TotalSizeBytes,           VT_UI8,    PROP_RW, E_NOT_SET, 0, " [inferred: readable]", " [inferred: readable]"),
    ROW(DisallowOnCellular,       VT_BOOL,   PROP_RW, S_OK, VARIANT_FALSE, " [inferred]", " [inferred: readable]"),
    ROW(HttpCustomAuthHeaders,    VT_BSTR,   PROP_RW, E_NOT_SET, 0, " [inferred: readable]", " [inferred: readable]"),
    ROW(HttpAllowSecureToNonSecureRedirect, VT_BOOL, PROP_RW, S_OK, VARIANT_FALSE,
        " [inferred: the documented default]", " [inferred: readable]"),
    ROW(NonVolatile,              VT_BOOL,   PROP_RW, S_OK, VARIANT_FALSE, " [inferred: the documented default]",
        " [inferred: readable]"),
    ROW(HttpRedirectionTarget,    VT_BSTR,   PROP_RO, E_NOT_SET, 0, " [inferred: no response yet]", ""),
    ROW(HttpResponseHeaders,      VT_BSTR,   PROP_RO, E_NOT_SET, 0, " [inferred: no response yet]", ""),
    ROW(HttpServerIPAddress,      VT_BSTR,   PROP_RO, E_NOT_SET, 0, " [inferred: no response yet]", ""),
    ROW(HttpStatusCode,           VT_UI4,    PROP_RO, E_NOT_SET, 0, " [inferred: no response yet]", ""),
};

#undef ROW

/* SecurityContext takes the bytes of a serialized certificate context:
 * one made once, with a throw-away key (CRYPT_VERIFYCONTEXT keeps no key
 * container), so that the value is valid. */
static SAFEARRAY *security_context_value(void)
{
    static BYTE *data;
    static DWORD size;
    const CERT_CONTEXT *cert = NULL;
    CERT_NAME_BLOB name;
    BYTE encoded[128];
    DWORD len = sizeof(encoded);
    HCRYPTPROV prov;
    HCRYPTKEY key;
    SAFEARRAY *sa;
    BYTE *bytes;

    if (!data && CryptAcquireContextW(&prov, NULL, NULL, PROV_RSA_AES, CRYPT_VERIFYCONTEXT))
    {
        CertStrToNameW(X509_ASN_ENCODING, L"CN=dosvc-test props", CERT_X500_NAME_STR, NULL, encoded, &len, NULL);
        name.pbData = encoded;
        name.cbData = len;
        if (CryptGenKey(prov, AT_SIGNATURE, 0, &key))
        {
            CryptDestroyKey(key);
            cert = CertCreateSelfSignCertificate(prov, &name, 0, NULL, NULL, NULL, NULL, NULL);
        }
        if (cert && CertSerializeCertificateStoreElement(cert, 0, NULL, &size) && (data = malloc(size)) &&
            !CertSerializeCertificateStoreElement(cert, 0, data, &size))
        {
            free(data);
            data = NULL;
        }
        ok(data != NULL, "cannot make a serialized certificate: %lu\n", GetLastError());
        if (cert) CertFreeCertificateContext(cert);
        CryptReleaseContext(prov, 0);
    }
    sa = SafeArrayCreateVector(VT_UI1, 0, data ? size : 1);
    SafeArrayAccessData(sa, (void **)&bytes);
    if (data) memcpy(bytes, data, size);
    SafeArrayUnaccessData(sa);
    return sa;
}

/* A value of the right type for the property; index makes paths unique. */
static void make_value(const struct prop_row *p, VARIANT *v, unsigned int index)
{
    WCHAR buf[MAX_PATH], name[64];

    VariantInit(v);
    V_VT(v) = p->vt;
    switch (p->vt)
    {
    case VT_BSTR:
        switch (p->id)
        {
        case DODownloadProperty_Uri:
            swprintf(buf, ARRAY_SIZE(buf), L"http://127.0.0.1:9/props-%u.bin", index);
            break;
        case DODownloadProperty_LocalPath:
            swprintf(name, ARRAY_SIZE(name), L"props-%u.bin", index);
            make_test_path(buf, ARRAY_SIZE(buf), name);
            break;
        case DODownloadProperty_HttpCustomHeaders:
        case DODownloadProperty_HttpCustomAuthHeaders:
            swprintf(buf, ARRAY_SIZE(buf), L"X-Dosvc-Props: %u\r\n", index);
            break;
        case DODownloadProperty_CorrelationVector:
            swprintf(buf, ARRAY_SIZE(buf), L"dosvcTestCv0000%u.1", index);
            break;
        case DODownloadProperty_DecryptionInfo:
            swprintf(buf, ARRAY_SIZE(buf), L"{\"KeyData\":\"AAECAwQFBgcICQoLDA0ODw==\",\"AlgorithmName\":\"AES\","
                     L"\"ChainingMode\":\"ChainingModeCBC\",\"EncryptionBufferSize\":65536}");
            break;
        case DODownloadProperty_IntegrityCheckInfo:
            swprintf(buf, ARRAY_SIZE(buf), L"{\"PiecesHashFileUrl\":\"http://127.0.0.1:9/hashes\","
                     L"\"HashOfHashes\":\"AAAA\"}");
            break;
        default:
            swprintf(buf, ARRAY_SIZE(buf), L"dosvc-test %hs %u", p->name, index);
            break;
        }
        V_BSTR(v) = SysAllocString(buf);
        break;
    case VT_UI4:
        switch (p->id)
        {
        case DODownloadProperty_CostPolicy: V_UI4(v) = DODownloadCostPolicy_NoRoaming; break;
        case DODownloadProperty_SecurityFlags: V_UI4(v) = 0x100; break; /* ignore unknown CA */
        case DODownloadProperty_CallbackFreqPercent: V_UI4(v) = 10; break;
        case DODownloadProperty_CallbackFreqSeconds: V_UI4(v) = 5; break;
        case DODownloadProperty_NoProgressTimeoutSeconds: V_UI4(v) = 120; break;
        default: V_UI4(v) = 200; break;
        }
        break;
    case VT_BOOL:
        V_BOOL(v) = VARIANT_TRUE;
        break;
    case VT_UI8:
        V_UI8(v) = 1234567890123ull;
        break;
    case VT_UNKNOWN:
        if (p->id == DODownloadProperty_StreamInterface) V_UNKNOWN(v) = (IUnknown *)&the_stream->IStream_iface;
        else V_UNKNOWN(v) = (IUnknown *)&the_callback.IDODownloadStatusCallback_iface;
        break;
    case VT_ARRAY | VT_UI1:
        V_ARRAY(v) = security_context_value();
        break;
    }
}

/* A value of another type than the property's. */
static void make_wrong_value(const struct prop_row *p, VARIANT *v)
{
    VariantInit(v);
    switch (p->vt)
    {
    case VT_BSTR:
    case VT_BOOL:
    case VT_UI8:
        V_VT(v) = VT_UI4;
        V_UI4(v) = 1;
        break;
    default:
        V_VT(v) = VT_BSTR;
        V_BSTR(v) = SysAllocString(L"1");
        break;
    }
}

/* Frees what make_value allocated; the VT_UNKNOWN values hold no reference. */
static void clear_value(VARIANT *v)
{
    if (V_VT(v) == VT_UNKNOWN) V_VT(v) = VT_EMPTY;
    VariantClear(v);
}

static BOOL same_object(IUnknown *a, IUnknown *b)
{
    IUnknown *ua = NULL, *ub = NULL;
    BOOL ret;

    if (!a || !b) return a == b;
    IUnknown_QueryInterface(a, &IID_IUnknown, (void **)&ua);
    IUnknown_QueryInterface(b, &IID_IUnknown, (void **)&ub);
    ret = ua && ua == ub;
    if (ua) IUnknown_Release(ua);
    if (ub) IUnknown_Release(ub);
    return ret;
}

static BOOL value_equal(const VARIANT *got, const VARIANT *want)
{
    if (V_VT(got) != V_VT(want)) return FALSE;
    switch (V_VT(want))
    {
    case VT_BSTR: return V_BSTR(got) && V_BSTR(want) && !wcscmp(V_BSTR(got), V_BSTR(want));
    case VT_UI4: return V_UI4(got) == V_UI4(want);
    case VT_BOOL: return V_BOOL(got) == V_BOOL(want);
    case VT_UI8: return V_UI8(got) == V_UI8(want);
    case VT_UNKNOWN: return same_object(V_UNKNOWN(got), V_UNKNOWN(want));
    default: return FALSE;
    }
}

/* ------------------------------------------------------------------ tests */

/* The coclass, as Microsoft's clients create it, and what it answers. */
static void test_activation(void)
{
    IBackgroundCopyManager *bits = NULL;
    IBackgroundCopyJob *job = NULL;
    IDODownload *download, *download2;
    WCHAR id[64], id2[64];
    IUnknown *unk;
    HRESULT hr;
    GUID guid;

    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER, &IID_IBackgroundCopyManager,
                          (void **)&bits);
    ok(hr == S_OK, "CoCreateInstance(IBackgroundCopyManager) on the same class: %#lx [inferred]\n", hr);

    unk = NULL;
    hr = IDOManager_QueryInterface(manager, &IID_IUnknown, (void **)&unk);
    ok(hr == S_OK && unk, "QueryInterface(IUnknown): %#lx, %p\n", hr, unk);
    if (unk) IUnknown_Release(unk);
    unk = (IUnknown *)0xdeadbeef;
    hr = IDOManager_QueryInterface(manager, &IID_IDODownload, (void **)&unk);
    ok(hr == E_NOINTERFACE && !unk, "QueryInterface(IDODownload) on the manager: %#lx, %p\n", hr, unk);
    unk = (IUnknown *)0xdeadbeef;
    hr = IDOManager_QueryInterface(manager, &IID_IDODownloadStatusCallback, (void **)&unk);
    ok(hr == E_NOINTERFACE && !unk, "QueryInterface(IDODownloadStatusCallback) on the manager: %#lx, %p\n",
       hr, unk);

    hr = IDOManager_CreateDownload(manager, NULL);
    ok(hr == E_INVALIDARG || hr == HR_NULL_REF, "CreateDownload(NULL): %#lx [inferred]\n", hr);
    hr = IDOManager_EnumDownloads(manager, NULL, NULL);
    ok(hr == E_INVALIDARG || hr == HR_NULL_REF, "EnumDownloads(NULL, NULL): %#lx [inferred]\n", hr);

    if (!(download = create_download(manager)))
    {
        if (bits) IBackgroundCopyManager_Release(bits);
        return;
    }
    unk = (IUnknown *)0xdeadbeef;
    hr = IDODownload_QueryInterface(download, &IID_IDOManager, (void **)&unk);
    ok(hr == E_NOINTERFACE && !unk, "QueryInterface(IDOManager) on a download: %#lx, %p\n", hr, unk);
    unk = NULL;
    hr = IDODownload_QueryInterface(download, &IID_IUnknown, (void **)&unk);
    ok(hr == S_OK && unk, "QueryInterface(IUnknown) on a download: %#lx, %p\n", hr, unk);
    if (unk) IUnknown_Release(unk);

    /* every download has its own id; the BITS-style API does not see it */
    get_id(download, id, ARRAY_SIZE(id));
    if ((download2 = create_download(manager)))
    {
        get_id(download2, id2, ARRAY_SIZE(id2));
        ok(id[0] && wcscmp(id, id2), "two downloads, ids %ls and %ls\n", id, id2);
        finish_download(download2);
    }
    if (bits && id[0] && CLSIDFromString(id, &guid) == NOERROR)
    {
        hr = IBackgroundCopyManager_GetJob(bits, &guid, &job);
        ok(hr == DO_E_JOB_NOT_FOUND, "GetJob(id of an IDODownload): %#lx [inferred: not a BITS-style job]\n", hr);
        if (job) IBackgroundCopyJob_Release(job);
    }
    finish_download(download);
    if (bits) IBackgroundCopyManager_Release(bits);
}

/* What Microsoft's clients do right after CreateDownload. */
static void test_proxy_blanket(void)
{
    IDODownload *download;
    VARIANT v;
    HRESULT hr;

    hr = CoSetProxyBlanket((IUnknown *)manager, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_NONE, COLE_DEFAULT_PRINCIPAL,
                           RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_DEFAULT);
    ok(hr == S_OK, "CoSetProxyBlanket(manager, IMPERSONATE): %#lx\n", hr);
    if (!(download = create_download(manager))) return;
    hr = CoSetProxyBlanket((IUnknown *)download, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_NONE, COLE_DEFAULT_PRINCIPAL,
                           RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_STATIC_CLOAKING);
    ok(hr == S_OK, "CoSetProxyBlanket(download, IMPERSONATE, STATIC_CLOAKING): %#lx\n", hr);

    ok(get_dl_state(download) == DODownloadState_Created, "state after CoSetProxyBlanket is not Created\n");
    hr = set_bstr(download, DODownloadProperty_DisplayName, L"dosvc-test blanket");
    ok(hr == S_OK, "SetProperty(DisplayName) after CoSetProxyBlanket: %#lx\n", hr);
    VariantInit(&v);
    hr = IDODownload_GetProperty(download, DODownloadProperty_DisplayName, &v);
    ok(hr == S_OK && V_VT(&v) == VT_BSTR && V_BSTR(&v) && !wcscmp(V_BSTR(&v), L"dosvc-test blanket"),
       "GetProperty(DisplayName) after CoSetProxyBlanket: %#lx, %s\n", hr, debugstr_variant(&v));
    VariantClear(&v);
    hr = IDODownload_Abort(download);
    ok(hr == S_OK, "Abort after CoSetProxyBlanket: %#lx\n", hr);
    IDODownload_Release(download);
}

/* CreateDownload gives a download in Created with an empty status. */
static void test_new_download(void)
{
    DO_DOWNLOAD_STATUS status;
    IDODownload *download;
    WCHAR id[64];
    HRESULT hr;

    if (!(download = create_download(manager))) return;
    get_dl_status(download, &status);
    ok(status.State == DODownloadState_Created, "new download: state %s\n", dl_state_name(status.State));
    ok(status.BytesTransferred == 0, "new download: BytesTransferred %llu\n", status.BytesTransferred);
    ok(status.BytesTotal == 0, "new download: BytesTotal %llu [inferred]\n", status.BytesTotal);
    ok(status.Error == S_OK && status.ExtendedError == S_OK,
       "new download: Error %#lx, ExtendedError %#lx [inferred]\n", status.Error, status.ExtendedError);

    get_id(download, id, ARRAY_SIZE(id));
    ok(is_guid_string(id), "Id %ls is not an upper-case {GUID} string [inferred]\n", id);

    hr = IDODownload_GetStatus(download, NULL);
    ok(hr == E_INVALIDARG || hr == HR_NULL_REF, "GetStatus(NULL): %#lx [inferred]\n", hr);
    hr = IDODownload_GetProperty(download, DODownloadProperty_Id, NULL);
    ok(hr == E_INVALIDARG || hr == HR_NULL_REF, "GetProperty(Id, NULL): %#lx [inferred]\n", hr);
    hr = IDODownload_SetProperty(download, DODownloadProperty_DisplayName, NULL);
    ok(hr == E_INVALIDARG || hr == HR_NULL_REF, "SetProperty(DisplayName, NULL): %#lx [inferred]\n", hr);
    finish_download(download);
}

/* One row of the table on a fresh download: get before set, a wrong type,
 * the right type, get after set, and set once the download is Aborted. */
static void test_property_row(const struct prop_row *p, unsigned int index)
{
    IDODownload *download;
    VARIANT v, value, wrong;
    WCHAR id[64] = {0};
    HRESULT hr;

    if (!(download = create_download(manager))) return;

    VariantInit(&v);
    hr = IDODownload_GetProperty(download, p->id, &v);
    if (p->id == DODownloadProperty_Id)
    {
        ok(hr == S_OK && V_VT(&v) == VT_BSTR, "GetProperty: %#lx, %s\n", hr, debugstr_variant(&v));
        if (hr == S_OK && V_VT(&v) == VT_BSTR && V_BSTR(&v)) lstrcpynW(id, V_BSTR(&v), ARRAY_SIZE(id));
    }
    else if (p->get_new == S_OK)
    {
        ok(hr == S_OK && V_VT(&v) == p->vt, "GetProperty on a new download: %#lx, %s, expected vt %#x%s\n",
           hr, debugstr_variant(&v), p->vt, p->get_note);
        if (hr == S_OK && p->vt == VT_UI4)
            ok(V_UI4(&v) == p->def, "default %s, expected %lu%s\n", debugstr_variant(&v), p->def, p->get_note);
        if (hr == S_OK && p->vt == VT_BOOL)
            ok(V_BOOL(&v) == (VARIANT_BOOL)p->def, "default %s, expected %lu%s\n", debugstr_variant(&v),
               p->def, p->get_note);
    }
    else
        ok(hr == p->get_new, "GetProperty on a new download: %#lx (%s), expected %#lx%s\n", hr,
           debugstr_variant(&v), p->get_new, p->get_note);
    VariantClear(&v);

    if (p->access != PROP_RO)
    {
        make_wrong_value(p, &wrong);
        hr = IDODownload_SetProperty(download, p->id, &wrong);
        ok(hr == E_INVALIDARG, "SetProperty with %s: %#lx [inferred]\n", debugstr_variant(&wrong), hr);
        VariantClear(&wrong);
        if (p->access == PROP_RW && p->get_new != S_OK)
        {
            VariantInit(&v);
            hr = IDODownload_GetProperty(download, p->id, &v);
            ok(hr == p->get_new, "GetProperty after a refused SetProperty: %#lx (%s), expected %#lx%s\n", hr,
               debugstr_variant(&v), p->get_new, p->get_note);
            VariantClear(&v);
        }
    }

    make_value(p, &value, index);
    hr = IDODownload_SetProperty(download, p->id, &value);
    if (p->access == PROP_RO)
        ok(hr == DO_E_READ_ONLY_PROPERTY, "SetProperty(%s) of a read-only property: %#lx [inferred]\n",
           debugstr_variant(&value), hr);
    else
        ok(hr == S_OK, "SetProperty(%s): %#lx\n", debugstr_variant(&value), hr);

    VariantInit(&v);
    hr = IDODownload_GetProperty(download, p->id, &v);
    switch (p->access)
    {
    case PROP_RO:
        if (p->id == DODownloadProperty_Id)
            ok(hr == S_OK && V_VT(&v) == VT_BSTR && V_BSTR(&v) && !wcscmp(V_BSTR(&v), id),
               "GetProperty after a refused SetProperty: %#lx, %s, expected %ls\n", hr, debugstr_variant(&v), id);
        else
            ok(hr == p->get_new, "GetProperty after a refused SetProperty: %#lx (%s), expected %#lx%s\n", hr,
               debugstr_variant(&v), p->get_new, p->get_note);
        break;
    case PROP_WO:
        ok(hr == DO_E_WRITE_ONLY_PROPERTY, "GetProperty after SetProperty: %#lx (%s)\n", hr,
           debugstr_variant(&v));
        break;
    case PROP_RW:
        ok(hr == S_OK && value_equal(&v, &value), "GetProperty after SetProperty(%s): %#lx, %s%s\n",
           debugstr_variant(&value), hr, debugstr_variant(&v), p->rt_note);
        break;
    }
    VariantClear(&v);

    hr = IDODownload_Abort(download);
    ok(hr == S_OK, "Abort in Created: %#lx\n", hr);
    if (p->access != PROP_RO)
    {
        hr = IDODownload_SetProperty(download, p->id, &value);
        ok(hr == DO_E_INVALID_STATE, "SetProperty in Aborted: %#lx [inferred]\n", hr);
    }
    clear_value(&value);
    IDODownload_Release(download);
}

static void test_property_table(void)
{
    unsigned int i;

    ok(ARRAY_SIZE(props) == 30, "%u rows for 30 property ids\n", (unsigned int)ARRAY_SIZE(props));
    for (i = 0; i < ARRAY_SIZE(props); i++)
    {
        ok(props[i].id == i, "row %u has id %d\n", i, props[i].id);
        winetest_push_context("%s", props[i].name);
        test_property_row(&props[i], i);
        winetest_pop_context();
    }
}

/* Ids outside 0..29.  DODownloadProperty travels as a 16-bit enum, so a
 * negative id or one above 0x7fff never leaves the client: the proxy refuses
 * it with RPC_X_ENUM_VALUE_OUT_OF_RANGE (Wine's and MIDL's alike). */
static void test_unknown_ids(void)
{
    static const int ids[] = { 30, 31, 1000, 0x7fff };
    IDODownload *download;
    unsigned int i;
    VARIANT v;
    HRESULT hr;

    if (!(download = create_download(manager))) return;
    for (i = 0; i < ARRAY_SIZE(ids); i++)
    {
        VariantInit(&v);
        hr = IDODownload_GetProperty(download, (DODownloadProperty)ids[i], &v);
        ok(hr == DO_E_UNKNOWN_PROPERTY_ID, "GetProperty(%d): %#lx (%s)\n", ids[i], hr, debugstr_variant(&v));
        VariantClear(&v);
        hr = set_ui4(download, (DODownloadProperty)ids[i], 1);
        ok(hr == DO_E_UNKNOWN_PROPERTY_ID, "SetProperty(%d, VT_UI4): %#lx\n", ids[i], hr);
        hr = set_bstr(download, (DODownloadProperty)ids[i], L"x");
        ok(hr == DO_E_UNKNOWN_PROPERTY_ID, "SetProperty(%d, VT_BSTR): %#lx\n", ids[i], hr);
    }

    VariantInit(&v);
    hr = IDODownload_GetProperty(download, (DODownloadProperty)-1, &v);
    ok(hr == DO_E_UNKNOWN_PROPERTY_ID || hr == HR_ENUM_RANGE,
       "GetProperty(-1): %#lx (%s)\n", hr, debugstr_variant(&v));
    VariantClear(&v);
    hr = set_ui4(download, (DODownloadProperty)-1, 1);
    ok(hr == DO_E_UNKNOWN_PROPERTY_ID || hr == HR_ENUM_RANGE,
       "SetProperty(-1, VT_UI4): %#lx\n", hr);
    ok(get_dl_state(download) == DODownloadState_Created, "the download is no longer Created\n");
    finish_download(download);
}

#define get_ui4(download, id, value) get_ui4_(__LINE__, download, id, value)
static HRESULT get_ui4_(unsigned int line, IDODownload *download, DODownloadProperty id, ULONG *value)
{
    VARIANT v;
    HRESULT hr;

    *value = 0xdeadbeef;
    VariantInit(&v);
    hr = IDODownload_GetProperty(download, id, &v);
    if (hr == S_OK)
    {
        ok_(__FILE__, line)(V_VT(&v) == VT_UI4, "property %d: %s, expected VT_UI4\n", id, debugstr_variant(&v));
        if (V_VT(&v) == VT_UI4) *value = V_UI4(&v);
    }
    VariantClear(&v);
    return hr;
}

/* Value ranges and the special VARIANTs the decisions name. */
static void test_property_values(void)
{
    IDODownload *download;
    WCHAR path[MAX_PATH];
    ULONG value, i;
    VARIANT v;
    HRESULT hr;

    if (!(download = create_download(manager))) return;

    for (i = DODownloadCostPolicy_Always; i <= DODownloadCostPolicy_NoCellular; i++)
    {
        hr = set_ui4(download, DODownloadProperty_CostPolicy, i);
        ok(hr == S_OK, "SetProperty(CostPolicy, %lu): %#lx\n", i, hr);
        hr = get_ui4(download, DODownloadProperty_CostPolicy, &value);
        ok(hr == S_OK && value == i, "GetProperty(CostPolicy) after setting %lu: %#lx, %lu\n", i, hr, value);
    }
    hr = set_ui4(download, DODownloadProperty_CostPolicy, DODownloadCostPolicy_NoCellular + 1);
    ok(hr == E_INVALIDARG, "SetProperty(CostPolicy, 6): %#lx [inferred]\n", hr);
    hr = get_ui4(download, DODownloadProperty_CostPolicy, &value);
    ok(hr == S_OK && value == DODownloadCostPolicy_NoCellular,
       "GetProperty(CostPolicy) after a refused value: %#lx, %lu [inferred]\n", hr, value);

    hr = set_ui4(download, DODownloadProperty_NoProgressTimeoutSeconds, 59);
    ok(hr == E_INVALIDARG, "SetProperty(NoProgressTimeoutSeconds, 59): %#lx [inferred: documented minimum 60]\n",
       hr);
    hr = set_ui4(download, DODownloadProperty_NoProgressTimeoutSeconds, 1);
    ok(hr == E_INVALIDARG, "SetProperty(NoProgressTimeoutSeconds, 1): %#lx [inferred: documented minimum 60]\n",
       hr);
    hr = get_ui4(download, DODownloadProperty_NoProgressTimeoutSeconds, &value);
    ok(hr == E_NOT_SET, "GetProperty(NoProgressTimeoutSeconds) after refused values: %#lx, %lu [inferred]\n",
       hr, value);
    hr = set_ui4(download, DODownloadProperty_NoProgressTimeoutSeconds, 60);
    ok(hr == S_OK, "SetProperty(NoProgressTimeoutSeconds, 60): %#lx\n", hr);
    hr = get_ui4(download, DODownloadProperty_NoProgressTimeoutSeconds, &value);
    ok(hr == S_OK && value == 60, "GetProperty(NoProgressTimeoutSeconds): %#lx, %lu\n", hr, value);
    hr = set_ui4(download, DODownloadProperty_NoProgressTimeoutSeconds, 0);
    ok(hr == S_OK, "SetProperty(NoProgressTimeoutSeconds, 0 = DO's default): %#lx\n", hr);
    hr = get_ui4(download, DODownloadProperty_NoProgressTimeoutSeconds, &value);
    trace("GetProperty(NoProgressTimeoutSeconds) after setting 0: %#lx, %lu\n", hr, value);

    /* VT_EMPTY is not a way to clear a string */
    VariantInit(&v);
    hr = IDODownload_SetProperty(download, DODownloadProperty_DisplayName, &v);
    ok(hr == E_INVALIDARG, "SetProperty(DisplayName, VT_EMPTY): %#lx [inferred]\n", hr);
    hr = set_bstr(download, DODownloadProperty_DisplayName, L"dosvc-test first");
    ok(hr == S_OK, "SetProperty(DisplayName): %#lx\n", hr);
    hr = set_bstr(download, DODownloadProperty_DisplayName, L"dosvc-test second");
    ok(hr == S_OK, "SetProperty(DisplayName) again: %#lx\n", hr);
    VariantInit(&v);
    hr = IDODownload_SetProperty(download, DODownloadProperty_DisplayName, &v);
    ok(hr == E_INVALIDARG, "SetProperty(DisplayName, VT_EMPTY) over a value: %#lx [inferred]\n", hr);
    hr = IDODownload_GetProperty(download, DODownloadProperty_DisplayName, &v);
    ok(hr == S_OK && V_VT(&v) == VT_BSTR && V_BSTR(&v) && !wcscmp(V_BSTR(&v), L"dosvc-test second"),
       "GetProperty(DisplayName): %#lx, %s\n", hr, debugstr_variant(&v));
    VariantClear(&v);

    /* VT_UNKNOWN NULL clears the callback */
    hr = set_unknown(download, DODownloadProperty_CallbackInterface,
                     (IUnknown *)&the_callback.IDODownloadStatusCallback_iface);
    ok(hr == S_OK, "SetProperty(CallbackInterface): %#lx\n", hr);
    hr = set_unknown(download, DODownloadProperty_CallbackInterface, NULL);
    ok(hr == S_OK, "SetProperty(CallbackInterface, NULL): %#lx [MS-CODE]\n", hr);
    VariantInit(&v);
    hr = IDODownload_GetProperty(download, DODownloadProperty_CallbackInterface, &v);
    ok(hr == E_NOT_SET, "GetProperty(CallbackInterface) after clearing it: %#lx (%s) [inferred]\n", hr,
       debugstr_variant(&v));
    VariantClear(&v);
    hr = set_unknown(download, DODownloadProperty_CallbackInterface, NULL);
    ok(hr == S_OK, "SetProperty(CallbackInterface, NULL) when not set: %#lx [inferred]\n", hr);

    /* one sink only */
    make_test_path(path, ARRAY_SIZE(path), L"props-sink.bin");
    hr = set_bstr(download, DODownloadProperty_LocalPath, path);
    ok(hr == S_OK, "SetProperty(LocalPath): %#lx\n", hr);
    hr = set_unknown(download, DODownloadProperty_StreamInterface, (IUnknown *)&the_stream->IStream_iface);
    ok(hr == DO_E_FILE_DOWNLOADSINK_ALREADY_SET, "SetProperty(StreamInterface) with LocalPath set: %#lx [inferred]\n",
       hr);
    VariantInit(&v);
    hr = IDODownload_GetProperty(download, DODownloadProperty_StreamInterface, &v);
    ok(hr == E_NOT_SET, "GetProperty(StreamInterface) after the refusal: %#lx (%s)\n", hr, debugstr_variant(&v));
    VariantClear(&v);
    finish_download(download);

    if (!(download = create_download(manager))) return;
    hr = set_unknown(download, DODownloadProperty_StreamInterface, (IUnknown *)&the_stream->IStream_iface);
    ok(hr == S_OK, "SetProperty(StreamInterface): %#lx\n", hr);
    hr = set_bstr(download, DODownloadProperty_LocalPath, path);
    ok(hr == DO_E_FILE_DOWNLOADSINK_ALREADY_SET, "SetProperty(LocalPath) with StreamInterface set: %#lx [inferred]\n",
       hr);
    VariantInit(&v);
    hr = IDODownload_GetProperty(download, DODownloadProperty_LocalPath, &v);
    ok(hr == E_NOT_SET, "GetProperty(LocalPath) after the refusal: %#lx (%s)\n", hr, debugstr_variant(&v));
    VariantClear(&v);
    hr = set_unknown(download, DODownloadProperty_StreamInterface, NULL);
    ok(hr == S_OK, "SetProperty(StreamInterface, NULL): %#lx [inferred]\n", hr);
    hr = set_bstr(download, DODownloadProperty_LocalPath, path);
    ok(hr == S_OK, "SetProperty(LocalPath) once the stream is cleared: %#lx [inferred]\n", hr);
    finish_download(download);
}

/* Settable ids other than the two sinks, with a value each. */
static void set_every_property(IDODownload *download, HRESULT expect, const char *where)
{
    unsigned int i;
    VARIANT value;
    HRESULT hr;

    for (i = 0; i < ARRAY_SIZE(props); i++)
    {
        if (props[i].access == PROP_RO) continue;
        make_value(&props[i], &value, 100 + i);
        hr = IDODownload_SetProperty(download, props[i].id, &value);
        ok(hr == expect, "SetProperty(%s) in %s: %#lx, expected %#lx [inferred]\n", props[i].name, where, hr,
           expect);
        clear_value(&value);
    }
}

/* Which properties each state accepts. */
static void test_state_rules(void)
{
    WCHAR url[256], local[MAX_PATH], other[MAX_PATH];
    DO_DOWNLOAD_STATUS status;
    IDODownload *download;
    HRESULT hr;

    httpd_add_generated(httpd, "props-small.bin", 8 * KIB);
    httpd_add_generated(httpd, "props-slow.bin", 256 * KIB);
    make_test_path(other, ARRAY_SIZE(other), L"props-other.bin");

    /* Transferring, then Paused */
    make_url(url, ARRAY_SIZE(url), httpd, "/props-slow.bin?rate=65536");
    if ((download = new_download("/props-slow.bin?rate=65536", L"props-slow.bin")))
    {
        hr = start_whole(download);
        ok(hr == S_OK, "Start failed: %#lx\n", hr);
        get_dl_status(download, &status);
        ok(status.State == DODownloadState_Transferring, "state after Start: %s\n", dl_state_name(status.State));
        if (status.State == DODownloadState_Transferring)
        {
            hr = set_bstr(download, DODownloadProperty_Uri, url);
            ok(hr == DO_E_INVALID_STATE, "SetProperty(Uri) while Transferring: %#lx [inferred]\n", hr);
            hr = set_bstr(download, DODownloadProperty_LocalPath, other);
            ok(hr == DO_E_INVALID_STATE, "SetProperty(LocalPath) after Start: %#lx [inferred]\n", hr);
            hr = set_bstr(download, DODownloadProperty_DisplayName, L"dosvc-test renamed while transferring");
            ok(hr == S_OK, "SetProperty(DisplayName) while Transferring: %#lx [inferred]\n", hr);
            hr = set_bool(download, DODownloadProperty_ForegroundPriority, TRUE);
            ok(hr == S_OK, "SetProperty(ForegroundPriority) while Transferring: %#lx [inferred]\n", hr);
            hr = set_ui4(download, DODownloadProperty_CallbackFreqSeconds, 2);
            ok(hr == S_OK, "SetProperty(CallbackFreqSeconds) while Transferring: %#lx [inferred]\n", hr);
            hr = set_ui4(download, DODownloadProperty_NoProgressTimeoutSeconds, 600);
            ok(hr == S_OK, "SetProperty(NoProgressTimeoutSeconds) while Transferring: %#lx [inferred]\n", hr);
            hr = set_bstr(download, DODownloadProperty_HttpCustomHeaders, L"X-Dosvc-Late: 1\r\n");
            ok(hr == S_OK, "SetProperty(HttpCustomHeaders) while Transferring: %#lx [inferred]\n", hr);
            hr = set_unknown(download, DODownloadProperty_CallbackInterface,
                             (IUnknown *)&the_callback.IDODownloadStatusCallback_iface);
            ok(hr == S_OK, "SetProperty(CallbackInterface) while Transferring: %#lx [inferred]\n", hr);

            hr = IDODownload_Pause(download);
            ok(hr == S_OK, "Pause failed: %#lx\n", hr);
            ok(get_dl_state(download) == DODownloadState_Paused, "state after Pause is not Paused\n");
            hr = set_bstr(download, DODownloadProperty_Uri, url);
            ok(hr == S_OK, "SetProperty(Uri) while Paused: %#lx [inferred]\n", hr);
            hr = set_bstr(download, DODownloadProperty_LocalPath, other);
            ok(hr == DO_E_INVALID_STATE, "SetProperty(LocalPath) while Paused: %#lx [inferred]\n", hr);
            hr = set_bstr(download, DODownloadProperty_DisplayName, L"dosvc-test renamed while paused");
            ok(hr == S_OK, "SetProperty(DisplayName) while Paused: %#lx [inferred]\n", hr);
        }
        finish_download(download);
    }

    /* Transferred, then Finalized */
    make_url(url, ARRAY_SIZE(url), httpd, "/props-small.bin");
    if ((download = new_download("/props-small.bin", L"props-small.bin")))
    {
        hr = start_whole(download);
        ok(hr == S_OK, "Start failed: %#lx\n", hr);
        if (wait_state(download, DODownloadState_Transferred, 10000))
        {
            hr = set_bstr(download, DODownloadProperty_Uri, url);
            ok(hr == S_OK, "SetProperty(Uri) in Transferred: %#lx [inferred]\n", hr);
            hr = set_bstr(download, DODownloadProperty_LocalPath, other);
            ok(hr == DO_E_INVALID_STATE, "SetProperty(LocalPath) in Transferred: %#lx [inferred]\n", hr);
            hr = set_bstr(download, DODownloadProperty_DisplayName, L"dosvc-test renamed when transferred");
            ok(hr == S_OK, "SetProperty(DisplayName) in Transferred: %#lx [inferred]\n", hr);
            hr = IDODownload_Finalize(download);
            ok(hr == S_OK, "Finalize failed: %#lx\n", hr);
            if (hr == S_OK) set_every_property(download, DO_E_INVALID_STATE, "Finalized");
        }
        finish_download(download);
    }

    /* a stream sink cannot be replaced once started */
    if ((download = new_download("/props-small.bin", NULL)))
    {
        hr = set_unknown(download, DODownloadProperty_StreamInterface, (IUnknown *)&the_stream->IStream_iface);
        ok(hr == S_OK, "SetProperty(StreamInterface): %#lx\n", hr);
        hr = start_whole(download);
        ok(hr == S_OK, "Start with a stream sink: %#lx [inferred]\n", hr);
        hr = set_unknown(download, DODownloadProperty_StreamInterface, (IUnknown *)&the_stream->IStream_iface);
        ok(hr == DO_E_INVALID_STATE, "SetProperty(StreamInterface) after Start: %#lx [inferred]\n", hr);
        hr = set_unknown(download, DODownloadProperty_StreamInterface, NULL);
        ok(hr == DO_E_INVALID_STATE, "SetProperty(StreamInterface, NULL) after Start: %#lx [inferred]\n", hr);
        if (wait_state(download, DODownloadState_Transferred, 10000))
        {
            hr = IDODownload_Finalize(download);
            ok(hr == S_OK, "Finalize with a stream sink: %#lx [inferred]\n", hr);
        }
        finish_download(download);
    }

    /* and everything is refused once Aborted, even after a start */
    if ((download = new_download("/props-slow.bin?rate=65536", L"props-aborted.bin")))
    {
        hr = start_whole(download);
        ok(hr == S_OK, "Start failed: %#lx\n", hr);
        hr = IDODownload_Abort(download);
        ok(hr == S_OK, "Abort while Transferring: %#lx\n", hr);
        set_every_property(download, DO_E_INVALID_STATE, "Aborted");
        IDODownload_Release(download);
    }
    make_test_path(local, ARRAY_SIZE(local), L"props-small.bin");
    DeleteFileW(local);
}

/* The service runs under another account: let it call into this process. */
static void init_security(void)
{
    HRESULT hr;

    hr = CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE,
                              NULL, EOAC_NONE, NULL);
    ok(hr == S_OK || hr == RPC_E_TOO_LATE, "CoInitializeSecurity failed: %#lx\n", hr);
}

START_TEST(download_props)
{
    HRESULT hr;

    hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);
    ok(hr == S_OK || hr == S_FALSE, "CoInitializeEx failed: %#lx\n", hr);
    init_security();
    init_objects();

    hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER, &IID_IDOManager,
                          (void **)&manager);
    if (FAILED(hr))
    {
        win_skip("cannot create the DO manager with IID_IDOManager: %#lx\n", hr);
        CoUninitialize();
        return;
    }
    if (!(httpd = httpd_start()))
    {
        ok(0, "cannot start the loopback HTTP server\n");
        IDOManager_Release(manager);
        CoUninitialize();
        return;
    }

    test_activation();
    test_proxy_blanket();
    test_new_download();
    test_property_table();
    test_unknown_ids();
    test_property_values();
    test_state_rules();

    httpd_stop(httpd);
    IDOManager_Release(manager);
    remove_test_dir();
    CoUninitialize();
}
