/*
 * Delivery Optimization error codes
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
 * All codes are failure HRESULTs in facility 208 (0xD0).  The top nibble of
 * the 16-bit code selects a "zone"; codes 0x3800..0x3FFF form the transient
 * zone (the download is paused and may resume by itself).
 *
 * Include <windows.h> (or at least winerror.h and the basic Win32 types)
 * before this header.
 */

#ifndef __WINE_DELIVERYOPTIMIZATIONERRORS_H
#define __WINE_DELIVERYOPTIMIZATIONERRORS_H

#ifndef FACILITY_DELIVERY_OPTIMIZATION
#define FACILITY_DELIVERY_OPTIMIZATION 208
#endif

#define DO_ZONE_MASK            0xF000
#define DO_TRANSIENT_ZONE_MASK  0xF800
#define DO_TRANSIENT_ZONE       0x3800

/* HRESULT_FROM_WIN32(ERROR_NOT_FOUND): returned for properties never set. */
#ifndef E_NOT_SET
#define E_NOT_SET ((HRESULT)0x80070490L)
#endif

/* --- zone 1: service availability --- */
#define DO_E_NO_SERVICE                            ((HRESULT)0x80D01001L)

/* --- zone 2: jobs, downloads, properties and API misuse --- */
#define DO_E_DOWNLOAD_NO_PROGRESS                  ((HRESULT)0x80D02002L)
#define DO_E_JOB_NOT_FOUND                         ((HRESULT)0x80D02003L)
#define DO_E_JOB_EMPTY                             ((HRESULT)0x80D02004L)
#define DO_E_NO_DOWNLOADS                          ((HRESULT)0x80D02005L)
#define DO_E_MEMORYSTREAM_DOWNLOAD_NOT_SUPPORTED   ((HRESULT)0x80D0200BL)
#define DO_E_JOB_TOO_OLD                           ((HRESULT)0x80D0200CL)
#define DO_E_LOCALPATH_NOT_SET                     ((HRESULT)0x80D0200DL)
#define DO_E_FILE_NOT_AVAILABLE                    ((HRESULT)0x80D02010L)
#define DO_E_UNKNOWN_PROPERTY_ID                   ((HRESULT)0x80D02011L)
#define DO_E_READ_ONLY_PROPERTY                    ((HRESULT)0x80D02012L)
#define DO_E_INVALID_STATE                         ((HRESULT)0x80D02013L)
#define DO_E_ERROR_INFORMATION_UNAVAILABLE         ((HRESULT)0x80D02014L)
#define DO_E_WRITE_ONLY_PROPERTY                   ((HRESULT)0x80D02015L)
#define DO_E_INTEGRITYCHECKINFO_UNSPECIFIED        ((HRESULT)0x80D02016L)
#define DO_E_INTEGRITYCHECKINFO_UNAVAILABLE        ((HRESULT)0x80D02017L)
#define DO_E_FILE_DOWNLOADSINK_UNSPECIFIED         ((HRESULT)0x80D02018L)
#define DO_E_FILE_DOWNLOADSINK_ALREADY_SET         ((HRESULT)0x80D02019L)
#define DO_E_FILE_SIZE_UNKNOWN_HTTP_200            ((HRESULT)0x80D0201AL)
#define DO_E_FILE_ENCRYPTION_EXPECTED              ((HRESULT)0x80D0201BL)
#define DO_E_FILE_SIZE_UNKNOWN_HTTP_206            ((HRESULT)0x80D0201CL)
#define DO_E_FILE_SIZE_UNKNOWN_HTTP_2XX            ((HRESULT)0x80D0201DL)
#define DO_E_NETWORK_ACCESS_CONSENT_NEEDED         ((HRESULT)0x80D0201EL)

/* zone 2, 0x22xx: IDODownload start-up checks */
#define DO_E_DOWNLOAD_NO_URI                       ((HRESULT)0x80D02200L)
#define DO_E_DOWNLOAD_NO_CONTENT_ID                ((HRESULT)0x80D02201L)
#define DO_E_INVALID_CONTENT_ID                    ((HRESULT)0x80D02202L)
#define DO_E_DOWNLOAD_RANGES_UNEXPECTED            ((HRESULT)0x80D02203L)
#define DO_E_DOWNLOAD_RANGES_EXPECTED              ((HRESULT)0x80D02204L)

/* --- zone 3: blocked by settings or policy --- */
#define DO_E_NO_DOWNLOAD_PARTICIPATION             ((HRESULT)0x80D03001L)
#define DO_E_NO_DOWNLOAD_EXTSETTINGS               ((HRESULT)0x80D03002L)

/* zone 3, 0x38xx: transient conditions (see IS_DO_TRANSIENT_ERROR) */
#define DO_E_BLOCKED_BY_COST_TRANSFER_POLICY       ((HRESULT)0x80D03801L)
#define DO_E_DOWNLOADMODE_SET_BY_CP                ((HRESULT)0x80D03802L)
#define DO_E_BLOCKED_BY_CELLULAR_POLICY            ((HRESULT)0x80D03803L)
#define DO_E_BLOCKED_BY_POWER_STATE                ((HRESULT)0x80D03804L)
#define DO_E_BLOCKED_BY_NO_NETWORK                 ((HRESULT)0x80D03805L)
#define DO_E_DOWNLOADMODE_SET_BY_POLICY            ((HRESULT)0x80D03806L)
#define DO_E_BLOCKED_BY_VPN_POLICY                 ((HRESULT)0x80D03807L)
#define DO_E_BLOCKED_BY_CRITICAL_MEMORY_USAGE      ((HRESULT)0x80D03808L)
#define DO_E_DOWNLOADMODE_SET_BY_CACHE_ABSENCE     ((HRESULT)0x80D03809L)
#define DO_E_CLOUD_SERVICES_UNREACHABLE            ((HRESULT)0x80D0380AL)
#define DO_E_DOWNLOADMODE_SET_FOR_UNREG_CALLER     ((HRESULT)0x80D0380BL)
#define DO_E_DOWNLOADMODE_SET_FOR_SIMPLE_RANGES    ((HRESULT)0x80D0380CL)
#define DO_E_UNEXPECTED_HTTP_STATUS_2XX            ((HRESULT)0x80D0380DL)

