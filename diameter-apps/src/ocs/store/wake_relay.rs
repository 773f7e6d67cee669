//! Wakes many tasks of one I/O thread with one cross-thread wake.
//!
//! Waking a task of a current-thread tokio runtime from another thread writes to that
//! runtime's eventfd, once per task. The journal's syncer makes the records of many
//! requests durable with one `fdatasync`, and woke their tasks one by one: a system call
//! per request. Instead, each node I/O thread
//! ([`on_io_thread`](diameter_core::node::on_io_thread)) that waits gets a relay task. The
//! syncer puts the wakers of that thread in the relay's inbox and wakes the relay once; the
//! relay, polled on its thread, wakes them there, which only queues them.
//!
//! Off the I/O threads (a multi-threaded runtime, a blocking thread) there is no relay and
//! wakers are woken directly. If a relay's runtime shuts down, the relay wakes what it
//! still holds and every later waker directly. When the journal goes, its relay tasks end.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;

/// The relays of one waker source (a journal), by thread.
#[derive(Default)]
pub(crate) struct Relays(Mutex<HashMap<ThreadId, Arc<Relay>>>);

/// One thread's relay: the wakers handed to it, and its task's own waker.
#[derive(Default)]
pub(crate) struct Relay(Mutex<Inbox>);

#[derive(Default)]
struct Inbox {
    wakers: Vec<Waker>,
    /// The relay task's waker (from its last poll).
    task: Option<Waker>,
    /// The task was woken and has not run since: one wake is enough.
    woken: bool,
    /// The task is gone (its runtime shut down): wake directly.
    ended: bool,
    /// How many times the task ran.
    #[cfg(test)]
    runs: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Relays {
    /// The calling thread's relay if it is a node I/O thread (the relay is spawned on it on
    /// first use), else `None`; `None` too for the node's held answers, whose waker sends
    /// them from the thread that wakes it
    /// ([`polling_held_releases`](diameter_core::node::polling_held_releases)).
    pub(crate) fn here(self: &Arc<Self>) -> Option<Arc<Relay>> {
        if !diameter_core::node::on_io_thread() || diameter_core::node::polling_held_releases() {
            return None;
        }
        Some(self.spawn_here())
    }

    /// The calling thread's relay, spawned on the current runtime on first use. The caller
    /// knows that this thread drives a current-thread runtime.
    fn spawn_here(self: &Arc<Self>) -> Arc<Relay> {
        let thread = std::thread::current().id();
        let mut map = lock(&self.0);
        if let Some(relay) = map.get(&thread) {
            return relay.clone();
        }
        let relay = Arc::new(Relay::default());
        map.insert(thread, relay.clone());
        drop(map);
        tokio::spawn(RelayTask {
            relays: Arc::downgrade(self),
            relay: relay.clone(),
            thread,
        });
        relay
    }
}

impl Drop for Relays {
    /// Ends the relays (their waker source is gone); each task is woken to finish.
    fn drop(&mut self) {
        let relays: Vec<Arc<Relay>> = lock(&self.0).drain().map(|(_, r)| r).collect();
        for relay in relays {
            let (task, left) = relay.end();
            left.into_iter().chain(task).for_each(Waker::wake);
        }
    }
}

/// Wakes `wakers`: those with a relay through it (one wake per relay), the others directly.
pub(crate) fn wake_all(wakers: impl IntoIterator<Item = (Waker, Option<Arc<Relay>>)>) {
    // Few threads: a short list, compared by address.
    let mut batches: Vec<(Arc<Relay>, Vec<Waker>)> = Vec::new();
    for (waker, relay) in wakers {
        match relay {
            None => waker.wake(),
            Some(relay) => match batches.iter_mut().find(|(r, _)| Arc::ptr_eq(r, &relay)) {
                Some((_, batch)) => batch.push(waker),
                None => batches.push((relay, vec![waker])),
            },
        }
    }
    for (relay, batch) in batches {
        relay.hand_over(batch);
    }
}

impl Relay {
    /// Marks the relay ended (later wakers are woken directly); returns its task's waker
    /// and the wakers it still held.
    fn end(&self) -> (Option<Waker>, Vec<Waker>) {
        let mut inbox = lock(&self.0);
        inbox.ended = true;
        (inbox.task.take(), std::mem::take(&mut inbox.wakers))
    }

