//! Request routing of RFC 6733 §6.1: a realm routing table and the routing decision for
//! one request. Sans-IO; the node applies the decision.

use crate::fields::same_identity;
use crate::message::RawMessage;
use crate::result_code as rc;
use std::sync::Arc;

/// What to do with requests for a realm (RFC 6733 §2.7, Local-Action).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteAction {
    /// Process here.
    Local,
    /// Forward unchanged (apart from Route-Record) to one of the servers.
    Relay,
    /// Forward to one of the servers; like Relay here, a proxy may also apply policy.
    Proxy,
    /// Answer 3006 DIAMETER_REDIRECT_INDICATION naming the servers as Redirect-Host.
    Redirect,
}

/// One entry of the realm routing table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Destination-Realm this entry serves; `None` matches any realm (the default route).
    pub realm: Option<String>,
    /// Application-Id; `None` matches any application.
    pub application_id: Option<u32>,
    /// The action.
    pub action: RouteAction,
    /// Origin-Hosts of the peers to forward to (or to name in Redirect-Host), in order of
    /// preference. Empty for Relay/Proxy: any open peer of that realm.
    pub servers: Vec<String>,
}

impl Route {
    /// A route for `realm` and every application.
    pub fn realm(realm: impl Into<String>, action: RouteAction, servers: Vec<String>) -> Self {
        Route {
            realm: Some(realm.into()),
            application_id: None,
            action,
            servers,
        }
    }

    /// The default route, used when no realm entry matches.
    pub fn default_route(action: RouteAction, servers: Vec<String>) -> Self {
        Route {
            realm: None,
            application_id: None,
            action,
            servers,
        }
    }

    /// Restricts the route to one application.
    pub fn application(mut self, application_id: u32) -> Self {
        self.application_id = Some(application_id);
        self
    }
}

/// The realm routing table: the most specific entry wins (realm and application, then
/// realm, then the default route with an application, then the default route).
#[derive(Clone, Debug, Default)]
pub struct RoutingTable {
    /// Shared with the [`Target`]s that matched them (no copy per request).
    routes: Vec<Arc<Route>>,
}

impl RoutingTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Adds an entry.
    pub fn add(&mut self, route: Route) {
        self.routes.push(Arc::new(route));
    }

    /// The Application-Ids named by the entries.
    pub fn applications(&self) -> impl Iterator<Item = u32> + '_ {
        self.routes.iter().filter_map(|r| r.application_id)
    }

    /// The entry for a realm and application.
    pub fn lookup(&self, realm: &str, application_id: u32) -> Option<&Route> {
        self.lookup_shared(realm, application_id).map(|r| &**r)
    }

    fn lookup_shared(&self, realm: &str, application_id: u32) -> Option<&Arc<Route>> {
        let realm_ok = |r: &Route, exact: bool| match &r.realm {
            Some(x) => exact && same_identity(x, realm),
            None => !exact,
        };
        for exact in [true, false] {
            let app = self
                .routes
                .iter()
                .find(|r| realm_ok(r, exact) && r.application_id == Some(application_id));
            if let Some(r) = app.or_else(|| {
                self.routes
                    .iter()
                    .find(|r| realm_ok(r, exact) && r.application_id.is_none())
            }) {
                return Some(r);
            }
        }
        None
    }
}

/// Where a request goes, read once from its header, Destination-Host, Destination-Realm
/// and the routing table. [`decide`] and [`select`] both work from it, so a request is
/// looked up once however often it is re-sent (failover).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Application-Id of the request.
    pub application_id: u32,
    /// Destination-Host, when the request names one.
    pub host: Option<String>,
    /// Destination-Realm, when the request names one.
    pub realm: Option<String>,
    /// The routing table entry for the realm and application, if any.
    pub route: Option<Arc<Route>>,
}

impl Target {
    /// The target of `request` under `table`.
    pub fn of(table: &RoutingTable, request: &RawMessage) -> Target {
        // One walk for both (a request without Destination-Host is walked to its end).
        let scan = RequestScan::of(request);
        Target::scanned(table, request.header.application_id, &scan)
    }

