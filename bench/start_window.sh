#!/bin/bash
# A container started at once after containeropen says "tracing", and one
# started a second later: how many of its opens the tool accounted for
# (printed + lost), ROUNDS times each, alternated.  See bench/NOTES.md,
# "A container started as the tool starts".  Root, dockerd, the test
# image (make test-image).  Usage: bench/start_window.sh [ROUNDS] [OPENS]
set -eu
ROUNDS=${1:-4}
OPENS=${2:-600000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for round in $(seq "$ROUNDS"); do
  for delay in 0 1; do
    # Emptied here, before the tool starts: the redirection below empties
    # them only in the child, and a wait that ran first would find the
    # last round's "tracing" line and start the container before the tool
    # had attached (what this script once measured as a lost start).
    : >"$OUT/out"; : >"$OUT/err"
    /usr/bin/python3 "$ROOT/tools/containeropen" >"$OUT/out" 2>"$OUT/err" &
    tool=$!
    until grep -q "tracing" "$OUT/err"; do
      kill -0 $tool 2>/dev/null || { cat "$OUT/err" >&2; exit 1; }
      sleep 0.01
    done
    sleep $delay
    docker run --rm "${CTRACE_TEST_IMAGE:-ctrace-test:latest}" openloop /etc/passwd "$OPENS" >/dev/null
    sleep 1
    kill -INT $tool
    wait $tool || true
    printed=$(grep -c " openloop .* /etc/passwd$" "$OUT/out" || true)
    lost=$(sed -n 's/.*: \([0-9]*\) events lost (ring buffer full)$/\1/p' "$OUT/err" | tail -1)
    echo "round $round, container started ${delay}s after \"tracing\": $((printed + ${lost:-0})) of $OPENS opens printed or counted lost (printed $printed, lost ${lost:-0})"
  done
done
