/*
 * hub.h: the part of a Lua universe that other threads reach: its producer
 * items (hub.c) and the wake-ups of its threads (hubwake.h, whose lmk_wake
 * it embeds: hubwake.c needs nothing of this header).
 */
#ifndef LMK_HUB_H
#define LMK_HUB_H

#include <pthread.h>
#include <stdint.h>

#include "hubwake.h"

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
    lmk_wake wk;      /* its mutex, and waking its threads (hubwake.h) */
    int64_t go_due;   /* atomic, written by Go: when its earliest unpublished
                       * expiration is due, CLOCK_MONOTONIC ns (INT64_MAX: none) */
    int64_t vnow;     /* atomic, written by Go: its virtual clock's reading, on C's
                       * clock (mit.clock("virtual"): lmk_now) */
    uint32_t index;   /* in the registry (handles carry it) */
    /* the ring of items: absolute positions [head, head + size); wk.nlive
     * counts its live records */
    lmk_record *ring;
    uint32_t cap, head, size;
    int64_t last_stamp; /* the newest record's stamp */
    /* producers */
    lmk_pslot *slots;
    uint32_t nslots, slots_cap;
    struct lmk_hub *next_free;
} lmk_hub;

lmk_hub *lmk_hub_open(void);
void lmk_hub_close(lmk_hub *h, void (*cancel)(void *owner, void *item));

int lmk_hub_add_producer(lmk_hub *h, void *owner, uintptr_t *handle);
void *lmk_hub_remove_producer(uintptr_t handle, void (*cancel)(void *owner, void *item));
void *lmk_hub_owner(lmk_hub *h, uint32_t slot);

int lmk_hub_deliver(uintptr_t handle, void *item, int timeout_ms);

/* the Lua thread (waking it and answering producers: hubwake.h, on wk) */
int lmk_hub_take(lmk_hub *h, int64_t bound, int64_t upto, lmk_record *out, void **owner, int *more);
int lmk_hub_put_back(lmk_hub *h, const lmk_record *r);
int64_t lmk_hub_counts(lmk_hub *h, int64_t *inqueue);
static inline int lmk_hub_has_items(lmk_hub *h) { return __atomic_load_n(&h->wk.nlive, __ATOMIC_ACQUIRE) > 0; }
static inline int lmk_hub_go(lmk_hub *h) { return __atomic_load_n(&h->wk.go, __ATOMIC_ACQUIRE) != 0; }
static inline int64_t lmk_hub_go_due(lmk_hub *h) { return __atomic_load_n(&h->go_due, __ATOMIC_ACQUIRE); }
static inline int64_t lmk_hub_vnow(lmk_hub *h) { return __atomic_load_n(&h->vnow, __ATOMIC_ACQUIRE); }

#endif
