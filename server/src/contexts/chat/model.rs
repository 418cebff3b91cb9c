//! Chat's domain types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    pub kind: ConversationKind,
    pub name: Option<String>,
    /// Other participants; the creator is always included.
    pub participant_ids: Vec<UserId>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct NewMessage {
    pub body: String,
    pub client_id: Option<String>,
}
