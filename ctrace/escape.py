"""containerescape's rules.  The kernel decides and counts every finding
(bpf_c/containerescape.bpf.c) on the tables here, which load_rules() puts
into its maps at start; Judge says in words what the kernel decided."""

import ctypes
import glob
import os
import struct

from ctrace import syscalls
from ctrace.bpf import header_constants
from ctrace.cgroups import CGROUP2_ROOTS, cgroup_path
from ctrace.containers import CONTAINER_FIELDS, ref_matches
from ctrace.errors import UsageError
from ctrace.output import escape, json_text
from ctrace.summary import Column

C = header_constants("containerescape.h", "ESC_")
TECHNIQUES = ["host-namespace", "mount", "sensitive-write", "kernel-module",
              "runtime-socket", "ptrace", "kernel-attack-surface", "privilege",
              "host-helper-exec", "host-file", "file-handle"]
assert len(TECHNIQUES) == C.T_COUNT

# --kill: the techniques the kernel judges alone.  host-helper-exec is
# judged in user space, and its process is the kernel's helper on the host.
KILLABLE = [t for t in TECHNIQUES if t != "host-helper-exec"]

# System calls the program dispatches on (ESC_NR_<NAME>).
SYSCALLS = ["open", "openat", "openat2", "creat", "setns", "connect", "ptrace",
            "process_vm_writev", "mount", "fsopen", "fsmount", "move_mount",
            "open_tree", "init_module", "finit_module", "delete_module", "bpf",
            "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
            "unshare", "clone", "clone3", "setuid", "setreuid", "setresuid",
            "open_by_handle_at", "name_to_handle_at", "io_uring_setup"]
NS_FLAGS = {0x00020000: "mnt", 0x20000000: "pid", 0x40000000: "net", 0x04000000: "uts",
            0x08000000: "ipc", 0x02000000: "cgroup", 0x10000000: "user", 0x00000080: "time"}
PTRACE_REQUESTS = {4: "poketext", 5: "pokedata", 6: "pokeuser", 16: "attach", 0x4206: "seize"}

# Filesystems by superblock magic (linux/magic.h), for rules and for output.
FS_MAGIC = {"proc": 0x9fa0, "sysfs": 0x62656572, "cgroup": 0x27e0eb, "cgroup2": 0x63677270,
            "binfmt_misc": 0x42494e4d, "ext4": 0xef53, "xfs": 0x58465342,
            "btrfs": 0x9123683e, "tmpfs": 0x01021994, "overlay": 0x794c7630,
            "debugfs": 0x64626720, "tracefs": 0x74726163, "securityfs": 0x73636673,
            "bpf": 0xcafe4a11, "nsfs": 0x6e736673, "devpts": 0x1cd1, "mqueue": 0x19800202,
            "fuse": 0x65735546, "nfs": 0x6969, "squashfs": 0x73717368,
            "configfs": 0x62656570, "efivarfs": 0xde5e81e4, "pstore": 0x6165676c,
            "hugetlbfs": 0x958458f6, "zfs": 0x2fc12fc1, "vfat": 0x4d44, "ramfs": 0x858458f6}
FS_NAME = {magic: name for name, magic in FS_MAGIC.items()}

# sensitive-write: kernel objects that lead out of a container, wherever
# their filesystem is mounted: (filesystem, path within it, or */NAME for
# NAME at any depth, why).  A failed open is judged on its last name as
# given (OPEN_NAMES: these objects' names, and the memory devices').
CORE_PATTERN = "runs a program on the host at a crash"
UEVENT = "runs a program on the host at a uevent"
OBJECT_RULES = [
    ("proc", "sys/kernel/core_pattern", CORE_PATTERN),
    ("proc", "sys/kernel/modprobe", "runs a program on the host for a module request"),
    ("proc", "sys/kernel/hotplug", UEVENT),
    ("proc", "sysrq-trigger", "sysrq: reboot, crash the host"),
    ("proc", "*/mem", "another process's memory"),
    ("binfmt_misc", "register", "adds an interpreter the host runs"),
    ("binfmt_misc", "status", "turns the host's interpreters off or on"),
    ("sysfs", "kernel/uevent_helper", UEVENT),
    ("cgroup", "release_agent", "cgroup v1 release agent (runs on the host)"),
    ("cgroup", "*/notify_on_release", "cgroup v1 release notification"),
]
OPEN_NAMES = {"core_pattern": CORE_PATTERN, "modprobe": OBJECT_RULES[1][2], "hotplug": UEVENT,
              "sysrq-trigger": OBJECT_RULES[3][2], "register": OBJECT_RULES[5][2],
              "uevent_helper": UEVENT, "release_agent": OBJECT_RULES[8][2],
              "notify_on_release": OBJECT_RULES[9][2], "mem": "physical or process memory",
              "kmem": "kernel memory", "port": "I/O ports"}
