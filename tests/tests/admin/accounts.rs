//! Account state from the panel: disabling a member (their socket closes, sign-in is refused
//! until enabled), a password reset link opened and used once, and a member's WebDAV app
//! passwords listed and revoked.

use std::time::Duration;

use reqwest::header::COOKIE;
use reqwest::StatusCode;
use serde_json::json;
use taina_protocol::client::Incoming;
use taina_tests::TestServer;

use super::{cookies, csrf_in, form, no_redirects, panel_sign_in};

#[tokio::test]
async fn an_admin_disables_enables_and_sends_a_reset_link() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let member = ts.invited(&admin, "member@example.org", "member").await;
    let member_id = ts.user_id(&member).await;
    let (session, _) = panel_sign_in(&ts, "admin@example.org", "admin password").await;
    let session = session.unwrap();
    let client = no_redirects();
    let people = client
        .get(format!("{}/admin/people", ts.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&people);
    let act = |action: &str| {
        client
            .post(format!("{}/admin/users/{member_id}/{action}", ts.url))
            .header(COOKIE, &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("hx-request", "true")
            .body(form(&[("csrf_token", &csrf)]))
            .send()
    };

    let mut socket = ts.socket(&member).await;
    let disabled = act("disable").await.unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);
    assert!(disabled.text().await.unwrap().contains("is disabled"));
    let code = loop {
        match socket.next_message(Duration::from_secs(5)).await {
            Ok(Incoming::Closed { code, .. }) => break code,
            Ok(_) => continue,
            Err(e) => panic!("the disabled member's socket stayed open: {e}"),
        }
    };
    assert_eq!(code, taina_protocol::close::SESSION_ENDED);
    let refused = ts
        .post(
            "/api/auth/signin",
            json!({ "email": "member@example.org", "password": "member password" }),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "account_disabled");
    let wrong = ts
        .post(
            "/api/auth/signin",
            json!({ "email": "member@example.org", "password": "a wrong password" }),
            None,
        )
        .await;
    assert_eq!(
        wrong.code(),
        "invalid_credentials",
        "no hint without the password"
    );
    assert_eq!(act("enable").await.unwrap().status(), StatusCode::OK);
    ts.token("member@example.org", "member password").await;

    // A reset link: shown once to the admin, opened by the member, used once.
    let answer = act("reset-link").await.unwrap().text().await.unwrap();
    let start = answer.find("/admin/reset/").expect("a reset link");
    let path: String = answer[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'))
        .collect();
    let link = format!("{}{path}", ts.url);
    let opened = client.get(&link).send().await.unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    let nonce = cookies(&opened)
        .into_iter()
        .next()
        .expect("the form's nonce cookie");
    let csrf = csrf_in(&opened.text().await.unwrap());
    let submit = |password: &str, repeat: &str| {
        client
            .post(&link)
            .header(COOKIE, &nonce)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("csrf_token", &csrf),
                ("password", password),
                ("repeat", repeat),
            ]))
            .send()
    };
    let differ = submit("a new password here", "something else entirely")
        .await
        .unwrap();
    assert_eq!(differ.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let done = submit("a new password here", "a new password here")
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("reset-done"));
    ts.token("member@example.org", "a new password here").await;
    assert_eq!(
        ts.get("/api/auth/me", Some(&member)).await.code(),
        "session_revoked",
        "the reset ended every earlier session"
    );
    let again = submit("yet another password", "yet another password")
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    let api_again = ts
        .post(
            "/api/auth/password/reset/confirm",
            json!({ "token": path.trim_start_matches("/admin/reset/"), "password": "whatever else" }),
            None,
        )
        .await;
    assert_eq!(api_again.status, StatusCode::BAD_REQUEST);
    assert_eq!(api_again.code(), "reset_invalid");
}

