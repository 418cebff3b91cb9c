//! The topics a Phoenix socket may join, one module per kind (mini-redis's `cmd/`: one file
//! per command), and the registry that maps a [`TopicKind`] to its module:
//!
//! | topic | module | who may join | presence | history |
//! |---|---|---|---|---|
//! | `user:{id}` | [`user`] | that user | no | memory |
//! | `community:{id}` | [`community`] | its members and admins (not guests) | yes | memory |
//! | `conversation:{id}` | [`conversation`] | its participants | yes | stored messages |
//! | `files:{space_id}` | [`files`] | whoever may read the space | no | the space's change journal |
//! | `system:alerts` | [`system`] | every signed-in user; a community's admins publish to their community, the server and the operator to every community | no | memory, per community |
//! | `upload:{id}` | [`upload`] | the upload's owner | no | — |
//! | `stream:{file_id}` | [`stream`] | whoever may see the photo | no | — |
//! | `item:{item_id}` | [`item`] | members of the item's library's community | no | — |
//! | `device:{device_id}` | [`device`] | that device agent (its token) | no | — |
//! | `home:{community_id}` | [`home`] | the community's members, admins and guests (each sees the entities they may) | no | memory |
//!
//! # The registry
//!
//! Each module is the socket adapter of the context that owns its topic, and the only socket
//! code that calls that context: `authorize` decides a join (and says what the join leads
//! to: a hub subscription, or a transfer the module answers itself), `handle` takes one client
//! push, decoded by event into a serde-typed payload, and returns a [`Reply`]. The functions in
//! this file are the registry: one `match` from a [`TopicKind`] to its module. The session
//! (`phoenix.rs`) and the join flow (`join.rs`) go through them and never name a context.
//! A module also names the events the server publishes on its topic; the bridge
//! (`bridge.rs`) uses those names when it turns bus events into publications. Topic names
//! themselves are built by [`crate::realtime::Topic`].
//!
//! A `match` over the kinds rather than a table of handlers filled at start-up: the kinds are
//! the wire protocol, fixed at compile time and parsed by [`TopicKind`], so the compiler checks
//! that every kind has its handler, and a new kind is a variant, a module and one arm per
//! function here — no trait objects, no boxed futures.

pub mod community;
pub mod conversation;
pub mod device;
pub mod files;
pub mod home;
mod item;
mod reply;
mod stream;
pub mod system;
mod typing;
mod upload;
pub mod user;

use std::sync::Arc;

use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;
use serde_json::Value;
use taina_protocol::phoenix::Payload;

use super::stream::StreamHandle;
use crate::contexts::auth::Principal;
use crate::realtime::{Conn, Position};
use crate::state::AppState;

pub use reply::Reply;
pub use typing::TypingThrottle;

pub use crate::realtime::TopicKind;

/// Why a join is refused; the `reason` of the error reply.
#[derive(Debug)]
pub enum JoinRefusal {
    Unauthorized,
    Internal,
}

impl JoinRefusal {
    pub fn reason(&self) -> &'static str {
        match self {
            JoinRefusal::Unauthorized => "unauthorized",
            JoinRefusal::Internal => "internal error",
        }
    }
}

/// What an authorised join leads to.
pub enum Authorized {
    /// A hub subscription: publications, recovery, perhaps presence.
    Subscription(Subscription),
    /// A transfer (`upload:`, `stream:`, `item:`): no publications; its module answers the join.
    Transfer(Transfer),
}

/// What a hub subscription needs to know about its topic.
#[derive(Default)]
pub struct Subscription {
    /// Where a storage-backed topic stands; the hub's offsets follow it.
    pub storage: Option<Position>,
    /// Whether the join is tracked in the topic's presence.
    pub presence: bool,
    /// The hub key to join under when it is not the topic's usual one (someone's own `home:`
    /// audience); a later re-check that gives another key makes the client rejoin.
    pub key: Option<String>,
    /// Reads back publications that memory no longer holds.
    stored: Option<History>,
}

/// Where a storage-backed topic's publications are read back from.
pub enum History {
    Conversation(conversation::Stored),
    Files(files::Stored),
}

