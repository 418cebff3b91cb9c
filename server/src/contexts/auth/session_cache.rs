//! Verified sessions kept in memory so most requests skip the database.
//!
//! Keyed by token hash. An entry is trusted for `ttl`, then re-read from `user_sessions`;
//! sign-out, revocation and role changes made through this process remove entries at once.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dashmap::DashMap;

use super::Principal;
use crate::ids::{SessionId, UserId};

/// Entries beyond this are swept (stale first, then everything) so memory stays bounded.
const MAX_ENTRIES: usize = 100_000;

struct Entry {
    principal: Principal,
    expires_at: DateTime<Utc>,
    cached_at: Instant,
}

pub struct SessionCache {
    entries: DashMap<String, Entry>,
    ttl: Duration,
}

impl SessionCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: DashMap::new(),
            ttl,
        }
    }

    pub fn get(&self, token_hash: &str, now: DateTime<Utc>) -> Option<Principal> {
        let entry = self.entries.get(token_hash)?;
        if entry.cached_at.elapsed() < self.ttl && entry.expires_at > now {
            Some(entry.principal.clone())
        } else {
            drop(entry);
            self.entries.remove(token_hash);
            None
        }
    }

    pub fn insert(&self, token_hash: String, principal: Principal, expires_at: DateTime<Utc>) {
        if self.ttl.is_zero() {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            self.entries.retain(|_, e| e.cached_at.elapsed() < ttl);
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
        }
        self.entries.insert(
            token_hash,
            Entry {
                principal,
                expires_at,
                cached_at: Instant::now(),
            },
        );
    }

    pub fn forget_session(&self, session_id: &SessionId) {
        self.entries
            .retain(|_, e| e.principal.session_id != *session_id);
    }

    pub fn forget_user(&self, user_id: &UserId) {
        self.entries.retain(|_, e| e.principal.user_id != *user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::Role;

    fn principal(user: &str, session: &str) -> Principal {
        Principal {
            user_id: user.into(),
            community_id: "c".into(),
            role: Role::Member,
            session_id: session.into(),
            email: "e".into(),
            expires_at: Utc::now(),
        }
    }

    #[test]
    fn forget_removes_at_once() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let later = Utc::now() + chrono::Duration::hours(1);
        cache.insert("h1".into(), principal("u1", "s1"), later);
        cache.insert("h2".into(), principal("u1", "s2"), later);
        cache.insert("h3".into(), principal("u2", "s3"), later);
        cache.forget_session(&"s1".into());
        assert!(cache.get("h1", Utc::now()).is_none());
        assert!(cache.get("h2", Utc::now()).is_some());
        cache.forget_user(&"u1".into());
        assert!(cache.get("h2", Utc::now()).is_none());
        assert!(cache.get("h3", Utc::now()).is_some());
    }

    #[test]
    fn expired_tokens_are_not_served() {
        let cache = SessionCache::new(Duration::from_secs(60));
        cache.insert(
            "h".into(),
            principal("u", "s"),
            Utc::now() - chrono::Duration::seconds(1),
        );
        assert!(cache.get("h", Utc::now()).is_none());
    }
}
