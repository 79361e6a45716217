/*
 * module.c: the Lua face of luamockit.
 *
 * Every function Lua calls lives here. Arguments are checked, and errors are
 * raised, only in C and only after the Go call of the moment has returned:
 * Go never has a frame on the stack when a Lua error unwinds. Callbacks run
 * here, in process_events, under lua_pcall on the caller's lua_State.
 *
 * Per-universe state (one per lua_newstate) is a full userdata kept in the
 * registry under LMK_STATE and passed to every function as upvalue 1.
 * Upvalue 2 (CBS) maps timer id -> callback, or -> {cb, nargs, args...}
 * when the timer has arguments; upvalue 3 (ANCHORS) maps timer id -> the
 * Lua thread that armed it, plus the string keys "errh" (the error
 * handler) and "traceback" (debug.traceback, for 5.1). An id with no CBS
 * entry is a destroyed timer: its queued events are skipped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h> /* isnan, isinf: macros, no libm */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

#include "lmk.h"
#include "_cgo_export.h"

#define LMK_VERSION "luamockit 0.1.0"
#define LMK_TIMER "luamockit.timer"
#define STATE lua_upvalueindex(1)
#define CBS lua_upvalueindex(2)
#define ANCHORS lua_upvalueindex(3)
#define TIMER_MT lua_upvalueindex(4)
#define NUPS 4

/* Largest accepted duration: 2^53 ns (about 104 days) is where doubles
 * stop being exact; a whole year is plenty and keeps ns in range. */
#define LMK_MAX_MS (366.0 * 24 * 3600 * 1000)
/* Shortest interval: 1 us. Shorter ones would only make the Go scheduler
 * spin (expirations are counted exactly either way). */
#define LMK_MIN_INTERVAL_MS 0.001
/* What an interval timer weighs for the collector's pace, in KiB. */
#define LMK_GC_DEBT_KB 1
/* Slots taken from Go per crossing in process_events. */
#define LMK_BATCH 256
/* wait() re-checks for a pending Lua signal hook at least this often (ms),
 * for the case where the signal was delivered to another thread. */
#define LMK_WAIT_SLICE 1000

enum { T_NEW = 0, T_LIVE, T_STOPPED, T_DESTROYED };

typedef struct lmk_timer {
    lua_Number id;
    double ms;
    int periodic;
    int state;
} lmk_timer;

static volatile int lmk_forked = 0;
static void on_fork_child(void) { lmk_forked = 1; }
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void install_fork_handler(void) { pthread_atfork(NULL, NULL, on_fork_child); }

/* ---- compat ---- */
#if LUA_VERSION_NUM < 502
void lmk_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
    luaL_checkstack(L, nup, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}

void *lmk_testudata(lua_State *L, int i, const char *tname) {
    void *p = lua_touserdata(L, i);
    if (p == NULL || !lua_getmetatable(L, i)) return NULL;
    luaL_getmetatable(L, tname);
    if (!lua_rawequal(L, -1, -2)) p = NULL;
    lua_pop(L, 2);
    return p;
}
#endif

/* Timer ids: integers kept as lua_Number (exact to 2^53), keys of CBS and
 * ANCHORS. Timers armed on the main thread (which never goes away) get
 * dense ids from 1 and no anchor, so releasing them costs one rawset; ids
 * from 2^52 up mark timers armed in a coroutine, whose thread is anchored
 * in ANCHORS. */
#if LUA_VERSION_NUM >= 503
#define rawgetid(L, t, id) ((void)lua_rawgeti(L, t, (lua_Integer)(id)))
#define rawsetid(L, t, id) lua_rawseti(L, t, (lua_Integer)(id))
#else
/* [-0, +1, -] push t[id] */
static void rawgetid(lua_State *L, int t, lua_Number id) {
    if (id <= 2147483647.0) {
        lua_rawgeti(L, t, (int)id);
    } else {
        lua_pushnumber(L, id);
        lua_rawget(L, t);
    }
}

/* [-1, +0, m] t[id] = top */
static void rawsetid(lua_State *L, int t, lua_Number id) {
    if (id <= 2147483647.0) {
        lua_rawseti(L, t, (int)id);
    } else {
        lua_pushnumber(L, id);
        lua_insert(L, -2);
        lua_rawset(L, t);
    }
}
#endif

/* Ids of timers armed in a coroutine start here (2^52); main-thread ids
 * count up from 1, densely, so that CBS keeps them in its array part. */
#define LMK_CORO_IDS 4503599627370496.0
static int anchored(lua_Number id) { return id > LMK_CORO_IDS; }

/* Drops id's callback from CBS (at stack index cbs, or the upvalue) and
 * its thread anchor, if any. */
static void release_id(lua_State *L, int cbs, lua_Number id) {
    lua_pushnil(L);
    rawsetid(L, cbs, id);
    if (anchored(id)) {
        lua_pushnil(L);
        rawsetid(L, ANCHORS, id);
    }
}

/* The raising helper: every runtime failure of the module goes through it. */
static int lmk_error(lua_State *L, const char *what) {
    return luaL_error(L, "luamockit: %s", what);
}

int64_t lmk_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the lease ----
 * While wait() sleeps with at most LMK_LEASE timers armed (and neither
 * fd() nor setport() in use), Go lends them all to this thread
 * (lmk_wait_begin, queue.Lend): the thread counts their expirations from
 * their absolute schedules and runs them in process_events with no call
 * into Go, so a loop of short interval timers, or of one-offs, wakes this
 * thread and nothing else, and a due timer's callback waits for no call
 * into Go (each call into a runtime gone idle costs a wake-up of Go's
 * monitor thread, 5-60 us on a virtual machine, more than the rest of such
 * a cycle). Timers armed while the lease is held join it at the next
 * wait() if they fit, "born" in it: Go learns of them only when the lease
 * goes back, with the expirations run so far (a one-off that ran is never
 * armed in Go at all), so a loop that re-arms a one-off in its callback
 * makes no call into Go either. Everything that asks Go about timers or
 * events hands the lease back first (flush_arms calls lease_return). */

/* The queue's time of lent timer e's next expiration (INT64_MAX: a
 * one-off already taken). */
static int64_t lent_due(const lmk_lent *e) {
    if (e->period == 0) return e->k == 0 ? e->start : INT64_MAX;
    return e->start + (e->k + 1) * e->period;
}

