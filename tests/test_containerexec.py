"""containerexec against real BPF and real Docker containers."""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import IMAGE, PROMPT_EXIT, docker, pipe_into_head, unavailable, unique
from ctrace.cgroups import CGROUP2_ROOTS
from ctrace.output import json_text_bytes

pytestmark = pytest.mark.integration


def execs(t, container=None):
    return [e for e in t.json_events() if e.get("event") == "exec" and
            (container is None or e["container_name"] == container)]


def test_exec_in_running_container_has_name_id_and_image(tool, containers, runtime):
    name = containers.run("sleep", "600", opts=["--runtime", runtime])
    t = tool("containerexec", "-j")
    marker = unique("marker")
    containers.exec(name, "echo", marker)
    ev = t.wait_for(lambda e: e["event"] == "exec" and marker in e["args"], what="exec of echo")
    cid = docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
    assert ev["container_name"] == name
    assert ev["container_id"] == cid
    assert ev["container_image"] == IMAGE
    assert ev["container_runtime"] == "docker"
    assert ev["args"] == ["echo", marker]
    assert ev["retval"] == 0 and ev["error"] is None
    assert ev["host"] is False
    assert ev["vpid"] != ev["pid"]


def test_short_lived_container_is_named(tool, containers, runtime):
    t = tool("containerexec", "-j")
    name = unique()
    containers.names.append(name)
    docker("run", "--name", name, "--runtime", runtime, IMAGE, "true")
    ev = t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["true"] and
                    e["container_id"] and e["container_name"] == name,
                    what="exec of true in %s" % name)
    assert ev["container_image"] == IMAGE


def test_host_exec_absent_by_default_present_with_host(tool, containers):
    name = containers.run("sleep", "600")
    marker = unique("hostmark")
    default = tool("containerexec", "-j")
    with_host = tool("containerexec", "-j", "--host")
    subprocess.run(["/bin/echo", marker], check=True, capture_output=True)
    ev = with_host.wait_for(lambda e: e["event"] == "exec" and marker in e["args"],
                            what="host exec with --host")
    assert ev["host"] is True and ev["container"] == "host"
    assert ev["container_id"] is None
    # The default run has seen the same moment pass once it shows a later
    # container exec (the ring buffer is in order).
    flush = unique("flush")
    containers.exec(name, "echo", flush)
    default.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["echo", flush],
                     what="the later container exec")
    assert not [e for e in default.json_events() if marker in str(e.get("args"))]
    assert not [e for e in default.json_events() if e.get("host")]


def test_container_filter_shows_only_that_container(tool, containers):
    a = containers.run("sleep", "600")
    b = containers.run("sleep", "600")
    t = tool("containerexec", "-j", "-c", a)
    containers.exec(b, "echo", "from-b")
    containers.exec(a, "echo", "from-a")
    t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["echo", "from-a"])
    containers.exec(a, "echo", "from-a-again")
    t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["echo", "from-a-again"])
    names = {e["container_name"] for e in execs(t)}
    assert names == {a}


def test_container_filter_follows_a_restart(tool, containers):
    """A restart gives the container a new cgroup (new id) and new
    namespaces.  -c follows it from its entrypoint's exec on: the new
    cgroup's id joins the filter when the cgroup is created, before the
    restarted container's namespace is known.  Meanwhile another container
    started after it stopped (likely given the namespace inums it freed)
    stays out."""
    a = containers.run("sh", "-c", "echo start; exec sleep 600")
    t = tool("containerexec", "-j", "-c", a)
    old = cgroup_id_of(a)
    docker("stop", "-t", "0", a)
    t.wait_stderr("container %s stopped" % a)
    b = containers.run("sh", "-c", "echo other; exec sleep 600")
    docker("start", a)
    entry = t.wait_for(lambda e: e["event"] == "exec" and
                       e["args"] == ["sh", "-c", "echo start; exec sleep 600"])
    assert entry["vpid"] == 1 and entry["container_name"] == a
    assert entry["cgroup_id"] == cgroup_id_of(a) != old
    t.wait_stderr("container %s restarted" % a)
    containers.exec(b, "echo", "from-b")
    containers.exec(a, "echo", "after-restart")
    t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["echo", "after-restart"])
    assert {e["container_name"] for e in execs(t)} == {a}


