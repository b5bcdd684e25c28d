#!/usr/bin/env bash
# plot draws a 95% band (estimate +- 1.96 standard errors) around each series of sampled snapshots, and none
# for exact ones. fx_sampled (a leak of exactly 1 MiB per round among 40 steady structures) at 64k, ten
# rounds: the leak's band (the bottom area, so on top of nothing) matches growth's series and series_se
# point by point, the total's matches top's current_bytes and selected.size_se, the peak label and the legend
# say the interval, and the report's timeline has the bands; the same program exact has none. Then 20 more sampled runs of three rounds: the
# bands at the last snapshot cover the truth (3 MiB of leak; the exact run's total) in at least 15 of 20
# runs each (95% expected: a chance failure of either about once in 1,700 runs; the bands' width is pinned
# by the first part). Environment: as golden.sh (MEMSNAP_BIN, MEMSNAP_FIXTURES,
# MEMSNAP_PRELOAD_LIB; without the last, skip).
set -u
. "$(dirname "$0")/fixture_common.sh"
runs=20
mkdir "$tmp/s" "$tmp/e"
MEMSNAP_AT_EXIT=0 MEMSNAP_SAMPLE=64k LD_PRELOAD="$lib" "$fxdir/fx_sampled" "$tmp/s" 10 &&
  MEMSNAP_AT_EXIT=0 LD_PRELOAD="$lib" "$fxdir/fx_sampled" "$tmp/e" 10 ||
  { echo "FAIL: fx_sampled failed" >&2; exit 1; }
run() { # OUT ARGS...: memsnap ARGS > OUT, stderr kept aside
  local out=$1
  shift
  "$memsnap" "$@" >"$out" 2>>"$tmp/err" || { echo "FAIL: memsnap $* exited $?: $(cat "$tmp/err")" >&2; exit 1; }
}
# --bytes: the axis ticks in bytes, so that the test reads the drawing's scale exactly
run "$tmp/plot.svg" plot "$tmp/s"/round-*.snap --by function -n 3 --bytes -o "$tmp/plot.svg"
run "$tmp/plot-a.svg" plot "$tmp/s"/round-*.snap --by function -n 3 --allocated -o "$tmp/plot-a.svg"
run "$tmp/plot-e.svg" plot "$tmp/e"/round-*.snap --by function -n 3 --bytes -o "$tmp/plot-e.svg"
run "$tmp/report.html" report "$tmp/s"/round-*.snap -o "$tmp/report.html"
run "$tmp/report-e.html" report "$tmp/e"/round-*.snap -o "$tmp/report-e.html"
run "$tmp/growth.json" growth "$tmp/s"/round-*.snap --by function -n 0 --format json
for i in 0 1 2 3 4 5 6 7 8 9; do
  run "$tmp/top-$i.json" top "$tmp/s/round-0$i.snap" -n 0 --format json
done
run "$tmp/top-e2.json" top "$tmp/e/round-02.snap" -n 0 --format json
for r in $(seq 1 $runs); do
  mkdir "$tmp/c$r"
  MEMSNAP_AT_EXIT=0 MEMSNAP_SAMPLE=64k LD_PRELOAD="$lib" "$fxdir/fx_sampled" "$tmp/c$r" 3 ||
    { echo "FAIL: fx_sampled failed" >&2; exit 1; }
  run "$tmp/c$r.svg" plot "$tmp/c$r"/round-*.snap --by function -n 1 --bytes -o "$tmp/c$r.svg"
done

"$py" - "$tmp" "$runs" <<'PY'
import json, os, sys
import xml.etree.ElementTree as ET
d, runs = sys.argv[1], int(sys.argv[2])
NS = "{http://www.w3.org/2000/svg}"
Z = 1.959963984540054
MiB = 1 << 20

def load(name):
    return json.load(open(os.path.join(d, name)))

class Plot:
    def __init__(self, name):
        self.text = open(os.path.join(d, name), encoding="utf-8").read()
        root = ET.fromstring(self.text)
        # the y scale from the ticks: "N B" at y, affine
        ticks = [(float(t.text.split()[0]), float(t.get("y")) - 4) for t in root.iter(NS + "text")
                 if t.get("class") == "ytick"]
        assert len(ticks) >= 3 and ticks[0][0] == 0, (name, ticks)
        (v0, y0), (v1, y1) = ticks[0], ticks[-1]
        self.scale = (y1 - y0) / (v1 - v0)
        self.y0 = y0
        for v, y in ticks:
            assert abs(self.y(v) - y) < 0.006, (name, "ticks not affine", ticks)
        self.bands = [e for e in root.iter(NS + "polygon") if e.get("class") == "band"]
        self.sites = [e.find(NS + "title").text for e in root.iter(NS + "polygon") if e.get("class") == "site"]
        self.legend = [g.find(NS + "text").text for g in root.iter(NS + "g") if g.get("class") == "legend"]
        self.peak = [t.text for t in root.iter(NS + "text") if t.get("class") == "peak"]

    def y(self, v):
        return self.y0 + self.scale * v

    def edges(self, band):
        pts = [tuple(map(float, p.split(","))) for p in band.get("points").split()]
        n = len(pts) // 2
        return [y for _, y in pts[:n]], [y for _, y in reversed(pts[n:])]

    def covers(self, band, truth, i=-1):
        up, lo = self.edges(band)
        return up[i] <= self.y(truth) <= lo[i]