/* How many expirations of lent timer e are due at now and not taken. */
static int64_t lent_count(const lmk_lent *e, int64_t now) {
    if (now < lent_due(e)) return 0;
    return e->period == 0 ? 1 : (now - e->start) / e->period - e->k;
}

/* The queue's time of the earliest lent expiration not yet taken. */
static int64_t lease_due(const lmk_state *st) {
    int64_t due = INT64_MAX;
    int i;
    for (i = 0; i < st->nlent; i++) {
        int64_t d = lent_due(&st->lent[i]);
        if (d < due) due = d;
    }
    return due;
}

/* When this thread must next look, on CLOCK_MONOTONIC: the earliest lent
 * expiration (INT64_MAX: none left). */
static int64_t lease_next(const lmk_state *st) {
    int64_t due = lease_due(st);
    return due == INT64_MAX ? due : due + st->clock_off;
}

/* Removes lease entry i (the last one takes its place). */
static void lease_drop(lmk_state *st, int i) {
    int last = --st->nlent;
    st->lent[i] = st->lent[last];
    st->born[i] = st->born[last];
    st->born_req[i] = st->born_req[last];
}

/* Hands the lease back to Go with the expirations taken of each timer:
 * the born ones are armed (queue.ArmBatch with their counts), the others
 * reclaimed. Returns an LMK_* code (of arming the born ones). */
static int lease_return(lmk_state *st) {
    lmk_armreq reqs[LMK_LEASE];
    int i, n = 0, rc = LMK_OK;
    if (st->nlent == 0) return LMK_OK;
    for (i = 0; i < st->nlent; i++) {
        if (!st->born[i] || (st->lent[i].period == 0 && st->lent[i].k > 0)) continue;
        reqs[n] = st->born_req[i];
        reqs[n].k = st->lent[i].k;
        n++;
    }
    if (st->q != 0 && !lmk_forked) {
        if (n > 0) rc = lmk_arm_batch(st->q, reqs, n);
        lmk_reclaim(st->q, st->lent, st->nlent); /* skips the born: not lent */
    }
    st->nlent = 0;
    st->lease_gen++;
    return rc;
}

/* Drops timer id from the lease (it is being cancelled). Returns 1 if it
 * was born in the lease (Go does not know it), 0 if Go lent it, -1 if it
 * is not in the lease. */
static int lease_forget(lmk_state *st, lua_Number id) {
    int i, born;
    for (i = 0; i < st->nlent; i++) {
        if ((lua_Number)st->lent[i].id == id) {
            born = st->born[i];
            lease_drop(st, i);
            if (st->nlent == 0) st->lease_gen++;
            return born;
        }
    }
    return -1;
}

/* Takes the arm requests not yet handed to Go into the lease, born, if
 * they all fit; first drops the born one-offs that have run, unless a
 * process_events is under way (its batch may still untake them). Returns
 * 1 if no request is left. */
static int lease_adopt(lmk_state *st) {
    int i, want = 0;
    if (st->depth == 0) {
        for (i = 0; i < st->nlent;) {
            if (st->born[i] && st->lent[i].period == 0 && st->lent[i].k > 0) lease_drop(st, i);
            else i++;
        }
    }
    for (i = 0; i < st->narms; i++) want += st->arms[i].id != 0;
    if (st->nlent + want > LMK_LEASE) return 0;
    for (i = 0; i < st->narms; i++) {
        const lmk_armreq *r = &st->arms[i];
        lmk_lent *e = &st->lent[st->nlent];
        if (r->id == 0) continue;
        e->id = r->id;
        e->period = r->period;
        e->start = r->at + r->delay - r->period; /* a one-off: its due time */
        e->k = 0;
        st->born[st->nlent] = 1;
        st->born_req[st->nlent] = *r;
        st->nlent++;
    }
    st->narms = 0;
    return 1;
}

/* Undoes the taking of the lent slots s[0..n) that did not run. */
static void lease_untake(lmk_state *st, const lmk_slot *s, int n) {
    int i, j;
    for (i = 0; i < n; i++) {
        if (s[i].flags & LMK_FLAG_SKIP) continue;
        for (j = 0; j < st->nlent; j++) {
            if (st->lent[j].id == s[i].id) {
                st->lent[j].k--;
                break;
            }
        }
    }
}

/* Whether lent timer a's next expiration goes before b's in Go's order
 * (queue.expire: by due time, then by id). */
static int lent_before(const lmk_lent *a, const lmk_lent *b) {
    int64_t da = lent_due(a), db = lent_due(b);
    return da < db || (da == db && a->id < b->id);
}

/* Takes into buf the lent expirations due now, in the order Go would
 * queue them (by due time, then id; a timer's expirations together; a
 * one-off's with LMK_FLAG_LAST), at most limit (< 0: no limit). Returns
 * how many, or -1 after handing the lease back when they are not all
 * there is to run: Go has events (the eventfd is readable), or more are
 * due than one batch holds. */
static int take_lent(lmk_state *st, lmk_slot *buf, long limit) {
    int64_t now = lmk_mono_ns() - st->clock_off, total = 0, cnt[LMK_LEASE];
    int order[LMK_LEASE], m = 0, n = 0, i, j;
    struct pollfd pfd;
    pfd.fd = st->efd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) != 0) goto back;
    for (i = 0; i < st->nlent; i++) {
        lmk_lent *e = &st->lent[i];
        if ((cnt[i] = lent_count(e, now)) == 0) continue;
        total += cnt[i];
        for (j = m; j > 0 && lent_before(e, &st->lent[order[j - 1]]); j--) order[j] = order[j - 1];
        order[j] = i;
        m++;
    }
    if (total > LMK_BATCH && (limit < 0 || limit > LMK_BATCH)) goto back;
    for (i = 0; i < m; i++) {
        lmk_lent *e = &st->lent[order[i]];
        int64_t c = cnt[order[i]];
        for (; c > 0 && n < LMK_BATCH && (limit < 0 || n < limit); c--, n++) {
            memset(&buf[n], 0, sizeof buf[n]);
            buf[n].id = e->id;
            if (e->period == 0) buf[n].flags = LMK_FLAG_LAST;
            e->k++;
        }
    }
    return n;
back:
    (void)lease_return(st); /* arming the born fails only once the state is closed */
    return -1;
}

