//! Everything monitoring can refuse.

use chrono::{DateTime, Utc};

use crate::contexts::auth::AuthError;

#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    #[error("{0}")]
    Invalid(String),
    /// The client's address is banned; every request is refused until then.
    #[error("this address is banned until {}", .until.to_rfc3339())]
    Banned { until: DateTime<Utc> },
    #[error("no ban on this address")]
    NoSuchBan,
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A backup the API asked for failed: the operator's to fix (logged, `internal`).
    #[error("backup: {0}")]
    Backup(#[from] super::backup::BackupError),
    /// An export the API asked for failed: the operator's to fix (logged, `internal`).
    #[error("export: {0}")]
    Export(#[from] super::export::ExportError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
