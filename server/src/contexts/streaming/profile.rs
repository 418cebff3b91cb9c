//! What a device plays, and how an item reaches it: the device profile a
//! client sends with `playbackInfo`, its validation, and the decision between
//! direct play, remux and transcode (with the reasons for it).

use serde::Deserialize;
use serde_json::Value;

use super::probe::{MediaStream, Probe};

/// What a client device can play, as sent by the client.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceProfile {
    pub name: Option<String>,
    pub containers: Vec<String>,
    pub video_codecs: Vec<String>,
    pub audio_codecs: Vec<String>,
    #[serde(default)]
    pub max_height: Option<u32>,
    /// Bits per second the device and its network take.
    #[serde(default)]
    pub max_bitrate: Option<i64>,
    /// Plays HDR; when false, HDR sources are tone-mapped by a transcode.
    #[serde(default)]
    pub hdr: bool,
    #[serde(default)]
    pub max_audio_channels: Option<u32>,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProfileError {
    #[error("invalid device profile: {0}")]
    Invalid(String),
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The file is sent as it is.
    DirectPlay,
    /// The streams are copied into another container.
    Remux,
    /// At least one stream is re-encoded.
    Transcode,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Decision {
    pub method: Method,
    /// Every problem found, in the order of [`Reason`]'s variants.
    pub reasons: Vec<Reason>,
    pub transcode_video: bool,
    pub transcode_audio: bool,
    /// ffprobe index of the audio stream to play.
    pub audio_stream: Option<u32>,
    /// ffprobe index of an image subtitle to burn into the video.
    pub burn_in_subtitle: Option<u32>,
    /// Height to scale the video down to; `None` keeps the source height.
    pub max_height: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    ContainerNotSupported { container: String },
    VideoCodecNotSupported { codec: String },
    AudioCodecNotSupported { codec: String },
    ResolutionTooHigh { height: u32, max: u32 },
    BitrateTooHigh { bitrate: i64, max: i64 },
    HdrNotSupported,
    TooManyAudioChannels { channels: u32, max: u32 },
    SubtitleBurnIn { codec: String },
}

impl Reason {
    /// One English sentence for people reading logs or a client's info panel.
    pub fn describe(&self) -> String {
        match self {
            Reason::ContainerNotSupported { container } => {
                format!("the device does not play the {container} container")
            }
            Reason::VideoCodecNotSupported { codec } => {
                format!("the device does not play the {codec} video codec")
            }
            Reason::AudioCodecNotSupported { codec } => {
                format!("the device does not play the {codec} audio codec")
            }
            Reason::ResolutionTooHigh { height, max } => {
                format!("the video is {height} pixels high and the device takes at most {max}")
            }
            Reason::BitrateTooHigh { bitrate, max } => format!(
                "the bitrate of {} kbit/s is above the device's limit of {} kbit/s",
                bitrate / 1000,
                max / 1000
            ),
            Reason::HdrNotSupported => {
                "the video is HDR and the device does not play HDR".to_string()
            }
            Reason::TooManyAudioChannels { channels, max } => {
                format!("the audio has {channels} channels and the device takes at most {max}")
            }
            Reason::SubtitleBurnIn { codec } => {
                format!("the {codec} subtitles are images and must be burned into the video")
            }
        }
    }
}

/// Reads and validates a device profile; list entries come back trimmed and
/// lower-cased.
pub fn parse_profile(value: &Value) -> Result<DeviceProfile, ProfileError> {
    if !value.is_object() {
        return Err(ProfileError::Invalid(
            "the device profile must be a JSON object".into(),
        ));
    }
    let mut profile = DeviceProfile::deserialize(value)
        .map_err(|error| ProfileError::Invalid(error.to_string()))?;
    for (field, list) in [
        ("containers", &mut profile.containers),
        ("videoCodecs", &mut profile.video_codecs),
        ("audioCodecs", &mut profile.audio_codecs),
    ] {
        for entry in list.iter_mut() {
            *entry = entry.trim().to_lowercase();
            if entry.is_empty() {
                return Err(ProfileError::Invalid(format!(
                    "{field} contains an empty name"
                )));
            }
        }
        if list.is_empty() {
            return Err(ProfileError::Invalid(format!("{field} must not be empty")));
        }
    }
    if profile.max_height == Some(0) {
        return Err(ProfileError::Invalid("maxHeight must be above 0".into()));
    }
    if profile.max_bitrate.is_some_and(|bitrate| bitrate <= 0) {
        return Err(ProfileError::Invalid("maxBitrate must be above 0".into()));
    }
    if profile.max_audio_channels == Some(0) {
        return Err(ProfileError::Invalid(
            "maxAudioChannels must be above 0".into(),
        ));
    }
    Ok(profile)
}

/// Decides how `probe` reaches a device described by `profile`, playing the
/// audio stream `audio_index` and showing the subtitle `subtitle_index`
/// (ffprobe indexes).
pub fn decide(
    probe: &Probe,
    profile: &DeviceProfile,
    audio_index: Option<u32>,
    subtitle_index: Option<u32>,
) -> Decision {
    let video = probe.video();
    let audio = choose_audio(probe, audio_index);
    // Text subtitles are served as WebVTT beside the stream; only images need burning in.
    let burn_in = video.and(
        subtitle_index
            .and_then(|index| probe.subtitles().find(|subtitle| subtitle.index == index))
            .filter(|subtitle| !subtitle.is_text_subtitle()),
    );
    let bitrate = probe.bitrate.or_else(|| {
        let streams = probe.streams.iter().filter_map(|stream| stream.bitrate);
        Some(streams.sum::<i64>()).filter(|sum| *sum > 0)
    });

    let mut reasons = Vec::new();
    let container_supported = profile
        .containers
        .iter()
        .any(|listed| container_matches(&probe.container, listed));
    if !container_supported {
        reasons.push(Reason::ContainerNotSupported {
            container: probe.container.clone(),
        });
    }

    let mut transcode_video = false;
    let mut transcode_audio = false;
    let mut scale_to = None;

    if let Some(video) = video {
        if !lists_codec(&profile.video_codecs, &video.codec) {
            reasons.push(Reason::VideoCodecNotSupported {
                codec: video.codec.clone(),
            });
            transcode_video = true;
        }
    }
    if let Some(audio) = audio {
        if !lists_codec(&profile.audio_codecs, &audio.codec) {
            reasons.push(Reason::AudioCodecNotSupported {
                codec: audio.codec.clone(),
            });
            transcode_audio = true;
        }
    }
    if let (Some(height), Some(max)) = (video.and_then(|video| video.height), profile.max_height) {
        if height > max {
            reasons.push(Reason::ResolutionTooHigh { height, max });
            transcode_video = true;
            scale_to = Some(max);
        }
    }
    if let (Some(bitrate), Some(max)) = (bitrate, profile.max_bitrate) {
        if bitrate > max {
            reasons.push(Reason::BitrateTooHigh { bitrate, max });
            // Without video, only re-encoding the audio lowers the bitrate.
            if video.is_some() {
                transcode_video = true;
            } else if audio.is_some() {
                transcode_audio = true;
            }
        }
    }
    if video.is_some_and(|video| video.hdr) && !profile.hdr {
        reasons.push(Reason::HdrNotSupported);
        transcode_video = true;
    }
    if let (Some(channels), Some(max)) = (
        audio.and_then(|audio| audio.channels),
        profile.max_audio_channels,
    ) {
        if channels > max {
            reasons.push(Reason::TooManyAudioChannels { channels, max });
            transcode_audio = true;
        }
    }
    if let Some(subtitle) = burn_in {
        reasons.push(Reason::SubtitleBurnIn {
            codec: subtitle.codec.clone(),
        });
        transcode_video = true;
    }

    let method = if transcode_video || transcode_audio {
        Method::Transcode
    } else if !container_supported {
        Method::Remux
    } else {
        Method::DirectPlay
    };
    Decision {
        method,
        reasons,
        transcode_video,
        transcode_audio,
        audio_stream: audio.map(|audio| audio.index),
        burn_in_subtitle: burn_in.map(|subtitle| subtitle.index),
        max_height: scale_to,
    }
}

/// The requested audio stream, else the default one, else the first.
fn choose_audio(probe: &Probe, audio_index: Option<u32>) -> Option<&MediaStream> {
    audio_index
        .and_then(|index| probe.audio().find(|audio| audio.index == index))
        .or_else(|| probe.audio().find(|audio| audio.default))
        .or_else(|| probe.audio().next())
}

/// Container names clients commonly use for the names ffprobe-derived ones.
fn container_matches(source: &str, listed: &str) -> bool {
    let listed = listed.trim().to_ascii_lowercase();
    let listed = match listed.as_str() {
        "matroska" => "mkv",
        "mpegts" => "ts",
        "ogv" | "oga" => "ogg",
        other => other,
    };
    // m4a/m4v are MP4 files, and .opus files are Ogg files.
    listed == source
        || (listed == "mp4" && matches!(source, "m4a" | "m4v"))
        || (listed == "ogg" && source == "opus")
}

/// Whether `codecs` (as a client wrote them) lists ffprobe's `codec`.
fn lists_codec(codecs: &[String], codec: &str) -> bool {
    codecs
        .iter()
        .any(|listed| canonical_codec(&listed.trim().to_ascii_lowercase()) == codec)
}

/// Maps common client spellings to ffprobe codec names.
fn canonical_codec(name: &str) -> &str {
    match name {
        "h265" | "hev1" | "hvc1" => "hevc",
        "avc" | "avc1" => "h264",
        "av01" => "av1",
        "ac-3" => "ac3",
        "e-ac-3" | "ec-3" => "eac3",
        "dca" => "dts",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::super::probe::StreamKind;
    use super::*;
    use serde_json::json;

    fn stream(index: u32, kind: StreamKind, codec: &str) -> MediaStream {
        MediaStream::new(index, kind, codec)
    }

    fn video(index: u32, codec: &str, height: u32) -> MediaStream {
        MediaStream {
            width: Some(height * 16 / 9),
            height: Some(height),
            ..stream(index, StreamKind::Video, codec)
        }
    }

    fn audio(index: u32, codec: &str, channels: u32) -> MediaStream {
        MediaStream {
            channels: Some(channels),
            ..stream(index, StreamKind::Audio, codec)
        }
    }

    fn probe(container: &str, bitrate: i64, streams: Vec<MediaStream>) -> Probe {
        Probe {
            container: container.into(),
            duration_ms: Some(60_000),
            bitrate: Some(bitrate),
            streams,
            tags: Default::default(),
        }
    }

    fn profile(value: Value) -> DeviceProfile {
        match parse_profile(&value) {
            Ok(profile) => profile,
            Err(error) => panic!("{error}"),
        }
    }

    fn chrome() -> DeviceProfile {
        profile(json!({
            "name": "Chrome",
            "containers": ["mp4", "webm"],
            "videoCodecs": ["h264", "vp9", "av1"],
            "audioCodecs": ["aac", "mp3", "opus", "flac"]
        }))
    }

    fn android_tv() -> DeviceProfile {
        profile(json!({
            "name": "Android TV",
            "containers": ["mkv", "mp4", "ts"],
            "videoCodecs": ["h264", "hevc", "vp9", "av1"],
            "audioCodecs": ["aac", "ac3", "eac3", "dts"],
            "hdr": true
        }))
    }

    fn h264_aac_mkv() -> Probe {
        probe(
            "mkv",
            5_000_000,
            vec![
                video(0, "h264", 1080),
                audio(1, "aac", 2),
                stream(2, StreamKind::Subtitle, "subrip"),
                stream(3, StreamKind::Subtitle, "hdmv_pgs_subtitle"),
            ],
        )
    }

    #[test]
    fn browser_remuxes_h264_aac_mkv() {
        let decision = decide(&h264_aac_mkv(), &chrome(), None, Some(2));
        assert_eq!(decision.method, Method::Remux);
        assert_eq!(
            decision.reasons,
            vec![Reason::ContainerNotSupported {
                container: "mkv".into()
            }]
        );
        assert!(!decision.transcode_video && !decision.transcode_audio);
        assert_eq!(decision.audio_stream, Some(1));
        assert_eq!(
            decision.burn_in_subtitle, None,
            "text subtitles never burn in"
        );
    }

    #[test]
    fn browser_plays_h264_aac_mp4_directly() {
        let source = probe(
            "mp4",
            5_000_000,
            vec![video(0, "h264", 1080), audio(1, "aac", 2)],
        );
        let decision = decide(&source, &chrome(), None, None);
        assert_eq!(decision.method, Method::DirectPlay);
        assert!(decision.reasons.is_empty());
    }

    #[test]
    fn browser_transcodes_hevc_mp4() {
        let source = probe(
            "mp4",
            5_000_000,
            vec![video(0, "hevc", 1080), audio(1, "aac", 2)],
        );
        let decision = decide(&source, &chrome(), None, None);
        assert_eq!(decision.method, Method::Transcode);
        assert!(decision.transcode_video && !decision.transcode_audio);
        assert_eq!(
            decision.reasons,
            vec![Reason::VideoCodecNotSupported {
                codec: "hevc".into()
            }]
        );
        assert_eq!(decision.max_height, None);
    }

    #[test]
    fn pgs_subtitle_is_burned_in() {
        let decision = decide(&h264_aac_mkv(), &chrome(), None, Some(3));
        assert_eq!(decision.method, Method::Transcode);
        assert!(decision.transcode_video);
        assert_eq!(decision.burn_in_subtitle, Some(3));
        assert_eq!(
            decision.reasons,
            vec![
                Reason::ContainerNotSupported {
                    container: "mkv".into()
                },
                Reason::SubtitleBurnIn {
                    codec: "hdmv_pgs_subtitle".into()
                },
            ]
        );
    }

    #[test]
    fn android_tv_plays_hdr_hevc_mkv_directly() {
        let mut hevc = video(0, "hevc", 2160);
        hevc.hdr = true;
        let source = probe("mkv", 40_000_000, vec![hevc, audio(1, "eac3", 6)]);
        let decision = decide(&source, &android_tv(), None, None);
        assert_eq!(
            decision.method,
            Method::DirectPlay,
            "{:?}",
            decision.reasons
        );

        // The same file on a browser: codec and HDR both fail, container too.
        let decision = decide(&source, &chrome(), None, None);
        assert_eq!(
            decision.reasons,
            vec![
                Reason::ContainerNotSupported {
                    container: "mkv".into()
                },
                Reason::VideoCodecNotSupported {
                    codec: "hevc".into()
                },
                Reason::AudioCodecNotSupported {
                    codec: "eac3".into()
                },
                Reason::HdrNotSupported,
            ]
        );
        assert!(decision.transcode_video && decision.transcode_audio);
    }

    #[test]
    fn raspberry_pi_scales_down_2160p() {
        let kodi = profile(json!({
            "name": "Raspberry Pi 4 (Kodi)",
            "containers": ["mkv", "mp4", "ts", "avi", "mov", "webm"],
            "videoCodecs": ["h264", "hevc"],
            "audioCodecs": ["aac", "ac3", "eac3", "dts", "truehd", "mp3", "flac", "opus"],
            "maxHeight": 1080
        }));
        let source = probe(
            "mkv",
            20_000_000,
            vec![video(0, "hevc", 2160), audio(1, "ac3", 6)],
        );
        let decision = decide(&source, &kodi, None, None);
        assert_eq!(decision.method, Method::Transcode);
        assert_eq!(
            decision.reasons,
            vec![Reason::ResolutionTooHigh {
                height: 2160,
                max: 1080
            }]
        );
        assert!(decision.transcode_video && !decision.transcode_audio);
        assert_eq!(decision.max_height, Some(1080));
    }

    #[test]
    fn music_flac_is_transcoded_for_a_device_without_flac() {
        let device = profile(json!({
            "containers": ["mp3", "m4a", "flac"],
            "videoCodecs": ["h264"],
            "audioCodecs": ["mp3", "aac"]
        }));
        let source = probe("flac", 900_000, vec![audio(0, "flac", 2)]);
        let decision = decide(&source, &device, None, None);
        assert_eq!(decision.method, Method::Transcode);
        assert!(decision.transcode_audio && !decision.transcode_video);
        assert_eq!(
            decision.reasons,
            vec![Reason::AudioCodecNotSupported {
                codec: "flac".into()
            }]
        );
        // The same file plays directly where flac is known.
        assert_eq!(decide(&source, &chrome(), None, None).method, Method::Remux);
    }

    #[test]
    fn audio_only_bitrate_limit_transcodes_audio() {
        let mut device = chrome();
        device.containers.push("flac".into());
        device.max_bitrate = Some(320_000);
        let source = probe("flac", 900_000, vec![audio(0, "flac", 2)]);
        let decision = decide(&source, &device, None, None);
        assert!(decision.transcode_audio && !decision.transcode_video);
        assert_eq!(
            decision.reasons,
            vec![Reason::BitrateTooHigh {
                bitrate: 900_000,
                max: 320_000
            }]
        );
    }

    #[test]
    fn too_many_channels_transcodes_audio_only() {
        let mut device = android_tv();
        device.max_audio_channels = Some(2);
        let source = probe(
            "mkv",
            5_000_000,
            vec![video(0, "h264", 1080), audio(1, "ac3", 6)],
        );
        let decision = decide(&source, &device, None, None);
        assert_eq!(decision.method, Method::Transcode);
        assert!(decision.transcode_audio && !decision.transcode_video);
        assert_eq!(
            decision.reasons,
            vec![Reason::TooManyAudioChannels {
                channels: 6,
                max: 2
            }]
        );
    }

    #[test]
    fn bitrate_above_limit_transcodes_video() {
        let mut device = android_tv();
        device.max_bitrate = Some(8_000_000);
        let decision = decide(&h264_aac_mkv(), &device, None, None);
        assert_eq!(
            decision.method,
            Method::DirectPlay,
            "5 Mbit/s is under 8 Mbit/s"
        );
        device.max_bitrate = Some(4_000_000);
        let decision = decide(&h264_aac_mkv(), &device, None, None);
        assert_eq!(decision.method, Method::Transcode);
        assert!(decision.transcode_video && !decision.transcode_audio);
        assert_eq!(
            decision.reasons,
            vec![Reason::BitrateTooHigh {
                bitrate: 5_000_000,
                max: 4_000_000
            }]
        );
    }

    #[test]
    fn audio_stream_choice() {
        let mut commentary = audio(2, "dts", 6);
        commentary.default = true;
        let source = probe(
            "mkv",
            5_000_000,
            vec![video(0, "h264", 1080), audio(1, "aac", 2), commentary],
        );
        let device = android_tv();
        // Default disposition wins when nothing is asked for or the index is unknown.
        assert_eq!(decide(&source, &device, None, None).audio_stream, Some(2));
        assert_eq!(
            decide(&source, &device, Some(9), None).audio_stream,
            Some(2)
        );
        // A video index is not an audio stream either.
        assert_eq!(
            decide(&source, &device, Some(0), None).audio_stream,
            Some(2)
        );
        assert_eq!(
            decide(&source, &device, Some(1), None).audio_stream,
            Some(1)
        );
        // Without a default, the first audio stream.
        let plain = probe(
            "mkv",
            1,
            vec![
                video(0, "h264", 720),
                audio(4, "aac", 2),
                audio(5, "ac3", 6),
            ],
        );
        assert_eq!(decide(&plain, &device, None, None).audio_stream, Some(4));
        // The chosen stream's codec is the one checked.
        let browser = decide(&source, &chrome(), Some(1), None);
        assert!(!browser.transcode_audio);
        let browser = decide(&source, &chrome(), None, None);
        assert!(browser.transcode_audio);
    }

    #[test]
    fn client_spellings_are_accepted() {
        let device = profile(json!({
            "containers": ["MP4", "Matroska"],
            "videoCodecs": ["H265", "AVC"],
            "audioCodecs": [" E-AC-3 "]
        }));
        assert_eq!(device.containers, vec!["mp4", "matroska"]);
        let source = probe("mkv", 1, vec![video(0, "hevc", 1080), audio(1, "eac3", 6)]);
        assert_eq!(
            decide(&source, &device, None, None).method,
            Method::DirectPlay
        );
        let m4a = probe("m4a", 1, vec![audio(0, "eac3", 2)]);
        assert_eq!(decide(&m4a, &device, None, None).method, Method::DirectPlay);
    }

    #[test]
    fn profile_defaults() {
        let device = profile(json!({
            "containers": ["mp4"], "videoCodecs": ["h264"], "audioCodecs": ["aac"]
        }));
        assert!(!device.hdr);
        assert_eq!(device.max_height, None);
        assert_eq!(device.max_audio_channels, None);
    }

    #[test]
    fn invalid_profiles_name_the_problem() {
        let invalid = |value: Value| match parse_profile(&value) {
            Err(ProfileError::Invalid(message)) => message,
            Ok(profile) => panic!("accepted {profile:?}"),
        };
        assert!(invalid(json!(["mp4"])).contains("JSON object"));
        let base =
            json!({ "containers": ["mp4"], "videoCodecs": ["h264"], "audioCodecs": ["aac"] });
        let with = |key: &str, value: Value| {
            let mut object = base.clone();
            object[key] = value;
            object
        };
        assert!(invalid(with("maxFps", json!(30))).contains("unknown field `maxFps`"));
        assert!(invalid(with("containers", json!([]))).contains("containers must not be empty"));
        assert!(invalid(with("audioCodecs", json!([]))).contains("audioCodecs"));
        assert!(invalid(with("videoCodecs", json!(["h264", " "]))).contains("videoCodecs"));
        assert!(invalid(with("maxHeight", json!(0))).contains("maxHeight"));
        assert!(invalid(with("maxBitrate", json!(-5))).contains("maxBitrate"));
        assert!(invalid(with("maxAudioChannels", json!(0))).contains("maxAudioChannels"));
        assert!(invalid(with("hdr", json!("yes"))).contains("invalid type"));
        assert!(
            invalid(json!({ "containers": ["mp4"], "videoCodecs": ["h264"] }))
                .contains("audioCodecs")
        );
    }

    #[test]
    fn reasons_serialize_with_a_code_and_describe_themselves() {
        assert_eq!(
            serde_json::to_value(Reason::HdrNotSupported).ok(),
            Some(json!({ "code": "hdr_not_supported" }))
        );
        assert_eq!(
            serde_json::to_value(Reason::ResolutionTooHigh {
                height: 2160,
                max: 1080
            })
            .ok(),
            Some(json!({ "code": "resolution_too_high", "height": 2160, "max": 1080 }))
        );
        assert_eq!(
            serde_json::to_value(Method::DirectPlay).ok(),
            Some(json!("direct_play"))
        );
        assert_eq!(
            Reason::VideoCodecNotSupported {
                codec: "hevc".into()
            }
            .describe(),
            "the device does not play the hevc video codec"
        );
        assert_eq!(
            Reason::BitrateTooHigh {
                bitrate: 40_000_000,
                max: 8_000_000
            }
            .describe(),
            "the bitrate of 40000 kbit/s is above the device's limit of 8000 kbit/s"
        );
    }
}
