#!/usr/bin/env bash
# A process killed while it writes its at-exit snapshot leaves no file behind: Python's
# multiprocessing.Pool workers leave through os._exit, and terminate() sends them SIGTERM while they
# write. Every file in the output directory must be a complete snapshot (snapcheck), none a .tmp.
#   killed_writer.sh SNAPCHECK        (MEMSNAP_PRELOAD_LIB in the environment)
set -u
snapcheck=$(realpath "$1")
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || [ ! -r "$lib" ]; then
  echo "MEMSNAP_PRELOAD_LIB not set or unreadable: preload not built" >&2
  exit 77
fi
command -v python3 >/dev/null || { echo "python3 not installed" >&2; exit 77; }
unset LD_PRELOAD MEMSNAP_OUTPUT MEMSNAP_AT_EXIT MEMSNAP_INTERVAL MEMSNAP_FOLLOW
work=$(mktemp -d /tmp/memsnap-killed-XXXXXX)
trap 'rm -rf "$work"' EXIT
cat >"$work/pool.py" <<'PY'
import multiprocessing as mp
def work(i):
    return sum(len(str(j) * 10) for j in range(2000 + i))
if __name__ == "__main__":
    for _ in range(2):
        p = mp.Pool(4)
        print(sum(p.map(work, range(16))))
        p.terminate()
        p.join()
PY
failed=0
for run in 1 2; do
  out="$work/run$run"
  mkdir "$out"
  if ! LD_PRELOAD="$lib" MEMSNAP_OUTPUT="$out/py.%p.%n.snap" python3 "$work/pool.py" >"$work/stdout" 2>"$work/stderr"; then
    echo "run $run: python3 failed: $(tail -n 3 "$work/stderr")"
    failed=1
  fi
  for f in "$out"/*; do
    [ -e "$f" ] || continue
    case $f in
      *.tmp*) echo "run $run: left $(basename "$f") ($(stat -c %s "$f") bytes)"; failed=1 ;;
      *) "$snapcheck" "$f" >/dev/null || { echo "run $run: $(basename "$f") is not a complete snapshot"; failed=1; } ;;
    esac
  done
  [ -n "$(ls "$out")" ] || { echo "run $run: no snapshot at all"; failed=1; }
done
exit $failed
