"""Seccomp profiles: the files (Docker/OCI format: new, merged, checked,
written safely), and for containersyscall --seccomp what goes into one
besides the calls the kernel counted, and how it compares with Docker's
default profile.

What the kernel counts in record mode (bpf_c/containersyscall.bpf.c,
recorded()) is what the container's seccomp filter sees: the calls of tasks
the filter governs (task_struct.seccomp.mode is SECCOMP_MODE_FILTER), or,
when the container runs without a filter, the workload's calls from its
entrypoint's exec on.  Added here:

- RUNTIME_AFTER_FILTER, the calls the runtime makes after installing the
  filter and before the entrypoint's exec.  The kernel sees them when the
  recording ran under a filter; without one (seccomp=unconfined, a
  privileged container) it cannot, and a profile without them would stop
  the container before its first instruction.  Always added.
- ALWAYS: execve, exit and exit_group.
- Docker's own conditions where Docker's default restricts a call by its
  arguments (clone without namespace flags, the personality values Docker
  allows, socket but AF_VSOCK) and clone3's ENOSYS (so that the C library
  falls back to clone): a recorded profile never allows these more widely
  than Docker's default does.
"""

import copy
import json
import sys
import time

from ctrace import outfile, syscalls
from ctrace.errors import SetupError
from ctrace.output import escape

# What Docker's own default profile lists for each machine: the native ABI and
# the compatibility ABIs a task of that machine may use.
SECCOMP_ARCHES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}

ALLOW = "SCMP_ACT_ALLOW"
DEFAULT_ACTION = "SCMP_ACT_ERRNO"


# runc 1.1 (libcontainer/standard_init_linux.go, setns_init_linux.go,
# init_linux.go): with no_new_privs off (Docker's and Kubernetes' default)
# the filter is installed before finalizeNamespace(), so these follow it:
# closing the inherited fds (close_range, or /proc/self/fd, checked to be
# procfs with fstatfs, read with openat/getdents64/fcntl/close),
# capabilities (capget, capset, prctl PR_CAPBSET_DROP/PR_SET_KEEPCAPS), ids
# (setgroups, setresgid/setgid, setresuid/setuid; Go applies them to every
# thread: tgkill, futex, rt_sigreturn), the working directory (getcwd,
# chdir), the parent-death signal (prctl), getppid, exec.LookPath
# (newfstatat, faccessat), the exec fifo (openat, write, close), getpid,
# execve; and what the Go runtime does meanwhile on that thread (futex,
# nanosleep, sched_yield, signals, memory, a new OS thread by clone, the
# netpoller's epoll, getrandom).  crun 1.8 (libcrun/container.c) after its
# filter: ids (setresgid, setresuid), capset, closing fds, the sync socket
# (read, write, waiting on it with pselect6), signals reset.
# tests/test_seccomp_record.py checks, for runc and crun, that what a
# recording under Docker's filter sees beyond the same workload recorded
# without one is in this set.
RUNTIME_AFTER_FILTER = frozenset("""
    capget capset prctl setgroups setgid setuid setresgid setresuid getcwd
    chdir fchdir close close_range openat getdents64 fcntl fstat fstatfs
    statfs newfstatat faccessat faccessat2 read write getppid getpid gettid
    execve futex nanosleep sched_yield tgkill sigaltstack rt_sigprocmask
    rt_sigaction rt_sigreturn mmap munmap madvise mprotect getrandom
    epoll_ctl epoll_pwait pselect6 clone exit exit_group
""".split())
ALWAYS = frozenset(("execve", "exit", "exit_group"))

# Docker's default profile (moby profiles/seccomp/default.json, commit
# 00f3d189e420; the copy a given dockerd embeds may differ in the newest
# calls): the names it allows to an ordinary container (no added
# capabilities) without conditions, for every architecture (the last three:
# "includes": {"minKernel": "4.8"}) ...
DOCKER_ALLOW = frozenset("""
    accept accept4 access adjtimex alarm bind brk capget capset chdir chmod
    chown chown32 clock_adjtime clock_adjtime64 clock_getres
    clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
    clock_nanosleep_time64 close close_range connect copy_file_range creat
    dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
    epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2
    execve execveat exit exit_group faccessat faccessat2 fadvise64
    fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown
    fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
    fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync
    ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu
    getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid
    getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
    getpid getppid getpriority getrandom getresgid getresgid32 getresuid
    getresuid32 getrlimit get_robust_list getrusage getsid getsockname
    getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr
    inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
    ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64
    ioprio_get ioprio_set io_setup io_submit io_uring_enter
    io_uring_register io_uring_setup ipc kill landlock_add_rule
    landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr
    link linkat listen listxattr llistxattr _llseek lremovexattr lseek
    lsetxattr lstat lstat64 madvise membarrier memfd_create memfd_secret
    mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
    mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
    mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap
    msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
    name_to_handle_at nanosleep newfstatat _newselect open openat openat2
    pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
    pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2
    prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
    pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
    recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat
    renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending
    rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
    rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
    sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
    sched_get_priority_min sched_getscheduler sched_rr_get_interval
    sched_rr_get_interval_time64 sched_setaffinity sched_setattr
    sched_setparam sched_setscheduler sched_yield seccomp select semctl
    semget semop semtimedop semtimedop_time64 send sendfile sendfile64
    sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid
    setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid
    setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
    setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area
    set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget
    shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall
    socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat
    sync sync_file_range syncfs sysinfo tee tgkill time timer_create
    timer_delete timer_getoverrun timer_gettime timer_gettime64
    timer_settime timer_settime64 timerfd_create timerfd_gettime
    timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate
    truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
    utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
    process_vm_readv process_vm_writev ptrace
""".split())
# ... and on one architecture only (its "includes": {"arches": ...}).
DOCKER_ALLOW_ARCH = {
    "x86_64": frozenset(("arch_prctl", "modify_ldt")),
    "aarch64": frozenset(("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
                          "breakpoint", "cacheflush", "set_tls")),
}
# Allowed by Docker's default only with these arguments.  MASKED_EQ: clone
# without any CLONE_NEW* flag.
CLONE_NS_FLAGS = 0x7e020000
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xffffffff)
AF_VSOCK = 40
ENOSYS = 38


