//! Reading a certificate chain and its private key from PEM files, and checking that they
//! belong together.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::rustls::sign::CertifiedKey;

use super::TlsError;

/// The chain in `cert` (leaf first) with the key in `key`, ready to serve.
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let shown = |path: &Path| {
        std::path::absolute(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string()
    };
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: shown(path),
            source,
        })
    };
    let invalid = |path: &Path, why: String| TlsError::Invalid {
        path: shown(path),
        why,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(cert, format!("not a PEM certificate chain ({e})")))?;
    if chain.is_empty() {
        return Err(invalid(cert, "holds no CERTIFICATE block".into()));
    }
    let private = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| invalid(key, format!("no PEM private key ({e})")))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| invalid(key, format!("unusable private key ({e})")))?;
    let pair = CertifiedKey::new(chain, signing);
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        // Nothing to compare with for some key types: trust the operator.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(pair),
        Err(_) => Err(TlsError::Mismatch),
    }
}

/// Shared by the slot, which swaps it whole.
pub type Pair = Arc<CertifiedKey>;
