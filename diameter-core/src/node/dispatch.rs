//! What happens to a request received from a peer: duplicate check, routing decision,
//! then a local handler, a relay to another peer, a redirect or an error answer.

use super::{add_route_record, Node, RequestError};
use crate::agent::{InFlightKey, Joined};
use crate::answer::{answer_with, error_answer, Origin};
use crate::avp::{AvpFlags, RawAvp};
use crate::base::avp;
use crate::fields::u32_avp;
use crate::header::CommandFlags;
use crate::message::RawMessage;
use crate::result_code as rc;
use crate::routing::{decide, decide_server, Decision, LocalNode, Target};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

fn origin(node: &Node) -> Origin<'_> {
    Origin {
        host: &node.inner.caps.origin_host,
        realm: &node.inner.caps.origin_realm,
    }
}

/// An answer to `request` with only a Result-Code (E bit for 3xxx).
pub(crate) fn answer_code(node: &Node, request: &RawMessage, code: u32) -> RawMessage {
    answer_with(request, &origin(node), code, None, None)
}

/// The routing decision for a request received by this node (a server never forwards).
pub(crate) fn decision(node: &Node, request: &RawMessage) -> Decision {
    let caps = &node.inner.caps;
    let local = LocalNode {
        host: &caps.origin_host,
        realm: &caps.origin_realm,
    };
    if node.inner.agent {
        decide(&local, &node.inner.routes, request)
    } else {
        decide_server(&local, request)
    }
}

/// Produces the answer to a request from peer `from`; `decided` is its routing decision
/// when the caller took it already (never for a retransmission, which may be answered
/// from the duplicate cache first).
pub(crate) async fn dispatch(
    node: &Node,
    request: RawMessage,
    from: &Arc<str>,
    decided: Option<Decision>,
) -> RawMessage {
    let cached = if request.header.is_retransmit() {
        super::lock(&node.inner.dedup).lookup(Instant::now(), &request)
    } else {
        None
    };
    if let Some(cached) = cached {
        tracing::debug!(
            end_to_end = request.header.end_to_end,
            "duplicate request answered from cache"
        );
        return cached;
    }
    if request.header.is_retransmit() {
        if let Some(answer) = wait_in_flight(node, &request).await {
            return answer;
        }
    }
    let decision = decided.unwrap_or_else(|| decision(node, &request));
    // A request for a typed handler was framed with its header checked only; anywhere
    // else than that handler it gets the check of its AVP headers it skipped.
    if !matches!(decision, Decision::Local) && skipped_avp_check(node, &request) {
        if let Err(e) = request.check_avps(&node.inner.limits.limits) {
            return error_answer(&request, &origin(node), &e);
        }
    }
    // The server detects duplicates, not the agents between (RFC 6733 Appendix C).
    let cache = !matches!(decision, Decision::Forward(_));
    let answer = match decision {
        Decision::Local => {
            let peer = match from.bytes().any(|b| b.is_ascii_uppercase()) {
                true => from.to_ascii_lowercase().into(),
                false => from.clone(),
            };
            let limits = node.inner.limits.limits;
            let handled = DECODE_LIMITS.scope(limits, local_answer(node, &request));
            REQUEST_PEER.scope(peer, handled).await
        }
        Decision::Forward(target) => relay(node, &request, &target, from).await,
        Decision::Redirect(hosts) => redirect(node, &request, &hosts),
        Decision::Reject(code) => answer_code(node, &request, code),
    };
    let answer = within_size(node, &request, answer);
    if cache {
        super::lock(&node.inner.dedup).insert(Instant::now(), &request, &answer);
    }
    answer
}

