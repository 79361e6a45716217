/*
 * clock.c: the time functions: sleep, time, mstimestamp, monotime (now),
 * and clock(), which switches the universe between the monotonic clock
 * the timers run on (lmk_mono_ns, in port.c: the clock Go reads on each
 * system) and a virtual one that moves only when told (Go's queue holds
 * it: sched.c's lmk_sched_clock; advance and run_all move it and drain,
 * in dispatch.c). While the clock is virtual, every time function here
 * follows it: sleep(ms) moves it by ms at once, monotime() reads it,
 * time() is the wall clock of the switch plus the virtual time since.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>

#include "lmk.h"

/* The universe if its clock is virtual (and usable), else NULL: these
 * functions work in a forked child and after close, on the real clock. */
static lmk_state *virtual_of(lua_State *L) {
    lmk_state *st = (lmk_state *)lua_touserdata(L, STATE);
    return st != NULL && st->virtual && st->q != 0 && !lmk_forked ? st : NULL;
}

/* [-(1|2), +2, e] sleep(ms[, resume]) -> remaining_ms, errno
 * Sleeps until a deadline on the monotonic clock, so that signals cannot
 * stretch it: a signal cuts the sleep short (remaining > 0, EINTR) unless
 * resume, which sleeps on to the same deadline. remaining is in whole ms
 * (rounded up), never more than asked. */
static int l_sleep(lua_State *L) {
    double ms = lmk_checkms(L, 1, 1);
    int resume = 0, rc;
    int64_t deadline = lmk_mono_ns() + (int64_t)(ms * 1e6);
    lmk_state *vs = virtual_of(L);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TBOOLEAN);
        resume = lua_toboolean(L, 2);
    }
    if (vs != NULL) { /* virtual: the time passes at once, nothing runs */
        rc = lmk_sched_setnow(vs, lmk_now(vs) + (int64_t)(ms * 1e6));
        if (rc != LMK_OK) return lmk_error(L, lmk_code_message(LMK_CODES_RC, rc));
        lua_pushinteger(L, 0);
        lua_pushinteger(L, 0);
        return 2;
    }
    rc = lmk_port_sleep_until(deadline, resume);
    if (rc == 0) {
        lua_pushinteger(L, 0);
        lua_pushinteger(L, 0);
        return 2;
    }
    if (rc == EINTR) {
        int64_t ns = deadline - lmk_mono_ns();
        int64_t whole = ns <= 0 ? 0 : (ns + 999999) / 1000000; /* rounded up */
        if ((double)whole > ms) lua_pushnumber(L, ms); /* a fraction of a ms asked: at most that */
        else lua_pushinteger(L, (lua_Integer)whole);
        lua_pushinteger(L, EINTR);
        return 2;
    }
    lua_pushnumber(L, ms);
    lua_pushinteger(L, rc);
    return 2;
}

/* The wall clock: CLOCK_REALTIME, or while the clock is virtual, the
 * wall clock of the switch plus the virtual time since. 0, or -1. */
static int wall(lua_State *L, struct timespec *ts) {
    lmk_state *vs = virtual_of(L);
    int64_t ns;
    if (vs == NULL) return clock_gettime(CLOCK_REALTIME, ts);
    ns = lmk_now(vs) + vs->wall_off;
    ts->tv_sec = (time_t)(ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
    return 0;
}

/* [-0, +2, -] time() -> seconds, ms since the last second | nil, errno */
static int l_time(lua_State *L) {
    struct timespec ts;
    if (wall(L, &ts) != 0) {
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
    if (wall(L, &ts) != 0) {
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

/* [-0, +1, -] monotime() -> ms on the monotonic clock (float), or on the
 * virtual one; also now(). */
static int l_monotime(lua_State *L) {
    lmk_state *vs = virtual_of(L);
    lua_pushnumber(L, (lua_Number)(vs != NULL ? lmk_now(vs) : lmk_mono_ns()) / 1e6);
    return 1;
}

/* [-(0|1), +1, e] clock(["virtual"|"real"]) -> the clock in effect before
 * the call ("real" or "virtual"). With a mode, this universe's timers run
 * on that clock from now on: the virtual one starts at the real reading
 * rounded up to a whole ms and stands still until advance(), run_all(),
 * sleep() or wait() move it;
 * back on the real clock, what is armed keeps its distance to now. Not
 * from a callback (a drain runs on one clock). */
static int l_clock(lua_State *L) {
    static const char *const names[] = {"real", "virtual", NULL};
    lmk_state *st = lmk_getstate(L);
    int was = st->virtual, to, rc;
    if (lua_isnoneornil(L, 1)) {
        lua_pushstring(L, names[was]);
        return 1;
    }
    to = luaL_checkoption(L, 1, NULL, names);
    lua_pushstring(L, names[was]); /* may allocate: before anything changes */
    if (to != was) {
        struct timespec ts;
        if (st->depth > 0) return lmk_error(L, LMK_MSG_CLOCK_IN_CALLBACK);
        if (to && clock_gettime(CLOCK_REALTIME, &ts) == 0)
            st->wall_off = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - lmk_mono_ns();
        if ((rc = lmk_sched_clock(st, to)) != LMK_OK) return lmk_error(L, lmk_code_message(LMK_CODES_RC, rc));
    }
    return 1;
}

const luaL_Reg lmk_clock_funcs[] = {
    {"clock", l_clock},
    {"now", l_monotime},
    {"sleep", l_sleep},
    {"time", l_time},
    {"mstimestamp", l_mstimestamp},
    {"monotime", l_monotime},
    {NULL, NULL}
};
