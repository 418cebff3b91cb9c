//! Resumable uploads into files end to end: tus 1.0 at `/api/files/tus/` (creation, HEAD,
//! PATCH in chunks, offsets, checksums, termination, limits, owners, a cut connection and a
//! restart) and socket uploads (`upload:{id}`) opened for a space. Runs on both backends.

mod socket;
mod tus;

use serde_json::json;
use taina_tests::TestServer;

/// The caller's personal space.
pub async fn personal_space(server: &TestServer, token: &str) -> String {
    let reply = server
        .graphql(Some(token), "{ spaces { id kind } }", json!({}))
        .await;
    let spaces = reply["data"]["spaces"].as_array().expect("spaces").clone();
    spaces
        .iter()
        .find(|s| s["kind"] == "PERSONAL")
        .and_then(|s| s["id"].as_str())
        .expect("a personal space")
        .to_string()
}

/// Deterministic bytes that are not a photo.
pub fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The bytes of a stored file.
pub async fn download(server: &TestServer, token: &str, node_id: &str) -> Vec<u8> {
    let response = server
        .client
        .get(format!("{}/api/files/nodes/{node_id}/content", server.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), 200);
    response.bytes().await.expect("body").to_vec()
}
