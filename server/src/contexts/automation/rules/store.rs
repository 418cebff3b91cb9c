//! The rules' SQL (`automation.rules`, `automation.rule_runs`, `automation.settings`), each
//! statement next to its one caller.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::FromRow;

use super::model::{Rule, Run, RunOutcome, Settings};
use crate::contexts::automation::AutomationError;
use crate::db::{query, query_as, Db};
use crate::ids::{CommunityId, RuleId, UserId};

type Result<T, E = AutomationError> = std::result::Result<T, E>;

/// Runs kept per rule: older ones go as new ones are logged.
const RUNS_KEPT: i64 = 100;

#[derive(FromRow)]
struct RuleRow {
    id: RuleId,
    community_id: CommunityId,
    name: String,
    enabled: i32,
    definition: String,
    created_by: UserId,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl RuleRow {
    fn into_rule(self) -> Rule {
        Rule {
            id: self.id,
            community_id: self.community_id,
            name: self.name,
            enabled: self.enabled != 0,
            definition: serde_json::from_str(&self.definition).unwrap_or(Value::Null),
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const RULE_COLUMNS: &str =
    "id, community_id, name, enabled, definition, created_by, created_at, updated_at";

#[derive(FromRow)]
struct RunRow {
    id: String,
    rule_id: RuleId,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    outcome: String,
    trigger: String,
    steps: String,
    error: Option<String>,
}

impl RunRow {
    fn into_run(self) -> Run {
        Run {
            id: self.id,
            rule_id: self.rule_id,
            started_at: self.started_at,
            finished_at: self.finished_at,
            outcome: RunOutcome::parse(&self.outcome).unwrap_or(RunOutcome::Failed),
            trigger: serde_json::from_str(&self.trigger).unwrap_or(Value::Null),
            steps: serde_json::from_str(&self.steps).unwrap_or(Value::Null),
            error: self.error,
        }
    }
}

#[derive(Clone)]
pub(in crate::contexts::automation) struct RuleStore {
    db: Db,
}

impl RuleStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert(&self, rule: &Rule) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO automation.rules (id, community_id, name, enabled, definition, \
             created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&rule.id)
        .bind(&rule.community_id)
        .bind(&rule.name)
        .bind(i32::from(rule.enabled))
        .bind(rule.definition.to_string())
        .bind(&rule.created_by)
        .bind(rule.created_at)
        .bind(rule.updated_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Stores a changed rule (name, enabled, definition, updated_at).
    pub async fn update(&self, rule: &Rule) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let updated = query(
            "UPDATE automation.rules SET name = $3, enabled = $4, definition = $5, \
             updated_at = $6 WHERE id = $1 AND community_id = $2",
        )
        .bind(&rule.id)
        .bind(&rule.community_id)
        .bind(&rule.name)
        .bind(i32::from(rule.enabled))
        .bind(rule.definition.to_string())
        .bind(rule.updated_at)
        .execute(&self.db)
        .await?;
        Ok(updated > 0)
    }

    pub async fn delete(&self, community_id: &CommunityId, id: &RuleId) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let deleted = query("DELETE FROM automation.rules WHERE id = $1 AND community_id = $2")
            .bind(id)
            .bind(community_id)
            .execute(&self.db)
            .await?;
        Ok(deleted > 0)
    }

    pub async fn rule(&self, id: &RuleId) -> Result<Option<Rule>> {
        let sql = format!("SELECT {RULE_COLUMNS} FROM automation.rules WHERE id = $1");
        let row = query_as::<RuleRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(RuleRow::into_rule))
    }

    /// One community's rules (every community's with `None`), by name.
    pub async fn rules(&self, community_id: Option<&CommunityId>) -> Result<Vec<Rule>> {
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM automation.rules \
             WHERE $1 IS NULL OR community_id = $1 ORDER BY name, id"
        );
        let rows = query_as::<RuleRow>(sqlx::AssertSqlSafe(sql))
            .bind(community_id)
            .fetch_all(&self.db)
            .await?;
        Ok(rows.into_iter().map(RuleRow::into_rule).collect())
    }

