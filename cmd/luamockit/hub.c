/*
 * hub.c: where producer items live.
 *
 * A hub is the part of a Lua universe that other threads reach: a ring of
 * the items producers delivered (FIFO; each stamped with the moment it was
 * queued, on the engine's clock, so a drain merges them with the timers'
 * expirations in order), the producers' slots, and the wake-up of the Lua
 * thread (an eventfd, or a pipe, readable while something is pending, and
 * a datagram for setport()). One mutex guards it; producer threads take it
 * for a delivery and nothing else, so a delivery is a few hundred ns of C
 * and never enters Go: Go holds only timers (internal/queue).
 *
 * Ownership: an item is the ring's from its delivery until the Lua thread
 * takes it (lmk_hub_take, one at a time, right before its callback is set
 * up); then the drain's, which runs it, or gives it back to the head of the
 * ring if it could not start (lmk_hub_put_back). A thread in deliver_wait
 * sleeps on a word of its own stack (a futex on Linux; the hub's condition
 * variable elsewhere) and is answered exactly once: by the drain
 * (lmk_wake_done), by unregister or close (LUAMOCKIT_ECANCELLED), or by its
 * own timeout while its item is still queued (LUAMOCKIT_ETIMEDOUT; a taken
 * item is waited for).
 *
 * Hubs are never freed: a closed universe's hub goes to a free list and a
 * later universe reuses it. A producer handle is (hub index, slot, the
 * slot's sequence number) packed in the pointer, so a thread delivering
 * through a handle whose producer went, or whose universe closed, finds a
 * live hub and a stale sequence number (LUAMOCKIT_ECLOSED), never freed
 * memory.
 *
 * How threads are woken (the Lua thread's fd, the waiting producers) is
 * hubwake.c's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lmk.h"

/* A handle: the hub's index, the producer's slot, the slot's sequence. */
#if UINTPTR_MAX > 0xffffffffu
#define SLOT_BITS 14
#define SEQ_BITS 30
#else
#define SLOT_BITS 6
#define SEQ_BITS 14
#endif
#define INDEX_BITS (sizeof(uintptr_t) * 8 - SLOT_BITS - SEQ_BITS)
#define SEQ_MASK (((uintptr_t)1 << SEQ_BITS) - 1)
#define SLOT_MAX ((uint32_t)1 << SLOT_BITS)

static uintptr_t make_handle(uint32_t index, uint32_t slot, uint32_t seq) {
    return ((uintptr_t)index << (SLOT_BITS + SEQ_BITS)) | ((uintptr_t)slot << SEQ_BITS) | (seq & SEQ_MASK);
}

/* ---- the registry of hubs: chunks that never move, a free list ---- */

#define CHUNK 1024
#define NCHUNKS 1024
static lmk_hub **chunks[NCHUNKS];
static uint32_t nhubs; /* indices 1..nhubs are taken */
static lmk_hub *free_hubs;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

static lmk_hub *hub_at(uintptr_t index) {
    lmk_hub **c;
    if (index == 0 || index >= (uintptr_t)CHUNK * NCHUNKS) return NULL;
    c = __atomic_load_n(&chunks[index / CHUNK], __ATOMIC_ACQUIRE);
    return c ? __atomic_load_n(&c[index % CHUNK], __ATOMIC_ACQUIRE) : NULL;
}

