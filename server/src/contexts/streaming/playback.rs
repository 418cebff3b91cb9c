//! Playback: `playbackInfo` decides how an item reaches a device (direct play, remux or
//! transcode, [`super::profile`]) and hands out signed URLs; the HTTP routes then open the
//! item's file, its remux, its HLS playlists and segments, and its subtitles as WebVTT.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use super::hls::SegmentRequest;
use super::probe::{MediaStream, Probe};
use super::profile::{self, Decision, DeviceProfile, Method};
use super::service::{StreamingService, Viewer};
use super::urls::Grant;
use super::variants::{self, Variant};
use super::{walk, Item, StreamingError, Subtitle, SubtitleSource};
use crate::contexts::auth::Principal;
use crate::ids::ItemId;
use crate::realtime::Topic;

type Result<T, E = StreamingError> = std::result::Result<T, E>;

/// How long a remux may take (a whole file copied into another container).
const REMUX_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const SUBTITLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// A subtitle track as a player sees it.
#[derive(Clone, Debug, Serialize)]
pub struct SubtitleTrack {
    #[serde(flatten)]
    pub subtitle: Subtitle,
    /// WebVTT (text tracks only).
    pub url: Option<String>,
}

/// What `playbackInfo` answers.
#[derive(Clone, Debug, Serialize)]
pub struct PlaybackInfo {
    pub item_id: ItemId,
    pub decision: Decision,
    /// What to play for the decided method: the file, its remux, or the HLS master playlist.
    pub url: String,
    /// The file as it is (HTTP Range), whatever the decision.
    pub direct_url: String,
    /// The remux, when the decision is to remux.
    pub remux_url: Option<String>,
    pub remux_container: Option<String>,
    /// HLS, always offered (a fallback for any player).
    pub hls_url: String,
    /// The socket topic that streams the file (`rendition` `original`, or `remux`).
    pub socket_topic: String,
    pub socket_rendition: Option<String>,
    pub container: String,
    pub duration_ms: Option<i64>,
    pub size_bytes: Option<u64>,
    pub audio_streams: Vec<MediaStream>,
    pub subtitles: Vec<SubtitleTrack>,
    /// Where the user stopped last time (0 when not started or played).
    pub resume_position_ms: i64,
    /// The signed token in the URLs, for clients that build URLs themselves.
    pub token: String,
    pub expires_at: chrono::DateTime<Utc>,
}

/// A remux's container for a device: the first it lists that can hold the item's codecs as
/// they are (`mkv` holds anything; WebM only VP8/VP9/AV1 with Opus/Vorbis; MPEG-TS only what
/// broadcast uses).
pub fn remux_container(profile: &DeviceProfile, probe: &Probe) -> &'static str {
    let video = probe.video().map(|v| v.codec.as_str());
    let audio: Vec<&str> = probe.audio().map(|a| a.codec.as_str()).collect();
    let all_audio = |allowed: &[&str]| audio.iter().all(|a| allowed.contains(a));
    let holds = |container: &str| match container {
        "mkv" => true,
        "webm" => {
            video.is_none_or(|v| matches!(v, "vp8" | "vp9" | "av1"))
                && all_audio(&["opus", "vorbis"])
        }
        "mp4" => {
            video.is_none_or(|v| matches!(v, "h264" | "hevc" | "av1" | "vp9" | "mpeg4"))
                && all_audio(&["aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"])
        }
        "ts" => {
            video.is_none_or(|v| matches!(v, "h264" | "hevc" | "mpeg2video"))
                && all_audio(&["aac", "mp3", "ac3", "eac3", "mp2"])
        }
        _ => false,
    };
    for listed in &profile.containers {
        let container = match listed.as_str() {
            "mp4" | "m4v" | "mov" => "mp4",
            "mkv" | "matroska" => "mkv",
            "webm" => "webm",
            "ts" | "mpegts" => "ts",
            _ => continue,
        };
        if holds(container) {
            return container;
        }
    }
    "mkv"
}

fn ffmpeg_format(container: &str) -> &'static str {
    match container {
        "mkv" => "matroska",
        "webm" => "webm",
        "ts" => "mpegts",
        _ => "mp4",
    }
}

