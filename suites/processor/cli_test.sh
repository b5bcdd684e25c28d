#!/usr/bin/env bash
# dataproc's command line: output of `score`, exit statuses (0 ok, 1 processing, 2 usage/input) and the
# FILE:LINE messages for bad JSON Lines input.
# usage: cli_test.sh DATAPROC
set -u
dataproc=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
n=0

# expect STATUS PATTERN -- ARGS...: runs dataproc, checks the status and that stdout+stderr match PATTERN.
expect() {
    local want=$1 pattern=$2
    shift 3
    n=$((n + 1))
    "$dataproc" "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if [ "$got" -ne "$want" ] || ! cat "$tmp/out" "$tmp/err" | grep -qE -- "$pattern"; then
        echo "not ok $n - dataproc $* (status $got, want $want; want output matching: $pattern)"
        sed 's/^/# /' "$tmp/out" "$tmp/err"
        failures=$((failures + 1))
    else
        echo "ok $n - dataproc $*"
    fi
}

echo "1..32"
# The Python original's standard transaction: the reference vector's JSON, key and score.
expect 0 '^\{"canonical_json": "\{\\"amount\\": 100.0, \\"customer_id\\": \\"C123\\", \\"merchant\\": \\"Test Store\\"\}", "cache_key_md5": "fa4a849f02d4e2d27549c4a8647fdccf", "score": 0.004039330000000001\}$' \
    -- score --amount 100.0 --merchant 'Test Store' --customer-id C123
expect 0 '"score": 0.0039327\}$' -- score --amount 100 --merchant 'Test Store' --customer-id C123 --iterations 10
expect 0 'usage: dataproc' -- --help
expect 0 'exit status' -- batch --help
expect 2 'missing command' --
expect 2 "unknown command 'frobnicate'" -- frobnicate
expect 2 "score needs --amount" -- score --merchant M --customer-id C
expect 2 "--amount: 'abc' is not a number" -- score --amount abc --merchant M --customer-id C
expect 0 '"cache_key_md5"' -- score --amount 5e-324 --merchant M --customer-id C # subnormal: a valid float
expect 2 "--amount: '1e999' is not a number" -- score --amount 1e999 --merchant M --customer-id C
expect 2 "--merchant: not valid UTF-8" -- score --amount 1 --merchant $'caf\xc3' --customer-id C
expect 2 "--iterations: '0'" -- score --amount 1 --merchant M --customer-id C --iterations 0
expect 2 "batch: unknown option '--bogus'" -- batch --count 3 --bogus
expect 2 "option '--count' needs a value" -- batch --count
expect 2 "either --count N or --input FILE" -- batch
expect 2 "--threads: '0'" -- batch --count 3 --threads 0
expect 2 "--count: '0' is not a count of at least 1" -- batch --count 0
expect 2 "--count: '-1' is not a count of at least 1" -- batch --count -1
expect 0 'cache: 30 entries, 30 hits, 30 misses, 0 evictions' -- batch --count 30 --threads 2 --iterations 1 --repeat 2
expect 0 'cache: 5 entries, 0 hits, 30 misses, 25 evictions' -- batch --count 30 --iterations 1 --cache-max 5
expect 0 '"transactions": 4, .*"cache": false' -- batch --count 4 --no-cache --json

printf '%s\n' '{"amount": 1.5, "merchant": "A", "customer_id": "C1"}' '' \
    '{"amount": "x", "merchant": "B", "customer_id": "C2"}' \
    'not json' \
    '{"amount": 2.0, "merchant": "C", "customer_id": "C3", "extra": 1}' \
    '[1, 2]' \
    '{"amount": 2.0, "merchant": "D"}' \
    '{"amount": 3.0, "merchant": "E", "customer_id": "C5"}' >"$tmp/in.jsonl"
printf '{"amount": 1.0, "merchant": "caf\xc3", "customer_id": "C"}\n' >"$tmp/utf8.jsonl"
expect 0 "in.jsonl:3: 'amount' must be a number" -- batch --input "$tmp/in.jsonl"
expect 0 'batch: 2 transactions' -- batch --input "$tmp/in.jsonl"
"$dataproc" batch --input "$tmp/in.jsonl" 2>"$tmp/err" >/dev/null
n=$((n + 1))
if grep -q 'in.jsonl:4: invalid JSON' "$tmp/err" && grep -q "in.jsonl:5: unexpected key 'extra'" "$tmp/err" &&
    grep -q 'in.jsonl:6: expected a JSON object' "$tmp/err" && grep -q "in.jsonl:7: missing key 'customer_id'" "$tmp/err" &&
    grep -q 'skipped 5 malformed lines' "$tmp/err"; then
    echo "ok $n - every malformed line reported with its number"
else
    echo "not ok $n - every malformed line reported with its number"
    sed 's/^/# /' "$tmp/err"
    failures=$((failures + 1))
fi
expect 2 "in.jsonl:3: 'amount' must be a number" -- batch --input "$tmp/in.jsonl" --strict
expect 2 'utf8.jsonl:1: invalid JSON' -- batch --input "$tmp/utf8.jsonl" --strict
expect 2 'nonexistent.jsonl: cannot open' -- batch --input "$tmp/nonexistent.jsonl"
: >"$tmp/empty.jsonl"
expect 2 'empty.jsonl: no transactions' -- batch --input "$tmp/empty.jsonl"

# --output: each row as Python's json.dumps(result, sort_keys=True) (expected lines from the reference vectors).
printf '%s\n' '{"amount": 100.0, "merchant": "Test Store", "customer_id": "C123"}' \
    '{"amount": 0.1, "merchant": "Caf\u00e9 \"Zo\u00eb\"", "customer_id": "C\\7"}' >"$tmp/two.jsonl"
cat >"$tmp/two.want" <<'WANT'
{"amount": 100.0, "customer_id": "C123", "merchant": "Test Store", "risk_score": 0.004039330000000001}
{"amount": 0.1, "customer_id": "C\\7", "merchant": "Caf\u00e9 \"Zo\u00eb\"", "risk_score": 0.004132050000000001}
WANT
expect 0 'batch: 2 transactions' -- batch --input "$tmp/two.jsonl" --threads 2 --output "$tmp/two.out"
n=$((n + 1))
if cmp -s "$tmp/two.out" "$tmp/two.want"; then
    echo "ok $n - --output rows equal Python's json.dumps(result, sort_keys=True)"
else
    echo "not ok $n - --output rows equal Python's json.dumps(result, sort_keys=True)"
    diff "$tmp/two.want" "$tmp/two.out" | sed 's/^/# /'
    failures=$((failures + 1))
fi
expect 2 'nodir/out.jsonl: cannot create' -- batch --count 2 --output "$tmp/nodir/out.jsonl"

# A full disk: the score never reached stdout, so the command fails with one line.
n=$((n + 1))
if [ -w /dev/full ]; then
    "$dataproc" score --amount 1 --merchant M --customer-id C >/dev/full 2>"$tmp/err"
    got=$?
    if [ "$got" -eq 1 ] && grep -q "cannot write the output" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
        echo "ok $n - score into a full disk exits 1 with one line"
    else
        echo "not ok $n - score into a full disk exits 1 with one line (status $got)"
        sed 's/^/# /' "$tmp/err"
        failures=$((failures + 1))
    fi
else
    echo "ok $n # SKIP no /dev/full"
fi

[ "$failures" -eq 0 ]
