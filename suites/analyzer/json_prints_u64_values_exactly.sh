#!/usr/bin/env bash
# JSON integers above INT64_MAX (sizes, counts, addresses and offsets are u64) print as the exact unsigned
# number in every JSON output (they printed negative: jansson's integers are signed), and a string that
# looks like the stand-in used for them stays a string.
set -u
memsnap=$1 snapgen=$2
command -v python3 >/dev/null || { echo "skip: no python3 to read the JSON" >&2; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$snapgen" bigu64 "$tmp/big.snap" || exit 1
fail=0
run() { # NAME ARGS...: memsnap ARGS > $tmp/NAME.json
  local name=$1
  shift
  "$memsnap" "$@" >"$tmp/$name.json" 2>"$tmp/err" || { echo "FAIL: memsnap $*: exit $?" >&2; cat "$tmp/err" >&2; fail=1; }
}
run dump dump --format json "$tmp/big.snap"
run top top --format json -n 0 --by stack "$tmp/big.snap"
run leaks leaks --format json "$tmp/big.snap"
run diff diff --format json "$tmp/big.snap" "$tmp/big.snap"
# Changes between a snapshot holding such figures and a small one: no long long holds them, and they
# saturate at +-INT64_MAX with their sign (computed in signed arithmetic, they overflowed and flipped sign).
"$snapgen" valid "$tmp/small.snap" || exit 1
run grew diff --format json --by stack "$tmp/small.snap" "$tmp/big.snap"
run shrank diff --format json --by stack "$tmp/big.snap" "$tmp/small.snap"
"$memsnap" export --format json "$tmp/big.snap" -o "$tmp/export.json" 2>"$tmp/err" ||
  { echo "FAIL: export --format json: exit $?" >&2; cat "$tmp/err" >&2; fail=1; }
python3 - "$tmp" <<'PY' || fail=1
import json, sys
d = sys.argv[1]
def load(name):
    return json.load(open(f"{d}/{name}.json", encoding="utf-8"))
checks = []
def want(what, got, expected):
    if got != expected or type(got) is not type(expected):
        print(f"FAIL: {what} is {got!r}, wanted {expected!r}", file=sys.stderr)
        checks.append(what)
dump, top, leaks, export, diff = (load(n) for n in ("dump", "top", "leaks", "export", "diff"))
want("dump modules[0].base", dump["modules"][0]["base"], 0xfffffffffff00000)
want("dump modules[0].path", dump["modules"][0]["path"], "\ufffd42")
want("dump stacks[0] offset", dump["stacks"][0]["frames"][0]["offset"], 0xffffffffffffff00)
want("dump sites[0].live_bytes", dump["sites"][0]["live_bytes"], 0x8000000000000001)
want("dump sites[0].live_count", dump["sites"][0]["live_count"], 0x8000000000000000)
want("dump sites[0].alloc_bytes", dump["sites"][0]["alloc_bytes"], 0xfffffffffffffffe)
want("dump sites[0].alloc_count", dump["sites"][0]["alloc_count"], 0xffffffffffffffff)
want("dump totals.alloc_bytes", dump["totals"]["alloc_bytes"], 0xfffffffffffffffe)
want("top rows[0].size", top["rows"][0]["size"], 0x8000000000000001)
want("top rows[0].alloc_count", top["rows"][0]["alloc_count"], 0xffffffffffffffff)
want("top rows[0] stack offset", top["rows"][0]["stack"][0]["offset"], 0xffffffffffffff00)
want("top totals.current_bytes", top["totals"]["current_bytes"], 0x8000000000000001)
want("leaks[0].size", leaks["leaks"][0]["size"], 0x8000000000000001)
want("leaks total.count", leaks["total"]["count"], 0x8000000000000000)
want("diff rows[0].size", diff["rows"][0]["size"], 0x8000000000000001)
want("diff rows[0].count", diff["rows"][0]["count"], 0x8000000000000000)
want("diff rows[0].size_diff", diff["rows"][0]["size_diff"], 0)
grew, shrank = load("grew"), load("shrank")
small = shrank["total"]["size"]  # the small snapshot's live bytes: its total fits, exactly
want("diff small->big total.size_diff", grew["total"]["size_diff"], 0x8000000000000001 - small)
want("diff big->small total.size_diff", shrank["total"]["size_diff"], small - 0x8000000000000001)
big_row = lambda doc, sign: max((r for r in doc["rows"]), key=lambda r: sign * r["size_diff"])
want("diff small->big largest row size_diff", big_row(grew, 1)["size_diff"], 0x7fffffffffffffff)
want("diff big->small smallest row size_diff", big_row(shrank, -1)["size_diff"], -0x7fffffffffffffff)
want("diff big->small smallest row count_diff", big_row(shrank, -1)["count_diff"], -0x7fffffffffffffff)
want("export sites[0].alloc_bytes", export["sites"][0]["alloc_bytes"], 0xfffffffffffffffe)
want("export totals.peak_bytes", export["totals"]["peak_bytes"], 0x8000000000000001)
sys.exit(1 if checks else 0)
PY
exit $fail
