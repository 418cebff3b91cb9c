//! The database handle: one pool, SQLite (embedded default) or PostgreSQL, chosen once at start-up;
//! on SQLite also the write turn and the connection it keeps for the message writer.
//!
//! Stores keep one dialect-neutral SQL string (`$1` bind parameters work on both) and run it with
//! [`query`], [`query_as`] or [`query_scalar`] on a [`Db`] or a [`Tx`]; the backend is chosen
//! when the statement runs. Migrations live in `migrations/sqlite` and `migrations/postgres` at
//! the workspace root, with the same numbers in both trees.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{PgPool, SqlitePool};

use crate::config::Config;

mod query;
#[cfg(test)]
pub(crate) mod testing;
pub mod to_postgres;
mod upkeep;

pub use query::{query, query_as, query_scalar, Query, QueryAs, QueryScalar, Target, Tx};
pub use upkeep::{AppliedMigration, Upkeep};

/// The migrations of each backend, embedded in the binary.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Name of the SQLite database file inside the data directory.
pub const SQLITE_FILE: &str = "taina.db";

/// Context schemas in use. PostgreSQL has them as schemas (migration 0001); SQLite attaches
/// one database file per schema (`data/<schema>.db`) to every connection, so the same
/// `schema.table` SQL runs on both.
pub const CONTEXT_SCHEMAS: &[&str] = &[
    "chat",
    "media",
    "monitoring",
    "files",
    "streaming",
    "automation",
];

/// A `LIKE … ESCAPE '\'` pattern matching any text that contains `needle` (its `%`, `_` and
/// `\` taken literally).
pub fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A cheap, clonable handle to the pool (both pool types are `Arc`s inside).
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool, WriteQueue, QueryTimes),
    Postgres(PgPool, QueryTimes),
}

/// How long statements take, pooled or in a transaction: the histogram behind
/// `taina_db_query_duration_seconds` (0.1 ms to about 3 s).
#[derive(Clone, Debug)]
pub struct QueryTimes(prometheus_client::metrics::histogram::Histogram);

impl Default for QueryTimes {
    fn default() -> Self {
        Self(prometheus_client::metrics::histogram::Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 15),
        ))
    }
}

impl QueryTimes {
    pub fn observe(&self, took: Duration) {
        self.0.observe(took.as_secs_f64());
    }

    /// The histogram, for the metrics registry.
    pub fn histogram(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.0.clone()
    }
}

/// SQLite lets one connection write at a time, and a connection that finds the write lock
/// taken sleeps in SQLite's busy handler (1, 2, 5, 10, 15, 20, 25 ms… between tries), which
/// put tens of milliseconds on busy chat sends. Hot write paths queue here, in process, so
/// the next writer starts the moment the previous one commits.
///
/// The turn also holds a connection of its own for the busiest writer, chat's group commit
/// ([`Db::begin_in_turn`]): SQLite drops a connection's page cache whenever another
/// connection wrote since its last transaction, so batches landing on whichever pooled
/// connection was free re-read their pages from the file each time.
#[derive(Clone, Debug, Default)]
pub struct WriteQueue(std::sync::Arc<tokio::sync::Mutex<Writer>>);

impl WriteQueue {
    /// A queue whose writer connection is opened (on first use) with `options`, then
    /// `attach` run on it (the context schemas, as on every pooled connection).
    pub(crate) fn with_writer(
        options: SqliteConnectOptions,
        attach: std::sync::Arc<String>,
    ) -> Self {
        Self(std::sync::Arc::new(tokio::sync::Mutex::new(Writer {
            open: Some((options, attach)),
            connection: None,
        })))
    }
}

/// What the write turn holds: how to open the writer's connection, and the connection once
/// open.
#[derive(Debug, Default)]
pub struct Writer {
    open: Option<(SqliteConnectOptions, std::sync::Arc<String>)>,
    connection: Option<SqliteConnection>,
}

