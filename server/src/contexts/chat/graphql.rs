//! Chat's GraphQL part: conversations with unread counts, history, threads, search, the
//! mutations on messages (send, react, edit, delete, mark read), and the `messageReceived`
//! (with recovery, `since`) and `messageActivity` subscriptions.

use std::sync::Arc;

use async_graphql::{
    ComplexObject, Context, Enum, InputObject, Object, SimpleObject, Subscription, ID,
};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use taina_protocol::ErrorCode;
use tokio::sync::broadcast::error::RecvError;

use super::attachments::{AttachmentKind, AttachmentRef};
use super::subscription_groups::Render;
use super::{
    Activity, ChatError, ChatService, Conversation, ConversationKind, ConversationView, FeedItem,
    LogEntry, Message, MessageView, NewConversation, NewMessage, SearchFilter,
};
use crate::config::Config;
use crate::graphql::{principal, GqlError};
use crate::ids::{ConversationId, UserId};
use crate::socket::{Handover, Served};

type Result<T, E = GqlError> = std::result::Result<T, E>;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ConversationKind")]
pub enum GqlConversationKind {
    Direct,
    Group,
}

#[derive(SimpleObject)]
#[graphql(name = "Conversation", complex)]
pub struct GqlConversation {
    id: String,
    community_id: String,
    kind: GqlConversationKind,
    name: Option<String>,
    participant_ids: Vec<String>,
    epoch: String,
    last_offset: u64,
    created_at: DateTime<Utc>,
    /// Bodies are ciphertext the server cannot read; search and previews are off.
    encrypted: bool,
    /// The caller's read position.
    last_read_offset: u64,
    /// Messages of others after the caller's read position (deleted ones not counted).
    unread_count: u64,
}

#[ComplexObject]
impl GqlConversation {
    /// Participants with their group roles.
    async fn participants(&self, ctx: &Context<'_>) -> Result<Vec<GqlParticipant>> {
        let principal = principal(ctx)?;
        let roles = ctx
            .data_unchecked::<ChatService>()
            .participant_roles(principal, &self.id.clone().into())
            .await?;
        Ok(roles
            .into_iter()
            .map(|(user_id, role)| GqlParticipant {
                user_id: user_id.into(),
                role,
            })
            .collect())
    }

