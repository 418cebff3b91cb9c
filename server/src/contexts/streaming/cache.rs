//! The transcode cache on disk: `<data_dir>/streaming/cache/<item>/…` holds an item's HLS
//! segments per variant, its remuxed file and its WebVTT subtitles. Its size is capped
//! (`streaming.cache_max_bytes`): when over, whole items go, least recently used first, never
//! one in use right now.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use crate::ids::ItemId;

/// Items used this recently are never evicted (a player between two segments).
const IN_USE_SECONDS: u64 = 120;

pub struct Cache {
    root: PathBuf,
    max_bytes: u64,
    /// When each item was last served or written since start.
    used: Mutex<HashMap<String, Instant>>,
}

impl Cache {
    pub fn new(root: PathBuf, max_bytes: u64) -> Self {
        Cache {
            root,
            max_bytes,
            used: Mutex::new(HashMap::new()),
        }
    }

    pub fn item_dir(&self, item: &ItemId) -> PathBuf {
        self.root.join(item.as_str())
    }

    /// Marks the item as used now.
    pub fn touch(&self, item: &ItemId) {
        self.used
            .lock()
            .expect("cache lock")
            .insert(item.as_str().to_string(), Instant::now());
    }

    /// Removes whole items, least recently used first, until the cache fits its cap. Blocking
    /// (it walks the directory): call it on a blocking thread. Returns the items removed.
    pub fn enforce(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let used = self.used.lock().expect("cache lock").clone();
        let mut items: Vec<(String, u64, Option<Instant>, SystemTime)> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_str()?.to_string();
                let modified = entry.metadata().ok()?.modified().ok()?;
                Some((
                    name.clone(),
                    dir_size(&entry.path()),
                    used.get(&name).copied(),
                    modified,
                ))
            })
            .collect();
        let mut total: u64 = items.iter().map(|i| i.1).sum();
        if total <= self.max_bytes {
            return Vec::new();
        }
        // Items not touched since start come first (oldest on disk first), then by last use.
        items.sort_by(|a, b| match (a.2, b.2) {
            (None, None) => a.3.cmp(&b.3),
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(&y),
        });
        let mut removed = Vec::new();
        for (name, size, last_used, _) in items {
            if total <= self.max_bytes {
                break;
            }
            if last_used.is_some_and(|at| at.elapsed().as_secs() < IN_USE_SECONDS) {
                continue;
            }
            if fs::remove_dir_all(self.root.join(&name)).is_ok() {
                total = total.saturating_sub(size);
                self.used.lock().expect("cache lock").remove(&name);
                removed.push(name);
            }
        }
        removed
    }
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_size(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(cache: &Cache, item: &str, bytes: usize) {
        let dir = cache.item_dir(&ItemId::from(item)).join("720p");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("0.ts"), vec![0u8; bytes]).unwrap();
    }

    #[test]
    fn the_least_recently_used_items_go_first_and_items_in_use_stay() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::new(root.path().to_path_buf(), 2_500);
        fill(&cache, "old", 1_000);
        fill(&cache, "mid", 1_000);
        fill(&cache, "new", 1_000);
        // "old" and "new" in use: only "mid", never touched since start, may go.
        cache.touch(&ItemId::from("old"));
        cache.touch(&ItemId::from("new"));
        assert_eq!(cache.enforce(), vec!["mid".to_string()]);
        assert!(cache.item_dir(&ItemId::from("old")).exists());
        assert!(cache.item_dir(&ItemId::from("new")).exists());
        // Under the cap nothing goes.
        assert!(cache.enforce().is_empty());
    }
}
