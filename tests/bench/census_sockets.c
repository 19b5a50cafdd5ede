// census_sockets: the socket population for tests/bench/census.sh.
//
//   census_sockets TIME_WAIT ESTABLISHED
//
// Listens on 127.0.0.1 (kernel-chosen port), then makes TIME_WAIT loopback
// connections whose client closes first, so the client end holds TIME_WAIT
// for 60 s and the server end is gone; then ESTABLISHED connections that it
// keeps open (two ESTAB sockets each: both ends are on this host). Client
// sources rotate over 127.0.0.2 ... 127.0.0.17, each bound to an explicit
// port from 10000 up (SO_REUSEADDR, so a TIME_WAIT of an earlier run on the
// same address and port does not block it; a port some other socket holds is
// skipped): no ephemeral-port search, and 50,000 TIME_WAITs leave the
// ephemeral range alone. Prints "ready PORT SECONDS" on stdout once every
// socket is made, then sleeps until killed. Loopback only (127.0.0.0/8).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kSources = 16, kBatch = 256 };

static void die(const char* what) {
    fprintf(stderr, "census_sockets: %s: %s\n", what, strerror(errno));
    exit(3);
}

static unsigned next_source;  // source n: 127.0.0.(2 + n % 16), port 10000 + n / 16

static int connect_from(const struct sockaddr_in* server) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    for (;;) {
        unsigned n = next_source++;
        if (n / kSources >= 40000) {
            errno = EADDRNOTAVAIL;
            die("out of source ports 10000-49999");
        }
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000002u + n % kSources);  // 127.0.0.2 .. 127.0.0.17
        src.sin_port = htons((uint16_t)(10000 + n / kSources));
        if (bind(fd, (struct sockaddr*)&src, sizeof src) == 0) break;
        if (errno != EADDRINUSE) die("bind 127.0.0.x");
    }
    if (connect(fd, (const struct sockaddr*)server, sizeof *server) < 0) die("connect");
    return fd;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: census_sockets TIME_WAIT ESTABLISHED\n");
        return 2;
    }
    long time_wait = atol(argv[1]), established = atol(argv[2]);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((rlim_t)(2 * established + 2 * kBatch + 16) > rl.rlim_cur) {
        fprintf(stderr, "census_sockets: %ld established connections need %ld descriptors, limit is %lu\n",
                established, 2 * established + 2 * kBatch + 16, (unsigned long)rl.rlim_cur);
        return 3;
    }

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) die("socket");
    struct sockaddr_in server = {.sin_family = AF_INET};
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr*)&server, sizeof server) < 0) die("bind 127.0.0.1");
    if (listen(listener, 4096) < 0) die("listen");
    socklen_t len = sizeof server;
    getsockname(listener, (struct sockaddr*)&server, &len);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int clients[kBatch], servers[kBatch];
    for (long done = 0; done < time_wait;) {
        int batch = time_wait - done < kBatch ? (int)(time_wait - done) : kBatch;
        // Loopback connects complete in the call; the accept queue holds the batch.
        for (int i = 0; i < batch; ++i) clients[i] = connect_from(&server);
        for (int i = 0; i < batch; ++i)
            if ((servers[i] = accept(listener, NULL, NULL)) < 0) die("accept");
        // The client closes first and so holds TIME_WAIT; the server reads
        // the FIN (EOF) before it closes, so it is the passive closer.
        for (int i = 0; i < batch; ++i) close(clients[i]);
        char byte;
        for (int i = 0; i < batch; ++i) {
            if (read(servers[i], &byte, 1) != 0) die("read EOF");
            close(servers[i]);
        }
        done += batch;
    }
    for (long i = 0; i < established; ++i) {
        connect_from(&server);  // kept open: the fds live until the process dies
        if (accept(listener, NULL, NULL) < 0) die("accept");
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("ready %u %.2f\n", ntohs(server.sin_port),
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    fflush(stdout);
    for (;;) pause();
}
