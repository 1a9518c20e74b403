"""Machine problems are one-line errors that name the fix."""

import collections
import os
import subprocess
import sys

import pytest

from conftest import ROOT, bpf_sources

from ctrace import bpf
from ctrace.errors import SetupError

Uname = collections.namedtuple("Uname", "sysname nodename release version machine")


def test_missing_headers_names_make_install(monkeypatch):
    monkeypatch.delenv("BCC_KERNEL_SOURCE", raising=False)
    monkeypatch.setenv("CTRACE_KERNEL_HEADERS", "system")
    monkeypatch.setattr(os, "uname", lambda: Uname("Linux", "h", "0.0.0-nonexistent", "", "x86_64"))
    with pytest.raises(SetupError) as exc:
        bpf.check_headers()
    assert "make install" in str(exc.value)
    assert "/lib/modules/0.0.0-nonexistent/build" in str(exc.value)


def test_bcc_compiles_against_ctraces_own_kernel_tree(monkeypatch):
    monkeypatch.delenv("BCC_KERNEL_SOURCE", raising=False)
    monkeypatch.delenv("CTRACE_KERNEL_HEADERS", raising=False)
    tree = bpf.check_headers()
    assert tree == os.path.join(bpf.bpf_source_dir(), "kbuild")
    # What BCC looks for to accept a tree, and what its helpers include.
    for header in ("linux/kconfig.h", "uapi/linux/bpf.h", "linux/version.h", "asm/page.h"):
        assert os.path.isfile(os.path.join(tree, "include", header))


def test_a_kernel_tree_the_user_named_is_kept(monkeypatch, tmp_path):
    (tmp_path / "include").mkdir()
    monkeypatch.setenv("BCC_KERNEL_SOURCE", str(tmp_path))
    assert bpf.check_headers() is None          # BCC reads the user's choice itself
    monkeypatch.setenv("BCC_KERNEL_SOURCE", str(tmp_path / "absent"))
    with pytest.raises(SetupError, match="absent"):
        bpf.check_headers()


def test_a_partial_install_without_the_kernel_tree_names_make_install(monkeypatch, tmp_path):
    (tmp_path / "ctrace.h").write_text("")
    monkeypatch.setenv("CTRACE_BPF_DIR", str(tmp_path))
    monkeypatch.delenv("BCC_KERNEL_SOURCE", raising=False)
    monkeypatch.delenv("CTRACE_KERNEL_HEADERS", raising=False)
    with pytest.raises(SetupError, match="make install") as exc:
        bpf.check_headers()
    assert str(tmp_path / "kbuild") in str(exc.value)


def test_missing_tracepoint_is_named(monkeypatch, tmp_path):
    (tmp_path / "events" / "syscalls").mkdir(parents=True)
    monkeypatch.setattr(bpf, "tracefs_root", lambda: str(tmp_path))
    with pytest.raises(SetupError, match="syscalls:sys_enter_nothing"):
        bpf.check_tracepoints(["syscalls:sys_enter_nothing"])


def test_missing_bcc_names_the_package(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_bcc(name, *args, **kwargs):
        if name == "bcc":
            raise ImportError("no bcc")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_bcc)
    with pytest.raises(SetupError, match="python3-bpfcc"):
        bpf.import_bcc()


def test_missing_bpf_sources(monkeypatch, tmp_path):
    monkeypatch.setenv("CTRACE_BPF_DIR", str(tmp_path))
    monkeypatch.setattr(bpf.os.path, "exists",
                        lambda p, real=os.path.exists: str(tmp_path) in p and real(p))
    with pytest.raises(SetupError, match="make install"):
        bpf.bpf_source_dir()


# A program the BPF back end refuses: 1 KiB on the 512-byte stack.  LLVM
# then calls exit(1) itself, from the compile thread.
OVER_THE_STACK = r'''
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
    char buf[1024];
    bpf_probe_read_kernel(buf, sizeof(buf), (void *)bpf_get_current_task());
    return buf[bpf_get_prandom_u32() & 1023];
}
'''