    /// The target of a request already scanned.
    fn scanned(table: &RoutingTable, application_id: u32, scan: &RequestScan<'_>) -> Target {
        let text = |b: Option<&[u8]>| {
            b.and_then(|b| std::str::from_utf8(b).ok())
                .map(str::to_owned)
        };
        let (host, realm) = (text(scan.destination_host), text(scan.destination_realm));
        Target::named(table, application_id, host, realm)
    }

    fn named(
        table: &RoutingTable,
        application_id: u32,
        host: Option<String>,
        realm: Option<String>,
    ) -> Target {
        let route = realm
            .as_deref()
            .and_then(|r| table.lookup_shared(r, application_id))
            .cloned();
        Target {
            application_id,
            host,
            realm,
            route,
        }
    }
}

/// What [`select`] needs to know about a peer.
pub trait PeerView {
    /// Its Origin-Host.
    fn host(&self) -> &str;
    /// Whether it is open, its watchdog OKAY and it is not leaving.
    fn available(&self) -> bool;
    /// Whether the capabilities exchange agreed on this application.
    fn supports(&self, application_id: u32) -> bool;
    /// Whether its Origin-Realm is `realm`.
    fn in_realm(&self, realm: &str) -> bool;
    /// Whether it advertised the relay application (it takes any request).
    fn is_relay(&self) -> bool;
}

/// Picks the peer a request for `target` goes to, among `peers` (keyed by lowercase
/// Origin-Host), skipping those `excluded` says (peers already tried, the peer a request
/// came from).
///
/// The Destination-Host if it is an available peer; else the servers of a relay or proxy
/// route; else available peers of the Destination-Realm; else, with no route, a relay
/// peer. Among several, round robin by host name with `turn` (called only then). With
/// none, the Result-Code to answer: 3002 DIAMETER_UNABLE_TO_DELIVER when the realm is
/// known (a route or a peer of that realm) or absent, else 3003
/// DIAMETER_REALM_NOT_SERVED.
pub fn select<'a, K, P, S>(
    target: &Target,
    peers: &'a std::collections::HashMap<K, P, S>,
    excluded: impl Fn(&str) -> bool,
    turn: impl FnOnce() -> usize,
) -> Result<&'a P, u32>
where
    K: std::borrow::Borrow<str> + Eq + std::hash::Hash,
    P: PeerView,
    S: std::hash::BuildHasher,
{
    let app = target.application_id;
    let usable = |p: &P| p.available() && p.supports(app) && !excluded(p.host());
    if let Some(h) = &target.host {
        if let Some(p) = peer(peers, h).filter(|p| usable(p)) {
            return Ok(p);
        }
    }
    let realm = target.realm.as_deref();
    let route = target.route.as_ref();
    // A few peers at most, usually: no allocation per request.
    let mut candidates: smallvec::SmallVec<[&P; 8]> = match route {
        Some(r)
            if matches!(r.action, RouteAction::Relay | RouteAction::Proxy)
                && !r.servers.is_empty() =>
        {
            r.servers
                .iter()
                .filter_map(|s| peer(peers, s))
                .filter(|p| usable(p))
                .collect()
        }
        _ => peers
            .values()
            .filter(|p| usable(p))
            .filter(|p| match (realm, route) {
                (Some(r), None) => p.in_realm(r),
                _ => true,
            })
            .collect(),
    };
    if candidates.is_empty() && route.is_none() {
        // No peer in the realm and no route: hand the request to a relay peer.
        candidates = peers
            .values()
            .filter(|p| usable(p) && p.is_relay())
            .collect();
    }
    match candidates.len() {
        0 => {
            let known =
                route.is_some() || peers.values().any(|p| realm.is_some_and(|r| p.in_realm(r)));
            Err(if known || realm.is_none() {
                rc::DIAMETER_UNABLE_TO_DELIVER
            } else {
                rc::DIAMETER_REALM_NOT_SERVED
            })
        }
        1 => Ok(candidates[0]),
        n => {
            // Round robin over a stable order.
            candidates.sort_unstable_by(|a, b| a.host().cmp(b.host()));
            Ok(candidates[turn() % n])
        }
    }
}

