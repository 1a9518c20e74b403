"""BCC's compile, on a thread of its own, spared four costs that have
nothing to do with ctrace's programs.  Two need the thread's own mount
namespace:

- BCC 0.26 reads all of /proc/kallsyms at every compile (DoMiscWorkAround
  in its b_frontend_action.cc) to learn one thing: whether the kernel has
  the helper bpf_probe_read_kernel (if not, it renames the probe reads to
  bpf_probe_read).  Reading, sorting and hashing 120,000 symbols took 0.1
  to 0.3 s of every start on the machines measured.  Every kernel ctrace
  loads on has that helper (5.5; ctrace needs 5.11 for task storage), so
  here /proc/kallsyms is a file that names it.
- BCC compiles with debug information, for the BTF the kernel demands of
  one kind of map ctrace uses: task storage.  Generating and loading it
  took 0.1 s of a small tool's compile and 0.3 s of containerescape's.
  Here ctrace makes those maps itself, with a BTF of two types, and pins
  them where the C declares them (CT_TASK_STORAGE, bpf_c/ct_context.h):
  BCC opens them there and compiles without debug information (-g0).

The namespace is a private copy of the host's: the tool's other threads,
and the processes it traces, keep the host's, and the copy (its pins with
it) ends with the thread.  Where it cannot be made (no CAP_SYS_ADMIN, a
seccomp filter that forbids unshare or mount), BCC reads the real file and
makes the maps, as it does for any BCC tool.

- The third is BCC's own: clang optimizes the module at -O2, then BCC runs
  LLVM's -O3 pipeline over it again (BPFModule::run_pass_manager).  Here
  clang runs none of LLVM's passes (FRONTEND_OPT): BCC's pipeline
  optimizes the module once.  -O1 stays asked for the IR it makes: at -O0
  clang marks every function optnone and leaves out the lifetime markers,
  without which the inlined helpers' locals overflow the 512-byte BPF
  stack.  containerescape's compile went from 1.44 s (-O2) to 1.15 s
  (-O1) to 0.64 s here, against 0.85 s at -O1 in the same alternated
  runs; the others' by 0.01 to 0.07 s.  The programs are within 3% of
  the size, and no slower per event under bpf_stats.  The verifier saw
  the difference once: a mask the optimizer now dropped as redundant
  (esc_connect keeps it behind an empty asm).
- The fourth is LLVM's: before LLVM 18, each InstCombine in that
  pipeline goes over the whole function again until a pass changes
  nothing; LLVM 18 made one pass the default, for compile time.  Here
  LLVM is told so (one_instcombine_iteration): containerescape's compile
  0.317 to 0.297 s in alternated runs, its programs 4,945 to 4,942
  instructions; the smaller tools' programs the same size, their
  compiles within the noise."""

import ctypes
import os
import re

from ctrace import libc
from ctrace.btf import MapCreateOpts, libbpf
from ctrace.threads import Beside

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = (
    0x2, 0x4, 0x8, 0x1000, 0x4000, 0x40000)
MNT_DETACH = 2

# What BCC parses (bcc_proc.c): an address above the kernel's start, a text
# symbol.  The address is never used.
ANSWER = b"ffffffff81000000 T bpf_probe_read_kernel\n"
# Where the file is written in the thread's namespace, on a tmpfs mounted
# there for a moment (nothing is written on the host's filesystems).
SCRATCH = b"/run"
# Where the thread's own bpffs is mounted, over the host's (for this thread
# only), and the task-storage maps pinned: the C's CT_PINNED_MAPS.
PIN_DIR = "/sys/fs/bpf"
# The value size of every task-storage map ctrace makes (the C checks that
# its type fits: CT_TASK_STORAGE).
TASK_STORAGE_BYTES = 64
TASK_STORAGE = re.compile(r"^\s*CT_TASK_STORAGE\(\s*(\w+)\s*,", re.M)

FRONTEND_OPT = ["-O1", "-Xclang", "-disable-llvm-passes"]

# The LLVM BCC links, as the process maps it: libLLVM-14.so.1 (Debian),
# libLLVM.so.18.1, libLLVM-17.so.
LIBLLVM = re.compile(r"(/\S*/libLLVM(?:-(\d+)\.so|\.so\.(\d+))\S*)$", re.M)
# The first LLVM whose InstCombine makes one pass by default.
LLVM_ONE_INSTCOMBINE_PASS = 18
INSTCOMBINE_ONE_PASS = b"-instcombine-max-iterations=1"

BPF_MAP_TYPE_TASK_STORAGE = 29
BPF_F_NO_PREALLOC = 1
BTF_INT_SIGNED = 1


def _private_mounts():
    """Move this thread into a private copy of the mount namespace."""
    libc.check(libc.unshare(CLONE_NEWNS), "unshare")
    # Private first: under a shared / the mounts below would reach the host.
    libc.check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "private /")


