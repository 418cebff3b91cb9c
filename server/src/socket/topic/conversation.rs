//! `conversation:{conversation_id}`: a conversation's participants. Presence is tracked, and
//! the topic's history is the stored messages (its epoch and offsets come from storage), so a
//! rejoin recovers from there what memory no longer holds. Clients push:
//! - `new_msg` `{body, client_id?}` → `ok` with the stored message, which every subscriber
//!   (the sender's devices included) receives as `new_msg` through the bus;
//! - `typing`;
//! - binary `binary` → a binary broadcast to every subscriber, refused with
//!   `payload_too_large` (and sent to nobody) over `Hub::max_publication_bytes`.

use bytes::Bytes;
use serde_json::Value;
use taina_protocol::phoenix::Payload;

use super::typing::{self, TYPING};
use super::{decode, Authorized, Channel, JoinRefusal, Reply, Subscription};
use crate::contexts::auth::Principal;
use crate::contexts::chat::{ChatError, Conversation, NewMessage};
use crate::ids::ConversationId;
use crate::realtime::{BroadcastError, Position};
use crate::state::AppState;

/// A stored message, both ways.
pub const NEW_MSG: &str = "new_msg";
/// A binary broadcast, both ways.
const BINARY: &str = "binary";

pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    conversation_id: &ConversationId,
) -> Result<Authorized, JoinRefusal> {
    match state
        .chat
        .conversation_for(&principal.user_id, conversation_id)
        .await
    {
        Ok(conversation) => Ok(Authorized::Subscription(Subscription {
            storage: Some(Position {
                epoch: conversation.epoch.clone(),
                offset: conversation.last_offset,
            }),
            presence: true,
            key: None,
            stored: Some(super::History::Conversation(Stored(conversation))),
        })),
        Err(ChatError::NotFound) => Err(JoinRefusal::Unauthorized),
        Err(e) => {
            tracing::error!(error = %e, "join authorization failed");
            Err(JoinRefusal::Internal)
        }
    }
}

/// A conversation's stored messages, the topic's history.
pub struct Stored(Conversation);

impl Stored {
    /// Messages with offsets in `(after, up_to]` as `new_msg` publications, oldest first.
    pub async fn between(
        &self,
        state: &AppState,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Option<Vec<(&'static str, Value)>> {
        match state
            .chat
            .messages_between(&self.0, after, up_to, limit)
            .await
        {
            Ok(messages) => Some(
                messages
                    .iter()
                    .map(|m| (NEW_MSG, serde_json::to_value(m).unwrap_or_default()))
                    .collect(),
            ),
            Err(e) => {
                tracing::error!(error = %e, "recovery from storage failed");
                None
            }
        }
    }
}

enum Push {
    NewMsg(NewMessage),
    Typing,
    Binary(Bytes),
}

impl Push {
    fn parse(event: &str, payload: &Payload) -> Result<Push, Reply> {
        match (event, payload) {
            (NEW_MSG, Payload::Json(value)) => {
                decode(value).map(Push::NewMsg).map_err(Reply::invalid)
            }
            (TYPING, _) => Ok(Push::Typing),
            (BINARY, Payload::Binary(data)) => Ok(Push::Binary(data.clone())),
            _ => Err(Reply::unknown_event()),
        }
    }
}

pub async fn handle(
    channel: Channel<'_>,
    conversation_id: &ConversationId,
    event: &str,
    payload: &Payload,
) -> Reply {
    let push = match Push::parse(event, payload) {
        Ok(push) => push,
        Err(reply) => return reply,
    };
    match push {
        Push::NewMsg(message) => {
            let chat = &channel.state.chat;
            match chat
                .send_message(channel.principal, conversation_id, message)
                .await
            {
                Ok((stored, _)) => Reply::Ok(serde_json::to_value(stored).unwrap_or_default()),
                Err(e) => Reply::failed(e),
            }
        }
        Push::Typing => typing::relay(channel, payload),
        Push::Binary(data) => {
            match channel
                .state
                .hub
                .broadcast_binary_everywhere(channel.topic, BINARY, &data)
            {
                Ok(()) => Reply::ok(),
                Err(e @ BroadcastError::TooLarge { .. }) => Reply::refused("payload_too_large", e),
                Err(e) => Reply::invalid(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pushes_decode_with_the_replies_the_socket_always_gave() {
        let json = |event: &str, payload: Value| Push::parse(event, &Payload::Json(payload));
        assert!(matches!(
            json(NEW_MSG, json!({ "body": "olá" })),
            Ok(Push::NewMsg(_))
        ));
        match json(NEW_MSG, json!({ "text": "wrong field" })) {
            Err(Reply::Error(e)) => {
                assert_eq!(e["reason"], "invalid_input");
                assert_eq!(e["message"], "missing field `body`");
            }
            _ => panic!("a new_msg without a body is invalid_input"),
        }
        assert!(matches!(
            Push::parse(TYPING, &Payload::Binary(Default::default())),
            Ok(Push::Typing)
        ));
        assert_eq!(json(BINARY, json!({})).err(), Some(Reply::unknown_event()));
        assert_eq!(
            Push::parse(NEW_MSG, &Payload::Binary(Default::default())).err(),
            Some(Reply::unknown_event())
        );
    }
}
