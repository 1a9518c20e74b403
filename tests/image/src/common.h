/*
 * Small helpers shared by the ctrace test workloads.
 *
 * Each workload is a single translation unit, so everything here is static.
 * The workloads are linked statically and run in a minimal busybox image,
 * so they may only depend on libc.
 */
#ifndef CTRACE_TEST_COMMON_H
#define CTRACE_TEST_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Set by SIGINT/SIGTERM.  The loops check it so that a workload running in
 * "unlimited" mode still prints its summary line when stopped (for example
 * by `docker stop`).  This matters in a container: as PID 1 a process
 * ignores SIGTERM unless it installs a handler.
 */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/*
 * No SA_RESTART: blocking calls such as accept() or read() must return
 * EINTR so the loop can notice stop_requested.
 */
static inline void install_stop_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Strict decimal parse: whole string, no sign, value <= max. */
static inline int parse_uint(const char *s, unsigned long long max,
		      unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* "ECONNREFUSED" rather than only the message, for easy matching in tests. */
static inline const char *errno_name(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "E?";
}

#endif
