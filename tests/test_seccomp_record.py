"""containersyscall --seccomp: a recorded profile allows what the container's
seccomp filter will see (the workload, and the runtime's calls after the
filter), nothing of the runtime's set-up before it; real BPF, real Docker."""

import json
import re
import sys

import pytest

from conftest import IMAGE, ROOT, docker, header_define, unique
import test_runtimes
from test_runtimes import PODMAN_IMAGE, PODMAN_RUN

sys.path.insert(0, ROOT)
from ctrace import seccomp  # noqa: E402

TOOL = "containersyscall"
SHELL = "sleep 3; cat /etc/hostname; ls /; echo done"
# What runc's set-up does before the filter, and the shell workload never.
SETUP_ONLY = {"mount", "umount2", "pivot_root", "unshare", "setns", "keyctl",
              "sethostname", "mknodat", "mkdirat", "symlinkat"}
RUNS = 5
# Docker's default profile (moby profiles/seccomp/default.json; the
# engine's seccomp documentation), spelled here rather than read from
# ctrace.seccomp: calls it allows an ordinary container outright ...
DOCKER_ALLOWS = {"read", "write", "openat", "close", "execve", "exit_group", "mmap", "brk",
                 "rt_sigreturn", "wait4", "clock_nanosleep", "epoll_pwait", "getdents64",
                 "pselect6", "socketpair", "accept4", "sendmmsg", "io_uring_setup"}
# ... and calls it refuses one (they need a capability Docker does not give).
DOCKER_REFUSES = {"mount", "umount2", "pivot_root", "setns", "unshare", "keyctl", "add_key",
                  "request_key", "init_module", "finit_module", "delete_module", "bpf",
                  "kexec_load", "reboot", "swapon", "swapoff", "acct", "open_by_handle_at",
                  "quotactl"}
# x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl).
X86_64_EXECVE = 59
podman = test_runtimes.podman      # its fixture: podman's API service and the image


# -- unit -----------------------------------------------------------------------

