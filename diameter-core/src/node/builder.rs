//! Configuring and starting a [`Node`]; the accept loop for incoming connections.

use super::handler::{typed, Handler};
use super::peer_task::{spawn_peer, PeerCmd};
use super::slots::{ConnSlots, SlotGuard};
use super::{FailoverPolicy, Inner, Node, NodeLimits, PeerConfig};
use crate::agent::{Agent, AgentConfig};
use crate::ids::{EndToEndIds, SessionIds};
use crate::peer::{check_incoming, AcceptPolicy, Capabilities, ConnId, PeerSettings, VendorApp};
use crate::routing::{Route, RoutingTable};
use crate::traits::Command;
use crate::transport::{self, ReadError};
use bytes::BytesMut;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

/// Builds a [`Node`]: identity, applications, listeners, peers, routes and handlers.
#[derive(Default)]
pub struct NodeBuilder {
    caps: Capabilities,
    listen: Vec<SocketAddr>,
    peers: Vec<PeerConfig>,
    routes: RoutingTable,
    handlers: HashMap<(u32, u32), Arc<dyn Handler>>,
    limits: NodeLimits,
    accept: AcceptPolicy,
    failover: FailoverPolicy,
    responder: Option<PeerSettings>,
    metrics: Option<SocketAddr>,
    agent: bool,
    io_threads: usize,
    on_io_idle: Option<super::shards::IdleHook>,
    metrics_applications: Vec<u32>,
    metrics_commands: Vec<u32>,
    metrics_result_codes: Vec<u32>,
    metrics_registrars: Vec<super::metrics::Registrar>,
    reserved_sources: Vec<IpAddr>,
    #[cfg(feature = "tls")]
    tls: Option<crate::transport::tls::TlsConfig>,
}

impl NodeBuilder {
    /// (Application-Id, Command-Code) of the handlers that `says` yes.
    fn handler_keys(&self, says: impl Fn(&dyn Handler) -> bool) -> Vec<(u32, u32)> {
        let keys = self.handlers.iter().filter(|(_, h)| says(h.as_ref()));
        keys.map(|(k, _)| *k).collect()
    }

