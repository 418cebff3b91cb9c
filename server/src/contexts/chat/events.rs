//! What chat publishes on the bus: each event's name, the struct of its `data`, and a
//! constructor on [`ChatEvent`]. `user_id` is who acted (for a removal: who was removed);
//! `community_id` is the conversation's community.

use serde::{Deserialize, Serialize};

use super::{Activity, Conversation, Message};
use crate::contexts::auth::Principal;
use crate::events::Event;
use crate::ids::{CommunityId, ConversationId, UserId};

/// A message was stored; `data` is the [`Message`] with its conversation position.
pub const MESSAGE_SENT: &str = "message.sent";
/// A conversation was created; `data` is the [`Conversation`].
pub const CONVERSATION_CREATED: &str = "conversation.created";
/// A participant left or was removed; `user_id` is the participant.
pub const PARTICIPANT_REMOVED: &str = "conversation.participant_removed";
/// A participant was added to a group; `user_id` is the new participant, `data` the
/// [`Conversation`] as it is now.
pub const PARTICIPANT_ADDED: &str = "conversation.participant_added";
/// A group was renamed or a participant's role changed; `data` is the [`Conversation`].
pub const CONVERSATION_UPDATED: &str = "conversation.updated";
/// A reaction was added or taken away; `data` is the [`Activity`].
pub const MESSAGE_REACTED: &str = "message.reacted";
/// A message's body was replaced; `data` is the [`Activity`].
pub const MESSAGE_EDITED: &str = "message.edited";
/// A message became a tombstone; `data` is the [`Activity`].
pub const MESSAGE_DELETED: &str = "message.deleted";
/// A participant's read position moved; `user_id` is the reader, `data` a [`Read`].
pub const CONVERSATION_READ: &str = "conversation.read";
/// A message mentions someone; `user_id` is who is mentioned, `data` a [`Mention`].
pub const MESSAGE_MENTIONED: &str = "message.mentioned";

/// The `data` of [`CONVERSATION_READ`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Read {
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    pub offset: u64,
}

/// The `data` of [`MESSAGE_MENTIONED`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    pub conversation_id: ConversationId,
    pub message_id: crate::ids::MessageId,
    pub sender_id: UserId,
    pub offset: u64,
    /// The message's first characters.
    pub preview: String,
}

/// The `data` of [`PARTICIPANT_REMOVED`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParticipantRemoved {
    pub conversation_id: ConversationId,
    /// The participant who removed them (themself when leaving).
    pub removed_by: UserId,
}

/// Builds chat's events.
pub struct ChatEvent;

impl ChatEvent {
    /// `community_id` is the conversation's.
    pub fn message_sent(by: &Principal, community_id: &CommunityId, message: &Message) -> Event {
        Event::typed(MESSAGE_SENT, Some(&by.user_id), Some(community_id), message)
    }

    pub fn conversation_created(by: &Principal, conversation: &Conversation) -> Event {
        Event::typed(
            CONVERSATION_CREATED,
            Some(&by.user_id),
            Some(&by.community_id),
            conversation,
        )
    }

    /// Reactions, edits and deletes: the event kind follows the activity.
    pub fn activity(by: &Principal, community_id: &CommunityId, activity: &Activity) -> Event {
        let kind = match activity.event.as_str() {
            super::activity::REACTION => MESSAGE_REACTED,
            super::activity::MESSAGE_EDITED => MESSAGE_EDITED,
            _ => MESSAGE_DELETED,
        };
        Event::typed(kind, Some(&by.user_id), Some(community_id), activity)
    }

    pub fn read(community_id: &CommunityId, read: &Read) -> Event {
        Event::typed(
            CONVERSATION_READ,
            Some(&read.user_id),
            Some(community_id),
            read,
        )
    }

    pub fn mentioned(community_id: &CommunityId, user_id: &UserId, mention: &Mention) -> Event {
        Event::typed(
            MESSAGE_MENTIONED,
            Some(user_id),
            Some(community_id),
            mention,
        )
    }

    /// `user_id` is the participant added.
    pub fn participant_added(conversation: &Conversation, user_id: &UserId) -> Event {
        Event::typed(
            PARTICIPANT_ADDED,
            Some(user_id),
            Some(&conversation.community_id),
            conversation,
        )
    }

    pub fn conversation_updated(by: &Principal, conversation: &Conversation) -> Event {
        Event::typed(
            CONVERSATION_UPDATED,
            Some(&by.user_id),
            Some(&conversation.community_id),
            conversation,
        )
    }

    pub fn participant_removed(
        by: &Principal,
        conversation: &Conversation,
        user_id: &UserId,
    ) -> Event {
        let data = ParticipantRemoved {
            conversation_id: conversation.id.clone(),
            removed_by: by.user_id.clone(),
        };
        Event::typed(
            PARTICIPANT_REMOVED,
            Some(user_id),
            Some(&conversation.community_id),
            &data,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::Role;
    use crate::contexts::chat::ConversationKind;
    use serde_json::json;

    /// The bus carries the same JSON as before the payloads were typed.
    #[test]
    fn a_removal_keeps_its_json_shape_and_decodes_back() {
        let by = Principal {
            user_id: "u1".into(),
            community_id: "c1".into(),
            role: Role::Member,
            session_id: "s1".into(),
            email: "u1@example.org".into(),
            expires_at: chrono::Utc::now(),
        };
        let conversation = Conversation {
            id: "x".into(),
            community_id: "c1".into(),
            kind: ConversationKind::Group,
            name: None,
            participant_ids: vec!["u1".into(), "u2".into()],
            epoch: "e".into(),
            last_offset: 0,
            created_at: chrono::Utc::now(),
            encrypted: false,
        };
        let removed = ChatEvent::participant_removed(&by, &conversation, &"u2".into());
        assert_eq!(removed.kind, PARTICIPANT_REMOVED);
        assert_eq!(
            removed.data,
            json!({ "conversation_id": "x", "removed_by": "u1" })
        );
        assert_eq!(removed.user_id, Some("u2".into()));
        assert_eq!(
            removed.data_as::<ParticipantRemoved>().unwrap().removed_by,
            "u1"
        );
    }
}
