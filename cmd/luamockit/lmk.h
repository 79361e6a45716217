/*
 * lmk.h: what the C files of the shim share: the universe and timer
 * structs, the structs that cross to Go (checked field by field in
 * exports.go), the status codes of the Go exports, the one enum of timer
 * states, and the functions one file offers the others. The Lua 5.1-5.4
 * differences live in compat.h.
 */
#ifndef LMK_H
#define LMK_H

#include <stdint.h>
#include <lua.h>
#include <lauxlib.h>

#include "port.h"
#include "compat.h"
#include "hub.h"
#include "luamockit_api.h"
#include "messages.h"

#define LMK_VERSION "luamockit 0.1.0"
#define LMK_TIMER "luamockit.timer"
#define LMK_SIGNAL "luamockit.signal"
#define LMK_STATE "luamockit.state"

/* ---- crossing to Go ---- */

/* Expirations taken from Go (queue.Expiration): count of them of the
 * timer Go names id, the first due at due (Go's clock until sched.c
 * converts it), tag the lmk_rec; seq is the timer's arming order in Go,
 * which orders expirations due at one instant. */
typedef struct lmk_exp {
    uint64_t id;
    uintptr_t tag;
    int64_t due;
    int64_t count;
    uint64_t seq;
} lmk_exp;

/* An arm the shim defers (sched.c): at, delay and period (ns; at on Go's
 * clock by the time it crosses), tag the lmk_rec; lmk_arm_many fills in
 * Go's id (0: not armed), the first due time (Go's clock) and how many
 * records it handed out with it. */
typedef struct lmk_armcmd {
    int64_t at, delay, period;
    uintptr_t tag;
    uint64_t drop; /* Go's id of the timer's earlier arming, destroyed first (again()), or 0 */
    uint64_t id;
    int64_t due;
    int n;
} lmk_armcmd;

/* How many arms the shim defers at most before it sends them (sched.c). */
#define LMK_DEFER_MAX 128

/* Return codes of the Go exports, which sched.c passes on (ESYS and
 * ENOMEM are C's own). Their messages: lmk_code_message(LMK_CODES_RC, rc),
 * guard.c, which says how they relate to the producer C API's LUAMOCKIT_*
 * codes (luamockit_api.h). */
enum {
    LMK_OK = 0,
    LMK_ECLOSED = 1, /* the state's queue is closed */
    LMK_EEXISTS = 2, /* Go already holds a timer with that id */
    LMK_ERANGE = 3,  /* not a schedule Go can hold */
    LMK_ESYS = 4,    /* a system call failed */
    LMK_ENOMEM = 5,  /* C ran out of memory (not from Go) */
    LMK_ENOTFOUND = 6, /* Go holds no armed timer of that id */
    LMK_EPANIC = 99  /* a Go panic, recovered at the boundary */
};

/* ---- timers ---- */

/* A timer's state, as t:state() names it (timer.c). */
enum lmk_tstate {
    LMK_T_ARMED = 0, /* scheduled (a one-off past its due time reports "due") */
    LMK_T_STOPPED,
    LMK_T_FIRED,     /* a one-off whose callback has been taken to run */
    LMK_T_DESTROYED
};

/* A record's flags (lmk_rec.flags). */
enum {
    LMK_F_UNREF = 1,  /* t:unref(): it does not keep a loop alive (mit.alive()) */
    LMK_F_ONCE = 2,   /* catch-up "once": one run per drain for what fell due (dispatch.c) */
    LMK_F_SIGNAL = 4, /* a signal handle's record (signal.c): ms holds the signal number */
    LMK_F_DEFER = 8   /* armed, its arm deferred: in st->defer, not yet in Go (sched.c) */
};

/* A timer's record, in the universe's slab (records.c). It holds no
 * schedule: Go's queue does (sched.c says what the record caches of it,
 * and who writes it). Its lifetime follows one rule, written out and
 * enforced in timer.c ("Records and handles"): refs counts what can reach
 * it (handles whose __gc has not run, a drain running its callback, and
 * the taken batch while it holds an entry of it); it is freed only when
 * refs is 0 and its timer is not armed. A free record's state is
 * LMK_T_DESTROYED and it is on the slab's free list; a destroyed record
 * that something still refers to has that state too, off the list. */
