/*
 * guard.c: what every file of the shim that faces Lua uses, and nothing
 * else: the state guard (lmk_getstate), the raising helper (lmk_error),
 * the messages of the Go exports' codes, and fork detection. A leaf: it
 * calls into no other file of the shim.
 */
#include "lmk.h"

volatile int lmk_forked = 0;
/* pthread_atfork's child handler (module.c installs it): the child has
 * no Go runtime threads, so nothing may call into Go there. */
void lmk_on_fork_child(void) { lmk_forked = 1; }

/* The raising helper: every runtime failure of the module goes through it. */
int lmk_error(lua_State *L, const char *what) {
    return luaL_error(L, "luamockit: %s", what);
}

const char *lmk_rc_message(int rc) {
    switch (rc) {
    case LMK_ECLOSED: return LMK_MSG_CLOSED;
    case LMK_EEXISTS: return LMK_MSG_EXISTS;
    case LMK_ERANGE: return LMK_MSG_RANGE;
    case LMK_ESYS: return LMK_MSG_SYS;
    case LMK_ENOMEM: return LMK_MSG_NOMEM;
    case LMK_ENOTFOUND: return LMK_MSG_NOTFOUND;
    case LMK_EPANIC: return LMK_MSG_PANIC;
    }
    return LMK_MSG_UNKNOWN;
}

/* [-0, +0, e] the live state of this universe, or raise. */
lmk_state *lmk_getstate(lua_State *L) {
    lmk_state *st = (lmk_state *)lua_touserdata(L, STATE);
    if (lmk_forked)
        lmk_error(L, LMK_MSG_FORKED_EXEC);
    if (st->q == 0) lmk_error(L, LMK_MSG_CLOSED);
    return st;
}