def test_profile_adds_runtime_set_and_keeps_dockers_conditions():
    p = seccomp.build_profile({"read", "personality"}, arch="x86_64")
    allowed = seccomp.allowed(p)
    assert {"execve", "exit", "exit_group", "read", "capset", "setuid", "close_range"} <= allowed
    plain = seccomp.allowed_names(p)           # unconditional only
    assert {"clone", "clone3", "personality"}.isdisjoint(plain)
    rules = p["syscalls"]
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} in rules
    clone = [r for r in rules if r["names"] == ["clone"]]
    assert clone and clone[0]["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"
    assert len([r for r in rules if r["names"] == ["personality"]]) == 5
    assert not seccomp.docker_refuses(allowed, "x86_64")


def test_docker_comparison():
    assert seccomp.docker_refuses({"read", "mount", "unshare", "bpf", "clone", "_llseek"},
                                  "x86_64") == ["bpf", "mount", "unshare"]
    assert seccomp.docker_refuses(DOCKER_ALLOWS | DOCKER_REFUSES, "x86_64") == \
        sorted(DOCKER_REFUSES)
    docker_allowed = seccomp.docker_allowed("x86_64")
    assert 250 < len(docker_allowed) < 400          # 300-odd allowed of 360-odd
    assert DOCKER_ALLOWS <= docker_allowed
    assert DOCKER_REFUSES.isdisjoint(docker_allowed)


def test_observed_says_whether_an_exec_succeeded():
    execve = X86_64_EXECVE
    names, unknown, ran = seccomp.observed({execve: (1, 1), 0: (5, 0), 9999: (1, 0)},
                                           "x86_64")
    assert names == {"execve", "read"} and unknown == ["9999"] and not ran
    assert seccomp.observed({execve: (2, 1)}, "x86_64")[2]


# -- integration ------------------------------------------------------------------

def create(containers, cmd, opts=()):
    name = unique("rec")
    containers.names.append(name)
    docker("create", "--name", name, *opts, IMAGE, *cmd)
    return name


def record(tool, containers, tmp_path, cmd, opts=(), extra=()):
    """docker create, the tool --wait, docker start: (profile, its path,
    docker start's output, the tool's stderr)."""
    name = create(containers, cmd, opts)
    profile = str(tmp_path / ("%s.json" % name))
    t = tool(TOOL, "--seccomp", profile, "--wait", name, *extra)
    started = docker("start", "-a", name)
    assert t.wait(60) == 0, "\n".join(t.err)
    with open(profile) as f:
        return json.load(f), profile, started.stdout, t.err


def run_under(profile_path, cmd, runtime="runc"):
    return docker("run", "--rm", "--runtime", runtime, "--security-opt",
                  "seccomp=" + profile_path, IMAGE, *cmd, check=False)


def check_shell_profile(p, path, runtime):
    allowed = seccomp.allowed(p)
    assert SETUP_ONLY.isdisjoint(allowed), SETUP_ONLY & allowed
    assert "seccomp" not in allowed         # the call installing the filter
    assert {"execve", "exit_group", "capset", "wait4"} <= allowed
    for i in range(RUNS):
        r = run_under(path, ["sh", "-c", SHELL], runtime)
        assert r.returncode == 0 and r.stdout.endswith("done\n"), (i, r.stderr)
    refused = run_under(path, ["mkdir", "/tmp/x"], runtime)
    assert refused.returncode != 0 and "Operation not permitted" in refused.stderr


@pytest.mark.integration
def test_shell_workload_profile_has_no_setup_calls_and_runs(tool, containers, tmp_path,
                                                            runtime):
    p, path, out, err = record(tool, containers, tmp_path, ["sh", "-c", SHELL],
                               opts=["--runtime", runtime])
    assert out.endswith("done\n")
    check_shell_profile(p, path, runtime)
    summary = [l for l in err if "wrote" in l]
    assert summary, err
    m = re.search(r" (\d+) allowed; Docker's default profile allows (\d+) of this "
                  r"machine's (\d+)$", summary[0])
    assert m, summary
    allowed, docker_allowed, known = (int(g) for g in m.groups())
    assert allowed == len({n for rule in p["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"
                           for n in rule["names"]})
    assert 250 < docker_allowed < known
    assert not any("warning" in l for l in err)


@pytest.mark.integration
def test_recorded_without_a_filter(tool, containers, tmp_path, runtime):
    """seccomp=unconfined: the mode stays 0; from the entrypoint's exec,
    plus the runtime's fixed set."""
    p, path, out, _ = record(tool, containers, tmp_path, ["sh", "-c", SHELL],
                             opts=["--runtime", runtime, "--security-opt", "seccomp=unconfined"])
    assert out.endswith("done\n")
    check_shell_profile(p, path, runtime)


@pytest.mark.integration
def test_workload_that_makes_a_directory_gets_mkdir(tool, containers, tmp_path):
    cmd = ["sh", "-c", "mkdir /tmp/d && echo made"]
    p, path, out, _ = record(tool, containers, tmp_path, cmd)
    assert out == "made\n"
    assert seccomp.allowed(p) & {"mkdir", "mkdirat"}
    r = run_under(path, cmd)
    assert r.returncode == 0 and r.stdout == "made\n", r.stderr


@pytest.mark.integration
def test_docker_exec_records_the_command_not_runcs_setup(tool, containers, tmp_path, runtime):
    profile = str(tmp_path / "exec.json")
    name = containers.run("sleep", "600", opts=["--runtime", runtime])
    t = tool(TOOL, "--seccomp", profile, "-c", name)
    containers.exec(name, "mkdir", "/tmp/made-by-exec")
    assert t.stop() == 0, "\n".join(t.err)
    with open(profile) as f:
        allowed = seccomp.allowed(json.load(f))
    assert allowed & {"mkdir", "mkdirat"}           # the exec'd command's
    assert {"setns", "mount", "pivot_root", "unshare"}.isdisjoint(allowed)


@pytest.mark.integration
def test_merge_keeps_the_old_profile_and_warns_beyond_docker(tool, containers, tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                               "syscalls": [{"names": ["chmod", "mount"],
                                             "action": "SCMP_ACT_ALLOW"}]}))
    p, _, _, err = record(tool, containers, tmp_path, ["cat", "/etc/hostname"],
                          extra=["--merge", str(old)])
    allowed = seccomp.allowed(p)
    assert {"chmod", "mount", "execve", "read"} <= allowed
    assert any("warning" in l and l.endswith("allows mount, which Docker's default "
                                             "profile refuses to an ordinary container")
               for l in err), err


