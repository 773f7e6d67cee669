//! A small Diameter server for the command-line tests, built on diameter-core's Node:
//! answers CCR (4/272) and UAR (6/283) with 2001, or 4012 for subscriber 46700000009.

#![allow(dead_code)]

use diameter_core::fields::{str_avp, u32_avp};
use diameter_core::node::Node;
use diameter_core::{CommandFlags, Header, RawAvp, RawMessage};
use std::net::SocketAddr;
use std::sync::mpsc;

/// A running test server; stops when dropped (its runtime thread ends).
pub struct TestServer {
    /// Its address on loopback.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(req: &RawMessage) -> RawMessage {
    let h = req.header;
    let mut avps: Vec<RawAvp> = Vec::new();
    if let Some(s) = req.find(263, 0) {
        avps.push(s);
    }
    let denied = req
        .find(443, 0)
        .map(|s| s.data.windows(11).any(|w| w == b"46700000009"))
        .unwrap_or(false);
    avps.push(u32_avp(268, if denied { 4012 } else { 2001 }));
    avps.push(str_avp(264, "ocs.localdomain"));
    avps.push(str_avp(296, "localdomain"));
    avps.push(u32_avp(258, h.application_id));
    for code in [416, 415, 277] {
        if let Some(a) = req.find(code, 0) {
            avps.push(a);
        }
    }
    let header = Header::new(
        h.command_code,
        h.application_id,
        h.flags & CommandFlags::PROXIABLE,
        h.hop_by_hop,
        h.end_to_end,
    );
    RawMessage::from_avps(header, &avps)
}

/// Starts the server on 127.0.0.1 with an ephemeral port.
pub fn start() -> TestServer {
    let (tx, rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let node = Node::builder()
                .origin_host("ocs.localdomain")
                .origin_realm("localdomain")
                .auth_application(4)
                .auth_application(6)
                .listen("127.0.0.1:0".parse().expect("addr"))
                .handler(4, 272, |req: RawMessage| async move { answer(&req) })
                .handler(6, 283, |req: RawMessage| async move { answer(&req) })
                .build()
                .await
                .expect("server");
            tx.send(node.local_addrs()[0]).expect("send addr");
            let _ = stop_rx.await;
            node.abort();
        });
    });
    let addr = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("server address");
    TestServer {
        addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

pub mod process;
pub use process::ServerProcess;

/// Starts `diameter ARGS` and returns it with the address of its first output line
/// (`... listening on ADDR`).
pub fn spawn_server(args: &[&str]) -> (ServerProcess, String) {
    let process = ServerProcess::start(args, None, None);
    let addr = process.addr().to_string();
    (process, addr)
}
