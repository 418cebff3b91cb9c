//! Rules as stored, their runs, and the community's home settings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{CommunityId, RuleId, UserId};

/// A stored rule; `definition` is the author's JSON ([`super::definition::Definition`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: RuleId,
    pub community_id: CommunityId,
    pub name: String,
    pub enabled: bool,
    pub definition: Value,
    /// The admin who wrote it: actions act with their rights.
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a run ended (or that it has not yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Running,
    Done,
    /// Triggered, but the conditions did not hold.
    ConditionsFalse,
    Failed,
    /// Triggered too often in a minute (a rule feeding itself): not run.
    LoopStopped,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Done => "done",
            RunOutcome::ConditionsFalse => "conditions_false",
            RunOutcome::Failed => "failed",
            RunOutcome::LoopStopped => "loop_stopped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "running" => RunOutcome::Running,
            "done" => RunOutcome::Done,
            "conditions_false" => RunOutcome::ConditionsFalse,
            "failed" => RunOutcome::Failed,
            "loop_stopped" => RunOutcome::LoopStopped,
            _ => return None,
        })
    }
}

/// One run of a rule, as logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub rule_id: RuleId,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: RunOutcome,
    /// What fired it: `{type, …}` (also the templates' `trigger`).
    pub trigger: Value,
    /// What each action did, in order: `{action, ok, detail}`.
    pub steps: Value,
    pub error: Option<String>,
}

/// Where the community's home is, for the sun, and its clocks' time zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub elevation: f64,
    /// An IANA name (`America/Sao_Paulo`).
    pub time_zone: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            latitude: None,
            longitude: None,
            elevation: 0.0,
            time_zone: "UTC".into(),
        }
    }
}
