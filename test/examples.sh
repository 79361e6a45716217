#!/bin/sh
# make test-examples: runs every example of examples/ the way a user would
# after `luarocks make`, and checks what each prints.
#   luarocks make rockspec/luamockit-scm-1.rockspec into temporary trees
#     for Lua 5.1 (also LuaJIT's) and 5.4, offline;
#   each example under lua5.1, LuaJIT and lua5.4 with that tree's
#     `luarocks path` (where its loop library is installed for that Lua;
#     otherwise a printed skip), LMK_EXAMPLE_SECONDS=2;
#   daemon.lua twice more per interpreter, stopped by SIGINT, and by
#     SIGTERM after a SIGHUP (both caught with mit.signal);
#   examples/producer built by its own Makefile against the tree's
#     installed header (luamockit-config --cflags), then use_mylib.lua;
#   examples/testing's busted specs (the virtual clock) under each.
# copas4_echo.lua needs copas 4.x: LMK_COPAS4_PATH (a directory with
# copas.lua 4.x, binaryheap, timerwheel, coxpcall; see test/copas_spec.lua),
# else it is skipped with the reason printed.
# shellcheck disable=SC1090 # sources the env files of `luarocks path`
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
TIMEOUT=${LMK_EXAMPLE_TIMEOUT:-30}
export LMK_EXAMPLE_SECONDS=2 # the checks below expect 2 s runs

pass=0 fail=0 skip=0
ok() { pass=$((pass + 1)); echo "examples: ok   $1"; }
bad() { fail=$((fail + 1)); echo "examples: FAIL $1"; [ -f "$work/out" ] && sed 's/^/    | /' "$work/out"; return 0; }
skipped() { skip=$((skip + 1)); echo "examples: skip $1: $2"; }

for v in 5.1 5.4; do
  luarocks make rockspec/luamockit-scm-1.rockspec --tree="$work/tree$v" --lua-version="$v" >"$work/rock.log" 2>&1 ||
    { cat "$work/rock.log"; echo "examples: luarocks make for Lua $v failed"; exit 1; }
done

# The tree of an interpreter: LuaJIT uses the Lua 5.1 build.
tree_of() { case $1 in lua5.4) echo "$work/tree5.4" ;; *) echo "$work/tree5.1" ;; esac; }
ver_of() { case $1 in lua5.4) echo 5.4 ;; *) echo 5.1 ;; esac; }

# Each tree's `luarocks path` (LUA_PATH, LUA_CPATH, PATH), as a user
# would eval it; the versioned variables would take precedence: unset.
unset LUA_PATH_5_1 LUA_CPATH_5_1 LUA_PATH_5_4 LUA_CPATH_5_4 LUA_INIT LUA_INIT_5_1 LUA_INIT_5_4
for v in 5.1 5.4; do luarocks path --tree "$work/tree$v" --lua-version "$v" > "$work/env$v"; done

# in_tree LUA CMD...: runs CMD (exec'd) with LUA's tree on the Lua paths and PATH.
in_tree() {
  l=$1; shift
  (. "$work/env$(ver_of "$l")"; exec "$@")
}

# has LUA CODE: whether CODE runs (is the loop library there?).
has() { in_tree "$1" "$1" -e "$2" >/dev/null 2>&1; }

# check NAME LUA PATTERN... : the run's output ($work/out) has every pattern.
check() {
  name=$1 rc=$2; shift 2
  if [ "$rc" -ne 0 ]; then bad "$name (exit $rc)"; return; fi
  for p; do
    if ! grep -q -- "$p" "$work/out"; then bad "$name (no line matching: $p)"; return; fi
  done
  ok "$name"
}

# run NAME LUA SCRIPT PATTERN...: runs the example, then checks its output.
run() {
  name=$1 l=$2 script=$3; shift 3
  rc=0
  in_tree "$l" timeout "$TIMEOUT" "$l" "$script" >"$work/out" 2>&1 || rc=$?
  check "$name under $l" "$rc" "$@"
}

INTERPRETERS="lua5.1 luajit lua5.4"

