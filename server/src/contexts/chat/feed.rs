//! Live messages per conversation for in-process subscribers (the `messageReceived` and
//! `messageActivity` GraphQL subscriptions). One task reads the bus and hands each
//! `message.sent` (and reaction, edit, delete) to its conversation's own channel and
//! `messageReceived` groups ([`SubscriptionGroups`]), decoded once and shared, so a subscriber
//! wakes only for its conversation instead of for every event on the bus.

use super::events::{
    MESSAGE_DELETED, MESSAGE_EDITED, MESSAGE_REACTED, MESSAGE_SENT, PARTICIPANT_REMOVED,
};
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::broadcast::{self, error::RecvError};

use super::subscription_groups::SubscriptionGroups;
use super::{Activity, Message};
use crate::events::EventBus;
use crate::ids::{ConversationId, UserId};

/// Items a conversation's `messageActivity` subscriber can fall behind by. A channel
/// allocates all its slots when made (~75 bytes each): 256 made every conversation with a
/// subscriber cost 19 KB (docs/performance.md, "Idle sockets joined to a conversation").
/// `messageReceived` is served by groups instead, which need no channel.
const CAPACITY: usize = 32;

/// What happened in one conversation.
#[derive(Clone, Debug)]
pub enum FeedItem {
    Message(Arc<Message>),
    /// A reaction, edit or delete, at its own offset.
    Activity(Arc<Activity>),
    /// This user is no longer a participant.
    ParticipantRemoved(UserId),
}

/// The channels, created when someone subscribes and dropped when nobody listens.
#[derive(Default)]
pub struct MessageFeed {
    channels: DashMap<ConversationId, broadcast::Sender<FeedItem>>,
    pub(super) groups: Arc<SubscriptionGroups>,
}

impl MessageFeed {
    pub fn subscribe(&self, conversation_id: &ConversationId) -> broadcast::Receiver<FeedItem> {
        self.channels
            .entry(conversation_id.clone())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }

    fn deliver(&self, conversation_id: &str, item: FeedItem) {
        self.groups.deliver(conversation_id, &item);
        let Some(sender) = self.channels.get(conversation_id).map(|s| s.clone()) else {
            return;
        };
        if sender.send(item).is_err() {
            // Nobody listens any more; a subscriber arriving meanwhile keeps it.
            self.channels
                .remove_if(conversation_id, |_, s| s.receiver_count() == 0);
        }
    }

    /// Hands the bus's chat events to the conversations' channels until the bus closes.
    pub fn spawn(self: &Arc<Self>, bus: &Arc<dyn EventBus>) {
        let feed = self.clone();
        let mut events = bus.subscribe();
        tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(RecvError::Lagged(n)) => {
                        // Subscribers notice the gap in offsets and refill from storage.
                        tracing::warn!(missed = n, "chat feed lagged behind the bus");
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                let Some(conversation_id) =
                    event.data.get("conversation_id").and_then(|v| v.as_str())
                else {
                    continue;
                };
                if feed.channels.get(conversation_id).is_none()
                    && !feed.groups.watches(conversation_id)
                {
                    continue;
                }
                match event.kind.as_str() {
                    MESSAGE_SENT => {
                        if let Ok(message) = serde_json::from_value::<Message>(event.data.clone()) {
                            feed.deliver(conversation_id, FeedItem::Message(Arc::new(message)));
                        }
                    }
                    MESSAGE_REACTED | MESSAGE_EDITED | MESSAGE_DELETED => {
                        if let Ok(activity) = serde_json::from_value::<Activity>(event.data.clone())
                        {
                            feed.deliver(conversation_id, FeedItem::Activity(Arc::new(activity)));
                        }
                    }
                    PARTICIPANT_REMOVED => {
                        if let Some(user_id) = &event.user_id {
                            feed.deliver(
                                conversation_id,
                                FeedItem::ParticipantRemoved(user_id.clone()),
                            );
                        }
                    }
                    _ => {}
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, MemoryBus};
    use serde_json::json;
    use std::time::Duration;

    fn message(conversation: &str, offset: u64) -> serde_json::Value {
        json!({
            "id": format!("m{offset}"), "conversation_id": conversation, "sender_id": "u",
            "body": "hi", "client_id": null, "inserted_at": "2026-11-28T00:00:00Z",
            "epoch": "e", "offset": offset
        })
    }

    async fn next(rx: &mut broadcast::Receiver<FeedItem>) -> Option<FeedItem> {
        tokio::time::timeout(Duration::from_millis(500), rx.recv())
            .await
            .ok()?
            .ok()
    }

    #[tokio::test]
    async fn subscribers_get_only_their_conversation_and_channels_go_when_unused() {
        let bus: Arc<dyn EventBus> = Arc::new(MemoryBus::new(64));
        let feed = Arc::new(MessageFeed::default());
        feed.spawn(&bus);
        let mut a = feed.subscribe(&"a".into());
        let mut b = feed.subscribe(&"b".into());
        let sender = UserId::from("u");
        bus.publish(Event::new(
            "message.sent",
            Some(&sender),
            None,
            message("b", 1),
        ));
        bus.publish(Event::new(
            "message.sent",
            Some(&sender),
            None,
            message("a", 7),
        ));
        bus.publish(Event::new(
            "conversation.participant_removed",
            Some(&"u2".into()),
            None,
            json!({ "conversation_id": "a" }),
        ));
        match next(&mut a).await {
            Some(FeedItem::Message(m)) => {
                assert_eq!((m.conversation_id.as_str(), m.offset), ("a", 7))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(next(&mut a).await, Some(FeedItem::ParticipantRemoved(u)) if u == "u2"));
        assert!(matches!(next(&mut b).await, Some(FeedItem::Message(m)) if m.offset == 1));
        assert!(next(&mut b).await.is_none());

        drop(b);
        bus.publish(Event::new(
            "message.sent",
            Some(&sender),
            None,
            message("b", 2),
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            feed.channels.get("b").is_none(),
            "an unused channel is dropped"
        );
        assert!(feed.channels.get("a").is_some());
    }
}