/* --- zone 5: HTTP transport and byte ranges --- */
#define DO_E_HTTP_BLOCKSIZE_MISMATCH               ((HRESULT)0x80D05001L)
#define DO_E_HTTP_CERT_VALIDATION                  ((HRESULT)0x80D05002L)
#define DO_E_INVALID_RANGE                         ((HRESULT)0x80D05010L)
#define DO_E_INSUFFICIENT_RANGE_SUPPORT            ((HRESULT)0x80D05011L)
#define DO_E_OVERLAPPING_RANGES                    ((HRESULT)0x80D05012L)

/* --- zone 6: peer-to-peer engine, piece data and metainfo --- */
#define DO_E_UPLOADING_BAD_PIECES                  ((HRESULT)0x80D06800L)
#define DO_E_FATAL_CORE_ERROR                      ((HRESULT)0x80D06802L)
#define DO_E_SERVICES_RESPONSE_EMPTY               ((HRESULT)0x80D06803L)
#define DO_E_BAD_INCOMING_DATA                     ((HRESULT)0x80D06804L)
#define DO_E_BAD_PIECE_HASH                        ((HRESULT)0x80D06805L)
#define DO_E_BAD_PIECE_HASH_NO_BAN                 ((HRESULT)0x80D06806L)
#define DO_E_ALREADY_HAVE_PIECE                    ((HRESULT)0x80D06807L)
#define DO_E_MISSING_PIECE                         ((HRESULT)0x80D06808L)
#define DO_E_METAINFO_CONTENT                      ((HRESULT)0x80D06809L)
#define DO_E_METAINFO_VERSION                      ((HRESULT)0x80D0680AL)
#define DO_E_SWARM_NOT_RUNNING                     ((HRESULT)0x80D0680BL)
#define DO_E_UNRECOGNIZED_CONN                     ((HRESULT)0x80D0680CL)
#define DO_E_PEER_BANNED                           ((HRESULT)0x80D0680DL)
#define DO_E_CONNECT_TO_SELF                       ((HRESULT)0x80D0680EL)
#define DO_E_ALREADY_CONNECTED                     ((HRESULT)0x80D0680FL)
#define DO_E_NO_MORE_CONNECTIONS                   ((HRESULT)0x80D06810L)
#define DO_E_LOST_CONNECTION                       ((HRESULT)0x80D06811L)
#define DO_E_UNRECOGNIZED_SWARM                    ((HRESULT)0x80D06812L)
#define DO_E_INVALID_HANDSHAKE_LEN                 ((HRESULT)0x80D06813L)
#define DO_E_SOCKET_CLOSED                         ((HRESULT)0x80D06814L)
#define DO_E_PEER_MSG_TOO_LONG                     ((HRESULT)0x80D06815L)
#define DO_E_INVALID_PEER_MSG                      ((HRESULT)0x80D06816L)
#define DO_E_PEER_IS_UPLOAD                        ((HRESULT)0x80D06817L)
#define DO_E_PIN_FAIL_NO_PEERING                   ((HRESULT)0x80D06818L)
#define DO_E_DELETE_PINNED_SWARM                   ((HRESULT)0x80D06819L)

/* zone 6, 0x681A..: metainfo / piece-hash-file validation */
#define DO_E_METAINFO_DIGEST_MATCH                 ((HRESULT)0x80D0681AL)
#define DO_E_METAINFO_HOH_MATCH                    ((HRESULT)0x80D0681BL)
#define DO_E_METAINFO_HOH_FINAL_MATCH              ((HRESULT)0x80D0681CL)
#define DO_E_METAINFO_CONTENT_LENGTH               ((HRESULT)0x80D0681DL)
#define DO_E_METAINFO_PIECE_SIZE                   ((HRESULT)0x80D0681EL)
#define DO_E_METAINFO_PARSE_HOH                    ((HRESULT)0x80D0681FL)
#define DO_E_METAINFO_PARSE_PIECEHASHES            ((HRESULT)0x80D06820L)
#define DO_E_METAINFO_PARSE_ONE_PIECEHASH          ((HRESULT)0x80D06821L)
#define DO_E_METAINFO_FILE_SIZE                    ((HRESULT)0x80D06822L)

/* TRUE for a DO failure in the transient zone (0x80D03800..0x80D03FFF). */
static inline BOOL IS_DO_TRANSIENT_ERROR(HRESULT hr)
{
    return FAILED(hr)
        && HRESULT_FACILITY(hr) == FACILITY_DELIVERY_OPTIMIZATION
        && (HRESULT_CODE(hr) & DO_TRANSIENT_ZONE_MASK) == DO_TRANSIENT_ZONE;
}

#endif /* __WINE_DELIVERYOPTIMIZATIONERRORS_H */
