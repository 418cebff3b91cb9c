//! `transfer`: binary frames with chat latency sampled alongside. One socket uploads a file
//! in 256 KiB MessagePack chunks with a window of 4 in flight; then a "TV" socket measures
//! chat round trips (`new_msg` → stored → reply) and heartbeats, first idle, then while the
//! same file streams to that very socket under credit-based flow control.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use hdrhistogram::Histogram;
use serde_json::json;
use sha2::{Digest, Sha256};
use taina_protocol::chunk::Chunk;
use taina_protocol::client::{Incoming, PhoenixClient};
use taina_protocol::phoenix::{encode_client_binary, event, Payload};

use super::Context;
use crate::report::Report;
use crate::stats::{add_latency, histogram};

const CHUNK: usize = 256 * 1024;
const WINDOW: usize = 4;

/// A PNG signature then noise (accepted as a PNG, never deduplicated against earlier runs).
fn file_of(mib: usize) -> Vec<u8> {
    let mut file = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut state = crate::stats::now_us() as u32 | 1;
    file.extend((0..mib * 1024 * 1024).map(|_| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as u8
    }));
    file
}

/// Uploads `file` over `socket`; returns the photo id.
async fn upload(
    socket: &mut PhoenixClient,
    user_topic: &str,
    file: &[u8],
) -> anyhow::Result<String> {
    let sha = hex::encode(Sha256::digest(file));
    let created = socket
        .push(
            user_topic,
            "create_upload",
            json!({ "filename": "load.png", "size": file.len(), "sha256": sha }),
        )
        .await?;
    let Payload::Json(created) = created.response else {
        bail!("create_upload answered in binary")
    };
    let topic = created["topic"]
        .as_str()
        .context("create_upload gave no topic")?
        .to_string();
    socket.join(&topic, json!({})).await?;
    let join_ref = socket.join_ref(&topic).context("not joined")?.to_string();
    let mut offset = 0usize;
    let mut in_flight = VecDeque::new();
    loop {
        while in_flight.len() < WINDOW && offset < file.len() {
            let end = (offset + CHUNK).min(file.len());
            let chunk = Chunk {
                offset: offset as u64,
                data: file[offset..end].to_vec(),
            }
            .encode();
            let msg_ref = format!("u{offset}");
            socket
                .send_binary(encode_client_binary(
                    Some(&join_ref),
                    Some(&msg_ref),
                    &topic,
                    "chunk",
                    &chunk,
                )?)
                .await?;
            in_flight.push_back(msg_ref);
            offset = end;
        }
        match socket.next_message(Duration::from_secs(30)).await? {
            Incoming::Message(m)
                if m.event == event::REPLY
                    && m.msg_ref.as_deref() == in_flight.front().map(String::as_str) =>
            {
                in_flight.pop_front();
                let Payload::Json(reply) = m.payload else {
                    continue;
                };
                if reply["status"] != "ok" {
                    bail!("chunk refused: {reply}");
                }
                if reply["response"]["done"] == true {
                    return reply["response"]["photo"]["id"]
                        .as_str()
                        .map(str::to_string)
                        .context("the finished upload named no photo");
                }
            }
            Incoming::Message(_) => {}
            Incoming::Closed { code, reason } => bail!("closed {code} {reason}"),
        }
    }
}

/// One chat round trip; stream data arriving meanwhile is counted and dropped.
async fn chat_round_trip(
    tv: &mut PhoenixClient,
    chat: &str,
    streamed: &mut u64,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let msg_ref = tv
        .push_no_reply(chat, "new_msg", json!({ "body": "ping" }))
        .await?;
    loop {
        match tv.next_message(Duration::from_secs(10)).await? {
            Incoming::Message(m)
                if m.event == event::REPLY && m.msg_ref.as_deref() == Some(msg_ref.as_str()) =>
            {
                return Ok(started.elapsed());
            }
            Incoming::Message(m) => *streamed += stream_bytes(&m.event, &m.payload),
            Incoming::Closed { code, reason } => bail!("closed {code} {reason}"),
        }
    }
}

