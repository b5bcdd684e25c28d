# Sourced by the tests that run fixture programs under libmemsnap.so and read them with memsnap: skips (77)
# without libmemsnap.so; sets lib, py (python3), memsnap ($MEMSNAP_BIN), fxdir ($MEMSNAP_FIXTURES) and
# tmp (removed at exit).
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || [ ! -f "$lib" ]; then
  echo "skip: libmemsnap.so not built here (MEMSNAP_PRELOAD_LIB='$lib')" >&2
  exit 77
fi
py=/usr/bin/python3
[ -x "$py" ] || py=python3
memsnap=$MEMSNAP_BIN
fxdir=$MEMSNAP_FIXTURES
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
