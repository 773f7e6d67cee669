//! Held answers ([`AnswerBuf::hold_until`]) over loopback TCP: released inside
//! [`release_from_here`] from a thread of the releaser's own, they leave from that thread,
//! even while the node's only I/O thread is busy. Every wait is bounded.

use bytes::BytesMut;
use diameter_core::avp::{put_fixed, AvpFlags, AvpIter};
use diameter_core::base::avp;
use diameter_core::error::DecodeError;
use diameter_core::fields::{result_code, session_id, str_avp};
use diameter_core::header::{CommandFlags, Header};
use diameter_core::node::{
    release_from_here, AnswerBuf, Handler, HandlerFuture, Node, PeerConfig, Release, Routed,
};
use diameter_core::peer::PeerSettings;
use diameter_core::routing::LocalNode;
use diameter_core::traits::{AvpGroup, Command, DecodeCtx};
use diameter_core::RawMessage;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};
use tokio::time::timeout;

const APP: u32 = 4;
const CCR: u32 = 272;
const LIMIT: Duration = Duration::from_secs(10);
/// How long the `block` request holds the server's I/O thread.
const BLOCK: Duration = Duration::from_secs(2);

/// An answer: Session-Id, Result-Code 2001, Origin-Host and Origin-Realm.
#[derive(Default)]
struct Cca(String);

impl AvpGroup for Cca {
    fn decode_into(&mut self, _: AvpIter<'_>, _: &mut DecodeCtx) -> Result<(), DecodeError> {
        Ok(())
    }

    fn encode_avps(&self, out: &mut BytesMut) {
        str_avp(avp::SESSION_ID, &self.0).encode(out);
        put_fixed(
            out,
            avp::RESULT_CODE,
            AvpFlags::MANDATORY,
            0,
            &2001u32.to_be_bytes(),
        );
        str_avp(avp::ORIGIN_HOST, "server.b.net").encode(out);
        str_avp(avp::ORIGIN_REALM, "b.net").encode(out);
    }
}

impl Command for Cca {
    const CODE: u32 = CCR;
    const APPLICATION_ID: u32 = APP;
    const REQUEST: bool = false;
    const PROXIABLE: bool = true;
    const SHORT_NAME: &'static str = "CCA";
}

/// Opens once; the releases waiting for it are woken inside `release_from_here`.
#[derive(Default)]
struct Gate {
    open: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Gate {
    fn release(self: &Arc<Self>) -> Release {
        let gate = self.clone();
        Box::pin(std::future::poll_fn(move |cx| {
            if gate.open.load(Ordering::SeqCst) {
                return Poll::Ready(true);
            }
            gate.wakers.lock().unwrap().push(cx.waker().clone());
            match gate.open.load(Ordering::SeqCst) {
                true => Poll::Ready(true),
                false => Poll::Pending,
            }
        }))
    }

    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap());
        release_from_here(|| wakers.into_iter().for_each(Waker::wake));
    }
}

/// Answers at once, holding each answer until the gate opens; a request whose Session-Id
/// starts with `block` holds the I/O thread for [`BLOCK`] instead and is answered unheld.
struct HeldHandler {
    gate: Arc<Gate>,
    handled: Arc<AtomicUsize>,
    blocking: Arc<AtomicBool>,
    unblocked: Arc<Mutex<Option<Instant>>>,
}

impl Handler for HeldHandler {
    fn call(&self, request: RawMessage) -> HandlerFuture {
        let answer = Cca(session_id(&request).unwrap_or_default());
        let h = request.header;
        Box::pin(async move { Ok(answer.to_message(h.application_id, h.hop_by_hop, h.end_to_end)) })
    }