fn stream_bytes(event: &str, payload: &Payload) -> u64 {
    match (event, payload) {
        ("data", Payload::Binary(data)) => Chunk::decode(data)
            .map(|c| c.data.len() as u64)
            .unwrap_or(0),
        _ => 0,
    }
}

fn record(h: &mut Histogram<u64>, took: Duration) {
    let _ = h.record(took.as_micros().max(1) as u64);
}

pub async fn run(ctx: &Context, mib: usize, samples: usize) -> anyhow::Result<Report> {
    anyhow::ensure!((1..=1024).contains(&mib), "--mib is between 1 and 1024");
    let admin = ctx.admin()?;
    let member = ctx.seeder.members(admin, 1).await?.remove(0);
    let chat = format!(
        "conversation:{}",
        ctx.seeder.conversation(admin, &[member.user_id]).await?
    );
    let user_topic = format!("user:{}", admin.user_id);
    let file = file_of(mib);

    let mut uploader =
        PhoenixClient::connect_with(&ctx.ws_url, &[("token", &admin.token)], &ctx.source(0))
            .await?;
    uploader.join(&user_topic, json!({})).await?;
    let started = Instant::now();
    let photo = upload(&mut uploader, &user_topic, &file).await?;
    let upload_time = started.elapsed();
    let _ = uploader.close().await;

    let mut tv =
        PhoenixClient::connect_with(&ctx.ws_url, &[("token", &admin.token)], &ctx.source(1))
            .await?;
    tv.join(&chat, json!({})).await?;
    let mut streamed = 0u64;
    let (mut chat_idle, mut beat_idle) = (histogram(), histogram());
    for _ in 0..samples {
        record(
            &mut chat_idle,
            chat_round_trip(&mut tv, &chat, &mut streamed).await?,
        );
    }
    for _ in 0..samples {
        record(&mut beat_idle, tv.heartbeat().await?);
    }
    let stream = format!("stream:{photo}");
    tv.join(&stream, json!({ "credit": 4 * 1024 * 1024 }))
        .await?;
    let stream_started = Instant::now();
    let (mut chat_busy, mut beat_busy) = (histogram(), histogram());
    for _ in 0..samples {
        record(
            &mut chat_busy,
            chat_round_trip(&mut tv, &chat, &mut streamed).await?,
        );
        // Keep the stream fed: grant what was consumed.
        tv.push_no_reply(&stream, "credit", json!({ "bytes": CHUNK }))
            .await?;
    }
    for _ in 0..samples {
        record(&mut beat_busy, tv.heartbeat().await?);
        tv.push_no_reply(&stream, "credit", json!({ "bytes": 64 * 1024 }))
            .await?;
        while let Ok(Incoming::Message(m)) = tv.next_message(Duration::ZERO).await {
            streamed += stream_bytes(&m.event, &m.payload);
        }
    }
    let streamed_for = stream_started.elapsed();
    let _ = tv.close().await;

    let mut report = Report::new(
        "transfer",
        json!({ "mib": mib, "samples": samples, "chunk_kib": CHUNK / 1024, "window": WINDOW }),
    );
    report.add("upload seconds", upload_time.as_secs_f64());
    report.add("upload MiB/s", mib as f64 / upload_time.as_secs_f64());
    report.add("streamed MiB", streamed as f64 / 1048576.0);
    report.add(
        "stream MiB/s (while sampling)",
        streamed as f64 / 1048576.0 / streamed_for.as_secs_f64(),
    );
    add_latency(&mut report, "chat idle", &chat_idle);
    add_latency(&mut report, "chat while streaming", &chat_busy);
    add_latency(&mut report, "heartbeat idle", &beat_idle);
    add_latency(&mut report, "heartbeat while streaming", &beat_busy);
    Ok(report)
}
