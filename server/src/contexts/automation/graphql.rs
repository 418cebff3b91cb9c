//! Automation's GraphQL part: `entities` (names other tools rely on:
//! `{ entityId name kind state }`), `entity`, `devices`, `areas`, `entityHistory`,
//! `automationGrants`; the mutations `controlEntity` and, for admins, `createArea`,
//! `renameArea`, `deleteArea`, `updateDevice`, `updateEntity`, `setEntityAccess`; the
//! subscription `entityChanged`.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, SimpleObject, Subscription, ID};
use chrono::{DateTime, Duration, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::agents::{DeviceToken, NewAgentEntity};
use super::events::{StateChanged, ENTITY_STATE_CHANGED};
use super::{
    Access, AutomationError, AutomationService, Command, Device, Entity, EntityKind, Grant,
    GrantScope, Resolution, StateRecord,
};
use crate::contexts::auth::Principal;
use crate::events::EventBus;
use crate::graphql::{principal, GqlError};
use crate::ids::{DeviceId, UserId};

type Result<T, E = GqlError> = std::result::Result<T, E>;

fn automation<'a>(ctx: &Context<'a>) -> &'a AutomationService {
    ctx.data_unchecked::<AutomationService>()
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "EntityKind", remote = "EntityKind")]
pub enum GqlEntityKind {
    Sensor,
    BinarySensor,
    Switch,
    Light,
    Climate,
    Cover,
    Button,
}

#[derive(SimpleObject)]
#[graphql(name = "Entity")]
pub struct GqlEntity {
    /// `sensor.living_room_temperature`.
    entity_id: String,
    name: String,
    kind: GqlEntityKind,
    /// The current state as text (`21.5`, `on`, `heat`); null before the first one.
    state: Option<String>,
    unit: Option<String>,
    device_class: Option<String>,
    state_class: Option<String>,
    area: Option<String>,
    device_id: Option<ID>,
    attributes: async_graphql::Json<serde_json::Map<String, serde_json::Value>>,
    last_changed: Option<DateTime<Utc>>,
    last_updated: Option<DateTime<Utc>>,
    /// What the caller may do with it (`VIEW` or `CONTROL`); null on `entityChanged`.
    access: Option<GqlAccess>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "EntityAccess", remote = "Access")]
pub enum GqlAccess {
    None,
    View,
    Control,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "GrantScope", remote = "GrantScope")]
pub enum GqlGrantScope {
    Entity,
    Area,
}

impl GqlEntity {
    fn seen_by(service: &AutomationService, by: &Principal, entity: Entity) -> Self {
        let access = service.access(by, &entity);
        GqlEntity {
            access: Some(access.into()),
            ..entity.into()
        }
    }
}

impl From<Entity> for GqlEntity {
    fn from(e: Entity) -> Self {
        GqlEntity {
            access: None,
            entity_id: e.entity_id,
            name: e.name,
            kind: e.kind.into(),
            state: e.state,
            unit: e.unit,
            device_class: e.device_class,
            state_class: e.state_class,
            area: e.area,
            device_id: e.device_id.map(|d| ID(d.into_string())),
            attributes: async_graphql::Json(e.attributes),
            last_changed: e.last_changed,
            last_updated: e.last_updated,
        }
    }
}

