/* containerescape: attempts to break out of a container, from tracepoints.
 *
 * One raw tracepoint on sys_exit sees every system call's result: it
 * dispatches on the syscall number first (every other call returns there)
 * and reads the arguments from the task's saved registers, which a call
 * leaves as it found them.  The same program, attached at io_uring_complete
 * too, judges io_uring's opens and connects.  Judging at exit means:
 *   - a call refused by a seccomp filter is seen too (it skips sys_enter
 *     but not sys_exit), so its attempt is a finding with its errno;
 *   - objects are the kernel's, not the caller's strings: an open is judged
 *     on the opened file (its filesystem, its path within that filesystem,
 *     the host directory it lies in), a connect on the name the listening
 *     socket bound, a setns on the namespace the fd refers to.
 * Opens for reading only are dropped on their flags before anything else.
 *
 * Every finding is decided here, in the kernel, and counted here per
 * container and technique (esc_counts) before it is sent: a flood can fill
 * the ring buffer, never erase a finding from the summary.  The same
 * finding again within a second is counted and folded (esc_repeats), so a
 * flood of one thing leaves room for everything else.
 *
 * sched_process_exec adds two findings that are not system calls: a
 * set-uid exec that makes a workload task root (privilege), and the
 * kernel's usermode helper (a child of a kernel thread, in the host's
 * namespaces) executing something (host-helper-exec: user space keeps the
 * ones whose file lives in a container's filesystem, the one technique
 * judged there, since only the runtimes know which container owns a file).
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
/* io_uring failed opens: the event, kept from submit (the path is gone by
 * completion), only when its last name matched a rule. */
#define CT_URING_REQ_T struct esc_event
#define CT_URING_REQS 1024
#include "ct_uring.h"

CT_BTF_OFFSET(ESC_OFF_TASK_CRED, task_struct.cred)
CT_BTF_OFFSET(ESC_OFF_TASK_PTRACED, task_struct.ptraced)
CT_BTF_OFFSET(ESC_OFF_TASK_PTRACE_ENTRY, task_struct.ptrace_entry)
CT_BTF_OFFSET(ESC_OFF_CRED_UID, cred.uid)
CT_BTF_OFFSET(ESC_OFF_CRED_EUID, cred.euid)
CT_BTF_OFFSET(ESC_OFF_INODE_I_RDEV, inode.i_rdev)
CT_BTF_OFFSET(ESC_OFF_INODE_I_INO, inode.i_ino)
CT_BTF_OFFSET(ESC_OFF_SUPER_BLOCK_S_DEV, super_block.s_dev)
CT_BTF_OFFSET(ESC_OFF_DENTRY_D_INODE, dentry.d_inode)
CT_BTF_OFFSET(ESC_OFF_DENTRY_D_NAME_LEN, dentry.d_name.len)
CT_BTF_OFFSET(ESC_OFF_PROC_INODE_PID, proc_inode.pid)
CT_BTF_OFFSET(ESC_OFF_PROC_INODE_VFS_INODE, proc_inode.vfs_inode)
CT_BTF_OFFSET(ESC_OFF_UNIX_SOCK_PEER, unix_sock.peer)
CT_BTF_OFFSET(ESC_OFF_UNIX_SOCK_ADDR, unix_sock.addr)
CT_BTF_OFFSET(ESC_OFF_UNIX_ADDRESS_LEN, unix_address.len)
CT_BTF_OFFSET(ESC_OFF_UNIX_ADDRESS_NAME, unix_address.name)

#define ESC_WANTS(t) (ESC_WANT & (1u << (t)))
#ifndef ESC_KILL
#define ESC_KILL 0      /* --kill: mask of 1 << ESC_T_* */
#endif
#define ESC_SIGKILL 9

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
#define ESC_EINPROGRESS 115
#define ESC_MS_REMOUNT 0x20
#define ESC_MS_BIND 0x1000
#define ESC_PTRACE_POKETEXT 4
#define ESC_PTRACE_POKEDATA 5
#define ESC_PTRACE_POKEUSR 6
#define ESC_PTRACE_ATTACH 16
#define ESC_PTRACE_SEIZE 0x4206
#define ESC_PROC_SUPER_MAGIC 0x9fa0

BPF_RINGBUF_OUTPUT(events, 64);
/* Its findings wake the reader whenever it has read everything before them
 * (flags 0: the kernel's own rule), so the reader may sleep while idle: the
 * map says so to ctrace.bpf (ct_context.h's ct_ring_wake() uses it). */
BPF_ARRAY(ct_reader_idle, u32, 1);
BPF_PERCPU_ARRAY(scratch, struct esc_event, 1);
BPF_PERCPU_ARRAY(esc_object_scratch, struct esc_object_key, 1);
BPF_HASH(esc_object_rules, struct esc_object_key, u32, 256);
BPF_HASH(esc_host_files, struct esc_host_key, u32, 4096);
BPF_HASH(esc_names, struct esc_name_key, u32, 256);
BPF_HASH(esc_counts, struct esc_count_key, struct esc_counts, 10240);
BPF_TABLE("lru_hash", struct esc_repeat_key, struct esc_repeat, esc_repeats, 10240);
BPF_ARRAY(esc_uncounted, u64, 1);       /* findings esc_counts had no room for */
/* --exclude'd containers, never killed: their cgroups and mount namespaces
 * (user space adds them as it learns of them). */
BPF_HASH(esc_exclude_cgroup, u64, u8, 1024);
BPF_HASH(esc_exclude_mntns, u32, u8, 1024);
#if ESC_WANTS(ESC_T_PRIVILEGE)
/* privilege: a workload task's real uid + 1 at its last exec, kept only
 * when it was not root (the set*id calls' exit compares); 0 once reported. */
CT_TASK_STORAGE(esc_unpriv, u32);
#endif

/* -- who is judged, and the event ------------------------------------------ */

/* In scope (ctrace.h), the workload (not the runtime's set-up), not us. */
static __always_inline int esc_judged(const struct ct_task *t)
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
    return ct_workload(t);
}

static __always_inline struct esc_event *esc_new(u32 technique, u32 nr, long ret)
{
    int zero = 0;
    struct esc_event *e = scratch.lookup(&zero);
    if (!e)
        return NULL;
    e->technique = technique;
    e->ret = ret;
    e->nr = nr;
    e->flags = 0;
    e->arg0 = 0;
    e->arg1 = 0;
    e->ino = 0;
    e->dev = 0;
    e->fs_magic = 0;
    e->target_mntns = 0;
    e->repeats = 0;
    e->rule = 0;
    e->reason = 0;
    e->rule_level = 0;
    e->data_len = 0;
    e->fs_path_len = 0;
    e->data[0] = 0;
    return e;
}

/* The container context of E, filled once a technique has made E a
 * finding: here, not in esc_new(), so that the one copy the compiler
 * inlines into each program serves every technique (esc_report). */
