#!/usr/bin/env bash
# In a C++ program the site is the user's line that filled the container, not the standard library's
# allocator header (new_allocator.h) every container's data passes through; --by stack still has the
# whole stack; text output shortens template arguments, JSON and --full-names keep them. libstdc++'s
# emergency pool, allocated before the profiler's constructor ran, is in the snapshot.
# Environment: MEMSNAP_BIN, MEMSNAP_FIXTURES, MEMSNAP_SOURCE_ROOT, MEMSNAP_PRELOAD_LIB (else skipped).
set -u
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || [ ! -f "$lib" ]; then
  echo "skip: libmemsnap.so not built here (MEMSNAP_PRELOAD_LIB='$lib')" >&2
  exit 77
fi
fx=$MEMSNAP_FIXTURES/fx_cxx
[ -x "$fx" ] || { echo "skip: no C++ compiler: fx_cxx not built" >&2; exit 77; }
memsnap=$MEMSNAP_BIN
src=$MEMSNAP_SOURCE_ROOT/suites/analyzer/fixtures/fx_cxx.cpp
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
MEMSNAP_OUTPUT="$tmp/cxx.%n.snap" LD_PRELOAD="$lib" "$fx" || { echo "fx_cxx failed"; exit 1; }
snap=$tmp/cxx.0.snap
"$memsnap" top "$snap" --by line -n 0 --stack --format json >"$tmp/line.json" || exit 1
"$memsnap" top "$snap" --by stack -n 0 --stack --format json >"$tmp/stack.json" || exit 1
"$memsnap" top "$snap" --by line -n 0 --stack >"$tmp/short.txt" || exit 1
"$memsnap" top "$snap" --by line -n 0 --stack --full-names >"$tmp/full.txt" || exit 1
exec "$py" - "$tmp" "$src" <<'PY'
import json, re, sys
d, src = sys.argv[1], sys.argv[2]
lines = {}
for no, text in enumerate(open(src), 1):
    m = re.search(r"// site:(\w+)", text)
    if m:
        lines[m.group(1)] = no
bad = []
rows = json.load(open(f"{d}/line.json"))["rows"]
keys = [r["key"] for r in rows]
for k in keys:
    if "/include/c++/" in k:
        bad.append(f"a row keyed on the standard library: {k} ({[r['size'] for r in rows if r['key'] == k][0]} B)")
for what, no in lines.items():
    want = f"fx_cxx.cpp:{no}"
    hit = [r for r in rows if r["key"].endswith(want)]
    if not hit:
        bad.append(f"no row for the {what} line {want}; rows: {keys[:6]}")
    elif what == "vector" and hit[0]["size"] < 5000 * 8:
        bad.append(f"the vector's row holds {hit[0]['size']} B, less than its 5000 longs")
# the whole stack is kept: the vector's row still shows the allocator frames, with full names in JSON
vec = [r for r in rows if r["key"].endswith(f"fx_cxx.cpp:{lines['vector']}")]
if vec:
    funcs = [f["function"] or "" for f in vec[0]["stack"]]
    if not any("allocate" in f and "<" in f and "std::" in f for f in funcs):
        bad.append(f"the vector row's JSON stack lost the allocator frames or their full names: {funcs}")
srows = json.load(open(f"{d}/stack.json"))["rows"]
if not any(any("new_allocator" in (f["file"] or "") or "allocator" in (f["function"] or "")
               for f in r["stack"]) for r in srows):
    bad.append("--by stack has no stack through the standard library's allocator")
# libstdc++'s emergency exception pool (72704 B with GCC 12), allocated by its constructor before the
# profiler's: recorded from the process's first allocation, as memcheck and heaptrack count it
pool = [r for r in srows if r["size"] >= 65536 and r["count"] == 1
        and not any("fx_cxx" in (f["module"] or "") for f in r["stack"])
        and any("libstdc++" in (f["module"] or "") for f in r["stack"])]
if not pool:
    bad.append("no block of libstdc++'s emergency pool (>= 64 KiB, allocated before main) in the snapshot")
short, full = open(f"{d}/short.txt").read(), open(f"{d}/full.txt").read()
if "std::allocator<long>" in short or "std::vector<>::push_back" not in short:
    bad.append("text output does not shorten template arguments (std::vector<>::push_back)")
if "std::vector<long, std::allocator<long> >::push_back" not in full:
    bad.append("--full-names does not show the full template name")
for b in bad:
    print("FAIL:", b)
print(f"sites: {lines}; top rows: {keys[:4]}")
sys.exit(1 if bad else 0)
PY
