/*
 * testproducer.c: a real producer library for the tests, written the way a
 * user's native library would be: plain C and pthreads, reaching luamockit
 * only through luamockit_api.h (never linked against it). Built by the
 * Makefile (target test-modules) for Lua 5.1 (also loaded by LuaJIT) and
 * Lua 5.4 into build/test/lua5.X/testproducer.so.
 *
 *   local tp = require("testproducer")   -- after require("luamockit")
 *
 * Plain deliveries (api->deliver):
 *   job = tp.start{threads = 4, count = 100000, cb = function(thread, seq) end,
 *                  [skip_every = k], [decode_error_at = seq], [not_a_function_at = seq],
 *                  [name = "..."]}
 *     Each thread (1..threads) delivers items {thread, seq = 1..count};
 *     decode pushes cb, thread, seq and frees the item. skip_every = k: decode
 *     returns -1 (skip) for every item whose seq is a multiple of k.
 *     not_a_function_at = s: for the item of seq s, decode pushes the number
 *     42 where the callback goes.
 *     decode_error_at = s: decode frees the item of seq s and raises
 *     "testproducer: decode error at <thread>:<seq>".
 *     A thread stops at the first status other than LUAMOCKIT_OK.
 *
 * Deliver-and-wait (api->deliver_wait):
 *   job = tp.start_wait{threads = N, count = M, cb = function(a, b, thread, seq) end,
 *                       [timeout_ms = ms], [skip_every = k]}
 *     Each thread delivers items {a, b} (pseudo-random integers < 2^30) one
 *     at a time and waits; decode pushes cb, a, b, thread, seq; the result
 *     function stores the callback's first result (a number) in the item.
 *     The thread counts a mismatch when the status is LUAMOCKIT_OK and that
 *     result is not a + b. It stops at LUAMOCKIT_ECLOSED or
 *     LUAMOCKIT_ECANCELLED (it never delivers through a producer that may
 *     have been unregistered) and goes on after any other status.
 *
 * Job methods:
 *   job:done()        -> true when every thread has finished
 *   job:join()        -> stats (below), after joining the threads. A wait
 *                        job without timeout whose threads still run raises
 *                        instead of deadlocking (drain first).
 *   job:stats()       -> {delivered, decoded, skipped, cancelled, closed,
 *                         results, mismatches, threads_done,
 *                         status = {OK =, ECLOSED =, ETIMEDOUT =, ECANCELLED =,
 *                                   ECALLBACK =, EINVAL =}}
 *                        delivered: plain items deliver() accepted
 *                        (deliver_wait calls are counted in status only);
 *                        decoded: decode calls; cancelled: cancel calls;
 *                        closed: closed calls.
 *   job:unregister()  -> cancel calls made during the api->unregister call.
 *                        A plain job's threads are stopped and joined
 *                        first. A wait job's threads must be done, or be
 *                        blocked with their item queued (mit.pending()
 *                        counts it): unregister releases them.
 *   job:unregister_and_deliver()
 *                     -> status names of a plain deliver and of a
 *                        deliver_wait (from a helper thread, timeout 500 ms)
 *                        through the producer right after unregister
 *                        (both must be ECLOSED: handles stay valid).
 *   job:deliver(thread, seq) -> status name: one plain delivery from the
 *                        calling (Lua) thread.
 *   job:deliver_unchecked(thread, seq): the same, even after unregister
 *                        (the API answers ECLOSED through a dead handle).
 *   job:handle()      -> the producer handle, as a string.
 *   job:first_calls(n) -> {us, ...}: n fresh threads, one after another,
 *                        each times its first delivery (a plain item).
 * Both kinds take [interval_us = us]: a pause after each delivery. Stats
 * also carry cpu_us and csw: the CPU time and context switches of the
 * job's threads (Linux: RUSAGE_THREAD), added as each thread ends.
 *
 * State close with blocked threads:
 *   tp.close_with_blocked{n = 1000, cpath = package.cpath, [plain = k], [stack_kb = 64]}
 *     Creates a fresh lua_State (luaL_newstate + luaL_openlibs, provided by
 *     the interpreter that loaded this module), requires luamockit in it,
 *     registers a producer there, starts n threads that each do one
 *     deliver_wait without timeout, delivers k plain items from the calling
 *     thread, waits until that state's mit.pending() is n + k, lua_close()s
 *     it, joins the threads. Returns
 *     {started, pending_seen, api_before_require (boolean), cancelled
 *      (threads that got ECANCELLED), cancel_calls, closed (closed() calls),
 *      status = {...}, after_deliver, after_deliver_wait}
 *     (after_*: status names of deliveries through the producer after the
 *     close, before it is unregistered).
 *
 * Misc: tp.OK .. tp.ENOMEM (the status codes), tp.strerror(code),
 *       tp.rusage() -> process CPU us, process context switches, and the
 *       calling thread's CPU us and context switches,
 *       tp.deliver_null() -> status name of deliver(NULL producer),
 *       tp.register_without_decode() -> whether registration succeeded.
 *
 * Memory: items are malloc'd by the producer threads and freed in decode
 * (plain items), by the waiting thread (wait items) or in cancel. Job
 * structs are never freed: the API gives no signal for when the last
 * callback of an unregistered producer has run (see job_gc).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "luamockit_api.h"

#define JOB_MT "testproducer.job"
#define NSTATUS 8

#if LUA_VERSION_NUM < 502
static void tp_setfuncs(lua_State *L, const luaL_Reg *l) {
    for (; l->name; l++) {
        lua_pushcfunction(L, l->func);
        lua_setfield(L, -2, l->name);
    }
}
#else
#define tp_setfuncs(L, l) luaL_setfuncs(L, l, 0)
#endif

static const char *status_name(int st) {
    switch (st) {
    case LUAMOCKIT_OK: return "OK";
    case LUAMOCKIT_ECLOSED: return "ECLOSED";
    case LUAMOCKIT_ETIMEDOUT: return "ETIMEDOUT";
    case LUAMOCKIT_ECANCELLED: return "ECANCELLED";
    case LUAMOCKIT_ECALLBACK: return "ECALLBACK";
    case LUAMOCKIT_EINVAL: return "EINVAL";
    case LUAMOCKIT_ENOMEM: return "ENOMEM";
    }
    return "UNKNOWN";
}

static int status_index(int st) { return (st >= 0 && st < NSTATUS - 1) ? st : NSTATUS - 1; }

#define ADD(p, n) __atomic_add_fetch((p), (n), __ATOMIC_SEQ_CST)
#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The luamockit API of L's state, or raise. */
static const luamockit_api_v1 *need_api(lua_State *L) {
    const luamockit_api_v1 *api = luamockit_api(L);
    if (api == NULL) luaL_error(L, "testproducer: luamockit API not found (require \"luamockit\" first)");
    return api;
}

