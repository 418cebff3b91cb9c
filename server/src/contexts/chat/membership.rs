//! Group membership: a group's admins add participants, rename it and make others admins;
//! anyone leaves (`remove_participant` in the service). Every change is pushed to the
//! `user:` topics of those it concerns (`participant_added`, `conversation_updated`; see
//! `events`), so a group appears and changes on every device without a refresh.

use super::events::ChatEvent;
use super::{ChatError, ChatService, Conversation, ConversationKind};
use crate::contexts::auth::{AuthError, Principal, Role};
use crate::ids::{ConversationId, UserId};

type Result<T, E = ChatError> = std::result::Result<T, E>;

/// A participant's role in a group.
pub const ADMIN: &str = "admin";
pub const MEMBER: &str = "member";

impl ChatService {
    /// The group, when the caller is one of its admins.
    async fn administered(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        what: &'static str,
    ) -> Result<Conversation> {
        let membership = self
            .store()
            .membership(conversation_id, &by.user_id)
            .await?
            .ok_or(ChatError::NotFound)?;
        let conversation = self.conversation_for(&by.user_id, conversation_id).await?;
        if conversation.kind == ConversationKind::Direct {
            return Err(ChatError::Invalid(format!(
                "a direct conversation has no admins: cannot {what}"
            )));
        }
        if membership.role != ADMIN || by.role == Role::Guest {
            return Err(ChatError::GroupAdminsOnly(what));
        }
        Ok(conversation)
    }

