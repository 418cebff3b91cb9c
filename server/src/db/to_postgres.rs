//! Moving a community from SQLite to PostgreSQL (`taina migrate-to-postgres`): every row of
//! the SQLite files in `data_dir` copied into an empty PostgreSQL database, in one transaction.
//!
//! The order of the work, and why:
//! 1. The source: `taina.db` and one file per context schema, opened read-only, each read in
//!    one read transaction (a consistent snapshot per file; the server should be stopped, so
//!    the files do not move under us at all). Its migration ledger must equal this binary's
//!    SQLite migrations: a data directory that is behind is refused with "run `taina migrate`
//!    first" rather than upgraded here, so this command never writes to the source.
//! 2. The target: refused if any of our tables there holds a row (never merged, never
//!    overwritten), then migrated with [`Db::migrate`] (what `taina migrate` runs).
//! 3. The copy, in one transaction: tables in foreign-key order read from the target's catalog
//!    (parents first), one `COPY … FROM STDIN` per table, each value converted by the target
//!    column's type (SQLite's 0/1 → boolean, RFC 3339 text → timestamptz, JSON text → jsonb,
//!    blobs → bytea, …). Foreign keys are not deferrable, but PostgreSQL checks them at the
//!    end of each statement, so a table that refers to itself (a folder tree) copies in any
//!    row order within its one `COPY`. Not copied: what PostgreSQL computes itself (generated
//!    columns such as the messages' `search_vector`), SQLite's full-text index (a virtual
//!    table and its shadow tables) and the migration ledger.
//! 4. Serial sequences set past the highest id (and past SQLite's AUTOINCREMENT counter, so a
//!    deleted id is not handed out again), every table's rows counted on both sides, and only
//!    then the commit. A failure anywhere rolls back: the target keeps no row (only the
//!    migrations' tables), so the command can simply run again.
//!
//! Blobs (photos, files, renditions) are not in the database: they stay in `data_dir`, which
//! the server keeps using after the move, with its `jwt.secret`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use futures_util::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection, TypeInfo, ValueRef};

use super::{Db, CONTEXT_SCHEMAS, POSTGRES_MIGRATIONS, SQLITE_FILE, SQLITE_MIGRATIONS};
use crate::config::Config;

/// Why the move did not happen (nothing was committed), said in one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MoveError(String);

