"""Kernel struct offsets come from the running kernel's BTF."""

import json
import os
import re
import stat
import subprocess
import sys

import pytest

from conftest import ROOT, unavailable
from ctrace import btfcache
from ctrace.bpf import BTF_DECLARATION, Program, _inline_includes, bpf_source_dir
from ctrace.btf import KernelBTF, VMLINUX_BTF
from ctrace.errors import SetupError


@pytest.fixture
def btf():
    if not os.path.exists(VMLINUX_BTF):
        unavailable("no kernel BTF at %s (the tools need it)" % VMLINUX_BTF)
    b = KernelBTF()
    yield b
    b.close()


def test_offsets_are_found(btf):
    source = _inline_includes(bpf_source_dir(), "containerexec.bpf.c", set())
    declared = {name: kind for kind, name, _ in BTF_DECLARATION.findall(source)}
    macros = Program.kernel_macros(source)
    assert {"CT_OFF_TASK_NSPROXY", "CT_OFF_MNT_NS_INUM", "EXEC_OFF_MM_ARG_START"} <= set(declared)
    # every declaration is defined, but one the kernel may lack (_IF)
    assert {n for n, kind in declared.items() if kind != "OFFSET_IF"} <= set(macros)
    assert set(macros) <= set(declared)
    # task_struct members are far from its start; the nested ones are small.
    assert macros["CT_OFF_TASK_NSPROXY"] > 256
    assert 0 <= macros["CT_OFF_MNT_NS_INUM"] < 256
    assert macros["CT_SIZEOF_UPID"] == 16


def test_raw_tracepoint_arguments_are_counted(btf):
    assert btf.tracepoint_args("sys_exit") == 2          # regs, ret
    assert btf.tracepoint_args("sched_process_exec") == 3
    assert btf.tracepoint_args("no_such_tracepoint") == 0
    source = _inline_includes(bpf_source_dir(), "ct_uring.h", set())
    args = Program.kernel_macros(source)["CT_URING_COMPLETE_ARGS"]
    # (ring, req, cqe) since 6.3; (ring, req, user_data, res, cflags[, extra1,
    # extra2]) before; none where the kernel has no io_uring
    assert args == btf.tracepoint_args("io_uring_complete") and args in (0, 3, 5, 7)


def test_nested_and_anonymous_members(btf):
    # mnt_namespace.ns.inum is a member of a member
    assert btf.offsetof("mnt_namespace.ns.inum") == \
        btf.offsetof("mnt_namespace.ns") + btf.offsetof("ns_common.inum")
    # mm_struct's fields sit inside an anonymous struct
    assert btf.offsetof("mm_struct.arg_end") == btf.offsetof("mm_struct.arg_start") + 8


def test_unknown_field_is_a_setup_error(btf):
    with pytest.raises(SetupError):
        btf.offsetof("task_struct.no_such_field")
    with pytest.raises(SetupError):
        btf.offsetof("no_such_struct.x")


def test_missing_btf_names_the_problem(tmp_path):
    with pytest.raises(SetupError, match="BTF"):
        KernelBTF(str(tmp_path / "vmlinux"))


def test_struct_codes_follow_real_sizes():
    import ctypes
    import struct
    from ctrace.bpf import _struct_code
    for ctype in (ctypes.c_ulong, ctypes.c_long, ctypes.c_uint, ctypes.c_int, ctypes.c_ushort,
                  ctypes.c_ubyte, ctypes.c_ulonglong, ctypes.c_short):
        assert struct.calcsize("<" + _struct_code(ctype)) == ctypes.sizeof(ctype)


# -- offsets kept from one start to the next (ctrace.btfcache) -------------

DECLARATIONS = [["OFFSET", "CT_OFF_TASK_NSPROXY", ["task_struct.nsproxy"]],
                ["SIZE", "CT_SIZEOF_UPID", ["upid"]]]
KEPT = {"CT_OFF_TASK_NSPROXY": 2000, "CT_SIZEOF_UPID": 16}


def test_kept_offsets_are_read_back_by_the_next_start(kept_offsets):
    assert btfcache.load("x.bpf.c", DECLARATIONS) is None
    assert not btfcache.kept_for("x.bpf.c")
    btfcache.store("x.bpf.c", DECLARATIONS, KEPT)
    assert btfcache.load("x.bpf.c", DECLARATIONS) == KEPT
    assert btfcache.kept_for("x.bpf.c") and not btfcache.kept_for("y.bpf.c")
    # other declarations (a changed ctrace's) are not answered
    assert btfcache.load("x.bpf.c", DECLARATIONS[:1]) is None
    assert oct(os.stat(kept_offsets).st_mode & 0o777) == "0o700"


