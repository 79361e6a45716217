/*
 * hub_test.c: the hub (cmd/luamockit/hub.c, hubwake.c: producer items and the Lua
 * thread's wake-up) alone, with real threads, against exact bookkeeping.
 * Producer threads deliver plain items and deliver_wait items (no
 * timeout, 1 ms, 5 ms) through their producers' handles; the main thread
 * plays the Lua thread: it takes items (now and then with an earlier
 * bound), runs them or hands them back (as a drain that could not start
 * one does), stalls now and then (so that waits time out), answers waited-for items OK or ECALLBACK, unregisters
 * producers in the middle, sleeps on the fd (checking that no item
 * delivered before the sleep began was left unseen), and closes the hub
 * and opens it again (a reused hub: old handles must find nothing).
 *
 * Checked, per seed: every plain item that was accepted is run or
 * cancelled exactly once; every deliver_wait returns one status that
 * matches what the Lua side did (OK/ECALLBACK: answered with that status;
 * ETIMEDOUT, ECANCELLED, ECLOSED: never answered, and a timed-out item is
 * never taken); each thread's items are taken in the order it delivered
 * them (a handed-back item comes first again, unless its wait timed out
 * meanwhile); a stale handle gets
 * ECLOSED; nothing is left queued after close.
 *
 *   cc -O1 -g -fsanitize=thread -I<lua headers> -Icmd/luamockit \
 *      -o hub_test test/hub_test.c cmd/luamockit/hub.c cmd/luamockit/hubwake.c cmd/luamockit/port.c -lpthread
 *   ./hub_test [seeds [ops per thread]]
 *
 * Built with -DLMK_PORTABLE it tests the POSIX path (a pipe, condition
 * variables) instead of Linux's eventfd and futexes.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmk.h"

/* What hub.c takes from the rest of the module (besides port.c). */
volatile int lmk_forked = 0;

#define NT 4     /* producer threads */
#define NP 3     /* producers (thread i delivers through producer i % NP) */
#define MAXOPS 20000

typedef struct titem {
    int thread, seq, wait;
    uint32_t id;
} titem;

static int OPS = 3000;
static lmk_hub *H;
static uintptr_t handles[NP];
static int owners[NP + 1]; /* the owner pointers: &owners[p]; owners[NP]: a stand-in */
static int removed[NP];

/* per item id (thread * MAXOPS + seq) */
static unsigned char accepted[NT * MAXOPS]; /* plain item queued */
static unsigned char consumed[NT * MAXOPS];
static unsigned char cancelled[NT * MAXOPS];
static int answered[NT * MAXOPS];           /* 0, or 100 + the status the Lua side gave */
static int outcome[NT * MAXOPS];            /* deliver_wait's status + 100; 0: none */
static unsigned char taken_ever[NT * MAXOPS];
static int last_seq[NT];
static int running;
static unsigned long seed_now;
static int failures;
static unsigned long tally[8], putbacks, removes, sleeps, woken; /* tally: deliver_wait statuses */
static unsigned long withdrawn_back; /* handed back, then withdrawn by their timeout before the next take */

static uint64_t rng_main;
static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#define FAIL(...) do { \
    fprintf(stderr, "hub_test: seed %lu: ", seed_now); \
    fprintf(stderr, __VA_ARGS__); \
    fprintf(stderr, "\n"); \
    failures++; \
    exit(1); \
} while (0)

static void on_cancel(void *owner, void *item) {
    titem *it = (titem *)item;
    int p = (int)((int *)owner - owners);
    if (p < 0 || p >= NP) FAIL("cancel with a foreign owner");
    if (it->wait) FAIL("cancel called for a waited-for item %u", it->id);
    if (cancelled[it->id]++ || consumed[it->id]) FAIL("plain item %u cancelled after it ran or twice", it->id);
    free(it);
}

