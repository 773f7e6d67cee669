//! The node-wide agent on a fake clock, with no sockets: peers are names, handlers are
//! the test, answers are fed back by hand.

use super::node::{Action, Agent, AgentConfig, Inbound, PeerChange, RouteError};
use super::{FailoverPolicy, Failure};
use crate::answer::{answer_with, Origin};
use crate::base::avp;
use crate::fields::{result_code, str_avp};
use crate::header::{CommandFlags, Header};
use crate::message::RawMessage;
use crate::peer::CommonApplications;
use crate::result_code as rc;
use crate::routing::{Decision, Route, RouteAction};
use std::time::{Duration, Instant};

/// The peer handle is its name; a waiter is a number.
type TestAgent = Agent<&'static str, u32>;

fn config(forwards: bool) -> AgentConfig {
    let mut c = AgentConfig::new("relay.a.net", "a.net");
    c.forwards = forwards;
    c
}

fn up(agent: &mut TestAgent, host: &'static str, realm: &str, apps: &[u32]) {
    agent.input(PeerChange::PeerUp {
        host: host.into(),
        handle: host,
        realm: realm.into(),
        common: CommonApplications {
            ids: apps.iter().copied().collect(),
            relay: false,
        },
        relay: false,
        available: true,
    });
}

fn request(app: u32, realm: &str, e2e: u32, hbh: u32, t: bool) -> RawMessage {
    let flags = CommandFlags::REQUEST
        | CommandFlags::PROXIABLE
        | if t { CommandFlags::RETRANSMIT } else { 0 };
    RawMessage::from_avps(
        Header::new(272, app, flags, hbh, e2e),
        &[
            str_avp(avp::SESSION_ID, "c;1"),
            str_avp(avp::ORIGIN_HOST, "client.c.net"),
            str_avp(avp::ORIGIN_REALM, "c.net"),
            str_avp(avp::DESTINATION_REALM, realm),
        ],
    )
}

fn answer(request: &RawMessage, code: u32) -> RawMessage {
    let origin = Origin {
        host: "server",
        realm: "b.net",
    };
    answer_with(request, &origin, code, None, None)
}

fn actions(agent: &mut TestAgent) -> Vec<Action<&'static str, u32>> {
    std::iter::from_fn(|| agent.poll_action()).collect()
}

/// The one `Send` among the actions: (peer, id, message).
fn sent(agent: &mut TestAgent) -> (&'static str, super::RequestId, RawMessage) {
    let mut sends: Vec<_> = actions(agent)
        .into_iter()
        .filter_map(|a| match a {
            Action::Send { peer, id, msg, .. } => Some((peer, id, msg)),
            _ => None,
        })
        .collect();
    assert_eq!(sends.len(), 1, "one send");
    sends.remove(0)
}

fn answered(agent: &mut TestAgent) -> (u32, Result<RawMessage, RouteError>) {
    actions(agent)
        .into_iter()
        .find_map(|a| match a {
            Action::Answered(w, r) => Some((w, r)),
            _ => None,
        })
        .expect("answered")
}

#[test]
fn answered_request_is_replayed_from_the_cache() {
    let t0 = Instant::now();
    let mut agent = TestAgent::new(config(false));
    let first = request(4, "a.net", 7, 1, false);
    let Inbound::Handle(req) = agent.receive(t0, "client.c.net", first, None, || 0) else {
        panic!("not handled locally");
    };
    let done = agent.handler_done(t0, &req, None, Some(answer(&req, 2001)));
    assert_eq!(done.map(|a| result_code(&a)), Some(Some(2001)));
    // The retransmission (T flag, another Hop-by-Hop id) gets the saved answer: the
    // handler does not run again.
    let again = request(4, "a.net", 7, 99, true);
    // (A decision the caller took does not skip the cache for a retransmission.)
    let decided = Some(Decision::Local);
    match agent.receive(
        t0 + Duration::from_secs(1),
        "client.c.net",
        again,
        decided,
        || 0,
    ) {
        Inbound::Answer(a) => {
            assert_eq!(a.header.hop_by_hop, 99);
            assert_eq!(result_code(&a), Some(2001));
        }
        other => panic!("not replayed: {other:?}"),
    }
    // Without the T flag it is a new request.
    let plain = request(4, "a.net", 7, 100, false);
    assert!(matches!(
        agent.receive(t0, "client.c.net", plain, None, || 0),
        Inbound::Handle(_)
    ));
    // After the cache's time to live, the retransmission is handled again.
    let late = request(4, "a.net", 7, 101, true);
    assert!(matches!(
        agent.receive(
            t0 + Duration::from_secs(61),
            "client.c.net",
            late,
            None,
            || 0
        ),
        Inbound::Handle(_)
    ));
}

