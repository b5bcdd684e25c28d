#!/usr/bin/env bash
# MEMSNAP_LEAK_EXITCODE for plain LD_PRELOAD users: lost memory at exit makes the exit status N with one
# line on stderr, after the program's own (buffered) output; a clean program and an unset variable keep 0.
set -u
fx=$(realpath "$1")
. "$(dirname "$0")/run_common.sh"
cd "$tmp"
run() { # STATUS DESCRIPTION ENV... PROGRAM ARGS: under the preload
  local want=$1 what=$2
  shift 2
  expect "$want" "$what" env MEMSNAP_OUTPUT="$tmp/s.%p.%n.snap" LD_PRELOAD="$lib" "$@"
}
run 23 "lost memory sets the status" MEMSNAP_LEAK_EXITCODE=23 "$fx/fx_leak" leak
grep -q "memsnap: leaks at exit: 48 B in 1 blocks definitely lost, 192 B in 4 blocks indirectly lost" "$tmp/err" ||
  { echo "FAIL: no leak line on stderr:" >&2; cat "$tmp/err" >&2; fail=1; }
# stdout is a file here, fully buffered: exit() had not flushed it when the scan ran.
grep -q "20 nodes processed" "$tmp/out" || { echo "FAIL: the program's buffered output was lost" >&2; fail=1; }
run 7 "the status is the variable's" MEMSNAP_LEAK_EXITCODE=7 "$fx/fx_leak" leak
run 0 "a clean program keeps 0" MEMSNAP_LEAK_EXITCODE=23 "$fx/fx_leak" clean
[ -s "$tmp/err" ] && { echo "FAIL: a clean program got stderr output:" >&2; cat "$tmp/err" >&2; fail=1; }
run 0 "unset, a leak changes nothing" "$fx/fx_leak" leak
run 0 "MEMSNAP_LEAK_EXITCODE=0 is off" MEMSNAP_LEAK_EXITCODE=0 "$fx/fx_leak" leak
exit $fail
