/*
 * Delivery Optimization service: text for error codes and error contexts
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
 * Where a description comes from, in order:
 *   1. DO_E_* codes: our own table (no system message file knows them);
 *   2. facility HTTP (0x8019xxxx): built from the status and its reason phrase;
 *   3. WinHTTP errors: winhttp.dll's message table, then a short table of ours
 *      (Wine's builtin winhttp.dll carries no message table);
 *   4. anything else: the system message table.
 * The text is English whatever the language asked for: any language id is
 * accepted, none is refused.
 */

#include "dosvc_private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dosvc);

/* Wine defines this for its own tree only. */

struct code_text
{
    HRESULT code;
    const WCHAR *text;
};

/* One sentence per code of deliveryoptimizationerrors.h, in header order. */
static const struct code_text do_texts[] =
{
    { DO_E_NO_SERVICE, L"Delivery Optimization was unable to provide the requested service." },
    { DO_E_DOWNLOAD_NO_PROGRESS,
      L"The download made no progress within the allowed no-progress period." },
    { DO_E_JOB_NOT_FOUND, L"No job with the given identifier exists." },
    { DO_E_JOB_EMPTY, L"The job contains no files to transfer." },
    { DO_E_NO_DOWNLOADS, L"There are no downloads." },
    { DO_E_MEMORYSTREAM_DOWNLOAD_NOT_SUPPORTED,
      L"Downloading into a memory stream is not supported for this download." },
    { DO_E_JOB_TOO_OLD, L"The job reached its maximum age without being completed or cancelled." },
    { DO_E_LOCALPATH_NOT_SET, L"No local path has been set for the file." },
    { DO_E_FILE_NOT_AVAILABLE, L"The error is not associated with any file." },
    { DO_E_UNKNOWN_PROPERTY_ID, L"The property identifier is not recognized." },
    { DO_E_READ_ONLY_PROPERTY, L"The property can be read but not changed." },
    { DO_E_INVALID_STATE, L"The operation cannot be performed in the job's current state." },
    { DO_E_ERROR_INFORMATION_UNAVAILABLE,
      L"No error information is available because no error has occurred." },
    { DO_E_WRITE_ONLY_PROPERTY, L"The property can be set but not read." },
    { DO_E_INTEGRITYCHECKINFO_UNSPECIFIED,
      L"An integrity check is required, but no integrity information was supplied." },
    { DO_E_INTEGRITYCHECKINFO_UNAVAILABLE,
      L"The integrity information for the content could not be retrieved." },
    { DO_E_FILE_DOWNLOADSINK_UNSPECIFIED,
      L"The download cannot start because no destination file path or stream was given." },
    { DO_E_FILE_DOWNLOADSINK_ALREADY_SET,
      L"A destination of a different kind has already been set for this file." },
    { DO_E_FILE_SIZE_UNKNOWN_HTTP_200,
      L"The file size could not be worked out from the server's HTTP 200 response." },
    { DO_E_FILE_ENCRYPTION_EXPECTED,
      L"Decryption information was supplied, but the content is not encrypted." },
    { DO_E_FILE_SIZE_UNKNOWN_HTTP_206,
      L"The file size could not be worked out from the server's HTTP 206 response." },
    { DO_E_FILE_SIZE_UNKNOWN_HTTP_2XX,
      L"The file size could not be worked out from the server's successful HTTP response." },
    { DO_E_NETWORK_ACCESS_CONSENT_NEEDED,
      L"The user has to allow network access before the download can go on." },
    { DO_E_DOWNLOAD_NO_URI, L"The download was started without a URI." },
    { DO_E_DOWNLOAD_NO_CONTENT_ID, L"The download was started without a content identifier." },
    { DO_E_INVALID_CONTENT_ID, L"The content identifier is not valid." },
    { DO_E_DOWNLOAD_RANGES_UNEXPECTED,
      L"Byte ranges were given for a download that does not take them." },
    { DO_E_DOWNLOAD_RANGES_EXPECTED, L"This download needs byte ranges, but none were given." },
    { DO_E_NO_DOWNLOAD_PARTICIPATION,
      L"The download was held back because participation in downloads is being throttled." },
    { DO_E_NO_DOWNLOAD_EXTSETTINGS,
      L"The download was blocked by user or administrator settings." },
    { DO_E_BLOCKED_BY_COST_TRANSFER_POLICY,
      L"The download is paused because the cost of the current network does not fit the job's transfer policy." },
    { DO_E_DOWNLOADMODE_SET_BY_CP, L"The download mode was restricted by the content's policy." },
    { DO_E_BLOCKED_BY_CELLULAR_POLICY,
      L"The download is paused because the computer is on a cellular network and policy does not allow it." },
    { DO_E_BLOCKED_BY_POWER_STATE,
      L"The download is paused because the computer is running on battery power." },
    { DO_E_BLOCKED_BY_NO_NETWORK,
      L"The download is paused because no network connection is available." },
    { DO_E_DOWNLOADMODE_SET_BY_POLICY, L"The download mode was restricted by a policy setting." },
    { DO_E_BLOCKED_BY_VPN_POLICY, L"The download is paused because a VPN connection is in use." },
    { DO_E_BLOCKED_BY_CRITICAL_MEMORY_USAGE,
      L"The download is paused because the system is critically short of memory." },
    { DO_E_DOWNLOADMODE_SET_BY_CACHE_ABSENCE,
      L"The download mode was restricted because there is no cache folder." },
    { DO_E_CLOUD_SERVICES_UNREACHABLE,
      L"The Delivery Optimization cloud services could not be reached." },
    { DO_E_DOWNLOADMODE_SET_FOR_UNREG_CALLER,
      L"The download mode was restricted because the caller is not registered." },
    { DO_E_DOWNLOADMODE_SET_FOR_SIMPLE_RANGES,
      L"The download of simple byte ranges runs in simple mode." },
    { DO_E_UNEXPECTED_HTTP_STATUS_2XX,
      L"The download is paused because the server answered with an unexpected success status, such as 204." },
    { DO_E_HTTP_BLOCKSIZE_MISMATCH,
      L"The server sent a different number of bytes than was requested." },
    { DO_E_HTTP_CERT_VALIDATION, L"The server's certificate could not be validated." },
    { DO_E_INVALID_RANGE, L"A requested byte range is not valid." },
    { DO_E_INSUFFICIENT_RANGE_SUPPORT,
      L"The server does not support the HTTP range requests this download needs." },
    { DO_E_OVERLAPPING_RANGES, L"Two or more of the requested byte ranges overlap." },
    { DO_E_UPLOADING_BAD_PIECES, L"Too many corrupt pieces were sent to peers." },
    { DO_E_FATAL_CORE_ERROR,
      L"The Delivery Optimization engine ran into an error it cannot recover from." },
    { DO_E_SERVICES_RESPONSE_EMPTY,
      L"The Delivery Optimization services sent back an empty answer." },
    { DO_E_BAD_INCOMING_DATA, L"Piece data received from a source was malformed or incomplete." },
    { DO_E_BAD_PIECE_HASH, L"A received piece does not match its expected hash." },
    { DO_E_BAD_PIECE_HASH_NO_BAN,
      L"A received piece does not match its expected hash; its source is not banned yet." },
    { DO_E_ALREADY_HAVE_PIECE, L"The piece is already in the cache." },
    { DO_E_MISSING_PIECE, L"The piece is no longer in the cache." },
    { DO_E_METAINFO_CONTENT, L"The content metadata could not be parsed." },
    { DO_E_METAINFO_VERSION, L"The content metadata has a version that is not supported." },
    { DO_E_SWARM_NOT_RUNNING, L"The swarm for this content is not running." },
    { DO_E_UNRECOGNIZED_CONN, L"A connection came from a peer that is not recognized." },
    { DO_E_PEER_BANNED, L"The peer has been banned." },
    { DO_E_CONNECT_TO_SELF, L"A peer connection would have led back to this computer." },
    { DO_E_ALREADY_CONNECTED, L"There already is a connection to this peer." },
    { DO_E_NO_MORE_CONNECTIONS,
      L"The largest allowed number of peer connections has been reached." },
    { DO_E_LOST_CONNECTION, L"The connection to the peer was lost." },
    { DO_E_UNRECOGNIZED_SWARM, L"The swarm identifier is not recognized." },
    { DO_E_INVALID_HANDSHAKE_LEN, L"A peer sent a handshake of the wrong length." },
    { DO_E_SOCKET_CLOSED, L"The network socket was closed." },
    { DO_E_PEER_MSG_TOO_LONG, L"A peer sent a message that is too long." },
    { DO_E_INVALID_PEER_MSG, L"A peer sent a message that is not valid." },
    { DO_E_PEER_IS_UPLOAD, L"The peer connection is an upload connection." },
    { DO_E_PIN_FAIL_NO_PEERING,
      L"The content cannot be pinned unless peer-to-peer sharing is in use." },
    { DO_E_DELETE_PINNED_SWARM,
      L"The content is pinned; it can only be deleted by forcing the deletion." },
    { DO_E_METAINFO_DIGEST_MATCH,
      L"The digest of the content metadata does not match the expected one." },
    { DO_E_METAINFO_HOH_MATCH, L"The hash of the piece hashes does not match the expected value." },
    { DO_E_METAINFO_HOH_FINAL_MATCH,
      L"The computed hash of the piece hashes does not match the expected value." },
    { DO_E_METAINFO_CONTENT_LENGTH, L"The content length given in the metadata is not valid." },
    { DO_E_METAINFO_PIECE_SIZE, L"The piece size given in the metadata is not valid." },
    { DO_E_METAINFO_PARSE_HOH,
      L"The hash of the piece hashes in the metadata could not be parsed." },
    { DO_E_METAINFO_PARSE_PIECEHASHES,
      L"The list of piece hashes in the metadata could not be parsed." },
    { DO_E_METAINFO_PARSE_ONE_PIECEHASH,
      L"One of the piece hashes in the metadata could not be parsed." },
    { DO_E_METAINFO_FILE_SIZE, L"The piece hash file has a size that is not valid." },
};

