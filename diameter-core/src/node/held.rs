//! Bursts of answers held until every answer in them is released
//! ([`super::AnswerBuf::hold_until`]), per connection in order.
//!
//! The releases are polled only when one of them woke, and a new burst's when it is
//! added: the peer task wakes for every batch of requests, and polling a release that is
//! not ready registers it again (a journal keeps every registration until its sync).
//!
//! A source of releases that wakes them from a thread of its own inside
//! [`release_from_here`] (the OCS journal's syncer, after the `fdatasync` that made the
//! answers' charges durable) sends the bursts from that thread: written to the socket at
//! once when the connection's writer is idle ([`crate::transport::direct`]). The I/O
//! thread is not woken for them: it keeps reading and charging while answers leave. On the
//! 2-CPU VM of the README's figures this took the OCS from about 130,000 to 143,000
//! answers/s at 4 x 32 in flight.

use super::shards::on_io_thread;
use super::Release;
use crate::peer::ConnId;
use crate::transport::outgoing::Burst;
use crate::transport::{QueueError, Sink};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use tokio::time::Instant;

/// A connection's burst of messages, with the releases of the answers held in it: it
/// leaves once every one of them is released.
pub(super) struct Outgoing<W> {
    pub(super) conn: ConnId,
    pub(super) burst: Burst,
    /// The releases of its held answers.
    pub(super) releases: Vec<Release>,
    /// What to count for its held answers when it leaves.
    pub(super) written: Vec<W>,
    /// Its releases were polled (and registered their wake) at least once.
    polled: bool,
    /// The agent closed the connection: its writer closes once this burst is gone.
    pub(super) close_after: bool,
}

impl<W> Outgoing<W> {
    /// An empty burst for connection `conn`.
    pub(super) fn new(conn: ConnId) -> Self {
        Outgoing {
            conn,
            burst: Burst::default(),
            releases: Vec::new(),
            written: Vec::new(),
            polled: false,
            close_after: false,
        }
    }

    /// Whether it must wait for releases.
    pub(super) fn is_held(&self) -> bool {
        !self.releases.is_empty()
    }

    /// `true` once every release came, `false` as soon as one says never. The last one
    /// is polled first: releases of one source (a journal's durable position) come in
    /// order, so the burst registers one wake, for its last answer.
    fn poll_released(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        self.polled = true;
        while let Some(r) = self.releases.last_mut() {
            match r.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(false) => return Poll::Ready(false),
                Poll::Ready(true) => {
                    self.releases.pop();
                }
            }
        }
        Poll::Ready(true)
    }
}

/// The held bursts of one peer task, shared with the wakes of their releases.
///
/// A release woken on a thread other than the node's I/O threads (a journal's syncer,
/// whose sync made the answers durable) sends the bursts it released from that thread,
/// written to the socket at once when the connection's writer is idle
/// ([`Sink::send`]): the answers leave without waking the I/O thread. What that path
/// cannot do (a burst withheld or closing its connection, a failed send, a connection
/// without a direct socket) is left to the peer task, which it wakes.
pub(super) struct HeldBursts<W> {
    shared: Arc<Held<W>>,
}

/// Counts the answers of a burst as it leaves, at the given time.
pub(super) type Sent<W> = Box<dyn Fn(&[W], Instant) + Send + Sync>;

struct Held<W> {
    state: Mutex<State<W>>,
    /// A release woke with work for the peer task.
    woken: AtomicBool,
    /// The peer task's waker.
    task: Mutex<Option<Waker>>,
    sent: Sent<W>,
}

struct State<W> {
    bursts: Vec<Outgoing<W>>,
    /// A burst was added since the releases were last polled.
    added: bool,
    /// Where each connection's bursts go.
    sinks: Vec<(ConnId, Sink)>,
    /// What released bursts left for the peer task (from a direct release).
    left: Vec<(ConnId, Left)>,
}

/// What the peer task must do after a burst left or was dropped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Left {
    /// Sent; with whether the connection closes after it.
    Sent { close: bool },
    /// Withheld (its answers never may leave): dropped. With its bytes and whether the
    /// connection closes after it.
    Withheld { bytes: usize, close: bool },
    /// Its connection's queue refused it: the connection is done for.
    Failed(QueueError),
}