    /// Logs a run that started.
    pub async fn start_run(&self, run: &Run) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO automation.rule_runs (id, rule_id, started_at, finished_at, outcome, \
             trigger, steps, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&run.id)
        .bind(&run.rule_id)
        .bind(run.started_at)
        .bind(run.finished_at)
        .bind(run.outcome.as_str())
        .bind(run.trigger.to_string())
        .bind(run.steps.to_string())
        .bind(&run.error)
        .execute(&self.db)
        .await?;
        // Keep the newest runs only.
        query(
            "DELETE FROM automation.rule_runs WHERE rule_id = $1 AND id NOT IN \
             (SELECT id FROM automation.rule_runs WHERE rule_id = $1 \
              ORDER BY started_at DESC, id DESC LIMIT $2)",
        )
        .bind(&run.rule_id)
        .bind(RUNS_KEPT)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Logs how a run ended.
    pub async fn finish_run(&self, run: &Run) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "UPDATE automation.rule_runs SET finished_at = $2, outcome = $3, steps = $4, \
             error = $5 WHERE id = $1",
        )
        .bind(&run.id)
        .bind(run.finished_at)
        .bind(run.outcome.as_str())
        .bind(run.steps.to_string())
        .bind(&run.error)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Runs still marked running that started before `before` (their server stopped).
    pub async fn interrupt_runs(&self, before: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64> {
        let _turn = self.db.write_turn().await;
        Ok(query(
            "UPDATE automation.rule_runs SET outcome = 'failed', finished_at = $2, \
             error = 'interrupted: the server running it stopped' \
             WHERE outcome = 'running' AND started_at < $1",
        )
        .bind(before)
        .bind(now)
        .execute(&self.db)
        .await?)
    }

    /// A rule's newest runs, newest first.
    pub async fn runs(&self, rule_id: &RuleId, limit: i64) -> Result<Vec<Run>> {
        let rows = query_as::<RunRow>(
            "SELECT id, rule_id, started_at, finished_at, outcome, trigger, steps, error \
             FROM automation.rule_runs WHERE rule_id = $1 \
             ORDER BY started_at DESC, id DESC LIMIT $2",
        )
        .bind(rule_id)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(RunRow::into_run).collect())
    }

    /// One community's home settings, if it has any.
    pub async fn settings(&self, community_id: &CommunityId) -> Result<Option<Settings>> {
        Ok(self
            .all_settings_where(Some(community_id))
            .await?
            .into_iter()
            .next()
            .map(|(_, settings)| settings))
    }

    /// Every community's home settings.
    pub async fn all_settings(&self) -> Result<Vec<(CommunityId, Settings)>> {
        self.all_settings_where(None).await
    }

    async fn all_settings_where(
        &self,
        community_id: Option<&CommunityId>,
    ) -> Result<Vec<(CommunityId, Settings)>> {
        #[derive(FromRow)]
        struct Row {
            community_id: CommunityId,
            latitude: Option<f64>,
            longitude: Option<f64>,
            elevation: f64,
            time_zone: String,
        }
        let rows = query_as::<Row>(
            "SELECT community_id, latitude, longitude, elevation, time_zone \
             FROM automation.settings WHERE $1 IS NULL OR community_id = $1",
        )
        .bind(community_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.community_id,
                    Settings {
                        latitude: r.latitude,
                        longitude: r.longitude,
                        elevation: r.elevation,
                        time_zone: r.time_zone,
                    },
                )
            })
            .collect())
    }

    pub async fn set_settings(
        &self,
        community_id: &CommunityId,
        settings: &Settings,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO automation.settings (community_id, latitude, longitude, elevation, \
             time_zone, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (community_id) DO UPDATE SET latitude = excluded.latitude, \
             longitude = excluded.longitude, elevation = excluded.elevation, \
             time_zone = excluded.time_zone, updated_at = excluded.updated_at",
        )
        .bind(community_id)
        .bind(settings.latitude)
        .bind(settings.longitude)
        .bind(settings.elevation)
        .bind(&settings.time_zone)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(())
    }
}
