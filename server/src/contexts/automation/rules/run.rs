//! One run of a rule: check the conditions, then do the actions in order, logging each step.
//! Actions act with the rights of the rule's author (an admin when they wrote it): a control
//! goes through the same access checks as theirs, a message is sent as them. A failing action
//! ends the run as `failed`; the steps before it stay done.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, Utc};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::{json, Value};

use super::definition::{Action, Condition, WebhookMethod};
use super::engine::{LoadedRule, Refused};
use super::model::{Run, RunOutcome};
use crate::contexts::auth::Principal;
use crate::contexts::automation::events::AutomationEvent;
use crate::contexts::automation::service::AutomationService;
use crate::contexts::automation::statistics::value_of;
use crate::contexts::automation::{template, AutomationError, Command};
use crate::contexts::chat::NewMessage;

/// A run never lasts longer than this (delays included); it is then ended as failed.
pub const MAX_RUN: StdDuration = StdDuration::from_secs(86_400 + 3_600);
const WEBHOOK_ATTEMPTS: u32 = 3;

/// What the actions' templates see, and what the run log records.
struct Context {
    trigger: Value,
    rule: Value,
    place: super::schedule::Place,
}

impl Context {
    fn values(&self) -> Value {
        let now = Utc::now().with_timezone(&self.place.time_zone);
        json!({
            "trigger": self.trigger,
            "rule": self.rule,
            "now": now.to_rfc3339(),
            "time": now.format("%H:%M").to_string(),
        })
    }

    fn render(&self, text: &str) -> Result<String, String> {
        template::render_text(text, &self.values())
    }
}

impl AutomationService {
    /// Starts a run of `rule` for `trigger` in the background. While the rule runs the trigger
    /// waits its turn (up to [`super::engine::MAX_QUEUED`], then it is dropped); a rule that
    /// started too often this minute does not run (logged once as `loop_stopped`, with an
    /// alert).
    pub(in crate::contexts::automation) fn fire(
        &self,
        rule: Arc<LoadedRule>,
        trigger: Value,
        skip_conditions: bool,
    ) {
        let engine = &self.inner.rules;
        match engine.begin(&rule.id) {
            Ok(()) => {}
            Err(Refused::Busy) => {
                if !engine.enqueue((rule.clone(), trigger, skip_conditions)) {
                    tracing::info!(rule = %rule.id, "rule busy with a full queue: trigger dropped");
                }
                return;
            }
            Err(Refused::Loop { first }) => {
                if first {
                    let service = self.clone();
                    tokio::spawn(async move { service.log_loop(&rule, trigger).await });
                }
                return;
            }
        }
        let service = self.clone();
        tokio::spawn(async move {
            let id = rule.id.clone();
            service.run(rule, trigger, skip_conditions).await;
            if let Some((rule, trigger, skip_conditions)) = service.inner.rules.end(&id) {
                service.fire(rule, trigger, skip_conditions);
            }
        });
    }

    async fn log_loop(&self, rule: &LoadedRule, trigger: Value) {
        let now = Utc::now();
        let error = format!(
            "started {} times within {} s: further triggers are dropped until the minute \
             has passed (a rule triggering itself, or a flapping device)",
            super::engine::MAX_RUNS_PER_WINDOW,
            super::engine::BURST_WINDOW.as_secs()
        );
        tracing::warn!(rule = %rule.id, name = %rule.name, "{error}");
        let run = Run {
            id: nanoid::nanoid!(),
            rule_id: rule.id.clone(),
            started_at: now,
            finished_at: Some(now),
            outcome: RunOutcome::LoopStopped,
            trigger,
            steps: json!([]),
            error: Some(error.clone()),
        };
        if let Err(e) = self.inner.rule_store.start_run(&run).await {
            tracing::warn!(error = %e, "rule run not logged");
        }
        self.inner.bus.publish(AutomationEvent::rule_alert(
            &rule.community_id,
            &rule.id,
            &rule.name,
            "warning",
            &format!("rule {:?} stopped: {error}", rule.name),
        ));
    }

