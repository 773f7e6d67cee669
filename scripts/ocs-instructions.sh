#!/bin/sh
# Instructions per CCR (callgrind) of the OCS charging path in process, without sockets:
# Gy sessions (CCR-I, two CCR-U, CCR-T; 128 in flight) through `ChargingServer` on the
# embedded store, every thread counted (the I/O side's handler, the journal's syncers and
# the checkpoint into SQLite). Machine-independent, unlike CPU time on a shared machine.
# Prints the total per CCR, then the functions costing the most per CCR (self cost).
# Each figure is (count at N sessions - count at 0 sessions) / (4 N); both runs include
# the same warm-up (see diameter-apps/examples/ocs_instructions.rs).
#
# Usage: scripts/ocs-instructions.sh [N] [ROWS]   (default 1000 sessions, 25 rows; needs valgrind)
set -eu
N=${1:-1000}
ROWS=${2:-25}
cd "$(dirname "$0")/.."
cargo build --release --quiet -p diameter-apps --example ocs_instructions
BIN=target/release/examples/ocs_instructions
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

profile() { # SESSIONS -> $out/cg.SESSIONS
    mkdir "$out/db$1"
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1" "$BIN" "$out/db$1" "$1" \
        >/dev/null 2>&1
    callgrind_annotate --threshold=100 "$out/cg.$1" 2>/dev/null |
        awk '/^ *[0-9,]+ \(/{gsub(",","",$1); f=$0; sub(/^ *[0-9,]+ \([^)]*\) */,"",f); print $1 "\t" f}' \
            >"$out/fn.$1"
}
profile 0
profile "$N"
python3 - "$out/fn.0" "$out/fn.$N" "$((4 * N))" "$ROWS" <<'PY'
import sys
def load(p):
    d = {}
    for line in open(p):
        n, f = line.rstrip("\n").split("\t", 1)
        d[f] = d.get(f, 0) + int(n)
    return d
a, b, ccrs, rows = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
diff = sorted(((b.get(f, 0) - a.get(f, 0)) / ccrs, f) for f in set(a) | set(b))[::-1]
total = dict((f, v) for v, f in diff).get("PROGRAM TOTALS", 0)
print(f"instructions per CCR: {total:,.0f} ({ccrs} CCRs)")
for v, f in diff[1 : rows + 1]:
    print(f"{v:8.0f}  {100 * v / total:5.1f}%  {f[:140]}")
PY
