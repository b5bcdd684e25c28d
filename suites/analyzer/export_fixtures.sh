#!/usr/bin/env bash
# export, flamegraph and plot on fixture programs run under libmemsnap.so: the folded stacks name the planted
# sites with their exact bytes, the flame graph agrees with them, the plot shows the growing cache and the
# resident set above it, the report a size histogram per moment.
# Environment: as golden.sh (MEMSNAP_BIN, MEMSNAP_FIXTURES, MEMSNAP_PRELOAD_LIB; without the last, skip).
set -u
. "$(dirname "$0")/fixture_common.sh"
fx=$fxdir
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

MEMSNAP_OUTPUT="$tmp/leak.%n.snap" LD_PRELOAD="$lib" "$fx/fx_leak" leak >/dev/null || { echo "fx_leak failed" >&2; exit 1; }
MEMSNAP_OUTPUT="$tmp/cache.%n.snap" LD_PRELOAD="$lib" "$fx/fx_cache" unbounded "$tmp" || { echo "fx_cache failed" >&2; exit 1; }
snap=$tmp/leak.0.snap

# Folded stacks: the C library's frames below main depend on its build, so they are cut off.
folded() { "$memsnap" export "$snap" --format collapsed "$@" | sed -e 's/^.*;main;/main;/' -e 's/^.*;main /main /'; }
# 5 of 20 nodes of 48 bytes each are kept; all 20 were allocated.
folded | grep -qx 'main;make_node 240' || bad "collapsed: no 'main;make_node 240' in: $(folded)"
folded --count | grep -qx 'main;make_node 5' || bad "collapsed --count: no 'main;make_node 5'"
folded --allocated | grep -qx 'main;make_node 960' || bad "collapsed --allocated: no 'main;make_node 960'"
folded --allocated --count | grep -qx 'main;make_node 20' || bad "collapsed --allocated --count: no 'main;make_node 20'"
# the 1000-byte scratch buffer was freed: only in the allocated view
folded | grep -q '^main 1000$' && bad "collapsed: a freed block is live"
folded --allocated | grep -qx 'main 1000' || bad "collapsed --allocated: no 'main 1000'"
"$memsnap" export "$snap" --format collapsed -o "$tmp/folded.txt" && [ -s "$tmp/folded.txt" ] || bad "export -o wrote nothing"
"$memsnap" export "$snap" --format pprof -o "$tmp/heap.pb" && [ -s "$tmp/heap.pb" ] || bad "export --format pprof wrote nothing"
"$memsnap" export "$snap" --format json | "$py" -c '
import json, sys
d = json.load(sys.stdin)
names = [[f["function"] for f in s["stack"]] for s in d["sites"]]
assert any(n[:2] == ["make_node", "main"] for n in names), names
assert sum(s["live_bytes"] for s in d["sites"]) == d["totals"]["current_bytes"], d["totals"]
' || bad "export --format json"

# The flame graph: well-formed, make_node's share of the width is its share of the folded bytes.
"$memsnap" flamegraph "$snap" -o "$tmp/fg.svg" --title 'fx_leak <leak>' || bad "flamegraph failed"
"$py" - "$tmp/fg.svg" "$tmp/folded.txt" <<'PY' || bad "flamegraph geometry"
import sys, xml.etree.ElementTree as E
ns = {"s": "http://www.w3.org/2000/svg"}
root = E.parse(sys.argv[1]).getroot()
width = {}
for g in root.iter("{http://www.w3.org/2000/svg}g"):
    if g.get("class") == "f":
        width.setdefault(g.get("data-n"), float(g.find("s:rect", ns).get("width")))
folded = [l.rsplit(" ", 1) for l in open(sys.argv[2]).read().splitlines()]
total = sum(int(w) for _, w in folded)
mine = sum(int(w) for s, w in folded if s.split(";")[-1] == "make_node")
assert "make_node" in width and "main" in width, sorted(width)
assert abs(width["make_node"] / width["all"] - mine / total) < 1e-3, (width["make_node"], width["all"], mine, total)
assert abs(width["main"] - width["all"]) < 0.01
assert root.find("s:text[@id='title']", ns).text == "fx_leak <leak>"
PY

