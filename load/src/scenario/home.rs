//! `home`: sensor ingest, end to end. Makes N sensors — Home Assistant discovery configs on
//! MQTT, or device agents of 64 sensors each on the socket — waits until the server lists them
//! all, then sends states at a rate spread evenly over the sensors. Each state is the send time
//! in microseconds, so the admin's Phoenix socket on `home:{community}` measures sent → stored
//! → pushed for every `state_changed` it receives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::json;
use taina_protocol::client::{Incoming, PhoenixClient};
use taina_protocol::phoenix::Payload;

use super::{progress, Context, Counters};
use crate::report::Report;
use crate::stats::{add_latency, histogram, now_us};

/// How states reach the server.
pub enum Source {
    Mqtt {
        url: String,
        prefix: String,
    },
    /// Device agents; binary MessagePack pushes with `msgpack`, else JSON.
    Socket {
        msgpack: bool,
    },
}

/// Sensors per device agent (the server's limit).
const PER_AGENT: usize = 64;

pub async fn run(
    ctx: &Context,
    entities: usize,
    rate: u32,
    duration: u64,
    source: Source,
) -> anyhow::Result<Report> {
    anyhow::ensure!(entities > 0 && rate > 0, "entities and rate are positive");
    let admin = ctx.admin()?;
    let setup = Instant::now();
    let counters = Arc::new(Counters::default());
    let (via, senders) = match &source {
        Source::Mqtt { url, prefix } => (
            "mqtt",
            mqtt_senders(ctx, entities, rate, duration, url, prefix, &counters).await?,
        ),
        Source::Socket { msgpack } => (
            if *msgpack {
                "socket (MessagePack)"
            } else {
                "socket (JSON)"
            },
            socket_senders(ctx, entities, rate, duration, *msgpack, &counters).await?,
        ),
    };
    let ready_in = setup.elapsed();

    let community = ctx.seeder.graphql(admin, "{ me { communityId } }").await?["me"]["communityId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut socket = PhoenixClient::connect_with_auth_token(&ctx.ws_url, &admin.token).await?;
    socket.join(&format!("home:{community}"), json!({})).await?;

    let guard = progress("home", counters.clone());
    let (start, handles) = senders;
    let _ = start.send(());
    let mut latency = histogram();
    let mut received = 0u64;
    let until = Instant::now() + Duration::from_secs(duration + 3);
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
    let mut sent = 0;
    for handle in handles {
        sent += handle.await?;
    }
    drop(guard);
    let mut report = Report::new(
        "home",
        json!({ "entities": entities, "rate": rate, "duration": duration, "via": via }),
    );
    report.add("ready in s", ready_in.as_secs_f64());
    report.add("states sent", sent);
    report.add("states pushed", received);
    report.add(
        "send errors",
        counters.failed.load(std::sync::atomic::Ordering::Relaxed),
    );
    report.add("lost", sent.saturating_sub(received));
    report.add("states per second", received as f64 / duration as f64);
    add_latency(&mut report, "sent to push", &latency);
    Ok(report)
}

/// Senders waiting for the start signal; each returns how many states it sent.
type Senders = (
    tokio::sync::watch::Sender<()>,
    Vec<tokio::task::JoinHandle<u64>>,
);

/// One MQTT publisher: discovery for every sensor, then states round-robin.
async fn mqtt_senders(
    ctx: &Context,
    entities: usize,
    rate: u32,
    duration: u64,
    url: &str,
    prefix: &str,
    counters: &Arc<Counters>,
) -> anyhow::Result<Senders> {
    let address = url
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
    tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    // One sensor per entity, its own state topic (as Zigbee2MQTT and ESPHome do). The same
    // names every run, so runs against one server reuse the sensors.
    let topics: Vec<String> = (0..entities)
        .map(|i| format!("{prefix}-load/bench/{i}"))
        .collect();
    for (i, topic) in topics.iter().enumerate() {
        let config = json!({
            "name": format!("load bench {i}"), "uniq_id": format!("load-bench-{i}"),
            "stat_t": topic, "unit_of_meas": "us", "stat_cla": "measurement",
        });
        client
            .publish(
                format!("{prefix}/sensor/load-bench-{i}/config"),
                QoS::AtLeastOnce,
                false,
                config.to_string(),
            )
            .await?;
    }
    wait_for_sensors(ctx, "load_bench", entities).await?;
    // The server subscribes to each state topic right after its discovery.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (start, mut started) = tokio::sync::watch::channel(());
    let counters = counters.clone();
    let handle = tokio::spawn(async move {
        let _ = started.changed().await;
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
        let end = Instant::now() + Duration::from_secs(duration);
        let mut sent = 0u64;
        while Instant::now() < end {
            ticker.tick().await;
            let topic = topics[sent as usize % entities].clone();
            if client
                .publish(topic, QoS::AtMostOnce, false, now_us().to_string())
                .await
                .is_err()
            {
                Counters::add(&counters.failed, 1);
                break;
            }
            sent += 1;
            Counters::add(&counters.done, 1);
        }
        sent
    });
    Ok((start, vec![handle]))
}

/// Device agents of [`PER_AGENT`] sensors, one socket each, sending their share of the rate.
async fn socket_senders(
    ctx: &Context,
    entities: usize,
    rate: u32,
    duration: u64,
    msgpack: bool,
    counters: &Arc<Counters>,
) -> anyhow::Result<Senders> {
    let admin = ctx.admin()?;
    let stamp = format!("{:x}", now_us() % 0xffff_ffff);
    let (start, started) = tokio::sync::watch::channel(());
    let mut handles = Vec::new();
    for (agent, first) in (0..entities).step_by(PER_AGENT).enumerate() {
        let count = PER_AGENT.min(entities - first);
        let sensors: Vec<String> = (0..count)
            .map(|i| format!("{{ key: \"s{i}\", kind: SENSOR, stateClass: \"measurement\" }}"))
            .collect();
        let created = ctx
            .seeder
            .graphql(
                admin,
                &format!(
                    "mutation {{ createAgentDevice(name: \"agent {stamp} {agent}\", \
                     entities: [{}]) {{ device {{ id }} }} }}",
                    sensors.join(", ")
                ),
            )
            .await?;
        let device = created["createAgentDevice"]["device"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let token = ctx
            .seeder
            .graphql(
                admin,
                &format!(
                    "mutation {{ createDeviceToken(deviceId: \"{device}\", name: \"load\") \
                     {{ token }} }}"
                ),
            )
            .await?["createDeviceToken"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut client = PhoenixClient::connect(&ctx.ws_url, &[("token", &token)]).await?;
        let topic = format!("device:{device}");
        client.join(&topic, json!({})).await?;
        let share = f64::from(rate) * count as f64 / entities as f64;
        let counters = counters.clone();
        let mut started = started.clone();
        handles.push(tokio::spawn(async move {
            let _ = started.changed().await;
            let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / share));
            let end = Instant::now() + Duration::from_secs(duration);
            let mut sent = 0u64;
            while Instant::now() < end {
                ticker.tick().await;
                let state = json!({ "entity": format!("s{}", sent as usize % count), "state": now_us().to_string() });
                let reply = if msgpack {
                    let bytes = rmp_serde::to_vec_named(&state).unwrap_or_default();
                    client.push_binary(&topic, "state", &bytes).await
                } else {
                    client.push(&topic, "state", state).await
                };
                match reply {
                    Ok(_) => Counters::add(&counters.done, 1),
                    Err(_) => Counters::add(&counters.failed, 1),
                }
                sent += 1;
            }
            sent
        }));
    }
    wait_for_sensors(ctx, &format!("agent_{stamp}"), entities).await?;
    Ok((start, handles))
}

/// Waits until the server lists `count` sensors whose entity id contains `marker`.
async fn wait_for_sensors(ctx: &Context, marker: &str, count: usize) -> anyhow::Result<()> {
    let admin = ctx.admin()?;
    let setup = Instant::now();
    loop {
        let listed = ctx
            .seeder
            .graphql(admin, "{ entities(kind: SENSOR) { entityId } }")
            .await?;
        let ours = listed["entities"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|e| e["entityId"].as_str().is_some_and(|id| id.contains(marker)))
                    .count()
            })
            .unwrap_or(0);
        if ours >= count {
            return Ok(());
        }
        anyhow::ensure!(
            setup.elapsed() < Duration::from_secs(120),
            "only {ours} of {count} sensors appeared in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
