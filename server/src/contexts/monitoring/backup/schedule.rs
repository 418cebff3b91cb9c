//! Backups over time: the finished backups in a directory, retention (daily and weekly, then
//! the pool's unreferenced blobs removed), and a running server's scheduled backups, each
//! verified after it is written; the result goes to the security log and a failure raises an
//! alert (`backup_failed`, cleared by the next success).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};

use super::create::files_under;
use super::{create_backup, io, verify_backup, BackupError, Manifest, BACKUP_PREFIX, POOL_DIR};
use crate::config::Config;
use crate::contexts::monitoring::{
    AlertLevel, MonitoringService, NewSecurityEvent, SecurityEventKind,
};
use crate::db::Db;

/// A finished backup.
#[derive(Clone, Debug)]
pub struct BackupSummary {
    pub path: PathBuf,
    pub manifest: Manifest,
}

/// The finished backups in `dir` (those with a manifest), oldest first.
pub fn backups_in(dir: &Path) -> Result<Vec<BackupSummary>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("cannot list", dir)(e)),
    };
    let mut backups = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_backup = entry
            .file_name()
            .to_string_lossy()
            .starts_with(BACKUP_PREFIX);
        if !is_backup || !path.is_dir() {
            continue;
        }
        if let Ok(manifest) = Manifest::read(&path) {
            backups.push(BackupSummary { path, manifest });
        }
    }
    backups.sort_by_key(|b| b.manifest.created_at);
    Ok(backups)
}

/// Keeps the newest backup of each of the last `keep_daily` days and of each of the last
/// `keep_weekly` ISO weeks that have one (the newest backup always), removes the others, then
/// the pool's blobs no remaining manifest lists. Returns the backups removed.
pub fn prune_backups(
    dir: &Path,
    keep_daily: u32,
    keep_weekly: u32,
) -> Result<Vec<PathBuf>, BackupError> {
    let backups = backups_in(dir)?;
    let mut keep: HashSet<PathBuf> = HashSet::new();
    let newest_first: Vec<&BackupSummary> = backups.iter().rev().collect();
    let mut bucket = |label: &dyn Fn(DateTime<Utc>) -> String, count: u32| {
        let mut seen = BTreeSet::new();
        for backup in &newest_first {
            let key = label(backup.manifest.created_at);
            if seen.contains(&key) {
                continue;
            }
            if seen.len() >= count as usize {
                break;
            }
            seen.insert(key);
            keep.insert(backup.path.clone());
        }
    };
    bucket(&|t| t.format("%Y-%m-%d").to_string(), keep_daily);
    bucket(
        &|t| format!("{}-W{}", t.iso_week().year(), t.iso_week().week()),
        keep_weekly,
    );
    if let Some(newest) = newest_first.first() {
        keep.insert(newest.path.clone());
    }
    let mut removed = Vec::new();
    let mut referenced = HashSet::new();
    for backup in &backups {
        if keep.contains(&backup.path) {
            referenced.extend(backup.manifest.blobs.iter().map(|b| b.key.clone()));
        } else {
            std::fs::remove_dir_all(&backup.path).map_err(io("cannot remove", &backup.path))?;
            removed.push(backup.path.clone());
        }
    }
    if !removed.is_empty() {
        for (key, path) in files_under(&dir.join(POOL_DIR))? {
            if !referenced.contains(&key) && !key.ends_with(".partial") {
                std::fs::remove_file(&path).map_err(io("cannot remove", &path))?;
            }
        }
    }
    Ok(removed)
}

/// With `backup.schedule_hours` set, backs up every so many hours into `backup.dir`,
/// verifies, and prunes. Runs until the service is dropped.
pub fn spawn_schedule(monitoring: &MonitoringService, db: Db, config: Arc<Config>) {
    let hours = config.backup.schedule_hours;
    if hours == 0 {
        return;
    }
    let every = Duration::from_secs(hours * 3600);
    let service = monitoring.downgrade();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(monitoring) = MonitoringService::upgrade(&service) else {
                return;
            };
            scheduled_backup(&monitoring, &db, &config).await;
        }
    });
}