/* deliveryoptimizationerrors.h defines 82 codes; keep the table complete. */
C_ASSERT(ARRAY_SIZE(do_texts) == 82);

/* Facility HTTP codes that are not a status number. */
static const struct code_text http_facility_texts[] =
{
    { 0x80190001, L"The server returned an HTTP status that was not expected." },
    { 0x80190003, L"The server returned a redirection status that was not expected." },
    { 0x80190004, L"The server returned a client error status that was not expected." },
    { 0x80190005, L"The server returned a server error status that was not expected." },
};

struct status_text
{
    unsigned int status;
    const WCHAR *reason;
};

/* Reason phrases of the common statuses, as the HTTP RFCs name them. */
static const struct status_text http_reasons[] =
{
    { 100, L"Continue" },
    { 101, L"Switching Protocols" },
    { 200, L"OK" },
    { 201, L"Created" },
    { 202, L"Accepted" },
    { 203, L"Non-Authoritative Information" },
    { 204, L"No Content" },
    { 205, L"Reset Content" },
    { 206, L"Partial Content" },
    { 300, L"Multiple Choices" },
    { 301, L"Moved Permanently" },
    { 302, L"Found" },
    { 303, L"See Other" },
    { 304, L"Not Modified" },
    { 305, L"Use Proxy" },
    { 307, L"Temporary Redirect" },
    { 308, L"Permanent Redirect" },
    { 400, L"Bad Request" },
    { 401, L"Unauthorized" },
    { 402, L"Payment Required" },
    { 403, L"Forbidden" },
    { 404, L"Not Found" },
    { 405, L"Method Not Allowed" },
    { 406, L"Not Acceptable" },
    { 407, L"Proxy Authentication Required" },
    { 408, L"Request Timeout" },
    { 409, L"Conflict" },
    { 410, L"Gone" },
    { 411, L"Length Required" },
    { 412, L"Precondition Failed" },
    { 413, L"Content Too Large" },
    { 414, L"URI Too Long" },
    { 415, L"Unsupported Media Type" },
    { 416, L"Range Not Satisfiable" },
    { 417, L"Expectation Failed" },
    { 421, L"Misdirected Request" },
    { 422, L"Unprocessable Content" },
    { 425, L"Too Early" },
    { 426, L"Upgrade Required" },
    { 428, L"Precondition Required" },
    { 429, L"Too Many Requests" },
    { 431, L"Request Header Fields Too Large" },
    { 451, L"Unavailable For Legal Reasons" },
    { 500, L"Internal Server Error" },
    { 501, L"Not Implemented" },
    { 502, L"Bad Gateway" },
    { 503, L"Service Unavailable" },
    { 504, L"Gateway Timeout" },
    { 505, L"HTTP Version Not Supported" },
    { 507, L"Insufficient Storage" },
    { 511, L"Network Authentication Required" },
};

