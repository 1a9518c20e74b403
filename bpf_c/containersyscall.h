/* containersyscall.h: the maps containersyscall's BPF program fills and its
 * Python side reads (through BCC, from these structs).  There is no
 * per-syscall event: every system call only bumps a counter in the kernel. */
#ifndef CONTAINERSYSCALL_H
#define CONTAINERSYSCALL_H

#include "ctrace.h"

#ifndef SC_MAX_KEYS
#define SC_MAX_KEYS 32768          /* (cgroup, mntns, syscall) counters */
#endif
#ifndef SC_MAX_CONTAINERS
#define SC_MAX_CONTAINERS 4096     /* (cgroup, mntns) pairs named */
#endif
#ifndef SC_ERRNO
#define SC_ERRNO 0                 /* -e: also count by errno */
#endif

/* One counter per container (cgroup v2 id + mount namespace) and syscall. */
struct sc_key {
    u64 cgroup_id;
    u32 mntns;
    u32 nr;             /* syscall number as the kernel's entry code saw it */
};

struct sc_val {
    u64 calls;          /* entries (sys_enter) */
    u64 errors;         /* returns of -4095..-1 (sys_exit) */
};

/* The container of a key, captured once, at first sight, so that it is
 * named even after it has exited: struct ct_ctx keyed by this. */
struct sc_ckey {
    u64 cgroup_id;
    u32 mntns;
    u32 _pad;
};

/* -e: failed calls by errno. */
struct sc_ekey {
    u64 cgroup_id;
    u32 mntns;
    u32 nr;
    u32 err;            /* positive errno */
    u32 _pad;
};

#endif
