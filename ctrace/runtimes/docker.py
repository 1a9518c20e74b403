"""Docker: its containers' config.v2.json and hostconfig.json (DockerState),
written when a container is created, then its Engine API and event stream
(DockerAPI, DockerWatcher), which podman's compatible service speaks too
(EngineRuntime is both runtimes' part of ctrace.runtimes.model.Runtime)."""

import json
import os
import threading
import urllib.parse

from ctrace.cgroups import runtime_cgroup_path
from ctrace.runtimes.http import (Unreachable, http_errors, http_get, json_answer,
                                  unix_connection, unix_host)
from ctrace.runtimes.model import (DOCKERSHIM_KEYS, HEX_ID, ContainerInfo, Runtime, dict_at,
                                   pod_of, read_json, text)
from ctrace.runtimes.watch import StateFiles
from ctrace.threads import leave_stop_signals_to_main_thread

DOCKER_SOCKET = "/var/run/docker.sock"


def docker_socket():
    """Docker's socket, as Docker's own client finds it: DOCKER_HOST when it
    is a unix:// address, else the default."""
    return unix_host("DOCKER_HOST", DOCKER_SOCKET)


def docker_cgroup(parent, cid):
    """A Docker container's cgroup v2 path from its --cgroup-parent: PARENT/ID
    (cgroupfs driver), docker-ID.scope in the slice (systemd); "" for the
    default parent (its cgroup is then named in the kernel)."""
    if parent.endswith(".slice"):
        return runtime_cgroup_path(parent, "docker", cid)
    return "/%s/%s" % (parent.strip("/"), cid) if parent.strip("/") else ""


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
        return json_answer(body, want)

    def _inspect(self, ref):
        data = self._get("/containers/%s/json" % urllib.parse.quote(ref, safe=""), dict)
        if data is None:
            return None
        if not text(data.get("Id")):
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
        cgroup = docker_cgroup(text(host.get("CgroupParent")), data["Id"])
        graph = data.get("GraphDriver") if isinstance(data.get("GraphDriver"), dict) else {}
        layers = graph.get("Data") if isinstance(graph.get("Data"), dict) else {}
        dirs = tuple(text(layers.get(k)).rstrip("/") for k in ("UpperDir", "MergedDir")
                     if text(layers.get(k)).startswith("/"))
        return ContainerInfo(self.runtime, data["Id"], text(data.get("Name")).lstrip("/"),
                             text(config.get("Image")), pid if isinstance(pid, int) else 0,
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
            if not isinstance(c, dict) or not text(c.get("Id")):
                continue
            names = c.get("Names") if isinstance(c.get("Names"), list) else [""]
            out.append(ContainerInfo(self.runtime, c["Id"], text(names[0]).lstrip("/"),
                                     text(c.get("Image")),
                                     pod=pod_of(DOCKERSHIM_KEYS, c.get("Labels"))))
        return out

    def events(self, stop):
        """Subscribe to container lifecycle events now; return a generator
        that yields them until STOP is set or the stream breaks."""
        filters = json.dumps({"type": ["container"],
                              "event": ["create", "start", "rename", "die", "destroy",
                                        "died", "remove"]})     # podman's names
        conn = unix_connection(self.socket_path, 1.0)
        try:
            conn.request("GET", "/events?filters=" + urllib.parse.quote(filters))
            resp = conn.getresponse()
        except http_errors() as exc:
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
        except http_errors() as exc:
            raise Unreachable(str(exc))
        finally:
            conn.close()


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
        leave_stop_signals_to_main_thread()
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
        cid = text(actor.get("ID")) or text(ev.get("id"))
        attrs = actor.get("Attributes") if isinstance(actor.get("Attributes"), dict) else {}
        action = text(ev.get("Action")) or text(ev.get("status"))
        action = PODMAN_ACTIONS.get(action, action)
        if not cid:
            return
        # A container's labels are among its events' attributes.
        info = ContainerInfo(self.api.runtime, cid, text(attrs.get("name")),
                             text(attrs.get("image")), pod=pod_of(DOCKERSHIM_KEYS, attrs))
        if action == "start" or (action == "create" and info.pod is not None):
            try:
                full = self.api.inspect(cid)
                if full:
                    info = full
            except Unreachable:
                pass
        self.on_info(info, action)


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
        return bool(HEX_ID.match(name))

    def wants(self, depth, name):
        return depth == 1 and name == "config.v2.json"

    def read(self, path):
        info = self._read(os.path.dirname(path))
        return [info] if info is not None else []

    def inspect(self, cid):
        """The container of id CID, or None."""
        if not HEX_ID.match(cid):
            return None
        return next((info for info in (self._read(os.path.join(root, cid))
                                       for root in self.roots) if info is not None), None)

    def _read(self, directory):
        config = read_json(os.path.join(directory, "config.v2.json"))
        if config is None or not text(config.get("ID")):
            return None
        return self.info_of(config, read_json(os.path.join(directory, "hostconfig.json")) or {})

    def info_of(self, config, host):
        """ContainerInfo from config.v2.json CONFIG and hostconfig.json HOST."""
        cid, conf, state = config["ID"], dict_at(config, "Config"), dict_at(config, "State")
        pid = state.get("Pid") if state.get("Running") is True else 0
        return ContainerInfo(self.runtime, cid, text(config.get("Name")).lstrip("/"),
                             text(conf.get("Image")), pid if isinstance(pid, int) else 0,
                             pod_of(DOCKERSHIM_KEYS, conf.get("Labels")),
                             docker_cgroup(text(host.get("CgroupParent")), cid))


class EngineRuntime(Runtime):
    """A runtime with the Docker Engine API (Docker; podman's service):
    listed, inspected and named by name through it, and followed through
    its event stream."""

    def list(self, wanted=None, running=False):
        out = []
        for listed in self.api.list():
            if wanted is None or wanted(listed):
                full = self.api.inspect(listed.id)
                if full is not None and (full.pid or not running):
                    out.append(full)
        return out

    def find(self, ref):
        return self.api.inspect(ref)

    def state(self, ref):
        return self.api.state(ref)

    def watchers(self, put, said):
        return [DockerWatcher(self.api, put, said)]


class Docker(EngineRuntime):
    """Docker: its state files first; its event stream is followed even
    while dockerd is down (the watcher says when it is back)."""

    name = "docker"

    def __init__(self, root=""):
        self.files = DockerState(tuple(root + r for r in DOCKER_CONTAINERS))
        self.api = DockerAPI(self.name, root + docker_socket())
