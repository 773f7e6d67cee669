#!/bin/sh
# Instructions per call (callgrind) of the codec operations on every sample of
# benches/common: walk, typed decode and encode, and the `diameter` crate 0.7.1's decode
# and encode, with the ratios of issue 14 (typed decode <= 5x the walk, the crate's decode
# >= 4x typed decode, typed encode <= the crate's encode). Machine-independent, unlike
# time on a shared machine. Each figure is (count at N calls - count at 0 calls) / N.
#
# Usage: scripts/codec-instructions.sh [N]   (default 1000; needs valgrind)
set -eu
N=${1:-1000}
cd "$(dirname "$0")/.."
cargo build --release --quiet --manifest-path benches/vs_diameter_crate/Cargo.toml \
    --target-dir target --example instructions
BIN=target/release/examples/instructions

count() { # OP SAMPLE CALLS -> instructions
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" "$2" "$3" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_call() { # OP SAMPLE
    a=$(count "$1" "$2" 0)
    b=$(count "$1" "$2" "$N")
    echo $(( (b - a) / N ))
}

printf '%-28s %7s %7s %6s %7s %6s %7s %7s %6s\n' sample walk decode '/walk' crate 'c/dec' encode c-enc 'enc/c'
for s in $("$BIN" list); do
    w=$(per_call walk "$s"); d=$(per_call typed_decode "$s"); c=$(per_call crate_decode "$s")
    e=$(per_call typed_encode "$s"); ce=$(per_call crate_encode "$s")
    awk -v s="$s" -v w="$w" -v d="$d" -v c="$c" -v e="$e" -v ce="$ce" 'BEGIN {
        printf "%-28s %7d %7d %5.2fx %7d %5.2fx %7d %7d %5.2fx\n", s, w, d, d / w, c, c / d, e, ce, e / ce }'
done
