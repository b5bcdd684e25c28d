#!/usr/bin/env bash
# export, flamegraph, plot and report: every hostile snapshot and every bad command line gives exit 2 and one line
# on stderr (plus the --help hint for usage errors); a failed write leaves no partial file.
set -u
memsnap=$1 snapgen=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # [--usage] fragment1 fragment2 command...
  local maxlines=1
  if [ "$1" = --usage ]; then maxlines=2; shift; fi
  local frag=$1 frag2=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$? lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" != 2 ] || [ "$lines" -lt 1 ] || [ "$lines" -gt "$maxlines" ] || ! grep -qF -- "$frag" "$tmp/err" || ! grep -qF -- "$frag2" "$tmp/err"; then
    echo "FAIL: $* -> exit $rc, $lines stderr lines, wanted 2 and '$frag' '$frag2':" >&2
    cat "$tmp/err" >&2
    fail=1
  fi
}
"$snapgen" valid "$tmp/valid.snap" || exit 1
"$memsnap" export "$tmp/valid.snap" --format collapsed >/dev/null || { echo "FAIL: valid file rejected" >&2; fail=1; }
while IFS=$'\t' read -r name expect; do
  case $name in valid | compact-valid) continue ;; esac
  f="$tmp/$name.snap"
  "$snapgen" "$name" "$f" || exit 1
  for fmt in collapsed pprof json massif; do
    check "$f: " "$expect" "$memsnap" export "$f" --format "$fmt" -o "$tmp/out.$fmt"
    [ -e "$tmp/out.$fmt" ] && { echo "FAIL: export $name left $tmp/out.$fmt" >&2; fail=1; }
  done
  check "$f: " "$expect" "$memsnap" flamegraph "$f" -o "$tmp/fg.svg"
  check "$f: " "$expect" "$memsnap" plot "$tmp/valid.snap" "$f" -o "$tmp/plot.svg"
  check "$f: " "$expect" "$memsnap" report "$tmp/valid.snap" "$f" -o "$tmp/report.html"
  [ -e "$tmp/report.html" ] && { echo "FAIL: report $name left $tmp/report.html" >&2; fail=1; }
done < <("$snapgen" --list)
v=$tmp/valid.snap
check --usage "memsnap export: " "--format collapsed|pprof|json|massif is required" "$memsnap" export "$v"
check --usage "memsnap export: " "--format takes collapsed, pprof, json or massif, not 'text'" "$memsnap" export "$v" --format text
check --usage "memsnap export: " "export takes one snapshot" "$memsnap" export "$v" "$v" --format json
check "$f: " "$expect" "$memsnap" export "$v" "$f" --format massif
check --usage "memsnap flamegraph: " "option --format does not apply" "$memsnap" flamegraph "$v" --format json
check --usage "memsnap plot: " "plot takes two or more snapshots" "$memsnap" plot "$v" -o "$tmp/p.svg"
check --usage "memsnap plot: " "plot takes --by line, function or file" "$memsnap" plot "$v" "$v" --by stack
check --usage "memsnap top: " "option -o does not apply" "$memsnap" top "$v" -o x
check --usage "memsnap export: " "--allocated and --count weigh collapsed stacks" "$memsnap" export "$v" --format pprof --count
check --usage "memsnap plot: " "--count does not apply" "$memsnap" plot "$v" "$v" --count
check --usage "memsnap report: " "report writes a file: -o report.html" "$memsnap" report "$v"
check --usage "memsnap report: " "report takes one or more snapshots" "$memsnap" report -o "$tmp/r.html"
check --usage "memsnap report: " "--allocated and --count do not apply" "$memsnap" report "$v" -o "$tmp/r.html" --count
check "$tmp/no/such/dir/r.html: " "cannot write" "$memsnap" report "$v" -o "$tmp/no/such/dir/r.html"
check "$tmp/no/such/dir/fg.svg: " "cannot write" "$memsnap" flamegraph "$v" -o "$tmp/no/such/dir/fg.svg"
exit $fail
