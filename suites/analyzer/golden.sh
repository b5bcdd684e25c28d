#!/usr/bin/env bash
# golden.sh CASE: run a fixture under libmemsnap.so (snapshots taken in the test), run memsnap on the
# snapshots and compare the output with golden/CASE.txt after normalising paths and addresses.
# MEMSNAP_REGEN=1 rewrites the golden file instead (scripts: suites/analyzer/regen_goldens.sh).
# Environment: MEMSNAP_BIN (memsnap), MEMSNAP_FIXTURES (built fixtures), MEMSNAP_SOURCE_ROOT,
# MEMSNAP_BUILD_ROOT, MEMSNAP_PRELOAD_LIB (libmemsnap.so; without it the test is skipped).
set -u
case_name=$1
src=$(cd "$MEMSNAP_SOURCE_ROOT" && pwd -P)
build=$(cd "$MEMSNAP_BUILD_ROOT" && pwd -P)
golden="$src/suites/analyzer/golden/$case_name.txt"
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || [ ! -f "$lib" ]; then
  echo "skip: libmemsnap.so not built here (MEMSNAP_PRELOAD_LIB='$lib')" >&2
  exit 77
fi
memsnap=$MEMSNAP_BIN
fx=$MEMSNAP_FIXTURES
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export MALLOC_PERTURB_=0

profile() { # run a fixture under the preload; snapshots at exit go to $tmp/NAME.%n.snap
  local name=$1
  shift
  MEMSNAP_OUTPUT="$tmp/$name.%n.snap" LD_PRELOAD="$lib" "$@" >"$tmp/$name.stdout" || {
    echo "fixture failed: $*" >&2
    exit 1
  }
}

ms() { # memsnap ARGS, then its exit status as a line
  echo "\$ memsnap $*"
  "$memsnap" "$@" 2>&1
  echo "[exit $?]"
}

generate() {
  case $case_name in
  leaks-finds-the-planted-leak)
    profile leak "$fx/fx_leak" leak
    ms leaks "$tmp/leak.0.snap"
    ms leaks "$tmp/leak.0.snap" --fail --bytes
    ms leaks "$tmp/leak.0.snap" --show-reachable --no-default-suppressions --include '*fx_leak.c'
    ms top "$tmp/leak.0.snap" --include '*fx_leak.c' -n 3
    ms top "$tmp/leak.0.snap" --include '*fx_leak.c' --by function --cumulative --bytes -n 2
    printf 'leak:make_node\n' >"$tmp/supp.txt"
    ms leaks "$tmp/leak.0.snap" --suppressions "$tmp/supp.txt" --fail
    ;;
  leaks-reports-zero-for-a-clean-program)
    profile clean "$fx/fx_leak" clean
    ms leaks "$tmp/clean.0.snap" --fail
    ;;
  growth-flags-an-unbounded-cache)
    profile cache "$fx/fx_cache" unbounded "$tmp"
    ms growth "$tmp"/round-{0,1,2,3,4,5}.snap --include '*fx_cache.c'
    ms growth "$tmp"/round-{0,1,2,3,4,5}.snap --include '*fx_cache.c' --by line --fail
    # one process's snapshots are put in time order whatever the command line says
    ms growth "$tmp"/round-{5,3,1,0,2,4}.snap --include '*fx_cache.c' --by line --bytes
    ;;
  growth-calls-an-lru-cache-bounded)
    profile cache "$fx/fx_cache" lru "$tmp"
    ms growth "$tmp"/round-{0,1,2,3,4,5}.snap --include '*fx_cache.c' --fail
    ;;
  lines-shows-per-line-totals-of-a-loop)
    profile lines "$fx/fx_lines" "$tmp"
    ms lines "$tmp/after.snap" --function run_loop
    ms lines "$tmp/after.snap" --function run_loop --bytes --format json
    ;;
  diff-shows-what-the-loop-kept)
    profile lines "$fx/fx_lines" "$tmp"
    ms diff "$tmp/before.snap" "$tmp/after.snap" --include '*fx_lines.c'
    ms diff "$tmp/before.snap" "$tmp/after.snap" --include '*fx_lines.c' --by function --stack -n 1
    ms diff "$tmp/before.snap" "$tmp/after.snap" --include '*fx_lines.c' --fail-over 4KiB --fail-site-over 900
    ms diff "$tmp/before.snap" "$tmp/after.snap" --include '*fx_lines.c' --format json --bytes
    ;;
  diff-matches-sites-across-two-runs)
    # two processes, so two load addresses where ASLR is on: rows still pair up by symbolized frame
    profile clean "$fx/fx_leak" clean
    profile leak "$fx/fx_leak" leak
    ms diff "$tmp/clean.0.snap" "$tmp/leak.0.snap" --include '*fx_leak.c'
    ms diff "$tmp/clean.0.snap" "$tmp/leak.0.snap" --include '*fx_leak.c' --by stack --stack -n 1 --fail-site-over 100
    ;;
  *)
    echo "golden.sh: unknown case $case_name" >&2
    exit 2
    ;;
  esac
}

# Paths become $SRC/$BUILD/$TMP; module offsets vary with the build; frames outside the fixtures (the C
# library, whose names depend on installed debug info) are dropped; process totals include the C
# library's own allocations and are elided.
normalise() {
  sed -e "s|$tmp|\$TMP|g" -e "s|$build|\$BUILD|g" -e "s|$src|\$SRC|g" \
      -E -e 's/\+0x[0-9a-f]+/+0xADDR/g' \
         -e 's/^(Total: current=).*/\1.../' \
         -e 's/(suppressed: ).*/\1.../' -e 's/^[0-9]+ other: .*/N other: .../' |
    awk '/^ +#[0-9]+ / && !/\$SRC/ { next } { print }'
}

generate | normalise >"$tmp/actual.txt"
if [ "${MEMSNAP_REGEN:-0}" = 1 ]; then
  cp "$tmp/actual.txt" "$golden"
  echo "wrote $golden"
  exit 0
fi
if [ ! -f "$golden" ]; then
  echo "no golden file $golden (run suites/analyzer/regen_goldens.sh)" >&2
  cat "$tmp/actual.txt"
  exit 1
fi
diff -u "$golden" "$tmp/actual.txt"
