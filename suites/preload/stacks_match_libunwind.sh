#!/usr/bin/env bash
# The default unwinder, with everything that lets it skip work (memo, kept walks, stack ids returned
# without frames), charges every allocation of a real program to the same stack as unw_backtrace on every
# allocation does: the two runs' symbolized stacks and allocation counts must be identical. TAP output, one
# line per program; a missing program is a SKIP.
#   stacks_match_libunwind.sh MEMSNAP_CLI      (MEMSNAP_PRELOAD_LIB in the environment)
set -u
cli=$(realpath "$1")
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || [ ! -r "$lib" ]; then
  echo "MEMSNAP_PRELOAD_LIB not set or unreadable: preload not built" >&2
  exit 77
fi
unset LD_PRELOAD MEMSNAP_OUTPUT MEMSNAP_AT_EXIT MEMSNAP_INTERVAL MEMSNAP_SAMPLE
# Hash seeds fixed: both runs must allocate alike.
export MALLOC_PERTURB_=0 PYTHONHASHSEED=0 PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 MEMSNAP_FOLLOW=0
work=$(mktemp -d /tmp/memsnap-stacks-XXXXXX)
trap 'rm -rf "$work"' EXIT
seq 1 50000 | awk '{ print ($1 * 7919) % 50021 }' >"$work/in.txt"
cat >"$work/t.py" <<'PY'
import json
d = {str(i): [i, str(i) * 3, {"k": i}] for i in range(5000)}
s = json.dumps(d, sort_keys=True)
print(len(json.loads(s)))
PY

# Address layout fixed too where the system allows it: programs that hash objects by address (python's
# sets of objects) otherwise allocate differently from run to run.
norand=()
if setarch "$(uname -m)" -R true 2>/dev/null; then
  norand=(setarch "$(uname -m)" -R)
fi

n=0
failed=0
check() { # name, program and arguments
  local name=$1
  shift
  n=$((n + 1))
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "ok $n - $name # SKIP $1 not installed"
    return
  fi
  local m
  for m in dwarf libunwind; do
    if ! (cd "$work" && "${norand[@]}" env MEMSNAP_UNWIND=$m MEMSNAP_OUTPUT="$work/$name-$m.snap" LD_PRELOAD="$lib" \
      "$@" >/dev/null 2>"$work/$name-$m.err"); then
      echo "not ok $n - $name: failed under MEMSNAP_UNWIND=$m: $(head -c 300 "$work/$name-$m.err")"
      failed=1
      return
    fi
    "$cli" export "$work/$name-$m.snap" --format collapsed --allocated --count 2>>"$work/$name-$m.err" |
      sort >"$work/$name-$m.txt"
  done
  local stacks
  stacks=$(wc -l <"$work/$name-dwarf.txt")
  if [ "$stacks" -lt 10 ]; then
    echo "not ok $n - $name: only $stacks stacks exported"
    failed=1
  elif ! diff -u "$work/$name-libunwind.txt" "$work/$name-dwarf.txt" >"$work/$name.diff"; then
    echo "not ok $n - $name: dwarf and libunwind stacks differ ($(grep -c '^[-+][^-+]' "$work/$name.diff") lines)"
    head -20 "$work/$name.diff" | sed 's/^/# /'
    failed=1
  else
    echo "ok $n - $name: $stacks stacks, the same counts"
  fi
}

check sort sort -n in.txt
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3 # not a wrapper script that execs it
check python3 "$python" t.py
check gcc gcc -E -x c /dev/null
check perl perl -e 'my %h; $h{$_} = [$_ x 3] for 1 .. 20000; print scalar(keys %h), "\n"'
echo "1..$n"
exit $failed
