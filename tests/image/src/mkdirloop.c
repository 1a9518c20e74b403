/*
 * mkdirloop DIR COUNT
 *
 * Generates a known number of mkdir/rmdir events for tracers:
 * mkdir(DIR, 0755) followed by rmdir(DIR), COUNT times.  COUNT 0 means run
 * until SIGINT/SIGTERM.  DIR must not exist beforehand; its parent must.
 *
 * Prints on stdout:  pairs=N   (completed mkdir+rmdir pairs)
 * Exits 0, or 1 on usage error or a failed mkdir/rmdir.
 */
#include "common.h"

#include <sys/stat.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr, "usage: mkdirloop DIR COUNT   (COUNT 0 = unlimited)\n");
	exit(1);
}

int main(int argc, char **argv)
{
	unsigned long long count, pairs = 0;
	const char *dir;
	int ret = 0;

	if (argc != 3 || parse_uint(argv[2], ULLONG_MAX, &count) != 0)
		usage();
	dir = argv[1];

	install_stop_handlers();
	while ((count == 0 || pairs < count) && !stop_requested) {
		if (mkdir(dir, 0755) != 0) {
			fprintf(stderr, "mkdirloop: mkdir %s: %s (%s)\n", dir,
				errno_name(errno), strerror(errno));
			ret = 1;
			break;
		}
		if (rmdir(dir) != 0) {
			fprintf(stderr, "mkdirloop: rmdir %s: %s (%s)\n", dir,
				errno_name(errno), strerror(errno));
			ret = 1;
			break;
		}
		pairs++;
	}

	printf("pairs=%llu\n", pairs);
	return ret;
}
