"""ctrace in a container and across a cluster: the image (make image), the
`docker run` flags (deploy/docker-run-flags), the DaemonSet
(deploy/kubernetes/ctrace-daemonset.yaml) and the README's command agree,
and the image really traces the host's containers with those flags."""

import os
import re
import shlex
import subprocess
import uuid

import pytest
import yaml

from conftest import DOCKER, ROOT, TOOLS, Tool, docker, unavailable, unique
from ctrace.runtimes import STATE_PATHS

FLAGS_FILE = os.path.join(ROOT, "deploy", "docker-run-flags")
MANIFEST = os.path.join(ROOT, "deploy", "kubernetes", "ctrace-daemonset.yaml")
BUILD = os.path.join(ROOT, "scripts", "build-image.sh")
README = os.path.join(ROOT, "README.md")
BUILD_TIMEOUT = 1200


def docker_flags():
    """deploy/docker-run-flags: one flag per line, '#' comments."""
    flags = []
    with open(FLAGS_FILE) as f:
        for line in f:
            flags += line.split("#", 1)[0].split()
    return flags


def docker_spec(flags):
    """What docker run FLAGS ask for, in terms a pod spec can be compared to.
    An unknown flag fails: a new one must be mapped (and added to the
    manifest) here."""
    spec = {"host_pid": False, "node_name": False, "cap_drop": set(), "cap_add": set(),
            "apparmor": "default", "seccomp": "default", "privileged": False, "mounts": {}}
    for flag in flags:
        opt, _, value = flag.partition("=")
        if flag == "--pid=host":
            spec["host_pid"] = True
        elif flag == "--uts=host":
            spec["node_name"] = True          # hostname is the node's
        elif opt == "--cap-drop":
            spec["cap_drop"].add(value)
        elif opt == "--cap-add":
            spec["cap_add"].add(value)
        elif opt == "--security-opt" and value.startswith("apparmor="):
            spec["apparmor"] = value.split("=", 1)[1]
        elif opt == "--security-opt" and value.startswith("seccomp="):
            spec["seccomp"] = value.split("=", 1)[1]
        elif opt == "--volume":
            parts = value.split(":")
            assert len(parts) in (2, 3), flag
            mode = parts[2] if len(parts) == 3 else "rw"
            spec["mounts"][parts[1]] = (parts[0], mode == "ro")
        elif flag == "--privileged":
            spec["privileged"] = True
        else:
            raise AssertionError("deploy/docker-run-flags: %r has no pod spec counterpart "
                                 "in tests/test_deploy.py" % flag)
    return spec


def daemonset():
    with open(MANIFEST) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    found = [d for d in docs if d.get("kind") == "DaemonSet"]
    assert len(found) == 1, "one DaemonSet in %s" % MANIFEST
    return found[0]


def pod_container(ds):
    containers = ds["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def pod_spec(ds):
    """The same terms as docker_spec(), from the DaemonSet's pod template."""
    template = ds["spec"]["template"]
    pod = template["spec"]
    c = pod_container(ds)
    sc = c.get("securityContext") or {}
    caps = sc.get("capabilities") or {}
    profile_types = {"RuntimeDefault": "default", "Unconfined": "unconfined"}
    apparmor = profile_types[(sc.get("appArmorProfile") or {}).get("type", "RuntimeDefault")]
    annotation = (template["metadata"].get("annotations") or {}).get(
        "container.apparmor.security.beta.kubernetes.io/" + c["name"])
    if annotation is not None:
        assert {"runtime/default": "default"}.get(annotation, annotation) == apparmor, \
            "AppArmor annotation and appArmorProfile disagree"
    env = {e["name"]: e for e in c.get("env") or []}
    node_ref = env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {})
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mounts = {}
    for m in c.get("volumeMounts") or []:
        vol = volumes[m["name"]]
        assert "hostPath" in vol, "volume %s is not a hostPath" % m["name"]
        assert not m.get("mountPropagation") and not m.get("subPath"), m
        mounts[m["mountPath"]] = (vol["hostPath"]["path"], bool(m.get("readOnly")))
    return {
        "host_pid": bool(pod.get("hostPID")),
        "node_name": node_ref.get("fieldPath") == "spec.nodeName",
        "cap_drop": set(caps.get("drop") or ()),
        "cap_add": set(caps.get("add") or ()),
        "apparmor": apparmor,
        "seccomp": profile_types[(sc.get("seccompProfile") or {}).get("type", "RuntimeDefault")],
        "privileged": bool(sc.get("privileged")),
        "mounts": mounts,
    }


