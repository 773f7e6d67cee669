//! The peer state machine (RFC 6733 §5.6 with the RFC 3539 watchdog) driven by an arbitrary
//! sequence of driver events: Start, Stop, connection results, incoming CERs, messages on
//! any connection (well-formed base and application messages with mutated bytes, or raw
//! bytes), disconnects, application sends and timeouts with a clock that moves forward.
//!
//! The harness plays the driver: it tracks which connections it handed to the peer and
//! which the peer closed, and after every step checks:
//! - outputs name only connections the peer holds (no send or close on a closed one), and
//!   every message sent decodes again;
//! - Connect/CancelConnect pair up, and a connection attempt is pending exactly in
//!   Wait-Conn-Ack and Wait-Conn-Ack/Elect;
//! - the peer holds as many connections as its state says (none when Closed, one in
//!   Wait-I-CEA, both only in Wait-Returns, exactly the active one once open, so at most one
//!   after the election);
//! - `Up` and `Down` alternate, the peer is up exactly in I-Open, R-Open and Closing, and
//!   messages are delivered to the application only then, never base peer commands;
//! - every state but Closed has a timer, no timer lies further ahead than the longest
//!   configured delay, and after a Timeout no timer is due any more (time moves on);
//! - at most a few outputs per event.
#![no_main]

use diameter_core::base::{command, DisconnectCause};
use diameter_core::fields::{str_avp, u32_avp};
use diameter_core::peer::{
    capabilities, check_incoming, messages, AcceptPolicy, Capabilities, ConnId, DownReason, Input,
    Output, Peer, PeerError, PeerEvent, PeerSettings, PeerState,
};
use diameter_core::{CommandFlags, Header, Limits, RawMessage};
use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reads the fuzz input; zeros once it is used up.
struct Src<'a>(&'a [u8]);

impl Src<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b
    }
    fn ms(&mut self) -> Duration {
        Duration::from_millis(1 + u64::from(self.u16()))
    }
}

const LOCAL_HOST: &str = "m.example.net";
/// Remote identities: one the local node wins the election against, one it loses to, and
/// its own name in two spellings.
const REMOTE_HOSTS: [&str; 4] = [
    "a.example.net",
    "z.example.net",
    "m.example.net",
    "M.Example.Net",
];
/// Applications a remote may advertise: two the local node has, one it lacks, relay.
const APPS: [u32; 4] = [4, 6, 16_777_216, 0xffff_ffff];

fn caps(host: &str, apps: u8, tls: bool) -> Capabilities {
    Capabilities {
        origin_host: host.into(),
        origin_realm: "example.net".into(),
        host_ip_addresses: vec![std::net::IpAddr::from([127, 0, 0, 1])],
        vendor_id: 0,
        product_name: "fuzz".into(),
        auth_applications: APPS
            .iter()
            .enumerate()
            .filter(|(i, _)| apps & (1 << i) != 0)
            .map(|(_, a)| *a)
            .collect(),
        acct_applications: if apps & 0x10 != 0 { vec![3] } else { vec![] },
        inband_security: match (tls, apps & 0x20 != 0) {
            (true, _) => vec![1],
            (false, true) => vec![0, 1],
            (false, false) => vec![],
        },
        ..Default::default()
    }
}

struct Harness {
    peer: Peer,
    local: Arc<Capabilities>,
    now: Instant,
    max_delay: Duration,
    next_id: u64,
    /// Connections handed to the peer and neither closed by it nor reported gone.
    live: BTreeSet<ConnId>,
    /// Connections that were live once.
    gone: BTreeSet<ConnId>,
    pending_connect: bool,
    up: bool,
    /// The peer may connect only when not stopped, when it initiates or was started, and
    /// not after a DPR that asked it to stay away (Busy, Do-Not-Want-To-Talk-To-You, with
    /// no reconnect configured), until it is started or up again.
    initiate: bool,
    started: bool,
    stopped: bool,
    stay_away_after_dpr: bool,
    staying_away: bool,
    /// Per connection: opened by the peer (true) or accepted, and whether the peer has
    /// sent anything on it yet.
    first_sent: BTreeMap<ConnId, (bool, bool)>,
    /// The last CER, DWR and DPR the peer sent, to answer them.
    last_cer: Option<Header>,
    last_dwr: Option<Header>,
    last_dpr: Option<Header>,
}

impl Harness {
    fn fresh(&mut self) -> ConnId {
        self.next_id += 1;
        ConnId(self.next_id)
    }

