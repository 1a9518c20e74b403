/* ct_context.h: the container context of an event, and what reading it takes.
 *
 * - CT_CONTEXT_FIELDS: the container context every event starts with (a
 *   field list, not a nested struct: BCC decodes events from the C struct
 *   and only understands flat ones).
 * - struct ct_task (ct_current()): the current task and the pointers read
 *   through it, loaded once where a program starts and handed to the
 *   scope check and the fill.
 * - ct_fill(): the one context fill, for the current task.  It remembers
 *   the names of the task's cgroup in ct_cgroups (cgroup id -> leaf and
 *   parent names), the one map from which user space names containers, so a
 *   container that is gone by the time an event or a summary row is read is
 *   still named.  ct_note_cgroup_kn() does the same for a cgroup reached
 *   otherwise (a socket's).
 * - ct_count_lost(): every event a ring buffer could not take is counted.
 *   (BCC cannot expand map calls inside macros, so each program writes
 *   `if (events.ringbuf_output(...)) ct_count_lost();` itself.)
 *
 * Kernel struct fields are read at offsets taken from the running kernel's
 * BTF, never from headers: no headers package matches the running kernel.
 * A program declares each offset it uses where it uses it, with
 * CT_BTF_OFFSET(NAME, struct.field[, alternative.field]) (the first field
 * the kernel has), CT_BTF_OFFSET_IF(NAME, struct.field) (NAME left undefined
 * where the kernel lacks the field), CT_BTF_SIZE(NAME, struct) or
 * CT_BTF_TP_ARGS(NAME, event) (how many arguments the tracepoint hands a raw
 * program: they change between kernels; 0 if there is no such tracepoint);
 * ctrace.bpf.Program reads
 * these lines, looks the fields up in BTF and defines NAME at the top of
 * the text.  To the compiler the declarations are nothing.
 *
 * A program attached at tracepoints besides its own, whose formats are its
 * own's (the exits of several system calls), names each with
 * CT_ALSO_AT(CONDITION, program, category, event): one program compiled
 * and verified where there would be one per tracepoint.  ctrace.bpf checks
 * those tracepoints with the others and attaches the program there (a raw
 * program as a raw one: it must tell its tracepoints apart by their
 * arguments, and load none past the fewest any of them has, or it cannot
 * attach there).
 *
 * A header that defines programs (TRACEPOINT_PROBE, RAW_TRACEPOINT_PROBE)
 * declares the tracepoint of each beside it, with
 * CT_NEEDS_TRACEPOINT(CONDITION, category, event): CONDITION is the macro
 * the program is compiled under (#if CONDITION), or 1.  ctrace.bpf checks
 * that those in effect exist before loading and that every program loaded
 * is one declared; tests/test_bpf_headers.py that each header's programs
 * and declarations agree.  To the compiler the declarations are nothing.
 */
#ifndef CT_CONTEXT_H
#define CT_CONTEXT_H

#define CT_BTF_OFFSET(...)
#define CT_BTF_OFFSET_IF(...)
#define CT_BTF_SIZE(...)
#define CT_BTF_TP_ARGS(...)
#define CT_NEEDS_TRACEPOINT(...)
#define CT_ALSO_AT(...)

/* bpf_probe_read_user() and _str() under names of our own.  For each call
 * spelt with BCC's names, BCC 0.26's frontend asks its kallsyms cache
 * whether the kernel has the helper, and that cache rebuilds a table of
 * every kernel symbol on each question (KSyms::resolve_name): 30-40 ms a
 * call here, 0.3 s of containerexec's start.  Every kernel ctrace loads on
 * (ring buffers, task storage: 5.11 or later) has both helpers. */
static long (*ct_read_user)(void *dst, u32 size, const void *src) =
    (void *)BPF_FUNC_probe_read_user;
static long (*ct_read_user_str)(void *dst, u32 size, const void *src) =
    (void *)BPF_FUNC_probe_read_user_str;

/* For a program attached at several calls' exits (CT_ALSO_AT): which of
 * up to four calls number NR is, 0-3 in the order given, or -1.  A call the
 * machine lacks is numbered -1 (ctrace.syscalls.nr_defines), which no NR
 * matches; so is an unused place.  The answer is opaque to the compiler, so
 * that the program inlines one copy of what follows, not one per call. */
