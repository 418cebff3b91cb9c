//! Value templates as Home Assistant's MQTT discovery writes them
//! (`{{ value_json.temperature }}`, `{{ value_json["state"] }}`, `{{ (value | float) / 1000 }}`),
//! rendered with minijinja against `value` (the payload as text) and `value_json` (the payload
//! parsed, when it is JSON). A template is a device's input: fuel bounds what it may cost, and a
//! template that fails renders nothing (the message is ignored, not the entity).

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};

/// Steps a template may take (a few hundred are plenty for any real one).
const FUEL: u64 = 5_000;

/// `float` and `int` as Home Assistant has them: a default when the value does not convert.
fn number(value: &Value, default: Option<Value>) -> Result<f64, Error> {
    let parsed = match value.as_str() {
        Some(text) => text.trim().parse::<f64>().ok(),
        None => f64::try_from(value.clone()).ok(),
    };
    match (parsed, default) {
        (Some(n), _) => Ok(n),
        (None, Some(default)) => f64::try_from(default)
            .map_err(|_| Error::new(ErrorKind::InvalidOperation, "a non-numeric default")),
        (None, None) => Err(Error::new(ErrorKind::InvalidOperation, "not a number")),
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.add_filter("float", |value: Value, default: Option<Value>| {
        number(&value, default).map(Value::from)
    });
    env.add_filter("int", |value: Value, default: Option<Value>| {
        number(&value, default).map(|n| Value::from(n.trunc() as i64))
    });
    env
}

/// The payload through `template` (trimmed); the payload itself without one. `None` when the
/// template fails (a missing key, a bad expression, out of fuel).
pub fn render(template: Option<&str>, payload: &str) -> Option<String> {
    let Some(template) = template.filter(|t| !t.trim().is_empty()) else {
        return Some(payload.trim().to_string());
    };
    let value_json: serde_json::Value =
        serde_json::from_str(payload).unwrap_or(serde_json::Value::Null);
    let context = serde_json::json!({ "value": payload, "value_json": value_json });
    let rendered = environment().render_str(template, context).ok()?;
    let rendered = rendered.trim();
    // Rendering a missing key gives "" (or "none"): there was no value in this message.
    (!rendered.is_empty() && rendered != "none").then(|| rendered.to_string())
}

/// A rule's text (`"{{ trigger.entity_id }} opened at {{ time }}"`) rendered against
/// `context`; the error says what is wrong with the template.
pub fn render_text(template: &str, context: &serde_json::Value) -> Result<String, String> {
    environment()
        .render_str(template, context)
        .map_err(|e| format!("template {template:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_zigbee2mqtt_esphome_and_tasmota_write_renders() {
        let json = r#"{"temperature": 21.5, "state": "ON", "ENERGY": {"Power": 42}, "list": [7]}"#;
        assert_eq!(
            render(Some("{{ value_json.temperature }}"), json).as_deref(),
            Some("21.5")
        );
        assert_eq!(
            render(Some("{{ value_json[\"state\"] }}"), json).as_deref(),
            Some("ON")
        );
        assert_eq!(
            render(Some("{{ value_json.ENERGY.Power }}"), json).as_deref(),
            Some("42")
        );
        assert_eq!(
            render(Some("{{ value_json.list[0] }}"), json).as_deref(),
            Some("7")
        );
        assert_eq!(
            render(Some("{{ (value | float) / 1000 }}"), "1500").as_deref(),
            Some("1.5")
        );
        assert_eq!(
            render(Some("{{ value | int }}"), "21.9").as_deref(),
            Some("21")
        );
        assert_eq!(
            render(Some("{{ value | float(0) }}"), "n/a").as_deref(),
            Some("0.0")
        );
        assert_eq!(render(None, " 21.5\n").as_deref(), Some("21.5"));
        assert_eq!(render(Some("{{ value_json.humidity }}"), json), None);
        assert_eq!(render(Some("{{ value | float }}"), "n/a"), None);
        assert_eq!(render(Some("{% for"), json), None);
        // A template that would run forever runs out of fuel.
        assert_eq!(
            render(Some("{% for i in range(100000) %}{{ i }}{% endfor %}"), "1"),
            None
        );
    }
}
