#!/usr/bin/env bash
# <memsnap.h> compiles with -Wall -Wextra -pedantic -Werror as C99, C11, C17 (gcc, clang) and C++11, C++17
# (g++, clang++), defines no feature macro for the program, and runs: -ENOSYS without the preload, and
# against an older, shorter API table it uses only the fields the table holds. TAP.
#   public_header_modes.sh SOURCE_ROOT
set -u
root=$1
src=$root/suites/project/public_header_use.c
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset LD_PRELOAD
cases=()
for cc in gcc clang; do for std in c99 c11 c17; do cases+=("$cc -x c -std=$std"); done; done
for cxx in g++ clang++; do for std in c++11 c++17; do cases+=("$cxx -x c++ -std=$std"); done; done
echo "1..$(( ${#cases[@]} * 2 ))"
n=0 failed=0
for c in "${cases[@]}"; do
  set -- $c
  for variant in plain old-table; do
    n=$((n + 1))
    what="$c ($variant)"
    if ! command -v "$1" >/dev/null; then
      echo "ok $n - $what # SKIP $1 not installed"
      continue
    fi
    extra=()
    [ "$variant" = old-table ] && extra=(-DMEMSNAP_TEST_OLD_TABLE -rdynamic)
    if out=$("$@" -Wall -Wextra -pedantic -Werror -O2 -I"$root/include" "${extra[@]}" "$src" -o "$tmp/t" -ldl 2>&1) &&
       out=$("$tmp/t" 2>&1); then
      echo "ok $n - $what"
    else
      echo "not ok $n - $what"
      printf '%s\n' "$out" | sed 's/^/# /'
      failed=1
    fi
  done
done
exit $failed
