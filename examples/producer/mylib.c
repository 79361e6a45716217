/*
 * mylib.c: a small producer library. Its own pthread hands work to Lua
 * through luamockit's producer C API (luamockit_api.h, found with
 * `luamockit-config --cflags`); it never links against luamockit and never
 * touches a lua_State from its thread.
 *
 *   local mylib = require("mylib")          -- loads luamockit itself
 *   local job = mylib.start{
 *     count = 5, interval_ms = 20,
 *     on_item = function(seq, text) end,    -- one call per plain item
 *     on_ask = function(question) return answer end,  -- one deliver_wait
 *   }
 *   -- drive luamockit: mit.wait() + mit.process_events() until job:done()
 *   local answer, status = job:join()       -- what on_ask returned, status name
 *   job:close()                             -- unregister (also done by __gc)
 *
 * The thread delivers `count` plain items (api->deliver: fire and forget),
 * then one item with api->deliver_wait: it blocks until Lua's on_ask has
 * run and its result has been copied into the item.
 *
 * Who owns an item:
 *   plain item: the producer until deliver() returns LUAMOCKIT_OK; then
 *     luamockit, which hands it to decode() (which frees it here) or, if it
 *     will never be decoded (unregister, state closed), to cancel().
 *   deliver_wait item: always the delivering thread. decode() and result()
 *     only read and fill it; the thread frees it after deliver_wait returns,
 *     whatever the status (OK, ETIMEDOUT: withdrawn before Lua took it,
 *     ECANCELLED, ECALLBACK...). cancel() is never called for it.
 *
 * Build: see Makefile (make LUAMOCKIT_CONFIG=<tree>/bin/luamockit-config).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>

#include <lua.h>
#include <lauxlib.h>

#include "luamockit_api.h"

#define JOB_MT "mylib.job"

typedef struct item {
    int wait;        /* a deliver_wait item */
    int seq;
    char text[32];
    double answer;   /* deliver_wait: on_ask's result, copied by result() */
    int answered;
} item;

typedef struct job {
    const luamockit_api_v1 *api;
    luamockit_producer *p;
    int on_item_ref, on_ask_ref; /* registry references (luaL_ref) */
    int count, interval_ms;
    pthread_t tid;
    int started, joined;
    int done;        /* set by the thread when it has finished (atomic) */
    int closed;      /* the Lua state is closing (atomic) */
    int status;      /* of the deliver_wait */
    double answer;
    int answered;
} job;

