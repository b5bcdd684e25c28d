# bash completion for memsnap: subcommands, each one's options, snapshot files.
_memsnap()
{
    local cur prev cmd
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    cmd=${COMP_WORDS[1]}
    local sym="--sysroot --debug-dir --full-names" filt="--include --exclude --all-frames" out="--format --bytes"
    local opts
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "run top diff leaks growth lines export flamegraph plot report dump bench --help --version" -- "$cur"))
        return
    fi
    case $prev in
    --format)
        case $cmd in
        export) COMPREPLY=($(compgen -W "collapsed pprof json massif" -- "$cur")) ;;
        *) COMPREPLY=($(compgen -W "text json" -- "$cur")) ;;
        esac
        return ;;
    --by) COMPREPLY=($(compgen -W "line function file stack" -- "$cur")); return ;;
    --unwind) COMPREPLY=($(compgen -W "dwarf fp libunwind" -- "$cur")); return ;;
    --fail-on) COMPREPLY=($(compgen -W "leaks growth leaks,growth" -- "$cur")); return ;;
    --sysroot|--debug-dir|--source-dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    -o|--output|--suppressions|--budgets|--file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    case $cmd in
    run)
        local w
        for w in "${COMP_WORDS[@]:2:COMP_CWORD-2}"; do
            if [ "$w" = -- ]; then
                COMPREPLY=($(compgen -c -- "$cur"))
                return
            fi
        done
        opts="--output --interval --depth --unwind --no-follow --fail-on --max-live --max-peak --suppressions --fail-exitcode --help --version --" ;;
    top) opts="--by -n --cumulative --stack $filt $sym $out" ;;
    diff) opts="--by -n --cumulative --stack --fail-over --fail-site-over $filt $sym $out" ;;
    leaks) opts="--show-reachable --suppressions --no-default-suppressions --fail -n $filt $sym $out" ;;
    growth) opts="--by -n --cumulative --stack --fail --include-exit $filt $sym $out" ;;
    lines) opts="--file --function --source-dir $sym $out" ;;
    export) opts="--format -o --live --allocated --bytes --count $filt $sym" ;;
    flamegraph) opts="-o --allocated --count --title --bytes $filt $sym" ;;
    plot) opts="-o -n --by --allocated --title --bytes $filt $sym" ;;
    report) opts="-o --title --bytes $filt --sysroot --debug-dir" ;;
    dump) opts="$out" ;;
    bench)
        if [ "$COMP_CWORD" -eq 2 ]; then
            COMPREPLY=($(compgen -W "compare ab report show --help --version" -- "$cur"))
            return
        fi
        opts="--fail --alpha --budgets -o --help" ;;
    *) return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts --help --version" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -F _memsnap memsnap
