#!/usr/bin/env bash
# top, diff, growth, lines, leaks and flamegraph on a sampled snapshot say their figures are estimates and give
# each its standard error (JSON) or 95% interval (text); plot and the massif export say estimated and name
# the rate; and the intervals are the right size: fx_sampled's
# leak of exactly 1 MiB per round (256 blocks of 4 KiB) at 64k is within 4 standard errors of its estimate
# in every command (a 95% interval is 1.96 of them; 4 keeps the test from failing by chance), with a
# relative error near 1/sqrt(samples). An exact snapshot has neither fields nor marks.
# Environment: as golden.sh (MEMSNAP_BIN, MEMSNAP_FIXTURES, MEMSNAP_PRELOAD_LIB; without the last, skip).
set -u
. "$(dirname "$0")/fixture_common.sh"
mkdir "$tmp/s" "$tmp/e"
MEMSNAP_AT_EXIT=0 MEMSNAP_SAMPLE=64k LD_PRELOAD="$lib" "$fxdir/fx_sampled" "$tmp/s" 10 &&
  MEMSNAP_AT_EXIT=0 LD_PRELOAD="$lib" "$fxdir/fx_sampled" "$tmp/e" 3 ||
  { echo "FAIL: fx_sampled failed" >&2; exit 1; }
s=$tmp/s e=$tmp/e
run() { # OUT ARGS...: memsnap ARGS > OUT, stderr kept aside
  local out=$1
  shift
  "$memsnap" "$@" >"$out" 2>>"$tmp/err" || { echo "FAIL: memsnap $* exited $?: $(cat "$tmp/err")" >&2; exit 1; }
}
run "$tmp/top.json" top "$s/round-09.snap" --by function -n 0 --format json
run "$tmp/top.txt" top "$s/round-09.snap" --by function -n 3
run "$tmp/top-e.json" top "$e/round-02.snap" --by function -n 0 --format json
run "$tmp/top-e.txt" top "$e/round-02.snap" --by function -n 3
run "$tmp/diff.json" diff "$s/round-04.snap" "$s/round-09.snap" --by function -n 0 --format json
run "$tmp/diff.txt" diff "$s/round-04.snap" "$s/round-09.snap" --by function -n 3
run "$tmp/diff-e.json" diff "$e/round-00.snap" "$e/round-02.snap" --by function -n 0 --format json
run "$tmp/growth.json" growth "$s"/round-*.snap --by function -n 0 --format json
run "$tmp/growth.txt" growth "$s"/round-*.snap --by function -n 1
run "$tmp/growth-e.json" growth "$e"/round-*.snap --by function -n 0 --format json
run "$tmp/lines.json" lines "$s/round-09.snap" --function leak_round --format json
run "$tmp/lines.txt" lines "$s/round-09.snap" --function leak_round
run "$tmp/lines-e.json" lines "$e/round-02.snap" --function leak_round --format json
run "$tmp/leaks.json" leaks "$s/round-09.snap" --format json
run "$tmp/leaks.txt" leaks "$s/round-09.snap"
run "$tmp/leaks-e.json" leaks "$e/round-02.snap" --format json
run "$tmp/leaks-e.txt" leaks "$e/round-02.snap"
run "$tmp/plot.svg" plot "$s"/round-*.snap --by function -o "$tmp/plot.svg"
run "$tmp/plot-e.svg" plot "$e"/round-*.snap -o "$tmp/plot-e.svg"
run "$tmp/massif.out" export "$s"/round-*.snap --format massif
run "$tmp/massif-e.out" export "$e"/round-*.snap --format massif
run "$tmp/fg.svg" flamegraph "$s/round-09.snap" -o "$tmp/fg.svg"
run "$tmp/fg-e.svg" flamegraph "$e/round-02.snap" -o "$tmp/fg-e.svg"

"$py" - "$tmp" <<'PY'
import json, math, os, sys
d = sys.argv[1]
def load(name):
    return json.load(open(os.path.join(d, name)))
def text(name):
    return open(os.path.join(d, name), encoding="utf-8").read()
MiB = 1 << 20

def covers(what, value, se, truth, most=0.2):
    assert se > 0, (what, "no standard error", se)
    assert abs(value - truth) <= 4 * se, (what, "estimate", value, "+-", se, "misses", truth)
    rel = se / truth
    # 160 samples for 10 MiB, 80 for 5 MiB: about 1/sqrt(samples)
    assert 0.03 < rel < most, (what, "relative standard error", rel)
    print("%-28s %10d +- %8.0f (truth %d, 95%%: %d..%d)" % (what, value, se, truth, value - 1.96 * se, value + 1.96 * se))

# top: every row has the four standard errors; other and selected theirs; the rate is said
top = load("top.json")
assert top["sample_rate"] == 65536, top.get("sample_rate")
fields = ["size_se", "count_se", "alloc_bytes_se", "alloc_count_se"]
assert all(f in r for r in top["rows"] for f in fields), "a sampled top row without standard errors"
(leak,) = [r for r in top["rows"] if r["key"] == "leak_round"]
covers("top size", leak["size"], leak["size_se"], 10 * MiB)
covers("top count", leak["count"], leak["count_se"], 2560)
covers("top alloc_bytes", leak["alloc_bytes"], leak["alloc_bytes_se"], 10 * MiB)
for k in ("size_se", "count_se"):
    assert k in top["other"] and k in top["selected"], (k, top["other"], top["selected"])
