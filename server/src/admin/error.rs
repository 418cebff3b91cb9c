//! What a panel request can fail with, and how the failure is shown: as the flash message of
//! an htmx request, or as a page with the sentence when JavaScript is off. Causes of internal
//! errors are logged (once, by [`AppError::public_message`]) and never shown.

use axum::http::StatusCode;

use crate::contexts::auth::AuthError;
use crate::contexts::chat::ChatError;
use crate::contexts::files::FilesError;
use crate::contexts::media::MediaError;
use crate::contexts::monitoring::MonitoringError;
use crate::error::{AppError, INTERNAL_MESSAGE};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A form field out of range or missing.
    #[error("{0}")]
    Invalid(String),
    #[error("the form's security token is missing or stale: reload the page and try again")]
    Csrf,
    /// A part of the server the action needs (the shared topic log) did not answer.
    #[error("not done, try again: {0}")]
    Unavailable(String),
}

macro_rules! through_app_error {
    ($($error:ty),*) => {
        $(impl From<$error> for AdminError {
            fn from(error: $error) -> Self {
                AdminError::App(error.into())
            }
        })*
    };
}

through_app_error!(
    AuthError,
    ChatError,
    FilesError,
    MediaError,
    MonitoringError
);

impl AdminError {
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::App(e) => e.status(),
            AdminError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AdminError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AdminError::Csrf => StatusCode::FORBIDDEN,
            AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The sentence shown; internal causes are logged here and replaced.
    pub fn public_message(&self) -> String {
        match self {
            AdminError::App(e) => e.public_message(),
            AdminError::Database(e) => {
                tracing::error!(error = %e, "admin panel: database error");
                INTERNAL_MESSAGE.to_owned()
            }
            other => other.to_string(),
        }
    }
}
