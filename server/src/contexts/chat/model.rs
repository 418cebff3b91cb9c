//! Chat's domain types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use serde_json::{Map, Value};

use crate::ids::{CommunityId, ConversationId, MessageId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationKind {
    Direct,
    Group,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Direct => "direct",
            ConversationKind::Group => "group",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Conversation {
    pub id: ConversationId,
    pub community_id: CommunityId,
    pub kind: ConversationKind,
    pub name: Option<String>,
    pub participant_ids: Vec<UserId>,
    /// Recovery position of the conversation topic: its epoch and newest offset.
    pub epoch: String,
    pub last_offset: u64,
    pub created_at: DateTime<Utc>,
    /// Bodies are ciphertext only the participants' devices read: not indexed, no previews.
    #[serde(default)]
    pub encrypted: bool,
}

/// A stored message, exactly as replies, broadcasts and history present it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    pub body: String,
    pub client_id: Option<String>,
    pub inserted_at: DateTime<Utc>,
    pub epoch: String,
    /// Strictly increasing within the conversation.
    pub offset: u64,
    /// `text` unless said otherwise (`photo`, `file`, `ciphertext`).
    #[serde(default = "text_type", skip_serializing_if = "is_text")]
    pub message_type: String,
    /// JSON the message carries besides its body (attachments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The message this one quotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// The thread this message is a reply in (its first message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_root: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<DateTime<Utc>>,
    /// A deleted message is a tombstone: its body is gone (empty) from storage and index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

fn text_type() -> String {
    TEXT.to_string()
}

fn is_text(kind: &str) -> bool {
    kind == TEXT
}

/// The `message_type` of a plain message.
pub const TEXT: &str = "text";
/// The `message_type` of a message in an encrypted conversation.
pub const CIPHERTEXT: &str = "ciphertext";

/// What happened to a message after it was sent, at its own offset of the conversation:
/// pushed on `conversation:{id}` as `event` with this as payload, replayed by recovery.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Activity {
    /// The push event: `reaction`, `message_edited` or `message_deleted`.
    pub event: String,
    pub conversation_id: ConversationId,
    pub epoch: String,
    pub offset: u64,
    pub message_id: MessageId,
    /// Who acted.
    pub user_id: UserId,
    pub at: DateTime<Utc>,
    /// The event's own fields (`emoji` and `added`; `body` and `edited_at`).
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    pub kind: ConversationKind,
    pub name: Option<String>,
    /// Other participants; the creator is always included.
    pub participant_ids: Vec<UserId>,
    /// End-to-end encrypted by the clients (fixed for the conversation's life).
    #[serde(default)]
    pub encrypted: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct NewMessage {
    pub body: String,
    pub client_id: Option<String>,
    /// Quote this message of the same conversation.
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    /// Reply in the thread of this message of the same conversation.
    #[serde(default)]
    pub thread_root: Option<MessageId>,
    /// Photos and files the sender can read (the body may then be empty).
    #[serde(default)]
    pub attachments: Vec<super::attachments::AttachmentRef>,
}

/// One emoji on a message: how many reacted with it and who.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReactionCount {
    pub emoji: String,
    pub user_ids: Vec<UserId>,
}

/// The replies in a message's thread.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ThreadSummary {
    pub reply_count: u64,
    /// The newest reply's offset.
    pub last_offset: u64,
}

/// A stored message with what others did to it, as history shows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MessageView {
    #[serde(flatten)]
    pub message: Message,
    pub reactions: Vec<ReactionCount>,
    pub thread: Option<ThreadSummary>,
}

/// One participant's read position.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReadState {
    pub user_id: UserId,
    /// The newest offset they have read.
    pub offset: u64,
}

/// A conversation with the viewer's unread count.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConversationView {
    #[serde(flatten)]
    pub conversation: Conversation,
    /// The viewer's read position.
    pub last_read_offset: u64,
    /// Messages of others after it (deleted ones not counted).
    pub unread_count: u64,
}
