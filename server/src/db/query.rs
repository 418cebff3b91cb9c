//! One statement for both backends: [`query`], [`query_as`] and [`query_scalar`] read like
//! their `sqlx` namesakes, but the values bound are kept until the statement runs, and only
//! then encoded for the backend of the [`Db`] or [`Tx`] it runs on. So a store writes its SQL
//! once, as ordinary code that rustfmt formats:
//!
//! ```ignore
//! let row = query_as::<CommunityRow>("SELECT id, name, slug FROM communities WHERE id = $1")
//!     .bind(id)
//!     .fetch_optional(&self.db)
//!     .await?;
//! ```
//!
//! Each value goes to `sqlx`'s own `bind` for the backend (the same encoding as a `sqlx`
//! query would use), and the statement runs through `sqlx::query_with`, so nothing about how
//! SQL reaches the database changes: only where the backend is chosen.

use std::marker::PhantomData;

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Encode, FromRow, Postgres, SqlSafeStr, SqlStr, Sqlite, Type};

use super::{Db, QueryTimes};

/// A value both backends can bind.
trait Bind<'a>: Send {
    fn add_to_sqlite(self: Box<Self>, arguments: &mut SqliteArguments) -> Result<(), BoxDynError>;
    fn add_to_postgres(self: Box<Self>, arguments: &mut PgArguments) -> Result<(), BoxDynError>;
}

impl<'a, T> Bind<'a> for T
where
    T: Send,
    T: Encode<'a, Sqlite> + Type<Sqlite>,
    T: Encode<'a, Postgres> + Type<Postgres>,
{
    fn add_to_sqlite(self: Box<Self>, arguments: &mut SqliteArguments) -> Result<(), BoxDynError> {
        arguments.add(*self)
    }

    fn add_to_postgres(self: Box<Self>, arguments: &mut PgArguments) -> Result<(), BoxDynError> {
        arguments.add(*self)
    }
}

/// The values of one statement, in `$1, $2, …` order.
type Binds<'a> = Vec<Box<dyn Bind<'a> + 'a>>;

fn sqlite_arguments(binds: Binds<'_>) -> Result<SqliteArguments, sqlx::Error> {
    let mut arguments = SqliteArguments::default();
    arguments.reserve(binds.len(), 0);
    for (n, bind) in binds.into_iter().enumerate() {
        bind.add_to_sqlite(&mut arguments)
            .map_err(|e| encode_error(n, e))?;
    }
    Ok(arguments)
}

fn postgres_arguments(binds: Binds<'_>) -> Result<PgArguments, sqlx::Error> {
    let mut arguments = PgArguments::default();
    arguments.reserve(binds.len(), 0);
    for (n, bind) in binds.into_iter().enumerate() {
        bind.add_to_postgres(&mut arguments)
            .map_err(|e| encode_error(n, e))?;
    }
    Ok(arguments)
}

/// The error `sqlx` reports for a value it cannot encode.
fn encode_error(index: usize, error: BoxDynError) -> sqlx::Error {
    sqlx::Error::Encode(format!("Encoding argument ${} failed: {error}", index + 1).into())
}

/// An open transaction on either backend, on a pooled connection (`Tx<'static>`) or on one
/// it borrows (SQLite's writer connection, [`Db::begin_in_turn`]). Dropped without
/// [`Tx::commit`], it rolls back.
#[derive(Debug)]
pub enum Tx<'c> {
    Sqlite(sqlx::Transaction<'c, Sqlite>, QueryTimes),
    Postgres(sqlx::Transaction<'c, Postgres>, QueryTimes),
}

impl Tx<'_> {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx, _) => tx.commit().await,
            Tx::Postgres(tx, _) => tx.commit().await,
        }
    }

    /// For the few statements only PostgreSQL needs (advisory locks).
    pub fn is_postgres(&self) -> bool {
        matches!(self, Tx::Postgres(..))
    }
}

impl Db {
    /// Begins a transaction on the pool.
    pub async fn begin(&self) -> Result<Tx<'static>, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool, _, times) => Tx::Sqlite(pool.begin().await?, times.clone()),
            Db::Postgres(pool, times) => Tx::Postgres(pool.begin().await?, times.clone()),
        })
    }
}

