//! Locks: who is editing a node. A WebDAV client's LOCK and an app's `lockFileNode` are the
//! same kind of row, so a file a desktop editor holds over WebDAV shows its holder in the apps,
//! and an app's lock makes WebDAV answer 423. Locks are per user: the holder's other devices
//! may still write (a sync client and an editor of the same person must not block each other);
//! anyone else's write to the node, or below a deep lock, gets [`FilesError::Locked`]. Expired
//! locks are ignored and removed with the next lock taken.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use crate::contexts::auth::{Principal, Role};
use crate::ids::NodeId;

use super::{FilesError, FilesService, Lock, LockKind, Space};

type Result<T, E = FilesError> = std::result::Result<T, E>;

/// An app lock without a stated length.
pub const DEFAULT_APP_LOCK_MINUTES: u32 = 30;
/// The longest any lock is recorded for (a WebDAV "Infinite" timeout included); the holder
/// refreshes it to keep it.
pub const MAX_LOCK_MINUTES: u32 = 24 * 60;

fn until(now: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
    now + Duration::minutes(i64::from(minutes.clamp(1, MAX_LOCK_MINUTES)))
}

fn minutes_of(timeout: Option<StdDuration>) -> u32 {
    timeout.map_or(MAX_LOCK_MINUTES, |t| {
        u32::try_from(t.as_secs().div_ceil(60)).unwrap_or(MAX_LOCK_MINUTES)
    })
}

impl FilesService {
    /// Unexpired locks on the node and deep ones on the folders above it, oldest first.
    async fn locks_over(&self, node_id: &NodeId) -> Result<Vec<Lock>> {
        let ancestry: Vec<NodeId> = self
            .store()
            .ancestry(node_id)
            .await?
            .into_iter()
            .map(|n| n.id)
            .collect();
        let locks = self
            .lock_store()
            .on(&ancestry, super::service::now())
            .await?;
        Ok(locks
            .into_iter()
            .filter(|l| &l.node_id == node_id || l.deep)
            .collect())
    }

    /// Locks covering the node that bind anyone but `by`.
    async fn binding_locks(&self, by: &Principal, node_id: &NodeId) -> Result<Vec<Lock>> {
        let locks = self.locks_over(node_id).await?;
        Ok(locks
            .into_iter()
            .filter(|l| l.holder != by.user_id)
            .collect())
    }

    /// Refuses when someone else's lock covers the node (for a new node: its folder).
    pub(super) async fn ensure_unlocked(&self, by: &Principal, node_id: &NodeId) -> Result<()> {
        match self.binding_locks(by, node_id).await?.into_iter().next() {
            Some(lock) => Err(FilesError::Locked {
                holder: lock.holder,
            }),
            None => Ok(()),
        }
    }

    /// Locks the caller may see on a node: its own and deep ones above it, oldest first.
    pub async fn locks(&self, by: &Principal, node_id: &NodeId) -> Result<Vec<Lock>> {
        self.node(by, node_id).await?;
        self.locks_over(node_id).await
    }

    /// An app lock on a node the caller may change, for `minutes` (default
    /// [`DEFAULT_APP_LOCK_MINUTES`], at most [`MAX_LOCK_MINUTES`]); the caller's own app lock
    /// is extended instead of doubled.
    pub async fn lock_node(
        &self,
        by: &Principal,
        node_id: &NodeId,
        minutes: Option<u32>,
        note: Option<&str>,
    ) -> Result<Lock> {
        let node = self.node(by, node_id).await?;
        self.writable(by, &node.space_id).await?;
        self.ensure_unlocked(by, node_id).await?;
        let now = super::service::now();
        let expires_at = until(now, minutes.unwrap_or(DEFAULT_APP_LOCK_MINUTES));
        let own = self
            .lock_store()
            .on(std::slice::from_ref(node_id), now)
            .await?
            .into_iter()
            .find(|l| l.holder == by.user_id && l.kind == LockKind::App);
        if let Some(mut lock) = own {
            self.lock_store().extend(&lock.token, expires_at).await?;
            lock.expires_at = expires_at;
            return Ok(lock);
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > 200) {
            return Err(FilesError::Invalid(
                "a lock note has at most 200 characters".into(),
            ));
        }
        let lock = Lock {
            token: format!("app-{}", nanoid::nanoid!(21)),
            node_id: node_id.clone(),
            holder: by.user_id.clone(),
            kind: LockKind::App,
            note: note.map(str::to_string),
            deep: node.is_folder(),
            expires_at,
            created_at: now,
        };
        self.lock_store().insert(&lock).await?;
        Ok(lock)
    }

    /// Releases the caller's locks on a node (an admin's: anyone's, to free a file whose
    /// holder went away). `false` when there was none to release.
    pub async fn unlock_node(&self, by: &Principal, node_id: &NodeId) -> Result<bool> {
        let node = self.node(by, node_id).await?;
        self.writable(by, &node.space_id).await?;
        let now = super::service::now();
        let mut released = false;
        for lock in self
            .lock_store()
            .on(std::slice::from_ref(node_id), now)
            .await?
        {
            if lock.holder == by.user_id || by.role == Role::Admin {
                released |= self.lock_store().delete(&lock.token).await?;
            }
        }
        Ok(released)
    }

    // --- WebDAV's lock system (dav/locks.rs) ---

    /// Someone else's lock covering `path` in `space`, if any.
    pub async fn dav_conflict(
        &self,
        by: &Principal,
        space: &Space,
        path: &str,
    ) -> Result<Option<Lock>> {
        match self.resolve(space, path).await? {
            Some(node) => Ok(self.binding_locks(by, &node.id).await?.into_iter().next()),
            None => Ok(None),
        }
    }

    /// Records a WebDAV lock the protocol layer granted, when `path` names a node (a lock on
    /// a name not yet written binds only through the WebDAV layer).
    pub async fn record_dav_lock(
        &self,
        by: &Principal,
        space: &Space,
        path: &str,
        token: &str,
        deep: bool,
        timeout: Option<StdDuration>,
    ) -> Result<()> {
        let Some(node) = self.resolve(space, path).await? else {
            return Ok(());
        };
        let now = super::service::now();
        self.lock_store()
            .insert(&Lock {
                token: token.to_string(),
                node_id: node.id,
                holder: by.user_id.clone(),
                kind: LockKind::Webdav,
                note: Some("WebDAV".into()),
                deep,
                expires_at: until(now, minutes_of(timeout)),
                created_at: now,
            })
            .await
    }

    pub async fn refresh_dav_lock(&self, token: &str, timeout: Option<StdDuration>) -> Result<()> {
        let expires_at = until(super::service::now(), minutes_of(timeout));
        self.lock_store().extend(token, expires_at).await?;
        Ok(())
    }

    pub async fn drop_dav_lock(&self, token: &str) -> Result<()> {
        self.lock_store().delete(token).await?;
        Ok(())
    }
}
