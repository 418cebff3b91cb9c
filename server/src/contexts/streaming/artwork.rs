//! Artwork made from a video by ffmpeg: a poster frame (a tenth of the way in) and a thumbnail
//! strip for scrubbing (one tile per interval, 10 tiles a row, from key frames only so a long
//! film is not decoded whole; tiles past the video's end repeat its last one). Both are JPEG files under `<data_dir>/streaming/artwork/<item>/`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::tools;
use crate::ids::ItemId;

pub const POSTER: &str = "poster.jpg";
pub const STRIP: &str = "strip.jpg";
/// Tiles a strip has at most, and per row.
pub const STRIP_TILES: i64 = 100;
pub const STRIP_COLUMNS: i64 = 10;
/// Width of a strip's tile in pixels (height follows the aspect ratio).
pub const STRIP_TILE_WIDTH: u32 = 160;
const TIMEOUT: Duration = Duration::from_secs(120);

/// Where an item's artwork lives.
#[derive(Clone, Debug)]
pub struct ArtworkDir(PathBuf);

impl ArtworkDir {
    pub fn new(root: PathBuf) -> Self {
        ArtworkDir(root)
    }

    pub fn of(&self, item: &ItemId) -> PathBuf {
        self.0.join(item.as_str())
    }

    pub async fn remove(&self, item: &ItemId) {
        let _ = tokio::fs::remove_dir_all(self.of(item)).await;
    }
}

/// One tile per this many milliseconds: at most [`STRIP_TILES`] tiles, at least a second apart.
pub fn strip_interval_ms(duration_ms: i64) -> i64 {
    let per_tile = (duration_ms + STRIP_TILES - 1) / STRIP_TILES;
    per_tile.max(1_000)
}

/// Tiles a strip of a `duration_ms` video holds.
pub fn strip_tiles(duration_ms: i64) -> i64 {
    let interval = strip_interval_ms(duration_ms);
    ((duration_ms + interval - 1) / interval).clamp(1, STRIP_TILES)
}

/// Makes the poster and the strip — one ffmpeg run reading the file twice (seeking for the
/// poster, key frames for the strip), since starting ffmpeg costs about as much as the work on
/// a short file. Returns whether a poster was made and the strip's interval.
pub async fn make(video: &Path, dir: &Path, duration_ms: Option<i64>) -> (bool, Option<i64>) {
    if tokio::fs::create_dir_all(dir).await.is_err() {
        return (false, None);
    }
    let poster = dir.join(POSTER);
    let strip = dir.join(STRIP);
    let seek = format!("{:.3}", duration_ms.map_or(0, |d| d / 10) as f64 / 1000.0);
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["-ss", &seek, "-i"]);
    args.push(video.into());
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    let strip_interval = duration_ms.filter(|d| *d > 0).map(|duration_ms| {
        let interval = strip_interval_ms(duration_ms);
        (duration_ms, interval)
    });
    if strip_interval.is_some() {
        push(&["-skip_frame", "nokey", "-i"]);
        args.push(video.into());
    }
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&[
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-vf",
        "scale='min(640,iw)':-2",
        "-update",
        "1",
        "-q:v",
        "3",
        "-y",
    ]);
    args.push(poster.clone().into());
    if let Some((duration_ms, interval)) = strip_interval {
        let rows = (strip_tiles(duration_ms) + STRIP_COLUMNS - 1) / STRIP_COLUMNS;
        // Key frames only may be few (one in a short clip): the last is repeated for as long
        // as the video lasts, so the fps filter always has frames to fill every tile from.
        let filter = format!(
            "tpad=stop_mode=clone:stop_duration={:.3},fps=1000/{interval},\
             scale={STRIP_TILE_WIDTH}:-2,tile={STRIP_COLUMNS}x{rows}",
            duration_ms as f64 / 1000.0
        );
        args.extend(
            [
                "-map",
                "1:v:0",
                "-an",
                "-vf",
                &filter,
                "-frames:v",
                "1",
                "-update",
                "1",
                "-q:v",
                "4",
                "-y",
            ]
            .iter()
            .map(OsString::from),
        );
        args.push(strip.clone().into());
    }
    let _ = tools::ffmpeg(args, TIMEOUT).await;
    let made =
        |path: PathBuf| async move { tokio::fs::metadata(&path).await.is_ok_and(|m| m.len() > 0) };
    let made_poster = made(poster).await;
    let made_strip = made(strip).await;
    (
        made_poster,
        strip_interval
            .filter(|_| made_strip)
            .map(|(_, interval)| interval),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strip_holds_at_most_a_hundred_tiles_a_second_apart() {
        assert_eq!(strip_interval_ms(5_000), 1_000);
        assert_eq!(strip_tiles(5_000), 5);
        assert_eq!(strip_interval_ms(7_200_000), 72_000);
        assert_eq!(strip_tiles(7_200_000), 100);
        assert_eq!(strip_tiles(7_200_001), 100);
        assert_eq!(strip_tiles(500), 1);
    }
}
