#!/usr/bin/env bash
# The exit scan stops running threads (MEMSNAP_STOP_SIGNAL) without disturbing the program
# (fixtures/fx_stop.c): a block held by a thread spinning while the process exits from another thread, a
# signal handler or _exit is still reachable; a thread that blocks every signal, or a program with its own
# handler for the stop signal, falls back to "unknown" (counted, block lost) and its handler never runs;
# without a stop signal, a thread that runs on for 20 ms after exit() and then sleeps is read asleep, and so
# is one that gets no CPU for 1 s before it sleeps;
# threads asleep in nanosleep, sem_wait and poll are never cut short over 30 scans (a running thread is
# stopped in each), nor is one that sleeps every 200 us while starved of CPU; a sleeping thread's stack
# that another thread makes unreadable during the scans does not crash the program (the scan reads other
# threads' memory through a copy that cannot fault); a process full of allocating, starting and ending
# threads exits with its own status. Every run has a 30 s limit.
# Environment: MEMSNAP_BIN, MEMSNAP_FIXTURES, MEMSNAP_PRELOAD_LIB (without it: skipped).
set -u
. "$(dirname "$0")/fixture_common.sh"
fx=$(realpath "$fxdir/fx_stop")
cd "$tmp" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }

# mode size kind threads_unknown [environment]
check() {
  local mode=$1 size=$2 kind=$3 unknown=$4
  shift 4
  rm -f ./*.snap
  timeout 30 env "$@" MEMSNAP_OUTPUT="$tmp/exit.%p.snap" LD_PRELOAD="$lib" "$fx" "$mode" >out.txt 2>err.txt
  local rc=$?
  [ $rc -eq 0 ] || { fail "$mode $*: exited $rc (124: hung); $(head -3 err.txt)"; return; }
  [ -s out.txt ] && fail "$mode $*: the program's output changed: $(head -3 out.txt)"
  local snap
  snap=$(ls exit.*.snap 2>/dev/null | head -1)
  [ -n "$snap" ] || { fail "$mode $*: no exit snapshot"; return; }
  "$memsnap" leaks "$snap" --show-reachable --no-default-suppressions --format json >l.json 2>/dev/null
  local got
  got=$("$py" -c '
import json, sys
d = json.load(open(sys.argv[1])); size = int(sys.argv[2])
kinds = [e["kind"] for e in d["leaks"] if e["size"] == size and e["count"] == 1]
print(kinds[0] if kinds else "none", d["scan"]["threads_unknown"])' l.json "$size")
  echo "$mode ${*:-(defaults)}: ${size} B $got"
  [ "$got" = "$kind $unknown" ] || fail "$mode $*: the $size B block and unknown threads are '$got', expected '$kind $unknown'"
}

check thread-exit 5000 still_reachable 0
check handler-exit 5100 still_reachable 0
check underscore-exit 5200 still_reachable 0
check blocked 4800 definitely_lost 1
check own-handler 4900 definitely_lost 1
check thread-exit 5000 definitely_lost 1 MEMSNAP_STOP_SIGNAL=0
# No stop signal: a thread still running when the scan starts is watched until it sleeps, not given up on.
check late-sleeper 5300 still_reachable 0 MEMSNAP_STOP_SIGNAL=0
# ... judged by its own run time, not the clock's: one that gets no CPU for 1 s (a busy machine) is still read
# asleep; the thread that kept it off the CPU is unknown.
check starved-sleeper 5400 still_reachable 1 MEMSNAP_STOP_SIGNAL=0

# Sleepers: no wait cut short, every scan complete; again with the 200 us sleeper starved on one CPU.
for mode in sleepers sleepers-one-cpu; do
  rm -f ./*.snap
  timeout 60 env MEMSNAP_LEAK_SCAN=all MEMSNAP_AT_EXIT=0 LD_PRELOAD="$lib" "$fx" $mode >out.txt 2>err.txt
  rc=$?
  [ $rc -eq 0 ] || fail "$mode: exited $rc; $(head -3 err.txt)"
  grep -q EINTR out.txt && fail "$mode: $(grep EINTR out.txt | head -3 | tr '\n' ' ')"
  grep -qx "snapshots 30" out.txt || fail "$mode: $(cat out.txt)"
  unknown=0
  for s in sleepers.*.snap; do
    "$memsnap" dump "$s" >d.txt 2>/dev/null
    grep -q "lost 0 B in 0, indirect 0 B in 0, reachable 4000 B in 1" d.txt ||
      { fail "$mode: $s: the spinning thread's block is not reachable: $(grep -m1 '^leaks' d.txt)"; break; }
    unknown=$((unknown + $(sed -nE 's/^leaks .* threads_unknown ([0-9]+) .*/\1/p' d.txt)))
  done
  echo "$mode: $unknown threads unknown (a sleeper not caught asleep) over 30 scans"
  echo "$mode: $(cat out.txt)"
done

# Vanishing: 30 scans and the exit's while another thread toggles a sleeping thread's stack unreadable.
rm -f ./*.snap
timeout 60 env MEMSNAP_LEAK_SCAN=all MEMSNAP_OUTPUT="$tmp/exit.%p.snap" LD_PRELOAD="$lib" "$fx" vanishing >out.txt 2>err.txt
rc=$?
[ $rc -eq 0 ] || fail "vanishing: exited $rc (139: the scan read unmapped memory); $(head -3 err.txt)"
grep -qx "snapshots 30" out.txt || fail "vanishing: $(cat out.txt)"
ls exit.*.snap >/dev/null 2>&1 || fail "vanishing: no exit snapshot"
echo "vanishing: exit $rc, $(cat out.txt)"

# Churn: five exits while threads allocate, start and end.
for i in 1 2 3 4 5; do
  rm -f ./*.snap
  timeout 30 env MEMSNAP_OUTPUT="$tmp/exit.%p.snap" LD_PRELOAD="$lib" "$fx" churn >out.txt 2>err.txt
  rc=$?
  [ $rc -eq 0 ] || { fail "churn $i: exited $rc (124: hung); $(head -3 err.txt)"; continue; }
  ls exit.*.snap >/dev/null 2>&1 || fail "churn $i: no exit snapshot"
  grep -q "leak scan skipped" err.txt && fail "churn $i: $(cat err.txt)"
done
echo "churn: 5 exits"
exit $status