@pytest.mark.integration
def test_container_that_fails_to_start_gives_no_profile(tool, containers, tmp_path):
    """The entrypoint's exec fails (not an executable format) after the
    filter, and a missing entrypoint fails before it: exit 1, no file."""
    bad = tmp_path / "bad"
    bad.write_text("not a program\n")
    bad.chmod(0o755)
    for cmd, copy in ((["/bad"], True), (["/nonexistent"], False)):
        name = create(containers, cmd)
        if copy:
            docker("cp", str(bad), name + ":/bad")
        profile = tmp_path / ("%s.json" % name)
        t = tool(TOOL, "--seccomp", str(profile), "--wait", name)
        docker("start", name, check=False)
        assert t.wait(60) == 1, "\n".join(t.err)
        assert not profile.exists()
        assert any("not written" in l for l in t.err), t.err


@pytest.mark.integration
def test_podman_wait_recording(podman, tool, tmp_path, runtime):
    name = unique("pmrec")
    profile = tmp_path / "podman.json"
    t = tool(TOOL, "--seccomp", str(profile), "--wait", name)
    # Not --rm: podman's API then says when it ended, however short it was.
    try:
        r = podman(*PODMAN_RUN, "--runtime", runtime, "--name", name, PODMAN_IMAGE, "sh", "-c",
                   "cat /etc/hostname; echo done")
        assert r.returncode == 0, r.stderr
        assert t.wait(60) == 0, "\n".join(t.err)
    finally:
        podman("rm", "-f", name)
    allowed = seccomp.allowed(json.loads(profile.read_text()))
    assert {"execve", "read", "write"} <= allowed
    assert {"mount", "pivot_root", "sethostname", "unshare"}.isdisjoint(allowed)



# Runs argv[1:] under an allow-all seccomp filter (installed as root without
# no_new_privs): a runtime that itself runs under a filter, as under
# systemd's SystemCallFilter=.
UNDER_FILTER = """
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
insn = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 0x7fff0000))
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
prog = Prog(1, ctypes.addressof(insn))
if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:   # PR_SET_SECCOMP, FILTER
    sys.exit("prctl: %s" % os.strerror(ctypes.get_errno()))
os.execvp(sys.argv[1], sys.argv[1:])
"""


