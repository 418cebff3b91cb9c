//! Videos: probing, posters, and streaming to a TV with credits, seek and resume.

use std::time::Duration;

use serde_json::json;
use taina_protocol::chunk::Chunk;
use taina_protocol::client::{ClientError, Incoming, PhoenixClient};
use taina_protocol::phoenix::Message;
use taina_protocol::phoenix::Payload;
use taina_tests::media::{get, jpeg, settled, upload, WAIT};
use taina_tests::TestServer;

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