/* Arming collects requests in st->arms and hands them to Go in one
 * crossing per LMK_ARM_BATCH (arming is the hot path of code that arms
 * many timers). Each request carries the time it was made, on the queue's
 * clock, so every timer keeps its absolute schedule however late the batch
 * goes, the crossing and Go's lock included. Everything that
 * asks the queue about timers or events, or waits, flushes first, so the
 * batching shows only in the cost; once fd() or setport() hand time
 * keeping to Go, arms go at once (the Go timer must know them to wake the
 * other loop on time). Returns an LMK_* code. */
static int flush_arms(lmk_state *st) {
    int n = st->narms, rc = lease_return(st);
    if (n == 0) return rc;
    st->narms = 0;
    if (st->q == 0 || lmk_forked) return LMK_ECLOSED;
    n = lmk_arm_batch(st->q, st->arms, n);
    return rc != LMK_OK ? rc : n;
}

static const char *rc_message(int rc);

/* [-0, +0, e] flush_arms, raising if Go refused the batch. */
static void flush_arms_or_raise(lua_State *L, lmk_state *st) {
    int rc = flush_arms(st);
    if (rc != LMK_OK) lmk_error(L, rc_message(rc));
}

/* Withdraws id's request if it has not gone to Go yet; 1 if it had not. */
static int withdraw_arm(lmk_state *st, lua_Number id) {
    int i;
    for (i = st->narms - 1; i >= 0; i--) {
        if ((lua_Number)st->arms[i].id == id) {
            st->arms[i].id = 0;
            return 1;
        }
    }
    return 0;
}

static const char *rc_message(int rc) {
    switch (rc) {
    case LMK_ECLOSED: return "the Lua state's queue is closed";
    case LMK_EEXISTS: return "timer id already in use";
    case LMK_ENOTFOUND: return "no such timer";
    case LMK_EFIRED: return "the one-off timer has already fired";
    case LMK_ERANGE: return "duration out of range";
    case LMK_EPANIC: return "internal error (recovered Go panic)";
    }
    return "unknown error";
}

/* [-0, +0, e] the live state of this universe, or raise. */
static lmk_state *getstate(lua_State *L) {
    lmk_state *st = (lmk_state *)lua_touserdata(L, STATE);
    if (lmk_forked)
        lmk_error(L, "unusable in a forked child process (the Go runtime does not survive fork); "
                     "require luamockit in the child only after exec");
    if (st->q == 0) lmk_error(L, "the Lua state's queue is closed");
    return st;
}

/* [-0, +0, v] a duration in ms at arg: finite, >= 0 (> 0 unless zero_ok). */
static double checkms(lua_State *L, int arg, int zero_ok) {
    double ms = (double)luaL_checknumber(L, arg);
    if (isnan(ms) || isinf(ms)) luaL_argerror(L, arg, "milliseconds must be a finite number");
    if (ms < 0) luaL_argerror(L, arg, "milliseconds must not be negative");
    if (!zero_ok && ms == 0) luaL_argerror(L, arg, "interval must be greater than 0");
    if (!zero_ok && ms < LMK_MIN_INTERVAL_MS) luaL_argerror(L, arg, "interval must be at least 0.001 ms");
    if (ms > LMK_MAX_MS) luaL_argerror(L, arg, "milliseconds too large (at most one year)");
    return ms;
}

static lmk_timer *checktimer(lua_State *L) {
    return (lmk_timer *)luaL_checkudata(L, 1, LMK_TIMER);
}

/* ---- timers ---- */

/* [-(2+n), +1, e] oneoff(ms, cb, ...) / getit(ms, cb, ...) */
static int arm(lua_State *L, int periodic) {
    lmk_state *st = getstate(L);
    double ms = checkms(L, 1, !periodic);
    int nargs, i, rc, coro;
    lmk_timer *t;
    luaL_checktype(L, 2, LUA_TFUNCTION);
    nargs = lua_gettop(L) - 2;

    t = (lmk_timer *)lmk_newuserdata(L, sizeof *t);
    t->id = 0;
    t->ms = ms;
    t->periodic = periodic;
    t->state = T_NEW;
    lua_pushvalue(L, TIMER_MT);
    lua_setmetatable(L, -2);

    if (nargs == 0) {
        lua_pushvalue(L, 2);
    } else {
        lua_createtable(L, nargs + 2, 0);
        lua_pushvalue(L, 2);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, nargs);
        lua_rawseti(L, -2, 2);
        for (i = 1; i <= nargs; i++) {
            lua_pushvalue(L, 2 + i);
            lua_rawseti(L, -2, 2 + i);
        }
    }
    /* Main-thread ids count up from 1; coroutine ones (anchored) from 2^52. */
    coro = !lua_pushthread(L);
    t->id = coro ? LMK_CORO_IDS + ++st->next_coro_id : ++st->next_id;
    if (coro) {
        rawsetid(L, ANCHORS, t->id);
    } else {
        lua_pop(L, 1);
    }
    rawsetid(L, CBS, t->id);

    rc = st->narms == LMK_ARM_BATCH ? flush_arms(st) : LMK_OK;
    if (rc == LMK_OK) {
        int64_t ns = (int64_t)(ms * 1e6);
        lmk_armreq *r = &st->arms[st->narms++];
        r->id = (uint64_t)t->id;
        r->delay = ns;
        r->period = periodic ? ns : 0;
        r->at = lmk_mono_ns() - st->clock_off; /* the queue's clock */
        r->k = 0;
        if (!st->lua_clock) rc = flush_arms(st);
    }
    if (rc != LMK_OK) {
        release_id(L, CBS, t->id);
        t->state = T_DESTROYED;
        return lmk_error(L, rc_message(rc));
    }
    t->state = T_LIVE;
    st->live++;
#if LUA_VERSION_NUM >= 502
    /* An interval timer costs more than its small userdata: Go keeps it
     * and it fires until destroyed or collected. Count it as
     * LMK_GC_DEBT_KB of allocation, so that the collector finds dropped
     * ones at a pace that reflects their cost (5.2+ only add debt here;
     * 5.1's GCSTEP would collect at once). */
    if (periodic && lua_gc(L, LUA_GCISRUNNING, 0)) lua_gc(L, LUA_GCSTEP, LMK_GC_DEBT_KB);
#endif
    return 1;
}

static int l_oneoff(lua_State *L) { return arm(L, 0); }
static int l_getit(lua_State *L) { return arm(L, 1); }

/* Drops the slots of timer id that in-flight batches have not run yet. */
static void skip_timer(lmk_state *st, lua_Number id) {
    lmk_batch *b;
    int i;
    for (b = st->batches; b; b = b->prev)
        for (i = b->next; i < b->n; i++)
            if (!(b->buf[i].flags & LMK_FLAG_ITEM) && (lua_Number)b->buf[i].id == id)
                b->buf[i].flags |= LMK_FLAG_SKIP;
}

