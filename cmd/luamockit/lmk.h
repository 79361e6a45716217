/*
 * lmk.h: declarations shared by the C shim and the Go exports, and the
 * compat layer between the Lua 5.1 and 5.4 C APIs (as luasocket's compat.c).
 * Nothing here raises by itself; every Lua call that can raise lives in
 * module.c, and no Go frame is on the stack when one does.
 */
#ifndef LMK_H
#define LMK_H

#include <stdint.h>
#include <lua.h>
#include <lauxlib.h>

/* One callback invocation handed from the Go queue to C (queue.Slot). */
typedef struct lmk_slot {
    uint64_t id;      /* timer id; for a producer item, its waiter id */
    uint32_t flags;   /* LMK_FLAG_* */
    uint32_t pid;     /* producer id (items) */
    uintptr_t item;   /* the producer's item (items) */
    uintptr_t cookie; /* the luamockit_producer (items) */
} lmk_slot;

/* One timer to arm, handed from C to Go in batches (queue.ArmReq). */
typedef struct lmk_armreq {
    uint64_t id;      /* 0: withdrawn before the batch went */
    int64_t delay;    /* ns */
    int64_t period;   /* ns; 0 for a one-off */
    int64_t at;       /* the queue's clock when requested: CLOCK_MONOTONIC ns - clock_off */
    int64_t k;        /* expirations already run in C (a lease's born timer) */
} lmk_armreq;

/* A timer lent to the Lua thread by lmk_wait_begin (queue.Lent): an
 * interval timer's expiration k is due at start + k * period on the
 * queue's clock, a one-off's (period 0) only one at start; k counts those
 * taken so far. */
typedef struct lmk_lent {
    uint64_t id;
    int64_t start;
    int64_t period;
    int64_t k;
} lmk_lent;

/* Timers lent at most: Go lends only when every armed timer fits. */
#define LMK_LEASE 64

/* Arm requests wait in the state for one crossing per LMK_ARM_BATCH, or
 * until anything else needs the queue (see flush_arms in module.c). */
#define LMK_ARM_BATCH 256

#define LMK_FLAG_LAST 1u /* a one-off's only slot: release the timer after */
#define LMK_FLAG_ITEM 2u /* a producer's item */
#define LMK_FLAG_WAIT 4u /* a producer thread waits for lmk_item_done */
#define LMK_FLAG_SKIP 0x80000000u /* C only: dropped while its batch was in flight */

/* A batch of slots taken by one process_events call, on its C stack; the
 * universe keeps the in-flight ones (nested calls) in a list so that stop,
 * destroy and unregister can drop slots not yet run. */
typedef struct lmk_batch {
    lmk_slot *buf;
    int next;               /* index of the next slot to run */
    int n;
    int lent;               /* taken from the lease of generation gen, not from Go */
    unsigned gen;
    struct lmk_batch *prev;
} lmk_batch;

#include "luamockit_api.h"


#define LMK_STATE "luamockit.state"

/* What C keeps of one Lua universe: a full userdata in the registry
 * (registry[LMK_STATE][1]), upvalue 1 of every module function. Only the
 * thread running the universe touches it. */
typedef struct lmk_state {
    uint64_t q;          /* Go queue handle; 0 once closed */
    int efd;             /* eventfd: readable iff events are pending */
    int depth;           /* process_events calls on the C stack */
    long live;           /* timers armed and not yet gone (one-offs: until run) */
    int lua_clock;       /* the Lua thread keeps time between waits (until fd()/setport()) */
    lua_Number next_id;  /* last timer id handed out on the main thread */
    lua_Number next_coro_id; /* ... in coroutines (offset by 2^52) */
    lua_State *main;     /* main thread, to see lua.c's SIGINT hook */
    struct lmk_producer *producers; /* registered, and unregistered ones not yet freed */
    lmk_batch *batches;  /* in-flight batches, innermost first */
    int64_t spin_ns;     /* wait(): longest spin before a due timer (setspin) */
    int64_t clock_off;   /* CLOCK_MONOTONIC ns - the queue's clock (lmk_open) */
    int narms;           /* arm requests not yet handed to Go */
    int nlent;           /* timers in the lease (0: no lease) */
    unsigned lease_gen;  /* bumped whenever a lease begins or ends */
    lmk_lent lent[LMK_LEASE];
    unsigned char born[LMK_LEASE];  /* lent[i] was armed during the lease: Go does not know it */
    lmk_armreq born_req[LMK_LEASE]; /* ... and this is its arm request */
    lmk_armreq arms[LMK_ARM_BATCH];
} lmk_state;

/* module.c */
int64_t lmk_mono_ns(void); /* CLOCK_MONOTONIC in ns */

/* producer.c */
void lmk_publish_api(lua_State *L);
int lmk_dispatch_item(lua_State *L, lmk_state *st, const lmk_slot *s, int base);
int lmk_item_live(const lmk_slot *s);
void lmk_drop_item(lmk_state *st, const lmk_slot *s);
void lmk_skip_producer(lmk_state *st, const struct lmk_producer *p);
void lmk_producers_sweep(lmk_state *st);
void lmk_producers_close(lmk_state *st);


/* Return codes of the Go exports. */
enum {
    LMK_OK = 0,
    LMK_ECLOSED = 1,   /* the state's queue is closed */
    LMK_EEXISTS = 2,
    LMK_ENOTFOUND = 3,
    LMK_EFIRED = 4,    /* the one-off has already fired */
    LMK_ERANGE = 5,
    LMK_ESYS = 6,      /* a system call failed */
    LMK_EPANIC = 99    /* a Go panic, recovered at the boundary */
};

/* Timer states (queue.State*). */
enum { LMK_ST_NONE = 0, LMK_ST_ARMED = 1, LMK_ST_STOPPED = 2, LMK_ST_FIRED = 3 };

int luaopen_luamockit(lua_State *L);

/* producer.c: run a dropped item's cancel function (called from Go). */
void lmk_cancel_item(uintptr_t cookie, uintptr_t item);

/* Test host helpers (host.go): not part of the Lua API. */
void lmk_host_openlibs(lua_State *L);
void lmk_host_preload(lua_State *L);
const char *lmk_host_run(lua_State *L, const char *chunk);

/* ---- compat ---- */
#if LUA_VERSION_NUM < 502
#define lmk_rawlen(L, i) lua_objlen(L, i)
#define lmk_newuserdata(L, sz) lua_newuserdata(L, sz)
void lmk_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
void *lmk_testudata(lua_State *L, int i, const char *tname);
#else
#define lmk_rawlen(L, i) lua_rawlen(L, i)
#define lmk_setfuncs(L, l, nup) luaL_setfuncs(L, l, nup)
#define lmk_testudata(L, i, t) luaL_testudata(L, i, t)
#if LUA_VERSION_NUM >= 504
#define lmk_newuserdata(L, sz) lua_newuserdatauv(L, sz, 0)
#else
#define lmk_newuserdata(L, sz) lua_newuserdata(L, sz)
#endif
#endif

#endif
