/*
 * forkhost.c: fork() with luamockit loaded and timers running.
 *
 * The Go runtime does not survive fork (its threads are gone in the child),
 * so in the child every call into the module must raise a clear error at
 * once instead of hanging, and closing the child's state must not hang;
 * the parent must keep working. Run as: forkhost path/to/luamockit.so
 * Prints "ok - ..." / "not ok - ..." lines and "forkhost: N passed, M failed".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

static int passed, failed;

static void check(int ok, const char *name, const char *why) {
    if (ok) { passed++; printf("ok - %s\n", name); }
    else { failed++; printf("not ok - %s: %s\n", name, why ? why : "failed"); }
    fflush(stdout);
}

/* Runs chunk under lua_pcall; returns NULL or the error (static buffer). */
static const char *run(lua_State *L, const char *chunk) {
    static char err[1024];
    if (luaL_loadstring(L, chunk) != 0 || lua_pcall(L, 0, 0, 0) != 0) {
        const char *m = lua_tostring(L, -1);
        snprintf(err, sizeof err, "%s", m ? m : "(non-string error)");
        lua_pop(L, 1);
        return err;
    }
    return NULL;
}

static lua_State *open_state(const char *so) {
    char dir[4096], cpath[4200];
    const char *slash = strrchr(so, '/');
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - so) : 1, slash ? so : ".");
    snprintf(cpath, sizeof cpath, "%s/?.so", dir);
    lua_getglobal(L, "package");
    lua_pushstring(L, cpath);
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
    return L;
}

/* In the child: each call must fail fast with the fork message. */
static const char *child_chunk =
    "local function fails(f, ...)\n"
    "  local ok, err = pcall(f, ...)\n"
    "  assert(not ok, 'call succeeded in the forked child')\n"
    "  assert(tostring(err):find('forked child', 1, true), 'unexpected error: ' .. tostring(err))\n"
    "end\n"
    "fails(mit.oneoff, 10, print)\n"
    "fails(mit.getit, 10, print)\n"
    "fails(mit.process_events)\n"
    "fails(mit.wait, 10)\n"
    "fails(mit.pending)\n"
    "fails(function() return t:stop() end)\n"
    "fails(function() return t:destroy() end)\n"
    "fails(mit.signal, 'TERM', print)\n"
    "fails(function() return s:stop() end)\n"
    "fails(function() return s:start() end)\n"
    "fails(function() return s:destroy() end)\n";

int main(int argc, char **argv) {
    lua_State *L;
    const char *e;
    pid_t pid;
    int status = 0;
    if (argc < 2) { fprintf(stderr, "usage: %s luamockit.so\n", argv[0]); return 2; }
    alarm(60); /* a hang anywhere fails the run */

    L = open_state(argv[1]);
    e = run(L, "mit = require('luamockit')\n"
               "n = 0\n"
               "t = mit.getit(5, function() n = n + 1 end)\n"
               "for i = 1, 50 do mit.oneoff(i, function() end) end\n"
               "s = mit.signal('USR2', function() end)\n"
               "mit.sleep(30)\n");
    check(e == NULL, "parent: module loaded, timers firing", e);

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        /* Child: calls on the loaded module, and a fresh require in a new
         * state, must all fail fast. */
        const char *ce;
        lua_State *L2;
        alarm(10);
        ce = run(L, child_chunk);
        if (ce) { fprintf(stdout, "child: %s\n", ce); fflush(stdout); _exit(1); }
        L2 = open_state(argv[1]);
        ce = run(L2, "local ok, err = pcall(require, 'luamockit')\n"
                     "assert(not ok and tostring(err):find('forked child', 1, true), tostring(err))\n");
        if (ce) { fprintf(stdout, "child, new state: %s\n", ce); fflush(stdout); _exit(1); }
        lua_close(L2);
        lua_close(L); /* must not call into the dead runtime, must not hang */
        _exit(0);
    }
    check(pid > 0, "fork", "fork failed");
    if (pid > 0) {
        waitpid(pid, &status, 0);
        check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child: every call raises the fork error; lua_close returns", "child failed or hung");
    }

    e = run(L, "local before = n\n"
               "local deadline = mit.monotime() + 2000\n"
               "while n < before + 10 and mit.monotime() < deadline do\n"
               "  mit.wait(100); mit.process_events()\n"
               "end\n"
               "assert(n >= before + 10, 'parent timer stalled after fork: ' .. (n - before))\n"
               "local fired = false\n"
               "mit.oneoff(5, function() fired = true end)\n"
               "mit.wait(1000); mit.sleep(10); mit.process_events()\n"
               "assert(fired, 'new one-off did not fire in the parent')\n"
               "assert(s:state() == 'armed', 'the signal handle: ' .. s:state())\n"
               "s:destroy()\n");
    check(e == NULL, "parent: timers keep firing and new ones work after fork", e);
    lua_close(L);

    printf("forkhost: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
