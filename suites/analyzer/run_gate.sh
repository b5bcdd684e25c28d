#!/usr/bin/env bash
# `memsnap run --fail-on leaks --max-live --max-peak`: a leak in a program that exited 0 gives 23 (or
# --fail-exitcode N) and the leak's stack on stderr; a clean run gives 0 and leaves no file behind; the
# program's own failure passes through; budgets; bad options give 2.
set -u
memsnap=$(realpath "$1") fx=$(realpath "$2")
. "$(dirname "$0")/run_common.sh"
mkdir "$tmp/cwd" "$tmp/t"
cd "$tmp/cwd"
export TMPDIR=$tmp/t
said() { # DESCRIPTION PATTERN: stderr of the last command matches
  grep -q -- "$2" "$tmp/err" || { echo "FAIL: $1: stderr lacks '$2'" >&2; cat "$tmp/err" >&2; fail=1; }
}
nothing_left() {
  if [ -n "$(find "$tmp/cwd" "$tmp/t" -mindepth 1)" ]; then
    echo "FAIL: $1: files left behind:" >&2
    find "$tmp/cwd" "$tmp/t" -mindepth 1 >&2
    fail=1
  fi
}

expect 23 "a leak fails the gate" "$memsnap" run --fail-on leaks -- "$fx/fx_leak" leak
said "the report names the leaking line" "make_node at .*fx_leak.c:13"
said "the report sums it up" "definitely lost: 48 B in 1 block from 1 stack; indirectly lost: 192 B in 4 blocks"
grep -q "nodes processed" "$tmp/out" || { echo "FAIL: the program's stdout did not pass through" >&2; fail=1; }
nothing_left "gated run without --output"
expect 0 "a clean program passes the gate" "$memsnap" run --fail-on leaks -- "$fx/fx_leak" clean
[ -s "$tmp/err" ] && { echo "FAIL: a clean gated run printed on stderr:" >&2; cat "$tmp/err" >&2; fail=1; }
nothing_left "clean gated run"
expect 9 "--fail-exitcode sets the status" "$memsnap" run --fail-on leaks --fail-exitcode 9 -- "$fx/fx_leak" leak
expect 3 "the program's own failure passes through, not the gate's" \
  "$memsnap" run --fail-on leaks -- sh -c "\"$fx/fx_leak\" leak >/dev/null; exit 3"
expect 23 "--max-peak below the peak fails" "$memsnap" run --max-peak 100 -- "$fx/fx_leak" clean
said "--max-peak names the figure" "peak heap .* is over --max-peak 100 B"
expect 0 "--max-peak above the peak passes" "$memsnap" run --max-peak 1MiB -- "$fx/fx_leak" clean
expect 23 "--max-live below the live heap at exit fails" "$memsnap" run --max-live 200 -- "$fx/fx_leak" leak
expect 0 "--max-live above it passes" "$memsnap" run --max-live 1MiB -- "$fx/fx_leak" leak
printf 'leak:make_node\n' >"$tmp/supp"
expect 0 "--suppressions silences the leak" "$memsnap" run --fail-on leaks --suppressions "$tmp/supp" -- "$fx/fx_leak" leak
expect 0 "too few snapshots for growth: a note, not a failure" "$memsnap" run --fail-on growth -- "$fx/fx_leak" clean
said "growth says it was not checked" "growth not checked: 0 snapshots"
expect 2 "no snapshot at all: nothing to check" env MEMSNAP_AT_EXIT=0 "$memsnap" run --fail-on leaks -- "$fx/fx_leak" leak
said "says why" "wrote no snapshot"
expect 2 "--fail-on takes leaks or growth" "$memsnap" run --fail-on bogus -- true
expect 2 "--fail-exitcode takes 1..255" "$memsnap" run --fail-exitcode 0 -- true
expect 2 "--max-live takes a size" "$memsnap" run --max-live lots -- true
nothing_left "all runs"
expect 23 "--output keeps the snapshots" "$memsnap" run --fail-on leaks --output 'kept.%n.snap' -- "$fx/fx_leak" leak
[ -f kept.0.snap ] || { echo "FAIL: --output kept.%n.snap: no kept.0.snap" >&2; fail=1; }
exit $fail
