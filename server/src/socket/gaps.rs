//! Fills gaps in storage-backed topics (conversations, files spaces). A conversation's
//! messages (a space's journal rows) reach the hub as bus events
//! in whatever order their nodes published them; the hub holds one that arrives ahead of a
//! missing offset ([`Hub::gaps`]). Most gaps close within a millisecond; one that lasts (the
//! node that stored the message died before publishing it, or NATS dropped the event) is read
//! from storage here and published in order. A gap storage cannot fill either is given up
//! after [`GIVE_UP`], so one lost offset cannot hold a topic back for good.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;

use super::topic::conversation::{entry_payload, publication_event};
use super::topic::files::FILE_CHANGED;
use crate::contexts::chat::ChatService;
use crate::contexts::files::FilesService;
use crate::realtime::{Gap, Hub, Position, Sequence, TopicKind};

/// How often the hub is asked for gaps.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// How long a gap may last before storage is read (events from another node usually arrive
/// well within it).
const WAIT: Duration = Duration::from_millis(250);
/// How long a gap may last before it is skipped.
const GIVE_UP: Duration = Duration::from_secs(5);
/// The contexts whose storage backs topics.
#[derive(Clone)]
pub struct Storage {
    pub chat: ChatService,
    pub files: FilesService,
}

/// Messages read per gap at most (a larger one is filled over several rounds).
const READ_LIMIT: u32 = 1_000;

/// Runs until the hub is dropped.
pub fn spawn_gap_repair(hub: &Arc<Hub>, storage: Storage) {
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
                fill(&hub, &storage, gap).await;
            }
        }
    });
}

/// Publications `(event, offset, payload)` of `gap` read from storage.
async fn read(storage: &Storage, gap: &Gap) -> Result<Vec<(&'static str, u64, Value)>, String> {
    match TopicKind::parse(&gap.key) {
        Some(TopicKind::Conversation(id)) => storage
            .chat
            .log_between(&id, &gap.epoch, gap.after, gap.up_to, READ_LIMIT)
            .await
            .map(|log| {
                log.iter()
                    .map(|e| (publication_event(e), e.offset(), entry_payload(e)))
                    .collect()
            })
            .map_err(|e| e.to_string()),
        Some(TopicKind::Files(id)) => storage
            .files
            .changes_between(&id, gap.after, gap.up_to, READ_LIMIT)
            .await
            .map(|changes| {
                changes
                    .into_iter()
                    .filter(|c| c.epoch == gap.epoch)
                    .map(|c| {
                        (
                            FILE_CHANGED,
                            c.cursor,
                            serde_json::to_value(&c).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .map_err(|e| e.to_string()),
        _ => Ok(Vec::new()),
    }
}

async fn fill(hub: &Weak<Hub>, storage: &Storage, gap: Gap) {
    let stored = read(storage, &gap)
        .await
        .map_err(|error| tracing::warn!(%error, key = %gap.key, "cannot fill a gap"));
    let Some(hub) = hub.upgrade() else { return };
    let filled = stored.as_ref().map_or(0, Vec::len);
    for (event, offset, payload) in stored.unwrap_or_default() {
        let Value::Object(payload) = payload else {
            continue;
        };
        let position = Position {
            epoch: gap.epoch.clone(),
            offset,
        };
        hub.publish(&gap.key, event, payload, Sequence::At(position));
    }
    if filled > 0 {
        tracing::info!(key = %gap.key, filled, "filled a gap from storage");
    }
    if gap.age >= GIVE_UP {
        tracing::warn!(key = %gap.key, after = gap.after, up_to = gap.up_to, "skipped a gap storage could not fill");
        hub.skip_gap(&gap.key);
    }
}