impl MoveError {
    /// A precondition not met, said with what to do.
    pub fn refused(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A database error with what we were doing, and PostgreSQL's detail and position when it
/// gives them (which key is missing, which line of a `COPY`), with what to do for the
/// failures an operator can fix.
fn failed(doing: impl Display, error: sqlx::Error) -> MoveError {
    let Some(pg) = error
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
    else {
        return MoveError(format!("{doing}: {error}"));
    };
    // Not sqlx's Display, which adds the line of PostgreSQL's C source that raised it.
    let mut line = format!("{doing}: {}", pg.message());
    if let Some(detail) = pg.detail() {
        line.push_str(&format!(" ({})", detail.trim_end_matches('.')));
    }
    if let Some(place) = pg.r#where() {
        line.push_str(&format!(" [{}]", place.replace('\n', "; ")));
    }
    match pg.code() {
        // invalid_catalog_name: the database named in the URL does not exist.
        "3D000" => line.push_str(" — create it first (createdb, or CREATE DATABASE)"),
        // foreign_key_violation: SQLite checks references only within one file.
        "23503" => line.push_str(
            " — SQLite does not check references between its files, so a row there points at \
             one that is gone: remove or fix that row in SQLite (server stopped), then run this \
             again",
        ),
        _ => {}
    }
    MoveError(line)
}

/// One table copied.
#[derive(Clone, Debug)]
pub struct TableCopied {
    /// `schema.table` on PostgreSQL (`public.users`, `chat.messages`).
    pub name: String,
    pub rows: u64,
    pub seconds: f64,
}

/// What the move did.
#[derive(Debug)]
pub struct Moved {
    /// The absolute data directory read.
    pub data_dir: PathBuf,
    /// The newest migration, the same on both sides.
    pub migration: i64,
    pub tables: Vec<TableCopied>,
    /// `schema.table.column` of each serial column, and the next value it hands out.
    pub sequences: Vec<(String, i64)>,
    /// SQLite tables left out (its full-text index), by name.
    pub skipped: Vec<String>,
    pub seconds: f64,
}

impl Moved {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// How a target column's values are written, from its PostgreSQL type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Boolean,
    Integer,
    Float,
    Bytes,
    Timestamp,
    Json,
    Text,
}

impl Kind {
    fn of(type_name: &str) -> Self {
        match type_name {
            "bool" => Kind::Boolean,
            "int2" | "int4" | "int8" => Kind::Integer,
            "float4" | "float8" | "numeric" => Kind::Float,
            "bytea" => Kind::Bytes,
            "timestamptz" | "timestamp" | "date" | "time" | "timetz" => Kind::Timestamp,
            "json" | "jsonb" => Kind::Json,
            _ => Kind::Text,
        }
    }
}

/// One SQLite value as stored (SQLite keeps a storage class per value, not per column).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cell<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// One table to copy: where it is in SQLite, where it goes, and its columns.
#[derive(Debug)]
struct Table {
    /// Index into the source files (0: `taina.db`).
    file: usize,
    /// The table's name in its SQLite file (and on PostgreSQL, in its schema).
    name: String,
    /// `schema.table` on PostgreSQL.
    qualified: String,
    /// The source's columns (SQLite's generated columns left out).
    source_columns: Vec<String>,
    /// The columns copied, with their target kinds, in the target's order (PostgreSQL's
    /// generated columns left out).
    columns: Vec<(String, Kind)>,
    /// Rows in the source snapshot.
    source_rows: i64,
}

/// A SQLite file of the data directory, opened read-only inside one read transaction.
struct SourceFile {
    /// `main` for `taina.db`, else the context schema (and the file `<schema>.db`).
    schema: &'static str,
    path: PathBuf,
    conn: SqliteConnection,
}

impl SourceFile {
    /// The PostgreSQL schema its tables go to.
    fn target_schema(&self) -> &'static str {
        if self.schema == "main" {
            "public"
        } else {
            self.schema
        }
    }
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn quote_qualified(qualified: &str) -> String {
    let (schema, table) = qualified.split_once('.').unwrap_or(("public", qualified));
    format!("{}.{}", quote(schema), quote(table))
}

/// Checks the target URL: a PostgreSQL one, parseable.
pub fn check_target_url(url: &str) -> Result<(), MoveError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(MoveError::refused(
            "--to must be a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE)",
        ));
    }
    PgConnectOptions::from_str(url)
        .map(|_| ())
        .map_err(|e| MoveError(format!("--to is not a usable PostgreSQL URL: {e}")))
}

