#!/bin/sh
# LuaRocks round trips, offline, into temporary trees, for Lua 5.1 and 5.4:
#   luarocks make rockspec/luamockit-scm-1.rockspec --tree=T --lua-version=V
#   luarocks pack (source rock of the committed HEAD) and luarocks install it
# each followed by the smoke spec run against that tree only.
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A copy of the rockspec whose source is this repository, so that packing
# needs no network.
sed "s|url = \"git+https://[^\"]*\"|url = \"git+file://$top\"|" rockspec/luamockit-scm-1.rockspec > "$work/luamockit-scm-1.rockspec"
(cd "$work" && luarocks pack "$work/luamockit-scm-1.rockspec" >/dev/null)
rock="$work/luamockit-scm-1.src.rock"
[ -f "$rock" ] || { echo "roundtrip: luarocks pack made no source rock"; exit 1; }

fail=0
pass=0
smoke() { # version tree what
  (
    eval "$(luarocks path --tree "$2" --lua-version "$1")"
    LMK_ROCK_TREE="$2" "lua$1" /usr/bin/busted --no-auto-insulate -o utfTerminal test/rock/smoke_spec.lua
  ) && pass=$((pass + 1)) || { echo "roundtrip: smoke failed: lua$1, $3"; fail=$((fail + 1)); }
}

for v in 5.1 5.4; do
  luarocks make rockspec/luamockit-scm-1.rockspec --tree="$work/make$v" --lua-version="$v" >/dev/null
  smoke "$v" "$work/make$v" "luarocks make"
  luarocks install --tree="$work/src$v" --lua-version="$v" "$rock" >/dev/null
  smoke "$v" "$work/src$v" "luarocks install of the source rock"
done
echo "roundtrip: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
