"""Container names and images from the runtimes' own metadata.

First from each runtime's state files, which it writes before the
container's first process runs (StateFiles: Docker's config.v2.json,
containers/storage's containers.json and config.json for podman and CRI-O,
containerd's OCI bundles under /run and its metadata database), followed
with inotify by one StateWatcher so that a container that lives for a
millisecond is named; then from the APIs: Docker's (and podman's
Docker-compatible service) Engine API and event stream, CRI-O's info
socket.  LXC and nspawn are named by their cgroup already.  Every API call
has a short timeout: the event loop may wait for a lookup, but never long,
and an unreachable runtime only costs the name, never the id.
"""

import ctypes
import ctypes.util
import errno
import glob
import http.client
import json
import os
import re
import select
import socket
import struct
import threading
import time
import urllib.parse

from ctrace import bolt
from ctrace.cgroups import runtime_cgroup_path


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Unreachable(Exception):
    """The runtime's socket does not answer."""


def http_get(socket_path, path, timeout):
    """(status, body) of GET PATH on a unix-socket HTTP API."""
    conn = _UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise Unreachable(str(exc))
    finally:
        conn.close()


def _unix_host(variable, default):
    host = os.environ.get(variable, "")
    if host.startswith("unix://") and len(host) > len("unix://"):
        return host[len("unix://"):]
    return default


DOCKER_SOCKET = "/var/run/docker.sock"
PODMAN_SOCKET = "/run/podman/podman.sock"
CRIO_SOCKET = "/var/run/crio/crio.sock"


def docker_socket():
    """Docker's socket, as Docker's own client finds it: DOCKER_HOST when it
    is a unix:// address, else the default."""
    return _unix_host("DOCKER_HOST", DOCKER_SOCKET)


def podman_socket():
    """podman's API service socket, as podman --remote finds it:
    CONTAINER_HOST when it is a unix:// address, else the root service's."""
    return _unix_host("CONTAINER_HOST", PODMAN_SOCKET)


def _json(body, want):
    """A runtime's answer decoded and of the shape WANT (dict or list), or
    Unreachable: a runtime answering garbage is one that does not answer."""
    try:
        data = json.loads(body)
    except ValueError:
        raise Unreachable("its answer is not JSON")
    if not isinstance(data, want):
        raise Unreachable("unexpected answer (a JSON %s)" % type(data).__name__)
    return data


def _text(value):
    return value if isinstance(value, str) else ""


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
            if isinstance(m, dict) and _text(m.get(key)):
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


def docker_cgroup(parent, cid):
    """A Docker container's cgroup v2 path from its --cgroup-parent: PARENT/ID
    (cgroupfs driver), docker-ID.scope in the slice (systemd); "" for the
    default parent (its cgroup is then named in the kernel)."""
    if parent.endswith(".slice"):
        return runtime_cgroup_path(parent, "docker", cid)
    return "/%s/%s" % (parent.strip("/"), cid) if parent.strip("/") else ""


def _dict(data, key):
    value = data.get(key)
    return value if isinstance(value, dict) else {}


