"""containerescape against real BPF and real containers: each technique is
produced by a real container doing it (harmlessly: files opened for writing
are closed unwritten, a module that is not one is offered, a runtime socket
is asked its version, a ptrace attach is detached at once) and is reported
with that container's name, though it has exited by the time the tool
reads the event.  The host is left as it was.
"""

import json
import os
import re
import signal
import subprocess
import threading

import pytest

from conftest import DOCKER, IMAGE, ROOT, docker, run_tool, unavailable, unique
import test_runtimes
from test_runtimes import CTR_IMAGE, PODMAN_IMAGE, PODMAN_RUN, ctr_remove

pytestmark = pytest.mark.integration

# The other runtimes, as test_runtimes sets them up.
ctr = test_runtimes.ctr
podman = test_runtimes.podman

CAPS = ["--cap-add", "SYS_ADMIN"]
# The Debian image `make image` builds (python3, passwd, su): ordinary life.
DEBIAN_IMAGE = "ctrace:latest"


@pytest.fixture(scope="session")
def helper(tmp_path_factory):
    """tests/helpers/escape.c, static, for containers to run as /escape
    (bind-mounted: the shared test image stays as it is)."""
    out = str(tmp_path_factory.mktemp("escape") / "escape")
    try:
        r = subprocess.run(["gcc", "-O2", "-static", "-Wall", "-o", out,
                            os.path.join(ROOT, "tests", "helpers", "escape.c")],
                           capture_output=True, text=True, timeout=120)
    except OSError as exc:
        unavailable("gcc is needed to build the test helper: %s" % exc)
    if r.returncode != 0:
        unavailable("building tests/helpers/escape.c failed: %s" % r.stderr[-300:])
    return out


def run_in(containers, helper, *cmd, opts=()):
    """A container that does CMD and exits (docker run, not detached); its
    name and what it printed."""
    name = unique("esc")
    r = containers.run(*cmd, name=name, detach=False,
                       opts=["-v", "%s:/escape:ro" % helper] + list(opts))
    return name, r.stdout + r.stderr


def finding(t, name, technique, what=None, **fields):
    def pred(e):
        return (e["event"] == "finding" and e["container_name"] == name and
                e["technique"] == technique and
                all(e.get(k) == v for k, v in fields.items()))
    return t.wait_for(pred, what=what or "%s finding of %s" % (technique, name))


def findings_of(t, names):
    return [e for e in t.json_events()
            if e.get("event") == "finding" and e.get("container_name") in names]


@pytest.fixture
def host_sleeper():
    """A host process for containers to aim at."""
    p = subprocess.Popen(["sleep", "600"])
    yield p.pid
    p.kill()
    p.wait()


def test_nsenter_into_host_mount_namespace(tool, containers, helper, host_sleeper):
    t = tool("containerescape", "-j")
    name, out = run_in(containers, helper, "nsenter", "-t", str(host_sleeper), "-m", "true",
                       opts=["--pid=host", "--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE"])
    ev = finding(t, name, "host-namespace")
    assert ev["syscall"] == "setns" and ev["success"] is True, (ev, out)
    assert ev["namespace"] == "mnt"
    assert ev["namespace_inum"] == os.stat("/proc/%d/ns/mnt" % host_sleeper).st_ino
    assert ev["comm"] == "nsenter"


def test_cgroup_v1_mount_and_release_agent(tool, containers, helper):
    t = tool("containerescape", "-j")
    before = named_hierarchies()
    script = ("mkdir /tmp/cg && mount -t cgroup -o none,name=%s cgroup /tmp/cg && "
              "/escape open /tmp/cg/release_agent; umount /tmp/cg" % HIERARCHY)
    name, out = run_in(containers, helper, "sh", "-c", script,
                       opts=CAPS + ["--security-opt", "seccomp=unconfined"])
    assert "result: ok" in out, out
    m = finding(t, name, "mount")
    assert m["mount_type"] == "cgroup" and m["mount_target"] == "/tmp/cg" and m["success"]
    w = finding(t, name, "sensitive-write")
    assert w["path"] == "/tmp/cg/release_agent" and w["path_resolved"] is True
    assert w["fs_type"] == "cgroup" and w["fs_path"] == "/release_agent"
    assert w["success"] is True and w["syscall"] in ("open", "openat")
    assert HIERARCHY not in open("/proc/self/mountinfo").read()
    assert named_hierarchies() <= before | {HIERARCHY}


def test_core_pattern_opened_for_writing(tool, containers, helper):
    t = tool("containerescape", "-j")
    name, out = run_in(containers, helper, "/escape", "open", "/proc/sys/kernel/core_pattern",
                       opts=["--security-opt", "systempaths=unconfined"])
    ev = finding(t, name, "sensitive-write")
    assert ev["path"] == "/proc/sys/kernel/core_pattern" and ev["success"], (ev, out)


