#!/bin/sh
# LuaRocks round trips, offline, into temporary trees, for Lua 5.1 and 5.4:
#   luarocks lint of both rockspecs
#   luarocks make rockspec/luamockit-scm-1.rockspec --tree=T --lua-version=V
#   luarocks make rockspec/luamockit-0.1.0-1.rockspec (the release rockspec,
#     built from this checkout: its v0.1.0 tag is not fetched)
#   luarocks pack (source rock of the committed HEAD) and luarocks install it
# each followed by the smoke spec run against that tree only; then
# `luarocks test` (the rockspec's test section: busted, task "rock") for 5.4.
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
for spec in rockspec/luamockit-scm-1.rockspec rockspec/luamockit-0.1.0-1.rockspec; do
  if out=$(luarocks lint "$spec" 2>&1) && [ -z "$out" ]; then pass=$((pass + 1))
  else echo "roundtrip: luarocks lint $spec: $out"; fail=$((fail + 1)); fi
done
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
  luarocks make rockspec/luamockit-0.1.0-1.rockspec --tree="$work/rel$v" --lua-version="$v" >/dev/null
  smoke "$v" "$work/rel$v" "luarocks make of the 0.1.0 rockspec"
done

# luarocks test needs busted installed as a rock (else it downloads it): a
# rock that installs the system's busted script stands in for it, in a
# tree that a configuration file names as the only one. The suite runs
# against build/rock/, which the luarocks make for 5.4 above built.
mkdir -p "$work/busted"
cp "$(command -v busted)" "$work/busted/busted"
printf '%s\n' 'rockspec_format = "3.0"' 'package = "busted"' 'version = "0-1"' 'source = { url = "." }' \
  'build = { type = "none", install = { bin = { busted = "busted" } } }' > "$work/busted/busted-0-1.rockspec"
(cd "$work/busted" && luarocks make busted-0-1.rockspec --tree="$work/test" --lua-version=5.4 >/dev/null)
printf 'rocks_trees = { "%s" }\n' "$work/test" > "$work/config.lua"
if LUAROCKS_CONFIG="$work/config.lua" luarocks --tree="$work/test" --lua-version=5.4 test \
    rockspec/luamockit-scm-1.rockspec > "$work/test.log" 2>&1; then
  pass=$((pass + 1))
  echo "roundtrip: luarocks test: $(grep -E "successes" "$work/test.log")"
else
  fail=$((fail + 1))
  tail -20 "$work/test.log"
  echo "roundtrip: luarocks test failed"
fi
echo "roundtrip: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
