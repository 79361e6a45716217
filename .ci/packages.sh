#!/bin/sh
# Prints the Debian packages of the groups given (all groups if none), one
# per line, each once: see .ci/packages.
#   sh .ci/packages.sh common 5.4
dir=$(dirname "$0")
awk -v want=" $* " '
  /^#/ || NF == 0 { next }
  want == "  " || index(want, " " $1 " ") { for (i = 2; i <= NF; i++) if (!seen[$i]++) print $i }
' "$dir/packages"
