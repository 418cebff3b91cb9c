//! Measures what `docs/performance.md` reports for transfers: socket upload throughput, and
//! the chat round trip on a socket with and without a stream running on the same socket.
//!
//! `cargo run --release -p taina-tests --example transfer [-- MiB]` (default 32 MiB). The server
//! runs in-process on loopback with a fresh SQLite data directory; figures go to stdout.

use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};
use taina_protocol::chunk::Chunk;
use taina_protocol::client::{Incoming, PhoenixClient};
use taina_protocol::phoenix::{event, Payload};
use taina_tests::TestServer;

const CHUNK: usize = 256 * 1024;
const WINDOW: usize = 4;
const SAMPLES: usize = 300;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3
    )
}

/// A chat round trip: push `new_msg`, wait for its reply; stream data arriving meanwhile is
/// counted and dropped.
async fn chat_round_trip(
    client: &mut PhoenixClient,
    topic: &str,
    n: usize,
    received: &mut u64,
) -> Duration {
    let started = Instant::now();
    let msg_ref = client
        .push_no_reply(topic, "new_msg", json!({ "body": format!("ping {n}") }))
        .await
        .unwrap();
    loop {
        match client.next_message(Duration::from_secs(10)).await.unwrap() {
            Incoming::Message(m)
                if m.event == event::REPLY && m.msg_ref.as_deref() == Some(msg_ref.as_str()) =>
            {
                return started.elapsed();
            }
            Incoming::Message(m) if m.event == "data" => {
                if let Payload::Binary(data) = m.payload {
                    *received += Chunk::decode(&data)
                        .map(|c| c.data.len() as u64)
                        .unwrap_or(0);
                }
            }
            Incoming::Message(_) => {}
            Incoming::Closed { code, reason } => panic!("closed {code} {reason}"),
        }
    }
}

#[tokio::main]
async fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(32);
    let server = TestServer::builder()
        .with_config(|c| {
            c.realtime.messages_per_second = 100_000;
            c.realtime.message_burst = 100_000;
            c.realtime.max_binary_frame_bytes = 2 * CHUNK;
        })
        .start()
        .await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let me = server.user_id(&admin).await;
    let member_id = server.user_id(&member).await;

    // A PNG signature then noise: accepted as a PNG, `mib` MiB.
    let mut file = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut state = 0x2545_F491_u32;
    file.extend((0..mib * 1024 * 1024).map(|_| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as u8
    }));
    let sha = hex::encode(Sha256::digest(&file));

    let mut socket = server.socket(&admin).await;
    let user_topic = format!("user:{me}");
    socket.join(&user_topic, json!({})).await.unwrap();
    let created = socket
        .push(
            &user_topic,
            "create_upload",
            json!({ "filename": "big.png", "size": file.len(), "sha256": sha }),
        )
        .await
        .unwrap();
    let Payload::Json(created) = created.response else {
        panic!()
    };
    let topic = created["topic"].as_str().unwrap().to_string();
    socket.join(&topic, json!({})).await.unwrap();

    let started = Instant::now();
    let mut offset = 0usize;
    let mut in_flight = std::collections::VecDeque::new();
    let mut photo_id = None;
    while offset < file.len() || !in_flight.is_empty() {
        while in_flight.len() < WINDOW && offset < file.len() {
            let end = (offset + CHUNK).min(file.len());
            let frame = Chunk {
                offset: offset as u64,
                data: file[offset..end].to_vec(),
            }
            .encode();
            let join_ref = socket.join_ref(&topic).unwrap().to_string();
            let msg_ref = format!("u{offset}");
            let raw = taina_protocol::phoenix::encode_client_binary(
                Some(&join_ref),
                Some(&msg_ref),
                &topic,
                "chunk",
                &frame,
            )
            .unwrap();
            socket.send_binary(raw).await.unwrap();
            in_flight.push_back(msg_ref);
            offset = end;
        }
        match socket.next_message(Duration::from_secs(30)).await.unwrap() {
            Incoming::Message(m)
                if m.event == event::REPLY
                    && m.msg_ref.as_deref() == in_flight.front().map(String::as_str) =>
            {
                in_flight.pop_front();
                if let Payload::Json(reply) = m.payload {
                    assert_eq!(reply["status"], "ok", "{reply}");
                    if reply["response"]["done"] == true {
                        photo_id = reply["response"]["photo"]["id"]
                            .as_str()
                            .map(str::to_string);
                    }
                }
            }
            Incoming::Message(_) => {}
            Incoming::Closed { code, reason } => panic!("closed {code} {reason}"),
        }
    }
    let upload_time = started.elapsed();
    let photo_id = photo_id.expect("upload finished");
    println!(
        "socket upload: {mib} MiB in {:.2} s = {:.1} MiB/s ({} KiB chunks, window {WINDOW})",
        upload_time.as_secs_f64(),
        mib as f64 / upload_time.as_secs_f64(),
        CHUNK / 1024
    );

    // Chat round trips on the TV's socket, idle, then while the file streams to it.
    let created = server
        .post(
            "/api/chat/conversations",
            json!({ "kind": "direct", "participant_ids": [member_id] }),
            Some(&admin),
        )
        .await;
    let chat = format!("conversation:{}", created.body["id"].as_str().unwrap());
    let mut tv = server.socket(&admin).await;
    tv.join(&chat, json!({})).await.unwrap();
    let mut received = 0u64;
    let mut idle = Vec::with_capacity(SAMPLES);
    for n in 0..SAMPLES {
        idle.push(chat_round_trip(&mut tv, &chat, n, &mut received).await);
    }
    let mut idle_beats = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        idle_beats.push(tv.heartbeat().await.unwrap());
    }
    let stream = format!("stream:{photo_id}");
    tv.join(&stream, json!({ "credit": 4 * 1024 * 1024 }))
        .await
        .unwrap();
    let stream_started = Instant::now();
    let mut busy = Vec::with_capacity(SAMPLES);
    for n in 0..SAMPLES {
        busy.push(chat_round_trip(&mut tv, &chat, n, &mut received).await);
        // Keep the stream fed: grant what was consumed.
        tv.push_no_reply(&stream, "credit", json!({ "bytes": 256 * 1024 }))
            .await
            .unwrap();
    }
    let mut busy_beats = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        busy_beats.push(tv.heartbeat().await.unwrap());
        tv.push_no_reply(&stream, "credit", json!({ "bytes": 64 * 1024 }))
            .await
            .unwrap();
        while let Ok(Incoming::Message(m)) = tv.next_message(Duration::ZERO).await {
            if let (true, Payload::Binary(data)) = (m.event == "data", m.payload) {
                received += Chunk::decode(&data)
                    .map(|c| c.data.len() as u64)
                    .unwrap_or(0);
            }
        }
    }
    let streamed_for = stream_started.elapsed();
    println!(
        "heartbeat round trip, idle socket:     {}",
        summary(idle_beats)
    );
    println!(
        "heartbeat round trip, while streaming: {}",
        summary(busy_beats)
    );
    println!("chat round trip, idle socket:      {}", summary(idle));
    println!("chat round trip, while streaming:  {}", summary(busy));
    println!(
        "streamed meanwhile: {:.1} MiB in {:.2} s = {:.1} MiB/s",
        received as f64 / 1048576.0,
        streamed_for.as_secs_f64(),
        received as f64 / 1048576.0 / streamed_for.as_secs_f64()
    );
    server.stop().await;
}
