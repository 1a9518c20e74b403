"""Container identity: one place that turns what the kernel captured into
the container it came from (Inspektor Gadget's "enrichment", done once for
every tool).  Tools hold no container caches of their own: they ask the
Registry for
- an event carrying CT_CONTEXT_FIELDS (resolve),
- a key of an in-kernel summary: cgroup id and mount namespace (resolve_key),
- a socket's owner: cgroup id and network namespace (resolve_socket),
- the other end of a connection: address and port (resolve_address),
and for -c (find) and --wait (wait).

Order of evidence for a task: its runtime cgroup, named in the kernel (the
names of every cgroup an event came from are kept in bpf_c/ctrace.h's
ct_cgroups map, so a container is named after it is gone); else a mount
namespace known to belong to a runtime's container (nsenter without joining
the cgroup); else, for any task outside the host's mount or pid namespace,
the mount namespace itself ("mntns:INUM": unshare, bubblewrap, firejail);
else the host.

Kubernetes: a container kubelet runs carries its pod (ctrace.runtimes.Pod)
from what its runtime stores on the node: containerd's bundles, Docker's
labels (cri-dockerd), CRI-O's annotations (read as they are written:
runtimes.StateWatcher); its pod UID from the kubepods cgroup when the
runtime does not say it.  -c NAMESPACE/POD[/CONTAINER] selects by pod (Selection.pod): the
pod's containers are told to the tool as the runtimes tell of them
(follow_pod), and the kernel follows the pod's cgroup (bpf_c/ctrace.h).
"""

import ctypes
import os
import queue
import sys
import time
from collections import OrderedDict

from ctrace.addresses import Addresses
from ctrace.bpf import header_constants
from ctrace.cgroups import parse_cgroup, pod_dir, pod_uid, pod_uid_of_path
from ctrace.errors import UsageError
from ctrace.runtimes import (CONTAINERD_DATABASES, CONTAINERD_TASK_ROOTS, CONTAINERS_STORAGE,
                             CRIO_SOCKET, DOCKER_CONTAINERS, ContainerInfo, ContainerdState,
                             ContainersStorage, CRIOAPI, DockerAPI, DockerState, DockerWatcher,
                             Pod, StateWatcher, Unreachable, docker_socket, podman_socket)

CT = header_constants("ctrace.h", "CT_")
CGROUP2_ROOTS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
NAMESPACES = ("mnt", "pid", "net", "uts", "ipc", "cgroup", "user", "time")

# How long a container that has gone away keeps its name, and how many.
RETAIN_SECONDS = 600
RETAIN_MAX = 4096
NEGATIVE_RETRY_SECONDS = 2.0
CACHE_MAX = 4 * RETAIN_MAX


def host_namespaces(warn=None):
    """Inode numbers of the host's namespaces: the kernel's initial ones,
    which kernel threads keep (kthreadd is PID 2 when this tool sees the
    host's PIDs), so that a tool in a private mount namespace (a systemd
    unit with PrivateTmp=, unshare -m, a container with --pid=host) still
    tells the host from containers.  Else this tool's own, with a warning."""
    try:
        with open("/proc/2/stat") as f:
            # flags, the 9th field after "(comm)": a kernel thread's, which
            # no process can fake (its comm, anyone can).
            flags = int(f.read().rsplit(")", 1)[1].split()[6])
        if flags & CT.PF_KTHREAD:
            return namespace_inums("/proc/2")
    except (OSError, ValueError, IndexError):
        pass
    if warn is not None:
        warn("ctrace: cannot read the kernel's initial namespaces (/proc/2/ns): "
             "taking this tool's own as the host's")
    return namespace_inums("/proc/self")


def namespace_inums(proc):
    """Namespace kind -> inode number of process PROC's (0: a kind this
    kernel lacks)."""
    out = {}
    for ns in NAMESPACES:
        try:
            out[ns] = os.stat("%s/ns/%s" % (proc, ns)).st_ino
        except FileNotFoundError:
            out[ns] = 0
    return out


