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
#   TOP=K  also print the K functions whose own instructions per answer changed most
#          (build with CARGO_PROFILE_RELEASE_DEBUG=line-tables-only for file names)
set -eu
WHAT=${1:?stateless, ocs or relay}
N=${2:-40000}
cd "$(dirname "$0")/.."
cargo build --release --quiet -p diameter-cli
BIN=${CARGO_TARGET_DIR:-$(pwd)/target}/release/diameter
out=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$out"' EXIT

port() { echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000)); }
wait_port() {
    for _ in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    exit 1
}

count() { # REQUESTS -> instructions of the server process
    local p cg="$out/cg.$1" args updates=2 realm=localdomain
    p=$(port)
    case "$WHAT" in
    stateless) args=(serve ocs --stateless --origin-realm localdomain --listen "127.0.0.1:$p") ;;
    ocs)
        mkdir -p "$out/db.$1"
        args=(serve ocs --origin-realm localdomain --listen "127.0.0.1:$p"
            --store "sqlite://$out/db.$1/ocs.db" --auto-provision 100000000000) ;;
    relay)
        local t
        t=$(port)
        "$BIN" serve template --listen "127.0.0.1:$t" --origin-host server.b.net \
            --origin-realm b.net >"$out/template.log" 2>&1 &
        pids+=($!)
        printf 'listen = "127.0.0.1:%s"\norigin_host = "dra.relay.net"\norigin_realm = "relay.net"\naccept_any = true\n[[peers]]\nhost = "server.b.net"\naddress = "127.0.0.1:%s"\n[[routes]]\nrealm = "b.net"\naction = "relay"\nservers = ["server.b.net"]\n' \
            "$p" "$t" >"$out/relay.toml"
        args=(serve relay --config "$out/relay.toml")
        updates=20
        realm=b.net ;;
    *) echo "unknown server: $WHAT" >&2; exit 2 ;;
    esac
    valgrind --tool=callgrind --callgrind-out-file="$cg" "$BIN" "${args[@]}" >"$out/server.log" 2>&1 &
    local v=$!
    pids+=("$v")
    wait_port "$p"
    if [ "$WHAT" = relay ]; then # until the relay has its route to the responder
        for _ in $(seq 50); do
            "$BIN" bench --peer "127.0.0.1:$p" --destination-realm b.net -n 1 -d 5s 2>/dev/null |
                grep -q 2001 && break
            sleep 0.3
        done
    fi
    "$BIN" bench --peer "127.0.0.1:$p" --destination-realm "$realm" --kind ccr-session \
        --updates "$updates" -c 2 -o 16 -n "$1" -d 600s >"$out/bench.log" 2>&1
    kill -INT "$v"
    wait "$v" 2>/dev/null || true
    if [ "$WHAT" = relay ]; then kill "${pids[-2]}" 2>/dev/null || true; fi
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
