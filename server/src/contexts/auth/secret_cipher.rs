//! Encryption at rest for the small secrets auth must read back (TOTP secrets): a reader of
//! the database alone (a copied `taina.db`, a PostgreSQL dump) does not get them.
//!
//! The key is derived from the instance's server secret (`jwt.secret`, 64 random bytes) with
//! HKDF-SHA256 under a fixed label, so the JWT signing key and this key are never the same
//! key, yet nothing new has to be kept or backed up. Secrets are sealed with
//! XChaCha20-Poly1305: a random 24-byte nonce per value (no counter to persist, and no
//! realistic chance of a repeat), and the owner's id as associated data, so a sealed value
//! copied onto another user's row does not open there. Stored form: `v1:` followed by
//! base64url (no padding) of nonce ‖ ciphertext ‖ tag; the version names this scheme so a
//! later one can sit beside it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

use super::AuthError;

/// Prefix of a value sealed by this version of the scheme.
const V1: &str = "v1:";
/// HKDF `info`: what the derived key is for. Changing it changes the key.
const KEY_LABEL: &[u8] = b"taina auth secret-at-rest v1";
const NONCE_BYTES: usize = 24;

/// Seals and opens secrets at rest; cheap to clone.
#[derive(Clone)]
pub struct SecretCipher {
    aead: XChaCha20Poly1305,
}

impl SecretCipher {
    /// The cipher whose key HKDF-SHA256 derives from `server_secret`.
    pub fn from_server_secret(server_secret: &[u8]) -> Self {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, server_secret)
            .expand(KEY_LABEL, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self {
            aead: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// True when `stored` is a sealed value rather than a plaintext one from before sealing.
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(V1)
    }

    /// Seals `secret`, bound to `owner` (the id of the row it is stored in).
    pub fn seal(&self, owner: &str, secret: &str) -> Result<String, AuthError> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .aead
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| AuthError::Internal("cannot seal a secret".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{V1}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Opens a value sealed for `owner`. Fails when it was sealed under another server
    /// secret, for another owner, altered, or is not a sealed value at all.
    pub fn open(&self, owner: &str, stored: &str) -> Result<String, AuthError> {
        let undecryptable = |why: &str| {
            AuthError::Internal(format!(
                "the stored secret of user {owner} cannot be decrypted ({why}); \
                 was jwt.secret replaced since it was stored?"
            ))
        };
        let encoded = stored
            .strip_prefix(V1)
            .ok_or_else(|| undecryptable("not a sealed value"))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| undecryptable("malformed"))?;
        if bytes.len() < NONCE_BYTES {
            return Err(undecryptable("truncated"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let nonce = XNonce::try_from(nonce).map_err(|_| undecryptable("truncated"))?;
        let plain = self
            .aead
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| undecryptable("authentication failed"))?;
        String::from_utf8(plain).map_err(|_| undecryptable("not text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_hides_the_secret_and_never_repeats() {
        let cipher = SecretCipher::from_server_secret(SECRET);
        let first = cipher.seal("user-1", "JBSWY3DPEHPK3PXP").unwrap();
        let second = cipher.seal("user-1", "JBSWY3DPEHPK3PXP").unwrap();
        assert!(SecretCipher::is_sealed(&first));
        assert!(!first.contains("JBSWY3DPEHPK3PXP"));
        assert_ne!(first, second, "a fresh nonce each time");
        assert_eq!(cipher.open("user-1", &first).unwrap(), "JBSWY3DPEHPK3PXP");
        assert_eq!(cipher.open("user-1", &second).unwrap(), "JBSWY3DPEHPK3PXP");
        assert!(!SecretCipher::is_sealed("JBSWY3DPEHPK3PXP"));
    }

    #[test]
    fn another_server_secret_cannot_open_it() {
        let sealed = SecretCipher::from_server_secret(SECRET)
            .seal("user-1", "JBSWY3DPEHPK3PXP")
            .unwrap();
        let other = SecretCipher::from_server_secret(b"another secret of at least 32 bytes!");
        assert!(matches!(
            other.open("user-1", &sealed),
            Err(AuthError::Internal(_))
        ));
    }

    #[test]
    fn tampering_or_another_owner_fails() {
        let cipher = SecretCipher::from_server_secret(SECRET);
        let sealed = cipher.seal("user-1", "JBSWY3DPEHPK3PXP").unwrap();
        assert!(cipher.open("user-2", &sealed).is_err(), "bound to its row");
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed[V1.len()..]).unwrap();
        for at in [0, NONCE_BYTES, bytes.len() - 1] {
            bytes[at] ^= 1;
            let altered = format!("{V1}{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert!(cipher.open("user-1", &altered).is_err(), "byte {at}");
            bytes[at] ^= 1;
        }
        let truncated = format!("{V1}{}", URL_SAFE_NO_PAD.encode(&bytes[..30]));
        assert!(cipher.open("user-1", &truncated).is_err());
        assert!(cipher.open("user-1", "v1:not base64!").is_err());
        assert!(cipher.open("user-1", "JBSWY3DPEHPK3PXP").is_err());
    }
}