    /// Origin-Host (required).
    pub fn origin_host(mut self, host: impl Into<String>) -> Self {
        self.caps.origin_host = host.into();
        self
    }
    /// Origin-Realm (required).
    pub fn origin_realm(mut self, realm: impl Into<String>) -> Self {
        self.caps.origin_realm = realm.into();
        self
    }
    /// Product-Name.
    pub fn product_name(mut self, name: impl Into<String>) -> Self {
        self.caps.product_name = name.into();
        self
    }
    /// Vendor-Id.
    pub fn vendor_id(mut self, id: u32) -> Self {
        self.caps.vendor_id = id;
        self
    }
    /// Firmware-Revision.
    pub fn firmware_revision(mut self, rev: u32) -> Self {
        self.caps.firmware_revision = Some(rev);
        self
    }
    /// Origin-State-Id (by default the start time in seconds).
    pub fn origin_state_id(mut self, id: u32) -> Self {
        self.caps.origin_state_id = Some(id);
        self
    }
    /// A Host-IP-Address to advertise. Without any, the specific listen addresses are
    /// advertised, or 127.0.0.1 when there are none.
    pub fn host_ip_address(mut self, ip: IpAddr) -> Self {
        self.caps.host_ip_addresses.push(ip);
        self
    }
    /// A Supported-Vendor-Id.
    pub fn supported_vendor(mut self, id: u32) -> Self {
        self.caps.supported_vendor_ids.push(id);
        self
    }
    /// An Auth-Application-Id (use [`crate::base::app::RELAY`] for a relay).
    pub fn auth_application(mut self, id: u32) -> Self {
        self.caps.auth_applications.push(id);
        self
    }
    /// An Acct-Application-Id.
    pub fn acct_application(mut self, id: u32) -> Self {
        self.caps.acct_applications.push(id);
        self
    }
    /// A Vendor-Specific-Application-Id.
    pub fn vendor_application(mut self, app: VendorApp) -> Self {
        self.caps.vendor_applications.push(app);
        self
    }
    /// An Inband-Security-Id (default none, meaning NO_INBAND_SECURITY).
    pub fn inband_security(mut self, id: u32) -> Self {
        self.caps.inband_security.push(id);
        self
    }
    /// Listens on this address (port 0 for an ephemeral port); may be given several times.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen.push(addr);
        self
    }
    /// A peer to connect to.
    pub fn peer(mut self, peer: PeerConfig) -> Self {
        self.peers.push(peer);
        self
    }
    /// A routing table entry.
    pub fn route(mut self, route: Route) -> Self {
        self.routes.add(route);
        self
    }
    /// Who may connect (default [`AcceptPolicy::LoopbackOnly`]: peers on the loopback
    /// interface only; others get a CEA with 3010 DIAMETER_UNKNOWN_PEER).
    pub fn accept_policy(mut self, policy: AcceptPolicy) -> Self {
        self.accept = policy;
        self
    }
    /// Whether the node is a Diameter agent (relay, proxy or redirect, RFC 6733 §2.8)
    /// that forwards requests meant for other hosts. Default off: requests whose
    /// Destination-Host names another host are answered here with 3002
    /// DIAMETER_UNABLE_TO_DELIVER (3003 for another realm), never forwarded. A node with
    /// [`NodeBuilder::route`] entries, or that advertises the relay application, is an
    /// agent whatever this says.
    pub fn agent(mut self, agent: bool) -> Self {
        self.agent = agent;
        self
    }
    /// Runs the node's connections on `n` threads of their own, each a single-threaded
    /// runtime (thread per core), instead of on the runtime that builds the node (0, the
    /// default). A connection's reader, writer and peer task then share one thread, so
    /// an answer needs no hand-off between threads. Connections go to the threads in
    /// turn. The threads end with [`Node::abort`] or the process; handlers run on them
    /// (blocking work belongs in `spawn_blocking`, as on any runtime; the threads' blocking
    /// pools share tokio's default bound of 512 threads, at least 8 each).
    pub fn io_threads(mut self, n: usize) -> Self {
        self.io_threads = n;
        self
    }
    /// Calls `hook` on an I/O thread ([`NodeBuilder::io_threads`]) each time it is about
    /// to wait for work: everything it has read is handled. A handler that gathers work
    /// for a batch (a journal's group commit) can start the batch then instead of
    /// waiting for more that is not coming. Called often: keep it cheap. Without I/O
    /// threads of its own the node has no such moment, and the hook is not called.
    pub fn on_io_idle(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_io_idle = Some(std::sync::Arc::new(hook));
        self
    }
    /// What happens to requests pending on a failed peer (default: re-send elsewhere).
    pub fn failover(mut self, policy: FailoverPolicy) -> Self {
        self.failover = policy;
        self
    }
    /// A source address that may use the connection slots reserved for known peers
    /// ([`NodeLimits::reserved_connections`]) and is not limited per source; the
    /// addresses of configured peers are such sources already.
    pub fn reserved_source(mut self, ip: IpAddr) -> Self {
        self.reserved_sources.push(ip);
        self
    }
    /// Limits and timers.
    pub fn limits(mut self, limits: NodeLimits) -> Self {
        self.limits = limits;
        self
    }
    /// Timers for peers that connect to us without being configured (watchdog Tw, ...).
    pub fn responder_settings(mut self, settings: PeerSettings) -> Self {
        self.responder = Some(settings);
        self
    }
    /// Serves the node's counters in Prometheus text format over HTTP on this address
    /// (`GET /metrics`; port 0 for an ephemeral port, see [`Node::metrics_addr`]).
    pub fn metrics(mut self, addr: SocketAddr) -> Self {
        self.metrics = Some(addr);
        self
    }
    /// Application-Ids labelled by number in the metrics besides those the node
    /// advertises, has handlers or routes for (a relay's traffic). Others are counted
    /// under `other`.
    pub fn metrics_applications(mut self, ids: impl IntoIterator<Item = u32>) -> Self {
        self.metrics_applications.extend(ids);
        self
    }
    /// Command codes labelled by number in the metrics besides the base protocol's and
    /// those with a handler: the requests this node sends (a client's CCR, a server's
    /// RAR). Other commands are counted under `other`, so that codes from the network
    /// cannot grow the metrics.
    pub fn metrics_commands(mut self, codes: impl IntoIterator<Item = u32>) -> Self {
        self.metrics_commands.extend(codes);
        self
    }
    /// Result-Codes labelled by number in the metrics besides the base protocol's
    /// (RFC 6733 §7.1); others are counted under their class (`4xxx`, ...).
    pub fn metrics_result_codes(mut self, codes: impl IntoIterator<Item = u32>) -> Self {
        self.metrics_result_codes.extend(codes);
        self
    }
    /// Registers an application's own metrics into the node's registry, so that one
    /// endpoint ([`NodeBuilder::metrics`], [`Node::metrics_text`]) serves both. `register`
    /// runs once, when the node is built; the metrics it registers are handles (atomic
    /// counters, gauges) that the application keeps and updates without the node.
    pub fn metrics_registry(
        mut self,
        register: impl FnOnce(&mut prometheus_client::registry::Registry) + Send + 'static,
    ) -> Self {
        self.metrics_registrars.push(Box::new(register));
        self
    }
    /// TLS for every connection of the node (RFC 6733 §13, TLS from the first byte):
    /// listeners accept only TLS with a client certificate, and configured peers are
    /// reached over TLS unless [`PeerConfig::tls`] gives them their own certificates.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::transport::tls::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }
    /// The handler for one (Application-Id, Command-Code).
    pub fn handler(
        mut self,
        application_id: u32,
        command_code: u32,
        handler: impl Handler,
    ) -> Self {
        self.handlers
            .insert((application_id, command_code), Arc::new(handler));
        self
    }
    /// A typed handler registered under the request command's own code and application.
    pub fn typed_handler<Req, Ans, F, Fut>(self, f: F) -> Self
    where
        F: Fn(Req) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Ans> + Send + 'static,
        Req: Command + Send + 'static,
        Ans: Command + Send + 'static,
    {
        self.handler(Req::APPLICATION_ID, Req::CODE, typed(f))
    }

    /// Binds the listeners, starts the configured peers and returns the running node.
    pub async fn build(mut self) -> std::io::Result<Node> {
        if self.caps.origin_host.is_empty() || self.caps.origin_realm.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "origin_host and origin_realm are required",
            ));
        }
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if self.caps.origin_state_id.is_none() {
            self.caps.origin_state_id = Some(clock as u32);
        }
        if self.caps.product_name.is_empty() {
            self.caps.product_name = "diameter-rs".into();
        }
        let mut listeners = Vec::new();
        for addr in &self.listen {
            listeners.push(TcpListener::bind(addr).await?);
        }
        let local_addrs: Vec<SocketAddr> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        if self.caps.host_ip_addresses.is_empty() {
            let ips = local_addrs
                .iter()
                .map(|a| a.ip())
                .filter(|ip| !ip.is_unspecified());
            self.caps.host_ip_addresses.extend(ips);
        }
        if self.caps.host_ip_addresses.is_empty() {
            self.caps
                .host_ip_addresses
                .push(IpAddr::from([127, 0, 0, 1]));
        }
        #[cfg(feature = "tls")]
        let tls = self
            .tls
            .as_ref()
            .map(crate::transport::tls::TlsSetup::new)
            .transpose()?;
        #[cfg(feature = "tls")]
        let peer_tls = self
            .peers
            .iter()
            .map(|p| {
                p.tls
                    .as_ref()
                    .map(crate::transport::tls::TlsSetup::new)
                    .transpose()
                    .map(|t| t.or_else(|| tls.clone()).filter(|_| !p.plain))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let metrics_listener = match self.metrics {
            Some(addr) => Some(super::metrics::bind(addr).await?),
            None => None,
        };
        let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
        let agent = self.agent
            || !self.routes.is_empty()
            || self
                .caps
                .auth_applications
                .contains(&crate::base::app::RELAY);
        let labelling = super::metrics::Labelling::new(
            self.caps
                .auth_applications
                .iter()
                .chain(&self.caps.acct_applications)
                .copied()
                .chain(
                    self.caps
                        .vendor_applications
                        .iter()
                        .flat_map(|v| v.auth.into_iter().chain(v.acct)),
                )
                .chain(self.handlers.keys().map(|(app, _)| *app))
                .chain(self.routes.applications())
                .chain(self.metrics_applications.iter().copied()),
            self.handlers
                .keys()
                .map(|(_, cmd)| *cmd)
                .chain(self.metrics_commands.iter().copied()),
            self.metrics_result_codes.iter().copied(),
        );
        let (events, _) = broadcast::channel(1024);
        let agent_config = AgentConfig {
            host: self.caps.origin_host.clone(),
            realm: self.caps.origin_realm.clone(),
            forwards: agent,
            routes: self.routes.clone(),
            failover: self.failover,
            limits: self.limits.limits,
            header_only: self.handler_keys(|h| h.decodes_request()),
            self_deduplicating: self.handler_keys(|h| h.answers_retransmissions()),
            request_timeout: self.limits.request_timeout,
            duplicate_cache: self.limits.duplicate_cache,
            duplicate_cache_bytes: self.limits.duplicate_cache_bytes,
            max_waiters: AgentConfig::new("", "").max_waiters,
        };
        let agent = Agent::new(agent_config);
        let slots = Arc::new(ConnSlots::new(
            self.limits.max_inbound_connections,
            self.limits.reserved_connections,
            self.limits.max_connections_per_ip,
            self.peers
                .iter()
                .map(|p| p.addr.ip())
                .chain(self.reserved_sources.iter().copied())
                .chain(self.accept.reserved_sources()),
        ));
        let inner = Arc::new(Inner {
            sessions: Mutex::new(SessionIds::new(self.caps.origin_host.clone(), clock)),
            caps: Arc::new(self.caps),
            limits: self.limits,
            accept: self.accept,
            responder_settings: self.responder.unwrap_or_default(),
            handlers: super::handler::HandlerTable::new(self.handlers),
            peers: RwLock::new(Default::default()),
            agent_config: agent.config().clone(),
            agent: Mutex::new(agent),
            events,
            next_conn: AtomicU64::new(1),
            e2e: Mutex::new(EndToEndIds::new(clock)),
            local_addrs,
            metrics: Arc::new(super::metrics::Metrics::new(
                labelling,
                self.metrics_registrars,
            )),
            metrics_addr,
            #[cfg(feature = "tls")]
            tls,
            tasks: Mutex::new(Vec::new()),
            queued_bytes: Arc::default(),
            slots,
            shards: match self.io_threads {
                0 => None,
                n => Some(super::shards::Shards::start(n, self.on_io_idle.clone())?),
            },
        });
        let node = Node { inner };
        let timer = tokio::spawn(super::agent_timer(Arc::downgrade(&node.inner)));
        node.track(timer.abort_handle());
        if let Some(l) = metrics_listener {
            let task = tokio::spawn(super::metrics::serve(l, node.inner.metrics.clone()));
            node.track(task.abort_handle());
        }
        #[cfg(feature = "tls")]
        let mut peer_tls = peer_tls.into_iter();
        for p in &self.peers {
            spawn_peer(
                &node,
                &p.host,
                Some(p.addr),
                PeerSettings {
                    initiate: true,
                    ..p.settings.clone()
                },
                #[cfg(feature = "tls")]
                peer_tls.next().flatten(),
            );
        }
        for l in listeners {
            let task = tokio::spawn(accept_loop(node.clone(), l));
            node.track(task.abort_handle());
        }
        Ok(node)
    }
}

