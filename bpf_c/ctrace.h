/* ctrace.h: what every ctrace BPF program shares.
 *
 * - CT_CONTEXT_FIELDS: the container context every event starts with (a
 *   field list, not a nested struct: BCC decodes events from the C struct
 *   and only understands flat ones).
 * - ct_traced(): the one in-kernel scope check (containers only unless
 *   --host; -c, -p, -u, -n).  -c's cgroups are followed as they are
 *   created: a restarted container's, a selected pod's new containers'.
 * - ct_fill(): the one context fill, for the current task.  It remembers
 *   the names of the task's cgroup in ct_cgroups (cgroup id -> leaf and
 *   parent names), the one map from which user space names containers, so a
 *   container that is gone by the time an event or a summary row is read is
 *   still named.  ct_note_cgroup_kn() does the same for a cgroup reached
 *   otherwise (a socket's).
 * - ct_args_save() / ct_args_take(): syscall arguments kept from enter to
 *   exit, per thread, in task storage (a tool defines struct ct_args and
 *   CT_SAVE_ARGS before including this file).
 * - ct_workload() / ct_runtime_setup() / ct_filter_governs(): is this task
 *   the runtime's set-up or the container's workload (with CT_WORKLOAD_RULE).
 * - ct_count_lost(): every event a ring buffer could not take is counted.
 *   (BCC cannot expand map calls inside macros, so each program writes
 *   `if (events.ringbuf_output(...)) ct_count_lost();` itself.)
 *
 * Kernel struct fields are read at offsets taken from the running kernel's
 * BTF, never from headers: no headers package matches the running kernel.
 * A program declares each offset it uses where it uses it, with
 * CT_BTF_OFFSET(NAME, struct.field[, alternative.field]) (the first field
 * the kernel has), CT_BTF_OFFSET_IF(NAME, struct.field) (NAME left undefined
 * where the kernel lacks the field) or CT_BTF_SIZE(NAME, struct);
 * ctrace.bpf.Program reads
 * these lines, looks the fields up in BTF and defines NAME at the top of
 * the text.  To the compiler the declarations are nothing.
 */
#ifndef CTRACE_H
#define CTRACE_H

#define CT_BTF_OFFSET(...)
#define CT_BTF_OFFSET_IF(...)
#define CT_BTF_SIZE(...)

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

/* The names from (MNT, DENTRY) up to the current task's root (its
 * container's root), leaf first, NUL-separated, into BUF at
 * (START + *LEN) & MASK, *LEN counting the bytes; crosses mounts like the
 * kernel's d_path(), for at most DEPTH steps and while *LEN <= ROOM.  BUF
 * has CT_PATH_NAME_MAX bytes of slack after MASK.  Returns CT_PATH_* flags.
 *
 * The length lives in the caller's (map) event and is re-read each step,
 * not kept in a register: so the verifier sees the same unknown, masked
 * value on every path through a step and can prune, instead of exploring
 * 2^depth paths. */
#define CT_PATH_NAME_MAX 256
#define CT_PATH_RESOLVED 1      /* the file had a path and the task a root */
#define CT_PATH_COMPLETE 2      /* the walk met the task's root */
#define CT_PATH_OUTSIDE_ROOT 4  /* it met the top of the mount tree instead */
#define CT_PATH_OUTSIDE_MOUNT 8 /* it met its filesystem's root without meeting
                                   its mount's: a file no mount shows (one opened
                                   by a file handle) */
