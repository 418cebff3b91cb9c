//! Attachments: a message may carry photos (media) and files (Ybira) the sender can read.
//! Each is described in the message's `metadata` (`{"attachments": [...]}`: kind, id, name,
//! type, size, and for photos the thumbnail's URL, served by media), the message's
//! `message_type` becomes `photo` (only photos) or `file`, and `chat.attachments` remembers
//! it, so that every participant may read the item through the conversation for as long as
//! the message is not deleted ([`ChatService::shares_item`], asked by media and files).

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ChatError, ChatService};
use crate::contexts::auth::Principal;
use crate::ids::{ConversationId, MessageId, UserId};

type Result<T, E = ChatError> = std::result::Result<T, E>;

/// Attachments per message at most.
pub const MAX_ATTACHMENTS: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentKind {
    Photo,
    File,
}

impl AttachmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Photo => "photo",
            AttachmentKind::File => "file",
        }
    }
}

/// An item a message refers to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    pub kind: AttachmentKind,
    pub id: String,
}

/// Describes items for messages: media and files, behind one door.
pub trait AttachmentSource: Send + Sync {
    /// What a message shows of an item `by` may read now; `None` when they may not (or it
    /// does not exist).
    fn describe<'a>(
        &'a self,
        by: &'a Principal,
        item: &'a AttachmentRef,
    ) -> Pin<Box<dyn Future<Output = Option<Value>> + Send + 'a>>;
}

impl ChatService {
    /// Media and files, for describing attachments (set once at start).
    pub fn set_attachment_source(&self, source: std::sync::Arc<dyn AttachmentSource>) {
        let _ = self.inner.attachments.set(source);
    }

    /// The `metadata` of a message carrying `items`, each checked readable by the sender,
    /// and its `message_type`.
    pub(super) async fn describe_attachments(
        &self,
        by: &Principal,
        items: &[AttachmentRef],
    ) -> Result<(Value, &'static str)> {
        if items.len() > MAX_ATTACHMENTS {
            return Err(ChatError::Invalid(format!(
                "a message carries at most {MAX_ATTACHMENTS} attachments"
            )));
        }
        let source = self
            .inner
            .attachments
            .get()
            .ok_or_else(|| ChatError::Invalid("attachments are not available".into()))?;
        let mut described = Vec::with_capacity(items.len());
        for item in items {
            match source.describe(by, item).await {
                Some(value) => described.push(value),
                None => {
                    return Err(ChatError::Invalid(format!(
                        "no {} {} you can read",
                        item.kind.as_str(),
                        item.id
                    )))
                }
            }
        }
        let kind = if items.iter().all(|i| i.kind == AttachmentKind::Photo) {
            "photo"
        } else {
            "file"
        };
        Ok((serde_json::json!({ "attachments": described }), kind))
    }

    /// Remembers what a stored message carries.
    pub(super) async fn record_attachments(
        &self,
        conversation_id: &ConversationId,
        message_id: &MessageId,
        items: &[AttachmentRef],
    ) -> Result<()> {
        for item in items {
            self.store()
                .add_attachment(conversation_id, message_id, item.kind.as_str(), &item.id)
                .await?;
        }
        Ok(())
    }

    /// Whether `user_id` takes part in a conversation where a message (not deleted) carries
    /// the item: then they may read it, whoever owns it.
    pub async fn shares_item(
        &self,
        user_id: &UserId,
        kind: AttachmentKind,
        item_id: &str,
    ) -> Result<bool> {
        self.store()
            .shares_item(user_id, kind.as_str(), item_id)
            .await
    }
}

/// Media and files as the source of attachments, and chat as the one that shares them.
pub struct MediaAndFiles {
    pub media: crate::contexts::media::MediaService,
    pub files: crate::contexts::files::FilesService,
}

impl AttachmentSource for MediaAndFiles {
    fn describe<'a>(
        &'a self,
        by: &'a Principal,
        item: &'a AttachmentRef,
    ) -> Pin<Box<dyn Future<Output = Option<Value>> + Send + 'a>> {
        Box::pin(async move {
            match item.kind {
                AttachmentKind::Photo => {
                    let photo = self
                        .media
                        .photo_for(Some(by), &item.id.clone().into())
                        .await
                        .ok()?;
                    Some(serde_json::json!({
                        "kind": "photo", "id": photo.id, "name": photo.original_filename,
                        "mime_type": photo.mime_type, "size": photo.file_size_bytes,
                        "width": photo.width, "height": photo.height,
                        "thumb": format!("/api/media/{}/thumb", photo.id),
                    }))
                }
                AttachmentKind::File => {
                    let node = self.files.node(by, &item.id.clone().into()).await.ok()?;
                    if node.is_folder() {
                        return None;
                    }
                    Some(serde_json::json!({
                        "kind": "file", "id": node.id, "name": node.name, "size": node.size,
                        "content": format!("/api/files/nodes/{}/content", node.id),
                    }))
                }
            }
        })
    }
}

/// What media and files ask chat: weak, since chat holds them (through its attachment
/// source) and they hold this.
pub struct Sharing(std::sync::Weak<super::service::Inner>);

impl ChatService {
    /// The answer to "who else may read this item", for media and files.
    pub fn sharing(&self) -> std::sync::Arc<Sharing> {
        std::sync::Arc::new(Sharing(std::sync::Arc::downgrade(&self.inner)))
    }
}

impl Sharing {
    async fn shares(&self, user_id: &UserId, kind: AttachmentKind, item_id: &str) -> bool {
        let Some(inner) = self.0.upgrade() else {
            return false;
        };
        let chat = ChatService { inner };
        match chat.shares_item(user_id, kind, item_id).await {
            Ok(shared) => shared,
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell whether a conversation shares an item");
                false
            }
        }
    }
}

impl crate::contexts::media::SharedPhotos for Sharing {
    fn shared_with<'a>(
        &'a self,
        user_id: &'a UserId,
        photo_id: &'a crate::ids::PhotoId,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(self.shares(user_id, AttachmentKind::Photo, photo_id.as_str()))
    }
}

impl crate::contexts::files::SharedFiles for Sharing {
    fn shared_with<'a>(
        &'a self,
        user_id: &'a UserId,
        node_id: &'a crate::ids::NodeId,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(self.shares(user_id, AttachmentKind::File, node_id.as_str()))
    }
}