/// A handler that answers retransmissions itself: its answers are not saved, and a
/// retransmission runs it again; other requests' answers still are.
#[test]
fn answers_of_a_self_deduplicating_handler_are_not_saved() {
    let t0 = Instant::now();
    let mut c = config(false);
    c.self_deduplicating = vec![(4, 272)];
    let mut agent = TestAgent::new(c);
    for (app, e2e) in [(4, 7), (16777238, 8)] {
        let Inbound::Handle(req) = agent.receive(
            t0,
            "client.c.net",
            request(app, "a.net", e2e, 1, false),
            None,
            || 0,
        ) else {
            panic!("not handled locally");
        };
        assert!(agent
            .handler_done(t0, &req, None, Some(answer(&req, 2001)))
            .is_some());
    }
    assert_eq!(agent.duplicate_cache().len(), 1);
    let again = request(4, "a.net", 7, 99, true);
    assert!(matches!(
        agent.receive(t0, "client.c.net", again, None, || 0),
        Inbound::Handle(_)
    ));
    let other = request(16777238, "a.net", 8, 99, true);
    assert!(matches!(
        agent.receive(t0, "client.c.net", other, None, || 0),
        Inbound::Answer(_)
    ));
}

#[test]
fn retransmission_waits_for_the_answer_in_progress() {
    let t0 = Instant::now();
    let mut agent = TestAgent::new(config(false));
    let Inbound::Handle(req) =
        agent.receive(t0, "p1", request(4, "a.net", 7, 1, false), None, || 0)
    else {
        panic!("not handled");
    };
    let key = agent.handler_started(&req);
    assert!(key.is_some());
    // Two retransmissions arrive (through other peers) while the handler runs.
    let mut made = 0;
    for (hbh, w) in [(20, 2), (30, 3)] {
        let dup = request(4, "a.net", 7, hbh, true);
        let held = agent.receive(t0, "p2", dup, None, || {
            made += 1;
            w
        });
        assert!(matches!(held, Inbound::Held));
    }
    assert_eq!(made, 2);
    assert!(actions(&mut agent).is_empty(), "no answer yet");
    let ans = agent.handler_done(t0, &req, key, Some(answer(&req, 2001)));
    assert_eq!(ans.map(|a| a.header.hop_by_hop), Some(1));
    let replies: Vec<(u32, u32)> = actions(&mut agent)
        .into_iter()
        .filter_map(|a| match a {
            Action::Reply(w, a) => Some((w, a.header.hop_by_hop)),
            _ => None,
        })
        .collect();
    assert_eq!(replies, vec![(2, 20), (3, 30)]);
    // A request of another End-to-End id is not held: its waiter is never made.
    let other = request(4, "a.net", 8, 40, true);
    assert!(matches!(
        agent.receive(t0, "p2", other, None, || panic!("made")),
        Inbound::Handle(_)
    ));
}

#[test]
fn routing_picks_peers_by_realm_application_and_state() {
    let t0 = Instant::now();
    let due = t0 + Duration::from_secs(5);
    let mut agent = TestAgent::new(config(true));
    up(&mut agent, "srv1.b.net", "b.net", &[4]);
    up(&mut agent, "srv2.b.net", "b.net", &[4]);
    up(&mut agent, "sip.b.net", "b.net", &[6]);
    up(&mut agent, "srv.e.net", "e.net", &[4]);
    // Realm b.net, application 4: the two servers in turn, never sip.b.net or e.net.
    let mut seen = std::collections::BTreeSet::new();
    for w in 0..4 {
        agent.request(t0, request(4, "b.net", w, 0, false), due, w);
        seen.insert(sent(&mut agent).0);
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["srv1.b.net", "srv2.b.net"]
    );
    // Application 6 goes to the SIP server.
    agent.request(t0, request(6, "b.net", 9, 0, false), due, 9);
    assert_eq!(sent(&mut agent).0, "sip.b.net");
    // A suspect peer gets nothing; it takes requests again when available.
    agent.input(PeerChange::PeerUnavailable("SRV1.b.net".into()));
    for w in 10..13 {
        agent.request(t0, request(4, "b.net", w, 0, false), due, w);
        assert_eq!(sent(&mut agent).0, "srv2.b.net");
    }
    agent.input(PeerChange::PeerDown("srv2.b.net".into()));
    agent.input(PeerChange::PeerAvailable("srv1.b.net".into()));
    agent.request(t0, request(4, "b.net", 20, 0, false), due, 20);
    assert_eq!(sent(&mut agent).0, "srv1.b.net");
    // A routing table entry: application 4 of realm z.net is relayed to srv.e.net.
    let mut c = config(true);
    c.routes
        .add(Route::realm("z.net", RouteAction::Relay, vec!["srv.e.net".into()]).application(4));
    let mut routed = TestAgent::new(c);
    up(&mut routed, "srv1.b.net", "b.net", &[4]);
    up(&mut routed, "srv.e.net", "e.net", &[4]);
    let relayed = routed.receive(
        t0,
        "client.c.net",
        request(4, "z.net", 1, 5, false),
        None,
        || 1,
    );
    assert!(matches!(relayed, Inbound::Held));
    let (peer, _, msg) = sent(&mut routed);
    assert_eq!(peer, "srv.e.net");
    assert_eq!(
        msg.find(avp::ROUTE_RECORD, 0).map(|a| a.data),
        Some(bytes::Bytes::from_static(b"client.c.net")),
        "Route-Record names the peer it came from"
    );
}

