//! How errors reach GraphQL clients: a message and `extensions.code`, from the one error table
//! ([`AppError::code`], [`AppError::public_message`]).

use async_graphql::ErrorExtensions;
use taina_protocol::ErrorCode;

use crate::contexts::auth::AuthError;
use crate::contexts::automation::AutomationError;
use crate::contexts::chat::ChatError;
use crate::contexts::files::FilesError;
use crate::contexts::media::MediaError;
use crate::contexts::monitoring::MonitoringError;
use crate::contexts::streaming::StreamingError;
use crate::error::AppError;

/// What resolvers fail with: a message and a stable `extensions.code`.
///
/// Resolvers return `Result<T, GqlError>` and use `?` on context errors, which convert through
/// [`AppError`]: the same code as over HTTP and the socket, and only `internal` hides its
/// message (logged once, by [`AppError::public_message`]).
///
/// Why not `impl From<AuthError> for async_graphql::Error`: async-graphql converts every
/// `Display` type into its error already (no code, the message as it is), so that impl would
/// conflict, and `?` into `async_graphql::Result` quietly takes the blanket path. `GqlError`
/// is not `Display`, so the error table is its only way in from a context error.
#[derive(Clone, Debug)]
pub struct GqlError(async_graphql::Error);

impl GqlError {
    /// An error the GraphQL layer raises itself, with no context error behind it.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        GqlError(
            async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code.as_str())),
        )
    }
}

impl From<AppError> for GqlError {
    fn from(error: AppError) -> Self {
        GqlError::new(error.code(), error.public_message())
    }
}

impl From<AuthError> for GqlError {
    fn from(error: AuthError) -> Self {
        AppError::from(error).into()
    }
}

impl From<ChatError> for GqlError {
    fn from(error: ChatError) -> Self {
        AppError::from(error).into()
    }
}

impl From<MediaError> for GqlError {
    fn from(error: MediaError) -> Self {
        AppError::from(error).into()
    }
}

impl From<FilesError> for GqlError {
    fn from(error: FilesError) -> Self {
        AppError::from(error).into()
    }
}

impl From<AutomationError> for GqlError {
    fn from(error: AutomationError) -> Self {
        AppError::from(error).into()
    }
}

impl From<StreamingError> for GqlError {
    fn from(error: StreamingError) -> Self {
        AppError::from(error).into()
    }
}

impl From<MonitoringError> for GqlError {
    fn from(error: MonitoringError) -> Self {
        AppError::from(error).into()
    }
}

/// Errors async-graphql itself reports (reading an upload, missing data), passed on unchanged.
impl From<async_graphql::Error> for GqlError {
    fn from(error: async_graphql::Error) -> Self {
        GqlError(error)
    }
}

impl From<GqlError> for async_graphql::Error {
    fn from(error: GqlError) -> Self {
        error.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_and_message(error: GqlError) -> (String, String) {
        let error = async_graphql::Error::from(error);
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(|v| v.to_string())
            .unwrap_or_default();
        (code, error.message)
    }

    #[test]
    fn context_errors_carry_their_code() {
        assert_eq!(
            code_and_message(AuthError::Forbidden.into()),
            (
                "\"forbidden\"".into(),
                "your role does not allow this".into()
            )
        );
        let quota = MediaError::QuotaExceeded {
            used: 1,
            quota: 2,
            needed: 3,
        };
        let message = quota.to_string();
        assert_eq!(
            code_and_message(quota.into()),
            ("\"quota_exceeded\"".into(), message)
        );
        assert_eq!(
            code_and_message(ChatError::Database(sqlx::Error::PoolClosed).into()),
            ("\"internal\"".into(), crate::error::INTERNAL_MESSAGE.into())
        );
    }
}