class DockerAPI:
    """Docker Engine API (also podman's compatible service)."""

    def __init__(self, runtime, socket_path, timeout=0.5):
        self.runtime = runtime
        self.socket_path = socket_path
        self.timeout = timeout

    def _get(self, path, want):
        status, body = http_get(self.socket_path, path, self.timeout)
        if status == 404:
            return None
        if status != 200:
            raise Unreachable("HTTP %d" % status)
        return _json(body, want)

    def _inspect(self, ref):
        data = self._get("/containers/%s/json" % urllib.parse.quote(ref, safe=""), dict)
        if data is None:
            return None
        if not _text(data.get("Id")):
            raise Unreachable("unexpected answer (no container id)")
        return data

    def inspect(self, ref):
        """ContainerInfo for an id, id prefix or name; None if unknown."""
        data = self._inspect(ref)
        if data is None:
            return None
        config = data.get("Config") if isinstance(data.get("Config"), dict) else {}
        host = data.get("HostConfig") if isinstance(data.get("HostConfig"), dict) else {}
        pid = self.state_of(data).get("Pid", 0)
        cgroup = docker_cgroup(_text(host.get("CgroupParent")), data["Id"])
        graph = data.get("GraphDriver") if isinstance(data.get("GraphDriver"), dict) else {}
        layers = graph.get("Data") if isinstance(graph.get("Data"), dict) else {}
        dirs = tuple(_text(layers.get(k)).rstrip("/") for k in ("UpperDir", "MergedDir")
                     if _text(layers.get(k)).startswith("/"))
        return ContainerInfo(self.runtime, data["Id"], _text(data.get("Name")).lstrip("/"),
                             _text(config.get("Image")), pid if isinstance(pid, int) else 0,
                             pod_of(DOCKERSHIM_KEYS, config.get("Labels")), cgroup, dirs)

    @staticmethod
    def state_of(data):
        state = data.get("State")
        return state if isinstance(state, dict) else {}

    def state(self, ref):
        """(full id, the API's State object: Status, Running, Pid, FinishedAt,
        ...) of a container, or None if unknown."""
        data = self._inspect(ref)
        if data is None:
            return None
        return data["Id"], self.state_of(data)

    def list(self):
        data = self._get("/containers/json?all=1", list) or []
        out = []
        for c in data:
            if not isinstance(c, dict) or not _text(c.get("Id")):
                continue
            names = c.get("Names") if isinstance(c.get("Names"), list) else [""]
            out.append(ContainerInfo(self.runtime, c["Id"], _text(names[0]).lstrip("/"),
                                     _text(c.get("Image")),
                                     pod=pod_of(DOCKERSHIM_KEYS, c.get("Labels"))))
        return out

    def events(self, stop):
        """Subscribe to container lifecycle events now; return a generator
        that yields them until STOP is set or the stream breaks."""
        filters = json.dumps({"type": ["container"],
                              "event": ["create", "start", "rename", "die", "destroy",
                                        "died", "remove"]})     # podman's names
        conn = _UnixHTTPConnection(self.socket_path, 1.0)
        try:
            conn.request("GET", "/events?filters=" + urllib.parse.quote(filters))
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise Unreachable(str(exc))
        if resp.status != 200:
            conn.close()
            raise Unreachable("HTTP %d" % resp.status)
        # Block for the next event: after a read timeout a socket file can
        # no longer be read ("cannot read from timed out object"), and the
        # reconnection that follows loses the events of that moment.
        conn.sock.settimeout(None)
        return self._stream(conn, resp, stop)

    @staticmethod
    def _stream(conn, resp, stop):
        try:
            while not stop.is_set():
                line = resp.readline()
                if not line:
                    raise Unreachable("event stream closed")
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(str(exc))
        finally:
            conn.close()


class CRIOAPI:
    """CRI-O's info endpoint: GET /containers/<id> on its socket."""

    runtime = "cri-o"

    def __init__(self, socket_path=CRIO_SOCKET, timeout=0.5):
        self.socket_path = socket_path
        self.timeout = timeout

    def inspect(self, cid):
        status, body = http_get(self.socket_path,
                                "/containers/" + urllib.parse.quote(cid, safe=""), self.timeout)
        if status != 200:
            return None
        return self.info_of(cid, _json(body, dict))

    def info_of(self, cid, data):
        """ContainerInfo from CRI-O's answer DATA (its labels and
        annotations carry kubelet's keys)."""
        labels = data.get("labels") if isinstance(data.get("labels"), dict) else {}
        name = _text(labels.get("io.kubernetes.container.name")) or _text(data.get("name"))
        pid = data.get("pid", 0)
        return ContainerInfo(self.runtime, cid, name, _text(data.get("image")),
                             pid if isinstance(pid, int) else 0,
                             pod_of(CRIO_KEYS, labels, data.get("annotations")))


