"""The Registry, one path per resolution: an event, an in-kernel summary's
key, a socket, an address; names learnt late; runtimes that answer garbage.

Pure logic against a runtime API served by the test on a unix socket (the
Docker Engine API's shape), and the kernel's cgroup-name map stood in for by
a dict: no root, BPF or Docker needed."""

import http.server
import json
import socketserver
import sys
import threading

import pytest

from ctrace import registry as registry_module
from ctrace.containers import HOST
from ctrace.registry import Registry
from ctrace.runtimes.docker import DockerAPI, docker_socket

CID = "ab" * 32
OTHER = "cd" * 32


class FakeAPI:
    """A Docker-like API on a unix socket. ANSWERS maps a path prefix to
    (status, body bytes); anything else is 404."""

    def __init__(self, path):
        self.path = path
        self.answers = {}
        self.requests = []
        self.hangups = []       # requests whose client left before the answer
        self.errors = []        # anything else that went wrong in a handler
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                api.requests.append(self.path)
                for prefix, (status, body) in api.answers.items():
                    if self.path.startswith(prefix):
                        break
                else:
                    status, body = 404, b"{}"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    api.hangups.append(self.path)     # a client that stopped waiting

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

            def get_request(self):
                conn, _ = self.socket.accept()
                return conn, ("local", 0)

            def handle_error(self, request, client_address):
                api.errors.append(sys.exc_info()[1])     # close() reports them

        self.server = Server(path, Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def inspect_answer(self, cid, name, image="img:1", pid=0):
        body = json.dumps({"Id": cid, "Name": "/" + name, "Config": {"Image": image},
                           "State": {"Pid": pid, "Running": bool(pid)}}).encode()
        self.answers["/containers/%s/json" % cid] = (200, body)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        assert not self.errors, "the fake API server failed: %r" % self.errors


class Names:
    """Stands for the kernel's ct_cgroups map (BCC raises KeyError)."""

    class Value:
        def __init__(self, leaf, parent):
            self.leaf, self.parent = leaf.encode(), parent.encode()

    def __init__(self, entries):
        self.entries = {k: self.Value(*v) for k, v in entries.items()}

    def __getitem__(self, key):
        return self.entries[key.value]


class Event:
    def __init__(self, cgroup_id, mntns, ct_flags=0):
        self.cgroup_id, self.mntns, self.ct_flags = cgroup_id, mntns, ct_flags


@pytest.fixture
def api(tmp_path):
    fake = FakeAPI(str(tmp_path / "docker.sock"))
    yield fake
    fake.close()


@pytest.fixture
def registry(api, tmp_path):
    warnings = []
    r = Registry(warn=warnings.append, root=str(tmp_path / "host"))   # no runtime's files
    r.runtime("docker").api = DockerAPI("docker", api.path)
    r.warnings = warnings
    r._names_map = Names({7: (CID, "docker"), 8: ("lxc.payload.box", "lxc.monitor"),
                          9: ("session-1.scope", "user.slice")})
    return r


def test_event_in_a_runtime_cgroup_is_named(registry, api):
    api.inspect_answer(CID, "web")
    c = registry.resolve(Event(7, 4026532999))
    assert (c.kind, c.runtime, c.id, c.name, c.image) == ("runtime", "docker", CID, "web", "img:1")
    assert c.fields()["container_name"] == "web"


def test_summary_key_host_namespace_and_runtime(registry, api):
    host_mnt = registry.host_ns["mnt"]
    assert registry.resolve_key(9, host_mnt) is HOST             # no flag: from mntns
    assert registry.resolve_key(9, 4026532111, host=False).label == "mntns:4026532111"
    assert registry.resolve_key(8, 4026532112).name == "box"     # lxc: named by its cgroup
    api.inspect_answer(CID, "db")
    assert registry.resolve_key(7, host_mnt, host=True).name == "db"


def test_socket_owner_by_cgroup_else_network_namespace(registry, api):
    api.inspect_answer(CID, "api")
    assert registry.resolve_socket(7, 4026532000).name == "api"
    assert registry.resolve_socket(9, registry.host_ns["net"]) is HOST
    assert registry.resolve_socket(9, 4026532555).label == "netns:4026532555"


def test_a_named_socket_owner_is_kept_an_unnamed_one_asked_again(registry, api, monkeypatch):
    """containernet names a socket's owner per event: a named one comes from
    the cache (no cgroup parsing, no runtime asked), one its runtime has not
    named yet is looked up again."""
    monkeypatch.setattr(registry_module, "NEGATIVE_RETRY_SECONDS", 0.0)
    api.answers["/containers/"] = (500, b"busy")
    assert registry.resolve_socket(7, 4026532000).label == CID[:12]
    del api.answers["/containers/"]
    api.inspect_answer(CID, "api")
    assert registry.resolve_socket(7, 4026532000).name == "api"
    registry._names_map = Names({})             # the kernel's names forgotten
    registry._names.clear()
    assert registry.resolve_socket(7, 4026532000).name == "api"


def test_address_from_endpoints_and_listeners(registry, api):
    api.inspect_answer(CID, "srv")
    srv = registry.resolve_socket(7, 4026532000)
    addresses = registry.addresses
    addresses.learn_listener(4026532000, 8080, srv)
    # loopback within the server's network namespace
    assert registry.resolve_address("127.0.0.1", 8080, 4026532000, True) is srv
    assert registry.resolve_address("127.0.0.1", 8080, 4026532001, True) is None
    # a container address seen as a connection's local end
    addresses.learn_endpoint("198.18.5.2", 40000, 4026532000, srv)
    assert registry.resolve_address("198.18.5.2", 40000, 4026532777, False) is srv
    addresses.forget_endpoint("198.18.5.2", 40000, 4026532000)
    # and as a server's address: its listener
    assert registry.resolve_address("198.18.5.2", 8080, 4026532777, True) is srv


def test_a_name_learnt_late_replaces_the_id(registry, api, monkeypatch):
    monkeypatch.setattr(registry_module, "NEGATIVE_RETRY_SECONDS", 0.0)
    api.answers["/containers/"] = (500, b"busy")
    first = registry.resolve(Event(7, 4026532999))
    assert first.label == CID[:12] and first.name == ""
    assert len(registry.warnings) == 1          # said once ...
    registry.resolve(Event(7, 4026532999))
    assert len(registry.warnings) == 1          # ... not per event
    del api.answers["/containers/"]
    api.inspect_answer(CID, "late")
    assert registry.resolve(Event(7, 4026532999)).label == "late"
    # and what an event already holds follows a rename from the event stream
    held = registry.resolve(Event(7, 4026532999))
    registry.learn(type(held.info)("docker", CID, "renamed"), "rename")
    assert held.label == "renamed"


@pytest.mark.parametrize("body", [b"<html>not json</html>", b"[1, 2, 3]", b'"text"',
                                  b'{"Id": 5, "Name": ["x"], "State": "up"}'])
def test_garbage_from_a_runtime_costs_only_the_name(registry, api, body):
    api.answers["/containers/"] = (200, body)
    c = registry.resolve(Event(7, 4026532999))
    assert (c.runtime, c.id, c.label) == ("docker", CID, CID[:12])
    assert len(registry.warnings) == 1 and "docker" in registry.warnings[0]
    registry.start()                            # listing garbage: no exception
    registry.stop()


def test_find_says_when_the_runtime_did_not_answer(registry, api):
    from ctrace.errors import UsageError
    api.answers["/containers/"] = (500, b"busy")
    with pytest.raises(UsageError) as info:
        registry.find("web-nothere")
    assert "docker did not answer" in str(info.value)
    assert "no running container" not in str(info.value)


def test_a_socket_absent_at_the_attempt_is_no_fault_even_if_back_now(registry, tmp_path):
    """A runtime restarting: the connect found no socket (ENOENT), and by
    the time the failure is looked at the socket is back.  Not said; a
    socket that was there and did not answer is."""
    from ctrace.runtimes.http import Unreachable, http_get
    with pytest.raises(Unreachable) as gone:
        http_get(str(tmp_path / "no.sock"), "/containers/json", 1)
    assert gone.value.absent
    docker = registry.runtime("docker")
    assert docker.has_socket()                  # back by now (the fake API's)
    registry._unreachable(docker, gone.value)
    assert registry.warnings == []
    registry._unreachable(docker, Unreachable("timed out"))
    assert len(registry.warnings) == 1 and "did not answer (timed out)" in registry.warnings[0]


def test_docker_host_unix_paths(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    assert docker_socket() == "/run/user/1000/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2375")
    assert docker_socket() == "/var/run/docker.sock"
    monkeypatch.delenv("DOCKER_HOST")
    assert docker_socket() == "/var/run/docker.sock"


def test_awaited_matches_any_runtime(registry, api):
    awaited = registry.wait("box")
    assert not awaited.started
    assert awaited.matches(registry.resolve_key(8, 4026532112))     # lxc "box"
    assert awaited.started
    assert not awaited.matches(registry.resolve_key(9, 4026532113))


def test_awaited_ends_when_the_start_fails(registry, api):
    """A start that fails leaves a container "created", with no FinishedAt
    and Pid 0, but an Error: the wait ends (containersyscall --wait)."""
    def state(**kw):
        body = dict({"Status": "created", "Running": False, "Pid": 0, "Error": "",
                     "FinishedAt": "0001-01-01T00:00:00Z"}, **kw)
        api.answers["/containers/box/json"] = (200, json.dumps(
            {"Id": CID, "Name": "/box", "Config": {"Image": "i"}, "State": body}).encode())
    state()
    awaited = registry.wait("box")
    assert not awaited.ended()
    state(Error="exec: \"/nonexistent\": stat /nonexistent: no such file or directory",
          ExitCode=127)
    assert awaited.ended() and CID in awaited.ids


def test_start_only_queues_what_it_learns(registry, api):
    """Registry.start() runs on a thread of its own while the program
    compiles: the listing reaches the collection (and its subscribers, -c's
    followers among them) only when the tool's thread applies it."""
    listed = json.dumps([{"Id": CID, "Names": ["/web"], "Image": "img:1"}]).encode()
    api.answers["/containers/json"] = (200, listed)
    api.inspect_answer(CID, "web")
    heard = []
    registry.start()
    try:
        assert CID not in [i.id for i in registry.containers.values()]
        registry.subscribe(added=lambda change: heard.append(change.info.id))
        registry.apply_pending()
    finally:
        registry.stop()
    assert CID in heard
    assert registry.containers.get("docker", CID).name == "web"
