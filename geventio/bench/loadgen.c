/* loadgen.c: the benchmarks' echo load generator, in C over epoll.
 *
 * Same command line, modes and JSON output as benchmarks/loadgen.py, which is the
 * fallback when no C compiler is found. A Python client tops out near the speed of
 * the Python servers it measures, so on a two-core machine it would be measuring
 * itself; this one spends a few microseconds per round trip. procs.py compiles it
 * at run time with `cc -O2` into a cache directory.
 *
 *   loadgen MODE --host H --port P --conns N --size S --duration D --warmup W
 *           --timeout T [--window BYTES] [--udp-timeout SEC]
 *   MODE: pingpong | bulk | udp | connrate | memory
 *
 * Every TCP connection is one stream of bytes taken from a pseudo-random pattern
 * (starting at an offset of its own) and every echoed byte is compared with what was
 * sent at that offset: lost, duplicated, reordered or foreign bytes are a mismatch,
 * and the connection is dropped. Each connection first exchanges a 64-byte hello,
 * so that the server has really accepted it before the clock starts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PATLEN 1048573u     /* a prime above 1 MiB: no message or chunk size divides it */
#define HELLO 64            /* bytes of the first exchange on each connection */
#define CONNECT_BATCH 64    /* connections in setup at once: below every server's backlog */
#define CHUNK 65536         /* bulk send size and receive buffer */
#define MAXEV 512
#define DRAIN 2.0           /* seconds allowed for in-flight echoes after the window */
#define STALL 5.0           /* seconds of setup with no hello completed: give up */
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { PINGPONG, BULK, UDP, CONNRATE, MEMORY };
static const char *MODES[] = {"pingpong", "bulk", "udp", "connrate", "memory"};
enum { C_FREE, C_CONNECTING, C_HELLO, C_RUN };

struct conn {
    int fd, state, want_out;
    uint32_t id, base, seq;
    uint64_t sent, recvd, target;
    double t0;              /* when the current message (or connection) started */
};

static struct {
    int mode, port, conns, size;
    const char *host;
    double duration, warmup, timeout, udp_timeout;
    long window;
} o = {PINGPONG, 0, 1, 64, "127.0.0.1", 2.0, 0.3, 10.0, 0.2, 4L * CHUNK};

static struct {
    uint64_t count, bytes, mismatches, io_errors, lost, late, connected;
} st;

static unsigned char *pat;          /* 2 * PATLEN bytes: any slice <= PATLEN is contiguous */
static unsigned char rbuf[CHUNK], dbuf[CHUNK];
static int ep, setup_pending, rotate_source = 1, draining;
static uint32_t opened_total;
static struct sockaddr_in dst;
static struct conn *cs;
static double *lat;
static size_t nlat, caplat;
static char first_error[200];
static double t_start, t_end;       /* measurement window; t_start == 0: not started */
static double last_progress;        /* when the last connection completed its hello */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int in_window(double t) { return t_start > 0 && t >= t_start && t < t_end; }

static void record(double seconds) {
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 65536;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat) { perror("realloc"); exit(3); }
    }
    lat[nlat++] = seconds * 1e6;
}

static void note(const char *what, int err) {
    if (!first_error[0])
        snprintf(first_error, sizeof first_error, "%s%s%s", what, err ? ": " : "",
                 err ? strerror(err) : "");
}

static void drop(struct conn *c) {
    if (c->state == C_CONNECTING || c->state == C_HELLO) setup_pending--;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->state = C_FREE;
}

static void io_error(struct conn *c, const char *what, int err) {
    st.io_errors++;
    note(what, err);
    drop(c);
}

static void mismatch(struct conn *c, const char *what) {
    st.mismatches++;
    note(what, 0);
    drop(c);
}

static uint32_t pos(struct conn *c, uint64_t offset) {
    return (uint32_t)((c->base + offset) % PATLEN);
}

