//! The SIP server's accounting over loopback TCP (RFC 4740 §8.10): the SAA names an
//! accounting server, the SIP server starts an accounting session there; a PPR names
//! another one, the SIP server stops the first session before starting on the new
//! server; the deregistration stops that one. Two accounting servers of `acct::start`.

use diameter::dict::sip_rfc4740::SipServerAssignmentType as T;
use diameter_apps::acct::client::AcctEvent;
use diameter_apps::acct::serve::{start as start_acct, AcctHandle, RecordsSink};
use diameter_apps::sip::client::{
    register_events, ClientConfig, Deregistration, MarParams, ProfilePush, SarParams,
    SipAccountingClient, SipAccountingConfig, SipClient, SipResult, SipServerEvents, Transport,
    TransportFuture,
};
use diameter_apps::sip::server::SipPeer;
use diameter_apps::sip::store::AccountingInfo;
use diameter_apps::sip::{start, ServeOptions};
use diameter_core::fields::{destination_host, find_u32};
use diameter_core::node::{Node, PeerConfig};
use diameter_core::RawMessage;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

const AAA: &str = "sip-aaa.example.com";
const ACCT1: &str = "acct1.example.com";
const ACCT2: &str = "acct2.example.com";
const SIP1: &str = "sip1.example.com";
const USER: &str = "alice@example.com";
const AOR: &str = "sip:alice@example.com";

const USERS: &str = r#"
realm = "example.com"

[[user]]
name = "alice@example.com"
password = "secret"
aors = ["sip:alice@example.com"]
accounting_servers = ["aaa://acct1.example.com:3868;transport=tcp"]
"#;

async fn acct(dir: &Path, host: &str) -> AcctHandle {
    start_acct({
        let mut o = diameter_apps::acct::serve::ServeOptions::default();
        o.listen = "127.0.0.1:0".parse().unwrap();
        o.origin_host = host.into();
        o.origin_realm = "example.com".into();
        o.store = format!("sqlite://{}", dir.join(format!("{host}.db")).display());
        o.records = RecordsSink::File(dir.join(format!("{host}.jsonl")));
        o
    })
    .await
    .expect("accounting server")
}

/// PPRs go to the test through a channel.
struct Events(mpsc::UnboundedSender<ProfilePush>);

impl SipServerEvents for Events {
    fn deregister(&self, _: &Deregistration) -> SipResult {
        SipResult::Success
    }
    fn push_profile(&self, p: &ProfilePush) -> SipResult {
        let _ = self.0.send(p.clone());
        SipResult::Success
    }
}

/// The node, logging each ACR's record type and Destination-Host.
struct Logged {
    node: Node,
    acrs: Arc<Mutex<Vec<(u32, String)>>>,
}

impl Transport for Logged {
    fn request(&self, msg: RawMessage) -> TransportFuture<'_> {
        self.acrs.lock().unwrap().push((
            find_u32(&msg, 480).unwrap_or(0),
            destination_host(&msg).unwrap_or_default(),
        ));
        Transport::request(&self.node, msg)
    }
    fn new_session_id(&self) -> String {
        Transport::new_session_id(&self.node)
    }
}

