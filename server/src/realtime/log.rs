//! The shared topic log: with several nodes, publications on the topics that are not backed by
//! a context's storage (`user:`, `community:`, `system:alerts`) are appended to one durable,
//! ordered log (JetStream, `events::JetStreamLog`) instead of being numbered by each node. Every
//! node, the appending one included, delivers them from the log in the log's order, with the
//! log's sequence as the offset: offsets agree across nodes, survive a node restart, and a
//! client recovers with `since` on any node — from the node's memory when it holds the gap,
//! else from the log itself.
//!
//! Alone, a node has no log and numbers these topics in memory as before.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::history::Position;

/// The hub key under which an instance-wide alert is logged: it reaches every community's
/// `system:alerts` key ([`super::Topic::alerts_key`]) on every node, with one offset.
pub const ALL_ALERTS_KEY: &str = super::Topic::SYSTEM_ALERTS;

/// One publication as the log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Logged {
    /// The hub key (a topic, or a community's alerts key, or [`ALL_ALERTS_KEY`]).
    pub key: String,
    /// The topic name the frame carries.
    pub topic: String,
    pub event: String,
    pub payload: Map<String, Value>,
    /// Names a publication every node makes (an instance-wide alert each node's relay
    /// announces): the log keeps the first of those with one name (JetStream's de-duplication).
    #[serde(skip)]
    pub once: Option<String>,
}

impl Logged {
    pub fn new(key: &str, topic: &str, event: &str, payload: Map<String, Value>) -> Self {
        Self {
            key: key.to_owned(),
            topic: topic.to_owned(),
            event: event.to_owned(),
            payload,
            once: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("the topic log did not store the publication: {0}")]
    Append(String),
}

/// Where the hub appends and reads back logged publications. Appended entries come back to
/// every node's hub through [`super::Hub::apply_logged`].
pub trait TopicLog: Send + Sync + 'static {
    /// Names the log's sequence: it changes only if the log is recreated.
    fn epoch(&self) -> &str;
    /// Appends without waiting (bridge publications); order is kept per node.
    fn append(&self, entry: Logged);
    /// Appends and resolves once the log has stored it, to its position.
    fn append_acked(&self, entry: Logged) -> BoxFuture<'static, Result<Position, LogError>>;
    /// The entries of `key` with sequences in `(after, up_to]`, oldest first; `None` when
    /// the log cannot say (it no longer holds all of them, more than `limit`, or it is
    /// unreachable).
    fn read(
        &self,
        key: &str,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> BoxFuture<'static, Option<Vec<(u64, Logged)>>>;
}