def test_core_pattern_refused_is_still_a_finding(tool, containers, helper):
    """Docker's default /proc/sys is read-only: the attempt fails (EROFS)
    and is reported with the path as given and the errno."""
    t = tool("containerescape", "-j")
    name, out = run_in(containers, helper, "/escape", "open", "/proc/sys/kernel/core_pattern")
    ev = finding(t, name, "sensitive-write")
    assert ev["success"] is False and ev["error"] == "EROFS", (ev, out)
    assert ev["path"] == "/proc/sys/kernel/core_pattern"


INDIRECT = {
    "symlink": "ln -s /proc/sys/kernel/core_pattern /tmp/innocent && /escape open /tmp/innocent",
    "proc-self-root": "/escape openat /proc/self/root/proc/sys kernel/core_pattern",
    "relative": "cd /proc/sys/kernel && /escape open ./core_pattern",
    "fd-reopen": "exec 3</proc/sys/kernel/core_pattern && /escape open /proc/self/fd/3",
}


@pytest.mark.parametrize("way", sorted(INDIRECT))
def test_indirect_paths_are_the_same_object(tool, containers, helper, way):
    """A symlink the container made, /proc/self/root, a relative path, a
    reopen through /proc/self/fd: the object the kernel opened is judged
    and reported with the path it resolved."""
    t = tool("containerescape", "-j")
    name, out = run_in(containers, helper, "sh", "-c", INDIRECT[way],
                       opts=["--security-opt", "systempaths=unconfined"])
    assert "result: ok" in out, out
    ev = finding(t, name, "sensitive-write")
    assert ev["path"] == "/proc/sys/kernel/core_pattern" and ev["path_resolved"], ev
    assert ev["fs_type"] == "proc" and ev["fs_path"] == "/sys/kernel/core_pattern", ev


KERNEL_OBJECTS = {
    "proc": ("mkdir /p && mount -t proc proc /p && /escape open /p/sys/kernel/core_pattern; "
             "umount /p", "/p/sys/kernel/core_pattern", "/sys/kernel/core_pattern"),
    "binfmt_misc": ("mkdir /b && mount -t binfmt_misc binfmt_misc /b && /escape open "
                    "/b/register; umount /b", "/b/register", "/register"),
}


@pytest.mark.parametrize("fs", sorted(KERNEL_OBJECTS))
def test_kernel_object_under_a_mount_point_of_its_own(tool, containers, helper, fs):
    """Docker mounts /proc/sys read-only: a container with CAP_SYS_ADMIN
    mounts the filesystem again where it likes.  The object, not the name,
    is the finding."""
    t = tool("containerescape", "-j")
    script, path, fs_path = KERNEL_OBJECTS[fs]
    name, out = run_in(containers, helper, "sh", "-c", script,
                       opts=CAPS + ["--security-opt", "seccomp=unconfined"])
    assert "result: ok" in out, out
    ev = finding(t, name, "sensitive-write")
    assert (ev["path"], ev["fs_type"], ev["fs_path"]) == (path, fs, fs_path), ev
    assert ev["success"] is True and ev["reason"], ev


def test_host_files_through_volumes(tool, containers, helper, tmp_path):
    """The host's /etc/passwd opened for writing (and closed unwritten)
    through -v /:/host and -v /etc:/hostetc is a host-file finding with the
    host's path; a data volume written is not."""
    t = tool("containerescape", "-j")
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("")
    quiet, out = run_in(containers, helper, "/escape", "open", "/data/f",
                        opts=["-v", "%s:/data" % data])
    assert "result: ok" in out, out
    seen = {}
    for volume, path in (("/:/host", "/host/etc/passwd"), ("/etc:/hostetc", "/hostetc/passwd")):
        name, out = run_in(containers, helper, "/escape", "open", path, opts=["-v", volume])
        assert "result: ok" in out, out
        seen[path] = finding(t, name, "host-file")
    for path, ev in seen.items():
        assert ev["path"] == path and ev["host_path"] == "/etc/passwd", ev
        assert ev["fs_path"] == "/etc/passwd" and ev["success"] is True, ev
        assert ev["device"] == "%d:%d" % (os.major(os.stat("/etc").st_dev),
                                         os.minor(os.stat("/etc").st_dev))
    assert not findings_of(t, {quiet})