/// What became of a burst handed over by [`HeldBursts::push_or_send`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flushed {
    /// Queued for its writer (or dropped: the connection is unknown).
    Sent,
    /// Held, behind its own releases or an earlier held burst of its connection.
    Held,
    /// Holding it would pass the connection's bound: the connection must close.
    OverBound { held: usize },
    /// The connection's queue refused it.
    Failed(QueueError),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// Set while the node polls held releases (see [`polling_held_releases`]).
    static POLLING: Cell<bool> = const { Cell::new(false) };
    /// Set while wakes may send what they release from here ([`release_from_here`]).
    static RELEASING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, in which a wake of a held answer's release ([`super::AnswerBuf::hold_until`])
/// sends what it released from the calling thread: written to the socket at once when the
/// connection's writer is idle, with no hand-over to the I/O thread. For a source of
/// releases that wakes them from a thread of its own (a journal's syncer after its sync),
/// holding no lock that polling a release takes. Other wakes hand the answers to the
/// peer task, on its I/O thread; so do these on an I/O thread.
pub fn release_from_here<R>(f: impl FnOnce() -> R) -> R {
    let before = RELEASING.with(|r| r.replace(true));
    let out = f();
    RELEASING.with(|r| r.set(before));
    out
}

/// Whether the node is polling the releases of held answers on this thread
/// ([`super::AnswerBuf::hold_until`]). Their waker does its work on the thread that wakes
/// it: a source of releases that hands wakes over to the node's I/O threads (as is best
/// for their tasks' wakers) should wake these where it is.
pub fn polling_held_releases() -> bool {
    POLLING.with(Cell::get)
}

/// Marks this thread as polling held releases while it lives.
struct Polling;

impl Polling {
    fn start() -> Polling {
        POLLING.with(|p| p.set(true));
        Polling
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        POLLING.with(|p| p.set(false));
    }
}

