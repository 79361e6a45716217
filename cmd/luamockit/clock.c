/*
 * clock.c: the time functions: sleep, time, mstimestamp, monotime, and the
 * monotonic clock the timers run on. None of them touches the queue.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>

#include "lmk.h"

int64_t lmk_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* [-(1|2), +2, e] sleep(ms[, resume]) -> remaining_ms, errno
 * A signal cuts the sleep short (remaining > 0, EINTR) unless resume. */
static int l_sleep(lua_State *L) {
    double ms = lmk_checkms(L, 1, 1);
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
