#!/usr/bin/env bash
# The profiler's own cost per allocation stays flat as the live heap grows from 1e3 to 1e6 blocks.
#   profiler_cost.sh HEAP_CHURN_EXE
# Cost = (ns per malloc/free pair under libmemsnap) - (ns per pair plain), measured at each heap size,
# plain and profiled interleaved, best of 3 runs each (the machine is noisy; the minimum is the least
# disturbed). Flat: the cost at every size is at most 2x the cost at 1e3 blocks, plus 25 ns of noise slack.
# TAP.
set -u
churn=${1:?usage: profiler_cost.sh HEAP_CHURN_EXE}
lib=${MEMSNAP_PRELOAD_LIB:-}
if [ -z "$lib" ] || ! [ -f "$lib" ]; then
  echo "skip: needs MEMSNAP_PRELOAD_LIB (the build has no libmemsnap.so)" >&2
  exit 77
fi
pairs=500000 reps=5 runs=3
declare -A plain profiled
best() { sort -g | head -1; }
for live in 1000 10000 100000 1000000; do
  p=() q=()
  for ((r = 0; r < runs; r++)); do
    p+=("$("$churn" "$live" "$pairs" "$reps" | awk '{print $2}')")
    q+=("$(MEMSNAP_AT_EXIT=0 LD_PRELOAD="$lib" "$churn" "$live" "$pairs" "$reps" | awk '{print $2}')")
  done
  plain[$live]=$(printf '%s\n' "${p[@]}" | best)
  profiled[$live]=$(printf '%s\n' "${q[@]}" | best)
  echo "# live $live: plain ${plain[$live]} ns/pair, profiled ${profiled[$live]} ns/pair"
done
base=$(awk -v a="${profiled[1000]}" -v b="${plain[1000]}" 'BEGIN { printf "%.2f", a - b }')
n=0 fails=0
for live in 10000 100000 1000000; do
  n=$((n + 1))
  cost=$(awk -v a="${profiled[$live]}" -v b="${plain[$live]}" 'BEGIN { printf "%.2f", a - b }')
  if awk -v c="$cost" -v b="$base" 'BEGIN { exit !(c <= 2 * b + 25) }'; then
    echo "ok $n - profiler cost at $live live blocks ($cost ns) is flat against 1000 blocks ($base ns)"
  else
    echo "not ok $n - profiler cost at $live live blocks ($cost ns) exceeds 2x the cost at 1000 blocks ($base ns) + 25 ns"
    fails=$((fails + 1))
  fi
done
echo "1..$n"
exit $((fails > 0))
