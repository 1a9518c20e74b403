"""The start-up's helper threads (ctrace.threads.Beside), the preload of
libbcc and the kernel's BTF (ctrace.preload), and what the compile is
spared (ctrace.bcc_compile)."""

import glob
import os
import signal
import subprocess
import sys

import pytest

from ctrace import bcc_compile, bpf, preload
from ctrace.errors import SetupError
from ctrace.threads import STOP_SIGNALS, Beside

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL_PATHS = sorted(p for p in glob.glob(os.path.join(ROOT, "tools", "container*"))
                    if not p.endswith(".txt"))


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


def test_the_preload_loads_every_extension_module_the_tools_import():
    """A dlopen of the tool's thread waits for libbcc's (0.09 s): every C
    extension module the tools import is loaded before libbcc is."""
    code = ("import pkgutil, runpy, sys; sys.argv = ['x', '-h']\n"
            "before = {m for m, v in sys.modules.items() if str(getattr(v, '__file__', ''))"
            ".endswith('.so')}\n"
            "for tool in %r:\n"
            "    try:\n"
            "        runpy.run_path(tool, run_name='__main__')\n"
            "    except SystemExit:\n"
            "        pass\n"
            "import ctrace.preload\n"
            "loaded = {m for m, v in sys.modules.items() if str(getattr(v, '__file__', ''))"
            ".endswith('.so')}\n"
            "print('missing:', *sorted(loaded - before - {'_ctypes'} - "
            "set(ctrace.preload.EXTENSION_MODULES)))\n" % TOOL_PATHS)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "missing:"


def test_the_preloaded_btf_is_handed_over_once(monkeypatch):
    """The first caller takes the preload's BTF (and closes it); later
    callers parse their own."""
    preloaded, parsed = object(), object()
    monkeypatch.setattr(preload, "_preload", Beside(lambda: preloaded, "test"))
    monkeypatch.setattr(preload, "KernelBTF", lambda: parsed)
    assert preload.kernel_btf() is preloaded
    assert preload.kernel_btf() is parsed


def test_the_preload_leaves_the_btf_when_offsets_are_kept(monkeypatch):
    """A start of this tool in this boot kept its offsets (ctrace.btfcache):
    the preload does not parse the BTF; if the offsets kept do not serve
    after all, the tool parses it then, and one that finds them frees a
    preload's parse."""
    monkeypatch.setattr(preload.libc, "dlopen", lambda *a: None)
    monkeypatch.setattr(preload, "KernelBTF", lambda: pytest.fail("parsed"))
    monkeypatch.setattr(preload.sys, "argv", ["/usr/sbin/containeropen", "-T"])
    monkeypatch.setattr(preload.btfcache, "kept_for",
                        lambda program: program == "containeropen.bpf.c")
    assert preload._load() is None
    parsed = object()
    monkeypatch.setattr(preload, "KernelBTF", lambda: parsed)
    monkeypatch.setattr(preload.sys, "argv", ["/usr/sbin/containernet"])
    assert preload._load() is parsed            # another tool's were kept
    monkeypatch.setattr(preload, "_preload", Beside(lambda: None, "test"))
    assert preload.kernel_btf() is parsed

    class Parsed:
        closed = False

        def close(self):
            self.closed = True
    preloaded = Parsed()
    monkeypatch.setattr(preload, "_preload", Beside(lambda: preloaded, "test"))
    preload.drop_btf()
    assert preloaded.closed and preload._preload is None


def test_a_failed_preload_says_why_when_the_btf_is_needed(monkeypatch):
    def missing():
        raise SetupError("kernel BTF not found at /sys/kernel/btf/vmlinux")
    monkeypatch.setattr(preload, "_preload", Beside(missing, "test"))
    with pytest.raises(SetupError, match="kernel BTF not found"):
        preload.kernel_btf()


class Madvise:
    def __init__(self):
        self.calls = []

    def madvise(self, address, length, advice):
        self.calls.append((address, length, advice))


SMAPS = """\
7f0000000000-7f0000100000 r--p 00000000 08:01 11 /usr/lib/libLLVM-14.so.1
Rss:                 100 kB
Anonymous:             0 kB
7f0000100000-7f0000300000 r-xp 00100000 08:01 11 /usr/lib/libLLVM-14.so.1
Rss:                2048 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me sd
7f0000300000-7f0000400000 r-xp 00000000 08:01 12 /usr/lib/llvm-14/lib/libclang-cpp.so.14
Rss:                1024 kB
Anonymous:             4 kB
7f0000400000-7f0000500000 r-xp 00000000 08:01 13 /usr/lib/libbcc.so.0.26.0
Rss:                1024 kB
Anonymous:             0 kB
7f0000500000-7f0000600000 rw-p 00000000 00:00 0
Anonymous:          1024 kB
"""


