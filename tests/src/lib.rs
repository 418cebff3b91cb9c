//! Test harness: the real server started in-process on `127.0.0.1:0` with a fresh data
//! directory, on SQLite, or on PostgreSQL when `TEST_DATABASE_URL` names a server (each
//! `TestServer` then gets a database of its own).
//!
//! Each end-to-end suite is one test binary (`tests/tests/<area>/main.rs`) with a module per
//! topic; the helpers several of its modules use live here in a module named after the suite
//! (`taina_tests::socket::pair`), and those of every suite at the root (`files_under`).

pub mod connections;
pub mod graphql;
pub mod hardening;
pub mod mail;
pub mod media;
pub mod socket;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use taina::{AppState, Config};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Admin URL of a PostgreSQL server for the suite; unset means SQLite.
pub const DATABASE_ENV: &str = "TEST_DATABASE_URL";

/// A running server and a client for it. Dropping it stops the server.
pub struct TestServer {
    pub url: String,
    pub state: AppState,
    pub client: reqwest::Client,
    /// Shared by the nodes of a cluster test ([`Builder::sharing`]).
    pub data_dir: std::sync::Arc<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<std::io::Result<()>>>,
}

type ConfigFn = Box<dyn FnOnce(&mut Config) + Send>;

pub struct Builder {
    tweaks: Vec<ConfigFn>,
    /// Another node's data directory and database (several nodes, one database).
    shared: Option<(std::sync::Arc<TempDir>, Option<String>)>,
}

impl Builder {
    /// Adjusts the configuration before the server starts.
    pub fn with_config(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.tweaks.push(Box::new(f));
        self
    }

    /// Starts as another node of `other`'s installation: the same data directory (its server
    /// secret, SQLite files and blobs) and the same database.
    pub fn sharing(mut self, other: &TestServer) -> Self {
        self.shared = Some((
            other.data_dir.clone(),
            other.state.config.database_url.clone(),
        ));
        self
    }

    pub async fn start(self) -> TestServer {
        let (data_dir, database_url) = match self.shared {
            Some((dir, url)) => (dir, url),
            None => (
                std::sync::Arc::new(tempfile::tempdir().expect("temp dir")),
                fresh_postgres_database().await,
            ),
        };
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.path().to_path_buf(),
            database_url,
            shutdown_grace_seconds: 2,
            ..Config::default()
        };
        // Tests sign in far more often than people do; the rate-limit test lowers these.
        config.auth.signin_per_minute = 10_000;
        config.auth.signup_per_minute = 10_000;
        config.database.max_connections = 5;
        for tweak in self.tweaks {
            tweak(&mut config);
        }
        let state = AppState::build(config).await.expect("server state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let join = tokio::spawn(taina::serve(state.clone(), listener, async move {
            let _ = rx.await;
        }));
        TestServer {
            url,
            state,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            data_dir,
            shutdown: Some(tx),
            join: Some(join),
        }
    }
}

/// With `TEST_DATABASE_URL` set, creates an empty database on that server and returns its URL.
async fn fresh_postgres_database() -> Option<String> {
    use sqlx::Connection;
    let admin_url = std::env::var(DATABASE_ENV).ok().filter(|u| !u.is_empty())?;
    let name = format!(
        "taina_test_{}",
        nanoid::nanoid!(
            12,
            &"abcdefghijklmnopqrstuvwxyz0123456789"
                .chars()
                .collect::<Vec<_>>()
        )
    );
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    conn.close().await.ok();
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL has a database path");
    Some(format!("{base}/{name}"))
}

