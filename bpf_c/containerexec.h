/* containerexec.h: the event containerexec's BPF program sends and its
 * Python side decodes (through BCC, from this struct). */
#ifndef CONTAINEREXEC_H
#define CONTAINEREXEC_H

#include "ctrace.h"

/* argv is captured up to EXEC_ARGS_SIZE bytes (documented in the man page);
 * the failed-exec path reads at most EXEC_MAX_ARGS pointers. */
#define EXEC_ARGS_SIZE 4096
#define EXEC_MAX_ARGS 64
#define EXEC_FILENAME_LEN 256

#define EXEC_EV_EXEC 0
#define EXEC_EV_EXIT 1

#define EXEC_F_ARGS_TRUNCATED 1
#define EXEC_F_OVERLAY 2      /* the executable is on an overlayfs (a container image) */
#define EXEC_F_UPPER_LAYER 4  /* ... and in its writable layer: written at run time */

struct exec_event {
    CT_CONTEXT_FIELDS
    u32 type;           /* EXEC_EV_* */
    s32 retval;         /* exec: 0 or -errno */
    u32 exit_code;      /* exit: wait status, (code << 8) | signal */
    u32 flags;          /* EXEC_F_* */
    u64 lifetime_ns;    /* exit: since the process started */
    u32 args_len;       /* bytes used in args: NUL-separated argv */
    u32 _pad;
    char filename[EXEC_FILENAME_LEN];
    /* Twice the cap so that each string read can be bounded for the verifier
     * by a mask; at most EXEC_ARGS_SIZE bytes are ever sent. */
    u8 args[2 * EXEC_ARGS_SIZE];
};

#endif
