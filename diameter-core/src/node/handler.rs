//! Request handlers: async functions from a request to its answer.

use super::AnswerBuf;
use crate::error::DecodeError;
use crate::message::RawMessage;
use crate::result_code as rc;
use crate::routing::{decide_scanned, Decision, LocalNode, RequestScan};
use crate::traits::{Command, DecodeCtx};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// The future a [`Handler`] returns: the answer, or a decode error that the node turns
/// into an error answer (Result-Code, E bit for 3xxx, Failed-AVP).
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<RawMessage, DecodeError>> + Send>>;

/// A typed answer that a handler gives after a wait ([`Routed::Deferred`]): the peer's
/// task encodes it straight into the write buffer of the connection it goes out on. Every
/// generated command is one.
pub trait Reply: Send + 'static {
    /// Encodes the answer into `out` ([`AnswerBuf::encode`]).
    fn encode_into(&self, out: &mut AnswerBuf<'_>);
}

impl<C: Command + Send + 'static> Reply for C {
    fn encode_into(&self, out: &mut AnswerBuf<'_>) {
        out.encode(self)
    }
}

/// The future of a [`Routed::Deferred`] answer: the typed answer, or a decode error that
/// the node answers.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Result<Box<dyn Reply>, DecodeError>> + Send>>;

/// Answers requests of one (Application-Id, Command-Code).
///
/// Any `Fn(RawMessage) -> impl Future<Output = RawMessage>` is a handler. The node fixes
/// the answer's Hop-by-Hop and End-to-End ids and clears its R bit.
///
/// The node polls the handler's future once on the peer's own task: an answer ready at
/// once is sent with no task switch (batched with the other answers of that burst). A
/// future that is not ready goes on in a task of its own; while it runs, retransmissions
/// of the request (T flag) wait for its answer. Long computations belong in
/// `tokio::task::spawn_blocking`, not in the first poll.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn call(&self, request: RawMessage) -> HandlerFuture;

    /// Whether the handler decodes every AVP of the request itself, answering a bad one
    /// as RFC 6733 prescribes (typed handlers do). The transport then checks only the
    /// header of such requests, so the message is walked once.
    fn decodes_request(&self) -> bool {
        false
    }

    /// Whether the handler itself answers a retransmission (T flag) as it answered the
    /// first transmission: its answer depends on the request alone, or it keeps its own
    /// record of each request by a key that a retransmission through another peer
    /// shares. The node then saves no copy of its answers for duplicate detection
    /// (RFC 6733 §6.2.3): no copy and no cache entry per answer. Default false.
    fn answers_retransmissions(&self) -> bool {
        false
    }

    /// Handles the first transmission of a request whose destination the node has not
    /// checked yet: a node that is not an agent leaves that check to the handler, so that
    /// a handler that decodes the request learns the destination from its decode and the
    /// request is walked once. Decides with `local` (RFC 6733 §6.1, as
    /// [`decide_scanned`]) before doing anything: a request for another host or realm is
    /// [`Routed::Rejected`] and nothing else happens.
    ///
    /// The default scans the request's AVPs ([`RequestScan::of`]), then calls
    /// [`Handler::call`]. A handler that decodes the request overrides it with
    /// [`decode_routed`]; [`typed`] handlers do. One that answers at once encodes its
    /// answer into `out` and returns [`Routed::Encoded`]: the answer is encoded straight
    /// into the connection's write buffer, with no buffer of its own and no copy (no
    /// future to allocate either).
    fn call_routed(
        &self,
        request: RawMessage,
        local: &LocalNode<'_>,
        out: &mut AnswerBuf<'_>,
    ) -> Routed {
        let _ = out;
        let scan = RequestScan::of(&request);
        match decided(local, &scan) {
            Ok(()) => Routed::Handled {
                proxy_info: scan.proxy_info,
                answer: self.call(request),
            },
            Err(code) => Routed::Rejected(code),
        }
    }

    /// Handles a request whose destination is decided already (this node is an agent, or
    /// the request is a retransmission): as [`Handler::call`], but a handler with a typed
    /// answer encodes it into `out` ([`Routed::Encoded`], [`Routed::Deferred`]). What it
    /// returns for `proxy_info` is not used (the node knows). The default calls
    /// [`Handler::call`]; [`typed`] handlers override it.
    fn call_decided(&self, request: RawMessage, out: &mut AnswerBuf<'_>) -> Routed {
        let _ = out;
        Routed::Handled {
            answer: self.call(request),
            proxy_info: true,
        }
    }
}