/// A response: status, headers and the JSON body (`Value::Null` when empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The stable error code of an error reply.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// A server whose backups and exports (`backup.dir`) go to a temporary directory, which
    /// lives as long as the returned handle.
    pub async fn with_backup_dir() -> (TestServer, TempDir) {
        let backups = tempfile::tempdir().expect("temp dir");
        let dir = backups.path().to_path_buf();
        let server = TestServer::builder()
            .with_config(move |c| c.backup.dir = dir)
            .start()
            .await;
        (server, backups)
    }

    pub fn builder() -> Builder {
        Builder {
            tweaks: Vec::new(),
            shared: None,
        }
    }

    pub fn backend(&self) -> &'static str {
        self.state.db.backend()
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.client.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        self.send_json(reqwest::Method::POST, path, body, token)
            .await
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
        token: Option<&str>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn sign_up(&self, email: &str, password: &str, invite: Option<&str>) -> Reply {
        self.post(
            "/api/auth/signup",
            json!({ "email": email, "password": password, "invite_code": invite }),
            None,
        )
        .await
    }

    /// Signs in and returns the token, panicking on failure.
    pub async fn token(&self, email: &str, password: &str) -> String {
        let reply = self
            .post(
                "/api/auth/signin",
                json!({ "email": email, "password": password }),
                None,
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "sign-in of {email}: {}",
            reply.body
        );
        reply.body["token"].as_str().unwrap().to_string()
    }

    /// Signs up the first user (the admin) and returns their token.
    pub async fn admin(&self) -> String {
        let reply = self
            .sign_up("admin@example.org", "admin password", None)
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        self.token("admin@example.org", "admin password").await
    }

    /// Creates an invite as `token`'s user and signs up `email` with it; returns their token.
    pub async fn invited(&self, inviter: &str, email: &str, role: &str) -> String {
        let invite = self
            .post("/api/auth/invites", json!({ "role": role }), Some(inviter))
            .await;
        assert_eq!(invite.status, StatusCode::CREATED, "{}", invite.body);
        let reply = self
            .sign_up(email, "member password", invite.body["code"].as_str())
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        self.token(email, "member password").await
    }

    /// Runs one SQL statement against the server's database with `$1` bound to a moment
    /// long past (to age a session or an invite).
    pub async fn execute_with_past_time(&self, statement: &'static str) {
        let past = chrono::DateTime::parse_from_rfc3339("2000-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        taina::db::query(statement)
            .bind(past)
            .execute(&self.state.db)
            .await
            .expect("test SQL");
    }

    /// Runs one SQL statement with `$1` bound to `time`.
    pub async fn execute_with_time(
        &self,
        statement: &'static str,
        time: chrono::DateTime<chrono::Utc>,
    ) {
        taina::db::query(statement)
            .bind(time)
            .execute(&self.state.db)
            .await
            .expect("test SQL");
    }

    /// A GraphQL request over HTTP; panics unless the HTTP status is 200.
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let reply = self
            .post(
                "/graphql",
                json!({ "query": query, "variables": variables }),
                token,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }

    /// `POST /graphql` as a multipart request (file uploads), with `token` when given.
    pub async fn graphql_multipart(
        &self,
        token: Option<&str>,
        form: reqwest::multipart::Form,
    ) -> Reply {
        let mut request = self.client.post(format!("{}/graphql", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request.multipart(form)).await
    }

    /// A group conversation `admin` starts with `participant_ids`; its id.
    pub async fn group_conversation(&self, admin: &str, participant_ids: &[&str]) -> String {
        let created = self
            .post(
                "/api/chat/conversations",
                json!({ "kind": "group", "name": "Roda", "participant_ids": participant_ids }),
                Some(admin),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body["id"]
            .as_str()
            .expect("conversation id")
            .to_string()
    }

    /// `ws://…/socket/websocket`.
    pub fn ws_url(&self) -> String {
        format!(
            "{}/socket/websocket",
            self.url.replacen("http://", "ws://", 1)
        )
    }

    /// A Phoenix V2 socket authenticated with `token` in `params.token`.
    pub async fn socket(&self, token: &str) -> taina_protocol::client::PhoenixClient {
        taina_protocol::client::PhoenixClient::connect(&self.ws_url(), &[("token", token)])
            .await
            .expect("socket connects")
    }

    /// The id of the user behind `token`.
    pub async fn user_id(&self, token: &str) -> String {
        self.get("/api/auth/me", Some(token)).await.body["id"]
            .as_str()
            .expect("user id")
            .to_string()
    }

    /// The instance's JWT signing secret, read from the data directory.
    pub fn jwt_secret(&self) -> Vec<u8> {
        let text = std::fs::read_to_string(
            self.data_dir
                .path()
                .join(taina::contexts::auth::token::SECRET_FILE),
        )
        .expect("secret file");
        hex_decode(text.trim())
    }

    /// Stops accepting, waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(join) = self.join.take() {
            join.await.expect("server task").expect("server result");
        }
    }
}

/// Files under `dir`, recursively (0 when it does not exist).
pub fn files_under(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => files_under(&entry.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

/// Bytes in the files under `dir`, recursively.
pub fn bytes_under(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => bytes_under(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

pub mod browser;

impl TestServer {
    /// Stops the server and starts a new one on the same address, data and database, the way
    /// a restart looks to clients (their sockets drop, then reconnect).
    pub async fn restart(&mut self) {
        let config = (*self.state.config).clone();
        let address: std::net::SocketAddr = self
            .url
            .trim_start_matches("http://")
            .parse()
            .expect("server address");
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(join) = self.join.take() {
            let _ = join.await;
        }
        let state = AppState::build(config).await.expect("server state");
        let mut listener = None;
        for _ in 0..100 {
            match tokio::net::TcpListener::bind(address).await {
                Ok(bound) => {
                    listener = Some(bound);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let listener = listener.expect("the old address is free again");
        let (tx, rx) = oneshot::channel::<()>();
        self.join = Some(tokio::spawn(taina::serve(
            state.clone(),
            listener,
            async move {
                let _ = rx.await;
            },
        )));
        self.shutdown = Some(tx);
        self.state = state;
    }
}

impl Builder {
    /// Like [`start`](Self::start), but on an existing data directory and, with
    /// `database_url`, an existing PostgreSQL database (a restored backup, a restart). The
    /// directory is removed when the server is dropped.
    pub async fn start_in(mut self, data_dir: TempDir, database_url: Option<String>) -> TestServer {
        self.shared = Some((std::sync::Arc::new(data_dir), database_url));
        self.start().await
    }
}

/// With `TEST_DATABASE_URL` set, the URL of a new, empty database on that server; `None`
/// on SQLite.
pub async fn fresh_database() -> Option<String> {
    fresh_postgres_database().await
}
