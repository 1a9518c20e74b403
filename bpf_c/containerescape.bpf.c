/* containerescape: attempts to break out of a container, from tracepoints.
 *
 * One raw tracepoint on sys_exit sees every system call's result: it
 * dispatches on the syscall number first (every other call returns there)
 * and reads the arguments from the task's saved registers, which a call
 * leaves as it found them.  Judging at exit means:
 *   - a call refused by a seccomp filter is seen too (it skips sys_enter
 *     but not sys_exit), so its attempt is a finding with its errno;
 *   - paths are the kernel's: an open is judged on the opened file (its
 *     mount and dentries, walked up to the task's root), a connect on the
 *     name the listening socket bound, a setns on the namespace file the
 *     fd refers to, not on what the caller's strings said.
 * Opens for reading only are dropped on their flags before anything else.
 *
 * sched_process_exec adds two findings that are not system calls: a
 * set-uid exec that makes a workload task root (privilege), and the
 * kernel's usermode helper (a child of a kernel thread, in the host's
 * namespaces) executing something (host-helper-exec: user space keeps the
 * ones whose file lives in a container's filesystem).
 *
 * Only the container's workload is judged (ct_workload(), bpf_c/ctrace.h):
 * the runtime's set-up (runc init's mounts, pivot_root, setns of `docker
 * exec`) is not an attempt to escape.
 *
 * Macros from tools/containerescape: ESC_WANT (mask of 1 << ESC_T_*),
 * ESC_ALL, ESC_SELF_PID, CT_HOST_NS_* (the host's namespace inums),
 * ESC_NR_* (syscall numbers), ESC_OFF_* and CT_OFF_* (offsets from BTF).
 */
#include "containerescape.h"

CT_BTF_OFFSET(ESC_OFF_TASK_CRED, task_struct.cred)
CT_BTF_OFFSET(ESC_OFF_TASK_FLAGS, task_struct.flags)
CT_BTF_OFFSET(ESC_OFF_TASK_PTRACED, task_struct.ptraced)
CT_BTF_OFFSET(ESC_OFF_TASK_PTRACE_ENTRY, task_struct.ptrace_entry)
CT_BTF_OFFSET(ESC_OFF_CRED_UID, cred.uid)
CT_BTF_OFFSET(ESC_OFF_CRED_EUID, cred.euid)
CT_BTF_OFFSET(ESC_OFF_INODE_I_RDEV, inode.i_rdev)
CT_BTF_OFFSET(ESC_OFF_INODE_I_INO, inode.i_ino)
CT_BTF_OFFSET(ESC_OFF_MOUNT_MNT_NS, mount.mnt_ns)
CT_BTF_OFFSET(ESC_OFF_UNIX_SOCK_PEER, unix_sock.peer)
CT_BTF_OFFSET(ESC_OFF_UNIX_SOCK_ADDR, unix_sock.addr)
CT_BTF_OFFSET(ESC_OFF_UNIX_ADDRESS_LEN, unix_address.len)
CT_BTF_OFFSET(ESC_OFF_UNIX_ADDRESS_NAME, unix_address.name)

#define ESC_WANTS(t) (ESC_WANT & (1u << (t)))

#define ESC_O_ACCMODE 3
#define ESC_O_CREAT 0100
#define ESC_O_TRUNC 01000
#define ESC_WRITE_INTENT(f) ((f) & (ESC_O_ACCMODE | ESC_O_CREAT | ESC_O_TRUNC))
#define ESC_S_IFMT 0170000
#define ESC_S_IFBLK 0060000
#define ESC_S_IFCHR 0020000
#define ESC_MEM_MAJOR 1
#define ESC_AF_UNIX 1
#define ESC_CLONE_NEWUSER 0x10000000
#define ESC_EPERM 1
#define ESC_PTRACE_POKETEXT 4
#define ESC_PTRACE_POKEDATA 5
#define ESC_PTRACE_POKEUSR 6
#define ESC_PTRACE_ATTACH 16
#define ESC_PTRACE_SEIZE 0x4206
#define ESC_PF_KTHREAD 0x00200000
#define ESC_OVERLAYFS_MAGIC 0x794c7630