static lmk_hub *hub_new(void) {
    lmk_hub *h;
    uint32_t index = nhubs + 1;
    if (index >= (uint32_t)CHUNK * NCHUNKS || ((uintptr_t)index >> INDEX_BITS) != 0) return NULL;
    if (chunks[index / CHUNK] == NULL) {
        lmk_hub **c = (lmk_hub **)calloc(CHUNK, sizeof *c);
        if (c == NULL) return NULL;
        __atomic_store_n(&chunks[index / CHUNK], c, __ATOMIC_RELEASE);
    }
    h = (lmk_hub *)calloc(1, sizeof *h);
    if (h == NULL) return NULL;
    h->ring = (lmk_record *)calloc(64, sizeof *h->ring);
    if (h->ring == NULL) {
        free(h);
        return NULL;
    }
    h->cap = 64;
    {
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
        /* a short critical section: spin a little before sleeping */
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
        pthread_mutex_init(&h->wk.mu, &a);
        pthread_mutexattr_destroy(&a);
    }
#ifndef LMK_PORT_LINUX
    pthread_cond_init(&h->wk.done, NULL);
#endif
    h->index = index;
    h->wk.fd = h->wk.wfd = h->wk.udp = -1;
    nhubs = index;
    __atomic_store_n(&chunks[index / CHUNK][index % CHUNK], h, __ATOMIC_RELEASE);
    return h;
}

/* ---- opening and closing ---- */

/* A hub for a new universe (a reused one if any), with its fd; NULL if out
 * of memory or descriptors. */
lmk_hub *lmk_hub_open(void) {
    lmk_hub *h;
    pthread_mutex_lock(&reg_mu);
    h = free_hubs;
    if (h != NULL) free_hubs = h->next_free;
    else h = hub_new();
    pthread_mutex_unlock(&reg_mu);
    if (h == NULL) return NULL;
    pthread_mutex_lock(&h->wk.mu);
    if (lmk_wake_fd_open(&h->wk) != 0) {
        pthread_mutex_unlock(&h->wk.mu);
        pthread_mutex_lock(&reg_mu);
        h->next_free = free_hubs;
        free_hubs = h;
        pthread_mutex_unlock(&reg_mu);
        return NULL;
    }
    h->wk.open = 1;
    h->head = h->size = 0;
    __atomic_store_n(&h->wk.nlive, 0, __ATOMIC_SEQ_CST);
    h->nslots = 0;
    __atomic_store_n(&h->wk.set, 0, __ATOMIC_RELAXED);
    h->wk.sleeping = h->wk.watched = h->wk.go = h->wk.held = 0;
    __atomic_store_n(&h->go_due, INT64_MAX, __ATOMIC_RELEASE);
    h->wk.port = 0;
    pthread_mutex_unlock(&h->wk.mu);
    return h;
}

static lmk_record *at(lmk_hub *h, uint32_t pos) { return &h->ring[pos & (h->cap - 1)]; }

/* Drops the withdrawn records at the head. h->wk.mu held. */
static void trim_locked(lmk_hub *h) {
    while (h->size > 0 && !at(h, h->head)->live) {
        h->head++;
        h->size--;
    }
}

/* Cancels every record of slot (every slot if slot == UINT32_MAX): waiting
 * threads get ECANCELLED, plain items go to *out (n of them) for the
 * caller to cancel outside the lock. h->wk.mu held. */
static void drop_locked(lmk_hub *h, uint32_t slot, lmk_record *out, size_t *n) {
    uint32_t i;
    for (i = 0; i < h->size; i++) {
        lmk_record *r = at(h, h->head + i);
        if (!r->live || (slot != UINT32_MAX && r->slot != slot)) continue;
        r->live = 0;
        __atomic_sub_fetch(&h->wk.nlive, 1, __ATOMIC_SEQ_CST);
        if (r->w != NULL) lmk_wake_answer(&h->wk, r->w, LUAMOCKIT_ECANCELLED);
        else out[(*n)++] = *r;
    }
    trim_locked(h);
}

/* Plain records of slot (or all) in the ring. h->wk.mu held. */
static size_t count_plain_locked(lmk_hub *h, uint32_t slot) {
    size_t n = 0;
    uint32_t i;
    for (i = 0; i < h->size; i++) {
        lmk_record *r = at(h, h->head + i);
        if (r->live && r->w == NULL && (slot == UINT32_MAX || r->slot == slot)) n++;
    }
    return n;
}

