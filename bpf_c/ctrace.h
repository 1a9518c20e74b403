/* ctrace.h: what every ctrace BPF program shares.
 *
 * - CT_CONTEXT_FIELDS: the container context every event starts with. It is a
 *   field list rather than a nested struct because BCC decodes events from the
 *   C struct and only understands flat structs.
 * - ct_traced(): the in-kernel scope and filters (containers only unless
 *   --host; -c, -p, -u, -n).
 * - ct_fill(): captures the context of a task at event time, so a container
 *   that has exited by the time user space reads the event is still named
 *   (the leaf cgroup name is captured here, not looked up later).
 * - ct_lost / ct_count_lost(): every event a ring buffer could not take is
 *   counted. (BCC cannot expand map calls inside macros, so each program
 *   writes `if (events.ringbuf_output(...)) ct_count_lost();` itself.)
 *
 * Kernel struct fields are read at offsets taken from the running kernel's
 * BTF (ctrace/btf.py defines the CT_OFF_* macros), never from headers: no
 * headers package matches the running kernel.
 */
#ifndef CTRACE_H
#define CTRACE_H

#define CT_COMM_LEN 16
#define CT_CGROUP_NAME_LEN 96

#define CT_CONTEXT_FIELDS                                                    \
    u64 ts_ns;          /* bpf_ktime_get_ns() at the event */               \
    u64 cgroup_id;      /* cgroup v2 id (kernfs node id) */                  \
    u32 pid;            /* host tgid */                                      \
    u32 tid;            /* host thread id */                                 \
    u32 ppid;           /* host tgid of the real parent */                   \
    u32 uid;                                                                 \
    u32 vpid;           /* tgid inside the task's pid namespace */           \
    u32 mntns;          /* mount namespace inum */                           \
    u32 pidns;          /* pid namespace inum */                             \
    u32 netns;          /* network namespace inum */                         \
    u32 pidns_level;    /* 0 = the initial pid namespace */                  \
    u32 ct_flags;       /* CT_F_* */                                         \
    char comm[CT_COMM_LEN];                                                  \
    char cgroup[CT_CGROUP_NAME_LEN];        /* leaf cgroup name */           \
    char cgroup_parent[CT_CGROUP_NAME_LEN]; /* its parent's name */

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

/* -c NAME|ID: the tool fills these with the container's cgroup ids and mount
 * namespaces (mntns catches processes that nsenter a container without
 * joining its cgroup). */
BPF_HASH(ct_filter_cgroup, u64, u8, 1024);
BPF_HASH(ct_filter_mntns, u32, u8, 1024);

#if CT_FILTER_CONTAINERS
/* -c follows a container across restarts: a restarted container gets a new
 * cgroup, with a new id, at the same path.  The tool puts the paths of the
 * containers it follows here (cgroup v2, zero-padded); when one is created
 * again, its id joins the filter before any task can enter it, so a
 * restart's first exec is seen. */
#define CT_CGROUP_PATH_LEN 256
struct ct_cgroup_path {
    char path[CT_CGROUP_PATH_LEN];
};
BPF_HASH(ct_follow_cgroup, struct ct_cgroup_path, u8, 64);
BPF_PERCPU_ARRAY(ct_path_scratch, struct ct_cgroup_path, 1);

TRACEPOINT_PROBE(cgroup, cgroup_mkdir)
{
    if (args->root != 0)
        return 0;       /* a cgroup v1 hierarchy: ids of another kind */
    int zero = 0;
    struct ct_cgroup_path *key = ct_path_scratch.lookup(&zero);
    if (!key)
        return 0;
    __builtin_memset(key, 0, sizeof(*key));
    bpf_probe_read_kernel_str(key->path, sizeof(key->path),
                              (char *)args + (args->data_loc_path & 0xffff));
    if (!ct_follow_cgroup.lookup(key))
        return 0;
    u64 id = args->id;
    u8 one = 1;
    ct_filter_cgroup.update(&id, &one);
    return 0;
}
#endif
BPF_PERCPU_ARRAY(ct_lost, u64, 1);

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

/* A cgroup's id: its kernfs node's id. */
static __always_inline u64 ct_kn_id(void *kn)
{
    u64 id = 0;
    if (kn)
        bpf_probe_read_kernel(&id, sizeof(id), kn + CT_OFF_KERNFS_NODE_ID);
    return id;
}

