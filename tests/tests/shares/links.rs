//! Public links: `/api/files/public/{token}` without an account.

use reqwest::StatusCode;
use serde_json::{json, Value};
use taina_tests::{Reply, TestServer};

const CREATE_SHARE: &str = "mutation($input: CreateShareInput!) { createShare(input: $input) { \
     id token url permission hasPassword expiresAt } }";

/// The admin's token and personal space id.
async fn owner(server: &TestServer) -> (String, String) {
    let token = server.admin().await;
    let spaces = server
        .graphql(Some(&token), "{ spaces { id kind } }", json!({}))
        .await;
    let space = spaces["data"]["spaces"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (token, space)
}

async fn put(server: &TestServer, path: &str, token: Option<&str>, bytes: &[u8]) -> Reply {
    let mut request = server
        .client
        .put(format!("{}{path}", server.url))
        .body(bytes.to_vec());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    server.send(request).await
}

/// Writes a file in the owner's space; returns the node's id.
async fn write(server: &TestServer, token: &str, space: &str, path: &str, bytes: &[u8]) -> String {
    let reply = put(
        server,
        &format!("/api/files/spaces/{space}/content{path}"),
        Some(token),
        bytes,
    )
    .await;
    assert!(reply.status.is_success(), "{}", reply.body);
    reply.body["node"]["id"].as_str().unwrap().to_string()
}

async fn folder(server: &TestServer, token: &str, space: &str, path: &str) -> String {
    let made = server
        .graphql(
            Some(token),
            "mutation($s: ID!, $p: String!) { createFolder(spaceId: $s, path: $p) { id } }",
            json!({ "s": space, "p": path }),
        )
        .await;
    made["data"]["createFolder"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn link(server: &TestServer, token: &str, input: Value) -> Value {
    let made = server
        .graphql(Some(token), CREATE_SHARE, json!({ "input": input }))
        .await;
    assert!(made["errors"].is_null(), "{made}");
    made["data"]["createShare"].clone()
}

async fn get_with(server: &TestServer, path: &str, password: Option<&str>) -> Reply {
    let mut request = server.client.get(format!("{}{path}", server.url));
    if let Some(password) = password {
        request = request.header("Taina-Share-Password", password);
    }
    server.send(request).await
}

async fn get_bytes(server: &TestServer, path: &str, range: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut request = server.client.get(format!("{}{path}", server.url));
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_read_link_lists_and_downloads_and_refuses_uploads() {
    let server = TestServer::start().await;
    let (token, space) = owner(&server).await;
    let photos = folder(&server, &token, &space, "/Photos").await;
    write(&server, &token, &space, "/Photos/a.txt", b"hello link").await;
    folder(&server, &token, &space, "/Photos/sub").await;
    write(&server, &token, &space, "/Photos/sub/b.txt", b"below").await;
    write(&server, &token, &space, "/secret.txt", b"not shared").await;
    let share = link(
        &server,
        &token,
        json!({ "nodeId": photos, "link": true, "permission": "READ" }),
    )
    .await;
    let url = share["url"].as_str().unwrap().to_string();
    assert!(share["token"].as_str().unwrap().len() >= 21);

    let described = server.get(&url, None).await;
    assert_eq!(described.status, StatusCode::OK, "{}", described.body);
    assert_eq!(described.body["permission"], "read");
    assert_eq!(described.body["node"]["path"], "/");
    let names: Vec<&str> = described.body["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sub", "a.txt"]);
    let sub = server.get(&format!("{url}?path=/sub"), None).await;
    assert_eq!(sub.body["children"][0]["path"], "/sub/b.txt");

    let (status, bytes) = get_bytes(&server, &format!("{url}/content/a.txt"), None).await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::OK, &b"hello link"[..])
    );
    let (status, bytes) =
        get_bytes(&server, &format!("{url}/content/a.txt"), Some("bytes=6-9")).await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::PARTIAL_CONTENT, &b"link"[..])
    );
    // Nothing outside the shared folder.
    let outside = server
        .get(&format!("{url}/content/../secret.txt"), None)
        .await;
    assert_ne!(outside.status, StatusCode::OK);
    let missing = server.get(&format!("{url}/content/secret.txt"), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let refused = put(&server, &format!("{url}/content/new.txt"), None, b"x").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.code(), "forbidden");

    let unknown = server
        .get("/api/files/public/no-such-token-at-all-here", None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "not_found");
}

