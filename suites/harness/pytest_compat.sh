#!/usr/bin/env bash
# The real pytest-benchmark (Debian's python3-pytest-benchmark) loads our JSON files and renders them, and
# our table for the same files is the one it prints.
#   pytest_compat.sh BENCH_EXAMPLE BENCH_CLI
set -euo pipefail
example=$(realpath "$1") cli=$(realpath "$2")
py=/usr/bin/python3
if ! [ -x "$py" ] || ! "$py" -c 'import pytest_benchmark' 2>/dev/null; then
  echo "skip: $py has no pytest_benchmark module (python3-pytest-benchmark)" >&2
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
"$example" --benchmark-max-time=0.02 --benchmark-min-rounds=7 --benchmark-json=A.json >/dev/null
MEMSNAP_EXAMPLE_SLOWDOWN=1.25 "$example" --benchmark-max-time=0.02 --benchmark-json=B.json >/dev/null

if [ -z "${LD_PRELOAD:-}" ] && grep -q allocs_per_op A.json; then
  echo "FAIL: allocation figures without the preload" >&2
  exit 1
fi
if ! "$py" -m pytest_benchmark compare A.json B.json >theirs.raw 2>theirs.err; then
  echo "FAIL: pytest_benchmark compare rejected our files:" >&2
  cat theirs.err >&2
  exit 1
fi
# Its progress messages end in carriage returns / rewrites before the first table line.
sed -e 's/^.*Computing stats \.\.\.//' -e 's/\r//g' theirs.raw | sed '/^$/d' >theirs.txt
"$cli" show A.json B.json | sed '/^$/d' >ours.txt
for name in 'fnv1a\[4\] (A)' 'fnv1a\[16\] (B)' 'qsort_1000 (A)'; do
  grep -q "^$name" theirs.txt || { echo "FAIL: pytest-benchmark did not render row $name" >&2; cat theirs.txt >&2; exit 1; }
done
if ! diff -u theirs.txt ours.txt >&2; then
  echo "FAIL: our table differs from pytest-benchmark's for the same files" >&2
  exit 1
fi
# The sorted and regrouped views match too.
"$py" -m pytest_benchmark compare --sort=mean --group-by=name A.json B.json 2>/dev/null |
  sed -e 's/^.*Computing stats \.\.\.//' -e 's/\r//g' | sed '/^$/d' >theirs2.txt
"$cli" show --benchmark-sort=mean --benchmark-group-by=name A.json B.json | sed '/^$/d' >ours2.txt
diff -u theirs2.txt ours2.txt >&2 || { echo "FAIL: --sort=mean --group-by=name differs" >&2; exit 1; }
echo "pytest-benchmark renders our files; tables identical"
