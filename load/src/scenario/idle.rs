//! `idle`: hold N connections, each subscribed to a topic of its own (on Tainá: authenticated
//! and joined to its user topic, or with `--conversations M` to one of M conversations:
//! `conversation:{id}` on Phoenix and mux, a `messageReceived` subscription on GraphQL); the
//! server's memory per connection, from /proc when `--server-pid` is given. Peers get the
//! same: a room each (the floor has no rooms).

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde_json::json;

use super::{progress, Context, Counters};
use crate::report::Report;
use crate::stats::now_us;
use crate::target::Target;
use crate::wire::{Link, Session, Stamp};

/// An idle socket on any target.
enum Held {
    Taina(Session),
    Peer(Link),
}

impl Held {
    /// A round trip the server must answer.
    async fn round_trip(&mut self) -> bool {
        match self {
            Held::Taina(session) => session.round_trip().await,
            // Publish to its own room and wait for it to come back.
            Held::Peer(link) => {
                let body = Stamp { n: 0, t: now_us() }.encode();
                link.publish(&body).await.is_ok()
                    && link.next(Duration::from_secs(10)).await.is_some()
            }
        }
    }

    async fn close(self) {
        match self {
            Held::Taina(session) => session.close().await,
            Held::Peer(link) => link.close().await,
        }
    }
}

async fn hold(
    ctx: &Context,
    target: &Target,
    i: usize,
    conversations: &[String],
) -> anyhow::Result<Held> {
    Ok(match target {
        Target::Taina(_) if !conversations.is_empty() => {
            let admin = ctx.admin()?;
            let topic = format!("conversation:{}", conversations[i % conversations.len()]);
            Held::Peer(Link::open(target, &ctx.ws_url, &admin.token, &topic, &ctx.source(i)).await?)
        }
        Target::Taina(mode) => {
            let admin = ctx.admin()?;
            let topic = format!("user:{}", admin.user_id);
            Held::Taina(
                Session::open(*mode, &ctx.ws_url, &admin.token, &topic, &ctx.source(i)).await?,
            )
        }
        peer => Held::Peer(
            Link::open(peer, &ctx.ws_url, "", &format!("idle-{i}"), &ctx.source(i)).await?,
        ),
    })
}

pub async fn run(
    ctx: &Context,
    target: &Target,
    connections: usize,
    conversations: usize,
    hold_seconds: u64,
) -> anyhow::Result<Report> {
    let conversations = if target.is_taina() && conversations > 0 {
        // The admin and one member in each: every socket is one of the admin's devices.
        let admin = ctx.admin()?;
        let member = ctx.seeder.members(admin, 1).await?;
        let mut ids = Vec::with_capacity(conversations);
        for _ in 0..conversations {
            ids.push(
                ctx.seeder
                    .conversation(admin, &[member[0].user_id.clone()])
                    .await?,
            );
        }
        ids
    } else {
        Vec::new()
    };
    let conversations = &conversations;
    let before = ctx.server_rss();
    let counters = Arc::new(Counters::default());
    let guard = progress("idle", counters.clone());
    let held: Vec<Option<Held>> = stream::iter(0..connections)
        .map(|i| {
            let counters = counters.clone();
            async move {
                match hold(ctx, target, i, conversations).await {
                    Ok(held) => {
                        Counters::add(&counters.done, 1);
                        Some(held)
                    }
                    Err(_) => {
                        Counters::add(&counters.failed, 1);
                        None
                    }
                }
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let mut open: Vec<Held> = held.into_iter().flatten().collect();
    tokio::time::sleep(Duration::from_secs(hold_seconds)).await;
    // Keep them alive and check they still answer.
    let mut alive = 0;
    for held in open.iter_mut().take(50) {
        if held.round_trip().await {
            alive += 1;
        }
    }
    let after = ctx.server_rss();
    drop(guard);
    let mut report = Report::new(
        "idle",
        json!({
            "connections": connections,
            "conversations": conversations.len(),
            "target": target.to_string(),
            "hold_seconds": hold_seconds,
        }),
    );
    report.add("connected", open.len());
    report.add("round trips answered (of 50)", alive);
    if let (Some(before), Some(after)) = (before, after) {
        report.add("server RSS before (MiB)", before as f64 / 1048576.0);
        report.add("server RSS after (MiB)", after as f64 / 1048576.0);
        let per = after.saturating_sub(before) as f64 / open.len().max(1) as f64;
        report.add("server bytes per idle connection", per.round());
    } else {
        report.add("server memory", "not measured (pass --server-pid)");
    }
    for held in open {
        held.close().await;
    }
    Ok(report)
}
