/*
 * wait.c: blocking until something is due (wait, setspin), and folding
 * luamockit into another event loop (fd, setport, getport).
 *
 * wait() sleeps in poll on the hub's fd (port.h: an eventfd, or a pipe;
 * set by a producer's delivery, and by Go when it publishes expirations)
 * until the next expiration is due (lmk_next_wake: the first the taken
 * batch holds, or the one Go wrote into the hub; no call into Go; later by
 * at most LMK_COALESCE_NS to take a burst in one wake-up), so a loop of
 * wait() and process_events() never waits on a Go runtime timer. fd() on
 * Linux is an epoll descriptor that a timerfd makes readable at the same
 * time (watch.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "lmk.h"
#include "_cgo_export.h"

/* A signal handler that sets a Lua hook (lua.c's Ctrl-C handler) must end
 * wait(). A signal that interrupts wait()'s sleep (EINTR) does: wait()
 * looks at the hooks then, and right before each sleep. One that another
 * thread takes (a Go thread, a producer's) interrupts nothing: wait()
 * then re-checks the hooks at least this often (ms). It need not where
 * the kernel delivers a signal sent to the process to the waiting thread
 * (lmk_port_signals_reach: Linux's main thread, nothing blocked), until
 * a signal interrupts the wait: it sleeps in one piece, and an idle
 * wait(2000) wakes once; from then on (others may be in flight, and a
 * thread with a signal pending takes no other) it re-checks too. */
#define LMK_WAIT_SLICE 1000

/* When wait() sleeps until a timer is due, it wakes a little early and
 * spends the rest polling the clock (and the hub's flags): a sleeping thread
 * wakes late by the timer slack and the scheduler's (and a hypervisor's)
 * delays, a polling one as soon as it looks. The lead (lmk_spin_from,
 * watch.c, which fd()'s timer follows too) is 1 % of the sleep, at most
 * setspin()'s value. While a spin window is ahead, the thread's timer
 * slack is 1 ns (restored when wait returns; Linux only, port.h), so the
 * sleep before it ends on time. */

typedef struct hookmark { lua_Hook h; int mask, count; } hookmark;

static hookmark hook_of(lua_State *L) {
    hookmark m;
    m.h = lua_gethook(L);
    m.mask = lua_gethookmask(L);
    m.count = lua_gethookcount(L);
    return m;
}

static int hook_changed(lua_State *L, const hookmark *a) {
    hookmark b = hook_of(L);
    return a->h != b.h || a->mask != b.mask || a->count != b.count;
}

/* Whether something is pending that wait() does not see in the next due
 * time: producer items, or expirations Go published. */
static int outside_pending(lmk_hub *hub) { return lmk_hub_has_items(hub) || lmk_hub_go(hub); }

/* Items are flowing (one ran less than LMK_ITEM_HOT_NS ago): wait() looks
 * for the next one for a while before it sleeps, as a sleep and a wake-up
 * cost a producer and this thread more than a short look. The window
 * adapts: twice the last gap between a wait() and the item that ended it
 * (at least LMK_ITEM_SPIN_MIN_NS), half after a look that missed, none
 * while gaps are longer than LMK_ITEM_SPIN_MAX_NS or setspin()'s value;
 * setspin(0) turns it off. */
#define LMK_ITEM_HOT_NS 1000000
#define LMK_ITEM_SPIN_MIN_NS 2000
#define LMK_ITEM_SPIN_MAX_NS 50000

static int64_t item_cap(const lmk_state *st) {
    return st->spin_ns < LMK_ITEM_SPIN_MAX_NS ? st->spin_ns : LMK_ITEM_SPIN_MAX_NS;
}

/* An item came gap ns after wait() began. */
static void item_learn(lmk_state *st, int64_t gap) {
    int64_t w = 2 * gap;
    if (w < LMK_ITEM_SPIN_MIN_NS) w = LMK_ITEM_SPIN_MIN_NS;
    st->item_spin = w > item_cap(st) ? 0 : w;
}

