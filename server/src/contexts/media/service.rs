//! `MediaService`: storing photos (deduplicated per community, within quota), browsing the
//! timeline and albums, resumable uploads, backup sync, and who may see what: the owner and
//! members of the community; anyone for photos in a public album; everyone else gets
//! `NotFound`, the same as a missing photo.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::config::MediaConfig;
use crate::contexts::auth::{AuthService, Principal, Role};
use crate::db::Db;
use crate::events::EventBus;
use crate::ids::{AlbumId, PhotoId, UploadId};

use super::blob::{blob_key, rendition_key, BlobRead, BlobStore};
use super::events::MediaEvent;
use super::ingest::{Budget, Ingest, Ingested, Quota};
use super::store::{FileInsert, MediaStore, NewFile};
use super::{
    Album, BlobNeighbour, Cursor, Finished, JobCounts, MediaError, Photo, PhotoFilter, Placement,
    Rendition, Upload, UploadPlacement,
};

type Result<T, E = MediaError> = std::result::Result<T, E>;

/// Guests read what is shared with them and upload nothing (docs/api.md, "Roles").
fn may_upload(by: &Principal) -> Result<()> {
    if by.role == Role::Guest {
        return Err(MediaError::GuestsMayNot("upload"));
    }
    Ok(())
}

/// Members and admins see every album of their community; guests the public ones.
fn may_see_album(viewer: &Principal, album: &Album) -> bool {
    viewer.role != Role::Guest || album.is_public
}

#[derive(Clone)]
pub struct MediaService {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub store: MediaStore,
    pub blobs: BlobStore,
    pub auth: AuthService,
    pub bus: Arc<dyn EventBus>,
    pub config: MediaConfig,
    /// Temporary files, on the same filesystem as the blobs so a rename publishes them.
    pub tmp_dir: PathBuf,
    /// Partial socket uploads, kept across reconnects and restarts.
    pub uploads_dir: PathBuf,
    /// Wakes the processing worker when a job is queued.
    pub work: Notify,
    /// One chunk at a time per resumable upload, so a chunk refused for its offset never
    /// touches the partial file another chunk is writing.
    pub upload_writers: dashmap::DashMap<UploadId, Arc<tokio::sync::Mutex<()>>>,
    /// How long processing jobs take (registered with the server's metrics at start-up).
    pub job_durations: prometheus_client::metrics::histogram::Histogram,
    /// Files, which keeps its versions in the same blob store and quota (set once at start).
    pub neighbour: std::sync::OnceLock<Arc<dyn BlobNeighbour>>,
    /// Files again, taking the socket uploads opened for a space (set once at start).
    pub placement: std::sync::OnceLock<Arc<dyn UploadPlacement>>,
    /// Chat, which shares the photos messages carry (set once at start).
    pub shared: std::sync::OnceLock<Arc<dyn super::shared::SharedPhotos>>,
}

/// What a chunk of a socket upload did.
#[derive(Debug)]
pub struct ChunkOutcome {
    /// The next offset the server expects (the acknowledged byte count).
    pub next_offset: u64,
    /// What the upload became once every byte is in and the checksum matched.
    pub done: Option<Finished>,
}

