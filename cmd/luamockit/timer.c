/*
 * timer.c: arming timers and the methods of a timer handle, with their
 * argument checks. Where a schedule lives, and moving it, is lease.c's
 * business: a method takes the schedule (lmk_unschedule), changes t->s,
 * and places it again (lmk_schedule).
 */
#include <math.h> /* isnan, isinf: macros, no libm */
#include <stdio.h>
#include <string.h>

#include "lmk.h"

/* Largest accepted duration: 2^53 ns (about 104 days) is where doubles
 * stop being exact; a year is plenty and keeps ns in range. */
#define LMK_MAX_MS (366.0 * 24 * 3600 * 1000)
/* Shortest interval: 1 us. Shorter ones would only keep the Lua thread
 * busy (expirations are counted exactly either way). */
#define LMK_MIN_INTERVAL_MS 0.001
/* What an interval timer weighs for the collector's pace, in KiB. */
#define LMK_GC_DEBT_KB 1

/* [-0, +0, v] a duration in ms at arg: finite, >= 0 (> 0 unless zero_ok). */
double lmk_checkms(lua_State *L, int arg, int zero_ok) {
    double ms = (double)luaL_checknumber(L, arg);
    if (isnan(ms) || isinf(ms)) luaL_argerror(L, arg, "milliseconds must be a finite number");
    if (ms < 0) luaL_argerror(L, arg, "milliseconds must not be negative");
    if (!zero_ok && ms == 0) luaL_argerror(L, arg, "interval must be greater than 0");
    if (!zero_ok && ms < LMK_MIN_INTERVAL_MS) luaL_argerror(L, arg, "interval must be at least 0.001 ms");
    if (ms > LMK_MAX_MS) luaL_argerror(L, arg, "milliseconds too large (at most one year)");
    return ms;
}

/* [-0, +0, v] the timer at argument 1. */
static lmk_timer *checktimer(lua_State *L) {
    return (lmk_timer *)luaL_checkudata(L, 1, LMK_TIMER);
}

/* The registry keeps an armed one-off's handle (ALIVE), so that it still
 * fires after its handle is dropped. [-0, +0, m] */
static void anchor(lua_State *L, lmk_timer *t, int idx) {
    lua_pushvalue(L, idx);
    lmk_rawsetid(L, ALIVE, t->s.id);
}

/* [-0, +0, -] clears id's ALIVE entry, if it has one (clearing a key that
 * exists never allocates). */
static void unanchor(lua_State *L, lmk_timer *t) {
    if (t->periodic || t->state != LMK_T_ARMED) return;
    lua_pushnil(L);
    lmk_rawsetid(L, ALIVE, t->s.id);
}

/* Releases what the registry holds for t: its callback, the coroutine that
 * armed it, its handle. t is armed or stopped. [-0, +0, -] */
void lmk_release_id(lua_State *L, lmk_timer *t) {
    unanchor(L, t);
    lua_pushnil(L);
    lmk_rawsetid(L, CBS, t->s.id);
    if (t->coro) {
        lua_pushnil(L);
        lmk_rawsetid(L, ANCHORS, t->s.id);
    }
}

/* A fresh schedule from now: the first expiration one interval (a
 * one-off: its delay) away. */
static void restart(lmk_timer *t, int64_t now) {
    int64_t ns = (int64_t)(t->ms * 1e6);
    t->s.period = ns;
    t->s.left = t->periodic ? -1 : 1;
    t->s.due = now + ns;
}

/* [-(2+n), +1, e] oneoff(ms, cb, ...) / getit(ms, cb, ...) */
static int arm(lua_State *L, int periodic) {
    lmk_state *st = lmk_getstate(L);
    double ms = lmk_checkms(L, 1, !periodic);
    int nargs, i, rc, ud;
    lmk_timer *t;
    luaL_checktype(L, 2, LUA_TFUNCTION);
    nargs = lua_gettop(L) - 2;

    t = (lmk_timer *)lmk_newuserdata(L, sizeof *t);
    memset(t, 0, sizeof *t);
    t->s.hidx = -1;
    t->ms = ms;
    t->periodic = (uint8_t)periodic;
    t->state = LMK_T_DESTROYED; /* until it is armed */
    lua_pushvalue(L, TIMER_MT);
    lua_setmetatable(L, -2);
    ud = lua_gettop(L);

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
    t->s.id = (uint64_t)++st->next_id;
    lmk_rawsetid(L, CBS, t->s.id);
    if (!lua_pushthread(L)) { /* a coroutine: anchored while the timer lives */
        t->coro = 1;
        lmk_rawsetid(L, ANCHORS, t->s.id);
    } else {
        lua_pop(L, 1);
    }
    if (!periodic) anchor(L, t, ud);
    t->state = LMK_T_ARMED;
    restart(t, lmk_mono_ns());
    rc = lmk_schedule(st, t);
    if (rc != LMK_OK) {
        lmk_release_id(L, t);
        t->state = LMK_T_DESTROYED;
        return lmk_error(L, lmk_rc_message(rc));
    }
#if LUA_VERSION_NUM >= 502
    /* An interval timer costs more than its small userdata: it fires until
     * destroyed or collected. Count it as LMK_GC_DEBT_KB of allocation, so
     * that the collector finds dropped ones at a pace that reflects their
     * cost (5.2+ only add debt here; 5.1's GCSTEP would collect at once). */
    if (periodic && lua_gc(L, LUA_GCISRUNNING, 0)) lua_gc(L, LUA_GCSTEP, LMK_GC_DEBT_KB);
#endif
    lua_settop(L, ud);
    return 1;
}