static void *producer_thread(void *arg) {
    int th = (int)(intptr_t)arg, seq;
    uint64_t s = (seed_now * 2654435761u) ^ (uint64_t)(th + 1) * 0x9e3779b97f4a7c15ull;
    uintptr_t h = handles[th % NP];
    for (seq = 1; seq <= OPS; seq++) {
        uint32_t id = (uint32_t)(th * MAXOPS + seq);
        int wait = rnd(&s) % 3 == 0;
        if (!wait) {
            titem *it = (titem *)malloc(sizeof *it);
            int st;
            it->thread = th;
            it->seq = seq;
            it->wait = 0;
            it->id = id;
            st = lmk_hub_deliver(h, it, -1);
            if (st == LUAMOCKIT_OK) {
                __atomic_store_n(&accepted[id], 1, __ATOMIC_RELEASE);
            } else {
                free(it);
                if (st != LUAMOCKIT_ECLOSED) FAIL("deliver returned %d", st);
                break;
            }
        } else {
            titem it;
            int tmo = (int[]){0, 1, 5}[rnd(&s) % 3];
            int st;
            it.thread = th;
            it.seq = seq;
            it.wait = 1;
            it.id = id;
            st = lmk_hub_deliver(h, &it, tmo);
            __atomic_store_n(&outcome[id], 100 + st, __ATOMIC_RELEASE);
            if (st == LUAMOCKIT_ECLOSED || st == LUAMOCKIT_ECANCELLED) break;
        }
        if (rnd(&s) % 64 == 0) sched_yield();
    }
    __atomic_sub_fetch(&running, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* The oldest live record's stamp (INT64_MAX: none). */
static int64_t oldest_stamp(void) {
    int64_t st = INT64_MAX;
    uint32_t i;
    pthread_mutex_lock(&H->wk.mu);
    for (i = 0; i < H->size; i++) {
        lmk_record *r = &H->ring[(H->head + i) & (H->cap - 1)];
        if (r->live) {
            st = r->stamp;
            break;
        }
    }
    pthread_mutex_unlock(&H->wk.mu);
    return st;
}

/* Runs one taken record as a drain would. */
static void run(const lmk_record *r, void *owner) {
    titem *it = (titem *)r->item;
    int p = (int)((int *)owner - owners);
    if (p != it->thread % NP) FAIL("item %u of producer %d came with producer %d's owner", it->id, it->thread % NP, p);
    if (removed[p]) FAIL("item %u of unregistered producer %d taken", it->id, p);
    if ((r->w != NULL) != it->wait) FAIL("item %u: waiter mismatch", it->id);
    if (it->seq <= last_seq[it->thread])
        FAIL("thread %d: item %d taken after item %d", it->thread, it->seq, last_seq[it->thread]);
    last_seq[it->thread] = it->seq;
    taken_ever[it->id] = 1;
    if (!it->wait) {
        if (consumed[it->id]++ || cancelled[it->id]) FAIL("plain item %u run twice or after cancel", it->id);
        free(it);
    } else {
        int status = rnd(&rng_main) % 4 == 0 ? LUAMOCKIT_ECALLBACK : LUAMOCKIT_OK;
        if (answered[it->id]) FAIL("item %u answered twice", it->id);
        answered[it->id] = 100 + status;
        lmk_wake_done(&H->wk, r->w, status);
    }
}

static void consume_one(void) {
    lmk_record r;
    void *owner;
    int more;
    int64_t now = lmk_mono_ns();
    int64_t bound = rnd(&rng_main) % 4 == 0 ? now - (int64_t)(rnd(&rng_main) % 200000) : now;
    if (!lmk_hub_take(H, bound, now, &r, &owner, &more)) return;
    if (r.stamp > bound) FAIL("took an item stamped after the bound");
    if (rnd(&rng_main) % 10 == 0) { /* could not start: hand it back, take it again */
        lmk_record again;
        void *o2;
        titem *it = (titem *)r.item;
        int was_wait = it->wait; /* a waited-for item may time out once handed back: then it is gone */
        uint32_t id = it->id;
        putbacks++;
        if (lmk_hub_put_back(H, &r)) { /* its producer went */
            if (!was_wait) on_cancel(owner, it);
            return;
        }
        if (!lmk_hub_take(H, INT64_MAX, INT64_MAX, &again, &o2, &more)) {
            if (!was_wait) FAIL("a handed-back item %u is gone", id);
            withdrawn_back++;
            return;
        }
        if (again.item != r.item) {
            if (!was_wait) FAIL("a handed-back item %u is not first again", id);
            withdrawn_back++;
        }
        r = again;
        owner = o2;
    }
    run(&r, owner);
}

/* Sleeps on the fd for up to 20 ms, as wait() does; an item delivered
 * before the sleep began must not be left unseen. */
static void sleep_once(void) {
    struct pollfd pfd;
    int64_t t0 = lmk_mono_ns();
    int r;
    if (!lmk_wake_sleep_begin(&H->wk)) return;
    pfd.fd = H->wk.fd;
    pfd.events = POLLIN;
    r = poll(&pfd, 1, 20);
    lmk_wake_sleep_end(&H->wk);
    sleeps++;
    if (r > 0) woken++;
    if (r == 0 && oldest_stamp() < t0) FAIL("lost wake-up: an item was queued before the sleep and fd stayed unset");
    lmk_wake_quiesce(&H->wk);
}

static void one_seed(void) {
    pthread_t tids[NT];
    int i, p;
    uintptr_t old[NP];
    memset(accepted, 0, sizeof accepted);
    memset(consumed, 0, sizeof consumed);
    memset(cancelled, 0, sizeof cancelled);
    memset(answered, 0, sizeof answered);
    memset(outcome, 0, sizeof outcome);
    memset(taken_ever, 0, sizeof taken_ever);
    memset(last_seq, 0, sizeof last_seq);
    memset(removed, 0, sizeof removed);
    rng_main = seed_now * 0x9e3779b97f4a7c15ull + 1;
    H = lmk_hub_open();
    if (H == NULL) FAIL("lmk_hub_open");
    for (p = 0; p < NP; p++)
        if (lmk_hub_add_producer(H, &owners[p], &handles[p]) != 0) FAIL("add_producer");
    running = NT;
    for (i = 0; i < NT; i++) pthread_create(&tids[i], NULL, producer_thread, (void *)(intptr_t)i);
    while (__atomic_load_n(&running, __ATOMIC_SEQ_CST) > 0 || lmk_hub_has_items(H)) {
        uint64_t x = rnd(&rng_main) % 1000;
        if (x == 0) { /* unregister one (not the last) */
            p = (int)(rnd(&rng_main) % NP);
            if (!removed[p] && p != 0) {
                if (lmk_hub_remove_producer(handles[p], on_cancel) != &owners[p]) FAIL("remove_producer owner");
                removed[p] = 1;
                removes++;
                if (lmk_hub_remove_producer(handles[p], on_cancel) != NULL) FAIL("second remove found a producer");
                { /* a new producer takes the slot: the old handle still finds nothing */
                    uintptr_t h2;
                    titem probe = {0, 0, 0, 0};
                    if (lmk_hub_add_producer(H, &owners[NP], &h2) != 0 || h2 == handles[p]) FAIL("slot reuse");
                    if (lmk_hub_deliver(handles[p], &probe, -1) != LUAMOCKIT_ECLOSED) FAIL("an unregistered handle delivered");
                    if (lmk_hub_remove_producer(h2, on_cancel) != &owners[NP]) FAIL("remove the stand-in");
                }
            }
        } else if (x < 40) {
            sleep_once();
        } else if (x < 43) { /* the Lua thread is busy elsewhere: waits time out */
            struct timespec ts = {0, 3000000};
            nanosleep(&ts, NULL);
        } else {
            consume_one();
        }
    }
    for (i = 0; i < NT; i++) pthread_join(tids[i], NULL);
    for (p = 0; p < NP; p++) old[p] = handles[p];
    lmk_hub_close(H, on_cancel);
    {
        lmk_hub *again = lmk_hub_open();
        titem probe = {0, 0, 0, 0};
        uintptr_t fresh;
        if (again != H) FAIL("the closed hub was not reused");
        for (p = 0; p < NP; p++)
            if (lmk_hub_deliver(old[p], &probe, -1) != LUAMOCKIT_ECLOSED) FAIL("a stale handle delivered");
        if (lmk_hub_add_producer(again, &owners[0], &fresh) != 0 || fresh == old[0]) FAIL("a reused slot kept its handle");
        if (lmk_hub_deliver(old[0], &probe, 0) != LUAMOCKIT_ECLOSED || lmk_hub_has_items(again))
            FAIL("a stale handle reached the reused hub");
        lmk_hub_close(again, on_cancel);
    }
    /* the books */
    for (i = 0; i < NT; i++) {
        int seq;
        for (seq = 1; seq <= OPS; seq++) {
            uint32_t id = (uint32_t)(i * MAXOPS + seq);
            if (accepted[id] && consumed[id] + cancelled[id] != 1)
                FAIL("plain item %u: run %d, cancelled %d", id, consumed[id], cancelled[id]);
            if (!accepted[id] && (consumed[id] || cancelled[id])) FAIL("item %u ran but was refused", id);
            if (outcome[id]) {
                int st = outcome[id] - 100;
                if (st >= 0 && st < 8) tally[st]++;
                if (st == LUAMOCKIT_OK || st == LUAMOCKIT_ECALLBACK) {
                    if (answered[id] != outcome[id]) FAIL("item %u: returned %d, answered %d", id, st, answered[id] - 100);
                } else if (st == LUAMOCKIT_ETIMEDOUT || st == LUAMOCKIT_ECANCELLED || st == LUAMOCKIT_ECLOSED) {
                    if (answered[id]) FAIL("item %u: returned %d but was answered", id, st);
                    if (st == LUAMOCKIT_ETIMEDOUT && taken_ever[id]) FAIL("item %u timed out after it was taken", id);
                } else {
                    FAIL("item %u: status %d", id, st);
                }
            } else if (answered[id]) {
                FAIL("item %u answered, but its thread did not return", id);
            }
        }
    }
}

int main(int argc, char **argv) {
    unsigned long seeds = argc > 1 ? strtoul(argv[1], NULL, 10) : 20;
    unsigned long s;
    if (argc > 2) OPS = atoi(argv[2]);
    if (OPS < 1 || OPS >= MAXOPS) OPS = 3000;
    for (s = 1; s <= seeds; s++) {
        seed_now = s;
        one_seed();
    }
    printf("hub_test (%s): %lu seeds x %d threads x %d deliveries: exact\n"
           "  deliver_wait: %lu OK, %lu ECALLBACK, %lu ETIMEDOUT, %lu ECANCELLED, %lu ECLOSED; "
           "%lu handed back (%lu of them timed out before the next take), %lu unregistered, %lu sleeps (%lu woken by fd)\n",
#ifdef LMK_PORT_LINUX
           "futex, eventfd",
#else
           "portable: condition variables, a pipe",
#endif
           seeds, NT, OPS, tally[LUAMOCKIT_OK], tally[LUAMOCKIT_ECALLBACK], tally[LUAMOCKIT_ETIMEDOUT],
           tally[LUAMOCKIT_ECANCELLED], tally[LUAMOCKIT_ECLOSED], putbacks, withdrawn_back, removes, sleeps, woken);
    return failures != 0;
}
