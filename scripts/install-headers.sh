#!/bin/bash
# Kernel headers for BCC at /lib/modules/$(uname -r)/build. The running
# kernel's own package when Debian has one; otherwise the distribution's
# default headers, linked in. ctrace takes every struct offset from BTF, so
# the headers only have to compile, not to match.
set -euo pipefail
krel=$(uname -r)
dir=/lib/modules/$krel
if [ -e "$dir/build/include" ]; then
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
arch=$(ls -d /usr/src/linux-headers-*-amd64 | sort -V | tail -n 1)
common=${arch%-amd64}-common
[ -d "$arch" ] && [ -d "$common" ] || { echo "headers: no linux-headers tree under /usr/src" >&2; exit 1; }
mkdir -p "$dir"
ln -sfn "$arch" "$dir/build"
ln -sfn "$common" "$dir/source"
echo "headers: no package for $krel; linked $arch (struct offsets come from BTF)"
