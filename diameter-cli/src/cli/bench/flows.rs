//! Running a scenario file: flows arrive open-loop at `--rate` (or back to back when no
//! rate is set), each runs its messages in order with its think times, and every request's
//! latency counts from when it was due, so a slow peer shows as latency, not as less load.

use super::live::{exchange, Live};
use super::pacer;
use super::scenario::{FlowStep, Message, ScenarioFile};
use super::schedule;
use super::stats::Stats;
use super::template::Templates;
use diameter_core::node::Node;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Everything a flow needs, shared by all flows of a run.
pub struct Flows {
    /// The scenario file.
    pub file: ScenarioFile,
    /// CCR-I/U/T templates.
    pub ccr: Templates,
    /// CCR event templates, when a flow sends one.
    pub event: Option<Templates>,
    /// UAR templates, when a flow sends one.
    pub uar: Option<Templates>,
    /// MAR (REGISTER) templates, when a flow sends one.
    pub mar: Option<Templates>,
    /// SAR (REGISTRATION) templates, when a flow sends one.
    pub sar: Option<Templates>,
    /// Time a request waits for its answer.
    pub timeout: Duration,
}

/// How a run of flows is paced and bounded.
pub struct Pace {
    /// When the run began.
    pub start: Instant,
    /// No flow starts at or after this.
    pub deadline: Instant,
    /// Flows started per second (None: back to back, `slots` at a time).
    pub rate: Option<f64>,
    /// Linear ramp up to `rate`.
    pub ramp: Duration,
    /// Stop after this many flows.
    pub count: Option<u64>,
    /// Flows in progress at once (connections × outstanding).
    pub slots: usize,
}

impl Flows {
    /// The request for one message of a flow.
    fn message(
        &self,
        m: Message,
        session_id: &str,
        number: u32,
        msisdn: &str,
        user: Option<&str>,
    ) -> Option<diameter_core::RawMessage> {
        let t = match m {
            Message::CcrEvent => self.event.as_ref()?,
            Message::Uar => self.uar.as_ref()?,
            Message::Mar => self.mar.as_ref()?,
            Message::Sar => self.sar.as_ref()?,
            _ => &self.ccr,
        };
        Some(t.message_for(m.step(), session_id, number, msisdn, user))
    }

    /// The longest a flow can take once started: every think time and every timeout.
    fn longest_flow(&self) -> Duration {
        self.file
            .scenarios
            .iter()
            .map(|s| s.steps.iter().map(|st| st.think + self.timeout).sum())
            .max()
            .unwrap_or_default()
    }
}

/// Runs flows on `nodes` (round robin) until the deadline or the count; returns the
/// merged counters once every started flow has ended.
pub async fn run(flows: Arc<Flows>, nodes: Vec<Node>, pace: Pace, live: Arc<Live>) -> Stats {
    let total = Arc::new(Mutex::new(Stats::new()));
    let permits = Arc::new(Semaphore::new(pace.slots.max(1)));
    let mut tasks = JoinSet::new();
    let mut seq = 0u64;
    while !nodes.is_empty() && pace.count.is_none_or(|c| seq < c) {
        let due = match pace.rate {
            Some(r) => pace.start + schedule::arrival(seq, r, pace.ramp),
            None => Instant::now(),
        };
        if due >= pace.deadline {
            break;
        }
        // Closed loop: wait for a free slot here, due when taken; open loop: wait for the
        // schedule (the flow waits for a slot later, late).
        let (permit, due) = match pace.rate {
            None => match permits.clone().acquire_owned().await {
                Ok(p) => (Some(p), Instant::now()),
                Err(_) => break,
            },
            Some(_) => (None, pacer::until(due).await),
        };
        if permit.is_some() && due >= pace.deadline {
            break;
        }
        let node = nodes[(seq % nodes.len() as u64) as usize].clone();
        let (flows, live, total, permits) =
            (flows.clone(), live.clone(), total.clone(), permits.clone());
        let deadline = pace.deadline;
        tasks.spawn(async move {
            let _permit = match permit {
                Some(p) => p,
                None => match permits.acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let s = flow(&flows, &node, &live, seq, due, deadline).await;
            if let Ok(mut t) = total.lock() {
                t.merge(&s);
            }
        });
        seq += 1;
        while tasks.try_join_next().is_some() {}
    }
    // Bounded: flows started by the deadline run to their end, at most this long.
    let hard_stop = pace.deadline + flows.longest_flow() + Duration::from_secs(2);
    while let Ok(Some(_)) = tokio::time::timeout_at(hard_stop, tasks.join_next()).await {}
    tasks.abort_all();
    let s = total.lock().map(|s| s.clone()).unwrap_or_default();
    s
}

/// One flow: its messages in order, each due after the previous answer plus its think
/// time (the first one at the flow's arrival). Stops at the first failure. A flow whose
/// slot came only after the deadline is counted as dropped and sends nothing.
async fn flow(
    flows: &Flows,
    node: &Node,
    live: &Live,
    seq: u64,
    arrival: Instant,
    deadline: Instant,
) -> Stats {
    let mut s = Stats::new();
    let scenario = flows.file.choose(seq);
    let counts = s.flows.entry(scenario.name.clone()).or_default();
    if Instant::now() >= deadline {
        counts.dropped += 1;
        return s;
    }
    counts.started += 1;
    let session_id = flows.file.session_id(seq, &scenario.name);
    let msisdn = flows.file.msisdn.pick(seq);
    let user = flows.file.user.as_ref().map(|u| u.pick(seq));
    let mut due = arrival;
    let mut number = 0u32;
    for (i, FlowStep { message, think }) in scenario.steps.iter().enumerate() {
        due = if i == 0 { due } else { Instant::now() } + *think;
        due = pacer::until(due).await;
        let Some(msg) = flows.message(*message, &session_id, number, &msisdn, user.as_deref())
        else {
            return s;
        };
        if !message.is_sip() {
            number += 1;
        }
        *s.messages.entry(message.label()).or_default() += 1;
        live.sent(&mut s);
        let outcome = exchange(node, msg, flows.timeout, due).await;
        let ok = outcome.is_success();
        live.done(&mut s, &outcome);
        if !ok {
            return s;
        }
    }
    if let Some(c) = s.flows.get_mut(&scenario.name) {
        c.completed += 1;
    }
    s
}