#[test]
fn failover_resends_to_a_second_peer_with_the_t_flag() {
    let t0 = Instant::now();
    let due = t0 + Duration::from_secs(5);
    let mut c = config(true);
    c.routes
        .add(Route::realm("b.net", RouteAction::Relay, vec![]));
    let mut agent = TestAgent::new(c);
    up(&mut agent, "srv1.b.net", "b.net", &[4]);
    up(&mut agent, "srv2.b.net", "b.net", &[4]);
    // A relayed request: the answer goes back to the peer it came from.
    let held = agent.receive(
        t0,
        "client.c.net",
        request(4, "b.net", 7, 55, false),
        None,
        || 1,
    );
    assert!(matches!(held, Inbound::Held));
    let (first, id, msg) = sent(&mut agent);
    assert!(!msg.header.is_retransmit());
    // The first peer fails with it pending: it goes to the other one, with the T flag.
    agent.input(PeerChange::PeerUnavailable(first.into()));
    agent.peer_result(t0 + Duration::from_secs(1), id, Err(Failure::PeerFailed));
    let all = actions(&mut agent);
    assert!(all
        .iter()
        .any(|a| matches!(a, Action::Failover { from, end_to_end: 7 } if from == first)));
    let (second, id2, msg2) = all
        .into_iter()
        .find_map(|a| match a {
            Action::Send { peer, id, msg, .. } => Some((peer, id, msg)),
            _ => None,
        })
        .expect("re-sent");
    assert_ne!(second, first);
    assert_eq!(id2, id);
    assert!(msg2.header.is_retransmit(), "T flag on the resend");
    assert_eq!(msg2.header.end_to_end, 7);
    // Its answer goes back with the Hop-by-Hop id of the request as received.
    let mut ans = answer(&msg2, 2001);
    ans.header.hop_by_hop = 1234;
    agent.peer_result(t0 + Duration::from_secs(1), id2, Ok(ans));
    let reply = actions(&mut agent).into_iter().find_map(|a| match a {
        Action::Reply(w, a) => Some((w, a)),
        _ => None,
    });
    let (w, a) = reply.expect("reply");
    assert_eq!(
        (w, a.header.hop_by_hop, result_code(&a)),
        (1, 55, Some(2001))
    );
    assert_eq!(agent.outgoing(), 0);
    // Fail fast: no resend, the application gets the failure.
    let mut c = config(true);
    c.failover = FailoverPolicy::FailFast;
    let mut fast = TestAgent::new(c);
    up(&mut fast, "srv1.b.net", "b.net", &[4]);
    up(&mut fast, "srv2.b.net", "b.net", &[4]);
    fast.request(t0, request(4, "b.net", 8, 0, false), due, 3);
    let (p, id, _) = sent(&mut fast);
    fast.peer_result(t0, id, Err(Failure::PeerFailed));
    assert_eq!(
        answered(&mut fast),
        (3, Err(RouteError::PeerFailed(p.into())))
    );
}

