//! A person's own account over HTTP: changing the password (other sessions end unless kept,
//! wrong and weak passwords refused, guesses rate limited), deleting the account (the socket
//! closes, the last admin cannot), an admin removing a member, reset requests over their limit,
//! and the community's settings with sign-up following `registration`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use taina_protocol::client::Incoming;
use taina_tests::TestServer;

async fn closes(socket: &mut taina_protocol::client::PhoenixClient, who: &str) {
    let code = loop {
        match socket.next_message(Duration::from_secs(5)).await {
            Ok(Incoming::Closed { code, .. }) => break code,
            Ok(_) => continue,
            Err(e) => panic!("{who}'s socket stayed open: {e}"),
        }
    };
    assert_eq!(code, taina_protocol::close::SESSION_ENDED);
}

#[tokio::test]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let ts = TestServer::builder()
        .with_config(|c| c.auth.signin_per_minute = 6)
        .start()
        .await;
    let admin = ts.admin().await;
    let member = ts.invited(&admin, "member@example.org", "member").await;
    let laptop = ts.token("member@example.org", "member password").await;
    let mut laptop_socket = ts.socket(&laptop).await;
    let change = |current: &str, new: &str, keep: bool| json!({ "current_password": current, "new_password": new, "keep_other_sessions": keep });

    let wrong = ts
        .post(
            "/api/auth/password",
            change("not it at all", "a new password", false),
            Some(&member),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.code(), "wrong_password");
    let weak = ts
        .post(
            "/api/auth/password",
            change("member password", "short", false),
            Some(&member),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.code(), "password_too_short");
    let anonymous = ts
        .post(
            "/api/auth/password",
            change("member password", "a new password", false),
            None,
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let done = ts
        .post(
            "/api/auth/password",
            change("member password", "a new password", false),
            Some(&member),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["sessions_ended"], 1);
    assert_eq!(
        ts.get("/api/auth/me", Some(&member)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        ts.get("/api/auth/me", Some(&laptop)).await.code(),
        "session_revoked"
    );
    closes(&mut laptop_socket, "the laptop").await;

    // Kept on purpose.
    let phone = ts.token("member@example.org", "a new password").await;
    let kept = ts
        .post(
            "/api/auth/password",
            change("a new password", "a third password", true),
            Some(&member),
        )
        .await;
    assert_eq!(kept.body["sessions_ended"], 0);
    assert_eq!(
        ts.get("/api/auth/me", Some(&phone)).await.status,
        StatusCode::OK
    );

    // GraphQL: the same rules.
    let reply = ts
        .graphql(
            Some(&admin),
            "mutation { changePassword(currentPassword: \"admin password\", newPassword: \"new admin password\") }",
            json!({}),
        )
        .await;
    assert_eq!(reply["data"]["changePassword"], 0, "{reply}");
    ts.token("admin@example.org", "new admin password").await;

    // Guessing the current password runs into the limit (6 a minute per address here, 5 used).
    let mut last = None;
    for _ in 0..5 {
        last = Some(
            ts.post(
                "/api/auth/password",
                change("a guess", "whatever password", false),
                Some(&member),
            )
            .await,
        );
    }
    let last = last.unwrap();
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(last.code(), "rate_limited");
    assert!(last.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn reset_requests_over_the_limit_are_refused_alike_for_every_address() {
    // Behind a trusted proxy on loopback, so each request can come from another client.
    let ts = TestServer::builder()
        .with_config(|c| {
            c.auth.password_reset_per_hour = 2;
            c.http.trusted_proxies = vec!["127.0.0.1/32".into()];
        })
        .start()
        .await;
    ts.admin().await;
    let ask = |email: &str, from: &str| {
        let request = ts
            .client
            .post(format!("{}/api/auth/password/reset", ts.url))
            .header("x-forwarded-for", from)
            .json(&json!({ "email": email }));
        ts.send(request)
    };
    // Per email: the third request for one address, from anywhere, is refused, whether the
    // address has an account or not.
    for (email, first) in [("admin@example.org", 10), ("nobody@example.org", 20)] {
        for i in 0..2 {
            let reply = ask(email, &format!("192.0.2.{}", first + i)).await;
            assert_eq!(reply.status, StatusCode::ACCEPTED, "{email}");
        }
        let refused = ask(email, &format!("192.0.2.{}", first + 5)).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{email}");
        assert_eq!(refused.code(), "rate_limited");
        let wait: u64 = refused.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wait > 60, "an hourly limit: {wait} s");
    }
    // Per client address: the third request from one client, whatever the email.
    assert_eq!(
        ask("a@example.org", "198.51.100.1").await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        ask("b@example.org", "198.51.100.1").await.status,
        StatusCode::ACCEPTED
    );
    let refused = ask("c@example.org", "198.51.100.1").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.body["error"]["message"].as_str().unwrap(),
        format!(
            "too many attempts; retry in {} s",
            refused.headers["retry-after"].to_str().unwrap()
        )
    );
    // The old body on the new route is a clear error, not a silent 202.
    let old = ts
        .post(
            "/api/auth/password/reset",
            json!({ "token": "x", "password": "whatever" }),
            None,
        )
        .await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST);
    assert_eq!(old.code(), "invalid_json");
}