static __always_inline u32 ct_path_names(void *mnt, void *dentry, char *buf, u32 start,
                                         u32 mask, u32 room, volatile u16 *len, int depth)
{
    void *fs = ct_read_ptr((void *)bpf_get_current_task(), CT_OFF_TASK_FS);
    void *root_mnt = ct_read_ptr(fs, CT_OFF_FS_ROOT + CT_OFF_PATH_MNT);
    void *root_dentry = ct_read_ptr(fs, CT_OFF_FS_ROOT + CT_OFF_PATH_DENTRY);

    *len = 0;
    if (!mnt || !dentry || !root_mnt || !root_dentry)
        return 0;
    for (int i = 0; i < depth; i++) {
        if (dentry == root_dentry && mnt == root_mnt)
            return CT_PATH_RESOLVED | CT_PATH_COMPLETE;
        void *real_mount = mnt - CT_OFF_MOUNT_MNT;      /* container_of */
        if (dentry == ct_read_ptr(mnt, CT_OFF_VFSMOUNT_MNT_ROOT)) {
            /* The root of a mount: continue from where it is mounted. */
            void *parent = ct_read_ptr(real_mount, CT_OFF_MOUNT_MNT_PARENT);
            if (!parent || parent == real_mount)
                return CT_PATH_RESOLVED | CT_PATH_OUTSIDE_ROOT;
            dentry = ct_read_ptr(real_mount, CT_OFF_MOUNT_MNT_MOUNTPOINT);
            mnt = parent + CT_OFF_MOUNT_MNT;
            continue;
        }
        void *parent_dentry = ct_read_ptr(dentry, CT_OFF_DENTRY_D_PARENT);
        if (parent_dentry == dentry)
            return CT_PATH_RESOLVED | CT_PATH_OUTSIDE_MOUNT;
        if (!parent_dentry)
            break;
        u32 n = *len;
        if (n > room)
            break;
        const char *name = ct_read_ptr(dentry, CT_OFF_DENTRY_D_NAME_NAME);
        long got = bpf_probe_read_kernel_str(&buf[(start + n) & mask], CT_PATH_NAME_MAX, name);
        if (got <= 0)
            break;
        *len = n + got;
        dentry = parent_dentry;
    }
    return CT_PATH_RESOLVED;        /* deeper than DEPTH, or unreadable */
}

/* Loads through the BTF-typed current task (bpf_get_current_task_btf()):
 * plain loads that the verifier checks against the kernel's BTF at our BTF
 * offsets, a few times cheaper than bpf_probe_read_kernel() calls on hot
 * tracepoints (measured on an open+close loop: ~80 ns for three probe reads,
 * ~15 ns for three such loads).  Offsets must be constants. */
#define CT_LOAD(type, ptr, off) (*(type *)((char *)(ptr) + (off)))

static __always_inline char *ct_current(void)
{
    return (char *)bpf_get_current_task_btf();
}

