//! Streaming's GraphQL part: `libraries`, `libraryItems`, `item`, `continueWatching`,
//! `recentlyAdded`, `nextUp`, `watchHistory` and `playbackInfo`; admin mutations `addLibrary`,
//! `scanLibrary`, `removeLibrary`, `removeMissingItems`; `reportProgress` and `markPlayed`;
//! the `libraryChanged` subscription. (`addLibrary`, `scanLibrary`, `libraryItems`,
//! `playbackInfo` and `reportProgress` are names other tools rely on.)

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::events::{LibraryChange, LibraryChanged, ScanCounts, LIBRARY_CHANGED};
use super::playback::{PlaybackInfo, SubtitleTrack};
use super::probe::{MediaStream, StreamKind};
use super::profile::{Method, Reason};
use super::watch::Report;
use super::{
    artwork, HistoryEntry, Item, ItemFilter, ItemKind, ItemSort, Library, LibraryKind,
    PlaybackState, Progress, StreamingService, SubtitleSource,
};
use crate::events::EventBus;
use crate::graphql::{principal, GqlError};
use crate::ids::{ItemId, LibraryId};

type Result<T, E = GqlError> = std::result::Result<T, E>;

fn streaming<'a>(ctx: &Context<'a>) -> &'a StreamingService {
    ctx.data_unchecked::<StreamingService>()
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "LibraryKind", remote = "LibraryKind")]
pub enum GqlLibraryKind {
    Movies,
    Shows,
    Music,
    Videos,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "MediaItemKind", remote = "ItemKind")]
pub enum GqlItemKind {
    Movie,
    Show,
    Season,
    Episode,
    Album,
    Track,
    Video,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "MediaItemSort")]
pub enum GqlItemSort {
    Title,
    Added,
    Year,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "PlaybackState")]
pub enum GqlPlaybackState {
    Playing,
    Paused,
    Stopped,
}

#[derive(SimpleObject)]
#[graphql(name = "Library")]
pub struct GqlLibrary {
    id: ID,
    name: String,
    path: String,
    kind: GqlLibraryKind,
    created_at: DateTime<Utc>,
    /// End of the last finished scan.
    scanned_at: Option<DateTime<Utc>>,
    /// A scan is running now.
    scanning: bool,
}

fn library(service: &StreamingService, l: Library) -> GqlLibrary {
    GqlLibrary {
        scanning: service.scanning(&l.id),
        id: ID(l.id.into_string()),
        name: l.name,
        path: l.path,
        kind: l.kind.into(),
        created_at: l.created_at,
        scanned_at: l.scanned_at,
    }
}

#[derive(SimpleObject)]
#[graphql(name = "MediaStream")]
pub struct GqlStream {
    /// ffprobe's index (what `playbackInfo(audioStream:)` takes).
    index: u32,
    /// `VIDEO`, `AUDIO` or `SUBTITLE`.
    kind: String,
    codec: String,
    profile: Option<String>,
    language: Option<String>,
    title: Option<String>,
    default: bool,
    forced: bool,
    width: Option<u32>,
    height: Option<u32>,
    frame_rate: Option<f64>,
    bit_depth: Option<u32>,
    hdr: bool,
    channels: Option<u32>,
    channel_layout: Option<String>,
    sample_rate: Option<u32>,
    bitrate: Option<i64>,
}

