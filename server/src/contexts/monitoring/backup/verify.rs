//! `taina backup verify`: every file and blob against the manifest's sizes and SHA-256s, then
//! the databases opened from a temporary copy: SQLite's `integrity_check` and row counts
//! against the manifest, and every photo's original among the blobs with its recorded hash;
//! PostgreSQL's dump listed by `pg_restore --list`.

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::Connection;

use super::create::count_rows;
use super::manifest::hash_file;
use super::{io, BackupError, Manifest, POOL_DIR};
use crate::db::CONTEXT_SCHEMAS;

/// What a verification checked.
#[derive(Clone, Debug)]
pub struct Verified {
    pub manifest: Manifest,
    pub files: usize,
    pub blobs: usize,
    pub bytes: u64,
    /// Tables whose row counts matched the manifest's.
    pub tables: usize,
}

/// Verifies the backup at `backup` (its blobs are in `../blobs`).
pub async fn verify_backup(backup: &Path, pg_restore: &str) -> Result<Verified, BackupError> {
    let manifest = Manifest::read(backup)?;
    let pool = pool_of(backup);
    let checked = manifest.clone();
    let backup_dir = backup.to_path_buf();
    tokio::task::spawn_blocking(move || check_hashes(&backup_dir, &pool, &checked))
        .await
        .map_err(|e| BackupError::Invalid(format!("hashing panicked: {e}")))??;
    let tables = match manifest.backend.as_str() {
        "sqlite" => check_sqlite(backup, &manifest).await?,
        _ => {
            let dump = backup.join("db/postgres.dump");
            let output = tokio::process::Command::new(pg_restore)
                .arg("--list")
                .arg(&dump)
                .output()
                .await
                .map_err(io("cannot run", pg_restore))?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                return Err(BackupError::Damaged {
                    path: "db/postgres.dump".into(),
                    problem: stderr.trim().to_string(),
                });
            }
            0
        }
    };
    Ok(Verified {
        files: manifest.files.len(),
        blobs: manifest.blobs.len(),
        bytes: manifest.bytes(),
        tables,
        manifest,
    })
}

/// The blob pool of the backup at `backup`: its parent's `blobs/`.
pub(super) fn pool_of(backup: &Path) -> PathBuf {
    backup
        .parent()
        .map(|p| p.join(POOL_DIR))
        .unwrap_or_else(|| PathBuf::from(POOL_DIR))
}

fn check_hashes(backup: &Path, pool: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let check = |path: &Path, name: &str, bytes: u64, sha256: &str| -> Result<(), BackupError> {
        let damaged = |problem: String| BackupError::Damaged {
            path: name.to_string(),
            problem,
        };
        if !path.is_file() {
            return Err(damaged("missing".into()));
        }
        let (found_bytes, found_sha) = hash_file(path)?;
        if found_bytes != bytes {
            return Err(damaged(format!(
                "{found_bytes} bytes, the manifest says {bytes}"
            )));
        }
        if found_sha != sha256 {
            return Err(damaged("its SHA-256 does not match the manifest".into()));
        }
        Ok(())
    };
    for file in &manifest.files {
        check(
            &backup.join(&file.path),
            &file.path,
            file.bytes,
            &file.sha256,
        )?;
    }
    for blob in &manifest.blobs {
        let name = format!("{POOL_DIR}/{}", blob.key);
        check(&pool.join(&blob.key), &name, blob.bytes, &blob.sha256)?;
    }
    Ok(())
}

/// Every photo in the snapshot has its original among the backup's blobs, with the content
/// hash the database records: a restore brings back no photo without its bytes.
async fn check_originals(media_db: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let options = SqliteConnectOptions::new()
        .filename(media_db)
        .read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let originals: Vec<(String, String)> =
        sqlx::query_as("SELECT file_path, content_hash FROM files")
            .fetch_all(&mut conn)
            .await?;
    conn.close().await?;
    let blobs: std::collections::HashMap<&str, &str> = manifest
        .blobs
        .iter()
        .map(|b| (b.key.as_str(), b.sha256.as_str()))
        .collect();
    for (key, hash) in originals {
        match blobs.get(key.as_str()) {
            Some(sha) if *sha == hash => {}
            Some(_) => {
                return Err(BackupError::Damaged {
                    path: key,
                    problem: "the photo's original differs from the hash its row records".into(),
                })
            }
            None => {
                return Err(BackupError::Damaged {
                    path: key,
                    problem: "a photo's original is not in the backup".into(),
                })
            }
        }
    }
    Ok(())
}

/// Copies the databases to a temporary directory, checks each, and compares row counts.
async fn check_sqlite(backup: &Path, manifest: &Manifest) -> Result<usize, BackupError> {
    let scratch = std::env::temp_dir().join(format!("taina-verify-{}", nanoid::nanoid!(12)));
    std::fs::create_dir_all(&scratch).map_err(io("cannot create", &scratch))?;
    let result = async {
        let mut counts = std::collections::BTreeMap::new();
        for schema in CONTEXT_SCHEMAS.iter().copied().chain(["main"]) {
            let file = super::create::database_file(schema);
            let copy = scratch.join(&file);
            let original = backup.join("db").join(&file);
            std::fs::copy(&original, &copy).map_err(io("cannot copy", &original))?;
            let options = SqliteConnectOptions::new().filename(&copy).read_only(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
            let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_one(&mut conn)
                .await?;
            conn.close().await?;
            if verdict != "ok" {
                return Err(BackupError::Damaged {
                    path: format!("db/{file}"),
                    problem: format!("integrity_check: {verdict}"),
                });
            }
            counts.extend(count_rows(&copy, schema).await?);
        }
        if counts != manifest.counts {
            let differing: Vec<String> = manifest
                .counts
                .iter()
                .filter(|(table, rows)| counts.get(*table) != Some(rows))
                .map(|(table, rows)| format!("{table}: {rows} → {:?}", counts.get(table)))
                .collect();
            return Err(BackupError::Damaged {
                path: "db".into(),
                problem: format!(
                    "row counts differ from the manifest: {}",
                    differing.join(", ")
                ),
            });
        }
        check_originals(
            &scratch.join(super::create::database_file("media")),
            manifest,
        )
        .await?;
        Ok(counts.len())
    }
    .await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}