def test_only_the_compilers_unwritten_code_is_dropped(tmp_path):
    """Executable mappings of libLLVM/libclang with no copied-on-write page:
    not their read-only data, not a code mapping someone wrote to (a
    debugger's breakpoint), not libbcc (used while tracing)."""
    smaps = tmp_path / "smaps"
    smaps.write_text(SMAPS)
    libc = Madvise()
    bpf._drop_resident_code(libc.madvise, bpf.COMPILER_LIBRARIES, str(smaps))
    assert libc.calls == [(0x7f0000100000, 0x200000, bpf.MADV_DONTNEED)]


def _mounts():
    with open("/proc/self/mountinfo") as mountinfo:
        return sorted(line.split(" - ")[0].split(None, 4)[4] for line in mountinfo)


def _thread_view(cflags):
    """What the compile thread sees: /proc/kallsyms, its mount namespace,
    the flags it compiles with."""
    with open("/proc/kallsyms", "rb") as kallsyms:
        return kallsyms.read(), os.readlink("/proc/thread-self/ns/mnt"), cflags


SHORT_KALLSYMS_CHECK = """
import os, sys
sys.path.insert(0, sys.argv[1])
from ctrace import bcc_compile
from tests.test_startup import _mounts, _thread_view
host_ns, mounts_before = os.readlink("/proc/self/ns/mnt"), _mounts()
seen, thread_ns, cflags = bcc_compile.compile_beside(_thread_view, "").result()
assert seen == bcc_compile.ANSWER, seen
assert thread_ns != host_ns
# The tool's own thread keeps the real file, its namespace and its mounts.
assert os.readlink("/proc/self/ns/mnt") == host_ns
with open("/proc/kallsyms", "rb") as kallsyms:
    assert len(kallsyms.read(1 << 16).splitlines()) > 100
assert _mounts() == mounts_before, set(_mounts()) ^ set(mounts_before)
print("ok")
"""


