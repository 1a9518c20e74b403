"""Container names and images from the runtimes' own metadata.

Docker (and podman's Docker-compatible socket) through the Engine API on a
unix socket; CRI-O through its info socket; containerd from the OCI bundle
it keeps under /run; LXC and nspawn are named by their cgroup already.
Every call has a short timeout: the event loop may wait for a lookup, but
never long, and an unreachable runtime only costs the name, never the id.
"""

import glob
import http.client
import json
import os
import re
import socket
import threading
import urllib.parse


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


class ContainerInfo:
    """What a runtime says about one container. Mutable: a name learnt later
    (or a rename) reaches every event already holding this object."""

    __slots__ = ("runtime", "id", "name", "image", "pid", "exited_at")

    def __init__(self, runtime, cid, name="", image="", pid=0):
        self.runtime = runtime
        self.id = cid
        self.name = name
        self.image = image
        self.pid = pid
        self.exited_at = None

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
        pid = self.state_of(data).get("Pid", 0)
        return ContainerInfo(self.runtime, data["Id"], _text(data.get("Name")).lstrip("/"),
                             _text(config.get("Image")), pid if isinstance(pid, int) else 0)

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
                                     _text(c.get("Image"))))
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
        data = _json(body, dict)
        labels = data.get("labels") if isinstance(data.get("labels"), dict) else {}
        name = _text(labels.get("io.kubernetes.container.name")) or _text(data.get("name"))
        pid = data.get("pid", 0)
        return ContainerInfo(self.runtime, cid, name, _text(data.get("image")),
                             pid if isinstance(pid, int) else 0)


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

    def inspect(self, cid):
        """The task CID in any namespace, or None."""
        for root in self.roots:
            for path in glob.glob(os.path.join(glob.escape(root), "*", glob.escape(cid),
                                               "config.json")):
                info = self._read(path, cid)
                if info is not None:
                    return info
        return None

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
        ann = spec.get("annotations") if isinstance(spec.get("annotations"), dict) else {}
        name = _text(ann.get("io.kubernetes.cri.container-name")) or _text(ann.get("nerdctl/name"))
        pod = _text(ann.get("io.kubernetes.cri.sandbox-name"))
        if pod and name:
            name = "%s/%s" % (pod, name)
        if not name and not _CRI_ID.match(cid):
            name = cid
        return ContainerInfo(self.runtime, cid, name,
                             _text(ann.get("io.kubernetes.cri.image-name")))


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
        info = ContainerInfo(self.api.runtime, cid, _text(attrs.get("name")),
                             _text(attrs.get("image")))
        if action == "start":
            try:
                full = self.api.inspect(cid)
                if full:
                    info = full
            except Unreachable:
                pass
        self.on_info(info, action)
