//! What one node tells the others directly, at most once: what a client pushes straight to a
//! topic and is not kept (typing, binary broadcasts), presence changes and heartbeats, and which
//! users it has connected. Publications that follow a bus event (a stored message) need no relay:
//! every node's bridge sees the event; publications kept for recovery on the other topics go
//! through the shared log (`log.rs`). With several nodes the hub hands these to a [`Relay`]
//! (NATS, set at start); a relayed publication is delivered to the local subscribers only, never
//! relayed again. Alone, a node has no relay and nothing changes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::remote_presence::{OnlineUser, Snapshot};
use crate::ids::UserId;

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
    /// A `presence_diff` of the sending node's devices on `topic`.
    PresenceDiff { topic: String, diff: Value },
    /// Every presence and connected user the sending node holds (its heartbeat).
    PresenceSnapshot {
        topics: Snapshot,
        #[serde(default)]
        users: Vec<OnlineUser>,
    },
    /// A user's first device connected to the sending node.
    UserArrived { user: OnlineUser },
    /// A user's last device left the sending node, at its clock (µs since the Unix epoch).
    UserLeft { user_id: UserId, at_micros: i64 },
}

/// Carries [`Relayed`] publications to the other nodes.
pub trait Relay: Send + Sync + 'static {
    fn forward(&self, relayed: Relayed);
    /// This node's name among the others.
    fn node(&self) -> &str;
}
