//! Access resolution: what a principal may do with a node. The space rules first (see
//! [`space_rights`]), then the user and community shares on the node or a folder above it
//! ([`super::super::share::best_share`]). Every operation on a node or a path asks here.

use crate::contexts::auth::{Principal, Role};
use crate::ids::{NodeId, SpaceId};

use super::super::share::{best_share, Access, Rights, Scope};
use super::super::store::NodeRow;
use super::{
    join_path, may_read, now, split_path, FilesError, FilesService, Node, NodeKind, Result, Space,
    SpaceKind,
};

/// The rights the space alone gives: a personal space's owner and a community space's
/// members write and share; a community space's guests read.
pub(super) fn space_rights(by: &Principal, space: &Space) -> Rights {
    if !may_read(by, space) {
        return Rights::none();
    }
    let member = space.kind == SpaceKind::Personal || by.role != Role::Guest;
    Rights {
        access: if member { Access::Write } else { Access::Read },
        may_share: member,
        scope: Scope::Space,
    }
}

/// The refusal for someone who reads but may not write.
pub(super) fn read_only(by: &Principal) -> FilesError {
    if by.role == Role::Guest {
        FilesError::GuestsMayNot("change files")
    } else {
        FilesError::Forbidden
    }
}

/// Where a new node goes: its space, the folder, the folder's path and the new name, and the
/// rights that allowed it.
pub(super) struct Target {
    pub space: Space,
    pub parent: NodeRow,
    pub parent_path: String,
    pub name: String,
    pub rights: Rights,
    /// Allowed by a write share on the existing file itself (not on its folder): only a new
    /// version of that file, never a sibling.
    pub via_file: bool,
}

impl FilesService {
    /// A live node (with its path), its space and `by`'s rights on it; `NotFound` when the
    /// node is missing or in the trash. The rights may be `Access::None`.
    pub(super) async fn access(
        &self,
        by: &Principal,
        id: &NodeId,
    ) -> Result<(Node, Space, Rights)> {
        let ancestry = self.store().ancestry(id).await?;
        if ancestry.is_empty() || ancestry.iter().any(|n| n.trashed_at.is_some()) {
            return Err(FilesError::NotFound);
        }
        let ids: Vec<NodeId> = ancestry.iter().map(|n| n.id.clone()).collect();
        let mut names: Vec<String> = ancestry
            .iter()
            .filter(|n| n.parent_id.is_some())
            .map(|n| n.name.clone())
            .collect();
        names.reverse();
        let node = ancestry
            .into_iter()
            .next()
            .expect("not empty")
            .into_node(join_path(&names));
        let space = self
            .store()
            .space(&node.space_id)
            .await?
            .ok_or(FilesError::NotFound)?;
        let from_space = space_rights(by, &space);
        if from_space.can_read() || by.community_id != space.community_id {
            return Ok((node, space, from_space));
        }
        let shares = self
            .store()
            .shares_reaching(id, &by.user_id, &by.community_id, now())
            .await?;
        let rights = best_share(&shares, &ids, by.role == Role::Guest);
        if !rights.can_read() && node.kind == NodeKind::File {
            // A file a message carries: that file, read-only, for the conversation.
            if let Some(shared) = self.inner.shared.get() {
                if shared.shared_with(&by.user_id, &node.id).await {
                    let scope = Scope::Share(node.id.clone());
                    let rights = Rights {
                        access: Access::Read,
                        may_share: false,
                        scope,
                    };
                    return Ok((node, space, rights));
                }
            }
        }
        Ok((node, space, rights))
    }

    /// A live node `by` may read, with its space and rights.
    pub(super) async fn readable(
        &self,
        by: &Principal,
        id: &NodeId,
    ) -> Result<(Node, Space, Rights)> {
        let found = self.access(by, id).await?;
        if !found.2.can_read() {
            return Err(FilesError::NotFound);
        }
        Ok(found)
    }

    /// A live node `by` may change.
    pub(super) async fn changeable(
        &self,
        by: &Principal,
        id: &NodeId,
    ) -> Result<(Node, Space, Rights)> {
        let found = self.readable(by, id).await?;
        if !found.2.can_write() {
            return Err(read_only(by));
        }
        Ok(found)
    }

    /// The rights on the folder holding `node` (what deleting or moving it away needs).
    pub(super) async fn parent_rights(&self, by: &Principal, node: &Node) -> Result<Rights> {
        let parent = node
            .parent_id
            .as_ref()
            .ok_or_else(|| FilesError::Invalid("the root cannot be changed".into()))?;
        let (_, _, rights) = self.access(by, parent).await?;
        if !rights.can_write() {
            return Err(if rights.can_read() {
                read_only(by)
            } else {
                // Reached through a share on the node itself: its folder is not theirs.
                FilesError::Forbidden
            });
        }
        Ok(rights)
    }