impl Writer {
    /// The writer's connection, opened if it is not (`None` without one to open).
    async fn connection(&mut self) -> Result<Option<&mut SqliteConnection>, sqlx::Error> {
        let Some((options, attach)) = &self.open else {
            return Ok(None);
        };
        if self.connection.is_none() {
            use sqlx::{ConnectOptions, Executor};
            let mut connection = options.connect().await?;
            connection
                .execute(sqlx::AssertSqlSafe(attach.as_str()))
                .await?;
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut())
    }
}

/// A turn to write; the next writer goes when it is dropped.
pub type WriteTurn<'a> = Option<tokio::sync::MutexGuard<'a, Writer>>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Each SQLite connection's page cache per database file, in KiB: the configured budget shared
/// out among the pooled connections and the writer (at 10,000 joined sockets, 16 connections
/// at SQLite's default 2 MB were 3.3 KB of each socket's share of the server's memory;
/// docs/performance.md), at least 128 KiB.
fn page_cache_kib(config: &Config) -> u32 {
    let connections = config.database.max_connections.max(1) + 1;
    (config.database.sqlite_page_cache_mib.saturating_mul(1024) / connections).max(128)
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
                Ok(Db::Postgres(pool, QueryTimes::default()))
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
            // Checkpoints run in the background (`spawn_checkpointer`), not in whichever
            // writer happens to cross the threshold: that writer held everyone's write turn
            // while it copied pages and fsynced.
            .pragma("wal_autocheckpoint", "0")
            .pragma("cache_size", format!("-{}", page_cache_kib(config)))
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
                     PRAGMA {schema}.synchronous = NORMAL; PRAGMA {schema}.cache_size = -{};",
                    page_cache_kib(config)
                )
            })
            .collect();
        let attach = std::sync::Arc::new(attach.join(" "));
        let writer = WriteQueue::with_writer(options.clone(), attach.clone());
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
            // An embedded database's connections do not go stale; pinging each one before
            // every use cost a round trip to SQLite's worker thread per query.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(DbError::Connect)?;
        Ok(Db::Sqlite(pool, writer, QueryTimes::default()))
    }

    /// Applies every migration not yet applied. Safe to run on every start.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Db::Sqlite(pool, ..) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool, _) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Waits for this process's turn to write on SQLite (see [`WriteQueue`]); PostgreSQL
    /// takes concurrent writers as they come, so there it returns at once.
    pub async fn write_turn(&self) -> WriteTurn<'_> {
        match self {
            Db::Sqlite(_, queue, _) => Some(queue.0.lock().await),
            Db::Postgres(..) => None,
        }
    }

    /// Begins a transaction for a writer holding `turn`: on SQLite, on the write turn's own
    /// connection (opened on first use); on PostgreSQL, or once the database is closed, on
    /// the pool (which then refuses it).
    pub async fn begin_in_turn<'t>(
        &self,
        turn: &'t mut WriteTurn<'_>,
    ) -> Result<Tx<'t>, sqlx::Error> {
        if let (Db::Sqlite(_, _, times), Some(writer)) = (self, turn.as_deref_mut()) {
            if let Some(connection) = writer.connection().await? {
                let tx = sqlx::Connection::begin(connection).await?;
                return Ok(Tx::Sqlite(tx, times.clone()));
            }
        }
        self.begin().await
    }

    /// Drops the write turn's own connection after a failure: the next
    /// [`Db::begin_in_turn`] opens a fresh one rather than trusting one an I/O error may have
    /// left broken.
    pub fn reset_writer(turn: &mut WriteTurn<'_>) {
        if let Some(writer) = turn.as_deref_mut() {
            writer.connection = None;
        }
    }

    /// On SQLite, folds the write-ahead logs back into the database files every `every`. The
    /// bulk is copied passively while writers go on; then, holding the write turn so no
    /// writer is mid-statement, a second pass copies the remainder, which lets the next writer
    /// restart the log from its beginning instead of growing it. PostgreSQL checkpoints by
    /// itself.
    pub fn spawn_checkpointer(&self, every: Duration) {
        let Db::Sqlite(pool, ..) = self else { return };
        let (db, pool) = (self.clone(), pool.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if pool.is_closed() {
                    return;
                }
                // Without a schema name every attached database is checkpointed.
                let checkpoint = || sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool);
                let result = match checkpoint().await {
                    Ok(_) => {
                        let _turn = db.write_turn().await;
                        checkpoint().await
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        });
    }

    /// True while the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        let probe = async { query("SELECT 1").execute(self).await.is_ok() };
        tokio::time::timeout(Duration::from_secs(2), probe)
            .await
            .unwrap_or(false)
    }

    /// Closes the pool, waiting for checked-out connections to come back; on SQLite first
    /// waits for the write turn (a batch in it finishes) and closes the writer's connection,
    /// which no later turn reopens.
    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool, queue, _) => {
                let connection = {
                    let mut writer = queue.0.lock().await;
                    writer.open = None;
                    writer.connection.take()
                };
                if let Some(connection) = connection {
                    use sqlx::Connection;
                    if let Err(error) = connection.close().await {
                        tracing::warn!(%error, "closing the writer's connection failed");
                    }
                }
                pool.close().await
            }
            Db::Postgres(pool, _) => pool.close().await,
        }
    }

    /// Statement durations on this pool.
    pub fn query_times(&self) -> &QueryTimes {
        match self {
            Db::Sqlite(_, _, times) | Db::Postgres(_, times) => times,
        }
    }

    /// `"sqlite"` or `"postgres"`, for logs and `/readyz`.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(..) => "sqlite",
            Db::Postgres(..) => "postgres",
        }
    }
}

