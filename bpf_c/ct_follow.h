/* ct_follow.h: -c's filter maps, and the following of a selected
 * container's or pod's cgroups as they are created (CT_FILTER_CONTAINERS). */
#ifndef CT_FOLLOW_H
#define CT_FOLLOW_H

#include "ct_context.h"

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
/* New cgroups the filter had no room for: the tool says so (man OVERHEAD). */
BPF_ARRAY(ct_filter_full, u64, 1);
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

CT_NEEDS_TRACEPOINT(CT_FILTER_CONTAINERS, cgroup, cgroup_mkdir)
RAW_TRACEPOINT_PROBE(cgroup_mkdir)
{
    void *kn = ct_cgroup2_kn((void *)ctx->args[0]);
    if (!kn)
        return 0;
    u64 id = ct_kn_id(kn);
    u64 parent = ct_kn_id(ct_read_ptr(kn, CT_OFF_KERNFS_NODE_PARENT));
    u8 one = 1;
    int zero = 0;
    long err = 0;
    if (ct_follow_children.lookup(&parent))
        err |= ct_filter_cgroup.update(&id, &one);
    struct ct_cgroup_path *key = ct_path_scratch.lookup(&zero);
    if (!key)
        goto out;
    __builtin_memset(key, 0, sizeof(*key));
    bpf_probe_read_kernel_str(key->path, sizeof(key->path), (void *)ctx->args[1]);
    u8 *how = ct_follow_cgroup.lookup(key);
    if (!how)
        goto out;
    if (*how & CT_FOLLOW_SELF)
        err |= ct_filter_cgroup.update(&id, &one);
    if (*how & CT_FOLLOW_CHILDREN)
        err |= ct_follow_children.update(&id, &one);
out:
    if (err) {
        u64 *full = ct_filter_full.lookup(&zero);
        if (full)
            __sync_fetch_and_add(full, 1);
    }
    return 0;
}

/* A cgroup removed: its id is never used again. */
CT_NEEDS_TRACEPOINT(CT_FILTER_CONTAINERS, cgroup, cgroup_rmdir)
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

#endif /* CT_FOLLOW_H */