/// An answer larger than the node's maximum message size (which peers built the same
/// way refuse, and which no peer advertises otherwise) is not sent: it is replaced by a
/// 5012 DIAMETER_UNABLE_TO_COMPLY answer with an Error-Message and, when the refused
/// answer had one, its Failed-AVP cut to [`crate::answer::MAX_FAILED_AVP_LEN`].
pub(crate) fn within_size(node: &Node, request: &RawMessage, answer: RawMessage) -> RawMessage {
    let max = node.inner.limits.limits.max_message_len as usize;
    let len = crate::header::HEADER_LEN + answer.body.len();
    if len <= max {
        return answer;
    }
    tracing::warn!(
        len,
        max,
        command = request.header.command_code,
        "answer exceeds the maximum message size, answered 5012 instead"
    );
    let failed = answer.find(avp::FAILED_AVP, 0).map(|f| f.data);
    // Failed-AVP holds the offending AVP(s); keep the first one, cut.
    let failed = failed.and_then(|d| {
        let first = crate::avp::AvpIter::new(&d).next()?.ok()?;
        Some(first.raw_bytes())
    });
    let mut out = answer_with(
        request,
        &origin(node),
        rc::DIAMETER_UNABLE_TO_COMPLY,
        Some("answer exceeds the maximum message size"),
        failed.as_ref(),
    );
    if crate::header::HEADER_LEN + out.body.len() > max {
        // Echoed request AVPs (Session-Id, Proxy-Info) alone are too large: the bare
        // minimum goes out.
        out = RawMessage::from_avps(
            out.header,
            &[
                crate::fields::str_avp(avp::ORIGIN_HOST, &node.inner.caps.origin_host),
                crate::fields::str_avp(avp::ORIGIN_REALM, &node.inner.caps.origin_realm),
                u32_avp(avp::RESULT_CODE, rc::DIAMETER_UNABLE_TO_COMPLY),
            ],
        );
    }
    out
}

tokio::task_local! {
    /// The Origin-Host (lowercase) of the peer connection the request being handled came
    /// from: the identity the capabilities exchange established, not the request's own
    /// Origin-Host AVP (which an agent may have forwarded).
    static REQUEST_PEER: std::sync::Arc<str>;
}

tokio::task_local! {
    /// The node's message limits, for the typed decoders of its handlers.
    static DECODE_LIMITS: crate::message::Limits;
}

/// The decode limits of the node whose handler is running (`None` outside a handler):
/// [`super::typed`] handlers decode with them.
pub(crate) fn decode_limits() -> Option<crate::message::Limits> {
    DECODE_LIMITS.try_with(|l| *l).ok()
}

/// The peer the request being handled arrived from (its CER Origin-Host, lowercase).
/// `None` outside a handler, or in a task the handler spawned.
///
/// Applications use it to give rights per peer: which peer may refund, which SIP server
/// may fetch credentials. It is the identity admitted by the node's accept policy (and,
/// over TLS, bound to the peer's certificate), so a peer cannot claim another's.
pub fn request_peer() -> Option<std::sync::Arc<str>> {
    REQUEST_PEER.try_with(|p| p.clone()).ok()
}

/// Handlers still running for requests, with the retransmissions waiting for their
/// answers (the agent's table; the waiters are channels).
pub(crate) type InFlight = crate::agent::InFlight<oneshot::Sender<RawMessage>>;

/// Waiters on one request: at most this many; further duplicates run the handler.
pub(crate) const MAX_WAITERS: usize = 16;

/// Marks a request whose handler did not answer at once as in flight; dropping the guard
/// (when the answer is ready, or the task ends otherwise) clears the mark and hands the
/// answer, if any, to the duplicates waiting for it.
pub(crate) struct InFlightGuard {
    node: Node,
    key: InFlightKey,
    answer: Option<RawMessage>,
}

impl InFlightGuard {
    /// Registers `request` (no guard when it has no Origin-Host or is already in flight).
    pub(crate) fn register(node: &Node, request: &RawMessage) -> Option<InFlightGuard> {
        let key = super::lock(&node.inner.inflight).start(request)?;
        Some(InFlightGuard {
            node: node.clone(),
            key,
            answer: None,
        })
    }

    /// The answer to give the waiters.
    pub(crate) fn done(mut self, answer: &RawMessage) {
        self.answer = Some(answer.clone());
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let waiters = super::lock(&self.node.inner.inflight).finish(self.key);
        if let Some(answer) = &self.answer {
            for w in waiters {
                let _ = w.send(answer.clone());
            }
        }
    }
}

