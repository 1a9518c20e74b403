/* ct_uring.h: io_uring requests, for any ctrace tool.
 *
 * An io_uring operation (IORING_OP_OPENAT, CONNECT, ACCEPT, SENDMSG, ...)
 * is done by the kernel without passing any syscall tracepoint: inline in
 * io_uring_enter(), in an io worker thread (iou-wrk-PID) or in a polling
 * thread (iou-sqp-PID).  Those threads are threads of the process that owns
 * the ring (same tgid, cgroup and namespaces), but they bear their own comm.
 * The kernel's tracepoints see every request:
 *
 *   io_uring:io_uring_submit_req  the request (REQ), its opcode and flags, in
 *                                 the submitting task (or the polling thread),
 *                                 after the opcode's prep (so an open's path
 *                                 is in the kernel's copy by then)
 *   io_uring:io_uring_complete    its result (RES), in a task of the same
 *                                 process (submitter, worker, polling thread)
 *
 * A tool hooks both with TRACEPOINT_PROBE(io_uring, ...) (or the completion
 * with a raw program: ct_uring_raw_res() below) and uses:
 *
 * - ct_traced_task() applies as it is: an io thread is in its process's
 *   cgroup and namespaces, and -n matches its process's comm
 *   (ct_named_task()).
 * - ct_fill() names an io thread (iou-wrk-*, iou-sqp-*) by its process's
 *   comm (its group leader's), wherever it runs (a connect's SYN_SENT too).
 * - ct_uring_opcode(req), ct_uring_ring(req): a request's opcode and ring;
 *   ct_uring_sr_msg(req): a SENDMSG's user msghdr.
 * - Opens (IORING_OP_OPENAT, OPENAT2), from struct io_open in the request:
 *   ct_uring_open_path(req)  the kernel's copy of the path: AT SUBMIT ONLY
 *                            (the open frees it before it completes);
 *   ct_uring_open_flags(req), ct_uring_open_mode(req)  how.flags, how.mode;
 *   ct_uring_open_dfd(req)   the directory fd of a relative path;
 *   ct_uring_open_slot(req)  file_slot: 0 for a normal descriptor, N for
 *                            direct (fixed-file) slot N - 1, or
 *                            CT_IORING_FILE_INDEX_ALLOC (the slot is RES).
 * - ct_uring_fixed_index(slot, res): the fixed-file slot an open or accept
 *   filled (-1 for a normal descriptor).
 * - ct_uring_req_file(req): at completion, the file the request worked on
 *   (a connect's or send's socket, an accept's listening socket); fixed
 *   files included (the kernel assigns it at issue, after submit).
 * - ct_uring_file(req, res): at completion, the file an OPENAT, OPENAT2 or
 *   ACCEPT produced: from the task's file table by descriptor RES, or from
 *   the ring's fixed-file table by slot (ct_uring_fixed_file(ring, index)).
 * - ct_uring_sock(file): a socket file's struct sock.
 * - A raw program at io_uring_complete: ct_uring_raw_res(ctx->args), the
 *   result; ctx->args[1] is the request.
 * - Requests kept from submit to completion: a tool that defines
 *   CT_URING_REQ_T (its value type) before including this file gets
 *   ct_uring_keep(req, value), ct_uring_find(req) and ct_uring_drop(req)
 *   over one hash keyed by the request (CT_URING_REQS entries, allocated
 *   as used).  A request with IOSQE_CQE_SKIP_SUCCESS
 *   (ct_uring_skips_success(flags)) has no completion when it succeeds.
 *
 * Every hook fires only for io_uring requests: a workload that does not use
 * io_uring runs none of this.  CT_URING is 1 where the kernel has these
 * tracepoints (ctrace.bpf defines it): a tool's probes go under #if CT_URING.
 */
#ifndef CT_URING_H
#define CT_URING_H
#ifndef CT_URING
#define CT_URING 0
#endif

