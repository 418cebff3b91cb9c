//! All of automation's SQL (tables in the `automation` schema), each statement next to its one
//! caller.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::FromRow;

use super::{AutomationError, Device, Entity, EntityKind, StateRecord};
use crate::db::{is_unique_violation, query, query_as, query_scalar, Db};
use crate::ids::{CommunityId, DeviceId, EntityRowId};

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

/// A device as discovery describes it.
pub(super) struct NewDevice<'a> {
    pub community_id: &'a CommunityId,
    pub source_key: &'a str,
    pub name: &'a str,
    pub manufacturer: Option<&'a str>,
    pub model: Option<&'a str>,
    pub area: Option<&'a str>,
}

/// An entity as discovery describes it.
pub(super) struct NewEntity<'a> {
    pub community_id: &'a CommunityId,
    pub discovery_key: &'a str,
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
             VALUES ($1, $2, 'mqtt', $3, $4, $5, $6, $7, $8, $8) \
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
        let existing: Option<EntityRowId> = query_scalar(
            "SELECT id FROM automation.entities WHERE community_id = $1 AND discovery_key = $2",
        )
        .bind(entity.community_id)
        .bind(entity.discovery_key)
        .fetch_optional(&self.db)
        .await?;
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
                 name, unit, device_class, state_class, area, discovery_key, config, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
}
