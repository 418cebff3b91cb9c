//! The stable error codes: what a client branches on, whichever way the error reached it.
//!
//! The same code travels as `error.code` in HTTP error bodies (`{"error": {"code",
//! "message"}}`), as `extensions.code` of GraphQL errors, and as `reason` of socket error
//! replies. `docs/api.md` ("Error codes") lists each with its HTTP status. Messages are for
//! people and may change; codes do not.
//!
//! New codes may be added in any release, so [`ErrorCode`] is `#[non_exhaustive]`. A client
//! that must survive codes newer than itself reads the code as a string and parses it with
//! [`str::parse`], treating an [`UnknownErrorCode`] like any failure it cannot act on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares [`ErrorCode`] from one list of `Variant = "code"`, so the enum, its strings (in
/// [`ErrorCode::as_str`] and in serde) and [`ErrorCode::ALL`] cannot drift apart.
macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $code:literal, )*) => {
        /// A stable error code (module docs). Serialized as its snake_case string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* #[serde(rename = $code)] $variant, )*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as it appears on the wire, e.g. `"invalid_token"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }

        impl FromStr for ErrorCode {
            type Err = UnknownErrorCode;

            fn from_str(code: &str) -> Result<Self, Self::Err> {
                match code {
                    $($code => Ok(ErrorCode::$variant),)*
                    other => Err(UnknownErrorCode(other.to_string())),
                }
            }
        }
    };
}

