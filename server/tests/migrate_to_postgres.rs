//! `taina migrate-to-postgres`: each upgrade fixture (tests/fixtures/upgrade/VERSION, a SQLite
//! data directory made by that version, with what each table held) is migrated by this build,
//! copied into a new PostgreSQL database, and served from it: the same rows in every table,
//! values of the right types, the people sign in, read and search their conversation, download
//! their file, and new rows (a message, an alert, security events) take fresh ids. A second
//! run into the now non-empty database is refused and changes nothing.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (an admin URL: each test makes its own database);
//! without it that test is skipped, and fails instead when `TEST_REQUIRE_POSTGRES` is set, as
//! scripts/test sets it in its PostgreSQL step. The refusals that need no database always run.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{Connection, Row};
use support::{call, run, serve_with, taina, text, token};

const ADMIN: (&str, &str) = ("admin@aldeia.example", "fixture admin password");
const MEMBER: (&str, &str) = ("bia@aldeia.example", "fixture member password");
const FILE_BODY: &str = "notas da roda\n";

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/upgrade");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("tests/fixtures/upgrade exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    versions.sort();
    assert!(!versions.is_empty(), "no fixture to move");
    versions
}

/// The admin URL, or `None` to skip.
fn admin_url() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("TEST_REQUIRE_POSTGRES").is_err(),
            "TEST_REQUIRE_POSTGRES is set but TEST_DATABASE_URL is not"
        );
        eprintln!("skipped: needs TEST_DATABASE_URL (scripts/test)");
    }
    url
}