def test_shocker_file_handle(tool, containers, helper):
    """open_by_handle_at of inode 2 through /etc/hostname's bind mount opens
    the host filesystem's root ("shocker", 2014): refused under Docker's
    default profile, a finding either way; with CAP_DAC_READ_SEARCH added
    it works, and the opened directory lies outside every mount the
    container has."""
    t = tool("containerescape", "-j")
    refused, out = run_in(containers, helper, "/escape", "shocker", "/etc/hostname")
    assert "result: 1\n" in out, out
    ev = finding(t, refused, "file-handle")
    assert ev["syscall"] == "open_by_handle_at" and ev["success"] is False
    assert ev["handle_type"] == 1
    name, out = run_in(containers, helper, "/escape", "shocker", "/etc/hostname",
                       opts=["--cap-add", "DAC_READ_SEARCH"])
    assert "result: ok" in out and "entries:" in out, out
    ev = finding(t, name, "file-handle")
    assert ev["success"] is True and ev["outside_mount"] is True, ev
    assert ev["fs_path"] == "/" and ev["inode"] == 2, ev
    root = os.stat(docker("inspect", "-f", "{{.HostnamePath}}", name).stdout.strip())
    assert ev["device"] == "%d:%d" % (os.major(root.st_dev), os.minor(root.st_dev))


def test_module_insert_attempt_reported_with_errno(tool, containers, helper):
    t = tool("containerescape", "-j")
    name, out = run_in(containers, helper, "/escape", "module",
                       opts=["--cap-add", "SYS_MODULE"])
    ev = finding(t, name, "kernel-module")
    assert ev["syscall"] == "init_module" and ev["success"] is False, (ev, out)
    assert ev["error"] in ("ENOSYS", "ENOEXEC", "EINVAL", "EPERM")
    assert ev["size"] == 16


def test_docker_socket_mounted_and_connected(tool, containers, helper):
    t = tool("containerescape", "-j")
    name, out = run_in(containers, helper, "/escape", "connect", "/tmp/innocent.sock",
                       opts=["-v", "/var/run/docker.sock:/tmp/innocent.sock"])
    assert "HTTP/1.0 200 OK" in out, out
    ev = finding(t, name, "runtime-socket")
    # The name dockerd bound, not the one the container used.
    assert ev["socket"].endswith("docker.sock") and ev["socket_bound_name"] is True
    assert ev["success"] is True


def test_ptrace_attach_to_host_process(tool, containers, helper, host_sleeper):
    t = tool("containerescape", "-j")
    name, out = run_in(containers, helper, "/escape", "ptrace", str(host_sleeper),
                       opts=["--pid=host", "--cap-add", "SYS_PTRACE"])
    assert "result: ok" in out, out
    ev = finding(t, name, "ptrace")
    assert ev["target_pid"] == host_sleeper and ev["request"] == "attach"
    assert ev["target_container"] == "host" and ev["success"] is True


def test_ptrace_inside_own_container_is_not_reported(tool, containers, helper):
    t = tool("containerescape", "-j")
    script = "sleep 60 & /escape ptrace $!; kill $!; /escape module"
    name, out = run_in(containers, helper, "sh", "-c", script,
                       opts=["--cap-add", "SYS_PTRACE", "--cap-add", "SYS_MODULE"])
    assert "result: ok" in out, out
    finding(t, name, "kernel-module", what="the later marker finding")
    assert not [e for e in findings_of(t, {name}) if e["technique"] == "ptrace"]


def test_bpf_refused_by_default_profile_only_with_all(tool, containers, helper):
    default = tool("containerescape", "-j")
    every = tool("containerescape", "-j", "--all")
    name, out = run_in(containers, helper, "sh", "-c", "/escape bpf; /escape module")
    assert "result: 1\n" in out, out       # EPERM from the default seccomp profile
    ev = finding(every, name, "kernel-attack-surface")
    assert ev["syscall"] == "bpf" and ev["error"] == "EPERM" and ev["filtered"] is True
    finding(default, name, "kernel-module", what="the later marker finding")
    assert not [e for e in findings_of(default, {name})
                if e["technique"] == "kernel-attack-surface"]


def test_io_uring_setup_only_with_all(tool, containers, helper):
    """A ring set up (Docker 20.10's default profile allows it) is a
    kernel-attack-surface finding with --all only."""
    default = tool("containerescape", "-j")
    every = tool("containerescape", "-j", "--all")
    name, out = run_in(containers, helper, "sh", "-c", "/escape uring; /escape module")
    assert "result: ok" in out, out
    ev = finding(every, name, "kernel-attack-surface", syscall="io_uring_setup")
    assert ev["success"] is True and ev["entries"] == 4, ev
    finding(default, name, "kernel-module", what="the later marker finding")
    assert not [e for e in findings_of(default, {name})
                if e["technique"] == "kernel-attack-surface"]


def test_user_namespace_without_seccomp_is_reported(tool, containers, helper):
    t = tool("containerescape", "-j")
    name, out = run_in(containers, helper, "/escape", "userns",
                       opts=["--security-opt", "seccomp=unconfined"])
    ev = finding(t, name, "kernel-attack-surface")
    assert ev["syscall"] == "unshare" and ev["detail"] == "new user namespace", (ev, out)