REASONS = {C.R_BLOCK_DEVICE: "block device", C.R_MEM_DEVICE: "memory device",
           C.R_OUTSIDE: "a file outside the container's filesystem"}

# host-file: the host's files whose writing gets code run on the host or
# its accounts changed, by host path (globs expanded at start); nearest
# rule wins, so a data volume's directory under a runtime's state is silent.
PROGRAMS = "the host's programs"
RUNTIME_STATE = "a container runtime's state"
HOST_FILES = [
    ("/etc/passwd", "accounts"), ("/etc/shadow", "accounts"), ("/etc/group", "accounts"),
    ("/etc/gshadow", "accounts"), ("/etc/sudoers", "sudo rules"),
    ("/etc/sudoers.d", "sudo rules"), ("/etc/crontab", "cron"), ("/etc/cron.d", "cron"),
    ("/etc/cron.hourly", "cron"), ("/etc/cron.daily", "cron"), ("/etc/cron.weekly", "cron"),
    ("/etc/cron.monthly", "cron"), ("/etc/cron*", "cron"), ("/var/spool/cron", "cron"),
    ("/etc/ld.so.preload", "the dynamic loader"), ("/etc/ld.so.conf", "the dynamic loader"),
    ("/etc/ld.so.conf.d", "the dynamic loader"), ("/etc/systemd", "systemd"),
    ("/lib/systemd", "systemd"), ("/usr/lib/systemd", "systemd"),
    ("/etc/profile", "shell start-up"), ("/etc/profile.d", "shell start-up"),
    ("/etc/bash.bashrc", "shell start-up"), ("/etc/environment", "shell start-up"),
    ("/etc/pam.d", "authentication"), ("/etc/ssh", "ssh"), ("/etc/init.d", "start-up scripts"),
    ("/etc/rc.local", "start-up scripts"), ("/root", "root's home"),
    ("/home/*/.ssh", "ssh keys"), ("/home/*/.bashrc", "shell start-up"),
    ("/home/*/.profile", "shell start-up"), ("/boot", "the kernel's boot files"),
    ("/lib/modules", "kernel modules"), ("/usr/lib/modules", "kernel modules"),
    ("/var/lib/docker", RUNTIME_STATE), ("/var/lib/containerd", RUNTIME_STATE),
    ("/var/lib/containers", RUNTIME_STATE), ("/var/lib/kubelet", RUNTIME_STATE),
    ("/run/containerd", RUNTIME_STATE), ("/run/docker", RUNTIME_STATE),
    ("/etc/docker", RUNTIME_STATE), ("/etc/containerd", RUNTIME_STATE),
    ("/etc/kubernetes", RUNTIME_STATE), ("/usr/bin", PROGRAMS), ("/usr/sbin", PROGRAMS),
    ("/bin", PROGRAMS), ("/sbin", PROGRAMS), ("/usr/local/bin", PROGRAMS),
    ("/usr/local/sbin", PROGRAMS), ("/usr/lib", "the host's libraries"),
    ("/lib", "the host's libraries"), ("/lib64", "the host's libraries"),
]
# Silent: data volumes kept under a runtime's state.
HOST_SILENT = ["/var/lib/docker/volumes", "/var/lib/containers/storage/volumes",
               "/var/lib/kubelet/pods"]
# The runtimes' per-container files (hostname, hosts, resolv.conf): silent
# where the runtime bind-mounted the file alone into its container.
HOST_RUNTIME = ["/var/lib/docker/containers", "/var/lib/containers/storage/overlay-containers",
                "/run/containers/storage/overlay-containers"]

