#!/usr/bin/env bash
# Instructions per malloc/free pair under the preload, as callgrind counts them (deterministic), for each
# unwinder and workload in the data file, against the reference there: at most +2% (+5% when sampled).
#   instructions_per_pair.sh BENCH_PRELOAD LIBMEMSNAP DATA_FILE
# A figure is the count of a run of N2 pairs less that of a run of N1 pairs, over N2 - N1: start-up and
# exit cancel out. Every figure is printed: after a deliberate change, take the new references from there.
set -u
bench=$1 lib=$2 data=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "skip: no valgrind in PATH" >&2; exit 77; }
case ${MEMSNAP_SANITIZE:-none} in
  none | "") ;;
  *) echo "skip: valgrind cannot run a build with -Db_sanitize=$MEMSNAP_SANITIZE" >&2; exit 77 ;;
esac
[ "${MEMSNAP_CC:-gcc}" = gcc ] && [ "${MEMSNAP_OPTIMIZATION:-2}" = 2 ] ||
  { echo "skip: the references are gcc's at -O2, this build is ${MEMSNAP_CC:-?} at -O${MEMSNAP_OPTIMIZATION:-?}" >&2; exit 77; }
[ -r "$data" ] || fail "$data: cannot read the references"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# Instructions of one run: bench_preload WORKLOAD N under the preload. UNWINDER:RATE samples
# (MEMSNAP_SAMPLE=RATE); plain runs without the preload.
count() {
  local out=$dir/cg.out preload=$lib sample=
  case $1 in plain) preload= ;; *:*) sample=${1#*:} ;; esac
  LD_PRELOAD=$preload MEMSNAP_UNWIND=${1%%:*} MEMSNAP_SAMPLE=$sample MEMSNAP_AT_EXIT=0 \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" "$2" "$3" >/dev/null 2>"$dir/err" ||
    { cat "$dir/err" >&2; fail "callgrind on $bench $2 $3 (MEMSNAP_UNWIND=$1) failed"; }
  sed -n 's/^totals: *//p' "$out"
}

status=0 checked=0
while read -r unwinder workload reference; do
  case $unwinder in '' | '#'*) continue ;; esac
  [[ $reference =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "$data: reference of '$unwinder $workload' is not a number"
  case $workload in
    deep | recurse) n1=1000 n2=3000 ;;
    churn | sites | sites12) n1=5000 n2=15000 ;;
    *) fail "$data: unknown workload '$workload' (churn, deep, sites, sites12, recurse)" ;;
  esac
  # A sampled run's count depends on how many blocks its random draws pick: enough pairs to average that.
  case $unwinder in *:*) n1=$((n1 * 40)) n2=$((n2 * 40)) ;; esac
  a=$(count "$unwinder" "$workload" $n1) b=$(count "$unwinder" "$workload" $n2)
  [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] || fail "no instruction count from callgrind ($a, $b)"
  per=$(awk -v a="$a" -v b="$b" -v n=$((n2 - n1)) 'BEGIN { printf "%.1f", (b - a) / n }')
  # Sampled: which blocks are drawn changes from run to run (a few instructions per pair): +5%.
  slack=1.02
  case $unwinder in *:*) slack=1.05 ;; esac
  bound=$(awk -v r="$reference" -v k=$slack 'BEGIN { printf "%.1f", r * k }')
  checked=$((checked + 1))
  if awk -v p="$per" -v b="$bound" 'BEGIN { exit !(p > b) }'; then
    echo "$unwinder $workload: $per instructions per pair: OVER $bound (reference $reference x $slack)"
    status=1
  else
    echo "$unwinder $workload: $per instructions per pair (reference $reference, bound $bound)"
  fi
  eval "per_${unwinder//[^a-z0-9]/_}_$workload=$per"
done <"$data"
[ $checked -gt 0 ] || fail "$data: no reference listed"
# Sampling against running plain, the figure docs/preload.md gives.
if [ -n "${per_plain_churn:-}" ] && [ -n "${per_fp_512k_churn:-}" ]; then
  awk -v s="$per_fp_512k_churn" -v p="$per_plain_churn" 'BEGIN { printf "churn sampled 512k / plain: %.2fx\n", s / p }'
fi
exit $status
