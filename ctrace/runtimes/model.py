"""What the runtimes tell of a container (ContainerInfo, its Pod), the
helpers every runtime module reads its state with, and Runtime: the one
small interface the Registry asks every runtime through (ctrace.runtimes'
table)."""

import json
import os
import re

from ctrace.cgroups import runtime_cgroup_path
from ctrace.runtimes.http import Unreachable

HEX_ID = re.compile(r"^[0-9a-f]{64}$")


def text(value):
    return value if isinstance(value, str) else ""


def dict_at(data, key):
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def read_json(path, want=dict):
    """A state file's JSON, if it is a WANT (dict or list); else None: gone,
    half-written, or not what the runtime writes."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, want) else None


def spec_cgroup(spec, cid):
    """The cgroup v2 path an OCI spec (config.json) gives its container."""
    return runtime_cgroup_path(text(dict_at(spec, "linux").get("cgroupsPath")), "", cid)


class Pod:
    """A Kubernetes container's identity, as kubelet's runtime stored it on
    the node (kubelet's own keys, pkg/kubelet/types/labels.go): pod
    namespace, name and UID, the container's name in the pod, and whether
    it is the pod's sandbox (pause) container rather than a workload.  Any
    of the names may be "" when only part is known (the UID from a kubepods
    cgroup path before the runtime answers)."""

    __slots__ = ("namespace", "name", "uid", "container", "sandbox")

    def __init__(self, namespace="", name="", uid="", container="", sandbox=False):
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.container = container
        self.sandbox = sandbox

    def __eq__(self, other):
        return isinstance(other, Pod) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self):
        return "Pod(%r, %r, %r, %r, sandbox=%r)" % (
            self.namespace, self.name, self.uid, self.container, self.sandbox)

    @property
    def named(self):
        return bool(self.namespace and self.name)

    def matches(self, namespace, name, container=None):
        """-c NAMESPACE/POD[/CONTAINER]: every container of the pod, the
        sandbox included, or the one container of that name."""
        if (self.namespace, self.name) != (namespace, name):
            return False
        return container is None or (self.container == container and not self.sandbox)


# The keys kubelet's runtimes store (values: namespace, pod, uid, container,
# type and the type's sandbox value).
CRI_CONTAINERD_KEYS = ("io.kubernetes.cri.sandbox-namespace", "io.kubernetes.cri.sandbox-name",
                       "io.kubernetes.cri.sandbox-uid", "io.kubernetes.cri.container-name",
                       "io.kubernetes.cri.container-type", "sandbox")
DOCKERSHIM_KEYS = ("io.kubernetes.pod.namespace", "io.kubernetes.pod.name",
                   "io.kubernetes.pod.uid", "io.kubernetes.container.name",
                   "io.kubernetes.docker.type", "podsandbox")
CRIO_KEYS = ("io.kubernetes.pod.namespace", "io.kubernetes.pod.name",
             "io.kubernetes.pod.uid", "io.kubernetes.container.name",
             "io.kubernetes.cri-o.ContainerType", "sandbox")


def pod_of(keys, *maps):
    """The Pod that KEYS' labels or annotations in MAPS (dicts, the first
    that has a key wins) describe, or None when they name no pod."""
    def get(key):
        for m in maps:
            if isinstance(m, dict) and text(m.get(key)):
                return m[key]
        return ""
    ns_key, pod_key, uid_key, name_key, type_key, sandbox = keys
    namespace, name = get(ns_key), get(pod_key)
    if not (namespace and name):
        return None
    kind = get(type_key)
    is_sandbox = kind == sandbox or get("io.cri-containerd.kind") == "sandbox" or \
        (keys is DOCKERSHIM_KEYS and get(name_key) == "POD")
    return Pod(namespace, name, get(uid_key), "" if is_sandbox else get(name_key), is_sandbox)


class ContainerInfo:
    """What a runtime says about one container. Mutable: a name learnt later
    (or a rename) reaches every event already holding this object.  POD:
    its Kubernetes identity, if kubelet runs it; CGROUP: its cgroup v2 path
    when the runtime says it before the container runs (a bundle's
    linux.cgroupsPath), for -c NAMESPACE/POD.  DIRS: the host directories
    that hold its files (an overlay's upper and merged directories), to
    name the container a file the host ran came from."""

    __slots__ = ("runtime", "id", "name", "image", "pid", "exited_at", "pod", "cgroup", "dirs")

    def __init__(self, runtime, cid, name="", image="", pid=0, pod=None, cgroup="", dirs=()):
        self.runtime = runtime
        self.id = cid
        self.name = name
        self.image = image
        self.pid = pid
        self.exited_at = None
        self.pod = pod
        self.cgroup = cgroup
        self.dirs = dirs

    def __repr__(self):
        return "ContainerInfo(%r, %r, %r, %r)" % (self.runtime, self.id, self.name, self.image)


class Runtime:
    """One runtime as the Registry asks it: its state files (FILES, a
    ctrace.runtimes.watch.StateFiles that the StateWatcher follows, or
    None) first, its API (API, or None) second.  A runtime module
    overrides what its runtime can answer; the rest answers nothing."""

    name = ""
    files = None
    api = None
    named_by_cgroup = False     # its cgroup is named after the container (LXC, nspawn)

    def has_socket(self):
        """Is its API's socket here?  (Absent: the runtime is not installed
        or not running, which is not a fault and is not said.)"""
        return self.api is not None and os.path.exists(self.api.socket_path)

    def inspect(self, cid):
        """The container of id CID from its state files, else from its API
        if its socket is here (Unreachable if that does not answer and the
        files did not tell); None if neither knows it."""
        told = self.files.inspect(cid) if self.files is not None else None
        if told is not None and told.runtime != self.name:
            told = None
        if not self.has_socket() or (told is not None and told.name):
            return told
        try:
            asked = self.api.inspect(cid)
        except Unreachable:
            if told is None:
                raise
            return told
        return asked if asked is not None and asked.runtime == self.name and \
            (asked.name or told is None) else told

    def list(self, wanted=None, running=False):
        """Its containers now for which WANTED(ContainerInfo) is true (None:
        all), each inspected (pid, cgroup, directories); RUNNING: only
        those that run."""
        return []

    def find(self, ref):
        """The container a user named REF (name, id or id prefix), through
        its API; None if it does not know it."""
        return None

    def state(self, ref):
        """(full id, the API's State: Status, Running, Pid, FinishedAt,
        Error) of container REF, for --wait; None if unknown or not told."""
        return None

    def watchers(self, put, said):
        """Threads that follow its API's events: PUT(ContainerInfo, action)
        what they learn, SAID(reachable, why) whether it answers."""
        return []
