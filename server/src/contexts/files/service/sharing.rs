//! Shares: creating and removing them, "shared with me", and public links (opened by token,
//! with an optional password; reading, listing and uploading through the link's creator).

use std::ops::Range;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};

use crate::contexts::auth::{Principal, Role};
use crate::contexts::media::{BlobRead, Ingest, Ingested};
use crate::ids::{NodeId, SessionId, ShareId, VersionId};

use super::super::share::{NewShare, NewShareTarget, Share, SharePermission, ShareTarget};
use super::super::{app_password, Version};
use super::access::space_rights;
use super::{child_path, now, split_path, FilesError, FilesService, Node, Result, Written};

/// How long a verified link password is trusted without hashing it again.
const LINK_PASSWORD_CACHE: StdDuration = StdDuration::from_secs(300);
/// A version id no file has: an upload through a file-drop link "based on" it is kept beside
/// an existing file of the same name instead of replacing it.
const FILE_DROP_BASE: &str = "file-drop-never-a-version";
/// Longest link password accepted.
const MAX_LINK_PASSWORD: usize = 256;

/// A public link, opened: the share, its live node and the principal its actions run as (the
/// link's creator, whose rights bound it and whose community's quota uploads count against).
pub struct OpenLink {
    pub share: Share,
    pub node: Node,
    creator: Principal,
}