/// The peer with Origin-Host `host` (any case) in a table keyed by lowercase hosts.
fn peer<'a, K, P, S>(peers: &'a std::collections::HashMap<K, P, S>, host: &str) -> Option<&'a P>
where
    K: std::borrow::Borrow<str> + Eq + std::hash::Hash,
    S: std::hash::BuildHasher,
{
    peers.get(&*table_key(host))
}

/// `host` as tables of peers key it: in lowercase, copied only when it has capitals.
pub(crate) fn table_key(host: &str) -> std::borrow::Cow<'_, str> {
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        host.to_ascii_lowercase().into()
    } else {
        host.into()
    }
}

/// The identity of the node deciding.
#[derive(Clone, Debug)]
pub struct LocalNode<'a> {
    /// Our Origin-Host.
    pub host: &'a str,
    /// Our Origin-Realm.
    pub realm: &'a str,
}

/// The routing decision for a received request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Process locally.
    Local,
    /// Forward to the peer [`select`] picks for this target.
    Forward(Target),
    /// Answer 3006 naming these hosts.
    Redirect(Vec<String>),
    /// Answer with this protocol error (3002, 3003, 3005).
    Reject(u32),
}

/// Decides what to do with a request received from a peer (RFC 6733 §6.1.4-§6.1.8).
///
/// Local when Destination-Host is ours, or when there is no Destination-Host and the
/// Destination-Realm is ours or absent. A request whose Route-Record already names us
/// is a loop (3005). A request with the P bit clear is never forwarded (3002).
/// Unknown realms without a default route are 3003.
pub fn decide(local: &LocalNode<'_>, table: &RoutingTable, request: &RawMessage) -> Decision {
    decide_routed(local, table, request, &RouteScan::of(request, local.host))
}

/// [`decide`] on a request already scanned ([`RouteScan`]): no walk of its own.
pub fn decide_routed(
    local: &LocalNode<'_>,
    table: &RoutingTable,
    request: &RawMessage,
    scan: &RouteScan<'_>,
) -> Decision {
    let target = Target::scanned(table, request.header.application_id, &scan.destination);
    if let Some(h) = &target.host {
        if same_identity(h, local.host) {
            return Decision::Local;
        }
    }
    let Some(realm) = target.realm.as_deref() else {
        return Decision::Local;
    };
    let ours = same_identity(realm, local.realm);
    let action = target.route.as_ref().map(|r| &r.action);
    if target.host.is_none() && ours && matches!(action, None | Some(RouteAction::Local)) {
        return Decision::Local;
    }
    if ours && target.host.is_some() && action.is_none() {
        // Our realm, another host: forward straight to that host if it is a peer.
        return forward(request, scan, target);
    }
    match action {
        Some(RouteAction::Local) => Decision::Local,
        Some(RouteAction::Redirect) => {
            if request.header.is_proxiable() {
                Decision::Redirect(target.route.map(|r| r.servers.clone()).unwrap_or_default())
            } else {
                Decision::Reject(rc::DIAMETER_UNABLE_TO_DELIVER)
            }
        }
        Some(RouteAction::Relay | RouteAction::Proxy) => forward(request, scan, target),
        None => Decision::Reject(rc::DIAMETER_REALM_NOT_SERVED),
    }
}

/// The decision of a node that is not an agent (RFC 6733 §2.8: only relays, proxies
/// and redirect agents pass requests on): it never forwards or redirects.
///
/// Local when Destination-Host is ours, or when there is no Destination-Host and the
/// Destination-Realm is ours or absent. A request for another host of our realm is
/// answered 3002 DIAMETER_UNABLE_TO_DELIVER, one for another realm 3003
/// DIAMETER_REALM_NOT_SERVED, so an outside peer cannot reach the other nodes of the
/// realm through this one.
pub fn decide_server(local: &LocalNode<'_>, request: &RawMessage) -> Decision {
    decide_scanned(local, &RequestScan::of(request))
}

