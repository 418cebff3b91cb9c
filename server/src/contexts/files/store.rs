//! All of files' SQL (tables in the `files` schema), each statement next to its one caller.
//!
//! Every change to the tree runs in a [`Write`]: one transaction (in the process's write turn
//! on SQLite) that makes the change, takes the space's next journal cursor, records the
//! journal row and stamps that cursor as the new ETag of the changed node and of every folder
//! above it.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::db::{is_unique_violation, query, query_as, query_scalar, Db, Tx, WriteTurn};
use crate::ids::{AppPasswordId, CommunityId, NodeId, ShareId, SpaceId, UserId, VersionId};

use super::{
    AppPassword, Change, ChangeAction, FilesError, Node, NodeKind, Share, SharePermission,
    ShareTarget, Space, SpaceKind, Version,
};

type Result<T, E = FilesError> = std::result::Result<T, E>;

#[derive(FromRow)]
struct SpaceRow {
    id: SpaceId,
    community_id: CommunityId,
    kind: String,
    owner_id: Option<UserId>,
    name: String,
    root_id: NodeId,
    epoch: String,
    last_cursor: i64,
}

impl SpaceRow {
    fn into_space(self) -> Space {
        Space {
            id: self.id,
            community_id: self.community_id,
            kind: if self.kind == "personal" {
                SpaceKind::Personal
            } else {
                SpaceKind::Community
            },
            owner_id: self.owner_id,
            name: self.name,
            epoch: self.epoch,
            last_cursor: self.last_cursor.max(0) as u64,
            root_id: self.root_id,
        }
    }
}

const SPACE_COLUMNS: &str = "id, community_id, kind, owner_id, name, root_id, epoch, last_cursor";

/// A node as stored; its path is the service's to work out.
#[derive(FromRow, Clone, Debug)]
pub(super) struct NodeRow {
    pub id: NodeId,
    pub space_id: SpaceId,
    pub parent_id: Option<NodeId>,
    pub name: String,
    pub kind: String,
    pub version_id: Option<VersionId>,
    pub size_bytes: i64,
    pub content_hash: Option<String>,
    pub etag: String,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub trashed_at: Option<DateTime<Utc>>,
    pub trashed_by: Option<UserId>,
    pub trash_path: Option<String>,
}

impl NodeRow {
    pub fn kind(&self) -> NodeKind {
        NodeKind::parse(&self.kind)
    }

    pub fn into_node(self, path: String) -> Node {
        Node {
            kind: self.kind(),
            id: self.id,
            space_id: self.space_id,
            parent_id: self.parent_id,
            name: self.name,
            path,
            version_id: self.version_id,
            size: self.size_bytes.max(0) as u64,
            content_hash: self.content_hash,
            etag: self.etag,
            created_at: self.created_at,
            modified_at: self.modified_at,
        }
    }
}

const NODE_COLUMNS: &str = "id, space_id, parent_id, name, kind, version_id, size_bytes, \
     content_hash, etag, created_at, modified_at, trashed_at, trashed_by, trash_path";

#[derive(FromRow)]
struct VersionRow {
    id: VersionId,
    node_id: NodeId,
    content_hash: String,
    size_bytes: i64,
    created_by: UserId,
    device: Option<String>,
    created_at: DateTime<Utc>,
}

impl VersionRow {
    fn into_version(self) -> Version {
        Version {
            id: self.id,
            node_id: self.node_id,
            content_hash: self.content_hash,
            size: self.size_bytes.max(0) as u64,
            created_by: self.created_by,
            device: self.device,
            created_at: self.created_at,
        }
    }
}

const VERSION_COLUMNS: &str =
    "id, node_id, content_hash, size_bytes, created_by, device, created_at";

#[derive(FromRow)]
struct ChangeRow {
    space_id: SpaceId,
    epoch: String,
    seq: i64,
    node_id: NodeId,
    action: String,
    path: String,
    from_path: Option<String>,
    kind: String,
    etag: String,
    size_bytes: i64,
    user_id: UserId,
    at: DateTime<Utc>,
}

