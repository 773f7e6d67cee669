//! A client connection to one peer: a diameter-core [`Node`] with that peer configured,
//! its capabilities exchange awaited, and every request routed to it.

use super::exit::CliError;
use diameter_core::base::DisconnectCause;
use diameter_core::node::{FailoverPolicy, Node, NodeEvent, NodeLimits, PeerConfig};
use diameter_core::peer::PeerSettings;
use diameter_core::routing::{Route, RouteAction};
use std::net::SocketAddr;
use std::time::Duration;

/// How to connect.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The peer's address.
    pub peer: SocketAddr,
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
        let settings = PeerSettings {
            cea_timeout: o.connect_timeout,
            ..PeerSettings::default()
        };
        let mut b = Node::builder()
            .origin_host(o.origin_host.clone())
            .origin_realm(o.origin_realm.clone())
            .failover(FailoverPolicy::FailFast)
            .limits(NodeLimits {
                max_pending_per_peer: o.max_pending.max(16),
                ..NodeLimits::default()
            })
            .peer(PeerConfig::new(PEER_KEY, o.peer).settings(settings))
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
                        o.peer, o.connect_timeout
                    )));
                }
                Ok(Ok(NodeEvent::PeerDown { reason, .. })) => {
                    node.abort();
                    return Err(CliError::network(format!(
                        "connection to {} failed: {reason:?}",
                        o.peer
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
