//! `home`: sensor ingest over MQTT, end to end. Publishes a Home Assistant discovery config
//! for each of N sensors, waits until the server lists them all, then publishes states at a
//! rate spread evenly over the sensors. Each state is the publish time in microseconds, so the
//! admin's Phoenix socket on `home:{community}` measures publish → stored → pushed for every
//! `state_changed` it receives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::json;
use taina_protocol::client::{Incoming, PhoenixClient};
use taina_protocol::phoenix::Payload;

use super::{progress, Context, Counters};
use crate::report::Report;
use crate::stats::{add_latency, histogram, now_us};

pub async fn run(
    ctx: &Context,
    entities: usize,
    rate: u32,
    duration: u64,
    mqtt_url: &str,
    prefix: &str,
) -> anyhow::Result<Report> {
    anyhow::ensure!(entities > 0 && rate > 0, "entities and rate are positive");
    let address = mqtt_url
        .strip_prefix("mqtt://")
        .ok_or_else(|| anyhow::anyhow!("--mqtt-url is mqtt://host:port"))?;
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("--mqtt-url needs a port"))?;
    let mut options = MqttOptions::new(
        format!("taina-load-{}", std::process::id()),
        host,
        port.parse()?,
    );
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    let poller = tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });

    // Discovery: one sensor per entity, its own state topic (as Zigbee2MQTT and ESPHome do).
    // The same names every run, so runs against one server reuse the sensors.
    let run_id = "bench";
    let topics: Vec<String> = (0..entities)
        .map(|i| format!("{prefix}-load/{run_id}/{i}"))
        .collect();
    for (i, topic) in topics.iter().enumerate() {
        let config = json!({
            "name": format!("load {run_id} {i}"), "uniq_id": format!("load-{run_id}-{i}"),
            "stat_t": topic, "unit_of_meas": "us", "stat_cla": "measurement",
        });
        client
            .publish(
                format!("{prefix}/sensor/load-{run_id}-{i}/config"),
                QoS::AtLeastOnce,
                false,
                config.to_string(),
            )
            .await?;
    }
    let admin = ctx.admin()?;
    let setup = Instant::now();
    let query = "{ entities(kind: SENSOR) { entityId } }";
    loop {
        let listed = ctx.seeder.graphql(admin, query).await?;
        let ours = listed["entities"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|e| e["entityId"].as_str().is_some_and(|id| id.contains(run_id)))
                    .count()
            })
            .unwrap_or(0);
        if ours >= entities {
            break;
        }
        anyhow::ensure!(
            setup.elapsed() < Duration::from_secs(120),
            "only {ours} of {entities} sensors were discovered in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let discovered_in = setup.elapsed();
    // The server subscribes to each state topic right after its discovery.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let community = ctx.seeder.graphql(admin, "{ me { communityId } }").await?["me"]["communityId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut socket = PhoenixClient::connect_with_auth_token(&ctx.ws_url, &admin.token).await?;
    socket.join(&format!("home:{community}"), json!({})).await?;

    let counters = Arc::new(Counters::default());
    let guard = progress("home", counters.clone());
    let publisher = {
        let client = client.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
            let end = Instant::now() + Duration::from_secs(duration);
            let mut sent = 0u64;
            while Instant::now() < end {
                ticker.tick().await;
                let topic = &topics[sent as usize % entities];
                if client
                    .publish(topic.clone(), QoS::AtMostOnce, false, now_us().to_string())
                    .await
                    .is_err()
                {
                    break;
                }
                sent += 1;
                Counters::add(&counters.done, 1);
            }
            sent
        })
    };
    let mut latency = histogram();
    let mut received = 0u64;
    let started = Instant::now();
    let until = started + Duration::from_secs(duration + 3);
    while Instant::now() < until {
        match socket.next_message(Duration::from_millis(200)).await {
            Ok(Incoming::Message(m)) if m.event == "state_changed" => {
                let Payload::Json(payload) = &m.payload else {
                    continue;
                };
                let Some(at) = payload["state"]
                    .as_str()
                    .and_then(|s| s.parse::<f64>().ok())
                else {
                    continue;
                };
                let _ = latency.record(now_us().saturating_sub(at as u64).max(1));
                received += 1;
                Counters::add(&counters.messages, 1);
            }
            Ok(Incoming::Closed { code, .. }) => anyhow::bail!("the socket closed with {code}"),
            _ => {}
        }
    }
    let sent = publisher.await?;
    drop(guard);
    poller.abort();
    let mut report = Report::new(
        "home",
        json!({ "entities": entities, "rate": rate, "duration": duration }),
    );
    report.add("discovered in s", discovered_in.as_secs_f64());
    report.add("states published", sent);
    report.add("states pushed", received);
    report.add("lost", sent.saturating_sub(received));
    report.add("states per second", received as f64 / duration as f64);
    add_latency(&mut report, "publish to push", &latency);
    Ok(report)
}
