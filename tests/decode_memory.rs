//! What a repeated-AVP flood costs a server, measured by a counting allocator (one test
//! in this binary, so nothing else allocates meanwhile): six CCRs of 131,000 empty
//! Multiple-Services-Credit-Control AVPs (about 1 MB each) are answered 5009 and the
//! heap never grows by more than a small multiple of one message. Before the limits,
//! each such CCR decoded into about 110 MB and was answered 2001 with a 2.6 MB CCA.

use diameter::core::bytes::{Bytes, BytesMut};
use diameter::core::message::frame_len;
use diameter::core::node::{Node, NodeLimits};
use diameter::core::peer::capabilities::{cer, Capabilities};
use diameter::core::{Header, Limits, RawAvp, RawMessage};
use diameter::dict::dcca_rfc4006::{avp, Cca, Ccr};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counts are kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            grew(new_size - layout.size());
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const M: u8 = 0x40;

fn utf8(code: u32, s: &str) -> RawAvp {
    RawAvp::new(code, M, 0, Bytes::copy_from_slice(s.as_bytes()))
}
fn u32_avp(code: u32, v: u32) -> RawAvp {
    RawAvp::new(code, M, 0, Bytes::copy_from_slice(&v.to_be_bytes()))
}

fn flood() -> Bytes {
    let mut avps = vec![
        utf8(263, "flood.a.net;1;1"),
        utf8(264, "flood.a.net"),
        utf8(296, "a.net"),
        utf8(283, "b.net"),
        u32_avp(258, 4),
        utf8(avp::SERVICE_CONTEXT_ID, "32251@3gpp.org"),
        u32_avp(avp::CC_REQUEST_TYPE, 4),
        u32_avp(avp::CC_REQUEST_NUMBER, 0),
    ];
    avps.extend(std::iter::repeat_n(
        RawAvp::new(avp::MULTIPLE_SERVICES_CREDIT_CONTROL, M, 0, Bytes::new()),
        131_000,
    ));
    RawMessage::from_avps(Header::new(272, 4, 0xc0, 7, 7), &avps).to_bytes()
}

async fn server(limits: Limits) -> Node {
    Node::builder()
        .origin_host("ocs.b.net")
        .origin_realm("b.net")
        .auth_application(4)
        .listen("127.0.0.1:0".parse().unwrap())
        .limits({
            let mut nl = NodeLimits::default();
            nl.limits = limits;
            nl
        })
        .typed_handler(|req: Ccr| async move {
            Cca {
                session_id: req.session_id,
                result_code: 2001,
                multiple_services_credit_control: req.multiple_services_credit_control,
                ..Cca::default()
            }
        })
        .build()
        .await
        .unwrap()
}

async fn read_msg(s: &mut TcpStream, buf: &mut BytesMut) -> RawMessage {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(Some(n)) = frame_len(buf, &Limits::default()) {
                if buf.len() >= n {
                    return RawMessage::decode(buf.split_to(n).freeze(), &Limits::default())
                        .unwrap();
                }
            }
            assert!(s.read_buf(buf).await.unwrap() > 0, "closed");
        }
    })
    .await
    .expect("answer in time")
}

/// Sends the flood six times on one connection; returns the heap's peak growth.
async fn six_floods(node: &Node, msg: &Bytes) -> usize {
    let mut s = TcpStream::connect(node.local_addrs()[0]).await.unwrap();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let me = Capabilities {
        origin_host: "flood.a.net".into(),
        origin_realm: "a.net".into(),
        host_ip_addresses: vec![[127, 0, 0, 1].into()],
        product_name: "raw".into(),
        auth_applications: vec![4],
        ..Default::default()
    };
    s.write_all(&cer(&me, 1, 1).to_bytes()).await.unwrap();
    read_msg(&mut s, &mut buf).await;
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    for _ in 0..6 {
        s.write_all(msg).await.unwrap();
        let a = read_msg(&mut s, &mut buf).await;
        let code = a.find(268, 0).map(|r| r.data.to_vec());
        assert_eq!(code, Some(5009u32.to_be_bytes().to_vec()));
        assert!(a.to_bytes().len() < 1024, "a small answer");
    }
    PEAK.load(Ordering::Relaxed) - base
}

#[tokio::test]
async fn six_repeated_avp_floods_cost_a_few_megabytes() {
    let msg = flood();
    assert!(msg.len() > 1_000_000 && msg.len() <= 1 << 20);
    // Default limits: refused when the message is framed (more than 4096 AVPs).
    let node = server(Limits::default()).await;
    let framed = six_floods(&node, &msg).await;
    // The AVP total out of the way: the typed decoder refuses at the 257th MSCC.
    let node = server({
        let mut l = Limits::default();
        l.max_avps = u32::MAX;
        l
    })
    .await;
    let typed = six_floods(&node, &msg).await;
    println!("peak heap growth: framing {framed} bytes, typed {typed} bytes");
    for peak in [framed, typed] {
        assert!(peak < 4 * msg.len(), "{peak} bytes for 1 MB messages");
    }
}
