#!/usr/bin/env bash
# Every option docs/cli.md gives a command is named by that command's --help (exit 0, on stdout).
set -u
memsnap=$1
fail=0
want() { # command option...
  local cmd=$1 out
  shift
  out=$("$memsnap" "$cmd" --help 2>/dev/null) || { echo "FAIL: memsnap $cmd --help exits non-zero" >&2; fail=1; return; }
  for opt in "$@"; do
    if ! grep -qF -- "$opt" <<<"$out"; then
      echo "FAIL: memsnap $cmd --help does not mention $opt" >&2
      fail=1
    fi
  done
}
shared_sym=(--sysroot --debug-dir)
shared_filter=(--include --exclude --all-frames)
shared_out=(--format --bytes)
shared_names=(--full-names)
want top --by -n --cumulative --stack "${shared_names[@]}" "${shared_filter[@]}" "${shared_sym[@]}" "${shared_out[@]}"
want diff --by -n --cumulative --stack --fail-over --fail-site-over "${shared_names[@]}" "${shared_filter[@]}" "${shared_sym[@]}" \
  "${shared_out[@]}"
want leaks --show-reachable --suppressions --no-default-suppressions --fail -n "${shared_names[@]}" "${shared_filter[@]}" \
  "${shared_sym[@]}" "${shared_out[@]}"
want growth --by --cumulative -n --fail --stack --include-exit --full-names "${shared_filter[@]}" "${shared_sym[@]}" "${shared_out[@]}"
want lines --file --function --source-dir "${shared_sym[@]}" "${shared_out[@]}"
want export --format collapsed pprof json massif -o --live --allocated --bytes --count "${shared_filter[@]}" \
  "${shared_sym[@]}"
want flamegraph -o --allocated --count --title --bytes "${shared_filter[@]}" "${shared_sym[@]}"
want plot -o -n --by --allocated --title --bytes "${shared_filter[@]}" "${shared_sym[@]}"
want report -o --title --bytes "${shared_filter[@]}" "${shared_sym[@]}"
want dump --format
want run --output --interval --depth --unwind --no-follow --fail-on --max-live --max-peak --suppressions --fail-exitcode
want bench compare report show --fail --alpha --budgets -o --benchmark-sort --benchmark-group-by --benchmark-columns
exit $fail