    /// Every participant's read position.
    async fn read_states(&self, ctx: &Context<'_>) -> Result<Vec<GqlReadState>> {
        let principal = principal(ctx)?;
        let states = ctx
            .data_unchecked::<ChatService>()
            .read_states(principal, &self.id.clone().into())
            .await?;
        Ok(states
            .into_iter()
            .map(|s| GqlReadState {
                user_id: s.user_id.into(),
                offset: s.offset,
            })
            .collect())
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Participant")]
pub struct GqlParticipant {
    user_id: String,
    /// `admin` or `member` (a direct conversation's two are both admins of nothing).
    role: String,
}

#[derive(SimpleObject)]
#[graphql(name = "ReadState")]
pub struct GqlReadState {
    user_id: String,
    offset: u64,
}

impl From<Conversation> for GqlConversation {
    fn from(c: Conversation) -> Self {
        GqlConversation {
            id: c.id.into_string(),
            community_id: c.community_id.into(),
            kind: match c.kind {
                ConversationKind::Direct => GqlConversationKind::Direct,
                ConversationKind::Group => GqlConversationKind::Group,
            },
            name: c.name,
            participant_ids: c.participant_ids.into_iter().map(Into::into).collect(),
            epoch: c.epoch,
            last_offset: c.last_offset,
            created_at: c.created_at,
            encrypted: c.encrypted,
            last_read_offset: 0,
            unread_count: 0,
        }
    }
}

impl From<ConversationView> for GqlConversation {
    fn from(view: ConversationView) -> Self {
        GqlConversation {
            last_read_offset: view.last_read_offset,
            unread_count: view.unread_count,
            ..view.conversation.into()
        }
    }
}

/// One emoji on a message and who reacted with it.
#[derive(SimpleObject, Clone)]
#[graphql(name = "Reaction")]
pub struct GqlReaction {
    emoji: String,
    count: u64,
    user_ids: Vec<String>,
}

/// The replies in a message's thread.
#[derive(SimpleObject, Clone)]
#[graphql(name = "ThreadSummary")]
pub struct GqlThreadSummary {
    reply_count: u64,
    last_offset: u64,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "Message")]
pub struct GqlMessage {
    id: String,
    conversation_id: String,
    sender_id: String,
    /// Empty once deleted.
    body: String,
    client_id: Option<String>,
    inserted_at: DateTime<Utc>,
    epoch: String,
    offset: u64,
    /// `text`, or `ciphertext` in an encrypted conversation.
    message_type: String,
    /// JSON the message carries besides its body.
    metadata: Option<String>,
    /// The message this one quotes.
    reply_to: Option<String>,
    /// The thread this message is a reply in.
    thread_root: Option<String>,
    edited: bool,
    edited_at: Option<DateTime<Utc>>,
    deleted: bool,
    deleted_at: Option<DateTime<Utc>>,
    reactions: Vec<GqlReaction>,
    /// On a thread's first message: its replies.
    thread: Option<GqlThreadSummary>,
}

impl From<Message> for GqlMessage {
    fn from(m: Message) -> Self {
        GqlMessage {
            id: m.id.into(),
            conversation_id: m.conversation_id.into(),
            sender_id: m.sender_id.into(),
            body: m.body,
            client_id: m.client_id,
            inserted_at: m.inserted_at,
            epoch: m.epoch,
            offset: m.offset,
            message_type: m.message_type,
            metadata: m.metadata.map(|v| v.to_string()),
            reply_to: m.reply_to.map(Into::into),
            thread_root: m.thread_root.map(Into::into),
            edited: m.edited_at.is_some(),
            edited_at: m.edited_at,
            deleted: m.deleted_at.is_some(),
            deleted_at: m.deleted_at,
            reactions: Vec::new(),
            thread: None,
        }
    }
}

impl From<MessageView> for GqlMessage {
    fn from(view: MessageView) -> Self {
        GqlMessage {
            reactions: view
                .reactions
                .into_iter()
                .map(|r| GqlReaction {
                    emoji: r.emoji,
                    count: r.user_ids.len() as u64,
                    user_ids: r.user_ids.into_iter().map(Into::into).collect(),
                })
                .collect(),
            thread: view.thread.map(|t| GqlThreadSummary {
                reply_count: t.reply_count,
                last_offset: t.last_offset,
            }),
            ..view.message.into()
        }
    }
}

/// A reaction, edit or delete, as `messageActivity` streams it and mutations return it.
#[derive(SimpleObject, Clone)]
#[graphql(name = "MessageActivity")]
pub struct GqlActivity {
    /// `reaction`, `message_edited` or `message_deleted`.
    event: String,
    conversation_id: String,
    message_id: String,
    user_id: String,
    epoch: String,
    offset: u64,
    at: DateTime<Utc>,
    emoji: Option<String>,
    /// For a reaction: added (true) or taken away.
    added: Option<bool>,
    /// For an edit: the new body.
    body: Option<String>,
}

impl From<Activity> for GqlActivity {
    fn from(a: Activity) -> Self {
        let text = |key: &str| {
            a.details
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        GqlActivity {
            emoji: text("emoji"),
            added: a.details.get("added").and_then(|v| v.as_bool()),
            body: text("body"),
            event: a.event,
            conversation_id: a.conversation_id.into(),
            message_id: a.message_id.into(),
            user_id: a.user_id.into(),
            epoch: a.epoch,
            offset: a.offset,
            at: a.at,
        }
    }
}

/// An earlier body of an edited message.
#[derive(SimpleObject)]
pub struct MessageEdit {
    body: String,
    replaced_at: DateTime<Utc>,
}

/// A page of history, newest first; pass `nextBefore` as `before` for the next page.
#[derive(SimpleObject)]
pub struct MessagePage {
    messages: Vec<GqlMessage>,
    next_before: Option<u64>,
}

/// One search match.
#[derive(SimpleObject)]
pub struct SearchResult {
    id: String,
    conversation_id: String,
    sender_id: String,
    body: String,
    inserted_at: DateTime<Utc>,
    epoch: String,
    offset: u64,
    thread_root: Option<String>,
    /// Part of the body around the match, HTML-escaped, with `<mark>` around matching words.
    snippet: String,
}

#[derive(SimpleObject)]
pub struct SearchPageInfo {
    has_next_page: bool,
    /// Pass as `after` for the next page.
    end_cursor: Option<String>,
}

/// Matches, best first.
#[derive(SimpleObject)]
pub struct SearchConnection {
    nodes: Vec<SearchResult>,
    page_info: SearchPageInfo,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AttachmentKind")]
pub enum GqlAttachmentKind {
    Photo,
    File,
}

/// A photo (media) or a file (files) a message carries.
#[derive(InputObject)]
pub struct AttachmentInput {
    kind: GqlAttachmentKind,
    id: String,
}

/// Where a client was: resume after this position.
#[derive(InputObject)]
pub struct SinceInput {
    epoch: String,
    offset: u64,
}

#[derive(Default)]
pub struct ChatQuery;

#[Object]
impl ChatQuery {
    /// Conversations the caller takes part in, with unread counts.
    async fn conversations(&self, ctx: &Context<'_>) -> Result<Vec<GqlConversation>> {
        let principal = principal(ctx)?;
        let list = ctx
            .data_unchecked::<ChatService>()
            .conversations(principal)
            .await?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// The main timeline, newest first, before offset `before` (participants only); thread
    /// replies are in `thread`.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        before: Option<u64>,
        #[graphql(validator(minimum = 1, maximum = 200))] limit: Option<u32>,
    ) -> Result<MessagePage> {
        let principal = principal(ctx)?;
        let chat = ctx.data_unchecked::<ChatService>();
        let messages = chat
            .messages(principal, &conversation_id.into(), before, limit)
            .await?;
        let next_before = messages.last().map(|m| m.offset);
        let views = chat.views(messages).await?;
        Ok(MessagePage {
            messages: views.into_iter().map(Into::into).collect(),
            next_before,
        })
    }

