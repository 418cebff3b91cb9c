//! Read receipts: each participant's newest read offset. A `read` moves it forward only;
//! the other participants see it live on `conversation:{id}` and the reader's other devices
//! on `user:{id}`, so a badge clears everywhere at once.

use super::events::{ChatEvent, Read};
use super::{ChatError, ChatService, ReadState};
use crate::contexts::auth::Principal;
use crate::ids::ConversationId;

type Result<T, E = ChatError> = std::result::Result<T, E>;

impl ChatService {
    /// Marks everything up to `offset` read; returns the read position, which moved only if
    /// `offset` is newer than it and not past the conversation's newest offset.
    pub async fn mark_read(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        offset: u64,
    ) -> Result<u64> {
        let conversation = self.membership(conversation_id, &by.user_id).await?;
        if self
            .store()
            .mark_read(conversation_id, &by.user_id, offset)
            .await?
        {
            let read = Read {
                conversation_id: conversation_id.clone(),
                user_id: by.user_id.clone(),
                offset,
            };
            self.inner
                .bus
                .publish(ChatEvent::read(&conversation.community_id, &read));
            return Ok(offset);
        }
        let states = self.store().read_states(conversation_id).await?;
        Ok(states
            .into_iter()
            .find(|s| s.user_id == by.user_id)
            .map_or(0, |s| s.offset))
    }

    /// Every participant's read position (participants only).
    pub async fn read_states(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
    ) -> Result<Vec<ReadState>> {
        self.membership(conversation_id, &by.user_id).await?;
        self.store().read_states(conversation_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::Role;
    use crate::contexts::chat::{ConversationKind, NewConversation, NewMessage};
    use crate::db::testing::Fixture;

    #[tokio::test]
    async fn read_positions_move_forward_and_unread_counts_follow() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let admin = fx.sign_up("admin@example.org", None).await;
        let ana = fx.invited(&admin, "ana@example.org", Role::Member).await;
        let id = chat
            .create_conversation(
                &admin,
                NewConversation {
                    kind: ConversationKind::Group,
                    name: None,
                    participant_ids: vec![ana.user_id.clone()],
                    encrypted: false,
                },
            )
            .await
            .unwrap()
            .id;
        let say = |body: &str| NewMessage {
            body: body.into(),
            ..Default::default()
        };
        let mut last = 0;
        for n in 0..3 {
            last = chat
                .send_message(&admin, &id, say(&format!("m{n}")))
                .await
                .unwrap()
                .0
                .offset;
        }
        chat.send_message(&ana, &id, say("own")).await.unwrap();
        let unread = |views: Vec<crate::contexts::chat::ConversationView>| {
            views
                .iter()
                .find(|v| v.conversation.id == id)
                .map(|v| (v.last_read_offset, v.unread_count))
                .unwrap()
        };
        // Her own message does not count.
        assert_eq!(unread(chat.conversations(&ana).await.unwrap()), (0, 3));
        assert_eq!(chat.mark_read(&ana, &id, 2).await.unwrap(), 2);
        assert_eq!(unread(chat.conversations(&ana).await.unwrap()), (2, 1));
        // Never back, never past the newest offset.
        assert_eq!(chat.mark_read(&ana, &id, 1).await.unwrap(), 2);
        assert_eq!(chat.mark_read(&ana, &id, 99).await.unwrap(), 2);
        assert_eq!(chat.mark_read(&ana, &id, last).await.unwrap(), last);
        assert_eq!(unread(chat.conversations(&ana).await.unwrap()), (last, 0));
        let states = chat.read_states(&admin, &id).await.unwrap();
        assert!(states
            .iter()
            .any(|s| s.user_id == ana.user_id && s.offset == last));
        let bia = fx.invited(&admin, "bia@example.org", Role::Member).await;
        let refused = chat.mark_read(&bia, &id, 1).await;
        assert!(matches!(refused, Err(ChatError::NotFound)), "{refused:?}");
    }
}
