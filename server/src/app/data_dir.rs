//! The data directory's permissions: it holds password hashes, TOTP secrets, the server
//! secret and every photo, so it is private to the server's user (mode 0700).
//!
//! The `taina` binary also sets a umask of 077 at start, so each file it creates is 0600; this
//! explicit step covers a directory that already existed with wider permissions and servers
//! started in-process (the test harness), where the process's umask is not ours to set.

use std::io;
use std::path::Path;

/// Mode of the data directory.
#[cfg(unix)]
const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates the data directory if missing and restricts it to its owner, logging when an
/// existing directory was wider.
pub fn create_private(path: &Path) -> io::Result<()> {
    let existed = path.is_dir();
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode != PRIVATE_DIR_MODE {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_DIR_MODE))?;
            if existed {
                tracing::info!(
                    path = %path.display(),
                    was = format!("{mode:o}"),
                    "restricted the data directory to its owner (0700)"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = existed;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_directory_is_private_and_an_open_one_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("a/data");
        create_private(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);

        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
        create_private(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
    }
}