impl From<MediaStream> for GqlStream {
    fn from(s: MediaStream) -> Self {
        GqlStream {
            index: s.index,
            kind: match s.kind {
                StreamKind::Video => "VIDEO",
                StreamKind::Audio => "AUDIO",
                StreamKind::Subtitle => "SUBTITLE",
            }
            .into(),
            codec: s.codec,
            profile: s.profile,
            language: s.language,
            title: s.title,
            default: s.default,
            forced: s.forced,
            width: s.width,
            height: s.height,
            frame_rate: s.frame_rate,
            bit_depth: s.bit_depth,
            hdr: s.hdr,
            channels: s.channels,
            channel_layout: s.channel_layout,
            sample_rate: s.sample_rate,
            bitrate: s.bitrate,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "SubtitleTrack")]
pub struct GqlSubtitle {
    /// The `{index}` of `/api/streaming/items/{id}/subtitles/{index}.vtt`.
    index: u32,
    codec: String,
    language: Option<String>,
    title: Option<String>,
    forced: bool,
    default: bool,
    /// A file beside the media (`.srt`/`.vtt`) rather than a track inside it.
    external: bool,
    /// An image subtitle (PGS, DVD): no WebVTT, only a transcode can burn it in.
    burn_in_only: bool,
    /// WebVTT, signed (text subtitles only; set by `playbackInfo`).
    url: Option<String>,
}

impl From<SubtitleTrack> for GqlSubtitle {
    fn from(track: SubtitleTrack) -> Self {
        let s = track.subtitle;
        GqlSubtitle {
            index: s.index,
            external: matches!(s.source, SubtitleSource::External { .. }),
            codec: s.codec,
            language: s.language,
            title: s.title,
            forced: s.forced,
            default: s.default,
            burn_in_only: s.burn_in_only,
            url: track.url,
        }
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "WatchProgress")]
pub struct GqlProgress {
    item_id: ID,
    position_ms: i64,
    duration_ms: Option<i64>,
    played: bool,
    play_count: u32,
    device: Option<String>,
    updated_at: DateTime<Utc>,
}

impl From<Progress> for GqlProgress {
    fn from(p: Progress) -> Self {
        GqlProgress {
            item_id: ID(p.item_id.into_string()),
            position_ms: p.position_ms,
            duration_ms: p.duration_ms,
            played: p.played,
            play_count: p.play_count,
            device: p.device,
            updated_at: p.updated_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "ThumbnailStrip")]
pub struct GqlStrip {
    /// A JPEG of `columns` tiles a row, one tile per `intervalMs` from the start.
    url: String,
    interval_ms: i64,
    count: i64,
    columns: i64,
    tile_width: u32,
}

/// An item, with the caller's progress when it was read along.
pub struct GqlItem {
    item: Item,
    progress: Option<Option<Progress>>,
}

impl GqlItem {
    fn new(item: Item) -> Self {
        GqlItem {
            item,
            progress: None,
        }
    }
}

#[Object(name = "MediaItem")]
impl GqlItem {
    async fn id(&self) -> ID {
        ID(self.item.id.to_string())
    }
    async fn library_id(&self) -> ID {
        ID(self.item.library_id.to_string())
    }
    /// The season of an episode, the show of a season, the album of a track.
    async fn parent_id(&self) -> Option<ID> {
        self.item.parent_id.as_ref().map(|p| ID(p.to_string()))
    }
    async fn kind(&self) -> GqlItemKind {
        self.item.kind.into()
    }
    async fn title(&self) -> &str {
        &self.item.title
    }
    async fn year(&self) -> Option<i32> {
        self.item.year
    }
    async fn overview(&self) -> Option<&str> {
        self.item.overview.as_deref()
    }
    async fn season_number(&self) -> Option<u32> {
        self.item.season_number
    }
    async fn episode_number(&self) -> Option<u32> {
        self.item.episode_number
    }
    /// The last episode of a file holding several.
    async fn episode_end(&self) -> Option<u32> {
        self.item.episode_end
    }
    async fn disc_number(&self) -> Option<u32> {
        self.item.disc_number
    }
    async fn track_number(&self) -> Option<u32> {
        self.item.track_number
    }
    async fn artist(&self) -> Option<&str> {
        self.item.artist.as_deref()
    }
    /// Relative to the library's root (files only).
    async fn path(&self) -> Option<&str> {
        self.item.path.as_deref()
    }
    async fn size_bytes(&self) -> Option<u64> {
        self.item.size_bytes
    }
    async fn duration_ms(&self) -> Option<i64> {
        self.item.duration_ms
    }
    async fn container(&self) -> Option<&str> {
        self.item.container.as_deref()
    }
    /// A scan no longer finds the file (an admin's `removeMissingItems` deletes it).
    async fn missing(&self) -> bool {
        self.item.missing_since.is_some()
    }
    async fn added_at(&self) -> DateTime<Utc> {
        self.item.added_at
    }
    async fn streams(&self) -> Vec<GqlStream> {
        self.item
            .probe
            .iter()
            .flat_map(|p| p.streams.iter().cloned())
            .map(GqlStream::from)
            .collect()
    }
    /// Subtitle tracks (their URLs come with `playbackInfo`).
    async fn subtitles(&self) -> Vec<GqlSubtitle> {
        self.item
            .subtitles()
            .into_iter()
            .map(|subtitle| {
                GqlSubtitle::from(SubtitleTrack {
                    subtitle,
                    url: None,
                })
            })
            .collect()
    }
    /// The poster frame (JPEG), signed for an `<img>`.
    async fn poster_url(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        if !self.item.has_poster {
            return Ok(None);
        }
        let by = principal(ctx)?;
        let query = streaming(ctx).signed_query(by, &self.item.id);
        Ok(Some(format!(
            "/api/streaming/items/{}/{}{query}",
            self.item.id,
            artwork::POSTER
        )))
    }
    /// Thumbnails for scrubbing.
    async fn thumbnail_strip(&self, ctx: &Context<'_>) -> Result<Option<GqlStrip>> {
        let (Some(interval_ms), Some(duration)) =
            (self.item.strip_interval_ms, self.item.duration_ms)
        else {
            return Ok(None);
        };
        let by = principal(ctx)?;
        let query = streaming(ctx).signed_query(by, &self.item.id);
        Ok(Some(GqlStrip {
            url: format!(
                "/api/streaming/items/{}/{}{query}",
                self.item.id,
                artwork::STRIP
            ),
            interval_ms,
            count: artwork::strip_tiles(duration),
            columns: artwork::STRIP_COLUMNS,
            tile_width: artwork::STRIP_TILE_WIDTH,
        }))
    }
    /// The caller's progress in it.
    async fn progress(&self, ctx: &Context<'_>) -> Result<Option<GqlProgress>> {
        if let Some(known) = &self.progress {
            return Ok(known.clone().map(GqlProgress::from));
        }
        if !self.item.kind.is_playable() {
            return Ok(None);
        }
        let by = principal(ctx)?;
        Ok(streaming(ctx)
            .progress(by, &self.item.id)
            .await?
            .map(GqlProgress::from))
    }
}

#[derive(SimpleObject)]
#[graphql(name = "MediaItemsPage")]
pub struct GqlItemsPage {
    nodes: Vec<GqlItem>,
    total_count: u64,
    /// The `after` of the next page; null on the last.
    next: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "WatchHistoryEntry")]
pub struct GqlHistoryEntry {
    item_id: ID,
    position_ms: i64,
    played: bool,
    device: Option<String>,
    at: DateTime<Utc>,
}

impl From<HistoryEntry> for GqlHistoryEntry {
    fn from(h: HistoryEntry) -> Self {
        GqlHistoryEntry {
            item_id: ID(h.item_id.into_string()),
            position_ms: h.position_ms,
            played: h.played,
            device: h.device,
            at: h.at,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "PlaybackMethod")]
pub enum GqlMethod {
    DirectPlay,
    Remux,
    Transcode,
}

#[derive(SimpleObject)]
#[graphql(name = "PlaybackReason")]
pub struct GqlReason {
    /// Stable: `container_not_supported`, `video_codec_not_supported`, … (docs/streaming.md).
    code: String,
    message: String,
}

impl From<Reason> for GqlReason {
    fn from(reason: Reason) -> Self {
        let code = serde_json::to_value(&reason)
            .ok()
            .and_then(|v| v.get("code")?.as_str().map(str::to_string))
            .unwrap_or_default();
        GqlReason {
            code,
            message: reason.describe(),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "PlaybackInfo")]
pub struct GqlPlaybackInfo {
    item_id: ID,
    method: GqlMethod,
    /// Why not direct play (empty when it is).
    reasons: Vec<GqlReason>,
    /// What to play: the file, its remux, or the HLS master playlist (signed).
    url: String,
    direct_url: String,
    remux_url: Option<String>,
    remux_container: Option<String>,
    hls_url: String,
    transcode_video: bool,
    transcode_audio: bool,
    /// Join this topic to stream over the socket instead, with `rendition`.
    socket_topic: String,
    socket_rendition: Option<String>,
    container: String,
    duration_ms: Option<i64>,
    size_bytes: Option<u64>,
    audio_streams: Vec<GqlStream>,
    subtitles: Vec<GqlSubtitle>,
    resume_position_ms: i64,
    /// The token in the URLs (`?t=`), for a client that builds segment URLs itself.
    token: String,
    expires_at: DateTime<Utc>,
}

impl From<PlaybackInfo> for GqlPlaybackInfo {
    fn from(p: PlaybackInfo) -> Self {
        GqlPlaybackInfo {
            item_id: ID(p.item_id.into_string()),
            method: match p.decision.method {
                Method::DirectPlay => GqlMethod::DirectPlay,
                Method::Remux => GqlMethod::Remux,
                Method::Transcode => GqlMethod::Transcode,
            },
            transcode_video: p.decision.transcode_video,
            transcode_audio: p.decision.transcode_audio,
            reasons: p
                .decision
                .reasons
                .into_iter()
                .map(GqlReason::from)
                .collect(),
            url: p.url,
            direct_url: p.direct_url,
            remux_url: p.remux_url,
            remux_container: p.remux_container,
            hls_url: p.hls_url,
            socket_topic: p.socket_topic,
            socket_rendition: p.socket_rendition,
            container: p.container,
            duration_ms: p.duration_ms,
            size_bytes: p.size_bytes,
            audio_streams: p.audio_streams.into_iter().map(GqlStream::from).collect(),
            subtitles: p.subtitles.into_iter().map(GqlSubtitle::from).collect(),
            resume_position_ms: p.resume_position_ms,
            token: p.token,
            expires_at: p.expires_at,
        }
    }
}

#[derive(Default)]
pub struct StreamingQuery;

#[Object]
impl StreamingQuery {
    /// The community's libraries.
    async fn libraries(&self, ctx: &Context<'_>) -> Result<Vec<GqlLibrary>> {
        let by = principal(ctx)?;
        let service = streaming(ctx);
        Ok(service
            .libraries(by)
            .await?
            .into_iter()
            .map(|l| library(service, l))
            .collect())
    }

