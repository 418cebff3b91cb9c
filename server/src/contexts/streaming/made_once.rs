//! Files made once however many requests ask at the same time (a remux, a WebVTT track): the
//! first request runs ffmpeg into a `.part` file that is renamed into place; the others wait
//! for it. A failure is not remembered, so the next request tries again.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::StreamingError;

type Outcome = Result<(), String>;

#[derive(Default)]
pub struct MadeOnce {
    making: Mutex<HashMap<PathBuf, Arc<OnceCell<Outcome>>>>,
}

impl MadeOnce {
    /// `target`, made by `make(part_path)` unless it already exists.
    pub async fn get<F, Fut>(&self, target: &Path, make: F) -> Result<(), StreamingError>
    where
        F: FnOnce(PathBuf) -> Fut,
        Fut: Future<Output = Result<(), StreamingError>>,
    {
        if tokio::fs::metadata(target).await.is_ok() {
            return Ok(());
        }
        let cell = self
            .making
            .lock()
            .expect("made-once lock")
            .entry(target.to_path_buf())
            .or_default()
            .clone();
        let outcome = cell
            .get_or_init(|| async {
                let mut part = target.as_os_str().to_owned();
                part.push(".part");
                let part = PathBuf::from(part);
                if let Some(dir) = target.parent() {
                    tokio::fs::create_dir_all(dir)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                let made = make(part.clone()).await;
                let made = match made {
                    Ok(()) => tokio::fs::rename(&part, target)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if made.is_err() {
                    let _ = tokio::fs::remove_file(&part).await;
                }
                made
            })
            .await
            .clone();
        self.making.lock().expect("made-once lock").remove(target);
        outcome.map_err(StreamingError::TranscodeFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn concurrent_requests_make_the_file_once_and_failures_are_retried() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/remux.mp4");
        let once = MadeOnce::default();
        let runs = AtomicU32::new(0);
        let make = |part: PathBuf| {
            runs.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                tokio::fs::write(part, b"made").await?;
                Ok(())
            }
        };
        let (a, b) = tokio::join!(once.get(&target, make), once.get(&target, make));
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(std::fs::read(&target).unwrap(), b"made");

        let other = dir.path().join("b.vtt");
        let failed = once
            .get(&other, |_| async {
                Err(StreamingError::TranscodeFailed("no".into()))
            })
            .await;
        assert!(matches!(failed, Err(StreamingError::TranscodeFailed(_))));
        assert!(!other.exists());
        once.get(&other, |part| async move {
            tokio::fs::write(part, b"x").await?;
            Ok(())
        })
        .await
        .unwrap();
        assert!(other.exists());
    }
}
