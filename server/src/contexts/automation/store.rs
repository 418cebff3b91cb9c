//! All of automation's SQL (tables in the `automation` schema), each statement next to its one
//! caller.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::FromRow;

use super::access::{Access, Grant, GrantScope};
use super::statistics::{Period, Row};
use super::{AutomationError, Device, Entity, EntityKind, StateRecord};
use crate::db::{is_unique_violation, query, query_as, query_scalar, Db};
use crate::ids::{CommunityId, DeviceId, EntityRowId, UserId};

type Result<T, E = AutomationError> = std::result::Result<T, E>;

#[derive(FromRow)]
struct EntityRow {
    id: EntityRowId,
    community_id: CommunityId,
    entity_id: String,
    device_id: Option<DeviceId>,
    kind: String,
    name: String,
    unit: Option<String>,
    device_class: Option<String>,
    state_class: Option<String>,
    area: Option<String>,
    state: Option<String>,
    attributes: String,
    last_changed: Option<DateTime<Utc>>,
    last_updated: Option<DateTime<Utc>>,
}

fn object(json: &str) -> Map<String, Value> {
    match serde_json::from_str(json) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

impl EntityRow {
    fn into_entity(self) -> Entity {
        Entity {
            id: self.id,
            community_id: self.community_id,
            entity_id: self.entity_id,
            device_id: self.device_id,
            kind: EntityKind::parse(&self.kind).unwrap_or(EntityKind::Sensor),
            name: self.name,
            unit: self.unit,
            device_class: self.device_class,
            state_class: self.state_class,
            area: self.area,
            state: self.state,
            attributes: object(&self.attributes),
            last_changed: self.last_changed,
            last_updated: self.last_updated,
        }
    }
}

const ENTITY_COLUMNS: &str = "id, community_id, entity_id, device_id, kind, name, unit, \
     device_class, state_class, area, state, attributes, last_changed, last_updated";

/// A device as discovery (or an admin, for a device agent) describes it.
pub(super) struct NewDevice<'a> {
    pub community_id: &'a CommunityId,
    /// `mqtt` or `socket`.
    pub source: &'a str,
    pub source_key: &'a str,
    pub name: &'a str,
    pub manufacturer: Option<&'a str>,
    pub model: Option<&'a str>,
    pub area: Option<&'a str>,
}

/// An entity as discovery (or an admin, for a device agent) describes it.
pub(super) struct NewEntity<'a> {
    pub community_id: &'a CommunityId,
    /// MQTT: `<component>/<node_id>/<object_id>`.
    pub discovery_key: Option<&'a str>,
    /// A device agent's name for it.
    pub agent_key: Option<&'a str>,
    pub entity_id: &'a str,
    pub device_id: Option<&'a DeviceId>,
    pub kind: EntityKind,
    pub name: &'a str,
    pub unit: Option<&'a str>,
    pub device_class: Option<&'a str>,
    pub state_class: Option<&'a str>,
    pub area: Option<&'a str>,
    pub config: &'a str,
}

/// A discovered entity's routing facts, for the MQTT topics it listens to.
#[derive(FromRow)]
pub(super) struct Discovered {
    pub id: EntityRowId,
    pub kind: String,
    pub config: String,
}

#[derive(Clone)]
pub(super) struct AutomationStore {
    db: Db,
}

