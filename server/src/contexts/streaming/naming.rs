//! What a media file's path says: titles, years, seasons, episodes and track
//! numbers read from library-relative paths, plus the sidecar files found next
//! to media (external `.srt`/`.vtt` subtitles and Kodi `.nfo` files).
//!
//! Everything here is pure string work on paths; nothing touches the disk.
//! Tags read by ffprobe later take precedence over what is parsed here.

use std::path::{Component, Path};

use super::model::LibraryKind;

/// What a path says about the media it names.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Movie {
        title: String,
        year: Option<i32>,
    },
    Episode {
        show: String,
        season: u32,
        episode: u32,
        episode_end: Option<u32>,
        title: Option<String>,
        year: Option<i32>,
    },
    Track {
        artist: Option<String>,
        album: Option<String>,
        disc: Option<u32>,
        number: Option<u32>,
        title: String,
    },
    Video {
        title: String,
        year: Option<i32>,
    },
}

/// Whether a file is played as video or audio, judged by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaClass {
    Video,
    Audio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtitleFormat {
    Srt,
    Vtt,
}

/// An external subtitle file that belongs to a media file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarSubtitle {
    pub format: SubtitleFormat,
    /// Language code as written, normalized to `en`, `por`, `pt-BR`.
    pub language: Option<String>,
    pub forced: bool,
    /// Subtitles for the deaf and hard of hearing (`sdh`, `cc`, `hi`).
    pub sdh: bool,
}

/// The few fields of a Kodi `.nfo` file the library uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nfo {
    pub title: Option<String>,
    pub year: Option<i32>,
    pub plot: Option<String>,
    pub season: Option<u32>,
    pub episode: Option<u32>,
}

const VIDEO_EXTENSIONS: &[&str] = &[
    "mkv", "mp4", "m4v", "mov", "avi", "webm", "ts", "m2ts", "mpg", "mpeg", "wmv", "flv", "ogv",
    "3gp",
];
const AUDIO_EXTENSIONS: &[&str] = &[
    "mp3", "flac", "m4a", "aac", "ogg", "oga", "opus", "wav", "wma", "alac", "aiff", "ape", "wv",
];

/// Words that end a title in release-style names (`Movie.2019.1080p.BluRay.x264`).
const RELEASE_TAGS: &[&str] = &[
    "480p", "576p", "720p", "1080p", "1080i", "2160p", "4k", "uhd", "bluray", "blu-ray", "bdrip",
    "brrip", "bdremux", "remux", "web-dl", "webdl", "webrip", "hdtv", "dvdrip", "hdrip", "x264",
    "x265", "h264", "h265", "hevc", "xvid", "hdr", "hdr10", "hdr10+", "10bit", "proper", "repack",
];

/// File names that say nothing about the movie, so its folder names it instead.
const GENERIC_MOVIE_NAMES: &[&str] = &["movie", "film", "feature", "video"];

/// Reads what `relative` (a path below the library root) says, according to
/// the kind of library it lives in.
pub fn parse(kind: LibraryKind, relative: &Path) -> Parsed {
    let mut names: Vec<String> = relative
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let file_name = names.pop().unwrap_or_default();
    let stem = Path::new(&file_name)
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folders = names;

    match kind {
        LibraryKind::Movies => parse_movie(&folders, &stem),
        LibraryKind::Shows => parse_episode(&folders, &stem),
        LibraryKind::Music => parse_track(&folders, &stem),
        LibraryKind::Videos => parse_home_video(&folders, &stem),
    }
}

/// Classifies a file by its extension (case-insensitive); `None` for anything
/// that is not playable media.
pub fn is_media_file(path: &Path) -> Option<MediaClass> {
    let extension = lowercase_extension(path)?;
    if VIDEO_EXTENSIONS.contains(&extension.as_str()) {
        Some(MediaClass::Video)
    } else if AUDIO_EXTENSIONS.contains(&extension.as_str()) {
        Some(MediaClass::Audio)
    } else {
        None
    }
}

/// Returns what `candidate` says about itself when it is an external subtitle
/// of `media`: same folder, `.srt`/`.vtt`, and a name of the form
/// `<media stem>.<language>.<flags>.<ext>` (every middle part optional).
///
/// A subtitle also matches a media file whose stem is a prefix of another's
/// (`Movie.mkv` and `Movie.Extended.mkv`); callers holding both should prefer
/// the longer stem.
pub fn sidecar_subtitle(media: &Path, candidate: &Path) -> Option<SidecarSubtitle> {
    if media.parent() != candidate.parent() {
        return None;
    }
    let format = match lowercase_extension(candidate)?.as_str() {
        "srt" => SubtitleFormat::Srt,
        "vtt" => SubtitleFormat::Vtt,
        _ => return None,
    };
    let media_stem = media.file_stem()?.to_str()?;
    let candidate_name = candidate.file_name()?.to_str()?;
    let after_stem = strip_prefix_ignore_ascii_case(candidate_name, media_stem)?;
    let after_dot = after_stem.strip_prefix('.')?;
    // What sits between the stem and the extension: "pt-BR.forced" or "".
    let middle = after_dot.rsplit_once('.').map_or("", |(middle, _)| middle);

    let mut subtitle = SidecarSubtitle {
        format,
        language: None,
        forced: false,
        sdh: false,
    };
    for part in middle.split('.') {
        match part.to_ascii_lowercase().as_str() {
            "forced" | "foreign" => subtitle.forced = true,
            "sdh" | "cc" | "hi" => subtitle.sdh = true,
            _ if subtitle.language.is_none() => subtitle.language = language_code(part),
            _ => {}
        }
    }
    Some(subtitle)
}

