//! Everything chat can refuse.

use crate::contexts::auth::AuthError;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Also what non-participants get, so a conversation's existence is not revealed.
    #[error("no such conversation")]
    NotFound,
    /// The conversation exists for the caller but the message does not (or was deleted).
    #[error("no such message")]
    MessageNotFound,
    #[error("{0}")]
    Invalid(String),
    /// Only a message's sender (for deletes: or a group admin) may do this.
    #[error("only the sender may {0} this message")]
    NotYours(&'static str),
    /// Only a group's admins may do this.
    #[error("only the group's admins may {0}")]
    GroupAdminsOnly(&'static str),
    #[error("message body must not be empty")]
    EmptyBody,
    #[error("message body is longer than {0} characters")]
    BodyTooLong(usize),
    #[error("only participants may do this")]
    Forbidden,
    /// What the `guest` role may not do (docs/api.md, "Roles").
    #[error("guests may not {0}")]
    GuestsMayNot(&'static str),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