#[tokio::test]
async fn the_panel_lists_app_passwords_and_revokes_one() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let member = ts.invited(&admin, "member@example.org", "member").await;
    let member_id = ts.user_id(&member).await;
    let made = ts
        .graphql(
            Some(&member),
            "mutation { createAppPassword(name: \"old laptop\") { id secret } }",
            json!({}),
        )
        .await;
    let password_id = made["data"]["createAppPassword"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = made["data"]["createAppPassword"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let dav = |secret: String| {
        ts.client
            .request(
                reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
                format!("{}/dav/files/{member_id}/", ts.url),
            )
            .basic_auth("member@example.org", Some(secret))
            .send()
    };
    assert_eq!(dav(secret.clone()).await.unwrap().status().as_u16(), 207);

    let (session, _) = panel_sign_in(&ts, "admin@example.org", "admin password").await;
    let session = session.unwrap();
    let client = no_redirects();
    let people = client
        .get(format!("{}/admin/people", ts.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(people.contains("old laptop"), "{people}");
    let action = format!("/admin/users/{member_id}/app-passwords/{password_id}/revoke");
    assert!(people.contains(&action), "{people}");
    let csrf = csrf_in(&people);
    let revoked = client
        .post(format!("{}{action}", ts.url))
        .header(COOKIE, &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("hx-request", "true")
        .body(form(&[("csrf_token", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert!(revoked
        .text()
        .await
        .unwrap()
        .contains("Revoked the app password"));
    assert_eq!(
        dav(secret).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // Gone from the member's own list too.
    let listed = ts
        .graphql(Some(&member), "{ appPasswords { id } }", json!({}))
        .await;
    assert_eq!(listed["data"]["appPasswords"], json!([]));
}

/// The people page's "Remove" (the box must be ticked) and the community settings form.
#[tokio::test]
async fn the_panel_removes_a_member_and_edits_the_community() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let member = ts.invited(&admin, "member@example.org", "member").await;
    let member_id = ts.user_id(&member).await;
    let (session, _) = panel_sign_in(&ts, "admin@example.org", "admin password").await;
    let session = session.unwrap();
    let client = no_redirects();
    let people = client
        .get(format!("{}/admin/people", ts.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(people.contains("Community settings"), "{people}");
    assert!(people.contains(&format!("/admin/users/{member_id}/remove")));
    let csrf = csrf_in(&people);
    let post = |path: String, pairs: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        client
            .post(format!("{}{path}", ts.url))
            .header(COOKIE, &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("hx-request", "true")
            .body(form(&pairs))
            .send()
    };

    let mut socket = ts.socket(&member).await;
    let unticked = post(
        format!("/admin/users/{member_id}/remove"),
        vec![("csrf_token", csrf.clone())],
    )
    .await
    .unwrap();
    assert_eq!(unticked.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        ts.get("/api/auth/me", Some(&member)).await.status,
        StatusCode::OK
    );
    let removed = post(
        format!("/admin/users/{member_id}/remove"),
        vec![("csrf_token", csrf.clone()), ("confirm", "yes".into())],
    )
    .await
    .unwrap();
    assert_eq!(removed.status(), StatusCode::OK);
    assert!(removed.text().await.unwrap().contains("was removed"));
    let code = loop {
        match socket.next_message(Duration::from_secs(5)).await {
            Ok(Incoming::Closed { code, .. }) => break code,
            Ok(_) => continue,
            Err(e) => panic!("the removed member's socket stayed open: {e}"),
        }
    };
    assert_eq!(code, taina_protocol::close::SESSION_ENDED);
    let people = client
        .get(format!("{}/admin/people", ts.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !people.contains(&format!("user-{member_id}")),
        "no longer listed"
    );

    let saved = post(
        "/admin/community".into(),
        vec![
            ("csrf_token", csrf.clone()),
            ("name", "Aldeia".into()),
            ("slug", "Aldeia Nova".into()),
            ("default_language", "pt-BR".into()),
            ("registration", "open".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    let community = ts.get("/api/auth/community", Some(&admin)).await;
    assert_eq!(community.body["name"], "Aldeia");
    assert_eq!(community.body["slug"], "aldeia-nova");
    assert_eq!(community.body["registration"], "open");
    let bad = post(
        "/admin/community".into(),
        vec![
            ("csrf_token", csrf.clone()),
            ("default_language", "klingon!".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let forged = post(
        "/admin/community".into(),
        vec![
            ("csrf_token", "forged".into()),
            ("name", "Taken over".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        ts.get("/api/auth/community", Some(&admin)).await.body["name"],
        "Aldeia"
    );
}

/// With mail configured, the panel's "Reset password" mails the link (the admin never sees
/// it), and the confirmation page a sign-up's link opens confirms the address with a button.
#[tokio::test]
async fn with_mail_the_panel_mails_the_reset_link_and_a_confirmation_link_opens_a_page() {
    use taina_tests::mail::{address, mailing_server, sink, token_after, wait_for_mail};
    let Some((url, maildir)) = sink() else {
        return;
    };
    let ts = mailing_server(&url, |_| {}).await;
    let admin = ts.admin().await;
    let email = address("panel");
    let member = ts.invited(&admin, &email, "member").await;
    let member_id = ts.user_id(&member).await;
    let (session, _) = panel_sign_in(&ts, "admin@example.org", "admin password").await;
    let session = session.unwrap();
    let client = no_redirects();
    let people = client
        .get(format!("{}/admin/people", ts.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        people.contains("unconfirmed"),
        "the new member's address is unconfirmed"
    );
    let csrf = csrf_in(&people);
    let answer = client
        .post(format!("{}/admin/users/{member_id}/reset-link", ts.url))
        .header(COOKIE, &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("hx-request", "true")
        .body(form(&[("csrf_token", &csrf)]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(answer.contains(&format!("mailed to {email}")), "{answer}");
    assert!(
        !answer.contains("/admin/reset/"),
        "the admin does not see the link"
    );
    let mailed = wait_for_mail(&maildir, &email, "/admin/reset/", 1).await;
    let token = token_after(&mailed[0].text, "/admin/reset/");
    let done = ts
        .post(
            "/api/auth/password/reset/confirm",
            json!({ "token": token, "password": "from the panel's mail" }),
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT);

    // The sign-up's confirmation link: the page, then its button.
    let letters = wait_for_mail(&maildir, &email, "/admin/confirm/", 1).await;
    let token = token_after(&letters[0].text, "/admin/confirm/");
    let link = format!("{}/admin/confirm/{token}", ts.url);
    let opened = client.get(&link).send().await.unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    let nonce = cookies(&opened)
        .into_iter()
        .next()
        .expect("the form's nonce cookie");
    let csrf = csrf_in(&opened.text().await.unwrap());
    assert!(!ts
        .get(
            "/api/auth/me",
            Some(&ts.token(&email, "from the panel's mail").await)
        )
        .await
        .body["email_confirmed"]
        .as_bool()
        .unwrap());
    let confirm = || {
        client
            .post(&link)
            .header(COOKIE, &nonce)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("csrf_token", &csrf)]))
            .send()
    };
    let confirmed = confirm().await.unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert!(confirmed.text().await.unwrap().contains("confirm-done"));
    let again = confirm().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    let me = ts
        .get(
            "/api/auth/me",
            Some(&ts.token(&email, "from the panel's mail").await),
        )
        .await;
    assert_eq!(me.body["email_confirmed"], true);
}

/// Without mail, an admin hands a member a confirmation link from the panel; it confirms.
#[tokio::test]
async fn without_mail_the_panel_shows_a_confirmation_link_that_works() {
    let ts = TestServer::builder()
        .with_config(|c| c.auth.require_confirmed_email = true)
        .start()
        .await;
    // The first admin is confirmed by an operator's link (no mail here).
    let signed_up = ts
        .sign_up("admin@example.org", "admin password", None)
        .await;
    let admin_id = signed_up.body["user"]["id"].as_str().unwrap().to_string();
    let (link, _) = ts
        .state
        .auth
        .confirm_link_for(&admin_id.as_str().into())
        .await
        .unwrap();
    let token = link.rsplit('/').next().unwrap();
    ts.state.auth.confirm_email(token).await.unwrap();
    let admin = ts.token("admin@example.org", "admin password").await;
    let invite = ts.post("/api/auth/invites", json!({}), Some(&admin)).await;
    let joined = ts
        .sign_up(
            "member@example.org",
            "member password",
            invite.body["code"].as_str(),
        )
        .await;
    let member_id = joined.body["user"]["id"].as_str().unwrap().to_string();
    let refused = ts
        .post(
            "/api/auth/signin",
            json!({ "email": "member@example.org", "password": "member password" }),
            None,
        )
        .await;
    assert_eq!(refused.code(), "email_unconfirmed");

    let (session, _) = panel_sign_in(&ts, "admin@example.org", "admin password").await;
    let session = session.unwrap();
    let client = no_redirects();
    let people = client
        .get(format!("{}/admin/people", ts.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&people);
    let answer = client
        .post(format!("{}/admin/users/{member_id}/confirm-link", ts.url))
        .header(COOKIE, &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("hx-request", "true")
        .body(form(&[("csrf_token", &csrf)]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = answer.find("/admin/confirm/").expect("a confirmation link");
    let path: String = answer[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'))
        .collect();
    let link = format!("{}{path}", ts.url);
    let opened = client.get(&link).send().await.unwrap();
    let nonce = cookies(&opened)
        .into_iter()
        .next()
        .expect("the form's nonce cookie");
    let csrf = csrf_in(&opened.text().await.unwrap());
    let confirmed = client
        .post(&link)
        .header(COOKIE, &nonce)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf_token", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK);
    ts.token("member@example.org", "member password").await;
}
