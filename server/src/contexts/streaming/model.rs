//! Streaming's domain types: libraries, items and what a scan stores about them, subtitles,
//! watch progress and history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::probe::{MediaStream, Probe};
use crate::ids::{CommunityId, ItemId, LibraryId, UserId};

/// What a library root holds; it decides how names are read and which items a scan makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LibraryKind {
    Movies,
    Shows,
    Music,
    Videos,
}

impl LibraryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LibraryKind::Movies => "movies",
            LibraryKind::Shows => "shows",
            LibraryKind::Music => "music",
            LibraryKind::Videos => "videos",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "movies" => LibraryKind::Movies,
            "shows" => LibraryKind::Shows,
            "music" => LibraryKind::Music,
            "videos" => LibraryKind::Videos,
            _ => return None,
        })
    }
}

/// A directory on the server's disk, read-only to Tainá, scanned into items.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Library {
    pub id: LibraryId,
    pub community_id: CommunityId,
    pub name: String,
    pub path: String,
    pub kind: LibraryKind,
    pub created_at: DateTime<Utc>,
    pub scanned_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Movie,
    Show,
    Season,
    Episode,
    Album,
    Track,
    Video,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Movie => "movie",
            ItemKind::Show => "show",
            ItemKind::Season => "season",
            ItemKind::Episode => "episode",
            ItemKind::Album => "album",
            ItemKind::Track => "track",
            ItemKind::Video => "video",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "movie" => ItemKind::Movie,
            "show" => ItemKind::Show,
            "season" => ItemKind::Season,
            "episode" => ItemKind::Episode,
            "album" => ItemKind::Album,
            "track" => ItemKind::Track,
            "video" => ItemKind::Video,
            _ => return None,
        })
    }

    /// Kinds that are a file (the others group files).
    pub fn is_playable(self) -> bool {
        !matches!(self, ItemKind::Show | ItemKind::Season | ItemKind::Album)
    }
}

/// A `.srt`/`.vtt` file found beside a media file (its name relative to the library root).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    pub path: String,
    /// `srt` or `vtt`.
    pub format: String,
    pub language: Option<String>,
    pub forced: bool,
    pub sdh: bool,
}

/// One movie, show, season, episode, album, track or video.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: ItemId,
    pub library_id: LibraryId,
    pub parent_id: Option<ItemId>,
    pub kind: ItemKind,
    pub title: String,
    pub year: Option<i32>,
    pub overview: Option<String>,
    pub season_number: Option<u32>,
    pub episode_number: Option<u32>,
    pub episode_end: Option<u32>,
    pub disc_number: Option<u32>,
    pub track_number: Option<u32>,
    pub artist: Option<String>,
    /// Relative to the library root (files only).
    pub path: Option<String>,
    pub size_bytes: Option<u64>,
    pub duration_ms: Option<i64>,
    pub container: Option<String>,
    pub probe: Option<Probe>,
    pub sidecars: Vec<Sidecar>,
    pub has_poster: bool,
    /// Set when a thumbnail strip for scrubbing exists: one tile per this many milliseconds.
    pub strip_interval_ms: Option<i64>,
    /// When a scan stopped finding the file (kept until an admin confirms its removal).
    pub missing_since: Option<DateTime<Utc>>,
    pub added_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a subtitle track's text comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum SubtitleSource {
    /// A stream inside the media file (ffprobe's index).
    Embedded { stream_index: u32 },
    /// A file beside it (relative to the library root).
    External { path: String },
}

/// One subtitle track of an item, numbered as the `subtitles/{index}.vtt` URL numbers it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Subtitle {
    pub index: u32,
    pub source: SubtitleSource,
    pub codec: String,
    pub language: Option<String>,
    pub title: Option<String>,
    pub forced: bool,
    pub default: bool,
    /// Image subtitles (PGS, DVD) cannot become WebVTT: only a transcode can burn them in.
    pub burn_in_only: bool,
}

impl Item {
    /// Embedded text and image tracks first (in stream order), then the sidecar files.
    pub fn subtitles(&self) -> Vec<Subtitle> {
        let embedded = self
            .probe
            .iter()
            .flat_map(|probe| probe.subtitles())
            .map(|stream: &MediaStream| (stream.clone(), None));
        let external = self.sidecars.iter().map(|sidecar| {
            (
                MediaStream {
                    language: sidecar.language.clone(),
                    forced: sidecar.forced,
                    ..MediaStream::new(
                        0,
                        super::probe::StreamKind::Subtitle,
                        if sidecar.format == "vtt" {
                            "webvtt"
                        } else {
                            "subrip"
                        },
                    )
                },
                Some(sidecar.path.clone()),
            )
        });
        embedded
            .chain(external)
            .enumerate()
            .map(|(index, (stream, path))| Subtitle {
                index: index as u32,
                burn_in_only: !stream.is_text_subtitle(),
                source: match path {
                    Some(path) => SubtitleSource::External { path },
                    None => SubtitleSource::Embedded {
                        stream_index: stream.index,
                    },
                },
                codec: stream.codec,
                language: stream.language,
                title: stream.title,
                forced: stream.forced,
                default: stream.default,
            })
            .collect()
    }
}

/// A listing's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ItemSort {
    #[default]
    Title,
    Added,
    Year,
}

/// What `libraryItems` asks for.
#[derive(Clone, Debug, Default)]
pub struct ItemFilter {
    pub kind: Option<ItemKind>,
    /// Children of this item (a show's seasons, a season's episodes, an album's tracks); without
    /// it, the library's top level (movies, shows, albums, videos, and tracks without album).
    pub parent_id: Option<ItemId>,
    /// Words the title (or artist) must contain, case-insensitively.
    pub search: Option<String>,
    pub sort: ItemSort,
    pub descending: bool,
    /// Also list items whose file a scan no longer finds.
    pub include_missing: bool,
}

/// A page of items; `next` is the `after` of the following page.
#[derive(Clone, Debug)]
pub struct ItemsPage {
    pub items: Vec<Item>,
    pub total: u64,
    pub next: Option<String>,
}

/// Where one user is in one item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub user_id: UserId,
    pub item_id: ItemId,
    pub position_ms: i64,
    pub duration_ms: Option<i64>,
    pub played: bool,
    pub play_count: u32,
    /// The device that reported it (as the client names itself).
    pub device: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A playback that stopped or finished.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub item_id: ItemId,
    pub position_ms: i64,
    pub played: bool,
    pub device: Option<String>,
    pub at: DateTime<Utc>,
}

/// What a client reports about a playback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaybackState {
    #[default]
    Playing,
    Paused,
    /// Playback ended or the player closed: written to the history.
    Stopped,
}
