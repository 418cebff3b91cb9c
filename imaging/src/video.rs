//! Video metadata and poster frames through the system's `ffprobe` / `ffmpeg`.
//!
//! Both tools are optional (Debian package `ffmpeg`): without them videos are still stored and
//! served, only without duration, dimensions and poster. Every run is bounded: stdin is closed,
//! and a run still going after [`TOOL_TIMEOUT`] is killed, so a hostile file can stall neither
//! the caller nor the machine.
//!
//! The files are untrusted uploads, so the tools may read only the given local file (no network
//! or other protocols, which playlist-like inputs could otherwise pull in) through the demuxers
//! of the accepted containers (MP4/QuickTime and Matroska/WebM).

use std::ffi::OsString;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::process::Command;
use tokio::time::Instant;

use crate::error::ImagingError;

/// Longest a probe or a poster extraction may take before the tool is killed.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// `-version` prints and exits at once; anything slower is a broken installation.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the poster is taken: past the first second, which is often black or a fade-in.
const POSTER_AT_SECONDS: &str = "1";

/// Input protocols the tools may open: the local file and nothing else.
const ALLOWED_PROTOCOLS: &str = "file";

/// Demuxers the tools may use. ffmpeg matches any name of a demuxer, so these cover its
/// `mov,mp4,m4a,3gp,3g2,mj2` and `matroska,webm` demuxers: exactly the accepted video types.
const ALLOWED_DEMUXERS: &str = "mov,mp4,matroska,webm";

/// How much of a tool's stderr goes into an error message.
const MAX_STDERR_CHARS: usize = 500;

/// What ffprobe tells about a video; each field is `None` when the file does not say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    /// Container duration (falling back to the video stream's), in milliseconds.
    pub duration_ms: Option<u64>,
    /// Displayed width: the coded width, swapped with the height for videos rotated by 90°.
    pub width: Option<u32>,
    /// Displayed height, see `width`.
    pub height: Option<u32>,
    /// Codec of the video stream, as ffprobe names it (`h264`, `hevc`, `vp9`, ...).
    pub codec: Option<String>,
}

/// True when both `ffprobe` and `ffmpeg` can be run (checked by running `-version`).
pub async fn tools_available() -> bool {
    let (ffprobe, ffmpeg) = tokio::join!(runs("ffprobe"), runs("ffmpeg"));
    ffprobe && ffmpeg
}

/// `ffprobe -v error -print_format json -show_format -show_streams <path>`, parsed.
pub async fn probe(path: &Path) -> Result<VideoInfo, ImagingError> {
    // A clear I/O error for a missing file instead of whatever the tool prints.
    tokio::fs::metadata(path).await?;
    let mut args = input_restrictions();
    args.extend(
        [
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ]
        .map(OsString::from),
    );
    args.push(input_url(path));
    let output = run("ffprobe", &args, Instant::now() + TOOL_TIMEOUT).await?;
    parse_probe(&output.stdout)
}

/// One JPEG frame (at 1 s, or the first frame for shorter videos) via ffmpeg, as bytes.
///
/// Both attempts share one [`TOOL_TIMEOUT`].
pub async fn poster(path: &Path) -> Result<Vec<u8>, ImagingError> {
    tokio::fs::metadata(path).await?;
    let deadline = Instant::now() + TOOL_TIMEOUT;
    // Seeking past the end of a short video is not an error for ffmpeg, it just writes nothing;
    // the first frame is the fallback then.
    if let Ok(frame) = extract_frame(path, Some(POSTER_AT_SECONDS), deadline).await {
        if !frame.is_empty() {
            return Ok(frame);
        }
    }
    let frame = extract_frame(path, None, deadline).await?;
    if frame.is_empty() {
        return Err(ImagingError::Video("no video frame to extract".to_owned()));
    }
    Ok(frame)
}

