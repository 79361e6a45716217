/*
 * producer.c: the producer C API (luamockit_api.h), DarkSideSync's idea on
 * the universe's hub (hub.c): producer threads deliver into its ring, in C,
 * without entering Go; decode and result run on the Lua thread inside
 * process_events (dispatch.c), one item at a time, each under its own
 * lua_pcall so that a waiting thread learns the outcome.
 */
#include <stdlib.h>
#include <string.h>

#include "lmk.h"

/* What the Lua thread keeps of a producer: its description. Producer
 * threads never see it: the handle they hold (luamockit_producer *) is a
 * hub handle (hub index, slot, sequence), so a delivery through a handle
 * that was unregistered, or whose state closed, finds a stale slot and
 * returns LUAMOCKIT_ECLOSED instead of touching freed memory. */
typedef struct lmk_producer {
    luamockit_producer_desc d;
    char *name;
    int dead;                    /* unregistered */
    uintptr_t handle;
    lmk_state *st;
    struct lmk_producer *next;
} lmk_producer;

static lmk_state *universe_of(lua_State *L) {
    lmk_state *st;
    lua_getfield(L, LUA_REGISTRYINDEX, LMK_STATE);
    if (!lua_istable(L, -1)) { lua_pop(L, 1); return NULL; }
    lua_rawgeti(L, -1, 1);
    st = (lmk_state *)lua_touserdata(L, -1);
    lua_pop(L, 2);
    return st;
}

static void free_producer(lmk_producer *p) {
    free(p->name);
    free(p);
}

static luamockit_producer *api_register(lua_State *L, const luamockit_producer_desc *d) {
    lmk_state *st = universe_of(L);
    lmk_producer *p;
    if (st == NULL || st->q == 0 || lmk_forked || d == NULL || d->decode == NULL) return NULL;
    p = (lmk_producer *)calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    p->d = *d;
    if (d->name && (p->name = strdup(d->name)) == NULL) {
        free(p);
        return NULL;
    }
    p->d.name = p->name;
    if (lmk_hub_add_producer(st->hub, p, &p->handle) != 0) {
        free_producer(p);
        return NULL;
    }
    p->st = st;
    p->next = st->producers;
    st->producers = p;
    return (luamockit_producer *)p->handle;
}

static int api_deliver(luamockit_producer *h, void *item) {
    if (h == NULL) return LUAMOCKIT_EINVAL;
    return lmk_hub_deliver((uintptr_t)h, item, -1);
}

static int api_deliver_wait(luamockit_producer *h, void *item, int timeout_ms) {
    if (h == NULL) return LUAMOCKIT_EINVAL;
    return lmk_hub_deliver((uintptr_t)h, item, timeout_ms > 0 ? timeout_ms : 0);
}

static void unlink_producer(lmk_state *st, lmk_producer *p) {
    lmk_producer **pp;
    for (pp = &st->producers; *pp; pp = &(*pp)->next) {
        if (*pp == p) { *pp = p->next; return; }
    }
}

/* A queued plain item that will never be decoded. */
static void cancel_item(void *owner, void *item) {
    lmk_producer *p = (lmk_producer *)owner;
    if (p != NULL && p->d.cancel) p->d.cancel(item, p->d.ud);
}

static void api_unregister(luamockit_producer *h) {
    /* The hub forgets the producer, cancels its queued items and answers
     * its waiting threads; a closed state's or a second unregister's
     * handle is stale and finds nothing. The state lives, so this is its
     * Lua thread (the API's contract). */
    lmk_producer *p;
    if (h == NULL || (p = (lmk_producer *)lmk_hub_remove_producer((uintptr_t)h, cancel_item)) == NULL) return;
    p->dead = 1;
    if (p->st->depth == 0) { /* no drain can still be running its item */
        unlink_producer(p->st, p);
        free_producer(p);
    } /* else freed by lmk_producers_sweep when process_events returns */
}

/* api->strerror: the producer C API's status codes are one of the two
 * code spaces of lmk_code_message (guard.c). */
static const char *api_strerror(int status) { return lmk_code_message(LMK_CODES_API, status); }

static const luamockit_api_v1 api = {
    LUAMOCKIT_API_VERSION,
    sizeof(luamockit_api_v1),
    api_register,
    api_deliver,
    api_deliver_wait,
    api_unregister,
    api_strerror,
};

/* [-0, +0, e] registry[LUAMOCKIT_API_KEY] = &api */
void lmk_publish_api(lua_State *L) {
    lua_pushlightuserdata(L, (void *)&api);
    lua_setfield(L, LUA_REGISTRYINDEX, LUAMOCKIT_API_KEY);
}

/* An item being run, and whether decode has been given it. */
typedef struct item_run {
    const lmk_record *r;
    lmk_producer *p;
    int started;
} item_run;

