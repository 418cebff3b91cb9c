//! Security events as monitoring stores them: their kinds, one event, and a query's filter.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::contexts::auth::AuthSecurityKind;

/// What happened. Stored and shown as the snake_case name ([`as_str`](Self::as_str)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityEventKind {
    SigninSucceeded,
    SigninFailed,
    OtpFailed,
    RateLimited,
    TokenRefused,
    UpgradeRefused,
    BanIssued,
    BanLifted,
    RoleChanged,
    SessionsRevoked,
    InviteCreated,
    PasswordChanged,
    PasswordResetRequested,
    EmailChanged,
    AccountRemoved,
    CommunityChanged,
    /// A scheduled backup was written and verified.
    BackupCreated,
    /// A scheduled backup failed (an alert is raised too).
    BackupFailed,
}

impl SecurityEventKind {
    pub const ALL: &'static [SecurityEventKind] = &[
        Self::SigninSucceeded,
        Self::SigninFailed,
        Self::OtpFailed,
        Self::RateLimited,
        Self::TokenRefused,
        Self::UpgradeRefused,
        Self::BanIssued,
        Self::BanLifted,
        Self::RoleChanged,
        Self::SessionsRevoked,
        Self::InviteCreated,
        Self::PasswordChanged,
        Self::PasswordResetRequested,
        Self::EmailChanged,
        Self::AccountRemoved,
        Self::CommunityChanged,
        Self::BackupCreated,
        Self::BackupFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SigninSucceeded => "signin_succeeded",
            Self::SigninFailed => "signin_failed",
            Self::OtpFailed => "otp_failed",
            Self::RateLimited => "rate_limited",
            Self::TokenRefused => "token_refused",
            Self::UpgradeRefused => "upgrade_refused",
            Self::BanIssued => "ban_issued",
            Self::BanLifted => "ban_lifted",
            Self::RoleChanged => "role_changed",
            Self::SessionsRevoked => "sessions_revoked",
            Self::InviteCreated => "invite_created",
            Self::PasswordChanged => "password_changed",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::EmailChanged => "email_changed",
            Self::AccountRemoved => "account_removed",
            Self::CommunityChanged => "community_changed",
            Self::BackupCreated => "backup_created",
            Self::BackupFailed => "backup_failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == text)
    }
}

impl From<AuthSecurityKind> for SecurityEventKind {
    fn from(kind: AuthSecurityKind) -> Self {
        match kind {
            AuthSecurityKind::SigninSucceeded => Self::SigninSucceeded,
            AuthSecurityKind::SigninFailed => Self::SigninFailed,
            AuthSecurityKind::OtpFailed => Self::OtpFailed,
            AuthSecurityKind::RateLimited => Self::RateLimited,
            AuthSecurityKind::TokenRefused => Self::TokenRefused,
            AuthSecurityKind::RoleChanged => Self::RoleChanged,
            AuthSecurityKind::SessionsRevoked => Self::SessionsRevoked,
            AuthSecurityKind::InviteCreated => Self::InviteCreated,
            AuthSecurityKind::PasswordChanged => Self::PasswordChanged,
            AuthSecurityKind::PasswordResetRequested => Self::PasswordResetRequested,
            AuthSecurityKind::EmailChanged => Self::EmailChanged,
            AuthSecurityKind::AccountRemoved => Self::AccountRemoved,
            AuthSecurityKind::CommunityChanged => Self::CommunityChanged,
        }
    }
}

/// One entry of the security log. `community_id` is `None` for instance-wide events (a
/// sign-in failure for an unknown email, a ban).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityEvent {
    pub id: i64,
    pub kind: SecurityEventKind,
    pub at: DateTime<Utc>,
    pub community_id: Option<String>,
    pub user_id: Option<String>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub reason: String,
}

/// An event to store (its id and time are given when it is written).
#[derive(Clone, Debug)]
pub struct NewSecurityEvent {
    pub kind: SecurityEventKind,
    pub at: DateTime<Utc>,
    pub community_id: Option<String>,
    pub user_id: Option<String>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub reason: String,
}

/// Which events a query wants; every field narrows, `None` means any.
#[derive(Clone, Debug, Default)]
pub struct SecurityFilter {
    pub kind: Option<SecurityEventKind>,
    pub address: Option<String>,
    pub user_id: Option<String>,
}

/// Longest page of events one query returns.
pub const MAX_PAGE: u32 = 200;
