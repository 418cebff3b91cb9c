//! What the hub counts about itself: publications and the deliveries they fanned out to.
//! Plain atomics bumped once per publication (never per subscriber), read by the metrics
//! sampler; the hub knows nothing of Prometheus.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct HubStats {
    publications: AtomicU64,
    deliveries: AtomicU64,
}

/// A reading of [`HubStats`]: totals since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubCounts {
    pub publications: u64,
    pub deliveries: u64,
}

impl HubStats {
    /// One publication delivered to `subscribers` connections.
    pub fn published(&self, subscribers: usize) {
        self.publications.fetch_add(1, Ordering::Relaxed);
        self.deliveries
            .fetch_add(subscribers as u64, Ordering::Relaxed);
    }

    pub fn read(&self) -> HubCounts {
        HubCounts {
            publications: self.publications.load(Ordering::Relaxed),
            deliveries: self.deliveries.load(Ordering::Relaxed),
        }
    }
}
