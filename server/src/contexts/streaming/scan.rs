//! One scan of a library: walk the root, read new and changed files with ffprobe (a few at a
//! time), file them under their show/season or album, make their artwork, and mark files no
//! longer found as missing. Rescans are incremental: a file whose size and modification time
//! did not change is not read again (only its sidecars are looked at).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;

use super::artwork::{self, ArtworkDir};
use super::events::{ItemRef, LibraryChange, LibraryChanged, ScanCounts, StreamingEvent};
use super::naming::{self, MediaClass, Parsed};
use super::probe::{self, Probe};
use super::store::{sidecars_json, FileRow, KnownFile, NewGroup, StreamingStore};
use super::walk::{self, Found};
use super::{ItemKind, Library, LibraryKind, StreamingError};
use crate::events::EventBus;
use crate::ids::ItemId;

const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Progress is published at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What a scan needs from the service.
#[derive(Clone)]
pub(super) struct Scanner {
    pub store: StreamingStore,
    pub bus: Arc<dyn EventBus>,
    pub artwork: ArtworkDir,
    pub probe_concurrency: usize,
}

/// What the path, the `.nfo` and the tags say about one file.
struct Described {
    kind: ItemKind,
    title: String,
    year: Option<i32>,
    overview: Option<String>,
    show: Option<(String, Option<i32>)>,
    season: Option<u32>,
    episode: Option<u32>,
    episode_end: Option<u32>,
    album: Option<String>,
    artist: Option<String>,
    disc: Option<u32>,
    track: Option<u32>,
}

impl Scanner {
    fn publish(
        &self,
        library: &Library,
        change: LibraryChange,
        counts: ScanCounts,
        item: Option<ItemRef>,
    ) {
        let changed = LibraryChanged {
            library_id: library.id.clone(),
            change,
            counts,
            item,
        };
        self.bus
            .publish(StreamingEvent::library(&library.community_id, &changed));
    }

