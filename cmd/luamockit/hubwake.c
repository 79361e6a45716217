/*
 * hubwake.c: how the hub's threads are woken (see hub.c for the hub): the
 * Lua thread through its wake-up fd (and setport()'s datagram), and a
 * producer blocked in deliver_wait through a word on its own stack. A
 * leaf: it knows the hub only by its lmk_wake (hubwake.h: the hub's mutex
 * and the fields waking reads and writes, which the hub embeds).
 *
 * The Lua thread: fd is set (readable) when something becomes pending
 * while the Lua thread sleeps in wait() or an outside loop watches fd, and
 * cleared when nothing is: by the Lua thread after a drain
 * (lmk_wake_quiesce), by Go's notifier, by a timeout that withdraws the
 * last item; both under the mutex. A producer that finds the Lua thread
 * awake, in default mode, makes no system call. The checks pair a store
 * and a load on each side (nlive / sleeping), both sequentially
 * consistent, so one side always sees the other.
 *
 * A waiting producer: answered by lmk_wake_answer (the last touch of its
 * waiter), it first looks for its answer for a short adaptive window,
 * then sleeps on a futex (Linux) or the hub's condition variable; its
 * timeout withdraws its item if the Lua thread has not taken it
 * (lmk_hub_withdraw, hub.c, called by the waiting thread once
 * lmk_wake_wait_answer says its time ran out: this file calls nothing of
 * hub.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "hubwake.h"

#ifdef LMK_PORT_LINUX
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

/* ---- the wake-up file descriptor ---- */

int lmk_wake_fd_open(lmk_wake *h) {
    int rc = lmk_port_notifier_open(&h->fd, &h->wfd);
    if (rc != 0) errno = rc;
    return rc;
}

void lmk_wake_fd_close(lmk_wake *h) {
    lmk_port_notifier_close(h->fd, h->wfd);
    h->fd = h->wfd = -1;
}

/* Makes fd readable and sends the datagram. h->mu held. */
static void fd_set_locked(lmk_wake *h) {
    uint64_t one = 1;
    ssize_t r;
    __atomic_store_n(&h->set, 1, __ATOMIC_RELAXED);
    do r = write(h->wfd, &one, sizeof one);
    while (r < 0 && errno == EINTR);
    if (h->udp >= 0) {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)h->port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        /* best effort, like DarkSideSync: a full socket buffer means a
         * wake-up is already waiting to be read */
        (void)sendto(h->udp, "", 1, 0, (struct sockaddr *)&a, sizeof a);
    }
}

/* Reads fd dry: an eventfd in one read, a pipe until a read comes short. */
void lmk_wake_fd_clear_locked(lmk_wake *h) {
    uint64_t buf[8];
    ssize_t r;
    __atomic_store_n(&h->set, 0, __ATOMIC_RELAXED);
    do r = read(h->fd, buf, sizeof buf);
    while (r > 0 ? (size_t)r == sizeof buf : errno == EINTR);
}

int lmk_wake_pending_locked(lmk_wake *h) {
    return __atomic_load_n(&h->nlive, __ATOMIC_SEQ_CST) > 0 || __atomic_load_n(&h->go, __ATOMIC_SEQ_CST) != 0 ||
           __atomic_load_n(&h->held, __ATOMIC_RELAXED) != 0;
}

/* Something became pending: set fd if anybody waits on it. h->mu held; the
 * caller's store that made it pending is sequentially consistent. */
void lmk_wake_locked(lmk_wake *h) {
    if (h->set || h->fd < 0) return;
    if (__atomic_load_n(&h->sleeping, __ATOMIC_SEQ_CST) || __atomic_load_n(&h->watched, __ATOMIC_RELAXED))
        fd_set_locked(h);
}

/* The Lua thread: clears fd if nothing is pending. */
void lmk_wake_quiesce(lmk_wake *h) {
    if (!__atomic_load_n(&h->set, __ATOMIC_RELAXED)) return;
    pthread_mutex_lock(&h->mu);
    if (h->set && !lmk_wake_pending_locked(h)) lmk_wake_fd_clear_locked(h);
    pthread_mutex_unlock(&h->mu);
}

/* The Lua thread is about to sleep on fd: returns 0 (do not sleep) if
 * something is pending already. */
