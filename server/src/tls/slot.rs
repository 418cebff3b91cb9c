//! The certificate rustls asks for at each handshake: swapped whole when a new one arrives
//! (files reloaded, ACME renewed), and the TLS-ALPN-01 answers while the CA checks a name.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use super::certificate::Pair;

/// The ALPN protocol of TLS-ALPN-01 validation (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

#[derive(Debug, Default)]
pub struct CertificateSlot {
    /// `None` until ACME has obtained the first certificate: handshakes fail meanwhile.
    current: RwLock<Option<Pair>>,
    /// Validation certificates by domain, present only while an order waits for the CA.
    challenges: RwLock<HashMap<String, Pair>>,
}

impl CertificateSlot {
    pub fn with(pair: Pair) -> Self {
        CertificateSlot {
            current: RwLock::new(Some(pair)),
            challenges: RwLock::default(),
        }
    }

    /// New handshakes use `pair` from now on; open connections keep theirs.
    pub fn set(&self, pair: Pair) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(pair);
    }

    /// The pair in use now.
    pub fn current(&self) -> Option<Pair> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Answers the CA's `acme-tls/1` handshakes for `domain` with `pair`.
    pub fn set_challenge(&self, domain: &str, pair: Pair) {
        self.challenges
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(domain.to_ascii_lowercase(), pair);
    }

    pub fn clear_challenges(&self) {
        self.challenges
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl ResolvesServerCert for CertificateSlot {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let validating = hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|protocol| protocol == ACME_TLS_ALPN));
        if validating {
            // Only the validation certificate, never the real one, and only for a name
            // being validated now (RFC 8737 §3).
            let domain = hello.server_name()?.to_ascii_lowercase();
            return self
                .challenges
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&domain)
                .cloned();
        }
        self.current()
    }
}
