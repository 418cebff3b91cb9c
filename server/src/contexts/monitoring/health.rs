//! Readiness: each dependency the server needs checked, with its status and how long the check
//! took (`GET /readyz`), and the disk measurement the watchdog alerts on. Liveness
//! (`/healthz`) checks nothing and stays out of here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::MonitoringConfig;
use crate::contexts::media::MediaService;
use crate::db::Db;
use crate::events::{Event, EventBus};

/// Longest a single check may take before its dependency counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// Below this many free bytes the disk counts as down: writes are about to fail.
pub const DISK_FLOOR_BYTES: u64 = 64 * 1024 * 1024;
/// The event the bus check sends itself; subscribers that do not know it ignore it.
pub const BUS_PROBE: &str = "health.probe";

/// Space on the file system holding a path.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DiskUsage {
    pub total_bytes: u64,
    /// Available to the server (not counting blocks reserved for root).
    pub free_bytes: u64,
}

impl DiskUsage {
    pub fn free_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        self.free_bytes as f64 * 100.0 / self.total_bytes as f64
    }

    /// True under either threshold of `monitoring.disk_free_min_*`.
    pub fn is_low(&self, config: &MonitoringConfig) -> bool {
        self.free_bytes < config.disk_free_min_bytes
            || self.free_percent() < config.disk_free_min_percent
    }
}

/// The space on the file system holding `path` (`statvfs`).
pub fn disk_usage(path: &Path) -> std::io::Result<DiskUsage> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(DiskUsage {
        total_bytes: stat.f_blocks.saturating_mul(stat.f_frsize),
        free_bytes: stat.f_bavail.saturating_mul(stat.f_frsize),
    })
}

/// One dependency's answer.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// `up` or `down`.
    pub status: &'static str,
    pub latency_ms: f64,
    /// What the check saw (free bytes, queued jobs, …), or `error` when it is down.
    #[serde(flatten)]
    pub detail: BTreeMap<String, Value>,
}

/// Every dependency's answer; ready when all are up.
#[derive(Clone, Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub checks: BTreeMap<&'static str, Check>,
}

/// What the checks need: the shared parts, borrowed from the application state.
pub struct Dependencies<'a> {
    pub db: &'a Db,
    pub bus: &'a dyn EventBus,
    pub media: &'a MediaService,
    pub data_dir: &'a Path,
    pub config: &'a MonitoringConfig,
}

/// Checks the database, the disk under the data directory, the media job queue, the blob
/// store (local files or S3) and the bus, one after the other, each within [`CHECK_TIMEOUT`].
pub async fn readiness(deps: Dependencies<'_>) -> Readiness {
    let mut checks = BTreeMap::new();
    checks.insert("database", check_database(deps.db).await);
    checks.insert(
        "disk",
        check_disk(deps.data_dir.to_path_buf(), deps.config).await,
    );
    checks.insert("jobs", check_jobs(deps.media).await);
    checks.insert("object_store", check_store(deps.media).await);
    checks.insert("bus", check_bus(deps.bus).await);
    Readiness {
        ready: checks.values().all(|c| c.status == "up"),
        checks,
    }
}

fn detail(value: Value) -> BTreeMap<String, Value> {
    match value {
        Value::Object(map) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

fn answer(started: Instant, result: Result<Value, String>) -> Check {
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    match result {
        Ok(value) => Check {
            status: "up",
            latency_ms,
            detail: detail(value),
        },
        Err(error) => Check {
            status: "down",
            latency_ms,
            detail: detail(json!({ "error": error })),
        },
    }
}

async fn timed<F>(check: F) -> Check
where
    F: std::future::Future<Output = Result<Value, String>>,
{
    let started = Instant::now();
    let result = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    };
    answer(started, result)
}

async fn check_database(db: &Db) -> Check {
    timed(async {
        crate::db::query("SELECT 1")
            .execute(db)
            .await
            .map(|_| json!({ "backend": db.backend() }))
            .map_err(|e| e.to_string())
    })
    .await
}

async fn check_disk(data_dir: PathBuf, config: &MonitoringConfig) -> Check {
    timed(async move {
        let usage = tokio::task::spawn_blocking(move || disk_usage(&data_dir))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if usage.free_bytes < DISK_FLOOR_BYTES {
            return Err(format!("only {} bytes free", usage.free_bytes));
        }
        Ok(json!({
            "free_bytes": usage.free_bytes,
            "total_bytes": usage.total_bytes,
            "free_percent": (usage.free_percent() * 10.0).round() / 10.0,
            "low": usage.is_low(config),
        }))
    })
    .await
}

async fn check_jobs(media: &MediaService) -> Check {
    timed(async {
        let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
        let counts = media
            .job_counts(hour_ago)
            .await
            .map_err(|e| e.to_string())?;
        Ok(json!({
            "queued": counts.queued,
            "running": counts.running,
            "failed_last_hour": counts.failed_since,
        }))
    })
    .await
}

async fn check_store(media: &MediaService) -> Check {
    timed(async {
        media
            .check_store()
            .await
            .map(|()| json!({}))
            .map_err(|e| e.to_string())
    })
    .await
}

/// Sends itself a probe through the bus and waits for it: the bus delivers, and how fast.
async fn check_bus(bus: &dyn EventBus) -> Check {
    timed(async {
        let mut events = bus.subscribe();
        let nonce = nanoid::nanoid!();
        bus.publish(Event::new(BUS_PROBE, None, None, json!({ "nonce": nonce })));
        loop {
            match events.recv().await {
                Ok(event) if event.kind == BUS_PROBE && event.data["nonce"] == nonce.as_str() => {
                    return Ok(json!({}));
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return Err("the bus is closed".to_string())
                }
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_thresholds_are_either_or() {
        let config = MonitoringConfig::default();
        let gib = 1024 * 1024 * 1024;
        let big = DiskUsage {
            total_bytes: 1000 * gib,
            free_bytes: 50 * gib,
        };
        assert!(big.is_low(&config), "5 % free is under 10 %");
        let small = DiskUsage {
            total_bytes: 4 * gib,
            free_bytes: gib,
        };
        assert!(small.is_low(&config), "1 GiB is under 2 GiB");
        let fine = DiskUsage {
            total_bytes: 100 * gib,
            free_bytes: 40 * gib,
        };
        assert!(!fine.is_low(&config));
        let usage = disk_usage(Path::new("/")).unwrap();
        assert!(usage.total_bytes > 0 && usage.free_bytes <= usage.total_bytes);
    }
}