int lmk_wake_sleep_begin(lmk_wake *h) {
    __atomic_store_n(&h->sleeping, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&h->nlive, __ATOMIC_SEQ_CST) > 0 || __atomic_load_n(&h->go, __ATOMIC_SEQ_CST) != 0) {
        __atomic_store_n(&h->sleeping, 0, __ATOMIC_RELAXED);
        return 0;
    }
    return 1;
}

void lmk_wake_sleep_end(lmk_wake *h) { __atomic_store_n(&h->sleeping, 0, __ATOMIC_RELAXED); }

/* An outside loop watches fd from now on: it must be readable whenever
 * something is pending. */
void lmk_wake_watch(lmk_wake *h) {
    pthread_mutex_lock(&h->mu);
    __atomic_store_n(&h->watched, 1, __ATOMIC_SEQ_CST);
    if (lmk_wake_pending_locked(h)) lmk_wake_locked(h);
    pthread_mutex_unlock(&h->mu);
}

/* Go's notifier: Go holds a due timer (set) or no longer does (clear). */
void lmk_wake_go_set(lmk_wake *h) {
    pthread_mutex_lock(&h->mu);
    __atomic_store_n(&h->go, 1, __ATOMIC_SEQ_CST);
    if (h->open) lmk_wake_locked(h);
    pthread_mutex_unlock(&h->mu);
}

void lmk_wake_go_clear(lmk_wake *h) {
    pthread_mutex_lock(&h->mu);
    __atomic_store_n(&h->go, 0, __ATOMIC_SEQ_CST);
    if (h->set && !lmk_wake_pending_locked(h)) lmk_wake_fd_clear_locked(h);
    pthread_mutex_unlock(&h->mu);
}

/* The Lua thread: a drain left taken expirations not yet run (held), or
 * none; fd stays readable while it holds some. */
void lmk_wake_hold(lmk_wake *h, int held) {
    if (__atomic_load_n(&h->held, __ATOMIC_RELAXED) == held) return;
    pthread_mutex_lock(&h->mu);
    __atomic_store_n(&h->held, held, __ATOMIC_SEQ_CST);
    if (held) lmk_wake_locked(h);
    pthread_mutex_unlock(&h->mu);
}

/* setport(port): a datagram to 127.0.0.1:port each time fd is set (0:
 * none). Returns 0, or -1 if the socket cannot be made. */
int lmk_wake_setport(lmk_wake *h, int port) {
    int s = -1;
    if (port != 0 && (s = lmk_port_udp_socket()) < 0) return -1;
    pthread_mutex_lock(&h->mu);
    if (h->udp >= 0) close(h->udp);
    h->udp = s;
    h->port = port;
    pthread_mutex_unlock(&h->mu);
    return 0;
}

int lmk_wake_getport(lmk_wake *h) {
    int port;
    pthread_mutex_lock(&h->mu);
    port = h->port;
    pthread_mutex_unlock(&h->mu);
    return port;
}

/* ---- waiting producers ---- */

#ifdef LMK_PORT_LINUX
static void futex_wake(int32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }
static int futex_wait(int32_t *word, int32_t val, const struct timespec *rel) {
    return (int)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0);
}
#endif

/* Answers a waiting thread: the last touch of w (it may return at once). */
void lmk_wake_answer(lmk_wake *h, lmk_waiter *w, int status) {
    w->status = status;
#ifdef LMK_PORT_LINUX
    (void)h;
    if (__atomic_exchange_n(&w->word, LMK_W_DONE, __ATOMIC_SEQ_CST) == LMK_W_ASLEEP) futex_wake(&w->word);
#else
    __atomic_store_n(&w->word, LMK_W_DONE, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&h->done);
#endif
}

/* Answers a waiting thread whose item the Lua thread ran (or skipped). */
void lmk_wake_done(lmk_wake *h, lmk_waiter *w, int status) {
#ifdef LMK_PORT_LINUX
    lmk_wake_answer(h, w, status);
#else
    pthread_mutex_lock(&h->mu);
    lmk_wake_answer(h, w, status);
    pthread_mutex_unlock(&h->mu);
#endif
}

/* A waiting producer looks for its answer for a while before it sleeps,
 * when answers have been coming quickly: a futex sleep and wake-up cost
 * both threads more than a short look, when a core is free to look on.
 * The window (h->pspin) is twice the last round trip (at least
 * LMK_PSPIN_MIN_NS), half after a miss, none when round trips take longer
 * than LMK_PSPIN_MAX_NS; at most ncpu - 1 producers of a hub look at once
 * (the Lua thread needs a core), none on one CPU. */