typedef struct lmk_rec {
    uint64_t id;      /* the Lua side's: CBS, ANCHORS and MISC_HANDLES key */
    union {
        uint64_t qid;     /* sched.c: Go's id of its timer while Go holds one; 0: none */
        struct lmk_rec *next_free; /* a free record's: the slab's free list (records.c) */
    };
    union {
        int64_t due;    /* a one-off's: sched.c: the cache (see there) */
        int64_t missed; /* an interval timer's (or signal's): the expirations its
                         * callback's last run stood for and did not run (catch-up
                         * "once": lmk_took_run) */
    };
    double ms;        /* the interval (one-off: the delay), as given */
    int32_t slot;     /* sched.c, took.c: its newest entry in the taken batch, or -1 */
    int32_t oldest;   /* took.c: while slot >= 0, none of its entries lies before this one */
    int32_t first;    /* took.c: scratch of lmk_took_join and lmk_took_compact */
    uint32_t refs;    /* handles and drains that reach it (timer.c) */
    uint8_t state;    /* enum lmk_tstate */
    uint8_t periodic;
    uint8_t coro;     /* ANCHORS holds the coroutine that armed it (while armed) */
    uint8_t flags;    /* LMK_F_* (timer.c) */
    uint32_t egen;    /* sched.c, took.c: the generation of its live batch entries; moves on at
                       * every drop, and at free (the slab keeps it: records.c) */
} lmk_rec;

/* The taken batch (sched.c's contract, took.c's entries): expirations
 * Go handed out and the Lua thread has not run, in (due, seq) order; room
 * for an entry per record, and LMK_TOOK_MIN at least, is reserved when
 * the slab grows (records.c). */
#define LMK_TOOK_MIN 1024 /* 8 timers of 1 ms handed out a whole window (128 ms) per take: 54 KB */
typedef struct lmk_took {
    lmk_exp *v;
    int64_t *bound;   /* each entry's: the bound (upto) of the drain that took it */
    uint8_t *last;    /* each entry's: it holds its one-off's expiration as armed (not only what start() kept) */
    uint32_t *egen;   /* each entry's: its record's egen when it was made (live while equal) */
    int cap, head, n; /* entries [head, n) are left */
    int dups;         /* took.c: at least the entries added for a record that had one
                       * already (none left: 0, and lmk_took_join has nothing to join) */
} lmk_took;

/* A timer handle (the userdata Lua holds). r is its record, counted in
 * r->refs, until the handle's __gc runs (or the state closes: its records
 * went with it). sms stays for interval() and tostring(): the interval (a
 * one-off's delay) as given, negated for an interval timer (its interval
 * is > 0, a one-off's delay >= 0: read it with lmk_h_ms, lmk_h_periodic).
 * Two words: with Lua's userdata header, 48 bytes (5.4) and 56 (5.1),
 * one 64-byte malloc chunk either way, where a third word took 80. A
 * signal handle (signal.c) is one too, with its own metatable: its signal
 * number is its "interval". */
typedef struct lmk_timer {
    lmk_rec *r;
    double sms;
} lmk_timer;

static inline void lmk_h_set(lmk_timer *h, double ms, int periodic) { h->sms = periodic ? -ms : ms; }
static inline double lmk_h_ms(const lmk_timer *h) { return h->sms < 0 ? -h->sms : h->sms; }
static inline int lmk_h_periodic(const lmk_timer *h) { return h->sms < 0; }

/* The records of a universe: chunks that never move, and a free list. */
typedef struct lmk_slab {
    lmk_rec **chunks;
    int nchunks, cap;
    lmk_rec *free;
} lmk_slab;

/* ---- a universe ---- */

