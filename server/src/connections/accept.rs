//! The accept loop and the task of each connection.
//!
//! Each accepted connection is admitted under the caps or refused at once: the refusal is one
//! non-blocking write of a short HTTP error (`429` per address, `503` at the global cap) and
//! the descriptor is closed in the same step, so refused clients hold nothing. Admitted
//! connections are served by hyper's HTTP/1 server with upgrades, a header-read timeout and
//! the keep-alive idle timeout ([`Activity`]).
//!
//! Shutdown is what `axum::serve(..).with_graceful_shutdown(signal)` did: when `signal`
//! resolves, the listener is dropped, every connection is asked to finish its current request
//! and close (hyper's `graceful_shutdown`), and [`serve`] returns once all of them have.
//! Upgraded sockets are no longer HTTP connections; the caller closes them through the hub.
//!
//! With TLS the handshake runs in the connection's task, after admission, within the
//! header-read timeout; HTTP is then served on the TLS stream exactly as on TCP.
//!
//! [`Activity`]: super::activity::Activity

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::limits::{ConnectionLimits, Refusal};
use super::service::ConnectionService;
use super::stream::TrackedStream;
use super::{Settings, Tracked};

/// How long to wait after an accept error other than a connection's own (hyper 0.14's and
/// axum's choice: the likely cause is the descriptor limit, which only time can help).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` under `settings` until `signal` resolves, then shuts down
/// gracefully (see the module docs).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: Settings,
    tls: Option<TlsAcceptor>,
    signal: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let limits = Arc::new(ConnectionLimits::new(
        settings.max_connections,
        settings.max_connections_per_address,
    ));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    // Connections watch `stopping`; each holds a `done` receiver, so `done_tx.closed()`
    // resolves when the last connection task has ended.
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    let mut signal = pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accept failed; pausing before the next accept");
                    tokio::select! {
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                        () = &mut signal => break,
                    }
                }
            },
            () = &mut signal => break,
        };
        let ip = peer.ip().to_canonical();
        let admission = match limits.admit(ip) {
            Ok(admission) => admission,
            Err(refusal) => {
                tracing::debug!(%peer, %refusal, "connection refused");
                refuse(stream, refusal);
                continue;
            }
        };
        // Small frames (heartbeat replies, chat) must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let tracked = Arc::new(Tracked {
            address: admission.address,
            activity: Default::default(),
        });
        let stream = TrackedStream::new(stream, admission.place, tracked.clone());
        let connection = Connection {
            http: http.clone(),
            router: router.clone(),
            peer,
            tracked,
            keep_alive_idle: settings.keep_alive_idle,
            stopping: stopping_rx.clone(),
            done: done_rx.clone(),
        };
        match &tls {
            None => {
                tokio::spawn(connection.run(stream));
            }
            Some(tls) => {
                let (tls, handshake_timeout) = (tls.clone(), settings.header_read_timeout);
                tokio::spawn(async move {
                    // The handshake counts against the header-read timeout's budget: a
                    // client that opens a connection and says nothing holds it no longer.
                    match tokio::time::timeout(handshake_timeout, tls.accept(stream)).await {
                        // The CA's TLS-ALPN-01 check ends with the handshake (RFC 8737).
                        Ok(Ok(stream))
                            if stream.get_ref().1.alpn_protocol()
                                == Some(crate::tls::ACME_TLS_ALPN) =>
                        {
                            tracing::debug!(%peer, "ACME validation handshake answered");
                        }
                        Ok(Ok(stream)) => connection.run(stream).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    tracing::debug!(
        open = limits.open(),
        "not accepting; closing HTTP connections"
    );
    let _ = stopping_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// What one admitted connection is served with.
struct Connection {
    http: http1::Builder,
    router: Router,
    peer: SocketAddr,
    tracked: Arc<Tracked>,
    keep_alive_idle: Duration,
    stopping: watch::Receiver<bool>,
    /// Held until the connection ends; shutdown waits for every one.
    done: watch::Receiver<()>,
}

impl Connection {
    /// Serves HTTP/1.1 (with upgrades) on `io`, plain or TLS, until the client goes, the
    /// connection idles out, or the server stops.
    async fn run<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            http,
            router,
            peer,
            tracked,
            keep_alive_idle,
            mut stopping,
            done: _done,
        } = self;
        let io = TokioIo::new(io);
        let service = ConnectionService::new(router, peer, tracked.clone());
        let mut conn = pin!(http.serve_connection(io, service).with_upgrades());
        let mut idle = pin!(tracked.activity.idle_for(keep_alive_idle));
        let (mut idle_closing, mut shutting_down) = (false, false);
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = &mut idle, if !idle_closing => {
                    // Idle between requests: hyper closes an idle connection at once.
                    idle_closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = stopping.wait_for(|stopping| *stopping), if !shutting_down => {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Answers a refused connection with one non-blocking write and closes it. Whatever the client
/// already sent is read and discarded first (also non-blocking): closing with unread data
/// would send a reset, which can destroy the answer before the client reads it.
fn refuse(stream: TcpStream, refusal: Refusal) {
    let _ = stream.try_write(&refusal_reply(refusal));
    let mut discard = [0u8; 2048];
    for _ in 0..4 {
        match stream.try_read(&mut discard) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
}

/// The HTTP answer to a refused connection, in the API's error format.
fn refusal_reply(refusal: Refusal) -> Vec<u8> {
    let (status, code) = match refusal {
        Refusal::TooManyFromAddress(_) => ("429 Too Many Requests", "too_many_connections"),
        Refusal::Full(_) => ("503 Service Unavailable", "server_busy"),
    };
    let body = json!({ "error": { "code": code, "message": refusal.to_string() } }).to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Errors that concern one connection only (it went away before it was accepted).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_complete_http_responses() {
        let reply = String::from_utf8(refusal_reply(Refusal::TooManyFromAddress(256))).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("connection: close"));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "too_many_connections");
        assert!(body["error"]["message"].as_str().unwrap().contains("256"));
        let reply = String::from_utf8(refusal_reply(Refusal::Full(10))).unwrap();
        assert!(reply.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(reply.contains("\"server_busy\""));
    }
}
