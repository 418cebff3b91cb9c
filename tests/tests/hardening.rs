//! What a hostile client did to Tainá, kept fixed: uploads that are read before they are
//! allowed, quota races, oversize pushes, alerts across communities, protocol violations and
//! the guest role's limits. Runs on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use taina_protocol::chunk::Chunk;
use taina_protocol::client::{ClientError, Incoming, PhoenixClient};
use taina_protocol::phoenix::Payload;
use taina_tests::{bytes_under, files_under, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(10);

/// Sets every community's storage quota (in GiB).
async fn set_quota_gb(server: &TestServer, gb: i64) {
    let statement: &'static str = match gb {
        0 => "UPDATE communities SET storage_quota_gb = 0 WHERE created_at < $1",
        1 => "UPDATE communities SET storage_quota_gb = 1 WHERE created_at < $1",
        _ => panic!("add the statement for {gb} GiB"),
    };
    server
        .execute_with_time(statement, chrono::Utc::now() + chrono::Duration::hours(1))
        .await;
}

/// Samples the size of `dir` until stopped; the largest size seen.
fn watch_size(dir: std::path::PathBuf) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let largest = Arc::new(AtomicU64::new(0));
    let seen = largest.clone();
    let task = tokio::spawn(async move {
        loop {
            seen.fetch_max(bytes_under(&dir), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    (largest, task)
}

/// A raw HTTP/1.1 POST with a chunked body (no Content-Length), written `chunks` times
/// `chunk` bytes with a short pause between; returns the status line, or `None` when the
/// server closed the connection first.
async fn chunked_post(
    server: &TestServer,
    path: &str,
    headers: &[(&str, String)],
    prefix: &[u8],
    chunk: &[u8],
    chunks: usize,
) -> Option<String> {
    let address = server.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        let mut pieces = vec![prefix];
        pieces.extend(std::iter::repeat_n(chunk, chunks));
        for piece in pieces {
            stream
                .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .await?;
            stream.write_all(piece).await?;
            stream.write_all(b"\r\n").await?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        stream.write_all(b"0\r\n\r\n").await
    };
    let _ = write.await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).to_string();
    text.lines().next().map(str::to_string)
}

const UPLOAD_PHOTO: &str =
    "mutation($file: Upload!) { uploadPhoto(file: $file) { id mimeType fileSizeBytes } }";

fn upload_form(bytes: Vec<u8>) -> Form {
    let operations = json!({ "query": UPLOAD_PHOTO, "variables": { "file": null } });
    Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part("0", Part::bytes(bytes).file_name("g.png"))
}

#[tokio::test]
async fn anonymous_graphql_multipart_is_refused_before_its_files_are_read() {
    let server = TestServer::start().await;
    let reply = server
        .graphql_multipart(None, upload_form(vec![7u8; 4 * 1024 * 1024]))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(reply.code(), "missing_token");
    assert_eq!(files_under(&server.data_dir.path().join("tmp")), 0);
}

#[tokio::test]
async fn graphql_multipart_operations_over_the_json_limit_is_413() {
    let server = TestServer::builder()
        .with_config(|c| c.http.json_body_limit_bytes = 64 * 1024)
        .start()
        .await;
    let token = server.admin().await;
    let padding = " ".repeat(200 * 1024);
    let operations = format!(r#"{{"query": "{{ me {{ id }} }}"{padding}}}"#);
    let form = Form::new().text("operations", operations);
    let reply = server.graphql_multipart(Some(&token), form).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert_eq!(reply.code(), "payload_too_large");
    // The same request within the limit works.
    let form = Form::new().text("operations", r#"{"query": "{ me { id } }"}"#);
    let reply = server.graphql_multipart(Some(&token), form).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body["data"]["me"]["id"].is_string(), "{}", reply.body);
}

/// Streams 8 MiB of multipart `body_start` + filler to `path` with no `Content-Length`, under a
/// quota of 0: the answer (if the server answered before closing) is 507, and not one byte
/// reached the temporary directory at any moment.
async fn assert_streamed_upload_stops_at_the_quota(path: &str, boundary: &str, body_start: String) {
    let server = TestServer::start().await;
    let token = server.admin().await;
    set_quota_gb(&server, 0).await;
    let tmp = server.data_dir.path().join("tmp");
    let (largest, watcher) = watch_size(tmp.clone());
    let headers = [
        ("authorization", format!("Bearer {token}")),
        (
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        ),
    ];
    let status = chunked_post(
        &server,
        path,
        &headers,
        body_start.as_bytes(),
        &[0x42; 64 * 1024],
        128,
    )
    .await;
    watcher.abort();
    if let Some(status) = status {
        assert!(status.contains("507"), "{path}: {status}");
    }
    assert_eq!(
        largest.load(Ordering::Relaxed),
        0,
        "{path}: bytes were written past the quota"
    );
    assert_eq!(files_under(&tmp), 0);
}

#[tokio::test]
async fn graphql_multipart_files_stop_at_the_quota_while_they_stream() {
    let boundary = "XhardeningX";
    let body_start = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n\
         --{boundary}\r\ncontent-disposition: form-data; name=\"map\"\r\n\r\n{}\r\n\
         --{boundary}\r\ncontent-disposition: form-data; name=\"0\"; filename=\"big.bin\"\r\n\
         content-type: application/octet-stream\r\n\r\n",
        json!({ "query": UPLOAD_PHOTO, "variables": { "file": null } }),
        json!({ "0": ["variables.file"] }),
    );
    assert_streamed_upload_stops_at_the_quota("/graphql", boundary, body_start).await;
}

#[tokio::test]
async fn a_chunked_upload_without_length_stops_writing_at_the_quota() {
    let boundary = "XchunkedX";
    let body_start = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n\
         content-type: image/jpeg\r\n\r\n"
    );
    assert_streamed_upload_stops_at_the_quota("/api/media", boundary, body_start).await;
}

const CREATE_UPLOAD: &str = "mutation($size: Int!, $sha: String!) { createUpload(filename: \"big.bin\", size: $size, sha256: $sha) { id } }";

#[tokio::test]
async fn graphql_says_quota_exceeded_with_its_code() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    set_quota_gb(&server, 0).await;
    let reply = server
        .graphql(
            Some(&token),
            CREATE_UPLOAD,
            json!({ "size": 1000, "sha": "a".repeat(64) }),
        )
        .await;
    let error = &reply["errors"][0];
    assert_eq!(error["extensions"]["code"], "quota_exceeded", "{reply}");
    assert!(
        error["message"].as_str().unwrap().contains("quota"),
        "{reply}"
    );
}