/// What became of a request given to [`Handler::call_routed`].
pub enum Routed {
    /// It is for this node: the handler's answer, and whether the request carries
    /// Proxy-Info (the node echoes it into the answer).
    Handled {
        /// The handler's answer.
        answer: HandlerFuture,
        /// Whether the request carries Proxy-Info.
        proxy_info: bool,
    },
    /// It is for this node and the handler answers after a wait with a typed answer,
    /// which the node encodes straight into the connection's write buffer when it comes
    /// ([`Reply`]).
    Deferred {
        /// The handler's answer.
        answer: ReplyFuture,
        /// Whether the request carries Proxy-Info.
        proxy_info: bool,
    },
    /// It is for this node and the handler answered at once, encoding its answer into
    /// the [`AnswerBuf`] it was given.
    Encoded {
        /// Whether the request carries Proxy-Info.
        proxy_info: bool,
    },
    /// It is for this node and the handler answered at once: the answer (or the decode
    /// error the node answers), with no future to allocate and poll.
    Answered {
        /// The answer, or the error to answer.
        answer: Result<RawMessage, DecodeError>,
        /// Whether the request carries Proxy-Info.
        proxy_info: bool,
    },
    /// It is for another host (3002 DIAMETER_UNABLE_TO_DELIVER) or realm (3003
    /// DIAMETER_REALM_NOT_SERVED): answered with this Result-Code, nothing else done.
    Rejected(u32),
}

/// A server's decision ([`decide_scanned`]): `Ok` for this node, else the Result-Code.
pub(crate) fn decided(local: &LocalNode<'_>, scan: &RequestScan<'_>) -> Result<(), u32> {
    match decide_scanned(local, scan) {
        Decision::Local => Ok(()),
        Decision::Reject(code) => Err(code),
        // A server neither forwards nor redirects.
        Decision::Forward(_) | Decision::Redirect(_) => Err(rc::DIAMETER_UNABLE_TO_DELIVER),
    }
}

/// For a handler's [`Handler::call_routed`]: decodes `request` into `req` (a default
/// value: in place, so a wide request is not moved; under the node's limits, as
/// [`Command::decode`]) and decides its destination from the decoded members
/// ([`Command::destination`]), so the request is walked once. `Ok` with whether it
/// carries Proxy-Info when it is for this node; otherwise what to answer. A request that
/// fails to decode is scanned as the default `call_routed` does: one for another host or
/// realm is rejected as such, one for this node gets the decode error's answer (echoing
/// `Req::ANSWER_ECHO`).
pub fn decode_routed<Req: Command>(
    request: &RawMessage,
    local: &LocalNode<'_>,
    req: &mut Req,
) -> Result<bool, Routed> {
    let (avps, mut ctx) = (request.avps(), DecodeCtx::current());
    ctx.start_payload(&avps);
    let error = match req.decode_into(avps, &mut ctx) {
        Ok(()) => {
            let scanned;
            let scan = match req.destination() {
                Some(scan) => scan,
                None => {
                    scanned = RequestScan::of(request);
                    scanned
                }
            };
            let proxy_info = scan.proxy_info;
            return match decided(local, &scan) {
                Ok(()) => Ok(proxy_info),
                Err(code) => Err(Routed::Rejected(code)),
            };
        }
        Err(e) => e.echoing(Req::ANSWER_ECHO),
    };
    let scan = RequestScan::of(request);
    match decided(local, &scan) {
        Ok(()) => Err(Routed::Answered {
            proxy_info: scan.proxy_info,
            answer: Err(error),
        }),
        Err(code) => Err(Routed::Rejected(code)),
    }
}

impl<F, Fut> Handler for F
where
    F: Fn(RawMessage) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = RawMessage> + Send + 'static,
{
    fn call(&self, request: RawMessage) -> HandlerFuture {
        let fut = self(request);
        Box::pin(async move { Ok(fut.await) })
    }
}

/// The handlers of a node by (Application-Id, Command-Code): a node has a few, so a
/// look-up per request is a short scan of a flat list, with no key to hash.
pub(crate) struct HandlerTable(Box<[HandlerEntry]>);

/// A handler and the (Application-Id, Command-Code) it serves.
type HandlerEntry = ((u32, u32), std::sync::Arc<dyn Handler>);

impl HandlerTable {
    pub(crate) fn new(handlers: impl IntoIterator<Item = HandlerEntry>) -> Self {
        HandlerTable(handlers.into_iter().collect())
    }

    /// The handler of `application_id`'s `command_code`.
    pub(crate) fn get(&self, application_id: u32, command_code: u32) -> Option<&dyn Handler> {
        let key = (application_id, command_code);
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, h)| h.as_ref())
    }

    /// Whether some handler serves `application_id`.
    pub(crate) fn serves(&self, application_id: u32) -> bool {
        self.0.iter().any(|((app, _), _)| *app == application_id)
    }
}

struct Typed<F, Req, Ans> {
    f: F,
    _types: std::marker::PhantomData<fn(Req) -> Ans>,
}

