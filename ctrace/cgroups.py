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


# A Kubernetes pod's cgroup, which kubelet names after the pod's UID:
# cgroupfs "pod<UID>", systemd "kubepods[-<qos>]-pod<UID with _ for ->.slice".
_UID = r"[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}"
_POD_DIR = re.compile(r"^(?:pod(%s)|kubepods(?:-[a-z]+)?-pod(%s)\.slice)$" % (_UID, _UID))
_POD_IN_LEAF = re.compile(r"^kubepods(?:-[a-z]+)?-pod(%s)\.slice:" % _UID)


def pod_uid(leaf, parent=""):
    """The pod UID that a container's cgroup names (its parent is the pod's
    cgroup; or kubelet's systemd-style leaf under cgroupfs), or ""."""
    m = _POD_DIR.match(parent or "") or _POD_IN_LEAF.match(leaf or "")
    if m is None:
        return ""
    return next(g for g in m.groups() if g).replace("_", "-")


def pod_uid_of_path(path):
    """The pod UID that a container's cgroup v2 PATH names, or ""."""
    parts = [p for p in (path or "").split("/") if p]
    return pod_uid(parts[-1], parts[-2] if len(parts) > 1 else "") if parts else ""


def pod_dir(path):
    """The pod's cgroup (its path) of a container's cgroup v2 PATH, or ""
    when PATH is not under a pod's cgroup."""
    head, _, _ = (path or "").rstrip("/").rpartition("/")
    return head if _POD_DIR.match(head.rpartition("/")[2]) else ""


def systemd_slice_path(slice_name):
    """The cgroup path of a systemd slice: "kubepods-besteffort.slice" is
    /kubepods.slice/kubepods-besteffort.slice (each dash a level); "" if
    SLICE_NAME is not a slice's name."""
    if not slice_name.endswith(".slice") or "/" in slice_name:
        return ""
    stem = slice_name[:-len(".slice")]
    if stem in ("", "-"):
        return "/"
    parts = stem.split("-")
    if not all(parts):
        return ""
    return "".join("/%s.slice" % "-".join(parts[:i + 1]) for i in range(len(parts)))


def runtime_cgroup_path(spec, scope_prefix, cid):
    """A container's cgroup v2 path from what its runtime was given: a path
    (cgroupfs), or systemd's "SLICE:PREFIX:NAME" (scope PREFIX-NAME.scope in
    SLICE); for a bare SLICE (Docker's --cgroup-parent under systemd), the
    scope is SCOPE_PREFIX-CID.scope.  "" when it cannot be told."""
    if spec.startswith("/"):
        return spec.rstrip("/") or "/"
    parts = spec.split(":")
    if len(parts) == 3 and all(parts):
        base, scope = systemd_slice_path(parts[0]), "%s-%s.scope" % (parts[1], parts[2])
    elif len(parts) == 1 and scope_prefix:
        base, scope = systemd_slice_path(parts[0]), "%s-%s.scope" % (scope_prefix, cid)
    else:
        return ""
    return "%s/%s" % (base.rstrip("/"), scope) if base else ""


# Where the cgroup v2 hierarchy is mounted (hybrid hosts: unified).
CGROUP2_ROOTS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")


def cgroup_path(pid):
    """The cgroup v2 path of PID ('/docker/<id>'), or None."""
    try:
        with open("/proc/%d/cgroup" % pid) as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return None