impl From<StateChanged> for GqlEntity {
    fn from(c: StateChanged) -> Self {
        GqlEntity {
            access: None,
            entity_id: c.entity_id,
            name: c.name,
            kind: c.kind.into(),
            state: c.state,
            unit: c.unit,
            device_class: None,
            state_class: None,
            area: c.area,
            device_id: None,
            attributes: async_graphql::Json(c.attributes),
            last_changed: c.last_changed,
            last_updated: c.last_updated,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Device")]
pub struct GqlDevice {
    id: ID,
    name: String,
    manufacturer: Option<String>,
    model: Option<String>,
    area: Option<String>,
    source: String,
}

impl From<Device> for GqlDevice {
    fn from(d: Device) -> Self {
        GqlDevice {
            id: ID(d.id.into_string()),
            name: d.name,
            manufacturer: d.manufacturer,
            model: d.model,
            area: d.area,
            source: d.source,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Area")]
pub struct GqlArea {
    name: String,
    /// How many entities are in it.
    entity_count: i64,
}

/// One person's access to an entity or to every entity of an area.
#[derive(SimpleObject)]
#[graphql(name = "AutomationGrant")]
pub struct GqlGrant {
    user_id: ID,
    scope: GqlGrantScope,
    /// The entity id or the area's name.
    target: String,
    access: GqlAccess,
}

impl From<Grant> for GqlGrant {
    fn from(g: Grant) -> Self {
        GqlGrant {
            user_id: ID(g.user_id.into_string()),
            scope: g.scope.into(),
            target: g.target,
            access: g.access.into(),
        }
    }
}

/// One entity of a device agent: `key` is the agent's name for it.
#[derive(async_graphql::InputObject)]
#[graphql(name = "AgentEntityInput")]
pub struct GqlAgentEntity {
    key: String,
    kind: GqlEntityKind,
    name: Option<String>,
    unit: Option<String>,
    device_class: Option<String>,
    state_class: Option<String>,
}

/// A device agent just made, with its entities.
#[derive(SimpleObject)]
#[graphql(name = "AgentDevice")]
pub struct GqlAgentDevice {
    device: GqlDevice,
    entities: Vec<GqlEntity>,
}

#[derive(SimpleObject)]
#[graphql(name = "DeviceToken")]
pub struct GqlDeviceToken {
    id: ID,
    device_id: ID,
    name: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<DeviceToken> for GqlDeviceToken {
    fn from(t: DeviceToken) -> Self {
        GqlDeviceToken {
            id: ID(t.id),
            device_id: ID(t.device_id.into_string()),
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A new device token; `token` is shown this once.
#[derive(SimpleObject)]
#[graphql(name = "CreatedDeviceToken")]
pub struct GqlCreatedDeviceToken {
    device_token: GqlDeviceToken,
    token: String,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "StatisticsResolution", remote = "Resolution")]
pub enum GqlResolution {
    FiveMinutes,
    Hour,
    Day,
}

/// One period's statistics: a measurement's time-weighted `mean`, `min` and `max`; a meter's
/// last reading (`state`), running `sum`, and `change` of the sum since the period before.
#[derive(SimpleObject)]
#[graphql(name = "EntityStatistic")]
pub struct GqlStatistic {
    start: DateTime<Utc>,
    mean: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    state: Option<f64>,
    sum: Option<f64>,
    change: Option<f64>,
}

#[derive(SimpleObject)]
#[graphql(name = "EntityState")]
pub struct GqlState {
    state: Option<String>,
    attributes: async_graphql::Json<serde_json::Map<String, serde_json::Value>>,
    at: DateTime<Utc>,
}

impl From<StateRecord> for GqlState {
    fn from(s: StateRecord) -> Self {
        GqlState {
            state: s.state,
            attributes: async_graphql::Json(s.attributes),
            at: s.at,
        }
    }
}

#[derive(Default)]
pub struct AutomationQuery;

#[Object]
impl AutomationQuery {
    /// The community's entities, by `area` or `kind` if given.
    async fn entities(
        &self,
        ctx: &Context<'_>,
        area: Option<String>,
        kind: Option<GqlEntityKind>,
    ) -> Result<Vec<GqlEntity>> {
        let by = principal(ctx)?;
        let service = automation(ctx);
        Ok(service
            .entities(by, area.as_deref(), kind.map(Into::into))
            .await?
            .into_iter()
            .map(|e| GqlEntity::seen_by(service, by, e))
            .collect())
    }

    async fn entity(&self, ctx: &Context<'_>, entity_id: String) -> Result<GqlEntity> {
        let by = principal(ctx)?;
        let service = automation(ctx);
        let entity = service.entity(by, &entity_id).await?;
        Ok(GqlEntity::seen_by(service, by, entity))
    }

    /// A sensor's long-term statistics (sensors with a `stateClass`) for periods starting in
    /// `[from, to)` (default: the last 24 hours): `FIVE_MINUTES` (kept as long as raw states,
    /// 31 days at most per query), `HOUR` (kept for good, 366 days), `DAY` (UTC days, 10 years).
    async fn entity_statistics(
        &self,
        ctx: &Context<'_>,
        entity_id: String,
        resolution: GqlResolution,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<GqlStatistic>> {
        let by = principal(ctx)?;
        let to = to.unwrap_or_else(Utc::now);
        let from = from.unwrap_or(to - Duration::hours(24));
        Ok(automation(ctx)
            .statistics(by, &entity_id, resolution.into(), from, to)
            .await?
            .into_iter()
            .map(|(row, change)| GqlStatistic {
                start: row.start,
                mean: row.mean,
                min: row.min,
                max: row.max,
                state: row.state,
                sum: row.sum,
                change,
            })
            .collect())
    }

    /// A device agent's tokens, newest first (admins).
    async fn device_tokens(&self, ctx: &Context<'_>, device_id: ID) -> Result<Vec<GqlDeviceToken>> {
        let by = principal(ctx)?;
        Ok(automation(ctx)
            .device_tokens(by, &DeviceId::from(device_id.0))
            .await?
            .into_iter()
            .map(GqlDeviceToken::from)
            .collect())
    }

    /// Every area (rooms), created or named by a device or entity.
    async fn areas(&self, ctx: &Context<'_>) -> Result<Vec<GqlArea>> {
        let by = principal(ctx)?;
        Ok(automation(ctx)
            .areas(by)
            .await?
            .into_iter()
            .map(|(name, entity_count)| GqlArea { name, entity_count })
            .collect())
    }

    /// The community's automation grants, of one person with `userId` (admins).
    async fn automation_grants(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
    ) -> Result<Vec<GqlGrant>> {
        let by = principal(ctx)?;
        let user_id = user_id.map(|id| UserId::from(id.0));
        Ok(automation(ctx)
            .grants(by, user_id.as_ref())
            .await?
            .into_iter()
            .map(GqlGrant::from)
            .collect())
    }

    async fn devices(&self, ctx: &Context<'_>) -> Result<Vec<GqlDevice>> {
        let by = principal(ctx)?;
        Ok(automation(ctx)
            .devices(by)
            .await?
            .into_iter()
            .map(GqlDevice::from)
            .collect())
    }

    /// Every stored state of an entity in `[from, to)` (default: the last 24 hours), oldest
    /// first, at most `first` (1,000; 10,000 at most).
    async fn entity_history(
        &self,
        ctx: &Context<'_>,
        entity_id: String,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        first: Option<u32>,
    ) -> Result<Vec<GqlState>> {
        let by = principal(ctx)?;
        let to = to.unwrap_or_else(Utc::now);
        let from = from.unwrap_or(to - Duration::hours(24));
        Ok(automation(ctx)
            .history(by, &entity_id, from, to, first)
            .await?
            .into_iter()
            .map(GqlState::from)
            .collect())
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "EntityAction")]
pub enum GqlAction {
    TurnOn,
    TurnOff,
    Toggle,
    Press,
    Open,
    Close,
    Stop,
    SetTemperature,
    SetMode,
}

#[derive(Default)]
pub struct AutomationMutation;

#[Object]
impl AutomationMutation {
    /// Sends a command to an entity's device (members and admins): `TURN_ON` (with
    /// `brightness` 0–255 for a light), `TURN_OFF`, `TOGGLE`, `PRESS`, `OPEN`, `CLOSE`, `STOP`,
    /// `SET_TEMPERATURE` (`value`), `SET_MODE` (`mode`). The new state arrives as the device
    /// reports it (`entityChanged`, `state_changed` on `home:`).
    async fn control_entity(
        &self,
        ctx: &Context<'_>,
        entity_id: String,
        action: GqlAction,
        brightness: Option<u8>,
        value: Option<f64>,
        mode: Option<String>,
    ) -> Result<GqlEntity> {
        let by = principal(ctx)?;
        let missing = |what: &str| AutomationError::Invalid(format!("{what} is required"));
        let command = match action {
            GqlAction::TurnOn => Command::TurnOn { brightness },
            GqlAction::TurnOff => Command::TurnOff,
            GqlAction::Toggle => Command::Toggle,
            GqlAction::Press => Command::Press,
            GqlAction::Open => Command::Open,
            GqlAction::Close => Command::Close,
            GqlAction::Stop => Command::Stop,
            GqlAction::SetTemperature => {
                Command::SetTemperature(value.ok_or_else(|| missing("value"))?)
            }
            GqlAction::SetMode => Command::SetMode(mode.ok_or_else(|| missing("mode"))?),
        };
        let service = automation(ctx);
        let entity = service.control(by, &entity_id, &command).await?;
        Ok(GqlEntity::seen_by(service, by, entity))
    }

    /// Creates a device that reports over the socket itself (a device agent) with its entities
    /// (admins). Entity ids are `<kind>.<device name>_<key>`.
    async fn create_agent_device(
        &self,
        ctx: &Context<'_>,
        name: String,
        area: Option<String>,
        entities: Vec<GqlAgentEntity>,
    ) -> Result<GqlAgentDevice> {
        let by = principal(ctx)?;
        let service = automation(ctx);
        let entities = entities
            .into_iter()
            .map(|e| NewAgentEntity {
                name: e.name.unwrap_or_else(|| e.key.clone()),
                key: e.key,
                kind: e.kind.into(),
                unit: e.unit,
                device_class: e.device_class,
                state_class: e.state_class,
            })
            .collect();
        let (device, entities) = service
            .create_agent_device(by, &name, area.as_deref(), entities)
            .await?;
        Ok(GqlAgentDevice {
            device: device.into(),
            entities: entities
                .into_iter()
                .map(|e| GqlEntity::seen_by(service, by, e))
                .collect(),
        })
    }

    /// A token for a device agent (admins): `token` (`tdv_…`) is shown this once; the agent
    /// connects with it and joins `device:{deviceId}`.
    async fn create_device_token(
        &self,
        ctx: &Context<'_>,
        device_id: ID,
        #[graphql(default)] name: String,
    ) -> Result<GqlCreatedDeviceToken> {
        let by = principal(ctx)?;
        let (device_token, token) = automation(ctx)
            .create_device_token(by, &DeviceId::from(device_id.0), &name)
            .await?;
        Ok(GqlCreatedDeviceToken {
            device_token: device_token.into(),
            token,
        })
    }

    /// Revokes a device token (admins): the agent's sockets close at once.
    async fn revoke_device_token(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let by = principal(ctx)?;
        automation(ctx).revoke_device_token(by, &id.0).await?;
        Ok(true)
    }

    /// Creates an area (admins); creating one that exists is no error.
    async fn create_area(&self, ctx: &Context<'_>, name: String) -> Result<GqlArea> {
        let by = principal(ctx)?;
        automation(ctx).create_area(by, &name).await?;
        area_named(ctx, by, name.trim()).await
    }

    /// Renames an area wherever it is named: devices, entities, grants (admins).
    async fn rename_area(
        &self,
        ctx: &Context<'_>,
        name: String,
        new_name: String,
    ) -> Result<GqlArea> {
        let by = principal(ctx)?;
        automation(ctx)
            .rename_area(by, &name, Some(&new_name))
            .await?;
        area_named(ctx, by, new_name.trim()).await
    }

    /// Deletes an area: its devices and entities keep no area, its grants go (admins).
    async fn delete_area(&self, ctx: &Context<'_>, name: String) -> Result<bool> {
        let by = principal(ctx)?;
        automation(ctx).rename_area(by, &name, None).await?;
        Ok(true)
    }

    /// Renames a device or moves it to an area (`area: null` takes it out of its area); its
    /// entities that were in the device's area move with it (admins).
    async fn update_device(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: Option<String>,
        area: async_graphql::MaybeUndefined<String>,
    ) -> Result<GqlDevice> {
        let by = principal(ctx)?;
        let area = maybe(&area);
        Ok(automation(ctx)
            .update_device(by, &DeviceId::from(id.0), name.as_deref(), area)
            .await?
            .into())
    }

    /// Deletes a device with its entities, their history and statistics (admins). An MQTT
    /// device whose retained discovery config is still on the broker comes back.
    async fn delete_device(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let by = principal(ctx)?;
        automation(ctx)
            .delete_device(by, &DeviceId::from(id.0))
            .await?;
        Ok(true)
    }

    /// Renames an entity or moves it to an area (`area: null`: none) (admins).
    async fn update_entity(
        &self,
        ctx: &Context<'_>,
        entity_id: String,
        name: Option<String>,
        area: async_graphql::MaybeUndefined<String>,
    ) -> Result<GqlEntity> {
        let by = principal(ctx)?;
        let service = automation(ctx);
        let entity = service
            .update_entity(by, &entity_id, name.as_deref(), maybe(&area))
            .await?;
        Ok(GqlEntity::seen_by(service, by, entity))
    }

    /// Sets what a person may do with an entity (`scope: ENTITY`, `target`: its entity id) or
    /// with every entity of an area (`scope: AREA`, `target`: its name): `NONE` hides it,
    /// `VIEW`, `CONTROL`; `access: null` removes the grant so the role decides again (members
    /// control, guests view). Answers the person's grants (admins).
    async fn set_entity_access(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        scope: GqlGrantScope,
        target: String,
        access: Option<GqlAccess>,
    ) -> Result<Vec<GqlGrant>> {
        let by = principal(ctx)?;
        Ok(automation(ctx)
            .set_access(
                by,
                &UserId::from(user_id.0),
                scope.into(),
                &target,
                access.map(Into::into),
            )
            .await?
            .into_iter()
            .map(GqlGrant::from)
            .collect())
    }
}

/// `undefined` → leave as is, `null` → none, a value → that.
fn maybe(value: &async_graphql::MaybeUndefined<String>) -> Option<Option<&str>> {
    match value {
        async_graphql::MaybeUndefined::Undefined => None,
        async_graphql::MaybeUndefined::Null => Some(None),
        async_graphql::MaybeUndefined::Value(v) => Some(Some(v.as_str())),
    }
}

async fn area_named(ctx: &Context<'_>, by: &Principal, name: &str) -> Result<GqlArea> {
    let (name, entity_count) = automation(ctx)
        .areas(by)
        .await?
        .into_iter()
        .find(|(n, _)| n == name)
        .ok_or(AutomationError::NotFound)?;
    Ok(GqlArea { name, entity_count })
}

#[derive(Default)]
pub struct AutomationSubscription;

#[Subscription]
impl AutomationSubscription {
    /// Each new state of the community's entities (of one with `entityId`), as it is stored.
    async fn entity_changed(
        &self,
        ctx: &Context<'_>,
        entity_id: Option<String>,
    ) -> Result<impl Stream<Item = GqlEntity>> {
        let by = principal(ctx)?;
        let (community, user, role) = (by.community_id.clone(), by.user_id.clone(), by.role);
        let service = automation(ctx).clone();
        let mut events = ctx.data_unchecked::<Arc<dyn EventBus>>().subscribe();
        Ok(async_stream::stream! {
            loop {
                match events.recv().await {
                    Ok(event) if event.kind == ENTITY_STATE_CHANGED
                        && event.community_id.as_ref() == Some(&community) =>
                    {
                        let Ok(changed) = event.data_as::<StateChanged>() else { continue };
                        if !service.may_see(&user, role, &changed) {
                            continue;
                        }
                        if entity_id.as_ref().is_none_or(|id| *id == changed.entity_id) {
                            yield GqlEntity::from(changed);
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
