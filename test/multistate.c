/*
 * multistate.c: a C host program that opens several Lua states in one
 * process, requires luamockit in each (exactly the .so named by argv[1]),
 * and checks that no state ever sees another state's events.
 *
 *   build/host/multistate51 build/lua5.1/luamockit.so
 *   build/host/multistate54 build/lua5.4/luamockit.so
 *
 * Built against either the Lua 5.1 or the Lua 5.4 headers (see the Makefile
 * target test-host). It uses the module only as a user's host program
 * would: require() and the module's Lua functions, run through run().
 *
 * Scenarios (each check prints "ok - name" or "not ok - name: reason"):
 *   1. same thread, two states A and B, interleaved processing;
 *   2. one state per pthread, 4 threads running their loops concurrently;
 *   3. lua_close(A) while A's timers fire, 50 times, while B keeps working
 *      (a) on the same thread, (b) on another pthread;
 *   4. isolation after close: B's pending()/inqueue()/wait()/callbacks show
 *      nothing of a closed A.
 * Last line: "multistate: N passed, M failed"; exit status 0 iff M == 0.
 * A watchdog thread turns a hang into a "not ok" line and exit status 1.
 *
 * Timing-sensitive checks say "(timing)" in their name; their tolerances
 * are meant to hold on a loaded 2-core machine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#define ERRLEN 1024

/* ---- time ---- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms) {
    struct timespec req, rem;
    if (ms <= 0) return;
    req.tv_sec = (time_t)(ms / 1000);
    req.tv_nsec = (long)((ms - (double)req.tv_sec * 1000) * 1e6);
    while (nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
}

/* ---- reporting ---- */

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static int n_pass, n_fail;

static void report(int ok, const char *name, const char *fmt, ...) {
    char reason[ERRLEN];
    va_list ap;
    reason[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(reason, sizeof reason, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_lock(&out_mu);
    if (ok) {
        n_pass++;
        printf("ok - %s\n", name);
    } else {
        n_fail++;
        printf("not ok - %s: %s\n", name, reason[0] ? reason : "failed");
    }
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
}

static void diag(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&out_mu);
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
}

/* ---- watchdog: a hang becomes a reported failure, not a stuck test ---- */

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static double wd_deadline; /* 0: disarmed */
static double wd_seconds;
static char wd_name[256];

static void watch(const char *name, double seconds) {
    pthread_mutex_lock(&wd_mu);
    snprintf(wd_name, sizeof wd_name, "%s", name);
    wd_seconds = seconds;
    wd_deadline = now_ms() + seconds * 1000;
    pthread_mutex_unlock(&wd_mu);
}

static void *watchdog(void *arg) {
    (void)arg;
    for (;;) {
        sleep_ms(50);
        pthread_mutex_lock(&wd_mu);
        if (wd_deadline > 0 && now_ms() > wd_deadline) {
            /* Another thread may be stuck anywhere: write with dprintf and
             * leave with _exit, touching no shared state but the counters. */
            dprintf(1, "not ok - %s: hang: no result within %.0f s\n", wd_name, wd_seconds);
            dprintf(1, "multistate: %d passed, %d failed\n", n_pass, n_fail + 1);
            _exit(1);
        }
        pthread_mutex_unlock(&wd_mu);
    }
    return NULL;
}

/* ---- Lua helpers ---- */

static const char *module_path;
static char module_cpath[4096];

/* Runs chunk under lua_pcall. Returns 0, or -1 with the error message in
 * err. With nres > 0, the chunk's results are left on the stack for the
 * caller (who pops them); on error nothing is left. */
static int run_keep(lua_State *L, const char *chunk, int nres, char *err, size_t errn) {
    int top = lua_gettop(L);
    int st = luaL_loadstring(L, chunk);
    if (st == 0) st = lua_pcall(L, 0, nres, 0);
    if (st != 0) {
        const char *m = lua_tostring(L, -1);
        snprintf(err, errn, "Lua error: %s", m ? m : "(error object is not a string)");
        lua_settop(L, top);
        return -1;
    }
    return 0;
}

static int run(lua_State *L, const char *chunk, char *err, size_t errn) {
    return run_keep(L, chunk, 0, err, errn);
}

/* Runs chunk, which returns n numbers (or booleans: 1/0), into out. */
static int run_nums(lua_State *L, const char *chunk, double *out, int n, char *err, size_t errn) {
    int top = lua_gettop(L), i;
    if (run_keep(L, chunk, n, err, errn) != 0) return -1;
    for (i = 0; i < n; i++) {
        int idx = top + 1 + i;
        if (lua_type(L, idx) == LUA_TNUMBER) {
            out[i] = (double)lua_tonumber(L, idx);
        } else if (lua_type(L, idx) == LUA_TBOOLEAN) {
            out[i] = lua_toboolean(L, idx) ? 1 : 0;
        } else {
            snprintf(err, errn, "result %d of the chunk is a %s, not a number", i + 1,
                     luaL_typename(L, idx));
            lua_settop(L, top);
            return -1;
        }
    }
    lua_settop(L, top);
    return 0;
}

/* Runs a checking chunk: it returns nil/false when all is well, or a
 * string saying what is wrong. Returns 1 if all is well, else 0 with the
 * reason (or the Lua error) in why. */
static int run_check(lua_State *L, const char *chunk, char *why, size_t whyn) {
    int top = lua_gettop(L), ok;
    why[0] = '\0';
    if (run_keep(L, chunk, 1, why, whyn) != 0) return 0;
    if (lua_isnil(L, -1) || (lua_isboolean(L, -1) && !lua_toboolean(L, -1))) {
        ok = 1;
    } else {
        const char *s = lua_tostring(L, -1);
        snprintf(why, whyn, "%s", s ? s : "(check returned a non-string)");
        ok = 0;
    }
    lua_settop(L, top);
    return ok;
}

/* One check whose verdict is a checking chunk's result. */
static int check_lua(lua_State *L, const char *name, const char *chunk) {
    char why[ERRLEN];
    int ok = run_check(L, chunk, why, sizeof why);
    report(ok, name, "%s", why);
    return ok;
}

static void setnum(lua_State *L, const char *name, double v) {
    lua_pushnumber(L, (lua_Number)v);
    lua_setglobal(L, name);
}

static void setstr(lua_State *L, const char *name, const char *v) {
    lua_pushstring(L, v);
    lua_setglobal(L, name);
}

/* Common Lua helpers defined in every state after require. */
static const char *COMMON =
    "function host_sum(t) local s = 0 for _, v in ipairs(t) do s = s + v end return s end\n"
    /* bounds on the expirations of an interval timer of period p, armed
     * between a0 and a1, that were queued by time t (ms, monotime): never
     * more than are due by t (+1 for clock granularity); on a loaded
     * machine timers fire late, so accept half of what was due, minus 1. */
    "function host_ivbounds(p, a0, a1, t_lo, t_hi)\n"
    "  local hi = math.floor((t_hi - a0) / p) + 1\n"
    "  local lo = math.floor(0.5 * math.floor((t_lo - a1) / p)) - 1\n"
    "  if lo < 0 then lo = 0 end\n"
    "  return lo, hi\n"
    "end\n";

/* A new state with the standard libraries, TAG set, and the module loaded
 * by require() from exactly module_path into the global mit. */
static lua_State *new_state(const char *tag, char *err, size_t errn) {
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        snprintf(err, errn, "luaL_newstate failed");
        return NULL;
    }
    luaL_openlibs(L);
    setstr(L, "TAG", tag);
    setstr(L, "HOST_CPATH", module_cpath);
    setstr(L, "HOST_MODPATH", module_path);
    if (run(L,
            "package.path = ''\n"
            "package.cpath = HOST_CPATH\n"
            "HOST_CPATH = nil\n"
            "local m, where = require('luamockit')\n"
            "assert(type(m) == 'table' and type(m.process_events) == 'function',\n"
            "       'require(\"luamockit\") did not return the module table')\n"
#if LUA_VERSION_NUM >= 504
            "assert(where == HOST_MODPATH, 'luamockit loaded from ' .. tostring(where) ..\n"
            "       ', not from ' .. HOST_MODPATH)\n"
#endif
            "assert(mit == nil, 'require set a global mit')\n"
            "mit = m\n",
            err, errn) != 0 ||
        run(L, COMMON, err, errn) != 0) {
        lua_close(L);
        return NULL;
    }
    return L;
}

