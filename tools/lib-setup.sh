# Shared by tools/check, tools/demo and tools/run-tests: install missing
# packages, build, and run a private Wine prefix with DoSvc installed.
# Callers set $top (the source tree) before sourcing this file.  Every
# function here is safe under "set -e".
#
# Copyright 2026 the wine-dosvc authors
# SPDX-License-Identifier: LGPL-2.1-or-later

# Debian packages the build and the tests need.  "wine" is the one that makes
# /usr/bin/wine, winegcc, widl ... (alternatives to the *-stable names).
DOSVC_PACKAGES="wine wine64 wine64-tools libwine-dev mingw-w64 autoconf automake make procps"

# ensure_packages [EXTRA_PACKAGE...]
ensure_packages()
{
    local missing="" p
    for p in $DOSVC_PACKAGES "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
        exit 1
    fi
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    case "$missing" in
    *:i386*) dpkg --print-foreign-architectures | grep -qx i386 || dpkg --add-architecture i386 ;;
    esac
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# can_run_32bit: does this kernel run 32-bit x86 programs?  Some kernels
# are built or booted without ia32 emulation ("32-bit emulation disabled"
# in dmesg), and 32-bit Wine cannot work there.  The probe is the smallest
# i386 program there is (ELF header, one program header, exit(0) through
# int 0x80), so it needs no package.
can_run_32bit()
{
    local probe status
    probe=$(mktemp "${TMPDIR:-/tmp}/dosvc-ia32.XXXXXX") || return 1
    printf '\177\105\114\106\001\001\001\000\000\000\000\000\000\000\000\000\002\000\003\000\001\000\000\000\124\200\004\010\064\000\000\000\000\000\000\000\000\000\000\000\064\000\040\000\001\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000\000\200\004\010\000\200\004\010\135\000\000\000\135\000\000\000\005\000\000\000\000\020\000\000\270\001\000\000\000\061\333\315\200' >"$probe"
    chmod +x "$probe"
    "$probe" 2>/dev/null
    status=$?
    rm -f "$probe"
    return $status
}

# ensure_i386: what 32-bit clients need, where the kernel can run them:
# 32-bit Wine (wine32:i386) for a WoW64 prefix, and Wine's i386 import
# libraries (libwine-dev:i386) to build dosvcps.dll, doadmin and the tests
# for i686.  Nothing elsewhere: with wine32 installed /usr/bin/wine starts
# the 32-bit loader first, and on a kernel without ia32 emulation that
# breaks every Wine program; and 800 MB of i386 packages would buy nothing.
ensure_i386()
{
    can_run_32bit || return 0
    ensure_packages libwine-dev:i386 wine32:i386
}

# ensure_nginx: Debian's nginx (the bench's file server, tools/cache-host's
# cache).  A newly installed nginx would start on port 80; service starts are
# refused while installing, unless the machine already has a policy-rc.d
# (which is then left as it is).
ensure_nginx()
{
    local status
    [ -x /usr/sbin/nginx ] && return 0
    if [ -e /usr/sbin/policy-rc.d ] || [ "$(id -u)" -ne 0 ]; then
        ensure_packages nginx-light
        return
    fi
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    ( ensure_packages nginx-light )
    status=$?
    rm -f /usr/sbin/policy-rc.d
    return $status
}

# Regenerate, configure and build in $top/build (or BUILDDIR); each step
# only when needed.
build_tree()
{
    local dir=${1:-$top/build}
    cd "$top" || return 1
    if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
        autoreconf -fi >/dev/null || return 1
    fi
    mkdir -p "$dir" && cd "$dir" || return 1
    if [ ! -f Makefile ] || [ "$top/configure" -nt config.status ]; then
        "$top/configure" --quiet || return 1
    fi
    make -j"$(nproc)" >/dev/null || return 1
    cd "$top"
}

# ---------------------------------------------------------------- Wine