/* Cancels slot's records (every slot's if slot == UINT32_MAX; see
 * drop_locked), calling cancel for each plain item outside the lock (under
 * it if no memory is left for the list). The slots' owners stay valid
 * meanwhile: only the Lua thread, the caller, changes them. */
static void drop(lmk_hub *h, uint32_t slot, void (*cancel)(void *owner, void *item)) {
    lmk_record *list = NULL;
    size_t n = 0, cap, i;
    pthread_mutex_lock(&h->wk.mu);
    cap = count_plain_locked(h, slot);
    if (cap > 0 && (list = (lmk_record *)malloc(cap * sizeof *list)) == NULL) {
        for (i = 0; i < h->size; i++) {
            lmk_record *r = at(h, h->head + i);
            if (r->live && r->w == NULL && (slot == UINT32_MAX || r->slot == slot)) {
                r->live = 0;
                __atomic_sub_fetch(&h->wk.nlive, 1, __ATOMIC_SEQ_CST);
                cancel(h->slots[r->slot].owner, r->item);
            }
        }
    }
    drop_locked(h, slot, list, &n);
    pthread_mutex_unlock(&h->wk.mu);
    for (i = 0; i < n; i++) cancel(h->slots[list[i].slot].owner, list[i].item);
    free(list);
}

/* The universe closes (its Lua thread): no delivery is taken from now on,
 * queued items are cancelled, waiting threads answered, handles go stale,
 * the hub goes to the free list. */
void lmk_hub_close(lmk_hub *h, void (*cancel)(void *owner, void *item)) {
    uint32_t i;
    pthread_mutex_lock(&h->wk.mu);
    h->wk.open = 0;
    pthread_mutex_unlock(&h->wk.mu);
    drop(h, UINT32_MAX, cancel);
    pthread_mutex_lock(&h->wk.mu);
    for (i = 0; i < h->nslots; i++) {
        if (h->slots[i].live) h->slots[i].seq++;
        h->slots[i].live = 0;
        h->slots[i].owner = NULL;
    }
    h->head = h->size = 0;
    __atomic_store_n(&h->wk.nlive, 0, __ATOMIC_SEQ_CST);
    if (h->wk.udp >= 0) close(h->wk.udp);
    h->wk.udp = -1;
    lmk_wake_fd_close(&h->wk);
    __atomic_store_n(&h->wk.set, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->wk.mu);
    pthread_mutex_lock(&reg_mu);
    h->next_free = free_hubs;
    free_hubs = h;
    pthread_mutex_unlock(&reg_mu);
}

/* ---- producers ---- */

int lmk_hub_add_producer(lmk_hub *h, void *owner, uintptr_t *handle) {
    uint32_t i;
    pthread_mutex_lock(&h->wk.mu);
    for (i = 0; i < h->nslots && h->slots[i].live; i++) {}
    if (i == h->nslots) {
        if (i >= SLOT_MAX) goto fail;
        if (i == h->slots_cap) {
            uint32_t cap = h->slots_cap ? 2 * h->slots_cap : 8;
            lmk_pslot *s = (lmk_pslot *)realloc(h->slots, cap * sizeof *s);
            if (s == NULL) goto fail;
            memset(s + h->slots_cap, 0, (cap - h->slots_cap) * sizeof *s);
            h->slots = s;
            h->slots_cap = cap;
        }
        h->nslots++;
    }
    h->slots[i].live = 1;
    h->slots[i].owner = owner;
    *handle = make_handle(h->index, i, h->slots[i].seq);
    pthread_mutex_unlock(&h->wk.mu);
    return 0;
fail:
    pthread_mutex_unlock(&h->wk.mu);
    return -1;
}

