"""containerescape's rule tables and their keys, as pure logic: what the
kernel will compare (no BPF here; tests/test_containerescape.py runs them
for real)."""

import os

import pytest

from ctrace import escape
from ctrace.errors import UsageError


def test_kill_all_is_every_technique_but_the_helper():
    assert escape.kill_techniques("all") == [t for t in escape.TECHNIQUES
                                             if t != "host-helper-exec"]
    assert escape.kill_techniques("mount, ptrace") == ["mount", "ptrace"]


@pytest.mark.parametrize("text", ["", ",", "host-helper-exec", "mount,nothing", "all,mount"])
def test_kill_refuses_what_it_cannot_kill(text):
    with pytest.raises(UsageError):
        escape.kill_techniques(text)


def test_names_compare_on_15_bytes_and_a_nul():
    lo, hi = escape.name_key("release_agent")
    assert lo.to_bytes(8, "little") + hi.to_bytes(8, "little") == b"release_agent\0\0\0"
    assert escape.name_key("notify_on_release") == escape.name_key("notify_on_relea")
    assert escape.name_key("notify_on_release")[1] >> 56 == 0


def test_kernel_device_numbers_match_mountinfo(tmp_path):
    """A stat() device as the kernel's s_dev: major << 20 | minor, the
    numbers /proc/self/mountinfo prints."""
    st = os.stat(tmp_path)
    majmin = {line.split()[2] for line in open("/proc/self/mountinfo")}
    dev = escape.kernel_dev(st.st_dev)
    assert "%d:%d" % (dev >> 20, dev & 0xfffff) in majmin


def test_object_rules_name_known_filesystems():
    for fs, path, why in escape.OBJECT_RULES:
        assert fs in escape.FS_MAGIC and why
        names = path.split("/")
        assert 1 <= len(names) <= 3 and "" not in names
    # A failed open is judged on these names as given; binfmt_misc's
    # "status" is too common a name to judge without its filesystem.
    leaves = {p.split("/")[-1] for _, p, _ in escape.OBJECT_RULES} - {"status"}
    assert set(escape.OPEN_NAMES) >= leaves


def test_host_keys_are_names_in_directories(tmp_path, monkeypatch):
    """A host rule is the name in its parent directory (device, inode), the
    parent existing whether or not the file does; a rule path that is a
    mount point of its own also keys its whole filesystem."""
    (tmp_path / "etc").mkdir()
    monkeypatch.setattr(escape, "host_root", lambda: str(tmp_path))
    rules = [("/etc/passwd", "accounts", 1), ("/nothere/x", "gone", 1),
             ("/etc/ld.so.preload", "loader", 1)]
    keys = list(escape.host_keys(rules))
    etc = os.stat(tmp_path / "etc")
    dev = escape.kernel_dev(etc.st_dev)
    assert keys == [((dev, 6, etc.st_ino, escape.name_key("passwd")), 1 | (1 << 16)),
                    ((dev, 13, etc.st_ino, escape.name_key("ld.so.preload")), 3 | (1 << 16))]


def test_host_rules_expand_globs(tmp_path, monkeypatch):
    (tmp_path / "home" / "alice" / ".ssh").mkdir(parents=True)
    (tmp_path / "home" / "bob").mkdir()
    monkeypatch.setattr(escape, "host_root", lambda: str(tmp_path))
    monkeypatch.setattr(escape, "HOST_FILES", [("/home/*/.ssh", "ssh keys")])
    monkeypatch.setattr(escape, "HOST_SILENT", [])
    monkeypatch.setattr(escape, "HOST_RUNTIME", [])
    assert escape.host_rules() == [("/home/alice/.ssh", "ssh keys", escape.C.HOST_SENSITIVE)]
