"""containersyscall: the syscall table and profile logic (unit), and the tool
against real BPF and real Docker containers (integration)."""

import errno
import importlib.machinery
import importlib.util
import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import IMAGE, ROOT, TOOLS, docker, header_define, run_tool, unavailable, unique
import test_runtimes
from test_runtimes import CTR_IMAGE, ctr_remove

sys.path.insert(0, ROOT)
from ctrace import seccomp, syscalls  # noqa: E402

TOOL = "containersyscall"
ctr = test_runtimes.ctr     # its fixture: containerd's ctr with the test image


def load_tool():
    path = os.path.join(TOOLS, TOOL)
    loader = importlib.machinery.SourceFileLoader("containersyscall_tool", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


# -- unit: syscall names -----------------------------------------------------

# tracepoint name -> uapi (seccomp) name where the two differ
TRACEPOINT_ALIASES = {"newstat": "stat", "newlstat": "lstat", "newfstat": "fstat",
                      "newuname": "uname", "sendfile64": "sendfile", "umount": "umount2"}


def test_names_and_unknown_numbers():
    assert syscalls.name(83, "x86_64") == "mkdir"
    assert syscalls.name(257, "x86_64") == "openat"
    assert syscalls.name(231, "x86_64") == "exit_group"
    assert syscalls.name(56, "aarch64") == "openat"
    assert syscalls.name(94, "aarch64") == "exit_group"
    assert syscalls.name(9999, "x86_64") == "syscall_9999"
    assert syscalls.name(3, "sparc") == "syscall_3"
    assert syscalls.number("openat", "x86_64") == 257
    for table in syscalls.TABLES.values():
        assert len(set(table.values())) == len(table)      # no name twice


def test_nr_defines_name_each_call_and_mark_the_missing():
    # containeropen's one program at four exits: arm64 has no open or creat
    assert syscalls.nr_defines("OPEN", ["open", "openat", "creat"], "x86_64") == {
        "OPEN_NR_OPEN": 2, "OPEN_NR_OPENAT": 257, "OPEN_NR_CREAT": 85}
    assert syscalls.nr_defines("OPEN", ["open", "openat"], "aarch64") == {
        "OPEN_NR_OPEN": -1, "OPEN_NR_OPENAT": 56}


def _header_numbers(path):
    import re
    with open(path) as f:
        return {int(m.group(2)): m.group(1)
                for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)\s*$", f.read(), re.M)}


@pytest.mark.parametrize("header_name,table", [("unistd_64.h", "X86_64"), ("unistd_32.h", "I386")])
def test_table_matches_installed_uapi_header(header_name, table):
    if os.uname().machine != "x86_64":
        pytest.skip("these are x86_64's tables")
    path = "/usr/include/x86_64-linux-gnu/asm/" + header_name
    if not os.path.exists(path):
        unavailable("no uapi header %s installed (linux-libc-dev, make test-deps)" % header_name)
    header = _header_numbers(path)
    assert header
    for nr, name in header.items():
        assert getattr(syscalls, table).get(nr) == name, (nr, name)


def test_compat_numbers_split_to_the_i386_table():
    assert syscalls.split(20, "x86_64") == (20, "x86_64", False)
    assert syscalls.split(syscalls.COMPAT_BIT | 20, "x86_64") == (20, "i386", True)
    assert syscalls.name(*syscalls.split(syscalls.COMPAT_BIT | 20, "x86_64")[:2]) == "getpid"
    assert syscalls.split(syscalls.COMPAT_BIT | 5, "aarch64")[2] is False


def test_table_covers_running_kernels_syscall_tracepoints():
    """Every syscall the running kernel has a tracepoint for has a name in
    this machine's table (numbers are checked by the integration tests)."""
    root = next((p for p in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
                 if os.path.isdir(os.path.join(p, "events", "syscalls"))), None)
    if syscalls.machine() not in syscalls.TABLES:
        pytest.skip("ctrace has no syscall table for %s" % syscalls.machine())
    if root is None:
        unavailable("no tracefs syscall events readable here (not root, or tracefs "
                    "not mounted)")
    events = os.listdir(os.path.join(root, "events", "syscalls"))
    kernel = {TRACEPOINT_ALIASES.get(e[10:], e[10:]) for e in events
              if e.startswith("sys_enter_")}
    assert kernel
    assert kernel - set(syscalls.table().values()) == set()


# -- unit: profiles -----------------------------------------------------------

def test_new_profile_denies_by_default_and_allows_observed():
    p = seccomp.new_profile({"read", "write", "read"}, "x86_64")
    assert p["defaultAction"] == "SCMP_ACT_ERRNO"
    assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert p["syscalls"] == [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]
    assert seccomp.new_profile({"read"}, "aarch64")["architectures"][0] == "SCMP_ARCH_AARCH64"
    with pytest.raises(seccomp.ProfileError):
        seccomp.new_profile({"read"}, "mips")


def test_merge_keeps_everything_of_the_old_profile():
    old = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
           "architectures": ["SCMP_ARCH_X86_64"],
           "syscalls": [
               {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
               {"names": ["mkdir", "chmod"], "action": "SCMP_ACT_ALLOW"},
               {"names": ["ptrace"], "action": "SCMP_ACT_KILL"}]}
    snapshot = json.dumps(old)
    merged = seccomp.merge_profile(old, {"read", "mkdir", "personality"}, "x86_64")
    assert json.dumps(old) == snapshot                  # the input is not changed
    assert merged["defaultErrnoRet"] == 1
    assert merged["architectures"] == ["SCMP_ARCH_X86_64"]
    assert merged["syscalls"][0] == old["syscalls"][0]  # conditional rule intact
    assert merged["syscalls"][2] == old["syscalls"][2]
    assert merged["syscalls"][1]["names"] == ["chmod", "mkdir", "personality", "read"]
    assert seccomp.allowed_names(merged) == {"chmod", "mkdir", "personality", "read"}


def test_merge_into_profile_without_allow_rule_adds_one():
    merged = seccomp.merge_profile({"syscalls": []}, {"read"}, "x86_64")
    assert merged["defaultAction"] == "SCMP_ACT_ERRNO"
    assert merged["architectures"][0] == "SCMP_ARCH_X86_64"
    assert merged["syscalls"] == [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]


def test_load_profile_rejects_what_is_not_a_profile(tmp_path):
    cases = {"bad.json": "{not json", "list.json": "[]",
             "names.json": '{"syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]}',
             "entries.json": '{"syscalls": {"names": []}}'}
    for fname, text in cases.items():
        path = tmp_path / fname
        path.write_text(text)
        with pytest.raises(seccomp.ProfileError):
            seccomp.load_profile(str(path))
    with pytest.raises(seccomp.ProfileError):
        seccomp.load_profile(str(tmp_path / "missing.json"))


def test_write_profile_round_trips(tmp_path):
    path = str(tmp_path / "p.json")
    p = seccomp.new_profile({"read"}, "x86_64")
    seccomp.write_profile(path, p)
    assert seccomp.load_profile(path) == p
    assert os.listdir(str(tmp_path)) == ["p.json"]      # no temporary left


def test_parser_and_option_checks():
    mod = load_tool()
    parser = mod.build_parser()
    args = parser.parse_args(["2.5"])
    mod.check_args(args)
    assert args.interval == 2.5
    args = parser.parse_args(["-i", "3"])
    mod.check_args(args)
    assert args.interval == 3
    for argv in (["1", "-i", "2"], ["--wait", "x"], ["--merge", "/dev/null"],
                 ["--seccomp", "/tmp/p.json"], ["--seccomp", "/tmp/p.json", "-c", "a", "-c", "b"],
                 ["--seccomp", "/tmp/p.json", "-c", "a", "--wait", "b"],
                 ["--seccomp", "/nonexistent-dir/p.json", "--wait", "a"]):
        # Refused by argparse (exit 2) or by check_args (a usage error).
        with pytest.raises((mod.UsageError, SystemExit)) as exc:
            mod.check_args(parser.parse_args(argv))
        assert exc.type is mod.UsageError or exc.value.code == 2, argv


# -- integration ----------------------------------------------------------------

def summary_rows(t):
    """Rows of every summary object the tool printed (all lines must be JSON)."""
    rows = []
    for line in t.lines:
        obj = json.loads(line)
        if obj["event"] == "summary":
            rows += obj["rows"]
    return rows


def count(rows, container, syscall, field="calls"):
    return sum(r[field] for r in rows if r["container_name"] == container and
               r["syscall"] == syscall)


@pytest.mark.integration
def test_mkdir_pairs_counted_for_their_container_only(tool, containers):
    t = tool(TOOL, "-j", "-t", "0")
    a = containers.run("mkdirloop", "/tmp/d", "1000")
    b = containers.run("mkdirloop", "/tmp/d", "300")
    for name, pairs in ((a, 1000), (b, 300)):
        assert docker("wait", name).stdout.strip() == "0"
        assert docker("logs", name).stdout.strip() == "pairs=%d" % pairs
    assert t.stop() == 0
    rows = summary_rows(t)
    # mkdirloop is the only caller of mkdir/rmdir in either container (runc
    # uses mkdirat): exact counts show nothing leaked from one to the other.
    assert count(rows, a, "mkdir") == 1000
    assert count(rows, a, "rmdir") == 1000
    assert count(rows, b, "mkdir") == 300
    assert count(rows, b, "rmdir") == 300
    assert count(rows, a, "mkdir", "errors") == 0
    row = next(r for r in rows if r["container_name"] == a and r["syscall"] == "mkdir")
    cid = docker("inspect", "-f", "{{.Id}}", a).stdout.strip()
    assert row["container_id"] == cid and row["container_runtime"] == "docker"
    assert row["container_image"] == IMAGE and row["host"] is False
    assert row["nr"] == header_define("asm/unistd.h", "__NR_mkdir")     # the kernel's number


@pytest.mark.integration
def test_fork_counted_once_and_exit_group_counted(tool, containers):
    """A fork returns twice (parent and child) but is one call; exit_group
    never returns but is a call. -n sh: only the shell itself (its children
    exec /bin/true and change their name)."""
    t = tool(TOOL, "-j", "-t", "0", "-n", "sh")
    name = unique()
    r = containers.run("sh", "-c", "for i in 1 2 3 4 5; do /bin/true; done; echo done",
                       name=name, detach=False)
    assert r.returncode == 0 and r.stdout.strip() == "done", r.stderr
    assert t.stop() == 0
    rows = summary_rows(t)
    forks = sum(count(rows, name, s) for s in ("clone", "clone3", "fork", "vfork"))
    assert forks == 5
    assert count(rows, name, "exit_group") == 1
    assert count(rows, name, "execve") == 1         # runc's exec of sh
    assert count(rows, name, "wait4") >= 5


@pytest.mark.integration
def test_sigreturn_counted_and_killed_task_has_no_exit_call(tool, containers):
    """rt_sigreturn comes back with its number wiped and exit_group never
    comes back: both are counted all the same, exactly.  A shell killed by
    a signal made no exit call: nothing is counted for it (only its parent's
    exit_group).  The container's pid 1 cannot be killed from inside, so
    the victim is a child shell."""
    t = tool(TOOL, "-j", "-t", "0", "-n", "sh")
    trapped, killed = unique("trap"), unique("killed")
    r = containers.run("sh", "-c", 'trap "echo caught" USR1; kill -USR1 $$; '
                       'kill -USR1 $$; echo done', name=trapped, detach=False)
    assert r.stdout.split() == ["caught", "caught", "done"], r.stderr
    r = containers.run("sh", "-c", 'sh -c "kill -9 \\$\\$"; echo $?', name=killed,
                       detach=False)
    assert r.stdout.strip() == "137", r.stderr
    assert t.stop() == 0
    rows = summary_rows(t)
    assert count(rows, trapped, "rt_sigreturn") == 2
    assert count(rows, trapped, "rt_sigreturn", "errors") == 0
    assert count(rows, trapped, "exit_group") == 1
    assert count(rows, killed, "kill") == 1
    assert count(rows, killed, "exit_group") == 1
    assert count(rows, killed, "exit") == 0


@pytest.mark.integration
def test_removed_container_is_still_named(tool, containers):
    """docker run --rm: the counts are read after the container is gone; its
    name comes from what was captured while it existed."""
    t = tool(TOOL, "-j", "-t", "0")
    name = unique("gone")
    r = containers.run("mkdirloop", "/tmp/d", "10", name=name, opts=["--rm"], detach=False)
    assert r.stdout.strip() == "pairs=10", r.stderr
    assert t.stop() == 0
    rows = summary_rows(t)
    assert count(rows, name, "mkdir") == 10


def cgroup_dir(pid):
    """The cgroup v2 directory of process PID (cgroup2 mounted where the
    host has it: /sys/fs/cgroup, or /sys/fs/cgroup/unified beside v1)."""
    with open("/proc/%d/cgroup" % pid) as f:
        path = next(line for line in f if line.startswith("0::")).strip()[3:]
    with open("/proc/self/mounts") as f:
        root = next(line.split()[1] for line in f if line.split()[2] == "cgroup2")
    return root + path


@pytest.mark.integration
def test_task_moved_to_another_cgroup_is_counted_there(tool, containers):
    """Calls are counted per cgroup, which the kernel side caches per task
    and CPU: a task moved to another cgroup mid-life (cgroup.procs written)
    has its later calls counted under the new one.  The shell spins on a
    file test (stat calls, no other process) while it is moved, then makes
    70 chdir calls of its own (cd, a builtin): nothing is exec'd and
    nothing exits in between (either would refresh the cache anyway)."""
    t = tool(TOOL, "-j", "-t", "0")
    b = containers.run("sleep", "600")
    a = containers.run("sh", "-c", "cd /; echo ready; while [ ! -e /tmp/go ]; do :; done; "
                       "i=0; while [ $i -lt 70 ]; do cd /; i=$((i+1)); done; echo done; "
                       "sleep 600")
    logs = lambda: docker("logs", a).stdout.split()
    try:
        test_runtimes.wait_until(lambda: "ready" in logs(), "the shell's loop")
        pid_a, pid_b = (int(docker("inspect", "-f", "{{.State.Pid}}", n).stdout) for n in (a, b))
        with open(os.path.join(cgroup_dir(pid_b), "cgroup.procs"), "w") as f:
            f.write("%d\n" % pid_a)
        open("/proc/%d/root/tmp/go" % pid_a, "w").close()
        test_runtimes.wait_until(lambda: "done" in logs(), "the 70 chdir calls")
        assert cgroup_dir(pid_a) == cgroup_dir(pid_b)
    finally:
        docker("rm", "-f", a, check=False)      # before B, whose cgroup it is in
    assert t.stop() == 0
    rows = summary_rows(t)
    assert count(rows, a, "chdir") == 1         # the first cd, before the move
    assert count(rows, b, "chdir") == 70


# A 32-bit x86 program without libc: getpid three times, mkdir /tmp/d32,
# exit status 0 if that worked.
C32 = r"""
static int sys1(int nr, int a) { int r; __asm__ volatile ("int $0x80" : "=a"(r) : "a"(nr), "b"(a) : "memory"); return r; }
static int sys2(int nr, int a, int b) { int r; __asm__ volatile ("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b) : "memory"); return r; }
void _start(void) {
    sys1(20, 0); sys1(20, 0); sys1(20, 0);
    int r = sys2(39, (int)"/tmp/d32", 0755);
    sys1(252, r != 0);
    for (;;) ;
}
"""


# The smallest 32-bit x86 program: exit(0) through int $0x80.
C32_PROBE = r"""
void _start(void) { __asm__ volatile ("int $0x80" : : "a"(1), "b"(0)); for (;;) ; }
"""


def build32(tmp_path, name, source):
    src, exe = tmp_path / (name + ".c"), tmp_path / name
    src.write_text(source)
    r = subprocess.run(["gcc", "-m32", "-nostdlib", "-static", "-O1", "-o", str(exe), str(src)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        # gcc (make test-deps) builds these without a 32-bit C library.
        unavailable("cannot build a 32-bit x86 program with gcc -m32: %s" % r.stderr[-300:])
    return str(exe)


@pytest.fixture
def ia32_program(tmp_path):
    if os.uname().machine != "x86_64":
        pytest.skip("ia32 calls exist on x86_64 only")
    probe = build32(tmp_path, "probe32", C32_PROBE)
    try:
        r = subprocess.run([probe], capture_output=True, timeout=30)
    except OSError as exc:
        if exc.errno != errno.ENOEXEC:
            raise
        # A machine limitation, not a BPF one: the kernel (CONFIG_IA32_EMULATION
        # off, ia32_emulation=0, or a hypervisor that refuses it) refuses to
        # exec a 32-bit program at all, so no ia32 call can be traced here.
        pytest.skip("this kernel cannot run 32-bit x86 programs (%s)" % exc.strerror)
    # It ran: anything but its exit(0) (a crash, a signal) is a failure.
    assert r.returncode == 0, "the 32-bit probe ended with %d" % r.returncode
    return build32(tmp_path, "c32", C32)


@pytest.mark.integration
def test_ia32_calls_are_named_from_the_i386_table(tool, containers, ia32_program, tmp_path):
    t = tool(TOOL, "-j", "-t", "0")
    name = unique("ia32")
    r = containers.run("/c32", name=name, opts=["-v", ia32_program + ":/c32:ro"], detach=False)
    assert r.returncode == 0, r.stderr
    assert t.stop() == 0
    rows = [r for r in summary_rows(t) if r["container_name"] == name and r["compat"]]
    by_name = {r["syscall"]: r for r in rows}
    assert by_name["getpid"]["calls"] == 3 and by_name["getpid"]["nr"] == 20
    assert by_name["mkdir"]["calls"] == 1 and by_name["mkdir"]["nr"] == 39
    assert by_name["exit_group"]["calls"] == 1 and by_name["exit_group"]["nr"] == 252
    assert "writev" not in by_name          # what 20 means in the 64-bit table

    # A profile recorded from it lets it run (its exit_group included).
    profile = str(tmp_path / "ia32.json")
    rec = unique("ia32rec")
    t = tool(TOOL, "--seccomp", profile, "--wait", rec)
    r = containers.run("/c32", name=rec, opts=["-v", ia32_program + ":/c32:ro"], detach=False)
    assert r.returncode == 0, r.stderr
    assert t.wait(30) == 0, "\n".join(t.err)
    r = containers.run("/c32", opts=["-v", ia32_program + ":/c32:ro",
                                     "--security-opt", "seccomp=" + profile], detach=False)
    assert r.returncode == 0, r.stderr


@pytest.mark.integration
def test_container_filter_and_errno_column(tool, containers):
    a = containers.run("sleep", "600")
    b = containers.run("sleep", "600")
    t = tool(TOOL, "-j", "-e", "-t", "0", "-c", a)
    containers.exec(a, "cat", "/nonexistent-a", check=False)
    containers.exec(b, "cat", "/nonexistent-b", check=False)
    assert t.stop() == 0
    rows = summary_rows(t)
    assert rows and {r["container_name"] for r in rows} == {a}
    failed = [r for r in rows if r["syscall"] == "openat" and r["errors"]]
    assert failed and failed[0]["top_errno"] == "ENOENT" and failed[0]["top_errno_count"] >= 1
    assert count(rows, a, "execve") >= 1


@pytest.mark.integration
def test_host_only_with_host_and_unshare_is_a_container(tool, tmp_path):
    default = tool(TOOL, "-j", "-t", "0")
    with_host = tool(TOOL, "-j", "-t", "0", "--host")
    target = str(tmp_path / "hostdir")
    os.mkdir(target)                                    # this (host) process
    os.rmdir(target)
    subprocess.run(["unshare", "--mount", "--pid", "--fork", "/bin/mkdir", target],
                   check=True)
    assert default.stop() == 0 and with_host.stop() == 0
    rows = summary_rows(with_host)
    assert any(r["host"] and r["container"] == "host" and r["syscall"] == "mkdir"
               for r in rows)
    assert not any(r["host"] for r in summary_rows(default))
    ns_rows = [r for r in summary_rows(default) if r["syscall"] == "mkdir" and
               r["container"].startswith("mntns:")]
    assert ns_rows and ns_rows[0]["container_id"] == ns_rows[0]["container"]


@pytest.mark.integration
def test_interval_refreshes_and_table_fits_80_columns(tool, containers):
    name = containers.run("sh", "-c", "while true; do cat /etc/hostname >/dev/null; done")
    t = tool(TOOL, "0.3", "-t", "5")
    def refreshes(_line):
        return sum(1 for l in t.lines if l.endswith("syscalls per container")) >= 2
    t.wait_for(refreshes, what="two refreshes")
    assert t.stop() == 0
    header = next(l for l in t.lines if l.startswith("CONTAINER"))
    assert header.split() == ["CONTAINER", "SYSCALL", "CALLS", "ERRORS"]
    assert any(l.startswith(name[:16]) for l in t.lines)
    assert all(len(l) < 80 for l in t.lines)


@pytest.mark.integration
def test_json_lines_are_valid_with_documented_fields(tool, containers):
    name = containers.run("sleep", "600")
    t = tool(TOOL, "-j", "-e", "0.2")
    containers.exec(name, "true")
    t.wait_for(lambda e: e["event"] == "summary" and
               any(r["container_name"] == name for r in e["rows"]), what="row of %s" % name)
    assert t.stop() == 0
    keys = {"container", "runtime_setup", "syscall", "calls", "errors", "top_errno",
            "top_errno_count", "nr", "compat", "container_id", "container_name", "container_image",
            "container_runtime", "host", "k8s_namespace", "k8s_pod", "k8s_pod_uid",
            "k8s_container", "k8s_sandbox"}
    for line in t.lines:
        obj = json.loads(line)
        assert obj["event"] == "summary"
        assert {"timestamp", "interval_s", "rows"} <= set(obj)
        for r in obj["rows"]:
            assert set(r) == keys


@pytest.mark.integration
def test_seccomp_profile_from_first_instruction_end_to_end(tool, containers, tmp_path):
    profile = str(tmp_path / "profile.json")
    name = unique("rec")
    workload = ["sh", "-c", "cat /etc/hostname; ls /"]
    t = tool(TOOL, "--seccomp", profile, "--wait", name, "-j")
    recorded = containers.run(*workload, name=name, detach=False)
    assert recorded.returncode == 0, recorded.stderr
    # The tool ends by itself when the container exits.
    assert t.wait(30) == 0, "\n".join(t.err)
    done = [json.loads(l) for l in t.lines if '"seccomp"' in l]
    assert done and done[0]["file"] == profile
    with open(profile) as f:
        p = json.load(f)
    assert p["defaultAction"] == "SCMP_ACT_ERRNO"
    if os.uname().machine == "x86_64":
        assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = seccomp.allowed_names(p)
    assert {"execve", "openat", "read", "write", "exit_group"} <= allowed
    assert "mkdir" not in allowed

    again = containers.run(*workload, opts=["--security-opt", "seccomp=" + profile],
                           detach=False)
    assert again.returncode == 0, again.stderr
    # The same listing of / (the first line, the hostname, is the new id).
    assert len(recorded.stdout.splitlines()) > 2
    assert again.stdout.splitlines()[1:] == recorded.stdout.splitlines()[1:]
    refused = containers.run("sh", "-c", "mkdir /tmp/x",
                             opts=["--security-opt", "seccomp=" + profile], detach=False)
    assert refused.returncode != 0
    assert "Operation not permitted" in refused.stderr


@pytest.mark.integration
def test_seccomp_wait_for_short_lived_removed_container(tool, containers, tmp_path):
    """docker run --rm of a command that lasts milliseconds: recorded, and
    the recording ends by itself although the container is gone before the
    tool could look at it."""
    profile = str(tmp_path / "true.json")
    name = unique("quick")
    t = tool(TOOL, "--seccomp", profile, "--wait", name)
    r = containers.run("true", name=name, opts=["--rm"], detach=False)
    assert r.returncode == 0, r.stderr
    assert t.wait(30) == 0, "\n".join(t.err)
    again = containers.run("true", opts=["--rm", "--security-opt", "seccomp=" + profile],
                           detach=False)
    assert again.returncode == 0, again.stderr


@pytest.mark.integration
def test_seccomp_running_container_with_merge(tool, containers, tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                               "architectures": ["SCMP_ARCH_X86_64"],
                               "syscalls": [{"names": ["mkdir", "chmod"],
                                             "action": "SCMP_ACT_ALLOW"},
                                            {"names": ["ptrace"],
                                             "action": "SCMP_ACT_KILL"}]}))
    profile = str(tmp_path / "merged.json")
    name = containers.run("sleep", "600")
    t = tool(TOOL, "--seccomp", profile, "--merge", str(old), "-c", name)
    containers.exec(name, "cat", "/etc/hostname")
    assert t.stop() == 0, "\n".join(t.err)
    assert any("wrote %s" % profile in l for l in t.err)
    with open(profile) as f:
        p = json.load(f)
    allowed = seccomp.allowed_names(p)
    assert {"mkdir", "chmod"} <= allowed                # every old syscall kept
    assert {"execve", "openat", "read", "write"} <= allowed
    assert {"names": ["ptrace"], "action": "SCMP_ACT_KILL"} in p["syscalls"]
    assert p["architectures"] == ["SCMP_ARCH_X86_64"]


@pytest.mark.integration
def test_seccomp_recording_of_running_container_ends_when_it_stops(tool, containers,
                                                                     tmp_path):
    profile = tmp_path / "stopped.json"
    name = containers.run("sleep", "600")
    t = tool(TOOL, "--seccomp", str(profile), "-c", name)
    containers.exec(name, "cat", "/etc/hostname")
    docker("kill", name)
    assert t.wait(30) == 0, "\n".join(t.err)
    assert "openat" in seccomp.allowed_names(json.loads(profile.read_text()))


@pytest.mark.integration
def test_seccomp_without_observation_writes_nothing(bpf_ok, docker_ok, tmp_path):
    profile = tmp_path / "none.json"
    r = run_tool(TOOL, "--seccomp", str(profile), "--wait", unique("never"), "-d", "0.5")
    assert r.returncode == 1
    assert "no system call" in r.stderr and not profile.exists()


@pytest.mark.parametrize("argv", [
    ["0"], ["-1"], ["abc"], ["1", "-i", "2"], ["-t", "-1"], ["-e", "-p", "0"],
    ["--wait", "web"], ["--merge", "x.json"], ["--seccomp", "p.json"],
    ["--seccomp", "p.json", "--wait", "a", "-c", "b"],
    ["--seccomp", "p.json", "--wait", "a", "--host"],
    ["--seccomp", "p.json", "--wait", "a", "--runtime"],
    ["--seccomp", "p.json", "--wait", "a", "--merge", "/nonexistent.json"],
    ["--seccomp", "p.json", "--wait", "a", "--merge", "/etc/hostname"],
    ["--host", "-c", "x"], ["--bogus"],
])
def test_bad_arguments_exit_2_with_one_line(argv, tmp_path):
    r = subprocess.run(["/usr/bin/python3", os.path.join(TOOLS, TOOL)] + argv,
                       capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("containersyscall: error: ")
    assert r.stdout == ""


@pytest.mark.integration
def test_unknown_container_exits_2(docker_ok, tmp_path):
    r = run_tool(TOOL, "-c", unique("absent"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.integration
def test_sigint_and_sigterm_exit_zero(tool):
    for sig in (signal.SIGINT, signal.SIGTERM):
        t = tool(TOOL)
        assert t.stop(sig) == 0
        assert not any("Traceback" in l for l in t.err)


@pytest.mark.integration
def test_runtime_setup_calls_only_with_runtime(tool, containers):
    """runc init's set-up (mounts, pivot_root, sethostname, ...) runs in the
    container's namespaces before the entrypoint: counted only with
    --runtime, in rows of their own."""
    default = tool(TOOL, "-j", "-t", "0")
    runtime = tool(TOOL, "-j", "-t", "0", "--runtime")
    name = unique()
    containers.run("cat", "/etc/hostname", name=name)
    assert docker("wait", name).stdout.strip() == "0"
    assert default.stop() == 0 and runtime.stop() == 0
    mine = [r for r in summary_rows(default) if r["container_name"] == name]
    assert not [r for r in mine if r["runtime_setup"]]
    assert {"execve", "openat", "exit_group"} <= {r["syscall"] for r in mine}
    assert not {"pivot_root", "sethostname", "mount"} & {r["syscall"] for r in mine}
    rows = [r for r in summary_rows(runtime) if r["container_name"] == name]
    setup = {r["syscall"] for r in rows if r["runtime_setup"]}
    assert {"pivot_root", "mount"} <= setup, setup
    # The workload's rows are the same in both runs.
    work = {r["syscall"]: r["calls"] for r in rows if not r["runtime_setup"]}
    assert work == {r["syscall"]: r["calls"] for r in mine}


def test_top_n_keeps_the_n_busiest_rows(tool, containers):
    name = containers.run("sh", "-c", "while true; do cat /etc/hostname >/dev/null; done")
    top = tool(TOOL, "-j", "-t", "3", "-c", name, "0.3")
    every = tool(TOOL, "-j", "-t", "0", "-c", name, "0.3")
    every.wait_for(lambda e: e["event"] == "summary" and len(e["rows"]) > 3,
                   what="a refresh with more than 3 rows")
    top.wait_for(lambda e: e["event"] == "summary" and e["rows"], what="a refresh of -t 3")
    assert top.stop() == 0 and every.stop() == 0
    for summary in (e for e in top.json_events() if e["event"] == "summary" and e["rows"]):
        calls = [r["calls"] for r in summary["rows"]]
        assert len(calls) == 3 and calls == sorted(calls, reverse=True), summary["rows"]


@pytest.mark.integration
def test_wait_records_a_containerd_container(tool, ctr, tmp_path):
    cid = unique("ctrrec")
    profile = tmp_path / "containerd.json"
    t = tool(TOOL, "--seccomp", str(profile), "--wait", cid)
    try:
        # Not gone within milliseconds: its bundle is read while it exists,
        # however busy the machine (a bundle lives only as long as its task).
        r = ctr("run", "--rm", CTR_IMAGE, cid, "sh", "-c", "sleep 1; cat /etc/hostname; echo done")
        assert r.returncode == 0 and r.stdout.endswith("done\n"), r.stderr
        assert t.wait(60) == 0, "\n".join(t.err)
    finally:
        ctr_remove(ctr, cid)
    allowed = seccomp.allowed(json.loads(profile.read_text()))
    assert {"execve", "read", "write"} <= allowed
    assert {"mount", "pivot_root", "sethostname", "unshare"}.isdisjoint(allowed)