/// Copies the SQLite database in `config.data_dir` into the PostgreSQL database at
/// `target_url`; `on_table` hears of each table as it is copied (inside the transaction:
/// nothing is committed until every count matched).
pub async fn move_to_postgres(
    config: &Config,
    target_url: &str,
    mut on_table: impl FnMut(&TableCopied),
) -> Result<Moved, MoveError> {
    let started = Instant::now();
    check_target_url(target_url)?;
    let data_dir = std::path::absolute(&config.data_dir).unwrap_or(config.data_dir.clone());
    let mut files = open_source(&data_dir).await?;
    let migration = check_source_migrations(&mut files[0]).await?;
    let (mut tables, skipped) = source_tables(&mut files).await?;

    // The target: refused while any of our tables holds a row, then migrated.
    let mut target_config = config.clone();
    target_config.database_url = Some(target_url.to_string());
    let shown = target_config
        .redacted()
        .database_url
        .unwrap_or_default()
        .to_string();
    // One connection of our own first: its error says why (a refused connection, a missing
    // database), where a pool would only time out.
    let options = PgConnectOptions::from_str(target_url)
        .map_err(|e| failed("--to", e))?
        .disable_statement_logging();
    let mut probe = PgConnection::connect_with(&options)
        .await
        .map_err(|e| failed(format!("cannot open PostgreSQL at {shown}"), e))?;
    refuse_unless_empty(&mut probe, &tables).await?;
    let _ = probe.close().await;
    let db = Db::connect(&target_config).await.map_err(|e| match e {
        super::DbError::Connect(e) => failed(format!("cannot open PostgreSQL at {shown}"), e),
        other => MoveError(format!("PostgreSQL at {shown}: {other}")),
    })?;
    let Db::Postgres(pool, _) = &db else {
        unreachable!("database_url is a postgres:// URL")
    };
    let result = async {
        db.migrate()
            .await
            .map_err(|e| MoveError(format!("PostgreSQL at {shown}: {e}")))?;
        let mut tx = pool
            .begin()
            .await
            .map_err(|e| failed("cannot begin the copy", e))?;
        let order = plan(&mut tx, &mut tables).await?;
        for statement in [
            "SET LOCAL TimeZone = 'UTC'",
            "SET LOCAL statement_timeout = 0",
            "SET LOCAL lock_timeout = '30s'",
        ] {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(|e| failed(statement, e))?;
        }
        // Writers wait until the commit; then the emptiness check again, under the lock.
        let all: Vec<String> = tables
            .iter()
            .map(|t| quote_qualified(&t.qualified))
            .collect();
        let lock = format!("LOCK TABLE {} IN EXCLUSIVE MODE", all.join(", "));
        sqlx::query(sqlx::AssertSqlSafe(lock))
            .execute(&mut *tx)
            .await
            .map_err(|e| failed("cannot lock the target's tables", e))?;
        refuse_unless_empty(&mut tx, &tables).await?;

        let mut copied = Vec::with_capacity(order.len());
        for &index in &order {
            let table = &tables[index];
            let began = Instant::now();
            let rows = copy_table(&mut files[table.file].conn, &mut tx, table).await?;
            let done = TableCopied {
                name: table.qualified.clone(),
                rows,
                seconds: began.elapsed().as_secs_f64(),
            };
            on_table(&done);
            copied.push(done);
        }
        verify_counts(&mut tx, &tables, &copied).await?;
        let sequences = set_sequences(&mut tx, &mut files, &tables).await?;
        tx.commit()
            .await
            .map_err(|e| failed("cannot commit the copy", e))?;
        // Fresh planner statistics for what was just loaded (search plans depend on them:
        // docs/performance.md). Not worth failing a committed move over.
        if let Err(e) = analyze(&options).await {
            tracing::warn!(error = %e, "ANALYZE after the copy failed; autovacuum will do it");
        }
        Ok::<_, MoveError>((copied, sequences))
    }
    .await;
    db.close().await;
    for file in files {
        let _ = file.conn.close().await;
    }
    let (tables, sequences) = result?;
    Ok(Moved {
        data_dir,
        migration,
        tables,
        sequences,
        skipped,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `ANALYZE` on a connection of its own (`options` log no "slow statement" warning).
async fn analyze(options: &PgConnectOptions) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect_with(options).await?;
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    conn.close().await
}

/// Opens `taina.db` and each context's file read-only, each in a read transaction.
async fn open_source(data_dir: &Path) -> Result<Vec<SourceFile>, MoveError> {
    let main = data_dir.join(SQLITE_FILE);
    if !main.is_file() {
        return Err(MoveError(format!(
            "no SQLite database at {}: set data_dir (TAINA_DATA_DIR) to the data directory to copy",
            main.display()
        )));
    }
    let mut files = Vec::new();
    for schema in std::iter::once("main").chain(CONTEXT_SCHEMAS.iter().copied()) {
        let path = if schema == "main" {
            main.clone()
        } else {
            data_dir.join(format!("{schema}.db"))
        };
        if !path.is_file() {
            return Err(MoveError(format!(
                "{} is missing: start this taina once on the data directory (or run `taina \
                 migrate`) so that every database file exists",
                path.display()
            )));
        }
        // Reading a whole table is slow by design: no "slow statement" warnings.
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .read_only(true)
            .disable_statement_logging();
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| failed(format!("cannot open {}", path.display()), e))?;
        // The snapshot starts with the first read; every table of this file is read in it.
        for statement in ["BEGIN", "SELECT count(*) FROM sqlite_schema"] {
            sqlx::query(statement)
                .execute(&mut conn)
                .await
                .map_err(|e| failed(format!("cannot read {}", path.display()), e))?;
        }
        files.push(SourceFile { schema, path, conn });
    }
    Ok(files)
}

/// The source's migration ledger must be this binary's SQLite migrations, all applied.
async fn check_source_migrations(main: &mut SourceFile) -> Result<i64, MoveError> {
    let applied: Vec<(i64, bool, Vec<u8>)> =
        sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut main.conn)
            .await
            .map_err(|e| {
                failed(
                    format!(
                        "{} has no migration ledger (not a Tainá database?)",
                        main.path.display()
                    ),
                    e,
                )
            })?;
    let known: BTreeMap<i64, &[u8]> = SQLITE_MIGRATIONS
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| (m.version, m.checksum.as_ref()))
        .collect();
    let newest_known = known.keys().max().copied().unwrap_or(0);
    for (version, success, checksum) in &applied {
        match known.get(version) {
            None => {
                return Err(MoveError(format!(
                    "the SQLite data has migration {version}, which this taina does not know (its \
                     newest is {newest_known}): run the migration with the taina that made the \
                     data, or a newer one"
                )))
            }
            Some(_) if !success => {
                return Err(MoveError(format!(
                    "migration {version} failed on the SQLite data: start taina on it (or run \
                     `taina migrate`) and fix that first"
                )))
            }
            Some(expected) if *expected != checksum.as_slice() => {
                return Err(MoveError(format!(
                    "migration {version} of the SQLite data differs from this taina's (checksum)"
                )))
            }
            Some(_) => {}
        }
    }
    let done: BTreeSet<i64> = applied.iter().map(|(v, ..)| *v).collect();
    if let Some(missing) = known.keys().find(|v| !done.contains(v)) {
        let newest = done.last().copied().unwrap_or(0);
        return Err(MoveError(format!(
            "the SQLite data is at migration {newest} and lacks {missing}; this taina's go to \
             {newest_known}: run `taina migrate` on it first (server stopped, after `taina \
             backup create`), then this command again"
        )));
    }
    // The PostgreSQL tree has the same numbers (migrations/README.md): the same schema.
    let postgres_newest = POSTGRES_MIGRATIONS.iter().map(|m| m.version).max();
    debug_assert_eq!(postgres_newest, Some(newest_known));
    Ok(newest_known)
}

