"""Kubernetes pod identity from the node alone (issue 12): the k8s_* fields
from containerd's bundles (the CRI plugin's annotations), Docker's labels
(cri-dockerd's) and CRI-O's, and the kubepods cgroup; POD/CONTAINER in the
table; -c NAMESPACE/POD[/CONTAINER] in the kernel, following the pod's
containers as they are recreated.

The integration tests make containers the way kubelet's runtimes make them,
without kubelet: `ctr -n k8s.io run` with the CRI plugin's annotations and a
/kubepods/besteffort/pod<UID>/<ID> cgroup, and `docker run` with
cri-dockerd's labels and --cgroup-parent /kubepods/besteffort/pod<UID>."""

import json
import os
import shutil
import subprocess
import threading
import uuid

import pytest

from conftest import IMAGE, ctr_command, docker, unique
from ctrace.cgroups import parse_cgroup, pod_dir, pod_uid, runtime_cgroup_path
from ctrace.containers import CONTAINER_FIELDS, Container, pod_ref, ref_matches
from ctrace.registry import Registry
from ctrace.runtimes.containerd import ContainerdState
from ctrace.runtimes.crio import CRIOAPI
from ctrace.runtimes.docker import DockerAPI, DockerWatcher
from ctrace.runtimes.model import (CRI_CONTAINERD_KEYS, DOCKERSHIM_KEYS, ContainerInfo, Pod,
                                   pod_of)
from ctrace.runtimes.watch import StateWatcher
from ctrace.selection import Selection
from test_registry import Event, Names

CTR_IMAGE = "docker.io/library/" + IMAGE
UID = "1b2c3d4e-0000-1111-2222-333344445555"
ID = "0123456789abcdef" * 4
OTHER = "fedcba9876543210" * 4
CGROUP2 = "/sys/fs/cgroup/unified" if os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers") \
    else "/sys/fs/cgroup"


# -- pure logic -----------------------------------------------------------------

def cri_annotations(ns="shop", pod="web-5d8", uid=UID, name="app", kind="container"):
    ann = {"io.kubernetes.cri.sandbox-namespace": ns, "io.kubernetes.cri.sandbox-name": pod,
           "io.kubernetes.cri.sandbox-uid": uid, "io.kubernetes.cri.container-type": kind}
    if name:
        ann["io.kubernetes.cri.container-name"] = name
    return ann


def test_containerd_cri_annotations():
    spec = {"annotations": cri_annotations(), "linux": {"cgroupsPath": "/kubepods/besteffort/pod%s/%s"
                                                       % (UID, ID)}}
    info = ContainerdState().info_of(ID, spec)
    assert info.pod == Pod("shop", "web-5d8", UID, "app", False)
    assert info.name == "web-5d8/app"
    assert info.cgroup == "/kubepods/besteffort/pod%s/%s" % (UID, ID)
    sandbox = ContainerdState().info_of(ID, {"annotations": cri_annotations(name="", kind="sandbox")})
    assert sandbox.pod == Pod("shop", "web-5d8", UID, "", True)
    # The older key for a sandbox, and a systemd cgroupsPath (not a path).
    old = dict(cri_annotations(name="", kind=""), **{"io.cri-containerd.kind": "sandbox"})
    info = ContainerdState().info_of(ID, {"annotations": old,
                                          "linux": {"cgroupsPath": "kubepods.slice:cri-containerd:x"}})
    assert info.pod.sandbox and info.cgroup == "/kubepods.slice/cri-containerd-x.scope"


def test_not_kubernetes_has_no_pod():
    assert ContainerdState().info_of("box", {"annotations": {"nerdctl/name": "box"}}).pod is None
    assert pod_of(CRI_CONTAINERD_KEYS, {"io.kubernetes.cri.sandbox-name": "p"}) is None
    assert pod_of(DOCKERSHIM_KEYS, None, "garbage", {"io.kubernetes.pod.name": 5}) is None


