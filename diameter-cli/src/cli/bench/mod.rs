//! `diameter bench`: a bounded load generator with live progress and a latency report.

pub mod compare;
pub mod flows;
pub mod live;
pub mod pacer;
pub mod relay_compare;
pub mod scenario;
pub mod schedule;
pub mod stats;
pub mod template;

use super::build::defaults::Identity;
use super::client::{Client, ClientOptions};
use super::duration;
use super::exit::{CliError, CliResult, FAILURE, OK};
use flows::{Flows, Pace};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use live::{exchange, Live};
use scenario::{Message, ScenarioFile};
use stats::{RunInfo, Stats};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use template::{Kind, Step, Templates};
use tokio::time::Instant;

/// Arguments of `diameter bench`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Examples:
  diameter bench --duration 10s                                  # CCR sessions, 1 connection
  diameter bench --connections 4 --outstanding 32 --duration 30s
  diameter bench --kind ccr-event --rate 2000 --count 100000
  diameter bench --kind uar --peer 127.0.0.1:3870 --duration 5s --json
  diameter bench --kind acr --updates 2 --duration 10s           # against `serve acct`
  diameter bench --compare -c 4 -o 32 --updates 2 -d 10s         # the OCS vs a stateless node
  diameter bench --relay-compare -c 4 -o 32 --updates 20 -d 8s   # our relay vs freeDiameter's
  diameter bench --scenario examples/bench/gy-mix.toml --rate 200 --ramp-up 5s \
                 --interval 1s -d 60s                            # call flows, open loop
  diameter bench --scenario examples/bench/sip-register.toml -r 50 -d 30s  # SIP REGISTERs

The run stops at --duration or after --count requests, whichever comes first. Each
connection is its own Diameter peer (bench-N.<realm>) with --outstanding requests in
flight. ccr-session sends CCR-I, --updates CCR-U and CCR-T per session; acr sends
ACR START, --updates INTERIM and STOP per accounting session.

With --rate, requests (with --scenario: flows) are due on a fixed schedule, and latency
counts from when each was due: a peer that falls behind shows as latency, not as less
load. (A request may leave up to 2 ms before it is due, the timer's precision, and then
counts from when it left.) --scenario FILE runs the TOML file's call flows mixed by weight (see
examples/bench/); then --connections x --outstanding flows run at once, --count counts
flows, and --kind, --updates, --subscribers and --msisdn-base are not used.

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
    /// CCR-U per session for ccr-session, INTERIM records per session for acr.
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
    /// 127.0.0.1, run this load against each, then the OCS at half its measured rate (after 3 s at that rate);
    /// report answers/s, latency, server CPU per answer and the ratios (--peer is ignored).
    #[arg(long)]
    pub compare: bool,
    /// With --compare: the OCS's store URL [default: sqlite:// in a temporary directory].
    #[arg(long, value_name = "URL", requires = "compare")]
    pub compare_store: Option<String>,
    /// With --compare: a `serve ocs` configuration file for the OCS run, such as its
    /// `engine_journal_interval_us` (the listening address, store and auto-provisioning
    /// stay those of the comparison).
    #[arg(long, value_name = "FILE", requires = "compare")]
    pub compare_config: Option<PathBuf>,
    /// Compare our relay with freeDiameter's: start `diameter serve template` (answers
    /// every request from a template, undecoded), load it alone, then through `diameter
    /// serve relay` and through freeDiameterd (rt_default; where installed) in front of
    /// it; report answers/s, the relay's CPU per answer and the ratios (--peer and
    /// --destination-realm are not used).
    #[arg(long, conflicts_with = "compare")]
    pub relay_compare: bool,
    /// With --relay-compare: the freeDiameterd binary [default: freeDiameterd on PATH;
    /// without one, freeDiameter is skipped with a note].
    #[arg(long, value_name = "PATH", requires = "relay_compare")]
    pub freediameter: Option<PathBuf>,
    /// Run the call flows of this TOML scenario file (see examples/bench/).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["compare", "relay_compare"])]
    pub scenario: Option<PathBuf>,
    /// With --rate: reach it linearly over this long, starting from 0.
    #[arg(long, default_value = "0s", value_parser = duration::parse)]
    pub ramp_up: Duration,
    /// Also report every interval (e.g. 1s): a text line, or a JSON line with --json
    /// (then the summary is one JSON line too, with "type": "summary").
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, conflicts_with = "compare")]
    pub interval: Option<Duration>,
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
    ramp: Duration,
    count: Option<u64>,
    issued: AtomicU64,
    slots: AtomicU64,
    live: Arc<Live>,
    stop: AtomicBool,
    /// Starts every Session-Id of this run: `bench;PID.MILLIS`, so that two runs (of one
    /// process, as `--compare` does, or of two clients on one store) never share a
    /// session, whose requests a stateful server would answer as retransmissions.
    session_prefix: String,
}

