//! Looking after the database: its size on disk, the migrations applied, and the upkeep an
//! admin can run from the panel (WAL checkpoint, `VACUUM`, `ANALYZE`).

use std::path::Path;

use chrono::{DateTime, Utc};

use super::{query, query_as, query_scalar, Db};

/// An upkeep task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upkeep {
    /// Write SQLite's WAL back into the database files and truncate it (PostgreSQL:
    /// `CHECKPOINT`, which needs superuser or `pg_checkpoint`).
    Checkpoint,
    /// Rebuild the files to drop free pages (PostgreSQL: plain `VACUUM`, which does not lock
    /// tables).
    Vacuum,
    /// Refresh the query planner's statistics.
    Analyze,
}

impl Upkeep {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "checkpoint" => Some(Upkeep::Checkpoint),
            "vacuum" => Some(Upkeep::Vacuum),
            "analyze" => Some(Upkeep::Analyze),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Upkeep::Checkpoint => "WAL checkpoint",
            Upkeep::Vacuum => "VACUUM",
            Upkeep::Analyze => "ANALYZE",
        }
    }
}

/// One applied migration.
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    pub installed_on: DateTime<Utc>,
}

impl Db {
    /// Bytes of the database and of SQLite's write-ahead logs. SQLite: the sizes of the
    /// database files under `data_dir` (`taina.db` and one per context) and their `-wal`
    /// files; PostgreSQL: `pg_database_size` (its WAL is the cluster's, not ours: 0). Errors
    /// read as zero: this feeds a dashboard, not a decision.
    pub async fn storage_bytes(&self, data_dir: &Path) -> (u64, u64) {
        match self {
            Db::Sqlite(..) => sqlite_file_sizes(data_dir),
            Db::Postgres(..) => {
                let size: Option<i64> = query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_optional(self)
                    .await
                    .ok()
                    .flatten();
                (size.unwrap_or(0).max(0) as u64, 0)
            }
        }
    }

    /// Runs one upkeep task on every database (SQLite: the main one and each context's).
    pub async fn upkeep(&self, task: Upkeep) -> Result<(), sqlx::Error> {
        match (self, task) {
            (Db::Sqlite(..), Upkeep::Checkpoint) => {
                for schema in std::iter::once("main").chain(super::CONTEXT_SCHEMAS.iter().copied())
                {
                    query(sqlx::AssertSqlSafe(format!(
                        "PRAGMA {schema}.wal_checkpoint(TRUNCATE)"
                    )))
                    .execute(self)
                    .await?;
                }
            }
            (Db::Sqlite(..), Upkeep::Vacuum) => {
                for schema in std::iter::once("main").chain(super::CONTEXT_SCHEMAS.iter().copied())
                {
                    query(sqlx::AssertSqlSafe(format!("VACUUM {schema}")))
                        .execute(self)
                        .await?;
                }
            }
            (Db::Sqlite(..), Upkeep::Analyze) | (Db::Postgres(..), Upkeep::Analyze) => {
                query("ANALYZE").execute(self).await?;
            }
            (Db::Postgres(..), Upkeep::Checkpoint) => {
                query("CHECKPOINT").execute(self).await?;
            }
            (Db::Postgres(..), Upkeep::Vacuum) => {
                query("VACUUM").execute(self).await?;
            }
        }
        Ok(())
    }

    /// The migrations applied, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, sqlx::Error> {
        let rows: Vec<(i64, String, DateTime<Utc>)> = query_as(
            "SELECT version, description, installed_on FROM _sqlx_migrations \
             WHERE success ORDER BY version",
        )
        .fetch_all(self)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(version, description, installed_on)| AppliedMigration {
                version,
                description,
                installed_on,
            })
            .collect())
    }
}

fn sqlite_file_sizes(data_dir: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return (0, 0);
    };
    let (mut database, mut wal) = (0, 0);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let size = entry.metadata().map_or(0, |m| m.len());
        if name.ends_with(".db") {
            database += size;
        } else if name.ends_with(".db-wal") {
            wal += size;
        }
    }
    (database, wal)
}
