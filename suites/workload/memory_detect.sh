#!/usr/bin/env bash
# The detection side of the memory suite, through the `memsnap` CLI as a user runs it:
#   1. the DataProcessor with an unbounded cache over growing input -> `memsnap growth` says unbounded
#      at the cache's allocation site, and `--fail` exits 1;
#   2. the same run with an LRU bound -> bounded, `--fail` exits 0;
#   3. a program with a planted leak -> `memsnap leaks --fail` exits 1 and names the planted file:line.
# Snapshots are taken by the programs themselves (memsnap_snapshot at intervals; at exit). TAP.
#   memory_detect.sh MEMSNAP GROWTH_FIXTURE LEAK_FIXTURE LEAK_FIXTURE_SOURCE
set -u
memsnap=${1:?usage: memory_detect.sh MEMSNAP GROWTH_FIXTURE LEAK_FIXTURE LEAK_FIXTURE_SOURCE}
growth=${2:?} leak=${3:?} leak_src=${4:?}
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || ! [ -f "$lib" ]; then
  echo "skip: needs MEMSNAP_PRELOAD_LIB (the build has no libmemsnap.so)" >&2
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/memsnap-detect.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0 fails=0
check() { # description, command...
  local what=$1; shift; n=$((n + 1))
  if "$@"; then echo "ok $n - $what"; else echo "not ok $n - $what"; fails=$((fails + 1)); fi
}
show() { sed 's/^/# /' "$1"; }
profiled() { MEMSNAP_AT_EXIT=0 LD_PRELOAD="$lib" "$@"; }

# 1. unbounded cache: 6 rounds of 200 new transactions, a snapshot before and after each round.
profiled "$growth" --out "$tmp/unbounded" --rounds 6 --batch 200 > "$tmp/run1.out" 2>&1
check "growth fixture (unbounded cache) ran and snapshotted" test -f "$tmp/unbounded-06.snap"
"$memsnap" growth --fail "$tmp"/unbounded-*.snap > "$tmp/growth1.out" 2> "$tmp/growth1.err"; rc=$?
show "$tmp/growth1.out"; show "$tmp/growth1.err"
check "memsnap growth --fail exits 1 on the unbounded cache" test "$rc" = 1
check "the cache's allocation site is reported unbounded" grep -qE '^unbounded: .*cache\.c:[0-9]+' "$tmp/growth1.out"
check "the gate message says how much grows" grep -q 'gate --fail crossed: [1-9]' "$tmp/growth1.err"

# 2. the same with an LRU bound of 300 entries: fills in two rounds, then plateaus.
profiled "$growth" --out "$tmp/bounded" --cache-max 300 --rounds 6 --batch 200 > "$tmp/run2.out" 2>&1
check "growth fixture (LRU-bounded cache) ran and snapshotted" test -f "$tmp/bounded-06.snap"
"$memsnap" growth --fail "$tmp"/bounded-*.snap > "$tmp/growth2.out" 2> "$tmp/growth2.err"; rc=$?
show "$tmp/growth2.out"; show "$tmp/growth2.err"
check "memsnap growth --fail exits 0 on the LRU-bounded cache" test "$rc" = 0
check "no site is reported unbounded" bash -c "! grep -q '^unbounded:' '$tmp/growth2.out'"
check "the cache's allocation site is reported bounded" grep -qE '^bounded: .*cache\.c:[0-9]+' "$tmp/growth2.out"

# 3. the planted leak, found at its line by the at-exit snapshot.
line=$(grep -n 'PLANTED-LEAK' "$leak_src" | head -1 | cut -d: -f1)
MEMSNAP_OUTPUT="$tmp/leak.%p.snap" LD_PRELOAD="$lib" "$leak" 10 > "$tmp/run3.out" 2>&1; rc=$?
check "the profiled program's exit status and output are untouched" \
  test "$rc" = 0 -a "$(cat "$tmp/run3.out")" = "leaked 10 blocks"
snap=$(ls "$tmp"/leak.*.snap 2>/dev/null | head -1)
check "an at-exit snapshot was written" test -n "$snap"
"$memsnap" leaks --fail "${snap:-/nonexistent}" > "$tmp/leaks.out" 2> "$tmp/leaks.err"; rc=$?
show "$tmp/leaks.out"; show "$tmp/leaks.err"
check "memsnap leaks --fail exits 1 on the planted leak" test "$rc" = 1
check "the leak is reported at leak_fixture.c:$line" grep -q "leak_fixture\.c:$line\b" "$tmp/leaks.out"
check "all 10 planted blocks are counted" grep -qE '\b10 blocks' "$tmp/leaks.out"
check "the allocation the program freed is not reported" bash -c "! grep -q leak_fixture_tidy '$tmp/leaks.out'"

echo "1..$n"
exit $((fails > 0))
