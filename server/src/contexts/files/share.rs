//! Shares: a node (and everything below it) given to a user, to the whole community, or to
//! anyone holding a public link; and the rights a principal ends up with on a node.
//!
//! The rules, decided here and applied by the service (`service/access.rs`):
//! - the space rules come first: a personal space's owner and a community space's members
//!   write and may share; a community space's guests read and may not share;
//! - then every live, unexpired share on the node or a folder above it aimed at the user or at
//!   their community; the most generous wins;
//! - a guest never gets more than read, whatever the share says, and never reshares;
//! - a share reaches only users of the space's community (other communities: public links).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CommunityId, NodeId, ShareId, SpaceId, UserId};

/// Who a share is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "id")]
pub enum ShareTarget {
    User(UserId),
    /// Every user of the community (its guests read only).
    Community(CommunityId),
    /// Anyone with the token (and the password, when there is one).
    Link,
}

impl ShareTarget {
    pub fn as_str(&self) -> &'static str {
        match self {
            ShareTarget::User(_) => "user",
            ShareTarget::Community(_) => "community",
            ShareTarget::Link => "link",
        }
    }
}

/// What a share allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharePermission {
    Read,
    /// Read, upload, make folders, move and delete inside the shared folder.
    Write,
    /// Links to folders only ("file drop"): upload, nothing else, never overwriting.
    UploadOnly,
}

impl SharePermission {
    pub fn as_str(self) -> &'static str {
        match self {
            SharePermission::Read => "read",
            SharePermission::Write => "write",
            SharePermission::UploadOnly => "upload_only",
        }
    }

    pub fn parse(s: &str) -> SharePermission {
        match s {
            "write" => SharePermission::Write,
            "upload_only" => SharePermission::UploadOnly,
            _ => SharePermission::Read,
        }
    }

    /// The access the permission needs its creator to hold.
    pub fn needs(self) -> Access {
        match self {
            SharePermission::Read => Access::Read,
            SharePermission::Write | SharePermission::UploadOnly => Access::Write,
        }
    }
}

/// A stored share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub id: ShareId,
    pub node_id: NodeId,
    pub space_id: SpaceId,
    pub created_by: UserId,
    pub target: ShareTarget,
    /// A link's secret: shown to its creator only.
    pub token: Option<String>,
    /// Whether a link asks for a password (its hash never leaves the store).
    pub has_password: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub permission: SharePermission,
    /// Whether the grantee may share the node further (never beyond their own rights).
    pub may_reshare: bool,
    pub created_at: DateTime<Utc>,
}

impl Share {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A share to create.
#[derive(Clone, Debug)]
pub struct NewShare {
    pub node_id: NodeId,
    pub target: NewShareTarget,
    pub permission: SharePermission,
    /// Links only.
    pub password: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub may_reshare: bool,
}

/// Who a new share is for (the community is always the space's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewShareTarget {
    User(UserId),
    Community,
    Link,
}

/// How much a principal may do with a node, ordered from nothing to everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    None,
    Read,
    Write,
}

/// Where rights come from: the space itself, or a share whose subtree bounds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Space,
    /// The highest shared node granting the rights: nothing is moved in or out of it.
    Share(NodeId),
}

/// A principal's rights on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rights {
    pub access: Access,
    pub may_share: bool,
    pub scope: Scope,
}

impl Rights {
    pub fn none() -> Rights {
        Rights {
            access: Access::None,
            may_share: false,
            scope: Scope::Space,
        }
    }

    pub fn can_read(&self) -> bool {
        self.access >= Access::Read
    }

    pub fn can_write(&self) -> bool {
        self.access >= Access::Write
    }
}

/// The most generous of `shares` (user and community shares reaching a node), given the
/// node's ancestry ids (the node first, the root last). Among equals the share highest up
/// the tree gives the scope, so nested shares keep one boundary. A guest reads at most and
/// never reshares.
pub fn best_share(shares: &[Share], ancestry: &[NodeId], guest: bool) -> Rights {
    let depth = |share: &Share| ancestry.iter().position(|id| *id == share.node_id);
    let mut best: Option<(&Share, Access, usize)> = None;
    for share in shares {
        let Some(at) = depth(share) else { continue };
        let mut access = share.permission.needs();
        if guest {
            access = access.min(Access::Read);
        }
        let better = match best {
            None => true,
            Some((_, held, held_at)) => access > held || (access == held && at > held_at),
        };
        if better {
            best = Some((share, access, at));
        }
    }
    match best {
        None => Rights::none(),
        Some((share, access, _)) => Rights {
            access,
            may_share: !guest && shares.iter().any(|s| s.may_reshare && depth(s).is_some()),
            scope: Scope::Share(share.node_id.clone()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(node: &NodeId, permission: SharePermission, may_reshare: bool) -> Share {
        Share {
            id: ShareId::new(),
            node_id: node.clone(),
            space_id: SpaceId::new(),
            created_by: UserId::new(),
            target: ShareTarget::User(UserId::new()),
            token: None,
            has_password: false,
            expires_at: None,
            permission,
            may_reshare,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn the_most_generous_share_wins_and_the_highest_gives_the_scope() {
        let (file, folder, root) = (NodeId::new(), NodeId::new(), NodeId::new());
        let ancestry = vec![file.clone(), folder.clone(), root.clone()];
        let shares = vec![
            share(&file, SharePermission::Write, false),
            share(&folder, SharePermission::Read, true),
        ];
        let rights = best_share(&shares, &ancestry, false);
        assert_eq!(rights.access, Access::Write);
        assert!(rights.may_share);
        assert_eq!(rights.scope, Scope::Share(file.clone()));
        let nested = vec![
            share(&file, SharePermission::Write, false),
            share(&root, SharePermission::Write, false),
        ];
        let rights = best_share(&nested, &ancestry, false);
        assert_eq!(rights.scope, Scope::Share(root));
        assert!(!rights.may_share);
    }

    #[test]
    fn guests_read_at_most_and_never_reshare() {
        let node = NodeId::new();
        let shares = vec![share(&node, SharePermission::Write, true)];
        let rights = best_share(&shares, std::slice::from_ref(&node), true);
        assert_eq!(rights.access, Access::Read);
        assert!(!rights.may_share);
        assert_eq!(best_share(&shares, &[NodeId::new()], false), Rights::none());
    }
}
