/* containeropen: every open(), openat(), openat2() and creat() in a
 * container, from the syscall tracepoints.
 *
 * sys_exit_* only: the arguments are the task's saved registers, still as
 * the call found them; the cheap filters first (flags, scope, the workload:
 * not the runtime's set-up unless --runtime), then the path is read, now
 * that the kernel has copied it and its page is certainly present.  Then
 * either one small event into the ring buffer (path sent with its real
 * length; the reader is woken only once a CPU has written much,
 * ct_ring_wake(), and drains the ring on a short timer), or, with -s, a
 * count in a hash map keyed by container and path: no event at all.
 * io_uring's opens (IORING_OP_OPENAT, OPENAT2) come from its own tracepoints
 * (ct_uring.h), at the end of this file.
 *
 * Macros set by tools/containeropen: OPEN_FAILED_ONLY, OPEN_RUNTIME,
 * OPEN_FLAGS_MATCH(f), OPEN_PATH_PREFIX / OPEN_PATH_PREFIX_LEN,
 * OPEN_FULL_PATH, OPEN_SUMMARY, OPEN_CREAT_FLAGS, CT_RING_PAGES,
 * CT_RING_WAKE_BYTES, CT_NO_TIMESTAMP, CT_WORKLOAD_RULE, CT_STICKY_WORKLOAD
 * (offsets from BTF: CT_BTF_OFFSET lines).
 */
#include "containeropen.h"

#ifndef OPEN_FAILED_ONLY
#define OPEN_FAILED_ONLY 0
#endif
#ifndef OPEN_FULL_PATH
#define OPEN_FULL_PATH 0
#endif
#ifndef OPEN_SUMMARY
#define OPEN_SUMMARY 0
#endif
#ifndef OPEN_RUNTIME
#define OPEN_RUNTIME 0
#endif

#if OPEN_SUMMARY
#define CT_URING_REQ_T struct open_key
#else
#define CT_URING_REQ_T struct open_event
#endif
#include "ct_uring.h"

#define OPEN_AT_FDCWD (-100)
#define OPEN_ENAMETOOLONG 36

BPF_RINGBUF_OUTPUT(events, CT_RING_PAGES);

#if OPEN_SUMMARY
BPF_HASH(open_counts, struct open_key, struct open_count, OPEN_SUMMARY_ENTRIES);
BPF_PERCPU_ARRAY(open_keyscratch, struct open_key, 1);
BPF_PERCPU_ARRAY(open_overflow, u64, 1);    /* opens not counted: table full */
#else
BPF_PERCPU_ARRAY(open_scratch, struct open_event, 1);
#endif

#ifdef OPEN_PATH_PREFIX
/* Does P start with the --path prefix?  The loop is unrolled over a
 * constant bound, so every OPEN_PATH_PREFIX[i] is a constant. */
static __always_inline int open_prefix_match(const char *p)
{
#pragma unroll
    for (int i = 0; i < OPEN_PATH_PREFIX_LEN; i++) {
        if (p[i] != OPEN_PATH_PREFIX[i])
            return 0;
    }
    return 1;
}
#endif

/* -F lets relative paths through the in-kernel prefix filter: only their
 * resolved form can be matched (in user space). */
static __always_inline int open_prefix_applies(const char *p)
{
    return !OPEN_FULL_PATH || p[0] == '/';
}

#if OPEN_SUMMARY

/* The -s key of an open of FILENAME (a user or, through io_uring, a kernel
 * pointer) by the current task, in the per-CPU scratch: NULL if filtered.
 * SETUP: by the runtime's set-up (--runtime). */
