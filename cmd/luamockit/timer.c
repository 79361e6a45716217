/*
 * timer.c: arming timers and the methods of a timer handle, with their
 * argument checks. A handle (lmk_timer) refers to its timer's record
 * (lmk_rec, records.c); the schedule is Go's, and every change to it
 * goes through sched.c (lmk_sched_arm, _stop, _start, _destroy).
 *
 * Records and handles: the one rule.
 *
 * A record is freed only when nothing can reach it: r->refs counts every
 * handle whose h->r is r (from the moment it is made until its __gc runs)
 * and every drain running r's callback (dispatch.c holds r from the take
 * until the error handler, if any, is done with it). The taken batch
 * holds no count: its entries of r are live only while r is armed (a
 * stop, destroy or start kills them at once, sched.c), and a dead entry
 * reads nothing of r but its generation, which the slab keeps (records.c).
 * Only lmk_rec_drop
 * lowers refs, and only it frees; when refs reaches 0 it settles r by its
 * state: an armed timer lives on (armed means alive: the registry keeps its
 * callback, mit.timers() can make a handle again), a stopped or fired one
 * is destroyed, a destroyed one is freed.
 *
 * The rule holds whatever order the collector clears weak tables and runs
 * finalizers in (5.1 and LuaJIT clear weak values of userdata before their
 * __gc runs, so does 5.2+ for resurrected ones): the weak table of handles
 * (MISC_HANDLES) is only a cache for finding a handle again, never a
 * count. When it no longer knows a handle whose __gc is still pending,
 * lmk_push_handle makes a second one, counted; the first one's __gc then
 * only drops its own count. A handle whose __gc has run (resurrected by
 * another finalizer) no longer refers to its record and reads as
 * destroyed.
 */
#include <math.h> /* isnan, isinf: macros, no libm */
#include <stdio.h>
#include <string.h>

#include "lmk.h"

/* Largest accepted duration: 366 days (a year, leap or not), in range of
 * the int64 ns the schedules count in. */
#define LMK_MAX_MS (366.0 * 24 * 3600 * 1000)
/* Shortest interval: 1 us. Shorter ones would only keep the Lua thread
 * busy (expirations are counted exactly either way). */
#define LMK_MIN_INTERVAL_MS 0.001
/* What an interval timer weighs beyond its handle, in bytes, for the
 * collector's pace (5.2+): its record and Go's schedule, which Lua's
 * allocator does not see. It fires until destroyed, and a dropped stopped
 * one keeps them until its handle is collected. Told to the collector a
 * KiB at a time (lua_gc's unit): a KiB per timer, as before, made each
 * getit run as much collector work as two arms, and a burst of them
 * spread out (timers armed together then woke apart). */
#define LMK_GC_INTERVAL_BYTES 128

/* [-0, +0, v] a duration in ms at arg: finite, >= 0 (> 0 unless zero_ok). */
double lmk_checkms(lua_State *L, int arg, int zero_ok) {
    double ms = (double)luaL_checknumber(L, arg);
    if (isnan(ms) || isinf(ms)) luaL_argerror(L, arg, LMK_ARG_MS_FINITE);
    if (ms < 0) luaL_argerror(L, arg, LMK_ARG_MS_NEGATIVE);
    if (!zero_ok && ms == 0) luaL_argerror(L, arg, LMK_ARG_INTERVAL_ZERO);
    if (!zero_ok && ms < LMK_MIN_INTERVAL_MS) luaL_argerror(L, arg, LMK_ARG_INTERVAL_MIN);
    if (ms > LMK_MAX_MS) luaL_argerror(L, arg, LMK_ARG_MS_MAX);
    return ms;
}

/* [-0, +0, -] what argument 1 is: 1 a timer handle, 2 a signal handle
 * (looked for only with sig_ok), 0 neither. Its metatable is compared with
 * the ones the module holds, not looked up by name in the registry as
 * luaL_checkudata does (a string lookup per method call: a co task's sleep
 * calls two methods). */
