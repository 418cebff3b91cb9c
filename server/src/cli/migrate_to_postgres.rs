//! `taina migrate-to-postgres --to URL`: the SQLite database of `data_dir` copied into an
//! empty PostgreSQL database (the work is in [`crate::db::to_postgres`]); prints each table
//! as it is copied, then what to change in the configuration.

use crate::config::Config;
use crate::db::to_postgres::{check_target_url, move_to_postgres, MoveError};

pub async fn run(config: Config, to: &str) -> anyhow::Result<()> {
    let redacted = config.redacted();
    if let Some(url) = redacted.postgres_url() {
        return Err(MoveError::refused(format!(
            "database_url is set ({url}), so this taina already runs on PostgreSQL: this command \
             reads the SQLite database in data_dir; run it with database_url unset \
             (TAINA_DATABASE_URL=) and name the PostgreSQL database with --to"
        ))
        .into());
    }
    check_target_url(to)?;
    let shown = {
        let mut target = config.clone();
        target.database_url = Some(to.to_string());
        target.redacted().database_url.unwrap_or_default()
    };
    println!(
        "copying the SQLite database in {} into {shown} (one transaction: nothing is committed \
         until every table's rows are counted on both sides)",
        std::path::absolute(&config.data_dir)
            .unwrap_or(config.data_dir.clone())
            .display()
    );
    let moved = move_to_postgres(&config, to, |table| {
        println!(
            "  {:<32} {:>10} row(s) {:>8.2} s",
            table.name, table.rows, table.seconds
        );
    })
    .await?;
    if !moved.skipped.is_empty() {
        println!(
            "not copied: {} (SQLite's full-text index; PostgreSQL indexes the messages' \
             search_vector itself)",
            moved.skipped.join(", ")
        );
    }
    for (column, next) in &moved.sequences {
        println!("sequence of {column}: next value {next}");
    }
    println!(
        "copied {} row(s) in {} table(s) in {:.1} s, migrations 1–{} on both sides, the same \
         row counts in SQLite and PostgreSQL; committed.",
        moved.rows(),
        moved.tables.len(),
        moved.seconds,
        moved.migration
    );
    // The bytes of photos and files are not in the database: they stay where they are.
    let blobs = match redacted.media.object_store_url.filter(|u| !u.is_empty()) {
        Some(store) => store,
        None => moved.data_dir.join("files").display().to_string(),
    };
    println!(
        "next: set database_url (or TAINA_DATABASE_URL) to the --to URL and start taina with \
         the same data_dir: jwt.secret and vapid.pem stay there, photos and files stay in \
         {blobs}; the SQLite files are no longer read (keep them until you are satisfied)."
    );
    Ok(())
}
