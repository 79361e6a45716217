/*
 * signal.c: signals as events: mit.signal(name_or_number, cb, ...) and
 * the methods of a signal handle, with their argument checks.
 *
 * A signal handle is a timer handle (lmk_timer) with a metatable of its
 * own (LMK_SIGNAL, kept in MISC[MISC_SIGMT]) over a timer record (lmk_rec)
 * flagged LMK_F_SIGNAL: periodic (it never "fires"), its signal number in
 * ms. Its schedule is Go's, a signal schedule that no clock makes due
 * (sched.c's last section): each delivery of the signal to the process
 * publishes one expiration at its arrival, for every armed handle of that
 * signal in every Lua state, and process_events runs its callback once
 * per delivery, in (due, seq) order with timers and producer items, as an
 * interval timer's (dispatch.c runs it as one). Deliveries of one signal
 * that come while one of them is still pending in the kernel merge there:
 * a burst of N is counted as 1 to N.
 *
 * Records and handles follow timer.c's one rule (see there): armed means
 * alive, so a handle collected while armed goes on catching; stopped and
 * collected, it is destroyed, which gives the signal back its previous
 * disposition once no handle of it is armed (Go's signal.Reset).
 *
 * The methods both kinds share (destroy, stop, ref, unref, has_ref, __gc,
 * __close) and the making of a handle (lmk_handle_new) are timer.c's;
 * here are what differs: the signal's checks, start, state, signal() and
 * tostring.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "lmk.h"

/* The signals by name, as kill -l spells them without "SIG"; a number's
 * name is its first entry here. */
static const struct sig_name {
    const char *name;
    int num;
} sig_names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},     {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"BUS", SIGBUS},   {"FPE", SIGFPE},   {"KILL", SIGKILL},   {"USR1", SIGUSR1},
    {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},   {"TERM", SIGTERM},
#ifdef SIGSTKFLT
    {"STKFLT", SIGSTKFLT},
#endif
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU}, {"URG", SIGURG},   {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
#ifdef SIGIO
    {"IO", SIGIO},
#endif
#ifdef SIGPOLL
    {"POLL", SIGPOLL},
#endif
#ifdef SIGPWR
    {"PWR", SIGPWR},
#endif
#ifdef SIGINFO
    {"INFO", SIGINFO},
#endif
#ifdef SIGEMT
    {"EMT", SIGEMT},
#endif
    {"SYS", SIGSYS},
#ifdef SIGIOT
    {"IOT", SIGIOT},
#endif
#ifdef SIGCLD
    {"CLD", SIGCLD},
#endif
};

#define NSIGNAMES (sizeof sig_names / sizeof sig_names[0])

/* The highest signal number: the real-time ones end at SIGRTMAX. */
static int sig_max(void) {
#ifdef SIGRTMAX
    return SIGRTMAX;
#else
    return NSIG - 1;
#endif
}

/* Writes sig's name ("SIGTERM", "SIGRTMIN+3") into buf. */
static void sig_name_of(int sig, char *buf, size_t n) {
    size_t i;
    for (i = 0; i < NSIGNAMES; i++) {
        if (sig_names[i].num == sig) {
            snprintf(buf, n, "SIG%s", sig_names[i].name);
            return;
        }
    }
#ifdef SIGRTMIN
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) { /* as kill -l names them */
        int lo = sig - SIGRTMIN, hi = SIGRTMAX - sig;
        if (lo == 0) snprintf(buf, n, "SIGRTMIN");
        else if (hi == 0) snprintf(buf, n, "SIGRTMAX");
        else if (lo <= hi) snprintf(buf, n, "SIGRTMIN+%d", lo);
        else snprintf(buf, n, "SIGRTMAX-%d", hi);
        return;
    }
#endif
    snprintf(buf, n, "signal %d", sig);
}

