#!/usr/bin/env bash
# Under LD_PRELOAD=libmemsnap.so the harness adds allocations per call: bench-example's qsort_1000 body
# allocates its 4000-byte array (and glibc's qsort a 4000-byte merge buffer); the hashing bodies allocate
# nothing. Without the preload the columns are absent (checked in pytest_compat.sh).
# A gate on bytes per call catches the planted change (25% more elements to sort) whatever the timings do.
#   allocs_test.sh BENCH_EXAMPLE BENCH_CLI
set -euo pipefail
example=$(realpath "$1") cli=$(realpath "$2")
[ -n "${LD_PRELOAD:-}" ] || { echo "skip: not running under LD_PRELOAD=libmemsnap.so" >&2; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$example" --benchmark-max-time=0.02 --benchmark-json="$dir/r.json" >"$dir/table.txt"
grep -q 'Allocs/op' "$dir/table.txt" || { echo "FAIL: no Allocs/op column in the table" >&2; cat "$dir/table.txt" >&2; exit 1; }
python3 - "$dir/r.json" <<'PY'
import json, sys
data = {b["name"]: b["extra_info"] for b in json.load(open(sys.argv[1]))["benchmarks"]}
q = data["qsort_1000"]
assert 1.0 <= q["allocs_per_op"] <= 2.0 + 1e-9, q
assert 4000.0 <= q["alloc_bytes_per_op"] <= 8000.0 + 1e-9, q
for name in ("fnv1a[4]", "fnv1a[16]"):
    assert data[name]["allocs_per_op"] == 0.0, (name, data[name])
    assert data[name]["alloc_bytes_per_op"] == 0.0, (name, data[name])
print("allocations per call:", q["allocs_per_op"], "allocs,", q["alloc_bytes_per_op"], "bytes (qsort_1000)")
PY

MEMSNAP_EXAMPLE_SLOWDOWN=1.25 "$example" -k qsort --benchmark-max-time=0.02 --benchmark-json="$dir/slow.json" >/dev/null
rc=0
"$cli" compare "$dir/r.json" "$dir/slow.json" --fail bytes:10% allocs:0% >"$dir/cmp.txt" || rc=$?
if [ $rc -ne 1 ] || ! grep -q "Field 'bytes' has failed PercentageRegressionCheck: 25.00 > 10.00" "$dir/cmp.txt" ||
   grep -q "Field 'allocs' has failed" "$dir/cmp.txt"; then
  echo "FAIL: expected the bytes gate (only) to fail, status $rc:" >&2
  cat "$dir/cmp.txt" >&2
  exit 1
fi
