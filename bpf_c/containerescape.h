/* containerescape.h: the finding containerescape's BPF program sends and
 * its Python side decodes (through BCC, from this struct), the keys of the
 * rule maps user space fills, and the constants both sides share (read by
 * ctrace.bpf.header_constants). */
#ifndef CONTAINERESCAPE_H
#define CONTAINERESCAPE_H

/* tools/containerescape defines CT_WORKLOAD_RULE (ctrace.h): only the
 * workload is judged, never the runtime's set-up. */
#include "ctrace.h"

/* Techniques (JSON field `technique`; ctrace.escape.TECHNIQUES). */
#define ESC_T_HOST_NAMESPACE 0
#define ESC_T_MOUNT 1
#define ESC_T_SENSITIVE_WRITE 2
#define ESC_T_KERNEL_MODULE 3
#define ESC_T_RUNTIME_SOCKET 4
#define ESC_T_PTRACE 5
#define ESC_T_KERNEL_ATTACK_SURFACE 6
#define ESC_T_PRIVILEGE 7
#define ESC_T_HOST_HELPER_EXEC 8
#define ESC_T_HOST_FILE 9
#define ESC_T_FILE_HANDLE 10
#define ESC_T_COUNT 11

/* esc_event.nr for findings that are not a system call's. */
#define ESC_NR_EXEC 0xffff
#define ESC_NR_URING 0x10000    /* | the io_uring opcode (IORING_OP_*) */

/* esc_event.flags */
#define ESC_F_RESOLVED 1        /* data: the file's path, names leaf first */
#define ESC_F_OUTSIDE_ROOT 2    /* ... whose walk reached the top of the mount tree
                                   without meeting the task's root */
#define ESC_F_OUTSIDE_MOUNT 4   /* ... or its filesystem's root without meeting its
                                   mount's root: a file no mount shows (a handle) */
#define ESC_F_PEER 8            /* connect: data is the name the listener bound */
#define ESC_F_FILTERED 16       /* the task is under its container's seccomp filter */
#define ESC_F_TARGET 32         /* ptrace: target_mntns names the tracee's */
#define ESC_F_OBJECT 64         /* ino, dev, fs_magic and the fs path are the file's */
#define ESC_F_KILLED 128        /* --kill: the process was sent SIGKILL */

/* esc_event.reason: why the kernel judged an open a finding */
#define ESC_R_OBJECT 1          /* an object rule (filesystem, path in it): rule */
#define ESC_R_NAME 2            /* a failed open: the last name as given: rule */
#define ESC_R_HOST_FILE 3       /* a host file rule: rule, at fs path level rule_level */
#define ESC_R_BLOCK_DEVICE 4
#define ESC_R_MEM_DEVICE 5      /* the mem character device (major 1): mem, kmem, port */
#define ESC_R_OUTSIDE 6         /* ESC_F_OUTSIDE_ROOT or ESC_F_OUTSIDE_MOUNT */

/* Rule maps, filled by user space at start (ctrace/escape.py's tables). */
#define ESC_RULE_OTHER_PROCESS 0x10000  /* object rule: only another process's file */
#define ESC_RULE_SILENT 0xffff          /* names: a known harmless value */
#define ESC_RULE_BIND 0xfffe            /* mount: a bind mount */
#define ESC_RULE_DEVICE 0xfffd          /* mount: a device's filesystem */
#define ESC_HOST_SENSITIVE 1            /* host files: value >> 16 */
#define ESC_HOST_SILENT 2               /* a data volume's directory */
#define ESC_HOST_RUNTIME 3              /* the runtime's per-container files: silent
                                           when the file is its own mount (hostname) */
#define ESC_N_OPEN_LEAF 1               /* names: a failed write-open's last name */
#define ESC_N_SOCKET_LEAF 2             /* a unix socket's last name */
#define ESC_N_SOCKET_PREFIX 3           /* a unix socket's first 16 bytes */
#define ESC_N_MOUNT_TYPE 4              /* a mount's filesystem type */
#define ESC_NAME_KEY 16                 /* names compare on 15 bytes and a NUL */