/// Where a statement runs: `&Db` (any pooled connection) or `&mut Tx`.
pub enum Target<'c> {
    Pool(&'c Db),
    Sqlite(&'c mut sqlx::SqliteConnection, &'c QueryTimes),
    Postgres(&'c mut sqlx::PgConnection, &'c QueryTimes),
}

impl<'c> From<&'c Db> for Target<'c> {
    fn from(db: &'c Db) -> Self {
        Target::Pool(db)
    }
}

impl<'c, 't> From<&'c mut Tx<'t>> for Target<'c> {
    fn from(tx: &'c mut Tx<'t>) -> Self {
        match tx {
            Tx::Sqlite(tx, times) => Target::Sqlite(tx, times),
            Tx::Postgres(tx, times) => Target::Postgres(tx, times),
        }
    }
}

/// Encodes `$binds` for the backend of `$target` as `$arguments`, names the `sqlx` executor
/// `$executor`, and evaluates `$run` with both: one arm per backend and kind of target. The
/// statement's duration (failed ones too) goes to the pool's [`QueryTimes`].
macro_rules! on_target {
    ($target:expr, $binds:expr, |$executor:ident, $arguments:ident| $run:expr) => {{
        let started = std::time::Instant::now();
        let (times, result) = match $target {
            Target::Pool(Db::Sqlite($executor, _, times)) => {
                let $arguments = sqlite_arguments($binds)?;
                (times.clone(), async { $run }.await)
            }
            Target::Pool(Db::Postgres($executor, times)) => {
                let $arguments = postgres_arguments($binds)?;
                (times.clone(), async { $run }.await)
            }
            Target::Sqlite(connection, times) => {
                let ($executor, $arguments) = (connection, sqlite_arguments($binds)?);
                (times.clone(), async { $run }.await)
            }
            Target::Postgres(connection, times) => {
                let ($executor, $arguments) = (connection, postgres_arguments($binds)?);
                (times.clone(), async { $run }.await)
            }
        };
        times.observe(started.elapsed());
        result
    }};
}

/// A statement whose result is the number of rows it touched.
#[must_use = "a query does nothing until it is executed"]
pub struct Query<'a> {
    sql: SqlStr,
    binds: Binds<'a>,
    /// Kept as a prepared statement on the connection (sqlx's default).
    persistent: bool,
}

/// `sqlx::query` for either backend.
pub fn query<'a>(sql: impl SqlSafeStr) -> Query<'a> {
    Query {
        sql: sql.into_sql_str(),
        binds: Vec::new(),
        persistent: true,
    }
}

impl<'a> Query<'a> {
    /// Binds the next `$n`.
    pub fn bind<T>(mut self, value: T) -> Self
    where
        T: Send + 'a,
        T: Encode<'a, Sqlite> + Type<Sqlite>,
        T: Encode<'a, Postgres> + Type<Postgres>,
    {
        self.binds.push(Box::new(value));
        self
    }

    /// Runs the statement; returns the number of rows affected.
    pub async fn execute<'c>(self, on: impl Into<Target<'c>>) -> Result<u64, sqlx::Error> {
        let Query { sql, binds, .. } = self;
        on_target!(on.into(), binds, |executor, arguments| {
            let done = sqlx::query_with(sql, arguments).execute(executor).await?;
            Ok(done.rows_affected())
        })
    }
}

/// A statement whose rows map to `O` (`#[derive(FromRow)]` or a tuple).
#[must_use = "a query does nothing until it is executed"]
pub struct QueryAs<'a, O> {
    inner: Query<'a>,
    row: PhantomData<fn() -> O>,
}

/// `sqlx::query_as` for either backend.
pub fn query_as<'a, O>(sql: impl SqlSafeStr) -> QueryAs<'a, O> {
    QueryAs {
        inner: query(sql),
        row: PhantomData,
    }
}

