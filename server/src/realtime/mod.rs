//! The realtime core: connections, topics (and their names), outboxes, presence and recovery
//! history; with several nodes, what the hub tells the others (`relay`, `remote_presence`) and
//! the shared topic log it numbers its memory-backed topics by (`log`).
//!
//! Knows nothing of contexts: the socket layer (`crate::socket`) authorises joins and turns
//! domain events into publications; contexts never touch the hub's maps. The hub publishes
//! its own `user.online` / `user.offline` events ([`events`]).

pub mod events;
mod history;
mod hub;
mod log;
mod outbox;
mod presence;
mod presence_batch;
mod presence_summary;
mod relay;
mod remote_presence;
mod stats;
mod topic;

pub use history::Position;
pub use hub::{
    BroadcastError, Commands, Conn, ConnCommand, ConnId, Gap, Hub, Refusal, Registration, Sequence,
    Subscribed, Subscriber,
};
pub use log::{LogError, Logged, TopicLog, ALL_ALERTS_KEY};
pub use outbox::{Closing, Frame, Lane, Next, Outbox, PushError};
pub use relay::{Relay, Relayed};
pub use remote_presence::OnlineUser;
pub use stats::HubCounts;
pub use topic::{Topic, TopicKind};
