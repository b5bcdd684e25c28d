#!/usr/bin/env bash
# Paths are bytes, JSON is UTF-8: a module path that is not UTF-8 keeps its row in `top --format json`
# (it was dropped) and `export --format json` succeeds (it failed with "out of memory building JSON"), the
# invalid bytes replaced by U+FFFD.
set -u
memsnap=$1 snapgen=$2
command -v python3 >/dev/null || { echo "skip: no python3 to read the JSON" >&2; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
"$snapgen" badutf8 "$tmp/bad.snap" || exit 1
"$memsnap" top --format json -n 0 --stack "$tmp/bad.snap" >"$tmp/top.json" 2>"$tmp/err" ||
  { echo "FAIL: top --format json: exit $?" >&2; cat "$tmp/err" >&2; fail=1; }
rows=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1], encoding="utf-8"))["rows"]))' "$tmp/top.json")
[ "$rows" = 6 ] || { echo "FAIL: top --format json has $rows rows, wanted 6" >&2; fail=1; }
grep -q 'lib\\ufffd\\ufffd.so\|lib��.so' "$tmp/top.json" || { echo "FAIL: no U+FFFD in the module path" >&2; fail=1; }
"$memsnap" export --format json "$tmp/bad.snap" -o "$tmp/all.json" 2>"$tmp/err" ||
  { echo "FAIL: export --format json: exit $?" >&2; cat "$tmp/err" >&2; fail=1; }
sites=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1], encoding="utf-8"))["sites"]))' "$tmp/all.json")
[ "$sites" = 6 ] || { echo "FAIL: export --format json has $sites sites, wanted 6" >&2; fail=1; }
exit $fail
