//! Chat's GraphQL part: `conversations`, `messages`, `createConversation`, `sendMessage` and
//! the `messageReceived` subscription with recovery (`since`).

use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use taina_protocol::ErrorCode;
use tokio::sync::broadcast::error::RecvError;

use super::{
    ChatError, ChatService, Conversation, ConversationKind, FeedItem, Message, NewConversation,
    NewMessage,
};
use crate::config::Config;
use crate::graphql::{principal, GqlError};
use crate::ids::ConversationId;

type Result<T, E = GqlError> = std::result::Result<T, E>;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ConversationKind")]
pub enum GqlConversationKind {
    Direct,
    Group,
}

#[derive(SimpleObject)]
#[graphql(name = "Conversation")]
pub struct GqlConversation {
    id: String,
    community_id: String,
    kind: GqlConversationKind,
    name: Option<String>,
    participant_ids: Vec<String>,
    epoch: String,
    last_offset: u64,
    created_at: DateTime<Utc>,
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
        }
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "Message")]
pub struct GqlMessage {
    id: String,
    conversation_id: String,
    sender_id: String,
    body: String,
    client_id: Option<String>,
    inserted_at: DateTime<Utc>,
    epoch: String,
    offset: u64,
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
        }
    }
}

/// A page of history, newest first; pass `nextBefore` as `before` for the next page.
#[derive(SimpleObject)]
pub struct MessagePage {
    messages: Vec<GqlMessage>,
    next_before: Option<u64>,
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
    /// Conversations the caller takes part in.
    async fn conversations(&self, ctx: &Context<'_>) -> Result<Vec<GqlConversation>> {
        let principal = principal(ctx)?;
        let list = ctx
            .data_unchecked::<ChatService>()
            .conversations(principal)
            .await?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// History, newest first, before offset `before` (participants only).
    async fn messages(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        before: Option<u64>,
        #[graphql(validator(minimum = 1, maximum = 200))] limit: Option<u32>,
    ) -> Result<MessagePage> {
        let principal = principal(ctx)?;
        let messages = ctx
            .data_unchecked::<ChatService>()
            .messages(principal, &conversation_id.into(), before, limit)
            .await?;
        let next_before = messages.last().map(|m| m.offset);
        Ok(MessagePage {
            messages: messages.into_iter().map(Into::into).collect(),
            next_before,
        })
    }
}

#[derive(Default)]
pub struct ChatMutation;

#[Object]
impl ChatMutation {
    async fn create_conversation(
        &self,
        ctx: &Context<'_>,
        kind: GqlConversationKind,
        name: Option<String>,
        participant_ids: Vec<String>,
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
                },
            )
            .await?;
        Ok(conversation.into())
    }

    /// Stores and broadcasts a message; the same `clientId` again returns the stored one.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        body: String,
        client_id: Option<String>,
    ) -> Result<GqlMessage> {
        let principal = principal(ctx)?;
        let (message, _) = ctx
            .data_unchecked::<ChatService>()
            .send_message(
                principal,
                &conversation_id.into(),
                NewMessage { body, client_id },
            )
            .await?;
        Ok(message.into())
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

#[Subscription]
impl ChatSubscription {
    /// New messages of a conversation (participants only). With `since`, the messages after
    /// that position come first, in order, then live ones: none missed, none twice. When the
    /// gap cannot be served, the first item is an error with code `not_recovered`.
    async fn message_received(
        &self,
        ctx: &Context<'_>,
        conversation_id: String,
        since: Option<SinceInput>,
    ) -> Result<impl Stream<Item = Result<GqlMessage>>> {
        let principal = principal(ctx)?.clone();
        let chat = ctx.data_unchecked::<ChatService>().clone();
        let max = ctx
            .data_unchecked::<Arc<Config>>()
            .realtime
            .recovery_max_messages;
        // Subscribe before reading the position so nothing falls between the two.
        let conversation_id = ConversationId::from(conversation_id);
        let mut feed = chat.watch(&conversation_id);
        let conversation = chat
            .conversation_for(&principal.user_id, &conversation_id)
            .await?;
        Ok(async_stream::stream! {
            let mut last = conversation.last_offset;
            if let Some(since) = since {
                let gap = conversation.last_offset.saturating_sub(since.offset);
                if since.epoch != conversation.epoch || gap > u64::from(max) {
                    yield Err(not_recovered());
                } else if gap > 0 {
                    match chat.messages_between(&conversation, since.offset, conversation.last_offset, max).await {
                        Ok(missed) if missed.len() as u64 == gap => {
                            for message in missed {
                                yield Ok(GqlMessage::from(message));
                            }
                        }
                        Ok(_) => yield Err(not_recovered()),
                        Err(e) => yield Err(e.into()),
                    }
                }
            }
            loop {
                match feed.recv().await {
                    Ok(FeedItem::Message(message)) => {
                        if message.offset <= last {
                            continue;
                        }
                        if message.offset > last + 1 {
                            // Something was missed (the feed lagged): fill the gap from storage.
                            match chat.messages_between(&conversation, last, message.offset - 1, max).await {
                                Ok(missed) => for m in missed { yield Ok(GqlMessage::from(m)); },
                                Err(e) => { yield Err(e.into()); break; }
                            }
                        }
                        last = message.offset;
                        yield Ok(GqlMessage::from(Message::clone(&message)));
                    }
                    Ok(FeedItem::ParticipantRemoved(user_id)) if user_id == principal.user_id => {
                        yield Err(ChatError::NotFound.into());
                        break;
                    }
                    Ok(FeedItem::ParticipantRemoved(_)) => {}
                    Err(RecvError::Lagged(_)) => {
                        tracing::warn!(conversation = %conversation.id, "messageReceived lagged; refilling from storage");
                        match chat.conversation_for(&principal.user_id, &conversation.id).await {
                            Ok(now) => {
                                if let Ok(missed) = chat.messages_between(&conversation, last, now.last_offset, max).await {
                                    for m in missed {
                                        last = m.offset;
                                        yield Ok(GqlMessage::from(m));
                                    }
                                }
                            }
                            Err(e) => { yield Err(e.into()); break; }
                        }
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
