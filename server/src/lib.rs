//! # Tainá server
//!
//! A community-owned, push-first backend. This crate is the library behind the `taina` binary;
//! tests start the same server in-process through [`serve`].
//!
//! # Layout
//! - [`admin`]: Nhaman, the admin panel at `/admin` (views in `taina-admin-ui`).
//! - [`cidr`]: IP networks for the configuration's address lists.
//! - [`config`]: typed configuration (defaults → `taina.toml` → `TAINA_*`).
//! - [`db`]: the SQLite/PostgreSQL pool handle and migrations.
//! - [`events`]: domain events and the bus contexts publish on.
//! - [`ids`]: typed identifiers (`UserId`, `CommunityId`, `SessionId`, `ConversationId`).
//! - [`contexts`]: bounded contexts (auth, …), each a service over its own tables.
//! - [`http`]: the router, extractors and health endpoints.
//! - [`connections`]: the accept loop under the router: connection caps and timeouts.
//! - [`graphql`]: the merged schema, its request context and errors, `POST /graphql` and
//!   GraphiQL.
//! - [`realtime`]: the connection hub, outboxes, topics, presence and recovery history.
//! - [`metrics`]: counters, the once-a-second sample and `GET /metrics`.
//! - [`socket`]: `/socket/websocket` — Phoenix V2 sessions, channel rules, events → topics.
//! - [`state`]: `AppState`, what handlers reach (each part through `FromRef`); no globals.
//! - `app`: the wiring — [`AppState::open`] builds everything, [`AppState::start`] starts the
//!   background work.
//! - [`error`]: the one error table (code, public message, HTTP status) and start-up errors.
//! - [`cli`]: the `taina` command line.
//! - [`tls`]: HTTPS/WSS with rustls, certificates reloaded in place, the HTTP redirect.
//! - [`systemd`]: readiness and watchdog notifications under `Type=notify`.
//! - [`task`]: running work on the caller's task until it would wait.
#![forbid(unsafe_code)]

pub mod admin;
mod app;
pub mod cidr;
pub mod cli;
pub mod config;
pub mod connections;
pub mod contexts;
pub mod db;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod realtime;
pub mod socket;
pub mod state;
pub mod systemd;
pub mod task;
pub mod tls;

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;

pub use config::Config;
pub use error::StartError;
pub use state::AppState;

/// Serves `state` on `listener` until `shutdown` resolves, then stops accepting, gives in-flight
/// requests `shutdown_grace_seconds` to finish, and closes the database pool. Connections are
/// limited and timed out by [`connections`] under the `http.*` settings.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = Duration::from_secs(state.config.shutdown_grace_seconds);
    let db = state.db.clone();
    let hub = state.hub.clone();
    let settings = connections::Settings::from_config(&state.config);
    let tls = tls::Tls::from_config(&state.config.tls, &state.config.data_dir)
        .map_err(std::io::Error::other)?;
    let acceptor = tls.as_ref().map(|tls| tls.acceptor().clone());
    let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
    if let Some(tls) = tls {
        tls.spawn_renewal(Duration::from_secs(state.config.tls.reload_check_seconds));
        if let Some(redirect) = &state.config.tls.redirect_listen {
            let redirects = TcpListener::bind(redirect.as_str()).await?;
            let https_port = listener.local_addr()?.port();
            let mut stopping = stopping_rx.clone();
            tracing::info!(address = %redirects.local_addr()?, "redirecting plain HTTP to HTTPS");
            tokio::spawn(tls::redirect::serve(redirects, https_port, async move {
                let _ = stopping.wait_for(|stopping| *stopping).await;
            }));
        }
    }
    let app = http::router(state);
    let server = connections::serve(listener, app, settings, acceptor, async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        hub.close_all(taina_protocol::close::GOING_AWAY, "server shutting down");
        let _ = stopping_tx.send(true);
    });
    let grace_elapsed = async move {
        let _ = stopping_rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(grace).await;
    };
    let result = tokio::select! {
        result = server => result,
        () = grace_elapsed => {
            tracing::warn!(seconds = grace.as_secs(), "grace period over; dropping remaining connections");
            Ok(())
        }
    };
    db.close().await;
    tracing::info!("stopped");
    result
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: a signal that arrives between the "listening" log line and the
/// accept loop's first turn (a supervisor, or a test, stopping a server it just started) still
/// shuts the server down gracefully instead of killing it.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let received = |signal: std::io::Result<tokio::signal::unix::Signal>| async move {
                match signal {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = received(interrupt) => {},
                () = received(terminate) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
