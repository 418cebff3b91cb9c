//! What the rule engine keeps in memory on every node: the enabled rules, parsed, each
//! community's place (for clock triggers), when each clock trigger fires next, which rules are
//! running, and how often each started in the last minute.
//!
//! Every node keeps this in step (rules and settings are reloaded on `automation.rules_changed`
//! and `automation.settings_changed`), but only the coordinating node fires triggers, so a rule
//! runs once however many nodes there are, and another node takes over within a few heartbeats
//! when the coordinator goes away.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::definition::{Definition, Trigger};
use super::model::Rule;
use super::schedule::{next_fire, Place};
use crate::contexts::automation::events::StateChanged;
use crate::contexts::automation::statistics::value_of;
use crate::events::Event;
use crate::ids::{CommunityId, RuleId, UserId};

/// Runs a rule may start in [`BURST_WINDOW`]; beyond that it is feeding itself (or a device is
/// flapping) and further triggers are dropped, logged once as `loop_stopped`.
pub const MAX_RUNS_PER_WINDOW: usize = 20;
pub const BURST_WINDOW: StdDuration = StdDuration::from_secs(60);
/// Triggers that wait while their rule runs (one run at a time, in order); more are dropped.
pub const MAX_QUEUED: usize = 10;

/// A rule ready to fire.
#[derive(Debug)]
pub struct LoadedRule {
    pub id: RuleId,
    pub community_id: CommunityId,
    pub name: String,
    pub created_by: UserId,
    pub definition: Definition,
}

/// A trigger waiting for its rule's run to end: the rule, what fired it, and whether its
/// conditions are skipped.
pub type Queued = (Arc<LoadedRule>, Value, bool);

/// Why a trigger did not start a run.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// The rule is running (one run at a time): the trigger waits, or with [`MAX_QUEUED`]
    /// waiting already, is dropped.
    Busy,
    /// Over [`MAX_RUNS_PER_WINDOW`]; `first` is true for the first refusal of the window.
    Loop { first: bool },
}

#[derive(Default)]
pub struct RuleEngine {
    rules: RwLock<HashMap<RuleId, Arc<LoadedRule>>>,
    places: RwLock<HashMap<CommunityId, Place>>,
    /// When each clock trigger `(rule, trigger index)` fires next.
    clock: Mutex<HashMap<(RuleId, usize), DateTime<Utc>>>,
    running: Mutex<HashSet<RuleId>>,
    queued: Mutex<HashMap<RuleId, VecDeque<Queued>>>,
    starts: Mutex<HashMap<RuleId, (VecDeque<Instant>, bool)>>,
}

impl RuleEngine {
    /// Loads (or with `None`, or a disabled or unparsable rule, forgets) one rule.
    pub fn load(&self, id: &RuleId, rule: Option<&Rule>, now: DateTime<Utc>) {
        let loaded = rule.filter(|r| r.enabled).and_then(|r| {
            // Stored definitions were checked when saved; webhook hosts are checked again
            // when a webhook is called, so the configuration may change in between.
            let definition: Definition = serde_json::from_value(r.definition.clone())
                .map_err(|e| tracing::warn!(rule = %r.id, error = %e, "rule not loaded"))
                .ok()?;
            Some(Arc::new(LoadedRule {
                id: r.id.clone(),
                community_id: r.community_id.clone(),
                name: r.name.clone(),
                created_by: r.created_by.clone(),
                definition,
            }))
        });
        let mut rules = self.rules.write().expect("rules lock");
        match loaded {
            Some(rule) => {
                rules.insert(id.clone(), rule.clone());
                drop(rules);
                self.schedule(&rule, now);
            }
            None => {
                rules.remove(id);
                drop(rules);
                self.clock
                    .lock()
                    .expect("clock lock")
                    .retain(|(rule, _), _| rule != id);
            }
        }
    }

    pub fn set_place(&self, community_id: &CommunityId, place: Place, now: DateTime<Utc>) {
        self.places
            .write()
            .expect("places lock")
            .insert(community_id.clone(), place);
        for rule in self.rules_of(community_id) {
            self.schedule(&rule, now);
        }
    }

    pub fn place(&self, community_id: &CommunityId) -> Place {
        self.places
            .read()
            .expect("places lock")
            .get(community_id)
            .cloned()
            .unwrap_or_default()
    }

