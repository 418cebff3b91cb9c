//! Uploads read before they are allowed, oversize operations, chunks refused for their offset,
//! multipart within the quota.

use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use taina_protocol::chunk::Chunk;
use taina_protocol::client::{ClientError, PhoenixClient};
use taina_protocol::phoenix::Payload;
use taina_tests::hardening::{png_like, upload_form, CREATE_UPLOAD};
use taina_tests::{files_under, TestServer};

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
        // Which side is polled first alternates, so a scheduling bias on a loaded machine
        // cannot make the wrong bytes win every round.
        let garbage = vec![0xEE; half];
        let (a, b) = if round % 2 == 0 {
            tokio::join!(
                push_chunk(&mut first, &upload, 0, &good[..half]),
                push_chunk(&mut second, &upload, 0, &garbage),
            )
        } else {
            let (b, a) = tokio::join!(
                push_chunk(&mut second, &upload, 0, &garbage),
                push_chunk(&mut first, &upload, 0, &good[..half]),
            );
            (a, b)
        };
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
