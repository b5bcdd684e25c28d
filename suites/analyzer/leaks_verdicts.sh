#!/usr/bin/env bash
# Leak kinds where a scan can go wrong (fixtures/fx_verdicts.c): each case's planted block gets the kind
# memcheck and LeakSanitizer give it. Prints a table of memsnap's kind and, when valgrind is installed,
# memcheck's for the same block (run under valgrind here). Cases named in MEMSNAP_VERDICTS_INFO_ONLY are
# printed but not asserted.
# Environment: MEMSNAP_BIN, MEMSNAP_FIXTURES, MEMSNAP_PRELOAD_LIB (without it: skipped).
set -u
. "$(dirname "$0")/fixture_common.sh"
fx=$fxdir/fx_verdicts
mod=$fxdir/fx_tlsmod.so
info_only=" ${MEMSNAP_VERDICTS_INFO_ONLY:-} "
vg=$(command -v valgrind || true)
status=0
# case size expected [suppression]
cases=(
  "dead-atexit 4000 definitely_lost"
  "dead-below-exit 4100 definitely_lost"
  "dead-handler-frame 4300 definitely_lost"
  "main-tls 4200 still_reachable"
  "dlopen-tls 1048576 still_reachable"
  "running-thread 4400 still_reachable"
  "running-register 4700 still_reachable"
  "suppressed-parent 4500 definitely_lost"
  "suppressed-parent 4600 indirectly_lost"
  "suppressed-parent 4600 suppressed leak:supp_parent"
  "suppressed-parent 4500 suppressed leak:supp_parent"
  "suppressed-parent 4500 definitely_lost leak:supp_child"
)
printf '| case | block | expected | memsnap | memcheck |\n|---|---|---|---|---|\n'
for c in "${cases[@]}"; do
  set -- $c
  name=$1 size=$2 want=$3 supp=${4:-}
  args=("$name")
  [ "$name" = dlopen-tls ] && args+=("$mod")
  rm -f "$tmp"/*.snap
  MEMSNAP_OUTPUT="$tmp/$name.%p.snap" LD_PRELOAD="$lib" "$fx" "${args[@]}" >/dev/null 2>&1
  snap=$(ls "$tmp"/*.snap 2>/dev/null | head -1)
  if [ -z "$snap" ]; then
    echo "FAIL: $name: no snapshot"; status=1; continue
  fi
  sargs=(--no-default-suppressions)
  if [ -n "$supp" ]; then printf '%s\n' "$supp" >"$tmp/supp"; sargs+=(--suppressions "$tmp/supp"); fi
  "$memsnap" leaks "$snap" --show-reachable --format json "${sargs[@]}" >"$tmp/l.json" 2>/dev/null
  got=$("$py" -c '
import json, sys
d = json.load(open(sys.argv[1])); size = int(sys.argv[2])
kinds = [e["kind"] for e in d["leaks"] if e["size"] == size and e["count"] == 1]
print(kinds[0] if kinds else "suppressed" if len(sys.argv) > 3 else "none")' "$tmp/l.json" "$size" $supp)
  mc=-
  if [ -n "$vg" ] && [ -z "$supp" ]; then
    "$vg" --leak-check=full --show-leak-kinds=all --log-file="$tmp/vg.txt" "$fx" "${args[@]}" >/dev/null 2>&1
    commas=$(echo "$size" | sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta')
    mc=$(grep -E " ($commas|[0-9,]+ \($commas direct, [0-9,]+ indirect\)) bytes in 1 blocks are " "$tmp/vg.txt" | head -1 |
         sed -E 's/.* are (definitely lost|indirectly lost|possibly lost|still reachable).*/\1/; s/ /_/')
    [ -n "$mc" ] || mc="none"
  fi
  printf '| %s | %s B | %s | %s | %s |\n' "$name${supp:+ ($supp)}" "$size" "$want" "$got" "$mc"
  if [ "$got" != "$want" ] && [[ "$info_only" != *" $name "* ]]; then
    echo "FAIL: $name: the $size B block is $got, expected $want"; status=1
  fi
done
exit $status
