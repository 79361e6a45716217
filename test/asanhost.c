/*
 * asanhost.c: a minimal stand-in for the stock interpreter, compiled with
 * AddressSanitizer and UBSan, so that busted runs the real luamockit.so
 * (built with the same sanitizers into build/asan/) in a process whose
 * ASan runtime comes first (issue 21).
 *
 *   build/asan/host/asanhost54 /usr/bin/busted --cpath=... test/gc_spec.lua
 *
 * What it does is what lua.c does for `lua script args...`: a state with
 * the standard libraries, the global `arg` (arg[0] the script, arg[-1]
 * this program, arg[1..n] the rest), the script loaded with luaL_loadfile
 * (which skips a first line starting with '#': busted's shebang) and
 * called with the arguments as `...`, an error reported with a traceback.
 * busted ends with os.exit(code, true) (5.4 closes the state first: the
 * module's close path runs under the sanitizers too); a script that
 * returns closes the state and exits 0.
 *
 * Linked against Debian's liblua5.1 / liblua5.4 / libluajit-5.1, which are
 * not instrumented: what ASan checks is the luamockit shim (and the
 * heap/stack accesses of everything through its interceptors).
 */
#include <stdio.h>
#include <stdlib.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

/* The message handler: the error with a traceback (5.1 has no
 * luaL_traceback: debug.traceback does the same). */
static int traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) msg = "(error object is not a string)";
    lua_getglobal(L, "debug");
    lua_getfield(L, -1, "traceback");
    lua_pushstring(L, msg);
    lua_pushinteger(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

int main(int argc, char **argv) {
    lua_State *L;
    int i, status;
    if (argc < 2) {
        fprintf(stderr, "usage: %s script [args...]\n", argv[0]);
        return 2;
    }
    L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "%s: cannot create a state\n", argv[0]);
        return 1;
    }
    luaL_openlibs(L);
    lua_createtable(L, argc - 2, 2);
    for (i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
    lua_pushcfunction(L, traceback);
    if (luaL_loadfile(L, argv[1]) != 0) {
        fprintf(stderr, "%s: %s\n", argv[0], lua_tostring(L, -1));
        lua_close(L);
        return 1;
    }
    for (i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
    status = lua_pcall(L, argc - 2, 0, 1);
    if (status != 0) {
        fprintf(stderr, "%s: %s\n", argv[0], lua_tostring(L, -1));
        fflush(stderr);
    }
    lua_close(L);
    return status == 0 ? 0 : 1;
}
