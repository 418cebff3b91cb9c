//! The export format, version 1: the files of an export directory and what each holds. The
//! README written into every export says the same for whoever opens it.

use crate::ids::{AlbumId, CommunityId, ConversationId, MessageId, PhotoId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The format this version writes and reads.
pub const FORMAT: u32 = 1;
pub const HEADER_FILE: &str = "community.json";
pub const USERS_FILE: &str = "users.json";
pub const CONVERSATIONS_FILE: &str = "conversations.json";
pub const PHOTOS_FILE: &str = "photos.json";
pub const ALBUMS_FILE: &str = "albums.json";
pub const ORIGINALS_DIR: &str = "originals";

/// `community.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    pub exported_at: DateTime<Utc>,
    pub taina_version: String,
    pub community_id: CommunityId,
    pub name: String,
    pub slug: String,
}

/// One entry of `users.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedUser {
    pub id: UserId,
    pub email: String,
    /// `admin`, `member` or `guest`.
    pub role: String,
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One entry of `conversations.json`, its messages in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedConversation {
    pub id: ConversationId,
    /// `direct` or `group`.
    pub kind: String,
    pub name: Option<String>,
    pub participant_ids: Vec<UserId>,
    pub created_at: DateTime<Utc>,
    /// Bodies are ciphertext (exports from before encryption existed have no such field).
    #[serde(default)]
    pub encrypted: bool,
    pub messages: Vec<ExportedMessage>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedMessage {
    pub id: MessageId,
    pub sender_id: UserId,
    pub body: String,
    pub client_id: Option<String>,
    /// Its position in the conversation (1, 2, …).
    pub offset: u64,
    pub sent_at: DateTime<Utc>,
}

/// One entry of `photos.json`; its bytes are `originals/<sha256>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedPhoto {
    pub id: PhotoId,
    pub user_id: UserId,
    pub original_filename: String,
    pub mime_type: String,
    pub bytes: u64,
    pub sha256: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub taken_at: Option<DateTime<Utc>>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// One entry of `albums.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedAlbum {
    pub id: AlbumId,
    pub owner_id: UserId,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub cover_photo_id: Option<PhotoId>,
    pub photo_ids: Vec<PhotoId>,
    pub created_at: DateTime<Utc>,
}

/// The README of every export.
pub const README: &str = r#"# A Tainá community export (format 1)

This directory holds one community's data, written by `taina export`. `taina import DIR` brings
it into another Tainá server; any other program can read it: every file is JSON (UTF-8), times
are RFC 3339 in UTC, ids are the exporting server's (they only link the files to each other).

- `community.json`: `{format, exported_at, taina_version, community_id, name, slug}`.
- `users.json`: `[{id, email, role, display_name, created_at}]`; `role` is `admin`, `member`
  or `guest`. No passwords, password hashes or two-factor secrets are exported: imported
  users get new passwords.
- `conversations.json`: `[{id, kind, name, participant_ids, created_at, messages}]`, `kind`
  `direct` or `group`; `messages` in order: `[{id, sender_id, body, client_id, offset,
  sent_at}]`, `offset` 1, 2, … within the conversation.
- `photos.json`: `[{id, user_id, original_filename, mime_type, bytes, sha256, width, height,
  taken_at, tags, created_at}]`; the original file is `originals/<sha256>` (the same bytes as
  uploaded; two photos with the same content share one file).
- `albums.json`: `[{id, owner_id, name, description, is_public, cover_photo_id, photo_ids,
  created_at}]`.
"#;