    fn call_routed(
        &self,
        request: RawMessage,
        _local: &LocalNode<'_>,
        out: &mut AnswerBuf<'_>,
    ) -> Routed {
        let session = session_id(&request).unwrap_or_default();
        if session.starts_with("block") {
            self.blocking.store(true, Ordering::SeqCst);
            std::thread::sleep(BLOCK);
            *self.unblocked.lock().unwrap() = Some(Instant::now());
            out.encode(&Cca(session));
        } else {
            out.encode(&Cca(session));
            out.hold_until(self.gate.release());
        }
        self.handled.fetch_add(1, Ordering::SeqCst);
        Routed::Encoded { proxy_info: false }
    }
}

fn request(session: &str) -> RawMessage {
    let h = Header::new(
        CCR,
        APP,
        CommandFlags::REQUEST | CommandFlags::PROXIABLE,
        0,
        0,
    );
    RawMessage::from_avps(
        h,
        &[
            str_avp(avp::SESSION_ID, session),
            str_avp(avp::ORIGIN_HOST, "client.a.net"),
            str_avp(avp::ORIGIN_REALM, "a.net"),
            str_avp(avp::DESTINATION_REALM, "b.net"),
        ],
    )
}

fn fast() -> PeerSettings {
    PeerSettings {
        tc: Duration::from_millis(200),
        ..PeerSettings::default()
    }
}

#[tokio::test]
async fn answers_released_from_another_thread_leave_while_the_io_thread_is_busy() {
    let gate = Arc::new(Gate::default());
    let handled = Arc::new(AtomicUsize::new(0));
    let blocking = Arc::new(AtomicBool::new(false));
    let unblocked = Arc::new(Mutex::new(None));
    let srv = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .io_threads(1)
        .handler(
            APP,
            CCR,
            HeldHandler {
                gate: gate.clone(),
                handled: handled.clone(),
                blocking: blocking.clone(),
                unblocked: unblocked.clone(),
            },
        )
        .build()
        .await
        .unwrap();
    let cli = Arc::new(
        Node::builder()
            .origin_host("client.a.net")
            .origin_realm("a.net")
            .auth_application(APP)
            .peer(PeerConfig::new("server.b.net", srv.local_addrs()[0]).settings(fast()))
            .build()
            .await
            .unwrap(),
    );
    assert!(cli.wait_peer("server.b.net", LIMIT).await, "CER/CEA");

    // Two requests answered and held: nothing arrives before the gate opens.
    let held: Vec<_> = (1..=2)
        .map(|n| {
            let cli = cli.clone();
            tokio::spawn(async move {
                let answer = cli.request(request(&format!("held;{n}"))).await;
                (answer, Instant::now())
            })
        })
        .collect();
    let both = async {
        while handled.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    timeout(LIMIT, both).await.expect("both requests handled");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(held.iter().all(|h| !h.is_finished()), "held until released");

    // The I/O thread is kept busy; the gate opens from a thread of its own meanwhile.
    let blocker = {
        let cli = cli.clone();
        tokio::spawn(async move { cli.request(request("block;1")).await })
    };
    let started = async {
        while !blocking.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    timeout(LIMIT, started)
        .await
        .expect("the blocking request handled");
    let opener = gate.clone();
    std::thread::spawn(move || opener.open()).join().unwrap();

    for (n, h) in held.into_iter().enumerate() {
        let (answer, arrived) = timeout(LIMIT, h).await.unwrap().unwrap();
        let answer = answer.expect("answered");
        assert_eq!(result_code(&answer), Some(2001));
        assert_eq!(
            session_id(&answer).as_deref(),
            Some(&*format!("held;{}", n + 1))
        );
        // It left while the I/O thread was still handling the blocking request.
        let unblocked = *unblocked.lock().unwrap();
        assert!(
            unblocked.is_none_or(|t| arrived < t),
            "answer {} arrived after the I/O thread was free again",
            n + 1
        );
    }
    let answer = timeout(LIMIT, blocker).await.unwrap().unwrap().unwrap();
    assert_eq!(result_code(&answer), Some(2001));
    assert!(unblocked.lock().unwrap().is_some());
}
