//! The local side of a request received from a peer: its handler runs with the peer's
//! identity and the node's decode limits in scope. Duplicates, the routing decision,
//! relaying and redirects are the node agent's ([`crate::agent::Agent`]).

use super::{AnswerBuf, Handler, HandlerFuture, Node, Release, Reply, ReplyFuture, Routed};
use crate::answer::{answer_with, error_answer, Origin};
use crate::error::DecodeError;
use crate::header::{CommandFlags, HEADER_LEN};
use crate::message::RawMessage;
use crate::result_code as rc;
use crate::routing::{LocalNode, RequestScan};
use bytes::BytesMut;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

pub(crate) fn origin(node: &Node) -> Origin<'_> {
    Origin {
        host: &node.inner.caps.origin_host,
        realm: &node.inner.caps.origin_realm,
    }
}

/// Where a request for the local handler stands with routing.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Routing {
    /// Decided for this node; `proxy_info`: whether the request may carry Proxy-Info to
    /// echo (`false` only when a scan found none).
    Decided { proxy_info: bool },
    /// A first transmission to a node that is not an agent: the handler decides
    /// ([`super::Handler::call_routed`]), from its own decode where it has one.
    Deferred,
}

/// What the local handler made of a request at first: its answer, or a future still
/// running.
pub(crate) enum Started {
    /// Answered at once (before the node agent's size check).
    Now(RawMessage),
    /// Answered at once, encoded at the end of the buffer given to [`start_locally`] from
    /// this offset on, finished as an answer to the request (before the node agent's size
    /// check); held until the release, if any ([`AnswerBuf::hold_until`]).
    Written(usize, Option<Release>),
    /// Still running: the answer comes from this future, which runs the handler with the
    /// request's scope entered on each poll.
    Later(Pin<Box<dyn Future<Output = Later> + Send>>),
}

/// A handler's answer that came after a wait.
pub(crate) enum Later {
    /// An answer to the request, finished (before the node agent's size check).
    Message(RawMessage),
    /// A typed answer to encode in place ([`encode_reply`]), and whether to echo
    /// Proxy-Info.
    Reply(Box<dyn Reply>, bool),
    /// An answer that was not released ([`AnswerBuf::hold_until`]): none is sent.
    Withheld,
}

/// A handler's future still running after its first poll.
enum Running {
    Message(HandlerFuture, bool),
    Reply(ReplyFuture, bool),
}

/// Runs the local handler on a request from `peer` (its Origin-Host, lowercase) up to its
/// first wait, with the request's scope entered: a handler that answers at once costs no
/// future of the node's own, only the one it made (if any). A handler may encode its
/// answer at the end of `out` ([`Started::Written`]); nothing else is left there.
pub(crate) fn start_locally(
    node: &Node,
    request: &RawMessage,
    peer: &Arc<str>,
    routing: Routing,
    out: &mut BytesMut,
) -> Started {
    let limits = node.inner.limits.limits;
    let scope = move |peer: &Arc<str>| RequestScope {
        peer: peer.clone(),
        limits,
    };
    let mut out = AnswerBuf::new(out, request.header);
    let first = SCOPE.sync_scope(scope(peer), || {
        let mut cx = Context::from_waker(Waker::noop());
        match call_handler(node, request, routing, &mut out) {
            Call::Done(answer) => Ok(Started::Now(answer)),
            Call::Answered(answered, proxy_info) => {
                Ok(Started::Now(finish(node, request, answered, proxy_info)))
            }
            Call::Encoded(proxy_info) => {
                Ok(written(finish_encoded(node, request, &mut out, proxy_info)))
            }
            Call::Running(mut answer, proxy_info) => match answer.as_mut().poll(&mut cx) {
                Poll::Ready(answered) => {
                    Ok(Started::Now(finish(node, request, answered, proxy_info)))
                }
                Poll::Pending => Err(Running::Message(answer, proxy_info)),
            },
            Call::Deferred(mut answer, proxy_info) => match answer.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(reply)) => {
                    reply.encode_into(&mut out);
                    Ok(written(finish_encoded(node, request, &mut out, proxy_info)))
                }
                Poll::Ready(Err(e)) => Ok(Started::Now(finish(node, request, Err(e), proxy_info))),
                Poll::Pending => Err(Running::Reply(answer, proxy_info)),
            },
        }
    });
    match first {
        Ok(started @ Started::Written(..)) => started,
        Ok(started) => {
            // A handler that encoded an answer and then gave another.
            out.clear();
            started
        }
        Err(running) => {
            out.clear();
            let (node, request, scope) = (node.clone(), request.clone(), scope(peer));
            Started::Later(match running {
                Running::Message(answer, proxy_info) => Box::pin(async move {
                    let answered = SCOPE.scope(scope, answer).await;
                    Later::Message(finish(&node, &request, answered, proxy_info))
                }),
                Running::Reply(answer, proxy_info) => Box::pin(async move {
                    match SCOPE.scope(scope, answer).await {
                        Ok(reply) => Later::Reply(reply, proxy_info),
                        Err(e) => Later::Message(finish(&node, &request, Err(e), proxy_info)),
                    }
                }),
            })
        }
    }
}