    /// Runs `rule` to its end and logs it.
    async fn run(&self, rule: Arc<LoadedRule>, trigger: Value, skip_conditions: bool) {
        let mut run = Run {
            id: nanoid::nanoid!(),
            rule_id: rule.id.clone(),
            started_at: Utc::now(),
            finished_at: None,
            outcome: RunOutcome::Running,
            trigger: trigger.clone(),
            steps: json!([]),
            error: None,
        };
        let store = &self.inner.rule_store;
        if let Err(e) = store.start_run(&run).await {
            tracing::warn!(error = %e, "rule run not logged");
        }
        let context = Context {
            trigger,
            rule: json!({ "id": rule.id, "name": rule.name }),
            place: self.inner.rules.place(&rule.community_id),
        };
        let mut steps = Vec::new();
        let outcome = tokio::time::timeout(MAX_RUN, async {
            if !skip_conditions && !self.all_hold(&rule, &rule.definition.conditions).await? {
                return Ok(RunOutcome::ConditionsFalse);
            }
            let author = self.author(&rule).await?;
            self.act(
                &rule,
                &author,
                &context,
                &rule.definition.actions,
                &mut steps,
            )
            .await?;
            Ok(RunOutcome::Done)
        })
        .await
        .unwrap_or_else(|_| Err("the run took longer than a day and was ended".to_string()));
        run.finished_at = Some(Utc::now());
        run.steps = Value::Array(steps);
        match outcome {
            Ok(outcome) => run.outcome = outcome,
            Err(error) => {
                tracing::info!(rule = %rule.id, %error, "rule run failed");
                run.outcome = RunOutcome::Failed;
                run.error = Some(error);
            }
        }
        if let Err(e) = store.finish_run(&run).await {
            tracing::warn!(error = %e, "rule run not logged");
        }
    }

    /// The rule's author as a principal: actions act with their rights.
    async fn author(&self, rule: &LoadedRule) -> Result<Principal, String> {
        let user = self
            .inner
            .auth
            .user(&rule.created_by)
            .await
            .map_err(|_| "the rule's author no longer exists".to_string())?;
        if user.disabled || user.community_id != rule.community_id {
            return Err("the rule's author is disabled or gone".into());
        }
        Ok(user.acting_as("rule"))
    }