# runtime-socket: a unix socket's last name, or the first 15 bytes of its
# name (an abstract one's leading NUL as @), where runtimes keep theirs.
SOCKET_NAMES = ["docker.sock", "dockershim.sock", "containerd.sock", "crio.sock",
                "podman.sock", "cri-dockerd.sock", "kubelet.sock", "frakti.sock"]
SOCKET_PREFIXES = ["/run/containerd/", "/var/run/docker/", "/run/docker/con",
                   "@/containerd-shim"]
# mount: filesystems that reach the kernel or the host.
MOUNT_TYPES = ["cgroup", "cgroup2", "proc", "sysfs", "debugfs", "securityfs", "bpf",
               "tracefs", "configfs", "devtmpfs", "hugetlbfs", "fusectl", "efivarfs",
               "pstore", "binfmt_misc", "nsfs"]
MOUNT_SILENT = ["tmpfs", "devpts", "mqueue"]
MOUNT_KINDS = {C.RULE_BIND: "bind", C.RULE_DEVICE: "block device"}


def name_key(text):
    """A name as the kernel compares it: its first 15 bytes and a NUL, as
    two little-endian u64."""
    raw = text.encode() if isinstance(text, str) else text
    return struct.unpack("<QQ", raw[:C.NAME_KEY - 1].ljust(C.NAME_KEY, b"\0"))


def kernel_dev(st_dev):
    """A stat() device as the kernel's super_block.s_dev encodes it."""
    return (os.major(st_dev) << 20) | os.minor(st_dev)


def host_rules():
    """[(host path, why, ESC_HOST_* kind)] with globs expanded on the host."""
    rules = []
    for kind, entries in ((C.HOST_SENSITIVE, HOST_FILES),
                          (C.HOST_SILENT, [(p, "") for p in HOST_SILENT]),
                          (C.HOST_RUNTIME, [(p, RUNTIME_STATE) for p in HOST_RUNTIME])):
        for path, why in entries:
            paths = [path]
            if "*" in path:
                root = host_root()
                paths = sorted(p[len(root):] for p in glob.glob(root + path))
            rules += [(p, why, kind) for p in paths]
    return rules


def host_root():
    """Where the host's files are seen: / unless the tool runs in a mount
    namespace of its own (a container: kthreadd's root is the host's)."""
    try:
        if os.stat("/proc/self/ns/mnt").st_ino != os.stat("/proc/2/ns/mnt").st_ino:
            return "/proc/2/root"
    except OSError:
        pass
    return ""


def host_keys(rules):
    """(esc_host_key fields, value) of each rule whose parent exists: the
    name in its parent directory, and the whole filesystem of a rule that
    is a mount point of its own."""
    root = host_root()
    for i, (path, why, kind) in enumerate(rules):
        parent, name = os.path.split(path)
        try:
            pst = os.stat(root + parent)
        except OSError:
            continue
        value = (i + 1) | (kind << 16)
        yield (kernel_dev(pst.st_dev), len(name.encode()), pst.st_ino, name_key(name)), value
        try:
            st = os.stat(root + path)
        except OSError:
            continue
        if st.st_dev != pst.st_dev:
            yield (kernel_dev(st.st_dev), 0, 0, (0, 0)), value


def load_rules(bpf):
    """Fill the kernel's rule maps; returns the host rules (for output)."""
    objects = bpf["esc_object_rules"]
    for i, (fs, path, _why) in enumerate(OBJECT_RULES):
        key = objects.Key()
        key.magic = FS_MAGIC[fs]
        names = path.split("/")[::-1]
        key.depth = 0 if names[-1] == "*" else len(names)
        for level, name in enumerate(names[:3]):
            if name != "*":       # BCC flattens names[3][2]
                key.names[2 * level], key.names[2 * level + 1] = name_key(name)
        flags = C.RULE_OTHER_PROCESS if path.endswith("/mem") else 0
        objects[key] = ctypes.c_uint((i + 1) | flags)
    names = bpf["esc_names"]
    tables = [(C.N_OPEN_LEAF, list(OPEN_NAMES)), (C.N_SOCKET_LEAF, SOCKET_NAMES),
              (C.N_SOCKET_PREFIX, SOCKET_PREFIXES), (C.N_MOUNT_TYPE, MOUNT_TYPES)]
    silent = [(C.N_MOUNT_TYPE, name, C.RULE_SILENT) for name in MOUNT_SILENT]
    entries = [(kind, name, i + 1) for kind, table in tables for i, name in enumerate(table)]
    for kind, name, value in entries + silent:
        key = names.Key()
        key.kind = kind
        key.name[0], key.name[1] = name_key(name)
        names[key] = ctypes.c_uint(value)
    rules = host_rules()
    files = bpf["esc_host_files"]
    for (dev, name_len, dir_ino, name), value in host_keys(rules):
        key = files.Key()
        key.dev, key.name_len, key.dir_ino = dev, name_len, dir_ino
        key.name[0], key.name[1] = name
        files[key] = ctypes.c_uint(value)
    return rules