def test_docker_labels_of_cri_dockerd():
    labels = {"io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "web-5d8",
              "io.kubernetes.pod.uid": UID, "io.kubernetes.container.name": "app",
              "io.kubernetes.docker.type": "container"}
    assert pod_of(DOCKERSHIM_KEYS, labels) == Pod("shop", "web-5d8", UID, "app", False)
    sandbox = dict(labels, **{"io.kubernetes.docker.type": "podsandbox"})
    del sandbox["io.kubernetes.container.name"]
    assert pod_of(DOCKERSHIM_KEYS, sandbox) == Pod("shop", "web-5d8", UID, "", True)


def test_docker_event_attributes_carry_the_labels():
    """A container gone before its event is read is named from its create
    event, whose attributes hold its labels."""
    learnt = []
    watcher = DockerWatcher(type("API", (), {"runtime": "docker"})(),
                            lambda info, action: learnt.append((info, action)), None)
    watcher.api.inspect = lambda cid: None
    watcher._handle({"Action": "destroy", "Actor": {"ID": ID, "Attributes": {
        "name": "k8s_app_web-5d8_shop_%s_0" % UID, "image": "img",
        "io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "web-5d8",
        "io.kubernetes.pod.uid": UID, "io.kubernetes.container.name": "app"}}})
    (info, action), = learnt
    assert action == "destroy" and info.pod == Pod("shop", "web-5d8", UID, "app", False)


def test_crio_labels_and_annotations():
    data = {"name": "k8s_app", "pid": 42, "image": "img",
            "labels": {"io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "web-5d8",
                       "io.kubernetes.pod.uid": UID, "io.kubernetes.container.name": "app"},
            "annotations": {"io.kubernetes.cri-o.ContainerType": "container"}}
    info = CRIOAPI().info_of(ID, data)
    assert (info.name, info.pid) == ("app", 42)
    assert info.pod == Pod("shop", "web-5d8", UID, "app", False)
    data["annotations"]["io.kubernetes.cri-o.ContainerType"] = "sandbox"
    assert CRIOAPI().info_of(ID, data).pod.sandbox


@pytest.mark.parametrize("leaf,parent,uid", [
    (ID, "pod" + UID, UID),                                                # cgroupfs
    ("cri-containerd-%s.scope" % ID, "kubepods-besteffort-pod%s.slice" % UID.replace("-", "_"), UID),
    ("crio-%s.scope" % ID, "kubepods-pod%s.slice" % UID.replace("-", "_"), UID),   # guaranteed
    ("kubepods-burstable-pod%s.slice:cri-containerd:%s" % (UID.replace("-", "_"), ID), "", UID),
    (ID, "docker", ""),
    (ID, "podnotauid", ""),
    ("", "", ""),
])
def test_pod_uid_from_the_cgroup(leaf, parent, uid):
    assert pod_uid(leaf, parent) == uid


def test_pod_cgroup_of_a_container_cgroup():
    assert pod_dir("/kubepods/besteffort/pod%s/%s" % (UID, ID)) == "/kubepods/besteffort/pod" + UID
    systemd = "/kubepods.slice/kubepods-pod%s.slice" % UID.replace("-", "_")
    assert pod_dir(systemd + "/cri-containerd-%s.scope" % ID) == systemd
    assert pod_dir("/docker/" + ID) == "" and pod_dir("") == "" and pod_dir("/") == ""
    # Docker's id under a pod's cgroup: the cgroup alone says containerd,
    # the Registry asks which runtime told of it.
    assert parse_cgroup(ID, "pod" + UID) == ("containerd", ID)


