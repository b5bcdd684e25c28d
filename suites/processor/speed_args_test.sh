#!/usr/bin/env bash
# dataproc-speed's arguments (the benchmark itself is not run): --help on stdout with exit 0; a bad or
# missing value, or an unknown argument, is one line naming it, exit 2.
set -u
speed=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # STATUS STDOUT-FRAGMENT STDERR-FRAGMENT ARGS...
  local want=$1 out=$2 err=$3
  shift 3
  "$speed" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" != "$want" ] || { [ -n "$out" ] && ! grep -qF -- "$out" "$tmp/out"; } ||
    { [ -n "$err" ] && ! grep -qF -- "$err" "$tmp/err"; } || [ "$(wc -l <"$tmp/err")" -gt 1 ]; then
    echo "FAIL: dataproc-speed $* -> exit $rc, wanted $want, '$out' on stdout, '$err' on stderr:" >&2
    cat "$tmp/out" "$tmp/err" >&2
    fail=1
  fi
}
check 0 "usage: dataproc-speed [--rounds N" "" --help
check 2 "" "--rounds: '5x' is not a count from 1 to 1000" --rounds 5x
check 2 "" "--rounds: '0' is not a count from 1 to 1000" --rounds 0
check 2 "" "--rounds: '-1' is not a count" --rounds -1
check 2 "" "--batch: '10' is not a count from 200 to 1000000" --batch 10
check 2 "" "--rounds needs a value" --rounds
check 2 "" "unknown argument '--bogus'" --bogus
exit $fail