static void set_out(struct conn *c, int out) {
    if (c->want_out == out) return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

/* Send the stream up to offset `limit`; wait for writability only on EAGAIN. */
static int send_upto(struct conn *c, uint64_t limit) {
    while (c->sent < limit) {
        uint64_t n = limit - c->sent;
        ssize_t r = send(c->fd, pat + pos(c, c->sent), n > CHUNK ? CHUNK : n, MSG_NOSIGNAL);
        if (r > 0) { c->sent += r; continue; }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) { set_out(c, 1); return 0; }
        io_error(c, "send", errno);
        return -1;
    }
    set_out(c, 0);
    return 0;
}

static uint64_t send_limit(struct conn *c) {
    if (draining) return c->sent;
    return (o.mode == BULK && c->state == C_RUN) ? c->recvd + o.window : c->target;
}

static void source_address(int fd) {
    /* Connection-rate runs open ~10^5 connections to one port; spreading them over
     * 200 loopback sources keeps TIME_WAIT from exhausting the ephemeral ports. */
    if (!rotate_source || dst.sin_addr.s_addr != htonl(INADDR_LOOPBACK)) return;
    uint32_t k = opened_total % 200;
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0,
                              .sin_addr.s_addr = htonl(0x7f010001u | (k << 8))};
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) rotate_source = 0;
}

static void open_tcp(struct conn *c) {
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->fd = fd;
    c->state = C_CONNECTING;
    c->sent = c->recvd = c->target = 0;
    c->t0 = now();
    c->want_out = 1;
    setup_pending++;
    opened_total++;
    if (fd < 0) { io_error(c, "socket", errno); return; }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o.mode == CONNRATE) source_address(fd);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
        io_error(c, "connect", errno);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void on_connected(struct conn *c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) { io_error(c, "connect", err); return; }
    c->state = C_HELLO;
    c->target = HELLO;
    send_upto(c, c->target);
}

static void message_done(struct conn *c) {
    double t = now();
    if (c->state == C_HELLO) {
        setup_pending--;
        st.connected++;
        last_progress = t;
        c->state = C_RUN;
        if (o.mode == CONNRATE) {
            if (in_window(t)) { st.count++; record(t - c->t0); }
            close(c->fd);
            c->fd = -1;
            c->state = C_FREE;
            return;
        }
        if (o.mode == MEMORY) return;
        if (o.mode == BULK) { send_upto(c, send_limit(c)); return; }
    } else if (in_window(t)) {
        st.count++;
        st.bytes += o.size;         /* lock-step bulk reads its figure from here */
        record(t - c->t0);
    }
    if (draining) return;
    c->target = c->sent + o.size;
    c->t0 = t;
    send_upto(c, c->target);
}

static void on_readable(struct conn *c) {
    ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (r < 0) {
        if (errno != EAGAIN && errno != EINTR) io_error(c, "recv", errno);
        return;
    }
    if (r == 0) { io_error(c, "recv: unexpected EOF", 0); return; }
    if (c->recvd + r > c->sent) { mismatch(c, "echo longer than what was sent"); return; }
    if (memcmp(rbuf, pat + pos(c, c->recvd), r)) { mismatch(c, "echoed bytes differ"); return; }
    c->recvd += r;
    if (o.mode == BULK && c->state == C_RUN) {
        if (in_window(now())) st.bytes += r;
        send_upto(c, send_limit(c));
    } else if (c->recvd == c->target) {
        message_done(c);
    }
}

static void udp_send(struct conn *c) {
    c->seq++;
    memcpy(dbuf, &c->id, 4);
    memcpy(dbuf + 4, &c->seq, 4);
    memcpy(dbuf + 8, pat + (c->base + c->seq * 8191u) % PATLEN, o.size - 8);
    c->t0 = now();
    if (send(c->fd, dbuf, o.size, 0) < 0 && errno != EAGAIN && errno != ECONNREFUSED) {
        st.io_errors++;
        note("send", errno);
    }
}

static void open_udp(struct conn *c) {
    c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
        io_error(c, "udp socket", errno);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->state = C_RUN;
    udp_send(c);
}