def test_container_cgroup_from_what_the_runtime_was_given():
    """A bundle's linux.cgroupsPath, Docker's CgroupParent: where the
    container's cgroup will be, before it runs (for -c NAMESPACE/POD)."""
    slice_ = "kubepods-besteffort-pod%s.slice" % UID.replace("-", "_")
    systemd = "/kubepods.slice/kubepods-besteffort.slice/" + slice_
    assert runtime_cgroup_path("%s:cri-containerd:%s" % (slice_, ID), "", ID) == \
        "%s/cri-containerd-%s.scope" % (systemd, ID)
    assert runtime_cgroup_path(slice_, "docker", ID) == "%s/docker-%s.scope" % (systemd, ID)
    assert pod_dir(runtime_cgroup_path(slice_, "docker", ID)) == systemd
    assert runtime_cgroup_path("/kubepods/besteffort/pod%s/%s/" % (UID, ID), "", ID) == \
        "/kubepods/besteffort/pod%s/%s" % (UID, ID)
    for bad in ("", "a:b", "x.slice:a:", "web", "a--b.slice:p:n"):
        assert runtime_cgroup_path(bad, "", ID) == ""
    docker_inspect = {"Id": ID, "Name": "/k8s_app", "Config": {"Labels": {}},
                      "HostConfig": {"CgroupParent": "/kubepods/besteffort/pod" + UID}}
    api = DockerAPI("docker", "/nonexistent")
    api._inspect = lambda ref: docker_inspect
    assert api.inspect(ID).cgroup == "/kubepods/besteffort/pod%s/%s" % (UID, ID)
    docker_inspect["HostConfig"]["CgroupParent"] = ""
    assert api.inspect(ID).cgroup == ""


def container(pod, runtime="containerd", name="web-5d8/app"):
    return Container("runtime", runtime, ID, ContainerInfo(runtime, ID, name, pod=pod))


def test_labels_and_fields():
    c = container(Pod("shop", "web-5d8", UID, "app"))
    assert (c.label, c.wide_label) == ("web-5d8/app", "shop/web-5d8/app")
    f = c.fields()
    assert tuple(f) == CONTAINER_FIELDS
    assert (f["container"], f["k8s_namespace"], f["k8s_pod"], f["k8s_pod_uid"],
            f["k8s_container"], f["k8s_sandbox"]) == \
        ("shop/web-5d8/app", "shop", "web-5d8", UID, "app", False)
    pause = container(Pod("shop", "web-5d8", UID, "", True), name="web-5d8/POD")
    assert pause.label == "web-5d8/(sandbox)"
    assert (pause.fields()["k8s_container"], pause.fields()["k8s_sandbox"]) == (None, True)
    # Only the UID (from the cgroup, before the runtime answers).
    partial = container(Pod(uid=UID), name="")
    assert partial.label == ID[:12]
    assert [partial.fields()[k] for k in CONTAINER_FIELDS[6:]] == [None, None, UID, None, None]
    plain = container(None, "docker", "web")
    assert plain.label == plain.wide_label == "web"
    assert [plain.fields()[k] for k in CONTAINER_FIELDS[6:]] == [None] * 5


def test_pod_references():
    assert pod_ref("shop/web-5d8") == ("shop", "web-5d8", None)
    assert pod_ref("shop/web-5d8/app") == ("shop", "web-5d8", "app")
    for ref in ("web", "shop/", "/web", "a/b/c/d", "shop//app", "mntns:1"):
        assert pod_ref(ref) is None
    app = container(Pod("shop", "web-5d8", UID, "app"))
    pause = container(Pod("shop", "web-5d8", UID, "", True))
    other = container(Pod("shop", "web-6e9", UID, "app"))
    assert ref_matches("shop/web-5d8", app) and ref_matches("shop/web-5d8", pause)
    assert ref_matches("shop/web-5d8/app", app) and not ref_matches("shop/web-5d8/app", pause)
    assert not ref_matches("shop/web-5d8", other) and not ref_matches("other/web-5d8", app)


# -- the Registry: cgroup, bundle watcher, Docker under a pod ----------------------

@pytest.fixture
def registry(tmp_path):
    r = Registry(warn=lambda msg: None, root=str(tmp_path / "host"))
    r.runtime("containerd").files = ContainerdState(roots=(str(tmp_path / "tasks"),))
    r._names_map = Names({5: (ID, "pod" + UID), 6: (OTHER, "pod" + UID)})
    return r


def test_pod_uid_before_the_runtime_answers(registry):
    c = registry.resolve(Event(5, 4026532999))
    assert (c.runtime, c.id, c.label) == ("containerd", ID, ID[:12])
    f = c.fields()
    assert (f["k8s_pod_uid"], f["k8s_pod"], f["k8s_namespace"]) == (UID, None, None)