def _short_kallsyms():
    """This thread's /proc/kallsyms: ANSWER."""
    libc.check(libc.mount(b"ctrace", SCRATCH, b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      b"size=4k,mode=0700"), "tmpfs")
    try:
        path = SCRATCH + b"/kallsyms"
        with open(path, "wb") as answer:
            answer.write(ANSWER)
        libc.check(libc.mount(path, b"/proc/kallsyms", None, MS_BIND, None), "bind")
    finally:
        # The bind keeps the file; /run shows the host's again.
        libc.umount2(SCRATCH, MNT_DETACH)


class TaskStorageMaps:
    """The task-storage maps TEXT declares (CT_TASK_STORAGE), made and
    pinned in this thread's own bpffs; close() once BCC has opened them."""

    def __init__(self, text):
        self.names = TASK_STORAGE.findall(text)
        self._fds = []
        self._btf = None
        if not self.names:
            return
        libc.check(libc.mount(b"bpf", PIN_DIR.encode(), b"bpf", 0, b"mode=0700"), "bpffs")
        lib = self._lib = libbpf()
        try:
            self._btf = btf = lib.btf__new_empty()
            if not btf or btf > 2**64 - 4096:
                raise OSError(0, "btf__new_empty failed")
            key = lib.btf__add_int(btf, b"int", 4, BTF_INT_SIGNED)
            byte = lib.btf__add_int(btf, b"unsigned char", 1, 0)
            value = lib.btf__add_array(btf, key, byte, TASK_STORAGE_BYTES)
            if min(key, byte, value) <= 0:
                raise OSError(0, "BTF types not added")
            libc.check(lib.btf__load_into_kernel(btf), "BTF load")
            opts = MapCreateOpts(sz=ctypes.sizeof(MapCreateOpts), btf_fd=lib.btf__fd(btf),
                                  btf_key_type_id=key, btf_value_type_id=value,
                                  map_flags=BPF_F_NO_PREALLOC)
            for name in self.names:
                fd = lib.bpf_map_create(BPF_MAP_TYPE_TASK_STORAGE, name[:15].encode(), 4,
                                        TASK_STORAGE_BYTES, 0, ctypes.byref(opts))
                if fd < 0:
                    raise OSError(-fd, "task storage %s: %s" % (name, os.strerror(-fd)))
                self._fds.append(fd)
                libc.check(lib.bpf_obj_pin(fd, ("%s/%s" % (PIN_DIR, name)).encode()), "pin")
        except BaseException:
            self.close()
            raise

    @property
    def cflags(self):
        """No debug information: no map left needs BTF."""
        return ["-g0"] + (['-DCT_PINNED_MAPS="%s"' % PIN_DIR] if self.names else [])

    def close(self):
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        if self._btf:
            self._lib.btf__free(self._btf)
            self._btf = None


def shared_llvm(maps):
    """(path, major version) of the shared LLVM library in MAPS (the text
    of /proc/PID/maps), or None: BCC built with LLVM inside it."""
    found = LIBLLVM.search(maps)
    if not found:
        return None
    return found.group(1), int(found.group(2) or found.group(3))


_instcombine_told = False


def one_instcombine_iteration(maps_path="/proc/self/maps", load=ctypes.CDLL):
    """Tell the LLVM that BCC runs (LLVM 17 or older, shared) to make one
    pass of each InstCombine, as LLVM 18 does by default; the first call
    of a process only (LLVM takes an option once; a second complains on
    stderr).  LLVM's C call ignores an option it does not know (its
    errors go to nulls()): a build without it compiles as before.  Returns
    whether it told LLVM now."""
    global _instcombine_told
    if _instcombine_told:
        return False
    _instcombine_told = True
    try:
        with open(maps_path) as maps:
            llvm = shared_llvm(maps.read())
    except OSError:
        return False                    # no /proc: BCC compiles as it would
    if llvm is None or llvm[1] >= LLVM_ONE_INSTCOMBINE_PASS:
        return False
    try:
        parse = load(llvm[0]).LLVMParseCommandLineOptions
    except (OSError, AttributeError):
        return False
    parse(2, (ctypes.c_char_p * 2)(b"ctrace", INSTCOMBINE_ONE_PASS), None)
    return True


def compile_beside(compile, text):
    """COMPILE(CFLAGS), BCC's compile and load of TEXT, started on a thread
    of its own in its own mount namespace where it can be made; a Beside:
    result() is what COMPILE returned.  CFLAGS: FRONTEND_OPT, and -g0 with
    CT_PINNED_MAPS where ctrace made the task-storage maps."""
    one_instcombine_iteration()

    def run():
        try:
            _private_mounts()
        except OSError:
            return compile(FRONTEND_OPT)    # BCC reads kallsyms, makes the maps
        try:
            _short_kallsyms()
        except OSError:
            pass
        try:
            maps = TaskStorageMaps(text)
        except OSError:
            return compile(FRONTEND_OPT)    # BCC makes them, with debug information
        try:
            return compile(FRONTEND_OPT + maps.cflags)
        finally:
            maps.close()
    return Beside(run, "ctrace-compile")
