//! Upgrades keep data: every data directory under `tests/fixtures/upgrade/` (one per released
//! version, made by that version with `make_upgrade_fixture` below) is opened by this build,
//! which migrates it, and must still hold every row it held, answer the fixture's admin and
//! serve its messages and file.
//!
//! Making the fixture of the current version (once per release, then committed):
//! `cargo test -p taina --test upgrade -- --ignored make_upgrade_fixture`

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sqlx::{Connection, Row};
use support::{call, post, run, serve, taina};

const ADMIN: (&str, &str) = ("admin@aldeia.example", "fixture admin password");
const MEMBER: (&str, &str) = ("bia@aldeia.example", "fixture member password");
const FILE_BODY: &str = "notas da roda\n";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/upgrade")
}

/// Rows per `file/table` in every SQLite database of `data`, leaving out what a newer
/// version may rebuild (the full-text index's own tables, the migration ledger).
async fn row_counts(data: &Path) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(data)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "db"))
        .collect();
    files.sort();
    for file in files {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&file)
            .read_only(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name NOT LIKE '%fts%' AND name <> '_sqlx_migrations' ORDER BY name",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for table in tables {
            let count: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM \"{table}\""
            )))
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
            let name = file.file_name().unwrap().to_string_lossy();
            counts.insert(format!("{name}/{table}"), count);
        }
        conn.close().await.unwrap();
    }
    counts
}

