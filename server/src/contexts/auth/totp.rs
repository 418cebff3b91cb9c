//! RFC 6238 one-time passwords (SHA-1, 6 digits, 30 s, ±1 step) and single-use recovery codes.

use rand::Rng;
use totp_rs::{Builder, Secret, Totp};

use super::AuthError;

pub const RECOVERY_CODES: usize = 10;

/// A fresh random secret, base32-encoded as authenticator apps expect.
pub fn new_secret() -> String {
    Secret::generate().to_base32()
}

pub fn build(secret_base32: &str, issuer: &str, account: &str) -> Result<Totp, AuthError> {
    let secret = Secret::try_from_base32(secret_base32)
        .map_err(|e| AuthError::Internal(format!("stored TOTP secret: {e}")))?;
    Builder::new()
        .with_secret(secret)
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .map_err(|e| AuthError::Internal(format!("totp: {e}")))
}

/// The `otpauth://` URI an authenticator app scans.
pub fn uri(totp: &Totp) -> Result<String, AuthError> {
    totp.to_url()
        .map_err(|e| AuthError::Internal(format!("totp url: {e}")))
}

/// The time step a code matches (now ±1 step), if any.
pub fn matching_step(totp: &Totp, code: &str) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp.check_current(code)
}

/// True when `otp` looks like a recovery code rather than a 6-digit TOTP.
pub fn is_recovery_code(otp: &str) -> bool {
    let otp = otp.trim();
    otp.len() == 11 && otp.as_bytes()[5] == b'-'
}

/// `xxxxx-xxxxx` from an unambiguous alphabet (~50 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code: String = (0..10)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect();
            code.insert(5, '-');
            code
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_code_matches_and_garbage_does_not() {
        let secret = new_secret();
        let totp = build(&secret, "Tainá", "ana@example.org").unwrap();
        let code = totp.generate_current().to_string();
        assert!(matching_step(&totp, &code).is_some());
        assert!(matching_step(&totp, "12345").is_none());
        assert!(matching_step(&totp, "abcdef").is_none());
        assert!(uri(&totp).unwrap().starts_with("otpauth://totp/"));
    }

    #[test]
    fn recovery_codes_are_distinct_and_recognised() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(codes.iter().all(|c| is_recovery_code(c)));
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert!(!is_recovery_code("123456"));
    }
}
