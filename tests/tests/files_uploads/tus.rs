//! tus 1.0 at `/api/files/tus/`.

use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use sha2::Digest;
use taina_tests::{files_under, Reply, TestServer};
use tokio::io::AsyncWriteExt;

use super::{content, download, personal_space};

const OFFSET_STREAM: &str = "application/offset+octet-stream";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// One tus request with `Tus-Resumable: 1.0.0` (unless `headers` sets it) and the token.
async fn tus(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    let mut request = server
        .client
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(token);
    if !headers.iter().any(|(name, _)| *name == "Tus-Resumable") {
        request = request.header("Tus-Resumable", "1.0.0");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    server.send(request.body(body)).await
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} in {:?}", reply.headers))
}

/// Creates an upload of `length` bytes at `path` in `space`; its URL path.
async fn create(
    server: &TestServer,
    token: &str,
    space: &str,
    path: &str,
    length: usize,
) -> String {
    let metadata = format!("spaceId {},path {}", b64(space), b64(path));
    let created = tus(
        server,
        token,
        Method::POST,
        "/api/files/tus/",
        &[
            ("Upload-Length", &length.to_string()),
            ("Upload-Metadata", &metadata),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(header(&created, "upload-offset"), "0");
    assert_eq!(header(&created, "tus-resumable"), "1.0.0");
    header(&created, "location").to_string()
}

async fn patch(
    server: &TestServer,
    token: &str,
    url: &str,
    offset: usize,
    data: &[u8],
    extra: &[(&str, &str)],
) -> Reply {
    let offset = offset.to_string();
    let mut headers = vec![("Content-Type", OFFSET_STREAM), ("Upload-Offset", &offset)];
    headers.extend_from_slice(extra);
    tus(server, token, Method::PATCH, url, &headers, data.to_vec()).await
}

async fn offset_of(server: &TestServer, token: &str, url: &str) -> Reply {
    tus(server, token, Method::HEAD, url, &[], Vec::new()).await
}

/// A SHA-1 checksum header that matches nothing (20 zero bytes).
fn wrong_sha1_header() -> String {
    format!(
        "sha1 {}",
        base64::engine::general_purpose::STANDARD.encode([0u8; 20])
    )
}

fn sha256_header(data: &[u8]) -> String {
    format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(data))
    )
}