#[test]
fn no_peer_is_3002_and_an_unknown_realm_3003() {
    let t0 = Instant::now();
    let due = t0 + Duration::from_secs(5);
    let mut agent = TestAgent::new(config(true));
    agent.request(t0, request(4, "b.net", 1, 0, false), due, 1);
    assert_eq!(answered(&mut agent), (1, Err(RouteError::NoRoute(3003))));
    up(&mut agent, "srv1.b.net", "b.net", &[4]);
    agent.input(PeerChange::PeerUnavailable("srv1.b.net".into()));
    agent.request(t0, request(4, "b.net", 2, 0, false), due, 2);
    assert_eq!(answered(&mut agent), (2, Err(RouteError::NoRoute(3002))));
    // A relayed request with no peer: answered 3002 to the peer it came from.
    let mut c = config(true);
    c.routes
        .add(Route::realm("b.net", RouteAction::Relay, vec![]));
    let mut relay = TestAgent::new(c);
    let held = relay.receive(
        t0,
        "client.c.net",
        request(4, "b.net", 3, 9, false),
        None,
        || 7,
    );
    assert!(matches!(held, Inbound::Held));
    let reply = actions(&mut relay).into_iter().find_map(|a| match a {
        Action::Reply(w, a) => Some((w, result_code(&a), a.header.is_error())),
        _ => None,
    });
    assert_eq!(reply, Some((7, Some(rc::DIAMETER_UNABLE_TO_DELIVER), true)));
    // A server (not an agent) never forwards: another realm is 3003 at once.
    let mut server = TestAgent::new(config(false));
    up(&mut server, "srv1.b.net", "b.net", &[4]);
    match server.receive(
        t0,
        "client.c.net",
        request(4, "b.net", 4, 9, false),
        None,
        || 0,
    ) {
        Inbound::Answer(a) => assert_eq!(result_code(&a), Some(3003)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn all_peers_busy_is_3004() {
    let t0 = Instant::now();
    let due = t0 + Duration::from_secs(5);
    let mut agent = TestAgent::new(config(true));
    up(&mut agent, "srv1.b.net", "b.net", &[4]);
    up(&mut agent, "srv2.b.net", "b.net", &[4]);
    agent.request(t0, request(4, "b.net", 1, 0, false), due, 1);
    let (first, id, _) = sent(&mut agent);
    // The first is busy: the other one gets it, without the T flag (never sent).
    agent.peer_result(t0, id, Err(Failure::TooBusy));
    let (second, id, msg) = sent(&mut agent);
    assert_ne!(first, second);
    assert!(!msg.header.is_retransmit());
    agent.peer_result(t0, id, Err(Failure::TooBusy));
    assert_eq!(answered(&mut agent), (1, Err(RouteError::TooBusy)));
    assert_eq!(RouteError::TooBusy.result_code(), rc::DIAMETER_TOO_BUSY);
}

#[test]
fn timeout_ends_a_request_its_peer_never_reports() {
    let t0 = Instant::now();
    let due = t0 + Duration::from_secs(5);
    let mut agent = TestAgent::new(config(true));
    up(&mut agent, "srv1.b.net", "b.net", &[4]);
    agent.request(t0, request(4, "b.net", 1, 0, false), due, 1);
    let (_, id, _) = sent(&mut agent);
    assert_eq!(agent.poll_timeout(), Some(due));
    agent.handle_timeout(due - Duration::from_millis(1));
    assert!(actions(&mut agent).is_empty());
    agent.handle_timeout(due);
    assert_eq!(answered(&mut agent), (1, Err(RouteError::Timeout)));
    assert_eq!(agent.poll_timeout(), None);
    // A late report changes nothing.
    agent.peer_result(due, id, Ok(request(4, "b.net", 1, 0, false)));
    assert!(actions(&mut agent).is_empty());
}

/// A request's deadline goes when the request ends: the agent holds no more deadlines than
/// requests in flight, whatever the rate and the timeout.
#[test]
fn deadlines_go_with_their_requests() {
    let t0 = Instant::now();
    let due = t0 + Duration::from_secs(10);
    let mut agent = TestAgent::new(config(true));
    up(&mut agent, "srv1.b.net", "b.net", &[4]);
    for n in 0..100 {
        agent.request(t0, request(4, "b.net", n, 0, false), due, n);
        let (_, id, msg) = sent(&mut agent);
        agent.peer_result(t0, id, Ok(msg));
        let _ = actions(&mut agent);
    }
    assert_eq!(agent.deadlines_held(), 0);
    assert_eq!(agent.poll_timeout(), None);
    agent.request(t0, request(4, "b.net", 100, 0, false), due, 100);
    assert_eq!(agent.deadlines_held(), 1);
    assert_eq!(agent.poll_timeout(), Some(due));
}

#[test]
fn duplicate_cache_is_bounded_in_bytes() {
    let t0 = Instant::now();
    let mut c = config(false);
    c.duplicate_cache_bytes = 16 * 1024;
    let mut agent = TestAgent::new(c);
    for e2e in 0..100 {
        let Inbound::Handle(req) =
            agent.receive(t0, "p", request(4, "a.net", e2e, 1, false), None, || 0)
        else {
            panic!("not handled");
        };
        let mut a = answer(&req, 2001);
        a.push(&crate::avp::RawAvp::new(999, 0, 0, vec![0u8; 1000].into()));
        agent.handler_done(t0, &req, None, Some(a));
        assert!(agent.duplicate_cache().bytes() <= 16 * 1024);
    }
    assert!(agent.duplicate_cache().len() < 20);
    // The newest is replayed, the oldest was evicted and runs the handler again.
    let new = agent.receive(t0, "p", request(4, "a.net", 99, 2, true), None, || 0);
    assert!(matches!(new, Inbound::Answer(_)));
    let old = agent.receive(t0, "p", request(4, "a.net", 0, 2, true), None, || 0);
    assert!(matches!(old, Inbound::Handle(_)));
}