    /// The replies in a message's thread, oldest first, after offset `after`.
    async fn thread(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        root_id: String,
        after: Option<u64>,
        #[graphql(validator(minimum = 1, maximum = 200))] limit: Option<u32>,
    ) -> Result<Vec<GqlMessage>> {
        let principal = principal(ctx)?;
        let replies = ctx
            .data_unchecked::<ChatService>()
            .thread(
                principal,
                &conversation_id.into(),
                &root_id.into(),
                after,
                limit,
            )
            .await?;
        Ok(replies.into_iter().map(Into::into).collect())
    }

    /// Earlier bodies of an edited message, oldest first.
    async fn message_edits(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        message_id: String,
    ) -> Result<Vec<MessageEdit>> {
        let principal = principal(ctx)?;
        let edits = ctx
            .data_unchecked::<ChatService>()
            .message_edits(principal, &conversation_id.into(), &message_id.into())
            .await?;
        Ok(edits
            .into_iter()
            .map(|(body, replaced_at)| MessageEdit { body, replaced_at })
            .collect())
    }

    /// Full-text search over the messages the caller can read: words match in any form
    /// (stemmed, accents ignored), `"quoted words"` as a phrase. Best first; page with
    /// `after` = the previous page's `pageInfo.endCursor`.
    #[allow(clippy::too_many_arguments, reason = "the query's filters")]
    async fn search_messages(
        &self,
        ctx: &Context<'_>,
        query: String,
        conversation_id: Option<ID>,
        sender_id: Option<ID>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        #[graphql(validator(minimum = 1, maximum = 100))] first: Option<u32>,
        after: Option<String>,
    ) -> Result<SearchConnection> {
        let principal = principal(ctx)?;
        let skip: u32 = match after.as_deref() {
            Some(cursor) => cursor.parse().map_err(|_| {
                GqlError::new(
                    ErrorCode::InvalidInput,
                    "after is not a cursor of this search",
                )
            })?,
            None => 0,
        };
        let first = first.unwrap_or(20);
        let filter = SearchFilter {
            conversation_id: conversation_id.map(|id| id.to_string().into()),
            sender_id: sender_id.map(|id| id.to_string().into()),
            from,
            to,
            ..SearchFilter::for_user(principal.user_id.clone())
        };
        let mut hits = ctx
            .data_unchecked::<ChatService>()
            .search_messages(principal, &query, filter, skip, first + 1)
            .await?;
        let has_next_page = hits.len() > first as usize;
        hits.truncate(first as usize);
        let end_cursor = (!hits.is_empty()).then(|| (skip + hits.len() as u32).to_string());
        Ok(SearchConnection {
            nodes: hits
                .into_iter()
                .map(|hit| SearchResult {
                    id: hit.message.id.into(),
                    conversation_id: hit.message.conversation_id.into(),
                    sender_id: hit.message.sender_id.into(),
                    body: hit.message.body,
                    inserted_at: hit.message.inserted_at,
                    epoch: hit.message.epoch,
                    offset: hit.message.offset,
                    thread_root: hit.message.thread_root.map(Into::into),
                    snippet: hit.snippet,
                })
                .collect(),
            page_info: SearchPageInfo {
                has_next_page,
                end_cursor,
            },
        })
    }
}

#[derive(Default)]
pub struct ChatMutation;

#[Object]
impl ChatMutation {
    /// `encrypted`: bodies will be ciphertext made by the clients (see docs/chat.md).
    async fn create_conversation(
        &self,
        ctx: &Context<'_>,
        kind: GqlConversationKind,
        name: Option<String>,
        participant_ids: Vec<String>,
        #[graphql(default)] encrypted: bool,
    ) -> Result<GqlConversation> {
        let principal = principal(ctx)?;
        let kind = match kind {
            GqlConversationKind::Direct => ConversationKind::Direct,
            GqlConversationKind::Group => ConversationKind::Group,
        };
        let conversation = ctx
            .data_unchecked::<ChatService>()
            .create_conversation(
                principal,
                NewConversation {
                    kind,
                    name,
                    participant_ids: participant_ids.into_iter().map(Into::into).collect(),
                    encrypted,
                },
            )
            .await?;
        Ok(conversation.into())
    }