error_codes! {
    // The request itself.
    /// 400: malformed JSON, a missing field or a wrong type; the message names it.
    InvalidJson = "invalid_json",
    /// 400: the body could not be read.
    InvalidBody = "invalid_body",
    /// 400: a broken multipart body (uploads, GraphQL multipart requests).
    InvalidMultipart = "invalid_multipart",
    /// 400: an upload without a part named `file`.
    MissingFile = "missing_file",
    /// 422: a value out of range or of the wrong form; the message says which.
    InvalidInput = "invalid_input",
    /// 413: a body, file or publication over its limit.
    PayloadTooLarge = "payload_too_large",
    /// 415: a JSON route called without `Content-Type: application/json`.
    UnsupportedMediaType = "unsupported_media_type",
    /// 404: no such route, or nothing the caller may see under that name.
    NotFound = "not_found",
    /// 405: the route exists with another method.
    MethodNotAllowed = "method_not_allowed",
    /// 416: a `Range` outside the file.
    RangeNotSatisfiable = "range_not_satisfiable",
    /// 429: too many attempts; an HTTP answer says when to retry in `Retry-After`.
    RateLimited = "rate_limited",

    // Who is asking.
    /// GraphQL: the operation needs a signed-in caller.
    Unauthenticated = "unauthenticated",
    /// 401: no `Authorization: Bearer` header (or socket token) was sent.
    MissingToken = "missing_token",
    /// 401: bad signature, wrong algorithm, malformed, or claims not matching the session.
    InvalidToken = "invalid_token",
    /// 401: the token or its session has expired.
    TokenExpired = "token_expired",
    /// 401: the session was signed out or revoked.
    SessionRevoked = "session_revoked",
    /// 401: wrong email or password (the same answer for both).
    InvalidCredentials = "invalid_credentials",
    /// 401: two-factor authentication is on and no `otp` was sent.
    OtpRequired = "otp_required",
    /// 401: a wrong, expired or reused one-time or recovery code.
    InvalidOtp = "invalid_otp",
    /// 409: the email and password match accounts in several communities.
    CommunityRequired = "community_required",
    /// 403: the role does not allow it.
    Forbidden = "forbidden",

    // Accounts and communities.
    /// 403: sign-up after the first needs an invite.
    InviteRequired = "invite_required",
    /// 400: no such invite code.
    InviteInvalid = "invite_invalid",
    /// 410: the invite has expired.
    InviteExpired = "invite_expired",
    /// 410: the invite has been used up.
    InviteUsedUp = "invite_used_up",
    /// 409: the email already has an account in that community.
    EmailTaken = "email_taken",
    /// 409: a community with this name already exists.
    CommunityTaken = "community_taken",
    /// 422: the password is too short.
    PasswordTooShort = "password_too_short",
    /// 422: the password is too long.
    PasswordTooLong = "password_too_long",
    /// 409: two-factor authentication is already enabled.
    TotpAlreadyEnabled = "totp_already_enabled",
    /// 409: TOTP enrolment was not started.
    TotpNotSetUp = "totp_not_set_up",
    /// 409: the change would leave a community without an admin.
    LastAdmin = "last_admin",
    /// 403: an admin disabled this account (after the right password only).
    AccountDisabled = "account_disabled",
    /// 400: a password reset token that does not exist, has expired or was used.
    ResetInvalid = "reset_invalid",
    /// 403: the current password sent to change the password, the email or delete the
    /// account is wrong.
    WrongPassword = "wrong_password",
    /// 403: sign-in refused until the email address is confirmed (`auth.require_confirmed_email`).
    EmailUnconfirmed = "email_unconfirmed",
    /// 400: an email confirmation token that does not exist, has expired or was used.
    ConfirmationInvalid = "confirmation_invalid",

    // Chat.
    /// 422: a chat message without text.
    EmptyBody = "empty_body",
    /// 422: a chat message over the length limit.
    BodyTooLong = "body_too_long",
    /// GraphQL: the missed messages cannot be recovered; refetch the history.
    NotRecovered = "not_recovered",

    // Media.
    /// 507: the community's storage quota is used up.
    QuotaExceeded = "quota_exceeded",
    /// 415: the content is not a supported photo or video (whatever its name says).
    UnsupportedType = "unsupported_type",
    /// 422: the bytes do not match the announced SHA-256.
    ChecksumMismatch = "checksum_mismatch",
    /// 409: a socket upload chunk at the wrong offset.
    OffsetMismatch = "offset_mismatch",
    /// 410: the socket upload is complete, failed or expired.
    UploadClosed = "upload_closed",
    /// 409: an album slug already in use.
    SlugTaken = "slug_taken",

    // Files.
    /// 409: a file or folder with the same name (compared without case) is in the folder.
    NameTaken = "name_taken",
    /// 409: the folder a file or folder should go into does not exist.
    ParentMissing = "parent_missing",
    /// 410: a change cursor past the space's journal (another epoch): resync from the start.
    StaleCursor = "stale_cursor",
    /// 423: the file or folder is locked by someone else (WebDAV or an app); the error names them.
    Locked = "locked",
    /// 410: a public link past its expiry.
    ShareExpired = "share_expired",
    /// 401: a public link with a password, asked without one (`Taina-Share-Password`).
    SharePasswordRequired = "share_password_required",
    /// 400: tus: a required header is missing or malformed.
    InvalidHeader = "invalid_header",
    /// 412: tus: `Tus-Resumable` is not `1.0.0`.
    UnsupportedTusVersion = "unsupported_tus_version",
    /// 400: tus: `Upload-Checksum` names an algorithm the server does not support.
    UnsupportedChecksum = "unsupported_checksum",
    /// 460: tus: the chunk does not match its `Upload-Checksum` (it was discarded).
    ChunkChecksumMismatch = "chunk_checksum_mismatch",

    // Streaming.
    /// 409: a library with this path exists in the community.
    LibraryExists = "library_exists",
    /// 410: the item's file is no longer on the library's disk.
    MediaMissing = "media_missing",
    /// 503: every transcode slot is taken (`Retry-After`): retry shortly.
    TranscodeBusy = "transcode_busy",
    /// 502: ffmpeg failed on the item; the message has its reason.
    TranscodeFailed = "transcode_failed",
    /// 503: ffmpeg/ffprobe are not installed on the server.
    TranscoderUnavailable = "transcoder_unavailable",

    // Automation.
    /// 503: the command cannot reach the device (no MQTT broker configured or connected).
    DeviceUnavailable = "device_unavailable",

    // Connections and sockets.
    /// 429: over a connection cap (per address, per user), before the request is read.
    TooManyConnections = "too_many_connections",
    /// 503: the server holds as many connections as it may.
    ServerBusy = "server_busy",
    /// 403: the client's address is banned (repeated failures, or by an admin) until
    /// `banned_until`.
    Banned = "banned",
    /// 400: a socket upgrade speaking no protocol the server offers.
    UnsupportedProtocol = "unsupported_protocol",
    /// 400: `GET /socket/websocket` without a WebSocket upgrade.
    NotAWebsocket = "not_a_websocket",

    /// 500: something failed on the server; it is logged there and the message says nothing more.
    Internal = "internal",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the [`ErrorCode`]s this version knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code `{0}`")]
pub struct UnknownErrorCode(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    /// `SomeName` → `some_name`.
    fn snake_case(name: &str) -> String {
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn every_code_round_trips() {
        for &code in ErrorCode::ALL {
            let text = code.as_str();
            assert_eq!(
                text,
                snake_case(&format!("{code:?}")),
                "{code:?} is snake_case"
            );
            assert_eq!(code.to_string(), text);
            assert_eq!(text.parse::<ErrorCode>(), Ok(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn codes_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
    }

    #[test]
    fn unknown_codes_are_refused() {
        assert_eq!(
            "no_such_code".parse::<ErrorCode>(),
            Err(UnknownErrorCode("no_such_code".into()))
        );
        assert!(serde_json::from_str::<ErrorCode>("\"NotFound\"").is_err());
    }
}
