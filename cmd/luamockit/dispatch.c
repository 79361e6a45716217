/*
 * dispatch.c: process_events and poll, which run the due expirations and
 * producer items on the calling thread, and the error protocol.
 *
 * A drain runs what was due when it began: the expirations Go decided
 * (sched.c's taken batch, taken from Go in one call before the first
 * callback, in (due, id) order, a timer's due expirations counted in
 * one entry and run back to back), and producer items merged in by their
 * delivery time (its bound, upto). It uses one expiration at a time,
 * right before its callback runs, so there is nothing in flight to undo:
 * a callback that raises has used its expiration, and everything else is
 * still where it was; a process_events called by a callback goes on with
 * the same batch, in the same order, after taking what fell due since. The
 * callbacks of an outermost drain run inside one protected call
 * (run_drain), which a callback's error unwinds to; those of a nested
 * drain each under their own. The drain then goes on (error handler) or
 * raises the error.
 */
#include <math.h>
#include <string.h>

#include "lmk.h"
#include "_cgo_export.h"

/* How deep process_events may nest in callbacks. Nested calls go on with
 * the same drain, in order, so each level is a callback that called it
 * again; past this depth process_events raises instead of overflowing the
 * C stack (each level uses one of Lua's 200 C levels), and nothing is
 * lost. */
#define LMK_MAX_NEST 64

typedef struct drain {
    lmk_state *st;
    int64_t upto; /* C's clock (lmk_now): the drain runs what was due by then */
    int64_t item_upto; /* CLOCK_MONOTONIC ns: the items it runs were delivered by then
                        * (upto, unless the clock is virtual) */
    long limit;   /* callbacks left to run; < 0: no limit */
    long ran;
    int items;    /* the hub may have items delivered by upto */
    int taking;   /* between the start of run_timer and its take */
    int timed;    /* the drain's lateness is measured (its first expiration) */
    int took;     /* the drain has taken from Go */
    /* what runs now, for the error handler: a timer (held, below) or a
     * producer item (its producer's name) */
    const char *cur_item;
    lmk_rec *held; /* the timer whose callback runs, held (r->refs) until it and the
                    * error handler are done with it: see timer.c's rule */
} drain;

/* Where Lua's own message in msg starts, if msg is the error of a
 * coroutine.yield that cannot suspend (messages.h's LMK_YIELD_ERRORS,
 * bare or after LuaJIT's "source:line: "); else NULL. An error that only
 * quotes one (a task's or an adapter worker's, re-raised with its
 * traceback) is no such error: it is not the whole message. */
static const char *yield_error(const char *msg) {
    static const char *const texts[] = {LMK_YIELD_ERRORS};
    size_t i, n = strlen(msg);
    for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t k = strlen(texts[i]);
        const char *p;
        if (n < k || strcmp(p = msg + n - k, texts[i]) != 0) continue;
        if (p == msg || (p - msg >= 2 && p[-2] == ':' && p[-1] == ' ' && memchr(msg, '\n', n) == NULL)) return p;
    }
    return NULL;
}

/* [-1, +1, m] msgh: a string error gets a traceback of where it was
 * raised; any other value is kept as it is (the handler, or the caller of
 * process_events, gets the very object the callback raised). A callback
 * that yielded gets LMK_FMT_YIELD, which says what to do instead, at the
 * line of the callback that called yield. */
static int msgh(lua_State *L) {
    const char *msg, *y;
    if (lua_type(L, 1) != LUA_TSTRING) {
        lua_settop(L, 1);
        return 1;
    }
    msg = lua_tostring(L, 1);
    if ((y = yield_error(msg)) != NULL) {
        if (y == msg) luaL_where(L, 2); /* level 1: yield itself; 2: the callback */
        else lua_pushlstring(L, msg, (size_t)(y - msg));
        lua_pushfstring(L, LMK_FMT_YIELD, y);
        lua_concat(L, 2);
        msg = lua_tostring(L, -1);
    }
#if LUA_VERSION_NUM >= 502
    luaL_traceback(L, L, msg, 1);
#else
    lua_rawgeti(L, MISC, MISC_TRACEBACK);
    if (lua_isfunction(L, -1)) {
        lua_pushstring(L, msg);
        lua_pushinteger(L, 2);
        lua_call(L, 2, 1);
    } else {
        lua_pushstring(L, msg);
    }
#endif
    return 1;
}

