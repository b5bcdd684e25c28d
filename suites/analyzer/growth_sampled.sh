#!/usr/bin/env bash
# growth in sampled mode (MEMSNAP_SAMPLE=64k): a leak of 1 MiB per round (about 16 samples a round) planted
# among 40 steady structures that also allocate and free every round is the one unbounded site; the
# steady ones are not. Environment: as golden.sh (MEMSNAP_BIN, MEMSNAP_FIXTURES, MEMSNAP_PRELOAD_LIB).
set -u
. "$(dirname "$0")/fixture_common.sh"
MEMSNAP_AT_EXIT=0 MEMSNAP_SAMPLE=64k LD_PRELOAD="$lib" "$MEMSNAP_FIXTURES/fx_sampled" "$tmp" 10 ||
  { echo "FAIL: fx_sampled failed" >&2; exit 1; }
"$MEMSNAP_BIN" growth "$tmp"/round-*.snap --by function --format json >"$tmp/growth.json" 2>"$tmp/err" ||
  { echo "FAIL: growth exited $?: $(cat "$tmp/err")" >&2; exit 1; }
grep -q 'sampled' "$tmp/err" || { echo "FAIL: growth did not say the sizes are estimates" >&2; exit 1; }
"$py" - "$tmp/growth.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
verdicts = {s["key"]: s["verdict"] for s in d["sites"]}
unbounded = sorted(k for k, v in verdicts.items() if v == "unbounded")
assert unbounded == ["leak_round"], ("unbounded", unbounded)
assert d["summary"]["unbounded"] == 1, d["summary"]
# Each structure keeps 240 KiB: about 4 samples at 64k, so nearly all 40 are seen (and steady: the same
# sampled blocks stay); the rest of the program adds a few.
assert d["summary"]["steady"] >= 30, d["summary"]
print(f"leak_round unbounded; {d['summary']['steady']} steady sites, none unbounded")
PY
