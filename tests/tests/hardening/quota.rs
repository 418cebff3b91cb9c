//! The storage quota while files stream, its error code, and concurrent reservations racing it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use taina_tests::hardening::{CREATE_UPLOAD, UPLOAD_PHOTO, WAIT};
use taina_tests::{bytes_under, files_under, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
