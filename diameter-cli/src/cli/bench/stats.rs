//! Counting answers and latencies, and the final report (text or JSON).

use diameter::dict::DICTIONARY;
use hdrhistogram::Histogram;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// What one worker saw; merged at the end.
#[derive(Clone)]
pub struct Stats {
    /// Latency of answered requests, in microseconds.
    pub latency: Histogram<u64>,
    /// Answers by Result-Code (0: none found).
    pub result_codes: BTreeMap<u32, u64>,
    /// Requests sent.
    pub sent: u64,
    /// Requests without an answer in time.
    pub timeouts: u64,
    /// Requests that failed otherwise (peer failed, no route, too busy).
    pub errors: u64,
    /// Scenario runs: requests sent per message label (CCR-I, CCR-T…).
    pub messages: BTreeMap<&'static str, u64>,
    /// Scenario runs: flows per scenario name.
    pub flows: BTreeMap<String, FlowCount>,
}

/// How the flows of one scenario went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCount {
    /// Flows begun.
    pub started: u64,
    /// Flows whose every message was answered with success.
    pub completed: u64,
    /// Flows due before the end that got no free slot (`--outstanding`) before it.
    pub dropped: u64,
}

impl Stats {
    /// Empty counters.
    pub fn new() -> Stats {
        Stats {
            // 1 µs to 1 h with 3 significant digits: constant, valid bounds.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("constant histogram bounds are valid"),
            result_codes: BTreeMap::new(),
            sent: 0,
            timeouts: 0,
            errors: 0,
            messages: BTreeMap::new(),
            flows: BTreeMap::new(),
        }
    }

    /// Records an answer.
    pub fn answer(&mut self, rc: u32, latency: Duration) {
        let us = (latency.as_micros() as u64).clamp(1, 3_600_000_000);
        let _ = self.latency.record(us);
        *self.result_codes.entry(rc).or_default() += 1;
    }

    /// Answers received.
    pub fn answered(&self) -> u64 {
        self.latency.len()
    }

    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &Stats) {
        let _ = self.latency.add(&o.latency);
        for (k, v) in &o.result_codes {
            *self.result_codes.entry(*k).or_default() += v;
        }
        self.sent += o.sent;
        self.timeouts += o.timeouts;
        self.errors += o.errors;
        for (k, v) in &o.messages {
            *self.messages.entry(k).or_default() += v;
        }
        for (k, v) in &o.flows {
            let f = self.flows.entry(k.clone()).or_default();
            f.started += v.started;
            f.completed += v.completed;
            f.dropped += v.dropped;
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

/// The settings echoed in the report.
pub struct RunInfo {
    /// Message kind.
    pub kind: String,
    /// Peer address.
    pub peer: String,
    /// Connections.
    pub connections: usize,
    /// Outstanding requests per connection.
    pub outstanding: usize,
    /// Target rate, if any.
    pub rate: Option<f64>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The report as JSON.
pub fn to_json(s: &Stats, info: &RunInfo) -> Json {
    let secs = info.elapsed.as_secs_f64().max(1e-9);
    let h = &s.latency;
    let mut v = json!({
        "kind": info.kind,
        "peer": info.peer,
        "connections": info.connections,
        "outstanding": info.outstanding,
        "target_rate": info.rate,
        "elapsed_s": secs,
        "sent": s.sent,
        "answered": s.answered(),
        "timeouts": s.timeouts,
        "errors": s.errors,
        "answers_per_s": s.answered() as f64 / secs,
        "latency_ms": {
            "p50": ms(h.value_at_quantile(0.5)),
            "p90": ms(h.value_at_quantile(0.9)),
            "p99": ms(h.value_at_quantile(0.99)),
            "p99_9": ms(h.value_at_quantile(0.999)),
            "max": ms(h.max()),
            "mean": h.mean() / 1000.0,
        },
        "result_codes": s.result_codes.iter().map(|(k, v)| json!({
            "code": k, "name": DICTIONARY.result_code_name(*k), "count": v
        })).collect::<Vec<_>>(),
    });
    if !s.flows.is_empty() {
        v["messages"] = json!(s.messages);
        v["scenarios"] = s
            .flows
            .iter()
            .map(|(k, f)| {
                (
                    k.clone(),
                    json!({"started": f.started, "completed": f.completed, "dropped": f.dropped}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    v
}

/// One interval report as JSON: what was answered between `from` and `to` seconds after
/// the start (latency of those answers, from their scheduled send time).
pub fn interval_json(s: &Stats, from: f64, to: f64) -> Json {
    let h = &s.latency;
    let secs = (to - from).max(1e-9);
    let q = |p| (!h.is_empty()).then(|| ms(h.value_at_quantile(p)));
    json!({
        "type": "interval",
        "t_s": to,
        "interval_s": secs,
        "sent": s.sent,
        "answered": s.answered(),
        "timeouts": s.timeouts,
        "errors": s.errors,
        "answers_per_s": s.answered() as f64 / secs,
        "latency_ms": { "p50": q(0.5), "p99": q(0.99), "max": (!h.is_empty()).then(|| ms(h.max())) },
    })
}

/// One interval report as a text line.
pub fn interval_text(s: &Stats, from: f64, to: f64) -> String {
    let h = &s.latency;
    let secs = (to - from).max(1e-9);
    let mut line = format!(
        "[{to:7.1}s] {} sent, {} answered, {} failed, {:.1}/s",
        s.sent,
        s.answered(),
        s.timeouts + s.errors,
        s.answered() as f64 / secs
    );
    if !h.is_empty() {
        let _ = write!(
            line,
            ", p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        );
    }
    line
}

/// The report as text.
pub fn to_text(s: &Stats, info: &RunInfo) -> String {
    let secs = info.elapsed.as_secs_f64().max(1e-9);
    let h = &s.latency;
    let mut out = String::new();
    let rate = info
        .rate
        .map_or("unlimited".to_owned(), |r| format!("{r}/s"));
    let _ = writeln!(
        out,
        "{} against {}: {} connection(s) x {} outstanding, target rate {rate}, {:.2} s",
        info.kind, info.peer, info.connections, info.outstanding, secs
    );
    let _ = writeln!(
        out,
        "  requests  {} sent, {} answered, {} timeouts, {} errors",
        s.sent,
        s.answered(),
        s.timeouts,
        s.errors
    );
    let _ = writeln!(
        out,
        "  rate      {:.1} answers/s",
        s.answered() as f64 / secs
    );
    if s.answered() > 0 {
        let _ = writeln!(
            out,
            "  latency   p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.9)),
            ms(h.value_at_quantile(0.99)),
            ms(h.value_at_quantile(0.999)),
            ms(h.max())
        );
    }
    for (i, (code, n)) in s.result_codes.iter().enumerate() {
        let label = if i == 0 { "  results " } else { "          " };
        let name = DICTIONARY.result_code_name(*code).unwrap_or(if *code == 0 {
            "no Result-Code"
        } else {
            "unknown"
        });
        let _ = writeln!(out, "{label}{code:>5} {name:<40} {n}");
    }
    for (i, (name, f)) in s.flows.iter().enumerate() {
        let label = if i == 0 { "  flows   " } else { "          " };
        let _ = writeln!(
            out,
            "{label}{name:<20} {} started, {} completed, {} dropped",
            f.started, f.completed, f.dropped
        );
    }
    if !s.messages.is_empty() {
        let list: Vec<String> = s.messages.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "  messages  {}", list.join(", "));
    }
    out
}
