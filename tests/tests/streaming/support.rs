//! What the streaming suites share: media files made by ffmpeg, GraphQL, and a library
//! added and scanned.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use taina_tests::TestServer;

/// A server with 2-second HLS segments and no background scans at start.
pub async fn server() -> TestServer {
    TestServer::builder()
        .with_config(|c| {
            c.streaming.segment_seconds = 2;
            c.streaming.watch = false;
        })
        .start()
        .await
}

fn ffmpeg(args: &[&str]) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg is installed (scripts/test installs it)");
    assert!(status.success(), "ffmpeg {args:?}");
}

/// A `seconds`-long 320x240 video with a tone, in the container `path`'s extension names.
pub fn video(path: &Path, seconds: u32, codec: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let source = format!("testsrc=duration={seconds}:size=320x240:rate=25");
    let tone = format!("sine=frequency=440:duration={seconds}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &source,
        "-f",
        "lavfi",
        "-i",
        &tone,
        "-c:v",
        codec,
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        path.to_str().unwrap(),
    ]);
}

pub const SRT: &str = "1\n00:00:00,500 --> 00:00:02,000\nOlá, mundo\n";

pub async fn gql(server: &TestServer, token: &str, query: &str, variables: Value) -> Value {
    let reply = server.graphql(Some(token), query, variables).await;
    assert!(reply["errors"].is_null(), "{reply}");
    reply["data"].clone()
}

/// Adds a library through GraphQL and waits for its first scan to finish.
pub async fn library(
    server: &TestServer,
    token: &str,
    name: &str,
    dir: &Path,
    kind: &str,
) -> String {
    let added = gql(
        server,
        token,
        "mutation($n: String!, $p: String!, $k: LibraryKind!) { addLibrary(name: $n, path: $p, kind: $k) { id } }",
        json!({ "n": name, "p": dir.to_str().unwrap(), "k": kind }),
    )
    .await;
    let id = added["addLibrary"]["id"].as_str().unwrap().to_string();
    scanned(server, token, &id).await;
    id
}

pub async fn scanned(server: &TestServer, token: &str, id: &str) {
    for _ in 0..600 {
        let libraries = gql(
            server,
            token,
            "{ libraries { id scanning scannedAt } }",
            json!({}),
        )
        .await;
        let library = libraries["libraries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == id)
            .cloned()
            .unwrap();
        if library["scanning"] == false && !library["scannedAt"].is_null() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("library {id} was not scanned in 30 s");
}

/// The items at the library's top level: `(id, title)`.
pub async fn items(server: &TestServer, token: &str, library: &str) -> Vec<(String, String)> {
    let page = gql(
        server,
        token,
        "query($l: ID!) { libraryItems(libraryId: $l, first: 50) { nodes { id title kind } } }",
        json!({ "l": library }),
    )
    .await;
    page["libraryItems"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_string(),
                n["title"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn browser() -> Value {
    json!({
        "containers": ["mp4", "webm"],
        "videoCodecs": ["h264", "vp9"],
        "audioCodecs": ["aac", "opus", "mp3"]
    })
}

/// `playbackInfo` for the browser profile.
pub async fn playback(server: &TestServer, token: &str, item: &str) -> Value {
    gql(
        server,
        token,
        "query($i: ID!, $p: JSON!) { playbackInfo(itemId: $i, deviceProfile: $p) { \
         method reasons { code message } url directUrl hlsUrl remuxUrl socketTopic \
         socketRendition token resumePositionMs durationMs \
         subtitles { index language codec url burnInOnly external } } }",
        json!({ "i": item, "p": browser() }),
    )
    .await["playbackInfo"]
        .clone()
}

/// GET of a raw (non-JSON) body.
pub async fn get_bytes(
    server: &TestServer,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = server
        .client
        .get(format!("{}{path}", server.url))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// What ffprobe says of some bytes (written to a temporary file).
pub fn probe_bytes(bytes: &[u8], name: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
