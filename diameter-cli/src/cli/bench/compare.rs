//! `diameter bench --compare`: the OCS against the same node answering statelessly, same
//! client, same run.
//!
//! Starts this executable as `serve ocs --stateless` (every CCR decoded and answered 2001
//! with the requested units granted, nothing stored), then as `serve ocs` on an embedded
//! SQLite store (WAL, `synchronous=FULL`: each charge is fsynced before its answer), both
//! on 127.0.0.1 with an ephemeral port, and runs the bench's load against each in turn.
//! Then it runs the OCS again at half the rate it just reached (the latency target),
//! measured after three seconds at that rate (the full-rate run's checkpoints done). For
//! each run it reads the server's CPU time (utime + stime of `/proc/PID/stat`) before and
//! after, and reports it per answer, with the client's own CPU per answer (a client that
//! uses a whole core is the bottleneck, not the server).
//!
//! `--compare-store URL` and `--compare-config FILE` give the OCS run another store (such
//! as `sqlite://FILE?journal_dir=DIR`, the journal on a device of its own) and settings.

use super::stats::{self, RunInfo, Stats};
use super::{exit_status, load, run_rate, BenchArgs};
use crate::cli::exit::{CliError, CliResult, FAILURE, OK};
use serde_json::{json, Value as Json};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// How long the OCS runs at half its rate before that rate is measured.
const SETTLE: Duration = Duration::from_secs(3);

/// Balance of the OCS's auto-provisioned subscribers (minor units): never the limit.
const BALANCE: &str = "1000000000000";

/// A server started for a comparison; killed (by its own pid) when dropped.
pub(super) struct Server {
    child: Child,
    /// The address it listens on (from its first line of output).
    pub(super) addr: String,
}

impl Server {
    /// Starts `diameter serve ocs ARGS` on 127.0.0.1, port 0, and waits for its address.
    fn start(extra: &[String]) -> Result<Server, CliError> {
        let args = [
            &["serve", "ocs", "--listen", "127.0.0.1:0"].map(str::to_owned)[..],
            extra,
        ]
        .concat();
        Server::this_exe(&args, "ocs")
    }

    /// Starts this executable with `args`, a server announcing "`what` listening on
    /// ADDR" (see `serve::signal::announce`), and waits for its address.
    pub(super) fn this_exe(args: &[String], what: &str) -> Result<Server, CliError> {
        let exe = std::env::current_exe()
            .map_err(|e| CliError::failure(format!("cannot find this executable: {e}")))?;
        let mut cmd = Command::new(exe);
        cmd.args(args).env_remove("RUST_LOG").env("NO_COLOR", "1");
        let prefix = format!("{what} listening on ");
        Server::spawn(cmd, what, move |line| {
            let a = line.trim().strip_prefix(prefix.as_str())?;
            Some(a.split(',').next().unwrap_or(a).trim().to_owned())
        })
    }

    /// Starts `cmd` and reads its standard output until `ready` returns the address it
    /// serves on (at most 30 s); the rest of its output is drained and dropped.
    pub(super) fn spawn(
        mut cmd: Command,
        what: &str,
        ready: impl Fn(&str) -> Option<String>,
    ) -> Result<Server, CliError> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| CliError::failure(format!("cannot start {what}: {e}")))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CliError::failure(format!("{what} has no standard output")));
        };
        let mut server = Server {
            child,
            addr: String::new(),
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::new(stdout);
            let mut line = String::new();
            // Lines until the receiver stops listening, then keep the pipe drained.
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                if tx.send(std::mem::take(&mut line)).is_err() {
                    break;
                }
            }
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = ready(&line) {
                        server.addr = addr;
                        return Ok(server);
                    }
                    last = line;
                }
                Err(_) => {
                    return Err(CliError::failure(format!(
                        "{what} did not start (its last line: {:?})",
                        last.trim()
                    )))
                }
            }
        }
    }

    pub(super) fn cpu(&self) -> Option<Duration> {
        cpu_time(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of a `/proc/.../stat` file.
pub(super) fn cpu_time(path: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    // The fields after the command name, which is in parentheses: state is field 3,
    // utime 14 and stime 15.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / TICKS_PER_SECOND))
}

/// One measured run.
pub(super) struct Measured {
    pub(super) name: &'static str,
    pub(super) stats: Stats,
    pub(super) info: RunInfo,
    pub(super) server_cpu: Option<Duration>,
    pub(super) client_cpu: Option<Duration>,
}

impl Measured {
    pub(super) fn answers_per_s(&self) -> f64 {
        self.stats.answered() as f64 / self.info.elapsed.as_secs_f64().max(1e-9)
    }
    pub(super) fn per_answer(&self, cpu: Option<Duration>) -> Option<f64> {
        let n = self.stats.answered();
        cpu.filter(|_| n > 0)
            .map(|c| c.as_secs_f64() * 1e6 / n as f64)
    }
    pub(super) fn server_us(&self) -> Option<f64> {
        self.per_answer(self.server_cpu)
    }
    pub(super) fn client_us(&self) -> Option<f64> {
        self.per_answer(self.client_cpu)
    }
    pub(super) fn to_json(&self) -> Json {
        let mut v = stats::to_json(&self.stats, &self.info);
        v["server_cpu_s"] = json!(self.server_cpu.map(|d| d.as_secs_f64()));
        v["server_cpu_us_per_answer"] = json!(self.server_us());
        v["client_cpu_us_per_answer"] = json!(self.client_us());
        v
    }
}

/// Runs the load against a started server, measuring both processes' CPU.
pub(super) fn measure(
    rt: &tokio::runtime::Runtime,
    args: &BenchArgs,
    name: &'static str,
    server: &Server,
    rate: Option<f64>,
) -> Result<Measured, CliError> {
    let (s0, c0) = (server.cpu(), cpu_time("/proc/self/stat"));
    let (stats, info) = rt.block_on(load(args, &server.addr, rate))?;
    let (s1, c1) = (server.cpu(), cpu_time("/proc/self/stat"));
    let diff = |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?));
    Ok(Measured {
        name,
        stats,
        info,
        server_cpu: diff(s0, s1),
        client_cpu: diff(c0, c1),
    })
}

