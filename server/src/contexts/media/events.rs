//! What media publishes on the bus: each event's name, the struct of its `data`, and a
//! constructor on [`MediaEvent`]. `user_id` is the owner or whoever acted, `community_id`
//! their community.

use serde::{Deserialize, Serialize};

use super::{Album, Photo};
use crate::contexts::auth::Principal;
use crate::events::Event;
use crate::ids::PhotoId;

/// A photo or video finished processing; `data` is the [`Photo`].
pub const PHOTO_UPLOADED: &str = "photo.uploaded";
/// A photo was deleted.
pub const PHOTO_DELETED: &str = "photo.deleted";
/// An album was created; `data` is the [`Album`].
pub const ALBUM_CREATED: &str = "album.created";
/// A device reported a finished backup batch.
pub const BACKUP_COMPLETED: &str = "media.backup.completed";

/// The `data` of [`PHOTO_DELETED`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoDeleted {
    pub photo_id: PhotoId,
}

/// The `data` of [`BACKUP_COMPLETED`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupCompleted {
    pub device: Option<String>,
    pub uploaded: u64,
    pub skipped: u64,
}

/// Builds media's events.
pub struct MediaEvent;

impl MediaEvent {
    pub fn photo_uploaded(photo: &Photo) -> Event {
        Event::typed(
            PHOTO_UPLOADED,
            Some(&photo.user_id),
            Some(&photo.community_id),
            photo,
        )
    }

    pub fn photo_deleted(by: &Principal, photo_id: &PhotoId) -> Event {
        let data = PhotoDeleted {
            photo_id: photo_id.clone(),
        };
        Self::by(PHOTO_DELETED, by, &data)
    }

    pub fn album_created(by: &Principal, album: &Album) -> Event {
        Self::by(ALBUM_CREATED, by, album)
    }

    pub fn backup_completed(
        by: &Principal,
        device: Option<String>,
        uploaded: u64,
        skipped: u64,
    ) -> Event {
        let data = BackupCompleted {
            device,
            uploaded,
            skipped,
        };
        Self::by(BACKUP_COMPLETED, by, &data)
    }

    fn by(kind: &str, by: &Principal, data: &impl Serialize) -> Event {
        Event::typed(kind, Some(&by.user_id), Some(&by.community_id), data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::Role;
    use serde_json::json;

    /// The bus carries the same JSON as before the payloads were typed.
    #[test]
    fn data_keeps_its_json_shape_and_decodes_back() {
        let by = Principal {
            user_id: "u1".into(),
            community_id: "c1".into(),
            role: Role::Member,
            session_id: "s1".into(),
            email: "u1@example.org".into(),
            expires_at: chrono::Utc::now(),
        };
        let deleted = MediaEvent::photo_deleted(&by, &"p1".into());
        assert_eq!(deleted.data, json!({ "photo_id": "p1" }));
        assert_eq!(
            (deleted.user_id, deleted.community_id),
            (Some("u1".into()), Some("c1".into()))
        );
        let backup = MediaEvent::backup_completed(&by, None, 5, 2);
        assert_eq!(
            backup.data,
            json!({ "device": null, "uploaded": 5, "skipped": 2 })
        );
        assert_eq!(
            backup.data_as::<BackupCompleted>().unwrap(),
            BackupCompleted {
                device: None,
                uploaded: 5,
                skipped: 2
            }
        );
    }
}
