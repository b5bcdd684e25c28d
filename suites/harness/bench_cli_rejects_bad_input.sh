#!/usr/bin/env bash
# `memsnap bench` and a benchmark program on bad input: exit 2 and one line on stderr naming the file or
# option and the problem; and the program's --help names every flag docs/harness.md documents.
set -u
example=$1 cli=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # expected-status fragment1 fragment2 command...
  local want=$1 frag=$2 frag2=$3
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$? lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" != "$want" ] || [ "$lines" != 1 ] || ! grep -qF -- "$frag" "$tmp/err" || ! grep -qF -- "$frag2" "$tmp/err"; then
    echo "FAIL: $* -> exit $rc, $lines stderr lines, wanted $want and '$frag' '$frag2':" >&2
    cat "$tmp/err" >&2
    fail=1
  fi
}
"$example" --benchmark-json="$tmp/ok.json" --benchmark-max-time=0.001 -k fnv1a >/dev/null || exit 1
echo 'not json' >"$tmp/text.json"
: >"$tmp/empty.json"
echo '{"benchmarks": [{"name": "x"}]}' >"$tmp/nostats.json"
mkdir "$tmp/dir"
ok=$tmp/ok.json
for sub in compare show; do
  check 2 "$tmp/text.json:1:" "invalid JSON" "$cli" $sub "$tmp/text.json" "$ok"
  check 2 "$tmp/empty.json:" "invalid JSON" "$cli" $sub "$tmp/empty.json" "$ok"
  check 2 "$tmp/dir: " "is a directory" "$cli" $sub "$tmp/dir" "$ok"
  check 2 "$tmp/none.json: " "cannot open" "$cli" $sub "$tmp/none.json" "$ok"
  check 2 "$tmp/nostats.json: " "no \"stats\"" "$cli" $sub "$tmp/nostats.json" "$ok"
done
check 2 "--fail" "mean:10%" "$cli" compare "$ok" "$ok" --fail
check 2 "'mean:ten%'" "not a percentage" "$cli" compare "$ok" "$ok" --fail mean:ten%
check 2 "--alpha" "needs a value" "$cli" compare "$ok" "$ok" --alpha
check 2 "--alpha: '2'" "(0, 1]" "$cli" compare "$ok" "$ok" --alpha 2
check 2 "unknown option '--bogus'" "compare" "$cli" compare "$ok" "$ok" --bogus
check 2 "$tmp/dir: " "budgets" "$cli" report "$ok" --budgets "$tmp/dir"
check 2 "$tmp/none.yml: " "cannot open" "$cli" report "$ok" --budgets "$tmp/none.yml"
check 2 "$tmp/no/r.md: " "cannot write: No such file or directory" "$cli" report "$ok" -o "$tmp/no/r.md"
check 2 "$tmp/dir: " "cannot write: Is a directory" "$cli" report "$ok" -o "$tmp/dir"
if [ -w /dev/full ]; then # a full disk: the table never reached stdout
  "$cli" show "$ok" >/dev/full 2>"$tmp/err"
  rc=$?
  if [ "$rc" != 2 ] || [ "$(wc -l <"$tmp/err")" != 1 ] || ! grep -qF "bench show: cannot write the output" "$tmp/err"; then
    echo "FAIL: bench show >/dev/full -> exit $rc:" >&2
    cat "$tmp/err" >&2
    fail=1
  fi
fi
check 2 "--benchmark-max-time: 'abc'" "not a number" "$example" --benchmark-max-time=abc
check 2 "unknown option '--benchmark-bogus'" "--help" "$example" --benchmark-bogus
check 2 "'sometimes'" "on, off or auto" "$example" --benchmark-warmup=sometimes
check 2 "-k: cannot parse expression 'and or ('" "near 'and or ('" "$example" -k "and or ("
check 2 "-k: cannot parse expression '(fnv'" "ends too early" "$example" -k "(fnv"
check 2 "-k: cannot parse expression 'fnv )'" "near ')'" "$example" -k "fnv )"
help=$("$example" --help) || { echo "FAIL: --help exits non-zero" >&2; fail=1; }
for flag in --benchmark-only --benchmark-skip --benchmark-disable --benchmark-min-time --benchmark-max-time \
  --benchmark-min-rounds --benchmark-calibration-precision "--benchmark-warmup[=on|off|auto]" \
  --benchmark-warmup-iterations --benchmark-timer --benchmark-group-by --benchmark-sort --benchmark-columns \
  --benchmark-json --benchmark-save --benchmark-save-data --benchmark-autosave --benchmark-storage "--benchmark-compare[=NUM|NAME|FILE]" \
  --benchmark-compare-fail --benchmark-histogram --benchmark-disable-gc --benchmark-verbose "-k EXPR" \
  --benchmark-compare-alpha thread_time process_time p95 allocs; do
  grep -qF -- "$flag" <<<"$help" || { echo "FAIL: --help does not mention $flag" >&2; fail=1; }
done
# Each subcommand's --help lists its own options, and only those.
help_has() { # SUBCOMMAND WANTED UNWANTED
  local text
  text=$("$cli" "$1" --help) || { echo "FAIL: bench $1 --help exits non-zero" >&2; fail=1; return; }
  grep -qF -- "usage: memsnap bench $1" <<<"$text" || { echo "FAIL: bench $1 --help: no usage line" >&2; fail=1; }
  for w in $2; do grep -qF -- "$w" <<<"$text" || { echo "FAIL: bench $1 --help lacks $w" >&2; fail=1; }; done
  for w in $3; do ! grep -qF -- "$w" <<<"$text" || { echo "FAIL: bench $1 --help lists $w" >&2; fail=1; }; done
}
help_has compare "--fail --alpha" "--budgets --benchmark-sort"
help_has report "--budgets --output" "--fail --benchmark-sort"
help_has show "--benchmark-sort --benchmark-group-by --benchmark-columns --benchmark-histogram" "--fail --budgets --benchmark-json"
exit $fail
