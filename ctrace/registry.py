"""Container identity: one place that turns what the kernel captured into
the container it came from (Inspektor Gadget's "enrichment", done once for
every tool).  Tools hold no container caches of their own: they ask the
Registry for
- an event carrying CT_CONTEXT_FIELDS (resolve),
- a key of an in-kernel summary: cgroup id and mount namespace (resolve_key),
- a socket's owner: cgroup id and network namespace (resolve_socket),
- the other end of a connection: address and port (resolve_address),
and for -c (find, follow, follow_pod) and --wait (wait).

Order of evidence for a task: its runtime cgroup, named in the kernel (the
names of every cgroup an event came from are kept in bpf_c/ctrace.h's
ct_cgroups map, so a container is named after it is gone); else a mount
namespace known to belong to a runtime's container (nsenter without joining
the cgroup); else, for any task outside the host's mount or pid namespace,
the mount namespace itself ("mntns:INUM": unshare, bubblewrap, firejail);
else the host.

Kubernetes: a container kubelet runs carries its pod (ctrace.runtimes.model.Pod)
from what its runtime stores on the node: containerd's bundles, Docker's
labels (cri-dockerd), CRI-O's annotations (read as they are written:
ctrace.runtimes.watch.StateWatcher); its pod UID from the kubepods cgroup
when the runtime does not say it.  -c NAMESPACE/POD[/CONTAINER] selects by
pod (Selection.pod): the pod's containers are told to the tool as the
runtimes tell of them (follow_pod), and the kernel follows the pod's cgroup
(bpf_c/ctrace.h).
"""

import ctypes
import os
import sys
import time

from ctrace.addresses import Addresses
from ctrace.awaited import Awaited
from ctrace.bpf import header_constants
from ctrace.cgroups import cgroup_path, parse_cgroup, pod_uid
from ctrace.collection import Collection
from ctrace.containers import HOST, Container
from ctrace.hostns import host_namespaces
from ctrace.runtimes import runtimes
from ctrace.runtimes.http import Unreachable
from ctrace.runtimes.model import ContainerInfo, Pod
from ctrace.runtimes.watch import StateWatcher
from ctrace.selection import select

CT = header_constants("ctrace.h", "CT_")
NEGATIVE_RETRY_SECONDS = 2.0
CACHE_MAX = 4 * 4096


