"""podman: containers/storage's files (ContainersStorage, which CRI-O
keeps its containers in too), written before a container starts and read
without any service; then podman's Docker-compatible API service, when it
runs (socket-activated by systemd, or not there at all)."""

import json
import os

from ctrace.runtimes.docker import DockerAPI, EngineRuntime
from ctrace.runtimes.http import unix_host
from ctrace.runtimes.model import (CRIO_KEYS, HEX_ID, ContainerInfo, dict_at, pod_of,
                                   read_json, spec_cgroup, text)
from ctrace.runtimes.watch import StateFiles

PODMAN_SOCKET = "/run/podman/podman.sock"


def podman_socket():
    """podman's API service socket, as podman --remote finds it:
    CONTAINER_HOST when it is a unix:// address, else the root service's."""
    return unix_host("CONTAINER_HOST", PODMAN_SOCKET)


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
        return name == "userdata" if depth == 1 else bool(HEX_ID.match(name))

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
        if not isinstance(entry, dict) or not HEX_ID.match(text(entry.get("id"))):
            return None
        try:
            meta = json.loads(text(entry.get("metadata")) or "{}")
        except ValueError:
            meta = {}
        meta = meta if isinstance(meta, dict) else {}
        names = entry.get("names") if isinstance(entry.get("names"), list) else [""]
        crio = "pod-name" in meta or "pod-id" in meta
        name = text(meta.get("metadata-name")) if crio else ""
        return ContainerInfo("cri-o" if crio else "podman", entry["id"],
                             name or text(meta.get("name")) or text(names[0]),
                             text(meta.get("image-name")))

    @staticmethod
    def spec_info(cid, spec):
        """ContainerInfo from a container's OCI spec: its cgroup, and for
        CRI-O its pod (kubelet's labels, which CRI-O keeps in an annotation
        as JSON) and image."""
        ann = dict_at(spec, "annotations")
        if ann.get("io.container.manager") != "cri-o":
            return ContainerInfo("podman", cid, cgroup=spec_cgroup(spec, cid))
        try:
            labels = json.loads(text(ann.get("io.kubernetes.cri-o.Labels")) or "{}")
        except ValueError:
            labels = {}
        labels = labels if isinstance(labels, dict) else {}
        return ContainerInfo("cri-o", cid, text(labels.get("io.kubernetes.container.name")),
                             text(ann.get("io.kubernetes.cri-o.ImageName")),
                             pod=pod_of(CRIO_KEYS, labels, ann), cgroup=spec_cgroup(spec, cid))


class Podman(EngineRuntime):
    """podman: containers/storage (STORAGE, shared with CRI-O's module),
    then its API service if its socket is here (started on demand, or not
    at all: then its event stream is not followed)."""

    name = "podman"

    def __init__(self, root, storage):
        self.files = storage
        self.api = DockerAPI(self.name, root + podman_socket())

    def watchers(self, put, said):
        return super().watchers(put, said) if self.has_socket() else []
