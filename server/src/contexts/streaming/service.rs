//! The streaming service: libraries (admins add roots and start scans), reading items, and
//! who may see what: members and guests of a community see its libraries; only admins change
//! them. Playback is in [`super::playback`], watch state in [`super::watch`], scheduling scans
//! and watching roots in [`super::scanning`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

use super::artwork::ArtworkDir;
use super::cache::Cache;
use super::hls::Transcoder;
use super::made_once::MadeOnce;
use super::scan::Scanner;
use super::scanning::{ScanSlot, Watchers};
use super::store::StreamingStore;
use super::urls::{Grant, UrlSigner};
use super::{Item, ItemFilter, ItemsPage, Library, LibraryKind, StreamingError};
use crate::config::StreamingConfig;
use crate::contexts::auth::{Principal, Role};
use crate::events::EventBus;
use crate::ids::{CommunityId, ItemId, LibraryId};

type Result<T, E = StreamingError> = std::result::Result<T, E>;

/// Items a listing page holds at most.
pub const MAX_PAGE: u32 = 200;

/// Who is asking to play: a signed-in principal, or the holder of a signed playback URL.
pub enum Viewer<'a> {
    Principal(&'a Principal),
    Url(&'a Grant),
}

impl Viewer<'_> {
    pub fn community_id(&self) -> &CommunityId {
        match self {
            Viewer::Principal(p) => &p.community_id,
            Viewer::Url(grant) => &grant.community_id,
        }
    }
}

#[derive(Clone)]
pub struct StreamingService {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub store: StreamingStore,
    pub bus: Arc<dyn EventBus>,
    pub config: StreamingConfig,
    pub scanner: Scanner,
    pub scans: Mutex<HashMap<LibraryId, ScanSlot>>,
    pub watchers: Watchers,
    pub artwork: ArtworkDir,
    pub cache: Arc<Cache>,
    pub transcoder: Transcoder,
    pub made: MadeOnce,
    pub signer: UrlSigner,
    /// Whether ffmpeg and ffprobe run, checked once.
    pub tools: tokio::sync::OnceCell<bool>,
}

impl StreamingService {
    /// Artwork and the transcode cache go under `<data_dir>/streaming/`.
    pub fn new(
        db: crate::db::Db,
        bus: Arc<dyn EventBus>,
        config: StreamingConfig,
        data_dir: &Path,
        server_secret: &[u8],
    ) -> Self {
        let root = data_dir.join("streaming");
        let store = StreamingStore::new(db);
        let artwork = ArtworkDir::new(root.join("artwork"));
        let cache = Arc::new(Cache::new(root.join("cache"), config.cache_max_bytes));
        let transcoder = Transcoder::new(
            cache.clone(),
            config.max_transcodes,
            config.segment_seconds,
            Duration::from_secs(config.transcode_idle_seconds),
        );
        StreamingService {
            inner: Arc::new(Inner {
                scanner: Scanner {
                    store: store.clone(),
                    bus: bus.clone(),
                    artwork: artwork.clone(),
                    probe_concurrency: config.probe_concurrency,
                },
                store,
                bus,
                scans: Mutex::new(HashMap::new()),
                watchers: Watchers::default(),
                artwork,
                cache,
                transcoder,
                made: MadeOnce::default(),
                signer: UrlSigner::from_server_secret(server_secret),
                tools: tokio::sync::OnceCell::new(),
                config,
            }),
        }
    }

    pub(super) async fn tools_available(&self) -> bool {
        *self
            .inner
            .tools
            .get_or_init(taina_imaging::tools_available)
            .await
    }

    fn require_admin(by: &Principal) -> Result<()> {
        if by.role == Role::Admin {
            Ok(())
        } else {
            Err(StreamingError::Forbidden)
        }
    }

    // --- libraries ---

