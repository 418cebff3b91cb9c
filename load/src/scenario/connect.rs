//! `connect`: ramp N connections at a rate; setup time (upgrade + join) and failures by reason.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use taina_protocol::client::ClientError;

use crate::target::{Mode, Target};
use crate::wire::Session;

use super::{progress, Context, Counters};
use crate::report::Report;
use crate::stats::{add_latency, histogram};

pub async fn run(
    ctx: &Context,
    connections: usize,
    mode: Mode,
    rate: u32,
) -> anyhow::Result<Report> {
    let counters = Arc::new(Counters::default());
    let _progress = progress("connect", counters.clone());
    let url = ctx.ws_url.clone();
    let admin = ctx.admin()?;
    let topic = format!("user:{}", admin.user_id);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        ticker.tick().await;
        let (url, token, topic, counters, source) = (
            url.clone(),
            admin.token.clone(),
            topic.clone(),
            counters.clone(),
            ctx.source(i),
        );
        tasks.push(tokio::spawn(async move {
            let began = Instant::now();
            let result = Session::open(mode, &url, &token, &topic, &source).await;
            match result {
                Ok(client) => {
                    Counters::add(&counters.done, 1);
                    Ok((began.elapsed(), client))
                }
                Err(e) => {
                    Counters::add(&counters.failed, 1);
                    Err(reason(&e))
                }
            }
        }));
    }
    let mut setup = histogram();
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut open = Vec::new();
    for task in tasks {
        match task.await? {
            Ok((took, client)) => {
                setup.record(took.as_micros().max(1) as u64)?;
                open.push(client);
            }
            Err(reason) => *failures.entry(reason).or_default() += 1,
        }
    }
    let elapsed = started.elapsed();
    let mut report = Report::new(
        "connect",
        json!({ "connections": connections, "mode": Target::Taina(mode).to_string(), "rate": rate }),
    );
    report.add("connected", open.len());
    report.add("failed", failures.values().sum::<u64>());
    for (reason, n) in &failures {
        report.add(&format!("failed: {reason}"), *n);
    }
    report.add(
        "setups per second",
        open.len() as f64 / elapsed.as_secs_f64(),
    );
    add_latency(&mut report, "setup", &setup);
    for client in open {
        client.close().await;
    }
    Ok(report)
}

fn reason(error: &ClientError) -> String {
    match error {
        ClientError::Handshake {
            status: Some(s), ..
        } => format!("HTTP {s}"),
        ClientError::Refused(r) => format!("join refused: {}", r["reason"]),
        ClientError::Closed { code, .. } => format!("closed {code}"),
        ClientError::Timeout(what) => format!("timeout ({what})"),
        other => other.to_string().chars().take(60).collect(),
    }
}