/* ---- items ---- */

typedef struct pitem { int thread; long seq; } pitem;

typedef struct witem {
    int thread;
    long seq;
    double a, b;
    double result;
    int got;      /* result function stored a number */
    int nres;     /* nresults seen by the result function (-1: not called) */
} witem;

/* ---- jobs ---- */

typedef struct job job;

typedef struct targ {
    job *j;
    int thread; /* 1-based */
} targ;

struct job {
    const luamockit_api_v1 *api;
    luamockit_producer *p;
    int wait;           /* deliver_wait job */
    int nthreads;
    long count;
    int timeout_ms;
    long skip_every;
    long decode_error_at;
    long not_a_function_at;
    int cbref;
    pthread_t *tids;
    targ *args;
    int started;        /* threads created */
    int joined;
    int unregistered;
    int stop;           /* atomic: threads stop before their next delivery */
    int running;        /* atomic: threads not finished */
    /* counters (atomic where another thread may touch them) */
    long delivered, decoded, skipped, cancelled, closed, results, mismatches;
    long status[NSTATUS];
    long interval_us;   /* pause between a thread's deliveries */
    long cpu_us, csw;   /* the threads' CPU time and context switches, added as each ends */
    job *retired_next;  /* the list of retired jobs (job_gc) */
};

static int j_decode(lua_State *L, void *item, void *ud) {
    job *j = (job *)ud;
    j->decoded++;
    if (!j->wait) {
        pitem it = *(pitem *)item;
        free(item); /* decode owns plain items */
        if (j->skip_every > 0 && it.seq % j->skip_every == 0) {
            j->skipped++;
            return -1;
        }
        if (j->decode_error_at > 0 && it.seq == j->decode_error_at)
            return luaL_error(L, "testproducer: decode error at %d:%d", it.thread, (int)it.seq);
        if (j->not_a_function_at > 0 && it.seq == j->not_a_function_at) lua_pushinteger(L, 42);
        else lua_rawgeti(L, LUA_REGISTRYINDEX, j->cbref);
        lua_pushinteger(L, (lua_Integer)it.thread);
        lua_pushinteger(L, (lua_Integer)it.seq);
        return 2;
    } else {
        witem *it = (witem *)item; /* owned by the waiting thread */
        if (j->skip_every > 0 && it->seq % j->skip_every == 0) {
            j->skipped++;
            return -1;
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, j->cbref);
        lua_pushnumber(L, (lua_Number)it->a);
        lua_pushnumber(L, (lua_Number)it->b);
        lua_pushinteger(L, (lua_Integer)it->thread);
        lua_pushinteger(L, (lua_Integer)it->seq);
        return 4;
    }
}

