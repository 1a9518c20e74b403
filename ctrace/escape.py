"""containerescape's rules in user space: the kernel sends candidates
(bpf_c/containerescape.bpf.c), Judge keeps the findings and says why."""

import ctypes
import os
import re

from ctrace import syscalls
from ctrace.bpf import header_constants
from ctrace.containers import ref_matches
from ctrace.output import escape, json_text

C = header_constants("containerescape.h", "ESC_")
TECHNIQUES = ["host-namespace", "mount", "sensitive-write", "kernel-module",
              "runtime-socket", "ptrace", "kernel-attack-surface", "privilege",
              "host-helper-exec"]
assert len(TECHNIQUES) == C.T_COUNT

# System calls the program dispatches on (ESC_NR_<NAME>).
SYSCALLS = ["open", "openat", "openat2", "creat", "setns", "connect", "ptrace",
            "process_vm_writev", "mount", "fsopen", "fsmount", "move_mount",
            "open_tree", "init_module", "finit_module", "delete_module", "bpf",
            "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
            "unshare", "clone", "clone3", "setuid", "setreuid", "setresuid"]
NS_FLAGS = {0x00020000: "mnt", 0x20000000: "pid", 0x40000000: "net", 0x04000000: "uts",
            0x08000000: "ipc", 0x02000000: "cgroup", 0x10000000: "user", 0x00000080: "time"}
PTRACE_REQUESTS = {4: "poketext", 5: "pokedata", 6: "pokeuser", 16: "attach", 0x4206: "seize"}
MS_BIND = 0x1000
MS_REMOUNT = 0x20
# mount: filesystems that reach the kernel or the host (the list).
MOUNT_TYPES = {"cgroup", "proc", "sysfs", "debugfs", "securityfs", "bpf", "tracefs",
               "configfs", "devtmpfs", "hugetlbfs", "fusectl", "efivarfs", "pstore",
               "binfmt_misc", "nsfs"}
# sensitive-write: files that lead out of a container.
SENSITIVE_PATHS = {
    "/proc/sys/kernel/core_pattern": "runs a program on the host at a crash",
    "/proc/sys/kernel/modprobe": "runs a program on the host for a module request",
    "/proc/sys/fs/binfmt_misc/register": "adds an interpreter the host runs",
    "/sys/kernel/uevent_helper": "runs a program on the host at a uevent",
    "/proc/sysrq-trigger": "sysrq: reboot, crash the host",
    "/dev/mem": "physical memory", "/dev/kmem": "kernel memory", "/dev/port": "I/O ports",
}
SENSITIVE_NAMES = {"release_agent": "cgroup v1 release agent (runs on the host)",
                   "notify_on_release": "cgroup v1 release notification"}
PROC_PID_FILE = re.compile(r"^/proc/(\d+|self|thread-self)/(?:task/\d+/)?(mem|exe)$")
# runtime-socket: API sockets of container runtimes.
RUNTIME_SOCKET = re.compile(r"(docker\.sock|dockershim\.sock|containerd\.sock|"
                            r"containerd-shim|/run/containerd/s/|crio\.sock|"
                            r"podman\.sock|podman/podman|cri-dockerd\.sock|"
                            r"kubelet\.sock|/var/run/docker/|frakti\.sock)")


def data_strings(ev):
    n = min(ev.data_len, C.DATA_MASK)
    raw = ctypes.string_at(ctypes.addressof(ev) + type(ev).data.offset, n) if n else b""
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return parts


def event_path(ev):
    """An open's path: resolved (names leaf first, from the kernel's walk)
    or as given (a failed open)."""
    parts = data_strings(ev)
    if ev.flags & C.F_RESOLVED:
        path = b"/" + b"/".join(reversed(parts))
        return path
    return parts[0] if parts else b""


