//! SQL for the `monitoring` schema.

use chrono::{DateTime, Utc};

use crate::db::{query, query_as, query_scalar, Db};

use super::{
    Alert, AlertLevel, AlertSource, Ban, MonitoringError, NewSecurityEvent, SecurityEvent,
    SecurityEventKind, SecurityFilter,
};

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

#[derive(sqlx::FromRow)]
struct SecurityEventRow {
    id: i64,
    kind: String,
    at: DateTime<Utc>,
    community_id: Option<String>,
    user_id: Option<String>,
    address: Option<String>,
    user_agent: Option<String>,
    reason: String,
}

impl SecurityEventRow {
    /// `None` for a kind this version does not know (written by a newer one).
    fn into_event(self) -> Option<SecurityEvent> {
        Some(SecurityEvent {
            id: self.id,
            kind: SecurityEventKind::parse(&self.kind)?,
            at: self.at,
            community_id: self.community_id,
            user_id: self.user_id,
            address: self.address,
            user_agent: self.user_agent,
            reason: self.reason,
        })
    }
}

#[derive(sqlx::FromRow)]
struct BanRow {
    address: String,
    banned_until: DateTime<Utc>,
    offences: i32,
    reason: String,
    issued_by: String,
    created_at: DateTime<Utc>,
}

