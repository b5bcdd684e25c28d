#!/usr/bin/env bash
# The flame graph's inline script, run by node against a minimal stand-in for the DOM built from the SVG's
# own frames: clicking a frame widens it and its callees to the full width, keeps its callers (faded) and
# hides the rest; "Reset Zoom" restores every frame; a search reports the share of the width it matches.
set -u
memsnap=$1 snapgen=$2
node=$(command -v node || command -v nodejs) || { echo "skip: node not installed (Debian package nodejs)" >&2; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$snapgen" valid "$tmp/v.snap" || exit 1
# allocated bytes: ?+0xdeadbeef 4096; app+0x11c2;libx.so+0x9e9a 600; libx.so+0x2724;app+0x119e;app+0x1181 1048
"$memsnap" flamegraph "$tmp/v.snap" --allocated -o "$tmp/fg.svg" 2>/dev/null || { echo "flamegraph failed" >&2; exit 1; }
exec "$node" - "$tmp/fg.svg" <<'JS'
const svg = require("fs").readFileSync(process.argv[2], "utf8");
const script = svg.match(/<!\[CDATA\[([\s\S]*?)\]\]>/)[1];
function el(attrs) {
  return { attrs, style: {}, textContent: "", getAttribute(k) { return this.attrs[k]; },
           setAttribute(k, v) { this.attrs[k] = String(v); } };
}
const frames = [];
for (const g of svg.matchAll(/<g class="f"[\s\S]*?<\/g>/g)) {
  const a = (re) => (g[0].match(re) || [])[1];
  const rect = el({ x: a(/<rect x="([^"]*)"/), y: a(/ y="([^"]*)"/), width: a(/ width="([^"]*)"/),
                    fill: a(/ fill="([^"]*)"/) });
  const text = el({}), title = el({});
  title.textContent = a(/<title>([^<]*)<\/title>/);
  const f = el({ "data-n": a(/data-n="([^"]*)"/), "data-l": a(/data-l="([^"]*)"/) });
  f.querySelector = (q) => (q === "rect" ? rect : q === "text" ? text : title);
  frames.push(f);
}
const ids = { details: el({}), unzoom: el({}), matched: el({}) };
let answer = "";
const sandbox = { document: { querySelectorAll: () => frames, getElementById: (i) => ids[i] },
                  window: { addEventListener() {} }, prompt: () => answer, alert: (m) => { throw new Error(m); } };
const api = new Function(...Object.keys(sandbox), script + "; init(); return {zoom, unzoom, search};")(
  ...Object.values(sandbox));
const by = (n) => frames.find((f) => f.getAttribute("data-n") === n);
const width = (n) => +by(n).querySelector("rect").getAttribute("width");
const shown = (n) => by(n).style.display !== "none";
const check = (ok, what) => { if (!ok) { console.error("FAIL: " + what); process.exitCode = 1; } };
const full = width("all");
const before = Object.fromEntries(frames.map((f) => [f.getAttribute("data-n"), width(f.getAttribute("data-n"))]));
check(Math.abs(before["libx.so+0x2724"] / full - 1048 / 5744) < 1e-3, "unzoomed width of libx.so+0x2724");

api.zoom(by("libx.so+0x2724"));
for (const n of ["libx.so+0x2724", "app+0x119e", "app+0x1181"])
  check(shown(n) && Math.abs(width(n) - full) < 0.01, `zoomed: ${n} spans the width (${width(n)})`);
check(shown("all") && by("all").style.opacity === 0.5, "zoomed: the caller stays, faded");
for (const n of ["?+0xdeadbeef", "app+0x11c2", "libx.so+0x9e9a"]) check(!shown(n), `zoomed: ${n} hidden`);
check(by("app+0x1181").querySelector("text").textContent.startsWith("app+0x1181 (1048 B)"), "zoomed label refit");

api.unzoom();
for (const f of frames) {
  const n = f.getAttribute("data-n");
  check(shown(n) && Math.abs(width(n) - before[n]) < 1e-9, `unzoom restores ${n}`);
}
answer = "^app";
api.search();
// app+0x11c2 (600) and app+0x119e (1048, with app+0x1181 inside it): 1648 of 5744 bytes
check(ids.matched.textContent === "Matched: " + (100 * 1648 / 5744).toFixed(1) + "%", "search share: " +
      ids.matched.textContent);
check(by("app+0x119e").querySelector("rect").getAttribute("fill") === "rgb(230,0,230)", "match highlighted");
check(by("?+0xdeadbeef").querySelector("rect").getAttribute("fill") !== "rgb(230,0,230)", "no false match");
answer = "";
api.search();
check(ids.matched.textContent === "", "an empty search clears");
JS
