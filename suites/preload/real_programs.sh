#!/usr/bin/env bash
# Programs nobody here wrote run unchanged under the preload: same stdout, same exit status, and valid
# snapshots. TAP output, one line per program; a missing program is a SKIP.
#   real_programs.sh SNAPCHECK [MEMSNAP_CLI]     (MEMSNAP_PRELOAD_LIB in the environment)
set -u
snapcheck=$(realpath "$1")
cli=${2:+$(realpath "$2")}
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || [ ! -r "$lib" ]; then
  echo "MEMSNAP_PRELOAD_LIB not set or unreadable: preload not built" >&2
  exit 77
fi
unset LD_PRELOAD MEMSNAP_OUTPUT MEMSNAP_AT_EXIT MEMSNAP_INTERVAL MEMSNAP_FOLLOW
export MALLOC_PERTURB_=0
work=$(mktemp -d /tmp/memsnap-real-XXXXXX)
trap 'rm -rf "$work"' EXIT
n=0
failed=0

# Deterministic inputs.
seq 1 400000 | awk '{ print ($1 * 7919) % 400009 " line " $1 }' >"$work/big.txt"
cat >"$work/hello.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
struct node { struct node *next; int v; };
int main(void) {
    struct node *h = NULL;
    for (int i = 0; i < 100; i++) { struct node *n = malloc(sizeof *n); n->v = i; n->next = h; h = n; }
    int s = 0; for (struct node *p = h; p; p = p->next) s += p->v;
    printf("%d\n", s);
    return 0;
}
C
cat >"$work/hello.cc" <<'CC'
#include <map>
#include <string>
#include <iostream>
int main() {
    std::map<std::string, int> m;
    for (int i = 0; i < 1000; i++) m[std::to_string(i)] = i;
    std::cout << m.size() << std::endl;
}
CC
cat >"$work/script.py" <<'PY'
import json, collections
d = collections.Counter(str(i % 97) for i in range(20000))
print(json.dumps(sorted(d.items())[:5]), sum(d.values()))
PY

# run NAME REQUIRED_PROGRAM -- COMMAND...   (in $work/run-NAME, same command plain and profiled)
run() {
  local name=$1 need=$2
  shift 3
  n=$((n + 1))
  if ! command -v "$need" >/dev/null 2>&1; then
    echo "ok $n - $name # SKIP $need not installed"
    return
  fi
  local dir=$work/run-$name snaps=$work/snaps-$name
  mkdir -p "$dir" "$snaps"
  (cd "$dir" && "$@" >"$work/$name.plain" 2>/dev/null)
  local plain=$?
  local profiled
  if [ -n "$cli" ]; then
    (cd "$dir" && MEMSNAP_PRELOAD_LIB=$lib "$cli" run --output "$snaps/%e.%p.%n.snap" -- "$@" >"$work/$name.prof" 2>"$work/$name.err")
    profiled=$?
  else
    (cd "$dir" && LD_PRELOAD=$lib MEMSNAP_OUTPUT="$snaps/%e.%p.%n.snap" "$@" >"$work/$name.prof" 2>"$work/$name.err")
    profiled=$?
  fi
  local why=""
  if [ "$plain" != "$profiled" ]; then
    why="exit status $plain plain, $profiled profiled"
  elif ! cmp -s "$work/$name.plain" "$work/$name.prof"; then
    why="stdout differs: $(diff "$work/$name.plain" "$work/$name.prof" | head -3 | tr '\n' ' ')"
  else
    local files=("$snaps"/*.snap)
    if [ ! -e "${files[0]}" ]; then
      why="no snapshot written"
    elif ! "$snapcheck" "${files[@]}" 2>"$work/$name.check"; then
      why="invalid snapshot: $(head -1 "$work/$name.check")"
    elif [ -n "$cli" ] && ! "$cli" dump "${files[0]}" >/dev/null 2>"$work/$name.check"; then
      why="memsnap dump rejects ${files[0]}: $(head -1 "$work/$name.check")"
    fi
  fi
  if [ -z "$why" ]; then
    echo "ok $n - $name (exit $plain, ${#files[@]} snapshot(s))"
  else
    echo "not ok $n - $name: $why"
    sed 's/^/# /' "$work/$name.err" | head -5
    failed=1
  fi
}

echo "1..9"
run python3 /usr/bin/python3 -- /usr/bin/python3 "$work/script.py"
run perl perl -- perl -e 'my %h; $h{$_} = $_ * 2 for 1 .. 20000; my @k = sort { $a <=> $b } keys %h; print scalar(@k), " $k[-1]\n"'
if command -v git >/dev/null 2>&1; then
  repo=$work/repo
  git init -q "$repo" && (cd "$repo" && printf 'a\nb\n' >f.txt && git add f.txt &&
    git -c user.name=t -c user.email=t@example.com commit -q -m first && printf 'c\n' >>f.txt && echo new >g.txt)
fi
run git-status git -- git -C "$work/repo" status --short
run git-log git -- git -C "$work/repo" log --format=%s%n%an
run gcc gcc -- sh -c "gcc -O1 -c '$work/hello.c' -o hello.o && od -An -tx1 hello.o | md5sum"
run g++ g++ -- sh -c "g++ -O1 -c '$work/hello.cc' -o hello.o && od -An -tx1 hello.o | md5sum"
run sort sort -- sort --parallel=2 -S 4M -n "$work/big.txt"
run xz xz -- sh -c "xz -T2 --block-size=1MiB -c '$work/big.txt' | md5sum"
run pipeline sh -- sh -c "for i in 1 2 3; do echo \$i | tr 1 x; done | sort | uniq -c; (echo sub; exit 3); echo \$?"
exit $failed