static void j_result(lua_State *L, void *item, int nresults, void *ud) {
    job *j = (job *)ud;
    witem *it = (witem *)item;
    j->results++;
    it->nres = nresults;
    if (nresults >= 1 && lua_type(L, -nresults) == LUA_TNUMBER) {
        it->result = (double)lua_tonumber(L, -nresults);
        it->got = 1;
    }
}

static void j_cancel(void *item, void *ud) {
    job *j = (job *)ud;
    ADD(&j->cancelled, 1);
    free(item);
}

static void j_closed(void *ud) {
    job *j = (job *)ud;
    ADD(&j->closed, 1);
    STORE(&j->stop, 1);
}

static uint32_t xorshift(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* This thread's CPU time (us) and context switches so far. */
static void thread_usage(long *cpu_us, long *csw) {
#ifdef RUSAGE_THREAD
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    *cpu_us = (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    *csw = ru.ru_nvcsw + ru.ru_nivcsw;
#else
    *cpu_us = *csw = 0;
#endif
}

/* A thread ends: its CPU and switches go to the job's. */
static void thread_end(job *j) {
    long cpu, csw;
    thread_usage(&cpu, &csw);
    ADD(&j->cpu_us, cpu);
    ADD(&j->csw, csw);
    ADD(&j->running, -1);
}

static void pause_us(long us) {
    struct timespec ts;
    if (us <= 0) return;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void *plain_thread(void *arg) {
    targ *a = (targ *)arg;
    job *j = a->j;
    long seq, st[NSTATUS] = {0};
    int i;
    for (seq = 1; seq <= j->count; seq++) {
        pitem *it;
        int s;
        if (LOAD(&j->stop)) break;
        it = (pitem *)malloc(sizeof *it);
        if (it == NULL) break;
        it->thread = a->thread;
        it->seq = seq;
        s = j->api->deliver(j->p, it);
        st[status_index(s)]++;
        if (s != LUAMOCKIT_OK) {
            free(it);
            break;
        }
        ADD(&j->delivered, 1);
        pause_us(j->interval_us);
    }
    for (i = 0; i < NSTATUS; i++)
        if (st[i]) ADD(&j->status[i], st[i]);
    thread_end(j);
    return NULL;
}

static void *wait_thread(void *arg) {
    targ *a = (targ *)arg;
    job *j = a->j;
    uint32_t rnd = 2463534242u ^ (uint32_t)(a->thread * 2654435761u);
    long seq, st[NSTATUS] = {0}, mism = 0;
    int i;
    for (seq = 1; seq <= j->count; seq++) {
        witem *it;
        int s;
        if (LOAD(&j->stop)) break;
        it = (witem *)calloc(1, sizeof *it);
        if (it == NULL) break;
        it->thread = a->thread;
        it->seq = seq;
        it->a = (double)(xorshift(&rnd) >> 2);
        it->b = (double)(xorshift(&rnd) >> 2);
        it->nres = -1;
        s = j->api->deliver_wait(j->p, it, j->timeout_ms);
        st[status_index(s)]++;
        if (s == LUAMOCKIT_OK && !(it->got && it->result == it->a + it->b)) mism++;
        free(it); /* the waiting thread owns wait items */
        if (s == LUAMOCKIT_ECLOSED || s == LUAMOCKIT_ECANCELLED || s == LUAMOCKIT_EINVAL) break;
        pause_us(j->interval_us);
    }
    for (i = 0; i < NSTATUS; i++)
        if (st[i]) ADD(&j->status[i], st[i]);
    if (mism) ADD(&j->mismatches, mism);
    thread_end(j);
    return NULL;
}

static job *checkjob(lua_State *L) {
    job **pj = (job **)luaL_checkudata(L, 1, JOB_MT);
    if (*pj == NULL) luaL_error(L, "testproducer: job is gone");
    return *pj;
}

static long opt_field(lua_State *L, int t, const char *k, long def) {
    long v;
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) v = def;
    else if (lua_type(L, -1) == LUA_TNUMBER) v = (long)lua_tonumber(L, -1);
    else {
        luaL_error(L, "testproducer: option '%s' must be a number", k);
        v = def;
    }
    lua_pop(L, 1);
    return v;
}

static int start_threads(job *j, size_t stack) {
    pthread_attr_t attr;
    int i, rc = 0;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    STORE(&j->running, j->nthreads);
    for (i = 0; i < j->nthreads; i++) {
        j->args[i].j = j;
        j->args[i].thread = i + 1;
        rc = pthread_create(&j->tids[i], &attr, j->wait ? wait_thread : plain_thread, &j->args[i]);
        if (rc != 0) {
            ADD(&j->running, -(j->nthreads - i));
            break;
        }
        j->started++;
    }
    pthread_attr_destroy(&attr);
    return rc;
}

static void join_threads(job *j) {
    int i;
    if (j->joined) return;
    for (i = 0; i < j->started; i++) pthread_join(j->tids[i], NULL);
    j->joined = 1;
}

/* start{...} / start_wait{...} */
static int start(lua_State *L, int wait) {
    const luamockit_api_v1 *api = need_api(L);
    luamockit_producer_desc d;
    job *j, **pj;
    int rc;
    luaL_checktype(L, 1, LUA_TTABLE);
    j = (job *)calloc(1, sizeof *j);
    if (j == NULL) return luaL_error(L, "testproducer: out of memory");
    j->api = api;
    j->wait = wait;
    j->nthreads = (int)opt_field(L, 1, "threads", 1);
    j->count = opt_field(L, 1, "count", 1);
    j->timeout_ms = (int)opt_field(L, 1, "timeout_ms", 0);
    j->skip_every = opt_field(L, 1, "skip_every", 0);
    j->decode_error_at = opt_field(L, 1, "decode_error_at", 0);
    j->not_a_function_at = opt_field(L, 1, "not_a_function_at", 0);
    j->interval_us = opt_field(L, 1, "interval_us", 0);
    j->cbref = LUA_NOREF;
    if (j->nthreads < 1 || j->nthreads > 4096 || j->count < 0) {
        free(j);
        return luaL_error(L, "testproducer: bad threads/count");
    }
    lua_getfield(L, 1, "cb");
    if (!lua_isfunction(L, -1)) {
        free(j);
        return luaL_error(L, "testproducer: option 'cb' must be a function");
    }
    j->cbref = luaL_ref(L, LUA_REGISTRYINDEX);
    j->tids = (pthread_t *)calloc((size_t)j->nthreads, sizeof *j->tids);
    j->args = (targ *)calloc((size_t)j->nthreads, sizeof *j->args);

    pj = (job **)lua_newuserdata(L, sizeof *pj);
    *pj = NULL;
    luaL_getmetatable(L, JOB_MT);
    lua_setmetatable(L, -2);
    if (j->tids == NULL || j->args == NULL) return luaL_error(L, "testproducer: out of memory");

    memset(&d, 0, sizeof d);
    lua_getfield(L, 1, "name");
    d.name = lua_isstring(L, -1) ? lua_tostring(L, -1) : (wait ? "testproducer.wait" : "testproducer");
    d.ud = j;
    d.decode = j_decode;
    d.result = wait ? j_result : NULL;
    d.cancel = j_cancel;
    d.closed = j_closed;
    j->p = api->register_producer(L, &d);
    lua_pop(L, 1);
    if (j->p == NULL) {
        luaL_unref(L, LUA_REGISTRYINDEX, j->cbref);
        return luaL_error(L, "testproducer: register_producer failed");
    }
    *pj = j;
    rc = start_threads(j, 256 * 1024);
    if (rc != 0) return luaL_error(L, "testproducer: pthread_create: %s", strerror(rc));
    return 1;
}

static int l_start(lua_State *L) { return start(L, 0); }
static int l_start_wait(lua_State *L) { return start(L, 1); }

static void push_stats(lua_State *L, job *j) {
    int i;
    lua_createtable(L, 0, 10);
#define F(name) lua_pushinteger(L, (lua_Integer)LOAD(&j->name)); lua_setfield(L, -2, #name)
    F(delivered); F(decoded); F(skipped); F(cancelled); F(closed); F(results); F(mismatches);
    F(cpu_us); F(csw);
#undef F
    lua_pushinteger(L, j->started - LOAD(&j->running));
    lua_setfield(L, -2, "threads_done");
    lua_createtable(L, 0, NSTATUS);
    for (i = 0; i < NSTATUS; i++) {
        lua_pushinteger(L, (lua_Integer)LOAD(&j->status[i]));
        lua_setfield(L, -2, status_name(i));
    }
    lua_setfield(L, -2, "status");
}

static int j_done(lua_State *L) {
    job *j = checkjob(L);
    lua_pushboolean(L, LOAD(&j->running) == 0);
    return 1;
}

static int j_stats(lua_State *L) {
    push_stats(L, checkjob(L));
    return 1;
}

static int j_join(lua_State *L) {
    job *j = checkjob(L);
    if (j->wait && j->timeout_ms <= 0 && LOAD(&j->running) > 0 && !LOAD(&j->closed))
        return luaL_error(L, "testproducer: job:join: wait threads still blocked (drain the queue first)");
    join_threads(j);
    push_stats(L, j);
    return 1;
}

static int j_unregister(lua_State *L) {
    job *j = checkjob(L);
    long before;
    if (j->unregistered) {
        lua_pushinteger(L, 0);
        return 1;
    }
    STORE(&j->stop, 1);
    if (!j->wait) join_threads(j); /* plain deliveries never block */
    before = LOAD(&j->cancelled);
    j->unregistered = 1;
    j->api->unregister(j->p);
    lua_pushinteger(L, (lua_Integer)(LOAD(&j->cancelled) - before));
    return 1;
}

typedef struct oneshot {
    const luamockit_api_v1 *api;
    luamockit_producer *p;
    int timeout_ms;
    int status;
} oneshot;

static void *oneshot_thread(void *arg) {
    oneshot *o = (oneshot *)arg;
    witem *it = (witem *)calloc(1, sizeof *it);
    o->status = o->api->deliver_wait(o->p, it, o->timeout_ms);
    free(it);
    return NULL;
}

static int j_unregister_and_deliver(lua_State *L) {
    job *j = checkjob(L);
    pitem *it;
    int s1;
    oneshot o;
    pthread_t t;
    if (j->unregistered) return luaL_error(L, "testproducer: already unregistered");
    STORE(&j->stop, 1);
    if (!j->wait) join_threads(j);
    j->unregistered = 1;
    j->api->unregister(j->p);
    /* Only valid inside process_events: p is freed when it returns. */
    it = (pitem *)malloc(sizeof *it);
    it->thread = 0;
    it->seq = 0;
    s1 = j->api->deliver(j->p, it);
    if (s1 != LUAMOCKIT_OK) free(it);
    o.api = j->api;
    o.p = j->p;
    o.timeout_ms = 500;
    o.status = -1;
    if (pthread_create(&t, NULL, oneshot_thread, &o) != 0) return luaL_error(L, "testproducer: pthread_create failed");
    pthread_join(t, NULL);
    lua_pushstring(L, status_name(s1));
    lua_pushstring(L, status_name(o.status));
    return 2;
}

static int deliver1(lua_State *L, int checked) {
    job *j = checkjob(L);
    pitem *it;
    int s;
    if (checked && j->unregistered) return luaL_error(L, "testproducer: job is unregistered");
    it = (pitem *)malloc(sizeof *it);
    it->thread = (int)luaL_checkinteger(L, 2);
    it->seq = (long)luaL_checkinteger(L, 3);
    s = j->api->deliver(j->p, it);
    if (s != LUAMOCKIT_OK) free(it);
    else ADD(&j->delivered, 1);
    lua_pushstring(L, status_name(s));
    return 1;
}

static int j_deliver(lua_State *L) { return deliver1(L, 1); }
static int j_deliver_unchecked(lua_State *L) { return deliver1(L, 0); }

static int j_handle(lua_State *L) {
    job *j = checkjob(L);
    lua_pushfstring(L, "%p", (void *)j->p);
    return 1;
}

static job *retired; /* every job its userdata let go of: kept, never freed (below) */
static pthread_mutex_t retired_mu = PTHREAD_MUTEX_INITIALIZER;

/* __gc: stop the threads, then unregister. The job struct itself is never
 * freed: after unregister, cancel may still be called for items that a
 * running process_events had already taken, and the API has no "last
 * callback done" signal. Wait threads still blocked after a grace period
 * cannot be joined here (nobody drains): they are detached and the producer
 * stays registered until the state closes (which releases them). */
static int job_gc(lua_State *L) {
    job **pj = (job **)lua_touserdata(L, 1);
    job *j = *pj;
    if (j == NULL) return 0;
    *pj = NULL;
    /* Kept on purpose, and so reachable: LeakSanitizer (make test-asan)
     * reports lost memory, not this. */
    pthread_mutex_lock(&retired_mu);
    j->retired_next = retired;
    retired = j;
    pthread_mutex_unlock(&retired_mu);
    STORE(&j->stop, 1);
    if (!j->joined && j->wait && LOAD(&j->running) > 0) {
        /* Each thread finishes its current call: within its timeout, or
         * never if nobody drains (and also never if luamockit lost the
         * item). Do not deadlock the collector for it. */
        double deadline = mono_ms() + 200 + (j->timeout_ms > 0 ? j->timeout_ms : 0);
        while (LOAD(&j->running) > 0 && mono_ms() < deadline) sleep_ms(1);
        if (LOAD(&j->running) > 0) {
            int i;
            for (i = 0; i < j->started; i++) pthread_detach(j->tids[i]);
            j->joined = 1;
            luaL_unref(L, LUA_REGISTRYINDEX, j->cbref);
            return 0; /* leave it registered: unregister would free p under them */
        }
    }
    join_threads(j);
    if (!j->unregistered) {
        j->unregistered = 1;
        j->api->unregister(j->p);
    }
    luaL_unref(L, LUA_REGISTRYINDEX, j->cbref);
    return 0;
}

static int j_tostring(lua_State *L) {
    job **pj = (job **)luaL_checkudata(L, 1, JOB_MT);
    lua_pushfstring(L, JOB_MT ": %p", (void *)*pj);
    return 1;
}

/* ---- close with blocked threads ---- */

typedef struct cwb {
    const luamockit_api_v1 *api;
    luamockit_producer *p;
    long status[NSTATUS];
    long closed;
    long cancelled;
} cwb;

static int cwb_decode(lua_State *L, void *item, void *ud) {
    (void)item; (void)ud;
    lua_getglobal(L, "tostring"); /* never called: nobody drains that state */
    return 0;
}

static void cwb_cancel(void *item, void *ud) {
    ADD(&((cwb *)ud)->cancelled, 1);
    free(item);
}

static void cwb_closed(void *ud) { ADD(&((cwb *)ud)->closed, 1); }

static void *cwb_thread(void *arg) {
    cwb *c = (cwb *)arg;
    witem *it = (witem *)calloc(1, sizeof *it);
    int s = c->api->deliver_wait(c->p, it, 0);
    free(it);
    ADD(&c->status[status_index(s)], 1);
    return NULL;
}

static int pending_of(lua_State *L2) {
    int n = -1;
    lua_getglobal(L2, "mit");
    lua_getfield(L2, -1, "pending");
    if (lua_pcall(L2, 0, 1, 0) == 0) n = (int)lua_tonumber(L2, -1);
    lua_pop(L2, 2);
    return n;
}

static int l_close_with_blocked(lua_State *L) {
    int n, nplain, i, started = 0, pending = -1, api_before;
    size_t stack;
    const char *cpath;
    lua_State *L2;
    cwb c;
    luamockit_producer_desc d;
    pthread_t *tids;
    pthread_attr_t attr;
    double deadline;
    luaL_checktype(L, 1, LUA_TTABLE);
    n = (int)opt_field(L, 1, "n", 1000);
    nplain = (int)opt_field(L, 1, "plain", 0);
    stack = (size_t)opt_field(L, 1, "stack_kb", 64) * 1024;
    lua_getfield(L, 1, "cpath");
    cpath = luaL_checkstring(L, -1);
    if (n < 1 || n > 10000 || nplain < 0) return luaL_error(L, "testproducer: bad n or plain");

    L2 = luaL_newstate();
    if (L2 == NULL) return luaL_error(L, "testproducer: luaL_newstate failed");
    luaL_openlibs(L2);
    api_before = luamockit_api(L2) != NULL;
    lua_getglobal(L2, "package");
    lua_pushstring(L2, cpath);
    lua_setfield(L2, -2, "cpath");
    lua_pop(L2, 1);
    lua_getglobal(L2, "require");
    lua_pushliteral(L2, "luamockit");
    if (lua_pcall(L2, 1, 1, 0) != 0) {
        lua_pushfstring(L, "testproducer: require luamockit in the new state: %s", lua_tostring(L2, -1));
        lua_close(L2);
        return lua_error(L);
    }
    lua_setglobal(L2, "mit");

    memset(&c, 0, sizeof c);
    c.api = luamockit_api(L2);
    if (c.api == NULL) {
        lua_close(L2);
        return luaL_error(L, "testproducer: no API in the new state");
    }
    memset(&d, 0, sizeof d);
    d.name = "testproducer.close";
    d.ud = &c;
    d.decode = cwb_decode;
    d.cancel = cwb_cancel;
    d.closed = cwb_closed;
    c.p = c.api->register_producer(L2, &d);
    if (c.p == NULL) {
        lua_close(L2);
        return luaL_error(L, "testproducer: register_producer failed in the new state");
    }

    tids = (pthread_t *)calloc((size_t)n, sizeof *tids);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    for (i = 0; tids && i < n; i++) {
        if (pthread_create(&tids[i], &attr, cwb_thread, &c) != 0) break;
        started++;
    }
    pthread_attr_destroy(&attr);

    /* plain items queued too: the close cancels them */
    for (i = 0; i < nplain; i++) {
        pitem *it = (pitem *)malloc(sizeof *it);
        if (c.api->deliver(c.p, it) != LUAMOCKIT_OK) free(it);
    }

    deadline = mono_ms() + 20000;
    while ((pending = pending_of(L2)) < started + nplain && mono_ms() < deadline) sleep_ms(1);

    lua_close(L2); /* releases the blocked threads, calls closed() */
    for (i = 0; i < started; i++) pthread_join(tids[i], NULL);
    free(tids);

    lua_createtable(L, 0, 10);
    lua_pushinteger(L, started);
    lua_setfield(L, -2, "started");
    lua_pushinteger(L, pending);
    lua_setfield(L, -2, "pending_seen");
    lua_pushboolean(L, api_before);
    lua_setfield(L, -2, "api_before_require");
    lua_pushinteger(L, (lua_Integer)LOAD(&c.status[LUAMOCKIT_ECANCELLED]));
    lua_setfield(L, -2, "cancelled");
    lua_pushinteger(L, (lua_Integer)LOAD(&c.closed));
    lua_setfield(L, -2, "closed");
    lua_pushinteger(L, (lua_Integer)LOAD(&c.cancelled));
    lua_setfield(L, -2, "cancel_calls");
    lua_createtable(L, 0, NSTATUS);
    for (i = 0; i < NSTATUS; i++) {
        lua_pushinteger(L, (lua_Integer)LOAD(&c.status[i]));
        lua_setfield(L, -2, status_name(i));
    }
    lua_setfield(L, -2, "status");

    /* After the close, before unregister: deliveries are refused. */
    {
        pitem *it = (pitem *)malloc(sizeof *it);
        oneshot o;
        pthread_t t;
        int s = c.api->deliver(c.p, it);
        if (s != LUAMOCKIT_OK) free(it);
        lua_pushstring(L, status_name(s));
        lua_setfield(L, -2, "after_deliver");
        o.api = c.api;
        o.p = c.p;
        o.timeout_ms = 500;
        o.status = -1;
        if (pthread_create(&t, NULL, oneshot_thread, &o) == 0) pthread_join(t, NULL);
        lua_pushstring(L, status_name(o.status));
        lua_setfield(L, -2, "after_deliver_wait");
    }
    /* A new state whose universe takes over the closed one's place: the
     * old handle still finds nothing, the new state's producer works. */
    if (opt_field(L, 1, "reopen", 0)) {
        lua_State *L3 = luaL_newstate();
        luamockit_producer *p3 = NULL;
        const luamockit_api_v1 *api3 = NULL;
        int s_old = -1, s_new = -1, pend_old = -1, pend_new = -1;
        if (L3 == NULL) return luaL_error(L, "testproducer: luaL_newstate failed");
        luaL_openlibs(L3);
        lua_getglobal(L3, "package");
        lua_pushstring(L3, cpath);
        lua_setfield(L3, -2, "cpath");
        lua_pop(L3, 1);
        lua_getglobal(L3, "require");
        lua_pushliteral(L3, "luamockit");
        if (lua_pcall(L3, 1, 1, 0) == 0) {
            lua_setglobal(L3, "mit");
            api3 = luamockit_api(L3);
            memset(&d, 0, sizeof d);
            d.name = "testproducer.reopen";
            d.ud = &c;
            d.decode = cwb_decode;
            d.cancel = cwb_cancel;
            if (api3) p3 = api3->register_producer(L3, &d);
        }
        if (p3 != NULL) {
            pitem *a = (pitem *)malloc(sizeof *a), *b = (pitem *)malloc(sizeof *b);
            s_old = c.api->deliver(c.p, a);
            if (s_old != LUAMOCKIT_OK) free(a);
            pend_old = pending_of(L3);
            s_new = api3->deliver(p3, b);
            if (s_new != LUAMOCKIT_OK) free(b);
            pend_new = pending_of(L3);
        }
        lua_pushstring(L, status_name(s_old));
        lua_setfield(L, -2, "reopen_old_deliver");
        lua_pushinteger(L, pend_old);
        lua_setfield(L, -2, "reopen_pending_old");
        lua_pushstring(L, status_name(s_new));
        lua_setfield(L, -2, "reopen_new_deliver");
        lua_pushinteger(L, pend_new);
        lua_setfield(L, -2, "reopen_pending_new");
        lua_pushboolean(L, p3 != NULL && (uintptr_t)p3 != (uintptr_t)c.p);
        lua_setfield(L, -2, "reopen_new_handle");
        lua_close(L3);
    }
    c.api->unregister(c.p); /* allowed from any thread once closed() ran */
    return 1;
}

/* ---- misc ---- */

static int l_strerror(lua_State *L) {
    const luamockit_api_v1 *api = need_api(L);
    lua_pushstring(L, api->strerror((int)luaL_checkinteger(L, 1)));
    return 1;
}

static int l_deliver_null(lua_State *L) {
    const luamockit_api_v1 *api = need_api(L);
    int x = 0;
    lua_pushstring(L, status_name(api->deliver(NULL, &x)));
    lua_pushstring(L, status_name(api->deliver_wait(NULL, &x, 10)));
    return 2;
}

static int l_register_without_decode(lua_State *L) {
    const luamockit_api_v1 *api = need_api(L);
    luamockit_producer_desc d;
    luamockit_producer *p;
    memset(&d, 0, sizeof d);
    d.name = "nodecode";
    p = api->register_producer(L, &d);
    if (p) api->unregister(p);
    lua_pushboolean(L, p != NULL);
    return 1;
}

/* A fresh thread times its first delivery. */
typedef struct first {
    job *j;
    long ns;
    int status;
} first;

static void *first_thread(void *arg) {
    first *f = (first *)arg;
    pitem *it = (pitem *)malloc(sizeof *it);
    double t0, t1;
    it->thread = 0;
    it->seq = 0;
    t0 = mono_ms();
    f->status = f->j->api->deliver(f->j->p, it);
    t1 = mono_ms();
    if (f->status != LUAMOCKIT_OK) free(it);
    f->ns = (long)((t1 - t0) * 1e6);
    return NULL;
}

/* job:first_calls(n) -> {us...}: n threads, one after another, each times
 * the first call it makes into the API (a plain delivery). */
static int j_first_calls(lua_State *L) {
    job *j = checkjob(L);
    int n = (int)luaL_checkinteger(L, 2), i;
    lua_createtable(L, n, 0);
    for (i = 1; i <= n; i++) {
        first f = {j, -1, -1};
        pthread_t t;
        if (pthread_create(&t, NULL, first_thread, &f) != 0) return luaL_error(L, "testproducer: pthread_create failed");
        pthread_join(t, NULL);
        if (f.status != LUAMOCKIT_OK) return luaL_error(L, "testproducer: first delivery: %s", status_name(f.status));
        lua_pushnumber(L, (lua_Number)f.ns / 1e3);
        lua_rawseti(L, -2, i);
    }
    return 1;
}

static const luaL_Reg job_methods[] = {
    {"first_calls", j_first_calls},
    {"done", j_done},
    {"join", j_join},
    {"stats", j_stats},
    {"unregister", j_unregister},
    {"unregister_and_deliver", j_unregister_and_deliver},
    {"deliver", j_deliver},
    {"deliver_unchecked", j_deliver_unchecked},
    {"handle", j_handle},
    {NULL, NULL}
};

/* tp.rusage() -> process CPU us, process context switches, the calling
 * thread's CPU us and context switches */
static int l_rusage(lua_State *L) {
    struct rusage ru;
    long cpu, csw;
    getrusage(RUSAGE_SELF, &ru);
    lua_pushinteger(L, (lua_Integer)((ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec));
    lua_pushinteger(L, (lua_Integer)(ru.ru_nvcsw + ru.ru_nivcsw));
    thread_usage(&cpu, &csw);
    lua_pushinteger(L, (lua_Integer)cpu);
    lua_pushinteger(L, (lua_Integer)csw);
    return 4;
}

static const luaL_Reg funcs[] = {
    {"rusage", l_rusage},
    {"start", l_start},
    {"start_wait", l_start_wait},
    {"close_with_blocked", l_close_with_blocked},
    {"strerror", l_strerror},
    {"deliver_null", l_deliver_null},
    {"register_without_decode", l_register_without_decode},
    {NULL, NULL}
};

/* Keep this library mapped for good. lua_close() dlclose()s the C modules
 * it loaded, and the state's own close can release producer threads (the
 * ones blocked in deliver_wait) that still have to return into this code;
 * a real producer library with threads needs the same care. */
static void pin_self(void) {
    static int pinned = 0;
    Dl_info info;
    if (pinned) return;
    if (dladdr((void *)pin_self, &info) && info.dli_fname &&
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE) != NULL)
        pinned = 1;
}

int luaopen_testproducer(lua_State *L) {
    pin_self();
    if (luaL_newmetatable(L, JOB_MT)) {
        lua_newtable(L);
        tp_setfuncs(L, job_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, job_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, j_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    tp_setfuncs(L, funcs);
#define C(name) lua_pushinteger(L, LUAMOCKIT_##name); lua_setfield(L, -2, #name)
    C(OK); C(ECLOSED); C(ETIMEDOUT); C(ECANCELLED); C(ECALLBACK); C(EINVAL); C(ENOMEM);
#undef C
    lua_pushinteger(L, LUAMOCKIT_API_VERSION);
    lua_setfield(L, -2, "API_VERSION");
    return 1;
}
