/* ct_workload.h: ct_workload() / ct_runtime_setup() / ct_filter_governs():
 * is this task the runtime's set-up or the container's workload (with
 * CT_WORKLOAD_RULE); ct_marked_workload() for the scope check. */
#ifndef CT_WORKLOAD_H
#define CT_WORKLOAD_H

#include "ct_context.h"

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
#define CT_W_KNOWN 0x80     /* ct_stage_mark(): ct_stage has the task's mark */

static __always_inline u32 ct_stage_read(u32 tid)
{
    u8 *s = ct_stage.lookup(&tid);
    return s ? CT_W_KNOWN | *s : 0;
}

#ifndef CT_STAGE_MEMO
#define CT_STAGE_MEMO 1
#endif
#if CT_STAGE_MEMO
/* What this CPU read from ct_stage last: a loop of one task's events costs
 * two array loads, not a hash lookup (ct_stage's bucket and element miss
 * the caches behind a busy ring buffer: containeropen's exit is 20-35 ns
 * shorter by bpf_stats).  One u64, so that a program that interrupts
 * another on this CPU cannot leave half of one: the tid (22 bits:
 * PID_MAX_LIMIT is 2^22), the mark with CT_W_KNOWN (8), and the generation
 * it was read at (34).  Every change to ct_stage bumps ct_stage_gen
 * (ct_stage_changed()), after the change: each CPU's memo is then stale.
 * A CPU only asks for the task it runs, whose mark changes only in its own
 * exec (on this CPU), its fork (before it ran) or its free (after it
 * died): no reordering of the two can hide a change.  It costs code,
 * about 60 instructions where a lookup is 10 at each place that asks:
 * containerescape, which asks at two dozen places for the rare calls it
 * judges, goes without (CT_STAGE_MEMO 0). */
BPF_PERCPU_ARRAY(ct_stage_memo, u64, 1);
BPF_ARRAY(ct_stage_gen, u64, 1);
#define CT_MEMO_TID_BITS 22
#define CT_MEMO_GEN_SHIFT 30

/* The current task's (TID's) mark in ct_stage with CT_W_KNOWN, or 0 if it
 * has none. */
static __always_inline u32 ct_stage_mark(u32 tid)
{
    int zero = 0;
    u64 *gen = ct_stage_gen.lookup(&zero);
    u64 *memo = ct_stage_memo.lookup(&zero);
    if (!gen || !memo)
        return ct_stage_read(tid);
    /* The generation is read before ct_stage: a change made in between
     * leaves a memo that is already stale. */
    u64 g = *gen << CT_MEMO_GEN_SHIFT;
    u64 m = *memo;
    if ((m & ((1u << CT_MEMO_TID_BITS) - 1)) == tid &&
        (m >> CT_MEMO_GEN_SHIFT << CT_MEMO_GEN_SHIFT) == g)
        return (m >> CT_MEMO_TID_BITS) & 0xff;
    u32 mark = ct_stage_read(tid);
    *memo = g | (u64)mark << CT_MEMO_TID_BITS | tid;
    return mark;
}

/* After each change to ct_stage. */
static __always_inline void ct_stage_changed(void)
{
    int zero = 0;
    u64 *gen = ct_stage_gen.lookup(&zero);
    if (gen)
        __sync_fetch_and_add(gen, 1);
}
#else
#define ct_stage_mark(tid) ct_stage_read(tid)
#define ct_stage_changed() do {} while (0)
#endif

/* A task marked workload stays in scope after it joins the host's
 * namespaces: setns into a host namespace is the escape to report. */
static __always_inline int ct_marked_workload(void)
{
    return ct_stage_mark((u32)bpf_get_current_pid_tgid()) & CT_W_WORKLOAD;
}
#endif
#if !CT_STICKY_WORKLOAD
#define ct_marked_workload() 0
#endif

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

