//! Errors at the edges: [`AppError`] is what an HTTP request can fail with, rendered as
//! `{"error": {"code", "message"}}` with the right status; [`StartError`] is what start-up can
//! fail with. Internal causes are logged here and never sent to clients.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::config::ConfigError;
use crate::contexts::auth::AuthError;
use crate::contexts::chat::ChatError;
use crate::contexts::media::MediaError;
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("expected `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("no such route")]
    NotFound,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

impl AppError {
    /// The status and stable machine-readable code clients can branch on (docs/api.md).
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::Auth(e) => auth_status_and_code(e),
            AppError::Chat(e) => chat_status_and_code(e),
            AppError::Media(e) => media_status_and_code(e),
            AppError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            AppError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            AppError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            AppError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        }
    }
}

/// Media's errors as statuses and stable codes (also the `reason` of socket replies).
pub fn media_status_and_code(error: &MediaError) -> (StatusCode, &'static str) {
    match error {
        MediaError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        MediaError::QuotaExceeded { .. } => (StatusCode::INSUFFICIENT_STORAGE, "quota_exceeded"),
        MediaError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        MediaError::UnsupportedType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_type"),
        MediaError::ChecksumMismatch => (StatusCode::UNPROCESSABLE_ENTITY, "checksum_mismatch"),
        MediaError::OffsetMismatch { .. } => (StatusCode::CONFLICT, "offset_mismatch"),
        MediaError::UploadClosed(_) => (StatusCode::GONE, "upload_closed"),
        MediaError::SlugTaken => (StatusCode::CONFLICT, "slug_taken"),
        MediaError::RangeNotSatisfiable => {
            (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
        }
        MediaError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        MediaError::Forbidden | MediaError::GuestsMayNot(_) => (StatusCode::FORBIDDEN, "forbidden"),
        MediaError::Auth(e) => auth_status_and_code(e),
        MediaError::Storage(_) | MediaError::Io(_) | MediaError::Database(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

/// Auth's errors as statuses and stable codes (also the `reason` of socket replies).
pub fn auth_status_and_code(error: &AuthError) -> (StatusCode, &'static str) {
    use AuthError as A;
    match error {
        A::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        A::OtpRequired => (StatusCode::UNAUTHORIZED, "otp_required"),
        A::InvalidOtp => (StatusCode::UNAUTHORIZED, "invalid_otp"),
        A::CommunityRequired => (StatusCode::CONFLICT, "community_required"),
        A::MissingToken => (StatusCode::UNAUTHORIZED, "missing_token"),
        A::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
        A::TokenExpired => (StatusCode::UNAUTHORIZED, "token_expired"),
        A::SessionRevoked => (StatusCode::UNAUTHORIZED, "session_revoked"),
        A::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        A::InviteRequired => (StatusCode::FORBIDDEN, "invite_required"),
        A::InviteInvalid => (StatusCode::BAD_REQUEST, "invite_invalid"),
        A::InviteExpired => (StatusCode::GONE, "invite_expired"),
        A::InviteUsedUp => (StatusCode::GONE, "invite_used_up"),
        A::EmailTaken => (StatusCode::CONFLICT, "email_taken"),
        A::CommunityTaken => (StatusCode::CONFLICT, "community_taken"),
        A::PasswordTooShort => (StatusCode::UNPROCESSABLE_ENTITY, "password_too_short"),
        A::PasswordTooLong => (StatusCode::UNPROCESSABLE_ENTITY, "password_too_long"),
        A::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        A::TotpAlreadyEnabled => (StatusCode::CONFLICT, "totp_already_enabled"),
        A::TotpNotSetUp => (StatusCode::CONFLICT, "totp_not_set_up"),
        A::LastAdmin => (StatusCode::CONFLICT, "last_admin"),
        A::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        A::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        A::Database(_) | A::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// Chat's errors as statuses and stable codes (also the `reason` of socket replies).
pub fn chat_status_and_code(error: &ChatError) -> (StatusCode, &'static str) {
    match error {
        ChatError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        ChatError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        ChatError::EmptyBody => (StatusCode::UNPROCESSABLE_ENTITY, "empty_body"),
        ChatError::BodyTooLong(_) => (StatusCode::UNPROCESSABLE_ENTITY, "body_too_long"),
        ChatError::Forbidden | ChatError::GuestsMayNot(_) => (StatusCode::FORBIDDEN, "forbidden"),
        ChatError::Auth(e) => auth_status_and_code(e),
        ChatError::Database(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "internal error");
            "an internal error occurred".to_string()
        } else {
            self.to_string()
        };
        let mut response = (
            status,
            axum::Json(ErrorBody {
                error: ErrorDetail { code, message },
            }),
        )
            .into_response();
        if let AppError::Auth(AuthError::RateLimited { retry_after_secs }) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("auth: {0}")]
    Auth(#[from] AuthError),
    #[error("media storage: {0}")]
    Media(String),
}