/// A temporary directory for the OCS's store, removed when dropped.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new() -> Result<TempDir, CliError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("diameter-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| CliError::failure(format!("cannot create {}: {e}", dir.display())))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The machine: processors, CPU model, and the load average when the comparison ended
/// (other work on a shared machine shows there).
pub(super) fn machine() -> Json {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_owned))
        .and_then(|l| l.parse::<f64>().ok());
    json!({ "nproc": nproc, "cpu_model": model, "loadavg_1m": load })
}

pub(super) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Runs `diameter bench --compare`.
pub fn run(args: &BenchArgs, rt: &tokio::runtime::Runtime) -> CliResult {
    let dir = TempDir::new()?;
    let store = args
        .compare_store
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.0.join("ocs.db").display()));
    let realm = ["--origin-realm".to_owned(), args.origin_realm.clone()];
    let mut runs = Vec::new();
    {
        let server = Server::start(&[&realm[..], &["--stateless".to_owned()]].concat())?;
        runs.push(measure(
            rt,
            args,
            "stateless",
            &server,
            run_rate(args.rate),
        )?);
    }
    {
        let config: Vec<String> = match &args.compare_config {
            Some(file) => vec!["--config".to_owned(), file.display().to_string()],
            None => Vec::new(),
        };
        let ocs_args = [
            &realm[..],
            &config,
            &[
                "--store".to_owned(),
                store,
                "--auto-provision".to_owned(),
                BALANCE.to_owned(),
            ],
        ]
        .concat();
        let server = Server::start(&ocs_args)?;
        runs.push(measure(rt, args, "ocs", &server, run_rate(args.rate))?);
        // The latency target: half the rate the OCS just reached. The full-rate run leaves
        // checkpoints to catch up on; the node settles at the new rate before it is
        // measured, so the latency is that of the rate, not of the catch-up.
        let half = (runs[1].answers_per_s() / 2.0).max(1.0);
        let settle = BenchArgs {
            duration: SETTLE.min(args.duration),
            ..args.clone()
        };
        rt.block_on(load(&settle, &server.addr, Some(half)))?;
        runs.push(measure(rt, args, "ocs_half_rate", &server, Some(half))?);
    }
    let (st, ocs) = (&runs[0], &runs[1]);
    let answers_ratio = ratio(Some(ocs.answers_per_s()), Some(st.answers_per_s()));
    let cpu_ratio = ratio(ocs.server_us(), st.server_us());
    let machine = machine();
    if args.json {
        let mut v = json!({
            "machine": machine,
            "ratio_ocs_to_stateless": {
                "answers_per_s": answers_ratio,
                "server_cpu_per_answer": cpu_ratio,
            },
        });
        for r in &runs {
            v[r.name] = r.to_json();
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print!("{}", text(&runs, &machine, answers_ratio, cpu_ratio, args));
    }
    Ok(if runs.iter().all(|r| exit_status(&r.stats) == OK) {
        OK
    } else {
        FAILURE
    })
}

/// The first line of a comparison's report: the load, and the machine it ran on.
pub(super) fn setting_line(args: &BenchArgs, machine: &Json) -> String {
    format!(
        "{} x {} in flight, {:.0?} per run; {} CPU(s), {}, load average {}\n",
        args.connections,
        args.outstanding,
        args.duration,
        machine["nproc"],
        machine["cpu_model"].as_str().unwrap_or("unknown"),
        machine["loadavg_1m"]
    )
}

fn text(
    runs: &[Measured],
    machine: &Json,
    answers_ratio: Option<f64>,
    cpu_ratio: Option<f64>,
    args: &BenchArgs,
) -> String {
    use std::fmt::Write;
    let opt = |v: Option<f64>, prec: usize| v.map_or("-".into(), |v| format!("{v:.prec$}"));
    let mut out = setting_line(args, machine);
    let _ = writeln!(
        out,
        "  {:<14} {:>11} {:>10} {:>9} {:>9} {:>14} {:>14} {:>7}",
        "run",
        "target/s",
        "answers/s",
        "p50 ms",
        "p99 ms",
        "server µs/ans",
        "client µs/ans",
        "failed"
    );
    for r in runs {
        let h = &r.stats.latency;
        let (p50, p99) = if r.stats.answered() > 0 {
            (
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0,
            )
        } else {
            (0.0, 0.0)
        };
        let _ = writeln!(
            out,
            "  {:<14} {:>11} {:>10.0} {:>9.3} {:>9.3} {:>14} {:>14} {:>7}",
            r.name,
            opt(r.info.rate, 0),
            r.answers_per_s(),
            p50,
            p99,
            opt(r.server_us(), 1),
            opt(r.client_us(), 1),
            r.stats.timeouts + r.stats.errors,
        );
    }
    let _ = writeln!(
        out,
        "  ratio ocs/stateless: answers/s {}, server CPU per answer {}",
        opt(answers_ratio, 3),
        opt(cpu_ratio, 2)
    );
    for r in runs {
        let codes: Vec<String> = r
            .stats
            .result_codes
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        let _ = writeln!(out, "  {:<14} result codes {}", r.name, codes.join(", "));
    }
    out
}
