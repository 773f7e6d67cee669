//! Two agents over a simulated network with a fake clock: A dials B, B answers with
//! handlers the test controls. No sockets, no tasks, no sleeping.

use super::*;
use crate::base::{avp, command};
use crate::fields::{result_code, str_avp};
use crate::header::CommandFlags;
use crate::peer::{check_incoming, AcceptPolicy, PeerSettings};
use std::collections::HashMap;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const TW: Duration = Duration::from_secs(6);
/// Requests' deadline after sending.
const DUE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    A,
    B,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

struct Net {
    now: Instant,
    a: PeerAgent<u32>,
    b: PeerAgent<u32>,
    /// conn -> (the side that dialled it, whether the other side accepted it yet).
    conns: HashMap<ConnId, (Side, bool)>,
    next_conn: u64,
    queue: VecDeque<(Side, Event)>,
    /// B's handler answers at once (else requests wait in `held`).
    auto_answer: bool,
    held: Vec<RawMessage>,
    /// Every message written, in order.
    wire: Vec<(Side, RawMessage)>,
    answered: Vec<(u32, Result<RawMessage, Failure>)>,
    events: Vec<(Side, PeerEvent)>,
    notices: Vec<(Side, Notice)>,
    /// B neither reads nor writes (a hung process).
    frozen: bool,
}

fn caps(host: &str) -> Arc<Capabilities> {
    Arc::new(Capabilities {
        origin_host: host.into(),
        origin_realm: "example.net".into(),
        host_ip_addresses: vec![LOOPBACK],
        vendor_id: 0,
        product_name: "agent".into(),
        auth_applications: vec![4],
        ..Default::default()
    })
}

fn agent(host: &str, initiate: bool, limits: AgentLimits) -> PeerAgent<u32> {
    let local = caps(host);
    let settings = PeerSettings {
        initiate,
        tw: TW,
        tw_jitter: Duration::ZERO,
        tc: Duration::from_secs(10),
        ..Default::default()
    };
    let peer = Peer::new(local.clone(), settings, u64::from(initiate), 1000);
    let dialled = initiate.then_some(LOOPBACK);
    PeerAgent::new(peer, local, dialled, limits)
}

fn ccr(e2e: u32) -> RawMessage {
    RawMessage::from_avps(
        Header::new(
            272,
            4,
            CommandFlags::REQUEST | CommandFlags::PROXIABLE,
            0,
            e2e,
        ),
        &[
            str_avp(avp::SESSION_ID, "s;1"),
            str_avp(avp::ORIGIN_HOST, "a.example.net"),
            str_avp(avp::ORIGIN_REALM, "example.net"),
        ],
    )
}

fn answer_to(request: &RawMessage) -> RawMessage {
    let origin = Origin {
        host: "b.example.net",
        realm: "example.net",
    };
    answer_with(request, &origin, rc::DIAMETER_SUCCESS, None, None)
}

impl Net {
    fn new(a: AgentLimits, b: AgentLimits) -> Net {
        Net::with(a, b, false)
    }

    /// Two agents; A dials B, and B dials A too when `both`.
    fn with(a: AgentLimits, b: AgentLimits, both: bool) -> Net {
        let mut net = Net {
            now: Instant::now(),
            a: agent("a.example.net", true, a),
            b: agent("b.example.net", both, b),
            conns: HashMap::new(),
            next_conn: 1,
            queue: VecDeque::new(),
            auto_answer: true,
            held: vec![],
            wire: vec![],
            answered: vec![],
            events: vec![],
            notices: vec![],
            frozen: false,
        };
        // Both start before either's messages move: a real race when both dial.
        net.queue.push_back((Side::A, Event::Start));
        net.queue.push_back((Side::B, Event::Start));
        net.drive();
        assert!(net.a.peer().is_available() && net.b.peer().is_available());
        net
    }

    fn agent(&mut self, s: Side) -> &mut PeerAgent<u32> {
        match s {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    fn input(&mut self, s: Side, e: Event) {
        self.queue.push_back((s, e));
        self.drive();
    }

    /// A sends a request with reply token `v`, due in 30 s.
    fn request(&mut self, v: u32) -> Result<u32, (u32, Failure)> {
        let deadline = self.now + DUE;
        let r = self.a.send_request(ccr(v), deadline, v);
        self.drive();
        r
    }

    /// B's handler answers the oldest held request.
    fn answer_held(&mut self) {
        let req = self.held.remove(0);
        self.input(Side::B, Event::Answer(answer_to(&req)));
    }

    fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut busy = false;
            for s in [Side::A, Side::B] {
                while let Some(a) = self.agent(s).poll_action() {
                    busy = true;
                    self.route(s, a);
                }
            }
            if let Some((s, e)) = self.queue.pop_front() {
                busy = true;
                if !(self.frozen && s == Side::B) {
                    let now = self.now;
                    self.agent(s).handle(now, e);
                }
            }
            if !busy {
                return;
            }
        }
        panic!("agents did not settle");
    }