def test_the_compile_thread_sees_a_one_line_kallsyms_and_the_host_is_untouched():
    """Run where every mount is shared (as systemd makes them), in a mount
    namespace of the test's: nothing the compile thread mounts may reach it."""
    if os.geteuid() != 0:
        pytest.skip("a mount namespace needs root")
    out = subprocess.run(["unshare", "--mount", "--propagation", "shared", sys.executable,
                          "-c", SHORT_KALLSYMS_CHECK, ROOT],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_without_a_mount_namespace_the_compile_reads_the_real_kallsyms(monkeypatch):
    monkeypatch.setattr(bcc_compile.libc, "unshare", lambda flags: -1)
    seen, thread_ns, cflags = bcc_compile.compile_beside(_thread_view, TASK_STORAGE_TEXT).result()
    assert seen != bcc_compile.ANSWER and thread_ns == os.readlink("/proc/self/ns/mnt")
    assert cflags == bcc_compile.FRONTEND_OPT     # BCC makes the maps, with debug information


# A program with a task-storage map declared as the tools declare theirs.
TASK_STORAGE_TEXT = r'''
#include "ct_context.h"
struct probe_value { u64 calls; u64 spare[2]; };
CT_TASK_STORAGE(probe_store, struct probe_value);
BPF_ARRAY(probe_seen, u64, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
    if (bpf_get_current_pid_tgid() >> 32 != PROBE_PID)
        return 0;
    struct probe_value *v = probe_store.task_storage_get(
        (void *)bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!v)
        return 0;
    v->calls++;
    int zero = 0;
    u64 *seen = probe_seen.lookup(&zero);
    if (seen)
        *seen = v->calls;
    return 0;
}
'''


def _probe_text(tmp_path, monkeypatch):
    # Here, not at the top: a child process imports this module without
    # pytest's path (test_the_compile_thread_sees_...).
    from conftest import bpf_sources
    bpf_sources(tmp_path, "probe.bpf.c", TASK_STORAGE_TEXT)
    monkeypatch.setenv("CTRACE_BPF_DIR", str(tmp_path))
    return bpf.Program("probe.bpf.c", {"PROBE_PID": os.getpid()},
                       host_ns={"mnt": 1, "pid": 1, "net": 1}).text()


def _pins():
    return sorted(os.listdir(bcc_compile.PIN_DIR)) if os.path.isdir(bcc_compile.PIN_DIR) else []


def test_task_storage_made_by_ctrace_serves_a_compile_without_debug_information(
        bpf_ok, tmp_path, monkeypatch):
    import bcc
    text = _probe_text(tmp_path, monkeypatch)
    pins_before, used = _pins(), []

    def compile(cflags):
        used.extend(cflags)
        return bcc.BPF(text=text, cflags=cflags)
    b = bcc_compile.compile_beside(compile, text).result()
    try:
        assert "-g0" in used
        os.getppid()
        os.getppid()
        # The value persisted for this task between the two calls: the map
        # is task storage, made by ctrace and opened by BCC.
        assert b["probe_seen"][0].value == 2
    finally:
        b.cleanup()
    assert _pins() == pins_before       # the pins stayed in the thread's bpffs


def test_where_no_bpffs_can_be_mounted_bcc_makes_the_maps(bpf_ok, tmp_path, monkeypatch):
    import bcc
    text = _probe_text(tmp_path, monkeypatch)
    monkeypatch.setattr(bcc_compile, "PIN_DIR", str(tmp_path / "absent"))
    used = []

    def compile(cflags):
        used.append(cflags)
        return bcc.BPF(text=text, cflags=cflags)
    b = bcc_compile.compile_beside(compile, text).result()
    try:
        assert used == [bcc_compile.FRONTEND_OPT]
        os.getppid()
        assert b["probe_seen"][0].value == 1
    finally:
        b.cleanup()


def test_a_text_without_task_storage_compiles_without_debug_information_and_pins_nothing():
    maps = bcc_compile.TaskStorageMaps("BPF_ARRAY(counts, u64, 1);\n")
    assert maps.names == [] and maps.cflags == ["-g0"]
    maps.close()


def test_task_storage_declarations_are_found_at_line_starts_only():
    text = ("#define CT_TASK_STORAGE(_name, _leaf_type) BPF_TASK_STORAGE(_name, _leaf_type)\n"
            "CT_TASK_STORAGE(ct_saved_args, struct ct_saved_args);\n"
            "    CT_TASK_STORAGE(task_cache, struct sc_task);\n")
    assert bcc_compile.TASK_STORAGE.findall(text) == ["ct_saved_args", "task_cache"]


# -- LLVM's InstCombine: one pass (bcc_compile.one_instcombine_iteration) --

@pytest.mark.parametrize("library, version", [
    ("/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1", 14),     # Debian, Ubuntu
    ("/usr/lib64/libLLVM-17.so", 17),                       # Fedora's older name
    ("/usr/lib64/libLLVM.so.18.1", 18),                     # LLVM's own from 18
    ("/usr/lib/x86_64-linux-gnu/libbcc.so.0.26.0", None),   # LLVM inside libbcc
])
def test_the_shared_llvm_is_found_by_its_name_in_the_maps(library, version):
    maps = "7f0000000000-7f0000100000 r-xp 00000000 fe:01 4242 %s\n" % library
    found = bcc_compile.shared_llvm(maps)
    assert found == ((library, version) if version else None)


class FakeLLVM:
    def __init__(self):
        self.calls = []

    def LLVMParseCommandLineOptions(self, argc, argv, overview):
        self.calls.append([argv[i] for i in range(argc)])


@pytest.mark.parametrize("library, told", [
    ("libLLVM-14.so.1", True), ("libLLVM-17.so", True),
    ("libLLVM.so.18.1", False), ("libbcc.so.0", False)])
def test_llvm_before_18_is_told_one_instcombine_pass_once(tmp_path, monkeypatch, library, told):
    monkeypatch.setattr(bcc_compile, "_instcombine_told", False)
    maps = tmp_path / "maps"
    maps.write_text("7f0000000000-7f0000100000 r-xp 00000000 fe:01 4242 /usr/lib/%s\n" % library)
    llvm = FakeLLVM()
    assert bcc_compile.one_instcombine_iteration(str(maps), lambda path: llvm) is told
    assert bcc_compile.one_instcombine_iteration(str(maps), lambda path: llvm) is False
    assert llvm.calls == ([[b"ctrace", b"-instcombine-max-iterations=1"]] if told else [])


def test_unreadable_maps_leave_llvm_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setattr(bcc_compile, "_instcombine_told", False)
    llvm = FakeLLVM()
    assert bcc_compile.one_instcombine_iteration(str(tmp_path / "no-maps"), lambda path: llvm) is False
    assert llvm.calls == []


BCC_LLVM_CHECK = """
import ctypes, sys
sys.path.insert(0, sys.argv[1])
import bcc  # noqa: F401  (maps the LLVM that BCC runs)
from ctrace import bcc_compile
with open("/proc/self/maps") as maps:
    llvm = bcc_compile.shared_llvm(maps.read())
told = bcc_compile.one_instcombine_iteration()
print(llvm[1] if llvm else "inside", told, bcc_compile.one_instcombine_iteration(), flush=True)
if told:
    again = (ctypes.c_char_p * 2)(b"again", bcc_compile.INSTCOMBINE_ONE_PASS)
    ctypes.CDLL(llvm[0]).LLVMParseCommandLineOptions(2, again, None)
"""


@pytest.mark.integration
def test_the_llvm_bcc_runs_is_told_once(bpf_ok):
    """Given a second time (by the check, not by ctrace), BCC's own LLVM
    says the option was given already: it reached the compiler."""
    out = subprocess.run([sys.executable, "-c", BCC_LLVM_CHECK, ROOT],
                         capture_output=True, text=True, timeout=60)
    version, told, again = out.stdout.split()
    if version != "inside" and int(version) < bcc_compile.LLVM_ONE_INSTCOMBINE_PASS:
        assert (told, again) == ("True", "False")
        assert "instcombine-max-iterations option: may only occur zero or one times" in out.stderr
    else:
        assert told == "False"
