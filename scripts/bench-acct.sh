#!/bin/bash
# Records/s: serve acct durable (SQLite WAL, synchronous=FULL, group commit, JSON lines to a
# file) against the same binary with --stateless, bench --kind acr, one run, same machine.
B=${B:-target/release/diameter}
D=$(mktemp -d)
run() { # $1 label, $2.. serve args
  local label=$1; shift
  rm -f $D/acct.db* $D/records.jsonl
  $B serve acct --listen 127.0.0.1:0 "$@" > $D/serve.out 2>/dev/null &
  local pid=$!
  for i in $(seq 50); do grep -q "listening on" $D/serve.out && break; sleep 0.1; done
  local addr=$(grep "listening on" $D/serve.out | head -1 | awk '{print $NF}')
  local out=$($B bench --kind acr --peer $addr --updates 1 -c 2 -o 32 -d 10s --json)
  kill $pid; wait $pid 2>/dev/null
  echo "$label $(echo "$out" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v["answered"], round(v["answered"]/v["elapsed_s"]), v["timeouts"], v["errors"] if "errors" in v else "")')"
}
run stateless --stateless
run durable --store sqlite://$D/acct.db --records $D/records.jsonl
run stateless --stateless
run durable --store sqlite://$D/acct.db --records $D/records.jsonl
