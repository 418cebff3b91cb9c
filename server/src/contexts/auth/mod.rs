//! The auth context: communities, users, sessions, invites, TOTP and roles.
//!
//! Owns the `public` tables `communities`, `users`, `user_sessions`, `community_invites` and
//! `user_recovery_codes`; TOTP secrets are stored sealed ([`SecretCipher`]). Other code goes
//! through [`AuthService`]; SQL stays in the private store.
//! Publishes `user.signed_up`, `user.signed_in`, `user.signed_out`, `user.role_changed`,
//! `user.sessions_revoked` and `session.revoked` ([`events`]).

mod accounts;
mod admin;
mod error;
pub mod events;
pub mod graphql;
pub mod http;
mod model;
mod password;
mod rate_limit;
mod secret_cipher;
pub mod security;
mod service;
mod session_cache;
mod store;
pub mod token;
mod totp;

pub use accounts::{PasswordReset, RESET_VALID_HOURS};
pub use admin::{DeviceSession, OpenInvite};
pub use error::AuthError;
pub use model::slugify;
pub use model::{
    ClientInfo, Community, CreatedInvite, NewInvite, Principal, Role, SignIn, SignUp, SignedIn,
    SignedUp, TotpEnabled, TotpSetup, User,
};
pub use rate_limit::AttemptLimiter;
pub use secret_cipher::SecretCipher;
pub use security::{AuthSecurityKind, SecurityLog, SecurityNote};
pub use service::AuthService;
pub use token::TokenKeys;
