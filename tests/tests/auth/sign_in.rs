//! Signing in: indistinguishable failures, bad bodies, the same email in two communities, the
//! events it publishes.

use reqwest::StatusCode;
use serde_json::json;
use taina_tests::TestServer;

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
async fn sign_in_publishes_events() {
    let server = TestServer::start().await;
    let mut events = server.state.bus.subscribe();
    let token = server.admin().await;
    server
        .post("/api/auth/signout", json!({}), Some(&token))
        .await;
    let (mut kinds, mut security) = (Vec::new(), Vec::new());
    while let Ok(event) = events.try_recv() {
        // The security log's entries are on the bus too (for rules), written a moment later.
        match event.kind.strip_prefix("security.") {
            Some(kind) => security.push(kind.to_string()),
            None => kinds.push(event.kind.clone()),
        }
    }
    assert_eq!(
        kinds,
        ["user.signed_up", "user.signed_in", "user.signed_out"]
    );
    assert!(
        security.iter().all(|k| k == "signin_succeeded"),
        "{security:?}"
    );
}