/// True when `candidate` is `<media stem>.nfo` in the media's folder.
/// (`movie.nfo` and `tvshow.nfo` are the caller's business.)
pub fn is_nfo_of(media: &Path, candidate: &Path) -> bool {
    media != candidate
        && media.parent() == candidate.parent()
        && lowercase_extension(candidate).as_deref() == Some("nfo")
        && media.file_stem().is_some()
        && media.file_stem() == candidate.file_stem()
}

/// Reads a Kodi `.nfo` (`<movie>`, `<episodedetails>`, `<tvshow>`). The
/// extractor is deliberately tolerant: it looks for the first `<tag>…</tag>`
/// of each field and gives `None` for anything missing or malformed.
pub fn parse_nfo(xml: &str) -> Nfo {
    let year = element_text(xml, "year")
        .and_then(|text| year_value(text.trim()))
        .or_else(|| {
            // Many scrapers write only the release date.
            ["premiered", "aired"]
                .iter()
                .filter_map(|tag| element_text(xml, tag))
                .find_map(|date| date.get(..4).and_then(year_value))
        });
    Nfo {
        title: element_text(xml, "title"),
        year,
        plot: element_text(xml, "plot"),
        season: element_text(xml, "season").and_then(|text| text.trim().parse().ok()),
        episode: element_text(xml, "episode").and_then(|text| text.trim().parse().ok()),
    }
}

// ---------------------------------------------------------------------------
// Movies

fn parse_movie(folders: &[String], stem: &str) -> Parsed {
    let (title, year) = split_title_year(stem);
    let generic = GENERIC_MOVIE_NAMES.contains(&title.to_lowercase().as_str());
    if let Some(folder) = folders.last() {
        let (folder_title, folder_year) = split_title_year(folder);
        let folder_knows_more =
            generic || title.is_empty() || (year.is_none() && folder_year.is_some());
        if folder_knows_more && !folder_title.is_empty() {
            return Parsed::Movie {
                title: folder_title,
                year: folder_year,
            };
        }
    }
    let title = if title.is_empty() {
        clean_title(stem)
    } else {
        title
    };
    Parsed::Movie { title, year }
}

/// Splits a movie-style name into a title and a year: `Movie (2019)`,
/// `Movie [2019]`, `Movie.2019.1080p.BluRay`. A title may itself be a number
/// (`1917 (2019)`), so a bare first word is never taken as the year.
fn split_title_year(name: &str) -> (String, Option<i32>) {
    let normalized = normalize_separators(name);
    if let Some((start, year)) = last_bracketed_year(&normalized) {
        let title = clean_title(&cut_at_release_tag(&normalized[..start]));
        if !title.is_empty() {
            return (title, Some(year));
        }
    }

    let words: Vec<&str> = normalized.split_whitespace().collect();
    let tags_start = words
        .iter()
        .position(|word| is_release_tag(word))
        .unwrap_or(words.len());
    let year_position = (1..tags_start)
        .rev()
        .find(|&position| year_value(trim_brackets(words[position])).is_some());
    let (title_words, year) = match year_position {
        Some(position) => (
            &words[..position],
            year_value(trim_brackets(words[position])),
        ),
        None => (&words[..tags_start], None),
    };
    let title = clean_title(&title_words.join(" "));
    if title.is_empty() {
        (clean_title(&normalized), None)
    } else {
        (title, year)
    }
}

/// Finds the last `(yyyy)` or `[yyyy]` holding a plausible year; returns the
/// byte offset of its opening bracket and the year.
fn last_bracketed_year(text: &str) -> Option<(usize, i32)> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5)).rev().find_map(|start| {
        let closing = match bytes[start] {
            b'(' => b')',
            b'[' => b']',
            _ => return None,
        };
        if bytes[start + 5] != closing {
            return None;
        }
        let year = year_value(text.get(start + 1..start + 5)?)?;
        Some((start, year))
    })
}

// ---------------------------------------------------------------------------
// Shows

struct EpisodeMarker {
    /// Byte range of the marker (`S01E02-E03`) inside the searched text.
    start: usize,
    end: usize,
    season: u32,
    episode: u32,
    episode_end: Option<u32>,
}