/* Looks for an item (or Go's timer) until limit; returns whether one
 * came, and adapts the window. */
static int item_spin(lmk_state *st, int64_t now, int64_t limit) {
    int64_t w = st->item_spin, start = now, end;
    if (w <= 0 || item_cap(st) <= 0 || now - st->last_item > LMK_ITEM_HOT_NS) return 0;
    if (w > item_cap(st)) w = item_cap(st);
    end = start + w < limit ? start + w : limit;
    while (now < end) {
        int i;
        for (i = 0; i < 64; i++) {
            if (outside_pending(st->hub)) {
                item_learn(st, lmk_mono_ns() - start);
                return 1;
            }
            lmk_cpu_relax();
        }
        now = lmk_mono_ns();
    }
    if (end == start + w) st->item_spin = w / 2 >= LMK_ITEM_SPIN_MIN_NS ? w / 2 : 0;
    return 0;
}

/* wait() on the virtual clock: nothing blocks on a time. Something due or
 * delivered: return at once. Else the clock moves to the next due time,
 * or by the timeout if that comes first (nothing runs: the caller's
 * process_events runs what is then due). Only with no timer armed and no
 * timeout does the thread block, in real time, for a producer's item or a
 * signal (0: that is left to the real wait). Pushes wait's result and
 * returns 1 when it is done. */
static int virtual_wait(lua_State *L, lmk_state *st, double timeout) {
    int64_t now = lmk_now(st), due = lmk_next_due(st), to = INT64_MAX;
    int rc;
    if (due > now && !outside_pending(st->hub)) {
        if (timeout > 0) to = now + (int64_t)(timeout * 1e6);
        if (due < to) to = due;
        if (to == INT64_MAX) return 0;
        if ((rc = lmk_sched_setnow(st, to)) != LMK_OK) lmk_error(L, lmk_code_message(LMK_CODES_RC, rc));
    }
    lua_pushinteger(L, 0);
    return 1;
}

/* [-(0|1), +(1|2), e] wait([timeout_ms]) -> 0 | 1, message
 * Returns at once if something is pending, else blocks until something
 * is, the timeout passes (nil or 0: no timeout, as the original), or a
 * signal sets a Lua hook (lua.c's Ctrl-C handler does). */
