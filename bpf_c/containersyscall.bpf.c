/* containersyscall: system calls and their errors, counted per container
 * in the kernel.
 *
 * One BPF program per system call, at the raw_syscalls sys_exit raw
 * tracepoint: it sees the syscall number (from pt_regs) and the return
 * value, so a call and its error are counted together, and no per-call
 * record is formatted (raw tracepoint).  That is the only per-call hook:
 * enabling raw_syscalls:sys_enter as well (or any syscalls:sys_enter_*
 * tracepoint, which hangs off it) would cost every system call of the
 * machine a second dispatch.  So the calls the exit hook cannot name are
 * counted without it:
 *   - exit and exit_group never return: counted at sched_process_exit, once
 *     per task, when the task's saved syscall number says it is ending
 *     through one of them (a task killed by a signal is not);
 *   - rt_sigreturn returns with the syscall number wiped (-1) by the
 *     registers it restores: a -1 at exit is counted as rt_sigreturn.
 * A new task's first return from clone/fork (0, in the child) is not a
 * call of its own and is skipped.
 *
 * On x86_64 a 32-bit (ia32) call is marked with SC_NR_COMPAT: its number is
 * from the i386 table.  Its sigreturn and rt_sigreturn cannot be told apart
 * (both wipe the number): both count as rt_sigreturn (user space knows).
 *
 * The program runs for every system call on the machine, so it is kept to
 * a lookup in a per-CPU cache of the tasks that ran there (their cgroup,
 * namespaces and scope, computed once per task and CPU: task_cache below),
 * the syscall number by direct loads, and one counter update: in the
 * task's row (containersyscall.h, SC_MAX_SLOTS), by index, else in the
 * hash map.
 *
 * What is counted is what reached the kernel's syscall entry: a call that a
 * seccomp filter refused counts as a call that failed (EPERM, or the
 * filter's errno).  A call a ptrace tracer skipped (number set to -1)
 * counts as rt_sigreturn.
 *
 * Record mode (--seccomp, SC_RECORD) counts only the calls the container's
 * seccomp filter sees: recorded() below.  Live mode leaves out the runtime's
 * set-up (ctrace.h's ct_runtime_setup(), judged once per task in the cache
 * and again after an exec), or counts it under SC_K_RUNTIME (--runtime).
 *
 * io_uring operations, which no seccomp filter sees, are counted beside the
 * calls (SC_NR_URING | opcode): at submit, by the submitting task or the
 * ring's polling thread (a thread of the same process); their failures at
 * completion.  These hooks fire only for io_uring requests.
 */
#include "containersyscall.h"
#include "ct_uring.h"

/* Only where the kernel keeps an ia32 marker there (x86_64). */
CT_BTF_OFFSET_IF(SC_OFF_TASK_TI_STATUS, task_struct.thread_info.status)
/* Record mode's: the task's seccomp filters. */
CT_BTF_OFFSET(SC_OFF_TASK_SECCOMP_FILTER, task_struct.seccomp.filter)
CT_BTF_OFFSET(SC_OFF_SECCOMP_FILTER_PREV, seccomp_filter.prev)

BPF_HASH(counts, struct sc_key, struct sc_val, SC_MAX_KEYS);
/* The rows (containersyscall.h, SC_MAX_SLOTS): a slot's row by index. */
#define SC_BPF_F_MMAPABLE (1U << 10)    /* uapi linux/bpf.h */
BPF_F_TABLE("array", u32, struct sc_val, rows, SC_MAX_SLOTS * SC_COLUMNS, SC_BPF_F_MMAPABLE);
BPF_HASH(slots, struct sc_slot_key, u32, SC_MAX_SLOTS);         /* key -> its slot */
BPF_HASH(slot_owner, u32, struct sc_slot_key, SC_MAX_SLOTS);    /* slot -> who claimed it */
BPF_ARRAY(slot_hint, u32, 1);   /* the next slot to claim (racy: where to start) */
BPF_ARRAY(dropped, u64, 1);     /* calls not counted: a counter map was full */
#if SC_ERRNO
BPF_HASH(errnos, struct sc_ekey, u64, SC_MAX_KEYS);
#endif
/* Per CPU, the tasks that made calls there lately (SC_CACHE_WAYS ways, by
 * tid): each one's cgroup, mount namespace and whether it is in scope, so
 * that these are read once per task and CPU, not once per call, and the
 * slot of its row.  Each cache line a program touches costs about 20 ns
 * here (a system call's work evicts them): bpf_task_storage_get() and
 * bpf_get_current_cgroup_id() each touched several, and this loop's
 * sys_exit took 165 ns a call with them, 140 with this cache (bpf_stats).
 * An entry holds for its tid and the generation (task_cache_gen) it was
 * made at.  The generation moves, and every CPU's entries go stale, when
 * what an entry holds can change: a task's namespaces (setns, unshare),
 * its set-up verdict (an exec), its cgroup (cgroup_attach_task, which the
 * kernel traces just after the move: calls in between count under the
 * cgroup the task left) and its tid (a task's exit: the tid may be
 * another's next).  Only used when no filter that can change over a
 * task's life (-c: cgroup, -u, -n) is set. */
