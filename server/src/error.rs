//! Errors at the edges, and the one table from an error to what a client is told.
//!
//! [`AppError`] is what a request can fail with, whichever transport carried it: a context's
//! error, or a refusal at the edge (a malformed body, no such route). Each maps to one stable
//! [`ErrorCode`] ([`AppError::code`], the table below) and to the message a client may read
//! ([`AppError::public_message`]): its own, except for `internal`, whose cause is logged there,
//! once, and replaced. The transports only render those two:
//!
//! - HTTP: `{"error": {"code", "message"}}` with [`AppError::status`] (the `IntoResponse`
//!   below, plus `Retry-After` and `WWW-Authenticate` where they apply);
//! - GraphQL: the message with `extensions.code` ([`crate::graphql::GqlError`]);
//! - socket replies: `{"reason": code, "message"}`.
//!
//! [`StartError`] is what start-up can fail with.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use taina_protocol::ErrorCode;

use crate::config::ConfigError;
use crate::contexts::auth::AuthError;
use crate::contexts::automation::AutomationError;
use crate::contexts::chat::ChatError;
use crate::contexts::files::FilesError;
use crate::contexts::media::MediaError;
use crate::contexts::monitoring::MonitoringError;
use crate::contexts::streaming::StreamingError;
use crate::db::DbError;

/// What clients read instead of an internal error's cause.
pub const INTERNAL_MESSAGE: &str = "an internal error occurred";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Monitoring(#[from] MonitoringError),
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Streaming(#[from] StreamingError),
    #[error(transparent)]
    Automation(#[from] AutomationError),
    /// A request refused before it reached a context, with a 400 code (`invalid_json`,
    /// `invalid_body`, `invalid_multipart`, `missing_file`) and a message naming the problem.
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("expected `Content-Type: application/json`")]
    UnsupportedMediaType,
    /// Refused at the edge for who is asking (the metrics endpoint), with the reason.
    #[error("{0}")]
    Forbidden(String),
    #[error("no such route")]
    NotFound,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
}

impl AppError {
    /// The stable code clients branch on (`docs/api.md`, "Error codes").
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Auth(e) => auth_code(e),
            AppError::Chat(e) => chat_code(e),
            AppError::Media(e) => media_code(e),
            AppError::Monitoring(e) => monitoring_code(e),
            AppError::Files(e) => files_code(e),
            AppError::Streaming(e) => streaming_code(e),
            AppError::Automation(e) => automation_code(e),
            AppError::BadRequest { code, .. } => *code,
            AppError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            AppError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::NotFound => ErrorCode::NotFound,
            AppError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
        }
    }

    /// The message a client may read: the error's own, except for [`ErrorCode::Internal`],
    /// whose cause is logged here and replaced by [`INTERNAL_MESSAGE`]. The decision is by
    /// code, not by status class (a 507 `quota_exceeded` keeps its message). Call it once per
    /// error answered, so each internal cause is logged once.
    pub fn public_message(&self) -> String {
        if self.code() == ErrorCode::Internal {
            tracing::error!(error = %self, "internal error");
            INTERNAL_MESSAGE.to_string()
        } else {
            self.to_string()
        }
    }

    /// The HTTP status of this error's code.
    pub fn status(&self) -> StatusCode {
        http_status(self.code())
    }
}

// The table. Each context's errors map to codes here and nowhere else; the HTTP status follows
// from the code. `docs/api.md` lists the same pairs (a test below keeps them in step).