    /// A library's items: its top level (movies, shows, albums, videos), or the children of
    /// `parentId`; `kind` or `search` look through the whole library. Paged by `first`/`after`.
    #[allow(clippy::too_many_arguments)]
    async fn library_items(
        &self,
        ctx: &Context<'_>,
        library_id: ID,
        first: Option<i32>,
        after: Option<String>,
        parent_id: Option<ID>,
        kind: Option<GqlItemKind>,
        search: Option<String>,
        sort: Option<GqlItemSort>,
        descending: Option<bool>,
        include_missing: Option<bool>,
    ) -> Result<GqlItemsPage> {
        let by = principal(ctx)?;
        let filter = ItemFilter {
            kind: kind.map(Into::into),
            parent_id: parent_id.map(|p| ItemId::from(p.0)),
            search: search.filter(|s| !s.trim().is_empty()),
            sort: match sort {
                None | Some(GqlItemSort::Title) => ItemSort::Title,
                Some(GqlItemSort::Added) => ItemSort::Added,
                Some(GqlItemSort::Year) => ItemSort::Year,
            },
            descending: descending.unwrap_or(false),
            include_missing: include_missing.unwrap_or(false),
        };
        let first = first.map(|f| f.max(0) as u32);
        let page = streaming(ctx)
            .items(
                by,
                &LibraryId::from(library_id.0),
                &filter,
                first,
                after.as_deref(),
            )
            .await?;
        Ok(GqlItemsPage {
            nodes: page.items.into_iter().map(GqlItem::new).collect(),
            total_count: page.total,
            next: page.next,
        })
    }

