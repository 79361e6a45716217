/*
 * clock.c: the time functions: sleep, time, mstimestamp, monotime, and the
 * monotonic clock the timers run on (lmk_mono_ns, in port.c: the clock Go
 * reads on each system). None of them touches the queue.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>

#include "lmk.h"

/* [-(1|2), +2, e] sleep(ms[, resume]) -> remaining_ms, errno
 * Sleeps until a deadline on the monotonic clock, so that signals cannot
 * stretch it: a signal cuts the sleep short (remaining > 0, EINTR) unless
 * resume, which sleeps on to the same deadline. remaining is in whole ms
 * (rounded up), never more than asked. */
static int l_sleep(lua_State *L) {
    double ms = lmk_checkms(L, 1, 1);
    int resume = 0, rc;
    int64_t deadline = lmk_mono_ns() + (int64_t)(ms * 1e6);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TBOOLEAN);
        resume = lua_toboolean(L, 2);
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
    lua_pushnumber(L, (lua_Number)lmk_mono_ns() / 1e6);
    return 1;
}

const luaL_Reg lmk_clock_funcs[] = {
    {"sleep", l_sleep},
    {"time", l_time},
    {"mstimestamp", l_mstimestamp},
    {"monotime", l_monotime},
    {NULL, NULL}
};