def cgroup_id_of(name):
    pid = docker("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
    with open("/proc/%s/cgroup" % pid) as f:
        path = next(l[3:].strip() for l in f if l.startswith("0::"))
    for root in CGROUP2_ROOTS:
        if os.path.isdir(root + path):
            return os.stat(root + path).st_ino
    raise AssertionError("no cgroup v2 directory for %s" % path)


def test_unknown_container_is_a_clear_error(bpf_ok, docker_ok):
    from conftest import run_tool
    r = run_tool("containerexec", "-c", "no-such-container-" + unique())
    assert r.returncode == 2
    assert "no running container named" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_failed_exec_reports_errno_name(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containerexec", "-j")
    containers.exec(name, "sh", "-c", "/no/such/binary arg1; true")
    ev = t.wait_for(lambda e: e["event"] == "exec" and e["retval"] != 0 and
                    e["container_name"] == name, what="failed exec")
    assert ev["error"] == "ENOENT" and ev["retval"] == -2
    assert ev["filename"] == "/no/such/binary"
    assert ev["args"] == ["/no/such/binary", "arg1"]
    t2 = tool("containerexec", "-x")
    shown = unique("shown")
    containers.exec(name, "sh", "-c", "/bin/echo %s; /no/such/other; echo ok" % shown)
    line = t2.wait_for(lambda l: "/no/such/other" in l and "ENOENT" in l, what="-x line")
    # Every exec before it succeeded (docker exec's sh, the echo): not shown.
    assert [l for l in t2.lines if name in l] == [line], t2.lines


def test_forty_arguments_captured_in_full(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containerexec", "-j")
    argv = ["echo"] + ["arg%02d" % i for i in range(40)]
    containers.exec(name, *argv)
    ev = t.wait_for(lambda e: e["event"] == "exec" and e["args"][:2] == ["echo", "arg00"])
    assert ev["args"] == argv and ev["args_truncated"] is False


def test_huge_argv_is_marked_truncated(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containerexec", "-j")
    argv = ["echo"] + ["x" * 200 + "%02d" % i for i in range(40)]     # > 4 KiB
    containers.exec(name, *argv)
    ev = t.wait_for(lambda e: e["event"] == "exec" and e["args"][:1] == ["echo"] and
                    len(e["args"]) > 5)
    assert ev["args_truncated"] is True
    assert ev["args"] == argv[:len(ev["args"])] or ev["args"][:-1] == argv[:len(ev["args"]) - 1]


def test_docker_exec_is_attributed_to_its_container(tool, containers, runtime):
    name = containers.run("sleep", "600", opts=["--runtime", runtime])
    t = tool("containerexec", "-j")
    containers.exec(name, "cat", "/etc/hostname")
    ev = t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["cat", "/etc/hostname"])
    assert ev["container_name"] == name and ev["container_runtime"] == "docker"
    assert ev["vpid"] != 1 and ev["host"] is False


def test_nsenter_without_cgroup_is_attributed_to_the_container(tool, containers):
    name = containers.run("sleep", "600")
    pid = docker("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
    t = tool("containerexec", "-j")
    subprocess.run(["nsenter", "-t", pid, "-m", "-p", "/bin/echo", "via-nsenter"],
                   check=True, capture_output=True)
    ev = t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["/bin/echo", "via-nsenter"])
    assert ev["container_name"] == name


def test_json_lines_carry_documented_fields(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containerexec", "-j", "--exit")
    containers.exec(name, "sh", "-c", "exit 3", check=False)
    t.wait_for(lambda e: e["event"] == "exec" and e["container_name"] == name and
               e["args"] == ["sh", "-c", "exit 3"], what="exec event")
    t.wait_for(lambda e: e["event"] == "exit" and e["container_name"] == name and
               e["exit_code"] == 3, what="exit event")
    common = {"timestamp", "event", "container", "container_id", "container_name",
              "container_image", "container_runtime", "host", "pid", "tid", "vpid",
              "ppid", "uid", "comm", "cgroup_id", "mntns", "pidns", "netns"}
    checked = {"exec": 0, "exit": 0}
    for line in t.lines:
        obj = json.loads(line)          # every line is valid JSON
        if obj["event"] == "exec":
            assert common | {"retval", "error", "filename", "args", "args_truncated",
                             "exe_upper_layer"} <= set(obj)
        elif obj["event"] == "exit":
            assert common | {"exit_code", "signal", "lifetime_s"} <= set(obj)
            assert obj["lifetime_s"] >= 0
        else:
            continue
        checked[obj["event"]] += 1
    assert checked["exec"] >= 1 and checked["exit"] >= 1, checked


def test_escape_byte_in_argument_prints_escaped(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containerexec")
    containers.exec(name, "echo", "evil\x1b[31mred")
    line = t.wait_for(lambda l: isinstance(l, str) and "evil" in l, what="echo line")
    assert "\x1b" not in line
    assert "evil\\x1b[31mred" in line
    for l in t.lines:
        assert not any(ord(c) < 0x20 for c in l)
    tj = tool("containerexec", "-j")
    containers.exec(name, "echo", "evil\x1b[31mred")
    ev = tj.wait_for(lambda e: e["event"] == "exec" and e["args"][0] == "echo")
    assert ev["args"][1] == "evil\x1b[31mred"


def test_sigint_exits_zero_promptly(tool):
    t = tool("containerexec")
    start = time.monotonic()
    rc = t.stop(signal.SIGINT)
    assert rc == 0
    assert time.monotonic() - start < PROMPT_EXIT
    assert not any("Traceback" in l for l in t.err)


def test_sigterm_exits_zero_promptly(tool):
    t = tool("containerexec")
    start = time.monotonic()
    assert t.stop(signal.SIGTERM) == 0
    assert time.monotonic() - start < PROMPT_EXIT


def test_unshare_process_is_a_container(tool):
    t = tool("containerexec", "-j")
    subprocess.run(["unshare", "--mount", "--pid", "--fork", "/bin/echo", "in-unshare"],
                   check=True, capture_output=True)
    ev = t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["/bin/echo", "in-unshare"])
    assert ev["host"] is False
    assert ev["container"].startswith("mntns:")
    assert ev["container_id"] == "mntns:%d" % ev["mntns"]
    assert ev["vpid"] == 1


def test_pipe_into_head_ends_quietly(bpf_ok, containers):
    containers.run("sh", "-c", "while true; do /bin/true; done")
    out, err, status = pipe_into_head("containerexec")
    assert len(out.splitlines()) == 3
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert ": tracing " in err and status == 0, (status, err)


def test_duration_ends_the_run(tool):
    t = tool("containerexec", "-d", "1")
    start = time.monotonic()            # it said it is tracing
    assert t.wait(30, "-d 1") == 0, t.err
    took = time.monotonic() - start
    assert 0.9 <= took < 15, took


def test_name_and_uid_filters_in_kernel(tool, containers):
    name = containers.run("sleep", "600")
    by_comm = tool("containerexec", "-j", "-n", "cat")
    by_uid = tool("containerexec", "-j", "-u", "1234")
    containers.exec(name, "echo", "not-cat")
    docker("exec", "-u", "1234", name, "echo", "as-1234")
    containers.exec(name, "cat", "/etc/hostname")
    by_comm.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["cat", "/etc/hostname"])
    ev = by_uid.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["echo", "as-1234"])
    assert ev["uid"] == 1234
    assert {e["comm"] for e in by_comm.json_events() if e["event"] == "exec"} == {"cat"}
    assert by_uid.stop() == 0, by_uid.err
    assert {e["uid"] for e in by_uid.json_events() if e["event"] == "exec"} == {1234}


def test_executable_written_at_run_time_is_marked(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containerexec", "-j")
    containers.exec(name, "sh", "-c", "cp /bin/busybox /tmp/echo && /tmp/echo dropped; "
                    "/bin/echo from-image")
    dropped = t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["/tmp/echo", "dropped"])
    image = t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["/bin/echo", "from-image"])
    assert dropped["exe_upper_layer"] is True
    assert image["exe_upper_layer"] is False
    table = tool("containerexec")
    containers.exec(name, "/tmp/echo", "again")
    line = table.wait_for(lambda l: "again" in l)
    assert "[upper] /tmp/echo again" in line


def test_first_exec_of_a_container_start_is_its_entrypoint(tool, containers):
    """containerexec has no --runtime: the runtime's set-up (runc init)
    execs nothing but the entrypoint, the boundary of the runtime-or-workload
    rule (bpf_c/ctrace.h), so nothing of the set-up shows."""
    t = tool("containerexec", "-j")
    name = unique()
    containers.run("sh", "-c", "cat /etc/hostname", name=name)
    t.wait_for(lambda e: e["event"] == "exec" and e["container_name"] == name and
               e["args"] == ["cat", "/etc/hostname"], what="the entrypoint's child")
    mine = [e for e in t.json_events() if e.get("container_name") == name]
    assert [e["args"] for e in mine if e["event"] == "exec"] == \
        [["sh", "-c", "cat /etc/hostname"], ["cat", "/etc/hostname"]]
    assert not [e for e in mine if e["comm"].startswith("runc")]


# execveat(2) of an open fd (AT_EMPTY_PATH), and execve(2) from a thread
# other than the leader (the kernel gives it the leader's pid).
EXECKINDS = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static char *const envp[] = { NULL };
static void *from_thread(void *mark)
{
    char *argv[] = { "/bin/echo", mark, NULL };
    execve(argv[0], argv, envp);
    _exit(127);
}
int main(int argc, char **argv)
{
    pthread_t t;
    if (argc == 3 && !strcmp(argv[1], "execveat")) {
        char *args[] = { "echo", argv[2], NULL };
        int fd = open("/bin/busybox", O_RDONLY | O_CLOEXEC);
        syscall(SYS_execveat, fd, "", args, envp, AT_EMPTY_PATH);
    } else if (argc == 3 && !strcmp(argv[1], "thread")) {
        pthread_create(&t, NULL, from_thread, argv[2]);
        pthread_join(t, NULL);
    }
    return 127;
}
"""


@pytest.fixture(scope="module")
def execkinds(tmp_path_factory):
    """EXECKINDS, static, for containers to run as /execkinds."""
    src = tmp_path_factory.mktemp("execkinds") / "execkinds.c"
    src.write_text(EXECKINDS)
    exe = str(src)[:-2]
    r = subprocess.run(["gcc", "-O2", "-static", "-pthread", "-Wall", "-o", exe, str(src)],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        unavailable("building the execveat/thread helper failed: %s" % r.stderr[-300:])
    return exe


@pytest.mark.parametrize("kind", ["execveat", "thread"])
def test_execveat_and_exec_from_a_thread(tool, containers, execkinds, kind):
    name = containers.run("sleep", "600", opts=["-v", execkinds + ":/execkinds:ro"])
    t = tool("containerexec", "-j", "-c", name)
    mark = unique(kind)
    out = containers.exec(name, "/execkinds", kind, mark).stdout
    assert out == mark + "\n"
    helper = t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["/execkinds", kind, mark],
                        what="the helper's exec")
    ev = t.wait_for(lambda e: e["event"] == "exec" and e["args"][-1:] == [mark] and
                    e["args"][0] != "/execkinds", what="the %s exec" % kind)
    assert ev["retval"] == 0 and ev["error"] is None, ev
    assert ev["args"] == (["echo", mark] if kind == "execveat" else ["/bin/echo", mark])
    assert ev["container_name"] == name
    assert ev["pid"] == helper["pid"]       # the same process, its leader's pid
    if kind == "thread":
        assert ev["filename"] == "/bin/echo"


def test_argument_that_is_not_utf8(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containerexec", "-j", "-c", name)
    table = tool("containerexec", "-c", name)
    containers.exec(name, "sh", "-c", "/bin/echo \"$(printf 'a\\377b')\" >/dev/null")
    ev = t.wait_for(lambda e: e["event"] == "exec" and e["args"][:1] == ["/bin/echo"],
                    what="the exec of echo")
    assert ev["args"][1] == "a\\xffb"
    assert json_text_bytes(ev["args"][1]) == b"a\xffb"
    line = table.wait_for(lambda l: isinstance(l, str) and " /bin/echo a" in l,
                          what="table line")
    assert line.endswith(" /bin/echo a\\xffb"), line
