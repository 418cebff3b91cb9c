//! Metrics: what the server counts, and how it reports it.
//!
//! One [`Metrics`] is built at start-up and held in `AppState` (no global recorder): request
//! handlers and socket tasks bump its counters (prometheus-client's, plain atomics), the
//! [`sampler`] reads the slower figures about once a second (process, disk, database, hub) into
//! a short history, and `GET /metrics` ([`route`]) renders both in the Prometheus text format.
//! The admin panel's overview reads the same samples, so the two never disagree.
//!
//! - [`http`]: the router layer counting requests and timing them by route.
//! - [`process`]: resident memory, CPU time, descriptors and disk space from the OS.
//! - [`sampler`]: the once-a-second sample and its history.
//! - `collector`: the sampled figures as Prometheus metrics at scrape time.

mod collector;
pub mod http;
pub mod process;
mod route;
pub mod sampler;

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub use route::routes;
pub use sampler::{Sample, Samples};

/// A socket's protocol mode.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum SocketMode {
    Phoenix,
    Graphql,
    Mux,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModeLabels {
    pub mode: &'static str,
}

/// `direction` is `in` or `out`, `kind` `text` or `binary`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrameLabels {
    pub mode: &'static str,
    pub direction: &'static str,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloseLabels {
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request latencies: 0.5 ms to about 8 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// Everything counted, and the registry that renders it.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_duration: HistogramFamily<RouteLabels>,
    pub graphql_operations: Family<OutcomeLabels, Counter>,
    pub graphql_duration: Histogram,
    pub sockets_open: Family<ModeLabels, Gauge>,
    pub socket_frames: Family<FrameLabels, Counter>,
    pub socket_closes: Family<CloseLabels, Counter>,
    /// Content-Security-Policy violations browsers reported from the admin panel.
    pub csp_violations: Counter,
    pub samples: Arc<Samples>,
}

impl Metrics {
    /// A registry with every metric, the sampled ones read from `samples` at each scrape, the
    /// media context's job durations and the database's statement durations.
    pub fn new(samples: Arc<Samples>, media_jobs: Histogram, db_queries: Histogram) -> Self {
        let mut registry = Registry::with_prefix("taina");
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            http_requests.clone(),
        );
        let http_duration: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            http_duration.clone(),
        );
        let graphql_operations = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "graphql_operations",
            "GraphQL operations over HTTP by outcome (ok, error)",
            graphql_operations.clone(),
        );
        let graphql_duration = latency_histogram();
        registry.register(
            "graphql_operation_duration_seconds",
            "GraphQL operation latency over HTTP",
            graphql_duration.clone(),
        );
        let sockets_open = Family::<ModeLabels, Gauge>::default();
        registry.register(
            "sockets_open",
            "WebSocket connections open now by protocol mode",
            sockets_open.clone(),
        );
        let socket_frames = Family::<FrameLabels, Counter>::default();
        registry.register(
            "socket_frames",
            "WebSocket frames by protocol mode, direction and kind",
            socket_frames.clone(),
        );
        let socket_closes = Family::<CloseLabels, Counter>::default();
        registry.register(
            "socket_closes",
            "WebSocket connections closed by the server, by close code",
            socket_closes.clone(),
        );
        let csp_violations = Counter::default();
        registry.register(
            "csp_violations",
            "Content-Security-Policy violations reported by browsers showing the admin panel",
            csp_violations.clone(),
        );
        registry.register(
            "db_query_duration_seconds",
            "How long database statements take (pooled and in transactions)",
            db_queries,
        );
        registry.register(
            "media_job_duration_seconds",
            "How long media processing jobs take",
            media_jobs,
        );
        registry.register_collector(Box::new(collector::Sampled::new(samples.clone())));
        Self {
            registry,
            http_requests,
            http_duration,
            graphql_operations,
            graphql_duration,
            sockets_open,
            socket_frames,
            socket_closes,
            csp_violations,
            samples,
        }
    }

    /// Everything in the Prometheus text format (0.0.4).
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// Counts a socket open in `mode` until the returned guard drops.
    pub fn socket_opened(&self, mode: SocketMode) -> OpenSocket {
        let gauge = self
            .sockets_open
            .get_or_create(&ModeLabels {
                mode: mode.as_str(),
            })
            .clone();
        gauge.inc();
        OpenSocket(gauge)
    }

    /// The counters of one socket's frames, resolved once so each frame is one atomic add.
    pub fn frame_counters(&self, mode: SocketMode) -> FrameCounters {
        let counter = |direction, kind| {
            self.socket_frames
                .get_or_create(&FrameLabels {
                    mode: mode.as_str(),
                    direction,
                    kind,
                })
                .clone()
        };
        FrameCounters {
            in_text: counter("in", "text"),
            in_binary: counter("in", "binary"),
            out_text: counter("out", "text"),
            out_binary: counter("out", "binary"),
        }
    }

    /// A socket closed by the server with `code`.
    pub fn socket_closed(&self, code: u16) {
        self.socket_closes
            .get_or_create(&CloseLabels { code })
            .inc();
    }

    /// Sockets closed with `code` so far.
    pub fn closes_with(&self, code: u16) -> u64 {
        self.socket_closes
            .get_or_create(&CloseLabels { code })
            .get()
    }

    /// Sockets open now per mode.
    pub fn sockets_by_mode(&self) -> [(SocketMode, u64); 3] {
        [SocketMode::Phoenix, SocketMode::Graphql, SocketMode::Mux].map(|mode| {
            let open = self
                .sockets_open
                .get_or_create(&ModeLabels {
                    mode: mode.as_str(),
                })
                .get();
            (mode, open.max(0) as u64)
        })
    }
}

/// Keeps a socket counted as open.
pub struct OpenSocket(Gauge);

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One socket's frame counters.
#[derive(Clone, Debug)]
pub struct FrameCounters {
    pub in_text: Counter,
    pub in_binary: Counter,
    pub out_text: Counter,
    pub out_binary: Counter,
}

impl SocketMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SocketMode::Phoenix => "phoenix",
            SocketMode::Graphql => "graphql",
            SocketMode::Mux => "mux",
        }
    }
}
