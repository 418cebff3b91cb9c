//! Albums, the timeline, tags and public access.

use reqwest::StatusCode;
use serde_json::{json, Value};
use taina_tests::media::{get, jpeg, settled, upload};
use taina_tests::TestServer;

#[tokio::test]
async fn albums_timeline_tags_and_public_access() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let mut ids = Vec::new();
    for seed in 0..5 {
        let reply = upload(
            &server,
            &token,
            &format!("p{seed}.jpg"),
            jpeg(64, 48, seed * 10),
        )
        .await;
        ids.push(reply.body["photo"]["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        settled(&server, &token, id).await;
    }
    // Timeline pages: newest first, no overlap, all five.
    let query = "query($after: String) { photos(first: 2, after: $after) { nodes { id } endCursor hasNextPage } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = server
            .graphql(Some(&token), query, json!({ "after": after }))
            .await;
        let page = &page["data"]["photos"];
        for node in page["nodes"].as_array().unwrap() {
            seen.push(node["id"].as_str().unwrap().to_string());
        }
        if page["hasNextPage"] == false {
            break;
        }
        after = page["endCursor"].clone();
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    let bad_cursor = server
        .graphql(Some(&token), query, json!({ "after": "garbage!" }))
        .await;
    assert_eq!(
        bad_cursor["errors"][0]["extensions"]["code"],
        "invalid_input"
    );

    // Automatic tags: the upload year.
    let year = format!("year:{}", chrono::Utc::now().format("%Y"));
    let tagged = server
        .graphql(
            Some(&token),
            "query($t: String) { photos(tag: $t) { nodes { id tags } } }",
            json!({ "t": year }),
        )
        .await;
    assert_eq!(
        tagged["data"]["photos"]["nodes"].as_array().unwrap().len(),
        5,
        "{tagged}"
    );

    let created = server
        .graphql(
            Some(&token),
            "mutation { createAlbum(name: \"Vacation 2025\", description: \"sun\", isPublic: true) { id slug isPublic publicPath } }",
            json!({}),
        )
        .await;
    let album = &created["data"]["createAlbum"];
    assert_eq!(album["slug"], "vacation-2025");
    let album_id = album["id"].as_str().unwrap().to_string();
    assert_eq!(album["publicPath"], format!("/albums/{album_id}"));
    let duplicate = server
        .graphql(
            Some(&token),
            "mutation { createAlbum(name: \"Vacation 2025\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(duplicate["errors"][0]["extensions"]["code"], "slug_taken");
    for id in &ids[..2] {
        server
            .graphql(
                Some(&token),
                "mutation($a: String!, $p: String!) { addToAlbum(albumId: $a, photoId: $p) { photoCount } }",
                json!({ "a": album_id, "p": id }),
            )
            .await;
    }
    let cover = server
        .graphql(
            Some(&token),
            "mutation($a: String!, $p: String!) { setAlbumCover(albumId: $a, photoId: $p) { coverFileId photoCount } }",
            json!({ "a": album_id, "p": ids[0] }),
        )
        .await;
    assert_eq!(
        cover["data"]["setAlbumCover"],
        json!({ "coverFileId": ids[0], "photoCount": 2 })
    );
    let not_in_album = server
        .graphql(
            Some(&token),
            "mutation($a: String!, $p: String!) { setAlbumCover(albumId: $a, photoId: $p) { id } }",
            json!({ "a": album_id, "p": ids[4] }),
        )
        .await;
    assert_eq!(
        not_in_album["errors"][0]["extensions"]["code"],
        "invalid_input"
    );
    let in_album = server
        .graphql(
            Some(&token),
            "query($a: String) { photos(albumId: $a) { nodes { id } } }",
            json!({ "a": album_id }),
        )
        .await;
    assert_eq!(
        in_album["data"]["photos"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let by_slug = server
        .graphql(
            Some(&token),
            "{ album(slug: \"vacation-2025\") { name photoCount } albums { id } }",
            json!({}),
        )
        .await;
    assert_eq!(by_slug["data"]["album"]["photoCount"], 2);

    // Public album: readable without signing in, and its photos too (but not others).
    // By the community's slug (the first sign-up's default community is "Home") and the
    // album's, or by the album's id; a bare album slug names no album.
    let public = server.get("/albums/home/vacation-2025", None).await;
    assert_eq!(public.status, StatusCode::OK);
    let by_id = server.get(&format!("/albums/{album_id}"), None).await;
    assert_eq!(by_id.body, public.body);
    assert_eq!(public.body["photos"].as_array().unwrap().len(), 2);
    let public_photo = format!("/api/media/{}/thumb", ids[0]);
    assert_eq!(
        get(&server, &public_photo, None, &[]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&server, &format!("/api/media/{}/thumb", ids[4]), None, &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get("/albums/no-such-album", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get("/albums/vacation-2025", None).await.status,
        StatusCode::NOT_FOUND
    );

    // Removing, deleting.
    server
        .graphql(
            Some(&token),
            "mutation($a: String!, $p: String!) { removeFromAlbum(albumId: $a, photoId: $p) { photoCount coverFileId } }",
            json!({ "a": album_id, "p": ids[0] }),
        )
        .await;
    assert_eq!(
        get(&server, &public_photo, None, &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    let deleted = server
        .graphql(
            Some(&token),
            "mutation($id: String!) { deleteAlbum(id: $id) }",
            json!({ "id": album_id }),
        )
        .await;
    assert_eq!(deleted["data"]["deleteAlbum"], true);
    assert_eq!(
        server.get("/albums/home/vacation-2025", None).await.status,
        StatusCode::NOT_FOUND
    );
    let gone = server
        .graphql(
            Some(&token),
            "mutation($id: String!) { deletePhoto(id: $id) }",
            json!({ "id": ids[4] }),
        )
        .await;
    assert_eq!(gone["data"]["deletePhoto"], true);
    assert_eq!(
        get(
            &server,
            &format!("/api/media/{}/original", ids[4]),
            Some(&token),
            &[]
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
}
