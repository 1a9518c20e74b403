"""Container names and images from the runtimes' own metadata.

Docker (and podman's Docker-compatible socket) through the Engine API on a
unix socket; CRI-O through its info socket; containerd from the OCI bundle
it keeps under /run; LXC and nspawn are named by their cgroup already.
Every call has a short timeout: the event loop may wait for a lookup, but
never long, and an unreachable runtime only costs the name, never the id.
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


def docker_socket():
    """Docker's socket, as Docker's own client finds it: DOCKER_HOST when it
    is a unix:// address, else the default."""
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://") and len(host) > len("unix://"):
        return host[len("unix://"):]
    return "/var/run/docker.sock"


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
        parent = _text(host.get("CgroupParent"))
        # cgroupfs driver: PARENT/ID; systemd: docker-ID.scope in the slice.
        if parent.endswith(".slice"):
            cgroup = runtime_cgroup_path(parent, "docker", data["Id"])
        else:
            cgroup = "/%s/%s" % (parent.strip("/"), data["Id"]) if parent.strip("/") else ""
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

    def __init__(self, socket_path="/var/run/crio/crio.sock", timeout=0.5):
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


# Where containerd keeps its running tasks' OCI bundles: a containerd of its
# own, and the one dockerd starts (whose "moby" namespace is Docker's).
CONTAINERD_TASK_ROOTS = ("/run/containerd/io.containerd.runtime.v2.task",
                         "/var/run/docker/containerd/daemon/io.containerd.runtime.v2.task")
_CRI_ID = re.compile(r"^[0-9a-f]{64}$")


class ContainerdState:
    """containerd keeps each running task's OCI bundle under /run, at
    ROOT/NAMESPACE/ID; its annotations carry the names the CRI plugin and
    nerdctl gave the container.  A container made with ctr has none: its id
    is the name its user gave it."""

    runtime = "containerd"

    def __init__(self, roots=CONTAINERD_TASK_ROOTS):
        self.roots = roots

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
        try:
            with open(path) as f:
                spec = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(spec, dict):
            return None
        return self.info_of(cid, spec)

    def info_of(self, cid, spec):
        """ContainerInfo from a task's OCI spec SPEC (config.json)."""
        ann = spec.get("annotations") if isinstance(spec.get("annotations"), dict) else {}
        pod = pod_of(CRI_CONTAINERD_KEYS, ann)
        name = _text(ann.get("io.kubernetes.cri.container-name")) or _text(ann.get("nerdctl/name"))
        if pod is not None:
            name = "%s/%s" % (pod.name, name or "POD")
        if not name and not _CRI_ID.match(cid):
            name = cid
        linux = spec.get("linux") if isinstance(spec.get("linux"), dict) else {}
        return ContainerInfo(self.runtime, cid, name,
                             _text(ann.get("io.kubernetes.cri.image-name")), pod=pod,
                             cgroup=runtime_cgroup_path(_text(linux.get("cgroupsPath")), "", cid))


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
        """A watch descriptor for directory PATH, or -1 (it is gone)."""
        return self._libc.inotify_add_watch(self.fd, os.fsencode(path), mask | self.ONLYDIR)

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


class BundleWatcher(threading.Thread):
    """Learns containerd's tasks as their bundles appear (Inspektor
    Gadget's way: the node's files, no socket): a bundle exists only while
    its task does, so a container that exits within milliseconds is named
    only if its config.json is read as soon as it is written.  Watches
    ROOT (new namespaces), ROOT/NAMESPACE (new tasks) and each new task's
    directory (its config.json); roots that appear later are picked up."""

    RESCAN_SECONDS = 1.0

    def __init__(self, state, on_info):
        super().__init__(name="ctrace-containerd-bundles", daemon=True)
        self.state = state
        self.on_info = on_info          # (ContainerInfo)
        self.stop = threading.Event()
        self.tried = threading.Event()  # the roots there are, watched
        self._inotify = None
        self._dirs = {}                 # wd -> (kind, path)
        self._roots = set()

    def _watch(self, kind, path):
        mask = Inotify.CREATE | (Inotify.CLOSE_WRITE | Inotify.MOVED_TO if kind == "task" else 0)
        wd = self._inotify.watch(path, mask)
        if wd >= 0:
            self._dirs[wd] = (kind, path)
        return wd >= 0

    def _added(self, kind, path):
        """A directory appeared (or was there at the start): watch it, then
        look at what it holds already (nothing made in between is missed)."""
        if kind == "namespace" and os.path.basename(path) == "moby":
            return                      # Docker's own tasks: Docker names them
        if not self._watch(kind, path):
            return
        if kind == "task":
            self._config(path)
            return
        try:
            entries = os.listdir(path)
        except OSError:
            return
        for entry in entries:
            self._added("namespace" if kind == "root" else "task", os.path.join(path, entry))

    def _config(self, task_dir):
        info = self.state._read(os.path.join(task_dir, "config.json"),
                                os.path.basename(task_dir))
        if info is not None:
            self.on_info(info)

    def _rescan(self):
        for root in self.state.roots:
            if root not in self._roots and os.path.isdir(root):
                self._roots.add(root)
                self._added("root", root)

    def run(self):
        try:
            self._inotify = Inotify()
        except OSError:
            self.tried.set()
            return
        try:
            self._rescan()
            self.tried.set()
            last = 0.0
            while not self.stop.is_set():
                for wd, mask, name in self._inotify.read(self.RESCAN_SECONDS):
                    if mask & Inotify.IGNORED:          # its directory is gone
                        self._dirs.pop(wd, None)
                        continue
                    kind, path = self._dirs.get(wd, (None, None))
                    if kind is None or not name:
                        continue
                    if kind == "task":
                        if name == "config.json":
                            self._config(path)
                    elif mask & Inotify.CREATE:
                        self._added("namespace" if kind == "root" else "task",
                                    os.path.join(path, name))
                now = time.monotonic()
                if now - last >= self.RESCAN_SECONDS:
                    last = now
                    self._rescan()
        except Exception:       # naming must never kill the tool
            pass
        finally:
            self.tried.set()
            self._inotify.close()