static int handle_kind(lua_State *L, int sig_ok) {
    int kind = 0;
    if (lua_touserdata(L, 1) != NULL && lua_getmetatable(L, 1)) {
        if (lua_rawequal(L, -1, TIMER_MT)) {
            kind = 1;
        } else if (sig_ok) {
            lua_rawgeti(L, MISC, MISC_SIGMT);
            if (lua_rawequal(L, -1, -2)) kind = 2;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    return kind;
}

/* [-0, +0, v] the timer handle at argument 1. */
static lmk_timer *checktimer(lua_State *L) {
    if (handle_kind(L, 0) != 1) luaL_checkudata(L, 1, LMK_TIMER); /* raises the usual error */
    return (lmk_timer *)lua_touserdata(L, 1);
}

/* [-0, +0, v] the timer or signal handle at argument 1 (the methods both
 * kinds share); *sig: it is a signal handle. */
static lmk_timer *checkhandle(lua_State *L, int *sig) {
    int kind = handle_kind(L, 1);
    if (kind == 0) luaL_checkudata(L, 1, LMK_TIMER); /* raises the usual error */
    *sig = kind == 2;
    return (lmk_timer *)lua_touserdata(L, 1);
}

/* The error of a method called on a destroyed handle of that kind. */
static int destroyed(lua_State *L, int sig) {
    return lmk_error(L, sig ? LMK_MSG_SIG_DESTROYED : LMK_MSG_DESTROYED);
}

/* Releases what the registry holds for r: its callback and the coroutine
 * that armed it; cbs: CBS's index (the upvalue, or a copy on the stack).
 * Both keys exist, and clearing a key that exists never allocates.
 * [-0, +0, -] */
void lmk_release_id(lua_State *L, lmk_rec *r, int cbs) {
    lua_pushnil(L);
    lmk_rawsetid(L, cbs, r->id);
    lmk_release_thread(L, r);
}

/* The coroutine that armed (or restarted) r is anchored while r is armed:
 * released when a one-off has run or the timer stops, so that a handle the
 * coroutine's stack still holds can be collected. [-0, +0, -] */
void lmk_release_thread(lua_State *L, lmk_rec *r) {
    if (!r->coro) return;
    lua_pushnil(L);
    lmk_rawsetid(L, ANCHORS, r->id);
    r->coro = 0;
}

/* Anchors the running thread for r if it is a coroutine (in place of
 * the one anchored before, if any); on the main thread, releases that
 * one. [-0, +0, m] */
void lmk_anchor_thread(lua_State *L, lmk_rec *r) {
    if (!lua_pushthread(L)) {
        lmk_rawsetid(L, ANCHORS, r->id);
        r->coro = 1;
    } else {
        lua_pop(L, 1);
        lmk_release_thread(L, r);
    }
}

/* [-0, +1, -] pushes ms: an integer when whole (Lua 5.3+ prints 1000, not
 * 1000.0). */
void lmk_push_ms(lua_State *L, double ms) {
#if LUA_VERSION_NUM >= 503
    if (ms == (double)(lua_Integer)ms) {
        lua_pushinteger(L, (lua_Integer)ms);
        return;
    }
#endif
    lua_pushnumber(L, ms);
}

/* Sets r's state, keeping st->alive (armed records that keep a loop
 * alive: mit.alive()) in step. Every change of an armed record's state
 * goes through here. With wakeonidle(true) (an adapter that lets its loop
 * end), a count that falls to 0 outside a drain (a destroy or unref from
 * a thread of the other loop) makes the hub's fd readable until the next
 * drain, so that the adapter, asleep on it, wakes and sees it (a drain
 * looks after it anyway). */
static void count_alive(lmk_state *st, int64_t d) {
    st->alive += d;
    if (st->alive == 0 && d < 0 && st->idle_wake && st->depth == 0 && st->hub != NULL) lmk_wake_hold(&st->hub->wk, 1);
}

void lmk_rec_state(lmk_state *st, lmk_rec *r, int state) {
    int was = r->state == LMK_T_ARMED, is = state == LMK_T_ARMED;
    r->state = (uint8_t)state;
    if (was != is && !(r->flags & LMK_F_UNREF)) count_alive(st, is ? 1 : -1);
}

/* [-0, +1, m] pushes r's handle (a signal handle for a signal record,
 * signal.c): the one Lua holds (the weak table
 * MISC[MISC_HANDLES] knows it), or a new one, counted in r->refs (an armed
 * timer whose handles were collected; one whose old handle the collector
 * has cleared from the weak table but not finalized yet; a destroyed one
 * that a drain holds). Nothing can raise after the userdata exists. */
void lmk_push_handle(lua_State *L, lmk_state *st, lmk_rec *r) {
    lmk_timer *h;
    (void)st;
    lua_rawgeti(L, MISC, MISC_HANDLES);
    lmk_rawgetid(L, -1, r->id);
    if (!lua_isnil(L, -1)) {
        lua_remove(L, -2);
        return;
    }
    lua_pop(L, 1);
    h = (lmk_timer *)lmk_newuserdata(L, sizeof *h);
    memset(h, 0, sizeof *h);
    lmk_h_set(h, r->ms, r->periodic);
    if (r->flags & LMK_F_SIGNAL) lua_rawgeti(L, MISC, MISC_SIGMT); /* a signal handle (signal.c) */
    else lua_pushvalue(L, TIMER_MT);
    lua_setmetatable(L, -2);
    h->r = r; /* counted from here: its __gc drops it */
    r->refs++;
    if (r->state != LMK_T_DESTROYED) {
        lua_pushvalue(L, -1);
        lmk_rawsetid(L, -3, r->id); /* may raise: h already counts */
    }
    lua_remove(L, -2);
}

/* Lowers r's count (a handle or a drain lets go of it), and settles r when
 * nothing refers to it any more: armed, it lives on; stopped or fired, it
 * is destroyed (Go forgets it, what the registry holds for it is
 * released; cbs: CBS's index); destroyed, it is freed. The only place a record is freed while
 * its state lives. [-0, +0, -] */
void lmk_rec_drop(lua_State *L, lmk_state *st, lmk_rec *r, int cbs) {
    if (--r->refs > 0 || r->state == LMK_T_ARMED) return;
    if (r->state != LMK_T_DESTROYED) {
        lmk_sched_destroy(st, r);
        lmk_release_id(L, r, cbs);
    }
    lmk_rec_free(st, r);
}

/* The record handle h refers to (live or destroyed), or NULL: h's __gc
 * has run, or the state closed (its records went with it). */
lmk_rec *lmk_held(lua_State *L, lmk_timer *h) {
    lmk_state *st = (lmk_state *)lua_touserdata(L, STATE);
    if (h->r != NULL && (st->q == 0 || lmk_forked)) h->r = NULL;
    return h->r;
}

/* The live record of handle h, or NULL (destroyed, or the state closed). */
lmk_rec *lmk_rec_of(lua_State *L, lmk_timer *h) {
    lmk_rec *r = lmk_held(L, h);
    return r != NULL && r->state != LMK_T_DESTROYED ? r : NULL;
}

/* [-0, +1, e] makes the handle and record of a new timer (flags: a
 * signal handle's, LMK_F_SIGNAL; ms its signal number) whose callback is
 * at stack index 2 and its nargs arguments after it (checked): its
 * registry entries, the running coroutine anchored. The record is stopped
 * until the caller arms it (lmk_rec_state), or raises: then it is
 * collected with the handle. Returns it, the handle on top. */
lmk_rec *lmk_handle_new(lua_State *L, lmk_state *st, double ms, int periodic, uint8_t flags) {
    int nargs = lua_gettop(L) - 2, i, ud;
    lmk_timer *h;
    lmk_rec *r;
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (nargs > LMK_MAX_ARGS) luaL_argerror(L, 3 + LMK_MAX_ARGS, LMK_ARG_NARGS);

    h = (lmk_timer *)lmk_newuserdata(L, sizeof *h);
    memset(h, 0, sizeof *h);
    lmk_h_set(h, ms, periodic);
    if (flags & LMK_F_SIGNAL) lua_rawgeti(L, MISC, MISC_SIGMT);
    else lua_pushvalue(L, TIMER_MT);
    lua_setmetatable(L, -2);
    ud = lua_gettop(L);
    if ((r = lmk_rec_new(st)) == NULL) lmk_error(L, lmk_code_message(LMK_CODES_RC, LMK_ENOMEM));
    r->ms = ms;
    r->periodic = (uint8_t)periodic;
    r->flags = flags;
    r->state = LMK_T_STOPPED; /* until it is armed */
    r->id = (uint64_t)++st->next_id;
    h->r = r;
    r->refs = 1;

    if (nargs == 0) {
        lua_pushvalue(L, 2);
    } else {
        lua_createtable(L, nargs + 2, 0); /* {cb, nargs, args...} */
        lua_pushvalue(L, 2);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, nargs);
        lua_rawseti(L, -2, 2);
        for (i = 1; i <= nargs; i++) {
            lua_pushvalue(L, 2 + i);
            lua_rawseti(L, -2, 2 + i);
        }
    }
    lmk_rawsetid(L, CBS, r->id);
    lmk_anchor_thread(L, r);
    lua_rawgeti(L, MISC, MISC_HANDLES); /* handles[id] = h (weak) */
    lua_pushvalue(L, ud);
    lmk_rawsetid(L, -2, r->id);
    lua_settop(L, ud);
    return r;
}

/* [-(2+n), +1, e] oneoff(ms, cb, ...) / getit(ms, cb, ...) */
static int arm(lua_State *L, int periodic) {
    lmk_state *st = lmk_getstate(L);
    int64_t at = lmk_now(st); /* the schedule starts at the call */
    double ms = lmk_checkms(L, 1, !periodic);
    lmk_rec *r = lmk_handle_new(L, st, ms, periodic, 0);
    int rc = lmk_sched_arm(st, r, at);
    if (rc != LMK_OK) { /* stopped: collected with the handle */
        lmk_release_thread(L, r);
        return lmk_error(L, lmk_code_message(LMK_CODES_RC, rc));
    }
    lmk_rec_state(st, r, LMK_T_ARMED);
#if LUA_VERSION_NUM >= 502
    /* 5.2+ only add debt here; 5.1's GCSTEP would collect at once */
    if (periodic && (st->gc_owed += LMK_GC_INTERVAL_BYTES) >= 1024) {
        st->gc_owed -= 1024;
        if (lua_gc(L, LUA_GCISRUNNING, 0)) lua_gc(L, LUA_GCSTEP, 1);
    }
#endif
    return 1;
}

static int l_oneoff(lua_State *L) { return arm(L, 0); }
static int l_getit(lua_State *L) { return arm(L, 1); }

/* Clears the weak table of handles' entry for id, if it has one (an
 * entry that is there is set to nil: nothing allocated). For a record
 * about to be freed: its id names nothing again, so the entry is of no
 * use, and left to the collector it would keep the table large in a loop
 * that arms and destroys many timers between two collections (the
 * table grows to what it holds at its last rehash, and 5.1 does not
 * shrink it until the next one). [-0, +0, -] */
static void forget_handle(lua_State *L, uint64_t id) {
    lua_rawgeti(L, MISC, MISC_HANDLES);
    lmk_rawgetid(L, -1, id);
    if (!lua_isnil(L, -1)) {
        lua_pushnil(L);
        lmk_rawsetid(L, -3, id);
    }
    lua_pop(L, 2);
}

/* Stops h's timer for good and releases what the registry holds for it;
 * h lets go of its record, which is freed unless another handle or a
 * drain still refers to it. Safe to call twice, and after the state
 * closed (then its record is gone with the state). */
static void destroy_timer(lua_State *L, lmk_timer *h) {
    lmk_state *st = (lmk_state *)lua_touserdata(L, STATE);
    lmk_rec *r = lmk_held(L, h);
    if (r == NULL) return;
    if (r->state != LMK_T_DESTROYED) {
        lmk_sched_destroy(st, r);
        lmk_release_id(L, r, CBS);
        lmk_rec_state(st, r, LMK_T_DESTROYED);
    }
    if (r->refs == 1) forget_handle(L, r->id); /* h alone reaches r: freed below */
    h->r = NULL;
    lmk_rec_drop(L, st, r, CBS);
}

/* [-(1|2), +1, e] t:destroy([wait]) -> nil; also t:cancel(). Synchronous
 * with or without wait: once it returns, no callback of t runs. */
int lmk_h_destroy(lua_State *L) {
    int sig;
    lmk_timer *h = checkhandle(L, &sig);
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TBOOLEAN);
    if (lmk_forked && h->r != NULL) lmk_getstate(L);
    destroy_timer(L, h);
    lua_pushnil(L);
    return 1;
}

