#!/usr/bin/env bash
# Two `diameter serve ocs` nodes on one local PostgreSQL, loaded at once by two `diameter
# bench` clients (Gy sessions on the same subscribers, so the nodes share accounts).
# Prints each client's answers/s and latency, the total, the server CPU per answer, and a
# reconciliation (no negative balance; sum of ledger debits = sum of balance changes).
#
# The cluster is private (temp dir, Unix socket only) and durable: fsync and
# synchronous_commit on, PostgreSQL's defaults. Needs Debian's postgresql (initdb, pg_ctl).
#
# Usage: [BENCH_BIN=CLIENT] scripts/pg-two-nodes.sh [BINARY] [BENCH ARGS...]
#   BINARY     the servers, default target/release/diameter
#   BENCH_BIN  the load clients, default BINARY (its Session-Ids must differ between the two
#              clients: builds before the pg group commit reuse them)
#   BENCH ARGS default: --kind ccr-session --updates 2 -c 4 -o 32 -d 10s --subscribers 1000
#
# Environment (experiments):
#   OCS_TOML     more config lines for both nodes, such as "pg_groups = 4"
#   SETTLE_ARGS  bench arguments of a run on both nodes before the measured one (warm-up)
#   B2_EXTRA     more bench arguments for the second client, in the warm-up run too
#                ("--msisdn-base 46800000000": the nodes on different subscribers)
#   PG_STATS=1   load pg_stat_statements and print the statements' time per call
#   PG_OPTS      more server settings ("-c max_wal_size=8GB -c wal_init_zero=off")
#   PRE_SQL      a statement run on the database once the nodes are up
#   POST_SETTLE_SQL  a statement run after the warm-up, before the measured run
#
# A new cluster creates (and zero-fills) every 16 MB WAL file it writes; a running database
# recycles old ones at each checkpoint. To measure the steady state, let a warm-up fill the
# WAL and a checkpoint recycle it (the README's half-rate p99 figures):
#   SETTLE_ARGS="--kind ccr-session --updates 2 -c 4 -o 32 -d 10s --subscribers 1000" \
#   POST_SETTLE_SQL=CHECKPOINT PG_OPTS="-c min_wal_size=4GB -c max_wal_size=8GB" \
#   scripts/pg-two-nodes.sh BIN --kind ccr-session --updates 2 -c 4 -o 32 -d 10s \
#     --subscribers 1000 -r HALF_OF_THE_FULL_RATE_PER_NODE
#   PERF=FILE    a CPU profile of the whole machine during the run (perf record -g -a)
set -euo pipefail
bin=$(realpath "${1:-target/release/diameter}")
shift || true
bench_bin=$(realpath "${BENCH_BIN:-$bin}")
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--kind ccr-session --updates 2 -c 4 -o 32 -d 10s --subscribers 1000)

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d /tmp/ocs-pg-bench.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
port=$((20000 + RANDOM % 20000))
as_pg "$pgbin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 >/dev/null
as_pg "$pgbin/pg_ctl" start -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses='' -c max_connections=100 -c shared_buffers=256MB${PG_STATS:+ -c shared_preload_libraries=pg_stat_statements} ${PG_OPTS:-}" >/dev/null
url="postgresql://postgres@${dir//\//%2F}:$port/postgres"
psql() { as_pg "$pgbin/psql" -h "$dir" -p "$port" -U postgres -d postgres -XAtq -c "$1"; }

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  as_pg "$pgbin/pg_ctl" stop -D "$dir/data" -m fast >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

p1=$((port + 1)) p2=$((port + 2))
for n in 1 2; do
  p=$((port + n))
  printf 'listen = "127.0.0.1:%s"\norigin_host = "ocs%s.localdomain"\norigin_realm = "localdomain"\nstore = "%s"\nauto_provision = 1000000000\n%b\n' \
    "$p" "$n" "$url" "${OCS_TOML:-}" >"$dir/ocs$n.toml"
  RUST_LOG=error "$bin" serve ocs --config "$dir/ocs$n.toml" >"$dir/ocs$n.out" 2>&1 &
  pids+=($!)