/* The number of signal name u (upper case, "SIG" taken off), or 0. */
static int sig_by_name(const char *u) {
    size_t i;
    for (i = 0; i < NSIGNAMES; i++)
        if (strcmp(sig_names[i].name, u) == 0) return sig_names[i].num;
#ifdef SIGRTMIN
    if (strncmp(u, "RTMIN", 5) == 0 || strncmp(u, "RTMAX", 5) == 0) {
        int max = u[4] == 'X', base = max ? SIGRTMAX : SIGRTMIN, k = 0;
        const char *p = u + 5;
        if (*p == '\0') return base;
        if (*p != (max ? '-' : '+') || p[1] == '\0') return 0;
        for (p++; *p; p++) {
            if (*p < '0' || *p > '9' || k > 1000) return 0;
            k = 10 * k + (*p - '0');
        }
        k = max ? base - k : base + k;
        return k >= SIGRTMIN && k <= SIGRTMAX ? k : 0;
    }
#endif
    return 0;
}

/* [-0, +0, v] the signal at arg: a name ("TERM", "SIGTERM", any case) or
 * a number, one a process can take as an event (see Catchable in
 * internal/queue/signal.go, which Go checks again). */
static int check_signal(lua_State *L, int arg) {
    char name[40];
    int sig = 0;
    if (lua_type(L, arg) == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, arg);
        if (n != n || n < -1e9 || n > 1e9 || n != (lua_Number)(int)n) luaL_argerror(L, arg, LMK_ARG_SIG_INTEGER);
        sig = (int)n;
        if (sig < 1 || sig > sig_max())
            luaL_argerror(L, arg, lua_pushfstring(L, LMK_FMT_SIG_NUMBER, sig));
    } else if (lua_type(L, arg) == LUA_TSTRING) {
        size_t len, i, off;
        const char *s = lua_tolstring(L, arg, &len);
        char u[sizeof name];
        for (i = 0; i < len && i < sizeof u - 1; i++)
            u[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i]);
        u[i] = '\0';
        off = strncmp(u, "SIG", 3) == 0 ? 3 : 0;
        if (len >= sizeof u || strlen(s) != len || (sig = sig_by_name(u + off)) == 0)
            luaL_argerror(L, arg, lua_pushfstring(L, LMK_FMT_SIG_UNKNOWN, s));
    } else {
        luaL_argerror(L, arg, lua_pushfstring(L, LMK_FMT_SIG_TYPE, luaL_typename(L, arg)));
    }
    sig_name_of(sig, name, sizeof name);
    switch (sig) {
    case SIGKILL:
    case SIGSTOP:
        luaL_argerror(L, arg, lua_pushfstring(L, LMK_FMT_SIG_UNCATCHABLE, name));
        break;
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGABRT:
    case SIGSYS:
#ifdef SIGEMT
    case SIGEMT:
#endif
        luaL_argerror(L, arg, lua_pushfstring(L, LMK_FMT_SIG_FAULT, name));
        break;
    case SIGURG:
    case SIGPROF:
        luaL_argerror(L, arg, lua_pushfstring(L, LMK_FMT_SIG_GO, name));
        break;
    }
#ifdef SIGRTMIN
    if (sig > SIGSYS && sig < SIGRTMIN && sig >= 32)
        luaL_argerror(L, arg, lua_pushfstring(L, LMK_FMT_SIG_RESERVED, sig, (int)SIGRTMIN, (int)SIGRTMAX));
#endif
    return sig;
}

/* [-0, +0, v] the signal handle at argument 1. */
static lmk_timer *checksignal(lua_State *L) {
    return (lmk_timer *)luaL_checkudata(L, 1, LMK_SIGNAL);
}

/* [-(2+n), +1, e] signal(name_or_number, cb, ...) -> handle, armed: each
 * delivery of the signal queues one event that runs cb(...). */
static int l_signal(lua_State *L) {
    lmk_state *st = lmk_getstate(L);
    int sig = check_signal(L, 1), rc;
    lmk_rec *r = lmk_handle_new(L, st, sig, 1, LMK_F_SIGNAL);
    rc = lmk_sched_signal_arm(st, r);
    if (rc != LMK_OK) { /* stopped: collected with the handle */
        lmk_release_thread(L, r);
        return lmk_error(L, lmk_code_message(LMK_CODES_RC, rc));
    }
    lmk_rec_state(st, r, LMK_T_ARMED);
    return 1;
}