    /// Stores and broadcasts a message; the same `clientId` again returns the stored one.
    /// `replyTo` quotes a message; `threadRoot` replies in that message's thread;
    /// `attachments` are photos and files the caller can read (the body may then be empty).
    #[allow(clippy::too_many_arguments, reason = "the message's parts")]
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        body: String,
        client_id: Option<String>,
        reply_to: Option<String>,
        thread_root: Option<String>,
        #[graphql(default)] attachments: Vec<AttachmentInput>,
    ) -> Result<GqlMessage> {
        let principal = principal(ctx)?;
        let (message, _) = ctx
            .data_unchecked::<ChatService>()
            .send_message(
                principal,
                &conversation_id.into(),
                NewMessage {
                    body,
                    client_id,
                    reply_to: reply_to.map(Into::into),
                    thread_root: thread_root.map(Into::into),
                    attachments: attachments
                        .into_iter()
                        .map(|a| AttachmentRef {
                            kind: match a.kind {
                                GqlAttachmentKind::Photo => AttachmentKind::Photo,
                                GqlAttachmentKind::File => AttachmentKind::File,
                            },
                            id: a.id,
                        })
                        .collect(),
                },
            )
            .await?;
        Ok(message.into())
    }

    /// Adds the caller's emoji to a message, or takes it away when it is there.
    async fn react_to_message(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        message_id: String,
        emoji: String,
    ) -> Result<GqlActivity> {
        let principal = principal(ctx)?;
        let activity = ctx
            .data_unchecked::<ChatService>()
            .react(
                principal,
                &conversation_id.into(),
                &message_id.into(),
                &emoji,
            )
            .await?;
        Ok(activity.into())
    }

    /// Replaces the body of one of the caller's messages (earlier bodies are kept).
    async fn edit_message(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        message_id: String,
        body: String,
    ) -> Result<GqlActivity> {
        let principal = principal(ctx)?;
        let activity = ctx
            .data_unchecked::<ChatService>()
            .edit_message(
                principal,
                &conversation_id.into(),
                &message_id.into(),
                &body,
            )
            .await?;
        Ok(activity.into())
    }

    /// Deletes a message (its sender, or a group admin): a tombstone stays.
    async fn delete_message(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        message_id: String,
    ) -> Result<GqlActivity> {
        let principal = principal(ctx)?;
        let activity = ctx
            .data_unchecked::<ChatService>()
            .delete_message(principal, &conversation_id.into(), &message_id.into())
            .await?;
        Ok(activity.into())
    }

    /// Adds users of the caller's community to a group (its admins only).
    async fn add_participants(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        user_ids: Vec<String>,
    ) -> Result<GqlConversation> {
        let principal = principal(ctx)?;
        let ids: Vec<UserId> = user_ids.into_iter().map(Into::into).collect();
        let conversation = ctx
            .data_unchecked::<ChatService>()
            .add_participants(principal, &conversation_id.into(), &ids)
            .await?;
        Ok(conversation.into())
    }

    /// Leaves a conversation (`userId` = the caller), or removes someone (a group's admins).
    async fn remove_participant(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        user_id: String,
    ) -> Result<bool> {
        let principal = principal(ctx)?;
        ctx.data_unchecked::<ChatService>()
            .remove_participant(principal, &conversation_id.into(), &user_id.into())
            .await?;
        Ok(true)
    }

    /// Renames a group (its admins only); an empty name clears it.
    async fn rename_conversation(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        name: String,
    ) -> Result<GqlConversation> {
        let principal = principal(ctx)?;
        let conversation = ctx
            .data_unchecked::<ChatService>()
            .rename_conversation(principal, &conversation_id.into(), &name)
            .await?;
        Ok(conversation.into())
    }

    /// Makes a participant an admin of the group, or a member again (its admins only).
    async fn set_participant_role(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        user_id: String,
        admin: bool,
    ) -> Result<GqlConversation> {
        let principal = principal(ctx)?;
        let conversation = ctx
            .data_unchecked::<ChatService>()
            .set_participant_role(principal, &conversation_id.into(), &user_id.into(), admin)
            .await?;
        Ok(conversation.into())
    }

