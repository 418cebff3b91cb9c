//! `probe` and `poster` against the real tools when they are installed, and their failure
//! modes when they are not.

use std::path::Path;
use std::process::Stdio;

use taina_imaging::{poster, probe, render_poster, tools_available, DecodeLimits, ImagingError};

#[tokio::test]
async fn missing_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.mp4");
    assert!(matches!(probe(&missing).await, Err(ImagingError::Io(_))));
    assert!(matches!(poster(&missing).await, Err(ImagingError::Io(_))));
}

#[tokio::test]
async fn non_video_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-video.mp4");
    tokio::fs::write(&path, b"just some text, not a container")
        .await
        .unwrap();
    // Without the tools this fails to spawn them, with them they refuse the file: Err either way.
    assert!(probe(&path).await.is_err());
    assert!(poster(&path).await.is_err());
}

#[tokio::test]
async fn generated_video_is_probed_and_postered() {
    if !tools_available().await {
        eprintln!("ffprobe/ffmpeg not installed: only the failure paths are tested");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("testsrc.mp4");
    generate(&path, 2).await;

    let info = probe(&path).await.unwrap();
    let duration = info.duration_ms.expect("duration");
    assert!((1900..=2100).contains(&duration), "{duration} ms");
    assert_eq!((info.width, info.height), (Some(320), Some(240)));
    assert!(info.codec.is_some());

    let jpeg = poster(&path).await.unwrap();
    assert!(jpeg.starts_with(&[0xFF, 0xD8]));
    let out = render_poster(&jpeg, DecodeLimits::default()).unwrap();
    assert_eq!((out.width, out.height), (320, 240));
}

#[tokio::test]
async fn short_video_poster_falls_back_to_the_first_frame() {
    if !tools_available().await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.mp4");
    generate(&path, 0).await;

    let jpeg = poster(&path).await.unwrap();
    assert!(image::load_from_memory(&jpeg).is_ok());
}

/// `ffmpeg -f lavfi -i testsrc=duration=N:size=320x240:rate=10` into `path`; 0 seconds means
/// half a second (shorter than the poster offset).
async fn generate(path: &Path, seconds: u32) {
    let duration = if seconds == 0 {
        "0.5".to_owned()
    } else {
        seconds.to_string()
    };
    let status = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("testsrc=duration={duration}:size=320x240:rate=10"))
        .args(["-pix_fmt", "yuv420p"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .await
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not generate the test video");
}