impl Run {
    /// Takes a request slot: waits for the rate, and returns when the request was due
    /// (None when the run is over). Without a rate a request is due when taken.
    async fn take(&self) -> Option<Instant> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        if self.count.is_some_and(|c| n >= c) {
            return None;
        }
        let due = match self.rate {
            Some(rate) => {
                let slot = self.slots.fetch_add(1, Ordering::Relaxed);
                let due = self.start + schedule::arrival(slot, rate, self.ramp);
                if due >= self.deadline {
                    return None;
                }
                pacer::until(due).await
            }
            None => Instant::now(),
        };
        (Instant::now() < self.deadline).then_some(due)
    }
}

/// Runs `diameter bench`.
pub fn run(args: &BenchArgs) -> CliResult {
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        return Err(CliError::usage("--rate must be 0 or a positive number"));
    }
    if !args.ramp_up.is_zero() && args.rate == 0.0 {
        return Err(CliError::usage("--ramp-up needs a --rate to ramp up to"));
    }
    if args.interval.is_some_and(|i| i < Duration::from_millis(10)) {
        return Err(CliError::usage("--interval must be at least 10ms"));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the runtime: {e}")))?;
    if args.compare {
        return compare::run(args, &rt);
    }
    if args.relay_compare {
        return relay_compare::run(args, &rt);
    }
    rt.block_on(bench(args))
}

