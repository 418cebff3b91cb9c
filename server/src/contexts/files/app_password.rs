//! App passwords for WebDAV clients: a random secret shown once, kept as an argon2 hash.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use rand::Rng;

/// A new secret: 32 characters from an alphabet without look-alikes (~160 bits).
pub fn new_secret() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The argon2 PHC string for `secret` (on a blocking thread: hashing takes tens of ms).
pub async fn hash(secret: String) -> String {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(secret.as_bytes())
            .expect("argon2 hashes any input")
            .to_string()
    })
    .await
    .expect("the hashing task does not panic")
}

/// Whether `secret` matches the stored hash.
pub async fn verify(secret: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(secret.as_bytes(), stored.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_secret_verifies_against_its_hash_only() {
        let secret = new_secret();
        assert_eq!(secret.len(), 32);
        let stored = hash(secret.clone()).await;
        assert!(stored.starts_with("$argon2"));
        assert!(verify(secret, stored.clone()).await);
        assert!(!verify(new_secret(), stored.clone()).await);
        assert!(!verify("x".into(), "not a hash".into()).await);
    }
}
