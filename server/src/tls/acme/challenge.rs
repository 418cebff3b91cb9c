//! The TLS-ALPN-01 validation certificate (RFC 8737): self-signed for the one name, carrying
//! the SHA-256 of the key authorization in the critical `acmeIdentifier` extension.

use rcgen::{CertificateParams, CustomExtension, KeyPair};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::super::certificate::{certified, Pair};

pub fn validation_pair(domain: &str, key_authorization_digest: &[u8]) -> Result<Pair, String> {
    let mut params = CertificateParams::new(vec![domain.to_owned()]).map_err(|e| e.to_string())?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(
        key_authorization_digest,
    )];
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let certificate = params.self_signed(&key).map_err(|e| e.to_string())?;
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok(Pair::new(certified(
        vec![certificate.der().clone()],
        private,
    )?))
}
