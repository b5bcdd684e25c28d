#!/usr/bin/env bash
# .github/workflows/performance.yml is valid YAML and has the jobs the method needs. TAP.
set -u
root=${MEMSNAP_SOURCE_ROOT:?MEMSNAP_SOURCE_ROOT not set}
py=/usr/bin/python3
if ! [ -x "$py" ] || ! "$py" -c 'import yaml' 2>/dev/null; then
  echo "skip: needs $py with the yaml module (Debian python3-yaml)" >&2
  exit 77
fi
exec "$py" - "$root" <<'PY'
import os, sys, yaml
root = sys.argv[1]
path = os.path.join(root, ".github/workflows/performance.yml")
n = fails = 0
def check(what, cond):
    global n, fails
    n += 1
    print(("ok - " if cond else "not ok - ") + what)
    fails += 0 if cond else 1

try:
    wf = yaml.safe_load(open(path))
except yaml.YAMLError as e:
    print(f"not ok - {path} is valid YAML: {e}")
    print("1..1"); sys.exit(1)
check("parses to a mapping", isinstance(wf, dict))
on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
check("triggers: push to main, pull_request, nightly schedule, manual",
      isinstance(on, dict) and "main" in on["push"]["branches"] and "pull_request" in on
      and any("cron" in s for s in on.get("schedule", [])) and "workflow_dispatch" in on)
jobs = wf.get("jobs", {})

def runs(job):
    return "\n".join(s.get("run", "") for s in jobs[job].get("steps", []))
def uses(job):
    return [s.get("uses", "") for s in jobs[job].get("steps", [])]

for job in ("quick-checks", "full-benchmarks", "memory-profiling"):
    check(f"job {job} exists with steps", job in jobs and jobs[job].get("steps"))
if fails:
    print(f"1..{n}"); sys.exit(1)
check("quick checks only on pull requests", jobs["quick-checks"]["if"].strip() == "github.event_name == 'pull_request'")
check("quick checks run the perf suite", "--suite perf" in runs("quick-checks"))
fb = jobs["full-benchmarks"]["if"]
check("full benchmarks on push and nightly, not on pull requests",
      "'push'" in fb and "'schedule'" in fb and "pull_request" not in fb)
check("full benchmarks run meson's benchmarks", "meson test" in runs("full-benchmarks") and "--benchmark" in runs("full-benchmarks"))
check("full benchmarks compare with a baseline", "bench compare" in runs("full-benchmarks") and "--fail" in runs("full-benchmarks"))
check("full benchmarks write the Markdown report with the budgets",
      "bench report" in runs("full-benchmarks") and "performance_budgets.yml" in runs("full-benchmarks"))
mj = jobs["memory-profiling"]["if"]
check("memory suite nightly, not per pull request", "'schedule'" in mj and "pull_request" not in mj)
check("memory job runs the memory suite", "--suite memory" in runs("memory-profiling"))
for job in jobs:
    check(f"{job}: installs packages with scripts/setup", "scripts/setup" in runs(job))
    check(f"{job}: uploads artifacts", any(u.startswith("actions/upload-artifact@") for u in uses(job)))
    check(f"{job}: every action pinned to a version", all("@" in u for u in uses(job) if u))
for f in ("scripts/setup", "scripts/durations", "performance_budgets.yml"):
    check(f"{f} referenced by the workflow exists", os.path.exists(os.path.join(root, f)))
print(f"1..{n}")
sys.exit(1 if fails else 0)
PY