@pytest.mark.integration
def test_runtime_under_a_filter_of_its_own(podman, tool, tmp_path):
    """podman (and so conmon and runc) started under a seccomp filter: every
    task of the container is in filter mode before the container exists, so
    the mode says nothing; recorded from the entrypoint's exec instead."""
    import shutil
    import subprocess
    name = unique("pmflt")
    profile = tmp_path / "under-filter.json"
    t = tool(TOOL, "--seccomp", str(profile), "--wait", name)
    try:
        r = subprocess.run(["/usr/bin/python3", "-c", UNDER_FILTER, shutil.which("podman"),
                            *PODMAN_RUN, "--name", name, PODMAN_IMAGE, "sh", "-c",
                            "grep Seccomp: /proc/self/status; echo done"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "Seccomp:\t2" in r.stdout and r.stdout.endswith("done\n")
        assert t.wait(60) == 0, "\n".join(t.err)
    finally:
        podman("rm", "-f", name)
    allowed = seccomp.allowed(json.loads(profile.read_text()))
    assert {"execve", "read", "write"} <= allowed
    assert {"mount", "pivot_root", "sethostname", "unshare", "setns"}.isdisjoint(allowed)


# HOLDER keeps a mount namespace of its own (a "container" by its mount
# namespace) until its stdin closes.  OWN_FILTER waits for a line on stdin,
# then forks a child that joins that namespace by setns (so it is not a
# workload: it exec'd outside, like a runtime's init), installs a first
# seccomp filter (allow-all) with seccomp(2), calls getcpu under it, exits.
HOLDER = """
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).unshare(0x00020000) != 0:    # CLONE_NEWNS
    sys.exit("unshare: %s" % os.strerror(ctypes.get_errno()))
print(os.stat("/proc/self/ns/mnt").st_ino, flush=True)
sys.stdin.read()
"""
OWN_FILTER = """
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
HOLDER, SECCOMP, GETCPU = (int(a) for a in sys.argv[1:4])
sys.stdin.readline()
pid = os.fork()
if pid == 0:
    fd = os.open("/proc/%d/ns/mnt" % HOLDER, os.O_RDONLY)
    if libc.setns(fd, 0x00020000) != 0:
        os._exit(3)
    insn = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 0x7fff0000))
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    prog = Prog(1, ctypes.addressof(insn))
    if libc.syscall(SECCOMP, 1, 0, ctypes.byref(prog)) != 0:    # SET_MODE_FILTER
        os._exit(4)
    libc.syscall(GETCPU, None, None, None)
    os._exit(0)
print("child", os.waitpid(pid, 0)[1], flush=True)
"""


@pytest.mark.integration
def test_the_call_installing_the_filter_is_left_out(tool, tmp_path):
    """A runtime-like task (exec'd outside the namespace it joined) installs
    its first filter with seccomp(2): that call entered without a filter and
    is not in the profile; getcpu, under the filter, is."""
    import subprocess
    profile = tmp_path / "own.json"
    holder = subprocess.Popen(["/usr/bin/python3", "-c", HOLDER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    p = subprocess.Popen(["/usr/bin/python3", "-c", OWN_FILTER, str(holder.pid),
                          str(header_define("sys/syscall.h", "__NR_seccomp")),
                          str(header_define("sys/syscall.h", "__NR_getcpu"))],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        mntns = holder.stdout.readline().strip()
        assert mntns.isdigit()
        t = tool(TOOL, "--seccomp", str(profile), "-c", "mntns:" + mntns)
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline() == "child 0\n"
        assert p.wait(30) == 0
    finally:
        for proc in (p, holder):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert t.stop() == 0, "\n".join(t.err)
    allowed = seccomp.allowed(json.loads(profile.read_text()))
    assert "getcpu" in allowed
    assert "seccomp" not in allowed


@pytest.mark.integration
def test_runtime_set_covers_what_the_runtime_does_after_the_filter(tool, containers, tmp_path,
                                                                  runtime):
    """The fixed set is right for this machine's runtimes: what a recording
    under Docker's filter sees beyond the same workload recorded without a
    filter (the runtime's calls after installing it) is all in it."""
    seen = {}
    for opts in ((), ("--security-opt", "seccomp=unconfined")):
        name = create(containers, ["true"], ("--runtime", runtime) + opts)
        t = tool(TOOL, "--seccomp", str(tmp_path / (name + ".json")), "--wait", name, "-j")
        docker("start", "-a", name)
        assert t.wait(60) == 0, "\n".join(t.err)
        done = [json.loads(l) for l in t.lines if '"seccomp"' in l]
        seen[bool(opts)] = set(done[0]["observed"])
    after_filter = seen[False] - seen[True]
    assert "capset" in after_filter and after_filter & {"setuid", "setresuid"}, after_filter
    assert after_filter <= seccomp.RUNTIME_AFTER_FILTER, \
        after_filter - seccomp.RUNTIME_AFTER_FILTER
