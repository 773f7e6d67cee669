//! Request routing of RFC 6733 §6.1: a realm routing table and the routing decision for
//! one request. Sans-IO; the node applies the decision.

use crate::fields::{destination_host, destination_realm, route_records, same_identity};
use crate::message::RawMessage;
use crate::result_code as rc;

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
    routes: Vec<Route>,
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
        self.routes.push(route);
    }

    /// The Application-Ids named by the entries.
    pub fn applications(&self) -> impl Iterator<Item = u32> + '_ {
        self.routes.iter().filter_map(|r| r.application_id)
    }

    /// The entry for a realm and application.
    pub fn lookup(&self, realm: &str, application_id: u32) -> Option<&Route> {
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
    /// Forward to one of these peers (empty: any open peer of `realm`).
    Forward {
        /// Destination-Realm.
        realm: String,
        /// Preferred peers, by Origin-Host.
        servers: Vec<String>,
        /// Destination-Host, when the request names one.
        host: Option<String>,
    },
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
    let dest_host = destination_host(request);
    let dest_realm = destination_realm(request);
    if let Some(h) = &dest_host {
        if same_identity(h, local.host) {
            return Decision::Local;
        }
    }
    let realm = match dest_realm {
        None => return Decision::Local,
        Some(r) => r,
    };
    let route = table.lookup(&realm, request.header.application_id);
    let ours = same_identity(&realm, local.realm);
    if dest_host.is_none() && ours && !matches!(route, Some(r) if r.action != RouteAction::Local) {
        return Decision::Local;
    }
    if ours && dest_host.is_some() && route.is_none() {
        // Our realm, another host: forward straight to that host if it is a peer.
        return forward(local, request, realm, vec![], dest_host);
    }
    match route {
        Some(r) => match r.action {
            RouteAction::Local => Decision::Local,
            RouteAction::Redirect => {
                if request.header.is_proxiable() {
                    Decision::Redirect(r.servers.clone())
                } else {
                    Decision::Reject(rc::DIAMETER_UNABLE_TO_DELIVER)
                }
            }
            RouteAction::Relay | RouteAction::Proxy => {
                forward(local, request, realm, r.servers.clone(), dest_host)
            }
        },
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
    let dest_host = destination_host(request);
    if dest_host
        .as_deref()
        .is_some_and(|h| same_identity(h, local.host))
    {
        return Decision::Local;
    }
    match destination_realm(request) {
        None => Decision::Local,
        Some(r) if same_identity(&r, local.realm) => match dest_host {
            None => Decision::Local,
            Some(_) => Decision::Reject(rc::DIAMETER_UNABLE_TO_DELIVER),
        },
        Some(_) => Decision::Reject(rc::DIAMETER_REALM_NOT_SERVED),
    }
}

fn forward(
    local: &LocalNode<'_>,
    request: &RawMessage,
    realm: String,
    servers: Vec<String>,
    host: Option<String>,
) -> Decision {
    if !request.header.is_proxiable() {
        return Decision::Reject(rc::DIAMETER_UNABLE_TO_DELIVER);
    }
    if route_records(request)
        .iter()
        .any(|h| same_identity(h, local.host))
    {
        return Decision::Reject(rc::DIAMETER_LOOP_DETECTED);
    }
    Decision::Forward {
        realm,
        servers,
        host,
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

    #[test]
    fn decisions() {
        let t = table();
        assert_eq!(decide(&ME, &t, &req("a.net", &[], true)), Decision::Local);
        assert!(
            matches!(decide(&ME, &t, &req("b.net", &[], true)), Decision::Forward { servers, .. } if servers.len() == 2)
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
            Decision::Forward { .. }
        ));
    }

    #[test]
    fn a_server_never_forwards() {
        let mut other_host = req("a.net", &[], true);
        other_host.push(&str_avp(avp::DESTINATION_HOST, "ocs2.a.net"));
        assert!(matches!(
            decide(&ME, &RoutingTable::new(), &other_host),
            Decision::Forward { .. }
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
    }
}