static __always_inline u32 ct_cur_mntns(char *t)
{
    char *nsproxy = CT_LOAD(char *, t, CT_OFF_TASK_NSPROXY);
    return CT_LOAD(u32, CT_LOAD(char *, nsproxy, CT_OFF_NSPROXY_MNT_NS), CT_OFF_MNT_NS_INUM);
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
static __always_inline int ct_cur_in_host_pidns(char *t)
{
    char *pid = CT_LOAD(char *, t, CT_OFF_TASK_THREAD_PID);
#if CT_HOST_PID_LEVEL == 0
    return CT_LOAD(u32, pid, CT_OFF_PID_LEVEL) == 0;
#else
    u32 vpid;
    return ct_pid_in_ns(pid, &vpid) == CT_HOST_NS_PID;
#endif
}

/* Outside the host's mount or pid namespace: in a container. */
static __always_inline int ct_cur_in_container_ns(char *t)
{
    return ct_cur_mntns(t) != CT_HOST_NS_MNT || !ct_cur_in_host_pidns(t);
}

/* The task whose comm names T: T, or for a kernel io thread (io_uring's
 * iou-wrk-*, iou-sqp-*, which work for their process) its group leader. */
#define CT_PF_IO_WORKER 0x00000010
static __always_inline char *ct_named_task(char *t)
{
    if (CT_LOAD(u32, t, CT_OFF_TASK_FLAGS) & CT_PF_IO_WORKER)
        return CT_LOAD(char *, t, CT_OFF_TASK_GROUP_LEADER);
    return t;
}

/* -- the scope check ------------------------------------------------------- */

/* -c NAME|ID: the tool fills these with the container's cgroup ids and mount
 * namespaces (mntns catches processes that nsenter a container without
 * joining its cgroup). */
BPF_HASH(ct_filter_cgroup, u64, u8, 1024);
BPF_HASH(ct_filter_mntns, u32, u8, 1024);

#if CT_FILTER_CONTAINERS
/* -c follows a container across restarts, and a pod (-c NAMESPACE/POD)
 * across its containers' re-creations: a restarted container gets a new
 * cgroup, with a new id, at the same path; a pod's new container gets a new
 * cgroup under the pod's.  The tool puts paths here (cgroup v2,
 * zero-padded), with CT_FOLLOW_SELF for a container's own cgroup and
 * CT_FOLLOW_CHILDREN for a pod's; ct_follow_children holds the ids of the
 * pod cgroups that exist.  A new cgroup joins the filter when it is
 * created, before any task can enter it, so a restart's first exec is
 * seen.  Raw tracepoints: args are (struct cgroup *, const char *path). */
#define CT_CGROUP_PATH_LEN 256
#define CT_FOLLOW_SELF 1
#define CT_FOLLOW_CHILDREN 2
struct ct_cgroup_path {
    char path[CT_CGROUP_PATH_LEN];
};
BPF_HASH(ct_follow_cgroup, struct ct_cgroup_path, u8, 64);
BPF_HASH(ct_follow_children, u64, u8, 64);
BPF_PERCPU_ARRAY(ct_path_scratch, struct ct_cgroup_path, 1);
CT_BTF_OFFSET(CT_OFF_CGROUP_ROOT, cgroup.root)
CT_BTF_OFFSET(CT_OFF_CGROUP_ROOT_HIERARCHY_ID, cgroup_root.hierarchy_id)

/* The kernfs node of a cgroup v2 cgroup (NULL for a v1 hierarchy's, whose
 * ids are of another kind). */
static __always_inline void *ct_cgroup2_kn(void *cgrp)
{
    if (ct_read_u32(ct_read_ptr(cgrp, CT_OFF_CGROUP_ROOT), CT_OFF_CGROUP_ROOT_HIERARCHY_ID))
        return NULL;
    return ct_read_ptr(cgrp, CT_OFF_CGROUP_KN);
}

RAW_TRACEPOINT_PROBE(cgroup_mkdir)
{
    void *kn = ct_cgroup2_kn((void *)ctx->args[0]);
    if (!kn)
        return 0;
    u64 id = ct_kn_id(kn);
    u64 parent = ct_kn_id(ct_read_ptr(kn, CT_OFF_KERNFS_NODE_PARENT));
    u8 one = 1;
    if (ct_follow_children.lookup(&parent))
        ct_filter_cgroup.update(&id, &one);
    int zero = 0;
    struct ct_cgroup_path *key = ct_path_scratch.lookup(&zero);
    if (!key)
        return 0;
    __builtin_memset(key, 0, sizeof(*key));
    bpf_probe_read_kernel_str(key->path, sizeof(key->path), (void *)ctx->args[1]);
    u8 *how = ct_follow_cgroup.lookup(key);
    if (!how)
        return 0;
    if (*how & CT_FOLLOW_SELF)
        ct_filter_cgroup.update(&id, &one);
    if (*how & CT_FOLLOW_CHILDREN)
        ct_follow_children.update(&id, &one);
    return 0;
}

/* A cgroup removed: its id is never used again. */
RAW_TRACEPOINT_PROBE(cgroup_rmdir)
{
    void *kn = ct_cgroup2_kn((void *)ctx->args[0]);
    if (!kn)
        return 0;
    u64 id = ct_kn_id(kn);
    ct_filter_cgroup.delete(&id);
    ct_follow_children.delete(&id);
    return 0;
}
#endif

static __always_inline int ct_comm_matches(const char *comm)
{
#ifdef CT_FILTER_COMM
    char want[CT_COMM_LEN] = CT_FILTER_COMM;
#pragma unroll
    for (int i = 0; i < CT_COMM_LEN; i++) {
        if (comm[i] != want[i])
            return 0;
        if (!want[i])
            return 1;
    }
#endif
    return 1;
}

/* A workload task that joins the host's namespaces stays in scope (the
 * escape containerescape reports): a map lookup for every host event, which
 * a tool that need not follow it turns off. */
#ifndef CT_STICKY_WORKLOAD
#define CT_STICKY_WORKLOAD CT_WORKLOAD_RULE
#endif

#if CT_WORKLOAD_RULE
/* The runtime-or-workload rule's per-task marks (see below). */
#ifndef CT_STAGE_ENTRIES
#define CT_STAGE_ENTRIES 65536
#endif
BPF_HASH(ct_stage, u32, u8, CT_STAGE_ENTRIES);
#define CT_W_WORKLOAD 1
#define CT_W_OUTSIDE_FILTER 2

/* A task marked workload stays in scope after it joins the host's
 * namespaces: setns into a host namespace is the escape to report. */
static __always_inline int ct_marked_workload(void)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    u8 *s = ct_stage.lookup(&tid);
    return s && (*s & CT_W_WORKLOAD);
}
#endif
#if !CT_STICKY_WORKLOAD
#define ct_marked_workload() 0
#endif

