//! Two peers driven against each other over a simulated network with a fake clock.

use super::*;
use crate::fields::{result_code, str_avp};
use crate::header::Header;
use std::collections::{HashMap, VecDeque};

const LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

struct Pair {
    now: Instant,
    a: Peer,
    b: Peer,
    policy: [AcceptPolicy; 2],
    /// conn -> (initiator, whether the responder has accepted it yet)
    conns: HashMap<ConnId, (Side, bool)>,
    next_conn: u64,
    queue: VecDeque<(Side, Input)>,
    /// A side that neither receives nor sends (a hung process).
    frozen: Option<Side>,
    /// Refuse new connections to this side.
    refuse: Option<Side>,
    delivered: Vec<(Side, RawMessage)>,
    events: Vec<(Side, PeerEvent)>,
    rejections: Vec<(Side, u32)>,
}

fn caps(host: &str, apps: &[u32]) -> Capabilities {
    Capabilities {
        origin_host: host.into(),
        origin_realm: "example.net".into(),
        host_ip_addresses: vec![std::net::IpAddr::from([127, 0, 0, 1])],
        vendor_id: 0,
        product_name: "pair".into(),
        auth_applications: apps.to_vec(),
        ..Default::default()
    }
}

fn settings(initiate: bool) -> PeerSettings {
    PeerSettings {
        initiate,
        tw: Duration::from_secs(6),
        tw_jitter: Duration::ZERO,
        tc: Duration::from_secs(10),
        ..Default::default()
    }
}

impl Pair {
    fn new(a: Capabilities, a_init: bool, b: Capabilities, b_init: bool) -> Pair {
        Pair {
            now: Instant::now(),
            a: Peer::new(Arc::new(a), settings(a_init), 1, 1000),
            b: Peer::new(Arc::new(b), settings(b_init), 2, 2000),
            policy: [AcceptPolicy::AnyPeer, AcceptPolicy::AnyPeer],
            conns: HashMap::new(),
            next_conn: 1,
            queue: VecDeque::new(),
            frozen: None,
            refuse: None,
            delivered: vec![],
            events: vec![],
            rejections: vec![],
        }
    }

    fn peer(&mut self, s: Side) -> &mut Peer {
        match s {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    fn local(&self, s: Side) -> Arc<Capabilities> {
        match s {
            Side::A => self.a.local.clone(),
            Side::B => self.b.local.clone(),
        }
    }

    fn input(&mut self, s: Side, i: Input) {
        self.queue.push_back((s, i));
        self.drive();
    }

    /// Moves outputs to inputs until nothing happens (bounded).
    fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut busy = false;
            for s in [Side::A, Side::B] {
                while let Some(o) = self.peer(s).poll_output() {
                    busy = true;
                    self.route(s, o);
                }
            }
            if let Some((s, i)) = self.queue.pop_front() {
                busy = true;
                if self.frozen != Some(s) {
                    let now = self.now;
                    self.peer(s).handle(now, i);
                }
            }
            if !busy {
                return;
            }
        }
        panic!("pair did not settle");
    }

    fn route(&mut self, from: Side, o: Output) {
        match o {
            Output::Connect => {
                if self.refuse == Some(from.other()) {
                    self.queue.push_back((from, Input::ConnectFailed));
                    return;
                }
                let c = ConnId(self.next_conn);
                self.next_conn += 1;
                self.conns.insert(c, (from, false));
                self.queue.push_back((from, Input::ConnectOk(c)));
            }
            Output::CancelConnect => {}
            Output::Send(c, msg) => {
                if self.frozen == Some(from) {
                    return;
                }
                let Some(&(init, accepted)) = self.conns.get(&c) else {
                    return;
                };
                // Over the wire and back: the encoding must decode.
                let msg = RawMessage::decode(msg.to_bytes(), &Default::default())
                    .expect("peer sent undecodable bytes");
                let to = from.other();
                if to != init && !accepted {
                    let local = self.local(to);
                    let idx = if to == Side::A { 0 } else { 1 };
                    match check_incoming(&local, &self.policy[idx], &msg, LOOPBACK) {
                        Ok(admitted) => {
                            let caps = admitted.caps;
                            self.conns.insert(c, (init, true));
                            self.queue.push_back((
                                to,
                                Input::Incoming {
                                    conn: c,
                                    cer: msg,
                                    caps: Box::new(caps),
                                },
                            ));
                        }
                        Err(rej) => {
                            self.rejections.push((to, rej.result_code));
                            if let Some(ans) = rej.answer {
                                self.queue.push_back((from, Input::Received(c, ans)));
                            }
                            self.conns.remove(&c);
                            self.queue.push_back((from, Input::Disconnected(c)));
                        }
                    }
                } else {
                    self.queue.push_back((to, Input::Received(c, msg)));
                }
            }
            Output::Close(c) => {
                if let Some((init, accepted)) = self.conns.remove(&c) {
                    let to = from.other();
                    if to == init || accepted {
                        self.queue.push_back((to, Input::Disconnected(c)));
                    }
                }
            }
            Output::Deliver(m) => self.delivered.push((from, m)),
            Output::Event(e) => self.events.push((from, e)),
        }
    }

