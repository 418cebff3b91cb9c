//! Fixtures for store and service unit tests (lldap's habit): each test gets a fresh, migrated
//! database of its own.
//!
//! By default that is SQLite in memory, laid out as [`Db::connect`] lays out the files: a main
//! database plus one database per context schema ([`CONTEXT_SCHEMAS`]) attached to every
//! connection, so the same `schema.table` SQL runs. Each is a named shared-cache in-memory
//! database (`file:NAME?mode=memory&cache=shared`), the names unique per test, so the pool's
//! connections all see the same data and parallel tests never do. With `TEST_DATABASE_URL` set
//! (the variable the end-to-end suites read) each test gets a new database on that PostgreSQL
//! server instead.
//!
//! [`Fixture`] builds the services on such a database and signs people up through them, for
//! the service tests of every context.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{Connection, SqlitePool};

use super::{Db, QueryTimes, WriteQueue, CONTEXT_SCHEMAS};
use crate::config::{AuthConfig, ChatConfig, FilesConfig, MediaConfig};
use crate::contexts::auth::{
    AuthService, ClientInfo, NewInvite, Principal, Role, SecretCipher, SignIn, SignUp, TokenKeys,
};
use crate::contexts::chat::ChatService;
use crate::contexts::files::FilesService;
use crate::contexts::media::MediaService;
use crate::events::{EventBus, MemoryBus};
use crate::ids::{CommunityId, UserId};

/// Admin URL of a PostgreSQL server to run the tests on; unset means in-memory SQLite.
pub const DATABASE_ENV: &str = "TEST_DATABASE_URL";

/// A fresh, migrated database for one test.
pub async fn test_db() -> Db {
    let db = match std::env::var(DATABASE_ENV).ok().filter(|u| !u.is_empty()) {
        Some(admin_url) => fresh_postgres(&admin_url).await,
        None => {
            let (pool, writer) = in_memory_sqlite().await;
            Db::Sqlite(pool, writer, QueryTimes::default())
        }
    };
    db.migrate().await.expect("migrate the test database");
    db
}

/// Lower-case letters and digits: valid in a SQLite URI and a PostgreSQL identifier.
fn unique_name() -> String {
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789".chars().collect();
    format!("taina_unit_{}", nanoid::nanoid!(16, &alphabet))
}

/// The pool, and the write queue whose own connection opens on the same database.
async fn in_memory_sqlite() -> (SqlitePool, WriteQueue) {
    let name = unique_name();
    let attach: String = CONTEXT_SCHEMAS
        .iter()
        .map(|schema| {
            format!("ATTACH DATABASE 'file:{name}_{schema}?mode=memory&cache=shared' AS {schema};")
        })
        .collect();
    let attach = Arc::new(attach);
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(format!("file:{name}"))
        .in_memory(true)
        .shared_cache(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
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
        .max_connections(4)
        // An in-memory database lives while a connection to it is open: keep one open, and
        // never retire connections, for as long as the pool lives.
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .expect("open in-memory SQLite");
    (pool, writer)
}

/// Creates an empty database on the server at `admin_url` and opens a pool on it.
async fn fresh_postgres(admin_url: &str) -> Db {
    let name = unique_name();
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    admin.close().await.ok();
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL has a database path");
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&format!("{base}/{name}"))
        .await
        .expect("open the test database");
    Db::Postgres(pool, QueryTimes::default())
}

/// Inserts a community (its name and slug are its id) for store tests; returns its id.
pub async fn insert_community(db: &Db) -> CommunityId {
    let id = CommunityId::new();
    super::query(
        "INSERT INTO communities (id, name, slug, created_at, updated_at) \
         VALUES ($1, $1, $1, $2, $2)",
    )
    .bind(&id)
    .bind(chrono::Utc::now())
    .execute(db)
    .await
    .expect("insert a community");
    id
}

/// Inserts a member of `community_id` for store tests; returns their id.
pub async fn insert_user(db: &Db, community_id: &CommunityId) -> UserId {
    let id = UserId::new();
    super::query(
        "INSERT INTO users (id, community_id, email, password_hash, role, created_at, updated_at) \
         VALUES ($1, $2, $3, 'no password', 'member', $4, $4)",
    )
    .bind(&id)
    .bind(community_id)
    .bind(format!("{id}@example.org"))
    .bind(chrono::Utc::now())
    .execute(db)
    .await
    .expect("insert a user");
    id
}

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery";