    /// Where a write at `path` in the space goes, if `by` may write there: the space's
    /// members anywhere, a grantee inside a folder shared with write (or, with `or_file`, on
    /// a file shared with write). `NotFound` for anyone who reaches nothing at the path.
    pub(super) async fn target(
        &self,
        by: &Principal,
        space_id: &SpaceId,
        path: &str,
        or_file: bool,
    ) -> Result<Target> {
        let space = self
            .store()
            .space(space_id)
            .await?
            .ok_or(FilesError::NotFound)?;
        let from_space = space_rights(by, &space);
        if from_space.can_read() && !from_space.can_write() {
            return Err(read_only(by));
        }
        if !from_space.can_read() && !self.has_shares_in(by, &space).await? {
            return Err(FilesError::NotFound);
        }
        let (parent, parent_path, name) = match self.parent_of(&space, path).await {
            Err(FilesError::ParentMissing) if !from_space.can_read() => {
                return Err(self.missing_for_grantee(by, &space, path).await?);
            }
            placed => placed?,
        };
        if from_space.can_write() {
            return Ok(Target {
                space,
                parent,
                parent_path,
                name,
                rights: from_space,
                via_file: false,
            });
        }
        let (_, _, rights) = self.access(by, &parent.id).await?;
        if rights.can_write() {
            return Ok(Target {
                space,
                parent,
                parent_path,
                name,
                rights,
                via_file: false,
            });
        }
        if or_file {
            if let Some(existing) = self.store().child(&parent.id, &name).await? {
                if existing.kind() == NodeKind::File {
                    let (_, _, on_file) = self.access(by, &existing.id).await?;
                    if on_file.can_write() {
                        return Ok(Target {
                            space,
                            parent,
                            parent_path,
                            name,
                            rights: on_file,
                            via_file: true,
                        });
                    }
                    if on_file.can_read() {
                        return Err(read_only(by));
                    }
                }
            }
        }
        if rights.can_read() {
            return Err(read_only(by));
        }
        // Nothing there they may see: the same answer as a missing path.
        Err(FilesError::NotFound)
    }

    /// What a grantee hears about a missing parent folder: `ParentMissing` when the deepest
    /// folder that does exist along the path is one they may read, else `NotFound` (so the
    /// space's other folders cannot be probed).
    async fn missing_for_grantee(
        &self,
        by: &Principal,
        space: &Space,
        path: &str,
    ) -> Result<FilesError> {
        let mut names = split_path(path)?;
        while names.pop().is_some() {
            if let Some(found) = self.resolve(space, &join_path(&names)).await? {
                let (_, _, rights) = self.access(by, &found.id).await?;
                return Ok(if rights.can_read() {
                    FilesError::ParentMissing
                } else {
                    FilesError::NotFound
                });
            }
        }
        Ok(FilesError::NotFound)
    }

    /// The space an upload goes to, if `by` may write somewhere in it: its members, or a
    /// grantee holding a write share in it (where exactly is checked when the file lands).
    pub(super) async fn upload_space(&self, by: &Principal, space_id: &SpaceId) -> Result<Space> {
        let space = self
            .store()
            .space(space_id)
            .await?
            .ok_or(FilesError::NotFound)?;
        let from_space = space_rights(by, &space);
        if from_space.can_write() {
            return Ok(space);
        }
        if from_space.can_read() {
            return Err(read_only(by));
        }
        if by.community_id != space.community_id {
            return Err(FilesError::NotFound);
        }
        let shares = self
            .store()
            .shares_granted(&by.user_id, &by.community_id, Some(space_id), now())
            .await?;
        if shares.is_empty() {
            return Err(FilesError::NotFound);
        }
        if by.role == Role::Guest || !shares.iter().any(|s| s.permission.needs() == Access::Write) {
            return Err(read_only(by));
        }
        Ok(space)
    }

    /// Whether a live share of the space is aimed at `by` or their community.
    pub(super) async fn has_shares_in(&self, by: &Principal, space: &Space) -> Result<bool> {
        if by.community_id != space.community_id {
            return Ok(false);
        }
        let shares = self
            .store()
            .shares_granted(&by.user_id, &by.community_id, Some(&space.id), now())
            .await?;
        Ok(!shares.is_empty())
    }
}

/// Whether a move or copy stays within one scope: the space's members anywhere in it, a
/// grantee inside one shared folder.
pub(super) fn same_scope(from: &Rights, to: &Rights) -> bool {
    match (&from.scope, &to.scope) {
        (Scope::Space, Scope::Space) => true,
        (Scope::Share(a), Scope::Share(b)) => a == b,
        _ => false,
    }
}
