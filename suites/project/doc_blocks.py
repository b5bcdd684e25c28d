#!/usr/bin/env python3
"""Runs the shell examples of README.md and docs/*.md, each in a fresh temporary directory where `build`
is the build tree and `include` the source's include/, the way a reader would paste them. A block is an
example when it is an indented or ```sh block whose commands start with memsnap's build outputs, a
compiler, printf, cat > or cp; blocks with placeholders (SNAP, ./my_test ...) or that build, install or
benchmark the whole project (scripts/, meson, cmake) are syntax reference and are listed as skipped. TAP.
    doc_blocks.py SOURCE_ROOT BUILD_ROOT"""
import os
import re
import subprocess
import sys
import tempfile

RUNNABLE = re.compile(r"^(build/|gcc |cc |printf |cat > |cp |LD_PRELOAD=)")
PLACEHOLDER = re.compile(r"\b(SNAP\d?|OLD|NEW|PROGRAM|FILE|ARGS)\b|\./my_test|\./app\b|\.\.\.|\|\w+\||scripts/|"
                         r"\bmeson\b|\bcmake\b|/opt/")
TIMING = re.compile(r"compare-fail|--fail (mean|median|min|max)")


def blocks(path):
    """(line number, text) of each indented or fenced shell block."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```") and line.strip("`").strip() in ("sh", "bash", "console", "shell"):
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            yield start + 1, "\n".join(body)
        elif line.startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            start, body = i, []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                body.append(lines[i][4:])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            yield start + 1, "\n".join(body)
            continue
        i += 1


def main():
    root, build = sys.argv[1], sys.argv[2]
    docs = [os.path.join(root, "README.md")] + sorted(
        os.path.join(root, "docs", f) for f in os.listdir(os.path.join(root, "docs")) if f.endswith(".md"))
    cases, skipped = [], {}
    for doc in docs:
        for line, text in blocks(doc):
            first = text.lstrip().split("\n")[0]
            if not RUNNABLE.match(first):
                continue
            rel = os.path.relpath(doc, root)
            # Comments (and C preprocessor lines in heredocs) may say anything.
            commands = "\n".join(re.sub(r"(^|\s)#.*", "", l) for l in text.split("\n"))
            if PLACEHOLDER.search(commands):
                cases.append((f"{rel}:{line}", "placeholders or whole-project commands"))
            elif TIMING.search(commands):
                cases.append((f"{rel}:{line}", "a timing gate: its exit status depends on the machine's noise"))
            else:
                cases.append((f"{rel}:{line}", text))
                continue
            skipped[cases[-1][0]] = cases[-1][1]
    print(f"1..{len(cases)}")
    failed = 0
    for n, (where, text) in enumerate(cases, 1):
        if where in skipped:
            print(f"ok {n} - {where} # SKIP {skipped[where]}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            os.symlink(build, os.path.join(tmp, "build"))
            os.symlink(os.path.join(root, "include"), os.path.join(tmp, "include"))
            env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MEMSNAP_OUTPUT")}
            r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", text], cwd=tmp, env=env,
                               capture_output=True, text=True, timeout=120)
        if r.returncode == 0:
            print(f"ok {n} - {where}")
        else:
            failed = 1
            print(f"not ok {n} - {where} (exit {r.returncode})")
            for l in (r.stdout + r.stderr).splitlines()[-15:]:
                print(f"# {l}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
