/* containersyscall.h: the maps containersyscall's BPF program fills and its
 * Python side reads (through BCC, from these structs).  There is no
 * per-syscall event: every system call only bumps a counter in the kernel. */
#ifndef CONTAINERSYSCALL_H
#define CONTAINERSYSCALL_H

/* --seccomp: count only what the container's seccomp filter will see (see
 * recorded() in containersyscall.bpf.c), through ctrace.h's
 * runtime-or-workload rule (the tool defines both).  Live mode uses the
 * same rule to leave the runtime's set-up out, or with --runtime
 * (SC_RUNTIME) to count it apart (SC_K_RUNTIME). */
#ifndef SC_RECORD
#define SC_RECORD 0
#endif
#ifndef SC_RUNTIME
#define SC_RUNTIME 0
#endif
#if SC_RECORD && !CT_WORKLOAD_RULE
#error "SC_RECORD needs CT_WORKLOAD_RULE (its offsets and hooks: ctrace/bpf.py)"
#endif
#define SC_LIVE_RULE (CT_WORKLOAD_RULE && !SC_RECORD)

#include "ctrace.h"

#ifndef SC_MAX_KEYS
#define SC_MAX_KEYS 32768          /* (cgroup, mntns, syscall) counters */
#endif
/* The counters of the first SC_MAX_SLOTS (cgroup, mntns, runtime set-up)
 * seen are rows of an array, SC_COLUMNS a row: a call's counter is then
 * found by index, not hashed (the program runs for every system call of
 * the machine), and user space reads the rows from memory (mmap).  A
 * call with no slot or column left is counted in the hash map (counts). */
#ifndef SC_MAX_SLOTS
#define SC_MAX_SLOTS 256
#endif
#define SC_COL_COMPAT 512          /* columns: 512 native calls, */
#define SC_COL_URING 1024          /* 512 ia32 calls, */
#define SC_COLUMNS 1088            /* 64 io_uring opcodes */
#define SC_NO_SLOT 0xffffffffu
#define SC_NO_COLUMN 0xffffffffu
#define SC_CLAIM_TRIES 2           /* slots tried when a CPU loses a race */
#ifndef SC_TASK_CACHE
#if CT_FILTER_CONTAINERS || defined(CT_FILTER_UID) || defined(CT_FILTER_COMM)
#define SC_TASK_CACHE 0
#else
#define SC_TASK_CACHE 1
#endif
#endif
#ifndef SC_ERRNO
#define SC_ERRNO 0                 /* -e: also count by errno */
#endif

/* The number of a 32-bit (ia32) call on x86_64 carries this bit. */
#define SC_NR_COMPAT 0x80000000u
#define SC_TS_COMPAT 0x0002       /* thread_info.status: ia32 call active */
/* A saved syscall number of -1: none (rt_sigreturn wiped it, or the task
 * entered the kernel other than by a call). */
#define SC_NR_WIPED 0xffffffffu
/* What a syscall this machine does not have is defined as: never a number
 * current_call() returns (x86 keeps ~vector, at most ~0x20, for an
 * interrupt; arm64 only -1). */
#define SC_NR_ABSENT 0xfffffffeu
/* io_uring operations (no system call: ct_uring.h) are counted beside the
 * calls, under SC_NR_URING | opcode. */
#define SC_NR_URING 0x40000000u

/* sc_key.key_flags, sc_ekey.key_flags */
#define SC_K_RUNTIME 1  /* the runtime's set-up (--runtime) */

/* One counter per container (cgroup v2 id + mount namespace) and syscall. */
struct sc_key {
    u64 cgroup_id;
    u32 mntns;
    u32 nr;             /* syscall number (| SC_NR_COMPAT: ia32), or
                           SC_NR_URING | io_uring opcode */
    u32 key_flags;      /* SC_K_* */
    u32 _pad;
};

struct sc_val {
    u64 calls;          /* calls (returns, and entries of exit/exit_group) */
    u64 errors;         /* of those, returns of -4095..-1 */
};

/* A slot of the counters' rows (SC_MAX_SLOTS). */
struct sc_slot_key {
    u64 cgroup_id;
    u32 mntns;
    u32 key_flags;      /* SC_K_* */
};

/* -e: failed calls by errno. */
struct sc_ekey {
    u64 cgroup_id;
    u32 mntns;
    u32 nr;
    u32 err;            /* positive errno */
    u32 key_flags;      /* SC_K_* */
};

#endif
