/*
 * compat.h: the Lua 5.1-5.4 C API differences, in one place (as
 * luasocket's compat.c): functions 5.2 added, userdata with user values,
 * and integer table keys for timer ids.
 */
#ifndef LMK_COMPAT_H
#define LMK_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
#define lmk_rawlen(L, i) lua_objlen(L, i)
void lmk_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
void *lmk_testudata(lua_State *L, int i, const char *tname);
#else
#define lmk_rawlen(L, i) lua_rawlen(L, i)
#define lmk_setfuncs(L, l, nup) luaL_setfuncs(L, l, nup)
#define lmk_testudata(L, i, t) luaL_testudata(L, i, t)
#endif

#if LUA_VERSION_NUM >= 504
#define lmk_newuserdata(L, sz) lua_newuserdatauv(L, sz, 0)
#else
#define lmk_newuserdata(L, sz) lua_newuserdata(L, sz)
#endif

/* Timer ids are integers kept as lua_Number (exact to 2^53), counting up
 * from 1, so tables keyed by them keep them in their array part.
 * [-0, +1, -] push t[id]; [-1, +0, m] t[id] = top. */
#if LUA_VERSION_NUM >= 503
#define lmk_rawgetid(L, t, id) ((void)lua_rawgeti(L, t, (lua_Integer)(id)))
#define lmk_rawsetid(L, t, id) lua_rawseti(L, t, (lua_Integer)(id))
#else
void lmk_rawgetid(lua_State *L, int t, lua_Number id);
void lmk_rawsetid(lua_State *L, int t, lua_Number id);
#endif

#endif