#define SC_T_VALID 1
#define SC_T_TRACED 2
#define SC_T_SLOT 8         /* slot is the task's row */
struct sc_task {
    u64 gen;            /* task_cache_gen when made */
    u64 cgroup_id;
    u32 tid;
    u32 mntns;
    u32 flags;
    u32 slot;
};
#define SC_CACHE_WAYS 8     /* a power of two */
#if SC_TASK_CACHE
BPF_PERCPU_ARRAY(task_cache, struct sc_task, SC_CACHE_WAYS);
BPF_ARRAY(task_cache_gen, u64, 1);
#endif

/* Every CPU's cached tasks are stale from now on (without the cache,
 * nothing: no shared counter bumped at every task's exit). */
static __always_inline void task_cache_invalidate(void)
{
#if SC_TASK_CACHE
    int zero = 0;
    u64 *gen = task_cache_gen.lookup(&zero);
    if (gen)
        __sync_fetch_and_add(gen, 1);
#endif
}

static __always_inline void count_dropped(void)
{
    int zero = 0;
    u64 *n = dropped.lookup(&zero);
    if (n)
        __sync_fetch_and_add(n, 1);
}

#if SC_ERRNO
static __always_inline void count_errno(struct sc_key *k, long ret)
{
    struct sc_ekey ek = {.cgroup_id = k->cgroup_id, .mntns = k->mntns, .nr = k->nr,
                         .err = (u32)(-ret), .key_flags = k->key_flags};
    u64 *n = errnos.lookup(&ek);
    if (n) {
        __sync_fetch_and_add(n, 1);
        return;
    }
    u64 one = 1;
    if (errnos.insert(&ek, &one)) {
        n = errnos.lookup(&ek);
        if (n)
            __sync_fetch_and_add(n, 1);
        else
            count_dropped();
    }
}
#endif

/* Direct loads through the current task's BTF pointer: the verifier checks
 * each offset against the kernel's BTF and turns it into a faulting-safe
 * load, a few times cheaper here than a bpf_probe_read_kernel() call.  The
 * offsets still come from BTF (CT_OFF_*), never from the headers BCC
 * compiles against. */

/* The syscall number in the current task's saved registers. */
static __always_inline u32 current_syscall_nr(void *task)
{
    void *regs = (void *)bpf_task_pt_regs(task);
    return CT_LOAD(u32, regs, CT_OFF_REGS_NR);
}

/* The scope decision and mount namespace of the current task, without
 * the per-task cache. */
static __always_inline int task_scope(const struct ct_task *t, u32 *mntns)
{
    *mntns = ct_cur_mntns(t);
    return ct_traced_task(t);
}

#if SC_RECORD
/* --seccomp: is this a call the container's seccomp filter sees?
 *
 * - Every call of the workload (ctrace.h's ct_workload(): a task that
 *   exec'd in the container's namespaces, or descends from one that did),
 *   from its first instruction: the filter, installed before the
 *   entrypoint's exec and inherited, sees them all.
 * - Of the runtime's tasks, the calls the filter governs
 *   (ct_filter_governs(): seccomp mode SECCOMP_MODE_FILTER, the filter
 *   installed inside the container): runc's last steps after installing it
 *   (capset, setuid, the exec fifo, execve, ...; for docker exec too).  Its
 *   set-up before the filter (mount, pivot_root, sethostname, the setns of
 *   docker exec, ...) runs in mode 0 and is left out.  Without a container
 *   filter (seccomp=unconfined or privileged: the mode stays 0) or under a
 *   filter from outside the container (CT_W_OUTSIDE_FILTER: the runtime
 *   itself ran under one) none of the runtime's calls are: user space adds
 *   its after-the-filter calls as a fixed set (ctrace/seccomp.py).
 *
 * The runtime's call that installs the filter, prctl(PR_SET_SECCOMP) (runc)
 * or seccomp(SECCOMP_SET_MODE_FILTER), enters in mode 0 (the filter never
 * sees it) and exits in mode 2.  Calls are counted at sys_exit (a sys_enter
 * hook would cost every call of the machine a second dispatch), so it is
 * recognised there instead: a successful install whose filter is the task's
 * only one (seccomp.filter->prev NULL) had no filter before it.  A workload
 * that installs a filter of its own is not the runtime: under the recorded
 * profile the container's filter sees that call, so it is counted. */
