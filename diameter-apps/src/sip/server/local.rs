//! Message-level dispatch, and an in-process [`Transport`] for tests and examples.

use super::{Caller, Server, APPLICATION_ID};
use crate::sip::client::{ClientError, Transport, TransportFuture};
use diameter::dict::base_rfc6733::Str;
use diameter::dict::sip_rfc4740::{Lir, Mar, Sar, Uar};
use diameter_core::ids::SessionIds;
use diameter_core::{Command, DecodeError, RawMessage};
use std::sync::{Arc, Mutex};

impl Server {
    /// Answers a request of the SIP application from `caller` given as a message: UAR, MAR,
    /// SAR, LIR or STR (decoded, handled, encoded with the request's ids). `Ok(None)` for another
    /// command; `Err` when the request does not decode (the runtime answers with its
    /// Result-Code).
    pub fn dispatch(
        &self,
        caller: &Caller,
        req: &RawMessage,
    ) -> Result<Option<RawMessage>, DecodeError> {
        let h = req.header;
        let (hop, e2e) = (h.hop_by_hop, h.end_to_end);
        Ok(Some(match h.command_code {
            Uar::CODE => {
                self.handle_uar(caller, &Uar::decode(req)?)
                    .to_message(APPLICATION_ID, hop, e2e)
            }
            Mar::CODE => {
                self.handle_mar(caller, &Mar::decode(req)?)
                    .to_message(APPLICATION_ID, hop, e2e)
            }
            Sar::CODE => {
                self.handle_sar(caller, &Sar::decode(req)?)
                    .to_message(APPLICATION_ID, hop, e2e)
            }
            Lir::CODE => {
                self.handle_lir(caller, &Lir::decode(req)?)
                    .to_message(APPLICATION_ID, hop, e2e)
            }
            Str::CODE => {
                self.handle_str(caller, &Str::decode(req)?)
                    .to_message(APPLICATION_ID, hop, e2e)
            }
            _ => return Ok(None),
        }))
    }
}

/// A [`Transport`] that hands requests to a [`Server`] in the same process, through the
/// wire encoding (so the codec is exercised as over a socket), as if from the peer `peer`.
pub struct Local {
    server: Arc<Server>,
    peer: String,
    sessions: Mutex<SessionIds>,
    next_id: Mutex<u32>,
}

impl Local {
    /// A transport to `server` for the SIP server `peer` (its Origin-Host, as the node
    /// would have admitted it).
    pub fn new(server: Arc<Server>, peer: &str) -> Self {
        Local {
            server,
            peer: peer.to_ascii_lowercase(),
            sessions: Mutex::new(SessionIds::new("local.client", 1)),
            next_id: Mutex::new(1),
        }
    }
}

impl Transport for Local {
    fn request(&self, msg: RawMessage) -> TransportFuture<'_> {
        let id = {
            let mut n = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
            *n = n.wrapping_add(1);
            *n
        };
        let mut msg = msg;
        msg.header.hop_by_hop = id;
        msg.header.end_to_end = id;
        // Through the bytes, as a peer would see it.
        let bytes = msg.to_bytes();
        let result = RawMessage::decode(bytes, &Default::default())
            .map_err(ClientError::Decode)
            .and_then(|m| {
                self.server
                    .dispatch(&Caller::new(&self.peer), &m)
                    .map_err(ClientError::Decode)
            })
            .and_then(|a| a.ok_or_else(|| ClientError::Transport("command not supported".into())))
            .and_then(|a| {
                RawMessage::decode(a.to_bytes(), &Default::default()).map_err(ClientError::Decode)
            });
        Box::pin(async move { result })
    }

    fn new_session_id(&self) -> String {
        let mut ids = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        ids.next(None)
    }
}
