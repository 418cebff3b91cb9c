//! Access tokens and sessions: expired, tampered, foreign and unsigned tokens, sessions expired in
//! the database.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use taina_tests::TestServer;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn forge(secret: &[u8], claims: &Value, alg: jsonwebtoken::Algorithm) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn expired_tampered_foreign_and_unsigned_tokens_are_refused() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let secret = server.jwt_secret();
    let claims = claims_of(&token);

    // Expired: correctly signed, `exp` in the past.
    let mut expired = claims.clone();
    expired["iat"] = json!(claims["iat"].as_i64().unwrap() - 7200);
    expired["exp"] = json!(claims["iat"].as_i64().unwrap() - 3600);
    let reply = server
        .get(
            "/api/auth/me",
            Some(&forge(&secret, &expired, jsonwebtoken::Algorithm::HS256)),
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNAUTHORIZED, "token_expired")
    );

    // Tampered: the payload says guest-turned-other-user, the signature is the original.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut changed = claims.clone();
    changed["sub"] = json!("AAAAAAAAAAAAAAAAAAAAA");
    parts[1] = b64(&serde_json::to_vec(&changed).unwrap());
    let reply = server.get("/api/auth/me", Some(&parts.join("."))).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );

    // alg: none, with and without a trailing signature part.
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let body = b64(&serde_json::to_vec(&claims).unwrap());
    for forged in [format!("{header}.{body}."), format!("{header}.{body}")] {
        let reply = server.get("/api/auth/me", Some(&forged)).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
    }

    // The right secret with another algorithm, and another secret with the right one.
    let hs512 = forge(&secret, &claims, jsonwebtoken::Algorithm::HS512);
    let reply = server.get("/api/auth/me", Some(&hs512)).await;
    assert_eq!(reply.code(), "invalid_token");
    let foreign = forge(
        b"some other instance's secret....",
        &claims,
        jsonwebtoken::Algorithm::HS256,
    );
    let reply = server.get("/api/auth/me", Some(&foreign)).await;
    assert_eq!(reply.code(), "invalid_token");

    // A validly signed token whose session does not exist.
    let mut unknown_session = claims.clone();
    unknown_session["sid"] = json!("BBBBBBBBBBBBBBBBBBBBB");
    let reply = server
        .get(
            "/api/auth/me",
            Some(&forge(
                &secret,
                &unknown_session,
                jsonwebtoken::Algorithm::HS256,
            )),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Missing and malformed headers.
    assert_eq!(
        server.get("/api/auth/me", None).await.code(),
        "missing_token"
    );
    assert_eq!(
        server.get("/api/auth/me", Some("garbage")).await.code(),
        "invalid_token"
    );

    // The genuine token still works.
    assert_eq!(
        server.get("/api/auth/me", Some(&token)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_session_that_expired_in_the_database_is_refused() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    server
        .execute_with_past_time("UPDATE user_sessions SET expires_at = $1")
        .await;
    let reply = server.get("/api/auth/me", Some(&token)).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNAUTHORIZED, "token_expired")
    );
}