    fn route(&mut self, from: Side, a: Action<u32>) {
        match a {
            Action::Connect => {
                let c = ConnId(self.next_conn);
                self.next_conn += 1;
                self.conns.insert(c, (from, false));
                self.queue.push_back((from, Event::Connected(c)));
            }
            Action::CancelConnect => {}
            Action::Send(c, msg) => {
                if self.frozen && from == Side::B {
                    return;
                }
                let Some(&(dialler, accepted)) = self.conns.get(&c) else {
                    return;
                };
                let msg = RawMessage::decode(msg.to_bytes(), &Default::default())
                    .expect("agent sent undecodable bytes");
                self.wire.push((from, msg.clone()));
                let to = from.other();
                if to != dialler && !accepted {
                    let local = caps(match to {
                        Side::A => "a.example.net",
                        Side::B => "b.example.net",
                    });
                    let admitted = check_incoming(&local, &AcceptPolicy::AnyPeer, &msg, LOOPBACK)
                        .expect("CER admitted");
                    self.conns.insert(c, (dialler, true));
                    let event = Event::Incoming {
                        conn: c,
                        cer: msg,
                        caps: Box::new(admitted.caps),
                        remote: LOOPBACK,
                        vouched: false,
                    };
                    self.queue.push_back((to, event));
                } else {
                    self.queue.push_back((to, Event::Received(c, msg)));
                }
            }
            Action::Close(c) => {
                if self.conns.remove(&c).is_some() {
                    self.queue.push_back((from.other(), Event::Closed(c)));
                }
            }
            Action::Handle(req) => {
                if self.auto_answer {
                    // The driver answers inline, before the next event.
                    self.queue
                        .push_front((from, Event::Answer(answer_to(&req))));
                } else {
                    self.held.push(req);
                }
            }
            Action::Answered(v, r) => self.answered.push((v, r)),
            Action::Peer(e) => self.events.push((from, e)),
            Action::Draining => {}
            Action::Notice(n) => self.notices.push((from, n)),
        }
    }

    /// Advances the fake clock to `until`, firing timers in order.
    fn run_until(&mut self, until: Instant) {
        for _ in 0..10_000 {
            // A frozen B fires nothing.
            let b = self.b.poll_timeout().filter(|_| !self.frozen);
            let next = [self.a.poll_timeout(), b]
                .into_iter()
                .flatten()
                .filter(|t| *t <= until)
                .min();
            let Some(t) = next else {
                self.now = until;
                return;
            };
            self.now = self.now.max(t);
            self.queue.push_back((Side::A, Event::Timeout));
            self.queue.push_back((Side::B, Event::Timeout));
            self.drive();
        }
        panic!("timers did not settle");
    }

    fn codes_to_a(&self) -> Vec<Option<u32>> {
        self.wire
            .iter()
            .filter(|(s, m)| *s == Side::B && m.header.command_code == 272)
            .map(|(_, m)| result_code(m))
            .collect()
    }
}

#[test]
fn request_answered_through_both_agents() {
    let mut net = Net::new(AgentLimits::default(), AgentLimits::default());
    let hbh = net.request(7).unwrap();
    assert_eq!(net.answered.len(), 1);
    let (v, r) = net.answered.pop().unwrap();
    let answer = r.unwrap();
    assert_eq!((v, answer.header.hop_by_hop), (7, hbh));
    assert_eq!(result_code(&answer), Some(rc::DIAMETER_SUCCESS));
    assert!(net.a.pending().is_empty());
    assert_eq!(net.b.in_flight(), 0);
}