static const char *signal_state(lua_State *L, lmk_timer *h) {
    lmk_rec *r = lmk_rec_of(L, h);
    if (r == NULL) return "destroyed";
    return r->state == LMK_T_STOPPED ? "stopped" : "armed";
}

/* [-1, +1, e] h:state() -> "armed" | "stopped" | "destroyed" */
static int s_state(lua_State *L) {
    lua_pushstring(L, signal_state(L, checksignal(L)));
    return 1;
}

/* [-1, +1, e] h:signal() -> its signal's name ("SIGTERM") */
static int s_signal(lua_State *L) {
    char name[40];
    sig_name_of((int)lmk_h_ms(checksignal(L)), name, sizeof name);
    lua_pushstring(L, name);
    return 1;
}

/* [-1, +1, e] h:start() -> h: a stopped handle catches again (an armed
 * one is left as it is, with what it has queued). Raises only on a
 * destroyed handle. */
static int s_start(lua_State *L) {
    lmk_timer *h = checksignal(L);
    lmk_state *st = lmk_getstate(L);
    lmk_rec *r = lmk_rec_of(L, h);
    int rc;
    if (r == NULL) return lmk_error(L, LMK_MSG_SIG_DESTROYED);
    if (r->state == LMK_T_ARMED) {
        lua_settop(L, 1);
        return 1;
    }
    lmk_anchor_thread(L, r); /* may allocate: a collection step may run any finalizer */
    if (r->state == LMK_T_DESTROYED) { /* one did, through another handle */
        lmk_release_thread(L, r);
        return lmk_error(L, LMK_MSG_SIG_DESTROYED);
    }
    rc = lmk_sched_signal_start(st, r);
    if (rc != LMK_OK) {
        lmk_release_thread(L, r);
        return lmk_error(L, lmk_code_message(LMK_CODES_RC, rc));
    }
    lmk_rec_state(st, r, LMK_T_ARMED);
    lua_settop(L, 1);
    return 1;
}

/* [-1, +1, m] __tostring: "luamockit.signal: 0x... (SIGTERM, armed)" */
static int s_tostring(lua_State *L) {
    lmk_timer *h = checksignal(L);
    char name[40];
    sig_name_of((int)lmk_h_ms(h), name, sizeof name);
    lua_pushfstring(L, LMK_SIGNAL ": %p (%s, %s)", (void *)h, name, signal_state(L, h));
    return 1;
}

const luaL_Reg lmk_signal_funcs[] = {
    {"signal", l_signal},
    {NULL, NULL}
};

static const luaL_Reg lmk_signal_methods[] = {
    {"destroy", lmk_h_destroy}, /* timer.c's, shared by both kinds */
    {"cancel", lmk_h_destroy},
    {"stop", lmk_h_stop},
    {"start", s_start},
    {"state", s_state},
    {"signal", s_signal},
    {"ref", lmk_h_ref},
    {"unref", lmk_h_unref},
    {"has_ref", lmk_h_has_ref},
    {NULL, NULL}
};

static const luaL_Reg lmk_signal_meta[] = {
    {"__gc", lmk_h_gc},
    {"__tostring", s_tostring},
#if LUA_VERSION_NUM >= 504
    {"__close", lmk_h_close},
#endif
    {NULL, NULL}
};

/* [-0, +0, e] the signal handle metatable (luamockit.signal in the
 * registry, MISC[MISC_SIGMT]), its methods closures over the module's
 * NUPS upvalues from stack index first on (as the timer metatable). */
void lmk_signal_init(lua_State *L, int first) {
    if (luaL_newmetatable(L, LMK_SIGNAL)) {
        lua_pushliteral(L, LMK_SIGNAL);
        lua_setfield(L, -2, "__name");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lmk_fill_metatable(L, first, lmk_signal_meta, lmk_signal_methods);
    lua_rawseti(L, first + NUPS - 1, MISC_SIGMT); /* MISC is the last upvalue */
}
