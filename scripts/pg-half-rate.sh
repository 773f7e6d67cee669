#!/usr/bin/env bash
# Issue 13's PostgreSQL latency target in one command: two `serve ocs` nodes on one local
# PostgreSQL (scripts/pg-two-nodes.sh) at full rate, then at half of that rate, where p99
# should stay under 10 ms. Both runs measure the steady state: a 10 s warm-up at full rate
# fills the WAL and a checkpoint recycles its files, as in a running database (a new
# cluster otherwise creates and zero-fills every 16 MB WAL file during the run, which
# stalls commits). Each run prints its rates, latency, CPU and reconciliation.
#
# Usage: scripts/pg-half-rate.sh [BINARY]   (default target/release/diameter)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/diameter}
load=(--kind ccr-session --updates 2 -c 4 -o 32 -d 10s --subscribers 1000)
export SETTLE_ARGS="${load[*]}" POST_SETTLE_SQL=CHECKPOINT \
    PG_OPTS="-c min_wal_size=4GB -c max_wal_size=8GB"
echo "== full rate"
full=$(scripts/pg-two-nodes.sh "$bin" "${load[@]}" | tee /dev/stderr |
    sed -n 's/^total: \([0-9]*\) CCR\/s.*/\1/p')
[ -n "$full" ] || { echo "no full-rate figure" >&2; exit 1; }
# Half the total, split over the two clients.
per_node=$((full / 4))
echo "== half rate: $per_node CCR/s per node ($((2 * per_node)) in total)"
scripts/pg-two-nodes.sh "$bin" "${load[@]}" -r "$per_node"
