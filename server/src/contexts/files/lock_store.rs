//! The SQL of locks (`files.locks`), next to [`super::locks`], which decides who may lock.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::db::{query, query_as, Db};
use crate::ids::{NodeId, UserId};

use super::{FilesError, Lock, LockKind};

type Result<T, E = FilesError> = std::result::Result<T, E>;

const LOCK_COLUMNS: &str = "token, node_id, user_id, kind, note, deep, expires_at, created_at";

#[derive(FromRow)]
struct LockRow {
    token: String,
    node_id: NodeId,
    user_id: UserId,
    kind: String,
    note: Option<String>,
    deep: i32,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl LockRow {
    fn into_lock(self) -> Lock {
        Lock {
            token: self.token,
            node_id: self.node_id,
            holder: self.user_id,
            kind: LockKind::parse(&self.kind),
            note: self.note,
            deep: self.deep != 0,
            expires_at: self.expires_at,
            created_at: self.created_at,
        }
    }
}

#[derive(Clone)]
pub(super) struct LockStore {
    db: Db,
}

impl LockStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Unexpired locks on any of `nodes`, oldest first.
    pub async fn on(&self, nodes: &[NodeId], now: DateTime<Utc>) -> Result<Vec<Lock>> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..nodes.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT {LOCK_COLUMNS} FROM files.locks WHERE expires_at > $1 AND node_id IN ({}) \
             ORDER BY created_at, token",
            marks.join(", ")
        );
        let mut select = query_as::<LockRow>(sqlx::AssertSqlSafe(sql)).bind(now);
        for node in nodes {
            select = select.bind(node);
        }
        let rows = select.fetch_all(&self.db).await?;
        Ok(rows.into_iter().map(LockRow::into_lock).collect())
    }

    pub async fn insert(&self, lock: &Lock) -> Result<()> {
        let _turn = self.db.write_turn().await;
        // Expired locks go with any new one: nothing else needs to sweep them.
        query("DELETE FROM files.locks WHERE expires_at <= $1")
            .bind(lock.created_at)
            .execute(&self.db)
            .await?;
        query(
            "INSERT INTO files.locks (token, node_id, user_id, kind, note, deep, expires_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&lock.token)
        .bind(&lock.node_id)
        .bind(&lock.holder)
        .bind(lock.kind.as_str())
        .bind(&lock.note)
        .bind(i32::from(lock.deep))
        .bind(lock.expires_at)
        .bind(lock.created_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Moves a lock's expiry; `false` when there is no such lock.
    pub async fn extend(&self, token: &str, expires_at: DateTime<Utc>) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let updated = query("UPDATE files.locks SET expires_at = $2 WHERE token = $1")
            .bind(token)
            .bind(expires_at)
            .execute(&self.db)
            .await?;
        Ok(updated == 1)
    }

    /// Removes a lock by its token; `false` when there was none.
    pub async fn delete(&self, token: &str) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let deleted = query("DELETE FROM files.locks WHERE token = $1")
            .bind(token)
            .execute(&self.db)
            .await?;
        Ok(deleted == 1)
    }
}