#[tokio::test]
async fn a_password_is_asked_for_and_checked() {
    let server = TestServer::start().await;
    let (token, space) = owner(&server).await;
    let file = write(&server, &token, &space, "/report.txt", b"quarterly").await;
    let share = link(
        &server,
        &token,
        json!({ "nodeId": file, "link": true, "permission": "READ", "password": "open sesame" }),
    )
    .await;
    assert_eq!(share["hasPassword"], true);
    let url = share["url"].as_str().unwrap().to_string();

    let missing = get_with(&server, &url, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.code(), "share_password_required");
    let wrong = get_with(&server, &url, Some("open barley")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code(), "invalid_credentials");
    let right = get_with(&server, &url, Some("open sesame")).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.body);
    assert_eq!(right.body["node"]["name"], "report.txt");
    assert!(right.body["children"].is_null());
    let response = server
        .client
        .get(format!("{}{url}/content", server.url))
        .header("Taina-Share-Password", "open sesame")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"quarterly");

    // Guessing is rate-limited.
    let mut limited = None;
    for i in 0..20 {
        let reply = get_with(&server, &url, Some(&format!("guess {i}"))).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(reply);
            break;
        }
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let limited = limited.expect("guesses are limited");
    assert_eq!(limited.code(), "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn an_expired_link_is_gone() {
    let server = TestServer::start().await;
    let (token, space) = owner(&server).await;
    let file = write(&server, &token, &space, "/soon.txt", b"soon").await;
    let expiry = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let share = link(
        &server,
        &token,
        json!({ "nodeId": file, "link": true, "permission": "READ", "expiresAt": expiry }),
    )
    .await;
    let url = share["url"].as_str().unwrap().to_string();
    assert_eq!(server.get(&url, None).await.status, StatusCode::OK);
    server
        .execute_with_past_time("UPDATE files.shares SET expires_at = $1")
        .await;
    let gone = server.get(&url, None).await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert_eq!(gone.code(), "share_expired");
    let (status, _) = get_bytes(&server, &format!("{url}/content"), None).await;
    assert_eq!(status, StatusCode::GONE);
}

