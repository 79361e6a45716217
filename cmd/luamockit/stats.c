/*
 * stats.c: looking at the timers from Lua: mit.timers(), mit.next_due()
 * and mit.stats(). Nothing here runs a callback or moves a schedule.
 */
#include <stdlib.h>

#include "lmk.h"

/* Counts timers, and with v set lists up to cap of them, each held
 * (r->refs) for the caller: the records a listing points at must outlive
 * the allocations that follow, whose collection steps may run any
 * finalizer (timer.c's rule). */
typedef struct rec_list {
    lmk_rec **v;
    size_t n, cap;
    int64_t armed, stopped;
    int64_t sig_armed, sig_stopped; /* signal handles (signal.c): not timers */
} rec_list;

static void collect(lmk_rec *r, void *ctx) {
    rec_list *l = (rec_list *)ctx;
    if (r->flags & LMK_F_SIGNAL) {
        if (r->state == LMK_T_ARMED) l->sig_armed++;
        else if (r->state == LMK_T_STOPPED) l->sig_stopped++;
        return;
    }
    if (r->state == LMK_T_ARMED) l->armed++;
    else if (r->state == LMK_T_STOPPED) l->stopped++;
    else return; /* a one-off that has run, or destroyed */
    if (l->v == NULL || l->n == l->cap) return;
    r->refs++;
    l->v[l->n++] = r;
}

static int by_id(const void *a, const void *b) {
    uint64_t x = (*(lmk_rec *const *)a)->id, y = (*(lmk_rec *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* [-1, +1, m] build_list(list): the array of handles for the records held
 * in list (a rec_list *), under timers()' lua_pcall; a closure over the
 * module's upvalues. */
static int build_list(lua_State *L) {
    const rec_list *l = (const rec_list *)lua_touserdata(L, 1);
    lmk_state *st = (lmk_state *)lua_touserdata(L, STATE);
    size_t i;
    lua_createtable(L, (int)l->n, 0);
    for (i = 0; i < l->n; i++) {
        lmk_push_handle(L, st, l->v[i]);
        lua_rawseti(L, 2, (int)i + 1);
    }
    return 1;
}

/* [-0, +1, e] timers() -> an array of this state's live timers (armed or
 * stopped; no signal handles), in the order they were armed: the handles Lua holds, or new
 * ones (lmk_push_handle). The records are held while the array is built,
 * and let go whether or not it could be. */
static int l_timers(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    rec_list l = {NULL, 0, 0, 0, 0, 0, 0};
    size_t i;
    int status;
    lua_settop(L, 0);
    for (i = 1; i <= NUPS; i++) lua_pushvalue(L, lua_upvalueindex((int)i));
    lua_pushcclosure(L, build_list, NUPS); /* allocates: before anything is held */
    lmk_recs_each(st, collect, &l);   /* count */
    l.cap = (size_t)(l.armed + l.stopped);
    l.v = (lmk_rec **)lmk_newuserdata(L, (l.cap ? l.cap : 1) * sizeof *l.v); /* at 2 */
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, &l);
    lmk_recs_each(st, collect, &l); /* fill and hold: allocates nothing */
    if (l.n > 1) qsort(l.v, l.n, sizeof *l.v, by_id);
    status = lua_pcall(L, 1, 1, 0);
    for (i = 0; i < l.n; i++) lmk_rec_drop(L, st, l.v[i], CBS);
    if (status != 0) lua_error(L);
    return 1;
}

/* [-0, +1, e] next_due() -> ms until the earliest armed timer of this state
 * is due (>= 0), or nil if none is armed: a ready timeout for select() or
 * poll(). */
static int l_next_due(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    int64_t due = lmk_next_due(st), left;
    if (due == INT64_MAX) {
        lua_pushnil(L);
        return 1;
    }
    left = due - lmk_now(st);
    lua_pushnumber(L, left > 0 ? (lua_Number)left / 1e6 : 0);
    return 1;
}

static void set_int(lua_State *L, const char *k, int64_t v) {
    lua_pushnumber(L, (lua_Number)v); /* exact to 2^53 */
#if LUA_VERSION_NUM >= 503
    lua_pop(L, 1);
    lua_pushinteger(L, (lua_Integer)v);
#endif
    lua_setfield(L, -2, k);
}

/* [-0, +1, e] stats() -> a table of counts: timers (live: armed or
 * stopped), armed, stopped, pending, callbacks (run since require, items
 * included), items (producer items run), signals (signal handles, armed
 * or stopped: not timers), signals_armed (those catching), errors
 * (callbacks that raised),
 * drains (process_events and poll calls), late_ms (how late the first
 * expiration of the last drain ran: the time from its due time to the
 * drain's start), late_max_ms (the most of those), clock ("go": Go's queue
 * keeps every timer's time). */
static int l_stats(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    rec_list l = {NULL, 0, 0, 0, 0, 0, 0}; /* v NULL: count only */
    lmk_recs_each(st, collect, &l);
    lua_createtable(L, 0, 13);
    set_int(L, "timers", l.armed + l.stopped);
    set_int(L, "armed", l.armed);
    set_int(L, "stopped", l.stopped);
    set_int(L, "signals", l.sig_armed + l.sig_stopped);
    set_int(L, "signals_armed", l.sig_armed);
    set_int(L, "pending", lmk_pending(st, NULL));
    set_int(L, "callbacks", (int64_t)st->callbacks);
    set_int(L, "items", (int64_t)st->items);
    set_int(L, "errors", (int64_t)st->errors);
    set_int(L, "drains", (int64_t)st->drains);
    lua_pushnumber(L, (lua_Number)st->late_last / 1e6);
    lua_setfield(L, -2, "late_ms");
    lua_pushnumber(L, (lua_Number)st->late_max / 1e6);
    lua_setfield(L, -2, "late_max_ms");
    lua_pushliteral(L, "go");
    lua_setfield(L, -2, "clock");
    return 1;
}

const luaL_Reg lmk_stats_funcs[] = {
    {"timers", l_timers},
    {"next_due", l_next_due},
    {"stats", l_stats},
    {NULL, NULL}
};
