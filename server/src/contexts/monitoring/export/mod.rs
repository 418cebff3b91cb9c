//! A community's data to take elsewhere: `taina export` writes a directory of JSON files and
//! original photos with a README describing them (`format`), `taina import` brings one into
//! another Tainá through the services, so every rule (roles, quotas, processing) applies as if
//! the people had done it themselves.
//!
//! What travels: the community's name; its users (email, role; never password hashes or TOTP
//! secrets); conversations with their participants and messages in order; photos with their
//! original bytes; albums with their photos. What does not: sessions, invites, renditions
//! (rebuilt after the import), timestamps of messages (they are sent anew, in order).
//!
//! `format`: the files and the README; `write`: the export; `read`: the import; `archive`:
//! the directory as one `.tar` file.

pub mod archive;
mod format;
mod read;
mod write;

pub use format::{
    ExportedAlbum, ExportedConversation, ExportedMessage, ExportedPhoto, ExportedUser, Header,
};
pub use read::{import_community, Imported};
pub use write::{export_community, Exported};

use crate::contexts::auth::{AuthError, Principal, User};
use crate::contexts::chat::ChatError;
use crate::contexts::media::MediaError;

/// Why an export or an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is not an export (no community.json)")]
    NotAnExport(std::path::PathBuf),
    #[error("{file}: {error}")]
    Format { file: String, error: String },
    #[error("auth: {0}")]
    Auth(#[from] AuthError),
    #[error("chat: {0}")]
    Chat(#[from] ChatError),
    #[error("media: {0}")]
    Media(#[from] MediaError),
}

fn io(
    what: &'static str,
    path: impl Into<std::path::PathBuf>,
) -> impl FnOnce(std::io::Error) -> ExportError {
    let path = path.into();
    move |source| ExportError::Io { what, path, source }
}

/// The operator acting as `user` (the services check roles and communities on a principal).
fn acting_as(user: &User) -> Principal {
    user.acting_as("operator")
}
