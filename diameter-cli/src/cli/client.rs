//! A client connection to one peer: a diameter-core [`Node`] with that peer configured,
//! its capabilities exchange awaited, and every request routed to it.

use super::exit::CliError;
use diameter_core::base::DisconnectCause;
use diameter_core::node::{FailoverPolicy, Node, NodeEvent, NodeLimits, PeerConfig};
use diameter_core::peer::{DownReason, PeerSettings};
use diameter_core::routing::{Route, RouteAction};
use std::net::SocketAddr;
use std::time::Duration;

/// How to connect.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The peer: ADDR:PORT or HOST:PORT (a port alone means 127.0.0.1).
    pub peer: String,
    /// Our Origin-Host.
    pub origin_host: String,
    /// Our Origin-Realm.
    pub origin_realm: String,
    /// Applications to advertise: (Application-Id, accounting).
    pub applications: Vec<(u32, bool)>,
    /// Time allowed for the connection and CER/CEA.
    pub connect_timeout: Duration,
    /// Requests in flight at once.
    pub max_pending: usize,
}

/// Why a peer went down, in words.
fn why(reason: &DownReason) -> String {
    match reason {
        DownReason::Transport => "the connection was refused or dropped".into(),
        DownReason::CapabilitiesRejected(code) => format!(
            "the peer refused our CER with Result-Code {code} ({})",
            diameter::dict::DICTIONARY
                .result_code_name(*code)
                .unwrap_or("unknown")
        ),
        DownReason::Timeout => "no CEA in time".into(),
        other => format!("{other:?}"),
    }
}

/// Resolves ADDR:PORT, HOST:PORT or PORT to one socket address.
pub async fn resolve(peer: &str) -> Result<SocketAddr, CliError> {
    if let Ok(a) = peer.parse::<SocketAddr>() {
        return Ok(a);
    }
    let text = if peer.parse::<u16>().is_ok() {
        format!("127.0.0.1:{peer}")
    } else {
        peer.to_owned()
    };
    // IPv4 first: servers commonly listen on 0.0.0.0 only, and localhost may list ::1 first.
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(text.as_str())
        .await
        .map_err(|e| {
            CliError::usage(format!(
                "--peer {peer:?}: not ADDR:PORT or a resolvable HOST:PORT ({e})"
            ))
        })?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| CliError::usage(format!("--peer {peer:?}: the name has no address")))
}

/// A connected client.
pub struct Client {
    node: Node,
    key: String,
}

/// The name under which the single peer is kept (its real Origin-Host comes in the CEA).
const PEER_KEY: &str = "peer.diameter-cli";

impl Client {
    /// Connects and completes the capabilities exchange, or says why not.
    pub async fn connect(o: &ClientOptions) -> Result<Client, CliError> {
        let addr = resolve(&o.peer).await?;
        let settings = PeerSettings {
            cea_timeout: o.connect_timeout,
            ..PeerSettings::default()
        };
        let mut b = Node::builder()
            .origin_host(o.origin_host.clone())
            .origin_realm(o.origin_realm.clone())
            .failover(FailoverPolicy::FailFast)
            .limits({
                let mut nl = NodeLimits::default();
                nl.max_pending_per_peer = o.max_pending.max(16);
                nl
            })
            .peer(PeerConfig::new(PEER_KEY, addr).settings(settings))
            .route(Route::default_route(
                RouteAction::Relay,
                vec![PEER_KEY.to_owned()],
            ));
        for &(id, acct) in &o.applications {
            b = if acct {
                b.acct_application(id)
            } else {
                b.auth_application(id)
            };
        }
        let node = b
            .build()
            .await
            .map_err(|e| CliError::network(format!("cannot start the client: {e}")))?;
        let mut events = node.subscribe();
        let deadline = tokio::time::Instant::now() + o.connect_timeout;
        loop {
            if node.is_peer_available(PEER_KEY) {
                break;
            }
            let ev = tokio::time::timeout_at(deadline, events.recv()).await;
            match ev {
                Err(_) => {
                    node.abort();
                    return Err(CliError::network(format!(
                        "no capabilities exchange with {} within {:?} (is a Diameter server listening there?)",
                        addr, o.connect_timeout
                    )));
                }
                Ok(Ok(NodeEvent::PeerDown { reason, .. })) => {
                    node.abort();
                    return Err(CliError::network(format!(
                        "connection to {addr} failed: {}",
                        why(&reason)
                    )));
                }
                Ok(_) => {}
            }
        }
        Ok(Client {
            node,
            key: PEER_KEY.to_owned(),
        })
    }

    /// The node, to send requests with.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// A new Session-Id.
    pub fn session_id(&self) -> String {
        self.node.new_session_id()
    }

    /// Whether the peer is still available.
    pub fn is_up(&self) -> bool {
        self.node.is_peer_available(&self.key)
    }

    /// Disconnects politely (DPR), waiting a little for the DPA.
    pub async fn close(self) {
        self.node.stop(DisconnectCause::DoNotWantToTalkToYou).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.node.abort();
    }
}
