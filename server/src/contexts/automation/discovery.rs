//! Home Assistant MQTT discovery: `<prefix>/<component>/[<node_id>/]<object_id>/config`
//! carries a JSON config (keys may be abbreviated, `stat_t` for `state_topic`; a `~` at either
//! end of a topic stands for the base topic given as `~`); an empty payload removes the entity.
//! What Zigbee2MQTT, ESPHome and hand-written devices publish reads into [`EntityConfig`].

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::EntityKind;

/// Where a discovery config was published: the entity's kind and its discovery key.
pub fn parse_topic(prefix: &str, topic: &str) -> Option<(EntityKind, String)> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let rest = rest.strip_suffix("/config")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let valid = |part: &&str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(valid) {
        return None;
    }
    let kind = EntityKind::parse(parts[0])?;
    Some((kind, rest.to_string()))
}

/// A string, or a number or boolean written as text (`"pl_on": true` occurs).
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// The device an entity belongs to (`device`/`dev`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceInfo {
    #[serde(alias = "ids", deserialize_with = "identifiers")]
    pub identifiers: Vec<String>,
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(alias = "mf", deserialize_with = "text")]
    pub manufacturer: Option<String>,
    #[serde(alias = "mdl", deserialize_with = "text")]
    pub model: Option<String>,
    #[serde(alias = "sa", deserialize_with = "text")]
    pub suggested_area: Option<String>,
}

/// `identifiers` is a string or a list of them.
fn identifiers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) => vec![s],
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    })
}

/// An entity's discovery config: what Tainá reads of it (unknown keys are ignored).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EntityConfig {
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(alias = "uniq_id", deserialize_with = "text")]
    pub unique_id: Option<String>,
    /// The entity id to use (`sensor.kitchen`); `object_id` is its older form.
    #[serde(deserialize_with = "text")]
    pub default_entity_id: Option<String>,
    #[serde(alias = "obj_id", deserialize_with = "text")]
    pub object_id: Option<String>,
    #[serde(alias = "unit_of_meas", deserialize_with = "text")]
    pub unit_of_measurement: Option<String>,
    #[serde(alias = "dev_cla", deserialize_with = "text")]
    pub device_class: Option<String>,
    #[serde(alias = "stat_cla", deserialize_with = "text")]
    pub state_class: Option<String>,
    #[serde(alias = "stat_t", deserialize_with = "text")]
    pub state_topic: Option<String>,
    #[serde(alias = "cmd_t", deserialize_with = "text")]
    pub command_topic: Option<String>,
    #[serde(alias = "val_tpl", deserialize_with = "text")]
    pub value_template: Option<String>,
    #[serde(alias = "stat_val_tpl", deserialize_with = "text")]
    pub state_value_template: Option<String>,
    #[serde(alias = "json_attr_t", deserialize_with = "text")]
    pub json_attributes_topic: Option<String>,
    #[serde(alias = "pl_on", deserialize_with = "text")]
    pub payload_on: Option<String>,
    #[serde(alias = "pl_off", deserialize_with = "text")]
    pub payload_off: Option<String>,
    #[serde(alias = "stat_on", deserialize_with = "text")]
    pub state_on: Option<String>,
    #[serde(alias = "stat_off", deserialize_with = "text")]
    pub state_off: Option<String>,
    #[serde(alias = "pl_prs", deserialize_with = "text")]
    pub payload_press: Option<String>,
    #[serde(alias = "pl_open", deserialize_with = "text")]
    pub payload_open: Option<String>,
    #[serde(alias = "pl_cls", deserialize_with = "text")]
    pub payload_close: Option<String>,
    #[serde(alias = "pl_stop", deserialize_with = "text")]
    pub payload_stop: Option<String>,
    #[serde(alias = "stat_open", deserialize_with = "text")]
    pub state_open: Option<String>,
    #[serde(alias = "stat_clsd", deserialize_with = "text")]
    pub state_closed: Option<String>,
    #[serde(alias = "pos_t", deserialize_with = "text")]
    pub position_topic: Option<String>,
    /// Light: `json` for the JSON schema (state and commands as one JSON object).
    #[serde(deserialize_with = "text")]
    pub schema: Option<String>,
    #[serde(alias = "bri_cmd_t", deserialize_with = "text")]
    pub brightness_command_topic: Option<String>,
    #[serde(alias = "bri_stat_t", deserialize_with = "text")]
    pub brightness_state_topic: Option<String>,
    #[serde(alias = "bri_scl")]
    pub brightness_scale: Option<f64>,
    #[serde(alias = "mode_cmd_t", deserialize_with = "text")]
    pub mode_command_topic: Option<String>,
    #[serde(alias = "mode_stat_t", deserialize_with = "text")]
    pub mode_state_topic: Option<String>,
    #[serde(alias = "temp_cmd_t", deserialize_with = "text")]
    pub temperature_command_topic: Option<String>,
    #[serde(alias = "temp_stat_t", deserialize_with = "text")]
    pub temperature_state_topic: Option<String>,
    #[serde(alias = "curr_temp_t", deserialize_with = "text")]
    pub current_temperature_topic: Option<String>,
    #[serde(alias = "dev")]
    pub device: Option<DeviceInfo>,
}

impl EntityConfig {
    /// Reads a discovery payload; `Ok(None)` for an empty one (the entity is removed).
    pub fn parse(payload: &[u8]) -> Result<Option<EntityConfig>, String> {
        if payload.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let value: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(mut object) = value else {
            return Err("the config is not a JSON object".into());
        };
        expand_base_topic(&mut object);
        serde_json::from_value(Value::Object(object))
            .map(Some)
            .map_err(|e| format!("unexpected config: {e}"))
    }

