#!/usr/bin/env bash
# `memsnap growth` on a family of growth shapes (fixtures/growth_shapes.txt) gives each site its expected
# verdict; prints the confusion table (docs/cli.md). Also: at-exit snapshots are left out unless
# --include-exit, and --fail exits 1 on a sawtooth whose floor rises.
set -u
memsnap=$1 growthgen=$2 shapes=$3
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for shape in $(grep -v '^#' "$shapes" | awk 'NF {print $1}' | sort -u); do
    mapfile -t files < <("$growthgen" "$shapes" "$shape" "$tmp") || { echo "growthgen failed on $shape"; exit 1; }
    "$memsnap" growth "${files[@]}" --bytes --format json >"$tmp/$shape.json" 2>"$tmp/$shape.err"
    rc=$?
    if [ $rc -ne 0 ]; then echo "$shape: memsnap growth exited $rc: $(cat "$tmp/$shape.err")"; fail=1; fi
    "$memsnap" growth "${files[@]}" --bytes --include-exit --format json >"$tmp/$shape.all.json" 2>/dev/null
    "$memsnap" growth "${files[@]}" >"$tmp/$shape.txt" 2>/dev/null
    "$memsnap" growth "${files[@]}" --fail >/dev/null 2>&1
    echo $? >"$tmp/$shape.fail"
done
"$py" - "$shapes" "$tmp" <<'PY' || fail=1
import json, sys
shapes, d = sys.argv[1], sys.argv[2]
rows = []
for line in open(shapes):
    f = line.split()
    if not f or f[0].startswith("#"):
        continue
    at_exit = [v.startswith("!") for v in f[3:]]
    series = [int(v.lstrip("!")) * 1024 for v in f[3:]]
    rows.append((f[0], f[1], f[2], series, at_exit))
names = ["unbounded", "bounded", "steady"]
table = {(e, g): 0 for e in names for g in names}
bad = []
for shape, site, want, series, at_exit in rows:
    doc = json.load(open(f"{d}/{shape}.json"))
    kept = [v for v, x in zip(series, at_exit) if not x]
    got = [s for s in doc["sites"] if s["series"] == kept]
    verdict = got[0]["verdict"] if got else "steady"
    table[(want, verdict)] += 1
    if verdict != want:
        bad.append(f"{shape}/{site}: expected {want}, got {verdict} ({got[0]['trend'] if got else ''})")
    fail_rc = int(open(f"{d}/{shape}.fail").read())
    want_rc = 1 if any(w == "unbounded" for s, _, w, _, _ in rows if s == shape) else 0
    if fail_rc != want_rc:
        bad.append(f"{shape}: growth --fail exited {fail_rc}, expected {want_rc}")
    if any(at_exit):
        text = open(f"{d}/{shape}.txt").read()
        full = json.load(open(f"{d}/{shape}.all.json"))
        if len(doc["left_out_at_exit"]) != 1 or "Left out the at-exit snapshot" not in text:
            bad.append(f"{shape}: the at-exit snapshot was not left out, or not said so")
        if not [s for s in full["sites"] if s["series"] == series] or full["left_out_at_exit"]:
            bad.append(f"{shape}: --include-exit did not keep the at-exit snapshot")
print("| expected \\ verdict | unbounded | bounded | steady |")
print("|---|---|---|---|")
for e in names:
    print(f"| {e} | " + " | ".join(str(table[(e, g)]) for g in names) + " |")
print(f"{len(rows)} sites in {len(set(r[0] for r in rows))} shapes")
for b in bad:
    print("MISMATCH:", b)
sys.exit(1 if bad else 0)
PY
exit $fail