static int l_oneoff(lua_State *L) { return arm(L, 0); }
static int l_getit(lua_State *L) { return arm(L, 1); }

/* Stops t for good and releases what the registry holds for it; safe to
 * call twice, and after the state closed (then the schedule is gone with
 * the engine and the queue). */
static void destroy_timer(lua_State *L, lmk_timer *t) {
    lmk_state *st = (lmk_state *)lua_touserdata(L, STATE);
    int state = t->state;
    if (state == LMK_T_DESTROYED) return;
    if (state == LMK_T_ARMED && st->q != 0 && !lmk_forked) lmk_unschedule(st, t);
    if (state != LMK_T_FIRED) lmk_release_id(L, t); /* a fired one-off released it */
    t->state = LMK_T_DESTROYED;
    t->where = LMK_AT_NONE;
}

/* [-(1|2), +1, e] t:destroy([wait]) -> nil; also t:cancel(). Synchronous
 * with or without wait: once it returns, no callback of t runs. */
static int t_destroy(lua_State *L) {
    lmk_timer *t = checktimer(L);
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TBOOLEAN);
    if (lmk_forked && t->state != LMK_T_DESTROYED) lmk_getstate(L);
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

/* [-1, +0, -] __gc: a collected handle is destroyed. An armed one-off is
 * never collected (ALIVE holds it), so old code that drops the handle
 * still gets its callback; an interval timer nobody holds is stopped. */
static int t_gc(lua_State *L) {
    destroy_timer(L, (lmk_timer *)lua_touserdata(L, 1));
    return 0;
}

/* Whether a one-off has expired (its callback has run, or is due). */
static int oneoff_fired(const lmk_timer *t) {
    return !t->periodic && (t->state == LMK_T_FIRED ||
                            (t->state == LMK_T_ARMED && t->s.due <= lmk_mono_ns()));
}

static const char *timer_state(lua_State *L, const lmk_timer *t) {
    lmk_state *st = (lmk_state *)lua_touserdata(L, STATE);
    if (t->state == LMK_T_DESTROYED || st->q == 0 || lmk_forked) return "destroyed";
    if (t->state == LMK_T_STOPPED) return "stopped";
    return oneoff_fired(t) ? "fired" : "armed";
}

/* [-1, +1, e] t:state() -> "armed" | "stopped" | "fired" | "destroyed" */
static int t_state(lua_State *L) {
    lua_pushstring(L, timer_state(L, checktimer(L)));
    return 1;
}

/* [-1, +1, e] t:interval() -> ms (the delay, for a one-off) */
static int t_interval(lua_State *L) {
    lua_pushnumber(L, checktimer(L)->ms);
    return 1;
}

/* [-1, +1, e] t:stop() -> t: disarms it and drops its expirations not yet
 * run; t:start() re-arms it. */
static int t_stop(lua_State *L) {
    lmk_timer *t = checktimer(L);
    lmk_state *st = lmk_getstate(L);
    if (t->state == LMK_T_DESTROYED) return lmk_error(L, "timer is destroyed");
    if (t->state == LMK_T_STOPPED) { lua_settop(L, 1); return 1; }
    if (oneoff_fired(t)) return lmk_error(L, "the one-off timer has already fired");
    lmk_unschedule(st, t);
    unanchor(L, t);
    t->state = LMK_T_STOPPED;
    lua_settop(L, 1);
    return 1;
}

/* [-1, +1, e] t:start() -> t: (re)arms it from now; the first expiration
 * is one interval (a one-off: its delay) away. Expirations of an armed
 * timer that fell due before and have not run still run: they stay, one
 * record queued at the first one's due time. */
static int t_start(lua_State *L) {
    lmk_timer *t = checktimer(L);
    lmk_state *st = lmk_getstate(L);
    int64_t now;
    int rc;
    if (t->state == LMK_T_DESTROYED) return lmk_error(L, "timer is destroyed");
    if (oneoff_fired(t)) return lmk_error(L, "the one-off timer has already fired");
    now = lmk_mono_ns();
    if (t->state == LMK_T_ARMED) {
        int64_t n;
        lmk_unschedule(st, t);
        n = lmk_sched_due_count(&t->s, now) - t->s.bl_left;
        if (n > 0) {
            if (t->s.bl_left == 0) t->s.bl_due = t->s.due;
            t->s.bl_left += n;
        }
    } else {
        t->s.bl_left = 0;
        if (!t->periodic) anchor(L, t, 1);
    }
    restart(t, now);
    t->state = LMK_T_ARMED;
    rc = lmk_schedule(st, t);
    if (rc != LMK_OK) {
        unanchor(L, t);
        t->state = LMK_T_STOPPED;
        return lmk_error(L, lmk_rc_message(rc));
    }
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

const luaL_Reg lmk_timer_funcs[] = {
    {"oneoff", l_oneoff},
    {"getit", l_getit},
    {NULL, NULL}
};

const luaL_Reg lmk_timer_methods[] = {
    {"destroy", t_destroy},
    {"cancel", t_destroy},
    {"stop", t_stop},
    {"start", t_start},
    {"state", t_state},
    {"interval", t_interval},
    {NULL, NULL}
};

const luaL_Reg lmk_timer_meta[] = {
    {"__gc", t_gc},
    {"__tostring", t_tostring},
#if LUA_VERSION_NUM >= 504
    {"__close", t_close},
#endif
    {NULL, NULL}
};