def read_json(path, want=dict):
    """A state file's JSON, if it is a WANT (dict or list); else None: gone,
    half-written, or not what the runtime writes."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, want) else None


def _spec_cgroup(spec, cid):
    """The cgroup v2 path an OCI spec (config.json) gives its container."""
    return runtime_cgroup_path(_text(_dict(spec, "linux").get("cgroupsPath")), "", cid)


_HEX_ID = re.compile(r"^[0-9a-f]{64}$")


class StateFiles:
    """A runtime's own state on disk, as StateWatcher follows it: below each
    of ROOTS, directories down to DEPTH levels (those descend() accepts),
    and in them the files (wants()) that read() turns into ContainerInfos.
    The runtime writes them before the container's first process runs."""

    runtime = ""
    roots = ()
    depth = 0

    def descend(self, depth, name):
        """Is NAME, a directory DEPTH levels below a root, worth following?"""
        return True

    def wants(self, depth, name):
        """Is NAME, a file DEPTH levels below a root, one read() reads?"""
        return False

    def read(self, path):
        """[ContainerInfo] that the state file PATH tells of ([]: unreadable)."""
        return []


# Where containerd keeps its running tasks' OCI bundles: a containerd of its
# own, and the one dockerd starts (whose "moby" namespace is Docker's).
CONTAINERD_TASK_ROOTS = ("/run/containerd/io.containerd.runtime.v2.task",
                         "/var/run/docker/containerd/daemon/io.containerd.runtime.v2.task")
# Their metadata databases (bbolt), where a container's image is kept.
CONTAINERD_DATABASES = ("/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db",
                        "/var/lib/docker/containerd/daemon/io.containerd.metadata.v1.bolt/meta.db")


class ContainerdState(StateFiles):
    """containerd keeps each running task's OCI bundle under /run, at
    ROOT/NAMESPACE/ID; its annotations carry the names the CRI plugin and
    nerdctl gave the container.  A container made with ctr has none: its id
    is the name its user gave it, and its image is read from containerd's
    metadata database (DATABASES, one per root)."""

    runtime = "containerd"
    depth = 2

    def __init__(self, roots=CONTAINERD_TASK_ROOTS, databases=None):
        self.roots = roots
        if databases is None:
            databases = CONTAINERD_DATABASES if roots == CONTAINERD_TASK_ROOTS else ()
        self._databases = dict(zip(roots, databases))

    def descend(self, depth, name):
        return depth != 0 or name != "moby"     # Docker's own tasks: Docker names them

    def wants(self, depth, name):
        return depth == 2 and name == "config.json"

    def read(self, path):
        info = self._read(path, os.path.basename(os.path.dirname(path)))
        return [info] if info is not None else []

    def _bundles(self, cid=None):
        """(namespace, id, config.json path) of task CID's bundles, or of
        every task's."""
        task = "*" if cid is None else glob.escape(cid)
        for root in self.roots:
            for path in glob.glob(os.path.join(glob.escape(root), "*", task, "config.json")):
                namespace, found = path.split("/")[-3:-1]
                yield namespace, found, path

    def inspect(self, cid):
        """The task CID in any namespace but Docker's own ("moby"), or None."""
        return next(iter(self._infos(cid)), None)

    def list(self):
        """Every task whose bundle is here now (Docker's own "moby" ones
        aside: Docker names those)."""
        return list(self._infos())

    def _infos(self, cid=None):
        for namespace, found, path in self._bundles(cid):
            info = self._read(path, found) if namespace != "moby" else None
            if info is not None:
                yield info

    def dockers(self, cid):
        """Is CID one of Docker's own tasks?"""
        return any(namespace == "moby" for namespace, _, _ in self._bundles(cid))

    def task(self, namespace, cid):
        """The task of a cgroup named /NAMESPACE/CID (containerd's default
        cgroup path, ctr and nerdctl with the cgroupfs driver), or None."""
        if not namespace or not cid or namespace == "moby" or "/" in namespace + cid \
                or cid in (".", "..") or namespace in (".", ".."):
            return None
        for root in self.roots:
            info = self._read(os.path.join(root, namespace, cid, "config.json"), cid)
            if info is not None:
                return info
        return None

    def _read(self, path, cid):
        spec = read_json(path)
        if spec is None:
            return None
        info = self.info_of(cid, spec)
        info.image = info.image or self._image(os.path.dirname(path), cid)
        return info

    def _image(self, task_dir, cid):
        """The image of task CID (bundle TASK_DIR) in containerd's database."""
        namespace_dir = os.path.dirname(task_dir)
        database = self._databases.get(os.path.dirname(namespace_dir))
        if not database:
            return ""
        image = bolt.lookup(database, [b"v1", os.fsencode(os.path.basename(namespace_dir)),
                                       b"containers", os.fsencode(cid), b"image"])
        return image.decode("utf-8", "replace") if image else ""

    def info_of(self, cid, spec):
        """ContainerInfo from a task's OCI spec SPEC (config.json)."""
        ann = _dict(spec, "annotations")
        pod = pod_of(CRI_CONTAINERD_KEYS, ann)
        name = _text(ann.get("io.kubernetes.cri.container-name")) or _text(ann.get("nerdctl/name"))
        if pod is not None:
            name = "%s/%s" % (pod.name, name or "POD")
        if not name and not _HEX_ID.match(cid):
            name = cid
        return ContainerInfo(self.runtime, cid, name,
                             _text(ann.get("io.kubernetes.cri.image-name")), pod=pod,
                             cgroup=_spec_cgroup(spec, cid))


