/* containersyscall: system calls and their errors, counted per container
 * in the kernel.
 *
 * raw_syscalls sys_enter counts a call; sys_exit counts an error (a return
 * of -4095..-1).  Raw tracepoints: no per-call record is formatted, the
 * syscall number and return value come straight from the arguments.  Calls
 * are counted at entry so that exit and exit_group, which never return,
 * are counted too; a call that a seccomp filter refused never reaches the
 * entry tracepoint (seccomp runs first) but does return, so it shows as an
 * error without a call.
 */
#include "containersyscall.h"

BPF_HASH(counts, struct sc_key, struct sc_val, SC_MAX_KEYS);
BPF_HASH(cgnames, struct sc_ckey, struct ct_ctx, SC_MAX_CONTAINERS);
BPF_PERCPU_ARRAY(ctx_scratch, struct ct_ctx, 1);
BPF_ARRAY(dropped, u64, 1);     /* counters not created: a map was full */
/* Never written: the shared run loop (ctrace/bpf.py) waits on ring buffers. */
BPF_RINGBUF_OUTPUT(events, 1);
#if SC_ERRNO
BPF_HASH(errnos, struct sc_ekey, u64, SC_MAX_KEYS);
#endif

static __always_inline void count_dropped(void)
{
    int zero = 0;
    u64 *n = dropped.lookup(&zero);
    if (n)
        __sync_fetch_and_add(n, 1);
}

/* Called when a counter is created: first sight of a key may be first
 * sight of its container. */
static __always_inline void note_container(struct sc_key *k)
{
    struct sc_ckey ck = {.cgroup_id = k->cgroup_id, .mntns = k->mntns};
    if (cgnames.lookup(&ck))
        return;
    int zero = 0;
    struct ct_ctx *c = ctx_scratch.lookup(&zero);
    if (!c)
        return;
    ct_fill(c);
    if (cgnames.insert(&ck, c) && !cgnames.lookup(&ck))
        count_dropped();
}

static __always_inline void make_key(struct sc_key *k, u32 nr)
{
    k->cgroup_id = bpf_get_current_cgroup_id();
    k->mntns = ct_task_mntns((void *)bpf_get_current_task());
    k->nr = nr;
}

RAW_TRACEPOINT_PROBE(sys_enter)
{
    /* args: struct pt_regs *regs, long id */
    if (!ct_traced())
        return 0;
    struct sc_key k = {};
    make_key(&k, (u32)ctx->args[1]);
    struct sc_val *v = counts.lookup(&k);
    if (v) {
        __sync_fetch_and_add(&v->calls, 1);
        return 0;
    }
    struct sc_val init = {.calls = 1, .errors = 0};
    if (counts.insert(&k, &init)) {
        /* Another CPU created it meanwhile, or the map is full. */
        v = counts.lookup(&k);
        if (v)
            __sync_fetch_and_add(&v->calls, 1);
        else
            count_dropped();
        return 0;
    }
    note_container(&k);
    return 0;
}

RAW_TRACEPOINT_PROBE(sys_exit)
{
    /* args: struct pt_regs *regs, long ret.  Successes leave here. */
    long ret = (long)ctx->args[1];
    if (ret >= 0 || ret < -4095)
        return 0;
    if (!ct_traced())
        return 0;
    struct sc_key k = {};
    make_key(&k, ct_read_u32((void *)ctx->args[0], SC_OFF_REGS_NR));
    struct sc_val *v = counts.lookup(&k);
    if (v) {
        __sync_fetch_and_add(&v->errors, 1);
    } else {
        struct sc_val init = {.calls = 0, .errors = 1};
        if (counts.insert(&k, &init) == 0) {
            note_container(&k);
        } else {
            v = counts.lookup(&k);
            if (v)
                __sync_fetch_and_add(&v->errors, 1);
            else
                count_dropped();
        }
    }
#if SC_ERRNO
    struct sc_ekey ek = {.cgroup_id = k.cgroup_id, .mntns = k.mntns, .nr = k.nr,
                         .err = (u32)(-ret)};
    u64 *n = errnos.lookup(&ek);
    if (n) {
        __sync_fetch_and_add(n, 1);
    } else {
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
    return 0;
}