/// A test database with the auth service on it; the other services on demand.
pub struct Fixture {
    pub db: Db,
    pub bus: Arc<dyn EventBus>,
    pub auth: AuthService,
    /// Media's blobs and temporary files; removed when the fixture is dropped.
    pub data_dir: tempfile::TempDir,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with_auth_config(Self::auth_config()).await
    }

    /// The auth configuration of [`new`](Self::new): limits far above what tests reach.
    pub fn auth_config() -> AuthConfig {
        AuthConfig {
            // Tests sign in far more often than people do.
            signin_per_minute: 10_000,
            signup_per_minute: 10_000,
            ..AuthConfig::default()
        }
    }

    pub async fn with_auth_config(config: AuthConfig) -> Self {
        let db = test_db().await;
        let bus: Arc<dyn EventBus> = Arc::new(MemoryBus::new(1024));
        let secret = b"unit tests: a server secret of at least thirty-two bytes";
        let auth = AuthService::new(
            db.clone(),
            TokenKeys::from_secret(secret),
            SecretCipher::from_server_secret(secret),
            bus.clone(),
            config,
        )
        .await
        .expect("auth service");
        Self {
            db,
            bus,
            auth,
            data_dir: tempfile::tempdir().expect("temporary data directory"),
        }
    }

    pub fn chat(&self) -> ChatService {
        let (db, auth, bus) = (self.db.clone(), self.auth.clone(), self.bus.clone());
        ChatService::new(db, auth, bus, ChatConfig::default())
    }

    pub fn media(&self) -> MediaService {
        let (db, auth, bus) = (self.db.clone(), self.auth.clone(), self.bus.clone());
        MediaService::new(db, auth, bus, MediaConfig::default(), self.data_dir.path())
            .expect("media service")
    }

    /// Files over a media service of its own (same database and blob directory).
    pub fn files(&self, config: FilesConfig) -> FilesService {
        let (db, auth, bus) = (self.db.clone(), self.auth.clone(), self.bus.clone());
        FilesService::new(db, self.media(), auth, bus, config)
    }

    /// Signs up without an invite (the first sign-up creates the community and its admin).
    pub async fn sign_up(&self, email: &str, community_name: Option<&str>) -> Principal {
        self.auth
            .sign_up(
                SignUp {
                    email: email.into(),
                    password: PASSWORD.into(),
                    community_name: community_name.map(Into::into),
                    invite_code: None,
                },
                &ClientInfo::default(),
            )
            .await
            .expect("first sign-up");
        self.sign_in(email).await
    }

    /// Signs up with an invite from `by` for `role`.
    pub async fn invited(&self, by: &Principal, email: &str, role: Role) -> Principal {
        let invite = NewInvite {
            role: Some(role),
            ..NewInvite::default()
        };
        let invite = self.auth.create_invite(by, invite).await.expect("invite");
        self.auth
            .sign_up(
                SignUp {
                    email: email.into(),
                    password: PASSWORD.into(),
                    community_name: None,
                    invite_code: Some(invite.code),
                },
                &ClientInfo::default(),
            )
            .await
            .expect("sign-up with an invite");
        self.sign_in(email).await
    }

    /// Signs in (the only account with `email`) and authenticates the token.
    pub async fn sign_in(&self, email: &str) -> Principal {
        let signed_in = self
            .auth
            .sign_in(
                SignIn {
                    email: email.into(),
                    password: PASSWORD.into(),
                    community: None,
                    otp: None,
                },
                &ClientInfo::default(),
            )
            .await
            .expect("sign-in");
        self.auth
            .authenticate(&signed_in.token)
            .await
            .expect("authenticate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{query, query_scalar};

    /// The fixture must give what `Db::connect` gives: the context schemas next to the
    /// shared tables, shared by every connection of the pool, and nothing shared between tests.
    #[tokio::test]
    async fn schemas_are_attached_on_every_connection_and_private_to_each_test() {
        let db = test_db().await;
        let other = test_db().await;
        query(
            "INSERT INTO monitoring.alerts (level, message, source, created_at) \
             VALUES ('info', 'hi', 'server', $1)",
        )
        .bind(chrono::Utc::now())
        .execute(&db)
        .await
        .unwrap();
        // Hold two connections at once so the second read goes through another one.
        let mut tx = db.begin().await.unwrap();
        let seen_in_tx: i64 = query_scalar("SELECT COUNT(*) FROM monitoring.alerts")
            .fetch_one(&mut tx)
            .await
            .unwrap();
        let seen_outside: i64 = query_scalar("SELECT COUNT(*) FROM monitoring.alerts")
            .fetch_one(&db)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!((seen_in_tx, seen_outside), (1, 1));
        let elsewhere: i64 = query_scalar("SELECT COUNT(*) FROM monitoring.alerts")
            .fetch_one(&other)
            .await
            .unwrap();
        assert_eq!(elsewhere, 0);
        for table in ["chat.messages", "media.files", "users"] {
            let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
            let rows: i64 = query_scalar(sql).fetch_one(&db).await.unwrap();
            assert_eq!(rows, 0, "{table}");
        }
    }
}
