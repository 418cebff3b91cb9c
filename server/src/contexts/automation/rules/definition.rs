//! A rule as its author writes it (JSON, docs/automation.md §5): triggers, conditions and
//! actions, parsed strictly (an unknown key or type is an error naming it) and checked against
//! the limits that keep one rule from costing the server more than a rule should.

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::ConversationId;

const MAX_TRIGGERS: usize = 20;
const MAX_CONDITIONS: usize = 50;
const MAX_ACTIONS: usize = 50;
const MAX_DEPTH: usize = 5;
/// The longest `delay` and a state's longest `for`: a day.
pub const MAX_WAIT_SECONDS: u64 = 86_400;
const MAX_WEBHOOK_TIMEOUT: u64 = 30;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub triggers: Vec<Trigger>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
}

/// What starts a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// An entity's state changes (to `to`, from `from`), and stays so for `for_seconds`.
    State {
        entity_id: String,
        #[serde(default)]
        from: Option<String>,
        #[serde(default)]
        to: Option<String>,
        #[serde(default)]
        for_seconds: u64,
    },
    /// A numeric entity's value crosses into `(above, below)`.
    Numeric {
        entity_id: String,
        #[serde(default)]
        above: Option<f64>,
        #[serde(default)]
        below: Option<f64>,
    },
    /// Every day at `at` (`HH:MM[:SS]`, the community's time zone).
    Time { at: NaiveTime },
    /// A five-field cron expression (`0 7 * * 1-5`), in the community's time zone.
    Cron { cron: String },
    /// Sunrise or sunset at the community's location, shifted by `offset_minutes`.
    Sun {
        event: SunEvent,
        #[serde(default)]
        offset_minutes: i64,
    },
    /// An event on the bus of this community (`photo.uploaded`, `user.online`,
    /// `message.sent`, …) whose fields equal those in `data`.
    Event {
        event_type: String,
        #[serde(default)]
        data: Map<String, Value>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SunEvent {
    Sunrise,
    Sunset,
}

/// What must hold for the actions to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The entity's state is one of `state`.
    State {
        entity_id: String,
        state: OneOrMany,
    },
    Numeric {
        entity_id: String,
        #[serde(default)]
        above: Option<f64>,
        #[serde(default)]
        below: Option<f64>,
    },
    /// Now is after `after` and before `before` (a window may cross midnight), on `weekdays`.
    Time {
        #[serde(default)]
        after: Option<NaiveTime>,
        #[serde(default)]
        before: Option<NaiveTime>,
        #[serde(default)]
        weekdays: Vec<Weekday>,
    },
    /// Who is home: members with a socket open. `users` empty means anyone of the community;
    /// `present: false` asks that none of them is.
    Presence {
        #[serde(default)]
        users: Vec<crate::ids::UserId>,
        #[serde(default = "yes")]
        present: bool,
        /// With `present: true`, every one of `users` rather than any.
        #[serde(default)]
        all: bool,
    },
    And {
        conditions: Vec<Condition>,
    },
    Or {
        conditions: Vec<Condition>,
    },
    Not {
        conditions: Vec<Condition>,
    },
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn contains(&self, value: &str) -> bool {
        match self {
            OneOrMany::One(one) => one == value,
            OneOrMany::Many(many) => many.iter().any(|m| m == value),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub fn of(day: chrono::Weekday) -> Self {
        match day {
            chrono::Weekday::Mon => Weekday::Mon,
            chrono::Weekday::Tue => Weekday::Tue,
            chrono::Weekday::Wed => Weekday::Wed,
            chrono::Weekday::Thu => Weekday::Thu,
            chrono::Weekday::Fri => Weekday::Fri,
            chrono::Weekday::Sat => Weekday::Sat,
            chrono::Weekday::Sun => Weekday::Sun,
        }
    }
}

/// What a run does, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// What `controlEntity` does (actions in snake case: `turn_on`, `set_temperature`, …).
    Control {
        entity_id: String,
        action: String,
        #[serde(default)]
        brightness: Option<u8>,
        #[serde(default)]
        value: Option<f64>,
        #[serde(default)]
        mode: Option<String>,
    },
    /// A chat message in a conversation, sent as the rule's author (a template).
    Message {
        conversation_id: ConversationId,
        text: String,
    },
    /// An alert on the community's `system:alerts` (a template).
    Alert {
        message: String,
        #[serde(default)]
        level: AlertLevel,
    },
    /// An HTTP request to a host listed in `automation.webhook_hosts`; string values of `body`
    /// are templates.
    Webhook {
        url: String,
        #[serde(default)]
        method: WebhookMethod,
        #[serde(default)]
        body: Option<Value>,
        #[serde(default = "webhook_timeout")]
        timeout_seconds: u64,
    },
    Delay {
        seconds: u64,
    },
    /// The actions of the first option whose conditions hold, else `otherwise`.
    Choose {
        options: Vec<ChooseOption>,
        #[serde(default)]
        otherwise: Vec<Action>,
    },
}

fn webhook_timeout() -> u64 {
    10
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChooseOption {
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    Info,
    #[default]
    Warning,
    Critical,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WebhookMethod {
    #[default]
    Post,
    Put,
    Get,
}

impl Definition {
    /// Parses and checks a definition; the error names the problem. `webhook_hosts` are the
    /// hosts webhooks may call.
    pub fn parse(json: &Value, webhook_hosts: &[String]) -> Result<Definition, String> {
        let definition: Definition =
            serde_json::from_value(json.clone()).map_err(|e| format!("definition: {e}"))?;
        definition.check(webhook_hosts)?;
        Ok(definition)
    }

    fn check(&self, webhook_hosts: &[String]) -> Result<(), String> {
        if self.triggers.is_empty() || self.triggers.len() > MAX_TRIGGERS {
            return Err(format!("a rule has 1 to {MAX_TRIGGERS} triggers"));
        }
        if self.actions.is_empty() {
            return Err("a rule has at least one action".into());
        }
        for trigger in &self.triggers {
            check_trigger(trigger)?;
        }
        let mut counts = (0, 0);
        check_conditions(&self.conditions, 0, &mut counts)?;
        check_actions(&self.actions, 0, &mut counts, webhook_hosts)?;
        if counts.0 > MAX_CONDITIONS {
            return Err(format!("a rule has at most {MAX_CONDITIONS} conditions"));
        }
        if counts.1 > MAX_ACTIONS {
            return Err(format!("a rule has at most {MAX_ACTIONS} actions"));
        }
        Ok(())
    }

    /// The entity ids the rule names anywhere (checked to exist when it is saved).
    pub fn entity_ids(&self) -> Vec<&str> {
        let mut ids = Vec::new();
        for trigger in &self.triggers {
            if let Trigger::State { entity_id, .. } | Trigger::Numeric { entity_id, .. } = trigger {
                ids.push(entity_id.as_str());
            }
        }
        collect_condition_entities(&self.conditions, &mut ids);
        collect_action_entities(&self.actions, &mut ids);
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

fn check_trigger(trigger: &Trigger) -> Result<(), String> {
    match trigger {
        Trigger::State { for_seconds, .. } if *for_seconds > MAX_WAIT_SECONDS => Err(format!(
            "a state trigger's for_seconds is at most {MAX_WAIT_SECONDS}"
        )),
        Trigger::Numeric {
            above: None,
            below: None,
            ..
        } => Err("a numeric trigger needs above or below".into()),
        Trigger::Cron { cron } => super::schedule::parse_cron(cron).map(|_| ()),
        Trigger::Event { event_type, .. } if event_type.trim().is_empty() => {
            Err("an event trigger needs event_type".into())
        }
        _ => Ok(()),
    }
}

fn check_conditions(
    conditions: &[Condition],
    depth: usize,
    counts: &mut (usize, usize),
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("conditions nest at most {MAX_DEPTH} deep"));
    }
    for condition in conditions {
        counts.0 += 1;
        match condition {
            Condition::Numeric {
                above: None,
                below: None,
                ..
            } => return Err("a numeric condition needs above or below".into()),
            Condition::And { conditions }
            | Condition::Or { conditions }
            | Condition::Not { conditions } => check_conditions(conditions, depth + 1, counts)?,
            _ => {}
        }
    }
    Ok(())
}

fn check_actions(
    actions: &[Action],
    depth: usize,
    counts: &mut (usize, usize),
    webhook_hosts: &[String],
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("choose nests at most {MAX_DEPTH} deep"));
    }
    for action in actions {
        counts.1 += 1;
        match action {
            Action::Delay { seconds } if *seconds > MAX_WAIT_SECONDS => {
                return Err(format!("a delay is at most {MAX_WAIT_SECONDS} seconds"))
            }
            Action::Webhook {
                url,
                timeout_seconds,
                ..
            } => {
                check_webhook(url, webhook_hosts)?;
                if *timeout_seconds == 0 || *timeout_seconds > MAX_WEBHOOK_TIMEOUT {
                    return Err(format!(
                        "a webhook's timeout_seconds is 1 to {MAX_WEBHOOK_TIMEOUT}"
                    ));
                }
            }
            Action::Message { text, .. } | Action::Alert { message: text, .. }
                if text.trim().is_empty() =>
            {
                return Err("a message or alert needs text".into())
            }
            Action::Choose { options, otherwise } => {
                for option in options {
                    check_conditions(&option.conditions, depth + 1, counts)?;
                    check_actions(&option.actions, depth + 1, counts, webhook_hosts)?;
                }
                check_actions(otherwise, depth + 1, counts, webhook_hosts)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A webhook may call `http(s)://` URLs of the configured hosts only.
pub fn check_webhook(url: &str, webhook_hosts: &[String]) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("webhook url {url}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("webhook url {url}: only http and https"));
    }
    let host = parsed.host_str().unwrap_or_default();
    let with_port = parsed
        .port()
        .map(|port| format!("{host}:{port}"))
        .unwrap_or_else(|| host.to_string());
    if webhook_hosts.iter().any(|allowed| {
        allowed.eq_ignore_ascii_case(host) || allowed.eq_ignore_ascii_case(&with_port)
    }) {
        Ok(())
    } else {
        Err(format!(
            "webhook host {with_port} is not in automation.webhook_hosts"
        ))
    }
}

fn collect_condition_entities<'a>(conditions: &'a [Condition], ids: &mut Vec<&'a str>) {
    for condition in conditions {
        match condition {
            Condition::State { entity_id, .. } | Condition::Numeric { entity_id, .. } => {
                ids.push(entity_id)
            }
            Condition::And { conditions }
            | Condition::Or { conditions }
            | Condition::Not { conditions } => collect_condition_entities(conditions, ids),
            _ => {}
        }
    }
}

fn collect_action_entities<'a>(actions: &'a [Action], ids: &mut Vec<&'a str>) {
    for action in actions {
        match action {
            Action::Control { entity_id, .. } => ids.push(entity_id),
            Action::Choose { options, otherwise } => {
                for option in options {
                    collect_condition_entities(&option.conditions, ids);
                    collect_action_entities(&option.actions, ids);
                }
                collect_action_entities(otherwise, ids);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_door_at_night_rule_parses_and_bad_ones_say_why() {
        let hosts = vec!["hooks.example.org".to_string()];
        let rule = json!({
            "triggers": [{ "type": "state", "entity_id": "binary_sensor.front_door", "to": "on" }],
            "conditions": [{ "type": "time", "after": "22:00", "before": "06:00" }],
            "actions": [
                { "type": "alert", "message": "{{ trigger.entity_id }} opened", "level": "critical" },
                { "type": "message", "conversation_id": "c1", "text": "Door!" },
                { "type": "webhook", "url": "https://hooks.example.org/door", "body": { "at": "{{ now }}" } },
                { "type": "choose", "options": [
                    { "conditions": [{ "type": "presence", "present": false }],
                      "actions": [{ "type": "control", "entity_id": "light.hall", "action": "turn_on" }] }
                ] }
            ]
        });
        let parsed = Definition::parse(&rule, &hosts).unwrap();
        assert_eq!(
            parsed.entity_ids(),
            ["binary_sensor.front_door", "light.hall"]
        );
        assert_eq!(
            parsed.conditions[0],
            Condition::Time {
                after: NaiveTime::from_hms_opt(22, 0, 0),
                before: NaiveTime::from_hms_opt(6, 0, 0),
                weekdays: vec![],
            }
        );

        let refused = |rule: Value| Definition::parse(&rule, &hosts).unwrap_err();
        let one = |action: Value| json!({ "triggers": [{ "type": "time", "at": "07:00" }], "actions": [action] });
        assert!(refused(json!({ "triggers": [], "actions": [] })).contains("1 to 20 triggers"));
        assert!(
            refused(json!({ "triggers": [{ "type": "teleport" }], "actions": [] }))
                .contains("teleport")
        );
        assert!(refused(one(json!({ "type": "delay", "seconds": 90_000 }))).contains("delay"));
        assert!(refused(one(
            json!({ "type": "webhook", "url": "https://evil.example.com/x" })
        ))
        .contains("not in automation.webhook_hosts"));
        assert!(refused(one(
            json!({ "type": "webhook", "url": "file:///etc/passwd" })
        ))
        .contains("only http and https"));
        assert!(
            refused(one(json!({ "type": "delay", "seconds": 1, "extra": 1 }))).contains("extra")
        );
        assert!(refused(json!({ "triggers": [{ "type": "cron", "cron": "every tuesday" }], "actions": [{ "type": "delay", "seconds": 1 }] }))
            .contains("cron"));
        let mut nested = json!({ "type": "delay", "seconds": 1 });
        for _ in 0..7 {
            nested = json!({ "type": "choose", "options": [], "otherwise": [nested] });
        }
        assert!(refused(one(nested)).contains("deep"));
    }
}