async fn extract_frame(
    path: &Path,
    at_seconds: Option<&str>,
    deadline: Instant,
) -> Result<Vec<u8>, ImagingError> {
    let mut args: Vec<OsString> = ["-hide_banner", "-nostdin", "-v", "error"]
        .map(OsString::from)
        .into();
    args.extend(input_restrictions());
    if let Some(at) = at_seconds {
        // Before `-i`: seeks in the input instead of decoding everything up to that point.
        args.extend(["-ss", at].map(OsString::from));
    }
    args.push("-i".into());
    args.push(input_url(path));
    args.extend(
        [
            // `V` (not `v`): the first real video stream, never embedded cover art.
            "-map",
            "0:V:0",
            "-frames:v",
            "1",
            "-an",
            "-sn",
            "-dn",
            "-f",
            "image2pipe",
            "-c:v",
            "mjpeg",
            "-q:v",
            "2",
            "pipe:1",
        ]
        .map(OsString::from),
    );
    Ok(run("ffmpeg", &args, deadline).await?.stdout)
}

/// Input options confining the tool to the local file and the accepted containers; they must
/// come before the input.
fn input_restrictions() -> Vec<OsString> {
    [
        "-protocol_whitelist",
        ALLOWED_PROTOCOLS,
        "-format_whitelist",
        ALLOWED_DEMUXERS,
    ]
    .map(OsString::from)
    .into()
}

/// The path as an explicit `file:` URL, so a name starting with `-` is not read as an option
/// and one containing `:` is not read as another protocol.
fn input_url(path: &Path) -> OsString {
    let mut url = OsString::from("file:");
    url.push(path.as_os_str());
    url
}

/// Whether `program -version` runs and succeeds.
async fn runs(program: &str) -> bool {
    let child = Command::new(program)
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    matches!(
        tokio::time::timeout(VERSION_TIMEOUT, child.wait()).await,
        Ok(Ok(status)) if status.success()
    )
}

/// Runs `program` with no stdin, collects its output, and kills it at `deadline`.
async fn run(program: &str, args: &[OsString], deadline: Instant) -> Result<Output, ImagingError> {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Dropping the output future on timeout drops the child, which kills it.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ImagingError::Video(format!("cannot run {program}: {e}")))?;
    let output = match tokio::time::timeout_at(deadline, child.wait_with_output()).await {
        Err(_elapsed) => {
            return Err(ImagingError::Video(format!(
                "{program} did not finish in time and was killed"
            )))
        }
        Ok(result) => result.map_err(|e| ImagingError::Video(format!("{program} failed: {e}")))?,
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr: String = stderr.trim().chars().take(MAX_STDERR_CHARS).collect();
        return Err(ImagingError::Video(format!(
            "{program} exited with {}: {stderr}",
            output.status
        )));
    }
    Ok(output)
}

/// The part of ffprobe's JSON that is used.
#[derive(Debug, Deserialize)]
struct ProbeOutput {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Debug, Deserialize)]
struct ProbeFormat {
    duration: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    duration: Option<String>,
    disposition: Option<ProbeDisposition>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
    tags: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
struct ProbeDisposition {
    #[serde(default)]
    attached_pic: u8,
}

impl ProbeStream {
    fn is_picture(&self) -> bool {
        self.codec_type.as_deref() == Some("video")
            && self
                .disposition
                .as_ref()
                .is_none_or(|d| d.attached_pic == 0)
    }

