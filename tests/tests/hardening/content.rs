//! Content a client cannot sneak past the rules: invisible-only messages, and the guest role's
//! limits.

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::json;
use taina_protocol::client::ClientError;
use taina_tests::hardening::{png_like, upload_form, CREATE_UPLOAD};
use taina_tests::{files_under, TestServer};

#[tokio::test]
async fn a_message_of_only_invisible_characters_is_empty() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let member_id = server.user_id(&member).await;
    let conversation = server.group_conversation(&admin, &[&member_id]).await;
    let path = format!("/api/chat/conversations/{conversation}/messages");
    for body in ["\u{200B}", "\u{FEFF}\u{200B}\u{200D} \u{2060}", "\u{3164}"] {
        let sent = server
            .post(&path, json!({ "body": body }), Some(&admin))
            .await;
        assert_eq!(
            sent.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body:?}: {}",
            sent.body
        );
        assert_eq!(sent.code(), "empty_body");
    }
    let sent = server
        .post(&path, json!({ "body": "\u{200B}oi" }), Some(&admin))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
}

async fn http_upload(server: &TestServer, token: &str, bytes: Vec<u8>) -> taina_tests::Reply {
    let form = Form::new().part("file", Part::bytes(bytes).file_name("p.png"));
    server
        .send(
            server
                .client
                .post(format!("{}/api/media", server.url))
                .bearer_auth(token)
                .multipart(form),
        )
        .await
}

#[tokio::test]
async fn guests_read_what_is_shared_and_chat_where_invited_nothing_more() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let guest = server.invited(&admin, "guest@example.org", "guest").await;
    let guest_id = server.user_id(&guest).await;

    // Uploads, by every path, are refused before a byte is stored.
    let refused = http_upload(&server, &guest, png_like(1)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let multipart = server
        .graphql_multipart(Some(&guest), upload_form(png_like(2)))
        .await;
    assert_eq!(
        multipart.status,
        StatusCode::FORBIDDEN,
        "{}",
        multipart.body
    );
    let resumable = server
        .graphql(
            Some(&guest),
            CREATE_UPLOAD,
            json!({ "size": 10, "sha": "b".repeat(64) }),
        )
        .await;
    assert_eq!(
        resumable["errors"][0]["extensions"]["code"], "forbidden",
        "{resumable}"
    );
    let check = server
        .post(
            "/api/media/backup/check",
            json!({ "hashes": [] }),
            Some(&guest),
        )
        .await;
    assert_eq!(check.status, StatusCode::FORBIDDEN);
    assert_eq!(files_under(&server.data_dir.path().join("tmp")), 0);

    // No conversations of their own, no invites.
    let started = server
        .post(
            "/api/chat/conversations",
            json!({ "kind": "group", "name": "Mine", "participant_ids": [] }),
            Some(&guest),
        )
        .await;
    assert_eq!(started.status, StatusCode::FORBIDDEN, "{}", started.body);
    let invite = server
        .post(
            "/api/auth/invites",
            json!({ "role": "guest" }),
            Some(&guest),
        )
        .await;
    assert_eq!(invite.status, StatusCode::FORBIDDEN);

    // In a conversation they were invited to, they read and write (and may leave, but not
    // remove others).
    let member = server.invited(&admin, "member@example.org", "member").await;
    let member_id = server.user_id(&member).await;
    let conversation = server
        .group_conversation(&admin, &[&guest_id, &member_id])
        .await;
    let messages = format!("/api/chat/conversations/{conversation}/messages");
    let sent = server
        .post(&messages, json!({ "body": "olá" }), Some(&guest))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    assert_eq!(
        server.get(&messages, Some(&guest)).await.status,
        StatusCode::OK
    );
    let mut socket = server.socket(&guest).await;
    socket
        .join(&format!("conversation:{conversation}"), json!({}))
        .await
        .unwrap();
    // The whole community's presence is not shared with guests.
    let community = server.get("/api/auth/me", Some(&guest)).await.body["community_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(matches!(
        socket
            .join(&format!("community:{community}"), json!({}))
            .await,
        Err(ClientError::Refused(_))
    ));
    let removal = server
        .send_json(
            reqwest::Method::DELETE,
            &format!("/api/chat/conversations/{conversation}/participants/{member_id}"),
            json!({}),
            Some(&guest),
        )
        .await;
    assert_eq!(removal.status, StatusCode::FORBIDDEN, "{}", removal.body);

    // Photos: public albums only; the timeline and private photos are not theirs to see.
    let private_photo = http_upload(&server, &member, png_like(3)).await.body["photo"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let shared_photo = http_upload(&server, &member, png_like(4)).await.body["photo"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let album = server
        .graphql(
            Some(&member),
            "mutation { createAlbum(name: \"Festa\", isPublic: true) { id } }",
            json!({}),
        )
        .await["data"]["createAlbum"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .graphql(
            Some(&member),
            "mutation($a: String!, $p: String!) { addToAlbum(albumId: $a, photoId: $p) { photoCount } }",
            json!({ "a": album, "p": shared_photo }),
        )
        .await;
    server
        .graphql(
            Some(&member),
            "mutation { createAlbum(name: \"Privado\") { id } }",
            json!({}),
        )
        .await;
    let timeline = server
        .graphql(Some(&guest), "{ photos { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        timeline["errors"][0]["extensions"]["code"], "forbidden",
        "{timeline}"
    );
    let albums = server
        .graphql(Some(&guest), "{ albums { name } }", json!({}))
        .await;
    assert_eq!(
        albums["data"]["albums"],
        json!([{ "name": "Festa" }]),
        "{albums}"
    );
    let in_album = server
        .graphql(
            Some(&guest),
            "query($a: String) { photos(albumId: $a) { nodes { id } } }",
            json!({ "a": album }),
        )
        .await;
    assert_eq!(
        in_album["data"]["photos"]["nodes"][0]["id"],
        shared_photo.as_str(),
        "{in_album}"
    );
    let private = server
        .get(
            &format!("/api/media/{private_photo}/original"),
            Some(&guest),
        )
        .await;
    assert_eq!(private.status, StatusCode::NOT_FOUND);
    let shared = server
        .client
        .get(format!("{}/api/media/{shared_photo}/original", server.url))
        .bearer_auth(&guest)
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), StatusCode::OK);
}
