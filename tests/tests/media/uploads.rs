//! Multipart and GraphQL uploads: processing, renditions, dedup, bad content, quota and size
//! limits, the photo.uploaded subscription.

use std::io::Cursor as IoCursor;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use taina_tests::media::{get, jpeg, settled, sha256, upload, WAIT};
use taina_tests::{files_under, TestServer};

fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([seed, x as u8, y as u8, 255]));
    let mut out = IoCursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// A PNG that declares 100000×100000 pixels but carries almost no data.
fn png_bomb() -> Vec<u8> {
    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
        out
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    out.extend(chunk(b"IHDR", &ihdr));
    out.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    out.extend(chunk(b"IEND", &[]));
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in data {
        crc ^= *byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn multipart_upload_processing_renditions_and_dedup() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let bytes = jpeg(1600, 1200, 7);
    let reply = upload(&server, &token, "../../etc/holiday.jpg", bytes.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let photo = &reply.body["photo"];
    assert_eq!(photo["filename"], "holiday.jpg");
    assert_eq!(photo["mime_type"], "image/jpeg");
    assert_eq!(photo["file_size_bytes"], bytes.len());
    assert_eq!(photo["content_hash"], sha256(&bytes));
    let id = photo["id"].as_str().unwrap().to_string();

    let ready = settled(&server, &token, &id).await;
    assert_eq!(ready["processingStatus"], "ready", "{ready}");
    assert_eq!(
        (ready["width"].as_u64(), ready["height"].as_u64()),
        (Some(1600), Some(1200))
    );

    let thumb = get(
        &server,
        &format!("/api/media/{id}/thumb"),
        Some(&token),
        &[],
    )
    .await;
    assert_eq!(thumb.status(), StatusCode::OK);
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    let thumb = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (256, 192));
    let large = get(
        &server,
        &format!("/api/media/{id}/large"),
        Some(&token),
        &[],
    )
    .await;
    let large = image::load_from_memory(&large.bytes().await.unwrap()).unwrap();
    assert_eq!((large.width(), large.height()), (1280, 960));
    let original = get(
        &server,
        &format!("/api/media/{id}/original"),
        Some(&token),
        &[],
    )
    .await;
    assert_eq!(original.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // The same bytes again: the same photo, stored once.
    let again = upload(&server, &token, "copy.jpg", bytes.clone()).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(again.body["photo"]["id"], id.as_str());
    let blobs = files_under(&server.data_dir.path().join("files/blobs"));
    assert_eq!(blobs, 1, "one blob for one content");
    // Nothing is left in the temporary directory.
    assert_eq!(files_under(&server.data_dir.path().join("tmp")), 0);
}

#[tokio::test]
async fn bad_content_is_refused_or_marked_failed_and_the_server_carries_on() {
    let server = TestServer::start().await;
    let token = server.admin().await;

    // Text claiming to be a JPEG.
    let spoofed = upload(
        &server,
        &token,
        "photo.jpg",
        b"definitely not an image".to_vec(),
    )
    .await;
    assert_eq!(
        (spoofed.status, spoofed.body["error"]["code"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_type"))
    );
    // A PNG named .jpg is a PNG.
    let png_as_jpg = upload(&server, &token, "really.jpg", png(40, 30, 1)).await;
    assert_eq!(png_as_jpg.body["photo"]["mime_type"], "image/png");

    // Truncated JPEG: stored, then marked failed with a reason.
    let mut truncated = jpeg(400, 300, 3);
    truncated.truncate(truncated.len() / 3);
    let reply = upload(&server, &token, "broken.jpg", truncated).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let failed = settled(&server, &token, reply.body["photo"]["id"].as_str().unwrap()).await;
    assert_eq!(failed["processingStatus"], "failed", "{failed}");
    assert!(failed["processingError"].as_str().unwrap().len() > 3);
    assert_eq!(failed["urls"]["thumb"], Value::Null);

    // A decompression bomb is refused by the decoder limits.
    let reply = upload(&server, &token, "bomb.png", png_bomb()).await;
    let bomb = settled(&server, &token, reply.body["photo"]["id"].as_str().unwrap()).await;
    assert_eq!(bomb["processingStatus"], "failed");
    assert!(
        bomb["processingError"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("large"),
        "{bomb}"
    );

    // A missing file part, a non-multipart body.
    let no_file = server
        .send(
            server
                .client
                .post(format!("{}/api/media", server.url))
                .bearer_auth(&token)
                .multipart(Form::new().text("x", "y")),
        )
        .await;
    assert_eq!(no_file.body["error"]["code"], "missing_file");
    let not_multipart = server.post("/api/media", json!({}), Some(&token)).await;
    assert_eq!(not_multipart.status, StatusCode::BAD_REQUEST);

    // Still healthy, and a good photo still processes.
    let good = upload(&server, &token, "ok.jpg", jpeg(300, 200, 9)).await;
    assert_eq!(
        settled(&server, &token, good.body["photo"]["id"].as_str().unwrap()).await
            ["processingStatus"],
        "ready"
    );
}

#[tokio::test]
async fn quota_and_size_limits_refuse_before_storing() {
    let server = TestServer::builder()
        .with_config(|c| c.media.max_upload_bytes = 3_000)
        .start()
        .await;
    let token = server.admin().await;
    let too_big = upload(&server, &token, "big.jpg", jpeg(400, 300, 1)).await;
    assert_eq!(
        too_big.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        too_big.body
    );
    server
        .execute_with_time(
            "UPDATE communities SET storage_quota_gb = 0 WHERE created_at < $1",
            chrono::Utc::now(),
        )
        .await;
    let over = upload(&server, &token, "small.jpg", jpeg(20, 20, 1)).await;
    assert_eq!(
        over.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        over.body
    );
    assert_eq!(over.body["error"]["code"], "quota_exceeded");
    assert_eq!(files_under(&server.data_dir.path().join("files/blobs")), 0);
    assert_eq!(files_under(&server.data_dir.path().join("tmp")), 0);
}

#[tokio::test]
async fn graphql_multipart_upload() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let bytes = png(50, 40, 2);
    let operations = json!({ "query": "mutation($file: Upload!) { uploadPhoto(file: $file) { id mimeType fileSizeBytes } }", "variables": { "file": null } });
    let form = Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part("0", Part::bytes(bytes.clone()).file_name("g.png"));
    let reply = server.graphql_multipart(Some(&token), form).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["data"]["uploadPhoto"]["mimeType"], "image/png",
        "{}",
        reply.body
    );
    assert_eq!(
        reply.body["data"]["uploadPhoto"]["fileSizeBytes"],
        bytes.len()
    );
}

#[tokio::test]
async fn photo_uploaded_reaches_graphql_subscribers_when_ready() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message as Ws;
    let server = TestServer::start().await;
    let token = server.admin().await;
    let mut request = server.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let next_json = async |socket: &mut tokio_tungstenite::WebSocketStream<_>| -> Value {
        loop {
            match tokio::time::timeout(WAIT, socket.next()).await.unwrap() {
                Some(Ok(Ws::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("{other:?}"),
            }
        }
    };
    socket
        .send(Ws::text(
            json!({ "type": "connection_init", "payload": { "token": token } }).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    socket
        .send(Ws::text(
            json!({ "id": "p", "type": "subscribe", "payload": { "query": "subscription { photoUploaded { id processingStatus width } }" } })
                .to_string(),
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = upload(&server, &token, "sub.jpg", jpeg(120, 80, 3))
        .await
        .body["photo"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let event = next_json(&mut socket).await;
    assert_eq!(
        event["payload"]["data"]["photoUploaded"],
        json!({ "id": id, "processingStatus": "ready", "width": 120 })
    );
}
