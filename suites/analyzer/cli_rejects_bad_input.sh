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
  case $name in valid | compact-valid) continue ;; esac
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
# Options: getopt's errors name memsnap and the command; numbers and sizes are checked, with the value.
v=$tmp/valid.snap
check --usage 2 "memsnap top: " "unknown or ambiguous option '--bogus'" "$memsnap" top "$v" --bogus
check --usage 2 "memsnap top: " "unknown option '-x'" "$memsnap" top "$v" -x
check --usage 2 "memsnap top: " "option --stack takes no argument ('--stack=1')" "$memsnap" top "$v" --stack=1
check --usage 2 "memsnap top: " "unknown or ambiguous option '--s'" "$memsnap" top "$v" --s
check --usage 2 "memsnap run: " "option --no-follow takes no argument" "$memsnap" run --no-follow=1 -- true
check --usage 2 "memsnap top: " "option --by needs an argument" "$memsnap" top "$v" --by
check --usage 2 "memsnap top: " "option -n needs an argument" "$memsnap" top "$v" -n
check --usage 2 "memsnap top: " "-n takes a count (0 = all), not '-1'" "$memsnap" top "$v" -n -1
check --usage 2 "memsnap top: " "not '99999999999999999999'" "$memsnap" top "$v" -n 99999999999999999999
check --usage 2 "memsnap top: " "--by takes line, function, file or stack, not 'nonsense'" "$memsnap" top "$v" --by nonsense
check --usage 2 "memsnap diff: " "not a size: '12XB'" "$memsnap" diff "$v" "$v" --fail-over 12XB
check --usage 2 "memsnap leaks: " "option --fail-over does not apply" "$memsnap" leaks "$v" --fail-over 1
check 2 "memsnap leaks: $tmp: " "cannot open suppressions: Is a directory" "$memsnap" leaks "$v" --suppressions "$tmp"
check 2 "memsnap leaks: $tmp/none.supp: " "cannot open suppressions" "$memsnap" leaks "$v" --suppressions "$tmp/none.supp"
check --usage 2 "memsnap run: " "unknown or ambiguous option '--bogus'" "$memsnap" run --bogus -- true
check --usage 2 "memsnap run: " "option --output needs an argument" "$memsnap" run --output
check 2 "memsnap run: " "--depth takes a frame count from 1 to 256, not '0'" "$memsnap" run --depth 0 -- true
check 2 "memsnap run: " "--depth takes a frame count from 1 to 256, not '300'" "$memsnap" run --depth 300 -- true
check 2 "memsnap run: " "--interval takes milliseconds (0 = off), not 'x'" "$memsnap" run --interval x -- true
# Directory options: a path that is not a directory is refused, not looked up in vain.
check 2 "memsnap top: --debug-dir $tmp/nodir: " "No such file or directory" "$memsnap" top "$v" --debug-dir "$tmp/nodir"
check 2 "memsnap top: --sysroot $v: " "not a directory" "$memsnap" top "$v" --sysroot "$v"
check 2 "memsnap lines: --source-dir $tmp/nodir: " "No such file or directory" "$memsnap" lines "$v" --file x.c \
  --source-dir "$tmp/nodir"
exit $fail
