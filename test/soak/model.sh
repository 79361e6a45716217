#!/bin/sh
# Soak part (e): the model-based test (test/model.lua) with many seeds:
# SEEDS seeds in one process that never calls fd(), as many again over
# 10 processes where half the seeds call fd() at a random point, and half
# as many with handles dropped, taken back and minted by finalizers while
# the collector runs (model.lua's gc mode).
#
#   LUA_CPATH=build/lua5.4/?.so sh test/soak/model.sh lua5.4 2000
set -u
lua=$1
seeds=${2:-2000}
ops=${MODEL_OPS:-300}
model="$(cd "$(dirname "$0")/.." && pwd)/model.lua"
"$lua" "$model" 1 "$seeds" "$ops" nofd || exit 1
per=$(( (seeds + 9) / 10 ))
p=0
while [ $p -lt 10 ]; do
  "$lua" "$model" $((1000001 + p * per)) "$per" "$ops" || exit 1
  p=$((p + 1))
done
half=$(( (seeds + 1) / 2 ))
"$lua" "$model" 2000001 "$half" "$ops" gc || exit 1
echo "model: $seeds seeds without fd(), $((per * 10)) with fd() at a random point and $half minting handles as the collector runs, $ops operations each: PASS"
