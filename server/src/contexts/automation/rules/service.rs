//! The service's rule API (admins: create, change, enable, delete, run by hand, read the run
//! log; the community's home settings) and the loops that feed the engine: bus events and a
//! one-second clock, acted on by the coordinating node only.

use std::time::Duration as StdDuration;

use chrono::Utc;
use serde_json::{json, Value};

use super::definition::Definition;
use super::engine::Matched;
use super::model::{Rule, Run, Settings};
use super::schedule::{parse_time_zone, Place};
use crate::contexts::auth::{Principal, Role};
use crate::contexts::automation::events::{
    AutomationEvent, RuleChanged, RULES_CHANGED, SETTINGS_CHANGED,
};
use crate::contexts::automation::service::AutomationService;
use crate::contexts::automation::AutomationError;
use crate::events::Event;
use crate::ids::{CommunityId, RuleId};

type Result<T, E = AutomationError> = std::result::Result<T, E>;

const TICK: StdDuration = StdDuration::from_secs(1);
/// How often runs left `running` by a stopped server are marked interrupted.
const SWEEP_EVERY: u32 = 600;
/// Runs a `ruleRuns` query returns at most.
pub const MAX_RUNS: i64 = 100;

impl AutomationService {
    /// Loads every rule and home setting, then starts the clock (the server's start).
    pub(in crate::contexts::automation) async fn start_rules(&self) -> Result<()> {
        let now = Utc::now();
        for (community, settings) in self.inner.rule_store.all_settings().await? {
            self.inner
                .rules
                .set_place(&community, place_of(&settings), now);
        }
        for rule in self.inner.rule_store.rules(None).await? {
            self.inner.rules.load(&rule.id, Some(&rule), now);
        }
        let weak = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TICK);
            let mut count: u32 = 0;
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let service = AutomationService { inner };
                let now = Utc::now();
                // Every node keeps its clock moving; only the coordinator acts on it.
                let due = service.inner.rules.due(now);
                if !service.coordinates() {
                    continue;
                }
                for (rule, trigger) in due {
                    service.fire(rule, trigger, false);
                }
                if count.is_multiple_of(SWEEP_EVERY) {
                    let before = super::run::interrupted_before(now);
                    if let Err(e) = service.inner.rule_store.interrupt_runs(before, now).await {
                        tracing::warn!(error = %e, "cannot sweep interrupted rule runs");
                    }
                }
                count = count.wrapping_add(1);
            }
        });
        Ok(())
    }

    /// One bus event: rules and settings reloaded when they changed anywhere; on the
    /// coordinator, the rules it triggers fire.
    pub(in crate::contexts::automation) async fn rules_hear(&self, event: &Event) {
        let now = Utc::now();
        match event.kind.as_str() {
            RULES_CHANGED => {
                let Ok(changed) = event.data_as::<RuleChanged>() else {
                    return;
                };
                match self.inner.rule_store.rule(&changed.rule_id).await {
                    Ok(rule) => self.inner.rules.load(&changed.rule_id, rule.as_ref(), now),
                    Err(e) => tracing::warn!(error = %e, "cannot reload a rule"),
                }
                return;
            }
            SETTINGS_CHANGED => {
                let Some(community) = &event.community_id else {
                    return;
                };
                match self.inner.rule_store.settings(community).await {
                    Ok(Some(settings)) => {
                        self.inner
                            .rules
                            .set_place(community, place_of(&settings), now)
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot reload home settings"),
                }
                return;
            }
            _ => {}
        }
        if !self.coordinates() {
            return;
        }
        // An instance-wide event (a ban, a sign-in failure for an unknown email) concerns the
        // instance's community when there is only one.
        let instance_wide;
        let event = match &event.community_id {
            None if self.inner.rules.wants(&event.kind) => {
                let Ok(Some(community)) = self.inner.auth.sole_community().await else {
                    return;
                };
                instance_wide = Event {
                    community_id: Some(community),
                    ..event.clone()
                };
                &instance_wide
            }
            _ => event,
        };
        for matched in self.inner.rules.matching(event) {
            match matched {
                Matched::Now(rule, trigger) => self.fire(rule, trigger, false),
                Matched::After {
                    rule,
                    info,
                    wait,
                    entity_id,
                    state,
                    last_changed,
                } => {
                    let service = self.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        // Still in that state, unchanged since: it held for the whole time.
                        let current = service.store().entity(&rule.community_id, &entity_id).await;
                        let held = matches!(current, Ok(Some((entity, _)))
                            if entity.state == state && entity.last_changed == last_changed);
                        if held && service.coordinates() {
                            let mut info = info;
                            info["for_seconds"] = json!(wait.as_secs());
                            service.fire(rule, info, false);
                        }
                    });
                }
            }
        }
    }

    fn admins_manage_rules(by: &Principal) -> Result<()> {
        if by.role == Role::Admin {
            Ok(())
        } else {
            Err(AutomationError::Forbidden(
                "only admins manage rules".into(),
            ))
        }
    }

    /// A rule definition checked: it parses, stays within the limits, and every entity it
    /// names exists in the community.
    async fn checked(&self, by: &Principal, definition: &Value) -> Result<()> {
        let parsed = Definition::parse(definition, &self.inner.config.webhook_hosts)
            .map_err(AutomationError::Invalid)?;
        for entity_id in parsed.entity_ids() {
            if self
                .store()
                .entity(&by.community_id, entity_id)
                .await?
                .is_none()
            {
                return Err(AutomationError::Invalid(format!(
                    "the rule names {entity_id}, which does not exist"
                )));
            }
        }
        Ok(())
    }

    pub async fn rules(&self, by: &Principal) -> Result<Vec<Rule>> {
        Self::admins_manage_rules(by)?;
        self.inner.rule_store.rules(Some(&by.community_id)).await
    }

    pub async fn rule(&self, by: &Principal, id: &RuleId) -> Result<Rule> {
        Self::admins_manage_rules(by)?;
        self.inner
            .rule_store
            .rule(id)
            .await?
            .filter(|r| r.community_id == by.community_id)
            .ok_or(AutomationError::NotFound)
    }

    /// A rule's newest runs, newest first (at most [`MAX_RUNS`]).
    pub async fn runs(&self, by: &Principal, id: &RuleId, first: Option<i64>) -> Result<Vec<Run>> {
        let rule = self.rule(by, id).await?;
        let limit = first.unwrap_or(20).clamp(1, MAX_RUNS);
        self.inner.rule_store.runs(&rule.id, limit).await
    }

    pub async fn create_rule(
        &self,
        by: &Principal,
        name: &str,
        definition: Value,
        enabled: bool,
    ) -> Result<Rule> {
        Self::admins_manage_rules(by)?;
        let name = rule_name(name)?;
        self.checked(by, &definition).await?;
        let now = Utc::now();
        let rule = Rule {
            id: RuleId::new(),
            community_id: by.community_id.clone(),
            name,
            enabled,
            definition,
            created_by: by.user_id.clone(),
            created_at: now,
            updated_at: now,
        };
        self.inner.rule_store.insert(&rule).await?;
        self.rule_changed(&rule);
        Ok(rule)
    }

    /// Changes what is given; a changed definition is checked as a new one. The rule keeps its
    /// author.
    pub async fn update_rule(
        &self,
        by: &Principal,
        id: &RuleId,
        name: Option<&str>,
        definition: Option<Value>,
        enabled: Option<bool>,
    ) -> Result<Rule> {
        let mut rule = self.rule(by, id).await?;
        if let Some(name) = name {
            rule.name = rule_name(name)?;
        }
        if let Some(definition) = definition {
            self.checked(by, &definition).await?;
            rule.definition = definition;
        }
        if let Some(enabled) = enabled {
            rule.enabled = enabled;
        }
        rule.updated_at = Utc::now();
        if !self.inner.rule_store.update(&rule).await? {
            return Err(AutomationError::NotFound);
        }
        self.rule_changed(&rule);
        Ok(rule)
    }

    pub async fn delete_rule(&self, by: &Principal, id: &RuleId) -> Result<()> {
        Self::admins_manage_rules(by)?;
        if !self.inner.rule_store.delete(&by.community_id, id).await? {
            return Err(AutomationError::NotFound);
        }
        self.inner.rules.load(id, None, Utc::now());
        self.inner
            .bus
            .publish(AutomationEvent::rules_changed(&by.community_id, id));
        Ok(())
    }

    /// Runs a rule now, on this node, as a `manual` trigger (its conditions skipped with
    /// `skip_conditions`). A disabled rule runs too: that is how one tries it out.
    pub async fn run_rule(&self, by: &Principal, id: &RuleId, skip_conditions: bool) -> Result<()> {
        let rule = self.rule(by, id).await?;
        let definition: Definition = serde_json::from_value(rule.definition.clone())
            .map_err(|e| AutomationError::Invalid(format!("definition: {e}")))?;
        let loaded = std::sync::Arc::new(super::engine::LoadedRule {
            id: rule.id,
            community_id: rule.community_id,
            name: rule.name,
            created_by: rule.created_by,
            definition,
        });
        self.fire(
            loaded,
            json!({ "type": "manual", "by": by.user_id }),
            skip_conditions,
        );
        Ok(())
    }

    fn rule_changed(&self, rule: &Rule) {
        self.inner.rules.load(&rule.id, Some(rule), Utc::now());
        self.inner
            .bus
            .publish(AutomationEvent::rules_changed(&rule.community_id, &rule.id));
    }

    /// The community's home settings (defaults: no location, UTC).
    pub async fn settings(&self, by: &Principal) -> Result<Settings> {
        Ok(self
            .inner
            .rule_store
            .settings(&by.community_id)
            .await?
            .unwrap_or_default())
    }

    /// Sets where the home is (for sunrise and sunset) and its time zone (admins).
    pub async fn set_settings(&self, by: &Principal, settings: Settings) -> Result<Settings> {
        Self::admins_manage_rules(by)?;
        parse_time_zone(&settings.time_zone).map_err(AutomationError::Invalid)?;
        match (settings.latitude, settings.longitude) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) => {}
            (None, None) => {}
            _ => {
                return Err(AutomationError::Invalid(
                    "latitude (−90 to 90) and longitude (−180 to 180) go together".into(),
                ))
            }
        }
        if !settings.elevation.is_finite() || settings.elevation.abs() > 10_000.0 {
            return Err(AutomationError::Invalid(
                "elevation is in metres, within ±10,000".into(),
            ));
        }
        self.inner
            .rule_store
            .set_settings(&by.community_id, &settings, Utc::now())
            .await?;
        self.inner
            .rules
            .set_place(&by.community_id, place_of(&settings), Utc::now());
        self.inner
            .bus
            .publish(AutomationEvent::settings_changed(&by.community_id));
        Ok(settings)
    }

    /// Members online in a community (for presence conditions), as the server reports them.
    pub(in crate::contexts::automation) fn online(
        &self,
        community_id: &CommunityId,
    ) -> Vec<crate::ids::UserId> {
        self.inner
            .online
            .get()
            .map(|online| online(community_id))
            .unwrap_or_default()
    }
}

fn place_of(settings: &Settings) -> Place {
    Place {
        latitude: settings.latitude,
        longitude: settings.longitude,
        elevation: settings.elevation,
        time_zone: parse_time_zone(&settings.time_zone).unwrap_or(chrono_tz::Tz::UTC),
    }
}

fn rule_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AutomationError::Invalid(
            "a rule's name is 1 to 100 characters".into(),
        ));
    }
    Ok(name.to_string())
}