fn auth_code(error: &AuthError) -> ErrorCode {
    use AuthError as A;
    use ErrorCode as C;
    match error {
        A::InvalidCredentials => C::InvalidCredentials,
        A::OtpRequired => C::OtpRequired,
        A::InvalidOtp => C::InvalidOtp,
        A::CommunityRequired => C::CommunityRequired,
        A::MissingToken => C::MissingToken,
        A::InvalidToken => C::InvalidToken,
        A::TokenExpired => C::TokenExpired,
        A::SessionRevoked => C::SessionRevoked,
        A::Forbidden => C::Forbidden,
        A::AccountDisabled => C::AccountDisabled,
        A::ResetInvalid => C::ResetInvalid,
        A::WrongPassword => C::WrongPassword,
        A::EmailUnconfirmed => C::EmailUnconfirmed,
        A::ConfirmationInvalid => C::ConfirmationInvalid,
        A::SlugTaken => C::SlugTaken,
        A::InviteRequired => C::InviteRequired,
        A::InviteInvalid => C::InviteInvalid,
        A::InviteExpired => C::InviteExpired,
        A::InviteUsedUp => C::InviteUsedUp,
        A::EmailTaken => C::EmailTaken,
        A::CommunityTaken => C::CommunityTaken,
        A::PasswordTooShort => C::PasswordTooShort,
        A::PasswordTooLong => C::PasswordTooLong,
        A::Invalid(_) => C::InvalidInput,
        A::TotpAlreadyEnabled => C::TotpAlreadyEnabled,
        A::TotpNotSetUp => C::TotpNotSetUp,
        A::LastAdmin => C::LastAdmin,
        A::NotFound(_) => C::NotFound,
        A::RateLimited { .. } => C::RateLimited,
        A::Database(_) | A::Internal(_) => C::Internal,
    }
}

fn chat_code(error: &ChatError) -> ErrorCode {
    use ErrorCode as C;
    match error {
        ChatError::NotFound | ChatError::MessageNotFound => C::NotFound,
        ChatError::Invalid(_) => C::InvalidInput,
        ChatError::NotYours(_) | ChatError::GroupAdminsOnly(_) => C::Forbidden,
        ChatError::EmptyBody => C::EmptyBody,
        ChatError::BodyTooLong(_) => C::BodyTooLong,
        ChatError::Forbidden | ChatError::GuestsMayNot(_) => C::Forbidden,
        ChatError::Auth(e) => auth_code(e),
        ChatError::Database(_) => C::Internal,
    }
}

fn media_code(error: &MediaError) -> ErrorCode {
    use ErrorCode as C;
    use MediaError as M;
    match error {
        M::NotFound => C::NotFound,
        M::QuotaExceeded { .. } => C::QuotaExceeded,
        M::TooLarge { .. } => C::PayloadTooLarge,
        M::UnsupportedType => C::UnsupportedType,
        M::ChecksumMismatch => C::ChecksumMismatch,
        M::OffsetMismatch { .. } => C::OffsetMismatch,
        M::UploadClosed(_) => C::UploadClosed,
        M::SlugTaken => C::SlugTaken,
        M::RangeNotSatisfiable => C::RangeNotSatisfiable,
        M::Invalid(_) => C::InvalidInput,
        M::Forbidden | M::GuestsMayNot(_) => C::Forbidden,
        M::Auth(e) => auth_code(e),
        M::Storage(_) | M::Io(_) | M::Database(_) => C::Internal,
    }
}

fn automation_code(error: &AutomationError) -> ErrorCode {
    use AutomationError as A;
    use ErrorCode as C;
    match error {
        A::NotFound => C::NotFound,
        A::Invalid(_) | A::NotSupported { .. } => C::InvalidInput,
        A::Forbidden(_) => C::Forbidden,
        A::NotConnected => C::DeviceUnavailable,
        A::Auth(e) => auth_code(e),
        A::Database(_) => C::Internal,
    }
}

fn streaming_code(error: &StreamingError) -> ErrorCode {
    use ErrorCode as C;
    use StreamingError as S;
    match error {
        S::NotFound => C::NotFound,
        S::Invalid(_) => C::InvalidInput,
        S::Forbidden => C::Forbidden,
        S::LibraryExists => C::LibraryExists,
        S::FileMissing => C::MediaMissing,
        S::ToolsMissing => C::TranscoderUnavailable,
        S::TranscodeBusy => C::TranscodeBusy,
        S::TranscodeFailed(_) => C::TranscodeFailed,
        S::BadUrlToken => C::InvalidToken,
        S::RangeNotSatisfiable => C::RangeNotSatisfiable,
        S::Io(_) | S::Database(_) => C::Internal,
    }
}