static __always_inline void esc_context(struct esc_event *e, const struct ct_task *t)
{
    ct_fill((struct ct_ctx *)e, t);
    if (ct_filter_governs(t))
        e->flags |= ESC_F_FILTERED;
}

/* Lengths and cursors live in the (map) event and are re-read, not kept
 * in registers: the verifier then sees the same unknown value on every path
 * through a loop's step and prunes (see ct_path_names). */
#define ESC_DATA_LEN(e) (*(volatile u16 *)&(e)->data_len)
#define ESC_FS_LEN(e) (*(volatile u16 *)&(e)->fs_path_len)

/* Send E (its data[] as far as used): 0, or non-zero when the ring buffer
 * was full (counted lost). */
static __always_inline int esc_send(struct esc_event *e)
{
    u32 len = ESC_DATA_LEN(e);
    if (e->fs_path_len)
        len = ESC_FS_PATH_AT + ESC_FS_LEN(e);
    if (len > ESC_DATA_MASK)
        len = ESC_DATA_MASK;
    asm volatile("" : "+r"(len));
    len &= ESC_DATA_MASK;
    if (events.ringbuf_output(e, offsetof(struct esc_event, data) + len, 0)) {
        ct_count_lost();
        return -1;
    }
    return 0;
}

static __always_inline struct esc_counts *esc_counted(struct esc_event *e)
{
    struct esc_count_key key = {.cgroup_id = e->cgroup_id, .mntns = e->mntns,
                                .technique = e->technique};
    struct esc_counts *c = esc_counts.lookup(&key);
    if (!c) {
        struct esc_counts zero = {};
        esc_counts.insert(&key, &zero);
        c = esc_counts.lookup(&key);
    }
    if (!c) {
        int idx = 0;
        u64 *n = esc_uncounted.lookup(&idx);
        if (n)
            __sync_fetch_and_add(n, 1);
        return NULL;
    }
    __sync_fetch_and_add(&c->attempts, 1);
    if (e->ret >= 0)
        __sync_fetch_and_add(&c->successes, 1);
    return c;
}

/* --kill: SIGKILL to the current process, before it returns to user
 * space, for a successful attempt of a technique named, by a task judged
 * (never the runtime's set-up, ctrace, or a host process without --host)
 * of a container not excluded.  A refused attempt did no harm. */
static __always_inline int esc_kill(struct esc_event *e)
{
#if ESC_KILL
    if (!(ESC_KILL & (1u << e->technique)) || e->ret < 0)
        return 0;
    if (esc_exclude_cgroup.lookup(&e->cgroup_id) || esc_exclude_mntns.lookup(&e->mntns))
        return 0;
    bpf_send_signal(ESC_SIGKILL);
    e->flags |= ESC_F_KILLED;
    return 1;
#else
    return 0;
#endif
}

/* A finding, its context filled (esc_context): killed if --kill says so,
 * counted, folded if it repeats one sent less than a second ago (same
 * container, technique, call, outcome: success, killed or the errno, and
 * object), else sent with the number folded since. */
static __always_inline void esc_settle(struct esc_event *e, u64 object)
{
    int killed = esc_kill(e);
    struct esc_counts *c = esc_counted(e);
    if (c && killed)
        __sync_fetch_and_add(&c->killed, 1);
    struct esc_repeat_key rk = {.cgroup_id = e->cgroup_id, .object = object,
                                .mntns = e->mntns, .technique = e->technique,
                                .nr = e->nr, .ret = e->ret < 0 ? e->ret : killed};
    struct esc_repeat *r = esc_repeats.lookup(&rk);
    if (r && e->ts_ns - r->window_ns < ESC_REPEAT_NS) {
        __sync_fetch_and_add(&r->pending, 1);
        if (c)
            __sync_fetch_and_add(&c->repeats, 1);
        return;
    }
    if (r) {
        u64 pending = r->pending;
        __sync_fetch_and_add(&r->pending, -pending);
        r->window_ns = e->ts_ns;
        e->repeats = pending;
    } else {
        struct esc_repeat fresh = {.window_ns = e->ts_ns};
        esc_repeats.update(&rk, &fresh);
    }
    int full = esc_send(e);
    if (c)
        __sync_fetch_and_add(full ? &c->lost : &c->sent, 1);
}

/* Every finding ends here (a usermode helper's exec aside: it is user
 * space's to judge, sched_process_exec). */
static __always_inline void esc_report(struct esc_event *e, u64 object,
                                       const struct ct_task *t)
{
    esc_context(e, t);
    esc_settle(e, object);
}

/* Append a user string (NUL included) to data[]. */
static __always_inline void esc_add_user_str(struct esc_event *e, const void *s)
{
    u32 len = ESC_DATA_LEN(e);
    if (len > ESC_DATA_MASK + 1 - ESC_NAME_MAX)
        return;
    long n = 0;
    if (s)
        n = ct_read_user_str(&e->data[len & ESC_DATA_MASK], ESC_NAME_MAX, s);
    if (n <= 0) {
        e->data[len & ESC_DATA_MASK] = 0;
        n = 1;
    }
    ESC_DATA_LEN(e) = len + n;
}

/* -- names: the rules on strings (esc_names) -------------------------------- */

/* The rule esc_names holds for KIND and the name at data[START] (up to
 * data_len, at most 15 bytes), or 0. */
static __always_inline u32 esc_name_rule(struct esc_event *e, u32 kind, u32 start)
{
    struct esc_name_key k = {.kind = kind};
    u32 end = ESC_DATA_LEN(e);
    /* A loop, not unrolled: seven copies of this inlined (the names of
     * opens, sockets, mounts) were an eighth of the programs' size. */
#pragma clang loop unroll(disable)
    for (int i = 0; i < ESC_NAME_KEY - 1; i++) {
        u32 at = start + i;
        if (at >= end)
            break;
        u8 ch = e->data[at & ESC_DATA_MASK];
        if (!ch)
            break;
        if (i < 8)
            k.name[0] |= (u64)ch << (8 * i);
        else
            k.name[1] |= (u64)ch << (8 * (i - 8));
    }
    u32 *rule = esc_names.lookup(&k);
    return rule ? *rule : 0;
}

/* The rule of the last name of the string in data[] (a path), or 0.  The
 * cursor is kept in fs_path_len, unused while data[] holds a given path. */
static __always_inline u32 esc_leaf_rule(struct esc_event *e, u32 kind)
{
    ESC_FS_LEN(e) = 0;
    for (int i = 0; i < ESC_NAME_MAX; i++) {
        if (i + 1 >= ESC_DATA_LEN(e))
            break;
        if (e->data[i & ESC_DATA_MASK] == '/')
            ESC_FS_LEN(e) = i + 1;
    }
    u32 start = ESC_FS_LEN(e);
    ESC_FS_LEN(e) = 0;
    return esc_name_rule(e, kind, start & ESC_DATA_MASK);
}

