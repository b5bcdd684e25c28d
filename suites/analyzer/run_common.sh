# Sourced by the `memsnap run` and preload exit-status tests: skips (77) without libmemsnap.so, makes $tmp
# (removed at exit), and `expect STATUS DESCRIPTION COMMAND...` (stdout in $tmp/out, stderr in $tmp/err;
# a mismatch sets fail=1).
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || [ ! -f "$lib" ]; then
  echo "skip: libmemsnap.so not built here (MEMSNAP_PRELOAD_LIB='$lib')" >&2
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() {
  local want=$1 what=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL: $what: exit $rc, wanted $want" >&2
    cat "$tmp/err" >&2
    fail=1
  fi
}
