#!/usr/bin/env bash
# --benchmark-timer=instructions: without valgrind, one line and exit 2; with it, instruction counts per
# call that are identical from run to run, scale with the work, show a planted +5% exactly, gate on it, and
# sit in a file that pytest-benchmark still reads.
#   instructions_test.sh BENCH_EXAMPLE BENCH_CLI
set -u
example=$(realpath "$1") cli=$(realpath "$2")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }

case ${MEMSNAP_SANITIZE:-none} in
  none | "") ;;
  *)
    "$example" -k fnv --benchmark-timer=instructions >out 2>err
    rc=$?
    [ $rc -eq 2 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q "AddressSanitizer" err || { cat err >&2; fail "sanitizer build: exit $rc"; }
    echo "skip: valgrind cannot run a build with -Db_sanitize=$MEMSNAP_SANITIZE" >&2
    exit 77
    ;;
esac
PATH=/nonexistent MEMSNAP_VALGRIND= "$example" -k fnv --benchmark-timer=instructions >out 2>err
rc=$?
[ $rc -eq 2 ] || fail "without valgrind: exit $rc, wanted 2"
[ "$(wc -l <err)" -eq 1 ] && grep -q "needs valgrind" err || { cat err >&2; fail "without valgrind: not one line naming valgrind"; }

command -v valgrind >/dev/null || { echo "skip: no valgrind in PATH" >&2; exit 77; }
py=/usr/bin/python3
[ -x $py ] || { echo "skip: no $py to read the JSON files" >&2; exit 77; }
run() {
  local rc=0
  "$@" -k fnv --benchmark-timer=instructions --benchmark-min-rounds=3 >/dev/null 2>run.err || rc=$?
  [ $rc -eq 0 ] || { cat run.err >&2; fail "$* exited $rc"; }
}
run "$example" --benchmark-json=a.json
run "$example" --benchmark-json=a2.json
MEMSNAP_EXAMPLE_SLOWDOWN=1.05 run "$example" --benchmark-json=b.json
$py - <<'PY' || exit 1
import json, sys
def load(f):
    d = json.load(open(f))
    return {b["name"]: b for b in d["benchmarks"]}
a, a2, b = load("a.json"), load("a2.json"), load("b.json")
err = []
for name in ("fnv1a[4]", "fnv1a[16]"):
    x, y, z = (r[name]["extra_info"] for r in (a, a2, b))
    if x["instructions_per_op"] != y["instructions_per_op"]:
        err.append(f"{name}: {x['instructions_per_op']} then {y['instructions_per_op']} instructions")
    if not 1.045 < z["instructions_per_op"] / x["instructions_per_op"] < 1.055:
        err.append(f"{name}: +5% work shows as {z['instructions_per_op'] / x['instructions_per_op']:.4f}")
    for k in ("cycles_per_op", "l1_hits_per_op", "ll_hits_per_op", "ram_hits_per_op"):
        if k not in x:
            err.append(f"{name}: no extra_info.{k}")
    if x["cycles_per_op"] < x["instructions_per_op"]:
        err.append(f"{name}: estimated cycles below instructions")
    if a[name]["options"]["timer"] != "callgrind.instructions":
        err.append(f"{name}: options.timer is {a[name]['options']['timer']}")
r = a["fnv1a[16]"]["extra_info"]["instructions_per_op"] / a["fnv1a[4]"]["extra_info"]["instructions_per_op"]
if not 3.95 < r < 4.05:
    err.append(f"4x the bytes costs {r:.3f}x the instructions")
for e in err:
    print("FAIL:", e, file=sys.stderr)
sys.exit(1 if err else 0)
PY
"$cli" compare a.json a2.json --fail instructions:0.1% >cmp.txt || { cat cmp.txt >&2; fail "A/A instruction gate failed"; }
"$cli" compare a.json b.json --fail instructions:2% >cmp.txt
rc=$?
[ $rc -eq 1 ] && grep -q "Field 'instructions' has failed PercentageRegressionCheck: 5.00 > 2.00" cmp.txt ||
  { cat cmp.txt >&2; fail "planted +5%: exit $rc, no instruction gate message"; }
if $py -c 'import pytest_benchmark' 2>/dev/null; then
  $py -m pytest_benchmark compare a.json b.json >/dev/null 2>theirs.err || { cat theirs.err >&2; fail "pytest-benchmark rejects the file"; }
fi
echo "instruction counts identical across runs; +5% shows as +5.0% and fails instructions:2%"
