//! The watchdog: every `monitoring.check_interval_seconds` it looks at what can go wrong on a
//! small box and raises a server alert (through [`MonitoringService::raise_once`], so a
//! condition alerts once until it clears) when
//!
//! - the disk under the data directory is low (`disk_low`: under
//!   `monitoring.disk_free_min_percent` or `monitoring.disk_free_min_bytes` free);
//! - media processing jobs keep failing (`media_jobs_failing`: at least
//!   `monitoring.media_failures_per_hour` in the last hour);
//! - the database grew past `monitoring.database_max_bytes` (`database_large`), or SQLite's
//!   write-ahead logs past `monitoring.wal_max_bytes` (`wal_large`);
//!
//! - scheduled backups are overdue (`backup_overdue`: with `backup.schedule_hours` set, the
//!   newest backup in `backup.dir` is older than twice that, or there is none a schedule's
//!   length after start);
//!
//! and it clears the conditions of bans that have ended (`ban:ADDRESS`, raised when the ban
//! was issued).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;

use super::health::disk_usage;
use super::service::BAN_CONDITION;
use super::{AlertLevel, MonitoringError, MonitoringService};
use crate::contexts::media::MediaService;
use crate::db::{CONTEXT_SCHEMAS, SQLITE_FILE};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
/// The first round runs this long after start at the earliest.
const FIRST_CHECK_AFTER: Duration = Duration::from_secs(2);

impl MonitoringService {
    /// Starts the watchdog; it runs until the service is dropped. `backups`: where scheduled
    /// backups go and how often, when they are scheduled.
    pub fn spawn_watchdog(
        &self,
        media: MediaService,
        data_dir: PathBuf,
        backups: Option<(PathBuf, Duration)>,
    ) {
        let started = Utc::now();
        let service = std::sync::Arc::downgrade(self.inner());
        let every = Duration::from_secs(self.inner().config.check_interval_seconds);
        tokio::spawn(async move {
            // Not at once: the alert relay first notes where the alerts stand, and an alert
            // raised before that would count as history and never be relayed.
            let first = tokio::time::Instant::now() + every.max(FIRST_CHECK_AFTER);
            let mut ticker = tokio::time::interval_at(first, every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(inner) = service.upgrade() else {
                    return;
                };
                let monitoring = MonitoringService::from_inner(inner);
                if let Err(e) = monitoring.watch_once(&media, &data_dir).await {
                    tracing::warn!(error = %e, "watchdog: a check failed");
                }
                if let Some((dir, every)) = &backups {
                    if let Err(e) = monitoring.watch_backups(dir, *every, started).await {
                        tracing::warn!(error = %e, "watchdog: the backup check failed");
                    }
                }
            }
        });
    }

    /// One round of checks (what the watchdog does on each tick).
    pub async fn watch_once(
        &self,
        media: &MediaService,
        data_dir: &Path,
    ) -> Result<(), MonitoringError> {
        let config = self.inner().config.clone();

        let dir = data_dir.to_path_buf();
        let usage = tokio::task::spawn_blocking(move || disk_usage(&dir)).await;
        match usage {
            Ok(Ok(usage)) if usage.is_low(&config) => {
                let message = format!(
                    "the disk under the data directory has {:.1} GiB ({:.1} %) free, under the \
                     threshold of {:.1} GiB or {} %",
                    usage.free_bytes as f64 / GIB,
                    usage.free_percent(),
                    config.disk_free_min_bytes as f64 / GIB,
                    config.disk_free_min_percent
                );
                self.raise_once("disk_low", AlertLevel::Warning, &message)
                    .await?;
            }
            Ok(Ok(_)) => {
                self.clear_condition("disk_low").await?;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "watchdog: cannot read the disk's free space"),
            Err(e) => tracing::warn!(error = %e, "watchdog: the disk check panicked"),
        }

        let hour_ago = Utc::now() - chrono::Duration::hours(1);
        match media.job_counts(hour_ago).await {
            Ok(counts) if counts.failed_since >= config.media_failures_per_hour => {
                let message = format!(
                    "{} media processing jobs failed in the last hour ({} queued); see the \
                     server log for their errors",
                    counts.failed_since, counts.queued
                );
                self.raise_once("media_jobs_failing", AlertLevel::Warning, &message)
                    .await?;
            }
            Ok(_) => {
                self.clear_condition("media_jobs_failing").await?;
            }
            Err(e) => tracing::warn!(error = %e, "watchdog: cannot count media jobs"),
        }

        let (database, wal) = match self.inner().store.postgres_database_size().await? {
            Some(size) => (size.max(0) as u64, 0),
            None => sqlite_sizes(data_dir),
        };
        self.threshold(
            "database_large",
            database > config.database_max_bytes,
            format!(
                "the database takes {:.1} GiB, over the threshold of {:.1} GiB",
                database as f64 / GIB,
                config.database_max_bytes as f64 / GIB
            ),
        )
        .await?;
        self.threshold(
            "wal_large",
            wal > config.wal_max_bytes,
            format!(
                "SQLite's write-ahead logs take {:.0} MiB, over the threshold of {:.0} MiB: \
                 checkpoints are not keeping up (a long-running reader?)",
                wal as f64 / 1024.0 / 1024.0,
                config.wal_max_bytes as f64 / 1024.0 / 1024.0
            ),
        )
        .await?;

        for key in self
            .inner()
            .store
            .conditions_with_prefix(BAN_CONDITION)
            .await?
        {
            let over = match key[BAN_CONDITION.len()..].parse() {
                Ok(ip) => self.banned_until(ip).is_none(),
                Err(_) => true,
            };
            if over {
                self.clear_condition(&key).await?;
            }
        }
        Ok(())
    }