/// A typed answer that came after a wait, encoded at the end of `out` and finished there
/// (`Ok` with its offset and what it waits for), or an error answer (`Err`: the handler
/// encoded nothing).
pub(crate) fn encode_reply(
    node: &Node,
    request: &RawMessage,
    reply: &dyn Reply,
    proxy_info: bool,
    out: &mut BytesMut,
) -> Result<(usize, Option<Release>), RawMessage> {
    let mut out = AnswerBuf::new(out, request.header);
    reply.encode_into(&mut out);
    finish_encoded(node, request, &mut out, proxy_info)
}

/// [`Started::Written`], or [`Started::Now`] with the error answer.
fn written(finished: Result<(usize, Option<Release>), RawMessage>) -> Started {
    finished.map_or_else(Started::Now, |(start, release)| {
        Started::Written(start, release)
    })
}

/// The handler's answer encoded in `out` ([`Routed::Encoded`]) made an answer to
/// `request` in place: the request's command code and ids, R and T bits clear, the
/// request's Proxy-Info echoed after it: its offset and what it waits for. A handler
/// that encoded nothing gets 5012.
fn finish_encoded(
    node: &Node,
    request: &RawMessage,
    out: &mut AnswerBuf<'_>,
    proxy_info: bool,
) -> Result<(usize, Option<Release>), RawMessage> {
    if out.written().is_none() {
        out.clear();
        let error = "the handler encoded no answer";
        tracing::warn!(command = request.header.command_code, "{error}");
        let code = rc::DIAMETER_UNABLE_TO_COMPLY;
        return Err(answer_with(request, &origin(node), code, Some(error), None));
    }
    if proxy_info {
        out.echo_proxy_info(request);
    }
    let (start, h) = (out.start(), request.header);
    let answer = &mut out.buffer()[start..start + HEADER_LEN];
    answer[4] &= !(CommandFlags::REQUEST | CommandFlags::RETRANSMIT);
    answer[5..8].copy_from_slice(&h.command_code.to_be_bytes()[1..]);
    answer[12..16].copy_from_slice(&h.hop_by_hop.to_be_bytes());
    answer[16..20].copy_from_slice(&h.end_to_end.to_be_bytes());
    Ok((start, out.take_release()))
}

/// The handler's first response to a request.
enum Call {
    /// The node answered without the handler's answer (no handler, or not for it).
    Done(RawMessage),
    /// The handler's answer, given at once, and whether to echo Proxy-Info.
    Answered(HandlerResult, bool),
    /// The handler's answer, encoded at once into the [`AnswerBuf`], and whether to echo
    /// Proxy-Info.
    Encoded(bool),
    /// The handler's typed answer to come, and whether to echo Proxy-Info.
    Deferred(ReplyFuture, bool),
    /// The handler's future, and whether to echo Proxy-Info.
    Running(HandlerFuture, bool),
}

type HandlerResult = Result<RawMessage, DecodeError>;

/// What a handler can ask about the request it is handling.
struct RequestScope {
    /// The Origin-Host (lowercase) of the peer connection the request came from: the
    /// identity the capabilities exchange established, not the request's own Origin-Host
    /// AVP (which an agent may have forwarded).
    peer: Arc<str>,
    /// The node's message limits, for the typed decoders of its handlers.
    limits: crate::message::Limits,
}

