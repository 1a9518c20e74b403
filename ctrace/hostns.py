"""The host's namespaces: what a task is told apart from containers by."""

import os

from ctrace.bpf import header_constants

NAMESPACES = ("mnt", "pid", "net", "uts", "ipc", "cgroup", "user", "time")
CT = header_constants("ctrace.h", "CT_")


def host_namespaces(warn=None):
    """Inode numbers of the host's namespaces: the kernel's initial ones,
    which kernel threads keep (kthreadd is PID 2 when this tool sees the
    host's PIDs), so that a tool in a private mount namespace (a systemd
    unit with PrivateTmp=, unshare -m, a container with --pid=host) still
    tells the host from containers.  Else this tool's own, with a warning."""
    try:
        with open("/proc/2/stat") as f:
            # flags, the 9th field after "(comm)": a kernel thread's, which
            # no process can fake (its comm, anyone can).
            flags = int(f.read().rsplit(")", 1)[1].split()[6])
        if flags & CT.PF_KTHREAD:
            return namespace_inums("/proc/2")
    except (OSError, ValueError, IndexError):
        pass
    if warn is not None:
        warn("ctrace: cannot read the kernel's initial namespaces (/proc/2/ns): "
             "taking this tool's own as the host's")
    return namespace_inums("/proc/self")


def namespace_inums(proc):
    """Namespace kind -> inode number of process PROC's (0: a kind this
    kernel lacks)."""
    out = {}
    for ns in NAMESPACES:
        try:
            out[ns] = os.stat("%s/ns/%s" % (proc, ns)).st_ino
        except FileNotFoundError:
            out[ns] = 0
    return out


def host_pid_level(host_ns):
    """Nesting level of the host's pid namespace (0: the initial one)."""
    try:
        if os.stat("/proc/self/ns/pid").st_ino != host_ns["pid"]:
            return 0        # the host's is the initial one (read from PID 2)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return len(line.split()) - 2
    except OSError:
        pass
    return 0
