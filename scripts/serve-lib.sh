# Helpers of the measurement scripts that start servers on 127.0.0.1 (sourced, not run).

# The binary to measure: $BIN when set, else target/release/diameter (under
# $CARGO_TARGET_DIR if set), built first. Run from the repository's root.
release_bin() {
    if [ -n "${BIN:-}" ]; then
        echo "$BIN"
        return
    fi
    cargo build --release --quiet -p diameter-cli >&2
    echo "${CARGO_TARGET_DIR:-$(pwd)/target}/release/diameter"
}

# A random port in 20000-39999.
port() { echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000)); }

# Waits (at most 60 s) until something listens on 127.0.0.1:PORT.
wait_port() {
    for _ in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    exit 1
}

# server_setup BIN WHAT PORT DIR: sets `args` (the server's command line, listening on
# 127.0.0.1:PORT) and the matching load's `realm` and `updates` (CCR-U per Gy session) for
# WHAT = stateless (`serve ocs --stateless`), ocs (`serve ocs` on a new database in DIR) or
# relay (`serve relay` in front of a `serve template` it starts, whose PID is `responder`).
server_setup() {
    local bin=$1 what=$2 p=$3 dir=$4 t
    realm=localdomain updates=2 responder=
    case "$what" in
    stateless) args=(serve ocs --stateless --origin-realm localdomain --listen "127.0.0.1:$p") ;;
    ocs)
        mkdir -p "$dir"
        args=(serve ocs --origin-realm localdomain --listen "127.0.0.1:$p"
            --store "sqlite://$dir/ocs.db" --auto-provision 100000000000) ;;
    relay)
        t=$(port)
        "$bin" serve template --listen "127.0.0.1:$t" --origin-host server.b.net \
            --origin-realm b.net >"$dir/template.log" 2>&1 &
        responder=$!
        wait_port "$t" # else the relay's first connection fails and waits Tc to retry
        relay_config "$dir/relay.toml" "$p" "$t"
        args=(serve relay --config "$dir/relay.toml")
        realm=b.net updates=20 ;;
    *) echo "unknown server: $what" >&2; exit 2 ;;
    esac
}

# relay_config FILE LISTEN RESPONDER: a `serve relay` configuration listening on
# 127.0.0.1:LISTEN with one relay route for realm b.net to `server.b.net` on
# 127.0.0.1:RESPONDER (a `serve template` started as that host).
relay_config() {
    printf 'listen = "127.0.0.1:%s"\norigin_host = "dra.relay.net"\norigin_realm = "relay.net"\naccept_any = true\n[[peers]]\nhost = "server.b.net"\naddress = "127.0.0.1:%s"\n[[routes]]\nrealm = "b.net"\naction = "relay"\nservers = ["server.b.net"]\n' \
        "$2" "$3" >"$1"
}

# wait_relay_route BIN PORT: waits (at most about 15 s) until a request through the relay on
# 127.0.0.1:PORT is answered 2001, so that its route to the responder is up.
wait_relay_route() {
    for _ in $(seq 50); do
        "$1" bench --peer "127.0.0.1:$2" --destination-realm b.net -n 1 -d 5s 2>/dev/null |
            grep -q 2001 && return
        sleep 0.3
    done
}
