//! SQL for Web Push subscriptions and notification records (`chat.push_subscriptions`,
//! `chat.notifications`).

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::notifier::{Notification, Subscription};
use crate::db::{query, query_as, Db};
use crate::ids::{ConversationId, MessageId, UserId};

#[derive(Clone)]
pub struct PushStore {
    db: Db,
}

#[derive(FromRow)]
struct SubscriptionRow {
    id: String,
    user_id: UserId,
    endpoint: String,
    p256dh: String,
    auth: String,
}

impl PushStore {
    pub fn new(db: Db) -> Self {
        PushStore { db }
    }

    /// Stores a browser's subscription; the same endpoint again (a browser subscribing anew,
    /// perhaps for someone else on a shared computer) replaces what was there.
    pub async fn subscribe(
        &self,
        user_id: &UserId,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO chat.push_subscriptions \
             (id, user_id, endpoint, p256dh, auth, created_at, failures) \
             VALUES ($1, $2, $3, $4, $5, $6, 0) \
             ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, \
             p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at, \
             failures = 0",
        )
        .bind(nanoid::nanoid!())
        .bind(user_id)
        .bind(endpoint)
        .bind(p256dh)
        .bind(auth)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn unsubscribe(&self, user_id: &UserId, endpoint: &str) -> Result<bool, sqlx::Error> {
        let _turn = self.db.write_turn().await;
        let removed =
            query("DELETE FROM chat.push_subscriptions WHERE user_id = $1 AND endpoint = $2")
                .bind(user_id)
                .bind(endpoint)
                .execute(&self.db)
                .await?;
        Ok(removed > 0)
    }

    pub async fn subscriptions(&self, user_id: &UserId) -> Result<Vec<Subscription>, sqlx::Error> {
        let rows: Vec<SubscriptionRow> = query_as(
            "SELECT id, user_id, endpoint, p256dh, auth FROM chat.push_subscriptions \
             WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Subscription {
                id: r.id,
                user_id: r.user_id,
                endpoint: r.endpoint,
                p256dh: r.p256dh,
                auth: r.auth,
            })
            .collect())
    }

    /// Counts a failed delivery; returns how many in a row there have been.
    pub async fn failed(&self, id: &str) -> Result<i64, sqlx::Error> {
        let _turn = self.db.write_turn().await;
        let failures: Option<i32> = crate::db::query_scalar(
            "UPDATE chat.push_subscriptions SET failures = failures + 1 WHERE id = $1 \
             RETURNING failures",
        )
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        Ok(i64::from(failures.unwrap_or_default()))
    }

    pub async fn delivered(&self, id: &str) -> Result<(), sqlx::Error> {
        let _turn = self.db.write_turn().await;
        query("UPDATE chat.push_subscriptions SET failures = 0 WHERE id = $1 AND failures > 0")
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Forgets a subscription the push service says is gone (or that kept failing).
    pub async fn remove(&self, id: &str) -> Result<(), sqlx::Error> {
        let _turn = self.db.write_turn().await;
        query("DELETE FROM chat.push_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Records one notification per (user, conversation, message), all in one transaction
    /// (one write turn for a whole batch of messages); returns their ids in the same order.
    pub async fn record(
        &self,
        away: &[(UserId, ConversationId, MessageId)],
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, sqlx::Error> {
        if away.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = away.iter().map(|_| nanoid::nanoid!()).collect();
        if let Db::Postgres(pool, _) = &self.db {
            // One statement for the whole batch: a round trip per row was what kept the
            // notifier behind a busy community on PostgreSQL.
            let column = |pick: fn(&(UserId, ConversationId, MessageId)) -> &str| {
                away.iter().map(pick).collect::<Vec<&str>>()
            };
            sqlx::query(
                "INSERT INTO chat.notifications \
                 (id, user_id, conversation_id, message_id, created_at, pushed) \
                 SELECT id, user_id, conversation_id, message_id, $5, 0 \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
                      AS batch (id, user_id, conversation_id, message_id)",
            )
            .bind(&ids)
            .bind(column(|(user, ..)| user.as_str()))
            .bind(column(|(_, conversation, _)| conversation.as_str()))
            .bind(column(|(.., message)| message.as_str()))
            .bind(now)
            .execute(pool)
            .await?;
            return Ok(ids);
        }
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        for ((user_id, conversation_id, message_id), id) in away.iter().zip(&ids) {
            query(
                "INSERT INTO chat.notifications \
                 (id, user_id, conversation_id, message_id, created_at, pushed) \
                 VALUES ($1, $2, $3, $4, $5, 0)",
            )
            .bind(id)
            .bind(user_id)
            .bind(conversation_id)
            .bind(message_id)
            .bind(now)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    pub async fn set_pushed(&self, id: &str, reached: i32) -> Result<(), sqlx::Error> {
        let _turn = self.db.write_turn().await;
        query("UPDATE chat.notifications SET pushed = $2 WHERE id = $1")
            .bind(id)
            .bind(reached)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// The user's notifications, newest first.
    pub async fn notifications(
        &self,
        user_id: &UserId,
        limit: u32,
    ) -> Result<Vec<Notification>, sqlx::Error> {
        let rows: Vec<(String, ConversationId, MessageId, DateTime<Utc>, i32)> = query_as(
            "SELECT id, conversation_id, message_id, created_at, pushed FROM chat.notifications \
             WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(i64::from(limit))
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, conversation_id, message_id, created_at, pushed)| Notification {
                    id,
                    conversation_id,
                    message_id,
                    created_at,
                    pushed: pushed.max(0) as u32,
                },
            )
            .collect())
    }

    /// Drops notification records older than `before`.
    pub async fn purge(&self, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        let _turn = self.db.write_turn().await;
        query("DELETE FROM chat.notifications WHERE created_at < $1")
            .bind(before)
            .execute(&self.db)
            .await
    }
}
