//! The server's VAPID identity (RFC 8292): a P-256 key kept as PKCS#8 PEM in the data
//! directory (`vapid.pem`, made at first start; nodes of one installation share it like
//! `jwt.secret`), whose public half browsers pass as `applicationServerKey` when they
//! subscribe, and which signs a short-lived JWT on every push.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand::Rng;
use serde::Serialize;

use super::PushError;

/// The key's file in the data directory.
pub const VAPID_FILE: &str = "vapid.pem";

/// How long a push's signature is valid (RFC 8292: at most 24 hours).
const VALID_SECONDS: i64 = 12 * 3600;

pub struct Vapid {
    key: EncodingKey,
    /// The uncompressed public point, base64url: `applicationServerKey`, and `k=`.
    public: String,
    /// Who to contact about this server's pushes (`mailto:` or `https:`).
    subject: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: i64,
    sub: &'a str,
}

impl Vapid {
    /// Reads the key at `path`, or makes one there (owner-only) when there is none.
    pub fn load_or_create(path: &Path, subject: &str) -> Result<Vapid, PushError> {
        let file_error = |source| PushError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        let secret = match std::fs::read_to_string(path) {
            Ok(pem) => p256::SecretKey::from_pkcs8_pem(&pem)
                .map_err(|_| PushError::BadKey(path.display().to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = loop {
                    let mut bytes = [0u8; 32];
                    rand::rng().fill(&mut bytes);
                    // Almost every 32 bytes are a valid scalar; retry the rare ones that are not.
                    if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                        break secret;
                    }
                };
                let pem = secret
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|_| PushError::BadKey(path.display().to_string()))?;
                write_private(path, pem.as_bytes()).map_err(file_error)?;
                secret
            }
            Err(e) => return Err(file_error(e)),
        };
        let der = secret
            .to_pkcs8_der()
            .map_err(|_| PushError::BadKey(path.display().to_string()))?;
        let key = EncodingKey::from_ec_der(der.as_bytes());
        let public = B64URL.encode(secret.public_key().to_sec1_bytes());
        Ok(Vapid {
            key,
            public,
            subject: subject.to_string(),
        })
    }

    /// The public key browsers subscribe with (`applicationServerKey`), base64url.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to `endpoint` (whose origin is the audience).
    pub fn authorization(&self, endpoint: &reqwest::Url) -> Result<String, PushError> {
        let audience = endpoint.origin().ascii_serialization();
        let claims = Claims {
            aud: &audience,
            exp: chrono::Utc::now().timestamp() + VALID_SECONDS,
            sub: &self.subject,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key)
            .map_err(|e| PushError::Invalid(format!("cannot sign the VAPID token: {e}")))?;
        Ok(format!("vapid t={token}, k={}", self.public))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_and_signs_tokens_for_the_endpoint_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vapid.pem");
        let first = Vapid::load_or_create(&path, "mailto:ops@example.org").unwrap();
        let again = Vapid::load_or_create(&path, "mailto:ops@example.org").unwrap();
        assert_eq!(first.public_key(), again.public_key());
        // An uncompressed P-256 point: 65 bytes starting with 4.
        let point = B64URL.decode(first.public_key()).unwrap();
        assert_eq!((point.len(), point[0]), (65, 4));
        let url = reqwest::Url::parse("https://push.example.net/send/abc").unwrap();
        let header = first.authorization(&url).unwrap();
        let token = header
            .strip_prefix("vapid t=")
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(token.split('.').nth(1).unwrap()).unwrap())
                .unwrap();
        assert_eq!(claims["aud"], "https://push.example.net");
        assert_eq!(claims["sub"], "mailto:ops@example.org");
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            Vapid::load_or_create(&path, "mailto:x@example.org"),
            Err(PushError::BadKey(_))
        ));
    }
}
