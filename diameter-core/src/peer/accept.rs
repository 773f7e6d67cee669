//! Incoming connections before their CER (RFC 6733 §5.6.1): the logic that reads the
//! first message, checks it is a CER from an allowed peer, and hands it to the peer's
//! state machine as R-Conn-CER.

use super::capabilities::{cea, Capabilities};
use crate::base::command;
use crate::fields::same_identity;
use crate::message::RawMessage;
use crate::result_code as rc;

/// Which peers may connect to this node.
///
/// The default, [`AcceptPolicy::AnyPeer`], accepts every peer that sends a valid CER and
/// shares an application (RFC 6733 leaves this to local policy). Use an allow-list to
/// answer other peers with 3010 DIAMETER_UNKNOWN_PEER.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AcceptPolicy {
    /// Any peer with a valid CER.
    #[default]
    AnyPeer,
    /// Only these Origin-Hosts (compared ignoring ASCII case).
    AllowList(Vec<String>),
}

impl AcceptPolicy {
    /// Whether a peer with this Origin-Host may connect.
    pub fn allows(&self, origin_host: &str) -> bool {
        match self {
            AcceptPolicy::AnyPeer => true,
            AcceptPolicy::AllowList(hosts) => hosts.iter().any(|h| same_identity(h, origin_host)),
        }
    }
}

/// Why an incoming connection was refused, and the CEA to send before closing, if any.
#[derive(Clone, Debug)]
pub struct Rejection {
    /// The answer to send before closing; `None` when the first message was not a CER.
    pub answer: Option<RawMessage>,
    /// The Result-Code (0 when nothing is answered).
    pub result_code: u32,
}

/// Checks the first message of an accepted connection. `Ok` gives the peer's capabilities;
/// the caller then passes the CER to that peer's state machine.
pub fn check_incoming(
    local: &Capabilities,
    policy: &AcceptPolicy,
    first: &RawMessage,
) -> Result<Capabilities, Rejection> {
    let h = &first.header;
    if h.command_code != command::CAPABILITIES_EXCHANGE || !h.is_request() {
        return Err(Rejection {
            answer: None,
            result_code: 0,
        });
    }
    let caps = match Capabilities::parse(first) {
        Ok(c) => c,
        Err(e) => {
            let text = e.kind.to_string();
            let answer = cea(
                local,
                h,
                e.result_code(),
                Some(&text),
                e.failed_avp.as_ref(),
            );
            return Err(Rejection {
                answer: Some(answer),
                result_code: e.result_code(),
            });
        }
    };
    if !policy.allows(&caps.origin_host) {
        let code = rc::DIAMETER_UNKNOWN_PEER;
        let answer = cea(local, h, code, Some("peer not in the allow-list"), None);
        return Err(Rejection {
            answer: Some(answer),
            result_code: code,
        });
    }
    Ok(caps)
}
