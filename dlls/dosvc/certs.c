/*
 * Delivery Optimization service: client certificates for https
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
 * Two ways to name the certificate a job shows a server that asks for one:
 * an IDODownload's SecurityContext holds the certificate itself, serialized
 * (CertSerializeCertificateStoreElement: the encoded certificate and its
 * properties, among them where its private key lives), and a BITS-style
 * job's IBackgroundCopyJobHttpOptions names a certificate store and the
 * certificate's SHA-1 hash or subject.  Either way the engine hands the
 * context to WinHTTP (WINHTTP_OPTION_CLIENT_CERT_CONTEXT), which finds the
 * private key through those properties.
 */

#include "dosvc_private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

/* SecurityContext: a serialized certificate context, or CRYPT_E_FILE_ERROR,
 * DoSvc's answer to bytes that are not one (docs/gaps.md). */
HRESULT cert_from_serialized(const BYTE *data, DWORD size, const CERT_CONTEXT **cert)
{
    const void *context = NULL;
    DWORD type = 0;

    *cert = NULL;
    if (!data || !size ||
        !CertAddSerializedElementToStore(NULL, data, size, CERT_STORE_ADD_ALWAYS, 0,
                                         CERT_STORE_CERTIFICATE_CONTEXT_FLAG, &type, &context) || !context)
    {
        WARN("not a serialized certificate (%lu bytes): %#lx\n", size, GetLastError());
        return CRYPT_E_FILE_ERROR;
    }
    *cert = context;
    return S_OK;
}

static BOOL store_location_flags(BG_CERT_STORE_LOCATION location, DWORD *flags)
{
    static const DWORD map[] =
    {
        CERT_SYSTEM_STORE_CURRENT_USER,                /* BG_CERT_STORE_LOCATION_CURRENT_USER */
        CERT_SYSTEM_STORE_LOCAL_MACHINE,               /* _LOCAL_MACHINE */
        CERT_SYSTEM_STORE_CURRENT_SERVICE,             /* _CURRENT_SERVICE */
        CERT_SYSTEM_STORE_SERVICES,                    /* _SERVICES */
        CERT_SYSTEM_STORE_USERS,                       /* _USERS */
        CERT_SYSTEM_STORE_CURRENT_USER_GROUP_POLICY,   /* _CURRENT_USER_GROUP_POLICY */
        CERT_SYSTEM_STORE_LOCAL_MACHINE_GROUP_POLICY,  /* _LOCAL_MACHINE_GROUP_POLICY */
        CERT_SYSTEM_STORE_LOCAL_MACHINE_ENTERPRISE,    /* _LOCAL_MACHINE_ENTERPRISE */
    };

    if ((unsigned int)location >= ARRAY_SIZE(map)) return FALSE;
    *flags = map[location];
    return TRUE;
}

/* The certificate's simple subject name, CoTaskMemAlloc'd ("" if it has none). */
WCHAR *cert_subject(const CERT_CONTEXT *cert)
{
    DWORD len = cert ? CertGetNameStringW(cert, CERT_NAME_SIMPLE_DISPLAY_TYPE, 0, NULL, NULL, 0) : 0;
    WCHAR *name = CoTaskMemAlloc(max(len, 1) * sizeof(WCHAR));

    if (!name) return NULL;
    name[0] = 0;
    if (len) CertGetNameStringW(cert, CERT_NAME_SIMPLE_DISPLAY_TYPE, 0, NULL, name, len);
    return name;
}

/* The certificate of a system store with this SHA-1 hash (or, hash NULL, this
 * simple subject name), with BITS' answers: E_NOTIMPL for a location
 * BG_CERT_STORE_LOCATION does not define, ERROR_FILE_NOT_FOUND for a store
 * that does not exist, CRYPT_E_NOT_FOUND for no such certificate,
 * E_ACCESSDENIED for a store the caller may not open.  The store is opened
 * as the caller when there is one. */
HRESULT cert_find_in_store(BG_CERT_STORE_LOCATION location, const WCHAR *store_name, const BYTE *hash,
                           const WCHAR *subject, const CERT_CONTEXT **cert)
{
    CRYPT_HASH_BLOB blob;
    const CERT_CONTEXT *found = NULL;
    BOOL impersonating;
    HCERTSTORE store;
    DWORD flags, error;
    WCHAR *name;

    *cert = NULL;
    if (!store_location_flags(location, &flags)) return E_NOTIMPL;
    impersonating = SUCCEEDED(CoImpersonateClient());
    store = CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0,
                          flags | CERT_STORE_OPEN_EXISTING_FLAG | CERT_STORE_READONLY_FLAG, store_name);
    error = GetLastError();
    if (impersonating) CoRevertToSelf();
    if (!store)
    {
        WARN("cannot open certificate store %s: %lu\n", debugstr_w(store_name), error);
        if (error == ERROR_ACCESS_DENIED) return E_ACCESSDENIED;
        return HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
    }
    if (hash)
    {
        blob.cbData = 20;
        blob.pbData = (BYTE *)hash;
        found = CertFindCertificateInStore(store, X509_ASN_ENCODING | PKCS_7_ASN_ENCODING, 0, CERT_FIND_SHA1_HASH,
                                           &blob, NULL);
    }
    else
    {
        /* the first one whose simple name is the one asked for */
        while ((found = CertEnumCertificatesInStore(store, found)))
        {
            BOOL match = (name = cert_subject(found)) && !wcsicmp(name, subject);

            CoTaskMemFree(name);
            if (match) break;
        }
    }
    CertCloseStore(store, 0);
    if (!found) return CRYPT_E_NOT_FOUND;
    *cert = found;
    return S_OK;
}

/* The SHA-1 hash (thumbprint) of a certificate. */
BOOL cert_hash(const CERT_CONTEXT *cert, BYTE hash[20])
{
    DWORD size = 20;

    return CertGetCertificateContextProperty(cert, CERT_HASH_PROP_ID, hash, &size) && size == 20;
}
