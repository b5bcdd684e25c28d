#!/usr/bin/env bash
# scripts/durations on a synthesized meson test log: order, N, --min, --setup, and the errors. TAP.
set -u
root=${MEMSNAP_SOURCE_ROOT:?MEMSNAP_SOURCE_ROOT not set}
tool=$root/scripts/durations
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/b/meson-logs"
rec() { printf '{"name": "%s", "result": "%s", "duration": %s, "returncode": 0, "stdout": ""}\n' "$1" "$2" "$3"; }
{
  rec 'memsnap:unit / fast-one' OK 0.010
  rec 'memsnap:perf / slowest' OK 3.500
  rec 'memsnap:memory / middle' SKIP 0.750
  rec 'memsnap:unit / second' FAIL 1.250
} > "$tmp/b/meson-logs/testlog.json"
rec 'memsnap:scaling / only-in-full' OK 9.000 > "$tmp/b/meson-logs/testlog-full.json"

fails=0; n=0
check() { # description, condition command...
  local what=$1; shift; n=$((n + 1))
  if "$@"; then echo "ok - $what"; else echo "not ok - $what"; fails=$((fails + 1)); fi
}
names() { grep -oE '(OK|SKIP|FAIL) +.*' | sed -E 's/^[A-Z]+ +//' | tr '\n' ','; }

out=$("$tool" -C "$tmp/b" 2)
check "N=2 lists the two slowest, slowest first" \
  test "$(printf '%s\n' "$out" | names)" = "memsnap:perf / slowest,memsnap:unit / second,"
check "durations printed in seconds" grep -q ' 3.5000s OK' <<<"$out"
check "summary counts every test" grep -q '4 tests in 5.51s' <<<"$out"

out=$("$tool" -C "$tmp/b" 0 --min 0.5)
check "--min hides fast tests and says so" \
  test "$(printf '%s\n' "$out" | names)" = "memsnap:perf / slowest,memsnap:unit / second,memsnap:memory / middle,"
check "--min reports how many were hidden" grep -q '(1 durations < 0.5s hidden)' <<<"$out"

out=$("$tool" -C "$tmp/b" --setup full)
check "--setup reads that setup's log" grep -q 'only-in-full' <<<"$out"

err=$("$tool" -C "$tmp/none" 2>&1 >/dev/null); rc=$?
check "missing log exits 2" test "$rc" = 2
check "missing log names the file" grep -q "$tmp/none/meson-logs/testlog.json: no test log" <<<"$err"

echo 'not json' > "$tmp/bad.json"
err=$("$tool" --log "$tmp/bad.json" 2>&1 >/dev/null); rc=$?
check "malformed log exits 2 naming file and line" \
  test "$rc" = 2 -a -n "$(grep "$tmp/bad.json:1:" <<<"$err")"

"$tool" -C "$tmp/b" -- -3 >/dev/null 2>&1; rc=$?
check "negative N is a usage error" test "$rc" = 2

echo "1..$n"
exit $((fails > 0))