tokio::task_local! {
    /// Set while a handler runs (one scope: it is entered on every poll).
    static SCOPE: RequestScope;
}

/// The decode limits of the node whose handler is running (`None` outside a handler):
/// [`super::typed`] handlers decode with them.
pub(crate) fn decode_limits() -> Option<crate::message::Limits> {
    SCOPE.try_with(|s| s.limits).ok()
}

/// The peer the request being handled arrived from (its CER Origin-Host, lowercase).
/// `None` outside a handler, or in a task the handler spawned.
///
/// Applications use it to give rights per peer: which peer may refund, which SIP server
/// may fetch credentials. It is the identity admitted by the node's accept policy (and,
/// over TLS, bound to the peer's certificate), so a peer cannot claim another's.
pub fn request_peer() -> Option<std::sync::Arc<str>> {
    SCOPE.try_with(|s| s.peer.clone()).ok()
}

fn call_handler(node: &Node, request: &RawMessage, routing: Routing, out: &mut AnswerBuf) -> Call {
    let h = request.header;
    let config = &node.inner.agent_config;
    let local = LocalNode {
        host: &config.host,
        realm: &config.realm,
    };
    let handler = node.inner.handlers.get(h.application_id, h.command_code);
    let Some(handler) = handler else {
        if let Routing::Deferred = routing {
            if let Err(code) = super::handler::decided(&local, &RequestScan::of(request)) {
                return Call::Done(answer_with(request, &origin(node), code, None, None));
            }
        }
        let app_known = node.inner.handlers.serves(h.application_id);
        let code = if app_known {
            rc::DIAMETER_COMMAND_UNSUPPORTED
        } else {
            rc::DIAMETER_APPLICATION_UNSUPPORTED
        };
        return Call::Done(answer_with(request, &origin(node), code, None, None));
    };
    // The handler's future owns what it needs: no hold on the handler across the wait.
    match routing {
        Routing::Decided { proxy_info } => match handler.call_decided(request.clone(), out) {
            Routed::Encoded { .. } => Call::Encoded(proxy_info),
            Routed::Deferred { answer, .. } => Call::Deferred(answer, proxy_info),
            Routed::Answered { answer, .. } => Call::Answered(answer, proxy_info),
            Routed::Handled { answer, .. } => Call::Running(answer, proxy_info),
            // Decided already: a handler has nothing to reject.
            Routed::Rejected(code) => Call::Done(rejected(node, handler, request, code)),
        },
        Routing::Deferred => match handler.call_routed(request.clone(), &local, out) {
            Routed::Encoded { proxy_info } => Call::Encoded(proxy_info),
            Routed::Deferred { answer, proxy_info } => Call::Deferred(answer, proxy_info),
            Routed::Handled { answer, proxy_info } => Call::Running(answer, proxy_info),
            Routed::Answered { answer, proxy_info } => Call::Answered(answer, proxy_info),
            Routed::Rejected(code) => Call::Done(rejected(node, handler, request, code)),
        },
    }
}

/// The handler's answer (or its decode error answered) made an answer to `request`.
fn finish(
    node: &Node,
    request: &RawMessage,
    answered: HandlerResult,
    proxy_info: bool,
) -> RawMessage {
    let h = request.header;
    let mut answer = match answered {
        Ok(a) => a,
        Err(e) => error_answer(request, &origin(node), &e),
    };
    answer.header.flags &= !(CommandFlags::REQUEST | CommandFlags::RETRANSMIT);
    answer.header.command_code = h.command_code;
    answer.header.hop_by_hop = h.hop_by_hop;
    answer.header.end_to_end = h.end_to_end;
    if proxy_info {
        crate::answer::echo_proxy_info(request, &mut answer);
    }
    answer
}

/// The answer to a request its handler found is for another host or realm. One framed
/// with its header checked only, for a handler that decodes it, first gets the check of
/// its AVP headers it skipped, as the node agent gives any request it does not hand to
/// such a handler.
fn rejected(node: &Node, handler: &dyn Handler, request: &RawMessage, code: u32) -> RawMessage {
    if handler.decodes_request() {
        if let Err(e) = request.check_avps(&node.inner.agent_config.limits) {
            return error_answer(request, &origin(node), &e);
        }
    }
    answer_with(request, &origin(node), code, None, None)
}