    /// Advances the fake clock to `until`, firing timers in order.
    fn run_until(&mut self, until: Instant) {
        for _ in 0..10_000 {
            let frozen = self.frozen;
            let next = [
                (Side::A, self.a.poll_timeout()),
                (Side::B, self.b.poll_timeout()),
            ]
            .into_iter()
            .filter(|(s, _)| Some(*s) != frozen)
            .filter_map(|(_, t)| t)
            .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    for s in [Side::A, Side::B] {
                        if self.peer(s).poll_timeout().is_some_and(|d| d <= t) {
                            self.queue.push_back((s, Input::Timeout));
                        }
                    }
                    self.drive();
                }
                _ => {
                    self.now = until;
                    return;
                }
            }
        }
        panic!("timers did not settle");
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn events_of(&self, s: Side) -> Vec<PeerEvent> {
        self.events
            .iter()
            .filter(|(x, _)| *x == s)
            .map(|(_, e)| e.clone())
            .collect()
    }

    fn app_request(&self, app: u32) -> RawMessage {
        let h = Header::new(
            272,
            app,
            CommandFlags::REQUEST | CommandFlags::PROXIABLE,
            0,
            77,
        );
        RawMessage::from_avps(h, &[str_avp(avp::SESSION_ID, "s;1;2")])
    }
}

use crate::header::CommandFlags;

fn open_pair() -> Pair {
    let mut p = Pair::new(
        caps("client.example.net", &[4]),
        true,
        caps("server.example.net", &[4]),
        false,
    );
    p.input(Side::A, Input::Start);
    p
}

#[test]
fn cer_cea_opens_both_sides() {
    let p = open_pair();
    assert_eq!(p.a.state(), PeerState::IOpen);
    assert_eq!(p.b.state(), PeerState::ROpen);
    assert!(p.a.is_available() && p.b.is_available());
    assert_eq!(
        p.a.remote().map(|c| c.origin_host.as_str()),
        Some("server.example.net")
    );
    assert_eq!(
        p.b.remote().map(|c| c.origin_host.as_str()),
        Some("client.example.net")
    );
    assert!(p.b.remote().is_some_and(|c| c.host_ip_addresses.len() == 1));
    assert!(matches!(p.events_of(Side::A)[0], PeerEvent::Up { .. }));
}

#[test]
fn application_messages_flow_both_ways() {
    let mut p = open_pair();
    let req = p.app_request(4);
    let hbh = p.a.send(req).unwrap();
    p.drive();
    let (side, got) = p.delivered.pop().unwrap();
    assert_eq!(side, Side::B);
    assert_eq!(got.header.hop_by_hop, hbh);
    assert_eq!(
        p.a.send(p.app_request(5)),
        Err(PeerError::ApplicationUnsupported(5))
    );
}

#[test]
fn election_keeps_one_connection() {
    // Both sides connect at once; "b" sorts after "a", so B wins and keeps its responder
    // connection (the one A initiated).
    let mut p = Pair::new(
        caps("a.example.net", &[4]),
        true,
        caps("b.example.net", &[4]),
        true,
    );
    p.queue.push_back((Side::A, Input::Start));
    p.queue.push_back((Side::B, Input::Start));
    p.drive();
    assert_eq!(p.a.state(), PeerState::IOpen);
    assert_eq!(p.b.state(), PeerState::ROpen);
    assert_eq!(p.a.active_conn(), p.b.active_conn());
    assert_eq!(p.conns.len(), 1, "the losing connection is closed");
    // Still works after the election.
    p.run_for(Duration::from_secs(30));
    assert!(p.a.is_available() && p.b.is_available());
}