def data_strings(ev, at=0, length=None):
    """The NUL-separated strings of ev.data[AT:AT+LENGTH] (data_len)."""
    n = min(ev.data_len if length is None else length, C.DATA_MASK)
    raw = ctypes.string_at(ctypes.addressof(ev) + type(ev).data.offset + at, n) if n else b""
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return parts


def event_path(ev):
    """An open's path: resolved (names leaf first, from the kernel's walk)
    or as given (a failed open)."""
    parts = data_strings(ev)
    if ev.flags & C.F_RESOLVED:
        return b"/" + b"/".join(reversed(parts))
    return parts[0] if parts else b""


def fs_names(ev):
    """The file's names within its filesystem, leaf first."""
    return data_strings(ev, C.FS_PATH_AT, ev.fs_path_len)


def object_fields(ev):
    """What the file is (ESC_F_OBJECT): JSON fields."""
    if not ev.flags & C.F_OBJECT:
        return {}
    return {"fs_type": FS_NAME.get(ev.fs_magic, "0x%x" % ev.fs_magic),
            "fs_path": json_text(b"/" + b"/".join(reversed(fs_names(ev)))),
            "device": "%d:%d" % (ev.dev >> 20, ev.dev & 0xfffff), "inode": ev.ino}


class Judge:
    """Says in words what the kernel decided: (detail text, JSON extras)
    of a finding.  Only host-helper-exec is decided here."""

    def __init__(self, registry, selection=(), rules=()):
        self.registry = registry
        self.host_ns = registry.host_ns
        self.selection = selection      # -c's references
        self.host_rules = list(rules)   # load_rules()'s
        self.describe = {C.T_SENSITIVE_WRITE: self.sensitive_write, C.T_MOUNT: self.mount,
                         C.T_RUNTIME_SOCKET: self.runtime_socket, C.T_PTRACE: self.ptrace,
                         C.T_HOST_NAMESPACE: self.host_namespace,
                         C.T_KERNEL_MODULE: self.kernel_module,
                         C.T_KERNEL_ATTACK_SURFACE: self.attack_surface,
                         C.T_PRIVILEGE: self.privilege, C.T_HOST_HELPER_EXEC: self.host_helper,
                         C.T_HOST_FILE: self.host_file, C.T_FILE_HANDLE: self.file_handle}

    def judge(self, ev):
        """(detail, extras), or None (host-helper-exec of no container's file):
        the technique's entry in the table above says it."""
        return self.describe[ev.technique](ev)

    def sensitive_write(self, ev):
        path = event_path(ev)
        if ev.reason == C.R_OBJECT:
            why = OBJECT_RULES[ev.rule - 1][2]
        elif ev.reason == C.R_NAME:
            why = list(OPEN_NAMES.values())[ev.rule - 1]
        else:
            why = REASONS.get(ev.reason, "sensitive file")
        resolved = bool(ev.flags & C.F_RESOLVED)
        shown = escape(path) + ("" if resolved else " (as given)")
        extra = {"path": json_text(path), "path_resolved": resolved, "open_flags": ev.arg0,
                 "reason": why}
        extra.update(object_fields(ev))
        return "%s: %s" % (shown, why), extra

    def host_file(self, ev):
        path = event_path(ev)
        rule_path, why, _kind = self.host_rules[ev.rule - 1]
        below = list(reversed(fs_names(ev)[:ev.rule_level]))
        host = b"/".join([rule_path.encode()] + below)
        extra = {"path": json_text(path), "path_resolved": bool(ev.flags & C.F_RESOLVED),
                 "open_flags": ev.arg0, "reason": why, "host_path": json_text(host)}
        extra.update(object_fields(ev))
        return "%s: host %s (%s)" % (escape(path), escape(host), why), extra

    def file_handle(self, ev):
        if syscall_name(ev) == "name_to_handle_at":
            parts = data_strings(ev)
            path = parts[0] if parts else b""
            return "handle of %s" % escape(path), {"path": json_text(path)}
        extra = {"handle_type": ev.arg1, "open_flags": ev.arg0,
                 "outside_mount": bool(ev.flags & (C.F_OUTSIDE_MOUNT | C.F_OUTSIDE_ROOT))}
        extra.update(object_fields(ev))
        if "fs_type" not in extra:
            return "handle type %d" % ev.arg1, extra
        where = " (outside every mount it has)" if extra["outside_mount"] else ""
        return ("%s %s of device %s%s" % (extra["fs_type"], escape(extra["fs_path"]),
                                          extra["device"], where), extra)

    def runtime_socket(self, ev):
        parts = data_strings(ev)
        path = parts[0] if parts else b""
        shown = (b"@" + path[1:]) if path[:1] == b"\0" else path
        how = " (the name its listener bound)" if ev.flags & C.F_PEER else ""
        return escape(shown) + how, {"socket": json_text(shown),
                                     "socket_bound_name": bool(ev.flags & C.F_PEER)}

    def host_namespace(self, ev):
        kinds = [n for f, n in NS_FLAGS.items() if ev.arg0 & f]
        kind = next((ns for ns, inum in self.host_ns.items() if inum and inum == ev.arg1),
                    None) or (kinds[0] if len(kinds) == 1 else "mnt")
        inum = ev.arg1 or self.host_ns["mnt"]
        return "host %s namespace (%d)" % (kind, inum), {"namespace": kind,
                                                         "namespace_inum": inum}

    def kernel_module(self, ev):
        name = syscall_name(ev)
        if name == "delete_module":
            parts = data_strings(ev)
            mod = parts[0] if parts else b""
            return "module %s" % escape(mod), {"module": json_text(mod)}
        if name == "init_module":
            return "image of %d bytes" % ev.arg0, {"size": ev.arg0}
        return "module fd %d" % ev.arg0, {"fd": ev.arg0}

    def attack_surface(self, ev):
        name = syscall_name(ev)
        extra = {"filtered": bool(ev.flags & C.F_FILTERED)}
        if name in ("unshare", "clone", "clone3"):
            detail = "new user namespace"
        elif name == "io_uring_setup":
            detail = "io_uring ring of %d entries" % ev.arg0
            extra["entries"] = ev.arg0
        elif name == "bpf":
            detail = "bpf command %d" % ev.arg0
            extra["command"] = ev.arg0
        else:
            detail = name
        if ev.flags & C.F_FILTERED and ev.ret == -1:
            detail += " (refused by its seccomp profile)"
        return detail, extra

    def privilege(self, ev):
        if ev.nr != C.NR_EXEC:
            return ("effective uid 0, from uid %d at its exec" % ev.arg1,
                    {"former_uid": ev.arg1})
        parts = data_strings(ev)
        path = parts[0] if parts else b""
        return ("set-uid exec of %s: uid %d, euid 0" % (escape(path), ev.arg1),
                {"path": json_text(path), "former_uid": ev.arg1})

    def mount(self, ev):
        name = syscall_name(ev)
        parts = data_strings(ev) + [b"", b"", b""]
        if name != "mount":
            what = parts[0]
            detail = "%s %s" % (name, escape(what)) if what else name
            return detail, {"mount_arg": json_text(what)}
        source, target, fstype = parts[0], parts[1], parts[2]
        kind = MOUNT_KINDS.get(ev.rule) or fstype.decode("utf-8", "replace")
        detail = "%s %s on %s" % (escape(kind), escape(source), escape(target))
        if kind != fstype.decode("utf-8", "replace") and fstype:
            detail += " type %s" % escape(fstype)
        return detail, {"mount_source": json_text(source), "mount_target": json_text(target),
                        "mount_type": json_text(fstype), "mount_flags": ev.arg0}

    def ptrace(self, ev):
        name = syscall_name(ev)
        pid = ev.arg1 & 0xffffffff
        if ev.flags & C.F_TARGET:
            target = ev.target_mntns
        else:
            try:
                target = os.stat("/proc/%d/ns/mnt" % pid).st_ino
            except OSError:
                target = None
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