/* The drain lets go of the timer whose callback ran (timer.c's
 * lmk_rec_drop: a one-off that nothing else refers to is freed now);
 * cbs: CBS's index. */
static void let_go(lua_State *L, drain *d, int cbs) {
    lmk_rec *r = d->held;
    if (r == NULL) return;
    d->held = NULL;
    lmk_rec_drop(L, d->st, r, cbs);
}

#if LUA_VERSION_NUM < 502
/* [-0, +0, m] lua_cpcall's body for room(): grows the stack. */
static int grow(lua_State *L) {
    lua_checkstack(L, (int)(intptr_t)lua_touserdata(L, 1));
    return 0;
}
#endif

/* Whether the stack has room for n more values, grown if need be: 0 if
 * memory ran out (before a take: nothing is consumed). Lua 5.2+ report
 * that; 5.1 and LuaJIT raise it, which the protected call of an outermost
 * drain catches (d->taking then ends the drain), but a nested drain (each)
 * must not unwind through its own frames, so there the stack is grown
 * under lua_cpcall first. [-0, +0, -] */
static int room(lua_State *L, int n, int each) {
#if LUA_VERSION_NUM < 502
    if (each) {
        if (lua_cpcall(L, grow, (void *)(intptr_t)n) != 0) {
            lua_pop(L, 1);
            return 0;
        }
    }
#else
    (void)each;
#endif
    return lua_checkstack(L, n);
}

/* Runs one expiration of timer r: pushes its callback and arguments (cbs:
 * the stack index of CBS), takes the expiration, counts it in d->ran and
 * calls it: with lua_call inside run_drain's protected call (each == 0),
 * or under its own lua_pcall with the message handler at msgh. Anything
 * that fails before the take (no stack for the arguments: a memory error)
 * leaves the expiration where it was. A one-off that has run is "fired";
 * if its handle is gone, nothing can refer to it again and it is freed.
 * Returns 0, or 1 with the error on top (each only). */
