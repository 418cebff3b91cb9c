//! Files' GraphQL part: `spaces`, `fileChanges`, the `fileChanged` subscription and
//! `createAppPassword` (names other tools rely on), plus listing, nodes by path or id,
//! versions, trash, search and a mutation per operation; shares (`shares`, `sharedWithMe`,
//! `createShare`, `deleteShare`).

use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::events::FILE_CHANGED;
use super::{
    sort_key, AppPassword, Change, ChangeAction, FilesService, Lock, LockKind, NewShare,
    NewShareTarget, Node, NodeKind, Share, SharePermission, ShareTarget, Space, SpaceKind,
    TrashItem, Version, Written,
};
use crate::contexts::media::graphql::GqlUpload;
use crate::events::EventBus;
use crate::graphql::{principal, GqlError};
use crate::ids::{AppPasswordId, NodeId, ShareId, SpaceId, UserId, VersionId};

type Result<T, E = GqlError> = std::result::Result<T, E>;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "SpaceKind")]
pub enum GqlSpaceKind {
    Personal,
    Community,
}

#[derive(SimpleObject)]
#[graphql(name = "Space")]
pub struct GqlSpace {
    id: ID,
    name: String,
    kind: GqlSpaceKind,
    /// The root folder's id.
    root_id: ID,
    /// With `cursor`, the position of the `files:{id}` topic and of `fileChanges`.
    epoch: String,
    cursor: String,
}