    pub fn rule(&self, id: &RuleId) -> Option<Arc<LoadedRule>> {
        self.rules.read().expect("rules lock").get(id).cloned()
    }

    fn rules_of(&self, community_id: &CommunityId) -> Vec<Arc<LoadedRule>> {
        self.rules
            .read()
            .expect("rules lock")
            .values()
            .filter(|r| r.community_id == *community_id)
            .cloned()
            .collect()
    }

    /// Works out when the rule's clock triggers fire next.
    fn schedule(&self, rule: &LoadedRule, now: DateTime<Utc>) {
        let place = self.place(&rule.community_id);
        let mut clock = self.clock.lock().expect("clock lock");
        clock.retain(|(id, _), _| *id != rule.id);
        for (index, trigger) in rule.definition.triggers.iter().enumerate() {
            if let Some(at) = next_fire(trigger, &place, now) {
                clock.insert((rule.id.clone(), index), at);
            }
        }
    }

    /// The clock triggers due at `now`, each rescheduled to its next time.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<(Arc<LoadedRule>, Value)> {
        let due: Vec<(RuleId, usize)> = self
            .clock
            .lock()
            .expect("clock lock")
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        let mut fired = Vec::new();
        for (id, index) in due {
            let Some(rule) = self.rule(&id) else { continue };
            let Some(trigger) = rule.definition.triggers.get(index) else {
                continue;
            };
            let place = self.place(&rule.community_id);
            let mut clock = self.clock.lock().expect("clock lock");
            let at = clock.remove(&(id.clone(), index));
            if let Some(next) = next_fire(trigger, &place, now) {
                clock.insert((id.clone(), index), next);
            }
            drop(clock);
            let info = match trigger {
                Trigger::Time { at: time } => json!({ "type": "time", "at": time }),
                Trigger::Cron { cron } => json!({ "type": "cron", "cron": cron }),
                Trigger::Sun { event, .. } => json!({ "type": "sun", "event": event }),
                _ => continue,
            };
            let mut info = info;
            info["scheduled_for"] = json!(at);
            fired.push((rule.clone(), info));
        }
        fired
    }

    /// Whether any rule waits for events of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        self.rules.read().expect("rules lock").values().any(|rule| {
            rule.definition
                .triggers
                .iter()
                .any(|t| matches!(t, Trigger::Event { event_type: e, .. } if e == event_type))
        })
    }

    /// The rules an event triggers, with what triggered them; state triggers with a duration
    /// come back as `Wait`s to check once it has passed.
    pub fn matching(&self, event: &Event) -> Vec<Matched> {
        let Some(community_id) = &event.community_id else {
            return Vec::new();
        };
        let changed = (event.kind == crate::contexts::automation::events::ENTITY_STATE_CHANGED)
            .then(|| event.data_as::<StateChanged>().ok())
            .flatten();
        let mut matched = Vec::new();
        for rule in self.rules_of(community_id) {
            for trigger in &rule.definition.triggers {
                let found = match (trigger, &changed) {
                    (
                        Trigger::State {
                            entity_id,
                            from,
                            to,
                            for_seconds,
                        },
                        Some(changed),
                    ) if *entity_id == changed.entity_id
                        && changed.state != changed.old_state
                        && from
                            .as_ref()
                            .is_none_or(|f| changed.old_state.as_ref() == Some(f))
                        && to
                            .as_ref()
                            .is_none_or(|t| changed.state.as_ref() == Some(t)) =>
                    {
                        let info = json!({
                            "type": "state", "entity_id": entity_id,
                            "from_state": changed.old_state, "to_state": changed.state,
                        });
                        Some(if *for_seconds == 0 {
                            Matched::Now(rule.clone(), info)
                        } else {
                            Matched::After {
                                rule: rule.clone(),
                                info,
                                wait: StdDuration::from_secs(*for_seconds),
                                entity_id: entity_id.clone(),
                                state: changed.state.clone(),
                                last_changed: changed.last_changed,
                            }
                        })
                    }
                    (
                        Trigger::Numeric {
                            entity_id,
                            above,
                            below,
                        },
                        Some(changed),
                    ) if *entity_id == changed.entity_id => {
                        let inside = |v: Option<f64>| {
                            v.is_some_and(|v| {
                                above.is_none_or(|a| v > a) && below.is_none_or(|b| v < b)
                            })
                        };
                        let (now, before) = (
                            value_of(changed.state.as_deref()),
                            value_of(changed.old_state.as_deref()),
                        );
                        (inside(now) && !inside(before)).then(|| {
                            Matched::Now(
                                rule.clone(),
                                json!({ "type": "numeric", "entity_id": entity_id, "value": now }),
                            )
                        })
                    }
                    (Trigger::Event { event_type, data }, _) if *event_type == event.kind => {
                        let fields_match = data.iter().all(|(key, wanted)| {
                            event.data.get(key) == Some(wanted)
                                || (key == "user_id"
                                    && event.user_id.as_ref().map(|u| json!(u)).as_ref()
                                        == Some(wanted))
                        });
                        fields_match.then(|| {
                            Matched::Now(
                                rule.clone(),
                                json!({
                                    "type": "event", "event_type": event.kind,
                                    "user_id": event.user_id, "data": event.data,
                                }),
                            )
                        })
                    }
                    _ => None,
                };
                if let Some(found) = found {
                    matched.push(found);
                    // One run per event, however many of its triggers match.
                    break;
                }
            }
        }
        matched
    }

    /// Takes the rule's run slot: one run at a time, at most [`MAX_RUNS_PER_WINDOW`] a window.
    pub fn begin(&self, id: &RuleId) -> Result<(), Refused> {
        let now = Instant::now();
        let mut starts = self.starts.lock().expect("starts lock");
        let (window, refused) = starts.entry(id.clone()).or_default();
        while window
            .front()
            .is_some_and(|at| now.duration_since(*at) > BURST_WINDOW)
        {
            window.pop_front();
        }
        if window.is_empty() {
            *refused = false;
        }
        if window.len() >= MAX_RUNS_PER_WINDOW {
            let first = !*refused;
            *refused = true;
            return Err(Refused::Loop { first });
        }
        if !self
            .running
            .lock()
            .expect("running lock")
            .insert(id.clone())
        {
            return Err(Refused::Busy);
        }
        window.push_back(now);
        Ok(())
    }

    /// Queues a trigger while the rule runs; false when the queue is full.
    pub fn enqueue(&self, queued: Queued) -> bool {
        let mut all = self.queued.lock().expect("queue lock");
        let queue = all.entry(queued.0.id.clone()).or_default();
        if queue.len() >= MAX_QUEUED {
            return false;
        }
        queue.push_back(queued);
        true
    }

    /// Gives the run slot back; the next waiting trigger, if any.
    pub fn end(&self, id: &RuleId) -> Option<Queued> {
        self.running.lock().expect("running lock").remove(id);
        let mut all = self.queued.lock().expect("queue lock");
        let next = all.get_mut(id).and_then(VecDeque::pop_front);
        if all.get(id).is_some_and(VecDeque::is_empty) {
            all.remove(id);
        }
        next
    }
}