impl ChangeRow {
    fn into_change(self) -> Change {
        Change {
            space_id: self.space_id,
            epoch: self.epoch,
            cursor: self.seq.max(0) as u64,
            node_id: self.node_id,
            action: ChangeAction::parse(&self.action),
            path: self.path,
            from_path: self.from_path,
            kind: NodeKind::parse(&self.kind),
            etag: self.etag,
            size: self.size_bytes.max(0) as u64,
            user_id: self.user_id,
            at: self.at,
        }
    }
}

#[derive(FromRow)]
struct AppPasswordRow {
    id: AppPasswordId,
    user_id: UserId,
    name: String,
    secret_hash: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl AppPasswordRow {
    fn into_pair(self) -> (AppPassword, String) {
        (
            AppPassword {
                id: self.id,
                user_id: self.user_id,
                name: self.name,
                created_at: self.created_at,
                last_used_at: self.last_used_at,
            },
            self.secret_hash,
        )
    }
}

#[derive(FromRow)]
struct ShareRow {
    id: ShareId,
    node_id: NodeId,
    space_id: SpaceId,
    created_by: UserId,
    target: String,
    grantee_id: Option<String>,
    token: Option<String>,
    password_hash: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    permission: String,
    may_reshare: bool,
    created_at: DateTime<Utc>,
}

impl ShareRow {
    /// The share and a link's password hash.
    fn into_pair(self) -> (Share, Option<String>) {
        let grantee = self.grantee_id.unwrap_or_default();
        let target = match self.target.as_str() {
            "user" => ShareTarget::User(UserId::from(grantee)),
            "community" => ShareTarget::Community(CommunityId::from(grantee)),
            _ => ShareTarget::Link,
        };
        (
            Share {
                id: self.id,
                node_id: self.node_id,
                space_id: self.space_id,
                created_by: self.created_by,
                target,
                token: self.token,
                has_password: self.password_hash.is_some(),
                expires_at: self.expires_at,
                permission: SharePermission::parse(&self.permission),
                may_reshare: self.may_reshare,
                created_at: self.created_at,
            },
            self.password_hash,
        )
    }

    fn into_share(self) -> Share {
        self.into_pair().0
    }
}

const SHARE_COLUMNS: &str = "s.id, s.node_id, s.space_id, s.created_by, s.target, s.grantee_id, \
     s.token, s.password_hash, s.expires_at, s.permission, s.may_reshare, s.created_at";

/// The user and community shares aimed at `$1` (a user) or `$2` (their community) that have
/// not expired at `$3`.
const GRANTED: &str = "s.target IN ('user', 'community') \
     AND ((s.target = 'user' AND s.grantee_id = $1) \
       OR (s.target = 'community' AND s.grantee_id = $2)) \
     AND (s.expires_at IS NULL OR s.expires_at > $3)";

/// A node about to be inserted.
pub(super) struct NewNode<'a> {
    pub id: &'a NodeId,
    pub space_id: &'a SpaceId,
    pub parent_id: Option<&'a NodeId>,
    pub name: &'a str,
    pub kind: NodeKind,
    pub now: DateTime<Utc>,
}

/// A version about to be inserted (and made its node's current one).
pub(super) struct NewVersion<'a> {
    pub id: &'a VersionId,
    pub node_id: &'a NodeId,
    pub content_hash: &'a str,
    pub size: u64,
    pub created_by: &'a UserId,
    pub device: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// The journal row a write ends with.
pub(super) struct Draft<'a> {
    pub space_id: &'a SpaceId,
    pub node_id: &'a NodeId,
    pub action: ChangeAction,
    pub path: &'a str,
    pub from_path: Option<&'a str>,
    pub kind: NodeKind,
    pub size: u64,
    pub user_id: &'a UserId,
    pub now: DateTime<Utc>,
}

/// The listing order: folders first, then by name without case. A page's last key is where
/// the next page starts.
pub(super) const SORT_KEY: &str =
    "((CASE kind WHEN 'folder' THEN '0' ELSE '1' END) || '/' || name_key)";

/// Stamps `$1` as the ETag of the node `$2` and of every folder above it.
const TOUCH_UP: &str = "UPDATE files.nodes SET etag = $1 WHERE id IN ( \
     WITH RECURSIVE up (id, parent_id) AS ( \
       SELECT id, parent_id FROM files.nodes WHERE id = $2 \
       UNION ALL SELECT n.id, n.parent_id FROM files.nodes n JOIN up ON n.id = up.parent_id) \
     SELECT id FROM up)";