static void sleep_ms(int ms) {
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* ---- the producer's callbacks (see luamockit_api.h) ---- */

/* Lua thread, inside process_events: push the function and its arguments. */
static int decode(lua_State *L, void *ud_item, void *ud) {
    job *j = ud;
    item *it = ud_item;
    if (it->wait) { /* the waiting thread owns it: read only */
        lua_rawgeti(L, LUA_REGISTRYINDEX, j->on_ask_ref);
        lua_pushstring(L, it->text);
        return 1;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, j->on_item_ref);
    lua_pushinteger(L, it->seq);
    lua_pushstring(L, it->text);
    free(it); /* a plain item is decode's from now on */
    return 2;
}

/* Lua thread, deliver_wait items only: copy the results into the item. */
static void result(lua_State *L, void *ud_item, int nresults, void *ud) {
    item *it = ud_item;
    (void)ud;
    if (nresults >= 1 && lua_isnumber(L, -nresults)) {
        it->answer = lua_tonumber(L, -nresults);
        it->answered = 1;
    }
}

/* Any thread: a plain item that will never be decoded. No Lua here. */
static void cancel(void *ud_item, void *ud) {
    (void)ud;
    free(ud_item);
}

/* The Lua state is closing: stop delivering. No Lua here. */
static void closed(void *ud) {
    job *j = ud;
    __atomic_store_n(&j->closed, 1, __ATOMIC_SEQ_CST);
}

/* ---- the producer thread ---- */

static void *run(void *arg) {
    job *j = arg;
    for (int seq = 1; seq <= j->count && !__atomic_load_n(&j->closed, __ATOMIC_SEQ_CST); seq++) {
        item *it = calloc(1, sizeof *it);
        if (it == NULL) break;
        it->seq = seq;
        snprintf(it->text, sizeof it->text, "item %d", seq);
        int st = j->api->deliver(j->p, it);
        if (st != LUAMOCKIT_OK) { /* not taken: still ours */
            free(it);
            break;
        }
        sleep_ms(j->interval_ms);
    }
    /* One question, answered by Lua: block until on_ask has returned. */
    item *q = calloc(1, sizeof *q);
    if (q != NULL) {
        q->wait = 1;
        snprintf(q->text, sizeof q->text, "sum of 1..%d?", j->count);
        j->status = j->api->deliver_wait(j->p, q, 5000);
        j->answer = q->answer;
        j->answered = q->answered;
        free(q); /* ours, whatever the status */
    } else {
        j->status = LUAMOCKIT_ENOMEM;
    }
    __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* ---- the Lua side ---- */

static job *check_job(lua_State *L) {
    return (job *)luaL_checkudata(L, 1, JOB_MT);
}

static int ref_field(lua_State *L, int t, const char *name) {
    lua_getfield(L, t, name);
    if (!lua_isfunction(L, -1)) luaL_error(L, "mylib.start: field '%s' must be a function", name);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* mylib.start{count =, interval_ms =, on_item =, on_ask =} -> job */
static int l_start(lua_State *L) {
    const luamockit_api_v1 *api = luamockit_api(L);
    if (api == NULL) return luaL_error(L, "mylib: the luamockit producer API is not loaded");
    luaL_checktype(L, 1, LUA_TTABLE);
    job *j = lua_newuserdata(L, sizeof *j);
    memset(j, 0, sizeof *j);
    j->on_item_ref = j->on_ask_ref = LUA_NOREF;
    luaL_getmetatable(L, JOB_MT);
    lua_setmetatable(L, -2);
    lua_getfield(L, 1, "count");
    j->count = (int)luaL_optinteger(L, -1, 5);
    lua_getfield(L, 1, "interval_ms");
    j->interval_ms = (int)luaL_optinteger(L, -1, 20);
    lua_pop(L, 2);
    j->on_item_ref = ref_field(L, 1, "on_item");
    j->on_ask_ref = ref_field(L, 1, "on_ask");
    j->api = api;

    luamockit_producer_desc desc = { "mylib", j, decode, result, cancel, closed };
    j->p = api->register_producer(L, &desc);
    if (j->p == NULL) return luaL_error(L, "mylib.start: register_producer failed");
    if (pthread_create(&j->tid, NULL, run, j) != 0) return luaL_error(L, "mylib.start: pthread_create failed");
    j->started = 1;
    return 1;
}

/* job:done() -> true once the thread has finished */
static int l_done(lua_State *L) {
    job *j = check_job(L);
    lua_pushboolean(L, __atomic_load_n(&j->done, __ATOMIC_SEQ_CST));
    return 1;
}

/* job:join() -> answer (or nil), status name. Only once job:done(): the
 * thread may be blocked in deliver_wait until Lua drains the queue. */
static int l_join(lua_State *L) {
    job *j = check_job(L);
    if (!__atomic_load_n(&j->done, __ATOMIC_SEQ_CST))
        return luaL_error(L, "mylib: job:join() before job:done() (drain luamockit first)");
    if (j->started && !j->joined) {
        pthread_join(j->tid, NULL);
        j->joined = 1;
    }
    if (j->answered) lua_pushnumber(L, j->answer); else lua_pushnil(L);
    lua_pushstring(L, j->api->strerror(j->status));
    return 2;
}

/* job:close(): unregister (items still queued are cancelled) and release
 * the callbacks. Joins the thread if it has finished. */
static int l_close(lua_State *L) {
    job *j = check_job(L);
    if (j->p != NULL) {
        j->api->unregister(j->p); /* a blocked deliver_wait returns ECANCELLED */
        j->p = NULL;
    }
    if (j->started && !j->joined) {
        pthread_join(j->tid, NULL);
        j->joined = 1;
    }
    luaL_unref(L, LUA_REGISTRYINDEX, j->on_item_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, j->on_ask_ref);
    j->on_item_ref = j->on_ask_ref = LUA_NOREF;
    return 0;
}

static const luaL_Reg job_methods[] = {
    { "done", l_done }, { "join", l_join }, { "close", l_close }, { NULL, NULL }
};

int luaopen_mylib(lua_State *L) {
    /* Load luamockit first: it publishes the API in the registry. */
    lua_getglobal(L, "require");
    lua_pushstring(L, "luamockit");
    lua_call(L, 1, 0);
    if (luamockit_api(L) == NULL)
        return luaL_error(L, "mylib: luamockit's producer API v%d not found", LUAMOCKIT_API_VERSION);

    if (luaL_newmetatable(L, JOB_MT)) {
        lua_newtable(L);
        for (const luaL_Reg *r = job_methods; r->name; r++) {
            lua_pushcfunction(L, r->func);
            lua_setfield(L, -2, r->name);
        }
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, l_start);
    lua_setfield(L, -2, "start");
    return 1;
}