/// The tables to copy from every file, and the names of those left out on purpose.
async fn source_tables(files: &mut [SourceFile]) -> Result<(Vec<Table>, Vec<String>), MoveError> {
    let mut tables = Vec::new();
    let mut skipped = Vec::new();
    for (index, file) in files.iter_mut().enumerate() {
        let listed: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, type FROM pragma_table_list WHERE schema = 'main' ORDER BY name",
        )
        .fetch_all(&mut file.conn)
        .await
        .map_err(|e| {
            failed(
                format!("cannot list the tables of {}", file.path.display()),
                e,
            )
        })?;
        let target_schema = file.target_schema();
        for (name, kind) in listed {
            let qualified = format!("{target_schema}.{name}");
            if name.starts_with("sqlite_") || name == "_sqlx_migrations" || kind == "view" {
                continue;
            }
            // A full-text index (`virtual`) and the tables it keeps itself (`shadow`):
            // PostgreSQL's search column is generated from the rows instead.
            if kind != "table" {
                skipped.push(qualified);
                continue;
            }
            let sql = format!("SELECT count(*) FROM {}", quote(&name));
            let source_rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut file.conn)
                .await
                .map_err(|e| failed(format!("cannot count {qualified} in SQLite"), e))?;
            // hidden = 0: ordinary columns (SQLite's generated columns are 2 or 3).
            let source_columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_table_xinfo($1) WHERE hidden = 0")
                    .bind(&name)
                    .fetch_all(&mut file.conn)
                    .await
                    .map_err(|e| failed(format!("cannot read the columns of {qualified}"), e))?;
            tables.push(Table {
                file: index,
                name,
                qualified,
                source_columns,
                columns: Vec::new(),
                source_rows,
            });
        }
    }
    Ok((tables, skipped))
}

/// Names of our tables on the target that hold at least one row.
async fn refuse_unless_empty(conn: &mut PgConnection, tables: &[Table]) -> Result<(), MoveError> {
    let mut holding = Vec::new();
    for table in tables {
        let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(quote_qualified(&table.qualified))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| failed("cannot read the target's catalog", e))?;
        if exists.is_none() {
            continue;
        }
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {})",
            quote_qualified(&table.qualified)
        );
        let any: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| failed(format!("cannot read {} on the target", table.qualified), e))?;
        if any {
            holding.push(table.qualified.clone());
        }
    }
    if holding.is_empty() {
        return Ok(());
    }
    Err(MoveError(format!(
        "the PostgreSQL database already holds data in {}: this command copies into an empty \
         database only (it never merges or overwrites); create a new database (createdb) and \
         pass its URL",
        holding.join(", ")
    )))
}

