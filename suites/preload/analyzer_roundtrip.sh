#!/usr/bin/env bash
# The preload's snapshots read back through the analyzer: `memsnap dump --format json` sees the planted
# leak (3 blocks of 777 bytes) with exact counters, and `memsnap top --by line` puts it on the source line
# of fixture.c that allocated it (frame 0, module map and offsets are right); the MEMORY section has the
# process's RSS (above the live heap) and size classes that account for every live block, the three leaked
# 777-byte blocks in the 512..1023 class. A MEMSNAP_PEAK run's peak snapshot: `top` says what it is, `plot`
# and `report` how close it came to the process peak. Temporary allocations (freed before the thread's next
# allocation) per line: 100 at the fixture's first loop, 50 at the second block of each pair, none at the
# first (an allocation came between), in `top`'s JSON and text and in the report.
#   analyzer_roundtrip.sh MEMSNAP_CLI FIXTURE FIXTURE_SOURCE     (MEMSNAP_PRELOAD_LIB in the environment)
set -u
cli=$(realpath "$1")
fixture=$(realpath "$2")
source_file=$3
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || [ ! -r "$lib" ]; then
  echo "MEMSNAP_PRELOAD_LIB not set or unreadable: preload not built" >&2
  exit 77
fi
py=$(command -v python3 || true)
if [ -z "$py" ]; then
  echo "python3 not installed: cannot parse the JSON dump" >&2
  exit 77
fi
work=$(mktemp -d /tmp/memsnap-roundtrip-XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "1..4"

env -u MEMSNAP_AT_EXIT LD_PRELOAD="$lib" MEMSNAP_OUTPUT="$work/leak.snap" "$fixture" leak
"$cli" dump --format json "$work/leak.snap" >"$work/leak.json" 2>"$work/err"
if "$py" - "$work/leak.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["info"]["trigger"] == "exit", d["info"]["trigger"]
assert d["flags"] & 4, "AT_EXIT flag"
sites = [s for s in d["sites"] if s["live_bytes"] == 3 * 777 and s["live_count"] == 3]
assert len(sites) == 1, sites
s = sites[0]
assert s["alloc_count"] == 3 and s["free_count"] == 0, s
assert d["totals"]["live_count"] == sum(x["live_count"] for x in d["sites"])
assert d["totals"]["current_bytes"] == sum(x["live_bytes"] for x in d["sites"])
frames = d["stacks"][s["stack"]]["frames"]
assert frames and frames[0]["module"] == 0, frames  # innermost frame: in the fixture itself
m = d["memory"]
assert m["rss_bytes"] > d["totals"]["current_bytes"], (m["rss_bytes"], d["totals"])
classes = m["size_classes"]
assert sum(c["count"] for c in classes) == d["totals"]["live_count"], (classes, d["totals"])
assert sum(c["bytes"] for c in classes) == d["totals"]["current_bytes"], (classes, d["totals"])
c512 = [c for c in classes if c["min"] == 512 and c["max"] == 1023]
assert c512 and c512[0]["count"] >= 3, classes
PY
then
  echo "ok 1 - memsnap dump --format json shows the planted leak exactly"
else
  echo "not ok 1 - memsnap dump --format json: $(head -3 "$work/err")"
  exit 1
fi

line=$(grep -n 'leaked\[at + i\] = malloc(size);' "$source_file" | cut -d: -f1)
"$cli" top "$work/leak.snap" --by line >"$work/top.txt" 2>&1
if grep -q "fixture.c:$line: size=2331 B, count=3" "$work/top.txt" && grep -q "^Total: .*, rss=" "$work/top.txt"; then
  echo "ok 2 - memsnap top --by line names fixture.c:$line, its Total line the RSS"
else
  echo "not ok 2 - memsnap top --by line: no 'fixture.c:$line: size=2331 B, count=3' or no rss= in:"
  sed 's/^/# /' "$work/top.txt" | head -10
  exit 1
fi

mkdir "$work/peak"
env -u MEMSNAP_AT_EXIT LD_PRELOAD="$lib" MEMSNAP_PEAK=10% MEMSNAP_OUTPUT="$work/peak/run.%n.snap" "$fixture" peak "$work/peak" 8
peakfile=
for f in "$work"/peak/run.*.snap; do
  "$cli" dump "$f" | grep -q ' trigger peak ' && peakfile=$f
done
why=
[ -n "$peakfile" ] || why="no snapshot with trigger peak"
[ -z "$why" ] && ! "$cli" top "$peakfile" | grep -q '^Peak snapshot: written at a new process peak' && why="top says nothing"
[ -z "$why" ] && ! "$cli" plot "$work"/peak/run.*.snap -o "$work/peak.svg" && why="plot failed"
[ -z "$why" ] && ! grep -Eq '\(peak snapshot, (9[0-9]|100)\.[0-9]% of the process peak\)' "$work/peak.svg" && why="plot: no share of the peak"
[ -z "$why" ] && ! "$cli" report "$work"/peak/run.*.snap -o "$work/peak.html" && why="report failed"
[ -z "$why" ] && ! grep -Eq 'Peak snapshot</th><td>[^<]*run\.[0-9]+\.snap: [0-9.]+ (KiB|MiB) live, (9[0-9]|100)\.[0-9]% of the process peak' \
  "$work/peak.html" && why="report: no peak snapshot fact"
if [ -z "$why" ]; then
  echo "ok 3 - the MEMSNAP_PEAK snapshot is named by top, plot and report"
else
  echo "not ok 3 - MEMSNAP_PEAK snapshot: $why"
  exit 1
fi

env -u MEMSNAP_AT_EXIT LD_PRELOAD="$lib" MEMSNAP_OUTPUT="$work/temps.snap" "$fixture" temps
l1=$(grep -n 'malloc(32); /\* temporary' "$source_file" | cut -d: -f1)
l2=$(grep -n 'malloc(16); /\* not temporary' "$source_file" | cut -d: -f1)
l3=$(grep -n 'malloc(24); /\* temporary' "$source_file" | cut -d: -f1)
"$cli" top --format json --by line "$work/temps.snap" >"$work/temps.json" 2>"$work/err"
"$cli" top --by line "$work/temps.snap" >"$work/temps.txt" 2>>"$work/err"
"$cli" report "$work/temps.snap" -o "$work/temps.html" 2>>"$work/err"
if "$py" - "$work/temps.json" "$l1" "$l2" "$l3" <<'PY' && grep -q "^  .*fixture.c:$l1: temporary=100 of 100 allocations" "$work/temps.txt" &&
import json, sys
d = json.load(open(sys.argv[1]))
l1, l2, l3 = sys.argv[2:5]
rows = {r["key"].rsplit("/", 1)[-1]: r for r in d["temporary"]["rows"]}
assert rows["fixture.c:" + l1]["temporary"] == 100, rows
assert rows["fixture.c:" + l3]["temporary"] == 50, rows
assert "fixture.c:" + l2 not in rows, rows
assert d["temporary"]["count"] >= 150, d["temporary"]
PY
  grep -q '<th class="num" title="freed before their thread.s next allocation">Temporary</th>' "$work/temps.html"; then
  echo "ok 4 - temporary allocations per line in top (JSON and text) and the report"
else
  echo "not ok 4 - temporary allocations: $(head -3 "$work/err")"
  sed 's/^/# /' "$work/temps.txt" | tail -8
  exit 1
fi