static __always_inline int ct_call_index(u32 nr, s64 n0, s64 n1, s64 n2, s64 n3)
{
    int i = nr == n0 ? 0 : nr == n1 ? 1 : nr == n2 ? 2 : nr == n3 ? 3 : -1;
    asm volatile("" : "+r"(i));
    return i;
}

/* A task-storage map (BCC's BPF_TASK_STORAGE).  The kernel wants BTF for
 * its key and value, which BCC can only give by compiling with debug
 * information: 0.1-0.3 s of a start.  So ctrace makes these maps itself,
 * values of CT_TASK_STORAGE_BYTES, and pins them where the compile looks
 * (ctrace/bcc_compile.py, which finds them by this macro's name at the
 * start of a line, and compiles with -g0 and CT_PINNED_MAPS defined); BCC
 * opens them there.  Without CT_PINNED_MAPS BCC makes them, as usual.
 * The struct is BPF_TASK_STORAGE's: BCC's rewriter knows the methods. */
#define CT_TASK_STORAGE_BYTES 64
#ifdef CT_PINNED_MAPS
#define CT_TASK_STORAGE(_name, _leaf_type)                                   \
    _Static_assert(sizeof(_leaf_type) <= CT_TASK_STORAGE_BYTES,              \
                   #_name ": the value outgrows CT_TASK_STORAGE_BYTES");      \
    struct _name##_table_t {                                                 \
        int key;                                                             \
        _leaf_type leaf;                                                     \
        void *(*task_storage_get)(void *, void *, int);                      \
        int (*task_storage_delete)(void *);                                  \
        u32 flags;                                                           \
    };                                                                       \
    __attribute__((section("maps/task_storage:" CT_PINNED_MAPS "/" #_name))) \
    struct _name##_table_t _name = {.flags = BPF_F_NO_PREALLOC}
#else
#define CT_TASK_STORAGE(_name, _leaf_type) BPF_TASK_STORAGE(_name, _leaf_type)
#endif

#define CT_COMM_LEN 16
#define CT_CGROUP_NAME_LEN 96

#define CT_CONTEXT_FIELDS                                                    \
    u64 ts_ns;          /* bpf_ktime_get_ns() at the event */               \
    u64 cgroup_id;      /* cgroup v2 id (kernfs node id): see ct_cgroups */  \
    u32 pid;            /* host tgid */                                      \
    u32 tid;            /* host thread id */                                 \
    u32 ppid;           /* host tgid of the real parent */                   \
    u32 uid;                                                                 \
    u32 vpid;           /* tgid inside the task's pid namespace */           \
    u32 mntns;          /* mount namespace inum */                           \
    u32 pidns;          /* pid namespace inum */                             \
    u32 netns;          /* network namespace inum */                         \
    u32 ct_flags;       /* CT_F_* */                                         \
    char comm[CT_COMM_LEN];

struct ct_ctx {
    CT_CONTEXT_FIELDS
};

#define CT_F_HOST_NS 1  /* mount and pid namespace are the host's */
#define CT_F_NEW_CGROUP 2   /* the first event of its cgroup ct_fill() saw */

#ifndef CT_INCLUDE_HOST
#define CT_INCLUDE_HOST 0
#endif
#ifndef CT_FILTER_CONTAINERS
#define CT_FILTER_CONTAINERS 0
#endif
#ifndef CT_HOST_PID_LEVEL
#define CT_HOST_PID_LEVEL 0
#endif
#ifndef CT_CGROUP_ENTRIES
#define CT_CGROUP_ENTRIES 8192
#endif

BPF_PERCPU_ARRAY(ct_lost, u64, 1);

static __always_inline void ct_count_lost(void)
{
    int zero = 0;
    u64 *n = ct_lost.lookup(&zero);
    if (n)
        (*n)++;
}

/* A busy tool's ring buffer (ctrace.bpf.ring_buffer_defines): the flags
 * for a record of BYTES whose context has CT_FLAGS.  The reader is woken
 * only when this CPU has written CT_RING_WAKE_BYTES since its last wakeup
 * (it also reads on a short timer), so a storm costs a wakeup per large
 * batch, not one per event; at once for the first event of a cgroup, so
 * that the reader names a container from its runtime's state while it is
 * still there (one that runs a command and is removed is gone within
 * milliseconds) and keeps the name; and at once when the reader sleeps
 * with everything read (ct_reader_idle), so that an idle tool need not
 * wake on a timer. */
#ifdef CT_RING_WAKE_BYTES
BPF_PERCPU_ARRAY(ct_ring_unwoken, u64, 1);
/* 1 while the reader sleeps with every ring read (ctrace.bpf.Runner): the
 * next event wakes it.  A program that does not use ct_ring_wake() and
 * wakes the reader whenever it has read everything (flags 0, the kernel's
 * own rule) declares the map all the same, to let it sleep. */
BPF_ARRAY(ct_reader_idle, u32, 1);

static __always_inline u64 ct_ring_wake(u32 bytes, u32 ct_flags)
{
    int zero = 0;
    u64 *n = ct_ring_unwoken.lookup(&zero);
    u32 *idle = ct_reader_idle.lookup(&zero);
    if (!n || !idle)
        return 0;
    *n += bytes;
    if (*n < CT_RING_WAKE_BYTES && !(ct_flags & CT_F_NEW_CGROUP) && !*idle)
        return BPF_RB_NO_WAKEUP;
    if (*idle)
        *idle = 0;
    *n = 0;
    return BPF_RB_FORCE_WAKEUP;
}
#endif

/* -- reading kernel structs ------------------------------------------------ */

CT_BTF_OFFSET(CT_OFF_TASK_PID, task_struct.pid)
CT_BTF_OFFSET(CT_OFF_TASK_TGID, task_struct.tgid)
CT_BTF_OFFSET(CT_OFF_TASK_COMM, task_struct.comm)
CT_BTF_OFFSET(CT_OFF_TASK_REAL_PARENT, task_struct.real_parent)
CT_BTF_OFFSET(CT_OFF_TASK_GROUP_LEADER, task_struct.group_leader)
CT_BTF_OFFSET(CT_OFF_TASK_FLAGS, task_struct.flags)
CT_BTF_OFFSET(CT_OFF_TASK_NSPROXY, task_struct.nsproxy)
CT_BTF_OFFSET(CT_OFF_NSPROXY_MNT_NS, nsproxy.mnt_ns)
CT_BTF_OFFSET(CT_OFF_MNT_NS_INUM, mnt_namespace.ns.inum)
CT_BTF_OFFSET(CT_OFF_NSPROXY_NET_NS, nsproxy.net_ns)
CT_BTF_OFFSET(CT_OFF_NET_INUM, net.ns.inum)
CT_BTF_OFFSET(CT_OFF_TASK_THREAD_PID, task_struct.thread_pid)
CT_BTF_OFFSET(CT_OFF_TASK_SIGNAL, task_struct.signal)
CT_BTF_OFFSET(CT_OFF_SIGNAL_PIDS, signal_struct.pids)
CT_BTF_OFFSET(CT_OFF_PID_LEVEL, pid.level)
CT_BTF_OFFSET(CT_OFF_PID_NUMBERS, pid.numbers)
CT_BTF_OFFSET(CT_OFF_UPID_NR, upid.nr)
CT_BTF_OFFSET(CT_OFF_UPID_NS, upid.ns)
CT_BTF_SIZE(CT_SIZEOF_UPID, upid)
CT_BTF_OFFSET(CT_OFF_PID_NS_INUM, pid_namespace.ns.inum)
CT_BTF_OFFSET(CT_OFF_TASK_CGROUPS, task_struct.cgroups)
CT_BTF_OFFSET(CT_OFF_CSS_SET_DFL_CGRP, css_set.dfl_cgrp)
CT_BTF_OFFSET(CT_OFF_CGROUP_KN, cgroup.kn)
CT_BTF_OFFSET(CT_OFF_KERNFS_NODE_ID, kernfs_node.id)
CT_BTF_OFFSET(CT_OFF_KERNFS_NODE_NAME, kernfs_node.name)
CT_BTF_OFFSET(CT_OFF_KERNFS_NODE_PARENT, kernfs_node.__parent, kernfs_node.parent)
CT_BTF_OFFSET(CT_OFF_TASK_FILES, task_struct.files)
CT_BTF_OFFSET(CT_OFF_FILES_FDT, files_struct.fdt)
CT_BTF_OFFSET(CT_OFF_FDT_FD, fdtable.fd)
CT_BTF_OFFSET(CT_OFF_FDT_MAX_FDS, fdtable.max_fds)
/* a system call's number and arguments in the task's saved registers
 * (x86_64; arm64 has the number and the first argument under these names) */
CT_BTF_OFFSET(CT_OFF_REGS_NR, pt_regs.orig_ax, pt_regs.syscallno)
CT_BTF_OFFSET(CT_OFF_REGS_ARG0, pt_regs.di, pt_regs.orig_x0)
CT_BTF_OFFSET_IF(CT_OFF_REGS_ARG1, pt_regs.si)
CT_BTF_OFFSET_IF(CT_OFF_REGS_ARG2, pt_regs.dx)
CT_BTF_OFFSET_IF(CT_OFF_REGS_ARG3, pt_regs.r10)
CT_BTF_OFFSET_IF(CT_OFF_REGS_ARG4, pt_regs.r8)
/* arm64: x1-x4 in regs[] (x0 holds the result by the exit: orig_x0 above).
 * Not tested here (an x86_64 machine). */
CT_BTF_OFFSET_IF(CT_OFF_REGS_X, pt_regs.regs)
#if !defined(CT_OFF_REGS_ARG1) && defined(CT_OFF_REGS_X)
#define CT_OFF_REGS_ARG1 (CT_OFF_REGS_X + 8)
#define CT_OFF_REGS_ARG2 (CT_OFF_REGS_X + 16)
#define CT_OFF_REGS_ARG3 (CT_OFF_REGS_X + 24)
#define CT_OFF_REGS_ARG4 (CT_OFF_REGS_X + 32)
#endif
/* files, paths, mounts: what several programs walk */
CT_BTF_OFFSET(CT_OFF_TASK_FS, task_struct.fs)
CT_BTF_OFFSET(CT_OFF_FS_PWD, fs_struct.pwd)
CT_BTF_OFFSET(CT_OFF_FS_ROOT, fs_struct.root)
CT_BTF_OFFSET(CT_OFF_PATH_MNT, path.mnt)
CT_BTF_OFFSET(CT_OFF_PATH_DENTRY, path.dentry)
CT_BTF_OFFSET(CT_OFF_FILE_F_PATH, file.f_path, file.__f_path)
CT_BTF_OFFSET(CT_OFF_FILE_F_INODE, file.f_inode)
CT_BTF_OFFSET(CT_OFF_FILE_PRIVATE_DATA, file.private_data)
CT_BTF_OFFSET(CT_OFF_INODE_I_MODE, inode.i_mode)
CT_BTF_OFFSET(CT_OFF_INODE_I_SB, inode.i_sb)
CT_BTF_OFFSET(CT_OFF_SUPER_BLOCK_S_MAGIC, super_block.s_magic)
CT_BTF_OFFSET(CT_OFF_DENTRY_D_PARENT, dentry.d_parent)
CT_BTF_OFFSET(CT_OFF_DENTRY_D_NAME_NAME, dentry.d_name.name)
CT_BTF_OFFSET(CT_OFF_MOUNT_MNT, mount.mnt)
CT_BTF_OFFSET(CT_OFF_MOUNT_MNT_PARENT, mount.mnt_parent)
CT_BTF_OFFSET(CT_OFF_MOUNT_MNT_MOUNTPOINT, mount.mnt_mountpoint)
CT_BTF_OFFSET(CT_OFF_MOUNT_MNT_NS, mount.mnt_ns)
CT_BTF_OFFSET(CT_OFF_VFSMOUNT_MNT_ROOT, vfsmount.mnt_root)
CT_BTF_OFFSET(CT_OFF_TASK_MM, task_struct.mm)
CT_BTF_OFFSET(CT_OFF_MM_EXE_FILE, mm_struct.exe_file)
CT_BTF_OFFSET(CT_OFF_SOCKET_SK, socket.sk)

/* Probe reads, for any pointer (cold paths). */
static __always_inline void *ct_read_ptr(void *base, u64 off)
{
    void *p = NULL;
    if (base)
        bpf_probe_read_kernel(&p, sizeof(p), base + off);
    return p;
}

static __always_inline u32 ct_read_u32(void *base, u64 off)
{
    u32 v = 0;
    if (base)
        bpf_probe_read_kernel(&v, sizeof(v), base + off);
    return v;
}

/* The struct file behind descriptor FD of TASK, or NULL. */
static __always_inline void *ct_task_file(void *task, long fd)
{
    void *fdt = ct_read_ptr(ct_read_ptr(task, CT_OFF_TASK_FILES), CT_OFF_FILES_FDT);
    u32 max_fds = ct_read_u32(fdt, CT_OFF_FDT_MAX_FDS);
    if (fd < 0 || (u64)fd >= max_fds)
        return NULL;
    return ct_read_ptr(ct_read_ptr(fdt, CT_OFF_FDT_FD), (u64)fd * sizeof(void *));
}

/* A cgroup's id: its kernfs node's. */
static __always_inline u64 ct_kn_id(void *kn)
{
    u64 id = 0;
    if (kn)
        bpf_probe_read_kernel(&id, sizeof(id), kn + CT_OFF_KERNFS_NODE_ID);
    return id;
}

/* Loads through the BTF-typed current task (bpf_get_current_task_btf()):
 * plain loads that the verifier checks against the kernel's BTF at our BTF
 * offsets, a few times cheaper than bpf_probe_read_kernel() calls on hot
 * tracepoints (measured on an open+close loop: ~80 ns for three probe reads,
 * ~15 ns for three such loads).  Offsets must be constants. */
#define CT_LOAD(type, ptr, off) (*(type *)((char *)(ptr) + (off)))

/* The current task, and the two pointers every scope check reads through
 * it.  The verifier checks each pointer loaded through the BTF-typed task
 * with three linear searches of the kernel's BTF (the names
 * task_struct__safe_trusted and others, btf_nested_type_is_trusted(): 0.5
 * ms each here), at every path that reaches the load; loads through the
 * pointers so obtained cost it nothing.  A scope check inlined at a dozen
 * places, each reached on several paths, made that 50-80 ms of a tool's
 * start.  So a program loads them once, where it starts (ct_current()),
 * and hands the struct on: pointers loaded through the task elsewhere
 * (its parent, its group leader) are loaded where they are used, off the
 * hot paths. */
#define CT_PIDTYPE_TGID 1       /* enum pid_type, since 4.19 */
struct ct_task {
    char *task;         /* the task, for helpers (task storage, pt_regs) */
    char *nsproxy;      /* task->nsproxy: its namespaces */
    char *pid;          /* task->signal->pids[PIDTYPE_TGID]: its process's
                         * struct pid (a thread's pid namespace is its
                         * process's) */
};

/* TASK: bpf_get_current_task_btf(), which a hot path may have taken
 * before it knew it needs more. */
static __always_inline struct ct_task ct_task_of(char *task)
{
    struct ct_task t;
    t.task = task;
    t.nsproxy = CT_LOAD(char *, t.task, CT_OFF_TASK_NSPROXY);
    char *signal = CT_LOAD(char *, t.task, CT_OFF_TASK_SIGNAL);
    t.pid = CT_LOAD(char *, signal, CT_OFF_SIGNAL_PIDS + CT_PIDTYPE_TGID * sizeof(void *));
    /* Loaded here, once: not moved by the compiler into the branches that
     * use them. */
    asm volatile("" : "+r"(t.nsproxy), "+r"(t.pid));
    return t;
}

static __always_inline struct ct_task ct_current(void)
{
    return ct_task_of((char *)bpf_get_current_task_btf());
}

static __always_inline u32 ct_cur_mntns(const struct ct_task *t)
{
    return CT_LOAD(u32, CT_LOAD(char *, t->nsproxy, CT_OFF_NSPROXY_MNT_NS), CT_OFF_MNT_NS_INUM);
}

static __always_inline u32 ct_cur_netns(const struct ct_task *t)
{
    return CT_LOAD(u32, CT_LOAD(char *, t->nsproxy, CT_OFF_NSPROXY_NET_NS), CT_OFF_NET_INUM);
}

/* The task's pid as its own pid namespace numbers it, and that namespace:
 * pid->numbers[pid->level].  BTF-typed loads need constant offsets, so the
 * usual levels (host 0, container 1, nested 2, 3) are spelt out; deeper ones
 * take probe reads. */
#define CT_UPID(pid, i, off) ((char *)(pid) + CT_OFF_PID_NUMBERS + (i) * CT_SIZEOF_UPID + (off))
#define CT_PID_LEVEL(i)                                                          \
    case i:                                                                      \
        *vpid = *(u32 *)CT_UPID(pid, i, CT_OFF_UPID_NR);                         \
        return CT_LOAD(u32, *(char **)CT_UPID(pid, i, CT_OFF_UPID_NS), CT_OFF_PID_NS_INUM);

static __always_inline u32 ct_pid_in_ns(char *pid, u32 *vpid)
{
    u32 level = CT_LOAD(u32, pid, CT_OFF_PID_LEVEL);
    switch (level) {
    CT_PID_LEVEL(0)
    CT_PID_LEVEL(1)
    CT_PID_LEVEL(2)
    CT_PID_LEVEL(3)
    }
    void *upid = (void *)pid + CT_OFF_PID_NUMBERS + (u64)(level & 31) * CT_SIZEOF_UPID;
    *vpid = ct_read_u32(upid, CT_OFF_UPID_NR);
    return ct_read_u32(ct_read_ptr(upid, CT_OFF_UPID_NS), CT_OFF_PID_NS_INUM);
}

/* In the host's pid namespace?  When the host's is the initial one (level
 * 0, the usual case), the task's pid level says it without reading the
 * namespace. */
static __always_inline int ct_cur_in_host_pidns(const struct ct_task *t)
{
#if CT_HOST_PID_LEVEL == 0
    return CT_LOAD(u32, t->pid, CT_OFF_PID_LEVEL) == 0;
#else
    u32 vpid;
    return ct_pid_in_ns(t->pid, &vpid) == CT_HOST_NS_PID;
#endif
}

/* Outside the host's mount or pid namespace: in a container. */
static __always_inline int ct_cur_in_container_ns(const struct ct_task *t)
{
    return ct_cur_mntns(t) != CT_HOST_NS_MNT || !ct_cur_in_host_pidns(t);
}

/* The task whose comm names T: T, or for a kernel io thread (io_uring's
 * iou-wrk-*, iou-sqp-*, which work for their process) its group leader,
 * by a probe read (rare: struct ct_task says why not a BTF load). */
#define CT_PF_IO_WORKER 0x00000010
#define CT_PF_KTHREAD 0x00200000    /* include/linux/sched.h; ctrace.containers */
static __always_inline int ct_io_worker(const struct ct_task *t)
{
    return CT_LOAD(u32, t->task, CT_OFF_TASK_FLAGS) & CT_PF_IO_WORKER;
}

static __always_inline void *ct_named_task(const struct ct_task *t)
{
    if (ct_io_worker(t))
        return ct_read_ptr(t->task, CT_OFF_TASK_GROUP_LEADER);
    return t->task;
}

/* -- naming containers: cgroup names, kept once per cgroup ------------------ */

struct ct_cgroup_names {
    char leaf[CT_CGROUP_NAME_LEN];      /* the cgroup's own name */
    char parent[CT_CGROUP_NAME_LEN];    /* its parent's */
};
/* Cgroup ids are never reused, so an entry stays true; LRU only bounds the
 * memory (user space keeps what it has read). */
BPF_TABLE("lru_hash", u64, struct ct_cgroup_names, ct_cgroups, CT_CGROUP_ENTRIES);
BPF_PERCPU_ARRAY(ct_cgroup_scratch, struct ct_cgroup_names, 1);
/* The cgroup this CPU noted last: an event storm from one container costs
 * an array lookup per event, not a hash lookup. */
BPF_PERCPU_ARRAY(ct_cgroup_last, u64, 1);

static __always_inline void ct_read_kn_name(char *dst, void *kn)
{
    char *name = ct_read_ptr(kn, CT_OFF_KERNFS_NODE_NAME);
    if (name)
        bpf_probe_read_kernel_str(dst, CT_CGROUP_NAME_LEN, name);
    else
        dst[0] = 0;
}

/* Is cgroup ID new, to this CPU and to ct_cgroups?  One already kept
 * becomes this CPU's last. */
static __always_inline int ct_cgroup_is_new(u64 id)
{
    int zero = 0;
    u64 *last = ct_cgroup_last.lookup(&zero);
    if (last && *last == id)
        return 0;
    if (!ct_cgroups.lookup(&id))
        return 1;
    if (last)
        *last = id;
    return 0;
}

/* Keep the names of new cgroup ID, of kernfs node KN. */
static __always_inline void ct_keep_cgroup_names(u64 id, void *kn)
{
    int zero = 0;
    struct ct_cgroup_names *n = ct_cgroup_scratch.lookup(&zero);
    if (!n)
        return;
    ct_read_kn_name(n->leaf, kn);
    ct_read_kn_name(n->parent, ct_read_ptr(kn, CT_OFF_KERNFS_NODE_PARENT));
    ct_cgroups.update(&id, n);
    u64 *last = ct_cgroup_last.lookup(&zero);
    if (last)
        *last = id;
}

/* Remember the names of cgroup ID (kernfs node KN) unless known. */
static __always_inline void ct_note_cgroup(u64 id, void *kn)
{
    if (ct_cgroup_is_new(id))
        ct_keep_cgroup_names(id, kn);
}

/* A cgroup reached other than through the current task (a socket's):
 * its id, with its names remembered. */
static __always_inline u64 ct_note_cgroup_kn(void *kn)
{
    u64 id = ct_kn_id(kn);
    if (id)
        ct_note_cgroup(id, kn);
    return id;
}

/* The current task's (TASK's) cgroup, of id ID (bpf_get_current_cgroup_id()),
 * with its names remembered: for summaries keyed by cgroup id.  1 if it
 * was new.  Its kernfs node is read only for a new cgroup, and by probe
 * reads (struct ct_task says why). */
static __always_inline int ct_note_current_cgroup(void *task, u64 id)
{
    if (!ct_cgroup_is_new(id))
        return 0;
    void *cgrp = ct_read_ptr(ct_read_ptr(task, CT_OFF_TASK_CGROUPS), CT_OFF_CSS_SET_DFL_CGRP);
    ct_keep_cgroup_names(id, ct_read_ptr(cgrp, CT_OFF_CGROUP_KN));
    return 1;
}

/* -- the context fill ------------------------------------------------------ */

/* The container context of the current task T, through helper values and
 * BTF-typed loads.  CT_NO_TIMESTAMP: the clock costs ~40 ns, a tool that
 * shows no time may leave ts_ns 0. */
static __always_inline void ct_fill(struct ct_ctx *c, const struct ct_task *t)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();

#ifdef CT_NO_TIMESTAMP
    c->ts_ns = 0;
#else
    c->ts_ns = bpf_ktime_get_ns();
#endif
    c->tid = (u32)pid_tgid;
    c->pid = pid_tgid >> 32;
    c->uid = (u32)bpf_get_current_uid_gid();
    c->ppid = CT_LOAD(u32, CT_LOAD(char *, t->task, CT_OFF_TASK_REAL_PARENT), CT_OFF_TASK_TGID);
    /* task->comm in two loads (cheaper than bpf_get_current_comm); an io
     * thread's (io_uring's) is its process's. */
    if (ct_io_worker(t)) {
        bpf_probe_read_kernel(c->comm, CT_COMM_LEN, ct_named_task(t) + CT_OFF_TASK_COMM);
    } else {
        *(u64 *)&c->comm[0] = CT_LOAD(u64, t->task, CT_OFF_TASK_COMM);
        *(u64 *)&c->comm[8] = CT_LOAD(u64, t->task, CT_OFF_TASK_COMM + 8);
    }

    c->mntns = ct_cur_mntns(t);
    c->netns = ct_cur_netns(t);
    /* the process's pid (its group leader's) as its namespace numbers it */
    c->pidns = ct_pid_in_ns(t->pid, &c->vpid);
    u32 flags = (c->mntns == CT_HOST_NS_MNT && c->pidns == CT_HOST_NS_PID) ? CT_F_HOST_NS : 0;

    c->cgroup_id = bpf_get_current_cgroup_id();
    if (ct_note_current_cgroup(t->task, c->cgroup_id))
        flags |= CT_F_NEW_CGROUP;
    c->ct_flags = flags;
}

#endif /* CT_CONTEXT_H */
