/* compat.c: the Lua 5.1 (and LuaJIT) side of compat.h. */
#include "compat.h"

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

#if LUA_VERSION_NUM < 503
void lmk_rawgetid(lua_State *L, int t, lua_Number id) {
    if (id <= 2147483647.0) {
        lua_rawgeti(L, t, (int)id);
    } else {
        lua_pushnumber(L, id);
        lua_rawget(L, t < 0 && t > LUA_REGISTRYINDEX ? t - 1 : t);
    }
}

void lmk_rawsetid(lua_State *L, int t, lua_Number id) {
    if (id <= 2147483647.0) {
        lua_rawseti(L, t, (int)id);
    } else {
        lua_pushnumber(L, id);
        lua_insert(L, -2);
        lua_rawset(L, t < 0 && t > LUA_REGISTRYINDEX ? t - 2 : t);
    }
}
#endif