async fn accept_loop(node: Node, listener: TcpListener) {
    // A host that connects in a loop while no slot is free is logged once a second.
    let refused = crate::log_limit::LogLimit::new(std::time::Duration::from_secs(1));
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match node.inner.slots.try_acquire(remote.ip()) {
            Ok(p) => p,
            Err(why) => {
                if let Some(held_back) = refused.allow() {
                    tracing::warn!(%remote, ?why, held_back, "no connection slot, closing");
                }
                drop(stream);
                continue;
            }
        };
        // Registered again with the reactor of the thread that serves it (an I/O
        // thread's own, when the node has them).
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%remote, "cannot hand the connection over: {e}");
                continue;
            }
        };
        let owner = node.clone();
        node.spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => incoming(owner, stream, remote, permit).await,
                Err(e) => tracing::warn!(%remote, "cannot register the connection: {e}"),
            }
        });
    }
}

/// Opens TLS first when the node has it, then goes on as [`incoming_on`].
async fn incoming(node: Node, stream: TcpStream, remote: SocketAddr, permit: SlotGuard) {
    transport::tune(&stream, node.inner.socket_options());
    #[cfg(feature = "tls")]
    if let Some(tls) = node.inner.tls.clone() {
        let limit = node.inner.limits.cer_timeout;
        // TLS from the first byte (RFC 6733 §13): a TLS record starts with 22
        // (handshake), a Diameter message with its version, 1. Peers allowed plain TCP
        // (AllowedPeer::plain) use the same port without TLS.
        if node.inner.accept.any_plain() {
            let mut first = [0u8; 1];
            match tokio::time::timeout(limit, stream.peek(&mut first)).await {
                Ok(Ok(1)) if first[0] != 22 => {
                    let (rd, wr) = stream.into_split();
                    return incoming_on(node, rd, wr, remote, permit, None, true).await;
                }
                Ok(Ok(1)) => {}
                _ => return,
            }
        }
        let stream =
            match tokio::time::timeout(limit, transport::tls::accept(tls.server, stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!("TLS handshake refused: {e}");
                    return;
                }
                Err(_) => {
                    tracing::info!("TLS handshake timed out");
                    return;
                }
            };
        let cert = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.clone().into_owned());
        let Some(cert) = cert else {
            tracing::info!("TLS peer presented no certificate");
            return;
        };
        let identity = tls
            .verify_identity
            .then(|| transport::tls::identity_check(cert));
        let (rd, wr) = tokio::io::split(stream);
        return incoming_on(node, rd, wr, remote, permit, identity, false).await;
    }
    let (rd, wr) = stream.into_split();
    incoming_on(node, rd, wr, remote, permit, None, false).await
}

