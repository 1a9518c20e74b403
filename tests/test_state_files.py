"""Containers named from the runtimes' own state on disk (issue 19): fake
state directories laid out as Docker, podman, CRI-O and containerd lay
them out, read without a runtime, an API or a thread; the Registry's
queue (watchers only queue, the tool's thread applies); a host without
any runtime: no warning."""

import json
import os
import struct

import pytest

from ctrace import bolt
from ctrace.registry import Registry
from ctrace.runtimes.containerd import (CONTAINERD_DATABASES, CONTAINERD_TASK_ROOTS,
                                        ContainerdState)
from ctrace.runtimes.docker import DOCKER_CONTAINERS, DockerState
from ctrace.runtimes.model import ContainerInfo, Pod
from ctrace.runtimes.podman import CONTAINERS_STORAGE, ContainersStorage
from ctrace.runtimes.watch import StateWatcher
from test_registry import Event, Names

ID = "0123456789abcdef" * 4
OTHER = "fedcba9876543210" * 4
UID = "1b2c3d4e-0000-1111-2222-333344445555"
STORAGE = CONTAINERS_STORAGE[0]


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(data if isinstance(data, str) else json.dumps(data))


def docker_container(root, cid, name, image="ctrace-test:latest", labels=None, running=0,
                     parent=""):
    """ROOT/var/lib/docker/containers/CID as dockerd writes it at create."""
    d = root + DOCKER_CONTAINERS[0] + "/" + cid
    write(d + "/config.v2.json", {
        "ID": cid, "Name": "/" + name, "Driver": "overlay2",
        "State": {"Running": bool(running), "Pid": running},
        "Config": {"Image": image, "Labels": labels or {}, "Hostname": cid[:12]}})
    write(d + "/hostconfig.json", {"CgroupParent": parent})
    return d + "/config.v2.json"


def podman_entry(cid, name, image="localhost/ctrace-test:latest"):
    """One entry of containers.json as podman 4 writes it."""
    meta = {"image-name": image, "image-id": "65" * 32, "name": name, "created-at": 1796517751}
    return {"id": cid, "names": [name], "image": "65" * 32, "layer": "a8" * 32,
            "metadata": json.dumps(meta), "created": "2026-12-06T00:42:31Z",
            "flags": {"MountLabel": "", "ProcessLabel": ""}}


def crio_entry(cid, pod="web-5d8", container="app"):
    meta = {"pod-name": pod, "pod-id": "aa" * 32, "image-name": "docker.io/library/nginx:1",
            "image-id": "bb" * 32, "name": "k8s_%s_%s_shop_%s_0" % (container, pod, UID),
            "metadata-name": container, "created-at": 1796517751}
    return {"id": cid, "names": [meta["name"]], "metadata": json.dumps(meta)}


def crio_spec(cid):
    labels = {"io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "web-5d8",
              "io.kubernetes.pod.uid": UID, "io.kubernetes.container.name": "app"}
    return {"annotations": {"io.container.manager": "cri-o",
                            "io.kubernetes.cri-o.Labels": json.dumps(labels),
                            "io.kubernetes.cri-o.ContainerType": "container",
                            "io.kubernetes.cri-o.ImageName": "docker.io/library/nginx:1"},
            "linux": {"cgroupsPath": "kubepods-besteffort-pod%s.slice:crio:%s"
                      % (UID.replace("-", "_"), cid)}}


def podman_spec(cid):
    return {"annotations": {"io.container.manager": "libpod",
                            "io.kubernetes.cri-o.TTY": "false",       # podman's too
                            "io.podman.annotations.autoremove": "TRUE"},
            "linux": {"cgroupsPath": "/libpod_parent/libpod-" + cid}}


# -- Docker -----------------------------------------------------------------------

def test_docker_config_v2(tmp_path):
    root = str(tmp_path)
    labels = {"io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "web-5d8",
              "io.kubernetes.pod.uid": UID, "io.kubernetes.container.name": "app"}
    path = docker_container(root, ID, "k8s_app", labels=labels, running=4242,
                            parent="/kubepods/besteffort/pod" + UID)
    state = DockerState((root + DOCKER_CONTAINERS[0],))
    info, = state.read(path)
    assert (info.runtime, info.id, info.name, info.image, info.pid) == \
        ("docker", ID, "k8s_app", "ctrace-test:latest", 4242)
    assert info.pod == Pod("shop", "web-5d8", UID, "app", False)
    assert info.cgroup == "/kubepods/besteffort/pod%s/%s" % (UID, ID)
    assert state.inspect(ID).name == "k8s_app"
    assert state.inspect(OTHER) is None and state.inspect("../" + ID) is None
    write(path, "{half a file")
    assert state.read(path) == [] and state.inspect(ID) is None


