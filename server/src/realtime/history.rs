//! A topic's recent publications, for recovery after a reconnect.
//!
//! Every publication gets `(epoch, offset)`: the offset increases strictly per topic, the epoch
//! names the offset sequence (a new epoch means old offsets mean nothing any more). In-memory
//! topics start a random epoch when the topic is first used on this node; topics backed by
//! storage (conversations) bring their own stable epoch and offsets; with several nodes, the
//! other topics take the shared log's sequence (`realtime::log`), which is strictly increasing
//! per topic but not contiguous.
//!
//! So what memory can serve is decided by a floor, not by counting: every publication with an
//! offset above `floor` is held. The floor rises as entries age out or when the history jumps
//! over publications it never saw.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::outbox::Frame;

/// Where a subscriber can resume from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub epoch: String,
    pub offset: u64,
}

pub struct History {
    epoch: String,
    offset: u64,
    /// Every publication after this offset is in `entries`.
    floor: u64,
    entries: VecDeque<(u64, Instant, Frame)>,
    max_entries: usize,
    max_age: Duration,
}

impl History {
    pub fn new(epoch: String, offset: u64, max_entries: usize, max_age: Duration) -> Self {
        Self {
            epoch,
            offset,
            floor: offset,
            entries: VecDeque::new(),
            max_entries,
            max_age,
        }
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The offset of the last publication kept or skipped.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The offset the next in-memory publication gets.
    pub fn next_offset(&self) -> u64 {
        self.offset + 1
    }

    /// Moves to an externally assigned position (storage-backed topics). A different epoch
    /// starts over; an offset never moves backwards.
    pub fn align(&mut self, epoch: &str, offset: u64) {
        if self.epoch != epoch {
            self.epoch = epoch.to_string();
            self.offset = offset;
            self.floor = offset;
            self.entries.clear();
        } else if offset > self.offset {
            // Publications in between happened elsewhere (another node); the gap cannot be
            // served from memory, so drop what would suggest otherwise.
            self.entries.clear();
            self.offset = offset;
            self.floor = offset;
        }
    }

    pub fn record(&mut self, offset: u64, frame: Frame) {
        self.offset = self.offset.max(offset);
        if self.max_entries == 0 {
            self.floor = self.offset;
            return;
        }
        self.entries.push_back((offset, Instant::now(), frame));
        while self.entries.len() > self.max_entries {
            self.drop_oldest();
        }
        self.prune();
    }

    fn drop_oldest(&mut self) {
        if let Some((offset, _, _)) = self.entries.pop_front() {
            self.floor = self.floor.max(offset);
        }
    }

    /// Drops entries older than the age limit.
    pub fn prune(&mut self) {
        while let Some((_, at, _)) = self.entries.front() {
            if at.elapsed() > self.max_age {
                self.drop_oldest();
            } else {
                break;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every publication still held, oldest first (what an admin's view of a topic shows).
    pub fn retained(&mut self) -> Vec<Frame> {
        self.prune();
        self.entries
            .iter()
            .map(|(_, _, frame)| frame.clone())
            .collect()
    }

    /// Every publication after `since` in order, when memory still holds all of them.
    pub fn since(&mut self, since: u64) -> Option<Vec<(u64, Frame)>> {
        self.prune();
        if since >= self.offset {
            return Some(Vec::new());
        }
        if since < self.floor {
            return None;
        }
        Some(
            self.entries
                .iter()
                .filter(|(offset, _, _)| *offset > since)
                .map(|(offset, _, frame)| (*offset, frame.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::Utf8Bytes;

    fn frame(n: u64) -> Frame {
        Frame::Text(Utf8Bytes::from(n.to_string()))
    }

    #[test]
    fn serves_the_gap_while_it_is_held() {
        let mut history = History::new("e".into(), 0, 3, Duration::from_secs(60));
        for n in 1..=5 {
            let offset = history.next_offset();
            history.record(offset, frame(n));
        }
        assert_eq!(history.offset(), 5);
        let missed = history.since(3).unwrap();
        assert_eq!(missed.iter().map(|(o, _)| *o).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(history.since(5).unwrap(), []);
        // Offsets 1 and 2 fell out of the window of three.
        assert!(history.since(1).is_none());
        assert!(history.since(2).is_some());
    }

    #[test]
    fn sparse_offsets_are_served_above_the_floor() {
        // A topic on the shared log, first seen here at log sequence 40.
        let mut history = History::new("log".into(), 40, 2, Duration::from_secs(60));
        assert_eq!(history.since(40).unwrap(), []);
        assert!(history.since(39).is_none(), "before this node saw the log");
        history.record(45, frame(45));
        history.record(52, frame(52));
        let missed = history.since(40).unwrap();
        assert_eq!(missed.iter().map(|(o, _)| *o).collect::<Vec<_>>(), [45, 52]);
        assert_eq!(history.since(47).unwrap().len(), 1);
        history.record(60, frame(60));
        // 45 fell out: what came between 40 and 45 is unknown again.
        assert!(history.since(44).is_none());
        assert_eq!(history.since(45).unwrap().len(), 2);
    }

    #[test]
    fn age_limits_the_window() {
        let mut history = History::new("e".into(), 0, 10, Duration::from_millis(0));
        history.record(1, frame(1));
        std::thread::sleep(Duration::from_millis(2));
        assert!(history.since(0).is_none());
    }

    #[test]
    fn a_new_epoch_starts_over() {
        let mut history = History::new("a".into(), 0, 10, Duration::from_secs(60));
        history.record(1, frame(1));
        history.align("b", 7);
        assert_eq!((history.epoch(), history.offset()), ("b", 7));
        assert!(history.is_empty());
    }
}