/* ======================================================================
 * Scenario 1: same thread, two states.
 * ==================================================================== */

static const char *S1_SETUP =
    "S = {bad = 0, oo = {}, iv = {}}\n"
    "local function cb(kind, i, tag)\n"
    "  if tag ~= TAG then S.bad = S.bad + 1 end\n"
    "  S[kind][i] = S[kind][i] + 1\n"
    "end\n"
    "IV = {}\n"
    "A0 = mit.monotime()\n"
    "for i = 1, NONE do S.oo[i] = 0; mit.oneoff((i - 1) * 10, cb, 'oo', i, TAG) end\n"
    "for i = 1, NIV do S.iv[i] = 0; IV[i] = mit.getit(PERIOD, cb, 'iv', i, TAG) end\n"
    "A1 = mit.monotime()\n"
    "function host_total() return host_sum(S.oo) + host_sum(S.iv) end\n";

static const char *S1_SNAP = "return host_total(), mit.pending(), mit.inqueue()";

static const char *S1_PROCESS =
    "PB = mit.monotime()\n"
    "local n = mit.process_events()\n"
    "PA = mit.monotime()\n"
    "return n, host_total(), S.bad, mit.pending()";

static const char *S1_ONEOFFS =
    "for i = 1, NONE do\n"
    "  if S.oo[i] ~= 1 then\n"
    "    return TAG .. ': one-off ' .. i .. ' ran ' .. S.oo[i] .. ' times, expected 1'\n"
    "  end\n"
    "end";

