#!/bin/sh
# luamockit soak (issue 3, "nothing lost"), under each interpreter:
#   (a) producers: 8 interval timers at 1 ms + testproducer plain and
#       deliver-and-wait threads into one Lua loop, exact counts (producers.lua)
#   (b) churn: create/destroy 1 000 000 timers, RSS after 10 % vs end (churn.lua)
#   (c) the wait/process loop, 1 000 rounds of 1 000 one-offs (waitloop.lua)
#   (d) exit runs: 100 per mode (normal end, os.exit(0[, true]), os.exit(3)) (exits.lua)
#   (e) the model-based test, 2 000 seeds without fd(), 2 000 with, 1 000 minting handles during collections (model.sh)
# One summary line per part; exits non-zero if any part fails.
#
#   BUILD=build sh test/soak/run.sh
#
# Environment:
#   BUILD         build directory (make build test-modules)           [build]
#   LUAS          interpreters                              ["lua5.1 lua5.4"]
#   SOAK_SECS     length of part (a), seconds                            [30]
#   CHURN_N       timers for part (b)                               [1000000]
#   CHURN_TOL     allowed RSS growth in part (b), percent                [10]
#   WAIT_ROUNDS   rounds for part (c)                                  [1000]
#   WAIT_STAGGER  ms between round starts in (c) (rounds overlap)        [50]
#   EXIT_RUNS     runs per mode for part (d)                            [100]
#   MODEL_SEEDS   seeds of each half of part (e)                       [2000]
#   PARTS         parts to run                               ["a b c d e"]
#
# The .so files are copied to a private directory first: others may rebuild
# build/ while this runs, and a shared object rewritten under a running
# process crashes it.
set -u

BUILD=${BUILD:-build}
LUAS=${LUAS:-"lua5.1 lua5.4"}
SOAK_SECS=${SOAK_SECS:-30}
CHURN_N=${CHURN_N:-1000000}
WAIT_ROUNDS=${WAIT_ROUNDS:-1000}
WAIT_STAGGER=${WAIT_STAGGER:-50}
EXIT_RUNS=${EXIT_RUNS:-100}
MODEL_SEEDS=${MODEL_SEEDS:-2000}
PARTS=${PARTS:-"a b c d e"}

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lmksoak.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

for abi in lua5.1 lua5.4; do
  for so in "$BUILD/$abi/luamockit.so" "$BUILD/test/$abi/testproducer.so"; do
    if [ ! -f "$so" ]; then
      echo "soak: $so missing (run: make build test-modules)" >&2
      exit 2
    fi
  done
  mkdir -p "$tmp/$abi"
  cp "$BUILD/$abi/luamockit.so" "$BUILD/test/$abi/testproducer.so" "$tmp/$abi/"
done

fail=0
summary="$tmp/summary"
: >"$summary"
start=$(date +%s)

# part <lua> <letter> <name> <command...>: runs the command with the module
# path set, prints its output prefixed, records PASS/FAIL and the last line.
part() {
  lua=$1; letter=$2; name=$3
  shift 3
  case " $PARTS " in *" $letter "*) ;; *) return 0 ;; esac
  case $lua in lua5.1|luajit) abi=lua5.1 ;; *) abi=lua5.4 ;; esac
  out="$tmp/out"
  t0=$(date +%s)
  LUA_CPATH="$tmp/$abi/?.so" LMK_LUA="$lua" "$@" >"$out" 2>&1
  rc=$?
  t1=$(date +%s)
  sed "s/^/  [$lua] /" "$out"
  if [ $rc -eq 0 ]; then verdict=PASS; else verdict="FAIL (exit $rc)"; fail=1; fi
  line=$(grep -E "^(producers|churn|waitloop|exits|model):" "$out" | tail -n 1)
  [ -n "$line" ] || line=$(tail -n 1 "$out")
  echo "soak ($letter) $name [$lua]: $verdict in $((t1 - t0)) s: $line" >>"$summary"
}

for lua in $LUAS; do
  echo "== soak under $lua"
  part "$lua" a producers "$lua" "$here/producers.lua" "$SOAK_SECS"
  part "$lua" b churn "$lua" "$here/churn.lua" "$CHURN_N"
  part "$lua" c waitloop "$lua" "$here/waitloop.lua" "$WAIT_ROUNDS" "$WAIT_STAGGER"
  part "$lua" d exits "$lua" "$here/exits.lua" "$EXIT_RUNS" "$lua"
  part "$lua" e model sh "$here/model.sh" "$lua" "$MODEL_SEEDS"
done

echo
echo "== soak summary"
cat "$summary"
end=$(date +%s)
if [ $fail -eq 0 ]; then
  echo "soak: PASS in $((end - start)) s"
else
  echo "soak: FAIL in $((end - start)) s"
fi
exit $fail