    /// A connection the peer holds, one it gave up, or one it never saw.
    fn pick(&mut self, src: &mut Src<'_>) -> ConnId {
        let b = src.u8();
        let live: Vec<_> = self.live.iter().copied().collect();
        let gone: Vec<_> = self.gone.iter().copied().collect();
        if b < 200 && !live.is_empty() {
            live[b as usize % live.len()]
        } else if b < 250 && !gone.is_empty() {
            gone[b as usize % gone.len()]
        } else {
            ConnId(1 << 40 | u64::from(b))
        }
    }

    fn handle(&mut self, input: Input, after_timeout: bool) {
        self.peer.handle(self.now, input);
        self.drain();
        self.check(after_timeout);
    }

    fn drain(&mut self) {
        let mut n = 0;
        while let Some(o) = self.peer.poll_output() {
            n += 1;
            assert!(n <= 32, "more than 32 outputs for one event");
            match o {
                Output::Connect => {
                    assert!(!self.pending_connect, "Connect while one is pending");
                    assert!(
                        !self.stopped && (self.initiate || self.started) && !self.staying_away,
                        "Connect of a peer that should not"
                    );
                    self.pending_connect = true;
                }
                Output::CancelConnect => {
                    assert!(self.pending_connect, "CancelConnect with none pending");
                    self.pending_connect = false;
                }
                Output::Send(c, msg) => {
                    assert!(self.live.contains(&c), "Send on {c:?}, not held");
                    let again = RawMessage::decode(msg.to_bytes(), &Limits::default())
                        .expect("the peer sends messages that decode");
                    let h = again.header;
                    if let Some((initiator, sent)) = self.first_sent.get_mut(&c) {
                        if !*sent {
                            // RFC 6733 §5.6: CER first on our connection, CEA on theirs.
                            assert_eq!(h.command_code, command::CAPABILITIES_EXCHANGE);
                            assert_eq!(h.is_request(), *initiator, "first message on {c:?}");
                            *sent = true;
                        }
                    }
                    if h.is_request() {
                        match h.command_code {
                            command::CAPABILITIES_EXCHANGE => self.last_cer = Some(h),
                            command::DEVICE_WATCHDOG => self.last_dwr = Some(h),
                            command::DISCONNECT_PEER => self.last_dpr = Some(h),
                            _ => {}
                        }
                    }
                }
                Output::Close(c) => {
                    assert!(self.live.remove(&c), "Close of {c:?}, not held");
                    self.gone.insert(c);
                }
                Output::Deliver(msg) => {
                    assert!(self.up, "Deliver while not up");
                    assert!(
                        !command::is_base_peer_command(msg.header.command_code),
                        "a base peer command delivered to the application"
                    );
                }
                Output::Event(PeerEvent::Up { .. }) => {
                    assert!(!self.up, "Up twice without Down");
                    self.up = true;
                    self.staying_away = false;
                }
                Output::Event(PeerEvent::Down(reason)) => {
                    self.up = false;
                    if self.stay_away_after_dpr
                        && matches!(
                            reason,
                            DownReason::PeerDisconnected(
                                DisconnectCause::Busy | DisconnectCause::DoNotWantToTalkToYou
                            )
                        )
                    {
                        self.staying_away = true;
                    }
                }
                Output::Event(PeerEvent::Suspect | PeerEvent::Available) => {
                    assert!(self.up, "watchdog event while not up")
                }
            }
        }
    }

    fn check(&self, after_timeout: bool) {
        use PeerState::*;
        let st = self.peer.state();
        assert_eq!(
            self.up,
            matches!(st, IOpen | ROpen | Closing),
            "up={} in {st:?}",
            self.up
        );
        assert_eq!(
            self.pending_connect,
            matches!(st, WaitConnAck | WaitConnAckElect),
            "connect pending={} in {st:?}",
            self.pending_connect
        );
        let held = match st {
            Closed | WaitConnAck => 0,
            WaitICea | WaitConnAckElect | IOpen | ROpen | Closing => 1,
            WaitReturns => 2,
        };
        assert_eq!(self.live.len(), held, "{st:?} holds {:?}", self.live);
        if matches!(st, IOpen | ROpen | Closing) {
            let a = self.peer.active_conn().expect("an active connection");
            assert!(self.live.contains(&a), "active {a:?} not held");
        }
        assert!(!self.peer.is_available() || self.peer.is_open());
        match self.peer.poll_timeout() {
            None => assert_eq!(st, Closed, "no timer in {st:?}"),
            Some(t) => {
                assert!(
                    t <= self.now + self.max_delay,
                    "a timer {:?} ahead",
                    t - self.now
                );
                if after_timeout {
                    assert!(t > self.now, "a timer still due after Timeout in {st:?}");
                }
            }
        }
    }