async fn fresh_database(admin_url: &str) -> String {
    let name = format!(
        "taina_move_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create the database");
    conn.close().await.ok();
    let (base, _) = admin_url.rsplit_once('/').expect("a database path");
    format!("{base}/{name}")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A fixture's data directory in a temporary directory, migrated by this build.
fn migrated_copy(fixture: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_tree(&fixture.join("data"), &data);
    let mut command = taina(dir.path());
    command.arg("migrate").env("TAINA_DATA_DIR", &data);
    let out = run(command, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    (dir, data)
}

fn move_to(dir: &Path, data: &Path, url: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = taina(dir);
    command
        .args(["migrate-to-postgres", "--to", url])
        .env("TAINA_DATA_DIR", data)
        .envs(env.iter().copied());
    run(command, "")
}

/// `rows.json`'s `file.db/table` as PostgreSQL's `schema.table`.
fn postgres_name(key: &str) -> String {
    let (file, table) = key.split_once('/').unwrap();
    match file.trim_end_matches(".db") {
        "taina" => format!("public.{table}"),
        schema => format!("{schema}.{table}"),
    }
}

async fn count(conn: &mut sqlx::PgConnection, table: &str) -> i64 {
    let (schema, name) = table.split_once('.').unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{schema}\".\"{name}\""
    )))
    .fetch_one(conn)
    .await
    .unwrap_or_else(|e| panic!("count {table}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_data_directory_moves_to_postgres_and_is_served_from_it() {
    let Some(admin_url) = admin_url() else { return };
    for fixture in fixtures() {
        let (dir, data) = migrated_copy(&fixture);
        let recorded: BTreeMap<String, i64> =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("rows.json")).unwrap())
                .unwrap();
        let url = fresh_database(&admin_url).await;

        let started = Instant::now();
        let out = move_to(dir.path(), &data, &url, &[]);
        let took = started.elapsed();
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}{stdout}",
            fixture.display(),
            text(&out.stderr)
        );
        eprintln!(
            "{}: migrate-to-postgres took {:.2} s\n{stdout}",
            fixture.display(),
            took.as_secs_f64()
        );
        assert!(stdout.contains("committed"), "{stdout}");
        assert!(stdout.contains("chat.messages_fts"), "{stdout}");

        // Every table holds what it held on SQLite.
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        for (key, rows) in &recorded {
            let table = postgres_name(key);
            assert!(
                stdout.contains(&format!("  {table} ")),
                "{table} not listed: {stdout}"
            );
            assert_eq!(
                count(&mut conn, &table).await,
                *rows,
                "{}: {table}",
                fixture.display()
            );
        }

        // Values of the target's types: booleans, timestamps (to the microsecond), the
        // generated search column.
        let source_created: String = {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(data.join("taina.db"))
                .read_only(true);
            let mut sqlite = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            let at = sqlx::query_scalar("SELECT created_at FROM users WHERE email = $1")
                .bind(ADMIN.0)
                .fetch_one(&mut sqlite)
                .await
                .unwrap();
            sqlite.close().await.unwrap();
            at
        };
        let row = sqlx::query("SELECT totp_enabled, created_at FROM users WHERE email = $1")
            .bind(ADMIN.0)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(!row.get::<bool, _>("totp_enabled"));
        let created: DateTime<Utc> = row.get("created_at");
        let expected: DateTime<Utc> = source_created.parse().unwrap();
        let apart = (created - expected).num_nanoseconds().unwrap().abs();
        assert!(apart <= 500, "{created} vs {source_created}");
        let unindexed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM chat.messages WHERE search_terms <> '' \
             AND length(search_vector) = 0",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(unindexed, 0);
        let last_seq: i64 =
            sqlx::query_scalar("SELECT last_seq FROM chat.conversations WHERE name = 'Roda'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        let events_before = count(&mut conn, "monitoring.security_events").await;

        // The server on PostgreSQL, with the same data directory for the file's bytes.
        let served = serve_with(
            dir.path(),
            &data,
            "127.0.0.1:0",
            &[("TAINA_DATABASE_URL", url.as_str())],
        );
        let client = reqwest::Client::new();
        let api = served.url.clone();
        let admin = token(&client, &api, ADMIN).await;
        token(&client, &api, MEMBER).await;
        let conversations = call(
            &client,
            reqwest::Method::GET,
            format!("{api}/api/chat/conversations"),
            Some(&admin),
            None,
        )
        .await;
        let roda = conversations["conversations"]
            .as_array()
            .and_then(|list| list.iter().find(|c| c["name"] == "Roda"))
            .unwrap_or_else(|| panic!("no Roda in {conversations}"));
        let id = roda["id"].as_str().unwrap().to_owned();
        let messages = call(
            &client,
            reqwest::Method::GET,
            format!("{api}/api/chat/conversations/{id}/messages"),
            Some(&admin),
            None,
        )
        .await;
        assert!(messages.to_string().contains("Chegou o açaí"), "{messages}");
        let found = call(
            &client,
            reqwest::Method::GET,
            format!("{api}/api/chat/search?q=acai"),
            Some(&admin),
            None,
        )
        .await;
        assert!(found.to_string().contains("Chegou o açaí"), "{found}");
        let spaces = call(
            &client,
            reqwest::Method::POST,
            format!("{api}/graphql"),
            Some(&admin),
            Some(json!({ "query": "{ spaces { id kind } }" })),
        )
        .await;
        let space = spaces["data"]["spaces"][0]["id"].as_str().unwrap();
        let file = client
            .get(format!("{api}/api/files/spaces/{space}/content/notas.txt"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(file, FILE_BODY);

        // New rows after the move: a message at the next offset, an alert past the copied ids.
        let sent = call(
            &client,
            reqwest::Method::POST,
            format!("{api}/api/chat/conversations/{id}/messages"),
            Some(&admin),
            Some(json!({ "body": "Agora no PostgreSQL" })),
        )
        .await;
        assert_eq!(sent["offset"].as_i64(), Some(last_seq + 1), "{sent}");
        let mut alert = taina(dir.path());
        alert
            .args(["alert", "send", "--message", "after the move"])
            .env("TAINA_DATA_DIR", &data)
            .env("TAINA_DATABASE_URL", &url);
        let out = run(alert, "");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(served.terminate().success());
        let alerts: Vec<i64> = sqlx::query_scalar("SELECT id FROM monitoring.alerts ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let copied = recorded["monitoring.db/alerts"];
        assert_eq!(alerts.len() as i64, copied + 1, "{alerts:?}");
        assert_eq!(alerts.last(), Some(&(copied + 1)), "{alerts:?}");
        // Sign-ins were logged (serial ids after the copied ones).
        assert!(count(&mut conn, "monitoring.security_events").await > events_before);

        // Once more into the same database: refused, nothing touched.
        let users = count(&mut conn, "public.users").await;
        let messages_now = count(&mut conn, "chat.messages").await;
        let out = move_to(dir.path(), &data, &url, &[]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success());
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("already holds data in"), "{stderr}");
        assert!(stderr.contains("public.users"), "{stderr}");
        assert_eq!(count(&mut conn, "public.users").await, users);
        assert_eq!(count(&mut conn, "chat.messages").await, messages_now);
        conn.close().await.ok();
    }
}

async fn sqlite(path: &Path) -> sqlx::SqliteConnection {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap()
}

/// Rows the fixture lacks, in the columns whose types differ most between the backends:
/// JSON text → jsonb, 0/1 → boolean, a blob that is not UTF-8 → bytea, REAL → double
/// precision (exactly), integers past 32 bits, and text that needs escaping in `COPY`.
#[tokio::test(flavor = "multi_thread")]
async fn every_column_type_arrives_as_its_postgres_type() {
    let Some(admin_url) = admin_url() else { return };
    let fixture = fixtures().pop().unwrap();
    let (dir, data) = migrated_copy(&fixture);
    const AT: &str = "2026-01-02T03:04:05.123456+00:00";
    const BODY: &str = "linha 1\nlinha\t2 \\N fim\r";
    const XML: &[u8] = &[b'<', b'x', b'>', 0x00, 0xff, 0xfe, b'<', b'/', b'x', b'>'];
    const MEAN: f64 = 21.123456789012345;

    let mut main = sqlite(&data.join("taina.db")).await;
    let (community, admin): (String, String) =
        sqlx::query_as("SELECT community_id, id FROM users WHERE email = $1")
            .bind(ADMIN.0)
            .fetch_one(&mut main)
            .await
            .unwrap();
    main.close().await.unwrap();

    let mut media = sqlite(&data.join("media.db")).await;
    sqlx::query(
        "INSERT INTO files (id, community_id, user_id, filename, original_filename, file_path, \
         content_hash, mime_type, file_size_bytes, width, taken_at, metadata, processing_status, \
         has_renditions, created_at, updated_at) \
         VALUES ('photophotophotophoto1', $1, $2, 'a.jpg', 'a.jpg', 'blobs/aa/aa', $3, \
         'image/jpeg', 3000000000, 4000, $4, '{\"camera\": \"Pi\", \"iso\": 100}', 'ready', 1, \
         $4, $4)",
    )
    .bind(&community)
    .bind(&admin)
    .bind("a".repeat(64))
    .bind(AT)
    .execute(&mut media)
    .await
    .unwrap();
    media.close().await.unwrap();

    let mut files = sqlite(&data.join("files.db")).await;
    let (space, node): (String, String) =
        sqlx::query_as("SELECT space_id, id FROM nodes WHERE parent_id IS NULL")
            .fetch_one(&mut files)
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO properties (node_id, namespace, name, xml) VALUES ($1, 'DAV:', 'x', $2)",
    )
    .bind(&node)
    .bind(XML)
    .execute(&mut files)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO shares (id, node_id, space_id, created_by, target, token, permission, \
         may_reshare, created_at) \
         VALUES ('shareshareshareshare1', $1, $2, $3, 'link', 'a-token', 'read', 1, $4)",
    )
    .bind(&node)
    .bind(&space)
    .bind(&admin)
    .bind(AT)
    .execute(&mut files)
    .await
    .unwrap();
    files.close().await.unwrap();

    let mut automation = sqlite(&data.join("automation.db")).await;
    sqlx::query(
        "INSERT INTO entities (id, community_id, entity_id, kind, name, created_at) \
         VALUES ('sensorsensorsensorse1', $1, 'sensor.t', 'sensor', 'T', $2)",
    )
    .bind(&community)
    .bind(AT)
    .execute(&mut automation)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO statistics (entity, period, start, mean, min, max, state, sum) \
         VALUES ('sensorsensorsensorse1', '5m', $1, $2, -0.5, 1e300, NULL, 0.1)",
    )
    .bind(AT)
    .bind(MEAN)
    .execute(&mut automation)
    .await
    .unwrap();
    automation.close().await.unwrap();

    let mut chat = sqlite(&data.join("chat.db")).await;
    sqlx::query(
        "INSERT INTO message_edits (message_id, body, replaced_at) \
         SELECT id, $1, $2 FROM messages ORDER BY seq LIMIT 1",
    )
    .bind(BODY)
    .bind(AT)
    .execute(&mut chat)
    .await
    .unwrap();
    chat.close().await.unwrap();

    let url = fresh_database(&admin_url).await;
    let out = move_to(dir.path(), &data, &url, &[]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stderr),
        text(&out.stdout)
    );

    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let at: DateTime<Utc> = AT.parse().unwrap();
    let (camera, iso, renditions, size, taken): (String, i32, bool, i64, DateTime<Utc>) =
        sqlx::query_as(
            "SELECT metadata->>'camera', (metadata->>'iso')::int, has_renditions, \
             file_size_bytes, taken_at FROM media.files",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        (camera.as_str(), iso, renditions, size, taken),
        ("Pi", 100, true, 3_000_000_000, at)
    );
    let xml: Vec<u8> = sqlx::query_scalar("SELECT xml FROM files.properties")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(xml, XML);
    let reshare: bool = sqlx::query_scalar("SELECT may_reshare FROM files.shares")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(reshare);
    let numbers: (f64, f64, f64, Option<f64>, f64) =
        sqlx::query_as("SELECT mean, min, max, state, sum FROM automation.statistics")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(numbers, (MEAN, -0.5, 1e300, None, 0.1));
    let body: String =
        sqlx::query_scalar("SELECT body FROM chat.message_edits WHERE replaced_at = $1")
            .bind(at)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(body, BODY);
    conn.close().await.ok();
}

