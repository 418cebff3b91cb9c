//! The manifest of one backup, and the SHA-256 of files.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{io, BackupError};

/// The manifest's file name inside a backup directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The manifest format this version writes and reads.
pub const FORMAT: u32 = 1;

/// What one backup holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created_at: DateTime<Utc>,
    /// The server version that wrote it.
    pub taina_version: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The backup's own files (databases, secret, configuration), paths relative to it.
    pub files: Vec<FileEntry>,
    /// Every blob the data refers to, in the pool (`../blobs/<key>`).
    pub blobs: Vec<BlobEntry>,
    /// Rows per table in the snapshot (SQLite), for verification.
    pub counts: BTreeMap<String, i64>,
    /// How long the backup took.
    pub seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlobEntry {
    /// The object key under the data directory's `files/` (`blobs/ab/cd/<sha256>`, …).
    pub key: String,
    pub bytes: u64,
    pub sha256: String,
    /// True when this backup copied it into the pool (no earlier backup had it).
    pub new: bool,
}

impl Manifest {
    pub fn read(backup: &Path) -> Result<Self, BackupError> {
        let path = backup.join(MANIFEST_FILE);
        if !path.is_file() {
            return Err(BackupError::NotABackup(backup.to_path_buf()));
        }
        let text = std::fs::read(&path).map_err(io("cannot read", &path))?;
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|e| BackupError::Manifest(e.to_string()))?;
        if manifest.format != FORMAT {
            return Err(BackupError::Manifest(format!(
                "format {} (this version reads {FORMAT})",
                manifest.format
            )));
        }
        Ok(manifest)
    }

    /// Writes the manifest (to a temporary name, then renamed: it appears complete or not at all).
    pub fn write(&self, backup: &Path) -> Result<(), BackupError> {
        let tmp = backup.join(format!("{MANIFEST_FILE}.tmp"));
        let text =
            serde_json::to_vec_pretty(self).map_err(|e| BackupError::Manifest(e.to_string()))?;
        std::fs::write(&tmp, text).map_err(io("cannot write", &tmp))?;
        std::fs::rename(&tmp, backup.join(MANIFEST_FILE)).map_err(io("cannot rename", &tmp))
    }

    /// Total bytes of its files and blobs.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum::<u64>()
            + self.blobs.iter().map(|b| b.bytes).sum::<u64>()
    }
}

/// The size and hex SHA-256 of a file.
pub fn hash_file(path: &Path) -> Result<(u64, String), BackupError> {
    let mut file = std::fs::File::open(path).map_err(io("cannot open", path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(io("cannot read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// The entry of a file of the backup at `relative` under `backup`.
pub fn file_entry(backup: &Path, relative: &str) -> Result<FileEntry, BackupError> {
    let (bytes, sha256) = hash_file(&backup.join(relative))?;
    Ok(FileEntry {
        path: relative.to_string(),
        bytes,
        sha256,
    })
}