def host_pid_level(host_ns):
    """Nesting level of the host's pid namespace (0: the initial one)."""
    try:
        if os.stat("/proc/self/ns/pid").st_ino != host_ns["pid"]:
            return 0        # the host's is the initial one (read from PID 2)
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
    def pod(self):
        """Its Kubernetes identity (ctrace.runtimes.Pod), or None."""
        return self.info.pod if self.info is not None else None

    def _pod_label(self, wide):
        pod = self.pod
        if pod is None or not pod.named:
            return ""
        label = "%s/%s" % (pod.name, "(sandbox)" if pod.sandbox else
                           pod.container or self.id[:12])
        return "%s/%s" % (pod.namespace, label) if wide else label

    @property
    def label(self):
        """The CONTAINER column: POD/CONTAINER for a Kubernetes container
        (POD/(sandbox) for its pod's pause container), else its name, else
        short id, else mntns:INUM / host."""
        if self.kind == "host":
            return "host"
        if self.kind == "namespace":
            return self.id
        return self._pod_label(False) or self.name or self.id[:12]

    @property
    def wide_label(self):
        """The label with a Kubernetes container's namespace:
        NAMESPACE/POD/CONTAINER (-w, and JSON's container field)."""
        return self._pod_label(True) or self.label

    @property
    def final(self):
        """Nothing more can be learnt about it (else: a runtime container
        whose name its runtime has not given yet)."""
        return self.kind != "runtime" or bool(self.name)

    def fields(self):
        """The container fields of every ctrace JSON event (CONTAINER_FIELDS)."""
        pod = self.pod or NO_POD
        return {
            "container": self.wide_label,
            "container_id": self.id if self.kind != "host" else None,
            "container_name": self.name or None,
            "container_image": self.image or None,
            "container_runtime": self.runtime or None,
            "host": self.kind == "host",
            "k8s_namespace": pod.namespace or None,
            "k8s_pod": pod.name or None,
            "k8s_pod_uid": pod.uid or None,
            "k8s_container": pod.container or None,
            "k8s_sandbox": pod.sandbox if pod.named else None,
        }


NO_POD = Pod()
# The keys of Container.fields(), in order: summary rows carry them too.
CONTAINER_FIELDS = ("container", "container_id", "container_name", "container_image",
                    "container_runtime", "host", "k8s_namespace", "k8s_pod", "k8s_pod_uid",
                    "k8s_container", "k8s_sandbox")


HOST = Container("host")


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


def pod_ref(ref):
    """-c NAMESPACE/POD[/CONTAINER] -> (namespace, pod, container or None),
    or None for a reference of another kind (runtimes' names hold no /)."""
    parts = ref.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        return None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def ref_matches(ref, container):
    """Does a -c/--wait reference (name, id, id prefix, NAMESPACE/POD,
    NAMESPACE/POD/CONTAINER) name CONTAINER?"""
    if container.kind != "runtime":
        return container.kind == "namespace" and container.id == ref
    pod = pod_ref(ref)
    if pod is not None and container.pod is not None:
        return container.pod.matches(*pod)
    return (container.name == ref or container.id == ref or
            (len(ref) >= 4 and container.id.startswith(ref)))


def merge_info(known, info):
    """What INFO tells, over what KNOWN held (a rename included): KNOWN is
    the object events already hold."""
    known.name = info.name or known.name
    known.image = info.image or known.image
    known.pid = info.pid or known.pid
    if info.pod is not None and (info.pod.named or known.pod is None):
        if not info.pod.uid and known.pod is not None:
            info.pod.uid = known.pod.uid
        known.pod = info.pod
    known.cgroup = info.cgroup or known.cgroup
    known.dirs = info.dirs or known.dirs


