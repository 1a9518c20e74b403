"""CRI-O: its containers in containers/storage (ctrace.runtimes.podman's
ContainersStorage tells CRI-O's from podman's by their annotations), then
its info socket: GET /containers/<id>."""

import urllib.parse

from ctrace.runtimes.http import http_get, json_answer
from ctrace.runtimes.model import CRIO_KEYS, ContainerInfo, Runtime, pod_of, text

CRIO_SOCKET = "/var/run/crio/crio.sock"


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
        return self.info_of(cid, json_answer(body, dict))

    def info_of(self, cid, data):
        """ContainerInfo from CRI-O's answer DATA (its labels and
        annotations carry kubelet's keys)."""
        labels = data.get("labels") if isinstance(data.get("labels"), dict) else {}
        name = text(labels.get("io.kubernetes.container.name")) or text(data.get("name"))
        pid = data.get("pid", 0)
        return ContainerInfo(self.runtime, cid, name, text(data.get("image")),
                             pid if isinstance(pid, int) else 0,
                             pod_of(CRIO_KEYS, labels, data.get("annotations")))


class CRIO(Runtime):
    """CRI-O: containers/storage's files (STORAGE, podman's module's, which
    the StateWatcher follows once for both), then its info socket."""

    name = "cri-o"

    def __init__(self, root, storage):
        self.files = storage
        self.api = CRIOAPI(root + CRIO_SOCKET)