static const char *S1_INTERVALS =
    "for i = 1, NIV do\n"
    "  local lo, hi = host_ivbounds(PERIOD, A0, A1, PB, PA)\n"
    "  if S.iv[i] < lo or S.iv[i] > hi then\n"
    "    return string.format('%s: interval %d (%d ms) ran %d times in %.0f ms, expected %d..%d',\n"
    "                         TAG, i, PERIOD, S.iv[i], PA - A0, lo, hi)\n"
    "  end\n"
    "end";

static void scenario1(void) {
    char err[ERRLEN];
    lua_State *A, *B;
    double a0[3], b0[3], pa[4], b1[3], pb[4], a2[3], w[3], bp[3], bq[3];
    const char *N_A = "same thread: process_events in A runs only A's events";
    const char *N_B = "same thread: B untouched by A's process_events (counter, pending)";
    const char *N_BB = "same thread: process_events in B runs only B's events, A untouched";

    watch("same thread (scenario 1)", 10);
    A = new_state("state-A", err, sizeof err);
    if (A == NULL) { report(0, "same thread: open A and require luamockit", "%s", err); return; }
    B = new_state("state-B", err, sizeof err);
    if (B == NULL) {
        report(0, "same thread: open B and require luamockit", "%s", err);
        lua_close(A);
        return;
    }
    report(1, "same thread: two states require luamockit from the given path", NULL);

    setnum(A, "NONE", 5); setnum(A, "NIV", 2); setnum(A, "PERIOD", 20);
    setnum(B, "NONE", 3); setnum(B, "NIV", 2); setnum(B, "PERIOD", 25);
    if (run(A, S1_SETUP, err, sizeof err) != 0 || run(B, S1_SETUP, err, sizeof err) != 0) {
        report(0, "same thread: arm timers in A and B", "%s", err);
        goto out;
    }
    sleep_ms(250);

    if (run_nums(A, S1_SNAP, a0, 3, err, sizeof err) != 0 ||
        run_nums(B, S1_SNAP, b0, 3, err, sizeof err) != 0) {
        report(0, "same thread: events queued in both states", "%s", err);
        goto out;
    }
    report(a0[0] == 0 && b0[0] == 0 && a0[1] >= 5 && b0[1] >= 3,
           "same thread: events queued in both states, no callback run before process_events",
           "A: ran %.0f, pending %.0f (expected >= 5); B: ran %.0f, pending %.0f (expected >= 3)",
           a0[0], a0[1], b0[0], b0[1]);

    /* A processes; B must not notice. */
    if (run_nums(A, S1_PROCESS, pa, 4, err, sizeof err) != 0) {
        report(0, N_A, "%s", err);
        goto out;
    }
    report(pa[0] == pa[1] && pa[2] == 0 && pa[0] >= a0[1], N_A,
           "process_events returned %.0f, A's callbacks counted %.0f, tag mismatches %.0f, "
           "pending before %.0f",
           pa[0], pa[1], pa[2], a0[1]);
    if (run_nums(B, S1_SNAP, b1, 3, err, sizeof err) != 0) {
        report(0, N_B, "%s", err);
        goto out;
    }
    report(b1[0] == 0 && b1[1] >= b0[1] && b1[2] >= b0[2], N_B,
           "B ran %.0f callbacks (expected 0); pending %.0f -> %.0f, inqueue %.0f -> %.0f "
           "(must not drop)",
           b1[0], b0[1], b1[1], b0[2], b1[2]);

    /* Now B processes; A must not notice. */
    if (run_nums(B, S1_PROCESS, pb, 4, err, sizeof err) != 0 ||
        run_nums(A, S1_SNAP, a2, 3, err, sizeof err) != 0) {
        report(0, N_BB, "%s", err);
        goto out;
    }
    report(pb[0] == pb[1] && pb[2] == 0 && pb[0] >= b1[1] && a2[0] == pa[1], N_BB,
           "B: process_events returned %.0f, B's callbacks counted %.0f, tag mismatches %.0f, "
           "pending before %.0f; A's callback count %.0f -> %.0f",
           pb[0], pb[1], pb[2], b1[1], pa[1], a2[0]);

    check_lua(A, "same thread: A's one-offs ran exactly once each", S1_ONEOFFS);
    check_lua(B, "same thread: B's one-offs ran exactly once each", S1_ONEOFFS);
    check_lua(A, "same thread: A's interval counts within tolerance (timing)", S1_INTERVALS);
    check_lua(B, "same thread: B's interval counts within tolerance (timing)", S1_INTERVALS);

    /* A with nothing armed must sleep through B's expirations. */
    if (run_check(A,
                  "for i = 1, NIV do IV[i]:destroy() end\n"
                  "mit.process_events()\n"
                  "if mit.pending() ~= 0 or mit.inqueue() ~= 0 then\n"
                  "  return 'A still has pending ' .. mit.pending() .. ', inqueue ' .. mit.inqueue()\n"
                  "end",
                  err, sizeof err) == 0 ||
        run_nums(B, S1_SNAP, bp, 3, err, sizeof err) != 0 ||
        run_nums(A,
                 "local t = mit.monotime()\n"
                 "local r = mit.wait(150)\n"
                 "return r, mit.monotime() - t, mit.pending()",
                 w, 3, err, sizeof err) != 0 ||
        run_nums(B, S1_SNAP, bq, 3, err, sizeof err) != 0) {
        report(0, "same thread: A.wait(150) is not woken by B's events (timing)", "%s", err);
        goto out;
    }
    report(w[0] == 0 && w[1] >= 145 && w[2] == 0 && bq[1] > bp[1],
           "same thread: A.wait(150) is not woken by B's events (timing)",
           "A.wait returned %.0f after %.1f ms with A pending %.0f; B pending %.0f -> %.0f "
           "meanwhile (expected 0, >= 145 ms, 0, growing)",
           w[0], w[1], w[2], bp[1], bq[1]);

out:
    lua_close(A);
    lua_close(B);
}

