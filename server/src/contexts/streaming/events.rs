//! What streaming publishes on the bus: scan progress and library changes (`library.changed`,
//! for the `libraryChanged` subscription) and watch progress (`watch.progress`, pushed as
//! `watch_progress` on the user's `user:` topic to every device).

use serde::{Deserialize, Serialize};

use super::{Item, ItemKind, PlaybackState, Progress};
use crate::events::Event;
use crate::ids::{CommunityId, ItemId, LibraryId, SessionId};

pub const LIBRARY_CHANGED: &str = "library.changed";
pub const WATCH_PROGRESS: &str = "watch.progress";

/// What happened to a library.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LibraryChange {
    ScanStarted,
    ScanProgress,
    ScanFinished,
    ItemAdded,
    ItemUpdated,
    ItemMissing,
    ItemRemoved,
}

/// The item a change is about, as much as a list needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemRef {
    pub id: ItemId,
    pub kind: ItemKind,
    pub title: String,
    pub parent_id: Option<ItemId>,
}

impl From<&Item> for ItemRef {
    fn from(item: &Item) -> Self {
        ItemRef {
            id: item.id.clone(),
            kind: item.kind,
            title: item.title.clone(),
            parent_id: item.parent_id.clone(),
        }
    }
}

/// Counts of a scan so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCounts {
    /// Media files found on disk.
    pub found: u64,
    /// Files looked at so far (unchanged ones included).
    pub checked: u64,
    pub added: u64,
    pub updated: u64,
    pub missing: u64,
    /// Files ffprobe could not read.
    pub failed: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LibraryChanged {
    pub library_id: LibraryId,
    pub change: LibraryChange,
    pub counts: ScanCounts,
    pub item: Option<ItemRef>,
}

/// A user's position in an item moved; `session_id` is the reporting session, so its own
/// device can tell the echo from another device's report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchProgress {
    #[serde(flatten)]
    pub progress: Progress,
    pub state: WatchState,
    pub session_id: Option<SessionId>,
}

/// [`PlaybackState`] on the wire (plus marks made by hand).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchState {
    Playing,
    Paused,
    Stopped,
    Marked,
}

impl From<PlaybackState> for WatchState {
    fn from(state: PlaybackState) -> Self {
        match state {
            PlaybackState::Playing => WatchState::Playing,
            PlaybackState::Paused => WatchState::Paused,
            PlaybackState::Stopped => WatchState::Stopped,
        }
    }
}

pub struct StreamingEvent;

impl StreamingEvent {
    pub fn library(community_id: &CommunityId, changed: &LibraryChanged) -> Event {
        Event::typed(LIBRARY_CHANGED, None, Some(community_id), changed)
    }

    pub fn watch(community_id: &CommunityId, progress: &WatchProgress) -> Event {
        Event::typed(
            WATCH_PROGRESS,
            Some(&progress.progress.user_id),
            Some(community_id),
            progress,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_progress_decodes_back_flat() {
        let progress = WatchProgress {
            progress: Progress {
                user_id: "u".into(),
                item_id: "i".into(),
                position_ms: 61_000,
                duration_ms: Some(120_000),
                played: false,
                play_count: 0,
                device: Some("tv".into()),
                updated_at: chrono::Utc::now(),
            },
            state: WatchState::Paused,
            session_id: Some("s".into()),
        };
        let event = StreamingEvent::watch(&"c".into(), &progress);
        assert_eq!(event.kind, WATCH_PROGRESS);
        assert_eq!(event.data["position_ms"], 61_000);
        assert_eq!(event.data["state"], "paused");
        assert_eq!(event.data_as::<WatchProgress>().unwrap(), progress);
    }
}
