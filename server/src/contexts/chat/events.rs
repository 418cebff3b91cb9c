//! What chat publishes on the bus: each event's name, the struct of its `data`, and a
//! constructor on [`ChatEvent`]. `user_id` is who acted (for a removal: who was removed);
//! `community_id` is the conversation's community.

use serde::{Deserialize, Serialize};

use super::{Conversation, Message};
use crate::contexts::auth::Principal;
use crate::events::Event;
use crate::ids::{CommunityId, ConversationId, UserId};

/// A message was stored; `data` is the [`Message`] with its conversation position.
pub const MESSAGE_SENT: &str = "message.sent";
/// A conversation was created; `data` is the [`Conversation`].
pub const CONVERSATION_CREATED: &str = "conversation.created";
/// A participant left or was removed; `user_id` is the participant.
pub const PARTICIPANT_REMOVED: &str = "conversation.participant_removed";

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