/* ======================================================================
 * Scenario 2: one state per pthread.
 * ==================================================================== */

#define NTHREADS 4

static const char *S2_RUN =
    "local NIV, P, DUR = 3, 5, 300\n"
    "local delays = {0, 1, 7, 30, 90, 200}\n"
    "local iv, oo, bad, ran = {}, {}, 0, 0\n"
    "local function cb(kind, i, tag)\n"
    "  if tag ~= TAG then bad = bad + 1 end\n"
    "  if kind == 'iv' then iv[i] = iv[i] + 1 else oo[i] = oo[i] + 1 end\n"
    "end\n"
    "local h = {}\n"
    "local a0 = mit.monotime()\n"
    "for i = 1, NIV do iv[i] = 0; h[i] = mit.getit(P, cb, 'iv', i, TAG) end\n"
    "local a1 = mit.monotime()\n"
    "for i = 1, #delays do oo[i] = 0; mit.oneoff(delays[i], cb, 'oo', i, TAG) end\n"
    "local tend = a1 + DUR\n"
    "local loops = 0\n"
    "while mit.monotime() < tend do\n"
    "  local r, msg = mit.wait(20)\n"
    "  if r ~= 0 then error('wait failed: ' .. tostring(msg)) end\n"
    "  ran = ran + mit.process_events()\n"
    "  loops = loops + 1\n"
    "end\n"
    "local tlast = mit.monotime()\n"
    "for i = 1, NIV do h[i]:destroy() end\n"
    "local function done() for i = 1, #delays do if oo[i] == 0 then return false end end return true end\n"
    "local limit = mit.monotime() + 2000\n"
    "while not done() and mit.monotime() < limit do mit.wait(50); ran = ran + mit.process_events() end\n"
    "mit.sleep(20)\n" /* a duplicate one-off event, if any, would be queued by now */
    "ran = ran + mit.process_events()\n"
    "local own, once, counts = false, false, false\n"
    "local total = host_sum(iv) + host_sum(oo)\n"
    "if bad ~= 0 or ran ~= total or mit.pending() ~= 0 or mit.inqueue() ~= 0 then\n"
    "  own = string.format('%s: %d callbacks saw a foreign tag; process_events ran %d, own callbacks'\n"
    "    .. ' counted %d; left pending %d, inqueue %d', TAG, bad, ran, total, mit.pending(), mit.inqueue())\n"
    "end\n"
    "for i = 1, #delays do\n"
    "  if oo[i] ~= 1 then\n"
    "    once = string.format('%s: one-off %d (%d ms) ran %d times, expected 1', TAG, i, delays[i], oo[i])\n"
    "    break\n"
    "  end\n"
    "end\n"
    "local lo, hi = host_ivbounds(P, a0, a1, tlast - 25, tlast)\n"
    "for i = 1, NIV do\n"
    "  if iv[i] < lo or iv[i] > hi then\n"
    "    counts = string.format('%s: interval %d (%d ms) ran %d times in %.0f ms, expected %d..%d',\n"
    "      TAG, i, P, iv[i], tlast - a0, lo, hi)\n"
    "    break\n"
    "  end\n"
    "end\n"
    "return own, once, counts, loops, total\n";

typedef struct s2arg {
    int idx;
    pthread_barrier_t *barrier;
    char setup_err[ERRLEN];
    char run_err[ERRLEN];
    char why[3][ERRLEN]; /* own, once, counts: "" when fine */
    double loops, total;
} s2arg;

static void *s2_thread(void *p) {
    s2arg *a = (s2arg *)p;
    char tag[64];
    lua_State *L;
    int top, i;
    snprintf(tag, sizeof tag, "thread-%d-%p", a->idx, (void *)a);
    L = new_state(tag, a->setup_err, sizeof a->setup_err);
    pthread_barrier_wait(a->barrier); /* all states exist: run the loops together */
    if (L == NULL) return NULL;
    top = lua_gettop(L);
    if (run_keep(L, S2_RUN, 5, a->run_err, sizeof a->run_err) == 0) {
        for (i = 0; i < 3; i++) {
            const char *s = lua_isstring(L, top + 1 + i) ? lua_tostring(L, top + 1 + i) : NULL;
            snprintf(a->why[i], sizeof a->why[i], "%s", s ? s : "");
        }
        a->loops = (double)lua_tonumber(L, top + 4);
        a->total = (double)lua_tonumber(L, top + 5);
        lua_settop(L, top);
    }
    lua_close(L);
    return NULL;
}

