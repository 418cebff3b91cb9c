//! Presence diffs coalesced per topic: joins and leaves of this node's devices wait up to
//! `realtime.presence_diff_window_ms` and leave as one `presence_diff`, so N devices joining
//! one conversation cost about N frames per window instead of N² in all. A device that joins
//! and leaves within the window is in neither side. Each change gets a number; a subscriber
//! that was sent `presence_state` after the last change of a batch already has all of it and
//! is skipped.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use serde_json::{json, Map, Value};

use super::presence::Meta;
use crate::ids::UserId;

#[derive(Default)]
pub struct PresenceBatches {
    topics: DashMap<String, Batch>,
    /// Numbers the changes, from 1.
    changes: AtomicU64,
}

#[derive(Default)]
struct Batch {
    joins: Vec<(UserId, Meta)>,
    leaves: Vec<(UserId, Meta)>,
    last_change: u64,
}

/// A batch ready to send.
pub struct Ready {
    pub diff: Value,
    /// Subscribers sent `presence_state` at or after this change have it all.
    pub last_change: u64,
}

impl PresenceBatches {
    /// The number of the last change: a `presence_state` computed after reading it holds
    /// every change numbered up to it.
    pub fn current(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Adds a join; `true` when it opened the topic's batch (the caller sends it after the
    /// window).
    pub fn join(&self, topic: &str, user: &UserId, meta: Meta) -> bool {
        self.change(topic, |batch| batch.joins.push((user.clone(), meta)))
    }

    /// Adds a leave; a join of the same device still waiting is taken back instead.
    pub fn leave(&self, topic: &str, user: &UserId, meta: Meta) -> bool {
        self.change(topic, |batch| {
            match batch
                .joins
                .iter()
                .position(|(_, m)| m.phx_ref == meta.phx_ref)
            {
                Some(i) => {
                    batch.joins.swap_remove(i);
                }
                None => batch.leaves.push((user.clone(), meta)),
            }
        })
    }

    fn change(&self, topic: &str, apply: impl FnOnce(&mut Batch)) -> bool {
        let mut opened = false;
        let mut batch = self.topics.entry(topic.to_owned()).or_insert_with(|| {
            opened = true;
            Batch::default()
        });
        apply(&mut batch);
        // Numbered under the topic's entry lock, after the change to presences it follows.
        batch.last_change = self.changes.fetch_add(1, Ordering::AcqRel) + 1;
        opened
    }

    /// Takes the topic's batch; `None` when nothing is left to say.
    pub fn take(&self, topic: &str) -> Option<Ready> {
        let (_, batch) = self.topics.remove(topic)?;
        if batch.joins.is_empty() && batch.leaves.is_empty() {
            return None;
        }
        let side = |changes: Vec<(UserId, Meta)>| {
            let mut users = Map::new();
            for (user, meta) in changes {
                let entry = users
                    .entry(user.to_string())
                    .or_insert_with(|| json!({ "metas": [] }));
                if let Some(metas) = entry["metas"].as_array_mut() {
                    metas.push(meta.to_json());
                }
            }
            Value::Object(users)
        };
        Some(Ready {
            diff: json!({ "joins": side(batch.joins), "leaves": side(batch.leaves) }),
            last_change: batch.last_change,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(conn: u64) -> Meta {
        Meta {
            phx_ref: 0xa0 + conn,
            conn_id: conn,
            online_at: 1_700_000_000,
            device: None,
        }
    }

    #[test]
    fn joins_and_leaves_of_a_window_leave_as_one_diff() {
        let batches = PresenceBatches::default();
        let (u1, u2) = (UserId::from("u1"), UserId::from("u2"));
        assert!(batches.join("t", &u1, meta(1)));
        assert!(!batches.join("t", &u1, meta(2)));
        assert!(!batches.join("t", &u2, meta(3)));
        assert!(!batches.leave("t", &u2, meta(4)));
        let ready = batches.take("t").unwrap();
        assert_eq!(ready.last_change, 4);
        assert_eq!(batches.current(), 4);
        let joins = &ready.diff["joins"];
        assert_eq!(joins["u1"]["metas"].as_array().unwrap().len(), 2);
        assert_eq!(joins["u2"]["metas"][0]["phx_ref"], "a3");
        assert_eq!(ready.diff["leaves"]["u2"]["metas"][0]["phx_ref"], "a4");
        assert!(batches.take("t").is_none());
    }

    #[test]
    fn a_device_that_comes_and_goes_within_the_window_is_not_mentioned() {
        let batches = PresenceBatches::default();
        let u1 = UserId::from("u1");
        assert!(batches.join("t", &u1, meta(1)));
        batches.leave("t", &u1, meta(1));
        assert!(batches.take("t").is_none());
        // The next change opens a new batch.
        assert!(batches.join("t", &u1, meta(2)));
    }
}
