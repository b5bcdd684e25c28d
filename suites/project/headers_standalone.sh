#!/usr/bin/env bash
# Every header compiles on its own (includes what it uses), as C11 with the project's warnings.
# TAP, one line per header.   headers_standalone.sh CC SOURCE_ROOT
set -u
cc=$1 root=$2
cd "$root" || exit 2
mapfile -t headers < <(git ls-files '*.h' 2>/dev/null || find include preload analyzer harness processor -name '*.h')
# Test-side headers live with their tests and are compiled there.
headers=($(printf '%s\n' "${headers[@]}" | grep -v '^suites/'))
echo "1..${#headers[@]}"
n=0 failed=0
for h in "${headers[@]}"; do
  n=$((n + 1))
  dir=$(dirname "$h")
  if out=$(printf '#include "%s"\n' "$root/$h" |
      "$cc" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fsyntax-only -Iinclude -Icommon -I"$dir" -x c - 2>&1); then
    echo "ok $n - $h"
  else
    echo "not ok $n - $h"
    printf '%s\n' "$out" | sed 's/^/# /'
    failed=1
  fi
done
exit $failed
