//! The once-a-second sample: every figure the overview and `/metrics` show that is read rather
//! than counted as it happens, kept for the last few minutes so a panel opened now has
//! sparklines at once. The database's size and the media job queue cost a query, so they are
//! refreshed every [`STORAGE_EVERY`] samples and carried forward in between.
//!
//! The task holds the hub weakly and stops when the server is dropped; it never holds the
//! history's lock across an `.await`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::process::{self, DiskStats, ProcessStats};
use super::{Metrics, SocketMode};
use crate::contexts::media::MediaService;
use crate::db::Db;
use crate::realtime::{Hub, HubCounts};

/// Samples kept: five minutes at one a second.
pub const HISTORY: usize = 300;
/// How often a sample is taken.
pub const EVERY: Duration = Duration::from_secs(1);
/// Samples between two readings of the database size and job queue.
const STORAGE_EVERY: u64 = 5;

/// What costs a query to know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    pub database_bytes: u64,
    pub wal_bytes: u64,
    pub jobs_queued: u64,
    pub jobs_failed: u64,
}

/// One reading of everything.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub taken: Instant,
    pub uptime: Duration,
    /// Sockets open per mode: phoenix, graphql, mux.
    pub sockets: [(SocketMode, u64); 3],
    pub users_online: u64,
    pub hub: HubCounts,
    pub outbox_bytes: u64,
    pub slow_consumer_closes: u64,
    pub rate_limit_closes: u64,
    pub process: ProcessStats,
    pub disk: DiskStats,
    pub storage: StorageStats,
}

impl Sample {
    pub fn sockets_total(&self) -> u64 {
        self.sockets.iter().map(|(_, n)| n).sum()
    }
}

/// The recent samples, and a signal for whoever waits for the next one (open panels).
#[derive(Debug)]
pub struct Samples {
    history: Mutex<VecDeque<Sample>>,
    taken: watch::Sender<u64>,
    started: Instant,
}

impl Default for Samples {
    fn default() -> Self {
        Self {
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            taken: watch::channel(0).0,
            started: Instant::now(),
        }
    }
}

impl Samples {
    pub fn latest(&self) -> Option<Sample> {
        self.history.lock().expect("samples lock").back().copied()
    }

    /// Oldest first.
    pub fn history(&self) -> Vec<Sample> {
        self.history
            .lock()
            .expect("samples lock")
            .iter()
            .copied()
            .collect()
    }

    /// Changes after every sample.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.taken.subscribe()
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    fn record(&self, sample: Sample) {
        {
            let mut history = self.history.lock().expect("samples lock");
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(sample);
        }
        self.taken.send_modify(|n| *n += 1);
    }
}

/// What the sampler reads from.
pub struct Sources {
    pub metrics: Arc<Metrics>,
    pub hub: Weak<Hub>,
    pub db: Db,
    pub media: MediaService,
    pub data_dir: PathBuf,
}

/// Samples every [`EVERY`] until the hub is dropped.
pub fn spawn(sources: Sources) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut storage = StorageStats::default();
        let mut n: u64 = 0;
        loop {
            ticker.tick().await;
            if n.is_multiple_of(STORAGE_EVERY) {
                storage = read_storage(&sources).await;
            }
            n += 1;
            let Some(hub) = sources.hub.upgrade() else {
                return;
            };
            let sample = take(&sources.metrics, &hub, &sources, storage);
            drop(hub);
            sources.metrics.samples.record(sample);
        }
    });
}

fn take(metrics: &Metrics, hub: &Hub, sources: &Sources, storage: StorageStats) -> Sample {
    Sample {
        taken: Instant::now(),
        uptime: metrics.samples.uptime(),
        sockets: metrics.sockets_by_mode(),
        users_online: hub.users_online_count() as u64,
        hub: hub.counts(),
        outbox_bytes: hub.queued_bytes(),
        slow_consumer_closes: metrics.closes_with(taina_protocol::close::SLOW_CONSUMER),
        rate_limit_closes: metrics.closes_with(taina_protocol::close::RATE_LIMITED),
        process: process::process(),
        disk: process::disk(&sources.data_dir),
        storage,
    }
}

async fn read_storage(sources: &Sources) -> StorageStats {
    let (database_bytes, wal_bytes) = sources.db.storage_bytes(&sources.data_dir).await;
    let jobs = sources
        .media
        .job_counts(chrono::DateTime::UNIX_EPOCH)
        .await
        .unwrap_or_default();
    StorageStats {
        database_bytes,
        wal_bytes,
        jobs_queued: jobs.queued + jobs.running,
        jobs_failed: jobs.failed_since,
    }
}