    /// Rotation in degrees: the display matrix (current ffmpeg) or the `rotate` tag (older).
    fn rotation(&self) -> Option<f64> {
        let from_side_data = self
            .side_data_list
            .iter()
            .find_map(|data| data.get("rotation").and_then(json_number));
        from_side_data.or_else(|| self.tags.as_ref()?.get("rotate").and_then(json_number))
    }
}

/// A number that ffprobe may print as a JSON number or as a string.
fn json_number(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Seconds as ffprobe prints them ("2.000000") to milliseconds.
fn seconds_to_ms(seconds: &str) -> Option<u64> {
    let seconds: f64 = seconds.trim().parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    // Durations are far below u64::MAX ms; `as` saturates anyway.
    Some((seconds * 1000.0).round() as u64)
}

fn parse_probe(json: &[u8]) -> Result<VideoInfo, ImagingError> {
    let parsed: ProbeOutput = serde_json::from_slice(json)
        .map_err(|e| ImagingError::Video(format!("unreadable ffprobe output: {e}")))?;
    let stream = parsed.streams.iter().find(|s| s.is_picture());

    let duration_ms = parsed
        .format
        .as_ref()
        .and_then(|f| f.duration.as_deref())
        .and_then(seconds_to_ms)
        .or_else(|| stream?.duration.as_deref().and_then(seconds_to_ms));

    let (mut width, mut height) = (
        stream.and_then(|s| s.width).filter(|&w| w > 0),
        stream.and_then(|s| s.height).filter(|&h| h > 0),
    );
    let quarter_turn = stream
        .and_then(ProbeStream::rotation)
        .is_some_and(|degrees| (degrees.round() as i64).rem_euclid(180) == 90);
    if quarter_turn {
        // Phones store portrait video as landscape plus a rotation; show what the viewer sees.
        std::mem::swap(&mut width, &mut height);
    }

    Ok(VideoInfo {
        duration_ms,
        width,
        height,
        codec: stream.and_then(|s| s.codec_name.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_landscape_video() {
        let json = br#"{
            "streams": [
                {"index": 0, "codec_name": "mjpeg", "codec_type": "video", "width": 600,
                 "height": 600, "disposition": {"default": 0, "attached_pic": 1}},
                {"index": 1, "codec_name": "h264", "codec_type": "video", "width": 320,
                 "height": 240, "duration": "2.000000",
                 "disposition": {"default": 1, "attached_pic": 0}},
                {"index": 2, "codec_name": "aac", "codec_type": "audio"}
            ],
            "format": {"filename": "a.mp4", "duration": "2.033000", "format_name": "mov,mp4"}
        }"#;
        let info = parse_probe(json).unwrap();
        assert_eq!(
            info,
            VideoInfo {
                duration_ms: Some(2033),
                width: Some(320),
                height: Some(240),
                codec: Some("h264".to_owned()),
            }
        );
    }

    #[test]
    fn rotated_phone_video_reports_displayed_size() {
        let json = br#"{
            "streams": [{"codec_name": "hevc", "codec_type": "video", "width": 1920,
                "height": 1080, "duration": "3.5",
                "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}],
            "format": {}
        }"#;
        let info = parse_probe(json).unwrap();
        assert_eq!((info.width, info.height), (Some(1080), Some(1920)));
        assert_eq!(info.duration_ms, Some(3500));

        let old = br#"{"streams": [{"codec_type": "video", "width": 640, "height": 480,
            "tags": {"rotate": "270"}}]}"#;
        let info = parse_probe(old).unwrap();
        assert_eq!((info.width, info.height), (Some(480), Some(640)));
        assert_eq!(info.duration_ms, None);
    }

    #[test]
    fn audio_only_and_garbage() {
        let info = parse_probe(
            br#"{"streams": [{"codec_type": "audio"}], "format": {"duration": "N/A"}}"#,
        )
        .unwrap();
        assert_eq!(
            info,
            VideoInfo {
                duration_ms: None,
                width: None,
                height: None,
                codec: None
            }
        );
        assert!(matches!(
            parse_probe(b"not json"),
            Err(ImagingError::Video(_))
        ));
    }

    #[test]
    fn input_url_protects_dash_names() {
        assert_eq!(
            input_url(Path::new("-i.mp4")),
            OsString::from("file:-i.mp4")
        );
    }

    #[tokio::test]
    async fn missing_program_is_an_error() {
        let result = run(
            "taina-imaging-no-such-tool",
            &[],
            Instant::now() + TOOL_TIMEOUT,
        )
        .await;
        assert!(matches!(result, Err(ImagingError::Video(_))));
        assert!(!runs("taina-imaging-no-such-tool").await);
    }

    #[tokio::test]
    async fn slow_program_is_killed_at_the_deadline() {
        let started = std::time::Instant::now();
        let result = run(
            "sleep",
            &[OsString::from("30")],
            Instant::now() + Duration::from_millis(200),
        )
        .await;
        assert!(matches!(result, Err(ImagingError::Video(_))));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn failing_program_reports_stderr() {
        let result = run(
            "sh",
            &["-c", "echo broken >&2; exit 3"].map(OsString::from),
            Instant::now() + TOOL_TIMEOUT,
        )
        .await;
        match result {
            Err(ImagingError::Video(message)) => assert!(message.contains("broken"), "{message}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
