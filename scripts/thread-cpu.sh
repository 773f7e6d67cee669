#!/usr/bin/env bash
# CPU of a server's threads per answer, user and kernel apart, under the `diameter bench` load
# of the targets (Gy sessions, 4 x 32 in flight): where a server's time goes, and whether a
# thread or the round trip bounds it (a thread near 100% busy, or all of them well below).
#
#   ocs        `serve ocs` on the embedded store (a new database per run), `--updates 2`
#   stateless  `serve ocs --stateless`, `--updates 2`
#   relay      `serve relay` in front of `serve template`, `--updates 20`
#
# Usage: scripts/thread-cpu.sh ocs|stateless|relay [SECONDS] [EXTRA SERVER ARGS...]
#   BIN=PATH   the binary (default: target/release/diameter, built first)
# Reads utime and stime of /proc/PID/task/*/stat before and after the run; threads of one
# name (the journal's syncers, say) are listed apart.
set -euo pipefail
what=${1:?ocs, stateless or relay}
secs=${2:-8}
shift $(($# < 2 ? $# : 2))
cd "$(dirname "$0")/.."
# shellcheck source=scripts/serve-lib.sh
. scripts/serve-lib.sh
BIN=$(release_bin)
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
p=$(port)
server_setup "$BIN" "$what" "$p" "$dir"
[ -n "$responder" ] && pids+=("$responder")
"$BIN" "${args[@]}" "$@" >"$dir/server.log" 2>&1 &
server=$!
pids+=("$server")
wait_port "$p"
[ "$what" = relay ] && wait_relay_route "$BIN" "$p"
# "name user-ticks kernel-ticks" per thread name, summed over threads of that name.
snap() {
    for t in /proc/"$server"/task/*; do
        printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(awk '{print $14, $15}' "$t/stat")"
    done | awk '{u[$1] += $2; s[$1] += $3} END {for (k in u) print k, u[k], s[k]}' | sort
}
snap >"$dir/before"
"$BIN" bench --peer "127.0.0.1:$p" --destination-realm "$realm" --kind ccr-session \
    --updates "$updates" -c 4 -o 32 -d "${secs}s" >"$dir/bench.log" 2>&1
snap >"$dir/after"
answers=$(awk '/requests/ {print $4}' "$dir/bench.log")
grep -E 'rate|latency' "$dir/bench.log"
hz=$(getconf CLK_TCK)
join "$dir/before" "$dir/after" | awk -v n="$answers" -v hz="$hz" -v d="$secs" '
    BEGIN { printf "%-18s %12s %12s %8s\n", "thread", "user µs/ans", "kernel µs/ans", "busy" }
    { u = $4 - $2; s = $5 - $3; tu += u; ts += s
      if (u + s > 0) printf "%-18s %12.2f %12.2f %7.1f%%\n", $1, u / hz * 1e6 / n, s / hz * 1e6 / n, (u + s) / hz / d * 100 }
    END { printf "%-18s %12.2f %12.2f\n", "all", tu / hz * 1e6 / n, ts / hz * 1e6 / n }'