class Judge:
    """The user-space half of each technique's rule: the kernel sends
    candidates, this keeps the findings and says why."""

    def __init__(self, registry, selection=()):
        self.registry = registry
        self.host_ns = registry.host_ns
        self.selection = selection      # -c's references

    def judge(self, ev, container):
        """(detail text, JSON extras) of a finding, or None to drop it."""
        t = ev.technique
        if t == C.T_SENSITIVE_WRITE:
            return self.sensitive_write(ev)
        if t == C.T_MOUNT:
            return self.mount(ev)
        if t == C.T_RUNTIME_SOCKET:
            parts = data_strings(ev)
            path = parts[0] if parts else b""
            shown = (b"@" + path[1:]) if path[:1] == b"\0" else path
            if not RUNTIME_SOCKET.search(shown.decode("utf-8", "replace")):
                return None
            how = " (the name its listener bound)" if ev.flags & C.F_PEER else ""
            return escape(shown) + how, {"socket": json_text(shown),
                                         "socket_bound_name": bool(ev.flags & C.F_PEER)}
        if t == C.T_PTRACE:
            return self.ptrace(ev)
        if t == C.T_HOST_NAMESPACE:
            kinds = [n for f, n in NS_FLAGS.items() if ev.arg0 & f]
            kind = next((ns for ns, inum in self.host_ns.items() if inum and inum == ev.arg1),
                        None) or (kinds[0] if len(kinds) == 1 else "mnt")
            return ("host %s namespace (%d)" % (kind, ev.arg1 or self.host_ns["mnt"]),
                    {"namespace": kind, "namespace_inum": ev.arg1 or self.host_ns["mnt"]})
        if t == C.T_KERNEL_MODULE:
            name = syscall_name(ev)
            if name == "delete_module":
                parts = data_strings(ev)
                mod = parts[0] if parts else b""
                return "module %s" % escape(mod), {"module": json_text(mod)}
            if name == "init_module":
                return "image of %d bytes" % ev.arg0, {"size": ev.arg0}
            return "module fd %d" % ev.arg0, {"fd": ev.arg0}
        if t == C.T_KERNEL_ATTACK_SURFACE:
            name = syscall_name(ev)
            extra = {"filtered": bool(ev.flags & C.F_FILTERED)}
            if name in ("unshare", "clone", "clone3"):
                detail = "new user namespace"
            elif name == "bpf":
                detail = "bpf command %d" % ev.arg0
                extra["command"] = ev.arg0
            else:
                detail = name
            if ev.flags & C.F_FILTERED and ev.ret == -1:
                detail += " (refused by its seccomp profile)"
            return detail, extra
        if t == C.T_PRIVILEGE and ev.nr != C.NR_EXEC:
            return ("effective uid 0, from uid %d at its exec" % ev.arg1,
                    {"former_uid": ev.arg1})
        if t == C.T_PRIVILEGE:
            parts = data_strings(ev)
            path = parts[0] if parts else b""
            return ("set-uid exec of %s: uid %d, euid 0" % (escape(path), ev.arg1),
                    {"path": json_text(path), "former_uid": ev.arg1})
        if t == C.T_HOST_HELPER_EXEC:
            return self.host_helper(ev)
        return None

    def sensitive_write(self, ev):
        path = event_path(ev)
        text = path.decode("utf-8", "surrogateescape")
        base = text.rsplit("/", 1)[-1]
        why = None
        if ev.flags & C.F_BLOCK_DEVICE:
            why = "block device"
        elif ev.flags & C.F_CHAR_MEM:
            why = "memory device"
        elif base in SENSITIVE_NAMES:
            why = SENSITIVE_NAMES[base]
        elif text in SENSITIVE_PATHS:
            why = SENSITIVE_PATHS[text]
        else:
            m = PROC_PID_FILE.match(text)
            if m and m.group(2) == "exe":
                why = "a process's executable (CVE-2019-5736)"
            elif m and m.group(1) not in ("self", "thread-self", str(ev.vpid)):
                why = "another process's memory"
            elif ev.flags & C.F_OUTSIDE_ROOT:
                why = "a file outside the container's filesystem"
        if why is None:
            return None
        resolved = bool(ev.flags & C.F_RESOLVED)
        shown = escape(path) + ("" if resolved else " (as given)")
        return "%s: %s" % (shown, why), {"path": json_text(path), "path_resolved": resolved,
                                         "open_flags": ev.arg0, "reason": why}

    def mount(self, ev):
        name = syscall_name(ev)
        parts = data_strings(ev) + [b"", b"", b""]
        if name == "mount":
            source, target, fstype = parts[0], parts[1], parts[2]
            ftext = fstype.decode("utf-8", "replace")
            if ev.arg0 & MS_BIND:
                kind = "bind"
            elif ev.arg0 & MS_REMOUNT:
                return None
            elif ftext in MOUNT_TYPES or ftext.startswith("cgroup"):
                kind = ftext
            elif source.startswith(b"/dev/") and ftext not in ("tmpfs", "devpts", "mqueue"):
                kind = "block device"
            else:
                return None
            detail = "%s %s on %s" % (kind, escape(source), escape(target))
            if kind != ftext and fstype:
                detail += " type %s" % escape(fstype)
            return detail, {"mount_source": json_text(source), "mount_target": json_text(target),
                            "mount_type": json_text(fstype), "mount_flags": ev.arg0}
        what = parts[0]
        detail = "%s %s" % (name, escape(what)) if what else name
        return detail, {"mount_arg": json_text(what)}

    def ptrace(self, ev):
        name = syscall_name(ev)
        pid = ev.arg1 & 0xffffffff
        if ev.flags & C.F_TARGET:
            if ev.target_mntns == ev.mntns:
                return None
            target = ev.target_mntns
        else:
            # The caller numbers PIDs in its own pid namespace: a container's
            # own one only holds the container.
            if ev.pidns != self.host_ns["pid"]:
                return None
            try:
                target = os.stat("/proc/%d/ns/mnt" % pid).st_ino
            except OSError:
                target = None
            if target == ev.mntns:
                return None
        req = PTRACE_REQUESTS.get(ev.arg0, str(ev.arg0)) if name == "ptrace" else "write"
        where = self.registry.resolve_key(0, target).label if target else "gone"
        return ("%s pid %d (in %s)" % (req, pid, escape(where)),
                {"request": req, "target_pid": pid, "target_mntns": target,
                 "target_container": where})

    def host_helper(self, ev):
        parts = data_strings(ev)
        path = parts[0] if parts else b""
        owner = None
        if ev.target_mntns and ev.target_mntns != self.host_ns["mnt"]:
            owner = self.registry.resolve_key(0, ev.target_mntns)
            if owner.kind == "host":
                owner = None
        if owner is None:
            owner = self.registry.owner_of_file(path.decode("utf-8", "surrogateescape"))
        if owner is None:
            return None
        if self.selection and not any(ref_matches(r, owner) for r in self.selection):
            return None
        return ("kernel helper ran %s" % escape(path),
                {"path": json_text(path), "owner": owner})


def syscall_name(ev):
    if ev.nr == C.NR_EXEC:
        return "execve"
    return syscalls.name(ev.nr) or str(ev.nr)
