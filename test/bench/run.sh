#!/bin/sh
# luamockit benchmarks against luv (Debian's lua-luv) and the floor, for
# each Lua version; `make bench` runs this after `make build`.
#
#   BUILD=build sh test/bench/run.sh
#
# Every workload runs in a fresh interpreter process (<lua> <row>.lua <impl>
# [params]) that prints "key value" lines; rows and implementations never
# share a process. Within a row the implementations take turns: each round
# rotates their order by one (mit, mitfd, luv; then mitfd, luv, mit; then
# luv, mit, mitfd; ...), so each runs first, second and last equally often
# and slow drifts of a noisy machine hit every side alike. agg.lua prints
# the medians and min..max of the rounds as one table.
#
# Columns (implementations):
#   luamockit  "mit": the loop blocks in mit.wait(ms), then calls
#              mit.process_events() (Go passive: the waiting thread keeps
#              time).
#   mitfd      luamockit driven the way event-loop adapters drive it:
#              mit.fd() is called once at start, through
#              require("luamockit.socket").newfd(), and the loop blocks in
#              LuaSocket's socket.select({waker}, nil, timeout_s) on it,
#              then calls mit.process_events(). Rows prompt, wake, drift,
#              scale (every K) and idle; needs LuaSocket for each Lua.
#              The row scripts take their luamockit branch (common.lua:
#              C.impl "mit", C.fdmode); results are recorded as "mitfd".
#   luv        libuv through luv.   floor: rows dispatch and arm only.
#
# Thread metrics (rows prompt, wake, drift, scale with intervals, idle),
# over the window the row already measures; /proc/self/task/<tid>/ is
# read just outside it (common.lua: C.threads, C.threads_end):
#   <row>.go_cpu_us_per_exp   CPU time (us) of the threads other than the
#                             main (Lua) one, i.e. the Go runtime's, per
#                             expiration (callback) the row delivered in
#                             the window. From schedstat's run time (ns);
#                             where the kernel has none, utime + stime of
#                             stat (clock ticks, LMK_BENCH_HZ)
#   <row>.go_wakes_per_exp    their context switches (voluntary +
#                             nonvoluntary: wake-ups) per expiration
#   <row>.lua_wakes_per_exp   the main thread's, per expiration (luv too)
# The idle row delivers none: it reports the totals over its 2 s instead
# (idle.go_cpu_us, idle.go_wakes, idle.lua_wakes). Go columns of luv: "-".
#
# Environment:
#   BUILD        build directory (build/<abi>/luamockit.so)      [build]
#   LUAS         interpreters to run                 ["lua5.1 lua5.4"]
#   ROWS         rows to run
#                ["dispatch arm prompt wake drift scale idle tasks"]
#   ROUNDS       rounds of the short rows (dispatch, arm, prompt)     [5]
#   SLOW_ROUNDS  rounds of the long rows (wake, drift, scale, idle,
#                tasks)                                               [3]
#   LMK_BENCH_HZ set here to `getconf CLK_TCK` for the row scripts
#   LMK_COPAS4_PATH  a directory with copas 4.x (and binaryheap,
#                timerwheel, coxpcall): the tasks row's copas column
#   NOISE_MAX    a run during which other processes used more than this
#                share of the machine's CPU (%) is repeated            [60]
#   NOISE_RETRIES  ... at most this many times (0: only report it)     [0]
#   RESULTS_OUT  if set, the raw measurements are copied to this file
#
# The .so files are copied to a private directory first: other people may
# rebuild build/ while this runs, and a shared object rewritten under a
# running process crashes it.
set -u

BUILD=${BUILD:-build}
LUAS=${LUAS:-"lua5.1 lua5.4"}
ROWS=${ROWS:-"dispatch arm prompt wake drift scale idle tasks"}
ROUNDS=${ROUNDS:-5}
SLOW_ROUNDS=${SLOW_ROUNDS:-3}
NOISE_MAX=${NOISE_MAX:-60}
NOISE_RETRIES=${NOISE_RETRIES:-0}

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lmkbench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
results=$tmp/results
failures=$tmp/failures
: >"$results"
: >"$failures"
: >"$tmp/repeated"
: >"$tmp/noisy"
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
LMK_BENCH_HZ=$hz
export LMK_BENCH_HZ
t_start=$(date +%s)