impl From<Space> for GqlSpace {
    fn from(s: Space) -> Self {
        GqlSpace {
            id: ID(s.id.into_string()),
            name: s.name,
            kind: match s.kind {
                SpaceKind::Personal => GqlSpaceKind::Personal,
                SpaceKind::Community => GqlSpaceKind::Community,
            },
            root_id: ID(s.root_id.into_string()),
            epoch: s.epoch,
            cursor: s.last_cursor.to_string(),
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "NodeKind")]
pub enum GqlNodeKind {
    Folder,
    File,
}

fn kind(k: NodeKind) -> GqlNodeKind {
    match k {
        NodeKind::Folder => GqlNodeKind::Folder,
        NodeKind::File => GqlNodeKind::File,
    }
}

#[derive(SimpleObject)]
#[graphql(name = "FileNode")]
pub struct GqlNode {
    id: ID,
    space_id: ID,
    parent_id: Option<ID>,
    name: String,
    path: String,
    kind: GqlNodeKind,
    size: u64,
    /// Changes whenever the node or anything below it changes.
    etag: String,
    version_id: Option<ID>,
    content_hash: Option<String>,
    modified_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    /// Where a listing continues after this node (`after`).
    sort_key: String,
    /// `GET` it (files only): Range and If-None-Match are honoured.
    download_url: Option<String>,
}

impl From<Node> for GqlNode {
    fn from(n: Node) -> Self {
        GqlNode {
            sort_key: sort_key(&n),
            download_url: (!n.is_folder()).then(|| format!("/api/files/nodes/{}/content", n.id)),
            id: ID(n.id.into_string()),
            space_id: ID(n.space_id.into_string()),
            parent_id: n.parent_id.map(|p| ID(p.into_string())),
            name: n.name,
            path: n.path,
            kind: kind(n.kind),
            size: n.size,
            etag: n.etag,
            version_id: n.version_id.map(|v| ID(v.into_string())),
            content_hash: n.content_hash,
            modified_at: n.modified_at,
            created_at: n.created_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "FileVersion")]
pub struct GqlVersion {
    id: ID,
    node_id: ID,
    size: u64,
    content_hash: String,
    created_by: ID,
    device: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<Version> for GqlVersion {
    fn from(v: Version) -> Self {
        GqlVersion {
            id: ID(v.id.into_string()),
            node_id: ID(v.node_id.into_string()),
            size: v.size,
            content_hash: v.content_hash,
            created_by: ID(v.created_by.into_string()),
            device: v.device,
            created_at: v.created_at,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "FileChangeAction")]
pub enum GqlAction {
    Created,
    Updated,
    Moved,
    Deleted,
    Restored,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "FileChange")]
pub struct GqlChange {
    space_id: ID,
    /// The journal cursor (a decimal string); ask `fileChanges(since:)` from it.
    cursor: String,
    node_id: ID,
    action: GqlAction,
    path: String,
    from_path: Option<String>,
    kind: GqlNodeKind,
    etag: String,
    size: u64,
    user_id: ID,
    at: DateTime<Utc>,
}

impl From<Change> for GqlChange {
    fn from(c: Change) -> Self {
        GqlChange {
            space_id: ID(c.space_id.into_string()),
            cursor: c.cursor.to_string(),
            node_id: ID(c.node_id.into_string()),
            action: match c.action {
                ChangeAction::Created => GqlAction::Created,
                ChangeAction::Updated => GqlAction::Updated,
                ChangeAction::Moved => GqlAction::Moved,
                ChangeAction::Deleted => GqlAction::Deleted,
                ChangeAction::Restored => GqlAction::Restored,
            },
            path: c.path,
            from_path: c.from_path,
            kind: kind(c.kind),
            etag: c.etag,
            size: c.size,
            user_id: ID(c.user_id.into_string()),
            at: c.at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "FileChangesPage")]
pub struct GqlChangesPage {
    epoch: String,
    changes: Vec<GqlChange>,
    /// Where the next page starts.
    cursor: String,
    has_more: bool,
}

#[derive(SimpleObject)]
#[graphql(name = "TrashItem")]
pub struct GqlTrashItem {
    node: GqlNode,
    original_path: String,
    deleted_at: DateTime<Utc>,
    deleted_by: Option<ID>,
}

impl From<TrashItem> for GqlTrashItem {
    fn from(t: TrashItem) -> Self {
        GqlTrashItem {
            node: t.node.into(),
            original_path: t.original_path,
            deleted_at: t.deleted_at,
            deleted_by: t.deleted_by.map(|u| ID(u.into_string())),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "AppPassword")]
pub struct GqlAppPassword {
    id: ID,
    name: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    /// Only in `createAppPassword`'s answer; never again.
    secret: Option<String>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "FileLockKind")]
pub enum GqlLockKind {
    Webdav,
    App,
}

/// Someone editing a node: others' writes to it (and below it, when `deep`) get `locked`.
#[derive(SimpleObject)]
#[graphql(name = "FileLock")]
pub struct GqlLock {
    node_id: ID,
    /// The holder's user id.
    holder_id: ID,
    kind: GqlLockKind,
    note: Option<String>,
    deep: bool,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl From<Lock> for GqlLock {
    fn from(l: Lock) -> Self {
        GqlLock {
            node_id: ID(l.node_id.into_string()),
            holder_id: ID(l.holder.into_string()),
            kind: match l.kind {
                LockKind::Webdav => GqlLockKind::Webdav,
                LockKind::App => GqlLockKind::App,
            },
            note: l.note,
            deep: l.deep,
            expires_at: l.expires_at,
            created_at: l.created_at,
        }
    }
}

fn app_password(p: AppPassword, secret: Option<String>) -> GqlAppPassword {
    GqlAppPassword {
        id: ID(p.id.into_string()),
        name: p.name,
        created_at: p.created_at,
        last_used_at: p.last_used_at,
        secret,
    }
}

#[derive(SimpleObject)]
#[graphql(name = "FileWritten")]
pub struct GqlWritten {
    node: GqlNode,
    version: GqlVersion,
    created: bool,
    /// The upload was based on an older version and was kept under a conflict name.
    conflict: bool,
}

impl From<Written> for GqlWritten {
    fn from(w: Written) -> Self {
        GqlWritten {
            node: w.node.into(),
            version: w.version.into(),
            created: w.created,
            conflict: w.conflict,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ShareTargetKind")]
pub enum GqlShareTargetKind {
    User,
    Community,
    Link,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "SharePermission")]
pub enum GqlSharePermission {
    Read,
    Write,
    /// Links to folders only: upload, nothing else ("file drop").
    UploadOnly,
}

impl From<GqlSharePermission> for SharePermission {
    fn from(p: GqlSharePermission) -> Self {
        match p {
            GqlSharePermission::Read => SharePermission::Read,
            GqlSharePermission::Write => SharePermission::Write,
            GqlSharePermission::UploadOnly => SharePermission::UploadOnly,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Share")]
pub struct GqlShare {
    id: ID,
    node_id: ID,
    space_id: ID,
    created_by: ID,
    target: GqlShareTargetKind,
    /// A user share's grantee.
    user_id: Option<ID>,
    /// A community share's community.
    community_id: Option<ID>,
    /// A link's token: shown to its creator only.
    token: Option<String>,
    /// The link's public address (`/api/files/public/{token}`), to its creator only.
    url: Option<String>,
    has_password: bool,
    expires_at: Option<DateTime<Utc>>,
    permission: GqlSharePermission,
    may_reshare: bool,
    created_at: DateTime<Utc>,
}

impl From<Share> for GqlShare {
    fn from(s: Share) -> Self {
        let (target, user_id, community_id) = match s.target {
            ShareTarget::User(id) => (GqlShareTargetKind::User, Some(ID(id.into_string())), None),
            ShareTarget::Community(id) => (
                GqlShareTargetKind::Community,
                None,
                Some(ID(id.into_string())),
            ),
            ShareTarget::Link => (GqlShareTargetKind::Link, None, None),
        };
        GqlShare {
            id: ID(s.id.into_string()),
            node_id: ID(s.node_id.into_string()),
            space_id: ID(s.space_id.into_string()),
            created_by: ID(s.created_by.into_string()),
            target,
            user_id,
            community_id,
            url: s.token.as_ref().map(|t| format!("/api/files/public/{t}")),
            token: s.token,
            has_password: s.has_password,
            expires_at: s.expires_at,
            permission: match s.permission {
                SharePermission::Read => GqlSharePermission::Read,
                SharePermission::Write => GqlSharePermission::Write,
                SharePermission::UploadOnly => GqlSharePermission::UploadOnly,
            },
            may_reshare: s.may_reshare,
            created_at: s.created_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "SharedNode")]
pub struct GqlSharedNode {
    share: GqlShare,
    node: GqlNode,
}

/// Exactly one of `userId`, `community: true` or `link: true`.
#[derive(InputObject)]
#[graphql(name = "CreateShareInput")]
pub struct GqlCreateShare {
    node_id: ID,
    user_id: Option<ID>,
    #[graphql(default)]
    community: bool,
    #[graphql(default)]
    link: bool,
    permission: GqlSharePermission,
    /// Links only.
    password: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    #[graphql(default)]
    may_reshare: bool,
}

fn files<'a>(ctx: &Context<'a>) -> &'a FilesService {
    ctx.data_unchecked::<FilesService>()
}

#[derive(Default)]
pub struct FilesQuery;

#[Object]
impl FilesQuery {
    /// The caller's personal space (`kind: PERSONAL`) and their community's spaces.
    async fn spaces(&self, ctx: &Context<'_>) -> Result<Vec<GqlSpace>> {
        let by = principal(ctx)?;
        Ok(files(ctx)
            .spaces(by)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// A node by id, or by `path` in `spaceId` (`/` is the root).
    async fn file_node(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        space_id: Option<ID>,
        path: Option<String>,
    ) -> Result<GqlNode> {
        let by = principal(ctx)?;
        let node = match (id, space_id, path) {
            (Some(id), _, _) => files(ctx).node(by, &NodeId::from(id.0)).await?,
            (None, Some(space), Some(path)) => {
                files(ctx)
                    .node_by_path(by, &SpaceId::from(space.0), &path)
                    .await?
            }
            _ => {
                return Err(GqlError::new(
                    taina_protocol::ErrorCode::InvalidInput,
                    "give `id`, or `spaceId` and `path`",
                ))
            }
        };
        Ok(node.into())
    }

    /// Locks on a node (and deep ones above it): who is editing it, oldest first.
    async fn file_locks(&self, ctx: &Context<'_>, node_id: ID) -> Result<Vec<GqlLock>> {
        let by = principal(ctx)?;
        let locks = files(ctx).locks(by, &NodeId::from(node_id.0)).await?;
        Ok(locks.into_iter().map(GqlLock::from).collect())
    }

    /// A folder's children (folders first, then by name without case), `first` at most
    /// (≤ 1000), after the `sortKey` of the last one seen.
    async fn folder_children(
        &self,
        ctx: &Context<'_>,
        folder_id: ID,
        after: Option<String>,
        #[graphql(default = 200)] first: u32,
    ) -> Result<Vec<GqlNode>> {
        let by = principal(ctx)?;
        let nodes = files(ctx)
            .list(by, &NodeId::from(folder_id.0), after.as_deref(), first)
            .await?;
        Ok(nodes.into_iter().map(Into::into).collect())
    }

    /// The changes of a space after `since` (a cursor; none: from the start), oldest first,
    /// `first` at most (≤ 1000). `stale_cursor`: resync from the start.
    async fn file_changes(
        &self,
        ctx: &Context<'_>,
        space_id: ID,
        since: Option<String>,
        #[graphql(default = 500)] first: u32,
    ) -> Result<GqlChangesPage> {
        let by = principal(ctx)?;
        let page = files(ctx)
            .changes(by, &SpaceId::from(space_id.0), since.as_deref(), first)
            .await?;
        Ok(GqlChangesPage {
            epoch: page.epoch,
            changes: page.changes.into_iter().map(Into::into).collect(),
            cursor: page.cursor.to_string(),
            has_more: page.has_more,
        })
    }

    /// A file's versions, newest first.
    async fn file_versions(&self, ctx: &Context<'_>, node_id: ID) -> Result<Vec<GqlVersion>> {
        let by = principal(ctx)?;
        let versions = files(ctx).versions(by, &NodeId::from(node_id.0)).await?;
        Ok(versions.into_iter().map(Into::into).collect())
    }

    /// A space's trash, newest first.
    async fn file_trash(&self, ctx: &Context<'_>, space_id: ID) -> Result<Vec<GqlTrashItem>> {
        let by = principal(ctx)?;
        let items = files(ctx).trash(by, &SpaceId::from(space_id.0)).await?;
        Ok(items.into_iter().map(Into::into).collect())
    }

    /// Live nodes of a space whose name contains `query` (without case).
    async fn search_files(
        &self,
        ctx: &Context<'_>,
        space_id: ID,
        query: String,
        #[graphql(default = 50)] first: u32,
    ) -> Result<Vec<GqlNode>> {
        let by = principal(ctx)?;
        let nodes = files(ctx)
            .search(by, &SpaceId::from(space_id.0), &query, first)
            .await?;
        Ok(nodes.into_iter().map(Into::into).collect())
    }

    /// A node's shares: all of them for its space's members, else those the caller made.
    async fn shares(&self, ctx: &Context<'_>, node_id: ID) -> Result<Vec<GqlShare>> {
        let by = principal(ctx)?;
        let shares = files(ctx).shares(by, &NodeId::from(node_id.0)).await?;
        Ok(shares.into_iter().map(Into::into).collect())
    }

    /// Nodes others shared with the caller or their community (reach them by id).
    async fn shared_with_me(&self, ctx: &Context<'_>) -> Result<Vec<GqlSharedNode>> {
        let by = principal(ctx)?;
        let shared = files(ctx).shared_with_me(by).await?;
        Ok(shared
            .into_iter()
            .map(|(share, node)| GqlSharedNode {
                share: share.into(),
                node: node.into(),
            })
            .collect())
    }

    /// The caller's app passwords (never their secrets).
    async fn app_passwords(&self, ctx: &Context<'_>) -> Result<Vec<GqlAppPassword>> {
        let by = principal(ctx)?;
        let list = files(ctx).app_passwords(by).await?;
        Ok(list.into_iter().map(|p| app_password(p, None)).collect())
    }
}

#[derive(Default)]
pub struct FilesMutation;

#[Object]
impl FilesMutation {
    /// A space shared by the caller's community.
    async fn create_space(&self, ctx: &Context<'_>, name: String) -> Result<GqlSpace> {
        let by = principal(ctx)?;
        Ok(files(ctx).create_space(by, &name).await?.into())
    }

    /// A folder at `path` (its parent must exist).
    async fn create_folder(
        &self,
        ctx: &Context<'_>,
        space_id: ID,
        path: String,
    ) -> Result<GqlNode> {
        let by = principal(ctx)?;
        let node = files(ctx)
            .create_folder(by, &SpaceId::from(space_id.0), &path)
            .await?;
        Ok(node.into())
    }

    /// Marks a node as being edited by the caller for `minutes` (default 30, at most a day;
    /// a folder's lock covers everything below it); calling again extends it. `locked` when
    /// someone else holds one.
    async fn lock_file_node(
        &self,
        ctx: &Context<'_>,
        id: ID,
        minutes: Option<u32>,
        note: Option<String>,
    ) -> Result<GqlLock> {
        let by = principal(ctx)?;
        let lock = files(ctx)
            .lock_node(by, &NodeId::from(id.0), minutes, note.as_deref())
            .await?;
        Ok(lock.into())
    }

    /// Releases the caller's locks on a node (an admin: anyone's). `false` if there was none.
    async fn unlock_file_node(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let by = principal(ctx)?;
        Ok(files(ctx).unlock_node(by, &NodeId::from(id.0)).await?)
    }

    /// Opens a resumable socket upload whose bytes become the file at `path` (a new version
    /// when it exists; kept beside it under a conflict name when `baseVersion` is not the
    /// current one). Checked up front like any upload; then join `upload:{id}` and push
    /// chunks: the last reply carries `file: {node, version, created, conflict}`.
    #[allow(clippy::too_many_arguments)]
    async fn create_file_upload(
        &self,
        ctx: &Context<'_>,
        space_id: ID,
        path: String,
        size: u64,
        sha256: String,
        base_version: Option<ID>,
        device: Option<String>,
    ) -> Result<GqlUpload> {
        let by = principal(ctx)?;
        let upload = files(ctx)
            .create_socket_upload(
                by,
                &SpaceId::from(space_id.0),
                &path,
                size,
                &sha256,
                base_version.map(|v| VersionId::from(v.0)),
                device,
            )
            .await?;
        Ok(upload.into())
    }

    /// Moves and/or renames: `to` is the new path in the same space. No bytes are copied.
    async fn move_file_node(&self, ctx: &Context<'_>, id: ID, to: String) -> Result<GqlNode> {
        let by = principal(ctx)?;
        Ok(files(ctx)
            .move_node(by, &NodeId::from(id.0), &to)
            .await?
            .into())
    }

    /// Copies a file or folder to the path `to` (the bytes are shared, not copied).
    async fn copy_file_node(&self, ctx: &Context<'_>, id: ID, to: String) -> Result<GqlNode> {
        let by = principal(ctx)?;
        Ok(files(ctx)
            .copy_node(by, &NodeId::from(id.0), &to)
            .await?
            .into())
    }

    /// Moves a node to the trash.
    async fn delete_file_node(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let by = principal(ctx)?;
        files(ctx).delete(by, &NodeId::from(id.0)).await?;
        Ok(true)
    }

    /// Takes a node out of the trash: into the folder at `to`, else where it was.
    async fn restore_file_node(
        &self,
        ctx: &Context<'_>,
        id: ID,
        to: Option<String>,
    ) -> Result<GqlNode> {
        let by = principal(ctx)?;
        Ok(files(ctx)
            .restore(by, &NodeId::from(id.0), to.as_deref())
            .await?
            .into())
    }

    /// Deletes a trashed node for good.
    async fn purge_file_node(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let by = principal(ctx)?;
        files(ctx).purge(by, &NodeId::from(id.0)).await?;
        Ok(true)
    }

    /// Makes an older version current again.
    async fn restore_file_version(
        &self,
        ctx: &Context<'_>,
        node_id: ID,
        version_id: ID,
    ) -> Result<GqlWritten> {
        let by = principal(ctx)?;
        let written = files(ctx)
            .restore_version(by, &NodeId::from(node_id.0), &VersionId::from(version_id.0))
            .await?;
        Ok(written.into())
    }

    /// Shares a node with a user, the whole community or by a public link (its token and
    /// URL are in the answer).
    async fn create_share(&self, ctx: &Context<'_>, input: GqlCreateShare) -> Result<GqlShare> {
        let by = principal(ctx)?;
        let target = match (input.user_id, input.community, input.link) {
            (Some(user), false, false) => NewShareTarget::User(UserId::from(user.0)),
            (None, true, false) => NewShareTarget::Community,
            (None, false, true) => NewShareTarget::Link,
            _ => {
                return Err(GqlError::new(
                    taina_protocol::ErrorCode::InvalidInput,
                    "give exactly one of `userId`, `community: true` or `link: true`",
                ))
            }
        };
        let share = files(ctx)
            .create_share(
                by,
                NewShare {
                    node_id: NodeId::from(input.node_id.0),
                    target,
                    permission: input.permission.into(),
                    password: input.password,
                    expires_at: input.expires_at,
                    may_reshare: input.may_reshare,
                },
            )
            .await?;
        Ok(share.into())
    }

    /// Removes a share (its creator, or a member of the node's space).
    async fn delete_share(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let by = principal(ctx)?;
        files(ctx).delete_share(by, &ShareId::from(id.0)).await?;
        Ok(true)
    }

    /// A WebDAV app password: the secret is in this answer only.
    async fn create_app_password(&self, ctx: &Context<'_>, name: String) -> Result<GqlAppPassword> {
        let by = principal(ctx)?;
        let (password, secret) = files(ctx).create_app_password(by, &name).await?;
        Ok(app_password(password, Some(secret)))
    }

    async fn revoke_app_password(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let by = principal(ctx)?;
        files(ctx)
            .revoke_app_password(by, &AppPasswordId::from(id.0))
            .await?;
        Ok(true)
    }
}

#[derive(Default)]
pub struct FilesSubscription;

#[Subscription]
impl FilesSubscription {
    /// Each change of a space as it is journaled. With `since` (a cursor), the journal's
    /// changes after it come first, then live ones, none twice.
    async fn file_changed(
        &self,
        ctx: &Context<'_>,
        space_id: ID,
        since: Option<String>,
    ) -> Result<impl Stream<Item = GqlChange>> {
        let by = principal(ctx)?.clone();
        let files = files(ctx).clone();
        let space_id = SpaceId::from(space_id.0);
        // Subscribe before reading the journal so nothing falls between the two.
        let mut events = ctx.data_unchecked::<Arc<dyn EventBus>>().subscribe();
        let missed = match since {
            Some(since) => {
                let mut all = Vec::new();
                let mut cursor = Some(since);
                loop {
                    let page = files
                        .changes(&by, &space_id, cursor.as_deref(), super::MAX_CHANGES_PAGE)
                        .await?;
                    all.extend(page.changes);
                    if !page.has_more {
                        break;
                    }
                    cursor = Some(page.cursor.to_string());
                }
                all
            }
            None => {
                files.space(&by, &space_id).await?;
                Vec::new()
            }
        };
        Ok(async_stream::stream! {
            let mut last = 0;
            for change in missed {
                last = change.cursor;
                yield GqlChange::from(change);
            }
            loop {
                match events.recv().await {
                    Ok(event) if event.kind == FILE_CHANGED => {
                        let Ok(change) = event.data_as::<Change>() else { continue };
                        if change.space_id == space_id && change.cursor > last {
                            last = change.cursor;
                            yield GqlChange::from(change);
                        }
                    }
                    // Fell behind the bus: the journal has what was skipped.
                    Err(RecvError::Lagged(_)) => {
                        let cursor = last.to_string();
                        if let Ok(page) = files.changes(&by, &space_id, Some(&cursor), super::MAX_CHANGES_PAGE).await {
                            for change in page.changes {
                                last = change.cursor;
                                yield GqlChange::from(change);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