#if LUA_VERSION_NUM >= 504
/* [-2, +0, -] __close (5.4): destroy, whatever error leaves the scope. */
int lmk_h_close(lua_State *L) {
    int sig;
    destroy_timer(L, checkhandle(L, &sig));
    return 0;
}
#endif

/* [-1, +0, -] __gc: h lets go of its record (lmk_rec_drop): armed means
 * alive, so an armed timer whose last handle is collected goes on, and a
 * one-off frees itself once it has run; a stopped or fired timer that
 * nothing refers to any more is destroyed. */
int lmk_h_gc(lua_State *L) {
    lmk_timer *h = (lmk_timer *)lua_touserdata(L, 1);
    lmk_rec *r = lmk_held(L, h);
    if (r == NULL) return 0;
    h->r = NULL;
    lmk_rec_drop(L, (lmk_state *)lua_touserdata(L, STATE), r, CBS);
    return 0;
}

static const char *timer_state(lua_State *L, lmk_timer *h) {
    lmk_rec *r = lmk_rec_of(L, h);
    if (r == NULL) return "destroyed";
    if (r->state == LMK_T_STOPPED) return "stopped";
    if (r->state == LMK_T_FIRED) return "fired";
    if (r->flags & LMK_F_DEFER) lmk_sched_sync((lmk_state *)lua_touserdata(L, STATE)); /* its due time is Go's */
    return lmk_sched_due(r, lmk_now((lmk_state *)lua_touserdata(L, STATE))) ? "due" : "armed";
}