BPF_RINGBUF_OUTPUT(events, 64);
BPF_PERCPU_ARRAY(scratch, struct esc_event, 1);
#if ESC_WANTS(ESC_T_PRIVILEGE)
/* privilege: a workload task's real uid + 1 at its last exec, kept only
 * when it was not root (the set*id calls' exit compares); 0 once reported. */
BPF_TASK_STORAGE(esc_unpriv, u32);
#endif

/* -- who is judged, and the event ------------------------------------------ */

/* In scope (ctrace.h), the workload (not the runtime's set-up), not us. */
static __always_inline int esc_judged(char *t)
{
    if ((bpf_get_current_pid_tgid() >> 32) == ESC_SELF_PID)
        return 0;
    if (!ct_traced_task(t))
        return 0;
#if CT_INCLUDE_HOST
    /* --host: a host process is judged too (the runtime's set-up runs in
     * the container's namespaces, not marked workload: still not judged). */
    if (!ct_cur_in_container_ns(t))
        return 1;
#endif
    return ct_workload();
}

static __always_inline struct esc_event *esc_new(u32 technique, u32 nr, long ret)
{
    int zero = 0;
    struct esc_event *e = scratch.lookup(&zero);
    if (!e)
        return NULL;
    ct_fill((struct ct_ctx *)e);
    e->technique = technique;
    e->ret = ret;
    e->nr = nr;
    e->flags = ct_filter_governs() ? ESC_F_FILTERED : 0;
    e->arg0 = 0;
    e->arg1 = 0;
    e->target_mntns = 0;
    e->target_pid = 0;
    e->data_len = 0;
    e->data[0] = 0;
    return e;
}

#define ESC_DATA_LEN(e) (*(volatile u16 *)&(e)->data_len)

static __always_inline void esc_send(struct esc_event *e)
{
    u32 len = ESC_DATA_LEN(e);
    if (len > ESC_DATA_MASK)
        len = ESC_DATA_MASK;
    asm volatile("" : "+r"(len));
    len &= ESC_DATA_MASK;
    if (events.ringbuf_output(e, offsetof(struct esc_event, data) + len, 0))
        ct_count_lost();
}

/* Append a user string (NUL included) to data[]. */
static __always_inline void esc_add_user_str(struct esc_event *e, const void *s)
{
    u32 len = ESC_DATA_LEN(e);
    if (len > ESC_DATA_MASK + 1 - ESC_NAME_MAX)
        return;
    long n = 0;
    if (s)
        n = bpf_probe_read_user_str(&e->data[len & ESC_DATA_MASK], ESC_NAME_MAX, s);
    if (n <= 0) {
        e->data[len & ESC_DATA_MASK] = 0;
        n = 1;
    }
    ESC_DATA_LEN(e) = len + n;
}


/* FILE's path as the kernel resolved it, up to the task's root (its
 * container's), into data[] (ct_path_names); ESC_F_OUTSIDE_ROOT when the walk
 * reached the top of the mount tree without meeting the task's root. */
static __always_inline void esc_file_path(struct esc_event *e, void *file)
{
    void *mnt = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_MNT);
    void *dentry = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_DENTRY);
    u32 how = ct_path_names(mnt, dentry, e->data, 0, ESC_DATA_MASK,
                            ESC_DATA_MASK + 1 - CT_PATH_NAME_MAX, &e->data_len, ESC_MAX_DEPTH);
    if (how & CT_PATH_RESOLVED)
        e->flags |= ESC_F_RESOLVED;
    if (how & CT_PATH_COMPLETE)
        e->flags |= ESC_F_COMPLETE;
    if (how & CT_PATH_OUTSIDE_ROOT)
        e->flags |= ESC_F_OUTSIDE_ROOT;
}

/* -- sensitive-write: opens with write intent ------------------------------ */

/* The leaf names worth a look (their first 16 bytes); anything else is
 * judged on what the file is (block or mem device, outside the root). */