def write_bundle(root, namespace, cid, annotations):
    os.makedirs(os.path.join(root, namespace, cid))
    with open(os.path.join(root, namespace, cid, "config.json"), "w") as f:
        json.dump({"annotations": annotations,
                   "linux": {"cgroupsPath": "/kubepods/besteffort/pod%s/%s" % (UID, cid)}}, f)


def test_bundle_watcher_names_a_container_after_its_bundle_is_gone(registry, tmp_path):
    """The bundle is read as it is written (inotify), and what it said
    outlives it."""
    root = registry.runtime("containerd").files.roots[0]
    os.makedirs(os.path.join(root, "k8s.io"))
    learnt = threading.Event()
    watcher = StateWatcher([registry.runtime("containerd").files],
                           lambda info: (registry.learn(info), learnt.set()), pytest.fail)
    watcher.start()
    try:
        assert watcher.tried.wait(10)
        write_bundle(root, "k8s.io", ID, cri_annotations())
        assert learnt.wait(10), "the new bundle was not read"
        shutil.rmtree(os.path.join(root, "k8s.io", ID))
        c = registry.resolve(Event(5, 4026532999))
        assert (c.label, c.wide_label, c.fields()["k8s_container"]) == \
            ("web-5d8/app", "shop/web-5d8/app", "app")
        # a namespace made after the start, and Docker's own tasks left out
        learnt.clear()
        write_bundle(root, "moby", OTHER, cri_annotations(pod="not-read"))
        write_bundle(root, "later", OTHER, cri_annotations(pod="db-0"))
        assert learnt.wait(10)
        assert registry.info("containerd", OTHER).pod.name == "db-0"
    finally:
        watcher.stop.set()
        watcher.join(10)


def test_docker_container_under_a_pod_cgroup_is_dockers(registry):
    """cri-dockerd: a bare id under pod<UID> looks like containerd's; Docker
    told of it, so it is Docker's."""
    pod = Pod("shop", "web-5d8", UID, "app")
    registry.learn(ContainerInfo("docker", ID, "k8s_app_web-5d8_shop_%s_0" % UID, pod=pod),
                    "create")
    c = registry.resolve(Event(5, 4026532999))
    assert (c.runtime, c.label, c.fields()["k8s_pod_uid"]) == ("docker", "web-5d8/app", UID)


def test_pod_followers_hear_of_new_containers(registry):
    sel = Selection(pod=("shop", "web-5d8", None))
    heard = []
    registry.follow_pod(sel, heard.append)
    cgroup = "/kubepods/besteffort/pod%s/%s" % (UID, ID)
    registry.learn(ContainerInfo("containerd", OTHER, pod=Pod("shop", "db-0", UID, "x")))
    registry.learn(ContainerInfo("containerd", ID, pod=Pod("shop", "web-5d8", UID, "app"),
                                  cgroup=cgroup))
    assert [i.id for i in heard] == [ID]
    assert sel.add_member(heard[0]) == cgroup
    assert sel.pod_dirs == {"/kubepods/besteffort/pod" + UID}
    one = Selection(pod=("shop", "web-5d8", "app"))
    one.add_member(heard[0])
    assert one.paths == {cgroup} and one.pod_dirs == set()


# -- real containerd and Docker ------------------------------------------------------

pod_tests = pytest.mark.integration


