/*
 * openloop PATH COUNT [SECONDS]
 *
 * Generates a known number of open events for tracers: open(PATH, O_RDONLY)
 * followed by close(), repeated until COUNT opens were done or SECONDS have
 * elapsed, whichever comes first.  COUNT 0 means no count limit; SECONDS 0
 * or absent means no time limit.  With neither limit it runs until
 * SIGINT/SIGTERM.  glibc implements open() with the openat syscall.
 *
 * Prints on stdout:  opens=N ns_per_open=X cpu_ns_per_open=Y
 * where X is the mean wall time of one open+close pair in nanoseconds and
 * Y the process's CPU time (user + system, which includes the tracers'
 * programs run in its system calls) per pair (integers, 0 when N is 0).
 * Exits 0, or 1 on usage error or failed open.
 */
#include "common.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: openloop PATH COUNT [SECONDS]\n"
			"  COUNT 0 = unlimited, SECONDS 0 = no time limit\n");
	exit(1);
}

int main(int argc, char **argv)
{
	unsigned long long count, seconds = 0, opens = 0;
	uint64_t start, now, deadline = 0, cpu_start;
	int ret = 0;

	if (argc < 3 || argc > 4)
		usage();
	if (parse_uint(argv[2], ULLONG_MAX, &count) != 0)
		usage();
	if (argc == 4 && parse_uint(argv[3], 1000000000ULL, &seconds) != 0)
		usage();

	install_stop_handlers();
	start = now_ns();
	cpu_start = cpu_ns();
	if (seconds)
		deadline = start + seconds * 1000000000ULL;

	while ((count == 0 || opens < count) && !stop_requested) {
		int fd = open(argv[1], O_RDONLY);

		if (fd < 0) {
			fprintf(stderr, "openloop: open %s: %s (%s)\n", argv[1],
				errno_name(errno), strerror(errno));
			ret = 1;
			break;
		}
		close(fd);
		opens++;
		/* clock_gettime is a vDSO call: cheap next to open+close. */
		if (deadline && now_ns() >= deadline)
			break;
	}

	now = now_ns();
	printf("opens=%llu ns_per_open=%llu cpu_ns_per_open=%llu\n", opens,
	       opens ? (unsigned long long)((now - start) / opens) : 0ULL,
	       opens ? (unsigned long long)((cpu_ns() - cpu_start) / opens) : 0ULL);
	return ret;
}