def test_offsets_kept_are_the_ones_the_btf_gives(btf):
    source = _inline_includes(bpf_source_dir(), "containerescape.bpf.c", set())
    parsed = Program.kernel_macros(source, "containerescape.bpf.c")   # parsed, kept
    assert btfcache.kept_for("containerescape.bpf.c")
    declarations = [[k, n, [f.strip() for f in fields.split(",")]]
                    for k, n, fields in BTF_DECLARATION.findall(source)]
    assert btfcache.load("containerescape.bpf.c", declarations) == parsed
    assert Program.kernel_macros(source, "containerescape.bpf.c") == parsed
    assert Program.kernel_macros(source) == parsed                    # parsed again


def test_offsets_of_another_boot_or_kernel_are_not_used(kept_offsets, monkeypatch):
    btfcache.store("x.bpf.c", DECLARATIONS, KEPT)
    with monkeypatch.context() as m:
        m.setattr(btfcache, "boot_id", lambda: "another-boot")
        assert btfcache.load("x.bpf.c", DECLARATIONS) is None
        assert not btfcache.kept_for("x.bpf.c")
    (path,) = kept_offsets.iterdir()
    path.write_text(path.read_text().replace(os.uname().release, "0.0.0-other"))
    assert btfcache.load("x.bpf.c", DECLARATIONS) is None


@pytest.mark.parametrize("what", ["folder", "file"])
def test_offsets_others_could_have_written_are_not_used(kept_offsets, what):
    btfcache.store("x.bpf.c", DECLARATIONS, KEPT)
    (path,) = kept_offsets.iterdir()
    os.chmod(kept_offsets if what == "folder" else path, 0o777 if what == "folder" else 0o666)
    assert btfcache.load("x.bpf.c", DECLARATIONS) is None


def test_a_damaged_file_is_parsed_again(kept_offsets, btf):
    source = _inline_includes(bpf_source_dir(), "containerexec.bpf.c", set())
    parsed = Program.kernel_macros(source, "containerexec.bpf.c")
    (path,) = kept_offsets.iterdir()
    path.write_text('{"boot_id": "x", "macros": ')
    assert Program.kernel_macros(source, "containerexec.bpf.c") == parsed


def test_nothing_is_kept_where_the_folder_cannot_be_made(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(btfcache, "CACHE_DIR", str(blocker / "ctrace"))
    btfcache.store("x.bpf.c", DECLARATIONS, KEPT)      # no error
    assert btfcache.load("x.bpf.c", DECLARATIONS) is None


def tool_text(kept):
    """containerexec --ebpf's C text, its offsets kept in folder KEPT."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "containerexec"),
                           "--ebpf"], env=dict(os.environ, CTRACE_CACHE_DIR=str(kept)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def nsproxy_offset(text):
    return int(re.search(r"^#define CT_OFF_TASK_NSPROXY (\d+)$", text, re.M).group(1))


def test_a_tool_keeps_its_offsets_and_reads_them_back(btf, kept_offsets):
    """The tool itself: its first start keeps its offsets (a root's file in
    a root's folder), a later start reads them back (a value planted in the
    file shows in its C), and a file anyone could have written is ignored
    and made again."""
    first = tool_text(kept_offsets)
    (path,) = kept_offsets.iterdir()
    assert path.name == "btf-%s-containerexec.bpf.c.json" % btfcache.boot_id()
    assert stat.S_IMODE(os.stat(kept_offsets).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    kept = json.loads(path.read_text())
    assert kept["macros"]["CT_OFF_TASK_NSPROXY"] == nsproxy_offset(first) \
        == btf.offsetof("task_struct.nsproxy")
    kept["macros"]["CT_OFF_TASK_NSPROXY"] = 12345
    path.write_text(json.dumps(kept))
    assert nsproxy_offset(tool_text(kept_offsets)) == 12345
    os.chmod(path, 0o666)
    assert nsproxy_offset(tool_text(kept_offsets)) == nsproxy_offset(first)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text())["macros"]["CT_OFF_TASK_NSPROXY"] == nsproxy_offset(first)
