//! Automation's GraphQL part: `entities` (names other tools rely on:
//! `{ entityId name kind state }`), `entity`, `devices`, `entityHistory`, the mutation
//! `controlEntity`, and the subscription `entityChanged`.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, SimpleObject, Subscription, ID};
use chrono::{DateTime, Duration, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::events::{StateChanged, ENTITY_STATE_CHANGED};
use super::{AutomationError, AutomationService, Command, Device, Entity, EntityKind, StateRecord};
use crate::events::EventBus;
use crate::graphql::{principal, GqlError};

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
}

impl From<Entity> for GqlEntity {
    fn from(e: Entity) -> Self {
        GqlEntity {
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
        Ok(automation(ctx)
            .entities(by, area.as_deref(), kind.map(Into::into))
            .await?
            .into_iter()
            .map(GqlEntity::from)
            .collect())
    }

    async fn entity(&self, ctx: &Context<'_>, entity_id: String) -> Result<GqlEntity> {
        let by = principal(ctx)?;
        Ok(automation(ctx).entity(by, &entity_id).await?.into())
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
        Ok(automation(ctx)
            .control(by, &entity_id, &command)
            .await?
            .into())
    }
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
        let community = principal(ctx)?.community_id.clone();
        let mut events = ctx.data_unchecked::<Arc<dyn EventBus>>().subscribe();
        Ok(async_stream::stream! {
            loop {
                match events.recv().await {
                    Ok(event) if event.kind == ENTITY_STATE_CHANGED
                        && event.community_id.as_ref() == Some(&community) =>
                    {
                        let Ok(changed) = event.data_as::<StateChanged>() else { continue };
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
