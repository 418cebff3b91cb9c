//! Everything files can refuse.

use crate::contexts::auth::AuthError;
use crate::contexts::media::MediaError;
use crate::ids::UserId;

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// Also what anyone without access gets, so a node's or space's existence is not revealed.
    #[error("no such space, file or folder")]
    NotFound,
    /// The parent folder of the target does not exist (WebDAV 409).
    #[error("the parent folder does not exist")]
    ParentMissing,
    /// A node with the same name (compared without case) is already in the folder.
    #[error("a file or folder named {0:?} already exists here")]
    NameTaken(String),
    #[error("invalid name: {0}")]
    InvalidName(String),
    #[error("{0}")]
    Invalid(String),
    /// A folder cannot move into itself or below itself.
    #[error("a folder cannot be moved or copied into itself")]
    IntoItself,
    #[error("the operation needs a {0}")]
    WrongKind(&'static str),
    #[error("you may not change this space")]
    Forbidden,
    /// What the `guest` role may not do (docs/api.md, "Roles").
    #[error("guests may not {0}")]
    GuestsMayNot(&'static str),
    #[error("the app password is wrong or revoked")]
    BadAppPassword,
    /// Someone else holds a lock on the node (or a deep lock above it).
    #[error("locked by another user ({holder})")]
    Locked { holder: UserId },
    #[error("the cursor is from another epoch of this space; resync from the start")]
    StaleCursor,
    /// A move or copy would take a node into or out of the shared folder it is reached by.
    #[error("a move or copy cannot cross the edge of a share")]
    OutsideShare,
    #[error("you may not share this: {0}")]
    MayNotShare(&'static str),
    /// What the permission of a public link does not allow.
    #[error("this link does not allow {0}")]
    LinkForbids(&'static str),
    #[error("this link has expired")]
    ShareExpired,
    #[error("this link needs its password (header `Taina-Share-Password`)")]
    SharePasswordRequired,
    #[error("the link's password is wrong")]
    WrongSharePassword,
    /// tus: a required header is missing or malformed (`Upload-Length`, `Upload-Offset`,
    /// `Upload-Metadata`, `Upload-Checksum`).
    #[error("bad {0} header: {1}")]
    BadHeader(&'static str, String),
    /// tus: `Tus-Resumable` names a version this server does not speak (412).
    #[error("this server speaks tus 1.0.0 only")]
    UnsupportedTusVersion,
    /// tus: `Upload-Checksum` names an algorithm this server does not support.
    #[error("unsupported checksum algorithm; supported: sha1, sha256")]
    UnsupportedChecksum,
    /// tus: a PATCH without `Content-Type: application/offset+octet-stream` (415).
    #[error("a PATCH needs Content-Type: application/offset+octet-stream")]
    NotOffsetOctetStream,
    /// tus: the chunk does not match its `Upload-Checksum`; it was discarded (460).
    #[error("the chunk does not match its Upload-Checksum; it was discarded")]
    ChunkChecksumMismatch,
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
