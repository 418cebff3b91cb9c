//! The `taina` command line (clap): `serve`, `migrate`, `config`, `user …`, `session …`,
//! `alert …`, `ban …`, `backup …`, `export`, `import`.
//!
//! Operator commands open the database directly and go through the same services as the HTTP
//! API, so rules (password policy, last-admin protection) hold for both. They only open the
//! state ([`AppState::open`]): no background work, so they can run beside a live server
//! without touching its jobs or files, and print nothing but their output. `serve` binds its
//! port before it starts any background work.

mod backup;
mod ban;
mod failure;
mod migrate_to_postgres;
mod user;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::contexts::auth::Role;
use crate::contexts::monitoring::{AlertLevel, AlertSource, MonitoringService};
use crate::db::Db;
use crate::events::MemoryBus;
use crate::state::AppState;

/// `taina --version`: the version and the commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BUILD_GIT_COMMIT"),
    ")"
);

/// `taina --version`: also what this build can run on.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BUILD_GIT_COMMIT"),
    ")\n",
    "databases: SQLite (built in), PostgreSQL (database_url)\n",
    "event bus: in-process, NATS JetStream (bus.nats_url)\n",
    "media store: local files, S3 (media.object_store_url)",
);

#[derive(Debug, Parser)]
#[command(
    name = "taina",
    version = VERSION,
    long_version = LONG_VERSION,
    about = "Tainá: a community-owned, push-first backend"
)]
pub struct Cli {
    /// Configuration file (default: ./taina.toml when it exists).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log output format; overrides `log_format` from the configuration.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormatArg {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrations run first).
    ///
    /// Listens on `listen` (default 127.0.0.1:4000; a host name such as localhost:4000 is
    /// resolved) and keeps its databases, files and server secret in `data_dir` (default
    /// ./data). Settings come from ./taina.toml (or --config PATH), then from environment
    /// variables, which win: TAINA_LISTEN, TAINA_DATA_DIR, TAINA_DATABASE_URL (postgres://…;
    /// empty means SQLite in data_dir), TAINA_LOG (e.g. info,taina::access=debug for a line
    /// per request), and any nested setting as TAINA_SECTION__KEY
    /// (TAINA_AUTH__TOKEN_TTL_HOURS=24). An unknown TAINA_* variable stops start-up. `taina
    /// config` prints the effective configuration; the README lists every setting.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Copy the SQLite database of data_dir into an empty PostgreSQL database.
    ///
    /// Stop the server first, and take a backup (taina backup create). The SQLite files in
    /// data_dir are only read (database_url must be unset for this command), each in one read
    /// transaction; their migrations must be this taina's (run `taina migrate` first when they
    /// are behind). The target gets the PostgreSQL migrations and must hold no Tainá data:
    /// nothing is ever merged or overwritten. Every table is copied in one transaction, the id
    /// sequences are set past the copied ids, and it commits only when every table counts as
    /// many rows on both sides; on any error no row is left in the target. Then set
    /// database_url to the same URL and start taina: data_dir stays in use for photos, files
    /// and jwt.secret (docs/deploy.md, section 8).
    MigrateToPostgres {
        /// The PostgreSQL database to fill: postgres://USER:PASSWORD@HOST:PORT/DATABASE.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Instance-wide alerts.
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Banned client addresses: running servers pick up changes within seconds.
    #[command(subcommand)]
    Ban(BanCommand),
    /// Backups that restore (docs/operations.md).
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Write a community's data (users without passwords, conversations, photos, albums) to
    /// a new directory, or one `.tar` file, another Tainá can import.
    Export {
        /// The community's slug, name or id.
        #[arg(long)]
        community: String,
        /// A new (or empty) directory, or a new `FILE.tar`.
        #[arg(long, value_name = "DIR|FILE.tar")]
        to: PathBuf,
    },
    /// Bring an export (its directory or `.tar` file) into this server as a new community;
    /// prints each user's new password.
    Import { from: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up the data (safe while the server runs) into a new directory under DIR.
    Create {
        /// Where backups go; default `backup.dir`.
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
    },
    /// Check a backup against its manifest and open its databases.
    Verify { path: PathBuf },
    /// Restore a backup into the configured (empty) data directory and database.
    Restore {
        path: PathBuf,
        /// Replace the databases, files and secret of a data directory that is not empty.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BanCommand {
    /// List the bans in force.
    List,
    /// Ban an address.
    Add {
        /// An IPv4 or IPv6 address.
        #[arg(long)]
        address: String,
        /// How long; default: the ban policy's length (doubling for repeat offenders).
        #[arg(long)]
        minutes: Option<u64>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift the ban on an address (and forget its earlier offences).
    Remove {
        #[arg(long)]
        address: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Send an alert to every community (the `system:alerts` topic); running servers relay it
    /// within a second.
    Send {
        /// The alert's text.
        #[arg(long)]
        message: String,
        #[arg(long, value_enum, default_value = "info")]
        level: AlertLevelArg,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AlertLevelArg {
    Info,
    Warning,
    Critical,
}

impl From<AlertLevelArg> for AlertLevel {
    fn from(level: AlertLevelArg) -> Self {
        match level {
            AlertLevelArg::Info => AlertLevel::Info,
            AlertLevelArg::Warning => AlertLevel::Warning,
            AlertLevelArg::Critical => AlertLevel::Critical,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input. Creates the community if needed.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum, default_value = "member")]
        role: RoleArg,
        /// Community name; created when it does not exist.
        #[arg(long)]
        community: String,
    },
    /// List users, optionally of one community (name or id).
    List {
        #[arg(long)]
        community: Option<String>,
    },
    /// Print a one-time password reset link (valid 24 h) for a user: for a community without
    /// mail, or a person who cannot read theirs.
    ResetLink {
        #[arg(long)]
        email: String,
        /// Community name or id, when the email exists in several.
        #[arg(long)]
        community: Option<String>,
    },
    /// Print a link that confirms a user's email address (`auth.require_confirmed_email`).
    ConfirmLink {
        #[arg(long)]
        email: String,
        /// Community name or id, when the email exists in several.
        #[arg(long)]
        community: Option<String>,
    },
    /// Change a user's role.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Community name or id, when the email exists in several.
        #[arg(long)]
        community: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Revoke every session of a user: their tokens stop working.
    Revoke {
        /// The user's email.
        #[arg(long)]
        user: String,
        /// Community name or id, when the email exists in several.
        #[arg(long)]
        community: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Admin,
    Member,
    Guest,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Member => Role::Member,
            RoleArg::Guest => Role::Guest,
        }
    }
}

/// Runs one parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(format) = cli.log_format {
        config.log_format = match format {
            LogFormatArg::Human => LogFormat::Human,
            LogFormatArg::Json => LogFormat::Json,
        };
    }
    crate::logging::init(&config.log, config.log_format);
    let data_dir = config.data_dir.clone();
    run_command(cli.command, config)
        .await
        .map_err(|e| anyhow::anyhow!(failure::explain(&e, &data_dir)))
}

async fn run_command(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Config => {
            if config.postgres_url().is_none() {
                let path = config.data_dir.join(crate::db::SQLITE_FILE);
                println!(
                    "# database: SQLite at {} (set database_url for PostgreSQL)",
                    path.display()
                );
            }
            print!("{}", config.to_redacted_toml());
            std::io::stdout().flush()?;
            Ok(())
        }
        Command::Migrate => {
            let state = AppState::open(config).await.context("while migrating")?;
            println!("migrations applied ({})", state.db.backend());
            state.db.close().await;
            Ok(())
        }
        Command::Serve => serve(config).await,
        Command::MigrateToPostgres { to } => migrate_to_postgres::run(config, &to).await,
        Command::Alert(AlertCommand::Send { message, level }) => {
            // The database and nothing else: the running servers do the delivering.
            let db = Db::connect(&config).await?;
            db.migrate().await?;
            let bus = std::sync::Arc::new(MemoryBus::new(1));
            let result = MonitoringService::configured(db.clone(), bus, config.monitoring.clone())
                .raise(level.into(), &message, AlertSource::Operator)
                .await;
            db.close().await;
            let id = result?;
            println!("alert {id} stored; running servers relay it to every community");
            Ok(())
        }
        Command::Ban(command) => {
            // The database and nothing else: running servers reload their bans.
            let db = Db::connect(&config).await?;
            db.migrate().await?;
            let bus = std::sync::Arc::new(MemoryBus::new(16));
            let monitoring =
                MonitoringService::configured(db.clone(), bus, config.monitoring.clone());
            let result = ban::run(&monitoring, command).await;
            db.close().await;
            result
        }
        Command::Backup(command) => backup::run(config, command).await,
        Command::Export { community, to } => {
            use crate::contexts::monitoring::export::archive;
            let state = AppState::open(config).await?;
            // `FILE.tar`: written as a directory next to it, packed, then removed.
            let dir = if archive::is_archive(&to) {
                archive::scratch_for(&to)
            } else {
                to.clone()
            };
            let result = crate::contexts::monitoring::export::export_community(
                &state.auth,
                &state.chat,
                &state.media,
                &community,
                &dir,
            )
            .await;
            state.db.close().await;
            let mut done = result?;
            if dir != to {
                let packed = archive::pack(&dir, &to);
                let _ = std::fs::remove_dir_all(&dir);
                packed?;
                done.path = to.clone();
            }
            println!(
                "exported {} user(s), {} conversation(s) with {} message(s), {} photo(s) \
                 ({:.1} MiB of originals) and {} album(s) into {}",
                done.users,
                done.conversations,
                done.messages,
                done.photos,
                done.original_bytes as f64 / 1024.0 / 1024.0,
                done.albums,
                done.path.display()
            );
            Ok(())
        }
        Command::Import { from } => {
            use crate::contexts::monitoring::export::archive;
            // `FILE.tar`: unpacked next to it first, removed afterwards.
            let dir = if from.is_file() && archive::is_archive(&from) {
                let dir = archive::scratch_for(&from);
                archive::unpack(&from, &dir)?;
                dir
            } else {
                from.clone()
            };
            let state = AppState::open(config).await?;
            let result = crate::contexts::monitoring::export::import_community(
                &state.auth,
                &state.chat,
                &state.media,
                &dir,
            )
            .await;
            state.db.close().await;
            if dir != from {
                let _ = std::fs::remove_dir_all(&dir);
            }
            let done = result?;
            println!(
                "imported community {:?}: {} user(s), {} conversation(s) with {} message(s), \
                 {} photo(s) (processed by the running server), {} album(s)",
                done.community,
                done.passwords.len(),
                done.conversations,
                done.messages,
                done.photos,
                done.albums
            );
            for line in &done.skipped {
                println!("skipped: {line}");
            }
            println!("new passwords (hand them over; users should change them):");
            for (email, password) in &done.passwords {
                println!("  {email}  {password}");
            }
            Ok(())
        }
        Command::User(command) => {
            let state = AppState::open(config).await?;
            let result = user::run(&state, command).await;
            state.db.close().await;
            result
        }
        Command::Session(SessionCommand::Revoke { user, community }) => {
            let state = AppState::open(config).await?;
            let result = async {
                let found = state.auth.find_user(&user, community.as_deref()).await?;
                let revoked = state.auth.revoke_all_sessions(&found.id).await?;
                println!("revoked {revoked} session(s) of {}", found.email);
                Ok(())
            }
            .await;
            state.db.close().await;
            result
        }
    }
}

/// Opens the state, binds the port, and only then starts background work: a server that
/// cannot listen (the port is taken, say by another server on the same data) must not
/// re-queue that server's jobs or remove its temporary files.
async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen.clone();
    let data_dir = config.data_dir.clone();
    let scheme = if config.tls.enabled() {
        "https"
    } else {
        "http"
    };
    // A certificate that does not load stops the start before anything else is touched.
    crate::tls::Tls::from_config(&config.tls, &config.data_dir).context("while starting")?;
    let state = AppState::open(config).await.context("while starting")?;
    // A host name is resolved here; the first address that binds is used.
    let listener = match tokio::net::TcpListener::bind(listen.as_str()).await {
        Ok(listener) => listener,
        Err(e) => {
            state.db.close().await;
            return Err(e).with_context(|| format!("cannot listen on {listen}"));
        }
    };
    let address = listener.local_addr()?;
    // Before anything else runs: from here on SIGINT/SIGTERM stop the server gracefully.
    let shutdown = crate::shutdown_signal();
    state.start().await;
    tracing::info!(
        %address,
        database = state.db.backend(),
        data_dir = %data_dir.display(),
        "listening on {scheme}://{address}"
    );
    crate::systemd::ready();
    crate::systemd::spawn_watchdog();
    let shutdown = async move {
        shutdown.await;
        crate::systemd::stopping();
    };
    crate::serve(state, listener, shutdown).await?;
    Ok(())
}
