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
    uint64_t id;
    uint32_t flags;
    uint32_t pad_;
} lmk_slot;

#define LMK_FLAG_LAST 1u

/* Return codes of the Go exports. */
enum {
    LMK_OK = 0,
    LMK_ECLOSED = 1,   /* the state's queue is closed */
    LMK_EEXISTS = 2,
    LMK_ENOTFOUND = 3,
    LMK_EFIRED = 4,    /* the one-off has already fired */
    LMK_ERANGE = 5,
    LMK_EPANIC = 99    /* a Go panic, recovered at the boundary */
};

/* Timer states (queue.State*). */
enum { LMK_ST_NONE = 0, LMK_ST_ARMED = 1, LMK_ST_STOPPED = 2, LMK_ST_FIRED = 3 };

int luaopen_luamockit(lua_State *L);

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