impl<'a, O> QueryAs<'a, O>
where
    O: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    /// Binds the next `$n`.
    pub fn bind<T>(mut self, value: T) -> Self
    where
        T: Send + 'a,
        T: Encode<'a, Sqlite> + Type<Sqlite>,
        T: Encode<'a, Postgres> + Type<Postgres>,
    {
        self.inner = self.inner.bind(value);
        self
    }

    /// Planned with its values at every run instead of prepared once: PostgreSQL switches a
    /// prepared statement to one generic plan after a few runs, and for a statement whose
    /// best plan depends on the values (full-text search: a rare word wants the index, a
    /// common one a walk by date) that plan can be slower by orders of magnitude.
    pub fn planned_each_time(mut self) -> Self {
        self.inner.persistent = false;
        self
    }

    /// The first row, if any.
    pub async fn fetch_optional<'c>(
        self,
        on: impl Into<Target<'c>>,
    ) -> Result<Option<O>, sqlx::Error> {
        let Query {
            sql,
            binds,
            persistent,
        } = self.inner;
        on_target!(on.into(), binds, |executor, arguments| {
            sqlx::query_as_with(sql, arguments)
                .persistent(persistent)
                .fetch_optional(executor)
                .await
        })
    }

    /// The first row; `RowNotFound` when there is none.
    pub async fn fetch_one<'c>(self, on: impl Into<Target<'c>>) -> Result<O, sqlx::Error> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Every row.
    pub async fn fetch_all<'c>(self, on: impl Into<Target<'c>>) -> Result<Vec<O>, sqlx::Error> {
        let Query {
            sql,
            binds,
            persistent,
        } = self.inner;
        on_target!(on.into(), binds, |executor, arguments| {
            sqlx::query_as_with(sql, arguments)
                .persistent(persistent)
                .fetch_all(executor)
                .await
        })
    }
}

/// A statement whose rows are one column of type `O`.
#[must_use = "a query does nothing until it is executed"]
pub struct QueryScalar<'a, O> {
    inner: QueryAs<'a, (O,)>,
}

/// `sqlx::query_scalar` for either backend.
pub fn query_scalar<'a, O>(sql: impl SqlSafeStr) -> QueryScalar<'a, O> {
    QueryScalar {
        inner: query_as(sql),
    }
}

