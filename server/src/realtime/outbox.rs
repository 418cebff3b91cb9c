//! A connection's outbox: three priority lanes bounded together in bytes, drained by the
//! connection's single writer task.
//!
//! Producers (broadcasts, replies) never wait: `push` either queues the frame or reports the
//! outbox full, and the caller disconnects the slow consumer. The writer always takes the
//! highest-priority lane first, so a heartbeat reply or a chat message never waits behind bulk
//! binary frames already queued.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Priority of a queued frame; lower drains first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Heartbeat and join/leave replies, `phx_close`.
    Control = 0,
    /// Chat, presence, pushes and broadcasts.
    Realtime = 1,
    /// Bulk binary transfers.
    Bulk = 2,
}

/// An encoded frame. Cloning shares the bytes, so a broadcast is encoded once for everyone.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Frame {
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why and how the connection is being closed.
#[derive(Clone, Debug, PartialEq)]
pub struct Closing {
    pub code: u16,
    pub reason: String,
}

#[derive(Debug, PartialEq)]
pub enum PushError {
    /// Accepting the frame would exceed the byte budget: the reader is too slow.
    Full,
    /// The connection is closing; the frame is dropped.
    Closed,
}

/// What the writer should do next.
#[derive(Debug, PartialEq)]
pub enum Next {
    Send(Frame),
    Close(Closing),
}

struct State {
    lanes: [VecDeque<Frame>; 3],
    bytes: usize,
    closing: Option<Closing>,
}

pub struct Outbox {
    state: Mutex<State>,
    wake: Notify,
    limit: usize,
}

impl Outbox {
    pub fn new(limit_bytes: usize) -> Self {
        Self {
            state: Mutex::new(State {
                lanes: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
                bytes: 0,
                closing: None,
            }),
            wake: Notify::new(),
            limit: limit_bytes,
        }
    }