static void scenario2(void) {
    pthread_t th[NTHREADS];
    s2arg args[NTHREADS];
    pthread_barrier_t barrier;
    int i, started = 0;
    char name[128];

    watch("one state per pthread (scenario 2)", 10);
    pthread_barrier_init(&barrier, NULL, NTHREADS);
    memset(args, 0, sizeof args);
    for (i = 0; i < NTHREADS; i++) {
        args[i].idx = i + 1;
        args[i].barrier = &barrier;
        if (pthread_create(&th[i], NULL, s2_thread, &args[i]) != 0) break;
        started++;
    }
    if (started < NTHREADS) {
        /* The barrier would never open: report and let the watchdog end it. */
        report(0, "threads: start 4 pthreads", "pthread_create failed after %d", started);
        for (;;) sleep_ms(1000);
    }
    for (i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);

    for (i = 0; i < NTHREADS; i++) {
        s2arg *a = &args[i];
        snprintf(name, sizeof name, "threads: state %d opened and looped for 300 ms", a->idx);
        report(!a->setup_err[0] && !a->run_err[0], name, "%s%s", a->setup_err, a->run_err);
        if (a->setup_err[0] || a->run_err[0]) continue;
        snprintf(name, sizeof name, "threads: state %d ran only its own callbacks", a->idx);
        report(!a->why[0][0], name, "%s", a->why[0]);
        snprintf(name, sizeof name, "threads: state %d one-offs ran exactly once", a->idx);
        report(!a->why[1][0], name, "%s", a->why[1]);
        snprintf(name, sizeof name, "threads: state %d interval counts plausible (timing)", a->idx);
        report(!a->why[2][0], name, "%s", a->why[2]);
        diag("thread %d: %.0f loop iterations, %.0f callbacks", a->idx, a->loops, a->total);
    }
}

/* ======================================================================
 * Scenario 3: lua_close(A) while A's timers fire; B keeps working.
 * ==================================================================== */

#define S3_CLOSES 50

/* B: an interval timer and one-offs armed one by one during the closes. */
static const char *S3_B_SETUP =
    "S = {bad = 0, iv = 0, oo = {}, ran = 0, k = 0}\n"
    "local function cb_iv(tag) if tag ~= TAG then S.bad = S.bad + 1 end S.iv = S.iv + 1 end\n"
    "local function cb_oo(k, tag) if tag ~= TAG then S.bad = S.bad + 1 end S.oo[k] = S.oo[k] + 1 end\n"
    "A0 = mit.monotime()\n"
    "BIV = mit.getit(BPERIOD, cb_iv, TAG)\n"
    "A1 = mit.monotime()\n"
    "function host_arm() S.k = S.k + 1; S.oo[S.k] = 0; mit.oneoff(S.k % 6, cb_oo, S.k, TAG) end\n"
    "function host_step(timeout)\n"
    "  local r, msg = mit.wait(timeout)\n"
    "  if r ~= 0 then error('wait failed: ' .. tostring(msg)) end\n"
    "  S.ran = S.ran + mit.process_events()\n"
    "end\n";

/* B after the closes: let the last one-offs run, stop, and check. */
static const char *S3_B_FINISH =
    "local function done() for k = 1, S.k do if S.oo[k] == 0 then return false end end return true end\n"
    "local limit = mit.monotime() + 2000\n"
    "while not done() and mit.monotime() < limit do host_step(50) end\n"
    "TL = mit.monotime()\n"
    "host_step(1)\n" /* everything queued up to TL has run once this returns */
    "TS = mit.monotime()\n"
    "BIV:destroy()\n"
    "mit.sleep(10)\n"
    "S.ran = S.ran + mit.process_events()\n";

static const char *S3_B_OWN =
    "local total = S.iv + host_sum(S.oo)\n"
    "if S.bad ~= 0 or S.ran ~= total or mit.pending() ~= 0 or mit.inqueue() ~= 0 then\n"
    "  return string.format('%d callbacks saw a foreign tag; process_events ran %d, B\\'s callbacks'\n"
    "    .. ' counted %d; left pending %d, inqueue %d', S.bad, S.ran, total, mit.pending(), mit.inqueue())\n"
    "end";

static const char *S3_B_ONCE =
    "if S.k < MINK then return 'only ' .. S.k .. ' one-offs armed, expected >= ' .. MINK end\n"
    "for k = 1, S.k do\n"
    "  if S.oo[k] ~= 1 then\n"
    "    return string.format('one-off %d of %d (%d ms) ran %d times, expected 1', k, S.k, k % 6, S.oo[k])\n"
    "  end\n"
    "end";

static const char *S3_B_IV =
    "local lo, hi = host_ivbounds(BPERIOD, A0, A1, TL, TS)\n"
    "if S.iv < lo or S.iv > hi then\n"
    "  return string.format('interval (%d ms) ran %d times in %.0f ms, expected %d..%d',\n"
    "    BPERIOD, S.iv, TS - A0, lo, hi)\n"
    "end";

