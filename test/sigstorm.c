/*
 * sigstorm.c: luamockit under a storm of signals (issue 13). A thread
 * sends SIGUSR1 (its handler does nothing) to the thread that runs Lua, at
 * RATE signals a second, while Lua sleeps, waits and runs a timer loop; at
 * each rate:
 *   sleep(ms, true)  ends on its deadline: overshoot at most 20 ms;
 *   sleep(ms)        is cut short: it returns EINTR and remaining <= ms;
 *   wait(ms)         with nothing due does not return before ms;
 *   a wait()/process_events() loop of 8 interval timers (2 ms) and 60
 *                    one-offs runs exact counts: every interval timer's
 *                    expirations due when the last process_events began,
 *                    no more, and every one-off once, none early.
 * Prints "ok - ..." / "not ok - ..." lines with the figures (the sleep
 * overshoot, the signals sent), then "sigstorm: P passed, F failed".
 *
 *   build/host/sigstorm54 build/lua5.4 [ms]   (ms: the length of each part, default 400)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

static pthread_t lua_thread;
static volatile int storming, storm_rate;
static volatile long sent;
static int n_pass, n_fail;

static void on_usr1(int sig) { (void)sig; }

static void *storm(void *arg) {
    struct timespec next;
    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (storming) {
        long period = 1000000000L / storm_rate;
        next.tv_nsec += period;
        while (next.tv_nsec >= 1000000000L) { next.tv_nsec -= 1000000000L; next.tv_sec++; }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        if (storm_rate > 0 && pthread_kill(lua_thread, SIGUSR1) == 0) sent++;
    }
    return NULL;
}

/* The checks, in Lua: each returns a line of figures, or raises. */
static const char *checks =
    "local mit = require('luamockit')\n"
    "local MS = ...\n"
    "local now, floor = mit.monotime, math.floor\n"
    "local out = {}\n"
    "-- sleep(ms, true): to its deadline, whatever the signals\n"
    "local t0 = now(); local rem, err = mit.sleep(MS, true); local over = now() - t0 - MS\n"
    "if rem ~= 0 or err ~= 0 then error(('sleep(%d, true) returned %s, %s'):format(MS, rem, err)) end\n"
    "if over < 0 or over > 20 then error(('sleep(%d, true) took %.3f ms over'):format(MS, over)) end\n"
    "out[#out + 1] = ('sleep(%d, true) overshoot %.3f ms'):format(MS, over)\n"
    "-- sleep(ms): cut short, remaining never more than asked\n"
    "local cut = 0\n"
    "for _ = 1, 20 do\n"
    "  local r, e = mit.sleep(50)\n"
    "  if e == 4 then cut = cut + 1 end\n"
    "  if r > 50 or r < 0 then error('sleep(50) reported ' .. r .. ' ms remaining') end\n"
    "end\n"
    "out[#out + 1] = ('sleep(50) cut short %d of 20 times'):format(cut)\n"
    "-- wait(ms) with nothing due: not before ms\n"
    "t0 = now(); mit.wait(MS / 4); local waited = now() - t0\n"
    "if waited < MS / 4 then error(('wait(%d) returned after %.3f ms'):format(MS / 4, waited)) end\n"
    "-- a timer loop: exact counts\n"
    "local iv, n = {}, {}\n"
    "local a0 = now()\n"
    "for i = 1, 8 do n[i] = 0; iv[i] = mit.getit(2, function() n[i] = n[i] + 1 end) end\n"
    "local a1 = now()\n"
    "local ones, early = {}, 0\n"
    "for i = 1, 60 do\n"
    "  local due = now() + (i % 30)\n"
    "  ones[i] = 0\n"
    "  mit.oneoff(i % 30, function() ones[i] = ones[i] + 1; if now() < due then early = early + 1 end end)\n"
    "end\n"
    "local stop = now() + MS\n"
    "while now() < stop do mit.wait(5); mit.process_events() end\n"
    "local before = now(); mit.process_events(); local after = now()\n"
    "local lo, hi = floor((before - a1) / 2), floor((after - a0) / 2)\n"
    "for i = 1, 8 do\n"
    "  if n[i] < lo or n[i] > hi then error(('interval %d ran %d times, due %d..%d'):format(i, n[i], lo, hi)) end\n"
    "  iv[i]:destroy()\n"
    "end\n"
    "for i = 1, 60 do if ones[i] ~= 1 then error(('one-off %d ran %d times'):format(i, ones[i])) end end\n"
    "if early > 0 then error(early .. ' one-offs ran early') end\n"
    "out[#out + 1] = ('timer loop exact: %d expirations each, 60 one-offs once'):format(n[1])\n"
    "return table.concat(out, '; ')\n";

int main(int argc, char **argv) {
    static const int rates[] = {1000, 5000, 20000};
    char cpath[1024];
    int ms = argc > 2 ? atoi(argv[2]) : 400;
    size_t i;
    pthread_t th;
    struct sigaction sa;
    lua_State *L;
    if (argc < 2) {
        fprintf(stderr, "usage: %s <dir of luamockit.so> [ms]\n", argv[0]);
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: every signal interrupts */
    sigaction(SIGUSR1, &sa, NULL);
    lua_thread = pthread_self();
    L = luaL_newstate();
    luaL_openlibs(L);
    snprintf(cpath, sizeof cpath, "%s/?.so", argv[1]);
    lua_getglobal(L, "package");
    lua_pushstring(L, cpath);
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
    for (i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        const char *res;
        long before;
        storm_rate = rates[i];
        storming = 1;
        before = sent;
        pthread_create(&th, NULL, storm, NULL);
        if (luaL_loadstring(L, checks) != 0) return 2;
        lua_pushinteger(L, ms);
        res = lua_pcall(L, 1, 1, 0) == 0 ? NULL : lua_tostring(L, -1);
        storming = 0;
        pthread_join(th, NULL);
        if (res == NULL) {
            n_pass++;
            printf("ok - %d signals/s (%ld sent): %s\n", rates[i], sent - before, lua_tostring(L, -1));
        } else {
            n_fail++;
            printf("not ok - %d signals/s (%ld sent): %s\n", rates[i], sent - before, res);
        }
        lua_settop(L, 0);
        fflush(stdout);
    }
    lua_close(L);
    printf("sigstorm: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail == 0 ? 0 : 1;
}