/// Reads each table's columns from the target's catalog, matches them with the source's,
/// and returns the copy order (indexes into `tables`): every table after the tables its
/// foreign keys point at.
async fn plan(conn: &mut PgConnection, tables: &mut [Table]) -> Result<Vec<usize>, MoveError> {
    let schemas: Vec<String> = std::iter::once("public")
        .chain(CONTEXT_SCHEMAS.iter().copied())
        .map(str::to_string)
        .collect();
    let catalog = |e| failed("cannot read the target's catalog", e);

    // Every table of the context schemas is ours: one the source lacks means the two
    // migration trees disagree, and its rows would be missing after the move.
    let target_tables: Vec<String> = sqlx::query_scalar(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1) AND c.relname <> '_sqlx_migrations'",
    )
    .bind(&schemas[1..])
    .fetch_all(&mut *conn)
    .await
    .map_err(catalog)?;
    let source_names: BTreeSet<&str> = tables.iter().map(|t| t.qualified.as_str()).collect();
    let unmatched: Vec<&str> = target_tables
        .iter()
        .map(String::as_str)
        .filter(|name| !source_names.contains(name))
        .collect();
    if !unmatched.is_empty() {
        return Err(MoveError(format!(
            "PostgreSQL has {} after its migrations, and the SQLite data has no such table: the \
             two migration trees disagree",
            unmatched.join(", ")
        )));
    }

    for table in tables.iter_mut() {
        let target: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT a.attname::text, t.typname::text, a.attgenerated::text \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        )
        .bind(quote_qualified(&table.qualified))
        .fetch_all(&mut *conn)
        .await
        .map_err(catalog)?;
        if target.is_empty() {
            return Err(MoveError(format!(
                "{} is in the SQLite data but not in PostgreSQL after its migrations: the two \
                 migration trees disagree",
                table.qualified
            )));
        }
        let copied: BTreeSet<&str> = target
            .iter()
            .filter(|(_, _, generated)| generated.is_empty())
            .map(|(name, ..)| name.as_str())
            .collect();
        let source: BTreeSet<&str> = table.source_columns.iter().map(String::as_str).collect();
        if copied != source {
            let only_sqlite: Vec<&str> = source.difference(&copied).copied().collect();
            let only_postgres: Vec<&str> = copied.difference(&source).copied().collect();
            return Err(MoveError(format!(
                "{}: the columns differ (only in SQLite: {}; only in PostgreSQL: {}): the two \
                 migration trees disagree",
                table.qualified,
                list_or_none(&only_sqlite),
                list_or_none(&only_postgres)
            )));
        }
        table.columns = target
            .into_iter()
            .filter(|(_, _, generated)| generated.is_empty())
            .map(|(name, type_name, _)| (name, Kind::of(&type_name)))
            .collect();
    }

    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT cn.nspname || '.' || c.relname, pn.nspname || '.' || p.relname \
         FROM pg_constraint k \
         JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace \
         JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace \
         WHERE k.contype = 'f' AND cn.nspname = ANY($1) AND pn.nspname = ANY($1)",
    )
    .bind(&schemas)
    .fetch_all(&mut *conn)
    .await
    .map_err(catalog)?;
    let names: Vec<&str> = tables.iter().map(|t| t.qualified.as_str()).collect();
    foreign_key_order(&names, &edges)
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Indexes of `names` so that each table comes after the tables its foreign keys
/// (`edges`: child, parent) point at; a table's references to itself do not count (the
/// check runs at the end of its one `COPY`). Ties keep the given order.
fn foreign_key_order(names: &[&str], edges: &[(String, String)]) -> Result<Vec<usize>, MoveError> {
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut parents = vec![BTreeSet::new(); names.len()];
    for (child, parent) in edges {
        if let (Some(&c), Some(&p)) = (index.get(child.as_str()), index.get(parent.as_str())) {
            if c != p {
                parents[c].insert(p);
            }
        }
    }
    let mut placed = vec![false; names.len()];
    let mut order = Vec::with_capacity(names.len());
    while order.len() < names.len() {
        let next = (0..names.len()).find(|&i| !placed[i] && parents[i].iter().all(|&p| placed[p]));
        let Some(next) = next else {
            let left: Vec<&str> = (0..names.len())
                .filter(|&i| !placed[i])
                .map(|i| names[i])
                .collect();
            return Err(MoveError(format!(
                "the foreign keys between {} form a cycle: no order copies them",
                left.join(", ")
            )));
        };
        placed[next] = true;
        order.push(next);
    }
    Ok(order)
}

/// What one `CopyData` message carries at most before it is sent.
const CHUNK_BYTES: usize = 1 << 20;