#define ESC_NAME8(a, b, c, d, e, f, g, h)                                        \
    ((u64)(a) | (u64)(b) << 8 | (u64)(c) << 16 | (u64)(d) << 24 |               \
     (u64)(e) << 32 | (u64)(f) << 40 | (u64)(g) << 48 | (u64)(h) << 56)

static __always_inline int esc_name_is(u64 *n, u64 lo, u64 hi)
{
    return n[0] == lo && n[1] == hi;
}

static __always_inline int esc_sensitive_name(const char *name)
{
    u64 n[2] = {};
    bpf_probe_read_kernel_str(n, sizeof(n), name);
    return esc_name_is(n, ESC_NAME8('r','e','l','e','a','s','e','_'), ESC_NAME8('a','g','e','n','t',0,0,0)) ||
           esc_name_is(n, ESC_NAME8('n','o','t','i','f','y','_','o'), ESC_NAME8('n','_','r','e','l','e','a','s')) ||
           esc_name_is(n, ESC_NAME8('c','o','r','e','_','p','a','t'), ESC_NAME8('t','e','r','n',0,0,0,0)) ||
           esc_name_is(n, ESC_NAME8('m','o','d','p','r','o','b','e'), 0) ||
           esc_name_is(n, ESC_NAME8('r','e','g','i','s','t','e','r'), 0) ||
           esc_name_is(n, ESC_NAME8('u','e','v','e','n','t','_','h'), ESC_NAME8('e','l','p','e','r',0,0,0)) ||
           esc_name_is(n, ESC_NAME8('s','y','s','r','q','-','t','r'), ESC_NAME8('i','g','g','e','r',0,0,0)) ||
           esc_name_is(n, ESC_NAME8('m','e','m',0,0,0,0,0), 0) ||
           esc_name_is(n, ESC_NAME8('k','m','e','m',0,0,0,0), 0) ||
           esc_name_is(n, ESC_NAME8('p','o','r','t',0,0,0,0), 0) ||
           esc_name_is(n, ESC_NAME8('e','x','e',0,0,0,0,0), 0);
}