/* -- files: what the opened object is -------------------------------------- */

/* Read a dentry's name as a name key: its first 15 bytes and a NUL. */
static __always_inline void esc_dentry_name(void *dentry, u64 *name)
{
    name[0] = 0;
    name[1] = 0;
    bpf_probe_read_kernel_str(name, ESC_NAME_KEY, ct_read_ptr(dentry, CT_OFF_DENTRY_D_NAME_NAME));
}

/* A host file rule for DENTRY (named NAME) in its parent PARENT, or 0. */
static __always_inline u32 esc_host_rule(struct esc_event *e, void *dentry, void *parent, u64 *name)
{
    struct esc_host_key hk = {.dev = e->dev};
    hk.name[0] = name[0];
    hk.name[1] = name[1];
    hk.name_len = ct_read_u32(dentry, ESC_OFF_DENTRY_D_NAME_LEN);
    void *dir = ct_read_ptr(parent, ESC_OFF_DENTRY_D_INODE);
    if (dir)
        bpf_probe_read_kernel(&hk.dir_ino, sizeof(hk.dir_ino), dir + ESC_OFF_INODE_I_INO);
    u32 *v = esc_host_files.lookup(&hk);
    return v ? *v : 0;
}

/* Walk DENTRY up to its filesystem's root: the path within the filesystem
 * into data[] at ESC_FS_PATH_AT (names leaf first), the first three names
 * and the depth into OK, and the nearest host file rule met on the way
 * into e->rule (e->rule_level: at which name). */
static __always_inline void esc_fs_walk(struct esc_event *e, void *dentry,
                                        struct esc_object_key *ok)
{
    for (int i = 0; i < ESC_FS_DEPTH; i++) {
        void *parent = ct_read_ptr(dentry, CT_OFF_DENTRY_D_PARENT);
        if (!parent || parent == dentry) {
            ok->depth = i;
            if (!e->rule && ESC_WANTS(ESC_T_HOST_FILE)) {
                /* The root: a whole filesystem of the host's (/boot). */
                struct esc_host_key hk = {.dev = e->dev};
                u32 *v = esc_host_files.lookup(&hk);
                if (v) {
                    e->rule = *v & 0xffff;
                    e->reason = *v >> 16;
                    e->rule_level = i;
                }
            }
            return;
        }
        u64 name[2];
        esc_dentry_name(dentry, name);
        if (i < 3) {
            ok->names[2 * i] = name[0];
            ok->names[2 * i + 1] = name[1];
        }
        if (!e->rule && ESC_WANTS(ESC_T_HOST_FILE)) {
            u32 v = esc_host_rule(e, dentry, parent, name);
            if (v) {
                e->rule = v & 0xffff;
                e->reason = v >> 16;        /* ESC_HOST_*: replaced when judged */
                e->rule_level = i;
            }
        }
        u32 n = ESC_FS_LEN(e);
        if (n <= ESC_PATH_ROOM) {
            long got = bpf_probe_read_kernel_str(&e->data[(ESC_FS_PATH_AT + n) & ESC_DATA_MASK],
                                                 CT_PATH_NAME_MAX,
                                                 ct_read_ptr(dentry, CT_OFF_DENTRY_D_NAME_NAME));
            if (got > 0)
                ESC_FS_LEN(e) = n + got;
        }
        dentry = parent;
    }
    ok->depth = ESC_FS_DEPTH;       /* deeper: only rules on the leaf apply */
}

/* FILE's object into E: inode, device, filesystem, its path within the
 * filesystem (with the rules met on the way) and as the task sees it (up
 * to its root, crossing mounts, like d_path()).  The object key into OK. */
static __always_inline void esc_file_object(struct esc_event *e, void *file,
                                            struct esc_object_key *ok)
{
    void *mnt = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_MNT);
    void *dentry = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_DENTRY);
    void *inode = ct_read_ptr(file, CT_OFF_FILE_F_INODE);
    void *sb = ct_read_ptr(inode, CT_OFF_INODE_I_SB);
    __builtin_memset(ok, 0, sizeof(*ok));
    if (!inode || !sb)
        return;
    bpf_probe_read_kernel(&e->ino, sizeof(e->ino), inode + ESC_OFF_INODE_I_INO);
    e->dev = ct_read_u32(sb, ESC_OFF_SUPER_BLOCK_S_DEV);
    e->fs_magic = (u32)(unsigned long)ct_read_ptr(sb, CT_OFF_SUPER_BLOCK_S_MAGIC);
    e->flags |= ESC_F_OBJECT;
    ok->magic = e->fs_magic;
    esc_fs_walk(e, dentry, ok);
    u32 how = ct_path_names(mnt, dentry, e->data, 0, ESC_DATA_MASK, ESC_PATH_ROOM,
                            &e->data_len, ESC_MAX_DEPTH);
    if (how & CT_PATH_RESOLVED)
        e->flags |= ESC_F_RESOLVED;
    if (how & CT_PATH_OUTSIDE_ROOT)
        e->flags |= ESC_F_OUTSIDE_ROOT;
    if (how & CT_PATH_OUTSIDE_MOUNT)
        e->flags |= ESC_F_OUTSIDE_MOUNT;
}

/* The object rule for OK (its full path, else its leaf at any depth). */
static __always_inline u32 esc_object_rule(struct esc_object_key *ok)
{
    u32 *rule = esc_object_rules.lookup(ok);
    if (rule)
        return *rule;
    ok->depth = 0;
    ok->names[2] = ok->names[3] = 0;
    ok->names[4] = ok->names[5] = 0;
    rule = esc_object_rules.lookup(ok);
    return rule ? *rule : 0;
}

/* A procfs file of a process other than the current one (/proc/PID/mem):
 * its proc inode's pid is neither the task's nor its leader's. */
static __always_inline int esc_other_process(void *file, const struct ct_task *t)
{
    void *inode = ct_read_ptr(file, CT_OFF_FILE_F_INODE);
    void *pid = ct_read_ptr(inode - ESC_OFF_PROC_INODE_VFS_INODE, ESC_OFF_PROC_INODE_PID);
    return pid && pid != CT_LOAD(void *, t->task, CT_OFF_TASK_THREAD_PID) &&
           pid != (void *)t->pid;
}

/* The mem character device (major 1): 1 mem, 2 kmem, 4 port. */
static __always_inline int esc_mem_device(u16 mode, u32 rdev)
{
    u32 minor = rdev & 0xfffff;
    return (mode & ESC_S_IFMT) == ESC_S_IFCHR && (rdev >> 20) == ESC_MEM_MAJOR &&
           (minor == 1 || minor == 2 || minor == 4);
}

/* Is the file E holds (FILE, opened for writing) a finding, and of which
 * technique?  The most specific rule first. */
