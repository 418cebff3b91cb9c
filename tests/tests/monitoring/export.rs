//! A community exported from one server and imported into another: users (new passwords),
//! conversations with their messages in order, photos byte for byte, albums.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{json, Value};
use taina::contexts::monitoring::export::import_community;
use taina_tests::TestServer;

use super::backup::{bytes_of, jpeg, taina, upload};

async fn photos_by_hash(server: &TestServer, token: &str) -> HashMap<String, String> {
    let page = server
        .graphql(
            Some(token),
            "{ photos(first: 200) { nodes { id contentHash } } }",
            json!({}),
        )
        .await;
    page["data"]["photos"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|p| {
            (
                p["contentHash"].as_str().unwrap().to_string(),
                p["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (sender email, body) of a conversation's messages, oldest first.
async fn transcript(
    server: &TestServer,
    token: &str,
    emails: &HashMap<String, String>,
) -> Vec<Vec<(String, String)>> {
    let conversations = server.get("/api/chat/conversations", Some(token)).await;
    let mut all = Vec::new();
    let mut list: Vec<Value> = conversations.body["conversations"]
        .as_array()
        .unwrap()
        .clone();
    list.sort_by_key(|c| c["name"].as_str().unwrap_or("").to_string());
    for conversation in list {
        let id = conversation["id"].as_str().unwrap();
        let reply = server
            .get(
                &format!("/api/chat/conversations/{id}/messages?limit=100"),
                Some(token),
            )
            .await;
        let mut messages: Vec<(String, String)> = reply.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let sender = m["sender_id"].as_str().unwrap();
                (
                    emails[sender].clone(),
                    m["body"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        messages.reverse();
        all.push(messages);
    }
    all
}

async fn emails(server: &TestServer, admin: &str) -> HashMap<String, String> {
    let users = server.get("/api/auth/users", Some(admin)).await;
    users.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_string(),
                u["email"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_community_round_trips_through_export_and_import() {
    let source = TestServer::start().await;
    let url = source.state.config.postgres_url().map(str::to_string);
    let admin = source.admin().await;
    let member = source.invited(&admin, "member@example.org", "member").await;
    let guest = source.invited(&admin, "guest@example.org", "guest").await;
    let member_id = source.user_id(&member).await;
    let guest_id = source.user_id(&guest).await;
    let group = source
        .group_conversation(&admin, &[&member_id, &guest_id])
        .await;
    for n in 0..6 {
        let (token, body) = match n % 3 {
            0 => (&admin, format!("olá {n}")),
            1 => (&member, format!("tudo bem? {n}")),
            _ => (&guest, format!("👋 {n}")),
        };
        let sent = source
            .post(
                &format!("/api/chat/conversations/{group}/messages"),
                json!({ "body": body }),
                Some(token),
            )
            .await;
        assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    }
    let mut originals = Vec::new();
    for (seed, token) in [(1u8, &admin), (2, &admin), (3, &member)] {
        let bytes = jpeg(70, 50 + u32::from(seed), seed);
        upload(&source, token, &format!("photo{seed}.jpg"), bytes.clone()).await;
        originals.push(bytes);
    }
    let album = source
        .graphql(
            Some(&admin),
            "mutation { createAlbum(name: \"Festa Junina\", isPublic: true) { id } }",
            json!({}),
        )
        .await;
    let album_id = album["data"]["createAlbum"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let hashes = photos_by_hash(&source, &admin).await;
    assert_eq!(hashes.len(), 3);
    for id in hashes.values().take(2) {
        let added = source
            .graphql(
                Some(&admin),
                "mutation($a: String!, $p: String!) { addToAlbum(albumId: $a, photoId: $p) { photoCount } }",
                json!({ "a": album_id, "p": id }),
            )
            .await;
        assert!(added["errors"].is_null(), "{added}");
    }

    let scratch = tempfile::tempdir().unwrap();
    let export = scratch.path().join("export");
    let export_arg = export.to_str().unwrap().to_string();
    taina(
        scratch.path(),
        source.data_dir.path(),
        url.as_deref(),
        &["export", "--community", "home", "--to", &export_arg],
    )
    .await
    .expect("export");
    assert!(export.join("README.md").is_file());
    let users = std::fs::read_to_string(export.join("users.json")).unwrap();
    assert!(
        !users.contains("argon2") && !users.contains("password"),
        "{users}"
    );
    let unknown = taina(
        scratch.path(),
        source.data_dir.path(),
        url.as_deref(),
        &[
            "export",
            "--community",
            "nowhere",
            "--to",
            scratch.path().join("x").to_str().unwrap(),
        ],
    )
    .await;
    assert!(unknown.is_err());

    // Another server, which already has a community of its own.
    let target = TestServer::start().await;
    let their_admin = target.admin().await;
    let same_name = taina(
        scratch.path(),
        source.data_dir.path(),
        url.as_deref(),
        &["import", &export_arg],
    )
    .await
    .expect_err("the community exists on the source");
    assert!(
        same_name.to_string().contains("exists already"),
        "{same_name}"
    );
    // As one file: `--to FILE.tar` packs the same export; import reads it back (here to the
    // same refusal, which proves it read the archive's community), leaving no scratch behind.
    let archive = scratch.path().join("home.tar");
    let archive_arg = archive.to_str().unwrap().to_string();
    taina(
        scratch.path(),
        source.data_dir.path(),
        url.as_deref(),
        &["export", "--community", "home", "--to", &archive_arg],
    )
    .await
    .expect("export as a .tar");
    assert!(archive.is_file());
    let from_archive = taina(
        scratch.path(),
        source.data_dir.path(),
        url.as_deref(),
        &["import", &archive_arg],
    )
    .await
    .expect_err("the community exists on the source");
    assert!(
        from_archive.to_string().contains("exists already"),
        "{from_archive}"
    );
    assert!(!scratch.path().join("home.tar.d").exists());
    // The target's own community is also called "Home": rename the export's.
    let header_path = export.join("community.json");
    let mut header: Value = serde_json::from_slice(&std::fs::read(&header_path).unwrap()).unwrap();
    header["name"] = json!("Aldeia");
    std::fs::write(&header_path, header.to_string()).unwrap();
    let imported = import_community(
        &target.state.auth,
        &target.state.chat,
        &target.state.media,
        &export,
    )
    .await
    .expect("import");
    assert!(imported.skipped.is_empty(), "{:?}", imported.skipped);
    assert_eq!(
        (imported.messages, imported.photos, imported.albums),
        (6, 3, 1)
    );
    let password = |email: &str| {
        imported
            .passwords
            .iter()
            .find(|(e, _)| e == email)
            .map(|(_, p)| p.clone())
            .unwrap()
    };
    let new_admin = target
        .token("admin@example.org", &password("admin@example.org"))
        .await;
    // The target's own admin is untouched and does not see the imported community.
    assert_eq!(
        target.get("/api/auth/users", Some(&their_admin)).await.body["users"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let source_emails = emails(&source, &admin).await;
    let target_emails = emails(&target, &new_admin).await;
    assert_eq!(target_emails.len(), 3);
    assert_eq!(
        transcript(&target, &new_admin, &target_emails).await,
        transcript(&source, &admin, &source_emails).await
    );
    let guest_role = target.get("/api/auth/users", Some(&new_admin)).await.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "guest@example.org")
        .unwrap()["role"]
        .clone();
    assert_eq!(guest_role, "guest");

    let imported_photos = photos_by_hash(&target, &new_admin).await;
    assert_eq!(imported_photos.len(), 3);
    for (hash, id) in &hashes {
        let (_, before) = bytes_of(&source, &admin, &format!("/api/media/{id}/original")).await;
        let new_id = &imported_photos[hash];
        let (status, after) = bytes_of(
            &target,
            &new_admin,
            &format!("/api/media/{new_id}/original"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(before == after, "photo {id} differs after the import");
    }
    let albums = target
        .graphql(
            Some(&new_admin),
            "{ albums { name isPublic photoCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        albums["data"]["albums"][0],
        json!({ "name": "Festa Junina", "isPublic": true, "photoCount": 2 })
    );
}

#[tokio::test]
async fn an_admin_exports_their_community_through_the_api() {
    let (server, backups) = TestServer::with_backup_dir().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let refused = server
        .post("/api/monitoring/exports", json!({}), Some(&member))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let done = server
        .post("/api/monitoring/exports", json!({}), Some(&admin))
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    assert_eq!(done.body["users"], 2);
    let path = std::path::PathBuf::from(done.body["path"].as_str().unwrap());
    assert!(path.starts_with(backups.path().join("exports")), "{path:?}");
    assert!(
        path.is_file() && path.extension().unwrap() == "tar",
        "{path:?}"
    );
    let unpacked = backups.path().join("unpacked");
    taina::contexts::monitoring::export::archive::unpack(&path, &unpacked).unwrap();
    assert!(unpacked.join("community.json").is_file());
    assert!(unpacked.join("README.md").is_file());
}
