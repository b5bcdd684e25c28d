#!/usr/bin/env bash
# memsnap report in a real browser: headless Chromium opens the report of growth-fixture's unbounded cache
# (the run scripts/demo reports on) from a file:// URL with two scripts injected (an error recorder first, report_browser_check.js last), which click
# moments, zoom, search, toggle and sort; any page or console error fails. A screenshot of the page goes to
# the build directory (report-screenshot.png). Skipped without Chromium (Debian package chromium).
#   report_in_chromium.sh MEMSNAP GROWTH-FIXTURE
#   report_in_chromium.sh REPORT.html     only time a given report (load-ms) and count its bytes
# Environment: MEMSNAP_PRELOAD_LIB (without it, skip), MEMSNAP_CHROMIUM (the browser), MEMSNAP_BUILD_ROOT.
set -u
here=$(cd "$(dirname "$0")" && pwd)
chrome=${MEMSNAP_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$chrome" ] || { echo "skip: no headless browser (install Debian's chromium, or set MEMSNAP_CHROMIUM)" >&2; exit 77; }
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
browse() { # browse ACTION-FLAG FILE: headless, no profile of the user's, nothing fetched. A Chromium that
  # hangs (seen once in some 60 suite runs on a loaded machine, after its work was done) is killed after
  # MEMSNAP_BROWSER_TIMEOUT (90) seconds and run once more, with a fresh profile (the killed one may hold
  # its lock).
  local try rc
  for try in 1 2; do
    timeout -k 5 "${MEMSNAP_BROWSER_TIMEOUT:-90}" "$chrome" --headless --no-sandbox --disable-gpu \
      --no-first-run --disable-extensions --hide-scrollbars --disable-background-networking \
      --disable-component-update --disable-sync --user-data-dir="$tmp/profile$try" --enable-logging=stderr \
      --v=0 --window-size=1300,2400 --virtual-time-budget=10000 "$1" "file://$2" 2>"$tmp/stderr"
    rc=$?
    [ $rc -eq 124 ] || [ $rc -eq 137 ] || return $rc
    echo "note: chromium hung ($1, try $try), killed after ${MEMSNAP_BROWSER_TIMEOUT:-90} s" >&2
  done
  return $rc
}
inject() { # inject REPORT OUT: the error recorder first in <head>, the checks last in <body>
  "$py" - "$1" "$2" "$here/report_browser_errors.js" "$here/report_browser_check.js" <<'PY'
import sys
page, out, first, last = sys.argv[1:5]
s = open(page, encoding="utf-8").read()
s = s.replace("<head>", "<head><script>" + open(first).read() + "</script>", 1)
i = s.rindex("</body>")
s = s[:i] + "<script>" + open(last).read() + "</script>" + s[i:]
open(out, "w", encoding="utf-8").write(s)
PY
}

if [ $# -eq 1 ]; then # timing a given report
  cp "$1" "$tmp/page.html"
  "$py" - "$tmp/page.html" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read(); i = s.rindex("</body>")
s = s[:i] + "<script>requestAnimationFrame(function(){var p=document.createElement('pre');p.id='browser-test';" \
    "p.textContent='load-ms '+performance.now().toFixed(0);document.body.appendChild(p);});</script>" + s[i:]
open(p, "w").write(s)
PY
  browse --dump-dom "$tmp/page.html" >"$tmp/dom.html" || { echo "chromium failed: $(tail -3 "$tmp/stderr")" >&2; exit 1; }
  ms=$(grep -o '<pre id="browser-test">load-ms [0-9]*' "$tmp/dom.html" | grep -o '[0-9]*$')
  if [ -n "$ms" ]; then
    echo "$1: $(stat -c %s "$1") bytes; rendered in $ms ms (navigation start to the first frame)"
  else
    echo "$1: $(stat -c %s "$1") bytes; did not render" >&2
    exit 1
  fi
  exit 0
fi

lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || [ ! -f "$lib" ]; then
  echo "skip: libmemsnap.so not built here (MEMSNAP_PRELOAD_LIB='$lib')" >&2
  exit 77
fi
memsnap=$(realpath "$1") growth=$(realpath "$2")
(cd "$tmp" && MEMSNAP_OUTPUT="$tmp/exit.snap" LD_PRELOAD="$lib" "$growth" --out "$tmp/batch" --rounds 5 --batch 200 \
   >/dev/null) || { echo "growth-fixture failed" >&2; exit 1; }
"$memsnap" report "$tmp"/batch-*.snap "$tmp/exit.snap" -o "$tmp/report.html" ||
  { echo "memsnap report failed" >&2; exit 1; }
grep -Eq '(src|href)=' "$tmp/report.html" && { echo "FAIL: the report links something: $(grep -Eo '(src|href)=[^ >]*' "$tmp/report.html" | head -3)" >&2; exit 1; }
inject "$tmp/report.html" "$tmp/page.html"
browse --dump-dom "$tmp/page.html" >"$tmp/dom.html" || { echo "chromium failed: $(tail -3 "$tmp/stderr")" >&2; exit 1; }
"$py" - "$tmp/dom.html" <<'PY' || fail=1
import html, re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
m = list(re.finditer(r'<pre id="browser-test">(.*?)</pre>', dom, re.S))
m = m[-1] if m else None
if not m:
    sys.exit("FAIL: the checks did not run (no <pre id=browser-test> in the dumped page)")
lines = html.unescape(m.group(1)).splitlines()
print("\n".join(lines))
sys.exit(1 if any(l.startswith("FAIL") for l in lines) else 0)
PY
fail=${fail:-0}
# Console messages at error level that the recorder could not see (Chromium logs them as CONSOLE lines).
if grep -E 'CONSOLE.*(Uncaught|Error|error)' "$tmp/stderr" >&2; then
  echo "FAIL: console errors above" >&2
  fail=1
fi
shot=${MEMSNAP_BUILD_ROOT:-.}/report-screenshot.png
(cd "$tmp" && browse --screenshot="$tmp/shot.png" "$tmp/page.html" >/dev/null) && [ -s "$tmp/shot.png" ] &&
  cp "$tmp/shot.png" "$shot" && echo "screenshot: $shot" || { echo "FAIL: no screenshot" >&2; fail=1; }
exit $fail