/* [-0, +1, e] runs in lua_pcall: decode, call, hand results back; returns
 * whether a callback ran. Before decode takes the item, it makes sure that
 * calling the callback will need no memory (stack room, and the CallInfo
 * of a call from this frame): a memory error before that leaves the item
 * whole (started is still 0), for lmk_run_item to hand back. */
static int run_item(lua_State *L) {
    item_run *ir = (item_run *)lua_touserdata(L, 1);
    const lmk_record *r = ir->r;
    lmk_producer *p = ir->p;
    int nargs;
    lua_settop(L, 0);
    if (!lua_checkstack(L, LMK_CALL_ROOM)) return luaL_error(L, LMK_MSG_NOSTACK_ITEM);
    lua_rawgeti(L, MISC, MISC_NOOP);
    lua_call(L, 0, 0);
    ir->started = 1;
    nargs = p->d.decode(L, r->item, p->d.ud);
    if (nargs < 0) {
        lua_settop(L, 0);
        lua_pushboolean(L, 0);
        return 1;
    }
    if (lua_gettop(L) != nargs + 1)
        return luaL_error(L, LMK_FMT_DECODE_COUNT,
                          p->name ? p->name : "?", lua_gettop(L), nargs);
    if (!lua_isfunction(L, 1))
        return luaL_error(L, LMK_FMT_DECODE_TYPE,
                          p->name ? p->name : "?", luaL_typename(L, 1));
    if (r->w == NULL) {
        const lmk_state *st = (const lmk_state *)lua_touserdata(L, STATE);
        /* through setrunner's f, as a timer's (decode may have used the room) */
        if (st->runner && !lua_checkstack(L, 1)) return luaL_error(L, LMK_MSG_NOSTACK_ITEM);
        nargs = lmk_runner_below(L, st, nargs);
        lua_call(L, nargs, 0);
    } else { /* deliver_wait: called directly, its thread waits for the results */
        lua_call(L, nargs, LUA_MULTRET);
        /* Unregistered by its own callback: p's functions are off limits. */
        if (!p->dead && p->d.result) p->d.result(L, r->item, lua_gettop(L), p->d.ud);
    }
    lua_settop(L, 0);
    lua_pushboolean(L, 1);
    return 1;
}

const lua_CFunction lmk_item_runner = run_item;

/* The name of an item's producer (NULL if it has none); valid while a
 * drain runs (producers are freed after it). */
const char *lmk_producer_name(lmk_state *st, const lmk_record *r) {
    lmk_producer *p = (lmk_producer *)lmk_hub_owner(st->hub, r->slot);
    return p ? p->name : NULL;
}

/* Runs one taken item (owner: its producer) under lua_pcall with the
 * message handler at msgh. Returns -1 if nothing ran (decode skipped it),
 * -2 with an error on the stack if it could not start (a memory error: the
 * item is back at the head of the ring, or released if its producer went
 * meanwhile), else lua_pcall's status (the error on the stack if
 * non-zero). */
int lmk_run_item(lua_State *L, lmk_state *st, const lmk_record *r, void *owner, int msgh) {
    lmk_producer *p = (lmk_producer *)owner;
    item_run ir;
    int status, ran = 1;
    ir.r = r;
    ir.p = p;
    ir.started = 0;
    lua_rawgeti(L, MISC, MISC_ITEM); /* run_item, made at require: pushing it allocates nothing */
    lua_pushlightuserdata(L, &ir);
    status = lua_pcall(L, 1, 1, msgh);
    if (status != 0 && !ir.started) {
        if (lmk_hub_put_back(st->hub, r) && r->w == NULL) cancel_item(p, r->item); /* its producer went */
        return -2;
    }
    if (status == 0) {
        ran = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    if (r->w != NULL)
        lmk_wake_done(&st->hub->wk, r->w, status != 0 ? LUAMOCKIT_ECALLBACK : p->dead ? LUAMOCKIT_ECANCELLED : LUAMOCKIT_OK);
    return status == 0 && !ran ? -1 : status;
}

/* Frees the producers unregistered during a drain. */
void lmk_producers_sweep(lmk_state *st) {
    lmk_producer **pp = &st->producers;
    while (*pp) {
        lmk_producer *p = *pp;
        if (p->dead) { *pp = p->next; free_producer(p); }
        else pp = &p->next;
    }
}

/* The state is closing (after the Go queue was closed): the hub takes no
 * more deliveries, cancels what is queued and answers waiting threads;
 * then every live producer is told, and all are freed. */
void lmk_producers_close(lmk_state *st) {
    lmk_producer *p = st->producers, *next;
    lmk_hub_close(st->hub, cancel_item);
    st->hub = NULL;
    st->producers = NULL;
    for (; p; p = next) {
        next = p->next;
        if (!p->dead && p->d.closed) p->d.closed(p->d.ud);
        free_producer(p);
    }
}