/* [-1, +1, e] t:state() -> "armed" | "due" | "stopped" | "fired" |
 * "destroyed": "due" is a one-off whose expiration has fallen due and
 * whose callback has not been taken to run yet; "fired", one whose
 * callback has (an interval timer stays "armed"). */
static int t_state(lua_State *L) {
    lua_pushstring(L, timer_state(L, checktimer(L)));
    return 1;
}

/* [-1, +1, e] t:interval() -> ms (the delay, for a one-off) */
static int t_interval(lua_State *L) {
    lmk_push_ms(L, lmk_h_ms(checktimer(L)));
    return 1;
}

/* [-1, +1, e] t:remaining() -> ms until its next expiration (>= 0; 0 when
 * one is due and has not run), or nil if it is not armed. */
static int t_remaining(lua_State *L) {
    lmk_rec *r = lmk_rec_of(L, checktimer(L));
    int64_t left;
    if (r == NULL || r->state != LMK_T_ARMED) {
        lua_pushnil(L);
        return 1;
    }
    left = lmk_sched_remaining((lmk_state *)lua_touserdata(L, STATE), r,
                               lmk_now((lmk_state *)lua_touserdata(L, STATE)));
    lua_pushnumber(L, left > 0 ? (lua_Number)left / 1e6 : 0);
    return 1;
}

