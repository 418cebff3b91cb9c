//! WebDAV's lock system: `dav-server`'s in-memory one (`MemLs`, per space and process) for the
//! protocol's rules (shared and exclusive, depth, tokens, lock-null names), with every lock it
//! grants recorded as a files lock, and files locks it did not grant (an app's, or a WebDAV
//! client's on another node) counted as conflicts. So apps see who holds a WebDAV lock and
//! WebDAV answers 423 for a file an app is editing.

use std::time::{Duration, SystemTime};

use dav_server::davpath::DavPath;
use dav_server::ls::{DavLock, DavLockSystem, LsFuture};
use dav_server::memls::MemLs;
use futures_util::FutureExt;
use xmltree::Element;

use super::fs::{path_of, Caller};
use crate::contexts::files::{FilesService, Lock};

#[derive(Clone)]
pub struct SharedLocks {
    pub memory: Box<MemLs>,
    pub files: FilesService,
    pub caller: Caller,
}

impl std::fmt::Debug for SharedLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLocks")
            .field("space", &self.caller.space.id)
            .finish()
    }
}

/// A files lock as WebDAV shows a conflicting lock.
fn as_dav(lock: Lock, path: &DavPath) -> DavLock {
    let left = (lock.expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    DavLock {
        token: lock.token,
        path: Box::new(path.clone()),
        principal: Some(lock.holder.to_string()),
        owner: None,
        timeout_at: Some(SystemTime::now() + left),
        timeout: Some(left),
        shared: false,
        deep: lock.deep,
    }
}

impl SharedLocks {
    /// Someone else's files lock on `path` (errors count as none: the protocol layer's own
    /// checks still hold, and the service refuses the write itself).
    async fn conflict(&self, path: &DavPath) -> Option<DavLock> {
        let text = path_of(path).ok()?;
        let text = if text.is_empty() {
            "/".to_string()
        } else {
            text
        };
        match self
            .files
            .dav_conflict(&self.caller.principal, &self.caller.space, &text)
            .await
        {
            Ok(lock) => lock.map(|l| as_dav(l, path)),
            Err(error) => {
                tracing::warn!(%error, "webdav: reading locks failed");
                None
            }
        }
    }
}

impl DavLockSystem for SharedLocks {
    fn lock(
        &'_ self,
        path: &DavPath,
        principal: Option<&str>,
        owner: Option<&Element>,
        timeout: Option<Duration>,
        shared: bool,
        deep: bool,
    ) -> LsFuture<'_, Result<DavLock, DavLock>> {
        let path = path.clone();
        let principal = principal.map(str::to_string);
        let owner = owner.cloned();
        async move {
            if let Some(conflict) = self.conflict(&path).await {
                return Err(conflict);
            }
            let lock = self
                .memory
                .lock(
                    &path,
                    principal.as_deref(),
                    owner.as_ref(),
                    timeout,
                    shared,
                    deep,
                )
                .await?;
            if let Ok(text) = path_of(&path) {
                let recorded = self
                    .files
                    .record_dav_lock(
                        &self.caller.principal,
                        &self.caller.space,
                        &text,
                        &lock.token,
                        deep,
                        timeout,
                    )
                    .await;
                if let Err(error) = recorded {
                    tracing::warn!(%error, "webdav: recording a lock failed");
                }
            }
            Ok(lock)
        }
        .boxed()
    }

    fn unlock(&'_ self, path: &DavPath, token: &str) -> LsFuture<'_, Result<(), ()>> {
        let path = path.clone();
        let token = token.to_string();
        async move {
            self.memory.unlock(&path, &token).await?;
            if let Err(error) = self.files.drop_dav_lock(&token).await {
                tracing::warn!(%error, "webdav: removing a lock failed");
            }
            Ok(())
        }
        .boxed()
    }

    fn refresh(
        &'_ self,
        path: &DavPath,
        token: &str,
        timeout: Option<Duration>,
    ) -> LsFuture<'_, Result<DavLock, ()>> {
        let path = path.clone();
        let token = token.to_string();
        async move {
            let lock = self.memory.refresh(&path, &token, timeout).await?;
            if let Err(error) = self.files.refresh_dav_lock(&token, timeout).await {
                tracing::warn!(%error, "webdav: refreshing a lock failed");
            }
            Ok(lock)
        }
        .boxed()
    }

    fn check(
        &'_ self,
        path: &DavPath,
        principal: Option<&str>,
        ignore_principal: bool,
        deep: bool,
        submitted_tokens: &[String],
    ) -> LsFuture<'_, Result<(), DavLock>> {
        let path = path.clone();
        let principal = principal.map(str::to_string);
        let submitted_tokens = submitted_tokens.to_vec();
        async move {
            self.memory
                .check(
                    &path,
                    principal.as_deref(),
                    ignore_principal,
                    deep,
                    &submitted_tokens,
                )
                .await?;
            match self.conflict(&path).await {
                Some(conflict) if !submitted_tokens.contains(&conflict.token) => Err(conflict),
                _ => Ok(()),
            }
        }
        .boxed()
    }

    fn discover(&'_ self, path: &DavPath) -> LsFuture<'_, Vec<DavLock>> {
        let path = path.clone();
        async move {
            let mut locks = self.memory.discover(&path).await;
            if let Some(conflict) = self.conflict(&path).await {
                if !locks.iter().any(|l| l.token == conflict.token) {
                    locks.push(conflict);
                }
            }
            locks
        }
        .boxed()
    }

    fn delete(&'_ self, path: &DavPath) -> LsFuture<'_, Result<(), ()>> {
        let path = path.clone();
        async move {
            let tokens: Vec<String> = self
                .memory
                .discover(&path)
                .await
                .into_iter()
                .map(|l| l.token)
                .collect();
            for token in tokens {
                if let Err(error) = self.files.drop_dav_lock(&token).await {
                    tracing::warn!(%error, "webdav: removing a lock failed");
                }
            }
            self.memory.delete(&path).await
        }
        .boxed()
    }
}
