#!/bin/bash
# Instructions per answer (callgrind) of a server's whole process: the server runs under
# valgrind with one I/O thread while a native `diameter bench` loads it (Gy sessions,
# CCR-I, two CCR-U, CCR-T; 2 x 16 in flight). Machine-independent, unlike CPU time on a
# shared machine. The figure is (count after N requests - count after none) / N, both runs
# with the same start and stop.
#
#   stateless  `serve ocs --stateless` (a node answering CCRs from the request)
#   ocs        `serve ocs` on the embedded store (a new database per run)
#   relay      `serve relay` in front of a native template responder (`--updates 20`)
#
# Usage: scripts/server-instructions.sh stateless|ocs|relay [N]   (default 40000; valgrind)
#   BIN=PATH  the binary (default: target/release/diameter, built first)
#   TOP=K  also print the K functions whose own instructions per answer changed most
#          (build with CARGO_PROFILE_RELEASE_DEBUG=line-tables-only for file names)
set -eu
WHAT=${1:?stateless, ocs or relay}
N=${2:-40000}
cd "$(dirname "$0")/.."
# shellcheck source=scripts/serve-lib.sh
. scripts/serve-lib.sh
BIN=$(release_bin)
out=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$out"' EXIT

count() { # REQUESTS -> instructions of the server process
    local p cg="$out/cg.$1"
    p=$(port)
    mkdir -p "$out/$1"
    server_setup "$BIN" "$WHAT" "$p" "$out/$1"
    [ -n "$responder" ] && pids+=("$responder")
    valgrind --tool=callgrind --callgrind-out-file="$cg" "$BIN" "${args[@]}" >"$out/server.log" 2>&1 &
    local v=$!
    pids+=("$v")
    wait_port "$p"
    [ "$WHAT" = relay ] && wait_relay_route "$BIN" "$p"
    "$BIN" bench --peer "127.0.0.1:$p" --destination-realm "$realm" --kind ccr-session \
        --updates "$updates" -c 2 -o 16 -n "$1" -d 600s >"$out/bench.log" 2>&1
    kill -INT "$v"
    wait "$v" 2>/dev/null || true
    if [ -n "$responder" ]; then kill "$responder" 2>/dev/null || true; fi
    callgrind_annotate "$cg" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}
# Own instructions per function ("count<TAB>name"), the binary's name left out.
own() {
    callgrind_annotate --inclusive=no --auto=no --threshold=100 "$1" 2>/dev/null |
        sed -n 's/^ *\([0-9,]*\) ([^)]*) *\(.*\)$/\1\t\2/p' | tr -d ',' | sed 's/ \[[^]]*\]$//'
}
a=$(count 0)
b=$(count "$N")
echo "$WHAT server: $(( (b - a) / N )) instructions per answer ($N answers)"
if [ -n "${TOP:-}" ]; then
    own "$out/cg.0" >"$out/own.0"
    own "$out/cg.$N" >"$out/own.$N"
    awk -F'\t' -v n="$N" 'NR == FNR { a[$2] += $1; next } { b[$2] += $1 }
        END { for (k in b) printf "%9.1f  %s\n", (b[k] - a[k]) / n, substr(k, 1, 160) }' \
        "$out/own.0" "$out/own.$N" | sort -rn | head -"$TOP"
fi
