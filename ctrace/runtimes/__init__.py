"""Container names and images from the runtimes' own metadata: one module
per runtime (docker, podman, crio, containerd, cgroup_named for LXC and
nspawn), each a ctrace.runtimes.model.Runtime, and this table of them.

Each reads its runtime's state files first, which the runtime writes
before the container's first process runs (followed with inotify by one
ctrace.runtimes.watch.StateWatcher, so that a container that lives for a
millisecond is named), and its API second (ctrace.runtimes.http).  Every
API call has a short timeout: the event loop may wait for a lookup, but
never long, and an unreachable runtime only costs the name, never the id.
"""

import os

from ctrace.runtimes.cgroup_named import LXC, Nspawn
from ctrace.runtimes.containerd import CONTAINERD_DATABASES, CONTAINERD_TASK_ROOTS, Containerd
from ctrace.runtimes.crio import CRIO, CRIO_SOCKET
from ctrace.runtimes.docker import DOCKER_CONTAINERS, DOCKER_SOCKET, Docker
from ctrace.runtimes.podman import CONTAINERS_STORAGE, PODMAN_SOCKET, ContainersStorage, Podman


def runtimes(root=""):
    """Every runtime ctrace reads, by name, in the order they are asked;
    ROOT: a prefix to their paths (a fake host's, for tests).  podman and
    CRI-O share containers/storage: one reader, followed once."""
    storage = ContainersStorage(tuple(root + r for r in CONTAINERS_STORAGE))
    table = (Docker(root), Podman(root, storage), CRIO(root, storage), Containerd(root),
             LXC(), Nspawn())
    return {runtime.name: runtime for runtime in table}


# Runtimes whose cgroup is named after the container.
NAMED_BY_CGROUP = frozenset(r.name for r in (LXC, Nspawn) if r.named_by_cgroup)

# Every host path the runtimes are read from: deploy/ mounts them all
# (tests/test_deploy.py checks).
STATE_PATHS = ((DOCKER_SOCKET, PODMAN_SOCKET, CRIO_SOCKET) + CONTAINERD_TASK_ROOTS +
               tuple(os.path.dirname(db) for db in CONTAINERD_DATABASES) +
               DOCKER_CONTAINERS + CONTAINERS_STORAGE)
