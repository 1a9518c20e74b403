#!/bin/sh
# The ctrace image's entrypoint (scripts/build-image.sh installs it as
# /usr/local/sbin/ctrace-entrypoint):
#
#   docker run --rm $(sed 's/#.*//' deploy/docker-run-flags) ctrace:latest TOOL [OPTIONS]
#
# Prepares what BCC needs from the host, then becomes TOOL. stdout is the
# tool's alone (NDJSON with -j, for a log collector); the rest goes to stderr.
# A command that is not a ctrace tool (sh, bash) runs as given, for debugging.
set -eu

tools=$(cd /usr/local/bin && echo container*)
if [ $# -eq 0 ]; then
    echo "usage: docker run [flags] IMAGE TOOL [OPTIONS]   (TOOL: $tools)" >&2
    exit 2
fi

# BCC compiles against /lib/modules/$(uname -r)/build: link the image's
# Debian default headers there for whatever kernel this node runs.
/usr/local/share/ctrace/install-headers.sh --link-only >&2

# tracefs: bind-mounted from the host (deploy/docker-run-flags); where it is
# not, the tool mounts it itself (ctrace/bpf.py tracefs_root, CAP_SYS_ADMIN).

case "$1" in
container*)
    tool=$1
    shift
    [ -x "/usr/local/bin/$tool" ] ||
        { echo "ctrace-entrypoint: no tool '$tool' (tools: $tools)" >&2; exit 2; }
    exec "/usr/local/bin/$tool" "$@"
    ;;
esac
exec "$@"
