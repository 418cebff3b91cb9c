//! `taina backup create|verify|restore`.

use std::path::PathBuf;

use super::BackupCommand;
use crate::config::Config;
use crate::contexts::monitoring::backup::{create_backup, restore_backup, verify_backup};
use crate::db::Db;

const MIB: f64 = 1024.0 * 1024.0;

pub async fn run(config: Config, command: BackupCommand) -> anyhow::Result<()> {
    match command {
        BackupCommand::Create { to } => {
            let to: PathBuf = to.unwrap_or_else(|| config.backup.dir.clone());
            // The database and nothing else: safe beside a running server.
            let db = Db::connect(&config).await?;
            db.migrate().await?;
            let result = create_backup(&db, &config, &to).await;
            db.close().await;
            let created = result?;
            println!(
                "backup {} written in {:.1} s: {} file(s), {} blob(s) ({} new, {:.1} MiB new), \
                 {:.1} MiB in all",
                created.path.display(),
                created.manifest.seconds,
                created.manifest.files.len(),
                created.manifest.blobs.len(),
                created.new_blobs,
                created.new_bytes as f64 / MIB,
                created.manifest.bytes() as f64 / MIB
            );
        }
        BackupCommand::Verify { path } => {
            let verified = verify_backup(&path, &config.backup.pg_restore).await?;
            println!(
                "backup {} is sound: {} file(s) and {} blob(s) match the manifest ({:.1} MiB); \
                 {} table(s) open and count as recorded",
                path.display(),
                verified.files,
                verified.blobs,
                verified.bytes as f64 / MIB,
                verified.tables
            );
        }
        BackupCommand::Restore { path, force } => {
            let restored = restore_backup(&path, &config, force).await?;
            println!(
                "restored {} (taken {}) into {}: {} blob(s), {:.1} MiB; its configuration, \
                 secrets redacted, is in {}",
                path.display(),
                restored.manifest.created_at.to_rfc3339(),
                config.data_dir.display(),
                restored.blobs,
                restored.bytes as f64 / MIB,
                path.join("config.toml").display()
            );
        }
    }
    Ok(())
}
