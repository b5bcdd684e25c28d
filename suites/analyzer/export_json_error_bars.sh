#!/usr/bin/env bash
# export --format json of a sampled snapshot gives each site the standard errors of its estimates
# (live_bytes_se, live_count_se, alloc_bytes_se, alloc_count_se), and they are the right size: fx_sampled's
# leak of exactly 10 MiB at 64k is within 4 of them of its estimate; an exact snapshot has none.
# Environment: as golden.sh (MEMSNAP_BIN, MEMSNAP_FIXTURES, MEMSNAP_PRELOAD_LIB; without the last, skip).
set -u
. "$(dirname "$0")/fixture_common.sh"
mkdir "$tmp/s" "$tmp/e"
MEMSNAP_AT_EXIT=0 MEMSNAP_SAMPLE=64k LD_PRELOAD="$lib" "$MEMSNAP_FIXTURES/fx_sampled" "$tmp/s" 10 &&
  MEMSNAP_AT_EXIT=0 LD_PRELOAD="$lib" "$MEMSNAP_FIXTURES/fx_sampled" "$tmp/e" 2 ||
  { echo "FAIL: fx_sampled failed" >&2; exit 1; }
"$MEMSNAP_BIN" export "$tmp/s/round-09.snap" --format json -o "$tmp/s.json" 2>/dev/null &&
  "$MEMSNAP_BIN" export "$tmp/e/round-01.snap" --format json -o "$tmp/e.json" ||
  { echo "FAIL: export failed" >&2; exit 1; }
"$py" - "$tmp/s.json" "$tmp/e.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
e = json.load(open(sys.argv[2]))
fields = ["live_bytes_se", "live_count_se", "alloc_bytes_se", "alloc_count_se"]
assert all(f in site for site in s["sites"] for f in fields), "a sampled site without its standard errors"
assert not any(f in site for site in e["sites"] for f in fields), "an exact site with standard errors"
leak = [x for x in s["sites"] if x["stack"] and x["stack"][0]["function"] == "leak_round"]
assert len(leak) == 1, leak
x = leak[0]
truth_bytes, truth_count = 10 << 20, 2560
assert x["live_bytes_se"] > 0 and x["live_count_se"] > 0, x
assert abs(x["live_bytes"] - truth_bytes) <= 4 * x["live_bytes_se"], (x["live_bytes"], x["live_bytes_se"])
assert abs(x["live_count"] - truth_count) <= 4 * x["live_count_se"], (x["live_count"], x["live_count_se"])
# About 160 samples of 4 KiB blocks: the relative error is near 1/sqrt(160).
assert 0.04 < x["live_bytes_se"] / x["live_bytes"] < 0.16, x["live_bytes_se"] / x["live_bytes"]
print("leak_round: %d +- %.0f bytes (truth %d)" % (x["live_bytes"], x["live_bytes_se"], truth_bytes))
PY
