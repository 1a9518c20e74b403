"""Output files (--dot FILE, --seccomp FILE): only a missing path or a regular
file is ever written, atomically, and a path that cannot be written is refused
before tracing starts (ctrace/outfile.py).

The first part tests ctrace.outfile itself.  The second drives the real tools
through their command line: those tests fail until containernet's --dot and
containersyscall's --seccomp use ctrace.outfile (argparse type=
outfile.output_path, and outfile.replacing()/write_file() for the writes).
"""

import argparse
import json
import os
import stat
import threading

import pytest

from conftest import run_tool, unavailable
from ctrace import outfile
from ctrace.cli import ArgumentParser
from ctrace.outfile import OutputFileError


def entries(directory):
    return sorted(os.listdir(str(directory)))


@pytest.fixture
def device_node(tmp_path):
    """A character device like /dev/null (major 1, minor 3), made in a
    scratch directory: replacing it is what must never happen."""
    if os.geteuid() != 0:
        unavailable("making a device node (mknod) needs root")
    path = tmp_path / "null"
    os.mknod(str(path), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return path


def assert_device_intact(path):
    st = os.lstat(str(path))
    assert stat.S_ISCHR(st.st_mode), "the device node was replaced"
    assert os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(str(path))
    return path


@pytest.fixture
def victim(tmp_path):
    """A regular file elsewhere that a planted symlink points to."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    path = other / "precious"
    path.write_text("precious\n")
    return path


# -- ctrace.outfile ------------------------------------------------------------------

def test_device_node_is_refused_and_left_alone(device_node, tmp_path):
    with pytest.raises(OutputFileError, match="character device"):
        outfile.check(str(device_node))
    with pytest.raises(OutputFileError, match="character device"):
        outfile.write_file(str(device_node), "digraph {}\n")
    assert_device_intact(device_node)
    assert entries(tmp_path) == ["null"]


def test_fifo_is_refused(fifo, tmp_path):
    with pytest.raises(OutputFileError, match="fifo"):
        outfile.check(str(fifo))
    with pytest.raises(OutputFileError, match="fifo"):
        outfile.write_file(str(fifo), "x")
    assert stat.S_ISFIFO(os.lstat(str(fifo)).st_mode)
    assert entries(tmp_path) == ["fifo"]


def test_symlink_to_a_regular_file_is_refused(tmp_path, victim):
    link = tmp_path / "out.dot"
    os.symlink(str(victim), str(link))
    with pytest.raises(OutputFileError, match="symbolic link"):
        outfile.check(str(link))
    with pytest.raises(OutputFileError, match="symbolic link"):
        outfile.write_file(str(link), "overwritten\n")
    assert victim.read_text() == "precious\n"
    assert os.readlink(str(link)) == str(victim)
    assert entries(tmp_path) == ["elsewhere", "out.dot"]


def test_symlink_to_dev_null_is_refused(tmp_path):
    link = tmp_path / "out.json"
    os.symlink("/dev/null", str(link))
    with pytest.raises(OutputFileError, match="symbolic link"):
        outfile.check(str(link))
    with pytest.raises(OutputFileError, match="symbolic link"):
        outfile.write_file(str(link), "{}\n")
    assert os.readlink(str(link)) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert entries(tmp_path) == ["out.json"]


def test_directory_is_refused(tmp_path):
    d = tmp_path / "adir"
    d.mkdir()
    for path in (str(d), str(d) + "/"):
        with pytest.raises(OutputFileError, match="directory"):
            outfile.check(path)
    with pytest.raises(OutputFileError, match="directory"):
        outfile.write_file(str(d), "x")
    assert d.is_dir() and entries(d) == []
    assert entries(tmp_path) == ["adir"]


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(OutputFileError, match="does not exist"):
        outfile.check(str(tmp_path / "no" / "such" / "x.dot"))
    with pytest.raises(OutputFileError):
        outfile.write_file(str(tmp_path / "no" / "x.dot"), "x")
    assert entries(tmp_path) == []


def test_unwritable_place_is_refused():
    # /proc accepts no new files, even from root (and os.access says yes).
    for path in ("/proc/forbidden.dot", "/proc/self/forbidden.json"):
        with pytest.raises(OutputFileError, match="cannot create a file"):
            outfile.check(path)
        with pytest.raises(OutputFileError):
            outfile.write_file(path, "x")
        assert not os.path.lexists(path)


def test_empty_and_nul_names_are_refused():
    for path in ("", "a\0b"):
        with pytest.raises(OutputFileError, match="not a file name"):
            outfile.check(path)


def test_regular_file_is_replaced_keeping_its_mode(tmp_path):
    path = tmp_path / "profile.json"
    path.write_text("old\n")
    os.chmod(str(path), 0o600)
    old_inode = os.stat(str(path)).st_ino
    assert outfile.check(str(path)) == str(path)
    outfile.write_file(str(path), '{"new": true}\n')
    assert json.loads(path.read_text()) == {"new": True}
    st = os.lstat(str(path))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_ino != old_inode           # a new file renamed in, not rewritten
    assert entries(tmp_path) == ["profile.json"]


def test_new_file_has_mode_0644_whatever_the_umask(tmp_path):
    path = tmp_path / "new.dot"
    old = os.umask(0o077)
    try:
        outfile.write_file(str(path), "digraph {}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.lstat(str(path)).st_mode) == 0o644
    assert path.read_text() == "digraph {}\n"
    outfile.write_file(str(path), b"\xffbytes")
    assert path.read_bytes() == b"\xffbytes"
    assert entries(tmp_path) == ["new.dot"]


def test_symlink_planted_after_the_check_is_not_followed(tmp_path, victim):
    path = tmp_path / "out.dot"
    assert outfile.check(str(path)) == str(path)        # missing: fine
    os.symlink(str(victim), str(path))                  # planted before the write
    with pytest.raises(OutputFileError, match="symbolic link"):
        outfile.write_file(str(path), "overwritten\n")
    assert victim.read_text() == "precious\n"
    assert os.readlink(str(path)) == str(victim)
    assert entries(tmp_path) == ["elsewhere", "out.dot"]


def test_symlink_planted_during_the_write_is_not_replaced(tmp_path, victim):
    """The final path is looked at again just before the rename."""
    path = tmp_path / "out.dot"
    path.write_text("old\n")
    with pytest.raises(OutputFileError, match="symbolic link"):
        with outfile.replacing(str(path)) as f:
            f.write("new\n")
            os.unlink(str(path))
            os.symlink(str(victim), str(path))
    assert victim.read_text() == "precious\n"
    assert os.readlink(str(path)) == str(victim)
    assert entries(tmp_path) == ["elsewhere", "out.dot"]


def test_device_planted_during_the_write_is_not_replaced(tmp_path, device_node):
    path = tmp_path / "out.dot"
    with pytest.raises(OutputFileError, match="character device"):
        with outfile.replacing(str(path)) as f:
            f.write("new\n")
            os.rename(str(device_node), str(path))
    assert_device_intact(path)
    assert entries(tmp_path) == ["out.dot"]


def test_temporary_file_is_exclusive_random_and_removed_on_error(tmp_path):
    path = tmp_path / "out.dot"
    seen = []
    with pytest.raises(RuntimeError):
        with outfile.replacing(str(path)) as f:
            seen = [n for n in entries(tmp_path)]
            f.write("half")
            raise RuntimeError("the writer failed")
    assert len(seen) == 1 and seen[0] != "out.dot"
    assert seen[0] != "out.dot.tmp.%d" % os.getpid()       # not predictable
    assert entries(tmp_path) == []                          # nothing left, no out.dot
    # Two writers at once each get their own temporary file.
    names = set()
    barrier = threading.Barrier(2)

    def writer(text):
        with outfile.replacing(str(path)) as f:
            names.update(n for n in entries(tmp_path) if n != "out.dot")
            barrier.wait(10)
            f.write(text)
    threads = [threading.Thread(target=writer, args=(t,)) for t in ("a\n", "b\n")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(names) == 2
    assert path.read_text() in ("a\n", "b\n")
    assert entries(tmp_path) == ["out.dot"]


def test_a_write_error_is_an_output_file_error_and_leaves_nothing(tmp_path):
    path = tmp_path / "out.dot"
    with pytest.raises(OutputFileError) as exc:
        with outfile.replacing(str(path)) as f:
            os.close(f.fileno())             # the next flush fails: EBADF
            f.write("x" * 100000)
    assert exc.value.filename == str(path)
    assert entries(tmp_path) == []


def test_argument_type_is_a_usage_error_of_one_line(tmp_path, fifo, capsys):
    parser = ArgumentParser(prog="sometool")
    parser.add_argument("--dot", type=outfile.output_path)
    with pytest.raises(argparse.ArgumentTypeError):
        outfile.output_path(str(fifo))
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--dot", str(fifo)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "fifo" in err and str(fifo) in err
    ok = str(tmp_path / "fine.dot")
    assert parser.parse_args(["--dot", ok]).dot == ok
    assert entries(tmp_path) == ["fifo"]                  # the probe left nothing


def test_hostile_path_is_one_line(tmp_path):
    bad = str(tmp_path / "new\nline\x1b[31m") + "/x.dot"
    with pytest.raises(OutputFileError) as exc:
        outfile.check(bad)
    text = str(exc.value)
    assert "\n" not in text and "\x1b" not in text


# -- the real tools ------------------------------------------------------------------
# These fail until the tools use ctrace.outfile (see the module docstring).

def assert_refused_in_one_line(r, path, what):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr and "tracing" not in r.stderr
    assert path in lines[0] and what in lines[0], lines[0]


NET = ["containernet", "-s", "1", "-d", "1", "--dot"]


def syscall_argv(path):
    return ["containersyscall", "--seccomp", path, "-c", "x", "-d", "1"]


@pytest.mark.parametrize("argv", [NET, "syscall"])
def test_tools_refuse_a_device_node(argv, device_node):
    argv = syscall_argv(str(device_node)) if argv == "syscall" else argv + [str(device_node)]
    r = run_tool(*argv)
    assert_refused_in_one_line(r, str(device_node), "character device")
    assert_device_intact(device_node)


@pytest.mark.parametrize("argv", [NET, "syscall"])
def test_tools_refuse_a_fifo(argv, fifo):
    argv = syscall_argv(str(fifo)) if argv == "syscall" else argv + [str(fifo)]
    r = run_tool(*argv)
    assert_refused_in_one_line(r, str(fifo), "fifo")
    assert stat.S_ISFIFO(os.lstat(str(fifo)).st_mode)


@pytest.mark.parametrize("argv", [NET, "syscall"])
def test_tools_refuse_a_symlink(argv, tmp_path, victim):
    link = str(tmp_path / "out")
    os.symlink(str(victim), link)
    argv = syscall_argv(link) if argv == "syscall" else argv + [link]
    r = run_tool(*argv)
    assert_refused_in_one_line(r, link, "symbolic link")
    assert victim.read_text() == "precious\n" and os.readlink(link) == str(victim)


@pytest.mark.parametrize("argv", [NET, "syscall"])
def test_tools_refuse_an_unwritable_place_before_tracing(argv):
    path = "/proc/forbidden.dot"
    argv = syscall_argv(path) if argv == "syscall" else argv + [path]
    r = run_tool(*argv)
    assert_refused_in_one_line(r, path, "cannot create a file")


@pytest.mark.integration
def test_containernet_does_not_replace_a_symlink_planted_while_it_runs(tool, tmp_path,
                                                                       victim):
    path = tmp_path / "net.dot"
    t = tool("containernet", "-s", "0.2", "--dot", str(path))
    os.symlink(str(victim), str(path))
    t.wait_stderr("cannot write %s" % path)
    assert t.stop() == 0
    assert victim.read_text() == "precious\n"
    assert os.readlink(str(path)) == str(victim)
    assert entries(tmp_path) == ["elsewhere", "net.dot"]     # no temporary left


@pytest.mark.integration
def test_containersyscall_does_not_replace_a_fifo_planted_while_it_records(tool, containers,
                                                                          tmp_path):
    path = tmp_path / "profile.json"
    name = containers.run("sleep", "600")
    t = tool("containersyscall", "--seccomp", str(path), "-c", name)
    os.mkfifo(str(path))
    containers.exec(name, "cat", "/etc/hostname")
    assert t.stop() == 1
    assert stat.S_ISFIFO(os.lstat(str(path)).st_mode)
    assert any("cannot write %s" % path in l and "fifo" in l for l in t.err), t.err
    assert entries(tmp_path) == ["profile.json"]