def kill_techniques(text):
    """--kill TECHNIQUE[,TECHNIQUE...] or all -> the techniques named."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return list(KILLABLE)
    for name in names:
        if name == "host-helper-exec":
            raise UsageError("--kill: host-helper-exec cannot be killed (the kernel's helper "
                             "runs on the host); kill the write that set it up: "
                             "--kill sensitive-write")
        if name not in TECHNIQUES:
            raise UsageError("--kill: unknown technique %r (one of: all, %s)"
                             % (name, ", ".join(KILLABLE)))
    if not names:
        raise UsageError("--kill: name techniques, or all")
    return names


class KernelExclusions:
    """--exclude in the kernel, so that --kill never kills an excluded
    container: the cgroup ids (never reused) of the running containers that
    match, taken at start and, by refresh(), every second after."""

    def __init__(self, bpf, registry, refs):
        self.cgroups = bpf["esc_exclude_cgroup"]
        self.registry = registry
        self.refs = refs
        self.others = set()         # (runtime, id) of containers not excluded
        self.added = set()

    def refresh(self):
        for pid, runtime, cid in self.registry.scan_processes():
            if (runtime, cid) in self.others:
                continue
            container = self.registry.runtime_container(runtime, cid)
            if not any(ref_matches(ref, container) for ref in self.refs):
                if container.final:
                    self.others.add((runtime, cid))
                continue
            path = cgroup_path(pid)     # a restart's cgroup is a new one
            for root in CGROUP2_ROOTS if path else ():
                try:
                    cgid = os.stat(root + path).st_ino
                except OSError:
                    continue
                if cgid not in self.added:
                    self.cgroups[ctypes.c_ulonglong(cgid)] = ctypes.c_ubyte(1)
                    self.added.add(cgid)
                break


class Tally:
    """The summary at exit, per container and technique, from the kernel's
    counts (esc_counts): a finding that could not be printed is still
    counted under its container.  host-helper-exec, judged in user space,
    is counted here."""

    COLUMNS = [Column("CONTAINER", 16, left=True), Column("TECHNIQUE", 21, left=True),
               Column("ATTEMPTS", 8), Column("SUCCESSES", 9), Column("REPEATS", 7),
               Column("LOST", 5), Column("KILLED", 6)]
    KEYS = ["container", "technique", "attempts", "successes", "repeats", "lost",
            "killed", "printed", *CONTAINER_FIELDS[1:]]

    def __init__(self, is_excluded):
        self.is_excluded = is_excluded
        self.helper_rows = {}
        self.excluded = 0           # findings of --exclude'd containers

    def add_helper(self, container, success):
        row = self.helper_rows.setdefault(container.label, [container, 0, 0])
        row[1] += 1
        row[2] += int(success)

    def rows(self, kernel_rows):
        """The summary's rows (KEYS' order), by container and technique, of
        KERNEL_ROWS ((container, technique, counts) of esc_counts) and the
        host-helper-execs; an --exclude'd container's attempts are counted
        in self.excluded instead."""
        out = []
        for container, technique, c in kernel_rows:
            if self.is_excluded(container):
                self.excluded += c.attempts
                continue
            out.append((container, technique, c.attempts, c.successes, c.repeats, c.lost,
                        c.killed, c.sent))
        for container, attempts, successes in self.helper_rows.values():
            out.append((container, "host-helper-exec", attempts, successes, 0, 0, 0, attempts))
        rows = []
        for row in sorted(out, key=lambda r: (r[0].label, r[1])):
            f = row[0].fields()
            rows.append([row[0].label, *row[1:], *[f[key] for key in CONTAINER_FIELDS[1:]]])
        return rows


# io_uring opcodes (include/uapi/linux/io_uring.h) the kernel judges.
URING_OPS = {16: "CONNECT", 18: "OPENAT", 28: "OPENAT2"}


def syscall_name(ev):
    """The call of a finding (or repeats key): a system call's name,
    execve, or io_uring:OPCODE for an operation done through a ring."""
    if ev.nr == C.NR_EXEC:
        return "execve"
    if ev.nr & C.NR_URING:
        op = ev.nr & ~C.NR_URING
        return "io_uring:" + URING_OPS.get(op, str(op))
    return syscalls.name(ev.nr) or str(ev.nr)
