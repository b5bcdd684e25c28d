#!/usr/bin/env bash
# A separate project built against memsnap installed into a temporary tree (meson install --destdir), not
# against the build tree: pkg-config (meson) or find_package (cmake), a benchmark with <memsnap/bench.h>, a
# test with <memsnap.h>, and a leaking test that the one-line gate must fail, naming its file:line.
#   installed_project.sh meson|cmake BUILD_ROOT PROJECT_DIR
set -u
mode=$1 build=$2 project=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
if [ "$mode" = cmake ] && ! command -v cmake >/dev/null; then
  echo "SKIP: cmake is not installed" >&2
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The build tree's preload must not be what makes this work.
unset MEMSNAP_PRELOAD_LIB LD_PRELOAD MEMSNAP_OUTPUT

meson install -C "$build" --no-rebuild --destdir "$tmp/root" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "meson install --destdir failed"; }
bin=$(find "$tmp/root" -path '*/bin/memsnap' -type f)
pc=$(find "$tmp/root" -name memsnap-bench.pc)
[ -n "$bin" ] && [ -n "$pc" ] || fail "memsnap or memsnap-bench.pc not installed"
for f in include/memsnap.h include/memsnap/bench.h; do
  [ -f "$(dirname "$(dirname "$bin")")/$f" ] || fail "$f not installed"
done
prefix=$(dirname "$(dirname "$bin")")
libdir=$(dirname "$(dirname "$pc")")
# A user with a prefix outside the loader's paths sets these (docs/install.md).
export PATH="$prefix/bin:$PATH" LD_LIBRARY_PATH="$libdir"
export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp/root"
pkg-config --cflags --libs memsnap-bench >"$tmp/pc" 2>&1 || { cat "$tmp/pc" >&2; fail "pkg-config memsnap-bench"; }
grep -q -- "-lmemsnap-bench" "$tmp/pc" || fail "pkg-config --libs memsnap-bench: $(cat "$tmp/pc")"

cp -r "$project" "$tmp/src"
line=$(grep -n 'LEAK-LINE' "$tmp/src/leaky_test.c" | cut -d: -f1)
case $mode in
meson)
  meson setup "$tmp/b" "$tmp/src" >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log" >&2; fail "meson setup"; }
  meson compile -C "$tmp/b" >"$tmp/compile.log" 2>&1 || { cat "$tmp/compile.log" >&2; fail "meson compile"; }
  # Without the gate, every test passes (the leak is invisible).
  meson test -C "$tmp/b" >"$tmp/plain.log" 2>&1 || { cat "$tmp/plain.log" >&2; fail "plain meson test"; }
  if meson test -C "$tmp/b" --setup memsnap >"$tmp/gate.log" 2>&1; then
    cat "$tmp/gate.log" >&2
    fail "meson test --setup memsnap passed despite the leak"
  fi
  log="$tmp/b/meson-logs/testlog-memsnap.json"
  results=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    print(t["name"], t["result"], t["returncode"])' "$log")
  ;;
cmake)
  cmake -S "$tmp/src" -B "$tmp/b" -DCMAKE_PREFIX_PATH="$prefix" \
    "-DCMAKE_CROSSCOMPILING_EMULATOR=memsnap;run;--fail-on;leaks;--" >"$tmp/setup.log" 2>&1 ||
    { cat "$tmp/setup.log" >&2; fail "cmake configure (find_package(memsnap))"; }
  cmake --build "$tmp/b" >"$tmp/compile.log" 2>&1 || { cat "$tmp/compile.log" >&2; fail "cmake --build"; }
  (cd "$tmp/b" && ctest --output-on-failure) >"$tmp/gate.log" 2>&1 && fail "ctest passed despite the leak"
  results=$(sed -n 's/^ *[0-9]*\/[0-9]* Test *#[0-9]*: \([a-z]*\) [ .]*\**\([A-Za-z]*\).*/\1 \2/p' "$tmp/gate.log" |
    sed 's/ Passed$/ OK/; s/ Failed$/ FAIL/')
  ;;
esac
echo "$results"
grep -qx 'clean OK.*' <<<"$results" || { cat "$tmp/gate.log" >&2; fail "the clean test did not pass under the gate"; }
grep -qx 'bench OK.*' <<<"$results" || { cat "$tmp/gate.log" >&2; fail "the benchmark did not pass under the gate"; }
grep -qx 'leaky FAIL.*' <<<"$results" || { cat "$tmp/gate.log" >&2; fail "the leaky test did not fail under the gate"; }
[ "$mode" = cmake ] || grep -qx 'leaky FAIL 23' <<<"$results" || fail "the gate's exit status is not 23: $results"
report=$([ "$mode" = meson ] && cat "$tmp/b/meson-logs/testlog-memsnap.txt" || cat "$tmp/gate.log")
grep -q "make_buffer at .*leaky_test.c:$line" <<<"$report" ||
  { echo "$report" >&2; fail "the gate's report does not name leaky_test.c:$line"; }
echo "ok: $mode project against the installed tree; the leak reported at leaky_test.c:$line"