/// Streams one table from its SQLite snapshot into one `COPY … FROM STDIN` (text format).
async fn copy_table(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
    table: &Table,
) -> Result<u64, MoveError> {
    let columns: Vec<String> = table.columns.iter().map(|(name, _)| quote(name)).collect();
    let columns = columns.join(", ");
    let select = format!("SELECT {columns} FROM {}", quote(&table.name));
    let copy = format!(
        "COPY {} ({columns}) FROM STDIN",
        quote_qualified(&table.qualified)
    );
    let doing = || format!("copying {}", table.qualified);
    let mut writer = target
        .copy_in_raw(&copy)
        .await
        .map_err(|e| failed(doing(), e))?;
    let mut buffer = Vec::with_capacity(CHUNK_BYTES + (64 << 10));
    let streamed = async {
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(&mut *source);
        let mut read = 0u64;
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| failed(format!("reading {} from SQLite", table.qualified), e))?
        {
            read += 1;
            write_row(&mut buffer, &row, &table.columns).map_err(|(column, why)| {
                MoveError(format!(
                    "{}, column {}, row {read} (SQLite's order): {why}",
                    table.qualified, table.columns[column].0
                ))
            })?;
            if buffer.len() >= CHUNK_BYTES {
                writer
                    .send(buffer.as_slice())
                    .await
                    .map_err(|e| failed(doing(), e))?;
                buffer.clear();
            }
        }
        if !buffer.is_empty() {
            writer
                .send(buffer.as_slice())
                .await
                .map_err(|e| failed(doing(), e))?;
        }
        Ok::<_, MoveError>(())
    }
    .await;
    match streamed {
        Ok(()) => writer.finish().await.map_err(|e| failed(doing(), e)),
        Err(error) => {
            // The server answers the abort with an error of its own; ours is the one to say.
            let _ = writer.abort(error.0.clone()).await;
            Err(error)
        }
    }
}

/// One row in `COPY`'s text format; on failure, the column and why.
fn write_row(
    out: &mut Vec<u8>,
    row: &SqliteRow,
    columns: &[(String, Kind)],
) -> Result<(), (usize, String)> {
    for (index, (_, kind)) in columns.iter().enumerate() {
        if index > 0 {
            out.push(b'\t');
        }
        let cell = read_cell(row, index).map_err(|why| (index, why))?;
        write_cell(out, *kind, cell).map_err(|why| (index, why))?;
    }
    out.push(b'\n');
    Ok(())
}

/// A value by its storage class (the column's declared type does not bind SQLite).
fn read_cell(row: &SqliteRow, index: usize) -> Result<Cell<'_>, String> {
    let raw = row.try_get_raw(index).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let class = raw.type_info().name().to_string();
    let cell = match class.as_str() {
        "INTEGER" => row.try_get_unchecked::<i64, _>(index).map(Cell::Integer),
        "REAL" => row.try_get_unchecked::<f64, _>(index).map(Cell::Real),
        "TEXT" => row.try_get_unchecked::<&str, _>(index).map(Cell::Text),
        "BLOB" => row.try_get_unchecked::<&[u8], _>(index).map(Cell::Blob),
        other => return Err(format!("a value of SQLite storage class {other}")),
    };
    cell.map_err(|e| e.to_string())
}

/// Writes one value for a column of `kind`, escaped for `COPY`'s text format. PostgreSQL's
/// input functions parse the text (a timestamp, JSON, a number) and refuse what is not.
fn write_cell(out: &mut Vec<u8>, kind: Kind, cell: Cell<'_>) -> Result<(), String> {
    use std::io::Write;
    let number = |out: &mut Vec<u8>, value: f64| {
        if value.is_nan() {
            out.extend_from_slice(b"NaN");
        } else if value.is_infinite() {
            out.extend_from_slice(if value > 0.0 {
                b"Infinity"
            } else {
                b"-Infinity"
            });
        } else {
            // Rust prints the shortest decimal that reads back as the same f64.
            let _ = write!(out, "{value}");
        }
    };
    match (kind, cell) {
        (_, Cell::Null) => out.extend_from_slice(b"\\N"),
        (Kind::Boolean, Cell::Integer(0)) => out.push(b'f'),
        (Kind::Boolean, Cell::Integer(1)) => out.push(b't'),
        (Kind::Boolean, Cell::Real(0.0)) => out.push(b'f'),
        (Kind::Boolean, Cell::Real(1.0)) => out.push(b't'),
        (Kind::Boolean, Cell::Integer(value)) => {
            return Err(format!("{value} where a boolean (0 or 1) belongs"))
        }
        (Kind::Boolean, Cell::Real(value)) => {
            return Err(format!("{value} where a boolean (0 or 1) belongs"))
        }
        (Kind::Integer, Cell::Real(value))
            if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 =>
        {
            let _ = write!(out, "{}", value as i64);
        }
        (Kind::Integer, Cell::Real(value)) => {
            return Err(format!("{value} where an integer belongs"))
        }
        (Kind::Timestamp, Cell::Integer(_) | Cell::Real(_)) => {
            return Err(
                "a number where a timestamp belongs (SQLite keeps timestamps as \
                        RFC 3339 text)"
                    .to_string(),
            )
        }
        (Kind::Bytes, Cell::Integer(_) | Cell::Real(_)) => {
            return Err("a number where bytes belong".to_string())
        }
        (Kind::Bytes, Cell::Blob(bytes)) => write_bytea(out, bytes),
        (Kind::Bytes, Cell::Text(text)) => write_bytea(out, text.as_bytes()),
        (_, Cell::Blob(bytes)) => match std::str::from_utf8(bytes) {
            Ok(text) => escape(out, text),
            Err(_) => {
                return Err(format!(
                    "bytes that are not UTF-8 text where {kind:?} belongs"
                ))
            }
        },
        (_, Cell::Integer(value)) => {
            let _ = write!(out, "{value}");
        }
        (_, Cell::Real(value)) => number(out, value),
        (_, Cell::Text(text)) => escape(out, text),
    }
    Ok(())
}