# Docker's containers: DATA_ROOT/containers/ID.
DOCKER_CONTAINERS = ("/var/lib/docker/containers",)


class DockerState(StateFiles):
    """Docker writes a container's config.v2.json (name, image, labels,
    state) and hostconfig.json (cgroup parent) in ROOT/ID when it creates
    the container, and again when it starts, stops or renames it."""

    runtime = "docker"
    depth = 1

    def __init__(self, roots=DOCKER_CONTAINERS):
        self.roots = roots

    def descend(self, depth, name):
        return bool(_HEX_ID.match(name))

    def wants(self, depth, name):
        return depth == 1 and name == "config.v2.json"

    def read(self, path):
        info = self._read(os.path.dirname(path))
        return [info] if info is not None else []

    def inspect(self, cid):
        """The container of id CID, or None."""
        if not _HEX_ID.match(cid):
            return None
        return next((info for info in (self._read(os.path.join(root, cid))
                                       for root in self.roots) if info is not None), None)

    def _read(self, directory):
        config = read_json(os.path.join(directory, "config.v2.json"))
        if config is None or not _text(config.get("ID")):
            return None
        return self.info_of(config, read_json(os.path.join(directory, "hostconfig.json")) or {})

    def info_of(self, config, host):
        """ContainerInfo from config.v2.json CONFIG and hostconfig.json HOST."""
        cid, conf, state = config["ID"], _dict(config, "Config"), _dict(config, "State")
        pid = state.get("Pid") if state.get("Running") is True else 0
        return ContainerInfo(self.runtime, cid, _text(config.get("Name")).lstrip("/"),
                             _text(conf.get("Image")), pid if isinstance(pid, int) else 0,
                             pod_of(DOCKERSHIM_KEYS, conf.get("Labels")),
                             docker_cgroup(_text(host.get("CgroupParent")), cid))


# containers/storage's containers (podman's and CRI-O's), of its overlay
# driver (every current distribution's default).
CONTAINERS_STORAGE = ("/var/lib/containers/storage/overlay-containers",)