/* Stop t for good and release its callback; safe to call twice. */
static void destroy_timer(lua_State *L, lmk_timer *t) {
    lmk_state *st = (lmk_state *)lua_touserdata(L, STATE);
    int ran = 0;
    if (t->state == T_DESTROYED) return;
    if (t->state != T_NEW) {
        rawgetid(L, CBS, t->id); /* absent: a one-off that has fired and run */
        ran = lua_isnil(L, -1);
        if (!ran) st->live--;
        lua_pop(L, 1);
    }
    if (t->state != T_NEW && !withdraw_arm(st, t->id) && st->q != 0 && !lmk_forked) {
        /* Go forgot a one-off that ran when its slot was taken, unless it
         * is still lent: no call into Go for the handles of those. */
        int in_lease = lease_forget(st, t->id);
        if (in_lease == 0 || (in_lease < 0 && !ran)) lmk_cancel(st->q, (uint64_t)t->id);
    }
    skip_timer(st, t->id);
    t->state = T_DESTROYED;
    release_id(L, CBS, t->id);
}

/* [-(1|2), +1, e] t:destroy([wait]) -> nil; also t:cancel() and __close. */
static int t_destroy(lua_State *L) {
    lmk_timer *t = checktimer(L);
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TBOOLEAN);
    if (lmk_forked && t->state != T_DESTROYED) getstate(L);
    /* Cancel is synchronous under the queue lock, so with or without wait
     * no event of t can be queued or run once this returns. */
    destroy_timer(L, t);
    lua_pushnil(L);
    return 1;
}

#if LUA_VERSION_NUM >= 504
/* [-2, +0, -] __close (5.4): destroy, whatever error leaves the scope. */
static int t_close(lua_State *L) {
    destroy_timer(L, checktimer(L));
    return 0;
}
#endif

/* [-1, +0, -] __gc: an interval timer nobody holds is stopped and freed; so
 * is a stopped one-off (nobody can start it again). An armed one-off still
 * fires (old code drops the handle), and releases itself. */
static int t_gc(lua_State *L) {
    lmk_timer *t = (lmk_timer *)lua_touserdata(L, 1);
    if (t->periodic || t->state == T_NEW || t->state == T_STOPPED) destroy_timer(L, t);
    return 0;
}

static const char *timer_state(lua_State *L, lmk_timer *t) {
    lmk_state *st = (lmk_state *)lua_touserdata(L, STATE);
    if (t->state == T_DESTROYED || t->state == T_NEW) return "destroyed";
    if (t->state == T_STOPPED) return "stopped";
    if (st->q == 0 || lmk_forked) return "destroyed";
    flush_arms_or_raise(L, st);
    switch (lmk_state_of(st->q, (uint64_t)t->id)) {
    case LMK_ST_ARMED: return "armed";
    case LMK_ST_STOPPED: return "stopped";
    default: return "fired"; /* a one-off whose event is queued or has run */
    }
}

/* [-1, +1, e] t:state() -> "armed" | "stopped" | "fired" | "destroyed" */
static int t_state(lua_State *L) {
    lmk_timer *t = checktimer(L);
    lua_pushstring(L, timer_state(L, t));
    return 1;
}

/* [-1, +1, e] t:interval() -> ms (the delay, for a one-off) */
static int t_interval(lua_State *L) {
    lmk_timer *t = checktimer(L);
    lua_pushnumber(L, t->ms);
    return 1;
}

/* [-1, +1, e] t:stop() -> t: disarm and drop queued events; t:start() re-arms. */
static int t_stop(lua_State *L) {
    lmk_timer *t = checktimer(L);
    lmk_state *st = getstate(L);
    int rc;
    if (t->state == T_DESTROYED) return lmk_error(L, "timer is destroyed");
    if (t->state == T_STOPPED) { lua_settop(L, 1); return 1; }
    flush_arms_or_raise(L, st);
    rc = lmk_stop(st->q, (uint64_t)t->id);
    if (rc == LMK_ENOTFOUND && !t->periodic) rc = LMK_EFIRED;
    if (rc != LMK_OK) return lmk_error(L, rc_message(rc));
    skip_timer(st, t->id);
    t->state = T_STOPPED;
    lua_settop(L, 1);
    return 1;
}

/* [-1, +1, e] t:start() -> t: (re)arm from now; first expiration one interval away. */
static int t_start(lua_State *L) {
    lmk_timer *t = checktimer(L);
    lmk_state *st = getstate(L);
    int64_t at = lmk_mono_ns() - st->clock_off;
    int rc;
    if (t->state == T_DESTROYED) return lmk_error(L, "timer is destroyed");
    flush_arms_or_raise(L, st);
    rc = lmk_start(st->q, (uint64_t)t->id, at);
    if (rc == LMK_ENOTFOUND && !t->periodic) rc = LMK_EFIRED;
    if (rc != LMK_OK) return lmk_error(L, rc_message(rc));
    t->state = T_LIVE;
    lua_settop(L, 1);
    return 1;
}

/* [-1, +1, m] __tostring: "luamockit.timer: 0x... (interval 100 ms, armed)" */
static int t_tostring(lua_State *L) {
    lmk_timer *t = checktimer(L);
    char ms[32];
    snprintf(ms, sizeof ms, "%.15g", t->ms);
    lua_pushfstring(L, LMK_TIMER ": %p (%s %s ms, %s)", (void *)t,
                    t->periodic ? "interval" : "one-off", ms, timer_state(L, t));
    return 1;
}

/* ---- events ---- */

/* Message handler: the error with a traceback of where it was raised. */
static int msgh(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
#if LUA_VERSION_NUM >= 502
    luaL_traceback(L, L, msg, 1);
#else
    lua_getfield(L, ANCHORS, "traceback");
    if (lua_isfunction(L, -1)) {
        lua_pushstring(L, msg);
        lua_pushinteger(L, 2);
        lua_call(L, 2, 1);
    } else {
        lua_pushstring(L, msg);
    }
#endif
    return 1;
}

/* Return the slots after a failed callback to the queue, minus those of
 * timers destroyed and producers unregistered meanwhile, so the next
 * process_events runs them. */
