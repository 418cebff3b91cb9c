//! Media on an S3-compatible object store chosen by configuration.

use reqwest::StatusCode;
use serde_json::json;
use taina_tests::media::{get, jpeg, settled, sha256, upload};
use taina_tests::{files_under, TestServer};

#[tokio::test]
async fn an_s3_compatible_store_by_configuration() {
    let Ok(endpoint) = std::env::var("TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var("TEST_REQUIRE_FFMPEG").is_err(),
            "scripts/test starts an S3-compatible server and sets TEST_S3_ENDPOINT"
        );
        eprintln!("TEST_S3_ENDPOINT not set: the S3 backend is not exercised");
        return;
    };
    let bucket = format!("taina-{}", chrono::Utc::now().timestamp_micros());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "bucket: {}",
        created.status()
    );
    for (key, value) in [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
    ] {
        // Only the S3 store reads these; the other tests in this process do not.
        std::env::set_var(key, value);
    }
    let url = format!("s3://{bucket}/photos");
    let server = TestServer::builder()
        .with_config(move |c| c.media.object_store_url = Some(url))
        .start()
        .await;
    let token = server.admin().await;
    let bytes = jpeg(640, 480, 11);
    let reply = upload(&server, &token, "s3.jpg", bytes.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["photo"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        settled(&server, &token, &id).await["processingStatus"],
        "ready"
    );
    // Nothing under the local files directory: the bytes went to the bucket.
    assert_eq!(files_under(&server.data_dir.path().join("files")), 0);
    let listing = reqwest::get(format!("{endpoint}/{bucket}?list-type=2"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listing.contains(&format!("photos/blobs/{}/", &sha256(&bytes)[..2])),
        "{listing}"
    );
    assert!(
        listing.contains("thumb.jpg") && listing.contains("large.jpg"),
        "{listing}"
    );
    let original = get(
        &server,
        &format!("/api/media/{id}/original"),
        Some(&token),
        &[],
    )
    .await;
    assert_eq!(original.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let part = get(
        &server,
        &format!("/api/media/{id}/original"),
        Some(&token),
        &[("range", "bytes=10-19")],
    )
    .await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let again = upload(&server, &token, "again.jpg", bytes).await;
    assert_eq!(again.body["duplicate"], true);
    let deleted = server
        .graphql(
            Some(&token),
            "mutation($id: String!) { deletePhoto(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(deleted["data"]["deletePhoto"], true);
    let listing = reqwest::get(format!("{endpoint}/{bucket}?list-type=2"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listing.contains("photos/blobs/"), "{listing}");
}
