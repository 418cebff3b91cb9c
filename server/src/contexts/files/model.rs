//! Files' domain types: spaces, nodes, versions, journal changes, trash items, app passwords.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AppPasswordId, CommunityId, NodeId, SpaceId, UserId, VersionId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpaceKind {
    /// One per user, only theirs.
    Personal,
    /// Shared by every member of a community (a "Family" folder).
    Community,
}

impl SpaceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpaceKind::Personal => "personal",
            SpaceKind::Community => "community",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Space {
    pub id: SpaceId,
    pub community_id: CommunityId,
    pub kind: SpaceKind,
    /// The owner of a personal space.
    pub owner_id: Option<UserId>,
    pub name: String,
    /// Names the journal's cursor sequence; a client holding another epoch resyncs.
    pub epoch: String,
    /// The newest journal cursor.
    pub last_cursor: u64,
    /// The root folder.
    pub root_id: NodeId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Folder,
    File,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Folder => "folder",
            NodeKind::File => "file",
        }
    }

    pub fn parse(s: &str) -> NodeKind {
        if s == "folder" {
            NodeKind::Folder
        } else {
            NodeKind::File
        }
    }
}

/// A folder or a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    pub space_id: SpaceId,
    /// `None` for the root.
    pub parent_id: Option<NodeId>,
    /// Empty for the root.
    pub name: String,
    pub kind: NodeKind,
    /// `/a/b.txt`; `/` for the root.
    pub path: String,
    /// A file's current version.
    pub version_id: Option<VersionId>,
    pub size: u64,
    /// Hex SHA-256 of a file's current bytes.
    pub content_hash: Option<String>,
    /// Changes whenever this node or anything below it changes.
    pub etag: String,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

impl Node {
    pub fn is_folder(&self) -> bool {
        self.kind == NodeKind::Folder
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub id: VersionId,
    pub node_id: NodeId,
    pub content_hash: String,
    pub size: u64,
    pub created_by: UserId,
    pub device: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeAction {
    Created,
    Updated,
    Moved,
    Deleted,
    Restored,
}

impl ChangeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::Created => "created",
            ChangeAction::Updated => "updated",
            ChangeAction::Moved => "moved",
            ChangeAction::Deleted => "deleted",
            ChangeAction::Restored => "restored",
        }
    }

    pub fn parse(s: &str) -> ChangeAction {
        match s {
            "created" => ChangeAction::Created,
            "moved" => ChangeAction::Moved,
            "deleted" => ChangeAction::Deleted,
            "restored" => ChangeAction::Restored,
            _ => ChangeAction::Updated,
        }
    }
}

/// One row of a space's change journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub space_id: SpaceId,
    /// The space's journal epoch: with `cursor`, the `files:` topic position.
    pub epoch: String,
    /// Monotonically increasing per space, from 1.
    pub cursor: u64,
    pub node_id: NodeId,
    pub action: ChangeAction,
    /// The node's path after the change (before it, for a deletion).
    pub path: String,
    /// The path before a move.
    pub from_path: Option<String>,
    pub kind: NodeKind,
    pub etag: String,
    pub size: u64,
    pub user_id: UserId,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockKind {
    /// Taken by a WebDAV client (LOCK).
    Webdav,
    /// Taken by an app through GraphQL (`lockFileNode`).
    App,
}

impl LockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LockKind::Webdav => "webdav",
            LockKind::App => "app",
        }
    }

    pub fn parse(s: &str) -> LockKind {
        if s == "webdav" {
            LockKind::Webdav
        } else {
            LockKind::App
        }
    }
}

/// A node someone is editing: others' writes to it (and, for a deep lock, below it) are
/// refused until it is released or expires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub token: String,
    pub node_id: NodeId,
    pub holder: UserId,
    pub kind: LockKind,
    pub note: Option<String>,
    pub deep: bool,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// Changes after a cursor, at most a page of them.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangesPage {
    pub epoch: String,
    pub changes: Vec<Change>,
    /// The cursor to ask from next (the last change's, or the one asked from).
    pub cursor: u64,
    pub has_more: bool,
}

/// The top of a deleted subtree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrashItem {
    pub node: Node,
    /// Where it was when deleted.
    pub original_path: String,
    pub deleted_at: DateTime<Utc>,
    pub deleted_by: Option<UserId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppPassword {
    pub id: AppPasswordId,
    pub user_id: UserId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What a write did.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    pub node: Node,
    pub version: Version,
    /// True when the node did not exist before.
    pub created: bool,
    /// True when the upload was based on an older version and was kept beside it under a
    /// conflict name.
    pub conflict: bool,
}
