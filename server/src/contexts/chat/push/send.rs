//! One push to one browser: the payload encrypted for its keys (RFC 8291 `aes128gcm`, by the
//! `web-push-native` crate), the request signed with VAPID, POSTed to the push service.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use web_push_native::{Auth, WebPushBuilder};

use super::notifier::Subscription;
use super::{PushError, Vapid};

/// How long a push service has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long the push service keeps a push for a browser that is offline (seconds).
const TTL_SECONDS: &str = "86400";
/// Longest endpoint accepted.
const MAX_ENDPOINT: usize = 2048;

/// What became of a push.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Delivered,
    /// The push service no longer knows the subscription (404, 410): forget it.
    Gone,
    Failed(String),
}

/// Browser keys come base64url, with or without padding (some libraries send standard
/// base64).
pub fn decode_key(value: &str) -> Option<Vec<u8>> {
    let normal: String = value
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    B64URL.decode(normal).ok()
}

/// Checks a subscription as a browser sends it: an `https` endpoint (plain `http` only on
/// hosts listed in `chat.push_plain_http_hosts`, for a local push service), a P-256 key and
/// a 16-byte auth secret.
pub fn check(
    endpoint: &str,
    p256dh: &str,
    auth: &str,
    plain_http_hosts: &[String],
) -> Result<(), PushError> {
    let invalid = |m: &str| Err(PushError::Invalid(m.to_string()));
    if endpoint.len() > MAX_ENDPOINT {
        return invalid("endpoint is too long");
    }
    let Ok(url) = reqwest::Url::parse(endpoint) else {
        return invalid("endpoint is not a URL");
    };
    let host = url.host_str().unwrap_or_default();
    let host_port = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let allowed = match url.scheme() {
        "https" => true,
        "http" => plain_http_hosts
            .iter()
            .any(|h| *h == host || *h == host_port),
        _ => false,
    };
    if !allowed || host.is_empty() || !url.username().is_empty() || url.password().is_some() {
        return invalid("endpoint must be an https URL of a push service");
    }
    let point = decode_key(p256dh).unwrap_or_default();
    if p256::PublicKey::from_sec1_bytes(&point).is_err() {
        return invalid("p256dh must be the browser's P-256 public key (base64url)");
    }
    if decode_key(auth).map(|a| a.len()) != Some(16) {
        return invalid("auth must be 16 bytes (base64url)");
    }
    Ok(())
}

/// Encrypts `payload` for the subscription and sends it.
pub async fn deliver(
    http: &reqwest::Client,
    vapid: &Vapid,
    subscription: &Subscription,
    payload: &[u8],
) -> Outcome {
    let request = match encrypt(subscription, payload) {
        Ok(request) => request,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let Ok(url) = reqwest::Url::parse(&subscription.endpoint) else {
        return Outcome::Failed("endpoint is not a URL".into());
    };
    let authorization = match vapid.authorization(&url) {
        Ok(header) => header,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let (parts, body) = request.into_parts();
    let mut headers = parts.headers;
    if let Ok(value) = HeaderValue::from_str(&authorization) {
        headers.insert(AUTHORIZATION, value);
    }
    headers
        .entry("ttl")
        .or_insert(HeaderValue::from_static(TTL_SECONDS));
    let sent = http
        .post(url)
        .headers(headers)
        .body(body)
        .timeout(TIMEOUT)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => Outcome::Delivered,
        Ok(response) if matches!(response.status().as_u16(), 404 | 410) => Outcome::Gone,
        Ok(response) => Outcome::Failed(format!("push service answered {}", response.status())),
        Err(e) => Outcome::Failed(PushError::Unreachable(e.to_string()).to_string()),
    }
}

fn encrypt(
    subscription: &Subscription,
    payload: &[u8],
) -> Result<axum::http::Request<Vec<u8>>, PushError> {
    let invalid = |m: &str| PushError::Invalid(m.to_string());
    let point = decode_key(&subscription.p256dh).ok_or_else(|| invalid("bad p256dh"))?;
    let public = p256::PublicKey::from_sec1_bytes(&point).map_err(|_| invalid("bad p256dh"))?;
    let secret = decode_key(&subscription.auth).and_then(|a| <[u8; 16]>::try_from(a).ok());
    let secret = secret.ok_or_else(|| invalid("bad auth"))?;
    let endpoint: axum::http::Uri = subscription
        .endpoint
        .parse()
        .map_err(|_| invalid("bad endpoint"))?;
    WebPushBuilder::new(endpoint, public, Auth::from(secret))
        .build(payload.to_vec())
        .map_err(|e| PushError::Invalid(format!("cannot encrypt the push: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        B64URL.encode(secret.public_key().to_sec1_bytes())
    }

    #[test]
    fn subscriptions_must_name_a_real_push_service_and_real_keys() {
        let auth = B64URL.encode([1u8; 16]);
        let plain = vec!["127.0.0.1:9000".to_string()];
        assert!(check("https://push.example.net/x", &key(), &auth, &[]).is_ok());
        assert!(check("http://127.0.0.1:9000/x", &key(), &auth, &plain).is_ok());
        for bad in [
            "http://push.example.net/x",
            "http://127.0.0.1:9001/x",
            "ftp://push.example.net/x",
            "https://user:pw@push.example.net/x",
            "not a url",
        ] {
            assert!(check(bad, &key(), &auth, &plain).is_err(), "{bad}");
        }
        assert!(check("https://p.example.net/x", "AAAA", &auth, &[]).is_err());
        assert!(check("https://p.example.net/x", &key(), "AAAA", &[]).is_err());
        // Padded and standard-alphabet keys are read too.
        assert!(check(
            "https://p.example.net/x",
            &format!("{}=", key()),
            &auth,
            &[]
        )
        .is_ok());
    }
}
