"""containeropen: pure logic (flag decoding, path joining, argument checks)
and, marked integration, against real BPF and real Docker containers."""

import importlib.machinery
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import (PROMPT_EXIT, PYTHON, TOOLS, Tool, docker, header_define, host_script,
                      opens_accounted, pipe_into_head, run_tool, spawn_tool, unique)

integration = pytest.mark.integration


def load_tool():
    path = os.path.join(TOOLS, "containeropen")
    loader = importlib.machinery.SourceFileLoader("containeropen_tool", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


co = load_tool()
X86 = co.flag_table("x86_64")


# -- pure logic ---------------------------------------------------------------

def test_decode_flags_x86():
    assert co.decode_flags(0, X86) == "O_RDONLY"
    assert co.decode_flags(0o1101, X86) == "O_WRONLY|O_CREAT|O_TRUNC"
    assert co.decode_flags(0o2000002, X86) == "O_RDWR|O_CLOEXEC"
    assert co.decode_flags(0o4010001, X86) == "O_WRONLY|O_SYNC"
    assert co.decode_flags(0o10001, X86) == "O_WRONLY|O_DSYNC"
    assert co.decode_flags(0o20200002, X86) == "O_RDWR|O_TMPFILE"
    assert co.decode_flags(0o200000, X86) == "O_RDONLY|O_DIRECTORY"
    assert co.decode_flags(0o1000000000 | 1, X86) == "O_WRONLY|0x8000000"


def test_decode_flags_arm64_differs():
    arm = co.flag_table("aarch64")
    assert co.decode_flags(0o40000, arm) == "O_RDONLY|O_DIRECTORY"
    assert co.decode_flags(0o40000, X86) == "O_RDONLY|O_DIRECT"


def test_flags_kept_decoded_answer_as_decode_flags_for_their_table():
    arm_table = co.flag_table("aarch64")
    arm = co.Memo(lambda flags: co.decode_flags(flags, arm_table))
    for flags in (0o40000, 0o40000, 0o1101, 0o1000000000 | 1):     # asked again: kept
        assert arm[flags] == co.decode_flags(flags, co.flag_table("aarch64"))
    assert co.Memo(lambda flags: co.decode_flags(flags, X86))[0o40000] == "O_RDONLY|O_DIRECT"


def test_flag_argument_forms():
    assert co.flag_arg("O_CREAT") == "O_CREAT"
    assert co.flag_arg("creat") == "O_CREAT"
    assert co.flag_arg("o_wronly") == "O_WRONLY"
    assert co.flag_arg("O_NDELAY") == "O_NONBLOCK"
    with pytest.raises(Exception):
        co.flag_arg("O_BOGUS")


def test_flags_match_expression_semantics():
    """Evaluate the generated C expression in Python (same operators)."""
    def matches(names, flags):
        expr = co.flags_match_expr(names, X86).replace("(f)", str(flags))
        expr = expr.replace("||", " or ")
        expr = __import__("re").sub(r"\b0([0-7]+)\b", r"0o\1", expr)
        return bool(eval(expr))
    assert matches(["O_CREAT"], 0o1101)
    assert not matches(["O_CREAT"], 0)
    assert matches(["O_RDONLY"], 0o2000000)
    assert not matches(["O_RDONLY"], 1)
    assert matches(["O_WRONLY", "O_RDWR"], 2)
    assert not matches(["O_WRONLY"], 2)
    assert not matches(["O_TMPFILE"], 0o200000)      # O_DIRECTORY alone is not O_TMPFILE
    assert matches(["O_TMPFILE"], 0o20200002)


def test_full_path_joining():
    assert co.full_path(b"hostname", [b"etc"], True) == b"/etc/hostname"
    assert co.full_path(b"./a//b", [b"local", b"usr"], True) == b"/usr/local/a/b"
    assert co.full_path(b"x", [], True) == b"/x"
    assert co.full_path(b"x", [b"deep"], False) == b".../deep/x"
    assert co.full_path(b"/abs/./p", [b"ignored"], True) == b"/abs/p"
    assert co.full_path(b"../x", [b"etc"], True) == b"/etc/../x"


def test_mode_column_only_when_creating():
    assert co.mode_text(0o1101, 0o644, X86) == "0644"
    assert co.mode_text(0, 0o644, X86) == "-"


@pytest.mark.parametrize("argv", [
    ["-f", "O_BOGUS"], ["--path", ""], ["--path", "x" * 300], ["-s", "0"],
    ["-s", "abc"], ["--rows", "-1"], ["-s", "1", "-e"], ["-s", "1", "-F"],
    ["--rows", "5"], ["-p", "0"], ["-d", "-1"], ["--host", "-c", "x"],
    ["--no-such-option"],
])
def test_bad_arguments_exit_2_with_one_line(argv):
    r = run_tool("containeropen", *argv)
    assert r.returncode == 2, (argv, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""


def test_help_has_examples():
    r = run_tool("containeropen", "-h")
    assert r.returncode == 0
    assert "examples:" in r.stdout and "containeropen -s" in r.stdout


# -- real BPF, real containers --------------------------------------------------

def opens(t, container=None):
    return [e for e in t.json_events() if e.get("event") == "open" and
            (container is None or e["container_name"] == container)]


@integration
def test_open_in_container_has_name_path_and_fd(tool, containers):
    name = containers.run("sleep", "600")
    # -n, not -c: the container is named from the event alone. (Filters
    # keep other workloads on a shared machine out of the way.)
    tj = tool("containeropen", "-j", "-n", "cat")
    tt = tool("containeropen", "-c", name)
    init = int(docker("inspect", "-f", "{{.State.Pid}}", name).stdout)
    mntns = os.stat("/proc/%d/ns/mnt" % init).st_ino     # this container's, not a name
    containers.exec(name, "cat", "/etc/hostname")
    ev = tj.wait_for(lambda e: e["event"] == "open" and e["path"] == "/etc/hostname" and
                     e["comm"] == "cat" and e["mntns"] == mntns, what="open of /etc/hostname")
    cid = docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
    assert ev["container_name"] == name and ev["container_id"] == cid
    assert ev["container_runtime"] == "docker" and ev["host"] is False
    assert isinstance(ev["fd"], int) and ev["fd"] >= 0 and ev["retval"] == ev["fd"]
    assert ev["error"] is None
    assert ev["syscall"] in ("open", "openat")
    assert ev["flags_decoded"].startswith("O_RDONLY")
    assert ev["vpid"] != ev["pid"] and ev["vpid"] > 1
    for ns in ("mnt", "pid", "net"):        # the container's namespaces
        assert ev[ns + "ns"] == os.stat("/proc/%d/ns/%s" % (init, ns)).st_ino
    line = tt.wait_for(lambda l: isinstance(l, str) and l.endswith(" /etc/hostname") and
                       " cat " in l, what="table line")
    cols = line.split()
    assert cols[0] == name[:16]
    assert cols[4] == str(ev["fd"])
    header = tt.lines[0]
    assert header.split() == ["CONTAINER", "PID", "VPID", "COMM", "FD", "PATH"]
    assert all(len(l) < 80 for l in tt.lines if "/etc/hostname" in l)


@integration
def test_bccs_ring_reader_where_ours_is_not_used(tool, containers):
    """Off x86 (CTRACE_LIBBPF_RINGS=1 here) BCC's libbpf reader reads the
    ring buffer (ctrace.ringbuf): the same events reach the table."""
    name = containers.run("sleep", "600")
    t = tool("containeropen", "-c", name, env={"CTRACE_LIBBPF_RINGS": "1"})
    for _ in range(3):
        containers.exec(name, "cat", "/etc/hostname", "/etc/passwd")
    t.wait_for(lambda l: isinstance(l, str) and l.endswith(" /etc/passwd") and
               sum(1 for x in t.lines if x.endswith(" /etc/passwd")) == 3,
               what="three opens of /etc/passwd")
    assert sum(1 for x in t.lines if x.endswith(" /etc/hostname")) == 3


@integration
def test_failed_open_shows_errno_and_x_shows_only_failures(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containeropen", "-j", "-c", name)
    tx = tool("containeropen", "-j", "-x", "-c", name)
    missing = "/no/such/" + unique("file")
    containers.exec(name, "cat", "/etc/hostname", missing, check=False)
    ev = t.wait_for(lambda e: e["event"] == "open" and e["path"] == missing,
                    what="failed open")
    assert ev["error"] == "ENOENT" and ev["retval"] == -2 and ev["fd"] is None
    assert ev["container_name"] == name
    tx.wait_for(lambda e: e["event"] == "open" and e["path"] == missing, what="-x event")
    # cat opened /etc/hostname (successfully) just before: -x must not show it.
    t.wait_for(lambda e: e["event"] == "open" and e["path"] == "/etc/hostname" and
               e["container_name"] == name)
    got = opens(tx)
    assert got and all(e["retval"] < 0 for e in got)
    assert not [e for e in got if e["path"] == "/etc/hostname"]
    tt = tool("containeropen", "-x", "-c", name)
    containers.exec(name, "cat", missing + "-2", check=False)
    line = tt.wait_for(lambda l: isinstance(l, str) and l.endswith(missing + "-2"))
    assert " ENOENT " in line


@integration
def test_full_path_resolves_relative_to_cwd(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containeropen", "-j", "-F", "-c", name)
    tt = tool("containeropen", "-F", "-c", name)
    containers.exec(name, "sh", "-c", "cd /etc && cat hostname")
    ev = t.wait_for(lambda e: e["event"] == "open" and e["path"] == "hostname",
                    what="relative open")
    assert ev["full_path"] == "/etc/hostname"
    assert ev["full_path_complete"] is True
    assert ev["dirfd"] == -100
    tt.wait_for(lambda l: isinstance(l, str) and l.endswith(" /etc/hostname") and " cat " in l,
                what="-F table line")
    # deeper, with '.' components and a mount crossing (/proc)
    containers.exec(name, "sh", "-c", "cd /usr/local/bin && cat ./openloop >/dev/null; "
                                      "cd /proc/self && cat ./status >/dev/null")
    ev = t.wait_for(lambda e: e["event"] == "open" and e["path"] == "./openloop")
    assert ev["full_path"] == "/usr/local/bin/openloop" and ev["full_path_complete"]
    ev = t.wait_for(lambda e: e["event"] == "open" and e["path"] == "./status")
    assert ev["full_path_complete"] and ev["full_path"].startswith("/proc/")
    assert ev["full_path"].endswith("/status")


@integration
def test_full_path_deeper_than_the_walk_is_marked_incomplete(tool, containers):
    """A directory 60 levels deep (more than the kernel walk's 48 steps):
    the path is its deepest part, marked with a leading '...'."""
    name = containers.run("sleep", "600")
    deep = "/tmp/" + "/".join(["d%02d" % i for i in range(60)])
    containers.exec(name, "sh", "-c", "mkdir -p %s && : > %s/f" % (deep, deep))
    t = tool("containeropen", "-j", "-F", "-c", name)
    containers.exec(name, "sh", "-c", "cd %s && cat ./f" % deep)
    ev = t.wait_for(lambda e: e["event"] == "open" and e["path"] == "./f" and e["comm"] == "cat",
                    what="the deep relative open")
    assert ev["full_path_complete"] is False
    assert ev["full_path"].startswith(".../") and ev["full_path"].endswith("/d58/d59/f")
    assert deep.endswith(ev["full_path"][3:-2]), ev["full_path"]


@integration
def test_rows_keeps_the_busiest(tool, containers):
    name = containers.run("sleep", "600")
    # Well above the opens each docker exec brings (/etc/passwd, /etc/group).
    counts = {"/tmp/%s-%d" % (unique("rows"), n): n for n in (90, 60, 30, 1)}
    containers.exec(name, "touch", *counts)
    tj = tool("containeropen", "-s", "3600", "--rows", "2", "-j", "-c", name)
    for path, n in counts.items():
        containers.exec(name, "openloop", path, str(n))
    assert tj.stop() == 0, tj.err
    rows = [e for e in tj.json_events() if e["event"] == "summary"][-1]["rows"]
    assert [(r["path"], r["opens"]) for r in rows] == list(counts.items())[:2], rows


@integration
def test_full_path_from_a_directory_fd(bpf_ok):
    """openat(dirfd, "hostname") on the host, dirfd being /etc."""
    script = ("import os,sys; sys.stdin.readline(); d=os.open('/etc', os.O_RDONLY|os.O_DIRECTORY);"
              "os.close(os.open('hostname', os.O_RDONLY, dir_fd=d)); print('done', flush=True)")
    with host_script(script, "containeropen", "-j", "-F") as (t, go):
        assert go() == "done"
        ev = t.wait_for(lambda e: e["event"] == "open" and e["path"] == "hostname")
        assert ev["dirfd"] >= 0
        assert ev["full_path"] == "/etc/hostname" and ev["full_path_complete"] is True


@integration
def test_escape_sequences_in_file_name(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containeropen", "-c", name)
    tj = tool("containeropen", "-j", "-c", name)
    evil = "/tmp/evil\x1b[31mred\x07"
    containers.exec(name, "touch", evil)
    line = t.wait_for(lambda l: isinstance(l, str) and "/tmp/evil" in l, what="touch line")
    assert "\x1b" not in line and "\x07" not in line
    assert line.endswith("/tmp/evil\\x1b[31mred\\x07")
    ev = tj.wait_for(lambda e: e["event"] == "open" and "evil" in e["path"])
    assert ev["path"] == evil
    # A name that is not UTF-8 at all.
    # (made inside: docker exec would turn the byte into U+FFFD on the way)
    containers.exec(name, "sh", "-c", "touch \"$(printf '/tmp/bad\\377name')\"")
    ev = tj.wait_for(lambda e: e["event"] == "open" and "/tmp/bad" in e["path"])
    assert ev["path"] == "/tmp/bad\\xffname"
    line = t.wait_for(lambda l: isinstance(l, str) and "/tmp/bad" in l)
    assert line.endswith("/tmp/bad\\xffname")
    for raw in tj.lines:
        json.loads(raw)                     # every line is valid JSON
    for raw in t.lines:
        assert not any(ord(c) < 0x20 for c in raw)


@integration
def test_json_tells_a_byte_from_the_text_of_its_escape(tool, containers):
    """A file named with the byte 0xff and one named with the four
    characters \\xff: the table always told them apart, JSON must too, and
    each JSON string decodes back to the name's bytes."""
    from ctrace.output import json_text_bytes
    name = containers.run("sleep", "600")
    tj = tool("containeropen", "-j", "-c", name)
    t = tool("containeropen", "-c", name)
    tag = "/tmp/" + unique("lit")
    # (made inside: docker exec would turn the byte into U+FFFD on the way)
    containers.exec(name, "sh", "-c", "touch \"$(printf '%s\\377Z')\" '%s\\xffZ'" % (tag, tag))
    want = {tag.encode() + b"\xffZ", tag.encode() + b"\\xffZ"}

    def ours():
        return [e for e in tj.json_events() if e["event"] == "open" and e["path"].startswith(tag)]
    tj.wait_for(lambda _: len(ours()) >= 2, what="both opens")
    paths = [e["path"] for e in ours()]
    assert len(set(paths)) == 2, paths                      # told apart
    assert {json_text_bytes(p) for p in paths} == want      # and decodable
    # The table: \xff for the byte, \\xff for the text.
    t.wait_for(lambda l: isinstance(l, str) and l.endswith(" " + tag + "\\xffZ"))
    t.wait_for(lambda l: isinstance(l, str) and l.endswith(" " + tag + "\\\\xffZ"))


@integration
def test_host_opens_absent_by_default_present_with_host(tool, containers, tmp_path):
    name = containers.run("sleep", "600")
    default = tool("containeropen", "-j", "-n", "cat")
    with_host = tool("containeropen", "-j", "--host", "-n", "cat")
    marker = tmp_path / unique("hostmark")
    marker.write_text("x")
    subprocess.run(["/bin/cat", str(marker)], check=True, capture_output=True)
    ev = with_host.wait_for(lambda e: e["event"] == "open" and e["path"] == str(marker),
                            what="host open with --host")
    assert ev["host"] is True and ev["container"] == "host" and ev["container_id"] is None
    # The default run has seen the same moment pass once it shows a later
    # container open (the ring buffer is in order).
    flush = "/flush-" + unique()
    containers.exec(name, "cat", flush, check=False)
    default.wait_for(lambda e: e["event"] == "open" and e["path"] == flush)
    assert not [e for e in default.json_events() if e.get("path") == str(marker)]
    assert not [e for e in default.json_events() if e.get("host")]


@integration
def test_summary_counts_exactly_500(tool, containers):
    name = containers.run("sleep", "600")
    target = "/tmp/" + unique("target")
    containers.exec(name, "touch", target)      # created before tracing starts
    tj = tool("containeropen", "-s", "3600", "-j", "-c", name)
    tt = tool("containeropen", "-s", "3600", "-c", name)
    r = containers.exec(name, "openloop", target, "500")
    assert r.stdout.startswith("opens=500 ")
    assert tj.stop() == 0 and tt.stop() == 0
    summaries = [e for e in tj.json_events() if e["event"] == "summary"]
    assert summaries, tj.lines
    rows = [r for r in summaries[-1]["rows"] if r["path"] == target]
    assert len(rows) == 1
    row = rows[0]
    assert row["opens"] == 500 and row["failures"] == 0 and row["last_error"] is None
    assert row["container_name"] == name and row["container"] == name
    assert summaries[-1]["not_counted"] == 0
    # No per-event output in summary mode.
    assert not [e for e in tj.json_events() if e["event"] == "open"]
    lines = [l for l in tt.lines if l.endswith(" " + target)]
    assert lines and lines[-1].split()[:2] == [name[:16], "500"]
    assert any(l.split()[:2] == ["CONTAINER", "OPENS"] for l in tt.lines)


@integration
def test_summary_counts_failures(tool, containers):
    name = containers.run("sleep", "600")
    tj = tool("containeropen", "-s", "3600", "-j", "-c", name, "-x")
    missing = "/no/" + unique()
    for _ in range(3):
        containers.exec(name, "cat", missing, check=False)
    containers.exec(name, "cat", "/etc/hostname")
    assert tj.stop() == 0
    rows = [e for e in tj.json_events() if e["event"] == "summary"][-1]["rows"]
    row = [r for r in rows if r["path"] == missing][0]
    assert row["opens"] == 3 and row["failures"] == 3
    assert row["last_error"] == "ENOENT" and row["last_errno"] == -2
    assert not [r for r in rows if r["path"] == "/etc/hostname"]


@integration
def test_flag_filter_shows_creates_not_reads(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containeropen", "-j", "-f", "O_CREAT", "-c", name)
    te = tool("containeropen", "-e", "-f", "O_CREAT", "-c", name)
    created = "/tmp/" + unique("created")
    containers.exec(name, "sh", "-c", "cat /etc/hostname; touch %s; cat /etc/passwd" % created)
    ev = t.wait_for(lambda e: e["event"] == "open" and e["path"] == created)
    assert "O_CREAT" in ev["flags_decoded"].split("|")
    flush = "/tmp/" + unique("flush")
    containers.exec(name, "touch", flush)
    t.wait_for(lambda e: e["event"] == "open" and e["path"] == flush)
    got = opens(t)
    o_creat = header_define("fcntl.h", "O_CREAT")      # not the tool's own table
    assert all(e["flags"] & o_creat for e in got)
    assert not [e for e in got if e["path"] in ("/etc/hostname", "/etc/passwd")]
    line = te.wait_for(lambda l: isinstance(l, str) and l.endswith(" " + created))
    assert "|O_CREAT" in line


@integration
def test_extended_shows_flags_and_mode(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containeropen", "-e", "-c", name)
    out = "/tmp/" + unique("redir")
    containers.exec(name, "sh", "-c", "echo hi > %s" % out)
    line = t.wait_for(lambda l: isinstance(l, str) and l.endswith(" " + out))
    assert "O_WRONLY|O_CREAT|O_TRUNC" in line and " 0666 " in line
    assert t.lines[0].split() == ["CONTAINER", "PID", "VPID", "COMM", "FD", "FLAGS",
                                  "MODE", "PATH"]


@integration
def test_path_prefix_filter(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containeropen", "-j", "--path", "/etc/host", "-c", name)
    containers.exec(name, "cat", "/etc/passwd", "/etc/hostname")
    t.wait_for(lambda e: e["event"] == "open" and e["path"] == "/etc/hostname")
    containers.exec(name, "cat", "/etc/hosts")
    t.wait_for(lambda e: e["event"] == "open" and e["path"] == "/etc/hosts")
    assert all(e["path"].startswith("/etc/host") for e in opens(t))
    # With -F the resolved path is what must match.
    tf = tool("containeropen", "-j", "-F", "--path", "/etc/host", "-c", name)
    containers.exec(name, "sh", "-c", "cd /etc && cat passwd hostname")
    ev = tf.wait_for(lambda e: e["event"] == "open" and e["path"] == "hostname")
    assert ev["full_path"] == "/etc/hostname"
    assert not [e for e in opens(tf) if e["path"] == "passwd"]


@integration
def test_json_lines_carry_documented_fields(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containeropen", "-j", "-c", name)
    containers.exec(name, "cat", "/etc/hostname")
    t.wait_for(lambda e: e["event"] == "open" and e["path"] == "/etc/hostname")
    common = {"timestamp", "event", "container", "container_id", "container_name",
              "container_image", "container_runtime", "host", "pid", "tid", "vpid",
              "ppid", "uid", "comm", "cgroup_id", "mntns", "pidns", "netns"}
    own = {"syscall", "retval", "fd", "error", "path", "path_truncated", "dirfd",
           "flags", "flags_decoded", "mode", "mode_octal", "runtime_setup"}
    for line in t.lines:
        obj = json.loads(line)
        assert common | own <= set(obj)


@integration
def test_sigint_exits_zero_promptly(tool):
    t = tool("containeropen")
    start = time.monotonic()
    assert t.stop(signal.SIGINT) == 0
    assert time.monotonic() - start < PROMPT_EXIT
    assert not any("Traceback" in l for l in t.err)


@integration
def test_pipe_into_head_ends_quietly(bpf_ok, containers):
    containers.run("openloop", "/etc/hostname", "0", "60")
    out, err, status = pipe_into_head("containeropen")
    assert len(out.splitlines()) == 3
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert ": tracing " in err and status == 0, (status, err)


@integration
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 syscall numbers")
def test_open_creat_and_openat2_are_traced(bpf_ok, tmp_path):
    """The four system calls, from a host process (ctypes syscall()), with
    openat2's flags and mode read from its struct open_how."""
    created = tmp_path / "created-by-creat"
    via_open2 = tmp_path / "created-by-openat2"
    script = (
        "import ctypes,os,sys\n"
        "libc=ctypes.CDLL(None,use_errno=True)\n"
        "sys.stdin.readline()\n"
        "os.close(libc.syscall(2,b'/etc/hostname',0))\n"              # open
        "os.close(libc.syscall(85,%r.encode(),0o640))\n"             # creat
        "how=(ctypes.c_uint64*3)(0o1102,0o600,0)\n"                  # O_RDWR|O_CREAT|O_TRUNC
        "os.close(libc.syscall(437,-100,%r.encode(),how,24))\n"      # openat2
        "print('done',flush=True)\n" % (str(created), str(via_open2)))
    with host_script(script, "containeropen", "-j") as (t, go):
        assert go() == "done"
        ev = t.wait_for(lambda e: e["event"] == "open" and e["path"] == str(via_open2))
        assert ev["syscall"] == "openat2"
        assert ev["flags_decoded"] == "O_RDWR|O_CREAT|O_TRUNC" and ev["mode_octal"] == "0600"
        got = {e["syscall"]: e for e in t.json_events() if e.get("event") == "open"}
        assert got["open"]["path"] == "/etc/hostname" and got["open"]["fd"] >= 0
        assert got["creat"]["path"] == str(created)
        assert got["creat"]["flags_decoded"] == "O_WRONLY|O_CREAT|O_TRUNC"
        assert got["creat"]["mode_octal"] == "0640"
        assert all(e["host"] and e["container"] == "host" for e in got.values())


@integration
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 syscall numbers")
def test_an_open_in_progress_when_the_tool_starts_is_traced(bpf_ok, tmp_path):
    """Only the exit is hooked, its arguments read from the task's saved
    registers: an open that was blocked (on a FIFO) before the tool attached
    is reported when it returns, with the path and flags it was called with."""
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    proc = subprocess.Popen([sys.executable, "-c",
                             "import os; os.close(os.open(%r, os.O_RDONLY)); "
                             "print('opened', flush=True)" % str(fifo)],
                            stdout=subprocess.PIPE, text=True)
    t = None
    try:
        # Awaited: blocked in openat() (257 on x86_64) on the FIFO, no writer yet.
        deadline = time.monotonic() + 30
        while open("/proc/%d/wchan" % proc.pid).read() != "wait_for_partner":
            assert time.monotonic() < deadline, "the reader never blocked in open()"
            time.sleep(0.01)
        assert open("/proc/%d/syscall" % proc.pid).read().split()[0] == "257"
        t = Tool("containeropen", "-j", "--host", "-p", proc.pid).start()
        writer = os.open(str(fifo), os.O_WRONLY)
        os.close(writer)
        assert proc.stdout.readline().strip() == "opened"
        ev = t.wait_for(lambda e: e["event"] == "open" and e["path"] == str(fifo))
        # (Python's os.open adds O_CLOEXEC)
        assert ev["fd"] >= 0 and ev["flags_decoded"] == "O_RDONLY|O_CLOEXEC"
        assert ev["pid"] == proc.pid and ev["syscall"] == "openat"
    finally:
        if t:
            t.kill()
        proc.kill()
        proc.wait()


@integration
def test_lost_events_are_counted_and_everything_accounted_for(bpf_ok, containers):
    """A storm of opens while nobody reads the tool's output: the ring buffer
    fills, and every open is either printed or counted as lost."""
    name = containers.run("sleep", "600")
    target = "/tmp/" + unique("storm")
    containers.exec(name, "touch", target)
    proc, err = spawn_tool([PYTHON, os.path.join(TOOLS, "containeropen"), "-c", name,
                            "--path", target])
    try:
        count = 300000              # more than the ring buffer holds (1-16 MiB)
        r = containers.exec(name, "openloop", target, str(count), timeout=300)
        assert r.stdout.startswith("opens=%d " % count)
        proc.send_signal(signal.SIGINT)
        out = proc.stdout.read()    # the tool was blocked on a full pipe
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    printed, lost = opens_accounted(out, err, target)
    assert lost > 0 and printed > 0, err
    assert printed + lost == count


@integration
def test_ready_line_means_attached_first_open_after_it_seen(bpf_ok, tmp_path):
    """The "tracing" line is printed once the programs are attached: opens
    made the moment it is read (here, by this process) are every one
    printed or counted lost, the first of them included."""
    target = str(tmp_path / "first")
    open(target, "w").close()
    count = 100000
    with open(tmp_path / "out", "wb") as out:
        proc, err = spawn_tool([PYTHON, os.path.join(TOOLS, "containeropen"), "--host",
                                "-p", str(os.getpid()), "--path", target], stdout=out)
    try:
        for _ in range(count):
            os.close(os.open(target, os.O_RDONLY))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    printed, lost = opens_accounted((tmp_path / "out").read_bytes(), err, target)
    assert printed > 0 and printed + lost == count, (printed, lost)


# -- the runtime's set-up (--runtime) ----------------------------------------

def container_opens(t, name):
    return [e for e in t.json_events() if e.get("event") == "open" and
            e.get("container_name") == name]


def entrypoint_open(t, name, what):
    return t.wait_for(lambda e: e["event"] == "open" and e["container_name"] == name and
                      e["path"] == "/etc/hostname" and e["comm"] == "cat", what=what)


@integration
def test_runtime_setup_opens_only_with_runtime_and_marked(tool, containers):
    """A container start: runc init's ~70 opens of its set-up (host paths
    under /var/lib/docker/overlay2, cgroup files) are not the container's;
    shown only with --runtime, marked; the entrypoint's opens always."""
    default = tool("containeropen", "-j")
    runtime = tool("containeropen", "-j", "--runtime")
    table = tool("containeropen", "--runtime")
    name = unique()
    containers.run("cat", "/etc/hostname", name=name)
    ev = entrypoint_open(default, name, "the entrypoint's open (default)")
    assert ev["runtime_setup"] is False
    assert entrypoint_open(runtime, name, "the entrypoint's open (--runtime)")["runtime_setup"] is False
    # The ring buffer is in order: the set-up's opens came before the
    # entrypoint's exec, so each run has shown every one it will.
    shown = container_opens(default, name)
    assert [e["path"] for e in shown] == ["/etc/hostname"]
    assert not [e for e in shown if e["comm"].startswith("runc")]
    setup = [e for e in container_opens(runtime, name) if e["runtime_setup"]]
    assert len(setup) >= 20, "runc init's opens missing with --runtime"
    assert all(e["comm"].startswith("runc:[") for e in setup), \
        {e["comm"] for e in setup}
    assert any(e["path"].startswith("/var/lib/docker/overlay2/") for e in setup)
    assert not [e for e in container_opens(runtime, name)
                if e["comm"].startswith("runc:[") and not e["runtime_setup"]]
    # The table marks it in a SETUP column, its fixed part under 80 columns.
    header = table.wait_for(lambda l: isinstance(l, str) and l.startswith("CONTAINER"))
    assert header.split()[-2:] == ["SETUP", "PATH"]
    cat = table.wait_for(lambda l: isinstance(l, str) and l.startswith(name) and
                         l.endswith(" -     /etc/hostname"), what="the entrypoint's line")
    init = [l for l in table.lines if l.startswith(name) and " runc:[2:INIT] " in l]
    assert init and all(" yes   " in l for l in init)
    for line in [header, cat] + init:
        assert len(line.rsplit(" ", 1)[0]) < 80, line
    for t in (default, runtime, table):
        assert t.stop() == 0


@integration
def test_runtime_setup_counted_apart_with_runtime_in_summary(tool, containers):
    default = tool("containeropen", "-j", "-s", "0.2", "--rows", "0")
    runtime = tool("containeropen", "-j", "-s", "0.2", "--rows", "0", "--runtime")
    name = unique()
    containers.run("cat", "/etc/hostname", name=name)
    assert docker("wait", name).stdout.strip() == "0"
    rows = {}
    for label, t in (("default", default), ("runtime", runtime)):
        t.wait_for(lambda e: e["event"] == "summary" and any(
            r["container_name"] == name and r["path"] == "/etc/hostname" for r in e["rows"]),
            what="the entrypoint's row")
        assert t.stop() == 0
        rows[label] = [r for e in t.json_events() if e["event"] == "summary"
                       for r in e["rows"] if r["container_name"] == name]
    assert {r["path"] for r in rows["default"]} == {"/etc/hostname"}
    assert not [r for r in rows["default"] if r["runtime_setup"]]
    setup = {r["path"] for r in rows["runtime"] if r["runtime_setup"]}
    assert any(p.startswith("/var/lib/docker/overlay2/") for p in setup), setup
    assert "/etc/hostname" not in setup