fn parse_episode(folders: &[String], stem: &str) -> Parsed {
    // The top folder names the show, unless the files sit directly in season folders.
    let show_folder = folders
        .first()
        .filter(|folder| season_from_folder(folder).is_none())
        .map(|folder| split_title_year(folder));
    let (folder_show, folder_year) = match show_folder {
        Some((show, year)) if !show.is_empty() => (Some(show), year),
        _ => (None, None),
    };
    let normalized = normalize_separators(stem);

    if let Some(marker) = find_episode_marker(&normalized) {
        let (file_show, file_year) = split_title_year(&normalized[..marker.start]);
        let show = folder_show
            .clone()
            .or_else(|| Some(file_show).filter(|show| !show.is_empty()));
        if let Some(show) = show {
            return Parsed::Episode {
                show,
                season: marker.season,
                episode: marker.episode,
                episode_end: marker.episode_end,
                title: non_empty(clean_title(&cut_at_release_tag(&normalized[marker.end..]))),
                year: folder_year.or(file_year),
            };
        }
    }

    // `Show/Season 2/03 - Title.mkv`: the folder gives the season, the name the episode.
    let season = folders
        .last()
        .filter(|_| folders.len() >= 2)
        .and_then(|folder| season_from_folder(folder));
    if let (Some(show), Some(season), Some((episode, rest))) =
        (folder_show, season, leading_episode_number(&normalized))
    {
        return Parsed::Episode {
            show,
            season,
            episode,
            episode_end: None,
            title: non_empty(clean_title(&cut_at_release_tag(rest))),
            year: folder_year,
        };
    }

    parse_home_video(&[], stem)
}

/// Finds `S01E02`, `s1e2`, `S01E02-E03`, `S01E02E03`, `S01E02-03` or `1x02`
/// standing as its own word.
fn find_episode_marker(text: &str) -> Option<EpisodeMarker> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|start| {
        if start > 0 && is_word_byte(bytes[start - 1]) {
            return None;
        }
        season_episode_marker(bytes, start).or_else(|| cross_marker(bytes, start))
    })
}

fn season_episode_marker(bytes: &[u8], start: usize) -> Option<EpisodeMarker> {
    if !matches!(bytes.get(start), Some(b's' | b'S')) {
        return None;
    }
    let (season, after_season) = read_number(bytes, start + 1, 4)?;
    if !matches!(bytes.get(after_season), Some(b'e' | b'E')) {
        return None;
    }
    let (episode, mut end) = read_number(bytes, after_season + 1, 3)?;
    let mut episode_end = None;
    // Multi-episode suffixes, taken only when a word boundary follows them.
    loop {
        let suffix_start = match bytes.get(end) {
            Some(b'-') if matches!(bytes.get(end + 1), Some(b'e' | b'E')) => end + 2,
            Some(b'-') => end + 1,
            Some(b'e' | b'E') => end + 1,
            _ => break,
        };
        match read_number(bytes, suffix_start, 3) {
            Some((last, suffix_end)) if last > episode && !is_word_byte_at(bytes, suffix_end) => {
                episode_end = Some(last);
                end = suffix_end;
            }
            _ => break,
        }
    }
    if is_word_byte_at(bytes, end) {
        return None;
    }
    Some(EpisodeMarker {
        start,
        end,
        season,
        episode,
        episode_end,
    })
}

/// `1x02`: at most two season digits and at least two episode digits, so that
/// sizes like `1920x1080` never match.
fn cross_marker(bytes: &[u8], start: usize) -> Option<EpisodeMarker> {
    let (season, after_season) = read_number(bytes, start, 2)?;
    if !matches!(bytes.get(after_season), Some(b'x' | b'X')) {
        return None;
    }
    let (episode, end) = read_number(bytes, after_season + 1, 3)?;
    if end - (after_season + 1) < 2 || is_word_byte_at(bytes, end) {
        return None;
    }
    Some(EpisodeMarker {
        start,
        end,
        season,
        episode,
        episode_end: None,
    })
}

/// `Season 1`, `Season 01`, `S01`, `Specials` (season 0).
fn season_from_folder(name: &str) -> Option<u32> {
    let lower = normalize_separators(name).trim().to_ascii_lowercase();
    if lower == "specials" || lower == "special" {
        return Some(0);
    }
    let digits = lower
        .strip_prefix("season")
        .map(|rest| rest.trim_start_matches([' ', '-']))
        .or_else(|| lower.strip_prefix('s'))?;
    let (season, end) = read_number(digits.as_bytes(), 0, 4)?;
    (!is_word_byte_at(digits.as_bytes(), end)).then_some(season)
}

/// `03 - Title`, `03. Title`, `Episode 3`, `Ep 3`, `E03 Title` → (3, rest).
fn leading_episode_number(text: &str) -> Option<(u32, &str)> {
    let text = text.trim_start();
    let lower = text.to_ascii_lowercase();
    let number_start = ["episode", "ep", "e", ""].iter().find_map(|prefix| {
        let rest = lower.strip_prefix(prefix)?;
        let skipped = rest.len() - rest.trim_start_matches([' ', '.']).len();
        let start = prefix.len() + skipped;
        lower
            .as_bytes()
            .get(start)?
            .is_ascii_digit()
            .then_some(start)
    })?;
    let (episode, end) = read_number(text.as_bytes(), number_start, 3)?;
    if is_word_byte_at(text.as_bytes(), end) {
        return None;
    }
    Some((episode, &text[end..]))
}

