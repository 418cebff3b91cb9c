//! Password policy and argon2id hashing (19 MiB, t=2, p=1), run off the async threads.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use super::AuthError;

pub const MIN_CHARS: usize = 8;
pub const MAX_BYTES: usize = 1024;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn check_policy(password: &str) -> Result<(), AuthError> {
    if password.len() > MAX_BYTES {
        return Err(AuthError::PasswordTooLong);
    }
    if password.chars().count() < MIN_CHARS {
        return Err(AuthError::PasswordTooShort);
    }
    Ok(())
}

/// Hashes to a PHC string with a fresh salt.
pub async fn hash(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || {
        argon2()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| AuthError::Internal(format!("hash task: {e}")))?
}

/// Verifies in constant time for a given hash; a malformed stored hash counts as a mismatch.
pub async fn verify(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        argon2()
            .verify_password(password.as_bytes(), phc.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_bounds() {
        assert!(matches!(
            check_policy("short"),
            Err(AuthError::PasswordTooShort)
        ));
        assert!(check_policy("eight ch").is_ok());
        assert!(check_policy(&"x".repeat(MAX_BYTES)).is_ok());
        assert!(matches!(
            check_policy(&"x".repeat(MAX_BYTES + 1)),
            Err(AuthError::PasswordTooLong)
        ));
        // Characters, not bytes, count towards the minimum.
        assert!(matches!(
            check_policy("ãããã"),
            Err(AuthError::PasswordTooShort)
        ));
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let phc = hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse".into(), phc.clone()).await);
        assert!(!verify("wrong horse".into(), phc).await);
        assert!(!verify("x".into(), "not a hash".into()).await);
    }
}
