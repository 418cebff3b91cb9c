//! WebDAV at `/dav/files/{user_id}/`: Basic auth with an app password only (never the account
//! password, never after revoking), the tree the apps see, and locks shared with the apps: a
//! WebDAV client's lock shows its holder in `fileLocks`, and an app's lock keeps others'
//! writes out with 423 `locked`.

use reqwest::{Method, StatusCode};
use serde_json::json;
use taina_tests::TestServer;

use super::support::{admin, app_password, gql, member, put, User};

fn dav(server: &TestServer, method: &str, user: &User, path: &str) -> reqwest::RequestBuilder {
    server.client.request(
        Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{}/dav/files/{}/{path}", server.url, user.id),
    )
}

#[tokio::test]
async fn app_passwords_open_webdav_and_the_account_password_does_not() {
    let server = TestServer::start().await;
    let ana = admin(&server).await;
    let (id, secret) = app_password(&server, &ana, "laptop").await;

    let anonymous = server.send(dav(&server, "PROPFIND", &ana, "")).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    let account_password = server
        .send(dav(&server, "PROPFIND", &ana, "").basic_auth(&ana.email, Some("admin password")))
        .await;
    assert_eq!(account_password.status, StatusCode::UNAUTHORIZED);

    let put_file = server
        .send(
            dav(&server, "PUT", &ana, "hello.txt")
                .basic_auth(&ana.email, Some(&secret))
                .body("olá"),
        )
        .await;
    assert_eq!(put_file.status, StatusCode::CREATED);
    // What WebDAV wrote is the apps' file.
    let node = gql(
        &server,
        &ana.token,
        "query($s: ID!) { fileNode(spaceId: $s, path: \"/hello.txt\") { size etag } }",
        json!({ "s": ana.space }),
    )
    .await;
    assert_eq!(node["fileNode"]["size"], 4);
    let listing = server
        .client
        .request(
            Method::from_bytes(b"PROPFIND").unwrap(),
            format!("{}/dav/files/{}/", server.url, ana.id),
        )
        .basic_auth(&ana.email, Some(&secret))
        .header("Depth", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status().as_u16(), 207);
    assert!(listing.text().await.unwrap().contains("hello.txt"));

    // Another user's URL with Ana's credentials: refused.
    let bia = member(&server, &ana, "bia@example.org").await;
    let elsewhere = server
        .send(dav(&server, "PROPFIND", &bia, "").basic_auth(&ana.email, Some(&secret)))
        .await;
    assert_eq!(elsewhere.status, StatusCode::UNAUTHORIZED);

    gql(
        &server,
        &ana.token,
        "mutation($id: ID!) { revokeAppPassword(id: $id) }",
        json!({ "id": id }),
    )
    .await;
    let revoked = server
        .send(dav(&server, "GET", &ana, "hello.txt").basic_auth(&ana.email, Some(&secret)))
        .await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn app_and_webdav_locks_see_each_other() {
    let server = TestServer::start().await;
    let ana = admin(&server).await;
    let (_, secret) = app_password(&server, &ana, "editor").await;
    let written = put(&server, &ana, &ana.space, "report.odt", b"v1").await;
    let node_id = written["node"]["id"].as_str().unwrap().to_string();

    // A WebDAV LOCK shows up for the apps with its holder.
    let lock_body = r#"<?xml version="1.0" encoding="utf-8"?>
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>LibreOffice</D:owner></D:lockinfo>"#;
    let locked = server
        .client
        .request(
            Method::from_bytes(b"LOCK").unwrap(),
            format!("{}/dav/files/{}/report.odt", server.url, ana.id),
        )
        .basic_auth(&ana.email, Some(&secret))
        .header("Timeout", "Second-600")
        .body(lock_body)
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), StatusCode::OK);
    let token = locked.headers()["lock-token"]
        .to_str()
        .unwrap()
        .trim_matches(|c| c == '<' || c == '>')
        .to_string();
    let locks = gql(
        &server,
        &ana.token,
        "query($id: ID!) { fileLocks(nodeId: $id) { holderId kind expiresAt } }",
        json!({ "id": node_id }),
    )
    .await;
    assert_eq!(locks["fileLocks"][0]["kind"], "WEBDAV", "{locks}");
    assert_eq!(locks["fileLocks"][0]["holderId"], ana.id.as_str());
    let unlocked = server
        .client
        .request(
            Method::from_bytes(b"UNLOCK").unwrap(),
            format!("{}/dav/files/{}/report.odt", server.url, ana.id),
        )
        .basic_auth(&ana.email, Some(&secret))
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(unlocked.status(), StatusCode::NO_CONTENT);
    let locks = gql(
        &server,
        &ana.token,
        "query($id: ID!) { fileLocks(nodeId: $id) { kind } }",
        json!({ "id": node_id }),
    )
    .await;
    assert_eq!(locks["fileLocks"], json!([]));

    // In a shared space, Bia's app lock keeps Ana's writes out with 423.
    let bia = member(&server, &ana, "bia@example.org").await;
    let family = gql(
        &server,
        &ana.token,
        "mutation { createSpace(name: \"Family\") { id } }",
        json!({}),
    )
    .await;
    let family = family["createSpace"]["id"].as_str().unwrap().to_string();
    let shared = put(&server, &ana, &family, "list.txt", b"milk").await;
    let shared_id = shared["node"]["id"].as_str().unwrap().to_string();
    let lock = gql(
        &server,
        &bia.token,
        "mutation($id: ID!) { lockFileNode(id: $id, minutes: 5, note: \"phone\") { holderId kind note } }",
        json!({ "id": shared_id }),
    )
    .await;
    assert_eq!(lock["lockFileNode"]["kind"], "APP");
    let refused = server
        .send(
            server
                .client
                .put(format!(
                    "{}/api/files/spaces/{family}/content/list.txt",
                    server.url
                ))
                .bearer_auth(&ana.token)
                .body("eggs"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::LOCKED, "{}", refused.body);
    assert_eq!(refused.code(), "locked");
    // The same space over WebDAV: the lock is reported as WebDAV's 423.
    let ana_secret = secret.clone();
    let over_dav = server
        .client
        .put(format!(
            "{}/dav/spaces/{}/{family}/list.txt",
            server.url, ana.id
        ))
        .basic_auth(&ana.email, Some(&ana_secret))
        .body("eggs")
        .send()
        .await
        .unwrap();
    assert_eq!(over_dav.status(), StatusCode::LOCKED);
    let listing = server
        .client
        .request(
            Method::from_bytes(b"PROPFIND").unwrap(),
            format!("{}/dav/spaces/{}/{family}/", server.url, ana.id),
        )
        .basic_auth(&ana.email, Some(&ana_secret))
        .header("Depth", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status().as_u16(), 207);
    assert!(listing.text().await.unwrap().contains("list.txt"));
    // Bia cannot mount Ana's personal space through the spaces URL.
    let (_, bia_secret) = app_password(&server, &bia, "bia").await;
    let foreign = server
        .client
        .request(
            Method::from_bytes(b"PROPFIND").unwrap(),
            format!("{}/dav/spaces/{}/{}/", server.url, bia.id, ana.space),
        )
        .basic_auth(&bia.email, Some(&bia_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    // Ana's own lock works as before, and Bia's releasing it lets Ana write.
    gql(
        &server,
        &bia.token,
        "mutation($id: ID!) { unlockFileNode(id: $id) }",
        json!({ "id": shared_id }),
    )
    .await;
    put(&server, &ana, &family, "list.txt", b"eggs").await;
}
