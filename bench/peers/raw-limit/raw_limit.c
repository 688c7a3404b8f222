/* raw-limit: what the kernel alone charges for a broadcast (BENCH.md).
 * Opens N loopback TCP connections, then writes one pre-framed 64-byte
 * WebSocket message (66 bytes on the wire) to each of the N server-side
 * sockets, ROUNDS times: first with one write() per message, then batched
 * with writev() (BATCH messages per socket per call). Only the write loop is
 * timed; the client side is drained between rounds, untimed.
 *
 *   cc -O2 -o raw-limit raw_limit.c && ./raw-limit [N=1000] [ROUNDS=200] [BATCH=16]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void drain(int *cli, int n) {
    static char buf[65536];
    for (int i = 0; i < n; ++i)
        while (read(cli[i], buf, sizeof buf) > 0) {}
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    int rounds = argc > 2 ? atoi(argv[2]) : 200;
    int batch = argc > 3 ? atoi(argv[3]) : 16;
    if (n < 1 || rounds < 1 || batch < 1 || batch > 64) {
        fprintf(stderr, "usage: raw-limit [N] [ROUNDS] [BATCH<=64]\n");
        return 2;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)2 * n + 16 > rl.rlim_cur) {
        fprintf(stderr, "raw-limit: N=%d needs %d fds, limit %llu\n", n, 2 * n + 16,
                (unsigned long long)rl.rlim_cur);
        return 2;
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(0x7f000001);
    socklen_t al = sizeof a;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096) ||
        getsockname(ls, (struct sockaddr *)&a, &al)) {
        perror("listen");
        return 1;
    }
    int *cli = calloc(n, sizeof *cli), *srv = calloc(n, sizeof *srv);
    for (int i = 0; i < n; ++i) {
        cli[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(cli[i], (struct sockaddr *)&a, sizeof a)) {
            perror("connect");
            return 1;
        }
        srv[i] = accept(ls, NULL, NULL);
        if (srv[i] < 0) {
            perror("accept");
            return 1;
        }
        int one = 1;
        setsockopt(srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(cli[i], F_SETFL, O_NONBLOCK);
    }
    unsigned char frame[66];
    frame[0] = 0x82;
    frame[1] = 64;
    memset(frame + 2, 'x', 64);

    double t_write = 0;
    for (int r = 0; r < rounds; ++r) {
        double t0 = now_s();
        for (int i = 0; i < n; ++i)
            if (write(srv[i], frame, sizeof frame) != (ssize_t)sizeof frame) {
                perror("write");
                return 1;
            }
        t_write += now_s() - t0;
        drain(cli, n);
    }
    struct iovec iov[64];
    for (int k = 0; k < batch; ++k) {
        iov[k].iov_base = frame;
        iov[k].iov_len = sizeof frame;
    }
    double t_writev = 0;
    int vrounds = rounds / batch > 0 ? rounds / batch : 1;
    for (int r = 0; r < vrounds; ++r) {
        double t0 = now_s();
        for (int i = 0; i < n; ++i)
            if (writev(srv[i], iov, batch) != (ssize_t)(batch * sizeof frame)) {
                perror("writev");
                return 1;
            }
        t_writev += now_s() - t0;
        drain(cli, n);
    }
    double m1 = (double)n * rounds / 1e6, m2 = (double)n * vrounds * batch / 1e6;
    printf("write : %d sockets x %d rounds, one write() per message: %.3f s per million messages "
           "(%.0f msgs/s on one core)\n", n, rounds, t_write / m1, m1 * 1e6 / t_write);
    printf("writev: %d sockets x %d rounds, %d messages per writev(): %.3f s per million messages "
           "(%.0f msgs/s on one core)\n", n, vrounds, batch, t_writev / m2, m2 * 1e6 / t_writev);
    return 0;
}
