/* ct_path.h: a file's path as names, walked in the kernel (containeropen
 * -F, containerescape). */
#ifndef CT_PATH_H
#define CT_PATH_H

#include "ct_context.h"

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

#endif /* CT_PATH_H */
