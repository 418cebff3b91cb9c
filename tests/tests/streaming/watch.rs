//! Watch state across devices: a `watch` push on one device's `user:` topic reaches the
//! user's other device at once as `watch_progress` (with an offset, so a TV that was off
//! recovers it), `continueWatching` and the resume position follow it, and a TV streams a
//! library item's file over the socket with credits.

use serde_json::json;
use taina_protocol::chunk::Chunk;
use taina_protocol::client::{ClientError, Incoming};
use taina_protocol::phoenix::Payload;
use taina_tests::socket::{next_event, WAIT};

use crate::support::{gql, items, library, playback, server, video};

#[tokio::test]
async fn a_pause_on_the_phone_reaches_the_tv_at_once_and_after_it_reconnects() {
    let server = server().await;
    let admin = server.admin().await;
    let user_id = server.user_id(&admin).await;
    let root = tempfile::tempdir().unwrap();
    video(&root.path().join("Retomar (2023).mp4"), 10, "libx264");
    let library = library(&server, &admin, "Filmes", root.path(), "MOVIES").await;
    let (item, _) = items(&server, &admin, &library).await.remove(0);
    let topic = format!("user:{user_id}");
    let phone_token = server.token("admin@example.org", "admin password").await;
    let mut phone = server.socket(&phone_token).await;
    phone.join(&topic, json!({})).await.unwrap();
    let mut tv = server.socket(&admin).await;
    let joined = tv.join(&topic, json!({})).await.unwrap();
    let epoch = joined["epoch"].as_str().unwrap().to_string();

    let reply = phone
        .push(
            &topic,
            "watch",
            json!({ "item_id": item, "position_ms": 4_200, "state": "paused", "device": "phone" }),
        )
        .await
        .unwrap();
    let Payload::Json(stored) = reply.response else {
        panic!("a JSON reply")
    };
    assert_eq!(stored["position_ms"], 4_200);
    let pushed = next_event(&mut tv, "watch_progress").await;
    assert_eq!(pushed["item_id"], item.as_str());
    assert_eq!(pushed["position_ms"], 4_200);
    assert_eq!(pushed["state"], "paused");
    assert_eq!(pushed["device"], "phone");
    let offset = pushed["offset"].as_u64().unwrap();
    // The TV resumes from there.
    let info = playback(&server, &admin, &item).await;
    assert_eq!(info["resumePositionMs"], 4_200);

    // The TV is off while the phone plays on; when it comes back it recovers the position.
    tv.close().await.unwrap();
    gql(
        &server,
        &phone_token,
        "mutation($i: ID!) { reportProgress(itemId: $i, positionMs: 6100, state: PAUSED) { positionMs played } }",
        json!({ "i": item }),
    )
    .await;
    let mut tv = server.socket(&admin).await;
    let rejoined = tv
        .join(
            &topic,
            json!({ "since": { "epoch": epoch, "offset": offset } }),
        )
        .await
        .unwrap();
    assert_eq!(rejoined["recovered"], true);
    let recovered = next_event(&mut tv, "watch_progress").await;
    assert_eq!(recovered["position_ms"], 6_100);
    let watching = gql(
        &server,
        &admin,
        "{ continueWatching { id progress { positionMs played } } }",
        json!({}),
    )
    .await;
    assert_eq!(watching["continueWatching"][0]["id"], item.as_str());
    assert_eq!(
        watching["continueWatching"][0]["progress"]["positionMs"],
        6_100
    );

    // Bad pushes get clear errors and change nothing.
    for (payload, reason) in [
        (json!({ "item_id": item }), "invalid_input"),
        (
            json!({ "item_id": item, "position_ms": -5 }),
            "invalid_input",
        ),
        (json!({ "item_id": "nope", "position_ms": 1 }), "not_found"),
    ] {
        match phone.push(&topic, "watch", payload).await {
            Err(ClientError::Refused(r)) => assert_eq!(r["reason"], reason),
            other => panic!("{other:?}"),
        }
    }
    let marked = gql(
        &server,
        &admin,
        "mutation($i: ID!) { markPlayed(itemId: $i, played: true) { played } }",
        json!({ "i": item }),
    )
    .await;
    assert_eq!(marked["markPlayed"][0]["played"], true);
    let history = gql(
        &server,
        &admin,
        "{ watchHistory { itemId played } }",
        json!({}),
    )
    .await;
    assert_eq!(history["watchHistory"][0]["played"], true);
}

#[tokio::test]
async fn a_tv_streams_a_library_item_over_the_socket_with_credits() {
    let server = server().await;
    let admin = server.admin().await;
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("Tela (2024).mp4");
    video(&file, 2, "libx264");
    let library = library(&server, &admin, "Filmes", root.path(), "MOVIES").await;
    let (item, _) = items(&server, &admin, &library).await.remove(0);
    let info = playback(&server, &admin, &item).await;
    let topic = info["socketTopic"].as_str().unwrap().to_string();
    assert_eq!(topic, format!("item:{item}"));
    let bytes = std::fs::read(&file).unwrap();
    let mut tv = server.socket(&admin).await;
    let joined = tv
        .join(&topic, json!({ "rendition": "original", "credit": 0 }))
        .await
        .unwrap();
    assert_eq!(joined["size"], bytes.len());
    assert_eq!(joined["mime_type"], "video/mp4");
    tv.push(&topic, "credit", json!({ "bytes": bytes.len() }))
        .await
        .unwrap();
    let mut received = Vec::new();
    loop {
        match tv.next_message(WAIT).await.unwrap() {
            Incoming::Message(m) if m.event == "data" => {
                let Payload::Binary(data) = m.payload else {
                    panic!("binary data")
                };
                let chunk = Chunk::decode(&data).unwrap();
                assert_eq!(chunk.offset, received.len() as u64);
                received.extend(chunk.data);
            }
            Incoming::Message(m) if m.event == "end" => break,
            _ => {}
        }
    }
    assert_eq!(received, bytes);
    // An unknown rendition is refused (other communities' joins: the service tests).
    let mut other = server.socket(&admin).await;
    match other.join(&topic, json!({ "rendition": "4k-hdr" })).await {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "invalid rendition"),
        other => panic!("{other:?}"),
    }
}