/// A rule an event triggered.
pub enum Matched {
    Now(Arc<LoadedRule>, Value),
    /// A state trigger with `for_seconds`: fires if the entity is still in `state` (unchanged
    /// since `last_changed`) after `wait`.
    After {
        rule: Arc<LoadedRule>,
        info: Value,
        wait: StdDuration,
        entity_id: String,
        state: Option<String>,
        last_changed: Option<DateTime<Utc>>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(definition: Value) -> Rule {
        Rule {
            id: RuleId::new(),
            community_id: CommunityId::from("c".repeat(21)),
            name: "r".into(),
            enabled: true,
            definition,
            created_by: UserId::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn state_event(rule: &Rule, entity: &str, old: Option<&str>, new: Option<&str>) -> Event {
        let data = json!({
            "entity_id": entity, "kind": "sensor", "name": entity, "state": new,
            "old_state": old, "attributes": {}, "unit": null, "area": null,
            "last_changed": null, "last_updated": null,
        });
        Event::new(
            crate::contexts::automation::events::ENTITY_STATE_CHANGED,
            None,
            Some(&rule.community_id),
            data,
        )
    }

    #[test]
    fn triggers_match_state_changes_thresholds_and_events() {
        let engine = RuleEngine::default();
        let door = rule(json!({
            "triggers": [{ "type": "state", "entity_id": "binary_sensor.door", "to": "on" }],
            "actions": [{ "type": "delay", "seconds": 0 }]
        }));
        let hot = rule(json!({
            "triggers": [{ "type": "numeric", "entity_id": "sensor.t", "above": 25 }],
            "actions": [{ "type": "delay", "seconds": 0 }]
        }));
        let photos = rule(json!({
            "triggers": [{ "type": "event", "event_type": "photo.uploaded", "data": { "album": "a" } }],
            "actions": [{ "type": "delay", "seconds": 0 }]
        }));
        for r in [&door, &hot, &photos] {
            engine.load(&r.id, Some(r), Utc::now());
        }
        let fired = |event: &Event| -> Vec<RuleId> {
            engine
                .matching(event)
                .into_iter()
                .map(|m| match m {
                    Matched::Now(rule, _) | Matched::After { rule, .. } => rule.id.clone(),
                })
                .collect()
        };
        assert_eq!(
            fired(&state_event(
                &door,
                "binary_sensor.door",
                Some("off"),
                Some("on")
            )),
            vec![door.id.clone()]
        );
        assert!(fired(&state_event(
            &door,
            "binary_sensor.door",
            Some("on"),
            Some("off")
        ))
        .is_empty());
        assert!(
            fired(&state_event(
                &door,
                "binary_sensor.door",
                Some("on"),
                Some("on")
            ))
            .is_empty(),
            "attributes only"
        );
        // Crossing the threshold fires once; staying above does not.
        assert_eq!(
            fired(&state_event(&hot, "sensor.t", Some("24"), Some("26"))),
            vec![hot.id.clone()]
        );
        assert!(fired(&state_event(&hot, "sensor.t", Some("26"), Some("27"))).is_empty());
        assert_eq!(
            fired(&state_event(
                &hot,
                "sensor.t",
                Some("unavailable"),
                Some("30")
            )),
            vec![hot.id.clone()]
        );
        let upload = |album: &str| {
            Event::new(
                "photo.uploaded",
                None,
                Some(&photos.community_id),
                json!({ "album": album }),
            )
        };
        assert_eq!(fired(&upload("a")), vec![photos.id.clone()]);
        assert!(fired(&upload("b")).is_empty());
        // Another community's events never reach these rules; a disabled rule is forgotten.
        let elsewhere = Event::new(
            "photo.uploaded",
            None,
            Some(&CommunityId::new()),
            json!({ "album": "a" }),
        );
        assert!(fired(&elsewhere).is_empty());
        engine.load(
            &photos.id,
            Some(&Rule {
                enabled: false,
                ..photos.clone()
            }),
            Utc::now(),
        );
        assert!(fired(&upload("a")).is_empty());
    }

    #[test]
    fn one_run_at_a_time_and_a_bounded_number_a_minute() {
        let engine = RuleEngine::default();
        let id = RuleId::new();
        assert_eq!(engine.begin(&id), Ok(()));
        assert_eq!(engine.begin(&id), Err(Refused::Busy));
        assert!(engine.end(&id).is_none());
        for _ in 1..MAX_RUNS_PER_WINDOW {
            assert_eq!(engine.begin(&id), Ok(()));
            engine.end(&id);
        }
        assert_eq!(engine.begin(&id), Err(Refused::Loop { first: true }));
        assert_eq!(engine.begin(&id), Err(Refused::Loop { first: false }));
    }

    #[test]
    fn clock_triggers_come_due_and_are_rescheduled() {
        let engine = RuleEngine::default();
        let morning = rule(json!({
            "triggers": [{ "type": "time", "at": "07:00" }],
            "actions": [{ "type": "delay", "seconds": 0 }]
        }));
        let start = DateTime::parse_from_rfc3339("2026-12-06T06:59:00Z")
            .unwrap()
            .with_timezone(&Utc);
        engine.load(&morning.id, Some(&morning), start);
        assert!(engine.due(start).is_empty());
        let seven = start + chrono::Duration::minutes(1);
        let fired = engine.due(seven);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].1["type"], "time");
        assert!(engine.due(seven).is_empty(), "tomorrow's is next");
        assert_eq!(engine.due(seven + chrono::Duration::days(1)).len(), 1);
    }
}