def docker_conditions(names):
    """Docker's rules for the conditional calls among NAMES: clone (also
    when clone3 was used: the C library falls back to clone when clone3
    fails with ENOSYS), personality, socket; and clone3 refused with ENOSYS
    as Docker does, always."""
    rules = []
    if names & {"clone", "clone3"}:
        rules.append({"names": ["clone"], "action": ALLOW,
                      "args": [{"index": 0, "value": CLONE_NS_FLAGS, "valueTwo": 0,
                                "op": "SCMP_CMP_MASKED_EQ"}]})
    if "personality" in names:
        rules += [{"names": ["personality"], "action": ALLOW,
                   "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]}
                  for v in PERSONALITIES]
    if "socket" in names:
        rules.append({"names": ["socket"], "action": ALLOW,
                      "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}]})
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    return rules


CONDITIONAL = frozenset(("clone", "clone3", "personality", "socket"))


def docker_allowed(arch=None):
    """The calls of this machine's native table that Docker's default
    profile allows to an ordinary container unconditionally."""
    arch = arch or syscalls.machine()
    known = set(syscalls.table(arch).values())
    return (DOCKER_ALLOW | DOCKER_ALLOW_ARCH.get(arch, frozenset())) & known


def docker_refuses(names, arch=None):
    """NAMES that Docker's default refuses to an ordinary container (not
    allowed at all, or only with an added capability)."""
    arch = arch or syscalls.machine()
    return sorted(set(names) - DOCKER_ALLOW - DOCKER_ALLOW_ARCH.get(arch, frozenset())
                  - CONDITIONAL)


def build_profile(names, old=None, arch=None):
    """The profile for the observed NAMES (with the runtime's fixed set and
    ALWAYS), merged into OLD (a loaded profile) if given."""
    names = set(names) | RUNTIME_AFTER_FILTER | ALWAYS
    plain = names - CONDITIONAL
    if old is not None:
        profile = merge_profile(old, plain, arch)
    else:
        profile = new_profile(plain, arch)
    for rule in docker_conditions(names):
        if rule not in profile["syscalls"]:
            profile["syscalls"].append(rule)
    return profile


def allowed(profile):
    """Names a profile allows, with or without conditions."""
    return {n for e in profile.get("syscalls") or [] if e.get("action") == ALLOW
            for n in e.get("names") or []}


def observed(totals, arch=None):
    """From TOTALS ({counted number: (calls, errors)}): the names seen, the
    numbers without a name (printable), and whether an exec succeeded (the
    entrypoint ran)."""
    names, unknown, ran = set(), [], False
    for counted, (calls, errors) in totals.items():
        nr, abi, compat = syscalls.split(counted, arch)
        if not syscalls.is_known(nr, abi):
            unknown.append("%d%s" % (nr, "/ia32" if compat else ""))
            continue
        name = syscalls.name(nr, abi)
        names.add(name)
        ran = ran or (name in ("execve", "execveat") and calls > errors)
        if compat:
            # 32-bit calls counted under another name (syscalls.COMPAT_UNSEEN).
            names.update(n for n in syscalls.COMPAT_UNSEEN if syscalls.number(n, abi))
    return names, unknown, ran


def write_recording(ctx, ref, ids, totals, uring_ops=()):
    """containersyscall --seccomp: write the profile of the calls in TOTALS
    recorded for container REF (runtime ids IDS), and say what it allows;
    warn about the io_uring operations URING_OPS it used, which no profile
    filters."""
    args, tool = ctx.args, ctx.tool
    names, unknown, ran = observed(totals)
    if unknown:
        sys.stderr.write("%s: syscall numbers without a name left out of the "
                         "profile: %s\n" % (tool, " ".join(sorted(unknown))))
    if not names:
        raise SetupError("no system call of %s was seen: %s not written"
                         % (escape(ref), escape(args.seccomp)))
    if args.wait and not ran:
        raise SetupError("%s never ran its entrypoint (it failed to start?): only the "
                         "runtime was seen, %s not written" % (escape(ref), escape(args.seccomp)))
    profile = build_profile(names, args.merge_profile)
    try:
        write_profile(args.seccomp, profile)
    except OSError as exc:
        raise SetupError(str(exc))
    allows = allowed(profile)
    docker = docker_allowed()
    refused = docker_refuses(allows)
    if ctx.output.json_mode:
        ctx.output.json({"event": "seccomp", "timestamp": round(time.time(), 6),
                         "file": args.seccomp, "container": ref, "container_ids": sorted(ids),
                         "observed": sorted(names), "allowed": len(allows),
                         "docker_default_allowed": len(docker),
                         "beyond_docker_default": refused, "merged": args.merge,
                         "io_uring_ops": list(uring_ops)})
        ctx.output.flush()
    sys.stderr.write("%s: wrote %s: %d syscalls observed, %d allowed; Docker's default "
                     "profile allows %d of this machine's %d\n"
                     % (tool, escape(args.seccomp), len(names), len(allows), len(docker),
                        len(syscalls.table())))
    for name in refused:
        sys.stderr.write("%s: warning: %s allows %s, which Docker's default profile "
                         "refuses to an ordinary container\n"
                         % (tool, escape(args.seccomp), name))
    if uring_ops:
        sys.stderr.write("%s: warning: %s used io_uring (%s): a seccomp profile does not "
                         "filter io_uring operations, whatever it allows; Docker 25 and "
                         "later refuse io_uring_setup by default\n"
                         % (tool, escape(ref), ", ".join(uring_ops)))


# -- profile files --------------------------------------------------------

class ProfileError(ValueError):
    """A profile file that cannot be used (for --merge)."""


def new_profile(names, arch=None):
    """A Docker/OCI seccomp profile that refuses (EPERM) every system call
    except NAMES."""
    arch = arch or syscalls.machine()
    if arch not in SECCOMP_ARCHES:
        raise ProfileError("no seccomp architecture known for machine %s" % arch)
    return {"defaultAction": DEFAULT_ACTION,
            "architectures": list(SECCOMP_ARCHES[arch]),
            "syscalls": [{"names": sorted(set(names)), "action": ALLOW}]}


def _unconditional_allow(entry):
    return (isinstance(entry, dict) and entry.get("action") == ALLOW and
            not entry.get("args") and not entry.get("includes") and
            not entry.get("excludes"))


def allowed_names(profile):
    """Names a profile allows without conditions."""
    out = set()
    for entry in profile.get("syscalls") or []:
        if _unconditional_allow(entry):
            out.update(entry.get("names") or [])
    return out


def check_profile(profile):
    """Raise ProfileError unless PROFILE looks like a seccomp profile."""
    if not isinstance(profile, dict):
        raise ProfileError("not a seccomp profile (a JSON object is expected)")
    entries = profile.get("syscalls", [])
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise ProfileError("'syscalls' is not a list")
    for entry in entries:
        if not isinstance(entry, dict):
            raise ProfileError("an entry of 'syscalls' is not an object")
        names = entry.get("names", [])
        if "name" in entry and not names:
            names = [entry["name"]]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ProfileError("'names' of a 'syscalls' entry is not a list of strings")
        if not isinstance(entry.get("action", ""), str):
            raise ProfileError("'action' of a 'syscalls' entry is not a string")
    if not isinstance(profile.get("defaultAction", ""), str):
        raise ProfileError("'defaultAction' is not a string")
    return profile


def load_profile(path):
    """The profile in PATH, checked; ProfileError with a one-line reason."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as exc:
        raise ProfileError("cannot read %s: %s" % (path, exc.strerror or exc))
    except ValueError as exc:
        raise ProfileError("%s is not valid JSON: %s" % (path, exc))
    try:
        return check_profile(data)
    except ProfileError as exc:
        raise ProfileError("%s: %s" % (path, exc))


def merge_profile(old, names, arch=None):
    """OLD with NAMES allowed as well.  Everything OLD says is kept (its
    default action, architectures, conditional rules); names it does not
    allow unconditionally yet join its first unconditional allow rule, or a
    new one."""
    merged = copy.deepcopy(old)
    fresh = new_profile(names, arch)
    merged.setdefault("defaultAction", fresh["defaultAction"])
    if not merged.get("architectures") and not merged.get("archMap"):
        merged["architectures"] = fresh["architectures"]
    entries = merged.get("syscalls") or []
    merged["syscalls"] = entries
    missing = sorted(set(names) - allowed_names(merged))
    if not missing:
        return merged
    for entry in entries:
        if _unconditional_allow(entry) and "names" in entry:
            entry["names"] = sorted(set(entry["names"]) | set(missing))
            return merged
    entries.append({"names": missing, "action": ALLOW})
    return merged


def write_profile(path, profile):
    """Write PROFILE to PATH atomically and safely (ctrace.outfile: never
    onto anything but a regular file, never through a symlink)."""
    outfile.write_file(path, json.dumps(profile, indent=2) + "\n")
