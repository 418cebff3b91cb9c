//! `taina backup restore`: a verified backup into an empty data directory (and, on
//! PostgreSQL, an empty database). A non-empty one is refused unless `--force`, which first
//! removes what a restore replaces (the databases, `files/`, the secret) and, on PostgreSQL,
//! lets `pg_restore --clean` drop what the dump recreates.

use std::path::Path;

use super::verify::{pool_of, verify_backup};
use super::{io, BackupError, Manifest};
use crate::config::Config;
use crate::contexts::auth::token::SECRET_FILE;
use crate::contexts::chat::push::VAPID_FILE;
use crate::db::{CONTEXT_SCHEMAS, SQLITE_FILE};

/// What a restore wrote.
#[derive(Clone, Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub blobs: usize,
    pub bytes: u64,
}

/// Restores the backup at `backup` into `config`'s data directory (and database).
pub async fn restore_backup(
    backup: &Path,
    config: &Config,
    force: bool,
) -> Result<Restored, BackupError> {
    let verified = verify_backup(backup, &config.backup.pg_restore).await?;
    let manifest = verified.manifest;
    let data_dir = &config.data_dir;
    let occupied = std::fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        if !force {
            return Err(BackupError::NotEmpty(data_dir.clone()));
        }
        clear_data_dir(data_dir)?;
    }
    std::fs::create_dir_all(data_dir).map_err(io("cannot create", data_dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("cannot restrict", data_dir))?;
    }

    match (manifest.backend.as_str(), config.postgres_url()) {
        ("sqlite", None) => {
            for schema in CONTEXT_SCHEMAS.iter().copied().chain(["main"]) {
                let file = super::create::database_file(schema);
                let from = backup.join("db").join(&file);
                std::fs::copy(&from, data_dir.join(&file)).map_err(io("cannot copy", &from))?;
            }
        }
        ("postgres", Some(url)) => restore_postgres(backup, config, url, force).await?,
        (backend, url) => {
            return Err(BackupError::Invalid(format!(
                "a {backend} backup cannot be restored into {} (set or unset database_url)",
                if url.is_some() {
                    "PostgreSQL"
                } else {
                    "SQLite"
                }
            )))
        }
    }

    for name in [SECRET_FILE, VAPID_FILE] {
        let secret = backup.join(name);
        if secret.is_file() {
            std::fs::copy(&secret, data_dir.join(name)).map_err(io("cannot copy", &secret))?;
        }
    }
    let pool = pool_of(backup);
    let files = data_dir.join("files");
    let mut bytes = 0;
    for blob in &manifest.blobs {
        let to = files.join(&blob.key);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
        }
        let from = pool.join(&blob.key);
        bytes += std::fs::copy(&from, &to).map_err(io("cannot copy", &from))?;
    }
    Ok(Restored {
        blobs: manifest.blobs.len(),
        bytes,
        manifest,
    })
}

/// Removes what a restore replaces, and nothing else.
fn clear_data_dir(data_dir: &Path) -> Result<(), BackupError> {
    let mut names = vec![
        SQLITE_FILE.to_string(),
        SECRET_FILE.to_string(),
        VAPID_FILE.to_string(),
    ];
    names.extend(CONTEXT_SCHEMAS.iter().map(|s| format!("{s}.db")));
    for name in names {
        for suffix in ["", "-wal", "-shm"] {
            let path = data_dir.join(format!("{name}{suffix}"));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("cannot remove", &path)(e)),
            }
        }
    }
    let files = data_dir.join("files");
    if files.exists() {
        std::fs::remove_dir_all(&files).map_err(io("cannot remove", &files))?;
    }
    Ok(())
}

async fn restore_postgres(
    backup: &Path,
    config: &Config,
    url: &str,
    force: bool,
) -> Result<(), BackupError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    if tables > 0 && !force {
        return Err(BackupError::NotEmpty(
            format!("the database ({tables} tables)").into(),
        ));
    }
    let mut command = tokio::process::Command::new(&config.backup.pg_restore);
    command.arg("--no-owner").arg("--exit-on-error");
    if tables > 0 {
        command.arg("--clean").arg("--if-exists");
    }
    let output = command
        .arg("--dbname")
        .arg(url)
        .arg(backup.join("db/postgres.dump"))
        .output()
        .await
        .map_err(io("cannot run", &config.backup.pg_restore))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(BackupError::Tool(
            "pg_restore".into(),
            stderr.trim().to_string(),
        ));
    }
    Ok(())
}
