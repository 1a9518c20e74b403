/* escape: harmless attempts at the moves containerescape reports, for its
 * tests.  Each leaves the host unchanged: files are opened for writing and
 * closed unwritten, a module image that is not one is offered, a runtime
 * socket is asked for its version, a ptrace attach is detached at once.
 * Prints "result: ok" or "result: ERRNO-NAME-AS-NUMBER" on stdout.
 *
 *   escape open PATH            open(PATH, O_WRONLY|O_APPEND), close
 *   escape openat DIR NAME      openat(open(DIR), NAME, O_WRONLY|O_APPEND)
 *   escape openmany PATH N      N times: open(PATH, O_WRONLY|O_APPEND), close
 *   escape ptrace PID           PTRACE_ATTACH, wait, PTRACE_DETACH
 *   escape bpf                  bpf(BPF_MAP_CREATE) with an invalid map
 *   escape module               init_module() of 16 bytes of zeros
 *   escape connect PATH         GET /version over a unix socket
 *   escape userns               unshare(CLONE_NEWUSER)
 *   escape uring                io_uring_setup(4 entries), close
 *   escape runas UID PROG ARG.. setgid/setuid(UID), then exec PROG
 *   escape setuid0              setuid(0)
 *   escape shocker PATH         open_by_handle_at(open(PATH), the handle of
 *                               inode 2: the root of PATH's filesystem),
 *                               then count its entries ("entries: N")
 *   escape flood N PATH [STOP]  N refused mount("proc") calls, open(PATH,
 *                               O_WRONLY|O_APPEND) and close, then N more
 *                               mounts, or with STOP mounts until the file
 *                               STOP exists (60 s at most); "flooded: COUNT"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int result(long r);

/* open_by_handle_at of the root directory (inode 2, generation 0: an
 * ext2/3/4 FILEID_INO32_GEN handle) of the filesystem MOUNT_PATH lies on. */
static int shocker(const char *mount_path)
{
    struct {
        struct file_handle fh;
        unsigned int ino, gen;
    } h = {.fh = {.handle_bytes = 8, .handle_type = 1}, .ino = 2, .gen = 0};
    int mfd = open(mount_path, O_RDONLY);
    if (mfd < 0)
        return result(mfd);
    int fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY);
    result(fd);
    if (fd < 0)
        return 0;
    DIR *d = fdopendir(fd);
    long n = 0;
    while (d && readdir(d))
        n++;
    printf("entries: %ld\n", n);
    return 0;
}

static long mounts(long n)
{
    for (long i = 0; i < n; i++)
        mount("proc", "/tmp", "proc", 0, NULL);
    return n;
}

/* Mounts in rounds of N until STOP exists, for 60 s at most. */
static long mounts_until(long n, const char *stop)
{
    long done = 0;
    for (int round = 0; round < 6000 && access(stop, F_OK) != 0; round++) {
        done += mounts(n / 100);
        usleep(1000);
    }
    return done;
}

static int result(long r)
{
    if (r < 0)
        printf("result: %d\n", errno);
    else
        printf("result: ok\n");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "open") && argc == 3) {
        int fd = open(argv[2], O_WRONLY | O_APPEND);
        result(fd);
        if (fd >= 0)
            close(fd);
    } else if (!strcmp(cmd, "openat") && argc == 4) {
        int dfd = open(argv[2], O_RDONLY | O_DIRECTORY);
        if (dfd < 0)
            return result(dfd);
        int fd = openat(dfd, argv[3], O_WRONLY | O_APPEND);
        result(fd);
        if (fd >= 0)
            close(fd);
    } else if (!strcmp(cmd, "openmany") && argc == 4) {
        long n = atol(argv[3]), done = 0;
        for (long i = 0; i < n; i++) {
            int fd = open(argv[2], O_WRONLY | O_APPEND);
            if (fd >= 0) {
                close(fd);
                done++;
            }
        }
        printf("opened: %ld\n", done);
    } else if (!strcmp(cmd, "ptrace") && argc == 3) {
        pid_t pid = atoi(argv[2]);
        long r = ptrace(PTRACE_ATTACH, pid, 0, 0);
        result(r);
        if (r == 0) {
            waitpid(pid, NULL, __WALL);
            ptrace(PTRACE_DETACH, pid, 0, 0);
        }
    } else if (!strcmp(cmd, "bpf")) {
        char attr[128] = {0};   /* map type 0: BPF_MAP_TYPE_UNSPEC, refused */
        result(syscall(SYS_bpf, 0, attr, sizeof(attr)));
    } else if (!strcmp(cmd, "module")) {
        static char image[16];
        result(syscall(SYS_init_module, image, sizeof(image), ""));
    } else if (!strcmp(cmd, "connect") && argc == 3) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strncpy(sa.sun_path, argv[2], sizeof(sa.sun_path) - 1);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        long r = connect(s, (struct sockaddr *)&sa, sizeof(sa));
        result(r);
        if (r == 0) {
            const char req[] = "GET /version HTTP/1.0\r\nHost: docker\r\n\r\n";
            char buf[256] = {0};
            if (write(s, req, sizeof(req) - 1) > 0 && read(s, buf, sizeof(buf) - 1) > 0)
                printf("%.*s\n", (int)strcspn(buf, "\r\n"), buf);
        }
        close(s);
    } else if (!strcmp(cmd, "uring")) {
        char params[120] = {0};     /* struct io_uring_params: all zero */
        long fd = syscall(SYS_io_uring_setup, 4, params);
        result(fd);
        if (fd >= 0)
            close(fd);
    } else if (!strcmp(cmd, "userns")) {
        result(unshare(CLONE_NEWUSER));
    } else if (!strcmp(cmd, "shocker") && argc == 3) {
        return shocker(argv[2]);
    } else if (!strcmp(cmd, "flood") && (argc == 4 || argc == 5)) {
        long n = atol(argv[2]);
        long done = mounts(n);
        int fd = open(argv[3], O_WRONLY | O_APPEND);
        result(fd);
        if (fd >= 0)
            close(fd);
        done += argc == 5 ? mounts_until(n, argv[4]) : mounts(n);
        printf("flooded: %ld\n", done);
    } else if (!strcmp(cmd, "setuid0")) {
        result(setuid(0));
    } else if (!strcmp(cmd, "runas") && argc >= 4) {
        uid_t uid = atoi(argv[2]);
        if (setgid(uid) || setuid(uid))
            return result(-1);
        execv(argv[3], argv + 3);
        return result(-1);
    } else {
        return 2;
    }
    return 0;
}
