//! Media's domain types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AlbumId, CommunityId, PhotoId, UploadId, UserId};

/// A stored photo or video.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Photo {
    pub id: PhotoId,
    pub community_id: CommunityId,
    pub user_id: UserId,
    pub filename: String,
    pub original_filename: String,
    pub content_hash: String,
    pub mime_type: String,
    pub file_size_bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub taken_at: Option<DateTime<Utc>>,
    pub metadata: serde_json::Value,
    /// `pending`, `ready`, `failed` or `unprocessed` (stored, but a tool it needs is missing).
    pub processing_status: String,
    pub processing_error: Option<String>,
    pub has_renditions: bool,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl Photo {
    /// Timeline order: when it was taken, or else when it was uploaded.
    pub fn sort_time(&self) -> DateTime<Utc> {
        self.taken_at.unwrap_or(self.created_at)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Album {
    pub id: AlbumId,
    pub community_id: CommunityId,
    pub owner_id: UserId,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub cover_file_id: Option<PhotoId>,
    pub photo_count: u64,
    pub created_at: DateTime<Utc>,
}

/// What the timeline shows.
#[derive(Clone, Debug, Default)]
pub struct PhotoFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub album_id: Option<AlbumId>,
    pub tag: Option<String>,
}

/// A position in the timeline (opaque to clients: base64 of `time|id`).
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor {
    pub time: DateTime<Utc>,
    pub id: PhotoId,
}

impl Cursor {
    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            self.time.to_rfc3339(),
            self.id
        ))
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (time, id) = raw.split_once('|')?;
        Some(Cursor {
            time: DateTime::parse_from_rfc3339(time).ok()?.with_timezone(&Utc),
            id: id.into(),
        })
    }
}

/// A resumable socket upload.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Upload {
    pub id: UploadId,
    pub user_id: UserId,
    pub community_id: CommunityId,
    pub filename: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub received_bytes: u64,
    /// `open`, `done` or `failed`.
    pub status: String,
    pub file_id: Option<PhotoId>,
    pub expires_at: DateTime<Utc>,
}

/// Which bytes of a photo to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rendition {
    Original,
    Large,
    Thumb,
}

impl Rendition {
    pub fn parse(name: &str) -> Option<Rendition> {
        match name {
            "original" => Some(Rendition::Original),
            "large" => Some(Rendition::Large),
            "thumb" => Some(Rendition::Thumb),
            _ => None,
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            Rendition::Original => "original",
            Rendition::Large => "large.jpg",
            Rendition::Thumb => "thumb.jpg",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            time: DateTime::parse_from_rfc3339("2025-07-01T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            id: "abc".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("!!"), None);
        assert_eq!(Cursor::decode("bm9waXBl"), None);
    }
}

/// The processing queue at a glance, for health checks and alerts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JobCounts {
    pub queued: u64,
    pub running: u64,
    /// Jobs that ended `failed` since the moment asked about.
    pub failed_since: u64,
}
