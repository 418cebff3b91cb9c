//! Resumable uploads into a space, the rules of both kinds:
//!
//! - **tus** (HTTP, [`super::tus`]): the upload's target, length and received byte count are
//!   a row in `files.tus_uploads`, its bytes `data/uploads/tus/<id>.part`, so it resumes after
//!   a restart and on any node that shares the database and the data directory. A chunk is
//!   appended at the stored offset only; when the last byte is in, the file goes through
//!   [`FilesService::store_upload`] like every other write (versions, conflicts, journal,
//!   `file.changed`). Abandoned uploads expire (`files.tus_expiry_hours` after their last
//!   byte) and the sweeper removes them.
//! - **socket** (`upload:{id}`): media owns the transfer; files only records where the bytes
//!   go (`files.socket_uploads`) and places them when media hands them over
//!   ([`super::placement`]).

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use bytes::Bytes;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::upload_store::{SocketTarget, TusUpload, UploadStore};
use super::{FilesError, FilesService, Written};
use crate::config::FilesConfig;
use crate::contexts::auth::Principal;
use crate::contexts::media::{Ingested, MediaError, Placement, Upload};
use crate::db::Db;
use crate::ids::{NodeId, SpaceId, TusUploadId, UploadId, VersionId};

type Result<T, E = FilesError> = std::result::Result<T, E>;

/// Bytes kept from the start of a file for content sniffing (as media's ingest keeps).
const HEAD_BYTES: usize = 4096;
/// While a long PATCH without a checksum streams, its progress is stored this often, so a
/// server that dies mid-request loses at most this much.
const RECORD_EVERY: u64 = 64 * 1024 * 1024;
/// The write buffer between the request body and the partial file.
const WRITE_BUFFER: usize = 1024 * 1024;
/// How long the target of a socket upload is kept (media expires the upload long before).
const SOCKET_TARGET_DAYS: i64 = 30;

/// The tus and socket-upload parts of the service's state.
pub(super) struct Resumable {
    store: UploadStore,
    /// `data/uploads/tus`: partial files, kept across restarts, on the blobs' filesystem so
    /// the finished file is renamed into the store, not copied.
    dir: PathBuf,
    expiry: Duration,
    /// One request at a time appends to an upload on this node (a second PATCH, e.g. the
    /// client's retry after a cut, waits for the first to record what it received); the
    /// offset's compare-and-set in the database keeps nodes apart.
    writers: dashmap::DashMap<TusUploadId, Arc<tokio::sync::Mutex<()>>>,
}

impl Resumable {
    pub fn new(db: Db, dir: PathBuf, config: &FilesConfig) -> Self {
        Self {
            store: UploadStore::new(db),
            dir,
            expiry: Duration::hours(i64::from(config.tus_expiry_hours.max(1))),
            writers: dashmap::DashMap::new(),
        }
    }

    fn part(&self, id: &TusUploadId) -> PathBuf {
        self.dir.join(format!("{id}.part"))
    }
}

/// A tus upload about to be created.
pub struct NewTusUpload {
    pub space_id: SpaceId,
    pub path: String,
    pub base_version: Option<VersionId>,
    pub device: Option<String>,
    pub length: u64,
    /// `Upload-Metadata` as the client sent it (HEAD gives it back).
    pub metadata: String,
}

/// Where a tus upload stands.
#[derive(Clone, Debug)]
pub struct TusState {
    pub id: TusUploadId,
    pub length: u64,
    pub offset: u64,
    pub metadata: String,
    pub expires_at: DateTime<Utc>,
    /// The stored file, once complete.
    pub node_id: Option<NodeId>,
    pub version_id: Option<VersionId>,
}

impl From<TusUpload> for TusState {
    fn from(u: TusUpload) -> Self {
        TusState {
            id: u.id,
            length: u.length as u64,
            offset: u.received as u64,
            metadata: u.metadata,
            expires_at: u.expires_at,
            node_id: u.node_id,
            version_id: u.version_id,
        }
    }
}

/// The checksum extension's algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    /// As `Tus-Checksum-Algorithm` lists them.
    pub const NAMES: &'static str = "sha1,sha256";

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            _ => None,
        }
    }
}

