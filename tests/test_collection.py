"""The one collection of containers (ctrace.collection) and its
subscribers, without threads and without a runtime: a fake host's state
directory (the runtimes' files as they lay them out), its StateWatcher
stepped by the test, and the collection's queue applied as the tool's
thread applies it.  Then each runtime module (ctrace.runtimes.*) through
the one interface the Registry asks it by."""

import os

import pytest

from ctrace import tool
from ctrace.collection import Collection
from ctrace.containers import Container
from ctrace.registry import Registry
from ctrace.runtimes import runtimes
from ctrace.runtimes.containerd import CONTAINERD_TASK_ROOTS
from ctrace.runtimes.model import ContainerInfo, Pod
from ctrace.runtimes.watch import StateWatcher
from ctrace.selection import Selection
from test_state_files import (ID, OTHER, STORAGE, UID, crio_entry, crio_spec, docker_container,
                              podman_entry, podman_spec, write)

MNTNS = os.stat("/proc/self/ns/mnt").st_ino      # a real mount namespace: this test's


class Heard:
    """A subscriber that writes down what it hears: (kind, id, action, mntns)."""

    def __init__(self, collection):
        self.heard = []
        collection.subscribe(added=self.hear("added"), changed=self.hear("changed"),
                             removed=self.hear("removed"))

    def hear(self, kind):
        return lambda c: self.heard.append((kind, c.info.id, c.action, tuple(c.mntns)))


def stepped_watcher(registry):
    """The registry's runtimes' state files, followed by a StateWatcher the
    test steps: what it reads goes to the collection's queue."""
    files = [r.files for r in registry.runtimes.values() if r.files is not None]
    watcher = StateWatcher(list(dict.fromkeys(files)), registry.containers.put, pytest.fail)
    watcher.RESCAN_SECONDS = 0.0
    watcher.open()
    return watcher


# -- the collection: learnt, subscribers told ---------------------------------------

def test_subscribers_hear_added_changed_removed():
    said = []
    collection = Collection(said.append)
    heard = Heard(collection)
    first = collection.learn(ContainerInfo("docker", ID, "web", "img"), "create")
    collection.learn(ContainerInfo("docker", ID, pid=os.getpid()), "start")
    collection.learn(ContainerInfo("docker", ID, "renamed"), "rename")
    assert collection.by_mntns(MNTNS) is first
    collection.learn(ContainerInfo("docker", ID), "die")
    assert heard.heard == [("added", ID, "create", ()),
                           ("changed", ID, "start", (MNTNS,)),
                           ("changed", ID, "rename", ()),
                           ("removed", ID, "die", (MNTNS,))]
    # one object throughout (events hold it), no longer by its namespace
    assert collection.get("docker", ID) is first and first.name == "renamed"
    assert collection.by_mntns(MNTNS) is None and first.pid == 0
    assert said == []


def test_a_failing_subscriber_is_said_once_and_the_others_hear():
    said = []
    collection = Collection(said.append)
    collection.subscribe(added=lambda c: 1 / 0, changed=lambda c: 1 / 0)
    heard = Heard(collection)
    collection.learn(ContainerInfo("podman", ID, "a"))
    collection.learn(ContainerInfo("podman", ID, "b"))
    assert [h[0] for h in heard.heard] == ["added", "changed"]
    assert len(said) == 2 and all("ZeroDivisionError" in s for s in said)


def test_owner_columns_are_kept_while_named_and_dropped_when_anything_is_learnt():
    """ctrace.tool.OwnerColumns: a table line's owner columns, made once per
    key while the container is named; anything the collection learns (a
    rename) drops them all, so no line shows a stale name."""
    collection = Collection(pytest.fail)
    info = collection.learn(ContainerInfo("docker", ID, "web"))
    unnamed = Container("runtime", "docker", OTHER, ContainerInfo("docker", OTHER))
    made = []

    def make(key):
        cid, pid = key
        made.append((cid, pid))
        container = Container("runtime", "docker", ID, info) if cid == ID else unnamed
        return "%s %d" % (container.label, pid), container.final
    columns = tool.OwnerColumns(collection, make)
    assert columns[ID, 7] == "web 7" and columns[ID, 7] == "web 7"
    assert columns[ID, 8] == "web 8"
    assert made == [(ID, 7), (ID, 8)]
    # not named yet: asked again at its next event, never kept
    assert columns[OTHER, 9] == "%s 9" % OTHER[:12] and columns[OTHER, 9]
    assert made.count((OTHER, 9)) == 2 and (OTHER, 9) not in columns
    collection.learn(ContainerInfo("docker", ID, "renamed"), "rename")
    assert len(columns) == 0 and columns[ID, 7] == "renamed 7"
    # bounded: full, it starts again
    columns.LIMIT = 2
    columns[ID, 1], columns[ID, 2], columns[ID, 3]
    assert len(columns) <= 2 and columns[ID, 3] == "renamed 3"


