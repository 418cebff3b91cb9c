//! Reading a certificate chain and its private key from PEM, and checking that they belong
//! together.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::rustls::sign::CertifiedKey;

use super::TlsError;

/// Shared by the slot, which swaps it whole.
pub type Pair = Arc<CertifiedKey>;

/// What is wrong with a PEM pair.
#[derive(Debug)]
pub enum PemProblem {
    Chain(String),
    Key(String),
    Mismatch,
}

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
    pair_from_pem(&read(cert)?, &read(key)?).map_err(|problem| match problem {
        PemProblem::Chain(why) => TlsError::Invalid {
            path: shown(cert),
            why,
        },
        PemProblem::Key(why) => TlsError::Invalid {
            path: shown(key),
            why,
        },
        PemProblem::Mismatch => TlsError::Mismatch,
    })
}

/// A chain (leaf first) and its key, both PEM.
pub fn pair_from_pem(chain: &[u8], key: &[u8]) -> Result<CertifiedKey, PemProblem> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
        .collect::<Result<_, _>>()
        .map_err(|e| PemProblem::Chain(format!("not a PEM certificate chain ({e})")))?;
    if chain.is_empty() {
        return Err(PemProblem::Chain("holds no CERTIFICATE block".into()));
    }
    let private = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| PemProblem::Key(format!("no PEM private key ({e})")))?;
    let pair = certified(chain, private).map_err(PemProblem::Key)?;
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        // Nothing to compare with for some key types: trust the operator.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(pair),
        Err(_) => Err(PemProblem::Mismatch),
    }
}

/// A chain with its key, for rustls (the aws-lc-rs provider).
pub fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertifiedKey, String> {
    let signing = rustls::crypto::aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unusable private key ({e})"))?;
    Ok(CertifiedKey::new(chain, signing))
}