/* Upvalues of every module function and method. */
#define STATE lua_upvalueindex(1)   /* the lmk_state userdata */
#define CBS lua_upvalueindex(2)     /* id -> callback, or {cb, nargs, args...} */
#define ANCHORS lua_upvalueindex(3) /* id -> the coroutine that armed it */
#define TIMER_MT lua_upvalueindex(4)
#define MISC lua_upvalueindex(5)    /* the MISC_* slots below */
#define NUPS 5

/* MISC's slots: integer keys, so reading or clearing them never allocates. */
enum {
    MISC_ERRH = 1,  /* the error handler, or false */
    MISC_TRACEBACK, /* debug.traceback (Lua 5.1) */
    MISC_MSGH,      /* the message handler of a drain */
    MISC_RUN,       /* the drain runner */
    MISC_ITEM,      /* the producer item runner */
    MISC_NOOP,      /* a function that does nothing (reserve_call) */
    MISC_HANDLER,   /* calls the error handler with the failing timer or producer */
    MISC_HANDLES,   /* id -> the timer's handle, a weak table */
    MISC_RUNNER,    /* setrunner's f: callbacks run as f(cb, ...), or false */
    MISC_SIGMT,     /* the signal handle metatable (signal.c) */
    MISC_N = MISC_SIGMT
};

/* With setrunner's f set, puts it below a callback and its nargs
 * arguments on top of the stack (one slot the caller has room for; an
 * existing MISC slot, so no allocation) and returns the new argument
 * count; else returns nargs. Timers (dispatch.c) and plain producer items
 * (producer.c) are called through it. */
#define lmk_runner_below(L, st, nargs) \
    ((st)->runner ? (lua_rawgeti((L), MISC, MISC_RUNNER), lua_insert((L), -((nargs) + 2)), (nargs) + 1) : (nargs))

/* Stack slots a drain keeps free before it takes an expiration or an item,
 * so that calling the callback cannot need to grow the stack (a Lua
 * function's frame has at most 255 registers). */
#define LMK_CALL_ROOM 280

/* Callback arguments a timer may carry: dispatch must be able to push them
 * all (Lua 5.1 allows about 8 000 values on a C function's stack). */
#define LMK_MAX_ARGS 1000

/* What C keeps of one Lua universe: a full userdata in the registry, upvalue
 * 1 of every module function. Only the thread running the universe
 * touches it. */
typedef struct lmk_state {
    uint64_t q;          /* Go queue handle; 0 once closed */
    lmk_hub *hub;        /* producer items, the wake-up fd (hub.c) */
    int depth;           /* process_events calls on the C stack */
    int runner;          /* MISC_RUNNER is set: a drain calls f(cb, ...) */
    lua_Number next_id;  /* last timer id handed out */
    uint32_t gc_owed;    /* timer.c: bytes of interval timers not yet told to the collector */
    lua_State *main;     /* main thread, to see lua.c's SIGINT hook */
    struct lmk_producer *producers; /* registered, and unregistered ones not yet freed */
    int64_t spin_ns;     /* wait(): longest spin before a due timer (setspin) */
    int64_t item_spin;   /* wait(): the window it looks for a flowing producer's next item */
    int64_t last_item;   /* when a drain last took an item (lmk_mono_ns) */
    int64_t clock_off;   /* lmk_mono_ns() - Go's queue clock */
    lmk_took took;       /* expirations taken from Go, not yet run (sched.c) */
    int active;          /* Go's clock goroutine publishes at due times (setport, portable fd()) */
    int efd, tfd;        /* fd()'s epoll descriptor and its timerfd, or -1 (sched.c) */
    int64_t tfd_at;      /* the wake time tfd was last armed for (watch.c) */
    int64_t tfd_fire;    /* when tfd expires: tfd_at, or up to a spin lead before it */
    int64_t ahead_go;    /* the go_due lmk_next_wake last took ahead for (sched.c) */
    lmk_slab recs;       /* every timer's record */
    /* stats() */
    uint64_t callbacks;  /* timer callbacks and producer items run */
    uint64_t items;      /* of which producer items */
    uint64_t errors;     /* callbacks that raised */
    uint64_t drains;     /* process_events and poll calls */
    int64_t late_last;   /* ns from the first due expiration of the last drain to its start */
    int64_t late_max;
    int64_t alive;       /* armed records without LMK_F_UNREF: mit.alive() (lmk_rec_state) */
    int idle_wake;       /* wakeonidle(true): fd() wakes when alive falls to 0 outside a drain */
    int virtual;         /* clock("virtual"): Go's queue runs on a virtual clock (sched.c) */
    int64_t wall_off;    /* while virtual: CLOCK_REALTIME minus C's clock at the switch (time()) */
    int ndefer;          /* arms deferred (sched.c): defer[0..ndefer) */
    lmk_armcmd defer[LMK_DEFER_MAX];
} lmk_state;