def test_proc_mount_and_setuid_exec(tool, containers, helper):
    t = tool("containerescape", "-j")
    script = ("mkdir /tmp/p; mount -t proc proc /tmp/p; umount /tmp/p; cp /bin/busybox /tmp/sbb && chmod 4755 /tmp/sbb && "
              "/escape runas 65534 /tmp/sbb true")
    name, out = run_in(containers, helper, "sh", "-c", script, opts=CAPS)
    m = finding(t, name, "mount")
    assert m["mount_type"] == "proc" and m["success"], (m, out)
    p = finding(t, name, "privilege")
    assert p["path"] == "/tmp/sbb" and p["former_uid"] == 65534 and p["uid"] == 65534


def test_release_agent_payload_run_by_kernel_helper(tool, containers):
    """The kernel's usermode helper runs a file from a container's upper
    layer through the release_agent of a named cgroup v1 hierarchy this
    test creates (never the host's own)."""
    name = containers.run("sleep", "600", name=unique("esc"))
    containers.exec(name, "cp", "/bin/busybox", "/payload")
    upper = docker("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", name).stdout.strip()
    if not upper or not os.path.exists(os.path.join(upper, "payload")):
        unavailable("docker's storage driver has no upper directory here: %r" % upper)
    t = tool("containerescape", "-j")
    before = named_hierarchies()
    mnt = "/tmp/" + unique(HIERARCHY)
    os.mkdir(mnt)
    try:
        r = subprocess.run(["mount", "-t", "cgroup", "-o", "none,name=" + HIERARCHY, "cgroup",
                            mnt], capture_output=True, text=True)
        if r.returncode != 0:
            unavailable("cannot mount a named cgroup v1 hierarchy: %s" % r.stderr.strip())
        child = os.path.join(mnt, unique("x"))
        try:
            with open(os.path.join(mnt, "release_agent"), "w") as f:
                f.write(os.path.join(upper, "payload"))
            os.mkdir(child)
            with open(os.path.join(child, "notify_on_release"), "w") as f:
                f.write("1")
            # A process joins the child and exits: it empties, the helper runs.
            subprocess.run(["sh", "-c", "echo $$ > %s/cgroup.procs" % child], check=True)
            ev = finding(t, name, "host-helper-exec")
            assert ev["path"] == os.path.join(upper, "payload")
            assert ev["host"] is False and ev["comm"] == "payload"
        finally:
            if os.path.isdir(child):
                os.rmdir(child)
            with open(os.path.join(mnt, "release_agent"), "w") as f:
                f.write("\n")          # no release agent left behind
            subprocess.run(["umount", mnt], check=True)
    finally:
        os.rmdir(mnt)
    assert named_hierarchies() <= before | {HIERARCHY}


# The named cgroup v1 hierarchy the release_agent test mounts.  One name for
# every run: this kernel keeps a named hierarchy that was mounted for a
# while even once unmounted with no child cgroup (it shows in every
# process's /proc/PID/cgroup), and a mount of the same name reuses it, so
# runs leave at most this one, with no child and no release agent.
HIERARCHY = "ctrace-test-release-agent"


def named_hierarchies():
    with open("/proc/self/cgroup") as f:
        return {m.group(1) for m in re.finditer(r"^\d+:name=([^:]+):", f.read(), re.M)}


