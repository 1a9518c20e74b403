/*
 * execloop COUNT PROGRAM [GOFILE]
 *
 * Generates a known number of exec events for tracers: fork + execve of
 * PROGRAM (no arguments) and wait, COUNT times.  With GOFILE, waits until
 * that file exists before starting, so a tracer (strace -f -p) can attach to
 * this process first; the timing covers the loop only.
 *
 * Prints on stdout:  execs=N ns_per_exec=X
 * Exits 0, or 1 on usage error or when an exec fails.
 */
#include "common.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned long long count, done = 0;
	struct stat st;

	if (argc < 3 || argc > 4 || parse_uint(argv[1], ULLONG_MAX, &count)) {
		fprintf(stderr, "usage: execloop COUNT PROGRAM [GOFILE]\n");
		return 1;
	}
	if (argc == 4) {
		/* Poll: the file appears once, from outside (docker exec touch). */
		while (stat(argv[3], &st) != 0) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	uint64_t start = now_ns();
	for (; done < count; done++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			char *child_argv[] = {argv[2], NULL};
			execv(argv[2], child_argv);
			_exit(127);
		}
		int status;
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) == 127) {
			fprintf(stderr, "execloop: exec of %s failed\n", argv[2]);
			return 1;
		}
	}
	uint64_t elapsed = now_ns() - start;
	printf("execs=%llu ns_per_exec=%llu\n", done,
	       done ? (unsigned long long)(elapsed / done) : 0ULL);
	return 0;
}
