//! The SQL of resumable uploads into files: tus uploads (`files.tus_uploads`: target, length,
//! bytes received, expiry) and the targets of socket uploads (`files.socket_uploads`, keyed by
//! media's upload id; media keeps the transfer itself).

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::db::{query, query_as, Db};
use crate::ids::{NodeId, SpaceId, TusUploadId, UploadId, UserId, VersionId};

use super::FilesError;

type Result<T, E = FilesError> = std::result::Result<T, E>;

/// A tus upload as stored.
#[derive(Clone, Debug, FromRow)]
pub(super) struct TusUpload {
    pub id: TusUploadId,
    pub user_id: UserId,
    pub space_id: SpaceId,
    pub path: String,
    pub base_version: Option<VersionId>,
    pub device: Option<String>,
    pub length: i64,
    pub received: i64,
    pub metadata: String,
    /// Set once the last byte is in and the file is stored.
    pub node_id: Option<NodeId>,
    pub version_id: Option<VersionId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Where a socket upload's bytes go once they are all in.
#[derive(Clone, Debug, FromRow)]
pub(super) struct SocketTarget {
    pub space_id: SpaceId,
    pub path: String,
    pub base_version: Option<VersionId>,
    pub device: Option<String>,
}

#[derive(Clone)]
pub(super) struct UploadStore {
    db: Db,
}

impl UploadStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert_tus(&self, upload: &TusUpload) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO files.tus_uploads (id, user_id, space_id, path, base_version, device, \
             length, received, metadata, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&upload.id)
        .bind(&upload.user_id)
        .bind(&upload.space_id)
        .bind(&upload.path)
        .bind(&upload.base_version)
        .bind(&upload.device)
        .bind(upload.length)
        .bind(upload.received)
        .bind(&upload.metadata)
        .bind(upload.created_at)
        .bind(upload.expires_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn tus(&self, id: &TusUploadId) -> Result<Option<TusUpload>> {
        Ok(query_as::<TusUpload>(
            "SELECT id, user_id, space_id, path, base_version, device, length, received, \
                    metadata, node_id, version_id, created_at, expires_at \
             FROM files.tus_uploads WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.db)
        .await?)
    }

    /// Moves `received` from `from` to `to` (and the expiry to `expires_at`); false when
    /// another request (on this node or another) got there first.
    pub async fn advance_tus(
        &self,
        id: &TusUploadId,
        from: u64,
        to: u64,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let moved = query(
            "UPDATE files.tus_uploads SET received = $3, expires_at = $4 \
             WHERE id = $1 AND received = $2 AND node_id IS NULL",
        )
        .bind(id)
        .bind(from as i64)
        .bind(to as i64)
        .bind(expires_at)
        .execute(&self.db)
        .await?;
        Ok(moved == 1)
    }

    /// Records the stored file of a complete upload.
    pub async fn complete_tus(
        &self,
        id: &TusUploadId,
        node_id: &NodeId,
        version_id: &VersionId,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query("UPDATE files.tus_uploads SET node_id = $2, version_id = $3 WHERE id = $1")
            .bind(id)
            .bind(node_id)
            .bind(version_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    pub async fn delete_tus(&self, id: &TusUploadId) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let deleted = query("DELETE FROM files.tus_uploads WHERE id = $1")
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(deleted == 1)
    }

    /// The uploads abandoned (or finished) before `now`.
    pub async fn expired_tus(&self, now: DateTime<Utc>) -> Result<Vec<TusUploadId>> {
        let rows: Vec<(TusUploadId,)> =
            query_as("SELECT id FROM files.tus_uploads WHERE expires_at <= $1")
                .bind(now)
                .fetch_all(&self.db)
                .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    pub async fn insert_socket_target(
        &self,
        upload_id: &UploadId,
        target: &SocketTarget,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO files.socket_uploads (upload_id, space_id, path, base_version, device, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(upload_id)
        .bind(&target.space_id)
        .bind(&target.path)
        .bind(&target.base_version)
        .bind(&target.device)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn socket_target(&self, upload_id: &UploadId) -> Result<Option<SocketTarget>> {
        Ok(query_as::<SocketTarget>(
            "SELECT space_id, path, base_version, device FROM files.socket_uploads \
             WHERE upload_id = $1",
        )
        .bind(upload_id)
        .fetch_optional(&self.db)
        .await?)
    }

    pub async fn delete_socket_target(&self, upload_id: &UploadId) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query("DELETE FROM files.socket_uploads WHERE upload_id = $1")
            .bind(upload_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Forgets the targets of socket uploads opened before `before` (media expires the
    /// uploads themselves long before).
    pub async fn forget_socket_targets(&self, before: DateTime<Utc>) -> Result<u64> {
        let _turn = self.db.write_turn().await;
        Ok(
            query("DELETE FROM files.socket_uploads WHERE created_at < $1")
                .bind(before)
                .execute(&self.db)
                .await?,
        )
    }
}