static __always_inline int esc_open(char *t, char *regs, u32 nr, long ret)
{
    u64 flags;
    s64 dfd = CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
    const char *path;
    if (nr == ESC_NR_OPENAT) {
        path = (const char *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
        flags = CT_LOAD(u64, regs, CT_OFF_REGS_ARG2);
    } else if (nr == ESC_NR_OPEN) {
        path = (const char *)dfd;
        flags = CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
    } else if (nr == ESC_NR_CREAT) {
        path = (const char *)dfd;
        flags = 1 | ESC_O_CREAT | ESC_O_TRUNC;
    } else {
        /* openat2(dfd, path, struct open_how *how, size): how->flags */
        path = (const char *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
        flags = 0;
        bpf_probe_read_user(&flags, sizeof(flags),
                            (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG2));
    }
    /* Read-only: dropped here, before anything else. */
    if (!ESC_WRITE_INTENT(flags))
        return 0;
    if (!esc_judged(t))
        return 0;
    struct esc_event *e = esc_new(ESC_T_SENSITIVE_WRITE, nr, ret);
    if (!e)
        return 0;
    e->arg0 = flags;
    if (ret < 0) {
        /* No file: the path as given (user space judges it). */
        esc_add_user_str(e, path);
        esc_send(e);
        return 0;
    }
    void *file = ct_task_file((void *)bpf_get_current_task(), ret);
    void *dentry = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_DENTRY);
    void *inode = ct_read_ptr(file, CT_OFF_FILE_F_INODE);
    u16 mode = 0;
    u32 rdev = 0;
    if (inode) {
        bpf_probe_read_kernel(&mode, sizeof(mode), inode + CT_OFF_INODE_I_MODE);
        rdev = ct_read_u32(inode, ESC_OFF_INODE_I_RDEV);
    }
    if ((mode & ESC_S_IFMT) == ESC_S_IFBLK)
        e->flags |= ESC_F_BLOCK_DEVICE;
    else if ((mode & ESC_S_IFMT) == ESC_S_IFCHR && (rdev >> 20) == ESC_MEM_MAJOR &&
             ((rdev & 0xfffff) == 1 || (rdev & 0xfffff) == 2 || (rdev & 0xfffff) == 4))
        e->flags |= ESC_F_CHAR_MEM;
    int named = esc_sensitive_name(ct_read_ptr(dentry, CT_OFF_DENTRY_D_NAME_NAME));
    esc_file_path(e, file);
    if (named || (e->flags & (ESC_F_BLOCK_DEVICE | ESC_F_CHAR_MEM | ESC_F_OUTSIDE_ROOT)))
        esc_send(e);
    return 0;
}

/* -- host-namespace: setns -------------------------------------------------- */

static __always_inline int esc_host_ns(u64 inum)
{
    return inum == CT_HOST_NS_MNT || inum == CT_HOST_NS_PID || inum == CT_HOST_NS_NET ||
           inum == CT_HOST_NS_UTS || inum == CT_HOST_NS_IPC ||
           inum == CT_HOST_NS_CGROUP || inum == CT_HOST_NS_USER ||
           inum == CT_HOST_NS_TIME;
}

static __always_inline int esc_setns(char *t, char *regs, u32 nr, long ret)
{
    if (!esc_judged(t))
        return 0;
    s64 fd = CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
    void *inode = ct_read_ptr(ct_task_file((void *)bpf_get_current_task(), fd), CT_OFF_FILE_F_INODE);
    u64 inum = 0;
    if (inode)
        bpf_probe_read_kernel(&inum, sizeof(inum), inode + ESC_OFF_INODE_I_INO);
    /* Into a host namespace, or (a pidfd) now in the host's mount one. */
    if (!esc_host_ns(inum) && !(ret == 0 && ct_cur_mntns(t) == CT_HOST_NS_MNT))
        return 0;
    struct esc_event *e = esc_new(ESC_T_HOST_NAMESPACE, nr, ret);
    if (!e)
        return 0;
    e->arg0 = CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
    e->arg1 = inum;
    esc_send(e);
    return 0;
}

/* -- runtime-socket: connect to a unix socket -------------------------------- */

static __always_inline int esc_connect(char *t, char *regs, u32 nr, long ret)
{
    const void *addr = (const void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
    u16 family = 0;
    if (bpf_probe_read_user(&family, sizeof(family), addr) || family != ESC_AF_UNIX)
        return 0;
    if (!esc_judged(t))
        return 0;
    struct esc_event *e = esc_new(ESC_T_RUNTIME_SOCKET, nr, ret);
    if (!e)
        return 0;
    if (ret == 0 || ret == -115 /* EINPROGRESS */) {
        /* The name the listener bound, wherever the caller found it. */
        void *file = ct_task_file((void *)bpf_get_current_task(), CT_LOAD(u64, regs, CT_OFF_REGS_ARG0));
        void *sock = ct_read_ptr(file, CT_OFF_FILE_PRIVATE_DATA);
        void *sk = ct_read_ptr(sock, CT_OFF_SOCKET_SK);
        void *peer = ct_read_ptr(sk, ESC_OFF_UNIX_SOCK_PEER);
        void *ua = ct_read_ptr(peer, ESC_OFF_UNIX_SOCK_ADDR);
        if (ua) {
            u32 len = ct_read_u32(ua, ESC_OFF_UNIX_ADDRESS_LEN);
            if (len > 2 && len <= 2 + ESC_UNIX_PATH) {
                len -= 2;
                bpf_probe_read_kernel(e->data, len & 127,
                                      ua + ESC_OFF_UNIX_ADDRESS_NAME + 2);
                e->data[len & 127] = 0;
                e->data_len = len + 1;
                e->flags |= ESC_F_PEER;
            }
        }
    }
    if (!(e->flags & ESC_F_PEER)) {
        u32 len = CT_LOAD(u64, regs, CT_OFF_REGS_ARG2);
        if (len > 2 + ESC_UNIX_PATH)
            len = 2 + ESC_UNIX_PATH;
        if (len > 2) {
            len -= 2;
            bpf_probe_read_user(e->data, len & 127, addr + 2);
            e->data[len & 127] = 0;
            e->data_len = len + 1;
        }
    }
    esc_send(e);
    return 0;
}

/* -- ptrace, process_vm_writev --------------------------------------------- */

static __always_inline int esc_ptrace(char *t, char *regs, u32 nr, long ret)
{
    u64 req = CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
    if (nr == ESC_NR_PTRACE && req != ESC_PTRACE_ATTACH && req != ESC_PTRACE_SEIZE &&
        req != ESC_PTRACE_POKETEXT && req != ESC_PTRACE_POKEDATA &&
        req != ESC_PTRACE_POKEUSR)
        return 0;
    if (!esc_judged(t))
        return 0;
    struct esc_event *e = esc_new(ESC_T_PTRACE, nr, ret);
    if (!e)
        return 0;
    if (nr == ESC_NR_PTRACE) {
        e->arg0 = req;
        e->arg1 = CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
        if (ret == 0 && (req == ESC_PTRACE_ATTACH || req == ESC_PTRACE_SEIZE)) {
            /* The new tracee heads the tracer's ptraced list. */
            void *task = (void *)bpf_get_current_task();
            void *next = ct_read_ptr(task, ESC_OFF_TASK_PTRACED);
            if (next && next != task + ESC_OFF_TASK_PTRACED) {
                void *tracee = next - ESC_OFF_TASK_PTRACE_ENTRY;
                void *nsproxy = ct_read_ptr(tracee, CT_OFF_TASK_NSPROXY);
                e->target_mntns = ct_read_u32(ct_read_ptr(nsproxy, CT_OFF_NSPROXY_MNT_NS),
                                              CT_OFF_MNT_NS_INUM);
                e->target_pid = ct_read_u32(tracee, CT_OFF_TASK_TGID);
                if (e->target_mntns)
                    e->flags |= ESC_F_TARGET;
            }
        }
    } else {
        e->arg1 = CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
    }
    esc_send(e);
    return 0;
}

/* -- the system calls -------------------------------------------------------- */

static __always_inline int esc_simple(char *t, u32 technique, u32 nr, long ret, u64 arg0,
                                      const void *str)
{
    if (!esc_judged(t))
        return 0;
    if (technique == ESC_T_KERNEL_ATTACK_SURFACE && !ESC_ALL && ret == -ESC_EPERM &&
        ct_filter_governs())
        return 0;       /* refused by the container's seccomp profile: --all */
    struct esc_event *e = esc_new(technique, nr, ret);
    if (!e)
        return 0;
    e->arg0 = arg0;
    if (str)
        esc_add_user_str(e, str);
    esc_send(e);
    return 0;
}

static __always_inline int esc_mount(char *t, char *regs, u32 nr, long ret)
{
    if (!esc_judged(t))
        return 0;
    struct esc_event *e = esc_new(ESC_T_MOUNT, nr, ret);
    if (!e)
        return 0;
    if (nr == ESC_NR_MOUNT) {
        /* mount(source, target, type, flags, data) */
        e->arg0 = CT_LOAD(u64, regs, CT_OFF_REGS_ARG3);
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0));
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1));
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG2));
    } else if (nr == ESC_NR_FSOPEN) {
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0));
    } else if (nr == ESC_NR_OPEN_TREE) {
        e->arg0 = CT_LOAD(u64, regs, CT_OFF_REGS_ARG2);
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1));
    } else if (nr == ESC_NR_MOVE_MOUNT) {
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG3));
    }
    esc_send(e);
    return 0;
}

