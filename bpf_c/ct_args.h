/* ct_args.h: ct_args_save() / ct_args_take(): syscall arguments kept
 * from enter to exit, per thread, in task storage (a tool defines struct
 * ct_args and CT_SAVE_ARGS before including ctrace.h). */
#ifndef CT_ARGS_H
#define CT_ARGS_H

#ifdef CT_SAVE_ARGS
/* A tool's struct ct_args, from its sys_enter to its sys_exit, in the
 * thread's own task storage: the exit of every such call on the machine
 * looks here, and for a thread never traced that is one pointer test,
 * cheaper than a hash lookup. */
struct ct_saved_args {
    struct ct_args args;
    u32 active;         /* set at enter, cleared at exit */
};
CT_TASK_STORAGE(ct_saved_args, struct ct_saved_args);

/* Storage for the current thread's arguments, to be filled now; NULL if
 * it cannot be had. */
static __always_inline struct ct_args *ct_args_save(void)
{
    struct ct_saved_args *s = ct_saved_args.task_storage_get(
        (void *)bpf_get_current_task_btf(), NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!s)
        return NULL;
    s->active = 1;
    return &s->args;
}

/* The arguments saved at this call's enter, into OUT: 0 if none. */
static __always_inline int ct_args_take(struct ct_args *out)
{
    struct ct_saved_args *s = ct_saved_args.task_storage_get(
        (void *)bpf_get_current_task_btf(), NULL, 0);
    if (!s || !s->active)
        return 0;
    s->active = 0;
    __builtin_memcpy(out, &s->args, sizeof(*out));
    return 1;
}
#endif

#endif /* CT_ARGS_H */