    pub async fn scan(&self, library: &Library) -> Result<ScanCounts, StreamingError> {
        let mut counts = ScanCounts::default();
        self.publish(library, LibraryChange::ScanStarted, counts, None);
        let root = PathBuf::from(&library.path);
        let found = {
            let root = root.clone();
            tokio::task::spawn_blocking(move || walk::walk(&root))
                .await
                .map_err(|e| StreamingError::Io(std::io::Error::other(e)))??
        };
        let found: Vec<Found> = found
            .into_iter()
            .filter(|f| wanted(library.kind, f.class))
            .collect();
        counts.found = found.len() as u64;
        let mut known: HashMap<String, KnownFile> = self
            .store
            .known_files(&library.id)
            .await?
            .into_iter()
            .map(|k| (k.path.clone(), k))
            .collect();
        let mut to_read = Vec::new();
        let now = Utc::now();
        for file in found {
            match known.remove(&file.path) {
                Some(k)
                    if k.size_bytes == Some(file.size.min(i64::MAX as u64) as i64)
                        && k.mtime_ms == Some(file.mtime_ms) =>
                {
                    let sidecars = sidecars_json(&file.sidecars);
                    if k.missing != 0 || k.sidecars.as_deref() != Some(sidecars.as_str()) {
                        self.store.refresh_file(&k.id, &sidecars, now).await?;
                    }
                    counts.checked += 1;
                }
                Some(k) => to_read.push((file, Some(k.id))),
                None => to_read.push((file, None)),
            }
        }
        // Whatever is left in `known` was not found on disk.
        for gone in known.values().filter(|k| k.missing == 0) {
            self.store.mark_missing(&gone.id, now).await?;
            counts.missing += 1;
            if let Some((item, _)) = self.store.item(&gone.id).await? {
                self.publish(
                    library,
                    LibraryChange::ItemMissing,
                    counts,
                    Some(ItemRef::from(&item)),
                );
            }
        }
        self.publish(library, LibraryChange::ScanProgress, counts, None);
        let mut last_progress = Instant::now();
        let mut reads = futures_util::stream::iter(to_read)
            .map(|(file, id)| async move {
                let probed = probe::probe(&file.absolute, PROBE_TIMEOUT).await;
                (file, id, probed)
            })
            .buffer_unordered(self.probe_concurrency.max(1));
        while let Some((file, id, probed)) = reads.next().await {
            counts.checked += 1;
            match probed {
                Ok(probe) => {
                    let added = id.is_none();
                    let item_ref = self.store_file(library, &root, &file, id, &probe).await?;
                    if added {
                        counts.added += 1;
                    } else {
                        counts.updated += 1;
                    }
                    let change = if added {
                        LibraryChange::ItemAdded
                    } else {
                        LibraryChange::ItemUpdated
                    };
                    self.publish(library, change, counts, Some(item_ref));
                }
                Err(probe::ProbeError::NotInstalled) => return Err(StreamingError::ToolsMissing),
                Err(error) => {
                    counts.failed += 1;
                    tracing::warn!(library = %library.id, path = %file.path, %error, "ffprobe could not read a media file");
                }
            }
            if last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                self.publish(library, LibraryChange::ScanProgress, counts, None);
            }
        }
        self.store.set_scanned(&library.id, Utc::now()).await?;
        self.publish(library, LibraryChange::ScanFinished, counts, None);
        Ok(counts)
    }

    /// Stores a file read by ffprobe (new, or changed since the last scan) and makes its
    /// artwork.
    async fn store_file(
        &self,
        library: &Library,
        root: &Path,
        file: &Found,
        existing: Option<ItemId>,
        probe: &Probe,
    ) -> Result<ItemRef, StreamingError> {
        let nfo = match &file.nfo {
            Some(path) => tokio::fs::read_to_string(path)
                .await
                .ok()
                .map(|xml| naming::parse_nfo(&xml)),
            None => None,
        };
        let relative = Path::new(&file.path);
        let mut described = describe(
            library.kind,
            file.class,
            naming::parse(library.kind, relative),
            probe,
        );
        if let Some(nfo) = nfo {
            if let Some(title) = nfo.title.filter(|t| !t.trim().is_empty()) {
                described.title = title;
            }
            described.year = nfo.year.or(described.year);
            described.overview = nfo.plot.or(described.overview);
            if described.kind == ItemKind::Episode {
                described.season = nfo.season.or(described.season);
                described.episode = nfo.episode.or(described.episode);
            }
        }
        let now = Utc::now();
        let parent = self.parent_of(library, &described, now).await?;
        let probe_json = serde_json::to_string(probe).ok();
        let sidecars = sidecars_json(&file.sidecars);
        let row = FileRow {
            library_id: &library.id,
            parent_id: parent.as_ref(),
            kind: described.kind,
            title: &described.title,
            year: described.year,
            overview: described.overview.as_deref(),
            season_number: described.season,
            episode_number: described.episode,
            episode_end: described.episode_end,
            disc_number: described.disc,
            track_number: described.track,
            artist: described.artist.as_deref(),
            path: &file.path,
            size_bytes: file.size,
            mtime_ms: file.mtime_ms,
            duration_ms: probe.duration_ms,
            container: Some(probe.container.as_str()),
            probe: probe_json.as_deref(),
            sidecars: &sidecars,
        };
        let id = match existing {
            Some(id) => {
                self.artwork.remove(&id).await;
                id
            }
            None => ItemId::new(),
        };
        self.store.save_file(&id, &row, now).await?;
        if probe.video().is_some() {
            let dir = self.artwork.of(&id);
            let (poster, strip) =
                artwork::make(&walk_path(root, &file.path), &dir, probe.duration_ms).await;
            self.store.set_artwork(&id, poster, strip).await?;
        }
        Ok(ItemRef {
            id,
            kind: described.kind,
            title: described.title,
            parent_id: parent,
        })
    }

    /// The show → season or album the file belongs to, made if new.
    async fn parent_of(
        &self,
        library: &Library,
        described: &Described,
        now: chrono::DateTime<Utc>,
    ) -> Result<Option<ItemId>, StreamingError> {
        match described.kind {
            ItemKind::Episode => {
                let Some((show, year)) = &described.show else {
                    return Ok(None);
                };
                let show_key = format!("show:{}", show.to_lowercase());
                let show_id = self
                    .store
                    .group(
                        &NewGroup {
                            library_id: &library.id,
                            parent_id: None,
                            kind: ItemKind::Show,
                            group_key: &show_key,
                            title: show,
                            year: *year,
                            season_number: None,
                            artist: None,
                        },
                        now,
                    )
                    .await?;
                let season = described.season.unwrap_or(1);
                let season_title = if season == 0 {
                    "Specials".to_string()
                } else {
                    format!("Season {season}")
                };
                let season_key = format!("season:{show_id}:{season}");
                let season_id = self
                    .store
                    .group(
                        &NewGroup {
                            library_id: &library.id,
                            parent_id: Some(&show_id),
                            kind: ItemKind::Season,
                            group_key: &season_key,
                            title: &season_title,
                            year: None,
                            season_number: Some(season),
                            artist: None,
                        },
                        now,
                    )
                    .await?;
                Ok(Some(season_id))
            }
            ItemKind::Track => {
                let Some(album) = &described.album else {
                    return Ok(None);
                };
                let artist = described.artist.as_deref();
                let key = format!(
                    "album:{}:{}",
                    artist.unwrap_or_default().to_lowercase(),
                    album.to_lowercase()
                );
                let id = self
                    .store
                    .group(
                        &NewGroup {
                            library_id: &library.id,
                            parent_id: None,
                            kind: ItemKind::Album,
                            group_key: &key,
                            title: album,
                            year: described.year,
                            season_number: None,
                            artist,
                        },
                        now,
                    )
                    .await?;
                Ok(Some(id))
            }
            _ => Ok(None),
        }
    }
}

