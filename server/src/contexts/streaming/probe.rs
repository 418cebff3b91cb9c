//! What ffprobe says about a media file: running
//! `ffprobe -show_format -show_streams` and turning its JSON into a [`Probe`]
//! with a normalized container name and the playable streams.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::process::Command;

/// Longest stderr excerpt kept in [`ProbeError::Failed`].
const STDERR_LIMIT: usize = 500;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProbeError {
    #[error("ffprobe is not installed or not on PATH")]
    NotInstalled,
    #[error("ffprobe failed: {0}")]
    Failed(String),
    #[error("ffprobe timed out")]
    TimedOut,
    #[error("ffprobe output is malformed: {0}")]
    Malformed(String),
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Probe {
    /// Normalized container: mkv, webm, mp4, m4a, mov, avi, ts, m2ts, mpg, wmv,
    /// flv, ogg, mp3, flac, aac, opus, wav, …
    pub container: String,
    pub duration_ms: Option<i64>,
    /// Overall bits per second (`format.bit_rate`).
    pub bitrate: Option<i64>,
    pub streams: Vec<MediaStream>,
    /// `format.tags` with lower-cased keys (title, artist, album, track "3/12", …).
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    Video,
    Audio,
    Subtitle,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MediaStream {
    /// ffprobe's stream index, as ffmpeg's `-map 0:<index>` expects.
    pub index: u32,
    pub kind: StreamKind,
    pub codec: String,
    pub profile: Option<String>,
    pub language: Option<String>,
    pub title: Option<String>,
    pub default: bool,
    pub forced: bool,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frame_rate: Option<f64>,
    pub bit_depth: Option<u32>,
    pub hdr: bool,
    pub channels: Option<u32>,
    pub channel_layout: Option<String>,
    pub sample_rate: Option<u32>,
    pub bitrate: Option<i64>,
}

impl MediaStream {
    /// A stream of `kind` and `codec` with nothing else known (flags off, the rest `None`);
    /// fill in what is known with struct update syntax.
    pub fn new(index: u32, kind: StreamKind, codec: &str) -> Self {
        MediaStream {
            index,
            kind,
            codec: codec.into(),
            profile: None,
            language: None,
            title: None,
            default: false,
            forced: false,
            width: None,
            height: None,
            frame_rate: None,
            bit_depth: None,
            hdr: false,
            channels: None,
            channel_layout: None,
            sample_rate: None,
            bitrate: None,
        }
    }

    /// Text subtitles can be converted to WebVTT; the others are images.
    pub fn is_text_subtitle(&self) -> bool {
        self.kind == StreamKind::Subtitle
            && matches!(
                self.codec.as_str(),
                "subrip" | "srt" | "ass" | "ssa" | "webvtt" | "mov_text" | "text"
            )
    }
}

impl Probe {
    /// The first video stream.
    pub fn video(&self) -> Option<&MediaStream> {
        self.streams_of(StreamKind::Video).next()
    }

    pub fn audio(&self) -> impl Iterator<Item = &MediaStream> {
        self.streams_of(StreamKind::Audio)
    }

    pub fn subtitles(&self) -> impl Iterator<Item = &MediaStream> {
        self.streams_of(StreamKind::Subtitle)
    }

    /// Height of the first video stream.
    pub fn height(&self) -> Option<u32> {
        self.video().and_then(|video| video.height)
    }

    fn streams_of(&self, kind: StreamKind) -> impl Iterator<Item = &MediaStream> {
        self.streams
            .iter()
            .filter(move |stream| stream.kind == kind)
    }
}

/// Runs ffprobe on `path`, killing it when `timeout` passes.
pub async fn probe(path: &Path, timeout: Duration) -> Result<Probe, ProbeError> {
    let mut command = Command::new("ffprobe");
    command
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(argument_path(path));
    let json = run_json_command(command, timeout).await?;
    parse_probe(&json, path)
}

/// Turns ffprobe's JSON into a [`Probe`]; `path` lends its extension to the
/// container name.
pub fn parse_probe(json: &Value, path: &Path) -> Result<Probe, ProbeError> {
    let root = json
        .as_object()
        .ok_or_else(|| ProbeError::Malformed("top level is not an object".into()))?;
    let format = root
        .get("format")
        .and_then(Value::as_object)
        .ok_or_else(|| ProbeError::Malformed("no format section".into()))?;
    let format_name = format
        .get("format_name")
        .and_then(Value::as_str)
        .ok_or_else(|| ProbeError::Malformed("no format_name".into()))?;
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();

    let streams = root
        .get("streams")
        .and_then(Value::as_array)
        .map(|streams| streams.iter().filter_map(parse_stream).collect())
        .unwrap_or_default();

    Ok(Probe {
        container: normalize_container(format_name, &extension),
        duration_ms: float_field(format, "duration")
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map(|seconds| (seconds * 1000.0).round() as i64),
        bitrate: integer_field(format, "bit_rate").filter(|bitrate| *bitrate > 0),
        streams,
        tags: lowercase_tags(format),
    })
}

/// ffprobe names families, not files ("matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2"),
/// so the extension picks the member; otherwise the first name is used.
fn normalize_container(format_name: &str, extension: &str) -> String {
    let names: Vec<&str> = format_name.split(',').map(str::trim).collect();
    let has = |name: &str| names.contains(&name);
    let picked = if has("matroska") || has("webm") {
        if extension == "webm" {
            "webm"
        } else {
            "mkv"
        }
    } else if has("mov") || has("mp4") {
        match extension {
            "m4a" | "m4b" => "m4a",
            "mov" => "mov",
            "3gp" => "3gp",
            "3g2" => "3g2",
            _ => "mp4",
        }
    } else if has("mpegts") {
        if matches!(extension, "m2ts" | "mts") {
            "m2ts"
        } else {
            "ts"
        }
    } else if has("mpeg") || has("mpegvideo") {
        "mpg"
    } else if has("asf") {
        if extension == "wma" {
            "wma"
        } else {
            "wmv"
        }
    } else if has("ogg") {
        if extension == "opus" {
            "opus"
        } else {
            "ogg"
        }
    } else {
        names.first().copied().unwrap_or_default()
    };
    picked.to_string()
}

fn parse_stream(stream: &Value) -> Option<MediaStream> {
    let stream = stream.as_object()?;
    let kind = match stream.get("codec_type")?.as_str()? {
        "video" => StreamKind::Video,
        "audio" => StreamKind::Audio,
        "subtitle" => StreamKind::Subtitle,
        _ => return None,
    };
    let disposition = stream.get("disposition").and_then(Value::as_object);
    let flag = |name: &str| {
        disposition
            .and_then(|disposition| integer_field(disposition, name))
            .is_some_and(|value| value == 1)
    };
    // Cover art in music files shows up as a one-frame video stream.
    if flag("attached_pic") {
        return None;
    }
    let index = u32::try_from(integer_field(stream, "index")?).ok()?;
    let tags = lowercase_tags(stream);
    let text = |name: &str| {
        stream
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|value| !value.is_empty() && *value != "unknown")
            .map(str::to_string)
    };
    let positive = |name: &str| {
        integer_field(stream, name)
            .filter(|value| *value > 0)
            .and_then(|value| u32::try_from(value).ok())
    };
    let is_video = kind == StreamKind::Video;
    let is_audio = kind == StreamKind::Audio;

    let bit_depth = positive("bits_per_raw_sample")
        .or_else(|| {
            if is_video {
                text("pix_fmt").and_then(|pix_fmt| pixel_format_depth(&pix_fmt))
            } else {
                positive("bits_per_sample")
            }
        })
        .filter(|_| is_video || is_audio);

    Some(MediaStream {
        index,
        kind,
        codec: text("codec_name").unwrap_or_else(|| "unknown".into()),
        profile: text("profile"),
        language: tags
            .get("language")
            .filter(|language| !language.is_empty() && !language.eq_ignore_ascii_case("und"))
            .cloned(),
        title: tags.get("title").filter(|title| !title.is_empty()).cloned(),
        default: flag("default"),
        forced: flag("forced"),
        width: positive("width").filter(|_| is_video),
        height: positive("height").filter(|_| is_video),
        frame_rate: text("avg_frame_rate")
            .and_then(|rate| parse_ratio(&rate))
            .filter(|_| is_video),
        bit_depth,
        hdr: is_video && is_hdr(stream),
        channels: positive("channels").filter(|_| is_audio),
        channel_layout: text("channel_layout").filter(|_| is_audio),
        sample_rate: positive("sample_rate").filter(|_| is_audio),
        // Matroska muxers store per-stream bitrates as a "BPS" tag instead.
        bitrate: integer_field(stream, "bit_rate")
            .or_else(|| tags.get("bps").and_then(|bps| bps.trim().parse().ok()))
            .filter(|bitrate| *bitrate > 0),
    })
}

/// PQ (HDR10, HDR10+), HLG, or a Dolby Vision configuration record.
fn is_hdr(stream: &Map<String, Value>) -> bool {
    let transfer = stream.get("color_transfer").and_then(Value::as_str);
    if matches!(transfer, Some("smpte2084" | "arib-std-b67")) {
        return true;
    }
    stream
        .get("side_data_list")
        .and_then(Value::as_array)
        .is_some_and(|side_data| {
            side_data.iter().any(|entry| {
                entry.get("side_data_type").and_then(Value::as_str)
                    == Some("DOVI configuration record")
            })
        })
}

/// `yuv420p10le` → 10, `p010le` → 10, `yuv420p` → 8.
fn pixel_format_depth(pix_fmt: &str) -> Option<u32> {
    let base = pix_fmt
        .strip_suffix("le")
        .or_else(|| pix_fmt.strip_suffix("be"))
        .unwrap_or(pix_fmt);
    let digits_start = base.rfind('p')? + 1;
    let digits = &base[digits_start..];
    if digits.is_empty() {
        // Planar formats without a depth suffix are 8-bit.
        return Some(8);
    }
    digits.parse().ok().filter(|depth| (1..=32).contains(depth))
}

/// `30000/1001` → 29.97; `0/0` → None.
fn parse_ratio(ratio: &str) -> Option<f64> {
    let (numerator, denominator) = ratio.split_once('/')?;
    let numerator: f64 = numerator.trim().parse().ok()?;
    let denominator: f64 = denominator.trim().parse().ok()?;
    let value = numerator / denominator;
    (value.is_finite() && value > 0.0).then_some(value)
}

/// ffprobe writes most numbers as strings ("bit_rate": "139917").
fn integer_field(object: &Map<String, Value>, name: &str) -> Option<i64> {
    match object.get(name)? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn float_field(object: &Map<String, Value>, name: &str) -> Option<f64> {
    match object.get(name)? {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// The object's `tags`, keys lower-cased; the first spelling of a key wins.
fn lowercase_tags(object: &Map<String, Value>) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    if let Some(Value::Object(raw)) = object.get("tags") {
        for (key, value) in raw {
            let value = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                _ => continue,
            };
            tags.entry(key.to_lowercase()).or_insert(value);
        }
    }
    tags
}

/// Keeps a relative name that starts with `-` from being read as an option,
/// and one like `concat:x` from being read as a protocol.
fn argument_path(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        Path::new(".").join(path)
    }
}

/// Runs `command` and parses its stdout as JSON.
async fn run_json_command(mut command: Command, timeout: Duration) -> Result<Value, ProbeError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => ProbeError::NotInstalled,
        _ => ProbeError::Failed(error.to_string()),
    })?;
    super::tools::lower_priority(&child);
    // On timeout the child is dropped with the future, and kill_on_drop ends it.
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| ProbeError::TimedOut)?
        .map_err(|error| ProbeError::Failed(error.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        let message = if stderr.is_empty() {
            format!("exited with {}", output.status)
        } else {
            stderr.chars().take(STDERR_LIMIT).collect()
        };
        return Err(ProbeError::Failed(message));
    }
    serde_json::from_slice(&output.stdout).map_err(|error| ProbeError::Malformed(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn disposition(default: u8, forced: u8, attached_pic: u8) -> Value {
        json!({ "default": default, "dub": 0, "forced": forced, "attached_pic": attached_pic })
    }

    fn mkv_h264_aac_subrip() -> Value {
        json!({
            "streams": [
                {
                    "index": 0, "codec_name": "h264", "profile": "High", "codec_type": "video",
                    "width": 1920, "height": 1080, "pix_fmt": "yuv420p",
                    "color_transfer": "bt709",
                    "r_frame_rate": "24000/1001", "avg_frame_rate": "24000/1001",
                    "disposition": disposition(1, 0, 0),
                    "tags": { "BPS": "8000000", "DURATION": "00:42:00.000000000" }
                },
                {
                    "index": 1, "codec_name": "aac", "profile": "LC", "codec_type": "audio",
                    "sample_rate": "48000", "channels": 2, "channel_layout": "stereo",
                    "bits_per_sample": 0, "avg_frame_rate": "0/0",
                    "disposition": disposition(1, 0, 0),
                    "tags": { "language": "eng", "title": "Stereo" }
                },
                {
                    "index": 2, "codec_name": "subrip", "codec_type": "subtitle",
                    "avg_frame_rate": "0/0",
                    "disposition": disposition(0, 1, 0),
                    "tags": { "language": "por", "title": "Forçadas" }
                },
                {
                    "index": 3, "codec_name": "ttf", "codec_type": "attachment",
                    "tags": { "filename": "font.ttf" }
                }
            ],
            "format": {
                "filename": "/media/Movie (2019).mkv", "nb_streams": 4,
                "format_name": "matroska,webm", "duration": "2520.041000",
                "size": "2600000000", "bit_rate": "8253829",
                "tags": { "ENCODER": "libebml v1.4.2", "TITLE": "Movie" }
            }
        })
    }

    #[test]
    fn mkv_with_h264_aac_and_subrip() {
        let probe = parse_probe(&mkv_h264_aac_subrip(), Path::new("/media/Movie (2019).mkv"))
            .expect("valid probe");
        assert_eq!(probe.container, "mkv");
        assert_eq!(probe.duration_ms, Some(2_520_041));
        assert_eq!(probe.bitrate, Some(8_253_829));
        assert_eq!(probe.tags.get("title").map(String::as_str), Some("Movie"));
        assert_eq!(probe.streams.len(), 3, "the attachment is skipped");

        let video = probe.video().expect("video stream");
        assert_eq!(
            (video.codec.as_str(), video.width, video.height),
            ("h264", Some(1920), Some(1080))
        );
        assert_eq!(video.profile.as_deref(), Some("High"));
        assert_eq!(video.bit_depth, Some(8));
        assert!(!video.hdr);
        assert_eq!(video.bitrate, Some(8_000_000));
        let frame_rate = video.frame_rate.expect("frame rate");
        assert!((frame_rate - 23.976).abs() < 0.001);
        assert_eq!(probe.height(), Some(1080));

        let audio: Vec<_> = probe.audio().collect();
        assert_eq!(audio.len(), 1);
        assert_eq!(audio[0].codec, "aac");
        assert_eq!(audio[0].language.as_deref(), Some("eng"));
        assert_eq!(audio[0].channels, Some(2));
        assert_eq!(audio[0].channel_layout.as_deref(), Some("stereo"));
        assert_eq!(audio[0].sample_rate, Some(48000));
        assert_eq!(audio[0].frame_rate, None);
        assert_eq!(audio[0].bit_depth, None);
        assert!(audio[0].default);

        let subtitle = probe.subtitles().next().expect("subtitle stream");
        assert_eq!(subtitle.index, 2);
        assert_eq!(subtitle.language.as_deref(), Some("por"));
        assert_eq!(subtitle.title.as_deref(), Some("Forçadas"));
        assert!(subtitle.forced && !subtitle.default);
        assert!(subtitle.is_text_subtitle());
    }

    #[test]
    fn webm_extension_picks_webm() {
        let probe = parse_probe(&mkv_h264_aac_subrip(), Path::new("clip.WEBM")).expect("valid");
        assert_eq!(probe.container, "webm");
    }

    #[test]
    fn hdr10_hevc_mp4() {
        let json = json!({
            "streams": [{
                "index": 0, "codec_name": "hevc", "profile": "Main 10", "codec_type": "video",
                "width": 3840, "height": 2160, "pix_fmt": "yuv420p10le",
                "color_space": "bt2020nc", "color_transfer": "smpte2084",
                "color_primaries": "bt2020", "avg_frame_rate": "30000/1001",
                "bit_rate": "40000000",
                "disposition": disposition(1, 0, 0),
                "tags": { "language": "und", "handler_name": "VideoHandler" }
            }, {
                "index": 1, "codec_name": "eac3", "codec_type": "audio",
                "sample_rate": "48000", "channels": 6, "channel_layout": "5.1(side)",
                "bit_rate": "640000", "disposition": disposition(1, 0, 0),
                "tags": { "language": "eng" }
            }],
            "format": {
                "format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "60.060000",
                "bit_rate": "40700000", "tags": { "major_brand": "isom" }
            }
        });
        let probe = parse_probe(&json, Path::new("hdr.mp4")).expect("valid");
        assert_eq!(probe.container, "mp4");
        let video = probe.video().expect("video");
        assert!(video.hdr);
        assert_eq!(video.bit_depth, Some(10));
        assert_eq!(video.language, None, "und is no language");
        assert_eq!(video.height, Some(2160));
        assert!((video.frame_rate.unwrap_or_default() - 29.97).abs() < 0.01);
        assert_eq!(probe.audio().next().and_then(|a| a.channels), Some(6));
        assert_eq!(probe.duration_ms, Some(60_060));
    }

    #[test]
    fn dolby_vision_and_hlg_count_as_hdr() {
        let stream = |extra: Value| {
            let mut video = json!({ "index": 0, "codec_type": "video", "codec_name": "hevc" });
            if let (Some(video), Some(extra)) = (video.as_object_mut(), extra.as_object()) {
                video.extend(extra.clone());
            }
            parse_stream(&video).expect("video stream")
        };
        assert!(stream(json!({ "side_data_list": [{ "side_data_type": "DOVI configuration record", "dv_profile": 8 }] })).hdr);
        assert!(stream(json!({ "color_transfer": "arib-std-b67" })).hdr);
        assert!(!stream(json!({ "color_transfer": "bt709" })).hdr);
    }

    #[test]
    fn mp3_cover_art_is_skipped_and_tags_are_lowercased() {
        let json = json!({
            "streams": [{
                "index": 0, "codec_name": "mp3", "codec_type": "audio",
                "sample_rate": "44100", "channels": 2, "channel_layout": "stereo",
                "bit_rate": "320000", "disposition": disposition(0, 0, 0)
            }, {
                "index": 1, "codec_name": "mjpeg", "profile": "Baseline", "codec_type": "video",
                "width": 600, "height": 600, "pix_fmt": "yuvj420p",
                "avg_frame_rate": "0/0", "disposition": disposition(0, 0, 1),
                "tags": { "comment": "Cover (front)" }
            }],
            "format": {
                "format_name": "mp3", "duration": "215.640000", "bit_rate": "320512",
                "tags": {
                    "ARTIST": "Artist", "album": "Album", "track": "3/12",
                    "disc": "1/2", "date": "2001", "title": "Song"
                }
            }
        });
        let probe = parse_probe(&json, Path::new("03 Song.mp3")).expect("valid");
        assert_eq!(probe.container, "mp3");
        assert!(probe.video().is_none(), "cover art is not a video stream");
        assert_eq!(probe.streams.len(), 1);
        assert_eq!(probe.height(), None);
        assert_eq!(probe.tags.get("artist").map(String::as_str), Some("Artist"));
        assert_eq!(probe.tags.get("album").map(String::as_str), Some("Album"));
        assert_eq!(probe.tags.get("track").map(String::as_str), Some("3/12"));
        assert_eq!(probe.audio().next().and_then(|a| a.bitrate), Some(320_000));
    }

    #[test]
    fn pgs_subtitle_is_an_image_subtitle() {
        let json = json!({
            "streams": [{
                "index": 4, "codec_name": "hdmv_pgs_subtitle", "codec_type": "subtitle",
                "width": 1920, "height": 1080, "disposition": disposition(0, 0, 0),
                "tags": { "language": "eng" }
            }],
            "format": { "format_name": "mpegts", "duration": "10.0" }
        });
        let probe = parse_probe(&json, Path::new("00001.m2ts")).expect("valid");
        assert_eq!(probe.container, "m2ts");
        let pgs = probe.subtitles().next().expect("subtitle");
        assert_eq!(pgs.index, 4);
        assert!(!pgs.is_text_subtitle());
        assert_eq!(pgs.height, None, "only video streams carry a size");
        assert_eq!(probe.bitrate, None);
    }

    #[test]
    fn containers_are_normalized_by_extension() {
        let mov_family = "mov,mp4,m4a,3gp,3g2,mj2";
        assert_eq!(normalize_container(mov_family, "m4a"), "m4a");
        assert_eq!(normalize_container(mov_family, "mov"), "mov");
        assert_eq!(normalize_container(mov_family, "m4v"), "mp4");
        assert_eq!(normalize_container("mpegts", "ts"), "ts");
        assert_eq!(normalize_container("ogg", "opus"), "opus");
        assert_eq!(normalize_container("ogg", "oga"), "ogg");
        assert_eq!(normalize_container("asf", "wmv"), "wmv");
        assert_eq!(normalize_container("flac", ""), "flac");
        assert_eq!(normalize_container("avi", "avi"), "avi");
    }

    #[test]
    fn pixel_format_depths() {
        assert_eq!(pixel_format_depth("yuv420p10le"), Some(10));
        assert_eq!(pixel_format_depth("yuv422p12be"), Some(12));
        assert_eq!(pixel_format_depth("p010le"), Some(10));
        assert_eq!(pixel_format_depth("yuv420p"), Some(8));
        assert_eq!(pixel_format_depth("rgb24"), None);
    }

    #[test]
    fn malformed_json_is_an_error() {
        let path = Path::new("x.mkv");
        assert!(matches!(
            parse_probe(&json!([1, 2]), path),
            Err(ProbeError::Malformed(_))
        ));
        assert!(matches!(
            parse_probe(&json!({ "streams": [] }), path),
            Err(ProbeError::Malformed(_))
        ));
        assert!(matches!(
            parse_probe(&json!({ "format": { "duration": "1" } }), path),
            Err(ProbeError::Malformed(_))
        ));
        // Odd values inside streams are dropped, not fatal.
        let probe = parse_probe(
            &json!({ "format": { "format_name": "matroska,webm", "duration": "abc" },
                     "streams": [7, { "codec_type": "video" }, { "index": -1, "codec_type": "audio" }] }),
            path,
        )
        .expect("tolerated");
        assert!(probe.streams.is_empty());
        assert_eq!(probe.duration_ms, None);
    }

    #[test]
    fn relative_paths_cannot_pass_as_options() {
        assert_eq!(argument_path(Path::new("-i.mkv")), Path::new("./-i.mkv"));
        assert_eq!(argument_path(Path::new("/a/b.mkv")), Path::new("/a/b.mkv"));
    }

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[tokio::test]
    async fn command_errors_are_classified() {
        let long = Duration::from_secs(10);
        assert_eq!(
            run_json_command(Command::new("taina-no-such-program"), long).await,
            Err(ProbeError::NotInstalled)
        );
        assert_eq!(
            run_json_command(shell("echo '  boom  ' >&2; exit 3"), long).await,
            Err(ProbeError::Failed("boom".into()))
        );
        let long_stderr = run_json_command(
            shell("head -c 2000 /dev/zero | tr '\\0' x >&2; exit 1"),
            long,
        )
        .await;
        assert!(
            matches!(long_stderr, Err(ProbeError::Failed(message)) if message.len() == STDERR_LIMIT)
        );
        assert!(matches!(
            run_json_command(shell("echo not json"), long).await,
            Err(ProbeError::Malformed(_))
        ));
        assert_eq!(
            run_json_command(shell("echo '{\"a\":1}'"), long).await,
            Ok(json!({ "a": 1 }))
        );
    }

    #[tokio::test]
    async fn slow_command_times_out() {
        let started = std::time::Instant::now();
        let result = run_json_command(shell("sleep 5"), Duration::from_millis(200)).await;
        assert_eq!(result, Err(ProbeError::TimedOut));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn probes_a_file_made_by_ffmpeg() {
        let ffmpeg_runs = std::process::Command::new("ffmpeg")
            .arg("-version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !ffmpeg_runs {
            eprintln!("skipping: ffmpeg is not available");
            return;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("araci-probe-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("out.mkv");
        let made = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc=duration=1:size=320x240:rate=25",
            ])
            .args([
                "-f",
                "lavfi",
                "-i",
                "sine=duration=1",
                "-c:v",
                "libx264",
                "-c:a",
                "aac",
                "-shortest",
            ])
            .arg(&file)
            .stdin(Stdio::null())
            .status()
            .expect("ffmpeg runs");
        assert!(made.success(), "ffmpeg made the sample");

        let result = probe(&file, Duration::from_secs(30)).await;
        let missing = probe(&dir.join("missing.mkv"), Duration::from_secs(30)).await;
        let _ = std::fs::remove_dir_all(&dir);

        let probe = result.expect("ffprobe reads the sample");
        assert_eq!(probe.container, "mkv");
        let duration = probe.duration_ms.expect("duration");
        assert!((900..=1100).contains(&duration), "duration {duration} ms");
        let video = probe.video().expect("video stream");
        assert_eq!(video.codec, "h264");
        assert_eq!((video.width, video.height), (Some(320), Some(240)));
        assert_eq!(video.frame_rate, Some(25.0));
        assert_eq!(
            probe.audio().next().map(|audio| audio.codec.as_str()),
            Some("aac")
        );
        assert!(
            matches!(missing, Err(ProbeError::Failed(message)) if message.contains("missing.mkv"))
        );
    }
}
