#!/usr/bin/env bash
# `memsnap lines` reads the source files a binary's DWARF names, which whoever built the binary chose:
# a FIFO must not hang it, a device must not be read (/dev/zero ate 1 GB), a /proc file must not be
# printed, and with --source-dir nothing outside that directory is read.
set -u
memsnap=$1
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || [ ! -f "$lib" ]; then
  echo "skip: libmemsnap.so not built here" >&2
  exit 77
fi
command -v cc >/dev/null || { echo "skip: no C compiler to build the program" >&2; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
mkdir "$tmp/src" "$tmp/elsewhere"
cat >"$tmp/src/p.c" <<'SRC'
#include <stdlib.h>
void *keep[4];
__attribute__((noinline)) void grow(void)
{
    for (int i = 0; i < 4; i++)
        keep[i] = malloc(100 + i);
}
int main(void)
{
    grow();
    return 0;
}
SRC
cp "$tmp/src/p.c" "$tmp/p.c.orig"
cc -g -O0 -fno-builtin -o "$tmp/p" "$tmp/src/p.c" || exit 1
MEMSNAP_OUTPUT="$tmp/p.snap" LD_PRELOAD="$lib" "$tmp/p" || exit 1
lines() { # expected-source-found: runs memsnap lines with a 1 GB address-space limit and a timeout
  local want=$1
  shift
  (ulimit -v 1000000; MS_SECRET_MARKER=s3cr3t timeout 20 "$memsnap" lines "$tmp/p.snap" --function grow \
    --format json "$@") >"$tmp/out" 2>"$tmp/err" </dev/null
  local rc=$?
  if [ "$rc" != 0 ]; then
    echo "FAIL: lines $* ($(ls -l "$tmp/src/p.c")) -> exit $rc:" >&2
    cat "$tmp/err" >&2
    fail=1
  elif ! grep -q "\"source_found\": $want" "$tmp/out" || grep -q s3cr3t "$tmp/out"; then
    echo "FAIL: lines $* ($(ls -l "$tmp/src/p.c")): wanted source_found $want:" >&2
    cat "$tmp/out" >&2
    fail=1
  fi
}
lines true
lines false --source-dir "$tmp/elsewhere" # the file exists, but outside the given directory
cp "$tmp/p.c.orig" "$tmp/elsewhere/p.c"
lines true --source-dir "$tmp/elsewhere"
rm "$tmp/src/p.c"
mkfifo "$tmp/src/p.c"
lines false
rm "$tmp/src/p.c"
ln -s /dev/zero "$tmp/src/p.c"
lines false
rm "$tmp/src/p.c"
ln -s /proc/self/environ "$tmp/src/p.c"
lines false
exit $fail