#define SC_SECCOMP_SET_MODE_FILTER 1    /* uapi linux/seccomp.h */
#define SC_PR_SET_SECCOMP 22            /* uapi linux/prctl.h */

static __always_inline int installed_first_filter(void *task, u32 nr, long ret)
{
    if (ret < 0 || (nr != SC_NR_SECCOMP && nr != SC_NR_PRCTL))
        return 0;
    void *regs = (void *)bpf_task_pt_regs(task);
    u64 op = CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
    if (op != (nr == SC_NR_SECCOMP ? SC_SECCOMP_SET_MODE_FILTER : SC_PR_SET_SECCOMP))
        return 0;
    void *filter = ct_read_ptr(task, SC_OFF_TASK_SECCOMP_FILTER);
    return filter && !ct_read_ptr(filter, SC_OFF_SECCOMP_FILTER_PREV);
}

static __always_inline int recorded(void *task, u32 nr, long ret)
{
    struct ct_task t = ct_task_of(task);
    if (ct_workload(&t))
        return 1;
    return ct_filter_governs(&t) && !installed_first_filter(task, nr, ret);
}
#endif

#define SC_T_SETUP 4        /* the runtime's set-up (until its exec) */

/* Live mode: is the current task (TASK) the runtime's set-up? */
static __always_inline u32 setup_of(const struct ct_task *t)
{
#if SC_LIVE_RULE
    return ct_runtime_setup(t) ? SC_T_SETUP : 0;
#else
    return 0;
#endif
}

/* Is the current task (TASK) in scope: its mount namespace in *MNTNS, its
 * cgroup in *CGROUP_ID, and SC_T_SETUP in *SETUP for the runtime's
 * set-up.  CACHED: through the per-CPU task cache, where there is one
 * (its entry in *TCP). */
static __always_inline int in_scope(void *task, int cached, u32 *mntns, u64 *cgroup_id,
                                    u32 *setup, struct sc_task **tcp)
{
#if SC_TASK_CACHE
    int zero = 0;
    u32 tid = 0, way = 0;
    u64 *genp = 0;
    struct sc_task *tc = 0;
    if (cached) {       /* sys_exit's program only: the others skip the lookups */
        genp = task_cache_gen.lookup(&zero);
        tid = (u32)bpf_get_current_pid_tgid();
        way = tid & (SC_CACHE_WAYS - 1);
        tc = genp ? task_cache.lookup(&way) : 0;
    }
    if (tc && genp) {
        /* The generation is read before the task is: a change made in
         * between leaves an entry that is already stale. */
        u64 gen = *genp;
        if (tc->tid == tid && tc->gen == gen && (tc->flags & SC_T_VALID)) {
            *tcp = tc;
            *mntns = tc->mntns;
            *cgroup_id = tc->cgroup_id;
            *setup = tc->flags & SC_T_SETUP;
            return tc->flags & SC_T_TRACED;
        }
        /* The task's pointers only now (struct ct_task), not at every call. */
        struct ct_task t = ct_task_of(task);
        int traced = task_scope(&t, mntns);
        *setup = traced ? setup_of(&t) : 0;
        *cgroup_id = bpf_get_current_cgroup_id();
        tc->gen = gen;
        tc->tid = tid;
        tc->cgroup_id = *cgroup_id;
        tc->mntns = *mntns;
        tc->flags = SC_T_VALID | (traced ? SC_T_TRACED : 0) | *setup;
        *tcp = tc;
        return traced;
    }
#endif
    struct ct_task t = ct_task_of(task);
    if (!task_scope(&t, mntns))
        return 0;
    *setup = setup_of(&t);
    *cgroup_id = bpf_get_current_cgroup_id();
    return 1;
}

/* The column of call NR in a row, or SC_NO_COLUMN (counted in the hash
 * map: an x32 call, a number beyond the columns). */
static __always_inline u32 column_of(u32 nr)
{
    if (nr & SC_NR_URING) {
        u32 op = nr & ~SC_NR_URING;
        return op < SC_COLUMNS - SC_COL_URING ? SC_COL_URING + op : SC_NO_COLUMN;
    }
    if (nr & SC_NR_COMPAT) {
        u32 n = nr & ~SC_NR_COMPAT;
        return n < SC_COL_URING - SC_COL_COMPAT ? SC_COL_COMPAT + n : SC_NO_COLUMN;
    }
    return nr < SC_COL_COMPAT ? nr : SC_NO_COLUMN;
}