// ---------------------------------------------------------------------------
// Music

fn parse_track(folders: &[String], stem: &str) -> Parsed {
    let mut folders: Vec<&str> = folders.iter().map(String::as_str).collect();
    let mut disc = folders.last().and_then(|folder| disc_from_folder(folder));
    if disc.is_some() {
        folders.pop();
    }
    let (mut artist, album) = match folders.as_slice() {
        [] => (None, None),
        [folder] => match folder.split_once(" - ") {
            Some((artist, album)) => (non_empty(clean_title(artist)), album_name(album)),
            None => (None, album_name(folder)),
        },
        [.., artist, album] => (non_empty(clean_title(artist)), album_name(album)),
    };

    let normalized = normalize_separators(stem);
    let mut number = None;
    let mut rest = normalized.as_str();
    if let Some((file_disc, file_number, after)) = disc_track_prefix(&normalized) {
        disc = Some(file_disc);
        number = Some(file_number);
        rest = after;
    } else if let Some((file_number, after)) = track_number_prefix(&normalized) {
        number = Some(file_number);
        rest = after;
    }
    let rest = rest.trim_start_matches([' ', '.', '-', '_']);

    // `Artist - Title` in the name: believed when no folder names the artist,
    // or when it repeats the folder's artist (titles may contain " - " too).
    let mut title = rest;
    if let Some((named_artist, named_title)) = rest.split_once(" - ") {
        let named_artist = clean_title(named_artist);
        match &artist {
            None if !named_artist.is_empty() => {
                artist = Some(named_artist);
                title = named_title;
            }
            Some(known) if known.to_lowercase() == named_artist.to_lowercase() => {
                title = named_title;
            }
            _ => {}
        }
    }
    let title = non_empty(clean_title(title))
        .or_else(|| non_empty(clean_title(&normalized)))
        .unwrap_or_else(|| stem.to_string());

    Parsed::Track {
        artist,
        album,
        disc,
        number,
        title,
    }
}

/// `Disc 2`, `Disc2`, `CD 2`, `CD2`.
fn disc_from_folder(name: &str) -> Option<u32> {
    let lower = name.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("disc")
        .or_else(|| lower.strip_prefix("disk"))
        .or_else(|| lower.strip_prefix("cd"))?;
    let digits = rest.trim_start_matches([' ', '_', '-', '.']);
    let (disc, end) = read_number(digits.as_bytes(), 0, 3)?;
    (end == digits.len()).then_some(disc)
}

/// An album folder name without its year: `Album (2001)`, `2001 - Album`.
fn album_name(folder: &str) -> Option<String> {
    let mut name = folder.trim();
    if let Some((start, _)) = last_bracketed_year(name) {
        if start > 0 {
            name = &name[..start];
        }
    }
    if let Some((leading, rest)) = name.split_once(" - ") {
        if year_value(leading.trim()).is_some() && !rest.trim().is_empty() {
            name = rest;
        }
    }
    non_empty(clean_title(name))
}

/// `1-03 Title` → (disc 1, track 3, " Title").
fn disc_track_prefix(text: &str) -> Option<(u32, u32, &str)> {
    let bytes = text.as_bytes();
    let (disc, after_disc) = read_number(bytes, 0, 2)?;
    if bytes.get(after_disc) != Some(&b'-') {
        return None;
    }
    let (track, end) = read_number(bytes, after_disc + 1, 3)?;
    if is_word_byte_at(bytes, end) {
        return None;
    }
    Some((disc, track, &text[end..]))
}

/// `01 - Title`, `01. Title`, `03 Title` → (track, rest).
fn track_number_prefix(text: &str) -> Option<(u32, &str)> {
    let bytes = text.as_bytes();
    let (track, end) = read_number(bytes, 0, 3)?;
    if is_word_byte_at(bytes, end) || end == bytes.len() {
        return None;
    }
    Some((track, &text[end..]))
}

// ---------------------------------------------------------------------------
// Home videos

fn parse_home_video(folders: &[String], stem: &str) -> Parsed {
    let title =
        non_empty(clean_title(&normalize_separators(stem))).unwrap_or_else(|| stem.to_string());
    let year =
        first_year(stem).or_else(|| folders.iter().rev().find_map(|folder| first_year(folder)));
    Parsed::Video { title, year }
}

