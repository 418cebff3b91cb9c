//! Receiving bytes: streamed to a temporary file while hashed and counted, so memory use does
//! not depend on the file's size and nothing is visible until the whole file is in.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::MediaError;

/// Bytes kept from the start of the file for content sniffing.
const HEAD_BYTES: usize = 4096;

pub struct Ingest {
    path: PathBuf,
    /// False until `finish`: a dropped ingest (the client went away) removes its file.
    finished: bool,
    file: tokio::fs::File,
    hasher: Sha256,
    size: u64,
    limit: u64,
    head: Vec<u8>,
}

/// A complete file in the temporary directory.
pub struct Ingested {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub head: Vec<u8>,
}

impl Ingest {
    /// Starts a temporary file; more than `limit` bytes fails with `TooLarge`.
    pub async fn start(tmp_dir: &Path, limit: u64) -> Result<Self, MediaError> {
        tokio::fs::create_dir_all(tmp_dir).await?;
        let path = tmp_dir.join(format!("upload-{}", nanoid::nanoid!(16)));
        let file = tokio::fs::File::create(&path).await?;
        Ok(Self {
            path,
            finished: false,
            file,
            hasher: Sha256::new(),
            size: 0,
            limit,
            head: Vec::new(),
        })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), MediaError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(MediaError::TooLarge { limit: self.limit });
        }
        if self.head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await?;
        Ok(())
    }

    pub async fn finish(mut self) -> Result<Ingested, MediaError> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        self.finished = true;
        Ok(Ingested {
            path: self.path.clone(),
            sha256: hex::encode(self.hasher.finalize_reset()),
            size: self.size,
            head: std::mem::take(&mut self.head),
        })
    }

    /// Drops the partial file (a failed or refused upload leaves nothing behind).
    pub async fn abort(self) {
        // Dropping does it.
        drop(self);
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Ingested {
    pub async fn discard(self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}
