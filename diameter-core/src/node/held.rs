//! Bursts of answers held until every answer in them is released
//! ([`super::AnswerBuf::hold_until`]), per connection in order.
//!
//! The releases are polled only when one of them woke the peer task, and a new burst's
//! when it is added: the peer task wakes for every batch of requests, and polling a
//! release that is not ready registers it again (a journal keeps every registration
//! until its sync).

use super::Release;
use crate::peer::ConnId;
use crate::transport::outgoing::Burst;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

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

/// The held bursts of one peer task.
pub(super) struct HeldBursts<W> {
    bursts: Vec<Outgoing<W>>,
    /// Woken by the releases; wakes the peer task.
    signal: Arc<Signal>,
    /// A burst was added since the releases were last polled.
    added: bool,
}

impl<W> Default for HeldBursts<W> {
    fn default() -> Self {
        HeldBursts {
            bursts: Vec::new(),
            signal: Arc::new(Signal::default()),
            added: false,
        }
    }
}

impl<W> HeldBursts<W> {
    pub(super) fn is_empty(&self) -> bool {
        self.bursts.is_empty()
    }

    /// Whether a burst of connection `id` is held.
    pub(super) fn holds(&self, id: ConnId) -> bool {
        self.bursts.iter().any(|h| h.conn == id)
    }

    /// Bytes held for connection `id`.
    pub(super) fn bytes(&self, id: ConnId) -> usize {
        self.bursts
            .iter()
            .filter(|h| h.conn == id)
            .map(|h| h.burst.len())
            .sum()
    }

    pub(super) fn push(&mut self, burst: Outgoing<W>) {
        self.bursts.push(burst);
        self.added = true;
    }

    /// The agent closed connection `id`: its writer closes after its last held burst.
    /// `false`: none is held.
    pub(super) fn close_after(&mut self, id: ConnId) -> bool {
        match self.bursts.iter_mut().rev().find(|h| h.conn == id) {
            Some(last) => {
                last.close_after = true;
                true
            }
            None => false,
        }
    }

    /// Drops the bursts of connection `id` (it closed).
    pub(super) fn drop_conn(&mut self, id: ConnId) {
        self.bursts.retain(|h| h.conn != id);
    }

    /// Takes out the bursts released (or withheld), each with whether it may leave. A
    /// connection's bursts leave in order: one waits for those held before it (so a DPA
    /// queued after held answers goes after them).
    pub(super) fn poll_released(&mut self, cx: &mut Context<'_>) -> Poll<Vec<(Outgoing<W>, bool)>> {
        self.signal.register(cx.waker());
        let added = std::mem::take(&mut self.added);
        let woken = self.signal.take();
        if !added && !woken {
            return Poll::Pending;
        }
        let waker = Waker::from(self.signal.clone());
        let mut cx = Context::from_waker(&waker);
        let mut done = Vec::new();
        let mut waiting: Vec<ConnId> = Vec::new();
        let mut i = 0;
        while i < self.bursts.len() {
            let conn = self.bursts[i].conn;
            if waiting.contains(&conn) {
                i += 1;
                continue;
            }
            // Not woken: a burst polled before is still waiting (its release would have
            // woken the signal); only new ones are polled.
            if !woken && self.bursts[i].polled {
                waiting.push(conn);
                i += 1;
                continue;
            }
            match self.bursts[i].poll_released(&mut cx) {
                Poll::Pending => {
                    waiting.push(conn);
                    i += 1;
                }
                Poll::Ready(ok) => done.push((self.bursts.remove(i), ok)),
            }
        }
        match done.is_empty() {
            true => Poll::Pending,
            false => Poll::Ready(done),
        }
    }
}

/// Set by a release's wake; passes the wake on to the peer task.
#[derive(Default)]
struct Signal {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Signal {
    fn register(&self, waker: &Waker) {
        let mut t = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if !t.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *t = Some(waker.clone());
        }
    }

    /// Whether a release woke it since the last call.
    fn take(&self) -> bool {
        self.woken.swap(false, Ordering::AcqRel)
    }
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).clone();
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

    fn burst(conn: u64, releases: Vec<Release>) -> Outgoing<()> {
        let mut burst = Outgoing::new(ConnId(conn));
        burst.releases = releases;
        burst
    }

    fn poll(held: &mut HeldBursts<()>) -> Option<Vec<(u64, bool)>> {
        let mut cx = Context::from_waker(Waker::noop());
        match held.poll_released(&mut cx) {
            Poll::Ready(done) => Some(done.iter().map(|(h, ok)| (h.conn.0, *ok)).collect()),
            Poll::Pending => None,
        }
    }

    #[test]
    fn a_pending_release_is_polled_again_only_once_it_woke() {
        let (a, b) = (gate(), gate());
        let mut held = HeldBursts::default();
        held.push(burst(1, vec![release(&a)]));
        assert_eq!(poll(&mut held), None);
        // Woken for something else (more requests): not polled again.
        assert_eq!(poll(&mut held), None);
        assert_eq!(a.polls.load(Ordering::SeqCst), 1);
        // A new burst of another connection is polled; the first one still is not.
        held.push(burst(2, vec![release(&b)]));
        assert_eq!(poll(&mut held), None);
        assert_eq!(
            (
                a.polls.load(Ordering::SeqCst),
                b.polls.load(Ordering::SeqCst)
            ),
            (1, 1)
        );
        // Its release wakes it: polled, released.
        a.ready.store(true, Ordering::SeqCst);
        a.waker.lock().unwrap().take().unwrap().wake();
        assert_eq!(poll(&mut held), Some(vec![(1, true)]));
    }

    #[test]
    fn a_connections_bursts_leave_in_order() {
        let (first, second) = (gate(), gate());
        let mut held = HeldBursts::default();
        held.push(burst(1, vec![release(&first)]));
        held.push(burst(1, vec![release(&second)]));
        held.push(burst(1, Vec::new()));
        second.ready.store(true, Ordering::SeqCst);
        // The second is ready but waits behind the first, and so does the third.
        assert_eq!(poll(&mut held), None);
        assert_eq!(second.polls.load(Ordering::SeqCst), 0);
        first.ready.store(true, Ordering::SeqCst);
        first.waker.lock().unwrap().take().unwrap().wake();
        assert_eq!(poll(&mut held), Some(vec![(1, true), (1, true), (1, true)]));
        assert!(held.is_empty());
    }
}
