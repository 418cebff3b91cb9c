//! Content-addressed blob storage behind the `object_store` interface.
//!
//! Blobs are keyed by the SHA-256 of their content (`blobs/ab/cd/<hash>`), renditions by the
//! hash of their source (`renditions/<hash>/thumb.jpg`). Writes arrive as a finished,
//! fsynced temporary file that is renamed into place, so a partial upload is never visible;
//! reads (whole or by byte range) go through `ObjectStore`, so an S3/MinIO-compatible store
//! can replace the local one behind the same methods.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};

use super::MediaError;

#[derive(Clone)]
pub struct BlobStore {
    root: PathBuf,
    store: Arc<LocalFileSystem>,
}

/// An open read of (part of) a blob.
pub struct BlobRead {
    /// Size of the whole blob.
    pub size: u64,
    /// The bytes this read covers.
    pub range: Range<u64>,
    pub stream: BoxStream<'static, Result<Bytes, MediaError>>,
}

fn storage(e: impl std::fmt::Display) -> MediaError {
    MediaError::Storage(e.to_string())
}

pub fn blob_key(hash: &str) -> String {
    format!("blobs/{}/{}/{hash}", &hash[0..2], &hash[2..4])
}

pub fn rendition_key(hash: &str, name: &str) -> String {
    format!("renditions/{}/{}/{hash}/{name}", &hash[0..2], &hash[2..4])
}

impl BlobStore {
    /// A local store rooted at `root` (the data directory's `files/`).
    pub fn local(root: &Path) -> Result<Self, MediaError> {
        std::fs::create_dir_all(root).map_err(storage)?;
        Ok(Self {
            root: root.to_path_buf(),
            store: Arc::new(LocalFileSystem::new_with_prefix(root).map_err(storage)?),
        })
    }

    /// Moves a finished, fsynced temporary file to `key`. The temporary file must be on the
    /// same filesystem (the data directory's `tmp/`), so the rename is atomic.
    pub async fn put_file(&self, key: &str, file: &Path) -> Result<(), MediaError> {
        let target = self.root.join(key);
        let file = file.to_path_buf();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let dir = target.parent().expect("keys have directories");
            std::fs::create_dir_all(dir)?;
            std::fs::File::open(&file)?.sync_all()?;
            std::fs::rename(&file, &target)?;
            // The rename itself is durable only once the directory is.
            std::fs::File::open(dir)?.sync_all()
        })
        .await
        .map_err(storage)?
        .map_err(storage)
    }

    /// Writes small bytes (renditions) through a temporary file in the same way.
    pub async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        tmp_dir: &Path,
    ) -> Result<(), MediaError> {
        let tmp = tmp_dir.join(format!("rendition-{}", nanoid::nanoid!(12)));
        tokio::fs::write(&tmp, bytes).await.map_err(storage)?;
        let result = self.put_file(key, &tmp).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// Size in bytes, or `NotFound`.
    pub async fn size(&self, key: &str) -> Result<u64, MediaError> {
        match self.store.head(&StorePath::from(key)).await {
            Ok(meta) => Ok(meta.size),
            Err(object_store::Error::NotFound { .. }) => Err(MediaError::NotFound),
            Err(e) => Err(storage(e)),
        }
    }

    pub async fn exists(&self, key: &str) -> bool {
        self.store.head(&StorePath::from(key)).await.is_ok()
    }

    /// Reads `range` of the blob (all of it when `None`); a range past the end is `RangeNotSatisfiable`.
    pub async fn read(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobRead, MediaError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&StorePath::from(key), options)
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => MediaError::NotFound,
                other => storage(other),
            })?;
        let size = result.meta.size;
        let range = result.range.clone();
        Ok(BlobRead {
            size,
            range,
            stream: result
                .into_stream()
                .map(|chunk| chunk.map_err(storage))
                .boxed(),
        })
    }

    /// The whole blob in memory (for processing images, which are bounded by upload limits).
    pub async fn read_all(&self, key: &str) -> Result<Bytes, MediaError> {
        let mut read = self.read(key, None).await?;
        let mut out = Vec::with_capacity(read.size as usize);
        while let Some(chunk) = read.stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out.into())
    }

    /// A local path for tools that need one (ffprobe, ffmpeg).
    pub fn local_path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub async fn delete(&self, key: &str) -> Result<(), MediaError> {
        match self.store.delete(&StorePath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage(e)),
        }
    }
}