static void put_back(lua_State *L, lmk_state *st, const lmk_batch *b, lmk_slot *s, int n) {
    int i, k = 0;
    if (b->lent && b->gen == st->lease_gen) { /* still lent: untake them */
        lease_untake(st, s, n);
        return;
    }
    for (i = 0; i < n; i++) {
        if (s[i].flags & LMK_FLAG_SKIP) continue;
        if (s[i].flags & LMK_FLAG_ITEM) {
            if (lmk_item_live(&s[i])) s[k++] = s[i];
            else lmk_drop_item(st, &s[i]);
            continue;
        }
        rawgetid(L, CBS, (lua_Number)s[i].id);
        if (!lua_isnil(L, -1)) s[k++] = s[i];
        lua_pop(L, 1);
    }
    if (k > 0 && st->q != 0) lmk_putback(st->q, s, k);
}

/* Runs one timer slot's callback (lua_call: run_slots is protected);
 * cbs is the stack index of CBS. Returns -1 if the timer is gone
 * (destroyed), else 0. */
static int run_timer(lua_State *L, lmk_state *st, const lmk_slot *s, int cbs) {
    lua_Number id = (lua_Number)s->id;
    int nargs = 0, t;
    rawgetid(L, cbs, id);
    t = lua_type(L, -1);
    if (t == LUA_TNIL) { lua_pop(L, 1); return -1; }
    if (t == LUA_TTABLE) { /* {cb, nargs, args...} */
        int j;
        t = lua_gettop(L);
        lua_rawgeti(L, t, 2);
        nargs = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        if (!lua_checkstack(L, nargs + 2)) {
            lua_pop(L, 1);
            lua_pushliteral(L, "luamockit: too many callback arguments");
            lua_error(L);
        }
        lua_rawgeti(L, t, 1);
        for (j = 3; j <= nargs + 2; j++) lua_rawgeti(L, t, j);
        lua_remove(L, t);
    }
    if (s->flags & LMK_FLAG_LAST) {
        release_id(L, cbs, id);
        st->live--;
    }
    lua_call(L, nargs, 0);
    return 0;
}

/* What dispatch hands run_slots. */
typedef struct runctx {
    lmk_state *st;
    lmk_batch *b;
    long ran;
} runctx;

/* [-2, +1, e] run_slots(ctx, msgh): runs the slots of ctx->b from b->next
 * on, in one protected call made by dispatch (one setjmp per batch, not
 * per callback). A timer callback's error unwinds to that call with
 * b->next already past its slot. A producer item runs under its own
 * pcall (its thread must learn the outcome); its error is returned, for
 * dispatch to handle like a callback's. Returns nil when the batch is
 * done. */
static int run_slots(lua_State *L) {
    runctx *c = (runctx *)lua_touserdata(L, 1);
    lmk_batch *b = c->b;
    lua_remove(L, 1); /* msgh at 1, for items */
    lua_pushvalue(L, CBS); /* at 2: a stack index is quicker than an upvalue */
    while (b->next < b->n) {
        lmk_slot *s = &b->buf[b->next++];
        if (s->flags & LMK_FLAG_SKIP) continue;
        if (s->flags & LMK_FLAG_ITEM) {
            int status = lmk_dispatch_item(L, c->st, s, 1);
            if (status < 0) continue;
            c->ran++;
            if (status != 0) return 1; /* the item's error, traceback included */
        } else {
            c->ran++; /* counted before the call: a callback that raises has run */
            if (run_timer(L, c->st, s, 2) < 0) c->ran--;
        }
    }
    lua_pushnil(L);
    return 1;
}

static void leave(lmk_state *st, lmk_batch *b) {
    st->batches = b->prev;
    if (--st->depth == 0 && st->producers) lmk_producers_sweep(st);
}

/* The error of a callback is on top: hand it to the error handler, or put
 * the slots of b not yet run back and raise it. Returns only if handled. */
static void on_error(lua_State *L, lmk_state *st, lmk_batch *b, int base) {
    lua_getfield(L, ANCHORS, "errh");
    if (!lua_isnil(L, -1)) {
        lua_insert(L, -2);
        if (lua_pcall(L, 1, 0, base) == 0) return;
    } else {
        lua_pop(L, 1);
    }
    put_back(L, st, b, b->buf + b->next, b->n - b->next);
    leave(st, b);
    lua_error(L);
}

/* [-0, +1, m] pushes f as a closure over the module's upvalues. */
static void push_module_closure(lua_State *L, lua_CFunction f) {
    int i;
    for (i = 1; i <= NUPS; i++) lua_pushvalue(L, lua_upvalueindex(i));
    lua_pushcclosure(L, f, NUPS);
}

/* Runs the events queued when called, at most limit (< 0: no limit), each
 * under lua_pcall on L; returns how many ran. Takes slots from Go in
 * batches: one crossing per LMK_BATCH events. */
static long dispatch(lua_State *L, lmk_state *st, long limit) {
    lmk_slot buf[LMK_BATCH];
    lmk_batch b;
    uint64_t end = 0; /* the drain's limit: events queued before the call */
    int base;
    runctx ctx;
    /* msgh and run_slots share the module's upvalues (CBS, ANCHORS, ...);
     * both closures are made once and cached: no allocation per call. */
    lua_getfield(L, ANCHORS, "msgh");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        push_module_closure(L, msgh); /* msgh needs ANCHORS for 5.1's traceback */
        lua_pushvalue(L, -1);
        lua_setfield(L, ANCHORS, "msgh");
        push_module_closure(L, run_slots);
        lua_setfield(L, ANCHORS, "run_slots");
    }
    base = lua_gettop(L);
    lua_getfield(L, ANCHORS, "run_slots");
    ctx.st = st;
    ctx.b = &b;
    ctx.ran = 0;
    b.buf = buf;
    b.next = b.n = 0;
    b.lent = 0;
    b.gen = 0;
    b.prev = st->batches;
    st->batches = &b;
    st->depth++;
    for (;;) {
        int cap = LMK_BATCH;
        if (limit >= 0 && limit < cap) cap = (int)limit;
        if (cap == 0 || st->q == 0) break;
        b.next = 0;
        b.lent = 0;
        if (st->nlent > 0 && st->narms == 0 && (b.n = take_lent(st, buf, limit)) >= 0) {
            b.lent = 1; /* all that was due; it is the only batch */
            b.gen = st->lease_gen;
        } else {
            if (st->narms > 0) { /* timers armed by the callbacks so far */
                int rc = flush_arms(st);
                if (rc != LMK_OK) {
                    leave(st, &b); /* b lives on this C stack: unlink it before raising */
                    lmk_error(L, rc_message(rc));
                }
            }
            b.n = lmk_take(st->q, buf, cap, &end);
        }
        if (b.n == 0) break;
        if (limit >= 0) limit -= b.n;
        while (b.next < b.n) {
            int status;
            lua_pushvalue(L, base + 1); /* run_slots */
            lua_pushlightuserdata(L, &ctx);
            lua_pushvalue(L, base);     /* msgh */
            status = lua_pcall(L, 2, 1, base);
            if (status == 0 && lua_isnil(L, -1)) {
                lua_pop(L, 1);
                break;
            }
            on_error(L, st, &b, base); /* the error is on top; returns if handled */
        }
        if (b.lent || b.n < cap) break; /* the drain reached its end: no crossing more */
    }
    leave(st, &b);
    lua_settop(L, base - 1);
    return ctx.ran;
}

