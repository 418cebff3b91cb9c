//! What the panel refuses, over plain HTTP: members, forms without their token, sockets from
//! another origin; and the headers every page carries.

use reqwest::header::{COOKIE, LOCATION};
use reqwest::StatusCode;
use taina_tests::TestServer;

use super::{csrf_in, form, no_redirects, panel_sign_in};

#[tokio::test]
async fn only_admins_get_in_and_a_member_is_told_why() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    ts.invited(&admin, "member@example.org", "member").await;

    let anonymous = no_redirects()
        .get(format!("{}/admin", ts.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[LOCATION], "/admin/signin");

    let (session, refused) = panel_sign_in(&ts, "member@example.org", "member password").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(session.is_none(), "a member gets no panel session");
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("This panel is for community admins"),
        "{page}"
    );

    let (wrong, rejected) = panel_sign_in(&ts, "admin@example.org", "not the password").await;
    assert!(wrong.is_none());
    assert_eq!(rejected.status(), StatusCode::UNAUTHORIZED);
    assert!(rejected
        .text()
        .await
        .unwrap()
        .contains("Wrong email or password."));

    let (session, ok) = panel_sign_in(&ts, "admin@example.org", "admin password").await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let session = session.expect("an admin session cookie");
    let overview = no_redirects()
        .get(format!("{}/admin", ts.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), StatusCode::OK);
    let headers = overview.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    let html = overview.text().await.unwrap();
    assert!(html.contains(r#"id="kpi-sockets""#), "{html}");
    for page in ["people", "activity", "alerts", "maintenance"] {
        let shown = no_redirects()
            .get(format!("{}/admin/{page}", ts.url))
            .header(COOKIE, &session)
            .send()
            .await
            .unwrap();
        assert_eq!(shown.status(), StatusCode::OK, "/admin/{page}");
        let body = shown.text().await.unwrap();
        assert!(
            body.contains(r#"aria-current="page""#),
            "/admin/{page}: {body}"
        );
    }
    assert!(
        !html.contains("<script>") && !html.contains(" style="),
        "no inline code or style"
    );
}

#[tokio::test]
async fn forms_without_their_token_and_foreign_sockets_are_refused() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let member = ts.invited(&admin, "member@example.org", "member").await;
    let member_id = ts.user_id(&member).await;

    // The sign-in form needs the nonce its page set.
    let no_nonce = no_redirects()
        .post(format!("{}/admin/signin", ts.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf_token", "guess"),
            ("email", "admin@example.org"),
            ("password", "admin password"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(no_nonce.status(), StatusCode::FORBIDDEN);

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
    let post = |path: String, body: String| {
        client
            .post(format!("{}{path}", ts.url))
            .header(COOKIE, &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("hx-request", "true")
            .body(body)
            .send()
    };
    let role = format!("/admin/users/{member_id}/role");
    let forged = post(role.clone(), form(&[("role", "admin")]))
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let wrong = post(
        role.clone(),
        form(&[("role", "admin"), ("csrf_token", "0000")]),
    )
    .await
    .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(wrong.text().await.unwrap().contains("security token"));
    assert_eq!(
        ts.get("/api/auth/me", Some(&member)).await.body["role"],
        "member"
    );

    let changed = post(role, form(&[("role", "guest"), ("csrf_token", &csrf)]))
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(changed
        .text()
        .await
        .unwrap()
        .contains(r#"id="flash" hx-swap-oob="true""#));
    assert_eq!(
        ts.get("/api/auth/me", Some(&member)).await.body["role"],
        "guest"
    );

    // Without JavaScript (no `HX-Request`), a form post answers with the whole page and the
    // message on top.
    let plain = client
        .post(format!("{}/admin/users/{member_id}/role", ts.url))
        .header(COOKIE, &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("role", "member"), ("csrf_token", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    let page = plain.text().await.unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("member@example.org is now member."), "{page}");
    assert_eq!(
        ts.get("/api/auth/me", Some(&member)).await.body["role"],
        "member"
    );

    let bad_level = post(
        "/admin/alerts".into(),
        form(&[("level", "loud"), ("message", "hi"), ("csrf_token", &csrf)]),
    )
    .await
    .unwrap();
    assert_eq!(bad_level.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The live socket: only from the panel's own origin, only with a session.
    let live = ts.url.replacen("http://", "ws://", 1) + "/admin/live?page=overview";
    let host = ts.url.trim_start_matches("http://").to_owned();
    let open = |origin: &'static str, cookie: Option<String>| {
        let live = live.clone();
        async move {
            let mut request =
                tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                    live.as_str(),
                )
                .unwrap();
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
            if let Some(cookie) = cookie {
                request
                    .headers_mut()
                    .insert("cookie", cookie.parse().unwrap());
            }
            tokio_tungstenite::connect_async(request).await
        }
    };
    let foreign = open("http://evil.example", Some(session.clone())).await;
    let refused = foreign.expect_err("a foreign origin is refused");
    assert!(refused.to_string().contains("403"), "{refused}");
    let own_origin: &'static str = Box::leak(format!("http://{host}").into_boxed_str());
    let signed_out = open(own_origin, None)
        .await
        .expect_err("no session, no socket");
    assert!(signed_out.to_string().contains("403"), "{signed_out}");
    let (mut socket, _) = open(own_origin, Some(session))
        .await
        .expect("the panel's socket");
    use futures_util::StreamExt;
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        first.to_text().unwrap().contains(r#"id="live-status""#),
        "{first}"
    );
    let snapshot = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        snapshot
            .to_text()
            .unwrap()
            .contains(r#"id="kpi-sockets" class="card" hx-swap-oob="true""#),
        "{snapshot}"
    );
}
