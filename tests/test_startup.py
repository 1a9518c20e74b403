"""The start-up's helper threads (ctrace.threads.Beside) and the preload of
libbcc and the kernel's BTF (ctrace.preload): pure logic, no BPF."""

import signal

import pytest

from ctrace import preload
from ctrace.errors import SetupError
from ctrace.threads import STOP_SIGNALS, Beside


def test_beside_returns_what_its_function_returned():
    assert Beside(lambda: 42, "test").result() == 42


def test_beside_raises_what_its_function_raised():
    def fails():
        raise SetupError("kernel BTF not found")
    with pytest.raises(SetupError, match="BTF not found"):
        Beside(fails, "test").result()


def test_beside_leaves_the_stop_signals_to_the_main_thread():
    blocked = Beside(lambda: signal.pthread_sigmask(signal.SIG_BLOCK, []), "test").result()
    assert STOP_SIGNALS <= blocked
    assert not STOP_SIGNALS & signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_the_preloaded_btf_is_handed_over_once(monkeypatch):
    """The first caller takes the preload's BTF (and closes it); later
    callers parse their own."""
    preloaded, parsed = object(), object()
    monkeypatch.setattr(preload, "_preload", Beside(lambda: preloaded, "test"))
    monkeypatch.setattr(preload, "KernelBTF", lambda: parsed)
    assert preload.kernel_btf() is preloaded
    assert preload.kernel_btf() is parsed


def test_a_failed_preload_says_why_when_the_btf_is_needed(monkeypatch):
    def missing():
        raise SetupError("kernel BTF not found at /sys/kernel/btf/vmlinux")
    monkeypatch.setattr(preload, "_preload", Beside(missing, "test"))
    with pytest.raises(SetupError, match="kernel BTF not found"):
        preload.kernel_btf()
