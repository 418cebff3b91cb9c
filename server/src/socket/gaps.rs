//! Fills gaps in storage-backed topics. A conversation's messages reach the hub as bus events
//! in whatever order their nodes published them; the hub holds one that arrives ahead of a
//! missing offset ([`Hub::gaps`]). Most gaps close within a millisecond; one that lasts (the
//! node that stored the message died before publishing it, or NATS dropped the event) is read
//! from storage here and published in order. A gap storage cannot fill either is given up
//! after [`GIVE_UP`], so one lost offset cannot hold a topic back for good.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;

use super::topic::conversation::NEW_MSG;
use crate::contexts::chat::ChatService;
use crate::realtime::{Gap, Hub, Position, Sequence, TopicKind};

/// How often the hub is asked for gaps.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// How long a gap may last before storage is read (events from another node usually arrive
/// well within it).
const WAIT: Duration = Duration::from_millis(250);
/// How long a gap may last before it is skipped.
const GIVE_UP: Duration = Duration::from_secs(5);
/// Messages read per gap at most (a larger one is filled over several rounds).
const READ_LIMIT: u32 = 1_000;

/// Runs until the hub is dropped.
pub fn spawn_gap_repair(hub: &Arc<Hub>, chat: ChatService) {
    let hub: Weak<Hub> = Arc::downgrade(hub);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(CHECK_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(gaps) = hub.upgrade().map(|hub| hub.gaps(WAIT)) else {
                return;
            };
            for gap in gaps {
                fill(&hub, &chat, gap).await;
            }
        }
    });
}

async fn fill(hub: &Weak<Hub>, chat: &ChatService, gap: Gap) {
    let stored = match TopicKind::parse(&gap.key) {
        Some(TopicKind::Conversation(id)) => chat
            .messages_in_range(&id, &gap.epoch, gap.after, gap.up_to, READ_LIMIT)
            .await
            .map_err(|error| tracing::warn!(%error, key = %gap.key, "cannot fill a gap")),
        _ => Ok(Vec::new()),
    };
    let Some(hub) = hub.upgrade() else { return };
    let filled = stored.as_ref().map_or(0, Vec::len);
    for message in stored.unwrap_or_default() {
        let Ok(Value::Object(payload)) = serde_json::to_value(&message) else {
            continue;
        };
        let position = Position {
            epoch: gap.epoch.clone(),
            offset: message.offset,
        };
        hub.publish(&gap.key, NEW_MSG, payload, Sequence::At(position));
    }
    if filled > 0 {
        tracing::info!(key = %gap.key, filled, "filled a gap from storage");
    }
    if gap.age >= GIVE_UP {
        tracing::warn!(key = %gap.key, after = gap.after, up_to = gap.up_to, "skipped a gap storage could not fill");
        hub.skip_gap(&gap.key);
    }
}