    fn all_hold<'a>(
        &'a self,
        rule: &'a LoadedRule,
        conditions: &'a [Condition],
    ) -> BoxFuture<'a, Result<bool, String>> {
        async move {
            for condition in conditions {
                if !self.holds(rule, condition).await? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        .boxed()
    }

    async fn holds(&self, rule: &LoadedRule, condition: &Condition) -> Result<bool, String> {
        let state_of = |entity_id: &str| {
            let entity_id = entity_id.to_string();
            let community = rule.community_id.clone();
            async move {
                self.store()
                    .entity(&community, &entity_id)
                    .await
                    .map_err(|e| e.to_string())
                    .map(|found| found.and_then(|(entity, _)| entity.state))
            }
        };
        Ok(match condition {
            Condition::State { entity_id, state } => state_of(entity_id)
                .await?
                .is_some_and(|current| state.contains(&current)),
            Condition::Numeric {
                entity_id,
                above,
                below,
            } => value_of(state_of(entity_id).await?.as_deref())
                .is_some_and(|v| above.is_none_or(|a| v > a) && below.is_none_or(|b| v < b)),
            Condition::Time {
                after,
                before,
                weekdays,
            } => {
                let place = self.inner.rules.place(&rule.community_id);
                let now = Utc::now().with_timezone(&place.time_zone);
                let time = now.time();
                let in_window = match (after, before) {
                    (Some(a), Some(b)) if a > b => time >= *a || time < *b,
                    (a, b) => a.is_none_or(|a| time >= a) && b.is_none_or(|b| time < b),
                };
                in_window
                    && (weekdays.is_empty()
                        || weekdays.contains(&super::definition::Weekday::of(now.weekday())))
            }
            Condition::Presence {
                users,
                present,
                all,
            } => {
                let online = self.online(&rule.community_id);
                let here = |u: &crate::ids::UserId| online.contains(u);
                match (users.is_empty(), *present, *all) {
                    (true, true, _) => !online.is_empty(),
                    (true, false, _) => online.is_empty(),
                    (false, true, false) => users.iter().any(here),
                    (false, true, true) => users.iter().all(here),
                    (false, false, _) => !users.iter().any(here),
                }
            }
            Condition::And { conditions } => self.all_hold(rule, conditions).await?,
            Condition::Or { conditions } => {
                for condition in conditions {
                    if Box::pin(self.holds(rule, condition)).await? {
                        return Ok(true);
                    }
                }
                false
            }
            Condition::Not { conditions } => !self.all_hold(rule, conditions).await?,
        })
    }

    fn act<'a>(
        &'a self,
        rule: &'a LoadedRule,
        author: &'a Principal,
        context: &'a Context,
        actions: &'a [Action],
        steps: &'a mut Vec<Value>,
    ) -> BoxFuture<'a, Result<(), String>> {
        async move {
            for action in actions {
                let (name, result) = match action {
                    Action::Choose { options, otherwise } => {
                        let mut chosen = None;
                        for (index, option) in options.iter().enumerate() {
                            if self.all_hold(rule, &option.conditions).await? {
                                chosen = Some((index, &option.actions));
                                break;
                            }
                        }
                        steps.push(json!({
                            "action": "choose", "ok": true,
                            "detail": chosen.map_or("otherwise".to_string(), |(i, _)| format!("option {i}")),
                        }));
                        let branch = chosen.map_or(otherwise, |(_, actions)| actions);
                        self.act(rule, author, context, branch, steps).await?;
                        continue;
                    }
                    other => (action_name(other), self.act_once(rule, author, context, other).await),
                };
                match result {
                    Ok(detail) => steps.push(json!({ "action": name, "ok": true, "detail": detail })),
                    Err(error) => {
                        steps.push(json!({ "action": name, "ok": false, "detail": error }));
                        return Err(format!("{name}: {error}"));
                    }
                }
            }
            Ok(())
        }
        .boxed()
    }

    async fn act_once(
        &self,
        rule: &LoadedRule,
        author: &Principal,
        context: &Context,
        action: &Action,
    ) -> Result<String, String> {
        match action {
            Action::Control {
                entity_id,
                action,
                brightness,
                value,
                mode,
            } => {
                let command = Command::parse(action, *brightness, *value, mode.clone())
                    .map_err(|e| e.to_string())?;
                self.control(author, entity_id, &command)
                    .await
                    .map_err(|e: AutomationError| e.to_string())?;
                Ok(format!("{action} {entity_id}"))
            }
            Action::Message {
                conversation_id,
                text,
            } => {
                let body = context.render(text)?;
                let (message, _) = self
                    .inner
                    .chat
                    .send_message(
                        author,
                        conversation_id,
                        NewMessage {
                            body,
                            client_id: None,
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("message {} in {conversation_id}", message.id))
            }
            Action::Alert { message, level } => {
                let message = context.render(message)?;
                let level = serde_json::to_value(level)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                self.inner.bus.publish(AutomationEvent::rule_alert(
                    &rule.community_id,
                    &rule.id,
                    &rule.name,
                    &level,
                    &message,
                ));
                Ok(message)
            }
            Action::Webhook {
                url,
                method,
                body,
                timeout_seconds,
            } => {
                super::definition::check_webhook(url, &self.inner.config.webhook_hosts)?;
                let body = body
                    .as_ref()
                    .map(|b| render_strings(b, context))
                    .transpose()?;
                self.call_webhook(url, *method, body, *timeout_seconds)
                    .await
            }
            Action::Delay { seconds } => {
                tokio::time::sleep(StdDuration::from_secs(*seconds)).await;
                Ok(format!("{seconds} s"))
            }
            Action::Choose { .. } => unreachable!("choose is handled by act"),
        }
    }

    /// Calls a webhook, retrying a connection failure or a 5xx answer (1 s, then 2 s apart).
    async fn call_webhook(
        &self,
        url: &str,
        method: WebhookMethod,
        body: Option<Value>,
        timeout_seconds: u64,
    ) -> Result<String, String> {
        let mut last_error = String::new();
        for attempt in 0..WEBHOOK_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(StdDuration::from_secs(1 << (attempt - 1))).await;
            }
            let client = &self.inner.http;
            let mut request = match method {
                WebhookMethod::Post => client.post(url),
                WebhookMethod::Put => client.put(url),
                WebhookMethod::Get => client.get(url),
            }
            .timeout(StdDuration::from_secs(timeout_seconds))
            .header("user-agent", concat!("taina/", env!("CARGO_PKG_VERSION")));
            if let Some(body) = &body {
                request = request.json(body);
            }
            match request.send().await {
                Ok(response) if response.status().is_server_error() => {
                    last_error = format!("answered {}", response.status());
                }
                Ok(response) if response.status().is_success() => {
                    return Ok(format!(
                        "{} after {} attempt(s)",
                        response.status(),
                        attempt + 1
                    ));
                }
                // A 4xx will not get better by asking again.
                Ok(response) => return Err(format!("answered {}", response.status())),
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(format!("{last_error} (after {WEBHOOK_ATTEMPTS} attempts)"))
    }
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Control { .. } => "control",
        Action::Message { .. } => "message",
        Action::Alert { .. } => "alert",
        Action::Webhook { .. } => "webhook",
        Action::Delay { .. } => "delay",
        Action::Choose { .. } => "choose",
    }
}

/// A JSON body with every string rendered as a template.
fn render_strings(value: &Value, context: &Context) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(context.render(text)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_strings(v, context))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_strings(v, context)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// When runs still marked running are taken for interrupted.
pub fn interrupted_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::from_std(MAX_RUN).unwrap_or_default() - chrono::Duration::minutes(5)
}