/* SK's slot; CLAIM: claimed now if it has none (*NEW set): a CPU claims
 * a slot by inserting it into slot_owner, which fails if another CPU got
 * it first (BCC's compiler has no fetch-and-add that returns the value).
 * SC_NO_SLOT when it has none (none left, or not CLAIM). */
static __always_inline u32 slot_of(struct sc_slot_key *sk, int claim, int *new)
{
    u32 *found = slots.lookup(sk);
    if (found)
        return *found;
    if (!claim)
        return SC_NO_SLOT;
    int zero = 0;
    u32 *hint = slot_hint.lookup(&zero);
    if (!hint)
        return SC_NO_SLOT;
    u32 next = *hint;
#pragma unroll
    for (int i = 0; i < SC_CLAIM_TRIES; i++) {
        u32 n = next + i;
        if (n >= SC_MAX_SLOTS)
            return SC_NO_SLOT;
        if (slot_owner.insert(&n, sk) == 0) {
            *hint = n + 1;
            if (slots.insert(sk, &n) == 0) {
                *new = 1;
                return n;
            }
            /* Another CPU gave SK a slot meanwhile: N stays unused. */
            found = slots.lookup(sk);
            return found ? *found : SC_NO_SLOT;
        }
    }
    return SC_NO_SLOT;
}

/* The counters of call NR in the current task's row (SK), or NULL:
 * through the task's cache entry (TC, or NULL), which holds its cgroup.  Only
 * sys_exit's program (CLAIM) claims a new slot: the other counting
 * programs (a task's exit, io_uring's submits and completions) do not
 * inline the claim, which costs the verifier. */
static __always_inline struct sc_val *row_counters(void *task, struct sc_task *tc,
                                                   struct sc_slot_key *sk, u32 nr, int claim)
{
    u32 col = column_of(nr);
    if (col == SC_NO_COLUMN)
        return 0;
    u32 slot;
    if (tc && (tc->flags & SC_T_SLOT)) {
        slot = tc->slot;
    } else {
        int new = 0;
        slot = slot_of(sk, claim, &new);
        if (slot == SC_NO_SLOT)
            return 0;
        if (new)        /* first sight of a key may be first sight of its container */
            ct_note_current_cgroup(task, sk->cgroup_id);
        if (tc) {
            tc->slot = slot;
            tc->flags |= SC_T_SLOT;
        }
    }
    u32 index = slot * SC_COLUMNS + col;
    return rows.lookup(&index);
}

/* One call of NR that returned RET, by the current task (TASK, from
 * bpf_get_current_task_btf()).  CACHED: sys_exit's program, which uses the
 * task cache and claims rows. */
static __always_inline int count_call(void *task, u32 nr, long ret, int cached)
{
    u32 mntns = 0, setup = 0;
    u64 cgroup_id = 0;
    struct sc_task *tc = 0;
    if (!in_scope(task, cached, &mntns, &cgroup_id, &setup, &tc))
        return 0;
#if SC_RECORD
    if (!recorded(task, nr, ret))
        return 0;
#endif
#if !SC_RUNTIME
    if (setup)
        return 0;
#endif

    struct sc_key k = {.cgroup_id = cgroup_id, .mntns = mntns, .nr = nr,
                       .key_flags = setup ? SC_K_RUNTIME : 0};
    u64 failed = ret < 0 && ret >= -4095;
    struct sc_slot_key sk = {.cgroup_id = k.cgroup_id, .mntns = mntns, .key_flags = k.key_flags};
    struct sc_val *v = row_counters(task, tc, &sk, nr, cached);
    if (!v)
        v = counts.lookup(&k);
    if (!v) {
        struct sc_val init = {.calls = 1, .errors = failed};
        if (counts.insert(&k, &init) == 0)
            /* First sight of a key may be first sight of its container. */
            ct_note_current_cgroup(task, k.cgroup_id);
        else if (!(v = counts.lookup(&k)))
            /* Not created by another CPU meanwhile: the map is full. */
            count_dropped();
    }
    if (v) {
        __sync_fetch_and_add(&v->calls, 1);
        if (failed)
            __sync_fetch_and_add(&v->errors, 1);
    }
#if SC_ERRNO
    if (failed)
        count_errno(&k, ret);
#endif
    return 0;
}

/* The current task's syscall number, marked SC_NR_COMPAT for an ia32
 * call; SC_NR_WIPED (either ABI) when the registers hold none. */