#[test]
fn pending_request_times_out_on_the_fake_clock() {
    let mut net = Net::new(AgentLimits::default(), AgentLimits::default());
    net.auto_answer = false;
    net.request(1).unwrap();
    let due = net.now + DUE;
    assert!(net.a.poll_timeout().is_some_and(|t| t <= due));
    net.run_until(due - Duration::from_millis(1));
    assert!(net.answered.is_empty());
    net.run_until(due);
    assert_eq!(net.answered, vec![(1, Err(Failure::Timeout))]);
    assert!(net.a.pending().is_empty());
    // The late answer matches nothing.
    net.answer_held();
    assert!(net
        .notices
        .iter()
        .any(|(s, n)| *s == Side::A && matches!(n, Notice::Stray(_))));
}

#[test]
fn watchdog_failure_gives_pending_requests_back_for_failover() {
    let mut net = Net::new(AgentLimits::default(), AgentLimits::default());
    net.auto_answer = false;
    net.request(1).unwrap();
    net.frozen = true;
    let start = net.now;
    // DWR at Tw, no DWA: suspect at 2 Tw, before the request's deadline.
    net.run_until(start + TW * 2);
    assert!(net
        .events
        .iter()
        .any(|(s, e)| *s == Side::A && *e == PeerEvent::Suspect));
    assert_eq!(net.answered, vec![(1, Err(Failure::PeerFailed))]);
    assert!(net.a.pending().is_empty());
    // A suspect peer takes no new request: the caller fails over.
    assert_eq!(net.request(2), Err((2, Failure::PeerFailed)));
}

#[test]
fn back_pressure_both_ways() {
    let two = AgentLimits {
        max_pending: 2,
        ..Default::default()
    };
    // A may have two requests pending.
    let mut net = Net::new(two, AgentLimits::default());
    net.auto_answer = false;
    net.request(1).unwrap();
    net.request(2).unwrap();
    assert_eq!(net.request(3), Err((3, Failure::TooBusy)));
    // B may handle two at once; the third gets 3004 from the agent itself.
    let mut net = Net::new(AgentLimits::default(), two);
    net.auto_answer = false;
    for v in 1..=3 {
        net.request(v).unwrap();
    }
    assert_eq!(net.held.len(), 2);
    assert_eq!(net.answered.len(), 1);
    let (v, r) = net.answered.remove(0);
    assert_eq!(v, 3);
    assert_eq!(result_code(&r.unwrap()), Some(rc::DIAMETER_TOO_BUSY));
    assert!(net
        .notices
        .iter()
        .any(|(s, n)| *s == Side::B && matches!(n, Notice::Busy(h) if h.end_to_end == 3)));
    // Once one is answered, B takes requests again.
    net.answer_held();
    net.request(4).unwrap();
    assert_eq!(net.held.len(), 2);
}

#[test]
fn peer_dpr_waits_for_answers_in_flight() {
    let mut net = Net::new(AgentLimits::default(), AgentLimits::default());
    net.auto_answer = false;
    net.request(1).unwrap();
    net.input(Side::A, Event::Stop(DisconnectCause::Rebooting));
    // B holds the DPR back: no DPA yet, B is draining.
    assert!(net.b.is_draining());
    let dpa = |net: &Net| {
        net.wire
            .iter()
            .position(|(s, m)| *s == Side::B && m.header.command_code == command::DISCONNECT_PEER)
    };
    assert_eq!(dpa(&net), None);
    net.answer_held();
    let answer = net
        .wire
        .iter()
        .position(|(s, m)| *s == Side::B && m.header.command_code == 272);
    assert!(answer.is_some() && dpa(&net) > answer, "answer, then DPA");
    assert!(!net.b.is_draining());
    assert!(net.b.is_unused(), "accepted peer closed and forgotten");
}

#[test]
fn an_answer_the_driver_wrote_itself_counts_as_answered() {
    let mut net = Net::new(AgentLimits::default(), AgentLimits::default());
    net.auto_answer = false;
    // Open: answers go out on B's one connection, the one A's request came on.
    let conn = net.b.answer_conn().expect("B is open");
    assert!(net.conns.contains_key(&conn));
    net.request(1).unwrap();
    net.input(Side::A, Event::Stop(DisconnectCause::Rebooting));
    assert!(net.b.is_draining(), "one answer in flight");
    // The driver wrote the answer itself: nothing for the agent to send, the drain ends.
    let sent = net.wire.len();
    net.held.remove(0);
    net.input(Side::B, Event::AnswerWritten);
    assert!(!net.b.is_draining());
    let dpa = net.wire[sent..]
        .iter()
        .any(|(s, m)| *s == Side::B && m.header.command_code == command::DISCONNECT_PEER);
    assert!(dpa, "DPA after the written answer");
    assert!(
        !net.wire[sent..]
            .iter()
            .any(|(s, m)| *s == Side::B && m.header.command_code == 272),
        "the agent sent no answer of its own"
    );
    assert_eq!(
        net.b.answer_conn(),
        None,
        "closed: no connection to answer on"
    );
}

