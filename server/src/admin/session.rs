//! The panel's session: a cookie holding the same session token the API hands out, so the
//! panel is one more signed-in device (a `user_sessions` row) and sign-out or revocation ends
//! it like any other. The cookie is `HttpOnly; SameSite=Strict`, and `Secure` (under the
//! `__Host-` name) when `admin.secure_cookies` is set.
//!
//! CSRF: every state-changing form carries `csrf_token`. Signed in, it is derived from the
//! session token (a SHA-256 under a fixed label): only someone who can read the HttpOnly cookie
//! could compute it, and it dies with the session. The sign-in form, before any session,
//! uses a double-submit nonce: a random value in its own cookie that the form must repeat.

use axum::http::{header, HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::contexts::auth::{AuthService, Principal, Role};
use crate::http::secrets_match;

const SESSION_COOKIE: &str = "taina_admin";
const SECURE_SESSION_COOKIE: &str = "__Host-taina_admin";
const SIGNIN_COOKIE: &str = "taina_admin_signin";

/// A signed-in admin.
#[derive(Clone, Debug)]
pub struct AdminSession {
    pub principal: Principal,
    pub token: String,
    pub csrf: String,
}

/// Why a request has no admin session.
#[derive(Debug, PartialEq, Eq)]
pub enum NoSession {
    /// No cookie, or its session ended: sign in.
    SignedOut,
    /// Signed in, but not an admin.
    NotAdmin,
}

/// The admin session the request's cookie names, checked against the live session.
pub async fn current(auth: &AuthService, headers: &HeaderMap) -> Result<AdminSession, NoSession> {
    let token = cookie(headers, SECURE_SESSION_COOKIE)
        .or_else(|| cookie(headers, SESSION_COOKIE))
        .ok_or(NoSession::SignedOut)?;
    let principal = auth
        .authenticate(token)
        .await
        .map_err(|_| NoSession::SignedOut)?;
    if principal.role != Role::Admin {
        return Err(NoSession::NotAdmin);
    }
    Ok(AdminSession {
        csrf: csrf_for(token),
        token: token.to_owned(),
        principal,
    })
}

/// The CSRF token of the session holding `token`.
pub fn csrf_for(token: &str) -> String {
    let digest = Sha256::digest(format!("taina admin csrf\0{token}"));
    hex::encode(&digest[..16])
}

/// Whether a form's token is the expected one (compared without an early exit).
pub fn csrf_matches(expected: &str, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| secrets_match(expected.as_bytes(), p.as_bytes()))
}

/// A cookie's value from the request.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for a new session lasting until `expires_at`.
pub fn session_cookie(token: &str, expires_at: DateTime<Utc>, secure: bool) -> HeaderValue {
    let max_age = (expires_at - Utc::now()).num_seconds().max(0);
    let value = if secure {
        format!("{SECURE_SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict; Secure")
    } else {
        format!(
            "{SESSION_COOKIE}={token}; Path=/admin; Max-Age={max_age}; HttpOnly; SameSite=Strict"
        )
    };
    HeaderValue::from_str(&value).expect("token characters are valid in a header")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> HeaderValue {
    HeaderValue::from_static(if secure {
        "__Host-taina_admin=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
    } else {
        "taina_admin=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict"
    })
}

/// The sign-in form's nonce: the one in its cookie, or a fresh one (with the `Set-Cookie`
/// that stores it).
pub fn signin_nonce(headers: &HeaderMap, secure: bool) -> (String, Option<HeaderValue>) {
    if let Some(existing) = cookie(headers, SIGNIN_COOKIE) {
        return (existing.to_owned(), None);
    }
    let nonce = nanoid::nanoid!(32);
    let secure = if secure { "; Secure" } else { "" };
    let value = format!("{SIGNIN_COOKIE}={nonce}; Path=/admin; HttpOnly; SameSite=Strict{secure}");
    let header = HeaderValue::from_str(&value).expect("nanoid characters are valid in a header");
    (nonce, Some(header))
}

/// The nonce the sign-in form must repeat, if the browser holds one.
pub fn signin_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SIGNIN_COOKIE)
}

/// True when the owner of `session` still has it and is still an admin.
pub async fn still_valid(auth: &AuthService, session: &AdminSession) -> bool {
    matches!(auth.authenticate(&session.token).await, Ok(p) if p.role == Role::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name_and_csrf_tokens_compare_whole() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("other=1; taina_admin_signin=n0nce; taina_admin=tok"),
        );
        assert_eq!(cookie(&headers, "taina_admin"), Some("tok"));
        assert_eq!(signin_cookie(&headers), Some("n0nce"));
        assert_eq!(cookie(&headers, "taina"), None);
        let csrf = csrf_for("tok");
        assert_eq!(csrf.len(), 32);
        assert_ne!(csrf, csrf_for("tok2"));
        assert!(csrf_matches(&csrf, Some(&csrf)));
        assert!(!csrf_matches(&csrf, Some(&csrf[..31])));
        assert!(!csrf_matches(&csrf, None));
        let set = session_cookie("tok", Utc::now() + chrono::Duration::hours(1), false);
        let set = set.to_str().unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict") && !set.contains("Secure")
        );
        let secure = session_cookie("tok", Utc::now(), true);
        assert!(secure
            .to_str()
            .unwrap()
            .starts_with("__Host-taina_admin=tok; Path=/;"));
    }
}
