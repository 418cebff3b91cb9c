//! What automation publishes on the bus: `entity.state_changed` for every new state of an
//! entity (pushed as `state_changed` on `home:{community_id}` and to `entityChanged`), and
//! `automation.grants_changed` when someone's access changed (every node's cache follows, and
//! their sockets re-check their `home:` joins), `automation.rules_changed` and
//! `automation.settings_changed` (every node reloads), and `automation.rule_alert` (a rule's
//! alert, to the community's `system:alerts`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::access::Grant;
use super::{Entity, EntityKind};
use crate::events::Event;
use crate::ids::UserId;

pub const ENTITY_STATE_CHANGED: &str = "entity.state_changed";
pub const GRANTS_CHANGED: &str = "automation.grants_changed";
/// A rule was created, changed or deleted: every node reloads it.
pub const RULES_CHANGED: &str = "automation.rules_changed";
/// A community's home settings (location, time zone) changed: every node reloads them.
pub const SETTINGS_CHANGED: &str = "automation.settings_changed";
/// A command for a device agent: pushed as `command` on `device:{device_id}`.
pub const DEVICE_COMMAND: &str = "automation.device_command";
/// A device token was revoked: its sockets end, on every node.
pub const DEVICE_TOKEN_REVOKED: &str = "automation.device_token_revoked";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceCommand {
    pub device_id: crate::ids::DeviceId,
    /// `{entity, entity_id, action, brightness?, value?, mode?}`.
    pub command: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceTokenRevoked {
    pub session_id: crate::ids::SessionId,
}

/// A rule's `alert` action (or a rule stopped for looping): on the community's `system:alerts`.
pub const RULE_ALERT: &str = "automation.rule_alert";

/// Which rule changed (`deleted`: it is gone).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleChanged {
    pub rule_id: crate::ids::RuleId,
}

/// An alert a rule raised, as `system:alerts` carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleAlert {
    pub level: String,
    pub message: String,
    pub rule_id: crate::ids::RuleId,
    pub rule: String,
}

/// Someone's grants, all of them, after a change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantsChanged {
    pub user_id: UserId,
    pub grants: Vec<Grant>,
}

/// An entity's new state (`old_state` is what it was).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateChanged {
    pub entity_id: String,
    pub kind: EntityKind,
    pub name: String,
    pub state: Option<String>,
    pub old_state: Option<String>,
    pub attributes: Map<String, Value>,
    pub unit: Option<String>,
    pub area: Option<String>,
    pub last_changed: Option<DateTime<Utc>>,
    pub last_updated: Option<DateTime<Utc>>,
    /// Of the people something is hidden from, those who may see this entity: each gets it on
    /// their own `home:` audience. Not sent to clients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub viewers: Vec<UserId>,
    /// Those who may not see it. Not sent to clients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden_from: Vec<UserId>,
}

/// The fields of [`StateChanged`] that say who receives it, never sent to a client.
pub const AUDIENCE_FIELDS: [&str; 2] = ["viewers", "hidden_from"];

impl StateChanged {
    pub fn of(entity: &Entity, old_state: Option<String>) -> Self {
        StateChanged {
            entity_id: entity.entity_id.clone(),
            kind: entity.kind,
            name: entity.name.clone(),
            state: entity.state.clone(),
            old_state,
            attributes: entity.attributes.clone(),
            unit: entity.unit.clone(),
            area: entity.area.clone(),
            last_changed: entity.last_changed,
            last_updated: entity.last_updated,
            viewers: Vec::new(),
            hidden_from: Vec::new(),
        }
    }
}

pub struct AutomationEvent;

impl AutomationEvent {
    pub fn state_changed(entity: &Entity, changed: &StateChanged) -> Event {
        Event::typed(
            ENTITY_STATE_CHANGED,
            None,
            Some(&entity.community_id),
            changed,
        )
    }

    pub fn rules_changed(
        community_id: &crate::ids::CommunityId,
        rule_id: &crate::ids::RuleId,
    ) -> Event {
        let changed = RuleChanged {
            rule_id: rule_id.clone(),
        };
        Event::typed(RULES_CHANGED, None, Some(community_id), &changed)
    }

    pub fn device_command(
        community_id: &crate::ids::CommunityId,
        device_id: &crate::ids::DeviceId,
        command: Value,
    ) -> Event {
        let command = DeviceCommand {
            device_id: device_id.clone(),
            command,
        };
        Event::typed(DEVICE_COMMAND, None, Some(community_id), &command)
    }

    pub fn device_token_revoked(
        community_id: &crate::ids::CommunityId,
        session_id: &crate::ids::SessionId,
    ) -> Event {
        let revoked = DeviceTokenRevoked {
            session_id: session_id.clone(),
        };
        Event::typed(DEVICE_TOKEN_REVOKED, None, Some(community_id), &revoked)
    }

    pub fn settings_changed(community_id: &crate::ids::CommunityId) -> Event {
        Event::typed(
            SETTINGS_CHANGED,
            None,
            Some(community_id),
            &serde_json::json!({}),
        )
    }

    pub fn rule_alert(
        community_id: &crate::ids::CommunityId,
        rule_id: &crate::ids::RuleId,
        rule: &str,
        level: &str,
        message: &str,
    ) -> Event {
        let alert = RuleAlert {
            level: level.into(),
            message: message.into(),
            rule_id: rule_id.clone(),
            rule: rule.into(),
        };
        Event::typed(RULE_ALERT, None, Some(community_id), &alert)
    }

    pub fn grants_changed(
        community_id: &crate::ids::CommunityId,
        changed: &GrantsChanged,
    ) -> Event {
        Event::typed(
            GRANTS_CHANGED,
            Some(&changed.user_id),
            Some(community_id),
            changed,
        )
    }
}
