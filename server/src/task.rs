//! Running work on the caller's task until it would wait, and on a task of its own after.
//!
//! A new tokio task waits in the runtime's queue behind every task ready before it; with
//! thousands of busy sockets on two cores that wait is much of a message's latency
//! (docs/performance.md). Work that often finishes without waiting, or whose first steps are
//! what a client waits for, runs those steps here instead.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::task::{Context, Poll, Waker};

use tokio::task::AbortHandle;

/// Polls `work` once here; if it would wait, spawns it and returns a handle to abort it.
pub fn run_or_spawn(work: impl Future<Output = ()> + Send + 'static) -> Option<AbortHandle> {
    let mut work = Box::pin(work);
    let polled = panic::catch_unwind(AssertUnwindSafe(|| {
        work.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }));
    match polled {
        Ok(Poll::Ready(())) => None,
        // The task polls it again first, which leaves its own waker wherever the work waits.
        Ok(Poll::Pending) => Some(tokio::spawn(work).abort_handle()),
        // As when a task panics: the work is dropped (the panic hook has reported it) and the
        // caller goes on.
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn work_that_does_not_wait_ends_here_and_work_that_waits_goes_on_in_a_task() {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        assert!(run_or_spawn(async move { flag.store(true, Ordering::SeqCst) }).is_none());
        assert!(done.load(Ordering::SeqCst), "ran before returning");

        // Waiting on a channel: polled here with a waker that does nothing, then by the task,
        // which must be the one woken when the value comes.
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let (out_tx, out_rx) = tokio::sync::oneshot::channel::<u32>();
        let started = Arc::new(AtomicBool::new(false));
        let flag = started.clone();
        let handle = run_or_spawn(async move {
            flag.store(true, Ordering::SeqCst);
            let value = rx.await.expect("value");
            out_tx.send(value + 1).expect("out");
        });
        assert!(handle.is_some());
        assert!(started.load(Ordering::SeqCst), "its first steps ran here");
        tokio::task::yield_now().await;
        tx.send(41).expect("send");
        assert_eq!(out_rx.await.expect("result"), 42);

        // A spawned piece of work can be aborted through the handle.
        let (_keep, never) = tokio::sync::oneshot::channel::<()>();
        let handle = run_or_spawn(async move {
            let _ = never.await;
        })
        .expect("waits");
        handle.abort();
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert!(handle.is_finished());
    }

    /// As a task's panic ends only that task, a panic here ends only the work: what it held
    /// is dropped, and the caller goes on.
    #[tokio::test]
    async fn a_panic_ends_the_work_not_the_caller() {
        struct Dropped(Arc<AtomicBool>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let held = Dropped(dropped.clone());
        let handle = run_or_spawn(async move {
            let _held = held;
            panic!("a bug in the work");
        });
        assert!(handle.is_none());
        assert!(dropped.load(Ordering::SeqCst));
    }
}
