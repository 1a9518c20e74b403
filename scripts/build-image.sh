#!/bin/bash
# Build the ctrace container image locally (no registry needed).
#
#   scripts/build-image.sh          # builds if needed; prints the image name
#   scripts/build-image.sh --name   # prints the image name only
#
# Environment:
#   CTRACE_IMAGE  image name                 (default ctrace:latest)
#   DOCKER        docker client              (default /usr/bin/docker)
#   MIRROR        Debian mirror              (default http://deb.debian.org)
#   FORCE=1       rebuild even if up to date
#
# The image is Debian bookworm made by mmdebstrap and imported with
# `docker import`: BCC (python3-bpfcc), Debian's default kernel headers
# (linux-headers-amd64), linked under /lib/modules/$(uname -r) at container
# start by scripts/install-headers.sh --link-only, and ctrace installed by the
# image's own pip exactly as `make install` does (package, tools in
# /usr/local/bin, BPF C, man pages). Its entrypoint is deploy/entrypoint.sh.
#
# A rebuild is skipped when the image's ctrace.hash label equals the hash of
# everything that goes into it (these sources, this script, the package
# list), so a repeated call costs a second. Debian updates do not count:
# FORCE=1 picks them up. Progress goes to stderr; stdout is the image name.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${CTRACE_IMAGE:-ctrace:latest}
docker=${DOCKER:-/usr/bin/docker}
mirror=${MIRROR:-http://deb.debian.org}
suite=bookworm
packages=python3-bpfcc,linux-headers-amd64,python3-pip,python3-setuptools

if [[ ${1:-} == --name ]]; then
	echo "$image"
	exit 0
fi

log() { echo "build-image.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

command -v mmdebstrap >/dev/null || die "mmdebstrap missing (apt-get install mmdebstrap)"
[[ -x $docker ]] || die "docker client $docker not found"
[[ $(id -u) == 0 ]] || die "run as root (mmdebstrap builds the rootfs as root)"

# One build at a time (parallel test runs, make -j).
exec 9<"${BASH_SOURCE[0]}"
flock 9

cd "$root"
shopt -s nullglob
# What the image is made of; file names count (sha256sum prints them).
sources=(setup.py ctrace/*.py ctrace/runtimes/*.py ctrace/schemas/*.json tools/container* bpf_c/*.[ch]
	bpf_c/kbuild/include/*/*.h bpf_c/kbuild/include/*/*/*.h man/man8/*.8
	scripts/install-headers.sh scripts/build-image.sh deploy/entrypoint.sh)
shopt -u nullglob
hash=$(
	{
		sha256sum "${sources[@]}"
		echo "$suite $packages"
	} | sha256sum | cut -d' ' -f1
)

# shellcheck source=scripts/image-cache.sh
. "$root/scripts/image-cache.sh"
exit_if_current "$image" "$hash"

tmp=$(mktemp -d)
staging=ctrace-build:${hash:0:12}
trap '"$docker" rmi "$staging" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

# A clean copy of the sources: pip's build/ and egg-info stay out of the tree.
mkdir -p "$tmp/src"
cp -a --parents "${sources[@]}" "$tmp/src/"

log "building $image with mmdebstrap ($suite: $packages)"
start=$SECONDS
# The rootfs streams into `docker import` under a staging tag, which becomes
# $image only once both ends succeeded (never a half-imported image).
mmdebstrap --variant=apt --include="$packages" \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--customize-hook="mkdir -p \"\$1/tmp/ctrace-src\" && cp -a '$tmp/src/.' \"\$1/tmp/ctrace-src/\"" \
	--customize-hook='chroot "$1" python3 -m pip install --break-system-packages --no-index \
		--no-build-isolation --no-deps --root-user-action=ignore -q /tmp/ctrace-src' \
	--customize-hook='install -m 0755 "$1/tmp/ctrace-src/scripts/install-headers.sh" \
		"$1/usr/local/share/ctrace/install-headers.sh"' \
	--customize-hook='install -m 0755 "$1/tmp/ctrace-src/deploy/entrypoint.sh" \
		"$1/usr/local/sbin/ctrace-entrypoint"' \
	--customize-hook='rm -rf "$1/tmp/ctrace-src"' \
	"$suite" - \
	"deb $mirror/debian $suite main" \
	"deb $mirror/debian $suite-updates main" \
	"deb $mirror/debian-security $suite-security main" \
	</dev/null |
	"$docker" import \
		--change "LABEL ctrace.hash=$hash" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENTRYPOINT ["/usr/local/sbin/ctrace-entrypoint"]' \
		--change 'CMD []' \
		--message 'ctrace (scripts/build-image.sh)' \
		- "$staging" >/dev/null
"$docker" tag "$staging" "$image"
log "built $image in $((SECONDS - start)) s"

# Drop the image this build replaced if it was one of ours and is now
# untagged (rmi without -f refuses while a container uses it).
new_id=$("$docker" image inspect -f '{{.Id}}' "$image")
if [[ -n $old_id && $old_id != "$new_id" ]]; then
	"$docker" rmi "$old_id" >/dev/null 2>&1 || true
fi
echo "$image"
