//! Domain events and the bus contexts publish them on.
//!
//! Contexts publish `{type, user_id, community_id, data, timestamp}` events here and never call
//! each other's internals; the realtime layer subscribes. The
//! in-process [`MemoryBus`] is the single-node default; with several nodes [`NatsBus`] carries
//! the events, [`NatsRelay`] what hubs tell each other and [`JetStreamLog`] the topics' shared
//! log.
//!
//! Each context names its events and types their `data` in its own `events.rs` (constants, a
//! payload struct per event, constructors returning [`Event`]); subscribers decode `data` by
//! name with [`Event::data_as`]. On the bus `data` stays JSON, so another node (NATS) carries
//! the same bytes.

mod jetstream_log;
mod memory;
mod nats;
mod nats_relay;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::ids::{CommunityId, UserId};

pub use jetstream_log::JetStreamLog;
pub use memory::MemoryBus;
pub use nats::{BusError, NatsBus};
pub use nats_relay::NatsRelay;

/// One domain event, named with dots (`user.signed_in`, `photo.uploaded`, …).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub user_id: Option<UserId>,
    pub community_id: Option<CommunityId>,
    pub data: serde_json::Value,
    pub timestamp: DateTime<Utc>,
    /// Set by the bus on an event another node published (never on the wire): what only one
    /// node must do for an event is done by the node it happened on.
    #[serde(skip)]
    pub from_other_node: bool,
}

impl Event {
    pub fn new(
        kind: &str,
        user_id: Option<&UserId>,
        community_id: Option<&CommunityId>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            kind: kind.to_string(),
            user_id: user_id.cloned(),
            community_id: community_id.cloned(),
            data,
            timestamp: Utc::now(),
            from_other_node: false,
        }
    }

    /// An event whose `data` is `data`, serialised: how contexts' `events.rs` build theirs.
    pub fn typed(
        kind: &str,
        user_id: Option<&UserId>,
        community_id: Option<&CommunityId>,
        data: &impl Serialize,
    ) -> Self {
        let data = serde_json::to_value(data).unwrap_or_else(|error| {
            tracing::error!(event = kind, %error, "event data does not serialise");
            serde_json::Value::Null
        });
        Self::new(kind, user_id, community_id, data)
    }

    /// `data` read as `T`, the payload struct of this event's kind.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }
}

/// Where contexts publish. Publishing never blocks: a bus that cannot keep up drops for its
/// slowest subscribers (they see a lag), it never slows the publisher down.
pub trait EventBus: Send + Sync + 'static {
    fn publish(&self, event: Event);
    /// Every event published from now on, shared (`Arc`) so a fan-out does not copy it.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>>;
}
