//! Libraries through GraphQL: scan progress pushed on `libraryChanged`, items, and what
//! members and other communities may do.

use std::time::Duration;

use crate::support::{gql, items, library, server, video, SRT};
use serde_json::json;
use taina_tests::graphql::{connect, init, recv, send};

#[tokio::test]
async fn a_scan_pushes_its_progress_and_its_items_over_graphql_ws() {
    let server = server().await;
    let admin = server.admin().await;
    let root = tempfile::tempdir().unwrap();
    video(&root.path().join("Primeiro Filme (2019).mp4"), 2, "libx264");
    video(
        &root.path().join("Segundo.Filme.2020.720p.mkv"),
        2,
        "libx264",
    );
    std::fs::write(root.path().join("Segundo.Filme.2020.720p.pt.srt"), SRT).unwrap();
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &admin).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query":
            "subscription { libraryChanged { libraryId change counts { found checked added } item { id title kind } } }" } }),
    )
    .await;
    // The subscription is live once the server answers something on the socket.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = library(&server, &admin, "Filmes", root.path(), "MOVIES").await;
    let mut changes = Vec::new();
    loop {
        let next = recv(&mut socket).await;
        let changed = next["payload"]["data"]["libraryChanged"].clone();
        assert_eq!(changed["libraryId"], id.as_str());
        let change = changed["change"].as_str().unwrap().to_string();
        changes.push((change.clone(), changed));
        if change == "SCAN_FINISHED" {
            break;
        }
    }
    assert_eq!(changes[0].0, "SCAN_STARTED");
    let added: Vec<_> = changes
        .iter()
        .filter(|(c, _)| c == "ITEM_ADDED")
        .map(|(_, v)| v["item"]["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(added.len(), 2, "{added:?}");
    let finished = &changes.last().unwrap().1;
    assert_eq!(finished["counts"]["found"], 2);
    assert_eq!(finished["counts"]["added"], 2);

    let mut titles: Vec<_> = items(&server, &admin, &id)
        .await
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    titles.sort();
    assert_eq!(titles, ["Primeiro Filme", "Segundo Filme"]);
    let detail = gql(
        &server,
        &admin,
        "query($l: ID!) { libraryItems(libraryId: $l, search: \"segundo\") { totalCount nodes { \
         id year container durationMs posterUrl thumbnailStrip { count intervalMs } \
         streams { kind codec height } subtitles { index language external } } } }",
        json!({ "l": id }),
    )
    .await;
    let node = &detail["libraryItems"]["nodes"][0];
    assert_eq!(detail["libraryItems"]["totalCount"], 1);
    assert_eq!(node["year"], 2020);
    assert_eq!(node["container"], "mkv");
    assert_eq!(node["streams"][0]["codec"], "h264");
    assert_eq!(node["streams"][0]["height"], 240);
    assert_eq!(node["subtitles"][0]["language"], "pt");
    assert_eq!(node["subtitles"][0]["external"], true);
    assert!(
        node["thumbnailStrip"]["count"].as_i64().unwrap() >= 2,
        "{node}"
    );
    // The poster is a JPEG behind a signed URL.
    let poster = node["posterUrl"].as_str().unwrap();
    let (status, headers, body) = crate::support::get_bytes(&server, poster).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(&body[..3], &[0xFF, 0xD8, 0xFF]);
    let recent = gql(
        &server,
        &admin,
        "{ recentlyAdded(first: 5) { title } }",
        json!({}),
    )
    .await;
    assert_eq!(recent["recentlyAdded"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn only_admins_manage_libraries_and_bad_roots_are_refused() {
    let server = server().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "bia@example.org", "member").await;
    let root = tempfile::tempdir().unwrap();
    let add = "mutation($p: String!) { addLibrary(name: \"x\", path: $p, kind: VIDEOS) { id } }";
    let refused = server
        .graphql(
            Some(&member),
            add,
            json!({ "p": root.path().to_str().unwrap() }),
        )
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "forbidden");
    for bad in ["relative/dir", "/nonexistent/taina/media"] {
        let refused = server.graphql(Some(&admin), add, json!({ "p": bad })).await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "invalid_input",
            "{bad}"
        );
    }
    let id = library(&server, &admin, "Vídeos", root.path(), "VIDEOS").await;
    let again = server
        .graphql(
            Some(&admin),
            add,
            json!({ "p": root.path().to_str().unwrap() }),
        )
        .await;
    assert_eq!(again["errors"][0]["extensions"]["code"], "library_exists");
    let scan = "mutation($i: ID!) { scanLibrary(id: $i) { id } }";
    let refused = server
        .graphql(Some(&member), scan, json!({ "i": id }))
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "forbidden");
    // A member lists the library; a bad profile is a clear error.
    let listed = gql(
        &server,
        &member,
        "{ libraries { id name kind } }",
        json!({}),
    )
    .await;
    assert_eq!(listed["libraries"][0]["kind"], "VIDEOS");
    let info = "query($p: JSON!) { playbackInfo(itemId: \"nope\", deviceProfile: $p) { method } }";
    let bad_profile = server
        .graphql(
            Some(&member),
            info,
            json!({ "p": { "containers": [], "videoCodecs": ["h264"] } }),
        )
        .await;
    assert_eq!(
        bad_profile["errors"][0]["extensions"]["code"],
        "invalid_input"
    );
    let profile = json!({ "containers": ["mp4"], "videoCodecs": ["h264"], "audioCodecs": ["aac"] });
    let unknown = server
        .graphql(Some(&member), info, json!({ "p": profile }))
        .await;
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "not_found");
}