/* A file on a kernel filesystem: its superblock's magic and its path from
 * that filesystem's root (depth names; 0: the leaf name at any depth). */
struct esc_object_key {
    u32 magic;
    u32 depth;
    u64 names[6];               /* leaf, parent, grandparent: two each (BCC's
                                   keys know no two-dimensional arrays) */
};

/* A host file: the name NAME in directory DIR_INO of filesystem DEV (the
 * superblock's s_dev); DIR_INO 0 and no name: the whole filesystem. */
struct esc_host_key {
    u32 dev;
    u32 name_len;
    u64 dir_ino;
    u64 name[2];
};

struct esc_name_key {
    u32 kind;                   /* ESC_N_* */
    u32 _pad;
    u64 name[2];
};

/* Findings counted where they happen, per container and technique. */
struct esc_count_key {
    u64 cgroup_id;
    u32 mntns;
    u32 technique;
};
struct esc_counts {
    u64 attempts;
    u64 successes;
    u64 sent;                   /* sent to user space as a finding */
    u64 repeats;                /* folded into a sent finding's repeats */
    u64 lost;                   /* the ring buffer was full */
    u64 killed;                 /* --kill: processes sent SIGKILL */
};

/* The same finding within ESC_REPEAT_NS is folded: counted, not sent. */
#define ESC_REPEAT_NS 1000000000ULL
struct esc_repeat_key {
    u64 cgroup_id;
    u64 object;                 /* the file, socket, namespace, target... */
    u32 mntns;
    u32 technique;
    u32 nr;
    s32 ret;                    /* -errno, or for a success 1 if killed, else 0 */
};
struct esc_repeat {
    u64 window_ns;              /* when the last one was sent */
    u64 pending;                /* folded since */
};

/* data[]: strings, NUL-separated; offsets masked with ESC_DATA_MASK for the
 * verifier, ESC_NAME_MAX bytes of slack after it take the last string.  An
 * open's path as the container sees it starts at 0, its path within its
 * filesystem at ESC_FS_PATH_AT; each holds at most ESC_PATH_ROOM bytes. */
#define ESC_NAME_MAX 256
#define ESC_DATA_MASK 4095
#define ESC_DATA_SIZE (ESC_DATA_MASK + 1 + ESC_NAME_MAX)
#define ESC_FS_PATH_AT 2048
#define ESC_PATH_ROOM 1792
#define ESC_MAX_DEPTH 40
#define ESC_FS_DEPTH 16
#define ESC_UNIX_PATH 108

struct esc_event {
    CT_CONTEXT_FIELDS
    u32 technique;      /* ESC_T_* */
    s32 ret;            /* the syscall's result: >= 0, or -errno */
    u32 nr;             /* syscall number, or ESC_NR_EXEC */
    u32 flags;          /* ESC_F_* */
    u64 arg0;           /* open flags, mount flags, nstype, ptrace request,
                           clone/unshare flags, bpf command, new euid */
    u64 arg1;           /* setns: the target namespace's inum; ptrace,
                           process_vm_writev: the target pid as the caller
                           numbers it; exec: the former real uid;
                           open_by_handle_at: the handle's type */
    u64 ino;            /* ESC_F_OBJECT: the file's inode number */
    u32 dev;            /* ... its filesystem's device (major << 20 | minor) */
    u32 fs_magic;       /* ... its filesystem's magic number */
    u32 target_mntns;   /* ptrace: the tracee's mount namespace;
                           exec: the executable's mount's namespace */
    u32 repeats;        /* the same finding folded since the last one sent */
    u16 rule;           /* the rule of ESC_R_* reason that matched */
    u8 reason;          /* ESC_R_* */
    u8 rule_level;      /* ESC_R_HOST_FILE: the fs path's name the rule names
                           (0: the leaf) */
    u16 data_len;       /* bytes used in data[] from 0 */
    u16 fs_path_len;    /* bytes used in data[] from ESC_FS_PATH_AT */
    char data[ESC_DATA_SIZE];
};

#endif