/// [`decide_server`] on a request already scanned.
pub fn decide_scanned(local: &LocalNode<'_>, scan: &RequestScan<'_>) -> Decision {
    let (dest_host, dest_realm) = (scan.destination_host, scan.destination_realm);
    if dest_host.is_some_and(|h| same_identity(h, local.host)) {
        return Decision::Local;
    }
    match dest_realm {
        None => Decision::Local,
        Some(r) if same_identity(r, local.realm) => match dest_host {
            None => Decision::Local,
            Some(_) => Decision::Reject(rc::DIAMETER_UNABLE_TO_DELIVER),
        },
        Some(_) => Decision::Reject(rc::DIAMETER_REALM_NOT_SERVED),
    }
}

/// What a server needs from a request's top-level AVPs besides its handler's own decode,
/// found in one walk, without copies: where it is going (the routing decision) and
/// whether its answer must echo Proxy-Info (RFC 6733 §6.7.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestScan<'a> {
    /// The first Destination-Host (absent when it is not UTF-8, as
    /// [`destination_host`](crate::fields::destination_host) has it).
    pub destination_host: Option<&'a [u8]>,
    /// The first Destination-Realm (the same way).
    pub destination_realm: Option<&'a [u8]>,
    /// Whether the request carries a Proxy-Info.
    pub proxy_info: bool,
}

impl<'a> RequestScan<'a> {
    /// Walks the request's top-level AVPs once.
    pub fn of(request: &'a RawMessage) -> Self {
        let (mut scan, mut seen) = (RequestScan::default(), 0);
        let mut avps = request.avps();
        while let Some(a) = avps.next_avp() {
            note_destination(&mut scan, &mut seen, &a);
        }
        scan
    }
}

/// Notes `a` in `scan` when it is the first Destination-Host or Destination-Realm (its
/// payload when UTF-8, else none; `seen` marks which were met) or a Proxy-Info.
fn note_destination<'a>(scan: &mut RequestScan<'a>, seen: &mut u8, a: &crate::avp::AvpRef<'a>) {
    if a.vendor != 0 {
        return;
    }
    let (slot, bit) = match a.code {
        crate::base::avp::DESTINATION_HOST => (&mut scan.destination_host, HOST_SEEN),
        crate::base::avp::DESTINATION_REALM => (&mut scan.destination_realm, REALM_SEEN),
        crate::base::avp::PROXY_INFO => {
            scan.proxy_info = true;
            return;
        }
        _ => return,
    };
    if *seen & bit == 0 {
        *seen |= bit;
        let data = a.data();
        *slot = std::str::from_utf8(data).is_ok().then_some(data);
    }
}

/// The payload of the first base-protocol AVP `code` among `avps` (a decoded message's
/// `other` members), as [`RequestScan`] takes it: `None` when absent or not UTF-8.
pub fn first_text(avps: &[crate::avp::RawAvp], code: u32) -> Option<&[u8]> {
    let data = &avps.iter().find(|a| a.code == code && a.vendor == 0)?.data;
    std::str::from_utf8(data).is_ok().then_some(&data[..])
}

fn forward(request: &RawMessage, scan: &RouteScan<'_>, target: Target) -> Decision {
    if !request.header.is_proxiable() {
        return Decision::Reject(rc::DIAMETER_UNABLE_TO_DELIVER);
    }
    if scan.looped {
        return Decision::Reject(rc::DIAMETER_LOOP_DETECTED);
    }
    Decision::Forward(target)
}

