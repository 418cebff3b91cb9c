//! An export as one file: the export directory packed into a plain (uncompressed: the photos
//! are already compressed) tar, and unpacked again before an import. `taina export --to
//! FILE.tar` and the admin API write one; `taina import FILE.tar` reads one.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::ExportError;

/// Whether `path` names an archive rather than a directory (by its `.tar` extension).
pub fn is_archive(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tar"))
}

/// The scratch directory next to `archive` that an export is written into (or an archive
/// unpacked into) before it is packed (or imported); removed afterwards.
pub fn scratch_for(archive: &Path) -> PathBuf {
    let mut name = archive.file_name().unwrap_or_default().to_os_string();
    name.push(".d");
    archive.with_file_name(name)
}

/// Packs the directory `dir` into the new file `archive`.
pub fn pack(dir: &Path, archive: &Path) -> Result<(), ExportError> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { what, path, source }
    };
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(archive)
        .map_err(io("cannot create", archive))?;
    let mut builder = tar::Builder::new(file);
    builder.follow_symlinks(false);
    builder
        .append_dir_all(".", dir)
        .map_err(io("cannot pack", dir))?;
    builder
        .into_inner()
        .and_then(|file| file.sync_all())
        .map_err(io("cannot write", archive))
}

/// Unpacks `archive` into `dir` (created; entries may not leave it).
pub fn unpack(archive: &Path, dir: &Path) -> Result<(), ExportError> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { what, path, source }
    };
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let file = File::open(archive).map_err(io("cannot open", archive))?;
    // `unpack` refuses entries that would land outside `dir` (`..`, absolute paths).
    tar::Archive::new(file)
        .unpack(dir)
        .map_err(io("cannot unpack", archive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_round_trips_through_an_archive() {
        let root = std::env::temp_dir().join(format!("taina-archive-{}", nanoid::nanoid!(8)));
        let source = root.join("export");
        std::fs::create_dir_all(source.join("originals")).unwrap();
        std::fs::write(source.join("community.json"), b"{\"name\":\"Aldeia\"}").unwrap();
        std::fs::write(source.join("originals").join("abc"), [0u8, 1, 2, 255]).unwrap();
        let archive = root.join("aldeia.tar");
        assert!(is_archive(&archive) && !is_archive(&source));
        pack(&source, &archive).unwrap();
        assert!(pack(&source, &archive).is_err(), "never overwrites");
        let back = scratch_for(&archive);
        assert_eq!(back.file_name().unwrap(), "aldeia.tar.d");
        unpack(&archive, &back).unwrap();
        assert_eq!(
            std::fs::read(back.join("community.json")).unwrap(),
            b"{\"name\":\"Aldeia\"}"
        );
        assert_eq!(
            std::fs::read(back.join("originals").join("abc")).unwrap(),
            [0u8, 1, 2, 255]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