# busy and total jiffies of the whole machine (/proc/stat "cpu" line)
cpu_jiffies() { awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; t = b + $5 + $6; print b, t; exit }' /proc/stat; }
j_start=$(cpu_jiffies)

if command -v timeout >/dev/null 2>&1; then TIMEOUT="timeout 120"; else TIMEOUT=""; fi

abi_of() {
	case $1 in
	lua5.1 | luajit*) echo lua5.1 ;;
	*) echo "$1" ;;
	esac
}

# ---- header ----
if [ -n "${MAKELEVEL:-}" ]; then cmd="make bench (BUILD=$BUILD sh test/bench/run.sh)"; else cmd="sh $0 (BUILD=$BUILD)"; fi
model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
memtotal=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null)
echo "luamockit benchmark: luamockit (mit.wait; mitfd: select on mit.fd) vs luv vs floor"
echo "command : $cmd ROUNDS=$ROUNDS SLOW_ROUNDS=$SLOW_ROUNDS"
echo "date    : $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine : nproc $(nproc), ${model:-unknown CPU}, $memtotal"
echo "kernel  : $(uname -srm)"
echo "load    : $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) (1/5/15 min, at start)"
if command -v git >/dev/null 2>&1 && git -C "$here" rev-parse --short HEAD >/dev/null 2>&1; then
	dirty=$(git -C "$here" status --porcelain -- cmd internal go.mod 2>/dev/null | head -n 1)
	echo "source  : $(git -C "$here" rev-parse --short HEAD)${dirty:+ (+ uncommitted changes in cmd/ or internal/)}"
fi

snap=$tmp/so
for lua in $LUAS; do
	abi=$(abi_of "$lua")
	so=$BUILD/$abi/luamockit.so
	if ! command -v "$lua" >/dev/null 2>&1; then
		echo "$lua: not installed" >&2
		exit 1
	fi
	if [ ! -f "$so" ]; then
		echo "$so: missing (run make build)" >&2
		exit 1
	fi
	if [ ! -f "$snap/$abi/luamockit.so" ]; then
		mkdir -p "$snap/$abi"
		cp "$so" "$snap/$abi/luamockit.so" || exit 1
	fi
	v=$(LMK_BENCH_CPATH="$snap/$abi/?.so" "$lua" -e '
		package.cpath = os.getenv("LMK_BENCH_CPATH") .. ";" .. package.cpath
		local mit = require("luamockit")
		local ok, uv = pcall(require, "luv")
		local oks, so = pcall(require, "socket")
		io.write(_VERSION, ", ", mit._VERSION, ", ",
			ok and ("luv on libuv " .. uv.version_string()) or "luv MISSING", ", ",
			oks and tostring(so._VERSION) or "LuaSocket MISSING (mitfd fails)")' 2>&1)
	echo "$lua : $v; module $so ($(wc -c <"$so" | tr -d ' ') bytes, $(date -u -r "$so" '+%H:%M:%S UTC'))"
done
echo

# ---- runs ----
# cpu_of FILE: CPU seconds of this shell's children, from the output of
# `times` saved in FILE (run `times` in this very shell, not in $(...):
# there it would count the subshell's children).
cpu_of() { awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); s += a[1] * 60 + a[2] } print s }' "$1"; }

