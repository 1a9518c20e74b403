/*
 * tcpserver [-6] PORT [COUNT]
 *
 * Peer for tcpclient, giving tracers accept/close events on a known port.
 * Listens on 0.0.0.0:PORT (or [::]:PORT with -6; whether that also accepts
 * IPv4 depends on net.ipv6.bindv6only, normally 0 = yes).  Accepts COUNT
 * connections one after another (COUNT 0 or absent = until SIGINT/SIGTERM).
 * Each connection is read to EOF, answered with "ok\n" and closed.
 *
 * Prints on stdout:  "listening" (flushed right after listen(), so callers
 * can wait for it), then at the end:  accepted=N bytes=M
 * where M is the total number of bytes read from all clients.
 * Exits 0, or 1 on usage error, if the socket cannot be set up or if
 * accept() fails for a reason other than an aborted connection.
 * Errors on a single connection are reported on stderr and do not stop
 * the server.
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr, "usage: tcpserver [-6] PORT [COUNT]   (COUNT 0 = unlimited)\n");
	exit(1);
}

static void die(const char *what)
{
	fprintf(stderr, "tcpserver: %s: %s (%s)\n", what, errno_name(errno),
		strerror(errno));
	exit(1);
}

/* Returns the number of bytes read before EOF (or before an error). */
static unsigned long long serve(int fd)
{
	static const char reply[] = "ok\n";
	unsigned long long total = 0;
	char buf[65536];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			total += (unsigned long long)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR && !stop_requested)
			continue;
		fprintf(stderr, "tcpserver: read: %s (%s)\n",
			errno_name(errno), strerror(errno));
		return total;
	}
	/* MSG_NOSIGNAL: a client that already went away must not kill us. */
	if (send(fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL) < 0)
		fprintf(stderr, "tcpserver: send: %s (%s)\n",
			errno_name(errno), strerror(errno));
	return total;
}

int main(int argc, char **argv)
{
	unsigned long long port, count = 0, accepted = 0, bytes = 0;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int ipv6 = 0, one = 1, lfd, argi = 1, ret = 0;

	if (argi < argc && strcmp(argv[argi], "-6") == 0) {
		ipv6 = 1;
		argi++;
	}
	if (argc - argi < 1 || argc - argi > 2)
		usage();
	if (parse_uint(argv[argi], 65535, &port) != 0 || port == 0)
		usage();
	if (argc - argi == 2 && parse_uint(argv[argi + 1], ULLONG_MAX, &count) != 0)
		usage();

	memset(&ss, 0, sizeof(ss));
	if (ipv6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons((uint16_t)port);
		sslen = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons((uint16_t)port);
		sslen = sizeof(*sin);
	}

	install_stop_handlers();
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	/* Allow quick restarts on the same port while old sockets sit in TIME_WAIT. */
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		die("setsockopt SO_REUSEADDR");
	if (bind(lfd, (struct sockaddr *)&ss, sslen) != 0)
		die("bind");
	if (listen(lfd, 128) != 0)
		die("listen");
	printf("listening\n");
	fflush(stdout);

	while ((count == 0 || accepted < count) && !stop_requested) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue; /* loop condition checks stop_requested */
			fprintf(stderr, "tcpserver: accept: %s (%s)\n",
				errno_name(errno), strerror(errno));
			/* A client that reset before accept: keep serving. */
			if (errno == ECONNABORTED)
				continue;
			ret = 1;
			break;
		}
		accepted++;
		bytes += serve(fd);
		close(fd);
	}
	close(lfd);

	printf("accepted=%llu bytes=%llu\n", accepted, bytes);
	return ret;
}
