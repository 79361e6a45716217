#!/bin/sh
# Prints nothing if $GO (default: go) is at least the Go version go.mod's
# `go` line asks for; else prints one line saying what to do, and exits 1.
# The Makefile runs it before every Go build (make build, make rock, and so
# luarocks make) and turns that line into its own error.
min=$(sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' "$(dirname "$0")/../go.mod")
# Asked outside the module with GOTOOLCHAIN=local: an older go would
# otherwise try to download a newer toolchain (the build uses no network).
found=""
case ${GO:-go} in
  /*) gobin=${GO} ;;
  */*) gobin=$(pwd)/${GO} ;;
  *) gobin=$(command -v "${GO:-go}") ;;
esac
[ -n "$gobin" ] && found=$(cd / && GOTOOLCHAIN=local "$gobin" version 2>/dev/null | awk '{ print $3 }')
ok=0
case $found in
  devel*) ok=1 ;; # a development toolchain: trust it
  go[0-9]*)
    # go1.19.8 or go1.23rc1 against 1.23: compare major, then minor
    ok=$(echo "${found#go} $min" | awk '{
      split($1, f, "."); split($2, m, ".")
      sub(/[^0-9].*/, "", f[2])
      print (f[1] + 0 > m[1] + 0 || (f[1] + 0 == m[1] + 0 && f[2] + 0 >= m[2] + 0)) ? 1 : 0
    }') ;;
esac
[ "$ok" = 1 ] && exit 0
echo "luamockit needs Go >= $min (found: ${found:-none}); install it from https://go.dev/dl/ and put its bin/ on PATH (or pass GO=/path/to/go)"
exit 1
