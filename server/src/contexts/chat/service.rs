//! `ChatService`: conversations, participants and messages, with the rule that only
//! participants read or write a conversation. Emits `conversation.created`, `message.sent`
//! and `conversation.participant_removed`.

use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use dashmap::DashMap;

use crate::config::ChatConfig;
use crate::contexts::auth::{AuthService, Principal, Role};
use crate::db::Db;
use crate::events::EventBus;
use crate::ids::{CommunityId, ConversationId, MessageId, UserId};

use super::events::ChatEvent;
use super::feed::{FeedItem, MessageFeed};
use super::membership_cache::MembershipCache;
use super::search::terms::Terms;
use super::search::Language;
use super::store::{ChatStore, NewConversationRow};
use super::store::{Membership, NewMessageRow};
use super::writer::MessageWriter;
use super::{
    model, ChatError, Conversation, ConversationKind, ConversationView, Message, NewConversation,
    NewMessage,
};

type Result<T, E = ChatError> = std::result::Result<T, E>;

/// Longest `client_id` accepted (it is an idempotency key, not content).
const MAX_CLIENT_ID: usize = 128;

#[derive(Clone)]
pub struct ChatService {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) store: ChatStore,
    pub(super) auth: AuthService,
    pub(super) bus: Arc<dyn EventBus>,
    pub(super) config: ChatConfig,
    /// Each community's search language, as recorded with its index.
    pub(super) languages: DashMap<CommunityId, Language>,
    /// Media and files, describing attachments (set once at start).
    pub(super) attachments: std::sync::OnceLock<Arc<dyn super::attachments::AttachmentSource>>,
    /// One lock per conversation, held from storing a message until its event is published,
    /// so `message.sent` events leave in offset order.
    send_locks: DashMap<ConversationId, Arc<tokio::sync::Mutex<()>>>,
    feed: Arc<MessageFeed>,
    /// Stores messages by group commit; started at the first message.
    writer: std::sync::OnceLock<MessageWriter>,
    memberships: Arc<MembershipCache>,
}