class ContainersStorage(StateFiles):
    """podman and CRI-O keep their containers in containers/storage, written
    before the container starts: ROOT/containers.json lists them (id, names,
    and the runtime's metadata as a JSON string: image-name and name;
    CRI-O's also pod-name, pod-id, metadata-name), and ROOT/ID/userdata/
    config.json is each one's OCI spec (the cgroup; the annotations: whose
    it is, CRI-O's pod)."""

    depth = 2
    runtime = "podman"              # or CRI-O: told per container

    def __init__(self, roots=CONTAINERS_STORAGE):
        self.roots = roots

    def descend(self, depth, name):
        return name == "userdata" if depth == 1 else bool(_HEX_ID.match(name))

    def wants(self, depth, name):
        return (depth, name) in ((0, "containers.json"), (2, "config.json"))

    def read(self, path):
        if os.path.basename(path) == "containers.json":
            return self._listed(path)
        spec = read_json(path)
        return [self.spec_info(path.split("/")[-3], spec)] if spec is not None else []

    def _listed(self, path):
        infos = (self.entry_info(entry) for entry in read_json(path, list) or ())
        return [info for info in infos if info is not None]

    def inspect(self, cid):
        """The container of id CID, named from containers.json, with what
        its config.json adds; or None."""
        for root in self.roots:
            for info in self._listed(os.path.join(root, "containers.json")):
                if info.id != cid:
                    continue
                spec = read_json(os.path.join(root, cid, "userdata", "config.json"))
                if spec is not None:
                    told = self.spec_info(cid, spec)
                    info.pod, info.cgroup = told.pod, told.cgroup
                return info
        return None

    @staticmethod
    def entry_info(entry):
        """ContainerInfo from one entry of containers.json, or None."""
        if not isinstance(entry, dict) or not _HEX_ID.match(_text(entry.get("id"))):
            return None
        try:
            meta = json.loads(_text(entry.get("metadata")) or "{}")
        except ValueError:
            meta = {}
        meta = meta if isinstance(meta, dict) else {}
        names = entry.get("names") if isinstance(entry.get("names"), list) else [""]
        crio = "pod-name" in meta or "pod-id" in meta
        name = _text(meta.get("metadata-name")) if crio else ""
        return ContainerInfo("cri-o" if crio else "podman", entry["id"],
                             name or _text(meta.get("name")) or _text(names[0]),
                             _text(meta.get("image-name")))

    @staticmethod
    def spec_info(cid, spec):
        """ContainerInfo from a container's OCI spec: its cgroup, and for
        CRI-O its pod (kubelet's labels, which CRI-O keeps in an annotation
        as JSON) and image."""
        ann = _dict(spec, "annotations")
        if ann.get("io.container.manager") != "cri-o":
            return ContainerInfo("podman", cid, cgroup=_spec_cgroup(spec, cid))
        try:
            labels = json.loads(_text(ann.get("io.kubernetes.cri-o.Labels")) or "{}")
        except ValueError:
            labels = {}
        labels = labels if isinstance(labels, dict) else {}
        return ContainerInfo("cri-o", cid, _text(labels.get("io.kubernetes.container.name")),
                             _text(ann.get("io.kubernetes.cri-o.ImageName")),
                             pod=pod_of(CRIO_KEYS, labels, ann), cgroup=_spec_cgroup(spec, cid))


# podman's own names for the Docker events the watcher follows.
PODMAN_ACTIONS = {"died": "die", "remove": "destroy"}


