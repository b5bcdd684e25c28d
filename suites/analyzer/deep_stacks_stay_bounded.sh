#!/usr/bin/env bash
# Stacks as deep as the format allows: no command recurses once per frame (flamegraph crashed on a
# 10,000-frame stack), and the massif export stays a small multiple of its input (it grew with the square
# of the depth: a crafted 2 MB snapshot gave 4.3 GB).
set -u
memsnap=$1 snapgen=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
"$snapgen" deep 10000 2 "$tmp/deep.snap" || exit 1
for cmd in "flamegraph -o $tmp/out.svg" "export --format collapsed -o $tmp/out.txt" \
  "export --format json -o $tmp/out.json" "export --format pprof -o $tmp/out.pb" "top --stack" "leaks" "dump"; do
  # shellcheck disable=SC2086
  "$memsnap" $cmd "$tmp/deep.snap" >"$tmp/stdout" 2>"$tmp/err"
  rc=$?
  if [ "$rc" != 0 ]; then
    echo "FAIL: memsnap $cmd on a 10,000-frame stack -> exit $rc" >&2
    head -3 "$tmp/err" >&2
    fail=1
  fi
done
"$snapgen" deep 3000 20 "$tmp/wide.snap" || exit 1
in=$(stat -c %s "$tmp/wide.snap")
timeout 60 "$memsnap" export --format massif "$tmp/wide.snap" -o "$tmp/massif.out" || { echo "FAIL: massif export" >&2; fail=1; }
out=$(stat -c %s "$tmp/massif.out" 2>/dev/null || echo 0)
if [ "$out" -gt $((in * 4)) ]; then
  echo "FAIL: massif output $out bytes for a $in-byte snapshot" >&2
  fail=1
fi
exit $fail