# -- containers/storage: podman and CRI-O -----------------------------------------

def test_containers_storage_podman_and_crio(tmp_path):
    root = str(tmp_path) + STORAGE
    write(root + "/containers.json", [podman_entry(ID, "web"), crio_entry(OTHER), {"id": 5},
                                      "garbage", {"id": "ab" * 32, "metadata": "{not json"}])
    write(root + "/%s/userdata/config.json" % ID, podman_spec(ID))
    write(root + "/%s/userdata/config.json" % OTHER, crio_spec(OTHER))
    storage = ContainersStorage((root,))
    listed = {i.id: i for i in storage.read(root + "/containers.json")}
    assert (listed[ID].runtime, listed[ID].name, listed[ID].image) == \
        ("podman", "web", "localhost/ctrace-test:latest")
    assert (listed[OTHER].runtime, listed[OTHER].name) == ("cri-o", "app")
    assert listed["ab" * 32].runtime == "podman" and listed["ab" * 32].name == ""
    spec, = storage.read(root + "/%s/userdata/config.json" % ID)
    assert (spec.runtime, spec.cgroup) == ("podman", "/libpod_parent/libpod-" + ID)
    crio, = storage.read(root + "/%s/userdata/config.json" % OTHER)
    assert (crio.runtime, crio.name, crio.image) == ("cri-o", "app", "docker.io/library/nginx:1")
    assert crio.pod == Pod("shop", "web-5d8", UID, "app", False)
    assert crio.cgroup.endswith("/crio-%s.scope" % OTHER)
    both = storage.inspect(OTHER)           # the entry's names, the spec's pod
    assert (both.runtime, both.name, both.pod.namespace) == ("cri-o", "app", "shop")
    assert storage.inspect(ID).cgroup == "/libpod_parent/libpod-" + ID
    assert storage.inspect("cd" * 32) is None


# -- containerd: bundles, and the image from its bbolt database ---------------------

PAGE = 4096


def _page(pgid, flags, elements, shape, payloads):
    """A bbolt page: header, elements (each one's pos relative to itself),
    then the keys and values."""
    head = struct.pack("<QHHI", pgid, flags, len(elements), 0)
    table, data = b"", b""
    start = 16 + shape.size * len(elements)
    for i, (fields, payload) in enumerate(zip(elements, payloads)):
        pos = start + len(data) - (16 + shape.size * i)
        table += shape.pack(*fields(pos))
        data += payload
    return head + table + data


def leaf(pgid, items):
    """ITEMS: (key, value, is_bucket)."""
    shape = struct.Struct("<IIII")
    return _page(pgid, 0x02, [lambda pos, k=k, v=v, b=b: (int(b), pos, len(k), len(v))
                              for k, v, b in items], shape, [k + v for k, v, _ in items])


def branch(pgid, items):
    """ITEMS: (first key, child page)."""
    shape = struct.Struct("<IIQ")
    return _page(pgid, 0x01, [lambda pos, k=k, c=c: (pos, len(k), c) for k, c in items],
                 shape, [k for k, _ in items])


def bucket(root, inline=b""):
    return struct.pack("<QQ", root, 0) + inline


def meta(pgid, txid, root, pages):
    body = struct.pack("<IIIIQQQQQ", bolt.MAGIC, 2, PAGE, 0, root, 0, 2, pages, txid)
    return struct.pack("<QHHI", pgid, 0x04, 0, 0) + body + struct.pack("<Q", bolt.fnv64a(body))


def bolt_file(path, namespace, cid, image):
    """A meta.db as containerd lays it out: v1/NAMESPACE/containers/CID/image,
    its root a branch page, buckets on pages of their own and inline."""
    box = leaf(0, [(b"image", image, False), (b"snapshotter", b"overlayfs", False)])
    pages = [meta(0, 7, 3, 9), meta(1, 6, 8, 9),      # the older meta: another root
             struct.pack("<QHHI", 2, 0x10, 0, 0),     # an empty freelist
             branch(3, [(b"a", 4), (b"v1", 5)]),
             leaf(4, [(b"a", b"x", False)]),
             leaf(5, [(b"v1", bucket(6), True)]),
             leaf(6, [(namespace, bucket(7), True)]),
             leaf(7, [(b"containers", bucket(0, leaf(0, [(cid, bucket(0, box), True)])), True)]),
             leaf(8, [])]
    with open(path, "wb") as f:
        f.write(b"".join(p.ljust(PAGE, b"\0") for p in pages))


