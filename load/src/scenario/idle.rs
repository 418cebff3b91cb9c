//! `idle`: hold N authenticated connections, each joined to its user topic; the server's
//! memory per connection (from /proc when `--server-pid` is given).

use std::sync::Arc;
use std::time::Duration;

use crate::wire::Session;
use futures_util::stream::{self, StreamExt};
use serde_json::json;

use super::{progress, Context, Counters};
use crate::report::Report;

pub async fn run(
    ctx: &Context,
    connections: usize,
    mode: &str,
    hold: u64,
) -> anyhow::Result<Report> {
    let before = ctx.server_rss();
    let counters = Arc::new(Counters::default());
    let guard = progress("idle", counters.clone());
    let url = ctx.seeder.ws_url();
    let topic = format!("user:{}", ctx.admin.user_id);
    let clients: Vec<Option<Session>> = stream::iter(0..connections)
        .map(|_| {
            let (url, token, topic, counters) = (
                url.clone(),
                ctx.admin.token.clone(),
                topic.clone(),
                counters.clone(),
            );
            async move {
                let result = Session::open(mode, &url, &token, &topic).await;
                match result {
                    Ok(client) => {
                        Counters::add(&counters.done, 1);
                        Some(client)
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
    let mut open: Vec<Session> = clients.into_iter().flatten().collect();
    tokio::time::sleep(Duration::from_secs(hold)).await;
    // Keep them alive and check they still answer.
    let mut alive = 0;
    for client in open.iter_mut().take(50) {
        if client.round_trip().await {
            alive += 1;
        }
    }
    let after = ctx.server_rss();
    drop(guard);
    let mut report = Report::new(
        "idle",
        json!({ "connections": connections, "mode": mode, "hold_seconds": hold }),
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
    for client in open {
        client.close().await;
    }
    Ok(report)
}