class Registry:
    """Resolves what the kernel captured to containers, and -c references to
    kernel filters; learns names from every runtime it can reach: its state
    files first (followed by a StateWatcher), its API second (and Docker's
    and podman's event streams).  The watcher threads only queue what they
    learn; the tool's thread applies it (apply_pending) before it resolves
    anything and between two polls, so every change to the Registry and to
    its Addresses is made on that one thread, without locks.  ROOT: a
    prefix to every runtime's paths (a fake host's, for tests)."""

    def __init__(self, warn=None, root=""):
        self.warn = warn or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.host_ns = host_namespaces(self.warn)
        self._dirs_asked = 0.0
        self._pending = queue.SimpleQueue()   # (function, args) the watchers learnt
        self._infos = OrderedDict()       # (runtime, id) -> ContainerInfo
        self._negative = {}               # (runtime, id) -> time of the failed lookup
        self._by_mntns = {}               # mntns inum -> ContainerInfo
        self._cache = {}                  # (cgroup id, mntns, host flag) -> Container
        self._names = {}                  # cgroup id -> (leaf, parent) from the kernel
        self._names_map = None            # the kernel's ct_cgroups
        self.docker = DockerAPI("docker", root + docker_socket())
        self.podman = DockerAPI("podman", root + podman_socket())
        self.crio = CRIOAPI(root + CRIO_SOCKET)
        self.containerd = ContainerdState(tuple(root + r for r in CONTAINERD_TASK_ROOTS),
                                          tuple(root + d for d in CONTAINERD_DATABASES))
        self.docker_state = DockerState(tuple(root + r for r in DOCKER_CONTAINERS))
        self.storage = ContainersStorage(tuple(root + r for r in CONTAINERS_STORAGE))
        self.addresses = Addresses(self)
        self._warned = set()              # runtimes said to be unreachable, errors said
        self._watchers = []
        self._followed = {}               # (runtime, id) -> on_change (follow())
        self._pod_followers = []          # (Selection, on_member): follow_pod()
        self._proc_cgroups = {}           # pid -> (leaf, parent): scan_processes()

    def attach(self, bpf):
        """Read cgroup names from the loaded program's ct_cgroups map."""
        self._names_map = bpf["ct_cgroups"]

    # -- background knowledge ---------------------------------------------
    def start(self):
        """Learn the running containers now (so that a process that enters one
        with nsenter is recognised by its mount namespace from the first
        event), then follow the runtimes' state files and Docker's (and
        podman's, if its API service runs) events so that short-lived
        containers are named."""
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
            except Unreachable as exc:
                self._unreachable(api, exc)
        learnt = self._queued(self._learn)
        # Docker's watcher runs even while dockerd is down: it says when it
        # is back.  podman's service is started on demand, or not at all.
        self._watchers = [DockerWatcher(self.docker, learnt,
                                        self._queued(self._api_state, self.docker))]
        if os.path.exists(self.podman.socket_path):
            self._watchers.append(DockerWatcher(self.podman, learnt,
                                                self._queued(self._api_state, self.podman)))
        self._watchers.append(StateWatcher((self.docker_state, self.storage, self.containerd),
                                           learnt, self._queued(self._say_once)))
        for watcher in self._watchers:
            watcher.start()
        # Subscribed before the tool says it is tracing, so that a container
        # started after that line is named even if it is gone (--rm) by the
        # time its first event is read.
        for watcher in self._watchers:
            watcher.tried.wait(max(0.0, deadline + 1.0 - time.monotonic()))
        self.apply_pending()

    def stop(self):
        for watcher in self._watchers:
            watcher.stop.set()

    def _queued(self, function, *bound):
        """A callback for a watcher thread: it queues the call of FUNCTION
        (with BOUND and its own arguments) for apply_pending()."""
        return lambda *args: self._pending.put((function, bound + args))

    def apply_pending(self):
        """Make the changes the watcher threads queued, in their order."""
        while not self._pending.empty():
            function, args = self._pending.get_nowait()
            try:
                function(*args)
            except Exception as exc:        # a bug: said once, the tool goes on
                self._say_once("applying what a runtime told failed: %s: %s"
                               % (type(exc).__name__, exc))

    def _api_state(self, api, reachable, why=""):
        if not reachable:
            self._unreachable(api, why)
        elif api.runtime in self._warned:
            self._warned.discard(api.runtime)
            self.warn("ctrace: %s answers again: container names restored" % api.runtime)
            self._negative.clear()

    def _unreachable(self, api, why):
        """Say once that a runtime cannot name its containers; nothing when
        its socket does not exist (the runtime is not installed, or not
        running: not a fault)."""
        if api.runtime in self._warned or not os.path.exists(api.socket_path):
            return
        self._warned.add(api.runtime)
        self.warn("ctrace: %s at %s did not answer (%s): its containers are shown "
                  "by id until it does" % (api.runtime, api.socket_path, why or "no answer"))

    def _say_once(self, text):
        if text not in self._warned:
            self._warned.add(text)
            self.warn("ctrace: " + text)

    def _learn(self, info, action=""):
        """INFO learnt from a runtime; ACTION is the Docker event that told
        (start, die, destroy), or "" for a listing, lookup or state file."""
        key = (info.runtime, info.id)
        ended = action in ("die", "destroy")
        known = self._infos.get(key)
        if known is None:
            known = self._infos[key] = info
        else:
            merge_info(known, info)
        if known.pod is not None and not known.pod.uid:
            known.pod.uid = pod_uid_of_path(known.cgroup)
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
            self.addresses.forget(known)
        elif info.pid:
            inum = self._note_mntns(known)
            changed = [inum] if inum else []
            self.addresses.learn_process(self.runtime_container(known.runtime, known.id, known),
                                         known.pid)
        self._expire()
        self._tell_followers(key, known, changed, ended, action)

    def _tell_followers(self, key, known, changed, ended, action):
        if not ended and known.pod is not None:
            for sel, on_member in list(self._pod_followers):
                if known.pod.matches(*sel.pod):
                    on_member(known)
        follower = self._followed.get(key)
        if follower is not None:
            for inum in changed:
                follower(inum, not ended, action)

    def follow(self, selection, on_change):
        """Keep -c's mount namespace filter right while the selected container
        stops and restarts: ON_CHANGE(inum, present, action) is called with
        its mount namespace when it starts (present) and when it dies (not),
        from the runtime's events."""
        if selection.key is not None:
            self._followed[selection.key] = on_change

    def follow_pod(self, selection, on_member):
        """-c NAMESPACE/POD[/CONTAINER]: ON_MEMBER(ContainerInfo) is called
        with each container of that pod the runtimes tell of from now on
        (a bundle written, a Docker container created or started)."""
        self._pod_followers.append((selection, on_member))

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

    # -- resolution ---------------------------------------------------------
    def resolve(self, ev):
        """The Container of an event carrying CT_CONTEXT_FIELDS."""
        return self.resolve_key(ev.cgroup_id, ev.mntns, ev.ct_flags & CT.F_HOST_NS)

    def resolve_key(self, cgroup_id, mntns, host=None):
        """The Container of a task known by its cgroup id and mount
        namespace (an in-kernel summary's key). HOST: whether its mount and
        pid namespaces are the host's (None: from the mount namespace)."""
        self.apply_pending()
        if host is None:
            host = mntns == self.host_ns["mnt"]
        key = (cgroup_id, mntns, bool(host))
        found = self._cache.get(key)
        if found is not None and found.final:
            return found
        leaf, parent = self.cgroup_names(cgroup_id)
        try:
            found = self._resolve(leaf, parent, mntns, bool(host))
            uid = pod_uid(leaf, parent) if found.info is not None else ""
            if uid and found.info.pod is None:
                # Under a kubepods cgroup: the pod's UID before (or
                # without) its runtime's answer.
                found.info.pod = Pod(uid=uid)
            elif uid and not found.info.pod.uid:
                found.info.pod.uid = uid
        except Exception as exc:     # no runtime answer may cost an event
            self._say_once("naming a container failed: %s: %s" % (type(exc).__name__, exc))
            runtime, cid = parse_cgroup(leaf, parent)
            found = Container("runtime", runtime, cid) if runtime not in (None, "unknown") \
                else Container("namespace", "", "mntns:%d" % mntns)
        if len(self._cache) > CACHE_MAX:
            self._cache.clear()
        self._cache[key] = found
        return found

    def resolve_socket(self, cgroup_id, netns):
        """The owner of a socket seen without its task (in softirq): by the
        socket's cgroup, else by its network namespace."""
        self.apply_pending()
        leaf, parent = self.cgroup_names(cgroup_id)
        runtime, cid, info = self._runtime_of_cgroup(leaf, parent)
        if runtime:
            return self.runtime_container(runtime, cid, info)
        if netns == self.host_ns["net"]:
            return HOST
        owner = self.addresses.netns_owner(netns)
        if owner is not None:
            return owner
        return Container("namespace", "", "netns:%d" % netns)

    def resolve_address(self, addr, port, netns, outgoing):
        """The container at ADDR:PORT (the other end of a connection of a
        task in NETNS), or None; see ctrace.addresses."""
        self.apply_pending()
        return self.addresses.resolve(addr, port, netns, outgoing)

    def cgroup_names(self, cgroup_id):
        """(leaf, parent) names of a cgroup, as the kernel captured them."""
        found = self._names.get(cgroup_id)
        if found is not None:
            return found
        if self._names_map is None or not cgroup_id:
            return "", ""
        try:
            v = self._names_map[ctypes.c_ulonglong(cgroup_id)]
        except KeyError:
            return "", ""             # never captured (table full): by namespace
        found = (v.leaf.decode("utf-8", "replace"), v.parent.decode("utf-8", "replace"))
        if len(self._names) > CACHE_MAX:
            self._names.clear()
        self._names[cgroup_id] = found
        return found

    def owner_of_file(self, path):
        """The container whose files (a directory its runtime told of) hold
        the host's PATH, or None: the source of a file the host ran.  Asks
        Docker and podman again, at most once a second, when none does."""
        self.apply_pending()
        for ask in (False, True):
            if ask:
                if time.monotonic() - self._dirs_asked < 1:
                    break
                self._dirs_asked = time.monotonic()
                self._inspect_listed(lambda listed: True)
            for info in list(self._infos.values()):
                if any(path.startswith(d + "/") for d in info.dirs):
                    return self.runtime_container(info.runtime, info.id, info)
        return None

    def _inspect_listed(self, wanted):
        """Docker's and podman's containers for which WANTED(listed info) is
        true, inspected (pid, cgroup, directories) and learnt."""
        found = []
        for api in (self.docker, self.podman):
            if not os.path.exists(api.socket_path):
                continue
            try:
                for listed in api.list():
                    if wanted(listed):
                        full = api.inspect(listed.id)
                        if full is not None:
                            found.append(full)
            except Unreachable as exc:
                self._unreachable(api, exc)
        for info in found:
            self._learn(info)
        return found

    def runtime_container(self, runtime, cid, info=None):
        return Container("runtime", runtime, cid, info or self.info(runtime, cid))

    def _resolve(self, leaf, parent, mntns, host_ns):
        runtime, cid, info = self._runtime_of_cgroup(leaf, parent)
        if runtime:
            return self.runtime_container(runtime, cid, info)
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
        if runtime == "containerd" and cid == leaf and (
                ("docker", cid) in self._infos or self.containerd.dockers(cid)):
            # A bare id under a pod's cgroup: Docker's (cri-dockerd) if
            # Docker told of it or its containerd task is Docker's.
            return "docker", cid, None
        if runtime in (None, "unknown"):
            # containerd's default cgroup, /NAMESPACE/ID: any name at all,
            # so only a running task of that name says it is one.
            info = self.containerd.task(parent, leaf)
            if info is not None:
                self._learn(info)
                return "containerd", leaf, self._infos.get(("containerd", leaf), info)
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
            info = self._infos[key] = ContainerInfo(runtime, cid)
        return info

    def _fetch(self, runtime, cid):
        """A container looked up where its runtime keeps it: its state files
        first, its API second; None if neither names it."""
        found = None
        for source in self._sources(runtime):
            try:
                info = source.inspect(cid)
            except Unreachable as exc:
                self._unreachable(source, exc)
                continue
            if info is not None and info.runtime == runtime:
                if info.name:
                    return info
                found = found or info
        return found

    def _sources(self, runtime):
        return {"docker": (self.docker_state, self.docker),
                "podman": (self.storage, self.podman), "cri-o": (self.storage, self.crio),
                "containerd": (self.containerd,)}.get(runtime, ())

    # -- -c NAME|ID and --wait ------------------------------------------------
    def find(self, ref):
        """-c REF -> the Selection of the container, or a UsageError naming
        what was not found."""
        self.apply_pending()
        sel = self._find(ref)
        sel.ref = ref
        return sel

    def _find(self, ref):
        pod = pod_ref(ref)
        if pod is not None:
            sel = Selection(pod=pod)
            for info in self._pod_members(pod):
                sel.add_member(info)
            return sel
        if ref.startswith("mntns:"):
            try:
                return Selection(mntns={int(ref[6:])})
            except ValueError:
                raise UsageError("bad container reference %r (mntns:INUM)" % ref)
        silent = []
        for api in (self.docker, self.podman):
            if not os.path.exists(api.socket_path):
                continue
            try:
                info = api.inspect(ref)
            except Unreachable as exc:
                silent.append("%s did not answer (%s)" % (api.runtime, exc))
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
        if silent:
            raise UsageError("cannot tell whether container %r runs: %s"
                             % (ref, "; ".join(silent)))
        raise UsageError("no running container named %r" % ref)

    def _pod_members(self, pod):
        """The containers of POD (namespace, pod, container or None) that
        the runtimes know of now (Docker's and podman's: running ones)."""
        def of_pod(info):
            return info.pod is not None and info.pod.matches(*pod)
        found = [info for info in self._inspect_listed(of_pod) if info.pid]
        tasks = [info for info in self.containerd.list() if of_pod(info)]
        for info in tasks:
            self._learn(info)
        return found + tasks

    @staticmethod
    def _task_ids(pid, key=None):
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

    def _find_by_cgroup(self, ref):
        """Runtimes without an API here (LXC, nspawn, containerd, CRI-O):
        find a running process whose cgroup names REF."""
        for pid, runtime, cid in self.scan_processes():
            if cid == ref or (len(ref) >= 4 and cid.startswith(ref)):
                return self._task_ids(pid, (runtime, cid))
        return None

    def scan_processes(self):
        """(pid, runtime, id) of one process per runtime container running
        now, from /proc (every runtime, with or without an API). A process's
        cgroup is read once, while it lives (a pid reused between two scans
        may be taken for its predecessor's container until it exits)."""
        seen = set()
        out = []
        live = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            names = self._proc_cgroups.get(pid)
            if names is None:
                path = cgroup_path(pid)
                if path is None:
                    continue
                parts = [p for p in path.split("/") if p]
                names = (parts[-1], parts[-2] if len(parts) > 1 else "") if parts else ("", "")
            live[pid] = names
            if not names[0] or names in seen:
                continue
            seen.add(names)
            runtime, cid, _ = self._runtime_of_cgroup(*names)
            if runtime and cid:
                out.append((pid, runtime, cid))
        self._proc_cgroups = live
        return out

    def wait(self, ref, running=False):
        """--wait REF: a container that may not run yet (Awaited); RUNNING:
        it runs now (-c), only its end is awaited."""
        return Awaited(self, ref, running)


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