/* Is the current task (T, from ct_current()) in the tool's scope?  Cheap
 * checks first: it runs on every event of the machine, host processes
 * included. */
static __always_inline int ct_traced_task(char *t)
{
#ifdef CT_FILTER_PID
    if ((bpf_get_current_pid_tgid() >> 32) != CT_FILTER_PID)
        return 0;
#endif
#ifdef CT_FILTER_UID
    if ((u32)bpf_get_current_uid_gid() != CT_FILTER_UID)
        return 0;
#endif
#if CT_FILTER_CONTAINERS
    {
        u64 cgid = bpf_get_current_cgroup_id();
        if (!ct_filter_cgroup.lookup(&cgid)) {
            u32 mntns = ct_cur_mntns(t);
            if (!ct_filter_mntns.lookup(&mntns))
                return 0;
        }
    }
#elif !CT_INCLUDE_HOST
    if (!ct_cur_in_container_ns(t) && !ct_marked_workload())
        return 0;
#endif
#ifdef CT_FILTER_COMM
    {
        char comm[CT_COMM_LEN] = {};
        bpf_probe_read_kernel(comm, sizeof(comm), ct_named_task(t) + CT_OFF_TASK_COMM);
        if (!ct_comm_matches(comm))
            return 0;
    }
#endif
    return 1;
}

