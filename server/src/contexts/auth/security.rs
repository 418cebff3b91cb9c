//! What auth reports to the security log: [`SecurityLog`] is the port, implemented by the
//! monitoring context (which persists the notes and bans addresses). Auth only reports; it
//! neither stores nor reads the log, so it does not depend on monitoring.

use std::sync::Arc;

use super::ClientInfo;
use crate::ids::{CommunityId, UserId};

/// The security-relevant things auth sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthSecurityKind {
    SigninSucceeded,
    SigninFailed,
    /// A wrong, reused or missing one-time (or recovery) code after a right password.
    OtpFailed,
    /// A sign-in or sign-up refused by the attempt limiter.
    RateLimited,
    /// A bearer token refused (expired, revoked, tampered).
    TokenRefused,
    RoleChanged,
    SessionsRevoked,
    InviteCreated,
    /// A password changed (by its owner, or through a reset link).
    PasswordChanged,
    /// A password reset link was asked for by email (whether or not the address has an
    /// account: the log shows who asks how often).
    PasswordResetRequested,
    /// An email address was confirmed or changed.
    EmailChanged,
    /// An account was removed, by its owner or an admin.
    AccountRemoved,
    /// An admin changed the community's settings.
    CommunityChanged,
}

/// One thing to log, with what is known of who did it.
#[derive(Clone, Debug)]
pub struct SecurityNote {
    pub kind: AuthSecurityKind,
    pub community_id: Option<String>,
    pub user_id: Option<String>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub reason: String,
}

impl SecurityNote {
    pub fn new(kind: AuthSecurityKind, client: &ClientInfo, reason: impl Into<String>) -> Self {
        Self {
            kind,
            community_id: None,
            user_id: None,
            address: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            reason: reason.into(),
        }
    }

    pub fn about(mut self, user_id: &UserId, community_id: &CommunityId) -> Self {
        self.user_id = Some(user_id.to_string());
        self.community_id = Some(community_id.to_string());
        self
    }
}

/// Where auth reports. `record` must not block or fail: it runs on the sign-in path.
pub trait SecurityLog: Send + Sync {
    fn record(&self, note: SecurityNote);
}

/// Until one is attached (one-shot CLI commands, unit tests): notes are dropped.
pub(super) type SecurityLogSlot = std::sync::OnceLock<Arc<dyn SecurityLog>>;
