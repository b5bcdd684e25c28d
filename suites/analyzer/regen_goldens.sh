#!/usr/bin/env bash
# Rewrites suites/analyzer/golden/*.txt from a build directory: regen_goldens.sh [BUILD_DIR]
# Review the diff (git diff suites/analyzer/golden) before committing: a golden file is a claim.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
ninja -C "$build" analyzer/memsnap suites/analyzer/fx_leak suites/analyzer/fx_cache suites/analyzer/fx_lines \
  preload/libmemsnap.so >/dev/null
for c in $(sed -n 's/^  \([a-z-]*\))$/\1/p' "$root/suites/analyzer/golden.sh"); do
  MEMSNAP_REGEN=1 MEMSNAP_BIN="$build/analyzer/memsnap" MEMSNAP_FIXTURES="$build/suites/analyzer" \
    MEMSNAP_SOURCE_ROOT="$root" MEMSNAP_BUILD_ROOT="$build" MEMSNAP_PRELOAD_LIB="$build/preload/libmemsnap.so" \
    bash "$root/suites/analyzer/golden.sh" "$c"
done