# The plot of the unbounded cache: six points, the two cache sites as areas, sized legend.
"$memsnap" plot "$tmp"/round-{0,1,2,3,4,5}.snap -o "$tmp/plot.svg" -n 2 --include '*fx_cache.c' || bad "plot failed"
"$py" - "$tmp/plot.svg" <<'PY' || bad "plot content"
import sys, xml.etree.ElementTree as E
S = "{http://www.w3.org/2000/svg}"
root = E.parse(sys.argv[1]).getroot()
polys = [p for p in root.iter(S + "polygon") if p.get("class") == "site"]
assert len(polys) == 2, len(polys)
titles = [p.find(S + "title").text for p in polys]
assert all("fx_cache.c:3" in t for t in titles), titles
total = [p for p in root.iter(S + "polyline") if p.get("id") == "total"][0]
pts = [tuple(map(float, p.split(","))) for p in total.get("points").split()]
assert len(pts) == 6 and all(a[0] < b[0] for a, b in zip(pts, pts[1:])), pts
assert all(a[1] > b[1] for a, b in zip(pts, pts[1:])), "the heap grows: each point higher than the last"
assert any("KiB" in (t.text or "") for t in root.iter(S + "text") if t.get("class") == "ytick")
# the resident set (MEMORY section) beside the heap: one point per snapshot, never below the live heap
rss = [p for p in root.iter(S + "polyline") if p.get("class") == "rss"]
assert len(rss) == 1, "no RSS line"
rpts = [tuple(map(float, p.split(","))) for p in rss[0].get("points").split()]
assert len(rpts) == 6 and all(r[1] <= t[1] for r, t in zip(rpts, pts)), (rpts, pts)
PY
# The report draws each moment's live blocks by size class: the cache's 64-byte values, 100 more a round.
"$memsnap" report "$tmp"/round-{0,1,2,3,4,5}.snap -o "$tmp/report.html" || bad "report failed"
grep -q 'Resident set (RSS): <b>' "$tmp/report.html" || bad "report: no resident set"
[ "$(grep -c '<svg class="sizes"' "$tmp/report.html")" = 6 ] || bad "report: not one size histogram per moment"
got=$(grep -o '<title>64 B to 127 B: [0-9]* live blocks' "$tmp/report.html" | grep -o '[0-9]* live' | tr '\n' ' ')
[ "$got" = "100 live 200 live 300 live 400 live 500 live 600 live " ] || bad "report: 64 B class counts: '$got'"
# massif's file of the same series: ms_print (valgrind) reads it back and finds the cache's sites.
"$memsnap" export "$tmp"/round-{5,4,3,2,1,0}.snap --format massif -o "$tmp/massif.out" || bad "export --format massif failed"
"$py" - "$tmp/massif.out" <<'PY' || bad "massif file structure"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[0].startswith("desc: ") and lines[1].startswith("cmd: ") and lines[2].startswith("time_unit: ")
heap = [int(l.split("=")[1]) for l in lines if l.startswith("mem_heap_B=")]
assert len(heap) == 6 and heap == sorted(heap) and heap[0] < heap[-1], heap  # time order; the cache grows
roots = [int(re.match(r"n\d+: (\d+)", l).group(1)) for l in lines if l.startswith("n")]
assert roots == heap, (roots, heap)
assert sum(1 for l in lines if l == "heap_tree=peak") == 1
assert any("cache_put" in l for l in lines)
PY
if command -v ms_print >/dev/null; then
  ms_print "$tmp/massif.out" >"$tmp/ms_print.txt" 2>&1 || bad "ms_print rejected the file: $(head -3 "$tmp/ms_print.txt")"
  grep -q 'Number of snapshots: 6' "$tmp/ms_print.txt" && grep -q 'cache_put' "$tmp/ms_print.txt" ||
    bad "ms_print output lacks the snapshots or cache_put"
else
  echo "note: ms_print (valgrind) not installed: the massif file was checked by its structure only" >&2
fi
exit $fail
