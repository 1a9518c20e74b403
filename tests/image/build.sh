#!/bin/bash
# Build the local ctrace integration-test image.
#
#   tests/image/build.sh            # prints the image name on stdout
#   IMAGE=$(tests/image/build.sh)
#
# Environment:
#   CTRACE_TEST_IMAGE  image name           (default ctrace-test:latest)
#   DOCKER             docker client to use (default /usr/bin/docker)
#   CC                 C compiler           (default gcc)
#   FORCE=1            rebuild even if the image is up to date
#
# The image is built from local files only (no registry): a rootfs with
# busybox-static (/bin/busybox + applet symlinks in /bin), the static
# workloads from src/ in /usr/local/bin, and a minimal /etc.  It is
# imported with `docker import`.
#
# Rebuilds are skipped when the image already carries a ctrace.hash label
# equal to the hash of this script, src/*, the busybox binary and the
# compiler/libc versions, so repeated calls are cheap.  Progress goes to
# stderr; stdout carries only the image name.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=${CTRACE_TEST_IMAGE:-ctrace-test:latest}
docker=${DOCKER:-/usr/bin/docker}
cc=${CC:-gcc}
busybox=/bin/busybox
cflags=(-O2 -static -Wall -Wextra -std=gnu11)

log() { echo "build.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -x $busybox ]] || die "$busybox missing (apt-get install busybox-static)"
command -v "$cc" >/dev/null || die "$cc not found (apt-get install gcc libc6-dev)"
[[ -x $docker ]] || die "docker client $docker not found"

# Serialise concurrent builds (e.g. parallel test runners) on this script.
exec 9<"${BASH_SOURCE[0]}"
flock 9

cd "$here"
shopt -s nullglob
srcs=(src/*)
progs=(src/*.c)
shopt -u nullglob
((${#progs[@]})) || die "no C sources in $here/src"

# Everything that influences the image content.  File names are part of
# sha256sum's output, so renames count too.
hash=$(
	{
		sha256sum build.sh "${srcs[@]}" "$busybox"
		"$cc" -dumpfullversion -dumpversion
		getconf GNU_LIBC_VERSION
		printf '%s\n' "${cflags[@]}"
	} | sha256sum | cut -d' ' -f1
)

# shellcheck source=scripts/image-cache.sh
. "$here/../../scripts/image-cache.sh"
exit_if_current "$image" "$hash"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/rootfs
install -d -m 0755 "$root" "$root"/{bin,dev,etc,proc,root,sys,usr,usr/local,usr/local/bin}
install -d -m 1777 "$root/tmp"

for src in "${progs[@]}"; do
	name=$(basename "$src" .c)
	log "compiling $name"
	# Not stripped: symbols help when attaching uprobes in tests.
	"$cc" "${cflags[@]}" -o "$root/usr/local/bin/$name" "$src"
	chmod 0755 "$root/usr/local/bin/$name"
done

install -m 0755 "$busybox" "$root/bin/busybox"
n=0
while read -r applet; do
	[[ $applet == busybox || -z $applet ]] && continue
	ln -s busybox "$root/bin/$applet"
	n=$((n + 1))
done < <("$busybox" --list)
log "linked $n busybox applets"

printf 'ctrace-test\n' >"$root/etc/hostname"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
# Docker bind-mounts its own /etc/hosts, /etc/hostname and /etc/resolv.conf
# at run time; these are fallbacks.  "files" first keeps name lookups of
# localhost and container names off the network.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
chmod 0644 "$root"/etc/*

log "importing $image"
# Deterministic archive: fixed order, owner and mtime.
tar -C "$root" --sort=name --owner=0 --group=0 --numeric-owner \
	--mtime=@0 -c . |
	"$docker" import \
		--change "LABEL ctrace.hash=$hash" \
		--change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' \
		--change 'CMD ["/bin/sh"]' \
		--message 'ctrace integration test image (tests/image/build.sh)' \
		- "$image" >/dev/null

# Drop the image this build replaced, if it was one of ours and is now
# untagged.  rmi without -f refuses if it is still tagged elsewhere or used
# by a container, which is what we want.
new_id=$("$docker" image inspect -f '{{.Id}}' "$image")
if [[ -n $old_id && $old_id != "$new_id" ]]; then
	"$docker" rmi "$old_id" >/dev/null 2>&1 || true
fi

echo "$image"
