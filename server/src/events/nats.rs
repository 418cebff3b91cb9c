//! The NATS bus: every node publishes its events to NATS and every node, itself included,
//! receives every event from it, so a socket on any node sees what happens on any other (a
//! chat message stored through node A reaches a socket on node B through B's bridge; a sign-out
//! on A closes the session's sockets on B).
//!
//! Subjects are `<prefix>.<community_id>.<event.type>` (`taina.V1St…GI.message.sent`), with `_`
//! for events that belong to no community (instance alerts, revocations). Payloads are the
//! event's JSON, the same bytes `MemoryBus` would carry; the header `Taina-Node` names the
//! node that published it, so a node knows its own events ([`Event::from_other_node`]).
//!
//! [`EventBus::publish`] never blocks: events go through a bounded queue to one publishing task
//! (so a node's events keep their order); when NATS cannot keep up the queue fills and further
//! events are dropped with a warning, as a lagging `MemoryBus` subscriber would skip. Core NATS
//! delivers at most once: an event published while a node is cut off from NATS does not reach
//! it. What must not be lost has its own record (messages in the database, with offsets that
//! recovery replays); see docs/protocol.md, "Several nodes".

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc};

use super::{Event, EventBus};
use crate::config::BusConfig;

/// How long start-up waits for NATS before it gives up with an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The header naming the node an event comes from.
const NODE_HEADER: &str = "Taina-Node";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot read the NATS credentials file {path}: {source}")]
    Credentials {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("JetStream is not available for the topic log (start nats-server with -js): {0}")]
    JetStream(String),
}

pub struct NatsBus {
    outgoing: mpsc::Sender<Event>,
    local: broadcast::Sender<Arc<Event>>,
    client: async_nats::Client,
    node: String,
}

impl NatsBus {
    /// Connects to `bus.nats_url`, subscribes to every event under the prefix, and starts the
    /// publishing task. Fails (a start-up error) when NATS does not answer in time.
    pub async fn connect(config: &BusConfig, capacity: usize) -> Result<Self, BusError> {
        let url = config.nats_url.clone().unwrap_or_default();
        let connect_error = |reason: String| BusError::Connect {
            url: url.clone(),
            reason,
        };
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("taina {}", env!("CARGO_PKG_VERSION")))
            .connection_timeout(CONNECT_TIMEOUT)
            // After the first connection, reconnect for as long as it takes.
            .max_reconnects(None);
        if let Some(path) = &config.nats_credentials {
            options =
                options
                    .credentials_file(path)
                    .await
                    .map_err(|source| BusError::Credentials {
                        path: path.display().to_string(),
                        source,
                    })?;
        }
        // One URL, or a cluster's several, comma-separated.
        let servers = url
            .split(',')
            .map(|server| server.trim().parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| connect_error(e.to_string()))?;
        let client = options
            .connect(servers)
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        let prefix = config.subject_prefix.clone();
        // A fresh name per process: a restarted node is a new node to the others.
        let node: String = nanoid::nanoid!(16)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { 'x' })
            .collect();
        let mut subscriber = client
            .subscribe(format!("{prefix}.>"))
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        // The subscription is registered at the server before the first publish.
        client
            .flush()
            .await
            .map_err(|e| connect_error(e.to_string()))?;

        let (local, _) = broadcast::channel(capacity.max(1));
        let incoming = local.clone();
        let own = node.clone();
        tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                match serde_json::from_slice::<Event>(&message.payload) {
                    Ok(mut event) => {
                        let sender = message
                            .headers
                            .as_ref()
                            .and_then(|headers| headers.get(NODE_HEADER));
                        event.from_other_node = sender.is_none_or(|name| name.as_str() != own);
                        let _ = incoming.send(Arc::new(event));
                    }
                    Err(error) => {
                        tracing::warn!(subject = %message.subject, %error, "undecodable event from NATS")
                    }
                }
            }
            tracing::warn!("the NATS event subscription ended");
        });

        let (outgoing, mut queue) = mpsc::channel::<Event>(capacity.max(1));
        let publisher = client.clone();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(NODE_HEADER, node.as_str());
        tokio::spawn(async move {
            let client = publisher;
            while let Some(event) = queue.recv().await {
                let payload = match serde_json::to_vec(&event) {
                    Ok(payload) => payload,
                    Err(error) => {
                        tracing::error!(event = %event.kind, %error, "event does not serialise");
                        continue;
                    }
                };
                if let Err(error) = client
                    .publish_with_headers(subject(&prefix, &event), headers.clone(), payload.into())
                    .await
                {
                    tracing::warn!(event = %event.kind, %error, "cannot publish an event to NATS");
                }
            }
        });
        Ok(Self {
            outgoing,
            local,
            client,
            node,
        })
    }

    /// The connection, for the hub's relay ([`super::NatsRelay`]) and the topic log.
    pub fn client(&self) -> async_nats::Client {
        self.client.clone()
    }

    /// This node's name among the others.
    pub fn node(&self) -> &str {
        &self.node
    }
}

/// `<prefix>.<community_id or _>.<type>`, with characters NATS gives a meaning to replaced.
fn subject(prefix: &str, event: &Event) -> String {
    let token = |text: &str| -> String {
        text.chars()
            .map(|c| match c {
                '*' | '>' | ' ' | '\t' | '\r' | '\n' => '_',
                other => other,
            })
            .collect()
    };
    let community = event
        .community_id
        .as_ref()
        .map_or_else(|| "_".to_owned(), |c| token(c.as_str()).replace('.', "_"));
    format!("{prefix}.{community}.{}", token(&event.kind))
}

impl EventBus for NatsBus {
    fn publish(&self, event: Event) {
        tracing::debug!(
            event = %event.kind,
            user = event.user_id.as_ref().map(|u| u.as_str()),
            "event"
        );
        if let Err(error) = self.outgoing.try_send(event) {
            tracing::warn!(%error, "the NATS publishing queue is full: event dropped");
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.local.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_the_community_and_the_event_type() {
        let event = Event::new(
            "message.sent",
            None,
            Some(&"c-1_x".into()),
            serde_json::json!({}),
        );
        assert_eq!(subject("taina", &event), "taina.c-1_x.message.sent");
        let instance = Event::new("alert.raised", None, None, serde_json::json!({}));
        assert_eq!(subject("taina", &instance), "taina._.alert.raised");
        let odd = Event::new("a b>*", None, Some(&"x.y".into()), serde_json::json!({}));
        assert_eq!(subject("t", &odd), "t.x_y.a_b__");
    }
}