    async fn item(&self, ctx: &Context<'_>, id: ID) -> Result<GqlItem> {
        let by = principal(ctx)?;
        Ok(GqlItem::new(
            streaming(ctx).item(by, &ItemId::from(id.0)).await?,
        ))
    }

    /// Movies, episodes and videos the caller started and did not finish, latest first.
    async fn continue_watching(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> Result<Vec<GqlItem>> {
        let by = principal(ctx)?;
        let first = first.map(|f| f.max(0) as u32);
        Ok(streaming(ctx)
            .continue_watching(by, first)
            .await?
            .into_iter()
            .map(|(item, progress)| GqlItem {
                item,
                progress: Some(Some(progress)),
            })
            .collect())
    }

    /// The newest movies, episodes, videos and albums.
    async fn recently_added(&self, ctx: &Context<'_>, first: Option<i32>) -> Result<Vec<GqlItem>> {
        let by = principal(ctx)?;
        let first = first.map(|f| f.max(0) as u32);
        Ok(streaming(ctx)
            .recently_added(by, first)
            .await?
            .into_iter()
            .map(GqlItem::new)
            .collect())
    }

    /// The next episode of each show the caller is watching.
    async fn next_up(&self, ctx: &Context<'_>, first: Option<i32>) -> Result<Vec<GqlItem>> {
        let by = principal(ctx)?;
        let first = first.map(|f| f.max(0) as u32);
        Ok(streaming(ctx)
            .next_up(by, first)
            .await?
            .into_iter()
            .map(GqlItem::new)
            .collect())
    }

    /// Playbacks the caller stopped or finished, latest first.
    async fn watch_history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> Result<Vec<GqlHistoryEntry>> {
        let by = principal(ctx)?;
        let first = first.map(|f| f.max(0) as u32);
        Ok(streaming(ctx)
            .history(by, first)
            .await?
            .into_iter()
            .map(GqlHistoryEntry::from)
            .collect())
    }

    /// How the item plays on the device `deviceProfile` describes (docs/streaming.md), with
    /// signed URLs. `audioStream` picks an audio stream (ffprobe index), `subtitle` a subtitle
    /// track (its `index`; an image one is burnt in by a transcode).
    async fn playback_info(
        &self,
        ctx: &Context<'_>,
        item_id: ID,
        device_profile: async_graphql::Json<serde_json::Value>,
        audio_stream: Option<u32>,
        subtitle: Option<u32>,
    ) -> Result<GqlPlaybackInfo> {
        let by = principal(ctx)?;
        Ok(streaming(ctx)
            .playback_info(
                by,
                &ItemId::from(item_id.0),
                &device_profile.0,
                audio_stream,
                subtitle,
            )
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct StreamingMutation;

#[Object]
impl StreamingMutation {
    /// Adds a library root (admins): an absolute path to a directory on the server. Its
    /// first scan starts at once.
    async fn add_library(
        &self,
        ctx: &Context<'_>,
        name: String,
        path: String,
        kind: GqlLibraryKind,
    ) -> Result<GqlLibrary> {
        let by = principal(ctx)?;
        let service = streaming(ctx);
        let added = service.add_library(by, &name, &path, kind.into()).await?;
        Ok(library(service, added))
    }

    /// Starts a scan (admins); `libraryChanged` reports its progress.
    async fn scan_library(&self, ctx: &Context<'_>, id: ID) -> Result<GqlLibrary> {
        let by = principal(ctx)?;
        let service = streaming(ctx);
        let scanned = service.scan_library(by, &LibraryId::from(id.0)).await?;
        Ok(library(service, scanned))
    }

    /// Removes a library and its items (admins); the files on disk are untouched.
    async fn remove_library(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let by = principal(ctx)?;
        streaming(ctx)
            .remove_library(by, &LibraryId::from(id.0))
            .await?;
        Ok(true)
    }

    /// Deletes the items whose files are missing (admins); returns how many went.
    async fn remove_missing_items(&self, ctx: &Context<'_>, library_id: ID) -> Result<u64> {
        let by = principal(ctx)?;
        Ok(streaming(ctx)
            .remove_missing(by, &LibraryId::from(library_id.0))
            .await?)
    }

    /// Where the caller is in an item (every few seconds while playing, and on pause and
    /// stop); pushed at once to their other devices.
    async fn report_progress(
        &self,
        ctx: &Context<'_>,
        item_id: ID,
        position_ms: i32,
        duration_ms: Option<i32>,
        state: Option<GqlPlaybackState>,
        device: Option<String>,
    ) -> Result<GqlProgress> {
        let by = principal(ctx)?;
        let report = Report {
            position_ms: i64::from(position_ms),
            duration_ms: duration_ms.map(i64::from),
            state: match state {
                None | Some(GqlPlaybackState::Playing) => PlaybackState::Playing,
                Some(GqlPlaybackState::Paused) => PlaybackState::Paused,
                Some(GqlPlaybackState::Stopped) => PlaybackState::Stopped,
            },
            device,
        };
        Ok(streaming(ctx)
            .report_progress(by, &ItemId::from(item_id.0), &report)
            .await?
            .into())
    }

    /// Marks an item played or unplayed (a show, season or album: everything below it).
    async fn mark_played(
        &self,
        ctx: &Context<'_>,
        item_id: ID,
        played: bool,
    ) -> Result<Vec<GqlProgress>> {
        let by = principal(ctx)?;
        Ok(streaming(ctx)
            .mark_played(by, &ItemId::from(item_id.0), played)
            .await?
            .into_iter()
            .map(GqlProgress::from)
            .collect())
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "LibraryChange", remote = "LibraryChange")]
pub enum GqlLibraryChange {
    ScanStarted,
    ScanProgress,
    ScanFinished,
    ItemAdded,
    ItemUpdated,
    ItemMissing,
    ItemRemoved,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "ScanCounts")]
pub struct GqlScanCounts {
    found: u64,
    checked: u64,
    added: u64,
    updated: u64,
    missing: u64,
    failed: u64,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "LibraryItemRef")]
pub struct GqlItemRef {
    id: ID,
    kind: GqlItemKind,
    title: String,
    parent_id: Option<ID>,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "LibraryChangedEvent")]
pub struct GqlLibraryChanged {
    library_id: ID,
    change: GqlLibraryChange,
    counts: GqlScanCounts,
    item: Option<GqlItemRef>,
}

impl From<LibraryChanged> for GqlLibraryChanged {
    fn from(c: LibraryChanged) -> Self {
        let ScanCounts {
            found,
            checked,
            added,
            updated,
            missing,
            failed,
        } = c.counts;
        GqlLibraryChanged {
            library_id: ID(c.library_id.into_string()),
            change: c.change.into(),
            counts: GqlScanCounts {
                found,
                checked,
                added,
                updated,
                missing,
                failed,
            },
            item: c.item.map(|i| GqlItemRef {
                id: ID(i.id.into_string()),
                kind: i.kind.into(),
                title: i.title,
                parent_id: i.parent_id.map(|p| ID(p.into_string())),
            }),
        }
    }
}

#[derive(Default)]
pub struct StreamingSubscription;

#[Subscription]
impl StreamingSubscription {
    /// Scan progress and library changes of the caller's community, pushed as they happen
    /// (of one library with `libraryId`).
    async fn library_changed(
        &self,
        ctx: &Context<'_>,
        library_id: Option<ID>,
    ) -> Result<impl Stream<Item = GqlLibraryChanged>> {
        let community = principal(ctx)?.community_id.clone();
        let only = library_id.map(|id| LibraryId::from(id.0));
        let mut events = ctx.data_unchecked::<Arc<dyn EventBus>>().subscribe();
        Ok(async_stream::stream! {
            loop {
                match events.recv().await {
                    Ok(event) if event.kind == LIBRARY_CHANGED
                        && event.community_id.as_ref() == Some(&community) =>
                    {
                        let Ok(changed) = event.data_as::<LibraryChanged>() else { continue };
                        if only.as_ref().is_none_or(|id| *id == changed.library_id) {
                            yield GqlLibraryChanged::from(changed);
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