/* A: 100 interval timers at 1 ms and 200 one-offs at 0-5 ms, a little
 * processing, then the caller closes A while they fire. */
static const char *S3_A_RUN =
    "N = 0\n"
    "local function cb() N = N + 1 end\n"
    "KEEP = {}\n"
    "for i = 1, 100 do KEEP[i] = mit.getit(1, cb) end\n"
    "for i = 1, 200 do mit.oneoff(math.random(0, 5), cb) end\n"
    "for k = 1, 3 do mit.wait(2); mit.process_events(150) end\n"
    "return N, mit.pending()";

typedef struct a_stats {
    int closes, opened, with_pending;
    double ran, max_close_ms;
    char err[ERRLEN];
} a_stats;

/* One close cycle on the calling thread; B (if not NULL) takes a step on
 * this thread between the phases. Returns 0, or -1 with stats->err set. */
static int a_cycle(a_stats *s, int iter, lua_State *B, char *berr, size_t berrn) {
    lua_State *A;
    double r[2], t;
    char tag[32];
    snprintf(tag, sizeof tag, "state-A%d", iter);
    A = new_state(tag, s->err, sizeof s->err);
    if (A == NULL) return -1;
    s->opened++;
    if (run_nums(A, S3_A_RUN, r, 2, s->err, sizeof s->err) != 0) {
        lua_close(A);
        return -1;
    }
    s->ran += r[0];
    if (B != NULL && run(B, "host_arm()", berr, berrn) == 0)
        run(B, "host_step(1)", berr, berrn); /* an error is left in berr for the caller */
    sleep_ms((double)(iter % 3)); /* let A's 1 ms timers pile up */
    if (run_nums(A, "return mit.pending()", r, 1, s->err, sizeof s->err) != 0) {
        lua_close(A);
        return -1;
    }
    if (r[0] > 0) s->with_pending++;
    t = now_ms();
    lua_close(A); /* A's timers are firing */
    t = now_ms() - t;
    if (t > s->max_close_ms) s->max_close_ms = t;
    s->closes++;
    return 0;
}

static void report_a_stats(const char *prefix, a_stats *s) {
    char name[160];
    snprintf(name, sizeof name, "%s: %d states closed while their timers fire", prefix, S3_CLOSES);
    report(s->closes == S3_CLOSES && !s->err[0], name, "%d of %d closes done; %s", s->closes,
           S3_CLOSES, s->err[0] ? s->err : "(no error)");
    snprintf(name, sizeof name, "%s: A's timers were live at close", prefix);
    /* Guards the test itself: a close with nothing queued proves little. */
    report(s->ran > 0 && s->with_pending > 0, name,
           "A's states ran %.0f callbacks, %d of %d closed with events pending", s->ran,
           s->with_pending, s->closes);
    diag("%s: A ran %.0f callbacks in all, %d of %d closes with events pending, "
         "slowest lua_close %.1f ms",
         prefix, s->ran, s->with_pending, s->closes, s->max_close_ms);
}

static void b_checks(lua_State *B, const char *prefix) {
    char err[ERRLEN], name[160];
    if (run(B, S3_B_FINISH, err, sizeof err) != 0) {
        snprintf(name, sizeof name, "%s: B finishes its loop", prefix);
        report(0, name, "%s", err);
        return;
    }
    snprintf(name, sizeof name, "%s: B ran only its own callbacks", prefix);
    check_lua(B, name, S3_B_OWN);
    snprintf(name, sizeof name, "%s: B's one-offs ran exactly once", prefix);
    check_lua(B, name, S3_B_ONCE);
    snprintf(name, sizeof name, "%s: B's interval count within tolerance (timing)", prefix);
    check_lua(B, name, S3_B_IV);
}

static void scenario3a(void) {
    const char *P = "close while firing (same thread)";
    char err[ERRLEN], berr[ERRLEN];
    a_stats s;
    lua_State *B;
    int i;

    watch("close while firing, same thread (scenario 3a)", 10);
    memset(&s, 0, sizeof s);
    berr[0] = '\0';
    B = new_state("state-B3a", err, sizeof err);
    if (B == NULL) { report(0, "close while firing (same thread): open B", "%s", err); return; }
    setnum(B, "BPERIOD", 10);
    setnum(B, "MINK", S3_CLOSES);
    if (run(B, S3_B_SETUP, err, sizeof err) != 0) {
        report(0, "close while firing (same thread): arm B", "%s", err);
        lua_close(B);
        return;
    }
    for (i = 0; i < S3_CLOSES; i++) {
        if (a_cycle(&s, i, B, berr, sizeof berr) != 0) break;
        if (berr[0]) break;
        if (run(B, "host_step(1)", berr, sizeof berr) != 0) break; /* right after A's close */
    }
    report_a_stats(P, &s);
    report(!berr[0], "close while firing (same thread): B kept working between A's closes", "%s", berr);
    b_checks(B, P);
    lua_close(B);
}

typedef struct s3b_arg {
    int stop; /* __atomic */
    int ready; /* __atomic: B is armed */
    char err[ERRLEN];
    double steps;
    lua_State *L;
} s3b_arg;