static __always_inline u32 current_call(void *task)
{
    u32 nr = current_syscall_nr(task);
    if (nr == 0xffffffffu)
        return SC_NR_WIPED;
#ifdef SC_OFF_TASK_TI_STATUS
    if (CT_LOAD(u32, task, SC_OFF_TASK_TI_STATUS) & SC_TS_COMPAT)
        return nr | SC_NR_COMPAT;
#endif
    return nr;
}

RAW_TRACEPOINT_PROBE(sys_exit)
{
    /* args: struct pt_regs *regs, long ret */
    long ret = (long)ctx->args[1];
    void *task = bpf_get_current_task_btf();
    u32 nr = current_call(task);    /* from the registers of args[0] */
    if (nr == SC_NR_WIPED) {
        /* By the registers rt_sigreturn restored, whose ax is the
         * interrupted code's, not an error of rt_sigreturn. */
        ret = 0;
#ifdef SC_OFF_TASK_TI_STATUS
        if (CT_LOAD(u32, task, SC_OFF_TASK_TI_STATUS) & SC_TS_COMPAT)
            nr = SC_NR_COMPAT_RT_SIGRETURN;
        else
#endif
            nr = SC_NR_RT_SIGRETURN;
    } else if (ret == 0 && (nr == SC_NR_CLONE || nr == SC_NR_CLONE3 ||
                          nr == SC_NR_FORK || nr == SC_NR_VFORK ||
                          nr == SC_NR_COMPAT_CLONE || nr == SC_NR_COMPAT_CLONE3 ||
                          nr == SC_NR_COMPAT_FORK || nr == SC_NR_COMPAT_VFORK))
        return 0;       /* the child's return: the parent counts the call */
#if SC_TASK_CACHE
    else if (nr == SC_NR_SETNS || nr == SC_NR_UNSHARE ||
             nr == SC_NR_COMPAT_SETNS || nr == SC_NR_COMPAT_UNSHARE)
        task_cache_invalidate();
#if SC_LIVE_RULE
    /* An exec ends the runtime's set-up (ctrace.h's rule): judged again. */
    else if (ret == 0 && (nr == SC_NR_EXECVE || nr == SC_NR_EXECVEAT ||
                          nr == SC_NR_COMPAT_EXECVE || nr == SC_NR_COMPAT_EXECVEAT))
        task_cache_invalidate();
#endif
#endif
    return count_call(task, nr, ret, 1);
}

/* exit and exit_group, which never reach sys_exit: the number of the call
 * a task is ending in is still in its saved registers.  A task killed by
 * a signal (or a kernel thread: zeroed registers) is in some other call,
 * or none. */
TRACEPOINT_PROBE(sched, sched_process_exit)
{
    void *task = bpf_get_current_task_btf();
    task_cache_invalidate();    /* its tid may be another task's next */
    u32 nr = current_call(task);
    if (nr != SC_NR_EXIT && nr != SC_NR_EXIT_GROUP &&
        nr != SC_NR_COMPAT_EXIT && nr != SC_NR_COMPAT_EXIT_GROUP)
        return 0;
    return count_call(task, nr, 0, 0);
}

/* A task moved to another cgroup (cgroup.procs written): the cached
 * cgroups are stale.  args: struct cgroup *dst_cgrp, const char *path,
 * struct task_struct *task, bool threadgroup. */
RAW_TRACEPOINT_PROBE(cgroup_attach_task)
{
    task_cache_invalidate();
    return 0;
}

#if CT_URING
TRACEPOINT_PROBE(io_uring, io_uring_submit_req)
{
    return count_call(bpf_get_current_task_btf(), SC_NR_URING | args->opcode, 0, 0);
}

/* A failed operation: its submit made the key (a request completes in a
 * task of the process that submitted it). */
TRACEPOINT_PROBE(io_uring, io_uring_complete)
{
    long res = args->res;
    if (res >= 0)
        return 0;
    struct ct_task t = ct_current();
    u32 mntns;
    if (!task_scope(&t, &mntns))
        return 0;
    struct sc_key k = {.cgroup_id = bpf_get_current_cgroup_id(), .mntns = mntns,
                       .nr = SC_NR_URING | ct_uring_opcode(args->req)};
    /* The counters its submit counted the operation in. */
    struct sc_slot_key sk = {.cgroup_id = k.cgroup_id, .mntns = mntns};
    struct sc_val *v = row_counters(t.task, 0, &sk, k.nr, 0);
    if (!v)
        v = counts.lookup(&k);
    if (!v)
        return 0;
    __sync_fetch_and_add(&v->errors, 1);
#if SC_ERRNO
    count_errno(&k, res);
#endif
    return 0;
}
#endif /* CT_URING */
