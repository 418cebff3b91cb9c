//! What monitoring publishes on the bus.

use serde::{Deserialize, Serialize};

use super::{Alert, AlertLevel, AlertSource};
use crate::events::Event;

/// An instance-wide alert to deliver to every community (`community_id` is `None`).
pub const ALERT_RAISED: &str = "alert.raised";

/// Every stored security event is also published as `security.<kind>`
/// (`security.signin_failed`, `security.ban_issued`, …) with the entry as `data`, for rules.
pub const SECURITY_PREFIX: &str = "security.";

/// The bus event of a stored security log entry.
pub fn security_event(entry: &super::SecurityEvent) -> Event {
    let user = entry.user_id.clone().map(crate::ids::UserId::from);
    let community = entry
        .community_id
        .clone()
        .map(crate::ids::CommunityId::from);
    Event::typed(
        &format!("{SECURITY_PREFIX}{}", entry.kind.as_str()),
        user.as_ref(),
        community.as_ref(),
        entry,
    )
}

/// The `data` of an [`ALERT_RAISED`] event, and what `system:alerts` subscribers receive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRaised {
    pub alert_id: i64,
    pub level: AlertLevel,
    pub message: String,
    /// `server` or `operator`: instance-wide alerts never come from a community member.
    pub from: AlertSource,
    pub scope: String,
}

impl AlertRaised {
    /// The instance-wide `alert.raised` event for `alert` (no user, no community: everyone).
    pub fn event(alert: &Alert) -> Event {
        let data = serde_json::to_value(AlertRaised::from(alert)).unwrap_or_default();
        Event::new(ALERT_RAISED, None, None, data)
    }
}

impl From<&Alert> for AlertRaised {
    fn from(alert: &Alert) -> Self {
        AlertRaised {
            alert_id: alert.id,
            level: alert.level,
            message: alert.message.clone(),
            from: alert.source,
            scope: "instance".into(),
        }
    }
}
