//! Everything auth can refuse, one variant per reason a client can act on.

/// Auth's errors. The error table (`crate::error`) maps each to a stable code and HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("this account has two-factor authentication: send `otp`")]
    OtpRequired,
    #[error("the one-time code is wrong, expired or already used")]
    InvalidOtp,
    #[error("this email has accounts in several communities: send `community`")]
    CommunityRequired,
    #[error("no bearer token was sent")]
    MissingToken,
    #[error("the token is invalid")]
    InvalidToken,
    #[error("the token has expired")]
    TokenExpired,
    #[error("the session has been signed out or revoked")]
    SessionRevoked,
    #[error("your role does not allow this")]
    Forbidden,
    #[error("this account is disabled: ask an admin of your community")]
    AccountDisabled,
    #[error("the password reset link is not valid, has expired or was already used")]
    ResetInvalid,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("confirm your email address first: open the link sent to it")]
    EmailUnconfirmed,
    #[error("the confirmation link is not valid, has expired or was already used")]
    ConfirmationInvalid,
    #[error("a community with this slug already exists")]
    SlugTaken,
    #[error("sign-up needs an invite code on this instance")]
    InviteRequired,
    #[error("the invite code is not valid")]
    InviteInvalid,
    #[error("the invite has expired")]
    InviteExpired,
    #[error("the invite has been used up")]
    InviteUsedUp,
    #[error("an account with this email already exists in this community")]
    EmailTaken,
    #[error("a community with this name already exists")]
    CommunityTaken,
    #[error("password must be at least 8 characters")]
    PasswordTooShort,
    #[error("password must be at most 1024 bytes")]
    PasswordTooLong,
    #[error("{0}")]
    Invalid(String),
    #[error("two-factor authentication is already enabled")]
    TotpAlreadyEnabled,
    #[error("call /api/auth/totp/setup first")]
    TotpNotSetUp,
    #[error("a community must keep at least one admin")]
    LastAdmin,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}
