//! Rules in GraphQL (admins): `rules`, `rule`, `ruleRuns`, `homeSettings`; the mutations
//! `createRule`, `updateRule`, `deleteRule`, `runRule`, `setHomeSettings`. A definition is
//! JSON (docs/automation.md §5); a bad one is `invalid_input` naming the problem.

use async_graphql::{Context, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::model::{Rule, Run, Settings};
use crate::contexts::automation::AutomationService;
use crate::graphql::{principal, GqlError};
use crate::ids::RuleId;

type Result<T, E = GqlError> = std::result::Result<T, E>;

fn automation<'a>(ctx: &Context<'a>) -> &'a AutomationService {
    ctx.data_unchecked::<AutomationService>()
}

#[derive(SimpleObject)]
#[graphql(name = "Rule")]
pub struct GqlRule {
    id: ID,
    name: String,
    enabled: bool,
    /// `{ triggers, conditions, actions }` as written.
    definition: Json<Value>,
    /// The admin whose rights its actions use.
    created_by: ID,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Rule> for GqlRule {
    fn from(r: Rule) -> Self {
        GqlRule {
            id: ID(r.id.into_string()),
            name: r.name,
            enabled: r.enabled,
            definition: Json(r.definition),
            created_by: ID(r.created_by.into_string()),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// One run of a rule: `outcome` is `running`, `done`, `conditions_false`, `failed` or
/// `loop_stopped`; `steps` what each action did.
#[derive(SimpleObject)]
#[graphql(name = "RuleRun")]
pub struct GqlRun {
    id: ID,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    outcome: String,
    trigger: Json<Value>,
    steps: Json<Value>,
    error: Option<String>,
}

impl From<Run> for GqlRun {
    fn from(r: Run) -> Self {
        GqlRun {
            id: ID(r.id),
            started_at: r.started_at,
            finished_at: r.finished_at,
            outcome: r.outcome.as_str().to_string(),
            trigger: Json(r.trigger),
            steps: Json(r.steps),
            error: r.error,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "HomeSettings")]
pub struct GqlSettings {
    latitude: Option<f64>,
    longitude: Option<f64>,
    elevation: f64,
    /// IANA (`America/Sao_Paulo`): clock triggers and time conditions follow it.
    time_zone: String,
}

impl From<Settings> for GqlSettings {
    fn from(s: Settings) -> Self {
        GqlSettings {
            latitude: s.latitude,
            longitude: s.longitude,
            elevation: s.elevation,
            time_zone: s.time_zone,
        }
    }
}

#[derive(Default)]
pub struct RuleQuery;

#[Object]
impl RuleQuery {
    /// The community's rules, by name (admins).
    async fn rules(&self, ctx: &Context<'_>) -> Result<Vec<GqlRule>> {
        let by = principal(ctx)?;
        Ok(automation(ctx)
            .rules(by)
            .await?
            .into_iter()
            .map(GqlRule::from)
            .collect())
    }

    async fn rule(&self, ctx: &Context<'_>, id: ID) -> Result<GqlRule> {
        let by = principal(ctx)?;
        Ok(automation(ctx).rule(by, &RuleId::from(id.0)).await?.into())
    }

    /// A rule's newest runs, newest first (`first`: 20, at most 100; the last 100 are kept).
    async fn rule_runs(
        &self,
        ctx: &Context<'_>,
        id: ID,
        first: Option<i64>,
    ) -> Result<Vec<GqlRun>> {
        let by = principal(ctx)?;
        Ok(automation(ctx)
            .runs(by, &RuleId::from(id.0), first)
            .await?
            .into_iter()
            .map(GqlRun::from)
            .collect())
    }

    /// Where the home is and its time zone (every member may read it).
    async fn home_settings(&self, ctx: &Context<'_>) -> Result<GqlSettings> {
        let by = principal(ctx)?;
        Ok(automation(ctx).settings(by).await?.into())
    }
}

#[derive(Default)]
pub struct RuleMutation;

#[Object]
impl RuleMutation {
    /// Creates a rule (admins); its actions act with the creator's rights.
    async fn create_rule(
        &self,
        ctx: &Context<'_>,
        name: String,
        definition: Json<Value>,
        #[graphql(default = true)] enabled: bool,
    ) -> Result<GqlRule> {
        let by = principal(ctx)?;
        Ok(automation(ctx)
            .create_rule(by, &name, definition.0, enabled)
            .await?
            .into())
    }

    /// Changes a rule's name, definition or enabled flag (admins).
    async fn update_rule(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: Option<String>,
        definition: Option<Json<Value>>,
        enabled: Option<bool>,
    ) -> Result<GqlRule> {
        let by = principal(ctx)?;
        Ok(automation(ctx)
            .update_rule(
                by,
                &RuleId::from(id.0),
                name.as_deref(),
                definition.map(|d| d.0),
                enabled,
            )
            .await?
            .into())
    }

    async fn delete_rule(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let by = principal(ctx)?;
        automation(ctx).delete_rule(by, &RuleId::from(id.0)).await?;
        Ok(true)
    }

    /// Runs a rule now (a `manual` trigger), even a disabled one; `skipConditions` runs the
    /// actions whatever the conditions say. The run shows up in `ruleRuns`.
    async fn run_rule(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = false)] skip_conditions: bool,
    ) -> Result<bool> {
        let by = principal(ctx)?;
        automation(ctx)
            .run_rule(by, &RuleId::from(id.0), skip_conditions)
            .await?;
        Ok(true)
    }

    /// Sets where the home is (sunrise and sunset) and its time zone (admins).
    async fn set_home_settings(
        &self,
        ctx: &Context<'_>,
        latitude: Option<f64>,
        longitude: Option<f64>,
        #[graphql(default = 0.0)] elevation: f64,
        #[graphql(default = "UTC")] time_zone: String,
    ) -> Result<GqlSettings> {
        let by = principal(ctx)?;
        Ok(automation(ctx)
            .set_settings(
                by,
                Settings {
                    latitude,
                    longitude,
                    elevation,
                    time_zone,
                },
            )
            .await?
            .into())
    }
}
