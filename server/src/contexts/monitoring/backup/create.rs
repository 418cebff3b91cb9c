//! `taina backup create`: a consistent snapshot of a running server's data.
//!
//! SQLite: `VACUUM <schema> INTO` for each attached database, the contexts' first and the
//! main one (users, communities) last, so every user a context row names is in the backup;
//! each is one read transaction, so writers go on (WAL) and each file is consistent. PostgreSQL:
//! `pg_dump --format=custom` (one snapshot of the whole database). Then the blobs under
//! `data_dir/files` go into the pool (only those it lacks), the server secret and the
//! redacted configuration are copied, and the manifest is written last.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::Connection;

use super::manifest::{file_entry, hash_file, FORMAT};
use super::schedule::backups_in;
use super::{io, BackupError, BlobEntry, Manifest, BACKUP_PREFIX, POOL_DIR};
use crate::config::Config;
use crate::contexts::auth::token::SECRET_FILE;
use crate::contexts::chat::push::VAPID_FILE;
use crate::db::{Db, CONTEXT_SCHEMAS, SQLITE_FILE};

/// A backup just written.
#[derive(Clone, Debug)]
pub struct Created {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// Blobs (and their bytes) this backup added to the pool.
    pub new_blobs: usize,
    pub new_bytes: u64,
}

/// Backs up the data of `config` (through `db`, open on it) into a new directory under `to`.
pub async fn create_backup(db: &Db, config: &Config, to: &Path) -> Result<Created, BackupError> {
    let started = Instant::now();
    let now = Utc::now();
    create_private_dir(to)?;
    let pool_dir = to.join(POOL_DIR);
    create_private_dir(&pool_dir)?;
    // The latest finished backup, for the hashes of blobs the pool holds already.
    let previous = backups_in(to)?.pop().map(|b| b.manifest);
    let name = format!("{BACKUP_PREFIX}{}", now.format("%Y%m%dT%H%M%S%.3fZ"));
    let backup = to.join(&name);
    let db_dir = backup.join("db");
    std::fs::create_dir_all(&db_dir).map_err(io("cannot create", &db_dir))?;

    let mut files = Vec::new();
    let mut counts = BTreeMap::new();
    match db {
        Db::Sqlite(pool, ..) => {
            let schemas = CONTEXT_SCHEMAS.iter().copied().chain(["main"]);
            for schema in schemas {
                let file = database_file(schema);
                let target = db_dir.join(&file);
                let target_text = target.display().to_string().replace('\'', "''");
                let sql = format!("VACUUM {schema} INTO '{target_text}'");
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
                counts.extend(count_rows(&target, schema).await?);
                files.push(format!("db/{file}"));
            }
        }
        Db::Postgres(..) => {
            let url = config
                .postgres_url()
                .ok_or_else(|| BackupError::Invalid("no database_url".into()))?;
            let dump = db_dir.join("postgres.dump");
            let output = tokio::process::Command::new(&config.backup.pg_dump)
                .arg("--format=custom")
                .arg("--no-owner")
                .arg("--file")
                .arg(&dump)
                .arg(url)
                .output()
                .await
                .map_err(io("cannot run", &config.backup.pg_dump))?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                return Err(BackupError::Tool(
                    "pg_dump".into(),
                    stderr.trim().to_string(),
                ));
            }
            files.push("db/postgres.dump".to_string());
        }
    }

    for name in [SECRET_FILE, VAPID_FILE] {
        let secret = config.data_dir.join(name);
        if secret.is_file() {
            std::fs::copy(&secret, backup.join(name)).map_err(io("cannot copy", &secret))?;
            files.push(name.to_string());
        }
    }
    let redacted = backup.join("config.toml");
    std::fs::write(&redacted, config.to_redacted_toml()).map_err(io("cannot write", &redacted))?;
    files.push("config.toml".to_string());

    let known: HashMap<String, (u64, String)> = previous
        .map(|m| {
            m.blobs
                .into_iter()
                .map(|b| (b.key, (b.bytes, b.sha256)))
                .collect()
        })
        .unwrap_or_default();
    let source = config.data_dir.join("files");
    let blobs = tokio::task::spawn_blocking(move || copy_blobs(&source, &pool_dir, &known))
        .await
        .map_err(|e| BackupError::Invalid(format!("the blob copy panicked: {e}")))??;

    let backup_for_hash = backup.clone();
    let files = tokio::task::spawn_blocking(move || {
        files
            .iter()
            .map(|f| file_entry(&backup_for_hash, f))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| BackupError::Invalid(format!("hashing panicked: {e}")))??;
    let manifest = Manifest {
        format: FORMAT,
        created_at: now,
        taina_version: env!("CARGO_PKG_VERSION").to_string(),
        backend: db.backend().to_string(),
        files,
        blobs,
        counts,
        seconds: started.elapsed().as_secs_f64(),
    };
    manifest.write(&backup)?;
    let new: Vec<&BlobEntry> = manifest.blobs.iter().filter(|b| b.new).collect();
    Ok(Created {
        new_blobs: new.len(),
        new_bytes: new.iter().map(|b| b.bytes).sum(),
        path: backup,
        manifest,
    })
}

