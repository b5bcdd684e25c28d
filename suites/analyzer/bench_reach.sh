#!/usr/bin/env bash
# bench_reach.sh BUILD_DIR [N...]: time of the at-exit reachability scan for N live blocks (default 100000
# and 1000000), read from the snapshot (`memsnap leaks --format json`: scan.ns), and the profiled program's
# wall time with the scan on and off, interleaved on/off/on/off..., medians of 3. Not a test.
set -eu
build=$(cd "${1:?usage: bench_reach.sh BUILD_DIR [N...]}" && pwd)
shift
[ $# -gt 0 ] || set -- 100000 1000000
lib=$build/preload/libmemsnap.so memsnap=$build/analyzer/memsnap fx=$build/suites/analyzer/fx_many
ninja -C "$build" analyzer/memsnap suites/analyzer/fx_many >/dev/null
[ -f "$lib" ] || { echo "bench_reach.sh: build preload/libmemsnap.so first" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now() { date +%s%N; }
median() { sort -n | sed -n 2p; }
printf '%10s %12s %14s %14s %10s %s\n' blocks scan_ms run_on_ms run_off_ms on/off kinds
for n in "$@"; do
  : >"$tmp/scan" >"$tmp/on" >"$tmp/off"
  for rep in 1 2 3; do
    for scan in 1 0; do
      rm -f "$tmp/s.snap"
      t0=$(now)
      MEMSNAP_LEAK_SCAN=$scan MEMSNAP_OUTPUT="$tmp/s.snap" LD_PRELOAD="$lib" "$fx" "$n"
      t1=$(now)
      if [ $scan = 1 ]; then
        echo $(((t1 - t0) / 1000000)) >>"$tmp/on"
        "$memsnap" leaks "$tmp/s.snap" --format json --no-default-suppressions >"$tmp/s.json" || [ $? = 1 ]
        python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["scan"]["ns"] / 1e6, file=open(sys.argv[2], "a"))
k = d["kinds"]
print("/".join(str(k[x]["count"]) for x in ("definitely_lost", "indirectly_lost", "still_reachable")),
      file=open(sys.argv[3], "w"))' "$tmp/s.json" "$tmp/scan" "$tmp/kinds"
      else
        echo $(((t1 - t0) / 1000000)) >>"$tmp/off"
      fi
    done
  done
  s=$(median <"$tmp/scan") on=$(median <"$tmp/on") off=$(median <"$tmp/off")
  printf '%10s %12.1f %14s %14s %10.2f %s\n' "$n" "$s" "$on" "$off" "$(echo "$on / $off" | bc -l)" \
    "lost/indirect/reachable=$(cat "$tmp/kinds")"
done