/// What an agent needs from a request's top-level AVPs to route it, found in one walk:
/// where it is going, whether it carries Proxy-Info, and whether a Route-Record names
/// this node (a forwarding loop, RFC 6733 §6.1.3). [`RouteScan::checked`] is also the
/// check of every top-level AVP header that framing left to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteScan<'a> {
    /// Destination-Host, Destination-Realm and Proxy-Info, as [`RequestScan`] finds them.
    pub destination: RequestScan<'a>,
    /// Whether a Route-Record names `host` (ASCII case aside).
    pub looped: bool,
    /// Which of Destination-Host and Destination-Realm were met (the first counts).
    seen: u8,
}

const HOST_SEEN: u8 = 1;
const REALM_SEEN: u8 = 2;

impl<'a> RouteScan<'a> {
    /// Walks the request's top-level AVPs once for node `host`, stopping at the first
    /// malformed AVP header (a message framing checked in full has none).
    pub fn of(request: &'a RawMessage, host: &str) -> Self {
        let mut avps = request.avps();
        let mut scan = RouteScan::default();
        while let Some(a) = avps.next_avp() {
            scan.add(&a, host);
        }
        scan
    }

    /// [`RouteScan::of`], checking every top-level AVP header on the way (5014, 3009) and
    /// their number ([`Limits::max_avps`], 5009), as [`RawMessage::check_avps`] does: one
    /// walk for a request framed with its header checked only.
    ///
    /// [`Limits::max_avps`]: crate::message::Limits::max_avps
    pub fn checked(
        request: &'a RawMessage,
        host: &str,
        limits: &crate::message::Limits,
    ) -> Result<Self, crate::error::DecodeError> {
        let mut avps = request.avps();
        let mut scan = RouteScan::default();
        let mut count = 0u32;
        while let Some(a) = avps.next_avp() {
            count += 1;
            if count > limits.max_avps {
                return Err(crate::traits::too_many_avps(a, limits.max_avps));
            }
            scan.add(&a, host);
        }
        avps.finish()?;
        Ok(scan)
    }

