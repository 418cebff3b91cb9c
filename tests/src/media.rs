//! Helpers shared by the media suite's modules (tests/tests/media): generated images, uploads,
//! waiting for processing, rendition requests.

use std::io::Cursor as IoCursor;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{Reply, TestServer};

pub const WAIT: Duration = Duration::from_secs(10);

/// A JPEG of `w`×`h` whose pixels depend on `seed` (so different seeds give different bytes).
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

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub async fn upload(server: &TestServer, token: &str, name: &str, bytes: Vec<u8>) -> Reply {
    let form = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str("image/jpeg")
            .unwrap(),
    );
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

/// Waits until processing has settled the photo; returns it (GraphQL shape).
pub async fn settled(server: &TestServer, token: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reply = server
            .graphql(
                Some(token),
                "query($id: String!) { photo(id: $id) { id processingStatus processingError width height tags urls { original large thumb } } }",
                json!({ "id": id }),
            )
            .await;
        let photo = reply["data"]["photo"].clone();
        if photo["processingStatus"] != "pending" {
            return photo;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "photo {id} still pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn get(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = server.client.get(format!("{}{path}", server.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}