impl AutomationStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn upsert_device(
        &self,
        device: &NewDevice<'_>,
        now: DateTime<Utc>,
    ) -> Result<DeviceId> {
        let _turn = self.db.write_turn().await;
        let id: DeviceId = query_scalar(
            "INSERT INTO automation.devices (id, community_id, source, source_key, name, \
             manufacturer, model, area, created_at, updated_at) \
             VALUES ($1, $2, $9, $3, $4, $5, $6, $7, $8, $8) \
             ON CONFLICT (community_id, source, source_key) DO UPDATE SET name = excluded.name, \
             manufacturer = excluded.manufacturer, model = excluded.model, \
             area = COALESCE(automation.devices.area, excluded.area), updated_at = excluded.updated_at \
             RETURNING id",
        )
        .bind(DeviceId::new())
        .bind(device.community_id)
        .bind(device.source_key)
        .bind(device.name)
        .bind(device.manufacturer)
        .bind(device.model)
        .bind(device.area)
        .bind(now)
        .bind(device.source)
        .fetch_one(&self.db)
        .await?;
        Ok(id)
    }

    /// Creates or updates the entity discovered under `discovery_key`; a taken entity id gets
    /// `_2`, `_3`, … as Home Assistant does.
    pub async fn upsert_entity(
        &self,
        entity: &NewEntity<'_>,
        now: DateTime<Utc>,
    ) -> Result<EntityRowId> {
        let existing: Option<EntityRowId> = match entity.discovery_key {
            Some(key) => {
                query_scalar(
                    "SELECT id FROM automation.entities \
                     WHERE community_id = $1 AND discovery_key = $2",
                )
                .bind(entity.community_id)
                .bind(key)
                .fetch_optional(&self.db)
                .await?
            }
            None => None,
        };
        let _turn = self.db.write_turn().await;
        if let Some(id) = existing {
            query(
                "UPDATE automation.entities SET device_id = $2, kind = $3, name = $4, unit = $5, \
                 device_class = $6, state_class = $7, area = COALESCE(area, $8), config = $9 \
                 WHERE id = $1",
            )
            .bind(&id)
            .bind(entity.device_id)
            .bind(entity.kind.as_str())
            .bind(entity.name)
            .bind(entity.unit)
            .bind(entity.device_class)
            .bind(entity.state_class)
            .bind(entity.area)
            .bind(entity.config)
            .execute(&self.db)
            .await?;
            return Ok(id);
        }
        let id = EntityRowId::new();
        for attempt in 1..=100 {
            let entity_id = match attempt {
                1 => entity.entity_id.to_string(),
                n => format!("{}_{n}", entity.entity_id),
            };
            let inserted = query(
                "INSERT INTO automation.entities (id, community_id, entity_id, device_id, kind, \
                 name, unit, device_class, state_class, area, discovery_key, config, created_at, \
                 agent_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(&id)
            .bind(entity.community_id)
            .bind(&entity_id)
            .bind(entity.device_id)
            .bind(entity.kind.as_str())
            .bind(entity.name)
            .bind(entity.unit)
            .bind(entity.device_class)
            .bind(entity.state_class)
            .bind(entity.area)
            .bind(entity.discovery_key)
            .bind(entity.config)
            .bind(now)
            .bind(entity.agent_key)
            .execute(&self.db)
            .await;
            match inserted {
                Ok(_) => return Ok(id),
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AutomationError::Invalid(format!(
            "entity id {} is taken 100 times over",
            entity.entity_id
        )))
    }

    /// Removes the entity discovered under `discovery_key` (an empty config); its id if any.
    pub async fn remove_discovered(
        &self,
        community_id: &CommunityId,
        discovery_key: &str,
    ) -> Result<Option<EntityRowId>> {
        let _turn = self.db.write_turn().await;
        let id: Option<EntityRowId> = query_scalar(
            "DELETE FROM automation.entities WHERE community_id = $1 AND discovery_key = $2 \
             RETURNING id",
        )
        .bind(community_id)
        .bind(discovery_key)
        .fetch_optional(&self.db)
        .await?;
        Ok(id)
    }

    /// Every discovered entity (their topics are subscribed to at start).
    pub async fn discovered(&self) -> Result<Vec<Discovered>> {
        Ok(query_as::<Discovered>(
            "SELECT id, kind, config FROM automation.entities \
             WHERE discovery_key IS NOT NULL",
        )
        .fetch_all(&self.db)
        .await?)
    }

    pub async fn entities(
        &self,
        community_id: &CommunityId,
        area: Option<&str>,
        kind: Option<EntityKind>,
    ) -> Result<Vec<Entity>> {
        let sql = format!(
            "SELECT {ENTITY_COLUMNS} FROM automation.entities WHERE community_id = $1 \
             AND ($2 IS NULL OR area = $2) AND ($3 IS NULL OR kind = $3) ORDER BY entity_id"
        );
        let rows = query_as::<EntityRow>(sqlx::AssertSqlSafe(sql))
            .bind(community_id)
            .bind(area)
            .bind(kind.map(EntityKind::as_str))
            .fetch_all(&self.db)
            .await?;
        Ok(rows.into_iter().map(EntityRow::into_entity).collect())
    }

    /// The entity and its discovery config (JSON).
    pub async fn entity(
        &self,
        community_id: &CommunityId,
        entity_id: &str,
    ) -> Result<Option<(Entity, String)>> {
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            entity: EntityRow,
            config: String,
        }
        let sql = format!(
            "SELECT {ENTITY_COLUMNS}, config FROM automation.entities \
             WHERE community_id = $1 AND entity_id = $2"
        );
        let row = query_as::<Row>(sqlx::AssertSqlSafe(sql))
            .bind(community_id)
            .bind(entity_id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(|r| (r.entity.into_entity(), r.config)))
    }

    pub async fn entity_by_row(&self, id: &EntityRowId) -> Result<Option<Entity>> {
        let sql = format!("SELECT {ENTITY_COLUMNS} FROM automation.entities WHERE id = $1");
        let row = query_as::<EntityRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(EntityRow::into_entity))
    }

    /// Stores a new state (and its history row); `changed` is whether the state itself moved
    /// (attributes alone only touch `last_updated`).
    pub async fn set_state(
        &self,
        id: &EntityRowId,
        state: Option<&str>,
        attributes: &Map<String, Value>,
        changed: bool,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let attributes = Value::Object(attributes.clone()).to_string();
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        query(
            "UPDATE automation.entities SET state = $2, attributes = $3, last_updated = $4, \
             last_changed = CASE WHEN $5 = 1 OR last_changed IS NULL THEN $4 ELSE last_changed END \
             WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(&attributes)
        .bind(at)
        .bind(i32::from(changed))
        .execute(&mut tx)
        .await?;
        query(
            "INSERT INTO automation.states (id, entity, state, attributes, at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(nanoid::nanoid!())
        .bind(id)
        .bind(state)
        .bind(&attributes)
        .bind(at)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// States of an entity in `[from, to)`, oldest first, at most `limit`.
    pub async fn history(
        &self,
        id: &EntityRowId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StateRecord>> {
        #[derive(FromRow)]
        struct Row {
            state: Option<String>,
            attributes: String,
            at: DateTime<Utc>,
        }
        let rows = query_as::<Row>(
            "SELECT state, attributes, at FROM automation.states \
             WHERE entity = $1 AND at >= $2 AND at < $3 ORDER BY at, id LIMIT $4",
        )
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(i64::from(limit))
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| StateRecord {
                state: r.state,
                attributes: object(&r.attributes),
                at: r.at,
            })
            .collect())
    }

    pub async fn devices(&self, community_id: &CommunityId) -> Result<Vec<Device>> {
        #[derive(FromRow)]
        struct Row {
            id: DeviceId,
            community_id: CommunityId,
            name: String,
            manufacturer: Option<String>,
            model: Option<String>,
            area: Option<String>,
            source: String,
        }
        let rows = query_as::<Row>(
            "SELECT id, community_id, name, manufacturer, model, area, source \
             FROM automation.devices WHERE community_id = $1 ORDER BY name, id",
        )
        .bind(community_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Device {
                id: r.id,
                community_id: r.community_id,
                name: r.name,
                manufacturer: r.manufacturer,
                model: r.model,
                area: r.area,
                source: r.source,
            })
            .collect())
    }

    /// Deletes one of the community's devices with its entities (their history and
    /// statistics go with them); the entities' row ids, or `None` without such a device.
    pub async fn delete_device(
        &self,
        community_id: &CommunityId,
        id: &DeviceId,
    ) -> Result<Option<Vec<EntityRowId>>> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        let entities: Vec<EntityRowId> = query_scalar(
            "SELECT id FROM automation.entities WHERE community_id = $1 AND device_id = $2",
        )
        .bind(community_id)
        .bind(id)
        .fetch_all(&mut tx)
        .await?;
        query("DELETE FROM automation.entities WHERE community_id = $1 AND device_id = $2")
            .bind(community_id)
            .bind(id)
            .execute(&mut tx)
            .await?;
        let deleted = query("DELETE FROM automation.devices WHERE community_id = $1 AND id = $2")
            .bind(community_id)
            .bind(id)
            .execute(&mut tx)
            .await?;
        if deleted == 0 {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(entities))
    }

    // --- device agents ---

    pub async fn insert_device_token(
        &self,
        token: &super::agents::DeviceToken,
        token_hash: &str,
        created_by: &UserId,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO automation.device_tokens (id, device_id, name, token_hash, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.id)
        .bind(&token.device_id)
        .bind(&token.name)
        .bind(token_hash)
        .bind(created_by)
        .bind(token.created_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn device_tokens(
        &self,
        device_id: &DeviceId,
    ) -> Result<Vec<super::agents::DeviceToken>> {
        #[derive(FromRow)]
        struct Row {
            id: String,
            device_id: DeviceId,
            name: String,
            created_at: DateTime<Utc>,
            last_used_at: Option<DateTime<Utc>>,
            revoked_at: Option<DateTime<Utc>>,
        }
        let rows = query_as::<Row>(
            "SELECT id, device_id, name, created_at, last_used_at, revoked_at \
             FROM automation.device_tokens WHERE device_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(device_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| super::agents::DeviceToken {
                id: r.id,
                device_id: r.device_id,
                name: r.name,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
                revoked_at: r.revoked_at,
            })
            .collect())
    }

    /// Revokes a token of one of the community's devices; false when there is none to revoke.
    pub async fn revoke_device_token(
        &self,
        community_id: &CommunityId,
        token_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let revoked = query(
            "UPDATE automation.device_tokens SET revoked_at = $3 WHERE id = $2 \
             AND revoked_at IS NULL AND device_id IN \
             (SELECT id FROM automation.devices WHERE community_id = $1)",
        )
        .bind(community_id)
        .bind(token_id)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(revoked > 0)
    }

    /// A live token's `(token id, device, community)` by its hash.
    pub async fn device_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(String, DeviceId, CommunityId)>> {
        #[derive(FromRow)]
        struct Row {
            id: String,
            device_id: DeviceId,
            community_id: CommunityId,
        }
        let row = query_as::<Row>(
            "SELECT t.id, t.device_id, d.community_id FROM automation.device_tokens t \
             JOIN automation.devices d ON d.id = t.device_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(|r| (r.id, r.device_id, r.community_id)))
    }

    pub async fn touch_device_token(&self, token_id: &str, now: DateTime<Utc>) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query("UPDATE automation.device_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(token_id)
            .bind(now)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// An agent device's entity by the agent's key.
    pub async fn agent_entity(&self, device_id: &DeviceId, key: &str) -> Result<Option<Entity>> {
        let sql = format!(
            "SELECT {ENTITY_COLUMNS} FROM automation.entities WHERE device_id = $1 AND agent_key = $2"
        );
        let row = query_as::<EntityRow>(sqlx::AssertSqlSafe(sql))
            .bind(device_id)
            .bind(key)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(EntityRow::into_entity))
    }

    /// The device and key of an agent's entity; `None` for any other entity.
    pub async fn agent_key_of(&self, id: &EntityRowId) -> Result<Option<(DeviceId, String)>> {
        #[derive(FromRow)]
        struct Row {
            device_id: DeviceId,
            agent_key: String,
        }
        let row = query_as::<Row>(
            "SELECT device_id, agent_key FROM automation.entities \
             WHERE id = $1 AND agent_key IS NOT NULL AND device_id IS NOT NULL",
        )
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(|r| (r.device_id, r.agent_key)))
    }

    // --- areas ---

    /// Every area: the ones created, and the ones devices and entities name.
    pub async fn areas(&self, community_id: &CommunityId) -> Result<Vec<(String, i64)>> {
        #[derive(FromRow)]
        struct Row {
            name: String,
            entities: i64,
        }
        let rows = query_as::<Row>(
            "SELECT n.name, (SELECT COUNT(*) FROM automation.entities e \
               WHERE e.community_id = $1 AND e.area = n.name) AS entities \
             FROM (SELECT name FROM automation.areas WHERE community_id = $1 \
                   UNION SELECT area FROM automation.devices \
                     WHERE community_id = $1 AND area IS NOT NULL \
                   UNION SELECT area FROM automation.entities \
                     WHERE community_id = $1 AND area IS NOT NULL) n \
             ORDER BY n.name",
        )
        .bind(community_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|r| (r.name, r.entities)).collect())
    }

    pub async fn create_area(
        &self,
        community_id: &CommunityId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO automation.areas (community_id, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (community_id, name) DO NOTHING",
        )
        .bind(community_id)
        .bind(name)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Renames an area everywhere it is named (devices, entities, grants); `to = None` deletes
    /// it, leaving its devices and entities without an area and dropping its grants.
    pub async fn rename_area(
        &self,
        community_id: &CommunityId,
        from: &str,
        to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        let mut touched =
            query("DELETE FROM automation.areas WHERE community_id = $1 AND name = $2")
                .bind(community_id)
                .bind(from)
                .execute(&mut tx)
                .await?;
        if let Some(to) = to {
            query(
                "INSERT INTO automation.areas (community_id, name, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (community_id, name) DO NOTHING",
            )
            .bind(community_id)
            .bind(to)
            .bind(now)
            .execute(&mut tx)
            .await?;
        }
        for table in ["devices", "entities"] {
            let sql = format!(
                "UPDATE automation.{table} SET area = $3 WHERE community_id = $1 AND area = $2"
            );
            touched += query(sqlx::AssertSqlSafe(sql))
                .bind(community_id)
                .bind(from)
                .bind(to)
                .execute(&mut tx)
                .await?;
        }
        match to {
            Some(to) => {
                query(
                    "UPDATE automation.grants SET target = $3 \
                     WHERE community_id = $1 AND scope = 'area' AND target = $2",
                )
                .bind(community_id)
                .bind(from)
                .bind(to)
                .execute(&mut tx)
                .await?;
            }
            None => {
                query(
                    "DELETE FROM automation.grants \
                     WHERE community_id = $1 AND scope = 'area' AND target = $2",
                )
                .bind(community_id)
                .bind(from)
                .execute(&mut tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(touched)
    }

    /// Renames a device or moves it to an area; its entities that were in the device's area
    /// (or in none) move with it.
    pub async fn update_device(
        &self,
        community_id: &CommunityId,
        id: &DeviceId,
        name: Option<&str>,
        area: Option<Option<&str>>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        let old_area: Option<Option<String>> =
            query_scalar("SELECT area FROM automation.devices WHERE community_id = $1 AND id = $2")
                .bind(community_id)
                .bind(id)
                .fetch_optional(&mut tx)
                .await?;
        let Some(old_area) = old_area else {
            return Ok(false);
        };
        if let Some(name) = name {
            query("UPDATE automation.devices SET name = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(name)
                .bind(now)
                .execute(&mut tx)
                .await?;
        }
        if let Some(area) = area {
            query("UPDATE automation.devices SET area = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(area)
                .bind(now)
                .execute(&mut tx)
                .await?;
            query(
                "UPDATE automation.entities SET area = $3 WHERE device_id = $1 \
                 AND (area IS NULL OR area = $2)",
            )
            .bind(id)
            .bind(old_area.as_deref())
            .bind(area)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Renames an entity or moves it to an area (`Some(None)`: to none).
    pub async fn update_entity(
        &self,
        community_id: &CommunityId,
        entity_id: &str,
        name: Option<&str>,
        area: Option<Option<&str>>,
    ) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let updated = query(
            "UPDATE automation.entities SET name = COALESCE($3, name), \
             area = CASE WHEN $4 = 1 THEN $5 ELSE area END \
             WHERE community_id = $1 AND entity_id = $2",
        )
        .bind(community_id)
        .bind(entity_id)
        .bind(name)
        .bind(i32::from(area.is_some()))
        .bind(area.flatten())
        .execute(&self.db)
        .await?;
        Ok(updated > 0)
    }

    // --- grants ---

    /// Every grant of every community (loaded at start).
    pub async fn all_grants(&self) -> Result<Vec<(CommunityId, Grant)>> {
        let rows = query_as::<GrantRow>(
            "SELECT community_id, user_id, scope, target, access FROM automation.grants",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().filter_map(GrantRow::into_grant).collect())
    }

    /// One community's grants (of one user with `user_id`).
    pub async fn grants(
        &self,
        community_id: &CommunityId,
        user_id: Option<&UserId>,
    ) -> Result<Vec<Grant>> {
        let rows = query_as::<GrantRow>(
            "SELECT community_id, user_id, scope, target, access FROM automation.grants \
             WHERE community_id = $1 AND ($2 IS NULL OR user_id = $2) \
             ORDER BY user_id, scope, target",
        )
        .bind(community_id)
        .bind(user_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(GrantRow::into_grant)
            .map(|(_, g)| g)
            .collect())
    }

    /// Sets (or with `access = None` removes) one grant.
    pub async fn set_grant(
        &self,
        community_id: &CommunityId,
        user_id: &UserId,
        scope: GrantScope,
        target: &str,
        access: Option<Access>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        match access {
            Some(access) => query(
                "INSERT INTO automation.grants (community_id, user_id, scope, target, access, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (community_id, user_id, scope, target) \
                 DO UPDATE SET access = excluded.access, updated_at = excluded.updated_at",
            )
            .bind(community_id)
            .bind(user_id)
            .bind(scope.as_str())
            .bind(target)
            .bind(access.as_str())
            .bind(now),
            None => query(
                "DELETE FROM automation.grants WHERE community_id = $1 AND user_id = $2 \
                 AND scope = $3 AND target = $4",
            )
            .bind(community_id)
            .bind(user_id)
            .bind(scope.as_str())
            .bind(target),
        }
        .execute(&self.db)
        .await?;
        Ok(())
    }

    // --- statistics ---

    /// Sensors with a `state_class`: `(row id, state_class)`.
    pub async fn meters(&self) -> Result<Vec<(EntityRowId, String)>> {
        #[derive(FromRow)]
        struct Meter {
            id: EntityRowId,
            state_class: String,
        }
        let rows = query_as::<Meter>(
            "SELECT id, state_class FROM automation.entities \
             WHERE kind = 'sensor' AND state_class IS NOT NULL",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|m| (m.id, m.state_class)).collect())
    }

    /// How far `period` has been compiled.
    pub async fn compiled_up_to(&self, period: Period) -> Result<Option<DateTime<Utc>>> {
        Ok(
            query_scalar("SELECT up_to FROM automation.compiled WHERE period = $1")
                .bind(period.as_str())
                .fetch_optional(&self.db)
                .await?,
        )
    }

    pub async fn set_compiled(&self, period: Period, up_to: DateTime<Utc>) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO automation.compiled (period, up_to) VALUES ($1, $2) \
             ON CONFLICT (period) DO UPDATE SET up_to = excluded.up_to",
        )
        .bind(period.as_str())
        .bind(up_to)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// When the oldest state kept was stored.
    pub async fn first_state_at(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(
            query_scalar("SELECT at FROM automation.states ORDER BY at LIMIT 1")
                .fetch_optional(&self.db)
                .await?,
        )
    }

    /// An entity's states in `[from, to)`, oldest first: `(state, at)`.
    pub async fn states_between(
        &self,
        id: &EntityRowId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(Option<String>, DateTime<Utc>)>> {
        #[derive(FromRow)]
        struct Row {
            state: Option<String>,
            at: DateTime<Utc>,
        }
        let rows = query_as::<Row>(
            "SELECT state, at FROM automation.states \
             WHERE entity = $1 AND at >= $2 AND at < $3 ORDER BY at, id",
        )
        .bind(id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|r| (r.state, r.at)).collect())
    }

    /// The entity's last state stored before `at` (`Some(None)`: a state without a value).
    pub async fn state_before(
        &self,
        id: &EntityRowId,
        at: DateTime<Utc>,
    ) -> Result<Option<Option<String>>> {
        Ok(query_scalar(
            "SELECT state FROM automation.states WHERE entity = $1 AND at < $2 \
             ORDER BY at DESC, id DESC LIMIT 1",
        )
        .bind(id)
        .bind(at)
        .fetch_optional(&self.db)
        .await?)
    }

    /// An entity's statistics of `period` starting in `[from, to)`, oldest first.
    pub async fn statistics(
        &self,
        id: &EntityRowId,
        period: Period,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Row>> {
        let rows = query_as::<StatisticRow>(
            "SELECT start, mean, min, max, state, sum FROM automation.statistics \
             WHERE entity = $1 AND period = $2 AND start >= $3 AND start < $4 ORDER BY start",
        )
        .bind(id)
        .bind(period.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(StatisticRow::into_row).collect())
    }

    /// The last statistics row of `period` starting before `before`.
    pub async fn statistic_before(
        &self,
        id: &EntityRowId,
        period: Period,
        before: DateTime<Utc>,
    ) -> Result<Option<Row>> {
        let row = query_as::<StatisticRow>(
            "SELECT start, mean, min, max, state, sum FROM automation.statistics \
             WHERE entity = $1 AND period = $2 AND start < $3 ORDER BY start DESC LIMIT 1",
        )
        .bind(id)
        .bind(period.as_str())
        .bind(before)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(StatisticRow::into_row))
    }

    /// Stores compiled rows (a row already there stays: compiling again gives the same).
    pub async fn insert_statistics(
        &self,
        id: &EntityRowId,
        period: Period,
        rows: &[Row],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        for row in rows {
            query(
                "INSERT INTO automation.statistics (entity, period, start, mean, min, max, \
                 state, sum) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (entity, period, start) DO NOTHING",
            )
            .bind(id)
            .bind(period.as_str())
            .bind(row.start)
            .bind(row.mean)
            .bind(row.min)
            .bind(row.max)
            .bind(row.state)
            .bind(row.sum)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes states and 5-minute statistics older than `before` (hourly rows stay);
    /// `(states, rows)` removed.
    pub async fn purge(&self, before: DateTime<Utc>) -> Result<(u64, u64)> {
        let _turn = self.db.write_turn().await;
        let states = query("DELETE FROM automation.states WHERE at < $1")
            .bind(before)
            .execute(&self.db)
            .await?;
        let rows = query("DELETE FROM automation.statistics WHERE period = '5m' AND start < $1")
            .bind(before)
            .execute(&self.db)
            .await?;
        Ok((states, rows))
    }
}

#[derive(FromRow)]
struct StatisticRow {
    start: DateTime<Utc>,
    mean: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    state: Option<f64>,
    sum: Option<f64>,
}

impl StatisticRow {
    fn into_row(self) -> Row {
        Row {
            start: self.start,
            mean: self.mean,
            min: self.min,
            max: self.max,
            state: self.state,
            sum: self.sum,
        }
    }
}

#[derive(FromRow)]
struct GrantRow {
    community_id: CommunityId,
    user_id: UserId,
    scope: String,
    target: String,
    access: String,
}

impl GrantRow {
    fn into_grant(self) -> Option<(CommunityId, Grant)> {
        Some((
            self.community_id,
            Grant {
                user_id: self.user_id,
                scope: GrantScope::parse(&self.scope)?,
                target: self.target,
                access: Access::parse(&self.access)?,
            },
        ))
    }
}