static __always_inline int esc_judge_write(struct esc_event *e, void *file,
                                           const struct ct_task *t,
                                           struct esc_object_key *ok)
{
    u32 host = e->reason, host_rule = e->rule;
    e->reason = 0;
    e->rule = 0;
    u32 rule = esc_object_rule(ok);
    if (rule && (!(rule & ESC_RULE_OTHER_PROCESS) || esc_other_process(file, t))) {
        e->reason = ESC_R_OBJECT;
        e->rule = rule & 0xffff;
        return ESC_WANTS(ESC_T_SENSITIVE_WRITE);
    }
    void *inode = ct_read_ptr(file, CT_OFF_FILE_F_INODE);
    u16 mode = 0;
    bpf_probe_read_kernel(&mode, sizeof(mode), inode + CT_OFF_INODE_I_MODE);
    if ((mode & ESC_S_IFMT) == ESC_S_IFBLK || esc_mem_device(mode, ct_read_u32(inode, ESC_OFF_INODE_I_RDEV))) {
        e->reason = (mode & ESC_S_IFMT) == ESC_S_IFBLK ? ESC_R_BLOCK_DEVICE : ESC_R_MEM_DEVICE;
        return ESC_WANTS(ESC_T_SENSITIVE_WRITE);
    }
    if (host == ESC_HOST_RUNTIME) {
        /* The runtime's own file bind-mounted alone (hostname, hosts,
         * resolv.conf) is the container's to write. */
        void *mnt = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_MNT);
        void *dentry = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_DENTRY);
        host = dentry == ct_read_ptr(mnt, CT_OFF_VFSMOUNT_MNT_ROOT) ? ESC_HOST_SILENT
                                                                   : ESC_HOST_SENSITIVE;
    }
    if (host == ESC_HOST_SENSITIVE) {
        e->technique = ESC_T_HOST_FILE;
        e->reason = ESC_R_HOST_FILE;
        e->rule = host_rule;
        return ESC_WANTS(ESC_T_HOST_FILE);
    }
    if (host != ESC_HOST_SILENT && (e->flags & (ESC_F_OUTSIDE_ROOT | ESC_F_OUTSIDE_MOUNT))) {
        e->reason = ESC_R_OUTSIDE;
        return ESC_WANTS(ESC_T_SENSITIVE_WRITE);
    }
    return 0;
}

/* E, a call's finding on FILE (opened for writing, or by handle): FILE's
 * object read, and an open for writing judged (esc_judge_write); NULL if
 * it is no finding.  One step for every such call, so that a program holds
 * one inlined copy of the object's walks. */
static __always_inline struct esc_event *esc_file_judged(struct esc_event *e, void *file,
                                                         const struct ct_task *t, u64 *object)
{
    int zero = 0;
    struct esc_object_key *ok = esc_object_scratch.lookup(&zero);
    if (!ok)
        return NULL;
    esc_file_object(e, file, ok);
    if (e->technique == ESC_T_FILE_HANDLE) {
        /* A handle's finding is the call itself; rules do not apply. */
        e->rule = 0;
        e->reason = 0;
    } else if (!esc_judge_write(e, file, t, ok)) {
        return NULL;
    }
    *object = e->ino ^ ((u64)e->dev << 32);
    return e;
}

/* -- sensitive-write, host-file: opens with write intent ------------------- */

/* E, an open with write intent that failed on a rule's name, or NULL; or,
 * for one that succeeded, E for esc_file_judged() (*FILE_FD set to its
 * descriptor). */
static __always_inline struct esc_event *esc_open(struct esc_event *e, char *regs, u32 nr,
                                                  long ret, u64 *object, long *file_fd)
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
        ct_read_user(&flags, sizeof(flags),
                            (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG2));
    }
    /* Read-only (openat2's how->flags: esc_step_of drops the others). */
    if (!ESC_WRITE_INTENT(flags))
        return NULL;
    e->arg0 = flags;
    if (ret < 0) {
        /* No file: judged on the last name as given (a kernel object's). */
        esc_add_user_str(e, path);
        u32 rule = esc_leaf_rule(e, ESC_N_OPEN_LEAF);
        if (!rule || !ESC_WANTS(ESC_T_SENSITIVE_WRITE))
            return NULL;
        e->reason = ESC_R_NAME;
        e->rule = rule;
        *object = rule;
        return e;
    }
    *file_fd = ret;
    return e;
}

/* -- file-handle: open_by_handle_at, name_to_handle_at ---------------------- */

static __always_inline struct esc_event *esc_file_handle(struct esc_event *e, char *regs,
                                                         u32 nr, long ret, u64 *object,
                                                         long *file_fd)
{
    if (nr == ESC_NR_NAME_TO_HANDLE_AT) {
        /* name_to_handle_at(dfd, path, handle, mount_id, flags) */
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1));
        return e;
    }
    /* open_by_handle_at(mount_fd, struct file_handle *handle, flags) */
    u32 handle[3] = {};         /* handle_bytes, handle_type, f_handle[0..4) */
    ct_read_user(handle, sizeof(handle), (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1));
    e->arg0 = CT_LOAD(u64, regs, CT_OFF_REGS_ARG2);
    e->arg1 = handle[1];
    *object = ((u64)handle[1] << 32) | handle[2];
    if (ret >= 0)
        *file_fd = ret;         /* the object: esc_file_judged() */
    return e;
}

/* -- host-namespace: setns -------------------------------------------------- */

static __always_inline int esc_host_ns(u64 inum)
{
    return inum == CT_HOST_NS_MNT || inum == CT_HOST_NS_PID || inum == CT_HOST_NS_NET ||
           inum == CT_HOST_NS_UTS || inum == CT_HOST_NS_IPC ||
           inum == CT_HOST_NS_CGROUP || inum == CT_HOST_NS_USER ||
           inum == CT_HOST_NS_TIME;
}

static __always_inline struct esc_event *esc_setns(struct esc_event *e, const struct ct_task *t,
                                                   char *regs,
                                                   long ret, u64 *object)
{
    s64 fd = CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
    void *inode = ct_read_ptr(ct_task_file((void *)bpf_get_current_task(), fd), CT_OFF_FILE_F_INODE);
    u64 inum = 0;
    if (inode)
        bpf_probe_read_kernel(&inum, sizeof(inum), inode + ESC_OFF_INODE_I_INO);
    /* Into a host namespace, or (a pidfd) now in the host's mount one. */
    if (!esc_host_ns(inum) && !(ret == 0 && ct_cur_mntns(t) == CT_HOST_NS_MNT))
        return NULL;
    e->arg0 = CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
    e->arg1 = inum;
    *object = inum;
    return e;
}

/* -- runtime-socket: connect to a unix socket -------------------------------- */

/* The name the listener bound, wherever the caller found it, into data[]:
 * the peer of FILE, a connected unix socket. */
