#!/bin/sh
# Builds every fuzz target and runs each, one after the other, for SECONDS (default 60),
# from the seed corpora (made from the test fixtures by seeds.py). Works on the stable
# toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the nightly-only flags it needs.
#
#   cargo install cargo-fuzz
#   fuzz/run.sh 600                  # every target, 10 minutes each
#   fuzz/run.sh 60 peer_fsm pcap     # some targets
#
# One process at a time, under nice; a summary line per target at the end. A crash stops
# that target (libFuzzer writes fuzz/artifacts/<target>/crash-*) and the script goes on.
set -u
cd "$(dirname "$0")"
secs=${1:-60}
[ $# -gt 0 ] && shift
export RUSTC_BOOTSTRAP=1
python3 seeds.py >/dev/null || exit 2
cargo fuzz build || exit 2
targets=${*:-$(cargo fuzz list)}
mkdir -p logs
summary=""
for t in $targets; do
    log="logs/$t.log"
    echo "== $t: ${secs}s (log: fuzz/$log)"
    # Inputs that once failed (fuzz/regressions/<target>/) are run first, as seeds.
    extra=""
    [ -d "regressions/$t" ] && extra="regressions/$t"
    nice -n 10 cargo fuzz run "$t" "corpus/$t" $extra -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then result="no finding"; else result="FAILED (exit $rc), see $log"; fi
    line="$t | ${secs}s | ${execs:-?} execs | $result"
    echo "$line"
    summary="$summary$line
"
done
echo
printf "target | time | execs | result\n%s" "$summary"