/* Finds a handle's hub and slot; h->wk.mu is then held. NULL: stale. */
static lmk_hub *lock_handle(uintptr_t handle, uint32_t *slot) {
    lmk_hub *h = hub_at(handle >> (SLOT_BITS + SEQ_BITS));
    uint32_t s = (uint32_t)(handle >> SEQ_BITS) & (SLOT_MAX - 1);
    if (h == NULL) return NULL;
    pthread_mutex_lock(&h->wk.mu);
    if (!h->wk.open || s >= h->nslots || !h->slots[s].live || (h->slots[s].seq & SEQ_MASK) != (handle & SEQ_MASK)) {
        pthread_mutex_unlock(&h->wk.mu);
        return NULL;
    }
    *slot = s;
    return h;
}

/* unregister (the Lua thread): the slot goes stale (no delivery through
 * it is taken from now on), then its queued items are cancelled. Returns
 * the producer's owner, or NULL if the handle was stale already. */
void *lmk_hub_remove_producer(uintptr_t handle, void (*cancel)(void *owner, void *item)) {
    uint32_t slot;
    void *owner;
    lmk_hub *h = lock_handle(handle, &slot);
    if (h == NULL) return NULL;
    owner = h->slots[slot].owner;
    h->slots[slot].seq++;
    h->slots[slot].live = 0;
    pthread_mutex_unlock(&h->wk.mu);
    drop(h, slot, cancel); /* cancel still sees the slot's owner */
    pthread_mutex_lock(&h->wk.mu);
    h->slots[slot].owner = NULL;
    pthread_mutex_unlock(&h->wk.mu);
    return owner;
}

void *lmk_hub_owner(lmk_hub *h, uint32_t slot) { return h->slots[slot].owner; }

/* Doubles the ring when it is full. h->wk.mu held. */
static int grow_locked(lmk_hub *h) {
    lmk_record *nr;
    uint32_t i, cap = h->cap * 2;
    if (h->size < h->cap) return 0;
    if (cap == 0) return -1;
    nr = (lmk_record *)malloc(cap * sizeof *nr);
    if (nr == NULL) return -1;
    for (i = 0; i < h->size; i++) nr[(h->head + i) & (cap - 1)] = *at(h, h->head + i);
    free(h->ring);
    h->ring = nr;
    h->cap = cap;
    return 0;
}

/* Queues a record at the tail (front: at the head). h->wk.mu held. */
static lmk_record *push_locked(lmk_hub *h, int front) {
    lmk_record *r;
    if (grow_locked(h) != 0) return NULL;
    if (front) r = at(h, --h->head);
    else r = at(h, h->head + h->size);
    h->size++;
    return r;
}

static int lmk_hub_withdraw(lmk_hub *h, lmk_waiter *w);

/* deliver (timeout_ms < 0) and deliver_wait: any thread. */
int lmk_hub_deliver(uintptr_t handle, void *item, int timeout_ms) {
    lmk_waiter w;
    lmk_record *r;
    uint32_t slot;
    lmk_hub *h;
    int64_t now;
    if (lmk_forked) return LUAMOCKIT_ECLOSED;
    now = lmk_mono_ns(); /* read before the lock, which it would lengthen */
    h = lock_handle(handle, &slot);
    if (h == NULL) return LUAMOCKIT_ECLOSED;
    r = push_locked(h, 0);
    if (r == NULL) {
        pthread_mutex_unlock(&h->wk.mu);
        return LUAMOCKIT_ENOMEM;
    }
    /* stamps never go back along the ring: a thread that read the clock
     * first may get the lock second */
    if (now < h->last_stamp) now = h->last_stamp;
    h->last_stamp = now;
    r->item = item;
    r->stamp = now;
    r->slot = slot;
    r->live = 1;
    if (timeout_ms >= 0) {
        w.word = LMK_W_WAITING;
        w.status = LUAMOCKIT_OK;
        w.taken = 0;
        r->w = &w;
    } else {
        r->w = NULL;
    }
    __atomic_add_fetch(&h->wk.nlive, 1, __ATOMIC_SEQ_CST);
    lmk_wake_locked(&h->wk);
    pthread_mutex_unlock(&h->wk.mu);
    if (timeout_ms < 0) return LUAMOCKIT_OK;
    if (!lmk_wake_wait_answer(&h->wk, &w, timeout_ms) && !lmk_hub_withdraw(h, &w))
        (void)lmk_wake_wait_answer(&h->wk, &w, 0); /* taken meanwhile: its answer comes */
    return w.status;
}

