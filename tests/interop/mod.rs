//! Shared machinery of the interop tests (`tests/interop_*.rs`): finding third-party
//! binaries (and skipping with a message when they are absent), temporary directories,
//! daemons started by a test and killed by PID when their guard drops (also on panic),
//! a recording TCP tap that sits between a peer and our node and keeps the exact bytes of
//! every Diameter message, a pcap writer for what the tap saw, a live `tshark -i lo`
//! capture, the tshark check, and the hex fixtures of `tests/fixtures/`.
//!
//! Environment:
//! - `REQUIRE_INTEROP=1`: a missing binary fails the test instead of skipping it (CI).
//! - `INTEROP_UPDATE_FIXTURES=1`: the tests (re)write `tests/fixtures/*.hex` from the
//!   bytes the peers sent.
//! - `INTEROP_KEEP=1`: keep the temporary directories (configs, logs, pcaps).
#![allow(dead_code)]

mod free_port;

use diameter::core::{Limits, RawMessage};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every wait of these tests is bounded by this, unless a test says otherwise.
pub const LIMIT: Duration = Duration::from_secs(15);

/// Peer settings of the interop tests: watchdog every `tw` (little jitter), and short
/// waits that fit in [`LIMIT`]: a connection retried after 1 s instead of Tc's 30 s, CEA
/// and DPA waited for 5 s and 3 s. The quick retry matters where our node connects: a peer
/// process may print that it listens a moment before its socket accepts (OTP's
/// `add_transport` opens it in another process); the tap then finds the port closed and
/// drops our first connection, and the default retry would come after [`LIMIT`].
pub fn quick_peer(tw: Duration) -> diameter::core::peer::PeerSettings {
    diameter::core::peer::PeerSettings {
        tw,
        tw_jitter: Duration::from_millis(50),
        tc: Duration::from_secs(1),
        max_backoff: Duration::from_secs(2),
        cea_timeout: Duration::from_secs(5),
        dpa_timeout: Duration::from_secs(3),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------
// Binaries and skipping

/// The path of `name` on `PATH`, if it is there.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The binary `name` (from the Debian package `package`), or `None` after printing why
/// the test is skipped. Panics instead when `REQUIRE_INTEROP` is set.
pub fn require(name: &str, package: &str, test: &str) -> Option<PathBuf> {
    match find_binary(name) {
        Some(p) => Some(p),
        None if std::env::var_os("REQUIRE_INTEROP").is_some() => {
            panic!(
                "{test}: `{name}` not found (Debian package {package}) and REQUIRE_INTEROP is set"
            )
        }
        None => {
            eprintln!(
                "SKIPPED {test}: `{name}` is not installed (Debian package {package}; .ci/run installs it)"
            );
            None
        }
    }
}

/// The repository root (where `tests/` is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh temporary directory, removed on drop unless `INTEROP_KEEP` is set.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    let mut d = tempfile::Builder::new()
        .prefix(&format!("diameter-interop-{prefix}-"))
        .tempdir()
        .expect("temp dir");
    if std::env::var_os("INTEROP_KEEP").is_some() {
        eprintln!("keeping {}", d.path().display());
        d.disable_cleanup(true);
    }
    d
}

#[allow(unused_imports)] // not every interop test needs it
pub use free_port::free_port;

// ---------------------------------------------------------------------------------------
// Daemons

/// A child process started by a test, with its output collected line by line. Dropping
/// the guard kills the process by its PID (and waits for it); if the test is panicking,
/// the output is printed first.
pub struct Daemon {
    name: String,
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    rx: mpsc::Receiver<String>,
}

impl Daemon {
    /// Starts `cmd` with stdout and stderr piped.
    pub fn spawn(name: &str, mut cmd: Command) -> std::io::Result<Daemon> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let out = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>);
        let err = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>);
        for stream in [out, err].into_iter().flatten() {
            let lines = lines.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        Ok(Daemon {
            name: name.into(),
            child: Some(child),
            lines,
            rx,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Waits (at most `limit`) for an output line containing `needle`; returns it.
    /// Lines read on the way are consumed.
    pub fn wait_line(&self, needle: &str, limit: Duration) -> Option<String> {
        let end = Instant::now() + limit;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            match self.rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// [`Daemon::wait_line`] from async code, without blocking the runtime.
    pub async fn wait_line_async(&self, needle: &str, limit: Duration) -> Option<String> {
        let end = Instant::now() + limit;
        loop {
            match self.rx.try_recv() {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => continue,
                Err(mpsc::TryRecvError::Empty) if Instant::now() < end => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(_) => return None,
            }
        }
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM (by PID) so the daemon shuts down cleanly.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends a signal (`"STOP"`, `"CONT"`, `"TERM"`, ...) to this process only, by PID.
    pub fn signal(&self, name: &str) {
        if let Some(c) = &self.child {
            // The shell's builtin `kill`: a `kill` binary (procps) may not be installed.
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!("kill -{name} {}", c.id()))
                .status();
        }
    }

    /// Waits (at most `limit`) for the process to exit; returns its status code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let end = Instant::now() + limit;
        loop {
            if let Some(c) = &mut self.child {
                if let Ok(Some(st)) = c.try_wait() {
                    return Some(st.code().unwrap_or(-1));
                }
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// [`Daemon::wait_exit`] from async code.
    pub async fn wait_exit_async(&mut self, limit: Duration) -> Option<i32> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(c) = &mut self.child {
                if let Ok(Some(st)) = c.try_wait() {
                    return Some(st.code().unwrap_or(-1));
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGKILL also ends a process a test left stopped (SIGSTOP).
            let _ = c.kill(); // SIGKILL to this PID only; harmless if it already exited
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- output of {} ----\n{}\n----", self.name, self.output());
        }
    }
}

// ---------------------------------------------------------------------------------------
// The recording tap

/// One Diameter message that went through a [`Tap`].
#[derive(Clone, Debug)]
pub struct Frame {
    /// The tap's connection number (0, 1, ...).
    pub conn: usize,
    /// Whether the side that opened the TCP connection sent it.
    pub from_initiator: bool,
    /// The opener's address (as the tap saw it) and the tap's listening address.
    pub initiator: SocketAddr,
    /// The address the tap listened on.
    pub acceptor: SocketAddr,
    /// The exact bytes of the message.
    pub bytes: Vec<u8>,
    /// When the last byte arrived.
    pub at: std::time::SystemTime,
}

impl Frame {
    /// The message, decoded untyped.
    pub fn raw(&self) -> RawMessage {
        RawMessage::decode(self.bytes.clone().into(), &Limits::default()).expect("raw decode")
    }
    /// Command code.
    pub fn code(&self) -> u32 {
        u32::from_be_bytes([0, self.bytes[5], self.bytes[6], self.bytes[7]])
    }
    /// Whether the R bit is set.
    pub fn is_request(&self) -> bool {
        self.bytes[4] & 0x80 != 0
    }
}

/// A TCP forwarder between a peer and a target that records every Diameter message in
/// both directions, byte for byte, without changing or delaying anything.
pub struct Tap {
    /// Where peers should connect.
    pub addr: SocketAddr,
    frames: Arc<Mutex<Vec<Frame>>>,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

/// Connects to `target`, trying up to `attempts` times 20 ms apart.
async fn connect_retrying(target: SocketAddr, attempts: u32) -> Option<TcpStream> {
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Ok(stream) = TcpStream::connect(target).await {
            return Some(stream);
        }
    }
    None
}

impl Tap {
    /// A tap on 127.0.0.1 (ephemeral port) forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Tap {
        Self::start_gated(target, None).await
    }

    /// Like [`Tap::start`], but each tap sharing `rendezvous` (a counter, and how many
    /// taps share it) holds its first accepted connection, without connecting to its
    /// target, until every one of them has accepted one (at most 5 s). Two taps in
    /// opposite directions so hold both CERs until both are in flight: a forced
    /// election (RFC 6733 §5.6.4).
    pub async fn start_gated(
        target: SocketAddr,
        rendezvous: Option<(Arc<std::sync::atomic::AtomicUsize>, usize)>,
    ) -> Tap {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("tap bind");
        let addr = listener.local_addr().unwrap();
        let frames = Arc::new(Mutex::new(Vec::new()));
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let (f, t) = (frames.clone(), tasks.clone());
        let accept = tokio::spawn(async move {
            let mut n = 0usize;
            // Bounded: a test opens a handful of connections.
            while n < 64 {
                let Ok((inbound, peer)) = listener.accept().await else {
                    break;
                };
                if let (0, Some((count, of))) = (n, &rendezvous) {
                    use std::sync::atomic::Ordering;
                    count.fetch_add(1, Ordering::SeqCst);
                    let end = Instant::now() + Duration::from_secs(5);
                    while count.load(Ordering::SeqCst) < *of && Instant::now() < end {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                // A gated first connection may be released before the target (a peer
                // process that is still starting) listens: retry it briefly, so that the
                // rendezvous it stands for is not lost to a slow start under load.
                let gated = n == 0 && rendezvous.is_some();
                let Some(outbound) = connect_retrying(target, if gated { 100 } else { 1 }).await
                else {
                    continue; // the target is down: the peer sees the connection close
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (ir, iw) = inbound.into_split();
                let (or, ow) = outbound.into_split();
                let a = tokio::spawn(pump(ir, ow, n, true, peer, addr, f.clone()));
                let b = tokio::spawn(pump(or, iw, n, false, peer, addr, f.clone()));
                t.lock()
                    .unwrap()
                    .extend([a.abort_handle(), b.abort_handle()]);
                n += 1;
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        Tap {
            addr,
            frames,
            tasks,
        }
    }

    /// Everything recorded so far, in arrival order.
    pub fn frames(&self) -> Vec<Frame> {
        self.frames.lock().unwrap().clone()
    }

    /// The first recorded message with this command code, R bit and direction.
    pub fn find(&self, code: u32, request: bool, from_initiator: bool) -> Option<Frame> {
        self.frames().into_iter().find(|f| {
            f.code() == code && f.is_request() == request && f.from_initiator == from_initiator
        })
    }

    /// Waits (at most `limit`) for such a message.
    pub async fn wait_for(
        &self,
        code: u32,
        request: bool,
        from_initiator: bool,
        limit: Duration,
    ) -> Option<Frame> {
        let end = Instant::now() + limit;
        loop {
            if let Some(f) = self.find(code, request, from_initiator) {
                return Some(f);
            }
            if Instant::now() >= end {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Drops every connection (both sides see it close) and stops accepting.
    pub fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn pump(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    conn: usize,
    from_initiator: bool,
    initiator: SocketAddr,
    acceptor: SocketAddr,
    frames: Arc<Mutex<Vec<Frame>>>,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if wr.write_all(&buf[..n]).await.is_err() {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        // Split into messages by the 24-bit length of each header.
        while pending.len() >= 4 {
            let len = u32::from_be_bytes([0, pending[1], pending[2], pending[3]]) as usize;
            if len < 20 {
                // Not Diameter (or garbage): keep it as one frame and stop splitting.
                pending.clear();
                break;
            }
            if pending.len() < len {
                break;
            }
            let bytes: Vec<u8> = pending.drain(..len).collect();
            frames.lock().unwrap().push(Frame {
                conn,
                from_initiator,
                initiator,
                acceptor,
                bytes,
                at: std::time::SystemTime::now(),
            });
        }
    }
    let _ = wr.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Checks on captured messages

/// Decodes a message a peer sent: untyped decode followed by encode must reproduce the
/// bytes exactly, and the typed decoder must accept it. Returns the typed message.
pub fn check_peer_message(label: &str, bytes: &[u8]) -> diameter::dict::Message {
    let raw = RawMessage::decode(bytes.to_vec().into(), &Limits::default())
        .unwrap_or_else(|e| panic!("{label}: raw decode failed: {e:?}"));
    assert_eq!(
        raw.to_bytes().as_ref(),
        bytes,
        "{label}: raw decode -> encode does not reproduce the peer's bytes"
    );
    match diameter::dict::Message::decode(&raw) {
        Some(Ok(m)) => m,
        Some(Err(e)) => panic!("{label}: typed decode failed: {e:?}"),
        None => panic!(
            "{label}: command {} unknown to our dictionaries",
            raw.header.command_code
        ),
    }
}

/// Checks a protocol-error answer (E bit) a peer sent: raw decode -> encode reproduces the
/// bytes, and it follows the generic `answer-message` grammar of RFC 6733 §7.2
/// (Origin-Host, Origin-Realm, Result-Code) rather than the command's own grammar, which
/// is why the typed decoder is not used for it. Returns its Result-Code.
pub fn check_peer_error_answer(label: &str, bytes: &[u8]) -> u32 {
    use diameter::core::fields::{origin_host, origin_realm, result_code};
    let raw = RawMessage::decode(bytes.to_vec().into(), &Limits::default())
        .unwrap_or_else(|e| panic!("{label}: raw decode failed: {e:?}"));
    assert_eq!(raw.to_bytes().as_ref(), bytes, "{label}: raw round trip");
    assert!(
        raw.header.is_error() && !raw.header.is_request(),
        "{label}: E bit"
    );
    assert!(origin_host(&raw).is_some(), "{label}: Origin-Host");
    assert!(origin_realm(&raw).is_some(), "{label}: Origin-Realm");
    result_code(&raw).unwrap_or_else(|| panic!("{label}: Result-Code"))
}

// ---------------------------------------------------------------------------------------
// Fixtures

/// Writes `tests/fixtures/<name>.hex` when `INTEROP_UPDATE_FIXTURES` is set.
pub fn save_fixture(name: &str, description: &str, bytes: &[u8]) {
    if std::env::var_os("INTEROP_UPDATE_FIXTURES").is_none() {
        return;
    }
    let mut text = String::new();
    for line in description.lines() {
        text.push_str("# ");
        text.push_str(line);
        text.push('\n');
    }
    for chunk in bytes.chunks(32) {
        for b in chunk {
            text.push_str(&format!("{b:02x}"));
        }
        text.push('\n');
    }
    let path = root().join("tests/fixtures").join(format!("{name}.hex"));
    std::fs::write(&path, text).expect("write fixture");
    eprintln!("wrote {}", path.display());
}

// ---------------------------------------------------------------------------------------
// pcap of what a tap saw

/// Writes the frames of one or more taps as a pcap file (LINKTYPE_RAW, IPv4 on
/// 127.0.0.1, the real ports, one TCP segment per message, handshakes included), so that
/// tshark can dissect exactly the bytes that crossed the wire.
pub fn write_pcap(path: &Path, frames: &[Frame]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes()); // LINKTYPE_RAW
                                                  // Per (tap address, conn): sequence numbers of the initiator and the acceptor.
    let mut conns: Vec<((SocketAddr, usize), [u32; 2])> = Vec::new();
    let mut ip_id = 1u16;
    let mut frames: Vec<&Frame> = frames.iter().collect();
    frames.sort_by_key(|f| f.at);
    for f in frames {
        let key = (f.acceptor, f.conn);
        let i = match conns.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                conns.push((key, [1_000, 50_000]));
                let seqs = &mut conns.last_mut().unwrap().1;
                let t = f.at;
                segment(&mut out, &mut ip_id, t, f, true, 0x02, seqs[0], 0, &[]);
                segment(
                    &mut out,
                    &mut ip_id,
                    t,
                    f,
                    false,
                    0x12,
                    seqs[1],
                    seqs[0] + 1,
                    &[],
                );
                seqs[0] += 1;
                seqs[1] += 1;
                segment(
                    &mut out,
                    &mut ip_id,
                    t,
                    f,
                    true,
                    0x10,
                    seqs[0],
                    seqs[1],
                    &[],
                );
                conns.len() - 1
            }
        };
        let seqs = &mut conns[i].1;
        let (me, them) = if f.from_initiator { (0, 1) } else { (1, 0) };
        for chunk in f.bytes.chunks(16_000) {
            let (s, a) = (seqs[me], seqs[them]);
            segment(
                &mut out,
                &mut ip_id,
                f.at,
                f,
                f.from_initiator,
                0x18,
                s,
                a,
                chunk,
            );
            seqs[me] = s.wrapping_add(chunk.len() as u32);
        }
    }
    std::fs::write(path, out).expect("write pcap");
}

#[allow(clippy::too_many_arguments)]
fn segment(
    out: &mut Vec<u8>,
    ip_id: &mut u16,
    at: std::time::SystemTime,
    f: &Frame,
    from_initiator: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
) {
    let (src, dst) = if from_initiator {
        (f.initiator.port(), f.acceptor.port())
    } else {
        (f.acceptor.port(), f.initiator.port())
    };
    let total = 20 + 20 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&ip_id.to_be_bytes());
    *ip_id = ip_id.wrapping_add(1);
    p.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]);
    p.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
    let sum = checksum(&p[..20], 0);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    let tcp_start = p.len();
    p.extend_from_slice(&src.to_be_bytes());
    p.extend_from_slice(&dst.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(if flags & 0x10 != 0 { ack } else { 0 }).to_be_bytes());
    p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend_from_slice(payload);
    // Pseudo-header: source and destination 127.0.0.1, protocol 6, TCP length.
    let pseudo: u32 = 2 * (0x7f00 + 0x0001) + 6 + (20 + payload.len()) as u32;
    let sum = checksum(&p[tcp_start..], pseudo);
    p[tcp_start + 16..tcp_start + 18].copy_from_slice(&sum.to_be_bytes());
    let t = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    out.extend_from_slice(&(t.as_secs() as u32).to_le_bytes());
    out.extend_from_slice(&t.subsec_micros().to_le_bytes());
    out.extend_from_slice(&(p.len() as u32).to_le_bytes());
    out.extend_from_slice(&(p.len() as u32).to_le_bytes());
    out.extend_from_slice(&p);
}

fn checksum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

// ---------------------------------------------------------------------------------------
// tshark

/// What tshark made of a capture.
#[derive(Debug)]
pub struct TsharkReport {
    /// Diameter PDUs dissected.
    pub diameter_pdus: usize,
    /// Expert items of severity Warning or Error, and malformed-packet notes.
    pub problems: Vec<String>,
    /// The full `-V` text, for failure messages.
    pub text: String,
}

/// Runs `tshark -r pcap -V` with Diameter decoded on `ports` and collects the problems.
pub fn tshark_check(tshark: &Path, pcap: &Path, ports: &[u16]) -> TsharkReport {
    let mut cmd = Command::new(tshark);
    cmd.arg("-r").arg(pcap).arg("-V").arg("-n");
    for p in ports {
        cmd.arg("-d").arg(format!("tcp.port=={p},diameter"));
    }
    let out = cmd.output().expect("run tshark");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diameter_pdus = text
        .lines()
        .filter(|l| l.starts_with("Diameter Protocol"))
        .count();
    // TCP's own sequence analysis (a connection reset when the loser of an election or a
    // DPR closes its connection) is not a Diameter problem: group "Sequence" is ignored.
    let problems = text
        .lines()
        .filter(|l| {
            l.contains("Malformed")
                || l.contains("Expert Info (Error")
                || (l.contains("Expert Info (Warn") && !l.contains("/Sequence)"))
        })
        .map(|l| l.trim().to_owned())
        .collect();
    TsharkReport {
        diameter_pdus,
        problems,
        text,
    }
}

/// Writes the frames as a pcap into `dir` and asserts tshark finds every Diameter
/// message and no malformed packet or expert warning/error. Skips (with a message) when
/// tshark is absent.
pub fn assert_tshark_clean(test: &str, dir: &Path, frames: &[Frame]) {
    let Some(tshark) = require("tshark", "tshark", test) else {
        return;
    };
    let pcap = dir.join(format!("{test}.pcap"));
    write_pcap(&pcap, frames);
    let mut ports: Vec<u16> = frames.iter().map(|f| f.acceptor.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    let report = tshark_check(&tshark, &pcap, &ports);
    assert_eq!(
        report.diameter_pdus,
        frames.len(),
        "{test}: tshark dissected {} Diameter PDUs of {}\n{}",
        report.diameter_pdus,
        frames.len(),
        report.text
    );
    assert!(
        report.problems.is_empty(),
        "{test}: tshark reports problems: {:#?}\n{}",
        report.problems,
        report.text
    );
    eprintln!(
        "{test}: tshark dissected {} Diameter PDUs without malformed packets or expert warnings",
        report.diameter_pdus
    );
}

/// A live capture with `tshark -i lo` filtered on some ports, for the tests' real
/// traffic. `None` (with a message) when tshark is absent or cannot capture here (no
/// permission on the loopback interface).
pub struct LiveCapture {
    daemon: Daemon,
    pub file: PathBuf,
    ports: Vec<u16>,
    tshark: PathBuf,
}

impl LiveCapture {
    /// Starts capturing on `lo` the TCP traffic of `ports`.
    pub fn start(test: &str, dir: &Path, ports: &[u16]) -> Option<LiveCapture> {
        let tshark = find_binary("tshark")?;
        let file = dir.join(format!("{test}-live.pcapng"));
        let filter = ports
            .iter()
            .map(|p| format!("tcp port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut cmd = Command::new(&tshark);
        cmd.args(["-i", "lo", "-f", &filter, "-w"]).arg(&file);
        let daemon = Daemon::spawn("tshark -i lo", cmd).ok()?;
        // "Capturing on" comes before dumpcap is really capturing; "Capture started" after.
        if daemon
            .wait_line("Capture started", Duration::from_secs(10))
            .is_none()
        {
            eprintln!(
                "{test}: live capture on lo unavailable (no permission?); the tap's pcap is checked instead:\n{}",
                daemon.output()
            );
            return None;
        }
        std::thread::sleep(Duration::from_millis(300));
        Some(LiveCapture {
            daemon,
            file,
            ports: ports.to_vec(),
            tshark,
        })
    }

    /// Stops the capture (SIGINT by PID, so the file is complete) and checks it like
    /// [`assert_tshark_clean`]; at least `min_pdus` Diameter PDUs must be in it.
    pub fn finish_and_check(self, test: &str, min_pdus: usize) {
        self.finish_and_check_allowing(test, min_pdus, &[]);
    }

    /// [`LiveCapture::finish_and_check`], tolerating (and printing) the problems that
    /// contain one of `tolerated`.
    pub fn finish_and_check_allowing(mut self, test: &str, min_pdus: usize, tolerated: &[&str]) {
        // Give the kernel a moment to deliver the last segments to the capture.
        std::thread::sleep(Duration::from_millis(500));
        self.stop();
        let mut report = tshark_check(&self.tshark, &self.file, &self.ports);
        report.problems.retain(|p| {
            let ok = tolerated.iter().any(|t| p.contains(t));
            if ok {
                eprintln!("{test}: tolerated in the live capture: {p}");
            }
            !ok
        });
        assert!(
            report.diameter_pdus >= min_pdus,
            "{test}: live capture has {} Diameter PDUs, expected at least {min_pdus}\n{}",
            report.diameter_pdus,
            report.text
        );
        assert!(
            report.problems.is_empty(),
            "{test}: tshark reports problems in the live capture: {:#?}\n{}",
            report.problems,
            report.text
        );
        eprintln!(
            "{test}: live capture on lo: {} Diameter PDUs, no malformed packets or expert warnings",
            report.diameter_pdus
        );
    }
}

impl LiveCapture {
    /// SIGINT to tshark (by PID): it stops its dumpcap child and completes the file.
    /// (SIGKILL would leave dumpcap running.)
    fn stop(&mut self) {
        if self.daemon.wait_exit(Duration::ZERO).is_none() {
            self.daemon.signal("INT");
            let _ = self.daemon.wait_exit(Duration::from_secs(10));
        }
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        self.stop(); // also when the test failed before finish_and_check
    }
}

/// Writes a file (creating nothing else).
pub fn write_file(path: &Path, text: &str) {
    let mut f = std::fs::File::create(path).expect("create file");
    f.write_all(text.as_bytes()).expect("write file");
}

/// Waits until `node` has `peer` open, then subscribes to its events. Subscribing only
/// once open matters: a first connection attempt made while the third-party peer was still
/// starting (seen under load) leaves a `PeerDown` that is not the one a test checks.
pub async fn events_once_open(
    node: &diameter::core::node::Node,
    peer: &str,
    limit: Duration,
) -> tokio::sync::broadcast::Receiver<diameter::core::node::NodeEvent> {
    assert!(node.wait_peer(peer, limit).await, "{peer} open (CER/CEA)");
    node.subscribe()
}