#[test]
fn drain_ends_at_its_deadline() {
    let limits = AgentLimits {
        drain_timeout: Duration::from_secs(3),
        ..Default::default()
    };
    let mut net = Net::new(AgentLimits::default(), limits);
    net.auto_answer = false;
    net.request(1).unwrap();
    net.input(Side::A, Event::Stop(DisconnectCause::Rebooting));
    let start = net.now;
    net.run_until(start + Duration::from_millis(2999));
    assert!(net.b.is_draining());
    net.run_until(start + Duration::from_secs(3));
    assert!(!net.b.is_draining());
    assert!(net.notices.contains(&(Side::B, Notice::DrainTimedOut(1))));
    assert!(net.wire.iter().any(|(s, m)| *s == Side::B
        && m.header.command_code == command::DISCONNECT_PEER
        && !m.header.is_request()));
}

#[test]
fn our_stop_drains_and_refuses_new_requests_with_3004() {
    let mut net = Net::new(AgentLimits::default(), AgentLimits::default());
    net.auto_answer = false;
    net.request(1).unwrap();
    net.input(Side::B, Event::Stop(DisconnectCause::Rebooting));
    assert!(net.b.is_draining());
    net.request(2).unwrap();
    assert_eq!(net.codes_to_a(), vec![Some(rc::DIAMETER_TOO_BUSY)]);
    // A stop asked for again meanwhile is kept, not applied twice.
    net.input(Side::B, Event::Stop(DisconnectCause::Busy));
    net.answer_held();
    assert_eq!(
        net.codes_to_a(),
        vec![Some(rc::DIAMETER_TOO_BUSY), Some(rc::DIAMETER_SUCCESS)]
    );
    let dpr = net
        .wire
        .iter()
        .filter(|(s, m)| {
            *s == Side::B
                && m.header.command_code == command::DISCONNECT_PEER
                && m.header.is_request()
        })
        .count();
    assert_eq!(dpr, 1);
}

#[test]
fn a_dialled_peer_is_not_taken_from_another_address() {
    let mut a: PeerAgent<u32> = agent("a.example.net", true, AgentLimits::default());
    let now = Instant::now();
    let cer = crate::peer::capabilities::cer(&caps("a.example.net"), 1, 1);
    let other: IpAddr = "192.0.2.9".parse().unwrap();
    let incoming = |vouched| Event::Incoming {
        conn: ConnId(9),
        cer: cer.clone(),
        caps: Box::new((*caps("a.example.net")).clone()),
        remote: other,
        vouched,
    };
    a.handle(now, incoming(false));
    let actions: Vec<_> = std::iter::from_fn(|| a.poll_action()).collect();
    assert!(matches!(&actions[0], Action::Notice(Notice::ContendRefused(ip)) if *ip == other));
    assert!(
        matches!(&actions[1], Action::Send(ConnId(9), cea) if result_code(cea) == Some(rc::DIAMETER_UNKNOWN_PEER))
    );
    assert!(matches!(&actions[2], Action::Close(ConnId(9))));
    // With a certificate vouching for it, the election decides.
    a.handle(now, incoming(true));
    assert!(!std::iter::from_fn(|| a.poll_action())
        .any(|x| matches!(x, Action::Notice(Notice::ContendRefused(_)))));
}

#[test]
fn election_when_both_dial_keeps_one_connection() {
    let mut net = Net::with(AgentLimits::default(), AgentLimits::default(), true);
    assert_eq!(
        net.conns.len(),
        1,
        "the election closed one of the two connections"
    );
    // RFC 6733 §5.6.4: the higher Origin-Host ("b.example.net") wins and closes the
    // connection it initiated: the one A dialled is kept.
    let (&kept, &(dialler, _)) = net.conns.iter().next().unwrap();
    assert_eq!(dialler, Side::A);
    assert_eq!(net.a.peer().active_conn(), Some(kept));
    assert_eq!(net.b.peer().active_conn(), Some(kept));
    // Both agents work over it.
    net.request(5).unwrap();
    assert!(matches!(&net.answered[..], [(5, Ok(_))]));
}
