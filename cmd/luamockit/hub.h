/*
 * hub.h: the part of a Lua universe that other threads reach: its producer
 * items (hub.c) and the wake-ups of its threads (hubwake.c).
 */
#ifndef LMK_HUB_H
#define LMK_HUB_H

#include <pthread.h>
#include <stdint.h>

/* A thread blocked in deliver_wait: on its own stack, reachable from its
 * ring record while queued or taken. word is what it sleeps on. */
typedef struct lmk_waiter {
    int32_t word;  /* LMK_W_*: waiting, waiting asleep, done */
    int32_t status; /* the outcome, a LUAMOCKIT_* status, valid once done */
    int32_t taken; /* under the hub's mutex: the Lua thread has taken its item */
} lmk_waiter;

enum { LMK_W_WAITING = 0, LMK_W_ASLEEP = 1, LMK_W_DONE = 2 };

/* One delivered item in the hub's ring. */
typedef struct lmk_record {
    void *item;        /* the producer's item */
    lmk_waiter *w;     /* deliver_wait's thread, or NULL */
    int64_t stamp;     /* when it was delivered: CLOCK_MONOTONIC ns */
    uint32_t slot;     /* its producer's slot */
    uint32_t live;     /* 0: withdrawn (timed out), dropped when it reaches the head */
} lmk_record;

/* A producer's slot: handles carry (hub, slot, seq); seq changes when the
 * slot is freed, so an old handle finds nothing. */
typedef struct lmk_pslot {
    uint32_t seq;
    uint32_t live;
    void *owner; /* the Lua thread's lmk_producer (the Lua thread reads it) */
} lmk_pslot;

typedef struct lmk_hub {
    pthread_mutex_t mu;
#ifndef LMK_PORT_LINUX
    pthread_cond_t done; /* deliver_wait threads sleep on it */
#endif
    uint32_t index;   /* in the registry (handles carry it) */
    int open;         /* a universe uses it */
    /* the ring of items: absolute positions [head, head + size) */
    lmk_record *ring;
    uint32_t cap, head, size;
    int32_t nlive;    /* live records (atomic: the Lua thread reads it without the lock) */
    int64_t last_stamp; /* the newest record's stamp */
    /* producers */
    lmk_pslot *slots;
    uint32_t nslots, slots_cap;
    /* waking the Lua thread: fd (eventfd, or a pipe's read end, wfd its
     * write end) is readable while set; one datagram to port on each
     * setting */
    int fd, wfd;
    int set;          /* fd is readable (under mu; read without it as a hint) */
    int32_t sleeping; /* atomic: the Lua thread sleeps in wait() */
    int32_t watched;  /* atomic: an outside loop watches fd (fd(), setport()) */
    int32_t go;       /* atomic: Go has published expirations (Go's notifier) */
    int32_t held;     /* atomic: the Lua thread holds taken expirations not yet run */
    int64_t go_due;   /* atomic, written by Go: when its earliest unpublished
                       * expiration is due, CLOCK_MONOTONIC ns (INT64_MAX: none) */
    int64_t pspin;    /* atomic: how long a waiting producer looks for its answer */
    int32_t spinners; /* atomic: producers looking now */
    uint32_t pmiss;   /* atomic: waits that did not look */
    int udp;          /* the datagram socket, or -1 */
    int port;
    struct lmk_hub *next_free;
} lmk_hub;

/* A pause in a spin loop. */
static inline void lmk_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

lmk_hub *lmk_hub_open(void);
void lmk_hub_close(lmk_hub *h, void (*cancel)(void *owner, void *item));

int lmk_hub_add_producer(lmk_hub *h, void *owner, uintptr_t *handle);
void *lmk_hub_remove_producer(uintptr_t handle, void (*cancel)(void *owner, void *item));
void *lmk_hub_owner(lmk_hub *h, uint32_t slot);

int lmk_hub_deliver(uintptr_t handle, void *item, int timeout_ms);

/* the Lua thread */
int lmk_hub_take(lmk_hub *h, int64_t bound, int64_t upto, lmk_record *out, void **owner, int *more);
int lmk_hub_put_back(lmk_hub *h, const lmk_record *r);
void lmk_hub_done(lmk_hub *h, lmk_waiter *w, int status);
int64_t lmk_hub_counts(lmk_hub *h, int64_t *inqueue);
static inline int lmk_hub_has_items(lmk_hub *h) { return __atomic_load_n(&h->nlive, __ATOMIC_ACQUIRE) > 0; }
static inline int lmk_hub_go(lmk_hub *h) { return __atomic_load_n(&h->go, __ATOMIC_ACQUIRE) != 0; }
static inline int64_t lmk_hub_go_due(lmk_hub *h) { return __atomic_load_n(&h->go_due, __ATOMIC_ACQUIRE); }

/* between hub.c and hubwake.c only (h->mu held where _locked) */
int lmk_hub_fd_open(lmk_hub *h);
void lmk_hub_fd_close(lmk_hub *h);
void lmk_hub_fd_clear_locked(lmk_hub *h);
int lmk_hub_pending_locked(lmk_hub *h);
void lmk_hub_wake_locked(lmk_hub *h);
void lmk_hub_answer(lmk_hub *h, lmk_waiter *w, int status);
int lmk_hub_wait_answer(lmk_hub *h, lmk_waiter *w, int timeout_ms);
int lmk_hub_withdraw(lmk_hub *h, lmk_waiter *w);

/* waking */
void lmk_hub_quiesce(lmk_hub *h);
int lmk_hub_sleep_begin(lmk_hub *h);
void lmk_hub_sleep_end(lmk_hub *h);
void lmk_hub_watch(lmk_hub *h);
int lmk_hub_setport(lmk_hub *h, int port);
int lmk_hub_getport(lmk_hub *h);
void lmk_hub_go_set(lmk_hub *h);
void lmk_hub_go_clear(lmk_hub *h);
void lmk_hub_hold(lmk_hub *h, int held);

#endif
