#!/usr/bin/env bash
# Every path the CLI opens, whether an argument or a name inside a snapshot, is refused unless it is a
# regular file: a FIFO must not hang the command and a device must not be read.
set -u
memsnap=$1 snapgen=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
mkfifo "$tmp/fifo"
"$snapgen" valid "$tmp/valid.snap" || exit 1
run() { # expected-status stderr-fragment command...
  local want=$1 frag=$2
  shift 2
  timeout 20 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local rc=$?
  if [ "$rc" = 124 ]; then
    echo "FAIL: $* hung (timeout)" >&2
    fail=1
  elif [ "$rc" != "$want" ] || ! grep -qF -- "$frag" "$tmp/err"; then
    echo "FAIL: $* -> exit $rc, wanted $want and '$frag':" >&2
    cat "$tmp/err" >&2
    fail=1
  fi
}
# Arguments.
run 2 "$tmp/fifo: cannot open: not a regular file" "$memsnap" top "$tmp/fifo"
run 2 "$tmp/fifo: cannot open: not a regular file" "$memsnap" dump "$tmp/fifo"
run 2 "/dev/zero: cannot open: not a regular file" "$memsnap" top /dev/zero
run 2 "$tmp/fifo: cannot open suppressions: not a regular file" "$memsnap" leaks --suppressions "$tmp/fifo" "$tmp/valid.snap"
printf '{"benchmarks": []}\n' >"$tmp/results.json"
run 2 "$tmp/fifo: not a regular file" "$memsnap" bench report "$tmp/results.json" --budgets "$tmp/fifo"
run 2 "$tmp/fifo: not a regular file" "$memsnap" bench report "$tmp/fifo"
# Module paths inside the snapshot (the sample names /nonexistent/app and /nonexistent/libx.so): a
# FIFO, and a link to a device, under --sysroot. They are not found: module+offset, exit 0.
mkdir -p "$tmp/root/nonexistent"
mkfifo "$tmp/root/nonexistent/app"
ln -s /dev/zero "$tmp/root/nonexistent/libx.so"
run 0 "not found" "$memsnap" top --sysroot "$tmp/root" "$tmp/valid.snap"
run 0 "not found" "$memsnap" leaks --sysroot "$tmp/root" "$tmp/valid.snap"
exit $fail
