# Shared by tools/check and tools/demo: install missing packages and build.
#
# Copyright 2026 the wine-dosvc authors
# SPDX-License-Identifier: LGPL-2.1-or-later

# Debian packages the build and the tests need.
DOSVC_PACKAGES="wine64 wine64-tools libwine-dev mingw-w64 autoconf automake make procps"

ensure_packages()
{
    local missing="" p
    for p in $DOSVC_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
        exit 1
    fi
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Regenerate, configure and build in $top/build; each step only when needed.
build_tree()
{
    cd "$top"
    if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
        autoreconf -fi >/dev/null
    fi
    mkdir -p build
    cd build
    if [ ! -f Makefile ] || [ ../configure -nt config.status ]; then
        ../configure --quiet
    fi
    make -j"$(nproc)" >/dev/null
    cd "$top"
}