class DockerWatcher(threading.Thread):
    """Follows Docker's event stream so that names and images are known when
    a container's first exec happens, even if it exits within milliseconds.
    Reconnects while dockerd is down."""

    def __init__(self, api, on_info, on_state):
        super().__init__(name="ctrace-%s-events" % api.runtime, daemon=True)
        self.api = api
        self.on_info = on_info        # (ContainerInfo learnt or updated, event action)
        self.on_state = on_state      # (reachable: bool)
        self.stop = threading.Event()
        # Set once the first subscription is made (or failed): a container
        # created after that is named from its create event.
        self.tried = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                stream = self.api.events(self.stop)
                for info in self.api.list():     # after subscribing: nothing missed
                    self.on_info(info, "")
                self.on_state(True)
                self.tried.set()
                for ev in stream:
                    self._handle(ev)
            except Unreachable as exc:
                self.on_state(False, str(exc))
            except Exception as exc:       # never let a bad message kill naming
                self.on_state(False, "unexpected answer: %s" % exc)
            self.tried.set()
            self.stop.wait(1.0)

    def _handle(self, ev):
        actor = ev.get("Actor") if isinstance(ev.get("Actor"), dict) else {}
        cid = _text(actor.get("ID")) or _text(ev.get("id"))
        attrs = actor.get("Attributes") if isinstance(actor.get("Attributes"), dict) else {}
        action = _text(ev.get("Action")) or _text(ev.get("status"))
        action = PODMAN_ACTIONS.get(action, action)
        if not cid:
            return
        # A container's labels are among its events' attributes.
        info = ContainerInfo(self.api.runtime, cid, _text(attrs.get("name")),
                             _text(attrs.get("image")), pod=pod_of(DOCKERSHIM_KEYS, attrs))
        if action == "start" or (action == "create" and info.pod is not None):
            try:
                full = self.api.inspect(cid)
                if full:
                    info = full
            except Unreachable:
                pass
        self.on_info(info, action)


class Inotify:
    """The kernel's inotify through ctypes (Python has no binding): watch
    directories, read (watch descriptor, mask, name) events."""

    CREATE, CLOSE_WRITE, MOVED_TO, IGNORED, ONLYDIR = 0x100, 0x8, 0x80, 0x8000, 0x01000000
    _EVENT = struct.Struct("iIII")

    def __init__(self):
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")

    def watch(self, path, mask):
        """A watch descriptor for directory PATH; OSError if it cannot be
        watched (ENOENT: it is gone)."""
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), mask | self.ONLYDIR)
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), path)
        return wd

    def read(self, timeout):
        """Events that arrive within TIMEOUT seconds: [(wd, mask, name)]."""
        if not select.select([self.fd], [], [], timeout)[0]:
            return []
        try:
            data = os.read(self.fd, 65536)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EINTR):
                return []
            raise
        out, pos = [], 0
        while pos + self._EVENT.size <= len(data):
            wd, mask, _, length = self._EVENT.unpack_from(data, pos)
            pos += self._EVENT.size
            name = data[pos:pos + length].split(b"\0", 1)[0]
            pos += length
            out.append((wd, mask, os.fsdecode(name)))
        return out

    def close(self):
        os.close(self.fd)


# Every host path the runtimes are read from: deploy/ mounts them all
# (tests/test_deploy.py checks).
STATE_PATHS = ((DOCKER_SOCKET, PODMAN_SOCKET, CRIO_SOCKET) + CONTAINERD_TASK_ROOTS +
               tuple(os.path.dirname(db) for db in CONTAINERD_DATABASES) +
               DOCKER_CONTAINERS + CONTAINERS_STORAGE)