fn files_code(error: &FilesError) -> ErrorCode {
    use ErrorCode as C;
    use FilesError as F;
    match error {
        F::NotFound => C::NotFound,
        F::ParentMissing => C::ParentMissing,
        F::NameTaken(_) => C::NameTaken,
        F::InvalidName(_) | F::Invalid(_) | F::IntoItself | F::WrongKind(_) => C::InvalidInput,
        F::Forbidden | F::GuestsMayNot(_) => C::Forbidden,
        F::BadAppPassword => C::InvalidCredentials,
        F::StaleCursor => C::StaleCursor,
        F::Locked { .. } => C::Locked,
        F::OutsideShare | F::MayNotShare(_) | F::LinkForbids(_) => C::Forbidden,
        F::ShareExpired => C::ShareExpired,
        F::SharePasswordRequired => C::SharePasswordRequired,
        F::WrongSharePassword => C::InvalidCredentials,
        F::BadHeader(..) => C::InvalidHeader,
        F::UnsupportedTusVersion => C::UnsupportedTusVersion,
        F::UnsupportedChecksum => C::UnsupportedChecksum,
        F::NotOffsetOctetStream => C::UnsupportedMediaType,
        F::ChunkChecksumMismatch => C::ChunkChecksumMismatch,
        F::Media(e) => media_code(e),
        F::Auth(e) => auth_code(e),
        F::Database(_) => C::Internal,
    }
}

fn monitoring_code(error: &MonitoringError) -> ErrorCode {
    match error {
        MonitoringError::Invalid(_) => ErrorCode::InvalidInput,
        MonitoringError::Banned { .. } => ErrorCode::Banned,
        MonitoringError::NoSuchBan => ErrorCode::NotFound,
        MonitoringError::Auth(e) => auth_code(e),
        MonitoringError::Backup(_) | MonitoringError::Export(_) | MonitoringError::Database(_) => {
            ErrorCode::Internal
        }
    }
}