#[tokio::test]
async fn deleting_an_account_closes_its_sockets_and_keeps_the_last_admin() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let member = ts.invited(&admin, "member@example.org", "member").await;
    let member_id = ts.user_id(&member).await;
    let mut socket = ts.socket(&member).await;

    let ts = &ts;
    let delete = |token: &str, password: &str| {
        let token = token.to_string();
        let body = json!({ "current_password": password });
        async move {
            ts.send_json(Method::DELETE, "/api/auth/account", body, Some(&token))
                .await
        }
    };
    let wrong = delete(&member, "not it at all").await;
    assert_eq!(wrong.code(), "wrong_password");
    let last = delete(&admin, "admin password").await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    assert_eq!(last.code(), "last_admin");

    let done = delete(&member, "member password").await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    closes(&mut socket, "the deleted member").await;
    assert_eq!(
        ts.get("/api/auth/me", Some(&member)).await.code(),
        "session_revoked"
    );
    let gone = ts
        .post(
            "/api/auth/signin",
            json!({ "email": "member@example.org", "password": "member password" }),
            None,
        )
        .await;
    assert_eq!(gone.code(), "invalid_credentials");
    let users = ts.get("/api/auth/users", Some(&admin)).await;
    assert!(users.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["id"] != member_id.as_str()));

    // GraphQL: the same rule.
    let guest = ts.invited(&admin, "guest@example.org", "guest").await;
    let wrong = ts
        .graphql(
            Some(&guest),
            "mutation { deleteAccount(currentPassword: \"nope nope\") }",
            json!({}),
        )
        .await;
    assert_eq!(
        wrong["errors"][0]["extensions"]["code"], "wrong_password",
        "{wrong}"
    );
    let done = ts
        .graphql(
            Some(&guest),
            "mutation { deleteAccount(currentPassword: \"member password\") }",
            json!({}),
        )
        .await;
    assert_eq!(done["data"]["deleteAccount"], true, "{done}");
    assert_eq!(
        ts.get("/api/auth/me", Some(&guest)).await.code(),
        "session_revoked"
    );
}