fn walk_path(root: &Path, relative: &str) -> PathBuf {
    walk::resolve(root, relative).unwrap_or_else(|| root.join(relative))
}

/// Which files a library of `kind` takes: music takes audio, the others video.
fn wanted(kind: LibraryKind, class: MediaClass) -> bool {
    match kind {
        LibraryKind::Music => class == MediaClass::Audio,
        _ => class == MediaClass::Video,
    }
}

/// `"3/12"` → 3.
fn leading_number(text: &str) -> Option<u32> {
    text.split('/').next()?.trim().parse().ok()
}

fn tag<'a>(probe: &'a Probe, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| probe.tags.get(*name))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// The item a file becomes, from its path and (for music) its tags.
fn describe(kind: LibraryKind, class: MediaClass, parsed: Parsed, probe: &Probe) -> Described {
    let mut described = Described {
        kind: ItemKind::Video,
        title: String::new(),
        year: None,
        overview: None,
        show: None,
        season: None,
        episode: None,
        episode_end: None,
        album: None,
        artist: None,
        disc: None,
        track: None,
    };
    match parsed {
        Parsed::Movie { title, year } if kind == LibraryKind::Movies => {
            described.kind = ItemKind::Movie;
            described.title = title;
            described.year = year;
        }
        Parsed::Episode {
            show,
            season,
            episode,
            episode_end,
            title,
            year,
        } => {
            described.kind = ItemKind::Episode;
            described.title = title.unwrap_or_else(|| format!("Episode {episode}"));
            described.show = Some((show, year));
            described.season = Some(season);
            described.episode = Some(episode);
            described.episode_end = episode_end;
        }
        Parsed::Track {
            artist,
            album,
            disc,
            number,
            title,
        } => {
            described.kind = ItemKind::Track;
            described.title = title;
            described.artist = artist;
            described.album = album;
            described.disc = disc;
            described.track = number;
        }
        Parsed::Movie { title, year } | Parsed::Video { title, year } => {
            described.title = title;
            described.year = year;
        }
    }
    if class == MediaClass::Audio {
        described.kind = ItemKind::Track;
        if let Some(title) = tag(probe, &["title"]) {
            described.title = title.to_string();
        }
        if let Some(artist) = tag(probe, &["album_artist", "artist"]) {
            described.artist = Some(artist.to_string());
        }
        if let Some(album) = tag(probe, &["album"]) {
            described.album = Some(album.to_string());
        }
        if let Some(track) = tag(probe, &["track"]).and_then(leading_number) {
            described.track = Some(track);
        }
        if let Some(disc) = tag(probe, &["disc"]).and_then(leading_number) {
            described.disc = Some(disc);
        }
        if let Some(year) = tag(probe, &["date", "year"]).and_then(|d| d.get(..4)?.parse().ok()) {
            described.year = Some(year);
        }
    }
    if described.title.trim().is_empty() {
        described.title = "Untitled".into();
    }
    described
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_with(tags: &[(&str, &str)]) -> Probe {
        Probe {
            container: "mp3".into(),
            duration_ms: Some(1000),
            bitrate: None,
            streams: vec![],
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn tags_name_a_track_better_than_its_path() {
        let parsed = naming::parse(LibraryKind::Music, Path::new("Unknown/03 - track.mp3"));
        let probe = probe_with(&[
            ("title", "Águas de Março"),
            ("album_artist", "Elis & Tom"),
            ("album", "Elis & Tom"),
            ("track", "1/14"),
            ("date", "1974-03-01"),
        ]);
        let d = describe(LibraryKind::Music, MediaClass::Audio, parsed, &probe);
        assert_eq!(d.kind, ItemKind::Track);
        assert_eq!(d.title, "Águas de Março");
        assert_eq!(d.artist.as_deref(), Some("Elis & Tom"));
        assert_eq!(d.track, Some(1));
        assert_eq!(d.year, Some(1974));
    }

    #[test]
    fn episodes_keep_their_show_and_numbers() {
        let parsed = naming::parse(
            LibraryKind::Shows,
            Path::new("Show Name/Season 01/Show Name - S01E02.mkv"),
        );
        let d = describe(
            LibraryKind::Shows,
            MediaClass::Video,
            parsed,
            &probe_with(&[]),
        );
        assert_eq!(d.kind, ItemKind::Episode);
        assert_eq!(d.show.as_ref().map(|s| s.0.as_str()), Some("Show Name"));
        assert_eq!((d.season, d.episode), (Some(1), Some(2)));
        assert_eq!(d.title, "Episode 2");
    }

    #[test]
    fn music_libraries_take_audio_and_the_others_video() {
        assert!(wanted(LibraryKind::Music, MediaClass::Audio));
        assert!(!wanted(LibraryKind::Music, MediaClass::Video));
        assert!(wanted(LibraryKind::Shows, MediaClass::Video));
        assert!(!wanted(LibraryKind::Movies, MediaClass::Audio));
    }
}
