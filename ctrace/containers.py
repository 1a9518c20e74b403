"""Container identity: one place that turns an event's kernel context into
the container it came from (Inspektor Gadget's "enrichment", done once for
every tool).

Order of evidence: the runtime cgroup captured in the kernel (names a
container even after it is gone); else a mount namespace known to belong to
a runtime's container (nsenter without joining the cgroup); else, for any
task outside the host's mount or pid namespace, the mount namespace itself
("mntns:INUM": unshare, bubblewrap, firejail); else the host.
"""

import os
import sys
import threading
import time
from collections import OrderedDict

from ctrace.cgroups import parse_cgroup
from ctrace.errors import UsageError
from ctrace.runtimes import (ContainerInfo, ContainerdState, CRIOAPI, DockerAPI,
                             DockerWatcher, Unreachable)

CT_F_HOST_NS = 1            # bpf_c/ctrace.h
CGROUP2_ROOTS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")

# How long a container that has gone away keeps its name, and how many.
RETAIN_SECONDS = 600
RETAIN_MAX = 4096
NEGATIVE_RETRY_SECONDS = 2.0


def host_namespaces():
    """Inode numbers of this tool's namespaces: the host's reference (PID 1's
    cannot always be read)."""
    return {ns: os.stat("/proc/self/ns/%s" % ns).st_ino for ns in ("mnt", "pid", "net")}