static __always_inline u32 ct_task_mntns(void *task)
{
    void *nsproxy = ct_read_ptr(task, CT_OFF_TASK_NSPROXY);
    return ct_read_u32(ct_read_ptr(nsproxy, CT_OFF_NSPROXY_MNT_NS), CT_OFF_MNT_NS_INUM);
}

static __always_inline u32 ct_task_netns(void *task)
{
    void *nsproxy = ct_read_ptr(task, CT_OFF_TASK_NSPROXY);
    return ct_read_u32(ct_read_ptr(nsproxy, CT_OFF_NSPROXY_NET_NS), CT_OFF_NET_INUM);
}

/* The task's struct pid; its level and numbers[level] give the pid namespace
 * and the pid as the container sees it. */
static __always_inline void *ct_task_upid(void *task, u32 *level)
{
    void *pid = ct_read_ptr(task, CT_OFF_TASK_THREAD_PID);
    u32 lvl = ct_read_u32(pid, CT_OFF_PID_LEVEL);
    *level = lvl;
    if (!pid)
        return NULL;
    return pid + CT_OFF_PID_NUMBERS + (u64)(lvl & 31) * CT_SIZEOF_UPID;
}

static __always_inline u32 ct_task_pidns(void *task)
{
    u32 level;
    void *upid = ct_task_upid(task, &level);
    return ct_read_u32(ct_read_ptr(upid, CT_OFF_UPID_NS), CT_OFF_PID_NS_INUM);
}

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

/* Is this task in the tool's scope?  Cheap checks first: an open storm on
 * the host costs two helper calls and a few reads per event.  MNTNS is the
 * task's mount namespace (ct_task_mntns), for callers that need it anyway. */
static __always_inline int ct_task_traced_mntns(void *task, u32 tgid, u32 uid, u32 mntns)
{
#ifdef CT_FILTER_PID
    if (tgid != CT_FILTER_PID)
        return 0;
#endif
#ifdef CT_FILTER_UID
    if (uid != CT_FILTER_UID)
        return 0;
#endif
#if CT_FILTER_CONTAINERS
    {
        u8 *hit = ct_filter_mntns.lookup(&mntns);
        if (!hit) {
            void *cgroups = ct_read_ptr(task, CT_OFF_TASK_CGROUPS);
            u64 cgid = ct_kn_id(ct_read_ptr(ct_read_ptr(cgroups, CT_OFF_CSS_SET_DFL_CGRP),
                                            CT_OFF_CGROUP_KN));
            hit = ct_filter_cgroup.lookup(&cgid);
        }
        if (!hit)
            return 0;
    }
#elif !CT_INCLUDE_HOST
    if (mntns == CT_HOST_MNTNS && ct_task_pidns(task) == CT_HOST_PIDNS)
        return 0;
#endif
#ifdef CT_FILTER_COMM
    {
        char comm[CT_COMM_LEN] = {};
        bpf_probe_read_kernel_str(comm, sizeof(comm), task + CT_OFF_TASK_COMM);
        if (!ct_comm_matches(comm))
            return 0;
    }
#endif
    return 1;
}


/* Loads through the BTF-typed current task (bpf_get_current_task_btf()):
 * plain loads that the verifier checks against the kernel's BTF at our BTF
 * offsets, a few times cheaper than bpf_probe_read_kernel() calls on hot
 * tracepoints (measured on an open+close loop: ~80 ns for three probe reads,
 * ~15 ns for three such loads). */
#define CT_LOAD(type, ptr, off) (*(type *)((char *)(ptr) + (off)))

#ifndef CT_HOST_PID_LEVEL
#define CT_HOST_PID_LEVEL 0
#endif

/* T is bpf_get_current_task_btf(). */
static __always_inline u32 ct_cur_mntns(char *t)
{
    char *nsproxy = CT_LOAD(char *, t, CT_OFF_TASK_NSPROXY);
    return CT_LOAD(u32, CT_LOAD(char *, nsproxy, CT_OFF_NSPROXY_MNT_NS), CT_OFF_MNT_NS_INUM);
}

/* In the host's pid namespace?  When the host's is the initial one (level
 * 0, the usual case), the task's pid level says it without reading the
 * namespace. */