/* WinHTTP errors our transfers run into most, for when winhttp.dll has no text. */
static const struct code_text winhttp_texts[] =
{
    { ERROR_WINHTTP_TIMEOUT, L"The request to the server timed out." },
    { ERROR_WINHTTP_INVALID_URL, L"The URL is not valid." },
    { ERROR_WINHTTP_UNRECOGNIZED_SCHEME, L"The URL uses a scheme that is not supported." },
    { ERROR_WINHTTP_NAME_NOT_RESOLVED, L"The server name could not be resolved." },
    { ERROR_WINHTTP_CANNOT_CONNECT, L"No connection could be made to the server." },
    { ERROR_WINHTTP_CONNECTION_ERROR,
      L"The connection to the server was reset or closed unexpectedly." },
    { ERROR_WINHTTP_INVALID_SERVER_RESPONSE,
      L"The server sent a response that could not be understood." },
    { ERROR_WINHTTP_REDIRECT_FAILED, L"A redirection sent by the server could not be followed." },
    { ERROR_WINHTTP_SECURE_FAILURE,
      L"A secure connection to the server could not be set up, or its certificate was not accepted." },
};

static const WCHAR *context_texts[] =
{
    /* BG_ERROR_CONTEXT_NONE */
    L"The error is not tied to a particular part of the transfer.",
    /* BG_ERROR_CONTEXT_UNKNOWN */
    L"The error happened in a part of the transfer that could not be identified.",
    /* BG_ERROR_CONTEXT_GENERAL_QUEUE_MANAGER */
    L"The error happened while the Delivery Optimization service was managing its job queue.",
    /* BG_ERROR_CONTEXT_QUEUE_MANAGER_NOTIFICATION */
    L"The error happened while the Delivery Optimization service was notifying the application.",
    /* BG_ERROR_CONTEXT_LOCAL_FILE */
    L"The error happened while working with the local file.",
    /* BG_ERROR_CONTEXT_REMOTE_FILE */
    L"The error happened while working with the remote file.",
    /* BG_ERROR_CONTEXT_GENERAL_TRANSPORT */
    L"The error happened in the network transport.",
    /* BG_ERROR_CONTEXT_REMOTE_APPLICATION */
    L"The error happened in the server application that handles the transfer.",
    /* 8, BG_ERROR_CONTEXT_SERVER_CERTIFICATE_CALLBACK (BITS 10.1; absent from Wine's bits.h) */
    L"The error happened in the application's server certificate callback.",
};