# run1 LUA TAG IMPL ROW [PARAMS...]: one workload in a fresh process.
# Noise check: the share of the machine's CPU time that other processes
# used during the run (busy jiffies minus this run's CPU). A run above
# NOISE_MAX % is repeated, up to NOISE_RETRIES times; the last one is kept.
run1() {
	_lua=$1 _tag=$2 _impl=$3 _row=$4
	shift 4
	_abi=$(abi_of "$_lua")
	_try=0
	while :; do
		_j0=$(cpu_jiffies)
		times >"$tmp/times"
		_c0=$(cpu_of "$tmp/times")
		LMK_BENCH_CPATH="$snap/$_abi/?.so" $TIMEOUT "$_lua" "$here/$_row.lua" "$_impl" "$@" \
			>"$tmp/out" 2>"$tmp/err"
		_rc=$?
		times >"$tmp/times"
		_c1=$(cpu_of "$tmp/times")
		_j1=$(cpu_jiffies)
		_noise=$(echo "$_j0 $_j1 $_c0 $_c1 $hz" | awk '{
			total = ($4 - $2) / $7; busy = ($3 - $1) / $7; own = $6 - $5
			o = total > 0 ? 100 * (busy - own) / total : 0; if (o < 0) o = 0; printf "%.0f", o }')
		if [ "$_rc" -ne 0 ] || [ "$_noise" -le "$NOISE_MAX" ] || [ "$_try" -ge "$NOISE_RETRIES" ]; then break; fi
		_try=$((_try + 1))
		echo "$_lua $_tag $_impl $_noise" >>"$tmp/repeated"
		printf ' [repeat %s: others %s%%]' "$_impl" "$_noise" >&2
	done
	if [ "$_rc" -eq 0 ]; then
		while read -r _k _v; do
			echo "$_lua $_tag $_impl $_k $_v" >>"$results"
		done <"$tmp/out"
		echo "$_lua $_tag $_impl noise_pct $_noise" >>"$results"
		if [ "$_noise" -gt "$NOISE_MAX" ]; then echo "$_lua $_tag $_impl $_noise" >>"$tmp/noisy"; fi
	else
		echo "FAILED (exit $_rc): $_lua $_row.lua $_impl $*: $(head -c 400 "$tmp/err" | tr '\n' ' ')" >>"$failures"
		printf ' [FAILED: %s %s]' "$_impl" "$*" >&2
	fi
}

# task_impls LUA: the implementations of the tasks row this interpreter
# has: luamockit.co and plain one-offs always, copas if its copas can sleep
# (4.x: LMK_COPAS4_PATH, if set, comes first on package.path; Debian's 1.x
# cannot), cqueues if it loads.
task_impls() {
	_ti="mit floor"
	if LMK_COPAS4_PATH=${LMK_COPAS4_PATH:-} "$1" -e '
		local d = os.getenv("LMK_COPAS4_PATH")
		if d and d ~= "" then package.path = d .. "/?.lua;" .. d .. "/?/init.lua;" .. package.path end
		local c = require("copas"); assert(c.pause or c.sleep)' >/dev/null 2>&1; then _ti="$_ti copas"; fi
	if "$1" -e 'require("cqueues")' >/dev/null 2>&1; then _ti="$_ti cqueues"; fi
	echo "$_ti"
}

# row LUA TAG ROUNDS IMPLS ROW [PARAMS...]: ROUNDS rounds; round r runs
# the implementations rotated left by r-1 (two of them: alternating).
row() {
	_rl=$1 _rt=$2 _rn=$3 _ri=$4
	shift 4
	_r=1
	_t0=$(date +%s)
	printf '  %s %-12s x%d ...' "$_rl" "$_rt" "$_rn" >&2
	while [ "$_r" -le "$_rn" ]; do
		_order=$(echo "$_ri" | awk -v k="$((_r - 1))" '{
			s = ""; for (i = 0; i < NF; i++) s = s (i ? " " : "") $((i + k) % NF + 1); print s }')
		for _i in $_order; do run1 "$_rl" "$_rt" "$_i" "$@"; done
		_r=$((_r + 1))
	done
	echo " $(($(date +%s) - _t0)) s" >&2
}