impl<F, Fut, Req, Ans> Handler for Typed<F, Req, Ans>
where
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Ans> + Send + 'static,
    Req: Command + Send + 'static,
    Ans: Command + Send + 'static,
{
    fn decodes_request(&self) -> bool {
        true
    }

    fn call(&self, request: RawMessage) -> HandlerFuture {
        // The node's limits (repeated members, AVP count, depth), not the defaults.
        let mut ctx = super::dispatch::decode_limits()
            .map(|l| DecodeCtx::with_limits(&l))
            .unwrap_or_default();
        match Req::decode_avps(request.avps(), &mut ctx) {
            Ok(req) => self.respond(req, request.header),
            Err(e) => {
                let e = e.echoing(Req::ANSWER_ECHO);
                Box::pin(async move { Err(e) })
            }
        }
    }

    /// An answer ready at the first poll is encoded into `out`.
    fn call_routed(
        &self,
        request: RawMessage,
        local: &LocalNode<'_>,
        out: &mut AnswerBuf<'_>,
    ) -> Routed {
        let mut req = Req::default();
        match decode_routed(&request, local, &mut req) {
            Ok(proxy_info) => self.respond_in_place(req, proxy_info, out),
            Err(routed) => routed,
        }
    }

    /// Decodes under the node's limits, as [`Handler::call`]; the answer encoded in place.
    fn call_decided(&self, request: RawMessage, out: &mut AnswerBuf<'_>) -> Routed {
        let mut ctx = super::dispatch::decode_limits()
            .map(|l| DecodeCtx::with_limits(&l))
            .unwrap_or_default();
        match Req::decode_avps(request.avps(), &mut ctx) {
            Ok(req) => self.respond_in_place(req, true, out),
            Err(e) => Routed::Answered {
                answer: Err(e.echoing(Req::ANSWER_ECHO)),
                proxy_info: true,
            },
        }
    }
}

impl<F, Fut, Req, Ans> Typed<F, Req, Ans>
where
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Ans> + Send + 'static,
    Req: Command + Send + 'static,
    Ans: Command + Send + 'static,
{
    /// Runs the function on the decoded request: an answer ready at the first poll is
    /// encoded into `out`, a later one when it comes ([`Routed::Deferred`]).
    fn respond_in_place(&self, req: Req, proxy_info: bool, out: &mut AnswerBuf<'_>) -> Routed {
        let mut answer = Box::pin((self.f)(req));
        match answer
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(answer) => {
                out.encode(&answer);
                Routed::Encoded { proxy_info }
            }
            Poll::Pending => Routed::Deferred {
                answer: Box::pin(async move { Ok(Box::new(answer.await) as Box<dyn Reply>) }),
                proxy_info,
            },
        }
    }

    /// Runs the function on the decoded request; its answer encoded under the request's
    /// ids.
    fn respond(&self, req: Req, h: crate::header::Header) -> HandlerFuture {
        let fut = (self.f)(req);
        Box::pin(async move {
            Ok(fut
                .await
                .to_message(h.application_id, h.hop_by_hop, h.end_to_end))
        })
    }
}

/// A handler from a typed function such as `async fn(Ccr) -> Cca`: the request is decoded
/// as `Req` under the node's [`crate::message::Limits`] (failures are answered
/// automatically, 5009 for too many AVPs or repetitions) and the answer encoded from `Ans`.
pub fn typed<Req, Ans, F, Fut>(f: F) -> impl Handler
where
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Ans> + Send + 'static,
    Req: Command + Send + 'static,
    Ans: Command + Send + 'static,
{
    Typed {
        f,
        _types: std::marker::PhantomData,
    }
}

/// A handler that answers retransmissions itself ([`Handler::answers_retransmissions`]).
struct SelfDeduplicating<H>(H);

impl<H: Handler> Handler for SelfDeduplicating<H> {
    fn call(&self, request: RawMessage) -> HandlerFuture {
        self.0.call(request)
    }

    fn decodes_request(&self) -> bool {
        self.0.decodes_request()
    }

    fn answers_retransmissions(&self) -> bool {
        true
    }

    fn call_routed(
        &self,
        request: RawMessage,
        local: &LocalNode<'_>,
        out: &mut AnswerBuf<'_>,
    ) -> Routed {
        self.0.call_routed(request, local, out)
    }

    fn call_decided(&self, request: RawMessage, out: &mut AnswerBuf<'_>) -> Routed {
        self.0.call_decided(request, out)
    }
}

/// `handler`, declared to answer a retransmission as it answered the first transmission
/// by itself (its answer depends on the request alone, or it keeps its own record of each
/// request under a key a retransmission through another peer shares): the node then keeps
/// no copy of its answers for duplicate detection. For example
/// `self_deduplicating(typed(echo))`.
pub fn self_deduplicating(handler: impl Handler) -> impl Handler {
    SelfDeduplicating(handler)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_deduplicating_keeps_the_handler_and_declares_it() {
        let raw = |r: RawMessage| async move { r };
        assert!(!raw.answers_retransmissions());
        let wrapped = self_deduplicating(raw);
        assert!(wrapped.answers_retransmissions() && !wrapped.decodes_request());
        let request = RawMessage::from_avps(crate::header::Header::new(280, 0, 0x80, 1, 2), &[]);
        let mut answered = wrapped.call(request.clone());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match answered.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Ok(a)) => assert_eq!(a.header, request.header),
            _ => panic!("the wrapped handler did not answer"),
        }
        struct Decoding;
        impl Handler for Decoding {
            fn call(&self, request: RawMessage) -> HandlerFuture {
                Box::pin(async move { Ok(request) })
            }
            fn decodes_request(&self) -> bool {
                true
            }
        }
        let typed = self_deduplicating(Decoding);
        assert!(typed.answers_retransmissions() && typed.decodes_request());
    }
}
