//! Automation's domain types: devices, entities with their current state, and state history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{CommunityId, DeviceId, EntityRowId};

/// What an entity is, as Home Assistant's MQTT components name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Sensor,
    BinarySensor,
    Switch,
    Light,
    Climate,
    Cover,
    Button,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Sensor => "sensor",
            EntityKind::BinarySensor => "binary_sensor",
            EntityKind::Switch => "switch",
            EntityKind::Light => "light",
            EntityKind::Climate => "climate",
            EntityKind::Cover => "cover",
            EntityKind::Button => "button",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "sensor" => EntityKind::Sensor,
            "binary_sensor" => EntityKind::BinarySensor,
            "switch" => EntityKind::Switch,
            "light" => EntityKind::Light,
            "climate" => EntityKind::Climate,
            "cover" => EntityKind::Cover,
            "button" => EntityKind::Button,
            _ => return None,
        })
    }
}

/// A physical thing: a plug, a thermostat, a Zigbee sensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: DeviceId,
    pub community_id: CommunityId,
    pub name: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub area: Option<String>,
    /// `mqtt` (discovered) or `socket` (a device agent).
    pub source: String,
}

/// One readable or controllable aspect of a device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    pub id: EntityRowId,
    pub community_id: CommunityId,
    /// `sensor.living_room_temperature`.
    pub entity_id: String,
    pub device_id: Option<DeviceId>,
    pub kind: EntityKind,
    pub name: String,
    pub unit: Option<String>,
    pub device_class: Option<String>,
    pub state_class: Option<String>,
    pub area: Option<String>,
    pub state: Option<String>,
    pub attributes: Map<String, Value>,
    pub last_changed: Option<DateTime<Utc>>,
    pub last_updated: Option<DateTime<Utc>>,
}

/// One stored state of an entity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateRecord {
    pub state: Option<String>,
    pub attributes: Map<String, Value>,
    pub at: DateTime<Utc>,
}

/// What a client asks an entity to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    TurnOn { brightness: Option<u8> },
    TurnOff,
    Toggle,
    Press,
    Open,
    Close,
    Stop,
    SetTemperature(f64),
    SetMode(String),
}

impl Command {
    /// The command as a device agent receives it: `{action, brightness?, value?, mode?}`.
    pub fn to_wire(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Command::TurnOn { brightness } => {
                json!({ "action": "turn_on", "brightness": brightness })
            }
            Command::TurnOff => json!({ "action": "turn_off" }),
            Command::Toggle => json!({ "action": "toggle" }),
            Command::Press => json!({ "action": "press" }),
            Command::Open => json!({ "action": "open" }),
            Command::Close => json!({ "action": "close" }),
            Command::Stop => json!({ "action": "stop" }),
            Command::SetTemperature(value) => {
                json!({ "action": "set_temperature", "value": value })
            }
            Command::SetMode(mode) => json!({ "action": "set_mode", "mode": mode }),
        }
    }

    /// A command by its snake-case name (`turn_on`, `set_temperature`, …) with the values it
    /// needs, as the `control` push and rules write it.
    pub fn parse(
        action: &str,
        brightness: Option<u8>,
        value: Option<f64>,
        mode: Option<String>,
    ) -> Result<Command, super::AutomationError> {
        let missing = |what: &str| super::AutomationError::Invalid(format!("{what} is required"));
        Ok(match action {
            "turn_on" => Command::TurnOn { brightness },
            "turn_off" => Command::TurnOff,
            "toggle" => Command::Toggle,
            "press" => Command::Press,
            "open" => Command::Open,
            "close" => Command::Close,
            "stop" => Command::Stop,
            "set_temperature" => Command::SetTemperature(value.ok_or_else(|| missing("value"))?),
            "set_mode" => Command::SetMode(mode.ok_or_else(|| missing("mode"))?),
            other => {
                return Err(super::AutomationError::Invalid(format!(
                    "unknown action {other}"
                )))
            }
        })
    }
}