impl From<BanRow> for Ban {
    fn from(row: BanRow) -> Self {
        Ban {
            address: row.address,
            banned_until: row.banned_until,
            offences: row.offences.max(0) as u32,
            reason: row.reason,
            issued_by: row.issued_by,
            created_at: row.created_at,
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

    /// Writes `events` in one transaction (one write turn on SQLite); returns them stored.
    pub async fn insert_security_events(
        &self,
        events: Vec<NewSecurityEvent>,
    ) -> Result<Vec<SecurityEvent>> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        let mut stored = Vec::with_capacity(events.len());
        for event in events {
            let id: i64 = query_scalar(
                "INSERT INTO monitoring.security_events \
                 (kind, at, community_id, user_id, address, user_agent, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(event.kind.as_str())
            .bind(event.at)
            .bind(event.community_id.clone())
            .bind(event.user_id.clone())
            .bind(event.address.clone())
            .bind(event.user_agent.clone())
            .bind(event.reason.clone())
            .fetch_one(&mut tx)
            .await?;
            stored.push(SecurityEvent {
                id,
                kind: event.kind,
                at: event.at,
                community_id: event.community_id,
                user_id: event.user_id,
                address: event.address,
                user_agent: event.user_agent,
                reason: event.reason,
            });
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Events matching `filter`, newest first, older than the event `before` when given;
    /// with `community_id`, only that community's and instance-wide ones.
    pub async fn security_events(
        &self,
        filter: &SecurityFilter,
        community_id: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SecurityEvent>> {
        let rows: Vec<SecurityEventRow> = query_as(
            "SELECT id, kind, at, community_id, user_id, address, user_agent, reason \
             FROM monitoring.security_events \
             WHERE ($1 IS NULL OR kind = $1) \
               AND ($2 IS NULL OR address = $2) \
               AND ($3 IS NULL OR user_id = $3) \
               AND ($4 IS NULL OR community_id = $4 OR community_id IS NULL) \
               AND ($5 IS NULL OR id < $5) \
             ORDER BY id DESC LIMIT $6",
        )
        .bind(filter.kind.map(SecurityEventKind::as_str))
        .bind(filter.address.clone())
        .bind(filter.user_id.clone())
        .bind(community_id.map(str::to_string))
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(SecurityEventRow::into_event)
            .collect())
    }

    /// Deletes events older than `before`, and bans that ended before it (their offences
    /// are forgotten); returns how many events.
    pub async fn prune_security_events(&self, before: DateTime<Utc>) -> Result<u64> {
        let _turn = self.db.write_turn().await;
        query("DELETE FROM monitoring.bans WHERE banned_until < $1")
            .bind(before)
            .execute(&self.db)
            .await?;
        Ok(
            query("DELETE FROM monitoring.security_events WHERE at < $1")
                .bind(before)
                .execute(&self.db)
                .await?,
        )
    }

    /// Stores `ban`, replacing the address's earlier one.
    pub async fn upsert_ban(&self, ban: &Ban) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO monitoring.bans \
             (address, banned_until, offences, reason, issued_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (address) DO UPDATE SET banned_until = excluded.banned_until, \
             offences = excluded.offences, reason = excluded.reason, \
             issued_by = excluded.issued_by, created_at = excluded.created_at",
        )
        .bind(ban.address.clone())
        .bind(ban.banned_until)
        .bind(ban.offences as i32)
        .bind(ban.reason.clone())
        .bind(ban.issued_by.clone())
        .bind(ban.created_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Forgets the address's ban (and its offences); false when there was none.
    pub async fn delete_ban(&self, address: &str) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let deleted = query("DELETE FROM monitoring.bans WHERE address = $1")
            .bind(address.to_string())
            .execute(&self.db)
            .await?;
        Ok(deleted > 0)
    }

    /// Every stored ban, in force or not (their offences still count), newest first.
    pub async fn bans(&self) -> Result<Vec<Ban>> {
        let rows: Vec<BanRow> = query_as(
            "SELECT address, banned_until, offences, reason, issued_by, created_at \
             FROM monitoring.bans ORDER BY created_at DESC",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(Ban::from).collect())
    }

    /// Raises an alert for `key`'s condition unless the condition holds already (it
    /// alerted and has not cleared): the alert's id, or `None`. One transaction, so two
    /// servers on one database alert once.
    pub async fn raise_once(
        &self,
        key: &str,
        level: AlertLevel,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        let began = query(
            "INSERT INTO monitoring.alert_conditions (key, alert_id, raised_at) \
             VALUES ($1, 0, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key.to_string())
        .bind(now)
        .execute(&mut tx)
        .await?;
        if began == 0 {
            return Ok(None);
        }
        let id: i64 = query_scalar(
            "INSERT INTO monitoring.alerts (level, message, source, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(level.as_str())
        .bind(message.to_string())
        .bind(AlertSource::Server.as_str())
        .bind(now)
        .fetch_one(&mut tx)
        .await?;
        query("UPDATE monitoring.alert_conditions SET alert_id = $2 WHERE key = $1")
            .bind(key.to_string())
            .bind(id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// True while `key`'s condition holds (it alerted and has not cleared).
    pub async fn condition_holds(&self, key: &str) -> Result<bool> {
        let found: Option<i64> =
            query_scalar("SELECT alert_id FROM monitoring.alert_conditions WHERE key = $1")
                .bind(key.to_string())
                .fetch_optional(&self.db)
                .await?;
        Ok(found.is_some())
    }

    /// Ends `key`'s condition; true when it held.
    pub async fn end_condition(&self, key: &str) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let deleted = query("DELETE FROM monitoring.alert_conditions WHERE key = $1")
            .bind(key.to_string())
            .execute(&self.db)
            .await?;
        Ok(deleted > 0)
    }

    /// The keys of the conditions that hold and start with `prefix`.
    pub async fn conditions_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let keys: Vec<String> = query_scalar(
            "SELECT key FROM monitoring.alert_conditions WHERE substr(key, 1, $2) = $1",
        )
        .bind(prefix.to_string())
        .bind(prefix.len() as i32)
        .fetch_all(&self.db)
        .await?;
        Ok(keys)
    }

    /// The database's size on PostgreSQL (SQLite's is read from its files).
    pub async fn postgres_database_size(&self) -> Result<Option<i64>> {
        if !matches!(self.db, Db::Postgres(..)) {
            return Ok(None);
        }
        let size: i64 = query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&self.db)
            .await?;
        Ok(Some(size))
    }
}