def test_the_queue_is_applied_by_the_tool_thread_only():
    collection = Collection(pytest.fail)
    heard = Heard(collection)
    collection.put(ContainerInfo("podman", ID, "web"))      # as a watcher thread does
    queued = collection.queued(lambda a, b: heard.heard.append(("call", a, b, ())), "x")
    queued("y")
    assert heard.heard == [] and ("podman", ID) not in collection
    collection.apply_pending()
    assert heard.heard == [("added", ID, "", ()), ("call", "x", "y", ())]


# -- the Registry over a fake host's state directory ------------------------------

def test_state_files_reach_subscribers_through_the_queue(tmp_path):
    registry = Registry(warn=pytest.fail, root=str(tmp_path))
    heard = Heard(registry.containers)
    watcher = stepped_watcher(registry)
    try:
        watcher.step(0)
        docker_container(str(tmp_path), ID, "web")
        write(str(tmp_path) + STORAGE + "/containers.json", [podman_entry(OTHER, "pm")])
        for _ in range(3):
            watcher.step(0.1)
        assert heard.heard == []                            # queued, not applied
        registry.apply_pending()
        assert sorted(h[:2] for h in heard.heard) == [("added", ID), ("added", OTHER)]
        docker_container(str(tmp_path), ID, "renamed")
        watcher.step(0.1)
        registry.apply_pending()
        assert heard.heard[-1][:2] == ("changed", ID)
        assert registry.containers.get("docker", ID).name == "renamed"
    finally:
        watcher._inotify.close()


def test_pod_selection_follows_a_container_created_later(tmp_path):
    """-c shop/web-5d8: a container of the pod whose bundle is written after
    the tool started joins the selection (Registry.follow_pod)."""
    registry = Registry(warn=pytest.fail, root=str(tmp_path))
    sel = registry.find("shop/web-5d8")
    assert sel.paths == set()                               # nothing runs yet
    members = []
    registry.follow_pod(sel, lambda info: members.append(sel.add_member(info)))
    watcher = stepped_watcher(registry)
    tasks = str(tmp_path) + CONTAINERD_TASK_ROOTS[0]
    cgroup = "/kubepods/besteffort/pod%s/%s" % (UID, ID)
    try:
        os.makedirs(tasks)
        watcher.step(0)
        for cid, pod in ((OTHER, "db-0"), (ID, "web-5d8")):
            write("%s/k8s.io/%s/config.json" % (tasks, cid), {
                "annotations": {"io.kubernetes.cri.sandbox-namespace": "shop",
                                "io.kubernetes.cri.sandbox-name": pod,
                                "io.kubernetes.cri.container-name": "app"},
                "linux": {"cgroupsPath": "/kubepods/besteffort/pod%s/%s" % (UID, cid)}})
        for _ in range(4):
            watcher.step(0.1)
        registry.apply_pending()
    finally:
        watcher._inotify.close()
    assert members == [cgroup]
    assert sel.paths == {cgroup} and sel.pod_dirs == {"/kubepods/besteffort/pod" + UID}
    assert registry.containers.get("containerd", ID).pod.uid == UID     # from the cgroup


def test_container_selection_follows_a_restart(tmp_path):
    """-c web: its mount namespace leaves the filter when it dies and joins
    it when it starts again (Registry.follow)."""
    registry = Registry(warn=pytest.fail, root=str(tmp_path))
    changes = []
    registry.follow(Selection(key=("docker", ID)),
                    lambda inum, present, action: changes.append((inum, present, action)))
    registry.containers.put(ContainerInfo("docker", OTHER, "other", pid=os.getpid()), "start")
    registry.containers.put(ContainerInfo("docker", ID, "web"), "die")
    registry.containers.put(ContainerInfo("docker", ID, "web", pid=os.getpid()), "start")
    registry.apply_pending()
    assert changes == [(MNTNS, True, "start")]
    registry.containers.put(ContainerInfo("docker", ID, "web"), "die")
    registry.apply_pending()
    assert changes[-1] == (MNTNS, False, "die")