    /// Adds users of the caller's community to a group (its admins only).
    pub async fn add_participants(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        user_ids: &[UserId],
    ) -> Result<Conversation> {
        let conversation = self
            .administered(by, conversation_id, "add participants")
            .await?;
        let new: Vec<&UserId> = user_ids
            .iter()
            .filter(|id| !conversation.participant_ids.contains(id))
            .collect();
        if conversation.participant_ids.len() + new.len() > self.inner.config.max_participants {
            return Err(ChatError::Invalid(format!(
                "a conversation has at most {} participants",
                self.inner.config.max_participants
            )));
        }
        for id in &new {
            match self.inner.auth.user(id).await {
                Ok(user) if user.community_id == by.community_id => {}
                Ok(_) | Err(AuthError::NotFound(_)) => {
                    return Err(ChatError::Invalid(format!(
                        "user {id} is not in your community"
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        let now = chrono::Utc::now();
        for id in &new {
            self.store()
                .add_participant(conversation_id, id, MEMBER, now)
                .await?;
        }
        let conversation = self.conversation_for(&by.user_id, conversation_id).await?;
        for id in new {
            self.inner
                .bus
                .publish(ChatEvent::participant_added(&conversation, id));
        }
        Ok(conversation)
    }

    /// Renames a group (its admins only); an empty name clears it.
    pub async fn rename_conversation(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        name: &str,
    ) -> Result<Conversation> {
        self.administered(by, conversation_id, "rename it").await?;
        let name = name.trim();
        if name.chars().count() > 200 {
            return Err(ChatError::Invalid(
                "name must be at most 200 characters".into(),
            ));
        }
        self.store()
            .rename(
                conversation_id,
                (!name.is_empty()).then_some(name),
                chrono::Utc::now(),
            )
            .await?;
        let conversation = self.conversation_for(&by.user_id, conversation_id).await?;
        self.inner
            .bus
            .publish(ChatEvent::conversation_updated(by, &conversation));
        Ok(conversation)
    }

    /// Makes a participant an admin of the group or a member again (its admins only); the
    /// last admin cannot step down.
    pub async fn set_participant_role(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        user_id: &UserId,
        admin: bool,
    ) -> Result<Conversation> {
        self.administered(by, conversation_id, "change roles")
            .await?;
        let roles = self.store().roles(conversation_id).await?;
        if !roles.iter().any(|(id, _)| id == user_id) {
            return Err(ChatError::Invalid(format!(
                "user {user_id} is not a participant"
            )));
        }
        let admins = roles.iter().filter(|(_, role)| role == ADMIN).count();
        let is_admin = roles
            .iter()
            .any(|(id, role)| id == user_id && role == ADMIN);
        if is_admin && !admin && admins == 1 {
            return Err(ChatError::Invalid(
                "a group keeps at least one admin".into(),
            ));
        }
        self.store()
            .set_role(conversation_id, user_id, if admin { ADMIN } else { MEMBER })
            .await?;
        self.members_changed(conversation_id);
        let conversation = self.conversation_for(&by.user_id, conversation_id).await?;
        self.inner
            .bus
            .publish(ChatEvent::conversation_updated(by, &conversation));
        Ok(conversation)
    }

    /// Each participant's role: (user, `admin` or `member`) (participants only).
    pub async fn participant_roles(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
    ) -> Result<Vec<(UserId, String)>> {
        self.conversation_for(&by.user_id, conversation_id).await?;
        self.store().roles(conversation_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::chat::NewConversation;
    use crate::db::testing::Fixture;

    #[tokio::test]
    async fn group_admins_manage_the_group_and_one_always_remains() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let admin = fx.sign_up("admin@example.org", None).await;
        let ana = fx.invited(&admin, "ana@example.org", Role::Member).await;
        let bia = fx.invited(&admin, "bia@example.org", Role::Member).await;
        let group = chat
            .create_conversation(
                &admin,
                NewConversation {
                    kind: ConversationKind::Group,
                    name: Some("Casa".into()),
                    participant_ids: vec![ana.user_id.clone()],
                    encrypted: false,
                },
            )
            .await
            .unwrap();
        let id = &group.id;
        let mut events = fx.bus.subscribe();

        // Ana is a member: she may not add, rename or remove others.
        let refused = chat
            .add_participants(&ana, id, std::slice::from_ref(&bia.user_id))
            .await;
        assert!(
            matches!(refused, Err(ChatError::GroupAdminsOnly(_))),
            "{refused:?}"
        );
        let refused = chat.rename_conversation(&ana, id, "Minha").await;
        assert!(
            matches!(refused, Err(ChatError::GroupAdminsOnly(_))),
            "{refused:?}"
        );
        let refused = chat.remove_participant(&ana, id, &admin.user_id).await;
        assert!(
            matches!(refused, Err(ChatError::GroupAdminsOnly(_))),
            "{refused:?}"
        );

        let added = chat
            .add_participants(&admin, id, std::slice::from_ref(&bia.user_id))
            .await
            .unwrap();
        assert_eq!(added.participant_ids.len(), 3);
        let event = loop {
            let event = events.recv().await.unwrap();
            if event.kind == crate::contexts::chat::events::PARTICIPANT_ADDED {
                break event;
            }
        };
        assert_eq!(event.user_id.as_ref(), Some(&bia.user_id));
        let renamed = chat
            .rename_conversation(&admin, id, " Família ")
            .await
            .unwrap();
        assert_eq!(renamed.name.as_deref(), Some("Família"));

        // The last admin cannot step down; making Ana admin first lets them.
        let refused = chat
            .set_participant_role(&admin, id, &admin.user_id, false)
            .await;
        assert!(matches!(refused, Err(ChatError::Invalid(_))), "{refused:?}");
        chat.set_participant_role(&admin, id, &ana.user_id, true)
            .await
            .unwrap();
        chat.set_participant_role(&admin, id, &admin.user_id, false)
            .await
            .unwrap();
        let roles = chat.participant_roles(&bia, id).await.unwrap();
        assert!(roles.contains(&(ana.user_id.clone(), ADMIN.to_string())));

        // Ana, the only admin, leaves: the longest-standing participant takes over.
        chat.remove_participant(&ana, id, &ana.user_id)
            .await
            .unwrap();
        let roles = chat.participant_roles(&bia, id).await.unwrap();
        assert_eq!(roles[0], (admin.user_id.clone(), ADMIN.to_string()));
        // A stranger from another community cannot be added.
        let other = crate::db::testing::insert_community(&fx.db).await;
        let stranger = crate::db::testing::insert_user(&fx.db, &other).await;
        let refused = chat.add_participants(&admin, id, &[stranger]).await;
        assert!(matches!(refused, Err(ChatError::Invalid(_))), "{refused:?}");
    }
}