static __always_inline void esc_peer_name(struct esc_event *e, void *file)
{
    void *sock = ct_read_ptr(file, CT_OFF_FILE_PRIVATE_DATA);
    void *sk = ct_read_ptr(sock, CT_OFF_SOCKET_SK);
    void *ua = ct_read_ptr(ct_read_ptr(sk, ESC_OFF_UNIX_SOCK_PEER), ESC_OFF_UNIX_SOCK_ADDR);
    if (!ua)
        return;
    u32 len = ct_read_u32(ua, ESC_OFF_UNIX_ADDRESS_LEN);
    if (len > 2 && len <= 2 + ESC_UNIX_PATH) {
        len -= 2;
        asm volatile("" : "+r"(len));       /* the mask stays: see esc_connect */
        bpf_probe_read_kernel(e->data, len & 127, ua + ESC_OFF_UNIX_ADDRESS_NAME + 2);
        e->data[len & 127] = 0;
        e->data_len = len + 1;
        e->flags |= ESC_F_PEER;
    }
}

/* A runtime's API socket, named in data[]: by its last name, or where
 * runtimes keep theirs (an abstract name's leading NUL compares as '@'). */
static __always_inline struct esc_event *esc_socket_judged(struct esc_event *e, u64 *object)
{
    u8 first = e->data[0];
    if (!first)
        e->data[0] = '@';
    u32 rule = esc_name_rule(e, ESC_N_SOCKET_PREFIX, 0);
    if (!first)
        e->data[0] = 0;
    if (!rule)
        rule = esc_leaf_rule(e, ESC_N_SOCKET_LEAF);
    if (!rule)
        return NULL;
    e->rule = rule;
    *object = rule;
    return e;
}

/* E with the name a unix connect reached in data[], for esc_socket_judged()
 * (the program's, shared with io_uring's connects), or NULL. */
static __always_inline struct esc_event *esc_connect(struct esc_event *e, char *regs, long ret)
{
    const void *addr = (const void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
    u16 family = 0;
    if (ct_read_user(&family, sizeof(family), addr) || family != ESC_AF_UNIX)
        return NULL;
    if (ret == 0 || ret == -ESC_EINPROGRESS)
        esc_peer_name(e, ct_task_file((void *)bpf_get_current_task(),
                                      CT_LOAD(u64, regs, CT_OFF_REGS_ARG0)));
    if (!(e->flags & ESC_F_PEER)) {
        u32 len = CT_LOAD(u64, regs, CT_OFF_REGS_ARG2);
        if (len > 2 + ESC_UNIX_PATH)
            len = 2 + ESC_UNIX_PATH;
        if (len <= 2)
            return NULL;
        len -= 2;
        /* The clamp above makes the mask redundant to the optimizer, which
         * may drop it and pass a copy whose bounds the verifier never saw. */
        asm volatile("" : "+r"(len));
        ct_read_user(e->data, len & 127, addr + 2);
        e->data[len & 127] = 0;
        e->data_len = len + 1;
    }
    return e;
}

/* -- ptrace, process_vm_writev --------------------------------------------- */

/* The tracee a successful attach added: it heads the tracer's list. */
static __always_inline void esc_tracee(struct esc_event *e)
{
    void *task = (void *)bpf_get_current_task();
    void *next = ct_read_ptr(task, ESC_OFF_TASK_PTRACED);
    if (!next || next == task + ESC_OFF_TASK_PTRACED)
        return;
    void *tracee = next - ESC_OFF_TASK_PTRACE_ENTRY;
    void *nsproxy = ct_read_ptr(tracee, CT_OFF_TASK_NSPROXY);
    e->target_mntns = ct_read_u32(ct_read_ptr(nsproxy, CT_OFF_NSPROXY_MNT_NS), CT_OFF_MNT_NS_INUM);
    if (e->target_mntns)
        e->flags |= ESC_F_TARGET;
}

static __always_inline struct esc_event *esc_ptrace(struct esc_event *e, const struct ct_task *t,
                                                    char *regs,
                                                    u32 nr, long ret, u64 *object)
{
    u64 req = CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
    if (nr == ESC_NR_PTRACE && req != ESC_PTRACE_ATTACH && req != ESC_PTRACE_SEIZE &&
        req != ESC_PTRACE_POKETEXT && req != ESC_PTRACE_POKEDATA &&
        req != ESC_PTRACE_POKEUSR)
        return NULL;
    if (nr == ESC_NR_PTRACE) {
        e->arg0 = req;
        e->arg1 = CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
        if (ret == 0 && (req == ESC_PTRACE_ATTACH || req == ESC_PTRACE_SEIZE))
            esc_tracee(e);
    } else {
        e->arg1 = CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
    }
    /* Another container's or the host's process: the tracee's namespace
     * where the attach says it; else any target a task numbering PIDs in
     * the host's pid namespace names (a container's own pid namespace
     * holds only the container). */
    u32 vpid;
    if (e->flags & ESC_F_TARGET) {
        if (e->target_mntns == ct_cur_mntns(t))
            return NULL;
    } else if (ct_pid_in_ns(t->pid, &vpid) != CT_HOST_NS_PID) {
        return NULL;
    }
    *object = e->arg1 | (req << 32);
    return e;
}

/* -- mount ------------------------------------------------------------------- */

/* mount(source, target, type, flags, data): a bind, or a filesystem that
 * reaches the kernel or the host (esc_names), or a device's; data[] holds
 * source, target and, at TYPE_AT, type. */
static __always_inline u32 esc_mount_rule(struct esc_event *e, u64 flags, u32 type_at)
{
    if (flags & ESC_MS_BIND)
        return ESC_RULE_BIND;
    if (flags & ESC_MS_REMOUNT)
        return 0;
    u32 rule = esc_name_rule(e, ESC_N_MOUNT_TYPE, type_at & ESC_DATA_MASK);
    if (rule == ESC_RULE_SILENT)
        return 0;
    if (rule)
        return rule;
    if (e->data[0] == '/' && e->data[1] == 'd' && e->data[2] == 'e' && e->data[3] == 'v' &&
        e->data[4] == '/')
        return ESC_RULE_DEVICE;         /* source /dev/...: a device's filesystem */
    return 0;
}

static __always_inline struct esc_event *esc_mount(struct esc_event *e, char *regs, u32 nr,
                                                   u64 *object)
{
    if (nr == ESC_NR_MOUNT) {
        e->arg0 = CT_LOAD(u64, regs, CT_OFF_REGS_ARG3);
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0));
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1));
        u32 type_at = ESC_DATA_LEN(e);
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG2));
        u32 rule = esc_mount_rule(e, e->arg0, type_at);
        if (!rule)
            return NULL;
        e->rule = rule;
        *object = rule | (e->arg0 << 16);
        return e;
    }
    if (nr == ESC_NR_FSOPEN) {
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0));
    } else if (nr == ESC_NR_OPEN_TREE) {
        e->arg0 = CT_LOAD(u64, regs, CT_OFF_REGS_ARG2);
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1));
    } else if (nr == ESC_NR_MOVE_MOUNT) {
        esc_add_user_str(e, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG3));
    }
    *object = e->arg0;
    return e;
}

