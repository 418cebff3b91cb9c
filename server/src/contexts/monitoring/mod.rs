//! The monitoring context (Karai). Today it owns instance-wide alerts in the `monitoring`
//! schema: raised by the server itself or by the operator (`taina alert send`), stored, and
//! relayed by every running server as `alert.raised` events, which the socket layer delivers
//! on `system:alerts` to every community. Health, metrics, the security log and backups
//! arrive with the Karai issue.

mod error;
mod events;
mod model;
mod service;
mod store;

pub use error::MonitoringError;
pub use events::{AlertRaised, ALERT_RAISED};
pub use model::{Alert, AlertLevel, AlertSource};
pub use service::MonitoringService;