static int l_wait(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    lmk_hub *hub = st->hub;
    double timeout = lua_isnoneornil(L, 1) ? 0 : lmk_checkms(L, 1, 1);
    int64_t start;
    if (st->virtual && virtual_wait(L, st, timeout)) return 1;
    start = lmk_mono_ns();
    int64_t deadline = timeout > 0 ? start + (int64_t)(timeout * 1e6) : INT64_MAX;
    int64_t due = lmk_next_wake(st), spin = lmk_spin_from(st, start, due);
    hookmark mine = hook_of(L), mainh = hook_of(st->main ? st->main : L);
    struct pollfd pfd;
    int failed = 0, err = 0, looked = 0;
    int sliced = -1; /* re-check the hooks each LMK_WAIT_SLICE (-1: not known yet) */
    int slack = -1; /* the thread's timer slack before we lowered it */
    pfd.fd = hub->wk.fd;
    pfd.events = POLLIN;
    for (;;) {
        int64_t now = lmk_mono_ns(), wake = deadline;
        int r;
        due = lmk_next_wake(st); /* Go writes go_due as its schedule moves */
        if (now >= due || now >= deadline) break; /* a timer is due, or time is up */
        if (outside_pending(hub)) break;
        if (spin < wake) wake = spin;
        if (now >= wake && wake == spin) { /* in the spin window: look, do not sleep */
            lmk_cpu_relax();
            if (hook_changed(L, &mine) || hook_changed(st->main ? st->main : L, &mainh)) break;
            continue;
        }
        if (!looked) { /* once per wait: look for a flowing producer's next item */
            looked = 1;
            if (item_spin(st, now, wake)) break;
            continue;
        }
        if (spin < due && slack < 0) {
            slack = lmk_port_slack_lower();
        }
        if (wake - now > (int64_t)LMK_WAIT_SLICE * 1000000) {
            if (sliced < 0) sliced = !lmk_port_signals_reach();
            if (sliced) wake = now + (int64_t)LMK_WAIT_SLICE * 1000000;
        }
        /* a handler that ran since the last look (a sleep it comes
         * later for ends at once: EINTR) */
        if (hook_changed(L, &mine) || hook_changed(st->main ? st->main : L, &mainh)) break;
        if (!lmk_wake_sleep_begin(&hub->wk)) break; /* it came meanwhile */
        pfd.revents = 0;
        r = lmk_port_poll(&pfd, wake - now);
        lmk_wake_sleep_end(&hub->wk);
        if (r > 0) {
            if (lmk_hub_has_items(hub)) {
                item_learn(st, lmk_mono_ns() - start);
                break;
            }
            if (outside_pending(hub)) break;
            lmk_wake_quiesce(&hub->wk); /* set, with nothing left (a withdrawn item) */
            continue;
        }
        if (r < 0 && errno != EINTR) { failed = 1; err = errno; break; }
        if (r < 0) sliced = 1; /* a signal: another may go to another thread */
        if (hook_changed(L, &mine) || hook_changed(st->main ? st->main : L, &mainh)) break;
    }
    lmk_port_slack_restore(slack);
    if (failed) {
        lua_pushinteger(L, 1);
        lua_pushstring(L, strerror(err));
        return 2;
    }
    lua_pushinteger(L, 0);
    return 1;
}

/* [-1, +0, e] setspin(us): the longest a wait() may poll the clock before
 * a timer is due (see spin_from); 0 turns polling off. Default 250. */
static int l_setspin(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    lua_Number us = luaL_checknumber(L, 1);
    if (us != us || us < 0 || us > 1e6) luaL_argerror(L, 1, LMK_ARG_SPIN);
    st->spin_ns = (int64_t)(us * 1000);
    return 0;
}

/* [-0, +1, e] fd() -> a file descriptor (port.h: on Linux an epoll
 * descriptor over the hub's eventfd and a timerfd; elsewhere a pipe;
 * CLOEXEC, non-blocking) readable while events are pending: poll it from
 * another event loop, then call process_events(), which clears it. Do not
 * close it. From the first call on, the fd is set whenever something is
 * pending, not only while wait() sleeps. */
static int l_fd(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    int fd = lmk_watch_fd(st);
    lmk_wake_watch(&st->hub->wk);
    lua_pushinteger(L, fd);
    return 1;
}

/* [-1, +(1|2), e] setport(port) -> true | nil, message: one UDP datagram
 * to 127.0.0.1:port each time the queue goes from nothing pending to
 * something pending; 0 disables. */
static int l_setport(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    lua_Number n = luaL_checknumber(L, 1);
    if (!(n >= 0 && n <= 65535) || n != (lua_Number)(int)n)
        luaL_argerror(L, 1, LMK_ARG_PORT);
    if (n != 0) {
        lmk_sched_active(st);
        lmk_wake_watch(&st->hub->wk);
    }
    if (lmk_wake_setport(&st->hub->wk, (int)n) != 0) {
        lua_pushnil(L);
        lua_pushliteral(L, LMK_MSG_NO_UDP);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* [-0, +1, e] getport() -> the port set by setport (0: none) */
static int l_getport(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    lua_pushinteger(L, lmk_wake_getport(&st->hub->wk));
    return 1;
}

const luaL_Reg lmk_wait_funcs[] = {
    {"wait", l_wait},
    {"setspin", l_setspin},
    {"fd", l_fd},
    {"setport", l_setport},
    {"getport", l_getport},
    {NULL, NULL}
};