/* -- the others ------------------------------------------------------------- */

static __always_inline struct esc_event *esc_simple(struct esc_event *e, u64 arg0,
                                                    const void *str, u64 *object)
{
    e->arg0 = arg0;
    if (str)
        esc_add_user_str(e, str);
    *object = arg0;
    return e;
}

#if ESC_WANTS(ESC_T_PRIVILEGE)
/* setuid, setreuid, setresuid: a task whose real uid was not root at its
 * exec (a binary with file capabilities, CAP_SETUID, or a set-uid one that
 * now makes itself root for good) has effective uid 0. */
static __always_inline struct esc_event *esc_setuid(struct esc_event *e, const struct ct_task *t,
                                                    long ret, u64 *object)
{
    if (ret != 0)
        return NULL;
    u32 *was = esc_unpriv.task_storage_get(t->task, NULL, 0);
    if (!was || !*was)
        return NULL;
    void *cred = ct_read_ptr(t->task, ESC_OFF_TASK_CRED);
    if (ct_read_u32(cred, ESC_OFF_CRED_EUID) != 0)
        return NULL;
    u32 uid = *was - 1;
    *was = 0;       /* root now: once */
    e->arg1 = uid;
    *object = uid;
    return e;
}
#endif

/* The kernel-attack-surface calls: new user namespaces among them. */
static __always_inline struct esc_event *esc_surface(struct esc_event *e,
                                                     const struct ct_task *t, char *regs,
                                                     u32 nr, long ret, u64 *object)
{
    u64 flags = CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);    /* io_uring_setup: entries */
    if (nr == ESC_NR_CLONE3) {
        if (ret == 0)
            return NULL;
        flags = 0;      /* struct clone_args starts with flags */
        ct_read_user(&flags, sizeof(flags), (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0));
    }
    if ((nr == ESC_NR_UNSHARE || nr == ESC_NR_CLONE || nr == ESC_NR_CLONE3) &&
        (!(flags & ESC_CLONE_NEWUSER) || (nr == ESC_NR_CLONE && ret == 0)))
        return NULL;
    if (!ESC_ALL && ret == -ESC_EPERM && ct_filter_governs(t))
        return NULL;    /* refused by the container's seccomp profile: --all */
    return esc_simple(e, flags, NULL, object);
}

static __always_inline struct esc_event *esc_module(struct esc_event *e, char *regs, u32 nr,
                                                    u64 *object)
{
    if (nr == ESC_NR_INIT_MODULE)
        return esc_simple(e, CT_LOAD(u64, regs, CT_OFF_REGS_ARG1), NULL, object);
    if (nr == ESC_NR_FINIT_MODULE)
        return esc_simple(e, CT_LOAD(u64, regs, CT_OFF_REGS_ARG0), NULL, object);
    return esc_simple(e, 0, (void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0), object);
}

/* -- the system calls: which step, one judgement, one report -------------- */

#define ESC_T_NONE ESC_T_COUNT      /* a call no wanted technique judges */

/* The technique whose step judges call NR (esc_step), or ESC_T_NONE: the
 * one place that looks at the number, so that the task is judged
 * (esc_judged) and the event started (esc_new) once in the program, after
 * it, and only for calls that matter.  Every other call, and a read-only
 * open (the hot path), ends here on one load.  The opens' step serves
 * host-file too (esc_judge_write sets the technique). */
static __always_inline u32 esc_step_of(u32 nr, char *regs)
{
    switch (nr) {
#if ESC_WANTS(ESC_T_SENSITIVE_WRITE) || ESC_WANTS(ESC_T_HOST_FILE)
    case ESC_NR_OPENAT:
        return ESC_WRITE_INTENT(CT_LOAD(u64, regs, CT_OFF_REGS_ARG2)) ? ESC_T_SENSITIVE_WRITE
                                                                       : ESC_T_NONE;
    case ESC_NR_OPEN:
        return ESC_WRITE_INTENT(CT_LOAD(u64, regs, CT_OFF_REGS_ARG1)) ? ESC_T_SENSITIVE_WRITE
                                                                       : ESC_T_NONE;
    case ESC_NR_CREAT:
    case ESC_NR_OPENAT2:
        return ESC_T_SENSITIVE_WRITE;
#endif
#if ESC_WANTS(ESC_T_FILE_HANDLE)
    case ESC_NR_OPEN_BY_HANDLE_AT:
#if ESC_ALL
    case ESC_NR_NAME_TO_HANDLE_AT:      /* a handle made: --all */
#endif
        return ESC_T_FILE_HANDLE;
#endif
#if ESC_WANTS(ESC_T_RUNTIME_SOCKET)
    case ESC_NR_CONNECT:
        return ESC_T_RUNTIME_SOCKET;
#endif
#if ESC_WANTS(ESC_T_MOUNT)
    case ESC_NR_MOUNT:
    case ESC_NR_FSOPEN:
    case ESC_NR_FSMOUNT:
    case ESC_NR_MOVE_MOUNT:
    case ESC_NR_OPEN_TREE:
        return ESC_T_MOUNT;
#endif
#if ESC_WANTS(ESC_T_HOST_NAMESPACE)
    case ESC_NR_SETNS:
        return ESC_T_HOST_NAMESPACE;
#endif
#if ESC_WANTS(ESC_T_PTRACE)
    case ESC_NR_PTRACE:
    case ESC_NR_PROCESS_VM_WRITEV:
        return ESC_T_PTRACE;
#endif
#if ESC_WANTS(ESC_T_PRIVILEGE)
    case ESC_NR_SETUID:
    case ESC_NR_SETREUID:
    case ESC_NR_SETRESUID:
        return ESC_T_PRIVILEGE;
#endif
#if ESC_WANTS(ESC_T_KERNEL_MODULE)
    case ESC_NR_INIT_MODULE:
    case ESC_NR_FINIT_MODULE:
    case ESC_NR_DELETE_MODULE:
        return ESC_T_KERNEL_MODULE;
#endif
#if ESC_WANTS(ESC_T_KERNEL_ATTACK_SURFACE)
    case ESC_NR_BPF:
    case ESC_NR_PERF_EVENT_OPEN:
    case ESC_NR_USERFAULTFD:
    case ESC_NR_KEYCTL:
    case ESC_NR_ADD_KEY:
    case ESC_NR_REQUEST_KEY:
    case ESC_NR_UNSHARE:
    case ESC_NR_CLONE:
    case ESC_NR_CLONE3:
#if ESC_ALL
    case ESC_NR_IO_URING_SETUP:     /* a ring: operations no system call tracepoint sees */
#endif
        return ESC_T_KERNEL_ATTACK_SURFACE;
#endif
    }
    return ESC_T_NONE;
}

