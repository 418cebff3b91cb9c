//! The sampled figures as Prometheus metrics, read from the latest sample at scrape time.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeMetric,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use super::Samples;

#[derive(Debug)]
pub struct Sampled {
    samples: Arc<Samples>,
}

impl Sampled {
    pub fn new(samples: Arc<Samples>) -> Self {
        Self { samples }
    }
}

fn gauge<N: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: N,
) -> std::fmt::Result {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

fn counter<N: EncodeCounterValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: N,
) -> std::fmt::Result {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

impl Collector for Sampled {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let e = &mut encoder;
        let uptime = self.samples.uptime().as_secs() as i64;
        gauge(
            e,
            "uptime_seconds",
            "Seconds since the server started",
            uptime,
        )?;
        let Some(s) = self.samples.latest() else {
            return Ok(());
        };
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        gauge(
            e,
            "users_online",
            "Users with at least one socket open",
            int(s.users_online),
        )?;
        counter(
            e,
            "hub_publications",
            "Publications to topics",
            s.hub.publications,
        )?;
        counter(
            e,
            "hub_deliveries",
            "Frames queued to subscribers by publications (deliveries / publications is the mean fan-out)",
            s.hub.deliveries,
        )?;
        gauge(
            e,
            "outbox_queued_bytes",
            "Bytes waiting in socket outboxes",
            int(s.outbox_bytes),
        )?;
        gauge(
            e,
            "process_resident_memory_bytes",
            "Resident memory of the server process",
            int(s.process.resident_bytes),
        )?;
        counter(
            e,
            "process_cpu_seconds",
            "User and system CPU time of the server process",
            s.process.cpu_seconds,
        )?;
        gauge(
            e,
            "process_open_fds",
            "Open file descriptors",
            int(s.process.open_files),
        )?;
        gauge(
            e,
            "process_max_fds",
            "The open-file limit (0: unlimited)",
            int(s.process.open_files_limit),
        )?;
        gauge(
            e,
            "disk_free_bytes",
            "Space available under the data directory",
            int(s.disk.free_bytes),
        )?;
        gauge(
            e,
            "disk_total_bytes",
            "Size of the filesystem holding the data directory",
            int(s.disk.total_bytes),
        )?;
        gauge(
            e,
            "database_bytes",
            "Size of the database",
            int(s.storage.database_bytes),
        )?;
        gauge(
            e,
            "database_wal_bytes",
            "Size of SQLite's write-ahead logs (0 on PostgreSQL)",
            int(s.storage.wal_bytes),
        )?;
        gauge(
            e,
            "media_jobs_queued",
            "Media jobs waiting",
            int(s.storage.jobs_queued),
        )?;
        gauge(
            e,
            "media_jobs_failed",
            "Media jobs that failed for good",
            int(s.storage.jobs_failed),
        )?;
        gauge(
            e,
            "sample_age_seconds",
            "Age of the sample these figures come from",
            s.taken.elapsed().as_secs_f64(),
        )
    }
}