/* ---- what the files offer each other ---- */

/* guard.c */
int lmk_error(lua_State *L, const char *what);
/* The code spaces lmk_code_message maps: LMK_* (above), LUAMOCKIT_*. */
enum lmk_codes { LMK_CODES_RC, LMK_CODES_API };
const char *lmk_code_message(enum lmk_codes codes, int code);
lmk_state *lmk_getstate(lua_State *L);
extern volatile int lmk_forked;
void lmk_on_fork_child(void);

/* clock.c (lmk_mono_ns: port.c) */
extern const luaL_Reg lmk_clock_funcs[];

/* timer.c */
double lmk_checkms(lua_State *L, int arg, int zero_ok);
extern const luaL_Reg lmk_timer_funcs[], lmk_timer_methods[], lmk_timer_meta[];
void lmk_release_id(lua_State *L, lmk_rec *r, int cbs);
void lmk_release_thread(lua_State *L, lmk_rec *r);
void lmk_push_handle(lua_State *L, lmk_state *st, lmk_rec *r);
void lmk_rec_drop(lua_State *L, lmk_state *st, lmk_rec *r, int cbs);
void lmk_push_ms(lua_State *L, double ms);
void lmk_rec_state(lmk_state *st, lmk_rec *r, int state);
lmk_rec *lmk_handle_new(lua_State *L, lmk_state *st, double ms, int periodic, uint8_t flags);
void lmk_anchor_thread(lua_State *L, lmk_rec *r);
lmk_rec *lmk_held(lua_State *L, lmk_timer *h);
lmk_rec *lmk_rec_of(lua_State *L, lmk_timer *h);
/* the methods timer and signal handles share */
int lmk_h_destroy(lua_State *L);
int lmk_h_close(lua_State *L);
int lmk_h_gc(lua_State *L);
int lmk_h_stop(lua_State *L);
int lmk_h_ref(lua_State *L);
int lmk_h_unref(lua_State *L);
int lmk_h_has_ref(lua_State *L);

/* records.c */
lmk_rec *lmk_rec_new(lmk_state *st);
void lmk_recs_prepare(lmk_state *st);
void lmk_rec_free(lmk_state *st, lmk_rec *r);
void lmk_recs_free_all(lmk_state *st);
typedef void (*lmk_rec_visit)(lmk_rec *r, void *ctx);
void lmk_recs_each(lmk_state *st, lmk_rec_visit f, void *ctx);

/* The universe's "now" on C's clock: the monotonic clock, or while the
 * clock is virtual, the reading Go writes into the hub (sched.c). */
static inline int64_t lmk_now(lmk_state *st) {
    return st->virtual ? lmk_hub_vnow(st->hub) : lmk_mono_ns();
}

/* Whether the universe's Go queue is there to call: not closed, not a
 * forked child. */
static inline int lmk_go_ok(const lmk_state *st) { return st->q != 0 && !lmk_forked; }

/* watch.c: fd()'s kernel timer and the spin lead */
int64_t lmk_spin_from(const lmk_state *st, int64_t now, int64_t due);
void lmk_watch_arm(lmk_state *st, int64_t at);
void lmk_watch_settle(lmk_state *st, int64_t upto);
void lmk_watch_rearm(lmk_state *st);
void lmk_watch_drop(lmk_state *st);
void lmk_watch_ontime(lmk_state *st);
int lmk_watch_fd(lmk_state *st);
void lmk_watch_close(lmk_state *st);