impl ChatService {
    pub fn new(db: Db, auth: AuthService, bus: Arc<dyn EventBus>, config: ChatConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: ChatStore::new(db),
                auth,
                bus,
                config,
                attachments: std::sync::OnceLock::new(),
                languages: DashMap::new(),
                send_locks: DashMap::new(),
                feed: Arc::new(MessageFeed::default()),
                writer: std::sync::OnceLock::new(),
                memberships: Arc::default(),
            }),
        }
    }

    /// Starts handing `message.sent` events to [`ChatService::watch`]ers, and dropping
    /// remembered memberships that changed on any node.
    pub fn spawn_feed(&self) {
        self.inner.feed.spawn(&self.inner.bus);
        self.inner.memberships.spawn_invalidation(&self.inner.bus);
    }

    /// What `user_id` needs to act in a conversation (`NotFound` when they take no part in
    /// it), from the cache when it is there.
    pub(super) async fn membership(
        &self,
        conversation_id: &ConversationId,
        user_id: &UserId,
    ) -> Result<Arc<Membership>> {
        let cache = &self.inner.memberships;
        if let Some(membership) = cache.get(conversation_id, user_id) {
            return Ok(membership);
        }
        let generation = cache.generation();
        let membership = Arc::new(
            self.store()
                .membership(conversation_id, user_id)
                .await?
                .ok_or(ChatError::NotFound)?,
        );
        cache.put(generation, user_id, &membership);
        Ok(membership)
    }

    /// Called after a conversation's participants or roles change, before the change is
    /// announced.
    pub(super) fn members_changed(&self, conversation_id: &ConversationId) {
        self.inner.memberships.forget(conversation_id);
    }

    /// The live messages (and participant removals) of one conversation from now on, for
    /// in-process subscribers; check access with `conversation_for` after subscribing, so
    /// nothing falls between the two.
    pub fn watch(
        &self,
        conversation_id: &ConversationId,
    ) -> tokio::sync::broadcast::Receiver<FeedItem> {
        self.inner.feed.subscribe(conversation_id)
    }

    /// Joins `user` to the `messageReceived` group of the handed-over request (made if
    /// there is none), waiting: check access with `conversation_for` after joining, so nothing
    /// falls between the two.
    pub(super) fn join_received(
        &self,
        conversation_id: &ConversationId,
        user: &UserId,
        handover: &crate::socket::Handover,
        recovery_max: u32,
    ) -> Arc<super::subscription_groups::Membership> {
        self.inner
            .feed
            .groups
            .join(self, conversation_id, user, handover, recovery_max)
    }

    pub(super) fn store(&self) -> &ChatStore {
        &self.inner.store
    }

    /// The language a community's messages are indexed and searched in: the one recorded
    /// with its index, else its default language, else `chat.search_language`.
    pub(super) async fn language(&self, community_id: &CommunityId) -> Language {
        if let Some(language) = self.inner.languages.get(community_id) {
            return *language;
        }
        let language = match self.store().indexed_language(community_id).await {
            Ok(Some(tag)) => Language::from_tag(&tag),
            _ => {
                let language = self.chosen_language(community_id).await;
                if let Err(e) = self
                    .store()
                    .set_indexed_language(community_id, language.name())
                    .await
                {
                    tracing::warn!(error = %e, "the search language was not recorded");
                }
                language
            }
        };
        self.inner.languages.insert(community_id.clone(), language);
        language
    }

    /// The community's default language, else `chat.search_language`.
    pub(super) async fn chosen_language(&self, community_id: &CommunityId) -> Language {
        match self.inner.auth.chosen_language(community_id).await {
            Ok(Some(tag)) => Language::from_tag(&tag),
            _ => Language::from_tag(&self.inner.config.search_language),
        }
    }

    /// Creates a conversation between the caller and `participant_ids`, all of the caller's
    /// community. A direct conversation with someone returns the existing one if there is one.
    pub async fn create_conversation(
        &self,
        by: &Principal,
        request: NewConversation,
    ) -> Result<Conversation> {
        if by.role == Role::Guest {
            return Err(ChatError::GuestsMayNot("start conversations"));
        }
        let mut participants = vec![by.user_id.clone()];
        for id in request.participant_ids {
            if !participants.contains(&id) {
                participants.push(id);
            }
        }
        if participants.len() > self.inner.config.max_participants {
            return Err(ChatError::Invalid(format!(
                "a conversation has at most {} participants",
                self.inner.config.max_participants
            )));
        }
        for id in &participants[1..] {
            match self.inner.auth.user(id).await {
                Ok(user) if user.community_id == by.community_id => {}
                Ok(_) | Err(crate::contexts::auth::AuthError::NotFound(_)) => {
                    return Err(ChatError::Invalid(format!(
                        "user {id} is not in your community"
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        let name = request
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        if name.is_some_and(|n| n.chars().count() > 200) {
            return Err(ChatError::Invalid(
                "name must be at most 200 characters".into(),
            ));
        }
        match request.kind {
            ConversationKind::Direct => {
                if participants.len() != 2 {
                    return Err(ChatError::Invalid(
                        "a direct conversation has exactly one other participant".into(),
                    ));
                }
                if let Some(existing) = self
                    .store()
                    .direct_between(&participants[0], &participants[1])
                    .await?
                {
                    return self
                        .store()
                        .conversation(&existing)
                        .await?
                        .ok_or(ChatError::NotFound);
                }
            }
            ConversationKind::Group => {
                if participants.len() < 2 {
                    return Err(ChatError::Invalid(
                        "a group needs at least one other participant".into(),
                    ));
                }
            }
        }
        let id = ConversationId::new();
        self.store()
            .insert_conversation(&NewConversationRow {
                id: &id,
                community_id: &by.community_id,
                kind: request.kind,
                name,
                created_by: &by.user_id,
                participants: &participants,
                encrypted: request.encrypted,
                now: Utc::now(),
            })
            .await?;
        let conversation = self
            .store()
            .conversation(&id)
            .await?
            .ok_or(ChatError::NotFound)?;
        self.inner
            .bus
            .publish(ChatEvent::conversation_created(by, &conversation));
        Ok(conversation)
    }

    /// How many conversations and messages a community has (an admin's view: counts, never
    /// content): (conversations, messages).
    pub async fn community_totals(&self, admin: &Principal) -> Result<(u64, u64)> {
        if admin.role != crate::contexts::auth::Role::Admin {
            return Err(ChatError::Forbidden);
        }
        self.store()
            .community_totals(admin.community_id.as_str())
            .await
    }

    /// The caller's conversations, each with their read position and unread count.
    pub async fn conversations(&self, of: &Principal) -> Result<Vec<ConversationView>> {
        let conversations = self.store().conversations_of(&of.user_id).await?;
        let counts = self.store().unread_counts(&of.user_id).await?;
        Ok(conversations
            .into_iter()
            .map(|conversation| {
                let (last_read_offset, unread_count) = counts
                    .iter()
                    .find(|(id, ..)| *id == conversation.id)
                    .map_or((0, 0), |(_, read, unread)| (*read, *unread));
                ConversationView {
                    conversation,
                    last_read_offset,
                    unread_count,
                }
            })
            .collect())
    }

    /// The conversation, if `user_id` takes part in it; `NotFound` otherwise.
    pub async fn conversation_for(
        &self,
        user_id: &UserId,
        conversation_id: &ConversationId,
    ) -> Result<Conversation> {
        let conversation = self
            .store()
            .conversation(conversation_id)
            .await?
            .ok_or(ChatError::NotFound)?;
        if conversation.participant_ids.iter().any(|p| p == user_id) {
            Ok(conversation)
        } else {
            Err(ChatError::NotFound)
        }
    }

    pub async fn is_participant(
        &self,
        conversation_id: &ConversationId,
        user_id: &UserId,
    ) -> Result<bool> {
        self.store().is_participant(conversation_id, user_id).await
    }

    /// Stores a message and publishes `message.sent`. Sending again with the same `client_id`
    /// returns the stored message (`false`: nothing new was sent).
    pub async fn send_message(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        message: NewMessage,
    ) -> Result<(Message, bool)> {
        let body = message.body;
        // A message carrying attachments may go without words.
        if message.attachments.is_empty() || !body.is_empty() {
            self.check_body(&body)?;
        }
        let client_id = message.client_id.filter(|c| !c.is_empty());
        if client_id.as_ref().is_some_and(|c| c.len() > MAX_CLIENT_ID) {
            return Err(ChatError::Invalid(format!(
                "client_id must be at most {MAX_CLIENT_ID} bytes"
            )));
        }
        // What sending needs (not the participant list conversation_for reads), usually
        // without asking the database.
        let conversation = self.membership(conversation_id, &by.user_id).await?;
        // A retry of a plain message is found by the insert itself (the client_id is unique
        // per sender and conversation); one referring to other messages or carrying
        // attachments is looked up first, so it is answered even if those are gone since.
        let refers = message.thread_root.is_some()
            || message.reply_to.is_some()
            || !message.attachments.is_empty();
        if let Some(client_id) = client_id.as_ref().filter(|_| refers) {
            if let Some(existing) = self
                .store()
                .message_by_client_id(conversation_id, &by.user_id, client_id, &conversation.epoch)
                .await?
            {
                return Ok((existing, false));
            }
        }
        let thread_root = match &message.thread_root {
            Some(root) => {
                let root = self
                    .referenced(&conversation.id, &conversation.epoch, root)
                    .await?;
                // Threads are one level deep: a reply to a reply goes to the same thread.
                Some(root.thread_root.unwrap_or(root.id))
            }
            None => None,
        };
        if let Some(quoted) = &message.reply_to {
            self.referenced(&conversation.id, &conversation.epoch, quoted)
                .await?;
        }
        let (mut message_type, search_terms) = if conversation.encrypted {
            (model::CIPHERTEXT, None)
        } else {
            let language = self.language(&conversation.community_id).await;
            (model::TEXT, Some(Terms::new(language).of_text(&body)))
        };
        let metadata = if message.attachments.is_empty() {
            None
        } else {
            let (metadata, kind) = self.describe_attachments(by, &message.attachments).await?;
            if !conversation.encrypted {
                message_type = kind;
            }
            Some(metadata)
        };
        let lock = self
            .inner
            .send_locks
            .entry(conversation_id.clone())
            .or_default()
            .clone();
        let _ordered = lock.lock().await;
        let message_attachments = message.attachments;
        let new = NewMessageRow {
            conversation_id: conversation.id.clone(),
            epoch: conversation.epoch.clone(),
            id: MessageId::new(),
            sender_id: by.user_id.clone(),
            body,
            client_id: client_id.clone(),
            message_type: message_type.to_owned(),
            metadata,
            reply_to: message.reply_to,
            thread_root,
            search_terms,
            // Both backends keep microseconds: the reply must equal what is read back later.
            now: Utc::now().trunc_subsecs(6),
        };
        let writer = self
            .inner
            .writer
            .get_or_init(|| MessageWriter::spawn(self.inner.store.clone()));
        let stored = writer.store(new).await?;
        let message = match stored {
            Some(message) => message,
            None => {
                // A concurrent retry with the same client_id stored it first.
                let client_id = client_id.as_deref().unwrap_or_default();
                let existing = self
                    .store()
                    .message_by_client_id(
                        conversation_id,
                        &by.user_id,
                        client_id,
                        &conversation.epoch,
                    )
                    .await?
                    .ok_or(ChatError::NotFound)?;
                return Ok((existing, false));
            }
        };
        // Recorded before the message is announced: whoever sees it may open what it carries.
        self.record_attachments(conversation_id, &message.id, &message_attachments)
            .await?;
        self.inner.bus.publish(ChatEvent::message_sent(
            by,
            &conversation.community_id,
            &message,
        ));
        drop(_ordered);
        if !conversation.encrypted {
            self.notify_mentions(by, &conversation.community_id, &message)
                .await;
        }
        Ok((message, true))
    }

    /// A body must have something in it and fit the limit.
    pub(super) fn check_body(&self, body: &str) -> Result<()> {
        if super::body::is_blank(body) {
            return Err(ChatError::EmptyBody);
        }
        if body.chars().count() > self.inner.config.max_body_chars {
            return Err(ChatError::BodyTooLong(self.inner.config.max_body_chars));
        }
        Ok(())
    }

    /// A message of the conversation that another refers to; `Invalid` when there is none.
    async fn referenced(
        &self,
        conversation_id: &ConversationId,
        epoch: &str,
        id: &MessageId,
    ) -> Result<Message> {
        self.store()
            .message(conversation_id, epoch, id)
            .await?
            .ok_or_else(|| ChatError::Invalid(format!("no message {id} in this conversation")))
    }

    /// A page of the main timeline (thread replies are in their thread), newest first,
    /// before offset `before`.
    pub async fn messages(
        &self,
        of: &Principal,
        conversation_id: &ConversationId,
        before: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<Message>> {
        let conversation = self.conversation_for(&of.user_id, conversation_id).await?;
        let limit = limit.unwrap_or(50).clamp(1, 200);
        self.store()
            .messages(conversation_id, &conversation.epoch, before, limit)
            .await
    }

    /// Every conversation of a community, oldest first: the operator's export, not scoped
    /// to a principal.
    pub async fn community_conversations(
        &self,
        community_id: &CommunityId,
    ) -> Result<Vec<Conversation>> {
        self.store().conversations_in(community_id).await
    }

    /// Messages with offsets in `(after, up_to]`, oldest first, for recovery; at most `limit`.
    pub async fn messages_between(
        &self,
        conversation: &Conversation,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        self.messages_in_range(&conversation.id, &conversation.epoch, after, up_to, limit)
            .await
    }

    /// As [`ChatService::messages_between`] by id and epoch: for filling a live gap (not
    /// scoped to a principal: the hub's subscribers were authorised when they joined).
    pub async fn messages_in_range(
        &self,
        conversation_id: &ConversationId,
        epoch: &str,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        self.store()
            .messages_between(conversation_id, epoch, after, up_to, limit)
            .await
    }

    /// Removes a participant: the user themself (leaving), or anyone, by a group's admin.
    pub async fn remove_participant(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        user_id: &UserId,
    ) -> Result<()> {
        let conversation = self.conversation_for(&by.user_id, conversation_id).await?;
        if by.role == Role::Guest && by.user_id != *user_id {
            return Err(ChatError::GuestsMayNot("remove other participants"));
        }
        if conversation.kind == ConversationKind::Direct && by.user_id != *user_id {
            return Err(ChatError::Forbidden);
        }
        if by.user_id != *user_id {
            let roles = self.store().roles(conversation_id).await?;
            let admin = roles
                .iter()
                .any(|(id, role)| *id == by.user_id && role == super::membership::ADMIN);
            if !admin {
                return Err(ChatError::GroupAdminsOnly("remove other participants"));
            }
        }
        let removed = self
            .store()
            .remove_participant(conversation_id, user_id)
            .await?;
        self.members_changed(conversation_id);
        if !removed {
            return Err(ChatError::NotFound);
        }
        self.inner
            .bus
            .publish(ChatEvent::participant_removed(by, &conversation, user_id));
        // A group is never left without an admin: the longest-standing participant becomes one.
        let roles = self.store().roles(conversation_id).await?;
        if conversation.kind == ConversationKind::Group
            && !roles
                .iter()
                .any(|(_, role)| role == super::membership::ADMIN)
        {
            if let Some((heir, _)) = roles.first() {
                self.store()
                    .set_role(conversation_id, heir, super::membership::ADMIN)
                    .await?;
                self.members_changed(conversation_id);
                let now = self.conversation_for(heir, conversation_id).await?;
                self.inner
                    .bus
                    .publish(ChatEvent::conversation_updated(by, &now));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{Fixture, PASSWORD};

    fn group(with: &[&Principal]) -> NewConversation {
        NewConversation {
            kind: ConversationKind::Group,
            name: Some("Family".into()),
            participant_ids: with.iter().map(|p| p.user_id.clone()).collect(),
            encrypted: false,
        }
    }

    fn message(body: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            body: body.into(),
            client_id: client_id.map(Into::into),
            ..Default::default()
        }
    }

    /// An admin and two members of one community.
    async fn people(fx: &Fixture) -> (Principal, Principal, Principal) {
        let admin = fx.sign_up("admin@example.org", None).await;
        let ana = fx.invited(&admin, "ana@example.org", Role::Member).await;
        let bia = fx.invited(&admin, "bia@example.org", Role::Member).await;
        (admin, ana, bia)
    }

    #[tokio::test]
    async fn only_participants_read_or_write_a_conversation() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let (admin, ana, bia) = people(&fx).await;
        let conversation = chat
            .create_conversation(&admin, group(&[&ana]))
            .await
            .unwrap();
        let mut participants = conversation.participant_ids.clone();
        participants.sort();
        let mut expected = [admin.user_id.clone(), ana.user_id.clone()];
        expected.sort();
        assert_eq!(participants, expected);
        let id = &conversation.id;
        chat.send_message(&ana, id, message("hi", None))
            .await
            .unwrap();

        // Bia is in the community but not in the conversation: it does not exist for her.
        let send = chat.send_message(&bia, id, message("me too", None)).await;
        assert!(matches!(send, Err(ChatError::NotFound)), "{send:?}");
        let read = chat.messages(&bia, id, None, None).await;
        assert!(matches!(read, Err(ChatError::NotFound)), "{read:?}");
        let look = chat.conversation_for(&bia.user_id, id).await;
        assert!(matches!(look, Err(ChatError::NotFound)), "{look:?}");
        let remove = chat.remove_participant(&bia, id, &ana.user_id).await;
        assert!(matches!(remove, Err(ChatError::NotFound)), "{remove:?}");
        assert!(chat.conversations(&bia).await.unwrap().is_empty());

        // Once Ana leaves, the same holds for her.
        chat.remove_participant(&ana, id, &ana.user_id)
            .await
            .unwrap();
        let after = chat
            .send_message(&ana, id, message("still here?", None))
            .await;
        assert!(matches!(after, Err(ChatError::NotFound)), "{after:?}");
        assert_eq!(
            chat.messages(&admin, id, None, None).await.unwrap().len(),
            1
        );
    }

    #[tokio::test]
    async fn a_removal_through_another_node_reaches_this_nodes_remembered_members() {
        let fx = Fixture::new().await;
        // Two services on one database and bus: two nodes.
        let (here, there) = (fx.chat(), fx.chat());
        here.spawn_feed();
        let (admin, ana, _) = people(&fx).await;
        let id = here
            .create_conversation(&admin, group(&[&ana]))
            .await
            .unwrap()
            .id;
        // Ana's membership is now remembered here.
        here.send_message(&ana, &id, message("olá", None))
            .await
            .unwrap();
        there
            .remove_participant(&admin, &id, &ana.user_id)
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match here.send_message(&ana, &id, message("ainda?", None)).await {
                Err(ChatError::NotFound) => break,
                other => assert!(
                    std::time::Instant::now() < deadline,
                    "still a participant here: {other:?}"
                ),
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn participants_come_from_the_callers_community_and_guests_start_nothing() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let (admin, ana, _) = people(&fx).await;
        let guest = fx.invited(&admin, "guest@example.org", Role::Guest).await;
        let stranger = fx
            .auth
            .create_user("x@example.org", PASSWORD.into(), Role::Admin, "Elsewhere")
            .await
            .unwrap();
        let outsider = NewConversation {
            participant_ids: vec![stranger.id],
            ..group(&[])
        };
        let refused = chat.create_conversation(&admin, outsider).await;
        assert!(matches!(refused, Err(ChatError::Invalid(_))), "{refused:?}");
        let by_guest = chat.create_conversation(&guest, group(&[&ana])).await;
        assert!(
            matches!(by_guest, Err(ChatError::GuestsMayNot(_))),
            "{by_guest:?}"
        );
        // A guest who was added may leave but not remove others.
        let with_guest = chat
            .create_conversation(&admin, group(&[&ana, &guest]))
            .await
            .unwrap();
        let removal = chat
            .remove_participant(&guest, &with_guest.id, &ana.user_id)
            .await;
        assert!(
            matches!(removal, Err(ChatError::GuestsMayNot(_))),
            "{removal:?}"
        );
        chat.remove_participant(&guest, &with_guest.id, &guest.user_id)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_client_id_makes_sending_idempotent() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let (admin, ana, _) = people(&fx).await;
        let id = chat
            .create_conversation(&admin, group(&[&ana]))
            .await
            .unwrap()
            .id;
        let (first, new) = chat
            .send_message(&ana, &id, message("hello", Some("k1")))
            .await
            .unwrap();
        assert!(new);
        // A retry, even with another body, returns what was stored and sends nothing new.
        let (again, new) = chat
            .send_message(&ana, &id, message("hello?", Some("k1")))
            .await
            .unwrap();
        assert!(!new);
        assert_eq!(again, first);
        // The same key from someone else is their own message.
        let (theirs, new) = chat
            .send_message(&admin, &id, message("hello", Some("k1")))
            .await
            .unwrap();
        assert!(new);
        assert_eq!(theirs.offset, 2);
        // No key, no deduplication; an empty key is no key.
        for _ in 0..2 {
            let (_, new) = chat
                .send_message(&ana, &id, message("again", Some("")))
                .await
                .unwrap();
            assert!(new);
        }
        let too_long = "k".repeat(MAX_CLIENT_ID + 1);
        let refused = chat
            .send_message(&ana, &id, message("x", Some(&too_long)))
            .await;
        assert!(matches!(refused, Err(ChatError::Invalid(_))), "{refused:?}");
        let conversation = chat.conversation_for(&ana.user_id, &id).await.unwrap();
        assert_eq!(conversation.last_offset, 4);
    }

    #[tokio::test]
    async fn offsets_grow_per_conversation_and_history_pages_by_them() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let (admin, ana, bia) = people(&fx).await;
        let one = chat
            .create_conversation(&admin, group(&[&ana]))
            .await
            .unwrap();
        let two = chat
            .create_conversation(&admin, group(&[&bia]))
            .await
            .unwrap();
        for n in 1..=4u64 {
            let (sent, _) = chat
                .send_message(&admin, &one.id, message(&format!("m{n}"), None))
                .await
                .unwrap();
            assert_eq!((sent.offset, &sent.epoch), (n, &one.epoch));
        }
        let (elsewhere, _) = chat
            .send_message(&bia, &two.id, message("first here", None))
            .await
            .unwrap();
        assert_eq!(elsewhere.offset, 1);

        let page = chat.messages(&ana, &one.id, None, Some(2)).await.unwrap();
        let offsets: Vec<u64> = page.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, [4, 3]);
        let older = chat.messages(&ana, &one.id, Some(3), None).await.unwrap();
        let bodies: Vec<&str> = older.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["m2", "m1"]);
        let recovered = chat.messages_between(&one, 2, 4, 10).await.unwrap();
        let offsets: Vec<u64> = recovered.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, [3, 4]);
    }

    #[tokio::test]
    async fn a_direct_conversation_is_reused() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let (admin, ana, bia) = people(&fx).await;
        let direct = |with: &Principal| NewConversation {
            kind: ConversationKind::Direct,
            name: None,
            participant_ids: vec![with.user_id.clone()],
            encrypted: false,
        };
        let first = chat
            .create_conversation(&admin, direct(&ana))
            .await
            .unwrap();
        let back = chat
            .create_conversation(&ana, direct(&admin))
            .await
            .unwrap();
        assert_eq!(back.id, first.id);
        let other = chat
            .create_conversation(&admin, direct(&bia))
            .await
            .unwrap();
        assert_ne!(other.id, first.id);
        let removal = chat
            .remove_participant(&admin, &first.id, &ana.user_id)
            .await;
        assert!(matches!(removal, Err(ChatError::Forbidden)), "{removal:?}");
    }
}
