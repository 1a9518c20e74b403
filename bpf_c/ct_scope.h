/* ct_scope.h: ct_traced_task(), the one in-kernel scope check (containers
 * only unless --host; -c, -p, -u, -n).  -c's cgroups are followed as they are
 * created (ct_follow.h): a restarted container's, a selected pod's new
 * containers'. */
#ifndef CT_SCOPE_H
#define CT_SCOPE_H

#include "ct_context.h"
#include "ct_follow.h"
#include "ct_workload.h"

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

/* Is the current task (T, from ct_current()) in the tool's scope?  Cheap
 * checks first: it runs on every event of the machine, host processes
 * included. */
static __always_inline int ct_traced_task(const struct ct_task *t)
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

#endif /* CT_SCOPE_H */
