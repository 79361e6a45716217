//go:build lmkhost

package main

// Helpers for the in-process test host (golua): they let Go tests open the
// real module in a lua_State and run chunks under lua_pcall, all in C, so
// no Lua error crosses a Go frame. They are not part of the Lua API.

/*
#include <stdlib.h>
#include <string.h>
#include <lualib.h>
#include "lmk.h"

void lmk_host_openlibs(lua_State *L) { luaL_openlibs(L); }

void lmk_host_preload(lua_State *L) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_luamockit);
    lua_setfield(L, -2, "luamockit");
    lua_pop(L, 2);
}

// Runs chunk; returns NULL, or the error message (malloc'd).
const char *lmk_host_run(lua_State *L, const char *chunk) {
    int top = lua_gettop(L);
    const char *err = NULL;
    if (luaL_loadstring(L, chunk) != 0 || lua_pcall(L, 0, 0, 0) != 0) {
        const char *m = lua_tostring(L, -1);
        err = strdup(m ? m : "(non-string error)");
    }
    lua_settop(L, top);
    return err;
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// hostOpen opens the standard libraries in L (a *lua_State) and makes
// require("luamockit") load this binding.
func hostOpen(L unsafe.Pointer) {
	l := (*C.lua_State)(L)
	C.lmk_host_openlibs(l)
	C.lmk_host_preload(l)
}

// hostRun runs a chunk in L under lua_pcall.
func hostRun(L unsafe.Pointer, chunk string) error {
	cs := C.CString(chunk)
	defer C.free(unsafe.Pointer(cs))
	if e := C.lmk_host_run((*C.lua_State)(L), cs); e != nil {
		defer C.free(unsafe.Pointer(e))
		return errors.New(C.GoString(e))
	}
	return nil
}
