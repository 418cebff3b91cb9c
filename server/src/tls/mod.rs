//! TLS in the binary: rustls (TLS 1.3 and 1.2, the aws-lc-rs provider, no OpenSSL) over the
//! accept loop, with the certificate and key from PEM files (`tls.cert`, `tls.key`).
//!
//! The certificate is swapped in place, never the listener: on SIGHUP and when either file
//! changes (checked every `tls.reload_check_seconds`), the pair is read again and, if it
//! loads and matches, new handshakes use it while open connections and sockets go on. A pair
//! that does not load is logged and the old one kept.
//!
//! - [`certificate`]: reading and checking a PEM pair.
//! - [`slot`]: the swappable certificate rustls asks for at each handshake.
//! - [`redirect`]: the optional plain-HTTP listener that sends browsers to HTTPS.

mod certificate;
pub mod redirect;
mod slot;

use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

pub use certificate::load_pair;
pub use slot::CertificateSlot;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Invalid { path: String, why: String },
    #[error("tls.key does not belong to tls.cert's certificate")]
    Mismatch,
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// TLS for the listener: the acceptor and the certificate slot behind it.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    slot: Arc<CertificateSlot>,
}

impl Tls {
    /// TLS as configured, or `None` when `tls.cert` is not set.
    pub fn from_config(config: &TlsConfig) -> Result<Option<Tls>, TlsError> {
        let (Some(cert), Some(key)) = (&config.cert, &config.key) else {
            return Ok(None);
        };
        let slot = Arc::new(CertificateSlot::load(cert, key)?);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(slot.clone());
        // The accept loop speaks HTTP/1.1 (WebSocket upgrades included).
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            slot,
        }))
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reloads the pair on SIGHUP and whenever a file changes (checked every `every`).
    pub fn spawn_reloader(&self, every: Duration) {
        let slot = self.slot.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hangups =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let mut ticks = tokio::time::interval(every.max(Duration::from_secs(1)));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                #[cfg(unix)]
                let hangup = async {
                    match hangups.as_mut() {
                        Some(signal) => signal.recv().await,
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hangup = std::future::pending::<Option<()>>();
                let asked = tokio::select! {
                    _ = ticks.tick() => false,
                    _ = hangup => true,
                };
                if asked || slot.files_changed() {
                    match slot.reload() {
                        Ok(()) => tracing::info!(asked, "TLS certificate reloaded"),
                        Err(e) => tracing::error!(
                            error = %e,
                            "TLS certificate not reloaded; the previous one stays in use"
                        ),
                    }
                }
            }
        });
    }
}
