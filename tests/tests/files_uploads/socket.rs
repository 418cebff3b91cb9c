//! Socket uploads (`upload:{id}`, media's transfer) opened for a files space.

use serde_json::{json, Value};
use taina_protocol::chunk::Chunk;
use taina_protocol::phoenix::Payload;
use taina_tests::media::sha256;
use taina_tests::TestServer;

use super::{content, download, personal_space};

const CREATE: &str = "mutation($space: ID!, $path: String!, $size: Int!, $sha256: String!, \
     $base: ID, $device: String) { createFileUpload(spaceId: $space, path: $path, size: $size, \
     sha256: $sha256, baseVersion: $base, device: $device) { id topic size } }";

/// Opens a socket upload of `bytes` at `path`; its topic.
async fn open(
    server: &TestServer,
    token: &str,
    space: &str,
    path: &str,
    bytes: &[u8],
    base: Option<&str>,
) -> String {
    let reply = server
        .graphql(
            Some(token),
            CREATE,
            json!({ "space": space, "path": path, "size": bytes.len(), "sha256": sha256(bytes),
                    "base": base, "device": "laptop" }),
        )
        .await;
    reply["data"]["createFileUpload"]["topic"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_string()
}

/// Sends `bytes` from `from` in 64 KiB chunks; the last reply.
async fn send(
    socket: &mut taina_protocol::client::PhoenixClient,
    topic: &str,
    bytes: &[u8],
    from: usize,
) -> Value {
    let mut offset = from;
    let mut last = Value::Null;
    while offset < bytes.len() {
        let end = (offset + 65_536).min(bytes.len());
        let frame = Chunk {
            offset: offset as u64,
            data: bytes[offset..end].to_vec(),
        }
        .encode();
        let reply = socket.push_binary(topic, "chunk", &frame).await.unwrap();
        let Payload::Json(reply) = reply.response else {
            panic!("{:?}", reply.response)
        };
        assert_eq!(reply["next_offset"], end as u64);
        last = reply;
        offset = end;
    }
    last
}

#[tokio::test]
async fn a_socket_upload_into_a_space_becomes_a_file_version() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let space = personal_space(&server, &token).await;
    let bytes = content(300_000, 5);
    let topic = open(&server, &token, &space, "/notes.bin", &bytes, None).await;

    let mut socket = server.socket(&token).await;
    let joined = socket.join(&topic, json!({})).await.unwrap();
    assert_eq!(joined["offset"], 0);
    send(&mut socket, &topic, &bytes[..100_000], 0).await;
    drop(socket); // the connection drops mid-upload

    let mut socket = server.socket(&token).await;
    let rejoined = socket.join(&topic, json!({})).await.unwrap();
    assert_eq!(rejoined["offset"], 100_000);
    let last = send(&mut socket, &topic, &bytes, 100_000).await;
    assert_eq!(last["done"], true);
    assert!(last.get("photo").is_none(), "{last}");
    let file = &last["file"];
    assert_eq!(file["created"], true, "{last}");
    assert_eq!(file["node"]["path"], "/notes.bin");
    let node_id = file["node"]["id"].as_str().unwrap().to_string();
    let first_version = file["version"]["id"].as_str().unwrap().to_string();
    assert_eq!(download(&server, &token, &node_id).await, bytes);

    // A second upload based on the current version is a new version of the same file.
    let newer = content(1_000, 6);
    let topic = open(
        &server,
        &token,
        &space,
        "/notes.bin",
        &newer,
        Some(&first_version),
    )
    .await;
    socket.join(&topic, json!({})).await.unwrap();
    let last = send(&mut socket, &topic, &newer, 0).await;
    assert_eq!(last["file"]["node"]["id"], node_id.as_str(), "{last}");
    assert_eq!(last["file"]["conflict"], false);
    assert_eq!(download(&server, &token, &node_id).await, newer);

    // One based on the old version after that is kept beside it as a conflict copy.
    let stale = content(2_000, 8);
    let topic = open(
        &server,
        &token,
        &space,
        "/notes.bin",
        &stale,
        Some(&first_version),
    )
    .await;
    socket.join(&topic, json!({})).await.unwrap();
    let last = send(&mut socket, &topic, &stale, 0).await;
    assert_eq!(last["file"]["conflict"], true, "{last}");
    assert_ne!(last["file"]["node"]["id"], node_id.as_str());

    // A path whose folder does not exist is refused before any byte is sent.
    let refused = server
        .graphql(
            Some(&token),
            CREATE,
            json!({ "space": space, "path": "/missing/x.bin", "size": 3, "sha256": sha256(b"abc") }),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "parent_missing",
        "{refused}"
    );
}
