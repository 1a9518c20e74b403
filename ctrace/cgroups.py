"""Which runtime a cgroup belongs to, from its name (pure logic).

The kernel side captures the names of a task's leaf cgroup and of its parent
at event time; that pair is enough to recognise every runtime's layout, and it
still names a container that has exited and whose cgroup is gone.
"""

import re

_HEX64 = r"[0-9a-f]{64}"

# (runtime, regex on the leaf name); the id or name is group 1.
_LEAF_PATTERNS = [
    ("docker", re.compile(r"^docker-(%s)\.scope$" % _HEX64)),          # systemd driver
    ("containerd", re.compile(r"^cri-containerd-(%s)\.scope$" % _HEX64)),
    ("containerd", re.compile(r"^.*:cri-containerd:(%s)$" % _HEX64)),  # kubelet cgroupfs-style name under systemd
    ("cri-o", re.compile(r"^crio-(%s)\.scope$" % _HEX64)),            # not crio-conmon-
    ("podman", re.compile(r"^libpod-(%s)\.scope$" % _HEX64)),         # not libpod-conmon-
    ("podman", re.compile(r"^libpod-(%s)$" % _HEX64)),                # podman, cgroupfs
    ("lxc", re.compile(r"^lxc\.payload\.(.+)$")),
    ("nspawn", re.compile(r"^machine-(.+)\.scope$")),
]

_BARE_ID = re.compile(r"^(%s)$" % _HEX64)
# A bare 64-hex leaf: whose is it?  Decided by the parent's name.
_PARENT_RUNTIMES = [
    ("docker", re.compile(r"^docker$")),
    ("containerd", re.compile(r"^(kubepods.*|pod[0-9a-f_-]+.*|burstable|besteffort|guaranteed)$")),
    ("podman", re.compile(r"^(libpod_parent|machine\.slice)$")),
]


def _unescape_systemd(name):
    """systemd escapes '-' and other bytes in unit names as \\xNN."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), name)


def parse_cgroup(leaf, parent=""):
    """(runtime, container id or name) for a task's cgroup, or (None, None).

    LXC and nspawn containers may run their payload in cgroups of their own
    below the container's, so the parent is tried as well."""
    for name in (leaf, parent):
        found = _match_leaf(name)
        if found:
            return found
    if _BARE_ID.match(leaf or ""):
        for runtime, pattern in _PARENT_RUNTIMES:
            if pattern.match(parent or ""):
                return runtime, leaf
        return "unknown", leaf
    return None, None


def _match_leaf(name):
    if not name:
        return None
    for runtime, pattern in _LEAF_PATTERNS:
        m = pattern.match(name)
        if m:
            ident = m.group(1)
            if runtime == "nspawn":
                ident = _unescape_systemd(ident)
            return runtime, ident
    return None