    pub fn push(&self, lane: Lane, frame: Frame) -> Result<(), PushError> {
        {
            let mut state = self.state.lock().expect("outbox lock");
            if state.closing.is_some() {
                return Err(PushError::Closed);
            }
            if state.bytes + frame.len() > self.limit {
                return Err(PushError::Full);
            }
            state.bytes += frame.len();
            let queue = &mut state.lanes[lane as usize];
            if queue.capacity() == 0 {
                // One slot, not the four a first push makes room for: most sockets only ever
                // queue a frame or two per lane before the writer takes them, and the queue
                // keeps its size (160 bytes a lane on every idle socket, DHAT). Freeing it
                // when the writer goes idle instead cost a fan-out ~8 % (an allocation per
                // subscriber per broadcast).
                queue.reserve_exact(1);
            }
            queue.push_back(frame);
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Closes after the frames already queued have been written (a graceful close:
    /// `phx_close` frames queued just before reach the client).
    pub fn close_after_queued(&self, code: u16, reason: &str) {
        self.begin_close(code, reason, false);
    }

    /// Drops whatever is queued and closes at once (slow consumer, abuse).
    pub fn close_now(&self, code: u16, reason: &str) {
        self.begin_close(code, reason, true);
    }

    fn begin_close(&self, code: u16, reason: &str, drop_queued: bool) {
        {
            let mut state = self.state.lock().expect("outbox lock");
            if state.closing.is_some() {
                return;
            }
            if drop_queued {
                state.lanes.iter_mut().for_each(VecDeque::clear);
                state.bytes = 0;
            }
            state.closing = Some(Closing {
                code,
                reason: reason.to_string(),
            });
        }
        self.wake.notify_one();
    }

    pub fn is_closing(&self) -> bool {
        self.state.lock().expect("outbox lock").closing.is_some()
    }

    /// Bytes currently queued.
    pub fn queued_bytes(&self) -> usize {
        self.state.lock().expect("outbox lock").bytes
    }

    /// The next queued frame by priority without waiting (lets the writer batch a flush).
    pub fn try_next(&self) -> Option<Frame> {
        let mut state = self.state.lock().expect("outbox lock");
        let frame = state.lanes.iter_mut().find_map(VecDeque::pop_front)?;
        state.bytes -= frame.len();
        Some(frame)
    }

    /// The next frame by priority, or the close once the queue is empty. Single consumer.
    pub async fn next(&self) -> Next {
        loop {
            {
                let mut state = self.state.lock().expect("outbox lock");
                let popped = state.lanes.iter_mut().find_map(VecDeque::pop_front);
                if let Some(frame) = popped {
                    state.bytes -= frame.len();
                    return Next::Send(frame);
                }
                if let Some(closing) = &state.closing {
                    return Next::Close(closing.clone());
                }
            }
            // notify_one stores a permit when nobody waits, so a push between the check
            // above and this await is not lost.
            self.wake.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Frame {
        Frame::Text(Utf8Bytes::from(s))
    }

    #[tokio::test]
    async fn control_overtakes_realtime_which_overtakes_bulk() {
        let outbox = Outbox::new(1024);
        outbox
            .push(Lane::Bulk, Frame::Binary(Bytes::from_static(b"bulk")))
            .unwrap();
        outbox.push(Lane::Realtime, text("chat")).unwrap();
        outbox.push(Lane::Control, text("heartbeat")).unwrap();
        assert_eq!(outbox.next().await, Next::Send(text("heartbeat")));
        assert_eq!(outbox.next().await, Next::Send(text("chat")));
        assert_eq!(
            outbox.next().await,
            Next::Send(Frame::Binary(Bytes::from_static(b"bulk")))
        );
    }

    #[tokio::test]
    async fn the_byte_budget_is_enforced_and_freed_by_the_writer() {
        let outbox = Outbox::new(10);
        outbox.push(Lane::Realtime, text("123456")).unwrap();
        assert_eq!(
            outbox.push(Lane::Realtime, text("123456")),
            Err(PushError::Full)
        );
        assert_eq!(outbox.queued_bytes(), 6);
        outbox.next().await;
        assert_eq!(outbox.queued_bytes(), 0);
        outbox.push(Lane::Realtime, text("123456")).unwrap();
    }

    #[tokio::test]
    async fn graceful_close_drains_first_and_hard_close_drops() {
        let outbox = Outbox::new(100);
        outbox.push(Lane::Control, text("phx_close")).unwrap();
        outbox.close_after_queued(4403, "session ended");
        assert_eq!(
            outbox.push(Lane::Control, text("late")),
            Err(PushError::Closed)
        );
        assert_eq!(outbox.next().await, Next::Send(text("phx_close")));
        assert!(matches!(outbox.next().await, Next::Close(c) if c.code == 4403));

        let outbox = Outbox::new(100);
        outbox.push(Lane::Realtime, text("queued")).unwrap();
        outbox.close_now(4508, "slow consumer");
        assert!(matches!(outbox.next().await, Next::Close(c) if c.code == 4508));
    }

    #[tokio::test]
    async fn a_lane_makes_room_for_one_frame_first() {
        let outbox = Outbox::new(1024);
        let capacity = |outbox: &Outbox| -> usize {
            let state = outbox.state.lock().unwrap();
            state.lanes.iter().map(VecDeque::capacity).sum()
        };
        assert_eq!(capacity(&outbox), 0);
        outbox.push(Lane::Realtime, text("x")).unwrap();
        assert_eq!(capacity(&outbox), 1);
        for _ in 0..8 {
            outbox.push(Lane::Realtime, text("x")).unwrap();
        }
        assert!(capacity(&outbox) >= 9);
        assert_eq!(outbox.next().await, Next::Send(text("x")));
    }

    #[tokio::test]
    async fn the_writer_wakes_on_push() {
        let outbox = std::sync::Arc::new(Outbox::new(100));
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.next().await })
        };
        tokio::task::yield_now().await;
        outbox.push(Lane::Realtime, text("x")).unwrap();
        assert_eq!(writer.await.unwrap(), Next::Send(text("x")));
    }
}