/// Signs in; the whole answer (token and user).
async fn sign_in(client: &reqwest::Client, url: &str, (email, password): (&str, &str)) -> Value {
    let body = json!({ "email": email, "password": password });
    post(client, url, "/api/auth/signin", None, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_older_data_directory_opens_and_keeps_every_row() {
    let mut versions: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("tests/fixtures/upgrade exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    versions.sort();
    assert!(!versions.is_empty(), "no fixture to upgrade from");
    for fixture in versions {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        copy_tree(&fixture.join("data"), &data);
        let recorded: BTreeMap<String, i64> =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("rows.json")).unwrap())
                .unwrap();

        let mut command = taina(dir.path());
        command.arg("migrate").env("TAINA_DATA_DIR", &data);
        let out = run(command, "");
        assert!(
            out.status.success(),
            "{}: {}",
            fixture.display(),
            support::text(&out.stderr)
        );

        let now = row_counts(&data).await;
        for (table, rows) in &recorded {
            assert_eq!(now.get(table), Some(rows), "{}: {table}", fixture.display());
        }

        // The people, their conversation and their file, through the API.
        let served = serve(dir.path(), &data);
        let client = reqwest::Client::new();
        let url = served.url.clone();
        let admin = sign_in(&client, &url, ADMIN).await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        sign_in(&client, &url, MEMBER).await;
        let conversations = call(
            &client,
            reqwest::Method::GET,
            format!("{url}/api/chat/conversations"),
            Some(&admin),
            None,
        )
        .await;
        let roda = conversations["conversations"]
            .as_array()
            .and_then(|list| list.iter().find(|c| c["name"] == "Roda"))
            .unwrap_or_else(|| panic!("{}: no Roda in {conversations}", fixture.display()));
        let id = roda["id"].as_str().unwrap();
        let messages = call(
            &client,
            reqwest::Method::GET,
            format!("{url}/api/chat/conversations/{id}/messages"),
            Some(&admin),
            None,
        )
        .await;
        let bodies: Vec<&str> = messages["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["body"].as_str())
            .collect();
        assert!(bodies.contains(&"Chegou o açaí"), "{messages}");
        let found = client
            .get(format!("{url}/api/chat/search?q=acai"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert!(found.to_string().contains("Chegou o açaí"), "{found}");
        let query = json!({ "query": "{ spaces { id kind } }" });
        let spaces = call(
            &client,
            reqwest::Method::POST,
            format!("{url}/graphql"),
            Some(&admin),
            Some(query),
        )
        .await;
        let space = spaces["data"]["spaces"][0]["id"].as_str().unwrap();
        let file = client
            .get(format!("{url}/api/files/spaces/{space}/content/notas.txt"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(file, FILE_BODY, "{}", fixture.display());
        assert!(served.terminate().success());
    }
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

/// Makes `tests/fixtures/upgrade/<this version>/`: a data directory with a community, two
/// people, a conversation with a reply, a reaction, an edit and a read position, a file and
/// an alert, and `rows.json`, what each table held.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "makes the fixture of a release; run by hand"]
async fn make_upgrade_fixture() {
    let out = fixtures().join(env!("CARGO_PKG_VERSION"));
    assert!(
        !out.exists(),
        "{} exists: a released fixture is never remade",
        out.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(dir.path(), &data);
    let client = reqwest::Client::new();
    let url = served.url.clone();
    let signup = json!({ "email": ADMIN.0, "password": ADMIN.1, "community_name": "Aldeia" });
    post(&client, &url, "/api/auth/signup", None, signup).await;
    let admin = sign_in(&client, &url, ADMIN).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let invite = post(
        &client,
        &url,
        "/api/auth/invites",
        Some(&admin),
        json!({ "role": "member" }),
    )
    .await;
    let signup = json!({ "email": MEMBER.0, "password": MEMBER.1, "invite_code": invite["code"] });
    post(&client, &url, "/api/auth/signup", None, signup).await;
    let member = sign_in(&client, &url, MEMBER).await;
    let bia = member["token"].as_str().unwrap().to_owned();
    let bia_id = member["user"]["id"].clone();
    let group = json!({ "kind": "group", "name": "Roda", "participant_ids": [bia_id] });
    let conversation = post(
        &client,
        &url,
        "/api/chat/conversations",
        Some(&admin),
        group,
    )
    .await;
    let id = conversation["id"].as_str().unwrap().to_owned();
    let messages = format!("/api/chat/conversations/{id}/messages");
    let first = post(
        &client,
        &url,
        &messages,
        Some(&admin),
        json!({ "body": "Bom dia, aldeia!" }),
    )
    .await;
    let second = post(
        &client,
        &url,
        &messages,
        Some(&admin),
        json!({ "body": "Chegou o açaí" }),
    )
    .await;
    post(
        &client,
        &url,
        &messages,
        Some(&bia),
        json!({ "body": "Oba!", "reply_to": second["id"] }),
    )
    .await;
    let first_id = first["id"].as_str().unwrap();
    post(
        &client,
        &url,
        &format!("{messages}/{first_id}/reactions"),
        Some(&bia),
        json!({ "emoji": "👍" }),
    )
    .await;
    call(
        &client,
        reqwest::Method::PATCH,
        format!("{url}{messages}/{first_id}"),
        Some(&admin),
        Some(json!({ "body": "Bom dia, aldeia! ☀️" })),
    )
    .await;
    post(
        &client,
        &url,
        &format!("/api/chat/conversations/{id}/read"),
        Some(&bia),
        json!({ "offset": 3 }),
    )
    .await;
    let spaces = post(
        &client,
        &url,
        "/graphql",
        Some(&admin),
        json!({ "query": "{ spaces { id kind } }" }),
    )
    .await;
    let space = spaces["data"]["spaces"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = client
        .put(format!("{url}/api/files/spaces/{space}/content/notas.txt"))
        .bearer_auth(&admin)
        .body(FILE_BODY)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let mut command = taina(dir.path());
    command
        .args(["alert", "send", "--message", "fixture alert"])
        .env("TAINA_DATA_DIR", &data);
    assert!(run(command, "").status.success());
    assert!(served.terminate().success());

    // Only what a data directory holds for good: no secret, no scratch.
    for scratch in ["jwt.secret", "vapid.pem", "tmp", "uploads"] {
        let path = data.join(scratch);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else if path.exists() {
            std::fs::remove_file(&path).unwrap();
        }
    }
    // The server stopped cleanly, so every log is folded back: only the databases remain.
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with("-shm") || name.ends_with("-wal") {
            let length = std::fs::metadata(&path).unwrap().len();
            assert!(
                name.ends_with("-shm") || length == 0,
                "{name} holds {length} bytes"
            );
            std::fs::remove_file(&path).unwrap();
        }
    }
    let rows = row_counts(&data).await;
    std::fs::create_dir_all(&out).unwrap();
    copy_tree(&data, &out.join("data"));
    std::fs::write(
        out.join("rows.json"),
        serde_json::to_string_pretty(&rows).unwrap() + "\n",
    )
    .unwrap();
    println!("wrote {}", out.display());
}