impl MediaService {
    pub fn new(
        db: Db,
        auth: AuthService,
        bus: Arc<dyn EventBus>,
        config: MediaConfig,
        data_dir: &std::path::Path,
    ) -> Result<Self> {
        let files = data_dir.join("files");
        let tmp_dir = data_dir.join("tmp");
        let uploads_dir = data_dir.join("uploads");
        std::fs::create_dir_all(&tmp_dir)?;
        std::fs::create_dir_all(&uploads_dir)?;
        Ok(Self {
            inner: Arc::new(Inner {
                store: MediaStore::new(db),
                blobs: match config.object_store_url.as_deref().filter(|u| !u.is_empty()) {
                    Some(url) => BlobStore::s3(url)?,
                    None => BlobStore::local(&files)?,
                },
                auth,
                bus,
                config,
                tmp_dir,
                uploads_dir,
                work: Notify::new(),
                upload_writers: dashmap::DashMap::new(),
                shared: std::sync::OnceLock::new(),
                job_durations: prometheus_client::metrics::histogram::Histogram::new(
                    prometheus_client::metrics::histogram::exponential_buckets(0.005, 2.0, 14),
                ),
                neighbour: std::sync::OnceLock::new(),
                placement: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Attaches the context that shares the blob store and the quota (once; later calls are
    /// ignored).
    pub fn set_neighbour(&self, neighbour: Arc<dyn BlobNeighbour>) {
        let _ = self.inner.neighbour.set(neighbour);
    }

    /// Attaches the context that may take finished socket uploads (once; later calls are
    /// ignored).
    pub fn set_placement(&self, placement: Arc<dyn UploadPlacement>) {
        let _ = self.inner.placement.set(placement);
    }

    /// Where partial uploads live (`data/uploads`): kept across restarts, on the blobs'
    /// filesystem.
    pub fn uploads_dir(&self) -> &std::path::Path {
        &self.inner.uploads_dir
    }

    /// The community's quota less what the neighbour holds: the room photos may fill.
    async fn quota_for_photos(&self, community_id: &crate::ids::CommunityId) -> Result<u64> {
        let quota = self.inner.auth.storage_quota_bytes(community_id).await?;
        let elsewhere = match self.inner.neighbour.get() {
            Some(neighbour) => neighbour.bytes_used(community_id).await?,
            None => 0,
        };
        Ok(quota.saturating_sub(elsewhere))
    }

    /// Bytes the community's photos and open uploads take (the neighbour's not included).
    pub async fn bytes_used(&self, community_id: &crate::ids::CommunityId) -> Result<u64> {
        self.inner.store.usage(community_id, None).await
    }

    /// Stores a received file as a blob under its SHA-256 (once: the same bytes are already
    /// there for a photo or a file version, the copy is discarded). Returns the hash.
    pub async fn put_blob(&self, ingested: Ingested) -> Result<String> {
        let key = blob_key(&ingested.sha256);
        let hash = ingested.sha256.clone();
        if self.inner.blobs.exists(&key).await {
            ingested.discard().await;
        } else if let Err(e) = self.inner.blobs.put_file(&key, &ingested.path).await {
            ingested.discard().await;
            return Err(e);
        }
        Ok(hash)
    }

    /// Reads `range` (all when `None`) of the blob with this SHA-256.
    pub async fn read_blob(
        &self,
        hash: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BlobRead> {
        if hash.len() < 4 {
            return Err(MediaError::NotFound);
        }
        self.inner.blobs.read(&blob_key(hash), range).await
    }

    /// Deletes the blob with this SHA-256 unless a photo or the neighbour still uses it.
    pub async fn release_blob(&self, hash: &str) -> Result<()> {
        if hash.len() < 4 || self.blob_in_use(hash).await? {
            return Ok(());
        }
        self.inner.blobs.delete(&blob_key(hash)).await
    }

    async fn blob_in_use(&self, hash: &str) -> Result<bool> {
        if self.inner.store.hash_in_use(hash).await? {
            return Ok(true);
        }
        match self.inner.neighbour.get() {
            Some(neighbour) => neighbour.uses_blob(hash).await,
            None => Ok(false),
        }
    }

    /// A community's photos, their bytes and its albums (an admin's view: counts, never
    /// content).
    pub async fn community_totals(&self, admin: &Principal) -> Result<(u64, u64, u64)> {
        if admin.role != Role::Admin {
            return Err(MediaError::Forbidden);
        }
        self.inner.store.community_totals(&admin.community_id).await
    }

    /// Queues every failed processing job again (an admin's retry); returns how many.
    pub async fn retry_failed_jobs(&self) -> Result<u64> {
        let retried = self.inner.store.retry_failed_jobs(Utc::now()).await?;
        if retried > 0 {
            self.inner.work.notify_one();
        }
        Ok(retried)
    }

    /// The histogram of processing job durations, in seconds.
    pub fn job_durations(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.inner.job_durations.clone()
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.inner.config.max_upload_bytes
    }

    pub fn stream_chunk_bytes(&self) -> usize {
        self.inner.config.stream_chunk_bytes
    }

    /// Starts receiving a file for `community_id` (bytes go to a temporary file under the data
    /// directory). Writing stops with `TooLarge` or `QuotaExceeded` the moment the running
    /// total passes `max_upload_bytes` or the room left in the community's quota.
    pub async fn begin_ingest(&self, by: &Principal) -> Result<Ingest> {
        let budget = self.ingest_budget(by).await?;
        self.begin_ingest_within(budget).await
    }

    /// What `by` may upload now: `max_upload_bytes`, within the room left in their
    /// community's quota. Guests upload nothing.
    pub async fn ingest_budget(&self, by: &Principal) -> Result<Budget> {
        may_upload(by)?;
        let community_id = &by.community_id;
        let quota = self.quota_for_photos(community_id).await?;
        let used = self.inner.store.usage(community_id, None).await?;
        Ok(Budget {
            max_bytes: self.inner.config.max_upload_bytes,
            quota: Some(Quota { used, quota }),
        })
    }

    /// Starts receiving a file within `budget`.
    pub async fn begin_ingest_within(&self, budget: Budget) -> Result<Ingest> {
        Ingest::start(&self.inner.tmp_dir, budget).await
    }

    /// Refuses before any byte is read when `by` may not upload or `incoming` bytes cannot fit.
    pub async fn check_room(&self, by: &Principal, incoming: u64) -> Result<()> {
        may_upload(by)?;
        let community_id = &by.community_id;
        if incoming > self.inner.config.max_upload_bytes {
            return Err(MediaError::TooLarge {
                limit: self.inner.config.max_upload_bytes,
            });
        }
        let quota = self.quota_for_photos(community_id).await?;
        let used = self.inner.store.usage(community_id, None).await?;
        if used + incoming > quota {
            return Err(MediaError::QuotaExceeded {
                used,
                quota,
                needed: incoming,
            });
        }
        Ok(())
    }

    /// Stores a received file: type from its content, one copy per content per community,
    /// within the quota. Returns the photo and whether it is new.
    pub async fn store_ingested(
        &self,
        owner: &Principal,
        ingested: Ingested,
        original_filename: &str,
    ) -> Result<(Photo, bool)> {
        self.store_within_quota(owner, ingested, original_filename, None)
            .await
    }

    /// As [`Self::store_ingested`]; `releasing` names the resumable upload whose reservation
    /// these bytes replace (not counted twice against the quota).
    async fn store_within_quota(
        &self,
        owner: &Principal,
        ingested: Ingested,
        original_filename: &str,
        releasing: Option<&UploadId>,
    ) -> Result<(Photo, bool)> {
        if let Err(e) = may_upload(owner) {
            ingested.discard().await;
            return Err(e);
        }
        let Some(mime) = taina_imaging::sniff(&ingested.head) else {
            ingested.discard().await;
            return Err(MediaError::UnsupportedType);
        };
        if let Some(existing) = self
            .inner
            .store
            .file_by_hash(&owner.community_id, &ingested.sha256)
            .await?
        {
            ingested.discard().await;
            return Ok((existing, false));
        }
        // The bytes already stayed within the room left when they were received (the ingest's
        // budget, or the resumable upload's reservation); the insert below checks the quota
        // again atomically, against whatever else was stored meanwhile.
        let quota = match self.quota_for_photos(&owner.community_id).await {
            Ok(quota) => quota,
            Err(e) => {
                ingested.discard().await;
                return Err(e);
            }
        };
        let (hash, size) = (ingested.sha256.clone(), ingested.size);
        let key = blob_key(&hash);
        if self.inner.blobs.exists(&key).await {
            // Another community has the same bytes: one blob serves both.
            ingested.discard().await;
        } else if let Err(e) = self.inner.blobs.put_file(&key, &ingested.path).await {
            ingested.discard().await;
            return Err(e);
        }
        let original = taina_imaging::sanitize(original_filename);
        let id = PhotoId::new();
        let stored = self
            .inner
            .store
            .insert_file(
                &NewFile {
                    id: &id,
                    community_id: &owner.community_id,
                    user_id: &owner.user_id,
                    filename: &original,
                    original_filename: &original,
                    file_path: &key,
                    content_hash: &hash,
                    mime_type: mime,
                    size,
                    now: Utc::now().trunc_subsecs(6),
                },
                quota,
                releasing,
            )
            .await?;
        let photo = match stored {
            FileInsert::Inserted => self
                .inner
                .store
                .file(&id)
                .await?
                .ok_or(MediaError::NotFound)?,
            FileInsert::OverQuota => {
                // Another upload took the room meanwhile: the blob goes unless it is shared.
                if !self.blob_in_use(&hash).await? {
                    self.inner.blobs.delete(&key).await?;
                }
                let used = self
                    .inner
                    .store
                    .usage(&owner.community_id, releasing)
                    .await?;
                return Err(MediaError::QuotaExceeded {
                    used,
                    quota,
                    needed: size,
                });
            }
            FileInsert::Duplicate => {
                let existing = self
                    .inner
                    .store
                    .file_by_hash(&owner.community_id, &hash)
                    .await?;
                return existing.map(|p| (p, false)).ok_or(MediaError::NotFound);
            }
        };
        self.inner.work.notify_one();
        Ok((photo, true))
    }

    /// A photo the caller may see: their community's, or one in a public album.
    pub async fn photo_for(&self, viewer: Option<&Principal>, id: &PhotoId) -> Result<Photo> {
        let photo = self
            .inner
            .store
            .file(id)
            .await?
            .ok_or(MediaError::NotFound)?;
        if viewer.is_some_and(|v| v.community_id == photo.community_id && v.role != Role::Guest) {
            return Ok(photo);
        }
        if self.inner.store.in_public_album(id).await? {
            return Ok(photo);
        }
        if let (Some(viewer), Some(shared)) = (viewer, self.inner.shared.get()) {
            if shared.shared_with(&viewer.user_id, id).await {
                return Ok(photo);
            }
        }
        Err(MediaError::NotFound)
    }

    /// Who else may see photos (chat's attachments); set once at start.
    pub fn set_shared_photos(&self, shared: Arc<dyn super::shared::SharedPhotos>) {
        let _ = self.inner.shared.set(shared);
    }

    fn key_of(photo: &Photo, rendition: Rendition) -> Result<String> {
        match rendition {
            Rendition::Original => Ok(blob_key(&photo.content_hash)),
            other if photo.has_renditions => {
                Ok(rendition_key(&photo.content_hash, other.file_name()))
            }
            _ => Err(MediaError::NotFound),
        }
    }

    /// Size of a photo's rendition in bytes.
    pub async fn size(&self, photo: &Photo, rendition: Rendition) -> Result<u64> {
        self.inner
            .blobs
            .size(&Self::key_of(photo, rendition)?)
            .await
    }

    /// Opens (a range of) a photo's bytes.
    pub async fn read(
        &self,
        photo: &Photo,
        rendition: Rendition,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BlobRead> {
        self.inner
            .blobs
            .read(&Self::key_of(photo, rendition)?, range)
            .await
    }

    /// The timeline page after `after`, newest first, and the cursor of the next page.
    pub async fn photos(
        &self,
        viewer: &Principal,
        filter: &PhotoFilter,
        first: u32,
        after: Option<&str>,
    ) -> Result<(Vec<Photo>, Option<String>)> {
        let cursor = match after {
            Some(text) => Some(
                Cursor::decode(text).ok_or_else(|| MediaError::Invalid("invalid cursor".into()))?,
            ),
            None => None,
        };
        match &filter.album_id {
            Some(album) => {
                self.album_in_community(viewer, album).await?;
            }
            None if viewer.role == Role::Guest => {
                return Err(MediaError::GuestsMayNot(
                    "browse the timeline (public albums are shared with them)",
                ));
            }
            None => {}
        }
        let first = first.clamp(1, 200);
        let mut photos = self
            .inner
            .store
            .photos(&viewer.community_id, filter, cursor.as_ref(), first + 1)
            .await?;
        let next = if photos.len() > first as usize {
            photos.truncate(first as usize);
            photos.last().map(|p| {
                Cursor {
                    time: p.sort_time(),
                    id: p.id.clone(),
                }
                .encode()
            })
        } else {
            None
        };
        Ok((photos, next))
    }

    /// Deletes a photo (owner or admin); its bytes go when no other photo shares them.
    pub async fn delete_photo(&self, by: &Principal, id: &PhotoId) -> Result<()> {
        let photo = self.photo_for(Some(by), id).await?;
        if photo.community_id != by.community_id {
            return Err(MediaError::NotFound);
        }
        if photo.user_id != by.user_id && by.role != Role::Admin {
            return Err(MediaError::Forbidden);
        }
        self.inner.store.delete_file(id).await?;
        if !self.blob_in_use(&photo.content_hash).await? {
            for key in [
                blob_key(&photo.content_hash),
                rendition_key(&photo.content_hash, Rendition::Thumb.file_name()),
                rendition_key(&photo.content_hash, Rendition::Large.file_name()),
            ] {
                self.inner.blobs.delete(&key).await?;
            }
        }
        self.inner.bus.publish(MediaEvent::photo_deleted(by, id));
        Ok(())
    }

    pub async fn create_album(
        &self,
        by: &Principal,
        name: &str,
        description: Option<String>,
        is_public: bool,
    ) -> Result<Album> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(MediaError::Invalid(
                "album name must be 1 to 200 characters".into(),
            ));
        }
        if by.role == Role::Guest {
            return Err(MediaError::Forbidden);
        }
        let album = Album {
            id: AlbumId::new(),
            community_id: by.community_id.clone(),
            owner_id: by.user_id.clone(),
            name: name.to_string(),
            slug: crate::contexts::auth::slugify(name),
            description: description.filter(|d| !d.trim().is_empty()),
            is_public,
            cover_file_id: None,
            photo_count: 0,
            created_at: Utc::now().trunc_subsecs(6),
        };
        self.inner.store.insert_album(&album).await?;
        self.inner
            .bus
            .publish(MediaEvent::album_created(by, &album));
        Ok(album)
    }

    /// The community's albums; a guest sees the public ones (shared with everyone).
    pub async fn albums(&self, viewer: &Principal) -> Result<Vec<Album>> {
        let mut albums = self.inner.store.albums(&viewer.community_id).await?;
        albums.retain(|album| may_see_album(viewer, album));
        Ok(albums)
    }

    pub async fn album_by_slug(&self, viewer: &Principal, slug: &str) -> Result<Album> {
        self.inner
            .store
            .album_by_slug(&viewer.community_id, slug)
            .await?
            .filter(|album| may_see_album(viewer, album))
            .ok_or(MediaError::NotFound)
    }

    async fn album_in_community(&self, viewer: &Principal, album_id: &AlbumId) -> Result<Album> {
        match self.inner.store.album(album_id).await? {
            Some(album)
                if album.community_id == viewer.community_id && may_see_album(viewer, &album) =>
            {
                Ok(album)
            }
            _ => Err(MediaError::NotFound),
        }
    }

    /// Albums are changed by their owner or an admin.
    async fn album_to_change(&self, by: &Principal, album_id: &AlbumId) -> Result<Album> {
        let album = self.album_in_community(by, album_id).await?;
        if album.owner_id != by.user_id && by.role != Role::Admin {
            return Err(MediaError::Forbidden);
        }
        Ok(album)
    }

    pub async fn add_to_album(
        &self,
        by: &Principal,
        album_id: &AlbumId,
        photo_id: &PhotoId,
    ) -> Result<Album> {
        let album = self.album_to_change(by, album_id).await?;
        let photo = self.photo_for(Some(by), photo_id).await?;
        if photo.community_id != by.community_id {
            return Err(MediaError::NotFound);
        }
        self.inner
            .store
            .add_to_album(&album.id, photo_id, Utc::now())
            .await?;
        self.inner
            .store
            .album(album_id)
            .await?
            .ok_or(MediaError::NotFound)
    }

    pub async fn remove_from_album(
        &self,
        by: &Principal,
        album_id: &AlbumId,
        photo_id: &PhotoId,
    ) -> Result<Album> {
        let album = self.album_to_change(by, album_id).await?;
        if !self
            .inner
            .store
            .remove_from_album(&album.id, photo_id)
            .await?
        {
            return Err(MediaError::NotFound);
        }
        if album.cover_file_id.as_ref() == Some(photo_id) {
            self.inner
                .store
                .set_cover(&album.id, None, Utc::now())
                .await?;
        }
        self.inner
            .store
            .album(album_id)
            .await?
            .ok_or(MediaError::NotFound)
    }

    pub async fn set_album_cover(
        &self,
        by: &Principal,
        album_id: &AlbumId,
        photo_id: &PhotoId,
    ) -> Result<Album> {
        let album = self.album_to_change(by, album_id).await?;
        let in_album = self
            .inner
            .store
            .photos(
                &by.community_id,
                &PhotoFilter {
                    album_id: Some(album.id.clone()),
                    ..PhotoFilter::default()
                },
                None,
                10_000,
            )
            .await?
            .iter()
            .any(|p| p.id == *photo_id);
        if !in_album {
            return Err(MediaError::Invalid(
                "the cover must be a photo of the album".into(),
            ));
        }
        self.inner
            .store
            .set_cover(&album.id, Some(photo_id), Utc::now())
            .await?;
        self.inner
            .store
            .album(album_id)
            .await?
            .ok_or(MediaError::NotFound)
    }

    pub async fn delete_album(&self, by: &Principal, album_id: &AlbumId) -> Result<()> {
        let album = self.album_to_change(by, album_id).await?;
        self.inner.store.delete_album(&album.id).await
    }

    /// A public album and its photos, for anyone (no sign-in), named by its community's slug
    /// and its own: album slugs are unique only within a community, so a slug alone could
    /// name another community's album.
    pub async fn public_album(
        &self,
        community_slug: &str,
        slug: &str,
    ) -> Result<(Album, Vec<Photo>)> {
        let community_id = self
            .inner
            .auth
            .community_id_by_slug(community_slug)
            .await?
            .ok_or(MediaError::NotFound)?;
        let album = self
            .inner
            .store
            .album_by_slug(&community_id, slug)
            .await?
            .filter(|album| album.is_public)
            .ok_or(MediaError::NotFound)?;
        self.public_album_photos(album).await
    }

    /// A public album and its photos by the album's id (unique on the instance).
    pub async fn public_album_by_id(&self, id: &AlbumId) -> Result<(Album, Vec<Photo>)> {
        let album = self
            .inner
            .store
            .album(id)
            .await?
            .filter(|album| album.is_public)
            .ok_or(MediaError::NotFound)?;
        self.public_album_photos(album).await
    }

    async fn public_album_photos(&self, album: Album) -> Result<(Album, Vec<Photo>)> {
        let photos = self
            .inner
            .store
            .photos(
                &album.community_id,
                &PhotoFilter {
                    album_id: Some(album.id.clone()),
                    ..PhotoFilter::default()
                },
                None,
                1000,
            )
            .await?;
        Ok((album, photos))
    }

    /// Whether the blob store answers (a lookup of a key that never exists: `NotFound` is an
    /// answer), for health checks.
    pub async fn check_store(&self) -> Result<()> {
        match self.inner.blobs.size("health/probe").await {
            Ok(_) | Err(MediaError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The processing queue: queued and running jobs, and those that failed since `since`
    /// (for health checks and alerts; not scoped to a community).
    pub async fn job_counts(&self, since: DateTime<Utc>) -> Result<JobCounts> {
        self.inner.store.job_counts(since).await
    }

    /// Which of `hashes` (hex SHA-256) the caller's community does not have yet.
    pub async fn backup_check(&self, viewer: &Principal, hashes: &[String]) -> Result<Vec<String>> {
        may_upload(viewer)?;
        if hashes.len() > 10_000 {
            return Err(MediaError::Invalid("at most 10000 hashes per check".into()));
        }
        let mut normalized = Vec::with_capacity(hashes.len());
        for hash in hashes {
            let hash = hash.trim().to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(MediaError::Invalid(format!(
                    "`{hash}` is not a hex SHA-256"
                )));
            }
            normalized.push(hash);
        }
        self.inner
            .store
            .missing_hashes(&viewer.community_id, &normalized)
            .await
    }

    /// A device reports a finished backup batch.
    pub fn backup_completed(
        &self,
        by: &Principal,
        device: Option<String>,
        uploaded: u64,
        skipped: u64,
    ) {
        self.inner
            .bus
            .publish(MediaEvent::backup_completed(by, device, uploaded, skipped));
    }

    /// Opens a resumable upload of `size` bytes whose SHA-256 is `sha256`.
    pub async fn create_upload(
        &self,
        by: &Principal,
        filename: &str,
        size: u64,
        sha256: &str,
    ) -> Result<Upload> {
        let sha256 = sha256.trim().to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MediaError::Invalid(
                "sha256 must be 64 hex characters".into(),
            ));
        }
        if size == 0 {
            return Err(MediaError::Invalid("size must be at least 1".into()));
        }
        may_upload(by)?;
        if size > self.inner.config.max_upload_bytes {
            return Err(MediaError::TooLarge {
                limit: self.inner.config.max_upload_bytes,
            });
        }
        let quota = self.quota_for_photos(&by.community_id).await?;
        let now = Utc::now().trunc_subsecs(6);
        let upload = Upload {
            id: UploadId::new(),
            user_id: by.user_id.clone(),
            community_id: by.community_id.clone(),
            filename: taina_imaging::sanitize(filename),
            size_bytes: size,
            sha256,
            received_bytes: 0,
            status: "open".into(),
            file_id: None,
            expires_at: now + Duration::hours(self.inner.config.upload_expiry_hours as i64),
        };
        // The reservation is checked against the quota in the same statement that makes it, so
        // concurrent creators cannot reserve more than the quota between them.
        if !self.inner.store.reserve_upload(&upload, now, quota).await? {
            let used = self.inner.store.usage(&by.community_id, None).await?;
            return Err(MediaError::QuotaExceeded {
                used,
                quota,
                needed: size,
            });
        }
        tokio::fs::File::create(self.part_path(&upload.id)).await?;
        Ok(upload)
    }

    fn part_path(&self, upload_id: &UploadId) -> PathBuf {
        self.inner.uploads_dir.join(format!("{upload_id}.part"))
    }

    /// The caller's own upload.
    pub async fn upload_for(&self, by: &Principal, id: &UploadId) -> Result<Upload> {
        match self.inner.store.upload(id).await? {
            Some(upload) if upload.user_id == by.user_id => Ok(upload),
            _ => Err(MediaError::NotFound),
        }
    }

    /// Appends a chunk at `offset`, which must be the next expected one. The last chunk
    /// checks the whole file's SHA-256 and stores the photo, or discards the bytes.
    pub async fn write_chunk(
        &self,
        by: &Principal,
        upload_id: &UploadId,
        offset: u64,
        data: &[u8],
    ) -> Result<ChunkOutcome> {
        // Checked under the upload's writer lock: a concurrent chunk for the same offset waits,
        // then finds the offset taken and writes nothing.
        let writer = self
            .inner
            .upload_writers
            .entry(upload_id.clone())
            .or_default()
            .clone();
        let writing = writer.lock().await;
        let outcome = self.write_chunk_locked(by, upload_id, offset, data).await;
        drop(writing);
        drop(writer);
        self.inner
            .upload_writers
            .remove_if(upload_id, |_, lock| Arc::strong_count(lock) == 1);
        outcome
    }

    async fn write_chunk_locked(
        &self,
        by: &Principal,
        upload_id: &UploadId,
        offset: u64,
        data: &[u8],
    ) -> Result<ChunkOutcome> {
        let upload = self.upload_for(by, upload_id).await?;
        match upload.status.as_str() {
            "open" => {}
            "done" => return Err(MediaError::UploadClosed("already complete")),
            _ => return Err(MediaError::UploadClosed("failed")),
        }
        if upload.expires_at <= Utc::now() {
            return Err(MediaError::UploadClosed("expired"));
        }
        if offset != upload.received_bytes {
            return Err(MediaError::OffsetMismatch {
                expected: upload.received_bytes,
            });
        }
        let end = offset + data.len() as u64;
        if end > upload.size_bytes {
            return Err(MediaError::Invalid(format!(
                "the chunk ends at {end}, past the announced size {}",
                upload.size_bytes
            )));
        }
        let path = self.part_path(upload_id);
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await?;
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        file.write_all(data).await?;
        file.flush().await?;
        if !self
            .inner
            .store
            .advance_upload(upload_id, offset, end)
            .await?
        {
            let now = self.upload_for(by, upload_id).await?;
            return Err(MediaError::OffsetMismatch {
                expected: now.received_bytes,
            });
        }
        if end < upload.size_bytes {
            return Ok(ChunkOutcome {
                next_offset: end,
                done: None,
            });
        }
        file.sync_all().await?;
        drop(file);
        let finished = self.finish_upload(by, &upload, &path).await?;
        Ok(ChunkOutcome {
            next_offset: end,
            done: Some(finished),
        })
    }

    async fn finish_upload(
        &self,
        by: &Principal,
        upload: &Upload,
        part: &std::path::Path,
    ) -> Result<Finished> {
        // The bytes were reserved when the upload was created.
        let budget = Budget {
            max_bytes: self.inner.config.max_upload_bytes,
            quota: None,
        };
        let mut ingest = Ingest::start(&self.inner.tmp_dir, budget).await?;
        let mut file = tokio::fs::File::open(part).await?;
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            use tokio::io::AsyncReadExt;
            let n = file.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            if let Err(e) = ingest.write(&buffer[..n]).await {
                ingest.abort().await;
                return Err(e);
            }
        }
        let ingested = ingest.finish().await?;
        let _ = tokio::fs::remove_file(part).await;
        if ingested.sha256 != upload.sha256 {
            ingested.discard().await;
            self.inner
                .store
                .close_upload(&upload.id, "failed", None)
                .await?;
            return Err(MediaError::ChecksumMismatch);
        }
        let ingested = match self.inner.placement.get() {
            Some(placement) => match placement.place(by, upload, ingested).await {
                Ok(Placement::NotMine(ingested)) => ingested,
                Ok(Placement::Placed(placed)) => {
                    self.inner
                        .store
                        .close_upload(&upload.id, "done", None)
                        .await?;
                    return Ok(Finished::Placed(placed));
                }
                Err(e) => {
                    self.inner
                        .store
                        .close_upload(&upload.id, "failed", None)
                        .await?;
                    return Err(e);
                }
            },
            None => ingested,
        };
        match self
            .store_within_quota(by, ingested, &upload.filename, Some(&upload.id))
            .await
        {
            Ok((photo, _)) => {
                self.inner
                    .store
                    .close_upload(&upload.id, "done", Some(&photo.id))
                    .await?;
                Ok(Finished::Photo(Box::new(photo)))
            }
            Err(e) => {
                self.inner
                    .store
                    .close_upload(&upload.id, "failed", None)
                    .await?;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::query;
    use crate::db::testing::{Fixture, PASSWORD};

    /// Received bytes that sniff as a GIF (nothing here decodes them).
    async fn ingested(media: &MediaService, content: &str) -> Ingested {
        let budget = Budget {
            max_bytes: 1024,
            quota: None,
        };
        let mut ingest = media.begin_ingest_within(budget).await.unwrap();
        ingest
            .write(format!("GIF89a {content}").as_bytes())
            .await
            .unwrap();
        ingest.finish().await.unwrap()
    }

    async fn photo(media: &MediaService, owner: &Principal, content: &str) -> (Photo, bool) {
        let bytes = ingested(media, content).await;
        media
            .store_ingested(owner, bytes, "photo.gif")
            .await
            .unwrap()
    }

    fn in_album(album: &Album) -> PhotoFilter {
        PhotoFilter {
            album_id: Some(album.id.clone()),
            ..PhotoFilter::default()
        }
    }

    #[tokio::test]
    async fn guests_see_public_albums_and_their_photos_only() {
        let fx = Fixture::new().await;
        let media = fx.media();
        let admin = fx.sign_up("admin@example.org", None).await;
        let member = fx.invited(&admin, "member@example.org", Role::Member).await;
        let guest = fx.invited(&admin, "guest@example.org", Role::Guest).await;
        let trip = media
            .create_album(&admin, "Trip", None, true)
            .await
            .unwrap();
        let family = media
            .create_album(&admin, "Family", None, false)
            .await
            .unwrap();
        let (shared, _) = photo(&media, &admin, "shared").await;
        let (private, _) = photo(&media, &admin, "private").await;
        media
            .add_to_album(&admin, &trip.id, &shared.id)
            .await
            .unwrap();
        media
            .add_to_album(&admin, &family.id, &private.id)
            .await
            .unwrap();

        let names = |albums: Vec<Album>| albums.into_iter().map(|a| a.name).collect::<Vec<_>>();
        assert_eq!(names(media.albums(&guest).await.unwrap()), ["Trip"]);
        let mut all = names(media.albums(&member).await.unwrap());
        all.sort();
        assert_eq!(all, ["Family", "Trip"]);

        assert_eq!(
            media.album_by_slug(&guest, "trip").await.unwrap().id,
            trip.id
        );
        let hidden = media.album_by_slug(&guest, "family").await;
        assert!(matches!(hidden, Err(MediaError::NotFound)), "{hidden:?}");
        let (photos, _) = media
            .photos(&guest, &in_album(&trip), 10, None)
            .await
            .unwrap();
        assert_eq!(photos.len(), 1);
        assert_eq!(photos[0].id, shared.id);
        let private_album = media.photos(&guest, &in_album(&family), 10, None).await;
        assert!(
            matches!(private_album, Err(MediaError::NotFound)),
            "{private_album:?}"
        );
        let timeline = media
            .photos(&guest, &PhotoFilter::default(), 10, None)
            .await;
        assert!(
            matches!(timeline, Err(MediaError::GuestsMayNot(_))),
            "{timeline:?}"
        );

        // One photo at a time: the public album's for anyone, the other for members only.
        assert_eq!(
            media.photo_for(Some(&guest), &shared.id).await.unwrap(),
            shared
        );
        assert_eq!(media.photo_for(None, &shared.id).await.unwrap(), shared);
        for viewer in [Some(&guest), None] {
            let refused = media.photo_for(viewer, &private.id).await;
            assert!(matches!(refused, Err(MediaError::NotFound)), "{refused:?}");
        }
        assert_eq!(
            media.photo_for(Some(&member), &private.id).await.unwrap(),
            private
        );
        let (timeline, _) = media
            .photos(&member, &PhotoFilter::default(), 10, None)
            .await
            .unwrap();
        assert_eq!(timeline.len(), 2);
    }

    #[tokio::test]
    async fn the_same_content_is_stored_once_per_community() {
        let fx = Fixture::new().await;
        let media = fx.media();
        let admin = fx.sign_up("admin@example.org", None).await;
        let member = fx.invited(&admin, "member@example.org", Role::Member).await;
        let other = fx
            .auth
            .create_user(
                "other@example.org",
                PASSWORD.into(),
                Role::Admin,
                "Elsewhere",
            )
            .await
            .unwrap();
        let other = fx.sign_in(&other.email).await;

        let (first, new) = photo(&media, &admin, "beach").await;
        assert!(new);
        // Whoever sends it again in the community gets the stored photo.
        let (again, new) = photo(&media, &member, "beach").await;
        assert!(!new);
        assert_eq!(again.id, first.id);
        assert_eq!(again.user_id, admin.user_id);
        let (theirs, new) = photo(&media, &other, "beach").await;
        assert!(new);
        assert_ne!(theirs.id, first.id);
        assert_eq!(theirs.content_hash, first.content_hash);

        let unknown = "ab".repeat(32);
        let hashes = [first.content_hash.to_uppercase(), unknown.clone()];
        let missing = media.backup_check(&member, &hashes).await.unwrap();
        assert_eq!(missing, [unknown]);
    }

    #[tokio::test]
    async fn guests_upload_nothing_and_nothing_passes_a_full_quota() {
        let fx = Fixture::new().await;
        let media = fx.media();
        let admin = fx.sign_up("admin@example.org", None).await;
        let guest = fx.invited(&admin, "guest@example.org", Role::Guest).await;
        let sha256 = "cd".repeat(32);

        let by_guest = media.create_upload(&guest, "a.jpg", 10, &sha256).await;
        assert!(
            matches!(by_guest, Err(MediaError::GuestsMayNot(_))),
            "{by_guest:?}"
        );
        let room = media.check_room(&guest, 10).await;
        assert!(matches!(room, Err(MediaError::GuestsMayNot(_))), "{room:?}");
        let bytes = ingested(&media, "from a guest").await;
        let stored = media.store_ingested(&guest, bytes, "g.gif").await;
        assert!(
            matches!(stored, Err(MediaError::GuestsMayNot(_))),
            "{stored:?}"
        );

        query("UPDATE communities SET storage_quota_gb = 0 WHERE id = $1")
            .bind(&admin.community_id)
            .execute(&fx.db)
            .await
            .unwrap();
        let upload = media.create_upload(&admin, "a.jpg", 10, &sha256).await;
        assert!(
            matches!(
                upload,
                Err(MediaError::QuotaExceeded {
                    used: 0,
                    quota: 0,
                    needed: 10
                })
            ),
            "{upload:?}"
        );
        let bytes = ingested(&media, "no room").await;
        let stored = media.store_ingested(&admin, bytes, "n.gif").await;
        assert!(
            matches!(stored, Err(MediaError::QuotaExceeded { .. })),
            "{stored:?}"
        );
        let (timeline, _) = media
            .photos(&admin, &PhotoFilter::default(), 10, None)
            .await
            .unwrap();
        assert!(timeline.is_empty());
    }
}