/* Withdraws w's record if the Lua thread has not taken it (a timeout).
 * Returns whether it did. */
static int lmk_hub_withdraw(lmk_hub *h, lmk_waiter *w) {
    int done = 0;
    uint32_t i;
    pthread_mutex_lock(&h->wk.mu);
    if (!w->taken && __atomic_load_n(&w->word, __ATOMIC_SEQ_CST) != LMK_W_DONE) {
        for (i = 0; i < h->size; i++) {
            lmk_record *r = at(h, h->head + i);
            if (r->w == w && r->live) {
                r->live = 0;
                __atomic_sub_fetch(&h->wk.nlive, 1, __ATOMIC_SEQ_CST);
                trim_locked(h);
                if (h->wk.set && !lmk_wake_pending_locked(&h->wk)) lmk_wake_fd_clear_locked(&h->wk); /* it was the only thing pending */
                w->status = LUAMOCKIT_ETIMEDOUT;
                __atomic_store_n(&w->word, LMK_W_DONE, __ATOMIC_SEQ_CST);
                done = 1;
                break;
            }
        }
    }
    pthread_mutex_unlock(&h->wk.mu);
    return done;
}

/* ---- the Lua thread's side ---- */

/* Takes the oldest item if it was delivered at or before bound: 1 with
 * *out filled and *owner its producer's owner, else 0; *more: an item
 * delivered by upto is left. */
int lmk_hub_take(lmk_hub *h, int64_t bound, int64_t upto, lmk_record *out, void **owner, int *more) {
    int took = 0;
    lmk_record *r;
    pthread_mutex_lock(&h->wk.mu);
    trim_locked(h);
    if (h->size > 0 && (r = at(h, h->head))->stamp <= bound) {
        *out = *r;
        *owner = h->slots[r->slot].owner;
        r->live = 0;
        if (r->w) r->w->taken = 1;
        h->head++;
        h->size--;
        __atomic_sub_fetch(&h->wk.nlive, 1, __ATOMIC_RELAXED);
        trim_locked(h);
        took = 1;
    }
    *more = h->size > 0 && at(h, h->head)->stamp <= upto;
    pthread_mutex_unlock(&h->wk.mu);
    return took;
}

/* Gives a taken item that could not start back to the head of the ring.
 * Returns 1 if its producer went meanwhile instead (a waiting thread is
 * then answered ECANCELLED; a plain item is the caller's to cancel). */
int lmk_hub_put_back(lmk_hub *h, const lmk_record *taken) {
    lmk_record *r;
    pthread_mutex_lock(&h->wk.mu);
    if (!h->wk.open || !h->slots[taken->slot].live || (r = push_locked(h, 1)) == NULL) {
        if (taken->w) lmk_wake_answer(&h->wk, taken->w, LUAMOCKIT_ECANCELLED);
        pthread_mutex_unlock(&h->wk.mu);
        return 1;
    }
    *r = *taken;
    r->live = 1;
    if (r->w) r->w->taken = 0;
    __atomic_add_fetch(&h->wk.nlive, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&h->wk.mu);
    return 0;
}

/* Items pending (live); *inqueue: records in the ring, withdrawn ones
 * included. */
int64_t lmk_hub_counts(lmk_hub *h, int64_t *inqueue) {
    int64_t live;
    pthread_mutex_lock(&h->wk.mu);
    live = __atomic_load_n(&h->wk.nlive, __ATOMIC_RELAXED);
    if (inqueue) *inqueue = h->size;
    pthread_mutex_unlock(&h->wk.mu);
    return live;
}