class K8sContainers:
    """Containers shaped as kubelet's runtimes shape them; their cgroups
    (and the pods' cgroups the runtimes leave) removed at the end."""

    def __init__(self, ctr):
        self.base = ctr
        self.ctr_ids = []
        self.docker_names = []
        self.pod_dirs = set()

    def ctr(self, *args):
        return subprocess.run(self.base + list(args), capture_output=True, text=True,
                              timeout=120)

    def run_ctr(self, ns, pod, uid, name, *cmd, kind="container", annotate_uid=True):
        """ctr -n k8s.io run --rm: returns once the container has exited
        (and its bundle is gone).  ANNOTATE_UID false: the pod's UID only
        in the cgroup path, as an older CRI plugin writes it."""
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        self.ctr_ids.append(cid)
        self.pod_dirs.add("/kubepods/besteffort/pod" + uid)
        args = ["run", "--rm", "--cgroup", "/kubepods/besteffort/pod%s/%s" % (uid, cid)]
        for k, v in cri_annotations(ns, pod, uid if annotate_uid else "", name, kind).items():
            if v:
                args += ["--annotation", "%s=%s" % (k, v)]
        r = self.ctr(*(args + [CTR_IMAGE, cid] + list(cmd)))
        assert r.returncode == 0, r.stderr
        return cid, r.stdout

    def run_docker(self, ns, pod, uid, name, *cmd):
        cname = unique("k8s")
        self.docker_names.append(cname)
        self.pod_dirs.add("/kubepods/besteffort/pod" + uid)
        labels = {"io.kubernetes.pod.namespace": ns, "io.kubernetes.pod.name": pod,
                  "io.kubernetes.pod.uid": uid, "io.kubernetes.container.name": name,
                  "io.kubernetes.docker.type": "container"}
        args = ["run", "--rm", "--name", cname, "--network", "none",
                "--cgroup-parent", "/kubepods/besteffort/pod" + uid]
        for k, v in labels.items():
            args += ["--label", "%s=%s" % (k, v)]
        docker(*(args + [IMAGE] + list(cmd)))
        return cname

    def cleanup(self):
        for cid in self.ctr_ids:
            self.ctr("task", "delete", "-f", cid)
            self.ctr("container", "delete", cid)
        if self.docker_names:
            docker("rm", "-f", *self.docker_names, check=False)
        # Every hierarchy the runtimes made the pods' cgroups in.
        for path in self.pod_dirs:
            for root in [os.path.join("/sys/fs/cgroup", h) for h in os.listdir("/sys/fs/cgroup")]:
                for d in (root + path, os.path.dirname(root + path)):
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass


@pytest.fixture(scope="session")
def ctr_base(docker_ok):
    return ctr_command("k8s.io")


@pytest.fixture
def k8s(ctr_base):
    c = K8sContainers(ctr_base)
    yield c
    c.cleanup()


def new_uid():
    return str(uuid.uuid4())


def exec_of(t, args):
    return t.wait_for(lambda e: e["event"] == "exec" and e["args"] == args,
                      what="the exec of %r" % (args,))


@pod_tests
def test_containerd_pod_container_exited_before_its_event_is_read(tool, k8s):
    """The bundle is removed as the container exits; its identity was
    learnt when the bundle was written.  In -s mode the row is read every
    second, after the container has gone."""
    uid, ns, pod = new_uid(), unique("ns"), unique("web")
    events = tool("containerexec", "-j")
    summary = tool("containeropen", "-j", "-s", "1", "--rows", "0")
    cid, out = k8s.run_ctr(ns, pod, uid, "app", "cat", "/etc/hostname")
    assert not any(os.path.exists(os.path.join(r, "k8s.io", cid))
                   for r in ContainerdState().roots)           # gone
    ev = exec_of(events, ["cat", "/etc/hostname"])
    want = {"k8s_namespace": ns, "k8s_pod": pod, "k8s_pod_uid": uid, "k8s_container": "app",
            "k8s_sandbox": False, "container_id": cid, "container_runtime": "containerd",
            "container": "%s/%s/app" % (ns, pod)}
    assert {k: ev[k] for k in want} == want
    row = summary.wait_for(lambda e: e["event"] == "summary" and any(
        r["container_id"] == cid and r["path"] == "/etc/hostname" for r in e["rows"]),
        what="the summary row of the pod's open")
    row = next(r for r in row["rows"] if r["container_id"] == cid and r["path"] == "/etc/hostname")
    assert {k: row[k] for k in want} == want


