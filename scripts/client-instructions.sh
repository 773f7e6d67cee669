#!/bin/sh
# Instructions per request (callgrind) of the load client's path: `diameter bench` (the
# node's client side: routing, pending table, framing, the request templates) against a
# stateless `serve ocs --stateless` running natively. Machine-independent, unlike CPU
# time on a shared machine. The figure is (count at N + 2000 requests - count at 2000) / N.
#
# Usage: scripts/client-instructions.sh [N]   (default 20000; needs valgrind)
set -eu
N=${1:-20000}
cd "$(dirname "$0")/.."
cargo build --release --quiet -p diameter-cli
BIN=$(pwd)/target/release/diameter
out=$(mktemp -d)
port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))
"$BIN" serve ocs --stateless --origin-realm localdomain --listen "127.0.0.1:$port" \
    >"$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
count() { # REQUESTS -> instructions of the client
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" bench \
        --peer "127.0.0.1:$port" --kind ccr-session --updates 2 -c 2 -o 16 -n "$1" -d 300s \
        2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
a=$(count 2000)
b=$(count $((N + 2000)))
echo "bench client: $(( (b - a) / N )) instructions per request"