static void *s3b_thread(void *p) {
    s3b_arg *a = (s3b_arg *)p;
    double deadline = now_ms() + 10000, next = 0;
    lua_State *L = new_state("state-B3b", a->err, sizeof a->err);
    if (L == NULL) { __atomic_store_n(&a->ready, -1, __ATOMIC_SEQ_CST); return NULL; }
    setnum(L, "BPERIOD", 5);
    setnum(L, "MINK", 3);
    if (run(L, S3_B_SETUP, a->err, sizeof a->err) != 0) {
        lua_close(L);
        __atomic_store_n(&a->ready, -1, __ATOMIC_SEQ_CST);
        return NULL;
    }
    __atomic_store_n(&a->ready, 1, __ATOMIC_SEQ_CST);
    /* B's own loop, concurrent with A's closes on the main thread; a
     * one-off is armed every ~15 ms. Bounded by deadline. */
    while (!__atomic_load_n(&a->stop, __ATOMIC_SEQ_CST) && now_ms() < deadline) {
        if (now_ms() >= next) {
            if (run(L, "host_arm()", a->err, sizeof a->err) != 0) break;
            next = now_ms() + 15;
        }
        if (run(L, "host_step(10)", a->err, sizeof a->err) != 0) break;
        a->steps++;
    }
    if (!a->err[0] && !__atomic_load_n(&a->stop, __ATOMIC_SEQ_CST))
        snprintf(a->err, sizeof a->err, "B's loop reached its 10 s deadline before A's closes ended");
    a->L = L; /* checked and closed by the main thread after join */
    return NULL;
}

static void scenario3b(void) {
    const char *P = "close while firing (B on another pthread)";
    s3b_arg b;
    a_stats s;
    pthread_t th;
    int i, ready;

    watch("close while firing, B on another pthread (scenario 3b)", 10);
    memset(&b, 0, sizeof b);
    memset(&s, 0, sizeof s);
    if (pthread_create(&th, NULL, s3b_thread, &b) != 0) {
        report(0, "close while firing (B on another pthread): start B's thread", "pthread_create failed");
        return;
    }
    while ((ready = __atomic_load_n(&b.ready, __ATOMIC_SEQ_CST)) == 0) sleep_ms(1);
    if (ready > 0) {
        double t0 = now_ms();
        sleep_ms(20);
        for (i = 0; i < S3_CLOSES; i++)
            if (a_cycle(&s, i, NULL, NULL, 0) != 0) break;
        /* B runs >= 200 ms in all, so it arms several one-offs. */
        sleep_ms(200 - (now_ms() - t0));
    }
    __atomic_store_n(&b.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);
    if (ready < 0) {
        report(0, "close while firing (B on another pthread): open and arm B", "%s", b.err);
        return;
    }
    report_a_stats(P, &s);
    report(!b.err[0], "close while firing (B on another pthread): B's loop ran throughout",
           "%s", b.err);
    diag("%s: B's loop took %.0f steps", P, b.steps);
    if (b.L != NULL) {
        b_checks(b.L, P);
        lua_close(b.L);
    }
}

/* ======================================================================
 * Scenario 4: isolation after close.
 * ==================================================================== */

static const char *S4_B_SETUP =
    "S = {bad = 0, long = 0, short = 0}\n"
    "local function cb_long() S.long = S.long + 1 end\n"
    /* Long timers: their ids coincide with those A hands out, so an event
     * of A delivered to B would run one of these. */
    "LONG = {}\n"
    "for i = 1, 10 do LONG[#LONG + 1] = mit.getit(60000, cb_long) end\n"
    "for i = 1, 10 do LONG[#LONG + 1] = mit.oneoff(60000, cb_long) end\n"
    "if mit.pending() ~= 0 or mit.inqueue() ~= 0 then\n"
    "  return 'B starts with pending ' .. mit.pending() .. ', inqueue ' .. mit.inqueue()\n"
    "end";

static const char *S4_A_RUN =
    "N = 0\n"
    "local function cb() N = N + 1 end\n"
    "local iv = {}\n"
    "for i = 1, 20 do iv[i] = mit.getit(1, cb) end\n"
    "for i = 1, 50 do mit.oneoff(0, cb) end\n"
    /* let every interval expire several times (bounded: 2 s) */
    "local limit = mit.monotime() + 2000\n"
    "repeat mit.sleep(5) until mit.pending() >= 250 or mit.monotime() > limit\n"
    "for i = 1, 5 do iv[i]:stop() end\n" /* drops their due expirations */
    "for i = 6, 10 do iv[i]:destroy() end\n"
    "KEEP = iv\n"
    "return mit.pending(), mit.inqueue()";

