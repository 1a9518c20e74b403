"""containerd: each running task's OCI bundle under /run (its annotations
name what the CRI plugin and nerdctl made; a ctr container is named by its
id), its image from containerd's metadata database (ctrace.bolt).  No API
is asked: the bundle is there before the task's first process runs."""

import glob
import os

from ctrace import bolt
from ctrace.runtimes.model import (CRI_CONTAINERD_KEYS, HEX_ID, ContainerInfo, Runtime,
                                   dict_at, pod_of, read_json, spec_cgroup, text)
from ctrace.runtimes.watch import StateFiles


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
        ann = dict_at(spec, "annotations")
        pod = pod_of(CRI_CONTAINERD_KEYS, ann)
        name = text(ann.get("io.kubernetes.cri.container-name")) or text(ann.get("nerdctl/name"))
        if pod is not None:
            name = "%s/%s" % (pod.name, name or "POD")
        if not name and not HEX_ID.match(cid):
            name = cid
        return ContainerInfo(self.runtime, cid, name,
                             text(ann.get("io.kubernetes.cri.image-name")), pod=pod,
                             cgroup=spec_cgroup(spec, cid))


class Containerd(Runtime):
    """containerd, from its bundles only.  Also tells whose a bare id's
    cgroup is (dockers) and the task of a /NAMESPACE/ID cgroup (task)."""

    name = "containerd"

    def __init__(self, root=""):
        self.files = ContainerdState(tuple(root + r for r in CONTAINERD_TASK_ROOTS),
                                     tuple(root + d for d in CONTAINERD_DATABASES))

    def list(self, wanted=None, running=False):
        return [info for info in self.files.list() if wanted is None or wanted(info)]

    def dockers(self, cid):
        return self.files.dockers(cid)

    def task(self, namespace, cid):
        return self.files.task(namespace, cid)
