#!/usr/bin/env bash
# The cached CFI walk gives unw_backtrace's stacks inside programs no one here wrote: each runs with
# unwind_compare.so preloaded, which captures both ways on every malloc and reports the differences.
#   unwind_real_programs.sh PATH/TO/unwind_compare.so
set -u
shim=$1
[ -f "$shim" ] || { echo "unwind_real_programs.sh: $shim: no such file" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

ran=0 failed=0
check() { # name command...
    local name=$1; shift
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "# $name: $1 not installed, left out"
        return
    fi
    rm -f report
    if ! UNWIND_COMPARE_REPORT=$work/report LD_PRELOAD=$shim "$@" >out 2>err; then
        echo "not ok - $name exited with an error:"; sed 's/^/#   /' err | tail -5
        failed=$((failed + 1)); return
    fi
    ran=$((ran + 1))
    # Every process of the command (children too) appended its line.
    read -r captures mismatches fallbacks kept < <(awk '{c+=$2; m+=$4; f+=$6; k+=$8} END {print c+0, m+0, f+0, k+0}' report 2>/dev/null)
    if [ "${captures:-0}" -eq 0 ]; then
        echo "not ok - $name: no capture was made (the shim did not run)"; failed=$((failed + 1))
    elif [ "$mismatches" -ne 0 ]; then
        echo "not ok - $name: $mismatches of $captures stacks differ from unw_backtrace"; failed=$((failed + 1))
    elif [ "$kept" -eq 0 ]; then
        echo "not ok - $name: no capture was answered by a kept walk (the hooks' path went untested)"; failed=$((failed + 1))
    else
        echo "ok - $name: $captures stacks equal to unw_backtrace, $kept of them kept walks ($fallbacks needed libunwind)"
    fi
}

printf 'int main(void) { return 0; }\n' > prog.c
# A compiler's recursive descent: the same functions called at the same depth from different places.
cat > tmpl.cpp <<'EOF'
#include <map>
#include <string>
#include <vector>
template <int N> struct Node {
    std::map<std::string, std::vector<int>> m;
    int get() { return Node<N - 1>().get() + static_cast<int>(m.size()) + N; }
};
template <> struct Node<0> { int get() { return 0; } };
int use() { return Node<12>().get(); }
EOF
seq 1 100000 > numbers
check python3 python3 -c 'import json; print(len(json.dumps([{"a": i} for i in range(50000)])))'
check perl perl -e 'my %h; $h{$_} = $_ for 1 .. 50000; print scalar(keys %h), "\n"'
check gcc gcc -O2 -c prog.c -o prog.o
check g++ g++ -std=c++17 -O1 -c tmpl.cpp -o tmpl.o
check sort sort --parallel=2 -S 1M -R numbers
check xz xz -T2 -c numbers
check git git init -q repo
check shell-pipeline bash -c 'for i in 1 2 3; do seq 1 1000 | sort -r | head -1; done'

if [ $ran -eq 0 ] && [ $failed -eq 0 ]; then
    echo "none of the programs is installed" >&2; exit 77
fi
[ $failed -eq 0 ]
