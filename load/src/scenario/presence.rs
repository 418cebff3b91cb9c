//! `presence`: N devices (sockets of the admin) join one conversation, whose topic tracks
//! presence, as fast as the server lets them (`--concurrency` joins in flight). Every socket
//! reads everything it is sent while the others join. Reports joins per second, the time until
//! the last device has its `presence_state`, the `presence_diff` frames (and bytes) and
//! `presence_summary` frames (a topic past `realtime.presence_list_limit`) all devices
//! received, and how many were closed on the way (slow consumers).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use taina_protocol::client::{Incoming, PhoenixClient};
use taina_protocol::phoenix::Payload;
use tokio::sync::Semaphore;

use super::{progress, Context, Counters};
use crate::report::Report;
use crate::stats::{add_latency, histogram};

#[derive(Default)]
struct Tally {
    diffs: AtomicU64,
    diff_bytes: AtomicU64,
    summaries: AtomicU64,
    closed: AtomicU64,
}

pub async fn run(ctx: &Context, devices: usize, concurrency: usize) -> anyhow::Result<Report> {
    let admin = ctx.admin()?;
    let member = ctx.seeder.members(admin, 1).await?;
    let others: Vec<String> = member.iter().map(|m| m.user_id.clone()).collect();
    let conversation = ctx.seeder.conversation(admin, &others).await?;
    let topic = format!("conversation:{conversation}");
    let counters = Arc::new(Counters::default());
    let _progress = progress("presence", counters.clone());
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(devices);
    for i in 0..devices {
        let (url, token, topic, options) = (
            ctx.ws_url.clone(),
            admin.token.clone(),
            topic.clone(),
            ctx.source(i),
        );
        let (tally, stop, gate, counters) =
            (tally.clone(), stop.clone(), gate.clone(), counters.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.expect("never closed");
            let began = Instant::now();
            let mut client =
                PhoenixClient::connect_with(&url, &[("token", token.as_str())], &options).await?;
            client
                .join(&topic, json!({ "device": format!("load-{i}") }))
                .await?;
            let joined = began.elapsed();
            drop(permit);
            let mut state_at = None;
            // Read until told to stop: a device that does not read would be a slow consumer.
            while !stop.load(Ordering::Relaxed) {
                match client.next_message(Duration::from_millis(200)).await {
                    // The join's own state (with its join_ref); a topic switching between
                    // listed and summarized sends every device another, without one.
                    Ok(Incoming::Message(m))
                        if m.event == "presence_state"
                            && m.join_ref.is_some()
                            && state_at.is_none() =>
                    {
                        state_at = Some(started.elapsed());
                        Counters::add(&counters.done, 1);
                    }
                    Ok(Incoming::Message(m)) if m.event == "presence_diff" => {
                        tally.diffs.fetch_add(1, Ordering::Relaxed);
                        let bytes = match &m.payload {
                            Payload::Json(value) => {
                                serde_json::to_vec(value).map_or(0, |b| b.len())
                            }
                            _ => 0,
                        };
                        tally.diff_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                        Counters::add(&counters.messages, 1);
                    }
                    Ok(Incoming::Message(m)) if m.event == "presence_summary" => {
                        tally.summaries.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Incoming::Closed { .. }) => {
                        tally.closed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    _ => {}
                }
            }
            let _ = client.close().await;
            anyhow::Ok((joined, state_at))
        }));
    }
    // Every device has its presence_state, then the last windows' diffs have arrived.
    let deadline = Instant::now() + Duration::from_secs(120);
    while counters.done.load(Ordering::Relaxed) < devices as u64
        && counters.failed.load(Ordering::Relaxed) == 0
        && Instant::now() < deadline
        && !tasks.iter().all(|t| t.is_finished())
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut join_times = histogram();
    let mut last_state = Duration::ZERO;
    let mut failed = 0u64;
    for task in tasks {
        match task.await? {
            Ok((joined, state_at)) => {
                join_times.record(joined.as_micros().max(1) as u64)?;
                last_state = last_state.max(state_at.unwrap_or(Duration::MAX));
            }
            Err(_) => failed += 1,
        }
    }
    let mut report = Report::new(
        "presence",
        json!({ "devices": devices, "concurrency": concurrency }),
    );
    report.add("joined", devices as u64 - failed);
    report.add("failed", failed);
    report.add(
        "closed while joining (slow consumers)",
        tally.closed.load(Ordering::Relaxed),
    );
    report.add("joins per second", devices as f64 / all_in.as_secs_f64());
    report.add(
        "seconds until the last presence_state",
        if last_state == Duration::MAX {
            f64::NAN
        } else {
            last_state.as_secs_f64()
        },
    );
    let diffs = tally.diffs.load(Ordering::Relaxed);
    report.add("presence_diff frames received", diffs);
    report.add(
        "presence_diff frames per device",
        diffs as f64 / devices.max(1) as f64,
    );
    report.add(
        "presence_diff MiB received",
        tally.diff_bytes.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0),
    );
    report.add(
        "presence_summary frames received",
        tally.summaries.load(Ordering::Relaxed),
    );
    add_latency(&mut report, "connect and join", &join_times);
    Ok(report)
}