/// The HTTP status that goes with `code`.
pub fn http_status(code: ErrorCode) -> StatusCode {
    use ErrorCode as C;
    match code {
        C::InvalidJson
        | C::InvalidBody
        | C::InvalidMultipart
        | C::MissingFile
        | C::InviteInvalid
        | C::ResetInvalid
        | C::ConfirmationInvalid
        | C::UnsupportedProtocol
        | C::NotAWebsocket
        | C::InvalidHeader
        | C::UnsupportedChecksum => StatusCode::BAD_REQUEST,
        C::MissingToken
        | C::InvalidToken
        | C::TokenExpired
        | C::SessionRevoked
        | C::InvalidCredentials
        | C::OtpRequired
        | C::InvalidOtp
        | C::SharePasswordRequired => StatusCode::UNAUTHORIZED,
        C::Forbidden | C::InviteRequired | C::AccountDisabled | C::Banned => StatusCode::FORBIDDEN,
        C::WrongPassword | C::EmailUnconfirmed => StatusCode::FORBIDDEN,
        C::NotFound => StatusCode::NOT_FOUND,
        C::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        C::CommunityRequired
        | C::EmailTaken
        | C::CommunityTaken
        | C::TotpAlreadyEnabled
        | C::TotpNotSetUp
        | C::LastAdmin
        | C::OffsetMismatch
        | C::SlugTaken
        | C::NameTaken
        | C::ParentMissing
        | C::LibraryExists => StatusCode::CONFLICT,
        C::InviteExpired
        | C::InviteUsedUp
        | C::UploadClosed
        | C::StaleCursor
        | C::ShareExpired
        | C::MediaMissing => StatusCode::GONE,
        C::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        C::UnsupportedMediaType | C::UnsupportedType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        C::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        C::InvalidInput
        | C::PasswordTooShort
        | C::PasswordTooLong
        | C::EmptyBody
        | C::BodyTooLong
        | C::ChecksumMismatch => StatusCode::UNPROCESSABLE_ENTITY,
        C::Locked => StatusCode::LOCKED,
        C::RateLimited | C::TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
        C::ServerBusy | C::TranscodeBusy | C::TranscoderUnavailable | C::DeviceUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        C::TranscodeFailed => StatusCode::BAD_GATEWAY,
        C::QuotaExceeded => StatusCode::INSUFFICIENT_STORAGE,
        C::UnsupportedTusVersion => StatusCode::PRECONDITION_FAILED,
        // tus's own status for a chunk that fails its checksum ("460 Checksum Mismatch").
        C::ChunkChecksumMismatch => StatusCode::from_u16(460).expect("a valid status"),
        C::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        // GraphQL only: never an HTTP answer of their own.
        C::Unauthenticated | C::NotRecovered => StatusCode::INTERNAL_SERVER_ERROR,
        // Codes newer than this table (`ErrorCode` is non-exhaustive); the test below fails
        // until each is documented with its status and listed here.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize)]
struct ErrorDetail {
    code: ErrorCode,
    message: String,
    /// `banned` only: when the ban ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    banned_until: Option<chrono::DateTime<chrono::Utc>>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let code = self.code();
        let status = http_status(code);
        let message = self.public_message();
        let banned_until = match &self {
            AppError::Monitoring(MonitoringError::Banned { until }) => Some(*until),
            _ => None,
        };
        let mut response = (
            status,
            axum::Json(ErrorBody {
                error: ErrorDetail {
                    code,
                    message,
                    banned_until,
                },
            }),
        )
            .into_response();
        if let Some(until) = banned_until {
            let seconds = (until - chrono::Utc::now()).num_seconds().max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let AppError::Auth(AuthError::RateLimited { retry_after_secs })
        | AppError::Files(FilesError::Auth(AuthError::RateLimited { retry_after_secs })) = self
        {
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
    #[error("event bus: {0}")]
    Bus(#[from] crate::events::BusError),
    #[error("web push: {0}")]
    Push(#[from] crate::contexts::chat::push::PushError),
    #[error("mail: {0}")]
    Mail(#[from] crate::mail::MailError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/api.md`'s "Error codes" table as (status, code) pairs; `None` for "—".
    fn documented() -> Vec<(Option<u16>, String)> {
        let doc = include_str!("../../docs/api.md");
        let table = doc
            .split("## Error codes")
            .nth(1)
            .expect("docs/api.md has an \"Error codes\" section");
        let mut rows = Vec::new();
        for line in table.lines().skip_while(|l| !l.starts_with('|')) {
            let Some(line) = line.strip_prefix('|') else {
                break;
            };
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells[0] == "status" || cells[0].starts_with('-') {
                continue;
            }
            let status = cells[0].parse::<u16>().ok();
            for code in cells[1].split(',') {
                rows.push((status, code.trim().trim_matches('`').to_string()));
            }
        }
        rows
    }

    #[test]
    fn docs_list_every_code_with_its_status() {
        let rows = documented();
        for &code in ErrorCode::ALL {
            let statuses: Vec<Option<u16>> = rows
                .iter()
                .filter(|(_, c)| c == code.as_str())
                .map(|(s, _)| *s)
                .collect();
            assert!(!statuses.is_empty(), "`{code}` is not in docs/api.md");
            for status in statuses {
                if let Some(status) = status {
                    assert_eq!(http_status(code).as_u16(), status, "status of `{code}`");
                } else {
                    assert_eq!(
                        http_status(code),
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "`{code}` has no documented status"
                    );
                }
            }
        }
        for (_, code) in &rows {
            assert!(
                code.parse::<ErrorCode>().is_ok(),
                "docs/api.md lists `{code}`, which is no ErrorCode"
            );
        }
    }

    #[test]
    fn only_internal_hides_its_message() {
        let quota = AppError::from(MediaError::QuotaExceeded {
            used: 1,
            quota: 2,
            needed: 3,
        });
        assert_eq!(quota.code(), ErrorCode::QuotaExceeded);
        assert_eq!(quota.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(quota.public_message(), quota.to_string());

        let internal = AppError::from(ChatError::Database(sqlx::Error::PoolClosed));
        assert_eq!(internal.code(), ErrorCode::Internal);
        assert_eq!(internal.public_message(), INTERNAL_MESSAGE);

        let guest = AppError::from(MediaError::GuestsMayNot("upload photos"));
        assert_eq!(guest.code(), ErrorCode::Forbidden);
        assert_eq!(guest.status(), StatusCode::FORBIDDEN);
        assert_eq!(guest.public_message(), "guests may not upload photos");
    }

    #[test]
    fn nested_auth_errors_keep_their_code() {
        let expired = AppError::from(ChatError::Auth(AuthError::TokenExpired));
        assert_eq!(expired.code(), ErrorCode::TokenExpired);
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    }
}