#[tokio::test]
async fn an_admin_removes_a_member_but_not_themselves() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let admin_id = ts.user_id(&admin).await;
    let member = ts.invited(&admin, "member@example.org", "member").await;
    let member_id = ts.user_id(&member).await;
    let mut socket = ts.socket(&member).await;

    let by_member = ts
        .send_json(
            Method::DELETE,
            &format!("/api/auth/users/{admin_id}"),
            json!(null),
            Some(&member),
        )
        .await;
    assert_eq!(by_member.status, StatusCode::FORBIDDEN);
    let myself = ts
        .send_json(
            Method::DELETE,
            &format!("/api/auth/users/{admin_id}"),
            json!(null),
            Some(&admin),
        )
        .await;
    assert_eq!(myself.status, StatusCode::UNPROCESSABLE_ENTITY);
    let removed = ts
        .send_json(
            Method::DELETE,
            &format!("/api/auth/users/{member_id}"),
            json!(null),
            Some(&admin),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    closes(&mut socket, "the removed member").await;
    let again = ts
        .send_json(
            Method::DELETE,
            &format!("/api/auth/users/{member_id}"),
            json!(null),
            Some(&admin),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // GraphQL removes too.
    let other = ts.invited(&admin, "other@example.org", "guest").await;
    let other_id = ts.user_id(&other).await;
    let reply = ts
        .graphql(
            Some(&admin),
            "mutation($id: ID!) { removeMember(userId: $id) }",
            json!({ "id": other_id }),
        )
        .await;
    assert_eq!(reply["data"]["removeMember"], true, "{reply}");
    assert_eq!(
        ts.get("/api/auth/me", Some(&other)).await.code(),
        "session_revoked"
    );
}

#[tokio::test]
async fn admins_edit_the_community_and_sign_up_follows_registration() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let member = ts.invited(&admin, "member@example.org", "member").await;
    let read = ts.get("/api/auth/community", Some(&member)).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["registration"], "invite_only");
    assert_eq!(read.body["default_language"], "en");
    let closed = ts
        .sign_up("walk-in@example.org", "walk-in password", None)
        .await;
    assert_eq!(closed.code(), "invite_required");

    let by_member = ts
        .send_json(
            Method::PATCH,
            "/api/auth/community",
            json!({ "registration": "open" }),
            Some(&member),
        )
        .await;
    assert_eq!(by_member.status, StatusCode::FORBIDDEN);
    let bad = ts
        .send_json(
            Method::PATCH,
            "/api/auth/community",
            json!({ "registration": "sometimes" }),
            Some(&admin),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let changed = ts
        .send_json(
            Method::PATCH,
            "/api/auth/community",
            json!({ "name": "Aldeia", "slug": "Aldeia Nova", "default_language": "pt-BR", "registration": "open" }),
            Some(&admin),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["slug"], "aldeia-nova");
    assert_eq!(changed.body["default_language"], "pt-BR");
    let open = ts
        .sign_up("walk-in@example.org", "walk-in password", None)
        .await;
    assert_eq!(open.status, StatusCode::CREATED, "{}", open.body);
    assert_eq!(open.body["user"]["role"], "member");

    let reply = ts
        .graphql(
            Some(&admin),
            "mutation { updateCommunity(registration: INVITE_ONLY, name: \"Aldeia Velha\") { name slug registration defaultLanguage } }",
            json!({}),
        )
        .await;
    assert_eq!(
        reply["data"]["updateCommunity"]["registration"], "INVITE_ONLY",
        "{reply}"
    );
    assert_eq!(reply["data"]["updateCommunity"]["slug"], "aldeia-nova");
    let read = ts
        .graphql(
            Some(&member),
            "{ community { name defaultLanguage } }",
            json!({}),
        )
        .await;
    assert_eq!(read["data"]["community"]["name"], "Aldeia Velha", "{read}");
    let closed = ts.sign_up("late@example.org", "late password", None).await;
    assert_eq!(closed.code(), "invite_required");
}

/// An SMTP server that accepts and never answers: requests that mail still answer at once.
#[tokio::test]
async fn a_stuck_smtp_server_does_not_slow_the_requests_that_mail() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            open.push(conn);
        }
    });
    let ts = TestServer::builder()
        .with_config(move |c| c.mail.smtp_url = Some(url))
        .start()
        .await;
    let admin = ts.admin().await;
    let member = ts.invited(&admin, "member@example.org", "member").await;
    let member_id = ts.user_id(&member).await;
    let started = std::time::Instant::now();
    let asked = ts
        .post(
            "/api/auth/password/reset",
            json!({ "email": "member@example.org" }),
            None,
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED);
    let by_admin = ts
        .post(
            &format!("/api/auth/users/{member_id}/password-reset"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(by_admin.body["mailed"], true);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}: the requests waited on SMTP",
        started.elapsed()
    );
    held.abort();
}
