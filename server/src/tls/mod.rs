//! TLS in the binary: rustls (TLS 1.3 and 1.2, the aws-lc-rs provider, no OpenSSL) over the
//! accept loop, with the certificate from PEM files (`tls.cert`, `tls.key`) or from an ACME
//! CA (`tls.acme_domains`).
//!
//! The certificate is swapped in place, never the listener: new handshakes use the new one
//! while open connections and sockets go on. Files are read again on SIGHUP and when either
//! changes (checked every `tls.reload_check_seconds`); a pair that does not load is logged and
//! the old one kept. ACME certificates are renewed by their own task.
//!
//! - [`certificate`]: reading and checking a PEM pair.
//! - [`slot`]: the swappable certificate rustls asks for at each handshake.
//! - [`watched`]: the PEM files and when they changed.
//! - [`acme`]: certificates ordered and renewed by ACME (TLS-ALPN-01).
//! - [`redirect`]: the optional plain-HTTP listener that sends browsers to HTTPS.

mod acme;
mod certificate;
pub mod redirect;
mod slot;
mod watched;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

pub use acme::AcmeError;
pub use certificate::load_pair;
pub use slot::{CertificateSlot, ACME_TLS_ALPN};
use watched::WatchedPair;

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
    #[error(transparent)]
    Acme(#[from] AcmeError),
}

/// TLS for the listener: the acceptor, and what keeps its certificate current.
pub struct Tls {
    acceptor: TlsAcceptor,
    renewal: Renewal,
}

enum Renewal {
    Files {
        files: WatchedPair,
        slot: Arc<CertificateSlot>,
    },
    Acme {
        acme: Box<acme::Acme>,
        due: Option<SystemTime>,
    },
}

impl Tls {
    /// TLS as configured, or `None` when neither `tls.cert` nor `tls.acme_domains` is set.
    /// With ACME, the certificate saved in `data_dir` is served at once; without one,
    /// handshakes fail until the first order completes.
    pub fn from_config(config: &TlsConfig, data_dir: &Path) -> Result<Option<Tls>, TlsError> {
        let (slot, renewal, alpn) = if let (Some(cert), Some(key)) = (&config.cert, &config.key) {
            let files = WatchedPair::new(cert, key);
            let slot = Arc::new(CertificateSlot::with(files.load()?));
            let renewal = Renewal::Files {
                files,
                slot: slot.clone(),
            };
            (slot, renewal, vec![b"http/1.1".to_vec()])
        } else if !config.acme_domains.is_empty() {
            let slot = Arc::new(CertificateSlot::default());
            let acme = acme::Acme::new(config, data_dir, slot.clone())?;
            let due = acme.install_saved();
            // The CA's validation handshakes offer only `acme-tls/1`; browsers never do.
            let alpn = vec![b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
            let acme = Box::new(acme);
            (slot, Renewal::Acme { acme, due }, alpn)
        } else {
            return Ok(None);
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(slot);
        // The accept loop speaks HTTP/1.1 (WebSocket upgrades included).
        server.alpn_protocols = alpn;
        Ok(Some(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            renewal,
        }))
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Keeps the certificate current for as long as the server runs: files are read again
    /// on SIGHUP and whenever one changes (checked every `reload_check`); ACME orders a new
    /// certificate when the one in use is due.
    pub fn spawn_renewal(self, reload_check: Duration) {
        match self.renewal {
            Renewal::Files { files, slot } => spawn_reloader(files, slot, reload_check),
            Renewal::Acme { acme, due } => acme.spawn(due),
        }
    }
}

fn spawn_reloader(files: WatchedPair, slot: Arc<CertificateSlot>, every: Duration) {
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
            if asked || files.changed() {
                match files.load() {
                    Ok(pair) => {
                        slot.set(pair);
                        tracing::info!(asked, "TLS certificate reloaded");
                    }
                    Err(e) => tracing::error!(
                        error = %e,
                        "TLS certificate not reloaded; the previous one stays in use"
                    ),
                }
            }
        }
    });
}