for lua in $LUAS; do
	for r in $ROWS; do
		case $r in
		dispatch) row "$lua" dispatch "$ROUNDS" "mit luv floor" dispatch 100000 ;;
		arm) row "$lua" arm "$ROUNDS" "mit luv floor" arm 100000 ;;
		prompt) row "$lua" prompt "$ROUNDS" "mit mitfd luv" prompt 8 1000 ;;
		wake) row "$lua" wake "$SLOW_ROUNDS" "mit mitfd luv" wake 200 20 ;;
		drift) row "$lua" drift "$SLOW_ROUNDS" "mit mitfd luv" drift 400 10 ;;
		scale)
			for k in 1000 10000 100000; do
				row "$lua" "scale$k" "$SLOW_ROUNDS" "mit mitfd luv" scale "$k" interval 2000
			done
			row "$lua" scale1M "$SLOW_ROUNDS" "mit mitfd luv" scale 1000000 oneoff
			;;
		idle) row "$lua" idle "$SLOW_ROUNDS" "mit mitfd luv" idle 2000 ;;
		tasks) row "$lua" tasks "$SLOW_ROUNDS" "$(task_impls "$lua")" tasks 10000 2000 100 ;;
		*) echo "unknown row $r" >&2 ;;
		esac
	done
done
echo >&2

# ---- table ----
agg_lua=
for l in lua5.4 lua5.3 lua5.1 luajit lua; do
	if command -v "$l" >/dev/null 2>&1; then agg_lua=$l; break; fi
done
"$agg_lua" "$here/agg.lua" "$results" "$LUAS"
if [ -n "${RESULTS_OUT:-}" ]; then cp "$results" "$RESULTS_OUT"; fi
echo
echo "noise rows: share of the machine's CPU that other processes used during the runs (2 CPUs: 50% = one busy core)."
echo "cells: median [min..max] of the rounds ($ROUNDS rounds for rows 1-3, $SLOW_ROUNDS for rows 4-8), each run in a fresh process;"
echo "mit/luv, fd/luv = ratio of the medians (luamockit, mitfd to luv); better = of luamockit and luv, the side whose"
echo "median is better by > 5% (~ within 5%); fd-better = the same for mitfd and luv."
echo "mitfd: luamockit driven through mit.fd() (msock.newfd) and socket.select() instead of mit.wait()."
echo "Go rows: CPU (schedstat run time, else stat ticks) and context switches (= wake-ups) of the threads other than"
echo "the main (Lua) one, i.e. Go's, per expiration the row delivered; Lua wake-ups: the main thread's; idle: totals."
echo "floor: dispatch = the callback called through pcall in a Lua loop; arm = storing a fresh table (no timer)."
echo "CPU is process CPU time (os.clock: every thread, Go runtime included); RSS is VmHWM of a process running one K."
# Noise: CPU the rest of the machine used meanwhile (busy time of all CPUs
# minus this benchmark's own), as a share of the machine.
j_end=$(cpu_jiffies)
times >"$tmp/times"
own=$(cpu_of "$tmp/times")
echo "$j_start $j_end $own $hz" | awk '{
	busy = ($3 - $1) / $6; total = ($4 - $2) / $6
	others = busy - $5; if (others < 0) others = 0
	if (total > 0) printf "noise   : other processes used %.0f%% of the machine during the run (this benchmark %.0f%%); load at end %s\n", 100 * others / total, 100 * $5 / total, "'"$(cut -d' ' -f1-3 /proc/loadavg)"'"
}'
nruns=$(grep -c ' noise_pct ' "$results")
echo "          runs: $nruns; $(wc -l <"$tmp/noisy" | tr -d ' ') of them with others over $NOISE_MAX% of the machine (NOISE_MAX)$( [ "$NOISE_RETRIES" -gt 0 ] && echo ", $(wc -l <"$tmp/repeated" | tr -d ' ') repeated (NOISE_RETRIES=$NOISE_RETRIES)")${RESULTS_OUT:+; raw results in $RESULTS_OUT}"
status=0
if [ -s "$failures" ]; then
	echo
	echo "FAILURES:"
	cat "$failures"
	status=1
fi
echo "wall time: $(($(date +%s) - t_start)) s"
exit $status
