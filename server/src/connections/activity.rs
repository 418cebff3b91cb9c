//! Keep-alive idleness of one HTTP connection.
//!
//! hyper 1.12's `header_read_timeout` starts its timer whenever the connection waits for a
//! request head: when it opens and again each time a response has been written (`State::idle`
//! sets `notify_read`, and `poll_read_head` arms the timer before the first byte arrives). So
//! it already bounds the idle wait between keep-alive requests together with the time the next
//! head takes to arrive. A shorter idle limit is kept here: a connection becomes idle when its
//! last response body is done with, stops being idle as soon as a byte arrives, and the
//! connection task closes it gracefully once it has been idle for `http.keep_alive_idle_seconds`.
//! A connection that never sent a request is left to the header-read timeout.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// One connection's requests in flight and when it last became idle.
///
/// Every method is called from the connection's own task (hyper polls the service, the bodies
/// and the stream there), so relaxed atomics suffice; they are atomics only because the state
/// is shared through an `Arc` with the stream and the response bodies.
pub struct Activity {
    opened: Instant,
    /// Requests whose response body has not been finished with yet.
    in_flight: AtomicU32,
    /// Milliseconds from `opened` to the moment the connection became idle, rounded up (so
    /// never 0 and never early); 0 while it is not idle (never had a request, a request in
    /// flight, or bytes arrived since).
    idle_since: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicU32::new(0),
            idle_since: AtomicU64::new(0),
        }
    }
}

impl Activity {
    /// The client sent something: the start of a request, or more of one.
    pub fn bytes_received(&self) {
        if self.idle_since.load(Ordering::Relaxed) != 0 {
            self.idle_since.store(0, Ordering::Relaxed);
        }
    }

    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.idle_since.store(0, Ordering::Relaxed);
    }

    /// The response's body is done with (written, or dropped with the request).
    pub fn response_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            let since = self.opened.elapsed().as_millis() as u64 + 1;
            self.idle_since.store(since, Ordering::Relaxed);
        }
    }

    /// When the current idle period started, if the connection is idle.
    fn idle_since(&self) -> Option<u64> {
        match self.idle_since.load(Ordering::Relaxed) {
            0 => None,
            since => Some(since),
        }
    }

    /// Resolves once the connection has been idle for `limit` without interruption. While it
    /// is busy this wakes once per `limit` to look again.
    pub async fn idle_for(&self, limit: Duration) {
        loop {
            match self.idle_since() {
                Some(since) => {
                    let deadline = self.opened + Duration::from_millis(since) + limit;
                    tokio::time::sleep_until(deadline).await;
                    if self.idle_since() == Some(since) {
                        return;
                    }
                }
                None => tokio::time::sleep(limit).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real time (the workspace builds tokio without `test-util`): assertions that something
    // does not happen are exact, those that it does allow a loaded machine plenty of slack.
    const LIMIT: Duration = Duration::from_millis(100);
    const NOT_WITHIN: Duration = Duration::from_millis(300);
    const SLACK: Duration = Duration::from_secs(5);

    async fn idle_within(activity: &Activity, wait: Duration) -> bool {
        tokio::time::timeout(wait, activity.idle_for(LIMIT))
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_fresh_connection_is_not_idle() {
        let activity = Activity::default();
        assert!(!idle_within(&activity, NOT_WITHIN).await);
    }

    #[tokio::test]
    async fn idle_after_the_response_for_the_limit() {
        let activity = Activity::default();
        activity.request_started();
        assert!(!idle_within(&activity, NOT_WITHIN).await, "busy");
        activity.response_finished();
        let start = Instant::now();
        assert!(idle_within(&activity, SLACK).await);
        assert!(start.elapsed() >= LIMIT, "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn a_byte_or_a_new_request_ends_the_idle_period() {
        let activity = Activity::default();
        activity.request_started();
        activity.response_finished();
        activity.bytes_received();
        assert!(!idle_within(&activity, NOT_WITHIN).await);
        // Two requests pipelined: idle only once both are answered.
        activity.request_started();
        activity.request_started();
        activity.response_finished();
        assert!(!idle_within(&activity, NOT_WITHIN).await);
        activity.response_finished();
        let start = Instant::now();
        assert!(idle_within(&activity, SLACK).await);
        assert!(start.elapsed() >= LIMIT);
    }
}