def test_awaited_hears_the_start_and_the_death(tmp_path):
    """--wait box, box a runtime without an API (ctr): matched when its
    runtime tells it runs, ended when it tells it died."""
    registry = Registry(warn=pytest.fail, root=str(tmp_path))
    awaited = registry.wait("box")
    awaited.POLL_SECONDS = 0.0
    assert not awaited.started and not awaited.ended()
    # /proc, as it would be: box's process runs until the end
    registry.scan_processes = lambda: [(os.getpid(), "containerd", "box")]
    registry.containers.put(ContainerInfo("containerd", "box", "box", pid=os.getpid()))
    assert not awaited.ended()                  # applied first: it runs now
    assert awaited.started and awaited.ids == {"box"}
    registry.containers.put(ContainerInfo("containerd", "other", "other"), "die")
    assert not awaited.ended()
    registry.containers.put(ContainerInfo("containerd", "box"), "die")
    assert awaited.ended()                      # told, before /proc says so


def test_a_dead_container_leaves_the_addresses(tmp_path):
    """containernet's peers: a container's network namespace names it while
    it runs, not after (its inum may go to another)."""
    registry = Registry(warn=pytest.fail, root=str(tmp_path))
    info = registry.learn(ContainerInfo("docker", ID, "web"))
    registry.addresses.netns_owners[4026532000] = Container("runtime", "docker", ID, info)
    assert registry.resolve_socket(0, 4026532000).name == "web"
    registry.containers.put(ContainerInfo("docker", ID), "die")
    assert registry.resolve_socket(0, 4026532000).label == "netns:4026532000"


# -- each runtime module, through the Runtime interface ---------------------------

def test_each_runtime_reads_its_own_state_files(tmp_path):
    root = str(tmp_path)
    docker_container(root, ID, "web", running=4242)
    storage = root + STORAGE
    write(storage + "/containers.json", [podman_entry(OTHER, "pm"), crio_entry("cd" * 32)])
    write(storage + "/%s/userdata/config.json" % OTHER, podman_spec(OTHER))
    write(storage + "/%s/userdata/config.json" % ("cd" * 32), crio_spec("cd" * 32))
    write(root + CONTAINERD_TASK_ROOTS[0] + "/default/box/config.json",
          {"linux": {"cgroupsPath": "/default/box"}})
    table = runtimes(root)
    assert list(table) == ["docker", "podman", "cri-o", "containerd", "lxc", "nspawn"]
    assert not any(r.has_socket() for r in table.values())
    docker = table["docker"].inspect(ID)
    assert (docker.name, docker.image, docker.pid) == ("web", "ctrace-test:latest", 4242)
    podman = table["podman"].inspect(OTHER)
    assert (podman.name, podman.cgroup) == ("pm", "/libpod_parent/libpod-" + OTHER)
    crio = table["cri-o"].inspect("cd" * 32)
    assert (crio.runtime, crio.name, crio.pod) == ("cri-o", "app",
                                                   Pod("shop", "web-5d8", UID, "app", False))
    # containers/storage holds both: each runtime tells only its own
    assert table["podman"].inspect("cd" * 32) is None and table["cri-o"].inspect(OTHER) is None
    assert table["containerd"].inspect("box").name == "box"
    assert [i.id for i in table["containerd"].list(lambda i: i.name == "box")] == ["box"]
    assert table["containerd"].task("default", "box").cgroup == "/default/box"
    # podman and CRI-O share one reader: the StateWatcher follows it once
    assert table["podman"].files is table["cri-o"].files
    for name in ("lxc", "nspawn"):
        assert table[name].named_by_cgroup and table[name].inspect("c1") is None
        assert Container("runtime", name, "c1").name == "c1"
    assert table["cri-o"].list() == [] and table["cri-o"].find("app") is None


def test_watcher_threads_leave_the_stop_signals_to_the_main_thread():
    """SIGINT/SIGTERM/SIGHUP blocked in a watcher thread (its run() begins
    so): the kernel then interrupts the main thread's wait with them, where
    Python runs their handlers."""
    import signal
    import threading
    from ctrace.threads import STOP_SIGNALS, leave_stop_signals_to_main_thread
    seen = {}

    def watcher():
        leave_stop_signals_to_main_thread()
        seen["blocked"] = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    t = threading.Thread(target=watcher)
    t.start()
    t.join()
    assert STOP_SIGNALS <= seen["blocked"]
    assert not STOP_SIGNALS & signal.pthread_sigmask(signal.SIG_BLOCK, [])
