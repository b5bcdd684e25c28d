#!/usr/bin/env bash
# bench-analyzer with an OUTDIR it cannot write to (a path under a regular file) exits 2 with one line on
# stderr naming the file and the reason, instead of going on as if the snapshots were there.
set -u
bench=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/file"
"$bench" 1000 "$tmp/file/out" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
fail() { echo "FAIL: $*" >&2; cat "$tmp/stderr" >&2; exit 1; }
[ "$rc" = 2 ] || fail "exit $rc, wanted 2"
[ "$(wc -l <"$tmp/stderr")" = 1 ] || fail "wanted one line on stderr"
grep -qxF "bench-analyzer: $tmp/file/out/old.snap: cannot write: Not a directory" "$tmp/stderr" ||
  fail "stderr does not name the file and the reason"
echo "ok: unwritable OUTDIR gives exit 2 and one line naming the file"
