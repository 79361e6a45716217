/*
 * hubwake.h: waking the threads of a hub (hubwake.c), a leaf that knows
 * nothing of the hub's ring or producers: its functions take the hub's
 * lmk_wake, the part of the hub (hub.h embeds it as wk) that they read
 * and write, and the waiting producers' lmk_waiter.
 */
#ifndef LMK_HUBWAKE_H
#define LMK_HUBWAKE_H

#include <pthread.h>
#include <stdint.h>

#include "port.h"

/* A thread blocked in deliver_wait: on its own stack, reachable from its
 * ring record while queued or taken. word is what it sleeps on. */
typedef struct lmk_waiter {
    int32_t word;  /* LMK_W_*: waiting, waiting asleep, done */
    int32_t status; /* the outcome, a LUAMOCKIT_* status, valid once done */
    int32_t taken; /* under the hub's mutex: the Lua thread has taken its item */
} lmk_waiter;

enum { LMK_W_WAITING = 0, LMK_W_ASLEEP = 1, LMK_W_DONE = 2 };

/* The hub's mutex and what wakes its threads. mu is the hub's one mutex:
 * it guards the ring and the producers' slots too (hub.c). */
typedef struct lmk_wake {
    pthread_mutex_t mu;
#ifndef LMK_PORT_LINUX
    pthread_cond_t done; /* deliver_wait threads sleep on it */
#endif
    int open;         /* a universe uses the hub (hub.c sets it, under mu) */
    int32_t nlive;    /* live records in the hub's ring (hub.c counts them; atomic:
                       * the Lua thread reads it without the lock) */
    /* waking the Lua thread: fd (eventfd, or a pipe's read end, wfd its
     * write end) is readable while set; one datagram to port on each
     * setting */
    int fd, wfd;
    int set;          /* fd is readable (under mu; read without it as a hint) */
    int32_t sleeping; /* atomic: the Lua thread sleeps in wait() */
    int32_t watched;  /* atomic: an outside loop watches fd (fd(), setport()) */
    int32_t go;       /* atomic: Go has published expirations (Go's notifier) */
    int32_t held;     /* atomic: the Lua thread holds taken expirations not yet run */
    int64_t pspin;    /* atomic: how long a waiting producer looks for its answer */
    int32_t spinners; /* atomic: producers looking now */
    uint32_t pmiss;   /* atomic: waits that did not look */
    int udp;          /* the datagram socket, or -1 */
    int port;
} lmk_wake;

/* A pause in a spin loop. */
static inline void lmk_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* for hub.c (h->mu held where _locked) */
int lmk_wake_fd_open(lmk_wake *h);
void lmk_wake_fd_close(lmk_wake *h);
void lmk_wake_fd_clear_locked(lmk_wake *h);
int lmk_wake_pending_locked(lmk_wake *h);
void lmk_wake_locked(lmk_wake *h);
void lmk_wake_answer(lmk_wake *h, lmk_waiter *w, int status);
int lmk_wake_wait_answer(lmk_wake *h, lmk_waiter *w, int timeout_ms);

/* the Lua thread */
void lmk_wake_done(lmk_wake *h, lmk_waiter *w, int status);
void lmk_wake_quiesce(lmk_wake *h);
int lmk_wake_sleep_begin(lmk_wake *h);
void lmk_wake_sleep_end(lmk_wake *h);
void lmk_wake_watch(lmk_wake *h);
int lmk_wake_setport(lmk_wake *h, int port);
int lmk_wake_getport(lmk_wake *h);
void lmk_wake_hold(lmk_wake *h, int held);

/* Go's notifier */
void lmk_wake_go_set(lmk_wake *h);
void lmk_wake_go_clear(lmk_wake *h);

#endif
