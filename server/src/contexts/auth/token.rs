//! Session tokens: HS256 JWTs signed with the instance's persisted secret.
//!
//! Only HS256 is accepted; a token naming any other `alg` (including `none`) fails verification.
//! A valid signature is not enough on its own: the service also checks the session row.

use std::io::{self, Write};
use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AuthError;
use crate::ids::{CommunityId, SessionId, UserId};

/// File name of the signing secret inside the data directory.
pub const SECRET_FILE: &str = "jwt.secret";
const SECRET_BYTES: usize = 64;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// User id.
    pub sub: UserId,
    /// Community id.
    pub cid: CommunityId,
    pub role: String,
    /// Session id: the `user_sessions` row this token belongs to.
    pub sid: SessionId,
    pub iat: i64,
    pub exp: i64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Reads the secret at `path`, or creates it (random, mode 0600) on the first start.
    pub fn load_or_create(path: &Path) -> io::Result<Self> {
        Ok(Self::from_secret(&load_or_create_secret(path)?))
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, AuthError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("jwt encode: {e}")))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::TokenExpired,
                _ => AuthError::InvalidToken,
            })
    }
}

/// Hex SHA-256: what `user_sessions.token_hash` (and invite/recovery code hashes) store.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The server secret at `path`, created (random, mode 0600) on the first start. It signs
/// tokens and is the key material of [`super::SecretCipher`].
pub fn load_or_create_secret(path: &Path) -> io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let secret = hex::decode(text.trim()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            if secret.len() < 32 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: secret shorter than 32 bytes", path.display()),
                ));
            }
            Ok(secret)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut secret = vec![0u8; SECRET_BYTES];
            rand::rng().fill_bytes(&mut secret);
            write_private(path, hex::encode(&secret).as_bytes())?;
            tracing::info!(path = %path.display(), "generated a new JWT signing secret");
            Ok(secret)
        }
        Err(e) => Err(e),
    }
}

/// Writes a new file readable by its owner only; fails if it already exists.
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn claims(exp_offset: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: "u".into(),
            cid: "c".into(),
            role: "member".into(),
            sid: "s".into(),
            iat: now,
            exp: now + exp_offset,
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let keys = TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let token = keys.issue(&claims(60)).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), claims(60));
        let old = keys.issue(&claims(-5)).unwrap();
        assert!(matches!(keys.verify(&old), Err(AuthError::TokenExpired)));
    }

    #[test]
    fn other_algorithms_and_none_are_refused() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let keys = TokenKeys::from_secret(secret);
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims(60),
            &EncodingKey::from_secret(secret),
        )
        .unwrap();
        assert!(matches!(keys.verify(&hs512), Err(AuthError::InvalidToken)));

        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = b64.encode(serde_json::to_vec(&claims(60)).unwrap());
        assert!(matches!(
            keys.verify(&format!("{header}.{body}.")),
            Err(AuthError::InvalidToken)
        ));
    }

    #[test]
    fn secret_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRET_FILE);
        let first = load_or_create_secret(&path).unwrap();
        let second = load_or_create_secret(&path).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), SECRET_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