/// A retransmission (T flag) of a request whose handler is still running waits for that
/// answer (at most the request timeout) instead of running the handler again. `None`
/// when nothing is in flight, or the first handler gave no answer in time.
async fn wait_in_flight(node: &Node, request: &RawMessage) -> Option<RawMessage> {
    let (tx, rx) = oneshot::channel();
    match super::lock(&node.inner.inflight).join(request, tx) {
        Joined::Waiting => {}
        Joined::Alone(_) => return None,
    }
    tracing::debug!(
        end_to_end = request.header.end_to_end,
        "duplicate request waits for the answer in progress"
    );
    let limit = node.inner.limits.request_timeout;
    let mut answer = tokio::time::timeout(limit, rx).await.ok()?.ok()?;
    answer.header.hop_by_hop = request.header.hop_by_hop;
    Some(answer)
}

/// Whether framing checked only the header of this request (see
/// [`crate::node::Handler::decodes_request`]).
pub(crate) fn skipped_avp_check(node: &Node, request: &RawMessage) -> bool {
    let h = request.header;
    let handler = node.inner.handlers.get(&(h.application_id, h.command_code));
    handler.is_some_and(|h| h.decodes_request())
}

async fn local_answer(node: &Node, request: &RawMessage) -> RawMessage {
    let h = request.header;
    let handler = node
        .inner
        .handlers
        .get(&(h.application_id, h.command_code))
        .cloned();
    let Some(handler) = handler else {
        let app_known = node
            .inner
            .handlers
            .keys()
            .any(|(app, _)| *app == h.application_id);
        let code = if app_known {
            rc::DIAMETER_COMMAND_UNSUPPORTED
        } else {
            rc::DIAMETER_APPLICATION_UNSUPPORTED
        };
        return answer_code(node, request, code);
    };
    let mut answer = match handler.call(request.clone()).await {
        Ok(a) => a,
        Err(e) => error_answer(request, &origin(node), &e),
    };
    answer.header.flags &= !(CommandFlags::REQUEST | CommandFlags::RETRANSMIT);
    answer.header.command_code = h.command_code;
    answer.header.hop_by_hop = h.hop_by_hop;
    answer.header.end_to_end = h.end_to_end;
    crate::answer::echo_proxy_info(request, &mut answer);
    answer
}

/// Relays a request (RFC 6733 §6.1.9): Route-Record with the sender, a new Hop-by-Hop id
/// on the next hop, and the answer returned with the original Hop-by-Hop id.
async fn relay(node: &Node, request: &RawMessage, target: &Target, from: &str) -> RawMessage {
    let mut fwd = request.clone();
    add_route_record(&mut fwd, from);
    let deadline = tokio::time::Instant::now() + node.inner.limits.request_timeout;
    match node.route_and_send(fwd, target, deadline, Some(from)).await {
        Ok(mut answer) => {
            answer.header.hop_by_hop = request.header.hop_by_hop;
            answer
        }
        Err(e) => relay_error(node, request, &e),
    }
}

/// The answer a relay gives when the request could not be forwarded or got no answer.
pub(crate) fn relay_error(node: &Node, request: &RawMessage, e: &RequestError) -> RawMessage {
    let code = match e {
        RequestError::NoRoute(code) => *code,
        RequestError::TooBusy => rc::DIAMETER_TOO_BUSY,
        _ => rc::DIAMETER_UNABLE_TO_DELIVER,
    };
    answer_code(node, request, code)
}

/// A 3006 answer naming the servers as Redirect-Host (`aaa://host`), with
/// Redirect-Host-Usage DONT_CACHE.
fn redirect(node: &Node, request: &RawMessage, hosts: &[String]) -> RawMessage {
    let mut answer = answer_code(node, request, rc::DIAMETER_REDIRECT_INDICATION);
    for h in hosts {
        let uri = format!("aaa://{h}");
        answer.push(&RawAvp::new(
            avp::REDIRECT_HOST,
            AvpFlags::MANDATORY,
            0,
            Bytes::from(uri.into_bytes()),
        ));
    }
    answer.push(&u32_avp(avp::REDIRECT_HOST_USAGE, 0));
    answer
}