    /// Marks everything up to `offset` read; returns the caller's read position.
    async fn mark_read(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        offset: u64,
    ) -> Result<u64> {
        let principal = principal(ctx)?;
        Ok(ctx
            .data_unchecked::<ChatService>()
            .mark_read(principal, &conversation_id.into(), offset)
            .await?)
    }
}

#[derive(Default)]
pub struct ChatSubscription;

fn not_recovered() -> GqlError {
    GqlError::new(
        ErrorCode::NotRecovered,
        "the missed messages cannot be recovered: refetch the history",
    )
}

/// The messages of a log, in order.
fn messages_of(log: Vec<LogEntry>) -> impl Iterator<Item = GqlMessage> {
    log.into_iter().filter_map(|entry| match entry {
        LogEntry::Message(m) => Some(GqlMessage::from(m)),
        LogEntry::Activity(_) => None,
    })
}

#[Subscription]
impl ChatSubscription {
    /// Reactions, edits and deletes in a conversation from now on (participants only);
    /// each carries its offset, the same as on the socket's `conversation:` topic.
    async fn message_activity(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
    ) -> Result<impl Stream<Item = Result<GqlActivity>>> {
        let principal = principal(ctx)?.clone();
        let chat = ctx.data_unchecked::<ChatService>().clone();
        let conversation_id = ConversationId::from(conversation_id);
        let mut feed = chat.watch(&conversation_id);
        chat.conversation_for(&principal.user_id, &conversation_id)
            .await?;
        Ok(async_stream::stream! {
            loop {
                match feed.recv().await {
                    Ok(FeedItem::Activity(activity)) => yield Ok(GqlActivity::from(Activity::clone(&activity))),
                    Ok(FeedItem::ParticipantRemoved(user_id)) if user_id == principal.user_id => {
                        yield Err(ChatError::NotFound.into());
                        break;
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(conversation = %conversation_id, missed = n, "messageActivity lagged");
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    /// New messages of a conversation (participants only). With `since`, the messages after
    /// that position come first, in order, then live ones: none missed, none twice. When the
    /// gap cannot be served, the first item is an error with code `not_recovered`. Over the
    /// socket only, as its subscription's one root field; subscribers asking the same are
    /// served together (`subscription_groups`).
    async fn message_received(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        since: Option<SinceInput>,
    ) -> Result<impl Stream<Item = Result<GqlMessage>>> {
        // A group rendering one result for its members.
        if let Some(render) = ctx.data_opt::<Render>() {
            return Ok(futures_util::stream::iter(
                render.take().into_iter().collect::<Vec<_>>(),
            ));
        }
        let principal = principal(ctx)?.clone();
        let handover = ctx.data_opt::<Handover>().ok_or_else(|| {
            GqlError::new(
                ErrorCode::InvalidInput,
                "messageReceived runs over the socket, as its subscription's only root field",
            )
        })?;
        let chat = ctx.data_unchecked::<ChatService>();
        let max = ctx
            .data_unchecked::<Arc<Config>>()
            .realtime
            .recovery_max_messages;
        let conversation_id = ConversationId::from(conversation_id);
        // Join before reading the position so nothing falls between the two.
        let membership = chat.join_received(&conversation_id, &principal.user_id, handover, max);
        if !handover.operation.hand_over(membership.clone()) {
            // Completed by the client meanwhile.
            membership.stop();
            return Ok(futures_util::stream::iter(Vec::new()));
        }
        // On an error the operation ends, and with it the membership.
        let conversation = chat
            .conversation_for(&principal.user_id, &conversation_id)
            .await?;
        membership.set_position(&conversation.epoch, conversation.last_offset);
        let mut missed = Vec::new();
        if let Some(since) = since {
            let gap = conversation.last_offset.saturating_sub(since.offset);
            if since.epoch != conversation.epoch || gap > u64::from(max) {
                missed.push(Err(not_recovered()));
            } else if gap > 0 {
                // Offsets are messages and activity: storage must hold every one.
                let log = chat
                    .log_between(
                        &conversation.id,
                        &conversation.epoch,
                        since.offset,
                        conversation.last_offset,
                        max,
                    )
                    .await;
                match log {
                    Ok(log) if log.len() as u64 == gap => missed.extend(messages_of(log).map(Ok)),
                    Ok(_) => missed.push(Err(not_recovered())),
                    Err(e) => missed.push(Err(e.into())),
                }
            }
        }
        Ok(futures_util::stream::iter(missed))
    }
}
