//! When a certificate is due for renewal: once a third of its validity is left, as
//! Let's Encrypt advises (30 days of a 90-day certificate, 2 of a 6-day one).

use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use x509_cert::der::Decode;

/// The moment the leaf of `chain_pem` should be renewed.
pub fn renew_at(chain_pem: &str) -> Result<SystemTime, String> {
    let leaf = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .ok_or("no certificate in the chain")?
        .map_err(|e| format!("not PEM ({e})"))?;
    let certificate =
        x509_cert::Certificate::from_der(leaf.as_ref()).map_err(|e| format!("not X.509 ({e})"))?;
    let validity = &certificate.tbs_certificate.validity;
    let (from, until) = (
        SystemTime::UNIX_EPOCH + validity.not_before.to_unix_duration(),
        SystemTime::UNIX_EPOCH + validity.not_after.to_unix_duration(),
    );
    let lifetime = until.duration_since(from).unwrap_or_default();
    Ok(until - lifetime / 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renewal_falls_when_a_third_of_the_validity_is_left() {
        let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        params.not_before = start.into();
        params.not_after = (start + Duration::from_secs(90 * 86_400)).into();
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        assert_eq!(
            renew_at(&pem).unwrap(),
            start + Duration::from_secs(60 * 86_400)
        );
        assert!(renew_at("not a certificate").is_err());
    }
}