    fn add(&mut self, a: &crate::avp::AvpRef<'a>, host: &str) {
        if a.vendor == 0 && a.code == crate::base::avp::ROUTE_RECORD {
            // Equal bytes up to ASCII case are as valid UTF-8 as `host`: no check of it.
            self.looped |= same_identity(a.data(), host);
        } else {
            note_destination(&mut self.destination, &mut self.seen, a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::avp;
    use crate::fields::str_avp;
    use crate::header::{CommandFlags, Header};

    const ME: LocalNode<'static> = LocalNode {
        host: "relay.a.net",
        realm: "a.net",
    };

    fn req(realm: &str, rr: &[&str], p: bool) -> RawMessage {
        let flags = CommandFlags::REQUEST | if p { CommandFlags::PROXIABLE } else { 0 };
        let mut avps = vec![str_avp(avp::DESTINATION_REALM, realm)];
        avps.extend(rr.iter().map(|h| str_avp(avp::ROUTE_RECORD, h)));
        RawMessage::from_avps(Header::new(272, 4, flags, 1, 1), &avps)
    }

    fn table() -> RoutingTable {
        let mut t = RoutingTable::new();
        t.add(Route::realm(
            "b.net",
            RouteAction::Relay,
            vec!["srv1.b.net".into(), "srv2.b.net".into()],
        ));
        t.add(Route::realm(
            "c.net",
            RouteAction::Redirect,
            vec!["srv.c.net".into()],
        ));
        t.add(Route::realm("b.net", RouteAction::Local, vec![]).application(5));
        t
    }

    struct FakePeer {
        host: &'static str,
        realm: &'static str,
        up: bool,
        relay: bool,
    }

    impl PeerView for FakePeer {
        fn host(&self) -> &str {
            self.host
        }
        fn available(&self) -> bool {
            self.up
        }
        fn supports(&self, app: u32) -> bool {
            app == 4 || self.relay
        }
        fn in_realm(&self, realm: &str) -> bool {
            same_identity(self.realm, realm)
        }
        fn is_relay(&self) -> bool {
            self.relay
        }
    }

    fn peers(list: &[(&'static str, bool, bool)]) -> std::collections::HashMap<String, FakePeer> {
        list.iter()
            .map(|&(host, up, relay)| {
                let realm = host.split_once('.').map_or("", |x| x.1);
                (
                    host.to_ascii_lowercase(),
                    FakePeer {
                        host,
                        realm,
                        up,
                        relay,
                    },
                )
            })
            .collect()
    }

    fn pick(
        t: &Target,
        p: &std::collections::HashMap<String, FakePeer>,
        ex: &[&str],
    ) -> Result<&'static str, u32> {
        select(t, p, |h| ex.iter().any(|e| same_identity(e, h)), || 1).map(|p| p.host)
    }

    #[test]
    fn select_follows_the_one_target() {
        let t = table();
        let p = peers(&[
            ("srv1.b.net", true, false),
            ("srv2.b.net", true, false),
            ("other.b.net", true, false),
            ("down.e.net", false, false),
            ("hub.x.net", true, true),
        ]);
        // A relay route: only its servers, round robin by name, failover skips the tried.
        let target = Target::of(&t, &req("b.net", &[], true));
        assert_eq!(pick(&target, &p, &[]), Ok("srv2.b.net"));
        assert_eq!(pick(&target, &p, &["SRV2.b.net"]), Ok("srv1.b.net"));
        assert_eq!(pick(&target, &p, &["srv1.b.net", "srv2.b.net"]), Err(3002));
        // Destination-Host wins when it is an available peer.
        let mut r = req("b.net", &[], true);
        r.push(&str_avp(avp::DESTINATION_HOST, "Other.b.net"));
        assert_eq!(pick(&Target::of(&t, &r), &p, &[]), Ok("other.b.net"));
        // No route: a peer of the realm, else a relay peer.
        assert_eq!(
            pick(&Target::of(&t, &req("e.net", &[], true)), &p, &[]),
            Ok("hub.x.net")
        );
        let no_hub = peers(&[("down.e.net", false, false)]);
        assert_eq!(
            pick(&Target::of(&t, &req("e.net", &[], true)), &no_hub, &[]),
            Err(3002)
        );
        assert_eq!(
            pick(&Target::of(&t, &req("z.net", &[], true)), &no_hub, &[]),
            Err(3003)
        );
    }

    #[test]
    fn decide_forwards_the_target_it_looked_up() {
        let t = table();
        let Decision::Forward(target) = decide(&ME, &t, &req("b.net", &[], true)) else {
            panic!("not forwarded");
        };
        assert_eq!(target.realm.as_deref(), Some("b.net"));
        assert_eq!(target.route.map(|r| r.servers.len()), Some(2));
    }

    #[test]
    fn decisions() {
        let t = table();
        assert_eq!(decide(&ME, &t, &req("a.net", &[], true)), Decision::Local);
        assert!(
            matches!(decide(&ME, &t, &req("b.net", &[], true)), Decision::Forward(t) if t.route.as_ref().unwrap().servers.len() == 2)
        );
        assert_eq!(
            decide(&ME, &t, &req("b.net", &["x", "RELAY.a.net"], true)),
            Decision::Reject(3005)
        );
        assert_eq!(
            decide(&ME, &t, &req("b.net", &[], false)),
            Decision::Reject(3002)
        );
        assert_eq!(
            decide(&ME, &t, &req("c.net", &[], true)),
            Decision::Redirect(vec!["srv.c.net".into()])
        );
        assert_eq!(
            decide(&ME, &t, &req("d.net", &[], true)),
            Decision::Reject(3003)
        );
    }

    #[test]
    fn application_specific_entry_wins_and_default_route() {
        let mut t = table();
        let mut r = req("b.net", &[], true);
        r.header.application_id = 5;
        assert_eq!(decide(&ME, &t, &r), Decision::Local);
        t.add(Route::default_route(
            RouteAction::Relay,
            vec!["up.net".into()],
        ));
        assert!(matches!(
            decide(&ME, &t, &req("d.net", &[], true)),
            Decision::Forward(_)
        ));
    }

    #[test]
    fn a_server_never_forwards() {
        let mut other_host = req("a.net", &[], true);
        other_host.push(&str_avp(avp::DESTINATION_HOST, "ocs2.a.net"));
        assert!(matches!(
            decide(&ME, &RoutingTable::new(), &other_host),
            Decision::Forward(_)
        ));
        assert_eq!(decide_server(&ME, &other_host), Decision::Reject(3002));
        assert_eq!(
            decide_server(&ME, &req("b.net", &[], true)),
            Decision::Reject(3003)
        );
        assert_eq!(
            decide_server(&ME, &req("A.NET", &[], true)),
            Decision::Local
        );
        let mut mine = req("b.net", &[], true);
        mine.push(&str_avp(avp::DESTINATION_HOST, "Relay.A.net"));
        assert_eq!(decide_server(&ME, &mine), Decision::Local);
        // Only the first Destination-Host counts; one that is not UTF-8 is absent.
        let mut bad = req("a.net", &[], true);
        bad.push(&crate::avp::RawAvp::new(
            avp::DESTINATION_HOST,
            0,
            0,
            bytes::Bytes::from_static(b"\xff\xfe"),
        ));
        bad.push(&str_avp(avp::DESTINATION_HOST, "other.a.net"));
        assert_eq!(decide_server(&ME, &bad), Decision::Local);
        let mut second = req("a.net", &[], true);
        second.push(&str_avp(avp::DESTINATION_HOST, "other.a.net"));
        second.push(&str_avp(avp::DESTINATION_HOST, "relay.a.net"));
        assert_eq!(decide_server(&ME, &second), Decision::Reject(3002));
    }

    #[test]
    fn one_checked_walk_finds_what_the_separate_walks_and_the_framing_check_find() {
        let limits = crate::message::Limits::default();
        let mut m = req("b.net", &["x.c.net", "RELAY.a.net"], true);
        m.push(&str_avp(avp::DESTINATION_HOST, "srv.b.net"));
        m.push(&str_avp(avp::DESTINATION_HOST, "second.b.net"));
        m.push(&crate::avp::RawAvp::new(
            avp::PROXY_INFO,
            0x40,
            0,
            bytes::Bytes::new(),
        ));
        let scan = RouteScan::checked(&m, ME.host, &limits).unwrap();
        assert_eq!(scan, RouteScan::of(&m, ME.host));
        assert_eq!(scan.destination, RequestScan::of(&m));
        assert!(scan.looped, "a Route-Record names us, in other letters");
        assert!(!RouteScan::of(&m, "other.a.net").looped);
        assert_eq!(scan.destination.destination_host, Some(&b"srv.b.net"[..]));
        // Decided from the scan as from the request.
        for host in [ME.host, "other.a.net"] {
            let local = LocalNode {
                host,
                realm: ME.realm,
            };
            assert_eq!(
                decide_routed(&local, &table(), &m, &RouteScan::of(&m, host)),
                decide(&local, &table(), &m)
            );
        }
        // A bad AVP header or too many AVPs: the error framing would have given.
        let mut bad = m.clone();
        let mut body = bytes::BytesMut::from(&bad.body[..]);
        body.extend_from_slice(&[0, 0, 1, 7, 0x40, 0, 0, 64]);
        bad.body = body.freeze();
        let e = RouteScan::checked(&bad, ME.host, &limits).unwrap_err();
        assert_eq!(e, bad.check_avps(&limits).unwrap_err());
        assert_eq!(e.result_code(), 5014);
        let few = crate::message::Limits {
            max_avps: 3,
            ..limits
        };
        let e = RouteScan::checked(&m, ME.host, &few).unwrap_err();
        assert_eq!(e, m.check_avps(&few).unwrap_err());
        assert_eq!(e.result_code(), 5009);
    }
}