    fn timeout(&mut self) {
        self.handle(Input::Timeout, true);
    }
}

/// `msg` with up to three bytes changed; `None` when it no longer decodes (the transport
/// would close the connection rather than pass it on).
fn mutate(src: &mut Src<'_>, msg: RawMessage) -> Option<RawMessage> {
    let n = src.u8() % 4;
    if n == 0 {
        return Some(msg);
    }
    let mut b = msg.to_bytes().to_vec();
    for _ in 0..n {
        let at = usize::from(src.u16()) % b.len();
        b[at] = src.u8();
    }
    RawMessage::decode(b.into(), &Limits::default()).ok()
}

fn cause(b: u8) -> DisconnectCause {
    match b % 4 {
        0 => DisconnectCause::Rebooting,
        1 => DisconnectCause::Busy,
        2 => DisconnectCause::DoNotWantToTalkToYou,
        _ => DisconnectCause::Other(i32::from(b)),
    }
}

fn app_message(src: &mut Src<'_>, request: bool) -> RawMessage {
    let app = match src.u8() % 4 {
        0 => 0,
        1 => 4,
        2 => 6,
        _ => src.u32(),
    };
    let flags = if request {
        CommandFlags::REQUEST | CommandFlags::PROXIABLE
    } else {
        CommandFlags::PROXIABLE
    };
    let h = Header::new(272, app, flags, src.u32(), src.u32());
    let mut avps = vec![str_avp(263, "client.example.net;1;2")];
    if !request {
        avps.push(u32_avp(268, 2001));
    }
    RawMessage::from_avps(h, &avps)
}

/// A message from the remote: a base or application message built well, then mutated.
fn template(h: &Harness, src: &mut Src<'_>) -> Option<RawMessage> {
    let host = REMOTE_HOSTS[usize::from(src.u8()) % REMOTE_HOSTS.len()];
    let rc = caps(host, src.u8(), false);
    let any = Header::new(0, 0, 0, src.u32(), src.u32());
    let msg = match src.u8() % 10 {
        0 => {
            let code = [2001, 2002, 5010, 3010, 5012, 5017, 3002][usize::from(src.u8()) % 7];
            capabilities::cea(&rc, h.last_cer.as_ref().unwrap_or(&any), code, None, None)
        }
        1 => messages::dwa(&rc, h.last_dwr.as_ref().unwrap_or(&any), 2001),
        2 => messages::dwr(&rc, src.u32(), src.u32()),
        3 => messages::dpr(&rc, cause(src.u8()), src.u32(), src.u32()),
        4 => messages::dpa(&rc, h.last_dpr.as_ref().unwrap_or(&any), 2001),
        5 => capabilities::cer(&rc, src.u32(), src.u32()),
        6 => app_message(src, true),
        7 => app_message(src, false),
        8 => {
            let hdr = Header::new(src.u32() & 0x00ff_ffff, src.u32(), src.u8() & 0xf0, 1, 2);
            RawMessage::from_avps(hdr, &[])
        }
        _ => {
            let cmd = [257, 280, 282][usize::from(src.u8()) % 3];
            let req = Header::new(cmd, 0, CommandFlags::REQUEST, src.u32(), src.u32());
            let mut m = messages::base_answer(&rc, &req, 3002);
            m.header.flags |= CommandFlags::ERROR;
            m
        }
    };
    mutate(src, msg)
}

/// Raw bytes behind a version-1 header with the right length.
fn raw(src: &mut Src<'_>) -> Option<RawMessage> {
    let len = usize::from(src.u8()) * 4;
    let mut b = vec![0u8; 20];
    b[4..20].copy_from_slice(&{
        let mut x = [0u8; 16];
        for v in x.iter_mut() {
            *v = src.u8();
        }
        x
    });
    b.extend_from_slice(src.bytes(len));
    b.resize(b.len().next_multiple_of(4), 0);
    b[0] = 1;
    let l = b.len() as u32;
    b[1..4].copy_from_slice(&l.to_be_bytes()[1..]);
    RawMessage::decode(b.into(), &Limits::default()).ok()
}