/// What is refused before any database is reached, each in one line.
#[tokio::test(flavor = "multi_thread")]
async fn what_cannot_move_is_refused_in_one_line() {
    let fixture = fixtures().pop().unwrap();
    let (dir, data) = migrated_copy(&fixture);
    // Nothing listens there: every refusal below comes before a connection.
    let nowhere = "postgres://taina@127.0.0.1:9/taina";
    let refused = |out: std::process::Output, needle: &str| {
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{needle}: succeeded");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
    };

    refused(
        move_to(dir.path(), &data, "sqlite://elsewhere.db", &[]),
        "--to must be a PostgreSQL URL",
    );
    let configured = move_to(
        dir.path(),
        &data,
        nowhere,
        &[(
            "TAINA_DATABASE_URL",
            "postgres://taina:secret@127.0.0.1:9/x",
        )],
    );
    assert!(!text(&configured.stderr).contains("secret"));
    refused(configured, "database_url is set");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    refused(
        move_to(dir.path(), &empty, nowhere, &[]),
        "no SQLite database at",
    );

    // A data directory behind this build's migrations: migrate it first.
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(data.join("taina.db"));
    let mut sqlite = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let newest: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&mut sqlite)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(newest)
        .execute(&mut sqlite)
        .await
        .unwrap();
    sqlite.close().await.unwrap();
    refused(
        move_to(dir.path(), &data, nowhere, &[]),
        "run `taina migrate`",
    );
}