#[tokio::test]
async fn concurrent_upload_reservations_cannot_exceed_the_quota() {
    let server = Arc::new(TestServer::start().await);
    let token = server.admin().await;
    set_quota_gb(&server, 1).await;
    let size = 600 * 1024 * 1024;
    let attempts = (0..16).map(|i| {
        let (server, token) = (server.clone(), token.clone());
        tokio::spawn(async move {
            server
                .graphql(
                    Some(&token),
                    CREATE_UPLOAD,
                    json!({ "size": size, "sha": format!("{i:064x}") }),
                )
                .await
        })
    });
    let mut reserved = 0;
    for attempt in attempts {
        let reply = attempt.await.unwrap();
        if reply["data"]["createUpload"]["id"].is_string() {
            reserved += 1;
        } else {
            assert_eq!(
                reply["errors"][0]["extensions"]["code"], "quota_exceeded",
                "{reply}"
            );
        }
    }
    assert_eq!(reserved, 1, "600 MiB fits once in 1 GiB");

    // The same straight at the service, without the HTTP stack spreading the calls out, so
    // the reservations overlap as tightly as they can: 300 MiB fits once more in what is left.
    let principal = server.state.auth.authenticate(&token).await.unwrap();
    let attempts = (0..32).map(|i| {
        let (media, principal) = (server.state.media.clone(), principal.clone());
        tokio::spawn(async move {
            media
                .create_upload(
                    &principal,
                    "x.bin",
                    300 * 1024 * 1024,
                    &format!("{:064x}", 100 + i),
                )
                .await
        })
    });
    let mut reserved = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => reserved += 1,
            Err(taina::contexts::media::MediaError::QuotaExceeded { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(reserved, 1, "300 MiB fits once in the 424 MiB left");
}

/// A joined `upload:{id}` channel on a socket of its own.
async fn upload_channel(server: &TestServer, token: &str, upload: &str) -> PhoenixClient {
    let mut client = server.socket(token).await;
    client
        .join(&format!("upload:{upload}"), json!({}))
        .await
        .expect("join upload");
    client
}

async fn push_chunk(client: &mut PhoenixClient, upload: &str, offset: u64, data: &[u8]) -> Value {
    let frame = Chunk {
        offset,
        data: data.to_vec(),
    }
    .encode();
    match client
        .push_binary(&format!("upload:{upload}"), "chunk", &frame)
        .await
    {
        Ok(reply) => match reply.response {
            Payload::Json(v) => v,
            other => panic!("expected JSON, got {other:?}"),
        },
        Err(ClientError::Refused(reason)) => reason,
        Err(e) => panic!("chunk: {e:?}"),
    }
}

#[tokio::test]
async fn a_chunk_refused_for_its_offset_writes_nothing() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let half = 256 * 1024;
    // Sniffed as a PNG, so a correctly assembled file is stored.
    let mut good = png_like(9);
    good.extend((good.len()..2 * half).map(|i| (i % 251) as u8));
    let sha = hex::encode(Sha256::digest(&good));
    let mut completed = 0;
    for round in 0..16 {
        if completed == 3 {
            break;
        }
        let created = server
            .graphql(
                Some(&token),
                CREATE_UPLOAD,
                json!({ "size": good.len(), "sha": sha }),
            )
            .await;
        let upload = created["data"]["createUpload"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"))
            .to_string();
        let mut first = upload_channel(&server, &token, &upload).await;
        let mut second = upload_channel(&server, &token, &upload).await;
        // The same offset twice at once: one wins, the other (wrong bytes) must write nothing.
        let garbage = vec![0xEE; half];
        let (a, b) = tokio::join!(
            push_chunk(&mut first, &upload, 0, &good[..half]),
            push_chunk(&mut second, &upload, 0, &garbage),
        );
        let refused = [&a, &b]
            .into_iter()
            .filter(|reply| reply["reason"] == "offset_mismatch")
            .count();
        assert_eq!(refused, 1, "round {round}: {a} / {b}");
        if b["next_offset"] == half as u64 {
            // The garbage won the race: this round cannot finish with the right bytes.
            continue;
        }
        let done = push_chunk(&mut first, &upload, half as u64, &good[half..]).await;
        assert_eq!(
            done["done"], true,
            "round {round}: the file was corrupted: {done}"
        );
        // The same bytes again are a duplicate of the first round's photo: fine, it finished.
        completed += 1;
    }
    assert!(completed > 0, "the right bytes never won the race");
}

#[tokio::test]
async fn graphql_multipart_upload_still_works_within_the_quota() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    // A PNG header is enough for the type check; the file is processed later.
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend(std::iter::repeat_n(0u8, 1000));
    let reply = server
        .graphql_multipart(Some(&token), upload_form(bytes.clone()))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["data"]["uploadPhoto"]["fileSizeBytes"],
        bytes.len(),
        "{}",
        reply.body
    );
    assert_eq!(files_under(&server.data_dir.path().join("tmp")), 0);
}

