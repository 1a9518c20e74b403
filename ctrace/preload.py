"""Start-up work done in C, begun when the package is imported (issue 20:
bench/results.md, Start-up).

Two steps of every tool's start are C calls that hold no GIL: the dlopen of
BCC's library (about 0.09 s here, relocating LLVM and clang) and the parse
of the kernel's BTF (about 0.05 s).  ctypes releases the GIL around a C
call, so on a thread of their own they run on the second core while the
main thread imports the tool's modules and parses its arguments.  `import
bcc` then finds its library mapped, and Program.text() takes the parsed
BTF (kernel_btf()).  Only root starts it: no one else can load a program."""

import atexit
import importlib
import os
import sys

from ctrace import btfcache, libc
from ctrace.btf import KernelBTF, libbpf
from ctrace.errors import SetupError
from ctrace.threads import Beside

# The name bcc/libbcc.py opens, with ctypes.CDLL's flags (RTLD_NOW |
# RTLD_LOCAL): the same flags give BCC the same handle.
LIBBCC = b"libbcc.so.0"
RTLD_NOW = 2
# The C extension modules the tools import (shutil's, hashlib's, json's,
# queue's, ctrace.ringbuf's): see start(); tests/test_startup.py checks the
# list against what the tools load.
EXTENSION_MODULES = ("_bz2", "_hashlib", "_json", "_lzma", "_queue", "mmap")

_preload = None


def _load():
    """libbcc mapped, then the kernel's BTF parsed (returned): one thread,
    so that the main thread's imports compete with one more, not two.  Not
    parsed (None) when a start of this tool in this boot has kept the
    offsets it reads (ctrace.btfcache; a tool's program is
    bpf_c/<tool>.bpf.c)."""
    libc.dlopen(LIBBCC, RTLD_NOW)       # absent: import_bcc() says so later
    if btfcache.kept_for(os.path.basename(sys.argv[0]) + ".bpf.c"):
        return None
    return KernelBTF()


def start():
    global _preload
    if _preload is not None or os.geteuid() != 0:
        return
    # Loaded first, by this thread: a dlopen waits for any other to end
    # (glibc's loader lock), and libbcc's takes 0.09 s.  So libbpf (the BTF
    # parse's) and the tools' extension modules go before it.
    try:
        libbpf()
    except SetupError:
        return                          # said when a tool parses the BTF
    for name in EXTENSION_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass                        # a Python built without it
    _preload = Beside(_load, "ctrace-preload")
    atexit.register(_finish_before_exit)


def _finish_before_exit():
    """Python's exit waits for the preload: exit(3) while its thread is
    inside the dlopen would run LLVM's static destructors beside its
    constructors.  A tool that ends at import (a SetupError, its one line)
    died so, by SIGSEGV, once in CI."""
    if _preload is not None:
        _preload.join()


def _take_preloaded():
    """The preload's parse (KernelBTF, or None if it made none), taken
    once: None from then on.  Raises the preload's SetupError."""
    global _preload
    preload, _preload = _preload, None
    return preload.result() if preload is not None else None


def kernel_btf():
    """The kernel's BTF (KernelBTF), the preload's the first time, else
    parsed now; the caller closes it.  A missing BTF raises SetupError."""
    parsed = _take_preloaded()
    return parsed if parsed is not None else KernelBTF()


def drop_btf():
    """The preload's BTF is not wanted (the offsets were kept): freed, if
    it was parsed."""
    try:
        parsed = _take_preloaded()
    except SetupError:
        return
    if parsed is not None:
        parsed.close()
