//! The auth context: communities, users, sessions, invites, TOTP and roles.
//!
//! Owns the `public` tables `communities`, `users`, `user_sessions`, `community_invites`,
//! `user_recovery_codes`, `password_resets` and `email_confirmations`; TOTP secrets are stored
//! sealed ([`SecretCipher`]). Other code goes through [`AuthService`]; SQL stays in the private
//! store. Account self-service (reset by email, password change, email confirmation and change,
//! removal) and community settings live in a file each; their letters go out through
//! `crate::mail` (`mail.rs` writes them).
//! Publishes `user.signed_up`, `user.signed_in`, `user.signed_out`, `user.role_changed`,
//! `user.sessions_revoked`, `session.revoked`, `user.password_changed`, `user.email_confirmed`,
//! `user.deleted` and `community.settings_changed` ([`events`]).

mod accounts;
mod admin;
mod community;
mod email;
mod error;
pub mod events;
pub mod graphql;
pub mod http;
mod mail;
mod model;
mod password;
mod password_change;
mod rate_limit;
mod removal;
mod secret_cipher;
pub mod security;
mod service;
mod session_cache;
mod store;
pub mod token;
mod totp;

pub use accounts::{PasswordReset, ResetDelivery, RESET_VALID_HOURS};
pub use admin::{DeviceSession, OpenInvite};
pub use email::ConfirmDelivery;
pub use error::AuthError;
pub use model::slugify;
pub use model::{
    ClientInfo, Community, CommunityChanges, CommunitySettings, CreatedInvite, NewInvite,
    Principal, Registration, Role, SignIn, SignUp, SignedIn, SignedUp, TotpEnabled, TotpSetup,
    User,
};
pub use rate_limit::AttemptLimiter;
pub use removal::DELETED_NAME;
pub use secret_cipher::SecretCipher;
pub use security::{AuthSecurityKind, SecurityLog, SecurityNote};
pub use service::AuthService;
pub use token::TokenKeys;