fuzz_target!(|data: &[u8]| {
    let mut src = Src(data);
    let flags = src.u8();
    let settings = PeerSettings {
        initiate: flags & 1 != 0,
        tw: src.ms(),
        tw_jitter: Duration::from_millis(u64::from(src.u8()) * 10),
        tc: src.ms(),
        max_backoff: src.ms() * 4,
        cea_timeout: src.ms(),
        dpa_timeout: src.ms(),
        reconnect_after_dpr: (flags & 2 != 0).then(|| Duration::from_millis(1 + u64::from(flags))),
    };
    let max_delay = [
        settings.tw + settings.tw_jitter,
        settings.tc,
        settings.max_backoff,
        settings.cea_timeout,
        settings.dpa_timeout,
        settings.reconnect_after_dpr.unwrap_or_default(),
    ]
    .into_iter()
    .max()
    .unwrap_or_default();
    let local = Arc::new(Capabilities {
        inband_security: if flags & 4 != 0 { vec![1] } else { vec![] },
        ..caps(LOCAL_HOST, 0b0011, false)
    });
    let start = Instant::now();
    let mut h = Harness {
        peer: Peer::new(local.clone(), settings, u64::from(src.u32()), 1_700_000_000),
        local,
        now: start,
        max_delay,
        next_id: 0,
        live: BTreeSet::new(),
        gone: BTreeSet::new(),
        pending_connect: false,
        up: false,
        initiate: flags & 1 != 0,
        started: false,
        stopped: false,
        stay_away_after_dpr: flags & 2 == 0,
        staying_away: false,
        first_sent: BTreeMap::new(),
        last_cer: None,
        last_dwr: None,
        last_dpr: None,
    };
    h.check(false);
    for _ in 0..512 {
        if src.0.is_empty() {
            break;
        }
        match src.u8() % 14 {
            0 => {
                (h.started, h.stopped, h.staying_away) = (true, false, false);
                h.handle(Input::Start, false)
            }
            1 => {
                h.stopped = true;
                h.handle(Input::Stop(cause(src.u8())), false)
            }
            2 => {
                // The driver answers a Connect (or, racing a cancel, too late).
                h.pending_connect = false;
                let c = h.fresh();
                h.live.insert(c);
                h.first_sent.insert(c, (true, false));
                h.handle(Input::ConnectOk(c), false);
            }
            3 => {
                if h.pending_connect {
                    h.pending_connect = false;
                    h.handle(Input::ConnectFailed, false);
                }
            }
            4 => {
                let host = REMOTE_HOSTS[usize::from(src.u8()) % REMOTE_HOSTS.len()];
                let b = src.u8();
                let cer = capabilities::cer(&caps(host, b, b & 0x40 != 0), src.u32(), src.u32());
                let Some(cer) = mutate(&mut src, cer) else {
                    continue;
                };
                // The driver checks the CER before the peer sees it.
                let remote = std::net::IpAddr::from([127, 0, 0, 1]);
                let Ok(admitted) = check_incoming(&h.local, &AcceptPolicy::AnyPeer, &cer, remote) else {
                    continue;
                };
                let conn = h.fresh();
                h.live.insert(conn);
                h.first_sent.insert(conn, (false, false));
                h.handle(
                    Input::Incoming {
                        conn,
                        cer,
                        caps: Box::new(admitted.caps),
                    },
                    false,
                );
            }
            5 | 6 => {
                let c = h.pick(&mut src);
                if let Some(m) = template(&h, &mut src) {
                    h.handle(Input::Received(c, m), false);
                }
            }
            7 => {
                let c = h.pick(&mut src);
                if let Some(m) = raw(&mut src) {
                    h.handle(Input::Received(c, m), false);
                }
            }
            8 => {
                let c = h.pick(&mut src);
                if h.live.remove(&c) {
                    h.gone.insert(c);
                }
                h.handle(Input::Disconnected(c), false);
            }
            9 => h.timeout(),
            10 => {
                if let Some(t) = h.peer.poll_timeout() {
                    h.now = h.now.max(t);
                }
                h.timeout();
            }
            11 => {
                h.now += src.ms();
                h.timeout();
            }
            12 => {
                // Late: time passes without a Timeout.
                h.now += Duration::from_millis(u64::from(src.u8()));
            }
            _ => {
                let request = src.u8() & 1 == 0;
                let msg = app_message(&mut src, request);
                let open = h.peer.is_open();
                let available = h.peer.is_available();
                match h.peer.send(msg) {
                    Ok(_) => assert!(open && (available || !request)),
                    Err(PeerError::NotOpen(_)) => assert!(!open),
                    Err(_) => assert!(open),
                }
                h.drain();
                h.check(false);
            }
        }
    }
});