/* E (started for STEP, esc_step_of's answer) as a finding of the call, or
 * NULL: the technique's step.  Only the wanted techniques' steps are
 * compiled (STEP is read back from the event: the compiler cannot tell). */
static __always_inline struct esc_event *esc_step(struct esc_event *e, u32 step,
                                                  const struct ct_task *t, char *regs, u32 nr,
                                                  long ret, u64 *object, long *file_fd)
{
    switch (step) {
#if ESC_WANTS(ESC_T_SENSITIVE_WRITE) || ESC_WANTS(ESC_T_HOST_FILE)
    case ESC_T_SENSITIVE_WRITE:
        return esc_open(e, regs, nr, ret, object, file_fd);
#endif
#if ESC_WANTS(ESC_T_FILE_HANDLE)
    case ESC_T_FILE_HANDLE:
        return esc_file_handle(e, regs, nr, ret, object, file_fd);
#endif
#if ESC_WANTS(ESC_T_RUNTIME_SOCKET)
    case ESC_T_RUNTIME_SOCKET:
        return esc_connect(e, regs, ret);
#endif
#if ESC_WANTS(ESC_T_MOUNT)
    case ESC_T_MOUNT:
        return esc_mount(e, regs, nr, object);
#endif
#if ESC_WANTS(ESC_T_HOST_NAMESPACE)
    case ESC_T_HOST_NAMESPACE:
        return esc_setns(e, t, regs, ret, object);
#endif
#if ESC_WANTS(ESC_T_PTRACE)
    case ESC_T_PTRACE:
        return esc_ptrace(e, t, regs, nr, ret, object);
#endif
#if ESC_WANTS(ESC_T_PRIVILEGE)
    case ESC_T_PRIVILEGE:
        return esc_setuid(e, t, ret, object);
#endif
#if ESC_WANTS(ESC_T_KERNEL_MODULE)
    case ESC_T_KERNEL_MODULE:
        return esc_module(e, regs, nr, object);
#endif
#if ESC_WANTS(ESC_T_KERNEL_ATTACK_SURFACE)
    case ESC_T_KERNEL_ATTACK_SURFACE:
        return esc_surface(e, t, regs, nr, ret, object);
#endif
    }
    return NULL;
}

/* -- io_uring: operations no system call tracepoint sees ------------------- *
 *
 * Judged at completion by the same rules as the system calls, in a thread
 * of the ring's process (the submitter, an io worker or the polling
 * thread): an open for writing on the file it opened (a failed one on the
 * last name of its path, kept from submit when it matched a rule), a
 * connect on the name its peer bound.  --kill kills the ring's process
 * there.  esc_event.nr: ESC_NR_URING | the opcode.  The completion is
 * judged by the sys_exit program, attached at io_uring_complete too (below). */

#if CT_URING
static __always_inline int esc_uring_open_op(u32 op)
{
    return (op == CT_IORING_OP_OPENAT || op == CT_IORING_OP_OPENAT2) &&
           (ESC_WANTS(ESC_T_SENSITIVE_WRITE) || ESC_WANTS(ESC_T_HOST_FILE));
}

/* A finding of an io_uring operation (ct_fill names an io thread by its
 * process's comm, not iou-wrk-*). */
static __always_inline struct esc_event *esc_uring_new(u32 technique, u32 op, s32 res)
{
    return esc_new(technique, ESC_NR_URING | op, res);
}

TRACEPOINT_PROBE(io_uring, io_uring_submit_req)
{
    void *req = args->req;
    if (!esc_uring_open_op(args->opcode) || !ESC_WANTS(ESC_T_SENSITIVE_WRITE) ||
        !ESC_WRITE_INTENT(ct_uring_open_flags(req)))
        return 0;
    struct ct_task t = ct_current();
    if (!esc_judged(&t))
        return 0;
    struct esc_event *e = esc_uring_new(ESC_T_SENSITIVE_WRITE, args->opcode, 0);
    if (!e)
        return 0;
    long n = bpf_probe_read_kernel_str(e->data, ESC_NAME_MAX, ct_uring_open_path(req));
    e->data_len = n > 0 ? n : 0;
    u32 rule = esc_leaf_rule(e, ESC_N_OPEN_LEAF);
    if (rule) {
        e->arg0 = ct_uring_open_flags(req);
        e->reason = ESC_R_NAME;
        e->rule = rule;
        ct_uring_keep(req, e);
    }
    return 0;
}

/* A failed open's finding: the event submit kept (judged there, on the
 * last name of its path), or NULL. */
static __always_inline struct esc_event *esc_uring_failed_open(void *req, u32 op, s32 res,
                                                               u64 *object)
{
    struct esc_event *kept = ct_uring_find(req);
    if (!kept)
        return NULL;
    struct esc_event *e = esc_uring_new(ESC_T_SENSITIVE_WRITE, op, res);
    if (!e)
        return NULL;
    __builtin_memcpy(e->data, kept->data, ESC_NAME_MAX);
    e->data_len = kept->data_len;
    e->arg0 = kept->arg0;
    e->reason = ESC_R_NAME;
    e->rule = kept->rule;
    *object = kept->rule;
    return e;
}

/* A completed request REQ, result RES: a failed open's finding (what submit
 * kept); else, like a system call's (esc_step_of), its step chosen first and
 * the task judged once: a connect's event with the name its peer bound
 * (for esc_socket_judged()), or an open for writing's with *FILE
 * (*JUDGE_FILE set) for esc_file_judged(). */
static __always_inline struct esc_event *esc_uring_completed(void *req, s32 res,
                                                             const struct ct_task *t,
                                                             u64 *object, void **file,
                                                             int *judge_file)
{
    u32 op = ct_uring_opcode(req);
    u32 step = ESC_T_NONE;
    struct esc_event *e = NULL;
    if (esc_uring_open_op(op)) {
        if (res < 0)
            e = esc_uring_failed_open(req, op, res, object);
        else if (ESC_WRITE_INTENT(ct_uring_open_flags(req)))
            step = ESC_T_SENSITIVE_WRITE;
        ct_uring_drop(req);
    } else if (op == CT_IORING_OP_CONNECT && ESC_WANTS(ESC_T_RUNTIME_SOCKET) &&
               (res == 0 || res == -ESC_EINPROGRESS)) {
        step = ESC_T_RUNTIME_SOCKET;
    }
    if (step == ESC_T_NONE || !esc_judged(t))
        return e;
    e = esc_uring_new(step, op, res);
    if (!e)
        return NULL;
    if (step == ESC_T_SENSITIVE_WRITE) {
        e->arg0 = ct_uring_open_flags(req);
        *file = ct_uring_file(req, res);
        *judge_file = 1;
        return e;
    }
    esc_peer_name(e, ct_uring_req_file(req));
    /* A branch, not a mask the verifier refuses on a pointer. */
    u32 peer = e->flags & ESC_F_PEER;
    asm volatile("" : "+r"(peer));
    if (!peer)
        return NULL;
    return e;
}
#endif /* CT_URING */

