//! The hub's relay over NATS: what a client publishes straight to a topic on this node and is
//! not kept (typing, binary broadcasts), presence and which users are connected, goes to subject
//! `<prefix>-relay.<node>`, and every other node's hub delivers it to its own subscribers
//! ([`crate::realtime::Relayed`]). A node ignores its own subject. Ordering is kept per node
//! (one publishing task); delivery is at most once, like the rest of core NATS.

use std::sync::{Arc, Weak};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::BusError;
use crate::realtime::{Hub, Relay, Relayed};

/// Relayed publications waiting for NATS before new ones are dropped.
const QUEUE: usize = 16_384;
/// How often this node sends its presences (three missed ones and the others forget it).
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);
/// How often silent nodes are looked for (a dead node is forgotten at most this long after
/// its expiry).
const EXPIRY_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

pub struct NatsRelay {
    outgoing: mpsc::Sender<Relayed>,
    node: String,
}

impl NatsRelay {
    /// Subscribes to the other nodes' relays for `hub` and starts publishing this node's.
    pub async fn start(
        client: async_nats::Client,
        prefix: &str,
        node: &str,
        hub: Weak<Hub>,
    ) -> Result<Arc<Self>, BusError> {
        let own_subject = format!("{prefix}-relay.{node}");
        let connect_error = |reason: String| BusError::Connect {
            url: "(the bus's connection)".into(),
            reason,
        };
        let mut subscriber = client
            .subscribe(format!("{prefix}-relay.*"))
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        client
            .flush()
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        // The heartbeat: this node's presences every few seconds, and the other nodes'
        // forgotten once theirs stop (see `realtime::remote_presence`).
        let beating = hub.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(EXPIRY_CHECK);
            let mut last_beat: Option<std::time::Instant> = None;
            loop {
                ticker.tick().await;
                let Some(hub) = beating.upgrade() else {
                    return;
                };
                if last_beat.is_none_or(|at| at.elapsed() >= HEARTBEAT) {
                    last_beat = Some(std::time::Instant::now());
                    hub.presence_heartbeat();
                }
                hub.forget_silent_nodes();
            }
        });
        let skip = own_subject.clone();
        tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                if message.subject.as_str() == skip {
                    continue;
                }
                let Some(hub) = hub.upgrade() else {
                    return;
                };
                let node = message
                    .subject
                    .as_str()
                    .rsplit('.')
                    .next()
                    .unwrap_or_default();
                match serde_json::from_slice::<Relayed>(&message.payload) {
                    Ok(relayed) => hub.apply_relayed(node, relayed),
                    Err(error) => tracing::warn!(%error, "undecodable relayed publication"),
                }
            }
        });
        let (outgoing, mut queue) = mpsc::channel::<Relayed>(QUEUE);
        tokio::spawn(async move {
            while let Some(relayed) = queue.recv().await {
                let Ok(payload) = serde_json::to_vec(&relayed) else {
                    continue;
                };
                if let Err(error) = client.publish(own_subject.clone(), payload.into()).await {
                    tracing::warn!(%error, "cannot relay a publication to the other nodes");
                }
            }
        });
        Ok(Arc::new(Self {
            outgoing,
            node: node.to_owned(),
        }))
    }
}

impl Relay for NatsRelay {
    fn forward(&self, relayed: Relayed) {
        if let Err(error) = self.outgoing.try_send(relayed) {
            tracing::warn!(%error, "the relay queue is full: publication not relayed");
        }
    }

    fn node(&self) -> &str {
        &self.node
    }
}