def image_name():
    env = {k: v for k, v in os.environ.items() if k != "CTRACE_IMAGE"}
    r = subprocess.run(["bash", BUILD, "--name"], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


# -- unit: the manifest, the flags and the README agree -----------------------

def test_pod_spec_asks_for_what_the_docker_flags_ask_for():
    assert pod_spec(daemonset()) == docker_spec(docker_flags())


def test_least_privilege():
    spec = docker_spec(docker_flags())
    assert spec["cap_drop"] == {"ALL"} and not spec["privileged"]
    assert spec["cap_add"] <= {"SYS_ADMIN", "SYS_PTRACE"}, "a capability the tools do not need"
    assert all(ro for _, ro in spec["mounts"].values()), "host mounts are read-only"
    assert spec["host_pid"]


def test_every_state_path_read_is_mounted():
    """What ctrace/runtimes/ reads from the host (sockets, state files) is
    mounted read-only at the same path, by the flags and so by the
    DaemonSet (test_pod_spec_asks_for_what_the_docker_flags_ask_for)."""
    mounts = docker_spec(docker_flags())["mounts"]
    for path in STATE_PATHS:
        path = re.sub(r"^/var/run/", "/run/", path)     # a link to /run in the image too
        found = [target for target in mounts if path == target or path.startswith(target + "/")]
        assert found, "%s is read by ctrace/runtimes/ but not mounted" % path
        source, read_only = mounts[max(found, key=len)]
        assert read_only and path.startswith(source), (path, source)


def test_manifest_image_and_tool():
    ds = daemonset()
    c = pod_container(ds)
    assert c["image"] == image_name() == "ctrace:latest"
    assert c["imagePullPolicy"] == "IfNotPresent"       # built locally, no registry
    assert "command" not in c, "the image's entrypoint runs the tool"
    tool = c["args"][0]
    assert os.access(os.path.join(TOOLS, tool), os.X_OK), "args[0] is not a ctrace tool"
    assert "-j" in c["args"], "NDJSON for the log collector"


def test_manifest_runs_everywhere_within_bounds():
    ds = daemonset()
    pod = ds["spec"]["template"]["spec"]
    assert {"operator": "Exists"} in pod["tolerations"], "every node, control plane too"
    resources = pod_container(ds)["resources"]
    assert resources["requests"]["memory"] and resources["limits"]["memory"]
    assert pod["automountServiceAccountToken"] is False, "ctrace never asks the API server"
    selector = ds["spec"]["selector"]["matchLabels"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()


def test_readme_command_is_the_flags():
    text = open(README).read()
    commands = re.findall(r"^docker run (?:[^\n]*\\\n)*[^\n]*$", text, re.M)
    assert commands, "README shows no docker run command"
    flags = docker_flags()
    for command in commands:
        words = shlex.split(command.replace("\\\n", " "))
        if "ctrace:latest" not in words:
            continue
        given = []
        options = iter(words[2:words.index("ctrace:latest")])
        for word in options:
            if word == "--name":            # the container's name is the reader's choice
                next(options)
            elif word not in ("--rm", "-d", "--detach"):
                given.append(word)
        assert given == flags, "README's docker run is not deploy/docker-run-flags"
        return
    raise AssertionError("README has no docker run of ctrace:latest")


# -- integration: the image traces the host's containers ------------------------

@pytest.fixture(scope="module")
def ctrace_image(docker_ok):
    try:
        r = subprocess.run(["bash", BUILD], capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        unavailable("building the ctrace image took over %d s" % BUILD_TIMEOUT)
    if r.returncode != 0:
        unavailable("building the ctrace image failed: %s" % r.stderr[-1500:])
    name = r.stdout.strip().splitlines()[-1]
    # Its id: the same image for every test here even if another checkout
    # retags the name meanwhile.
    return docker("image", "inspect", "-f", "{{.Id}}", name).stdout.strip()


def image_tool(containers, image, args):
    """The image run with the documented flags, as a conftest Tool: started
    means it printed '<tool>: tracing' on stderr. Its stdout is the tool's
    alone (checked by only_json)."""
    name = unique("ctrace-img")
    containers.names.append(name)           # removed (docker rm -f) at the end
    t = Tool(args[0])
    t.argv = [DOCKER, "run", "--rm", "--name", name] + docker_flags() + [image] + list(args)
    return t.start(timeout=120)


def only_json(t):
    """stdout is NDJSON only (the entrypoint's own lines go to stderr)."""
    assert t.lines and all(line.startswith("{") for line in t.lines), t.lines[:3]
    t.json_events()         # every line parses


def tool_args(tool):
    """The DaemonSet's args with its tool replaced by TOOL."""
    return [tool] + pod_container(daemonset())["args"][1:]


@pytest.mark.integration
def test_image_containerexec_names_a_container_started_after_it(ctrace_image, containers):
    t = image_tool(containers, ctrace_image, tool_args("containerexec"))
    try:
        host_marker = "ctrace-host-" + uuid.uuid4().hex[:8]
        subprocess.run(["/bin/true", host_marker], check=True)
        name = unique("ctimg")
        marker = "ctrace-image-" + uuid.uuid4().hex[:8]
        containers.run("/bin/echo", marker, name=name)
        ev = t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["/bin/echo", marker],
                        timeout=30,
                        what="the exec of the container started after the tool")
        assert ev["container_name"] == name
        assert ev["container_runtime"] == "docker" and ev["host"] is False
        assert ev["container_id"] == docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
        # The host's exec, made before, is the host's: not reported as a
        # container (the tool's own namespaces are not the host's).
        assert not [e for e in t.json_events() if host_marker in (e.get("args") or [])], \
            "a host process was reported as a container"
        only_json(t)
        assert t.stop() == 0, t.err
    finally:
        t.kill()


@pytest.mark.integration
def test_image_containeropen_names_a_container_started_after_it(ctrace_image, containers):
    t = image_tool(containers, ctrace_image, tool_args("containeropen"))
    try:
        name = unique("ctimg")
        containers.run("cat", "/etc/passwd", name=name)
        cid = docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
        ev = t.wait_for(lambda e: e["event"] == "open" and e["container_id"] == cid
                        and e["path"] == "/etc/passwd" and e["comm"] == "cat", timeout=30,
                        what="the open of /etc/passwd in the container started after the tool")
        assert ev["container_name"] == name
        assert ev["container_runtime"] == "docker" and ev["host"] is False
        assert ev["error"] is None
        only_json(t)
        assert t.stop() == 0, t.err
    finally:
        t.kill()