/* [-1, +1, e] t:stop() -> t: disarms it and drops its expirations not yet
 * run; t:start() re-arms it. Raises only on a destroyed timer (a one-off
 * that has run stays as it is). */
int lmk_h_stop(lua_State *L) {
    int sig;
    lmk_timer *h = checkhandle(L, &sig);
    lmk_state *st = lmk_getstate(L);
    lmk_rec *r = lmk_rec_of(L, h);
    if (r == NULL) return destroyed(L, sig);
    if (r->state == LMK_T_ARMED) {
        lmk_sched_stop(st, r);
        lmk_rec_state(st, r, LMK_T_STOPPED);
        lmk_release_thread(L, r);
    }
    lua_settop(L, 1);
    return 1;
}

/* t:start([ms]) and t:again([ms]): (re)arms it from now, a one-off that
 * has run too; with ms, the interval (a one-off: the delay) becomes ms.
 * The first expiration is one interval away. With drop (again), what fell
 * due and has not run is dropped first (a stop); else it still runs: it
 * stays, one record queued at the first one's due time. Raises only on a
 * destroyed timer. [-(1|2), +1, e] */
static int restart(lua_State *L, int drop) {
    lmk_timer *h = checktimer(L);
    lmk_state *st = lmk_getstate(L);
    int64_t at = lmk_now(st); /* the new schedule starts at the call */
    lmk_rec *r = lmk_rec_of(L, h);
    double ms = lua_isnoneornil(L, 2) ? -1 : lmk_checkms(L, 2, !lmk_h_periodic(h));
    int rc;
    if (r == NULL) return lmk_error(L, LMK_MSG_DESTROYED);
    drop = drop && r->state == LMK_T_ARMED; /* an armed timer's expirations not run go */
    if (drop || r->state != LMK_T_ARMED) { /* (again: anchored anew, to this caller) */
        lmk_anchor_thread(L, r); /* may allocate: a collection step may run any finalizer */
        if (r->state == LMK_T_DESTROYED) { /* one did, through another handle */
            lmk_release_thread(L, r);
            return lmk_error(L, LMK_MSG_DESTROYED);
        }
    }
    if (ms >= 0) {
        r->ms = ms;
        lmk_h_set(h, ms, r->periodic);
    }
    rc = lmk_sched_start(st, r, ms >= 0, at, drop);
    if (rc != LMK_OK) {
        if (drop) lmk_rec_state(st, r, LMK_T_STOPPED); /* dropped, not armed again */
        if (r->state != LMK_T_ARMED) lmk_release_thread(L, r);
        return lmk_error(L, lmk_code_message(LMK_CODES_RC, rc));
    }
    lmk_rec_state(st, r, LMK_T_ARMED);
    lua_settop(L, 1);
    return 1;
}

