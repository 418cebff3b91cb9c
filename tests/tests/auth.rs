//! The auth suite, end to end over HTTP. Runs on SQLite, and on PostgreSQL when
//! `TEST_DATABASE_URL` is set (scripts/test runs both).

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use taina_tests::TestServer;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn first_sign_up_creates_the_community_and_its_admin_then_the_full_session_cycle() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/healthz", None).await.status, StatusCode::OK);
    let ready = server.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["database"], server.backend());

    let signup = server
        .post(
            "/api/auth/signup",
            json!({ "email": " Ana@Example.org ", "password": "correct horse", "community_name": "Aldeia Verde" }),
            None,
        )
        .await;
    assert_eq!(signup.status, StatusCode::CREATED, "{}", signup.body);
    assert_eq!(signup.body["user"]["role"], "admin");
    assert_eq!(signup.body["user"]["email"], "ana@example.org");
    assert_eq!(signup.body["community"]["name"], "Aldeia Verde");
    assert_eq!(signup.body["community"]["slug"], "aldeia-verde");
    let user_id = signup.body["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(user_id.len(), 21);

    let signin = server
        .post(
            "/api/auth/signin",
            json!({ "email": "ana@example.org", "password": "correct horse" }),
            None,
        )
        .await;
    assert_eq!(signin.status, StatusCode::OK, "{}", signin.body);
    assert_eq!(signin.body["user"]["id"], user_id.as_str());
    assert_eq!(signin.body["user"]["role"], "admin");
    assert_eq!(
        signin.body["user"]["community_id"],
        signup.body["community"]["id"]
    );
    assert!(signin.body["expires_at"].is_string());
    let token = signin.body["token"].as_str().unwrap();

    // The JWT carries the documented claims.
    let claims: Value = {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["cid"], signup.body["community"]["id"]);
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["sid"].as_str().unwrap().len(), 21);
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(ttl, 7 * 24 * 3600);

    let me = server.get("/api/auth/me", Some(token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], "ana@example.org");
    assert!(me.body.get("password_hash").is_none());

    let out = server
        .post("/api/auth/signout", json!({}), Some(token))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after = server.get("/api/auth/me", Some(token)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.code(), "session_revoked");
    // Signing out twice is refused the same way.
    let again = server
        .post("/api/auth/signout", json!({}), Some(token))
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);

    // The session row stores only the token's hash.
    let stored: Vec<String> = taina::db::query_scalar("SELECT token_hash FROM user_sessions")
        .fetch_all(&server.state.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].len(), 64);
    assert!(!stored[0].contains(token));
}

#[tokio::test]
async fn later_sign_ups_need_an_invite() {
    let server = TestServer::start().await;
    server.admin().await;
    let reply = server
        .sign_up("bob@example.org", "bob password", None)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "invite_required");
    let reply = server
        .sign_up("bob@example.org", "bob password", Some("no-such-code"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "invite_invalid");
}

#[tokio::test]
async fn concurrent_first_sign_ups_make_exactly_one_admin() {
    let server = TestServer::start().await;
    let attempts = (0..6).map(|i| {
        let server = &server;
        async move {
            server
                .sign_up(&format!("user{i}@example.org"), "a good password", None)
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::FORBIDDEN)
        .count();
    assert_eq!((created, refused), (1, 5), "{statuses:?}");
}

#[tokio::test]
async fn wrong_email_and_wrong_password_look_the_same() {
    let server = TestServer::start().await;
    server.admin().await;
    let wrong_password = server
        .post(
            "/api/auth/signin",
            json!({ "email": "admin@example.org", "password": "not the password" }),
            None,
        )
        .await;
    let wrong_email = server
        .post(
            "/api/auth/signin",
            json!({ "email": "nobody@example.org", "password": "not the password" }),
            None,
        )
        .await;
    let bad_community = server
        .post(
            "/api/auth/signin",
            json!({ "email": "admin@example.org", "password": "admin password", "community": "Elsewhere" }),
            None,
        )
        .await;
    for reply in [&wrong_password, &wrong_email, &bad_community] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.code(), "invalid_credentials");
    }
    assert_eq!(wrong_password.body, wrong_email.body);
}