impl<W: Send + 'static> HeldBursts<W> {
    /// No bursts; `sent` counts the answers of each burst that leaves.
    pub(super) fn new(sent: Sent<W>) -> Self {
        HeldBursts {
            shared: Arc::new(Held {
                state: Mutex::new(State {
                    bursts: Vec::new(),
                    added: false,
                    sinks: Vec::new(),
                    left: Vec::new(),
                }),
                woken: AtomicBool::new(false),
                task: Mutex::new(None),
                sent,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<W>> {
        lock(&self.shared.state)
    }

    pub(super) fn is_empty(&self) -> bool {
        let s = self.state();
        s.bursts.is_empty() && s.left.is_empty()
    }

    /// Connection `id` opened: its bursts go to `sink`.
    pub(super) fn add_conn(&self, id: ConnId, sink: Sink) {
        let mut s = self.state();
        s.sinks.retain(|(c, _)| *c != id);
        s.sinks.push((id, sink));
    }

    /// Connection `id` closed: its held bursts and its sink go.
    pub(super) fn drop_conn(&self, id: ConnId) {
        let mut s = self.state();
        s.bursts.retain(|h| h.conn != id);
        s.sinks.retain(|(c, _)| *c != id);
        s.left.retain(|(c, _)| *c != id);
    }

    /// Hands `out` to its writer, or holds it if its answers wait for releases or an
    /// earlier burst of its connection is held (a connection's bursts leave in order).
    /// Held bytes count against `bound`, the connection's write queue bound: a peer that
    /// floods requests while their answers wait is closed as one that does not read.
    pub(super) fn push_or_send(&self, out: Outgoing<W>, bound: usize) -> Flushed {
        let mut s = self.state();
        let id = out.conn;
        if out.is_held() || s.holds(id) {
            let held = s.bytes(id);
            if held + out.burst.len() > bound {
                return Flushed::OverBound { held };
            }
            s.bursts.push(out);
            s.added = true;
            return Flushed::Held;
        }
        match s.sink(id).map(|k| k.send(out.burst, false)) {
            Some(Err(e)) => Flushed::Failed(e),
            _ => Flushed::Sent,
        }
    }

    /// The agent closed connection `id`: its writer closes after its last held burst.
    /// `false`: none is held.
    pub(super) fn close_after(&self, id: ConnId) -> bool {
        let mut s = self.state();
        match s.bursts.iter_mut().rev().find(|h| h.conn == id) {
            Some(last) => {
                last.close_after = true;
                true
            }
            None => false,
        }
    }

    /// Sends the bursts released (drops those withheld) and returns what the peer task
    /// must do after each. A connection's bursts leave in order: one waits for those held
    /// before it (so a DPA queued after held answers goes after them).
    pub(super) fn poll_released(&self, cx: &mut Context<'_>) -> Poll<Vec<(ConnId, Left)>> {
        let held = &self.shared;
        {
            let mut t = lock(&held.task);
            if !t.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *t = Some(cx.waker().clone());
            }
        }
        let mut s = self.state();
        let added = std::mem::take(&mut s.added);
        let woken = held.woken.swap(false, Ordering::AcqRel);
        if !added && !woken && s.left.is_empty() {
            return Poll::Pending;
        }
        let _polling = Polling::start();
        let mut done = std::mem::take(&mut s.left);
        held.release(&mut s, !woken, Mode::Task(&mut done));
        match done.is_empty() {
            true => Poll::Pending,
            false => Poll::Ready(done),
        }
    }
}

/// Who releases: the peer task, or the thread that woke a release.
enum Mode<'a> {
    /// The peer task: every released burst is its to send or drop; what it must do after
    /// each goes here.
    Task(&'a mut Vec<(ConnId, Left)>),
    /// The waking thread: it sends only what it can write directly; returns whether it
    /// left anything for the peer task.
    Direct,
}

impl<W: Send + 'static> Held<W> {
    /// Polls the held bursts (with `only_new`, only those never polled: the others would
    /// have woken) and sends those released as `mode` allows. Returns whether a released
    /// burst was left for the peer task.
    fn release(self: &Arc<Self>, s: &mut State<W>, only_new: bool, mut mode: Mode<'_>) -> bool {
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        let mut waiting: Vec<ConnId> = Vec::new();
        let mut left = false;
        let mut i = 0;
        while i < s.bursts.len() {
            let conn = s.bursts[i].conn;
            if waiting.contains(&conn) || (only_new && s.bursts[i].polled) {
                waiting.push(conn);
                i += 1;
                continue;
            }
            let ok = match s.bursts[i].poll_released(&mut cx) {
                Poll::Pending => {
                    waiting.push(conn);
                    i += 1;
                    continue;
                }
                Poll::Ready(ok) => ok,
            };
            let close = s.bursts[i].close_after;
            // Written from this thread (either mode) when the socket allows it.
            let direct = ok && !close && s.sink(conn).is_some_and(Sink::is_direct);
            let done = match &mut mode {
                Mode::Direct if !direct => {
                    // The peer task's to do; its later bursts wait behind it.
                    left = true;
                    waiting.push(conn);
                    i += 1;
                    continue;
                }
                Mode::Direct => None,
                Mode::Task(done) => Some(done),
            };
            let burst = s.bursts.remove(i);
            let outcome = match ok {
                false => Left::Withheld {
                    bytes: burst.burst.len(),
                    close,
                },
                true => {
                    (self.sent)(&burst.written, Instant::now());
                    match s.sink(conn).map(|k| k.send(burst.burst, direct)) {
                        Some(Err(e)) => Left::Failed(e),
                        _ => Left::Sent { close },
                    }
                }
            };
            match done {
                Some(done) => done.push((conn, outcome)),
                None if outcome != (Left::Sent { close: false }) => {
                    s.left.push((conn, outcome));
                    left = true;
                }
                None => {}
            }
        }
        left
    }
}

impl<W> State<W> {
    /// Whether a burst of connection `id` is held.
    fn holds(&self, id: ConnId) -> bool {
        self.bursts.iter().any(|h| h.conn == id)
    }

    /// Bytes held for connection `id`.
    fn bytes(&self, id: ConnId) -> usize {
        self.bursts
            .iter()
            .filter(|h| h.conn == id)
            .map(|h| h.burst.len())
            .sum()
    }

    fn sink(&self, id: ConnId) -> Option<&Sink> {
        self.sinks.iter().find(|(c, _)| *c == id).map(|(_, k)| k)
    }
}

impl<W: Send + 'static> Wake for Held<W> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// Inside [`release_from_here`] off the I/O threads, sends what it released from here;
    /// wakes the peer task for what is left (and for everything otherwise, or when the
    /// peer task holds the state).
    fn wake_by_ref(self: &Arc<Self>) {
        if RELEASING.with(Cell::get) && !on_io_thread() {
            if let Ok(mut s) = self.state.try_lock() {
                if !self.release(&mut s, false, Mode::Direct) {
                    return;
                }
            }
        }
        self.woken.store(true, Ordering::Release);
        let task = lock(&self.task).clone();
        if let Some(w) = task {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A release that counts its polls, keeps the last waker, and is ready once `ready`.
    struct Gate {
        polls: AtomicUsize,
        ready: AtomicBool,
        waker: Mutex<Option<Waker>>,
    }

    fn gate() -> Arc<Gate> {
        Arc::new(Gate {
            polls: AtomicUsize::new(0),
            ready: AtomicBool::new(false),
            waker: Mutex::new(None),
        })
    }

    fn release(g: &Arc<Gate>) -> Release {
        let g = g.clone();
        Box::pin(std::future::poll_fn(move |cx| {
            g.polls.fetch_add(1, Ordering::SeqCst);
            *g.waker.lock().unwrap() = Some(cx.waker().clone());
            match g.ready.load(Ordering::SeqCst) {
                true => Poll::Ready(true),
                false => Poll::Pending,
            }
        }))
    }

    /// A burst of connection `conn` holding `text`, waiting for `releases`.
    fn burst(conn: u64, text: &[u8], releases: Vec<Release>) -> Outgoing<()> {
        let mut burst = Outgoing::new(ConnId(conn));
        burst.burst.buffer().extend_from_slice(text);
        burst.releases = releases;
        burst
    }

    /// Held bursts counting their answers sent, with a queue (no direct socket) for
    /// connections 1 and 2, and the queues' receiving ends (the queues themselves too: the
    /// held bursts' handles do not keep them open).
    fn held_with_queues() -> (
        HeldBursts<()>,
        Arc<AtomicUsize>,
        Vec<(Receiver, crate::transport::WriteQueue)>,
    ) {
        let sent = Arc::new(AtomicUsize::new(0));
        let count = sent.clone();
        let held = HeldBursts::new(Box::new(move |w: &[()], _| {
            count.fetch_add(w.len() + 1, Ordering::SeqCst);
        }));
        let mut rxs = Vec::new();
        for conn in [1, 2] {
            let (queue, rx) = crate::transport::test_queue(None);
            held.add_conn(ConnId(conn), queue.sink());
            rxs.push((rx, queue));
        }
        (held, sent, rxs)
    }

    type Receiver = tokio::sync::mpsc::UnboundedReceiver<bytes::Bytes>;

    /// What connection's queue received, concatenated.
    fn received(rx: &mut Receiver) -> Vec<u8> {
        let mut out = Vec::new();
        while let Ok(b) = rx.try_recv() {
            out.extend_from_slice(&b);
        }
        out
    }

    fn poll(held: &HeldBursts<()>) -> Option<Vec<(u64, Left)>> {
        let mut cx = Context::from_waker(Waker::noop());
        match held.poll_released(&mut cx) {
            Poll::Ready(done) => Some(done.into_iter().map(|(c, l)| (c.0, l)).collect()),
            Poll::Pending => None,
        }
    }

    const SENT: Left = Left::Sent { close: false };

    #[test]
    fn a_pending_release_is_polled_again_only_once_it_woke() {
        let (a, b) = (gate(), gate());
        let (held, sent, mut rxs) = held_with_queues();
        let bound = usize::MAX;
        assert_eq!(
            held.push_or_send(burst(1, b"a", vec![release(&a)]), bound),
            Flushed::Held
        );
        assert_eq!(poll(&held), None);
        // Woken for something else (more requests): not polled again.
        assert_eq!(poll(&held), None);
        assert_eq!(a.polls.load(Ordering::SeqCst), 1);
        // A new burst of another connection is polled; the first one still is not.
        assert_eq!(
            held.push_or_send(burst(2, b"b", vec![release(&b)]), bound),
            Flushed::Held
        );
        assert_eq!(poll(&held), None);
        assert_eq!(
            (
                a.polls.load(Ordering::SeqCst),
                b.polls.load(Ordering::SeqCst)
            ),
            (1, 1)
        );
        // Its release wakes it (outside `release_from_here`: the wake leaves it to the
        // peer task): polled, sent, counted.
        a.ready.store(true, Ordering::SeqCst);
        let waker = a.waker.lock().unwrap().take().unwrap();
        waker.wake();
        assert_eq!(poll(&held), Some(vec![(1, SENT)]));
        assert_eq!(received(&mut rxs[0].0), b"a");
        assert_eq!(received(&mut rxs[1].0), b"");
        assert_eq!(sent.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_connections_bursts_leave_in_order() {
        let (first, second) = (gate(), gate());
        let (held, _, mut rxs) = held_with_queues();
        let bound = usize::MAX;
        held.push_or_send(burst(1, b"1", vec![release(&first)]), bound);
        held.push_or_send(burst(1, b"2", vec![release(&second)]), bound);
        // Not held itself, but behind held ones.
        assert_eq!(
            held.push_or_send(burst(1, b"3", Vec::new()), bound),
            Flushed::Held
        );
        // Another connection's burst goes at once.
        assert_eq!(
            held.push_or_send(burst(2, b"x", Vec::new()), bound),
            Flushed::Sent
        );
        second.ready.store(true, Ordering::SeqCst);
        // The second is ready but waits behind the first, and so does the third.
        assert_eq!(poll(&held), None);
        assert_eq!(second.polls.load(Ordering::SeqCst), 0);
        first.ready.store(true, Ordering::SeqCst);
        let waker = first.waker.lock().unwrap().take().unwrap();
        waker.wake();
        assert_eq!(poll(&held), Some(vec![(1, SENT), (1, SENT), (1, SENT)]));
        assert!(held.is_empty());
        assert_eq!(received(&mut rxs[0].0), b"123");
        assert_eq!(received(&mut rxs[1].0), b"x");
    }

    #[test]
    fn held_bytes_past_the_bound_close_the_connection_and_a_withheld_burst_is_dropped() {
        let never = gate();
        let (held, sent, mut rxs) = held_with_queues();
        assert_eq!(
            held.push_or_send(burst(1, b"abcd", vec![release(&never)]), 6),
            Flushed::Held
        );
        assert_eq!(
            held.push_or_send(burst(1, b"efg", Vec::new()), 6),
            Flushed::OverBound { held: 4 }
        );
        // A release that says never: withheld, and the agent had closed the connection.
        let withheld: Release = Box::pin(std::future::ready(false));
        held.push_or_send(burst(2, b"no", vec![withheld]), 6);
        assert!(held.close_after(ConnId(2)));
        assert_eq!(
            poll(&held),
            Some(vec![(
                2,
                Left::Withheld {
                    bytes: 2,
                    close: true
                }
            )])
        );
        assert_eq!(received(&mut rxs[1].0), b"");
        assert_eq!(sent.load(Ordering::SeqCst), 0);
    }

    #[cfg(unix)]
    #[test]
    fn a_release_woken_off_the_io_threads_writes_its_bursts_to_the_socket_itself() {
        use crate::transport::direct::{tests::pair, DirectSocket};
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let (ours, mut theirs) = pair();
        let (queue, mut rx) =
            crate::transport::test_queue(Some(DirectSocket::new(ours.as_raw_fd())));
        let sent = Arc::new(AtomicUsize::new(0));
        let count = sent.clone();
        let held = HeldBursts::new(Box::new(move |w: &[()], _| {
            count.fetch_add(w.len() + 1, Ordering::SeqCst);
        }));
        held.add_conn(ConnId(1), queue.sink());
        let (first, second) = (gate(), gate());
        held.push_or_send(burst(1, b"one ", vec![release(&first)]), usize::MAX);
        held.push_or_send(burst(1, b"two ", Vec::new()), usize::MAX);
        held.push_or_send(burst(1, b"three", vec![release(&second)]), usize::MAX);
        assert_eq!(poll(&held), None);
        // Released from another thread (a journal's syncer): written there, in order, up
        // to the burst still held; the peer task has nothing to do.
        first.ready.store(true, Ordering::SeqCst);
        let waker = first.waker.lock().unwrap().take().unwrap();
        std::thread::spawn(move || release_from_here(|| waker.wake()))
            .join()
            .unwrap();
        let mut got = [0; 8];
        theirs.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"one two ");
        assert_eq!(sent.load(Ordering::SeqCst), 2);
        assert_eq!(poll(&held), None);
        assert!(
            rx.try_recv().is_err(),
            "nothing went through the writer's queue"
        );
        // The last one closes its connection: left to the peer task, which sends it.
        assert!(held.close_after(ConnId(1)));
        second.ready.store(true, Ordering::SeqCst);
        let waker = second.waker.lock().unwrap().take().unwrap();
        std::thread::spawn(move || release_from_here(|| waker.wake()))
            .join()
            .unwrap();
        assert_eq!(poll(&held), Some(vec![(1, Left::Sent { close: true })]));
        assert_eq!(received(&mut rx), b"three");
        assert!(held.is_empty());
    }
}
