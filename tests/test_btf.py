"""Kernel struct offsets come from the running kernel's BTF."""

import os

import pytest

from conftest import unavailable
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
