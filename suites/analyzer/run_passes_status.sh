#!/usr/bin/env bash
# `memsnap run`: the program's output and exit status pass through unchanged (signals as 128+n), a missing
# program gives 127 and one that cannot be executed 126, a static one is refused, and the snapshots this run
# wrote are listed.
set -u
memsnap=$(realpath "$1") fx=$(realpath "$2")
. "$(dirname "$0")/run_common.sh"
cd "$tmp"
expect 3 "exit status passes through" "$memsnap" run --output "$tmp/s.%p.%n.snap" -- sh -c 'exit 3'
expect 143 "death by SIGTERM gives 128+15" "$memsnap" run --output "$tmp/s.%p.%n.snap" -- sh -c 'kill -TERM $$'
expect 127 "a missing program gives 127" "$memsnap" run -- /nonexistent/program
grep -q "/nonexistent/program: command not found" "$tmp/err" || { echo "FAIL: no 'command not found'" >&2; fail=1; }
expect 2 "--unwind takes dwarf, fp or libunwind" "$memsnap" run --unwind bogus -- true
if [ -x "$fx/fx_static" ]; then
  expect 2 "a static program is refused" "$memsnap" run -- "$fx/fx_static"
  grep -q "is statically linked: LD_PRELOAD cannot reach it" "$tmp/err" ||
    { echo "FAIL: static program not refused clearly" >&2; cat "$tmp/err" >&2; fail=1; }
fi

# Same output as a plain run, snapshots listed, and the leak found in them.
"$fx/fx_leak" leak >"$tmp/plain.out"
expect 0 "fixture under memsnap run" "$memsnap" run --output "$tmp/leak.%p.%n.snap" --depth 32 -- "$fx/fx_leak" leak
cmp -s "$tmp/plain.out" "$tmp/out" || { echo "FAIL: output differs under memsnap run" >&2; fail=1; }
snap=$(ls "$tmp"/leak.*.0.snap 2>/dev/null | head -1)
if [ -z "$snap" ]; then
  echo "FAIL: no snapshot written" >&2
  fail=1
else
  grep -qF "$snap" "$tmp/err" || { echo "FAIL: snapshot path not reported" >&2; cat "$tmp/err" >&2; fail=1; }
  "$memsnap" leaks "$snap" --fail >"$tmp/leaks" 2>&1
  [ $? = 1 ] && grep -q "make_node at .*fx_leak.c:13" "$tmp/leaks" ||
    { echo "FAIL: leak not found in the run's snapshot" >&2; cat "$tmp/leaks" >&2; fail=1; }
fi

# Only this run's snapshots are listed: not those of an earlier run a moment before (same second), and
# nothing when the program never started (126: not executable, like a shell).
mkdir "$tmp/again" && cd "$tmp/again" || exit 1
"$memsnap" run -- true 2>"$tmp/first.err" >/dev/null
"$memsnap" run -- true 2>"$tmp/second.err" >/dev/null
listed=$(grep -c '^  memsnap\.true\.' "$tmp/second.err")
if [ "$listed" != 1 ] || [ "$(ls memsnap.true.*.snap | wc -l)" != 2 ]; then
  echo "FAIL: the second run lists $listed snapshots, wanted its own 1:" >&2
  cat "$tmp/second.err" >&2
  fail=1
fi
expect 126 "a directory is not executable" "$memsnap" run -- "$tmp"
if [ "$(wc -l <"$tmp/err")" != 1 ] || ! grep -qF "memsnap run: $tmp: Permission denied" "$tmp/err"; then
  echo "FAIL: not one line for a program that never started:" >&2
  cat "$tmp/err" >&2
  fail=1
fi
cd "$tmp" || exit 1
exit $fail