#[tokio::test]
async fn tus_upload_in_chunks_with_offsets_and_checksums() {
    let server = TestServer::builder()
        .with_config(|c| c.media.max_upload_bytes = 10_000_000)
        .start()
        .await;
    let token = server.admin().await;
    let space = personal_space(&server, &token).await;

    // Discovery needs no token.
    let options = server
        .send(
            server
                .client
                .request(Method::OPTIONS, format!("{}/api/files/tus/", server.url)),
        )
        .await;
    assert_eq!(options.status, StatusCode::NO_CONTENT);
    assert_eq!(header(&options, "tus-version"), "1.0.0");
    assert_eq!(
        header(&options, "tus-extension"),
        "creation,creation-with-upload,termination,checksum,expiration"
    );
    assert_eq!(header(&options, "tus-max-size"), "10000000");
    assert_eq!(header(&options, "tus-checksum-algorithm"), "sha1,sha256");

    let bytes = content(300_000, 7);
    let url = create(&server, &token, &space, "/report.bin", bytes.len()).await;
    assert!(url.starts_with("/api/files/tus/"), "{url}");
    let head = offset_of(&server, &token, &url).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(header(&head, "upload-offset"), "0");
    assert_eq!(header(&head, "upload-length"), "300000");
    assert_eq!(header(&head, "cache-control"), "no-store");
    assert!(header(&head, "upload-expires").ends_with("GMT"));

    // The first chunk, with a matching checksum.
    let first = &bytes[..100_000];
    let reply = patch(
        &server,
        &token,
        &url,
        0,
        first,
        &[("Upload-Checksum", &sha256_header(first))],
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(header(&reply, "upload-offset"), "100000");

    // The wrong offset: 409, nothing written.
    let reply = patch(&server, &token, &url, 5, &bytes[5..10], &[]).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.code(), "offset_mismatch");

    // A chunk that does not match its checksum: 460, discarded.
    let second = &bytes[100_000..200_000];
    let reply = patch(
        &server,
        &token,
        &url,
        100_000,
        second,
        &[("Upload-Checksum", &wrong_sha1_header())],
    )
    .await;
    assert_eq!(reply.status.as_u16(), 460, "{}", reply.body);
    assert_eq!(reply.code(), "chunk_checksum_mismatch");
    assert_eq!(
        header(&offset_of(&server, &token, &url).await, "upload-offset"),
        "100000"
    );
    let reply = patch(
        &server,
        &token,
        &url,
        100_000,
        second,
        &[("Upload-Checksum", "md5 AAAA")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "unsupported_checksum");

    // The wrong content type, the wrong protocol version.
    let reply = tus(
        &server,
        &token,
        Method::PATCH,
        &url,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Upload-Offset", "100000"),
        ],
        second.to_vec(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let reply = tus(
        &server,
        &token,
        Method::PATCH,
        &url,
        &[
            ("Tus-Resumable", "0.2.2"),
            ("Content-Type", OFFSET_STREAM),
            ("Upload-Offset", "100000"),
        ],
        second.to_vec(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(header(&reply, "tus-version"), "1.0.0");
    assert_eq!(reply.code(), "unsupported_tus_version");

    // Another user's upload does not exist for them.
    let other = server.invited(&token, "bia@example.org", "member").await;
    assert_eq!(
        offset_of(&server, &other, &url).await.status,
        StatusCode::NOT_FOUND
    );
    let reply = patch(&server, &other, &url, 100_000, second, &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.code(), "not_found");
    let reply = tus(&server, &other, Method::DELETE, &url, &[], Vec::new()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    // The rest, in two chunks; the last stores the file.
    let reply = patch(&server, &token, &url, 100_000, second, &[]).await;
    assert_eq!(header(&reply, "upload-offset"), "200000");
    assert!(reply.headers.get("taina-node-id").is_none());
    let reply = patch(&server, &token, &url, 200_000, &bytes[200_000..], &[]).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(header(&reply, "upload-offset"), "300000");
    let node_id = header(&reply, "taina-node-id").to_string();
    assert!(!header(&reply, "taina-version-id").is_empty());
    assert_eq!(download(&server, &token, &node_id).await, bytes);

    // HEAD still answers for a complete upload, with the file.
    let head = offset_of(&server, &token, &url).await;
    assert_eq!(header(&head, "upload-offset"), "300000");
    assert_eq!(header(&head, "taina-node-id"), node_id);
    let node = server
        .graphql(
            Some(&token),
            "query($id: ID!) { fileNode(id: $id) { name size } }",
            serde_json::json!({ "id": node_id }),
        )
        .await;
    assert_eq!(node["data"]["fileNode"]["name"], "report.bin", "{node}");
    assert_eq!(files_under(&server.data_dir.path().join("uploads/tus")), 0);
}

#[tokio::test]
async fn tus_termination_removes_the_partial_bytes() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let space = personal_space(&server, &token).await;
    let bytes = content(50_000, 1);
    let url = create(&server, &token, &space, "/cut.bin", bytes.len()).await;
    patch(&server, &token, &url, 0, &bytes[..20_000], &[]).await;
    let parts = server.data_dir.path().join("uploads/tus");
    assert_eq!(files_under(&parts), 1);
    let reply = tus(&server, &token, Method::DELETE, &url, &[], Vec::new()).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(header(&reply, "tus-resumable"), "1.0.0");
    assert_eq!(files_under(&parts), 0);
    assert_eq!(
        offset_of(&server, &token, &url).await.status,
        StatusCode::NOT_FOUND
    );
    let reply = patch(&server, &token, &url, 20_000, &bytes[20_000..], &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tus_creation_refuses_what_could_not_be_stored() {
    let server = TestServer::builder()
        .with_config(|c| c.media.max_upload_bytes = 1_000)
        .start()
        .await;
    let token = server.admin().await;
    let space = personal_space(&server, &token).await;
    let metadata = format!("spaceId {},filename {}", b64(&space), b64("a.bin"));
    let create_with = |length: &'static str, metadata: String| {
        let server = &server;
        let token = &token;
        async move {
            tus(
                server,
                token,
                Method::POST,
                "/api/files/tus/",
                &[("Upload-Length", length), ("Upload-Metadata", &metadata)],
                Vec::new(),
            )
            .await
        }
    };
    let too_big = create_with("1001", metadata.clone()).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_big.code(), "payload_too_large");
    let no_parent = create_with(
        "10",
        format!("spaceId {},path {}", b64(&space), b64("/nowhere/a.bin")),
    )
    .await;
    assert_eq!(no_parent.status, StatusCode::CONFLICT);
    assert_eq!(no_parent.code(), "parent_missing");
    let no_length = tus(
        &server,
        &token,
        Method::POST,
        "/api/files/tus/",
        &[("Upload-Metadata", &metadata)],
        Vec::new(),
    )
    .await;
    assert_eq!(no_length.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_length.code(), "invalid_header");
    let elsewhere = server.invited(&token, "caio@example.org", "member").await;
    let not_theirs = tus(
        &server,
        &elsewhere,
        Method::POST,
        "/api/files/tus/",
        &[("Upload-Length", "10"), ("Upload-Metadata", &metadata)],
        Vec::new(),
    )
    .await;
    assert_eq!(
        not_theirs.status,
        StatusCode::NOT_FOUND,
        "{}",
        not_theirs.body
    );

    server
        .execute_with_time(
            "UPDATE communities SET storage_quota_gb = 0 WHERE created_at < $1",
            chrono::Utc::now(),
        )
        .await;
    let over = create_with("10", metadata).await;
    assert_eq!(
        over.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        over.body
    );
    assert_eq!(over.code(), "quota_exceeded");
    assert_eq!(files_under(&server.data_dir.path().join("uploads/tus")), 0);
}

/// A PATCH whose connection drops after part of its body: what arrived is kept, the next
/// PATCH continues from there, also after the server restarted.
#[tokio::test]
async fn tus_resumes_after_a_cut_connection_and_a_restart() {
    let mut server = TestServer::start().await;
    let token = server.admin().await;
    let space = personal_space(&server, &token).await;
    let bytes = content(400_000, 3);
    let url = create(&server, &token, &space, "/film.bin", bytes.len()).await;

    // Announce the whole file, send 150 000 bytes, drop the connection.
    let address = server.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "PATCH {url} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Tus-Resumable: 1.0.0\r\nContent-Type: {OFFSET_STREAM}\r\nUpload-Offset: 0\r\n\
         Content-Length: {}\r\n\r\n",
        bytes.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(&bytes[..150_000]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);

    let mut offset = String::new();
    for _ in 0..100 {
        offset = header(&offset_of(&server, &token, &url).await, "upload-offset").to_string();
        if offset == "150000" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(offset, "150000", "the bytes before the cut are kept");

    server.restart().await;
    let head = offset_of(&server, &token, &url).await;
    assert_eq!(header(&head, "upload-offset"), "150000");
    let reply = patch(&server, &token, &url, 150_000, &bytes[150_000..], &[]).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let node_id = header(&reply, "taina-node-id").to_string();
    assert_eq!(download(&server, &token, &node_id).await, bytes);
}

/// creation-with-upload: the POST's body is the first chunk.
#[tokio::test]
async fn tus_creation_with_upload() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let bytes = content(10_000, 9);
    let metadata = format!("filename {}", b64("quick.bin"));
    let created = tus(
        &server,
        &token,
        Method::POST,
        "/api/files/tus/",
        &[
            ("Upload-Length", "10000"),
            ("Upload-Metadata", &metadata),
            ("Content-Type", OFFSET_STREAM),
        ],
        bytes.clone(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(header(&created, "upload-offset"), "10000");
    let node_id = header(&created, "taina-node-id").to_string();
    assert_eq!(download(&server, &token, &node_id).await, bytes);
}
