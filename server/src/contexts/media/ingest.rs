//! Receiving bytes: streamed to a temporary file while hashed and counted, so memory use does
//! not depend on the file's size and nothing is visible until the whole file is in. A
//! [`Budget`] is checked before every chunk is written, so a refused upload stops writing the
//! moment its running total passes `max_upload_bytes` or the community's remaining quota.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::MediaError;

/// Bytes kept from the start of the file for content sniffing.
const HEAD_BYTES: usize = 4096;

/// How many bytes one ingest may receive.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// `media.max_upload_bytes`: over it is `TooLarge`.
    pub max_bytes: u64,
    /// The community's quota and what it already uses; `None` when the bytes were reserved
    /// beforehand (a resumable upload's reservation).
    pub quota: Option<Quota>,
}

#[derive(Clone, Copy, Debug)]
pub struct Quota {
    pub used: u64,
    pub quota: u64,
}

impl Budget {
    /// What is left once `bytes` more are stored.
    pub fn after(self, bytes: u64) -> Budget {
        Budget {
            max_bytes: self.max_bytes,
            quota: self.quota.map(|q| Quota {
                used: q.used.saturating_add(bytes),
                quota: q.quota,
            }),
        }
    }

    /// Refuses a running total of `size` bytes.
    pub fn check(&self, size: u64) -> Result<(), MediaError> {
        if size > self.max_bytes {
            return Err(MediaError::TooLarge {
                limit: self.max_bytes,
            });
        }
        match self.quota {
            Some(Quota { used, quota }) if used.saturating_add(size) > quota => {
                Err(MediaError::QuotaExceeded {
                    used,
                    quota,
                    needed: size,
                })
            }
            _ => Ok(()),
        }
    }
}

pub struct Ingest {
    path: PathBuf,
    /// False until `finish`: a dropped ingest (the client went away) removes its file.
    finished: bool,
    file: tokio::fs::File,
    hasher: Sha256,
    size: u64,
    budget: Budget,
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
    /// Starts a temporary file that may grow within `budget`.
    pub async fn start(tmp_dir: &Path, budget: Budget) -> Result<Self, MediaError> {
        tokio::fs::create_dir_all(tmp_dir).await?;
        let path = tmp_dir.join(format!("upload-{}", nanoid::nanoid!(16)));
        let file = tokio::fs::File::create(&path).await?;
        Ok(Self {
            path,
            finished: false,
            file,
            hasher: Sha256::new(),
            size: 0,
            budget,
            head: Vec::new(),
        })
    }

    /// Appends `chunk`, or refuses it (writing nothing) when it would exceed the budget.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), MediaError> {
        let size = self.size + chunk.len() as u64;
        self.budget.check(size)?;
        self.size = size;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(max_bytes: u64, quota: Option<(u64, u64)>) -> Budget {
        Budget {
            max_bytes,
            quota: quota.map(|(used, quota)| Quota { used, quota }),
        }
    }

    #[tokio::test]
    async fn a_refused_chunk_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut ingest = Ingest::start(dir.path(), budget(100, Some((90, 100))))
            .await
            .unwrap();
        ingest.write(&[1; 6]).await.unwrap();
        let refused = ingest.write(&[2; 6]).await.unwrap_err();
        assert!(
            matches!(
                refused,
                MediaError::QuotaExceeded {
                    used: 90,
                    quota: 100,
                    needed: 12
                }
            ),
            "{refused:?}"
        );
        ingest.file.flush().await.unwrap();
        assert_eq!(std::fs::metadata(&ingest.path).unwrap().len(), 6);
    }

    #[tokio::test]
    async fn the_size_limit_comes_before_the_quota() {
        let dir = tempfile::tempdir().unwrap();
        let mut ingest = Ingest::start(dir.path(), budget(4, None)).await.unwrap();
        assert!(matches!(
            ingest.write(&[0; 5]).await,
            Err(MediaError::TooLarge { limit: 4 })
        ));
        let path = ingest.path.clone();
        drop(ingest);
        assert!(!path.exists(), "a dropped ingest leaves nothing behind");
    }
}
