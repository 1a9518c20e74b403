"""The runtimes' HTTP APIs over unix sockets: GET with a short timeout, and
answers checked for the shape expected.  A runtime that does not answer,
or answers garbage, is Unreachable: it costs a container's name, never its
id."""

import functools
import json
import os
import socket


@functools.lru_cache(maxsize=None)
def _client():
    """http.client, imported at the first request, not with the tools: its
    import (email, ssl) is 0.04 s of every start-up, and the first request
    is made on a thread of its own while the program compiles
    (Registry.start)."""
    import http.client
    return http.client


@functools.lru_cache(maxsize=None)
def _connection_class():
    class UnixHTTPConnection(_client().HTTPConnection):
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
    return UnixHTTPConnection


def unix_connection(path, timeout):
    """An http.client.HTTPConnection to the unix socket PATH."""
    return _connection_class()(path, timeout)


def http_errors():
    """What a request that failed raises (for except: the import is done by
    then)."""
    return (OSError, _client().HTTPException)


class Unreachable(Exception):
    """The runtime's socket does not answer.  ABSENT: there was no socket
    at the attempt (a runtime not running, or restarting), which is no
    fault, even if the socket is back by the time this is looked at."""

    def __init__(self, message, absent=False):
        super().__init__(message)
        self.absent = absent


def http_get(socket_path, path, timeout):
    """(status, body) of GET PATH on a unix-socket HTTP API."""
    conn = unix_connection(socket_path, timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except http_errors() as exc:
        raise Unreachable(str(exc), absent=isinstance(exc, FileNotFoundError))
    finally:
        conn.close()


def unix_host(variable, default):
    """The socket path of environment VARIABLE when it is a unix:// address
    (DOCKER_HOST, CONTAINER_HOST), else DEFAULT."""
    host = os.environ.get(variable, "")
    if host.startswith("unix://") and len(host) > len("unix://"):
        return host[len("unix://"):]
    return default


def json_answer(body, want):
    """A runtime's answer decoded and of the shape WANT (dict or list), or
    Unreachable: a runtime answering garbage is one that does not answer."""
    try:
        data = json.loads(body)
    except ValueError:
        raise Unreachable("its answer is not JSON")
    if not isinstance(data, want):
        raise Unreachable("unexpected answer (a JSON %s)" % type(data).__name__)
    return data
