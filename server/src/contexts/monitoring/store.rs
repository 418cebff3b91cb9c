//! SQL for the `monitoring` schema.

use chrono::{DateTime, Utc};

use crate::db::{query_as, query_scalar, Db};

use super::{Alert, AlertLevel, AlertSource, MonitoringError};

type Result<T, E = MonitoringError> = std::result::Result<T, E>;

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: i64,
    level: String,
    message: String,
    source: String,
    created_at: DateTime<Utc>,
}

impl AlertRow {
    fn into_alert(self) -> Alert {
        Alert {
            id: self.id,
            // The table's CHECK constraint allows only the three levels.
            level: AlertLevel::parse(&self.level).unwrap_or(AlertLevel::Critical),
            message: self.message,
            source: if self.source == "server" {
                AlertSource::Server
            } else {
                AlertSource::Operator
            },
            created_at: self.created_at,
        }
    }
}

pub(super) struct MonitoringStore {
    db: Db,
}

impl MonitoringStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert_alert(
        &self,
        level: AlertLevel,
        message: &str,
        source: AlertSource,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let id: i64 = query_scalar(
            "INSERT INTO monitoring.alerts (level, message, source, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(level.as_str())
        .bind(message)
        .bind(source.as_str())
        .bind(now)
        .fetch_one(&self.db)
        .await?;
        Ok(id)
    }

    /// The newest alert's id (0 when there is none).
    pub async fn last_alert_id(&self) -> Result<i64> {
        let id: Option<i64> = query_scalar("SELECT MAX(id) FROM monitoring.alerts")
            .fetch_one(&self.db)
            .await?;
        Ok(id.unwrap_or(0))
    }

    /// Alerts raised after `id`, oldest first.
    pub async fn alerts_after(&self, id: i64) -> Result<Vec<Alert>> {
        let rows: Vec<AlertRow> = query_as(
            "SELECT id, level, message, source, created_at FROM monitoring.alerts \
             WHERE id > $1 ORDER BY id LIMIT 100",
        )
        .bind(id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(AlertRow::into_alert).collect())
    }
}