class StateWatcher(threading.Thread):
    """Follows runtimes' state on disk (StateFiles) with inotify, Inspektor
    Gadget's way (the node's files, no socket): a container that lives for
    a millisecond is named only if its files are read as soon as they are
    written.  A directory is watched as soon as it is created, then listed
    (nothing made in between is missed); roots that appear later are picked
    up within RESCAN_SECONDS.  PUT(ContainerInfo) receives what a file
    tells that differs from what it told before; REPORT(text) an error,
    after which the watcher goes on."""

    RESCAN_SECONDS = 1.0
    MASK = Inotify.CREATE | Inotify.CLOSE_WRITE | Inotify.MOVED_TO
    WRITTEN = Inotify.CLOSE_WRITE | Inotify.MOVED_TO
    TOLD_MAX = 16384

    def __init__(self, sources, put, report):
        super().__init__(name="ctrace-state-files", daemon=True)
        self.sources = sources
        self.put = put
        self.report = report
        self.stop = threading.Event()
        self.tried = threading.Event()  # the roots there are, watched and read
        self._inotify = None
        self._dirs = {}                 # wd -> (source, depth, path)
        self._roots = set()             # (source, root) watched
        self._told = {}                 # (file, runtime, id) -> what PUT was told last
        self._rescanned = 0.0

    def run(self):
        try:
            self.open()
            try:
                while not self.stop.is_set():
                    self.step(self.RESCAN_SECONDS)
            finally:
                self._inotify.close()
        except Exception as exc:
            self.report("cannot follow the runtimes' state files: %s" % exc)
        finally:
            self.tried.set()

    def open(self):
        self._inotify = Inotify()

    def step(self, timeout):
        """Look for new roots (at most every RESCAN_SECONDS), then handle
        what inotify says within TIMEOUT seconds."""
        if time.monotonic() - self._rescanned >= self.RESCAN_SECONDS:
            self._rescanned = time.monotonic()
            self._guarded(self._rescan)
            self.tried.set()
        for wd, mask, name in self._inotify.read(timeout):
            self._guarded(self._event, wd, mask, name)

    def _guarded(self, step, *args):
        try:
            step(*args)
        except Exception as exc:        # said, and the watcher goes on
            self.report("reading the runtimes' state files: %s: %s" % (type(exc).__name__, exc))

    def _rescan(self):
        for source in self.sources:
            for root in source.roots:
                if (source, root) not in self._roots and os.path.isdir(root):
                    self._roots.add((source, root))
                    self._added(source, 0, root)

    def _added(self, source, depth, path):
        """Directory PATH appeared (or was there at the start): watch it,
        then take what it holds already."""
        try:
            wd = self._inotify.watch(path, self.MASK)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):     # not gone already
                self.report("cannot watch the runtimes' state directories: %s%s" % (
                    exc.strerror, " (fs.inotify.max_user_watches)"
                    if exc.errno == errno.ENOSPC else ""))
            return
        self._dirs[wd] = (source, depth, path)
        try:
            names = os.listdir(path)
        except OSError:
            return
        for name in names:
            self._entry(source, depth, path, name, Inotify.MOVED_TO)

    def _event(self, wd, mask, name):
        if mask & Inotify.IGNORED:      # its directory is gone
            source, depth, path = self._dirs.pop(wd, (None, None, None))
            if depth == 0:
                self._roots.discard((source, path))
        elif wd in self._dirs and name:
            self._entry(*self._dirs[wd], name, mask)

    def _entry(self, source, depth, path, name, mask):
        """NAME in PATH, DEPTH levels below a root of SOURCE, was created,
        written or moved there (MASK)."""
        full = os.path.join(path, name)
        if source.wants(depth, name):
            if mask & self.WRITTEN:
                self._read(source, full)
        elif depth < source.depth and mask & (Inotify.CREATE | Inotify.MOVED_TO) \
                and source.descend(depth, name) and os.path.isdir(full):
            self._added(source, depth + 1, full)

    def _read(self, source, path):
        try:
            infos = source.read(path)
        except Exception as exc:        # said; the other files are read
            self.report("reading %s: %s: %s" % (path, type(exc).__name__, exc))
            return
        for info in infos:
            key = (os.path.basename(path), info.runtime, info.id)   # per kind of file
            told = (info.name, info.image, info.pid, info.pod, info.cgroup)
            if self._told.get(key) != told:
                if len(self._told) > self.TOLD_MAX:
                    self._told.clear()
                self._told[key] = told
                self.put(info)
