//! When scans run: at start (`streaming.scan_on_start`), when an admin asks, and when a
//! watched root changes (`notify`, debounced by `streaming.watch_debounce_ms` of quiet). One
//! scan per library runs at a time; a request during a scan makes it run once more after.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::service::{Inner, StreamingService};
use super::Library;
use crate::ids::LibraryId;

/// A library's scan in progress.
pub(super) struct ScanSlot {
    /// Asked again while running.
    again: bool,
}

/// The running watchers, one per library root; dropping one stops it.
#[derive(Default)]
pub(super) struct Watchers(Mutex<HashMap<LibraryId, notify::RecommendedWatcher>>);

/// A debounced burst lasts at most this long before it scans anyway.
const MAX_DEBOUNCE: Duration = Duration::from_secs(30);

impl StreamingService {
    /// Scans every library and watches their roots (at start).
    pub async fn start(&self) {
        let libraries = match self.inner.store.all_libraries().await {
            Ok(libraries) => libraries,
            Err(e) => {
                tracing::error!(error = %e, "cannot list the streaming libraries");
                return;
            }
        };
        for library in &libraries {
            self.start_watching(library);
            if self.inner.config.scan_on_start {
                self.request_scan(library);
            }
        }
    }

    /// Runs a scan of `library` now, or once more after the running one.
    pub(super) fn request_scan(&self, library: &Library) {
        {
            let mut scans = self.inner.scans.lock().expect("scans lock");
            if let Some(slot) = scans.get_mut(&library.id) {
                slot.again = true;
                return;
            }
            scans.insert(library.id.clone(), ScanSlot { again: false });
        }
        let inner = self.inner.clone();
        let library = library.clone();
        tokio::spawn(async move {
            loop {
                match inner.scanner.scan(&library).await {
                    Ok(counts) => tracing::info!(
                        library = %library.id,
                        found = counts.found,
                        added = counts.added,
                        updated = counts.updated,
                        missing = counts.missing,
                        failed = counts.failed,
                        "library scanned"
                    ),
                    Err(e) => {
                        tracing::warn!(library = %library.id, error = %e, "library scan failed")
                    }
                }
                let mut scans = inner.scans.lock().expect("scans lock");
                match scans.get_mut(&library.id) {
                    Some(slot) if slot.again => slot.again = false,
                    _ => {
                        scans.remove(&library.id);
                        return;
                    }
                }
            }
        });
    }

    /// Whether a scan of the library is running.
    pub fn scanning(&self, id: &LibraryId) -> bool {
        self.inner
            .scans
            .lock()
            .expect("scans lock")
            .contains_key(id)
    }

    pub(super) fn start_watching(&self, library: &Library) {
        if !self.inner.config.watch {
            return;
        }
        // Any change means "scan again": one waiting signal is enough, the rest may drop.
        let (signal, mut changes) = mpsc::channel::<()>(1);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| !e.kind.is_access()) {
                let _ = signal.try_send(());
            }
        });
        let mut watcher = match watcher {
            Ok(watcher) => watcher,
            Err(e) => {
                tracing::warn!(library = %library.id, error = %e, "cannot watch a library root");
                return;
            }
        };
        if let Err(e) = watcher.watch(
            std::path::Path::new(&library.path),
            RecursiveMode::Recursive,
        ) {
            tracing::warn!(library = %library.id, path = %library.path, error = %e, "cannot watch a library root");
            return;
        }
        self.inner
            .watchers
            .0
            .lock()
            .expect("watchers lock")
            .insert(library.id.clone(), watcher);
        let inner: Weak<Inner> = Arc::downgrade(&self.inner);
        let quiet = Duration::from_millis(self.inner.config.watch_debounce_ms);
        let library = library.clone();
        tokio::spawn(async move {
            // Ends when the watcher (and so the sender) is dropped.
            while changes.recv().await.is_some() {
                let burst = tokio::time::Instant::now();
                while burst.elapsed() < MAX_DEBOUNCE {
                    match tokio::time::timeout(quiet, changes.recv()).await {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
                let Some(inner) = inner.upgrade() else { return };
                tracing::debug!(library = %library.id, "library root changed: scanning");
                StreamingService { inner }.request_scan(&library);
            }
        });
    }

    pub(super) fn stop_watching(&self, id: &LibraryId) {
        self.inner
            .watchers
            .0
            .lock()
            .expect("watchers lock")
            .remove(id);
    }
}