pub fn mime_of(container: &str) -> &'static str {
    match container {
        "mp4" | "m4v" | "mov" => "video/mp4",
        "mkv" => "video/x-matroska",
        "webm" => "video/webm",
        "ts" | "m2ts" => "video/mp2t",
        "avi" => "video/x-msvideo",
        "mp3" => "audio/mpeg",
        "flac" => "audio/flac",
        "m4a" | "aac" => "audio/mp4",
        "ogg" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// An item's file on disk, ready to serve.
pub struct OpenFile {
    pub path: PathBuf,
    pub size: u64,
    pub mime: &'static str,
    /// Changes when the file does (size and modification time).
    pub etag: String,
}

impl StreamingService {
    /// `?t=<token>` granting `by` the item for `streaming.url_hours` (artwork URLs).
    pub fn signed_query(&self, by: &Principal, item: &ItemId) -> String {
        let token = self.inner.signer.sign(&Grant {
            user_id: by.user_id.clone(),
            community_id: by.community_id.clone(),
            item_id: item.clone(),
            expires_at: Utc::now() + chrono::Duration::hours(self.inner.config.url_hours as i64),
        });
        format!("?t={token}")
    }

    fn probe_of(item: &Item) -> Result<&Probe> {
        if !item.kind.is_playable() {
            return Err(StreamingError::Invalid(
                "shows, seasons and albums are not played themselves: play an episode or a track"
                    .into(),
            ));
        }
        item.probe.as_ref().ok_or(StreamingError::FileMissing)
    }

    /// The item's file on disk (checked to still be there).
    pub(super) async fn source_of(&self, item: &Item) -> Result<PathBuf> {
        let library = self
            .inner
            .store
            .library(&item.library_id)
            .await?
            .ok_or(StreamingError::NotFound)?;
        let relative = item.path.as_deref().ok_or(StreamingError::NotFound)?;
        let path = walk::resolve(std::path::Path::new(&library.path), relative)
            .ok_or(StreamingError::NotFound)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(path),
            _ => Err(StreamingError::FileMissing),
        }
    }

    /// Decides how the item plays on the device `profile` describes, and signs the URLs.
    pub async fn playback_info(
        &self,
        by: &Principal,
        item_id: &ItemId,
        profile: &serde_json::Value,
        audio_stream: Option<u32>,
        subtitle: Option<u32>,
    ) -> Result<PlaybackInfo> {
        let profile =
            profile::parse_profile(profile).map_err(|e| StreamingError::Invalid(e.to_string()))?;
        let item = self.item(by, item_id).await?;
        let probe = Self::probe_of(&item)?;
        let subtitles = item.subtitles();
        let chosen = match subtitle {
            Some(index) => Some(
                subtitles
                    .iter()
                    .find(|s| s.index == index)
                    .ok_or_else(|| StreamingError::Invalid(format!("no subtitle {index}")))?,
            ),
            None => None,
        };
        let burn_stream = chosen.and_then(|s| match s.source {
            SubtitleSource::Embedded { stream_index } if s.burn_in_only => Some(stream_index),
            _ => None,
        });
        let decision = profile::decide(probe, &profile, audio_stream, burn_stream);
        let expires_at = Utc::now() + chrono::Duration::hours(self.inner.config.url_hours as i64);
        let token = self.inner.signer.sign(&Grant {
            user_id: by.user_id.clone(),
            community_id: by.community_id.clone(),
            item_id: item.id.clone(),
            expires_at,
        });
        let base = format!("/api/streaming/items/{}", item.id);
        let direct_url = format!("{base}/file?t={token}");
        let mut hls_query = format!("?t={token}");
        if let Some(height) = decision.max_height {
            hls_query.push_str(&format!("&maxHeight={height}"));
        }
        if let Some(audio) = decision.audio_stream.filter(|_| audio_stream.is_some()) {
            hls_query.push_str(&format!("&audio={audio}"));
        }
        if let Some(burn) = decision.burn_in_subtitle {
            hls_query.push_str(&format!("&burn={burn}"));
        }
        let hls_url = format!("{base}/hls/master.m3u8{hls_query}");
        let remux = (decision.method == Method::Remux).then(|| remux_container(&profile, probe));
        let remux_url = remux.map(|c| format!("{base}/remux.{c}?t={token}"));
        let url = match decision.method {
            Method::DirectPlay => direct_url.clone(),
            Method::Remux => remux_url.clone().unwrap_or_else(|| hls_url.clone()),
            Method::Transcode => hls_url.clone(),
        };
        let resume_position_ms = self
            .inner
            .store
            .progress(&by.user_id, &item.id)
            .await?
            .filter(|p| !p.played)
            .map_or(0, |p| p.position_ms);
        let subtitles = subtitles
            .into_iter()
            .map(|subtitle| SubtitleTrack {
                url: (!subtitle.burn_in_only)
                    .then(|| format!("{base}/subtitles/{}.vtt?t={token}", subtitle.index)),
                subtitle,
            })
            .collect();
        Ok(PlaybackInfo {
            item_id: item.id.clone(),
            url,
            direct_url,
            remux_url,
            remux_container: remux.map(str::to_string),
            hls_url,
            socket_topic: Topic::item(&item.id),
            socket_rendition: match decision.method {
                Method::DirectPlay => Some("original".into()),
                Method::Remux => Some("remux".into()),
                Method::Transcode => None,
            },
            container: probe.container.clone(),
            duration_ms: item.duration_ms,
            size_bytes: item.size_bytes,
            audio_streams: probe.audio().cloned().collect(),
            subtitles,
            resume_position_ms,
            token,
            expires_at,
            decision,
        })
    }

    /// The item's file as it is.
    pub async fn open_file(&self, viewer: &Viewer<'_>, id: &ItemId) -> Result<OpenFile> {
        let item = self.item_for(viewer, id).await?;
        let probe = Self::probe_of(&item)?;
        let path = self.source_of(&item).await?;
        let meta = tokio::fs::metadata(&path).await?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis());
        Ok(OpenFile {
            path,
            size: meta.len(),
            mime: mime_of(&probe.container),
            etag: format!("\"{}-{:x}-{modified:x}\"", item.id, meta.len()),
        })
    }

    /// The item remuxed into `container` (`-c copy`: streams copied, subtitles left out), made
    /// on the first request and cached.
    pub async fn open_remux(
        &self,
        viewer: &Viewer<'_>,
        id: &ItemId,
        container: &str,
    ) -> Result<OpenFile> {
        if !matches!(container, "mp4" | "mkv" | "webm" | "ts") {
            return Err(StreamingError::NotFound);
        }
        let item = self.item_for(viewer, id).await?;
        let probe = Self::probe_of(&item)?.clone();
        let source = self.source_of(&item).await?;
        self.inner.cache.touch(&item.id);
        let target = self
            .inner
            .cache
            .item_dir(&item.id)
            .join(format!("remux.{container}"));
        let format = ffmpeg_format(container);
        self.inner
            .made
            .get(&target, |part| async move {
                let mut args: Vec<std::ffi::OsString> = vec!["-i".into(), source.into_os_string()];
                if let Some(video) = probe.video() {
                    args.extend(["-map".into(), format!("0:{}", video.index).into()]);
                }
                args.extend(
                    ["-map", "0:a?", "-c", "copy", "-sn", "-dn"]
                        .into_iter()
                        .map(Into::into),
                );
                if format == "mp4" {
                    // The index first, so a player can start before the whole file arrives.
                    args.extend(["-movflags", "+faststart"].into_iter().map(Into::into));
                }
                args.extend([
                    "-f".into(),
                    format.into(),
                    "-y".into(),
                    part.into_os_string(),
                ]);
                super::tools::ffmpeg(args, REMUX_TIMEOUT).await.map(|_| ())
            })
            .await?;
        let meta = tokio::fs::metadata(&target).await?;
        Ok(OpenFile {
            path: target,
            size: meta.len(),
            mime: mime_of(container),
            etag: format!("\"{}-remux-{:x}\"", item.id, meta.len()),
        })
    }

    /// Variants offered for the item (at most `max_height` tall).
    async fn variants_for(
        &self,
        viewer: &Viewer<'_>,
        id: &ItemId,
        max_height: Option<u32>,
    ) -> Result<(Item, Vec<Variant>)> {
        let item = self.item_for(viewer, id).await?;
        let probe = Self::probe_of(&item)?;
        let offered = variants::variants(probe, max_height);
        Ok((item, offered))
    }

    /// `master.m3u8`: each variant's playlist URL followed by `query`.
    pub async fn hls_master(
        &self,
        viewer: &Viewer<'_>,
        id: &ItemId,
        max_height: Option<u32>,
        query: &str,
    ) -> Result<String> {
        let (_, offered) = self.variants_for(viewer, id, max_height).await?;
        Ok(variants::master_playlist(&offered, query))
    }

    /// A variant's playlist: fixed-length segments over the item's duration.
    pub async fn hls_variant(
        &self,
        viewer: &Viewer<'_>,
        id: &ItemId,
        variant: &str,
        query: &str,
    ) -> Result<String> {
        let item = self.item_for(viewer, id).await?;
        let probe = Self::probe_of(&item)?;
        variants::find(probe, variant).ok_or(StreamingError::NotFound)?;
        let duration = item
            .duration_ms
            .ok_or_else(|| StreamingError::Invalid("the item's duration is unknown".into()))?;
        Ok(variants::variant_playlist(
            duration,
            self.inner.transcoder.segment_seconds(),
            query,
        ))
    }

    /// Segment `n` of a variant, transcoded first if it is not cached.
    pub async fn hls_segment(
        &self,
        viewer: &Viewer<'_>,
        id: &ItemId,
        variant: &str,
        n: u32,
        audio: Option<u32>,
        burn: Option<u32>,
    ) -> Result<PathBuf> {
        if !self.tools_available().await {
            return Err(StreamingError::ToolsMissing);
        }
        let item = self.item_for(viewer, id).await?;
        let probe = Self::probe_of(&item)?;
        let variant = variants::find(probe, variant).ok_or(StreamingError::NotFound)?;
        if audio.is_some_and(|a| !probe.audio().any(|s| s.index == a)) {
            return Err(StreamingError::Invalid("no such audio stream".into()));
        }
        if burn.is_some_and(|b| {
            !probe
                .subtitles()
                .any(|s| s.index == b && !s.is_text_subtitle())
        }) {
            return Err(StreamingError::Invalid(
                "no such image subtitle stream".into(),
            ));
        }
        let duration = item.duration_ms.ok_or(StreamingError::NotFound)?;
        let source = self.source_of(&item).await?;
        let count = variants::segment_count(duration, self.inner.transcoder.segment_seconds());
        self.inner
            .transcoder
            .segment(&SegmentRequest {
                item: &item.id,
                source: &source,
                probe,
                variant: &variant,
                audio,
                burn,
                segment: n,
                count,
            })
            .await
    }

    /// Subtitle `index` (as [`Item::subtitles`] numbers them) as WebVTT, converted by ffmpeg
    /// on the first request and cached.
    pub async fn subtitle_vtt(
        &self,
        viewer: &Viewer<'_>,
        id: &ItemId,
        index: u32,
    ) -> Result<PathBuf> {
        let item = self.item_for(viewer, id).await?;
        let subtitle = item
            .subtitles()
            .into_iter()
            .find(|s| s.index == index)
            .ok_or(StreamingError::NotFound)?;
        if subtitle.burn_in_only {
            return Err(StreamingError::Invalid(
                "an image subtitle has no text: ask playbackInfo to burn it in".into(),
            ));
        }
        let target = self
            .inner
            .cache
            .item_dir(&item.id)
            .join("subtitles")
            .join(format!("{index}.vtt"));
        let input = match &subtitle.source {
            SubtitleSource::Embedded { .. } => self.source_of(&item).await?,
            SubtitleSource::External { path } => {
                let library = self
                    .inner
                    .store
                    .library(&item.library_id)
                    .await?
                    .ok_or(StreamingError::NotFound)?;
                walk::resolve(std::path::Path::new(&library.path), path)
                    .filter(|p| p.is_file())
                    .ok_or(StreamingError::FileMissing)?
            }
        };
        self.inner.cache.touch(&item.id);
        let map = match subtitle.source {
            SubtitleSource::Embedded { stream_index } => format!("0:{stream_index}"),
            SubtitleSource::External { .. } => "0:s:0".into(),
        };
        self.inner
            .made
            .get(&target, |part| async move {
                let args: Vec<std::ffi::OsString> = vec![
                    "-i".into(),
                    input.into_os_string(),
                    "-map".into(),
                    map.into(),
                    "-c:s".into(),
                    "webvtt".into(),
                    "-f".into(),
                    "webvtt".into(),
                    "-y".into(),
                    part.into_os_string(),
                ];
                super::tools::ffmpeg(args, SUBTITLE_TIMEOUT)
                    .await
                    .map(|_| ())
            })
            .await?;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remux_goes_into_the_first_listed_container_that_holds_the_codecs() {
        let profile = |containers: &[&str]| DeviceProfile {
            containers: containers.iter().map(|c| c.to_string()).collect(),
            ..DeviceProfile::default()
        };
        let probe: Probe = serde_json::from_value(serde_json::json!({
            "container": "mkv", "duration_ms": 1000, "bitrate": null, "tags": {},
            "streams": [
                {"index": 0, "kind": "video", "codec": "h264", "profile": null, "language": null,
                 "title": null, "default": true, "forced": false, "width": 640, "height": 360,
                 "frame_rate": 25.0, "bit_depth": 8, "hdr": false, "channels": null,
                 "channel_layout": null, "sample_rate": null, "bitrate": null},
                {"index": 1, "kind": "audio", "codec": "aac", "profile": null, "language": null,
                 "title": null, "default": true, "forced": false, "width": null, "height": null,
                 "frame_rate": null, "bit_depth": null, "hdr": false, "channels": 2,
                 "channel_layout": "stereo", "sample_rate": 48000, "bitrate": null}
            ]
        }))
        .unwrap();
        // WebM cannot hold H.264: the next listed container that can.
        assert_eq!(remux_container(&profile(&["webm", "mp4"]), &probe), "mp4");
        assert_eq!(remux_container(&profile(&["avi", "ts"]), &probe), "ts");
        assert_eq!(remux_container(&profile(&["avi"]), &probe), "mkv");
        assert_eq!(mime_of("mkv"), "video/x-matroska");
    }
}
