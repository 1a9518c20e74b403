# Sourced by the image builds (scripts/build-image.sh, tests/image/build.sh):
# an image is rebuilt only when what goes into it changed.  Each build labels
# its image ctrace.hash=<hash of its inputs>.

# exit_if_current IMAGE HASH: print IMAGE and exit 0 if it carries HASH
# (FORCE=1 rebuilds anyway); else set old_id to the image's id if it is one
# of ours (labelled), for the build to remove once it has replaced it.
exit_if_current() {
	local current
	current=$("$docker" image inspect -f '{{index .Config.Labels "ctrace.hash"}}' "$1" 2>/dev/null || true)
	if [[ ${FORCE:-0} != 1 && $current == "$2" ]]; then
		log "$1 is up to date"
		echo "$1"
		exit 0
	fi
	old_id=""
	if [[ -n $current ]]; then
		old_id=$("$docker" image inspect -f '{{.Id}}' "$1" 2>/dev/null || true)
	fi
}
