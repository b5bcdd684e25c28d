#!/usr/bin/env bash
# Every hostile snapshot gives exit 2 and exactly one line on stderr naming the file and the problem,
# through every command that reads snapshots.
set -u
memsnap=$1 snapgen=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # [--usage] expected-status fragment1 fragment2 command...  (--usage: a hint line may follow)
  local maxlines=1
  if [ "$1" = --usage ]; then maxlines=2; shift; fi
  local want=$1 frag=$2 frag2=$3
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$? lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" != "$want" ] || [ "$lines" -lt 1 ] || [ "$lines" -gt "$maxlines" ] || ! grep -qF -- "$frag" "$tmp/err" || ! grep -qF -- "$frag2" "$tmp/err"; then
    echo "FAIL: $* -> exit $rc, $lines stderr lines, wanted $want and '$frag' '$frag2':" >&2
    cat "$tmp/err" >&2
    fail=1
  fi
}
"$snapgen" valid "$tmp/valid.snap" || exit 1
"$memsnap" dump "$tmp/valid.snap" >/dev/null || { echo "FAIL: valid file rejected" >&2; fail=1; }
while IFS=$'\t' read -r name expect; do
  [ "$name" = valid ] && continue
  f="$tmp/$name.snap"
  "$snapgen" "$name" "$f" || exit 1
  for cmd in dump top leaks; do
    check 2 "$f: " "$expect" "$memsnap" "$cmd" "$f"
  done
  check 2 "$f: " "$expect" "$memsnap" diff "$tmp/valid.snap" "$f"
  check 2 "$f: " "$expect" "$memsnap" growth "$tmp/valid.snap" "$tmp/valid.snap" "$f"
  check 2 "$f: " "$expect" "$memsnap" lines "$f" --file x.c
done < <("$snapgen" --list)
check 2 "$tmp/none.snap: " "cannot open: No such file or directory" "$memsnap" top "$tmp/none.snap"
check --usage 2 "memsnap top: " "--format takes text or json, not 'xml'" "$memsnap" top "$tmp/valid.snap" --format xml
check --usage 2 "memsnap: " "unknown command 'frobnicate'" "$memsnap" frobnicate
check --usage 2 "memsnap diff: " "diff takes two snapshots" "$memsnap" diff "$tmp/valid.snap"
exit $fail
