#!/usr/bin/env bash
# Exiting from a signal handler that interrupted malloc/free never hangs the process (20 tries, each with
# a 10 s limit); the exit status is the program's own.   exit_in_hook.sh FIXTURE
set -u
fixture=$(realpath "$1")
lib=${MEMSNAP_PRELOAD_LIB:-}
[ -r "$lib" ] || { echo "MEMSNAP_PRELOAD_LIB not set: preload not built" >&2; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 2
echo "1..20"
failed=0
for i in $(seq 1 20); do
  LD_PRELOAD=$lib MEMSNAP_SIGNAL=0 timeout 10 "$fixture" 2>/dev/null
  rc=$?
  if [ $rc -eq 3 ]; then
    echo "ok $i - exited 3 from the handler"
  else
    echo "not ok $i - status $rc (124: hung)"
    failed=1
  fi
done
exit $failed