#if ESC_WANTS(ESC_T_PRIVILEGE)
/* setuid, setreuid, setresuid: a task whose real uid was not root at its
 * exec (a binary with file capabilities, CAP_SETUID, or a set-uid one that
 * now makes itself root for good) has effective uid 0. */
static __always_inline int esc_setuid(char *t, u32 nr, long ret)
{
    if (ret != 0)
        return 0;
    u32 *was = esc_unpriv.task_storage_get((void *)bpf_get_current_task_btf(), NULL, 0);
    if (!was || !*was)
        return 0;
    void *cred = ct_read_ptr(t, ESC_OFF_TASK_CRED);
    if (ct_read_u32(cred, ESC_OFF_CRED_EUID) != 0 || !esc_judged(t))
        return 0;
    u32 uid = *was - 1;
    *was = 0;       /* root now: once */
    struct esc_event *e = esc_new(ESC_T_PRIVILEGE, nr, ret);
    if (!e)
        return 0;
    e->arg1 = uid;
    esc_send(e);
    return 0;
}
#endif

RAW_TRACEPOINT_PROBE(sys_exit)
{
    char *t = ct_current();
    char *regs = (char *)bpf_task_pt_regs((struct task_struct *)t);
    u32 nr = CT_LOAD(u32, regs, CT_OFF_REGS_NR);
    long ret = (long)ctx->args[1];

    switch (nr) {
#if ESC_WANTS(ESC_T_SENSITIVE_WRITE)
    case ESC_NR_OPENAT:
        /* The hot path: read-only opens end here, on one load. */
        if (!ESC_WRITE_INTENT(CT_LOAD(u64, regs, CT_OFF_REGS_ARG2)))
            return 0;
        return esc_open(t, regs, nr, ret);
    case ESC_NR_OPEN:
        if (!ESC_WRITE_INTENT(CT_LOAD(u64, regs, CT_OFF_REGS_ARG1)))
            return 0;
        return esc_open(t, regs, nr, ret);
    case ESC_NR_CREAT:
    case ESC_NR_OPENAT2:
        return esc_open(t, regs, nr, ret);
#endif
#if ESC_WANTS(ESC_T_HOST_NAMESPACE)
    case ESC_NR_SETNS:
        return esc_setns(t, regs, nr, ret);
#endif
#if ESC_WANTS(ESC_T_RUNTIME_SOCKET)
    case ESC_NR_CONNECT:
        return esc_connect(t, regs, nr, ret);
#endif
#if ESC_WANTS(ESC_T_PTRACE)
    case ESC_NR_PTRACE:
    case ESC_NR_PROCESS_VM_WRITEV:
        return esc_ptrace(t, regs, nr, ret);
#endif
#if ESC_WANTS(ESC_T_MOUNT)
    case ESC_NR_MOUNT:
    case ESC_NR_FSOPEN:
    case ESC_NR_FSMOUNT:
    case ESC_NR_MOVE_MOUNT:
    case ESC_NR_OPEN_TREE:
        return esc_mount(t, regs, nr, ret);
#endif
#if ESC_WANTS(ESC_T_PRIVILEGE)
    case ESC_NR_SETUID:
    case ESC_NR_SETREUID:
    case ESC_NR_SETRESUID:
        return esc_setuid(t, nr, ret);
#endif
#if ESC_WANTS(ESC_T_KERNEL_MODULE)
    case ESC_NR_INIT_MODULE:
        return esc_simple(t, ESC_T_KERNEL_MODULE, nr, ret,
                          CT_LOAD(u64, regs, CT_OFF_REGS_ARG1), NULL);
    case ESC_NR_FINIT_MODULE:
        return esc_simple(t, ESC_T_KERNEL_MODULE, nr, ret,
                          CT_LOAD(u64, regs, CT_OFF_REGS_ARG0), NULL);
    case ESC_NR_DELETE_MODULE:
        return esc_simple(t, ESC_T_KERNEL_MODULE, nr, ret, 0,
                          (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0));
#endif
#if ESC_WANTS(ESC_T_KERNEL_ATTACK_SURFACE)
    case ESC_NR_BPF:
    case ESC_NR_PERF_EVENT_OPEN:
    case ESC_NR_USERFAULTFD:
    case ESC_NR_KEYCTL:
    case ESC_NR_ADD_KEY:
    case ESC_NR_REQUEST_KEY:
        return esc_simple(t, ESC_T_KERNEL_ATTACK_SURFACE, nr, ret,
                          CT_LOAD(u64, regs, CT_OFF_REGS_ARG0), NULL);
    case ESC_NR_UNSHARE:
    case ESC_NR_CLONE: {
        u64 flags = CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
        if (!(flags & ESC_CLONE_NEWUSER) || (nr == ESC_NR_CLONE && ret == 0))
            return 0;
        return esc_simple(t, ESC_T_KERNEL_ATTACK_SURFACE, nr, ret, flags, NULL);
    }
    case ESC_NR_CLONE3: {
        u64 flags = 0;      /* struct clone_args starts with flags */
        if (ret == 0)
            return 0;
        bpf_probe_read_user(&flags, sizeof(flags), (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0));
        if (!(flags & ESC_CLONE_NEWUSER))
            return 0;
        return esc_simple(t, ESC_T_KERNEL_ATTACK_SURFACE, nr, ret, flags, NULL);
    }
#endif
    }
    return 0;
}