/// One scheduled backup: create, verify, prune; the outcome logged, recorded and alerted.
pub async fn scheduled_backup(monitoring: &MonitoringService, db: &Db, config: &Config) {
    let dir = &config.backup.dir;
    let result = async {
        let created = create_backup(db, config, dir).await?;
        verify_backup(&created.path, &config.backup.pg_restore).await?;
        let removed = prune_backups(dir, config.backup.keep_daily, config.backup.keep_weekly)?;
        Ok::<_, BackupError>((created, removed.len()))
    }
    .await;
    let (kind, reason) = match &result {
        Ok((created, removed)) => {
            tracing::info!(path = %created.path.display(), new_blobs = created.new_blobs, removed, "scheduled backup written and verified");
            if let Err(e) = monitoring.clear_condition("backup_failed").await {
                tracing::warn!(error = %e, "cannot clear the backup alert");
            }
            (
                SecurityEventKind::BackupCreated,
                format!(
                    "{} ({} blobs, {} new), verified; {removed} old backup(s) removed",
                    created.path.display(),
                    created.manifest.blobs.len(),
                    created.new_blobs
                ),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "scheduled backup failed");
            let message = format!("the scheduled backup into {} failed: {e}", dir.display());
            if let Err(e) = monitoring
                .raise_once("backup_failed", AlertLevel::Critical, &message)
                .await
            {
                tracing::warn!(error = %e, "cannot raise the backup alert");
            }
            (SecurityEventKind::BackupFailed, e.to_string())
        }
    };
    monitoring.record(NewSecurityEvent {
        kind,
        at: Utc::now(),
        community_id: None,
        user_id: None,
        address: None,
        user_agent: None,
        reason,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::monitoring::backup::BlobEntry;

    fn fake_backup(dir: &Path, at: DateTime<Utc>, blobs: &[&str]) -> PathBuf {
        let path = dir.join(format!(
            "{BACKUP_PREFIX}{}",
            at.format("%Y%m%dT%H%M%S%.3fZ")
        ));
        std::fs::create_dir_all(&path).unwrap();
        for key in blobs {
            let pooled = dir.join(POOL_DIR).join(key);
            std::fs::create_dir_all(pooled.parent().unwrap()).unwrap();
            std::fs::write(pooled, key.as_bytes()).unwrap();
        }
        Manifest {
            format: super::super::manifest::FORMAT,
            created_at: at,
            taina_version: "test".into(),
            backend: "sqlite".into(),
            files: Vec::new(),
            blobs: blobs
                .iter()
                .map(|key| BlobEntry {
                    key: key.to_string(),
                    bytes: key.len() as u64,
                    sha256: String::new(),
                    new: true,
                })
                .collect(),
            counts: Default::default(),
            seconds: 0.0,
        }
        .write(&path)
        .unwrap();
        path
    }

    #[test]
    fn retention_keeps_the_newest_per_day_and_week_and_collects_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let day = |d: i64, h: u32| {
            DateTime::parse_from_rfc3339("2026-11-30T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc)
                + chrono::Duration::days(d)
                + chrono::Duration::hours(i64::from(h))
        };
        // Monday 30 Nov 2026 … ; two backups on the last day.
        let old = fake_backup(dir, day(-14, 3), &["blobs/aa/aa/old"]);
        let last_week = fake_backup(dir, day(-3, 3), &["blobs/bb/bb/week"]);
        let monday = fake_backup(dir, day(0, 3), &["blobs/cc/cc/shared"]);
        let tuesday_early =
            fake_backup(dir, day(1, 1), &["blobs/cc/cc/shared", "blobs/dd/dd/early"]);
        let tuesday_late = fake_backup(dir, day(1, 9), &["blobs/cc/cc/shared"]);
        // An unfinished backup (no manifest) is left alone.
        let unfinished = dir.join(format!("{BACKUP_PREFIX}unfinished"));
        std::fs::create_dir_all(&unfinished).unwrap();

        let removed = prune_backups(dir, 2, 2).unwrap();
        // Daily: Tuesday's newest and Monday; weekly: this week's newest and last week's.
        let kept: Vec<PathBuf> = backups_in(dir)
            .unwrap()
            .into_iter()
            .map(|b| b.path)
            .collect();
        assert_eq!(kept, vec![last_week, monday, tuesday_late]);
        assert_eq!(removed.len(), 2);
        assert!(removed.contains(&old) && removed.contains(&tuesday_early));
        assert!(unfinished.exists());
        let pool: Vec<String> = files_under(&dir.join(POOL_DIR))
            .unwrap()
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        assert_eq!(pool, ["blobs/bb/bb/week", "blobs/cc/cc/shared"]);
    }
}
