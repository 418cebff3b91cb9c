//! Everything chat can refuse.

use crate::contexts::auth::AuthError;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Also what non-participants get, so a conversation's existence is not revealed.
    #[error("no such conversation")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
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
