#!/bin/sh
# The build explains itself: without Go on PATH, or with a Go older than
# go.mod's `go` line, `make build` stops with exactly one line that names
# the minimum version and where to get it, and `luarocks make` shows that
# line; a Go at the minimum passes the check. Go is hidden by a PATH whose
# directories that hold a `go` are replaced by copies (symlinks) without it;
# an old Go is a script that prints `go version go1.19 linux/amd64`.
set -u
cd "$(dirname "$0")/.." || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
min=$(sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' go.mod)
want="luamockit needs Go >= $min"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
notok() { fail=$((fail + 1)); echo "not ok - $1"; }

nogo=""
i=0
old_ifs=$IFS
IFS=:
for d in $PATH; do
  if [ -x "$d/go" ]; then
    i=$((i + 1))
    mkdir -p "$work/shadow$i"
    for f in "$d"/* "$d"/.[!.]*; do
      [ -e "$f" ] && [ "${f##*/}" != go ] && ln -s "$f" "$work/shadow$i/"
    done
    d="$work/shadow$i"
  fi
  nogo="$nogo${nogo:+:}$d"
done
IFS=$old_ifs
if PATH=$nogo command -v go >/dev/null 2>&1; then
  notok "go is hidden from PATH"
else
  ok "go is hidden from PATH"
fi

mkdir -p "$work/old" "$work/new"
printf '#!/bin/sh\necho "go version go1.19 linux/amd64"\n' > "$work/old/go"
printf '#!/bin/sh\necho "go version go%s.0 linux/amd64"\n' "$min" > "$work/new/go"
chmod +x "$work/old/go" "$work/new/go"

# check name path target expected-found: make must fail with one line
# holding the message and what it found.
check() {
  out=$(PATH=$2 make -s --no-print-directory "$3" BUILD="$work/build" 2>&1)
  rc=$?
  lines=$(printf '%s\n' "$out" | wc -l)
  if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && printf '%s' "$out" | grep -qF "$want (found: $4)" &&
     printf '%s' "$out" | grep -qF "https://go.dev/dl/"; then
    ok "$1: $out"
  else
    notok "$1: rc $rc, $lines lines: $out"
  fi
}
check "make build without Go" "$nogo" build none
check "make build with Go 1.19" "$work/old:$nogo" build go1.19
check "make rock with Go 1.19" "$work/old:$nogo" rock go1.19

# A Go at the minimum passes the check (the build itself is not run).
if out=$(PATH="$work/new:$nogo" make -s --no-print-directory go-check 2>&1) && [ -z "$out" ]; then ok "Go $min.0 passes the check"; else notok "Go $min.0 refused: $out"; fi

# luarocks make runs make rock: its output carries the same line.
out=$(PATH=$nogo luarocks make rockspec/luamockit-scm-1.rockspec --tree="$work/tree" --lua-version=5.4 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && printf '%s' "$out" | grep -qF "$want (found: none)"; then
  ok "luarocks make without Go says why"
else
  notok "luarocks make without Go: rc $rc: $out"
fi

echo "gocheck: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
