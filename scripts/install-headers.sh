#!/bin/bash
# Kernel headers for BCC at /lib/modules/$(uname -r)/build. The running
# kernel's own package when Debian has one; otherwise the distribution's
# default headers, linked in. ctrace takes every struct offset from BTF, so
# the headers only have to compile, not to match.
#
#   install-headers.sh              install (apt) and link what is missing
#   install-headers.sh --link-only  only link a default headers tree already
#                                   installed (the ctrace image, at container
#                                   start: no apt, no network)
set -euo pipefail
krel=$(uname -r)
dir=/lib/modules/$krel
if [ -e "$dir/build/include" ]; then
    exit 0
fi

link_default() {
    local arch common
    arch=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1) || true
    common=${arch%-amd64}-common
    [ -n "$arch" ] && [ -d "$arch" ] && [ -d "$common" ] ||
        { echo "headers: no linux-headers tree under /usr/src" >&2; exit 1; }
    mkdir -p "$dir"
    ln -sfn "$arch" "$dir/build"
    ln -sfn "$common" "$dir/source"
    echo "headers: no package for $krel; linked $arch (struct offsets come from BTF)"
}

if [ "${1:-}" = --link-only ]; then
    link_default
    exit 0
fi

have_list=0
if ! apt-cache show "linux-headers-$krel" >/dev/null 2>&1; then
    apt-get update -q >/dev/null && have_list=1
fi
if apt-cache show "linux-headers-$krel" >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "linux-headers-$krel"
    exit 0
fi
[ "$have_list" = 1 ] || apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-headers-amd64 >/dev/null
link_default
