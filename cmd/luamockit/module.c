/*
 * module.c: require("luamockit"): the universe (one per lua_newstate) and
 * the registration of every function.
 *
 * Arguments are checked, and errors raised, only in C and only after the
 * Go call of the moment has returned: Go never has a frame on the stack
 * when a Lua error unwinds. The files, one concern each: guard.c (the
 * state guard, the raising helper, fork), timer.c (arming, timer
 * methods), signal.c (signals as events, signal handles), records.c (timer records), sched.c (the one crossing to the
 * schedules, which are Go's), took.c (the taken batch's entries), dispatch.c
 * (process_events, the error protocol), stats.c (timers, next_due, stats),
 * wait.c (wait, fd, setport), watch.c (fd()'s kernel timer, the spin lead), clock.c (time), producer.c (the producer C
 * API), hub.c (producer items) and hubwake.c (waking threads), port.c
 * (what differs between systems), compat.c (Lua 5.1-5.4).
 *
 * A universe's state is a full userdata kept in the registry under
 * LMK_STATE, with the tables every module function has as upvalues (see
 * lmk.h): CBS, ANCHORS, the timer metatable and MISC.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "lmk.h"
#include "_cgo_export.h"

/* Default spin before a due timer (setspin), ns. */
#define LMK_SPIN_DEFAULT_NS 250000

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void install_fork_handler(void) { pthread_atfork(NULL, NULL, lmk_on_fork_child); }

/* [-1, +0, -] __gc of the state: Go forgets the universe's timers, the hub
 * its items (releasing waiting producer threads) and its fd; the engine
 * goes. */
static int s_gc(lua_State *L) {
    lmk_state *st = (lmk_state *)lua_touserdata(L, 1);
    if (st->q != 0 && !lmk_forked) lmk_close(st->q);
    if (st->hub != NULL && !lmk_forked) lmk_producers_close(st);
    st->q = 0;
    st->hub = NULL;
    st->ndefer = 0; /* deferred arms name records freed below */
    lmk_watch_close(st);
    lmk_took_free(st);
    lmk_recs_free_all(st);
    return 0;
}

/* [-0, +NUPS, e] pushes this universe's upvalues (state, CBS, ANCHORS,
 * timer metatable, MISC), creating them on first use. */
static void push_universe(lua_State *L) {
    lmk_state *st;
    int i, reg;
    lua_getfield(L, LUA_REGISTRYINDEX, LMK_STATE);
    if (lua_istable(L, -1)) {
        reg = lua_gettop(L);
        for (i = 1; i <= NUPS; i++) lua_rawgeti(L, reg, i);
        lua_remove(L, reg);
        return;
    }
    lua_pop(L, 1);

    lua_createtable(L, NUPS, 0); /* registry[LMK_STATE] = {upvalues...} */
    reg = lua_gettop(L);
    st = (lmk_state *)lmk_newuserdata(L, sizeof *st);
    memset(st, 0, sizeof *st);
    st->efd = st->tfd = -1;
    st->spin_ns = LMK_SPIN_DEFAULT_NS;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, s_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_rawseti(L, reg, 1);
    lua_newtable(L); /* CBS */
    lua_rawseti(L, reg, 2);
    lua_newtable(L); /* ANCHORS */
    lua_rawseti(L, reg, 3);
    if (luaL_newmetatable(L, LMK_TIMER)) { /* filled by luaopen */
        lua_pushliteral(L, LMK_TIMER);
        lua_setfield(L, -2, "__name");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_rawseti(L, reg, 4);
    lua_createtable(L, MISC_N, 0); /* MISC: every slot exists, so setting one never allocates */
    for (i = 1; i <= MISC_N; i++) {
        lua_pushboolean(L, 0);
        lua_rawseti(L, -2, i);
    }
    lua_newtable(L); /* MISC[MISC_HANDLES] = setmetatable({}, {__mode = "v"}) */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawseti(L, -2, MISC_HANDLES);
#if LUA_VERSION_NUM < 502
    lua_getglobal(L, "debug");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "traceback");
        lua_rawseti(L, -3, MISC_TRACEBACK);
    }
    lua_pop(L, 1);
    if (lua_pushthread(L)) st->main = L;
    lua_pop(L, 1);
#else
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    st->main = lua_tothread(L, -1);
    lua_pop(L, 1);
#endif
    lua_rawseti(L, reg, 5);

    if ((st->hub = lmk_hub_open()) == NULL) lmk_error(L, errno ? strerror(errno) : LMK_MSG_NO_HUB);
    if (lmk_open(st->hub, &st->clock_off, &st->q) != LMK_OK || st->q == 0)
        lmk_error(L, LMK_MSG_NO_QUEUE);
    lmk_recs_prepare(st);

    for (i = 1; i <= NUPS; i++) lua_rawgeti(L, reg, i);
    lmk_dispatch_init(L, lua_gettop(L) - NUPS + 1);
    /* Registered last, once complete: a memory error anywhere above leaves
     * no half-made universe for the next require to find (the state's
     * __gc closes the queue of one that became garbage). */
    lua_pushvalue(L, reg);
    lua_setfield(L, LUA_REGISTRYINDEX, LMK_STATE);
    lua_remove(L, reg);
}

/* [-0, +1, e] require("luamockit") */
/* [-0, +0, m] fills the metatable on top: meta's functions, and methods
 * in its __index, all closures over the module's NUPS upvalues from stack
 * index first on (timer and signal handles). */
void lmk_fill_metatable(lua_State *L, int first, const luaL_Reg *meta, const luaL_Reg *methods) {
    int i;
    for (i = 0; i < NUPS; i++) lua_pushvalue(L, first + i);
    lmk_setfuncs(L, meta, NUPS);
    lua_createtable(L, 0, 12);
    for (i = 0; i < NUPS; i++) lua_pushvalue(L, first + i);
    lmk_setfuncs(L, methods, NUPS);
    lua_setfield(L, -2, "__index");
}

LMK_EXPORT int luaopen_luamockit(lua_State *L) {
    static const luaL_Reg *const groups[] = {lmk_timer_funcs, lmk_dispatch_funcs, lmk_wait_funcs, lmk_clock_funcs,
                                             lmk_stats_funcs, lmk_signal_funcs};
    int i, first;
    pthread_once(&fork_once, install_fork_handler);
    lmk_port_pin();
    if (lmk_forked)
        return lmk_error(L, LMK_MSG_FORKED);
    push_universe(L);
    first = lua_gettop(L) - NUPS + 1;
    lmk_publish_api(L);

    /* the timer metatable (upvalue 4): methods in __index, __gc, ... */
    lua_pushvalue(L, first + 3);
    lmk_fill_metatable(L, first, lmk_timer_meta, lmk_timer_methods);
    lua_pop(L, 1);
    lmk_signal_init(L, first); /* the signal handle metatable */

    lua_createtable(L, 0, 20);
    for (i = 0; i < (int)(sizeof groups / sizeof groups[0]); i++) {
        int j;
        for (j = 0; j < NUPS; j++) lua_pushvalue(L, first + j);
        lmk_setfuncs(L, groups[i], NUPS);
    }
    lua_pushliteral(L, LMK_VERSION);
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