# The environment for the private prefix BUILDDIR/wineprefix.  No Mono or
# Gecko installers: nothing here needs them and they cost minutes.
wine_env()
{
    export WINEPREFIX="$1/wineprefix"
    export WINEDEBUG="${WINEDEBUG:--all}"
    export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
    WINE=${WINE:-wine}
    WINESERVER=${WINESERVER:-wineserver}
}

# Runs a command in the background and waits for it.  Wine turns Ctrl-C
# into a console event and exits normally, and bash runs its INT trap only
# for a foreground child that died of the signal; "wait" always returns at
# once on a trapped signal, so the caller's trap runs.  The command's pid
# stays in bg_pid until it ends, for stop_background.
bg_pid=
interruptible()
{
    local status
    "$@" &
    bg_pid=$!
    wait "$bg_pid"
    status=$?
    bg_pid=
    return $status
}

# Ends what interruptible() left running (after Ctrl-C).
stop_background()
{
    if [ -n "$bg_pid" ]; then
        kill "$bg_pid" 2>/dev/null || true
        wait "$bg_pid" 2>/dev/null || true
    fi
    bg_pid=
}

# Creates the prefix if it does not exist yet; wineboot's output goes to LOG.
ensure_prefix()
{
    local log=$1
    # with 32-bit Wine the prefix must be a WoW64 one; a 64-bit-only prefix
    # made before wine32 was installed is made again
    if [ -f "$WINEPREFIX/system.reg" ] && [ ! -f "$WINEPREFIX/drive_c/windows/syswow64/kernel32.dll" ] &&
       [ -x /usr/lib/wine/wine ] && can_run_32bit; then
        echo "making $WINEPREFIX again, with 32-bit support"
        "$WINESERVER" -k >/dev/null 2>&1 || true
        rm -rf "$WINEPREFIX"
    fi
    [ -f "$WINEPREFIX/system.reg" ] && return 0
    echo "creating Wine prefix $WINEPREFIX"
    "$WINESERVER" -k >/dev/null 2>&1 || true
    if ! interruptible "$WINE" wineboot -i >"$log" 2>&1; then
        echo "wineboot failed, see $log" >&2
        return 1
    fi
    "$WINESERVER" -w || true
}

# One persistent session (start_session LOG): the service must outlive
# single client programs, and a session ends 1.5 s after its last client.
# Its output goes to a file, never a pipe: services keep the session
# starter's stderr open, so a pipe would never close.
session_server_pid=
start_session()
{
    local log=$1
    "$WINESERVER" -k >/dev/null 2>&1 || true
    setsid "$WINESERVER" -f -p >"$log" 2>&1 </dev/null &
    session_server_pid=$!
    # the first client waits for the server socket, so this also waits for start-up
    interruptible "$WINE" cmd /c exit >>"$log" 2>&1 || true
}

# Ends every process of the prefix's session (wineserver -k), then makes
# sure the server we started is really gone before returning.
stop_session()
{
    # first what could start a new session behind our back
    stop_background
    "$WINESERVER" -k >/dev/null 2>&1 || true
    if [ -n "$session_server_pid" ]; then
        for _ in $(seq 50); do kill -0 "$session_server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$session_server_pid" 2>/dev/null || true
        wait "$session_server_pid" 2>/dev/null || true
    fi
    session_server_pid=
}

# Belt and braces after stop_session: nothing of this prefix may survive.
kill_prefix_leftovers()
{
    local pid
    for pid in $(pgrep -f 'wineserver|\.exe' 2>/dev/null); do
        if grep -qz "^WINEPREFIX=$WINEPREFIX\$" "/proc/$pid/environ" 2>/dev/null; then
            echo "warning: process $pid of this prefix survived the session; killing it"
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
}

# install_service BUILDDIR LOG: copies and registers the DLLs built in
# BUILDDIR and starts DoSvc (tools/install-dosvc); quiet unless it fails.
install_service()
{
    if ! interruptible "$top/tools/install-dosvc" --builddir "$1" >"$2" 2>&1; then
        echo "installing DoSvc into the prefix failed, see $2" >&2
        return 1
    fi
}
