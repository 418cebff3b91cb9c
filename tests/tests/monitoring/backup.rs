//! Backups that restore: data on either backend, a backup taken while a writer keeps sending
//! messages, a restore into a fresh data directory (and database), a server started on it.

use std::collections::HashMap;
use std::io::Cursor as IoCursor;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use taina::contexts::monitoring::backup::backups_in;
use taina_tests::TestServer;

pub fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x as u8).wrapping_add(seed), (y as u8) ^ seed, seed])
    });
    let mut out = IoCursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

pub async fn upload(server: &TestServer, token: &str, name: &str, bytes: Vec<u8>) -> String {
    let form = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str("image/jpeg")
            .unwrap(),
    );
    let request = server
        .client
        .post(format!("{}/api/media", server.url))
        .bearer_auth(token)
        .multipart(form);
    let reply = server.send(request).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["photo"]["id"]
        .as_str()
        .expect("photo id")
        .to_string()
}

pub async fn bytes_of(server: &TestServer, token: &str, path: &str) -> (StatusCode, Vec<u8>) {
    let response = server
        .client
        .get(format!("{}{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.bytes().await.unwrap().to_vec())
}

/// Runs `taina ARGS` in-process against the data directory (and database) given.
pub async fn taina(
    config_dir: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    args: &[&str],
) -> anyhow::Result<()> {
    let config = config_dir.join(format!("cli-{}.toml", nanoid::nanoid!(8)));
    let mut toml = format!("data_dir = {:?}\n", data_dir.display().to_string());
    if let Some(url) = database_url {
        toml.push_str(&format!("database_url = {url:?}\n"));
    }
    std::fs::write(&config, toml).unwrap();
    let mut argv = vec!["taina", "--config", config.to_str().unwrap()];
    argv.extend_from_slice(args);
    taina::cli::run(<taina::cli::Cli as clap::Parser>::parse_from(argv)).await
}

#[tokio::test]
async fn a_backup_taken_under_writes_restores_every_acknowledged_message_and_photo() {
    let server = TestServer::start().await;
    let url = server.state.config.postgres_url().map(str::to_string);
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let member_id = server.user_id(&member).await;
    let conversation = server.group_conversation(&admin, &[&member_id]).await;

    let mut photos = Vec::new();
    for seed in 0..3u8 {
        let id = upload(
            &server,
            &admin,
            &format!("p{seed}.jpg"),
            jpeg(80 + u32::from(seed) * 16, 60, seed),
        )
        .await;
        photos.push(id);
    }
    for id in &photos {
        let mut status = StatusCode::NOT_FOUND;
        for _ in 0..200 {
            status = bytes_of(&server, &admin, &format!("/api/media/{id}/thumb"))
                .await
                .0;
            if status == StatusCode::OK {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status, StatusCode::OK, "thumbnail of {id}");
    }
    let album = server
        .graphql(
            Some(&admin),
            "mutation { createAlbum(name: \"Festa\") { id } }",
            json!({}),
        )
        .await;
    let album_id = album["data"]["createAlbum"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in &photos {
        let added = server
            .graphql(
                Some(&admin),
                "mutation($a: String!, $p: String!) { addToAlbum(albumId: $a, photoId: $p) { photoCount } }",
                json!({ "a": album_id, "p": id }),
            )
            .await;
        assert!(added["errors"].is_null(), "{added}");
    }

    // A writer keeps sending; every message it got a 201 for is acknowledged.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let send_path = format!("/api/chat/conversations/{conversation}/messages");
    let writer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        let (client, base, token) = (server.client.clone(), server.url.clone(), member.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let body = format!("mensagem {n} ✓");
                let response = client
                    .post(format!("{base}{send_path}"))
                    .bearer_auth(&token)
                    .json(&json!({ "body": body }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
                let message: serde_json::Value = response.json().await.unwrap();
                let id = message["id"].as_str().unwrap().to_string();
                acked.lock().unwrap().push((id, body));
                n += 1;
            }
        })
    };
    while acked.lock().unwrap().len() < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before_backup = acked.lock().unwrap().len();
    let scratch = tempfile::tempdir().unwrap();
    let backups = scratch.path().join("backups");
    let backups_arg = backups.to_str().unwrap().to_string();
    taina(
        scratch.path(),
        server.data_dir.path(),
        url.as_deref(),
        &["backup", "create", "--to", &backups_arg],
    )
    .await
    .expect("backup create");
    // The writer went on during the backup.
    let during = acked.lock().unwrap().len();
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    assert!(
        during > before_backup,
        "the writer was not running during the backup"
    );

    let made = backups_in(&backups).unwrap();
    assert_eq!(made.len(), 1);
    let backup = made[0].path.clone();
    let backup_arg = backup.to_str().unwrap().to_string();
    assert!(
        made[0].manifest.blobs.len() >= 6,
        "originals and renditions"
    );
    assert!(made[0].manifest.blobs.iter().all(|b| b.new));
    taina(
        scratch.path(),
        server.data_dir.path(),
        url.as_deref(),
        &["backup", "verify", &backup_arg],
    )
    .await
    .expect("backup verify");

    // Restore into a fresh directory (and database), then serve it.
    let restored_dir = tempfile::tempdir().unwrap();
    let restored_url = taina_tests::fresh_database().await;
    taina(
        scratch.path(),
        restored_dir.path(),
        restored_url.as_deref(),
        &["backup", "restore", &backup_arg],
    )
    .await
    .expect("backup restore");
    let again = taina(
        scratch.path(),
        restored_dir.path(),
        restored_url.as_deref(),
        &["backup", "restore", &backup_arg],
    )
    .await;
    let refusal = again
        .expect_err("a non-empty data directory is refused")
        .to_string();
    assert!(refusal.contains("not empty"), "{refusal}");
    let restored = TestServer::builder()
        .start_in(restored_dir, restored_url)
        .await;

    let rows: Vec<(String, String)> = taina::db::query_as("SELECT id, body FROM chat.messages")
        .fetch_all(&restored.state.db)
        .await
        .unwrap();
    let restored_messages: HashMap<String, String> = rows.into_iter().collect();
    let acked = acked.lock().unwrap().clone();
    let written: HashMap<&str, &str> = acked
        .iter()
        .map(|(i, b)| (i.as_str(), b.as_str()))
        .collect();
    for (id, body) in &acked[..before_backup] {
        assert_eq!(
            restored_messages.get(id).map(String::as_str),
            Some(body.as_str()),
            "message {id}, acknowledged before the backup"
        );
    }
    for (id, body) in &restored_messages {
        if let Some(sent) = written.get(id.as_str()) {
            assert_eq!(body, sent, "message {id} restored differently");
        }
    }
    // The same token works: sessions and the server secret came back.
    let me = restored.get("/api/auth/me", Some(&admin)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    // Passwords too (the token helper asserts the sign-in).
    restored
        .token("member@example.org", "member password")
        .await;
    for id in &photos {
        for rendition in ["original", "large", "thumb"] {
            let path = format!("/api/media/{id}/{rendition}");
            let (status, original) = bytes_of(&server, &admin, &path).await;
            assert_eq!(status, StatusCode::OK, "{path} on the original server");
            let (status, copy) = bytes_of(&restored, &admin, &path).await;
            assert_eq!(status, StatusCode::OK, "{path} on the restored server");
            assert!(original == copy, "{path} differs after the restore");
        }
    }
    let albums = restored
        .graphql(Some(&admin), "{ albums { id photoCount } }", json!({}))
        .await;
    assert_eq!(albums["data"]["albums"][0]["photoCount"], 3, "{albums}");

    // A second backup adds nothing to the pool for blobs it already holds.
    taina(
        scratch.path(),
        server.data_dir.path(),
        url.as_deref(),
        &["backup", "create", "--to", &backups_arg],
    )
    .await
    .expect("second backup");
    let made = backups_in(&backups).unwrap();
    assert_eq!(made.len(), 2);
    assert!(made[1].manifest.blobs.iter().all(|b| !b.new), "incremental");

    let not_a_backup = taina(
        scratch.path(),
        server.data_dir.path(),
        url.as_deref(),
        &["backup", "verify", scratch.path().to_str().unwrap()],
    )
    .await
    .expect_err("not a backup")
    .to_string();
    assert!(not_a_backup.contains("not a backup"), "{not_a_backup}");
    // Damage is found: a blob changed in the pool.
    let blob = &made[1].manifest.blobs[0];
    let pooled = backups.join("blobs").join(&blob.key);
    let mut bytes = std::fs::read(&pooled).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&pooled, bytes).unwrap();
    let damaged = taina(
        scratch.path(),
        server.data_dir.path(),
        url.as_deref(),
        &["backup", "verify", made[1].path.to_str().unwrap()],
    )
    .await
    .expect_err("a damaged blob fails verification")
    .to_string();
    assert!(damaged.contains(&blob.key), "{damaged}");
    // A manifest that leaves a photo's original out is found too (verify reads media.files
    // from the SQLite snapshot; a PostgreSQL dump is only listed).
    if url.is_some() {
        return;
    }
    assert!(blob.key.starts_with("blobs/"), "{}", blob.key);
    let mut manifest = made[1].manifest.clone();
    manifest.blobs.retain(|b| b.key != blob.key);
    manifest.write(&made[1].path).unwrap();
    let missing = taina(
        scratch.path(),
        server.data_dir.path(),
        url.as_deref(),
        &["backup", "verify", made[1].path.to_str().unwrap()],
    )
    .await
    .expect_err("a photo without its original")
    .to_string();
    assert!(missing.contains("not in the backup"), "{missing}");
}

#[tokio::test]
async fn admins_back_up_from_the_api() {
    let (server, _backups) = TestServer::with_backup_dir().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let made = server
        .post("/api/monitoring/backups", json!({}), Some(&admin))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["backend"], server.backend());
    let listed = server.get("/api/monitoring/backups", Some(&admin)).await;
    assert_eq!(listed.body["backups"][0]["name"], made.body["name"]);
    let refused = server
        .post("/api/monitoring/backups", json!({}), Some(&member))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = server.get("/api/monitoring/backups", Some(&member)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_scheduled_backup_is_logged_and_a_failed_one_alerts() {
    use taina::contexts::monitoring::backup::scheduled_backup;

    let backups = tempfile::tempdir().unwrap();
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let mut config = (*server.state.config).clone();
    config.backup.dir = backups.path().join("scheduled");
    scheduled_backup(&server.state.monitoring, &server.state.db, &config).await;
    assert_eq!(backups_in(&config.backup.dir).unwrap().len(), 1);
    let mut created = Value::Null;
    for _ in 0..100 {
        let reply = server
            .get(
                "/api/monitoring/security-events?kind=backup_created",
                Some(&admin),
            )
            .await;
        created = reply.body["events"][0].clone();
        if !created.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        created["reason"].as_str().unwrap().contains("verified"),
        "{created}"
    );

    // A backup directory that cannot be created (a file is in the way).
    let blocked = backups.path().join("blocked");
    std::fs::write(&blocked, b"not a directory").unwrap();
    config.backup.dir = blocked;
    scheduled_backup(&server.state.monitoring, &server.state.db, &config).await;
    assert!(server
        .state
        .monitoring
        .condition_holds("backup_failed")
        .await
        .unwrap());
}
