/*
 * uring [-a] [-q] [-f] [-k] [-n COUNT] OP ARGS...
 *
 * Does OP through io_uring (raw system calls, no liburing), so that tracers
 * can be checked against operations no syscall tracepoint sees:
 *
 *   open PATH [r|w]     IORING_OP_OPENAT, O_RDONLY (r, default) or O_WRONLY
 *                       (w); never O_CREAT: the file must exist, nothing is
 *                       written.  Then IORING_OP_CLOSE.
 *   connect ADDR PORT   socket(2), IORING_OP_CONNECT (TCP, numeric IPv4),
 *                       IORING_OP_SEND of 5 bytes, close.
 *   udp ADDR PORT       socket(2), IORING_OP_SENDMSG of one 5-byte datagram.
 *   unix PATH           socket(2), IORING_OP_CONNECT to the unix socket PATH,
 *                       close (nothing sent).
 *   accept PORT         socket, bind 0.0.0.0:PORT, listen (system calls),
 *                       prints "listening", then IORING_OP_ACCEPT once and
 *                       IORING_OP_RECV of what the peer sends.
 *
 * Modes (combinable):
 *   -a  IOSQE_ASYNC: the kernel runs the operation in an io worker thread
 *       (iou-wrk-PID) instead of inline in io_uring_enter.
 *   -q  IORING_SETUP_SQPOLL: a kernel polling thread (iou-sqp-PID) submits.
 *   -f  fixed files: open and accept into direct descriptor slot 2 of the
 *       ring's registered file table; connect, send and udp use the socket
 *       registered in slot 0 (IOSQE_FIXED_FILE).
 *   -k  open with IOSQE_CQE_SKIP_SUCCESS (no completion when it succeeds;
 *       prints "open res=?" and leaves the file open).
 *   -n COUNT  repeat OP COUNT times (open and udp only) and time it.
 *
 * Prints one line per operation: "OP res=N" or "OP res=-E ENAME"; with -n
 * only "ops=N ns_per_op=X".  Exits 0 if every operation succeeded, 2 if one
 * failed, 1 on usage error or if the ring cannot be set up.
 */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FIXED_SLOT 2            /* direct descriptor slot of -f opens/accepts */
#define FIXED_SOCKET 0          /* registered slot of -f sockets */

struct ring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *sq_flags;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	int sqpoll;
	unsigned queued;        /* SQEs written but not yet submitted */
};

static int async_mode, fixed_mode, skip_mode;

static void usage(void)
{
	fprintf(stderr, "usage: uring [-a] [-q] [-f] [-k] [-n COUNT] open PATH [r|w] | "
			"connect ADDR PORT | udp ADDR PORT | unix PATH | accept PORT\n");
	exit(1);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "uring: %s: %s (%s)\n", what, errno_name(err), strerror(err));
	exit(1);
}

static void ring_init(struct ring *r, int sqpoll)
{
	struct io_uring_params p;
	size_t sq_size, cq_size;
	char *sq, *cq;

	memset(&p, 0, sizeof(p));
	if (sqpoll) {
		p.flags = IORING_SETUP_SQPOLL;
		p.sq_thread_idle = 10;  /* ms of spinning before it sleeps */
	}
	r->fd = syscall(__NR_io_uring_setup, 8, &p);
	if (r->fd < 0)
		die("io_uring_setup", errno);
	r->sqpoll = sqpoll;
	sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (cq_size > sq_size)
		sq_size = cq_size;      /* IORING_FEAT_SINGLE_MMAP (5.4+) */
	sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		  r->fd, IORING_OFF_SQ_RING);
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		       IORING_OFF_SQES);
	if (sq == MAP_FAILED || r->sqes == MAP_FAILED)
		die("mmap ring", errno);
	cq = sq;
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->sq_flags = (unsigned *)(sq + p.sq_off.flags);
	r->cq_head = (unsigned *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
}

/* Register a file table of 4 slots: FD in slot 0 (or none), the rest empty. */
static void ring_register_files(struct ring *r, int fd)
{
	int fds[4] = { fd, -1, -1, -1 };

	if (syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_FILES, fds, 4) < 0)
		die("io_uring_register files", errno);
}

/* Queue SQE, to be submitted with the next ring_run(). */
static void ring_queue(struct ring *r, const struct io_uring_sqe *sqe)
{
	unsigned tail = *r->sq_tail, idx = tail & *r->sq_mask;

	r->sqes[idx] = *sqe;
	if (async_mode)
		r->sqes[idx].flags |= IOSQE_ASYNC;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	r->queued++;
}

