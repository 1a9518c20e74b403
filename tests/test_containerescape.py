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
import uuid

import pytest

from conftest import IMAGE, ROOT, docker, run_tool, unavailable, unique
import test_runtimes
from test_runtimes import CTR_IMAGE, PODMAN_IMAGE, PODMAN_RUN, ctr_remove

pytestmark = pytest.mark.integration

# The other runtimes, as test_runtimes sets them up.
ctr = test_runtimes.ctr
podman = test_runtimes.podman

CAPS = ["--cap-add", "SYS_ADMIN"]


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
    hier = "ctrace" + uuid.uuid4().hex[:8]
    script = ("mkdir /tmp/cg && mount -t cgroup -o none,name=%s cgroup /tmp/cg && "
              "/escape open /tmp/cg/release_agent; umount /tmp/cg" % hier)
    name, out = run_in(containers, helper, "sh", "-c", script,
                       opts=CAPS + ["--security-opt", "seccomp=unconfined"])
    assert "result: ok" in out, out
    m = finding(t, name, "mount")
    assert m["mount_type"] == "cgroup" and m["mount_target"] == "/tmp/cg" and m["success"]
    w = finding(t, name, "sensitive-write")
    assert w["path"] == "/tmp/cg/release_agent" and w["path_resolved"] is True
    assert w["success"] is True and w["syscall"] in ("open", "openat")
    assert hier not in open("/proc/self/mountinfo").read()


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


def test_indirect_paths_are_resolved(tool, containers, helper):
    """A symlink the container made, /proc/self/root, a directory fd: the
    path the kernel resolved is reported."""
    t = tool("containerescape", "-j")
    script = ("ln -s /proc/sys/kernel/core_pattern /tmp/innocent && /escape open /tmp/innocent; "
              "/escape openat /proc/self/root/proc/sys kernel/core_pattern; "
              "cd /proc/sys/kernel && /escape open ./core_pattern")
    name, out = run_in(containers, helper, "sh", "-c", script,
                       opts=["--security-opt", "systempaths=unconfined"])
    assert out.count("result: ok") == 3, out
    t.wait_for(lambda e: len([x for x in findings_of(t, {name})
                              if x["technique"] == "sensitive-write"]) == 3,
               what="three sensitive-write findings")
    for ev in findings_of(t, {name}):
        assert ev["path"] == "/proc/sys/kernel/core_pattern" and ev["path_resolved"]


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
    t = tool("containerescape", "-j")
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
    # A finding after all that: everything before it has been read.
    marker, out = run_in(containers, helper, "/escape", "module")
    finding(t, marker, "kernel-module", what="the marker finding")
    # Ours however labelled: by name, by id alone (no name found), or by
    # mount namespace only (a runtime's set-up before its cgroup is known).
    ours = [e for e in t.json_events() if e.get("event") == "finding" and
            (e.get("container_name") in names or e.get("container_id") in ids or
             str(e.get("container_id")).startswith("mntns:") or
             any(n in json.dumps(e) for n in names | ids))]
    assert ours == []


def test_host_processes_only_with_host(tool, containers, helper, tmp_path):
    target = tmp_path / "release_agent"         # a name, not a cgroup file
    target.write_text("")
    default = tool("containerescape", "-j")
    with_host = tool("containerescape", "-j", "--host")
    subprocess.run([helper, "open", str(target)], check=True, capture_output=True)
    ev = with_host.wait_for(lambda e: e["event"] == "finding" and e.get("path") == str(target),
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
              "umount \"/tmp/$(printf 'a\\033[31mb')\"" % ("ctrace" + uuid.uuid4().hex[:8]))
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


def test_finding_storm_every_finding_printed_or_counted_lost(tool, containers, helper):
    """50,000 findings as fast as a container can make them (a file named
    release_agent opened for writing): each one is printed or counted as
    lost, none vanishes."""
    n = 50000
    name = containers.run("sleep", "600", name=unique("esc"),
                          opts=["-v", "%s:/escape:ro" % helper])
    containers.exec(name, "touch", "/tmp/release_agent")
    t = tool("containerescape", "-j", "-c", name)
    out = containers.exec(name, "/escape", "openmany", "/tmp/release_agent", str(n),
                          timeout=300).stdout
    assert "opened: %d" % n in out
    assert t.stop(signal.SIGINT, timeout=120) == 0
    printed = len([e for e in findings_of(t, {name}) if e["technique"] == "sensitive-write"])
    lost = [e for e in t.json_events() if e.get("event") == "lost"]
    lost_total = lost[-1]["lost_total"] if lost else 0
    assert printed + lost_total == n, (printed, lost_total)
    summary = [e for e in t.json_events() if e.get("event") == "summary"][-1]
    row = [r for r in summary["rows"] if r["container_name"] == name][0]
    assert row["attempts"] == printed and row["successes"] == printed


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
    containers.exec(a, "/escape", "module")
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