    /// Every topic whose messages change the entity's state or attributes, once each.
    pub fn state_topics(&self) -> Vec<&str> {
        let mut topics: Vec<&str> = [
            &self.state_topic,
            &self.json_attributes_topic,
            &self.brightness_state_topic,
            &self.mode_state_topic,
            &self.temperature_state_topic,
            &self.current_temperature_topic,
            &self.position_topic,
        ]
        .into_iter()
        .filter_map(|t| t.as_deref())
        .collect();
        topics.sort_unstable();
        topics.dedup();
        topics
    }

    /// The name shown: the entity's, after its device's when it has one (a null name means
    /// the device's name alone).
    pub fn display_name(&self, fallback: &str) -> String {
        let device = self.device.as_ref().and_then(|d| d.name.clone());
        match (device, &self.name) {
            (Some(device), Some(name)) if !name.starts_with(&device) => format!("{device} {name}"),
            (_, Some(name)) => name.clone(),
            (Some(device), None) => device,
            (None, None) => fallback.to_string(),
        }
    }

    /// The entity id: `default_entity_id`, else `<kind>.<object_id>`, else `<kind>.` and the
    /// slug of the display name.
    pub fn entity_id(&self, kind: EntityKind, fallback: &str) -> String {
        if let Some(id) = self
            .default_entity_id
            .as_deref()
            .filter(|id| id.starts_with(&format!("{}.", kind.as_str())))
        {
            return slug_entity_id(kind, id.split_once('.').map_or(id, |(_, o)| o));
        }
        let object = self
            .object_id
            .clone()
            .unwrap_or_else(|| self.display_name(fallback));
        slug_entity_id(kind, &object)
    }
}

/// `<kind>.<object>` with the object lowercased and every run of other characters made `_`
/// (Home Assistant's slugify), `unnamed` when nothing is left.
pub(super) fn slug_entity_id(kind: EntityKind, object: &str) -> String {
    let mut slug = String::new();
    for c in object.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
    }
    let slug = slug.trim_end_matches('_');
    format!(
        "{}.{}",
        kind.as_str(),
        if slug.is_empty() { "unnamed" } else { slug }
    )
}

/// `~` at the start or end of a `…topic` value stands for the base topic.
fn expand_base_topic(object: &mut Map<String, Value>) {
    let Some(Value::String(base)) = object.remove("~") else {
        return;
    };
    for (key, value) in object.iter_mut() {
        let is_topic = key.ends_with("topic") || key.ends_with("_t");
        if let (true, Value::String(topic)) = (is_topic, value) {
            if let Some(rest) = topic.strip_prefix('~') {
                *topic = format!("{base}{rest}");
            } else if let Some(rest) = topic.strip_suffix('~') {
                *topic = format!("{rest}{base}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_name_the_kind_and_the_key() {
        let parse = |t| parse_topic("homeassistant", t);
        assert_eq!(
            parse("homeassistant/sensor/0x00158d/temperature/config"),
            Some((EntityKind::Sensor, "sensor/0x00158d/temperature".into()))
        );
        assert_eq!(
            parse("homeassistant/switch/plug/config"),
            Some((EntityKind::Switch, "switch/plug".into()))
        );
        for bad in [
            "homeassistant/fan/x/config",
            "homeassistant/sensor/config",
            "homeassistant/sensor/a/b/c/config",
            "homeassistant/sensor/a b/config",
            "other/sensor/x/config",
            "homeassistant/sensor/x/state",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn abbreviations_and_the_base_topic_expand() {
        let config = EntityConfig::parse(
            br#"{"~": "tasmota/plug", "name": "Power", "stat_t": "~/SENSOR", "cmd_t": "cmnd/~",
                 "unit_of_meas": "W", "dev_cla": "power", "val_tpl": "{{ value_json.ENERGY.Power }}",
                 "pl_on": true, "dev": {"ids": "plug01", "mf": "Tasmota", "name": "Desk plug", "sa": "Office"}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(config.state_topic.as_deref(), Some("tasmota/plug/SENSOR"));
        assert_eq!(config.command_topic.as_deref(), Some("cmnd/tasmota/plug"));
        assert_eq!(config.unit_of_measurement.as_deref(), Some("W"));
        assert_eq!(config.payload_on.as_deref(), Some("true"));
        let device = config.device.clone().unwrap();
        assert_eq!(device.identifiers, ["plug01"]);
        assert_eq!(device.suggested_area.as_deref(), Some("Office"));
        assert_eq!(config.display_name("x"), "Desk plug Power");
        assert_eq!(
            config.entity_id(EntityKind::Sensor, "x"),
            "sensor.desk_plug_power"
        );
        assert_eq!(EntityConfig::parse(b"").unwrap(), None);
        assert!(EntityConfig::parse(b"[1]").is_err());
        assert!(EntityConfig::parse(b"{nope").is_err());
    }

    #[test]
    fn an_explicit_entity_id_wins() {
        let config = EntityConfig::parse(
            br#"{"name": "Temperature", "default_entity_id": "sensor.Living Room Temperature"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            config.entity_id(EntityKind::Sensor, "x"),
            "sensor.living_room_temperature"
        );
        let legacy = EntityConfig::parse(br#"{"name": "T", "object_id": "kitchen_t"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            legacy.entity_id(EntityKind::Sensor, "x"),
            "sensor.kitchen_t"
        );
        let nameless = EntityConfig::parse(br#"{}"#).unwrap().unwrap();
        assert_eq!(
            nameless.entity_id(EntityKind::Switch, "plug 7"),
            "switch.plug_7"
        );
    }
}