    /// Adds a library root (admins): an existing, readable directory, not already a library
    /// of the community. Its first scan starts at once, and it is watched from then on.
    pub async fn add_library(
        &self,
        by: &Principal,
        name: &str,
        path: &str,
        kind: LibraryKind,
    ) -> Result<Library> {
        Self::require_admin(by)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(StreamingError::Invalid(
                "a library name has 1 to 100 characters".into(),
            ));
        }
        let given = Path::new(path);
        if !given.is_absolute() {
            return Err(StreamingError::Invalid(
                "the path must be absolute (a directory on the server)".into(),
            ));
        }
        let canonical: PathBuf = tokio::fs::canonicalize(given)
            .await
            .map_err(|_| StreamingError::Invalid(format!("{path} does not exist on the server")))?;
        let readable = {
            let dir = canonical.clone();
            tokio::task::spawn_blocking(move || std::fs::read_dir(dir).is_ok())
                .await
                .unwrap_or(false)
        };
        if !canonical.is_dir() || !readable {
            return Err(StreamingError::Invalid(format!(
                "{path} is not a directory the server can read"
            )));
        }
        let Some(canonical) = canonical.to_str() else {
            return Err(StreamingError::Invalid("the path is not UTF-8".into()));
        };
        let library = Library {
            id: LibraryId::new(),
            community_id: by.community_id.clone(),
            name: name.to_string(),
            path: canonical.to_string(),
            kind,
            created_at: Utc::now(),
            scanned_at: None,
        };
        self.inner.store.insert_library(&library).await?;
        self.start_watching(&library);
        self.request_scan(&library);
        Ok(library)
    }

    /// Removes a library and everything scanned from it (its files on disk are untouched).
    pub async fn remove_library(&self, by: &Principal, id: &LibraryId) -> Result<()> {
        Self::require_admin(by)?;
        let library = self.library(by, id).await?;
        self.stop_watching(&library.id);
        self.inner.store.delete_library(&library.id).await?;
        Ok(())
    }

    pub async fn libraries(&self, by: &Principal) -> Result<Vec<Library>> {
        self.inner.store.libraries(&by.community_id).await
    }

    pub async fn library(&self, by: &Principal, id: &LibraryId) -> Result<Library> {
        match self.inner.store.library(id).await? {
            Some(library) if library.community_id == by.community_id => Ok(library),
            _ => Err(StreamingError::NotFound),
        }
    }

    /// Starts a scan of the library (admins); one already running scans again when done.
    pub async fn scan_library(&self, by: &Principal, id: &LibraryId) -> Result<Library> {
        Self::require_admin(by)?;
        let library = self.library(by, id).await?;
        self.request_scan(&library);
        Ok(library)
    }

    /// Deletes the items whose files scans no longer find (admins), with their progress.
    pub async fn remove_missing(&self, by: &Principal, id: &LibraryId) -> Result<u64> {
        Self::require_admin(by)?;
        let library = self.library(by, id).await?;
        let removed = self.inner.store.remove_missing(&library.id).await?;
        for item in &removed {
            self.inner.artwork.remove(item).await;
        }
        Ok(removed.len() as u64)
    }

    // --- items ---

    pub(super) async fn item_for(&self, viewer: &Viewer<'_>, id: &ItemId) -> Result<Item> {
        match self.inner.store.item(id).await? {
            Some((item, community)) if community == *viewer.community_id() => Ok(item),
            _ => Err(StreamingError::NotFound),
        }
    }

    pub async fn item(&self, by: &Principal, id: &ItemId) -> Result<Item> {
        self.item_for(&Viewer::Principal(by), id).await
    }

    /// A page of a library's items: `after` is the previous page's `next`.
    pub async fn items(
        &self,
        by: &Principal,
        library_id: &LibraryId,
        filter: &ItemFilter,
        first: Option<u32>,
        after: Option<&str>,
    ) -> Result<ItemsPage> {
        let library = self.library(by, library_id).await?;
        let limit = first.unwrap_or(50).clamp(1, MAX_PAGE);
        let offset = match after {
            None => 0,
            Some(after) => after.parse::<u64>().map_err(|_| {
                StreamingError::Invalid("after is not a cursor of this listing".into())
            })?,
        };
        if let Some(parent) = &filter.parent_id {
            let parent = self.item(by, parent).await?;
            if parent.library_id != library.id {
                return Err(StreamingError::NotFound);
            }
        }
        let (items, total) = self
            .inner
            .store
            .items(&library.id, filter, limit, offset)
            .await?;
        let end = offset + items.len() as u64;
        Ok(ItemsPage {
            next: (end < total).then(|| end.to_string()),
            items,
            total,
        })
    }

    pub async fn recently_added(&self, by: &Principal, first: Option<u32>) -> Result<Vec<Item>> {
        let limit = first.unwrap_or(20).clamp(1, MAX_PAGE);
        self.inner
            .store
            .recently_added(&by.community_id, limit)
            .await
    }

    /// An item's artwork file (`poster.jpg` or `strip.jpg`) when it was made.
    pub async fn artwork(&self, viewer: &Viewer<'_>, id: &ItemId, name: &str) -> Result<PathBuf> {
        let item = self.item_for(viewer, id).await?;
        let made = match name {
            super::artwork::POSTER => item.has_poster,
            super::artwork::STRIP => item.strip_interval_ms.is_some(),
            _ => false,
        };
        if !made {
            return Err(StreamingError::NotFound);
        }
        Ok(self.inner.artwork.of(&item.id).join(name))
    }

    pub(super) fn verify_url(&self, token: &str, item: &ItemId) -> Result<Grant> {
        self.inner.signer.verify(token, item)
    }
}