/// `bytea`'s hex input (`\x0a1b…`), its backslash escaped for `COPY`.
fn write_bytea(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(3 + bytes.len() * 2);
    out.extend_from_slice(b"\\\\x");
    for &byte in bytes {
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 0x0f)]);
    }
}

/// Text in `COPY`'s text format: backslash, newline, carriage return and tab escaped.
fn escape(out: &mut Vec<u8>, text: &str) {
    for &byte in text.as_bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(byte),
        }
    }
}

/// Every table's rows counted on the target (inside the copy's transaction) against the
/// source's snapshot and what each `COPY` reported.
async fn verify_counts(
    conn: &mut PgConnection,
    tables: &[Table],
    copied: &[TableCopied],
) -> Result<(), MoveError> {
    let reported: BTreeMap<&str, u64> = copied.iter().map(|t| (t.name.as_str(), t.rows)).collect();
    let mut differ = Vec::new();
    for table in tables {
        let sql = format!("SELECT count(*) FROM {}", quote_qualified(&table.qualified));
        let target: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| failed(format!("counting {} on the target", table.qualified), e))?;
        let copy = reported.get(table.qualified.as_str()).copied().unwrap_or(0);
        if target != table.source_rows || copy != table.source_rows as u64 {
            differ.push(format!(
                "{}: {} in SQLite, {target} in PostgreSQL",
                table.qualified, table.source_rows
            ));
        }
    }
    if differ.is_empty() {
        return Ok(());
    }
    Err(MoveError(format!(
        "the row counts differ, so nothing was committed: {}",
        differ.join("; ")
    )))
}