for l in $INTERPRETERS; do
  command -v "$l" >/dev/null || { skipped "all examples under $l" "$l is not installed"; continue; }

  run daemon.lua "$l" examples/daemon.lua \
    'started: luamockit' 'heartbeat (pending' 'activity: request 1 (watchdog re-armed)' \
    'watchdog: no activity for 600 ms' 'job run 1 ok' \
    'error from luamockit.timer: .*job run 3 failed' 'shutdown: time is up' \
    'heartbeat after shutdown: destroyed' 'stats: timers=0 callbacks=[1-9][0-9]* errors=[1-9]' 'bye$'

  # Ctrl-C: SIGINT while blocked in wait() ends the loop with "interrupted!",
  # which the daemon catches; it cleans up and exits 0.
  # (Should the signal be lost, the daemon still stops after 10 s.)
  rc=0
  : >"$work/out"
  (. "$work/env$(ver_of "$l")"; LMK_EXAMPLE_SECONDS=10 exec "$l" examples/daemon.lua) >"$work/out" 2>&1 &
  pid=$!
  i=0; while [ $i -lt 50 ] && ! grep -q 'heartbeat (pending' "$work/out"; do sleep 0.1; i=$((i + 1)); done
  kill -INT $pid 2>/dev/null || true
  wait $pid || rc=$?
  check "daemon.lua under $l, SIGINT" "$rc" 'shutdown: interrupted (SIGINT)' \
    'heartbeat after shutdown: destroyed' 'stats: timers=0' 'bye$'

  # SIGHUP, then SIGTERM, caught as events (mit.signal): a reload, then the
  # clean shutdown, exit 0. (Should a signal be lost, it stops after 10 s.)
  rc=0
  : >"$work/out"
  (. "$work/env$(ver_of "$l")"; LMK_EXAMPLE_SECONDS=10 exec "$l" examples/daemon.lua) >"$work/out" 2>&1 &
  pid=$!
  i=0; while [ $i -lt 50 ] && ! grep -q 'heartbeat (pending' "$work/out"; do sleep 0.1; i=$((i + 1)); done
  kill -HUP $pid 2>/dev/null || true
  i=0; while [ $i -lt 50 ] && ! grep -q 'SIGHUP: reload' "$work/out"; do sleep 0.1; i=$((i + 1)); done
  kill -TERM $pid 2>/dev/null || true
  wait $pid || rc=$?
  check "daemon.lua under $l, SIGHUP then SIGTERM" "$rc" 'SIGHUP: reload (callbacks so far [1-9]' \
    'SIGTERM: shutting down' 'shutdown: SIGTERM' 'heartbeat after shutdown: destroyed' 'stats: timers=0' 'bye$'

  # examples/testing: busted specs on the virtual clock (docs/testing.md),
  # run from their directory as a user runs busted in a project.
  rc=0
  (cd examples/testing && in_tree "$l" timeout "$TIMEOUT" "$l" "${BUSTED:-/usr/bin/busted}" --lpath='./?.lua' -o TAP .) \
    >"$work/out" 2>&1 || rc=$?
  check "testing/*_spec.lua (busted, virtual clock) under $l" "$rc" '^1\.\.5$'

  if has "$l" 'require("luv")'; then
    run luv_loop.lua "$l" examples/luv_loop.lua 'one-off: hello from luamockit' \
      'tick 1 (luv timer fired [1-9]' "uv.run() returned after $((LMK_EXAMPLE_SECONDS * 5)) ticks; pending 0"
  else skipped "luv_loop.lua under $l" "luv is not installed for $l (Debian: lua-luv)"; fi

  if has "$l" 'require("cqueues")'; then
    run cqueues_echo.lua "$l" examples/cqueues_echo.lua 'client A: echo "hello"' 'client A: echo "bye"' \
      'client B: echo "ping"' 'server: connection 2 idle for 300 ms, closing it' \
      'client B: server closed the idle connection' 'cq:loop() returned: 2 connections served'
  else skipped "cqueues_echo.lua under $l" "cqueues is not installed for $l (Debian: lua-cqueues)"; fi

  if has "$l" 'require("socket"); assert(not require("copas").pause)'; then
    run copas1_echo.lua "$l" examples/copas1_echo.lua 'client A: echo "hello"' 'client A: echo "bye"' \
      'client B: echo "ping"' 'server: connection 2 idle for 300 ms, shutting it down' \
      'client B: server closed the idle connection (receive: nil, closed)' 'done (Copas 1\.' '2 connections served'
  else skipped "copas1_echo.lua under $l" "no copas 1.x for $l (Debian's lua-copas is 1.x for 5.1 and 5.2 only)"; fi

  d=${LMK_COPAS4_PATH:-}
  if [ -z "$d" ]; then
    skipped "copas4_echo.lua under $l" "LMK_COPAS4_PATH is not set (a directory with copas 4.x, binaryheap, timerwheel, coxpcall)"
  elif has "$l" "package.path = '$d/?.lua;$d/?/init.lua;' .. package.path; require('socket'); assert(require('copas').pause)"; then
    run copas4_echo.lua "$l" examples/copas4_echo.lua 'client A: echo "hello"' 'client A: echo "bye"' \
      'client B: echo "ping"' 'server: connection 2 idle for 300 ms, closing it' \
      'client B: server closed the idle connection (receive: nil, closed)' \
      'copas.loop() returned (Copas 4\.' '2 connections served'
  else skipped "copas4_echo.lua under $l" "no copas 4.x (with LuaSocket) for $l at LMK_COPAS4_PATH=$d"; fi
done

# The producer library, built by its own Makefile against the installed
# header: luamockit-config from the tree (on PATH after `luarocks path`).
for v in 5.1 5.4; do
  tree=$work/tree$v
  rc=0
  (. "$work/env$v"
   header=$(luamockit-config --header)
   case $header in "$tree"/*) ;; *) echo "luamockit-config --header: $header, not in $tree"; exit 1 ;; esac
   make --no-print-directory -C examples/producer OUT="$work/producer$v") >"$work/out" 2>&1 || rc=$?
  check "examples/producer: make against the Lua $v tree's header" "$rc" 'luamockit-config --cflags'
  [ "$rc" -eq 0 ] || continue
  for l in $INTERPRETERS; do
    if [ "$(ver_of "$l")" != "$v" ] || ! command -v "$l" >/dev/null; then continue; fi
    rc=0
    (. "$work/env$v"
     LUA_CPATH="$work/producer$v/?.so;$LUA_CPATH" timeout "$TIMEOUT" "$l" examples/producer/use_mylib.lua) >"$work/out" 2>&1 || rc=$?
    check "producer/use_mylib.lua under $l" "$rc" 'item from the producer thread: 1 "item 1"' \
      'item from the producer thread: 5 "item 5"' 'question from the producer thread: sum of 1..5? answering 15' \
      'deliver_wait returned ok; the thread got 15$' 'stats: items=6 callbacks=6 errors=0'
  done
done

echo "examples: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
