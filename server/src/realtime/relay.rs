//! Publications made on one node that other nodes must deliver too: what a client pushes
//! straight to a topic (typing, binary broadcasts, an admin's community alert). Publications
//! that follow a bus event (a stored message, a processed photo) need no relay: every node's
//! bridge sees the event. With several nodes the hub hands these to a [`Relay`] (NATS, set at
//! start); a relayed publication is delivered to the local subscribers only, never relayed again.
//! Alone, a node has no relay and nothing changes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::remote_presence::Snapshot;

/// One publication for the other nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Relayed {
    /// Not kept for recovery (typing).
    Ephemeral {
        topic: String,
        event: String,
        payload: Value,
    },
    /// A Phoenix binary broadcast; `data` in base64.
    Binary {
        topic: String,
        event: String,
        data: String,
    },
    /// Kept for recovery under `key`, numbered by each node (`Sequence::Next`).
    Publish {
        key: String,
        topic: String,
        event: String,
        payload: Map<String, Value>,
    },
    /// A `presence_diff` of the sending node's devices on `topic`.
    PresenceDiff { topic: String, diff: Value },
    /// Every presence the sending node holds (its heartbeat).
    PresenceSnapshot { topics: Snapshot },
}

/// Carries [`Relayed`] publications to the other nodes.
pub trait Relay: Send + Sync + 'static {
    fn forward(&self, relayed: Relayed);
}
