//! The in-process bus: a bounded tokio broadcast channel.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::{Event, EventBus};

/// Single-node bus. Subscribers that fall more than `capacity` events behind observe
/// `RecvError::Lagged` and skip ahead instead of holding memory.
pub struct MemoryBus {
    sender: broadcast::Sender<Arc<Event>>,
}

impl MemoryBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }
}

impl EventBus for MemoryBus {
    fn publish(&self, event: Event) {
        tracing::debug!(
            event = %event.kind,
            user = event.user_id.as_ref().map(|u| u.as_str()),
            "event"
        );
        // No subscriber is not an error: nothing listens yet on a fresh node.
        let _ = self.sender.send(Arc::new(event));
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_receive_what_is_published_after_they_subscribe() {
        let bus = MemoryBus::new(8);
        bus.publish(Event::new("before", None, None, serde_json::Value::Null));
        let mut rx = bus.subscribe();
        bus.publish(Event::new(
            "user.signed_in",
            Some(&"u".into()),
            Some(&"c".into()),
            serde_json::json!({"a": 1}),
        ));
        let got = rx.recv().await.unwrap();
        assert_eq!(got.kind, "user.signed_in");
        assert_eq!(got.user_id, Some("u".into()));
    }
}
