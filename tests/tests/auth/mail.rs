//! Mail end to end against a real SMTP sink: aiosmtpd started by `scripts/test`
//! (`TEST_SMTP_URL`), writing each message into a Maildir (`TEST_MAILDIR`) these tests read.
//! A reset link requested by email arrives and works once; a sign-up's confirmation link lets
//! the person sign in where confirmation is required; a change of address is confirmed from
//! the new address. Without a sink these tests are skipped (with a note), unless
//! `TEST_REQUIRE_SMTP` is set.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use taina_tests::mail::{address, delivered_to, mailing_server, sink, token_after, wait_for_mail};

#[tokio::test]
async fn a_reset_asked_for_by_email_arrives_works_once_and_ends_every_session() {
    let Some((url, maildir)) = sink() else {
        return;
    };
    let ts = mailing_server(&url, |_| {}).await;
    let admin = ts.admin().await;
    let email = address("reset");
    let old_session = ts.invited(&admin, &email, "member").await;

    let asked = ts
        .post(
            "/api/auth/password/reset",
            json!({ "email": email.to_uppercase() }),
            None,
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.body);
    let nobody = address("nobody");
    let unknown = ts
        .post("/api/auth/password/reset", json!({ "email": nobody }), None)
        .await;
    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    assert_eq!(
        unknown.body, asked.body,
        "the same answer for an unknown address"
    );

    let letters = wait_for_mail(&maildir, &email, "/admin/reset/", 1).await;
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0]
            .headers
            .contains("From: \"Taina tests\" <noreply@example.org>")
            || letters[0]
                .headers
                .contains("From: Taina tests <noreply@example.org>"),
        "{}",
        letters[0].headers
    );
    let token = token_after(&letters[0].text, "/admin/reset/");
    assert_eq!(token.len(), 32, "{}", letters[0].text);

    let weak = ts
        .post(
            "/api/auth/password/reset/confirm",
            json!({ "token": token, "password": "short" }),
            None,
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.code(), "password_too_short");
    let done = ts
        .post(
            "/api/auth/password/reset/confirm",
            json!({ "token": token, "password": "a mailed new password" }),
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    assert_eq!(
        ts.get("/api/auth/me", Some(&old_session)).await.code(),
        "session_revoked"
    );
    let fresh = ts.token(&email, "a mailed new password").await;
    assert_eq!(
        ts.get("/api/auth/me", Some(&fresh)).await.status,
        StatusCode::OK
    );
    let refused = ts
        .post(
            "/api/auth/signin",
            json!({ "email": email, "password": "member password" }),
            None,
        )
        .await;
    assert_eq!(refused.code(), "invalid_credentials");
    let again = ts
        .post(
            "/api/auth/password/reset/confirm",
            json!({ "token": token, "password": "yet another password" }),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.code(), "reset_invalid");

    // The unknown address got nothing (its request was handled beside the known one's).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(delivered_to(&maildir, &nobody, "").is_empty());
    ts.stop().await;
}

#[tokio::test]
async fn an_admins_reset_from_the_api_is_mailed_not_shown() {
    let Some((url, maildir)) = sink() else {
        return;
    };
    let ts = mailing_server(&url, |_| {}).await;
    let admin = ts.admin().await;
    let email = address("admin-reset");
    let member = ts.invited(&admin, &email, "member").await;
    let id = ts.user_id(&member).await;
    let reply = ts
        .post(
            &format!("/api/auth/users/{id}/password-reset"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["mailed"], true);
    assert!(
        reply.body.get("token").is_none(),
        "the admin never sees the token"
    );
    let letters = wait_for_mail(&maildir, &email, "/admin/reset/", 1).await;
    let token = token_after(&letters[0].text, "/admin/reset/");
    let done = ts
        .post(
            "/api/auth/password/reset/confirm",
            json!({ "token": token, "password": "set from the mail" }),
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT);
    ts.token(&email, "set from the mail").await;
}

#[tokio::test]
async fn a_confirmed_address_signs_in_and_a_new_one_counts_once_confirmed() {
    let Some((url, maildir)) = sink() else {
        return;
    };
    let ts = mailing_server(&url, |c| c.auth.require_confirmed_email = true).await;
    let email = address("confirm");
    let signed_up = ts.sign_up(&email, "confirm password", None).await;
    assert_eq!(signed_up.status, StatusCode::CREATED, "{}", signed_up.body);
    assert_eq!(signed_up.body["user"]["email_confirmed"], false);
    let refused = ts
        .post(
            "/api/auth/signin",
            json!({ "email": email, "password": "confirm password" }),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "email_unconfirmed");

    // A lost link: a new one on request (the same answer for any address).
    let resend = ts
        .post(
            "/api/auth/email/confirm/resend",
            json!({ "email": email }),
            None,
        )
        .await;
    assert_eq!(resend.status, StatusCode::ACCEPTED);
    let letters = wait_for_mail(&maildir, &email, "/admin/confirm/", 2).await;
    let token = token_after(&letters[0].text, "/admin/confirm/");
    let confirmed = ts
        .post("/api/auth/email/confirm", json!({ "token": token }), None)
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(confirmed.body["email_confirmed"], true);
    let again = ts
        .post("/api/auth/email/confirm", json!({ "token": token }), None)
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.code(), "confirmation_invalid");
    let session = ts.token(&email, "confirm password").await;

    // A change of address: the link goes to the new one, the old one is told.
    let new_email = address("changed");
    let wrong = ts
        .post(
            "/api/auth/email",
            json!({ "new_email": new_email, "current_password": "not it at all" }),
            Some(&session),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.code(), "wrong_password");
    let asked = ts
        .post(
            "/api/auth/email",
            json!({ "new_email": new_email, "current_password": "confirm password" }),
            Some(&session),
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.body);
    let to_new = wait_for_mail(&maildir, &new_email, "/admin/confirm/", 1).await;
    let notices = wait_for_mail(&maildir, &email, "asked to change its email", 1).await;
    assert!(notices[0].text.contains(&new_email));
    assert!(
        !notices[0].text.contains("/admin/confirm/"),
        "no link to the old address"
    );
    assert_eq!(
        ts.get("/api/auth/me", Some(&session)).await.body["email"],
        email.as_str()
    );
    let token = token_after(&to_new[0].text, "/admin/confirm/");
    let changed = ts
        .post("/api/auth/email/confirm", json!({ "token": token }), None)
        .await;
    assert_eq!(changed.body["email"], new_email.as_str());
    assert_eq!(
        ts.get("/api/auth/me", Some(&session)).await.body["email"],
        new_email.as_str()
    );
    ts.token(&new_email, "confirm password").await;
}
