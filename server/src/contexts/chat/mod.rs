//! The chat context (Guará): conversations, participants and messages in the `chat` schema.
//!
//! Only participants read or write a conversation. Each message gets an offset in its
//! conversation (`seq`), which with the conversation's `epoch` is the recovery position of the
//! `conversation:{id}` topic: stored messages are that topic's history. Publishes
//! `message.sent`, `conversation.created` and `conversation.participant_removed` ([`events`]).

mod body;
mod error;
pub mod events;
mod feed;
pub mod graphql;
pub mod http;
mod model;
mod service;
mod store;

pub use error::ChatError;
pub use feed::FeedItem;
pub use model::{Conversation, ConversationKind, Message, NewConversation, NewMessage};
pub use service::ChatService;
