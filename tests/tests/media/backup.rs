//! Backup sync: what a device still has to send.

use reqwest::StatusCode;
use serde_json::json;
use taina_tests::media::{jpeg, sha256, upload};
use taina_tests::TestServer;

#[tokio::test]
async fn backup_sync_reports_what_is_missing() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let have = jpeg(30, 30, 1);
    upload(&server, &token, "have.jpg", have.clone()).await;
    let missing_hash = sha256(b"something else");
    let reply = server
        .post(
            "/api/media/backup/check",
            json!({ "hashes": [sha256(&have), missing_hash] }),
            Some(&token),
        )
        .await;
    assert_eq!(reply.body, json!({ "missing": [missing_hash] }));
    let bad = server
        .post(
            "/api/media/backup/check",
            json!({ "hashes": ["xyz"] }),
            Some(&token),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut events = server.state.bus.subscribe();
    let done = server
        .post(
            "/api/media/backup/completed",
            json!({ "device": "phone", "uploaded": 1, "skipped": 1 }),
            Some(&token),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT);
    // Security log entries (the sign-in above) may reach the bus in between.
    let kind = loop {
        let event = events.recv().await.unwrap();
        if !event.kind.starts_with("security.") {
            break event.kind.clone();
        }
    };
    assert_eq!(kind, "media.backup.completed");
}