static __always_inline struct open_key *open_key_build(const char *filename, int kernel,
                                                       u32 setup, const struct ct_task *t)
{
    int zero = 0;
    struct open_key *k = open_keyscratch.lookup(&zero);
    if (!k)
        return NULL;
    __builtin_memset(k, 0, sizeof(*k));
    long n = kernel ? bpf_probe_read_kernel_str(k->path, sizeof(k->path), filename)
                    : ct_read_user_str(k->path, sizeof(k->path), filename);
    if (n == sizeof(k->path))
        k->key_flags |= OPEN_K_TRUNCATED;      /* (or exactly 255 bytes long) */
#ifdef OPEN_PATH_PREFIX
    if (!open_prefix_match(k->path))
        return NULL;
#endif
    k->cgroup_id = bpf_get_current_cgroup_id();
    k->mntns = ct_cur_mntns(t);
    if (k->mntns == CT_HOST_NS_MNT && ct_cur_in_host_pidns(t))
        k->key_flags |= OPEN_K_HOST;
    if (setup)
        k->key_flags |= OPEN_K_RUNTIME;
    return k;
}

static __always_inline void open_count_key(struct open_key *k, long ret)
{
    struct open_count *c = open_counts.lookup(k);
    if (!c) {
        struct open_count init = {};
        ct_note_current_cgroup((void *)bpf_get_current_task(), k->cgroup_id);
        open_counts.insert(k, &init);       /* fails harmlessly if raced */
        c = open_counts.lookup(k);
        if (!c) {
            int zero = 0;
            u64 *o = open_overflow.lookup(&zero);
            if (o)
                (*o)++;
            return;
        }
    }
    __sync_fetch_and_add(&c->opens, 1);
    if (ret < 0) {
        __sync_fetch_and_add(&c->failures, 1);
        c->last_errno = ret;
    }
}

static __always_inline void open_count(long ret, const char *filename, u32 setup,
                                       const struct ct_task *t)
{
    struct open_key *k = open_key_build(filename, 0, setup, t);
    if (k)
        open_count_key(k, ret);
}

#else /* !OPEN_SUMMARY */

#if OPEN_FULL_PATH
/* The directory a relative path starts from (the cwd, or DFD's), as names up
 * to the task's root, written at data[start...], their length in
 * e->dir_len; OPEN_F_DIR_COMPLETE when the walk met the root. */
static __always_inline void open_resolve_dir(struct open_event *e, u32 start, s32 dfd)
{
    void *task = (void *)bpf_get_current_task();
    void *mnt, *dentry;
    if (dfd == OPEN_AT_FDCWD) {
        void *fs = ct_read_ptr(task, CT_OFF_TASK_FS);
        mnt = ct_read_ptr(fs, CT_OFF_FS_PWD + CT_OFF_PATH_MNT);
        dentry = ct_read_ptr(fs, CT_OFF_FS_PWD + CT_OFF_PATH_DENTRY);
    } else {
        void *file = ct_task_file(task, dfd);
        mnt = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_MNT);
        dentry = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_DENTRY);
    }
    u32 how = ct_path_names(mnt, dentry, (char *)e->data, start, OPEN_DATA_MASK,
                            OPEN_DIR_MAX - CT_PATH_NAME_MAX, &e->dir_len, OPEN_MAX_DEPTH);
    if (how & CT_PATH_COMPLETE)
        e->capture_flags |= OPEN_F_DIR_COMPLETE;
}
#endif

/* The per-CPU scratch event, its container context filled: first, before
 * a program branches on what it has read, so that the verifier checks
 * ct_fill() once, not once per path (struct ct_task says why). */
static __always_inline struct open_event *open_start(const struct ct_task *t)
{
    int zero = 0;
    struct open_event *e = open_scratch.lookup(&zero);
    if (e)
        ct_fill((struct ct_ctx *)e, t);
    return e;
}

/* Event E (open_start()) of an open of FILENAME (a user or, through
 * io_uring, a kernel pointer): NULL if filtered out. */
