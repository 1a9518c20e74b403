/* containerexec: every exec in a container, with its full argv.
 *
 * A successful exec is reported at sched_process_exec, in the new program's
 * context, with argv read in one piece from its argument area
 * (mm->arg_start..arg_end), which the kernel has just written, so it is
 * always readable, whatever the caller's memory looked like.  A failed exec
 * is reported at sys_exit_execve(at), reading argv through the pointers in
 * the task's saved registers (the call's arguments, unchanged), still valid
 * because the caller's image is intact.  Nothing runs at sys_enter.
 */
#include "containerexec.h"

CT_BTF_OFFSET(EXEC_OFF_MM_ARG_START, mm_struct.arg_start)
CT_BTF_OFFSET(EXEC_OFF_MM_ARG_END, mm_struct.arg_end)
CT_BTF_OFFSET(EXEC_OFF_TASK_EXIT_CODE, task_struct.exit_code)
CT_BTF_OFFSET(EXEC_OFF_TASK_START_TIME, task_struct.start_time)
CT_BTF_OFFSET(EXEC_OFF_OVL_INODE_VFS_INODE, ovl_inode.vfs_inode)
CT_BTF_OFFSET(EXEC_OFF_OVL_INODE_UPPERDENTRY, ovl_inode.__upperdentry)

BPF_RINGBUF_OUTPUT(events, CT_RING_PAGES);
BPF_PERCPU_ARRAY(scratch, struct exec_event, 1);

static __always_inline struct exec_event *new_event(u32 type, const struct ct_task *t)
{
    int zero = 0;
    struct exec_event *e = scratch.lookup(&zero);
    if (!e)
        return NULL;
    ct_fill((struct ct_ctx *)e, t);
    e->type = type;
    e->retval = 0;
    e->exit_code = 0;
    e->flags = 0;
    e->lifetime_ns = 0;
    e->args_len = 0;
    e->filename[0] = 0;
    return e;
}

static __always_inline void submit(struct exec_event *e)
{
    u32 len = e->args_len;
    if (len > EXEC_ARGS_SIZE)
        len = EXEC_ARGS_SIZE;
    /* Re-bound for the verifier after the compiler has had its way. */
    asm volatile("" : "+r"(len));
    len &= 2 * EXEC_ARGS_SIZE - 1;
    u32 size = offsetof(struct exec_event, args) + len;
    if (events.ringbuf_output(e, size, ct_ring_wake(size, e->ct_flags)))
        ct_count_lost();
}

/* A failed exec: argv from the caller's (unchanged) memory.  EXECVEAT:
 * execveat(dfd, filename, argv, envp, flags), else execve(filename, argv,
 * envp). */
