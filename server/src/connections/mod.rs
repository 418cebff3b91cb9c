//! The connection layer under the router: our own accept loop in place of `axum::serve`, so
//! that connections are limited and timed out before any request reaches a handler.
//!
//! - a header-read timeout (`http.header_read_timeout_seconds`) and a keep-alive idle timeout
//!   (`http.keep_alive_idle_seconds`) close connections that hold a descriptor without
//!   sending requests;
//! - a cap on concurrent HTTP connections per client address
//!   (`http.max_connections_per_address`); an upgraded WebSocket stops counting there, the
//!   realtime hub limits sockets per address itself;
//! - a global cap on connections, WebSockets included (`http.max_connections`, by default
//!   derived from the open-file limit), so the process keeps descriptors for its database and
//!   files and `/healthz` keeps answering.
//!
//! # Layout
//! - `accept`: the accept loop ([`serve`]), refusals, each connection's task, graceful shutdown.
//! - [`limits`]: the counters behind both caps and the once-per-episode log of the global one.
//! - [`descriptors`]: `RLIMIT_NOFILE` and the cap derived from it.
//! - `activity`: when a connection is idle between requests.
//! - `stream`, `service`: the stream and the hyper service that keep the bookkeeping.

mod accept;
mod activity;
pub mod descriptors;
pub mod limits;
mod service;
mod stream;

use std::time::Duration;

use crate::config::Config;

pub use accept::serve;

/// The connection limits in force, resolved from the configuration at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub header_read_timeout: Duration,
    pub keep_alive_idle: Duration,
    pub max_connections_per_address: usize,
    pub max_connections: usize,
}

impl Settings {
    /// The settings of `config`; with `http.max_connections = 0` the cap is derived from the
    /// process's open-file limit, read now. Logs the cap and warns when it cannot be honoured
    /// by the descriptor limit.
    pub fn from_config(config: &Config) -> Self {
        let http = &config.http;
        let limit = descriptors::descriptor_limit();
        let database = config.database.max_connections;
        let max_connections = if http.max_connections == 0 {
            let derived = descriptors::derived_max_connections(limit, database);
            if derived == descriptors::MIN_DERIVED_CONNECTIONS {
                tracing::warn!(
                    descriptor_limit = ?limit,
                    max_connections = derived,
                    "the open-file limit leaves little room for connections; raise `ulimit -n`"
                );
            } else {
                tracing::info!(
                    descriptor_limit = ?limit,
                    max_connections = derived,
                    "connection limit derived from the open-file limit"
                );
            }
            derived
        } else {
            if let Some(limit) = limit {
                let room = limit.saturating_sub(descriptors::headroom(limit, database));
                if http.max_connections as u64 > room {
                    tracing::warn!(
                        descriptor_limit = limit,
                        max_connections = http.max_connections,
                        "http.max_connections leaves too few descriptors for the database and \
                         files: the process may run out of them before the limit refuses anyone"
                    );
                }
            }
            http.max_connections
        };
        Self {
            header_read_timeout: Duration::from_secs(http.header_read_timeout_seconds),
            keep_alive_idle: Duration::from_secs(http.keep_alive_idle_seconds),
            max_connections_per_address: http.max_connections_per_address,
            max_connections,
        }
    }
}

/// What one HTTP connection shares between its stream, its service and its task. (Its place
/// under the global cap is the stream's alone.)
struct Tracked {
    /// Its place under the per-address cap: given back at a `101`, or when the last share is
    /// dropped.
    address: limits::AddressPlace,
    activity: activity::Activity,
}