impl<'a, O> QueryScalar<'a, O>
where
    (O,): for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    /// Binds the next `$n`.
    pub fn bind<T>(mut self, value: T) -> Self
    where
        T: Send + 'a,
        T: Encode<'a, Sqlite> + Type<Sqlite>,
        T: Encode<'a, Postgres> + Type<Postgres>,
    {
        self.inner = self.inner.bind(value);
        self
    }

    /// The first row's value, if any.
    pub async fn fetch_optional<'c>(
        self,
        on: impl Into<Target<'c>>,
    ) -> Result<Option<O>, sqlx::Error> {
        Ok(self.inner.fetch_optional(on).await?.map(|(value,)| value))
    }

    /// The first row's value; `RowNotFound` when there is none.
    pub async fn fetch_one<'c>(self, on: impl Into<Target<'c>>) -> Result<O, sqlx::Error> {
        Ok(self.inner.fetch_one(on).await?.0)
    }

    /// Every row's value.
    pub async fn fetch_all<'c>(self, on: impl Into<Target<'c>>) -> Result<Vec<O>, sqlx::Error> {
        let rows = self.inner.fetch_all(on).await?;
        Ok(rows.into_iter().map(|(value,)| value).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::test_db;

    async fn alerts(db: &Db) -> Vec<(String, String)> {
        query_as("SELECT level, message FROM monitoring.alerts ORDER BY id")
            .fetch_all(db)
            .await
            .unwrap()
    }

    fn insert_alert<'a>(message: &'a str) -> Query<'a> {
        query(
            "INSERT INTO monitoring.alerts (level, message, source, created_at) \
             VALUES ($1, $2, 'server', $3)",
        )
        .bind("info")
        .bind(message)
        .bind(chrono::Utc::now())
    }

    /// Whether the connection `tx` runs on holds the TEMP table `mark` (TEMP tables belong
    /// to one connection).
    async fn holds_mark(on: impl Into<Target<'_>>) -> bool {
        let found: i64 =
            query_scalar("SELECT count(*) FROM sqlite_temp_master WHERE name = 'mark'")
                .fetch_one(on)
                .await
                .unwrap();
        found == 1
    }

    #[tokio::test]
    async fn a_writer_in_its_turn_keeps_one_connection_of_its_own_on_sqlite() {
        let db = test_db().await;
        let Db::Sqlite(pool, ..) = &db else {
            return; // PostgreSQL has no write turn.
        };
        let mut turn = db.write_turn().await;
        let mut tx = db.begin_in_turn(&mut turn).await.unwrap();
        query("CREATE TEMP TABLE mark (x)")
            .execute(&mut tx)
            .await
            .unwrap();
        insert_alert("in turn").execute(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        drop(turn);
        // Not one of the pool's connections (all of them held at once), and what it
        // committed is there for them.
        let mut held = Vec::new();
        for _ in 0..pool.options().get_max_connections() {
            held.push(pool.acquire().await.unwrap());
        }
        for connection in &mut held {
            let found: i64 =
                sqlx::query_scalar("SELECT count(*) FROM sqlite_temp_master WHERE name = 'mark'")
                    .fetch_one(&mut **connection)
                    .await
                    .unwrap();
            assert_eq!(found, 0, "the writer used a pooled connection");
        }
        drop(held);
        assert_eq!(alerts(&db).await, [("info".into(), "in turn".into())]);
        // The next turn writes on the same connection...
        let mut turn = db.write_turn().await;
        let mut tx = db.begin_in_turn(&mut turn).await.unwrap();
        assert!(holds_mark(&mut tx).await);
        drop(tx);
        // ...until it is reset after a failure: then on a fresh one.
        Db::reset_writer(&mut turn);
        let mut tx = db.begin_in_turn(&mut turn).await.unwrap();
        assert!(!holds_mark(&mut tx).await);
        drop(tx);
        drop(turn);
        // Closed, the database takes no more writes, on that connection or another.
        db.close().await;
        let mut turn = db.write_turn().await;
        assert!(db.begin_in_turn(&mut turn).await.is_err());
    }

    #[tokio::test]
    async fn a_transaction_commits_or_rolls_back_when_dropped() {
        let db = test_db().await;
        let mut tx = db.begin().await.unwrap();
        assert_eq!(tx.is_postgres(), db.backend() == "postgres");
        assert_eq!(insert_alert("kept").execute(&mut tx).await.unwrap(), 1);
        tx.commit().await.unwrap();
        let mut tx = db.begin().await.unwrap();
        insert_alert("dropped").execute(&mut tx).await.unwrap();
        drop(tx);
        assert_eq!(alerts(&db).await, [("info".into(), "kept".into())]);
    }

    #[tokio::test]
    async fn values_bind_in_order_and_rows_map() {
        let db = test_db().await;
        let none: Option<&str> = None;
        let updated = query("UPDATE monitoring.alerts SET message = $1 WHERE message = $2")
            .bind(none)
            .bind("absent")
            .execute(&db)
            .await
            .unwrap();
        assert_eq!(updated, 0);
        let id: i64 = query_scalar(
            "INSERT INTO monitoring.alerts (level, message, source, created_at) \
             VALUES ($2, $1, 'operator', $3) RETURNING id",
        )
        .bind("disk almost full")
        .bind("warning")
        .bind(chrono::Utc::now())
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(
            alerts(&db).await,
            [("warning".into(), "disk almost full".into())]
        );
        let found: Option<i64> = query_scalar("SELECT id FROM monitoring.alerts WHERE id = $1")
            .bind(id + 1)
            .fetch_optional(&db)
            .await
            .unwrap();
        assert_eq!(found, None);
        let missing = query_scalar::<i64>("SELECT id FROM monitoring.alerts WHERE id = $1")
            .bind(id + 1)
            .fetch_one(&db)
            .await;
        assert!(
            matches!(missing, Err(sqlx::Error::RowNotFound)),
            "{missing:?}"
        );
    }
}
