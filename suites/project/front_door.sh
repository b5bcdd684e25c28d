#!/usr/bin/env bash
# The front door: --version and --help on memsnap, every subcommand (bench's too), dataproc and the
# scripts (--help runs nothing); the man pages render without a warning; bash completion offers every
# subcommand and every option each command's --help names. TAP.
#   front_door.sh MEMSNAP DATAPROC SOURCE_ROOT MAN_DIR BENCH_PROGRAM
set -u
memsnap=$1 dataproc=$2 root=$3 mandir=$4 bench=$5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
check() { # DESCRIPTION COMMAND... : ok when the command succeeds
  local what=$1
  shift
  n=$((n + 1))
  if out=$("$@" 2>&1); then
    echo "ok $n - $what"
  else
    echo "not ok $n - $what"
    printf '%s\n' "$out" | head -20 | sed 's/^/# /'
    failed=1
  fi
}
commands=(run top diff leaks growth lines export flamegraph plot report dump)
version_re='^memsnap [0-9]+\.[0-9]+\.[0-9]+( \(git [^)]+\))?$'

check "memsnap --version" bash -c "\"$memsnap\" --version | grep -Ex '$version_re'"
for c in "${commands[@]}"; do
  check "memsnap $c --help" bash -c "\"$memsnap\" $c --help | grep -q '^usage: memsnap $c'"
  check "memsnap $c --version" bash -c "\"$memsnap\" $c --version | grep -Ex '$version_re'"
done
for c in compare ab report show; do
  check "memsnap bench $c --help" bash -c "\"$memsnap\" bench $c --help | grep -q 'usage: memsnap bench $c'"
  check "memsnap bench $c --version" bash -c "\"$memsnap\" bench $c --version | grep -Ex '$version_re'"
done
check "memsnap --help points at the man page, not a source file" \
  bash -c "\"$memsnap\" --help | grep -q 'man memsnap'"
check "a benchmark program's --version" bash -c "\"$bench\" --version | grep -Eq '\(memsnap-bench [0-9]+\.[0-9]+\.[0-9]+\)$'"
check "dataproc --version" bash -c "\"$dataproc\" --version | grep -Eq '^dataproc \(memsnap\) [0-9]+\.[0-9]+\.[0-9]+'"
for s in demo test setup aa-experiment; do
  check "scripts/$s --help prints its usage and runs nothing" bash -c "
    out=\$(MEMSNAP_BUILD='$tmp/b-$s' '$root/scripts/$s' --help) && [ -n \"\$out\" ] && [ ! -e '$tmp/b-$s' ]"
done
for s in durations bench-preload; do
  check "scripts/$s --help" bash -c "'$root/scripts/$s' --help | grep -q usage"
done

for page in memsnap.1 memsnap.3 memsnap-bench.3; do
  check "man page $page renders without warnings" bash -c "
    err=\$(groff -man -Tutf8 -ww -z '$mandir/$page' 2>&1) && [ -z \"\$err\" ] &&
    { ! command -v man >/dev/null || MANWIDTH=80 man -l '$mandir/$page' 2>/dev/null | grep -q '^NAME'; }"
done
for c in "${commands[@]}"; do
  check "memsnap(1) describes $c" grep -q "^\.B $c\b" "$mandir/memsnap.1"
done

# Completion: the words bash would offer after "memsnap <words> <cur>".
export MEMSNAP_COMPLETION=$root/docs/memsnap-completion.bash
complete_words() {
  bash -c '
    source "$1"; shift
    COMP_WORDS=(memsnap "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    _memsnap; printf "%s\n" "${COMPREPLY[@]}"' _ "$MEMSNAP_COMPLETION" "$@"
}
check "completion offers every command" bash -c "
  got=\$($(declare -f complete_words); complete_words '')
  for c in ${commands[*]} bench; do grep -qx \"\$c\" <<<\"\$got\" || { echo \"missing \$c\"; exit 1; }; done"
for c in "${commands[@]}"; do
  check "completion offers every option of memsnap $c --help" bash -c "
    got=\$($(declare -f complete_words); complete_words $c -)
    for o in \$('$memsnap' $c --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
      grep -qx -- \"\$o\" <<<\"\$got\" || { echo \"missing \$o\"; exit 1; }
    done"
done
echo "1..$n"
exit $failed
