//! Everything automation can refuse.

use crate::contexts::auth::AuthError;

#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    /// Also what members of other communities get, so an entity's existence is not revealed.
    #[error("no such entity or device")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    /// Not allowed to the caller: their access to the entity, or a task for admins.
    #[error("{0}")]
    Forbidden(String),
    /// The entity cannot do that (a sensor cannot be switched, a switch has no temperature).
    #[error("a {kind} cannot {action}")]
    NotSupported { kind: &'static str, action: String },
    /// No MQTT broker is configured or connected for the command to go out.
    #[error("the MQTT broker is not connected")]
    NotConnected,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
