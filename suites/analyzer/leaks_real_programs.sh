#!/usr/bin/env bash
# Real programs nobody here wrote, `bash -c 'echo hi'` and `python3 -c pass` (Debian's /usr/bin/python3),
# under libmemsnap.so: with the reachability scan, `memsnap leaks` calls at most a tenth of what it listed
# without the scan (MEMSNAP_LEAK_SCAN=0) lost (definitely + indirectly), the rest still reachable; output
# and exit status unchanged. Prints the before/after bytes. With BENCH=1 it only prints them (no checks).
# Environment: MEMSNAP_BIN, MEMSNAP_PRELOAD_LIB (without it: skipped).
set -u
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || [ ! -f "$lib" ]; then
  echo "skip: libmemsnap.so not built here (MEMSNAP_PRELOAD_LIB='$lib')" >&2
  exit 77
fi
memsnap=$MEMSNAP_BIN
py=/usr/bin/python3
[ -x "$py" ] || { echo "skip: no /usr/bin/python3" >&2; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
lost_of() { # SNAP -> "listed_bytes lost_bytes reachable_bytes" (default suppressions)
  "$memsnap" leaks "$1" --format json | "$py" -c '
import json, sys
d = json.load(sys.stdin)
k = d["kinds"]
if k is None:
    print(d["total"]["size"], "-", "-")
else:
    print("-", k["definitely_lost"]["size"] + k["indirectly_lost"]["size"], k["still_reachable"]["size"])'
}
check() { # NAME EXPECTED_OUTPUT PROGRAM ARGS...
  local name=$1 want=$2
  shift 2
  local out rc before after
  for scan in 0 1; do
    out=$(MEMSNAP_LEAK_SCAN=$scan MEMSNAP_OUTPUT="$tmp/$name.$scan.%p.snap" LD_PRELOAD="$lib" "$@")
    rc=$?
    if [ $rc != 0 ] || [ "$out" != "$want" ]; then
      echo "FAIL: $name (scan=$scan) exited $rc with output '$out'" >&2
      status=1
      return
    fi
  done
  before=$(lost_of "$(ls "$tmp/$name.0."*.snap | head -1)")
  after=$(lost_of "$(ls "$tmp/$name.1."*.snap | head -1)")
  set -- $before $after
  echo "$name: without the scan $1 B listed as leaked; with it $5 B lost, $6 B still reachable"
  if [ "${BENCH:-0}" != 1 ] && [ $(($5 * 10)) -gt "$1" ]; then
    echo "FAIL: $name: $5 B lost with the scan is more than a tenth of the $1 B listed without it" >&2
    status=1
  fi
}
check bash hi bash -c 'echo hi'
check python3 "" "$py" -c pass
exit $status
