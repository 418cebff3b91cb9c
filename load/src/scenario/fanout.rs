//! `fanout`: N subscribers on one topic and one publisher, at a fixed rate or as fast as the
//! server takes; delivered messages per second, latency (one process, one clock) and loss.
//! Against Tainá (`system:alerts`) or the floor broadcast server, in the same shape.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::json;

use super::{progress, Context, Counters};
use crate::report::Report;
use crate::stats::{add_latency, histogram, now_us};
use crate::wire::{Receiver, Stamp};

/// The publication that tells receivers the run is over.
const END: u64 = u64::MAX;

async fn open(ctx: &Context, target: &str, floor_url: &str) -> anyhow::Result<Receiver> {
    match target {
        "floor" => Receiver::raw(floor_url).await,
        _ => Receiver::phoenix(&ctx.seeder.ws_url(), &ctx.admin.token, "system:alerts").await,
    }
}

pub async fn run(
    ctx: &Context,
    subscribers: usize,
    rate: u32,
    duration: u64,
    target: &str,
    floor_url: &str,
) -> anyhow::Result<Report> {
    anyhow::ensure!(
        target == "taina" || target == "floor",
        "target is taina or floor"
    );
    anyhow::ensure!(
        floor_url.starts_with("ws://127."),
        "the floor must be on loopback"
    );
    let counters = Arc::new(Counters::default());
    let guard = progress("fanout", counters.clone());
    let receivers: Vec<anyhow::Result<Receiver>> = stream::iter(0..subscribers)
        .map(|_| open(ctx, target, floor_url))
        .buffer_unordered(64)
        .collect()
        .await;
    let receivers: Vec<Receiver> = receivers.into_iter().collect::<anyhow::Result<_>>()?;
    let mut tasks = Vec::with_capacity(receivers.len());
    for mut receiver in receivers {
        let counters = counters.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let mut received = 0u64;
            let mut last_at = Instant::now();
            while let Some(stamp) = receiver.next(Duration::from_secs(duration + 10)).await {
                if stamp.n == END {
                    break;
                }
                received += 1;
                last_at = Instant::now();
                let _ = latency.record(now_us().saturating_sub(stamp.t).max(1));
                Counters::add(&counters.messages, 1);
            }
            (latency, received, last_at)
        }));
    }
    let mut publisher = open(ctx, target, floor_url).await?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(duration);
    let mut sent = 0u64;
    let mut ticker =
        (rate > 0).then(|| tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64)));
    while Instant::now() < deadline {
        if let Some(ticker) = ticker.as_mut() {
            ticker.tick().await;
        } else if sent.is_multiple_of(64) {
            // As fast as it goes, but let the runtime breathe.
            tokio::task::yield_now().await;
        }
        publisher
            .publish(Stamp {
                n: sent,
                t: now_us(),
            })
            .await?;
        sent += 1;
        publisher.drain().await;
    }
    let publish_time = started.elapsed();
    // Let the last publications arrive, then tell everyone to stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    publisher.publish(Stamp { n: END, t: 0 }).await?;
    let mut latency = histogram();
    let mut delivered = 0u64;
    let mut last_receipt = started;
    for task in tasks {
        let (h, n, last) = task.await?;
        latency.add(&h)?;
        delivered += n;
        last_receipt = last_receipt.max(last);
    }
    drop(guard);
    let expected = sent * subscribers as u64;
    let window = last_receipt.duration_since(started).max(publish_time);
    let mut report = Report::new(
        "fanout",
        json!({ "target": target, "subscribers": subscribers, "rate": rate, "duration": duration }),
    );
    report.add("published", sent);
    report.add(
        "publications per second",
        sent as f64 / publish_time.as_secs_f64(),
    );
    report.add("delivered", delivered);
    report.add("lost", expected.saturating_sub(delivered));
    report.add(
        "deliveries per second",
        delivered as f64 / window.as_secs_f64(),
    );
    add_latency(&mut report, "latency", &latency);
    Ok(report)
}