static __always_inline struct open_event *open_build(struct open_event *e,
                                                     const char *filename, int kernel,
                                                     s32 dfd, u32 sc, long ret, u64 flags,
                                                     u64 mode, u32 capture_flags)
{
    long n = kernel ? bpf_probe_read_kernel_str(e->data, OPEN_PATH_MAX, filename)
                    : ct_read_user_str(e->data, OPEN_PATH_MAX, filename);
    if (n <= 0) {
        n = 0;                      /* unreadable: shown as an empty path */
        e->data[0] = 0;
    } else if (n == OPEN_PATH_MAX && ret == -OPEN_ENAMETOOLONG) {
        capture_flags |= OPEN_F_PATH_TRUNCATED;
    }
#ifdef OPEN_PATH_PREFIX
    if (open_prefix_applies((char *)e->data) && !open_prefix_match((char *)e->data))
        return NULL;
#endif
    e->syscall = sc;
    e->flags = flags;
    e->mode = mode;
    e->ret = ret;
    e->fixed_slot = -1;
    e->dfd = dfd;
    e->path_len = n;
    e->dir_len = 0;
    e->capture_flags = capture_flags;
#if OPEN_FULL_PATH
    if (n > 0 && e->data[0] != '/') {
        e->capture_flags |= OPEN_F_DIR;
        open_resolve_dir(e, (u32)n, dfd);
    }
#endif
    return e;
}

static __always_inline void open_send(struct open_event *e)
{
    u32 len = (u32)e->path_len + e->dir_len;
    if (len > OPEN_DATA_MASK)
        len = OPEN_DATA_MASK;
    /* Re-bound for the verifier after the compiler has had its way. */
    asm volatile("" : "+r"(len));
    len &= OPEN_DATA_MASK;

    u32 size = offsetof(struct open_event, data) + len;
    if (events.ringbuf_output(e, size, ct_ring_wake(size, e->ct_flags)))
        ct_count_lost();
}

#endif /* OPEN_SUMMARY */

/* The open that just returned RET, system call SC (OPEN_SYS_*).  Its
 * arguments are read from the task's saved registers, unchanged since the
 * call's entry (the sys_exit tracepoint runs before a ptracer's
 * syscall-exit stop): no sys_enter program, no per-thread storage between
 * the two. */