#[test]
fn election_is_case_insensitive() {
    assert_eq!(
        cmp_identity("B.example", "a.example"),
        std::cmp::Ordering::Greater
    );
    assert_eq!(
        cmp_identity("A.EXAMPLE", "a.example"),
        std::cmp::Ordering::Equal
    );
}

#[test]
fn watchdog_keeps_an_idle_connection_up() {
    let mut p = open_pair();
    p.run_for(Duration::from_secs(120));
    assert!(p.a.is_available() && p.b.is_available());
    assert_eq!(p.a.watchdog_state(), WatchdogState::Okay);
}

#[test]
fn watchdog_suspect_down_then_reopen_needs_three_dwas() {
    let mut p = open_pair();
    p.frozen = Some(Side::B);
    // Tw: DWR sent; 2 Tw: SUSPECT; 3 Tw: DOWN (Tw = 6 s, no jitter).
    p.run_for(Duration::from_millis(12_100));
    assert_eq!(p.a.watchdog_state(), WatchdogState::Suspect);
    assert!(p.events_of(Side::A).contains(&PeerEvent::Suspect));
    assert!(!p.a.is_available());
    p.run_for(Duration::from_secs(6));
    assert_eq!(p.a.state(), PeerState::Closed);
    assert!(p
        .events_of(Side::A)
        .contains(&PeerEvent::Down(DownReason::Watchdog)));
    // B wakes up; A reconnects after Tc; B's old connection is gone.
    p.frozen = None;
    p.input(Side::B, Input::Disconnected(ConnId(1)));
    p.run_for(Duration::from_secs(10));
    assert_eq!(p.a.state(), PeerState::IOpen);
    assert_eq!(p.a.watchdog_state(), WatchdogState::Reopen);
    assert!(!p.a.is_available(), "REOPEN holds traffic back");
    assert!(matches!(
        p.a.send(p.app_request(4)),
        Err(PeerError::NotAvailable(WatchdogState::Reopen))
    ));
    // One DWA answered at once, then one per Tw: OKAY after the third.
    p.run_for(Duration::from_secs(7));
    assert_eq!(p.a.watchdog_state(), WatchdogState::Reopen);
    p.run_for(Duration::from_secs(7));
    assert_eq!(p.a.watchdog_state(), WatchdogState::Okay);
    assert!(p.a.is_available());
    assert_eq!(p.events_of(Side::A).last(), Some(&PeerEvent::Available));
}

#[test]
fn suspect_recovers_on_any_message() {
    let mut p = open_pair();
    p.frozen = Some(Side::B);
    p.run_for(Duration::from_millis(12_100));
    assert_eq!(p.a.watchdog_state(), WatchdogState::Suspect);
    p.frozen = None;
    // B sends something: a DWR of its own.
    let c = p.b.active_conn().unwrap();
    let dwr = messages::dwr(&p.b.local, 9, 9);
    p.queue.push_back((Side::A, Input::Received(c, dwr)));
    p.drive();
    assert_eq!(p.a.watchdog_state(), WatchdogState::Okay);
    assert!(p.events_of(Side::A).contains(&PeerEvent::Available));
}

#[test]
fn dpr_closes_and_stopped_side_does_not_reconnect() {
    let mut p = open_pair();
    p.input(Side::A, Input::Stop(DisconnectCause::Rebooting));
    assert_eq!(p.a.state(), PeerState::Closed);
    assert_eq!(p.b.state(), PeerState::Closed);
    assert!(p
        .events_of(Side::A)
        .contains(&PeerEvent::Down(DownReason::Stopped)));
    assert!(p
        .events_of(Side::B)
        .contains(&PeerEvent::Down(DownReason::PeerDisconnected(
            DisconnectCause::Rebooting
        ))));
    p.run_for(Duration::from_secs(100));
    assert_eq!(p.a.state(), PeerState::Closed);
    assert!(p.conns.is_empty());
}