fn records(dir: &Path, host: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(format!("{host}.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ppr_moves_accounting_to_the_new_server_after_stopping_the_old_session() {
    tokio::time::timeout(Duration::from_secs(60), flow())
        .await
        .expect("in time");
}

async fn flow() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, USERS).unwrap();
    let aaa = start({
        let mut o = ServeOptions::default();
        o.listen = "127.0.0.1:0".parse().unwrap();
        o.origin_host = AAA.into();
        o.origin_realm = "example.com".into();
        o.store = format!("sqlite://{}", dir.path().join("sip.db").display());
        o.users = Some(users);
        o.sip_servers = vec![SipPeer::new(SIP1)];
        o
    })
    .await
    .expect("AAA server");
    let a1 = acct(dir.path(), ACCT1).await;
    let a2 = acct(dir.path(), ACCT2).await;

    let (tx, mut pprs) = mpsc::unbounded_channel();
    let b = Node::builder()
        .origin_host(SIP1)
        .origin_realm("example.com")
        .auth_application(6)
        .acct_application(3)
        .peer(PeerConfig::new(AAA, aaa.local_addrs()[0]))
        .peer(PeerConfig::new(ACCT1, a1.local_addrs()[0]))
        .peer(PeerConfig::new(ACCT2, a2.local_addrs()[0]));
    let node = register_events(b, SIP1, "example.com", Arc::new(Events(tx)))
        .build()
        .await
        .expect("SIP server node");
    for h in [AAA, ACCT1, ACCT2] {
        assert!(node.wait_peer(h, Duration::from_secs(10)).await, "{h} up");
    }
    let sip = SipClient::new(
        ClientConfig::new(SIP1, "example.com", "example.com"),
        node.clone(),
    );
    let log = Arc::new(Mutex::new(Vec::new()));
    let accounting = SipAccountingClient::new(
        SipAccountingConfig::new(SIP1, "example.com", "example.com"),
        Logged {
            node: node.clone(),
            acrs: log.clone(),
        },
    );

    // Registration (authenticated first): the SAA names acct1; a session starts there.
    let mut p = MarParams {
        aor: AOR.into(),
        method: "REGISTER".into(),
        user_name: Some(USER.into()),
        server_uri: Some("sip:sip1.example.com".into()),
        ..Default::default()
    };
    let ch = sip.mar(&p).await.unwrap().challenge.expect("challenge");
    p.credentials = Some(
        ch.answer(USER, "secret", "REGISTER", "sip:example.com")
            .unwrap(),
    );
    assert_eq!(sip.mar(&p).await.unwrap().result, SipResult::Success);
    let mut sar = SarParams::new(T::Registration, AOR);
    sar.user_name = Some(USER.into());
    sar.server_uri = Some("sip:sip1.example.com".into());
    let saa = sip.sar(&sar).await.unwrap();
    assert_eq!(saa.result, SipResult::Success);
    let info = saa.accounting.expect("SIP-Accounting-Information");
    let d = accounting.set_servers(USER, &info).await.unwrap();
    let (s1, ev) = &d.events[0];
    assert_eq!(*ev, AcctEvent::Granted);
    assert_eq!(
        accounting.with_state(|s| s
            .session_of(USER)
            .map(|(a, b)| (a.to_string(), b.to_string()))),
        Some((s1.clone(), ACCT1.to_string()))
    );

    // The operator moves alice's accounting to acct2: the PPR reaches the SIP server.
    let pushed = aaa
        .push_profile(
            USER,
            vec![],
            AccountingInfo {
                accounting_servers: vec![format!("aaa://{ACCT2}")],
                credit_control_servers: vec!["aaa://ocs.example.com".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(pushed, vec![SipResult::Success]);
    let ppr = pprs.recv().await.expect("PPR received");
    let d = accounting
        .set_servers(&ppr.user_name, &ppr.accounting.expect("new servers"))
        .await
        .unwrap();
    let s2 = accounting.with_state(|s| s.session_of(USER).unwrap().0.to_string());
    assert_ne!(&s2, s1);
    assert_eq!(
        d.events,
        vec![
            (s1.clone(), AcctEvent::Closed),
            (s2.clone(), AcctEvent::Granted)
        ]
    );
    assert_eq!(
        accounting.with_state(|s| s.credit_control_servers(USER).to_vec()),
        ["aaa://ocs.example.com"]
    );

    // Deregistration stops the session on acct2.
    let d = accounting.close(USER).await.unwrap();
    assert_eq!(d.events, vec![(s2.clone(), AcctEvent::Closed)]);
    let start = 2; // START_RECORD
    let stop = 4; // STOP_RECORD
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            (start, ACCT1.to_string()),
            (stop, ACCT1.to_string()),
            (start, ACCT2.to_string()),
            (stop, ACCT2.to_string()),
        ],
        "the old session stops before the new one starts"
    );

    node.stop(diameter_core::base::DisconnectCause::Rebooting)
        .await;
    aaa.stop().await;
    a1.stop().await;
    a2.stop().await;
    let r1 = records(dir.path(), ACCT1);
    let r2 = records(dir.path(), ACCT2);
    assert_eq!(r1.len(), 1, "{r1:?}");
    assert_eq!(r1[0]["session_id"], s1.as_str());
    assert_eq!(r1[0]["records"], 2);
    assert_eq!(r2.len(), 1, "{r2:?}");
    assert_eq!(r2[0]["session_id"], s2.as_str());
}
