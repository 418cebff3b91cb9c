//! Walking a library root: the media files below it with their size, modification time,
//! subtitle sidecars and `.nfo` file. Runs on a blocking thread; hidden entries (a leading
//! `.`) and symbolic links to folders are skipped (a link loop cannot trap the walk).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::naming::{self, MediaClass, SubtitleFormat};
use super::Sidecar;

/// Folders deeper than this below the root are not looked into.
const MAX_DEPTH: usize = 24;

/// A media file found on disk.
#[derive(Clone, Debug)]
pub struct Found {
    /// Relative to the root, `/`-separated.
    pub path: String,
    pub absolute: PathBuf,
    pub class: MediaClass,
    pub size: u64,
    pub mtime_ms: i64,
    pub sidecars: Vec<Sidecar>,
    pub nfo: Option<PathBuf>,
}

/// Every media file below `root`, sorted by path.
pub fn walk(root: &Path) -> std::io::Result<Vec<Found>> {
    let mut found = Vec::new();
    let mut folders = vec![(root.to_path_buf(), 0usize)];
    // The root itself must be readable: a vanished root is an error, not an empty library.
    fs::read_dir(root)?;
    while let Some((folder, depth)) = folders.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                if depth < MAX_DEPTH {
                    folders.push((path, depth + 1));
                }
            } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
                files.push(path);
            }
        }
        files.sort();
        let media: Vec<&PathBuf> = files
            .iter()
            .filter(|f| naming::is_media_file(f).is_some())
            .collect();
        for file in &files {
            let Some(class) = naming::is_media_file(file) else {
                continue;
            };
            let Ok(meta) = fs::metadata(file) else {
                continue;
            };
            let mtime_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as i64);
            let sidecars = files
                .iter()
                .filter(|candidate| belongs_to(file, candidate, &media))
                .filter_map(|candidate| {
                    let subtitle = naming::sidecar_subtitle(file, candidate)?;
                    Some(Sidecar {
                        path: relative(root, candidate)?,
                        format: match subtitle.format {
                            SubtitleFormat::Srt => "srt",
                            SubtitleFormat::Vtt => "vtt",
                        }
                        .into(),
                        language: subtitle.language,
                        forced: subtitle.forced,
                        sdh: subtitle.sdh,
                    })
                })
                .collect();
            let nfo = files
                .iter()
                .find(|candidate| naming::is_nfo_of(file, candidate))
                .cloned();
            let Some(path) = relative(root, file) else {
                continue;
            };
            found.push(Found {
                path,
                absolute: file.clone(),
                class,
                size: meta.len(),
                mtime_ms,
                sidecars,
                nfo,
            });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// Whether `candidate` is `file`'s sidecar rather than another media file's in the folder:
/// `Movie.Extended.pt.srt` belongs to `Movie.Extended.mkv`, not to `Movie.mkv` (the longest
/// stem it starts with wins).
fn belongs_to(file: &Path, candidate: &Path, media: &[&PathBuf]) -> bool {
    let stem_len = |p: &Path| p.file_stem().map_or(0, |s| s.len());
    naming::sidecar_subtitle(file, candidate).is_some()
        && !media.iter().any(|other| {
            other.as_path() != file
                && stem_len(other) > stem_len(file)
                && naming::sidecar_subtitle(other, candidate).is_some()
        })
}

/// `path` below `root`, `/`-separated; `None` for a name that is not UTF-8.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let parts: Option<Vec<&str>> = path
        .strip_prefix(root)
        .ok()?
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    Some(parts?.join("/"))
}

/// The absolute path of a stored relative path, refusing any that would leave the root.
pub fn resolve(root: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for part in relative.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
            return None;
        }
        path.push(part);
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_media_with_their_sidecars_and_skips_hidden_entries() {
        let root = tempfile::tempdir().unwrap();
        let show = root.path().join("Show/Season 1");
        fs::create_dir_all(&show).unwrap();
        fs::create_dir_all(root.path().join(".hidden")).unwrap();
        fs::write(show.join("Show - S01E01.mkv"), b"x").unwrap();
        fs::write(show.join("Show - S01E01.pt.srt"), b"1").unwrap();
        fs::write(show.join("Show - S01E01.nfo"), b"<episodedetails/>").unwrap();
        fs::write(show.join("notes.txt"), b"n").unwrap();
        fs::write(root.path().join(".hidden/secret.mkv"), b"x").unwrap();
        let found = walk(root.path()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "Show/Season 1/Show - S01E01.mkv");
        assert_eq!(found[0].sidecars.len(), 1);
        assert_eq!(found[0].sidecars[0].language.as_deref(), Some("pt"));
        assert!(found[0].nfo.is_some());
    }

    #[test]
    fn a_sidecar_belongs_to_the_longest_matching_name() {
        let root = tempfile::tempdir().unwrap();
        for name in [
            "Movie.mkv",
            "Movie.Extended.mkv",
            "Movie.Extended.pt.srt",
            "Movie.en.srt",
        ] {
            fs::write(root.path().join(name), b"x").unwrap();
        }
        let found = walk(root.path()).unwrap();
        let sidecars = |name: &str| -> Vec<String> {
            let file = found.iter().find(|f| f.path == name).unwrap();
            file.sidecars.iter().map(|s| s.path.clone()).collect()
        };
        assert_eq!(sidecars("Movie.mkv"), ["Movie.en.srt"]);
        assert_eq!(sidecars("Movie.Extended.mkv"), ["Movie.Extended.pt.srt"]);
    }

    #[test]
    fn stored_paths_never_leave_the_root() {
        let root = Path::new("/media/movies");
        assert_eq!(
            resolve(root, "A/b.mkv").unwrap(),
            Path::new("/media/movies/A/b.mkv")
        );
        for bad in ["../etc/passwd", "A/../../x", "/abs", "a//b", "a\\..\\b"] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
    }

    #[test]
    fn a_missing_root_is_an_error() {
        assert!(walk(Path::new("/nonexistent/taina/library")).is_err());
    }
}
