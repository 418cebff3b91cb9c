//! `fanout`: N subscribers on one topic and one publisher, at a fixed rate or as fast as the
//! target takes; delivered messages per second, latency (one process, one clock) and loss.
//! On Tainá the topic is `system:alerts` (Phoenix or mux); the peers get the same shape.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::json;

use super::{progress, Context, Counters};
use crate::chart::Timeline;
use crate::report::Report;
use crate::stats::{add_latency, histogram, now_us};
use crate::target::{Mode, Target};
use crate::wire::{Link, Stamp};

/// The publication that tells receivers the run is over.
const END: u64 = u64::MAX;
/// The topic (room) every subscriber is on.
const TOPIC: &str = "system:alerts";
/// Publications in flight (sent, not yet acknowledged) when publishing as fast as it goes.
const WINDOW: u64 = 32;
/// How long after publishing ends deliveries still count; later ones are lost.
const GRACE: Duration = Duration::from_secs(10);

pub async fn run(
    ctx: &Context,
    target: &Target,
    subscribers: usize,
    rate: u32,
    duration: u64,
) -> anyhow::Result<(Report, Timeline)> {
    anyhow::ensure!(
        *target != Target::Taina(Mode::Graphql),
        "fanout over GraphQL: Tainá's GraphQL subscriptions are per conversation (measure them with rooms)"
    );
    let counters = Arc::new(Counters::default());
    let guard = progress("fanout", counters.clone());
    let token = ctx.admin_token();
    let receivers: Vec<anyhow::Result<Link>> = stream::iter(0..subscribers)
        .map(|i| async move {
            Link::open(target, ctx.ws_url_for(i), token, TOPIC, &ctx.source(i)).await
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let receivers: Vec<Link> = receivers.into_iter().collect::<anyhow::Result<_>>()?;
    // Subscriptions that a server acknowledges asynchronously get a moment to settle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    // Every receiver stops by then, whatever is still on its way.
    let hard_stop = started + Duration::from_secs(duration) + GRACE;
    let mut tasks = Vec::with_capacity(receivers.len());
    for mut receiver in receivers {
        let counters = counters.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let mut timeline = Timeline::default();
            let mut received = 0u64;
            let mut last_at = Instant::now();
            while let Some(body) = receiver
                .next(hard_stop.saturating_duration_since(Instant::now()))
                .await
            {
                let Some(stamp) = Stamp::decode(&body) else {
                    continue;
                };
                if stamp.n == END {
                    break;
                }
                received += 1;
                last_at = Instant::now();
                let took = now_us().saturating_sub(stamp.t).max(1);
                let _ = latency.record(took);
                timeline.record(started, took);
                Counters::add(&counters.messages, 1);
            }
            receiver.close().await;
            (latency, timeline, received, last_at)
        }));
    }
    let mut publisher =
        Link::open(target, &ctx.ws_url, token, TOPIC, &ctx.source(subscribers)).await?;
    let publishing = Instant::now();
    let deadline = publishing + Duration::from_secs(duration);
    let mut sent = 0u64;
    let mut ticker =
        (rate > 0).then(|| tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64)));
    while Instant::now() < deadline {
        if let Some(ticker) = ticker.as_mut() {
            ticker.tick().await;
        } else {
            // As fast as the server takes: a bounded window of unacknowledged publications.
            while publisher.unacknowledged() >= WINDOW && Instant::now() < deadline {
                publisher.next(Duration::from_millis(10)).await;
            }
            if sent.is_multiple_of(64) {
                tokio::task::yield_now().await;
            }
        }
        publisher
            .publish(
                &Stamp {
                    n: sent,
                    t: now_us(),
                }
                .encode(),
            )
            .await?;
        sent += 1;
        publisher.drain().await;
    }
    let publish_time = publishing.elapsed();
    // Let the last publications arrive, then tell everyone to stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    publisher.publish(&Stamp { n: END, t: 0 }.encode()).await?;
    let mut latency = histogram();
    let mut timeline = Timeline::default();
    let mut delivered = 0u64;
    let mut last_receipt = publishing;
    for task in tasks {
        let (h, t, n, last) = task.await?;
        latency.add(&h)?;
        timeline.merge(t);
        delivered += n;
        last_receipt = last_receipt.max(last);
    }
    publisher.close().await;
    drop(guard);
    // The publisher is subscribed too (it must be, on some targets, to publish at all), but
    // only the receivers' deliveries count. What arrived after the grace period is lost.
    let expected = sent * subscribers as u64;
    let window = last_receipt.duration_since(publishing).max(publish_time);
    let mut report = Report::new(
        "fanout",
        json!({ "target": target.to_string(), "subscribers": subscribers, "rate": rate, "duration": duration }),
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
    Ok((report, timeline))
}