/// The file name of a schema's SQLite database.
pub(super) fn database_file(schema: &str) -> String {
    if schema == "main" {
        SQLITE_FILE.to_string()
    } else {
        format!("{schema}.db")
    }
}

/// Rows of every table in the SQLite file at `path` (keys `schema.table`, the main
/// database's without a schema).
pub(super) async fn count_rows(
    path: &Path,
    schema: &str,
) -> Result<BTreeMap<String, i64>, BackupError> {
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await?;
    let mut counts = BTreeMap::new();
    for table in tables {
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", table.replace('"', "\"\""));
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await?;
        let key = if schema == "main" {
            table
        } else {
            format!("{schema}.{table}")
        };
        counts.insert(key, rows);
    }
    conn.close().await?;
    Ok(counts)
}

fn create_private_dir(path: &Path) -> Result<(), BackupError> {
    std::fs::create_dir_all(path).map_err(io("cannot create", path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(io("cannot restrict", path))?;
    }
    Ok(())
}

/// Every file under `root` as (key with `/`, path), skipping object_store's temporary files.
pub(super) fn files_under(root: &Path) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io("cannot list", &dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io("cannot list", &dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io("cannot stat", &path))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && !entry.file_name().to_string_lossy().contains('#') {
                let key = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                found.push((key, path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Copies into the pool the blobs it lacks (hashing them on the way); the others keep the
/// hash an earlier manifest gave them (or are hashed now when none did).
fn copy_blobs(
    source: &Path,
    pool: &Path,
    known: &HashMap<String, (u64, String)>,
) -> Result<Vec<BlobEntry>, BackupError> {
    let mut blobs = Vec::new();
    for (key, path) in files_under(source)? {
        let bytes = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            // Deleted since it was listed (its photo was deleted): not in this backup.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io("cannot stat", &path)(e)),
        };
        let pooled = pool.join(&key);
        let in_pool = std::fs::metadata(&pooled).is_ok_and(|m| m.len() == bytes);
        if in_pool {
            let sha256 = match known.get(&key) {
                Some((known_bytes, sha)) if *known_bytes == bytes => sha.clone(),
                _ => hash_file(&pooled)?.1,
            };
            blobs.push(BlobEntry {
                key,
                bytes,
                sha256,
                new: false,
            });
            continue;
        }
        match copy_hashing(&path, &pooled) {
            Ok((bytes, sha256)) => blobs.push(BlobEntry {
                key,
                bytes,
                sha256,
                new: true,
            }),
            Err(BackupError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(blobs)
}

/// Copies `from` to `to` (through a temporary name) and returns its size and SHA-256.
fn copy_hashing(from: &Path, to: &Path) -> Result<(u64, String), BackupError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    }
    let tmp = to.with_extension("partial");
    let mut input = std::fs::File::open(from).map_err(io("cannot open", from))?;
    let mut output = std::fs::File::create(&tmp).map_err(io("cannot create", &tmp))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = input.read(&mut buffer).map_err(io("cannot read", from))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        output
            .write_all(&buffer[..n])
            .map_err(io("cannot write", &tmp))?;
        bytes += n as u64;
    }
    output.sync_all().map_err(io("cannot sync", &tmp))?;
    std::fs::rename(&tmp, to).map_err(io("cannot rename", &tmp))?;
    Ok((bytes, hex::encode(hasher.finalize())))
}