/* Submit SQE (after any queued) and wait for the first completion: its
 * result. */
static int ring_run(struct ring *r, const struct io_uring_sqe *sqe)
{
	unsigned to_submit, flags = IORING_ENTER_GETEVENTS;

	ring_queue(r, sqe);
	to_submit = r->queued;
	r->queued = 0;
	if (r->sqpoll) {
		to_submit = 0;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(r->sq_flags, __ATOMIC_RELAXED) & IORING_SQ_NEED_WAKEUP)
			flags |= IORING_ENTER_SQ_WAKEUP;
	}
	for (;;) {
		unsigned head = *r->cq_head;

		if (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
			int res = r->cqes[head & *r->cq_mask].res;

			__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
			return res;
		}
		if (syscall(__NR_io_uring_enter, r->fd, to_submit, 1, flags, NULL, 0) < 0 &&
		    errno != EINTR)
			die("io_uring_enter", errno);
		to_submit = 0;
		flags &= ~IORING_ENTER_SQ_WAKEUP;
	}
}

static int report(const char *op, int res, int quiet)
{
	if (!quiet) {
		if (res < 0)
			printf("%s res=%d %s\n", op, res, errno_name(-res));
		else
			printf("%s res=%d\n", op, res);
		fflush(stdout);
	}
	return res < 0;
}

static int do_open(struct ring *r, const char *path, int flags, int quiet)
{
	struct io_uring_sqe sqe;
	int res, failed;

	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_OPENAT;
	sqe.fd = AT_FDCWD;
	sqe.addr = (uintptr_t)path;
	sqe.open_flags = flags;
	if (fixed_mode)
		sqe.file_index = FIXED_SLOT + 1;
	if (skip_mode) {
		/* No completion if it succeeds: a NOP after it says it is done. */
		sqe.flags = IOSQE_CQE_SKIP_SUCCESS;
		ring_queue(r, &sqe);
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = IORING_OP_NOP;
		res = ring_run(r, &sqe);
		if (res >= 0) {
			if (!quiet)
				printf("open res=?\n");
			return 0;       /* left open: its fd is unknown */
		}
	} else {
		res = ring_run(r, &sqe);
	}
	failed = report("open", res, quiet);
	if (failed)
		return 1;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_CLOSE;
	if (fixed_mode)
		sqe.file_index = FIXED_SLOT + 1;
	else
		sqe.fd = res;
	return report("close", ring_run(r, &sqe), quiet);
}

static struct sockaddr_in address(const char *addr, const char *port)
{
	struct sockaddr_in sa;
	unsigned long long p;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	if ((addr && inet_pton(AF_INET, addr, &sa.sin_addr) != 1) ||
	    parse_uint(port, 65535, &p) != 0)
		usage();
	sa.sin_port = htons(p);
	return sa;
}

/* A socket of TYPE as the operations see it: its fd, or with -f its slot. */
static int ring_socket(struct ring *r, int type, struct io_uring_sqe *sqe)
{
	int fd = socket(AF_INET, type, 0);

	if (fd < 0)
		die("socket", errno);
	memset(sqe, 0, sizeof(*sqe));
	sqe->fd = fd;
	if (fixed_mode) {
		ring_register_files(r, fd);
		sqe->fd = FIXED_SOCKET;
		sqe->flags = IOSQE_FIXED_FILE;
	}
	return fd;
}

static int do_connect(struct ring *r, const char *addr, const char *port)
{
	struct sockaddr_in sa = address(addr, port);
	struct io_uring_sqe sqe;
	int fd = ring_socket(r, SOCK_STREAM, &sqe), failed;

	sqe.opcode = IORING_OP_CONNECT;
	sqe.addr = (uintptr_t)&sa;
	sqe.off = sizeof(sa);
	failed = report("connect", ring_run(r, &sqe), 0);
	if (!failed) {
		sqe.opcode = IORING_OP_SEND;
		sqe.addr = (uintptr_t)"ping\n";
		sqe.len = 5;
		sqe.off = 0;
		failed = report("send", ring_run(r, &sqe), 0);
	}
	close(fd);
	return failed;
}

static int do_unix(struct ring *r, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct io_uring_sqe sqe;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), failed;

	if (fd < 0)
		die("socket", errno);
	strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
	memset(&sqe, 0, sizeof(sqe));
	sqe.fd = fd;
	sqe.opcode = IORING_OP_CONNECT;
	sqe.addr = (uintptr_t)&sa;
	sqe.off = sizeof(sa);
	failed = report("connect", ring_run(r, &sqe), 0);
	close(fd);
	return failed;
}