/* UAPI values (include/uapi/linux/io_uring.h): stable across kernels. */
#define CT_IORING_OP_SENDMSG 9
#define CT_IORING_OP_ACCEPT 13
#define CT_IORING_OP_CONNECT 16
#define CT_IORING_OP_OPENAT 18
#define CT_IORING_OP_SEND 26
#define CT_IORING_OP_OPENAT2 28
#define CT_IORING_OP_SOCKET 45
#define CT_IORING_FILE_INDEX_ALLOC 0xffffffffu
/* io_kiocb.flags (and the submit tracepoint's flags): IOSQE_* bits first */
#define CT_REQ_F_FIXED_FILE (1ULL << 0)
#define CT_REQ_F_FORCE_ASYNC (1ULL << 4)
#define CT_REQ_F_CQE_SKIP (1ULL << 6)
CT_BTF_OFFSET(CT_OFF_IOU_REQ_FILE, io_kiocb.file)
CT_BTF_OFFSET(CT_OFF_IOU_REQ_CMD, io_kiocb.cmd)
CT_BTF_OFFSET(CT_OFF_IOU_REQ_OPCODE, io_kiocb.opcode)
CT_BTF_OFFSET(CT_OFF_IOU_REQ_CTX, io_kiocb.ctx)
CT_BTF_OFFSET(CT_OFF_IO_OPEN_DFD, io_open.dfd)
CT_BTF_OFFSET(CT_OFF_IO_OPEN_FILE_SLOT, io_open.file_slot)
CT_BTF_OFFSET(CT_OFF_IO_OPEN_FILENAME, io_open.filename)
CT_BTF_OFFSET(CT_OFF_IO_OPEN_HOW_FLAGS, io_open.how.flags)
CT_BTF_OFFSET(CT_OFF_IO_OPEN_HOW_MODE, io_open.how.mode)
CT_BTF_OFFSET(CT_OFF_IO_ACCEPT_FILE_SLOT, io_accept.file_slot)
CT_BTF_OFFSET(CT_OFF_IO_SR_MSG_UMSG, io_sr_msg.umsg)
CT_BTF_OFFSET(CT_OFF_FILENAME_NAME, filename.name)
CT_BTF_OFFSET(CT_OFF_RING_FILES_NR, io_ring_ctx.file_table.data.nr)
CT_BTF_OFFSET(CT_OFF_RING_FILES_NODES, io_ring_ctx.file_table.data.nodes)
CT_BTF_OFFSET(CT_OFF_RSRC_NODE_FILE_PTR, io_rsrc_node.file_ptr)
/* io_rsrc_node.file_ptr keeps flags in its low bits (FFS_NOWAIT, FFS_ISREG) */
#define CT_URING_FILE_PTR_MASK (~3UL)

/* -- what: the request's fields ------------------------------------------ */

static __always_inline u32 ct_uring_opcode(void *req)
{
    u8 op = 0;
    bpf_probe_read_kernel(&op, sizeof(op), req + CT_OFF_IOU_REQ_OPCODE);
    return op;
}

static __always_inline void *ct_uring_ring(void *req)
{
    return ct_read_ptr(req, CT_OFF_IOU_REQ_CTX);
}

static __always_inline int ct_uring_skips_success(u64 req_flags)
{
    return (req_flags & CT_REQ_F_CQE_SKIP) != 0;
}

/* A SENDMSG's struct user_msghdr (user memory of the ring's process). */
static __always_inline void *ct_uring_sr_msg(void *req)
{
    return ct_read_ptr(req + CT_OFF_IOU_REQ_CMD, CT_OFF_IO_SR_MSG_UMSG);
}

/* struct io_open lives in the request's command area (io_kiocb.cmd). */
static __always_inline const char *ct_uring_open_path(void *req)
{
    void *name = ct_read_ptr(req + CT_OFF_IOU_REQ_CMD, CT_OFF_IO_OPEN_FILENAME);
    return ct_read_ptr(name, CT_OFF_FILENAME_NAME);
}

static __always_inline u64 ct_uring_open_flags(void *req)
{
    u64 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), req + CT_OFF_IOU_REQ_CMD + CT_OFF_IO_OPEN_HOW_FLAGS);
    return v;
}

static __always_inline u64 ct_uring_open_mode(void *req)
{
    u64 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), req + CT_OFF_IOU_REQ_CMD + CT_OFF_IO_OPEN_HOW_MODE);
    return v;
}

static __always_inline s32 ct_uring_open_dfd(void *req)
{
    return (s32)ct_read_u32(req + CT_OFF_IOU_REQ_CMD, CT_OFF_IO_OPEN_DFD);
}

static __always_inline u32 ct_uring_open_slot(void *req)
{
    return ct_read_u32(req + CT_OFF_IOU_REQ_CMD, CT_OFF_IO_OPEN_FILE_SLOT);
}

