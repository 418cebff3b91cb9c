//! SQL for the end-to-end key directory: each device's public keys and its one-time prekeys,
//! one of which a claim takes and deletes in the same statement.

use chrono::{DateTime, Utc};

use super::{ChatStore, Result};
use crate::contexts::chat::keys::{DeviceKeys, Prekey};
use crate::db::{query, query_as, query_scalar, Db};
use crate::ids::UserId;

impl ChatStore {
    /// Stores (or replaces) a device's public keys.
    pub async fn put_device(
        &self,
        user_id: &UserId,
        keys: &DeviceKeys,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO chat.device_keys \
             (user_id, device_id, identity_key, signing_key, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, device_id) DO UPDATE \
             SET identity_key = excluded.identity_key, signing_key = excluded.signing_key, \
                 updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(&keys.device_id)
        .bind(&keys.identity_key)
        .bind(&keys.signing_key)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Adds one-time prekeys to a device (a key id already there is left as it was).
    pub async fn add_prekeys(
        &self,
        user_id: &UserId,
        device_id: &str,
        prekeys: &[Prekey],
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        for prekey in prekeys {
            query(
                "INSERT INTO chat.one_time_prekeys \
                 (user_id, device_id, key_id, public_key, signature) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(user_id)
            .bind(device_id)
            .bind(prekey.key_id)
            .bind(&prekey.public_key)
            .bind(&prekey.signature)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// How many one-time prekeys a device has left.
    pub async fn prekey_count(&self, user_id: &UserId, device_id: &str) -> Result<u64> {
        let n: i64 = query_scalar(
            "SELECT COUNT(*) FROM chat.one_time_prekeys WHERE user_id = $1 AND device_id = $2",
        )
        .bind(user_id)
        .bind(device_id)
        .fetch_one(&self.db)
        .await?;
        Ok(n.max(0) as u64)
    }

    /// A user's devices: (device id, identity key, signing key, prekeys left).
    pub async fn devices(&self, user_id: &UserId) -> Result<Vec<(String, String, String, i64)>> {
        Ok(query_as(
            "SELECT d.device_id, d.identity_key, d.signing_key, \
                    (SELECT COUNT(*) FROM chat.one_time_prekeys p \
                     WHERE p.user_id = d.user_id AND p.device_id = d.device_id) \
             FROM chat.device_keys d WHERE d.user_id = $1 ORDER BY d.device_id",
        )
        .bind(user_id)
        .fetch_all(&self.db)
        .await?)
    }

    /// Takes one of the device's one-time prekeys (the oldest key id) and deletes it, in one
    /// statement: two claims never get the same prekey.
    pub async fn claim_prekey(&self, user_id: &UserId, device_id: &str) -> Result<Option<Prekey>> {
        let _turn = self.db.write_turn().await;
        let sql = match self.db {
            // The write turn orders claims on SQLite.
            Db::Sqlite(..) => {
                "DELETE FROM chat.one_time_prekeys WHERE user_id = $1 AND device_id = $2 \
                 AND key_id = (SELECT MIN(key_id) FROM chat.one_time_prekeys \
                               WHERE user_id = $1 AND device_id = $2) \
                 RETURNING key_id, public_key, signature"
            }
            // Concurrent claims on PostgreSQL skip a row another is taking.
            Db::Postgres(..) => {
                "DELETE FROM chat.one_time_prekeys WHERE (user_id, device_id, key_id) = \
                 (SELECT user_id, device_id, key_id FROM chat.one_time_prekeys \
                  WHERE user_id = $1 AND device_id = $2 ORDER BY key_id LIMIT 1 \
                  FOR UPDATE SKIP LOCKED) \
                 RETURNING key_id, public_key, signature"
            }
        };
        let row: Option<(i64, String, String)> = query_as(sql)
            .bind(user_id)
            .bind(device_id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(|(key_id, public_key, signature)| Prekey {
            key_id,
            public_key,
            signature,
        }))
    }

    /// Forgets a device and its prekeys; `false` when there was none.
    pub async fn remove_device(&self, user_id: &UserId, device_id: &str) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        query("DELETE FROM chat.one_time_prekeys WHERE user_id = $1 AND device_id = $2")
            .bind(user_id)
            .bind(device_id)
            .execute(&mut tx)
            .await?;
        let removed = query("DELETE FROM chat.device_keys WHERE user_id = $1 AND device_id = $2")
            .bind(user_id)
            .bind(device_id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(removed > 0)
    }
}