#[tokio::test]
async fn a_file_drop_takes_uploads_and_shows_nothing() {
    let server = TestServer::start().await;
    let (token, space) = owner(&server).await;
    let inbox = folder(&server, &token, &space, "/Inbox").await;
    write(&server, &token, &space, "/Inbox/private.txt", b"mine").await;
    let share = link(
        &server,
        &token,
        json!({ "nodeId": inbox, "link": true, "permission": "UPLOAD_ONLY" }),
    )
    .await;
    let url = share["url"].as_str().unwrap().to_string();

    let described = server.get(&url, None).await;
    assert_eq!(described.status, StatusCode::OK, "{}", described.body);
    assert_eq!(described.body["permission"], "upload_only");
    assert!(described.body["children"].is_null());
    let listing = server.get(&format!("{url}?path=/"), None).await;
    assert!(listing.body["children"].is_null());
    let download = server
        .get(&format!("{url}/content/private.txt"), None)
        .await;
    assert_eq!(download.status, StatusCode::FORBIDDEN);

    let dropped = put(
        &server,
        &format!("{url}/content/homework.txt"),
        None,
        b"done",
    )
    .await;
    assert_eq!(dropped.status, StatusCode::CREATED, "{}", dropped.body);
    assert_eq!(dropped.body["node"]["name"], "homework.txt");
    // The same name again never replaces: it lands beside.
    let again = put(
        &server,
        &format!("{url}/content/private.txt"),
        None,
        b"overwrite?",
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.body["conflict"], true);
    assert_ne!(again.body["node"]["name"], "private.txt");

    // The owner sees the upload, attributed to them; the original is untouched.
    let (status, bytes) = {
        let response = server
            .client
            .get(format!(
                "{}/api/files/spaces/{space}/content/Inbox/private.txt",
                server.url
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        (response.status(), response.bytes().await.unwrap())
    };
    assert_eq!((status, bytes.as_ref()), (StatusCode::OK, &b"mine"[..]));
    let versions = server
        .graphql(
            Some(&token),
            "query($s: ID!, $p: String!) { fileNode(spaceId: $s, path: $p) { id } }",
            json!({ "s": space, "p": "/Inbox/homework.txt" }),
        )
        .await;
    let id = versions["data"]["fileNode"]["id"].as_str().unwrap();
    let listed = server
        .graphql(
            Some(&token),
            "query($id: ID!) { fileVersions(nodeId: $id) { createdBy } }",
            json!({ "id": id }),
        )
        .await;
    let me = server.user_id(&token).await;
    assert_eq!(listed["data"]["fileVersions"][0]["createdBy"], me.as_str());
}

#[tokio::test]
async fn a_write_link_replaces_and_the_owner_can_revoke_it() {
    let server = TestServer::start().await;
    let (token, space) = owner(&server).await;
    let team = folder(&server, &token, &space, "/Team").await;
    write(&server, &token, &space, "/Team/notes.txt", b"v1").await;
    let share = link(
        &server,
        &token,
        json!({ "nodeId": team, "link": true, "permission": "WRITE" }),
    )
    .await;
    let url = share["url"].as_str().unwrap().to_string();
    let replaced = put(&server, &format!("{url}/content/notes.txt"), None, b"v2").await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    let (_, bytes) = get_bytes(&server, &format!("{url}/content/notes.txt"), None).await;
    assert_eq!(bytes, b"v2");
    let missing_parent = put(&server, &format!("{url}/content/nope/x.txt"), None, b"x").await;
    assert_eq!(missing_parent.code(), "parent_missing");

    let listed = server
        .graphql(
            Some(&token),
            "query($n: ID!) { shares(nodeId: $n) { id token } }",
            json!({ "n": team }),
        )
        .await;
    assert_eq!(listed["data"]["shares"][0]["token"], share["token"]);
    let deleted = server
        .graphql(
            Some(&token),
            "mutation($id: ID!) { deleteShare(id: $id) }",
            json!({ "id": share["id"] }),
        )
        .await;
    assert_eq!(deleted["data"]["deleteShare"], true);
    assert_eq!(server.get(&url, None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn shared_with_me_over_graphql_reaches_nodes_by_id() {
    let server = TestServer::start().await;
    let (token, space) = owner(&server).await;
    let bia = server.invited(&token, "bia@example.org", "member").await;
    let shared = folder(&server, &token, &space, "/ForBia").await;
    let file = write(&server, &token, &space, "/ForBia/x.txt", b"x").await;
    let bia_id = server.user_id(&bia).await;
    let made = link(
        &server,
        &token,
        json!({ "nodeId": shared, "userId": bia_id, "permission": "READ" }),
    )
    .await;
    assert!(made["token"].is_null());
    let mine = server
        .graphql(
            Some(&bia),
            "{ sharedWithMe { node { id name } share { permission } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mine["data"]["sharedWithMe"][0]["node"]["id"],
        shared.as_str()
    );
    let node = server
        .graphql(
            Some(&bia),
            "query($id: ID!) { fileNode(id: $id) { name downloadUrl } }",
            json!({ "id": file }),
        )
        .await;
    let download = node["data"]["fileNode"]["downloadUrl"].as_str().unwrap();
    let reply = server.get(download, Some(&bia)).await;
    assert_eq!(reply.status, StatusCode::OK);
}