/* [-(0|1), +1, e] process_events([max]) -> number of callbacks run.
 * Runs the events queued when it is called (at most max), each under
 * lua_pcall on this thread. On a callback error with no error handler, it
 * leaves the events not yet run in the queue and raises the error. */
static int l_process_events(lua_State *L) {
    lmk_state *st = getstate(L);
    long limit = -1;
    if (!lua_isnoneornil(L, 1)) {
        lua_Number m = luaL_checknumber(L, 1);
        if (!(m >= 1) || isinf(m)) luaL_argerror(L, 1, "max must be a positive number");
        limit = m > 1e15 ? (long)1e15 : (long)m;
    }
    lua_settop(L, 0);
    lua_pushinteger(L, (lua_Integer)dispatch(L, st, limit));
    return 1;
}

/* [-0, +2, e] poll() -> ran, left: runs the next queued event only;
 * ran is true if a callback ran, left the events still pending. */
static int l_poll(lua_State *L) {
    lmk_state *st = getstate(L);
    int64_t pending = 0, inq = 0;
    long ran;
    lua_settop(L, 0);
    ran = dispatch(L, st, 1);
    flush_arms_or_raise(L, st);
    lmk_counts(st->q, &pending, &inq);
    lua_pushboolean(L, ran > 0);
    lua_pushinteger(L, (lua_Integer)pending);
    return 2;
}

/* Another loop will wait on the fd (or the UDP port) instead of wait():
 * from now on a Go runtime timer queues expirations when they are due, so
 * that the fd turns readable on time without this thread's help. */
static void use_go_clock(lmk_state *st) {
    if (!st->lua_clock) return;
    st->lua_clock = 0;
    flush_arms(st); /* the Go timer keeps time for these too */
    lmk_set_consumer_clock(st->q, 0);
}

/* [-0, +1, e] fd() -> a file descriptor (eventfd; CLOEXEC, non-blocking)
 * readable exactly while events are pending: poll it from another event
 * loop, then call process_events(), which clears it. Do not close it. */
static int l_fd(lua_State *L) {
    lmk_state *st = getstate(L);
    use_go_clock(st);
    lua_pushinteger(L, st->efd);
    return 1;
}

/* [-1, +(1|2), e] setport(port) -> true | nil, message: one UDP datagram
 * to 127.0.0.1:port each time the queue goes from empty to non-empty;
 * 0 disables. */