done
for p in $p1 $p2; do
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.05; done
done
[ -n "${PRE_SQL:-}" ] && psql "$PRE_SQL"
if [ -n "${SETTLE_ARGS:-}" ]; then
  # shellcheck disable=SC2086 # word splitting wanted
  "$bench_bin" bench --peer "127.0.0.1:$p1" $SETTLE_ARGS >/dev/null 2>&1 &
  s1=$!
  # shellcheck disable=SC2086
  "$bench_bin" bench --peer "127.0.0.1:$p2" $SETTLE_ARGS ${B2_EXTRA:-} >/dev/null 2>&1 || true
  wait $s1 || true
fi
[ -n "${POST_SETTLE_SQL:-}" ] && psql "$POST_SETTLE_SQL"
[ -n "${PG_STATS:-}" ] && psql "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" && psql "SELECT pg_stat_statements_reset()" >/dev/null
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# PostgreSQL's CPU: the postmaster and its children (backends, WAL writer, checkpointer...).
pg_cpu() {
  local pm t=0
  pm=$(head -1 "$dir/data/postmaster.pid")
  for p in "$pm" $(cat /proc/"$pm"/task/*/children 2>/dev/null); do
    t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
c1=$(cpu "${pids[0]}") c2=$(cpu "${pids[1]}") pg0=$(pg_cpu)
[ -n "${PERF:-}" ] && { perf record -g -a -o "$PERF" -- sleep 5 >/dev/null 2>&1 & }
"$bench_bin" bench --peer "127.0.0.1:$p1" "${args[@]}" --json >"$dir/b1.json" &
b1=$!
# shellcheck disable=SC2086
"$bench_bin" bench --peer "127.0.0.1:$p2" "${args[@]}" ${B2_EXTRA:-} --json >"$dir/b2.json" &
b2=$!
wait $b1 $b2
# Backends that ended during the run are not counted; the pool keeps its connections.
pg_ticks=$(( $(pg_cpu) - pg0 ))
ticks=$(( $(cpu "${pids[0]}") - c1 + $(cpu "${pids[1]}") - c2 ))
python3 - "$dir/b1.json" "$dir/b2.json" "$ticks" "$(getconf CLK_TCK)" "$pg_ticks" <<'PY'
import json, sys
runs = [json.load(open(p)) for p in sys.argv[1:3]]
ticks, hz, pg = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
total = sum(r["answers_per_s"] for r in runs)
answered = sum(r["answered"] for r in runs)
for i, r in enumerate(runs, 1):
    l = r["latency_ms"]
    codes = ", ".join(f'{c["code"]}: {c["count"]}' for c in r["result_codes"])
    print(f'node {i}: {r["answers_per_s"]:.0f} answers/s, p50 {l["p50"]:.1f} ms, '
          f'p99 {l["p99"]:.1f} ms, timeouts {r["timeouts"]}, errors {r["errors"]} ({codes})')
per = lambda t: t / hz * 1e6 / max(answered, 1)
print(f"total: {total:.0f} CCR/s; CPU per answer: OCS nodes {per(ticks):.0f} us, "
      f"PostgreSQL {per(pg):.0f} us")
PY
echo "negative balances: $(psql "SELECT COUNT(*) FROM accounts WHERE balance < 0")"
echo "balance change - ledger debits (must be 0): $(psql "SELECT (SELECT COALESCE(SUM(1000000000 - balance), 0) FROM accounts) - (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE kind = 'debit')")"
if [ -n "${PG_STATS:-}" ]; then
  echo "statements by time (calls, ms per call, rows per call):"
  psql "SELECT calls, round((total_exec_time / calls)::numeric, 3), round(rows::numeric / calls, 1), \
    left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 70) FROM pg_stat_statements \
    WHERE calls > 0 ORDER BY total_exec_time DESC LIMIT 8" | sed 's/^/  /'
fi
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