/// Every message on `topic` with `event` that arrives within `window`.
async fn events_within(
    client: &mut PhoenixClient,
    topic: &str,
    event: &str,
    window: Duration,
) -> Vec<Value> {
    let mut found = Vec::new();
    while let Ok(Incoming::Message(m)) = client.next_message(window).await {
        if m.topic == topic && m.event == event {
            if let Payload::Json(v) = m.payload {
                found.push(v);
            }
        }
    }
    found
}

/// An admin of a second community, made by the operator (the CLI path); returns their token.
async fn second_community_admin(server: &TestServer) -> String {
    server
        .state
        .auth
        .create_user(
            "other-admin@example.org",
            "other admin password".into(),
            taina::contexts::auth::Role::Admin,
            "Outra Aldeia",
        )
        .await
        .unwrap();
    server
        .token("other-admin@example.org", "other admin password")
        .await
}

#[tokio::test]
async fn alerts_stay_in_their_community_and_instance_alerts_reach_all() {
    let server = TestServer::start().await;
    let admin_a = server.admin().await;
    let member_a = server
        .invited(&admin_a, "member@example.org", "member")
        .await;
    let admin_b = second_community_admin(&server).await;
    let admin_a_id = server.user_id(&admin_a).await;

    let mut publisher_a = server.socket(&admin_a).await;
    let mut listener_a = server.socket(&member_a).await;
    let mut listener_b = server.socket(&admin_b).await;
    for client in [&mut publisher_a, &mut listener_a, &mut listener_b] {
        client.join("system:alerts", json!({})).await.unwrap();
    }

    publisher_a
        .push(
            "system:alerts",
            "alert",
            json!({ "text": "water off at noon" }),
        )
        .await
        .unwrap();
    let got = listener_a
        .expect_event("system:alerts", "alert", WAIT)
        .await
        .unwrap();
    let got = match got.payload {
        Payload::Json(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(got["text"], "water off at noon");
    assert_eq!(got["from"], admin_a_id.as_str());
    assert_eq!(got["scope"], "community");
    assert!(
        events_within(
            &mut listener_b,
            "system:alerts",
            "alert",
            Duration::from_millis(500)
        )
        .await
        .is_empty(),
        "community B received community A's alert"
    );

    // B's admin cannot reach A either, and a rejoin of B with `since` recovers nothing of A's.
    let mut publisher_b = server.socket(&admin_b).await;
    publisher_b.join("system:alerts", json!({})).await.unwrap();
    publisher_b
        .push("system:alerts", "alert", json!({ "text": "from B" }))
        .await
        .unwrap();
    let seen_by_a = events_within(
        &mut listener_a,
        "system:alerts",
        "alert",
        Duration::from_millis(500),
    )
    .await;
    assert!(seen_by_a.is_empty(), "A received B's alert: {seen_by_a:?}");
    let seen_by_b = events_within(&mut listener_b, "system:alerts", "alert", WAIT / 20).await;
    assert_eq!(seen_by_b.len(), 1, "{seen_by_b:?}");
    assert_eq!(seen_by_b[0]["text"], "from B");
    let mut late_b = server.socket(&admin_b).await;
    let rejoined = late_b
        .join(
            "system:alerts",
            json!({ "since": { "epoch": got["epoch"], "offset": 0 } }),
        )
        .await
        .unwrap();
    assert_ne!(
        rejoined["epoch"], got["epoch"],
        "B's alerts have their own epoch"
    );

    // An instance-wide alert, stored as the operator's CLI stores it (another process: the
    // server relays it from the database), reaches both communities, marked as the operator's.
    taina::contexts::monitoring::MonitoringService::new(
        server.state.db.clone(),
        Arc::new(taina::events::MemoryBus::new(1)),
    )
    .raise(
        taina::contexts::monitoring::AlertLevel::Critical,
        "disk almost full",
        taina::contexts::monitoring::AlertSource::Operator,
    )
    .await
    .unwrap();
    for listener in [&mut listener_a, &mut listener_b] {
        let got = listener
            .expect_event("system:alerts", "alert", WAIT)
            .await
            .unwrap();
        let got = match got.payload {
            Payload::Json(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(got["message"], "disk almost full");
        assert_eq!(got["from"], "operator");
        assert_eq!(got["scope"], "instance");
        assert_eq!(got["level"], "critical");
    }
}

#[tokio::test]
async fn an_oversize_binary_push_is_refused_and_nobody_is_disconnected() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let member_id = server.user_id(&member).await;
    let conversation = server.group_conversation(&admin, &[&member_id]).await;
    let topic = format!("conversation:{conversation}");
    let mut sender = server.socket(&member).await;
    let mut other = server.socket(&admin).await;
    sender.join(&topic, json!({})).await.unwrap();
    other.join(&topic, json!({})).await.unwrap();

    // 1.1 MiB: over a quarter of the 1 MiB outbox (and once enough to close every subscriber).
    let big = vec![0xAB; 1100 * 1024];
    match sender.push_binary(&topic, "binary", &big).await {
        Err(ClientError::Refused(reason)) => {
            assert_eq!(reason["reason"], "payload_too_large", "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Both stay connected, and a small push still goes through.
    sender.heartbeat().await.unwrap();
    other.heartbeat().await.unwrap();
    sender
        .push_binary(&topic, "binary", b"\x01\x02\x03")
        .await
        .unwrap();
    let got = other.expect_event(&topic, "binary", WAIT).await.unwrap();
    assert!(matches!(got.payload, Payload::Binary(ref b) if b.as_ref() == b"\x01\x02\x03"));
}

/// A Phoenix socket opened by hand over TCP, so frames no client library would send can be.
async fn raw_socket(server: &TestServer, token: &str) -> tokio::net::TcpStream {
    let address = server.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "GET /socket/websocket?vsn=2.0.0&token={token} HTTP/1.1\r\nhost: {address}\r\n\
         upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\n\
         sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// Reads server frames until a close frame; its code.
async fn close_code(stream: &mut tokio::net::TcpStream) -> u16 {
    let read = async {
        loop {
            let first = stream.read_u8().await?;
            let mut len = u64::from(stream.read_u8().await? & 0x7F);
            if len == 126 {
                len = u64::from(stream.read_u16().await?);
            } else if len == 127 {
                len = stream.read_u64().await?;
            }
            let mut payload = vec![0; len as usize];
            stream.read_exact(&mut payload).await?;
            if first & 0x0F == 0x8 {
                return Ok::<u16, std::io::Error>(u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("a close frame in time")
        .expect("a close frame before the connection ended")
}

#[tokio::test]
async fn websocket_violations_close_with_1002_and_bad_utf8_with_1007() {
    let server = TestServer::start().await;
    let token = server.admin().await;

    // A masked text frame (zero mask) whose payload is not UTF-8.
    let mut socket = raw_socket(&server, &token).await;
    socket
        .write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xFF, 0xFE])
        .await
        .unwrap();
    assert_eq!(close_code(&mut socket).await, 1007);

    // An unmasked frame from the client breaks RFC 6455 §5.1.
    let mut socket = raw_socket(&server, &token).await;
    socket.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    assert_eq!(close_code(&mut socket).await, 1002);

    // Reserved bits set without an extension that defines them.
    let mut socket = raw_socket(&server, &token).await;
    socket
        .write_all(&[0xF1, 0x82, 0, 0, 0, 0, b'h', b'i'])
        .await
        .unwrap();
    assert_eq!(close_code(&mut socket).await, 1002);

    // The server is fine: a normal client still works.
    server.socket(&token).await.heartbeat().await.unwrap();
}

#[tokio::test]
async fn public_album_urls_cannot_reach_another_communitys_album() {
    let server = TestServer::start().await;
    let admin_a = server.admin().await;
    let admin_b = second_community_admin(&server).await;
    let create =
        "mutation { createAlbum(name: \"Vacation\", isPublic: true) { id slug publicPath } }";
    let album_a = server.graphql(Some(&admin_a), create, json!({})).await;
    let album_b = server.graphql(Some(&admin_b), create, json!({})).await;
    let id_a = album_a["data"]["createAlbum"]["id"].as_str().unwrap();
    let id_b = album_b["data"]["createAlbum"]["id"].as_str().unwrap();
    assert_eq!(
        album_b["data"]["createAlbum"]["slug"], "vacation",
        "{album_b}"
    );

    let a = server.get("/albums/home/vacation", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["album"]["id"], id_a);
    let b = server.get("/albums/outra-aldeia/vacation", None).await;
    assert_eq!(b.body["album"]["id"], id_b);
    assert_eq!(
        server.get(&format!("/albums/{id_b}"), None).await.body["album"]["id"],
        id_b
    );
    // A bare slug names no album: it could be either community's.
    assert_eq!(
        server.get("/albums/vacation", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_message_of_only_invisible_characters_is_empty() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let member_id = server.user_id(&member).await;
    let conversation = server.group_conversation(&admin, &[&member_id]).await;
    let path = format!("/api/chat/conversations/{conversation}/messages");
    for body in ["\u{200B}", "\u{FEFF}\u{200B}\u{200D} \u{2060}", "\u{3164}"] {
        let sent = server
            .post(&path, json!({ "body": body }), Some(&admin))
            .await;
        assert_eq!(
            sent.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body:?}: {}",
            sent.body
        );
        assert_eq!(sent.code(), "empty_body");
    }
    let sent = server
        .post(&path, json!({ "body": "\u{200B}oi" }), Some(&admin))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
}

#[tokio::test]
async fn introspection_and_graphiql_can_be_switched_off() {
    let schema_query = "{ __schema { queryType { name } } }";
    let on = TestServer::start().await;
    let token = on.admin().await;
    let reply = on.graphql(Some(&token), schema_query, json!({})).await;
    assert_eq!(
        reply["data"]["__schema"]["queryType"]["name"], "Query",
        "{reply}"
    );
    assert_eq!(on.get("/graphql", None).await.status, StatusCode::OK);

    let off = TestServer::builder()
        .with_config(|c| c.graphql.introspection = false)
        .start()
        .await;
    let token = off.admin().await;
    // async-graphql answers introspection fields with null when it is off.
    let reply = off.graphql(Some(&token), schema_query, json!({})).await;
    assert!(reply["data"]["__schema"].is_null(), "{reply}");
    assert_eq!(
        off.get("/graphql", None).await.status,
        StatusCode::NOT_FOUND
    );
    // Ordinary queries, `__typename` included, still work.
    let reply = off
        .graphql(Some(&token), "{ __typename me { id } }", json!({}))
        .await;
    assert_eq!(reply["data"]["__typename"], "Query", "{reply}");
}

#[tokio::test]
async fn typename_aliases_count_toward_complexity() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let aliases = |n: usize| {
        let fields: Vec<String> = (0..n).map(|i| format!("t{i}: __typename")).collect();
        format!("{{ {} }}", fields.join(" "))
    };
    let small = server.graphql(Some(&token), &aliases(100), json!({})).await;
    assert_eq!(small["data"]["t99"], "Query", "{small}");
    let large = server
        .graphql(Some(&token), &aliases(5000), json!({}))
        .await;
    assert!(large["data"].is_null(), "{large}");
    assert_eq!(
        large["errors"][0]["message"], "Query is too complex.",
        "{large}"
    );
}

/// A file the type sniffer takes for a PNG (processing may fail later; storing does not).
fn png_like(seed: u8) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend(std::iter::repeat_n(seed, 500));
    bytes
}

async fn http_upload(server: &TestServer, token: &str, bytes: Vec<u8>) -> taina_tests::Reply {
    let form = Form::new().part("file", Part::bytes(bytes).file_name("p.png"));
    server
        .send(
            server
                .client
                .post(format!("{}/api/media", server.url))
                .bearer_auth(token)
                .multipart(form),
        )
        .await
}

#[tokio::test]
async fn guests_read_what_is_shared_and_chat_where_invited_nothing_more() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let guest = server.invited(&admin, "guest@example.org", "guest").await;
    let guest_id = server.user_id(&guest).await;

    // Uploads, by every path, are refused before a byte is stored.
    let refused = http_upload(&server, &guest, png_like(1)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let multipart = server
        .graphql_multipart(Some(&guest), upload_form(png_like(2)))
        .await;
    assert_eq!(
        multipart.status,
        StatusCode::FORBIDDEN,
        "{}",
        multipart.body
    );
    let resumable = server
        .graphql(
            Some(&guest),
            CREATE_UPLOAD,
            json!({ "size": 10, "sha": "b".repeat(64) }),
        )
        .await;
    assert_eq!(
        resumable["errors"][0]["extensions"]["code"], "forbidden",
        "{resumable}"
    );
    let check = server
        .post(
            "/api/media/backup/check",
            json!({ "hashes": [] }),
            Some(&guest),
        )
        .await;
    assert_eq!(check.status, StatusCode::FORBIDDEN);
    assert_eq!(files_under(&server.data_dir.path().join("tmp")), 0);

    // No conversations of their own, no invites.
    let started = server
        .post(
            "/api/chat/conversations",
            json!({ "kind": "group", "name": "Mine", "participant_ids": [] }),
            Some(&guest),
        )
        .await;
    assert_eq!(started.status, StatusCode::FORBIDDEN, "{}", started.body);
    let invite = server
        .post(
            "/api/auth/invites",
            json!({ "role": "guest" }),
            Some(&guest),
        )
        .await;
    assert_eq!(invite.status, StatusCode::FORBIDDEN);

    // In a conversation they were invited to, they read and write (and may leave, but not
    // remove others).
    let member = server.invited(&admin, "member@example.org", "member").await;
    let member_id = server.user_id(&member).await;
    let conversation = server
        .group_conversation(&admin, &[&guest_id, &member_id])
        .await;
    let messages = format!("/api/chat/conversations/{conversation}/messages");
    let sent = server
        .post(&messages, json!({ "body": "olá" }), Some(&guest))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    assert_eq!(
        server.get(&messages, Some(&guest)).await.status,
        StatusCode::OK
    );
    let mut socket = server.socket(&guest).await;
    socket
        .join(&format!("conversation:{conversation}"), json!({}))
        .await
        .unwrap();
    // The whole community's presence is not shared with guests.
    let community = server.get("/api/auth/me", Some(&guest)).await.body["community_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(matches!(
        socket
            .join(&format!("community:{community}"), json!({}))
            .await,
        Err(ClientError::Refused(_))
    ));
    let removal = server
        .send_json(
            reqwest::Method::DELETE,
            &format!("/api/chat/conversations/{conversation}/participants/{member_id}"),
            json!({}),
            Some(&guest),
        )
        .await;
    assert_eq!(removal.status, StatusCode::FORBIDDEN, "{}", removal.body);

    // Photos: public albums only; the timeline and private photos are not theirs to see.
    let private_photo = http_upload(&server, &member, png_like(3)).await.body["photo"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let shared_photo = http_upload(&server, &member, png_like(4)).await.body["photo"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let album = server
        .graphql(
            Some(&member),
            "mutation { createAlbum(name: \"Festa\", isPublic: true) { id } }",
            json!({}),
        )
        .await["data"]["createAlbum"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .graphql(
            Some(&member),
            "mutation($a: String!, $p: String!) { addToAlbum(albumId: $a, photoId: $p) { photoCount } }",
            json!({ "a": album, "p": shared_photo }),
        )
        .await;
    server
        .graphql(
            Some(&member),
            "mutation { createAlbum(name: \"Privado\") { id } }",
            json!({}),
        )
        .await;
    let timeline = server
        .graphql(Some(&guest), "{ photos { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        timeline["errors"][0]["extensions"]["code"], "forbidden",
        "{timeline}"
    );
    let albums = server
        .graphql(Some(&guest), "{ albums { name } }", json!({}))
        .await;
    assert_eq!(
        albums["data"]["albums"],
        json!([{ "name": "Festa" }]),
        "{albums}"
    );
    let in_album = server
        .graphql(
            Some(&guest),
            "query($a: String) { photos(albumId: $a) { nodes { id } } }",
            json!({ "a": album }),
        )
        .await;
    assert_eq!(
        in_album["data"]["photos"]["nodes"][0]["id"],
        shared_photo.as_str(),
        "{in_album}"
    );
    let private = server
        .get(
            &format!("/api/media/{private_photo}/original"),
            Some(&guest),
        )
        .await;
    assert_eq!(private.status, StatusCode::NOT_FOUND);
    let shared = server
        .client
        .get(format!("{}/api/media/{shared_photo}/original", server.url))
        .bearer_auth(&guest)
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), StatusCode::OK);
}