static int l_setport(lua_State *L) {
    lmk_state *st = getstate(L);
    lua_Number n = luaL_checknumber(L, 1);
    int rc;
    if (!(n >= 0 && n <= 65535) || n != (lua_Number)(int)n)
        luaL_argerror(L, 1, "port must be an integer from 0 to 65535");
    if (n != 0) use_go_clock(st);
    rc = lmk_setport(st->q, (int)n);
    if (rc != LMK_OK) {
        lua_pushnil(L);
        lua_pushstring(L, rc == LMK_ESYS ? "cannot create the UDP socket" : rc_message(rc));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* [-0, +1, e] getport() -> the port set by setport (0: none) */
static int l_getport(lua_State *L) {
    lmk_state *st = getstate(L);
    lua_pushinteger(L, lmk_getport(st->q));
    return 1;
}

/* [-(0|1), +0, e] seterrorhandler(f|nil): f(err) gets each callback error
 * and processing goes on; nil restores raising from process_events. */
static int l_seterrorhandler(lua_State *L) {
    if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_setfield(L, ANCHORS, "errh");
    return 0;
}

/* [-0, +1, e] pending() -> events that will run a callback */
static int l_pending(lua_State *L) {
    lmk_state *st = getstate(L);
    int64_t pending = 0, inq = 0;
    flush_arms_or_raise(L, st);
    lmk_counts(st->q, &pending, &inq);
    lua_pushinteger(L, (lua_Integer)pending);
    return 1;
}

/* [-0, +1, e] inqueue() -> all queue entries, stale ones included */
static int l_inqueue(lua_State *L) {
    lmk_state *st = getstate(L);
    int64_t pending = 0, inq = 0;
    flush_arms_or_raise(L, st);
    lmk_counts(st->q, &pending, &inq);
    lua_pushinteger(L, (lua_Integer)inq);
    return 1;
}

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct hookmark { lua_Hook h; int mask, count; } hookmark;

static hookmark hook_of(lua_State *L) {
    hookmark m;
    m.h = lua_gethook(L);
    m.mask = lua_gethookmask(L);
    m.count = lua_gethookcount(L);
    return m;
}

static int hook_changed(lua_State *L, const hookmark *a) {
    hookmark b = hook_of(L);
    return a->h != b.h || a->mask != b.mask || a->count != b.count;
}

/* When wait() sleeps until a timer is due, it wakes a little early and
 * spends the rest polling the clock (and the eventfd): a sleeping thread
 * wakes 50-500 us late on a loaded or virtual machine (timer slack, the
 * scheduler, the hypervisor), a polling one within a few us. The lead is
 * 1/LMK_SPIN_DIV of the sleep, at most st->spin_ns (setspin(), default
 * LMK_SPIN_DEFAULT_NS), and none below LMK_SPIN_MIN_NS: a wait of 20 ms
 * spins at most 200 us (1 % of a core while it waits), waits for timers
 * under 2 ms do not spin at all, nor do waits with no timer armed. While
 * a spin window is ahead, the thread's timer slack is 1 ns (restored when
 * wait returns), so the sleep before it ends on time too. */
#define LMK_SPIN_DIV 100
#define LMK_SPIN_MIN_NS 20000
#define LMK_SPIN_DEFAULT_NS 250000

/* When to stop sleeping for a timer due at due, seen at now. */
static int64_t spin_from(const lmk_state *st, int64_t now, int64_t due) {
    int64_t lead;
    if (due == INT64_MAX || st->spin_ns <= 0) return due;
    lead = (due - now) / LMK_SPIN_DIV;
    if (lead > st->spin_ns) lead = st->spin_ns;
    return lead >= LMK_SPIN_MIN_NS ? due - lead : due;
}

/* Starts the Go side of a wait: Go queues what is due and, if it can,
 * lends this thread its interval timers (see the lease, above). Returns
 * when this thread must next look, on CLOCK_MONOTONIC (INT64_MAX: no
 * timer), and sets *gowait if Go is waiting for lmk_wait_fire/_end. */
static int64_t wait_begin(lmk_state *st, int *pending, int *gowait) {
    int n = 0;
    int64_t next = lmk_wait_begin(st->q, pending, st->lent, st->lua_clock ? LMK_LEASE : 0, &n);
    if (n > 0) {
        st->nlent = n;
        memset(st->born, 0, sizeof st->born); /* all Go's */
        st->lease_gen++;
        *gowait = 0;
        return lease_next(st);
    }
    *gowait = 1;
    return next >= 0 ? lmk_mono_ns() + next : INT64_MAX;
}

/* [-(0|1), +(1|2), e] wait([timeout_ms]) -> 0 | 1, message
 * Returns at once if events are pending, else blocks until one is, the
 * timeout passes (nil or 0: no timeout, as the original), or a signal
 * sets a Lua hook (lua.c's Ctrl-C handler does).
 * While it blocks, this thread keeps time for the timers: it sleeps in
 * ppoll() until the earliest is due and queues it itself, so no Go thread
 * wakes up and a timer's callback is ready with ppoll's precision (and
 * the spin's, above). With timers lent (the lease), it only counts: the
 * sleep and the wake-up make no call into Go at all. */
static int l_wait(lua_State *L) {
    lmk_state *st = getstate(L);
    double timeout = lua_isnoneornil(L, 1) ? 0 : checkms(L, 1, 1);
    int64_t deadline = timeout > 0 ? lmk_mono_ns() + (int64_t)(timeout * 1e6) : INT64_MAX;
    hookmark mine = hook_of(L), mainh = hook_of(st->main ? st->main : L);
    struct pollfd pfd;
    int pending = 0, failed = 0, err = 0, gowait = 0;
    int slack = -1; /* the thread's timer slack before we lowered it */
    int64_t due = INT64_MAX, spin;
    /* lease_adopt may empty the lease (born one-offs that ran, only
     * withdrawn requests): then nothing is lent and Go decides. */
    if (st->nlent > 0 && (st->narms == 0 || lease_adopt(st)) && st->nlent > 0) {
        due = lease_next(st); /* keep the lease: no Go call */
    } else {
        /* With timers alive, this thread keeps time while it waits; with
         * none, only deliveries can come, and they signal the eventfd: no
         * Go call. */
        flush_arms_or_raise(L, st);
        if (st->live > 0) due = wait_begin(st, &pending, &gowait);
    }
    spin = spin_from(st, lmk_mono_ns(), due);
    pfd.fd = st->efd;
    pfd.events = POLLIN;
    while (!pending) {
        int64_t now = lmk_mono_ns(), wake = deadline;
        struct timespec ts;
        int r;
        if (now >= due) { /* a timer is due */
            if (st->nlent > 0) {
                pending = 1; /* a lent one: process_events takes it */
                break;
            } else { /* queue it from this thread */
                int64_t next = lmk_wait_fire(st->q, &pending);
                due = next >= 0 ? now + next : INT64_MAX;
            }
            spin = spin_from(st, now, due);
            continue;
        }
        if (now >= deadline) break;
        if (spin < wake) wake = spin;
        if (now >= wake && wake == spin) {
            wake = now; /* in the spin window: look, do not sleep */
        } else if (spin < due && slack < 0) {
            slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
            if (slack > 1) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
        }
        if (wake - now > (int64_t)LMK_WAIT_SLICE * 1000000) wake = now + (int64_t)LMK_WAIT_SLICE * 1000000;
        ts.tv_sec = (time_t)((wake - now) / 1000000000);
        ts.tv_nsec = (long)((wake - now) % 1000000000);
        pfd.revents = 0;
        r = ppoll(&pfd, 1, &ts, NULL);
        if (r > 0) break;
        if (r < 0 && errno != EINTR) { failed = 1; err = errno; break; }
        if (hook_changed(L, &mine) || hook_changed(st->main ? st->main : L, &mainh)) break;
    }
    if (slack > 1) prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0, 0, 0);
    if (gowait) lmk_wait_end(st->q);
    if (failed) {
        lua_pushinteger(L, 1);
        lua_pushstring(L, strerror(err));
        return 2;
    }
    lua_pushinteger(L, 0);
    return 1;
}

/* [-1, +0, e] setspin(us): the longest a wait() may poll the clock before
 * a timer is due (see spin_from); 0 turns polling off. Default 250. */
static int l_setspin(lua_State *L) {
    lmk_state *st = getstate(L);
    lua_Number us = luaL_checknumber(L, 1);
    if (isnan(us) || us < 0 || us > 1e6) luaL_argerror(L, 1, "microseconds must be in 0..1000000");
    st->spin_ns = (int64_t)(us * 1000);
    return 0;
}

/* [-(1|2), +2, e] sleep(ms[, resume]) -> remaining_ms, errno
 * A signal cuts the sleep short (remaining > 0, EINTR) unless resume. */
static int l_sleep(lua_State *L) {
    double ms = checkms(L, 1, 1);
    int resume = 0;
    struct timespec req, rem;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TBOOLEAN);
        resume = lua_toboolean(L, 2);
    }
    req.tv_sec = (time_t)(ms / 1000);
    req.tv_nsec = (long)((ms - (double)req.tv_sec * 1000) * 1e6);
    if (req.tv_nsec >= 1000000000L) { req.tv_sec++; req.tv_nsec -= 1000000000L; }
    if (req.tv_nsec < 0) req.tv_nsec = 0;
    for (;;) {
        if (nanosleep(&req, &rem) == 0) {
            lua_pushinteger(L, 0);
            lua_pushinteger(L, 0);
            return 2;
        }
        if (errno != EINTR) {
            int e = errno;
            lua_pushnumber(L, ms);
            lua_pushinteger(L, e);
            return 2;
        }
        if (!resume) {
            lua_pushinteger(L, (lua_Integer)(rem.tv_sec * 1000 + (rem.tv_nsec + 999999) / 1000000));
            lua_pushinteger(L, EINTR);
            return 2;
        }
        req = rem;
    }
}