/* -- every system call's exit, every io_uring completion ------------------- *
 *
 * One program for both, attached at io_uring_complete too (CT_ALSO_AT): the
 * file judgement, most of the code, is compiled and verified once, where
 * two programs took 0.04 s more of the start.  The raw io_uring_complete's
 * first argument is the ring, sys_exit's the task's saved registers; the
 * program loads no argument past sys_exit's two (ct_uring_raw_res). */
RAW_TRACEPOINT_PROBE(sys_exit)
{
    char *task = (char *)bpf_get_current_task_btf();
    char *regs = (char *)bpf_task_pt_regs((struct task_struct *)task);
    struct ct_task tk, *t = &tk;
    struct esc_event *e;
    u64 object = 0;
    void *file = NULL;
    int judge_file = 0;
#if CT_URING
    if ((char *)ctx->args[0] != regs) {     /* io_uring_complete(ring, req, ...) */
        tk = ct_task_of(task);
        e = esc_uring_completed((void *)ctx->args[1], ct_uring_raw_res(ctx->args), t,
                                &object, &file, &judge_file);
    } else
#endif
    {
        u32 nr = CT_LOAD(u32, regs, CT_OFF_REGS_NR);
        u32 step = esc_step_of(nr, regs);
        if (step == ESC_T_NONE)
            return 0;
        long ret = (long)ctx->args[1];
        e = esc_new(step, nr, ret);
        if (!e)
            return 0;
        /* The step and the number again, from the (map) event: the verifier
         * then follows one path through the judgement (and the task's loads,
         * struct ct_task), not one per number. */
        step = *(volatile u32 *)&e->technique;
        nr = *(volatile u32 *)&e->nr;
        tk = ct_task_of(task);
        if (!esc_judged(t))
            return 0;
        long file_fd = -1;
        e = esc_step(e, step, t, regs, nr, ret, &object, &file_fd);
        if (e && file_fd >= 0) {
            file = ct_task_file((void *)bpf_get_current_task(), file_fd);
            judge_file = 1;
        }
    }
    /* Opaque to the compiler: one inlined copy of each judgement for
     * both. */
    asm volatile("" : "+r"(judge_file));
    if (e && judge_file)
        e = esc_file_judged(e, file, t, &object);
    else if (ESC_WANTS(ESC_T_RUNTIME_SOCKET) && e &&
             *(volatile u32 *)&e->technique == ESC_T_RUNTIME_SOCKET)
        e = esc_socket_judged(e, &object);
    if (e)
        esc_report(e, object, t);
    return 0;
}
CT_ALSO_AT(CT_URING, raw_tracepoint__sys_exit, io_uring, io_uring_complete)

/* -- privilege, host-helper-exec: at exec ----------------------------------- */

#if ESC_WANTS(ESC_T_HOST_HELPER_EXEC)
/* The usermode helper: a child of a kernel thread (kthreadd or a kworker),
 * in the host's mount namespace. */
static __always_inline int esc_usermode_helper(const struct ct_task *t)
{
    void *parent = ct_read_ptr(t->task, CT_OFF_TASK_REAL_PARENT);
    return (ct_read_u32(parent, CT_OFF_TASK_FLAGS) & CT_PF_KTHREAD) &&
           ct_cur_mntns(t) == CT_HOST_NS_MNT;
}

/* Its exec of FILENAME: the mount namespace of the mount its file is on. */
static __always_inline struct esc_event *esc_helper_exec(const struct ct_task *t,
                                                         const char *filename)
{
    struct esc_event *e = esc_new(ESC_T_HOST_HELPER_EXEC, ESC_NR_EXEC, 0);
    if (!e)
        return NULL;
    long n = bpf_probe_read_kernel_str(e->data, ESC_NAME_MAX, filename);
    e->data_len = n > 0 ? n : 0;
    void *file = ct_read_ptr(ct_read_ptr(t->task, CT_OFF_TASK_MM), CT_OFF_MM_EXE_FILE);
    void *mnt = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_MNT);
    void *mnt_ns = ct_read_ptr(mnt - CT_OFF_MOUNT_MNT, CT_OFF_MOUNT_MNT_NS);
    e->target_mntns = ct_read_u32(mnt_ns, CT_OFF_MNT_NS_INUM);
    return e;
}
#endif

#if ESC_WANTS(ESC_T_PRIVILEGE)
/* A set-uid exec of FILENAME that made a workload task root.  Keeps, for
 * the set*id calls (esc_setuid), the real uid of a task that is not root. */
static __always_inline struct esc_event *esc_setuid_exec(const struct ct_task *t,
                                                         const char *filename)
{
    void *cred = ct_read_ptr(t->task, ESC_OFF_TASK_CRED);
    u32 uid = ct_read_u32(cred, ESC_OFF_CRED_UID);
    u32 euid = ct_read_u32(cred, ESC_OFF_CRED_EUID);
    if (uid == 0 || !esc_judged(t))
        return NULL;
    u32 *was = esc_unpriv.task_storage_get(t->task, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (was)
        *was = uid + 1;
    if (euid != 0)
        return NULL;
    struct esc_event *e = esc_new(ESC_T_PRIVILEGE, ESC_NR_EXEC, 0);
    if (!e)
        return NULL;
    e->arg0 = euid;
    e->arg1 = uid;
    long n = bpf_probe_read_kernel_str(e->data, ESC_NAME_MAX, filename);
    e->data_len = n > 0 ? n : 0;
    return e;
}
#endif

#if ESC_WANTS(ESC_T_PRIVILEGE) || ESC_WANTS(ESC_T_HOST_HELPER_EXEC)
/* Both findings of an exec through one esc_context (one inlined copy).  A
 * helper's exec is sent for user space to judge (which container's file it
 * runs) and counted there; a privilege finding is reported like a call's,
 * on the uid. */
TRACEPOINT_PROBE(sched, sched_process_exec)
{
    struct ct_task tk = ct_current(), *t = &tk;
    const char *filename = (char *)args + (args->data_loc_filename & 0xffff);
    struct esc_event *e = NULL;
    int helper = 0;
#if ESC_WANTS(ESC_T_HOST_HELPER_EXEC)
    helper = esc_usermode_helper(t);
    if (helper)
        e = esc_helper_exec(t, filename);
#endif
#if ESC_WANTS(ESC_T_PRIVILEGE)
    if (!helper)
        e = esc_setuid_exec(t, filename);
#endif
    if (!e)
        return 0;
    esc_context(e, t);
    if (helper)
        esc_send(e);
    else
        esc_settle(e, e->arg1);
    return 0;
}
#endif
