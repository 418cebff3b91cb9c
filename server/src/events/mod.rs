//! Domain events and the bus contexts publish them on.
//!
//! Contexts publish `{type, user_id, community_id, data, timestamp}` events here and never call
//! each other's internals; the realtime layer (and, later, NATS bridging) subscribes. The
//! in-process [`MemoryBus`] is the single-node default; other transports implement [`EventBus`].

mod memory;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub use memory::MemoryBus;

/// One domain event, named with dots (`user.signed_in`, `photo.uploaded`, …).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub user_id: Option<String>,
    pub community_id: Option<String>,
    pub data: serde_json::Value,
    pub timestamp: DateTime<Utc>,
}

impl Event {
    pub fn new(
        kind: &str,
        user_id: Option<&str>,
        community_id: Option<&str>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            kind: kind.to_string(),
            user_id: user_id.map(str::to_string),
            community_id: community_id.map(str::to_string),
            data,
            timestamp: Utc::now(),
        }
    }
}

/// Where contexts publish. Publishing never blocks: a bus that cannot keep up drops for its
/// slowest subscribers (they see a lag), it never slows the publisher down.
pub trait EventBus: Send + Sync + 'static {
    fn publish(&self, event: Event);
    /// Every event published from now on, shared (`Arc`) so a fan-out does not copy it.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>>;
}
