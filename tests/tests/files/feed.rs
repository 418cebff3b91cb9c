//! `files:{space_id}`: each change pushed with the journal cursor as its offset; a rejoin with
//! `since` recovers exactly what was missed (from the journal), another epoch says resync, and
//! nobody joins a space they cannot read. `fileChanges` pages the same journal.

use std::time::Duration;

use serde_json::json;
use taina_protocol::client::ClientError;
use taina_tests::socket::{drain, json_of, WAIT};
use taina_tests::TestServer;

use super::support::{admin, gql, member, put};

#[tokio::test]
async fn changes_are_pushed_and_a_rejoin_recovers_them_from_the_journal() {
    let server = TestServer::builder()
        // One publication in memory: recovery has to come from the journal.
        .with_config(|c| c.realtime.history_size = 1)
        .start()
        .await;
    let ana = admin(&server).await;
    let topic = format!("files:{}", ana.space);
    let mut phone = server.socket(&ana.token).await;
    let joined = phone.join(&topic, json!({})).await.unwrap();
    let epoch = joined["epoch"].as_str().unwrap().to_string();
    assert_eq!(joined["offset"], 0);

    put(&server, &ana, &ana.space, "notes.txt", b"one").await;
    let pushed = phone
        .expect_event(&topic, "file_changed", WAIT)
        .await
        .unwrap();
    let change = json_of(&pushed);
    assert_eq!(change["action"], "created");
    assert_eq!(change["path"], "/notes.txt");
    assert_eq!(change["cursor"], 1);
    assert_eq!(change["offset"], 1, "{change}");
    assert_eq!(change["epoch"], epoch.as_str());
    phone.close().await.unwrap();

    // Offline: a new version, a folder, a move.
    put(&server, &ana, &ana.space, "notes.txt", b"two").await;
    let folder = gql(
        &server,
        &ana.token,
        "mutation($s: ID!) { createFolder(spaceId: $s, path: \"/docs\") { id } }",
        json!({ "s": ana.space }),
    )
    .await;
    assert!(folder["createFolder"]["id"].is_string());
    let node = gql(
        &server,
        &ana.token,
        "query($s: ID!) { fileNode(spaceId: $s, path: \"/notes.txt\") { id } }",
        json!({ "s": ana.space }),
    )
    .await;
    gql(
        &server,
        &ana.token,
        "mutation($id: ID!) { moveFileNode(id: $id, to: \"/docs/notes.txt\") { path } }",
        json!({ "id": node["fileNode"]["id"] }),
    )
    .await;

    let mut phone = server.socket(&ana.token).await;
    let rejoined = phone
        .join(&topic, json!({ "since": { "epoch": epoch, "offset": 1 } }))
        .await
        .unwrap();
    assert_eq!(rejoined["recovered"], true, "{rejoined}");
    let missed: Vec<(String, u64)> = drain(&mut phone, Duration::from_millis(500))
        .await
        .iter()
        .filter(|m| m.event == "file_changed")
        .map(|m| {
            let c = json_of(m);
            (
                c["action"].as_str().unwrap().to_string(),
                c["cursor"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        missed,
        [
            ("updated".into(), 2),
            ("created".into(), 3),
            ("moved".into(), 4)
        ]
    );

    // The same journal through GraphQL, paged.
    let page = gql(
        &server,
        &ana.token,
        "query($s: ID!) { fileChanges(spaceId: $s, since: \"2\") { epoch cursor hasMore changes { cursor action path fromPath } } }",
        json!({ "s": ana.space }),
    )
    .await;
    let page = &page["fileChanges"];
    assert_eq!(page["epoch"], epoch.as_str());
    assert_eq!(page["changes"][1]["action"], "MOVED", "{page}");
    assert_eq!(page["changes"][1]["fromPath"], "/notes.txt");

    // Another epoch (a restored backup, a client's stale state): resync.
    let stale = phone
        .join(
            &topic,
            json!({ "since": { "epoch": "another", "offset": 2 } }),
        )
        .await
        .unwrap();
    assert_eq!(stale["recovered"], false);
}

#[tokio::test]
async fn nobody_joins_a_space_they_cannot_read() {
    let server = TestServer::start().await;
    let ana = admin(&server).await;
    let bia = member(&server, &ana, "bia@example.org").await;
    let mut socket = server.socket(&bia.token).await;
    match socket
        .join(&format!("files:{}", ana.space), json!({}))
        .await
    {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "unauthorized"),
        other => panic!("{other:?}"),
    }
    match socket.join("files:no-such-space", json!({})).await {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "unauthorized"),
        other => panic!("{other:?}"),
    }
    // Her own space works, and pushes nothing of Ana's.
    let topic = format!("files:{}", bia.space);
    socket.join(&topic, json!({})).await.unwrap();
    put(&server, &ana, &ana.space, "private.txt", b"x").await;
    put(&server, &bia, &bia.space, "mine.txt", b"y").await;
    let pushed = socket
        .expect_event(&topic, "file_changed", WAIT)
        .await
        .unwrap();
    assert_eq!(json_of(&pushed)["path"], "/mine.txt");
    assert!(drain(&mut socket, Duration::from_millis(300))
        .await
        .is_empty());
}