impl FilesService {
    /// Shares a node with a user, with the space's community or by a public link. The caller
    /// needs the right to share it (the space's members; a grantee whose share allows
    /// resharing) and cannot give more than they hold.
    pub async fn create_share(&self, by: &Principal, new: NewShare) -> Result<Share> {
        let (node, space, rights) = self.readable(by, &new.node_id).await?;
        if !rights.may_share {
            return Err(if by.role == Role::Guest {
                FilesError::GuestsMayNot("share files")
            } else {
                FilesError::MayNotShare("your access does not include resharing")
            });
        }
        if new.permission.needs() > rights.access {
            return Err(FilesError::MayNotShare(
                "a share cannot give more than you hold",
            ));
        }
        let link = new.target == NewShareTarget::Link;
        if new.permission == SharePermission::UploadOnly && !link {
            return Err(FilesError::Invalid("upload_only is for links".into()));
        }
        if link && !node.is_folder() && new.permission != SharePermission::Read {
            return Err(FilesError::Invalid("a link to a file can only read".into()));
        }
        if new.password.is_some() && !link {
            return Err(FilesError::Invalid("only links have passwords".into()));
        }
        if new.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(FilesError::Invalid("the expiry is in the past".into()));
        }
        let target = match &new.target {
            NewShareTarget::User(user_id) => {
                if *user_id == by.user_id {
                    return Err(FilesError::Invalid("you cannot share with yourself".into()));
                }
                let user = self
                    .inner
                    .auth
                    .user(user_id)
                    .await
                    .map_err(|_| FilesError::NotFound)?;
                if user.community_id != space.community_id {
                    return Err(FilesError::NotFound);
                }
                if user.role == Role::Guest && new.permission != SharePermission::Read {
                    return Err(FilesError::Invalid("guests can be given read only".into()));
                }
                ShareTarget::User(user.id)
            }
            NewShareTarget::Community => ShareTarget::Community(space.community_id.clone()),
            NewShareTarget::Link => ShareTarget::Link,
        };
        let password_hash = match new.password.as_deref() {
            None => None,
            Some(p) if p.is_empty() || p.chars().count() > MAX_LINK_PASSWORD => {
                return Err(FilesError::Invalid(
                    "a link password has 1 to 256 characters".into(),
                ));
            }
            Some(p) => Some(app_password::hash(p.to_string()).await),
        };
        let share = Share {
            id: ShareId::new(),
            node_id: node.id,
            space_id: space.id,
            created_by: by.user_id.clone(),
            target,
            token: link.then(|| nanoid::nanoid!(32)),
            has_password: password_hash.is_some(),
            expires_at: new.expires_at,
            permission: new.permission,
            // A link is anyone's: it cannot be reshared.
            may_reshare: new.may_reshare && !link,
            created_at: now(),
        };
        self.store()
            .insert_share(&share, password_hash.as_deref())
            .await?;
        Ok(share)
    }

    /// The shares of a node: all of them for the space's members, else those the caller
    /// made. A link's token is shown to its creator only.
    pub async fn shares(&self, by: &Principal, node_id: &NodeId) -> Result<Vec<Share>> {
        let (_, space, _) = self.readable(by, node_id).await?;
        let member = space_rights(by, &space).can_write();
        let shares = self.store().shares_on(node_id).await?;
        Ok(shares
            .into_iter()
            .filter(|s| member || s.created_by == by.user_id)
            .map(|mut s| {
                if s.created_by != by.user_id {
                    s.token = None;
                }
                s
            })
            .collect())
    }

    /// Removes a share: its creator, or a member of the node's space.
    pub async fn delete_share(&self, by: &Principal, id: &ShareId) -> Result<()> {
        let share = self.store().share(id).await?.ok_or(FilesError::NotFound)?;
        if share.created_by != by.user_id {
            let space = self
                .store()
                .space(&share.space_id)
                .await?
                .ok_or(FilesError::NotFound)?;
            let rights = space_rights(by, &space);
            if !rights.can_read() {
                return Err(FilesError::NotFound);
            }
            if !rights.may_share {
                return Err(FilesError::MayNotShare(
                    "only its creator or the space's members remove a share",
                ));
            }
        }
        if !self.store().delete_share(id).await? {
            return Err(FilesError::NotFound);
        }
        Ok(())
    }

    /// Live nodes shared with the caller or their community by others (outside the spaces
    /// they see anyway), newest share first, one entry per node.
    pub async fn shared_with_me(&self, by: &Principal) -> Result<Vec<(Share, Node)>> {
        let shares = self
            .store()
            .shares_granted(&by.user_id, &by.community_id, None, now())
            .await?;
        let mut found: Vec<(Share, Node)> = Vec::new();
        for share in shares {
            if found.iter().any(|(_, n)| n.id == share.node_id) {
                continue;
            }
            let Ok((node, space, rights)) = self.access(by, &share.node_id).await else {
                continue;
            };
            if space_rights(by, &space).can_read() || !rights.can_read() {
                continue;
            }
            found.push((share, node));
        }
        Ok(found)
    }

    // --- public links ---

    /// Opens a link by its token: `NotFound` for no such link (or one whose node is gone or
    /// whose creator lost the rights it needs), `ShareExpired` past its expiry, and for a
    /// password: `SharePasswordRequired` without one, `WrongSharePassword`, or `rate_limited`
    /// after too many guesses from one address or at one link.
    pub async fn open_link(
        &self,
        token: &str,
        password: Option<&str>,
        address: Option<&str>,
    ) -> Result<OpenLink> {
        let (share, hash) = self
            .store()
            .link(token)
            .await?
            .ok_or(FilesError::NotFound)?;
        if share.is_expired(Utc::now()) {
            return Err(FilesError::ShareExpired);
        }
        if let Some(hash) = hash {
            let password = password.ok_or(FilesError::SharePasswordRequired)?;
            self.check_link_password(&share, &hash, password, address)
                .await?;
        }
        let user = self
            .inner
            .auth
            .user(&share.created_by)
            .await
            .map_err(|_| FilesError::NotFound)?;
        if user.disabled {
            return Err(FilesError::NotFound);
        }
        let creator = Principal {
            user_id: user.id,
            community_id: user.community_id,
            role: user.role,
            session_id: SessionId::from(format!("share-link:{}", share.id)),
            email: user.email,
            expires_at: Utc::now() + Duration::hours(1),
        };
        let (node, _, rights) = self.access(&creator, &share.node_id).await?;
        if rights.access < share.permission.needs() {
            return Err(FilesError::NotFound);
        }
        Ok(OpenLink {
            share,
            node,
            creator,
        })
    }

    async fn check_link_password(
        &self,
        share: &Share,
        hash: &str,
        password: &str,
        address: Option<&str>,
    ) -> Result<()> {
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let key = (share.id.clone(), digest);
        let fresh = self
            .inner
            .verified_links
            .get(&key)
            .is_some_and(|at| at.elapsed() < LINK_PASSWORD_CACHE);
        if fresh {
            return Ok(());
        }
        // Only guesses that reach argon2 count: a known password is answered from the cache.
        let token = share.token.as_deref().unwrap_or_default();
        self.inner.link_guesses.check(address, token)?;
        if !app_password::verify(password.to_string(), hash.to_string()).await {
            return Err(FilesError::WrongSharePassword);
        }
        self.inner.verified_links.insert(key, Instant::now());
        Ok(())
    }

    /// The node at `path` below the link's node (`None` or `/`: the node itself).
    pub async fn link_node(&self, link: &OpenLink, path: Option<&str>) -> Result<Node> {
        let names = split_path(path.unwrap_or("/"))?;
        if names.is_empty() {
            return Ok(link.node.clone());
        }
        if !link.node.is_folder() {
            return Err(FilesError::NotFound);
        }
        let mut current = link.node.id.clone();
        let mut path = link.node.path.clone();
        for name in &names {
            let child = self
                .store()
                .child(&current, name)
                .await?
                .ok_or(FilesError::NotFound)?;
            path = child_path(&path, &child.name);
            current = child.id;
        }
        self.node(&link.creator, &current).await.map(|mut node| {
            node.path = path;
            node
        })
    }

    fn link_reads(link: &OpenLink) -> Result<()> {
        if link.share.permission == SharePermission::UploadOnly {
            return Err(FilesError::LinkForbids(
                "listing or downloading (it is a file drop)",
            ));
        }
        Ok(())
    }

    /// A folder's children through a link (not a file drop).
    pub async fn link_list(
        &self,
        link: &OpenLink,
        folder: &Node,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Node>> {
        Self::link_reads(link)?;
        self.list(&link.creator, &folder.id, after, limit).await
    }

    /// A file's current version through a link (not a file drop).
    pub async fn link_version(&self, link: &OpenLink, file: &Node) -> Result<Option<Version>> {
        Self::link_reads(link)?;
        if file.is_folder() {
            return Err(FilesError::WrongKind("file"));
        }
        Ok(self.version_of(&link.creator, &file.id, None).await?.1)
    }

    /// Reads a file's version through a link.
    pub async fn link_read(
        &self,
        link: &OpenLink,
        file: &Node,
        version: &VersionId,
        range: Option<Range<u64>>,
    ) -> Result<BlobRead> {
        Self::link_reads(link)?;
        self.read(&link.creator, &file.id, Some(version), range)
            .await
    }

    fn link_writes(link: &OpenLink) -> Result<()> {
        if link.share.permission == SharePermission::Read {
            return Err(FilesError::LinkForbids("uploads"));
        }
        if !link.node.is_folder() {
            return Err(FilesError::LinkForbids("uploads to a file"));
        }
        Ok(())
    }

    /// Refuses an upload through the link before any byte is read when it cannot fit.
    pub async fn link_check_room(&self, link: &OpenLink, incoming: u64) -> Result<()> {
        Self::link_writes(link)?;
        self.check_room(&link.creator, &link.node.space_id, incoming)
            .await
    }

    /// Starts receiving a file through a write or file-drop link (the creator's budget).
    pub async fn link_begin_upload(&self, link: &OpenLink) -> Result<Ingest> {
        Self::link_writes(link)?;
        self.begin_upload(&link.creator, &link.node.space_id).await
    }

    /// Stores a file received through a link at `path` below the link's folder, as its
    /// creator. A file drop never replaces: a name in use keeps the upload beside it under a
    /// conflict name.
    pub async fn link_store_upload(
        &self,
        link: &OpenLink,
        path: &str,
        ingested: Ingested,
    ) -> Result<Written> {
        let names = match split_path(path) {
            Ok(names) if !names.is_empty() && Self::link_writes(link).is_ok() => names,
            Ok(_) => {
                ingested.discard().await;
                return Err(Self::link_writes(link)
                    .err()
                    .unwrap_or_else(|| FilesError::Invalid("give the file's name".into())));
            }
            Err(e) => {
                ingested.discard().await;
                return Err(e);
            }
        };
        let mut full = link.node.path.clone();
        for name in &names {
            full = child_path(&full, name);
        }
        let drop_base = VersionId::from(FILE_DROP_BASE);
        let (base, device) = match link.share.permission {
            SharePermission::UploadOnly => (Some(&drop_base), Some("file drop")),
            _ => (None, Some("shared link")),
        };
        self.store_upload(
            &link.creator,
            &link.node.space_id,
            &full,
            ingested,
            base,
            device,
        )
        .await
    }
}
