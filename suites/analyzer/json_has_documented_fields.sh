#!/usr/bin/env bash
# Every command's --format json output parses and carries the fields docs/cli.md documents, with the
# values the input implies (a synthesized snapshot with known sites).
set -u
memsnap=$1 snapgen=$2
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$snapgen" valid "$tmp/a.snap" || exit 1
run() { "$memsnap" "$@" --format json 2>/dev/null; }
run top "$tmp/a.snap" --stack >"$tmp/top.json"
run diff "$tmp/a.snap" "$tmp/a.snap" --fail-over 1 >"$tmp/diff.json"
run leaks "$tmp/a.snap" --no-default-suppressions >"$tmp/leaks.json"
run growth "$tmp/a.snap" "$tmp/a.snap" "$tmp/a.snap" --include-exit >"$tmp/growth.json"
run dump "$tmp/a.snap" >"$tmp/dump.json"
exec "$py" - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
def load(name):
    with open(f"{d}/{name}.json") as f:
        return json.load(f)
def need(obj, keys, where):
    missing = [k for k in keys if k not in obj]
    assert not missing, f"{where}: missing {missing} in {sorted(obj)}"
frame = ["function", "file", "line", "module", "offset", "inlined"]

top = load("top")
need(top, ["command", "snapshot", "by", "cumulative", "rows", "other", "selected", "totals", "temporary"], "top")
assert top["temporary"] is None  # no TEMPORARY section in this file
assert top["command"] == "top" and top["by"] == "line"
for r in top["rows"]:
    need(r, ["key", "size", "count", "average", "alloc_bytes", "alloc_count", "stack"], "top row")
    for f in r["stack"]:
        need(f, frame, "top frame")
# the sample holds 1000+24 B (two sites of one stack), 4096 B and 0 B live: largest first
assert [r["size"] for r in top["rows"]] == [4096, 1024], top["rows"]
need(top["totals"], ["current_bytes", "peak_bytes", "live_count", "alloc_bytes", "alloc_count", "free_count",
                    "rss_bytes"], "totals")
assert top["totals"]["rss_bytes"] is None  # no MEMORY section in this file
assert top["totals"]["current_bytes"] == 5120

diff = load("diff")
need(diff, ["command", "old", "new", "by", "cumulative", "rows", "other_rows", "total", "gates"], "diff")
assert diff["total"]["size_diff"] == 0 and diff["total"]["size"] == 5120
need(diff["gates"][0], ["gate", "limit", "value", "crossed"], "gate")
assert diff["gates"][0]["gate"] == "fail-over" and diff["gates"][0]["crossed"] is False

leaks = load("leaks")
need(leaks, ["command", "snapshot", "at_exit", "leaks", "total", "suppressions", "suppressed"], "leaks")
assert leaks["at_exit"] is True
assert leaks["total"] == {"size": 5120, "count": 12, "stacks": 2}, leaks["total"]
for l in leaks["leaks"]:
    need(l, ["size", "count", "stack"], "leak")

growth = load("growth")
need(growth, ["command", "snapshots", "left_out_at_exit", "by", "sites", "summary"], "growth")
assert growth["summary"]["unbounded"] == 0 and growth["summary"]["steady"] >= 1

dump = load("dump")
need(dump, ["command", "snapshot", "version", "flags", "info", "totals", "modules", "stacks", "sites", "labels", "leaks",
            "memory"], "dump")
assert dump["memory"] is None
assert dump["modules"][0]["build_id"].startswith("deadbeef")
assert len(dump["stacks"]) == 3 and len(dump["sites"]) == 4
assert dump["labels"] == {"test": "sample"}
print("json fields ok")
PY