/* [-0, +2, -] time() -> seconds, ms since the last second | nil, errno */
static int l_time(lua_State *L) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        lua_pushnil(L);
        lua_pushinteger(L, errno);
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)ts.tv_sec);
    lua_pushinteger(L, (lua_Integer)(ts.tv_nsec / 1000000));
    return 2;
}

/* [-0, +1, -] mstimestamp() -> ms since the epoch (integer) */
static int l_mstimestamp(lua_State *L) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        lua_pushnil(L);
        return 1;
    }
#if LUA_VERSION_NUM >= 503
    lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
#else
    lua_pushnumber(L, (lua_Number)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
#endif
    return 1;
}

/* [-0, +1, -] monotime() -> ms on the monotonic clock (float) */
static int l_monotime(lua_State *L) {
    lua_pushnumber(L, mono_ms());
    return 1;
}

/* ---- universe ---- */

/* [-1, +0, -] __gc of the state: stop every timer and free the queue. */
static int s_gc(lua_State *L) {
    lmk_state *st = (lmk_state *)lua_touserdata(L, 1);
    st->narms = 0;
    st->nlent = 0;
    if (st->q != 0 && !lmk_forked) {
        lmk_close(st->q); /* cancels queued items, releases waiting threads */
        lmk_producers_close(st);
    }
    st->q = 0;
    if (st->efd >= 0) close(st->efd);
    st->efd = -1;
    return 0;
}

static const luaL_Reg funcs[] = {
    {"oneoff", l_oneoff},
    {"getit", l_getit},
    {"process_events", l_process_events},
    {"wait", l_wait},
    {"pending", l_pending},
    {"inqueue", l_inqueue},
    {"sleep", l_sleep},
    {"time", l_time},
    {"mstimestamp", l_mstimestamp},
    {"monotime", l_monotime},
    {"seterrorhandler", l_seterrorhandler},
    {"setspin", l_setspin},
    {"poll", l_poll},
    {"fd", l_fd},
    {"setport", l_setport},
    {"getport", l_getport},
    {NULL, NULL}
};

static const luaL_Reg timer_methods[] = {
    {"destroy", t_destroy},
    {"cancel", t_destroy},
    {"stop", t_stop},
    {"start", t_start},
    {"state", t_state},
    {"interval", t_interval},
    {NULL, NULL}
};

static const luaL_Reg timer_meta[] = {
    {"__gc", t_gc},
    {"__tostring", t_tostring},
#if LUA_VERSION_NUM >= 504
    {"__close", t_close},
#endif
    {NULL, NULL}
};

/* [-0, +3, e] push the state, CBS and ANCHORS of this universe, creating
 * them on first use. */
static void push_universe(lua_State *L) {
    lmk_state *st;
    lua_getfield(L, LUA_REGISTRYINDEX, LMK_STATE);
    if (lua_istable(L, -1)) {
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        lua_rawgeti(L, -3, 3);
        lua_remove(L, -4);
        return;
    }
    lua_pop(L, 1);

    lua_createtable(L, 3, 0); /* registry[LMK_STATE] = {state, cbs, anchors} */
    st = (lmk_state *)lmk_newuserdata(L, sizeof *st);
    st->q = 0;
    st->efd = -1;
    st->next_id = 0;
    st->next_coro_id = 0;
    st->main = NULL;
    st->depth = 0;
    st->live = 0;
    st->lua_clock = 0;
    st->producers = NULL;
    st->batches = NULL;
    st->narms = 0;
    st->nlent = 0;
    st->lease_gen = 0;
    st->spin_ns = LMK_SPIN_DEFAULT_NS;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, s_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_rawseti(L, -2, 1);
    lua_newtable(L);
    lua_rawseti(L, -2, 2);
    lua_newtable(L);
#if LUA_VERSION_NUM < 502
    lua_getglobal(L, "debug");
    if (lua_istable(L, -1)) lua_getfield(L, -1, "traceback");
    else lua_pushnil(L);
    lua_setfield(L, -3, "traceback");
    lua_pop(L, 1);
    if (lua_pushthread(L)) st->main = L;
    lua_pop(L, 1);
#else
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    st->main = lua_tothread(L, -1);
    lua_pop(L, 1);
#endif
    lua_rawseti(L, -2, 3);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LMK_STATE);

    st->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (st->efd < 0) lmk_error(L, strerror(errno));
    st->q = lmk_open(st->efd, &st->clock_off);
    if (st->q == 0) lmk_error(L, "cannot create the event queue");
    /* Until fd() or setport(): between two wait() calls the Lua thread
     * keeps time too (expirations are queued when it looks), so no Go
     * thread wakes up for the timers at all. */
    st->lua_clock = 1;
    lmk_set_consumer_clock(st->q, 1);

    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    lua_rawgeti(L, -3, 3);
    lua_remove(L, -4);
}

/* [-0, +1, e] require("luamockit") */
int luaopen_luamockit(lua_State *L) {
    pthread_once(&fork_once, install_fork_handler);
    if (lmk_forked)
        return lmk_error(L, "unusable in a forked child process (the Go runtime does not survive fork)");
    push_universe(L); /* state, cbs, anchors */
    lmk_publish_api(L);

    /* The timer metatable is the 4th upvalue: arming sets it without a
     * registry lookup. */
    if (luaL_newmetatable(L, LMK_TIMER)) {
        int i;
        lua_pushvalue(L, -1);                                  /* target */
        for (i = 0; i < NUPS; i++) lua_pushvalue(L, -NUPS - 1); /* upvalues */
        lmk_setfuncs(L, timer_meta, NUPS);
        lua_pop(L, 1);
        lua_createtable(L, 0, 6);
        for (i = 0; i < NUPS; i++) lua_pushvalue(L, -NUPS - 1);
        lmk_setfuncs(L, timer_methods, NUPS);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, LMK_TIMER);
        lua_setfield(L, -2, "__name");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    /* state, cbs, anchors, mt */
    lua_createtable(L, 0, 19);
    lua_insert(L, -(NUPS + 1));
    lmk_setfuncs(L, funcs, NUPS);
    lua_pushliteral(L, LMK_VERSION);
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