/// True when the error is a unique-constraint violation (either backend).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// True when the statement broke a constraint (unique, foreign key, not null, check): SQLite
/// takes back that statement alone and the transaction goes on.
pub fn is_constraint_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| !matches!(e.kind(), sqlx::error::ErrorKind::Other))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_page_cache_budget_is_shared_out_on_every_database_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            database_url: None,
            ..Config::default()
        };
        config.database.max_connections = 3;
        config.database.sqlite_page_cache_mib = 1;
        let db = Db::connect(&config).await.expect("SQLite");
        let Db::Sqlite(pool, ..) = &db else {
            panic!("SQLite expected")
        };
        // 1 MiB among 3 pooled connections and the writer.
        for schema in std::iter::once("main").chain(CONTEXT_SCHEMAS.iter().copied()) {
            let kib: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("PRAGMA {schema}.cache_size")))
                    .fetch_one(pool)
                    .await
                    .expect("cache_size");
            assert_eq!(kib, -256, "{schema}");
        }
        config.database.max_connections = 64;
        assert_eq!(page_cache_kib(&config), 128, "never under 128 KiB");
    }

    /// Writers going on all the while, the log is still restarted: without checkpoints it
    /// would hold a frame per commit at least. (Passes outside the write turn alone do not do
    /// it: a writer whose transaction began before a pass caught up appends to the log, and
    /// back-to-back writers always have one.)
    #[tokio::test]
    async fn the_checkpointer_keeps_restarting_a_log_written_to_all_the_time() {
        const COMMITS: i64 = 1_500;
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            database_url: None,
            ..Config::default()
        };
        let db = Db::connect(&config).await.expect("SQLite");
        let Db::Sqlite(pool, ..) = &db else {
            panic!("SQLite expected")
        };
        sqlx::query("CREATE TABLE chat.notes (n INTEGER)")
            .execute(pool)
            .await
            .expect("table");
        db.spawn_checkpointer(Duration::from_millis(5));
        for n in 0..COMMITS {
            let _turn = db.write_turn().await;
            sqlx::query("INSERT INTO chat.notes VALUES ($1)")
                .bind(n)
                .execute(pool)
                .await
                .expect("insert");
        }
        let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA chat.wal_checkpoint(PASSIVE)")
            .fetch_one(pool)
            .await
            .expect("checkpoint");
        assert!(frames < COMMITS, "{frames} frames after {COMMITS} commits");
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM chat.notes")
            .fetch_one(pool)
            .await
            .expect("count");
        assert_eq!(count, COMMITS);
        db.close().await;
    }
}