static void udp_readable(struct conn *c) {
    for (;;) {
        ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (r < 0) {
            if (errno == ECONNREFUSED) { st.io_errors++; note("recv", errno); continue; }
            return;
        }
        uint32_t id, seq;
        memcpy(&id, rbuf, 4);
        memcpy(&seq, rbuf + 4, 4);
        if (r >= 8 && id == c->id && seq < c->seq) { st.late++; continue; }
        if (r != o.size || id != c->id || seq != c->seq ||
            memcmp(rbuf + 8, pat + (c->base + seq * 8191u) % PATLEN, o.size - 8)) {
            st.mismatches++;
            note("datagram differs from the one sent", 0);
            continue;
        }
        double t = now();
        if (in_window(t)) { st.count++; record(t - c->t0); }
        if (draining) { c->state = C_FREE; return; }
        udp_send(c);
    }
}

static void udp_timeouts(double t) {
    for (int i = 0; i < o.conns; i++) {
        struct conn *c = &cs[i];
        if (c->state == C_RUN && t - c->t0 > o.udp_timeout) {
            if (in_window(t)) st.lost++;
            if (draining) c->state = C_FREE;
            else udp_send(c);
        }
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(double q) {
    return nlat ? lat[(size_t)(q * (nlat - 1) + 0.5)] : -1;
}

static void report(const char *key, double measured) {
    qsort(lat, nlat, sizeof *lat, cmp_double);
    if (measured <= 0) measured = 1e-9;
    printf("{\"%s\": true, \"loadgen\": \"c\", \"mode\": \"%s\", \"conns\": %d, \"size\": %d, "
           "\"connected\": %llu, \"duration\": %.6f, \"count\": %llu, \"bytes\": %llu, "
           "\"rate\": %.3f, \"mb_per_s\": %.3f, \"p50_us\": %.2f, \"p99_us\": %.2f, "
           "\"mismatches\": %llu, \"io_errors\": %llu, \"lost\": %llu, \"late\": %llu, "
           "\"first_error\": \"%s\"}\n",
           key, MODES[o.mode], o.conns, o.size, (unsigned long long)st.connected, measured,
           (unsigned long long)st.count, (unsigned long long)st.bytes, st.count / measured,
           st.bytes / measured / 1e6, quantile(0.5), quantile(0.99),
           (unsigned long long)st.mismatches, (unsigned long long)st.io_errors,
           (unsigned long long)st.lost, (unsigned long long)st.late, first_error);
    fflush(stdout);
}

static void hold(void) {
    /* Memory mode: keep every connection open until the runner has read the
     * server's RSS and closes our stdin (bounded by --timeout). */
    report("holding", 1.0);
    struct pollfd p = {.fd = 0, .events = POLLIN};
    poll(&p, 1, (int)(o.timeout * 1000));
}

static void parse(int argc, char **argv) {
    static struct option longs[] = {
        {"host", 1, 0, 'h'}, {"port", 1, 0, 'p'}, {"conns", 1, 0, 'c'},
        {"size", 1, 0, 's'}, {"duration", 1, 0, 'd'}, {"warmup", 1, 0, 'w'},
        {"timeout", 1, 0, 't'}, {"window", 1, 0, 'W'}, {"udp-timeout", 1, 0, 'u'},
        {0, 0, 0, 0}};
    int ch, i;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'h': o.host = optarg; break;
        case 'p': o.port = atoi(optarg); break;
        case 'c': o.conns = atoi(optarg); break;
        case 's': o.size = atoi(optarg); break;
        case 'd': o.duration = atof(optarg); break;
        case 'w': o.warmup = atof(optarg); break;
        case 't': o.timeout = atof(optarg); break;
        case 'W': o.window = atol(optarg); break;
        case 'u': o.udp_timeout = atof(optarg); break;
        default: exit(2);
        }
    }
    if (optind != argc - 1) { fprintf(stderr, "usage: loadgen MODE [options]\n"); exit(2); }
    for (i = 0; i < 5 && strcmp(argv[optind], MODES[i]); i++) {}
    if (i == 5) { fprintf(stderr, "unknown mode %s\n", argv[optind]); exit(2); }
    o.mode = i;
    if (o.conns < 1 || o.size < 1 || o.size > CHUNK || (o.mode == UDP && o.size < 8)) {
        fprintf(stderr, "bad --conns or --size\n");
        exit(2);
    }
}