class Registry:
    """Resolves what the kernel captured to containers, and -c references to
    kernel filters; learns names from every runtime it can reach (the table
    in ctrace.runtimes): its state files first (followed by a StateWatcher),
    its API second (and Docker's and podman's event streams).  What it
    knows is one Collection, changed on the tool's thread only
    (apply_pending, which every lookup calls first).  ROOT: a prefix to
    every runtime's paths (a fake host's, for tests)."""

    def __init__(self, warn=None, root=""):
        self.warn = warn or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.host_ns = host_namespaces(self.warn)
        self.runtimes = runtimes(root)
        self.containers = Collection(self._say_once)
        # Make what the watcher threads queued (every lookup calls it
        # first): the Collection's own, not a call through a method of ours,
        # at every event of a busy stream.
        self.apply_pending = self.containers.apply_pending
        self.addresses = Addresses(self)
        self._dirs_asked = 0.0
        self._negative = {}               # (runtime, id) -> time of the failed lookup
        self._cache = {}                  # (cgroup id, mntns, host flag) -> Container,
        #                                   ("socket", cgroup id) -> Container
        self._names = {}                  # cgroup id -> (leaf, parent) from the kernel
        self._names_map = None            # the kernel's ct_cgroups
        self._warned = set()              # runtimes said to be unreachable, errors said
        self._watchers = []
        self._proc_cgroups = {}           # pid -> (leaf, parent): scan_processes()
        self.subscribe(added=self._told, changed=self._told, removed=self._gone)

    def attach(self, bpf):
        """Read cgroup names from the loaded program's ct_cgroups map."""
        self._names_map = bpf["ct_cgroups"]

    def runtime(self, name):
        return self.runtimes[name]

    # -- the collection ---------------------------------------------------------
    def learn(self, info, action=""):
        """See Collection.learn: on the tool's thread only."""
        return self.containers.learn(info, action)

    def subscribe(self, added=None, changed=None, removed=None):
        """See Collection.subscribe."""
        return self.containers.subscribe(added, changed, removed)

    def _told(self, change):
        info = change.info
        self._negative.pop((info.runtime, info.id), None)
        if change.mntns:
            self.addresses.learn_process(self.runtime_container(info.runtime, info.id, info),
                                         info.pid)

    def _gone(self, change):
        self.addresses.forget(change.info)

    def follow(self, selection, on_change):
        """Keep -c's mount namespace filter right while the selected container
        stops and restarts: ON_CHANGE(inum, present, action) is called with
        its mount namespace when it starts (present) and when it dies (not),
        from the runtime's events."""
        if selection.key is None:
            return

        def heard(change, present):
            if (change.info.runtime, change.info.id) == selection.key:
                for inum in change.mntns:
                    on_change(inum, present, change.action)
        self.subscribe(added=lambda c: heard(c, True), changed=lambda c: heard(c, True),
                       removed=lambda c: heard(c, False))

    def follow_pod(self, selection, on_member):
        """-c NAMESPACE/POD[/CONTAINER]: ON_MEMBER(ContainerInfo) is called
        with each container of that pod the runtimes tell of from now on
        (a bundle written, a Docker container created or started)."""
        def heard(change):
            pod = change.info.pod
            if pod is not None and pod.matches(*selection.pod):
                on_member(change.info)
        self.subscribe(added=heard, changed=heard)

    # -- background knowledge ---------------------------------------------
    def start(self):
        """Learn the running containers now (so that a process that enters one
        with nsenter is recognised by its mount namespace from the first
        event), then follow the runtimes' state files and Docker's (and
        podman's, if its API service runs) events so that short-lived
        containers are named.

        It runs on a thread of its own while the program compiles
        (ctrace.tool.load, which waits for it), so it changes no container
        state itself: what it learns is queued like the watchers' news, for
        the tool's thread to apply (apply_pending) once the program's
        followers have subscribed."""
        deadline = time.monotonic() + 2.0
        put = self.containers.put
        for info in self._list_apis(lambda listed: time.monotonic() < deadline, queued=True):
            put(info)
        for runtime in self.runtimes.values():
            said = self.containers.queued(self._api_state, runtime)
            self._watchers += runtime.watchers(put, said)
        files = [r.files for r in self.runtimes.values() if r.files is not None]
        self._watchers.append(StateWatcher(list(dict.fromkeys(files)), put,
                                           self.containers.queued(self._say_once)))
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

    def _ask_apis(self, wanted, running=False):
        """The containers the runtimes' APIs list for which WANTED(listed
        info) is true, inspected (pid, cgroup, directories) and learnt."""
        return [self.learn(info) for info in self._list_apis(wanted, running)]

    def _list_apis(self, wanted, running=False, queued=False):
        """_ask_apis' containers, not learnt; QUEUED: an unreachable runtime
        is said by the tool's thread (start())."""
        found = []
        for runtime in self.runtimes.values():
            if not runtime.has_socket():
                continue
            try:
                found += runtime.list(wanted, running)
            except Unreachable as exc:
                if queued:
                    self.containers.queued(self._unreachable, runtime)(exc)
                else:
                    self._unreachable(runtime, exc)
        return found

    def _api_state(self, runtime, reachable, why=""):
        if not reachable:
            self._unreachable(runtime, why)
        elif runtime.name in self._warned:
            self._warned.discard(runtime.name)
            self.warn("ctrace: %s answers again: container names restored" % runtime.name)
            self._negative.clear()

    def _unreachable(self, runtime, why):
        """Say once that a runtime cannot name its containers; nothing when
        its socket does not exist (the runtime is not installed, or not
        running: not a fault), now or when the attempt was made (WHY, an
        Unreachable, says so: a restarting runtime's socket may be back
        already)."""
        if runtime.name in self._warned or not runtime.has_socket() or \
                getattr(why, "absent", False):
            return
        self._warned.add(runtime.name)
        self.warn("ctrace: %s at %s did not answer (%s): its containers are shown "
                  "by id until it does" % (runtime.name, runtime.api.socket_path,
                                           why or "no answer"))

    def _say_once(self, text):
        if text not in self._warned:
            self._warned.add(text)
            self.warn("ctrace: " + text)

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
            self._pod_uid_from_cgroup(found, pod_uid(leaf, parent))
        except Exception as exc:     # no runtime answer may cost an event
            self._say_once("naming a container failed: %s: %s" % (type(exc).__name__, exc))
            runtime, cid = parse_cgroup(leaf, parent)
            found = Container("runtime", runtime, cid) if runtime not in (None, "unknown") \
                else Container("namespace", "", "mntns:%d" % mntns)
        self._keep(key, found)
        return found

    def _keep(self, key, found):
        if len(self._cache) > CACHE_MAX:
            self._cache.clear()
        self._cache[key] = found

    @staticmethod
    def _pod_uid_from_cgroup(found, uid):
        """Under a kubepods cgroup: the pod's UID before (or without) its
        runtime's answer."""
        if not uid or found.info is None:
            return
        if found.info.pod is None:
            found.info.pod = Pod(uid=uid)
        elif not found.info.pod.uid:
            found.info.pod.uid = uid

    def resolve_socket(self, cgroup_id, netns):
        """The owner of a socket seen without its task (in softirq): by the
        socket's cgroup, else by its network namespace."""
        self.apply_pending()
        key = ("socket", cgroup_id)
        found = self._cache.get(key)
        if found is not None:
            return found
        leaf, parent = self.cgroup_names(cgroup_id)
        runtime, cid, info = self._runtime_of_cgroup(leaf, parent)
        if runtime:
            found = self.runtime_container(runtime, cid, info)
            if found.final:         # a name given: nothing more to learn
                self._keep(key, found)
            return found
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
        the runtimes' APIs again, at most once a second, when none does."""
        self.apply_pending()
        for ask in (False, True):
            if ask:
                if time.monotonic() - self._dirs_asked < 1:
                    break
                self._dirs_asked = time.monotonic()
                self._ask_apis(None)
            for info in self.containers.values():
                if any(path.startswith(d + "/") for d in info.dirs):
                    return self.runtime_container(info.runtime, info.id, info)
        return None

    def runtime_container(self, runtime, cid, info=None):
        return Container("runtime", runtime, cid, info or self.info(runtime, cid))

    def _resolve(self, leaf, parent, mntns, host_ns):
        runtime, cid, info = self._runtime_of_cgroup(leaf, parent)
        if runtime:
            return self.runtime_container(runtime, cid, info)
        owner = self.containers.by_mntns(mntns)
        if owner is not None:
            return Container("runtime", owner.runtime, owner.id, owner)
        if not host_ns:
            return Container("namespace", "", "mntns:%d" % mntns)
        return HOST

    def _runtime_of_cgroup(self, leaf, parent):
        """(runtime, id, ContainerInfo or None) of a cgroup by its name, or
        by a containerd task that runs in it; (None, None, None)."""
        runtime, cid = parse_cgroup(leaf, parent)
        containerd = self.runtimes["containerd"]
        if runtime == "containerd" and cid == leaf and (
                ("docker", cid) in self.containers or containerd.dockers(cid)):
            # A bare id under a pod's cgroup: Docker's (cri-dockerd) if
            # Docker told of it or its containerd task is Docker's.
            return "docker", cid, None
        if runtime in (None, "unknown"):
            # containerd's default cgroup, /NAMESPACE/ID: any name at all,
            # so only a running task of that name says it is one.
            info = containerd.task(parent, leaf)
            if info is not None:
                return "containerd", leaf, self.learn(info)
        return runtime, cid, None

    def info(self, runtime, cid):
        """ContainerInfo for a runtime container; fetched on a miss (a short,
        bounded wait), retried later after a failure."""
        key = (runtime, cid)
        info = self.containers.get(runtime, cid)
        if info is not None and info.name:
            return info
        failed = self._negative.get(key)
        if failed and time.monotonic() - failed < NEGATIVE_RETRY_SECONDS:
            return info
        fetched = self._fetch(runtime, cid)
        if fetched is not None:
            return self.learn(fetched)
        if info is None:
            info = self.learn(ContainerInfo(runtime, cid))
        self._negative[key] = time.monotonic()
        return info

    def _fetch(self, runtime, cid):
        """A container looked up where its runtime keeps it: its state files
        first, its API second; None if neither names it."""
        source = self.runtimes.get(runtime)
        if source is None:
            return None
        try:
            return source.inspect(cid)
        except Unreachable as exc:
            self._unreachable(source, exc)
            return None

    # -- -c NAME|ID and --wait ------------------------------------------------
    def find(self, ref):
        """-c REF -> the Selection of the container (ctrace.selection), or
        a UsageError naming what was not found."""
        self.apply_pending()
        return select(self, ref)

    def pod_members(self, pod):
        """The containers of POD (namespace, pod, container or None) that
        run now, as the runtimes tell (learnt)."""
        def of_pod(info):
            return info.pod is not None and info.pod.matches(*pod)
        found = self._ask_apis(of_pod, running=True)
        tasks = [self.learn(info) for info in self.runtimes["containerd"].list(of_pod)]
        return found + tasks

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
                names = _leaf_and_parent(cgroup_path(pid))
                if names is None:
                    continue
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


def _leaf_and_parent(path):
    """(leaf, parent) names of cgroup PATH; None without a path."""
    if path is None:
        return None
    parts = [p for p in path.split("/") if p]
    return (parts[-1], parts[-2] if len(parts) > 1 else "") if parts else ("", "")