static int do_udp(struct ring *r, const char *addr, const char *port, int quiet)
{
	struct sockaddr_in sa = address(addr, port);
	struct iovec iov = { .iov_base = "ping\n", .iov_len = 5 };
	struct msghdr msg = { .msg_name = &sa, .msg_namelen = sizeof(sa),
			      .msg_iov = &iov, .msg_iovlen = 1 };
	struct io_uring_sqe sqe;
	int fd = ring_socket(r, SOCK_DGRAM, &sqe), failed;

	sqe.opcode = IORING_OP_SENDMSG;
	sqe.addr = (uintptr_t)&msg;
	sqe.len = 1;
	failed = report("sendmsg", ring_run(r, &sqe), quiet);
	close(fd);
	return failed;
}

static int do_accept(struct ring *r, const char *port)
{
	struct sockaddr_in sa = address(NULL, port);
	struct io_uring_sqe sqe;
	char buf[64];
	int one = 1, res, lfd = socket(AF_INET, SOCK_STREAM, 0);

	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
		die("listen", errno);
	if (fixed_mode)
		ring_register_files(r, -1);
	printf("listening\n");
	fflush(stdout);
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_ACCEPT;
	sqe.fd = lfd;
	if (fixed_mode)
		sqe.file_index = FIXED_SLOT + 1;
	res = ring_run(r, &sqe);
	if (report("accept", res, 0))
		return 1;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_RECV;
	sqe.fd = fixed_mode ? FIXED_SLOT : res;
	sqe.flags = fixed_mode ? IOSQE_FIXED_FILE : 0;
	sqe.addr = (uintptr_t)buf;
	sqe.len = sizeof(buf);
	return report("recv", ring_run(r, &sqe), 0);
}

/* -n: OP COUNT times, then the mean time of one. */
static int repeat(struct ring *r, char **op, unsigned long long count)
{
	unsigned long long i;
	uint64_t start = now_ns();
	int failed = 0;

	for (i = 0; i < count && !failed && !stop_requested; i++) {
		if (!strcmp(op[0], "open"))
			failed = do_open(r, op[1], O_RDONLY, 1);
		else
			failed = do_udp(r, op[1], op[2], 1);
	}
	printf("ops=%llu ns_per_op=%llu\n", i,
	       i ? (unsigned long long)((now_ns() - start) / i) : 0ULL);
	return failed;
}

int main(int argc, char **argv)
{
	unsigned long long count = 0;
	struct ring r;
	int opt, sqpoll = 0;

	while ((opt = getopt(argc, argv, "+aqfkn:")) != -1) {
		switch (opt) {
		case 'k': skip_mode = 1; break;
		case 'a': async_mode = 1; break;
		case 'q': sqpoll = 1; break;
		case 'f': fixed_mode = 1; break;
		case 'n':
			if (parse_uint(optarg, ULLONG_MAX, &count) != 0 || !count)
				usage();
			break;
		default: usage();
		}
	}
	argv += optind;
	argc -= optind;
	if (argc < 2)
		usage();
	install_stop_handlers();
	ring_init(&r, sqpoll);
	if (fixed_mode && !strcmp(argv[0], "open"))
		ring_register_files(&r, -1);
	if (count && ((!strcmp(argv[0], "open") && argc == 2) ||
		      (!strcmp(argv[0], "udp") && argc == 3)))
		return repeat(&r, argv, count) ? 2 : 0;
	if (count)
		usage();
	if (!strcmp(argv[0], "open") && (argc == 2 || argc == 3)) {
		int flags = argc == 3 && !strcmp(argv[2], "w") ? O_WRONLY : O_RDONLY;

		if (argc == 3 && strcmp(argv[2], "r") && strcmp(argv[2], "w"))
			usage();
		return do_open(&r, argv[1], flags, 0) ? 2 : 0;
	}
	if (!strcmp(argv[0], "connect") && argc == 3)
		return do_connect(&r, argv[1], argv[2]) ? 2 : 0;
	if (!strcmp(argv[0], "udp") && argc == 3)
		return do_udp(&r, argv[1], argv[2], 0) ? 2 : 0;
	if (!strcmp(argv[0], "unix") && argc == 2)
		return do_unix(&r, argv[1]) ? 2 : 0;
	if (!strcmp(argv[0], "accept") && argc == 2)
		return do_accept(&r, argv[1]) ? 2 : 0;
	usage();
	return 1;
}
