//! Thread per core: a node's connections spread over single-threaded runtimes, one per
//! thread ([`NodeBuilder::io_threads`](super::NodeBuilder::io_threads)).
//!
//! A connection's reader, writer and peer task then run on one thread: a request is read,
//! answered and written without waking another thread, and no worker steals tasks from
//! another. On a multi-threaded runtime the same hand-offs cross threads, which on a busy
//! machine costs more than the answer itself.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

thread_local! {
    /// Set on a shard's thread: what it spawns stays on it.
    static ON_SHARD: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is one of a node's I/O threads
/// ([`NodeBuilder::io_threads`](super::NodeBuilder::io_threads)): it drives a current-thread
/// runtime, so a task it spawns runs on it, and a task it wakes is only queued, with no
/// system call (a wake from another thread writes to the runtime's eventfd).
pub fn on_io_thread() -> bool {
    ON_SHARD.with(Cell::get)
}

/// Blocking threads (`spawn_blocking`) of all shards together: tokio's default for one
/// runtime.
const BLOCKING_THREADS: usize = 512;

/// Called on an I/O thread about to wait for work
/// ([`NodeBuilder::on_io_idle`](super::NodeBuilder::on_io_idle)).
pub(crate) type IdleHook = std::sync::Arc<dyn Fn() + Send + Sync>;

/// The shard threads of a node, each running a current-thread runtime until stopped.
pub(crate) struct Shards {
    handles: Vec<Handle>,
    next: AtomicUsize,
    /// Dropping a sender ends its thread (and its runtime's tasks).
    stops: Mutex<Vec<oneshot::Sender<()>>>,
}

impl Shards {
    /// Starts `n` threads (at least one), named `diameter-io-N`, each calling `idle` (if
    /// any) before it waits for work. Their runtimes share tokio's default bound on
    /// blocking threads (512) between them, at least 8 each.
    pub(crate) fn start(n: usize, idle: Option<IdleHook>) -> std::io::Result<Shards> {
        let n = n.max(1);
        let mut handles = Vec::new();
        let mut stops = Vec::new();
        for i in 0..n {
            let mut builder = tokio::runtime::Builder::new_current_thread();
            builder
                .enable_all()
                .max_blocking_threads((BLOCKING_THREADS / n).max(8));
            if let Some(hook) = idle.clone() {
                builder.on_thread_park(move || hook());
            }
            let rt = builder.build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            handles.push(rt.handle().clone());
            stops.push(stop);
            std::thread::Builder::new()
                .name(format!("diameter-io-{i}"))
                .spawn(move || {
                    ON_SHARD.with(|s| s.set(true));
                    rt.block_on(async {
                        let _ = stopped.await;
                    });
                    // Dropping the runtime drops every task still on it.
                })?;
        }
        Ok(Shards {
            handles,
            next: AtomicUsize::new(0),
            stops: Mutex::new(stops),
        })
    }

    /// Spawns `fut` on the calling thread's shard, or on the next shard in turn when the
    /// caller is not on one.
    pub(crate) fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if on_io_thread() {
            return tokio::spawn(fut);
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles[i].spawn(fut)
    }

    /// Ends every shard thread; the tasks on them are dropped.
    pub(crate) fn stop(&self) {
        self.stops.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_go_round_the_shards_and_stay_on_their_thread() {
        let shards = std::sync::Arc::new(Shards::start(2, None).unwrap());
        let mut names = Vec::new();
        for _ in 0..4 {
            let inner = shards.clone();
            let (outer, nested) = shards
                .spawn(async move {
                    let outer = std::thread::current().name().map(str::to_owned);
                    // Spawned from a shard: the same thread.
                    let nested = inner
                        .spawn(async { std::thread::current().name().map(str::to_owned) })
                        .await
                        .unwrap();
                    (outer, nested)
                })
                .await
                .unwrap();
            assert_eq!(outer, nested);
            names.push(outer.unwrap());
        }
        assert_eq!(
            names,
            [
                "diameter-io-0",
                "diameter-io-1",
                "diameter-io-0",
                "diameter-io-1"
            ]
        );
        // Stopped: a task left on a shard is dropped with its runtime.
        let (tx, rx) = oneshot::channel::<()>();
        shards.spawn(async move {
            std::future::pending::<()>().await;
            drop(tx);
        });
        shards.stop();
        assert!(rx.await.is_err());
    }
}