def host_pid_level():
    """Nesting level of this tool's pid namespace (0: the initial one)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return len(line.split()) - 2
    except OSError:
        pass
    return 0


class Container:
    """What an event is labelled with. HOST is the one for host processes."""

    __slots__ = ("kind", "runtime", "id", "info")

    def __init__(self, kind, runtime="", cid="", info=None):
        self.kind = kind            # "host", "runtime" or "namespace"
        self.runtime = runtime
        self.id = cid
        self.info = info            # ContainerInfo, for runtime containers

    @property
    def name(self):
        if self.info is not None and self.info.name:
            return self.info.name
        if self.kind == "runtime" and self.runtime in ("lxc", "nspawn"):
            return self.id          # these runtimes name the cgroup after the container
        return ""

    @property
    def image(self):
        return self.info.image if self.info is not None else ""

    @property
    def label(self):
        """The CONTAINER column: name, else short id, else mntns:INUM / host."""
        if self.kind == "host":
            return "host"
        if self.kind == "namespace":
            return self.id
        return self.name or self.id[:12]

    def fields(self):
        """The container fields of every ctrace JSON event."""
        return {
            "container": self.label,
            "container_id": self.id if self.kind != "host" else None,
            "container_name": self.name or None,
            "container_image": self.image or None,
            "container_runtime": self.runtime or None,
            "host": self.kind == "host",
        }


HOST = Container("host")


class Identity:
    """What Registry.resolve() reads from an event (the CT_CONTEXT_FIELDS it
    needs), for keys of in-kernel summaries rather than events: cgroup names
    kept in a map by the BPF program, mount namespace, host flag."""

    __slots__ = ("cgroup", "cgroup_parent", "mntns", "ct_flags")

    def __init__(self, cgroup=b"", cgroup_parent=b"", mntns=0, ct_flags=0):
        self.cgroup = cgroup
        self.cgroup_parent = cgroup_parent
        self.mntns = mntns
        self.ct_flags = ct_flags


class Selection:
    """What -c REF selects: the kernel filters' keys (cgroup ids, mount
    namespaces), and, so that a restart is followed, the container's cgroup
    v2 paths and its runtime id."""

    def __init__(self, cgroups=(), mntns=(), paths=(), key=None, ref=""):
        self.cgroups, self.mntns, self.paths = set(cgroups), set(mntns), set(paths)
        self.key = key                  # (runtime, id), if a runtime knows it
        self.ref = ref                  # as the user named it

    def __bool__(self):
        return bool(self.cgroups or self.mntns)


class Registry:
    """Resolves events to containers, and -c references to kernel filters."""

    def __init__(self, docker_socket="/var/run/docker.sock", warn=None):
        self.host_ns = host_namespaces()
        self.warn = warn or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self._lock = threading.Lock()
        self._infos = OrderedDict()       # (runtime, id) -> ContainerInfo
        self._negative = {}               # (runtime, id) -> time of the failed lookup
        self._by_mntns = {}               # mntns inum -> ContainerInfo
        self._cache = {}                  # (cgroup leaf, parent, mntns, host flag) -> Container
        self.docker = DockerAPI("docker", docker_socket)
        self.podman = DockerAPI("podman", "/run/podman/podman.sock")
        self.crio = CRIOAPI()
        self.containerd = ContainerdState()
        self.docker_reachable = None
        self._warned_docker = False
        self._watchers = []
        self._followed = {}               # (runtime, id) -> on_change (follow())

    # -- background knowledge ---------------------------------------------
    def start(self):
        """Learn the running containers now (so that a process that enters one
        with nsenter is recognised by its mount namespace from the first
        event), then follow Docker's (and podman's, if its API service runs)
        events so that short-lived containers are named."""
        deadline = time.monotonic() + 2.0
        for api in (self.docker, self.podman):
            if not os.path.exists(api.socket_path):
                continue
            try:
                for info in api.list():
                    if time.monotonic() > deadline:
                        break
                    full = api.inspect(info.id)
                    self._learn(full or info)
            except Unreachable:
                pass
        # Docker's watcher runs even while dockerd is down: it says when it
        # is back.  podman's service is started on demand, or not at all.
        self._watchers = [DockerWatcher(self.docker, self._learn, self._docker_state)]
        if os.path.exists(self.podman.socket_path):
            self._watchers.append(DockerWatcher(self.podman, self._learn, lambda up: None))
        for watcher in self._watchers:
            watcher.start()
        # Subscribed before the tool says it is tracing, so that a container
        # started after that line is named even if it is gone (--rm) by the
        # time its first event is read.
        for watcher in self._watchers:
            watcher.tried.wait(max(0.0, deadline + 1.0 - time.monotonic()))

    def stop(self):
        for watcher in self._watchers:
            watcher.stop.set()

    def _docker_state(self, reachable):
        self.docker_reachable = reachable
        if reachable and self._warned_docker:
            self.warn("ctrace: docker is reachable again: container names restored")
            self._warned_docker = False
            with self._lock:
                self._negative.clear()

    def _learn(self, info, action=""):
        """INFO learnt from a runtime; ACTION is the Docker event that told
        (start, die, destroy), or "" for a listing or lookup."""
        key = (info.runtime, info.id)
        ended = action in ("die", "destroy")
        with self._lock:
            known = self._infos.get(key)
            if known is None:
                known = info
                self._infos[key] = info
            else:
                known.name = info.name or known.name
                known.image = info.image or known.image
                known.pid = info.pid or known.pid
            self._infos.move_to_end(key)
            self._negative.pop(key, None)
            if action == "destroy":
                known.exited_at = time.monotonic()
            changed = []
            if ended:
                # Namespace inums are reused once freed: a dead container's
                # must not name (or, under -c, select) the next owner.
                known.pid = 0
                changed = [n for n, owner in self._by_mntns.items() if owner is known]
                for inum in changed:
                    del self._by_mntns[inum]
            elif info.pid:
                inum = self._note_mntns(known)
                changed = [inum] if inum else []
            self._expire()
            follower = self._followed.get(key)
        if follower is not None:
            for inum in changed:
                follower(inum, not ended, action)

    def follow(self, selection, on_change):
        """Keep -c's mount namespace filter right while the selected container
        stops and restarts: ON_CHANGE(inum, present, action) is called with
        its mount namespace when it starts (present) and when it dies (not),
        from Docker's events."""
        if selection.key is not None:
            with self._lock:
                self._followed[selection.key] = on_change

    def _note_mntns(self, info):
        try:
            inum = os.stat("/proc/%d/ns/mnt" % info.pid).st_ino
        except OSError:
            return None
        self._by_mntns[inum] = info
        return inum

    def _expire(self):
        now = time.monotonic()
        while len(self._infos) > RETAIN_MAX:
            self._infos.popitem(last=False)
        for key, info in list(self._infos.items())[:16]:
            if info.exited_at and now - info.exited_at > RETAIN_SECONDS:
                del self._infos[key]

    # -- per event ----------------------------------------------------------
    def resolve(self, ev):
        """The Container of an event carrying CT_CONTEXT_FIELDS."""
        key = (ev.cgroup, ev.cgroup_parent, ev.mntns, ev.ct_flags & CT_F_HOST_NS)
        found = self._cache.get(key)
        if found is not None and (found.info is None or found.info.name or
                                  found.kind != "runtime"):
            return found
        found = self._resolve(ev.cgroup.decode("utf-8", "replace"),
                              ev.cgroup_parent.decode("utf-8", "replace"),
                              ev.mntns, bool(ev.ct_flags & CT_F_HOST_NS))
        if len(self._cache) > 4 * RETAIN_MAX:
            self._cache.clear()
        self._cache[key] = found
        return found

    def _resolve(self, leaf, parent, mntns, host_ns):
        runtime, cid, info = self._runtime_of_cgroup(leaf, parent)
        if runtime:
            return Container("runtime", runtime, cid, info or self.info(runtime, cid))
        owner = self._by_mntns.get(mntns)
        if owner is not None:
            return Container("runtime", owner.runtime, owner.id, owner)
        if not host_ns:
            return Container("namespace", "", "mntns:%d" % mntns)
        return HOST

    def _runtime_of_cgroup(self, leaf, parent):
        """(runtime, id, ContainerInfo or None) of a cgroup by its name, or
        by a containerd task that runs in it; (None, None, None)."""
        runtime, cid = parse_cgroup(leaf, parent)
        if runtime in (None, "unknown"):
            # containerd's default cgroup, /NAMESPACE/ID: any name at all,
            # so only a running task of that name says it is one.
            info = self.containerd.task(parent, leaf)
            if info is not None:
                self._learn(info)
                return "containerd", leaf, info
        return runtime, cid, None

    def info(self, runtime, cid):
        """ContainerInfo for a runtime container; fetched on a miss (a short,
        bounded wait), retried later after a failure."""
        key = (runtime, cid)
        info = self._infos.get(key)
        if info is not None and info.name:
            return info
        failed = self._negative.get(key)
        if failed and time.monotonic() - failed < NEGATIVE_RETRY_SECONDS:
            return info
        fetched = self._fetch(runtime, cid)
        if fetched is not None:
            self._learn(fetched)
            return self._infos.get(key, fetched)
        self._negative[key] = time.monotonic()
        if info is None:
            info = ContainerInfo(runtime, cid)
            with self._lock:
                self._infos[key] = info
        return info

    def _fetch(self, runtime, cid):
        api = {"docker": self.docker, "podman": self.podman, "cri-o": self.crio,
               "containerd": self.containerd}.get(runtime)
        if api is None:
            return None
        try:
            return api.inspect(cid)
        except Unreachable:
            if runtime == "docker" and not self._warned_docker:
                self._warned_docker = True
                self.warn("ctrace: docker is not reachable at %s: showing container "
                          "ids without names until it is back" % self.docker.socket_path)
            return None

    # -- -c NAME|ID -----------------------------------------------------------
    def find(self, ref):
        """-c REF -> the Selection of the container, or a UsageError naming
        what was not found."""
        sel = self._find(ref)
        sel.ref = ref
        return sel

    def _find(self, ref):
        if ref.startswith("mntns:"):
            try:
                return Selection(mntns={int(ref[6:])})
            except ValueError:
                raise UsageError("bad container reference %r (mntns:INUM)" % ref)
        errors = []
        for api in (self.docker, self.podman):
            if not os.path.exists(api.socket_path):
                continue
            try:
                info = api.inspect(ref)
            except Unreachable as exc:
                errors.append("%s: %s" % (api.runtime, exc))
                continue
            if info is None or not info.pid:
                if info is not None:
                    raise UsageError("container %r is not running" % ref)
                continue
            self._learn(info)
            return self._task_ids(info.pid, (info.runtime, info.id))
        ids = self._find_by_cgroup(ref)
        if ids:
            return ids
        detail = " (%s)" % "; ".join(errors) if errors else ""
        raise UsageError("no running container named %r%s" % (ref, detail))

    @staticmethod
    def _task_ids(pid, key=None):
        sel = Selection(key=key)
        try:
            sel.mntns.add(os.stat("/proc/%d/ns/mnt" % pid).st_ino)
            with open("/proc/%d/cgroup" % pid) as f:
                for line in f:
                    if line.startswith("0::"):
                        path = line[3:].strip()
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

    def _find_by_cgroup(self, ref):
        """Runtimes without an API here (LXC, nspawn, containerd, CRI-O):
        find a running process whose cgroup names REF."""
        seen = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/cgroup" % entry) as f:
                    line = next((l for l in f if l.startswith("0::")), "")
            except OSError:
                continue
            parts = [p for p in line[3:].strip().split("/") if p]
            if not parts:
                continue
            leaf, parent = parts[-1], parts[-2] if len(parts) > 1 else ""
            if (leaf, parent) in seen:
                continue
            seen.add((leaf, parent))
            runtime, cid, _ = self._runtime_of_cgroup(leaf, parent)
            if runtime and cid and (cid == ref or (len(ref) >= 4 and cid.startswith(ref))):
                return self._task_ids(int(entry), (runtime, cid))
        return None