static __always_inline int on_exit(long ret, int execveat)
{
    if (ret >= 0)
        return 0;
    struct ct_task t = ct_current();
    if (!ct_traced_task(&t))
        return 0;
    char *regs = (char *)bpf_task_pt_regs((struct task_struct *)t.task);
    const char *filename;
    const char *const *argv;
    if (execveat) {
        filename = (const char *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
        argv = (const char *const *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG2);
    } else {
        filename = (const char *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0);
        argv = (const char *const *)CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
    }

    struct exec_event *e = new_event(EXEC_EV_EXEC, &t);
    if (!e)
        return 0;
    e->retval = ret;
    ct_read_user_str(e->filename, sizeof(e->filename), filename);

    u32 off = 0;
    /* A loop the verifier follows (bounded), not unrolled: unrolled it made
     * each exit program 2,220 instructions, not 468, and the compile 0.1 s
     * longer. */
#pragma clang loop unroll(disable)
    for (int i = 0; i < EXEC_MAX_ARGS; i++) {
        const char *arg = NULL;
        if (ct_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
            goto done;
        if (off >= EXEC_ARGS_SIZE) {
            e->flags |= EXEC_F_ARGS_TRUNCATED;
            goto done;
        }
        long n = ct_read_user_str(&e->args[off & (EXEC_ARGS_SIZE - 1)],
                                         EXEC_ARGS_SIZE, arg);
        if (n <= 0)
            goto done;
        off += n;
    }
    /* More than EXEC_MAX_ARGS pointers: say so unless argv ends right here. */
    {
        const char *arg = NULL;
        ct_read_user(&arg, sizeof(arg), &argv[EXEC_MAX_ARGS]);
        if (arg)
            e->flags |= EXEC_F_ARGS_TRUNCATED;
    }
done:
    if (off > EXEC_ARGS_SIZE) {
        off = EXEC_ARGS_SIZE;
        e->flags |= EXEC_F_ARGS_TRUNCATED;
    }
    e->args_len = off;
    submit(e);
    return 0;
}

/* execve()'s and execveat()'s exits: one program (one format; CT_ALSO_AT),
 * which tells them by number: one copy of on_exit() compiled and verified,
 * where there were two. */
TRACEPOINT_PROBE(syscalls, sys_exit_execve)
{
    int execveat = ct_call_index(args->__syscall_nr, EXEC_NR_EXECVE, EXEC_NR_EXECVEAT, -1, -1);
    if (execveat < 0)
        return 0;
    return on_exit(args->ret, execveat);
}
CT_ALSO_AT(1, tracepoint__syscalls__sys_exit_execve, syscalls, sys_exit_execveat)

#define OVERLAYFS_SUPER_MAGIC 0x794c7630

/* Is the new program's executable from the container's image or from its
 * writable layer?  On overlayfs an inode with an upper dentry exists in the
 * upper (writable) layer: created or modified after the container started. */
static __always_inline u32 exe_layer_flags(void *mm)
{
    void *file = ct_read_ptr(mm, CT_OFF_MM_EXE_FILE);
    void *inode = ct_read_ptr(file, CT_OFF_FILE_F_INODE);
    void *sb = ct_read_ptr(inode, CT_OFF_INODE_I_SB);
    unsigned long magic = (unsigned long)ct_read_ptr(sb, CT_OFF_SUPER_BLOCK_S_MAGIC);
    if (!inode || (u32)magic != OVERLAYFS_SUPER_MAGIC)
        return 0;
    void *ovl_inode = inode - EXEC_OFF_OVL_INODE_VFS_INODE;
    if (ct_read_ptr(ovl_inode, EXEC_OFF_OVL_INODE_UPPERDENTRY))
        return EXEC_F_OVERLAY | EXEC_F_UPPER_LAYER;
    return EXEC_F_OVERLAY;
}

/* A successful exec, in the new program. */
TRACEPOINT_PROBE(sched, sched_process_exec)
{
    struct ct_task t = ct_current();
    if (!ct_traced_task(&t))
        return 0;

    struct exec_event *e = new_event(EXEC_EV_EXEC, &t);
    if (!e)
        return 0;
    u32 loc = args->data_loc_filename;
    bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)args + (loc & 0xffff));

    void *mm = ct_read_ptr((void *)bpf_get_current_task(), CT_OFF_TASK_MM);
    unsigned long start = (unsigned long)ct_read_ptr(mm, EXEC_OFF_MM_ARG_START);
    unsigned long end = (unsigned long)ct_read_ptr(mm, EXEC_OFF_MM_ARG_END);
    e->flags |= exe_layer_flags(mm);
    u64 len = end > start ? end - start : 0;
    if (len > EXEC_ARGS_SIZE) {
        len = EXEC_ARGS_SIZE;
        e->flags |= EXEC_F_ARGS_TRUNCATED;
    }
    if (len && ct_read_user(e->args, len & (2 * EXEC_ARGS_SIZE - 1), (void *)start) == 0)
        e->args_len = len;
    submit(e);
    return 0;
}

#if EXEC_TRACE_EXIT
TRACEPOINT_PROBE(sched, sched_process_exit)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if ((u32)pid_tgid != pid_tgid >> 32)     /* threads: report the process once */
        return 0;
    struct ct_task t = ct_current();
    if (!ct_traced_task(&t))
        return 0;
    struct exec_event *e = new_event(EXEC_EV_EXIT, &t);
    if (!e)
        return 0;
    void *task = (void *)bpf_get_current_task();
    e->exit_code = ct_read_u32(task, EXEC_OFF_TASK_EXIT_CODE);
    u64 start = 0;
    bpf_probe_read_kernel(&start, sizeof(start), task + EXEC_OFF_TASK_START_TIME);
    e->lifetime_ns = e->ts_ns - start;
    submit(e);
    return 0;
}
#endif