/// Moves every serial (or identity) sequence of the copied tables past the highest value
/// in its column and past SQLite's AUTOINCREMENT counter for the table, so new rows neither
/// collide with copied ones nor reuse the id of a row deleted earlier.
async fn set_sequences(
    conn: &mut PgConnection,
    files: &mut [SourceFile],
    tables: &[Table],
) -> Result<Vec<(String, i64)>, MoveError> {
    let mut set = Vec::new();
    for table in tables {
        let qualified = quote_qualified(&table.qualified);
        let serials: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, sequence FROM ( \
               SELECT a.attname::text AS name, pg_get_serial_sequence($1, a.attname) AS sequence \
               FROM pg_attribute a \
               WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ) s WHERE sequence IS NOT NULL ORDER BY name",
        )
        .bind(&qualified)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| failed("cannot read the target's sequences", e))?;
        if serials.is_empty() {
            continue;
        }
        let source = &mut files[table.file].conn;
        let has_counter: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' \
             AND name = 'sqlite_sequence')",
        )
        .fetch_one(&mut *source)
        .await
        .map_err(|e| failed("cannot read SQLite's AUTOINCREMENT counters", e))?;
        let counter: i64 = if has_counter {
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = $1")
                .bind(&table.name)
                .fetch_optional(&mut *source)
                .await
                .map_err(|e| failed("cannot read SQLite's AUTOINCREMENT counters", e))?
                .unwrap_or(0)
        } else {
            0
        };
        for (column, sequence) in serials {
            let sql = format!(
                "SELECT setval($1::regclass, GREATEST(COALESCE(max({}), 0), $2) + 1, false) \
                 FROM {qualified}",
                quote(&column)
            );
            let next: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(&sequence)
                .bind(counter)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| failed(format!("cannot set {sequence}"), e))?;
            set.push((format!("{}.{column}", table.qualified), next));
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(kind: Kind, cell: Cell<'_>) -> Result<String, String> {
        let mut out = Vec::new();
        write_cell(&mut out, kind, cell)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn values_are_written_for_the_target_column_type() {
        assert_eq!(cell(Kind::Boolean, Cell::Integer(0)).unwrap(), "f");
        assert_eq!(cell(Kind::Boolean, Cell::Integer(1)).unwrap(), "t");
        assert!(cell(Kind::Boolean, Cell::Integer(2))
            .unwrap_err()
            .contains("boolean"));
        assert_eq!(cell(Kind::Integer, Cell::Integer(-7)).unwrap(), "-7");
        assert_eq!(cell(Kind::Integer, Cell::Real(3.0)).unwrap(), "3");
        assert!(cell(Kind::Integer, Cell::Real(3.5)).is_err());
        assert_eq!(cell(Kind::Float, Cell::Real(0.1)).unwrap(), "0.1");
        assert_eq!(cell(Kind::Float, Cell::Integer(2)).unwrap(), "2");
        assert_eq!(cell(Kind::Float, Cell::Real(f64::NAN)).unwrap(), "NaN");
        assert_eq!(
            cell(Kind::Float, Cell::Real(f64::NEG_INFINITY)).unwrap(),
            "-Infinity"
        );
        assert_eq!(
            cell(Kind::Bytes, Cell::Blob(&[0, 0xab, 0x10])).unwrap(),
            "\\\\x00ab10"
        );
        assert_eq!(
            cell(Kind::Bytes, Cell::Text("<a/>")).unwrap(),
            "\\\\x3c612f3e"
        );
        let at = "2026-12-06T21:47:35.547395542+00:00";
        assert_eq!(cell(Kind::Timestamp, Cell::Text(at)).unwrap(), at);
        assert!(cell(Kind::Timestamp, Cell::Integer(1_700_000_000)).is_err());
        assert_eq!(
            cell(Kind::Json, Cell::Text("{\"a\":1}")).unwrap(),
            "{\"a\":1}"
        );
        assert_eq!(cell(Kind::Text, Cell::Null).unwrap(), "\\N");
        assert_eq!(cell(Kind::Text, Cell::Blob(b"abc")).unwrap(), "abc");
        assert!(cell(Kind::Text, Cell::Blob(&[0xff])).is_err());
        assert_eq!(
            cell(Kind::Text, Cell::Text("a\tb\nc\\d\re")).unwrap(),
            "a\\tb\\nc\\\\d\\re"
        );
        // A literal `\N` in text is not a NULL once escaped.
        assert_eq!(cell(Kind::Text, Cell::Text("\\N")).unwrap(), "\\\\N");
    }

    #[test]
    fn target_types_map_to_kinds() {
        assert_eq!(Kind::of("bool"), Kind::Boolean);
        assert_eq!(Kind::of("int8"), Kind::Integer);
        assert_eq!(Kind::of("float8"), Kind::Float);
        assert_eq!(Kind::of("bytea"), Kind::Bytes);
        assert_eq!(Kind::of("timestamptz"), Kind::Timestamp);
        assert_eq!(Kind::of("jsonb"), Kind::Json);
        assert_eq!(Kind::of("varchar"), Kind::Text);
        assert_eq!(Kind::of("bpchar"), Kind::Text);
    }

    #[test]
    fn tables_follow_the_tables_they_point_at() {
        let names = [
            "chat.messages",
            "public.users",
            "files.nodes",
            "public.communities",
            "chat.conversations",
        ];
        let edge = |c: &str, p: &str| (c.to_string(), p.to_string());
        let edges = [
            edge("chat.messages", "chat.conversations"),
            edge("chat.conversations", "public.communities"),
            edge("chat.conversations", "public.users"),
            edge("public.users", "public.communities"),
            // A folder tree refers to itself; a table outside the copy is ignored.
            edge("files.nodes", "files.nodes"),
            edge("files.nodes", "other.elsewhere"),
        ];
        let order: Vec<&str> = foreign_key_order(&names, &edges)
            .unwrap()
            .into_iter()
            .map(|i| names[i])
            .collect();
        assert_eq!(
            order,
            [
                "files.nodes",
                "public.communities",
                "public.users",
                "chat.conversations",
                "chat.messages"
            ]
        );
        let cycle = [edge("public.users", "chat.messages")];
        let all: Vec<(String, String)> = edges.iter().cloned().chain(cycle).collect();
        let refused = foreign_key_order(&names, &all).unwrap_err().to_string();
        assert!(refused.contains("cycle"), "{refused}");
    }
}
