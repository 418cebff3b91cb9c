//! Files over plain HTTP: a download honours Range and If-None-Match, and a folder downloads as
//! a zip stream holding its tree (empty folders too) with byte-identical files; nobody else's
//! folder is reachable.

use std::collections::BTreeMap;

use async_zip::base::read::mem::ZipFileReader;
use reqwest::StatusCode;
use serde_json::json;
use taina_tests::TestServer;

use super::support::{admin, gql, member, put};

#[tokio::test]
async fn a_file_downloads_in_ranges_and_revalidates() {
    let server = TestServer::start().await;
    let ana = admin(&server).await;
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let written = put(&server, &ana, &ana.space, "data.bin", &body).await;
    let url = format!(
        "{}/api/files/nodes/{}/content",
        server.url,
        written["node"]["id"].as_str().unwrap()
    );

    let whole = server
        .client
        .get(&url)
        .bearer_auth(&ana.token)
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    let etag = whole.headers()["etag"].clone();
    assert_eq!(whole.bytes().await.unwrap().as_ref(), body.as_slice());
    let part = server
        .client
        .get(&url)
        .bearer_auth(&ana.token)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &body[100..200]);
    let same = server
        .client
        .get(&url)
        .bearer_auth(&ana.token)
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn a_folder_downloads_as_a_zip_of_its_tree() {
    let server = TestServer::start().await;
    let ana = admin(&server).await;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    for folder in ["/docs", "/docs/sub", "/docs/empty"] {
        gql(
            &server,
            &ana.token,
            "mutation($s: ID!, $p: String!) { createFolder(spaceId: $s, path: $p) { id } }",
            json!({ "s": ana.space, "p": folder }),
        )
        .await;
    }
    put(&server, &ana, &ana.space, "docs/a.txt", b"alpha").await;
    put(&server, &ana, &ana.space, "docs/sub/big.bin", &big).await;
    put(&server, &ana, &ana.space, "outside.txt", b"not in the zip").await;
    let docs = gql(
        &server,
        &ana.token,
        "query($s: ID!) { fileNode(spaceId: $s, path: \"/docs\") { id } }",
        json!({ "s": ana.space }),
    )
    .await;
    let docs_id = docs["fileNode"]["id"].as_str().unwrap().to_string();
    let url = format!("{}/api/files/nodes/{docs_id}/zip", server.url);

    let response = server
        .client
        .get(&url)
        .bearer_auth(&ana.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("docs.zip"));
    let archive = response.bytes().await.unwrap().to_vec();
    let zip = ZipFileReader::new(archive).await.expect("a valid zip");
    let mut found = BTreeMap::new();
    for index in 0..zip.file().entries().len() {
        let entry = &zip.file().entries()[index];
        let name = entry.filename().as_str().unwrap().to_string();
        let mut bytes = Vec::new();
        if !entry.dir().unwrap() {
            let mut reader = zip.reader_with_entry(index).await.unwrap();
            reader
                .read_to_end_checked(&mut bytes)
                .await
                .expect("its CRC matches");
        }
        found.insert(name, bytes);
    }
    let names: Vec<&str> = found.keys().map(String::as_str).collect();
    assert_eq!(names, ["a.txt", "empty/", "sub/", "sub/big.bin"]);
    assert_eq!(found["a.txt"], b"alpha");
    assert_eq!(found["sub/big.bin"], big);

    // Not a folder, not hers.
    let file = gql(
        &server,
        &ana.token,
        "query($s: ID!) { fileNode(spaceId: $s, path: \"/outside.txt\") { id } }",
        json!({ "s": ana.space }),
    )
    .await;
    let of_a_file = server
        .send(
            server
                .client
                .get(format!(
                    "{}/api/files/nodes/{}/zip",
                    server.url,
                    file["fileNode"]["id"].as_str().unwrap()
                ))
                .bearer_auth(&ana.token),
        )
        .await;
    assert_eq!(
        of_a_file.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        of_a_file.body
    );
    let bia = member(&server, &ana, "bia@example.org").await;
    let foreign = server
        .send(server.client.get(&url).bearer_auth(&bia.token))
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(foreign.code(), "not_found");
}
