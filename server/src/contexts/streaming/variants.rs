//! The HLS renditions an item is offered in, and the playlists that list them. Segments have a
//! fixed length (key frames are forced on its multiples), so a variant playlist is written
//! from the duration alone, before any segment exists — which lets a player seek to a late
//! segment that is then made first.

use std::fmt::Write;

use super::probe::Probe;

/// One HLS rendition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// `1080p`, `720p`, `480p`, … or `audio`.
    pub name: String,
    /// None for audio only.
    pub height: Option<u32>,
    pub video_bitrate: u32,
    pub audio_bitrate: u32,
}

impl Variant {
    pub fn bandwidth(&self) -> u32 {
        self.video_bitrate + self.audio_bitrate
    }

    /// RFC 6381 codecs: H.264 High 4.0 and AAC-LC, as the encoder is told to make them.
    pub fn codecs(&self) -> &'static str {
        if self.height.is_some() {
            "avc1.640028,mp4a.40.2"
        } else {
            "mp4a.40.2"
        }
    }
}

/// Heights offered, highest first, with their video bitrates. Nothing above 1080p: no
/// machine Tainá targets encodes 4K in real time in software.
const LADDER: &[(u32, u32)] = &[(1080, 5_000_000), (720, 2_800_000), (480, 1_200_000)];
const AUDIO_BITRATE: u32 = 128_000;
const AUDIO_ONLY_BITRATE: u32 = 192_000;

/// The renditions of `probe`'s media, at most `max_height` tall when given.
pub fn variants(probe: &Probe, max_height: Option<u32>) -> Vec<Variant> {
    let Some(video) = probe.video() else {
        return vec![Variant {
            name: "audio".into(),
            height: None,
            video_bitrate: 0,
            audio_bitrate: AUDIO_ONLY_BITRATE,
        }];
    };
    let source = video.height.unwrap_or(720);
    let limit = max_height.map_or(source, |m| m.min(source));
    let mut offered: Vec<Variant> = LADDER
        .iter()
        .filter(|(height, _)| *height <= limit)
        .map(|&(height, bitrate)| Variant {
            name: format!("{height}p"),
            height: Some(height),
            video_bitrate: bitrate,
            audio_bitrate: AUDIO_BITRATE,
        })
        .collect();
    if offered.is_empty() {
        // A small source (or limit): one rendition at its own height, kept even for x264.
        let height = (limit.max(2) / 2) * 2;
        offered.push(Variant {
            name: format!("{height}p"),
            height: Some(height),
            video_bitrate: 800_000,
            audio_bitrate: AUDIO_BITRATE,
        });
    }
    offered
}

/// The variant named `name` among `probe`'s.
pub fn find(probe: &Probe, name: &str) -> Option<Variant> {
    variants(probe, None).into_iter().find(|v| v.name == name)
}

/// Segments of a `duration_ms` item.
pub fn segment_count(duration_ms: i64, segment_seconds: u32) -> u32 {
    let length = i64::from(segment_seconds) * 1000;
    ((duration_ms.max(1) + length - 1) / length) as u32
}

/// The master playlist: one entry per variant, each URL followed by `query` (the signed token).
pub fn master_playlist(variants: &[Variant], query: &str) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for variant in variants {
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},CODECS=\"{}\"",
            variant.bandwidth(),
            variant.codecs()
        );
        if let Some(height) = variant.height {
            // 16:9 is assumed for the advertised width; the real one follows the source.
            let _ = write!(
                out,
                ",RESOLUTION={}x{height}",
                (height * 16 / 9).div_ceil(2) * 2
            );
        }
        let _ = write!(out, "\n{}/index.m3u8{query}\n", variant.name);
    }
    out
}

/// A variant's VOD playlist: every segment `segment_seconds` long but the last.
pub fn variant_playlist(duration_ms: i64, segment_seconds: u32, query: &str) -> String {
    let count = segment_count(duration_ms, segment_seconds);
    let length_ms = i64::from(segment_seconds) * 1000;
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{segment_seconds}\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    );
    for n in 0..count {
        let this_ms = (duration_ms - i64::from(n) * length_ms).clamp(1, length_ms);
        let _ = write!(
            out,
            "#EXTINF:{:.3},\n{n}.ts{query}\n",
            this_ms as f64 / 1000.0
        );
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::streaming::probe::{MediaStream, StreamKind};

    fn video(height: u32) -> Probe {
        Probe {
            container: "mkv".into(),
            duration_ms: Some(10_000),
            bitrate: None,
            streams: vec![MediaStream {
                default: true,
                width: Some(height * 16 / 9),
                height: Some(height),
                ..MediaStream::new(0, StreamKind::Video, "h264")
            }],
            tags: Default::default(),
        }
    }

    #[test]
    fn the_ladder_stops_at_the_source_and_at_1080p() {
        let names = |p: &Probe, max| -> Vec<String> {
            variants(p, max).into_iter().map(|v| v.name).collect()
        };
        assert_eq!(names(&video(2160), None), ["1080p", "720p", "480p"]);
        assert_eq!(names(&video(720), None), ["720p", "480p"]);
        assert_eq!(names(&video(2160), Some(720)), ["720p", "480p"]);
        assert_eq!(names(&video(241), None), ["240p"]);
        let mut audio = video(1);
        audio.streams.clear();
        assert_eq!(names(&audio, None), ["audio"]);
        assert_eq!(variants(&audio, None)[0].codecs(), "mp4a.40.2");
    }

    #[test]
    fn playlists_cover_the_duration_in_fixed_segments() {
        assert_eq!(segment_count(12_000, 6), 2);
        assert_eq!(segment_count(12_001, 6), 3);
        let playlist = variant_playlist(14_500, 6, "?t=x");
        assert!(playlist.starts_with("#EXTM3U\n"));
        assert!(playlist.contains("#EXT-X-TARGETDURATION:6\n"));
        assert!(playlist.contains("#EXTINF:6.000,\n0.ts?t=x\n"));
        assert!(playlist.contains("#EXTINF:2.500,\n2.ts?t=x\n"));
        assert!(playlist.ends_with("#EXT-X-ENDLIST\n"));
        let master = master_playlist(&variants(&video(720), None), "?t=x");
        assert!(master.contains("RESOLUTION=1280x720\n720p/index.m3u8?t=x\n"));
        assert!(master.contains("BANDWIDTH=2928000"));
    }
}
