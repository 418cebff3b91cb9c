//! Backups that restore (Karai): `taina backup create|verify|restore` and the schedule.
//!
//! A backup directory holds the data a restore needs, taken while the server runs:
//!
//! ```text
//! DIR/                              backup.dir or --to
//!   blobs/<key>                     the blob pool: every stored file once, by its key
//!   taina-20261206T051500.123Z/     one backup
//!     manifest.json                 sizes and SHA-256s of everything below and of each blob
//!     db/taina.db, db/chat.db, …    SQLite: `VACUUM … INTO`, one consistent file per database
//!     db/postgres.dump              PostgreSQL: `pg_dump --format=custom`
//!     jwt.secret                    the server secret (TOTP secrets are sealed with it)
//!     vapid.pem                     the Web Push (VAPID) key browsers subscribed with
//!     config.toml                   the configuration, secrets redacted (for reference)
//! ```
//!
//! Blobs are content addressed, so a backup copies into the pool only what the pool does not
//! have yet (what earlier backups did not hold): backups are incremental for free, and
//! removing an old backup removes only the blobs no remaining manifest lists. The manifest is
//! written last: a directory without one is an unfinished backup and is ignored.
//!
//! - `manifest`: the manifest and hashing; `create`, `verify`, `restore`; `schedule`: the
//!   running server's scheduled backups and their retention.

mod create;
mod manifest;
mod restore;
mod schedule;
mod verify;

use std::path::PathBuf;

pub use create::{create_backup, Created};
pub use manifest::{BlobEntry, FileEntry, Manifest, MANIFEST_FILE};
pub use restore::{restore_backup, Restored};
pub use schedule::{backups_in, prune_backups, scheduled_backup, spawn_schedule, BackupSummary};
pub use verify::{verify_backup, Verified};

/// The shared blob pool's directory name, next to the backups.
pub const POOL_DIR: &str = "blobs";
/// The prefix of every backup directory's name.
pub const BACKUP_PREFIX: &str = "taina-";

/// Why a backup, a verification or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0} failed: {1}")]
    Tool(String, String),
    #[error("{0} is not a backup (no {MANIFEST_FILE}: unfinished, or another directory)")]
    NotABackup(PathBuf),
    #[error("the manifest cannot be read: {0}")]
    Manifest(String),
    #[error("{path}: {problem}")]
    Damaged { path: String, problem: String },
    #[error("{0} is not empty: restore into an empty data directory, or pass --force")]
    NotEmpty(PathBuf),
    #[error("{0}")]
    Invalid(String),
}

/// `map_err` helper: an I/O error with what was being done and where.
fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.into();
    move |source| BackupError::Io { what, path, source }
}