t = text("top.txt")
assert t.startswith("Estimated from a sampled snapshot (about one allocation recorded per 64.0 KiB allocated)"), t
assert "leak_round: size=" in t and " \u00b1" in t.splitlines()[1], t

# diff: the change has its own standard error
diff = load("diff.json")
assert diff["sample_rate"] == 65536
fields = ["size_se", "size_diff_se", "count_se", "count_diff_se"]
assert all(f in r for r in diff["rows"] + [diff["total"]] for f in fields), "a sampled diff row without them"
(leak,) = [r for r in diff["rows"] if r["key"] == "leak_round"]
# both sides' variances summed: 5 MiB +- sqrt(10^2/160 + 5^2/80) MiB, an upper bound in one process
covers("diff size_diff", leak["size_diff"], leak["size_diff_se"], 5 * MiB, 0.3)
covers("diff count_diff", leak["count_diff"], leak["count_diff_se"], 1280, 0.3)
t = text("diff.txt")
assert t.startswith("Estimated from sampled snapshots"), t
assert "leak_round: size=" in t and " (+" in t and " \u00b1" in t, t

# growth: each point of the series has its standard error
growth = load("growth.json")
assert growth["sample_rate"] == 65536
(leak,) = [x for x in growth["sites"] if x["key"] == "leak_round"]
assert len(leak["series_se"]) == len(leak["series"]) == 10, leak
for i in (4, 9):
    covers("growth series[%d]" % i, leak["series"][i], leak["series_se"][i], (i + 1) * MiB)
t = text("growth.txt")
assert t.startswith("Estimated from sampled snapshots"), t
assert "    live: " in t and " \u00b1" in t.split("    live: ")[1].splitlines()[0], t

# lines: the malloc line's three figures
lines = load("lines.json")
assert lines["sample_rate"] == 65536
(ln,) = [x for f in lines["files"] for x in f["lines"] if "malloc(4096)" in x["text"]]
covers("lines live", ln["live"], ln["live_se"], 10 * MiB)
covers("lines allocated", ln["allocated"], ln["allocated_se"], 10 * MiB)
covers("lines count", ln["count"], ln["count_se"], 2560)
t = text("lines.txt")
assert t.startswith("Estimated from a sampled snapshot") and "\u00b195%" in t, t

# leaks: each listed stack, the total and the suppressed figures have their standard errors; the total is
# the exact run's (3 rounds) with 7 more rounds of leak
leaks, leaks_e = load("leaks.json"), load("leaks-e.json")
assert leaks["sample_rate"] == 65536, leaks.get("sample_rate")
assert all("size_se" in r and "count_se" in r for r in leaks["leaks"]), "a sampled leak row without them"
assert all("size_se" in x for x in [leaks["total"], leaks["suppressed"]] + leaks["suppressions"]), leaks
(leak,) = [r for r in leaks["leaks"] if r["stack"][0]["function"] == "leak_round"]
covers("leaks size", leak["size"], leak["size_se"], 10 * MiB)
covers("leaks count", leak["count"], leak["count_se"], 2560)
truth = leaks_e["total"]["size"] + 7 * MiB
covers("leaks total size", leaks["total"]["size"], leaks["total"]["size_se"], truth, 0.1)
covers("leaks total count", leaks["total"]["count"], leaks["total"]["count_se"], leaks_e["total"]["count"] + 1792, 0.1)
t = text("leaks.txt")
assert t.startswith("Estimated from a sampled snapshot (about one allocation recorded per 64.0 KiB allocated)"), t
row = t.splitlines()[1]
assert row.endswith(" blocks allocated from:") and row.count(" \u00b1") == 2, row
(summary,) = [x for x in t.splitlines() if x.startswith("SUMMARY: ")]
assert summary.count(" \u00b1") == 4 and " leaked in " in summary, summary

# flame graph: title, subtitle and every tooltip say estimated
fg = text("fg.svg")
assert "Heap flame graph (estimated)" in fg and "estimated from a sampled snapshot" in fg, "flame graph title"
assert "(estimated " in fg.split("<title>")[1], "flame graph tooltip"

# plot: title, subtitle (the rate), the legend's and tooltips' peaks; massif's desc line
rate = "estimated from sampled snapshots (about one allocation recorded per 64.0 KiB allocated)"
pl = text("plot.svg")
assert ">Live heap over time (estimated)</text>" in pl and rate + "</text>" in pl, "plot title or subtitle"
assert "process total (estimated peak " in pl and "leak_round (estimated peak " in pl, "plot legend or tooltip"
assert text("massif.out").splitlines()[0] == "desc: memsnap export --format massif, " + rate, "massif desc"
assert text("massif-e.out").splitlines()[0] == "desc: memsnap export --format massif", "exact massif desc"

# exact snapshots: no field, no mark
for name in ("top-e.json", "diff-e.json", "growth-e.json", "lines-e.json", "leaks-e.json"):
    s = text(name)
    assert "_se" not in s and "sample_rate" not in s, (name, "exact output with estimate fields")
for name in ("top-e.txt", "leaks-e.txt", "fg-e.svg", "plot-e.svg", "massif-e.out"):
    s = text(name)
    assert "stimated" not in s and "\u00b1" not in s, (name, "exact output marked as estimated")
PY
