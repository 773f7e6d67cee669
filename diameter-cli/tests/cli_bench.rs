//! `diameter bench` for a few seconds against a server on loopback.

mod cli_support;

use assert_cmd::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("diameter")
        .expect("binary")
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .timeout(std::time::Duration::from_secs(60))
        .arg("bench")
        .args(args)
        .output()
        .expect("run")
}

#[test]
fn ccr_sessions_for_two_seconds() {
    let server = cli_support::start();
    let out = bench(&[
        "--peer",
        &server.addr.to_string(),
        "--connections",
        "2",
        "--outstanding",
        "4",
        "--duration",
        "2s",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let answered = v["answered"].as_u64().expect("answered");
    assert!(answered > 50, "{v:#}");
    assert_eq!(v["timeouts"], 0);
    assert_eq!(v["result_codes"][0]["code"], 2001);
    assert!(v["latency_ms"]["p99"].as_f64().expect("p99") > 0.0);
    assert!(v["elapsed_s"].as_f64().expect("elapsed") < 10.0);
}

#[test]
fn events_with_count_and_rate_and_text_report() {
    let server = cli_support::start();
    let out = bench(&[
        "--peer",
        &server.addr.to_string(),
        "--kind",
        "ccr-event",
        "--count",
        "100",
        "--rate",
        "200",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("requests  100 sent, 100 answered, 0 timeouts"),
        "{text}"
    );
    assert!(text.contains("2001 DIAMETER_SUCCESS"), "{text}");
    assert!(text.contains("latency   p50"), "{text}");
}

#[test]
fn uar_load() {
    let server = cli_support::start();
    let out = bench(&[
        "--peer",
        &server.addr.to_string(),
        "--kind",
        "uar",
        "-n",
        "50",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["answered"], 50);
}

#[test]
fn unreachable_peer_exits_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let out = bench(&[
        "--peer",
        &format!("127.0.0.1:{port}"),
        "--timeout",
        "1s",
        "-d",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(3));
}

/// `--compare`: the stateless node and the OCS started in turn from this binary, the same
/// load against each, then the OCS at half its rate; every run answered, all 2001.
#[test]
fn compare_reports_the_ocs_against_the_stateless_node() {
    let out = bench(&[
        "--compare",
        "--connections",
        "1",
        "--outstanding",
        "4",
        "--updates",
        "2",
        "--duration",
        "1s",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for run in ["stateless", "ocs", "ocs_half_rate"] {
        let r = &v[run];
        assert!(
            r["answered"].as_u64().expect("answered") > 0,
            "{run}: {v:#}"
        );
        assert_eq!(r["timeouts"], 0, "{run}: {v:#}");
        assert_eq!(r["result_codes"].as_array().map(Vec::len), Some(1), "{v:#}");
        assert_eq!(r["result_codes"][0]["code"], 2001, "{run}: {v:#}");
        assert!(r["answers_per_s"].as_f64().expect("rate") > 0.0, "{v:#}");
        assert!(r["latency_ms"]["p99"].as_f64().expect("p99") > 0.0, "{v:#}");
        assert!(r["server_cpu_us_per_answer"].is_number(), "{run}: {v:#}");
        assert!(r["client_cpu_us_per_answer"].is_number(), "{run}: {v:#}");
    }
    // Half of what the OCS reached, and no more than that.
    let half = v["ocs_half_rate"]["target_rate"].as_f64().expect("target");
    let full = v["ocs"]["answers_per_s"].as_f64().expect("rate");
    assert!((half - full / 2.0).abs() < 1e-6 * full.max(1.0), "{v:#}");
    assert!(
        v["ocs_half_rate"]["answers_per_s"].as_f64().expect("rate") <= half * 1.1,
        "{v:#}"
    );
    assert!(v["stateless"]["target_rate"].is_null(), "{v:#}");
    let ratio = v["ratio_ocs_to_stateless"]["answers_per_s"]
        .as_f64()
        .expect("ratio");
    assert!(ratio > 0.0, "{v:#}");
    assert!(
        v["ratio_ocs_to_stateless"]["server_cpu_per_answer"].is_number()
            || v["stateless"]["server_cpu_s"] == 0.0,
        "{v:#}"
    );
    assert!(v["machine"]["nproc"].as_u64().expect("nproc") >= 1, "{v:#}");
    assert!(v["machine"]["cpu_model"].is_string(), "{v:#}");
}

/// `--compare-config` and `--compare-store`: the OCS run takes its settings from the file
/// (here one open session at most, so the other CCR-Is are answered 3004) and keeps its
/// journal where the store's URL says; the stateless run is not affected.
#[test]
fn compare_runs_the_ocs_with_the_given_configuration_and_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("ocs.toml");
    std::fs::write(&config, "engine_max_sessions = 1\n").expect("config");
    let journal = dir.path().join("journal");
    let store = format!(
        "sqlite://{}?journal_dir={}",
        dir.path().join("ocs.db").display(),
        journal.display()
    );
    let out = bench(&[
        "--compare",
        "--compare-config",
        config.to_str().expect("path"),
        "--compare-store",
        &store,
        "--connections",
        "1",
        "--outstanding",
        "4",
        "--duration",
        "1s",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let codes = |run: &str| -> Vec<u64> {
        v[run]["result_codes"]
            .as_array()
            .expect("codes")
            .iter()
            .map(|c| c["code"].as_u64().expect("code"))
            .collect()
    };
    assert_eq!(codes("stateless"), [2001], "{v:#}");
    assert!(codes("ocs").contains(&3004), "{v:#}");
    let segments = std::fs::read_dir(&journal)
        .expect("the journal's directory")
        .filter(|e| {
            let name = e.as_ref().expect("entry").file_name();
            name.to_string_lossy().starts_with("ocs.db.journal")
        })
        .count();
    assert!(segments > 0, "no journal in {}", journal.display());
}

/// `diameter serve ocs ARGS` on 127.0.0.1, port 0, as a child of this test, and its
/// address.
fn start_ocs(extra: &[&str]) -> (cli_support::ServerProcess, String) {
    cli_support::spawn_server(&[&["serve", "ocs", "--listen", "127.0.0.1:0"], extra].concat())
}

/// Sends `server` SIGSTOP or SIGCONT.
fn signal(server: &cli_support::ServerProcess, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &server.pid().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig}");
}

/// A scenario mix: data sessions (I, U after a think time, T) weighted 3 to 1 against SMS
/// events; subscribers from a CSV.
const MIX: &str = r#"
session_id = "mix;{scenario};{seq}"
[msisdn]
csv = "subscribers.csv"
column = "msisdn"
[[scenario]]
name = "data"
weight = 3
steps = [
  { send = "ccr-initial" },
  { send = "ccr-update", think = "50ms" },
  { send = "ccr-termination", think = "20ms" },
]
[[scenario]]
name = "sms"
weight = 1
steps = [{ send = "ccr-event" }]
"#;

fn scenario_dir(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("mix.toml"), text).expect("scenario");
    let csv: String = (0..50)
        .map(|i| format!("x,{}\n", 46_701_000_000u64 + i))
        .collect();
    std::fs::write(
        dir.path().join("subscribers.csv"),
        format!("name,msisdn\n{csv}"),
    )
    .expect("csv");
    dir
}

/// Lines of JSON: the intervals, then the summary.
fn json_lines(out: &std::process::Output) -> (Vec<serde_json::Value>, serde_json::Value) {
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let summary = lines.pop().expect("a summary line");
    assert_eq!(summary["type"], "summary", "{text}");
    (lines, summary)
}

/// A scenario file against `diameter serve ocs` (SQLite store): every flow's messages in
/// order, every CCR-I closed by a CCR-T, the mix about 3:1, interval lines each second.
#[test]
fn scenario_mix_against_the_ocs_with_interval_lines() {
    let dir = scenario_dir(MIX);
    let store = format!("sqlite://{}", dir.path().join("ocs.db").display());
    let tariffs =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tariffs.toml");
    let (_ocs, addr) = start_ocs(&[
        "--store",
        &store,
        "--auto-provision",
        "100000000",
        "--tariffs",
        tariffs.to_str().expect("path"),
    ]);
    let scenario = dir.path().join("mix.toml");
    let out = bench(&[
        "--peer",
        &addr,
        "--scenario",
        scenario.to_str().expect("path"),
        "--rate",
        "40",
        "--ramp-up",
        "500ms",
        "--duration",
        "3s",
        "--interval",
        "1s",
        "--outstanding",
        "50",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (intervals, v) = json_lines(&out);
    assert!(intervals.len() >= 3, "{intervals:?}");
    let mut t = 0.0;
    for i in &intervals {
        assert_eq!(i["type"], "interval", "{i}");
        let now = i["t_s"].as_f64().expect("t_s");
        assert!(now > t, "{intervals:?}");
        t = now;
    }
    let sent: u64 = intervals
        .iter()
        .map(|i| i["sent"].as_u64().expect("sent"))
        .sum();
    assert_eq!(sent, v["sent"].as_u64().expect("sent"), "{v:#}");
    assert_eq!(v["timeouts"], 0, "{v:#}");
    assert_eq!(v["errors"], 0, "{v:#}");
    assert_eq!(v["result_codes"].as_array().map(Vec::len), Some(1), "{v:#}");
    assert_eq!(v["result_codes"][0]["code"], 2001, "{v:#}");
    let m = &v["messages"];
    let (data, sms) = (&v["scenarios"]["data"], &v["scenarios"]["sms"]);
    assert_eq!(m["CCR-I"], data["started"], "{v:#}");
    assert_eq!(m["CCR-I"], m["CCR-U"], "{v:#}");
    assert_eq!(m["CCR-I"], m["CCR-T"], "every CCR-I has its CCR-T: {v:#}");
    assert_eq!(data["started"], data["completed"], "{v:#}");
    assert_eq!(m["CCR-E"], sms["started"], "{v:#}");
    let (d, s) = (
        data["started"].as_u64().expect("data"),
        sms["started"].as_u64().expect("sms"),
    );
    // About 40/s for 3 s less the ramp's half second: ~110 flows, 3:1.
    assert!((80..=130).contains(&(d + s)), "{v:#}");
    let share = d as f64 / (d + s) as f64;
    assert!((0.6..0.9).contains(&share), "data share {share}: {v:#}");
}

/// Open loop: the same rate against a server that stops answering for a second. Requests
/// due during the stall wait, and their latency counts from when they were due, so the
/// p90 grows by orders of magnitude (a closed loop would show it on a handful only).
#[test]
fn open_loop_latency_shows_a_stalled_server() {
    let dir = scenario_dir("[[scenario]]\nname = \"sms\"\nsteps = [{ send = \"ccr-event\" }]\n");
    let (ocs, addr) = start_ocs(&["--stateless"]);
    let scenario = dir.path().join("mix.toml");
    let args = [
        "--peer",
        &addr,
        "--scenario",
        scenario.to_str().expect("path"),
        "--rate",
        "100",
        "--duration",
        "3s",
        "--outstanding",
        "2",
        "--json",
    ];
    let p90 = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["timeouts"], 0, "{v:#}");
        v["latency_ms"]["p90"].as_f64().expect("p90")
    };
    let baseline = p90(&bench(&args));
    let stall = std::thread::scope(|s| {
        let run = s.spawn(|| bench(&args));
        std::thread::sleep(std::time::Duration::from_millis(1000));
        signal(&ocs, "-STOP");
        std::thread::sleep(std::time::Duration::from_millis(1000));
        signal(&ocs, "-CONT");
        run.join().expect("bench")
    });
    let stalled = p90(&stall);
    assert!(
        stalled > 200.0 && stalled > 10.0 * baseline,
        "p90 {stalled} ms stalled vs {baseline} ms"
    );
}

/// The classic flags with `--interval` in text: one line per half second, then the summary;
/// the interval counts add up to it.
#[test]
fn interval_text_lines_with_the_classic_flags() {
    let server = cli_support::start();
    let out = bench(&[
        "--peer",
        &server.addr.to_string(),
        "--kind",
        "ccr-event",
        "--rate",
        "100",
        "--ramp-up",
        "500ms",
        "-d",
        "2s",
        "--interval",
        "500ms",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
    assert!((4..=5).contains(&lines.len()), "{text}");
    assert!(
        lines[0].contains("s] ") && lines[0].contains(" answered, 0 failed"),
        "{text}"
    );
    let answered: u64 = lines
        .iter()
        .map(|l| {
            let (_, rest) = l.split_once("sent, ").expect("sent");
            rest.split(' ')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .expect("answered")
        })
        .sum();
    // 100/s for 2 s, ramped over the first half second: 175 requests.
    assert!((165..=180).contains(&answered), "{text}");
    assert!(
        text.contains(&format!("{answered} sent, {answered} answered, 0 timeouts")),
        "{text}"
    );
}

/// `--relay-compare`: the template responder alone, then through `serve relay` and through
/// freeDiameterd, the same load; every run answered 2001, the relays' CPU per answer and
/// the ratios reported. Without freeDiameterd the comparison still runs our relay and
/// says why freeDiameter was skipped; the test then skips (fails with REQUIRE_INTEROP=1).
#[test]
fn relay_compare_runs_our_relay_and_freediameter_behind_one_responder() {
    let fd_installed = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("freeDiameterd").is_file()))
        && std::path::Path::new("/usr/lib/freeDiameter/rt_default.fdx").is_file();
    let out = bench(&[
        "--relay-compare",
        "--connections",
        "1",
        "--outstanding",
        "4",
        "--updates",
        "3",
        "--duration",
        "1s",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut runs = vec!["template", "diameter_relay"];
    if fd_installed {
        runs.push("freediameter");
        assert!(v["freediameter_skipped"].is_null(), "{v:#}");
    } else {
        assert!(v["freediameter_skipped"].is_string(), "{v:#}");
        assert!(v["freediameter"].is_null(), "{v:#}");
    }
    for run in &runs {
        let r = &v[*run];
        assert!(
            r["answered"].as_u64().expect("answered") > 0,
            "{run}: {v:#}"
        );
        assert_eq!(r["timeouts"], 0, "{run}: {v:#}");
        assert_eq!(r["result_codes"].as_array().map(Vec::len), Some(1), "{v:#}");
        assert_eq!(r["result_codes"][0]["code"], 2001, "{run}: {v:#}");
        assert!(r["responder_cpu_us_per_answer"].is_number(), "{run}: {v:#}");
    }
    assert!(v["template"]["relay_cpu_us_per_answer"].is_null(), "{v:#}");
    assert!(
        v["diameter_relay"]["relay_cpu_us_per_answer"].is_number(),
        "{v:#}"
    );
    if !fd_installed {
        assert!(
            std::env::var_os("REQUIRE_INTEROP").is_none(),
            "freeDiameterd (Debian freediameterd, freediameter-extensions) missing and REQUIRE_INTEROP is set"
        );
        eprintln!("SKIPPED the freeDiameter half: freeDiameterd is not installed");
        return;
    }
    assert!(
        v["freediameter"]["relay_cpu_us_per_answer"].is_number(),
        "{v:#}"
    );
    let r = &v["ratio_ours_to_freediameter"];
    assert!(r["answers_per_s"].as_f64().expect("ratio") > 0.0, "{v:#}");
    assert!(
        r["freediameter_relay_cpu_per_answer_to_ours"]
            .as_f64()
            .expect("cpu ratio")
            >= 0.0,
        "{v:#}"
    );
}