@pod_tests
def test_docker_cri_dockerd_labels(tool, k8s):
    """docker run --rm returns once the container is removed: the -s row
    is read after that, and named from Docker's events (their labels)."""
    uid, ns, pod = new_uid(), unique("ns"), unique("db")
    t = tool("containerexec", "-j")
    summary = tool("containeropen", "-j", "-s", "1", "--rows", "0")
    name = k8s.run_docker(ns, pod, uid, "pg", "cat", "/etc/hostname")
    assert docker("inspect", name, check=False).returncode != 0      # gone
    ev = exec_of(t, ["cat", "/etc/hostname"])
    want = {"container_runtime": "docker", "container_name": name, "k8s_namespace": ns,
            "k8s_pod": pod, "k8s_pod_uid": uid, "k8s_container": "pg", "k8s_sandbox": False,
            "container": "%s/%s/pg" % (ns, pod)}
    assert {k: ev[k] for k in want} == want
    found = summary.wait_for(lambda e: e["event"] == "summary" and any(
        r["container_name"] == name and r["path"] == "/etc/hostname" for r in e["rows"]),
        what="the summary row of the pod's open")
    row = next(r for r in found["rows"] if r["container_name"] == name)
    assert {k: row[k] for k in want} == want


@pod_tests
def test_pod_uid_from_the_cgroup_when_the_annotations_lack_it(tool, k8s):
    uid, ns, pod = new_uid(), unique("ns"), unique("web")
    t = tool("containerexec", "-j")
    k8s.run_ctr(ns, pod, uid, "app", "/bin/echo", "uid-" + pod, annotate_uid=False)
    ev = exec_of(t, ["/bin/echo", "uid-" + pod])
    assert (ev["k8s_namespace"], ev["k8s_pod"], ev["k8s_pod_uid"], ev["k8s_container"]) == \
        (ns, pod, uid, "app")


@pod_tests
def test_sandbox_container_is_labelled(tool, k8s):
    uid, ns, pod = new_uid(), unique("ns"), unique("web")
    t = tool("containerexec", "-j")
    k8s.run_ctr(ns, pod, uid, "", "/bin/echo", "pause-" + pod, kind="sandbox")
    ev = exec_of(t, ["/bin/echo", "pause-" + pod])
    assert (ev["k8s_pod"], ev["k8s_container"], ev["k8s_sandbox"], ev["container"]) == \
        (pod, None, True, "%s/%s/(sandbox)" % (ns, pod))


@pod_tests
def test_table_shows_pod_and_container(tool, k8s):
    uid, ns = new_uid(), unique("ns")
    pod = "web-" + uuid.uuid4().hex[:4]
    t = tool("containerexec")
    k8s.run_ctr(ns, pod, uid, "app", "/bin/echo", "table-" + pod)
    line = t.wait_for(lambda l: "table-" + pod in l, what="the table line")
    assert line.split()[0] == pod + "/app"
    assert len(line) < 80


@pod_tests
def test_select_pod_before_it_exists_and_follow_it(tool, k8s):
    """-c NAMESPACE/POD before the pod exists: its first container's first
    exec is seen, then the container recreated with a new id (a crash
    loop), never another pod of the same namespace."""
    uid, ns = new_uid(), unique("ns")
    pod, other = unique("web"), unique("web")
    t = tool("containerexec", "-j", "-c", "%s/%s" % (ns, pod))
    t.wait_stderr("waiting for pod %s/%s" % (ns, pod))
    first, _ = k8s.run_ctr(ns, pod, uid, "app", "/bin/echo", "first")
    ev = exec_of(t, ["/bin/echo", "first"])
    assert (ev["container_id"], ev["k8s_pod"]) == (first, pod)
    k8s.run_ctr(ns, other, new_uid(), "app", "/bin/echo", "other")
    second, _ = k8s.run_ctr(ns, pod, uid, "app", "/bin/echo", "second")
    ev = exec_of(t, ["/bin/echo", "second"])
    assert ev["container_id"] == second and second != first
    assert t.stop() == 0
    seen = [e for e in t.json_events() if e["event"] == "exec"]
    assert {e["k8s_pod"] for e in seen} == {pod}
    assert ["/bin/echo", "other"] not in [e["args"] for e in seen]


