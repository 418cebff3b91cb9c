//! `rooms`: chat-like load. N users in conversations of K members, each sending `new_msg` at a
//! rate; every participant's device receives each message. Latency from send to receipt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::json;
use taina_protocol::client::{Incoming, PhoenixClient};
use taina_protocol::phoenix::Payload;

use super::{progress, Context, Counters};
use crate::report::Report;
use crate::stats::{add_latency, histogram, now_us};

pub async fn run(
    ctx: &Context,
    users: usize,
    room_size: usize,
    rate: f64,
    duration: u64,
) -> anyhow::Result<Report> {
    anyhow::ensure!(
        room_size >= 2 && users >= room_size,
        "need rooms of at least 2 and enough users"
    );
    anyhow::ensure!(rate > 0.0, "rate must be positive");
    let members = ctx.seeder.members(&ctx.admin, users).await?;
    let mut rooms = Vec::new();
    for group in members.chunks(room_size).filter(|g| g.len() == room_size) {
        let others: Vec<String> = group[1..].iter().map(|m| m.user_id.clone()).collect();
        let id = ctx.seeder.conversation(&group[0], &others).await?;
        for member in group {
            rooms.push((member.clone(), format!("conversation:{id}")));
        }
    }
    let counters = Arc::new(Counters::default());
    let guard = progress("rooms", counters.clone());
    let url = ctx.seeder.ws_url();
    let clients: Vec<anyhow::Result<(PhoenixClient, String)>> = stream::iter(rooms)
        .map(|(member, topic)| {
            let url = url.clone();
            async move {
                let mut client = PhoenixClient::connect(&url, &[("token", &member.token)]).await?;
                client.join(&topic, json!({})).await?;
                Ok((client, topic))
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let clients: Vec<(PhoenixClient, String)> =
        clients.into_iter().collect::<anyhow::Result<_>>()?;
    let participants = clients.len();
    let started = Instant::now();
    let stop_sending = started + Duration::from_secs(duration);
    let mut tasks = Vec::new();
    for (mut client, topic) in clients {
        let counters = counters.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let (mut sent, mut received) = (0u64, 0u64);
            // Spread the senders over the first period so they do not fire in lockstep.
            let offset = Duration::from_secs_f64(fastrand_fraction(&topic, sent) / rate);
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, Duration::from_secs_f64(1.0 / rate));
            let end = stop_sending + Duration::from_secs(2);
            while Instant::now() < end {
                tokio::select! {
                    _ = ticker.tick(), if Instant::now() < stop_sending => {
                        if client.push_no_reply(&topic, "new_msg", json!({ "body": format!("t:{}", now_us()) })).await.is_err() {
                            break;
                        }
                        sent += 1;
                    }
                    message = client.next_message(Duration::from_millis(100)) => match message {
                        Ok(Incoming::Message(m)) if m.event == "new_msg" => {
                            if let Payload::Json(v) = &m.payload {
                                if let Some(t) = v["body"].as_str().and_then(|b| b.strip_prefix("t:")).and_then(|t| t.parse::<u64>().ok()) {
                                    let _ = latency.record(now_us().saturating_sub(t).max(1));
                                    received += 1;
                                    Counters::add(&counters.messages, 1);
                                }
                            }
                        }
                        Ok(Incoming::Closed { .. }) => break,
                        _ => {}
                    }
                }
            }
            (latency, sent, received)
        }));
    }
    let mut latency = histogram();
    let (mut sent, mut delivered) = (0u64, 0u64);
    for task in tasks {
        let (h, s, r) = task.await?;
        latency.add(&h)?;
        sent += s;
        delivered += r;
    }
    drop(guard);
    let mut report = Report::new(
        "rooms",
        json!({ "users": users, "room_size": room_size, "rate": rate, "duration": duration }),
    );
    report.add("participants connected", participants);
    report.add("messages sent", sent);
    report.add("deliveries", delivered);
    report.add("lost", (sent * room_size as u64).saturating_sub(delivered));
    report.add(
        "deliveries per second",
        delivered as f64 / (duration as f64 + 2.0),
    );
    add_latency(&mut report, "latency", &latency);
    Ok(report)
}

/// A fraction in [0, 1) derived from the topic, to stagger senders deterministically.
fn fastrand_fraction(topic: &str, salt: u64) -> f64 {
    let mut h: u64 = 1469598103934665603 ^ salt;
    for b in topic.bytes() {
        h = (h ^ b as u64).wrapping_mul(1099511628211);
    }
    (h % 10_000) as f64 / 10_000.0
}
