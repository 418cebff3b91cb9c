//! Scratch files a stopped server left in `data/tmp`: an upload being received, a rendition on
//! its way into the blob store, a copy made for ffprobe. A killed or crashed server cannot
//! remove them, and nothing else ever would, so the server removes them when it starts.
//!
//! Partial socket uploads (`data/uploads/<id>.part`) are not scratch: they are resumed after a
//! restart and stay while their upload is open.

use super::service::MediaService;

/// Name prefixes of the scratch files written in the temporary directory: `upload-` by
/// `ingest.rs`, `rendition-` and `probe-` by `blob.rs`.
const SCRATCH_PREFIXES: &[&str] = &["upload-", "rendition-", "probe-"];

impl MediaService {
    /// Removes the scratch files in the temporary directory; returns how many. Only for a
    /// server starting up, before it takes any work: a file in use would go too (which is why
    /// one-shot commands, run beside a live server, never call it).
    pub async fn remove_leftover_temporary_files(&self) -> usize {
        let dir = &self.inner.tmp_dir;
        let mut entries = match tokio::fs::read_dir(dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return 0,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot list temporary files");
                return 0;
            }
        };
        let mut removed = 0;
        loop {
            let entry = match entries.next_entry().await {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot list temporary files");
                    break;
                }
            };
            let name = entry.file_name();
            let is_scratch = name
                .to_str()
                .is_some_and(|n| SCRATCH_PREFIXES.iter().any(|p| n.starts_with(p)));
            if !is_scratch {
                continue;
            }
            match tokio::fs::remove_file(entry.path()).await {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!(
                    file = %entry.path().display(),
                    error = %e,
                    "cannot remove a leftover temporary file"
                ),
            }
        }
        if removed > 0 {
            tracing::info!(
                files = removed,
                "removed temporary files left by a stopped server"
            );
        }
        removed
    }
}