    /// Raises `backup_overdue` when the newest backup in `dir` is older than twice `every`
    /// (or, with none, when the server has run that long); clears it otherwise.
    pub async fn watch_backups(
        &self,
        dir: &Path,
        every: Duration,
        started: chrono::DateTime<Utc>,
    ) -> Result<(), MonitoringError> {
        let dir_owned = dir.to_path_buf();
        let newest = tokio::task::spawn_blocking(move || super::backup::backups_in(&dir_owned))
            .await
            .map_err(|e| MonitoringError::Invalid(format!("listing backups panicked: {e}")))??
            .pop()
            .map(|b| b.manifest.created_at);
        let late = chrono::Duration::from_std(every * 2).unwrap_or(chrono::Duration::MAX);
        let since = newest.unwrap_or(started);
        let message = match newest {
            Some(at) => format!(
                "the newest backup in {} is from {}: scheduled backups are not being written",
                dir.display(),
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            None => format!(
                "no backup in {} yet, although backups are scheduled",
                dir.display()
            ),
        };
        self.threshold("backup_overdue", Utc::now() - since > late, message)
            .await
    }

    async fn threshold(
        &self,
        key: &str,
        over: bool,
        message: String,
    ) -> Result<(), MonitoringError> {
        if over {
            self.raise_once(key, AlertLevel::Warning, &message).await?;
        } else {
            self.clear_condition(key).await?;
        }
        Ok(())
    }
}

/// SQLite's bytes on disk: (the database files with their logs, the logs alone).
fn sqlite_sizes(data_dir: &Path) -> (u64, u64) {
    let size = |name: String| std::fs::metadata(data_dir.join(name)).map_or(0, |m| m.len());
    let mut files = vec![SQLITE_FILE.to_string()];
    files.extend(CONTEXT_SCHEMAS.iter().map(|schema| format!("{schema}.db")));
    let mut total = 0;
    let mut wal = 0;
    for file in files {
        let log = size(format!("{file}-wal"));
        total += size(file) + log;
        wal += log;
    }
    (total, wal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::monitoring::backup::Manifest;
    use crate::db::testing::Fixture;

    #[tokio::test]
    async fn overdue_backups_alert_until_one_is_written() {
        let fx = Fixture::new().await;
        let monitoring = MonitoringService::new(fx.db.clone(), fx.bus.clone());
        let dir = tempfile::tempdir().unwrap();
        let hour = Duration::from_secs(3600);
        // Just started: nothing is overdue yet.
        monitoring
            .watch_backups(dir.path(), hour, Utc::now())
            .await
            .unwrap();
        assert!(!monitoring.condition_holds("backup_overdue").await.unwrap());
        // Running for a day with an hourly schedule and no backup.
        let yesterday = Utc::now() - chrono::Duration::days(1);
        monitoring
            .watch_backups(dir.path(), hour, yesterday)
            .await
            .unwrap();
        assert!(monitoring.condition_holds("backup_overdue").await.unwrap());
        let backup = dir.path().join("taina-now");
        std::fs::create_dir_all(&backup).unwrap();
        Manifest {
            format: 1,
            created_at: Utc::now(),
            taina_version: "test".into(),
            backend: "sqlite".into(),
            files: Vec::new(),
            blobs: Vec::new(),
            counts: Default::default(),
            seconds: 0.0,
        }
        .write(&backup)
        .unwrap();
        monitoring
            .watch_backups(dir.path(), hour, yesterday)
            .await
            .unwrap();
        assert!(!monitoring.condition_holds("backup_overdue").await.unwrap());
    }
}