impl Subscription {
    /// The publications `(event, payload)` with offsets in `(after, up_to]`, oldest first, at
    /// most `limit`, read from storage: `None` when the topic keeps none there or reading failed.
    pub async fn stored_between(
        &self,
        state: &AppState,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Option<Vec<(&'static str, Value)>> {
        match self.stored.as_ref()? {
            History::Conversation(stored) => stored.between(state, after, up_to, limit).await,
            History::Files(stored) => stored.between(state, after, up_to, limit).await,
        }
    }
}

/// A transfer join, authorised.
pub enum Transfer {
    Upload(upload::Access),
    Stream(stream::Access),
    Item(item::Access),
}

/// A transfer join's answer: the `ok` response, then what it serves once that is sent.
pub struct Opened {
    pub reply: Value,
    pub stream: Option<stream::Pending>,
}

impl Transfer {
    /// Opens the transfer with the join's payload; `Err` is the join's error reason.
    pub async fn open(
        self,
        state: &AppState,
        principal: &Principal,
        payload: &Value,
    ) -> Result<Opened, &'static str> {
        match self {
            Transfer::Upload(access) => Ok(upload::open(access)),
            Transfer::Stream(access) => stream::open(access, state, payload).await,
            Transfer::Item(access) => item::open(access, state, principal, payload).await,
        }
    }
}

/// May `principal` join the topic `kind`, and what does the join lead to?
pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    kind: &TopicKind,
) -> Result<Authorized, JoinRefusal> {
    // A device agent's token opens its own topic and nothing else.
    if principal.role == crate::contexts::auth::Role::Device {
        return match kind {
            TopicKind::Device(id) => device::authorize(principal, id),
            _ => Err(JoinRefusal::Unauthorized),
        };
    }
    match kind {
        TopicKind::User(id) => user::authorize(principal, id),
        TopicKind::Community(id) => community::authorize(principal, id),
        TopicKind::Conversation(id) => conversation::authorize(state, principal, id).await,
        TopicKind::Files(id) => files::authorize(state, principal, id).await,
        TopicKind::SystemAlerts => system::authorize(),
        TopicKind::Upload(id) => upload::authorize(state, principal, id).await,
        TopicKind::Stream(id) => stream::authorize(state, principal, id).await,
        TopicKind::Item(id) => item::authorize(state, principal, id).await,
        TopicKind::Home(id) => home::authorize(state, principal, id),
        TopicKind::Device(id) => device::authorize(principal, id),
    }
}

/// The joined topic a push arrived on, and what its handler may use.
pub struct Channel<'a> {
    pub state: &'a AppState,
    pub conn: &'a Arc<Conn>,
    pub principal: &'a Principal,
    pub topic: &'a str,
    /// The socket's typing throttle (one per socket, across its topics).
    pub typing: &'a mut TypingThrottle,
    /// The running stream of a `stream:` or `item:` join.
    pub stream: Option<&'a StreamHandle>,
}

/// One client push on a joined topic of kind `kind`: an event the topic does not know gets
/// `unknown event`.
pub async fn handle(
    kind: &TopicKind,
    channel: Channel<'_>,
    event: &str,
    payload: &Payload,
) -> Reply {
    match kind {
        TopicKind::User(_) => user::handle(channel, event, payload).await,
        TopicKind::Community(_) => community::handle(channel, event, payload),
        TopicKind::Conversation(id) => conversation::handle(channel, id, event, payload).await,
        TopicKind::Files(_) => files::handle(channel, event, payload),
        TopicKind::SystemAlerts => system::handle(channel, event, payload).await,
        TopicKind::Upload(id) => upload::handle(channel, id, event, payload).await,
        TopicKind::Stream(_) | TopicKind::Item(_) => stream::handle(channel, event, payload),
        TopicKind::Home(_) => home::handle(channel, event, payload).await,
        TopicKind::Device(_) => device::handle(channel, event, payload).await,
    }
}

/// A JSON payload as `T`.
fn decode<T: DeserializeOwned>(payload: &Value) -> Result<T, serde_json::Error> {
    T::deserialize(payload)
}

/// For optional fields the socket has always read leniently: a value of another type counts
/// as absent (`{"typing": "yes"}` is typing, a numeric `filename` is no filename). Use with
/// `#[serde(default, deserialize_with = "…lenient")]`.
pub fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Ok(T::deserialize(Value::deserialize(deserializer)?).ok())
}
