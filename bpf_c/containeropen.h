/* containeropen.h: what containeropen's BPF program sends and keeps, and
 * its Python side decodes (through BCC, from these structs).
 *
 * The event is small: the container context (CT_CONTEXT_FIELDS: the cgroup's
 * names are kept once per cgroup in ctrace.h's ct_cgroups, not per event)
 * and the path with its real length only.  An open storm thus costs about
 * 130 bytes of ring buffer per open.
 */
#ifndef CONTAINEROPEN_H
#define CONTAINEROPEN_H

#include "ctrace.h"

/* Path as passed: PATH_MAX bytes with its NUL (the kernel refuses longer). */
#define OPEN_PATH_MAX 4096
/* -F: the directory part, as NUL-separated names from the innermost
 * directory up to the task's root, at most OPEN_DIR_MAX bytes and
 * OPEN_MAX_DEPTH steps (names and mount crossings). */
#define OPEN_NAME_MAX 256
#define OPEN_DIR_MAX 4096
#define OPEN_MAX_DEPTH 48
/* data[]: path, then directory names.  Offsets into it are masked with
 * OPEN_DATA_MASK for the verifier; the slack after it takes the last name. */
#define OPEN_DATA_MASK 8191
#define OPEN_DATA_SIZE (OPEN_DATA_MASK + 1 + OPEN_NAME_MAX)

/* -s: paths are counted under their first OPEN_KEY_PATH_LEN - 1 bytes, in
 * a table of OPEN_SUMMARY_ENTRIES (container, path) rows. */
#define OPEN_KEY_PATH_LEN 256
#define OPEN_SUMMARY_ENTRIES 10240

#define OPEN_SYS_OPEN 0
#define OPEN_SYS_OPENAT 1
#define OPEN_SYS_OPENAT2 2
#define OPEN_SYS_CREAT 3
#define OPEN_SYS_URING_OPENAT 4     /* io_uring requests, not syscalls */
#define OPEN_SYS_URING_OPENAT2 5

/* open_event.capture_flags: how the capture went */
#define OPEN_F_PATH_TRUNCATED 1   /* path longer than OPEN_PATH_MAX - 1 */
#define OPEN_F_HOW_UNREAD 4       /* openat2: struct open_how unreadable */
#define OPEN_F_DIR 8              /* -F: dir names follow the path */
#define OPEN_F_DIR_COMPLETE 16    /* -F: the walk reached the task's root */
#define OPEN_F_URING 32           /* an io_uring request (IORING_OP_OPENAT*) */
#define OPEN_F_NO_RESULT 64       /* io_uring: IOSQE_CQE_SKIP_SUCCESS, result
                                     not reported by the kernel */
#define OPEN_F_RUNTIME 128        /* by the runtime's set-up (--runtime) */

/* open_key.key_flags */
#define OPEN_K_HOST CT_F_HOST_NS
#define OPEN_K_TRUNCATED 2
#define OPEN_K_URING 4            /* opens through io_uring */
#define OPEN_K_RUNTIME 8          /* the runtime's set-up (--runtime) */

struct open_event {
    CT_CONTEXT_FIELDS
    u32 syscall;        /* OPEN_SYS_* */
    u32 capture_flags;  /* OPEN_F_* */
    s32 ret;            /* fd or -errno */
    s32 fixed_slot;     /* io_uring: the fixed-file slot opened, or -1 */
    u64 flags;          /* open flags (openat2: how->flags) */
    u64 mode;
    s32 dfd;            /* directory fd, AT_FDCWD (-100) for open/creat */
    u16 path_len;       /* bytes of path in data[], with its NUL */
    u16 dir_len;        /* bytes of directory names after it */
    u8 data[OPEN_DATA_SIZE];
};

/* -s: counted in the kernel per container and path. */
struct open_key {
    u64 cgroup_id;
    u32 mntns;
    u32 key_flags;      /* OPEN_K_* */
    char path[OPEN_KEY_PATH_LEN];
};

struct open_count {
    u64 opens;
    u64 failures;
    s32 last_errno;     /* 0 or -errno of the latest failure */
};

#endif