/* [-(1|2), +1, e] t:start([ms]) -> t: what fell due and has not run
 * still runs (nothing lost). */
static int t_start(lua_State *L) { return restart(L, 0); }

/* [-(1|2), +1, e] t:again([ms]) -> t: luv's timer:again, JavaScript's
 * clearTimeout + setTimeout: what fell due and has not run is dropped,
 * the schedule starts from now (a watchdog's re-arm). */
static int t_again(lua_State *L) { return restart(L, 1); }

/* [-(1|2), +1, e] t:unref() -> t, t:ref() -> t: an unref'd timer does not
 * keep a loop alive (mit.alive(), co.run(), an adapter's h:unref()); it
 * still runs as any other. Raises only on a destroyed timer. */
static int set_ref(lua_State *L, int ref) {
    int sig;
    lmk_timer *h = checkhandle(L, &sig);
    lmk_state *st = lmk_getstate(L);
    lmk_rec *r = lmk_rec_of(L, h);
    if (r == NULL) return destroyed(L, sig);
    if ((!(r->flags & LMK_F_UNREF)) != ref) { /* has a ref, and is to lose it, or the reverse */
        if (r->state == LMK_T_ARMED) count_alive(st, ref ? 1 : -1);
        r->flags ^= LMK_F_UNREF;
    }
    lua_settop(L, 1);
    return 1;
}

int lmk_h_ref(lua_State *L) { return set_ref(L, 1); }
int lmk_h_unref(lua_State *L) { return set_ref(L, 0); }

/* [-1, +1, e] t:has_ref() -> false after t:unref() (until t:ref()). */
int lmk_h_has_ref(lua_State *L) {
    int sig;
    lmk_rec *r = lmk_rec_of(L, checkhandle(L, &sig));
    lua_pushboolean(L, r != NULL && !(r->flags & LMK_F_UNREF));
    return 1;
}

/* [-(1|2), +1, e] t:catchup(["all"|"once"]) -> the policy in effect (before
 * the change, if one is given). "all": each expiration that fell due runs
 * the callback once (back to back after a stall); "once": what fell due of
 * an interval timer by a drain runs it once, and t:missed() says how many
 * expirations that run stood for beyond itself. A one-off has one
 * expiration per arming: it is "all", and "once" raises. */
