//! Media end to end: the three upload paths, dedup, quota, bad content, renditions with Range
//! and ETag, access rules, albums, timeline, backup sync, and streaming with credits. Every
//! test image is generated here. Runs on both backends.

use std::io::Cursor as IoCursor;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use taina_protocol::chunk::Chunk;
use taina_protocol::client::{ClientError, Incoming, PhoenixClient};
use taina_protocol::phoenix::Payload;
use taina_tests::{files_under, Reply, TestServer};

const WAIT: Duration = Duration::from_secs(10);

/// A JPEG of `w`×`h` whose pixels depend on `seed` (so different seeds give different bytes).
fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x as u8).wrapping_add(seed), (y as u8) ^ seed, seed])
    });
    let mut out = IoCursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

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

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn upload(server: &TestServer, token: &str, name: &str, bytes: Vec<u8>) -> Reply {
    let form = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str("image/jpeg")
            .unwrap(),
    );
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

/// Waits until processing has settled the photo; returns it (GraphQL shape).
async fn settled(server: &TestServer, token: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reply = server
            .graphql(
                Some(token),
                "query($id: String!) { photo(id: $id) { id processingStatus processingError width height tags urls { original large thumb } } }",
                json!({ "id": id }),
            )
            .await;
        let photo = reply["data"]["photo"].clone();
        if photo["processingStatus"] != "pending" {
            return photo;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "photo {id} still pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = server.client.get(format!("{}{path}", server.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
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
async fn ranges_etags_and_access_rules() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let bytes = jpeg(200, 100, 5);
    let id = upload(&server, &token, "r.jpg", bytes.clone()).await.body["photo"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/media/{id}/original");

    let part = get(&server, &path, Some(&token), &[("range", "bytes=0-9")]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 0-9/{}", bytes.len())
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[..10]);
    let tail = get(&server, &path, Some(&token), &[("range", "bytes=-5")]).await;
    assert_eq!(
        tail.bytes().await.unwrap().as_ref(),
        &bytes[bytes.len() - 5..]
    );
    let beyond = get(
        &server,
        &path,
        Some(&token),
        &[("range", &format!("bytes={}-", bytes.len()))],
    )
    .await;
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        beyond.headers()["content-range"],
        format!("bytes */{}", bytes.len())
    );

    let full = get(&server, &path, Some(&token), &[]).await;
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    let etag = full.headers()["etag"].to_str().unwrap().to_string();
    assert!(full.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let cached = get(&server, &path, Some(&token), &[("if-none-match", &etag)]).await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    // A member of the same community sees it; another community and anonymous do not.
    let member = server.invited(&token, "member@example.org", "member").await;
    assert_eq!(
        get(&server, &path, Some(&member), &[]).await.status(),
        StatusCode::OK
    );
    server
        .state
        .auth
        .create_user(
            "stranger@example.org",
            "stranger pw".into(),
            taina::contexts::auth::Role::Admin,
            "Elsewhere",
        )
        .await
        .unwrap();
    let stranger = server.token("stranger@example.org", "stranger pw").await;
    for viewer in [Some(stranger.as_str()), None] {
        let reply = get(&server, &path, viewer, &[]).await;
        assert_eq!(reply.status(), StatusCode::NOT_FOUND);
    }
    let missing = get(
        &server,
        "/api/media/AAAAAAAAAAAAAAAAAAAAA/original",
        Some(&token),
        &[],
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let hidden = server
        .graphql(
            Some(&stranger),
            "query($id: String!) { photo(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(hidden["errors"][0]["extensions"]["code"], "not_found");
}

#[tokio::test]
async fn albums_timeline_tags_and_public_access() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let mut ids = Vec::new();
    for seed in 0..5 {
        let reply = upload(
            &server,
            &token,
            &format!("p{seed}.jpg"),
            jpeg(64, 48, seed * 10),
        )
        .await;
        ids.push(reply.body["photo"]["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        settled(&server, &token, id).await;
    }
    // Timeline pages: newest first, no overlap, all five.
    let query = "query($after: String) { photos(first: 2, after: $after) { nodes { id } endCursor hasNextPage } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = server
            .graphql(Some(&token), query, json!({ "after": after }))
            .await;
        let page = &page["data"]["photos"];
        for node in page["nodes"].as_array().unwrap() {
            seen.push(node["id"].as_str().unwrap().to_string());
        }
        if page["hasNextPage"] == false {
            break;
        }
        after = page["endCursor"].clone();
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    let bad_cursor = server
        .graphql(Some(&token), query, json!({ "after": "garbage!" }))
        .await;
    assert_eq!(
        bad_cursor["errors"][0]["extensions"]["code"],
        "invalid_input"
    );

    // Automatic tags: the upload year.
    let year = format!("year:{}", chrono::Utc::now().format("%Y"));
    let tagged = server
        .graphql(
            Some(&token),
            "query($t: String) { photos(tag: $t) { nodes { id tags } } }",
            json!({ "t": year }),
        )
        .await;
    assert_eq!(
        tagged["data"]["photos"]["nodes"].as_array().unwrap().len(),
        5,
        "{tagged}"
    );

    let created = server
        .graphql(
            Some(&token),
            "mutation { createAlbum(name: \"Vacation 2025\", description: \"sun\", isPublic: true) { id slug isPublic publicPath } }",
            json!({}),
        )
        .await;
    let album = &created["data"]["createAlbum"];
    assert_eq!(album["slug"], "vacation-2025");
    let album_id = album["id"].as_str().unwrap().to_string();
    assert_eq!(album["publicPath"], format!("/albums/{album_id}"));
    let duplicate = server
        .graphql(
            Some(&token),
            "mutation { createAlbum(name: \"Vacation 2025\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(duplicate["errors"][0]["extensions"]["code"], "slug_taken");
    for id in &ids[..2] {
        server
            .graphql(
                Some(&token),
                "mutation($a: String!, $p: String!) { addToAlbum(albumId: $a, photoId: $p) { photoCount } }",
                json!({ "a": album_id, "p": id }),
            )
            .await;
    }
    let cover = server
        .graphql(
            Some(&token),
            "mutation($a: String!, $p: String!) { setAlbumCover(albumId: $a, photoId: $p) { coverFileId photoCount } }",
            json!({ "a": album_id, "p": ids[0] }),
        )
        .await;
    assert_eq!(
        cover["data"]["setAlbumCover"],
        json!({ "coverFileId": ids[0], "photoCount": 2 })
    );
    let not_in_album = server
        .graphql(
            Some(&token),
            "mutation($a: String!, $p: String!) { setAlbumCover(albumId: $a, photoId: $p) { id } }",
            json!({ "a": album_id, "p": ids[4] }),
        )
        .await;
    assert_eq!(
        not_in_album["errors"][0]["extensions"]["code"],
        "invalid_input"
    );
    let in_album = server
        .graphql(
            Some(&token),
            "query($a: String) { photos(albumId: $a) { nodes { id } } }",
            json!({ "a": album_id }),
        )
        .await;
    assert_eq!(
        in_album["data"]["photos"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let by_slug = server
        .graphql(
            Some(&token),
            "{ album(slug: \"vacation-2025\") { name photoCount } albums { id } }",
            json!({}),
        )
        .await;
    assert_eq!(by_slug["data"]["album"]["photoCount"], 2);

    // Public album: readable without signing in, and its photos too (but not others).
    // By the community's slug (the first sign-up's default community is "Home") and the
    // album's, or by the album's id; a bare album slug names no album.
    let public = server.get("/albums/home/vacation-2025", None).await;
    assert_eq!(public.status, StatusCode::OK);
    let by_id = server.get(&format!("/albums/{album_id}"), None).await;
    assert_eq!(by_id.body, public.body);
    assert_eq!(public.body["photos"].as_array().unwrap().len(), 2);
    let public_photo = format!("/api/media/{}/thumb", ids[0]);
    assert_eq!(
        get(&server, &public_photo, None, &[]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&server, &format!("/api/media/{}/thumb", ids[4]), None, &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get("/albums/no-such-album", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get("/albums/vacation-2025", None).await.status,
        StatusCode::NOT_FOUND
    );

    // Removing, deleting.
    server
        .graphql(
            Some(&token),
            "mutation($a: String!, $p: String!) { removeFromAlbum(albumId: $a, photoId: $p) { photoCount coverFileId } }",
            json!({ "a": album_id, "p": ids[0] }),
        )
        .await;
    assert_eq!(
        get(&server, &public_photo, None, &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    let deleted = server
        .graphql(
            Some(&token),
            "mutation($id: String!) { deleteAlbum(id: $id) }",
            json!({ "id": album_id }),
        )
        .await;
    assert_eq!(deleted["data"]["deleteAlbum"], true);
    assert_eq!(
        server.get("/albums/home/vacation-2025", None).await.status,
        StatusCode::NOT_FOUND
    );
    let gone = server
        .graphql(
            Some(&token),
            "mutation($id: String!) { deletePhoto(id: $id) }",
            json!({ "id": ids[4] }),
        )
        .await;
    assert_eq!(gone["data"]["deletePhoto"], true);
    assert_eq!(
        get(
            &server,
            &format!("/api/media/{}/original", ids[4]),
            Some(&token),
            &[]
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn backup_sync_reports_what_is_missing() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let have = jpeg(30, 30, 1);
    upload(&server, &token, "have.jpg", have.clone()).await;
    let missing_hash = sha256(b"something else");
    let reply = server
        .post(
            "/api/media/backup/check",
            json!({ "hashes": [sha256(&have), missing_hash] }),
            Some(&token),
        )
        .await;
    assert_eq!(reply.body, json!({ "missing": [missing_hash] }));
    let bad = server
        .post(
            "/api/media/backup/check",
            json!({ "hashes": ["xyz"] }),
            Some(&token),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut events = server.state.bus.subscribe();
    let done = server
        .post(
            "/api/media/backup/completed",
            json!({ "device": "phone", "uploaded": 1, "skipped": 1 }),
            Some(&token),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT);
    assert_eq!(events.recv().await.unwrap().kind, "media.backup.completed");
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

#[tokio::test]
async fn streaming_to_a_tv_respects_credit_seek_and_resume() {
    let server = TestServer::builder()
        .with_config(|c| c.media.stream_chunk_bytes = 4096)
        .start()
        .await;
    let token = server.admin().await;
    let bytes = jpeg(900, 700, 6);
    let id = upload(&server, &token, "movie.jpg", bytes.clone())
        .await
        .body["photo"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let topic = format!("stream:{id}");
    let mut tv = server.socket(&token).await;
    let joined = tv.join(&topic, json!({ "credit": 0 })).await.unwrap();
    assert_eq!(joined["size"], bytes.len());
    // No credit, no data.
    assert!(matches!(
        tv.next_message(Duration::from_millis(300)).await,
        Err(ClientError::Timeout(_))
    ));
    tv.push(&topic, "credit", json!({ "bytes": 10_000 }))
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut total = 0u64;
    let read_data = |m: Message| -> Chunk {
        let Payload::Binary(data) = m.payload else {
            panic!("binary data expected")
        };
        Chunk::decode(&data).unwrap()
    };
    loop {
        match tv.next_message(Duration::from_millis(300)).await {
            Ok(Incoming::Message(m)) if m.event == "data" => {
                let chunk = read_data(m);
                assert_eq!(chunk.offset, total);
                total += chunk.data.len() as u64;
                received.extend(chunk.data);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(total, 10_000, "exactly the credit granted");
    // Pause holds even with credit.
    tv.push(&topic, "pause", json!({})).await.unwrap();
    tv.push(&topic, "credit", json!({ "bytes": 1_000_000 }))
        .await
        .unwrap();
    assert!(matches!(
        tv.next_message(Duration::from_millis(300)).await,
        Err(ClientError::Timeout(_))
    ));
    tv.push(&topic, "resume", json!({})).await.unwrap();
    let mut ended = false;
    while !ended {
        match tv.next_message(WAIT).await.unwrap() {
            Incoming::Message(m) if m.event == "data" => {
                let chunk = read_data(m);
                assert_eq!(chunk.offset, total);
                total += chunk.data.len() as u64;
                received.extend(chunk.data);
            }
            Incoming::Message(m) if m.event == "end" => ended = true,
            _ => {}
        }
    }
    assert_eq!(received, bytes);
    // Seek back and resume from an offset after a reconnect.
    assert!(matches!(
        tv.push(&topic, "seek", json!({ "offset": bytes.len() + 1 }))
            .await,
        Err(ClientError::Refused(_))
    ));
    drop(tv);
    let mut tv = server.socket(&token).await;
    let offset = bytes.len() as u64 - 100;
    tv.join(&topic, json!({ "offset": offset, "credit": 100 }))
        .await
        .unwrap();
    let m = tv.expect_event(&topic, "data", WAIT).await.unwrap();
    let chunk = read_data(m);
    assert_eq!(chunk.offset, offset);
    assert_eq!(chunk.data, bytes[offset as usize..]);
    // A photo of another community cannot be streamed.
    server
        .state
        .auth
        .create_user(
            "x@example.org",
            "x password".into(),
            taina::contexts::auth::Role::Admin,
            "Elsewhere",
        )
        .await
        .unwrap();
    let stranger = server.token("x@example.org", "x password").await;
    let mut theirs = server.socket(&stranger).await;
    assert!(matches!(
        theirs.join(&topic, json!({})).await,
        Err(ClientError::Refused(_))
    ));
    let _ = PhoenixClient::connect;
}

use taina_protocol::phoenix::Message;

#[tokio::test]
async fn videos_get_duration_dimensions_and_a_poster() {
    let have_ffmpeg = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok();
    if !have_ffmpeg {
        assert!(
            std::env::var("TEST_REQUIRE_FFMPEG").is_err(),
            "ffmpeg is required here (scripts/test installs it)"
        );
        eprintln!("ffmpeg not installed: video processing not exercised");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=2:size=320x240:rate=10",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let server = TestServer::start().await;
    let token = server.admin().await;
    let reply = upload(&server, &token, "clip.mp4", std::fs::read(&path).unwrap()).await;
    assert_eq!(
        reply.body["photo"]["mime_type"], "video/mp4",
        "{}",
        reply.body
    );
    let id = reply.body["photo"]["id"].as_str().unwrap().to_string();
    let video = settled(&server, &token, &id).await;
    assert_eq!(video["processingStatus"], "ready", "{video}");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert!(video["tags"].as_array().unwrap().contains(&json!("video")));
    let details = server
        .graphql(
            Some(&token),
            "query($id: String!) { photo(id: $id) { durationMs } }",
            json!({ "id": id }),
        )
        .await;
    let duration = details["data"]["photo"]["durationMs"].as_u64().unwrap();
    assert!((1800..=2200).contains(&duration), "{duration}");
    let poster = get(
        &server,
        &format!("/api/media/{id}/thumb"),
        Some(&token),
        &[],
    )
    .await;
    let poster = image::load_from_memory(&poster.bytes().await.unwrap()).unwrap();
    assert_eq!(poster.width(), 256);
}

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
