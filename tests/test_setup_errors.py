"""Machine problems are one-line errors that name the fix."""

import collections
import os

import pytest

from ctrace import bpf
from ctrace.errors import SetupError

Uname = collections.namedtuple("Uname", "sysname nodename release version machine")


def test_missing_headers_names_make_install(monkeypatch):
    monkeypatch.setattr(os, "uname", lambda: Uname("Linux", "h", "0.0.0-nonexistent", "", "x86_64"))
    with pytest.raises(SetupError) as exc:
        bpf.check_headers()
    assert "make install" in str(exc.value)
    assert "/lib/modules/0.0.0-nonexistent/build" in str(exc.value)


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
