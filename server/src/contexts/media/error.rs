//! Everything media can refuse.

use crate::contexts::auth::AuthError;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Also what anyone without access gets, so a photo's existence is not revealed.
    #[error("no such photo, album or upload")]
    NotFound,
    #[error(
        "the community's storage quota is used up ({used} of {quota} bytes; this needs {needed})"
    )]
    QuotaExceeded { used: u64, quota: u64, needed: u64 },
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the content is not a supported photo or video")]
    UnsupportedType,
    #[error("the bytes do not match the announced SHA-256; the upload was discarded")]
    ChecksumMismatch,
    #[error("expected a chunk at offset {expected}")]
    OffsetMismatch { expected: u64 },
    #[error("the upload is {0}")]
    UploadClosed(&'static str),
    #[error("an album with this slug already exists")]
    SlugTaken,
    #[error("the requested range cannot be served")]
    RangeNotSatisfiable,
    #[error("{0}")]
    Invalid(String),
    #[error("only the owner or an admin may do this")]
    Forbidden,
    /// What the `guest` role may not do (docs/api.md, "Roles").
    #[error("guests may not {0}")]
    GuestsMayNot(&'static str),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
