//! Sending an [`AcrRequest`] on a [`Node`]: the Destination-Host it names and the T flag
//! of a retransmission (after a failover, or from storage; RFC 6733 §9.4).

use super::client::AcrRequest;
use super::APPLICATION_ID;
use diameter::dict::base_rfc6733::{Aca, Acr};
use diameter_core::node::{Node, RequestError, SendOptions};

/// The ACR as it goes on the wire: Destination-Host set to the request's target (the
/// secondary server after a failover), else as built.
pub fn wire_acr(req: &AcrRequest) -> Acr {
    let mut acr = req.acr.clone();
    if let Some(host) = &req.destination_host {
        acr.destination_host = Some(host.as_str().into());
    }
    acr
}

/// Sends `req` under the base accounting application (3), with the T flag when
/// [`AcrRequest::retransmit`] is set, and decodes the ACA.
pub async fn send_acr(node: &Node, req: &AcrRequest) -> Result<Aca, RequestError> {
    let app = req.acr.acct_application_id.unwrap_or(APPLICATION_ID);
    let options = if req.retransmit {
        SendOptions::retransmission()
    } else {
        SendOptions::default()
    };
    node.send_with(&wire_acr(req), app, options).await
}