    /// Queues `wakers` for the relay task, waking it unless already woken.
    fn hand_over(&self, mut wakers: Vec<Waker>) {
        let task = {
            let mut inbox = lock(&self.0);
            if inbox.ended {
                drop(inbox);
                wakers.into_iter().for_each(Waker::wake);
                return;
            }
            if inbox.wakers.is_empty() {
                std::mem::swap(&mut inbox.wakers, &mut wakers);
            } else {
                inbox.wakers.append(&mut wakers);
            }
            match inbox.woken {
                true => None,
                false => {
                    inbox.woken = true;
                    inbox.task.clone()
                }
            }
        };
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// The task that wakes its thread's wakers on that thread; it runs until its runtime ends.
struct RelayTask {
    relays: Weak<Relays>,
    relay: Arc<Relay>,
    thread: ThreadId,
}

impl Future for RelayTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let wakers = {
            let mut inbox = lock(&self.relay.0);
            if inbox.ended {
                return Poll::Ready(()); // the journal is gone
            }
            inbox.woken = false;
            #[cfg(test)]
            {
                inbox.runs += 1;
            }
            if !inbox.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                inbox.task = Some(cx.waker().clone());
            }
            std::mem::take(&mut inbox.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
        Poll::Pending
    }
}

impl Drop for RelayTask {
    fn drop(&mut self) {
        let (_, left) = self.relay.end();
        left.into_iter().for_each(Waker::wake);
        if let Some(relays) = self.relays.upgrade() {
            let mut map = lock(&relays.0);
            if map
                .get(&self.thread)
                .is_some_and(|r| Arc::ptr_eq(r, &self.relay))
            {
                map.remove(&self.thread);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// A waker that counts its wakes.
    struct Counter {
        wakes: AtomicUsize,
    }

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let c = Arc::new(Counter {
            wakes: AtomicUsize::new(0),
        });
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn wakers_without_a_relay_are_woken_directly() {
        let (c, w) = counter();
        wake_all([(w.clone(), None), (w, None)]);
        assert_eq!(c.wakes.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_batch_wakes_its_relay_once_and_the_relay_wakes_every_waker_on_its_thread() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let relays = Arc::new(Relays::default());
        let (relay, runtime_thread) = rt.block_on(async {
            let relay = relays.spawn_here();
            // Let the relay task run once, so that it has a waker to be woken by.
            tokio::task::yield_now().await;
            (relay, std::thread::current().id())
        });
        assert!(Arc::ptr_eq(
            &relay,
            &rt.block_on(async { relays.spawn_here() })
        ));

        // Three tasks wait on the runtime; another thread wakes them as one batch.
        let woken_on = Arc::new(Mutex::new(Vec::new()));
        let batch: Arc<Mutex<Vec<Waker>>> = Arc::default();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let batch = batch.clone();
                let woken_on = woken_on.clone();
                let mut registered = false;
                std::future::poll_fn(move |cx| {
                    if registered {
                        lock(&woken_on).push(std::thread::current().id());
                        return Poll::Ready(());
                    }
                    registered = true;
                    lock(&batch).push(cx.waker().clone());
                    Poll::Pending
                })
            })
            .collect();
        rt.block_on(async {
            let handles: Vec<_> = tasks.into_iter().map(tokio::spawn).collect();
            while lock(&batch).len() < 3 {
                tokio::task::yield_now().await;
            }
            let wakers: Vec<_> = std::mem::take(&mut *lock(&batch));
            let relay = relay.clone();
            std::thread::spawn(move || {
                wake_all(wakers.into_iter().map(|w| (w, Some(relay.clone()))));
            })
            .join()
            .unwrap();
            for h in handles {
                h.await.unwrap();
            }
        });
        assert_eq!(*lock(&woken_on), vec![runtime_thread; 3]);
        // Its first run, then one for the whole batch.
        assert_eq!(lock(&relay.0).runs, 2);
        assert!(lock(&relay.0).wakers.is_empty());

        // The journal goes first: its relay task ends, and the runtime lives on.
        let other = Arc::new(Relays::default());
        let ended = rt.block_on(async {
            let relay = other.spawn_here();
            tokio::task::yield_now().await;
            drop(other);
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            relay
        });
        // The task ran to its end and was dropped with its reference to the relay.
        assert_eq!(Arc::strong_count(&ended), 1);
        assert!(lock(&ended.0).ended);

        // The runtime ends: its relay is gone from the map, later wakers go direct.
        drop(rt);
        assert!(lock(&relays.0).is_empty());
        let (c, w) = counter();
        wake_all([(w, Some(relay))]);
        assert_eq!(c.wakes.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn off_an_io_thread_there_is_no_relay() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let relays = Arc::new(Relays::default());
        assert!(rt.block_on(async { relays.here() }).is_none());
    }
}
