//! Runs one codec operation N times on one sample, for counting instructions under
//! callgrind (machine-independent, unlike time on a shared machine):
//! `scripts/codec-instructions.sh` runs it with N = 0 and N = 1000 and prints the
//! difference per call, for every operation and sample.
//!
//! Usage: `instructions OP SAMPLE N`, OP one of walk, typed_decode, crate_decode,
//! typed_encode, crate_encode; SAMPLE a name of `benches/common` (or `list`).

#[path = "../../common/mod.rs"]
mod common;

use common::{decoded, samples, typed_decode, typed_encode};
use criterion::black_box;
use diameter_bench_vs_crate::{crate_decode, crate_encode, dictionary, theirs};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let all = samples();
    if args.first().map(String::as_str) == Some("list") {
        for s in &all {
            println!("{}", s.name);
        }
        return;
    }
    let [op, sample, n] = &args[..] else {
        eprintln!("usage: instructions OP SAMPLE N  (or: instructions list)");
        std::process::exit(2);
    };
    let n: u32 = n.parse().expect("N is a number");
    let s = all
        .iter()
        .find(|s| s.name == sample)
        .unwrap_or_else(|| panic!("no sample {sample}"));
    // Everything an operation needs is prepared whatever N is, so that N = 0 counts the
    // same set-up and the difference is the operation alone.
    let dict = dictionary();
    let ours = decoded(&s.wire);
    let theirs = theirs(&s.wire, &dict);
    for _ in 0..n {
        match op.as_str() {
            "walk" => {
                black_box(s.walk());
            }
            "typed_decode" => typed_decode(&s.wire),
            "crate_decode" => crate_decode(&s.wire, &dict),
            "typed_encode" => typed_encode(&ours),
            "crate_encode" => crate_encode(&theirs),
            other => panic!("no operation {other}"),
        }
    }
}