/// The ids of `$1` and everything below it (trashed or not).
const SUBTREE: &str = "WITH RECURSIVE down (id) AS ( \
       SELECT id FROM files.nodes WHERE id = $1 \
       UNION ALL SELECT n.id FROM files.nodes n JOIN down ON n.parent_id = down.id) ";

/// One transaction that changes the tree and journals it.
pub(super) struct Write<'a> {
    _turn: WriteTurn<'a>,
    tx: Tx<'static>,
}

impl Write<'_> {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Inserts a node; a live sibling with the same name (without case) is `NameTaken`.
    pub async fn insert_node(&mut self, node: &NewNode<'_>) -> Result<()> {
        let inserted = query(
            "INSERT INTO files.nodes (id, space_id, parent_id, name, name_key, kind, etag, \
             created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, '0', $7, $7)",
        )
        .bind(node.id)
        .bind(node.space_id)
        .bind(node.parent_id)
        .bind(node.name)
        .bind(super::name_key(node.name))
        .bind(node.kind.as_str())
        .bind(node.now)
        .execute(&mut self.tx)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(FilesError::NameTaken(node.name.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Records a version and makes it the node's current one.
    pub async fn insert_version(&mut self, version: &NewVersion<'_>) -> Result<()> {
        query(
            "INSERT INTO files.versions (id, node_id, content_hash, size_bytes, created_by, \
             device, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(version.id)
        .bind(version.node_id)
        .bind(version.content_hash)
        .bind(version.size as i64)
        .bind(version.created_by)
        .bind(version.device)
        .bind(version.now)
        .execute(&mut self.tx)
        .await?;
        self.set_current(version.node_id, version.id, version.now)
            .await
    }

    /// Makes `version_id` the node's current version (its size and hash follow).
    pub async fn set_current(
        &mut self,
        node_id: &NodeId,
        version_id: &VersionId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        query(
            "UPDATE files.nodes SET version_id = $2, \
             size_bytes = (SELECT size_bytes FROM files.versions WHERE id = $2), \
             content_hash = (SELECT content_hash FROM files.versions WHERE id = $2), \
             modified_at = $3 WHERE id = $1",
        )
        .bind(node_id)
        .bind(version_id)
        .bind(now)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    /// Moves and/or renames a node; a live sibling with the same name is `NameTaken`.
    pub async fn move_node(
        &mut self,
        id: &NodeId,
        parent_id: &NodeId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let moved = query(
            "UPDATE files.nodes SET parent_id = $2, name = $3, name_key = $4, modified_at = $5 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(parent_id)
        .bind(name)
        .bind(super::name_key(name))
        .bind(now)
        .execute(&mut self.tx)
        .await;
        match moved {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(FilesError::NameTaken(name.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Puts the top of a subtree in the trash with the path it had.
    pub async fn trash(
        &mut self,
        id: &NodeId,
        path: &str,
        by: &UserId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        query(
            "UPDATE files.nodes SET trashed_at = $2, trashed_by = $3, trash_path = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(by)
        .bind(path)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    /// Takes a node out of the trash, under `parent_id` as `name`.
    pub async fn untrash(&mut self, id: &NodeId, parent_id: &NodeId, name: &str) -> Result<()> {
        let restored = query(
            "UPDATE files.nodes SET trashed_at = NULL, trashed_by = NULL, trash_path = NULL, \
             parent_id = $2, name = $3, name_key = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(parent_id)
        .bind(name)
        .bind(super::name_key(name))
        .execute(&mut self.tx)
        .await;
        match restored {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(FilesError::NameTaken(name.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Stamps `etag` on the node and every folder above it.
    pub async fn touch(&mut self, id: &NodeId, etag: &str) -> Result<()> {
        query(TOUCH_UP)
            .bind(etag)
            .bind(id)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    /// Takes the space's next cursor, records the change and stamps the cursor as the ETag
    /// of the node and the folders above it.
    pub async fn journal(&mut self, draft: &Draft<'_>) -> Result<Change> {
        let (seq, epoch): (i64, String) = query_as(
            "UPDATE files.spaces SET last_cursor = last_cursor + 1 WHERE id = $1 \
             RETURNING last_cursor, epoch",
        )
        .bind(draft.space_id)
        .fetch_one(&mut self.tx)
        .await?;
        let etag = seq.to_string();
        query(
            "INSERT INTO files.changes (space_id, seq, node_id, action, path, from_path, kind, \
             etag, size_bytes, user_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(draft.space_id)
        .bind(seq)
        .bind(draft.node_id)
        .bind(draft.action.as_str())
        .bind(draft.path)
        .bind(draft.from_path)
        .bind(draft.kind.as_str())
        .bind(&etag)
        .bind(draft.size as i64)
        .bind(draft.user_id)
        .bind(draft.now)
        .execute(&mut self.tx)
        .await?;
        self.touch(draft.node_id, &etag).await?;
        Ok(Change {
            space_id: draft.space_id.clone(),
            epoch,
            cursor: seq as u64,
            node_id: draft.node_id.clone(),
            action: draft.action,
            path: draft.path.to_string(),
            from_path: draft.from_path.map(str::to_string),
            kind: draft.kind,
            etag,
            size: draft.size,
            user_id: draft.user_id.clone(),
            at: draft.now,
        })
    }
}

#[derive(Clone)]
pub(super) struct FilesStore {
    db: Db,
}

impl FilesStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Starts a [`Write`].
    pub async fn write(&self) -> Result<Write<'_>> {
        let turn = self.db.write_turn().await;
        let tx = self.db.begin().await?;
        Ok(Write { _turn: turn, tx })
    }

    // --- spaces ---

    /// Creates a space with its root folder; a second personal space for the same owner is
    /// `None` (someone else made it meanwhile).
    pub async fn create_space(&self, space: &Space, now: DateTime<Utc>) -> Result<Option<()>> {
        let mut write = self.write().await?;
        let inserted = query(
            "INSERT INTO files.spaces (id, community_id, kind, owner_id, name, root_id, epoch, \
             last_cursor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)",
        )
        .bind(&space.id)
        .bind(&space.community_id)
        .bind(space.kind.as_str())
        .bind(space.owner_id.as_ref())
        .bind(&space.name)
        .bind(&space.root_id)
        .bind(&space.epoch)
        .bind(now)
        .execute(&mut write.tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        write
            .insert_node(&NewNode {
                id: &space.root_id,
                space_id: &space.id,
                parent_id: None,
                name: "",
                kind: NodeKind::Folder,
                now,
            })
            .await?;
        write.commit().await?;
        Ok(Some(()))
    }

    pub async fn space(&self, id: &SpaceId) -> Result<Option<Space>> {
        let sql = format!("SELECT {SPACE_COLUMNS} FROM files.spaces WHERE id = $1");
        let row = query_as::<SpaceRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(SpaceRow::into_space))
    }

    pub async fn personal_space(&self, owner_id: &UserId) -> Result<Option<Space>> {
        let sql = format!("SELECT {SPACE_COLUMNS} FROM files.spaces WHERE owner_id = $1");
        let row = query_as::<SpaceRow>(sqlx::AssertSqlSafe(sql))
            .bind(owner_id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(SpaceRow::into_space))
    }

    /// The community's shared spaces, by name.
    pub async fn community_spaces(&self, community_id: &CommunityId) -> Result<Vec<Space>> {
        let sql = format!(
            "SELECT {SPACE_COLUMNS} FROM files.spaces \
             WHERE community_id = $1 AND kind = 'community' ORDER BY name, id"
        );
        let rows = query_as::<SpaceRow>(sqlx::AssertSqlSafe(sql))
            .bind(community_id)
            .fetch_all(&self.db)
            .await?;
        Ok(rows.into_iter().map(SpaceRow::into_space).collect())
    }

    // --- nodes ---

    pub async fn node(&self, id: &NodeId) -> Result<Option<NodeRow>> {
        let sql = format!("SELECT {NODE_COLUMNS} FROM files.nodes WHERE id = $1");
        Ok(query_as::<NodeRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.db)
            .await?)
    }

    /// The live child of `parent_id` called `name` (without case).
    pub async fn child(&self, parent_id: &NodeId, name: &str) -> Result<Option<NodeRow>> {
        let sql = format!(
            "SELECT {NODE_COLUMNS} FROM files.nodes \
             WHERE parent_id = $1 AND name_key = $2 AND trashed_at IS NULL"
        );
        Ok(query_as::<NodeRow>(sqlx::AssertSqlSafe(sql))
            .bind(parent_id)
            .bind(super::name_key(name))
            .fetch_optional(&self.db)
            .await?)
    }

    /// A folder's live children: folders first, then by name without case.
    pub async fn children(
        &self,
        parent_id: &NodeId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<NodeRow>> {
        let sql = format!(
            "SELECT {NODE_COLUMNS} FROM files.nodes \
             WHERE parent_id = $1 AND trashed_at IS NULL \
               AND {SORT_KEY} > $2 ORDER BY {SORT_KEY} LIMIT $3"
        );
        Ok(query_as::<NodeRow>(sqlx::AssertSqlSafe(sql))
            .bind(parent_id)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.db)
            .await?)
    }

    /// The node and every folder above it, the node first, the root last.
    pub async fn ancestry(&self, id: &NodeId) -> Result<Vec<NodeRow>> {
        let columns: String = NODE_COLUMNS
            .split(", ")
            .map(|c| format!("n.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "WITH RECURSIVE up (id, depth) AS ( \
               SELECT id, 0 FROM files.nodes WHERE id = $1 \
               UNION ALL SELECT n.parent_id, up.depth + 1 FROM files.nodes n \
                 JOIN up ON n.id = up.id WHERE n.parent_id IS NOT NULL) \
             SELECT {columns} FROM up JOIN files.nodes n ON n.id = up.id ORDER BY up.depth"
        );
        Ok(query_as::<NodeRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(&self.db)
            .await?)
    }

    /// Live or trashed nodes of a space whose name contains `needle` (without case).
    pub async fn search(
        &self,
        space_id: &SpaceId,
        needle: &str,
        limit: u32,
    ) -> Result<Vec<NodeRow>> {
        let pattern = crate::db::contains_pattern(&super::name_key(needle));
        let sql = format!(
            "SELECT {NODE_COLUMNS} FROM files.nodes WHERE space_id = $1 AND parent_id IS NOT NULL \
             AND name_key LIKE $2 ESCAPE '\\' ORDER BY name_key, id LIMIT $3"
        );
        Ok(query_as::<NodeRow>(sqlx::AssertSqlSafe(sql))
            .bind(space_id)
            .bind(pattern)
            .bind(i64::from(limit))
            .fetch_all(&self.db)
            .await?)
    }

    /// The tops of deleted subtrees in a space, newest first.
    pub async fn trashed(&self, space_id: &SpaceId) -> Result<Vec<NodeRow>> {
        let sql = format!(
            "SELECT {NODE_COLUMNS} FROM files.nodes \
             WHERE space_id = $1 AND trashed_at IS NOT NULL ORDER BY trashed_at DESC, id"
        );
        Ok(query_as::<NodeRow>(sqlx::AssertSqlSafe(sql))
            .bind(space_id)
            .fetch_all(&self.db)
            .await?)
    }

    /// Trash tops deleted before `before`, in any space.
    pub async fn trashed_before(&self, before: DateTime<Utc>) -> Result<Vec<NodeId>> {
        Ok(query_scalar(
            "SELECT id FROM files.nodes WHERE trashed_at IS NOT NULL AND trashed_at < $1",
        )
        .bind(before)
        .fetch_all(&self.db)
        .await?)
    }

    /// Deletes a node and everything below it (with their versions); returns the content
    /// hashes they held, for the blobs to be released.
    pub async fn purge(&self, id: &NodeId) -> Result<Vec<String>> {
        let mut write = self.write().await?;
        let hashes: Vec<String> = query_scalar(sqlx::AssertSqlSafe(format!(
            "{SUBTREE} SELECT DISTINCT v.content_hash FROM files.versions v \
             JOIN down ON v.node_id = down.id"
        )))
        .bind(id)
        .fetch_all(&mut write.tx)
        .await?;
        query("DELETE FROM files.nodes WHERE id = $1")
            .bind(id)
            .execute(&mut write.tx)
            .await?;
        write.commit().await?;
        Ok(hashes)
    }

    // --- versions ---

    /// A file's versions, newest first.
    pub async fn versions(&self, node_id: &NodeId) -> Result<Vec<Version>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM files.versions WHERE node_id = $1 \
             ORDER BY created_at DESC, id DESC"
        );
        let rows = query_as::<VersionRow>(sqlx::AssertSqlSafe(sql))
            .bind(node_id)
            .fetch_all(&self.db)
            .await?;
        Ok(rows.into_iter().map(VersionRow::into_version).collect())
    }

    pub async fn version(&self, id: &VersionId) -> Result<Option<Version>> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM files.versions WHERE id = $1");
        let row = query_as::<VersionRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(VersionRow::into_version))
    }

    /// Deletes versions (never a node's current one: the caller leaves it out).
    pub async fn delete_versions(&self, ids: &[VersionId]) -> Result<()> {
        let _turn = self.db.write_turn().await;
        for id in ids {
            query(
                "DELETE FROM files.versions WHERE id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM files.nodes WHERE version_id = $1)",
            )
            .bind(id)
            .execute(&self.db)
            .await?;
        }
        Ok(())
    }

    /// Bytes the community's files hold: each distinct content once per community (as media
    /// counts photos), all versions and the trash included.
    pub async fn bytes_used(&self, community_id: &CommunityId) -> Result<u64> {
        let used: i64 = query_scalar(
            "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM ( \
               SELECT DISTINCT v.content_hash, v.size_bytes FROM files.versions v \
               JOIN files.nodes n ON n.id = v.node_id \
               JOIN files.spaces s ON s.id = n.space_id WHERE s.community_id = $1) AS held",
        )
        .bind(community_id)
        .fetch_one(&self.db)
        .await?;
        Ok(used.max(0) as u64)
    }

    pub async fn uses_blob(&self, hash: &str) -> Result<bool> {
        let found: Option<i64> = query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM files.versions WHERE content_hash = $1 LIMIT 1",
        )
        .bind(hash)
        .fetch_optional(&self.db)
        .await?;
        Ok(found.is_some())
    }

    // --- the journal ---

    /// Changes after `since`, oldest first.
    /// Journal rows with `since < seq <= up_to`, oldest first, at most `limit`.
    pub async fn changes(
        &self,
        space_id: &SpaceId,
        since: u64,
        up_to: u64,
        limit: u32,
    ) -> Result<Vec<Change>> {
        let rows = query_as::<ChangeRow>(
            "SELECT c.space_id, s.epoch, c.seq, c.node_id, c.action, c.path, c.from_path, \
             c.kind, c.etag, c.size_bytes, c.user_id, c.at FROM files.changes c \
             JOIN files.spaces s ON s.id = c.space_id \
             WHERE c.space_id = $1 AND c.seq > $2 AND c.seq <= $3 ORDER BY c.seq LIMIT $4",
        )
        .bind(space_id)
        .bind(since.min(i64::MAX as u64) as i64)
        .bind(up_to.min(i64::MAX as u64) as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(ChangeRow::into_change).collect())
    }

    // --- app passwords ---

    pub async fn insert_app_password(&self, password: &AppPassword, hash: &str) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO files.app_passwords (id, user_id, name, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&password.id)
        .bind(&password.user_id)
        .bind(&password.name)
        .bind(hash)
        .bind(password.created_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// A user's app passwords with their hashes, newest first.
    pub async fn app_passwords(&self, user_id: &UserId) -> Result<Vec<(AppPassword, String)>> {
        let rows = query_as::<AppPasswordRow>(
            "SELECT id, user_id, name, secret_hash, created_at, last_used_at \
             FROM files.app_passwords WHERE user_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(user_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(AppPasswordRow::into_pair).collect())
    }

    pub async fn delete_app_password(&self, user_id: &UserId, id: &AppPasswordId) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let deleted = query("DELETE FROM files.app_passwords WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.db)
            .await?;
        Ok(deleted == 1)
    }

    pub async fn app_password_used(&self, id: &AppPasswordId, now: DateTime<Utc>) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query("UPDATE files.app_passwords SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    // --- shares ---

    pub async fn insert_share(&self, share: &Share, password_hash: Option<&str>) -> Result<()> {
        let _turn = self.db.write_turn().await;
        let grantee = match &share.target {
            ShareTarget::User(id) => Some(id.as_str()),
            ShareTarget::Community(id) => Some(id.as_str()),
            ShareTarget::Link => None,
        };
        query(
            "INSERT INTO files.shares (id, node_id, space_id, created_by, target, grantee_id, \
             token, password_hash, expires_at, permission, may_reshare, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&share.id)
        .bind(&share.node_id)
        .bind(&share.space_id)
        .bind(&share.created_by)
        .bind(share.target.as_str())
        .bind(grantee)
        .bind(share.token.as_deref())
        .bind(password_hash)
        .bind(share.expires_at)
        .bind(share.permission.as_str())
        .bind(share.may_reshare)
        .bind(share.created_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn share(&self, id: &ShareId) -> Result<Option<Share>> {
        let sql = format!("SELECT {SHARE_COLUMNS} FROM files.shares s WHERE s.id = $1");
        let row = query_as::<ShareRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(ShareRow::into_share))
    }

    /// A link by its token, with its password hash.
    pub async fn link(&self, token: &str) -> Result<Option<(Share, Option<String>)>> {
        let sql = format!(
            "SELECT {SHARE_COLUMNS} FROM files.shares s WHERE s.token = $1 AND s.target = 'link'"
        );
        let row = query_as::<ShareRow>(sqlx::AssertSqlSafe(sql))
            .bind(token)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(ShareRow::into_pair))
    }

    /// The shares of one node, oldest first.
    pub async fn shares_on(&self, node_id: &NodeId) -> Result<Vec<Share>> {
        let sql = format!(
            "SELECT {SHARE_COLUMNS} FROM files.shares s WHERE s.node_id = $1 \
             ORDER BY s.created_at, s.id"
        );
        let rows = query_as::<ShareRow>(sqlx::AssertSqlSafe(sql))
            .bind(node_id)
            .fetch_all(&self.db)
            .await?;
        Ok(rows.into_iter().map(ShareRow::into_share).collect())
    }

    /// Live shares for the user or their community on `node_id` or any folder above it.
    pub async fn shares_reaching(
        &self,
        node_id: &NodeId,
        user_id: &UserId,
        community_id: &CommunityId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Share>> {
        let sql = format!(
            "WITH RECURSIVE up (id, parent_id) AS ( \
               SELECT id, parent_id FROM files.nodes WHERE id = $4 \
               UNION ALL SELECT n.id, n.parent_id FROM files.nodes n JOIN up ON n.id = up.parent_id) \
             SELECT {SHARE_COLUMNS} FROM files.shares s JOIN up ON s.node_id = up.id \
             WHERE {GRANTED}"
        );
        let rows = query_as::<ShareRow>(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(community_id)
            .bind(now)
            .bind(node_id)
            .fetch_all(&self.db)
            .await?;
        Ok(rows.into_iter().map(ShareRow::into_share).collect())
    }

    /// Live shares for the user or their community (optionally in one space), not made by
    /// the user, newest first.
    pub async fn shares_granted(
        &self,
        user_id: &UserId,
        community_id: &CommunityId,
        space_id: Option<&SpaceId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Share>> {
        let sql = format!(
            "SELECT {SHARE_COLUMNS} FROM files.shares s WHERE {GRANTED} \
             AND s.created_by <> $1 AND ($4 = '' OR s.space_id = $4) \
             ORDER BY s.created_at DESC, s.id"
        );
        let rows = query_as::<ShareRow>(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(community_id)
            .bind(now)
            .bind(space_id.map_or("", SpaceId::as_str))
            .fetch_all(&self.db)
            .await?;
        Ok(rows.into_iter().map(ShareRow::into_share).collect())
    }

    pub async fn delete_share(&self, id: &ShareId) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let deleted = query("DELETE FROM files.shares WHERE id = $1")
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(deleted == 1)
    }
}