static void setup(void) {
    struct rlimit rl;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    pat = malloc(2 * PATLEN);
    cs = calloc(o.conns, sizeof *cs);
    if (!pat || !cs) { perror("malloc"); exit(3); }
    uint64_t x = 0x9e3779b97f4a7c15ull;         /* xorshift64: fixed, reproducible */
    for (uint32_t i = 0; i < PATLEN; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        pat[i] = pat[i + PATLEN] = (unsigned char)(x >> 24);
    }
    for (int i = 0; i < o.conns; i++) {
        cs[i].fd = -1;
        cs[i].id = i;
        cs[i].base = (uint32_t)((i * 7919ull) % PATLEN);
    }
    dst.sin_family = AF_INET;
    dst.sin_port = htons(o.port);
    if (inet_pton(AF_INET, o.host, &dst.sin_addr) != 1) { fprintf(stderr, "bad host\n"); exit(2); }
    ep = epoll_create1(EPOLL_CLOEXEC);
}

/* After the window, no new message starts; waiting for the echoes in flight before
 * closing lets the servers see a clean EOF instead of a reset (which gevent's
 * StreamServer would report with a traceback, on the CPU the next server uses). */
static int all_idle(void) {
    for (int i = 0; i < o.conns; i++) {
        struct conn *c = &cs[i];
        if (o.mode == UDP ? c->state != C_FREE
                          : c->state != C_FREE && (c->state != C_RUN || c->recvd != c->sent))
            return 0;
    }
    return 1;
}

static void dispatch(struct epoll_event *e) {
    struct conn *c = e->data.ptr;
    if (c->state == C_FREE) return;             /* dropped earlier in this batch */
    if (o.mode == UDP) { udp_readable(c); return; }
    if (c->state == C_CONNECTING) {
        if (e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
        return;
    }
    if ((e->events & EPOLLOUT) && send_upto(c, send_limit(c)) < 0) return;
    if (e->events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
}

int main(int argc, char **argv) {
    struct epoll_event evs[MAXEV];
    int opened = 0;
    parse(argc, argv);
    setup();
    double begin = now(), drain_end = 0;
    last_progress = begin;
    for (;;) {
        double t = now();
        if (draining) {
            if (o.mode == UDP) udp_timeouts(t);
            if (t >= drain_end || all_idle()) break;
        } else if (o.mode == UDP) {
            for (; opened < o.conns; opened++) open_udp(&cs[opened]);
            udp_timeouts(t);
        } else if (o.mode == CONNRATE) {
            for (int i = 0; i < o.conns; i++)
                if (cs[i].state == C_FREE) open_tcp(&cs[i]);
        } else {
            while (opened < o.conns && setup_pending < CONNECT_BATCH) open_tcp(&cs[opened++]);
        }
        if (t_start == 0) {
            int ready = o.mode == UDP || o.mode == CONNRATE ||
                        (opened == o.conns && setup_pending == 0);
            if (!ready && (t - begin > o.timeout || t - last_progress > STALL)) {
                for (int i = 0; i < o.conns; i++)
                    if (cs[i].state == C_CONNECTING || cs[i].state == C_HELLO)
                        io_error(&cs[i], "connection setup timed out", 0);
                opened = o.conns;
                ready = 1;
            }
            if (ready && o.mode != UDP && o.mode != CONNRATE && st.connected == 0) break;
            if (ready) {
                if (o.mode == MEMORY) { hold(); return 0; }
                t_start = t + o.warmup;
                t_end = t_start + o.duration;
            }
        } else if (!draining && t >= t_end) {
            draining = 1;
            drain_end = t + DRAIN;
        }
        int n = epoll_wait(ep, evs, MAXEV, 10);
        for (int i = 0; i < n; i++) dispatch(&evs[i]);
    }
    for (int i = 0; i < o.conns; i++)
        if (cs[i].fd >= 0) close(cs[i].fd);
    report("result", t_end - t_start);
    return 0;
}