#define LMK_PSPIN_MIN_NS 1000
#define LMK_PSPIN_MAX_NS 50000

static int max_spinners(void) {
    static int n = -1;
    int v = __atomic_load_n(&n, __ATOMIC_RELAXED);
    if (v < 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        v = c > 1 ? (int)(c - 1) : 0;
        __atomic_store_n(&n, v, __ATOMIC_RELAXED);
    }
    return v;
}

/* Learns from a round trip of rt ns. */
static void learn(lmk_wake *h, int64_t rt) {
    int64_t w = 2 * rt;
    if (w < LMK_PSPIN_MIN_NS) w = LMK_PSPIN_MIN_NS;
    __atomic_store_n(&h->pspin, w > LMK_PSPIN_MAX_NS ? 0 : w, __ATOMIC_RELAXED);
}

/* Looks for w's answer for the window; returns whether it came. */
static int look(lmk_wake *h, lmk_waiter *w, int64_t start) {
    int64_t win = __atomic_load_n(&h->pspin, __ATOMIC_RELAXED), now = start;
    int got = 0;
    if (win <= 0) {
        /* now and then, try a short look again */
        if ((__atomic_add_fetch(&h->pmiss, 1, __ATOMIC_RELAXED) & 63) != 0) return 0;
        win = LMK_PSPIN_MIN_NS;
    }
    if (__atomic_add_fetch(&h->spinners, 1, __ATOMIC_RELAXED) > max_spinners()) {
        __atomic_sub_fetch(&h->spinners, 1, __ATOMIC_RELAXED);
        return 0;
    }
    while (now - start < win) {
        int i;
        for (i = 0; i < 32; i++) {
            if (__atomic_load_n(&w->word, __ATOMIC_ACQUIRE) == LMK_W_DONE) {
                got = 1;
                break;
            }
            lmk_cpu_relax();
        }
        now = lmk_mono_ns();
        if (got) break;
    }
    __atomic_sub_fetch(&h->spinners, 1, __ATOMIC_RELAXED);
    if (got) learn(h, now - start);
    else __atomic_store_n(&h->pspin, win / 2 >= LMK_PSPIN_MIN_NS ? win / 2 : 0, __ATOMIC_RELAXED);
    return got;
}

/* Blocks until w is answered (1), or timeout_ms (> 0) pass first (0: the
 * caller withdraws its item, or waits on if the Lua thread took it). */
int lmk_wake_wait_answer(lmk_wake *h, lmk_waiter *w, int timeout_ms) {
    int64_t start = lmk_mono_ns();
    int64_t deadline = timeout_ms > 0 ? start + (int64_t)timeout_ms * 1000000 : INT64_MAX;
    if (look(h, w, start)) return 1;
#ifdef LMK_PORT_LINUX
    for (;;) {
        int32_t v = __atomic_load_n(&w->word, __ATOMIC_ACQUIRE);
        struct timespec ts, *tp = NULL;
        if (v == LMK_W_DONE) break;
        if (deadline != INT64_MAX) {
            int64_t left = deadline - lmk_mono_ns();
            if (left <= 0) return 0;
            ts.tv_sec = (time_t)(left / 1000000000);
            ts.tv_nsec = (long)(left % 1000000000);
            tp = &ts;
        }
        if (v == LMK_W_WAITING &&
            !__atomic_compare_exchange_n(&w->word, &v, LMK_W_ASLEEP, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            continue;
        futex_wait(&w->word, LMK_W_ASLEEP, tp);
    }
#else
    pthread_mutex_lock(&h->mu);
    while (__atomic_load_n(&w->word, __ATOMIC_ACQUIRE) != LMK_W_DONE) {
        if (deadline != INT64_MAX && lmk_mono_ns() >= deadline) {
            pthread_mutex_unlock(&h->mu);
            return 0;
        }
        if (deadline == INT64_MAX) {
            pthread_cond_wait(&h->done, &h->mu);
        } else {
            struct timespec ts;
            int64_t left = deadline - lmk_mono_ns();
            clock_gettime(CLOCK_REALTIME, &ts);
            if (left < 0) left = 0;
            ts.tv_sec += (time_t)(left / 1000000000);
            ts.tv_nsec += (long)(left % 1000000000);
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&h->done, &h->mu, &ts);
        }
    }
    pthread_mutex_unlock(&h->mu);
#endif
    learn(h, lmk_mono_ns() - start);
    return 1;
}