/// RFC 6733 §5.6.1: wait for the CER, check it (over TLS its Origin-Host against the
/// peer's certificate, then the accept policy for that Origin-Host and the connection's
/// `remote` address), then pass the connection to its peer. `plain` marks a plain TCP
/// connection to a node with TLS, for peers allowed that.
async fn incoming_on<R, W>(
    node: Node,
    mut rd: R,
    mut wr: W,
    remote: SocketAddr,
    permit: SlotGuard,
    identity: Option<transport::IdentityCheck>,
    plain: bool,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + transport::HardClose + Unpin + Send + 'static,
{
    let inner = node.inner.clone();
    let mut buf = BytesMut::new();
    let first = tokio::time::timeout(
        inner.limits.cer_timeout,
        transport::read_message(
            &mut rd,
            &mut buf,
            &inner.limits.limits,
            &inner.caps,
            None,
            None,
            &transport::HeaderOnly::default(),
        ),
    )
    .await;
    let cer = match first {
        Ok(Ok(m)) => m,
        Ok(Err(ReadError::Unframeable(Some(answer)))) => {
            let _ = wr.write_all(&answer.to_bytes()).await;
            return;
        }
        _ => return, // timeout, closed, or unanswerable garbage
    };
    if let Some(check) = &identity {
        let host = crate::fields::origin_host(&cer);
        if !host.as_deref().is_some_and(|h| check(h)) {
            tracing::warn!(
                origin_host = host.as_deref().unwrap_or(""),
                "CER Origin-Host does not match the peer certificate, refused"
            );
            let answer = crate::peer::capabilities::cea(
                &inner.caps,
                &cer.header,
                crate::result_code::DIAMETER_UNKNOWN_PEER,
                Some("Origin-Host does not match the TLS certificate"),
                None,
            );
            let _ = wr.write_all(&answer.to_bytes()).await;
            let _ = wr.shutdown().await;
            return;
        }
    }
    let admitted = match check_incoming(&inner.caps, &inner.accept, &cer, remote.ip()) {
        Ok(a) => a,
        Err(rej) => {
            tracing::info!(
                %remote,
                origin_host = crate::fields::origin_host(&cer).as_deref().unwrap_or(""),
                result_code = rej.result_code,
                "incoming connection refused"
            );
            if let Some(a) = rej.answer {
                let _ = wr.write_all(&a.to_bytes()).await;
            }
            let _ = wr.shutdown().await;
            return;
        }
    };
    let caps = admitted.caps;
    if plain && !inner.accept.allows_plain(&caps.origin_host) {
        tracing::info!(%remote, origin_host = %caps.origin_host, "plain TCP from a peer that must use TLS, refused");
        let rej = crate::peer::accept::unknown_peer(&inner.caps, &cer, "TLS required");
        if let Some(a) = rej.answer {
            let _ = wr.write_all(&a.to_bytes()).await;
        }
        let _ = wr.shutdown().await;
        return;
    }
    // Vouched for: the certificate names this Origin-Host, or the policy tied it to the
    // source address. Otherwise the connection may not contend for a peer being dialled.
    let vouched = identity.is_some() || admitted.source_bound;
    let peer = match node.peer(&caps.origin_host) {
        Some(p) => p,
        None => spawn_peer(
            &node,
            &caps.origin_host,
            None,
            PeerSettings {
                initiate: false,
                ..inner.responder_settings.clone()
            },
            #[cfg(feature = "tls")]
            None,
        ),
    };
    let id = ConnId(inner.next_conn.fetch_add(1, Ordering::Relaxed));
    let conn = transport::spawn_connection(
        id,
        (rd, wr),
        buf,
        inner.conn_options(identity),
        peer.tx.clone(),
        PeerCmd::Conn,
        Some(Box::new(permit)),
    );
    let _ = peer
        .tx
        .send(PeerCmd::Incoming {
            conn,
            cer,
            caps: Box::new(caps),
            remote: remote.ip(),
            vouched,
        })
        .await;
}
