//! What an MQTT message on one of an entity's topics does to it: a new state, new attributes,
//! or both — per kind, as the discovery config describes its topics and payloads.

use serde_json::{Map, Value};

use super::discovery::EntityConfig;
use super::template::render;
use super::EntityKind;

/// A message's effect on an entity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Update {
    pub state: Option<String>,
    pub attributes: Map<String, Value>,
}

/// `on`/`off` from a payload compared with the config's on/off payloads (`ON`/`OFF` by default).
fn on_off(value: &str, on: Option<&str>, off: Option<&str>) -> Option<String> {
    if value == on.unwrap_or("ON") {
        Some("on".into())
    } else if value == off.unwrap_or("OFF") {
        Some("off".into())
    } else {
        None
    }
}

fn number(text: &str) -> Value {
    text.parse::<f64>()
        .ok()
        .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// The update a `payload` on `topic` makes to an entity of `kind` configured by `config`.
pub fn apply(kind: EntityKind, config: &EntityConfig, topic: &str, payload: &str) -> Update {
    let mut update = Update::default();
    let is = |t: &Option<String>| t.as_deref() == Some(topic);
    if is(&config.json_attributes_topic) {
        if let Ok(Value::Object(attributes)) = serde_json::from_str::<Value>(payload) {
            update.attributes.extend(attributes);
        }
    }
    if is(&config.state_topic) {
        let template = config
            .state_value_template
            .as_deref()
            .or(config.value_template.as_deref());
        match kind {
            EntityKind::Light if config.schema.as_deref() == Some("json") => {
                if let Ok(Value::Object(body)) = serde_json::from_str::<Value>(payload) {
                    if let Some(state) = body.get("state").and_then(Value::as_str) {
                        update.state = on_off(state, None, None);
                    }
                    for key in ["brightness", "color_temp", "color_mode", "color"] {
                        if let Some(value) = body.get(key) {
                            update.attributes.insert(key.into(), value.clone());
                        }
                    }
                }
            }
            _ => {
                if let Some(value) = render(template, payload) {
                    update.state = match kind {
                        EntityKind::Sensor => Some(value),
                        EntityKind::BinarySensor => on_off(
                            &value,
                            config.payload_on.as_deref(),
                            config.payload_off.as_deref(),
                        ),
                        EntityKind::Switch | EntityKind::Light => on_off(
                            &value,
                            config.state_on.as_deref().or(config.payload_on.as_deref()),
                            config
                                .state_off
                                .as_deref()
                                .or(config.payload_off.as_deref()),
                        ),
                        EntityKind::Cover => {
                            if value == config.state_open.as_deref().unwrap_or("open") {
                                Some("open".into())
                            } else if value == config.state_closed.as_deref().unwrap_or("closed") {
                                Some("closed".into())
                            } else {
                                Some(value.to_lowercase())
                            }
                        }
                        EntityKind::Climate => Some(value),
                        EntityKind::Button => None,
                    };
                }
            }
        }
    }
    if is(&config.brightness_state_topic) {
        if let Some(value) = render(None, payload) {
            update
                .attributes
                .insert("brightness".into(), number(&value));
        }
    }
    if is(&config.mode_state_topic) {
        update.state = render(None, payload);
    }
    for (topic_of, attribute) in [
        (&config.temperature_state_topic, "temperature"),
        (&config.current_temperature_topic, "current_temperature"),
        (&config.position_topic, "position"),
    ] {
        if is(topic_of) {
            if let Some(value) = render(None, payload) {
                update.attributes.insert(attribute.into(), number(&value));
            }
        }
    }
    update
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> EntityConfig {
        EntityConfig::parse(json.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn each_kind_reads_its_state() {
        let sensor = config(
            r#"{"stat_t": "z2m/t", "val_tpl": "{{ value_json.temperature }}", "json_attr_t": "z2m/t"}"#,
        );
        let update = apply(
            EntityKind::Sensor,
            &sensor,
            "z2m/t",
            r#"{"temperature": 21.5, "battery": 90}"#,
        );
        assert_eq!(update.state.as_deref(), Some("21.5"));
        assert_eq!(update.attributes["battery"], 90);
        assert_eq!(
            apply(EntityKind::Sensor, &sensor, "other", "1"),
            Update::default()
        );

        let door = config(r#"{"stat_t": "door", "pl_on": "open", "pl_off": "closed"}"#);
        assert_eq!(
            apply(EntityKind::BinarySensor, &door, "door", "open")
                .state
                .as_deref(),
            Some("on")
        );
        assert_eq!(
            apply(EntityKind::BinarySensor, &door, "door", "ajar").state,
            None
        );

        let plug = config(r#"{"stat_t": "plug/state", "cmd_t": "plug/set"}"#);
        assert_eq!(
            apply(EntityKind::Switch, &plug, "plug/state", "OFF")
                .state
                .as_deref(),
            Some("off")
        );

        let lamp = config(r#"{"schema": "json", "stat_t": "lamp"}"#);
        let update = apply(
            EntityKind::Light,
            &lamp,
            "lamp",
            r#"{"state": "ON", "brightness": 128}"#,
        );
        assert_eq!(update.state.as_deref(), Some("on"));
        assert_eq!(update.attributes["brightness"], 128);

        let thermostat = config(r#"{"mode_stat_t": "t/mode", "curr_temp_t": "t/cur"}"#);
        assert_eq!(
            apply(EntityKind::Climate, &thermostat, "t/mode", "heat")
                .state
                .as_deref(),
            Some("heat")
        );
        assert_eq!(
            apply(EntityKind::Climate, &thermostat, "t/cur", "19.5").attributes
                ["current_temperature"],
            19.5
        );
    }
}
