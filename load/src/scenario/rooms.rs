//! `rooms`: chat-like load. N users in rooms of K members, each sending at a rate; every
//! member receives each message of its room (its own included). Latency from send to
//! receipt. On Tainá the rooms are conversations (messages are stored, then broadcast);
//! the peers relay in memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::json;

use super::{progress, Context, Counters};
use crate::chart::Timeline;
use crate::report::Report;
use crate::stats::{add_latency, histogram, now_us};
use crate::target::Target;
use crate::wire::{Link, Stamp};

/// Who sits where: a token (Tainá) and the topic or room name.
struct Seat {
    token: String,
    topic: String,
}

async fn seats(
    ctx: &Context,
    target: &Target,
    users: usize,
    room_size: usize,
) -> anyhow::Result<Vec<Seat>> {
    let rooms = users / room_size;
    if !target.is_taina() {
        return Ok((0..rooms * room_size)
            .map(|i| Seat {
                token: String::new(),
                topic: format!("room-{}", i / room_size),
            })
            .collect());
    }
    let admin = ctx.admin()?;
    let members = ctx.seeder.members(admin, users).await?;
    let mut seats = Vec::new();
    for group in members.chunks(room_size).filter(|g| g.len() == room_size) {
        let others: Vec<String> = group[1..].iter().map(|m| m.user_id.clone()).collect();
        let id = ctx.seeder.conversation(&group[0], &others).await?;
        seats.extend(group.iter().map(|m| Seat {
            token: m.token.clone(),
            topic: format!("conversation:{id}"),
        }));
    }
    Ok(seats)
}

pub async fn run(
    ctx: &Context,
    target: &Target,
    users: usize,
    room_size: usize,
    rate: f64,
    duration: u64,
) -> anyhow::Result<(Report, Timeline)> {
    anyhow::ensure!(
        room_size >= 2 && users >= room_size,
        "need rooms of at least 2 and enough users"
    );
    anyhow::ensure!(rate > 0.0, "rate must be positive");
    let seats = seats(ctx, target, users, room_size).await?;
    let counters = Arc::new(Counters::default());
    let guard = progress("rooms", counters.clone());
    let links: Vec<anyhow::Result<(Link, String)>> = stream::iter(seats.into_iter().enumerate())
        .map(|(i, seat)| async move {
            let link = Link::open(
                target,
                ctx.ws_url_for(i),
                &seat.token,
                &seat.topic,
                &ctx.source(i),
            )
            .await?;
            Ok((link, seat.topic))
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let links: Vec<(Link, String)> = links.into_iter().collect::<anyhow::Result<_>>()?;
    let participants = links.len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let stop_sending = started + Duration::from_secs(duration);
    let mut tasks = Vec::new();
    for (seat, (mut link, topic)) in links.into_iter().enumerate() {
        let counters = counters.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let mut timeline = Timeline::default();
            let (mut sent, mut received) = (0u64, 0u64);
            // Spread the senders over the first period so they do not fire in lockstep.
            let offset = Duration::from_secs_f64(spread(&topic, seat as u64) / rate);
            let mut ticker = tokio::time::interval_at(
                tokio::time::Instant::now() + offset,
                Duration::from_secs_f64(1.0 / rate),
            );
            let end = stop_sending + Duration::from_secs(2);
            while Instant::now() < end {
                tokio::select! {
                    _ = ticker.tick(), if Instant::now() < stop_sending => {
                        if link.publish(&Stamp { n: sent, t: now_us() }.encode()).await.is_err() {
                            break;
                        }
                        sent += 1;
                    }
                    body = link.next(Duration::from_millis(100)) => {
                        if let Some(stamp) = body.as_deref().and_then(Stamp::decode) {
                            let took = now_us().saturating_sub(stamp.t).max(1);
                            let _ = latency.record(took);
                            timeline.record(started, took);
                            received += 1;
                            Counters::add(&counters.messages, 1);
                        }
                    }
                }
            }
            link.close().await;
            (latency, timeline, sent, received)
        }));
    }
    let mut latency = histogram();
    let mut timeline = Timeline::default();
    let (mut sent, mut delivered) = (0u64, 0u64);
    for task in tasks {
        let (h, t, s, r) = task.await?;
        latency.add(&h)?;
        timeline.merge(t);
        sent += s;
        delivered += r;
    }
    drop(guard);
    let mut report = Report::new(
        "rooms",
        json!({ "target": target.to_string(), "users": users, "room_size": room_size, "rate": rate, "duration": duration }),
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
    Ok((report, timeline))
}

/// A fraction in [0, 1) derived from the topic, to stagger senders deterministically.
fn spread(topic: &str, salt: u64) -> f64 {
    let mut h: u64 = 1469598103934665603 ^ salt;
    for b in topic.bytes() {
        h = (h ^ b as u64).wrapping_mul(1099511628211);
    }
    (h % 10_000) as f64 / 10_000.0
}