static void scenario4(void) {
    char err[ERRLEN];
    lua_State *A = NULL, *B;
    double a[2], b[2];

    watch("isolation after close (scenario 4)", 10);
    B = new_state("state-B4", err, sizeof err);
    if (B == NULL) { report(0, "isolation: open B", "%s", err); return; }
    if (!check_lua(B, "isolation: B armed long timers, nothing queued", S4_B_SETUP)) goto out;
    A = new_state("state-A4", err, sizeof err);
    if (A == NULL) { report(0, "isolation: open A", "%s", err); goto out; }
    if (run_nums(A, S4_A_RUN, a, 2, err, sizeof err) != 0 ||
        run_nums(B, "return mit.pending(), mit.inqueue()", b, 2, err, sizeof err) != 0) {
        report(0, "isolation: A's queued events invisible to B while A is alive", "%s", err);
        goto out;
    }
    report(a[0] >= 50 && a[1] == a[0] && b[0] == 0 && b[1] == 0,
           "isolation: A's queued events invisible to B while A is alive",
           "A pending %.0f (expected >= 50), inqueue %.0f (expected = pending: no stale entries); "
           "B pending %.0f, inqueue %.0f (expected 0, 0)",
           a[0], a[1], b[0], b[1]);
    lua_close(A);
    A = NULL;
    check_lua(B, "isolation: after A's close B's pending()/inqueue() are 0",
              "if mit.pending() ~= 0 or mit.inqueue() ~= 0 then\n"
              "  return 'B has pending ' .. mit.pending() .. ', inqueue ' .. mit.inqueue()\n"
              "end");
    check_lua(B, "isolation: after A's close B.wait(100) times out, runs nothing (timing)",
              "local t = mit.monotime()\n"
              "local r = mit.wait(100)\n"
              "local dt = mit.monotime() - t\n"
              "local n = mit.process_events()\n"
              "if r ~= 0 or dt < 95 or n ~= 0 or S.long ~= 0 or mit.pending() ~= 0 then\n"
              "  return string.format('wait returned %s after %.1f ms (expected 0 after >= 95 ms); '\n"
              "    .. 'process_events ran %d, B\\'s long timers ran %d, pending %d (expected 0, 0, 0)',\n"
              "    tostring(r), dt, n, S.long, mit.pending())\n"
              "end");
    check_lua(B, "isolation: after A's close B's own one-off runs exactly once",
              "local function cb(tag) if tag ~= TAG then S.bad = S.bad + 1 end S.short = S.short + 1 end\n"
              "mit.oneoff(5, cb, TAG)\n"
              "local limit = mit.monotime() + 2000\n"
              "local n = 0\n"
              "while S.short == 0 and mit.monotime() < limit do mit.wait(50); n = n + mit.process_events() end\n"
              "mit.sleep(10)\n"
              "n = n + mit.process_events()\n"
              "if n ~= 1 or S.short ~= 1 or S.bad ~= 0 or S.long ~= 0 or mit.pending() ~= 0\n"
              "   or mit.inqueue() ~= 0 then\n"
              "  return string.format('process_events ran %d, the one-off ran %d times, %d foreign tags, '\n"
              "    .. 'long timers ran %d, pending %d, inqueue %d (expected 1, 1, 0, 0, 0, 0)',\n"
              "    n, S.short, S.bad, S.long, mit.pending(), mit.inqueue())\n"
              "end\n"
              "for _, t in ipairs(LONG) do t:destroy() end");
out:
    if (A != NULL) lua_close(A);
    lua_close(B);
}

/* ====================================================================== */

int main(int argc, char **argv) {
    pthread_t wd;
    const char *slash, *base;
    double t0 = now_ms();

    if (argc != 2) {
        fprintf(stderr, "usage: %s path/to/luamockit.so\n", argv[0]);
        return 2;
    }
    module_path = argv[1];
    if (access(module_path, R_OK) != 0) {
        fprintf(stderr, "%s: cannot read %s: %s\n", argv[0], module_path, strerror(errno));
        return 2;
    }
    slash = strrchr(module_path, '/');
    base = slash ? slash + 1 : module_path;
    if (strcmp(base, "luamockit.so") == 0) {
        /* The directory of argv[1] + "/?.so": require finds exactly that file. */
        if (slash == NULL)
            snprintf(module_cpath, sizeof module_cpath, "./?.so");
        else
            snprintf(module_cpath, sizeof module_cpath, "%.*s/?.so", (int)(slash - module_path),
                     module_path);
    } else {
        /* Another file name: a template without '?' names the file itself. */
        snprintf(module_cpath, sizeof module_cpath, "%s", module_path);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("# multistate: %s, module %s (package.cpath %s)\n", LUA_RELEASE, module_path, module_cpath);

    if (pthread_create(&wd, NULL, watchdog, NULL) != 0) {
        fprintf(stderr, "%s: cannot start the watchdog thread\n", argv[0]);
        return 2;
    }

    scenario1();
    scenario2();
    scenario3a();
    scenario3b();
    scenario4();

    pthread_mutex_lock(&wd_mu);
    wd_deadline = 0;
    pthread_mutex_unlock(&wd_mu);

    pthread_mutex_lock(&out_mu);
    printf("# runtime %.1f s\n", (now_ms() - t0) / 1000);
    printf("multistate: %d passed, %d failed\n", n_pass, n_fail);
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
    return n_fail == 0 ? 0 : 1;
}
