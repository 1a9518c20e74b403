/*
 * tcpclient HOST PORT COUNT [BYTES]
 *
 * Peer for tcpserver, giving tracers connect/close events to a known
 * address.  Makes COUNT connection attempts one after another (COUNT 0 =
 * until SIGINT/SIGTERM).  On each connection it sends BYTES bytes (default
 * 0), shuts down its write side, reads the reply to EOF and closes.
 *
 * HOST is a numeric IPv4/IPv6 address or a name.  It is resolved once,
 * before the loop, and the first getaddrinfo() result is used for every
 * attempt, so each attempt is exactly one connect().  Numeric addresses are
 * recommended in tests: name lookup in a static glibc binary only supports
 * the built-in "files" and "dns" sources (see /etc/nsswitch.conf in the
 * image), and "localhost" usually resolves to ::1 first.
 *
 * Prints on stdout:  connected=N failed=F sent=S
 * N = successful connect() calls, F = failed ones (N + F = attempts),
 * S = total bytes accepted by send().  The first error (connect or I/O) is
 * reported on stderr with its errno name, e.g. ECONNREFUSED.  Exits 0 even
 * if connects fail; 1 on usage error or if HOST cannot be resolved.
 */
#include "common.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *host, *port;
static int reported;
static char payload[65536]; /* filled with 'x' once in main() */

static void usage(void)
{
	fprintf(stderr, "usage: tcpclient HOST PORT COUNT [BYTES]   (COUNT 0 = unlimited)\n");
	exit(1);
}

/* Only the first failure is printed, so a refused port does not flood stderr. */
static void report(const char *what, int err)
{
	if (reported)
		return;
	reported = 1;
	fprintf(stderr, "tcpclient: %s %s port %s: %s (%s)\n", what, host, port,
		errno_name(err), strerror(err));
}

/* Send BYTES bytes, then half-close and drain the reply.  Returns bytes sent. */
static unsigned long long talk(int fd, unsigned long long bytes)
{
	unsigned long long sent = 0;
	char reply[4096]; /* content is discarded */

	while (sent < bytes) {
		size_t chunk = bytes - sent < sizeof(payload) ?
			       (size_t)(bytes - sent) : sizeof(payload);
		/* MSG_NOSIGNAL: a server that closed early must not kill us. */
		ssize_t n = send(fd, payload, chunk, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR && !stop_requested)
				continue;
			report("send to", errno);
			return sent;
		}
		sent += (unsigned long long)n;
	}
	if (shutdown(fd, SHUT_WR) != 0) {
		report("shutdown to", errno);
		return sent;
	}
	for (;;) {
		ssize_t n = read(fd, reply, sizeof(reply));

		if (n > 0)
			continue;
		if (n == 0)
			break;
		if (errno == EINTR && !stop_requested)
			continue;
		report("read from", errno);
		break;
	}
	return sent;
}

int main(int argc, char **argv)
{
	unsigned long long count, bytes = 0, attempts = 0;
	unsigned long long connected = 0, failed = 0, sent = 0;
	uint64_t start;
	struct addrinfo hints, *ai;
	int rc;

	if (argc < 4 || argc > 5)
		usage();
	host = argv[1];
	port = argv[2];
	{
		unsigned long long p;

		if (parse_uint(port, 65535, &p) != 0 || p == 0)
			usage();
	}
	if (parse_uint(argv[3], ULLONG_MAX, &count) != 0)
		usage();
	if (argc == 5 && parse_uint(argv[4], ULLONG_MAX, &bytes) != 0)
		usage();

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "tcpclient: resolve %s: %s\n", host, gai_strerror(rc));
		return 1;
	}

	memset(payload, 'x', sizeof(payload));
	install_stop_handlers();
	start = now_ns();
	while ((count == 0 || attempts < count) && !stop_requested) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		attempts++;
		if (fd < 0) {
			report("socket for", errno);
			failed++;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			report("connect to", errno);
			failed++;
		} else {
			connected++;
			sent += talk(fd, bytes);
		}
		close(fd);
	}
	freeaddrinfo(ai);

	/* the loop's own time: a benchmark's figure without docker exec's */
	printf("connected=%llu failed=%llu sent=%llu ns_per_connection=%llu\n", connected,
	       failed, sent, attempts ? (unsigned long long)((now_ns() - start) / attempts) : 0ULL);
	return 0;
}
