//! `diameter bench`: a bounded load generator with live progress and a latency report.

pub mod compare;
pub mod stats;
pub mod template;

use super::build::defaults::Identity;
use super::client::{Client, ClientOptions};
use super::duration;
use super::exit::{CliError, CliResult, FAILURE, OK};
use diameter_core::fields::result_code;
use diameter_core::node::RequestError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stats::{RunInfo, Stats};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use template::{Kind, Step, Templates};
use tokio::time::Instant;

/// Arguments of `diameter bench`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  diameter bench --duration 10s                                  # CCR sessions, 1 connection
  diameter bench --connections 4 --outstanding 32 --duration 30s
  diameter bench --kind ccr-event --rate 2000 --count 100000
  diameter bench --kind uar --peer 127.0.0.1:3870 --duration 5s --json
  diameter bench --compare -c 4 -o 32 --updates 2 -d 10s         # the OCS vs a stateless node

The run stops at --duration or after --count requests, whichever comes first. Each
connection is its own Diameter peer (bench-N.<realm>) with --outstanding requests in
flight. ccr-session sends CCR-I, --updates CCR-U and CCR-T per session.

Exit status: 0 when every request was answered in time, 1 on timeouts, errors or no
answer at all, 3 when a connection cannot be set up.")]
pub struct BenchArgs {
    /// The peer to load.
    #[arg(long, default_value = "127.0.0.1:3868", value_name = "ADDR:PORT")]
    pub peer: String,
    /// Message kind.
    #[arg(long, value_enum, default_value = "ccr-session")]
    pub kind: Kind,
    /// Connections (each a separate peer).
    #[arg(long, short = 'c', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub connections: u16,
    /// Requests in flight per connection.
    #[arg(long, short = 'o', default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub outstanding: u16,
    /// Target rate over all connections, in requests per second (0: as fast as possible).
    #[arg(long, short = 'r', default_value_t = 0.0)]
    pub rate: f64,
    /// How long to run.
    #[arg(long, short = 'd', default_value = "10s", value_parser = duration::parse)]
    pub duration: Duration,
    /// Stop after this many requests.
    #[arg(long, short = 'n')]
    pub count: Option<u64>,
    /// CCR-U per session for ccr-session.
    #[arg(long, default_value_t = 1)]
    pub updates: u32,
    /// Distinct subscribers (E.164 numbers from --msisdn-base up).
    #[arg(long, default_value_t = 1000)]
    pub subscribers: u64,
    /// The first subscriber number.
    #[arg(long, default_value_t = 46_700_000_000)]
    pub msisdn_base: u64,
    /// UAR: the user.
    #[arg(long, default_value = "alice")]
    pub user: String,
    /// Time a request waits for its answer.
    #[arg(long, default_value = "5s", value_parser = duration::parse)]
    pub timeout: Duration,
    /// Our realm; connections are bench-N.REALM.
    #[arg(long, default_value = "localdomain")]
    pub origin_realm: String,
    /// Destination-Realm [default: our realm].
    #[arg(long)]
    pub destination_realm: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Compare the OCS with a stateless node: start `diameter serve ocs --stateless` and
    /// `diameter serve ocs` (embedded SQLite in a temporary directory, durable) in turn on
    /// 127.0.0.1, run this load against each, then the OCS at half its measured rate;
    /// report answers/s, latency, server CPU per answer and the ratios (--peer is ignored).
    #[arg(long)]
    pub compare: bool,
    /// With --compare: the OCS's store URL [default: sqlite:// in a temporary directory].
    #[arg(long, value_name = "URL", requires = "compare")]
    pub compare_store: Option<String>,
}

/// Shared state of a run.
struct Run {
    templates: Templates,
    kind: Kind,
    updates: u32,
    subscribers: u64,
    msisdn_base: u64,
    timeout: Duration,
    start: Instant,
    deadline: Instant,
    rate: Option<f64>,
    count: Option<u64>,
    issued: AtomicU64,
    slots: AtomicU64,
    answered: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
}

impl Run {
    /// Takes a request slot: waits for the rate, and says false when the run is over.
    async fn take(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        if self.count.is_some_and(|c| n >= c) {
            return false;
        }
        if let Some(rate) = self.rate {
            let slot = self.slots.fetch_add(1, Ordering::Relaxed);
            let due = self.start + Duration::from_secs_f64(slot as f64 / rate);
            if due >= self.deadline {
                return false;
            }
            tokio::time::sleep_until(due).await;
        }
        Instant::now() < self.deadline
    }
}

/// Runs `diameter bench`.
pub fn run(args: &BenchArgs) -> CliResult {
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        return Err(CliError::usage("--rate must be 0 or a positive number"));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the runtime: {e}")))?;
    if args.compare {
        return compare::run(args, &rt);
    }
    rt.block_on(bench(args))
}

async fn bench(args: &BenchArgs) -> CliResult {
    let (stats, info) = load(args, &args.peer, run_rate(args.rate)).await?;
    if args.json {
        let v = stats::to_json(&stats, &info);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print!("{}", stats::to_text(&stats, &info));
    }
    Ok(exit_status(&stats))
}

/// The exit status of a run: 1 on timeouts, errors or no answer at all.
fn exit_status(stats: &Stats) -> u8 {
    if stats.timeouts > 0 || stats.errors > 0 || stats.answered() == 0 {
        FAILURE
    } else {
        OK
    }
}

/// `--rate` as the run's target rate (0: none).
fn run_rate(rate: f64) -> Option<f64> {
    (rate > 0.0).then_some(rate)
}