#[test]
fn dpr_rebooting_reconnects_after_tc_but_busy_does_not() {
    // The server (B) says REBOOTING: the client reconnects after Tc.
    let mut p = open_pair();
    p.input(Side::B, Input::Stop(DisconnectCause::Rebooting));
    assert_eq!(p.a.state(), PeerState::Closed);
    p.run_for(Duration::from_secs(11));
    assert_eq!(p.a.state(), PeerState::IOpen);

    let mut p = open_pair();
    p.input(Side::B, Input::Stop(DisconnectCause::Busy));
    p.run_for(Duration::from_secs(300));
    assert_eq!(p.a.state(), PeerState::Closed);
    assert!(p
        .events_of(Side::A)
        .contains(&PeerEvent::Down(DownReason::PeerDisconnected(
            DisconnectCause::Busy
        ))));
}

#[test]
fn no_common_application_is_5010() {
    let mut p = Pair::new(
        caps("client.example.net", &[4]),
        true,
        caps("server.example.net", &[5]),
        false,
    );
    p.input(Side::A, Input::Start);
    assert_eq!(p.a.state(), PeerState::Closed);
    assert_eq!(p.b.state(), PeerState::Closed);
    assert!(p
        .events_of(Side::A)
        .contains(&PeerEvent::Down(DownReason::CapabilitiesRejected(
            rc::DIAMETER_NO_COMMON_APPLICATION
        ))));
}

#[test]
fn relay_application_matches_everything() {
    let mut p = Pair::new(
        caps("client.example.net", &[4]),
        true,
        caps("relay.example.net", &[crate::base::app::RELAY]),
        false,
    );
    p.input(Side::A, Input::Start);
    assert_eq!(p.a.state(), PeerState::IOpen);
    assert!(p.a.common_applications().supports(4));
}

#[test]
fn unknown_peer_is_3010() {
    let mut p = open_pair_with_policy(AcceptPolicy::AllowList(vec!["other.example.net".into()]));
    assert_eq!(p.a.state(), PeerState::Closed);
    assert_eq!(p.rejections, vec![(Side::B, rc::DIAMETER_UNKNOWN_PEER)]);
    assert!(p
        .events_of(Side::A)
        .contains(&PeerEvent::Down(DownReason::CapabilitiesRejected(
            rc::DIAMETER_UNKNOWN_PEER
        ))));
    // Allowed (case-insensitively) once listed.
    p = open_pair_with_policy(AcceptPolicy::AllowList(vec!["CLIENT.example.net".into()]));
    assert_eq!(p.a.state(), PeerState::IOpen);
}

fn open_pair_with_policy(policy: AcceptPolicy) -> Pair {
    let mut p = Pair::new(
        caps("client.example.net", &[4]),
        true,
        caps("server.example.net", &[4]),
        false,
    );
    p.policy[1] = policy;
    p.input(Side::A, Input::Start);
    p
}

#[test]
fn unknown_peer_cea_has_e_bit() {
    let local = caps("server.example.net", &[4]);
    let cer = capabilities::cer(&caps("x.example.net", &[4]), 1, 1);
    let rej = check_incoming(&local, &AcceptPolicy::AllowList(vec![]), &cer, LOOPBACK).unwrap_err();
    let ans = rej.answer.unwrap();
    assert!(ans.header.is_error());
    assert_eq!(result_code(&ans), Some(rc::DIAMETER_UNKNOWN_PEER));
}

#[test]
fn first_message_not_cer_is_dropped_without_answer() {
    let local = caps("server.example.net", &[4]);
    let dwr = messages::dwr(&caps("x", &[]), 1, 1);
    let rej = check_incoming(&local, &AcceptPolicy::AnyPeer, &dwr, LOOPBACK).unwrap_err();
    assert!(rej.answer.is_none());
}

#[test]
fn connect_failure_backs_off() {
    let mut p = Pair::new(
        caps("client.example.net", &[4]),
        true,
        caps("server.example.net", &[4]),
        false,
    );
    p.refuse = Some(Side::B);
    p.input(Side::A, Input::Start);
    assert_eq!(p.a.state(), PeerState::Closed);
    let first = p.a.poll_timeout().unwrap() - p.now;
    assert_eq!(first, Duration::from_secs(10));
    p.run_for(first);
    let second = p.a.poll_timeout().unwrap() - p.now;
    assert_eq!(second, Duration::from_secs(20));
    p.refuse = None;
    p.run_for(second);
    assert_eq!(p.a.state(), PeerState::IOpen);
}