def test_bolt_lookup(tmp_path):
    db = str(tmp_path / "meta.db")
    bolt_file(db, b"ctrace-test", b"box", b"docker.io/library/x:1")
    keys = [b"v1", b"ctrace-test", b"containers", b"box", b"image"]
    assert bolt.lookup(db, keys) == b"docker.io/library/x:1"
    assert bolt.lookup(db, [b"a"]) == b"x"
    assert bolt.lookup(db, keys[:-1]) is None                 # a bucket, not a value
    assert bolt.lookup(db, [b"v1", b"other", b"containers", b"box", b"image"]) is None
    assert bolt.lookup(str(tmp_path / "none.db"), keys) is None
    with open(db, "r+b") as f:                               # both meta pages broken
        f.write(b"\0" * 64)
        f.seek(PAGE)
        f.write(b"\0" * 64)
    assert bolt.lookup(db, keys) is None
    (tmp_path / "short.db").write_bytes(b"\x01" * 40)
    assert bolt.lookup(str(tmp_path / "short.db"), keys) is None


def test_containerd_bundle_image_from_the_database(tmp_path):
    """A ctr container: named by its id, its image from meta.db; a CRI
    container without the sandbox-uid annotation: the UID from its cgroup."""
    roots = tuple(str(tmp_path) + r for r in CONTAINERD_TASK_ROOTS)
    dbs = tuple(str(tmp_path) + d for d in CONTAINERD_DATABASES)
    write(roots[1] + "/ctrace-test/box/config.json",
          {"linux": {"cgroupsPath": "/ctrace-test/box"}})
    os.makedirs(os.path.dirname(dbs[1]))
    bolt_file(dbs[1], b"ctrace-test", b"box", b"docker.io/library/x:1")
    state = ContainerdState(roots, dbs)
    info, = state.read(roots[1] + "/ctrace-test/box/config.json")
    assert (info.name, info.image, info.cgroup) == ("box", "docker.io/library/x:1",
                                                     "/ctrace-test/box")
    assert state.task("ctrace-test", "box").image == "docker.io/library/x:1"
    write(roots[0] + "/k8s.io/%s/config.json" % ID, {
        "annotations": {"io.kubernetes.cri.sandbox-namespace": "shop",
                        "io.kubernetes.cri.sandbox-name": "web-5d8",
                        "io.kubernetes.cri.container-name": "app",
                        "io.kubernetes.cri.image-name": "nginx:1"},
        "linux": {"cgroupsPath": "/kubepods/besteffort/pod%s/%s" % (UID, ID)}})
    registry = Registry(warn=pytest.fail, root=str(tmp_path))
    registry.learn(state.inspect(ID))
    assert registry.info("containerd", ID).pod == Pod("shop", "web-5d8", UID, "app", False)


# -- the watcher, stepped by the test: no thread ------------------------------------

def test_watcher_reads_files_as_they_are_written(tmp_path):
    """A podman --rm container's files: read as they are written, each
    container told once per change; a root made later is picked up."""
    root = str(tmp_path) + STORAGE
    told, reports = [], []
    docker_root = str(tmp_path) + DOCKER_CONTAINERS[0]
    watcher = StateWatcher([ContainersStorage((root,)), DockerState((docker_root,))],
                           told.append, reports.append)
    watcher.RESCAN_SECONDS = 0.0
    watcher.open()
    try:
        watcher.step(0)
        os.makedirs(root)
        watcher.step(0)                                     # the root, now there
        write(root + "/.tmp-containers.json1", [podman_entry(ID, "web")])
        os.rename(root + "/.tmp-containers.json1", root + "/containers.json")
        write(root + "/%s/userdata/config.json" % ID, podman_spec(ID))
        docker_container(str(tmp_path), OTHER, "dk")
        for _ in range(5):
            watcher.step(0.1)
        assert {(i.runtime, i.id, i.name, i.image, i.cgroup) for i in told} == {
            ("podman", ID, "web", "localhost/ctrace-test:latest", ""),
            ("podman", ID, "", "", "/libpod_parent/libpod-" + ID),
            ("docker", OTHER, "dk", "ctrace-test:latest", "")}
        del told[:]
        write(root + "/containers.json", [podman_entry(ID, "web"), podman_entry(OTHER, "new")])
        watcher.step(0.1)
        assert [(i.id, i.name) for i in told] == [(OTHER, "new")]     # ID: unchanged
        assert reports == []
    finally:
        watcher._inotify.close()


