/*
 * luamockit_api.h: the producer C API of luamockit, version 1.
 *
 * Copy or include this header in a native library whose own threads hand
 * work to Lua. The library never links against luamockit: once a Lua state
 * has done require("luamockit"), the module publishes a struct of function
 * pointers in that state's registry under LUAMOCKIT_API_KEY, and
 * luamockit_api(L) fetches it. Nothing here requires the producer to be
 * written in Go (two Go runtimes in one process are unsafe).
 *
 * Life of a producer:
 *   1. On the Lua thread: p = api->register_producer(L, &desc).
 *   2. From any thread: api->deliver(p, item) queues item; later, inside
 *      process_events() on the Lua thread, desc.decode(L, item, ud) pushes
 *      a function and its arguments and returns how many arguments it
 *      pushed; luamockit calls the function (errors go through
 *      process_events' normal error path). decode owns item from then on.
 *      api->deliver_wait(p, item, timeout_ms) does the same and blocks
 *      until the function has returned and desc.result(L, item, n, ud) has
 *      copied its n results (on top of L's stack) into item.
 *   3. On the Lua thread: api->unregister(p) drops p's queued items
 *      (desc.cancel for each plain item; blocked deliver_wait calls return
 *      LUAMOCKIT_ECANCELLED), including items a running process_events has
 *      taken but not run yet. No function of desc is called after it
 *      returns, and deliveries through p return LUAMOCKIT_ECLOSED.
 * When the Lua state closes, queued plain items are cancelled, blocked
 * deliver_wait calls return LUAMOCKIT_ECANCELLED, desc.closed(ud) is
 * called (on the thread running lua_close), and later deliveries return
 * LUAMOCKIT_ECLOSED; unregister(p) is then optional and harmless.
 *
 * A luamockit_producer * is a handle, not a pointer to memory: it stays
 * safe to pass to deliver, deliver_wait and unregister from any thread
 * after unregister or the state's close (they return LUAMOCKIT_ECLOSED, or
 * do nothing).
 *
 * Never call deliver_wait on the thread that runs the Lua state: it would
 * wait for itself. lua_close unloads C modules: a producer library whose
 * threads may still run code after its state closes must stay loaded
 * (link it with -Wl,-z,nodelete, as luamockit itself is).
 */
#ifndef LUAMOCKIT_API_H
#define LUAMOCKIT_API_H

#include <lua.h>

#define LUAMOCKIT_API_KEY "luamockit.api.v1"
#define LUAMOCKIT_API_VERSION 1

/* Status codes of deliver and deliver_wait. */
enum {
    LUAMOCKIT_OK = 0,          /* queued; deliver_wait: ran, results handed back */
    LUAMOCKIT_ECLOSED = 1,     /* state closed or producer unregistered: item not taken */
    LUAMOCKIT_ETIMEDOUT = 2,   /* deliver_wait: timeout before Lua took the item; withdrawn */
    LUAMOCKIT_ECANCELLED = 3,  /* deliver_wait: unregistered or state closed first */
    LUAMOCKIT_ECALLBACK = 4,   /* deliver_wait: the Lua function raised an error */
    LUAMOCKIT_EINVAL = 5,      /* bad argument (a NULL producer; a NULL item is delivered as is) */
    LUAMOCKIT_ENOMEM = 6       /* out of memory: item not taken */
};

typedef struct luamockit_producer luamockit_producer;

typedef struct luamockit_producer_desc {
    const char *name; /* for messages; copied */
    void *ud;         /* passed to every callback */
    /* Lua thread, inside process_events: push a function and its arguments
     * and return the number of arguments (-1: push nothing, skip the item;
     * a thread waiting for it gets LUAMOCKIT_OK and no result call). May
     * raise Lua errors. */
    int (*decode)(lua_State *L, void *item, void *ud);
    /* Lua thread, deliver_wait items only: the function's nresults results
     * are on top of L's stack; copy what you need into item. May be NULL. */
    void (*result)(lua_State *L, void *item, int nresults, void *ud);
    /* Any thread: a plain item that will never be decoded (unregister, state
     * closed); free it. Must not touch Lua. May be NULL. */
    void (*cancel)(void *item, void *ud);
    /* The Lua state is closing: stop delivering, then unregister. Must not
     * touch Lua. May be NULL. */
    void (*closed)(void *ud);
} luamockit_producer_desc;

typedef struct luamockit_api_v1 {
    int version;   /* LUAMOCKIT_API_VERSION */
    unsigned size; /* sizeof(luamockit_api_v1) */
    luamockit_producer *(*register_producer)(lua_State *L, const luamockit_producer_desc *desc);
    int (*deliver)(luamockit_producer *p, void *item);
    int (*deliver_wait)(luamockit_producer *p, void *item, int timeout_ms); /* <= 0: no timeout */
    void (*unregister)(luamockit_producer *p);
    const char *(*strerror)(int status);
} luamockit_api_v1;

/* The API of the luamockit loaded in L's state, or NULL (not required yet,
 * or an incompatible version). Call on the Lua thread. */
static inline const luamockit_api_v1 *luamockit_api(lua_State *L) {
    const luamockit_api_v1 *api;
    lua_getfield(L, LUA_REGISTRYINDEX, LUAMOCKIT_API_KEY);
    api = (const luamockit_api_v1 *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (api == NULL || api->version != LUAMOCKIT_API_VERSION || api->size < sizeof *api) return NULL;
    return api;
}

#endif