/// A chunk's announced digest (`Upload-Checksum`).
#[derive(Clone, Debug)]
pub struct ChunkChecksum {
    pub algorithm: ChecksumAlgorithm,
    pub digest: Vec<u8>,
}

enum ChunkHasher {
    Sha1(sha1::Sha1),
    Sha256(Sha256),
}

impl ChunkHasher {
    fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The whole file's SHA-256 and its first bytes, read in a blocking thread.
async fn hash_file(path: PathBuf) -> Result<(String, Vec<u8>)> {
    tokio::task::spawn_blocking(move || -> std::io::Result<(String, Vec<u8>)> {
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut head = Vec::with_capacity(HEAD_BYTES);
        let mut buffer = vec![0u8; WRITE_BUFFER];
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            if head.len() < HEAD_BYTES {
                let take = (HEAD_BYTES - head.len()).min(n);
                head.extend_from_slice(&buffer[..take]);
            }
            hasher.update(&buffer[..n]);
        }
        Ok((hex::encode(hasher.finalize()), head))
    })
    .await
    .map_err(|e| MediaError::Storage(e.to_string()))?
    .map_err(|e| FilesError::Media(e.into()))
}

fn io(e: std::io::Error) -> FilesError {
    FilesError::Media(MediaError::Io(e))
}

impl FilesService {
    // --- tus ---

    /// Opens a tus upload of `length` bytes at `path`: refused up front when the caller may
    /// not write there, the parent folder is missing, or the bytes could not fit
    /// (`max_upload_bytes`, the quota). A zero-length upload is complete at once.
    pub async fn create_tus(&self, by: &Principal, new: NewTusUpload) -> Result<TusState> {
        self.check_target(by, &new.space_id, &new.path).await?;
        self.check_room(by, &new.space_id, new.length).await?;
        let at = now();
        let upload = TusUpload {
            id: TusUploadId::new(),
            user_id: by.user_id.clone(),
            space_id: new.space_id,
            path: new.path,
            base_version: new.base_version,
            device: new.device.map(|d| d.chars().take(100).collect()),
            length: i64::try_from(new.length)
                .map_err(|_| FilesError::Invalid("Upload-Length is too large".into()))?,
            received: 0,
            metadata: new.metadata,
            node_id: None,
            version_id: None,
            created_at: at,
            expires_at: at + self.uploads().expiry,
        };
        tokio::fs::create_dir_all(&self.uploads().dir)
            .await
            .map_err(io)?;
        tokio::fs::File::create(self.uploads().part(&upload.id))
            .await
            .map_err(io)?;
        self.uploads().store.insert_tus(&upload).await?;
        if upload.length == 0 {
            return self.finish_tus(by, upload).await;
        }
        Ok(upload.into())
    }

    /// The caller's own upload, while it has not expired (anyone else's is `NotFound`).
    pub async fn tus_upload(&self, by: &Principal, id: &TusUploadId) -> Result<TusState> {
        Ok(self.owned_tus(by, id).await?.into())
    }

    async fn owned_tus(&self, by: &Principal, id: &TusUploadId) -> Result<TusUpload> {
        match self.uploads().store.tus(id).await? {
            Some(u) if u.user_id == by.user_id && u.expires_at > Utc::now() => Ok(u),
            _ => Err(FilesError::NotFound),
        }
    }