static __always_inline int ct_cur_in_host_pidns(char *t)
{
#if CT_HOST_PID_LEVEL == 0
    return CT_LOAD(u32, CT_LOAD(char *, t, CT_OFF_TASK_THREAD_PID), CT_OFF_PID_LEVEL) == 0;
#else
    return ct_task_pidns((void *)bpf_get_current_task()) == CT_HOST_PIDNS;
#endif
}

/* Scope check for the current task (the common case), run on every event of
 * the machine, host processes included: the same decisions as
 * ct_task_traced_mntns(), through helper values and BTF-typed loads. */
static __always_inline int ct_traced(void)
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
            u32 mntns = ct_cur_mntns((char *)bpf_get_current_task_btf());
            if (!ct_filter_mntns.lookup(&mntns))
                return 0;
        }
    }
#elif !CT_INCLUDE_HOST
    {
        char *t = (char *)bpf_get_current_task_btf();
        if (ct_cur_mntns(t) == CT_HOST_MNTNS && ct_cur_in_host_pidns(t))
            return 0;
    }
#endif
#ifdef CT_FILTER_COMM
    {
        char comm[CT_COMM_LEN] = {};
        bpf_get_current_comm(comm, sizeof(comm));
        if (!ct_comm_matches(comm))
            return 0;
    }
#endif
    return 1;
}

static __always_inline void ct_read_kn_name(char *dst, void *kn)
{
    char *name = ct_read_ptr(kn, CT_OFF_KERNFS_NODE_NAME);
    if (name)
        bpf_probe_read_kernel_str(dst, CT_CGROUP_NAME_LEN, name);
    else
        dst[0] = 0;
}

/* The cgroup part of the context from a cgroup's kernfs node: its id and
 * the names of it and its parent (the runtime and container, in user space). */
static __always_inline void ct_fill_cgroup(struct ct_ctx *c, void *kn)
{
    c->cgroup_id = ct_kn_id(kn);
    ct_read_kn_name(c->cgroup, kn);
    ct_read_kn_name(c->cgroup_parent, ct_read_ptr(kn, CT_OFF_KERNFS_NODE_PARENT));
}

/* Fill the container context of TASK (any task, not only current). */
static __always_inline void ct_fill_task(struct ct_ctx *c, void *task)
{
    u32 level = 0;
    void *upid;

    c->ts_ns = bpf_ktime_get_ns();
    c->tid = ct_read_u32(task, CT_OFF_TASK_PID);
    c->pid = ct_read_u32(task, CT_OFF_TASK_TGID);
    c->ppid = ct_read_u32(ct_read_ptr(task, CT_OFF_TASK_REAL_PARENT), CT_OFF_TASK_TGID);
    c->uid = ct_read_u32(ct_read_ptr(task, CT_OFF_TASK_CRED), CT_OFF_CRED_UID);
    bpf_probe_read_kernel_str(c->comm, sizeof(c->comm), task + CT_OFF_TASK_COMM);

    void *nsproxy = ct_read_ptr(task, CT_OFF_TASK_NSPROXY);
    c->mntns = ct_read_u32(ct_read_ptr(nsproxy, CT_OFF_NSPROXY_MNT_NS), CT_OFF_MNT_NS_INUM);
    c->netns = ct_read_u32(ct_read_ptr(nsproxy, CT_OFF_NSPROXY_NET_NS), CT_OFF_NET_INUM);

    upid = ct_task_upid(ct_read_ptr(task, CT_OFF_TASK_GROUP_LEADER), &level);
    c->pidns_level = level;
    c->vpid = ct_read_u32(upid, CT_OFF_UPID_NR);
    c->pidns = ct_read_u32(ct_read_ptr(upid, CT_OFF_UPID_NS), CT_OFF_PID_NS_INUM);
    c->ct_flags = (c->mntns == CT_HOST_MNTNS && c->pidns == CT_HOST_PIDNS) ? CT_F_HOST_NS : 0;

    void *cgroups = ct_read_ptr(task, CT_OFF_TASK_CGROUPS);
    ct_fill_cgroup(c, ct_read_ptr(ct_read_ptr(cgroups, CT_OFF_CSS_SET_DFL_CGRP), CT_OFF_CGROUP_KN));
}

static __always_inline void ct_fill(struct ct_ctx *c)
{
    ct_fill_task(c, (void *)bpf_get_current_task());
}

static __always_inline void ct_count_lost(void)
{
    int zero = 0;
    u64 *n = ct_lost.lookup(&zero);
    if (n)
        (*n)++;
}

#endif /* CTRACE_H */