static __always_inline int ct_traced(void)
{
    return ct_traced_task(ct_current());
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

/* Remember the names of cgroup ID (kernfs node KN) unless known. */
static __always_inline void ct_note_cgroup(u64 id, void *kn)
{
    int zero = 0;
    u64 *last = ct_cgroup_last.lookup(&zero);
    if (last && *last == id)
        return;
    if (!ct_cgroups.lookup(&id)) {
        struct ct_cgroup_names *n = ct_cgroup_scratch.lookup(&zero);
        if (!n)
            return;
        ct_read_kn_name(n->leaf, kn);
        ct_read_kn_name(n->parent, ct_read_ptr(kn, CT_OFF_KERNFS_NODE_PARENT));
        ct_cgroups.update(&id, n);
    }
    if (last)
        *last = id;
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

/* The current task's (T) cgroup, of id ID (bpf_get_current_cgroup_id()),
 * with its names remembered: for summaries keyed by cgroup id. */
static __always_inline void ct_note_current_cgroup(char *t, u64 id)
{
    char *cset = CT_LOAD(char *, t, CT_OFF_TASK_CGROUPS);
    char *cgrp = CT_LOAD(char *, cset, CT_OFF_CSS_SET_DFL_CGRP);
    ct_note_cgroup(id, CT_LOAD(void *, cgrp, CT_OFF_CGROUP_KN));
}

/* -- the context fill ------------------------------------------------------ */

/* The container context of the current task, through helper values and
 * BTF-typed loads.  CT_NO_TIMESTAMP: the clock costs ~40 ns, a tool that
 * shows no time may leave ts_ns 0. */
static __always_inline void ct_fill(struct ct_ctx *c)
{
    char *t = ct_current();
    u64 pid_tgid = bpf_get_current_pid_tgid();

#ifdef CT_NO_TIMESTAMP
    c->ts_ns = 0;
#else
    c->ts_ns = bpf_ktime_get_ns();
#endif
    c->tid = (u32)pid_tgid;
    c->pid = pid_tgid >> 32;
    c->uid = (u32)bpf_get_current_uid_gid();
    c->ppid = CT_LOAD(u32, CT_LOAD(char *, t, CT_OFF_TASK_REAL_PARENT), CT_OFF_TASK_TGID);
    /* task->comm in two loads (cheaper than bpf_get_current_comm); an io
     * thread's (io_uring's) is its process's. */
    char *named = ct_named_task(t);
    *(u64 *)&c->comm[0] = *(u64 *)(named + CT_OFF_TASK_COMM);
    *(u64 *)&c->comm[8] = *(u64 *)(named + CT_OFF_TASK_COMM + 8);

    char *nsproxy = CT_LOAD(char *, t, CT_OFF_TASK_NSPROXY);
    c->mntns = CT_LOAD(u32, CT_LOAD(char *, nsproxy, CT_OFF_NSPROXY_MNT_NS), CT_OFF_MNT_NS_INUM);
    c->netns = CT_LOAD(u32, CT_LOAD(char *, nsproxy, CT_OFF_NSPROXY_NET_NS), CT_OFF_NET_INUM);
    /* The process's pid (its group leader's) inside the container. */
    char *leader = CT_LOAD(char *, t, CT_OFF_TASK_GROUP_LEADER);
    c->pidns = ct_pid_in_ns(CT_LOAD(char *, leader, CT_OFF_TASK_THREAD_PID), &c->vpid);
    c->ct_flags = (c->mntns == CT_HOST_NS_MNT && c->pidns == CT_HOST_NS_PID) ? CT_F_HOST_NS : 0;

    c->cgroup_id = bpf_get_current_cgroup_id();
    ct_note_current_cgroup(t, c->cgroup_id);
}

/* -- saved syscall arguments ----------------------------------------------- */

#ifdef CT_SAVE_ARGS
/* A tool's struct ct_args, from its sys_enter to its sys_exit, in the
 * thread's own task storage: the exit of every such call on the machine
 * looks here, and for a thread never traced that is one pointer test,
 * cheaper than a hash lookup. */
struct ct_saved_args {
    struct ct_args args;
    u32 active;         /* set at enter, cleared at exit */
};
BPF_TASK_STORAGE(ct_saved_args, struct ct_saved_args);

/* Storage for the current thread's arguments, to be filled now; NULL if
 * it cannot be had. */
static __always_inline struct ct_args *ct_args_save(void)
{
    struct ct_saved_args *s = ct_saved_args.task_storage_get(
        (void *)bpf_get_current_task_btf(), NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!s)
        return NULL;
    s->active = 1;
    return &s->args;
}

/* The arguments saved at this call's enter, into OUT: 0 if none. */
static __always_inline int ct_args_take(struct ct_args *out)
{
    struct ct_saved_args *s = ct_saved_args.task_storage_get(
        (void *)bpf_get_current_task_btf(), NULL, 0);
    if (!s || !s->active)
        return 0;
    s->active = 0;
    __builtin_memcpy(out, &s->args, sizeof(*out));
    return 1;
}
#endif

/* -- runtime set-up or workload -------------------------------------------- */

#if CT_WORKLOAD_RULE
/* Inside a container's cgroup, before its entrypoint runs, the runtime does
 * its set-up: runc/crun init mounts, pivots, sets the hostname, joins
 * namespaces (and `docker exec`, `nsenter`, `lxc-attach` join a running
 * container's).  That is not the workload.  The rule, for any runtime:
 *
 *   a task is WORKLOAD once it has exec'd while in a container's namespaces
 *   (mount or pid namespace not the host's), and its descendants are.
 *
 * The runtime starts as a host process (exec'd in the host's namespaces),
 * enters the container's namespaces by clone or setns, and its last act is
 * the entrypoint's exec, so the set-up is never workload and the entrypoint,
 * from its first instruction, is.  The mark is sticky: a workload task that
 * joins the host's namespaces (an escape) stays workload.  Tasks that were
 * already running when the tool started are judged by their namespaces.
 *
 * Kept per task (tid) in ct_stage, written at fork (the child takes its
 * parent's), at exec, and removed when the task is freed: raw tracepoints,
 * whose names cannot clash with a tool's own TRACEPOINT_PROBEs on the same
 * events.
 *
 * The seccomp view (containersyscall --seccomp): a runtime installs the
 * container's filter on its init task late in the set-up (no TSYNC), so
 * "task_struct.seccomp.mode is SECCOMP_MODE_FILTER" says exactly which
 * calls that filter sees, unless the task inherited a filter from outside
 * the container (a runtime under systemd's SystemCallFilter=): then
 * CT_W_OUTSIDE_FILTER is set at fork and the mode says nothing. */
#define CT_SECCOMP_MODE_FILTER 2
CT_BTF_OFFSET(CT_OFF_TASK_SECCOMP_MODE, task_struct.seccomp.mode)
BPF_ARRAY(ct_stage_full, u64, 1);     /* tasks not followed: ct_stage full */

static __always_inline u32 ct_seccomp_mode(char *t)
{
    return CT_LOAD(u32, t, CT_OFF_TASK_SECCOMP_MODE);
}

/* Does T run a program of its own mount namespace?  The runtime's set-up
 * runs the runtime's binary (from the host, or a copy in a memfd) until
 * the entrypoint's exec; a workload runs the container's programs. */
static __always_inline int ct_runs_own_program(char *t)
{
    void *file = ct_read_ptr(ct_read_ptr(t, CT_OFF_TASK_MM), CT_OFF_MM_EXE_FILE);
    void *mnt = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_MNT);
    if (!mnt)
        return 0;
    void *mnt_ns = ct_read_ptr(mnt - CT_OFF_MOUNT_MNT, CT_OFF_MOUNT_MNT_NS);
    return ct_read_u32(mnt_ns, CT_OFF_MNT_NS_INUM) == ct_cur_mntns(t);
}

/* CT_W_* of the current task T. */
static __always_inline u32 ct_stage_of(char *t, u32 tid)
{
    u8 *s = ct_stage.lookup(&tid);
    if (s)
        return *s;
    /* Running before the tool started (a runtime's init waiting for its
     * start, say): by its namespaces and its program. */
    return ct_cur_in_container_ns(t) && ct_runs_own_program(t) ? CT_W_WORKLOAD : 0;
}

static __always_inline u32 ct_stage_flags(void)
{
    return ct_stage_of(ct_current(), (u32)bpf_get_current_pid_tgid());
}

static __always_inline int ct_workload(void)
{
    return ct_stage_flags() & CT_W_WORKLOAD;
}

/* The runtime's set-up (runc init and the like), for the current task T in
 * scope: not the workload, unless --host and T is a host process (the
 * host's own, not a container's set-up).  A map lookup: call it only for
 * events already in scope. */
static __always_inline int ct_runtime_setup(char *t)
{
#if CT_INCLUDE_HOST
    if (!ct_cur_in_container_ns(t))
        return 0;
#endif
    return !(ct_stage_of(t, (u32)bpf_get_current_pid_tgid()) & CT_W_WORKLOAD);
}

static __always_inline int ct_filter_governs(void)
{
    char *t = ct_current();
    if (ct_seccomp_mode(t) != CT_SECCOMP_MODE_FILTER)
        return 0;
    return !(ct_stage_of(t, (u32)bpf_get_current_pid_tgid()) & CT_W_OUTSIDE_FILTER);
}

static __always_inline void ct_stage_set(u32 tid, u8 stage)
{
    if (ct_stage.update(&tid, &stage)) {
        int zero = 0;
        u64 *n = ct_stage_full.lookup(&zero);
        if (n)
            __sync_fetch_and_add(n, 1);
    }
}

/* args: struct task_struct *parent, struct task_struct *child; current is
 * the parent. */
RAW_TRACEPOINT_PROBE(sched_process_fork)
{
    char *t = ct_current();
    u8 stage = ct_stage_of(t, (u32)bpf_get_current_pid_tgid());
    if (!(stage & CT_W_WORKLOAD) && ct_seccomp_mode(t) == CT_SECCOMP_MODE_FILTER &&
        !ct_cur_in_container_ns(t))
        stage |= CT_W_OUTSIDE_FILTER;
    u32 child = ct_read_u32((void *)ctx->args[1], CT_OFF_TASK_PID);
    ct_stage_set(child, stage);
    return 0;
}

/* args: struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm;
 * current is the task that exec'd (its tid is the process's pid now; it
 * was OLD_PID if a thread other than the leader exec'd). */
RAW_TRACEPOINT_PROBE(sched_process_exec)
{
    char *t = ct_current();
    u32 tid = (u32)bpf_get_current_pid_tgid();
    u32 old = (u32)ctx->args[1];
    u8 stage = ct_stage_of(t, old);
    if (old != tid)
        ct_stage.delete(&old);
    if (ct_cur_in_container_ns(t))
        stage |= CT_W_WORKLOAD;
    ct_stage_set(tid, stage);
    return 0;
}

/* args: struct task_struct *p.  Not at sched_process_exit, where a tool's
 * own hook (containersyscall's exit_group count) may run after this one and
 * must still find the task's mark. */
RAW_TRACEPOINT_PROBE(sched_process_free)
{
    u32 tid = ct_read_u32((void *)ctx->args[0], CT_OFF_TASK_PID);
    ct_stage.delete(&tid);
    return 0;
}
#endif /* CT_WORKLOAD_RULE */

#endif /* CTRACE_H */