/// The first run of exactly four digits that is a plausible year
/// (`2019-07 Beach` → 2019; `IMG_20190704` has none).
fn first_year(text: &str) -> Option<i32> {
    let bytes = text.as_bytes();
    let mut position = 0;
    while position < bytes.len() {
        if !bytes[position].is_ascii_digit() {
            position += 1;
            continue;
        }
        let run_end = position
            + bytes[position..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
        // `1920x1080` is a frame size, not a year.
        let touches_letter = (position > 0 && bytes[position - 1].is_ascii_alphabetic())
            || bytes.get(run_end).is_some_and(u8::is_ascii_alphabetic);
        if run_end - position == 4 && !touches_letter {
            if let Some(year) = year_value(&text[position..run_end]) {
                return Some(year);
            }
        }
        position = run_end;
    }
    None
}

// ---------------------------------------------------------------------------
// Shared text helpers

/// Release-style names use dots or underscores for spaces; a name that already
/// has spaces keeps its dots (`Mr. Robot`).
fn normalize_separators(name: &str) -> String {
    if name.contains(' ') {
        name.replace('_', " ")
    } else {
        name.replace(['_', '.'], " ")
    }
}

/// Collapses whitespace and trims separators, keeping case and accents.
fn clean_title(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .trim_matches([' ', '-', '_', '.'])
        .trim()
        .to_string()
}

fn cut_at_release_tag(text: &str) -> String {
    text.split_whitespace()
        .take_while(|word| !is_release_tag(word))
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_release_tag(word: &str) -> bool {
    let word = trim_brackets(word).to_ascii_lowercase();
    RELEASE_TAGS.contains(&word.as_str())
}

fn trim_brackets(word: &str) -> &str {
    word.trim_matches(['(', ')', '[', ']', '-'])
}

fn year_value(text: &str) -> Option<i32> {
    if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse()
        .ok()
        .filter(|year| (1900..=2100).contains(year))
}

/// Reads 1..=`max_digits` ASCII digits at `start`; fails when the run is longer.
fn read_number(bytes: &[u8], start: usize, max_digits: usize) -> Option<(u32, usize)> {
    let count = bytes
        .get(start..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if count == 0 || count > max_digits {
        return None;
    }
    let digits = std::str::from_utf8(&bytes[start..start + count]).ok()?;
    Some((digits.parse().ok()?, start + count))
}

/// Letters, digits and any non-ASCII byte (part of an accented letter) make words.
fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte >= 0x80
}

fn is_word_byte_at(bytes: &[u8], position: usize) -> bool {
    bytes.get(position).is_some_and(|&byte| is_word_byte(byte))
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn lowercase_extension(path: &Path) -> Option<String> {
    Some(path.extension()?.to_str()?.to_ascii_lowercase())
}

fn strip_prefix_ignore_ascii_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// `en`, `por`, `pt-BR`, `pt_br`, `zh-Hans` → normalized code; anything else → None.
fn language_code(part: &str) -> Option<String> {
    let (primary, region) = match part.split_once(['-', '_']) {
        Some((primary, region)) => (primary, Some(region)),
        None => (part, None),
    };
    if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let primary = primary.to_ascii_lowercase();
    match region {
        None => Some(primary),
        Some(region)
            if (2..=4).contains(&region.len())
                && region.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            let region = if region.len() == 2 {
                region.to_ascii_uppercase()
            } else {
                region.to_string()
            };
            Some(format!("{primary}-{region}"))
        }
        Some(_) => None,
    }
}

/// Text of the first `<tag>…</tag>` (attributes allowed), unescaped and
/// trimmed; `None` when missing, empty or unterminated.
fn element_text(xml: &str, tag: &str) -> Option<String> {
    let opening = format!("<{tag}");
    let closing = format!("</{tag}>");
    let mut search_from = 0;
    while let Some(found) = xml.get(search_from..)?.find(&opening) {
        let after_name = search_from + found + opening.len();
        search_from = after_name;
        let rest = &xml[after_name..];
        // `<titles>` or `<title_sort>` are other elements.
        if !rest.starts_with(|c: char| c == '>' || c == '/' || c.is_whitespace()) {
            continue;
        }
        let tag_end = rest.find('>')?;
        if rest[..tag_end].ends_with('/') {
            return None;
        }
        let content_start = after_name + tag_end + 1;
        let content_len = xml[content_start..].find(&closing)?;
        let raw = xml[content_start..content_start + content_len].trim();
        let text = match raw
            .strip_prefix("<![CDATA[")
            .and_then(|inner| inner.strip_suffix("]]>"))
        {
            Some(cdata) => cdata.trim().to_string(),
            None => unescape_xml(raw).trim().to_string(),
        };
        return non_empty(text);
    }
    None
}

/// Replaces the five XML entities and numeric character references in one
/// pass, so `&amp;lt;` becomes `&lt;` and not `<`.
fn unescape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(ampersand) = rest.find('&') {
        out.push_str(&rest[..ampersand]);
        rest = &rest[ampersand..];
        let decoded = rest.get(1..12.min(rest.len())).and_then(|window| {
            let semicolon = window.find(';')?;
            let entity = &window[..semicolon];
            let character = match entity {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let code = match entity
                        .strip_prefix("#x")
                        .or_else(|| entity.strip_prefix("#X"))
                    {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => entity.strip_prefix('#')?.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((character, semicolon + 2))
        });
        match decoded {
            Some((character, consumed)) => {
                out.push(character);
                rest = &rest[consumed..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movie(path: &str) -> Parsed {
        parse(LibraryKind::Movies, Path::new(path))
    }
    fn show(path: &str) -> Parsed {
        parse(LibraryKind::Shows, Path::new(path))
    }
    fn music(path: &str) -> Parsed {
        parse(LibraryKind::Music, Path::new(path))
    }
    fn expect_movie(title: &str, year: Option<i32>) -> Parsed {
        Parsed::Movie {
            title: title.into(),
            year,
        }
    }
    fn expect_episode(
        show: &str,
        season: u32,
        episode: u32,
        episode_end: Option<u32>,
        title: Option<&str>,
        year: Option<i32>,
    ) -> Parsed {
        Parsed::Episode {
            show: show.into(),
            season,
            episode,
            episode_end,
            title: title.map(Into::into),
            year,
        }
    }
    fn expect_track(
        artist: Option<&str>,
        album: Option<&str>,
        disc: Option<u32>,
        number: Option<u32>,
        title: &str,
    ) -> Parsed {
        Parsed::Track {
            artist: artist.map(Into::into),
            album: album.map(Into::into),
            disc,
            number,
            title: title.into(),
        }
    }

    #[test]
    fn movie_with_parenthesized_year() {
        assert_eq!(movie("Movie (2019).mp4"), expect_movie("Movie", Some(2019)));
        assert_eq!(
            movie("Amélie (2001).mkv"),
            expect_movie("Amélie", Some(2001))
        );
    }

    #[test]
    fn movie_release_name_is_cut_at_year_and_tags() {
        assert_eq!(
            movie("The.Movie.2019.1080p.BluRay.x264.mkv"),
            expect_movie("The Movie", Some(2019))
        );
        assert_eq!(
            movie("Some_Movie_720p_WEB-DL.mkv"),
            expect_movie("Some Movie", None)
        );
        assert_eq!(
            movie("Other.Movie.2160p.HDR.x265.mkv"),
            expect_movie("Other Movie", None)
        );
    }

    #[test]
    fn movie_with_bracketed_year() {
        assert_eq!(movie("Movie [2019].mkv"), expect_movie("Movie", Some(2019)));
    }

    #[test]
    fn numeric_title_is_not_mistaken_for_a_year() {
        assert_eq!(movie("1917 (2019).mkv"), expect_movie("1917", Some(2019)));
        assert_eq!(
            movie("1917.2019.1080p.mkv"),
            expect_movie("1917", Some(2019))
        );
        assert_eq!(movie("2012.mkv"), expect_movie("2012", None));
    }

    #[test]
    fn year_must_be_plausible() {
        assert_eq!(
            movie("Mission 2150.mkv"),
            expect_movie("Mission 2150", None)
        );
        assert_eq!(movie("Film (1850).mkv"), expect_movie("Film (1850)", None));
        assert_eq!(
            movie("Blade Runner 2049 (2017).mkv"),
            expect_movie("Blade Runner 2049", Some(2017))
        );
    }

    #[test]
    fn movie_in_its_own_folder() {
        assert_eq!(
            movie("Movie (2019)/Movie (2019).mkv"),
            expect_movie("Movie", Some(2019))
        );
        assert_eq!(
            movie("Movie (2019)/movie.mkv"),
            expect_movie("Movie", Some(2019))
        );
        assert_eq!(
            movie("Movie (2019)/movie-cut.mkv"),
            expect_movie("Movie", Some(2019))
        );
    }

    #[test]
    fn dated_file_in_a_genre_folder_keeps_its_own_name() {
        assert_eq!(
            movie("Action/Heat (1995).mkv"),
            expect_movie("Heat", Some(1995))
        );
        assert_eq!(movie("Action/Heat.mkv"), expect_movie("Heat", None));
    }

    #[test]
    fn episode_with_dash_separated_marker() {
        assert_eq!(
            show("Show Name - S01E02.mkv"),
            expect_episode("Show Name", 1, 2, None, None, None)
        );
    }

    #[test]
    fn episode_release_name_with_title() {
        assert_eq!(
            show("Show.Name.S01E02.Title.720p.mkv"),
            expect_episode("Show Name", 1, 2, None, Some("Title"), None)
        );
    }

    #[test]
    fn episode_short_and_cross_markers() {
        assert_eq!(
            show("show name s1e2.mkv"),
            expect_episode("show name", 1, 2, None, None, None)
        );
        assert_eq!(
            show("Show 1x02 Title.mkv"),
            expect_episode("Show", 1, 2, None, Some("Title"), None)
        );
    }

    #[test]
    fn frame_size_is_not_an_episode_marker() {
        assert_eq!(
            show("Concert 1920x1080.mkv"),
            Parsed::Video {
                title: "Concert 1920x1080".into(),
                year: None
            }
        );
    }

    #[test]
    fn multi_episode_markers() {
        assert_eq!(
            show("Show - S01E02-E03.mkv"),
            expect_episode("Show", 1, 2, Some(3), None, None)
        );
        assert_eq!(
            show("Show.S01E02E03.mkv"),
            expect_episode("Show", 1, 2, Some(3), None, None)
        );
    }

    #[test]
    fn episode_title_after_marker() {
        assert_eq!(
            show("Show - S01E02 - Title.mkv"),
            expect_episode("Show", 1, 2, None, Some("Title"), None)
        );
    }

    #[test]
    fn show_name_and_year_come_from_top_folder() {
        assert_eq!(
            show("Breaking Bad (2008)/Season 01/Breaking Bad - S01E02 - Cat's in the Bag.mkv"),
            expect_episode(
                "Breaking Bad",
                1,
                2,
                None,
                Some("Cat's in the Bag"),
                Some(2008)
            )
        );
        assert_eq!(
            show("Doctor Who (2005)/Season 1/doctor.who.s01e01.mkv"),
            expect_episode("Doctor Who", 1, 1, None, None, Some(2005))
        );
    }

    #[test]
    fn specials_folder_with_marker_and_without() {
        assert_eq!(
            show("Show Name/Specials/Show Name - S00E01 - Pilot.mkv"),
            expect_episode("Show Name", 0, 1, None, Some("Pilot"), None)
        );
        assert_eq!(
            show("Show Name/Specials/02 - Behind the Scenes.mkv"),
            expect_episode("Show Name", 0, 2, None, Some("Behind the Scenes"), None)
        );
    }

    #[test]
    fn season_folder_with_numbered_files() {
        assert_eq!(
            show("Show/Season 2/03 - Title.mkv"),
            expect_episode("Show", 2, 3, None, Some("Title"), None)
        );
        assert_eq!(
            show("Show/Season 2/Episode 3.mkv"),
            expect_episode("Show", 2, 3, None, None, None)
        );
    }

    #[test]
    fn show_file_without_any_episode_becomes_video() {
        assert_eq!(
            show("Show/Extras/Making of.mkv"),
            Parsed::Video {
                title: "Making of".into(),
                year: None
            }
        );
        // No season folder, so a leading number is not an episode.
        assert!(matches!(show("Show/03 - Title.mkv"), Parsed::Video { .. }));
    }

    #[test]
    fn track_in_artist_album_folders() {
        assert_eq!(
            music("Artist/Album/01 - Title.flac"),
            expect_track(Some("Artist"), Some("Album"), None, Some(1), "Title")
        );
    }

    #[test]
    fn track_in_disc_folder_of_dated_album() {
        assert_eq!(
            music("Artist/Album (2001)/Disc 2/03 Title.mp3"),
            expect_track(Some("Artist"), Some("Album"), Some(2), Some(3), "Title")
        );
    }

    #[test]
    fn track_in_artist_dash_album_folder() {
        assert_eq!(
            music("Artist - Album/01. Title.mp3"),
            expect_track(Some("Artist"), Some("Album"), None, Some(1), "Title")
        );
    }

    #[test]
    fn track_name_carrying_artist() {
        assert_eq!(
            music("01 - Artist - Title.mp3"),
            expect_track(Some("Artist"), None, None, Some(1), "Title")
        );
        // A title containing " - " stays whole when the folder already names the artist.
        assert_eq!(
            music("Artist/Album/02 - Song - Live.mp3"),
            expect_track(Some("Artist"), Some("Album"), None, Some(2), "Song - Live")
        );
    }

    #[test]
    fn track_with_disc_track_prefix() {
        assert_eq!(
            music("1-03 Title.flac"),
            expect_track(None, None, Some(1), Some(3), "Title")
        );
    }

    #[test]
    fn track_without_number() {
        assert_eq!(
            music("Loose Song.mp3"),
            expect_track(None, None, None, None, "Loose Song")
        );
    }

    #[test]
    fn home_video_takes_year_from_name_or_folder() {
        assert_eq!(
            parse(
                LibraryKind::Videos,
                Path::new("2019-07 Beach/day_one.at.sea.mp4")
            ),
            Parsed::Video {
                title: "day one at sea".into(),
                year: Some(2019)
            }
        );
        assert_eq!(
            parse(LibraryKind::Videos, Path::new("Trips/Birthday 2021.mov")),
            Parsed::Video {
                title: "Birthday 2021".into(),
                year: Some(2021)
            }
        );
        assert_eq!(
            parse(LibraryKind::Videos, Path::new("IMG_20190704_1200.mp4")),
            Parsed::Video {
                title: "IMG 20190704 1200".into(),
                year: None
            }
        );
    }

    #[test]
    fn clean_title_collapses_and_trims() {
        assert_eq!(clean_title("  -- Ça   va _ . "), "Ça va");
    }

    #[test]
    fn media_files_by_extension() {
        assert_eq!(is_media_file(Path::new("a/b.MKV")), Some(MediaClass::Video));
        assert_eq!(is_media_file(Path::new("b.m2ts")), Some(MediaClass::Video));
        assert_eq!(is_media_file(Path::new("b.Flac")), Some(MediaClass::Audio));
        assert_eq!(is_media_file(Path::new("b.opus")), Some(MediaClass::Audio));
        assert_eq!(is_media_file(Path::new("b.srt")), None);
        assert_eq!(is_media_file(Path::new("mkv")), None);
    }

    #[test]
    fn sidecar_with_language_and_flags() {
        let media = Path::new("/m/Movie (2019)/Movie (2019).mkv");
        assert_eq!(
            sidecar_subtitle(
                media,
                Path::new("/m/Movie (2019)/Movie (2019).pt-BR.forced.srt")
            ),
            Some(SidecarSubtitle {
                format: SubtitleFormat::Srt,
                language: Some("pt-BR".into()),
                forced: true,
                sdh: false
            })
        );
        assert_eq!(
            sidecar_subtitle(media, Path::new("/m/Movie (2019)/Movie (2019).en.sdh.VTT")),
            Some(SidecarSubtitle {
                format: SubtitleFormat::Vtt,
                language: Some("en".into()),
                forced: false,
                sdh: true
            })
        );
        assert_eq!(
            sidecar_subtitle(media, Path::new("/m/Movie (2019)/Movie (2019).srt")),
            Some(SidecarSubtitle {
                format: SubtitleFormat::Srt,
                language: None,
                forced: false,
                sdh: false
            })
        );
        let por = sidecar_subtitle(media, Path::new("/m/Movie (2019)/Movie (2019).por.cc.srt"));
        assert_eq!(
            por.as_ref().and_then(|s| s.language.as_deref()),
            Some("por")
        );
        assert!(por.is_some_and(|s| s.sdh));
    }

    #[test]
    fn non_sidecars_are_rejected() {
        let media = Path::new("/m/Movie/Movie.mkv");
        // Other folder, other extension, other stem, stem not followed by a dot.
        assert_eq!(
            sidecar_subtitle(media, Path::new("/m/Other/Movie.en.srt")),
            None
        );
        assert_eq!(
            sidecar_subtitle(media, Path::new("/m/Movie/Movie.en.ass")),
            None
        );
        assert_eq!(
            sidecar_subtitle(media, Path::new("/m/Movie/Other.en.srt")),
            None
        );
        assert_eq!(
            sidecar_subtitle(media, Path::new("/m/Movie/Movies.en.srt")),
            None
        );
    }

    #[test]
    fn nfo_belongs_to_same_stem_in_same_folder() {
        let media = Path::new("/m/Movie (2019)/Movie (2019).mkv");
        assert!(is_nfo_of(
            media,
            Path::new("/m/Movie (2019)/Movie (2019).nfo")
        ));
        assert!(is_nfo_of(
            media,
            Path::new("/m/Movie (2019)/Movie (2019).NFO")
        ));
        assert!(!is_nfo_of(media, Path::new("/m/Movie (2019)/movie.nfo")));
        assert!(!is_nfo_of(media, Path::new("/m/Other/Movie (2019).nfo")));
        assert!(!is_nfo_of(
            media,
            Path::new("/m/Movie (2019)/Movie (2019).txt")
        ));
    }

    #[test]
    fn nfo_movie_fields_are_read_and_unescaped() {
        let nfo = parse_nfo(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<movie>
  <title>Tom &amp; Jerry &lt;3 &quot;x&quot; &apos;y&apos; &#233;</title>
  <originaltitle>Ignored</originaltitle>
  <year>2021</year>
  <plot><![CDATA[A cat & a mouse.]]></plot>
  <actor><name>Someone</name></actor>
</movie>"#,
        );
        assert_eq!(
            nfo,
            Nfo {
                title: Some("Tom & Jerry <3 \"x\" 'y' é".into()),
                year: Some(2021),
                plot: Some("A cat & a mouse.".into()),
                season: None,
                episode: None,
            }
        );
    }

    #[test]
    fn nfo_episode_fields_and_premiered_year() {
        let nfo = parse_nfo(
            "<episodedetails><title lang=\"en\">Pilot</title><season>1</season>\
             <episode>2</episode><aired>2008-01-20</aired></episodedetails>",
        );
        assert_eq!(nfo.title.as_deref(), Some("Pilot"));
        assert_eq!(nfo.season, Some(1));
        assert_eq!(nfo.episode, Some(2));
        assert_eq!(nfo.year, Some(2008));
    }

    #[test]
    fn malformed_nfo_gives_nothing() {
        assert_eq!(parse_nfo(""), Nfo::default());
        assert_eq!(parse_nfo("<movie><title>Unclosed"), Nfo::default());
        assert_eq!(
            parse_nfo("<title/><year>abcd</year><season>-1</season>"),
            Nfo::default()
        );
        assert_eq!(parse_nfo("<<<>>>&&&;<title>&#xZZ;</tit"), Nfo::default());
        assert_eq!(
            parse_nfo("http://www.themoviedb.org/movie/603"),
            Nfo::default()
        );
    }

    #[test]
    fn unescape_is_single_pass() {
        assert_eq!(
            unescape_xml("&amp;lt; & &bogus; &#x41;"),
            "&lt; & &bogus; A"
        );
    }
}
