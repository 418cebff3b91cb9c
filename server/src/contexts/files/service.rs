//! `FilesService`: the rules. Who sees a space (a personal one: its owner; a community's: its
//! members, guests only reading), what a write does (a version, a conflict copy, a journal
//! row), moves without copying bytes, the trash, version retention, app passwords.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sha2::{Digest, Sha256};

use crate::config::FilesConfig;
use crate::contexts::auth::{AttemptLimiter, AuthService, Principal, Role};
use crate::contexts::media::{BlobRead, Budget, Ingest, Ingested, MediaService, Quota};
use crate::db::Db;
use crate::events::EventBus;
use crate::ids::{AppPasswordId, NodeId, SessionId, ShareId, SpaceId, UserId, VersionId};

use self::access::{same_scope, Target};
use super::events::FilesEvent;
use super::lock_store::LockStore;
use super::names::{conflict_name, split_path};
use super::neighbour::FilesBlobs;
use super::placement::FilesPlacement;
use super::property_store::PropertyStore;
use super::resumable::Resumable;
use super::store::{Draft, FilesStore, NewNode, NewVersion, NodeRow, Write};
use super::{
    app_password, AppPassword, Change, ChangeAction, ChangesPage, FilesError, Node, NodeKind,
    Space, SpaceKind, TrashItem, Version, Written,
};

mod access;
mod sharing;

pub use sharing::OpenLink;

type Result<T, E = FilesError> = std::result::Result<T, E>;

/// Most changes one `changes` call returns.
pub const MAX_CHANGES_PAGE: u32 = 1000;
/// Most children one listing returns.
pub const MAX_LIST_PAGE: u32 = 1000;
/// How long a verified app password is trusted without hashing it again.
const APP_PASSWORD_CACHE: StdDuration = StdDuration::from_secs(300);
/// Link password checks allowed per minute from one address, and at one link.
const LINK_GUESSES_PER_MINUTE: u32 = 10;

#[derive(Clone)]
pub struct FilesService {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    store: FilesStore,
    locks: LockStore,
    properties: PropertyStore,
    /// Resumable uploads into spaces (tus, and the targets of socket uploads).
    uploads: Resumable,
    media: MediaService,
    auth: AuthService,
    bus: Arc<dyn EventBus>,
    config: FilesConfig,
    /// (user, SHA-256 of the secret) → the app password it matched and when: WebDAV clients
    /// send the password with every request, and argon2 on each would cost more than the
    /// request. Revoking removes the password's entries.
    verified: dashmap::DashMap<(UserId, [u8; 32]), (AppPasswordId, Instant)>,
    /// (link, SHA-256 of the password) → when it last verified: a link's page sends its
    /// password with every request, and argon2 on each would be slow.
    verified_links: dashmap::DashMap<(ShareId, [u8; 32]), Instant>,
    /// Link password guesses, per client address and per link.
    link_guesses: AttemptLimiter,
    /// Chat, which lets participants read the files messages carry (set once at start).
    shared: std::sync::OnceLock<Arc<dyn super::shared::SharedFiles>>,
}

fn may_read(by: &Principal, space: &Space) -> bool {
    by.community_id == space.community_id
        && match space.kind {
            SpaceKind::Personal => space.owner_id.as_ref() == Some(&by.user_id),
            SpaceKind::Community => true,
        }
}

pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `/a/b` from the names below the root.
fn join_path(names: &[String]) -> String {
    format!("/{}", names.join("/"))
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// The listing key of a node (see the store's `SORT_KEY`): where the next page starts.
pub fn sort_key(node: &Node) -> String {
    let rank = if node.is_folder() { '0' } else { '1' };
    format!("{rank}/{}", super::name_key(&node.name))
}

impl FilesService {
    /// Builds the service and registers it with media as the other user of the blob store
    /// and the quota.
    pub fn new(
        db: Db,
        media: MediaService,
        auth: AuthService,
        bus: Arc<dyn EventBus>,
        config: FilesConfig,
    ) -> Self {
        let locks = LockStore::new(db.clone());
        let properties = PropertyStore::new(db.clone());
        let store = FilesStore::new(db.clone());
        media.set_neighbour(Arc::new(FilesBlobs(store.clone())));
        let uploads = Resumable::new(db, media.uploads_dir().join("tus"), &config);
        let inner = Arc::new(Inner {
            store,
            locks,
            properties,
            uploads,
            media: media.clone(),
            auth,
            bus,
            config,
            verified: dashmap::DashMap::new(),
            verified_links: dashmap::DashMap::new(),
            link_guesses: AttemptLimiter::per_minute(LINK_GUESSES_PER_MINUTE),
            shared: std::sync::OnceLock::new(),
        });
        // Weak: media holds the placement, and the service holds media.
        media.set_placement(Arc::new(FilesPlacement(Arc::downgrade(&inner))));
        Self { inner }
    }

    /// The service around its parts (the placement holds them weakly).
    pub(super) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    pub(super) fn store(&self) -> &FilesStore {
        &self.inner.store
    }

    pub(super) fn lock_store(&self) -> &LockStore {
        &self.inner.locks
    }

    pub(super) fn property_store(&self) -> &PropertyStore {
        &self.inner.properties
    }

    pub(super) fn uploads(&self) -> &Resumable {
        &self.inner.uploads
    }

    pub(super) fn media(&self) -> &MediaService {
        &self.inner.media
    }

    /// Refuses, before any byte arrives, an upload `by` could not store at `path`: no write
    /// access, a bad name, a missing parent folder.
    pub(super) async fn check_target(
        &self,
        by: &Principal,
        space_id: &SpaceId,
        path: &str,
    ) -> Result<()> {
        self.target(by, space_id, path, false).await?;
        Ok(())
    }

    // --- spaces ---

    /// The caller's personal space (made on first use), then their community's spaces.
    /// Who else may read files (chat's attachments); set once at start.
    pub fn set_shared_files(&self, shared: Arc<dyn super::shared::SharedFiles>) {
        let _ = self.inner.shared.set(shared);
    }

    pub async fn spaces(&self, by: &Principal) -> Result<Vec<Space>> {
        let mut spaces = vec![self.personal_space(by).await?];
        spaces.extend(self.store().community_spaces(&by.community_id).await?);
        Ok(spaces)
    }

    pub async fn personal_space(&self, by: &Principal) -> Result<Space> {
        if let Some(space) = self.store().personal_space(&by.user_id).await? {
            return Ok(space);
        }
        let space = Space {
            id: SpaceId::new(),
            community_id: by.community_id.clone(),
            kind: SpaceKind::Personal,
            owner_id: Some(by.user_id.clone()),
            name: "Personal".into(),
            epoch: nanoid::nanoid!(12),
            last_cursor: 0,
            root_id: NodeId::new(),
        };
        self.store().create_space(&space, now()).await?;
        // Made here or, concurrently, by another request: the stored one wins.
        self.store()
            .personal_space(&by.user_id)
            .await?
            .ok_or(FilesError::NotFound)
    }

    /// A space shared by the whole community (members and admins create them).
    pub async fn create_space(&self, by: &Principal, name: &str) -> Result<Space> {
        if by.role == Role::Guest {
            return Err(FilesError::GuestsMayNot("create spaces"));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(FilesError::Invalid(
                "a space name has 1 to 100 characters".into(),
            ));
        }
        let space = Space {
            id: SpaceId::new(),
            community_id: by.community_id.clone(),
            kind: SpaceKind::Community,
            owner_id: None,
            name: name.into(),
            epoch: nanoid::nanoid!(12),
            last_cursor: 0,
            root_id: NodeId::new(),
        };
        self.store().create_space(&space, now()).await?;
        Ok(space)
    }

    /// A space the caller may read; `NotFound` otherwise.
    pub async fn space(&self, by: &Principal, id: &SpaceId) -> Result<Space> {
        match self.store().space(id).await? {
            Some(space) if may_read(by, &space) => Ok(space),
            _ => Err(FilesError::NotFound),
        }
    }

    /// A space the caller may change.
    pub(super) async fn writable(&self, by: &Principal, id: &SpaceId) -> Result<Space> {
        let space = self.space(by, id).await?;
        if by.role == Role::Guest {
            return Err(FilesError::GuestsMayNot("change files"));
        }
        Ok(space)
    }

    // --- reading the tree ---

    /// The live node at `path` (`/` is the root), or `None`.
    pub(super) async fn resolve(&self, space: &Space, path: &str) -> Result<Option<NodeRow>> {
        let names = split_path(path)?;
        let mut current = self
            .store()
            .node(&space.root_id)
            .await?
            .ok_or(FilesError::NotFound)?;
        for name in &names {
            if current.kind() != NodeKind::Folder {
                return Ok(None);
            }
            match self.store().child(&current.id, name).await? {
                Some(child) => current = child,
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    /// The live folder that would hold `path`, with the new node's name.
    async fn parent_of(&self, space: &Space, path: &str) -> Result<(NodeRow, String, String)> {
        let mut names = split_path(path)?;
        let name = names
            .pop()
            .ok_or_else(|| FilesError::Invalid("the root cannot be replaced".into()))?;
        let parent_path = join_path(&names);
        match self.resolve(space, &parent_path).await? {
            Some(parent) if parent.kind() == NodeKind::Folder => Ok((parent, parent_path, name)),
            _ => Err(FilesError::ParentMissing),
        }
    }

    /// The node with its path, if it is live (neither it nor a folder above it in the trash).
    async fn live(&self, id: &NodeId) -> Result<Option<Node>> {
        let ancestry = self.store().ancestry(id).await?;
        if ancestry.is_empty() || ancestry.iter().any(|n| n.trashed_at.is_some()) {
            return Ok(None);
        }
        let mut names: Vec<String> = ancestry
            .iter()
            .filter(|n| n.parent_id.is_some())
            .map(|n| n.name.clone())
            .collect();
        names.reverse();
        let node = ancestry.into_iter().next().expect("not empty");
        Ok(Some(node.into_node(join_path(&names))))
    }

    pub async fn node_by_path(
        &self,
        by: &Principal,
        space_id: &SpaceId,
        path: &str,
    ) -> Result<Node> {
        let space = self
            .store()
            .space(space_id)
            .await?
            .ok_or(FilesError::NotFound)?;
        let row = self
            .resolve(&space, path)
            .await?
            .ok_or(FilesError::NotFound)?;
        if !may_read(by, &space) {
            // A grantee: only what a share reaches, never the space's other paths.
            self.readable(by, &row.id).await?;
        }
        let names = split_path(path)?;
        Ok(row.into_node(join_path(&names)))
    }

    /// A live node the caller may read (through its space or a share).
    pub async fn node(&self, by: &Principal, id: &NodeId) -> Result<Node> {
        Ok(self.readable(by, id).await?.0)
    }

    /// A folder's children, folders first then by name without case, after the sort key
    /// `after` (see [`sort_key`]).
    pub async fn list(
        &self,
        by: &Principal,
        folder_id: &NodeId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Node>> {
        let folder = self.node(by, folder_id).await?;
        if !folder.is_folder() {
            return Err(FilesError::WrongKind("folder"));
        }
        let rows = self
            .store()
            .children(folder_id, after, limit.clamp(1, MAX_LIST_PAGE))
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let path = child_path(&folder.path, &row.name);
                row.into_node(path)
            })
            .collect())
    }

    /// Live nodes of a space whose name contains `needle` (without case), at most `limit`.
    pub async fn search(
        &self,
        by: &Principal,
        space_id: &SpaceId,
        needle: &str,
        limit: u32,
    ) -> Result<Vec<Node>> {
        self.space(by, space_id).await?;
        if needle.trim().is_empty() {
            return Ok(Vec::new());
        }
        let limit = limit.clamp(1, 200);
        let mut found = Vec::new();
        // Trashed matches are skipped, so ask for more than needed.
        for row in self.store().search(space_id, needle, limit * 4).await? {
            if let Some(node) = self.live(&row.id).await? {
                found.push(node);
                if found.len() as u32 == limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    // --- writing ---

    /// Publishes a committed journal row.
    fn publish(&self, space: &Space, change: &Change) {
        self.inner
            .bus
            .publish(FilesEvent::changed(&space.community_id, change));
    }

    async fn commit(&self, space: &Space, write: Write<'_>, changes: Vec<Change>) -> Result<()> {
        write.commit().await?;
        for change in &changes {
            self.publish(space, change);
        }
        Ok(())
    }

    pub async fn create_folder(
        &self,
        by: &Principal,
        space_id: &SpaceId,
        path: &str,
    ) -> Result<Node> {
        let Target {
            space,
            parent,
            parent_path,
            name,
            ..
        } = self.target(by, space_id, path, false).await?;
        self.ensure_unlocked(by, &parent.id).await?;
        let id = NodeId::new();
        let at = now();
        let path = child_path(&parent_path, &name);
        let mut write = self.store().write().await?;
        write
            .insert_node(&NewNode {
                id: &id,
                space_id: &space.id,
                parent_id: Some(&parent.id),
                name: &name,
                kind: NodeKind::Folder,
                now: at,
            })
            .await?;
        let change = write
            .journal(&Draft {
                space_id: &space.id,
                node_id: &id,
                action: ChangeAction::Created,
                path: &path,
                from_path: None,
                kind: NodeKind::Folder,
                size: 0,
                user_id: &by.user_id,
                now: at,
            })
            .await?;
        self.commit(&space, write, vec![change]).await?;
        self.live(&id).await?.ok_or(FilesError::NotFound)
    }

    /// What `by` may upload into the space now: media's `max_upload_bytes`, within the room
    /// left in the community's quota (photos and files together).
    pub async fn upload_budget(&self, by: &Principal, space_id: &SpaceId) -> Result<Budget> {
        let space = self.upload_space(by, space_id).await?;
        let community = &space.community_id;
        let quota = self.inner.auth.storage_quota_bytes(community).await?;
        let used = self.inner.media.bytes_used(community).await?
            + self.store().bytes_used(community).await?;
        Ok(Budget {
            max_bytes: self.inner.media.max_upload_bytes(),
            quota: Some(Quota { used, quota }),
        })
    }

    /// Refuses before any byte is read when `incoming` bytes cannot fit.
    pub async fn check_room(
        &self,
        by: &Principal,
        space_id: &SpaceId,
        incoming: u64,
    ) -> Result<()> {
        self.upload_budget(by, space_id).await?.check(incoming)?;
        Ok(())
    }

    /// Starts receiving a file for the space (streamed to a temporary file, refused the moment
    /// it passes the budget).
    pub async fn begin_upload(&self, by: &Principal, space_id: &SpaceId) -> Result<Ingest> {
        let budget = self.upload_budget(by, space_id).await?;
        Ok(self.inner.media.begin_ingest_within(budget).await?)
    }

    /// Stores a received file at `path` as a new version (or a new file). With `base` (the
    /// version the client started from) and a newer current version, the upload is kept
    /// beside it under a conflict name instead. The same bytes as the current version change
    /// nothing.
    pub async fn store_upload(
        &self,
        by: &Principal,
        space_id: &SpaceId,
        path: &str,
        ingested: Ingested,
        base: Option<&VersionId>,
        device: Option<&str>,
    ) -> Result<Written> {
        let Target {
            space,
            parent,
            parent_path,
            name,
            via_file,
            ..
        } = match self.target(by, space_id, path, true).await {
            Ok(target) => target,
            Err(e) => {
                ingested.discard().await;
                return Err(e);
            }
        };
        // Write on the file alone allows its versions, never a conflict copy beside it.
        let base = if via_file { None } else { base };
        let size = ingested.size;
        let hash = self.inner.media.put_blob(ingested).await?;
        let result = self
            .place_version(
                by,
                &space,
                &parent,
                &parent_path,
                &name,
                &hash,
                size,
                base,
                device,
            )
            .await;
        if result.is_err() {
            self.inner.media.release_blob(&hash).await?;
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn place_version(
        &self,
        by: &Principal,
        space: &Space,
        parent: &NodeRow,
        parent_path: &str,
        name: &str,
        hash: &str,
        size: u64,
        base: Option<&VersionId>,
        device: Option<&str>,
    ) -> Result<Written> {
        let at = now();
        let existing = self.store().child(&parent.id, name).await?;
        let target = existing.as_ref().map_or(&parent.id, |node| &node.id);
        self.ensure_unlocked(by, target).await?;
        let (node_id, name, created, conflict) = match existing {
            Some(node) if node.kind() == NodeKind::Folder => {
                return Err(FilesError::NameTaken(node.name));
            }
            Some(node) if base.is_some() && base != node.version_id.as_ref() => {
                let copy = conflict_name(&node.name, device.unwrap_or(""), at);
                (NodeId::new(), copy, true, true)
            }
            Some(node) if node.content_hash.as_deref() == Some(hash) => {
                let version = match &node.version_id {
                    Some(id) => self.store().version(id).await?,
                    None => None,
                };
                let path = child_path(parent_path, &node.name);
                if let Some(version) = version {
                    return Ok(Written {
                        node: node.into_node(path),
                        version,
                        created: false,
                        conflict: false,
                    });
                }
                (node.id, node.name, false, false)
            }
            Some(node) => (node.id, node.name, false, false),
            None => (NodeId::new(), name.to_string(), true, false),
        };
        let path = child_path(parent_path, &name);
        let version_id = VersionId::new();
        let mut write = self.store().write().await?;
        if created {
            write
                .insert_node(&NewNode {
                    id: &node_id,
                    space_id: &space.id,
                    parent_id: Some(&parent.id),
                    name: &name,
                    kind: NodeKind::File,
                    now: at,
                })
                .await?;
        }
        write
            .insert_version(&NewVersion {
                id: &version_id,
                node_id: &node_id,
                content_hash: hash,
                size,
                created_by: &by.user_id,
                device,
                now: at,
            })
            .await?;
        let change = write
            .journal(&Draft {
                space_id: &space.id,
                node_id: &node_id,
                action: if created {
                    ChangeAction::Created
                } else {
                    ChangeAction::Updated
                },
                path: &path,
                from_path: None,
                kind: NodeKind::File,
                size,
                user_id: &by.user_id,
                now: at,
            })
            .await?;
        self.commit(space, write, vec![change]).await?;
        if !created {
            self.prune_versions(&node_id).await?;
        }
        let node = self.live(&node_id).await?.ok_or(FilesError::NotFound)?;
        let version = self
            .store()
            .version(&version_id)
            .await?
            .ok_or(FilesError::NotFound)?;
        Ok(Written {
            node,
            version,
            created,
            conflict,
        })
    }

    /// Writes `bytes` at `path` in one go (small files, tests).
    pub async fn write_bytes(
        &self,
        by: &Principal,
        space_id: &SpaceId,
        path: &str,
        bytes: &[u8],
        base: Option<&VersionId>,
    ) -> Result<Written> {
        let mut ingest = self.begin_upload(by, space_id).await?;
        ingest.write(bytes).await?;
        let ingested = ingest.finish().await?;
        self.store_upload(by, space_id, path, ingested, base, None)
            .await
    }

    /// Keeps the newest `keep_versions` versions and, with an age limit, none older than it;
    /// the current version always stays. Blobs no one uses any more are deleted.
    async fn prune_versions(&self, node_id: &NodeId) -> Result<()> {
        let Some(node) = self.store().node(node_id).await? else {
            return Ok(());
        };
        let versions = self.store().versions(node_id).await?;
        let keep = self.inner.config.keep_versions.max(1) as usize;
        let max_age = self.inner.config.version_max_age_days;
        let oldest = now() - Duration::days(i64::from(max_age));
        let doomed: Vec<&Version> = versions
            .iter()
            .enumerate()
            .filter(|(i, v)| {
                Some(&v.id) != node.version_id.as_ref()
                    && (*i >= keep || (max_age > 0 && v.created_at < oldest))
            })
            .map(|(_, v)| v)
            .collect();
        if doomed.is_empty() {
            return Ok(());
        }
        let ids: Vec<VersionId> = doomed.iter().map(|v| v.id.clone()).collect();
        self.store().delete_versions(&ids).await?;
        for version in doomed {
            self.inner.media.release_blob(&version.content_hash).await?;
        }
        Ok(())
    }

    /// Moves and/or renames a node to `to` (a path in the same space, the new name last).
    /// No bytes are copied. The destination must not exist.
    pub async fn move_node(&self, by: &Principal, id: &NodeId, to: &str) -> Result<Node> {
        let (node, space, _) = self.readable(by, id).await?;
        if node.parent_id.is_none() {
            return Err(FilesError::Invalid("the root cannot be moved".into()));
        }
        let from = self.parent_rights(by, &node).await?;
        let Target {
            space,
            parent,
            parent_path,
            name,
            rights: to_rights,
            ..
        } = self.target(by, &space.id, to, false).await?;
        if !same_scope(&from, &to_rights) {
            return Err(FilesError::OutsideShare);
        }
        self.ensure_unlocked(by, id).await?;
        self.ensure_unlocked(by, &parent.id).await?;
        let new_path = child_path(&parent_path, &name);
        // A destination in the folder or below it always has the folder's path as a prefix.
        if node.is_folder() && new_path.starts_with(&format!("{}/", node.path)) {
            return Err(FilesError::IntoItself);
        }
        let at = now();
        let old_parent = node.parent_id.clone().expect("not the root");
        let mut write = self.store().write().await?;
        write.move_node(id, &parent.id, &name, at).await?;
        let change = write
            .journal(&Draft {
                space_id: &space.id,
                node_id: id,
                action: ChangeAction::Moved,
                path: &new_path,
                from_path: Some(&node.path),
                kind: node.kind,
                size: node.size,
                user_id: &by.user_id,
                now: at,
            })
            .await?;
        // The folders the node left changed too.
        write.touch(&old_parent, &change.etag).await?;
        self.commit(&space, write, vec![change]).await?;
        self.live(id).await?.ok_or(FilesError::NotFound)
    }

    /// Copies a node (a folder with everything below it) to `to`; file copies share the
    /// bytes (new versions of the same content), so nothing is copied and no quota is used.
    pub async fn copy_node(&self, by: &Principal, id: &NodeId, to: &str) -> Result<Node> {
        let (node, space, from) = self.readable(by, id).await?;
        let Target {
            space,
            parent,
            parent_path,
            name,
            rights: to_rights,
            ..
        } = self.target(by, &space.id, to, false).await?;
        if !same_scope(&from, &to_rights) {
            return Err(FilesError::OutsideShare);
        }
        let parent_node = self.live(&parent.id).await?.ok_or(FilesError::NotFound)?;
        if node.is_folder()
            && (parent_node.path == node.path
                || parent_node.path.starts_with(&format!("{}/", node.path)))
        {
            return Err(FilesError::IntoItself);
        }
        let at = now();
        let top = NodeId::new();
        // The whole subtree is read before the write starts: SQLite's shared-cache test
        // databases (and a long write turn) must not wait on reads inside the transaction.
        // (source, new id, new parent, name, path), parents before their children.
        let mut planned = Vec::new();
        let mut pending = vec![(
            node,
            top.clone(),
            parent.id.clone(),
            name.clone(),
            child_path(&parent_path, &name),
        )];
        while let Some((source, new_id, new_parent, new_name, path)) = pending.pop() {
            if source.is_folder() {
                let mut after: Option<String> = None;
                loop {
                    let rows = self
                        .store()
                        .children(&source.id, after.as_deref(), MAX_LIST_PAGE)
                        .await?;
                    let full = rows.len() as u32 == MAX_LIST_PAGE;
                    for row in rows {
                        let source_path = child_path(&source.path, &row.name);
                        let child = row.into_node(source_path);
                        after = Some(sort_key(&child));
                        let child_name = child.name.clone();
                        pending.push((
                            child,
                            NodeId::new(),
                            new_id.clone(),
                            child_name.clone(),
                            child_path(&path, &child_name),
                        ));
                    }
                    if !full {
                        break;
                    }
                }
            }
            planned.push((source, new_id, new_parent, new_name, path));
        }
        let mut changes = Vec::new();
        let mut write = self.store().write().await?;
        for (source, new_id, new_parent, new_name, path) in planned {
            write
                .insert_node(&NewNode {
                    id: &new_id,
                    space_id: &space.id,
                    parent_id: Some(&new_parent),
                    name: &new_name,
                    kind: source.kind,
                    now: at,
                })
                .await?;
            if let (Some(hash), NodeKind::File) = (&source.content_hash, source.kind) {
                write
                    .insert_version(&NewVersion {
                        id: &VersionId::new(),
                        node_id: &new_id,
                        content_hash: hash,
                        size: source.size,
                        created_by: &by.user_id,
                        device: None,
                        now: at,
                    })
                    .await?;
            }
            changes.push(
                write
                    .journal(&Draft {
                        space_id: &space.id,
                        node_id: &new_id,
                        action: ChangeAction::Created,
                        path: &path,
                        from_path: None,
                        kind: source.kind,
                        size: source.size,
                        user_id: &by.user_id,
                        now: at,
                    })
                    .await?,
            );
        }
        self.commit(&space, write, changes).await?;
        self.live(&top).await?.ok_or(FilesError::NotFound)
    }

    /// Moves a node (a folder with everything below it) to the trash.
    pub async fn delete(&self, by: &Principal, id: &NodeId) -> Result<()> {
        let (node, space, _) = self.readable(by, id).await?;
        self.ensure_unlocked(by, id).await?;
        if node.parent_id.is_none() {
            return Err(FilesError::Invalid("the root cannot be deleted".into()));
        }
        // Deleting changes the folder: a share on the node itself does not allow it.
        self.parent_rights(by, &node).await?;
        let at = now();
        let mut write = self.store().write().await?;
        // Journal first: the ETags above the node change while it is still linked to them.
        let change = write
            .journal(&Draft {
                space_id: &space.id,
                node_id: id,
                action: ChangeAction::Deleted,
                path: &node.path,
                from_path: None,
                kind: node.kind,
                size: node.size,
                user_id: &by.user_id,
                now: at,
            })
            .await?;
        write.trash(id, &node.path, &by.user_id, at).await?;
        self.commit(&space, write, vec![change]).await
    }

    /// The space's trash, newest first.
    pub async fn trash(&self, by: &Principal, space_id: &SpaceId) -> Result<Vec<TrashItem>> {
        self.space(by, space_id).await?;
        let rows = self.store().trashed(space_id).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let original_path = row.trash_path.clone().unwrap_or_else(|| "/".into());
                let deleted_at = row.trashed_at.unwrap_or_else(Utc::now);
                let deleted_by = row.trashed_by.clone();
                TrashItem {
                    node: row.into_node(original_path.clone()),
                    original_path,
                    deleted_at,
                    deleted_by,
                }
            })
            .collect())
    }

    /// A trash top of the space `by` may change.
    async fn trashed(&self, by: &Principal, id: &NodeId) -> Result<(Space, NodeRow)> {
        let row = self.store().node(id).await?.ok_or(FilesError::NotFound)?;
        let space = self.space(by, &row.space_id).await?;
        if row.trashed_at.is_none() {
            return Err(FilesError::NotFound);
        }
        let space = self.writable(by, &space.id).await?;
        Ok((space, row))
    }

    /// Takes a node out of the trash: into the folder at `to` when given, else back to where
    /// it was (its missing folders made again). A name taken meanwhile gets ` (restored)`.
    pub async fn restore(&self, by: &Principal, id: &NodeId, to: Option<&str>) -> Result<Node> {
        let (space, row) = self.trashed(by, id).await?;
        let original = row
            .trash_path
            .clone()
            .unwrap_or_else(|| format!("/{}", row.name));
        let folder_path = match to {
            Some(to) => join_path(&split_path(to)?),
            None => {
                let mut names = split_path(&original)?;
                names.pop();
                join_path(&names)
            }
        };
        let folder = match self.resolve(&space, &folder_path).await? {
            Some(folder) if folder.kind() == NodeKind::Folder => folder,
            Some(_) => return Err(FilesError::WrongKind("folder")),
            None if to.is_some() => return Err(FilesError::ParentMissing),
            None => self.make_folders(by, &space, &folder_path).await?,
        };
        let mut name = row.name.clone();
        let mut attempt = 1;
        while self.store().child(&folder.id, &name).await?.is_some() {
            name = if attempt == 1 {
                format!("{} (restored)", row.name)
            } else {
                format!("{} (restored {attempt})", row.name)
            };
            attempt += 1;
        }
        let at = now();
        let path = child_path(&folder_path, &name);
        let mut write = self.store().write().await?;
        write.untrash(id, &folder.id, &name).await?;
        let change = write
            .journal(&Draft {
                space_id: &space.id,
                node_id: id,
                action: ChangeAction::Restored,
                path: &path,
                from_path: None,
                kind: row.kind(),
                size: row.size_bytes.max(0) as u64,
                user_id: &by.user_id,
                now: at,
            })
            .await?;
        self.commit(&space, write, vec![change]).await?;
        self.live(id).await?.ok_or(FilesError::NotFound)
    }

    /// Makes every missing folder along `path`; returns the last.
    async fn make_folders(&self, by: &Principal, space: &Space, path: &str) -> Result<NodeRow> {
        let names = split_path(path)?;
        for depth in 1..=names.len() {
            let prefix = join_path(&names[..depth]);
            if self.resolve(space, &prefix).await?.is_none() {
                self.create_folder(by, &space.id, &prefix).await?;
            }
        }
        match self.resolve(space, path).await? {
            Some(folder) if folder.kind() == NodeKind::Folder => Ok(folder),
            _ => Err(FilesError::WrongKind("folder")),
        }
    }

    /// Deletes a trashed node for good, with its versions; unused blobs go.
    pub async fn purge(&self, by: &Principal, id: &NodeId) -> Result<()> {
        self.trashed(by, id).await?;
        self.purge_node(id).await
    }

    async fn purge_node(&self, id: &NodeId) -> Result<()> {
        let hashes = self.store().purge(id).await?;
        for hash in hashes {
            self.inner.media.release_blob(&hash).await?;
        }
        Ok(())
    }

    /// Purges what has been in the trash longer than `trash_days`; returns how many.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<usize> {
        let before = now - Duration::days(i64::from(self.inner.config.trash_days));
        let expired = self.store().trashed_before(before).await?;
        for id in &expired {
            self.purge_node(id).await?;
        }
        Ok(expired.len())
    }

    /// Purges the expired trash every `every`, until the process ends.
    pub fn spawn_trash_purger(&self, every: StdDuration) {
        let files = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match files.purge_expired(Utc::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "files: expired trash purged"),
                    Err(e) => tracing::warn!(error = %e, "files: purging the trash failed"),
                }
            }
        });
    }

    // --- versions and content ---

    pub async fn versions(&self, by: &Principal, node_id: &NodeId) -> Result<Vec<Version>> {
        let node = self.node(by, node_id).await?;
        if node.is_folder() {
            return Err(FilesError::WrongKind("file"));
        }
        self.store().versions(node_id).await
    }

    /// Makes an older version current again (as a new version with its bytes).
    pub async fn restore_version(
        &self,
        by: &Principal,
        node_id: &NodeId,
        version_id: &VersionId,
    ) -> Result<Written> {
        let (node, space, _) = self.changeable(by, node_id).await?;
        self.ensure_unlocked(by, node_id).await?;
        let version = self
            .store()
            .version(version_id)
            .await?
            .filter(|v| &v.node_id == node_id)
            .ok_or(FilesError::NotFound)?;
        let parent_id = node.parent_id.clone().ok_or(FilesError::NotFound)?;
        let parent = self
            .store()
            .node(&parent_id)
            .await?
            .ok_or(FilesError::NotFound)?;
        let mut names = split_path(&node.path)?;
        names.pop();
        let parent_path = join_path(&names);
        self.place_version(
            by,
            &space,
            &parent,
            &parent_path,
            &node.name,
            &version.content_hash,
            version.size,
            None,
            None,
        )
        .await
    }

    /// Reads a file's current bytes (or those of `version`), all or `range`.
    pub async fn read(
        &self,
        by: &Principal,
        node_id: &NodeId,
        version: Option<&VersionId>,
        range: Option<Range<u64>>,
    ) -> Result<BlobRead> {
        let node = self.node(by, node_id).await?;
        let hash = match version {
            Some(id) => {
                self.store()
                    .version(id)
                    .await?
                    .filter(|v| &v.node_id == node_id)
                    .ok_or(FilesError::NotFound)?
                    .content_hash
            }
            None => node.content_hash.ok_or(FilesError::WrongKind("file"))?,
        };
        Ok(self.inner.media.read_blob(&hash, range).await?)
    }

    /// The size of a version (the current one without `version`).
    pub async fn version_of(
        &self,
        by: &Principal,
        node_id: &NodeId,
        version: Option<&VersionId>,
    ) -> Result<(Node, Option<Version>)> {
        let node = self.node(by, node_id).await?;
        let version = match version.or(node.version_id.as_ref()) {
            Some(id) => self
                .store()
                .version(id)
                .await?
                .filter(|v| &v.node_id == node_id),
            None => None,
        };
        Ok((node, version))
    }

    // --- the journal ---

    /// Changes after `since` (a cursor from an earlier page or push; none: from the start),
    /// at most `limit`. A cursor past the journal's end is `StaleCursor`: the client resyncs.
    pub async fn changes(
        &self,
        by: &Principal,
        space_id: &SpaceId,
        since: Option<&str>,
        limit: u32,
    ) -> Result<ChangesPage> {
        let space = self.space(by, space_id).await?;
        let since = match since.map(str::trim).filter(|s| !s.is_empty()) {
            None => 0,
            Some(s) => s
                .parse::<u64>()
                .map_err(|_| FilesError::Invalid("a cursor is a number from a change".into()))?,
        };
        if since > space.last_cursor {
            return Err(FilesError::StaleCursor);
        }
        let limit = limit.clamp(1, MAX_CHANGES_PAGE);
        let changes = self
            .store()
            .changes(space_id, since, u64::MAX, limit)
            .await?;
        let cursor = changes.last().map_or(since, |c| c.cursor);
        Ok(ChangesPage {
            epoch: space.epoch,
            has_more: cursor < space.last_cursor,
            cursor,
            changes,
        })
    }

    /// The space behind a `files:` topic join, if the caller may read it.
    pub async fn space_feed(&self, by: &Principal, space_id: &SpaceId) -> Result<Space> {
        self.space(by, space_id).await
    }

    /// Journal rows with cursors in `(after, up_to]` for the socket's recovery and gap repair
    /// (the topic join already checked access).
    pub async fn changes_between(
        &self,
        space_id: &SpaceId,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Result<Vec<Change>> {
        self.store().changes(space_id, after, up_to, limit).await
    }

    /// A space by id, unchecked (for the socket topic, which authorises separately).
    pub async fn space_unchecked(&self, id: &SpaceId) -> Result<Option<Space>> {
        self.store().space(id).await
    }

    // --- app passwords ---

    /// A new app password for WebDAV clients; the secret is returned only here.
    pub async fn create_app_password(
        &self,
        by: &Principal,
        name: &str,
    ) -> Result<(AppPassword, String)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(FilesError::Invalid(
                "an app password's name has 1 to 100 characters".into(),
            ));
        }
        let secret = app_password::new_secret();
        let hash = app_password::hash(secret.clone()).await;
        let password = AppPassword {
            id: AppPasswordId::new(),
            user_id: by.user_id.clone(),
            name: name.into(),
            created_at: now(),
            last_used_at: None,
        };
        self.store().insert_app_password(&password, &hash).await?;
        Ok((password, secret))
    }

    pub async fn app_passwords(&self, by: &Principal) -> Result<Vec<AppPassword>> {
        let rows = self.store().app_passwords(&by.user_id).await?;
        Ok(rows.into_iter().map(|(password, _)| password).collect())
    }

    pub async fn revoke_app_password(&self, by: &Principal, id: &AppPasswordId) -> Result<()> {
        if !self.store().delete_app_password(&by.user_id, id).await? {
            return Err(FilesError::NotFound);
        }
        self.inner.verified.retain(|_, (matched, _)| matched != id);
        Ok(())
    }

    /// For the admin panel: the app passwords of `user_id`, a user of the admin's community
    /// (names and use, never secrets).
    pub async fn app_passwords_of(
        &self,
        admin: &Principal,
        user_id: &UserId,
    ) -> Result<Vec<AppPassword>> {
        self.admin_over(admin, user_id).await?;
        let listed = self.store().app_passwords(user_id).await?;
        Ok(listed.into_iter().map(|(password, _)| password).collect())
    }

    /// For the admin panel: revokes one app password of a user of the admin's community (a
    /// lost laptop); WebDAV refuses it from the next request.
    pub async fn revoke_app_password_of(
        &self,
        admin: &Principal,
        user_id: &UserId,
        id: &AppPasswordId,
    ) -> Result<AppPassword> {
        self.admin_over(admin, user_id).await?;
        let password = self
            .store()
            .app_passwords(user_id)
            .await?
            .into_iter()
            .map(|(password, _)| password)
            .find(|p| &p.id == id)
            .ok_or(FilesError::NotFound)?;
        if !self.store().delete_app_password(user_id, id).await? {
            return Err(FilesError::NotFound);
        }
        self.inner.verified.retain(|_, (matched, _)| matched != id);
        Ok(password)
    }

    /// `admin` is an admin of `user_id`'s community; `NotFound` otherwise.
    async fn admin_over(&self, admin: &Principal, user_id: &UserId) -> Result<()> {
        if admin.role != Role::Admin {
            return Err(FilesError::Forbidden);
        }
        match self.inner.auth.user(user_id).await {
            Ok(user) if user.community_id == admin.community_id => Ok(()),
            _ => Err(FilesError::NotFound),
        }
    }

    /// The principal for WebDAV's Basic auth: `user_id` from the URL, `email` as the user
    /// name, and one of the user's app passwords (never the account password).
    pub async fn authenticate_app_password(
        &self,
        user_id: &UserId,
        email: &str,
        secret: &str,
    ) -> Result<Principal> {
        let user = self
            .inner
            .auth
            .user(user_id)
            .await
            .map_err(|_| FilesError::BadAppPassword)?;
        if user.disabled || !user.email.eq_ignore_ascii_case(email.trim()) {
            return Err(FilesError::BadAppPassword);
        }
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let key = (user_id.clone(), digest);
        let cached = self
            .inner
            .verified
            .get(&key)
            .filter(|entry| entry.1.elapsed() < APP_PASSWORD_CACHE)
            .map(|entry| entry.0.clone());
        let matched = match cached {
            Some(id) => id,
            None => {
                let mut matched = None;
                for (password, hash) in self.store().app_passwords(user_id).await? {
                    if app_password::verify(secret.to_string(), hash).await {
                        matched = Some(password.id);
                        break;
                    }
                }
                let id = matched.ok_or(FilesError::BadAppPassword)?;
                self.store().app_password_used(&id, now()).await?;
                self.inner
                    .verified
                    .insert(key, (id.clone(), Instant::now()));
                id
            }
        };
        Ok(Principal {
            user_id: user.id,
            community_id: user.community_id,
            role: user.role,
            session_id: SessionId::from(format!("app-password:{matched}")),
            email: user.email,
            expires_at: Utc::now() + Duration::hours(1),
        })
    }
}
