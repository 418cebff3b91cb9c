//! Serving renditions: Range, ETag and access rules.

use reqwest::StatusCode;
use serde_json::json;
use taina_tests::media::{get, jpeg, upload};
use taina_tests::TestServer;

#[tokio::test]
async fn ranges_etags_and_access_rules() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let bytes = jpeg(200, 100, 5);
    let id = upload(&server, &token, "r.jpg", bytes.clone()).await.body["photo"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/media/{id}/original");

    let part = get(&server, &path, Some(&token), &[("range", "bytes=0-9")]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 0-9/{}", bytes.len())
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[..10]);
    let tail = get(&server, &path, Some(&token), &[("range", "bytes=-5")]).await;
    assert_eq!(
        tail.bytes().await.unwrap().as_ref(),
        &bytes[bytes.len() - 5..]
    );
    let beyond = get(
        &server,
        &path,
        Some(&token),
        &[("range", &format!("bytes={}-", bytes.len()))],
    )
    .await;
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        beyond.headers()["content-range"],
        format!("bytes */{}", bytes.len())
    );

    let full = get(&server, &path, Some(&token), &[]).await;
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    let etag = full.headers()["etag"].to_str().unwrap().to_string();
    assert!(full.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let cached = get(&server, &path, Some(&token), &[("if-none-match", &etag)]).await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    // A member of the same community sees it; another community and anonymous do not.
    let member = server.invited(&token, "member@example.org", "member").await;
    assert_eq!(
        get(&server, &path, Some(&member), &[]).await.status(),
        StatusCode::OK
    );
    server
        .state
        .auth
        .create_user(
            "stranger@example.org",
            "stranger pw".into(),
            taina::contexts::auth::Role::Admin,
            "Elsewhere",
        )
        .await
        .unwrap();
    let stranger = server.token("stranger@example.org", "stranger pw").await;
    for viewer in [Some(stranger.as_str()), None] {
        let reply = get(&server, &path, viewer, &[]).await;
        assert_eq!(reply.status(), StatusCode::NOT_FOUND);
    }
    let missing = get(
        &server,
        "/api/media/AAAAAAAAAAAAAAAAAAAAA/original",
        Some(&token),
        &[],
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let hidden = server
        .graphql(
            Some(&stranger),
            "query($id: String!) { photo(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(hidden["errors"][0]["extensions"]["code"], "not_found");
}
