//! The monitoring context (Karai), schema `monitoring`:
//!
//! - instance-wide alerts: raised by the server itself or by the operator
//!   (`taina alert send`), stored, and relayed by every running server as `alert.raised`
//!   events, which the socket layer delivers on `system:alerts` to every community;
//! - the security log (`security_events`): sign-ins, refused tokens and socket upgrades,
//!   rate-limit hits, admin actions, bans; written in the background, pruned after
//!   `monitoring.retention_days`, streamed live to admins ([`MonitoringService::watch_security_events`];
//!   not on the domain event bus, whose subscribers see domain events only);
//! - bans (`bans`): failures of a kind from one address ban it (doubling for repeat
//!   offenders); every request is checked against the in-memory ban book first.
//!
//! Auth reports to the log through its `SecurityLog` port, which [`MonitoringService`]
//! implements; monitoring depends on auth (roles), never the other way round.

pub mod backup;
mod ban;
mod error;
mod events;
pub mod export;
pub mod graphql;
pub mod health;
pub mod http;
mod model;
mod security;
mod service;
mod store;
mod watchdog;
mod writer;

pub use ban::{Ban, BanPolicy};
pub use error::MonitoringError;
pub use events::{AlertRaised, ALERT_RAISED, SECURITY_PREFIX};
pub use model::{Alert, AlertLevel, AlertSource};
pub use security::{NewSecurityEvent, SecurityEvent, SecurityEventKind, SecurityFilter, MAX_PAGE};
pub use service::{MonitoringService, SecurityPage};