/* -- privilege, host-helper-exec: at exec ----------------------------------- */

#if ESC_WANTS(ESC_T_PRIVILEGE) || ESC_WANTS(ESC_T_HOST_HELPER_EXEC)
TRACEPOINT_PROBE(sched, sched_process_exec)
{
    char *t = ct_current();
#if ESC_WANTS(ESC_T_HOST_HELPER_EXEC)
    {
        /* The usermode helper: a child of a kernel thread (kthreadd or a
         * kworker), in the host's mount namespace. */
        void *parent = ct_read_ptr(t, CT_OFF_TASK_REAL_PARENT);
        u32 pflags = ct_read_u32(parent, ESC_OFF_TASK_FLAGS);
        if ((pflags & ESC_PF_KTHREAD) && ct_cur_mntns(t) == CT_HOST_NS_MNT) {
            struct esc_event *e = esc_new(ESC_T_HOST_HELPER_EXEC, ESC_NR_EXEC, 0);
            if (!e)
                return 0;
            u32 loc = args->data_loc_filename;
            long n = bpf_probe_read_kernel_str(e->data, ESC_NAME_MAX,
                                               (void *)args + (loc & 0xffff));
            e->data_len = n > 0 ? n : 0;
            void *mm = ct_read_ptr(t, CT_OFF_TASK_MM);
            void *file = ct_read_ptr(mm, CT_OFF_MM_EXE_FILE);
            void *mnt = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_MNT);
            void *mnt_ns = ct_read_ptr(mnt - CT_OFF_MOUNT_MNT, ESC_OFF_MOUNT_MNT_NS);
            e->target_mntns = ct_read_u32(mnt_ns, CT_OFF_MNT_NS_INUM);
            void *inode = ct_read_ptr(file, CT_OFF_FILE_F_INODE);
            void *sb = ct_read_ptr(inode, CT_OFF_INODE_I_SB);
            if ((u32)(unsigned long)ct_read_ptr(sb, CT_OFF_SUPER_BLOCK_S_MAGIC) ==
                ESC_OVERLAYFS_MAGIC)
                e->flags |= ESC_F_OVERLAY;
            esc_send(e);
            return 0;
        }
    }
#endif
#if ESC_WANTS(ESC_T_PRIVILEGE)
    {
        /* A set-uid exec that made a workload task root. */
        void *cred = ct_read_ptr(t, ESC_OFF_TASK_CRED);
        u32 uid = ct_read_u32(cred, ESC_OFF_CRED_UID);
        u32 euid = ct_read_u32(cred, ESC_OFF_CRED_EUID);
        if (uid == 0 || !esc_judged(t))
            return 0;
        u32 *was = esc_unpriv.task_storage_get((void *)bpf_get_current_task_btf(), NULL,
                                               BPF_LOCAL_STORAGE_GET_F_CREATE);
        if (was)
            *was = uid + 1;
        if (euid != 0)
            return 0;
        struct esc_event *e = esc_new(ESC_T_PRIVILEGE, ESC_NR_EXEC, 0);
        if (!e)
            return 0;
        e->arg0 = euid;
        e->arg1 = uid;
        u32 loc = args->data_loc_filename;
        long n = bpf_probe_read_kernel_str(e->data, ESC_NAME_MAX, (void *)args + (loc & 0xffff));
        e->data_len = n > 0 ? n : 0;
        esc_send(e);
    }
#endif
    return 0;
}
#endif