async fn bench(args: &BenchArgs) -> CliResult {
    let (stats, info) = load(args, &args.peer, run_rate(args.rate)).await?;
    if args.json && args.interval.is_some() {
        let mut v = stats::to_json(&stats, &info);
        v["type"] = "summary".into();
        println!("{v}");
    } else if args.json {
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

/// What a run sends: one kind of request, or a scenario file's flows.
enum Load {
    Kind(Templates),
    Flows(Box<Flows>),
}

impl Load {
    fn new(args: &BenchArgs, id: &Identity) -> Result<Load, CliError> {
        let Some(path) = &args.scenario else {
            let t = Templates::new(args.kind, id, &args.user).map_err(CliError::usage)?;
            return Ok(Load::Kind(t));
        };
        let file = ScenarioFile::load(path).map_err(CliError::usage)?;
        let build = |kind| Templates::new(kind, id, &args.user).map_err(CliError::usage);
        let event = match file.uses(Message::CcrEvent) {
            true => Some(build(Kind::CcrEvent)?),
            false => None,
        };
        let sip = |m, kind| match file.uses(m) {
            true => build(kind).map(Some),
            false => Ok(None),
        };
        let (uar, mar, sar) = (
            sip(Message::Uar, Kind::Uar)?,
            sip(Message::Mar, Kind::Mar)?,
            sip(Message::Sar, Kind::Sar)?,
        );
        Ok(Load::Flows(Box::new(Flows {
            ccr: build(Kind::CcrSession)?,
            event,
            uar,
            mar,
            sar,
            file,
            timeout: args.timeout,
        })))
    }

    /// The applications to advertise (Auth-Application-Id, not relay).
    fn applications(&self) -> Vec<(u32, bool)> {
        match self {
            Load::Kind(t) => vec![(t.application_id, t.accounting)],
            Load::Flows(f) => {
                let mut apps = vec![(f.ccr.application_id, false)];
                let sip = [&f.uar, &f.mar, &f.sar].into_iter().flatten().next();
                apps.extend(sip.map(|u| (u.application_id, false)));
                apps
            }
        }
    }
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
    let what = Load::new(args, &id)?;
    let mut clients = Vec::new();
    for c in 0..args.connections {
        let client = Client::connect(&ClientOptions {
            peer: peer.to_owned(),
            origin_host: format!("bench-{c}.{}", args.origin_realm),
            origin_realm: args.origin_realm.clone(),
            applications: what.applications(),
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
    let deadline = start + args.duration;
    let live = Arc::new(Live::new(args.interval.is_some()));
    let bar = progress(args);
    let ticker = {
        let live = live.clone();
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let secs = start.elapsed().as_secs_f64().max(1e-9);
                let answered = live.answered.load(Ordering::Relaxed);
                bar.set_position(start.elapsed().as_millis() as u64);
                bar.set_message(format!(
                    "{answered} answers, {:.0}/s, {} failed",
                    answered as f64 / secs,
                    live.failed.load(Ordering::Relaxed)
                ));
            }
        })
    };
    let reporter = args.interval.map(|every| {
        let live = live.clone();
        let json = args.json;
        tokio::spawn(async move {
            let mut n = 1u32;
            loop {
                tokio::time::sleep_until(start + every * n).await;
                report_interval(&live, json, every * (n - 1), every * n);
                n += 1;
            }
        })
    });
    let stats = match what {
        Load::Kind(templates) => {
            let run = Arc::new(Run {
                templates,
                kind: args.kind,
                updates: args.updates,
                subscribers: args.subscribers.max(1),
                msisdn_base: args.msisdn_base,
                timeout: args.timeout,
                start,
                deadline,
                rate,
                ramp: args.ramp_up,
                count: args.count,
                issued: AtomicU64::new(0),
                slots: AtomicU64::new(0),
                live: live.clone(),
                stop: AtomicBool::new(false),
                session_prefix: session_prefix(),
            });
            workers(args, &clients, run).await
        }
        Load::Flows(flows) => {
            let pace = Pace {
                start,
                deadline,
                rate,
                ramp: args.ramp_up,
                count: args.count,
                slots: usize::from(args.connections) * usize::from(args.outstanding),
            };
            let nodes = clients.iter().map(|c| c.node().clone()).collect();
            flows::run(Arc::from(flows), nodes, pace, live.clone()).await
        }
    };
    let elapsed = start.elapsed();
    ticker.abort();
    if let Some(r) = reporter {
        r.abort();
        let every = args.interval.unwrap_or_default();
        let done = every * (elapsed.as_nanos() / every.as_nanos().max(1)) as u32;
        report_interval(&live, args.json, done, elapsed);
    }
    bar.finish_and_clear();
    for c in clients {
        c.close().await;
    }
    let kind = match &args.scenario {
        Some(p) => format!("scenario {}", p.display()),
        None => clap::ValueEnum::to_possible_value(&args.kind)
            .map_or_else(|| format!("{:?}", args.kind), |v| v.get_name().to_owned()),
    };
    let info = RunInfo {
        kind,
        peer: peer.to_owned(),
        connections: usize::from(args.connections),
        outstanding: usize::from(args.outstanding),
        rate,
        elapsed: elapsed.min(args.duration.max(Duration::from_millis(1)) + args.timeout),
    };
    Ok((stats, info))
}

/// Prints the interval from `from` to `to` (since the start) and starts the next one.
fn report_interval(live: &Live, json: bool, from: Duration, to: Duration) {
    let Some(s) = live.take_interval() else {
        return;
    };
    let (from, to) = (from.as_secs_f64(), to.as_secs_f64());
    if to <= from {
        return;
    }
    if json {
        println!("{}", stats::interval_json(&s, from, to));
    } else {
        println!("{}", stats::interval_text(&s, from, to));
    }
}

/// Runs `--outstanding` workers per connection until the run is over; merged counters.
async fn workers(args: &BenchArgs, clients: &[Client], run: Arc<Run>) -> Stats {
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
    // Bounded: every worker stops at the deadline; give late answers their timeout.
    let hard_stop = run.deadline + args.timeout + Duration::from_secs(2);
    for t in tasks {
        if tokio::time::timeout_at(hard_stop, t).await.is_err() {
            run.stop.store(true, Ordering::Relaxed);
        }
    }
    let s = total.lock().map(|s| s.clone()).unwrap_or_default();
    s
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

/// `bench;PID.MILLIS`: the process id and the run's start (ms since the epoch) keep
/// Session-Ids apart between bench clients and between the runs of one client.
fn session_prefix() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("bench;{}.{millis}", std::process::id())
}

/// One worker: one request in flight at a time, sessions stepped through I, U…, T.
async fn work(node: &diameter_core::node::Node, run: &Run, worker: u64) -> Stats {
    let mut s = Stats::new();
    let mut session = 0u64;
    let mut step = 0u32;
    let mut session_id = String::new();
    let mut msisdn = String::new();
    let prefix = &run.session_prefix;
    while let Some(due) = run.take().await {
        if step == 0 {
            session += 1;
            session_id = format!("{prefix};{worker};{session}");
            let sub = (worker.wrapping_mul(7919) + session) % run.subscribers;
            msisdn = (run.msisdn_base + sub).to_string();
        }
        let sessions = run.kind.has_sessions();
        let kind = match run.kind {
            _ if !sessions => Step::Single,
            _ if step == 0 => Step::Initial,
            _ if step <= run.updates => Step::Update,
            _ => Step::Termination,
        };
        let msg = run.templates.message(kind, &session_id, step, &msisdn);
        run.live.sent(&mut s);
        let outcome = exchange(node, msg, run.timeout, due).await;
        let ok = outcome.is_success();
        run.live.done(&mut s, &outcome);
        step = match sessions {
            true if ok && kind != Step::Termination => step + 1,
            _ => 0,
        };
    }
    s
}
