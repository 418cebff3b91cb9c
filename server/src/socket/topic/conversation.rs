//! `conversation:{conversation_id}`: a conversation's participants. Presence is tracked, and
//! the topic's history is the stored messages (its epoch and offsets come from storage), so a
//! rejoin recovers from there what memory no longer holds. Clients push:
//! - `new_msg` `{body, client_id?, reply_to?, thread_root?}` → `ok` with the stored message,
//!   which every subscriber (the sender's devices included) receives as `new_msg` through the
//!   bus;
//! - `react` `{message_id, emoji}` (toggles), `edit` `{message_id, body}`, `delete`
//!   `{message_id}` → `ok` with the activity, which every subscriber receives as `reaction`,
//!   `message_edited` or `message_deleted`, each at its own offset (recovery replays them);
//! - `read` `{offset}` → `ok` `{offset}` (the reader's position), which the others receive
//!   as `read` and the reader's devices on `user:`;
//! - `typing`;
//! - binary `binary` → a binary broadcast to every subscriber, refused with
//!   `payload_too_large` (and sent to nobody) over `Hub::max_publication_bytes`.

use bytes::Bytes;
use serde_json::Value;
use taina_protocol::phoenix::Payload;

use super::typing::{self, TYPING};
use super::{decode, Authorized, Channel, JoinRefusal, Reply, Subscription};
use crate::contexts::auth::Principal;
use serde::Deserialize;

use crate::contexts::chat::{self, Activity, ChatError, Conversation, LogEntry, NewMessage};
use crate::ids::{ConversationId, MessageId};
use crate::realtime::{BroadcastError, Position};
use crate::state::AppState;

/// A stored message, both ways.
pub const NEW_MSG: &str = "new_msg";
/// A binary broadcast, both ways.
const BINARY: &str = "binary";
/// A participant's read position moved: `{conversation_id, user_id, offset}` (no offset of
/// its own: the positions are in `readStates`). Also what clients push to move theirs.
pub const READ: &str = "read";
/// Pushed by clients: `{message_id, emoji}` (toggles), `{message_id, body}`, `{message_id}`.
const REACT: &str = "react";
const EDIT: &str = "edit";
const DELETE: &str = "delete";

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
    /// The log's entries with offsets in `(after, up_to]` as publications, oldest first.
    pub async fn between(
        &self,
        state: &AppState,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Option<Vec<(&'static str, Value)>> {
        let conversation = &self.0;
        match state
            .chat
            .log_between(&conversation.id, &conversation.epoch, after, up_to, limit)
            .await
        {
            Ok(log) => Some(
                log.iter()
                    .map(|entry| (publication_event(entry), entry_payload(entry)))
                    .collect(),
            ),
            Err(e) => {
                tracing::error!(error = %e, "recovery from storage failed");
                None
            }
        }
    }
}

/// The event a log entry is published as.
pub fn publication_event(entry: &LogEntry) -> &'static str {
    match entry {
        LogEntry::Message(_) => NEW_MSG,
        LogEntry::Activity(a) => match a.event.as_str() {
            chat::REACTION => chat::REACTION,
            chat::MESSAGE_EDITED => chat::MESSAGE_EDITED,
            _ => chat::MESSAGE_DELETED,
        },
    }
}

/// A log entry's payload, the same as the bus event's data.
pub fn entry_payload(entry: &LogEntry) -> Value {
    match entry {
        LogEntry::Message(m) => serde_json::to_value(m).unwrap_or_default(),
        LogEntry::Activity(a) => serde_json::to_value(a).unwrap_or_default(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct React {
    message_id: MessageId,
    emoji: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    message_id: MessageId,
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Delete {
    message_id: MessageId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Read {
    offset: u64,
}

enum Push {
    NewMsg(NewMessage),
    React(React),
    Edit(Edit),
    Delete(Delete),
    Read(Read),
    Typing,
    Binary(Bytes),
}

impl Push {
    fn parse(event: &str, payload: &Payload) -> Result<Push, Reply> {
        match (event, payload) {
            (NEW_MSG, Payload::Json(value)) => {
                decode(value).map(Push::NewMsg).map_err(Reply::invalid)
            }
            (REACT, Payload::Json(value)) => decode(value).map(Push::React).map_err(Reply::invalid),
            (EDIT, Payload::Json(value)) => decode(value).map(Push::Edit).map_err(Reply::invalid),
            (DELETE, Payload::Json(value)) => {
                decode(value).map(Push::Delete).map_err(Reply::invalid)
            }
            (READ, Payload::Json(value)) => decode(value).map(Push::Read).map_err(Reply::invalid),
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
        Push::React(React { message_id, emoji }) => activity_reply(
            channel
                .state
                .chat
                .react(channel.principal, conversation_id, &message_id, &emoji)
                .await,
        ),
        Push::Edit(Edit { message_id, body }) => activity_reply(
            channel
                .state
                .chat
                .edit_message(channel.principal, conversation_id, &message_id, &body)
                .await,
        ),
        Push::Delete(Delete { message_id }) => activity_reply(
            channel
                .state
                .chat
                .delete_message(channel.principal, conversation_id, &message_id)
                .await,
        ),
        Push::Read(Read { offset }) => match channel
            .state
            .chat
            .mark_read(channel.principal, conversation_id, offset)
            .await
        {
            Ok(offset) => Reply::Ok(serde_json::json!({ "offset": offset })),
            Err(e) => Reply::failed(e),
        },
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

fn activity_reply(result: Result<Activity, ChatError>) -> Reply {
    match result {
        Ok(activity) => Reply::Ok(serde_json::to_value(activity).unwrap_or_default()),
        Err(e) => Reply::failed(e),
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