    /// Appends the body at `offset`, which must be where the upload stands (else
    /// `OffsetMismatch`). Bytes received before the body was cut are kept (so the client
    /// resumes after them), unless a `checksum` was announced: then the chunk counts only
    /// whole and matching (else `ChunkChecksumMismatch`, nothing kept). The last byte stores
    /// the file.
    pub async fn append_tus<S, E>(
        &self,
        by: &Principal,
        id: &TusUploadId,
        offset: u64,
        checksum: Option<ChunkChecksum>,
        body: S,
    ) -> Result<TusState>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let writer = self
            .uploads()
            .writers
            .entry(id.clone())
            .or_default()
            .clone();
        let writing = writer.lock().await;
        let outcome = self.append_locked(by, id, offset, checksum, body).await;
        drop(writing);
        drop(writer);
        self.uploads()
            .writers
            .remove_if(id, |_, lock| Arc::strong_count(lock) == 1);
        outcome
    }

    async fn append_locked<S, E>(
        &self,
        by: &Principal,
        id: &TusUploadId,
        offset: u64,
        checksum: Option<ChunkChecksum>,
        mut body: S,
    ) -> Result<TusState>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let upload = self.owned_tus(by, id).await?;
        let received = upload.received as u64;
        let length = upload.length as u64;
        if offset != received {
            return Err(MediaError::OffsetMismatch { expected: received }.into());
        }
        if upload.node_id.is_some() {
            return Err(MediaError::UploadClosed("already complete").into());
        }
        let store = &self.uploads().store;
        let part = self.uploads().part(id);
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part)
            .await
            .map_err(io)?;
        // Bytes past the stored offset are from a request that never recorded them.
        file.set_len(offset).await.map_err(io)?;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(io)?;
        let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut hasher = checksum.as_ref().map(|c| ChunkHasher::new(c.algorithm));
        let mut end = offset;
        let mut recorded = offset;
        // The body ended early (the connection was cut): what arrived is kept, unless a
        // checksum was announced, which a partial chunk cannot match.
        let mut cut: Option<FilesError> = None;
        // The body is not a chunk of this upload: none of it is kept.
        let mut refused: Option<FilesError> = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    cut = Some(FilesError::Invalid(format!("the upload was cut: {e}")));
                    break;
                }
            };
            if end + chunk.len() as u64 > length {
                refused = Some(FilesError::Invalid(format!(
                    "the body passes Upload-Length ({length} bytes)"
                )));
                break;
            }
            file.write_all(&chunk).await.map_err(io)?;
            if let Some(hasher) = hasher.as_mut() {
                hasher.update(&chunk);
            }
            end += chunk.len() as u64;
            if hasher.is_none() && end - recorded >= RECORD_EVERY {
                file.flush().await.map_err(io)?;
                if !store
                    .advance_tus(id, recorded, end, now() + self.uploads().expiry)
                    .await?
                {
                    return Err(self.moved_on(by, id).await);
                }
                recorded = end;
            }
        }
        file.flush().await.map_err(io)?;
        let verified = match (hasher, &checksum) {
            (Some(hasher), Some(checksum)) => cut.is_none() && hasher.finish() == checksum.digest,
            _ => true,
        };
        if refused.is_some() || !verified {
            file.into_inner().set_len(recorded).await.map_err(io)?;
            return Err(refused.or(cut).unwrap_or(FilesError::ChunkChecksumMismatch));
        }
        if end > recorded
            && !store
                .advance_tus(id, recorded, end, now() + self.uploads().expiry)
                .await?
        {
            return Err(self.moved_on(by, id).await);
        }
        if let Some(cut) = cut {
            return Err(cut);
        }
        let mut upload = upload;
        upload.received = end as i64;
        if end < length {
            upload.expires_at = now() + self.uploads().expiry;
            return Ok(upload.into());
        }
        drop(file);
        self.finish_tus(by, upload).await
    }

    /// The offset another request (another node) moved the upload to meanwhile.
    async fn moved_on(&self, by: &Principal, id: &TusUploadId) -> FilesError {
        match self.owned_tus(by, id).await {
            Ok(now) => MediaError::OffsetMismatch {
                expected: now.received as u64,
            }
            .into(),
            Err(e) => e,
        }
    }

    /// Stores the complete file. A refusal now (the quota filled meanwhile, a folder took
    /// the name) ends the upload: its bytes and row are removed.
    async fn finish_tus(&self, by: &Principal, upload: TusUpload) -> Result<TusState> {
        let part = self.uploads().part(&upload.id);
        let stored = async {
            // Counted against the quota now that they are real: others may have filled it
            // since the upload was created.
            self.check_room(by, &upload.space_id, upload.length as u64)
                .await?;
            let (sha256, head) = hash_file(part.clone()).await?;
            let ingested = Ingested {
                path: part.clone(),
                sha256,
                size: upload.length as u64,
                head,
            };
            self.store_upload(
                by,
                &upload.space_id,
                &upload.path,
                ingested,
                upload.base_version.as_ref(),
                upload.device.as_deref(),
            )
            .await
        }
        .await;
        match stored {
            Ok(written) => {
                self.uploads()
                    .store
                    .complete_tus(&upload.id, &written.node.id, &written.version.id)
                    .await?;
                let mut state = TusState::from(upload);
                state.node_id = Some(written.node.id);
                state.version_id = Some(written.version.id);
                Ok(state)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                self.uploads().store.delete_tus(&upload.id).await?;
                Err(e)
            }
        }
    }

    /// Ends the caller's upload and removes its bytes (a complete upload's file stays).
    pub async fn terminate_tus(&self, by: &Principal, id: &TusUploadId) -> Result<()> {
        let upload = self.owned_tus(by, id).await?;
        self.uploads().store.delete_tus(&upload.id).await?;
        let _ = tokio::fs::remove_file(self.uploads().part(&upload.id)).await;
        Ok(())
    }

    /// Removes the uploads whose expiry has passed (abandoned ones with their bytes) and
    /// old socket-upload targets; returns how many tus uploads went.
    pub async fn sweep_uploads(&self, at: DateTime<Utc>) -> Result<usize> {
        let expired = self.uploads().store.expired_tus(at).await?;
        for id in &expired {
            self.uploads().store.delete_tus(id).await?;
            let _ = tokio::fs::remove_file(self.uploads().part(id)).await;
        }
        self.uploads()
            .store
            .forget_socket_targets(at - Duration::days(SOCKET_TARGET_DAYS))
            .await?;
        Ok(expired.len())
    }

    /// Sweeps expired uploads every `every`, until the process ends.
    pub fn spawn_upload_sweeper(&self, every: StdDuration) {
        let files = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match files.sweep_uploads(Utc::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "files: expired tus uploads removed"),
                    Err(e) => tracing::warn!(error = %e, "files: sweeping uploads failed"),
                }
            }
        });
    }

    // --- socket uploads ---

    /// Opens a socket upload (media's `upload:{id}`) whose bytes become the file at `path`:
    /// checked like a tus upload up front, then media reserves the bytes and takes the
    /// chunks.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_socket_upload(
        &self,
        by: &Principal,
        space_id: &SpaceId,
        path: &str,
        size: u64,
        sha256: &str,
        base_version: Option<VersionId>,
        device: Option<String>,
    ) -> Result<Upload> {
        self.check_target(by, space_id, path).await?;
        self.check_room(by, space_id, size).await?;
        let name = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path);
        let upload = self.media().create_upload(by, name, size, sha256).await?;
        let target = SocketTarget {
            space_id: space_id.clone(),
            path: path.to_string(),
            base_version,
            device: device.map(|d| d.chars().take(100).collect()),
        };
        self.uploads()
            .store
            .insert_socket_target(&upload.id, &target, now())
            .await?;
        Ok(upload)
    }

    /// Places a finished socket upload's bytes if it was opened for a space.
    pub(super) async fn place_socket_upload(
        &self,
        by: &Principal,
        upload_id: &UploadId,
        ingested: Ingested,
    ) -> Result<Placement> {
        let store = &self.uploads().store;
        let Some(target) = store.socket_target(upload_id).await? else {
            return Ok(Placement::NotMine(ingested));
        };
        let written = self
            .store_upload(
                by,
                &target.space_id,
                &target.path,
                ingested,
                target.base_version.as_ref(),
                target.device.as_deref(),
            )
            .await;
        store.delete_socket_target(upload_id).await?;
        Ok(Placement::Placed(written_json(&written?)))
    }
}

/// A write as the socket reply's `file` (the same shape as the HTTP upload's answer).
fn written_json(written: &Written) -> serde_json::Value {
    serde_json::json!({
        "node": serde_json::to_value(&written.node).unwrap_or_default(),
        "version": serde_json::to_value(&written.version).unwrap_or_default(),
        "created": written.created,
        "conflict": written.conflict,
    })
}