static const WCHAR *find_code_text(const struct code_text *table, size_t count, HRESULT code)
{
    size_t i;

    for (i = 0; i < count; i++)
        if (table[i].code == code) return table[i].text;
    return NULL;
}

static HRESULT http_status_text(unsigned int status, WCHAR **text)
{
    WCHAR buffer[128];
    size_t i;

    for (i = 0; i < ARRAY_SIZE(http_reasons); i++)
    {
        if (http_reasons[i].status == status)
        {
            swprintf(buffer, ARRAY_SIZE(buffer), L"The server returned HTTP status %u (%s).",
                     status, http_reasons[i].reason);
            return return_string(buffer, text);
        }
    }
    swprintf(buffer, ARRAY_SIZE(buffer), L"The server returned HTTP status %u.", status);
    return return_string(buffer, text);
}

/* FormatMessageW into a CoTaskMemAlloc'd string without its trailing line
 * break; S_FALSE when the message table has no text for the code. */
static HRESULT format_message(DWORD flags, HMODULE module, DWORD code, WCHAR **text)
{
    WCHAR *buffer = NULL;
    DWORD len;
    HRESULT hr;

    flags |= FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_IGNORE_INSERTS;
    /* Our own texts are English only; system texts follow suit so that one
     * description never mixes languages.  A table without English still
     * gives its own choice of language rather than nothing. */
    len = FormatMessageW(flags, module, code, MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US),
                         (WCHAR *)&buffer, 0, NULL);
    if (!len)
        len = FormatMessageW(flags, module, code, 0, (WCHAR *)&buffer, 0, NULL);
    if (!len || !buffer)
    {
        if (buffer) LocalFree(buffer);
        return S_FALSE;
    }

    while (len && (buffer[len - 1] == '\r' || buffer[len - 1] == '\n' || buffer[len - 1] == ' '))
        buffer[--len] = 0;

    hr = len ? return_string(buffer, text) : S_FALSE;
    LocalFree(buffer);
    return hr;
}