/* sched.c: the crossing to Go's schedules */
int lmk_sched_arm(lmk_state *st, lmk_rec *r, int64_t at);
void lmk_sched_stop(lmk_state *st, lmk_rec *r);
void lmk_sched_destroy(lmk_state *st, lmk_rec *r);
int lmk_sched_start(lmk_state *st, lmk_rec *r, int reset, int64_t at, int drop);
void lmk_sched_take(lmk_state *st, int64_t upto);
int lmk_sched_due(const lmk_rec *r, int64_t now);
int64_t lmk_sched_remaining(lmk_state *st, lmk_rec *r, int64_t now);
int64_t lmk_next_due(lmk_state *st);
void lmk_sched_sync(lmk_state *st);
int64_t lmk_next_wake(lmk_state *st);
int64_t lmk_next_wake_quick(lmk_state *st);
/* How late an expiration may run so that it shares a wake-up with others
 * (sched.c, lmk_next_wake): 1% of its timer's interval, at least
 * LMK_COALESCE_NS, at most LMK_COALESCE_MAX_NS. */
#define LMK_COALESCE_NS 100000
#define LMK_COALESCE_MAX_NS 1000000
int64_t lmk_go_pending(lmk_state *st);
void lmk_sched_active(lmk_state *st);
int lmk_sched_clock(lmk_state *st, int virtual);
int lmk_sched_setnow(lmk_state *st, int64_t now);
int lmk_sched_signal_arm(lmk_state *st, lmk_rec *r);
int lmk_sched_signal_start(lmk_state *st, lmk_rec *r);

/* took.c: the taken batch's entries */
int lmk_took_reserve(lmk_state *st, int cap);
void lmk_took_free(lmk_state *st);
int lmk_took_live(const lmk_took *t, int i);
void lmk_took_add(lmk_took *t, int k, uint64_t id, int64_t count, uint8_t last);
void lmk_took_drop(lmk_state *st, lmk_rec *r);
void lmk_took_drop_after(lmk_state *st, lmk_rec *r, int64_t at);
void lmk_took_sort(lmk_took *t, int first);
void lmk_took_compact(lmk_took *t);
void lmk_took_join(lmk_took *t, int64_t upto);
int lmk_took_next(lmk_state *st);
lmk_rec *lmk_took_run(lmk_state *st, int i, int *fired);
int lmk_took_first_of(const lmk_took *t, const lmk_rec *r);
int64_t lmk_took_first(lmk_took *t);
int64_t lmk_took_due(lmk_state *st, int64_t now);

/* signal.c */
extern const luaL_Reg lmk_signal_funcs[];
void lmk_signal_init(lua_State *L, int first);

/* dispatch.c */
extern const luaL_Reg lmk_dispatch_funcs[];
void lmk_dispatch_init(lua_State *L, int first);
int64_t lmk_pending(lmk_state *st, int64_t *inqueue);

/* stats.c */
extern const luaL_Reg lmk_stats_funcs[];

/* wait.c */
extern const luaL_Reg lmk_wait_funcs[];

/* producer.c */
void lmk_publish_api(lua_State *L);
extern const lua_CFunction lmk_item_runner;
int lmk_run_item(lua_State *L, lmk_state *st, const lmk_record *r, void *owner, int msgh);
const char *lmk_producer_name(lmk_state *st, const lmk_record *r);
void lmk_producers_sweep(lmk_state *st);
void lmk_producers_close(lmk_state *st);

/* module.c */
void lmk_fill_metatable(lua_State *L, int first, const luaL_Reg *meta, const luaL_Reg *methods);

/* The one symbol of the shim the .so exports (main.go: hidden otherwise). */
#define LMK_EXPORT __attribute__((visibility("default")))
LMK_EXPORT int luaopen_luamockit(lua_State *L);

#endif
