//! `churn`: a reconnect storm. M clients joined to `system:alerts` drop at once; messages are
//! published while they are away; all reconnect together and rejoin with `since`. Measures
//! the time to rejoin and checks every missed message arrives exactly once, in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use taina_protocol::client::{Incoming, PhoenixClient};
use taina_protocol::phoenix::Payload;

use super::{progress, Context, Counters};
use crate::report::Report;
use crate::stats::{add_latency, histogram};

const TOPIC: &str = "system:alerts";

pub async fn run(ctx: &Context, clients: usize, missed: usize) -> anyhow::Result<Report> {
    let url = ctx.ws_url.clone();
    let token = ctx.admin()?.token.clone();
    let counters = Arc::new(Counters::default());
    let guard = progress("churn", counters.clone());
    let mut publisher = PhoenixClient::connect(&url, &[("token", &token)]).await?;
    publisher.join(TOPIC, json!({})).await?;

    let joined: Vec<anyhow::Result<PhoenixClient>> = stream::iter(0..clients)
        .map(|i| {
            let (url, token, source) = (url.clone(), token.clone(), ctx.source(i));
            async move {
                let mut client =
                    PhoenixClient::connect_with(&url, &[("token", &token)], &source).await?;
                client.join(TOPIC, json!({})).await?;
                Ok(client)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let joined: Vec<PhoenixClient> = joined.into_iter().collect::<anyhow::Result<_>>()?;
    // One publication everyone sees: their position before dropping.
    let reply = publisher.push(TOPIC, "alert", json!({ "n": 0 })).await?;
    let Payload::Json(position) = reply.response else {
        anyhow::bail!("unexpected reply")
    };
    let since = json!({ "epoch": position["epoch"], "offset": position["offset"] });
    for client in joined {
        let _ = client.close().await;
    }
    for n in 1..=missed {
        publisher.push(TOPIC, "alert", json!({ "n": n })).await?;
    }

    let storm_started = Instant::now();
    let results: Vec<anyhow::Result<(Duration, bool, Vec<u64>)>> = stream::iter(0..clients)
        .map(|i| {
            let (url, token, since, counters, source) = (
                url.clone(),
                token.clone(),
                since.clone(),
                counters.clone(),
                ctx.source(i),
            );
            async move {
                let began = Instant::now();
                let mut client =
                    PhoenixClient::connect_with(&url, &[("token", &token)], &source).await?;
                let reply = client.join(TOPIC, json!({ "since": since })).await?;
                let rejoin = began.elapsed();
                let recovered = reply["recovered"] == Value::Bool(true);
                let mut seen = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(5);
                while seen.len() < missed && Instant::now() < deadline {
                    match client.next_message(Duration::from_millis(500)).await {
                        Ok(Incoming::Message(m)) if m.event == "alert" => {
                            if let Payload::Json(v) = &m.payload {
                                seen.push(v["n"].as_u64().unwrap_or(u64::MAX));
                                Counters::add(&counters.messages, 1);
                            }
                        }
                        Ok(Incoming::Message(_)) => {}
                        _ => break,
                    }
                }
                // Anything more within a short while would be a duplicate.
                while let Ok(Incoming::Message(m)) =
                    client.next_message(Duration::from_millis(200)).await
                {
                    if m.event == "alert" {
                        if let Payload::Json(v) = &m.payload {
                            seen.push(v["n"].as_u64().unwrap_or(u64::MAX));
                        }
                    }
                }
                Counters::add(&counters.done, 1);
                let _ = client.close().await;
                Ok((rejoin, recovered, seen))
            }
        })
        .buffer_unordered(clients.max(1))
        .collect()
        .await;
    let storm = storm_started.elapsed();
    drop(guard);
    let expected: Vec<u64> = (1..=missed as u64).collect();
    let mut rejoin = histogram();
    let (mut ok, mut failed, mut not_recovered, mut exact) = (0, 0, 0, 0);
    for result in results {
        match result {
            Ok((took, recovered, seen)) => {
                ok += 1;
                rejoin.record(took.as_micros().max(1) as u64)?;
                if !recovered {
                    not_recovered += 1;
                }
                if seen == expected {
                    exact += 1;
                }
            }
            Err(_) => failed += 1,
        }
    }
    let mut report = Report::new("churn", json!({ "clients": clients, "missed": missed }));
    report.add("rejoined", ok);
    report.add("failed", failed);
    report.add("recovered: false", not_recovered);
    report.add("exactly the missed messages, once, in order", exact);
    report.add("whole storm seconds", storm.as_secs_f64());
    add_latency(&mut report, "rejoin", &rejoin);
    Ok(report)
}