static int t_catchup(lua_State *L) {
    static const char *const names[] = {"all", "once", NULL};
    lmk_timer *h = checktimer(L);
    lmk_rec *r = lmk_rec_of(L, h);
    int once;
    if (lua_isnoneornil(L, 2)) {
        lua_pushstring(L, r != NULL && (r->flags & LMK_F_ONCE) ? "once" : "all");
        return 1;
    }
    once = luaL_checkoption(L, 2, NULL, names);
    if (r == NULL) return lmk_error(L, LMK_MSG_DESTROYED);
    if (once && !r->periodic) luaL_argerror(L, 2, LMK_ARG_CATCHUP_ONEOFF);
    lua_pushstring(L, r->flags & LMK_F_ONCE ? "once" : "all");
    if (once) r->flags |= LMK_F_ONCE;
    else r->flags &= (uint8_t)~LMK_F_ONCE;
    return 1;
}

/* [-1, +1, e] t:missed() -> the expirations of an interval timer that its
 * callback's last run stood for beyond itself (catch-up "once"; 0 with
 * "all", for a one-off, and before its first run). Read in the callback:
 * the run stands for missed() + 1 expirations. */
static int t_missed(lua_State *L) {
    lmk_rec *r = lmk_held(L, checktimer(L));
    lua_pushinteger(L, r != NULL && r->periodic ? (lua_Integer)r->missed : 0);
    return 1;
}

/* [-1, +1, m] __tostring: "luamockit.timer: 0x... (interval 100 ms, armed)" */
static int t_tostring(lua_State *L) {
    lmk_timer *h = checktimer(L);
    char ms[32];
    snprintf(ms, sizeof ms, "%.15g", lmk_h_ms(h));
    lua_pushfstring(L, LMK_TIMER ": %p (%s %s ms, %s)", (void *)h,
                    lmk_h_periodic(h) ? "interval" : "one-off", ms, timer_state(L, h));
    return 1;
}

/* [-0, +1, e] alive() -> the armed timers (and signal handles) that keep
 * a loop alive: those not unref'd. */
static int l_alive(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)lmk_getstate(L)->alive);
    return 1;
}

/* [-(0|1), +1, e] wakeonidle([on]) -> whether it was on: with on, fd()
 * also becomes readable when alive() falls to 0 outside process_events,
 * or is 0 when it is turned on (until the next process_events), for a
 * loop integration that ends when nothing keeps it alive. Counted: each
 * true needs its false. */
static int l_wakeonidle(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    int was = st->idle_wake > 0;
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TBOOLEAN);
        if (lua_toboolean(L, 1)) {
            st->idle_wake++;
            if (st->alive == 0 && st->depth == 0 && st->hub != NULL) lmk_wake_hold(&st->hub->wk, 1);
        } else if (st->idle_wake > 0) {
            st->idle_wake--;
        }
    }
    lua_pushboolean(L, was);
    return 1;
}

const luaL_Reg lmk_timer_funcs[] = {
    {"alive", l_alive},
    {"wakeonidle", l_wakeonidle},
    {"oneoff", l_oneoff},
    {"getit", l_getit},
    {NULL, NULL}
};

const luaL_Reg lmk_timer_methods[] = {
    {"destroy", lmk_h_destroy},
    {"cancel", lmk_h_destroy},
    {"stop", lmk_h_stop},
    {"start", t_start},
    {"again", t_again},
    {"ref", lmk_h_ref},
    {"unref", lmk_h_unref},
    {"has_ref", lmk_h_has_ref},
    {"catchup", t_catchup},
    {"missed", t_missed},
    {"state", t_state},
    {"interval", t_interval},
    {"remaining", t_remaining},
    {NULL, NULL}
};

const luaL_Reg lmk_timer_meta[] = {
    {"__gc", lmk_h_gc},
    {"__tostring", t_tostring},
#if LUA_VERSION_NUM >= 504
    {"__close", lmk_h_close},
#endif
    {NULL, NULL}
};
