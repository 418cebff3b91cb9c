//! The database handle: one pool, SQLite (embedded default) or PostgreSQL, chosen once at start-up.
//!
//! Stores keep one dialect-neutral SQL string (`$1` bind parameters work on both) and run it through
//! [`db_run!`], which expands the body once per backend. Migrations live in `migrations/sqlite` and
//! `migrations/postgres` at the workspace root, with the same numbers in both trees.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::config::Config;

/// Name of the SQLite database file inside the data directory.
pub const SQLITE_FILE: &str = "taina.db";

/// Context schemas in use. PostgreSQL has them as schemas (migration 0001); SQLite attaches
/// one database file per schema (`data/<schema>.db`) to every connection, so the same
/// `schema.table` SQL runs on both.
pub const CONTEXT_SCHEMAS: &[&str] = &["chat", "media"];

/// A cheap, clonable handle to the pool (both pool types are `Arc`s inside).
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of whichever backend is active.
/// The body is compiled once per backend, so it must only use SQL both dialects accept.
#[macro_export]
macro_rules! db_run {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Opens the configured database: PostgreSQL when `database_url` is set, else SQLite (WAL)
    /// at `data_dir/taina.db`, created if missing.
    pub async fn connect(config: &Config) -> Result<Self, DbError> {
        let acquire = Duration::from_secs(config.database.acquire_timeout_seconds);
        match config.postgres_url() {
            Some(url) => {
                let options = PgConnectOptions::from_str(url).map_err(DbError::Connect)?;
                let pool = PgPoolOptions::new()
                    .max_connections(config.database.max_connections)
                    .acquire_timeout(acquire)
                    .connect_with(options)
                    .await
                    .map_err(DbError::Connect)?;
                Ok(Db::Postgres(pool))
            }
            None => Self::connect_sqlite(&config.data_dir.join(SQLITE_FILE), config, acquire).await,
        }
    }

    async fn connect_sqlite(
        path: &Path,
        config: &Config,
        acquire: Duration,
    ) -> Result<Self, DbError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode; only an OS crash can
            // lose the last transactions, which is the usual trade-off for a Pi's SD card.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let data_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let attach: Vec<String> = CONTEXT_SCHEMAS
            .iter()
            .map(|schema| {
                let file = data_dir
                    .join(format!("{schema}.db"))
                    .display()
                    .to_string()
                    .replace('\'', "''");
                format!(
                    "ATTACH DATABASE '{file}' AS {schema}; PRAGMA {schema}.journal_mode = WAL; \
                     PRAGMA {schema}.synchronous = NORMAL;"
                )
            })
            .collect();
        let attach = std::sync::Arc::new(attach.join(" "));
        let pool = SqlitePoolOptions::new()
            .after_connect(move |conn, _meta| {
                let attach = attach.clone();
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute(sqlx::AssertSqlSafe(attach.as_str())).await?;
                    Ok(())
                })
            })
            .max_connections(config.database.max_connections)
            .acquire_timeout(acquire)
            .connect_with(options)
            .await
            .map_err(DbError::Connect)?;
        Ok(Db::Sqlite(pool))
    }

    /// Applies every migration not yet applied. Safe to run on every start.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Db::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// True while the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        let probe =
            async { db_run!(self, pool => sqlx::query("SELECT 1").execute(pool).await.is_ok()) };
        tokio::time::timeout(Duration::from_secs(2), probe)
            .await
            .unwrap_or(false)
    }

    /// Closes the pool, waiting for checked-out connections to come back.
    pub async fn close(&self) {
        db_run!(self, pool => pool.close().await)
    }

    /// `"sqlite"` or `"postgres"`, for logs and `/readyz`.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
}

/// True when the error is a unique-constraint violation (either backend).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}
