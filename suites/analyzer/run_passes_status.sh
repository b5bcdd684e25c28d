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

# --output '' is the default name, as MEMSNAP_OUTPUT='' is: the snapshot is written and listed.
mkdir "$tmp/empty" && cd "$tmp/empty" || exit 1
expect 0 "--output ''" "$memsnap" run --output '' -- true
if [ "$(ls memsnap.true.*.snap 2>/dev/null | wc -l)" != 1 ] || ! grep -q '^  memsnap\.true\.' "$tmp/err"; then
  echo "FAIL: --output '': snapshot not written or not listed:" >&2
  cat "$tmp/err" >&2
  fail=1
fi
cd "$tmp" || exit 1

# A setuid program of another user: the loader ignores LD_PRELOAD; run says why nothing is recorded.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  mkdir -m 755 "$tmp/suid" && cp "$(type -P true)" "$tmp/suid/true" && chown nobody "$tmp/suid/true" &&
    chmod 4755 "$tmp/suid/true" || exit 1
  expect 0 "a setuid program runs" "$memsnap" run --output "$tmp/suid/s.%p.snap" -- "$tmp/suid/true"
  grep -q "suid/true is setuid/setgid: it runs in secure-execution mode" "$tmp/err" ||
    { echo "FAIL: run does not explain a setuid program:" >&2; cat "$tmp/err" >&2; fail=1; }
fi

# The unwinder is named in the snapshot as it was chosen.
expect 0 "--unwind libunwind" "$memsnap" run --unwind libunwind --output "$tmp/lu.snap" -- true
"$memsnap" dump "$tmp/lu.snap" 2>&1 | grep -q "unwinder libunwind" ||
  { echo "FAIL: dump does not name the libunwind unwinder:" >&2; "$memsnap" dump "$tmp/lu.snap" | grep unwinder >&2; fail=1; }

# Another allocator in LD_PRELOAD: memsnap run puts libmemsnap first, so the leak is still seen; preloaded
# before libmemsnap by hand, the library says on stderr and in the snapshot that it recorded nothing, and
# a gate refuses that snapshot instead of passing it.
other=${MEMSNAP_BIGALLOC:-}
if [ -n "$other" ] && [ -f "$other" ]; then
  LD_PRELOAD=$other expect 1 "another allocator preloaded: leaks --fail" \
    sh -c '"$1" run --output "$2/other.%p.%n.snap" -- "$3" leak >/dev/null 2>&1 && "$1" leaks --fail "$2"/other.*.snap' \
    sh "$memsnap" "$tmp" "$fx/fx_leak"
  LD_PRELOAD="$other:$lib" MEMSNAP_OUTPUT="$tmp/first.snap" "$fx/fx_leak" leak >/dev/null 2>"$tmp/first.err"
  grep -q "memsnap: the program's malloc is .*msbigalloc.*not recorded" "$tmp/first.err" ||
    { echo "FAIL: no warning for an allocator before libmemsnap:" >&2; cat "$tmp/first.err" >&2; fail=1; }
  expect 2 "a gate on an empty profile" "$memsnap" leaks --fail "$tmp/first.snap"
  grep -q "first.snap: the program's malloc is .*a gate cannot pass on it" "$tmp/err" ||
    { echo "FAIL: the gate did not say why:" >&2; cat "$tmp/err" >&2; fail=1; }
fi
exit $fail
