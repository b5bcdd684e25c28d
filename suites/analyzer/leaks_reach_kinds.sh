#!/usr/bin/env bash
# The at-exit reachability scan sorts fx_reach's planted blocks (globals, an interior pointer, TLS, another
# thread's stack, a lost list, an overwritten pointer, a cycle) into the right kinds, with their exact
# bytes, as `memsnap leaks --format json` reports them, also when the kernel refuses the scan's copies
# (process_vm_readv: ENOSYS or EPERM, asked once per scan); --fail gates on lost blocks only; with
# MEMSNAP_LEAK_SCAN=0 the report says reachability is unknown and lists every live block.
# Environment: MEMSNAP_BIN, MEMSNAP_FIXTURES, MEMSNAP_PRELOAD_LIB (without it: skipped).
set -u
. "$(dirname "$0")/fixture_common.sh"
fx=$fxdir/fx_reach
fail() { echo "FAIL: $*" >&2; exit 1; }

for how in return _exit altstack api ENOSYS EPERM; do
  if [ $how = api ]; then # a snapshot on demand, scanned with MEMSNAP_LEAK_SCAN=all
    MEMSNAP_LEAK_SCAN=all MEMSNAP_OUTPUT="$tmp/exit.%n.snap" LD_PRELOAD="$lib" "$fx" api "$tmp/$how.snap" ||
      fail "fixture exited $? ($how)"
  elif [ $how = ENOSYS ] || [ $how = EPERM ]; then
    # The kernel refuses the scan's copies (a seccomp filter): blocks are read in place, and the refusal is
    # taken once per scan, not asked again for every root and block (one scan here: no exit snapshot).
    MSREFUSE_ERRNO=$how MEMSNAP_AT_EXIT=0 MEMSNAP_LEAK_SCAN=all LD_PRELOAD="$fxdir/libmsrefusecopy.so $lib" \
      "$fx" api "$tmp/$how.snap" 2>"$tmp/$how.err" || fail "fixture exited $? ($how): $(cat "$tmp/$how.err")"
    grep -qx 'process_vm_readv refused 1 times' "$tmp/$how.err" ||
      fail "copies asked for after the kernel refused ($how): $(cat "$tmp/$how.err")"
  else
    MEMSNAP_OUTPUT="$tmp/$how.snap" LD_PRELOAD="$lib" "$fx" $how || fail "fixture exited $? ($how)"
  fi
  "$memsnap" leaks "$tmp/$how.snap" --format json --show-reachable --include '*fx_reach.c' >"$tmp/$how.json" 2>/dev/null ||
    fail "memsnap leaks exited $? ($how)"
  "$py" - "$tmp/$how.json" "$how" <<'PY' || exit 1
import json, sys
doc = json.load(open(sys.argv[1]))
how = sys.argv[2]
assert doc["reachability"] == "scanned", doc["reachability"]
assert doc["scan"]["blocks"] >= 10 and doc["scan"]["skipped"] == 0 and doc["scan"]["ns"] > 0, doc["scan"]
assert doc["scan"]["threads_unknown"] == 0, doc["scan"]
# (innermost fixture function, kind) -> [bytes, blocks]
got = {}
for e in doc["leaks"]:
    fn = next(f["function"] for f in e["stack"] if f.get("file") and f["file"].endswith("fx_reach.c"))
    key = (fn, e["kind"])
    assert key not in got, ("one row per stack and kind", key)
    got[key] = [e["size"], e["count"]]
want = {
    ("keep_global", "still_reachable"): [100, 1],
    ("keep_interior", "still_reachable"): [200, 1],
    ("keep_tls", "still_reachable"): [150, 1],
    ("keep_thread", "still_reachable"): [250, 1],
    ("lost_head", "definitely_lost"): [64, 1],
    ("lost_child", "indirectly_lost"): [64, 2],
    ("overwritten", "definitely_lost"): [300, 1],
    ("cycle_node", "definitely_lost"): [48, 1],
    ("cycle_node", "indirectly_lost"): [48, 1],
}
if got != want:
    for k in sorted(set(got) | set(want)):
        print(f"{how}: {k}: got {got.get(k)} want {want.get(k)}", file=sys.stderr)
    sys.exit(1)
k = doc["kinds"]
assert k["definitely_lost"] == {"size": 412, "count": 3, "stacks": 3}, k
assert k["indirectly_lost"] == {"size": 112, "count": 3, "stacks": 2}, k
assert k["still_reachable"] == {"size": 700, "count": 4, "stacks": 4}, k
# cycle_node has a block in each lost kind: one stack, counted once
assert doc["total"] == {"size": 524, "count": 6, "stacks": 4}, doc["total"]
PY
done

# Without --show-reachable only the lost kinds are listed; --fail crosses on them.
"$memsnap" leaks "$tmp/return.snap" --format json --include '*fx_reach.c' --fail >"$tmp/default.json"
[ $? = 1 ] || fail "leaks --fail with lost blocks did not exit 1"
"$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
kinds = sorted({e["kind"] for e in d["leaks"]})
assert kinds == ["definitely_lost", "indirectly_lost"], kinds
' "$tmp/default.json" || fail "default listing"
# Only reachable blocks left (the lost ones suppressed): --fail passes.
printf 'leak:lost_head\nleak:lost_child\nleak:overwritten\nleak:cycle_node\n' >"$tmp/supp"
"$memsnap" leaks "$tmp/return.snap" --include '*fx_reach.c' --suppressions "$tmp/supp" --fail >"$tmp/supp.txt" ||
  fail "leaks --fail with only reachable blocks exited $?"
# cycle_node's two blocks (one per lost kind) are one suppressed stack.
grep -q '^SUMMARY: definitely lost: 0 B in 0 blocks from 0 stacks; indirectly lost: 0 B in 0 blocks from 0 stacks; still reachable: 700 B in 4 blocks from 4 stacks (--show-reachable lists them); suppressed: 524 B in 6 blocks from 4 stacks$' "$tmp/supp.txt" ||
  fail "summary: $(cat "$tmp/supp.txt")"

# Scan off: no LEAKS section, every live block listed, and said so.
MEMSNAP_LEAK_SCAN=0 MEMSNAP_OUTPUT="$tmp/off.snap" LD_PRELOAD="$lib" "$fx" || fail "fixture (scan off)"
"$memsnap" leaks "$tmp/off.snap" --include '*fx_reach.c' --bytes >"$tmp/off.txt" || fail "leaks (scan off)"
grep -q '^note: reachability unknown (no scan' "$tmp/off.txt" || fail "no 'reachability unknown' note"
"$memsnap" leaks "$tmp/off.snap" --format json | "$py" -c '
import json, sys
d = json.load(sys.stdin)
assert d["reachability"] == "unknown" and d["kinds"] is None and d["scan"] is None, d
assert {e["kind"] for e in d["leaks"]} == {"unknown"}, d["leaks"]
' || fail "scan off: JSON"
grep -q '^SUMMARY: 1224 B leaked in 10 blocks from 8 stacks' "$tmp/off.txt" || fail "scan off: $(cat "$tmp/off.txt")"
echo "ok: kinds and bytes as planted, for return, _exit and exit on an alternate signal stack, and on demand (also with the copies refused); --fail on lost only; scan off says unknown"