static __always_inline int on_exit(u32 sc, long ret)
{
#if OPEN_FAILED_ONLY
    if (ret >= 0)
        return 0;
#endif
    struct ct_task task = ct_current(), *t = &task;
    char *regs = (char *)bpf_task_pt_regs((struct task_struct *)t->task);
    const char *filename;
    const void *how = NULL;
    u64 flags = 0, mode = 0;
    s32 dfd = OPEN_AT_FDCWD;
    if (sc == OPEN_SYS_OPEN) {              /* open(filename, flags, mode) */
        filename = (const char *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
        flags = (u32)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
        mode = CT_LOAD(u64, regs, CT_OFF_REGS_ARG2);
    } else if (sc == OPEN_SYS_CREAT) {      /* creat(filename, mode) */
        filename = (const char *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
        flags = OPEN_CREAT_FLAGS;
        mode = CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
    } else {                                /* openat(dfd, filename, flags, mode) */
        dfd = (s32)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
        filename = (const char *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
        if (sc == OPEN_SYS_OPENAT2) {       /* openat2(dfd, filename, how, size) */
            how = (const void *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG2);
        } else {
            flags = (u32)CT_LOAD(u64, regs, CT_OFF_REGS_ARG2);
            mode = CT_LOAD(u64, regs, CT_OFF_REGS_ARG3);
        }
    }
#ifdef OPEN_FLAGS_MATCH
    if (!how && !(OPEN_FLAGS_MATCH(flags)))
        return 0;
#endif
    if (!ct_traced_task(t))
        return 0;
    /* The runtime's set-up (runc init's mounts, cgroup files, ...): its
     * paths are the host's, as if the container opened them. */
    u32 setup = ct_runtime_setup(t);
#if !OPEN_RUNTIME
    if (setup)
        return 0;
#endif
#if !OPEN_SUMMARY
    struct open_event *e = open_start(t);
    if (!e)
        return 0;
#endif
    u32 capture_flags = setup ? OPEN_F_RUNTIME : 0;
    if (how) {
        /* struct open_how { u64 flags; u64 mode; u64 resolve; }: the kernel
         * has copied it by now, so its page is present. */
        u64 h[2] = {};
        if (ct_read_user(h, sizeof(h), how) == 0) {
            flags = h[0];
            mode = h[1];
        } else {
            capture_flags |= OPEN_F_HOW_UNREAD;
        }
#ifdef OPEN_FLAGS_MATCH
        if (!(OPEN_FLAGS_MATCH(flags)))
            return 0;
#endif
    }
#if OPEN_SUMMARY
    open_count(ret, filename, setup, t);
#else
    if (open_build(e, filename, 0, dfd, sc, ret, flags, mode, capture_flags))
        open_send(e);
#endif
    return 0;
}

/* One program at the four calls' exits (one format; CT_ALSO_AT), which
 * tells them by number: one copy of on_exit() compiled and verified, where
 * there were four. */
TRACEPOINT_PROBE(syscalls, sys_exit_openat)
{
    /* in OPEN_SYS_* order */
    int sc = ct_call_index(args->__syscall_nr, OPEN_NR_OPEN, OPEN_NR_OPENAT, OPEN_NR_OPENAT2,
                           OPEN_NR_CREAT);
    if (sc < 0)
        return 0;
    return on_exit(sc, args->ret);
}
CT_ALSO_AT(1, tracepoint__syscalls__sys_exit_openat, syscalls, sys_exit_open)
CT_ALSO_AT(1, tracepoint__syscalls__sys_exit_openat, syscalls, sys_exit_openat2)
CT_ALSO_AT(1, tracepoint__syscalls__sys_exit_openat, syscalls, sys_exit_creat)

/* -- io_uring: IORING_OP_OPENAT and OPENAT2 (ct_uring.h) -------------------
 *
 * At submit the request has its path (the kernel's copy) and flags: the
 * event (or -s key) is built then, in the submitter's context, and kept
 * per request; at completion the result is added and it is sent (or
 * counted).  A request that skips its success completion is sent at
 * submit, its result unknown. */

#if CT_URING
TRACEPOINT_PROBE(io_uring, io_uring_submit_req)
{
    u32 op = args->opcode;
    if (op != CT_IORING_OP_OPENAT && op != CT_IORING_OP_OPENAT2)
        return 0;
    void *req = args->req;
    u64 flags = ct_uring_open_flags(req);
#ifdef OPEN_FLAGS_MATCH
    if (!(OPEN_FLAGS_MATCH(flags)))
        return 0;
#endif
    struct ct_task t = ct_current();
    if (!ct_traced_task(&t))
        return 0;
    int skips = ct_uring_skips_success(args->flags);
    const char *path = ct_uring_open_path(req);
#if OPEN_SUMMARY
    struct open_key *k = open_key_build(path, 1, 0, &t);
    if (!k)
        return 0;
    k->key_flags |= OPEN_K_URING;
    ct_note_current_cgroup(t.task, k->cgroup_id);
    if (skips) {
        if (!OPEN_FAILED_ONLY)
            open_count_key(k, 0);
        return 0;
    }
    ct_uring_keep(req, k);
#else
    u32 sc = op == CT_IORING_OP_OPENAT ? OPEN_SYS_URING_OPENAT : OPEN_SYS_URING_OPENAT2;
    struct open_event *e = open_start(&t);
    if (!e || !open_build(e, path, 1, ct_uring_open_dfd(req), sc, 0, flags,
                          ct_uring_open_mode(req),
                          OPEN_F_URING | (skips ? OPEN_F_NO_RESULT : 0)))
        return 0;
    /* The raw file_slot until the result says which slot it filled. */
    e->fixed_slot = (s32)ct_uring_open_slot(req);
    if (skips) {
        e->fixed_slot = ct_uring_fixed_index((u32)e->fixed_slot, 0);
        if (!OPEN_FAILED_ONLY)
            open_send(e);
        return 0;
    }
    ct_uring_keep(req, e);
#endif
    return 0;
}

TRACEPOINT_PROBE(io_uring, io_uring_complete)
{
    void *req = args->req;
    CT_URING_REQ_T *kept = ct_uring_find(req);
    if (!kept)
        return 0;
    s32 res = args->res;
    if (!OPEN_FAILED_ONLY || res < 0) {
#if OPEN_SUMMARY
        open_count_key(kept, res);
#else
        kept->ret = res;
        kept->fixed_slot = ct_uring_fixed_index((u32)kept->fixed_slot, res);
        open_send(kept);
#endif
    }
    ct_uring_drop(req);
    return 0;
}
#endif /* CT_URING */