/// Connects, runs the load against `peer` at `rate`, and returns what was seen.
async fn load(
    args: &BenchArgs,
    peer: &str,
    rate: Option<f64>,
) -> Result<(Stats, RunInfo), CliError> {
    let realm = args
        .destination_realm
        .clone()
        .unwrap_or_else(|| args.origin_realm.clone());
    let id = Identity {
        origin_host: format!("bench-0.{}", args.origin_realm),
        origin_realm: args.origin_realm.clone(),
        destination_realm: realm,
        destination_host: None,
    };
    let templates = Templates::new(args.kind, &id, &args.user).map_err(CliError::usage)?;
    let mut clients = Vec::new();
    for c in 0..args.connections {
        let client = Client::connect(&ClientOptions {
            peer: peer.to_owned(),
            origin_host: format!("bench-{c}.{}", args.origin_realm),
            origin_realm: args.origin_realm.clone(),
            applications: vec![(templates.application_id, false)],
            connect_timeout: args.timeout,
            max_pending: usize::from(args.outstanding) + 16,
        })
        .await;
        match client {
            Ok(c) => clients.push(c),
            Err(e) => {
                for c in clients {
                    c.close().await;
                }
                return Err(e);
            }
        }
    }
    let start = Instant::now();
    let run = Arc::new(Run {
        templates,
        kind: args.kind,
        updates: args.updates,
        subscribers: args.subscribers.max(1),
        msisdn_base: args.msisdn_base,
        timeout: args.timeout,
        start,
        deadline: start + args.duration,
        rate,
        count: args.count,
        issued: AtomicU64::new(0),
        slots: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let total = Arc::new(Mutex::new(Stats::new()));
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        for w in 0..args.outstanding {
            let node = client.node().clone();
            let run = run.clone();
            let total = total.clone();
            let worker = (c as u64) * u64::from(args.outstanding) + u64::from(w);
            tasks.push(tokio::spawn(async move {
                let s = work(&node, &run, worker).await;
                if let Ok(mut t) = total.lock() {
                    t.merge(&s);
                }
            }));
        }
    }
    let bar = progress(args);
    let ticker = {
        let run = run.clone();
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let secs = run.start.elapsed().as_secs_f64().max(1e-9);
                let answered = run.answered.load(Ordering::Relaxed);
                bar.set_position(run.start.elapsed().as_millis() as u64);
                bar.set_message(format!(
                    "{answered} answers, {:.0}/s, {} failed",
                    answered as f64 / secs,
                    run.failed.load(Ordering::Relaxed)
                ));
            }
        })
    };
    // Bounded: every worker stops at the deadline; give late answers their timeout.
    let hard_stop = run.deadline + args.timeout + Duration::from_secs(2);
    for t in tasks {
        if tokio::time::timeout_at(hard_stop, t).await.is_err() {
            run.stop.store(true, Ordering::Relaxed);
        }
    }
    let elapsed = start.elapsed();
    ticker.abort();
    bar.finish_and_clear();
    for c in clients {
        c.close().await;
    }
    let stats = total.lock().map(|s| s.clone()).unwrap_or_default();
    let info = RunInfo {
        kind: clap::ValueEnum::to_possible_value(&args.kind)
            .map_or_else(|| format!("{:?}", args.kind), |v| v.get_name().to_owned()),
        peer: peer.to_owned(),
        connections: usize::from(args.connections),
        outstanding: usize::from(args.outstanding),
        rate: run.rate,
        elapsed: elapsed.min(args.duration.max(Duration::from_millis(1)) + args.timeout),
    };
    Ok((stats, info))
}

fn progress(args: &BenchArgs) -> ProgressBar {
    if args.json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        Some(args.duration.as_millis() as u64),
        ProgressDrawTarget::stderr_with_hz(5),
    );
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// One worker: one request in flight at a time, sessions stepped through I, U…, T.
async fn work(node: &diameter_core::node::Node, run: &Run, worker: u64) -> Stats {
    let mut s = Stats::new();
    let mut session = 0u64;
    let mut step = 0u32;
    let mut session_id = String::new();
    let mut msisdn = String::new();
    // The process id keeps Session-Ids apart when several bench clients load one store
    // (two OCS nodes on one database).
    let pid = std::process::id();
    while run.take().await {
        if step == 0 {
            session += 1;
            session_id = format!("bench;{pid};{worker};{session}");
            let sub = (worker.wrapping_mul(7919) + session) % run.subscribers;
            msisdn = (run.msisdn_base + sub).to_string();
        }
        let kind = match run.kind {
            Kind::CcrSession if step == 0 => Step::Initial,
            Kind::CcrSession if step <= run.updates => Step::Update,
            Kind::CcrSession => Step::Termination,
            _ => Step::Single,
        };
        let msg = run.templates.message(kind, &session_id, step, &msisdn);
        s.sent += 1;
        let sent_at = Instant::now();
        let result = match node.request_with_timeout(msg, run.timeout).await {
            Err(RequestError::Protocol { answer, .. }) => Ok(*answer),
            other => other,
        };
        let ok = match result {
            Ok(answer) => {
                let rc = result_code(&answer).unwrap_or(0);
                s.answer(rc, sent_at.elapsed());
                run.answered.fetch_add(1, Ordering::Relaxed);
                (2000..3000).contains(&rc)
            }
            Err(RequestError::Timeout) => {
                s.timeouts += 1;
                run.failed.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(_) => {
                s.errors += 1;
                run.failed.fetch_add(1, Ordering::Relaxed);
                false
            }
        };
        step = match run.kind {
            Kind::CcrSession if ok && kind != Step::Termination => step + 1,
            _ => 0,
        };
    }
    s
}
