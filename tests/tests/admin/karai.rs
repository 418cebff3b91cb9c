//! The panel's view of Karai: failed sign-ins and admin actions on the activity page, bans
//! issued and lifted and a backup made from the maintenance page.

use reqwest::header::COOKIE;
use reqwest::StatusCode;
use serde_json::json;
use taina_tests::TestServer;

use super::{csrf_in, form, no_redirects, panel_sign_in};

#[tokio::test]
async fn activity_shows_the_security_log_and_maintenance_bans_and_backs_up() {
    let (ts, _backups) = TestServer::with_backup_dir().await;
    let admin = ts.admin().await;
    ts.invited(&admin, "member@example.org", "member").await;
    let failed = ts
        .post(
            "/api/auth/signin",
            json!({ "email": "member@example.org", "password": "not the password" }),
            None,
        )
        .await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);

    let (session, _) = panel_sign_in(&ts, "admin@example.org", "admin password").await;
    let session = session.unwrap();
    let client = no_redirects();
    let get = |path: &str| {
        client
            .get(format!("{}{path}", ts.url))
            .header(COOKIE, &session)
            .send()
    };
    // The security log is written in batches: give the writer a moment.
    let mut activity = String::new();
    for _ in 0..50 {
        activity = get("/admin/activity").await.unwrap().text().await.unwrap();
        if activity.contains("signin_failed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(activity.contains("signin_failed"), "{activity}");
    assert!(
        activity.contains("invite_created"),
        "the invite is an admin action: {activity}"
    );

    let maintenance = get("/admin/maintenance")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&maintenance);
    let post = |path: &str, pairs: &[(&str, &str)]| {
        client
            .post(format!("{}{path}", ts.url))
            .header(COOKIE, &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("hx-request", "true")
            .body(form(pairs))
            .send()
    };
    let banned = post(
        "/admin/bans",
        &[
            ("csrf_token", &csrf),
            ("address", "10.9.8.7"),
            ("minutes", "30"),
            ("reason", "tests"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(banned.status(), StatusCode::OK);
    let page = get("/admin/maintenance")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="ban-10-9-8-7""#), "{page}");
    let loopback = post(
        "/admin/bans",
        &[("csrf_token", &csrf), ("address", "127.0.0.1")],
    )
    .await
    .unwrap();
    assert_eq!(
        loopback.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "never-ban list"
    );
    let lifted = post("/admin/bans/10.9.8.7/lift", &[("csrf_token", &csrf)])
        .await
        .unwrap();
    assert_eq!(lifted.status(), StatusCode::OK);
    let page = get("/admin/maintenance")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains(r#"id="ban-10-9-8-7""#), "{page}");

    let backed_up = post("/admin/backups", &[("csrf_token", &csrf)])
        .await
        .unwrap();
    let status = backed_up.status();
    let answer = backed_up.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer.contains("Backed up and verified"), "{answer}");
    let page = get("/admin/maintenance")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("No backups in"),
        "the backup is listed: {page}"
    );
}
