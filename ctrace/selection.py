"""-c REF: what it selects (Selection), found from the Registry's runtimes
(select): a pod's containers, a mount namespace, a container an API names,
else a running process whose cgroup names it."""

import os

from ctrace.cgroups import CGROUP2_ROOTS, cgroup_path, pod_dir
from ctrace.containers import pod_ref
from ctrace.errors import UsageError
from ctrace.runtimes.http import Unreachable


class Selection:
    """What -c REF selects: the kernel filters' keys (cgroup ids, mount
    namespaces), and, so that a restart is followed, the container's cgroup
    v2 paths and its runtime id.  For -c NAMESPACE/POD[/CONTAINER]: POD is
    (namespace, pod, container or None), PATHS the cgroups of its
    containers known so far and POD_DIRS the pod's cgroups, whose new
    children the kernel adds to the filter (bpf_c/ctrace.h)."""

    def __init__(self, cgroups=(), mntns=(), paths=(), key=None, ref="", pod=None):
        self.cgroups, self.mntns, self.paths = set(cgroups), set(mntns), set(paths)
        self.key = key                  # (runtime, id), if a runtime knows it
        self.ref = ref                  # as the user named it
        self.pod = pod
        self.pod_dirs = set()

    def add_member(self, info):
        """A container of the selected pod: its cgroup path (and the pod's,
        for -c NAMESPACE/POD), or None if not known yet."""
        path = info.cgroup or (cgroup_path(info.pid) if info.pid else None)
        if not path or path == "/":
            return None
        self.paths.add(path)
        if self.pod[2] is None and pod_dir(path):
            self.pod_dirs.add(pod_dir(path))
        return path


def select(registry, ref):
    """-c REF -> the Selection of the container, or a UsageError naming
    what was not found."""
    pod = pod_ref(ref)
    if pod is not None:
        sel = Selection(pod=pod)
        for info in registry.pod_members(pod):
            sel.add_member(info)
    elif ref.startswith("mntns:"):
        try:
            sel = Selection(mntns={int(ref[6:])})
        except ValueError:
            raise UsageError("bad container reference %r (mntns:INUM)" % ref)
    else:
        sel = _select_container(registry, ref)
    sel.ref = ref
    return sel


def _select_container(registry, ref):
    silent = []
    for runtime in registry.runtimes.values():
        if not runtime.has_socket():
            continue
        try:
            info = runtime.find(ref)
        except Unreachable as exc:
            silent.append("%s did not answer (%s)" % (runtime.name, exc))
            continue
        if info is None:
            continue
        if not info.pid:
            raise UsageError("container %r is not running" % ref)
        registry.learn(info)
        return task_selection(info.pid, (info.runtime, info.id))
    for pid, runtime, cid in registry.scan_processes():
        if cid == ref or (len(ref) >= 4 and cid.startswith(ref)):
            return task_selection(pid, (runtime, cid))
    if silent:
        raise UsageError("cannot tell whether container %r runs: %s"
                         % (ref, "; ".join(silent)))
    raise UsageError("no running container named %r" % ref)


def task_selection(pid, key=None):
    """The Selection of the container process PID runs in (KEY: its
    runtime and id)."""
    sel = Selection(key=key)
    try:
        sel.mntns.add(os.stat("/proc/%d/ns/mnt" % pid).st_ino)
        path = cgroup_path(pid)
        if path is not None:
            for root in CGROUP2_ROOTS:
                try:
                    sel.cgroups.add(os.stat(root + path).st_ino)
                    break
                except OSError:
                    continue
            if path not in ("", "/"):
                sel.paths.add(path)
    except OSError:
        pass
    return sel