static HRESULT winhttp_text(DWORD error, WCHAR **text)
{
    const WCHAR *ours;
    HMODULE module;
    HRESULT hr = S_FALSE;

    /* As a data file so that nothing runs if the service has not loaded it yet. */
    if ((module = LoadLibraryExW(L"winhttp.dll", NULL, LOAD_LIBRARY_AS_DATAFILE)))
    {
        hr = format_message(FORMAT_MESSAGE_FROM_HMODULE, module, error, text);
        FreeLibrary(module);
    }
    if (hr != S_FALSE) return hr;

    if ((ours = find_code_text(winhttp_texts, ARRAY_SIZE(winhttp_texts), error)))
        return return_string(ours, text);
    return S_FALSE;
}

HRESULT error_description(HRESULT code, DWORD langid, WCHAR **text)
{
    const WCHAR *ours;
    HRESULT hr;

    TRACE("%#lx, %#lx, %p.\n", code, langid, text);

    if (!text) return E_INVALIDARG;
    *text = NULL;

    if (HRESULT_FACILITY(code) == FACILITY_DELIVERY_OPTIMIZATION)
    {
        if ((ours = find_code_text(do_texts, ARRAY_SIZE(do_texts), code)))
            return return_string(ours, text);
        return HRESULT_FROM_WIN32(ERROR_MR_MID_NOT_FOUND);
    }

    if (FAILED(code) && HRESULT_FACILITY(code) == FACILITY_HTTP)
    {
        unsigned int status = HRESULT_CODE(code);

        if (status >= 100 && status <= 599) return http_status_text(status, text);
        if ((ours = find_code_text(http_facility_texts, ARRAY_SIZE(http_facility_texts), code)))
            return return_string(ours, text);
        return HRESULT_FROM_WIN32(ERROR_MR_MID_NOT_FOUND);
    }

    /* A WinHTTP error may come wrapped as an HRESULT or as the plain number.
     * The range is wider than WINHTTP_ERROR_LAST: newer WinHTTP versions
     * added codes past it. */
    if ((HRESULT_FACILITY(code) == FACILITY_WIN32 || !(code & 0xffff0000))
        && HRESULT_CODE(code) >= WINHTTP_ERROR_BASE && HRESULT_CODE(code) <= WINHTTP_ERROR_BASE + 200)
    {
        hr = winhttp_text(HRESULT_CODE(code), text);
        if (hr != S_FALSE) return hr;
    }

    hr = format_message(FORMAT_MESSAGE_FROM_SYSTEM, NULL, code, text);
    if (hr != S_FALSE) return hr;

    /* The system table lists most Win32 errors by their plain number only. */
    if (FAILED(code) && HRESULT_FACILITY(code) == FACILITY_WIN32)
    {
        hr = format_message(FORMAT_MESSAGE_FROM_SYSTEM, NULL, HRESULT_CODE(code), text);
        if (hr != S_FALSE) return hr;
    }

    TRACE("no text for %#lx.\n", code);
    return HRESULT_FROM_WIN32(ERROR_MR_MID_NOT_FOUND);
}

HRESULT error_context_description(BG_ERROR_CONTEXT context, DWORD langid, WCHAR **text)
{
    TRACE("%u, %#lx, %p.\n", context, langid, text);

    if (!text) return E_INVALIDARG;
    *text = NULL;

    if ((unsigned int)context >= ARRAY_SIZE(context_texts)) return E_INVALIDARG;
    return return_string(context_texts[context], text);
}