def check_band(plot, band, values, ses, what):
    up, lo = plot.edges(band)
    assert len(up) == len(values), (what, len(up), len(values))
    for i, (v, se) in enumerate(zip(values, ses)):
        assert se > 0, (what, i, "no standard error")
        want_up, want_lo = plot.y(v + Z * se), plot.y(max(0.0, v - Z * se))
        # the drawing rounds to 0.01 px
        assert abs(up[i] - want_up) < 0.006 and abs(lo[i] - want_lo) < 0.006, \
            (what, i, v, se, "band", up[i], lo[i], "expected", want_up, want_lo)
        assert lo[i] > plot.y(v) > up[i], (what, i, "the estimate is not inside its band")
    print("%-9s band matches estimate +- %.2f SE at %d points (last: %d +- %.0f)" % (what, Z, len(values),
                                                                                   values[-1], ses[-1]))

# Sampled: one band per site and one for the total (drawn last, under the line), at growth's and top's figures.
pl = Plot("plot.svg")
assert len(pl.bands) == 4, ("bands", len(pl.bands))
assert pl.sites[0].startswith("leak_round ("), pl.sites
growth = load("growth.json")
(leak,) = [s for s in growth["sites"] if s["key"] == "leak_round"]
check_band(pl, pl.bands[0], leak["series"], leak["series_se"], "leak")
tops = [load("top-%d.json" % i) for i in range(10)]
totals = [t["totals"]["current_bytes"] for t in tops]
total_se = [t["selected"]["size_se"] for t in tops]
assert pl.bands[-1].get("fill") == "#111", "the total's band is not the last"
check_band(pl, pl.bands[-1], totals, total_se, "total")
peak = max(range(10), key=lambda i: (totals[i], -i))
want = "estimated peak %d B \u00b1%.0f B" % (totals[peak], Z * total_se[peak])
assert pl.peak == [want], (pl.peak, want)
assert pl.legend[0] == "process total (%s)" % want, pl.legend[0]
assert pl.legend[1].startswith("95% interval (estimate \u00b1 1.96 standard errors"), pl.legend[1]
i = leak["series"].index(max(leak["series"]))
assert "leak_round (estimated peak %d B \u00b1%.0f B)" % (leak["series"][i], Z * leak["series_se"][i]) in pl.legend, \
    pl.legend
assert len(Plot("plot-a.svg").bands) == 4, "allocated: no bands"

# The report's timeline is plot's picture: its bands too (its 5 sites and the total), and says what they are.
rep, rep_e = (open(os.path.join(d, n), encoding="utf-8").read() for n in ("report.html", "report-e.html"))
assert rep.count('<polygon class="band"') == 6 and "the shaded bands are their 95% intervals" in rep, "report"
assert 'class="band"' not in rep_e and "95% interval" not in rep_e, "an exact report has a band"

# Exact: nothing of it.
pe = Plot("plot-e.svg")
assert not pe.bands and "95% interval" not in pe.text and "\u00b1" not in pe.text, "an exact plot has a band"
assert not any("95%" in x for x in pe.legend) and pe.peak[0].startswith("peak "), (pe.legend, pe.peak)

# Coverage over independent runs: the leak's band and the total's at the third snapshot.
truth_total = load("top-e2.json")["totals"]["current_bytes"]
leak_in = total_in = 0
for r in range(1, runs + 1):
    c = Plot("c%d.svg" % r)
    assert len(c.bands) == 2 and c.sites[0].startswith("leak_round ("), (r, c.sites)
    leak_in += c.covers(c.bands[0], 3 * MiB)
    total_in += c.covers(c.bands[1], truth_total)
print("the 95%% bands cover the truth in %d (leak, 3 MiB) and %d (total, %d B) of %d runs"
      % (leak_in, total_in, truth_total, runs))
assert leak_in >= 15 and total_in >= 15, "95% bands that miss the truth too often"
PY