def test_watcher_reports_an_error_and_goes_on(tmp_path):
    class Broken(DockerState):
        def read(self, path):
            raise KeyError("surprise")
    docker_container(str(tmp_path / "a"), ID, "a")
    docker_container(str(tmp_path / "b"), ID, "b")
    docker_container(str(tmp_path / "b"), OTHER, "c")
    reports, told = [], []
    watcher = StateWatcher([Broken((str(tmp_path / "b") + DOCKER_CONTAINERS[0],)),
                            DockerState((str(tmp_path / "a") + DOCKER_CONTAINERS[0],))],
                           told.append, reports.append)
    watcher.open()
    try:
        watcher.step(0)
    finally:
        watcher._inotify.close()
    assert len(reports) == 2 and "KeyError" in reports[0]     # each file said, then the next
    assert [i.name for i in told] == ["a"]


# -- the Registry: queued news, state files first, no runtime no warning -------------

def test_news_is_applied_by_the_tool_thread(tmp_path):
    registry = Registry(warn=pytest.fail, root=str(tmp_path))
    registry._names_map = Names({7: ("libpod-" + ID, "libpod_parent")})
    learnt = registry.containers.put
    learnt(ContainerInfo("podman", ID, "web", "img"), "")
    assert ("podman", ID) not in registry.containers            # queued only
    c = registry.resolve(Event(7, 4026532999))
    assert (c.runtime, c.name, c.image) == ("podman", "web", "img")
    learnt(ContainerInfo("podman", ID, "renamed"), "rename")
    registry.apply_pending()                                # as between two polls
    assert c.label == "renamed" and c.image == "img"


def test_named_from_state_files_without_any_api(tmp_path):
    root = str(tmp_path)
    docker_container(root, ID, "from-file")
    write(root + STORAGE + "/containers.json", [podman_entry(OTHER, "pm")])
    registry = Registry(warn=pytest.fail, root=root)
    registry._names_map = Names({7: (ID, "docker"), 8: ("libpod-" + OTHER, "libpod_parent")})
    assert registry.resolve(Event(7, 4026532999)).name == "from-file"
    assert registry.resolve(Event(8, 4026532999)).image == "localhost/ctrace-test:latest"


def test_no_runtime_no_warning(tmp_path, monkeypatch):
    """A host with no runtime at all (every socket and state directory
    missing): the watchers start and stop, containers are named by id, and
    nothing is said."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    warnings = []
    registry = Registry(warn=warnings.append, root=str(tmp_path))
    registry._names_map = Names({7: (ID, "docker"), 8: ("libpod-" + OTHER, "libpod_parent"),
                                 9: ("crio-%s.scope" % ID, "kubepods.slice")})
    registry.start()
    try:
        for cgroup in (7, 8, 9):
            c = registry.resolve(Event(cgroup, 4026532999))
            assert c.kind == "runtime" and c.name == ""
        assert registry.owner_of_file("/var/lib/x") is None
    finally:
        registry.stop()
    registry.apply_pending()
    assert warnings == []
    assert {w.name for w in registry._watchers} == {"ctrace-docker-events", "ctrace-state-files"}


def test_watcher_says_when_it_cannot_watch(tmp_path):
    """Out of inotify watches: said (with the setting to raise), not silent;
    a directory gone meanwhile: nothing to say."""
    import errno
    docker_container(str(tmp_path), ID, "a")
    reports = []
    watcher = StateWatcher([DockerState((str(tmp_path) + DOCKER_CONTAINERS[0],))],
                           lambda info: None, reports.append)
    watcher.open()
    real = watcher._inotify.watch

    def full(path, mask):
        if path.endswith(ID):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(path, mask)
    watcher._inotify.watch = full
    try:
        watcher.step(0)
        assert len(reports) == 1 and "max_user_watches" in reports[0]
        watcher._added(watcher.sources[0], 1, str(tmp_path / "gone"))
        assert len(reports) == 1
    finally:
        watcher._inotify.close()
