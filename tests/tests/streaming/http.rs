//! Playback over HTTP: direct play with Range and ETag, HLS (master, variant, segments that
//! decode, a late segment first), the remux, subtitles as WebVTT, and the signed URLs'
//! refusals.

use serde_json::json;

use crate::support::{get_bytes, items, library, playback, probe_bytes, server, video, SRT};

#[tokio::test]
async fn direct_play_serves_ranges_of_the_file() {
    let server = server().await;
    let admin = server.admin().await;
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("Direto (2021).mp4");
    video(&file, 2, "libx264");
    let library = library(&server, &admin, "Filmes", root.path(), "MOVIES").await;
    let (item, _) = items(&server, &admin, &library).await.remove(0);
    let info = playback(&server, &admin, &item).await;
    assert_eq!(info["method"], "DIRECT_PLAY");
    assert_eq!(info["reasons"], json!([]));
    let url = info["url"].as_str().unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let response = server
        .client
        .get(format!("{}{url}", server.url))
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes 100-199/{}", bytes.len()).as_str()
    );
    assert_eq!(response.headers()["content-type"], "video/mp4");
    let etag = response.headers()["etag"].clone();
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[100..200]);
    let again = server
        .client
        .get(format!("{}{url}", server.url))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let beyond = server
        .client
        .get(format!("{}{url}", server.url))
        .header("range", format!("bytes={}-", bytes.len() + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 416);
    // A bearer token works without `t`; no token, a forged one or another item's is refused.
    let direct = format!("/api/streaming/items/{item}/file");
    assert_eq!(server.get(&direct, Some(&admin)).await.status, 200);
    let missing = server.get(&direct, None).await;
    assert_eq!(
        (missing.status.as_u16(), missing.code()),
        (401, "missing_token")
    );
    let token = info["token"].as_str().unwrap();
    let forged = server
        .get(&format!("{direct}?t={}x", &token[..token.len() - 1]), None)
        .await;
    assert_eq!(
        (forged.status.as_u16(), forged.code()),
        (401, "invalid_token")
    );
    let elsewhere = server
        .get(
            &format!("/api/streaming/items/{library}/file?t={token}"),
            None,
        )
        .await;
    assert_eq!(elsewhere.status.as_u16(), 401);
    // The file vanishes from disk: 410 media_missing, nothing else affected.
    std::fs::remove_file(&file).unwrap();
    let gone = server.get(&direct, Some(&admin)).await;
    assert_eq!((gone.status.as_u16(), gone.code()), (410, "media_missing"));
}

#[tokio::test]
async fn hls_playlists_list_segments_that_decode_and_seeking_starts_late() {
    let server = server().await;
    let admin = server.admin().await;
    let root = tempfile::tempdir().unwrap();
    video(&root.path().join("Longo (2022).mkv"), 9, "libx265");
    let library = library(&server, &admin, "Filmes", root.path(), "MOVIES").await;
    let (item, _) = items(&server, &admin, &library).await.remove(0);
    let info = playback(&server, &admin, &item).await;
    assert_eq!(info["method"], "TRANSCODE");
    assert_eq!(info["reasons"][0]["code"], "container_not_supported");
    assert_eq!(info["reasons"][1]["code"], "video_codec_not_supported");
    let master_url = info["url"].as_str().unwrap();
    assert!(master_url.starts_with(&format!("/api/streaming/items/{item}/hls/master.m3u8?t=")));
    let (status, headers, master) = get_bytes(&server, master_url).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/vnd.apple.mpegurl");
    let master = String::from_utf8(master).unwrap();
    assert!(master.starts_with("#EXTM3U\n"), "{master}");
    let variant_line = master
        .lines()
        .find(|l| l.starts_with("240p/index.m3u8?t="))
        .expect("a 240p variant");
    let base = format!("/api/streaming/items/{item}/hls/");
    let (_, _, playlist) = get_bytes(&server, &format!("{base}{variant_line}")).await;
    let playlist = String::from_utf8(playlist).unwrap();
    assert!(
        playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD") && playlist.ends_with("#EXT-X-ENDLIST\n")
    );
    let segments: Vec<&str> = playlist.lines().filter(|l| l.contains(".ts?t=")).collect();
    assert_eq!(segments.len(), 5, "{playlist}");
    // The last segment first, as a seek does: it decodes and sits 8 s in.
    let (status, headers, last) = get_bytes(&server, &format!("{base}240p/{}", segments[4])).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&last));
    assert_eq!(headers["content-type"], "video/mp2t");
    let probed = probe_bytes(&last, "4.ts");
    let start: f64 = probed["format"]["start_time"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((8.0..10.0).contains(&start), "segment 4 starts at {start}");
    let codecs: Vec<_> = probed["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(codecs, ["h264", "aac"]);
    assert!(
        !server
            .data_dir
            .path()
            .join(format!("streaming/cache/{item}/240p/0.ts"))
            .exists(),
        "seeking did not transcode from the start"
    );
    for segment in &segments[..4] {
        let (status, _, bytes) = get_bytes(&server, &format!("{base}240p/{segment}")).await;
        assert_eq!(status, 200);
        assert_eq!(probe_bytes(&bytes, "s.ts")["streams"][0]["height"], 240);
    }
    let past = server
        .get(
            &format!("{base}240p/5.ts?t={}", info["token"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(past.status.as_u16(), 404);
}

#[tokio::test]
async fn remux_and_subtitles_are_made_on_request() {
    let server = server().await;
    let admin = server.admin().await;
    let root = tempfile::tempdir().unwrap();
    video(&root.path().join("Legendado (2020).mkv"), 3, "libx264");
    std::fs::write(root.path().join("Legendado (2020).pt-BR.srt"), SRT).unwrap();
    let library = library(&server, &admin, "Filmes", root.path(), "MOVIES").await;
    let (item, _) = items(&server, &admin, &library).await.remove(0);
    let info = playback(&server, &admin, &item).await;
    assert_eq!(info["method"], "REMUX");
    assert_eq!(info["socketRendition"], "remux");
    let (status, headers, remuxed) = get_bytes(&server, info["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "video/mp4");
    let probed = probe_bytes(&remuxed, "remux.mp4");
    assert!(probed["format"]["format_name"]
        .as_str()
        .unwrap()
        .contains("mp4"));
    assert_eq!(probed["streams"][0]["codec_name"], "h264");
    let subtitle = &info["subtitles"][0];
    assert_eq!(subtitle["language"], "pt-BR");
    let (status, headers, vtt) = get_bytes(&server, subtitle["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/vtt; charset=utf-8");
    let vtt = String::from_utf8(vtt).unwrap();
    assert!(
        vtt.starts_with("WEBVTT") && vtt.contains("Olá, mundo"),
        "{vtt}"
    );
    let token = info["token"].as_str().unwrap();
    let missing = server
        .get(
            &format!("/api/streaming/items/{item}/subtitles/7.vtt?t={token}"),
            None,
        )
        .await;
    assert_eq!(missing.status.as_u16(), 404);
    let odd = server
        .get(
            &format!("/api/streaming/items/{item}/remux.avi?t={token}"),
            None,
        )
        .await;
    assert_eq!(odd.status.as_u16(), 404);
}