#[tokio::test]
async fn malformed_and_oversize_bodies_are_refused_clearly() {
    let server = TestServer::start().await;
    let url = format!("{}/api/auth/signin", server.url);

    let syntax = server
        .send(
            server
                .client
                .post(&url)
                .header("content-type", "application/json")
                .body("{\"email\": "),
        )
        .await;
    assert_eq!(syntax.status, StatusCode::BAD_REQUEST);
    assert_eq!(syntax.code(), "invalid_json");
    assert!(syntax.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("EOF"));

    let missing = server
        .post("/api/auth/signin", json!({ "email": "a@b.c" }), None)
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("password"));

    let wrong_type = server
        .post(
            "/api/auth/signin",
            json!({ "email": 5, "password": "x" }),
            None,
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    assert!(wrong_type.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("email"));

    let no_type = server.send(server.client.post(&url).body("{}")).await;
    assert_eq!(no_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(no_type.code(), "unsupported_media_type");

    let huge = format!(
        "{{\"email\":\"a@b.c\",\"password\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let oversize = server
        .send(
            server
                .client
                .post(&url)
                .header("content-type", "application/json")
                .body(huge),
        )
        .await;
    assert_eq!(oversize.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(oversize.code(), "payload_too_large");

    let unknown = server.get("/api/nothing-here", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "not_found");
    let wrong_method = server.get("/api/auth/signin", None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);

    // The server is still fine afterwards.
    assert_eq!(server.get("/readyz", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn password_policy() {
    let server = TestServer::start().await;
    let short = server.sign_up("a@example.org", "short", None).await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(short.code(), "password_too_short");
    let long = server
        .sign_up("a@example.org", &"x".repeat(1025), None)
        .await;
    assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(long.code(), "password_too_long");
    let email = server.sign_up("not an email", "long enough", None).await;
    assert_eq!(email.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(email.code(), "invalid_input");
    // Nothing was created by the refused attempts: the next sign-up is still the first.
    let ok = server
        .sign_up("a@example.org", &"x".repeat(1024), None)
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    assert_eq!(ok.body["user"]["role"], "admin");
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

#[tokio::test]
async fn sign_in_is_rate_limited_with_retry_after() {
    let server = TestServer::builder()
        .with_config(|c| c.auth.signin_per_minute = 3)
        .start()
        .await;
    server.admin().await; // one sign-in
    for _ in 0..2 {
        let reply = server
            .post(
                "/api/auth/signin",
                json!({ "email": "admin@example.org", "password": "wrong password" }),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let limited = server
        .post(
            "/api/auth/signin",
            json!({ "email": "admin@example.org", "password": "admin password" }),
            None,
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "rate_limited");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}

#[tokio::test]
async fn sign_up_is_rate_limited() {
    let server = TestServer::builder()
        .with_config(|c| c.auth.signup_per_minute = 2)
        .start()
        .await;
    server.admin().await;
    for _ in 0..1 {
        assert_eq!(
            server
                .sign_up("x@example.org", "password!", None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }
    let limited = server.sign_up("y@example.org", "password!", None).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn roles_are_enforced() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let guest = server.invited(&admin, "guest@example.org", "guest").await;

    assert_eq!(
        server.get("/api/auth/me", Some(&guest)).await.body["role"],
        "guest"
    );
    assert_eq!(
        server.get("/api/auth/me", Some(&member)).await.body["role"],
        "member"
    );

    let listed = server.get("/api/auth/users", Some(&admin)).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["users"].as_array().unwrap().len(), 3);
    for token in [&member, &guest] {
        let reply = server.get("/api/auth/users", Some(token)).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::FORBIDDEN, "forbidden")
        );
    }
    // Guests cannot invite; members cannot hand out admin.
    let reply = server
        .post("/api/auth/invites", json!({}), Some(&guest))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = server
        .post(
            "/api/auth/invites",
            json!({ "role": "admin" }),
            Some(&member),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = server
        .post(
            "/api/auth/invites",
            json!({ "role": "guest" }),
            Some(&member),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    // A member cannot change roles.
    let member_id = server.get("/api/auth/me", Some(&member)).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = server
        .send_json(
            Method::PUT,
            &format!("/api/auth/users/{member_id}/role"),
            json!({ "role": "admin" }),
            Some(&member),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn role_changes_and_revocations_apply_at_once() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let member_id = server.get("/api/auth/me", Some(&member)).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Warm the session cache with the member role.
    assert_eq!(
        server.get("/api/auth/users", Some(&member)).await.status,
        StatusCode::FORBIDDEN
    );

    let promoted = server
        .send_json(
            Method::PUT,
            &format!("/api/auth/users/{member_id}/role"),
            json!({ "role": "admin" }),
            Some(&admin),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(promoted.body["role"], "admin");
    assert_eq!(
        server.get("/api/auth/users", Some(&member)).await.status,
        StatusCode::OK
    );

    let bad_role = server
        .send_json(
            Method::PUT,
            &format!("/api/auth/users/{member_id}/role"),
            json!({ "role": "owner" }),
            Some(&admin),
        )
        .await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST);

    let revoked = server
        .send(
            server
                .client
                .delete(format!(
                    "{}/api/auth/users/{member_id}/sessions",
                    server.url
                ))
                .bearer_auth(&admin),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(revoked.body["revoked"], 1);
    let reply = server.get("/api/auth/me", Some(&member)).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNAUTHORIZED, "session_revoked")
    );
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let admin_id = server.get("/api/auth/me", Some(&admin)).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = server
        .send_json(
            Method::PUT,
            &format!("/api/auth/users/{admin_id}/role"),
            json!({ "role": "member" }),
            Some(&admin),
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::CONFLICT, "last_admin")
    );
    let missing = server
        .send_json(
            Method::PUT,
            "/api/auth/users/CCCCCCCCCCCCCCCCCCCCC/role",
            json!({ "role": "member" }),
            Some(&admin),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invite_misuse() {
    let server = TestServer::start().await;
    let admin = server.admin().await;

    // Used up: one use, then refused, and the refused attempt creates nothing.
    let once = server
        .post("/api/auth/invites", json!({ "max_uses": 1 }), Some(&admin))
        .await;
    assert_eq!(once.status, StatusCode::CREATED);
    assert_eq!(once.body["role"], "member");
    let code = once.body["code"].as_str().unwrap();
    assert_eq!(
        server
            .sign_up("one@example.org", "password one", Some(code))
            .await
            .status,
        StatusCode::CREATED
    );
    let second = server
        .sign_up("two@example.org", "password two", Some(code))
        .await;
    assert_eq!(
        (second.status, second.code()),
        (StatusCode::GONE, "invite_used_up")
    );
    let refused = server
        .post(
            "/api/auth/signin",
            json!({ "email": "two@example.org", "password": "password two" }),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    // Expired.
    let aging = server
        .post(
            "/api/auth/invites",
            json!({ "expires_in_hours": 1 }),
            Some(&admin),
        )
        .await;
    let aging_code = aging.body["code"].as_str().unwrap();
    server
        .execute_with_past_time("UPDATE community_invites SET expires_at = $1 WHERE uses = 0")
        .await;
    let late = server
        .sign_up("late@example.org", "password late", Some(aging_code))
        .await;
    assert_eq!(
        (late.status, late.code()),
        (StatusCode::GONE, "invite_expired")
    );

    // An email already in the community: refused, and the invite keeps its use.
    let fresh = server
        .post(
            "/api/auth/invites",
            json!({ "max_uses": 1, "role": "guest" }),
            Some(&admin),
        )
        .await;
    let fresh_code = fresh.body["code"].as_str().unwrap();
    let taken = server
        .sign_up("one@example.org", "password one", Some(fresh_code))
        .await;
    assert_eq!(
        (taken.status, taken.code()),
        (StatusCode::CONFLICT, "email_taken")
    );
    let guest = server
        .sign_up("guest@example.org", "password guest", Some(fresh_code))
        .await;
    assert_eq!(guest.status, StatusCode::CREATED);
    assert_eq!(guest.body["user"]["role"], "guest");

    // Out-of-range invite requests.
    for body in [
        json!({ "max_uses": 0 }),
        json!({ "expires_in_hours": 0 }),
        json!({ "expires_in_hours": 100000 }),
    ] {
        let reply = server.post("/api/auth/invites", body, Some(&admin)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
    }
    let reply = server
        .post(
            "/api/auth/invites",
            json!({ "role": "owner" }),
            Some(&admin),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = server.post("/api/auth/invites", json!({}), None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Only code hashes are stored.
    let hashes: Vec<String> = taina::db::query_scalar("SELECT code_hash FROM community_invites")
        .fetch_all(&server.state.db)
        .await
        .unwrap();
    assert!(hashes.iter().all(|h| h.len() == 64 && h != code));
}

fn totp_for(secret: &str) -> totp_rs::Totp {
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn totp_two_factor_with_recovery_codes() {
    let server = TestServer::start().await;
    let token = server.admin().await;

    let wrong_order = server
        .post(
            "/api/auth/totp/enable",
            json!({ "code": "123456" }),
            Some(&token),
        )
        .await;
    assert_eq!(
        (wrong_order.status, wrong_order.code()),
        (StatusCode::CONFLICT, "totp_not_set_up")
    );

    let setup = server
        .post("/api/auth/totp/setup", json!({}), Some(&token))
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = setup.body["secret"].as_str().unwrap().to_string();
    let uri = setup.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&secret));
    let generator = totp_for(&secret);
    let now = chrono::Utc::now().timestamp() as u64;

    let wrong = server
        .post(
            "/api/auth/totp/enable",
            json!({ "code": "000000" }),
            Some(&token),
        )
        .await;
    let wrong_is_right = generator.check("000000", now).is_some();
    if !wrong_is_right {
        assert_eq!(wrong.code(), "invalid_otp");
    }
    let enable_code = generator.generate(now).to_string();
    let enabled = server
        .post(
            "/api/auth/totp/enable",
            json!({ "code": enable_code }),
            Some(&token),
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    let recovery: Vec<String> = enabled.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    let again = server
        .post("/api/auth/totp/setup", json!({}), Some(&token))
        .await;
    assert_eq!(again.code(), "totp_already_enabled");

    let creds = |otp: Option<&str>| json!({ "email": "admin@example.org", "password": "admin password", "otp": otp });
    let no_otp = server.post("/api/auth/signin", creds(None), None).await;
    assert_eq!(
        (no_otp.status, no_otp.code()),
        (StatusCode::UNAUTHORIZED, "otp_required")
    );
    // The code used to enable cannot be replayed.
    let replay = server
        .post("/api/auth/signin", creds(Some(&enable_code)), None)
        .await;
    assert_eq!(
        (replay.status, replay.code()),
        (StatusCode::UNAUTHORIZED, "invalid_otp")
    );
    // The next step's code is inside the ±1 step window and has not been used.
    let next = generator.generate(now + 30).to_string();
    let ok = server
        .post("/api/auth/signin", creds(Some(&next)), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["user"]["totp_enabled"], true);
    // Wrong password with a valid-looking code still fails as bad credentials.
    let bad_pw = server
        .post(
            "/api/auth/signin",
            json!({ "email": "admin@example.org", "password": "nope nope", "otp": next }),
            None,
        )
        .await;
    assert_eq!(bad_pw.code(), "invalid_credentials");

    // Recovery codes work once each.
    let first = server
        .post("/api/auth/signin", creds(Some(&recovery[0])), None)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let reused = server
        .post("/api/auth/signin", creds(Some(&recovery[0])), None)
        .await;
    assert_eq!(
        (reused.status, reused.code()),
        (StatusCode::UNAUTHORIZED, "invalid_otp")
    );
    let second = server
        .post(
            "/api/auth/signin",
            creds(Some(&recovery[1].to_uppercase())),
            None,
        )
        .await;
    assert_eq!(second.status, StatusCode::OK);
}

#[tokio::test]
async fn same_email_in_two_communities_needs_the_community() {
    let server = TestServer::start().await;
    server.admin().await;
    // A second community, made by an operator (the CLI path).
    server
        .state
        .auth
        .create_user(
            "admin@example.org",
            "other password".into(),
            taina::contexts::auth::Role::Admin,
            "Second",
        )
        .await
        .unwrap();
    server
        .state
        .auth
        .create_user(
            "twin@example.org",
            "twin password".into(),
            taina::contexts::auth::Role::Member,
            "Second",
        )
        .await
        .unwrap();
    // Different passwords: the password decides.
    assert_eq!(
        server
            .post(
                "/api/auth/signin",
                json!({ "email": "admin@example.org", "password": "other password" }),
                None
            )
            .await
            .status,
        StatusCode::OK
    );
    // Same password in both: the community must be named.
    server
        .state
        .auth
        .create_user(
            "twin@example.org",
            "twin password".into(),
            taina::contexts::auth::Role::Member,
            "Home",
        )
        .await
        .unwrap();
    let ambiguous = server
        .post(
            "/api/auth/signin",
            json!({ "email": "twin@example.org", "password": "twin password" }),
            None,
        )
        .await;
    assert_eq!(
        (ambiguous.status, ambiguous.code()),
        (StatusCode::CONFLICT, "community_required")
    );
    let named = server
        .post(
            "/api/auth/signin",
            json!({ "email": "twin@example.org", "password": "twin password", "community": "Second" }),
            None,
        )
        .await;
    assert_eq!(named.status, StatusCode::OK);
}

#[tokio::test]
async fn readyz_reports_a_database_that_stopped_answering() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/readyz", None).await.status, StatusCode::OK);
    server.state.db.close().await;
    let reply = server.get("/readyz", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["status"], "unavailable");
    // Liveness does not depend on the database.
    assert_eq!(server.get("/healthz", None).await.status, StatusCode::OK);
    // Requests that need the database fail with a generic 500, never SQL or a trace.
    let reply = server
        .post(
            "/api/auth/signin",
            json!({ "email": "a@example.org", "password": "whatever!" }),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.body,
        json!({ "error": { "code": "internal", "message": "an internal error occurred" } })
    );
}

#[tokio::test]
async fn sign_in_publishes_events() {
    let server = TestServer::start().await;
    let mut events = server.state.bus.subscribe();
    let token = server.admin().await;
    server
        .post("/api/auth/signout", json!({}), Some(&token))
        .await;
    let mut kinds = Vec::new();
    while let Ok(event) = events.try_recv() {
        kinds.push(event.kind.clone());
    }
    assert_eq!(
        kinds,
        ["user.signed_up", "user.signed_in", "user.signed_out"]
    );
}

#[tokio::test]
async fn graceful_stop_finishes() {
    let server = TestServer::start().await;
    server.admin().await;
    server.stop().await;
}

/// Sets up and enables TOTP for the admin; returns the secret shown to them, the step time the
/// enabling code was made for, and the recovery codes.
async fn enable_admin_totp(server: &TestServer, token: &str) -> (String, u64, Vec<String>) {
    let setup = server
        .post("/api/auth/totp/setup", json!({}), Some(token))
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = setup.body["secret"].as_str().unwrap().to_string();
    let now = chrono::Utc::now().timestamp() as u64;
    let code = totp_for(&secret).generate(now).to_string();
    let enabled = server
        .post(
            "/api/auth/totp/enable",
            json!({ "code": code }),
            Some(token),
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    let recovery = enabled.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (secret, now, recovery)
}

/// The admin's `users.totp_secret` as stored.
async fn stored_totp_secret(server: &TestServer) -> String {
    taina::db::query_scalar("SELECT totp_secret FROM users WHERE email = 'admin@example.org'")
        .fetch_one(&server.state.db)
        .await
        .expect("stored secret")
}

async fn store_totp_secret(server: &TestServer, value: &str) {
    taina::db::query("UPDATE users SET totp_secret = $1 WHERE email = 'admin@example.org'")
        .bind(value)
        .execute(&server.state.db)
        .await
        .expect("store secret");
}

fn admin_credentials(otp: &str) -> Value {
    json!({ "email": "admin@example.org", "password": "admin password", "otp": otp })
}

#[tokio::test]
async fn totp_secrets_are_stored_encrypted() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let (secret, now, _) = enable_admin_totp(&server, &token).await;
    let stored = stored_totp_secret(&server).await;
    assert_ne!(stored, secret);
    assert!(!stored.contains(&secret), "{stored}");
    assert!(stored.starts_with("v1:"), "{stored}");

    let next = totp_for(&secret).generate(now + 30).to_string();
    let ok = server
        .post("/api/auth/signin", admin_credentials(&next), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn plaintext_totp_secrets_are_encrypted_when_the_state_opens() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let (secret, now, _) = enable_admin_totp(&server, &token).await;
    // As a server from before secrets were encrypted stored it.
    store_totp_secret(&server, &secret).await;

    let config = (*server.state.config).clone();
    let reopened = taina::AppState::open(config.clone()).await.expect("open");
    reopened.db.close().await;
    let sealed = stored_totp_secret(&server).await;
    assert!(
        sealed.starts_with("v1:") && !sealed.contains(&secret),
        "{sealed}"
    );
    // Opening again changes nothing.
    let again = taina::AppState::open(config).await.expect("open");
    again.db.close().await;
    assert_eq!(stored_totp_secret(&server).await, sealed);

    let next = totp_for(&secret).generate(now + 30).to_string();
    let ok = server
        .post("/api/auth/signin", admin_credentials(&next), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn a_totp_secret_sealed_under_another_server_secret_is_an_internal_error() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let user_id = server.user_id(&token).await;
    let (secret, now, recovery) = enable_admin_totp(&server, &token).await;
    // What a replaced jwt.secret does to every stored secret.
    let foreign = taina::contexts::auth::SecretCipher::from_server_secret(
        b"some other server's secret, 32 bytes or more",
    )
    .seal(&user_id, &secret)
    .unwrap();
    store_totp_secret(&server, &foreign).await;

    let next = totp_for(&secret).generate(now + 30).to_string();
    let refused = server
        .post("/api/auth/signin", admin_credentials(&next), None)
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal")
    );
    // Recovery codes do not depend on the secret: the user can still get in.
    let ok = server
        .post("/api/auth/signin", admin_credentials(&recovery[0]), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}