def test_ordinary_container_life_reports_nothing(tool, containers, helper, podman, ctr,
                                                runtime, tmp_path):
    """Nothing reported, and under --kill all nothing killed (every step
    below checks its exit status), for the ordinary life of containers."""
    t = tool("containerescape", "-j")
    killer = tool("containerescape", "-j", "--kill", "all")
    names = set()
    workload = "echo hi > /tmp/x; cat /etc/passwd > /dev/null; ls / > /tmp/ls; date >> /tmp/x"

    def start_many(k):
        for _ in range(k):
            n = unique("life")
            names.add(n)
            containers.names.append(n)
            docker("run", "--name", n, "--runtime", runtime, IMAGE, "sh", "-c", workload)
    threads = [threading.Thread(target=start_many, args=(10,)) for _ in range(5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    long = containers.run("sleep", "600", name=unique("life"), opts=["--runtime", runtime])
    names.add(long)
    containers.exec(long, "sh", "-c", workload)
    docker("restart", "-t", "1", long)
    containers.exec(long, "sh", "-c", workload)
    docker("stop", "-t", "1", long)
    pname = unique("life")
    names.add(pname)
    cidfile = str(tmp_path / "podman.cid")
    r = podman(*PODMAN_RUN, "--runtime", runtime, "--rm", "--cidfile", cidfile,
               "--name", pname, PODMAN_IMAGE, "sh", "-c", workload)
    assert r.returncode == 0, r.stderr
    ids = {docker("inspect", "-f", "{{.Id}}", n).stdout.strip() for n in names - {pname}}
    ids.add(open(cidfile).read().strip())
    cid = unique("life")
    ids.add(cid)
    try:
        r = ctr("run", "--rm", CTR_IMAGE, cid, "sh", "-c", workload)
        assert r.returncode == 0, r.stderr
    finally:
        ctr_remove(ctr, cid)
    # A Debian container's ordinary life: accounts, files, python, su.
    debian = unique("life")
    names.add(debian)
    containers.names.append(debian)
    r = docker("run", "--name", debian, "--runtime", runtime, "--entrypoint", "sh",
               DEBIAN_IMAGE, "-c",
               "useradd -m alice && echo hi > /home/alice/x && "
               "python3 -c 'open(\"/tmp/p\", \"w\").write(\"x\")' && "
               "su alice -c 'echo hi > /tmp/a' && su -c true", check=False)
    assert r.returncode == 0, r.stderr
    # A finding after all that: everything before it has been read.
    marker, out = run_in(containers, helper, "/escape", "module")
    for watcher in (t, killer):
        finding(watcher, marker, "kernel-module", what="the marker finding")
        # Ours however labelled: by name, by id alone (no name found), or by
        # mount namespace only (a runtime's set-up before its cgroup is known).
        ours = [e for e in watcher.json_events() if e.get("event") == "finding" and
                (e.get("container_name") in names or e.get("container_id") in ids or
                 str(e.get("container_id")).startswith("mntns:") or
                 any(n in json.dumps(e) for n in names | ids))]
        assert ours == []


def test_host_processes_only_with_host(tool, containers, helper):
    target = "/proc/sys/kernel/core_pattern"    # opened for writing, never written
    default = tool("containerescape", "-j")
    with_host = tool("containerescape", "-j", "--host")
    subprocess.run([helper, "open", target], check=True, capture_output=True)
    ev = with_host.wait_for(lambda e: e["event"] == "finding" and e.get("path") == target,
                            what="host finding with --host")
    assert ev["host"] is True and ev["container"] == "host"
    name, out = run_in(containers, helper, "/escape", "module")
    finding(default, name, "kernel-module", what="the later container finding")
    assert not [e for e in default.json_events() if e.get("host")]


def test_hostile_path_is_escaped(tool, containers, helper):
    table = tool("containerescape")
    js = tool("containerescape", "-j")
    script = ("mkdir -p \"/tmp/$(printf 'a\\033[31mb')\" && mount -t cgroup -o none,name=%s "
              "cgroup \"/tmp/$(printf 'a\\033[31mb')\" && "
              "/escape open \"/tmp/$(printf 'a\\033[31mb')/release_agent\"; "
              "umount \"/tmp/$(printf 'a\\033[31mb')\"" % HIERARCHY)
    name, out = run_in(containers, helper, "sh", "-c", script,
                       opts=CAPS + ["--security-opt", "seccomp=unconfined"])
    ev = finding(js, name, "sensitive-write")
    assert ev["path"] == "/tmp/a\x1b[31mb/release_agent", (ev, out)
    line = table.wait_for(lambda l: isinstance(l, str) and "release_agent" in l and
                          "sensitive-write" in l, what="table line")
    assert "\x1b" not in line and "\\x1b[31mb/release_agent" in line
    for l in js.lines:
        if l.startswith("{"):
            json.loads(l)


def test_table_fits_80_columns_and_summary(tool, containers, helper):
    t = tool("containerescape")
    name, out = run_in(containers, helper, "/escape", "module", opts=["--cap-add", "SYS_MODULE"])
    line = t.wait_for(lambda l: isinstance(l, str) and "kernel-module" in l, what="finding line")
    assert line.index("init_module") < 80
    assert t.lines[0].startswith("CONTAINER") and len(t.lines[0]) <= 80
    assert t.stop(signal.SIGINT) == 0
    assert any(l.startswith("CONTAINER") and "ATTEMPTS" in l for l in t.lines[1:])
    rows = [l for l in t.lines if l.split()[:2] == [name[:16], "kernel-module"]]
    assert rows and rows[-1].split()[2:4] == ["1", "0"]


def test_technique_filter(tool, containers, helper):
    t = tool("containerescape", "-j", "-t", "kernel-module")
    script = "/escape userns; /escape module"
    name, out = run_in(containers, helper, "sh", "-c", script,
                       opts=["--security-opt", "seccomp=unconfined"])
    finding(t, name, "kernel-module")
    assert {e["technique"] for e in findings_of(t, {name})} == {"kernel-module"}


def test_sigint_and_sigterm_exit_zero(tool):
    for sig in (signal.SIGINT, signal.SIGTERM):
        t = tool("containerescape")
        assert t.stop(sig) == 0
        assert not any("Traceback" in l for l in t.err)
        # Its summary: it ended through its own exit path, not the signal's.
        assert "containerescape: no findings" in t.err or \
            any("escape attempts per container" in l for l in t.lines), (t.err, t.lines)


@pytest.mark.parametrize("argv", [["-t", "nothing"], ["--all", "-t", "mount"],
                                  ["-t", "mount", "-t", "mount"], ["-p", "0"],
                                  ["--host", "-c", "x"], ["-d", "-1"]])
def test_bad_arguments_exit_2_with_one_line(argv):
    r = run_tool("containerescape", *argv)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_man_page_names_every_technique():
    page = open(os.path.join(ROOT, "man", "man8", "containerescape.8")).read()
    section = page.split(".SH TECHNIQUES", 1)[1].split(".SH ", 1)[0]
    named = re.findall(r"^\\fB([a-z-]+)\\fR$", section, re.M)
    from test_docs import load_tool
    assert named == load_tool("containerescape").TECHNIQUES


def summary_row(t, name, technique):
    summary = [e for e in t.json_events() if e.get("event") == "summary"][-1]
    rows = [r for r in summary["rows"]
            if r["container_name"] == name and r["technique"] == technique]
    return rows[0] if rows else None


def flood_once(tool, containers, helper, ctl):
    """One flood: a container's 300,000 refused mounts, core_pattern opened
    for writing, then mounts until CTL/stop exists; meanwhile another
    container's finding.  The tool's output and the flooder's name and
    mount count."""
    t = tool("containerescape", "-j")
    flooder = unique("flood")
    stop = ctl / "stop"
    if stop.exists():
        stop.unlink()
    proc = subprocess.Popen(
        [DOCKER, "run", "--name", flooder, "-v", "%s:/escape:ro" % helper,
         "-v", "%s:/ctl" % ctl, "--security-opt", "systempaths=unconfined", IMAGE,
         "/escape", "flood", "300000", "/proc/sys/kernel/core_pattern", "/ctl/stop"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    containers.names.append(flooder)
    try:
        t.wait_for(lambda e: e["event"] == "finding" and e["container_name"] == flooder,
                   timeout=60, what="the flood's first finding")
        other, _ = run_in(containers, helper, "/escape", "module")
        finding(t, other, "kernel-module", what="the other container's finding, in the flood")
    finally:
        stop.write_text("")
        out = proc.communicate(timeout=300)[0]
    m = re.search(r"flooded: (\d+)", out)
    assert m and "result: ok" in out, out
    assert t.stop(signal.SIGINT, timeout=120) == 0
    return t, flooder, int(m.group(1))


def test_flood_cannot_hide_a_finding(tool, containers, helper, tmp_path):
    """Five floods: each time the core_pattern finding is printed or at
    least counted under its container, the other container's finding is
    printed during the flood, and what was printed, folded and lost adds up
    to the kernel's count."""
    for _ in range(5):
        t, flooder, count = flood_once(tool, containers, helper, tmp_path)
        core = [e for e in findings_of(t, {flooder}) if e["technique"] == "sensitive-write"]
        row = summary_row(t, flooder, "sensitive-write")
        assert core or (row and row["attempts"] == 1), (core, row)
        mounts = summary_row(t, flooder, "mount")
        assert mounts["attempts"] == count and mounts["successes"] == 0, (count, mounts)
        lines = [e for e in findings_of(t, {flooder}) if e["technique"] == "mount"]
        pending = [e for e in t.json_events() if e.get("event") == "repeats" and
                   e["container_name"] == flooder and e["technique"] == "mount"]
        shown = len(lines) + sum(e["repeats"] for e in lines + pending)
        assert shown + mounts["lost"] == mounts["attempts"], (len(lines), pending, mounts)
        assert mounts["printed"] == len(lines)
        assert len(lines) < 1000, len(lines)       # folded, not one line each


def two_containers(containers, helper):
    """Two running containers that may try a module insert."""
    opts = ["-v", "%s:/escape:ro" % helper, "--cap-add", "SYS_MODULE"]
    return [containers.run("sleep", "600", name=unique("esc"), opts=opts) for _ in range(2)]


def test_container_filter_keeps_only_that_container(tool, containers, helper):
    a, b = two_containers(containers, helper)
    t = tool("containerescape", "-j", "-c", a)
    containers.exec(b, "/escape", "module")
    containers.exec(a, "/escape", "module")
    ev = finding(t, a, "kernel-module")
    assert ev["container_name"] == a
    containers.exec(a, "/escape", "bpf")    # refused: not shown, but read after b's
    containers.exec(a, "/escape", "open", "/proc/sysrq-trigger")   # read-only: EROFS
    t.wait_for(lambda e: len(findings_of(t, {a})) == 2, what="the second finding of a")
    assert not findings_of(t, {b})


def test_ebpf_prints_the_program():
    r = run_tool("containerescape", "--ebpf")
    assert r.returncode == 0, r.stderr
    assert "RAW_TRACEPOINT_PROBE(sys_exit)" in r.stdout and "struct esc_event" in r.stdout


def test_setuid_to_root_after_an_unprivileged_exec(tool, containers, helper):
    """A set-uid root copy of the helper, run as uid 65534: its exec makes
    it euid 0 (one finding), its setuid(0) makes it uid 0 (another)."""
    t = tool("containerescape", "-j", "-t", "privilege")
    script = ("cp /escape /tmp/sesc && chmod 4755 /tmp/sesc && "
              "/escape runas 65534 /tmp/sesc setuid0")
    name, out = run_in(containers, helper, "sh", "-c", script)
    assert "result: ok" in out, out
    e = finding(t, name, "privilege", syscall="execve")
    assert e["path"] == "/tmp/sesc" and e["former_uid"] == 65534
    s = finding(t, name, "privilege", syscall="setuid")
    assert s["former_uid"] == 65534 and s["success"] is True



def test_exclude_drops_a_known_container_and_counts_it(tool, containers, helper):
    agent, other = two_containers(containers, helper)
    t = tool("containerescape", "-j", "--exclude", agent)
    containers.exec(agent, "/escape", "module")
    containers.exec(other, "/escape", "module")
    finding(t, other, "kernel-module")       # read after the agent's
    assert t.stop() == 0, "\n".join(t.err)
    assert not findings_of(t, {agent})
    assert any("1 findings of --exclude'd containers not shown" in l for l in t.err), t.err


# -- --kill: the kernel stops what it finds ----------------------------------

@pytest.fixture
def named_hierarchy(tmp_path):
    """The tests' named cgroup v1 hierarchy (HIERARCHY), mounted on the host
    so its release_agent can be read after a container tried to write it;
    left with no release agent and no other hierarchy beside it."""
    before = named_hierarchies()
    mnt = tmp_path / "cg"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "cgroup", "-o", "none,name=" + HIERARCHY, "cgroup",
                        str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        unavailable("cannot mount a named cgroup v1 hierarchy: %s" % r.stderr.strip())
    try:
        (mnt / "release_agent").write_text("\n")
        yield HIERARCHY, mnt
    finally:
        (mnt / "release_agent").write_text("\n")
        subprocess.run(["umount", str(mnt)], check=True)
    assert named_hierarchies() <= before | {HIERARCHY}


def test_kill_sensitive_write_stops_release_agent_payload(tool, containers, named_hierarchy):
    """A container that mounts the hierarchy and writes a payload path into
    its release_agent is killed at the open: the file stays empty."""
    hier, mnt = named_hierarchy
    t = tool("containerescape", "-j", "--kill", "sensitive-write")
    script = ("mkdir /tmp/cg && mount -t cgroup -o none,name=%s cgroup /tmp/cg && "
              "echo /payload > /tmp/cg/release_agent; echo survived" % hier)
    name = unique("kill")
    r = containers.run("sh", "-c", script, name=name, detach=False,
                       opts=CAPS + ["--security-opt", "seccomp=unconfined"])
    assert r.returncode == 137 and "survived" not in r.stdout, (r.returncode, r.stdout)
    ev = finding(t, name, "sensitive-write")
    assert ev["action"] == "killed" and ev["success"] is True, ev
    assert ev["fs_type"] == "cgroup" and ev["fs_path"] == "/release_agent"
    assert (mnt / "release_agent").read_text().strip() == ""
    assert t.stop() == 0
    row = summary_row(t, name, "sensitive-write")
    assert row["killed"] == 1 and row["attempts"] == 1, row
    assert not [e for e in t.json_events() if e.get("technique") == "host-helper-exec"]


def test_kill_host_namespace_before_anything_runs_there(tool, containers, helper,
                                                       host_sleeper, tmp_path):
    """nsenter into the host's mount namespace is killed at its setns: the
    command it would run there never leaves its mark."""
    mark = tmp_path / "mark"
    t = tool("containerescape", "-j", "--kill", "host-namespace")
    name = unique("kill")
    r = containers.run("nsenter", "-t", str(host_sleeper), "-m", "sh", "-c",
                       "echo escaped > %s" % mark, name=name, detach=False,
                       opts=["--pid=host", "--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE"])
    assert r.returncode == 137, (r.returncode, r.stdout, r.stderr)
    ev = finding(t, name, "host-namespace")
    assert ev["action"] == "killed" and ev["namespace"] == "mnt", ev
    assert not mark.exists()


def test_kill_spares_failed_attempts_excluded_containers_and_ctrace(tool, containers, helper):
    """A refused attempt did no harm: reported, not killed.  An --exclude'd
    container's success is not killed either; another's is.  The tool lives."""
    spared, other = [containers.run("sleep", "600", name=unique("kill"),
                                    opts=["-v", "%s:/escape:ro" % helper,
                                          "--security-opt", "systempaths=unconfined"])
                     for _ in range(2)]
    t = tool("containerescape", "-j", "--kill", "all", "--exclude", spared)
    t.wait_stderr("--kill:")
    refused = containers.exec(other, "/escape", "module")      # EPERM: seccomp
    ok = containers.exec(spared, "/escape", "open", "/proc/sys/kernel/core_pattern")
    assert "result: ok" in ok.stdout, ok.stdout
    killed = containers.exec(other, "/escape", "open", "/proc/sys/kernel/core_pattern",
                             check=False)
    assert killed.returncode == 137, (killed.returncode, killed.stdout)
    ev = finding(t, other, "sensitive-write", action="killed")
    assert ev["path"] == "/proc/sys/kernel/core_pattern"
    assert "result: 1" in refused.stdout, refused.stdout
    assert finding(t, other, "kernel-module")["action"] is None
    assert t.proc.poll() is None
    assert t.stop() == 0
    assert not findings_of(t, {spared})
    assert any("findings of --exclude'd containers not shown" in l for l in t.err), t.err


def test_kill_host_process_only_with_host(tool, helper):
    """Without --host a host process is never judged, so never killed; with
    it (here kept to the helper's command name) it is."""
    target = "/proc/sys/kernel/core_pattern"    # opened for writing, never written
    default = tool("containerescape", "-j", "--kill", "sensitive-write")
    r = subprocess.run([helper, "open", target], capture_output=True, text=True)
    assert r.returncode == 0 and "result: ok" in r.stdout, r
    assert default.stop() == 0
    with_host = tool("containerescape", "-j", "--kill", "sensitive-write", "--host",
                     "-n", "escape")
    r = subprocess.run([helper, "open", target], capture_output=True, text=True)
    assert r.returncode == -9, r
    ev = with_host.wait_for(lambda e: e["event"] == "finding" and e.get("path") == target,
                            what="the host process's finding")
    assert ev["host"] is True and ev["action"] == "killed"


# -- io_uring: operations no system call tracepoint sees --------------------

@pytest.mark.parametrize("mode", ["", "-a", "-q", "-f"],
                         ids=["inline", "worker", "sqpoll", "fixed-file"])
def test_io_uring_core_pattern_open(tool, containers, mode):
    """core_pattern opened for writing through a ring (the test image's
    uring client): inline, in an io worker, by the polling thread, into a
    fixed-file slot; each the same finding, named by the ring's process."""
    t = tool("containerescape", "-j")
    name = unique("uring")
    r = containers.run("uring", *([mode] if mode else []), "open",
                       "/proc/sys/kernel/core_pattern", "w", name=name, detach=False,
                       opts=["--security-opt", "systempaths=unconfined"])
    assert r.returncode == 0 and "open res=" in r.stdout, (r.stdout, r.stderr)
    ev = finding(t, name, "sensitive-write")
    assert ev["syscall"] == "io_uring:OPENAT" and ev["via"] == "io_uring", ev
    assert ev["comm"] == "uring" and ev["success"] is True, ev
    assert ev["fs_type"] == "proc" and ev["fs_path"] == "/sys/kernel/core_pattern", ev


def test_io_uring_refused_open_and_runtime_socket(tool, containers):
    """A refused io_uring open is judged on its last name as given; an
    io_uring connect to the Docker socket on the name dockerd bound."""
    t = tool("containerescape", "-j")
    refused = unique("uring")
    r = containers.run("uring", "open", "/proc/sys/kernel/core_pattern", "w",
                       name=refused, detach=False)
    assert "EROFS" in r.stdout, r.stdout
    ev = finding(t, refused, "sensitive-write")
    assert ev["error"] == "EROFS" and ev["path"] == "/proc/sys/kernel/core_pattern", ev
    assert ev["path_resolved"] is False and ev["via"] == "io_uring"
    sock = unique("uring")
    r = containers.run("uring", "unix", "/tmp/api.sock", name=sock, detach=False,
                       opts=["-v", "/var/run/docker.sock:/tmp/api.sock"])
    assert "connect res=0" in r.stdout, r.stdout
    ev = finding(t, sock, "runtime-socket")
    assert ev["syscall"] == "io_uring:CONNECT" and ev["socket"].endswith("docker.sock"), ev


def test_kill_through_io_uring(tool, containers):
    """--kill: a core_pattern write-open done by an io worker kills the
    ring's process when the operation completes."""
    t = tool("containerescape", "-j", "--kill", "sensitive-write")
    name = unique("uring")
    r = containers.run("uring", "-a", "open", "/proc/sys/kernel/core_pattern", "w",
                       name=name, detach=False,
                       opts=["--security-opt", "systempaths=unconfined"])
    assert r.returncode == 137 and "close res" not in r.stdout, (r.returncode, r.stdout)
    ev = finding(t, name, "sensitive-write")
    assert ev["action"] == "killed" and ev["via"] == "io_uring", ev
