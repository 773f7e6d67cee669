//! The client over the runtime of `diameter-core`: [`Transport`] for a
//! [`diameter_core::node::Node`], and the RTR / PPR handlers of a SIP server's node.

use super::events::{answer_ppr, answer_rtr, SipServerEvents};
use super::{ClientError, Transport, TransportFuture};
use diameter::dict::sip_rfc4740::{Ppa, Ppr, Rta, Rtr};
use diameter_core::node::{Node, NodeBuilder, RequestError};
use diameter_core::RawMessage;
use std::sync::Arc;

impl Transport for Node {
    fn request(&self, msg: RawMessage) -> TransportFuture<'_> {
        Box::pin(async move {
            match Node::request(self, msg).await {
                Ok(answer) => Ok(answer),
                // An answer with the E bit (3xxx): hand it back, the caller reads Result-Code.
                Err(RequestError::Protocol { answer, .. }) => Ok(*answer),
                Err(e) => Err(ClientError::Transport(e.to_string())),
            }
        })
    }

    fn new_session_id(&self) -> String {
        Node::new_session_id(self)
    }
}

/// Registers handlers for the RTR and PPR a Diameter server sends to this SIP server's node
/// (Auth-Application-Id 6 must be advertised with `auth_application(6)`).
pub fn register_events(
    builder: NodeBuilder,
    origin_host: &str,
    origin_realm: &str,
    events: Arc<dyn SipServerEvents>,
) -> NodeBuilder {
    let (h1, r1, e1) = (
        origin_host.to_string(),
        origin_realm.to_string(),
        events.clone(),
    );
    let (h2, r2, e2) = (origin_host.to_string(), origin_realm.to_string(), events);
    builder
        .typed_handler(move |rtr: Rtr| {
            let (h, r, e) = (h1.clone(), r1.clone(), e1.clone());
            async move {
                let rta: Rta = answer_rtr(&rtr, &h, &r, e.as_ref());
                rta
            }
        })
        .typed_handler(move |ppr: Ppr| {
            let (h, r, e) = (h2.clone(), r2.clone(), e2.clone());
            async move {
                let ppa: Ppa = answer_ppr(&ppr, &h, &r, e.as_ref());
                ppa
            }
        })
}
