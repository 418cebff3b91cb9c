//! The MQTT client (`automation.mqtt_url`, `mqtt://[user:password@]host[:port]`): every node
//! connects (commands go out from whichever node takes them), but only the coordinating node
//! subscribes to the discovery prefix and every discovered state topic (again on each
//! connection: the broker forgets a clean session's subscriptions), so each state is recorded
//! once. Messages go to the service in order; a failed connection is retried with a growing
//! pause.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeFilter};
use tokio::sync::mpsc;

use super::service::{AutomationService, Inner};

/// Messages waiting for the service; beyond this the newest are dropped (and logged).
const QUEUE: usize = 8_192;
/// Largest MQTT packet accepted: Zigbee2MQTT's retained bridge messages run to hundreds of KiB.
const MAX_PACKET: usize = 1024 * 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often a connected node re-checks whether it is the one ingesting.
const ROLE_CHECK: Duration = Duration::from_secs(1);

/// Where to connect, from `mqtt://[user:password@]host[:port]`.
#[derive(Debug, PartialEq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
}

impl Broker {
    pub fn parse(url: &str) -> Result<Broker, String> {
        let rest = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
            .ok_or_else(|| format!("{url}: only mqtt:// (plain TCP) is supported"))?;
        let rest = rest.trim_end_matches('/');
        let (credentials, address) = match rest.rsplit_once('@') {
            Some((user, address)) => {
                let (name, password) = user.split_once(':').unwrap_or((user, ""));
                (Some((name.to_string(), password.to_string())), address)
            }
            None => (None, rest),
        };
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .map_err(|_| format!("{url}: the port is not a number"))?,
            ),
            None => (address, 1883),
        };
        if host.is_empty() {
            return Err(format!("{url}: no host"));
        }
        Ok(Broker {
            host: host.to_string(),
            port,
            credentials,
        })
    }
}

/// Connects and keeps connecting; runs until the service is dropped.
pub fn spawn(service: &AutomationService, broker: Broker) {
    let mut options = MqttOptions::new(
        format!("taina-{}", nanoid::nanoid!(10)),
        broker.host,
        broker.port,
    );
    // A ping every 10 s at least wakes the loop to re-check which node ingests.
    options.set_keep_alive(Duration::from_secs(10));
    options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
    if let Some((user, password)) = broker.credentials {
        options.set_credentials(user, password);
    }
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    if service.inner.mqtt.set(client.clone()).is_err() {
        return;
    }
    let (messages, mut incoming) = mpsc::channel::<(String, bytes::Bytes)>(QUEUE);
    let weak: Weak<Inner> = Arc::downgrade(&service.inner);
    let prefix = service.inner.config.discovery_prefix.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        let (mut connected, mut ingesting) = (false, false);
        let mut checked = Instant::now();
        // Ends once the service is gone (checked at least every keep-alive).
        while weak.strong_count() > 0 {
            let event = eventloop.poll().await;
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    backoff = Duration::from_millis(250);
                    connected = true;
                    // A clean session starts with no subscriptions.
                    ingesting = false;
                    tracing::info!("connected to the MQTT broker");
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if messages.try_send((publish.topic, publish.payload)).is_err() {
                        tracing::warn!(
                            "MQTT messages arrive faster than they are stored: one dropped"
                        );
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    connected = false;
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "MQTT connection failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            // Only the coordinating node subscribes (and so records states); every node
            // stays connected to publish commands. Re-checked at most once a second.
            if !connected || (checked.elapsed() < ROLE_CHECK && ingesting) {
                continue;
            }
            checked = Instant::now();
            let Some(inner) = weak.upgrade() else { return };
            let service = AutomationService { inner };
            match (service.coordinates(), ingesting) {
                (true, false) => {
                    // Entities discovered while another node ingested are in the database.
                    if let Err(e) = service.load_routes().await {
                        tracing::warn!(error = %e, "cannot load the discovered entities");
                    }
                    let mut filters = vec![SubscribeFilter::new(
                        format!("{prefix}/#"),
                        QoS::AtLeastOnce,
                    )];
                    filters.extend(
                        service
                            .state_topics()
                            .into_iter()
                            .map(|t| SubscribeFilter::new(t, QoS::AtLeastOnce)),
                    );
                    // Never awaited here: this task is the one that sends it.
                    match client.try_subscribe_many(filters) {
                        Ok(()) => {
                            ingesting = true;
                            tracing::info!("this node ingests MQTT");
                        }
                        Err(e) => tracing::warn!(error = %e, "MQTT subscribe not queued"),
                    }
                }
                (false, true) => {
                    let mut topics = service.state_topics();
                    topics.push(format!("{prefix}/#"));
                    for topic in topics {
                        let _ = client.try_unsubscribe(topic);
                    }
                    ingesting = false;
                    tracing::info!("another node ingests MQTT now");
                }
                _ => {}
            }
        }
    });
    let weak: Weak<Inner> = Arc::downgrade(&service.inner);
    tokio::spawn(async move {
        while let Some((topic, payload)) = incoming.recv().await {
            let Some(inner) = weak.upgrade() else { return };
            AutomationService { inner }
                .handle_message(&topic, &payload)
                .await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse() {
        assert_eq!(
            Broker::parse("mqtt://127.0.0.1:18830").unwrap(),
            Broker {
                host: "127.0.0.1".into(),
                port: 18830,
                credentials: None
            }
        );
        let with_user = Broker::parse("mqtt://taina:s3cret@broker.local/").unwrap();
        assert_eq!(with_user.port, 1883);
        assert_eq!(
            with_user.credentials,
            Some(("taina".into(), "s3cret".into()))
        );
        for bad in ["mqtts://x", "http://x", "mqtt://", "mqtt://x:port"] {
            assert!(Broker::parse(bad).is_err(), "{bad}");
        }
    }
}