class Awaited:
    """A container named before it runs (containersyscall --wait): which
    containers match, whether it has run, and whether it has ended; for
    every runtime.  Docker and podman say so through their APIs; for the
    others, a container has ended when none of its processes is left."""

    POLL_SECONDS = 0.5

    def __init__(self, registry, ref, running=False):
        self.registry = registry
        self.ref = ref
        self.ids = set()                # runtime ids that matched
        self.started = running
        self._stale = {}                # api -> (id, FinishedAt) of a stopped namesake
        self._errors = {}               # api -> its Error then (a failed start sets one)
        self._last_scan = 0.0
        pod = pod_ref(ref)
        if pod is not None and running:
            # -c NAMESPACE/POD: its containers now; it may not run yet.
            self.ids = {info.id for info in registry._pod_members(pod)}
            self.started = bool(self.ids)
        for api in self._apis():
            st = self._state(api)
            if not st or not st[0]:
                continue
            if running:
                self.ids.add(st[0])
            elif not st[1].get("Running"):
                self._stale[api.runtime] = (st[0], st[1].get("FinishedAt"))
                self._errors[api.runtime] = st[1].get("Error")
        if running and not self.ids and pod is None:
            self.ids.update(cid for _, _, cid in registry.scan_processes()
                            if cid == ref or (len(ref) >= 4 and cid.startswith(ref)))

    def _apis(self):
        if pod_ref(self.ref) is not None:
            return []                   # a pod is no runtime's container name
        r = self.registry
        return [api for api in (r.docker, r.podman) if os.path.exists(api.socket_path)]

    def _state(self, api):
        try:
            return api.state(self.ref)
        except Unreachable:
            return None

    def matches(self, container):
        if container.kind == "runtime" and container.id in self.ids:
            return True
        if ref_matches(self.ref, container):
            self.ids.add(container.id)
            self.started = True
            return True
        return False

    def ended(self):
        """True once the awaited container has run and stopped."""
        for api in self._apis():
            st = self._state(api)
            if st is None or not st[0]:
                continue
            cid, state = st
            if state.get("Error") and state.get("Error") != self._errors.get(api.runtime):
                self.ids.add(cid)
                return True             # it failed to start (no FinishedAt then)
            if (cid, state.get("FinishedAt")) == self._stale.get(api.runtime):
                return False            # the old stopped one: not ours yet
            self.ids.add(cid)
            if state.get("Running") or state.get("Pid"):
                self.started = True
                return False
            return self.started or state.get("Status") in ("exited", "dead")
        # Not known to an API (gone with --rm, or another runtime): ended
        # once it has run and no process of it is left.
        if not self.started:
            return False
        now = time.monotonic()
        if now - self._last_scan < self.POLL_SECONDS:
            return False
        self._last_scan = now
        return not any(cid in self.ids for _, _, cid in self.registry.scan_processes())