static __always_inline u32 ct_seccomp_mode(const struct ct_task *t)
{
    return CT_LOAD(u32, t->task, CT_OFF_TASK_SECCOMP_MODE);
}

/* Does T run a program of its own mount namespace?  The runtime's set-up
 * runs the runtime's binary (from the host, or a copy in a memfd) until
 * the entrypoint's exec; a workload runs the container's programs. */
static __always_inline int ct_runs_own_program(const struct ct_task *t)
{
    void *file = ct_read_ptr(ct_read_ptr(t->task, CT_OFF_TASK_MM), CT_OFF_MM_EXE_FILE);
    void *mnt = ct_read_ptr(file, CT_OFF_FILE_F_PATH + CT_OFF_PATH_MNT);
    if (!mnt)
        return 0;
    void *mnt_ns = ct_read_ptr(mnt - CT_OFF_MOUNT_MNT, CT_OFF_MOUNT_MNT_NS);
    return ct_read_u32(mnt_ns, CT_OFF_MNT_NS_INUM) == ct_cur_mntns(t);
}

/* CT_W_* of the current task T. */
static __always_inline u32 ct_stage_of(const struct ct_task *t, u32 tid)
{
    u32 mark = ct_stage_mark(tid);
    if (mark & CT_W_KNOWN)
        return mark & ~CT_W_KNOWN;
    /* Running before the tool started (a runtime's init waiting for its
     * start, say): by its namespaces and its program. */
    return ct_cur_in_container_ns(t) && ct_runs_own_program(t) ? CT_W_WORKLOAD : 0;
}

static __always_inline int ct_workload(const struct ct_task *t)
{
    return ct_stage_of(t, (u32)bpf_get_current_pid_tgid()) & CT_W_WORKLOAD;
}

/* The runtime's set-up (runc init and the like), for the current task T in
 * scope: not the workload, unless --host and T is a host process (the
 * host's own, not a container's set-up).  A map lookup: call it only for
 * events already in scope. */
static __always_inline int ct_runtime_setup(const struct ct_task *t)
{
#if CT_INCLUDE_HOST
    if (!ct_cur_in_container_ns(t))
        return 0;
#endif
    return !(ct_stage_of(t, (u32)bpf_get_current_pid_tgid()) & CT_W_WORKLOAD);
}

static __always_inline int ct_filter_governs(const struct ct_task *t)
{
    if (ct_seccomp_mode(t) != CT_SECCOMP_MODE_FILTER)
        return 0;
    return !(ct_stage_of(t, (u32)bpf_get_current_pid_tgid()) & CT_W_OUTSIDE_FILTER);
}

/* A task ct_stage has no room for is judged as one running before the
 * tool started (ct_stage_of). */
static __always_inline void ct_stage_set(u32 tid, u8 stage)
{
    ct_stage.update(&tid, &stage);
    ct_stage_changed();
}

/* args: struct task_struct *parent, struct task_struct *child; current is
 * the parent. */
CT_NEEDS_TRACEPOINT(CT_WORKLOAD_RULE, sched, sched_process_fork)
RAW_TRACEPOINT_PROBE(sched_process_fork)
{
    struct ct_task task = ct_current(), *t = &task;
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
CT_NEEDS_TRACEPOINT(CT_WORKLOAD_RULE, sched, sched_process_exec)
RAW_TRACEPOINT_PROBE(sched_process_exec)
{
    struct ct_task task = ct_current(), *t = &task;
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
CT_NEEDS_TRACEPOINT(CT_WORKLOAD_RULE, sched, sched_process_free)
RAW_TRACEPOINT_PROBE(sched_process_free)
{
    u32 tid = ct_read_u32((void *)ctx->args[0], CT_OFF_TASK_PID);
    ct_stage.delete(&tid);
    ct_stage_changed();
    return 0;
}
#endif /* CT_WORKLOAD_RULE */

#endif /* CT_WORKLOAD_H */
