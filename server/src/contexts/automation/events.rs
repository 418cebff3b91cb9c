//! What automation publishes on the bus: `entity.state_changed` for every new state of an
//! entity (pushed as `state_changed` on `home:{community_id}` and to `entityChanged`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Entity, EntityKind};
use crate::events::Event;

pub const ENTITY_STATE_CHANGED: &str = "entity.state_changed";

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
}

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
}
