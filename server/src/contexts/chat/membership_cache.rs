//! `MembershipCache`: who takes part in which conversation, remembered for the hot paths
//! (sending, reacting, marking read), which asked the database once per message before.
//!
//! A conversation's entries are dropped when one of its participants is added, removed or
//! changes role: at once by the service on this node, and by the bus's
//! `conversation.participant_*` / `conversation.updated` events for changes made on another
//! node. Core NATS delivers at most once, so an entry also lives at most [`TTL`]: a removal
//! whose event a node missed is seen there within that time. Only memberships are cached,
//! never their absence, so someone just added is never refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::broadcast::error::RecvError;

use super::events::{CONVERSATION_UPDATED, PARTICIPANT_ADDED, PARTICIPANT_REMOVED};
use super::store::Membership;
use crate::events::EventBus;
use crate::ids::{ConversationId, UserId};

/// Longest an entry is trusted without asking the database again.
pub(super) const TTL: Duration = Duration::from_secs(30);

/// Conversations remembered at most; past it everything is forgotten at once (cheaper than
/// tracking age, and refilled by the next message of each).
const MAX_CONVERSATIONS: usize = 50_000;

#[derive(Default)]
pub(super) struct MembershipCache {
    conversations: DashMap<ConversationId, HashMap<UserId, (Arc<Membership>, Instant)>>,
    /// Moves on every invalidation: a lookup that started before one must not store what it
    /// read, which may be what was just invalidated.
    generation: AtomicU64,
}

impl MembershipCache {
    pub(super) fn get(
        &self,
        conversation_id: &ConversationId,
        user_id: &UserId,
    ) -> Option<Arc<Membership>> {
        let members = self.conversations.get(conversation_id)?;
        let (membership, cached_at) = members.get(user_id)?;
        (cached_at.elapsed() < TTL).then(|| Arc::clone(membership))
    }

    /// Read before asking the database; hand it back to [`MembershipCache::put`].
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers a membership read from the database, unless the conversation's members
    /// changed since `generation` was read.
    pub(super) fn put(&self, generation: u64, user_id: &UserId, membership: &Arc<Membership>) {
        if self.conversations.len() >= MAX_CONVERSATIONS {
            self.conversations.clear();
        }
        let mut members = self.conversations.entry(membership.id.clone()).or_default();
        // Checked under the entry's lock, which `forget` takes too.
        if self.generation() == generation {
            members.insert(user_id.clone(), (Arc::clone(membership), Instant::now()));
        }
    }

    /// Drops what is known of one conversation's participants.
    pub(super) fn forget(&self, conversation_id: &ConversationId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.conversations.remove(conversation_id);
    }

    fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.conversations.clear();
    }

    /// Follows the bus: membership changes made on any node drop their conversation.
    pub(super) fn spawn_invalidation(self: &Arc<Self>, bus: &Arc<dyn EventBus>) {
        let cache = self.clone();
        let mut events = bus.subscribe();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        if !matches!(
                            event.kind.as_str(),
                            PARTICIPANT_ADDED | PARTICIPANT_REMOVED | CONVERSATION_UPDATED
                        ) {
                            continue;
                        }
                        match event.data.get("conversation_id").and_then(|v| v.as_str()) {
                            Some(id) => cache.forget(&ConversationId::from(id)),
                            None => cache.forget_all(),
                        }
                    }
                    // A change may be among the missed events.
                    Err(RecvError::Lagged(_)) => cache.forget_all(),
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CommunityId;

    fn membership(id: &str) -> Arc<Membership> {
        Arc::new(Membership {
            id: id.into(),
            community_id: CommunityId::from("c1"),
            epoch: "e1".into(),
            encrypted: false,
            role: "member".into(),
        })
    }

    #[test]
    fn forgetting_a_conversation_drops_its_members_only() {
        let cache = MembershipCache::default();
        let ana = UserId::from("ana");
        cache.put(cache.generation(), &ana, &membership("x"));
        cache.put(cache.generation(), &ana, &membership("y"));
        cache.forget(&"x".into());
        assert!(cache.get(&"x".into(), &ana).is_none());
        assert_eq!(cache.get(&"y".into(), &ana).unwrap().id.as_str(), "y");
        assert!(cache.get(&"y".into(), &UserId::from("bia")).is_none());
    }

    #[test]
    fn a_read_from_before_an_invalidation_is_not_kept() {
        let cache = MembershipCache::default();
        let ana = UserId::from("ana");
        let before = cache.generation();
        // Ana is removed while her membership is being read.
        cache.forget(&"x".into());
        cache.put(before, &ana, &membership("x"));
        assert!(cache.get(&"x".into(), &ana).is_none());
        cache.put(cache.generation(), &ana, &membership("x"));
        assert!(cache.get(&"x".into(), &ana).is_some());
    }
}
