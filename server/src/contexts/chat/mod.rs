//! The chat context (Guará): conversations, participants and messages in the `chat` schema.
//!
//! Only participants read or write a conversation. Each message gets an offset in its
//! conversation (`seq`), which with the conversation's `epoch` is the recovery position of the
//! `conversation:{id}` topic: stored messages and what happened to them afterwards
//! (reactions, edits, deletes: [`activity`]) are that topic's history. Read positions and
//! unread counts are in [`reads`], `@name` mentions in [`mentions`], full-text search in
//! [`search`]. Messages are stored by group commit ([`writer`]); who may send where is
//! remembered in [`membership_cache`]. Publishes the events of
//! [`events`].

mod activity;
pub mod attachments;
mod body;
mod error;
pub mod events;
mod feed;
pub mod graphql;
pub mod http;
pub mod keys;
pub mod keys_graphql;
mod membership;
mod membership_cache;
mod mentions;
mod model;
pub mod push;
pub mod push_graphql;
mod reads;
pub mod search;
mod service;
mod store;
mod subscription_groups;
mod writer;

pub use activity::{MESSAGE_DELETED, MESSAGE_EDITED, REACTION};
pub use error::ChatError;
pub use feed::FeedItem;
pub use model::{
    Activity, Conversation, ConversationKind, ConversationView, Message, MessageView,
    NewConversation, NewMessage, ReactionCount, ReadState, ThreadSummary,
};
pub use search::SearchHit;
pub use service::ChatService;
pub use store::{LogEntry, SearchFilter};
