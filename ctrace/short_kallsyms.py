"""BCC's compile on a thread that sees a one-line /proc/kallsyms.

BCC 0.26 reads all of /proc/kallsyms at every compile (DoMiscWorkAround in
its b_frontend_action.cc) to learn one thing: whether the kernel has the
helper bpf_probe_read_kernel (if not, it renames the probe reads to
bpf_probe_read).  Reading, sorting and hashing 120,000 symbols takes 0.1 to
0.3 s of every start on the machines measured, a third of a tool's compile.

Every kernel ctrace loads on has that helper (5.5; ctrace needs 5.11 for
task storage), so the compile runs on a thread with a mount namespace of its
own: a private copy of the host's, in which /proc/kallsyms is a file that
names that helper.  The tool's other threads, and the processes it traces,
keep the host's namespace; the copy ends with the thread.  Where the copy
cannot be made (no CAP_SYS_ADMIN, a seccomp filter that forbids unshare or
mount), BCC reads the real file, as before."""

import ctypes
import os

from ctrace import libc
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


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, "%s: %s" % (what, os.strerror(errno)))


def _show_short_kallsyms():
    """Move this thread into a private copy of the mount namespace whose
    /proc/kallsyms is ANSWER."""
    _check(libc.unshare(CLONE_NEWNS), "unshare")
    # Private first: under a shared / the mounts below would reach the host.
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "private /")
    _check(libc.mount(b"ctrace", SCRATCH, b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      b"size=4k,mode=0700"), "tmpfs")
    try:
        path = SCRATCH + b"/kallsyms"
        with open(path, "wb") as answer:
            answer.write(ANSWER)
        _check(libc.mount(path, b"/proc/kallsyms", None, MS_BIND, None), "bind")
    finally:
        # The bind keeps the file; /run shows the host's again.
        libc.umount2(SCRATCH, MNT_DETACH)


def compile_beside(function):
    """FUNCTION() (BCC's compile and load) started on a thread of its own
    that sees the short /proc/kallsyms when it can; a Beside: result()."""
    def run():
        try:
            _show_short_kallsyms()
        except OSError:
            pass                    # BCC reads the host's /proc/kallsyms
        return function()
    return Beside(run, "ctrace-compile")