@pod_tests
def test_select_one_container_of_a_pod(tool, k8s):
    """-c NAMESPACE/POD/CONTAINER: that container, not its pod's others."""
    uid, ns, pod = new_uid(), unique("ns"), unique("web")
    t = tool("containerexec", "-j", "-c", "%s/%s/app" % (ns, pod))
    k8s.run_ctr(ns, pod, uid, "sidecar", "/bin/echo", "sidecar")
    k8s.run_ctr(ns, pod, uid, "app", "/bin/echo", "app")
    exec_of(t, ["/bin/echo", "app"])
    assert t.stop() == 0
    seen = [e for e in t.json_events() if e["event"] == "exec"]
    assert {e["k8s_container"] for e in seen} == {"app"}


@pod_tests
def test_select_docker_pod(tool, k8s):
    uid, ns, pod = new_uid(), unique("ns"), unique("db")
    t = tool("containerexec", "-j", "-c", "%s/%s" % (ns, pod))
    t.wait_stderr("waiting for pod")
    k8s.run_docker(ns, unique("db"), new_uid(), "pg", "/bin/echo", "other")
    k8s.run_docker(ns, pod, uid, "pg", "/bin/echo", "mine")
    ev = exec_of(t, ["/bin/echo", "mine"])
    assert (ev["container_runtime"], ev["k8s_pod"]) == ("docker", pod)
    assert t.stop() == 0
    assert {e["k8s_pod"] for e in t.json_events() if e["event"] == "exec"} == {pod}


def test_json_of_a_pod_is_valid():
    """Pod names come from the runtime: the JSON stays valid for any text."""
    c = container(Pod("s\u202ehop", "w\x1b[2Jeb", UID, "a\\pp"))
    assert json.loads(json.dumps(c.fields()))["k8s_pod"] == "w\x1b[2Jeb"


@pod_tests
@pytest.mark.parametrize("name,args,cmd,pred", [
    ("containeropen", [], ["cat", "/etc/hostname"],
     lambda e: e["event"] == "open" and e["path"] == "/etc/hostname"),
    ("containernet", [], ["tcpclient", "127.0.0.1", "7999", "1"],
     lambda e: e["event"] not in ("summary", "lost") and e["remote_port"] == 7999),
    ("containersyscall", ["1"], ["cat", "/etc/hostname"],
     lambda e: e["event"] == "summary" and e["rows"]),
])
def test_every_tool_selects_a_pod(tool, k8s, name, args, cmd, pred):
    """-c NAMESPACE/POD is resolved once, for every tool, in the kernel."""
    uid, ns, pod = new_uid(), unique("ns"), unique("web")
    t = tool(name, "-j", "-c", "%s/%s" % (ns, pod), *args)
    t.wait_stderr("waiting for pod %s/%s" % (ns, pod))
    k8s.run_ctr(ns, unique("web"), new_uid(), "app", *cmd)
    k8s.run_ctr(ns, pod, uid, "app", *cmd)
    t.wait_for(pred, what="%s's output for the pod" % name)
    assert t.stop() == 0
    rows = [r for e in t.json_events() for r in (e["rows"] if e["event"] == "summary" else [e])
            if e["event"] != "lost"]
    assert rows and {(r["k8s_namespace"], r["k8s_pod"], r["k8s_pod_uid"]) for r in rows} == \
        {(ns, pod, uid)}


def test_wide_column_adds_the_namespace():
    """containernet -w: NAMESPACE/POD/CONTAINER, fitted to its column."""
    from argparse import Namespace
    from ctrace.tool import Context
    c = container(Pod("shop", "web", UID, "app"), name="web/app")
    assert Context("t", Namespace(wide=True)).label(c, 16) == "shop/web/app    "
    assert Context("t", Namespace()).label(c, 16) == "web/app         "
    long_ = container(Pod("production", "web-5d8f7c9b4-x2x9q", UID, "app"))
    cut = Context("t", Namespace()).label(long_, 16)
    assert len(cut) == 16 and cut.startswith("web-5d8f7c") and "~" in cut