/* The fixed-file index a direct open or accept filled, or -1. */
static __always_inline s32 ct_uring_fixed_index(u32 slot, s32 res)
{
    if (!slot || res < 0)
        return -1;
    return slot == CT_IORING_FILE_INDEX_ALLOC ? res : (s32)(slot - 1);
}

/* -- which files and sockets --------------------------------------------- */

static __always_inline void *ct_uring_req_file(void *req)
{
    return ct_read_ptr(req, CT_OFF_IOU_REQ_FILE);
}

static __always_inline void *ct_uring_fixed_file(void *ring, s32 index)
{
    u32 nr = ct_read_u32(ring, CT_OFF_RING_FILES_NR);
    if (index < 0 || (u32)index >= nr)
        return NULL;
    void *node = ct_read_ptr(ct_read_ptr(ring, CT_OFF_RING_FILES_NODES),
                             (u64)index * sizeof(void *));
    return (void *)((unsigned long)ct_read_ptr(node, CT_OFF_RSRC_NODE_FILE_PTR) &
                    CT_URING_FILE_PTR_MASK);
}

static __always_inline void *ct_uring_file(void *req, s32 res)
{
    u32 op = ct_uring_opcode(req), slot;
    if (res < 0)
        return NULL;
    if (op == CT_IORING_OP_OPENAT || op == CT_IORING_OP_OPENAT2)
        slot = ct_uring_open_slot(req);
    else if (op == CT_IORING_OP_ACCEPT)
        slot = ct_read_u32(req + CT_OFF_IOU_REQ_CMD, CT_OFF_IO_ACCEPT_FILE_SLOT);
    else
        return NULL;
    if (!slot)
        return ct_task_file((void *)bpf_get_current_task(), res);
    return ct_uring_fixed_file(ct_uring_ring(req), ct_uring_fixed_index(slot, res));
}

static __always_inline void *ct_uring_sock(void *file)
{
    return ct_read_ptr(ct_read_ptr(file, CT_OFF_FILE_PRIVATE_DATA), CT_OFF_SOCKET_SK);
}

/* -- a raw program at io_uring_complete ----------------------------------- */

/* Its arguments are (ring, req, cqe) since Linux 6.3, (ring, req,
 * user_data, res, cflags, ...) before.  The result is taken through probe
 * reads, not loads: a raw program that serves another tracepoint with only
 * two arguments too (sys_exit's) cannot attach there if it loads past them. */
CT_BTF_TP_ARGS(CT_URING_COMPLETE_ARGS, io_uring_complete)
CT_BTF_OFFSET(CT_OFF_CQE_RES, io_uring_cqe.res)

static __always_inline s32 ct_uring_raw_res(const u64 *args)
{
    s32 res = 0;
#if CT_URING_COMPLETE_ARGS == 3
    char *cqe = NULL;
    bpf_probe_read_kernel(&cqe, sizeof(cqe), &args[2]);
    bpf_probe_read_kernel(&res, sizeof(res), cqe + CT_OFF_CQE_RES);
#else
    bpf_probe_read_kernel(&res, sizeof(res), &args[3]);     /* its low half */
#endif
    return res;
}

/* -- requests kept from submit to completion ------------------------------ */

#ifdef CT_URING_REQ_T
#ifndef CT_URING_REQS
#define CT_URING_REQS 4096
#endif
BPF_F_TABLE("hash", u64, CT_URING_REQ_T, ct_uring_reqs, CT_URING_REQS, BPF_F_NO_PREALLOC);

/* Keep VALUE for REQ (replacing what a recycled request left): the kept
 * copy, or NULL (counted lost) if the table is full. */
static __always_inline CT_URING_REQ_T *ct_uring_keep(void *req, CT_URING_REQ_T *value)
{
    u64 key = (u64)req;
    if (ct_uring_reqs.update(&key, value)) {
        ct_count_lost();
        return NULL;
    }
    return ct_uring_reqs.lookup(&key);
}

static __always_inline CT_URING_REQ_T *ct_uring_find(void *req)
{
    u64 key = (u64)req;
    return ct_uring_reqs.lookup(&key);
}

static __always_inline void ct_uring_drop(void *req)
{
    u64 key = (u64)req;
    ct_uring_reqs.delete(&key);
}
#endif /* CT_URING_REQ_T */

#endif /* CT_URING_H */
