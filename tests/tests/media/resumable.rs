//! Resumable uploads over the socket: a dropped connection, a wrong checksum.

use serde_json::{json, Value};
use taina_protocol::chunk::Chunk;
use taina_protocol::client::ClientError;
use taina_protocol::phoenix::Payload;
use taina_tests::media::{get, jpeg, sha256, WAIT};
use taina_tests::{files_under, TestServer};

fn chunk_frame(offset: u64, data: &[u8]) -> Vec<u8> {
    Chunk {
        offset,
        data: data.to_vec(),
    }
    .encode()
}

#[tokio::test]
async fn resumable_socket_upload_survives_a_dropped_connection() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let me = server.user_id(&token).await;
    let bytes = jpeg(800, 600, 4);
    let user_topic = format!("user:{me}");

    let mut socket = server.socket(&token).await;
    socket.join(&user_topic, json!({})).await.unwrap();
    let created = socket
        .push(
            &user_topic,
            "create_upload",
            json!({ "filename": "tv.jpg", "size": bytes.len(), "sha256": sha256(&bytes) }),
        )
        .await
        .unwrap();
    let Payload::Json(created) = created.response else {
        panic!()
    };
    let upload_id = created["upload_id"].as_str().unwrap().to_string();
    let topic = format!("upload:{upload_id}");
    let joined = socket.join(&topic, json!({})).await.unwrap();
    assert_eq!(joined["offset"], 0);
    let half = bytes.len() / 2;
    let first = socket
        .push_binary(&topic, "chunk", &chunk_frame(0, &bytes[..1000]))
        .await
        .unwrap();
    assert_eq!(
        first.response,
        Payload::Json(json!({ "next_offset": 1000, "done": false }))
    );
    // A chunk at the wrong offset is refused with the expected one.
    match socket
        .push_binary(&topic, "chunk", &chunk_frame(5, &bytes[5..10]))
        .await
    {
        Err(ClientError::Refused(r)) => {
            assert_eq!(r, json!({ "reason": "offset_mismatch", "expected": 1000 }))
        }
        other => panic!("{other:?}"),
    }
    socket
        .push_binary(&topic, "chunk", &chunk_frame(1000, &bytes[1000..half]))
        .await
        .unwrap();
    drop(socket); // the connection drops mid-upload

    let mut socket = server.socket(&token).await;
    let rejoined = socket.join(&topic, json!({})).await.unwrap();
    assert_eq!(
        rejoined["offset"], half as u64,
        "the join reply says where to continue"
    );
    // Several chunks in flight: each reply acknowledges the next offset.
    let mut offset = half;
    let mut last = Value::Null;
    while offset < bytes.len() {
        let end = (offset + 4096).min(bytes.len());
        let reply = socket
            .push_binary(
                &topic,
                "chunk",
                &chunk_frame(offset as u64, &bytes[offset..end]),
            )
            .await
            .unwrap();
        let Payload::Json(reply) = reply.response else {
            panic!()
        };
        assert_eq!(reply["next_offset"], end as u64);
        last = reply;
        offset = end;
    }
    assert_eq!(last["done"], true);
    let photo_id = last["photo"]["id"].as_str().unwrap().to_string();
    let stored = get(
        &server,
        &format!("/api/media/{photo_id}/original"),
        Some(&token),
        &[],
    )
    .await;
    assert_eq!(
        stored.bytes().await.unwrap().as_ref(),
        bytes.as_slice(),
        "identical bytes at the end"
    );

    // The user topic hears about it once processing is done.
    socket.join(&user_topic, json!({})).await.unwrap();
    let pushed = socket
        .expect_event(&user_topic, "photo_uploaded", WAIT)
        .await
        .unwrap();
    let Payload::Json(pushed) = pushed.payload else {
        panic!()
    };
    assert_eq!(pushed["id"], photo_id.as_str());
    assert_eq!(pushed["processing_status"], "ready");
}

#[tokio::test]
async fn a_wrong_checksum_discards_the_upload() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let bytes = jpeg(64, 64, 8);
    let created = server
        .graphql(
            Some(&token),
            "mutation($s: Int!, $h: String!) { createUpload(filename: \"x.jpg\", size: $s, sha256: $h) { id topic receivedBytes } }",
            json!({ "s": bytes.len(), "h": sha256(b"other bytes") }),
        )
        .await;
    let topic = created["data"]["createUpload"]["topic"]
        .as_str()
        .unwrap()
        .to_string();
    let mut socket = server.socket(&token).await;
    socket.join(&topic, json!({})).await.unwrap();
    match socket
        .push_binary(&topic, "chunk", &chunk_frame(0, &bytes))
        .await
    {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "checksum_mismatch"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        socket
            .push_binary(&topic, "chunk", &chunk_frame(0, &bytes))
            .await,
        Err(ClientError::Refused(_))
    ));
    assert_eq!(files_under(&server.data_dir.path().join("files/blobs")), 0);
    assert_eq!(files_under(&server.data_dir.path().join("uploads")), 0);
    // Someone else's upload cannot be joined.
    let other = server.invited(&token, "m@example.org", "member").await;
    let mut theirs = server.socket(&other).await;
    assert!(
        matches!(theirs.join(&topic, json!({})).await, Err(ClientError::Refused(r)) if r["reason"] == "unauthorized")
    );
}