#[test]
fn cea_timeout_closes() {
    let mut p = open_pair();
    p.input(Side::A, Input::Stop(DisconnectCause::Rebooting));
    p.frozen = Some(Side::B);
    p.input(Side::A, Input::Start);
    assert_eq!(p.a.state(), PeerState::WaitICea);
    p.run_for(Duration::from_secs(11));
    assert_eq!(p.a.state(), PeerState::Closed);
    assert!(p
        .events_of(Side::A)
        .contains(&PeerEvent::Down(DownReason::Timeout)));
}

#[test]
fn second_cer_while_open_is_rejected() {
    let mut p = open_pair();
    let c = ConnId(99);
    let cer = capabilities::cer(&p.a.local.clone(), 5, 5);
    let caps = Capabilities::parse(&cer).unwrap();
    let now = p.now;
    p.b.handle(
        now,
        Input::Incoming {
            conn: c,
            cer,
            caps: Box::new(caps),
        },
    );
    assert!(matches!(p.b.poll_output(), Some(Output::Close(ConnId(99)))));
    assert_eq!(p.b.state(), PeerState::ROpen);
}

/// Found by the `peer_fsm` fuzz target: a DPA made the peer close its connection twice
/// (once for the DPA, once more when closing all it held). A driver that reuses connection
/// ids would then close an unrelated connection.
#[test]
fn dpa_closes_the_connection_once() {
    let mut p = open_pair();
    let c = p.a.active_conn().expect("open");
    p.frozen = Some(Side::B); // the DPR is answered by hand
    p.input(Side::A, Input::Stop(DisconnectCause::Rebooting));
    assert_eq!(p.a.state(), PeerState::Closing);
    let dpr = Header::new(command::DISCONNECT_PEER, 0, CommandFlags::REQUEST, 7, 7);
    let dpa = messages::dpa(&p.local(Side::B), &dpr, rc::DIAMETER_SUCCESS);
    let now = p.now;
    p.a.handle(now, Input::Received(c, dpa));
    let mut closes = 0;
    while let Some(o) = p.a.poll_output() {
        if matches!(o, Output::Close(x) if x == c) {
            closes += 1;
        }
    }
    assert_eq!(closes, 1, "the connection is closed exactly once");
    assert_eq!(p.a.state(), PeerState::Closed);
}

#[test]
fn a_cea_saying_the_peer_lost_the_election_waits_for_its_cer_and_reports_nothing_down() {
    // freeDiameter, losing the election, answers our CER with 4003 ELECTION_LOST on the
    // connection we opened, and keeps the one it opened to us; its CER may reach us after.
    let t0 = Instant::now();
    let local = Arc::new(caps("zz.example.net", &[4]));
    let mut p = Peer::new(local.clone(), settings(true), 1, 1000);
    let outputs = |p: &mut Peer| std::iter::from_fn(|| p.poll_output()).collect::<Vec<_>>();
    p.handle(t0, Input::Start);
    assert!(outputs(&mut p).iter().any(|o| matches!(o, Output::Connect)));
    p.handle(t0, Input::ConnectOk(ConnId(1)));
    let sent = outputs(&mut p);
    let Some(Output::Send(_, cer)) = sent.iter().find(|o| matches!(o, Output::Send(..))) else {
        panic!("no CER: {sent:?}");
    };
    let theirs = caps("fd.example.net", &[4]);
    let lost = capabilities::cea(&theirs, &cer.header, rc::ELECTION_LOST, None, None);
    p.handle(t0, Input::Received(ConnId(1), lost));
    let after = outputs(&mut p);
    assert_eq!(p.state(), PeerState::Closed);
    assert!(
        after.iter().any(|o| matches!(o, Output::Close(ConnId(1)))),
        "{after:?}"
    );
    assert!(
        !after
            .iter()
            .any(|o| matches!(o, Output::Event(PeerEvent::Down(_)))),
        "{after:?}"
    );
    // Its CER on the connection it opened: answered 2001, open, one Up.
    let their_cer = capabilities::cer(&theirs, 7, 7);
    p.handle(
        t0,
        Input::Incoming {
            conn: ConnId(2),
            cer: their_cer,
            caps: Box::new(theirs.clone()),
        },
    );
    let opened = outputs(&mut p);
    assert_eq!(p.state(), PeerState::ROpen);
    assert!(opened
        .iter()
        .any(|o| matches!(o, Output::Send(ConnId(2), _))));
    assert!(opened
        .iter()
        .any(|o| matches!(o, Output::Event(PeerEvent::Up { .. }))));
}
