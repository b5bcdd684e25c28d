#!/usr/bin/env bash
# export --format pprof read by an independent reader, Go's own pprof (`go tool pprof`, Debian golang-go):
# the file is a gzip'd Go heap profile (its four sample types, period_type space/bytes, inuse_space the
# default, period = the sampling rate) and each sample type sums to what `memsnap top` shows, exact and
# sampled. Environment: as golden.sh (MEMSNAP_BIN, MEMSNAP_FIXTURES, MEMSNAP_PRELOAD_LIB; without it, skip).
set -u
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || [ ! -f "$lib" ]; then
  echo "skip: libmemsnap.so not built here (MEMSNAP_PRELOAD_LIB='$lib')" >&2
  exit 77
fi
if ! command -v go >/dev/null || ! go tool -n pprof >/dev/null 2>&1; then
  echo "skip: no 'go tool pprof' here (Debian package golang-go; scripts/setup installs it)" >&2
  exit 77
fi
py=/usr/bin/python3
[ -x "$py" ] || py=python3
memsnap=$MEMSNAP_BIN fx=$MEMSNAP_FIXTURES
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# pprof keeps its state under $HOME; the test's own.
export HOME=$tmp GOCACHE=$tmp/go-cache GOFLAGS=-mod=mod
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

# Exact, then sampled at 1 KiB (about 50 of the cache's 53 KB sampled).
mkdir "$tmp/exact" "$tmp/sampled"
MEMSNAP_AT_EXIT=0 LD_PRELOAD="$lib" "$fx/fx_cache" unbounded "$tmp/exact" >/dev/null ||
  { echo "fx_cache failed" >&2; exit 1; }
MEMSNAP_AT_EXIT=0 MEMSNAP_SAMPLE=1k LD_PRELOAD="$lib" "$fx/fx_cache" unbounded "$tmp/sampled" >/dev/null ||
  { echo "fx_cache (sampled) failed" >&2; exit 1; }

check() { # NAME SNAP PERIOD
  local name=$1 snap=$2 period=$3 pb=$tmp/$1.pb.gz
  "$memsnap" export "$snap" --format pprof -o "$pb" || { bad "$name: export failed"; return; }
  [ "$(head -c2 "$pb" | od -An -tx1 | tr -d ' ')" = 1f8b ] || bad "$name: not gzip"
  go tool pprof -raw "$pb" >"$tmp/$name.raw" 2>"$tmp/$name.err" || { bad "$name: go tool pprof: $(cat "$tmp/$name.err")"; return; }
  go tool pprof -top -nodecount=1 "$pb" >"$tmp/$name.top" 2>&1 || bad "$name: go tool pprof -top failed"
  grep -qx 'Type: inuse_space' "$tmp/$name.top" || bad "$name: default sample type is not inuse_space: $(head -5 "$tmp/$name.top")"
  "$memsnap" top "$snap" --by stack -n 0 --format json >"$tmp/$name.json" 2>/dev/null || bad "$name: top failed"
  "$py" - "$tmp/$name.raw" "$tmp/$name.json" "$period" <<'PY' || bad "$name: pprof and top disagree"
import json, sys
raw = open(sys.argv[1]).read().splitlines()
top = json.load(open(sys.argv[2]))
want_period = sys.argv[3]
assert "PeriodType: space bytes" in raw, raw[:4]
assert "Period: " + want_period in raw, raw[:4]
i = raw.index("Samples:")
assert raw[i + 1].split() == ["alloc_objects/count", "alloc_space/bytes", "inuse_objects/count",
                              "inuse_space/bytes[dflt]"], raw[i + 1]
sums = [0, 0, 0, 0]
n = 0
for line in raw[i + 2:]:
    if ":" not in line or not line.strip()[0].isdigit():
        break
    vals = [int(v) for v in line.split(":")[0].split()]
    if len(vals) != 4:
        break
    sums = [a + b for a, b in zip(sums, vals)]
    n += 1
assert n >= 2, ("samples", n)
rows = top["rows"]
want = [sum(r["alloc_count"] for r in rows), sum(r["alloc_bytes"] for r in rows),
        top["selected"]["count"], top["selected"]["size"]]
assert sums == want, ("pprof", sums, "top", want)
assert sums[3] > 0 and sums[1] >= sums[3], sums
PY
}
check exact "$tmp/exact/round-5.snap" 1
check sampled "$tmp/sampled/round-5.snap" 1024
exit $fail
