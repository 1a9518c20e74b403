/* containerescape.h: the finding containerescape's BPF program sends and
 * its Python side decodes (through BCC, from this struct), and the
 * constants both sides share (read by ctrace.bpf.header_constants). */
#ifndef CONTAINERESCAPE_H
#define CONTAINERESCAPE_H

/* tools/containerescape defines CT_WORKLOAD_RULE (ctrace.h): only the
 * workload is judged, never the runtime's set-up. */
#include "ctrace.h"

/* Techniques (JSON field `technique`; ESC_TECH_NAMES in the tool). */
#define ESC_T_HOST_NAMESPACE 0
#define ESC_T_MOUNT 1
#define ESC_T_SENSITIVE_WRITE 2
#define ESC_T_KERNEL_MODULE 3
#define ESC_T_RUNTIME_SOCKET 4
#define ESC_T_PTRACE 5
#define ESC_T_KERNEL_ATTACK_SURFACE 6
#define ESC_T_PRIVILEGE 7
#define ESC_T_HOST_HELPER_EXEC 8
#define ESC_T_COUNT 9

/* esc_event.nr for findings that are not a system call's. */
#define ESC_NR_EXEC 0xffff

/* esc_event.flags */
#define ESC_F_RESOLVED 1        /* data: the opened file's path, names leaf first */
#define ESC_F_COMPLETE 2        /* ... up to the task's root */
#define ESC_F_OUTSIDE_ROOT 4    /* ... reached the top without meeting the task's
                                   root: a file outside the container's filesystem */
#define ESC_F_BLOCK_DEVICE 8    /* the opened file is a block device */
#define ESC_F_CHAR_MEM 16       /* ... the mem character device (major 1):
                                   /dev/mem, /dev/kmem, /dev/port */
#define ESC_F_PEER 32           /* connect: data is the name the listener bound */
#define ESC_F_FILTERED 64       /* the task is under its container's seccomp filter */
#define ESC_F_OVERLAY 128       /* exec: the executable is on an overlayfs */
#define ESC_F_TARGET 256        /* target_mntns/target_pid name the target task */

/* data[]: strings, NUL-separated; offsets masked with ESC_DATA_MASK for the
 * verifier, ESC_NAME_MAX bytes of slack after it take the last string. */
#define ESC_NAME_MAX 256
#define ESC_DATA_MASK 4095
#define ESC_DATA_SIZE (ESC_DATA_MASK + 1 + ESC_NAME_MAX)
#define ESC_MAX_DEPTH 40
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
                           numbers it; exec: the former real uid */
    u32 target_mntns;   /* ptrace: the tracee's mount namespace;
                           exec: the executable's mount's namespace */
    u32 target_pid;     /* ptrace: the tracee's host pid */
    u16 data_len;       /* bytes used in data[] */
    u16 _pad16;
    u32 _pad;
    char data[ESC_DATA_SIZE];
};

#endif