LOAD_IN_A_CHILD = r'''
import sys
sys.path.insert(0, sys.argv[1])
from ctrace import bpf
from ctrace.errors import SetupError
program = bpf.Program("over.bpf.c", host_ns={"mnt": 1, "pid": 1, "net": 1})
try:
    bpf.Runner("ctrace-test", program, ["syscalls:sys_enter_getppid"], None).load()
except SetupError as exc:
    sys.stderr.write("ctrace-test: %s\n" % exc)
    sys.exit(1)
'''


@pytest.mark.integration
@pytest.mark.parametrize("headers", ["ctrace", "system"])
def test_a_program_that_does_not_compile_is_one_line_naming_the_other_headers(
        bpf_ok, tmp_path, monkeypatch, headers):
    """ctrace's kernel tree holds what this BCC's helpers need; the error of
    a compile against it names the installed headers as the way out."""
    bpf_sources(tmp_path, "broken.bpf.c", '#include "ct_context.h"\n'
                "TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return no_such_name; }\n")
    monkeypatch.setenv("CTRACE_BPF_DIR", str(tmp_path))
    monkeypatch.delenv("BCC_KERNEL_SOURCE", raising=False)
    if headers == "system":
        monkeypatch.setenv("CTRACE_KERNEL_HEADERS", "system")
    else:
        monkeypatch.delenv("CTRACE_KERNEL_HEADERS", raising=False)
    program = bpf.Program("broken.bpf.c", host_ns={"mnt": 1, "pid": 1, "net": 1})
    runner = bpf.Runner("ctrace-test", program, ["syscalls:sys_enter_getppid"], None)
    with pytest.raises(SetupError) as exc:
        runner.load()
    text = str(exc.value)
    assert text.startswith("loading the BPF program failed: Failed to compile") and "\n" not in text
    assert ("CTRACE_KERNEL_HEADERS=system" in text) == (headers == "ctrace")
    assert "BCC_KERNEL_SOURCE" not in os.environ     # set only while BCC compiled


@pytest.mark.integration
def test_a_compiler_that_ends_the_process_still_says_why(bpf_ok, tmp_path):
    """Without the exit handler the tool ends with status 1 and prints
    nothing (BCC's stderr goes to ctrace's file while it loads)."""
    bpf_sources(tmp_path, "over.bpf.c", '#include "ct_context.h"\n' + OVER_THE_STACK)
    r = subprocess.run([sys.executable, "-c", LOAD_IN_A_CHILD, ROOT], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, CTRACE_BPF_DIR=str(tmp_path)))
    lines = r.stderr.splitlines()
    assert r.returncode == 1, r.stderr
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("ctrace-test: loading the BPF program failed: the compiler "
                               "ended the process: "), r.stderr
    assert "stack limit" in lines[0] and "--ebpf" in lines[0]


EXIT_FROM_A_THREAD = r'''
import ctypes, os, sys, threading
sys.path.insert(0, sys.argv[1])
from ctrace import libc
hook = libc.ExitHook(lambda: os.write(1, b"said why"))
if sys.argv[2] == "cancel":
    hook.cancel()
elif sys.argv[2] == "python-exit":
    sys.exit(3)     # Python's exit forgets the hook before it finalizes
# What LLVM does: exit(3) from a thread other than the main one.
thread = threading.Thread(target=ctypes.CDLL(None).exit, args=(3,))
thread.start()
thread.join()
'''


@pytest.mark.parametrize("then", ["exit", "cancel", "python-exit"])
def test_an_exit_hook_runs_at_exit_from_any_thread_until_cancelled(then):
    r = subprocess.run([sys.executable, "-c", EXIT_FROM_A_THREAD, ROOT, then],
                       capture_output=True, timeout=60)
    assert r.returncode == 3, r.stderr
    assert r.stdout == (b"said why" if then == "exit" else b"")
    assert r.stderr == b""