static int run_timer(lua_State *L, drain *d, int i, int cbs, int msgh, int each) {
    lmk_state *st = d->st;
    lmk_rec *r = (lmk_rec *)st->took.v[i].tag;
    int nargs = 0, bad = 0, fired;
    d->taking = 1; /* an error from here to the take leaves the expiration (see dispatch) */
    lmk_rawgetid(L, cbs, r->id);
    if (lua_type(L, -1) == LUA_TTABLE) { /* {cb, nargs, args...} */
        int tab = lua_gettop(L);
        lua_rawgeti(L, tab, 2);
        nargs = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    /* Room for the arguments and the callee's frame: the call itself then
     * allocates nothing (5.1 raises a memory error here, 5.4 returns 0;
     * either way before the take). The CallInfo it needs exists since
     * the drain began (see reserve_call). */
    if (!room(L, nargs + 1 + LMK_CALL_ROOM, each)) {
        bad = 1;
    } else {
        if (nargs > 0) {
            int j, tab = lua_gettop(L);
            lua_rawgeti(L, tab, 1);
            for (j = 3; j <= nargs + 2; j++) lua_rawgeti(L, tab, j);
            lua_remove(L, tab);
        }
        nargs = lmk_runner_below(L, st, nargs);
    }
    if (bad) { /* nothing taken: the next drain tries again */
        d->taking = 0;
        d->limit = 0;
        lua_pushliteral(L, LMK_MSG_NOSTACK_ARGS);
        if (each) return 1;
        lua_error(L);
    }
    d->ran++; /* counted before the call: a callback that raises has run */
    st->callbacks++;
    if (d->limit > 0) d->limit--;
    d->taking = 0;
    if (!d->timed) { /* how late the drain's first expiration runs */
        int64_t late = d->upto - st->took.v[i].due;
        d->timed = 1;
        st->late_last = late;
        if (late > st->late_max) st->late_max = late;
    }
    /* held until the callback, and the error handler, are done */
    d->held = lmk_took_run(st, i, &fired);
    if (fired) { /* a one-off: its only expiration */
        lmk_rec_state(st, r, LMK_T_FIRED);
        lmk_release_thread(L, r);
    }
    if (!each) {
        lua_call(L, nargs, 0);
    } else if (lua_pcall(L, nargs, 0, msgh) != 0) {
        return 1;
    }
    let_go(L, d, cbs);
    return 0;
}

/* Takes the item due next if it was delivered before bound (and by the
 * drain's bound). Returns 1 with *r and *owner filled, else 0. */
static int take_item(drain *d, int64_t bound, lmk_record *r, void **owner) {
    int more = 0, ok;
    if (bound > d->item_upto) bound = d->item_upto;
    ok = lmk_hub_take(d->st->hub, bound, d->item_upto, r, owner, &more);
    d->items = more;
    return ok;
}

/* The batch entry to run next, or -1: the drain takes from Go once,
 * before its first callback, and stops at what a drain nested in it took
 * (that may have fallen due after this one began): sched.c's contract. */
static int next_timer(drain *d) {
    int i;
    if (!d->took) {
        d->took = 1;
        lmk_sched_take(d->st, d->upto);
    }
    i = lmk_took_next(d->st);
    return i >= 0 && d->st->took.bound[i] > d->upto ? -1 : i;
}

/* Runs the drain from where it stands (cbs, msgh: stack indices of CBS
 * and the message handler). Returns 0 when it is done, or 1 with an error
 * on top: a producer item's (it runs under its own pcall, as its thread
 * must learn the outcome), or with each, a callback's. Without each, a
 * callback's error unwinds to the caller's lua_pcall. */
static int drain_loop(lua_State *L, drain *d, int cbs, int msgh, int each) {
    lmk_state *st = d->st;
    while (d->limit != 0 && st->q != 0) {
        int s = next_timer(d);
        d->cur_item = NULL; /* an error before a take has no source */
        if (d->items) {
            lmk_record item;
            void *owner;
            int64_t bound;
            d->taking = 1;
            if (!room(L, LMK_CALL_ROOM, each)) { /* nothing taken: end the drain */
                d->taking = 0;
                d->limit = 0;
                lua_pushliteral(L, LMK_MSG_NOSTACK_ITEM_OOM);
                if (each) return 1;
                lua_error(L);
            }
            d->taking = 0; /* lmk_run_item hands an item that could not start back */
            /* an item delivered before the timer's expiration goes first;
             * with a virtual clock, items arrive at its "now": after every
             * expiration due by it */
            bound = s < 0 ? d->item_upto : st->virtual ? INT64_MIN : st->took.v[s].due - 1;
            if (bound != INT64_MIN && take_item(d, bound, &item, &owner)) {
                int status;
                st->last_item = d->item_upto;
                d->cur_item = lmk_producer_name(st, &item);
                status = lmk_run_item(L, st, &item, owner, msgh);
                if (status == -2) { /* it could not start: back in the ring; end the drain */
                    d->limit = 0;
                    return 1;
                }
                if (status < 0) continue; /* skipped: nothing ran */
                d->ran++;
                st->callbacks++;
                st->items++;
                if (d->limit > 0) d->limit--;
                if (status != 0) return 1; /* the item's error, traceback included */
                continue;
            }
        }
        if (s < 0) break;
        if (run_timer(L, d, s, cbs, msgh, each)) return 1;
    }
    return 0;
}

/* [-0, +0, -] does nothing: reserve_call calls it. */
static int noop(lua_State *L) {
    (void)L;
    return 0;
}

/* [-0, +0, m] makes one call from this frame, so that the CallInfo every
 * callback call from it uses exists: Lua frees unused CallInfos, but never
 * the one right after the running frame, so calling a callback from here
 * allocates nothing. A memory error here comes before anything is taken. */
static void reserve_call(lua_State *L) {
    lua_rawgeti(L, MISC, MISC_NOOP);
    lua_call(L, 0, 0);
}

/* [-2, +1, e] run_drain(drain, msgh): drain_loop inside the one protected
 * call of an outermost drain, so that callbacks need no setjmp each.
 * Returns nil when the drain is done, else an item's error. */
static int run_drain(lua_State *L) {
    drain *d = (drain *)lua_touserdata(L, 1);
    lua_remove(L, 1);      /* msgh at 1 */
    lua_pushvalue(L, CBS); /* at 2: a stack index is quicker than an upvalue */
    reserve_call(L);
    if (drain_loop(L, d, 2, 1, 0)) return 1;
    lua_pushnil(L);
    return 1;
}

/* [-3, +0, e] call_handler(f, err, drain): f(err, source), source being
 * the failing timer's handle (made for it if Lua no longer holds one) or
 * the failing producer item's producer name. Runs under lua_pcall: the
 * handle or the name may need memory. */
static int call_handler(lua_State *L) {
    drain *d = (drain *)lua_touserdata(L, 3);
    lua_settop(L, 2);
    if (d->cur_item != NULL) {
        lua_pushstring(L, d->cur_item);
    } else if (d->held != NULL) { /* held: its record lives */
        lmk_push_handle(L, d->st, d->held);
    } else {
        lua_pushnil(L);
    }
    lua_call(L, 2, 0);
    return 0;
}

/* A callback's error is on top: hand it to the error handler. Returns 1 if
 * the handler took it, 0 if it is to be raised (the handler's own error
 * replaces it). An error raised before an expiration was taken (a memory
 * error pushing its callback) ends the drain: the expiration stays for the
 * next call, and a handler that carries on cannot make the drain retry it
 * for ever. */
static int handled(lua_State *L, drain *d, int msgh_idx) {
    d->st->errors++;
    if (d->taking) {
        d->taking = 0;
        d->limit = 0;
    }
    lua_rawgeti(L, MISC, MISC_ERRH);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    lua_rawgeti(L, MISC, MISC_HANDLER); /* err, f, call_handler */
    lua_insert(L, -3);                   /* call_handler, err, f */
    lua_insert(L, -2);                   /* call_handler, f, err */
    lua_pushlightuserdata(L, d);
    return lua_pcall(L, 3, 0, msgh_idx) == 0;
}

/* After a callback's error: handled (1) or to raise (0); either way the
 * one-off that raised is finished with. */
static int after_error(lua_State *L, drain *d, int msgh_idx) {
    int ok = handled(L, d, msgh_idx);
    let_go(L, d, CBS); /* pushes nothing: the error stays on top */
    return ok;
}

/* The drain is over (or unwinding): the outermost one frees unregistered
 * producers, keeps the wake-up fd set while taken expirations due by its
 * bound are left (an error, or a max, ended it), clears it if nothing is
 * pending, and sets fd()'s timer for the next wake-up (lmk_watch_settle):
 * what fell due while it ran waits for that, coalesced. */
static void leave(lmk_state *st, const drain *d) {
    if (--st->depth > 0) return;
    if (st->producers) lmk_producers_sweep(st);
    lmk_watch_settle(st, d->upto);
}

/* Runs what is due now, at most limit callbacks (< 0: no limit), on L;
 * returns how many ran. */
static long dispatch(lua_State *L, lmk_state *st, long limit) {
    drain d;
    int base;
    if (st->depth >= LMK_MAX_NEST) lmk_error(L, LMK_MSG_NESTED);
    d.st = st;
    if (st->depth == 0) lmk_watch_ontime(st); /* fd()'s timer woke the loop ahead of its time */
    d.upto = lmk_now(st);
    d.item_upto = st->virtual ? lmk_mono_ns() : d.upto;
    d.limit = limit;
    d.ran = 0;
    d.taking = 0;
    d.timed = st->depth > 0; /* lateness: of outermost drains only */
    d.cur_item = NULL;
    d.held = NULL;
    d.took = 0;
    st->drains++;
    d.items = lmk_hub_has_items(st->hub);
    lua_rawgeti(L, MISC, MISC_MSGH);
    base = lua_gettop(L);
    if (st->depth > 0) {
        /* Nested in a callback: each callback under its own pcall, called
         * from this frame, which costs one level of the C stack per
         * nesting level instead of two. */
        reserve_call(L); /* before the drain counts: nothing to undo if it fails */
        st->depth++;
        lua_pushvalue(L, CBS);
        while (drain_loop(L, &d, base + 1, base, 1)) {
            if (!after_error(L, &d, base)) { /* the error is on top */
                leave(st, &d);
                lua_error(L);
            }
        }
    } else {
        st->depth++;
        for (;;) {
            int status;
            lua_rawgeti(L, MISC, MISC_RUN);
            lua_pushlightuserdata(L, &d);
            lua_pushvalue(L, base);
            status = lua_pcall(L, 2, 1, base);
            if (status == 0 && lua_isnil(L, -1)) {
                lua_pop(L, 1);
                break;
            }
            if (!after_error(L, &d, base)) { /* the error is on top */
                leave(st, &d);
                lua_error(L);
            }
        }
    }
    leave(st, &d);
    lua_settop(L, base - 1);
    return d.ran;
}

/* [-(0|1), +1, e] process_events([max]) -> number of callbacks run.
 * Runs what was due when it is called (at most max). On a callback error
 * with no error handler, it raises the error; what has not run stays. */
static int l_process_events(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    long limit = -1;
    if (!lua_isnoneornil(L, 1)) {
        lua_Number m = luaL_checknumber(L, 1);
        if (!(m >= 1) || isinf(m)) luaL_argerror(L, 1, LMK_ARG_MAX);
        limit = m > 1e15 ? (long)1e15 : (long)m;
    }
    lua_settop(L, 0);
    lua_pushinteger(L, (lua_Integer)dispatch(L, st, limit));
    return 1;
}

/* The events pending now: due expirations (Go's and the taken batch's)
 * and items; *inqueue adds the withdrawn items still in the ring. */
int64_t lmk_pending(lmk_state *st, int64_t *inqueue) {
    int64_t ring = 0;
    int64_t go = lmk_go_pending(st), items = lmk_hub_counts(st->hub, &ring);
    if (inqueue) *inqueue = go + ring;
    return go + items;
}

/* The virtual clock (clock.c): drains at each instant at which something
 * falls due, in order, up to target (INT64_MAX: until nothing is armed),
 * moving the clock to each instant first, so that a callback sees its own
 * virtual time and what it arms, stops or destroys counts from there; at
 * most limit callbacks (< 0: no limit), *more set if it stopped at the
 * limit with something still due by target. Returns callbacks run. */
static long step_to(lua_State *L, lmk_state *st, int64_t target, long limit, int *more) {
    long ran = 0, at_once = 0;
    int64_t last = INT64_MIN;
    *more = 0;
    for (;;) {
        int64_t now = lmk_now(st), due = lmk_next_due(st);
        long n;
        int rc;
        if (due < now) due = now; /* due already (or Go published: 0) */
        if (due == INT64_MAX || due > target) break;
        if (limit >= 0 && ran >= limit) {
            *more = 1;
            break;
        }
        if (due > now && (rc = lmk_sched_setnow(st, due)) != LMK_OK)
            lmk_error(L, lmk_code_message(LMK_CODES_RC, rc));
        at_once = due == last ? at_once + 1 : 0;
        if (at_once > 1000000) lmk_error(L, LMK_MSG_ADVANCE_STUCK);
        last = due;
        n = dispatch(L, st, limit >= 0 ? limit - ran : -1);
        ran += n;
        if (n == 0) break; /* nothing runs at this instant after all */
    }
    return ran;
}

/* advance and run_all: only on the virtual clock, not in a callback. */
static lmk_state *stepping(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    if (!st->virtual) lmk_error(L, LMK_MSG_NOT_VIRTUAL);
    if (st->depth > 0) lmk_error(L, LMK_MSG_ADVANCE_IN_CALLBACK);
    return st;
}

/* [-1, +1, e] advance(ms) -> callbacks run: moves the virtual clock ms
 * forward, running in order every expiration that falls due on the way,
 * each at its virtual time, then what producers and signals delivered
 * meanwhile. A callback's error (no error handler) is raised, the clock
 * left at its instant. */
static int l_advance(lua_State *L) {
    double ms = lmk_checkms(L, 1, 1);
    lmk_state *st = stepping(L);
    int64_t target = lmk_now(st) + (int64_t)(ms * 1e6);
    int more, rc;
    long ran = step_to(L, st, target, -1, &more);
    if ((rc = lmk_sched_setnow(st, target)) != LMK_OK) lmk_error(L, lmk_code_message(LMK_CODES_RC, rc));
    ran += dispatch(L, st, -1);
    lua_pushinteger(L, (lua_Integer)ran);
    return 1;
}

/* [-(0|1), +1, e] run_all([limit]) -> callbacks run: moves the virtual
 * clock from one due time to the next, running everything, until no timer
 * is armed; raises after limit callbacks (default 100 000) if timers are
 * still armed (an interval timer never ends). */
static int l_run_all(lua_State *L) {
    lua_Number m = luaL_optnumber(L, 1, 100000);
    lmk_state *st;
    long ran;
    int more;
    if (!(m >= 1) || isinf(m)) luaL_argerror(L, 1, LMK_ARG_MAX);
    st = stepping(L);
    ran = step_to(L, st, INT64_MAX, m > 1e15 ? (long)1e15 : (long)m, &more);
    if (more) return luaL_error(L, "luamockit: " LMK_FMT_RUN_ALL_LIMIT, (int)ran);
    lua_pushinteger(L, (lua_Integer)ran);
    return 1;
}

/* [-0, +2, e] poll() -> ran, left: runs the next event only; ran is true
 * if a callback ran, left the events still pending. */
static int l_poll(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    long ran;
    lua_settop(L, 0);
    ran = dispatch(L, st, 1);
    lua_pushboolean(L, ran > 0);
    lua_pushinteger(L, (lua_Integer)lmk_pending(st, NULL));
    return 2;
}

/* [-0, +1, e] pending() -> events that will run a callback */
static int l_pending(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    lua_pushinteger(L, (lua_Integer)lmk_pending(st, NULL));
    return 1;
}

/* [-0, +1, e] inqueue() -> pending() plus withdrawn items not yet dropped */
static int l_inqueue(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    int64_t inq = 0;
    (void)lmk_pending(st, &inq);
    lua_pushinteger(L, (lua_Integer)inq);
    return 1;
}

/* [-(0|1), +1, e] seterrorhandler(f|nil) -> the handler it replaces, or
 * nil: f(err, source) gets each callback error (the value raised; a
 * string with a traceback) and the failing timer's handle (or a producer
 * item's producer name), and processing goes on; nil restores raising
 * from process_events. */
static int l_seterrorhandler(lua_State *L) {
    if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_rawgeti(L, MISC, MISC_ERRH);
    lua_pushvalue(L, 1);
    lua_rawseti(L, MISC, MISC_ERRH);
    if (!lua_isfunction(L, -1)) lua_pushnil(L);
    return 1;
}

/* Makes the closures a drain uses, over the module's upvalues (the NUPS
 * values from stack index first on), and keeps them in MISC: no drain
 * allocates them. [-0, +0, m] */
void lmk_dispatch_init(lua_State *L, int first) {
    const lua_CFunction fs[] = {msgh, run_drain, lmk_item_runner, noop, call_handler};
    static const int slots[] = {MISC_MSGH, MISC_RUN, MISC_ITEM, MISC_NOOP, MISC_HANDLER};
    int i, j;
    for (i = 0; i < 5; i++) {
        for (j = 0; j < NUPS; j++) lua_pushvalue(L, first + j);
        lua_pushcclosure(L, fs[i], NUPS);
        lua_rawseti(L, first + NUPS - 1, slots[i]); /* MISC is the last upvalue */
    }
}

/* [-(0|1), +1, e] setrunner(f|nil) -> the runner it replaces, or nil.
 * With f set, a drain calls each timer callback as f(cb, args...) instead
 * of cb(args...), in the same place and order, with the same error path:
 * the hook through which the loop adapters run callbacks as coroutines of
 * their loop. Plain producer items go through it too (producer.c);
 * deliver_wait items are called as they are (their thread waits for the
 * callback's results). */
static int l_setrunner(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_rawgeti(L, MISC, MISC_RUNNER);
    if (lua_isnil(L, 1)) {
        lua_pushboolean(L, 0);
        lua_rawseti(L, MISC, MISC_RUNNER);
    } else {
        lua_pushvalue(L, 1);
        lua_rawseti(L, MISC, MISC_RUNNER);
    }
    st->runner = !lua_isnil(L, 1);
    if (!lua_toboolean(L, -1)) lua_pushnil(L);
    return 1;
}

const luaL_Reg lmk_dispatch_funcs[] = {
    {"setrunner", l_setrunner},
    {"process_events", l_process_events},
    {"advance", l_advance},
    {"run_all", l_run_all},
    {"poll", l_poll},
    {"pending", l_pending},
    {"inqueue", l_inqueue},
    {"seterrorhandler", l_seterrorhandler},
    {NULL, NULL}
};
